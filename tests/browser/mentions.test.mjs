// mentions.test.mjs — @mentions: typing "@" and the start of a name offers
// the room's members (you left out), ↑/↓ choose, Enter, Tab or a click
// inserts "@name ", Esc closes (and an input method's Enter is left
// alone); a name with spaces or in another script is
// inserted exactly, so the mention lights up for that person; the
// :shortcode: list and this one are never open together; clicking a
// member in the side panel mentions them. No serious axe violations with
// the list open.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

// A name with a space, and one in Arabic script.
const MARY = 'mary jane';
const SARA = 'سارة';

let server;
let browser;
let alice;
let bob;
let mary;
let sara;

before(async () => {
  ({ server, browser, alice, bob } = await t.twoUsers());
  mary = await t.login(browser, server, MARY);
  sara = await t.login(browser, server, SARA);
  // alice's page knows all four are here.
  await alice.page.waitForFunction(() => document.querySelectorAll('#members-list .member').length === 4);
});
after(() => t.shutDown(browser, server));

const options = (page) => page.$$eval('#mention-list:not([hidden]) [role="option"]', (n) => n.map((x) => x.textContent));
const selected = (page) => page.textContent('#mention-list [aria-selected="true"]');

test('typing "@b" offers bob; Enter inserts "@bob ", and bob sees the mention highlighted', async () => {
  const { page } = alice;
  const box = page.locator('#composer-input');
  await box.fill('');
  await box.pressSequentially('thanks @b');
  await page.waitForSelector('#mention-list:not([hidden])');
  assert.deepEqual(await options(page), ['@bob']);
  // The textarea points at the highlighted option, for screen readers.
  assert.equal(await box.getAttribute('aria-activedescendant'), await page.getAttribute('#mention-list [aria-selected="true"]', 'id'));

  await box.press('Enter'); // takes the suggestion; does not send
  assert.equal(await box.inputValue(), 'thanks @bob ');
  assert.equal(await page.isHidden('#mention-list'), true);
  assert.equal(await box.getAttribute('aria-activedescendant'), null);

  await box.pressSequentially('for the review');
  await box.press('Enter');
  await t.waitForMessage(bob.page, 'thanks @bob for the review');
  const marked = await bob.page.$$eval('ol.messages[data-room-key="lobby"] li.message[data-id] mark.mention', (n) => n.map((x) => x.textContent));
  assert.deepEqual(marked, ['@bob']);
});

test('a list left behind by a moved caret takes no key and replaces nothing', async () => {
  const { page } = alice;
  const box = page.locator('#composer-input');
  await box.fill('Hey , see you');
  await box.evaluate((el) => el.setSelectionRange(4, 4)); // after "Hey "
  await box.pressSequentially('@bo');
  await page.waitForSelector('#mention-list:not([hidden])');
  // End moves the caret away from "@bo" without an input event.
  await box.press('End');
  await box.press('Enter');
  await t.waitForMessage(bob.page, 'Hey @bo, see you');
  assert.equal(await box.inputValue(), '', 'Enter sent the message as typed');
  assert.equal(await page.isHidden('#mention-list'), true);
});

test('"@" alone offers everyone but you; ↑/↓ move, Tab inserts, Esc closes and keeps the text', async () => {
  const { page } = alice;
  const box = page.locator('#composer-input');
  await box.fill('');
  await box.pressSequentially('@');
  await page.waitForSelector('#mention-list:not([hidden])');
  const all = await options(page);
  assert.deepEqual([...all].sort(), ['@bob', `@${MARY}`, `@${SARA}`].sort());
  assert.equal(all.includes('@alice'), false);

  assert.equal(await selected(page), all[0]);
  await box.press('ArrowDown');
  assert.equal(await selected(page), all[1]);
  await box.press('ArrowUp');
  await box.press('ArrowUp'); // wraps round to the last
  assert.equal(await selected(page), all[all.length - 1]);
  await box.press('Tab');
  assert.equal(await box.inputValue(), `${all[all.length - 1]} `);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');

  // Case does not matter; Esc closes the list and leaves what you typed.
  await box.pressSequentially('and @B');
  await page.waitForSelector('#mention-list:not([hidden])');
  assert.deepEqual(await options(page), ['@bob']);
  await box.press('Escape');
  assert.equal(await page.isHidden('#mention-list'), true);
  assert.equal(await box.inputValue(), `${all[all.length - 1]} and @B`);

  // An e-mail address is not a mention.
  await box.fill('');
  await box.pressSequentially('write to bob@b');
  assert.equal(await page.isHidden('#mention-list'), true);
});

test('while an input method is composing, Enter confirms the composition: the suggestion is not taken', async () => {
  const { page } = alice;
  const box = page.locator('#composer-input');
  await box.fill('');
  await box.pressSequentially('@b');
  await page.waitForSelector('#mention-list:not([hidden])');
  // What Chromium sends while Japanese or Chinese input is composing.
  await page.evaluate(() => document.getElementById('composer-input').dispatchEvent(
    new KeyboardEvent('keydown', { key: 'Enter', isComposing: true, bubbles: true, cancelable: true }),
  ));
  assert.equal(await box.inputValue(), '@b');
  assert.equal(await page.isVisible('#mention-list'), true);
  await box.press('Escape');
  await box.fill('');
});

test('names with spaces and in any script are inserted exactly, and light up for their owner', async () => {
  const { page } = alice;
  const box = page.locator('#composer-input');
  await box.fill('');
  // The typed part may hold a space: "@mary j" still finds "mary jane".
  await box.pressSequentially('hello @mary j');
  await page.waitForSelector('#mention-list:not([hidden])');
  assert.deepEqual(await options(page), [`@${MARY}`]);
  await box.press('Enter');
  // A click on a suggestion inserts it too.
  await box.pressSequentially('and @س');
  await page.waitForSelector('#mention-list:not([hidden])');
  // The name is isolated in its own direction (<bdi>): "@سارة" reads right to left.
  assert.equal(await page.textContent('#mention-list [role="option"] bdi'), `@${SARA}`);
  await page.click('#mention-list [role="option"]');
  assert.equal(await box.inputValue(), `hello @${MARY} and @${SARA} `);
  assert.equal(await page.isHidden('#mention-list'), true);
  await box.press('Enter');

  const text = `hello @${MARY} and @${SARA}`;
  await t.waitForMessage(mary.page, text);
  await t.waitForMessage(sara.page, text);
  const markIn = (p) => p.$$eval('ol.messages[data-room-key="lobby"] li.message[data-id] mark.mention', (n) => n.map((x) => x.textContent));
  assert.deepEqual(await markIn(mary.page), [`@${MARY}`]);
  assert.deepEqual(await markIn(sara.page), [`@${SARA}`]);
});

test('the :shortcode: list and the @mention list are never open together', async () => {
  const { page } = alice;
  const box = page.locator('#composer-input');
  await box.fill('');
  await box.pressSequentially('@bo');
  await page.waitForSelector('#mention-list:not([hidden])');
  assert.equal(await page.isHidden('#shortcode-list'), true);
  // A shortcode after the mention: its list opens, the mention list closes.
  await box.pressSequentially(' :thumbsu');
  await page.waitForSelector('#shortcode-list:not([hidden])');
  assert.equal(await page.isHidden('#mention-list'), true);
  await box.press('Tab');
  assert.equal(await box.inputValue(), '@bo 👍');
  // And Enter still sends once no list is open.
  await box.press('Enter');
  await t.waitForMessage(bob.page, '@bo 👍');
});

test('clicking a member in the side panel puts their mention into the composer', async () => {
  const { page } = alice;
  const box = page.locator('#composer-input');
  await box.fill('see');
  await page.click('#members-list [data-mention="bob"]');
  assert.equal(await box.inputValue(), 'see @bob ');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');
  // Your own name is not a button.
  assert.equal(await page.$('#members-list [data-mention="alice"]'), null);
  // From the keyboard too: the name is a button.
  await page.focus(`#members-list [data-mention="${MARY}"]`);
  await page.keyboard.press('Enter');
  assert.equal(await box.inputValue(), `see @bob @${MARY} `);
  await box.fill('');
});

test('clicking a member on a phone closes the drawer and mentions them', async () => {
  const phone = await t.login(browser, server, 'dave', 'lobby', { viewport: t.PHONE });
  const { page } = phone;
  await page.click('#drawer-toggle');
  await page.waitForSelector('#sidebar.open');
  await page.click('#members-list [data-mention="bob"]');
  await page.waitForSelector('#sidebar:not(.open)', { state: 'attached' });
  assert.equal(await page.inputValue('#composer-input'), '@bob ');
  await page.locator('#composer-input').pressSequentially('@m');
  await page.waitForSelector('#mention-list:not([hidden])');
  await t.screenshot(page, 'mentions-phone');
  assert.deepEqual(phone.errors, []);
  await phone.context.close();
});

test('no serious accessibility violations with the list open; screenshots', async () => {
  const { page } = alice;
  const box = page.locator('#composer-input');
  await box.fill('');
  await box.pressSequentially('@');
  await page.waitForSelector('#mention-list:not([hidden])');
  assert.deepEqual(await t.axeViolations(page), []);
  await t.screenshot(page, 'mentions-desktop');
  await page.evaluate(() => { document.documentElement.dataset.theme = 'light'; });
  assert.deepEqual(await t.axeViolations(page), []);
  await t.screenshot(page, 'mentions-desktop-light');
  await box.press('Escape');
});

test('no script errors', () => {
  for (const user of [alice, bob, mary, sara]) assert.deepEqual(user.errors, []);
});
