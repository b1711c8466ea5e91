// drafts.test.mjs — what you half-typed stays with its room: switching rooms
// swaps the composer's text, a reload brings it back, sending clears it, and
// Enter in another room never posts a draft that belongs elsewhere.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let alice;
let bob;

before(async () => {
  server = await t.startServer();
  browser = await t.launchBrowser();
  alice = await t.login(browser, server, 'alice', 'a');
  bob = await t.login(browser, server, 'bob', 'b');
});
after(() => t.shutDown(browser, server));

const composer = (page) => page.inputValue('#composer-input');
const openRoom = (page, room) => page.click(`.room-button[data-room-key="${t.roomKey(room)}"]`);

async function joinRoom(page, room) {
  await page.fill('#join-input', room);
  await page.press('#join-input', 'Enter');
  await t.waitJoined(page, room);
}

test('a draft stays with its room: switching rooms, coming back, reloading', async () => {
  const { page } = alice;
  await joinRoom(page, 'b');
  await openRoom(page, 'a');
  await page.waitForFunction(() => document.querySelector('#room-name').textContent === '#a');

  // Typed (really typed, key by key) in #a, not sent.
  await page.locator('#composer-input').pressSequentially('half a thought for #a');
  await openRoom(page, 'b');
  await page.waitForFunction(() => document.querySelector('#room-name').textContent === '#b');
  assert.equal(await composer(page), '', '#b starts with an empty composer');

  await openRoom(page, 'a');
  await page.waitForFunction(() => document.querySelector('#room-name').textContent === '#a');
  assert.equal(await composer(page), 'half a thought for #a');

  // A reload keeps it (the page comes back in #a, where it was typed).
  await page.reload();
  await t.waitJoined(page, 'a');
  assert.equal(await composer(page), 'half a thought for #a');
  await t.waitJoined(page, 'b');
});

test('Enter in another room does not post the draft of the first', async () => {
  const { page } = alice;
  await openRoom(page, 'b');
  await page.waitForFunction(() => document.querySelector('#room-name').textContent === '#b');
  assert.equal(await composer(page), '');
  await page.locator('#composer-input').press('Enter'); // nothing to send here
  await t.send(page, 'said in #b');
  await t.waitForMessage(bob.page, 'said in #b', 'b');
  assert.deepEqual(await t.messageTexts(bob.page, 'b'), ['said in #b'], 'only what was typed in #b');
  assert.equal(await composer(page), '');
  assert.deepEqual(await t.messageTexts(page, 'a'), [], 'nothing was posted to #a');
});

test('sending clears the draft, also after a reload', async () => {
  const { page } = alice;
  await openRoom(page, 'a');
  await page.waitForFunction(() => document.querySelector('#room-name').textContent === '#a');
  assert.equal(await composer(page), 'half a thought for #a');
  await page.locator('#composer-input').press('Enter');
  await t.waitForMessage(page, 'half a thought for #a', 'a');
  assert.equal(await composer(page), '');
  await page.reload();
  await t.waitJoined(page, 'a');
  assert.equal(await composer(page), '', 'a sent draft does not come back');
});

test('drafts belong to their user: another name in the same browser starts empty', async () => {
  const { page } = alice;
  await page.locator('#composer-input').pressSequentially('alice was here');
  // Log out (it asks first), and log in as carol in the same browser.
  await page.click('#logout-ask');
  await Promise.all([page.waitForURL((url) => !url.pathname.startsWith('/r/')), page.click('#logout-yes')]);
  await logInHere(page, 'carol', 'a');
  assert.equal(await composer(page), '', 'carol does not get alice’s draft');
  // The server keeps a logged-out member's name in the room for its leave
  // grace (4 s) and refuses it to a new login meanwhile: wait until carol
  // sees alice go.
  await page.waitForFunction(() =>
    ![...document.querySelectorAll('#members-list .member-name')].some((n) => n.textContent === 'alice'));

  // And alice gets hers back when she logs in again.
  await page.click('#logout-ask');
  await Promise.all([page.waitForURL((url) => !url.pathname.startsWith('/r/')), page.click('#logout-yes')]);
  await logInHere(page, 'alice', 'a');
  assert.equal(await composer(page), 'alice was here');
});

/** The login form, in this page (this browser's cookies). */
async function logInHere(page, name, room) {
  await page.goto(`${server.url}/`);
  await page.fill('#name', name);
  await page.fill('#room', room);
  await Promise.all([page.waitForURL(/\/r\//), page.click('button[type="submit"]')]);
  await t.waitJoined(page, room);
}

test('a draft follows its room when the server answers a look-alike name with the real one', async () => {
  const { page } = alice;
  await joinRoom(bob.page, 'Book Club');
  await joinRoom(page, 'Book Club');
  await page.fill('#composer-input', 'half typed for the club');
  // "B00k Club" is #Book Club to the server (0 looks like O): the page
  // opens it, then learns its real name and merges the two.
  await page.fill('#join-input', 'B00k Club');
  await page.press('#join-input', 'Enter');
  await page.waitForFunction(() => document.getElementById('room-name').textContent === '#Book Club'
    && document.querySelectorAll('.room-button[data-room-key="b00k club"]').length === 0);
  assert.equal(await composer(page), 'half typed for the club');
  await page.fill('#composer-input', '');
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
