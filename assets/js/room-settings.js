// room-settings.js — what a room is and who runs it: the header (topic,
// a lock for a private room, "public" for a listed one) and the room
// dialog (the top bar's Room button). Everyone sees who owns the room and
// how one gets in; an unowned room offers "Claim this room"; moderators
// change the topic and make invite links; the owner everything else, its
// bots and webhooks too (that section is bots.js's).
//
// The server sends a room's settings in `joined` and again in a `room`
// frame after every change (claim, settings, roles, mutes, invites), so
// the page only ever shows what the server has stored: a control sends a
// request (requests.js) and the dialog changes when the `room` frame comes.

import { roomKey } from './state.js';
import { $, current, isCurrent, roomLabel, state } from './page.js';
import { moderates, roleOfUid, ROLE_WORDS } from './roles.js';
import { answered, ask } from './requests.js';
import { authAnswered, noteClaimed, ownerLink, proveOwnership } from './owner.js';
import { noteMutes, untilText, updateLock } from './access.js';
import { renderSidebar } from './rooms.js';
import { refreshCard } from './moderation.js';
import { resetBots, showBots } from './bots.js';

const dialog = $('room-dialog');
let opener = null;
// The room whose settings a Save is waiting for: its `room` frame says "Saved".
let saving;
// The room whose bans are listed (the dialog asks again after a ban or an unban).
let bansShown;
// Has the form been changed since it was filled? Then a `room` frame does
// not overwrite what you are typing.
let formTouched = false;

/** Our role in a room, from its settings and our uid (hello). */
export const myRole = (room) => roleOfUid(room?.settings, state.uid);

// --- the header -------------------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';

/** A drawn padlock (not a font's 🔒, which some systems draw in colour, some not at all). */
function lockIcon(label) {
  const svg = document.createElementNS(SVG, 'svg');
  for (const [k, v] of [['viewBox', '0 0 24 24'], ['width', '16'], ['height', '16'], ['role', 'img'], ['aria-label', label]]) svg.setAttribute(k, v);
  svg.classList.add('icon', 'room-lock');
  const title = document.createElementNS(SVG, 'title');
  title.textContent = label;
  const body = document.createElementNS(SVG, 'path');
  body.setAttribute('d', 'M5 11h14v10H5zM8 11V8a4 4 0 0 1 8 0v3');
  body.setAttribute('fill', 'none');
  body.setAttribute('stroke', 'currentColor');
  body.setAttribute('stroke-width', '2');
  svg.append(title, body);
  return svg;
}

/** The room on screen's name, marks and topic in the top bar. */
export function updateHeader() {
  const room = current();
  if (!room) return;
  $('room-name').textContent = roomLabel(room);
  const settings = room.settings;
  const marks = [];
  if (settings?.access === 'invite') marks.push(lockIcon('Private: invite only'));
  if (settings?.access === 'password') marks.push(lockIcon('Private: needs a password'));
  if (settings?.visibility === 'public') {
    const mark = document.createElement('span');
    mark.className = 'room-public';
    mark.textContent = 'public';
    mark.title = 'Listed in the public directory';
    marks.push(mark);
  }
  $('room-marks').replaceChildren(...marks);
  const topic = $('room-topic');
  topic.textContent = settings?.topic ?? '';
  topic.title = settings?.topic ?? '';
  topic.hidden = !settings?.topic;
}

// --- the settings as the server sends them ------------------------------------------

/** `joined.settings` or a `room` frame: remember, show, and prove a kept owner key. */
export function applySettings(roomName, settings) {
  if (!settings || !state.has(roomName)) return;
  const room = state.room(roomName);
  room.settings = settings;
  noteMutes(room, settings);
  if (isCurrent(roomName)) {
    updateHeader();
    updateLock();
  }
  renderSidebar();
  refreshCard();
  if (dialog.open && dialogRoom() === room) {
    fill(room);
    if (!formTouched) fillForm(room);
  }
  proveOwnership(room);
}

/** A `room` frame: the settings changed, or a request of ours was done. */
export function handleRoomFrame(frame) {
  answered(frame.room);
  authAnswered(frame.room);
  applySettings(frame.room, frame.settings);
  if (saving === roomKey(frame.room)) {
    saving = undefined;
    $('room-form-done').textContent = 'Saved.';
    $('room-new-password').value = '';
    fillForm(state.room(frame.room));
  }
}

// --- the dialog ---------------------------------------------------------------------

/** The room the dialog is about: the one on screen when it opened. */
let shownKey;
export const dialogRoom = () => (shownKey ? state.rooms.get(shownKey) : undefined);

const ACCESS_WORDS = {
  open: 'anyone who knows its name',
  invite: 'only people with an invite link (and its members)',
  password: 'anyone with its password (and its members)',
  dm: 'only the two people of this conversation',
};

function fact(term, value) {
  const dt = document.createElement('dt');
  dt.textContent = term;
  const dd = document.createElement('dd');
  dd.textContent = value;
  dd.dir = 'auto';
  return [dt, dd];
}

/** A small text button in a row of a list. */
function rowButton(text, label, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'link-button';
  button.textContent = text;
  button.setAttribute('aria-label', label);
  button.addEventListener('click', onClick);
  return button;
}

function row(text, ...buttons) {
  const li = document.createElement('li');
  const span = document.createElement('span');
  span.textContent = text;
  span.dir = 'auto';
  li.append(span, ...buttons);
  return li;
}

/** Fill the dialog for `room`, as its settings and our role say. */
function fill(room) {
  const settings = room.settings ?? {};
  const role = myRole(room);
  const dm = settings.dm === true || room.dm !== undefined;
  $('room-dialog-title').textContent = dm ? `Direct message ${roomLabel(room)}` : `Room ${roomLabel(room)}`;

  const facts = [];
  if (dm) {
    facts.push(fact('With', room.dm?.with ?? 'someone'), fact('Who can read it', ACCESS_WORDS.dm));
  } else {
    facts.push(fact('Owner', settings.owned ? (settings.owner ?? 'someone') : 'nobody yet'));
    const mods = (settings.roles ?? []).filter((r) => r.role === 'moderator').map((r) => r.user);
    if (mods.length) facts.push(fact('Moderators', mods.join(', ')));
    facts.push(fact('Your role', ROLE_WORDS[role]));
    facts.push(fact('Topic', settings.topic || 'none'));
    facts.push(fact('Who may come in', ACCESS_WORDS[settings.access] ?? ACCESS_WORDS.open));
    facts.push(fact('Directory', settings.visibility === 'public' ? 'listed (public)' : 'not listed'));
    if (settings.locked) facts.push(fact('Locked', 'yes: no new members for now'));
    if (settings.owned && settings.lapses_ts) {
      facts.push(fact('The claim lapses', `${new Date(settings.lapses_ts).toLocaleDateString(undefined, { dateStyle: 'medium' })}, unless an owner comes back before`));
    }
  }
  $('room-facts').replaceChildren(...facts.flat());

  $('room-claim').hidden = dm || settings.owned !== false;
  // The owner link: for an owner whose browser keeps the key, and right
  // after a claim (handleClaimed fills the field; it stays until closed).
  const link = role === 'owner' && !dm ? ownerLink(room.name) : undefined;
  if (link) $('room-owner-link-field').value = link;
  $('room-owner-link').hidden = $('room-owner-link-field').value === '';

  const mod = moderates(role) && !dm;
  $('room-form').hidden = !mod;
  $('room-owner-fields').hidden = role !== 'owner';
  $('room-invites').hidden = !mod;
  $('room-bans').hidden = !mod;
  showBots(room, role === 'owner' && !dm);
  if (!mod) return;

  $('invite-list').replaceChildren(...(settings.invites ?? []).map((invite) => {
    const uses = invite.max_uses ? `${invite.uses} of ${invite.max_uses} uses` : `used ${invite.uses} times`;
    const text = `by ${invite.by}, ${uses}, expires ${untilText(invite.expires_ts)}`;
    return row(text, rowButton('Revoke', `Revoke the invite link made by ${invite.by} (${uses})`, () => {
      ask({ type: 'revoke_invite', room: room.name, id: invite.id }, (why) => { $('invite-error').textContent = why; });
    }));
  }));
  $('mute-list').replaceChildren(...(settings.muted ?? []).map((m) => row(`${m.user}: muted until ${untilText(m.until_ts)}`,
    rowButton('Unmute', `Unmute ${m.user}`, () => {
      ask({ type: 'unmute', room: room.name, uid: m.uid }, (why) => { $('bans-error').textContent = why; });
    }))));
}

/** The form's fields from the settings (on opening, and after a save). */
function fillForm(room) {
  formTouched = false;
  const settings = room.settings ?? {};
  $('room-topic-input').value = settings.topic ?? '';
  $('room-public').checked = settings.visibility === 'public';
  $('room-access').value = ['open', 'invite', 'password'].includes(settings.access) ? settings.access : 'open';
  $('room-locked').checked = settings.locked === true;
  $('room-password-field').hidden = $('room-access').value !== 'password';
  $('room-password-note').hidden = settings.access !== 'password';
}

export function openRoomDialog(from) {
  const room = current();
  if (!room) return;
  opener = from ?? null;
  shownKey = roomKey(room.name);
  for (const id of ['room-claim-error', 'room-form-error', 'room-form-done', 'invite-error', 'bans-error']) $(id).textContent = '';
  $('room-owner-link-field').value = '';
  $('invite-new').hidden = true;
  $('invite-new-note').hidden = true;
  $('ban-list').replaceChildren();
  bansShown = undefined;
  resetBots();
  fill(room);
  fillForm(room);
  if (!dialog.open) dialog.showModal();
  $('room-dialog-close').focus();
}

/** Save: only the fields that changed are sent (the server changes only those). */
function save(event) {
  event.preventDefault();
  const room = dialogRoom();
  if (!room) return;
  const settings = room.settings ?? {};
  const error = $('room-form-error');
  error.textContent = '';
  $('room-form-done').textContent = '';
  const frame = { type: 'set_room', room: room.name };
  const topic = $('room-topic-input').value.trim();
  if (topic !== (settings.topic ?? '')) frame.topic = topic;
  if (myRole(room) === 'owner') {
    const visibility = $('room-public').checked ? 'public' : 'unlisted';
    if (visibility !== settings.visibility) frame.visibility = visibility;
    const access = $('room-access').value;
    const password = $('room-new-password').value;
    if (access !== settings.access) frame.access = access;
    if (access === 'password' && (password !== '' || settings.access !== 'password')) {
      const length = [...password].length;
      if (length < 4 || length > 128) {
        error.textContent = 'A room password has 4 to 128 characters.';
        $('room-new-password').focus();
        return;
      }
      frame.password = password;
    }
    const locked = $('room-locked').checked;
    if (locked !== (settings.locked === true)) frame.locked = locked;
  }
  if (Object.keys(frame).length === 2) {
    $('room-form-done').textContent = 'Nothing changed.';
    return;
  }
  if (ask(frame, (why) => { saving = undefined; error.textContent = why; })) saving = roomKey(room.name);
}

/**
 * Copy a read-only field's text (bots.js too); where the clipboard is
 * refused, select it for Ctrl+C. `said` is what screen readers hear.
 */
export async function copyField(field, button, said = 'Link copied') {
  try {
    if (!navigator.clipboard) throw new Error('no clipboard here');
    await navigator.clipboard.writeText(field.value);
    button.textContent = 'Copied ✓';
    $('live-status').textContent = said;
  } catch {
    field.focus();
    field.select();
    button.textContent = 'Press Ctrl+C to copy';
  }
  setTimeout(() => { button.textContent = 'Copy'; }, 2500);
}

/** `claimed`: the room is ours. The owner link shows, with the focus on it. */
export function handleClaimed(frame) {
  answered(frame.room);
  noteClaimed(frame);
  if (!dialog.open || dialogRoom() !== state.room(frame.room)) return;
  $('room-owner-link-field').value = ownerLink(frame.room, frame.owner_key);
  $('room-owner-link').hidden = false;
  $('room-claim').hidden = true;
  $('room-owner-link').focus();
}

/** `invite_created`: the new link, which only its creator ever sees. */
export function handleInviteCreated(frame) {
  answered(frame.room);
  if (!dialog.open || dialogRoom() !== state.room(frame.room)) return;
  $('invite-new-field').value = `${location.origin}${frame.url}`;
  $('invite-new').hidden = false;
  $('invite-new-note').hidden = false;
  $('invite-new-field').focus();
  $('invite-new-field').select();
}

/** `bans`: the room's bans, each with Unban. */
export function handleBans(frame) {
  answered(frame.room);
  if (!dialog.open || dialogRoom() !== state.room(frame.room)) return;
  bansShown = roomKey(frame.room);
  const bans = frame.bans ?? [];
  const items = bans.map((ban) => {
    const until = ban.until_ts ? `until ${untilText(ban.until_ts)}` : 'until lifted';
    const why = ban.reason ? ` (${ban.reason})` : '';
    const address = ban.ip ? ', and their address' : '';
    return row(`${ban.user}${address}: ${until}, by ${ban.by}${why}`, rowButton('Unban', `Unban ${ban.user}`, () => {
      ask({ type: 'unban', room: frame.room, uid: ban.uid }, (text) => { $('bans-error').textContent = text; });
    }));
  });
  if (items.length === 0) items.push(row('Nobody is banned.'));
  $('ban-list').replaceChildren(...items);
}

/** A ban or an unban notice: a bans list on screen is asked for again. */
export function noteModeration(frame) {
  if ((frame.event === 'ban' || frame.event === 'unban') && dialog.open && bansShown === roomKey(frame.room)) {
    ask({ type: 'bans', room: frame.room }, (text) => { $('bans-error').textContent = text; });
  }
}

export function wireRoomSettings() {
  $('room-open').addEventListener('click', (event) => openRoomDialog(event.currentTarget));
  $('room-name-button').addEventListener('click', (event) => openRoomDialog(event.currentTarget));
  $('room-dialog-close').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    shownKey = undefined;
    opener?.focus();
    opener = null;
  });
  $('room-claim-button').addEventListener('click', () => {
    const room = dialogRoom();
    $('room-claim-error').textContent = '';
    if (room) ask({ type: 'claim', room: room.name }, (why) => { $('room-claim-error').textContent = why; });
  });
  $('room-owner-link-copy').addEventListener('click', (event) => copyField($('room-owner-link-field'), event.currentTarget));
  $('invite-new-copy').addEventListener('click', (event) => copyField($('invite-new-field'), event.currentTarget));
  $('room-form').addEventListener('submit', save);
  $('room-form').addEventListener('input', () => { formTouched = true; });
  $('room-access').addEventListener('change', () => {
    $('room-password-field').hidden = $('room-access').value !== 'password';
  });
  $('invite-create').addEventListener('click', () => {
    const room = dialogRoom();
    $('invite-error').textContent = '';
    if (room) {
      ask({ type: 'invite', room: room.name, max_age_s: Number($('invite-age').value), max_uses: Number($('invite-uses').value) },
        (why) => { $('invite-error').textContent = why; });
    }
  });
  $('bans-load').addEventListener('click', () => {
    const room = dialogRoom();
    $('bans-error').textContent = '';
    if (room) ask({ type: 'bans', room: room.name }, (why) => { $('bans-error').textContent = why; });
  });
}

