// accounts.test.mjs — claimed names (issue 15): alice claims hers from the
// Settings dialog, and from then on only she can use it, with its password;
// everyone sees a ✓ beside her name, in the member list and on what she
// writes, and no ✓ beside a temporary name. The login form takes the
// password (with JavaScript or without), and a claimed name without it, or
// with a wrong one, comes back with the server's reason. No serious axe
// violations on the login page or with the claim section open; screenshots
// of both, desktop and phone.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

const PASSWORD = 'correct horse battery';

let server;
let browser;
let alice;
let bob;

before(async () => {
  ({ server, browser, alice, bob } = await t.twoUsers());
});
after(() => t.shutDown(browser, server));

/** The member list's rows: each name, whether it has the ✓ (by its label), and "(you)". */
function memberRows(page) {
  return page.$$eval('#members-list .member', (rows) => rows.map((row) => ({
    name: row.querySelector('.member-name').textContent,
    verified: row.querySelector('.verified[role="img"][aria-label="verified name"]') !== null,
    you: row.querySelector('.you') !== null,
  })));
}

/** Wait until `name`'s row in the member list has the ✓ (or has not, with `want` false). */
function waitMemberVerified(page, name, want = true) {
  return page.waitForFunction(([name, want]) => [...document.querySelectorAll('#members-list .member')].some((row) =>
    row.querySelector('.member-name').textContent === name
      && (row.querySelector('.verified[aria-label="verified name"]') !== null) === want), [name, want]);
}

/** The posted message with this text: its author as shown, and whether it has the ✓. */
function messageBadge(page, text) {
  return page.evaluate((text) => {
    const li = [...document.querySelectorAll('li.message[data-id]')].find((m) => m.querySelector('.text').textContent === text);
    if (!li) return undefined;
    const badge = li.querySelector('.meta .verified');
    return {
      author: li.querySelector('.author').textContent,
      verified: badge !== null && badge.getAttribute('role') === 'img' && badge.getAttribute('aria-label') === 'verified name',
    };
  }, text);
}

async function openSettings(page) {
  await page.click('#settings-open');
  await page.waitForSelector('#settings-dialog[open]');
}

/** Submit the login form as it is filled in; returns the status of the POST /login. */
async function submitLogin(page) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/login' && r.request().method() === 'POST'),
    page.click('button[type="submit"]'),
  ]);
  await page.waitForLoadState('load');
  return response.status();
}

const activeId = (page) => page.evaluate(() => document.activeElement?.id);

test('alice claims her name in Settings, by keyboard; bob sees ✓ next to her in the member list and on her next message', async () => {
  const { page } = alice;
  await openSettings(page);
  await page.waitForSelector('#claim-section', { state: 'visible' });
  assert.equal(await page.textContent('#claim-button'), 'Claim “alice”');
  assert.match(await page.textContent('#claim-what'), /Only you can use “alice” from now on, in every room; you log in with this password/);
  assert.match(await page.textContent('#claim-warning'), /natter has no email: if you forget this password, only the server's operator can reset it/);

  // Two different passwords: the page says so, and asks the server nothing.
  await page.fill('#claim-password', PASSWORD);
  await page.fill('#claim-confirm', `${PASSWORD}!`);
  await page.press('#claim-confirm', 'Enter');
  assert.match(await page.textContent('#claim-error'), /differ/);
  assert.equal(await activeId(page), 'claim-confirm');
  assert.equal(await page.getAttribute('#claim-confirm', 'aria-invalid'), 'true');

  // A password the server refuses (too short): its own words, inline.
  await page.fill('#claim-password', 'short');
  await page.fill('#claim-confirm', 'short');
  await page.click('#claim-button');
  await page.waitForFunction(() => /8/.test(document.getElementById('claim-error').textContent));
  assert.equal(await activeId(page), 'claim-password');

  // By keyboard: Tab from the last export link reaches the fields, Enter claims.
  await page.fill('#claim-password', '');
  await page.fill('#claim-confirm', '');
  await page.focus('#export-json');
  await page.keyboard.press('Tab');
  assert.equal(await activeId(page), 'claim-password');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Tab');
  assert.equal(await activeId(page), 'claim-confirm');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#claim-done', { state: 'visible' });
  assert.equal((await page.textContent('.claim-done-title')).trim(), '“alice” is yours ✓');
  assert.equal(await page.isVisible('#claim-form'), false);
  assert.equal(await activeId(page), 'claim-done', 'the focus is on the success, not lost with the form');
  assert.equal(await page.textContent('#claim-error'), '');
  await t.screenshot(page, 'accounts-claimed-desktop');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#settings-dialog:not([open])', { state: 'attached' });

  // Alice's own row has the ✓ at once; bob's page gets it from the server.
  await waitMemberVerified(page, 'alice');
  await waitMemberVerified(bob.page, 'alice');
  assert.deepEqual(await memberRows(bob.page), [
    { name: 'alice', verified: true, you: false },
    { name: 'bob', verified: false, you: true },
  ]);

  await t.send(page, 'this is the real alice');
  await t.waitForMessage(bob.page, 'this is the real alice');
  assert.deepEqual(await messageBadge(bob.page, 'this is the real alice'), { author: 'alice', verified: true });
  assert.deepEqual(await messageBadge(page, 'this is the real alice'), { author: 'alice', verified: true });
});

test('a temporary name has no ✓, beside a verified one that has: on messages and in the member list', async () => {
  await t.send(bob.page, 'just bob, no password');
  await t.waitForMessage(alice.page, 'just bob, no password');
  for (const { page } of [alice, bob]) {
    assert.deepEqual(await messageBadge(page, 'just bob, no password'), { author: 'bob', verified: false });
    assert.deepEqual(await messageBadge(page, 'this is the real alice'), { author: 'alice', verified: true });
    const rows = await memberRows(page);
    assert.deepEqual(rows.map((r) => [r.name, r.verified]), [['alice', true], ['bob', false]]);
  }
  // The ✓ is an element beside the name, never part of it: the name reads
  // "alice" exactly, and the badge is drawn apart from it.
  const apart = await bob.page.evaluate(() => {
    const li = [...document.querySelectorAll('li.message[data-id]')].find((m) => m.querySelector('.text').textContent === 'this is the real alice');
    const author = li.querySelector('.author');
    const badge = li.querySelector('.meta .verified');
    return { sibling: author.nextElementSibling === badge, visible: badge.getBoundingClientRect().width > 0 };
  });
  assert.deepEqual(apart, { sibling: true, visible: true });
  // Bob's name is not claimed: Settings offer him the claim.
  await openSettings(bob.page);
  await bob.page.waitForSelector('#claim-section', { state: 'visible' });
  assert.equal(await bob.page.textContent('#claim-button'), 'Claim “bob”');
  await bob.page.keyboard.press('Escape');
});

test('logging in as a claimed name: refused without its password and with a wrong one (400, the reason shown), let in with the right one, ✓ and all', async () => {
  const visitor = await t.newPage(browser);
  const { page } = visitor;
  await page.goto(`${server.url}/`);
  await page.fill('#name', 'alice');
  await page.fill('#room', 'lobby');
  assert.equal(await submitLogin(page), 400);
  assert.match(await page.textContent('#login-error'), /claimed/);
  assert.equal(await page.inputValue('#name'), 'alice');
  assert.equal(await activeId(page), 'password', 'the cursor waits in the password field');

  await page.fill('#password', 'not the password');
  assert.equal(await submitLogin(page), 400);
  assert.match(await page.textContent('#login-error'), /[Ww]rong password/);
  assert.equal(await page.inputValue('#password'), '', 'the server never sends a password back');

  await page.fill('#password', PASSWORD);
  await page.fill('#room', 'lobby');
  await Promise.all([page.waitForURL(/\/r\/lobby$/), page.click('button[type="submit"]')]);
  await t.waitJoined(page, 'lobby');
  await waitMemberVerified(page, 'alice');
  const me = (await memberRows(page)).find((r) => r.you);
  assert.deepEqual(me, { name: 'alice', verified: true, you: true });
  // Verified already: nothing to claim.
  await openSettings(page);
  assert.equal(await page.isVisible('#claim-section'), false);
  await page.keyboard.press('Escape');
  // What she writes from here has the ✓ too.
  await t.send(page, 'alice again, from another browser');
  await t.waitForMessage(bob.page, 'alice again, from another browser');
  assert.deepEqual(await messageBadge(bob.page, 'alice again, from another browser'), { author: 'alice', verified: true });
  assert.deepEqual(visitor.errors, []);
  await visitor.context.close();
});

test('the login form with a password works without JavaScript', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  context.setDefaultTimeout(t.TIMEOUT);
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  await page.fill('#name', 'alice');
  await page.fill('#password', 'still not it');
  await page.fill('#room', 'lobby');
  assert.equal(await submitLogin(page), 400);
  assert.match(await page.textContent('#login-error'), /[Ww]rong password/);
  await page.fill('#password', PASSWORD);
  await page.fill('#room', 'lobby');
  await Promise.all([page.waitForURL(/\/r\/lobby$/), page.click('button[type="submit"]')]);
  await context.close();
});

test('no serious accessibility violations on the login page and with the claim section open; screenshots, desktop and phone', async () => {
  for (const [size, viewport] of [['desktop', t.DESKTOP], ['phone', t.PHONE]]) {
    // The login page, fresh and with a refusal.
    const visitor = await t.newPage(browser, { viewport });
    await visitor.page.goto(`${server.url}/`);
    assert.equal(await visitor.page.getAttribute('#password', 'autocomplete'), 'current-password');
    assert.equal(await visitor.page.textContent('#password-hint'), 'Only if your name is claimed');
    assert.deepEqual(await t.axeViolations(visitor.page), [], `login ${size}`);
    assert.equal(await t.horizontalOverflow(visitor.page), 0);
    await t.screenshot(visitor.page, `accounts-login-${size}`);
    await visitor.page.fill('#name', 'alice');
    await visitor.page.fill('#room', 'lobby');
    assert.equal(await submitLogin(visitor.page), 400);
    assert.deepEqual(await t.axeViolations(visitor.page), [], `login refused ${size}`);
    await t.screenshot(visitor.page, `accounts-login-refused-${size}`);
    await visitor.context.close();

    // The claim section of a temporary name, with an error shown, dark and light.
    const user = await t.login(browser, server, `carol-${size}`, 'lobby', { viewport });
    const { page } = user;
    await openSettings(page);
    await page.waitForSelector('#claim-section', { state: 'visible' });
    await page.fill('#claim-password', PASSWORD);
    await page.fill('#claim-confirm', 'something else');
    await page.click('#claim-button');
    await page.waitForFunction(() => document.getElementById('claim-error').textContent !== '');
    await page.locator('#claim-button').scrollIntoViewIfNeeded();
    assert.equal(await t.horizontalOverflow(page), 0);
    for (const theme of ['dark', 'light']) {
      await page.evaluate((theme) => { document.documentElement.dataset.theme = theme; }, theme);
      assert.deepEqual(await t.axeViolations(page), [], `claim ${size} ${theme}`);
      await t.screenshot(page, `accounts-claim-${size}-${theme}`);
    }
    await page.keyboard.press('Escape');
    // The ✓ on messages and in the member list, in the light theme. (On a
    // phone the member list is in the drawer, whose backdrop dims the
    // messages: axe looks at them with the drawer closed.)
    assert.deepEqual(await t.axeViolations(page), [], `badges ${size} light`);
    if (size === 'phone') await page.click('#drawer-toggle');
    await t.screenshot(page, `accounts-badges-${size}-light`);
    assert.deepEqual(user.errors, []);
    await user.context.close();
  }
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
