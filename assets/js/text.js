// text.js — the text of a message: links, @mentions of you, and whether a
// message is only emoji (shown large). render.js builds the rest.
//
// A message is plain text. We only ever add three kinds of node to it, each
// built with createElement and textContent: text, <a> for http(s) links, and
// <mark> for an @mention of you. Nothing the user typed is parsed as HTML.

/** document.createElement with a class name and text. */
function el(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

// A URL runs until whitespace or a character that cannot be in one.
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+/giu;
// Punctuation at the end of a URL is usually the sentence's, not the link's:
// "see https://example.com." Closing brackets too, unless the URL opened one
// (Wikipedia links such as .../Rust_(programming_language)).
const TRAILING = /[.,;:!?'\]}>*_]$/u;

function trimUrl(url) {
  let out = url;
  for (;;) {
    if (TRAILING.test(out)) {
      out = out.slice(0, -1);
    } else if (out.endsWith(')') && out.split('(').length < out.split(')').length) {
      out = out.slice(0, -1);
    } else {
      return out;
    }
  }
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A pattern for "@name", not followed by more name characters. */
function mentionPattern(me) {
  return new RegExp(`@${escapeRegExp(me)}(?![\\p{L}\\p{N}_-])`, 'giu');
}

/** Does this text @mention `me`? Case does not matter: "@Alice" and "@alice" both count. */
export function mentions(text, me) {
  return Boolean(me) && mentionPattern(me).test(text);
}

/** Append `text` to `parent`, with @mentions of `me` in <mark>. */
function appendWithMentions(parent, text, me) {
  if (!text) return;
  if (!me) {
    parent.append(text);
    return;
  }
  let last = 0;
  for (const match of text.matchAll(mentionPattern(me))) {
    parent.append(text.slice(last, match.index));
    parent.append(el('mark', 'mention', match[0]));
    last = match.index + match[0].length;
  }
  parent.append(text.slice(last));
}

/** Append a message's text to `parent`: links become <a>, mentions <mark>. */
export function appendRichText(parent, text, me) {
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = trimUrl(match[0]);
    let href;
    try {
      href = new URL(url).href; // throws on nonsense such as "http://"
    } catch {
      continue;
    }
    appendWithMentions(parent, text.slice(last, match.index), me);
    const a = el('a', 'link', url);
    a.href = href;
    a.target = '_blank';
    // noopener: the new tab cannot script this one; noreferrer: the site
    // does not learn which chat room the link was posted in.
    a.rel = 'noopener noreferrer';
    parent.append(a);
    last = match.index + url.length;
  }
  appendWithMentions(parent, text.slice(last), me);
}

// Emoji, skin tones, flags, and the invisible joiners that glue emoji
// sequences together (👩‍💻 is three code points and a joiner).
const EMOJI_ONLY = /^(?:\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|[\u200d\ufe0f\u20e3]|\s)+$/u;
const HAS_EMOJI = /\p{Extended_Pictographic}|\p{Regional_Indicator}/u;

/** "🎉🎉" yes, "nice 🎉" no. Long runs stay normal size. */
export function isEmojiOnly(text) {
  return [...text].length <= 24 && EMOJI_ONLY.test(text) && HAS_EMOJI.test(text);
}
