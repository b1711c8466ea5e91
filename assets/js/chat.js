// chat.js — the chat page: wires the socket, the state and the DOM together.
//
// The data flow is one direction, like the server's:
//
//   server ──frame──▶ socket.js ──onFrame──▶ handleFrame() ──▶ state.js
//                                                    └──────────▶ render.js ──▶ DOM
//   keyboard ──▶ sendFromComposer() ──▶ state (pending) + DOM (dimmed) ──▶ socket.sendMessage()
//
// socket.js never touches the DOM and render.js never touches the network,
// so each file can be read on its own.

import { ChatState, roomKey } from './state.js';
import { ChatSocket } from './socket.js';
import * as render from './render.js';

// --- what the server told the page --------------------------------------------
// chat.html is a template; the server put these into <body data-…>.
const page = document.body.dataset;
const ROOM = page.room;
const ROOM_KEY = roomKey(ROOM);

/**
 * Where the WebSocket lives. The server may give a full URL (for example
 * when it sits behind a proxy); otherwise it is the same host on the
 * WebSocket port.
 */
function webSocketUrl() {
  if (page.wsUrl) return page.wsUrl;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  let host = location.hostname;
  // An IPv6 address needs brackets in a URL ("[::1]:8081"). Browsers
  // usually keep them in location.hostname already; add them if not.
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  const port = page.wsPort || location.port;
  return `${scheme}://${host}${port ? `:${port}` : ''}/ws`;
}

// --- the elements we update -----------------------------------------------------
const $ = (id) => document.getElementById(id);
const list = $('messages');
const scroller = $('scroller');
const input = $('composer-input');
const composer = $('composer');
const pill = $('new-pill');
const typingLine = $('typing');
const statusLine = $('status');

const state = new ChatState(page.user);

// Limits come from the server's `hello`; this default matches the README.
let maxTextChars = 4000;

// ================================================================================
// Scrolling: follow new messages only if the reader is already at the bottom.
// ================================================================================

// True while the reader is looking at the newest message. We keep it in a
// variable (updated on every scroll) instead of measuring when a message
// arrives, because by then the new message has already changed the height.
let stickToBottom = true;
let unseen = 0;
const reduceMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

function isAtBottom() {
  // A few pixels of slack: zoom and fractional pixels rarely land exactly on 0.
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 32;
}

function scrollToBottom(smooth = false) {
  scroller.scrollTo({
    top: scroller.scrollHeight,
    behavior: smooth && !reduceMotion.matches ? 'smooth' : 'auto',
  });
  stickToBottom = true;
  unseen = 0;
  updatePill();
}

function updatePill() {
  pill.hidden = unseen === 0;
  $('new-pill-text').textContent = unseen === 1 ? '1 new message' : `${unseen} new messages`;
}

scroller.addEventListener('scroll', () => {
  stickToBottom = isAtBottom();
  if (stickToBottom && unseen > 0) {
    unseen = 0;
    updatePill();
  }
});

pill.addEventListener('click', () => {
  scrollToBottom(true);
  input.focus();
});

// The list's box changes size when the phone keyboard opens or the composer
// grows. If we were at the bottom, stay there.
new ResizeObserver(() => {
  if (stickToBottom) scroller.scrollTop = scroller.scrollHeight;
}).observe(scroller);

/**
 * Call after adding to the list. `fresh` is how many of the added items are
 * new messages from others (the pill and the tab title count those).
 */
function afterAdd({ fresh = 0, forceScroll = false } = {}) {
  if (stickToBottom || forceScroll) {
    scrollToBottom();
  } else if (fresh > 0) {
    unseen += fresh;
    updatePill();
  }
  noteUnreadInTitle(fresh);
}

// A hidden tab shows "(3) #room · natter", so you notice from another tab.
let unreadWhileHidden = 0;
const baseTitle = document.title;
function noteUnreadInTitle(fresh) {
  if (!document.hidden || fresh === 0) return;
  unreadWhileHidden += fresh;
  document.title = `(${unreadWhileHidden}) ${baseTitle}`;
}
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) {
    unreadWhileHidden = 0;
    document.title = baseTitle;
  }
});

// ================================================================================
// Showing messages
// ================================================================================

/**
 * Show a posted message unless its id is already on screen. Returns
 * 'echo' (it replaced one of our pending messages), 'new', or 'seen'
 * (a duplicate, nothing shown).
 */
function showMessage(msg, fromHistory = false) {
  // Our own message coming back: swap the dimmed pending copy for the real one.
  // Every copy carries the sender's client_id; should a history message lack
  // it, we match by content instead (see state.findPendingLike). Only our
  // own name counts: a client_id is just a string anyone could send.
  let ownEcho = false;
  const clientId = msg.client_id ?? (fromHistory ? state.findPendingLike(msg) : undefined);
  if (clientId !== undefined && msg.user === state.me && state.removePending(clientId)) {
    list.querySelector(`[data-client-id="${CSS.escape(clientId)}"]`)?.remove();
    socket.forget(clientId); // it will not be re-sent after a reconnect
    ownEcho = true;
  }

  if (!state.addMessage(msg)) return 'seen'; // e.g. history overlapping what we have
  render.insertMessage(list, render.messageElement(msg, state.me));
  return ownEcho ? 'echo' : 'new';
}

/** Clear the room's posted messages (our pending ones stay). */
function forgetRoomMessages() {
  state.forgetMessages(ROOM);
  for (const li of list.querySelectorAll('li:not(.pending, .failed)')) li.remove();
}

function showSystem(text, ts) {
  list.append(render.systemElement(text, ts));
}

function showMembers() {
  const members = state.room(ROOM).members;
  render.renderMembers($('members-list'), members, state.me);
  $('members-count').textContent = String(members.length);
  $('members-toggle-count').textContent = String(members.length);
}

// --- "is typing…" --------------------------------------------------------------

const TYPING_SHOWN_MS = 5000;
let typingTimer = null;

/** Redraw the typing line; re-check twice a second while anyone is typing. */
function showTyping() {
  clearTimeout(typingTimer);
  const names = state.typingUsers(ROOM, Date.now());
  const text = render.typingText(names);
  // Only touch the DOM on a change, so the line does not flicker.
  if (typingLine.textContent !== text) typingLine.textContent = text;
  if (names.length > 0) typingTimer = setTimeout(showTyping, 500);
}

// --- notices near the composer ----------------------------------------------------

/** Show a dismissable notice. `link` is optional: { href, text }. */
function showNotice(text, link) {
  const p = $('notice-text');
  p.textContent = text;
  if (link) {
    const a = document.createElement('a');
    a.href = link.href;
    a.textContent = link.text;
    p.append(' ', a);
  }
  $('notice').hidden = false;
}

$('notice-close').addEventListener('click', () => {
  $('notice').hidden = true;
  input.focus();
});

const loginAgainHref = `/?room=${encodeURIComponent(ROOM)}`;

// ================================================================================
// Frames from the server
// ================================================================================

function isOurRoom(frame) {
  return typeof frame.room === 'string' && roomKey(frame.room) === ROOM_KEY;
}

function handleFrame(frame) {
  switch (frame.type) {
    case 'hello':
      // The server's word on who we are beats the page's.
      if (frame.user) state.me = frame.user;
      if (frame.limits?.max_text_chars) maxTextChars = frame.limits.max_text_chars;
      $('session-banner').hidden = true;
      break;

    case 'joined': {
      if (!isOurRoom(frame)) break;
      state.setMembers(frame.room, frame.members ?? []);
      showMembers();
      // `since` was the last id we had when we sent the join (nothing arrives
      // for a room between the drop and `joined`, so it has not changed).
      const since = state.lastSeen(ROOM);
      const history = frame.history ?? [];
      if (frame.gap && since !== undefined) {
        if (history.length === 0 || history[0].id <= since) {
          // A gap whose history starts at or before our `since`: the server
          // restarted and its ids began again at 1. Our old ids mean nothing
          // now (new messages would look like duplicates), so start over.
          forgetRoomMessages();
          showSystem('The server restarted; the conversation starts again from here.');
        } else {
          showSystem('Some messages were missed while you were away: the server no longer has them.');
        }
      }
      const hadHistory = state.lastSeen(ROOM) !== undefined;
      // aria-busy asks screen readers to wait until the whole batch is in,
      // instead of reading out two hundred history messages one by one.
      scroller.setAttribute('aria-busy', 'true');
      let fresh = 0;
      for (const msg of history) {
        const shown = showMessage(msg, true);
        if (shown === 'new' && msg.user !== state.me) fresh += 1;
      }
      scroller.setAttribute('aria-busy', 'false');
      // The first history is not "new"; missed messages after a reconnect are.
      afterAdd({ fresh: hadHistory ? fresh : 0, forceScroll: !hadHistory });
      refreshPendingLabels();
      break;
    }

    case 'message': {
      if (!isOurRoom(frame)) break;
      const shown = showMessage(frame);
      showTyping(); // the author has stopped typing
      afterAdd({
        fresh: shown === 'new' && frame.user !== state.me ? 1 : 0,
        // Your own message always brings you to the bottom, to see it land.
        forceScroll: shown === 'echo',
      });
      break;
    }

    case 'system':
      if (!isOurRoom(frame)) break;
      showSystem(frame.text || `${frame.user} ${frame.event === 'leave' ? 'left' : 'joined'}`, frame.ts);
      afterAdd();
      break;

    case 'presence':
      if (!isOurRoom(frame)) break;
      state.setMembers(frame.room, frame.members ?? []);
      showMembers();
      break;

    case 'typing':
      if (!isOurRoom(frame) || frame.user === state.me) break;
      state.setTyping(ROOM, frame.user, Date.now() + TYPING_SHOWN_MS);
      showTyping();
      break;

    case 'error':
      handleError(frame);
      break;

    default:
      // A newer server may send types this page does not know yet; ignoring
      // them keeps old pages working.
      break;
  }
}

function handleError(frame) {
  const clientId = frame.client_id;
  if (clientId && state.failPending(clientId)) {
    const li = list.querySelector(`[data-client-id="${CSS.escape(clientId)}"]`);
    if (li) {
      render.markFailed(li, frame.code, {
        onRemove: () => {
          state.removePending(clientId);
          li.remove();
          input.focus();
        },
        // Over the rate limit the same message will pass a little later.
        onRetry: frame.code === 'rate_limited' ? () => retry(clientId, li) : undefined,
      });
    }
  }
  if (frame.code === 'name_taken') {
    showNotice(frame.message || 'Someone with your name is already in this room.', {
      href: loginAgainHref,
      text: 'Log in with another name',
    });
  } else {
    showNotice(frame.message || `The server refused that (${frame.code}).`);
  }
}

// ================================================================================
// Connection status
// ================================================================================

function handleStatus(status) {
  statusLine.dataset.state = status.state;
  $('status-text').textContent = render.statusText(status);
  $('retry-now').hidden = !(status.state === 'reconnecting' || (status.state === 'offline' && status.reason !== 'session ended'));
  refreshPendingLabels();
}

/** Pending messages say whether they are on their way or waiting for the network. */
function refreshPendingLabels() {
  const label = socket.isJoined(ROOM) ? 'sending…' : 'waiting for connection…';
  for (const li of list.querySelectorAll('.pending .state')) {
    li.textContent = label;
  }
}

function handleTrouble(kind) {
  const link = $('relogin-link');
  link.href = loginAgainHref;
  if (kind === 'session-ended') {
    $('session-banner-text').textContent = 'Your session has ended.';
    link.textContent = 'Log in again';
  } else {
    // 'cannot-open': the server is down, or it refuses our (expired) cookie.
    // The browser does not tell us which, so say both.
    $('session-banner-text').textContent = 'Cannot connect to the chat server (still trying). If your session has expired,';
    link.textContent = 'log in again';
  }
  $('session-banner').hidden = false;
}

$('retry-now').addEventListener('click', () => socket.reconnectNow());

// ================================================================================
// The composer
// ================================================================================

const TYPING_EVERY_MS = 3000;
let lastTypingSent = 0;

function sendFromComposer() {
  // Leading and trailing blank lines are never meant; the server would
  // refuse an all-blank message anyway (empty_text).
  const text = input.value.trim();
  if (text === '') return;
  // The server counts characters (code points), not UTF-16 units, so an
  // emoji counts once here too.
  const length = [...text].length;
  if (length > maxTextChars) {
    showNotice(`That message is ${length} characters long; the limit is ${maxTextChars}.`);
    return;
  }

  const clientId = state.addPending(ROOM, text);
  list.append(render.pendingElement(clientId, text, state.me));
  socket.sendMessage({ type: 'message', room: ROOM, text, client_id: clientId });
  refreshPendingLabels();
  scrollToBottom();

  input.value = '';
  lastTypingSent = 0; // the next keystroke may announce typing again at once
  input.focus();
}

/** Send a failed message again, with the same client_id. */
function retry(clientId, li) {
  const entry = state.retryPending(clientId);
  if (!entry) return;
  render.markPendingAgain(li, list);
  socket.sendMessage({ type: 'message', room: entry.room, text: entry.text, client_id: clientId });
  refreshPendingLabels();
  scrollToBottom();
  input.focus();
}

composer.addEventListener('submit', (event) => {
  event.preventDefault(); // the page stays; the socket does the sending
  sendFromComposer();
});

input.addEventListener('keydown', (event) => {
  // Enter sends; Shift+Enter falls through and inserts a newline. While an
  // input method is composing (Japanese, Chinese, …) Enter confirms the
  // composition and must not send.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    sendFromComposer();
  }
});

input.addEventListener('input', () => {
  const now = Date.now();
  if (input.value.trim() === '' || now - lastTypingSent < TYPING_EVERY_MS) return;
  // Only when joined: the server answers `typing` for a room you are not in
  // with a not_joined error, and there is nobody to tell anyway.
  if (!socket.isJoined(ROOM)) return;
  if (socket.sendNow({ type: 'typing', room: ROOM })) lastTypingSent = now;
});

// ================================================================================
// The member drawer (phones only; on wide screens CSS shows the list always)
// ================================================================================

const drawer = $('members');
const toggle = $('members-toggle');
const backdrop = $('backdrop');

function setDrawer(open) {
  drawer.classList.toggle('open', open);
  toggle.setAttribute('aria-expanded', String(open));
  backdrop.hidden = !open;
  if (open) $('members-close').focus();
  else if (document.activeElement && drawer.contains(document.activeElement)) toggle.focus();
}

toggle.addEventListener('click', () => setDrawer(!drawer.classList.contains('open')));
$('members-close').addEventListener('click', () => setDrawer(false));
backdrop.addEventListener('click', () => setDrawer(false));
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && drawer.classList.contains('open')) setDrawer(false);
});

// ================================================================================
// Start
// ================================================================================

const socket = new ChatSocket({
  url: webSocketUrl(),
  rooms: [ROOM],
  lastSeen: (room) => state.lastSeen(room),
  onFrame: handleFrame,
  onStatus: handleStatus,
  onTrouble: handleTrouble,
});

socket.start();
input.focus();
