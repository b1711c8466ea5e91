// format.test.mjs — the markup rules of assets/js/format.js, without a
// browser: the module only reads text and returns a plain tree, so node can
// load it as it is. The browser files (formatting.test.mjs) check what the
// page builds from the tree; this one pins the edge cases of the syntax.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasMention, parseMessage } from '../../assets/js/format.js';

/** The tree as compact text: strong(x) em(x) s(x) code[x] block<lang>[x] link{x} @{x}. */
function show(nodes) {
  return nodes
    .map((n) => {
      switch (n.type) {
        case 'text': return n.text;
        case 'code': return `code[${n.text}]`;
        case 'codeBlock': return `block<${n.language}>[${n.text}]`;
        case 'link': return `link{${n.url}}`;
        case 'mention': return `@{${n.text}}`;
        default: return `${n.type}(${show(n.children)})`;
      }
    })
    .join('');
}
const md = (text, me = 'alice') => show(parseMessage(text, me));

test('emphasis: *bold*, **bold**, _italic_, ~~strike~~, nested', () => {
  assert.equal(md('*a* **b** _c_ ~~d~~'), 'strong(a) strong(b) em(c) s(d)');
  assert.equal(md('*bold _and italic_*'), 'strong(bold em(and italic))');
  assert.equal(md('(*yes*), "_quoted_"'), '(strong(yes)), "em(quoted)"');
});

test('stars and underscores that are not emphasis stay text', () => {
  for (const text of ['snake_case_name', '2*3*4', 'a * b * c', '__init__', '***', 'x *unclosed', 'price 5*', '~one~', '* a*', '*a *', 'a*b*']) {
    assert.equal(md(text), text, text);
  }
  assert.equal(md('*two\nlines*'), '*two\nlines*', 'emphasis stays on one line');
});

test('inline code: literal inside, backticks by a longer run', () => {
  assert.equal(md('`**x** <b>y</b> _z_`'), 'code[**x** <b>y</b> _z_]');
  assert.equal(md('``a ` b``'), 'code[a ` b]');
  assert.equal(md('*see `x`*'), 'strong(see code[x])');
  assert.equal(md('a lone ` stays'), 'a lone ` stays');
  assert.equal(md('`https://example.com`'), 'code[https://example.com]');
});

test('fenced code blocks: language word, whitespace kept, unclosed fences are text', () => {
  assert.equal(md('look:\n```js\n  a  = 1;\n\tb\n```\nafter'), 'look:block<js>[  a  = 1;\n\tb]after');
  assert.equal(md('```\nno language\n```'), 'block<>[no language]');
  assert.equal(md('```one line```'), 'block<>[one line]');
  assert.equal(md('```not a language word\nx\n```'), 'block<>[not a language word\nx]');
  assert.equal(md('```\n**x** <img src=x>\n```'), 'block<>[**x** <img src=x>]');
  assert.equal(md('```\nnever closed'), '```\nnever closed');
  assert.equal(md('text ```inline``` here'), 'text code[inline] here', 'a fence mid-line is inline code');
});

test('links and mentions, outside code only', () => {
  assert.equal(md('hi @alice, see https://example.com/a_b.'), 'hi @{@alice}, see link{https://example.com/a_b}.');
  assert.equal(md('*https://example.com*'), 'strong(link{https://example.com})');
  assert.equal(md('@alicex and @Alice'), '@alicex and @{@Alice}');
  assert.equal(hasMention(parseMessage('ping @alice', 'alice')), true);
  assert.equal(hasMention(parseMessage('`@alice`', 'alice')), false);
  assert.equal(hasMention(parseMessage('```\n@alice\n```', 'alice')), false);
  assert.equal(md('no one @alice', ''), 'no one @alice');
});
