// formatting.test.mjs — how messages read: code blocks in monospace with the
// whitespace kept and everything in them inert, inline code, bold, italic,
// strike and links built as elements (and no formatting from a lone * or _),
// right-to-left messages, names and composer, times in the browser's locale
// (12-hour in en-US, 24-hour in en-GB), and grouped lines that do not repeat
// the time. Saves screenshots of a formatted conversation, desktop and phone,
// dark and light, under target/screenshots/.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let alice;
let bob;

before(async () => ({ server, browser, alice, bob } = await t.twoUsers()));
after(() => t.shutDown(browser, server));

/** The posted message in the lobby whose shown text contains `shown`, as a locator. */
const messageWith = (page, shown) =>
  page.locator('ol.messages[data-room-key="lobby"] li.message[data-id]').filter({
    has: page.locator('.text', { hasText: shown }),
  });

const CODE = [
  'function greet(name) {',
  '    // <img src=x onerror="window.__pwned = 1"> and **not bold**',
  '\treturn `hi ${name}` + "  two  spaces";',
  '}',
  `const long = "${'x'.repeat(400)}";`,
].join('\n');
const BLOCK_MESSAGE = `Here is the fix:\n\`\`\`js\n${CODE}\n\`\`\`\nDoes it work?`;

test('a fenced code block: monospace, whitespace kept, markup inert, long lines scroll', async () => {
  await t.send(bob.page, BLOCK_MESSAGE);
  const page = alice.page;
  await page.waitForSelector('li.message[data-id] pre.code-block');
  const block = await page.$eval('li.message[data-id] pre.code-block', (pre) => {
    const style = getComputedStyle(pre);
    const text = pre.closest('.text');
    return {
      code: pre.textContent,
      language: pre.querySelector('code')?.dataset.language,
      font: style.fontFamily,
      codeFont: getComputedStyle(pre.querySelector('code')).fontFamily,
      bodyFont: getComputedStyle(text).fontFamily,
      whiteSpace: style.whiteSpace,
      scrolls: pre.scrollWidth > pre.clientWidth,
      elementsInside: pre.querySelectorAll('*').length, // just the <code>
      tabIndex: pre.tabIndex,
      before: text.firstChild.textContent,
      after: text.lastChild.textContent,
      messageRight: pre.closest('li').getBoundingClientRect().right,
      listRight: pre.closest('ol').getBoundingClientRect().right,
    };
  });
  assert.equal(block.code, CODE, 'the code, every space, tab and line, without the fences or the language');
  assert.equal(block.language, 'js');
  assert.match(block.codeFont, /monospace/);
  assert.notEqual(block.codeFont, block.bodyFont, 'code is not in the text font');
  assert.equal(block.whiteSpace, 'pre', 'long lines do not wrap');
  assert.ok(block.scrolls, 'the 400-character line scrolls inside the block');
  assert.ok(block.messageRight <= block.listRight + 1, 'the message stays inside the list');
  assert.equal(block.elementsInside, 1, 'nothing in the code became an element');
  assert.equal(block.tabIndex, 0, 'keyboard users can reach the block to scroll it');
  assert.equal(block.before, 'Here is the fix:');
  assert.equal(block.after, 'Does it work?');
  assert.equal(await page.locator('ol.messages img').count(), 0, 'no <img> was made from the message');
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await t.horizontalOverflow(page), 0, 'the page itself does not scroll sideways');
});

test('inline markup becomes elements; raw HTML and markup inside code stay text', async () => {
  const text = 'ok *bold* and **strong**, _italic_, ~~gone~~, `a **b** <b>c</b>` <b>raw</b> @alice see https://example.com/a_b';
  await t.send(bob.page, text);
  const page = alice.page;
  const li = messageWith(page, 'ok bold');
  await li.waitFor();
  const parts = await li.locator('.text').evaluate((body) => ({
    strong: [...body.querySelectorAll('strong')].map((n) => n.textContent),
    em: [...body.querySelectorAll('em')].map((n) => n.textContent),
    s: [...body.querySelectorAll('s')].map((n) => n.textContent),
    code: [...body.querySelectorAll('code')].map((n) => n.textContent),
    codeFont: getComputedStyle(body.querySelector('code')).fontFamily,
    b: body.querySelectorAll('b').length,
    mark: [...body.querySelectorAll('mark')].map((n) => n.textContent),
    links: [...body.querySelectorAll('a')].map((a) => a.href),
    shown: body.textContent,
    strongWeight: getComputedStyle(body.querySelector('strong')).fontWeight,
    emStyle: getComputedStyle(body.querySelector('em')).fontStyle,
    sLine: getComputedStyle(body.querySelector('s')).textDecorationLine,
  }));
  assert.deepEqual(parts.strong, ['bold', 'strong']);
  assert.deepEqual(parts.em, ['italic']);
  assert.deepEqual(parts.s, ['gone']);
  assert.deepEqual(parts.code, ['a **b** <b>c</b>'], 'markup inside code is literal');
  assert.match(parts.codeFont, /monospace/);
  assert.equal(parts.b, 0, 'a typed <b> is text, not an element');
  assert.deepEqual(parts.mark, ['@alice']);
  assert.deepEqual(parts.links, ['https://example.com/a_b']);
  assert.equal(parts.shown, 'ok bold and strong, italic, gone, a **b** <b>c</b> <b>raw</b> @alice see https://example.com/a_b');
  assert.ok(Number(parts.strongWeight) >= 600);
  assert.equal(parts.emStyle, 'italic');
  assert.equal(parts.sLine, 'line-through');
  // The wire format is the raw text: the message's record keeps every star.
  assert.ok(await li.evaluate((node) => node.classList.contains('mentions-me')));
});

test('a lone * or _ inside words is not formatting', async () => {
  const text = 'snake_case_name and 2*3*4 = 24, a * b * c, file_name.txt, __init__ and 5*';
  await t.send(bob.page, text);
  await t.waitForMessage(alice.page, text);
  const elements = await messageWith(alice.page, 'snake').locator('.text *').count();
  assert.equal(elements, 0, 'plain text only');
});

test('a mention inside code does not count as mentioning you', async () => {
  const text = 'the handle is `@alice` in the config';
  await t.send(bob.page, text);
  const li = messageWith(alice.page, 'the handle');
  await li.waitFor();
  assert.equal(await li.locator('mark').count(), 0);
  assert.equal(await li.evaluate((node) => node.classList.contains('mentions-me')), false);
});

test('right-to-left: a Hebrew name and an Arabic message read right to left, and so does the composer', async () => {
  const sara = await t.login(browser, server, 'שרה');
  const arabic = 'مرحبا بالجميع، كيف حالكم؟';
  await t.send(sara.page, arabic);
  await t.waitForMessage(alice.page, arabic);
  const li = messageWith(alice.page, 'مرحبا');
  const dirs = await li.evaluate((node) => {
    const text = node.querySelector('.text');
    const author = node.querySelector('.author');
    return {
      textDir: text.getAttribute('dir'),
      textDirection: getComputedStyle(text).direction,
      authorDir: author.getAttribute('dir'),
      authorDirection: getComputedStyle(author).direction,
    };
  });
  assert.deepEqual(dirs, { textDir: 'auto', textDirection: 'rtl', authorDir: 'auto', authorDirection: 'rtl' });

  // In the member list, her name runs right to left; "alice" does not.
  await alice.page.waitForFunction(() => [...document.querySelectorAll('.member-name')].some((n) => n.textContent === 'שרה'));
  const members = await alice.page.$$eval('.member-name', (nodes) =>
    Object.fromEntries(nodes.map((n) => [n.textContent, [n.getAttribute('dir'), getComputedStyle(n).direction]])),
  );
  assert.deepEqual(members['שרה'], ['auto', 'rtl']);
  assert.deepEqual(members.alice, ['auto', 'ltr']);

  // An English message stays left to right.
  assert.equal(await messageWith(alice.page, 'snake').locator('.text').evaluate((n) => getComputedStyle(n).direction), 'ltr');

  // The composer follows what you type.
  const box = sara.page.locator('#composer-input');
  assert.equal(await box.getAttribute('dir'), 'auto');
  await box.fill('שלום לכולם');
  assert.equal(await box.evaluate((n) => getComputedStyle(n).direction), 'rtl');
  await box.fill('hello');
  assert.equal(await box.evaluate((n) => getComputedStyle(n).direction), 'ltr');
  assert.deepEqual(sara.errors, []);
  await sara.context.close();
});

test('times follow the browser locale: 12-hour with AM/PM in en-US, 24-hour in en-GB', async () => {
  const us = await t.login(browser, server, 'usa', 'lobby', { locale: 'en-US' });
  const gb = await t.login(browser, server, 'gbr', 'lobby', { locale: 'en-GB' });
  const text = 'what time is it?';
  await t.send(bob.page, text);
  const timeIn = async (user) => {
    await t.waitForMessage(user.page, text);
    return messageWith(user.page, 'what time').locator('.time').textContent();
  };
  const [usTime, gbTime] = [await timeIn(us), await timeIn(gb)];
  assert.match(usTime, /^\d{1,2}:\d{2}\s?(AM|PM)$/i, `en-US shows "${usTime}"`);
  assert.match(gbTime, /^\d{1,2}:\d{2}$/, `en-GB shows "${gbTime}"`);
  await us.context.close();
  await gb.context.close();
});

test('a group of lines by one author shows the time once; the others on hover', async () => {
  // alice has said nothing yet in this file, so her first line starts a group.
  const lines = ['first of three', 'second of three', 'third of three'];
  for (const line of lines) {
    await t.send(alice.page, line);
    await t.waitForMessage(bob.page, line);
  }
  const page = bob.page;
  const items = lines.map((line) => messageWith(page, line));
  const shown = (li) => li.locator('.time').evaluate((n) => getComputedStyle(n).visibility);
  assert.equal(await items[0].evaluate((n) => n.classList.contains('grouped')), false);
  assert.equal(await shown(items[0]), 'visible', 'the first line shows its time');
  for (const li of items.slice(1)) {
    assert.equal(await li.evaluate((n) => n.classList.contains('grouped')), true);
    assert.equal(await shown(li), 'hidden', 'later lines do not repeat it');
  }
  // Still there for whoever wants it: on hover, with the full date as its title.
  await items[2].hover();
  assert.equal(await shown(items[2]), 'visible');
  assert.match(await items[2].locator('.time').getAttribute('title'), /\d{4}/);
  assert.equal(await shown(items[1]), 'hidden');
});

test('screenshots and an accessibility scan of formatted messages, desktop and phone, dark and light', async () => {
  await t.send(alice.page, 'Try `cargo build --release` first, then *restart* the server. ~~Old way~~ _not needed_.');
  await t.waitForMessage(bob.page, 'Try cargo build --release first, then restart the server. Old way not needed.');
  const light = () => {
    try {
      localStorage.setItem('natter.theme', '"light"');
    } catch {
      // no storage: the theme check below fails
    }
  };
  for (const [size, viewport] of [['desktop', t.DESKTOP], ['phone', t.PHONE]]) {
    for (const scheme of ['dark', 'light']) {
      const viewer = await t.login(browser, server, `viewer-${size}-${scheme}`, 'lobby', {
        viewport,
        colorScheme: scheme,
        ...(scheme === 'light' ? { initScript: light } : {}),
      });
      await viewer.page.waitForSelector('li.message[data-id] pre.code-block');
      if (scheme === 'light') assert.equal(await viewer.page.evaluate(() => document.documentElement.dataset.theme), 'light');
      await viewer.page.evaluate(() => {
        const scroller = document.getElementById('scroller');
        const pre = scroller.querySelector('pre.code-block');
        scroller.scrollTop += pre.getBoundingClientRect().top - scroller.getBoundingClientRect().top - 40;
      });
      assert.equal(await t.horizontalOverflow(viewer.page), 0, `${size} ${scheme}: nothing scrolls sideways`);
      assert.deepEqual(await t.axeViolations(viewer.page), [], `${size} ${scheme}`);
      await t.screenshot(viewer.page, `formatting-${size}-${scheme}`);
      assert.deepEqual(viewer.errors, []);
      await viewer.context.close();
    }
  }
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
