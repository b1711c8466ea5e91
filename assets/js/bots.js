// bots.js — the room dialog's "Bots & webhooks" (issue 18), for the room's
// owner alone: the room's live bot tokens (name, scope, who made it, when,
// when it was last used), each with Revoke (asked twice), and a form that
// makes a new one (`create_token`).
//
// A token's secret exists in one frame only, `token_created`: the page
// shows it then, with the webhook URL (location.origin + hook_url) and a
// curl line ready to paste, and says it will not be shown again. It is
// never kept: closing the dialog, or opening it for another room, clears
// it, and `tokens` (the list) never has it.
//
// Like the rest of the dialog, the page shows what the server stored: the
// list is asked for (`tokens`) when the section first shows, and again
// after each `token_created` and `token_revoked`. A refusal of any of the
// three (not_owner, bad_field, name_taken, limit_reached, not_found) is
// said next to the form or the list (requests.js), not in a toast.

import { roomKey } from './state.js';
import { $, state } from './page.js';
import { ask, answered } from './requests.js';
import { untilText } from './access.js';
import { copyField, dialogRoom } from './room-settings.js';

// The room whose list is on screen (or asked for), while the dialog is open.
let listedKey;

const SCOPE_NOTES = {
  post: 'Sends messages only, through the webhook URL or the HTTP API. It cannot read the room.',
  read: 'Reads the room (HTTP API, WebSocket) and cannot write in it. No webhook URL.',
  bot: 'A full bot: sends and reads, reacts, and edits or deletes its own messages.',
};

// What a refusal means here, when the server sends no words of its own.
const BOT_REFUSALS = {
  not_owner: 'Only the room’s owner can manage its bots.',
  bad_field: 'That is not a name a bot can have here (the same rules as people’s names), or not a scope.',
  bad_name: 'That is not a name a bot can have here (the same rules as people’s names).',
  name_taken: 'That name is taken in this room (by a member or another bot): choose another.',
  limit_reached: 'This room has as many live tokens as it may: revoke one first.',
  not_found: 'That token is gone already (revoked, perhaps from another browser).',
};
// Refusals that are about the name typed: the field is marked and focused.
const ABOUT_THE_NAME = ['bad_field', 'bad_name', 'name_taken'];

const refusal = (text, frame) => (frame && !frame.message && BOT_REFUSALS[frame.code]) || text;

function askList(room) {
  listedKey = roomKey(room.name);
  const sent = ask({ type: 'tokens', room: room.name }, (text, frame) => { $('bot-list-error').textContent = refusal(text, frame); });
  // Not connected: asked again at the room's next settings (its `joined` after the reconnect).
  if (!sent) listedKey = undefined;
}

/** The section for the dialog's room (room-settings.js fill): shown to its owner, its list asked for once. */
export function showBots(room, owner) {
  $('room-bots').hidden = !owner;
  if (owner && listedKey !== roomKey(room.name)) {
    $('bot-list-error').textContent = '';
    askList(room);
  }
}

/** The dialog opened (or closed): nothing of the last room's tokens stays, the secret least of all. */
export function resetBots() {
  listedKey = undefined;
  for (const id of ['bot-error', 'bot-list-error']) $(id).textContent = '';
  $('bot-name').value = '';
  $('bot-name').removeAttribute('aria-invalid');
  hideSecret();
  $('bot-list').replaceChildren();
  $('bot-list-empty').hidden = true;
}

function hideSecret() {
  for (const id of ['bot-new-secret', 'bot-new-url', 'bot-new-curl']) $(id).value = '';
  $('bot-new').hidden = true;
}

const isDialogRoom = (name) => dialogRoom() !== undefined && dialogRoom() === state.room(name);

// --- the list -------------------------------------------------------------------

/** "ci-bot · post · by alice, 14:05 · last used 14:07" as a row, with Revoke. */
function tokenRow(room, token) {
  const li = document.createElement('li');
  li.className = 'bot-row';
  li.dataset.tokenId = token.id;
  const about = document.createElement('span');
  about.className = 'bot-about';
  const name = document.createElement('strong');
  name.className = 'bot-name';
  name.dir = 'auto';
  name.textContent = token.name;
  const scope = document.createElement('span');
  scope.className = 'bot-scope';
  scope.textContent = token.scope;
  scope.title = SCOPE_NOTES[token.scope] ?? '';
  const made = document.createElement('span');
  made.className = 'bot-made';
  made.dir = 'auto';
  made.textContent = `by ${token.created_by}, ${untilText(token.created_ts)}`;
  const used = document.createElement('span');
  used.className = 'bot-used';
  used.textContent = token.last_used_ts ? `last used ${untilText(token.last_used_ts)}` : 'never used';
  if (token.last_used_ts) used.title = new Date(token.last_used_ts).toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'medium' });
  about.append(name, ' ', scope, ' ', made, ' · ', used);

  const revoke = document.createElement('button');
  revoke.type = 'button';
  revoke.className = 'link-button';
  revoke.textContent = 'Revoke';
  revoke.setAttribute('aria-label', `Revoke the token of ${token.name}`);
  revoke.setAttribute('aria-expanded', 'false');

  // Asked twice: a revoked token never works again, and whatever uses it stops.
  const confirm = document.createElement('span');
  confirm.className = 'bot-confirm';
  confirm.setAttribute('role', 'group');
  confirm.hidden = true;
  const question = document.createElement('span');
  question.textContent = `Revoke ${token.name}? Whatever uses it stops working.`;
  question.dir = 'auto';
  const yes = document.createElement('button');
  yes.type = 'button';
  yes.className = 'danger';
  yes.textContent = 'Yes, revoke';
  const no = document.createElement('button');
  no.type = 'button';
  no.textContent = 'Cancel';
  confirm.append(question, yes, no);
  confirm.setAttribute('aria-label', `Revoke the token of ${token.name}?`);

  const setOpen = (open) => {
    confirm.hidden = !open;
    revoke.hidden = open;
    revoke.setAttribute('aria-expanded', String(open));
  };
  revoke.addEventListener('click', () => {
    setOpen(true);
    no.focus();
  });
  no.addEventListener('click', () => {
    setOpen(false);
    revoke.focus();
  });
  yes.addEventListener('click', () => {
    $('bot-list-error').textContent = '';
    yes.disabled = true;
    const sent = ask({ type: 'revoke_token', room: room.name, id: token.id }, (text, frame) => {
      yes.disabled = false;
      $('bot-list-error').textContent = refusal(text, frame);
      // Revoked meanwhile (another tab, `natter token revoke`): the list is out of date.
      if (frame?.code === 'not_found') askList(room);
    });
    if (!sent) yes.disabled = false;
  });
  li.append(about, revoke, confirm);
  return li;
}

/** `tokens`: the room's live tokens, newest first. */
export function handleTokens(frame) {
  answered(frame.room, 'tokens');
  if (!isDialogRoom(frame.room) || listedKey !== roomKey(frame.room)) return;
  const room = state.room(frame.room);
  const tokens = frame.tokens ?? [];
  $('bot-list').replaceChildren(...tokens.map((token) => tokenRow(room, token)));
  $('bot-list-empty').hidden = tokens.length > 0;
}

/** `token_revoked`: done; the list is asked for again. */
export function handleTokenRevoked(frame) {
  answered(frame.room, 'revoke_token');
  if (!isDialogRoom(frame.room)) return;
  $('bot-list').querySelector(`[data-token-id="${CSS.escape(String(frame.id))}"]`)?.remove();
  $('live-status').textContent = 'Token revoked';
  askList(state.room(frame.room));
}

// --- a new token ------------------------------------------------------------------

/** A string as one shell word: '…', with any ' in it closed, escaped and reopened. */
const shellWord = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;

/** `token_created`: its secret, shown this once, then the list again. */
export function handleTokenCreated(frame) {
  answered(frame.room, 'create_token');
  if (!isDialogRoom(frame.room)) return;
  const room = state.room(frame.room);
  $('bot-name').value = '';
  $('bot-name').removeAttribute('aria-invalid');
  $('bot-new-heading').textContent = `New token for ${frame.name} (${frame.scope})`;
  $('bot-new-secret').value = frame.token;
  // A read token has no webhook (the server answers it 403): its example reads instead.
  const hook = frame.scope !== 'read' && frame.hook_url ? `${location.origin}${frame.hook_url}` : '';
  $('bot-new-url').value = hook;
  $('bot-new-hook').hidden = hook === '';
  if (hook) {
    $('bot-new-curl-label').textContent = 'Try it: post “hello” from a terminal';
    // The URL needs no quotes: an origin and /hooks/ntb_<hex>.
    $('bot-new-curl').value = `curl -X POST -H 'Content-Type: application/json' -d '{"text":"hello"}' ${hook}`;
  } else {
    $('bot-new-curl-label').textContent = 'Try it: read the room from a terminal';
    const api = `${location.origin}/api/v1/rooms/${encodeURIComponent(room.name)}/messages`;
    $('bot-new-curl').value = `curl -H ${shellWord(`Authorization: Bearer ${frame.token}`)} ${shellWord(api)}`;
  }
  $('bot-new').hidden = false;
  $('bot-new-secret').focus();
  $('bot-new-secret').select();
  askList(room);
}

function create(event) {
  event.preventDefault();
  const room = dialogRoom();
  if (!room) return;
  const field = $('bot-name');
  const error = $('bot-error');
  error.textContent = '';
  field.removeAttribute('aria-invalid');
  // The server alone judges a name (as the login page leaves it to it); an empty one needs no trip.
  const name = field.value.trim();
  if (name === '') {
    error.textContent = 'Give the bot a name: its messages show it.';
    field.setAttribute('aria-invalid', 'true');
    field.focus();
    return;
  }
  ask({ type: 'create_token', room: room.name, name, scope: $('bot-scope').value }, (text, frame) => {
    error.textContent = refusal(text, frame);
    if (frame && ABOUT_THE_NAME.includes(frame.code)) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  });
}

const showScopeNote = () => { $('bot-scope-note').textContent = SCOPE_NOTES[$('bot-scope').value] ?? ''; };

export function wireBots() {
  $('bot-form').addEventListener('submit', create);
  $('bot-scope').addEventListener('change', showScopeNote);
  showScopeNote();
  $('bot-new-secret-copy').addEventListener('click', (event) => copyField($('bot-new-secret'), event.currentTarget, 'Secret copied'));
  $('bot-new-url-copy').addEventListener('click', (event) => copyField($('bot-new-url'), event.currentTarget, 'Webhook URL copied'));
  $('bot-new-curl-copy').addEventListener('click', (event) => copyField($('bot-new-curl'), event.currentTarget, 'Command copied'));
  // Closed: the secret goes with it.
  $('room-dialog').addEventListener('close', resetBots);
}
