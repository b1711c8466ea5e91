// invite.test.mjs — "Copy invite link" copies the link to the room on
// screen (origin + /r/<room>) and says so; where the clipboard API is
// missing, the link shows selected in a read-only field instead; a room
// with no messages yet says how to invite, with the same button, until the
// first message.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let alice;

before(async () => {
  server = await t.startServer();
  browser = await t.launchBrowser();
  alice = await t.login(browser, server, 'alice', 'lobby');
  await alice.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
});
after(() => t.shutDown(browser, server));

const clipboard = (page) => page.evaluate(() => navigator.clipboard.readText());

test('an empty room says how to invite, and its button copies the room link', async () => {
  const { page } = alice;
  // Nobody has said anything in #lobby yet.
  await page.waitForSelector('#empty-room', { state: 'visible' });
  assert.match(await page.textContent('#empty-room'), /No messages in #lobby yet/);
  assert.match(await page.textContent('#empty-room'), /Invite people/);

  await page.click('#empty-room [data-invite]');
  await page.waitForFunction(() => document.querySelector('#empty-room [data-invite]').textContent.includes('Link copied'));
  assert.equal(await clipboard(page), `${server.url}/r/lobby`);

  // The link works: a logged-out visitor who opens it gets the form for that room.
  const visitor = await t.newPage(browser);
  await visitor.page.goto(await clipboard(page));
  await visitor.page.waitForSelector('#name');
  assert.equal(await visitor.page.inputValue('#room'), 'lobby');
  await visitor.context.close();

  // The first message ends the empty state.
  await t.send(page, 'hello, anyone?');
  await t.waitForMessage(page, 'hello, anyone?');
  await page.waitForSelector('#empty-room', { state: 'hidden' });
});

test('the side panel\'s button copies the link to the room on screen', async () => {
  const { page } = alice;
  await page.fill('#join-input', 'Back Garden');
  await page.press('#join-input', 'Enter');
  await t.waitJoined(page, 'Back Garden');
  // A new room: empty, so the hint names it.
  await page.waitForSelector('#empty-room', { state: 'visible' });
  assert.match(await page.textContent('#empty-room-name'), /#Back Garden/);

  await page.click('.sidebar [data-invite]');
  await page.waitForFunction(() => document.querySelector('.sidebar [data-invite]').textContent.includes('Link copied'));
  assert.equal(await clipboard(page), `${server.url}/r/Back%20Garden`);

  // Back in #lobby (it has a message): no hint, and the button copies #lobby's link.
  await page.click('.room-button[data-room-key="lobby"]');
  await page.waitForSelector('#empty-room', { state: 'hidden' });
  await page.click('.sidebar [data-invite]');
  await page.waitForFunction(async (url) => (await navigator.clipboard.readText()) === url, `${server.url}/r/lobby`);
});

test('without the clipboard API the link shows, selected, in a read-only field', async () => {
  const user = await t.login(browser, server, 'bob', 'lobby', {
    initScript: () => Object.defineProperty(navigator, 'clipboard', { configurable: true, value: undefined }),
  });
  const { page } = user;
  await page.click('.sidebar [data-invite]');
  const field = page.locator('.sidebar .invite-field');
  await field.waitFor({ state: 'visible' });
  assert.equal(await field.inputValue(), `${server.url}/r/lobby`);
  assert.equal(await field.getAttribute('readonly'), '');
  const selected = await page.evaluate(() => {
    const el = document.activeElement;
    return el.classList.contains('invite-field') && el.selectionStart === 0 && el.selectionEnd === el.value.length;
  });
  assert.equal(selected, true);
  assert.deepEqual(user.errors, []);
  await user.context.close();
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
});
