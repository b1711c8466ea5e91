// requests.js — asking the server for something from a control (claim the
// room, save its settings, kick someone, list the directory) and showing
// a refusal next to that control.
//
// The server's error frames for these requests carry the room but not
// which request they answer, so the page remembers, per room, the last
// place that asked. An error for that room that no other part of the page
// claims (a join, a message, a change) is shown there. A success answer
// (frames.js calls answered()) forgets it. Requests without a room (the
// directory) use the key ''.

import { roomKey } from './state.js';
import { socket } from './page.js';

// An answer later than this is not about that control any more.
const WAIT_MS = 20_000;
const waiting = new Map(); // roomKey or '' -> { show(text), until }

const keyOf = (room) => (room ? roomKey(room) : '');

/**
 * Words for the refusals, saying what to do next. The server's own
 * `message` is shown when it sends one; these are for when it does not.
 */
const REFUSAL_WORDS = {
  not_owner: 'Only the room’s owner can do that.',
  forbidden: 'Your role in this room does not allow that (nobody can act on an equal or higher role).',
  already_owned: 'Someone owns this room already.',
  bad_key: 'That owner key is not right for this room (or the claim has lapsed).',
  invite_required: 'This room is for invited people: ask a member for an invite link.',
  bad_invite: 'That invite link has expired, been used up or revoked: ask a member for a new one.',
  bad_password: 'This room needs its password.',
  locked: 'This room is locked: it takes no new members for now.',
  banned: 'You are banned from this room.',
  muted: 'You are muted in this room.',
  limit_reached: 'That is over one of this server’s limits (rooms one may own, live invites, bans): remove one first.',
  rate_limited: 'Too fast: wait a moment and try again.',
  not_joined: 'You are not in this room right now.',
};

/** The words for a refusal: the server's message, or ours for its code. */
export const refusalText = (frame) => frame.message || REFUSAL_WORDS[frame.code] || `The server refused that (${frame.code}).`;

/**
 * Send `frame` now; a refusal goes to `show(text, errorFrame)` (the frame
 * for a control that words some codes its own way, or marks a field). Returns false (and
 * says so) when the connection is not open: nothing is queued, since a
 * moderation request sent minutes later could surprise everyone.
 */
export function ask(frame, show) {
  if (!socket.sendNow(frame)) {
    show('Not connected right now: try again when the page says “connected”.');
    return false;
  }
  waiting.set(keyOf(frame.room), { type: frame.type, show, until: Date.now() + WAIT_MS });
  return true;
}

/**
 * The server did what was asked in `room` (or in none: ''). With `type`,
 * only a request of that type was answered: an answer that comes on its
 * own (bots.js asks for a room's tokens when the dialog opens) does not
 * forget another control's request made meanwhile.
 */
export function answered(room, type) {
  const key = keyOf(room);
  if (type === undefined || waiting.get(key)?.type === type) waiting.delete(key);
}

/** An error for a room where a control asked last: shown there. Returns whether it was. */
export function requestRefused(frame) {
  const key = keyOf(frame.room);
  const entry = waiting.get(key);
  if (!entry) return false;
  waiting.delete(key);
  if (entry.until < Date.now()) return false;
  entry.show(refusalText(frame), frame);
  return true;
}
