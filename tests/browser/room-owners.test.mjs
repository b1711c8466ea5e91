// room-owners.test.mjs — rooms with owners (issue 16), from the page:
// claiming a room and saving the owner link, the link making a second
// browser the owner (`auth`); an invite-only room that a user without an
// invite is refused, and that an invite link lets a second user into;
// kick and mute from the member card (the target sees the muted composer
// and `removed`); a direct message opened from the card, notified and
// counted as unread. axe runs with the dialogs open, and no page may throw.
//
// A server of its own for each test (beforeEach), so no test depends on
// another's rooms, roles or bans.

import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let users = [];

before(async () => {
  browser = await t.launchBrowser();
});
beforeEach(async () => {
  server = await t.startServer();
  users = [];
});
afterEach(async () => {
  for (const user of users) {
    assert.deepEqual(user.errors, [], `${user.name}: script errors`);
    await user.context.close();
  }
  await server.stop();
});
after(() => t.shutDown(browser));

/** Log `name` in to `room`; the page's errors are checked after the test. */
async function login(name, room, options) {
  const user = await t.login(browser, server, name, room, options);
  users.push(user);
  return user;
}

/** Join a room through the sidebar's form (without waiting for `joined`). */
async function typeJoin(page, room) {
  await page.fill('#join-input', room);
  await page.press('#join-input', 'Enter');
}

/** Open the room dialog: the Room button, or on a phone the room's name in the top bar. */
async function openRoomDialog(page) {
  await page.click((await page.isVisible('#room-open')) ? '#room-open' : '#room-name-button');
  await page.waitForSelector('#room-dialog', { state: 'visible' });
}

async function closeDialog(page, id) {
  await page.keyboard.press('Escape');
  await page.waitForSelector(`#${id}`, { state: 'hidden' });
}

/** The "About this room" facts as { term: value }. */
const roomFacts = (page) => page.$$eval('#room-facts dt', (terms) =>
  Object.fromEntries(terms.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));

/** Wait for a system line with this text in the room's list. */
function waitForSystem(page, room, pattern) {
  return page.waitForFunction(([key, source]) =>
    [...document.querySelectorAll(`ol.messages[data-room-key="${key}"] li.system .system-text`)].some((n) => new RegExp(source).test(n.textContent)),
  [t.roomKey(room), pattern.source]);
}

/** Claim the room on screen from its dialog; returns the owner link shown. The dialog stays open. */
async function claimRoom(page) {
  await openRoomDialog(page);
  await page.waitForSelector('#room-claim', { state: 'visible' });
  await page.click('#room-claim-button');
  await page.waitForSelector('#room-owner-link', { state: 'visible' });
  // The role comes with the `room` frame after `claimed`.
  await page.waitForFunction(() => [...document.querySelectorAll('#room-facts dd')].some((dd) => dd.textContent === 'Owner'));
  return page.inputValue('#room-owner-link-field');
}

async function noAxeViolations(page, what) {
  assert.deepEqual(await t.axeViolations(page), [], `axe: ${what}`);
}

test('claiming a room shows the owner link, and that link makes another browser its owner', async () => {
  const alice = await login('alice', 'Games');
  const link = await claimRoom(alice.page);
  assert.match(link, new RegExp(`^${server.url}/r/Games#owner=.+`), link);
  assert.match(await alice.page.textContent('#room-owner-link-why'), /only way to prove/);
  const facts = await roomFacts(alice.page);
  assert.equal(facts.Owner, 'alice');
  assert.equal(facts['Your role'], 'Owner');
  // The key is kept in this browser for the room.
  const key = decodeURIComponent(link.split('#owner=')[1]);
  assert.equal(await alice.page.evaluate(() => localStorage.getItem('natter.owner-key.games')), key);
  // An owner sees the whole settings form.
  assert.ok(await alice.page.isVisible('#room-owner-fields'));
  await noAxeViolations(alice.page, 'room dialog after a claim');
  await t.screenshot(alice.page, 'room-claimed-desktop');
  await closeDialog(alice.page, 'room-dialog');
  await waitForSystem(alice.page, 'Games', /alice/);

  // Another browser (another person, even) with the link is an owner too:
  // the page keeps the key, drops the fragment, and proves it after `joined`.
  const carol = await login('carol', 'lobby');
  await carol.page.goto(link);
  await t.waitJoined(carol.page, 'Games');
  assert.equal(new URL(carol.page.url()).hash, '', 'the key left the address bar');
  assert.equal(await carol.page.evaluate(() => localStorage.getItem('natter.owner-key.games')), key);
  await openRoomDialog(carol.page);
  await carol.page.waitForFunction(() => [...document.querySelectorAll('#room-facts dd')].some((dd) => dd.textContent === 'Owner'));
  assert.ok(await carol.page.isVisible('#room-owner-fields'), 'carol may change what an owner may');

  // A reload keeps it: the key is proved again if the server asks.
  await carol.page.reload();
  await t.waitJoined(carol.page, 'Games');
  await openRoomDialog(carol.page);
  await carol.page.waitForFunction(() => [...document.querySelectorAll('#room-facts dd')].some((dd) => dd.textContent === 'Owner'));

  // Opened without a session, the link goes through the login form (whose
  // POST would lose the fragment: the login page keeps the key for the room).
  const erin = await t.newPage(browser);
  users.push({ ...erin, name: 'erin' });
  await erin.page.goto(link);
  await erin.page.waitForSelector('#name');
  assert.equal(new URL(erin.page.url()).hash, '', 'the key left the login page\'s address too');
  await erin.page.fill('#name', 'erin');
  await Promise.all([erin.page.waitForURL(/\/r\/Games/), erin.page.click('button[type="submit"]')]);
  await t.waitJoined(erin.page, 'Games');
  await openRoomDialog(erin.page);
  await erin.page.waitForFunction(() => [...document.querySelectorAll('#room-facts dd')].some((dd) => dd.textContent === 'Owner'));

  // Someone without the key is a member, with no owner's controls.
  const dave = await login('dave', 'Games');
  await openRoomDialog(dave.page);
  const daveFacts = await roomFacts(dave.page);
  assert.equal(daveFacts['Your role'], 'Member');
  assert.equal(await dave.page.isVisible('#room-form'), false);
  assert.equal(await dave.page.isVisible('#room-claim'), false, 'an owned room cannot be claimed');
  await noAxeViolations(dave.page, 'room dialog of a member');
});

test('an invite-only room refuses a user without an invite, and an invite link lets one in', async () => {
  const alice = await login('alice', 'Club');
  await claimRoom(alice.page);
  await alice.page.selectOption('#room-access', 'invite');
  await alice.page.fill('#room-topic-input', 'Members only');
  await alice.page.click('#room-save');
  await alice.page.waitForFunction(() => document.getElementById('room-form-done').textContent === 'Saved.');
  // The header: the topic, and a lock.
  assert.equal(await alice.page.textContent('#room-topic'), 'Members only');
  assert.ok(await alice.page.isVisible('#room-marks .room-lock'));

  // An invite link: good for one use, for a day.
  await alice.page.selectOption('#invite-age', '86400');
  await alice.page.selectOption('#invite-uses', '1');
  await alice.page.click('#invite-create');
  await alice.page.waitForSelector('#invite-new', { state: 'visible' });
  const invite = await alice.page.inputValue('#invite-new-field');
  assert.match(invite, new RegExp(`^${server.url}/r/Club\\?invite=.+`), invite);
  await alice.page.waitForSelector('#invite-list li');
  await noAxeViolations(alice.page, 'room dialog with an invite');
  await t.screenshot(alice.page, 'room-invite-desktop');
  // And one for any number of people, for a week.
  await alice.page.selectOption('#invite-age', '604800');
  await alice.page.selectOption('#invite-uses', '0');
  await alice.page.click('#invite-create');
  await alice.page.waitForFunction((first) => document.getElementById('invite-new-field').value !== first, invite);
  const openInvite = await alice.page.inputValue('#invite-new-field');
  await alice.page.waitForFunction(() => document.querySelectorAll('#invite-list li').length === 2);
  await closeDialog(alice.page, 'room-dialog');

  // bob has no invite: refused, told what to do, and the room is not joined.
  const bob = await login('bob', 'lobby');
  await typeJoin(bob.page, 'Club');
  await bob.page.waitForSelector('#composer-lock', { state: 'visible' });
  assert.match(await bob.page.textContent('#composer-lock-text'), /ask a member for an invite link/);
  assert.ok(await bob.page.isDisabled('#composer-input'));
  assert.equal(await bob.page.getAttribute('ol.messages[data-room-key="club"]', 'data-joined'), 'false');
  await noAxeViolations(bob.page, 'a room refused at the door');

  // carol opens the invite link: in, and the code leaves the address.
  const carol = await login('carol', 'lobby');
  await carol.page.goto(invite);
  await t.waitJoined(carol.page, 'Club');
  assert.equal(new URL(carol.page.url()).search, '', 'the invite code left the address bar');
  await t.send(carol.page, 'thanks for the invite');
  await t.waitForMessage(alice.page, 'thanks for the invite', 'Club');
  // A member now: a reload joins without the (used up) invite.
  await carol.page.reload();
  await t.waitJoined(carol.page, 'Club');
  assert.equal(await carol.page.isVisible('#composer-lock'), false);

  // The link was good for one use: bob cannot use it after carol.
  await bob.page.goto(invite);
  await bob.page.waitForSelector('#composer-lock', { state: 'visible' });
  assert.match(await bob.page.textContent('#composer-lock-text'), /invite link/);

  // dave has no session: the link takes him through the login form, and
  // the code with him, into the room.
  const dave = await t.newPage(browser);
  users.push({ ...dave, name: 'dave' });
  await dave.page.goto(openInvite);
  await dave.page.waitForSelector('#name');
  await dave.page.fill('#name', 'dave');
  await Promise.all([dave.page.waitForURL(/\/r\/Club/), dave.page.click('button[type="submit"]')]);
  await t.waitJoined(dave.page, 'Club');
  assert.equal(new URL(dave.page.url()).search, '');
  assert.equal(await dave.page.isVisible('#composer-lock'), false);
});

test('mute and kick from the member card: the target sees the muted composer, then that they were removed', async () => {
  const alice = await login('alice', 'Den');
  await claimRoom(alice.page);
  await closeDialog(alice.page, 'room-dialog');
  const bob = await login('bob', 'Den');
  await alice.page.waitForSelector('#members-list [data-card="bob"]');

  // bob is in the middle of a message when alice mutes him for 10 minutes.
  await bob.page.fill('#composer-input', 'half a thought');
  await alice.page.click('#members-list [data-card="bob"]');
  await alice.page.waitForSelector('#card-mod', { state: 'visible' });
  await noAxeViolations(alice.page, 'a member card with moderation');
  await t.screenshot(alice.page, 'room-card-moderation-desktop');
  await alice.page.fill('#card-reason', 'calm down');
  await alice.page.selectOption('#card-mute-time', '10');
  await alice.page.click('#card-mute');
  await waitForSystem(alice.page, 'Den', /bob/);

  // bob's composer says so, and keeps what he was typing.
  await bob.page.waitForSelector('#composer-lock[data-kind="muted"]', { state: 'visible' });
  assert.match(await bob.page.textContent('#composer-lock-text'), /You are muted in #Den until (\w+ \d+, )?\d/);
  assert.ok(await bob.page.isDisabled('#composer-input'));
  assert.equal(await bob.page.inputValue('#composer-input'), 'half a thought', 'what he typed stays');
  await t.screenshot(bob.page, 'room-muted-desktop');

  // alice kicks him.
  await alice.page.fill('#card-reason', 'spam');
  await alice.page.click('#card-kick');
  await bob.page.waitForSelector('#composer-lock[data-kind="removed"]', { state: 'visible' });
  assert.equal(await bob.page.textContent('#composer-lock-text'), 'You were removed from #Den by alice (spam).');
  assert.equal(await bob.page.getAttribute('ol.messages[data-room-key="den"]', 'data-joined'), 'false');
  await alice.page.waitForFunction(() => ![...document.querySelectorAll('#members-list .member-name')].some((n) => n.textContent === 'bob'));
  await noAxeViolations(bob.page, 'removed from a room');

  // An open room: he may join again, and he is still muted there.
  await bob.page.click('#composer-lock-action');
  await t.waitJoined(bob.page, 'Den');
  await bob.page.waitForSelector('#composer-lock[data-kind="muted"]', { state: 'visible' });
});

// Runs in the page before its scripts: records the notifications it makes.
function recordNotifications() {
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
}

test('a direct message from the member card: the other person is notified and sees it unread', async () => {
  const alice = await login('alice', 'lobby');
  const bob = await login('bob', 'lobby', { initScript: recordNotifications });
  await bob.context.grantPermissions(['notifications'], { origin: server.url });
  await bob.page.click('#settings-open');
  await bob.page.click('#notify-toggle');
  await bob.page.waitForFunction(() => document.getElementById('notify-toggle').textContent === 'Disable notifications');
  await closeDialog(bob.page, 'settings-dialog');

  // alice: bob's card, "Message bob": the page switches to @bob.
  await alice.page.waitForSelector('#members-list [data-card="bob"]');
  await alice.page.click('#members-list [data-card="bob"]');
  await alice.page.waitForSelector('#card-dm', { state: 'visible' });
  await alice.page.click('#card-dm');
  await alice.page.waitForFunction(() => document.getElementById('room-name').textContent === '@bob');
  const dmRoom = await alice.page.evaluate(() => document.querySelector('ol.messages:not([hidden])').dataset.roomKey);
  assert.match(dmRoom, /^dm:/);
  await t.waitJoined(alice.page, dmRoom);
  assert.ok(await alice.page.isVisible('#dm-list .room-button[aria-current="page"]'));
  assert.equal(await alice.page.title(), '@bob · natter');

  // bob's sidebar gets @alice under Direct messages, joined.
  await bob.page.waitForSelector('#dm-group', { state: 'visible' });
  await t.waitJoined(bob.page, dmRoom);
  assert.match(await bob.page.textContent('#dm-list'), /@alice/);

  // bob is away in the lobby: alice writes, he is notified and it is unread.
  await t.setBackground(bob.page, true);
  await t.send(alice.page, 'psst, bob');
  await t.waitForMessage(bob.page, 'psst, bob', dmRoom);
  await bob.page.waitForFunction(() => window.__notifications.length > 0);
  const [note] = await bob.page.evaluate(() => window.__notifications);
  assert.equal(note.title, 'alice (direct message)');
  assert.equal(note.body, 'psst, bob');
  const badge = bob.page.locator(`#dm-list .room-button[data-room-key="${dmRoom}"] .badge`);
  assert.equal(await badge.textContent(), '1');
  assert.ok((await badge.getAttribute('class')).includes('mention'), 'a DM counts like a mention');
  await t.setBackground(bob.page, false);
  await noAxeViolations(bob.page, 'a direct message in the sidebar');
  await t.screenshot(bob.page, 'room-dm-unread-desktop');

  // Opening it reads it; a reload brings it back from hello.dms.
  await bob.page.click(`#dm-list .room-button[data-room-key="${dmRoom}"]`);
  await bob.page.waitForFunction(() => document.getElementById('room-name').textContent === '@alice');
  assert.equal(await badge.count(), 0);
  await bob.page.goto(`${server.url}/r/lobby`);
  await t.waitJoined(bob.page, 'lobby');
  await bob.page.waitForSelector(`#dm-list .room-button[data-room-key="${dmRoom}"]`);
  assert.match(await bob.page.textContent('#dm-list'), /@alice/);
});

test('the directory lists public rooms with their topic, and joins one', async () => {
  const alice = await login('alice', 'Quiz');
  await claimRoom(alice.page);
  await alice.page.fill('#room-topic-input', 'Thursday quiz');
  await alice.page.check('#room-public');
  await alice.page.click('#room-save');
  await alice.page.waitForFunction(() => document.getElementById('room-form-done').textContent === 'Saved.');
  assert.ok(await alice.page.isVisible('#room-marks .room-public'));
  await closeDialog(alice.page, 'room-dialog');

  const bob = await login('bob', 'lobby');
  await bob.page.click('#browse-open');
  await bob.page.waitForSelector('#browse-list .browse-item');
  const item = bob.page.locator('#browse-list .browse-item', { hasText: '#Quiz' });
  assert.match(await item.textContent(), /Thursday quiz/);
  assert.match(await item.textContent(), /1 member/);
  await noAxeViolations(bob.page, 'the directory');
  await item.locator('button').click();
  await t.waitJoined(bob.page, 'Quiz');
  assert.equal(await bob.page.textContent('#room-name'), '#Quiz');
});

/** The <li> of the posted message with this text in the room. */
const item = (page, text, room) =>
  page.locator(`ol.messages[data-room-key="${t.roomKey(room)}"] li.message[data-id]`, {
    has: page.locator('.text', { hasText: text }),
  }).last();

test('a password room asks for its password; an owner names a moderator; a moderator’s delete says who', async () => {
  const alice = await login('alice', 'Vault');
  await claimRoom(alice.page);
  await alice.page.selectOption('#room-access', 'password');
  await alice.page.waitForSelector('#room-new-password', { state: 'visible' });
  await alice.page.fill('#room-new-password', 'open sesame');
  await alice.page.click('#room-save');
  await alice.page.waitForFunction(() => document.getElementById('room-form-done').textContent === 'Saved.');
  assert.ok(await alice.page.isVisible('#room-marks .room-lock'));
  await closeDialog(alice.page, 'room-dialog');

  // bob: the room needs its password; a wrong one is said so; the right one lets him in.
  const bob = await login('bob', 'lobby');
  await typeJoin(bob.page, 'Vault');
  await bob.page.waitForSelector('#room-password-form', { state: 'visible' });
  assert.match(await bob.page.textContent('#composer-lock-text'), /needs its password/);
  await noAxeViolations(bob.page, 'the password field');
  await bob.page.fill('#room-password', 'nope');
  await bob.page.press('#room-password', 'Enter');
  await bob.page.waitForFunction(() => /not the password/.test(document.getElementById('composer-lock-text').textContent));
  await bob.page.fill('#room-password', 'open sesame');
  await bob.page.press('#room-password', 'Enter');
  await t.waitJoined(bob.page, 'Vault');
  assert.equal(await bob.page.isVisible('#composer-lock'), false);
  assert.equal(await bob.page.isDisabled('#composer-input'), false);

  // alice makes bob a moderator from his card; his card and dialog say so.
  await alice.page.waitForSelector('#members-list [data-card="bob"]');
  await alice.page.click('#members-list [data-card="bob"]');
  await alice.page.waitForSelector('#card-role-toggle', { state: 'visible' });
  assert.equal(await alice.page.textContent('#card-role-toggle'), 'Make moderator');
  await alice.page.click('#card-role-toggle');
  await alice.page.waitForFunction(() => document.getElementById('card-role').textContent === 'Moderator of #Vault');
  assert.equal(await alice.page.textContent('#card-role-toggle'), 'Remove moderator');
  await closeDialog(alice.page, 'member-card');
  await openRoomDialog(bob.page);
  await bob.page.waitForFunction(() => [...document.querySelectorAll('#room-facts dd')].some((dd) => dd.textContent === 'Moderator'));
  assert.ok(await bob.page.isVisible('#room-topic-input'), 'a moderator sets the topic');
  assert.equal(await bob.page.isVisible('#room-owner-fields'), false, 'the rest is the owner’s');
  await closeDialog(bob.page, 'room-dialog');

  // carol (a member, with the password) writes; bob, a moderator, deletes it.
  const carol = await login('carol', 'lobby');
  await typeJoin(carol.page, 'Vault');
  await carol.page.waitForSelector('#room-password-form', { state: 'visible' });
  await carol.page.fill('#room-password', 'open sesame');
  await carol.page.press('#room-password', 'Enter');
  await t.waitJoined(carol.page, 'Vault');
  await t.send(carol.page, 'buy cheap watches');
  await t.waitForMessage(bob.page, 'buy cheap watches', 'Vault');
  const li = item(bob.page, 'buy cheap watches', 'Vault');
  await li.hover();
  await li.locator('.message-menu-button').click();
  await bob.page.waitForSelector('#message-menu:not([hidden])');
  await bob.page.click('#message-menu button:text-is("Delete")');
  await li.locator('[data-confirm-delete="yes"]').click();
  for (const user of [bob, carol, alice]) {
    await user.page.waitForFunction(() => [...document.querySelectorAll('li.message.deleted .tombstone')].some((n) => n.textContent === 'message deleted by bob'));
  }
});

test('on a phone: the room dialog and a refused room fit, and pass axe', async () => {
  const alice = await login('alice', 'Pocket', { viewport: t.PHONE, hasTouch: true, isMobile: true });
  await claimRoom(alice.page);
  await alice.page.fill('#room-topic-input', 'A topic long enough to need an ellipsis in a narrow top bar');
  await alice.page.selectOption('#room-access', 'invite');
  await alice.page.click('#room-save');
  await alice.page.waitForFunction(() => document.getElementById('room-form-done').textContent === 'Saved.');
  await noAxeViolations(alice.page, 'the room dialog on a phone');
  await t.screenshot(alice.page, 'room-dialog-phone');
  await closeDialog(alice.page, 'room-dialog');
  assert.ok(await alice.page.isVisible('#room-marks .room-lock'));
  assert.equal(await t.horizontalOverflow(alice.page), 0);

  const bob = await login('bob', 'lobby', { viewport: t.PHONE, hasTouch: true, isMobile: true });
  await bob.page.goto(`${server.url}/r/Pocket`);
  await bob.page.waitForSelector('#composer-lock', { state: 'visible' });
  assert.equal(await t.horizontalOverflow(bob.page), 0);
  await noAxeViolations(bob.page, 'a refused room on a phone');
  await t.screenshot(bob.page, 'room-refused-phone');
});

test('with the directory off, Browse rooms says so', async () => {
  // This test's own server, with the operator's flag.
  await server.stop();
  server = await t.startServer(['--directory', 'off']);
  const alice = await login('alice', 'lobby');
  await alice.page.click('#browse-open');
  await alice.page.waitForFunction(() => /directory is off/.test(document.getElementById('browse-status').textContent));
  assert.equal(await alice.page.locator('#browse-list li').count(), 0);
  assert.equal(await alice.page.isVisible('#browse-more'), false);
  await noAxeViolations(alice.page, 'the directory, off');
});

test('a ban from the card: the target is told until when, cannot come back, and the bans list lifts it', async () => {
  const alice = await login('alice', 'Hall');
  await claimRoom(alice.page);
  await closeDialog(alice.page, 'room-dialog');
  const bob = await login('bob', 'Hall');
  await alice.page.waitForSelector('#members-list [data-card="bob"]');
  await alice.page.click('#members-list [data-card="bob"]');
  await alice.page.waitForSelector('#card-mod', { state: 'visible' });
  assert.equal(await alice.page.isChecked('#card-ban-ip'), false, 'the address ban is off by default');
  await alice.page.fill('#card-reason', 'trolling');
  await alice.page.selectOption('#card-ban-time', '60');
  await alice.page.click('#card-ban');
  await bob.page.waitForSelector('#composer-lock[data-kind="removed"]', { state: 'visible' });
  assert.match(await bob.page.textContent('#composer-lock-text'), /^You were banned from #Hall by alice \(trolling\)\. The ban ends at (\w+ \d+, )?\d/);
  await closeDialog(alice.page, 'member-card');

  // Trying again while banned: refused, with the end.
  await bob.page.click('#composer-lock-action');
  await bob.page.waitForFunction(() => /^You are banned from #Hall until (\w+ \d+, )?\d/.test(document.getElementById('composer-lock-text').textContent));

  // alice lists the bans and lifts bob's; then he gets in.
  await openRoomDialog(alice.page);
  await alice.page.click('#bans-load');
  const row = alice.page.locator('#ban-list li', { hasText: 'bob' });
  await row.waitFor();
  assert.match(await row.textContent(), /until .*by alice \(trolling\)/);
  await noAxeViolations(alice.page, 'the bans list');
  await row.locator('button', { hasText: 'Unban' }).click();
  await alice.page.waitForFunction(() => ![...document.querySelectorAll('#ban-list li')].some((li) => li.textContent.includes('bob')));
  await bob.page.click('#composer-lock-action');
  await t.waitJoined(bob.page, 'Hall');
  assert.equal(await bob.page.isVisible('#composer-lock'), false);
});
