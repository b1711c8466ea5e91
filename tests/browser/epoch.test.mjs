// epoch.test.mjs — the page notices a replaced database. Every database has
// a random epoch, given in `hello`; a page whose messages came from another
// epoch starts every room over (its ids mean nothing there, even when the
// new ids run past them) instead of resuming with `since`.
//
// Swapping the database under a running server needs the same sessions in
// both files, so the test plays the old database's part instead: an init
// script changes the epoch of the page's first `hello`, as if the page had
// first talked to another file. The connection is then cut (lib's proxy)
// and comes back to the real epoch.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let proxy;
let server;
let browser;
let alice;
let bob;

// Rewrites the first hello's epoch, and records every join the page sends.
const OLD_EPOCH = () => {
  window.sentJoins = [];
  const Real = window.WebSocket;
  let first = true;
  window.WebSocket = class extends Real {
    send(data) {
      if (typeof data === 'string' && data.includes('"type":"join"')) window.sentJoins.push(JSON.parse(data));
      super.send(data);
    }
    addEventListener(type, listener, options) {
      if (type !== 'message') return super.addEventListener(type, listener, options);
      return super.addEventListener(type, (event) => {
        let data = event.data;
        if (first && typeof data === 'string' && data.includes('"type":"hello"')) {
          first = false;
          data = data.replace(/"epoch":"[0-9a-f]+"/, '"epoch":"0000000000000000"');
        }
        listener(new MessageEvent('message', { data }));
      }, options);
    }
  };
};

before(async () => {
  proxy = await t.startProxy();
  server = await t.startServer(['--ws-url', `ws://127.0.0.1:${proxy.port}/ws`]);
  proxy.setTarget(server.wsPort);
  browser = await t.launchBrowser();
  bob = await t.login(browser, server, 'bob');
  alice = await t.login(browser, server, 'alice', 'lobby', { initScript: OLD_EPOCH });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await proxy?.close();
});

test('after a reconnect to another database epoch, every room starts over without since', async () => {
  const { page } = alice;
  for (const text of ['one', 'two']) {
    await t.send(bob.page, text);
    await t.waitForMessage(page, text);
  }
  const token = await t.sessionToken(alice);
  proxy.cut(token);
  await page.waitForSelector('#status[data-state="reconnecting"]');
  proxy.restore(token);
  await page.evaluate(() => window.dispatchEvent(new Event('focus'))); // retry now
  await page.waitForFunction(() => window.sentJoins.length >= 2);
  await t.waitJoined(page, 'lobby');

  const joins = await page.evaluate(() => window.sentJoins);
  assert.equal(joins[1].since, undefined, `the rejoin resumes nothing: ${JSON.stringify(joins[1])}`);
  const lines = await page.$$eval('ol.messages[data-room-key="lobby"] li.system', (items) => items.map((li) => li.textContent));
  assert.ok(lines.some((l) => l.includes('history was replaced')), lines.join(' | '));
  // The room afresh: each message once.
  await page.waitForFunction(() => document.querySelectorAll('ol.messages[data-room-key="lobby"] li.message[data-id]').length === 2);
  assert.deepEqual(await t.messageTexts(page), ['one', 'two']);
  await t.send(bob.page, 'three');
  await t.waitForMessage(page, 'three');
  assert.deepEqual(alice.errors, []);
});

test('a reconnect to the same epoch resumes with since and epoch', async () => {
  const { page } = alice;
  const token = await t.sessionToken(alice);
  const before = await page.evaluate(() => window.sentJoins.length);
  proxy.cut(token);
  await page.waitForSelector('#status[data-state="reconnecting"]');
  proxy.restore(token);
  await page.evaluate(() => window.dispatchEvent(new Event('focus')));
  await page.waitForFunction((n) => window.sentJoins.length > n, before);
  const join = (await page.evaluate(() => window.sentJoins)).at(-1);
  assert.equal(typeof join.since, 'number', JSON.stringify(join));
  assert.match(join.epoch, /^[0-9a-f]{16}$/);
  assert.notEqual(join.epoch, '0000000000000000');
});
