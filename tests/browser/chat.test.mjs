// chat.test.mjs — two people talk: messages go both ways with Enter,
// emoji included; what a user types is shown as text and never run; the
// typing indicator appears and goes away on its own.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let alice;
let bob;

before(async () => ({ server, browser, alice, bob } = await t.twoUsers()));
after(() => t.shutDown(browser, server));

test('messages go both ways, sent with Enter, emoji included', async () => {
  await t.send(alice.page, 'hello bob 👋');
  await t.waitForMessage(bob.page, 'hello bob 👋');

  await t.send(bob.page, 'hi alice 🎉🦀');
  await t.waitForMessage(alice.page, 'hi alice 🎉🦀');

  // Each sees both, in the same order, and their own on the "own" side.
  for (const user of [alice, bob]) {
    const texts = await t.messageTexts(user.page);
    assert.deepEqual(texts.slice(-2), ['hello bob 👋', 'hi alice 🎉🦀']);
    const own = await user.page.$$eval('li.message.own[data-id] .author', (n) => n.map((a) => a.textContent));
    assert.ok(own.length > 0 && own.every((name) => name === user.name), `${user.name}'s own messages: ${own}`);
  }

  // The composer is empty again after sending.
  assert.equal(await alice.page.inputValue('#composer-input'), '');
});

test('Shift+Enter adds a line; ↑ in an empty composer edits the last message, Esc cancels', async () => {
  const box = alice.page.locator('#composer-input');
  await box.fill('first line');
  await box.press('Shift+Enter');
  await box.pressSequentially('second line');
  await box.press('Enter');
  await t.waitForMessage(bob.page, 'first line\nsecond line');

  await box.press('ArrowUp');
  assert.equal(await box.inputValue(), 'first line\nsecond line');
  assert.equal(await alice.page.textContent('#compose-bar:not([hidden]) #compose-bar-text'), 'Editing message — Esc to cancel');
  await box.press('Escape');
  assert.equal(await box.inputValue(), '');
  assert.equal(await alice.page.isHidden('#compose-bar'), true);
});

test('HTML in a message is shown literally and runs nothing', async () => {
  const attack = '<img src=x onerror=alert(1)> <script>window.pwned=1</script> <b>bold</b>';
  let dialogs = 0;
  for (const user of [alice, bob]) user.page.on('dialog', (dialog) => { dialogs += 1; dialog.dismiss(); });

  await t.send(bob.page, attack);
  await t.waitForMessage(alice.page, attack);

  for (const user of [alice, bob]) {
    const result = await user.page.evaluate(() => ({
      images: document.querySelectorAll('.messages img').length,
      scripts: document.querySelectorAll('.messages script').length,
      bold: document.querySelectorAll('.messages b').length,
      pwned: window.pwned,
    }));
    assert.deepEqual(result, { images: 0, scripts: 0, bold: 0, pwned: undefined });
  }
  assert.equal(dialogs, 0);
});

test('links become links that open safely', async () => {
  await t.send(bob.page, 'see https://example.com/a?b=1. and javascript:alert(1)');
  await t.waitForMessage(alice.page, 'see https://example.com/a?b=1. and javascript:alert(1)');
  const links = await alice.page.$$eval('.messages a.link', (as) => as.map((a) => ({ href: a.href, rel: a.rel, text: a.textContent })));
  assert.deepEqual(links.at(-1), { href: 'https://example.com/a?b=1', rel: 'noopener noreferrer', text: 'https://example.com/a?b=1' });
  assert.ok(links.every((l) => l.href.startsWith('https://')), 'only http(s) links');
});

test('the typing indicator appears, then goes away on its own', async () => {
  // A few keystrokes: the page sends at most one `typing` every few seconds.
  await bob.page.locator('#composer-input').pressSequentially('I am wri');
  await alice.page.waitForFunction(() => document.getElementById('typing').textContent === 'bob is typing…');
  // bob stops without sending: the line clears itself (after about 5 s).
  await alice.page.waitForFunction(() => document.getElementById('typing').textContent === '', null, { timeout: t.TIMEOUT });
  await bob.page.locator('#composer-input').fill('');
});

test('scrolled up, new messages wait under a "N new messages" pill', async () => {
  for (let i = 1; i <= 25; i += 1) await t.send(bob.page, `filler ${i}`);
  await t.waitForMessage(alice.page, 'filler 25');
  const { page } = alice;
  const atBottom = () => page.evaluate(() => {
    const s = document.getElementById('scroller');
    return s.scrollHeight - s.scrollTop - s.clientHeight < 32;
  });
  assert.equal(await atBottom(), true, 'following the conversation');

  // Read older messages: new ones no longer move the list.
  await page.evaluate(() => { document.getElementById('scroller').scrollTop = 0; });
  await page.waitForFunction(() => document.getElementById('scroller').scrollTop === 0);
  await t.send(bob.page, 'while you read 1');
  await t.send(bob.page, 'while you read 2');
  await t.waitForMessage(page, 'while you read 2');
  await page.waitForSelector('#new-pill:not([hidden])');
  assert.equal(await page.textContent('#new-pill-text'), '2 new messages');
  assert.equal(await page.evaluate(() => document.getElementById('scroller').scrollTop), 0);

  // The pill takes you down and goes away.
  await page.click('#new-pill');
  await page.waitForSelector('#new-pill', { state: 'hidden' });
  await page.waitForFunction(() => {
    const s = document.getElementById('scroller');
    return s.scrollHeight - s.scrollTop - s.clientHeight < 32;
  });
});

test('no script errors on either page', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
