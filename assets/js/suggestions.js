// suggestions.js — a list of suggestions under the composer while you type
// something it can complete: the :shortcode: list (emoji.js) and the
// @mention list (mentions.js) are both one of these.
//
// It is the ARIA "combobox with a listbox" pattern, done by hand: the
// textarea keeps the focus and points at the highlighted option with
// aria-activedescendant, so a screen reader reads the option while you keep
// typing. ↑/↓ move (wrapping round), Enter or Tab take the highlighted one,
// Esc closes and keeps what you typed, a click takes one too.
//
// A subclass says what to offer and what taking one does:
//   update()         on every `input` event: call show(items, start) or close()
//   fill(li, item)   put one item's content into its <li>
//   choose(item)     the item was taken: insert it
// and, optionally, stillTyping(): false once the caret has left what the
// list was opened for (End, Home, a click move it without an `input`
// event), so that a stale list neither takes a key nor replaces text.

export class SuggestionList {
  /**
   * @param {HTMLTextAreaElement} input
   * @param {HTMLElement} listbox  an empty, hidden <ul role="listbox">
   * @param {string} optionClass   the class of each <li>
   */
  constructor(input, listbox, optionClass) {
    this.input = input;
    this.listbox = listbox;
    this.optionClass = optionClass;
    this.items = [];
    this.active = 0;
    this.start = 0; // where what is being completed starts in the text
    // One textarea may control several lists: name them all.
    const controls = new Set((input.getAttribute('aria-controls') ?? '').split(/\s+/).filter(Boolean));
    controls.add(listbox.id);
    input.setAttribute('aria-controls', [...controls].join(' '));
    input.setAttribute('aria-autocomplete', 'list');
    input.addEventListener('blur', () => this.close());
  }

  isOpen() {
    return !this.listbox.hidden;
  }

  stillTyping() {
    return true;
  }

  /** Offer `items` for the text from `start` to the caret (none: close). */
  show(items, start) {
    this.items = items;
    if (items.length === 0) return this.close();
    this.start = start;
    this.active = 0;
    this.render();
    return undefined;
  }

  render() {
    const options = this.items.map((item, i) => {
      const li = document.createElement('li');
      li.id = `${this.listbox.id}-${i}`;
      li.className = this.optionClass;
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', String(i === this.active));
      this.fill(li, item);
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

  /** Take item `index` (the highlighted one by default). */
  accept(index = this.active) {
    const item = this.items[index];
    const current = this.stillTyping();
    this.close();
    if (item !== undefined && current) this.choose(item);
  }

  /** The composer's keydown calls this; true means "handled, do nothing else". */
  handleKey(event) {
    // keyCode 229: Safari's Enter that ends an input method's composition
    // comes with isComposing false. Either way the key is the IME's.
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
