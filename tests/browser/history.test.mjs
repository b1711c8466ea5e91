// history.test.mjs — stored history from the page's side (issue 6):
// scrolling to the top loads older messages without moving what you are
// reading, and ends at a "beginning of #room" marker; each room pages on
// its own; the side panel's links download the transcript as text and JSON;
// a message the server cannot store (database full) stays pending in the
// page, is retried, and never reaches anyone.

import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';


const ROOM = 'archive';
const TOTAL = 300;
const textOf = (i) => `old message ${String(i).padStart(3, '0')}`;

let server;
let browser;
let alice;
let bob;

before(async () => {
  server = await t.startServer();
  browser = await t.launchBrowser();
  alice = await t.login(browser, server, 'alice', ROOM);
  const texts = Array.from({ length: TOTAL }, (_, i) => textOf(i + 1));
  const { posted, errors } = await t.postFromPage(alice.page, ROOM, texts);
  assert.deepEqual(errors, []);
  assert.equal(posted, TOTAL);
  // bob arrives afterwards: his page starts with the recent history only.
  bob = await t.login(browser, server, 'bob', ROOM, { initScript: t.recordSentFrames });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The ids of the posted messages in a room's list, top to bottom. */
const shownIds = (page, room = ROOM) =>
  page.$$eval(`ol.messages[data-room-key="${room}"] li.message[data-id]`, (items) => items.map((li) => Number(li.dataset.id)));

/**
 * Scroll the list to the very top and, in the same task (before the page can
 * react), note where a message a little further down is on screen.
 */
function scrollToTopAndMeasure(page) {
  return page.evaluate(() => {
    const scroller = document.getElementById('scroller');
    scroller.scrollTop = 0;
    const list = document.querySelector('ol.messages:not([hidden])');
    const watched = list.querySelectorAll('li.message[data-id]')[8];
    return { id: watched.dataset.id, top: watched.getBoundingClientRect().top };
  });
}

const topOf = (page, id) =>
  page.evaluate((wanted) => document.querySelector(`ol.messages:not([hidden]) li.message[data-id="${wanted}"]`).getBoundingClientRect().top, id);

/**
 * Day separators and grouping agree with the messages, whatever order they
 * were added in: a separator before (only) the first item of each day, with
 * that day's key, and a message grouped exactly when the one before it is
 * by the same person less than five minutes earlier.
 */
function layoutProblems(page, room = ROOM) {
  return page.$$eval(`ol.messages[data-room-key="${room}"] > li`, (items) => {
    const pad = (n) => String(n).padStart(2, '0');
    const dayOf = (ts) => {
      const d = new Date(Number(ts));
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
    };
    const problems = [];
    let lastDay = null;
    items.forEach((li, i) => {
      const prev = items[i - 1];
      if (li.classList.contains('day')) {
        const next = items[i + 1];
        if (!next?.dataset.ts || dayOf(next.dataset.ts) !== li.dataset.day) problems.push(`separator ${i} (${li.dataset.day}) is not before its day`);
        return;
      }
      if (!li.dataset.ts) return;
      const day = dayOf(li.dataset.ts);
      const hasSeparator = Boolean(prev?.classList.contains('day'));
      if (hasSeparator !== (day !== lastDay)) problems.push(`item ${i} (id ${li.dataset.id}): separator ${hasSeparator}, new day ${day !== lastDay}`);
      lastDay = day;
      if (li.classList.contains('message')) {
        const shouldGroup = Boolean(
          prev?.classList.contains('message') && !prev.classList.contains('pending') && !prev.classList.contains('failed') &&
            prev.dataset.user === li.dataset.user && Math.abs(Number(li.dataset.ts) - Number(prev.dataset.ts)) < 5 * 60 * 1000,
        );
        if (li.classList.contains('grouped') !== shouldGroup) problems.push(`item ${i} (id ${li.dataset.id}): grouped ${!shouldGroup}`);
      }
    });
    return problems;
  });
}

test('scrolling to the top loads older messages in place, down to the beginning marker', async () => {
  const { page } = bob;
  await t.waitForMessage(page, textOf(TOTAL), ROOM);
  const recent = await shownIds(page);
  assert.equal(recent.length, 200, 'a newcomer gets the recent 200');
  const texts = await t.messageTexts(page, ROOM);
  assert.equal(texts[0], textOf(TOTAL - 199));
  assert.equal(texts.at(-1), textOf(TOTAL));
  const lowest = recent[0];

  // First page: 50 older messages go in above; what was on screen stays put.
  let watched = await scrollToTopAndMeasure(page);
  await page.waitForFunction(([room, n]) => document.querySelectorAll(`ol.messages[data-room-key="${room}"] li.message[data-id]`).length >= n, [ROOM, 250]);
  let moved = Math.abs((await topOf(page, watched.id)) - watched.top);
  assert.ok(moved < 3, `message ${watched.id} moved ${moved}px when older messages loaded`);
  assert.equal(await page.locator('li.beginning').count(), 0, 'no beginning marker while there is more');

  // Second page: the rest, and the marker at the top.
  watched = await scrollToTopAndMeasure(page);
  await page.waitForSelector(`ol.messages[data-room-key="${ROOM}"] li.beginning`);
  moved = Math.abs((await topOf(page, watched.id)) - watched.top);
  assert.ok(moved < 3, `message ${watched.id} moved ${moved}px when the last page loaded`);
  assert.equal(await page.textContent(`ol.messages[data-room-key="${ROOM}"] li.beginning`), `This is the beginning of #${ROOM}`);

  // Every message once, in order, and the marker first in the list.
  const ids = await shownIds(page);
  assert.equal(ids.length, TOTAL);
  assert.equal(new Set(ids).size, TOTAL, 'no id shown twice');
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'in id order');
  assert.equal(ids[0], lowest - 100, 'two pages of 50 came before the recent 200');
  assert.deepEqual(await t.messageTexts(page, ROOM), Array.from({ length: TOTAL }, (_, i) => textOf(i + 1)));
  assert.equal(await page.evaluate((room) => document.querySelector(`ol.messages[data-room-key="${room}"]`).firstElementChild.className, ROOM), 'beginning');
  assert.deepEqual(await layoutProblems(page), []);

  // Two requests, each for a different page; none after the beginning, even
  // when scrolled to the top again.
  await page.evaluate(() => { document.getElementById('scroller').scrollTop = 0; });
  await t.send(alice.page, 'one more round trip');
  await t.waitForMessage(page, 'one more round trip', ROOM);
  const requests = await page.evaluate((room) => window.sentFrames.filter((f) => f.type === 'history' && f.room.toLowerCase() === room), ROOM);
  assert.deepEqual(requests.map((r) => [r.before, r.limit]), [[lowest, 50], [lowest - 50, 50]]);

  await page.evaluate(() => { document.getElementById('scroller').scrollTop = 0; });
  await t.screenshot(page, 'history-beginning');
});

test('each room pages on its own: a short room shows its beginning at once', async () => {
  const { page } = bob;
  await page.fill('#join-input', 'side');
  await page.press('#join-input', 'Enter');
  await t.waitJoined(page, 'side');
  // Nothing to scroll in an empty room, so the page asks straight away.
  await page.waitForSelector('ol.messages[data-room-key="side"] li.beginning');
  assert.equal(await page.textContent('ol.messages[data-room-key="side"] li.beginning'), 'This is the beginning of #side');
  await t.send(page, 'first words here');
  await t.waitForMessage(page, 'first words here', 'side');
  assert.deepEqual(await layoutProblems(page, 'side'), []);

  // Back in the archive everything is still there, once.
  await page.click(`.room-button[data-room-key="${ROOM}"]`);
  const ids = await shownIds(page);
  assert.equal(ids.length, TOTAL + 1);
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(await page.locator(`ol.messages[data-room-key="${ROOM}"] li.beginning`).count(), 1);
});

test('the export links download the transcript as text and JSON', async () => {
  const { page } = bob;
  assert.equal(await page.getAttribute('#export-txt', 'href'), `/export/${ROOM}?format=txt`);
  assert.equal(await page.getAttribute('#export-json', 'href'), `/export/${ROOM}?format=json`);
  assert.equal(await page.textContent('#export-room'), `#${ROOM}`);

  await page.click('#settings-open'); // the links are in the settings dialog
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-txt')]);
  await page.keyboard.press('Escape');
  assert.match(download.suggestedFilename(), /\.txt$/);
  const lines = readFileSync(await download.path(), 'utf8').trimEnd().split('\n');
  assert.match(lines[0], /archive/);
  const said = lines.slice(1);
  assert.equal(said.length, TOTAL + 1);
  assert.match(said[0], new RegExp(`alice: ${textOf(1)}$`));
  assert.match(said[TOTAL - 1], new RegExp(`alice: ${textOf(TOTAL)}$`));
  assert.match(said[TOTAL], /alice: one more round trip$/);

  // JSON: fetched with the page's own cookie.
  const json = await page.evaluate(async () => {
    const response = await fetch(document.getElementById('export-json').href);
    return { type: response.headers.get('content-type'), disposition: response.headers.get('content-disposition'), body: await response.json() };
  });
  assert.match(json.type, /application\/json/);
  assert.match(json.disposition, /^attachment/);
  assert.equal(json.body.messages.length, TOTAL + 1);
  assert.deepEqual(json.body.messages.slice(0, 2).map((m) => [m.user, m.text]), [['alice', textOf(1)], ['alice', textOf(2)]]);
  assert.equal(new Set(json.body.messages.map((m) => m.id)).size, TOTAL + 1);

  // The links follow the room on screen.
  await page.click('.room-button[data-room-key="side"]');
  assert.equal(await page.getAttribute('#export-json', 'href'), '/export/side?format=json');
});

test('a message the server cannot store stays pending, is retried, and reaches nobody', async () => {
  const dbPath = path.join(os.tmpdir(), `natter-full-${process.pid}-${Date.now()}.db`);
  const full = await t.startServer(['--db', dbPath, '--db-max-mb', '1']);
  try {
    const sender = await t.login(browser, full, 'dora', 'full', { initScript: t.recordSentFrames });
    const reader = await t.login(browser, full, 'eve', 'full');

    // Fill the 1 MB database until it refuses even a one-character message.
    // The server saves each pass's messages in one transaction, all or
    // nothing, so a refused batch of long messages leaves room for short
    // ones: go on one message at a time, shorter and shorter.
    let posted = 0;
    for (const [length, batch] of [[3900, 25], [3900, 1], [400, 1], [1, 1]]) {
      const texts = Array.from({ length: 2000 }, () => 'x'.repeat(length));
      const result = await t.postFromPage(sender.page, 'full', texts, { stopOn: 'storage_failed', batch });
      assert.ok(result.errors.some((e) => e.code === 'storage_failed'), `expected storage_failed, got ${JSON.stringify(result.errors.slice(0, 2))}`);
      posted += result.posted;
    }
    assert.ok(posted > 0, 'messages were stored until the database was full');

    // Typed in the composer now: refused by storage, kept pending.
    const text = 'written after the disk filled up';
    await t.send(sender.page, text);
    const item = sender.page.locator('li.message.pending', { hasText: text });
    await item.waitFor();
    await sender.page.waitForFunction((wanted) => {
      const li = [...document.querySelectorAll('li.message.pending')].find((x) => x.textContent.includes(wanted));
      return li?.classList.contains('unsaved') && li.querySelector('.state').textContent === 'not saved yet — will retry';
    }, text);
    assert.equal(await sender.page.isVisible('#notice'), true);
    assert.match(await sender.page.textContent('#notice-text'), /could not be saved/);

    // It is sent again by itself (same client_id), and still not saved.
    await sender.page.waitForFunction((wanted) => window.sentFrames.filter((f) => f.type === 'message' && f.text === wanted).length >= 2, text, { timeout: t.TIMEOUT });
    const attempts = await sender.page.evaluate((wanted) => window.sentFrames.filter((f) => f.type === 'message' && f.text === wanted), text);
    assert.equal(new Set(attempts.map((f) => f.client_id)).size, 1, 'every attempt carries the same client_id');
    await sender.page.waitForFunction((wanted) => {
      const li = [...document.querySelectorAll('li.message.pending')].find((x) => x.textContent.includes(wanted));
      return li?.classList.contains('unsaved');
    }, text);

    // Never failed-and-dropped, never posted, never delivered to eve.
    assert.equal(await sender.page.locator('li.message.failed').count(), 0);
    assert.equal(await sender.page.locator('li.message[data-id]', { hasText: text }).count(), 0);
    assert.equal(await reader.page.locator('li.message', { hasText: text }).count(), 0);
    assert.deepEqual(sender.errors, []);
    assert.deepEqual(reader.errors, []);
    await sender.context.close();
    await reader.context.close();
  } finally {
    await full.stop();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${dbPath}${suffix}`, { force: true });
  }
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
