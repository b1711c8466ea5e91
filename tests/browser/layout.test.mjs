// layout.test.mjs — what people see: no serious or critical accessibility
// violations (axe-core) on the login and chat pages, in both themes, and in
// the settings dialog; on a 390×844 phone (and a 320 px one) nothing scrolls
// sideways and the side panel opens as a drawer and closes with Esc; the
// theme choice is remembered. Saves desktop and phone screenshots of both
// pages under target/screenshots/ on every run.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let alice;
let bob;

before(async () => {
  server = await t.startServer();
  browser = await t.launchBrowser();
  alice = await t.login(browser, server, 'alice');
  bob = await t.login(browser, server, 'bob');
  // A little conversation, so the screenshots show what a chat looks like.
  await t.send(bob.page, 'Morning! Did anyone try the new build? 🚀');
  await t.send(alice.page, 'Yes, works for me 👍 notes are at https://example.com/notes');
  await t.send(bob.page, '@alice great, thanks!');
  await t.send(bob.page, 'I will deploy it after lunch.');
  await t.send(alice.page, '🎉🎉');
  await t.waitForMessage(bob.page, '🎉🎉');
  await t.waitForMessage(alice.page, '🎉🎉');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// The theme is dark unless you chose light (theme.test.mjs), so the light
// pages here are a stored choice, not the browser's colour scheme.
const chooseLight = () => { try { localStorage.setItem('natter.theme', '"light"'); } catch { /* no storage */ } };

for (const colorScheme of ['dark', 'light']) {
  test(`login page: no serious accessibility violations (${colorScheme}); screenshots`, async () => {
    for (const [size, viewport] of [['desktop', t.DESKTOP], ['phone', t.PHONE]]) {
      const initScript = colorScheme === 'light' ? chooseLight : undefined;
      const { context, page, errors } = await t.newPage(browser, { viewport, colorScheme, initScript });
      await page.goto(`${server.url}/?room=lobby`);
      assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), colorScheme);
      await page.waitForSelector('#name');
      assert.deepEqual(await t.axeViolations(page), []);
      assert.equal(await t.horizontalOverflow(page), 0, `login page scrolls sideways at ${viewport.width}px`);
      await t.screenshot(page, `login-${size}${colorScheme === 'light' ? '-light' : ''}`);
      assert.deepEqual(errors, []);
      await context.close();
    }
  });
}

test('chat page (desktop): no serious accessibility violations, dark and light; screenshots', async () => {
  const { page } = alice;
  assert.deepEqual(await t.axeViolations(page), []);
  await t.screenshot(page, 'chat-desktop');

  // The settings dialog, open: no violations either.
  await page.click('#settings-open');
  await page.waitForSelector('#settings-dialog[open]');
  assert.deepEqual(await t.axeViolations(page), []);

  // Choose the light theme in the settings: applied at once, and remembered.
  await page.selectOption('#theme-select', 'light');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
  assert.deepEqual(await t.axeViolations(page), []);
  await page.keyboard.press('Escape');
  assert.deepEqual(await t.axeViolations(page), []);
  await t.screenshot(page, 'chat-desktop-light');
  await page.reload();
  await t.waitJoined(page, 'lobby');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
  await page.click('#settings-open');
  assert.equal(await page.inputValue('#theme-select'), 'light');
  // Back to following the system (dark in this browser).
  await page.selectOption('#theme-select', 'system');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'system');
  assert.equal(await page.evaluate(() => getComputedStyle(document.body).colorScheme), 'dark');
  await page.selectOption('#theme-select', 'dark');
  await page.keyboard.press('Escape');
});

test('chat page (phone 390×844): nothing overflows, the drawer opens and closes; screenshots', async () => {
  const phone = await t.login(browser, server, 'carol', 'lobby', { viewport: t.PHONE });
  const { page } = phone;
  await t.waitForMessage(page, '🎉🎉');
  assert.equal(await t.horizontalOverflow(page), 0);
  // The side panel is off screen, and out of the tab order.
  assert.equal(await page.isVisible('#sidebar'), false);
  assert.deepEqual(await t.axeViolations(page), []);
  await t.screenshot(page, 'chat-phone');

  await page.click('#drawer-toggle');
  await page.waitForSelector('#sidebar.open');
  await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().left >= 0);
  assert.equal(await page.getAttribute('#drawer-toggle', 'aria-expanded'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'sidebar-close');
  assert.equal(await page.isVisible('#members-list'), true);
  assert.equal(await t.horizontalOverflow(page), 0);
  assert.deepEqual(await t.axeViolations(page), []);
  await t.screenshot(page, 'chat-phone-drawer');

  await page.keyboard.press('Escape');
  await page.waitForSelector('#sidebar:not(.open)');
  assert.equal(await page.getAttribute('#drawer-toggle', 'aria-expanded'), 'false');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'drawer-toggle');

  // The picker fits a phone too.
  await page.click('#emoji-toggle');
  assert.equal(await t.horizontalOverflow(page), 0);
  await t.screenshot(page, 'chat-phone-emoji');
  await page.keyboard.press('Escape');

  // Light theme on the phone.
  await page.evaluate(() => { document.documentElement.dataset.theme = 'light'; });
  assert.deepEqual(await t.axeViolations(page), []);
  await t.screenshot(page, 'chat-phone-light');
  await page.evaluate(() => { document.documentElement.dataset.theme = 'dark'; });

  // The narrowest phones: 320 px.
  await page.setViewportSize({ width: 320, height: 640 });
  assert.equal(await t.horizontalOverflow(page), 0);
  await t.screenshot(page, 'chat-phone-320');
  assert.deepEqual(phone.errors, []);
});

test('focus is visible on the controls', async () => {
  const { page } = alice;
  await page.focus('#composer-input');
  await page.keyboard.press('Shift+Tab'); // the emoji button, reached by keyboard
  const outline = await page.evaluate(() => {
    const style = getComputedStyle(document.activeElement);
    return { id: document.activeElement.id, style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
  });
  assert.equal(outline.id, 'emoji-toggle');
  assert.equal(outline.style, 'solid');
  assert.ok(outline.width >= 2);
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
