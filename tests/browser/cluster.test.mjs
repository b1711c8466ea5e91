// cluster.test.mjs — two natter nodes sharing one Redis (`--redis`), each
// page on its own node: they chat in one room as on one server, and when the
// leading node is killed the other takes over and its page comes back by
// itself, with nothing lost and nothing twice.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let dir;
let redis;
let browser;
const nodes = [];

/** A port nothing listens on right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Poll `url` until it answers 200. */
async function until200(url) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`${url} never answered 200`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The index of the node that leads (from Redis, as an operator would ask). */
async function leader(redisPort) {
  const socket = net.connect(redisPort, '127.0.0.1');
  const reply = await new Promise((resolve, reject) => {
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk;
      if (/\r\n.*\r\n|^\$-1\r\n/s.test(data)) resolve(data);
    });
    socket.on('error', reject);
    const key = 'natter:leader';
    socket.write(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`);
  });
  socket.destroy();
  return nodes.findIndex((n) => reply.includes(`127.0.0.1:${n.port}:`));
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'natter-cluster-'));
  const redisPort = await freePort();
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  redis.port = redisPort;
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const name of ['a', 'b']) {
    nodes.push(await t.startServer(['--redis', `redis://127.0.0.1:${redisPort}`, '--db', path.join(dir, `${name}.db`)]));
  }
  for (const n of nodes) await until200(`${n.url}/healthz`);
  browser = await t.launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const n of nodes) if (!n.killed) await n.stop();
  redis?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('pages on two nodes chat as one, and survive the leading node', async () => {
  const lead = await leader(redis.port);
  assert.ok(lead >= 0, 'a node leads');
  const [leading, following] = [nodes[lead], nodes[1 - lead]];
  const alice = await t.login(browser, leading, 'alice');
  const bob = await t.login(browser, following, 'bob');
  await alice.page.waitForFunction(() => document.querySelectorAll('#members-list li').length === 2);
  await t.send(bob.page, 'hello from the follower');
  await t.waitForMessage(alice.page, 'hello from the follower');
  await t.send(alice.page, 'hello from the leader');
  await t.waitForMessage(bob.page, 'hello from the leader');

  // The leader dies; the follower takes the lease, and bob's page (on it)
  // reconnects by itself and resumes.
  process.kill(leading.pid, 'SIGKILL');
  leading.killed = true;
  await bob.page.waitForSelector('#status:not([data-state="connected"])', { timeout: 15_000 });
  await bob.page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });
  await t.send(bob.page, 'after the failover');
  await t.waitForMessage(bob.page, 'after the failover');
  assert.deepEqual(await t.messageTexts(bob.page), [
    'hello from the follower',
    'hello from the leader',
    'after the failover',
  ]);
  // A fresh page on the surviving node sees the same history.
  const carol = await t.login(browser, following, 'carol');
  await t.waitForMessage(carol.page, 'after the failover');
  assert.deepEqual(await t.messageTexts(carol.page), await t.messageTexts(bob.page));
});
