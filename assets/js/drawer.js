// drawer.js — the side panel as a drawer on phones (on wide screens CSS
// shows it always), and Esc to close it.

import { $ } from './page.js';
import { closePicker } from './composer.js';

const drawer = $('sidebar');
const toggle = $('drawer-toggle');

export function setDrawer(open) {
  const wasOpen = drawer.classList.contains('open');
  drawer.classList.toggle('open', open);
  toggle.setAttribute('aria-expanded', String(open));
  $('backdrop').hidden = !open;
  if (open) $('sidebar-close').focus();
  else if (wasOpen && document.activeElement && drawer.contains(document.activeElement)) toggle.focus();
}

export function wireDrawer() {
  toggle.addEventListener('click', () => setDrawer(!drawer.classList.contains('open')));
  $('sidebar-close').addEventListener('click', () => setDrawer(false));
  $('backdrop').addEventListener('click', () => setDrawer(false));

  // Esc closes what is open, innermost first (the picker handles its own Esc).
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    if (!closePicker() && drawer.classList.contains('open')) setDrawer(false);
  });
}
