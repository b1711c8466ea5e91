// messages.js — what the server posts goes into a room's list: messages
// (our own coming back in place of their pending copies), system lines, the
// member list and the "is typing…" line.

import * as render from './render.js';
import { $, current, listFor, socket, state } from './page.js';
import { forgetRead } from './divider.js';
import { updateMembersButton } from './drawer.js';

/**
 * Show a posted message unless its id is already on screen. Returns
 * 'echo' (it replaced one of our pending messages), 'new', or 'seen'
 * (a duplicate, nothing shown).
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

  if (!state.addMessage(msg)) return 'seen'; // e.g. history overlapping what we have
  render.insertMessage(list, render.messageElement(msg, state.me));
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
  render.renderMembers($('members-list'), members, state.me);
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
