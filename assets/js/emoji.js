// emoji.js — the emoji picker and `:shortcode:` completion in the composer.
//
// Two small widgets, both keyboard-first:
//
//   EmojiPicker         a popover under the 😊 button: a search box, one
//                       button per category (the first is "Recently used"),
//                       and a grid of emoji. Arrow keys move in the grid,
//                       Enter picks, Esc closes and returns to the composer.
//                       The same picker chooses a reaction (actions.js):
//                       open() with a target sends that one pick elsewhere.
//   ShortcodeCompleter  while you type ":ta", a short list of matching
//                       emoji; ↑/↓ choose, Enter or Tab takes one, Esc
//                       closes. Typing a whole code (":tada:") replaces it
//                       at once.
//
// Neither knows about the chat: they insert text into a <textarea>.

import { EMOJI_CATEGORIES, ALL_EMOJI, BY_SHORTCODE } from './emoji-data.js';
import * as prefs from './prefs.js';
import { SuggestionList } from './suggestions.js';

/**
 * Replace the textarea's text between `start` and `end` (the selection by
 * default) with `text`, leave the caret after it, and fire an `input` event
 * so the page reacts as if it had been typed.
 */
export function insertText(textarea, text, start = textarea.selectionStart, end = textarea.selectionEnd) {
  textarea.setRangeText(text, start, end, 'end');
  textarea.dispatchEvent(new Event('input', { bubbles: true }));
}

function button(className, text, label) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  if (label) b.setAttribute('aria-label', label);
  return b;
}

const BY_EMOJI = new Map(ALL_EMOJI.map((entry) => [entry.emoji, entry]));
const RECENT = { id: 'recent', label: 'Recently used', icon: '🕘' };
// Touch screens and phone-sized windows (app.css's phone breakpoint).
const TOUCH_OR_NARROW = '(pointer: coarse), (max-width: 47.99rem)';

export class EmojiPicker {
  /**
   * @param {object} o
   * @param {HTMLButtonElement} o.toggle  the button that opens the picker
   * @param {HTMLElement} o.panel         the (hidden) picker container in chat.html
   * @param {(emoji: string) => void} o.onPick
   * @param {() => void} o.onClose        called after closing (chat.js refocuses the composer)
   */
  constructor({ toggle, panel, onPick, onClose }) {
    this.toggleButton = toggle;
    this.panel = panel;
    this.onPick = onPick;
    this.onClose = onClose;
    this.search = panel.querySelector('.emoji-search');
    this.tabs = panel.querySelector('.emoji-tabs');
    this.heading = panel.querySelector('.emoji-heading');
    this.grid = panel.querySelector('.emoji-grid');
    this.empty = panel.querySelector('.emoji-empty');
    this.category = 'smileys';
    this.target = null; // { onPick, onClose } for this opening only, or null: the composer's

    this.buildTabs();
    toggle.addEventListener('click', () => (this.isOpen() && !this.target ? this.close() : this.open()));
    this.search.addEventListener('input', () => this.showEmoji());
    this.search.addEventListener('keydown', (event) => {
      if (event.key === 'ArrowDown') {
        event.preventDefault();
        this.focusCell(0);
      } else if (event.key === 'Enter') {
        // Enter in the search box takes the first match.
        event.preventDefault();
        this.grid.querySelector('button')?.click();
      }
    });
    this.grid.addEventListener('keydown', (event) => this.moveInGrid(event));
    panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        event.stopPropagation();
        this.close();
      }
    });
    // A click anywhere else closes the picker, like a menu.
    document.addEventListener('pointerdown', (event) => {
      if (this.isOpen() && !panel.contains(event.target) && !toggle.contains(event.target)) this.close(false);
    });
  }

  isOpen() {
    return !this.panel.hidden;
  }

  /**
   * @param {{ onPick: (emoji: string) => void, onClose: () => void }} [target]
   *   where this one pick goes instead of the composer (a reaction)
   */
  open(target = null) {
    this.target = target;
    this.panel.hidden = false;
    this.panel.setAttribute('aria-label', target ? 'Emoji picker: choose a reaction' : 'Emoji picker');
    if (!target) this.toggleButton.setAttribute('aria-expanded', 'true');
    this.search.value = '';
    // Start on "Recently used" when there is something in it; otherwise on
    // the category you looked at last (smileys the first time).
    if (prefs.getRecentEmoji().length > 0) this.category = RECENT.id;
    else if (this.category === RECENT.id) this.category = 'smileys';
    this.showEmoji();
    // On a phone, focusing the search box would raise the on-screen
    // keyboard over the very emoji you came to pick: there the focus goes
    // to the category tab (still inside the picker), and the box waits to
    // be tapped.
    if (matchMedia(TOUCH_OR_NARROW).matches) this.tabs.querySelector('[aria-pressed="true"]')?.focus();
    else this.search.focus();
  }

  /** @param {boolean} refocus  give the focus back (not when you clicked elsewhere) */
  close(refocus = true) {
    if (!this.isOpen()) return;
    const target = this.target;
    this.target = null;
    this.panel.hidden = true;
    this.toggleButton.setAttribute('aria-expanded', 'false');
    if (refocus) (target?.onClose ?? this.onClose)();
  }

  buildTabs() {
    const categories = [RECENT, ...EMOJI_CATEGORIES.map((c) => ({ ...c, icon: c.emoji[0][0] }))];
    for (const category of categories) {
      const tab = button('emoji-tab', category.icon, category.label);
      tab.title = category.label;
      tab.dataset.category = category.id;
      tab.addEventListener('click', () => {
        this.category = category.id;
        this.search.value = '';
        this.showEmoji();
      });
      this.tabs.append(tab);
    }
  }

  /** The entries to show: search results, or the chosen category. */
  entries() {
    const query = this.search.value.trim().toLowerCase().replace(/^:|:$/g, '');
    if (query) {
      return ALL_EMOJI.filter((e) => e.name.toLowerCase().includes(query) || e.codes.some((c) => c.includes(query)));
    }
    if (this.category === RECENT.id) {
      return prefs.getRecentEmoji().map((emoji) => BY_EMOJI.get(emoji) ?? { emoji, name: emoji, codes: [] });
    }
    return ALL_EMOJI.filter((e) => e.category === this.category);
  }

  showEmoji() {
    const query = this.search.value.trim();
    for (const tab of this.tabs.children) {
      tab.setAttribute('aria-pressed', String(!query && tab.dataset.category === this.category));
    }
    const label = query
      ? `Results for “${query}”`
      : this.category === RECENT.id
        ? RECENT.label
        : EMOJI_CATEGORIES.find((c) => c.id === this.category).label;
    this.heading.textContent = label;

    const entries = this.entries();
    const cells = entries.map((entry, i) => {
      const cell = button('emoji-cell', entry.emoji, entry.name);
      cell.title = entry.codes.length ? `${entry.name}  :${entry.codes[0]}:` : entry.name;
      // Roving tabindex: the grid is one Tab stop; arrows move inside it.
      cell.tabIndex = i === 0 ? 0 : -1;
      cell.addEventListener('click', () => this.pick(entry.emoji));
      return cell;
    });
    this.grid.replaceChildren(...cells);
    this.empty.hidden = cells.length > 0;
    this.empty.textContent = this.category === RECENT.id && !query ? 'Nothing yet: the emoji you use will appear here.' : 'No emoji found.';
  }

  pick(emoji) {
    prefs.noteEmojiUsed(emoji);
    const target = this.target;
    this.close(!target); // a reaction's onPick puts the focus back itself
    (target?.onPick ?? this.onPick)(emoji);
  }

  focusCell(index) {
    const cells = [...this.grid.children];
    if (cells.length === 0) return;
    const i = Math.max(0, Math.min(cells.length - 1, index));
    cells.forEach((cell, j) => (cell.tabIndex = j === i ? 0 : -1));
    cells[i].focus();
  }

  moveInGrid(event) {
    const cells = [...this.grid.children];
    const at = cells.indexOf(document.activeElement);
    if (at < 0) return;
    // How many emoji fit in a row: count the cells on the first row.
    const columns = Math.max(1, cells.filter((c) => c.offsetTop === cells[0].offsetTop).length);
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns };
    if (event.key in moves) {
      event.preventDefault();
      if (event.key === 'ArrowUp' && at < columns) this.search.focus();
      else this.focusCell(at + moves[event.key]);
    } else if (event.key === 'Home') {
      event.preventDefault();
      this.focusCell(0);
    } else if (event.key === 'End') {
      event.preventDefault();
      this.focusCell(cells.length - 1);
    }
  }
}

// ================================================================================
// :shortcode: completion
// ================================================================================

const MAX_SUGGESTIONS = 6;
// A shortcode starts after whitespace (or at the start), so "12:30" and
// "http://x:80" are left alone.
const PARTIAL = /(^|\s):([a-z0-9_+-]{2,})$/i;
const COMPLETE = /(^|\s):([a-z0-9_+-]+):$/i;

/** Up to six { emoji, code } whose code starts with (then contains) `query`. */
export function suggest(query) {
  const q = query.toLowerCase();
  const starts = [];
  const contains = [];
  const seen = new Set();
  for (const entry of ALL_EMOJI) {
    for (const code of entry.codes) {
      if (seen.has(entry.emoji)) break;
      if (code.startsWith(q)) starts.push({ emoji: entry.emoji, code });
      else if (code.includes(q)) contains.push({ emoji: entry.emoji, code });
      else continue;
      seen.add(entry.emoji);
    }
  }
  return [...starts, ...contains].slice(0, MAX_SUGGESTIONS);
}

export class ShortcodeCompleter extends SuggestionList {
  /**
   * @param {HTMLTextAreaElement} input
   * @param {HTMLElement} listbox  an empty, hidden <ul role="listbox">
   */
  constructor(input, listbox) {
    super(input, listbox, 'shortcode-option');
    this.query = ''; // the code being typed after the ":"
  }

  /** Call on every `input` event of the composer. */
  update() {
    const caret = this.input.selectionStart;
    if (caret !== this.input.selectionEnd) return this.close();
    const before = this.input.value.slice(0, caret);

    // A complete code that we know: swap it for the emoji straight away.
    const complete = before.match(COMPLETE);
    if (complete && BY_SHORTCODE.has(complete[2].toLowerCase())) {
      const emoji = BY_SHORTCODE.get(complete[2].toLowerCase());
      this.close();
      prefs.noteEmojiUsed(emoji);
      insertText(this.input, emoji, caret - complete[2].length - 2, caret);
      return undefined;
    }

    const partial = before.match(PARTIAL);
    if (!partial) return this.close();
    this.query = partial[2];
    return this.show(suggest(partial[2]), caret - partial[2].length - 1);
  }

  /** Is the caret still just after the ":code" the list was opened for? */
  stillTyping() {
    const { selectionStart: caret, selectionEnd } = this.input;
    const partial = caret === selectionEnd ? this.input.value.slice(0, caret).match(PARTIAL) : null;
    return partial?.[2] === this.query && caret - partial[2].length - 1 === this.start;
  }

  fill(li, item) {
    const emoji = document.createElement('span');
    emoji.className = 'shortcode-emoji';
    emoji.textContent = item.emoji;
    li.append(emoji, ` :${item.code}:`);
  }

  choose(item) {
    prefs.noteEmojiUsed(item.emoji);
    insertText(this.input, item.emoji, this.start, this.input.selectionStart);
  }
}
