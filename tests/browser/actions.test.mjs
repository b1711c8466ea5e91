// actions.test.mjs — what you can do to a posted message, seen from two or
// more browsers: edit (from the menu, and ↑ in an empty composer, Esc
// cancels), delete (asks first; a tombstone for everyone), reply (the
// preview, kept up to date, and a click that scrolls to the original,
// loading older pages when it is not loaded yet), reactions (chips with
// counts and names, explicit on/off), mentions (notify in a muted room; an
// edit notifies only the newly mentioned), /me, /help and unknown commands,
// changes made while a page was offline (resume with the cursor), an
// edited old message found by scrolling back, the long press on a phone,
// and no serious axe violations with the menu open.
//
// The WebSocket goes through the test proxy (lib.mjs), so one user's
// connection can be cut while the others stay.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

// Runs in the page before its own scripts: notifications are switched on
// (as the settings button would) and every one the page makes is recorded;
// every frame the page sends is recorded too.
function recordPage() {
  localStorage.setItem('natter.notify', 'true');
  const Real = window.Notification;
  window.__notifications = [];
  function Recorder(title, options = {}) {
    window.__notifications.push({ title, body: options.body });
    return new Real(title, options);
  }
  Recorder.prototype = Real.prototype;
  Object.defineProperty(Recorder, 'permission', { get: () => Real.permission });
  Recorder.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorder;

  window.sentFrames = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function record(data) {
    try {
      window.sentFrames.push(JSON.parse(data));
    } catch {
      // not JSON: not ours to record
    }
    return send.call(this, data);
  };
}

let proxy;
let server;
let browser;
let alice;
let bob;
let carol;

/** Log in through the form with the recorder installed and notifications allowed. */
async function loginRecorded(name, room = 'lobby', options = {}) {
  const user = await t.newPage(browser, { initScript: recordPage, ...options });
  await user.context.grantPermissions(['notifications'], { origin: server.url });
  await user.page.goto(`${server.url}/`);
  await user.page.fill('#name', name);
  await user.page.fill('#room', room);
  await Promise.all([user.page.waitForURL(/\/r\//), user.page.click('button[type="submit"]')]);
  await t.waitJoined(user.page, room);
  return { ...user, name };
}

before(async () => {
  proxy = await t.startProxy();
  server = await t.startServer(['--ws-url', `ws://127.0.0.1:${proxy.port}/ws`]);
  proxy.setTarget(server.wsPort);
  browser = await t.launchBrowser();
  alice = await loginRecorded('alice');
  bob = await loginRecorded('bob');
  carol = await loginRecorded('carol');
  await alice.page.waitForFunction(() => document.querySelectorAll('#members-list .member').length === 3);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await proxy?.close();
});

// --- helpers ------------------------------------------------------------------

/** The posted message whose text contains `text`, in `room`'s list. */
const item = (page, text, room = 'lobby') =>
  page.locator(`ol.messages[data-room-key="${t.roomKey(room)}"] li.message[data-id]`, {
    has: page.locator('.text', { hasText: text }),
  }).last();

/** Open a message's menu with its ⋯ button and choose `action` (Reply, React, Edit, Delete). */
async function choose(page, text, action, room = 'lobby') {
  const li = item(page, text, room);
  await li.hover();
  await li.locator('.message-menu-button').click();
  await page.waitForSelector('#message-menu:not([hidden])');
  await page.click(`#message-menu button:text-is("${action}")`);
}

/** The menu's visible items for a message (then closes it with Esc). */
async function menuItems(page, text) {
  const li = item(page, text);
  await li.hover();
  await li.locator('.message-menu-button').click();
  await page.waitForSelector('#message-menu:not([hidden])');
  const items = await page.$$eval('#message-menu button:not([hidden])', (b) => b.map((x) => x.textContent));
  await page.keyboard.press('Escape');
  await page.waitForSelector('#message-menu', { state: 'hidden' });
  return items;
}

/**
 * Wait until `check(element)` holds for what `locator` finds. The locator
 * is looked up afresh each time: a message is redrawn (a new <li>) on every
 * change.
 */
async function until(locator, check, arg) {
  const deadline = Date.now() + t.TIMEOUT;
  for (;;) {
    if (await locator.evaluate(check, arg, { timeout: 1000 }).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`condition never held: ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const notifications = (user) => user.page.evaluate(() => window.__notifications.slice());
const sentOfType = (user, type) => user.page.evaluate((ty) => window.sentFrames.filter((f) => f.type === ty), type);

/** One more message each way, so anything still on its way has landed. */
async function roundTrip(from, to, text) {
  await t.send(from.page, text);
  await t.waitForMessage(to.page, text);
}

// --- edit -------------------------------------------------------------------------

test('edit from the menu: bob sees the new text with "(edited)"; only your own messages offer Edit and Delete', async () => {
  await t.send(alice.page, 'dinner at 6');
  await t.waitForMessage(bob.page, 'dinner at 6');

  await choose(alice.page, 'dinner at 6', 'Edit');
  const box = alice.page.locator('#composer-input');
  assert.equal(await box.inputValue(), 'dinner at 6');
  assert.equal(await alice.page.textContent('#compose-bar-text'), 'Editing message — Esc to cancel');
  await t.screenshot(alice.page, 'edit-bar-desktop');
  await box.fill('dinner at 7');
  await box.press('Enter');
  // Shown at once on alice's page, confirmed by the server, then at bob's.
  await t.waitForMessage(alice.page, 'dinner at 7');
  assert.equal(await box.inputValue(), '');
  assert.equal(await alice.page.isHidden('#compose-bar'), true);
  await t.waitForMessage(bob.page, 'dinner at 7');
  assert.equal(await item(bob.page, 'dinner at 7').locator('.edited').textContent(), '(edited)');
  await until(item(alice.page, 'dinner at 7'), (li) => li.querySelector('.edited') && !li.querySelector('.state'));
  assert.deepEqual(await t.messageTexts(bob.page).then((x) => x.filter((s) => s.startsWith('dinner'))), ['dinner at 7']);

  // The frame that went out is the contract's: the id, the text, a client_id.
  const [edit] = await sentOfType(alice, 'edit');
  assert.equal(edit.text, 'dinner at 7');
  assert.equal(edit.room, 'lobby');
  assert.ok(Number.isInteger(edit.id) && typeof edit.client_id === 'string', JSON.stringify(edit));

  assert.deepEqual(await menuItems(alice.page, 'dinner at 7'), ['Reply', 'React', 'Edit', 'Delete']);
  assert.deepEqual(await menuItems(bob.page, 'dinner at 7'), ['Reply', 'React']);
});

test('↑ in an empty composer edits your last message; Esc cancels and leaves it unchanged', async () => {
  const box = alice.page.locator('#composer-input');
  await t.send(alice.page, 'see you at the statoin');
  await t.waitForMessage(bob.page, 'see you at the statoin');

  await box.press('ArrowUp');
  assert.equal(await box.inputValue(), 'see you at the statoin');
  await alice.page.waitForSelector('#compose-bar[data-mode="edit"]');
  await box.pressSequentially(' (typo)');
  await box.press('Escape');
  assert.equal(await box.inputValue(), '');
  assert.equal(await alice.page.isHidden('#compose-bar'), true);
  await roundTrip(alice, bob, 'nothing was edited');
  assert.equal(await item(bob.page, 'see you at the statoin').locator('.edited').count(), 0);
  assert.equal((await sentOfType(alice, 'edit')).length, 1, 'Esc sent an edit');

  // A half-typed draft is not lost by an edit: ↑ only works in an empty
  // box, and the menu's Edit gives the draft back afterwards.
  await box.fill('half a thought');
  await choose(alice.page, 'see you at the statoin', 'Edit');
  await box.fill('see you at the station');
  await box.press('Enter');
  await t.waitForMessage(bob.page, 'see you at the station');
  assert.equal(await box.inputValue(), 'half a thought');
  await box.fill('');
});

test('an edit the server refuses (a control character: bad_text) puts the old text back and says why', async () => {
  await t.send(alice.page, 'ring the bell');
  await t.waitForMessage(bob.page, 'ring the bell');
  const box = alice.page.locator('#composer-input');
  await box.press('ArrowUp');
  await alice.page.waitForSelector('#compose-bar[data-mode="edit"]');
  await box.fill('ring the \u0007 bell');
  await box.press('Enter');
  await alice.page.waitForSelector('#toast:not([hidden])');
  assert.match(await alice.page.textContent('#toast-text'), /^Not edited: /);
  await t.waitForMessage(alice.page, 'ring the bell');
  await until(item(alice.page, 'ring the bell'), (li) => !li.querySelector('.edited, .state'));
  await roundTrip(alice, bob, 'after the refused edit');
  assert.equal(await item(bob.page, 'ring the bell').locator('.edited').count(), 0);
});

// --- delete -----------------------------------------------------------------------

test('delete asks first; then the message is a tombstone for everyone', async () => {
  await t.send(alice.page, 'oops, a secret');
  await t.waitForMessage(bob.page, 'oops, a secret');

  await choose(alice.page, 'oops, a secret', 'Delete');
  const li = item(alice.page, 'oops, a secret');
  await li.locator('.delete-confirm').waitFor();
  await li.locator('[data-confirm-delete="no"]').click();
  assert.equal(await li.locator('.delete-confirm').count(), 0);
  assert.equal((await sentOfType(alice, 'delete')).length, 0);

  await choose(alice.page, 'oops, a secret', 'Delete');
  await item(alice.page, 'oops, a secret').locator('[data-confirm-delete="yes"]').click();
  for (const user of [alice, bob]) {
    await user.page.waitForFunction(() => ![...document.querySelectorAll('li.message .text')].some((n) => n.textContent.includes('oops, a secret')));
    const tomb = user.page.locator('ol.messages[data-room-key="lobby"] li.message.deleted').last();
    assert.equal(await tomb.locator('.text').textContent(), 'message deleted');
    assert.equal(await tomb.locator('.reactions, .reply-preview, .message-menu-button').count(), 0);
  }
});

// --- replies ----------------------------------------------------------------------

test('reply: the bar, the preview at bob (kept up to date on edit and delete), and a click that goes to the original', async () => {
  await t.send(bob.page, 'dinner tonight?');
  await t.waitForMessage(alice.page, 'dinner tonight?');
  await choose(alice.page, 'dinner tonight?', 'Reply');
  await alice.page.waitForSelector('#compose-bar[data-mode="reply"]');
  assert.equal(await alice.page.textContent('#compose-bar-text'), 'Replying to bob: dinner tonight?');
  await t.screenshot(alice.page, 'reply-bar-desktop');
  await t.send(alice.page, 'yes, at 6');
  await t.waitForMessage(bob.page, 'yes, at 6');
  assert.equal(await alice.page.isHidden('#compose-bar'), true);
  const [sent] = (await sentOfType(alice, 'message')).filter((f) => f.text === 'yes, at 6');
  assert.ok(Number.isInteger(sent.reply_to), JSON.stringify(sent));

  const preview = item(bob.page, 'yes, at 6').locator('.reply-preview');
  assert.equal(await preview.locator('.reply-author').textContent(), 'bob');
  assert.equal(await preview.locator('.reply-excerpt').textContent(), 'dinner tonight?');

  // bob edits the original: alice's and his own previews follow.
  await choose(bob.page, 'dinner tonight?', 'Edit');
  await bob.page.fill('#composer-input', 'dinner tomorrow?');
  await bob.page.press('#composer-input', 'Enter');
  for (const user of [alice, bob]) {
    await until(item(user.page, 'yes, at 6').locator('.reply-excerpt'), (el) => el.textContent === 'dinner tomorrow?');
  }

  // Clicking the preview scrolls to the original and lights it up.
  for (let i = 0; i < 30; i += 1) await t.send(carol.page, `filler ${i}`);
  await t.waitForMessage(bob.page, 'filler 29');
  await item(bob.page, 'yes, at 6').locator('.reply-preview').click();
  const original = item(bob.page, 'dinner tomorrow?');
  await until(original, (li) => li.classList.contains('highlight'));
  assert.ok(await original.isVisible());
  assert.ok(await original.evaluate((li) => {
    const box = li.getBoundingClientRect();
    const view = document.getElementById('scroller').getBoundingClientRect();
    return box.top >= view.top && box.bottom <= view.bottom;
  }), 'the original is not in view');

  // bob deletes it: the reply says so.
  await choose(bob.page, 'dinner tomorrow?', 'Delete');
  await item(bob.page, 'dinner tomorrow?').locator('[data-confirm-delete="yes"]').click();
  await until(item(alice.page, 'yes, at 6').locator('.reply-preview'), (el) => el.textContent.includes('deleted message'));
});

// --- reactions ----------------------------------------------------------------------

test('a reaction by alice is a chip at bob with her name; his click makes 2, another click 1', async () => {
  await t.send(bob.page, 'I passed the exam');
  await t.waitForMessage(alice.page, 'I passed the exam');
  await choose(alice.page, 'I passed the exam', 'React');
  await alice.page.waitForSelector('#emoji-picker:not([hidden])');
  await alice.page.fill('#emoji-search', 'thumbs up');
  await alice.page.press('#emoji-search', 'Enter');

  const chip = item(bob.page, 'I passed the exam').locator('.reaction[data-emoji="👍"]');
  await chip.waitFor();
  assert.equal(await chip.locator('.reaction-count').textContent(), '1');
  assert.equal(await chip.getAttribute('aria-label'), '👍 1: alice');
  assert.equal(await chip.getAttribute('aria-pressed'), 'false');
  const mine = item(alice.page, 'I passed the exam').locator('.reaction[data-emoji="👍"]');
  await until(mine, (el) => el.getAttribute('aria-pressed') === 'true');

  await chip.click();
  await until(chip, (el) => el.getAttribute('aria-label') === '👍 2: alice, bob' && el.getAttribute('aria-pressed') === 'true');
  await until(mine, (el) => el.querySelector('.reaction-count').textContent === '2');
  await chip.click();
  await until(chip, (el) => el.getAttribute('aria-label') === '👍 1: alice' && el.getAttribute('aria-pressed') === 'false');
  // Explicit on/off, never a toggle.
  const reacts = await sentOfType(bob, 'react');
  assert.deepEqual(reacts.map((f) => [f.emoji, f.on]), [['👍', true], ['👍', false]]);

  // alice takes hers back: no chips left.
  await mine.click();
  await until(item(bob.page, 'I passed the exam'), (li) => !li.querySelector('.reactions'));
});

test('a change that arrives while the menu or "Delete?" is open (the message is drawn anew) keeps them working', async () => {
  await t.send(alice.page, 'busy message');
  await t.waitForMessage(bob.page, 'busy message');

  // bob's menu is open when alice's reaction redraws the message.
  const li = item(bob.page, 'busy message');
  await li.hover();
  await li.locator('.message-menu-button').click();
  await bob.page.waitForSelector('#message-menu:not([hidden])');
  await choose(alice.page, 'busy message', 'React');
  await alice.page.fill('#emoji-search', 'thumbs up');
  await alice.page.press('#emoji-search', 'Enter');
  await item(bob.page, 'busy message').locator('.reaction[data-emoji="👍"]').waitFor();
  assert.equal(await bob.page.isVisible('#message-menu'), true);
  assert.equal(await item(bob.page, 'busy message').locator('.message-menu-button').getAttribute('aria-expanded'), 'true');
  await bob.page.click('#message-menu button:text-is("Reply")');
  await bob.page.waitForSelector('#compose-bar[data-mode="reply"]');
  await bob.page.click('#compose-bar-cancel');

  // alice is asked "Delete?" when bob's reaction redraws it: the question stays and works.
  await choose(alice.page, 'busy message', 'Delete');
  await item(alice.page, 'busy message').locator('.delete-confirm').waitFor();
  await item(bob.page, 'busy message').locator('.reaction[data-emoji="👍"]').click();
  await until(item(alice.page, 'busy message').locator('.reaction[data-emoji="👍"]'), (el) => el.getAttribute('aria-label') === '👍 2: alice, bob');
  await item(alice.page, 'busy message').locator('[data-confirm-delete="yes"]').click();
  await bob.page.waitForFunction(() => ![...document.querySelectorAll('li.message .text')].some((n) => n.textContent === 'busy message'));
});

// --- mentions and notifications ------------------------------------------------------

test('a mention of bob notifies him in a muted room; an edit that adds carol notifies carol, not bob again', async () => {
  for (const user of [bob, carol]) {
    await user.page.click('#mute-toggle');
    assert.equal(await user.page.getAttribute('#mute-toggle', 'aria-pressed'), 'true');
    await t.setBackground(user.page, true);
  }
  const before = { bob: (await notifications(bob)).length, carol: (await notifications(carol)).length };

  const box = alice.page.locator('#composer-input');
  await box.fill('');
  await box.pressSequentially('look @bo');
  await alice.page.waitForSelector('#mention-list:not([hidden])');
  await box.press('Enter'); // takes "@bob "
  await box.pressSequentially('at this');
  await box.press('Enter');
  await t.waitForMessage(bob.page, 'look @bob at this');
  const [sent] = (await sentOfType(alice, 'message')).filter((f) => f.text === 'look @bob at this');
  assert.deepEqual(sent.mentions, ['bob']);
  await bob.page.waitForFunction((n) => window.__notifications.length === n + 1, before.bob);
  assert.deepEqual((await notifications(bob)).at(-1), { title: 'alice in #lobby', body: 'look @bob at this' });

  // alice adds carol by editing.
  await box.press('ArrowUp');
  assert.equal(await box.inputValue(), 'look @bob at this');
  await box.pressSequentially(', @ca');
  await alice.page.waitForSelector('#mention-list:not([hidden])');
  await box.press('Enter'); // takes "@carol "
  await box.press('Enter'); // saves
  await t.waitForMessage(carol.page, 'look @bob at this, @carol');
  await carol.page.waitForFunction((n) => window.__notifications.length === n + 1, before.carol);
  const [edit] = (await sentOfType(alice, 'edit')).slice(-1);
  assert.deepEqual(edit.mentions, ['bob', 'carol']);

  // bob's page has the edit too, and did not tell him again.
  await t.waitForMessage(bob.page, 'look @bob at this, @carol');
  await roundTrip(alice, bob, 'after the mention edit');
  assert.equal((await notifications(bob)).length, before.bob + 1);
  // The muted room's title counts bob's one mention.
  assert.match(await bob.page.title(), /^\(1\) #lobby/);

  for (const user of [bob, carol]) {
    await t.setBackground(user.page, false);
    await user.page.click('#mute-toggle');
  }
});

// --- commands ---------------------------------------------------------------------

test('/me waves shows "* alice waves" to bob, and stays an action when edited; /help lists /me and is not sent; an unknown /command is not sent', async () => {
  await t.send(alice.page, '/me waves');
  await t.waitForMessage(bob.page, '* alice waves');
  const action = item(bob.page, '* alice waves');
  assert.ok(await action.evaluate((li) => li.classList.contains('action')));
  assert.equal(await action.locator('.text').evaluate((n) => getComputedStyle(n).fontStyle), 'italic');
  const [sent] = (await sentOfType(alice, 'message')).filter((f) => f.action);
  assert.deepEqual([sent.text, sent.action], ['waves', true]);
  // Edited, it stays an action: the box holds the words, not "/me".
  const box0 = alice.page.locator('#composer-input');
  await box0.press('ArrowUp');
  assert.equal(await box0.inputValue(), 'waves');
  await box0.fill('waves again');
  await box0.press('Enter');
  await t.waitForMessage(bob.page, '* alice waves again');
  assert.ok(await item(bob.page, '* alice waves again').evaluate((li) => li.classList.contains('action')));

  const box = alice.page.locator('#composer-input');
  await t.send(alice.page, '/help');
  const help = alice.page.locator('ol.messages[data-room-key="lobby"] li.system.help').last();
  await help.waitFor();
  assert.match(await help.textContent(), /\/me/);
  assert.equal(await box.inputValue(), '');

  await t.send(alice.page, '/frobnicate now');
  await alice.page.waitForSelector('#notice:not([hidden])');
  assert.match(await alice.page.textContent('#notice-text'), /not a command/);
  assert.equal(await box.inputValue(), '/frobnicate now', 'the text stays, to fix');
  await alice.page.click('#notice-close');

  await t.send(alice.page, '//frobnicate is a word');
  await t.waitForMessage(bob.page, '/frobnicate is a word');
  const texts = await t.messageTexts(bob.page);
  assert.ok(!texts.some((x) => x.includes('/help') || x.includes('frobnicate now')), texts.join(' | '));
  assert.equal(await bob.page.locator('li.system.help').count(), 0);
});

// --- resume -------------------------------------------------------------------------

test('an edit and a reaction made while bob is offline show after he reconnects', async () => {
  await t.send(alice.page, 'before bob drops');
  await t.waitForMessage(bob.page, 'before bob drops');
  const joinsBefore = (await sentOfType(bob, 'join')).length;
  const lastId = Number(await item(bob.page, 'before bob drops').getAttribute('data-id'));

  const token = await t.sessionToken(bob);
  proxy.cut(token);
  await bob.page.waitForSelector('#status[data-state="reconnecting"]');

  await choose(alice.page, 'before bob drops', 'Edit');
  await alice.page.fill('#composer-input', 'changed while bob was away');
  await alice.page.press('#composer-input', 'Enter');
  await until(item(alice.page, 'changed while bob was away'), (li) => li.querySelector('.edited') && !li.querySelector('.state'));
  await choose(alice.page, 'changed while bob was away', 'React');
  await alice.page.fill('#emoji-search', 'tada');
  await alice.page.press('#emoji-search', 'Enter');
  await item(alice.page, 'changed while bob was away').locator('.reaction[data-emoji="🎉"]').waitFor();

  proxy.restore(token);
  await t.retryNow(bob.page);
  await t.waitJoined(bob.page, 'lobby');
  await t.waitForMessage(bob.page, 'changed while bob was away');
  const li = item(bob.page, 'changed while bob was away');
  assert.equal(await li.locator('.edited').textContent(), '(edited)');
  await li.locator('.reaction[data-emoji="🎉"]').waitFor();
  assert.equal(await li.locator('.reaction[data-emoji="🎉"]').getAttribute('aria-label'), '🎉 1: alice');

  // He asked with his cursor: at least the last id he had seen.
  const join = (await sentOfType(bob, 'join')).slice(joinsBefore).find((f) => f.room === 'lobby');
  assert.ok(join.since >= lastId, `${JSON.stringify(join)} < ${lastId}`);
  assert.equal(typeof join.epoch, 'string');
});

// --- far back: an edited old message, and a reply to one that is not loaded ----------

const FAR = 'far';

test('an edited old message is shown edited when bob scrolls back to it; a reply preview loads its original when clicked', async () => {
  await alice.page.fill('#join-input', FAR);
  await alice.page.press('#join-input', 'Enter');
  await t.waitJoined(alice.page, FAR);
  await t.send(alice.page, 'the original, far back');
  await t.waitForMessage(alice.page, 'the original, far back', FAR);
  const fillers = Array.from({ length: 230 }, (_, i) => `page filler ${String(i).padStart(3, '0')}`);
  const { posted, errors } = await t.postFromPage(alice.page, FAR, fillers);
  assert.deepEqual(errors, []);
  assert.equal(posted, 230);
  await t.waitForMessage(alice.page, 'page filler 229', FAR);

  // alice edits it and replies to it, far up her own list.
  await choose(alice.page, 'the original, far back', 'Edit', FAR);
  await alice.page.fill('#composer-input', 'the original, far back (fixed)');
  await alice.page.press('#composer-input', 'Enter');
  await until(item(alice.page, 'the original, far back (fixed)', FAR), (li) => li.querySelector('.edited') && !li.querySelector('.state'));
  await choose(alice.page, 'the original, far back (fixed)', 'Reply', FAR);
  await t.send(alice.page, 'answering the far one');
  await t.waitForMessage(alice.page, 'answering the far one', FAR);

  // carol arrives later: her page has only the recent messages. The
  // preview comes from the server; a click pages back to the original.
  await carol.page.fill('#join-input', FAR);
  await carol.page.press('#join-input', 'Enter');
  await t.waitJoined(carol.page, FAR);
  await t.waitForMessage(carol.page, 'answering the far one', FAR);
  assert.equal(await item(carol.page, 'the original, far back', FAR).count(), 0, 'the original was loaded already');
  const preview = item(carol.page, 'answering the far one', FAR).locator('.reply-preview');
  assert.equal(await preview.locator('.reply-excerpt').textContent(), 'the original, far back (fixed)');
  await preview.click();
  const original = item(carol.page, 'the original, far back (fixed)', FAR);
  await original.waitFor();
  await until(original, (li) => li.classList.contains('highlight'));
  assert.equal(await original.locator('.edited').textContent(), '(edited)');

  // bob scrolls back by hand and finds it edited.
  await bob.page.fill('#join-input', FAR);
  await bob.page.press('#join-input', 'Enter');
  await t.waitJoined(bob.page, FAR);
  await bob.page.waitForFunction((wanted) => {
    const scroller = document.getElementById('scroller');
    scroller.scrollTop = 0;
    scroller.dispatchEvent(new Event('scroll'));
    return [...document.querySelectorAll('ol.messages[data-room-key="far"] li.message[data-id] .text')].some((n) => n.textContent === wanted);
  }, 'the original, far back (fixed)', { polling: 250, timeout: t.TIMEOUT * 2 });
  assert.equal(await item(bob.page, 'the original, far back (fixed)', FAR).locator('.edited').textContent(), '(edited)');

  // Back to the lobby for the tests below.
  for (const user of [alice, bob, carol]) await user.page.click('.room-button[data-room-key="lobby"]');
});

// --- phone and accessibility --------------------------------------------------------

test('a long press opens the menu on a phone (390×844, touch); Reply from it starts a reply', async () => {
  const phone = await t.newPage(browser, { viewport: t.PHONE, hasTouch: true, isMobile: true });
  await phone.page.goto(`${server.url}/`);
  await phone.page.fill('#name', 'dave');
  await phone.page.fill('#room', 'lobby');
  await Promise.all([phone.page.waitForURL(/\/r\//), phone.page.click('button[type="submit"]')]);
  await t.waitJoined(phone.page, 'lobby');
  await t.send(alice.page, 'press me for a while');
  await t.waitForMessage(phone.page, 'press me for a while');

  const li = item(phone.page, 'press me for a while');
  await li.scrollIntoViewIfNeeded();
  const box = await li.locator('.text').boundingBox();
  const point = { x: Math.round(box.x + 10), y: Math.round(box.y + box.height / 2) };
  const cdp = await phone.context.newCDPSession(phone.page);
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [point] });
  await phone.page.waitForSelector('#message-menu:not([hidden])');
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  assert.deepEqual(await phone.page.$$eval('#message-menu button:not([hidden])', (b) => b.map((x) => x.textContent)), ['Reply', 'React']);
  assert.equal(await t.horizontalOverflow(phone.page), 0);
  assert.deepEqual(await t.axeViolations(phone.page), []);
  await t.screenshot(phone.page, 'message-menu-phone');

  await phone.page.click('#message-menu button:text-is("Reply")');
  await phone.page.waitForSelector('#compose-bar[data-mode="reply"]');
  assert.equal(await phone.page.textContent('#compose-bar-text'), 'Replying to alice: press me for a while');
  await phone.page.click('#compose-bar-cancel');
  assert.deepEqual(phone.errors, []);
  await phone.context.close();
});

test('no serious accessibility violations with the menu open; the menu is keyboard-driven; screenshots', async () => {
  const { page } = alice;
  await t.send(bob.page, 'a message to look at');
  await t.waitForMessage(page, 'a message to look at');
  await choose(page, 'a message to look at', 'React');
  await page.fill('#emoji-search', 'tada');
  await page.press('#emoji-search', 'Enter');
  await item(page, 'a message to look at').locator('.reaction[data-emoji="🎉"]').waitFor();

  for (const theme of ['dark', 'light']) {
    await page.evaluate((th) => { document.documentElement.dataset.theme = th; }, theme);
    // Keyboard: focus the ⋯ button, Enter opens, the first item has the focus.
    const button = item(page, 'a message to look at').locator('.message-menu-button');
    await button.focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#message-menu:not([hidden])');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Reply');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'React');
    assert.equal(await button.getAttribute('aria-expanded'), 'true');
    assert.deepEqual(await t.axeViolations(page), []);
    await t.screenshot(page, `message-menu-desktop${theme === 'light' ? '-light' : ''}`);
    await page.keyboard.press('Escape');
    await page.waitForSelector('#message-menu', { state: 'hidden' });
    assert.equal(await button.evaluate((b) => b === document.activeElement), true, 'Esc did not give the focus back');
  }
  await page.evaluate(() => { document.documentElement.dataset.theme = 'dark'; });
});

test('no script errors', () => {
  for (const user of [alice, bob, carol]) assert.deepEqual(user.errors, [], user.name);
});
