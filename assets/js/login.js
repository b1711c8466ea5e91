// login.js — the small helper behind the login page.
//
// The form works without JavaScript: it is a plain POST to /login and the
// server does all the checking. This file only adds three conveniences:
//   1. it remembers your display name in localStorage, so next time the
//      field is already filled in;
//   2. it puts "lobby" in the room field when the server left it empty;
//   3. while the room field starts with "#", it says under the field that
//      the "#" is not part of the name (the server drops it).
// The theme you picked on the chat page is already on the page: theme.js,
// a classic script in <head>, put it there before the first paint.

const NAME_KEY = 'natter.name';
const DEFAULT_ROOM = 'lobby';

// localStorage can throw (storage disabled, private mode, quota), and a
// missing convenience must never break the login form, so every access is
// wrapped.
function loadName() {
  try {
    return localStorage.getItem(NAME_KEY) || '';
  } catch {
    return '';
  }
}

function saveName(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Nothing to do: the name simply will not be remembered.
  }
}

const form = document.querySelector('form[action="/login"]');
const nameInput = document.getElementById('name');
const roomInput = document.getElementById('room');

// The server re-renders the page with the name you typed when a login
// fails; that value wins over the remembered one.
if (nameInput && nameInput.value.trim() === '') {
  nameInput.value = loadName();
}

if (roomInput && roomInput.value.trim() === '') {
  roomInput.value = DEFAULT_ROOM;
}

// Put the cursor where you are most likely to type next: the name when it
// is empty or the server just refused the form (most refusals are about the
// name: taken, too long), otherwise the room.
const error = document.getElementById('login-error');
const refused = error && error.textContent.trim() !== '';
if (nameInput && (nameInput.value === '' || refused)) {
  nameInput.focus();
  nameInput.select();
} else if (roomInput) {
  roomInput.focus();
  roomInput.select();
}

// The hint under the room field. Made here, not in login.html, because it
// only means something with this script running; aria-describedby makes
// screen readers read it with the field.
if (roomInput) {
  const hint = document.createElement('p');
  hint.id = 'room-hint';
  hint.className = 'field-note';
  hint.setAttribute('role', 'status');
  roomInput.after(hint);
  roomInput.setAttribute('aria-describedby', hint.id);
  const showHint = () => {
    const typed = roomInput.value.trim();
    const name = typed.replace(/^#+/, '').trim();
    hint.textContent = typed.startsWith('#') && name !== ''
      ? `# is not part of a room's name: you will join #${name}`
      : '';
  };
  roomInput.addEventListener('input', showHint);
  showHint();
}

if (form) {
  form.addEventListener('submit', () => {
    // "required" already stopped an empty submit; this is just a safety net
    // in case the attribute was removed.
    if (roomInput && roomInput.value.trim() === '') roomInput.value = DEFAULT_ROOM;
    if (nameInput) saveName(nameInput.value.trim());
  });
}
