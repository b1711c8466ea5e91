// drafts.js — what you half-typed stays with its room. Switching rooms puts
// the other room's draft in the composer (rooms.js calls swapDraft), a reload
// brings it back, and sending clears it.
//
// Without this, a draft would follow you into another room, where one Enter
// posts it to the wrong people.
//
// Kept in localStorage per user and room ("natter.draft.alice.lobby", by
// room key, so look-alike spellings of a room share a draft). Every access
// goes through try/catch: storage may be disabled or full, and then drafts
// simply last as long as the page.

import { roomKey } from './state.js';
import { input, page } from './page.js';

const drafts = new Map(); // roomKey -> text: this page's copy, used when storage fails
const storageKey = (room) => `natter.draft.${page.user}.${roomKey(room)}`;

/** Remember the composer's text as this room's draft ('' forgets it). */
export function saveDraft(room, text) {
  drafts.set(roomKey(room), text);
  try {
    if (text === '') localStorage.removeItem(storageKey(room));
    else localStorage.setItem(storageKey(room), text);
  } catch {
    // Kept in `drafts` until the page closes.
  }
}

/** This room's draft, or ''. */
export function loadDraft(room) {
  // This page's copy first: it is the newest, also when storage is full.
  if (drafts.has(roomKey(room))) return drafts.get(roomKey(room));
  try {
    const stored = localStorage.getItem(storageKey(room));
    if (stored !== null) return stored;
  } catch {
    // Fall back to this page's copy.
  }
  return drafts.get(roomKey(room)) ?? '';
}

/**
 * The server answered our room `from` as its room `to` (a look-alike
 * spelling, see rooms.js renameRoom): the draft goes with it. When both have
 * one, neither is dropped: `to`'s comes first.
 */
export function moveDraft(from, to) {
  if (roomKey(from) === roomKey(to)) return;
  const [moving, staying] = [loadDraft(from), loadDraft(to)];
  if (moving === '') return;
  saveDraft(to, staying === '' ? moving : `${staying}\n${moving}`);
  saveDraft(from, '');
}

/**
 * The room on screen changes from `from` (undefined on the first one) to
 * `to`: keep what is in the composer with `from`, and show `to`'s draft.
 */
export function swapDraft(from, to) {
  if (from && roomKey(from) === roomKey(to)) return;
  if (from) saveDraft(from, input.value);
  input.value = loadDraft(to);
  input.setSelectionRange(input.value.length, input.value.length);
}
