// restart.test.mjs — a restart of the real binary that nobody notices: the
// pages reconnect by themselves, rejoin their rooms without anyone being
// announced again ("alice joined" thirty times for a class of thirty), the
// member list is the same, and the conversation goes on.
//
// The history is in a database file, and the second server takes the first
// one's web port. The pages reach the WebSocket through a proxy (natter
// runs with --ws-url pointing at it), which is pointed at the new server's
// WebSocket port once it is up.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let proxy;
let server;
let browser;
let dir;
const users = [];

const systemLines = (page) =>
  page.$$eval('ol.messages[data-room-key="lobby"] li.system', (items) => items.map((li) => li.textContent));

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'natter-restart-'));
  proxy = await t.startProxy();
  server = await t.startServer(['--db', path.join(dir, 'chat.db'), '--ws-url', `ws://127.0.0.1:${proxy.port}/ws`]);
  proxy.setTarget(server.wsPort);
  browser = await t.launchBrowser();
  for (const name of ['alice', 'bob', 'carol']) users.push(await t.login(browser, server, name));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await proxy?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('after a restart every page rejoins silently and the chat goes on', async () => {
  const [alice, bob, carol] = users;
  await t.send(alice.page, 'before the restart');
  await t.waitForMessage(carol.page, 'before the restart');
  // Everyone has seen everyone join by now (carol joined last).
  await bob.page.waitForFunction(() => document.querySelectorAll('#members-list li').length === 3);
  const before = await Promise.all(users.map((u) => systemLines(u.page)));

  const port = server.port;
  await server.stop();
  await alice.page.waitForSelector('#status:not([data-state="connected"])');
  server = await t.startServer(['--db', path.join(dir, 'chat.db'), '--port', String(port), '--ws-url', `ws://127.0.0.1:${proxy.port}/ws`]);
  proxy.setTarget(server.wsPort);

  // Each page comes back by itself (no click, no reload).
  for (const u of users) await u.page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });
  await t.send(bob.page, 'after the restart');
  for (const u of users) await t.waitForMessage(u.page, 'after the restart');

  const after = await Promise.all(users.map((u) => systemLines(u.page)));
  assert.deepEqual(after, before, 'nobody was announced as joining or leaving');
  const members = await alice.page.$$eval('#members-list .member-name', (items) => items.map((li) => li.textContent));
  assert.deepEqual(members, ['alice', 'bob', 'carol']);
  const texts = await t.messageTexts(alice.page);
  assert.equal(texts.filter((x) => x === 'before the restart').length, 1, 'history kept, not doubled');
  for (const u of users) assert.deepEqual(u.errors, []);
});
