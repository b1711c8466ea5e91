// account-dialog.js — "Your account": what the owner of a claimed name can
// do with it. The Settings dialog shows a "Your account…" button while our
// name is claimed (state.verified); it opens this dialog over Settings:
//
//   Sessions             every session of the name (GET /account/sessions)
//   Log out everywhere   all of them end, this one too (asks first)
//   Change password      current, new, the new again; the others end
//   Profile              a one-line bio and a colour, shown on the card
//   Release your name    with the password; optionally erase its messages
//
// Each is one request to the server (form-encoded, with the session cookie;
// fetch sends the page's Origin, which the server checks) answered in JSON:
// `{"ok":true,…}` or `{"error":"<a sentence>"}`. The page shows the
// server's sentence as it is: it alone knows the rules (how long a password
// must be, what a colour may look like), and a copy of them here could only
// drift from them.
//
// Logging out everywhere and releasing end this session too: the server
// closes our sockets with 1008, and socket.js shows "Your session has
// ended" as for any ended session. This file only closes its dialogs and
// says what was done.

import { $, showNotice, state } from './page.js';
import { clockTime } from './render.js';
import { closeSettings } from './settings.js';

const dialog = $('account-dialog');

// --- talking to the server ------------------------------------------------------

/**
 * One request to the account API. Returns { ok, body, status }; a server
 * that cannot be reached gives status 0 and a sentence of our own, so every
 * caller shows `body.error` the same way.
 */
export async function askServer(path, fields) {
  const init = fields === undefined
    ? { credentials: 'same-origin', headers: { Accept: 'application/json' } }
    : { method: 'POST', body: new URLSearchParams(fields), credentials: 'same-origin' };
  try {
    const response = await fetch(path, init);
    const body = await response.json().catch(() => ({}));
    if (!response.ok && !body.error) body.error = `The server refused that (status ${response.status}).`;
    if (response.status === 401 && !body.error) body.error = 'Your session has ended: log in again.';
    return { ok: response.ok && body.error === undefined, body, status: response.status };
  } catch {
    return { ok: false, body: { error: 'The server could not be reached: try again in a moment.' }, status: 0 };
  }
}

/**
 * While a request is on its way its button says so and ignores presses.
 * aria-disabled, not disabled: a disabled button would drop the focus out
 * of the dialog while it waits.
 */
async function whileBusy(button, work) {
  if (button.getAttribute('aria-disabled') === 'true') return;
  button.setAttribute('aria-disabled', 'true');
  try {
    await work();
  } finally {
    button.removeAttribute('aria-disabled');
  }
}

/** Show the server's sentence under a form (or clear it with ''). */
function say(id, text) {
  $(id).textContent = text;
}

// --- the Settings button ---------------------------------------------------------

/**
 * "Your account…" in Settings, only for a claimed name. settings.js calls
 * this each time it opens, so a claim made on this page (which sets
 * state.verified) shows it without a reload.
 */
export function updateAccountEntry() {
  $('account-entry').hidden = state.verified !== true;
}

// --- sessions ----------------------------------------------------------------------

/** "This browser — 2 tabs open", "Another device — idle since 14:05". */
export function sessionText(session) {
  const who = session.current ? 'This browser' : 'Another device';
  if (session.connected > 0) return `${who} — ${session.connected === 1 ? '1 tab' : `${session.connected} tabs`} open`;
  if (session.idle_since) return `${who} — idle since ${clockTime(session.idle_since)}`;
  return `${who} — no tab open`;
}

async function loadSessions() {
  const list = $('account-sessions');
  say('sessions-error', '');
  const answer = await askServer('/account/sessions');
  if (!answer.ok) {
    list.replaceChildren();
    say('sessions-error', answer.body.error);
    return;
  }
  // This browser first, then the others as the server lists them.
  const sessions = [...(answer.body.sessions ?? [])].sort((a, b) => Number(b.current) - Number(a.current));
  list.replaceChildren(...sessions.map((session) => {
    const li = document.createElement('li');
    li.className = 'account-session';
    if (session.current) li.classList.add('current');
    li.textContent = sessionText(session);
    return li;
  }));
}

/** Show or hide an "are you sure?" group, with aria-expanded on the button that asks. */
function setConfirm(asker, box, open) {
  box.hidden = !open;
  asker.setAttribute('aria-expanded', String(open));
}

/** Our session is over (logged out everywhere, name released): close up and say so. */
function sessionOver(text) {
  dialog.close();
  closeSettings();
  showNotice(text);
}

async function logoutEverywhere() {
  await whileBusy($('logout-all-yes'), async () => {
    const answer = await askServer('/account/logout-all', {});
    if (!answer.ok) {
      say('sessions-error', answer.body.error);
      return;
    }
    const ended = answer.body.ended;
    setConfirm($('logout-all-ask'), $('logout-all-confirm'), false);
    sessionOver(`Logged out everywhere: ${ended === 1 ? '1 session' : `${ended} sessions`} ended, this one too.`);
  });
}

// --- password ----------------------------------------------------------------------

async function changePassword(event) {
  event.preventDefault();
  say('password-done', '');
  const fields = {
    current: $('password-current').value,
    password: $('password-new').value,
    confirm: $('password-confirm').value,
  };
  await whileBusy($('password-save'), async () => {
    const answer = await askServer('/account/password', fields);
    if (!answer.ok) {
      say('password-error', answer.body.error);
      return;
    }
    say('password-error', '');
    for (const id of ['password-current', 'password-new', 'password-confirm']) $(id).value = '';
    say('password-done', 'Password changed. Your other sessions have ended: log in there with the new one.');
    loadSessions();
  });
}

// --- profile -----------------------------------------------------------------------

/** Fill the profile form with what the server has (our own card). */
async function loadProfile() {
  const answer = await askServer(`/u/${encodeURIComponent(state.me)}?format=json`);
  if (!answer.ok) return; // nothing to fill in: the form stays as it is
  $('profile-bio').value = answer.body.bio ?? '';
  const color = answer.body.color ?? '';
  $('profile-no-color').checked = color === '';
  if (color) $('profile-color').value = color;
}

async function saveProfile(event) {
  event.preventDefault();
  say('profile-done', '');
  // One line: newlines pasted in become spaces (the server refuses them).
  const bio = $('profile-bio').value.replace(/\s*\n\s*/gu, ' ').trim();
  const color = $('profile-no-color').checked ? '' : $('profile-color').value;
  await whileBusy($('profile-save'), async () => {
    const answer = await askServer('/account/profile', { bio, color });
    if (!answer.ok) {
      say('profile-error', answer.body.error);
      return;
    }
    say('profile-error', '');
    $('profile-bio').value = bio;
    say('profile-done', 'Profile saved: your card shows it now.');
  });
}

// --- release -----------------------------------------------------------------------

function askRelease(event) {
  event.preventDefault();
  say('release-error', '');
  if ($('release-password').value === '') {
    say('release-error', 'Type your password to release your name.');
    $('release-password').focus();
    return;
  }
  const erase = $('release-erase').checked;
  $('release-question').textContent = erase
    ? `Release “${state.me}” and delete every message you wrote under it? This cannot be undone.`
    : `Release “${state.me}”? Anyone may then use it.`;
  setConfirm($('release-ask'), $('release-confirm'), true);
  $('release-cancel').focus();
}

async function release() {
  const erase = $('release-erase').checked;
  const fields = { password: $('release-password').value, ...(erase ? { erase: 'on' } : {}) };
  await whileBusy($('release-yes'), async () => {
    const answer = await askServer('/account/release', fields);
    if (!answer.ok) {
      setConfirm($('release-ask'), $('release-confirm'), false);
      say('release-error', answer.body.error);
      $('release-password').focus();
      return;
    }
    $('release-password').value = '';
    setConfirm($('release-ask'), $('release-confirm'), false);
    const name = answer.body.user ?? state.me;
    sessionOver(erase
      ? `“${name}” is free again, and every message you wrote under it is deleted.`
      : `“${name}” is free again.`);
  });
}

// --- the dialog ----------------------------------------------------------------------

/** Open over Settings; what the server has is fetched afresh each time. */
export function openAccount() {
  if (dialog.open) return;
  for (const id of ['sessions-error', 'password-error', 'password-done', 'profile-error', 'profile-done', 'release-error']) say(id, '');
  setConfirm($('logout-all-ask'), $('logout-all-confirm'), false);
  setConfirm($('release-ask'), $('release-confirm'), false);
  for (const input of dialog.querySelectorAll('.account-username')) input.value = state.me;
  dialog.showModal();
  $('account-close').focus();
  loadSessions();
  loadProfile();
}

export function wireAccountDialog() {
  const opener = $('account-open');
  opener.addEventListener('click', openAccount);
  $('account-close').addEventListener('click', () => dialog.close());
  // Esc (the browser's own `cancel`) and the × both end in `close`; the
  // focus goes back to "Your account…" in Settings, if Settings is still open.
  dialog.addEventListener('close', () => {
    if ($('settings-dialog').open) opener.focus();
  });

  $('logout-all-ask').addEventListener('click', () => {
    setConfirm($('logout-all-ask'), $('logout-all-confirm'), true);
    $('logout-all-cancel').focus();
  });
  $('logout-all-cancel').addEventListener('click', () => {
    setConfirm($('logout-all-ask'), $('logout-all-confirm'), false);
    $('logout-all-ask').focus();
  });
  $('logout-all-yes').addEventListener('click', logoutEverywhere);

  $('password-form').addEventListener('submit', changePassword);

  $('profile-form').addEventListener('submit', saveProfile);
  // The bio is one line: Enter saves it.
  $('profile-bio').addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    $('profile-form').requestSubmit();
  });
  // Picking a colour means you want one.
  $('profile-color').addEventListener('input', () => {
    $('profile-no-color').checked = false;
  });

  $('release-form').addEventListener('submit', askRelease);
  $('release-cancel').addEventListener('click', () => {
    setConfirm($('release-ask'), $('release-confirm'), false);
    $('release-ask').focus();
  });
  $('release-yes').addEventListener('click', release);

  // Settings' own "Claim your name" section may set state.verified while
  // Settings is open; the focus moves after a claim, so re-read it then.
  $('settings-dialog').addEventListener('focusin', updateAccountEntry);
  updateAccountEntry();
}
