// edit-unsaved.test.mjs — an edit the server cannot store (its database is
// full: storage_failed) keeps the new text on the author's page, marked
// "not saved — Retry"; Retry sends the very same frame (same client_id)
// again; nobody else ever sees the new text. A refusal for another reason
// (the message was deleted meanwhile) puts the old text back and says why.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';


const dbPath = path.join(os.tmpdir(), `natter-edit-full-${process.pid}-${Date.now()}.db`);
let server;
let browser;
let dora;
let eve;

before(async () => {
  server = await t.startServer(['--db', dbPath, '--db-max-mb', '1']);
  browser = await t.launchBrowser();
  dora = await t.login(browser, server, 'dora', 'full', { initScript: t.recordSentFrames });
  eve = await t.login(browser, server, 'eve', 'full');
});

after(async () => {
  await t.shutDown(browser, server);
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${dbPath}${suffix}`, { force: true });
});

const item = (page, text) => page.locator('ol.messages[data-room-key="full"] li.message[data-id]', {
  has: page.locator('.text', { hasText: text }),
}).last();

async function edit(page, from, to) {
  const li = item(page, from);
  await li.hover();
  await li.locator('.message-menu-button').click();
  await page.click('#message-menu button:text-is("Edit")');
  await page.fill('#composer-input', to);
  await page.press('#composer-input', 'Enter');
}

test('an edit the server cannot save stays, marked "not saved — Retry"; Retry resends the same frame; eve never sees it', async () => {
  const { page } = dora;
  await t.send(page, 'edit me when the disk is full');
  await t.waitForMessage(eve.page, 'edit me when the disk is full', 'full');

  // Fill the 1 MB database until it refuses even a one-character message
  // (as history.test.mjs does: shorter and shorter, one at a time).
  for (const [length, batch] of [[3900, 25], [3900, 1], [400, 1], [1, 1]]) {
    const texts = Array.from({ length: 2000 }, () => 'x'.repeat(length));
    const result = await t.postFromPage(page, 'full', texts, { stopOn: 'storage_failed', batch });
    assert.ok(result.errors.some((e) => e.code === 'storage_failed'), `expected storage_failed, got ${JSON.stringify(result.errors.slice(0, 2))}`);
  }

  await edit(page, 'edit me when the disk is full', 'edited on a full disk, at length: ' + 'y'.repeat(3800));
  const li = item(page, 'edited on a full disk');
  await page.waitForFunction(() => [...document.querySelectorAll('li.message.edit-unsaved')].some((x) => x.textContent.includes('edited on a full disk')));
  assert.equal(await li.locator('.state').textContent(), 'not saved — ');
  assert.equal(await li.locator('[data-retry-edit]').textContent(), 'Retry');

  await li.locator('[data-retry-edit]').click();
  await page.waitForFunction(() => window.sentFrames.filter((f) => f.type === 'edit').length === 2);
  const edits = await page.evaluate(() => window.sentFrames.filter((f) => f.type === 'edit'));
  assert.deepEqual(edits[1], edits[0], 'the retry is the very same frame');
  // Still full: refused again, still marked, still the new text.
  await page.waitForFunction(() => [...document.querySelectorAll('li.message.edit-unsaved')].some((x) => x.textContent.includes('edited on a full disk')));

  // eve has the old text, unedited.
  await t.waitForMessage(eve.page, 'edit me when the disk is full', 'full');
  assert.equal(await item(eve.page, 'edit me when the disk is full').locator('.edited').count(), 0);
  assert.equal(await eve.page.locator('li.message', { hasText: 'edited on a full disk' }).count(), 0);
});

test('no script errors', () => {
  assert.deepEqual(dora.errors, []);
  assert.deepEqual(eve.errors, []);
});
