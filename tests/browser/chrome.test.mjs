// chrome.test.mjs — the page around the messages: the settings dialog
// (opens from the top bar, keeps the focus, closes with Esc and gives the
// focus back), the mute button's state, badges that do not look alike
// (unread, @mention, muted), leaving a room with Undo, the note when a "#"
// typed before a room name is dropped (side panel and login page), the
// composer's thin focus ring, and the phone's top bar (status under the
// room name, members one tap away, the emoji search box not focused). Ends
// with desktop and phone screenshots in dark and light.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let alice;
let bob;

before(async () => ({ server, browser, alice, bob } = await t.twoUsers()));
after(() => t.shutDown(browser, server));

const activeId = (page) => page.evaluate(() => document.activeElement?.id ?? '');

async function joinRoom(page, typed, room = typed) {
  await page.fill('#join-input', typed);
  await page.press('#join-input', 'Enter');
  await t.waitJoined(page, room);
}

test('the settings dialog opens from the top bar, keeps the focus inside, and Esc gives it back', async () => {
  const { page } = alice;
  // Settings are not in the side panel any more.
  assert.equal(await page.locator('#sidebar #theme-select').count(), 0);
  assert.equal(await page.isVisible('#theme-select'), false);

  await page.focus('#settings-open');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#settings-dialog[open]');
  assert.equal(await activeId(page), 'theme-select');
  // Tab goes round the dialog's controls and never out to the page behind.
  for (let i = 0; i < 8; i += 1) {
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.getElementById('settings-dialog').contains(document.activeElement)), true,
      `Tab ${i + 1} left the dialog`);
  }
  // Export is in here, for the room on screen.
  assert.equal(await page.getAttribute('#export-txt', 'href'), '/export/lobby?format=txt');
  assert.equal(await page.isVisible('#export-txt'), true);

  await page.selectOption('#theme-select', 'light');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#settings-dialog:not([open])', { state: 'attached' });
  assert.equal(await activeId(page), 'settings-open');

  // The × closes it too, with the same return of focus.
  await page.click('#settings-open');
  await page.selectOption('#theme-select', 'dark');
  await page.click('#settings-close');
  await page.waitForSelector('#settings-dialog:not([open])', { state: 'attached' });
  assert.equal(await activeId(page), 'settings-open');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
});

test('the mute button shows its state: label, crossed bell, aria-pressed', async () => {
  const { page } = alice;
  const state = () => page.evaluate(() => {
    const b = document.getElementById('mute-toggle');
    return {
      pressed: b.getAttribute('aria-pressed'),
      label: b.textContent.trim(),
      slash: getComputedStyle(b.querySelector('.mute-slash')).display !== 'none',
    };
  });
  assert.deepEqual(await state(), { pressed: 'false', label: 'Mute', slash: false });
  await page.click('#mute-toggle');
  assert.deepEqual(await state(), { pressed: 'true', label: 'Muted', slash: true });
  await page.click('#mute-toggle');
  assert.deepEqual(await state(), { pressed: 'false', label: 'Mute', slash: false });
});

test('unread, @mention and muted badges each look different; reconnecting has its own colour', async () => {
  await joinRoom(alice.page, 'kitchen');
  await joinRoom(bob.page, 'kitchen');
  await joinRoom(alice.page, 'patio');
  await joinRoom(bob.page, 'patio');
  // alice looks at #lobby; #patio is muted.
  await alice.page.click('.room-button[data-room-key="patio"]');
  await alice.page.click('#mute-toggle');
  await alice.page.click('.room-button[data-room-key="lobby"]');

  await bob.page.click('.room-button[data-room-key="kitchen"]');
  await t.send(bob.page, 'kitchen chatter');
  await t.send(bob.page, '@alice a question for you');
  await bob.page.click('.room-button[data-room-key="patio"]');
  await t.send(bob.page, 'patio chatter');
  await alice.page.waitForSelector('.room-button[data-room-key="kitchen"] .badge.mention');
  await alice.page.waitForSelector('.room-button[data-room-key="patio"] .badge.quiet');

  const looks = await alice.page.evaluate(() => {
    const look = (selector) => {
      const badge = document.querySelector(selector);
      const style = getComputedStyle(badge);
      return { bg: style.backgroundColor, before: getComputedStyle(badge, '::before').content, text: badge.textContent };
    };
    const dot = getComputedStyle(document.querySelector('.status-dot'));
    return {
      mention: look('.room-button[data-room-key="kitchen"] .badge'),
      muted: look('.room-button[data-room-key="patio"] .badge'),
      accent: getComputedStyle(document.documentElement).getPropertyValue('--accent').trim(),
      warn: getComputedStyle(document.documentElement).getPropertyValue('--warn').trim(),
      focus: getComputedStyle(document.documentElement).getPropertyValue('--focus').trim(),
      dot: dot.backgroundColor,
    };
  });
  // The mention badge: accent, with an "@" in front of the count.
  assert.equal(looks.mention.before, '"@"');
  assert.equal(looks.mention.text, '2');
  // The muted room's: no fill (an outline), no "@".
  assert.equal(looks.muted.bg, 'rgba(0, 0, 0, 0)');
  assert.equal(looks.muted.before, 'none');
  assert.notEqual(looks.mention.bg, looks.muted.bg);
  // Reconnecting is amber: neither the accent of a mention nor the focus yellow.
  assert.notEqual(looks.warn, looks.accent);
  assert.notEqual(looks.warn, looks.focus);

  await t.screenshot(alice.page, 'chrome-desktop-badges');

  // Read them, so the other tests start clean.
  await alice.page.click('.room-button[data-room-key="patio"]');
  await alice.page.click('#mute-toggle');
  await alice.page.click('.room-button[data-room-key="kitchen"]');
  await alice.page.click('.room-button[data-room-key="lobby"]');
  await bob.page.click('.room-button[data-room-key="lobby"]');
});

test('leaving a room can be undone for a few seconds', async () => {
  const { page } = alice;
  await page.click('.room-button[data-room-key="patio"]');
  await page.click('button[aria-label="Leave #patio"]');
  await page.waitForFunction(() => !document.querySelector('.room-button[data-room-key="patio"]'));
  await page.waitForSelector('#toast', { state: 'visible' });
  assert.equal(await page.textContent('#toast-text'), 'Left #patio.');
  // bob sees alice go.
  await bob.page.click('.room-button[data-room-key="patio"]');
  await bob.page.waitForFunction(() => ![...document.querySelectorAll('#members-list .member-name')].some((n) => n.textContent === 'alice'));

  await page.click('#toast-action');
  await t.waitJoined(page, 'patio');
  await page.waitForSelector('#toast', { state: 'hidden' });
  assert.equal(await page.textContent('#room-name'), '#patio');
  // The room's history is back, and alice is a member again.
  await t.waitForMessage(page, 'patio chatter', 'patio');
  await bob.page.waitForFunction(() => [...document.querySelectorAll('#members-list .member-name')].some((n) => n.textContent === 'alice'));
  await bob.page.click('.room-button[data-room-key="lobby"]');
  await page.click('.room-button[data-room-key="lobby"]');
});

test('a "#" typed before a room name is dropped with a note', async () => {
  const { page } = alice;
  await joinRoom(page, '#garden', 'garden');
  assert.equal(await page.textContent('#room-name'), '#garden');
  assert.equal(await page.textContent('#join-note'), "# is not part of a room's name: joined #garden");
  assert.equal(await page.isVisible('#join-note'), true);
  // Typing the next name clears it; a name without "#" gets no note.
  await page.fill('#join-input', 'shed');
  assert.equal(await page.isVisible('#join-note'), false);
  await page.press('#join-input', 'Enter');
  await t.waitJoined(page, 'shed');
  assert.equal(await page.textContent('#join-note'), '');
  await page.click('.room-button[data-room-key="lobby"]');

  // The login page says the same while you type.
  const visitor = await t.newPage(browser);
  await visitor.page.goto(`${server.url}/`);
  await visitor.page.fill('#room', '#kitchen');
  assert.equal(await visitor.page.textContent('#room-hint'), "# is not part of a room's name: you will join #kitchen");
  assert.equal(await visitor.page.getAttribute('#room', 'aria-describedby'), 'room-hint');
  await visitor.page.fill('#room', 'kitchen');
  assert.equal(await visitor.page.isVisible('#room-hint'), false);
  assert.deepEqual(visitor.errors, []);
  await visitor.context.close();
});

test('the composer has a thin focus ring, other controls the full one', async () => {
  const { page } = alice;
  await page.focus('#composer-input');
  const ring = (page) => page.evaluate(() => {
    const style = getComputedStyle(document.activeElement);
    return { id: document.activeElement.id, width: parseFloat(style.outlineWidth), style: style.outlineStyle };
  });
  const composer = await ring(page);
  assert.equal(composer.id, 'composer-input');
  assert.ok(composer.width <= 1, `the composer's ring is ${composer.width}px`);
  await page.keyboard.press('Shift+Tab');
  const button = await ring(page);
  assert.equal(button.id, 'emoji-toggle');
  assert.equal(button.style, 'solid');
  assert.ok(button.width >= 2);
});

test('phone: the status sits under the room name, members are one tap away, emoji search waits for a tap', async () => {
  const phone = await t.login(browser, server, 'carol', 'lobby', { viewport: t.PHONE });
  const { page } = phone;
  const boxes = await page.evaluate(() => {
    const box = (sel) => document.querySelector(sel).getBoundingClientRect().toJSON();
    return { topbar: box('.topbar'), title: box('.room-title'), status: box('#status'), actions: box('.topbar-actions'), menu: box('#drawer-toggle') };
  });
  // One row: the status is under the name, beside the menu button and the
  // actions, and the bar is no taller than two lines of the title block.
  assert.ok(boxes.status.top >= boxes.title.bottom - 1, 'status under the room name');
  assert.ok(boxes.status.left >= boxes.menu.right, 'status right of the menu button');
  assert.ok(boxes.status.right <= boxes.actions.left, 'status left of the buttons');
  assert.ok(boxes.topbar.height < 70, `top bar is ${boxes.topbar.height}px tall`);
  // Connected: the green dot, and the word for screen readers.
  assert.equal(await page.textContent('#status-text'), 'connected');

  // "N members" under the name opens the drawer at the member list.
  await page.waitForFunction(() => document.getElementById('members-button-text').textContent === '3 members');
  await page.click('#members-button');
  await page.waitForSelector('#sidebar.open');
  assert.equal(await activeId(page), 'members-heading');
  await page.waitForFunction(() => {
    const list = document.getElementById('members-list').getBoundingClientRect();
    return list.top >= 0 && list.top < innerHeight;
  });
  const members = await page.$$eval('#members-list .member-name', (n) => n.map((x) => x.textContent));
  assert.deepEqual(members.sort(), ['alice', 'bob', 'carol']);
  await page.keyboard.press('Escape');
  await page.waitForSelector('#sidebar:not(.open)');

  // The emoji picker opens without focusing its search box (no keyboard
  // popping up over the emoji); the focus is on a category, in the picker.
  await page.click('#emoji-toggle');
  await page.waitForSelector('#emoji-picker:not([hidden])');
  assert.notEqual(await activeId(page), 'emoji-search');
  assert.equal(await page.evaluate(() => document.getElementById('emoji-picker').contains(document.activeElement)), true);
  await page.click('#emoji-search');
  assert.equal(await activeId(page), 'emoji-search');
  await page.keyboard.press('Escape');

  // The settings dialog fits the phone.
  await page.click('#settings-open');
  await page.waitForSelector('#settings-dialog[open]');
  assert.equal(await t.horizontalOverflow(page), 0);
  await t.screenshot(page, 'chrome-phone-settings');
  await page.keyboard.press('Escape');
  assert.deepEqual(phone.errors, []);
  await phone.context.close();
});

test('screenshots: a room with a few messages, desktop and phone, dark and light', async () => {
  await t.send(bob.page, 'Morning! The build is green again 🎉');
  await t.send(alice.page, 'Nice. I pushed the fix for the login page, see https://example.com/pr/42');
  await t.send(bob.page, '@alice thanks! Deploying after lunch.');
  await t.send(bob.page, 'Anyone up for coffee first?');
  await t.send(alice.page, '☕ yes');
  await t.waitForMessage(alice.page, '☕ yes');
  for (const [size, viewport] of [['desktop', t.DESKTOP], ['phone', t.PHONE]]) {
    const user = await t.login(browser, server, `dana-${size}`, 'lobby', { viewport });
    const { page } = user;
    await t.waitForMessage(page, '☕ yes');
    for (const theme of ['dark', 'light']) {
      await page.evaluate((theme) => {
        localStorage.setItem('natter.theme', JSON.stringify(theme));
        document.documentElement.dataset.theme = theme;
      }, theme);
      await t.screenshot(page, `chrome-${size}-${theme}`);
    }
    // And an empty room, with its invite hint.
    if (size === 'phone') await page.click('#drawer-toggle');
    await joinRoom(page, `empty-${size}`);
    await page.waitForSelector('#empty-room', { state: 'visible' });
    await t.screenshot(page, `chrome-${size}-empty-light`);
    if (size === 'desktop') {
      await page.click('#settings-open');
      await t.screenshot(page, 'chrome-desktop-settings-light');
      await page.keyboard.press('Escape');
    }
    assert.deepEqual(user.errors, []);
    await user.context.close();
  }
});

test('no script errors', () => {
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
