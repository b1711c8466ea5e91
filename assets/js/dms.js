// dms.js — direct messages: a conversation between two people, in a room
// the server makes for them ("dm:<uid>:<uid>", which only they can join).
// The page shows it as "@bob" under "Direct messages" in the sidebar, joins
// it like any room (history, resume, unread counts), and every message in
// it notifies like a mention (unread.js).
//
// They come from `hello.dms` (this identity's most recent ones) and from a
// live `dm` frame when one is opened, by us (the card's "Message" button,
// which then switches to it) or by the other person.

import { roomKey } from './state.js';
import { isCurrent, state } from './page.js';
import { addRoom, renderSidebar, switchRoom } from './rooms.js';
import { answered, ask } from './requests.js';
import { sameName } from './render.js';
import { updateHeader } from './room-settings.js';

// A connection may be in 32 rooms at once (hello.limits.max_rooms): the
// most recent DMs are joined at once, so their unread counts show; older
// ones are listed and joined when you open them.
const JOINED_AT_ONCE = 10;

const known = new Map(); // roomKey -> { room, with, with_uid }, most recent first

/** What the page knows of a DM room ({ with, with_uid }), or undefined. */
export function dmInfo(name) {
  const info = known.get(roomKey(name));
  return info ? { with: info.with, with_uid: info.with_uid } : undefined;
}

/** Is this room a direct message? */
export const isDmRoom = (room) => Boolean(room.dm || room.settings?.dm || known.has(roomKey(room.name)));

/** Known DMs that are not in the sidebar's rooms yet (listed, joined on opening). */
export const unopenedDms = () => [...known.values()].filter((info) => !state.has(info.room));

function remember(info) {
  if (!info?.room) return;
  known.set(roomKey(info.room), { room: info.room, with: info.with, with_uid: info.with_uid });
  if (state.has(info.room)) state.room(info.room).dm = dmInfo(info.room);
}

/** Put a DM in the sidebar and join it; `show` switches to it. */
function openDm(name, { show = false } = {}) {
  if (show) switchRoom(name);
  else addRoom(name);
  state.room(name).dm = dmInfo(name);
}

/** `hello.dms`: list them all, join the most recent ones. */
export function noteHelloDms(dms) {
  if (!Array.isArray(dms)) return;
  dms.forEach((info, index) => {
    remember(info);
    if (index < JOINED_AT_ONCE && !state.has(info.room)) openDm(info.room);
  });
  renderSidebar();
  updateHeader();
}

// The DM we asked for from a card: its `dm` frame switches to it.
let asked;

/** The card's "Message": ask the server for the DM (it exists at once, or already did). */
export function askForDm(room, person, refused, done) {
  const frame = { type: 'dm' };
  if (room.members.some((m) => sameName(m, person.name))) Object.assign(frame, { room: room.name, user: person.name });
  else if (person.uid) frame.uid = person.uid;
  else Object.assign(frame, { room: room.name, user: person.name });
  asked = { name: person.name, uid: person.uid, from: frame.room, done };
  if (!ask(frame, (why) => { asked = undefined; refused(why); })) asked = undefined;
}

/** A `dm` frame: one opened, by us or with us. Ours is shown at once. */
export function handleDm(frame) {
  remember(frame);
  const ours = asked && (frame.with_uid === asked.uid || sameName(frame.with, asked.name));
  if (ours) {
    const { done, from } = asked;
    asked = undefined;
    answered(from);
    openDm(frame.room, { show: true });
    done?.();
  } else {
    openDm(frame.room);
  }
  renderSidebar();
  if (isCurrent(frame.room)) updateHeader();
}
