// text.js — a message's text in the page: the tree format.js reads out of
// it (code, bold, italic, strike, links, @mentions of you) built as DOM
// nodes, and whether a message is only emoji (shown large). render.js
// builds the rest of a message.
//
// Every node is made with createElement, and every piece of the user's text
// goes in with textContent or as a text node. Nothing the user typed is ever
// parsed as HTML: "<b>hi</b>" shows those characters, in code or not.

import { hasMention, parseMessage } from './format.js';

/** document.createElement with a class name and text. */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Does this text @mention `me`? Case does not matter ("@Alice" and "@alice"
 * both count); a mention inside code or a link does not, because the page
 * does not highlight it there either.
 */
export function mentions(text, me) {
  return Boolean(me) && hasMention(parseMessage(text, me));
}

/** One node of format.js's tree as DOM. */
function build(node) {
  switch (node.type) {
    case 'text':
      return document.createTextNode(node.text);
    case 'mention':
      return el('mark', 'mention', node.text);
    case 'code':
      return el('code', 'code', node.text);
    case 'link': {
      const a = el('a', 'link', node.url);
      a.href = node.href;
      a.target = '_blank';
      // noopener: the new tab cannot script this one; noreferrer: the site
      // does not learn which chat room the link was posted in.
      a.rel = 'noopener noreferrer';
      return a;
    }
    case 'codeBlock': {
      // <pre> keeps every space and line; app.css scrolls long lines sideways
      // instead of wrapping them. tabindex lets keyboard users reach it to
      // scroll. Code reads left to right even inside a right-to-left message.
      const pre = el('pre', 'code-block');
      pre.tabIndex = 0;
      pre.dir = 'ltr';
      const code = el('code', undefined, node.text);
      if (node.language) {
        code.dataset.language = node.language;
        pre.setAttribute('aria-label', `${node.language} code`);
      }
      pre.append(code);
      return pre;
    }
    default: {
      // strong, em, s: the same tag names in HTML.
      const wrapper = document.createElement(node.type);
      for (const child of node.children) wrapper.append(build(child));
      return wrapper;
    }
  }
}

/** Append a message's text to `parent`, with its markup, links and mentions of `me`. */
export function appendRichText(parent, text, me) {
  for (const node of parseMessage(text, me)) parent.append(build(node));
}

// Emoji, skin tones, flags, and the invisible joiners that glue emoji
// sequences together (👩‍💻 is three code points and a joiner).
const EMOJI_ONLY = /^(?:\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|[\u200d\ufe0f\u20e3]|\s)+$/u;
const HAS_EMOJI = /\p{Extended_Pictographic}|\p{Regional_Indicator}/u;

/** "🎉🎉" yes, "nice 🎉" no. Long runs stay normal size. */
export function isEmojiOnly(text) {
  return [...text].length <= 24 && EMOJI_ONLY.test(text) && HAS_EMOJI.test(text);
}
