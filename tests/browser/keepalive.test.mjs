// keepalive.test.mjs — pages load over keep-alive connections, the way
// every browser fetches them.
//
// tiny_http 0.12 runs each connection on a thread of its TaskPool until the
// connection closes, and upstream's TaskPool::spawn handed a burst of new
// connections to a single idle thread: a chat page whose modules travelled on
// them never finished loading. natter's vendored tiny_http fixes that
// (.vendor/README.md); this test keeps it fixed, the way browsers load pages.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;

before(async () => {
  server = await t.startServer();
  browser = await t.launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the chat page loads completely over keep-alive connections', async () => {
  const stuck = [];
  // The race does not hit every load; five loads catch it nearly always.
  for (let i = 0; i < 5; i += 1) {
    const { context, page } = await t.newPage(browser);
    const unfinished = new Set();
    page.on('request', (r) => unfinished.add(r.url()));
    page.on('requestfinished', (r) => unfinished.delete(r.url()));
    try {
      await page.goto(`${server.url}/`);
      await page.fill('#name', `keepalive${i}`);
      await Promise.all([page.waitForURL(/\/r\//, { timeout: 8_000 }), page.click('button[type="submit"]')]);
    } catch {
      stuck.push(...unfinished);
    }
    await context.close();
  }
  assert.deepEqual(stuck, [], 'requests that never got an answer');
});
