// divider.test.mjs — "New since you left": coming back to a room (from
// another room, from another tab, or on a later visit) puts a labelled line
// before the first message you had not read. It stays put while you read,
// goes when you come back with nothing new, never sits above your own
// messages, and the message under it starts a new group.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let alice;
let bob;

before(async () => ({ server, browser, alice, bob } = await t.twoUsers()));
after(() => t.shutDown(browser, server));

async function joinRoom(page, room) {
  await page.fill('#join-input', room);
  await page.press('#join-input', 'Enter');
  await t.waitJoined(page, room);
}

const openRoom = async (page, room) => {
  await page.click(`.room-button[data-room-key="${room}"]`);
  await page.waitForSelector(`ol.messages[data-room-key="${room}"]:not([hidden])`);
};

/**
 * The divider in a room's list: its label (the separator's accessible name
 * and its text) and the text of the first message after it (past a day
 * separator), or null when there is none.
 */
function divider(page, room = 'lobby') {
  return page.evaluate((key) => {
    const list = document.querySelector(`ol.messages[data-room-key="${key}"]`);
    const found = list.querySelectorAll(':scope > li.unread-divider');
    if (found.length === 0) return null;
    const li = found[0];
    const separator = li.querySelector('[role="separator"]');
    let next = li.nextElementSibling;
    while (next && !next.classList.contains('message')) next = next.nextElementSibling;
    return {
      count: found.length,
      label: separator?.getAttribute('aria-label'),
      text: li.textContent,
      visible: li.getBoundingClientRect().height > 0,
      before: next?.querySelector('.text').textContent,
      beforeGrouped: next?.classList.contains('grouped'),
      beforeAuthorShown: next ? getComputedStyle(next.querySelector('.author')).position !== 'absolute' : null,
    };
  }, room);
}

test('switching back to a room with new messages shows the line before the first one; it stays while you read', async () => {
  await t.send(bob.page, 'lobby before you left');
  await t.waitForMessage(alice.page, 'lobby before you left');
  await joinRoom(alice.page, 'side'); // alice now looks at #side

  await t.send(bob.page, 'lobby while you were in side');
  await t.send(bob.page, 'lobby second new one');
  await t.waitForMessage(alice.page, 'lobby second new one');
  assert.equal(await divider(alice.page), null, 'no line in a room you have not come back to yet');

  await openRoom(alice.page, 'lobby');
  const shown = await divider(alice.page);
  assert.equal(shown?.count, 1);
  assert.equal(shown.label, 'New since you left');
  assert.equal(shown.text, 'New since you left');
  assert.ok(shown.visible);
  assert.equal(shown.before, 'lobby while you were in side');
  // bob's lines would be one group, but the line splits it: his name shows again under it.
  assert.equal(shown.beforeGrouped, false);
  assert.equal(shown.beforeAuthorShown, true);

  // New messages while you look go below it; the line does not move.
  await t.send(bob.page, 'lobby while you read');
  await t.waitForMessage(alice.page, 'lobby while you read');
  assert.equal((await divider(alice.page))?.before, 'lobby while you were in side');

  // Away and back with nothing new: the line is gone, and bob's lines group again.
  await openRoom(alice.page, 'side');
  await openRoom(alice.page, 'lobby');
  assert.equal(await divider(alice.page), null);
  const grouped = await alice.page.$eval('ol.messages[data-room-key="lobby"]', (list) =>
    [...list.querySelectorAll('li.message')].find((li) => li.querySelector('.text').textContent === 'lobby while you were in side').classList.contains('grouped'),
  );
  assert.equal(grouped, true);
});

test('your own messages never get the line', async () => {
  await openRoom(alice.page, 'side');
  // alice, from another tab, writes in the lobby while this tab shows #side.
  const otherTab = await alice.context.newPage();
  await otherTab.goto(`${server.url}/r/lobby`);
  await t.waitJoined(otherTab, 'lobby');
  await t.send(otherTab, 'alice from her other tab');
  await t.waitForMessage(alice.page, 'alice from her other tab');
  await otherTab.close();

  await openRoom(alice.page, 'lobby');
  assert.equal(await divider(alice.page), null, 'nothing new from anyone else');

  // Her own line first, then bob's: the line goes above bob's.
  await openRoom(alice.page, 'side');
  const again = await alice.context.newPage();
  await again.goto(`${server.url}/r/lobby`);
  await t.waitJoined(again, 'lobby');
  await t.send(again, 'alice again from the other tab');
  await t.waitForMessage(alice.page, 'alice again from the other tab');
  await again.close();
  await t.send(bob.page, 'bob answers her');
  await t.waitForMessage(alice.page, 'bob answers her');
  await openRoom(alice.page, 'lobby');
  assert.equal((await divider(alice.page))?.before, 'bob answers her');
});

test('coming back to the tab shows the line before what came while it was in the background', async () => {
  await t.setBackground(alice.page, true);
  await t.send(bob.page, 'sent while the tab was hidden');
  await t.waitForMessage(alice.page, 'sent while the tab was hidden');
  await t.setBackground(alice.page, false);
  assert.equal((await divider(alice.page))?.before, 'sent while the tab was hidden');

  // Back to the tab again with nothing new: the line stays where it is.
  await t.setBackground(alice.page, true);
  await t.setBackground(alice.page, false);
  assert.equal((await divider(alice.page))?.before, 'sent while the tab was hidden');
});

test('a later visit shows the line where you stopped reading last time', async () => {
  await t.send(bob.page, 'read before leaving');
  await t.waitForMessage(alice.page, 'read before leaving');
  await alice.page.goto('about:blank'); // alice closes the chat

  await t.send(bob.page, 'written while alice was gone');
  await t.send(bob.page, 'and one more');

  await alice.page.goto(`${server.url}/r/lobby`);
  await t.waitJoined(alice.page, 'lobby');
  await t.waitForMessage(alice.page, 'and one more');
  const shown = await divider(alice.page);
  assert.equal(shown?.before, 'written while alice was gone');
  assert.equal(shown.count, 1);
  assert.deepEqual(await t.axeViolations(alice.page), []);
  await t.screenshot(alice.page, 'divider-desktop');
  await alice.page.setViewportSize(t.PHONE);
  await t.screenshot(alice.page, 'divider-phone');
  await alice.page.setViewportSize(t.DESKTOP);

  // A reload right away: everything was read, so no line.
  await alice.page.reload();
  await t.waitJoined(alice.page, 'lobby');
  await t.waitForMessage(alice.page, 'and one more');
  assert.equal(await divider(alice.page), null);
});

test('leaving a room and joining it again later is a return visit too', async () => {
  await joinRoom(alice.page, 'garden');
  await joinRoom(bob.page, 'garden');
  await t.send(bob.page, 'garden before alice leaves');
  await t.waitForMessage(alice.page, 'garden before alice leaves', 'garden');
  await alice.page.click('.leave-button[aria-label="Leave #garden"]');
  await alice.page.waitForSelector('ol.messages[data-room-key="garden"]', { state: 'detached' });
  await t.send(bob.page, 'garden after alice left');
  await joinRoom(alice.page, 'garden');
  await t.waitForMessage(alice.page, 'garden after alice left', 'garden');
  assert.equal((await divider(alice.page, 'garden'))?.before, 'garden after alice left');
  await openRoom(alice.page, 'lobby');
});

test('a returning visitor with many new messages sees the line on screen', async () => {
  await alice.page.goto('about:blank');
  await t.postFromPage(bob.page, 'lobby', Array.from({ length: 40 }, (_, i) => `backlog line ${i + 1}`));
  await alice.page.goto(`${server.url}/r/lobby`);
  await t.waitJoined(alice.page, 'lobby');
  await t.waitForMessage(alice.page, 'backlog line 40');
  const shown = await divider(alice.page);
  assert.equal(shown?.before, 'backlog line 1');
  const inView = await alice.page.evaluate(() => {
    const box = document.querySelector('li.unread-divider').getBoundingClientRect();
    const scroller = document.getElementById('scroller').getBoundingClientRect();
    return box.top >= scroller.top && box.bottom <= scroller.bottom ? true : JSON.stringify({ box, scroller, top: document.getElementById('scroller').scrollTop, h: document.getElementById('scroller').scrollHeight });
  });
  assert.equal(inView, true, 'the line is scrolled into view instead of sitting above the top');
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
