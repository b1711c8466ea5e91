// rooms.test.mjs — several rooms on one page: each room keeps its own
// history and unread count; the sidebar shows unread badges; the address
// follows the room (/r/<room>) and back/forward switch rooms; a room can be
// left; the server alone judges a typed room name, and a look-alike of a
// room's name opens that room; a shared room link brings a logged-out
// visitor through the login form into that room.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let alice;
let bob;

before(async () => ({ server, browser, alice, bob } = await t.twoUsers()));
after(() => t.shutDown(browser, server));

/** Join a room through the sidebar's form. */
async function joinRoom(page, room) {
  await page.fill('#join-input', room);
  await page.press('#join-input', 'Enter');
  await t.waitJoined(page, room);
}

const badge = (page, room) =>
  page.evaluate((key) => document.querySelector(`.room-button[data-room-key="${key}"] .badge`)?.textContent ?? null, room);
const visibleRoom = (page) => page.evaluate(() => document.querySelector('ol.messages:not([hidden])').dataset.roomKey);

test('joining a room by name switches to it and changes the address', async () => {
  await joinRoom(alice.page, 'kitchen');
  assert.match(alice.page.url(), /\/r\/kitchen$/);
  assert.equal(await alice.page.textContent('#room-name'), '#kitchen');
  assert.equal(await alice.page.title(), '#kitchen · natter');
  assert.equal(await visibleRoom(alice.page), 'kitchen');
  const rooms = await alice.page.$$eval('.room-button .room-label', (n) => n.map((x) => x.textContent));
  assert.deepEqual(rooms, ['lobby', 'kitchen']);
});

test('each room keeps its own history and unread count', async () => {
  // bob talks in the lobby while alice looks at the kitchen.
  await t.send(bob.page, 'lobby news');
  await t.waitForMessage(alice.page, 'lobby news', 'lobby');
  await alice.page.waitForFunction(() => document.title === '(1) #kitchen · natter');
  assert.equal(await badge(alice.page, 'lobby'), '1');
  assert.equal(await badge(alice.page, 'kitchen'), null);

  // bob joins the kitchen too (spelled differently: rooms ignore case).
  await joinRoom(bob.page, 'Kitchen');
  assert.equal(await bob.page.textContent('#room-name'), '#kitchen');
  await t.send(bob.page, 'kitchen news');
  await t.waitForMessage(alice.page, 'kitchen news', 'kitchen');
  assert.equal(await badge(alice.page, 'kitchen'), null, 'the room on screen has nothing unread');

  assert.deepEqual(await t.messageTexts(alice.page, 'kitchen'), ['kitchen news']);
  assert.ok(!(await t.messageTexts(alice.page, 'lobby')).includes('kitchen news'));

  // Switching to the lobby shows its history and clears its badge.
  await alice.page.click('.room-button[data-room-key="lobby"]');
  assert.match(alice.page.url(), /\/r\/lobby$/);
  assert.equal(await visibleRoom(alice.page), 'lobby');
  assert.equal(await badge(alice.page, 'lobby'), null);
  assert.equal(await alice.page.title(), '#lobby · natter');
  const visible = await alice.page.$$eval('ol.messages:not([hidden]) li.message .text', (n) => n.map((x) => x.textContent));
  assert.ok(visible.includes('lobby news') && !visible.includes('kitchen news'), visible.join(' | '));

  // Now the kitchen collects unread messages instead.
  await t.send(bob.page, 'more kitchen news');
  await t.waitForMessage(alice.page, 'more kitchen news', 'kitchen');
  assert.equal(await badge(alice.page, 'kitchen'), '1');
  assert.equal(await alice.page.title(), '(1) #lobby · natter');
});

test('back and forward switch rooms', async () => {
  await alice.page.goBack();
  await alice.page.waitForFunction(() => document.getElementById('room-name').textContent === '#kitchen');
  assert.equal(await visibleRoom(alice.page), 'kitchen');
  assert.equal(await badge(alice.page, 'kitchen'), null);
  await alice.page.goForward();
  await alice.page.waitForFunction(() => document.getElementById('room-name').textContent === '#lobby');
  assert.equal(await visibleRoom(alice.page), 'lobby');
});

test('a reload keeps the rooms of this tab', async () => {
  await alice.page.reload();
  await t.waitJoined(alice.page, 'lobby');
  await t.waitJoined(alice.page, 'kitchen');
  const rooms = await alice.page.$$eval('.room-button .room-label', (n) => n.map((x) => x.textContent));
  assert.deepEqual(rooms, ['lobby', 'kitchen']);
  await t.waitForMessage(alice.page, 'lobby news', 'lobby');
});

test('leaving a room takes it away', async () => {
  await alice.page.click('.room-button[data-room-key="kitchen"]');
  await alice.page.click('button[aria-label="Leave #kitchen"]');
  await alice.page.waitForFunction(() => document.querySelectorAll('.room-button').length === 1);
  assert.equal(await alice.page.textContent('#room-name'), '#lobby');
  assert.match(alice.page.url(), /\/r\/lobby$/);
  assert.equal(await alice.page.locator('ol.messages[data-room-key="kitchen"]').count(), 0);
  // bob sees alice leave the kitchen's member list.
  await bob.page.click('.room-button[data-room-key="kitchen"]');
  await bob.page.waitForFunction(() => ![...document.querySelectorAll('#members-list .member-name')].some((n) => n.textContent === 'alice'));
});

test('the server judges room names: any script is joined, a refused name comes back with its reason', async () => {
  // The page once refused names the server accepts (a virama is neither a
  // letter nor a digit); now only the server's rules apply.
  await joinRoom(alice.page, 'प्रिया');
  assert.equal(await alice.page.textContent('#room-name'), '#प्रिया');
  // A "#" typed in front is not part of the name.
  await alice.page.fill('#join-input', '#patio');
  await alice.page.press('#join-input', 'Enter');
  await t.waitJoined(alice.page, 'patio');
  assert.equal(await alice.page.textContent('#room-name'), '#patio');
  // A name the server refuses: the room goes again and its message shows.
  for (const [typed, reason] of [['..', /dots/], ['a/b', /letters, digits/]]) {
    await alice.page.fill('#join-input', typed);
    await alice.page.press('#join-input', 'Enter');
    await alice.page.waitForFunction((text) => document.getElementById('notice-text')?.textContent.includes(text), `#${typed}`);
    assert.match(await alice.page.textContent('#notice-text'), reason);
    await alice.page.waitForFunction(() => document.querySelectorAll('.room-button').length === 3);
  }
  const rooms = await alice.page.$$eval('.room-button .room-label', (n) => n.map((x) => x.textContent));
  assert.deepEqual(rooms, ['lobby', 'प्रिया', 'patio']);
  // Only what cannot be wrong is checked before asking: a blank name.
  await alice.page.fill('#join-input', ' # ');
  await alice.page.press('#join-input', 'Enter');
  assert.match(await alice.page.textContent('#join-error'), /Type the name/);
});

test('a look-alike of a room name opens that room, under its own name', async () => {
  // "kіtchen" with a Cyrillic і is #kitchen to the server.
  await alice.page.fill('#join-input', 'k\u0456tchen');
  await alice.page.press('#join-input', 'Enter');
  await t.waitJoined(alice.page, 'kitchen');
  assert.equal(await alice.page.textContent('#room-name'), '#kitchen');
  assert.match(alice.page.url(), /\/r\/kitchen$/);
  await t.waitForMessage(alice.page, 'more kitchen news', 'kitchen');
  // bob is in #lobby already: "L0BBY" is that room, not a new one.
  await bob.page.fill('#join-input', 'L0BBY');
  await bob.page.press('#join-input', 'Enter');
  await bob.page.waitForFunction(() => document.getElementById('room-name').textContent === '#lobby');
  const rooms = await bob.page.$$eval('.room-button .room-label', (n) => n.map((x) => x.textContent));
  assert.deepEqual(rooms, ['lobby', 'kitchen']);
  assert.match(bob.page.url(), /\/r\/lobby$/);
  await t.send(bob.page, 'one lobby');
  await t.waitForMessage(alice.page, 'one lobby', 'lobby');
});

test('a shared room link brings a logged-out visitor into that room', async () => {
  const visitor = await t.newPage(browser);
  await visitor.page.goto(`${server.url}/r/Garden`);
  // Not logged in: the login form, with the room filled in.
  await visitor.page.waitForSelector('#name');
  assert.equal(await visitor.page.inputValue('#room'), 'Garden');
  await visitor.page.fill('#name', 'dave');
  await Promise.all([visitor.page.waitForURL(/\/r\/Garden$/), visitor.page.click('button[type="submit"]')]);
  await t.waitJoined(visitor.page, 'Garden');
  assert.equal(await visitor.page.textContent('#room-name'), '#Garden');
  assert.deepEqual(visitor.errors, []);
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
