// names.test.mjs — the server alone judges names and rooms; the pages keep no
// copy of its rules. A name any script spells, however many UTF-16 units its
// characters take and however its accents are typed, gets in through the
// login form and the join form alike, and a name the server refuses comes
// back with the server's own reason.
//
// Why it matters: an HTML `maxlength` counts UTF-16 units, not characters,
// and a page's own list of allowed characters lags the server's. Either one
// refuses, in the page, names the server takes.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let alice;

before(async () => {
  server = await t.startServer();
  browser = await t.launchBrowser();
});
after(() => t.shutDown(browser, server));

/**
 * `count` letters of Adlam, the script Fulani is written in. Each is one
 * character to the server and two UTF-16 units to the browser.
 */
const adlam = (count) => String.fromCodePoint(...Array.from({ length: count }, (_, i) => 0x1e922 + (i % 30)));

test('a name and a room within the server\'s limits in characters get in through the login form', async () => {
  // 20 characters (the limit is 24) but 40 UTF-16 units; 40 characters for
  // the room (the limit is 64) but 80 units.
  const name = adlam(20);
  const room = adlam(40);
  alice = await t.login(browser, server, name, room);
  assert.equal(await alice.page.textContent('#room-name'), `#${room}`);
  const members = await alice.page.$$eval('#members-list .member-name', (n) => n.map((x) => x.textContent));
  assert.deepEqual(members, [name]);
});

test('the join form takes what the server takes: accents typed apart, virama, long names in any script', async () => {
  // "Jose" + COMBINING ACUTE ACCENT: the server keeps its NFKC form, "José".
  await alice.page.fill('#join-input', 'Jose\u0301');
  await alice.page.press('#join-input', 'Enter');
  await t.waitJoined(alice.page, 'José');
  assert.equal(await alice.page.textContent('#room-name'), '#José');
  for (const room of ['प्रिया', adlam(64)]) {
    await alice.page.fill('#join-input', room);
    await alice.page.press('#join-input', 'Enter');
    await t.waitJoined(alice.page, room);
    assert.equal(await alice.page.textContent('#room-name'), `#${room}`);
  }
  const rooms = await alice.page.$$eval('.room-button .room-label', (n) => n.map((x) => x.textContent));
  assert.deepEqual(rooms, [adlam(40), 'José', 'प्रिया', adlam(64)]);
});

test('a room name the server refuses shows its reason and leaves no room behind', async () => {
  // U+200B ZERO WIDTH SPACE: the server refuses invisible characters, and says so.
  await alice.page.fill('#join-input', 'hid\u200bden');
  await alice.page.press('#join-input', 'Enter');
  await alice.page.waitForFunction(() => /invisible/.test(document.getElementById('notice-text')?.textContent));
  assert.match(await alice.page.textContent('#notice-text'), /U\+200B/);
  await alice.page.waitForFunction(() => document.querySelectorAll('.room-button').length === 4);
  assert.doesNotMatch(await alice.page.textContent('#room-name'), /hid/);
  assert.equal(await alice.page.locator('ol.messages').count(), 4);
  // Longer than hello's max_room_chars: the page says so before asking.
  await alice.page.fill('#join-input', adlam(65));
  await alice.page.press('#join-input', 'Enter');
  assert.match(await alice.page.textContent('#join-error'), /65 characters long; a room name has at most 64/);
  assert.equal(await alice.page.locator('.room-button').count(), 4);
});

test('a name the server refuses comes back on the login form with its reason', async () => {
  const visitor = await t.newPage(browser);
  await visitor.page.goto(`${server.url}/`);
  // 25 characters, one over the limit (but 50 UTF-16 units: no maxlength cuts it short).
  await visitor.page.fill('#name', adlam(25));
  await visitor.page.fill('#room', 'lobby');
  await Promise.all([visitor.page.waitForLoadState('load'), visitor.page.click('button[type="submit"]')]);
  await visitor.page.waitForFunction(() => document.getElementById('login-error')?.textContent.trim() !== '');
  assert.match(await visitor.page.textContent('#login-error'), /25 characters long; the limit is 24/);
  assert.deepEqual(visitor.errors, []);
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
});
