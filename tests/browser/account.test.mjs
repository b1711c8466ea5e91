// account.test.mjs — "Your account" (account-dialog.js) and member cards
// (card.js): the sessions of a claimed name and logging out of all of them,
// changing the password, a profile that others see on the card (and a
// temporary name's card saying so), releasing a name with its messages
// erased, and axe with the dialog and the card open, on a desktop and a
// phone.
//
// One claim per test (see beforeEach). A name is claimed here through the server's own POST /account/claim,
// called from the page (the claim section is another part of the page);
// a reload then brings the hello that says the name is ours. Logging in
// with a password goes through the login form's POST in the browser
// context (its cookie jar), as the login page would send it.

import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let bob;

// A server of its own for each test: the server lets one address claim a
// name only every 30 s (CLAIM_INTERVAL), with or without --rate-limit, and
// every page here comes from 127.0.0.1.
before(async () => {
  browser = await t.launchBrowser();
});
beforeEach(async () => {
  server = await t.startServer();
  bob = await t.login(browser, server, 'bob');
});
afterEach(async () => {
  await bob.context.close();
  await server.stop();
});
after(() => t.shutDown(browser));

/** Claim the user's name from their page, then reload so hello says so. */
async function claim(user, password) {
  const answer = await user.page.evaluate(async (pw) => {
    const response = await fetch('/account/claim', { method: 'POST', body: new URLSearchParams({ password: pw, confirm: pw }) });
    return { status: response.status, body: await response.json() };
  }, password);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  await user.page.reload();
  await t.waitJoined(user.page, 'lobby');
}

/** POST the login form from `context` (its cookies); the answer's status (303: logged in). */
async function postLogin(context, name, password) {
  const response = await context.request.post(`${server.url}/login`, {
    form: { name, room: 'lobby', password },
    headers: { Origin: server.url },
    maxRedirects: 0,
  });
  return response.status();
}

/** A second browser (context) logged in to a claimed name with its password. */
async function loginWithPassword(name, password, options) {
  const user = await t.newPage(browser, options);
  assert.equal(await postLogin(user.context, name, password), 303);
  await user.page.goto(`${server.url}/r/lobby`);
  await t.waitJoined(user.page, 'lobby');
  return { ...user, name };
}

async function openAccount(page) {
  await page.click('#settings-open');
  await page.waitForSelector('#account-open', { state: 'visible' });
  await page.click('#account-open');
  await page.waitForSelector('#account-dialog', { state: 'visible' });
}

const sessionTexts = (page) => page.$$eval('#account-sessions li', (items) => items.map((li) => li.textContent));

const sessionEnded = (page) => page.waitForSelector('#session-banner[data-kind="session-ended"]', { state: 'visible' });

test('the account dialog lists both sessions of a claimed name, and "log out everywhere" ends both', async () => {
  const alice = await t.login(browser, server, 'alice');
  // A temporary name has no account: Settings offers none.
  await alice.page.click('#settings-open');
  assert.equal(await alice.page.isVisible('#account-open'), false);
  await alice.page.keyboard.press('Escape');

  await claim(alice, 'correct horse');
  const elsewhere = await loginWithPassword('alice', 'correct horse');

  await openAccount(alice.page);
  await alice.page.waitForFunction(() => document.querySelectorAll('#account-sessions li').length === 2);
  const texts = await sessionTexts(alice.page);
  assert.equal(texts[0], 'This browser — 1 tab open');
  assert.equal(texts[1], 'Another device — 1 tab open');

  // Asks first; Cancel keeps everyone logged in.
  await alice.page.click('#logout-all-ask');
  await alice.page.waitForSelector('#logout-all-confirm', { state: 'visible' });
  await alice.page.click('#logout-all-cancel');
  assert.equal(await alice.page.isVisible('#logout-all-confirm'), false);

  await alice.page.click('#logout-all-ask');
  await alice.page.click('#logout-all-yes');
  await sessionEnded(alice.page);
  await sessionEnded(elsewhere.page);
  assert.match(await alice.page.textContent('#notice-text'), /Logged out everywhere: 2 sessions ended/);
  assert.equal(await alice.page.isVisible('#account-dialog'), false);
  assert.deepEqual([...alice.errors, ...elsewhere.errors], []);
  await alice.context.close();
  await elsewhere.context.close();
});

test('a claim made in Settings offers "Your account…" at once, without a reload', async () => {
  const hana = await t.login(browser, server, 'hana');
  const { page } = hana;
  await page.click('#settings-open');
  await page.waitForSelector('#claim-form', { state: 'visible' });
  assert.equal(await page.isVisible('#account-open'), false);
  await page.fill('#claim-password', 'hana password');
  await page.fill('#claim-confirm', 'hana password');
  await page.click('#claim-button');
  await page.waitForSelector('#claim-done', { state: 'visible' });
  await page.waitForSelector('#account-open', { state: 'visible' });
  await page.click('#account-open');
  await page.waitForFunction(() => document.getElementById('account-sessions').textContent === 'This browser — 1 tab open');
  assert.deepEqual(hana.errors, []);
  await hana.context.close();
});

test('change the password from the dialog: the old one no longer logs in, the new one does', async () => {
  const carol = await t.login(browser, server, 'carol');
  await claim(carol, 'first password');
  await openAccount(carol.page);

  // A wrong current password: the server's sentence, inline.
  await carol.page.fill('#password-current', 'not it at all');
  await carol.page.fill('#password-new', 'second password');
  await carol.page.fill('#password-confirm', 'second password');
  await carol.page.click('#password-save');
  await carol.page.waitForFunction(() => document.getElementById('password-error').textContent === 'That is not your password.');

  await carol.page.fill('#password-current', 'first password');
  await carol.page.click('#password-save');
  await carol.page.waitForFunction(() => /Password changed/.test(document.getElementById('password-done').textContent));
  assert.equal(await carol.page.textContent('#password-error'), '');
  assert.equal(await carol.page.inputValue('#password-current'), '');

  // Esc closes the dialog and the focus is back on "Your account…".
  await carol.page.keyboard.press('Escape');
  await carol.page.waitForSelector('#account-dialog', { state: 'hidden' });
  assert.equal(await carol.page.evaluate(() => document.activeElement?.id), 'account-open');

  const tryOld = await t.newPage(browser);
  assert.notEqual(await postLogin(tryOld.context, 'carol', 'first password'), 303);
  const tryNew = await t.newPage(browser);
  assert.equal(await postLogin(tryNew.context, 'carol', 'second password'), 303);
  assert.deepEqual(carol.errors, []);
  for (const user of [carol, tryOld, tryNew]) await user.context.close();
});

test('a bio and a colour show on the member card, with the ✓; a temporary name says it is temporary', async () => {
  const dave = await t.login(browser, server, 'dave');
  await claim(dave, 'dave password');
  const erin = await t.login(browser, server, 'erin');

  await openAccount(dave.page);
  await dave.page.fill('#profile-bio', 'Plays the oboe, badly');
  await dave.page.fill('#profile-color', '#ff8800');
  await dave.page.click('#profile-save');
  await dave.page.waitForFunction(() => /Profile saved/.test(document.getElementById('profile-done').textContent));
  await dave.page.keyboard.press('Escape');
  await dave.page.keyboard.press('Escape');
  await t.send(dave.page, 'hello from dave');
  await t.waitForMessage(bob.page, 'hello from dave');

  // bob opens dave's card from the member list.
  const page = bob.page;
  await page.waitForSelector('#members-list [data-card="dave"]');
  await page.click('#members-list [data-card="dave"]');
  await page.waitForSelector('#member-card', { state: 'visible' });
  await page.waitForFunction(() => document.getElementById('card-bio').textContent === 'Plays the oboe, badly');
  assert.equal(await page.textContent('#card-name'), 'dave');
  assert.equal(await page.isVisible('#card-verified'), true);
  assert.match(await page.textContent('#card-verified'), /✓ verified name/);
  assert.match(await page.textContent('#card-since'), /^Claimed since \d{4}-\d\d-\d\d$/);
  assert.equal(await page.$eval('#card-swatch', (s) => getComputedStyle(s).backgroundColor), 'rgb(255, 136, 0)');
  assert.equal(await page.isVisible('#card-temporary'), false);
  // Esc closes it; the focus is back on the button that opened it.
  await page.keyboard.press('Escape');
  await page.waitForSelector('#member-card', { state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.card), 'dave');

  // The name itself still mentions (the card has its own button).
  await page.click('#members-list [data-mention="dave"]');
  assert.match(await page.inputValue('#composer-input'), /@dave/);
  await page.fill('#composer-input', '');

  // From a message's author, with the keyboard.
  await page.focus('li.message[data-id] .author[data-card="dave"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#member-card', { state: 'visible' });
  await page.waitForFunction(() => document.getElementById('card-bio').textContent === 'Plays the oboe, badly');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#member-card', { state: 'hidden' });

  // erin never claimed her name.
  await page.click('#members-list [data-card="erin"]');
  await page.waitForSelector('#card-temporary', { state: 'visible' });
  assert.equal(await page.textContent('#card-temporary'), 'Temporary name — anyone can use it when it is free');
  assert.equal(await page.isVisible('#card-verified'), false);
  assert.equal(await page.isVisible('#card-bio'), false);
  await page.keyboard.press('Escape');
  assert.deepEqual([...bob.errors, ...dave.errors], []);
  await dave.context.close();
  await erin.context.close();
});

test('releasing a name with erase deletes its messages for everyone, and the name is free', async () => {
  const frank = await t.login(browser, server, 'frank');
  await claim(frank, 'frank password');
  await t.send(frank.page, 'frank was here');
  await t.waitForMessage(bob.page, 'frank was here');

  await openAccount(frank.page);
  // A wrong password: the server's sentence, and nothing released.
  await frank.page.fill('#release-password', 'wrong password');
  await frank.page.click('#release-ask');
  await frank.page.click('#release-yes');
  await frank.page.waitForFunction(() => document.getElementById('release-error').textContent === 'That is not your password.');

  await frank.page.fill('#release-password', 'frank password');
  await frank.page.check('#release-erase');
  await frank.page.click('#release-ask');
  await frank.page.waitForSelector('#release-confirm', { state: 'visible' });
  assert.match(await frank.page.textContent('#release-question'), /cannot be undone/);
  await frank.page.click('#release-yes');
  await sessionEnded(frank.page);
  assert.match(await frank.page.textContent('#notice-text'), /“frank” is free again, and every message/);

  // bob sees the message become a tombstone.
  await bob.page.waitForFunction(() => [...document.querySelectorAll('li.message.deleted .tombstone')]
    .some((n) => n.closest('li').dataset.user === 'frank' && n.textContent === 'message deleted'));
  assert.deepEqual((await t.messageTexts(bob.page)).filter((text) => text === 'frank was here'), []);

  // Anyone may log in as frank now, without a password.
  const newFrank = await t.login(browser, server, 'frank');
  await newFrank.page.click('#settings-open');
  assert.equal(await newFrank.page.isVisible('#account-open'), false);
  assert.deepEqual([...frank.errors, ...newFrank.errors, ...bob.errors], []);
  await frank.context.close();
  await newFrank.context.close();
});

for (const [label, viewport] of [['desktop', t.DESKTOP], ['phone', t.PHONE]]) {
  test(`axe finds nothing with the account dialog or a card open (${label})`, async () => {
    const name = `gina${label}`;
    const gina = await t.login(browser, server, name, 'lobby', { viewport });
    await claim(gina, 'gina password');
    const { page } = gina;

    await openAccount(page);
    await page.waitForSelector('#account-sessions li');
    assert.deepEqual(await t.axeViolations(page), []);
    assert.equal(await t.horizontalOverflow(page), 0);
    // The dialog fits the screen sideways.
    const box = await page.$eval('#account-dialog', (d) => { const r = d.getBoundingClientRect(); return { left: r.left, right: r.right }; });
    assert.ok(box.left >= 0 && box.right <= viewport.width, JSON.stringify(box));
    await t.screenshot(page, `account-dialog-${label}`);
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');

    // A card, opened from a message's author (on a phone the member list is in the drawer).
    await t.send(page, `${name} says hi`);
    await t.waitForMessage(page, `${name} says hi`);
    await page.click(`li.message[data-id] .author[data-card="${name}"]`);
    await page.waitForSelector('#card-verified', { state: 'visible' });
    assert.deepEqual(await t.axeViolations(page), []);
    await t.screenshot(page, `member-card-${label}`);
    await page.keyboard.press('Escape');

    // And the member list with its card buttons.
    if (label === 'phone') await page.click('#members-button');
    await page.waitForSelector(`#members-list [data-card="${name}"]`, { state: 'visible' });
    assert.deepEqual(await t.axeViolations(page), []);
    await t.screenshot(page, `member-list-cards-${label}`);
    assert.deepEqual(gina.errors, []);
    await gina.context.close();
  });
}
