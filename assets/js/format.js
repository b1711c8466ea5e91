// format.js — what a message's text means: the little markup people type
// to share code and stress a word, links, and @mentions of you. It only
// reads the text and returns a plain tree of objects; text.js turns the tree
// into DOM nodes. Nothing here touches the page, so every rule can be read
// (and tried in a console) on its own.
//
// The syntax, close to what Discord, Slack and GitHub accept:
//
//   ```lang        a fenced code block: at the start of a line, up to the
//   code            next ```; an optional language word right after the
//   ```             opening fence. Shown in monospace, whitespace kept.
//   `code`         inline code (two backticks, ``a ` b``, when the code has one)
//   *bold* **bold** bold
//   _italic_       italic
//   ~~strike~~     struck through
//   https://…      a link (as before)
//
// Inside code nothing is markup: `**x**` shows the stars. A message's text
// is still the plain text the user typed (that is what the server stores and
// sends, and what clients that do not render markup show); the markup only
// changes how this page draws it.
//
// Stars and underscores are common in text that is not markup (snake_case,
// 2*3*4, "a * b"), so a delimiter only counts when it is "flanking" a word
// the way people write emphasis: an opening * or _ is not glued to a letter
// or digit before it and has no space after it; a closing one has no space
// before it and no letter or digit after it; both on one line. Runs of other
// lengths (***, __, ~) are plain text.

// --- links and mentions: the pieces that are never split --------------------

// A URL runs until whitespace or a character that cannot be in one.
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"`]+/giu;
// Punctuation at the end of a URL is usually the sentence's, not the link's:
// "see https://example.com." Closing brackets too, unless the URL opened one
// (Wikipedia links such as .../Rust_(programming_language)). A * or _ at the
// end closes emphasis around the link: "*see https://example.com*".
const TRAILING = /[.,;:!?'\]}>*_~]$/u;

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

/** A pattern for "@name", not followed by more name characters. Case does not matter. */
export function mentionPattern(me) {
  return new RegExp(`@${escapeRegExp(me)}(?![\\p{L}\\p{N}_-])`, 'giu');
}

// --- fenced code blocks -------------------------------------------------------

const FENCE = '```';
// The word after an opening fence: "js", "c++", "c#", "objective-c", or none.
const LANGUAGE = /^[\p{L}\p{N}_+#.-]{0,32}[ \t]*$/u;

/** Where the next fence at the start of a line is, from `from` on (-1: none). */
function fenceAtLineStart(text, from) {
  for (let at = text.indexOf(FENCE, from); at >= 0; at = text.indexOf(FENCE, at + 1)) {
    if (at === 0 || text[at - 1] === '\n') return at;
  }
  return -1;
}

/**
 * Split the text into code blocks and the text between them:
 * [{ type: 'lines', text }, { type: 'codeBlock', language, text }, …].
 * A fence that is never closed is just text.
 */
function splitBlocks(text) {
  const parts = [];
  let done = 0; // the text before this is in `parts`
  let from = 0;
  for (;;) {
    const open = fenceAtLineStart(text, from);
    if (open < 0) break;
    const close = text.indexOf(FENCE, open + FENCE.length);
    if (close < 0) break;
    let code = text.slice(open + FENCE.length, close);
    let language = '';
    const newline = code.indexOf('\n');
    if (newline >= 0 && LANGUAGE.test(code.slice(0, newline))) {
      language = code.slice(0, newline).trim();
      code = code.slice(newline + 1);
    }
    if (code.endsWith('\n')) code = code.slice(0, -1); // the closing fence's own line
    if (code.trim() === '') {
      from = close + FENCE.length; // ``` ``` with nothing inside stays text
      continue;
    }
    // The block is a box of its own: the line breaks around the fences are
    // its edges, not empty lines.
    let before = text.slice(done, open);
    if (before.endsWith('\n')) before = before.slice(0, -1);
    if (before) parts.push({ type: 'lines', text: before });
    parts.push({ type: 'codeBlock', language, text: code });
    done = close + FENCE.length;
    if (text[done] === '\n') done += 1;
    from = done;
  }
  if (done < text.length) parts.push({ type: 'lines', text: text.slice(done) });
  return parts;
}

// --- inline: code spans, links, mentions, then emphasis ---------------------------

/**
 * The text as a list of "cells": one string per character, and one object
 * per piece that markup cannot reach into (a code span, a link, a mention).
 * Emphasis is then found over the cells, so "*see `x`*" is bold code and a
 * star inside a link or code never counts.
 */
function toCells(text, me) {
  const cells = [];
  const pushText = (s) => {
    for (const ch of s) cells.push(ch); // by code point: emoji stay whole
  };
  for (const piece of codeSpans(text)) {
    if (typeof piece === 'string') {
      for (const part of linksAndMentions(piece, me)) {
        if (typeof part === 'string') pushText(part);
        else cells.push(part);
      }
    } else {
      cells.push(piece);
    }
  }
  return cells;
}

/**
 * `code` spans: a run of backticks up to the next run of the same length on
 * the same line. As in Markdown, ``a ` b`` holds a backtick, and one space
 * on each side is padding (`` `x` `` is "`x`"). A run with no partner is text.
 */
function codeSpans(text) {
  const out = [];
  let done = 0;
  let at = text.indexOf('`');
  while (at >= 0) {
    let run = 1;
    while (text[at + run] === '`') run += 1;
    const closing = findRun(text, '`', run, at + run);
    if (closing < 0) {
      at = text.indexOf('`', at + run);
      continue;
    }
    let code = text.slice(at + run, closing);
    if (code.length > 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim() !== '') code = code.slice(1, -1);
    if (code.trim() === '') {
      at = text.indexOf('`', closing + run);
      continue;
    }
    if (at > done) out.push(text.slice(done, at));
    out.push({ type: 'code', text: code });
    done = closing + run;
    at = text.indexOf('`', done);
  }
  if (done < text.length) out.push(text.slice(done));
  return out;
}

/** The next run of exactly `length` `char`s from `from`, on the same line (-1: none). */
function findRun(text, char, length, from) {
  for (let i = from; i < text.length; i += 1) {
    if (text[i] === '\n') return -1;
    if (text[i] !== char) continue;
    let run = 1;
    while (text[i + run] === char) run += 1;
    if (run === length) return i;
    i += run - 1;
  }
  return -1;
}

/** Links, then @mentions of `me` in the text between them. */
function linksAndMentions(text, me) {
  const out = [];
  let done = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = trimUrl(match[0]);
    let href;
    try {
      href = new URL(url).href; // throws on nonsense such as "http://"
    } catch {
      continue;
    }
    out.push(...mentionsIn(text.slice(done, match.index), me));
    out.push({ type: 'link', url, href });
    done = match.index + url.length;
  }
  out.push(...mentionsIn(text.slice(done), me));
  return out;
}

function mentionsIn(text, me) {
  if (!text) return [];
  if (!me) return [text];
  const out = [];
  let done = 0;
  for (const match of text.matchAll(mentionPattern(me))) {
    if (match.index > done) out.push(text.slice(done, match.index));
    out.push({ type: 'mention', text: match[0] });
    done = match.index + match[0].length;
  }
  if (done < text.length) out.push(text.slice(done));
  return out;
}

// The delimiters: which character, how many, and what they make.
const DELIMITERS = { '*': { 1: 'strong', 2: 'strong' }, _: { 1: 'em' }, '~': { 2: 's' } };

const isWord = (cell) => typeof cell === 'string' && /[\p{L}\p{N}]/u.test(cell);
const isSpace = (cell) => cell === undefined || (typeof cell === 'string' && /\s/u.test(cell));

function runLength(cells, at) {
  let run = 1;
  while (cells[at + run] === cells[at]) run += 1;
  return run;
}

/** Where the emphasis opened at `open` (a run of `run` cells) closes, or -1. */
function findCloser(cells, open, run, end) {
  const char = cells[open];
  for (let i = open + run + 1; i < end; i += 1) {
    if (cells[i] === '\n') return -1;
    if (cells[i] !== char) continue;
    const length = runLength(cells, i);
    if (length === run && !isSpace(cells[i - 1]) && !isWord(cells[i + length]) && i + length <= end) return i;
    i += length - 1;
  }
  return -1;
}

/** Emphasis over cells[start, end), as a list of inline nodes. */
function inline(cells, start, end) {
  const nodes = [];
  let text = '';
  const flush = () => {
    if (text) nodes.push({ type: 'text', text });
    text = '';
  };
  let i = start;
  while (i < end) {
    const cell = cells[i];
    if (typeof cell !== 'string') {
      flush();
      nodes.push(cell);
      i += 1;
      continue;
    }
    const kinds = DELIMITERS[cell];
    if (kinds && cells[i - 1] !== cell) {
      const run = Math.min(runLength(cells, i), end - i);
      const tag = kinds[run];
      const opens = tag && !isWord(cells[i - 1]) && !isSpace(cells[i + run]);
      const close = opens ? findCloser(cells, i, run, end) : -1;
      if (close >= 0) {
        flush();
        nodes.push({ type: tag, children: inline(cells, i + run, close) });
        i = close + run;
        continue;
      }
      text += cell.repeat(run); // not markup: the whole run is text
      i += run;
      continue;
    }
    text += cell;
    i += 1;
  }
  flush();
  return nodes;
}

// --- the whole message -----------------------------------------------------------

/**
 * A message's text as a tree. The top level is a list of inline nodes and
 * code blocks:
 *   { type: 'codeBlock', language, text }
 *   { type: 'text', text }  { type: 'code', text }  { type: 'link', url, href }
 *   { type: 'mention', text }  { type: 'strong' | 'em' | 's', children: [...] }
 * Concatenating the text of the leaves gives back what is shown, never
 * more than the user typed.
 */
export function parseMessage(text, me) {
  const out = [];
  for (const part of splitBlocks(String(text))) {
    if (part.type === 'codeBlock') {
      out.push(part);
    } else {
      const cells = toCells(part.text, me);
      out.push(...inline(cells, 0, cells.length));
    }
  }
  return out;
}

/** Does the tree hold a mention (outside code, where it would be highlighted)? */
export function hasMention(nodes) {
  return nodes.some((node) => node.type === 'mention' || (node.children && hasMention(node.children)));
}
