// switcher.js — the room switcher (Ctrl+K, ⌘K on a Mac): a dialog with a
// filter field over your rooms; typing narrows the list, ↑/↓ choose,
// Enter opens the room, Esc closes and you are back in the composer. A
// name that is none of your rooms is offered as "Join #name".
//
// The field keeps the focus the whole time and the highlighted row is its
// aria-activedescendant (the ARIA combobox pattern), so a screen reader
// reads the row you are on while you keep typing.

import { roomKey } from './state.js';
import { input, roomLabel, state } from './page.js';
import { switchRoom } from './rooms.js';
import { setDrawer } from './drawer.js';
import { modalDialog } from './keys.js';

let dialog;
let field;
let listbox;
let choices = []; // { name, join } in the order shown
let active = 0;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The dialog, made once, the first time it opens. */
function build() {
  dialog = modalDialog('room-switcher', 'switcher', 'Go to a room');
  const label = el('label', 'switcher-label', 'Room name (a new name joins that room)');
  label.htmlFor = 'switcher-input';
  field = el('input', 'switcher-input');
  field.id = 'switcher-input';
  field.type = 'text';
  field.autocomplete = 'off';
  field.spellcheck = false;
  field.setAttribute('autocapitalize', 'off');
  field.setAttribute('enterkeyhint', 'go');
  field.setAttribute('role', 'combobox');
  field.setAttribute('aria-expanded', 'true');
  field.setAttribute('aria-controls', 'switcher-list');
  field.setAttribute('aria-autocomplete', 'list');
  listbox = el('ul', 'switcher-list');
  listbox.id = 'switcher-list';
  listbox.setAttribute('role', 'listbox');
  listbox.setAttribute('aria-label', 'Rooms');
  const hint = el('p', 'muted small switcher-hint', '↑ ↓ choose · Enter opens · Esc closes');
  hint.setAttribute('aria-hidden', 'true'); // the combobox says as much to a screen reader

  dialog.append(label, field, listbox, hint);

  field.addEventListener('input', () => {
    active = 0;
    refresh();
  });
  field.addEventListener('keydown', onKey);
  dialog.addEventListener('close', () => input.focus());
}

/** What the field asks for: a room name, without a "#" typed in front. */
const typedName = () => field.value.trim().replace(/^#+/, '').trim();

/** Your rooms matching the field (name starts with it first, then contains it), and "Join" for a new name. */
function matches() {
  const typed = typedName();
  const q = roomKey(typed);
  const rooms = [...state.rooms.values()];
  // A direct message is found by the other person's name ("@bob" or "bob").
  const key = (room) => (room.dm ? roomKey(`@${room.dm.with}`) : roomKey(room.name));
  const bare = q.replace(/^@/, '');
  const starts = rooms.filter((room) => key(room).startsWith(q) || (room.dm && key(room).startsWith(`@${bare}`)));
  const contains = rooms.filter((room) => !starts.includes(room) && key(room).includes(q));
  const found = [...starts, ...contains].map((room) => ({ name: room.name, join: false }));
  if (typed !== '' && !state.has(typed)) found.push({ name: typed, join: true });
  return found;
}

function refresh() {
  choices = matches();
  if (active >= choices.length) active = 0;
  listbox.replaceChildren(...choices.map((choice, i) => option(choice, i)));
  if (choices.length > 0) field.setAttribute('aria-activedescendant', `switcher-option-${active}`);
  else field.removeAttribute('aria-activedescendant');
  listbox.querySelector('[aria-selected="true"]')?.scrollIntoView({ block: 'nearest' });
}

function option(choice, i) {
  const li = el('li', 'switcher-option');
  li.id = `switcher-option-${i}`;
  li.setAttribute('role', 'option');
  li.setAttribute('aria-selected', String(i === active));
  const room = choice.join ? undefined : state.room(choice.name);
  if (choice.join) li.append(el('span', 'switcher-join', 'Join '));
  const name = el('span', 'switcher-name', room ? roomLabel(room) : `#${choice.name}`);
  name.dir = 'auto';
  li.append(name);
  if (room && roomKey(room.name) === state.current) li.append(el('span', 'muted switcher-note', ' (on screen)'));
  if (room?.unread > 0) li.append(el('span', 'muted switcher-note', ` · ${room.unread} unread`));
  // mousedown, not click: the field keeps the focus.
  li.addEventListener('mousedown', (event) => event.preventDefault());
  li.addEventListener('click', () => choose(i));
  return li;
}

function onKey(event) {
  // keyCode 229: Safari's Enter that ends a composition has isComposing false.
  if (event.isComposing || event.keyCode === 229) return;
  const n = choices.length;
  if ((event.key === 'ArrowDown' || event.key === 'ArrowUp') && n > 0) {
    event.preventDefault();
    active = (active + (event.key === 'ArrowDown' ? 1 : n - 1)) % n;
    refresh();
  } else if (event.key === 'Enter') {
    event.preventDefault();
    choose(active);
  }
}

function choose(i) {
  const choice = choices[i];
  if (!choice) return;
  dialog.close();
  switchRoom(choice.name); // joins it first when it is a new name
  setDrawer(false);
  input.focus();
}

/** Open the switcher, its field empty, the first room other than this one highlighted. */
export function openSwitcher() {
  if (!dialog) build();
  if (dialog.open) return;
  field.value = '';
  choices = matches();
  active = Math.max(0, choices.findIndex((choice) => roomKey(choice.name) !== state.current));
  refresh();
  dialog.showModal();
  field.focus();
}
