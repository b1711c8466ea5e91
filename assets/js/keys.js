// keys.js — the page's keyboard shortcuts, and the sheet that lists them:
//
//   Alt+↑ / Alt+↓        the previous / next room in the sidebar
//   Ctrl+K (⌘K)          the room switcher (switcher.js)
//   PageUp / PageDown    scroll the messages while you are in the composer
//   ? (outside a text field), Ctrl+/   the shortcut sheet
//
// The keys that belong to one control stay with it: Enter, Shift+Enter,
// ↑ and Esc (ending an edit or a reply) in composer.js, the message menu's
// arrows and Esc in actions.js, the suggestion lists' keys in emoji.js and mentions.js,
// Esc in each thing it closes. The sheet lists those too, so SHORTCUTS
// below is the one place a reader (and the page) learns them all.
//
// One listener on the document, in the capture phase: it sees a key before
// the focused control does, so Alt+↑ switches rooms instead of reaching
// the composer, where ↑ would start editing your last message.

import { input, scroller, state } from './page.js';
import { switchRoom } from './rooms.js';
import { closePicker } from './composer.js';
import { closeMentions } from './mentions.js';
import { openSwitcher } from './switcher.js';

// Macs say ⌘ and ⌥ where others say Ctrl and Alt (event.metaKey and
// event.altKey: the page accepts Ctrl and ⌘ alike).
const platform = navigator.userAgentData?.platform ?? navigator.platform ?? '';
const MAC = /mac|iphone|ipad/i.test(platform);
const CTRL = MAC ? '⌘' : 'Ctrl';
const ALT = MAC ? '⌥' : 'Alt';

/** Every shortcut, as the sheet shows it: alternatives, each a list of keys pressed together. */
export const SHORTCUTS = [
  { keys: [['Enter']], what: 'Send the message' },
  { keys: [['Shift', 'Enter']], what: 'Start a new line in the message' },
  { keys: [['↑']], what: 'In an empty message box: edit your last message (Esc cancels)' },
  { keys: [[ALT, '↑'], [ALT, '↓']], what: 'Go to the previous or next room' },
  { keys: [[CTRL, 'K']], what: 'Find a room, or join a new one' },
  { keys: [['Page Up'], ['Page Down']], what: 'Scroll the messages, from the message box' },
  { keys: [['@']], what: 'Mention someone: ↑ ↓ choose, Enter or Tab inserts the name' },
  { keys: [[':']], what: 'Emoji by name, like :tada:' },
  { keys: [['Esc']], what: 'Cancel an edit or a reply; close a menu, a list, a dialog, the emoji picker or the side panel' },
  { keys: [['/help']], what: 'Type /help in the message box for the commands (/me, …)' },
  { keys: [['?'], [CTRL, '/']], what: 'This list (? outside a text field)' },
];

// ================================================================================
// The shortcut sheet
// ================================================================================

let sheet;
let returnFocus = null;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** <kbd>Alt</kbd>+<kbd>↑</kbd> or <kbd>Alt</kbd>+<kbd>↓</kbd> */
function keysCell(alternatives) {
  const dt = el('dt', 'shortcut-keys');
  alternatives.forEach((combo, i) => {
    if (i > 0) dt.append(' or ');
    const keys = el('span', 'shortcut-combo'); // one combination never breaks over two lines
    combo.forEach((key, j) => {
      if (j > 0) keys.append('+');
      keys.append(el('kbd', '', key));
    });
    dt.append(keys);
  });
  return dt;
}

/**
 * A modal <dialog> (opened with showModal()) with a heading that names it,
 * added to the page: Esc closes it (the browser does that), and so does a
 * click on the dimmed page around it. Returns the dialog, holding the heading.
 */
export function modalDialog(id, className, heading) {
  const dialog = el('dialog', `key-dialog ${className}`);
  dialog.id = id;
  const title = el('h2', 'key-dialog-title', heading);
  title.id = `${id}-title`;
  dialog.setAttribute('aria-labelledby', title.id);
  dialog.append(title);
  document.body.append(dialog);
  // A click on the backdrop is a click on the dialog itself, outside its box
  // (a click on its padding is on the dialog too, but inside the box).
  dialog.addEventListener('click', (event) => {
    if (event.target !== dialog) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right
      && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) dialog.close();
  });
  // The drawer's Esc (drawer.js) must not close the side panel as well.
  dialog.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') event.stopPropagation();
  });
  return dialog;
}

function buildSheet() {
  sheet = modalDialog('shortcut-sheet', 'shortcut-sheet', 'Keyboard shortcuts');
  const list = el('dl', 'shortcut-list');
  for (const shortcut of SHORTCUTS) {
    const row = el('div', 'shortcut-row');
    row.append(keysCell(shortcut.keys), el('dd', '', shortcut.what));
    list.append(row);
  }
  const close = el('button', 'key-dialog-close', 'Close');
  close.type = 'button';
  close.addEventListener('click', () => sheet.close());
  sheet.append(list, close);
  sheet.addEventListener('close', () => {
    // Back where you were, or in the composer if that is gone.
    (returnFocus?.isConnected ? returnFocus : input).focus();
    returnFocus = null;
  });
}

export function openShortcutSheet() {
  if (!sheet) buildSheet();
  if (sheet.open) return;
  returnFocus = document.activeElement;
  sheet.showModal();
  sheet.querySelector('.key-dialog-close').focus();
}

// ================================================================================
// The keys
// ================================================================================

/** Is the focus where "?" is something you type? */
function inTextField(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable || target.closest('textarea, select')) return true;
  const field = target.closest('input');
  return Boolean(field) && !['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color'].includes(field.type);
}

/** The room `step` places away in the sidebar's order (wrapping round). */
function stepRoom(step) {
  const keys = [...state.rooms.keys()];
  if (keys.length < 2) return;
  const at = keys.indexOf(state.current);
  const next = state.rooms.get(keys[(at + step + keys.length) % keys.length]);
  // The suggestions and the picker belong to the room you leave.
  closeMentions();
  closePicker();
  switchRoom(next.name);
}

/** Scroll the messages by most of a screen, keeping a line of context. */
function scrollPage(direction) {
  const page = Math.max(40, scroller.clientHeight - 48);
  scroller.scrollBy({ top: direction * page, behavior: 'instant' });
}

function onKeyDown(event) {
  // An input method composing text (Japanese, Chinese, …) owns every key.
  if (event.isComposing || event.keyCode === 229) return;
  // An open dialog has its own keys (and Esc closes it).
  if (document.querySelector('dialog[open]')) return;
  const mod = event.ctrlKey || event.metaKey;
  const key = event.key;

  if (mod && !event.altKey && !event.shiftKey && key.toLowerCase() === 'k') {
    event.preventDefault(); // the browser's own Ctrl+K searches the web
    closeMentions();
    closePicker();
    openSwitcher();
  } else if (mod && !event.altKey && (key === '/' || key === '?')) {
    event.preventDefault();
    openShortcutSheet();
  } else if (event.altKey && !mod && !event.shiftKey && (key === 'ArrowUp' || key === 'ArrowDown')) {
    event.preventDefault();
    event.stopPropagation(); // not also ↑ in the composer
    stepRoom(key === 'ArrowUp' ? -1 : 1);
  } else if ((key === 'PageUp' || key === 'PageDown') && event.target === input
             && !mod && !event.altKey && !event.shiftKey) {
    event.preventDefault(); // in the textarea it would only move the caret
    scrollPage(key === 'PageUp' ? -1 : 1);
  } else if (key === '?' && !mod && !event.altKey && !inTextField(event.target)) {
    event.preventDefault();
    openShortcutSheet();
  }
}

export function wireKeys() {
  document.addEventListener('keydown', onKeyDown, { capture: true });
}
