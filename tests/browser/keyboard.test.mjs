// keyboard.test.mjs — the page's shortcuts: Alt+↓ / Alt+↑ go to the next /
// previous room in the sidebar (the title and the address follow, the
// composer's ↑ is left alone); Ctrl+K opens the room switcher, where typing
// narrows the list, Enter opens a room or joins a new one and Esc puts you
// back in the composer; PageUp / PageDown scroll the history while the
// composer has the focus; "?" outside a text field and Ctrl+/ anywhere
// open the shortcut sheet, Esc closes it and the focus goes back. No
// serious axe violations with either dialog open; screenshots of both.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let alice;
let bob;

before(async () => {
  ({ server, browser, alice, bob } = await t.twoUsers());
});
after(() => t.shutDown(browser, server));

const roomName = (page) => page.textContent('#room-name');
const path = (page) => page.evaluate(() => location.pathname);
const focusedId = (page) => page.evaluate(() => document.activeElement?.id);

/** Join a room with the sidebar's form and wait until it is joined. */
async function join(page, room) {
  await page.fill('#join-input', room);
  await page.press('#join-input', 'Enter');
  await t.waitJoined(page, room);
}

test('Alt+↓ and Alt+↑ go to the next and previous room; the title and the address follow', async () => {
  const { page } = alice;
  await join(page, 'kitchen');
  await join(page, 'garden');
  const box = page.locator('#composer-input');
  // Something to bring back with ↑: Alt+↑ must not do that.
  await t.send(page, 'hello garden');
  await t.waitForMessage(page, 'hello garden', 'garden');
  await box.focus();
  assert.equal(await roomName(page), '#garden');

  await page.keyboard.press('Alt+ArrowUp');
  await page.waitForFunction(() => document.getElementById('room-name').textContent === '#kitchen');
  assert.equal(await path(page), '/r/kitchen');
  assert.equal(await box.inputValue(), '', 'Alt+↑ started editing the last message, as plain ↑ does');
  assert.equal(await page.getAttribute('.room-button[aria-current="page"]', 'data-room-key'), 'kitchen');

  await page.keyboard.press('Alt+ArrowUp');
  await page.waitForFunction(() => document.getElementById('room-name').textContent === '#lobby');
  assert.equal(await path(page), '/r/lobby');

  // Past the first room it wraps round to the last.
  await page.keyboard.press('Alt+ArrowUp');
  await page.waitForFunction(() => document.getElementById('room-name').textContent === '#garden');
  assert.equal(await path(page), '/r/garden');

  await page.keyboard.press('Alt+ArrowDown');
  await page.waitForFunction(() => document.getElementById('room-name').textContent === '#lobby');
  await page.keyboard.press('Alt+ArrowDown');
  await page.waitForFunction(() => document.getElementById('room-name').textContent === '#kitchen');
  assert.equal(await path(page), '/r/kitchen');
  assert.equal(await focusedId(page), 'composer-input');
  assert.equal(await box.inputValue(), '');

  // Not while an input method is composing: the keys are its own then.
  await page.evaluate(() => document.getElementById('composer-input').dispatchEvent(
    new KeyboardEvent('keydown', { key: 'ArrowDown', altKey: true, isComposing: true, bubbles: true, cancelable: true }),
  ));
  assert.equal(await roomName(page), '#kitchen');
});

test('Ctrl+K opens the room switcher: typing and Enter switch, a new name is joined, Esc goes back to the composer', async () => {
  const { page } = alice;
  await page.focus('#composer-input');
  await page.keyboard.press('Control+k');
  await page.waitForSelector('#room-switcher[open]');
  assert.equal(await focusedId(page), 'switcher-input');
  const listed = () => page.$$eval('#switcher-list [role="option"]', (n) => n.map((x) => x.querySelector('.switcher-name').textContent));
  assert.deepEqual(await listed(), ['#lobby', '#kitchen', '#garden']);

  await page.keyboard.type('gar');
  assert.deepEqual(await listed(), ['#garden', '#gar']);
  assert.match(await page.textContent('#switcher-list [aria-selected="true"]'), /^#garden/);
  assert.equal(
    await page.getAttribute('#switcher-input', 'aria-activedescendant'),
    await page.getAttribute('#switcher-list [aria-selected="true"]', 'id'),
  );
  await page.keyboard.press('Enter');
  await page.waitForSelector('#room-switcher', { state: 'hidden' });
  await page.waitForFunction(() => document.getElementById('room-name').textContent === '#garden');
  assert.equal(await path(page), '/r/garden');
  assert.equal(await focusedId(page), 'composer-input');

  // ↓ moves; a name that is none of your rooms is offered as "Join #…", with the "#" you typed dropped.
  await page.keyboard.press('Control+k');
  await page.waitForSelector('#room-switcher[open]');
  await page.keyboard.type('#attic');
  assert.deepEqual(await listed(), ['#attic']);
  assert.match(await page.textContent('#switcher-list [aria-selected="true"]'), /^Join #attic/);
  await page.keyboard.press('Enter');
  await t.waitJoined(page, 'attic');
  assert.equal(await roomName(page), '#attic');
  assert.equal(await path(page), '/r/attic');
  assert.equal(await page.isVisible('.room-button[data-room-key="attic"]'), true);

  // Esc closes it without switching; the focus is back in the composer.
  await page.keyboard.press('Control+k');
  await page.waitForSelector('#room-switcher[open]');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#room-switcher', { state: 'hidden' });
  assert.equal(await roomName(page), '#attic');
  assert.equal(await focusedId(page), 'composer-input');

  // ⌘K as on a Mac; a click on the dimmed page around it closes it, a
  // click inside it does not.
  await page.keyboard.press('Meta+k');
  await page.waitForSelector('#room-switcher[open]');
  const box = await page.locator('#room-switcher').boundingBox();
  await page.mouse.click(box.x + 4, box.y + 4); // its padding
  assert.equal(await page.isVisible('#room-switcher'), true);
  await page.mouse.click(box.x + box.width / 2, box.y + box.height + 40);
  await page.waitForSelector('#room-switcher', { state: 'hidden' });
  assert.equal(await roomName(page), '#attic');

  // A click on a room works too.
  await page.keyboard.press('Control+k');
  await page.waitForSelector('#room-switcher[open]');
  await page.click('#switcher-list [role="option"]:has-text("#lobby")');
  await page.waitForSelector('#room-switcher', { state: 'hidden' });
  await page.waitForFunction(() => document.getElementById('room-name').textContent === '#lobby');
});

test('PageUp and PageDown scroll the history while the composer has the focus', async () => {
  const { page } = alice;
  const texts = Array.from({ length: 60 }, (_, i) => `line ${i + 1} of a long morning`);
  await t.postFromPage(bob.page, 'lobby', texts);
  await t.waitForMessage(page, texts.at(-1));
  // At the bottom, following the conversation.
  await page.waitForFunction(() => {
    const s = document.getElementById('scroller');
    return s.scrollHeight > s.clientHeight * 2 && s.scrollHeight - s.scrollTop - s.clientHeight < 32;
  });
  const box = page.locator('#composer-input');
  await box.fill('half a thought');
  await box.focus();
  const scrollTop = () => page.evaluate(() => document.getElementById('scroller').scrollTop);
  const bottom = await scrollTop();

  await page.keyboard.press('PageUp');
  await page.waitForFunction((was) => document.getElementById('scroller').scrollTop < was, bottom);
  const up = await scrollTop();
  assert.ok(up < bottom, `scrollTop ${up} is not above ${bottom}`);
  assert.equal(await focusedId(page), 'composer-input');
  assert.equal(await box.inputValue(), 'half a thought');

  await page.keyboard.press('PageDown');
  await page.waitForFunction((was) => document.getElementById('scroller').scrollTop > was, up);
  assert.equal(await focusedId(page), 'composer-input');
  await box.fill('');
});

test('"?" outside a text field and Ctrl+/ anywhere open the shortcut sheet; Esc closes it and the focus goes back', async () => {
  const { page } = alice;
  // In the composer "?" is just a character.
  const box = page.locator('#composer-input');
  await box.fill('');
  await box.press('?');
  assert.equal(await box.inputValue(), '?');
  assert.equal(await page.isVisible('#shortcut-sheet'), false);
  await box.fill('');

  // On the message list it opens the sheet.
  await page.focus('#scroller');
  await page.keyboard.press('?');
  await page.waitForSelector('#shortcut-sheet[open]');
  const sheet = await page.textContent('#shortcut-sheet');
  for (const key of ['Enter', 'Shift+Enter', '↑', 'Alt+↑', 'Alt+↓', 'Ctrl+K', 'Page Up', 'Page Down', 'Esc', '?', 'Ctrl+/']) {
    assert.ok(sheet.includes(key), `the sheet does not list ${key}`);
  }
  assert.equal(await page.getAttribute('#shortcut-sheet', 'aria-labelledby'), 'shortcut-sheet-title');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#shortcut-sheet', { state: 'hidden' });
  assert.equal(await focusedId(page), 'scroller');

  // Ctrl+/ from the composer; its Close button closes it too.
  await box.focus();
  await page.keyboard.press('Control+/');
  await page.waitForSelector('#shortcut-sheet[open]');
  await page.click('#shortcut-sheet .key-dialog-close');
  await page.waitForSelector('#shortcut-sheet', { state: 'hidden' });
  assert.equal(await focusedId(page), 'composer-input');
});

test('the settings dialog opens the shortcut sheet for those who do not know "?"', async () => {
  const { page } = alice;
  await page.click('#settings-open');
  await page.waitForSelector('#settings-dialog[open]');
  await page.click('#shortcuts-open');
  await page.waitForSelector('#shortcut-sheet[open]');
  assert.equal(await page.isVisible('#settings-dialog'), false, 'one dialog at a time');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#shortcut-sheet', { state: 'hidden' });
  assert.equal(await focusedId(page), 'settings-open', 'the focus goes back to where it came from');
});

test('Enter and Shift+Enter still send and add a line', async () => {
  const { page } = alice;
  const box = page.locator('#composer-input');
  await box.fill('');
  await box.pressSequentially('two');
  await box.press('Shift+Enter');
  await box.pressSequentially('lines');
  assert.equal(await box.inputValue(), 'two\nlines');
  await box.press('Enter');
  await t.waitForMessage(bob.page, 'two\nlines');
  // ↑ in the empty composer edits it; Esc leaves it as it was.
  await box.press('ArrowUp');
  assert.equal(await box.inputValue(), 'two\nlines');
  await page.waitForSelector('#compose-bar[data-mode="edit"]');
  await box.press('Escape');
  assert.equal(await box.inputValue(), '');
});

test('no serious accessibility violations with the dialogs open; screenshots, desktop and phone, dark and light', async () => {
  const phone = await t.login(browser, server, 'carol', 'lobby', { viewport: t.PHONE });
  for (const [size, user] of [['desktop', alice], ['phone', phone]]) {
    const { page } = user;
    for (const theme of ['dark', 'light']) {
      await page.evaluate((th) => { document.documentElement.dataset.theme = th; }, theme);
      const suffix = theme === 'light' ? '-light' : '';
      await page.focus('#composer-input');
      await page.keyboard.press('Control+k');
      await page.waitForSelector('#room-switcher[open]');
      assert.deepEqual(await t.axeViolations(page), []);
      await t.screenshot(page, `switcher-${size}${suffix}`);
      await page.keyboard.press('Escape');
      await page.waitForSelector('#room-switcher', { state: 'hidden' });

      await page.keyboard.press('Control+/');
      await page.waitForSelector('#shortcut-sheet[open]');
      assert.deepEqual(await t.axeViolations(page), []);
      assert.equal(await t.horizontalOverflow(page), 0);
      await t.screenshot(page, `shortcuts-${size}${suffix}`);
      await page.keyboard.press('Escape');
      await page.waitForSelector('#shortcut-sheet', { state: 'hidden' });
    }
  }
  assert.deepEqual(phone.errors, []);
  await phone.context.close();
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
