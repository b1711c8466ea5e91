// access.js — when you cannot write in a room, and why: muted until a
// time, put out of it (kicked or banned: the server's `removed`), or not
// let in at the door (an invite, the password, a locked or a banning room).
//
// The composer says it in words over the box ("You are muted until
// 14:05"), and the box is disabled meanwhile: what you typed stays in it,
// and a message the server refused because of a mute waits in the outbox
// until the mute ends (composer.js). The room stays in the sidebar, marked,
// with what you can do about it: "Join again" after a kick from an open
// room, the password field for a password room, "Try again" for a locked
// room or once a ban is over.

import * as render from './render.js';
import { roomKey } from './state.js';
import { $, current, input, isCurrent, listFor, roomLabel, socket, state } from './page.js';
import { showMembers, showSystem } from './messages.js';
import { afterAdd } from './scroll.js';
import { renderSidebar } from './rooms.js';

/** "14:05" today, "3 Dec, 14:05" on another day: when a mute or a ban ends. */
export function untilText(ts) {
  const end = new Date(ts);
  if (end.toDateString() === new Date().toDateString()) return render.clockTime(ts);
  return end.toLocaleString(undefined, { day: 'numeric', month: 'short', hour: 'numeric', minute: '2-digit' });
}

/** Is the room's mute still on? */
export const isMutedHere = (room) => room?.mutedUntil !== undefined && room.mutedUntil > Date.now();

/** Something the next join of `room` must carry (an invite code, a password). */
export function setJoinSecret(room, extras) {
  socket.setJoinExtras(room, extras);
}

// --- the composer's lock --------------------------------------------------------

const lock = $('composer-lock');
const sendButton = document.querySelector('#composer button[type="submit"]');

/** Show (or hide) why the room on screen cannot be written in, and lock the box. */
export function updateLock() {
  const room = current();
  const shut = room?.shut;
  const muted = !shut && isMutedHere(room);
  const action = $('composer-lock-action');
  const passwordForm = $('room-password-form');
  let text = '';
  if (shut) text = shut.text;
  else if (muted) text = `You are muted in ${roomLabel(room)} until ${untilText(room.mutedUntil)}. What you write waits until then.`;
  if ($('composer-lock-text').textContent !== text) $('composer-lock-text').textContent = text;
  lock.hidden = text === '';
  lock.dataset.kind = shut ? shut.kind : muted ? 'muted' : '';
  passwordForm.hidden = !shut?.password;
  action.hidden = !shut?.action;
  action.textContent = shut?.action ?? '';
  const locked = Boolean(shut || muted);
  const hadFocus = document.activeElement === input;
  input.disabled = locked;
  sendButton.disabled = locked;
  // The attach and mic buttons too (uploads.js, voice.js): nothing to send them with.
  for (const tool of document.querySelectorAll('#composer .composer-tool')) tool.disabled = locked;
  if (!locked && (hadFocus || document.activeElement === document.body)) input.focus();
}

// A timer per muted room, to unlock the box when the mute ends.
const muteTimers = new Map();

/** We are muted in `room` until `until` (ms), or not at all (undefined). */
export function noteMuted(roomName, until) {
  if (!state.has(roomName)) return;
  const room = state.room(roomName);
  const key = roomKey(roomName);
  clearTimeout(muteTimers.get(key));
  muteTimers.delete(key);
  room.mutedUntil = Number.isFinite(until) && until > Date.now() ? until : undefined;
  if (room.mutedUntil !== undefined) {
    // setTimeout takes at most about 24.8 days; a mute is at most a day.
    muteTimers.set(key, setTimeout(() => noteMuted(roomName, undefined), Math.min(room.mutedUntil - Date.now() + 250, 2 ** 31 - 1)));
  }
  if (isCurrent(roomName)) updateLock();
}

/** A room's settings came (`joined`, `room`): its list of mutes says whether we are one. */
export function noteMutes(room, settings, mutedUntil) {
  const mine = (settings?.muted ?? []).find((m) => m.uid === state.uid);
  noteMuted(room.name, mutedUntil ?? mine?.until_ts);
}

// --- let in, put out, refused ---------------------------------------------------

/** `joined`: we are in, whatever kept us out before. */
export function noteJoined(room, frame) {
  room.shut = undefined;
  noteMutes(room, frame.settings, frame.muted_until);
  if (isCurrent(room.name)) updateLock();
}

/** Mark the room as one we are not in, with why, and stop joining it. */
function shutRoom(room, shut) {
  room.shut = shut;
  socket.park(room.name);
  listFor(room.name).dataset.joined = 'false';
  room.members = [];
  room.typing.clear();
  if (isCurrent(room.name)) {
    showMembers();
    updateLock();
  }
  renderSidebar();
}

/**
 * `removed`: a moderator kicked or banned us. The room stays in the
 * sidebar, marked, with the server's words; a kick from an open room
 * offers "Join again" (a ban shows when it ends).
 */
export function handleRemoved(frame) {
  const room = state.room(frame.room);
  // Our own words, from the frame's fields: "You were removed from #lobby
  // by alice (spam)". The server's `text` says it from the mover's side.
  const reason = frame.reason ? ` (${frame.reason})` : '';
  const verb = frame.event === 'ban' ? 'banned' : 'removed';
  let text = frame.by ? `You were ${verb} from ${roomLabel(room)} by ${frame.by}${reason}.` : (frame.text ?? `You were ${verb} from ${roomLabel(room)}.`);
  if (frame.event === 'ban') {
    text += frame.until_ts ? ` The ban ends at ${untilText(frame.until_ts)}.` : ' The ban lasts until a moderator lifts it.';
  }
  const open = (room.settings?.access ?? 'open') === 'open';
  showSystem(room.name, text);
  if (isCurrent(room.name)) afterAdd();
  shutRoom(room, {
    kind: 'removed',
    text,
    // A kick from an open room: come back when you like. A ban with an
    // end: try again once it is over (the server says if it is not).
    action: frame.event === 'kick' && open ? 'Join again' : frame.event === 'ban' && frame.until_ts ? 'Try again' : undefined,
  });
}

// The codes that answer a join at the door of a private room.
const DOOR_CODES = ['invite_required', 'bad_invite', 'bad_password', 'locked', 'banned'];

/**
 * A join of ours refused at the door. The room stays, marked, saying what
 * to do: ask for an invite, type the password (the field shows), try
 * again later. Returns whether it was one.
 */
export function accessRefused(frame) {
  if (!frame.room || frame.client_id || !DOOR_CODES.includes(frame.code)) return false;
  const name = state.has(frame.room) ? frame.room : socket.soleUnanswered();
  if (!name || !state.has(name) || socket.isJoined(name)) return false;
  const room = state.room(name);
  // A bad invite or password will not get better by being sent again.
  socket.clearJoinExtras(name);
  const label = roomLabel(room);
  let text;
  let action;
  if (frame.code === 'invite_required') text = `${label} is for invited people: ask a member for an invite link.`;
  else if (frame.code === 'bad_invite') text = `That invite link to ${label} does not work any more (expired, used up or revoked): ask a member for a new one.`;
  else if (frame.code === 'bad_password') {
    // The first refusal says the room needs it; after one we sent, it was wrong.
    text = room.shut?.password && room.shut.tried ? `That is not the password of ${label}: try again.` : `${label} needs its password to let you in.`;
  } else if (frame.code === 'locked') {
    text = `${label} is locked: it takes no new members for now.`;
    action = 'Try again';
  } else {
    text = frame.until_ts ? `You are banned from ${label} until ${untilText(frame.until_ts)}.` : `You are banned from ${label} until a moderator lifts it.`;
    action = 'Try again';
  }
  shutRoom(room, { kind: 'refused', code: frame.code, text, action, password: frame.code === 'bad_password' });
  if (frame.code === 'bad_password' && isCurrent(name)) $('room-password').focus();
  return true;
}

/** Knock again: "Join again", "Try again", or the password form. */
function joinAgain(extras) {
  const room = current();
  if (!room?.shut) return;
  if (extras) socket.setJoinExtras(room.name, extras);
  const tried = Boolean(extras?.password);
  room.shut = { ...room.shut, tried, text: 'Joining…', action: undefined };
  updateLock();
  socket.join(room.name);
}

export function wireAccess() {
  $('composer-lock-action').addEventListener('click', () => joinAgain());
  $('room-password-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const field = $('room-password');
    if (field.value === '') {
      field.focus();
      return;
    }
    const password = field.value;
    field.value = '';
    joinAgain({ password });
  });
}
