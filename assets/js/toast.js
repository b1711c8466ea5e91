// toast.js — a short word near the composer with one action, such as
// "Left #kitchen. Undo". It goes by itself after a few seconds, but not
// while the pointer or the focus is on it (you may be about to click), and
// a new one replaces the old. It sits in a role="status" region in
// chat.html: screen readers read it without interrupting.

import { $ } from './page.js';

const SHOWN_MS = 8000;

const box = $('toast');
const text = $('toast-text');
const button = $('toast-action');
let timer = null;
let action = null;

export function hideToast() {
  clearTimeout(timer);
  timer = null;
  action = null;
  box.hidden = true;
}

function hideLater() {
  clearTimeout(timer);
  timer = setTimeout(() => {
    if (box.matches(':hover') || box.contains(document.activeElement)) hideLater();
    else hideToast();
  }, SHOWN_MS);
}

/** Show `message`; with `act` = { label, run }, a button that runs it (once). */
export function showToast(message, act) {
  text.textContent = message;
  action = act ?? null;
  button.hidden = !act;
  button.textContent = act ? act.label : '';
  box.hidden = false;
  hideLater();
}

export function wireToast() {
  button.addEventListener('click', () => {
    const run = action?.run;
    hideToast();
    run?.();
  });
}
