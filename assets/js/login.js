// login.js — the small helper behind the login page.
//
// The form works without JavaScript: it is a plain POST to /login and the
// server does all the checking. This file only adds four conveniences:
//   1. it remembers your display name in localStorage, so next time the
//      field is already filled in;
//   2. it puts "lobby" in the room field when the server left it empty;
//   3. while the room field starts with "#", it says under the field that
//      the "#" is not part of the name (the server drops it);
//   4. it puts the cursor in the password field when that is what you need
//      next: the server's reason is about the password, or the remembered
//      name was last used with one (a claimed name).
//   5. an owner link (/r/<room>#owner=<key>) opened without a session
//      arrives here with its fragment, which the form's POST would lose:
//      the key is kept for the chat page in sessionStorage (owner.js takes
//      it), and the fragment leaves the address bar.
// The password itself is never stored: only whether the name had one.
// The theme you picked on the chat page is already on the page: theme.js,
// a classic script in <head>, put it there before the first paint.

const NAME_KEY = 'natter.name';
// "1" when the remembered name was last sent with a password.
const PASSWORD_KEY = 'natter.name.password';
const DEFAULT_ROOM = 'lobby';

// localStorage can throw (storage disabled, private mode, quota), and a
// missing convenience must never break the login form, so every access is
// wrapped.
function load(key) {
  try {
    return localStorage.getItem(key) || '';
  } catch {
    return '';
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Nothing to do: the name simply will not be remembered.
  }
}

const form = document.querySelector('form[action="/login"]');
const nameInput = document.getElementById('name');
const roomInput = document.getElementById('room');
const passwordInput = document.getElementById('password');

// The server re-renders the page with the name you typed when a login
// fails; that value wins over the remembered one.
if (nameInput && nameInput.value.trim() === '') {
  nameInput.value = load(NAME_KEY);
}

if (roomInput && roomInput.value.trim() === '') {
  roomInput.value = DEFAULT_ROOM;
}

// Put the cursor where you are most likely to type next: the password
// when the server's reason speaks of it ("“alice” is a claimed name: enter
// its password", "Wrong password for “alice”"), the name when it is empty
// or the server refused it (most refusals are about the name: taken, too
// long), the password when the remembered name had one, otherwise the room.
const error = document.getElementById('login-error');
const reason = error ? error.textContent.trim() : '';
const refused = reason !== '';
const aboutPassword = /password/i.test(reason);
const hadPassword = nameInput && nameInput.value !== '' && load(PASSWORD_KEY) === '1'
  && nameInput.value.trim() === load(NAME_KEY);
if (passwordInput && nameInput && nameInput.value !== '' && (aboutPassword || (!refused && hadPassword))) {
  passwordInput.focus();
} else if (nameInput && (nameInput.value === '' || refused)) {
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

// 5. The owner key of an owner link, for the chat page after the log-in.
const ownerKey = new URLSearchParams(location.hash.replace(/^#/, '')).get('owner');
if (ownerKey) {
  try {
    sessionStorage.setItem('natter.owner-link', JSON.stringify({ room: new URLSearchParams(location.search).get('room') ?? '', key: ownerKey }));
  } catch {
    // Storage blocked: open the owner link again once logged in.
  }
  history.replaceState(null, '', location.pathname + location.search);
}

if (form) {
  form.addEventListener('submit', () => {
    // "required" already stopped an empty submit; this is just a safety net
    // in case the attribute was removed.
    if (roomInput && roomInput.value.trim() === '') roomInput.value = DEFAULT_ROOM;
    if (nameInput) save(NAME_KEY, nameInput.value.trim());
    if (passwordInput) save(PASSWORD_KEY, passwordInput.value === '' ? '' : '1');
  });
}
