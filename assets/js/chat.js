// chat.js — the chat page: wires the socket, the state and the DOM together.
//
// The data flow is one direction, like the server's:
//
//   server ──frame──▶ socket.js ──onFrame──▶ handleFrame() ──▶ state.js
//                                                    └──────────▶ render.js ──▶ DOM
//   keyboard ──▶ sendFromComposer() ──▶ state (pending) + DOM (dimmed) ──▶ socket.sendMessage()
//
// socket.js never touches the DOM and render.js never touches the network,
// so each file can be read on its own. The helpers around them:
//   prefs.js   your choices (theme, mute, sound, recent emoji) in localStorage
//   notify.js  browser notifications and the sound
//   emoji.js   the emoji picker and :shortcode: completion
//
// One page, several rooms: each room you are in has its own <ol> of
// messages inside the scroller; switching rooms shows another list and
// changes the address to /r/<room> (back and forward switch back).

import { ChatState, roomKey } from './state.js';
import { ChatSocket } from './socket.js';
import * as render from './render.js';
import * as prefs from './prefs.js';
import * as notify from './notify.js';
import { EmojiPicker, ShortcodeCompleter, insertText } from './emoji.js';

prefs.applyTheme();

// --- what the server told the page --------------------------------------------
// chat.html is a template; the server put these into <body data-…>.
const page = document.body.dataset;

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
const scroller = $('scroller');
const input = $('composer-input');
const composer = $('composer');
const pill = $('new-pill');
const typingLine = $('typing');
const statusLine = $('status');

const state = new ChatState(page.user);

// Limits come from the server's `hello`; these defaults match the README.
let maxTextChars = 4000;
let maxTextBytes = 12000;
let maxRoomChars = 64;

/** The room on screen (its state). */
const current = () => state.currentRoom();
const isCurrent = (name) => roomKey(name) === state.current;

// ================================================================================
// One message list per room
// ================================================================================

const lists = new Map(); // roomKey -> <ol>

/** The room's <ol>, made on first use. Only the current room's is visible. */
function listFor(name) {
  const key = roomKey(name);
  let list = lists.get(key);
  if (!list) {
    list = document.createElement('ol');
    list.className = 'messages';
    list.dataset.roomKey = key;
    list.hidden = key !== state.current;
    scroller.append(list);
    lists.set(key, list);
  }
  return list;
}

/** The address of a room's page. */
const roomPath = (name) => `/r/${encodeURIComponent(name)}`;

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
  maybeLoadOlder();
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
 * Call after adding to the *current* room's list. `fresh` is how many of
 * the added items are new messages from others (the pill counts those).
 */
function afterAdd({ fresh = 0, forceScroll = false } = {}) {
  if (stickToBottom || forceScroll) {
    scrollToBottom();
  } else if (fresh > 0) {
    unseen += fresh;
    updatePill();
  }
}

// ================================================================================
// Scroll-back: older messages load when you reach the top of the list
// ================================================================================

// Ask a little before the very top, so a steady scroll up rarely has to stop.
const LOAD_OLDER_WITHIN_PX = 200;
// Messages per `history` request (the server caps it at 100).
const HISTORY_PAGE = 50;

/**
 * Ask for the page of messages before the oldest one shown, if the current
 * room's list is scrolled (near) to the top. A list too short to scroll is
 * at the top too, so a small room asks until it is full or the beginning
 * shows. At most one request per room is on its way (room.loadingOlder),
 * and after `more: false` the room never asks again.
 */
function maybeLoadOlder() {
  const room = current();
  if (!room || room.loadingOlder || room.reachedStart || !room.joined) return;
  if (scroller.scrollTop > LOAD_OLDER_WITHIN_PX) return;
  if (!socket.requestHistory(room.name, room.firstId, HISTORY_PAGE)) return;
  room.loadingOlder = true;
  updateHistoryIndicator();
}

/** "Loading older messages…" floats over the top of the list while the current room waits. */
function updateHistoryIndicator() {
  $('history-loading').hidden = !current()?.loadingOlder;
}

/**
 * The item to hold still while older messages go in above it: the first
 * one wholly on screen, after the list's first message. The first message
 * itself may change height (it can lose its name, grouped under a new
 * message above it) and the day separator before it may go; everything
 * after it only moves down by the height of what was added.
 */
function scrollAnchor(list) {
  const edge = scroller.getBoundingClientRect().top;
  const first = list.querySelector('li.message[data-id]');
  let afterFirst = false;
  let fallback = null;
  for (const item of list.children) {
    const box = item.getBoundingClientRect();
    if (afterFirst && box.top >= edge) return item;
    if (item === first) afterFirst = true;
    if (!fallback && box.bottom > edge) fallback = item;
  }
  return fallback;
}

/**
 * Run `change` (which adds items above what you are reading) without moving
 * what you are reading: measure one item before and after, and scroll by the
 * difference. A hidden list (another room) has no layout to measure.
 */
function keepScrollPosition(list, change) {
  const anchor = list.hidden ? null : scrollAnchor(list);
  const before = anchor?.getBoundingClientRect().top;
  change();
  if (anchor?.isConnected) scroller.scrollTop += anchor.getBoundingClientRect().top - before;
}

/** The answer to a `history` request: older messages, oldest first, and `more`. */
function handleHistory(frame) {
  const room = state.room(frame.room);
  room.loadingOlder = false;
  const list = listFor(room.name);
  const firstId = room.firstId;
  const older = [];
  const others = [];
  for (const msg of frame.messages ?? []) {
    // Older than everything shown goes on top; anything else (a message
    // that arrived while the request was out) takes the normal path, which
    // puts it in id order. Both skip ids already shown.
    if (firstId === undefined || msg.id < firstId) older.push(msg);
    else others.push(msg);
  }
  const items = older.filter((msg) => state.addMessage(msg)).map((msg) => render.messageElement(msg, state.me));

  scroller.setAttribute('aria-busy', 'true');
  keepScrollPosition(list, () => {
    render.prependMessages(list, items);
    for (const msg of others) showMessage(msg, true);
    if (frame.more === false && !room.reachedStart) {
      room.reachedStart = true;
      list.prepend(render.beginningElement(room.name));
    }
  });
  scroller.setAttribute('aria-busy', 'false');
  updateHistoryIndicator();
  // Still at the top (a short page, a tall window)? Ask for the next page.
  // Only after a page that brought something: a server answering "more" with
  // nothing must not make us ask in a loop.
  if (isCurrent(room.name) && items.length > 0) maybeLoadOlder();
}

// ================================================================================
// Unread counts, the tab title, notifications
// ================================================================================

const isMuted = (name) => prefs.isMuted(roomKey(name));

/** "(3) #lobby · natter": the number counts every room (see state.unreadTotal). */
function updateTitle() {
  const total = state.unreadTotal(isMuted);
  const room = current();
  const name = room ? `#${room.name}` : 'natter';
  document.title = `${total > 0 ? `(${total}) ` : ''}${name} · natter`;
  // The phone's menu button carries the count too (its label says it).
  const badge = $('drawer-badge');
  badge.hidden = total === 0;
  badge.textContent = String(total);
  $('drawer-toggle').setAttribute('aria-label', `Rooms, members and settings${total > 0 ? `, ${total} unread` : ''}`);
}

/** You are looking at this room now: it has nothing unread. */
function markRead(room) {
  if (room.unread === 0 && room.mentions === 0) return;
  room.unread = 0;
  room.mentions = 0;
  renderSidebar();
  updateTitle();
}

/**
 * New messages from others arrived in `room`. Count them as unread unless
 * you are looking at them, and (for live ones) tell you if you are away:
 * a notification and the sound, unless the room is muted and the message
 * does not mention you.
 */
function noteNewMessages(room, messages, { live }) {
  if (messages.length === 0) return;
  const mentioning = messages.filter((m) => render.mentions(m.text, state.me));
  const away = notify.inBackground();
  if (away || !isCurrent(room.name)) {
    room.unread += messages.length;
    room.mentions += mentioning.length;
    renderSidebar();
    updateTitle();
  }
  if (!live || !away) return;
  const muted = isMuted(room.name);
  for (const msg of messages) {
    if (muted && !mentioning.includes(msg)) continue;
    notify.showNotification(msg, () => switchRoom(msg.room));
    notify.playSound();
  }
}

// Coming back to the tab reads the current room (and a tab left open
// overnight learns that "Today" is now "Yesterday").
function onReturn() {
  if (!notify.inBackground() && current()) markRead(current());
  render.refreshDayLabels(scroller);
}
setInterval(() => render.refreshDayLabels(scroller), 60_000);
document.addEventListener('visibilitychange', onReturn);
window.addEventListener('focus', onReturn);

// ================================================================================
// Showing messages
// ================================================================================

/**
 * Show a posted message unless its id is already on screen. Returns
 * 'echo' (it replaced one of our pending messages), 'new', or 'seen'
 * (a duplicate, nothing shown).
 */
function showMessage(msg, fromHistory = false) {
  const list = listFor(msg.room);
  // Our own message coming back: swap the dimmed pending copy for the real one.
  // Every copy carries the sender's client_id; should a history message lack
  // it, we match by content instead (see state.findPendingLike). Only our
  // own name counts: a client_id is just a string anyone could send.
  let ownEcho = false;
  const clientId = msg.client_id ?? (fromHistory ? state.findPendingLike(msg) : undefined);
  if (clientId !== undefined && msg.user === state.me && state.removePending(clientId)) {
    const pending = list.querySelector(`[data-client-id="${CSS.escape(clientId)}"]`);
    if (pending) render.removeItem(pending);
    socket.forget(clientId); // it will not be re-sent after a reconnect
    ownEcho = true;
  }

  if (!state.addMessage(msg)) return 'seen'; // e.g. history overlapping what we have
  render.insertMessage(list, render.messageElement(msg, state.me));
  return ownEcho ? 'echo' : 'new';
}

/** Clear the room's posted messages (our pending ones stay). */
function forgetRoomMessages(name) {
  state.forgetMessages(name);
  for (const li of listFor(name).querySelectorAll('li:not(.pending, .failed)')) li.remove();
}

function showSystem(room, text, ts) {
  render.appendItem(listFor(room), render.systemElement(text, ts));
}

function showMembers() {
  const members = current()?.members ?? [];
  render.renderMembers($('members-list'), members, state.me);
  $('members-count').textContent = String(members.length);
}

// --- "is typing…" --------------------------------------------------------------

const TYPING_SHOWN_MS = 5000;
let typingTimer = null;

/** Redraw the typing line; re-check twice a second while anyone is typing. */
function showTyping() {
  clearTimeout(typingTimer);
  const names = current() ? state.typingUsers(current().name, Date.now()) : [];
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

const loginAgainHref = () => `/?room=${encodeURIComponent(current()?.name ?? page.room)}`;

// ================================================================================
// Rooms: the sidebar, joining, leaving, switching
// ================================================================================

function renderSidebar() {
  render.renderRooms($('room-list'), [...state.rooms.values()], {
    current: state.current,
    isMuted,
    onOpen: (name) => {
      switchRoom(name);
      setDrawer(false);
      input.focus();
    },
    onLeave: leaveRoom,
  });
}

/** Remember this tab's rooms across a reload (sessionStorage). */
function saveRooms() {
  prefs.setOpenRooms([...state.rooms.values()].map((room) => room.name));
}

/** Put a room in the sidebar and join it (no-op if it is there already). */
function addRoom(name) {
  if (state.has(name)) return;
  state.room(name);
  listFor(name);
  socket.join(name);
  saveRooms();
  renderSidebar();
}

/**
 * Show another room. `push` adds a browser history entry (false when we
 * are answering the back button, which has already moved).
 */
function switchRoom(name, { push = true } = {}) {
  addRoom(name);
  const old = current();
  const room = state.room(name);
  if (old && old !== room) {
    // Remember where you were in the old room.
    old.scrollTop = scroller.scrollTop;
    old.atBottom = stickToBottom;
    old.unseenBelow = unseen;
  }
  state.current = roomKey(name);
  for (const [key, list] of lists) list.hidden = key !== state.current;

  $('room-name').textContent = `#${room.name}`;
  input.placeholder = `Message #${room.name}`;
  if (room.atBottom) {
    scrollToBottom();
  } else {
    scroller.scrollTop = room.scrollTop;
    stickToBottom = false;
    unseen = room.unseenBelow;
    updatePill();
  }
  if (!notify.inBackground()) markRead(room);
  showMembers();
  showTyping();
  updateMuteButton();
  updateExportLinks();
  renderSidebar();
  updateTitle();
  refreshPendingLabels();
  updateHistoryIndicator();
  maybeLoadOlder();
  if (push && location.pathname !== roomPath(room.name)) {
    history.pushState({ room: room.name }, '', roomPath(room.name));
  }
}

/**
 * Our join for `from` was answered as room `to`: the server makes
 * look-alike names one room (a Cyrillic "о" for an "o", "0" for "O"). The
 * room moves to `to`'s key (the `joined` that follows gives it the
 * server's spelling everywhere), or goes if `to` is open already.
 */
function renameRoom(from, to) {
  const [fromKey, toKey] = [roomKey(from), roomKey(to)];
  const merging = state.rooms.has(toKey);
  state.renameRoom(from, to);
  const list = lists.get(fromKey);
  lists.delete(fromKey);
  if (merging) {
    list?.remove();
  } else if (list) {
    list.dataset.roomKey = toKey;
    lists.set(toKey, list);
  }
  saveRooms();
  if (merging && state.current === toKey) {
    switchRoom(state.room(to).name, { push: false });
    history.replaceState({ room: state.room(to).name }, '', roomPath(state.room(to).name));
  } else {
    renderSidebar();
  }
}

/** Leave a room: the server is told, and its messages go from the page. */
function leaveRoom(name) {
  if (state.rooms.size <= 1) return; // the page always shows some room
  const key = roomKey(name);
  socket.leave(name);
  state.removeRoom(name);
  lists.get(key)?.remove();
  lists.delete(key);
  saveRooms();
  if (state.current === key) {
    const next = state.rooms.values().next().value;
    switchRoom(next.name);
    input.focus();
  } else {
    renderSidebar();
    updateTitle();
  }
}

// Back and forward: the address says which room.
window.addEventListener('popstate', (event) => {
  const name = event.state?.room ?? decodeURIComponent(location.pathname.replace(/^\/r\//, ''));
  if (name) switchRoom(name, { push: false });
});

/**
 * What the page checks of a typed room name before it joins: only what
 * cannot be wrong to check. The naming rules themselves (which characters,
 * which scripts, no invisible ones) are the server's: it answers a name
 * it refuses with `bad_room` and a message saying why, and handleError
 * takes the room away again and shows that message. A copy of the rules
 * here would drift, and refuse names the server takes.
 * Returns the name to join, or { error } to show under the field.
 */
function typedRoomName(typed) {
  // "#kitchen" is how rooms are written on screen, so a "#" typed in front
  // is not part of the name.
  const name = typed.trim().replace(/^#+/, '').trim();
  if (name === '') return { error: 'Type the name of a room.' };
  // The server counts the characters of the name's NFKC form.
  const length = [...name.normalize('NFKC')].length;
  if (length > maxRoomChars) {
    return { error: `That name is ${length} characters long; a room name has at most ${maxRoomChars}.` };
  }
  return { name };
}

$('join-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const field = $('join-input');
  const { name, error: problem } = typedRoomName(field.value);
  const error = $('join-error');
  if (problem) {
    error.textContent = problem;
    field.setAttribute('aria-invalid', 'true');
    field.focus();
    return;
  }
  error.textContent = '';
  field.removeAttribute('aria-invalid');
  field.value = '';
  switchRoom(name);
  setDrawer(false);
  input.focus();
});

// --- export ---------------------------------------------------------------------

/**
 * The side panel's download links follow the room on screen. The server
 * answers /export/<room> with Content-Disposition: attachment, so a plain
 * link downloads; `download` on the <a> says so to the browser up front.
 */
function updateExportLinks() {
  const room = current();
  if (!room) return;
  const base = `/export/${encodeURIComponent(room.name)}`;
  $('export-txt').href = `${base}?format=txt`;
  $('export-json').href = `${base}?format=json`;
  $('export-room').textContent = `#${room.name}`;
}

// --- muting -----------------------------------------------------------------------

const muteButton = $('mute-toggle');

function updateMuteButton() {
  const muted = current() ? isMuted(current().name) : false;
  muteButton.setAttribute('aria-pressed', String(muted));
  muteButton.title = muted ? 'Muted: only @mentions notify' : 'Mute notifications for this room';
}

muteButton.addEventListener('click', () => {
  const room = current();
  if (!room) return;
  prefs.setMuted(roomKey(room.name), !isMuted(room.name));
  updateMuteButton();
  renderSidebar();
  updateTitle();
});

// ================================================================================
// Frames from the server
// ================================================================================

function handleFrame(frame) {
  // Every frame but `hello` and some errors names a room. Frames for rooms
  // that are not in the sidebar (a late answer after you left) are ignored.
  if (frame.type !== 'hello' && frame.type !== 'error' && !(typeof frame.room === 'string' && state.has(frame.room))) {
    return;
  }
  switch (frame.type) {
    case 'hello':
      // The server's word on who we are beats the page's.
      if (frame.user) state.me = frame.user;
      if (frame.limits?.max_text_chars) maxTextChars = frame.limits.max_text_chars;
      if (frame.limits?.max_text_bytes) maxTextBytes = frame.limits.max_text_bytes;
      if (frame.limits?.max_room_chars) maxRoomChars = frame.limits.max_room_chars;
      $('session-banner').hidden = true;
      break;

    case 'joined':
      handleJoined(frame);
      break;

    case 'message': {
      const room = state.room(frame.room);
      const shown = showMessage(frame);
      const fresh = shown === 'new' && frame.user !== state.me;
      if (isCurrent(frame.room)) {
        showTyping(); // the author has stopped typing
        // Your own message always brings you to the bottom, to see it land.
        afterAdd({ fresh: fresh ? 1 : 0, forceScroll: shown === 'echo' });
      }
      if (fresh) noteNewMessages(room, [frame], { live: true });
      break;
    }

    case 'system':
      showSystem(frame.room, frame.text || `${frame.user} ${frame.event === 'leave' ? 'left' : 'joined'}`, frame.ts);
      if (isCurrent(frame.room)) afterAdd();
      break;

    case 'presence':
      state.setMembers(frame.room, frame.members ?? []);
      if (isCurrent(frame.room)) showMembers();
      break;

    case 'typing':
      if (frame.user === state.me) break;
      state.setTyping(frame.room, frame.user, Date.now() + TYPING_SHOWN_MS);
      if (isCurrent(frame.room)) showTyping();
      break;

    case 'history':
      handleHistory(frame);
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

function handleJoined(frame) {
  const room = state.room(frame.room);
  // Rooms match case-insensitively; the server's spelling is the real one.
  if (room.name !== frame.room) {
    room.name = frame.room;
    saveRooms();
    renderSidebar();
    if (isCurrent(frame.room)) {
      $('room-name').textContent = `#${room.name}`;
      input.placeholder = `Message #${room.name}`;
      history.replaceState({ room: room.name }, '', roomPath(room.name));
      updateTitle();
      updateExportLinks();
    }
  }
  room.joined = true;
  // A `joined` comes on a fresh connection (or a first join): a history
  // request sent on an old one will never be answered, so ask again.
  room.loadingOlder = false;
  // socket.js resends the whole outbox right after this, messages the
  // server could not save included: they are simply pending again.
  for (const [clientId, entry] of state.pending) {
    if (entry.status === 'unsaved' && roomKey(entry.room) === roomKey(room.name)) resendUnsaved(clientId, { send: false });
  }
  listFor(room.name).dataset.joined = 'true'; // the tests wait for this
  state.setMembers(room.name, frame.members ?? []);
  if (isCurrent(room.name)) showMembers();

  // `since` was the last id we had when we sent the join (nothing arrives
  // for a room between the drop and `joined`, so it has not changed).
  const since = state.lastSeen(room.name);
  const backlog = frame.history ?? [];
  if (frame.gap && since !== undefined) {
    if (backlog.length === 0 || backlog[0].id <= since) {
      // A gap whose history starts at or before our `since`: the server
      // restarted and its ids began again at 1. Our old ids mean nothing
      // now (new messages would look like duplicates), so start over.
      forgetRoomMessages(room.name);
      showSystem(room.name, 'The server restarted; the conversation starts again from here.');
    } else {
      showSystem(room.name, 'Some messages were missed while you were away: the server no longer has them.');
    }
  }
  const hadHistory = state.lastSeen(room.name) !== undefined;
  // aria-busy asks screen readers to wait until the whole batch is in,
  // instead of reading out two hundred history messages one by one.
  scroller.setAttribute('aria-busy', 'true');
  const missed = [];
  for (const msg of backlog) {
    const shown = showMessage(msg, true);
    if (shown === 'new' && msg.user !== state.me) missed.push(msg);
  }
  scroller.setAttribute('aria-busy', 'false');
  // The first history is not "new"; missed messages after a reconnect are.
  if (isCurrent(room.name)) afterAdd({ fresh: hadHistory ? missed.length : 0, forceScroll: !hadHistory });
  if (hadHistory) noteNewMessages(room, missed, { live: false });
  refreshPendingLabels();
  if (isCurrent(room.name)) {
    updateHistoryIndicator();
    maybeLoadOlder();
  }
}

// Refusals of a `join`: the room goes from the sidebar again.
const JOIN_REFUSALS = ['name_taken', 'bad_room', 'too_many_rooms'];

// A message the server could not save is retried after 5 s, then 10, 20,
// 40, and every 60 s while storage keeps failing (disk full is rarely fixed
// in seconds, and each retry costs the server a failed transaction).
const UNSAVED_FIRST_RETRY_MS = 5000;
const UNSAVED_MAX_RETRY_MS = 60_000;
const unsavedTimers = new Map(); // client_id -> timeout

/** storage_failed for one of our messages: keep it pending, retry later. */
function holdUnsaved(clientId) {
  const entry = state.holdUnsaved(clientId);
  if (!entry) return;
  const li = document.querySelector(`.messages [data-client-id="${CSS.escape(clientId)}"]`);
  if (li) render.markUnsaved(li);
  clearTimeout(unsavedTimers.get(clientId));
  const delay = Math.min(UNSAVED_MAX_RETRY_MS, UNSAVED_FIRST_RETRY_MS * 2 ** (entry.attempts - 1));
  unsavedTimers.set(clientId, setTimeout(() => resendUnsaved(clientId), delay));
}

/**
 * Send an unsaved message again, same client_id: the server posts a
 * client_id at most once, so this can never double it. When not connected
 * it waits: the next `joined` resends it (and calls this with send: false,
 * since socket.js does the sending then).
 */
function resendUnsaved(clientId, { send = true } = {}) {
  clearTimeout(unsavedTimers.get(clientId));
  unsavedTimers.delete(clientId);
  const entry = state.pending.get(clientId);
  if (!entry || entry.status !== 'unsaved') return; // echoed, or its room was left
  if (send && !socket.isJoined(entry.room)) return;
  state.retryPending(clientId);
  const li = document.querySelector(`.messages [data-client-id="${CSS.escape(clientId)}"]`);
  if (li) render.markResending(li);
  if (send) socket.resend(clientId);
}

function handleError(frame) {
  const clientId = frame.client_id;
  if (clientId && frame.code === 'storage_failed') {
    // Not the message's fault and not final: it stays pending (see socket.js).
    holdUnsaved(clientId);
  } else if (clientId && state.failPending(clientId)) {
    const li = document.querySelector(`.messages [data-client-id="${CSS.escape(clientId)}"]`);
    if (li) {
      render.markFailed(li, frame.code, {
        onRemove: () => {
          state.removePending(clientId);
          render.removeItem(li);
          input.focus();
        },
        // Over the rate limit the same message will pass a little later.
        onRetry: frame.code === 'rate_limited' ? () => retry(clientId, li) : undefined,
      });
    }
  }

  // An error about a room with a scroll-back request out and no client_id is
  // most likely the answer to that request (storage_failed when the server
  // could not read its history): no reply will follow, so we may ask again.
  if (!clientId && frame.room && state.has(frame.room) && state.room(frame.room).loadingOlder) {
    state.room(frame.room).loadingOlder = false;
    updateHistoryIndicator();
  }

  // A refused join names the room as the server spells it: for a look-alike
  // of an existing room (name_taken there), that is not the name we asked
  // for, and the refusal is the answer to our one unanswered join.
  const refusedName = frame.room && JOIN_REFUSALS.includes(frame.code) && !state.has(frame.room) ? socket.soleUnanswered() : frame.room;
  const refusedRoom = refusedName && state.has(refusedName) && JOIN_REFUSALS.includes(frame.code) ? state.room(refusedName) : null;
  if (refusedRoom && !refusedRoom.joined && state.rooms.size > 1) {
    // You tried to open a room and the server said no: take it away again.
    const name = refusedRoom.name;
    leaveRoom(name);
    showNotice(`Could not join #${name}: ${frame.message || frame.code}`);
    return;
  }

  if (frame.code === 'name_taken') {
    showNotice(frame.message || 'Someone with your name is already in this room.', {
      href: loginAgainHref(),
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
  for (const [key, list] of lists) {
    const label = socket.isJoined(key) ? 'sending…' : 'waiting for connection…';
    // Unsaved ones keep saying so until they are sent again.
    for (const li of list.querySelectorAll('.pending:not(.unsaved) .state')) li.textContent = label;
  }
}

function handleTrouble(kind) {
  const link = $('relogin-link');
  link.href = loginAgainHref();
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
const utf8 = new TextEncoder();

function sendFromComposer() {
  const room = current();
  // Leading and trailing blank lines are never meant; the server would
  // refuse an all-blank message anyway (empty_text).
  const text = input.value.trim();
  if (text === '' || !room) return;
  // The server counts characters (code points), not UTF-16 units, so an
  // emoji counts once here too.
  const length = [...text].length;
  if (length > maxTextChars) {
    showNotice(`That message is ${length} characters long; the limit is ${maxTextChars}.`);
    return;
  }
  // And it counts bytes of UTF-8, where an emoji takes 4.
  const bytes = utf8.encode(text).length;
  if (bytes > maxTextBytes) {
    showNotice(`That message is ${bytes} bytes long (an emoji takes 4); the limit is ${maxTextBytes}.`);
    return;
  }

  const clientId = state.addPending(room.name, text);
  render.appendItem(listFor(room.name), render.pendingElement(clientId, text, state.me));
  socket.sendMessage({ type: 'message', room: room.name, text, client_id: clientId });
  state.lastSent = text;
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
  render.markPendingAgain(li, listFor(entry.room));
  socket.sendMessage({ type: 'message', room: entry.room, text: entry.text, client_id: clientId });
  refreshPendingLabels();
  scrollToBottom();
  input.focus();
}

composer.addEventListener('submit', (event) => {
  event.preventDefault(); // the page stays; the socket does the sending
  sendFromComposer();
});

const completer = new ShortcodeCompleter(input, $('shortcode-list'));

input.addEventListener('keydown', (event) => {
  // The shortcode suggestions, when open, get the arrows, Enter, Tab and Esc.
  if (completer.handleKey(event)) return;
  // Enter sends; Shift+Enter falls through and inserts a newline. While an
  // input method is composing (Japanese, Chinese, …) Enter confirms the
  // composition and must not send.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    sendFromComposer();
  } else if (event.key === 'ArrowUp' && input.value === '' && state.lastSent) {
    // ↑ in an empty composer brings back your last message to fix or resend.
    event.preventDefault();
    input.value = state.lastSent;
    input.setSelectionRange(input.value.length, input.value.length);
  }
});

input.addEventListener('input', () => {
  completer.update();
  const now = Date.now();
  const room = current();
  if (!room || input.value.trim() === '' || now - lastTypingSent < TYPING_EVERY_MS) return;
  // Only when joined: the server answers `typing` for a room you are not in
  // with a not_joined error, and there is nobody to tell anyway.
  if (!socket.isJoined(room.name)) return;
  if (socket.sendNow({ type: 'typing', room: room.name })) lastTypingSent = now;
});

// --- the emoji picker ---------------------------------------------------------------

const picker = new EmojiPicker({
  toggle: $('emoji-toggle'),
  panel: $('emoji-picker'),
  onPick: (emoji) => {
    input.focus();
    insertText(input, emoji);
  },
  onClose: () => input.focus(),
});

// ================================================================================
// Settings: theme, notifications, sound
// ================================================================================

const themeSelect = $('theme-select');
themeSelect.value = prefs.getTheme();
themeSelect.addEventListener('change', () => prefs.setTheme(themeSelect.value));

const NOTIFY_WORDS = {
  on: ['Disable notifications', 'Notifications are on while this tab is in the background.'],
  off: ['Enable notifications', 'Notifications are off.'],
  blocked: ['Enable notifications', 'Notifications are blocked in the browser settings for this site.'],
  unsupported: ['Enable notifications', 'This browser cannot show notifications here (they need https).'],
};

function updateNotifyButton(stateName = notify.notifyState()) {
  const [label, explanation] = NOTIFY_WORDS[stateName];
  const button = $('notify-toggle');
  button.textContent = label;
  button.disabled = stateName === 'blocked' || stateName === 'unsupported';
  $('notify-state').textContent = explanation;
}

// The permission prompt only ever comes from this click (a user gesture).
$('notify-toggle').addEventListener('click', async () => {
  updateNotifyButton(await notify.toggleNotifications());
});

const soundToggle = $('sound-toggle');
soundToggle.checked = prefs.getSound();
soundToggle.addEventListener('change', () => {
  prefs.setSound(soundToggle.checked);
  if (soundToggle.checked) notify.playSound(); // a sample, and it unlocks audio (a gesture)
});

// ================================================================================
// The side panel as a drawer (phones only; on wide screens CSS shows it always)
// ================================================================================

const drawer = $('sidebar');
const toggle = $('drawer-toggle');
const backdrop = $('backdrop');

function setDrawer(open) {
  const wasOpen = drawer.classList.contains('open');
  drawer.classList.toggle('open', open);
  toggle.setAttribute('aria-expanded', String(open));
  backdrop.hidden = !open;
  if (open) $('sidebar-close').focus();
  else if (wasOpen && document.activeElement && drawer.contains(document.activeElement)) toggle.focus();
}

toggle.addEventListener('click', () => setDrawer(!drawer.classList.contains('open')));
$('sidebar-close').addEventListener('click', () => setDrawer(false));
backdrop.addEventListener('click', () => setDrawer(false));

// Esc closes what is open, innermost first (the picker handles its own Esc).
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape') return;
  if (picker.isOpen()) picker.close();
  else if (drawer.classList.contains('open')) setDrawer(false);
});

// Logging out ends this tab's set of rooms too.
document.querySelector('.logout-form').addEventListener('submit', () => prefs.setOpenRooms([]));

// ================================================================================
// Start
// ================================================================================

const socket = new ChatSocket({
  url: webSocketUrl(),
  rooms: [],
  lastSeen: (room) => state.lastSeen(room),
  onFrame: handleFrame,
  onStatus: handleStatus,
  onTrouble: handleTrouble,
  onRename: renameRoom,
});

// This tab's rooms from before a reload, then the room in the address.
for (const name of prefs.getOpenRooms()) addRoom(name);
switchRoom(page.room, { push: false });
history.replaceState({ room: page.room }, '', roomPath(page.room));
updateNotifyButton();

socket.start();
input.focus();
