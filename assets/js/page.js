// page.js — what every part of the chat page shares: what the server told
// the page, the state, the socket, the elements everyone touches and one
// message list per room.
//
// It imports no other part of the page but the helpers the socket and the
// state are made of, so it is always loaded first and every module may use
// what it exports, even while the modules load.

import { ChatState, roomKey } from './state.js';
import { ChatSocket } from './socket.js';
import { StoredOutbox } from './outbox.js';

// chat.html is a template; the server put these into <body data-…>.
export const page = document.body.dataset;

export const $ = (id) => document.getElementById(id);
export const scroller = $('scroller');
export const input = $('composer-input');

export const state = new ChatState(page.user);

/**
 * The server's limits, from its `hello` (frames.js fills them in). Until it
 * arrives they are unknown and the page checks nothing against them: the
 * server refuses what is too long anyway, and a copy of its numbers here
 * could only drift from them.
 */
export const limits = {
  maxTextChars: undefined,
  maxTextBytes: undefined,
  maxRoomChars: undefined,
  // Seconds after posting that a message may still be edited: null means
  // no limit, 0 that editing is off (the menu then offers no Edit).
  editWindowS: undefined,
  maxMentions: undefined,
  replyExcerptChars: undefined,
  // Uploads (issue 17; uploads.js fills these in): the largest file in
  // bytes (0: uploads are off, and the attach and mic buttons hidden), how
  // many go with one message, the longest voice note in ms, and what images
  // are re-encoded to (longest edge in px, quality 0..1).
  maxUploadBytes: undefined,
  maxAttachments: undefined,
  maxVoiceMs: undefined,
  imageMaxEdge: undefined,
  imageQuality: undefined,
};

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

/** The one connection; chat.js starts it once the page is wired. */
export const socket = new ChatSocket({
  url: webSocketUrl(),
  rooms: [],
  lastSeen: (room) => state.lastSeen(room),
  // Your unsent messages, kept across reloads under your name (outbox.js).
  store: new StoredOutbox(page.user),
});

/** The room on screen (its state). */
export const current = () => state.currentRoom();
export const isCurrent = (name) => roomKey(name) === state.current;

/**
 * How a room is written on screen: "#lobby", or "@bob" for a direct
 * message with bob (whose room's real name, "dm:<uid>:<uid>", means
 * nothing to a reader).
 */
export function roomLabel(room) {
  if (room?.dm) return `@${room.dm.with}`;
  if (room?.settings?.dm || String(room?.name).startsWith('dm:')) return 'Direct message';
  return `#${room?.name}`;
}

/** The address of a room's page. */
export const roomPath = (name) => `/r/${encodeURIComponent(name)}`;

// --- one message list per room ------------------------------------------------

export const lists = new Map(); // roomKey -> <ol>

/** The room's <ol>, made on first use. Only the current room's is visible. */
export function listFor(name) {
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

// --- notices near the composer --------------------------------------------------

/** Show a dismissable notice. `link` is optional: { href, text }. */
export function showNotice(text, link) {
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

/** The login page, with the room on screen filled in. */
export const loginAgainHref = () => `/?room=${encodeURIComponent(current()?.name ?? page.room)}`;
