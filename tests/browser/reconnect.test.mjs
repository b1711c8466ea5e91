// reconnect.test.mjs — the connection drops: a message typed meanwhile
// waits in the outbox (shown pending) and is delivered exactly once after
// the page reconnects; what others said during the gap arrives through
// `since`.
//
// A small TCP proxy sits between the browsers and natter's WebSocket port
// (natter runs with --ws-url pointing at it), so the test can cut one
// user's connection and keep it down until it chooses to restore it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let proxy;
let server;
let browser;
let alice;
let bob;

before(async () => {
  proxy = await t.startProxy();
  server = await t.startServer(['--ws-url', `ws://127.0.0.1:${proxy.port}/ws`]);
  proxy.setTarget(server.wsPort);
  browser = await t.launchBrowser();
  alice = await t.login(browser, server, 'alice');
  bob = await t.login(browser, server, 'bob');
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await proxy?.close();
});

const count = (texts, text) => texts.filter((x) => x === text).length;

test('a message typed while disconnected is sent once after reconnect; missed messages arrive', async () => {
  await t.send(alice.page, 'before the drop');
  await t.waitForMessage(bob.page, 'before the drop');

  // Cut alice off, and keep her off.
  const token = await t.sessionToken(alice);
  proxy.cut(token);
  await alice.page.waitForSelector('#status[data-state="reconnecting"]');
  assert.match(await alice.page.textContent('#status-text'), /reconnecting in \d+ s/);

  // bob talks while she is away.
  await t.send(bob.page, 'said during the gap 1');
  await t.send(bob.page, 'said during the gap 2');
  await t.waitForMessage(bob.page, 'said during the gap 2');

  // alice types: the message waits, marked pending.
  await t.send(alice.page, 'typed while offline');
  const pending = alice.page.locator('li.message.pending', { hasText: 'typed while offline' });
  await pending.waitFor();
  assert.equal(await pending.locator('.state').textContent(), 'waiting for connection…');

  // The network comes back; "Retry now" skips the rest of the backoff.
  proxy.restore(token);
  await alice.page.click('#retry-now');
  await t.waitJoined(alice.page, 'lobby');
  await t.waitForMessage(alice.page, 'typed while offline');
  await t.waitForMessage(alice.page, 'said during the gap 2');
  await t.waitForMessage(bob.page, 'typed while offline');

  // One more round trip each way, so anything duplicated would be here by now.
  await t.send(bob.page, 'after');
  await t.waitForMessage(alice.page, 'after');
  await t.send(alice.page, 'after too');
  await t.waitForMessage(bob.page, 'after too');

  for (const user of [alice, bob]) {
    const texts = await t.messageTexts(user.page);
    assert.equal(count(texts, 'typed while offline'), 1, `${user.name}: ${texts}`);
    assert.equal(count(texts, 'said during the gap 1'), 1, `${user.name}: ${texts}`);
    assert.equal(count(texts, 'said during the gap 2'), 1, `${user.name}: ${texts}`);
    assert.equal(await user.page.locator('li.message.pending').count(), 0);
  }
  // Order: the missed messages come before what alice sent after reconnecting.
  const texts = await t.messageTexts(alice.page);
  assert.ok(texts.indexOf('said during the gap 2') < texts.indexOf('typed while offline'), texts.join(' | '));

  // And the server itself holds it once: a newcomer's history has it once.
  const carol = await t.login(browser, server, 'carol');
  await t.waitForMessage(carol.page, 'after too');
  assert.equal(count(await t.messageTexts(carol.page), 'typed while offline'), 1);
  assert.deepEqual(carol.errors, []);
});

test('the page says when it is offline and recovers by itself', async () => {
  const token = await t.sessionToken(bob);
  proxy.cut(token);
  await bob.page.waitForSelector('#status[data-state="reconnecting"]');
  proxy.restore(token);
  // No click this time: the backoff timer reconnects on its own.
  await bob.page.waitForSelector('#status[data-state="connected"]', { timeout: t.TIMEOUT });
  await t.send(bob.page, 'back on my own');
  await t.waitForMessage(alice.page, 'back on my own');
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
