// divider.js — "New since you left": where you stopped reading a room. When
// you come back to a room (from another room, from another tab, or on a
// later visit) a line sits before the first message from someone else that
// you had not seen yet. render.js draws the line; this file decides where.
//
// What "seen" means: a message was on screen in the room you were looking
// at, with the tab in front. For each room the page remembers the id of the
// newest message you have seen, in localStorage (keyed by your name and the
// room), so a reload or a visit tomorrow finds the place too.
//
// The rules, as a reader expects them:
// - The line is placed when you arrive, and does not move while you read:
//   new messages that come in while you look go below it.
// - Coming back with something new moves it to the first new message.
// - Switching away and back with nothing new takes it away (you have read
//   what was below it). Coming back to the tab with nothing new leaves it.
// - Your own messages never count as new: a line is only ever put above a
//   message from someone else.

import * as render from './render.js';
import * as notify from './notify.js';
import { roomKey } from './state.js';
import { isCurrent, listFor, scroller, state } from './page.js';

// --- what you have read, per room, in localStorage -------------------------------
//
// natter.read.<your name> holds [[roomKey, id], …], newest last, at most
// MAX_ROOMS of them. localStorage can throw (storage disabled, private mode,
// a full quota); then the page only remembers until it is closed.

const PREFIX = 'natter.read.';
const MAX_ROOMS = 200;
let memory = null; // the marks, once localStorage has failed us

function loadMarks() {
  if (memory) return new Map(memory);
  try {
    const raw = localStorage.getItem(PREFIX + state.me);
    const entries = raw === null ? [] : JSON.parse(raw);
    return new Map(Array.isArray(entries) ? entries.filter((e) => Array.isArray(e) && Number.isSafeInteger(e[1])) : []);
  } catch {
    return new Map();
  }
}

function saveMarks(marks) {
  const entries = [...marks].slice(-MAX_ROOMS);
  if (memory) {
    memory = new Map(entries);
    return;
  }
  try {
    localStorage.setItem(PREFIX + state.me, JSON.stringify(entries));
  } catch {
    memory = new Map(entries); // from now on this page remembers by itself
  }
}

/** The newest message id you have seen in `room` (undefined: never been here). */
function readUpTo(room) {
  return loadMarks().get(roomKey(room.name));
}

function setReadUpTo(room, id) {
  const marks = loadMarks();
  const key = roomKey(room.name);
  if (marks.get(key) === id) return;
  marks.delete(key); // re-inserted at the end: the newest entries are kept
  marks.set(key, id);
  saveMarks(marks);
}

/** You have seen everything in `room` up to its newest message. */
export function noteRead(room) {
  if (room.lastId !== undefined) setReadUpTo(room, room.lastId);
}

/**
 * The server restarted and the room's ids begin again at 1: the old mark
 * would hide every new message, so it becomes "before everything".
 */
export function forgetRead(room) {
  if (readUpTo(room) !== undefined) setReadUpTo(room, 0);
}

// --- arriving in a room ----------------------------------------------------------------

let lastArrival; // the key of the room you last arrived in
// The lists whose first history has been shown. A room you leave and join
// again gets a new list, so coming back to it is a return visit too.
const loaded = new WeakSet();

const lookingAt = (room) => isCurrent(room.name) && !notify.inBackground();

/** The first message after `since` that someone else wrote. */
function firstUnread(list, since) {
  for (const li of list.querySelectorAll(':scope > li.message[data-id]')) {
    if (Number(li.dataset.id) > since && li.dataset.user !== state.me) return li;
  }
  return null;
}

/**
 * Many new messages push the line above the top of the list's window when
 * the room opens at the bottom: then scroll up so it is in sight, with the
 * first new message under it.
 */
function reveal(divider) {
  const top = scroller.getBoundingClientRect().top;
  const box = divider.getBoundingClientRect();
  if (box.height === 0 || box.top >= top) return;
  scroller.scrollTop += box.top - top - 8;
  // The browser reports the scroll at its next frame; scroll.js must know
  // now that you are no longer at the bottom, or a message arriving before
  // then would pull the list down again, past the line.
  scroller.dispatchEvent(new Event('scroll'));
}

/**
 * You are looking at `room` now: you switched to it, or came back to the
 * tab (unread.js's markRead calls this). Place, move or drop the line, then
 * count everything in the room as seen.
 */
export function arrive(room) {
  const key = roomKey(room.name);
  const returning = lastArrival === key;
  lastArrival = key;
  const list = listFor(room.name);
  const since = readUpTo(room);
  const first = since === undefined ? null : firstUnread(list, since);
  if (first) reveal(render.showDivider(list, first));
  else if (!returning) render.removeDivider(list);
  noteRead(room);
}

/**
 * A `joined` brought the room's history (rooms.js calls this after showing
 * it). The first one on this page is a return visit if you have been here
 * before: place the line where you stopped last time. Later ones (after a
 * reconnect) are messages you see arrive, if you are looking.
 */
export function afterBacklog(room) {
  const list = listFor(room.name);
  const first = !loaded.has(list);
  loaded.add(list);
  if (!lookingAt(room)) return;
  if (first) {
    lastArrival = undefined;
    arrive(room);
  } else {
    noteRead(room);
  }
}

/** New messages came while you look at `room` (unread.js): you have seen them. */
export function noteSeen(room) {
  if (lookingAt(room)) noteRead(room);
}
