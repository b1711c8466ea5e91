// lib.mjs — what every browser test needs: a fresh natter server, headless
// Chromium, logged-in users, and waits that fail loudly instead of hanging.
//
// Every wait has a generous deadline (TIMEOUT): a shared CI machine can be
// slow (a login was seen taking 8 s), and a hung test must fail, not stall.
// No test asserts on timing.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const TIMEOUT = 20_000;

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root: screenshots go to <root>/target/screenshots. */
export const ROOT = path.resolve(here, '../..');
export const SCREENSHOTS = path.join(ROOT, 'target', 'screenshots');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

// --- the server -------------------------------------------------------------

/**
 * Start the natter binary on port 0 and read the ports it prints:
 *   natter is running: open http://127.0.0.1:PORT/
 *   (WebSocket listener on port N; Ctrl-C to stop)
 * Rate limiting is off: every browser here shares 127.0.0.1. The database
 * is in memory, so each test file starts with empty rooms and leaves no
 * file behind, unless `extraArgs` names its own `--db` (natter takes the
 * first --db it is given and refuses a second, so the default is left out);
 * the same goes for `--port`.
 */
export async function startServer(extraArgs = []) {
  // A restart on the port of a server that just stopped can find it still
  // held for a moment (the old process's closing sockets, before the
  // browser has closed its end): try again, briefly.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startOnce(extraArgs);
    } catch (err) {
      if (!extraArgs.includes('--port') || attempt >= 40 || !/Address already in use/.test(String(err))) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

async function startOnce(extraArgs) {
  const bin = process.env.NATTER_BIN || path.resolve(here, '../../target/debug/natter');
  const db = extraArgs.includes('--db') ? [] : ['--db', ':memory:'];
  // A restart test names the port of the server it replaces.
  const port = extraArgs.includes('--port') ? [] : ['--port', '0'];
  const args = [...port, '--rate-limit', 'off', ...db, ...extraArgs];
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (chunk) => { output += chunk; });

  const ports = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`natter did not start in time:\n${output}`)), TIMEOUT);
    let web;
    child.stdout.on('data', (chunk) => {
      output += chunk;
      web ??= output.match(/open http:\/\/127\.0\.0\.1:(\d+)\//)?.[1];
      const ws = output.match(/WebSocket listener on port (\d+)/)?.[1];
      if (web && ws) {
        clearTimeout(timer);
        resolve({ web: Number(web), ws: Number(ws) });
      }
    });
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`natter exited (${code}):\n${output}`)); });
  });

  return {
    url: `http://127.0.0.1:${ports.web}`,
    port: ports.web,
    pid: child.pid,
    wsPort: ports.ws,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * A TCP proxy between the browsers and natter's WebSocket port, so a test can
 * cut one user's connection as if their network dropped it.
 *
 * It reads each connection's HTTP upgrade request first, so it knows whose
 * it is (the request carries the session cookie). `cut(token)` destroys that
 * user's open connections and refuses their new ones (accepts and closes
 * them at once) until `restore(token)`; everyone else stays connected.
 */
export async function startProxy() {
  const pairs = new Set();      // { client, upstream, head }
  const blocked = new Set();    // session tokens whose connections are refused
  let target = null;
  const isBlocked = (head) => [...blocked].some((token) => head.includes(token));

  const server = net.createServer((client) => {
    let head = Buffer.alloc(0);
    client.on('error', () => client.destroy());
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      if (!head.includes('\r\n\r\n')) return; // the request headers are not complete yet
      client.off('data', onData);
      if (target === null || isBlocked(head.toString('latin1'))) {
        client.destroy();
        return;
      }
      const upstream = net.connect(target, '127.0.0.1');
      const pair = { client, upstream, head: head.toString('latin1') };
      pairs.add(pair);
      const close = () => {
        client.destroy();
        upstream.destroy();
        pairs.delete(pair);
      };
      for (const socket of [client, upstream]) {
        socket.on('error', close);
        socket.on('close', close);
      }
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on('data', onData);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    port: server.address().port,
    setTarget(port) { target = port; },
    /** Drop this session's connections and refuse new ones. */
    cut(token) {
      blocked.add(token);
      for (const pair of pairs) {
        if (pair.head.includes(token)) {
          pair.client.destroy();
          pair.upstream.destroy();
          pairs.delete(pair);
        }
      }
    },
    restore(token) { blocked.delete(token); },
    close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * After `proxy.restore`, press "Retry now" if the page is waiting out its
 * backoff. A page that is in the middle of an attempt (a keystroke or a timer
 * started it) needs no press: that attempt now goes through by itself, and the
 * button is hidden while it runs. The check and the press happen in one
 * evaluate, so no timer can start an attempt in between.
 */
export async function retryNow(page) {
  await page.waitForSelector('#status:is([data-state="reconnecting"], [data-state="connected"])', { state: 'attached' });
  return page.evaluate(() => {
    if (document.getElementById('status').dataset.state !== 'reconnecting') return false;
    document.getElementById('retry-now').click();
    return true;
  });
}

/** The session cookie's value for a logged-in user (the proxy matches on it). */
export async function sessionToken(user) {
  const cookies = await user.context.cookies();
  const session = cookies.find((c) => c.httpOnly);
  if (!session) throw new Error(`${user.name} has no session cookie`);
  return session.value;
}

// --- the browser ------------------------------------------------------------

// Why each flag is here, and the other pitfalls of driving Chromium on a
// CI machine, are in README.md beside this file: no sandbox (we run as
// root), no GPU, no calls home, and any non-local host name fails at once.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];

/**
 * Chromium with the flags above, and `args` besides. media.test.mjs adds a
 * fake microphone (`--use-fake-device-for-media-stream`: a beep, no real
 * device; `--use-fake-ui-for-media-stream`: permission granted without a
 * prompt) and lets audio play without a click
 * (`--autoplay-policy=no-user-gesture-required`).
 */
export function launchBrowser({ args = [] } = {}) {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(
      `no Chromium at ${executablePath}: run \`make setup\`, which installs it ` +
        '(or names the command that does), or set CHROMIUM to another build',
    );
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
    timeout: TIMEOUT * 3,
  });
}

/**
 * A new browser context (its own cookies: one user) with one page.
 * Uncaught page errors are collected in `errors`; tests check it is empty.
 * `locale` (e.g. 'en-US', 'en-GB') sets the browser's language and formats;
 * without it Chromium uses its own default. `hasTouch` and `isMobile` make
 * it a phone with a touch screen (a long press can then be sent).
 */
export async function newPage(browser, { viewport = DESKTOP, colorScheme = 'dark', initScript, locale, hasTouch, isMobile } = {}) {
  const context = await browser.newContext({
    viewport, colorScheme, ...(locale ? { locale } : {}), ...(hasTouch ? { hasTouch } : {}), ...(isMobile ? { isMobile } : {}),
  });
  context.setDefaultTimeout(TIMEOUT);
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  return { context, page, errors };
}

/**
 * Log in as `name` to `room` through the real form, and wait until the
 * chat page's socket is connected and the room joined.
 */
export async function login(browser, server, name, room = 'lobby', options = {}) {
  const user = await newPage(browser, options);
  const { page } = user;
  await page.goto(`${server.url}/`);
  await page.fill('#name', name);
  await page.fill('#room', room);
  await Promise.all([page.waitForURL(/\/r\//), page.click('button[type="submit"]')]);
  await waitJoined(page, room);
  return { ...user, name };
}

/**
 * The key the page files a room's list under (`data-room-key`): its name in
 * NFKC form and lower case, as state.js's roomKey makes it.
 */
export const roomKey = (room) => room.normalize('NFKC').toLowerCase();

/** Wait until the page is connected and `room` is joined (chat.js marks its list). */
export async function waitJoined(page, room) {
  await page.waitForSelector('#status[data-state="connected"]', { state: 'attached' });
  await page.waitForSelector(`ol.messages[data-room-key="${roomKey(room)}"][data-joined="true"]`, { state: 'attached' });
}

/** Type into the composer and press Enter. */
export async function send(page, text) {
  const box = page.locator('#composer-input');
  await box.fill(text);
  await box.press('Enter');
}

/** The texts of the posted (not pending) messages in a room, oldest first. */
export function messageTexts(page, room = 'lobby') {
  return page.$$eval(`ol.messages[data-room-key="${roomKey(room)}"] li.message[data-id] .text`, (nodes) =>
    nodes.map((n) => n.textContent),
  );
}

/** Wait until a posted message with exactly this text is in the room's list. */
export async function waitForMessage(page, text, room = 'lobby') {
  await page.waitForFunction(
    ([key, wanted]) =>
      [...document.querySelectorAll(`ol.messages[data-room-key="${key}"] li.message[data-id] .text`)].some(
        (n) => n.textContent === wanted,
      ),
    [roomKey(room), text],
    { timeout: TIMEOUT },
  );
}

/**
 * Pretend the tab is in the background (or back in front). Playwright pages
 * always report visible and focused, so the test overrides what the page
 * asks and fires the events a real tab switch fires.
 */
export async function setBackground(page, away) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
    document.hasFocus = () => !hidden;
    document.dispatchEvent(new Event('visibilitychange'));
    window.dispatchEvent(new Event(hidden ? 'blur' : 'focus'));
  }, away);
}

/** A full-page screenshot under target/screenshots/. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Does anything on the page stick out sideways? */
export function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/**
 * Post many messages to `room` quickly, from inside `page`: it opens a
 * second WebSocket of its own (same site, so the session cookie goes along;
 * Node 20 has no WebSocket client), joins, and sends `texts` in batches
 * (`batch`, 25 by default), waiting for each batch's answers (the echo, or
 * an error naming the client_id). With `stopOn: 'some_code'` it stops after
 * the first batch that got that error. Returns { posted, errors } (errors:
 * the error frames).
 */
export function postFromPage(page, room, texts, { stopOn, batch = 25 } = {}) {
  return page.evaluate(async ({ room, texts, stopOn, batch, timeout }) => {
    const { wsUrl, wsPort } = document.body.dataset;
    const ws = new WebSocket(wsUrl || `ws://${location.hostname}:${wsPort}/ws`);
    const frames = [];
    ws.addEventListener('message', (event) => frames.push(JSON.parse(event.data)));
    const until = async (what, ready) => {
      const deadline = Date.now() + timeout;
      while (!ready()) {
        if (Date.now() > deadline || ws.readyState > WebSocket.OPEN) {
          throw new Error(`postFromPage: no ${what} (socket state ${ws.readyState}); last frames ${JSON.stringify(frames.slice(-2)).slice(0, 300)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await until('hello', () => frames.some((f) => f.type === 'hello'));
    ws.send(JSON.stringify({ type: 'join', room }));
    await until('joined', () => frames.some((f) => f.type === 'joined'));

    const answered = new Set();
    let posted = 0;
    const errors = [];
    let seen = 0; // frames already looked at
    const stamp = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    for (let start = 0; start < texts.length; start += batch) {
      const ids = [];
      for (let i = start; i < Math.min(start + batch, texts.length); i += 1) {
        const clientId = `bulk-${stamp}-${i}`;
        ids.push(clientId);
        ws.send(JSON.stringify({ type: 'message', room, text: texts[i], client_id: clientId }));
      }
      await until('answers', () => {
        for (; seen < frames.length; seen += 1) {
          const f = frames[seen];
          if (!f.client_id || !f.client_id.startsWith(`bulk-${stamp}-`)) continue;
          answered.add(f.client_id);
          if (f.type === 'message') posted += 1;
          if (f.type === 'error') errors.push(f);
        }
        return ids.every((id) => answered.has(id));
      });
      if (stopOn && errors.some((e) => e.code === stopOn)) break;
    }
    ws.close();
    return { posted, errors };
  }, { room, texts, stopOn, batch, timeout: TIMEOUT });
}

/**
 * The usual scene of a test file: a fresh server, a browser, and alice and bob
 * logged in to #lobby in contexts of their own. Pair with `shutDown`.
 */
export async function twoUsers() {
  const server = await startServer();
  const browser = await launchBrowser();
  const alice = await login(browser, server, 'alice');
  const bob = await login(browser, server, 'bob');
  return { server, browser, alice, bob };
}

/** Close the browser and stop the server, whichever of them was started. */
export async function shutDown(browser, server) {
  await browser?.close();
  await server?.stop();
}

// --- accessibility ----------------------------------------------------------

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Run axe-core in the page and return the serious and critical violations,
 * each as "rule (impact): what at where". page.evaluate runs through the
 * DevTools protocol, which the page's Content-Security-Policy does not block.
 */
export async function axeViolations(page) {
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
}

/**
 * An init script (for `login`'s `initScript`) that records every frame the
 * page sends in `window.sentFrames`, so a test can count requests and
 * resends. Self-contained: Playwright runs its source in the page.
 */
export function recordSentFrames() {
  window.sentFrames = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function record(data) {
    try {
      window.sentFrames.push(JSON.parse(data));
    } catch {
      // not JSON: not ours to record
    }
    return send.call(this, data);
  };
}
