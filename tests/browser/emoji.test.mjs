// emoji.test.mjs — the emoji picker works from the keyboard and inserts
// an emoji; `:shortcode:` completion turns ":tada:" into 🎉 and offers
// suggestions; a message of only emoji is shown larger.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let alice;
let bob;

before(async () => ({ server, browser, alice, bob } = await t.twoUsers()));
after(() => t.shutDown(browser, server));

test('the picker inserts an emoji, by keyboard, and remembers it as recent', async () => {
  const { page } = alice;
  const box = page.locator('#composer-input');
  await box.fill('party ');
  // Open with the keyboard: Tab back from the composer to the 😊 button.
  await box.press('Shift+Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'emoji-toggle');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#emoji-picker:not([hidden])');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'emoji-search');

  // Search by name, go down into the results, pick with Enter.
  await page.keyboard.type('party popper');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'party popper');
  await page.keyboard.press('Enter');

  await page.waitForSelector('#emoji-picker', { state: 'hidden' });
  assert.equal(await box.inputValue(), 'party 🎉');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');

  // Reopen: "Recently used" comes first and holds 🎉. Esc closes.
  await page.click('#emoji-toggle');
  assert.equal(await page.getAttribute('.emoji-tab[aria-pressed="true"]', 'aria-label'), 'Recently used');
  assert.equal(await page.textContent('.emoji-grid button:first-child'), '🎉');
  // Categories: pick one with the mouse, then an emoji from it.
  await page.click('.emoji-tab[aria-label="Animals and nature"]');
  await page.click('.emoji-grid button[aria-label="crab"]');
  assert.equal(await box.inputValue(), 'party 🎉🦀');

  await page.click('#emoji-toggle');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#emoji-picker', { state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');

  await box.press('Enter');
  await t.waitForMessage(bob.page, 'party 🎉🦀');
});

test('a :shortcode: completes as you type', async () => {
  const { page } = alice;
  const box = page.locator('#composer-input');
  await box.fill('');
  await box.pressSequentially('well done :tada:');
  assert.equal(await box.inputValue(), 'well done 🎉');

  // A partial code opens suggestions; Tab takes the highlighted one.
  await box.pressSequentially(' :thumbsu');
  await page.waitForSelector('#shortcode-list:not([hidden]) [role="option"][aria-selected="true"]');
  assert.match(await page.textContent('#shortcode-list [aria-selected="true"]'), /👍/);
  await box.press('Tab');
  assert.equal(await box.inputValue(), 'well done 🎉 👍');
  assert.equal(await page.isHidden('#shortcode-list'), true);

  // Esc closes the suggestions and keeps the text; times like 12:30 are left alone.
  await box.pressSequentially(' at 12:30 :sm');
  await page.waitForSelector('#shortcode-list:not([hidden])');
  await box.press('Escape');
  assert.equal(await page.isHidden('#shortcode-list'), true);
  assert.equal(await box.inputValue(), 'well done 🎉 👍 at 12:30 :sm');

  await box.fill('well done 🎉 👍');
  await box.press('Enter');
  await t.waitForMessage(bob.page, 'well done 🎉 👍');
});

test('a message made only of emoji is shown larger', async () => {
  await t.send(bob.page, '🎉🎉🎉');
  await t.waitForMessage(alice.page, '🎉🎉🎉');
  const sizes = await alice.page.$$eval('.messages li.message[data-id] .text', (nodes) =>
    nodes.map((n) => ({ text: n.textContent, size: parseFloat(getComputedStyle(n).fontSize), big: n.classList.contains('emoji-only') })),
  );
  const only = sizes.find((s) => s.text === '🎉🎉🎉');
  const mixed = sizes.find((s) => s.text === 'well done 🎉 👍');
  assert.ok(only.big && !mixed.big);
  assert.ok(only.size > mixed.size * 1.5, `emoji-only ${only.size}px vs text ${mixed.size}px`);
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
