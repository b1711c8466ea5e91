// bots.test.mjs — bots and webhooks from the page (issue 18): the room's
// owner makes a post-scope token in the room dialog and sees its secret
// once, with the webhook URL and a curl line; a POST to that URL (from
// node, as a CI job would) puts a message with the BOT badge in the page,
// and in a reply's preview too; the token is listed with when it was last
// used; Revoke asks first, and the hook then answers 401. Refusals (an
// empty name, a taken one, a bad one, a token revoked meanwhile) are said
// next to the form or the list. A read token gets no webhook, and its curl
// line reads. A member who is not the owner, and anyone in an unowned
// room, sees no such section. axe and screenshots with the secret shown.
//
// One server for the file: the tests run in order, in one owned room.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

const ROOM = 'Builds';

let server;
let browser;
let alice; // the room's owner
let bob; // a member
let hookUrl; // the post token's, as the page showed it
let secret;

before(async () => {
  // A short in-memory history, so that a later page's join lacks older
  // messages and a reply's preview comes from the server's `reply`.
  server = await t.startServer(['--history', '6']);
  browser = await t.launchBrowser();
  alice = await t.login(browser, server, 'alice', ROOM);
  bob = await t.login(browser, server, 'bob', ROOM);
  await alice.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
});
after(() => t.shutDown(browser, server));

async function openRoomDialog(page) {
  await page.click((await page.isVisible('#room-open')) ? '#room-open' : '#room-name-button');
  await page.waitForSelector('#room-dialog', { state: 'visible' });
}

async function closeRoomDialog(page) {
  await page.keyboard.press('Escape');
  await page.waitForSelector('#room-dialog', { state: 'hidden' });
}

/** The token rows on screen, each { id, name, scope, made, used }. */
const tokenRows = (page) => page.$$eval('#bot-list li.bot-row', (rows) => rows.map((li) => ({
  id: li.dataset.tokenId,
  name: li.querySelector('.bot-name').textContent,
  scope: li.querySelector('.bot-scope').textContent,
  made: li.querySelector('.bot-made').textContent,
  used: li.querySelector('.bot-used').textContent,
})));

/** Wait until the list shows exactly these names (newest first). */
const waitForTokens = (page, names) => page.waitForFunction((wanted) =>
  JSON.stringify([...document.querySelectorAll('#bot-list li.bot-row .bot-name')].map((n) => n.textContent)) === JSON.stringify(wanted), names);

/** Fill the form and press "Create a token". */
async function createToken(page, name, scope) {
  await page.fill('#bot-name', name);
  await page.selectOption('#bot-scope', scope);
  await page.click('#bot-create');
}

/** The posted message whose text is `text`, in the room's list. */
const item = (page, text) => page.locator(`ol.messages[data-room-key="${t.roomKey(ROOM)}"] li.message[data-id]`, {
  has: page.locator('.text', { hasText: text }),
}).last();

/** A POST to a webhook, from node. */
const postHook = (url, body, headers = { 'Content-Type': 'application/json' }) => fetch(url, { method: 'POST', headers, body });

test('nobody sees "Bots & webhooks" in an unowned room; its owner does once it is claimed, and makes a post token', async () => {
  const { page } = alice;
  await openRoomDialog(page);
  await page.waitForSelector('#room-claim', { state: 'visible' });
  assert.equal(await page.isVisible('#room-bots'), false, 'an unowned room has no bots section');
  await page.click('#room-claim-button');
  await page.waitForSelector('#room-bots', { state: 'visible' });
  // The list is asked for once the section shows: empty for now.
  await page.waitForSelector('#bot-list-empty', { state: 'visible' });
  assert.equal(await page.textContent('#room-bots-heading'), 'Bots & webhooks');
  // Each scope is explained in one line, under the select too.
  const options = await page.$$eval('#bot-scope option', (os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(options.map(([value]) => value), ['post', 'read', 'bot']);
  for (const [, text] of options) assert.match(text, /^\w+: .{10,}/);
  assert.match(await page.textContent('#bot-scope-note'), /Sends messages only/);
  await page.selectOption('#bot-scope', 'bot');
  assert.match(await page.textContent('#bot-scope-note'), /reacts/);

  await createToken(page, 'ci-bot', 'post');
  await page.waitForSelector('#bot-new', { state: 'visible' });
  secret = await page.inputValue('#bot-new-secret');
  assert.match(secret, /^ntb_[0-9a-f]{32}$/);
  assert.equal(await page.getAttribute('#bot-new-secret', 'readonly'), '');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'bot-new-secret', 'the secret has the focus, selected');
  hookUrl = await page.inputValue('#bot-new-url');
  assert.equal(hookUrl, `${server.url}/hooks/${secret}`);
  assert.equal(await page.inputValue('#bot-new-curl'),
    `curl -X POST -H 'Content-Type: application/json' -d '{"text":"hello"}' ${hookUrl}`);
  assert.match(await page.textContent('#bot-new-note'), /will not be shown again/);
  assert.match(await page.textContent('#bot-new-heading'), /ci-bot \(post\)/);
  assert.equal(await page.inputValue('#bot-name'), '', 'the form is ready for the next one');

  // Copy puts the secret on the clipboard.
  await page.click('#bot-new-secret-copy');
  await page.waitForFunction(() => document.getElementById('bot-new-secret-copy').textContent !== 'Copy');
  if (await page.textContent('#bot-new-secret-copy') === 'Copied ✓') {
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  }
  await page.click('#bot-new-url-copy');
  await page.waitForFunction(() => document.getElementById('bot-new-url-copy').textContent !== 'Copy');
  if (await page.textContent('#bot-new-url-copy') === 'Copied ✓') {
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), hookUrl);
  }

  // The list, asked for again after the create: the token, never its secret.
  await waitForTokens(page, ['ci-bot']);
  const [row] = await tokenRows(page);
  assert.equal(row.scope, 'post');
  assert.match(row.made, /^by alice, /);
  assert.equal(row.used, 'never used');
  assert.match(row.id, /^[0-9a-f]{12}$/);
  assert.ok(!(await page.textContent('#bot-list')).includes(secret.slice(4)), 'the list shows no secret');
  assert.equal(await page.isVisible('#bot-list-empty'), false);

  // Shown once: closed and opened again, the secret is gone from the page.
  await closeRoomDialog(page);
  await openRoomDialog(page);
  await waitForTokens(page, ['ci-bot']);
  assert.equal(await page.isVisible('#bot-new'), false);
  assert.equal(await page.inputValue('#bot-new-secret'), '');
  assert.ok(!(await page.content()).includes(secret), 'the secret is nowhere in the page');
  await closeRoomDialog(page);
});

test('a member who is not the owner sees no bots section', async () => {
  const { page } = bob;
  await openRoomDialog(page);
  await page.waitForFunction(() => [...document.querySelectorAll('#room-facts dd')].some((dd) => dd.textContent === 'alice'));
  assert.equal(await page.isVisible('#room-bots'), false);
  assert.equal(await page.locator('#bot-list li').count(), 0);
  await closeRoomDialog(page);
});

test('a POST to the webhook URL shows the bot\'s message with the BOT badge; the list says when it was last used', async () => {
  const answer = await postHook(hookUrl, JSON.stringify({ text: 'deploy 41 done' }));
  assert.equal(answer.status, 200, await answer.clone().text());
  assert.equal((await answer.text()).trim(), 'ok');
  // The form way (Slack's payload=) works as well.
  const form = await postHook(hookUrl, `payload=${encodeURIComponent(JSON.stringify({ text: 'deploy 42 done', username: 'ignored' }))}`,
    { 'Content-Type': 'application/x-www-form-urlencoded' });
  assert.equal(form.status, 200, await form.clone().text());

  for (const user of [alice, bob]) {
    for (const text of ['deploy 41 done', 'deploy 42 done']) {
      await t.waitForMessage(user.page, text, ROOM);
      const li = item(user.page, text);
      assert.equal(await li.getAttribute('data-bot'), 'true', `${user.name}: ${text}`);
      assert.equal(await li.locator('.bot-badge').count(), 1, `${user.name}: ${text} has one BOT badge`);
      assert.equal(await li.locator('.bot-badge').textContent(), 'BOT');
    }
    // The first of the two shows its author: the token's name, then BOT.
    const first = item(user.page, 'deploy 41 done');
    assert.equal(await first.locator('.meta .author').textContent(), 'ci-bot');
    assert.equal(await first.locator('.meta .bot-badge').isVisible(), true);
  }

  // The list says it was used (a time, not "never").
  await openRoomDialog(alice.page);
  await alice.page.waitForFunction(() => /^last used /.test(document.querySelector('#bot-list li.bot-row .bot-used')?.textContent ?? ''));
  await closeRoomDialog(alice.page);
});

/** Reply to the message `original` from `page`'s menu with `text`. */
async function reply(page, original, text) {
  const li = item(page, original);
  await li.hover();
  await li.locator('.message-menu-button').click();
  await page.waitForSelector('#message-menu:not([hidden])');
  await page.click('#message-menu button:text-is("Reply")');
  await page.waitForSelector('#compose-bar[data-mode="reply"]');
  await t.send(page, text);
}

test('a reply to the bot\'s message shows BOT in its preview, from the page\'s copy and from the server\'s `reply`', async () => {
  const { page } = alice;
  await reply(page, 'deploy 42 done', 'thanks, bot');
  await t.waitForMessage(bob.page, 'thanks, bot', ROOM);
  for (const user of [alice, bob]) {
    const preview = item(user.page, 'thanks, bot').locator('.reply-preview');
    assert.equal(await preview.locator('.reply-author').textContent(), 'ci-bot');
    assert.equal(await preview.locator('.bot-badge').count(), 1, `${user.name}: the preview has BOT`);
  }

  // Many messages, then another reply: a page opened now has that reply
  // but not the bot's original (the server keeps 6 in memory, and the page
  // loads one page of 50 older ones to fill the screen), so its preview is
  // the server's `reply`, which must say `bot`. A newcomer, since a reload
  // joins with `since` and gets what it missed.
  const { errors } = await t.postFromPage(page, ROOM, Array.from({ length: 80 }, (_, i) => `later ${i}`));
  assert.deepEqual(errors, []);
  await t.waitForMessage(page, 'later 79', ROOM);
  await reply(page, 'deploy 42 done', 'thanks again, bot');
  await t.waitForMessage(page, 'thanks again, bot', ROOM);
  const dave = await t.login(browser, server, 'dave', ROOM);
  try {
    await t.waitForMessage(dave.page, 'thanks again, bot', ROOM);
    // Whatever the page loads to fill the screen has come.
    await dave.page.waitForFunction(() => !document.querySelector('.messages li.message[data-id]') || document.getElementById('history-loading').hidden);
    assert.equal(await item(dave.page, 'deploy 42 done').count(), 0, 'the original was loaded after all');
    const preview = item(dave.page, 'thanks again, bot').locator('.reply-preview');
    assert.equal(await preview.locator('.reply-author').textContent(), 'ci-bot');
    assert.equal(await preview.locator('.bot-badge').count(), 1, 'the server\'s reply says bot: true');
    assert.deepEqual(dave.errors, []);
  } finally {
    await dave.context.close();
  }
});

test('refusals show next to the form: no name, a name taken by a member or a bot, a name no one may have', async () => {
  const { page } = alice;
  await openRoomDialog(page);
  await waitForTokens(page, ['ci-bot']);
  const refused = async (name, pattern) => {
    await createToken(page, name, 'post');
    await page.waitForFunction(() => document.getElementById('bot-error').textContent !== '');
    const text = await page.textContent('#bot-error');
    assert.match(text, pattern, `${JSON.stringify(name)}: ${text}`);
    assert.equal(await page.getAttribute('#bot-name', 'aria-invalid'), 'true');
    assert.equal(await page.isVisible('#bot-new'), false, 'no secret for a refused token');
    assert.equal(await page.isVisible('#notice'), false, 'not a notice elsewhere');
  };
  await refused('   ', /name/i); // the page's own check: nothing sent
  await refused('ci-bot', /taken/); // another bot's (name_taken)
  await refused('bob', /taken/); // a member's (name_taken)
  await refused('x'.repeat(200), /long|limit/); // too long (bad_field)
  // Typing a good name after a refusal works.
  await createToken(page, 'reader', 'read');
  await page.waitForSelector('#bot-new', { state: 'visible' });
  assert.equal(await page.textContent('#bot-error'), '');
  assert.equal(await page.getAttribute('#bot-name', 'aria-invalid'), null);
  await waitForTokens(page, ['reader', 'ci-bot']);
});

test('a read token has no webhook URL; its curl line reads the room, and its hook is refused', async () => {
  const { page } = alice;
  assert.equal(await page.isVisible('#bot-new-hook'), false, 'no webhook for a read token');
  const readSecret = await page.inputValue('#bot-new-secret');
  assert.match(readSecret, /^ntb_[0-9a-f]{32}$/);
  const curl = await page.inputValue('#bot-new-curl');
  const api = `${server.url}/api/v1/rooms/${ROOM}/messages`;
  assert.equal(curl, `curl -H 'Authorization: Bearer ${readSecret}' '${api}'`);
  const read = await fetch(api, { headers: { Authorization: `Bearer ${readSecret}` } });
  assert.equal(read.status, 200);
  const body = await read.json();
  assert.ok(body.history.some((m) => m.text === 'thanks again, bot'), JSON.stringify(body).slice(0, 300));
  const hook = await postHook(`${server.url}/hooks/${readSecret}`, JSON.stringify({ text: 'not allowed' }));
  assert.equal(hook.status, 403);
  await t.screenshot(page, 'bots-new-token-desktop');
  await closeRoomDialog(page);
});

test('Revoke asks first; then the token leaves the list and its webhook answers 401', async () => {
  const { page } = alice;
  await openRoomDialog(page);
  await waitForTokens(page, ['reader', 'ci-bot']);
  const row = page.locator('#bot-list li.bot-row', { has: page.locator('.bot-name', { hasText: 'ci-bot' }) });
  await row.locator('button:text-is("Revoke")').click();
  assert.equal(await row.locator('.bot-confirm').isVisible(), true);
  assert.match(await row.locator('.bot-confirm').textContent(), /Revoke ci-bot\?/);
  // Cancel changes nothing.
  await row.locator('button:text-is("Cancel")').click();
  assert.equal(await row.locator('.bot-confirm').isVisible(), false);
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Revoke');
  const still = await postHook(hookUrl, JSON.stringify({ text: 'still here' }));
  assert.equal(still.status, 200);

  await row.locator('button:text-is("Revoke")').click();
  await row.locator('button:text-is("Yes, revoke")').click();
  await waitForTokens(page, ['reader']);
  assert.equal(await page.textContent('#bot-list-error'), '');
  const gone = await postHook(hookUrl, JSON.stringify({ text: 'after the revoke' }));
  assert.equal(gone.status, 401);
  const answer = await gone.json().catch(() => ({}));
  assert.equal(answer.error?.code, 'bad_token', JSON.stringify(answer));
  await closeRoomDialog(page);
});

test('a token revoked meanwhile in another tab: its Revoke says so next to the list', async () => {
  const { page } = alice;
  const other = await alice.context.newPage();
  try {
    await other.goto(`${server.url}/r/${ROOM}`);
    await t.waitJoined(other, ROOM);
    for (const p of [page, other]) {
      await openRoomDialog(p);
      await waitForTokens(p, ['reader']);
      await p.click('#bot-list li.bot-row button:text-is("Revoke")');
    }
    await other.click('#bot-list li.bot-row button:text-is("Yes, revoke")');
    await other.waitForSelector('#bot-list-empty', { state: 'visible' });
    // The first tab still shows the token: its Yes is refused (not_found),
    // said beside the list, and the list is asked for again.
    assert.equal(await page.locator('#bot-list li.bot-row').count(), 1);
    await page.click('#bot-list li.bot-row button:text-is("Yes, revoke")');
    await page.waitForFunction(() => document.getElementById('bot-list-error').textContent !== '');
    assert.match(await page.textContent('#bot-list-error'), /.+/);
    await page.waitForSelector('#bot-list-empty', { state: 'visible' });
    assert.equal(await page.isVisible('#notice'), false, 'not a notice elsewhere');
    await closeRoomDialog(page);
  } finally {
    await other.close();
  }
});

test('no serious accessibility violations with the section open and a secret shown; screenshots, desktop and phone', async () => {
  const { page } = alice;
  await openRoomDialog(page);
  await createToken(page, 'deploys', 'bot');
  await page.waitForSelector('#bot-new', { state: 'visible' });
  await waitForTokens(page, ['deploys']);
  assert.deepEqual(await t.axeViolations(page), []);
  await page.locator('#room-bots').scrollIntoViewIfNeeded();
  await t.screenshot(page, 'bots-section-desktop');
  await closeRoomDialog(page);

  const phone = await t.login(browser, server, 'carol', 'lobby', { viewport: t.PHONE });
  try {
    // Another browser, on a phone: the owner link makes carol an owner too
    // (opened from another room: the same address with a new fragment would not load the page).
    await phone.page.goto(`${server.url}/r/${ROOM}#owner=${encodeURIComponent(await page.evaluate((k) => localStorage.getItem(k), `natter.owner-key.${t.roomKey(ROOM)}`))}`);
    await t.waitJoined(phone.page, ROOM);
    await openRoomDialog(phone.page);
    await phone.page.waitForSelector('#room-bots', { state: 'visible' });
    await waitForTokens(phone.page, ['deploys']);
    await phone.page.click('#bot-list li.bot-row button:text-is("Revoke")');
    assert.equal(await t.horizontalOverflow(phone.page), 0);
    assert.deepEqual(await t.axeViolations(phone.page), []);
    await phone.page.locator('#room-bots').scrollIntoViewIfNeeded();
    await t.screenshot(phone.page, 'bots-section-phone');
    assert.deepEqual(phone.errors, []);
  } finally {
    await phone.context.close();
  }
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
