// mentions.js — @mentions in the composer: while you type "@" and the start
// of a name, a short list of the room's members who match; ↑/↓ choose,
// Enter or Tab takes one, Esc closes, a click takes one too. Clicking a
// name in the members list puts its mention into the composer as well.
//
// What it inserts is exactly "@" + the member's name + a space, whatever
// the name is made of (spaces, any script): text.js highlights a mention of
// you by that same spelling, so a name typed differently would not light up.
//
// It shares the space above the composer with the :shortcode: list
// (emoji.js). composer.js asks the shortcode list first, and this list
// stays closed while that one is open, so only one list is ever open.

import { insertText } from './emoji.js';
import { nameColourClass } from './render.js';
import { $, current, input, state } from './page.js';
import { setDrawer } from './drawer.js';

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

export class MentionCompleter {
  /**
   * @param {HTMLTextAreaElement} textarea
   * @param {HTMLElement} listbox  an empty, hidden <ul role="listbox">
   * @param {() => string[]} members  the names to offer (the current room's)
   * @param {string} me  your name, never offered
   */
  constructor(textarea, listbox, members, me) {
    this.input = textarea;
    this.listbox = listbox;
    this.members = members;
    this.me = me;
    this.items = [];
    this.active = 0;
    this.start = 0; // where the "@" is
    this.inserting = false;
    // The textarea already controls the shortcode list; it controls both.
    const controls = new Set((textarea.getAttribute('aria-controls') ?? '').split(/\s+/).filter(Boolean));
    controls.add(listbox.id);
    textarea.setAttribute('aria-controls', [...controls].join(' '));
    textarea.setAttribute('aria-autocomplete', 'list');
    textarea.addEventListener('blur', () => this.close());
  }

  isOpen() {
    return !this.listbox.hidden;
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
    this.items = typed ? suggestMembers(this.members(), typed.query, this.me) : [];
    if (this.items.length === 0) return this.close();
    this.start = typed.start;
    this.query = typed.query;
    this.active = 0;
    this.render();
    return undefined;
  }

  render() {
    const options = this.items.map((name, i) => {
      const li = document.createElement('li');
      li.id = `${this.listbox.id}-${i}`;
      li.className = 'shortcode-option mention-option';
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', String(i === this.active));
      // The member's colour, as in the members list; the name itself in
      // its own direction (an Arabic name reads right to left).
      const dot = document.createElement('span');
      dot.className = `dot ${nameColourClass(name)}`;
      dot.setAttribute('aria-hidden', 'true');
      const label = document.createElement('bdi');
      label.textContent = `@${name}`;
      li.append(dot, label);
      // mousedown, not click: a click would first blur the textarea (and
      // the blur closes this list).
      li.addEventListener('mousedown', (event) => {
        event.preventDefault();
        this.accept(i);
      });
      return li;
    });
    this.listbox.replaceChildren(...options);
    this.listbox.hidden = false;
    this.input.setAttribute('aria-activedescendant', `${this.listbox.id}-${this.active}`);
  }

  close() {
    if (this.listbox.hidden) return undefined;
    this.listbox.hidden = true;
    this.listbox.replaceChildren();
    this.input.removeAttribute('aria-activedescendant');
    return undefined;
  }

  /**
   * Is the caret still in the "@…" the list was opened for? It may have
   * moved (End, Home, a click) without an `input` event; then the list is
   * stale and must neither take the key nor replace text it was not for.
   */
  stillTyping() {
    const { selectionStart: caret, selectionEnd } = this.input;
    const typed = caret === selectionEnd ? typedMention(this.input.value, caret) : undefined;
    return typed?.start === this.start && typed.query === this.query;
  }

  /** Put "@name " in place of the typed "@…". */
  accept(index = this.active) {
    const name = this.items[index];
    const current = this.stillTyping();
    this.close();
    if (name === undefined || !current) return;
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

  /** The composer's keydown calls this; true means "handled, do nothing else". */
  handleKey(event) {
    // keyCode 229: Safari's Enter that ends an input method's composition
    // comes with isComposing false.
    if (!this.isOpen() || event.isComposing || event.keyCode === 229) return false;
    if (!this.stillTyping()) {
      this.close();
      return false;
    }
    const n = this.items.length;
    switch (event.key) {
      case 'ArrowDown':
      case 'ArrowUp':
        if (event.altKey || event.ctrlKey || event.metaKey) return false; // Alt+↑/↓ switch rooms (keys.js)
        this.active = (this.active + (event.key === 'ArrowDown' ? 1 : n - 1)) % n;
        event.preventDefault();
        this.render();
        return true;
      case 'Enter':
      case 'Tab':
        if (event.shiftKey) return false;
        event.preventDefault();
        this.accept();
        return true;
      case 'Escape':
        event.preventDefault();
        event.stopPropagation(); // the drawer's Esc must not close it too
        this.close();
        return true;
      default:
        return false;
    }
  }
}

let completer;

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
