// actions.js — what you can do to a message once it is posted: the menu
// on every message (its ⋯ button, or a long press on a touch screen) with
// Reply, React, Edit and Delete (the last two on your own messages only),
// the reaction chips under a message, a reply's preview that takes you to
// the original, and the server's change frames (`edit`, `delete`,
// `reactions`) that every page in the room receives, yours included.
//
// The rules it keeps:
//   * a change is applied only when its `seq` is newer than the message's
//     `rev` (state.applyChange): a change seen twice (a resend, a resume)
//     does nothing the second time;
//   * your edit shows at once ("saving edit…") and is confirmed by the
//     `edit` frame carrying its client_id. If the server could not store it
//     (storage_failed) the new text stays, marked "not saved — Retry"; the
//     retry sends the very same frame. Any other refusal (too late to edit,
//     deleted meanwhile) puts the old text back and says why;
//   * a delete asks first ("Delete this message? Yes / No") and waits for
//     the server: the message becomes "message deleted" on every page;
//   * a reaction is an explicit on or off (never a toggle, so a resend can
//     never undo it): a chip you have pressed sends off, any other sends on.
//
// The edit itself is typed in the composer (editing.js); the emoji picker
// is the composer's own (composer.js), lent for a moment.

import * as render from './render.js';
import { $, input, scroller, socket, state } from './page.js';
import { roomKey } from './state.js';
import { itemOf, redrawMessage } from './messages.js';
import { showToast } from './toast.js';
import { messageGone, startEdit, startReply, editWindow } from './editing.js';
import { openPickerFor } from './composer.js';
import { seekMessage } from './scroll.js';
import { noteMention } from './unread.js';
import { mayDeleteOthers } from './moderation.js';

// ================================================================================
// Your changes on their way to the server
// ================================================================================

// client_id -> { kind: 'edit' | 'delete' | 'react', room, id, frame,
//               before (edit: the message as it was), state ('saving' | 'unsaved') }
const sent = new Map();

/** Your edit of message `id` on its way (render.js shows it), or undefined. */
export function editStatus(roomName, id) {
  for (const [clientId, entry] of sent) {
    if (entry.kind === 'edit' && entry.id === id && roomKey(entry.room) === roomKey(roomName)) {
      return { state: entry.state, clientId };
    }
  }
  return undefined;
}

/**
 * Send a change frame now. They are not kept in the outbox: a change made
 * while the connection is down would land on a message that may have
 * changed meanwhile, so the page says so and you can do it again.
 */
function sendChange(kind, msg, fields, extra = {}) {
  if (!socket.isJoined(msg.room)) {
    showToast('Not connected: that did not go out. Try again when the connection is back.');
    return undefined;
  }
  const clientId = state.newClientId();
  const frame = { type: kind, room: msg.room, id: msg.id, ...fields, client_id: clientId };
  sent.set(clientId, { kind, room: msg.room, id: msg.id, frame, state: 'saving', ...extra });
  socket.sendNow(frame);
  return clientId;
}

/** Save an edit of `msg` (from the composer): shown at once, confirmed by the server's `edit`. */
export function sendEdit(msg, text, mentions) {
  const before = msg;
  if (!sendChange('edit', msg, { text, mentions }, { before })) return false;
  // Optimistic: the new text now, with the rev unchanged, so that the
  // server's own `edit` (a newer seq) still applies.
  const room = state.room(msg.room);
  room.messages.set(msg.id, { ...msg, text, mentions });
  redrawMessage(msg.room, msg.id);
  return true;
}

/** Try an edit the server could not save again: the same frame, the same client_id. */
function retryEdit(clientId) {
  const entry = sent.get(clientId);
  if (!entry) return;
  if (!socket.isJoined(entry.room)) {
    showToast('Not connected yet: the edit will be retried when you press Retry again.');
    return;
  }
  entry.state = 'saving';
  socket.sendNow(entry.frame);
  redrawMessage(entry.room, entry.id);
}

/**
 * A fresh connection joined `room`: what was on its way when the last one
 * dropped may or may not have arrived, so send it again. Every change is
 * safe to repeat: the server answers an edit to the current text, a delete
 * of a tombstone or a reaction already there with the current state.
 */
export function resendChanges(roomName) {
  for (const entry of sent.values()) {
    if (roomKey(entry.room) === roomKey(roomName) && entry.state === 'saving') socket.sendNow(entry.frame);
  }
}

/**
 * An error naming one of our changes. Returns true when it was one (then
 * the page shows nothing else for it).
 */
export function changeRefused(frame) {
  const entry = frame.client_id ? sent.get(frame.client_id) : undefined;
  if (!entry) return false;
  const reason = frame.message || REFUSALS[frame.code] || `The server refused that (${frame.code}).`;
  if (entry.kind === 'edit' && frame.code === 'storage_failed') {
    // Nobody saw it; it is still yours to save. The text stays, marked.
    entry.state = 'unsaved';
    redrawMessage(entry.room, entry.id);
    return true;
  }
  sent.delete(frame.client_id);
  if (entry.kind === 'edit') {
    // Back to the text everyone else sees, unless something newer came meanwhile.
    const now = state.message(entry.room, entry.id);
    if (now && (now.rev ?? now.id) === (entry.before.rev ?? entry.before.id)) {
      state.room(entry.room).messages.set(entry.id, entry.before);
    }
    redrawMessage(entry.room, entry.id);
    showToast(`Not edited: ${reason}`);
  } else if (entry.kind === 'delete') {
    showToast(`Not deleted: ${reason}`);
  } else {
    showToast(`No reaction: ${reason}`);
  }
  return true;
}

// Words for the refusals whose server message may be missing.
const REFUSALS = {
  edit_window: 'it is too late to edit that message.',
  not_author: 'only its author can change a message.',
  deleted: 'that message was deleted.',
  not_found: 'that message is no longer there.',
  bad_emoji: 'that is not an emoji the server takes.',
  too_many_reactions: 'that message has as many different reactions as it can take.',
  storage_failed: 'the server could not save it; try again in a moment.',
  rate_limited: 'too fast, wait a moment.',
};

// ================================================================================
// The server's change frames
// ================================================================================

/** `edit`: the message's new text (and mentions) from its author. */
export function handleEdit(frame) {
  const mine = frame.client_id ? sent.get(frame.client_id) : undefined;
  if (mine?.kind === 'edit') sent.delete(frame.client_id);
  const apply = (msg) => {
    const next = { ...msg, text: frame.text, edited_ts: frame.edited_ts ?? msg.edited_ts };
    if (frame.mentions?.length) next.mentions = frame.mentions;
    else delete next.mentions;
    return next;
  };
  // New to this page (not a repeat), whether or not the message is loaded.
  const fresh = frame.seq > (state.room(frame.room).cursor ?? 0);
  const updated = state.applyChange(frame.room, frame.id, frame.seq, apply);
  if (!updated && mine) {
    // Our own edit answered with the message's current rev (a resend that
    // changed nothing): that text is the current one; take off the mark.
    const msg = state.message(frame.room, frame.id);
    if (msg) state.room(frame.room).messages.set(frame.id, apply(msg));
  }
  if (updated || mine) redrawMessage(frame.room, frame.id);

  // Someone added a mention of you: notify, even in a muted room. Only the
  // names new in this edit, so nobody is told twice about one message.
  // A message far back that this page has not loaded still tells you; the
  // frame does not say who wrote it, so the notification cannot either.
  if (!fresh || !(frame.new_mentions ?? []).some((n) => render.sameName(n, state.me))) return;
  const msg = state.message(frame.room, frame.id) ?? { room: frame.room, user: 'Someone', text: frame.text };
  if (!state.isMine(msg)) noteMention(state.room(frame.room), msg);
}

/** `delete`: the message is a tombstone now, on every page. */
export function handleDelete(frame) {
  if (frame.client_id && sent.get(frame.client_id)?.kind === 'delete') sent.delete(frame.client_id);
  const updated = state.applyChange(frame.room, frame.id, frame.seq, (msg) => ({
    type: 'message', room: msg.room, id: msg.id, uid: msg.uid, user: msg.user, ts: msg.ts, deleted: true, text: '',
    // A moderator's delete says who did it ("message deleted by alice").
    ...(frame.by !== undefined ? { deleted_by: frame.by } : {}),
  }));
  if (!updated) return;
  // Your own edit of it, if one was on its way, can never land now.
  for (const [clientId, entry] of sent) {
    if (entry.id === frame.id && roomKey(entry.room) === roomKey(frame.room)) sent.delete(clientId);
  }
  if (menuFor?.id === frame.id && roomKey(menuFor.room) === roomKey(frame.room)) closeMenu(false);
  redrawMessage(frame.room, frame.id);
  const gone = messageGone(frame.room, frame.id);
  if (gone === 'edit') showToast('The message you were editing was deleted.');
  if (gone === 'reply') showToast('The message you were replying to was deleted.');
}

/** `reactions`: the message's whole reaction summary (`[]`: none left). */
export function handleReactions(frame) {
  for (const [clientId, entry] of sent) {
    if (entry.kind === 'react' && entry.id === frame.id && roomKey(entry.room) === roomKey(frame.room)) sent.delete(clientId);
  }
  const updated = state.applyChange(frame.room, frame.id, frame.seq, (msg) => {
    const next = { ...msg, reactions: frame.reactions ?? [] };
    if (next.reactions.length === 0) delete next.reactions;
    return next;
  });
  if (updated) redrawMessage(frame.room, frame.id);
}

// ================================================================================
// The menu
// ================================================================================

const menu = $('message-menu');
// The message whose menu is open: { room, id }. Not its <li>: a change
// that arrives meanwhile (a reaction) draws the message anew.
let menuFor = null;

/** A message drawn anew (messages.js): if its menu is open, its ⋯ button says so again. */
export function keepMenuOpen(li) {
  if (!menuFor || li.dataset.id !== String(menuFor.id) || menuItem() !== li) return;
  li.classList.add('menu-open');
  li.querySelector('.message-menu-button')?.setAttribute('aria-expanded', 'true');
}

/** The open menu's message <li> and ⋯ button, as they are now. */
const menuItem = () => (menuFor ? itemOf(menuFor.room, menuFor.id) : null);
const menuButton = () => menuItem()?.querySelector('.message-menu-button') ?? null;

/** The message an <li> shows, from the state. */
function messageOf(li) {
  const list = li.closest('ol.messages');
  const room = list ? state.rooms.get(list.dataset.roomKey) : undefined;
  return room?.messages.get(Number(li.dataset.id));
}

/**
 * Open the menu of message `li`, next to `anchor` (its ⋯ button, or where
 * a finger pressed: { x, y }). Edit only on your messages while they may
 * still be edited; Delete on all of yours.
 */
function openMenu(li, anchor) {
  const msg = messageOf(li);
  if (!msg || msg.deleted) return;
  closeMenu(false);
  menuFor = { room: msg.room, id: msg.id };
  menu.querySelector('[data-action="edit"]').hidden = !state.mayEdit(msg, editWindow());
  // Delete: yours, or (for a moderator or owner) someone's of a lower role.
  menu.querySelector('[data-action="delete"]').hidden = !state.isMine(msg) && !mayDeleteOthers(msg);
  menu.hidden = false;
  li.querySelector('.message-menu-button')?.setAttribute('aria-expanded', 'true');
  li.classList.add('menu-open');
  placeMenu(anchor instanceof Element ? anchor.getBoundingClientRect() : { left: anchor.x, right: anchor.x, top: anchor.y, bottom: anchor.y });
  menu.querySelector('button:not([hidden])').focus();
}

/** Below the anchor, its right edge on the anchor's (above it near the bottom), inside the window. */
function placeMenu(box) {
  const { offsetWidth: width, offsetHeight: height } = menu;
  const margin = 8;
  const left = Math.min(Math.max(margin, box.right - width), window.innerWidth - width - margin);
  const below = box.bottom + 4;
  const top = below + height + margin > window.innerHeight ? Math.max(margin, box.top - height - 4) : below;
  menu.style.left = `${left}px`;
  menu.style.top = `${top}px`;
}

/** @param {boolean} refocus  back to the message's ⋯ button (Esc, or a choice that needs no focus elsewhere) */
export function closeMenu(refocus = true) {
  if (menu.hidden) return false;
  menu.hidden = true;
  const button = menuButton();
  button?.setAttribute('aria-expanded', 'false');
  menuItem()?.classList.remove('menu-open');
  if (refocus) button?.focus();
  menuFor = null;
  return true;
}

function chooseFromMenu(action) {
  const li = menuItem();
  const msg = li && messageOf(li);
  closeMenu(action !== 'reply' && action !== 'edit');
  if (!msg) return;
  if (action === 'reply') startReply(msg);
  else if (action === 'edit') startEdit(msg);
  else if (action === 'react') pickReaction(li, msg);
  else if (action === 'delete') askDelete(li);
}

/** Arrows move between the menu's buttons; Esc closes it; Tab out closes it too. */
function onMenuKey(event) {
  const items = [...menu.querySelectorAll('button:not([hidden])')];
  const at = items.indexOf(document.activeElement);
  if (event.key === 'Escape') {
    event.preventDefault();
    event.stopPropagation(); // not also the drawer
    closeMenu();
  } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
    event.preventDefault();
    const step = event.key === 'ArrowDown' ? 1 : items.length - 1;
    items[(at + step) % items.length].focus();
  } else if (event.key === 'Home' || event.key === 'End') {
    event.preventDefault();
    items[event.key === 'Home' ? 0 : items.length - 1].focus();
  }
}

// ================================================================================
// Reactions, delete, and going to a reply's original
// ================================================================================

/** Is this emoji one you have reacted with on `msg`? */
const reacted = (msg, emoji) => (msg.reactions ?? []).some((r) => r.emoji === emoji && (r.uids ?? []).includes(state.uid));

function sendReact(msg, emoji, on) {
  sendChange('react', msg, { emoji, on });
}

/** The composer's emoji picker, lent to react to `msg`; the focus comes back to the message. */
function pickReaction(li, msg) {
  const back = () => {
    const again = itemOf(msg.room, msg.id);
    (again?.querySelector('.message-menu-button') ?? input).focus();
  };
  openPickerFor({
    onPick: (emoji) => {
      const now = state.message(msg.room, msg.id) ?? msg;
      sendReact(now, emoji, !reacted(now, emoji));
      back();
    },
    onClose: back,
  });
}

/** "Delete this message? Yes / No" in the message itself. */
function askDelete(li) {
  if (li.querySelector('.delete-confirm')) return;
  const box = render.deleteConfirm();
  li.append(box);
  box.querySelector('[data-confirm-delete="no"]').focus();
}

function answerDelete(li, yes) {
  const msg = messageOf(li);
  li.querySelector('.delete-confirm')?.remove();
  li.querySelector('.message-menu-button')?.focus();
  if (yes && msg) sendChange('delete', msg, {});
}

/**
 * Bring message `id` into view and light it up for a moment: at once when
 * it is loaded, else after scroll-back has paged back to it (scroll.js).
 */
function goToMessage(roomName, id) {
  const show = () => {
    const li = itemOf(roomName, id);
    if (!li) return;
    li.scrollIntoView({ block: 'center', behavior: 'instant' });
    li.classList.remove('highlight');
    void li.offsetWidth; // restart the animation when it is still running
    li.classList.add('highlight');
    setTimeout(() => li.classList.remove('highlight'), 2500);
    li.tabIndex = -1;
    li.focus({ preventScroll: true });
  };
  if (itemOf(roomName, id)) show();
  else seekMessage(state.room(roomName), id, show, () => showToast('That message is no longer available.'));
}

// ================================================================================
// Clicks, keys and long presses
// ================================================================================

// A press this long on a touch screen opens the menu, as on phones' own apps.
const LONG_PRESS_MS = 500;
// A finger that moves further than this is scrolling, not pressing.
const LONG_PRESS_SLOP_PX = 10;

function wireLongPress() {
  let timer = null;
  let start = null;
  let fired = false;
  const cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  scroller.addEventListener('pointerdown', (event) => {
    fired = false;
    if (event.pointerType !== 'touch') return;
    const li = event.target.closest('li.message[data-id]:not(.deleted)');
    if (!li || event.target.closest('button, a, pre')) return;
    start = { x: event.clientX, y: event.clientY };
    cancel();
    timer = setTimeout(() => {
      timer = null;
      fired = true;
      openMenu(li, start);
    }, LONG_PRESS_MS);
  });
  scroller.addEventListener('pointermove', (event) => {
    if (timer && start && Math.hypot(event.clientX - start.x, event.clientY - start.y) > LONG_PRESS_SLOP_PX) cancel();
  });
  for (const type of ['pointerup', 'pointercancel']) scroller.addEventListener(type, cancel);
  // The browser's own menu (copy, select) after a long press that opened ours.
  scroller.addEventListener('contextmenu', (event) => {
    if (fired || timer) {
      event.preventDefault();
      cancel();
    }
  });
  // The finger lifting after a long press is not a tap: no mouse events and
  // no click follow (a mousedown would take the focus out of the menu).
  scroller.addEventListener('touchend', (event) => {
    if (fired) event.preventDefault();
  }, { passive: false });
  // Should a click come anyway, it is not a click on what was under the finger.
  scroller.addEventListener('click', (event) => {
    if (!fired) return;
    fired = false;
    event.preventDefault();
    event.stopPropagation();
  }, { capture: true });
}

function onListClick(event) {
  const target = event.target;
  const li = target.closest('li.message[data-id]');
  if (!li) return;
  const msg = messageOf(li);
  if (target.closest('.message-menu-button')) {
    if (menuItem() === li) closeMenu();
    else openMenu(li, target.closest('.message-menu-button'));
  } else if (target.closest('.reaction-add')) {
    if (msg) pickReaction(li, msg);
  } else if (target.closest('.reaction')) {
    const emoji = target.closest('.reaction').dataset.emoji;
    if (msg) sendReact(msg, emoji, !reacted(msg, emoji));
  } else if (target.closest('.reply-preview[data-reply-to]')) {
    if (msg) goToMessage(msg.room, Number(target.closest('.reply-preview').dataset.replyTo));
  } else if (target.closest('[data-confirm-delete]')) {
    answerDelete(li, target.closest('[data-confirm-delete]').dataset.confirmDelete === 'yes');
  } else if (target.closest('[data-retry-edit]')) {
    retryEdit(target.closest('[data-retry-edit]').dataset.retryEdit);
  }
}

export function wireActions() {
  scroller.addEventListener('click', onListClick);
  // Esc in "Delete this message?" answers No.
  scroller.addEventListener('keydown', (event) => {
    const confirm = event.key === 'Escape' && event.target.closest?.('.delete-confirm');
    if (!confirm) return;
    event.preventDefault();
    event.stopPropagation();
    answerDelete(confirm.closest('li.message'), false);
  });
  menu.addEventListener('click', (event) => {
    const item = event.target.closest('[data-action]');
    if (item) chooseFromMenu(item.dataset.action);
  });
  menu.addEventListener('keydown', onMenuKey);
  // A click elsewhere, or the focus leaving the menu, closes it.
  document.addEventListener('pointerdown', (event) => {
    if (!menu.hidden && !menu.contains(event.target) && !menuButton()?.contains(event.target)) closeMenu(false);
  });
  menu.addEventListener('focusout', (event) => {
    if (!menu.hidden && event.relatedTarget && !menu.contains(event.relatedTarget)) closeMenu(false);
  });
  // The menu is placed by its message: it would float away from it.
  scroller.addEventListener('scroll', () => {
    if (!menu.hidden && !menu.contains(document.activeElement)) closeMenu(false);
  });
  // A narrower or wider window moves the message; a change of height alone
  // (a phone's keyboard, the address bar) leaves the menu where it is.
  let width = window.innerWidth;
  window.addEventListener('resize', () => {
    if (window.innerWidth !== width) closeMenu(false);
    width = window.innerWidth;
  });
  wireLongPress();
}

/** For rooms.js: the room on screen changed, so its menu and questions go. */
export function leaveRoomActions() {
  closeMenu(false);
}
