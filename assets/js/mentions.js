// mentions.js — @mentions in the composer: while you type "@" and the start
// of a name, a short list of the room's members who match; ↑/↓ choose,
// Enter or Tab takes one, Esc closes, a click takes one too. Clicking a
// name in the members list puts its mention into the composer as well.
//
// What it inserts is exactly "@" + the member's name + a space, whatever
// the name is made of (spaces, any script): text.js highlights a mention of
// you by that same spelling, so a name typed differently would not light up.
//
// The names you take from the list (or from the members list) are also
// remembered for the message being written: sent as its `mentions`
// (mentionsFor), they are how the server knows whom to notify, since a name
// may hold spaces and the server never guesses names out of the text.
//
// It shares the space above the composer with the :shortcode: list
// (emoji.js). composer.js asks the shortcode list first, and this list
// stays closed while that one is open, so only one list is ever open.

import { insertText } from './emoji.js';
import { SuggestionList } from './suggestions.js';
import { nameColourClass } from './render.js';
import { $, current, input, limits, state } from './page.js';
import { setDrawer } from './drawer.js';
import { mentionPattern } from './format.js';
import { mentions } from './text.js';

const MAX_SUGGESTIONS = 8;
// Names can have spaces, but not this many letters: past it, "@" is not a
// mention being typed (a pasted e-mail thread, say).
const MAX_FRAGMENT = 64;

/** Names compare as the server compares them: NFKC form, lower case. */
const fold = (text) => text.normalize('NFKC').toLowerCase();

/**
 * The "@…" being typed just before the caret: { start, query } where start
 * is the index of the "@", or undefined. The "@" must start the text or
 * follow whitespace, so "bob@example.com" opens nothing. What follows may
 * hold spaces ("@mary j" for "mary jane") but no line break.
 */
export function typedMention(text, caret) {
  const before = text.slice(Math.max(0, caret - MAX_FRAGMENT - 1), caret);
  const at = before.lastIndexOf('@');
  if (at < 0) return undefined;
  const query = before.slice(at + 1);
  if (query.includes('\n') || query.includes('@')) return undefined;
  const start = caret - before.length + at;
  if (start > 0 && !/\s/u.test(text[start - 1])) return undefined;
  return { start, query };
}

/**
 * The members whose name starts with `query` (then those with a later word
 * starting with it: "jane" finds "mary jane"), you left out.
 */
export function suggestMembers(members, query, me) {
  const q = fold(query);
  const mine = fold(me ?? '');
  const starts = [];
  const words = [];
  for (const name of members) {
    const folded = fold(name);
    if (folded === mine) continue;
    if (folded.startsWith(q)) starts.push(name);
    else if (q !== '' && folded.split(/\s+/u).slice(1).some((word) => word.startsWith(q))) words.push(name);
  }
  return [...starts, ...words].slice(0, MAX_SUGGESTIONS);
}

export class MentionCompleter extends SuggestionList {
  /**
   * @param {HTMLTextAreaElement} textarea
   * @param {HTMLElement} listbox  an empty, hidden <ul role="listbox">
   * @param {() => string[]} members  the names to offer (the current room's)
   * @param {string} me  your name, never offered
   */
  constructor(textarea, listbox, members, me) {
    super(textarea, listbox, 'shortcode-option mention-option');
    this.members = members;
    this.me = me;
    this.query = ''; // what follows the "@" the list was opened for
    this.inserting = false;
  }

  /**
   * Call on every `input` event of the composer. `blocked` (the shortcode
   * list is open) keeps this one closed.
   */
  update({ blocked = false } = {}) {
    // Our own insertion fires `input` too; "@bob " must not reopen the list
    // for "bob smith".
    if (this.inserting || blocked) return this.close();
    const caret = this.input.selectionStart;
    if (caret !== this.input.selectionEnd) return this.close();
    const typed = typedMention(this.input.value, caret);
    if (!typed) return this.close();
    this.query = typed.query;
    return this.show(suggestMembers(this.members(), typed.query, this.me), typed.start);
  }

  /** Is the caret still just after the "@…" the list was opened for? */
  stillTyping() {
    const { selectionStart: caret, selectionEnd } = this.input;
    const typed = caret === selectionEnd ? typedMention(this.input.value, caret) : undefined;
    return typed?.start === this.start && typed.query === this.query;
  }

  /** The member's colour, as in the members list, and the name in its own direction. */
  fill(li, name) {
    const dot = document.createElement('span');
    dot.className = `dot ${nameColourClass(name)}`;
    dot.setAttribute('aria-hidden', 'true');
    const label = document.createElement('bdi'); // an Arabic name reads right to left
    label.textContent = `@${name}`;
    li.append(dot, label);
  }

  /** Put "@name " in place of the typed "@…". */
  choose(name) {
    chosen.add(name);
    this.insert(`@${name} `, this.start, this.input.selectionStart);
  }

  /** insertText, without reopening the list for what it inserts. */
  insert(text, start, end) {
    this.inserting = true;
    try {
      insertText(this.input, text, start, end);
    } finally {
      this.inserting = false;
    }
  }
}

let completer;

// The names taken from the suggestions (or the members list) for the
// message being written; an edit starts from the message's own mentions.
const chosen = new Set();

/** The message was sent (or the edit ended): start the next one afresh. */
export const resetMentions = () => chosen.clear();

/** An edit begins: these names are mentioned already. */
export function setMentions(names) {
  chosen.clear();
  for (const name of names) chosen.add(name);
}

/**
 * The `mentions` to send with `text`: the names you took from the
 * suggestions, and the room's members whose "@name" you typed by hand (as
 * text.js highlights it: not inside code or a link), each only while its
 * "@name" is still in the text (you may have deleted it again). Where
 * "@bob smith" could be bob or "bob smith", a typed one counts as the
 * longest name that fits. Never you; at most the server's limit. The
 * server checks them all again.
 */
export function mentionsFor(text) {
  const typed = (current()?.members ?? []).filter((name) => mentions(text, name));
  const meant = typed.filter((name) => {
    // "@bob smith" mentions "bob smith"; it only mentions bob as well when
    // an "@bob" is left once the longer names are taken out.
    const longer = typed.filter((other) => other.length > name.length && fold(other).startsWith(fold(name)));
    const rest = longer.reduce((left, other) => left.replace(mentionPattern(other), ' '), text);
    return longer.length === 0 || mentions(rest, name);
  });
  const picked = [...chosen].filter((name) => mentionPattern(name).test(text));
  const names = [];
  for (const name of [...picked, ...meant]) {
    if (fold(name) === fold(state.me) || names.some((n) => fold(n) === fold(name))) continue;
    names.push(name);
  }
  return names.slice(0, limits.maxMentions ?? 20);
}

/** composer.js's keydown, after the shortcode list's turn. */
export const handleMentionKey = (event) => completer?.handleKey(event) ?? false;

/** composer.js's input handler. */
export const updateMentions = (options) => completer?.update(options);

/** Close the suggestions (on a room switch: they are the old room's members). */
export const closeMentions = () => completer?.close();

/**
 * Insert "@name " at the caret, with a space before it unless the caret
 * is at the start or after whitespace already.
 */
export function mentionInComposer(name) {
  input.focus();
  const at = input.selectionStart;
  const space = at > 0 && !/\s/u.test(input.value[at - 1]) ? ' ' : '';
  chosen.add(name);
  completer.insert(`${space}@${name} `, at, input.selectionEnd);
}

export function wireMentions() {
  completer = new MentionCompleter(input, $('mention-list'), () => current()?.members ?? [], state.me);
  // Back and forward switch rooms (rooms.js) with the focus left in the
  // composer: suggestions from the old room's members would be wrong.
  window.addEventListener('popstate', () => completer.close());

  // The members list is redrawn whenever someone comes or goes, so one
  // listener on the list, not one per name (render.js marks each name
  // that can be mentioned with data-mention).
  $('members-list').addEventListener('click', (event) => {
    const button = event.target.closest('[data-mention]');
    if (!button) return;
    setDrawer(false); // on a phone the list is in the drawer, over the composer
    mentionInComposer(button.dataset.mention);
  });
}
