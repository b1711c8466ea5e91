// outage.test.mjs — nothing typed is lost, and the page says what is true
// during an outage:
//   * a message typed while the connection is down survives a reload and
//     arrives exactly once when the connection is back;
//   * the browser warns before leaving only while something is unsent;
//   * a real restart of the server (same port, same database) shows
//     "server unreachable" and never says the session ended, and the page
//     reconnects by itself when the server is back;
//   * a log-out in another tab does end the session: the banner says so,
//     says what is not sent yet, and "Log in again" with the same name
//     sends it;
//   * "Log out" asks first, and can be cancelled;
//   * a page waiting to reconnect tries at once when the window gets focus,
//     the tab becomes visible, the network comes back or you start typing,
//     and never waits more than 10 s.
//
// The WebSocket goes through lib's TCP proxy (natter runs with --ws-url
// pointing at it), so the test can cut one user's connection while the web
// pages stay up, and so the WebSocket port may change across a restart.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let dir;
let proxy;
let server;
let browser;
let alice;
let bob;

const serverArgs = (port) => [
  '--db', path.join(dir, 'natter.db'),
  '--ws-url', `ws://127.0.0.1:${proxy.port}/ws`,
  ...(port ? ['--port', String(port), '--ws-port', '0'] : []),
];

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'natter-outage-'));
  proxy = await t.startProxy();
  server = await t.startServer(serverArgs());
  proxy.setTarget(server.wsPort);
  browser = await t.launchBrowser();
  alice = await t.login(browser, server, 'alice');
  bob = await t.login(browser, server, 'bob');
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await proxy?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const count = (texts, text) => texts.filter((x) => x === text).length;

/** Screenshots and an axe scan of what is on screen now, desktop and phone, dark and light. */
async function lookAt(page, name) {
  for (const [size, viewport] of [['desktop', t.DESKTOP], ['phone', t.PHONE]]) {
    await page.setViewportSize(viewport);
    for (const theme of ['dark', 'light']) {
      await page.evaluate((theme) => { document.documentElement.dataset.theme = theme; }, theme);
      assert.deepEqual(await t.axeViolations(page), [], `${name}, ${size}, ${theme}`);
      await t.screenshot(page, `${name}-${size}${theme === 'light' ? '-light' : ''}`);
    }
  }
  await page.setViewportSize(t.DESKTOP);
  await page.evaluate(() => { delete document.documentElement.dataset.theme; });
}
const pending = (page, text) => page.locator('li.message.pending', { hasText: text });

/**
 * Record every text the outage banner shows from now on (a MutationObserver
 * in the page), so a test can check what it never said.
 */
function recordBanner(page) {
  return page.evaluate(() => {
    window.bannerSaid = [];
    const banner = document.getElementById('session-banner');
    const note = () => {
      if (banner.hidden) return;
      const link = document.getElementById('relogin-link');
      const text = document.getElementById('session-banner-text').textContent;
      window.bannerSaid.push(link.hidden ? text : `${text} ${link.textContent}`);
    };
    new MutationObserver(note).observe(banner, { subtree: true, childList: true, characterData: true, attributes: true });
    note();
  });
}

test('a message typed while disconnected survives a reload and arrives once', async () => {
  const { page } = alice;
  const dialogs = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.type());
    dialog.accept();
  });

  const token = await t.sessionToken(alice);
  proxy.cut(token);
  await page.waitForSelector('#status[data-state="reconnecting"]');
  await t.send(page, 'typed before the reload');
  await pending(page, 'typed before the reload').waitFor();

  // Reloading with a message unsent: the browser asks first.
  await page.reload();
  assert.deepEqual(dialogs, ['beforeunload'], 'the page warns before leaving with an unsent message');

  // The new page still cannot connect, and shows the message as pending.
  await pending(page, 'typed before the reload').waitFor();
  assert.equal(await pending(page, 'typed before the reload').locator('.state').textContent(), 'waiting for connection…');

  // The connection comes back; a focused window retries at once.
  proxy.restore(token);
  await page.evaluate(() => window.dispatchEvent(new Event('focus')));
  await t.waitJoined(page, 'lobby');
  await t.waitForMessage(bob.page, 'typed before the reload');
  await t.waitForMessage(page, 'typed before the reload');

  // One more round trip, so a duplicate would be here by now.
  await t.send(bob.page, 'one more');
  await t.waitForMessage(page, 'one more');
  for (const user of [alice, bob]) {
    const texts = await t.messageTexts(user.page);
    assert.equal(count(texts, 'typed before the reload'), 1, `${user.name}: ${texts}`);
  }
  assert.equal(await page.locator('li.message.pending').count(), 0);

  // Nothing unsent: leaving asks nothing, and nothing comes back after it.
  await page.reload();
  await t.waitJoined(page, 'lobby');
  assert.deepEqual(dialogs, ['beforeunload'], 'no warning without unsent messages');
  await t.waitForMessage(page, 'one more');
  assert.equal(await page.locator('li.message.pending').count(), 0);
  assert.equal(count(await t.messageTexts(page), 'typed before the reload'), 1);
});

test('a restart of the server says "unreachable", never "session ended", and the page comes back by itself', async () => {
  await recordBanner(alice.page);
  const port = server.port;
  await server.stop();

  await alice.page.waitForSelector('#session-banner[data-kind="unreachable"]:not([hidden])');
  assert.match(await alice.page.textContent('#session-banner'), /Server unreachable, still trying/);
  assert.equal(await alice.page.isVisible('#relogin-link'), false, 'no log-in link: the session is fine');

  // Typed while the server is away: the banner says it is kept.
  await t.send(alice.page, 'typed during the restart');
  await pending(alice.page, 'typed during the restart').waitFor();
  await alice.page.waitForFunction(() => /1 message is not sent yet/.test(document.getElementById('session-banner').textContent));
  await lookAt(alice.page, 'outage-unreachable');

  server = await t.startServer(serverArgs(port));
  proxy.setTarget(server.wsPort);

  // No click, no event: the page notices the server is back (it polls
  // /healthz while it is unreachable) and reconnects.
  await t.waitJoined(alice.page, 'lobby');
  await t.waitJoined(bob.page, 'lobby');
  await t.waitForMessage(bob.page, 'typed during the restart');
  await alice.page.waitForSelector('#session-banner', { state: 'hidden' });

  const said = await alice.page.evaluate(() => window.bannerSaid);
  assert.ok(said.length > 0, 'the banner said something during the outage');
  for (const text of said) {
    assert.doesNotMatch(text, /session|log in/i, `the banner said: ${text}`);
  }
  assert.equal(count(await t.messageTexts(bob.page), 'typed during the restart'), 1);
});

test('"Log out" asks first, says what is unsent, and Cancel keeps you in', async () => {
  const { page } = bob;
  const token = await t.sessionToken(bob);
  proxy.cut(token);
  await page.waitForSelector('#status[data-state="reconnecting"]');
  await t.send(page, 'bob, unsent');
  await pending(page, 'bob, unsent').waitFor();

  await page.click('#logout-ask');
  await page.waitForSelector('#logout-confirm:not([hidden])');
  assert.equal(await page.getAttribute('#logout-ask', 'aria-expanded'), 'true');
  assert.equal(
    await page.textContent('#logout-unsent'),
    '1 message is not sent yet; it will be sent when you log in again as bob.',
  );
  await lookAt(page, 'outage-logout-confirm');
  // Cancel has the focus; Escape closes the question too.
  assert.equal(await page.evaluate(() => document.activeElement.id), 'logout-cancel');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#logout-confirm', { state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'logout-ask');
  await page.click('#logout-ask');
  await page.click('#logout-cancel');
  await page.waitForSelector('#logout-confirm', { state: 'hidden' });
  // A click elsewhere puts it away too.
  await page.click('#logout-ask');
  await page.waitForSelector('#logout-confirm:not([hidden])');
  await page.click('#composer-input');
  await page.waitForSelector('#logout-confirm', { state: 'hidden' });
  assert.match(page.url(), /\/r\/lobby$/, 'still on the chat page');

  proxy.restore(token);
  await t.retryNow(page);
  await t.waitJoined(page, 'lobby');
  await t.waitForMessage(alice.page, 'bob, unsent');
});

/**
 * While the page waits out its backoff, fire `what` and say whether it
 * started a new attempt there and then. One evaluate, so no timer can run
 * in between: connect() says "connecting" before it returns.
 */
function startsAttempt(page, what) {
  return page.evaluate((what) => {
    const state = () => document.getElementById('status').dataset.state;
    if (state() !== 'reconnecting') throw new Error(`not waiting but ${state()}`);
    if (what === 'key') document.getElementById('composer-input').dispatchEvent(new KeyboardEvent('keydown', { key: 'a', bubbles: true }));
    if (what === 'focus') window.dispatchEvent(new Event('focus'));
    if (what === 'online') window.dispatchEvent(new Event('online'));
    if (what === 'visible') document.dispatchEvent(new Event('visibilitychange'));
    return state() === 'connecting';
  }, what);
}

test('a waiting page retries at once on focus, a visible tab, the network and the first keystroke; it never waits more than 10 s', async () => {
  const { page } = bob;
  const token = await t.sessionToken(bob);
  proxy.cut(token);
  const waiting = () => page.waitForSelector('#status[data-state="reconnecting"]');
  await waiting();

  assert.equal(await startsAttempt(page, 'key'), true, 'the first keystroke retries');
  await waiting();
  assert.equal(await startsAttempt(page, 'key'), false, 'not every keystroke: once per outage');
  for (const what of ['focus', 'visible', 'online', 'focus', 'focus', 'focus']) {
    await waiting();
    assert.equal(await startsAttempt(page, what), true, what);
  }
  // Eight attempts have failed by now: past 1, 2, 4 and 8 s the wait stays
  // at 10 s, less a random part of up to a quarter.
  await waiting();
  const seconds = Number((await page.textContent('#status-text')).match(/reconnecting in (\d+) s/)[1]);
  assert.ok(seconds >= 7 && seconds <= 10, `waits ${seconds} s`);

  proxy.restore(token);
  await page.evaluate(() => window.dispatchEvent(new Event('focus')));
  await t.waitJoined(page, 'lobby');
});

test('a log-out in another tab ends the session: the banner says so, and "Log in again" sends what was unsent', async () => {
  const { page, context } = alice;
  // alice's connection is down when the log-out happens, so this page
  // learns of it only by asking the server (/session), not from the socket.
  const token = await t.sessionToken(alice);
  proxy.cut(token);
  await page.waitForSelector('#status[data-state="reconnecting"]');
  await t.send(page, 'typed before the log-out');
  await pending(page, 'typed before the log-out').waitFor();

  // Another tab of the same browser logs out, and says what is unsent: it
  // shares this browser's outbox.
  const other = await context.newPage();
  await other.goto(`${server.url}/r/lobby`);
  await pending(other, 'typed before the log-out').waitFor();
  await other.click('#logout-ask');
  assert.equal(
    await other.textContent('#logout-unsent'),
    '1 message is not sent yet; it will be sent when you log in again as alice.',
  );
  await Promise.all([other.waitForURL((url) => !url.pathname.startsWith('/r/')), other.click('#logout-yes')]);
  await other.close();
  proxy.restore(token);

  // The next attempt fails without a session; the page asks, and says so.
  await page.evaluate(() => window.dispatchEvent(new Event('focus'))); // retry now
  await page.waitForSelector('#session-banner[data-kind="session-ended"]:not([hidden])');
  assert.match(
    await page.textContent('#session-banner-text'),
    /^Your session has ended\. 1 message is not sent yet; it will be sent when you log in again as alice\.$/,
  );
  assert.equal(await page.textContent('#status-text'), 'offline (session ended)');
  await lookAt(page, 'outage-session-ended');

  // The server keeps a dropped member's name in the room for its leave
  // grace (4 s), an ended session's too, and refuses the name meanwhile:
  // wait until bob sees alice go.
  await bob.page.waitForFunction(() =>
    ![...document.querySelectorAll('#members-list .member-name')].some((n) => n.textContent === 'alice'));

  // "Log in again", as alice: the message is sent, once.
  await Promise.all([page.waitForURL((url) => !url.pathname.startsWith('/r/')), page.click('#relogin-link')]);
  await page.fill('#name', 'alice');
  await Promise.all([page.waitForURL(/\/r\//), page.click('button[type="submit"]')]);
  await t.waitJoined(page, 'lobby');
  await t.waitForMessage(bob.page, 'typed before the log-out');
  await t.waitForMessage(page, 'typed before the log-out');
  await t.send(bob.page, 'welcome back');
  await t.waitForMessage(page, 'welcome back');
  assert.equal(count(await t.messageTexts(bob.page), 'typed before the log-out'), 1);
  assert.equal(await page.locator('li.message.pending').count(), 0);
});

test('leaving a room with unsent messages: Undo brings them back, and they are sent once', async () => {
  const { page } = alice;
  for (const user of [alice, bob]) {
    await user.page.fill('#join-input', 'side');
    await user.page.press('#join-input', 'Enter');
    await t.waitJoined(user.page, 'side');
  }
  const token = await t.sessionToken(alice);
  proxy.cut(token);
  await page.waitForSelector('#status[data-state="reconnecting"]');
  await t.send(page, 'for the side room');
  await pending(page, 'for the side room').waitFor();

  await page.click('.leave-button[aria-label="Leave #side"]');
  assert.match(await page.textContent('#toast-text'), /Left #side\. Its unsent message goes with it unless you undo\./);
  await page.click('#toast-action');
  await pending(page, 'for the side room').waitFor();

  proxy.restore(token);
  await page.evaluate(() => window.dispatchEvent(new Event('focus'))); // retry now
  await t.waitForMessage(bob.page, 'for the side room', 'side');
  await t.send(bob.page, 'got it');
  await t.waitForMessage(page, 'got it', 'side');
  assert.equal(count(await t.messageTexts(bob.page, 'side'), 'for the side room'), 1);
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
