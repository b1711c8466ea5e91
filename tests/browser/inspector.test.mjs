// inspector.test.mjs — the protocol inspector (issue 18): off by default
// (no panel, nothing recorded); turned on in Settings it shows the frames
// the page sends and receives, with direction, time and type, and each
// frame's JSON on demand; filter by type, pause, clear, at most 500 frames;
// frame content never becomes HTML; the × turns it off; axe at desktop and
// phone sizes. And the BOT badge of a message whose frame says "bot": true:
// the server cannot post one yet, so a playwright WebSocket route between
// the page and the real server adds the flag to some message frames.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

let server;
let browser;
let alice;
let bob;

before(async () => ({ server, browser, alice, bob } = await t.twoUsers()));
after(() => t.shutDown(browser, server));

const frames = (page, selector = '') => page.locator(`#inspector-list li.frame${selector}`);
const frameCount = (page) => page.locator('#inspector-list li.frame').count();

async function setInspector(page, on) {
  await page.click('#settings-open');
  await page.waitForSelector('#settings-dialog[open]');
  await page.setChecked('#inspector-toggle', on);
  await page.keyboard.press('Escape');
  await page.waitForSelector('#settings-dialog:not([open])', { state: 'attached' });
}

/** The pretty JSON of a frame row, opening its <details> first. */
async function frameJson(row) {
  await row.locator('summary').click();
  const pre = row.locator('.frame-json');
  await pre.waitFor();
  await row.page().waitForFunction((node) => node.textContent !== '', await pre.elementHandle());
  return pre.textContent();
}

test('off by default: no panel, an unchecked setting, and nothing recorded', async () => {
  const { page, errors } = alice;
  assert.equal(await page.isVisible('#inspector'), false);
  await t.send(page, 'nobody is watching');
  await t.waitForMessage(page, 'nobody is watching');
  assert.equal(await frameCount(page), 0, 'frames were recorded while the inspector was off');
  await page.click('#settings-open');
  assert.equal(await page.isChecked('#inspector-toggle'), false);
  assert.equal(await page.isVisible('#inspector-toggle'), true);
  await page.keyboard.press('Escape');
  assert.deepEqual(errors, []);
});

test('turned on in Settings, it shows the sent and the received message frame, with time and JSON', async () => {
  const { page, errors } = alice;
  await setInspector(page, true);
  assert.equal(await page.isVisible('#inspector'), true);
  assert.equal(await frameCount(page), 0, 'nothing from before it was on');

  await t.send(page, 'hello inspector');
  await t.waitForMessage(page, 'hello inspector');
  const sent = frames(page, '.sent[data-type="message"]').last();
  const received = frames(page, '.received[data-type="message"]').last();
  await sent.waitFor();
  await received.waitFor();

  // Sent first, newest at the bottom.
  const order = await page.$$eval('#inspector-list li.frame', (rows) => rows.map((r) => `${r.dataset.direction}:${r.dataset.type}`));
  assert.ok(order.indexOf('sent:message') < order.lastIndexOf('received:message'), order.join(' '));

  assert.match(await sent.locator('summary').textContent(), /→ sent \d\d:\d\d:\d\d\.\d{3} message/);
  assert.match(await received.locator('summary').textContent(), /← received \d\d:\d\d:\d\d\.\d{3} message/);
  assert.match(await sent.locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/);

  const sentJson = await frameJson(sent);
  const receivedJson = await frameJson(received);
  assert.match(sentJson, /^\{\n {2}"type": "message",/, 'pretty-printed, two spaces');
  const [out, back] = [JSON.parse(sentJson), JSON.parse(receivedJson)];
  assert.equal(out.text, 'hello inspector');
  assert.equal(back.text, 'hello inspector');
  assert.equal(back.client_id, out.client_id, 'the echo carries our client_id');
  assert.ok(Number.isInteger(back.id));
  // A <details>: open now, closed again with another click.
  assert.equal(await sent.locator('details').evaluate((d) => d.open), true);
  await sent.locator('summary').click();
  assert.equal(await sent.locator('details').evaluate((d) => d.open), false);

  // The setting is remembered: after a reload the panel is there from the first frame.
  await page.reload();
  await t.waitJoined(page, 'lobby');
  assert.equal(await page.isVisible('#inspector'), true);
  const first = await page.$$eval('#inspector-list li.frame', (rows) => rows.slice(0, 2).map((r) => `${r.dataset.direction}:${r.dataset.type}`));
  assert.deepEqual(first, ['received:hello', 'sent:join']);
  assert.deepEqual(errors, []);
});

test('the type filter lists the types seen and shows only the chosen one', async () => {
  const { page } = alice;
  await page.locator('#composer-input').pressSequentially('typing makes frames');
  await t.send(page, 'filtered');
  await t.waitForMessage(page, 'filtered');
  await frames(page, '.received[data-type="message"]').last().waitFor();
  const types = await page.$$eval('#inspector-filter option', (options) => options.map((o) => o.value));
  assert.equal(types[0], '', 'first: all types');
  for (const type of ['hello', 'join', 'joined', 'message']) assert.ok(types.includes(type), `${type} in ${types}`);
  assert.deepEqual(types.slice(1), [...types.slice(1)].sort(), 'alphabetical');

  await page.selectOption('#inspector-filter', 'message');
  const shown = await page.$$eval('#inspector-list li.frame', (rows) => rows.filter((r) => !r.hidden).map((r) => r.dataset.type));
  const hidden = await page.$$eval('#inspector-list li.frame', (rows) => rows.filter((r) => r.hidden).map((r) => r.dataset.type));
  assert.ok(shown.length >= 2 && shown.every((type) => type === 'message'), shown.join(' '));
  assert.ok(hidden.length > 0 && !hidden.includes('message'), hidden.join(' '));
  assert.equal(await frames(page, '[data-type="hello"]').first().isVisible(), false);
  assert.match(await page.textContent('#inspector-count'), /\d+ shown/);

  // A frame of another type that arrives now stays hidden too.
  const before = await frames(page, '[data-type="system"]').count();
  const carol = await t.login(browser, server, 'carol');
  await frames(page, '[data-type="system"]').nth(before).waitFor({ state: 'attached' });
  assert.equal(await frames(page, '[data-type="system"]').nth(before).isVisible(), false);
  await carol.context.close();

  await page.selectOption('#inspector-filter', '');
  assert.equal(await frames(page, '[data-type="hello"]').first().isVisible(), true);
});

test('pause stops recording, resume starts again, clear empties the list', async () => {
  const { page } = alice;
  await page.click('#inspector-pause');
  assert.equal(await page.getAttribute('#inspector-pause', 'aria-pressed'), 'true');
  assert.equal(await page.textContent('#inspector-pause'), 'Resume');
  assert.match(await page.textContent('#inspector-count'), /Paused/);
  const before = await frameCount(page);
  await t.send(page, 'while paused');
  await t.waitForMessage(page, 'while paused');
  assert.equal(await frameCount(page), before, 'recorded while paused');

  await page.click('#inspector-pause');
  assert.equal(await page.getAttribute('#inspector-pause', 'aria-pressed'), 'false');
  await t.send(page, 'after the pause');
  await t.waitForMessage(page, 'after the pause');
  await page.waitForFunction((n) => document.querySelectorAll('#inspector-list li.frame').length >= n + 2, before);

  await page.click('#inspector-clear');
  assert.equal(await frameCount(page), 0);
  assert.match(await page.textContent('#inspector-count'), /^0 frames/);
});

test('a frame is shown as text, never as HTML', async () => {
  const { page, errors } = alice;
  const evil = '<img src=x onerror="window.pwned=1"><b>bold</b>';
  await t.send(page, evil);
  await t.waitForMessage(page, evil);
  const received = frames(page, '.received[data-type="message"]').last();
  await received.waitFor();
  const json = await frameJson(received);
  assert.equal(JSON.parse(json).text, evil);
  assert.equal(await page.locator('#inspector-list img, #inspector-list b').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.deepEqual(errors, []);
});

test('at most 500 frames are kept: the oldest are dropped, and the count says so', async () => {
  const { page } = alice;
  await page.click('#inspector-clear');
  const texts = Array.from({ length: 510 }, (_, i) => `bulk ${i}`);
  const { posted } = await t.postFromPage(bob.page, 'lobby', texts, { batch: 50 });
  assert.equal(posted, 510);
  await t.waitForMessage(page, 'bulk 509');
  await page.waitForFunction(() => /dropped/.test(document.getElementById('inspector-count').textContent));
  assert.equal(await frameCount(page), 500);
  assert.match(await page.textContent('#inspector-count'), /^500 frames · \d+ older dropped: only the newest 500 are kept\./);
  // The newest is at the bottom, and the list followed it there.
  const atBottom = await page.$eval('#inspector-list', (l) => l.scrollHeight - l.scrollTop - l.clientHeight < 30);
  assert.equal(atBottom, true);
  // The newest message frame is the last message (other frames, a member
  // list or a typing line, may come after it).
  const lastMessage = frames(page, '.received[data-type="message"]').last();
  assert.equal(JSON.parse(await frameJson(lastMessage)).text, 'bulk 509');
  await page.click('#inspector-clear');
});

test('keyboard: labelled controls, a frame opens with Enter', async () => {
  const { page } = alice;
  await t.send(page, 'by keyboard');
  await t.waitForMessage(page, 'by keyboard');
  const row = frames(page, '.received[data-type="message"]').last();
  await row.waitFor();
  const names = await page.evaluate(() => ['inspector-filter', 'inspector-pause', 'inspector-clear', 'inspector-close', 'inspector-toggle']
    .map((id) => {
      const node = document.getElementById(id);
      return node.labels?.[0]?.textContent.trim() || node.getAttribute('aria-label') || node.textContent.trim();
    }));
  assert.deepEqual(names, ['Type', 'Pause', 'Clear', 'Turn the protocol inspector off', 'Protocol inspector']);
  // Tab order: the × , the filter, Pause, Clear, the list, then the frames.
  await page.focus('#inspector-close');
  const order = [];
  for (let i = 0; i < 4; i += 1) {
    await page.keyboard.press('Tab');
    order.push(await page.evaluate(() => document.activeElement.id || document.activeElement.tagName));
  }
  assert.deepEqual(order, ['inspector-filter', 'inspector-pause', 'inspector-clear', 'inspector-list']);
  await row.locator('summary').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction((node) => node.open && node.querySelector('.frame-json').textContent !== '', await row.locator('details').elementHandle());
  assert.equal(JSON.parse(await row.locator('.frame-json').textContent()).text, 'by keyboard');
});

test('axe finds nothing with the panel open, on a desktop and a phone; screenshots', async () => {
  const { page } = alice;
  await frames(page, '.sent[data-type="message"]').last().locator('summary').click().catch(() => {});
  assert.deepEqual(await t.axeViolations(page), [], 'desktop');
  await t.screenshot(page, 'inspector-desktop');

  const phone = await t.login(browser, server, 'dora', 'lobby', {
    viewport: t.PHONE, hasTouch: true, isMobile: true,
    initScript: () => localStorage.setItem('natter.inspector', 'true'),
  });
  try {
    const { page: p } = phone;
    await t.send(p, 'from a phone');
    await t.waitForMessage(p, 'from a phone');
    await frames(p, '.received[data-type="message"]').last().waitFor();
    await frameJson(frames(p, '.received[data-type="message"]').last());
    // A sheet under the chat: both on screen, the composer above the panel.
    const sheet = await p.locator('#inspector').boundingBox();
    const composer = await p.locator('#composer').boundingBox();
    assert.ok(sheet.y + sheet.height <= t.PHONE.height + 1 && sheet.height > 150, JSON.stringify(sheet));
    assert.ok(composer.y + composer.height <= sheet.y + 1, `composer ${JSON.stringify(composer)} under the sheet ${JSON.stringify(sheet)}`);
    assert.equal(await t.horizontalOverflow(p), 0);
    assert.deepEqual(await t.axeViolations(p), [], 'phone');
    await t.screenshot(p, 'inspector-phone');
    assert.deepEqual(phone.errors, []);
  } finally {
    await phone.context.close();
  }
});

test('the × turns it off: the panel goes, nothing more is recorded, and Settings says off', async () => {
  const { page, errors } = alice;
  await page.click('#inspector-close');
  assert.equal(await page.isVisible('#inspector'), false);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'settings-open');
  assert.equal(await page.evaluate(() => localStorage.getItem('natter.inspector')), 'false');
  await t.send(page, 'not watched again');
  await t.waitForMessage(page, 'not watched again');
  assert.equal(await frameCount(page), 0);
  await page.click('#settings-open');
  assert.equal(await page.isChecked('#inspector-toggle'), false);
  await page.keyboard.press('Escape');
  assert.deepEqual(errors, []);
});

// --- the BOT badge --------------------------------------------------------------

/** Send a raw message frame from the page's own second socket (as postFromPage does), with a reply_to. */
function sendReply(page, room, text, replyTo) {
  return page.evaluate(async ({ room, text, replyTo, timeout }) => {
    const { wsUrl, wsPort } = document.body.dataset;
    const ws = new WebSocket(wsUrl || `ws://${location.hostname}:${wsPort}/ws`);
    const got = [];
    ws.addEventListener('message', (event) => got.push(JSON.parse(event.data)));
    const until = async (ready) => {
      const deadline = Date.now() + timeout;
      while (!ready()) {
        if (Date.now() > deadline) throw new Error(`no answer: ${JSON.stringify(got.slice(-2))}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await until(() => got.some((f) => f.type === 'hello'));
    ws.send(JSON.stringify({ type: 'join', room }));
    await until(() => got.some((f) => f.type === 'joined'));
    ws.send(JSON.stringify({ type: 'message', room, text, reply_to: replyTo, client_id: `reply-${Date.now()}` }));
    await until(() => got.some((f) => f.type === 'message' && f.text === text));
    ws.close();
  }, { room, text, replyTo, timeout: t.TIMEOUT });
}

test('a message whose frame says "bot": true has a BOT badge after the name, live, in history and in a reply', async () => {
  const room = 'botroom';
  const erin = await t.login(browser, server, 'erin', room);
  const ci = await t.login(browser, server, 'ci', room);
  try {
    // History: posted before erin's page (re)loads.
    await t.send(ci.page, 'CI: build 41 passed');
    await t.waitForMessage(ci.page, 'CI: build 41 passed', room);

    // The route: every frame goes both ways unchanged, but a message from
    // "ci" whose text starts with "CI:" is marked as a bot's, live and in
    // `joined` (history and changes) and `history` pages.
    const markBot = (m) => (m?.user === 'ci' && String(m.text).startsWith('CI:') ? { ...m, bot: true } : m);
    await erin.page.routeWebSocket(/\/ws$/, (ws) => {
      const upstream = ws.connectToServer();
      upstream.onMessage((data) => {
        let frame;
        try {
          frame = JSON.parse(data);
        } catch {
          ws.send(data);
          return;
        }
        if (frame.type === 'message') frame = markBot(frame);
        for (const key of ['history', 'changes', 'messages']) {
          if (Array.isArray(frame[key])) frame[key] = frame[key].map(markBot);
        }
        ws.send(JSON.stringify(frame));
      });
    });
    await erin.page.reload();
    await t.waitJoined(erin.page, room);
    await t.waitForMessage(erin.page, 'CI: build 41 passed', room);

    // Live.
    await t.send(ci.page, 'CI: build 42 passed');
    await t.waitForMessage(erin.page, 'CI: build 42 passed', room);
    // A person's message from the same name: no badge (and not grouped under the bot's).
    await t.send(ci.page, 'a person here');
    await t.waitForMessage(erin.page, 'a person here', room);

    const list = erin.page.locator(`ol.messages[data-room-key="${t.roomKey(room)}"]`);
    const item = (text) => list.locator('li.message[data-id]').filter({ has: erin.page.locator('.text', { hasText: text }) });
    for (const text of ['CI: build 41 passed', 'CI: build 42 passed']) {
      const badge = item(text).locator('.meta .bot-badge');
      assert.equal(await badge.count(), 1, text);
      assert.equal(await badge.textContent(), 'BOT');
      assert.equal(await badge.getAttribute('role'), 'img');
      assert.equal(await badge.getAttribute('aria-label'), 'bot');
      // After the author's name.
      const after = await item(text).locator('.meta').evaluate((meta) => {
        const author = meta.querySelector('.author');
        return Boolean(author.compareDocumentPosition(meta.querySelector('.bot-badge')) & Node.DOCUMENT_POSITION_FOLLOWING);
      });
      assert.equal(after, true);
    }
    assert.equal(await item('a person here').locator('.bot-badge').count(), 0);
    assert.equal(await item('a person here').evaluate((li) => li.classList.contains('grouped')), false,
      'a person grouped under a bot of the same name');
    // The badge is visible in the first of the group (the history one).
    assert.equal(await item('CI: build 41 passed').locator('.meta .bot-badge').isVisible(), true);

    // A reply to the bot's message: its preview has the badge too.
    const id = Number(await item('CI: build 42 passed').getAttribute('data-id'));
    await sendReply(ci.page, room, 'thanks, bot', id);
    await t.waitForMessage(erin.page, 'thanks, bot', room);
    const preview = item('thanks, bot').locator('.reply-preview');
    assert.equal(await preview.locator('.bot-badge').count(), 1);
    assert.match(await preview.textContent(), /ci BOT CI: build 42 passed/);

    assert.deepEqual(await t.axeViolations(erin.page), []);
    await t.screenshot(erin.page, 'inspector-bot-badge');
    assert.deepEqual(erin.errors, []);
  } finally {
    await erin.context.close();
    await ci.context.close();
  }
});
