// socket.js — one WebSocket to the server, kept alive.
//
// This module owns the connection and nothing else on the page. It:
//   * opens the socket and parses every frame as JSON;
//   * waits for the server's `hello`, then joins the page's rooms, passing
//     `since` (the room's cursor: the highest number of the room's sequence
//     we saw, state.js) so the server only replays what we missed: new
//     messages, and the changes to older ones. join(room) and leave(room) change that list as you open
//     and close rooms;
//   * keeps an *outbox*: every chat message stays in it until the server
//     echoes it back with our client_id (or refuses it for good). After a
//     reconnect and `joined`, everything still in the outbox is sent again.
//     That is safe because the server never posts the same client_id twice.
//     A `storage_failed` refusal is not for good (the server's disk may
//     recover), so such a message stays in the outbox: chat.js resends it
//     after a delay (resend()), and a reconnect resends it too. Every change
//     to the outbox is mirrored into localStorage (outbox.js), so it also
//     survives a reload, and the next page sends what is left;
//   * reconnects after a drop with exponential backoff and jitter, capped
//     near 10 s, and at once when there is a reason to think it may work
//     now: the window gets focus, the tab becomes visible, the network comes
//     back, or you start typing (wake());
//   * finds out what an outage really is, because the browser hides why a
//     WebSocket did not open (a 401 for an ended session looks exactly like
//     a server that is down). After a failed attempt it asks the web server
//     (diagnose()): no answer from /healthz means the server is unreachable,
//     and then /healthz is asked every 2 s so the page reconnects as soon as
//     the server is back; an answer means /session can tell whether our
//     session still lives (keep trying: the server is restarting) or is
//     gone (stop);
//   * stops for good when the server says our session has ended.
//
// One hook for the protocol inspector (inspector.js): while `tap` is set,
// it is called with ('sent' | 'received', the frame's JSON text) for every
// frame this socket sends or receives. It is null unless the inspector is
// on, and then nothing is recorded.
//
// It reports to its owner (chat.js) through the callbacks given to start():
//   onFrame(frame)      every parsed server frame
//   onRename(from, to)  our join for room `from` was answered as room `to`:
//                       the server makes look-alike names one room, and
//                       answers with that room's own name
//   onStatus(status)    { state: 'connecting' | 'connected' | 'reconnecting' | 'offline', seconds?, reason? }
//   onTrouble(kind)     what diagnose() found, or the server said:
//                       'session-ended'  stopped for good: log in again
//                       'unreachable'    no answer from the server at all
//                       'cannot-open'    the server and our session are
//                                        fine, yet several attempts in a
//                                        row did not open (still trying)
//                       'reachable'      the server answers again (while
//                                        it restarts); nothing to show

import { roomKey } from './state.js';

// Backoff: 1 s, 2 s, 4 s, 8 s, then 10 s for ever. Longer waits save the
// server little (an attempt is one refused connection) and cost the user a
// page that sits idle long after the server is back.
const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 10_000;
// While the server does not answer at all, ask /healthz this often, and
// reconnect the moment it answers.
const HEALTH_POLL_MS = 2000;
// A question to the web server that takes longer than this counts as no answer.
const ASK_TIMEOUT_MS = 5000;
// A handshake that has not finished after this long is treated as failed;
// otherwise a silently dropped packet could leave us "connecting" for minutes.
const OPEN_TIMEOUT_MS = 10_000;
// After this many failed attempts in a row while the server answers (and our
// session lives), say that the socket itself does not open.
const FAILED_OPENS_BEFORE_HINT = 3;

export class ChatSocket {
  /**
   * Nothing is opened until start(): the page first decides its rooms
   * (join() before start() only lists them).
   * @param {object} options
   * @param {string} options.url         ws:// or wss:// URL of the server
   * @param {string[]} options.rooms     rooms to join after every `hello`
   * @param {(room: string) => number|undefined} options.lastSeen  `since` for a room
   * @param {import('./outbox.js').StoredOutbox} [options.store]  where the outbox is kept across reloads
   * @param {string} [options.healthUrl]   answers whenever the server is up
   * @param {string} [options.sessionUrl]  200 while our session lives, 401 when it has ended
   */
  constructor({ url, rooms, lastSeen, store, healthUrl = '/healthz', sessionUrl = '/session' }) {
    this.url = url;
    this.rooms = rooms;
    this.lastSeen = lastSeen;
    this.store = store;
    this.healthUrl = healthUrl;
    this.sessionUrl = sessionUrl;

    this.ws = null;
    this.greeted = false;      // has this connection said `hello`? Joins wait for it.
    this.joined = new Set();   // roomKeys the server has confirmed on *this* connection
    this.abandoned = new Set(); // roomKeys left while their join was unanswered
    this.outbox = new Map();   // client_id -> message frame, oldest first (Maps keep order)
    this.attempt = 0;          // failed attempts since the last `hello`; drives the backoff
    this.stopped = false;      // true once the session has ended: never reconnect
    this.isOffline = false;    // waiting for the browser's 'online' event
    this.retryTimer = null;
    this.countdownTimer = null;
    this.healthTimer = null;   // polls /healthz while the server is unreachable
    this.diagnosing = false;   // diagnose() is waiting for the server's answers
    this.failedWhileUp = 0;    // failed attempts in a row while the server answered
    this.wokenByTyping = false; // typing retries once per outage, not per key
    // roomKey -> { invite, password }: what the next join of that room
    // carries (an invite link's code, a typed room password), until the
    // server lets us in (`joined`) or access.js drops it after a refusal.
    // Once in, we are a member, and the server does not ask again.
    this.joinExtras = new Map();
    // (direction, text) => void while the protocol inspector is on; else null.
    this.tap = null;

    // The browser knows when the network is gone; no point in retrying then.
    // When it comes back, try at once instead of waiting out the backoff.
    // Coming back to the tab or the window is a good moment too: it may have
    // waited in the background for a while, and you are about to read it.
    window.addEventListener('online', () => this.wake());
    window.addEventListener('focus', () => this.wake());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.wake();
    });
  }

  /**
   * Open the first connection, reporting to these callbacks from now on.
   * @param {object} handlers
   * @param {(frame: object) => void} handlers.onFrame
   * @param {(status: object) => void} handlers.onStatus
   * @param {(kind: string) => void} handlers.onTrouble
   * @param {(from: string, to: string) => void} handlers.onRename
   */
  start({ onFrame, onStatus, onTrouble, onRename }) {
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.onTrouble = onTrouble;
    this.onRename = onRename;
    this.connect();
  }

  /** Skip the rest of the backoff wait (the "Retry now" button, wake()). */
  reconnectNow() {
    if (this.stopped) return;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return; // already connecting/connected
    this.clearTimers();
    this.connect();
  }

  /** Waiting out a backoff (or for the network)? Then a retry may start now. */
  isWaiting() {
    return !this.stopped && (this.retryTimer !== null || this.isOffline);
  }

  /** Something suggests the connection may work now: retry if we are waiting. */
  wake() {
    if (this.isWaiting()) this.reconnectNow();
  }

  /**
   * A key pressed in the composer: you are about to send something, so if
   * we are waiting, try now. Once per outage: a retry per keystroke would
   * knock on a dead server as fast as you type.
   */
  wakeFromTyping() {
    if (this.wokenByTyping || !this.isWaiting()) return;
    this.wokenByTyping = true;
    this.reconnectNow();
  }

  /** How many messages are still on their way (typed, not yet posted). */
  unsentCount() {
    return this.outbox.size;
  }

  /**
   * Enter one more room. It joins now if the connection is up, and after
   * every reconnect from then on (with `since`, like the others).
   */
  join(room) {
    const key = roomKey(room);
    if (!this.rooms.some((r) => roomKey(r) === key)) this.rooms.push(room);
    if (this.greeted) this.sendJoin(room);
  }

  /**
   * Leave a room: forget it here (no re-join after a reconnect, its unsent
   * messages are dropped) and tell the server if we are connected. If we
   * are not, there is nothing to tell: a fresh connection is in no room.
   */
  leave(room) {
    const key = roomKey(room);
    this.rooms = this.rooms.filter((r) => roomKey(r) !== key);
    for (const [clientId, frame] of this.outbox) {
      if (roomKey(frame.room) === key) this.outbox.delete(clientId);
    }
    this.store?.remove((entry) => roomKey(entry.room) === key);
    if (this.joined.delete(key)) this.sendNow({ type: 'leave', room });
    else if (this.greeted) this.abandoned.add(key); // its `joined` may still come
  }

  /**
   * The server put us out of a room (`removed`), or would not let us in
   * (invite_required, bad_password, locked, banned): stop joining it after
   * every reconnect, but keep its unsent messages (unlike leave()): they go
   * if we are let in again (join() once more).
   */
  park(room) {
    const key = roomKey(room);
    this.rooms = this.rooms.filter((r) => roomKey(r) !== key);
    this.joined.delete(key);
  }

  /** What the room's next joins carry (`{ invite }`, `{ password }`), until `joined`. */
  setJoinExtras(room, extras) {
    const key = roomKey(room);
    this.joinExtras.set(key, { ...this.joinExtras.get(key), ...extras });
  }

  clearJoinExtras(room) {
    this.joinExtras.delete(roomKey(room));
  }

  /**
   * This room's messages still in the outbox, as the stored outbox keeps
   * them ({ client_id, room, text, ts, and action, reply_to, mentions when
   * set }): what leave() is about to drop,
   * kept aside by the page so that Undo can bring them back.
   */
  unsentIn(room) {
    const key = roomKey(room);
    const stored = new Map((this.store?.all() ?? []).map((e) => [e.client_id, e.ts]));
    return [...this.outbox.values()]
      .filter((frame) => roomKey(frame.room) === key)
      .map(({ type, ...frame }) => ({ ...frame, ts: stored.get(frame.client_id) ?? Date.now() }));
  }

  /**
   * The one room whose join is still unanswered on this connection, if
   * there is exactly one. The server answers joins in the order they were
   * sent, so an answer under a name we did not ask for is this room's.
   */
  soleUnanswered() {
    const waiting = this.rooms.filter((r) => !this.joined.has(roomKey(r)));
    return this.greeted && waiting.length === 1 ? waiting[0] : undefined;
  }

  /** Our room `from` is the server's room `to`: ask for it by that name from now on. */
  rename(from, to) {
    const [fromKey, toKey] = [roomKey(from), roomKey(to)];
    const known = this.rooms.some((r) => roomKey(r) === toKey);
    this.rooms = known
      ? this.rooms.filter((r) => roomKey(r) !== fromKey)
      : this.rooms.map((r) => (roomKey(r) === fromKey ? to : r));
    for (const frame of this.outbox.values()) {
      if (roomKey(frame.room) === fromKey) {
        frame.room = to;
        this.store?.put(frame);
      }
    }
    this.onRename?.(from, to);
  }

  /** Is the server ready to take messages for this room on this connection? */
  isJoined(room) {
    return this.joined.has(roomKey(room)) && this.ws?.readyState === WebSocket.OPEN;
  }

  /**
   * Send a chat message. It goes into the outbox first (and into storage),
   * so that it survives a disconnect and a reload; if the room is joined
   * right now it is also sent at once. `ts` is when it was typed.
   */
  sendMessage(frame, ts = Date.now()) {
    this.outbox.set(frame.client_id, frame);
    this.store?.put({ ...frame, ts });
    if (this.isJoined(frame.room)) this.sendRaw(frame);
  }

  /**
   * Send a message that is still in the outbox again, with the same
   * client_id (a retry after storage_failed). If the room is not joined
   * right now, the next `joined` sends it anyway.
   */
  resend(clientId) {
    const frame = this.outbox.get(clientId);
    if (frame && this.isJoined(frame.room)) this.sendRaw(frame);
  }

  /**
   * Ask for a page of older messages (scroll-back). Returns false when the
   * room is not joined on this connection: the request would only earn a
   * not_joined error, and the caller asks again later.
   */
  requestHistory(room, before, limit) {
    if (!this.isJoined(room)) return false;
    const frame = { type: 'history', room, limit };
    if (before !== undefined) frame.before = before;
    return this.sendRaw(frame);
  }

  /** Drop a message from the outbox (its echo came, or it failed for good). */
  forget(clientId) {
    this.outbox.delete(clientId);
    this.store?.remove((entry) => entry.client_id === clientId);
  }

  /** Fire-and-forget frames such as `typing`: lost if we are not connected, and that is fine. */
  sendNow(frame) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    return this.sendRaw(frame);
  }

  // --- internals -----------------------------------------------------------

  sendRaw(frame) {
    try {
      const text = JSON.stringify(frame);
      this.ws.send(text);
      this.tap?.('sent', text);
      return true;
    } catch {
      // send() throws only if the socket is not open; the close handler
      // will run and the outbox will be flushed after the next `joined`.
      return false;
    }
  }

  sendJoin(room) {
    const join = { type: 'join', room };
    const since = this.lastSeen(room);
    if (since !== undefined) join.since = since;
    // The database `since` comes from: another one's ids mean nothing here.
    if (since !== undefined && this.epoch) join.epoch = this.epoch;
    Object.assign(join, this.joinExtras.get(roomKey(room)));
    this.sendRaw(join);
  }

  connect() {
    this.clearTimers();
    this.joined.clear();
    this.abandoned.clear();
    this.greeted = false;
    this.isOffline = false;
    this.onStatus({ state: 'connecting' });

    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      // A malformed URL throws synchronously. Retrying will not fix it,
      // but going through the normal path keeps the page honest about it.
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    let opened = false;

    // One timer per socket (a local, not a field): a late 'close' from an old
    // socket must not cancel the timer of the new one.
    const openTimer = setTimeout(() => ws.close(), OPEN_TIMEOUT_MS);

    ws.addEventListener('open', () => {
      opened = true;
      clearTimeout(openTimer);
      // We are not "connected" yet: that is when `hello` arrives.
    });

    ws.addEventListener('message', (event) => {
      this.tap?.('received', event.data);
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        console.warn('natter: ignoring a frame that is not JSON', event.data);
        return;
      }
      if (frame && typeof frame.type === 'string') this.handleFrame(frame);
    });

    // 'error' is always followed by 'close', so all the work happens there.
    ws.addEventListener('close', (event) => {
      clearTimeout(openTimer);
      if (this.ws !== ws) return; // an old socket closing late; ignore it
      this.ws = null;
      this.greeted = false;
      this.joined.clear();

      // 1008 "policy violation" with a reason about the session: our login
      // is gone. Reconnecting would just fail again, so stop and ask the user
      // to log in. (1008 is also used for "you stopped reading" — that one
      // is worth a reconnect.)
      if (event.code === 1008 && /session/i.test(event.reason)) {
        this.sessionEnded();
        return;
      }

      this.scheduleReconnect();
      // The browser hides the HTTP status of a failed handshake, so a 401
      // (no valid session) looks exactly like "server down": ask the web
      // server which it is.
      if (!opened) this.diagnose();
    });
  }

  /** Our session is gone: never reconnect (the outbox stays in storage). */
  sessionEnded() {
    this.stopped = true;
    this.clearTimers();
    this.stopHealthPoll();
    this.onStatus({ state: 'offline', reason: 'session ended' });
    this.onTrouble('session-ended');
  }

  // --- what an outage is ----------------------------------------------------

  /**
   * Why did the socket not open? Ask the web server, and say what is true:
   * unreachable (then poll until it answers), session ended (then stop), or
   * up with our session alive (keep trying quietly: it is restarting, or
   * its WebSocket port is not ready yet).
   */
  async diagnose() {
    if (this.diagnosing || this.stopped) return;
    this.diagnosing = true;
    try {
      const verdict = await this.askServer();
      if (this.greeted || this.stopped) return; // connected (or ended) meanwhile
      if (verdict === 'unreachable') {
        // Attempts while the server was away say nothing about the socket.
        this.failedWhileUp = 0;
        this.onTrouble('unreachable');
        this.startHealthPoll();
      } else if (verdict === 'session-ended') {
        this.sessionEnded();
      } else {
        this.failedWhileUp += 1;
        this.onTrouble(this.failedWhileUp >= FAILED_OPENS_BEFORE_HINT ? 'cannot-open' : 'reachable');
      }
    } finally {
      this.diagnosing = false;
    }
  }

  /**
   * 'unreachable' (no answer from /healthz), 'session-ended' (/session says
   * 401), 'alive' (/session says 200) or 'unknown' (any other answer, such
   * as an older server without /session: then we keep trying).
   */
  async askServer() {
    if (!(await this.ask(this.healthUrl))) return 'unreachable';
    const session = await this.ask(this.sessionUrl);
    if (!session) return 'unreachable';
    if (session.status === 401) return 'session-ended';
    return session.ok ? 'alive' : 'unknown';
  }

  /** GET a URL of this site; the response, or null when none came. */
  async ask(url) {
    try {
      return await fetch(url, {
        cache: 'no-store',
        credentials: 'same-origin',
        signal: AbortSignal.timeout?.(ASK_TIMEOUT_MS),
      });
    } catch {
      return null; // a network error, or no answer in time
    }
  }

  /** Ask /healthz every HEALTH_POLL_MS; the first answer reconnects at once. */
  startHealthPoll() {
    if (this.healthTimer !== null) return;
    const poll = async () => {
      const answer = await this.ask(this.healthUrl);
      if (this.healthTimer === null) return; // stopped meanwhile
      if (answer) {
        this.stopHealthPoll();
        this.onTrouble('reachable');
        this.reconnectNow();
      } else {
        this.healthTimer = setTimeout(poll, HEALTH_POLL_MS);
      }
    };
    this.healthTimer = setTimeout(poll, HEALTH_POLL_MS);
  }

  stopHealthPoll() {
    clearTimeout(this.healthTimer);
    this.healthTimer = null;
  }

  handleFrame(frame) {
    switch (frame.type) {
      case 'hello':
        // A real, working connection: forget past failures so the next
        // drop starts again at 1 s.
        this.attempt = 0;
        this.failedWhileUp = 0;
        this.wokenByTyping = false;
        this.stopHealthPoll();
        this.greeted = true;
        this.epoch = frame.epoch;
        this.onStatus({ state: 'connected' });
        this.onFrame(frame);
        for (const room of this.rooms) this.sendJoin(room);
        return;

      case 'joined': {
        const key = roomKey(frame.room);
        const known = this.rooms.some((r) => roomKey(r) === key);
        // A late answer for a room we left meanwhile: leave it again.
        if (this.abandoned.delete(key) && !known) {
          this.sendNow({ type: 'leave', room: frame.room });
          return;
        }
        // An answer for a room we did not ask for, or asked for already:
        // the server spells our look-alike name its own way ("B00k Club"
        // is "Book Club"), and this answers our one unanswered join.
        if (!known || this.joined.has(key)) {
          const asked = this.soleUnanswered();
          if (asked !== undefined) {
            this.rename(asked, frame.room);
          } else if (!known) {
            this.sendNow({ type: 'leave', room: frame.room });
            return;
          }
        }
        this.joined.add(key);
        this.joinExtras.delete(key); // let in: a member now, asked for nothing again
        // Let the page show the history first: it may recognise some of our
        // pending messages in it and forget() them, so they are not re-sent.
        this.onFrame(frame);
        for (const pending of this.outbox.values()) {
          if (roomKey(pending.room) === key) this.sendRaw(pending);
        }
        return;
      }

      case 'message':
        // The echo of our message: it has left the outbox for good.
        if (frame.client_id) this.forget(frame.client_id);
        this.onFrame(frame);
        return;

      case 'error':
        // A refusal of our message is final, except storage_failed: nothing
        // was posted and the server asks us to keep it and try again later,
        // so it stays in the outbox (and is resent after a reconnect).
        // A `muted` refusal is not for good either: the mute ends, and the
        // message is sent then (composer.js), so it is kept like that too.
        if (frame.client_id && frame.code !== 'storage_failed' && frame.code !== 'muted') this.forget(frame.client_id);
        this.onFrame(frame);
        return;

      default:
        this.onFrame(frame);
    }
  }

  scheduleReconnect() {
    if (this.stopped) return;

    // Without a network there is nothing to retry; the 'online' event
    // (see the constructor) wakes us up.
    if (navigator.onLine === false) {
      this.isOffline = true;
      this.onStatus({ state: 'offline', reason: 'no network' });
      return;
    }

    // Exponential backoff: 1, 2, 4, 8, then 10 seconds. The jitter
    // (±25 %) keeps a crowd of browsers that lost the server at the same
    // moment from all knocking again in the same second.
    const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempt);
    const delay = Math.min(MAX_DELAY_MS, base * (0.75 + Math.random() * 0.5));
    this.attempt += 1;

    const due = Date.now() + delay;
    const tick = () => {
      const seconds = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      this.onStatus({ state: 'reconnecting', seconds });
    };
    tick();
    this.countdownTimer = setInterval(tick, 1000);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  clearTimers() {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdownTimer);
    this.retryTimer = null;
    this.countdownTimer = null;
  }
}
