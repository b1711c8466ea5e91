// unread.js — what you have not seen yet: unread and mention counts per
// room, the number in the tab title and on the phone's menu button, the
// glue to notify.js (a notification and the sound while you are away) and
// to divider.js (the "New since you left" line).

import * as render from './render.js';
import { mentions } from './text.js';
import * as prefs from './prefs.js';
import * as notify from './notify.js';
import { roomKey } from './state.js';
import { $, current, isCurrent, roomLabel, scroller, state } from './page.js';
import { renderSidebar, switchRoom } from './rooms.js';
import { arrive, noteSeen } from './divider.js';

export const isMuted = (name) => prefs.isMuted(roomKey(name));

/**
 * Does this message mention you? Its `mentions` (the names its author took
 * from the suggestions; the server checked they are in the text) say so,
 * and so does an "@yourname" in its text, as text.js highlights it.
 */
export function mentionsMe(msg) {
  if (msg.deleted) return false;
  return (msg.mentions ?? []).some((name) => render.sameName(name, state.me)) || mentions(msg.text, state.me);
}

const isDirect = (room) => Boolean(room.dm || room.settings?.dm);

/** A notification's title says where: "bob in #lobby", "bob (direct message)". */
const whereOf = (room) => (isDirect(room) ? ' (direct message)' : ` in ${roomLabel(room)}`);

/** "(3) #lobby · natter": the number counts every room (see state.unreadTotal). */
export function updateTitle() {
  const total = state.unreadTotal(isMuted);
  const room = current();
  const name = room ? roomLabel(room) : 'natter';
  document.title = `${total > 0 ? `(${total}) ` : ''}${name} · natter`;
  // The phone's menu button carries the count too (its label says it).
  const badge = $('drawer-badge');
  badge.hidden = total === 0;
  badge.textContent = String(total);
  $('drawer-toggle').setAttribute('aria-label', `Rooms and members${total > 0 ? `, ${total} unread` : ''}`);
}

/**
 * You are looking at this room now: it has nothing unread, and the "New
 * since you left" line goes where you stopped reading (divider.js).
 */
export function markRead(room) {
  arrive(room);
  if (room.unread === 0 && room.mentions === 0) return;
  room.unread = 0;
  room.mentions = 0;
  renderSidebar();
  updateTitle();
}

/**
 * New messages from others arrived in `room`. Count them as unread unless
 * you are looking at them, and (for live ones) tell you if you are away:
 * a notification and the sound, unless the room is muted and the message
 * does not mention you.
 */
export function noteNewMessages(room, messages, { live }) {
  if (messages.length === 0) return;
  // In a direct message every message is for you: each counts (and
  // notifies, even when muted) like a mention.
  const mentioning = isDirect(room) ? messages : messages.filter(mentionsMe);
  const away = notify.inBackground();
  if (away || !isCurrent(room.name)) {
    room.unread += messages.length;
    room.mentions += mentioning.length;
    renderSidebar();
    updateTitle();
  } else {
    noteSeen(room);
  }
  if (!live || !away) return;
  const muted = isMuted(room.name);
  for (const msg of messages) {
    if (muted && !mentioning.includes(msg)) continue;
    notify.showNotification(msg, () => switchRoom(msg.room), whereOf(room));
    notify.playSound();
  }
}

/**
 * An edit added a mention of you to `msg` (its `new_mentions`): it counts
 * as a mention, and notifies while you are away, even in a muted room. An
 * edit that only keeps the mention you were told about tells you nothing.
 */
export function noteMention(room, msg) {
  const away = notify.inBackground();
  if (away || !isCurrent(room.name)) {
    room.unread += 1;
    room.mentions += 1;
    renderSidebar();
    updateTitle();
  }
  if (!away) return;
  notify.showNotification(msg, () => switchRoom(msg.room), whereOf(room));
  notify.playSound();
}

/**
 * Coming back to the tab reads the current room (and a tab left open
 * overnight learns that "Today" is now "Yesterday").
 */
export function wireUnread() {
  const onReturn = () => {
    if (!notify.inBackground() && current()) markRead(current());
    render.refreshDayLabels(scroller);
  };
  setInterval(() => render.refreshDayLabels(scroller), 60_000);
  document.addEventListener('visibilitychange', onReturn);
  window.addEventListener('focus', onReturn);
}
