// owner.js — proving that you own a room, and the secrets a link brings.
//
// A claim (`claim`) is answered with an owner key (`claimed.owner_key`),
// shown once. The page keeps it in localStorage under the room's key, and
// offers it as an owner link, /r/<room>#owner=<key>: the part after "#"
// (the fragment) never leaves the browser, so the key is in no server log
// and no proxy's. Opening that link in another browser keeps the key
// there too, takes the fragment out of the address bar at once, and the
// page proves the key (`auth`) after the room's `joined` whenever the
// server does not already count us as an owner: on a new browser, after a
// reload, after the claim lapsed and the room was claimed again (then the
// server says bad_key, and the key is forgotten).
//
// An invite link, /r/<room>?invite=<code>, brings a code the page sends
// once, with the room's join (access.js keeps it until the join is let in);
// the query goes from the address too.

import { roomKey } from './state.js';
import { page, roomPath, showNotice, socket, state } from './page.js';
import { roleOfUid } from './roles.js';
import { setJoinSecret } from './access.js';

const storeKey = (room) => `natter.owner-key.${roomKey(room)}`;

/** The owner key this browser keeps for `room`, if any. */
export function ownerKey(room) {
  try {
    return localStorage.getItem(storeKey(room)) ?? undefined;
  } catch {
    return undefined; // storage blocked: the key lives only in the link
  }
}

function keepOwnerKey(room, key) {
  try {
    localStorage.setItem(storeKey(room), key);
  } catch {
    // Storage blocked or full: the owner link is shown all the same.
  }
}

function forgetOwnerKey(room) {
  try {
    localStorage.removeItem(storeKey(room));
  } catch {
    // nothing kept, nothing to forget
  }
}

/** The owner link for `room` (with the key this browser keeps). */
export function ownerLink(room, key = ownerKey(room)) {
  return key ? `${location.origin}${roomPath(room)}#owner=${encodeURIComponent(key)}` : undefined;
}

/**
 * Before the first rooms are opened (rooms.js, openFirstRooms): take an
 * owner key from the address's fragment and an invite code from its query,
 * for the room in the address. rooms.js then replaces the address with the
 * bare /r/<room>, so neither stays in the address bar or the history.
 */
export function takeLinkSecrets() {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  const key = fragment.get('owner');
  if (key) keepOwnerKey(page.room, key);
  // An owner link opened without a session: the login page kept its key
  // (login.js), since the log-in's POST loses the fragment.
  try {
    const kept = JSON.parse(sessionStorage.getItem('natter.owner-link') ?? 'null');
    sessionStorage.removeItem('natter.owner-link');
    if (kept?.key && kept.room) keepOwnerKey(kept.room, kept.key);
  } catch {
    // Storage blocked or not ours: nothing kept.
  }
  const invite = new URLSearchParams(location.search).get('invite');
  if (invite) setJoinSecret(page.room, { invite });
}

// Rooms whose `auth` is on its way: a bad_key for them is about the kept key.
const authing = new Set();

/**
 * After every `joined` (and `room` frame): if this browser keeps a key for
 * the room and the server does not count us as its owner, prove it.
 */
export function proveOwnership(room) {
  const key = ownerKey(room.name);
  if (!key || room.settings?.dm) return;
  if (roleOfUid(room.settings, state.uid) === 'owner') return;
  const k = roomKey(room.name);
  if (authing.has(k)) return;
  if (socket.sendNow({ type: 'auth', room: room.name, key })) authing.add(k);
}

/** A `room` frame came: an `auth` of ours was let in (or is moot). */
export function authAnswered(roomName) {
  authing.delete(roomKey(roomName));
}

/**
 * A bad_key for a room whose kept key we just sent: the key is not the
 * room's (any more). Forget it, so every reload does not pay for a wrong
 * key again, and say so. Returns whether it was ours.
 */
export function authRefused(frame) {
  if (frame.code !== 'bad_key' || !frame.room || !authing.delete(roomKey(frame.room))) return false;
  forgetOwnerKey(frame.room);
  showNotice(`The owner key this browser kept for #${frame.room} is not right for it any more (the claim may have lapsed), so it was forgotten: ${frame.message || 'you are not its owner here.'}`);
  return true;
}

/** `claimed`: the room is ours. Keep the key; room-settings.js shows the link. */
export function noteClaimed(frame) {
  keepOwnerKey(frame.room, frame.owner_key);
}
