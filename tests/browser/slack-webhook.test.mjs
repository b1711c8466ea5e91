// slack-webhook.test.mjs — natter's incoming webhook takes what Slack's own
// client library sends (@slack/webhook, as an integration would use it
// unchanged): the message lands in the room under the token's name, with
// the bot flag, whatever `username` the library was told to send. No
// browser: this is the library against the real binary.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IncomingWebhook } from '@slack/webhook';
import { startServer } from './lib.mjs';

const bin = process.env.NATTER_BIN || path.resolve(import.meta.dirname, '../../target/debug/natter');

test("Slack's webhook client posts into the room as the token's bot", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'natter-slack-'));
  const db = path.join(dir, 'chat.db');
  const server = await startServer(['--db', db]);
  t.after(async () => { await server.stop(); rmSync(dir, { recursive: true, force: true }); });

  // The operator makes a bot token for #builds (its secret is printed once).
  const made = execFileSync(bin, ['token', 'create', 'builds', 'ci-bot', '--scope', 'bot', '--db', db]).toString();
  const secret = made.split('\n')[0];
  assert.match(secret, /^ntb_[0-9a-f]{32}$/);

  const webhook = new IncomingWebhook(`${server.url}/hooks/${secret}`, { username: 'the boss' });
  const sent = await webhook.send({ text: 'build 42 passed :tada:', icon_emoji: ':robot_face:' });
  assert.equal(sent.text, 'ok');

  // Read the room back through the API with the same token.
  const answer = await fetch(`${server.url}/api/v1/rooms/builds/messages`, {
    headers: { Authorization: `Bearer ${secret}` },
  });
  assert.equal(answer.status, 200);
  const { history } = await answer.json();
  const last = history.at(-1);
  assert.equal(last.text, 'build 42 passed :tada:');
  assert.equal(last.user, 'ci-bot', 'the name is the token\'s, not the one the library sent');
  assert.equal(last.bot, true);

  // A revoked token makes the library throw, as Slack's 4xx would.
  const id = execFileSync(bin, ['token', 'list', '--db', db]).toString().split('\t')[0];
  execFileSync(bin, ['token', 'revoke', id, '--db', db]);
  await assert.rejects(webhook.send({ text: 'after the revoke' }), /401/);
});
