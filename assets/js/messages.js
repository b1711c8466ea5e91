// messages.js — what the server posts goes into a room's list: messages
// (our own coming back in place of their pending copies, and redrawn in
// place when they change: edited, deleted, reacted to), system lines, the
// member list and the "is typing…" line.

import * as render from './render.js';
import { $, current, limits, listFor, socket, state } from './page.js';
import { forgetRead } from './divider.js';
import { updateMembersButton } from './drawer.js';
import { editStatus, keepMenuOpen } from './actions.js';

/** What render.js needs to draw a message of `room` (see its View). */
export function viewFor(roomName) {
  return {
    me: state.me,
    uid: state.uid,
    verified: state.verified,
    lookup: (id) => state.message(roomName, id),
    excerptChars: limits.replyExcerptChars ?? 120,
    editStatus: (id) => editStatus(roomName, id),
  };
}

/** A posted message's <li>, drawn for its room. */
export const messageElement = (msg) => render.messageElement(msg, viewFor(msg.room));

/** The <li> of message `id` in the room's list, if it is shown. */
export function itemOf(roomName, id) {
  return listFor(roomName).querySelector(`:scope > li.message[data-id="${Number(id)}"]`);
}

/**
 * Message `id` changed (the state has its new version): draw it again, and
 * every reply preview in the room that quotes it.
 */
export function redrawMessage(roomName, id) {
  const msg = state.message(roomName, id);
  const old = itemOf(roomName, id);
  if (msg && old) {
    const li = messageElement(msg);
    render.replaceMessage(old, li);
    keepMenuOpen(li);
  }
  for (const preview of listFor(roomName).querySelectorAll(`.reply-preview[data-reply-to="${Number(id)}"]`)) {
    const reply = preview.closest('li.message');
    const quoting = reply?.dataset.id ? state.message(roomName, Number(reply.dataset.id)) : undefined;
    if (quoting) render.replaceMessage(reply, messageElement(quoting));
  }
}

/**
 * Show a posted message, or its newer state when its id is on screen
 * already (history after a reconnect, `joined.changes`). Returns 'echo' (it
 * replaced one of our pending messages), 'new', 'updated' (drawn again in
 * its new state) or 'seen' (nothing newer, nothing shown).
 */
export function showMessage(msg, fromHistory = false) {
  const list = listFor(msg.room);
  // Our own message coming back: swap the dimmed pending copy for the real one.
  // Every copy carries the sender's client_id; should a history message lack
  // it, we match by content instead (see state.findPendingLike). Only our
  // own name counts: a client_id is just a string anyone could send.
  let ownEcho = false;
  const clientId = msg.client_id ?? (fromHistory ? state.findPendingLike(msg) : undefined);
  if (clientId !== undefined && msg.user === state.me && state.removePending(clientId)) {
    const pending = list.querySelector(`[data-client-id="${CSS.escape(clientId)}"]`);
    if (pending) render.removeItem(pending);
    socket.forget(clientId); // it will not be re-sent after a reconnect
    ownEcho = true;
  }

  const result = state.upsertMessage(msg);
  if (result === 'seen') return 'seen'; // e.g. history overlapping what we have
  if (result === 'updated') {
    redrawMessage(msg.room, msg.id);
    return 'updated';
  }
  render.insertMessage(list, messageElement(msg));
  // Replies to it drawn before it was loaded now follow the page's copy.
  if (list.querySelector(`.reply-preview[data-reply-to="${Number(msg.id)}"]`)) redrawMessage(msg.room, msg.id);
  return ownEcho ? 'echo' : 'new';
}

/** Clear the room's posted messages (our pending ones stay). */
export function forgetRoomMessages(name) {
  state.forgetMessages(name);
  forgetRead(state.room(name)); // the ids begin again
  for (const li of listFor(name).querySelectorAll('li:not(.pending, .failed)')) li.remove();
}

export function showSystem(room, text, ts) {
  render.appendItem(listFor(room), render.systemElement(text, ts));
}

export function showMembers() {
  const members = current()?.members ?? [];
  render.renderMembers($('members-list'), members, state.me, {
    verified: current()?.verified ?? [],
    meVerified: state.verified,
  });
  $('members-count').textContent = String(members.length);
  updateMembersButton(members.length);
}

// --- "is typing…" --------------------------------------------------------------

/** How long "bob is typing…" shows after bob's last `typing` frame. */
export const TYPING_SHOWN_MS = 5000;
let typingTimer = null;

/** Redraw the typing line; re-check twice a second while anyone is typing. */
export function showTyping() {
  clearTimeout(typingTimer);
  const typingLine = $('typing');
  const names = current() ? state.typingUsers(current().name, Date.now()) : [];
  const text = render.typingText(names);
  // Only touch the DOM on a change, so the line does not flicker.
  if (typingLine.textContent !== text) typingLine.textContent = text;
  if (names.length > 0) typingTimer = setTimeout(showTyping, 500);
}
