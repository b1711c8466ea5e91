// composer.js — what you write: the input (Enter, ↑, :shortcodes:,
// @mentions, the emoji picker, the /commands of commands.js), replies and
// edits (editing.js keeps which), "typing" frames, sending, and your messages
// on their way: a pending copy until the server's echo replaces it
// (messages.js), marked failed when the server refuses it, retried later
// when the server could not save it. Messages an earlier page could not
// send come back as pending copies when the page loads (restoreUnsent), and
// what you type is kept as the room's draft (drafts.js) until you send it.

import * as render from './render.js';
import { EmojiPicker, ShortcodeCompleter, insertText } from './emoji.js';
import { $, current, input, limits, lists, listFor, showNotice, socket, state } from './page.js';
import { scrollToBottom } from './scroll.js';
import { handleMentionKey, mentionsFor, resetMentions, updateMentions } from './mentions.js';
import { addRoom } from './rooms.js';
import { saveDraft } from './drafts.js';
import { viewFor } from './messages.js';
import { helpLines, parseCommand } from './commands.js';
import { editTarget, editWindow, endMode, isEditing, replyTarget, startEdit } from './editing.js';
import { sendEdit } from './actions.js';
import { isMutedHere, untilText } from './access.js';
import { clearTray, trayFor } from './uploads.js';

// A `typing` frame at most this often while you type: the others show
// "is typing…" for 5 s after each (messages.js).
const TYPING_EVERY_MS = 3000;
let lastTypingSent = 0;
const utf8 = new TextEncoder();

/**
 * Why the text cannot be sent, by the server's own limits from `hello`, or
 * undefined when it can (or when they are not known yet: the server judges).
 */
function tooLong(text) {
  // The server counts characters (code points), not UTF-16 units, so an
  // emoji counts once here too.
  const length = [...text].length;
  if (limits.maxTextChars !== undefined && length > limits.maxTextChars) {
    return `That message is ${length} characters long; the limit is ${limits.maxTextChars}.`;
  }
  // And it counts bytes of UTF-8, where an emoji takes 4.
  const bytes = utf8.encode(text).length;
  if (limits.maxTextBytes !== undefined && bytes > limits.maxTextBytes) {
    return `That message is ${bytes} bytes long (an emoji takes 4); the limit is ${limits.maxTextBytes}.`;
  }
  return undefined;
}

/**
 * The message frame for a draft ({ text, action?, reply_to?, mentions? }):
 * the same whether it is sent now, retried, or sent by the next page.
 */
function messageFrame(room, draft, clientId) {
  return { type: 'message', room, ...draft, client_id: clientId };
}

/** Only what a message frame carries (an outbox entry has its `ts` and `room` too). */
function draftOf({ text, action, reply_to: replyTo, mentions, attachments }) {
  const draft = { text };
  if (action) draft.action = true;
  if (replyTo !== undefined) draft.reply_to = replyTo;
  if (mentions?.length) draft.mentions = mentions;
  // Upload ids (uploads.js): the text may then be empty.
  if (attachments?.length) draft.attachments = attachments;
  return draft;
}

/** The box is empty again after a send, and ready for the next message. */
function clearComposer(room) {
  input.value = '';
  saveDraft(room.name, ''); // it is in the outbox now, and kept there
  resetMentions();
  lastTypingSent = 0; // the next keystroke may announce typing again at once
  input.focus();
}

function sendFromComposer() {
  const room = current();
  if (!room) return;
  // Leading and trailing blank lines are never meant; the server would
  // refuse an all-blank message anyway (empty_text).
  const typed = input.value.trim();
  const editing = editTarget();
  if (editing) {
    saveEdit(editing, typed);
    return;
  }
  // The attachments waiting in the tray go with this message, and only
  // when every one of them has uploaded: never half a message.
  const tray = trayFor(room.name);
  if (typed === '' && tray.count === 0) return;
  // Muted or out of the room: the box is disabled (access.js); should Enter
  // come anyway, the text stays where it is.
  if (room.shut || isMutedHere(room)) return;
  if (tray.count > 0 && !tray.ready) {
    showNotice(tray.problem);
    return;
  }

  const command = parseCommand(typed);
  if (command.kind === 'help') {
    showHelp(room);
    clearComposer(room);
    return;
  }
  if (command.kind === 'unknown') {
    showNotice(`“/${command.name}” is not a command here: type /help for the list. To send a message that starts with “/”, start it with “//”.`);
    return;
  }
  if (command.kind === 'empty-action') {
    showNotice('Type what you do after /me, like “/me waves”.');
    return;
  }
  const problem = tooLong(command.text);
  if (problem) {
    showNotice(problem);
    return;
  }

  const draft = draftOf({
    text: command.text, action: command.action, reply_to: replyTarget(), mentions: mentionsFor(command.text), attachments: tray.ids,
  });
  const clientId = state.addPending(room.name, draft.text);
  state.pending.get(clientId).draft = draft;
  render.appendItem(listFor(room.name), render.pendingElement(clientId, draft, viewFor(room.name), Date.now(), tray.files));
  socket.sendMessage(messageFrame(room.name, draft, clientId));
  if (tray.count > 0) clearTray(room.name);
  endMode(); // a reply is sent; the next message is not one
  refreshPendingLabels();
  scrollToBottom();
  clearComposer(room);
}

/**
 * Enter while editing: save the new text (actions.js shows it at once and
 * sends it), or just leave the mode when nothing changed.
 */
function saveEdit(msg, text) {
  if (text === '') {
    showNotice('A message cannot be empty: to remove it, choose Delete in its menu (⋯).');
    return;
  }
  const problem = tooLong(text);
  if (problem) {
    showNotice(problem);
    return;
  }
  if (text === msg.text || sendEdit(msg, text, mentionsFor(text))) endMode();
  input.focus();
}

/** /help: the commands, as a line in the room only you see. */
function showHelp(room) {
  render.appendItem(listFor(room.name), render.helpElement(helpLines(state.me)));
  scrollToBottom();
}

/** Send a failed message again, with the same client_id. */
function retry(clientId, li) {
  const entry = state.retryPending(clientId);
  if (!entry) return;
  render.markPendingAgain(li, listFor(entry.room));
  socket.sendMessage(messageFrame(entry.room, entry.draft ?? { text: entry.text }, clientId));
  refreshPendingLabels();
  scrollToBottom();
  input.focus();
}

/**
 * Show the messages an earlier page left unsent (outbox.js: a reload while
 * the server was down, a log-out, a session that ended) as pending in their
 * rooms, opening a room that is not open. socket.js sends them after the
 * room's `joined`, once its history has shown which of them the server had
 * posted already.
 */
export function restoreUnsent() {
  requeueUnsent(socket.store?.all() ?? []);
}

/**
 * Show these outbox entries ({ client_id, room, text, ts, and action,
 * reply_to, mentions when it has them }) as pending in
 * their rooms and send them after `joined`: the stored outbox at load, or a
 * left room's messages when the leave is undone.
 */
export function requeueUnsent(entries) {
  for (const entry of entries) {
    const { client_id: clientId, room, ts } = entry;
    if (state.pending.has(clientId)) continue;
    addRoom(room);
    const draft = draftOf(entry);
    state.addPending(room, draft.text, clientId);
    state.pending.get(clientId).draft = draft;
    render.appendItem(listFor(room), render.pendingElement(clientId, draft, viewFor(room), ts));
    socket.sendMessage(messageFrame(room, draft, clientId), ts);
  }
  refreshPendingLabels();
}

/** Pending messages say whether they are on their way or waiting for the network. */
export function refreshPendingLabels() {
  for (const [key, list] of lists) {
    // socket.stopped: the session has ended; the outbox waits for a log-in.
    const label = socket.isJoined(key) ? 'sending…' : socket.stopped ? 'waiting for you to log in again' : 'waiting for connection…';
    // Unsaved ones keep saying so until they are sent again.
    for (const li of list.querySelectorAll('.pending:not(.unsaved) .state')) li.textContent = label;
  }
}

// ================================================================================
// Messages the server could not save, or refused
// ================================================================================

// A message the server could not save is retried after 5 s, then 10, 20,
// 40, and every 60 s while storage keeps failing (disk full is rarely fixed
// in seconds, and each retry costs the server a failed transaction).
const UNSAVED_FIRST_RETRY_MS = 5000;
const UNSAVED_MAX_RETRY_MS = 60_000;
const unsavedTimers = new Map(); // client_id -> timeout

const pendingItem = (clientId) => document.querySelector(`.messages [data-client-id="${CSS.escape(clientId)}"]`);

/** storage_failed for one of our messages: keep it pending, retry later. */
function holdUnsaved(clientId) {
  const entry = state.holdUnsaved(clientId);
  if (!entry) return;
  const li = pendingItem(clientId);
  if (li) render.markUnsaved(li);
  clearTimeout(unsavedTimers.get(clientId));
  const delay = Math.min(UNSAVED_MAX_RETRY_MS, UNSAVED_FIRST_RETRY_MS * 2 ** (entry.attempts - 1));
  unsavedTimers.set(clientId, setTimeout(() => resendUnsaved(clientId), delay));
}

/** A `muted` refusal: keep it, say until when, send it again once the mute is over. */
function holdMuted(clientId, until) {
  const entry = state.holdUnsaved(clientId);
  if (!entry) return;
  const li = pendingItem(clientId);
  if (li) {
    render.markUnsaved(li);
    li.querySelector('.state').textContent = until ? `not sent: you are muted until ${untilText(until)}; it goes then` : 'not sent: you are muted; it goes when that ends';
  }
  clearTimeout(unsavedTimers.get(clientId));
  const wait = until ? Math.max(1000, until - Date.now() + 1000) : UNSAVED_MAX_RETRY_MS;
  unsavedTimers.set(clientId, setTimeout(() => resendUnsaved(clientId), Math.min(wait, 2 ** 31 - 1)));
}

/**
 * Send an unsaved message again, same client_id: the server posts a
 * client_id at most once, so this can never double it. When not connected
 * it waits: the next `joined` resends it (and calls this with send: false,
 * since socket.js does the sending then).
 */
export function resendUnsaved(clientId, { send = true } = {}) {
  clearTimeout(unsavedTimers.get(clientId));
  unsavedTimers.delete(clientId);
  const entry = state.pending.get(clientId);
  if (!entry || entry.status !== 'unsaved') return; // echoed, or its room was left
  if (send && !socket.isJoined(entry.room)) return;
  state.retryPending(clientId);
  const li = pendingItem(clientId);
  if (li) render.markResending(li);
  if (send) socket.resend(clientId);
}

/** An error naming one of our messages' client_id: unsaved (try again later) or failed. */
export function messageRefused(frame) {
  const clientId = frame.client_id;
  if (!clientId) return;
  if (frame.code === 'storage_failed') {
    // Not the message's fault and not final: it stays pending (see socket.js).
    holdUnsaved(clientId);
    return;
  }
  if (frame.code === 'muted') {
    // Sent just before we learnt of the mute: it waits in the outbox (kept
    // by socket.js, across reloads too) and goes when the mute ends.
    holdMuted(clientId, frame.until_ts);
    return;
  }
  if (!state.failPending(clientId)) return;
  const li = pendingItem(clientId);
  if (!li) return;
  render.markFailed(li, frame.code, {
    onRemove: () => {
      state.removePending(clientId);
      render.removeItem(li);
      input.focus();
    },
    // Over the rate limit the same message will pass a little later.
    onRetry: frame.code === 'rate_limited' ? () => retry(clientId, li) : undefined,
  });
}

// ================================================================================
// The input and its helpers
// ================================================================================

let picker;

/** Lend the picker to choose one reaction (actions.js): `target` = { onPick, onClose }. */
export function openPickerFor(target) {
  picker.open(target);
}

/** Close the emoji picker if it is open; returns whether it was. */
export function closePicker() {
  if (!picker?.isOpen()) return false;
  picker.close();
  return true;
}

/**
 * Enter sends (or saves an edit); Shift+Enter falls through and inserts a
 * newline; ↑ in an empty box edits your last message; Esc ends an edit or
 * a reply.
 */
function onKeyDown(completer, event) {
  // The shortcode suggestions, when open, get the arrows, Enter, Tab and Esc.
  if (completer.handleKey(event)) return;
  // So do the @mention suggestions (mentions.js); only one list is ever open.
  if (handleMentionKey(event)) return;
  // While an input method is composing (Japanese, Chinese, …) Enter
  // confirms the composition and must not send.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    sendFromComposer();
  } else if (event.key === 'ArrowUp' && input.value === '' && !isEditing()
             && !event.altKey && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
    // ↑ in an empty composer edits your newest message that may still be edited.
    const mine = current() && state.lastEditable(current().name, editWindow());
    if (!mine) return;
    event.preventDefault();
    startEdit(mine);
  } else if (event.key === 'Escape' && endMode()) {
    event.preventDefault();
    event.stopPropagation(); // the drawer's Esc must not close it too
  }
}

/** Tell the room you are typing, at most every TYPING_EVERY_MS. */
function announceTyping() {
  const now = Date.now();
  const room = current();
  if (!room || input.value.trim() === '' || now - lastTypingSent < TYPING_EVERY_MS) return;
  // Only when joined: the server answers `typing` for a room you are not in
  // with a not_joined error, and there is nobody to tell anyway.
  if (!socket.isJoined(room.name)) return;
  if (socket.sendNow({ type: 'typing', room: room.name })) lastTypingSent = now;
}

export function wireComposer() {
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault(); // the page stays; the socket does the sending
    sendFromComposer();
  });

  const completer = new ShortcodeCompleter(input, $('shortcode-list'));
  input.addEventListener('keydown', (event) => onKeyDown(completer, event));
  input.addEventListener('input', () => {
    completer.update();
    updateMentions({ blocked: completer.isOpen() });
    announceTyping();
    // While editing, the box holds the message, not the room's draft.
    if (current() && !isEditing()) saveDraft(current().name, input.value);
  });
  // Typing while disconnected: you are about to send, so try to reconnect now.
  input.addEventListener('keydown', () => socket.wakeFromTyping());
  // ↑ fills the composer without an `input` event: keep what is there when
  // the page goes, too.
  window.addEventListener('pagehide', () => {
    if (current() && !isEditing()) saveDraft(current().name, input.value);
  });

  picker = new EmojiPicker({
    toggle: $('emoji-toggle'),
    panel: $('emoji-picker'),
    onPick: (emoji) => {
      input.focus();
      insertText(input, emoji);
    },
    onClose: () => input.focus(),
  });

  $('notice-close').addEventListener('click', () => {
    $('notice').hidden = true;
    input.focus();
  });
}
