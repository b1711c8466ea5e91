// notifications.test.mjs — with the tab in the background and the
// permission granted, a message from someone else makes a browser
// notification titled "name in #room"; your own does not; a muted room does
// not, unless you are @mentioned; clicking one opens its room; the sound is
// off by default and can be switched on. The tab title counts unread
// messages and clears when you come back.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

// Runs in the page before its own scripts: wrap window.Notification so the
// test can see every notification the page creates (and click one).
function recordNotifications() {
  const Real = window.Notification;
  window.__notifications = [];
  function Recorder(title, options = {}) {
    const entry = { title, body: options.body, permission: Real.permission };
    window.__notifications.push(entry);
    const real = new Real(title, options);
    entry.index = window.__notifications.length - 1;
    (window.__realNotifications ??= []).push(real);
    return real;
  }
  Recorder.prototype = Real.prototype;
  Object.defineProperty(Recorder, 'permission', { get: () => Real.permission });
  Recorder.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorder;
}

const notifications = (page) => page.evaluate(() => window.__notifications.map(({ title, body, permission }) => ({ title, body, permission })));

let server;
let browser;
let alice;
let bob;

before(async () => {
  server = await t.startServer();
  browser = await t.launchBrowser();
  alice = await t.newPage(browser, { initScript: recordNotifications });
  await alice.context.grantPermissions(['notifications'], { origin: server.url });
  alice.name = 'alice';
  await alice.page.goto(`${server.url}/`);
  await alice.page.fill('#name', 'alice');
  await alice.page.fill('#room', 'lobby');
  await Promise.all([alice.page.waitForURL(/\/r\/lobby/), alice.page.click('button[type="submit"]')]);
  await t.waitJoined(alice.page, 'lobby');
  bob = await t.login(browser, server, 'bob');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the sound is off by default and can be switched on', async () => {
  const { page } = alice;
  await page.click('#settings-open'); // the sound and notifications are in the settings dialog
  assert.equal(await page.isChecked('#sound-toggle'), false);
  await page.check('#sound-toggle');
  assert.equal(await page.evaluate(() => localStorage.getItem('natter.sound')), 'true');
  await page.keyboard.press('Escape');
  // It stays on for the tests below: every notification also plays it, and
  // "no script errors" at the end shows that playing it works.
});

test('notifications are off until you click "Enable notifications"', async () => {
  const { page } = alice;
  assert.equal(await page.textContent('#notify-toggle'), 'Enable notifications');
  await t.setBackground(page, true);
  await t.send(bob.page, 'before enabling');
  await t.waitForMessage(page, 'before enabling');
  assert.deepEqual(await notifications(page), []);
  await t.setBackground(page, false);

  await page.click('#settings-open');
  await page.click('#notify-toggle');
  await page.waitForFunction(() => document.getElementById('notify-toggle').textContent === 'Disable notifications');
  await page.keyboard.press('Escape');
});

test('a message from someone else notifies while the tab is hidden; the title counts it', async () => {
  const { page } = alice;
  await t.setBackground(page, true);
  await t.send(bob.page, 'are you there?');
  await t.waitForMessage(page, 'are you there?');
  await page.waitForFunction(() => window.__notifications.length === 1);
  assert.deepEqual(await notifications(page), [{ title: 'bob in #lobby', body: 'are you there?', permission: 'granted' }]);

  await t.send(bob.page, 'hello?');
  await t.waitForMessage(page, 'hello?');
  await page.waitForFunction(() => document.title === '(2) #lobby · natter');
});

test('your own message does not notify', async () => {
  const { page } = alice;
  const before = (await notifications(page)).length;
  await t.send(page, 'my own words');
  await t.waitForMessage(page, 'my own words');
  // bob answers: once his message is here, ours was handled long before.
  await t.send(bob.page, 'got it');
  await t.waitForMessage(page, 'got it');
  const titles = (await notifications(page)).slice(before).map((n) => `${n.title}: ${n.body}`);
  assert.deepEqual(titles, ['bob in #lobby: got it']);
});

test('the title clears when you come back', async () => {
  const { page } = alice;
  assert.equal(await page.title(), '(3) #lobby · natter');
  await t.setBackground(page, false);
  await page.waitForFunction(() => document.title === '#lobby · natter');
  // In front, a new message neither counts nor notifies.
  const before = (await notifications(page)).length;
  await t.send(bob.page, 'you are back');
  await t.waitForMessage(page, 'you are back');
  assert.equal(await page.title(), '#lobby · natter');
  assert.equal((await notifications(page)).length, before);
});

test('a muted room does not notify, unless you are @mentioned', async () => {
  const { page } = alice;
  await page.click('#mute-toggle');
  assert.equal(await page.getAttribute('#mute-toggle', 'aria-pressed'), 'true');
  await t.setBackground(page, true);
  const before = (await notifications(page)).length;

  await t.send(bob.page, 'just chatting');
  await t.waitForMessage(page, 'just chatting');
  await t.send(bob.page, 'hey @alice, look');
  await t.waitForMessage(page, 'hey @alice, look');
  await page.waitForFunction((n) => window.__notifications.length === n + 1, before);
  const fresh = (await notifications(page)).slice(before);
  assert.deepEqual(fresh.map((n) => n.body), ['hey @alice, look']);
  // The mention is highlighted, and only it counts in a muted room's title.
  assert.equal(await page.textContent('li.message.mentions-me:last-of-type mark.mention'), '@alice');
  assert.equal(await page.title(), '(1) #lobby · natter');

  await t.setBackground(page, false);
  await page.click('#mute-toggle');
  assert.equal(await page.getAttribute('#mute-toggle', 'aria-pressed'), 'false');
});

test('clicking a notification opens its room', async () => {
  const { page } = alice;
  // alice opens another room; bob writes in the lobby while she is away.
  await page.fill('#join-input', 'kitchen');
  await page.press('#join-input', 'Enter');
  await t.waitJoined(page, 'kitchen');
  assert.equal(await page.textContent('#room-name'), '#kitchen');

  await t.setBackground(page, true);
  const before = (await notifications(page)).length;
  await t.send(bob.page, 'come back to the lobby');
  await page.waitForFunction((n) => window.__notifications.length === n + 1, before);
  assert.equal((await notifications(page)).at(-1).title, 'bob in #lobby');

  await t.setBackground(page, false);
  await page.evaluate(() => window.__realNotifications.at(-1).dispatchEvent(new Event('click')));
  await page.waitForFunction(() => document.getElementById('room-name').textContent === '#lobby');
  assert.match(page.url(), /\/r\/lobby$/);
  await t.waitForMessage(page, 'come back to the lobby');
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
