// media.test.mjs — images, voice notes and files (issue 17), between two
// browsers: an attached photo re-encoded in the browser (WebP, at most
// 2048 px, upright, without its EXIF) and shown inline to the other, a
// pasted image, a message of attachments alone, the viewer, a download
// chip, the progress bar of a large upload (the network throttled through
// the DevTools protocol), cancelling one (nothing is posted), a failed
// upload's reason and Retry, the limits checked before anything is sent,
// a voice note recorded from Chromium's fake microphone and played back,
// the mic hidden (and why) over plain http:// on the LAN, and no attach
// button at all when the server takes no uploads.
//
// Chromium runs with a fake microphone (a beep) that it may use without
// asking, and audio may play without a click (see lib.launchBrowser).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { after, before, test } from 'node:test';
import * as t from './lib.mjs';

const MEDIA_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
];

// Runs in the page before its own scripts: every frame the page sends and
// receives is recorded, and so is every upload (its headers, its body and
// whether it was aborted).
function recordPage() {
  window.sentFrames = [];
  window.gotFrames = [];
  window.uploads = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function record(data) {
    try {
      window.sentFrames.push(JSON.parse(data));
    } catch {
      // not JSON
    }
    return send.call(this, data);
  };
  const listen = WebSocket.prototype.addEventListener;
  WebSocket.prototype.addEventListener = function recordListen(type, ...rest) {
    if (type === 'message' && !this.__recorded) {
      this.__recorded = true;
      listen.call(this, 'message', (event) => {
        try {
          window.gotFrames.push(JSON.parse(event.data));
        } catch {
          // not JSON
        }
      });
    }
    return listen.call(this, type, ...rest);
  };
  const open = XMLHttpRequest.prototype.open;
  const header = XMLHttpRequest.prototype.setRequestHeader;
  const xsend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function recordOpen(method, url, ...rest) {
    this.__upload = { method, url, headers: {}, aborted: false };
    return open.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.setRequestHeader = function recordHeader(name, value) {
    if (this.__upload) this.__upload.headers[name.toLowerCase()] = value;
    return header.call(this, name, value);
  };
  XMLHttpRequest.prototype.send = function recordSend(body) {
    if (this.__upload) {
      this.__upload.body = body;
      this.__upload.size = body?.size;
      this.__upload.type = body?.type;
      window.uploads.push(this.__upload);
      const entry = this.__upload;
      this.addEventListener('abort', () => { entry.aborted = true; });
      this.addEventListener('loadend', () => { entry.status = this.status; });
    }
    return xsend.call(this, body);
  };
}

let server;
let browser;
let alice;
let bob;

before(async () => {
  server = await t.startServer();
  browser = await t.launchBrowser({ args: MEDIA_ARGS });
  alice = await t.login(browser, server, 'alice', 'lobby', { initScript: recordPage });
  bob = await t.login(browser, server, 'bob', 'lobby', { initScript: recordPage });
  await alice.page.waitForSelector('#attach-button:not([hidden])');
});

after(async () => {
  for (const user of [alice, bob]) if (user) assert.deepEqual(user.errors, [], `${user.name}'s page had errors`);
  await t.shutDown(browser, server);
});

// --- helpers ---------------------------------------------------------------------

/** Posted messages of #lobby that carry attachments, as a locator. */
const withAttachments = (page) => page.locator('ol.messages[data-room-key="lobby"] li.message[data-id]:has(.attachments)');

/** The posted message whose text is `text`. */
const item = (page, text) =>
  page.locator('ol.messages[data-room-key="lobby"] li.message[data-id]', { has: page.locator('.text', { hasText: text }) }).last();

/** A picture drawn in the page, as the file Playwright hands to the input: PNG, or JPEG. */
async function pictureFile(page, { width, height, name = 'picture.png', type = 'image/png' }) {
  const base64 = await page.evaluate(async ({ width, height, type }) => {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const g = canvas.getContext('2d');
    g.fillStyle = '#2a6';
    g.fillRect(0, 0, width, height);
    g.fillStyle = '#e43';
    g.fillRect(0, 0, Math.round(width / 3), Math.round(height / 2)); // top left: red
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, type, 0.9));
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  }, { width, height, type });
  return { name, mimeType: type, buffer: Buffer.from(base64, 'base64') };
}

/**
 * A JPEG with an EXIF block in front, as a phone writes one: Orientation 6
 * (the camera was held sideways: turn it 90° clockwise to show it) and a
 * text that stands for the GPS position, which must never leave the browser.
 */
const SECRET = 'natter-gps-51.5007N-0.1246W';
function withExif(jpeg) {
  const tiff = Buffer.from([
    0x49, 0x49, 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00, // "II", 42, IFD0 at 8
    0x01, 0x00, // one entry
    0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, // Orientation = 6
    0x00, 0x00, 0x00, 0x00, // no next IFD
  ]);
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff, Buffer.from(SECRET, 'latin1')]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(payload.length + 2);
  return Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xe1]), length, payload, jpeg.subarray(2)]);
}

/** The uploads the page made, without their bodies; `bytes: true` adds the body's first bytes and whether it holds SECRET. */
function uploadsOf(user, { bytes = false } = {}) {
  return user.page.evaluate(async (withBytes) => Promise.all(window.uploads.map(async (u) => {
    const out = { url: u.url, headers: u.headers, size: u.size, type: u.type, aborted: u.aborted, status: u.status };
    if (withBytes && u.body instanceof Blob) {
      const all = new Uint8Array(await u.body.arrayBuffer());
      out.head = String.fromCharCode(...all.subarray(0, 16));
      let text = '';
      for (let i = 0; i < all.length; i += 0x8000) text += String.fromCharCode(...all.subarray(i, i + 0x8000));
      out.text = text;
    }
    return out;
  })), bytes);
}

/** Wait until the tray of the room on screen has `count` attachments, every one uploaded. */
async function trayReady(page, count) {
  await page.waitForFunction((n) => {
    const all = [...document.querySelectorAll('#tray-list .tray-item:not([hidden])')];
    return all.length === n && all.every((li) => li.dataset.status === 'done');
  }, count);
}

/** Slow alice's uploads down (bytes per second), or back to normal (undefined). */
async function throttleUploads(user, bytesPerSecond) {
  user.cdp ??= await user.context.newCDPSession(user.page);
  await user.cdp.send('Network.enable');
  await user.cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: bytesPerSecond ?? -1,
  });
}

/** Record every value the visible upload's <progress> shows, from now on. */
function watchProgress(page) {
  return page.evaluate(() => {
    window.progressSeen = [];
    clearInterval(window.progressTimer);
    window.progressTimer = setInterval(() => {
      const bar = document.querySelector('#tray-list .tray-item:not([hidden]) progress:not([hidden])');
      if (bar && bar.hasAttribute('value')) window.progressSeen.push([bar.value, bar.max]);
    }, 20);
  });
}

/** Remove whatever is left in alice's tray. */
async function emptyTray(page) {
  while (await page.locator('#tray-list .tray-item:not([hidden]) .tray-remove').count() > 0) {
    await page.locator('#tray-list .tray-item:not([hidden]) .tray-remove').first().click();
  }
}

// --- images --------------------------------------------------------------------

test('an attached 3000 px photo is re-encoded in the browser (WebP, 2048 px) and shows inline in the other browser', async () => {
  const png = await pictureFile(alice.page, { width: 3000, height: 2000, name: 'garden.png' });
  await alice.page.setInputFiles('#attach-input', png);
  await trayReady(alice.page, 1);
  // The tray shows it with its thumbnail and name, and a remove button.
  const trayItem = alice.page.locator('#tray-list .tray-item').first();
  assert.equal(await trayItem.locator('.tray-name').textContent(), 'garden.webp');
  assert.ok(await trayItem.locator('.tray-thumb img').evaluate((img) => img.naturalWidth > 0));
  assert.equal(await trayItem.locator('.tray-remove').getAttribute('aria-label'), 'Remove garden.webp');

  const [upload] = await uploadsOf(alice, { bytes: true });
  assert.equal(upload.url, '/upload/lobby');
  assert.equal(upload.type, 'image/webp');
  assert.equal(upload.headers['content-type'], 'image/webp');
  assert.equal(upload.headers['x-natter-kind'], 'image');
  assert.equal(upload.headers['x-natter-name'], 'garden.webp');
  assert.match(upload.head, /^RIFF....WEBP/s);
  assert.ok(upload.size < png.buffer.length, 'the WebP is smaller than the PNG');

  await t.send(alice.page, 'our garden');
  await t.waitForMessage(bob.page, 'our garden');
  const frame = await bob.page.evaluate(() => window.gotFrames.find((f) => f.type === 'message' && f.text === 'our garden'));
  assert.equal(frame.attachments.length, 1);
  const [att] = frame.attachments;
  assert.equal(att.kind, 'image');
  assert.equal(att.mime, 'image/webp');
  assert.equal(att.name, 'garden.webp');
  assert.equal(att.width, 2048);
  assert.equal(att.height, 1365);
  assert.match(att.url, /^\/m\/.+\.webp$/);

  // In bob's list: bounded, sized from the frame before it loads, lazy, named.
  const img = item(bob.page, 'our garden').locator('.attachment-image img');
  assert.equal(await img.getAttribute('alt'), 'garden.webp');
  assert.equal(await img.getAttribute('loading'), 'lazy');
  assert.equal(await img.getAttribute('width'), '320');
  assert.equal(await img.getAttribute('height'), '213');
  await bob.page.waitForFunction((url) => [...document.querySelectorAll('.attachment-image img')].some((i) => i.getAttribute('src') === url && i.complete && i.naturalWidth === 2048), att.url);
  // And alice's own copy (the echo) shows it too; the tray is empty again.
  await item(alice.page, 'our garden').locator('.attachment-image img').waitFor();
  assert.equal(await alice.page.locator('#upload-tray').isHidden(), true);
});

test('a sideways phone photo arrives upright and without its EXIF (the position never leaves the browser)', async () => {
  const jpeg = await pictureFile(alice.page, { width: 300, height: 200, type: 'image/jpeg', name: 'IMG_0001.JPG' });
  const file = { ...jpeg, buffer: withExif(jpeg.buffer) };
  assert.ok(file.buffer.includes(SECRET));
  const before = (await uploadsOf(alice)).length;
  await alice.page.setInputFiles('#attach-input', file);
  await trayReady(alice.page, 1);
  const upload = (await uploadsOf(alice, { bytes: true }))[before];
  assert.equal(upload.type, 'image/webp');
  assert.ok(!upload.text.includes(SECRET), 'the EXIF went with the upload');
  assert.ok(!upload.text.includes('Exif'), 'an EXIF block is in the upload');
  await t.send(alice.page, 'upright?');
  await t.waitForMessage(bob.page, 'upright?');
  const frame = await bob.page.evaluate(() => window.gotFrames.find((f) => f.type === 'message' && f.text === 'upright?'));
  // Orientation 6 turns a 300×200 picture into a 200×300 one.
  assert.deepEqual([frame.attachments[0].width, frame.attachments[0].height], [200, 300]);
  assert.equal(frame.attachments[0].name, 'IMG_0001.webp');
});

test('a pasted image goes too; a message of attachments alone has no empty text; the viewer opens and closes', async () => {
  // A paste as the browser fires it for a copied picture: a ClipboardEvent
  // whose DataTransfer holds the file.
  await alice.page.locator('#composer-input').focus();
  await alice.page.evaluate(async () => {
    const canvas = document.createElement('canvas');
    canvas.width = 640;
    canvas.height = 480;
    const g = canvas.getContext('2d');
    g.fillStyle = '#36c';
    g.fillRect(0, 0, 640, 480);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
    const data = new DataTransfer();
    data.items.add(new File([blob], 'image.png', { type: 'image/png' }));
    const event = new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true });
    document.getElementById('composer-input').dispatchEvent(event);
  });
  await trayReady(alice.page, 1);
  assert.equal(await alice.page.inputValue('#composer-input'), '', 'the paste put no text in the box');
  const before = await withAttachments(bob.page).count();
  await alice.page.locator('#composer-input').press('Enter');
  await bob.page.waitForFunction((n) => document.querySelectorAll('ol.messages[data-room-key="lobby"] li.message[data-id] .attachments').length > n, before);
  const li = withAttachments(bob.page).last();
  assert.equal(await li.locator('.text').count(), 0, 'an empty text line is drawn');
  const sent = await alice.page.evaluate(() => window.sentFrames.filter((f) => f.type === 'message').at(-1));
  assert.equal(sent.text, '');
  assert.equal(sent.attachments.length, 1);
  assert.match(sent.attachments[0], /^u_/);

  // The viewer: a modal dialog with the whole picture; Esc closes it and
  // the focus goes back to the image.
  const button = li.locator('.attachment-image');
  await button.click();
  await bob.page.waitForSelector('#viewer[open]');
  await bob.page.waitForFunction(() => document.getElementById('viewer-image').naturalWidth === 640);
  assert.equal(await bob.page.locator('#viewer-name').textContent(), 'image.webp');
  assert.deepEqual(await t.axeViolations(bob.page), []);
  await t.screenshot(bob.page, 'media-viewer');
  await bob.page.keyboard.press('Escape');
  await bob.page.waitForSelector('#viewer:not([open])', { state: 'attached' });
  assert.ok(await button.evaluate((b) => document.activeElement === b), 'the focus is back on the image');
  // Open with the keyboard, close with a click outside the picture.
  await button.focus();
  await bob.page.keyboard.press('Enter');
  await bob.page.waitForSelector('#viewer[open]');
  await bob.page.mouse.click(5, 5);
  await bob.page.waitForSelector('#viewer:not([open])', { state: 'attached' });
});

test('files dropped on the room go to its tray, and each room keeps a tray of its own', async () => {
  const { page } = alice;
  // A drop as the browser fires it: dragenter (the drop zone shows), then drop.
  const drop = (names) => page.evaluate((files) => {
    const data = new DataTransfer();
    for (const name of files) data.items.add(new File([`contents of ${name}`], name, { type: 'text/plain' }));
    const scroller = document.getElementById('scroller');
    scroller.dispatchEvent(new DragEvent('dragenter', { dataTransfer: data, bubbles: true, cancelable: true }));
    const shown = !document.getElementById('drop-zone').hidden;
    scroller.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    return shown;
  }, names);
  assert.equal(await drop(['dropped.txt']), true, 'the drop zone did not show');
  assert.equal(await page.locator('#drop-zone').isHidden(), true);
  await trayReady(page, 1);
  assert.equal(await page.locator('#tray-list .tray-name').textContent(), 'dropped.txt');

  // Another room: its own (empty) tray; an upload there goes to that room.
  await page.fill('#join-input', 'patio');
  await page.press('#join-input', 'Enter');
  await t.waitJoined(page, 'patio');
  assert.equal(await page.locator('#upload-tray').isHidden(), true);
  await drop(['patio.txt']);
  await trayReady(page, 1);
  const uploads = await uploadsOf(alice);
  assert.equal(uploads.at(-1).url, '/upload/patio');
  await emptyTray(page);
  // Back in #lobby, its attachment is still waiting; it goes with the next message.
  await page.locator('#room-list .room-button[data-room-key="lobby"]').click();
  await trayReady(page, 1);
  await t.send(page, 'dropped in');
  await t.waitForMessage(bob.page, 'dropped in');
  assert.equal(await item(bob.page, 'dropped in').locator('.file-name').textContent(), 'dropped.txt');
});

// --- files ---------------------------------------------------------------------

test('a file that is not an image is a download chip with its name and size', async () => {
  const notes = { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('x'.repeat(2500)) };
  await alice.page.setInputFiles('#attach-input', notes);
  await trayReady(alice.page, 1);
  await t.send(alice.page, 'the notes');
  await t.waitForMessage(bob.page, 'the notes');
  const chip = item(bob.page, 'the notes').locator('a.attachment-file');
  assert.equal(await chip.locator('.file-name').textContent(), 'notes.txt');
  assert.equal(await chip.locator('.file-size').textContent(), '2.4 KB');
  assert.equal(await chip.getAttribute('download'), 'notes.txt');
  const href = await chip.getAttribute('href');
  assert.match(href, /^\/m\//);
  const served = await bob.page.evaluate(async (url) => {
    const answer = await fetch(url);
    return { status: answer.status, disposition: answer.headers.get('content-disposition'), size: (await answer.arrayBuffer()).byteLength };
  }, href);
  assert.equal(served.status, 200);
  assert.match(served.disposition ?? '', /^attachment/);
  assert.equal(served.size, 2500);
});

test('a large upload shows its progress bar moving, and the message goes only once it has finished', async () => {
  await throttleUploads(alice, 1.5 * 1024 * 1024);
  try {
    await watchProgress(alice.page);
    await alice.page.setInputFiles('#attach-input', { name: 'big.bin', mimeType: 'application/octet-stream', buffer: randomBytes(6 * 1024 * 1024) });
    // Between 0 and the end: the bar is moving.
    await alice.page.waitForFunction(() => window.progressSeen.some(([value, max]) => value > 0 && value < max));
    // Enter while it uploads: nothing is sent, and the page says why.
    await alice.page.fill('#composer-input', 'the big one');
    await alice.page.locator('#composer-input').press('Enter');
    await alice.page.waitForSelector('#notice:not([hidden])');
    assert.match(await alice.page.locator('#notice-text').textContent(), /still uploading/);
    assert.equal(await alice.page.inputValue('#composer-input'), 'the big one', 'the text stays');
    assert.equal((await alice.page.evaluate(() => window.sentFrames.filter((f) => f.type === 'message' && f.text === 'the big one'))).length, 0);
    assert.ok(await alice.page.locator('.tray-item .tray-state').first().evaluate((n) => /uploading \d+ %/.test(n.textContent)));
    await trayReady(alice.page, 1);
  } finally {
    await throttleUploads(alice, undefined);
    await alice.page.evaluate(() => clearInterval(window.progressTimer));
  }
  const seen = await alice.page.evaluate(() => window.progressSeen);
  assert.ok(new Set(seen.map(([value]) => value)).size >= 3, `the bar moved in steps: ${JSON.stringify(seen.slice(0, 5))}`);
  await alice.page.click('#notice-close');
  await alice.page.locator('#composer-input').press('Enter');
  await t.waitForMessage(bob.page, 'the big one');
  const chip = item(bob.page, 'the big one').locator('a.attachment-file');
  assert.equal(await chip.locator('.file-name').textContent(), 'big.bin');
  assert.equal(await chip.locator('.file-size').textContent(), '6 MB');
});

test('a cancelled upload is aborted and posts nothing', async () => {
  await throttleUploads(alice, 512 * 1024);
  const before = (await uploadsOf(alice)).length;
  try {
    await watchProgress(alice.page);
    await alice.page.setInputFiles('#attach-input', { name: 'cancel-me.bin', mimeType: 'application/octet-stream', buffer: randomBytes(6 * 1024 * 1024) });
    await alice.page.waitForFunction(() => window.progressSeen.some(([value]) => value > 0));
    const cancel = alice.page.locator('#tray-list .tray-item .tray-remove');
    assert.equal(await cancel.getAttribute('aria-label'), 'Cancel the upload of cancel-me.bin');
    await cancel.click();
  } finally {
    await throttleUploads(alice, undefined);
    await alice.page.evaluate(() => clearInterval(window.progressTimer));
  }
  assert.equal(await alice.page.locator('#upload-tray').isHidden(), true);
  const upload = (await uploadsOf(alice))[before];
  assert.equal(upload.aborted, true);
  // Enter in the empty box sends nothing; a text after it goes alone.
  await alice.page.locator('#composer-input').press('Enter');
  await t.send(alice.page, 'after the cancel');
  await t.waitForMessage(bob.page, 'after the cancel');
  const frame = await bob.page.evaluate(() => window.gotFrames.find((f) => f.type === 'message' && f.text === 'after the cancel'));
  assert.equal(frame.attachments?.length ?? 0, 0);
  assert.equal(await item(bob.page, 'after the cancel').locator('.attachments').count(), 0);
  assert.equal(await bob.page.locator('.file-name', { hasText: 'cancel-me.bin' }).count(), 0);
  const sentSince = await alice.page.evaluate(() => window.sentFrames.filter((f) => f.type === 'message' && f.text === ''));
  assert.ok(sentSince.every((f) => f.attachments?.length > 0), 'an empty message went out');
});

test('a failed upload says why and can be retried; the limits are checked before anything is sent', async () => {
  // The server's refusal, as it words it (a full media store).
  await alice.page.route('**/upload/**', (route) => route.fulfill({
    status: 507,
    contentType: 'application/json',
    body: JSON.stringify({ code: 'media_full', message: 'media storage is full' }),
  }));
  const png = await pictureFile(alice.page, { width: 120, height: 80, name: 'dot.png' });
  await alice.page.setInputFiles('#attach-input', png);
  const failed = alice.page.locator('#tray-list .tray-item[data-status="failed"]');
  await failed.waitFor();
  assert.equal(await failed.locator('.tray-error').textContent(), 'Media storage is full.');
  assert.equal(await failed.locator('.tray-error').getAttribute('role'), 'alert');
  // Enter: nothing goes, half a message least of all.
  await alice.page.fill('#composer-input', 'with the dot');
  await alice.page.locator('#composer-input').press('Enter');
  assert.match(await alice.page.locator('#notice-text').textContent(), /did not upload/);
  assert.equal((await alice.page.evaluate(() => window.sentFrames.filter((f) => f.text === 'with the dot'))).length, 0);
  // The store has room again: Retry.
  await alice.page.unroute('**/upload/**');
  await failed.locator('.tray-retry').click();
  await trayReady(alice.page, 1);
  await alice.page.click('#notice-close');
  await alice.page.locator('#composer-input').press('Enter');
  await t.waitForMessage(bob.page, 'with the dot');
  assert.equal(await item(bob.page, 'with the dot').locator('.attachment-image').count(), 1);

  // Too big for the server's limit (hello: 10 MB): said at once, nothing sent.
  const before = (await uploadsOf(alice)).length;
  await alice.page.setInputFiles('#attach-input', { name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(11 * 1024 * 1024, 7) });
  const huge = alice.page.locator('#tray-list .tray-item[data-status="failed"]');
  await huge.waitFor();
  assert.equal(await huge.locator('.tray-error').textContent(), '“huge.bin” is 11 MB; the limit is 10 MB per file.');
  assert.equal(await huge.locator('.tray-retry').isHidden(), true);
  assert.equal((await uploadsOf(alice)).length, before, 'it was uploaded anyway');
  await emptyTray(alice.page);

  // At most max_attachments (4) with one message.
  const files = [];
  for (let i = 1; i <= 5; i += 1) files.push({ name: `n${i}.txt`, mimeType: 'text/plain', buffer: Buffer.from(`note ${i}`) });
  await alice.page.setInputFiles('#attach-input', files);
  await trayReady(alice.page, 4);
  assert.match(await alice.page.locator('#notice-text').textContent(), /At most 4 attachments/);
  await alice.page.click('#notice-close');
  await alice.page.fill('#composer-input', 'four notes');
  await alice.page.locator('#composer-input').press('Enter');
  await t.waitForMessage(bob.page, 'four notes');
  assert.deepEqual(await item(bob.page, 'four notes').locator('.file-name').allTextContents(), ['n1.txt', 'n2.txt', 'n3.txt', 'n4.txt']);
});

test('a deleted message shows no attachments', async () => {
  const png = await pictureFile(alice.page, { width: 200, height: 100, name: 'oops.png' });
  await alice.page.setInputFiles('#attach-input', png);
  await trayReady(alice.page, 1);
  await t.send(alice.page, 'oops, wrong photo');
  await t.waitForMessage(bob.page, 'oops, wrong photo');
  const li = item(alice.page, 'oops, wrong photo');
  const id = await li.getAttribute('data-id');
  await li.hover();
  await li.locator('.message-menu-button').click();
  await alice.page.click('#message-menu button:text-is("Delete")');
  await li.locator('[data-confirm-delete="yes"]').click();
  await bob.page.waitForSelector(`ol.messages[data-room-key="lobby"] li.message.deleted[data-id="${id}"]`);
  assert.equal(await bob.page.locator(`li.message[data-id="${id}"] .attachments`).count(), 0);
  assert.equal(await bob.page.locator(`li.message[data-id="${id}"] img`).count(), 0);
});

// --- voice notes -------------------------------------------------------------

test('a voice note held on the mic with the fake microphone plays in the other browser', async () => {
  const mic = alice.page.locator('#voice-button');
  await mic.waitFor();
  assert.equal(await mic.getAttribute('aria-label'), 'Record a voice note');
  const before = (await uploadsOf(alice)).length;
  // Hold: press, speak about 1.5 s, let go.
  await mic.hover();
  await alice.page.mouse.down();
  await alice.page.waitForFunction(() => /^0:0\d \//.test(document.getElementById('recorder-time').textContent));
  assert.equal(await mic.getAttribute('aria-pressed'), 'true');
  await alice.page.waitForTimeout(1500);
  await alice.page.mouse.up();
  await trayReady(alice.page, 1);
  assert.equal(await alice.page.locator('#recorder').isHidden(), true);
  const upload = (await uploadsOf(alice))[before];
  assert.equal(upload.headers['x-natter-kind'], 'voice');
  assert.equal(upload.headers['content-type'], 'audio/webm;codecs=opus');
  assert.equal(upload.headers['x-natter-name'], 'voice.webm');
  const duration = Number(upload.headers['x-natter-duration-ms']);
  assert.ok(duration >= 1400 && duration < 10_000, `duration ${duration} ms`);

  // Sent with no words; bob gets a player and its length.
  await alice.page.locator('#composer-input').press('Enter');
  await bob.page.waitForSelector('ol.messages[data-room-key="lobby"] li.message[data-id] .attachment-voice audio');
  const frame = await bob.page.evaluate(() => window.gotFrames.filter((f) => f.type === 'message' && f.attachments?.[0]?.kind === 'voice').at(-1));
  assert.equal(frame.attachments[0].duration_ms, duration);
  assert.match(frame.attachments[0].mime, /^audio\/webm/);
  const voice = withAttachments(bob.page).last().locator('.attachment-voice');
  assert.equal(await voice.locator('.voice-length').textContent(), `0:0${Math.floor(duration / 1000)}`);
  const audio = voice.locator('audio');
  assert.equal(await audio.getAttribute('preload'), 'metadata');
  assert.equal(await audio.evaluate((a) => a.controls), true);
  // And it plays.
  const played = await audio.evaluate((a) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not playing: readyState ${a.readyState}, error ${a.error?.message}`)), 15_000);
    a.addEventListener('timeupdate', () => {
      if (a.currentTime > 0) {
        clearTimeout(timer);
        resolve(a.currentTime);
      }
    });
    a.play().catch(reject);
  }));
  assert.ok(played > 0);
});

test('a tap starts a recording and another stops it; Esc cancels one', async () => {
  const mic = alice.page.locator('#voice-button');
  // Tap, wait, tap: a voice note in the tray.
  await mic.click();
  await alice.page.waitForFunction(() => /^0:0\d \//.test(document.getElementById('recorder-time').textContent));
  await alice.page.waitForTimeout(900);
  assert.equal(await alice.page.locator('#recorder').isVisible(), true, 'the recording stopped when the tap ended');
  await t.screenshot(alice.page, 'media-recording');
  await mic.click();
  await trayReady(alice.page, 1);
  assert.equal(await alice.page.locator('#tray-list .tray-item').getAttribute('data-kind'), 'voice');
  await emptyTray(alice.page);

  // The keyboard: Enter on the mic starts; Esc throws it away.
  await mic.focus();
  await alice.page.keyboard.press('Enter');
  await alice.page.waitForFunction(() => /^0:0\d \//.test(document.getElementById('recorder-time').textContent));
  await alice.page.waitForTimeout(700);
  await alice.page.keyboard.press('Escape');
  await alice.page.waitForSelector('#recorder', { state: 'hidden' });
  await alice.page.waitForTimeout(300);
  assert.equal(await alice.page.locator('#tray-list .tray-item').count(), 0);
  assert.equal(await mic.getAttribute('aria-pressed'), 'false');
  // The Cancel button does the same.
  await mic.click();
  await alice.page.waitForFunction(() => /^0:0\d \//.test(document.getElementById('recorder-time').textContent));
  await alice.page.click('#recorder-cancel');
  await alice.page.waitForSelector('#recorder', { state: 'hidden' });
  assert.equal(await alice.page.locator('#tray-list .tray-item').count(), 0);
});

// --- looks ----------------------------------------------------------------------

test('the tray and the attachments: no serious accessibility violations; desktop and phone screenshots', async () => {
  const png = await pictureFile(alice.page, { width: 800, height: 600, name: 'for-the-tray.png' });
  await alice.page.setInputFiles('#attach-input', [png, { name: 'a-rather-long-file-name-for-a-small-report.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 not really') }]);
  await trayReady(alice.page, 2);
  assert.deepEqual(await t.axeViolations(alice.page), []);
  await t.screenshot(alice.page, 'media-desktop');
  await emptyTray(alice.page);

  const carol = await t.login(browser, server, 'carol', 'lobby', { viewport: t.PHONE, hasTouch: true, isMobile: true });
  await carol.page.waitForSelector('ol.messages[data-room-key="lobby"] .attachment-voice audio');
  await carol.page.setInputFiles('#attach-input', png);
  await trayReady(carol.page, 1);
  assert.equal(await t.horizontalOverflow(carol.page), 0, 'the phone page scrolls sideways');
  assert.deepEqual(await t.axeViolations(carol.page), []);
  await t.screenshot(carol.page, 'media-phone');
  assert.deepEqual(carol.errors, []);
  await carol.context.close();
});

// --- where there is no microphone, and no uploads ------------------------------

/** This machine's first address that is not a loopback one, if it has any. */
function lanAddress() {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

test('over plain http:// on the LAN the mic is hidden and the page says why', async () => {
  const address = lanAddress();
  const lan = await t.startServer(address ? ['--host', '0.0.0.0'] : []);
  // The resolver rule of every launch (lib.mjs) refuses IP addresses too;
  // this browser may reach that one (the last --host-resolver-rules wins).
  const other = await t.launchBrowser({
    args: address ? [`--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE ${address}`] : [],
  });
  try {
    // Not loopback, not https: not a secure context. Without such an
    // address, the page is made to believe it is on one.
    const origin = address ? `http://${address}:${lan.port}` : lan.url;
    const initScript = address ? undefined : () => {
      Object.defineProperty(window, 'isSecureContext', { value: false });
      Object.defineProperty(Navigator.prototype, 'mediaDevices', { get: () => undefined, configurable: true });
    };
    const dave = await t.login(other, { ...lan, url: origin }, 'dave', 'lobby', { initScript });
    assert.equal(await dave.page.evaluate(() => window.isSecureContext), false);
    await dave.page.waitForSelector('#attach-button:not([hidden])');
    assert.equal(await dave.page.locator('#voice-button').isHidden(), true);
    const note = dave.page.locator('#voice-note');
    await note.waitFor();
    assert.match(await note.textContent(), /Voice notes need https:\/\/ \(or localhost\)/);
    assert.match(await note.textContent(), /README says how, under "TLS"/);
    assert.deepEqual(await t.axeViolations(dave.page), []);
    // Said once: dismissed, it stays away.
    await dave.page.click('#voice-note-close');
    assert.equal(await note.isHidden(), true);
    await dave.page.reload();
    await t.waitJoined(dave.page, 'lobby');
    await dave.page.waitForSelector('#attach-button:not([hidden])');
    assert.equal(await note.isHidden(), true);
    assert.deepEqual(dave.errors, []);
  } finally {
    await t.shutDown(other, lan);
  }
});

test('with uploads off there is no attach button, no mic, and a pasted image is not sent', async () => {
  const off = await t.startServer(['--uploads', 'off']);
  const other = await t.launchBrowser({ args: MEDIA_ARGS });
  try {
    const erin = await t.login(other, off, 'erin', 'lobby', { initScript: recordPage });
    await erin.page.waitForTimeout(300); // the hello has been read (waitJoined): nothing shows later
    assert.equal(await erin.page.locator('#attach-button').isHidden(), true);
    assert.equal(await erin.page.locator('#voice-button').isHidden(), true);
    assert.equal(await erin.page.locator('#voice-note').isHidden(), true);
    await erin.page.locator('#composer-input').focus();
    await erin.page.evaluate(() => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], 'x.png', { type: 'image/png' }));
      document.getElementById('composer-input').dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    });
    assert.equal(await erin.page.locator('#tray-list .tray-item').count(), 0);
    assert.equal((await uploadsOf(erin)).length, 0);
    assert.deepEqual(erin.errors, []);
  } finally {
    await t.shutDown(other, off);
  }
});
