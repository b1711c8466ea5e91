// drawer.js — the side panel as a drawer on phones (on wide screens CSS
// shows it always), Esc to close it, and the phone's members button under
// the room name, which opens the drawer at the member list.

import { $ } from './page.js';
import { closePicker } from './composer.js';

const drawer = $('sidebar');
const toggle = $('drawer-toggle');

export function setDrawer(open, { focus = $('sidebar-close') } = {}) {
  const wasOpen = drawer.classList.contains('open');
  drawer.classList.toggle('open', open);
  toggle.setAttribute('aria-expanded', String(open));
  $('members-button').setAttribute('aria-expanded', String(open));
  $('backdrop').hidden = !open;
  if (open) focus.focus();
  else if (wasOpen && document.activeElement && drawer.contains(document.activeElement)) toggle.focus();
}

/**
 * "3 members" under the room name on phones (messages.js calls it with each
 * new list). On the narrowest phones CSS shows only the number; the word
 * stays for screen readers.
 */
export function updateMembersButton(count) {
  const number = document.createElement('span');
  number.textContent = String(count);
  const word = document.createElement('span');
  word.className = 'members-word';
  word.textContent = count === 1 ? ' member' : ' members';
  $('members-button-text').replaceChildren(number, word);
}

export function wireDrawer() {
  toggle.addEventListener('click', () => setDrawer(!drawer.classList.contains('open')));
  $('sidebar-close').addEventListener('click', () => setDrawer(false));
  $('backdrop').addEventListener('click', () => setDrawer(false));
  // The members heading takes the focus (tabindex="-1"), so a screen reader
  // starts reading there, and the drawer scrolls it into view.
  $('members-button').addEventListener('click', () => {
    const heading = $('members-heading');
    setDrawer(true, { focus: heading });
    heading.scrollIntoView({ block: 'start' });
  });

  // Esc closes what is open, innermost first (the picker handles its own
  // Esc, and an open <dialog> closes itself).
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || document.querySelector('dialog[open]')) return;
    if (!closePicker() && drawer.classList.contains('open')) setDrawer(false);
  });
}
