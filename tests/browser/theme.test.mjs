// theme.test.mjs — the theme: dark for anyone who never chose, even in a
// browser whose system prefers light, and even with scripts off; set before
// the first paint (no flash of the wrong theme); "Light" and "Same as the
// system" stay choices, and a choice is remembered across reloads and on
// the login page.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

const DARK_BG = 'rgb(15, 17, 21)';   // --bg of the dark theme
const LIGHT_BG = 'rgb(245, 246, 248)'; // --bg of the light theme

let server;
let browser;

before(async () => {
  server = await t.startServer();
  browser = await t.launchBrowser();
});
after(() => t.shutDown(browser, server));

const background = (page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);

/**
 * An init script that notes the theme at the moment the parser inserts
 * <body>: after <head>'s classic scripts ran, before any module script
 * (those run once the whole document is parsed) and before the first paint
 * of the body. What it saw is in window.themeAtBody.
 */
const WATCH_FIRST_PAINT = () => {
  new MutationObserver((_, observer) => {
    if (!document.body) return;
    observer.disconnect();
    window.themeAtBody = {
      theme: document.documentElement.dataset.theme ?? null,
      bg: getComputedStyle(document.documentElement).getPropertyValue('--bg').trim(),
    };
  }).observe(document, { childList: true, subtree: true });
};

test('a new visitor gets the dark theme, even when the system prefers light', async () => {
  const { context, page, errors } = await t.newPage(browser, { colorScheme: 'light', initScript: WATCH_FIRST_PAINT });
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#name');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  assert.equal(await background(page), DARK_BG);
  assert.equal(await page.evaluate(() => getComputedStyle(document.body).colorScheme), 'dark');
  // Set before the body existed: no flash.
  assert.deepEqual(await page.evaluate(() => window.themeAtBody), { theme: 'dark', bg: '#0f1115' });
  assert.deepEqual(errors, []);
  await context.close();
});

test('without scripts the page is dark too', async () => {
  const context = await browser.newContext({ colorScheme: 'light', javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme ?? null), null);
  assert.equal(await background(page), DARK_BG);
  await context.close();
});

test('choosing Light in the settings is applied at once, remembered, and painted first on the next load', async () => {
  const user = await t.login(browser, server, 'lena', 'lobby', { colorScheme: 'dark', initScript: WATCH_FIRST_PAINT });
  const { page } = user;
  assert.equal(await background(page), DARK_BG);
  assert.deepEqual(await page.evaluate(() => window.themeAtBody), { theme: 'dark', bg: '#0f1115' });
  await page.click('#settings-open');
  assert.equal(await page.inputValue('#theme-select'), 'dark');
  await page.selectOption('#theme-select', 'light');
  assert.equal(await background(page), LIGHT_BG);
  await page.keyboard.press('Escape');

  // The next load is light from the very start, on the chat page and on the login page.
  await page.reload();
  await t.waitJoined(page, 'lobby');
  assert.deepEqual(await page.evaluate(() => window.themeAtBody), { theme: 'light', bg: '#f5f6f8' });
  assert.equal(await background(page), LIGHT_BG);
  await page.goto(`${server.url}/?room=lobby`);
  await page.waitForSelector('#name');
  assert.deepEqual(await page.evaluate(() => window.themeAtBody), { theme: 'light', bg: '#f5f6f8' });
  assert.equal(await background(page), LIGHT_BG);
  assert.deepEqual(user.errors, []);
  await user.context.close();
});

test('"Same as the system" follows the system', async () => {
  const user = await t.login(browser, server, 'sami', 'lobby', { colorScheme: 'light' });
  const { page } = user;
  assert.equal(await background(page), DARK_BG); // the default, whatever the system says
  await page.click('#settings-open');
  await page.selectOption('#theme-select', 'system');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'system');
  assert.equal(await background(page), LIGHT_BG);
  await page.emulateMedia({ colorScheme: 'dark' });
  assert.equal(await background(page), DARK_BG);
  await page.reload();
  await t.waitJoined(page, 'lobby');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'system');
  assert.deepEqual(user.errors, []);
  await user.context.close();
});

test('a damaged stored theme falls back to dark', async () => {
  const { context, page, errors } = await t.newPage(browser, {
    colorScheme: 'light',
    initScript: () => { try { localStorage.setItem('natter.theme', '{not json'); } catch { /* no storage */ } },
  });
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#name');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  assert.equal(await background(page), DARK_BG);
  assert.deepEqual(errors, []);
  await context.close();
});
