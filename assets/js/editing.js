// editing.js — the composer's two other modes: writing a reply ("Replying
// to bob: dinner tonight? ×" above the box, and the message goes with
// `reply_to`) and changing one of your messages ("Editing message — Esc to
// cancel": the box holds its text, Enter saves, Esc puts back what you had
// typed before). Only one mode at a time, and only in the room it began
// in: switching rooms ends it.
//
// This file keeps the mode and the bar; composer.js asks it what Enter
// means (replyTarget(), editTarget()), and actions.js sends the edit.

import { excerpt } from './render.js';
import { $, current, input, limits, state } from './page.js';
import { roomKey } from './state.js';
import { saveDraft } from './drafts.js';
import { resetMentions, setMentions } from './mentions.js';

// { kind: 'reply' | 'edit', room, id, draft }: `draft` is what the box held
// before an edit began, given back when it ends.
let mode = null;

const bar = $('compose-bar');
const barText = $('compose-bar-text');
const HINT = 'composer-hint';

function showBar(text, label) {
  barText.textContent = text;
  bar.dataset.mode = mode.kind;
  $('compose-bar-cancel').setAttribute('aria-label', label);
  bar.hidden = false;
  // A screen reader in the box hears which mode it is in.
  input.setAttribute('aria-describedby', `compose-bar-text ${HINT}`);
}

function hideBar() {
  bar.hidden = true;
  delete bar.dataset.mode;
  input.setAttribute('aria-describedby', HINT);
}

/** Is `mode` about the room on screen? */
const inCurrentRoom = () => mode && current() && roomKey(mode.room) === state.current;

/** The id the next message replies to, if you are writing a reply here. */
export function replyTarget() {
  return inCurrentRoom() && mode.kind === 'reply' ? mode.id : undefined;
}

/** The message you are editing here, if any (the state's copy). */
export function editTarget() {
  if (!inCurrentRoom() || mode.kind !== 'edit') return undefined;
  return state.message(mode.room, mode.id);
}

/** Are you editing (anywhere)? Then the box does not hold a draft. */
export const isEditing = () => mode?.kind === 'edit';

/** Reply to `msg`: the bar says to whom, the box keeps what you typed. */
export function startReply(msg) {
  endMode();
  mode = { kind: 'reply', room: msg.room, id: msg.id };
  showBar(`Replying to ${msg.user}: ${excerpt(msg.action ? `* ${msg.user} ${msg.text}` : msg.text, 60)}`, 'Cancel the reply');
  input.focus();
}

/** Edit `msg` (yours): its text goes into the box until you save or cancel. */
export function startEdit(msg) {
  const draft = isEditing() ? mode.draft : input.value;
  endMode();
  mode = { kind: 'edit', room: msg.room, id: msg.id, draft };
  input.value = msg.text;
  // The names it mentions are still mentions unless you take them out.
  setMentions(msg.mentions ?? []);
  showBar('Editing message — Esc to cancel', 'Cancel editing');
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

/**
 * Leave the mode: after a reply is sent, an edit saved, Esc or ×. An edit
 * gives the box back what it held before (`restore`: false when the room
 * is being switched away from, which saves that text as its draft itself).
 */
export function endMode({ restore = true } = {}) {
  if (!mode) return false;
  const ended = mode;
  mode = null;
  hideBar();
  if (ended.kind === 'edit') {
    resetMentions();
    if (restore) {
      input.value = ended.draft;
      input.setSelectionRange(input.value.length, input.value.length);
    }
    saveDraft(ended.room, ended.draft);
  }
  return true;
}

/**
 * Before a room switch: an edit ends, and the box holds the room's draft
 * again, so that drafts.js keeps that (not the edited text) for it.
 */
export function leaveRoomMode() {
  if (!mode) return;
  if (mode.kind === 'edit') input.value = mode.draft;
  endMode({ restore: false });
}

/** Message `id` of `room` was deleted: a reply to it or an edit of it cannot go on. */
export function messageGone(room, id) {
  if (!mode || roomKey(mode.room) !== roomKey(room) || mode.id !== id) return undefined;
  const kind = mode.kind;
  endMode();
  return kind;
}

/** The edit window from `hello`, for ↑ and the menu. */
export const editWindow = () => limits.editWindowS;

export function wireEditing() {
  $('compose-bar-cancel').addEventListener('click', () => {
    endMode();
    input.focus();
  });
}
