// scroll.js — where you are in a room's list: following new messages only
// while you are at the bottom, the "N new messages" pill, each room's place
// when you switch away and back, and scroll-back (older messages load when
// you reach the top, or page after page until a message a reply quotes is
// there: seekMessage).

import * as render from './render.js';
import { $, current, input, isCurrent, listFor, roomLabel, scroller, socket, state } from './page.js';
import { messageElement, showMessage } from './messages.js';
import { roomKey } from './state.js';

// True while the reader is looking at the newest message. We keep it in a
// variable (updated on every scroll) instead of measuring when a message
// arrives, because by then the new message has already changed the height.
let stickToBottom = true;
let unseen = 0;
const reduceMotion = window.matchMedia('(prefers-reduced-motion: reduce)');
const pill = $('new-pill');

function isAtBottom() {
  // A few pixels of slack: zoom and fractional pixels rarely land exactly on 0.
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 32;
}

export function scrollToBottom(smooth = false) {
  scroller.scrollTo({
    top: scroller.scrollHeight,
    behavior: smooth && !reduceMotion.matches ? 'smooth' : 'auto',
  });
  stickToBottom = true;
  unseen = 0;
  updatePill();
}

function updatePill() {
  pill.hidden = unseen === 0;
  $('new-pill-text').textContent = unseen === 1 ? '1 new message' : `${unseen} new messages`;
}

/**
 * Call after adding to the *current* room's list. `fresh` is how many of
 * the added items are new messages from others (the pill counts those).
 */
export function afterAdd({ fresh = 0, forceScroll = false } = {}) {
  if (stickToBottom || forceScroll) {
    scrollToBottom();
  } else if (fresh > 0) {
    unseen += fresh;
    updatePill();
  }
}

/** You switch away from `room`: remember where you were in its list. */
export function rememberPlace(room) {
  room.scrollTop = scroller.scrollTop;
  room.atBottom = stickToBottom;
  room.unseenBelow = unseen;
}

/** `room` is on screen again: back to where you were (or to the bottom). */
export function restorePlace(room) {
  if (room.atBottom) {
    scrollToBottom();
  } else {
    scroller.scrollTop = room.scrollTop;
    stickToBottom = false;
    unseen = room.unseenBelow;
    updatePill();
  }
}

export function wireScroll() {
  scroller.addEventListener('scroll', () => {
    stickToBottom = isAtBottom();
    if (stickToBottom && unseen > 0) {
      unseen = 0;
      updatePill();
    }
    maybeLoadOlder();
  });

  pill.addEventListener('click', () => {
    scrollToBottom(true);
    input.focus();
  });

  // The list's box changes size when the phone keyboard opens or the composer
  // grows. If we were at the bottom, stay there.
  new ResizeObserver(() => {
    if (stickToBottom) scroller.scrollTop = scroller.scrollHeight;
  }).observe(scroller);
}

// ================================================================================
// Scroll-back: older messages load when you reach the top of the list
// ================================================================================

// Ask a little before the very top, so a steady scroll up rarely has to stop.
const LOAD_OLDER_WITHIN_PX = 200;
// Messages per `history` request (the server caps it at 100).
const HISTORY_PAGE = 50;

/**
 * Ask for the page of messages before the oldest one shown, if the current
 * room's list is scrolled (near) to the top. A list too short to scroll is
 * at the top too, so a small room asks until it is full or the beginning
 * shows. At most one request per room is on its way (room.loadingOlder),
 * and after `more: false` the room never asks again.
 */
export function maybeLoadOlder() {
  const room = current();
  if (!room || room.loadingOlder || room.reachedStart || !room.joined) return;
  if (scroller.scrollTop > LOAD_OLDER_WITHIN_PX) return;
  if (!socket.requestHistory(room.name, room.firstId, HISTORY_PAGE)) return;
  room.loadingOlder = true;
  updateHistoryIndicator();
}

/** "Loading older messages…" floats over the top of the list while the current room waits. */
export function updateHistoryIndicator() {
  $('history-loading').hidden = !current()?.loadingOlder;
}

/**
 * The item to hold still while older messages go in above it: the first
 * one wholly on screen, after the list's first message. The first message
 * itself may change height (it can lose its name, grouped under a new
 * message above it) and the day separator before it may go; everything
 * after it only moves down by the height of what was added.
 */
function scrollAnchor(list) {
  const edge = scroller.getBoundingClientRect().top;
  const first = list.querySelector('li.message[data-id]');
  let afterFirst = false;
  let fallback = null;
  for (const item of list.children) {
    const box = item.getBoundingClientRect();
    if (afterFirst && box.top >= edge) return item;
    if (item === first) afterFirst = true;
    if (!fallback && box.bottom > edge) fallback = item;
  }
  return fallback;
}

/**
 * Run `change` (which adds items above what you are reading) without moving
 * what you are reading: measure one item before and after, and scroll by the
 * difference. A hidden list (another room) has no layout to measure.
 */
function keepScrollPosition(list, change) {
  const anchor = list.hidden ? null : scrollAnchor(list);
  const before = anchor?.getBoundingClientRect().top;
  change();
  if (anchor?.isConnected) scroller.scrollTop += anchor.getBoundingClientRect().top - before;
}

/** The answer to a `history` request: older messages, oldest first, and `more`. */
export function handleHistory(frame) {
  const room = state.room(frame.room);
  room.loadingOlder = false;
  const list = listFor(room.name);
  const firstId = room.firstId;
  const older = [];
  const others = [];
  for (const msg of frame.messages ?? []) {
    // Older than everything shown goes on top; anything else (a message
    // that arrived while the request was out) takes the normal path, which
    // puts it in id order. Both skip ids already shown.
    if (firstId === undefined || msg.id < firstId) older.push(msg);
    else others.push(msg);
  }
  const items = older.filter((msg) => state.addMessage(msg)).map(messageElement);

  scroller.setAttribute('aria-busy', 'true');
  keepScrollPosition(list, () => {
    render.prependMessages(list, items);
    for (const msg of others) showMessage(msg, true);
    if (frame.more === false && !room.reachedStart) {
      room.reachedStart = true;
      list.prepend(render.beginningElement(roomLabel(room)));
    }
  });
  scroller.setAttribute('aria-busy', 'false');
  updateHistoryIndicator();
  if (room.seeking) {
    continueSeek(room, items.length > 0);
    return;
  }
  // Still at the top (a short page, a tall window)? Ask for the next page.
  // Only after a page that brought something: a server answering "more" with
  // nothing must not make us ask in a loop.
  if (isCurrent(room.name) && items.length > 0) maybeLoadOlder();
}

// ================================================================================
// Paging back to one message (a reply's original that is not loaded yet)
// ================================================================================

// The most a `history` request may ask for: the fewest round trips.
const SEEK_PAGE = 100;

/**
 * Load older pages of `room` until message `id` is in its list, then call
 * `found()`; `missing()` if the beginning comes first (retention removed
 * it). One seek per room: a newer one replaces it.
 */
export function seekMessage(room, id, found, missing) {
  room.seeking = { id, found, missing };
  continueSeek(room, true);
}

function continueSeek(room, progress) {
  const seek = room.seeking;
  const loaded = listFor(room.name).querySelector(`:scope > li.message[data-id="${seek.id}"]`);
  if (loaded || room.reachedStart || !progress || (room.firstId !== undefined && room.firstId < seek.id)) {
    room.seeking = undefined;
    // Only while you are still in that room: a jump elsewhere would surprise.
    if (roomKey(room.name) !== state.current) return;
    if (loaded) seek.found();
    else seek.missing();
    return;
  }
  if (room.loadingOlder) return; // that page's answer continues the seek
  if (!socket.requestHistory(room.name, room.firstId, SEEK_PAGE)) {
    room.seeking = undefined;
    seek.missing();
    return;
  }
  room.loadingOlder = true;
  updateHistoryIndicator();
}

/**
 * An error about a room with a scroll-back request out and no client_id is
 * most likely the answer to that request (storage_failed when the server
 * could not read its history): no reply will follow, so we may ask again.
 */
export function historyRefused(frame) {
  if (frame.client_id || !frame.room || !state.has(frame.room)) return;
  const room = state.room(frame.room);
  if (!room.loadingOlder) return;
  room.loadingOlder = false;
  updateHistoryIndicator();
}
