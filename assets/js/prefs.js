// prefs.js — your choices, remembered in this browser (localStorage).
//
// The chat page uses it for everything; theme.js (a classic script on both
// pages) reads the theme's key on its own, before the first paint. Nothing here is sent to the server. localStorage can throw
// (storage disabled, private mode, a full quota), and a lost preference must
// never break the page, so every access goes through load() and save().

const PREFIX = 'natter.';

function load(key, fallback) {
  try {
    const raw = localStorage.getItem(PREFIX + key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function save(key, value) {
  try {
    localStorage.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    // Nothing to do: the choice lasts until the page is closed.
  }
}

// --- theme ------------------------------------------------------------------
//
// 'dark' is the default, for anyone who never chose; 'light' is the other
// theme, and 'system' follows the operating system (prefers-color-scheme).
// The choice goes on <html> as data-theme and app.css does the rest. theme.js
// (a classic script in <head>) puts it there before the first paint; this
// file changes it when you choose another one. Both read the same key.

export const THEMES = ['dark', 'light', 'system'];
export const DEFAULT_THEME = 'dark';

export function getTheme() {
  const theme = load('theme', DEFAULT_THEME);
  return THEMES.includes(theme) ? theme : DEFAULT_THEME;
}

export function setTheme(theme) {
  save('theme', theme);
  applyTheme(theme);
}

/** Put the theme on <html> (theme.js has done it once already at load). */
export function applyTheme(theme = getTheme()) {
  document.documentElement.dataset.theme = THEMES.includes(theme) ? theme : DEFAULT_THEME;
}

// --- notifications and sound ------------------------------------------------

/** Did you switch notifications on? (The browser's permission is separate.) */
export const getNotify = () => load('notify', false) === true;
export const setNotify = (on) => save('notify', Boolean(on));

/** The sound for new messages: off unless you turn it on. */
export const getSound = () => load('sound', false) === true;
export const setSound = (on) => save('sound', Boolean(on));

// --- the protocol inspector -------------------------------------------------
// Off unless you turn it on (Settings → Protocol inspector): while it is
// off, no frame is recorded at all (inspector.js).

export const getInspector = () => load('inspector', false) === true;
export const setInspector = (on) => save('inspector', Boolean(on));

// --- muted rooms --------------------------------------------------------------
// Stored by room key (lower case), like the server matches rooms.

export function isMuted(roomKey) {
  return load('muted', []).includes(roomKey);
}

export function setMuted(roomKey, muted) {
  const rooms = load('muted', []).filter((key) => key !== roomKey);
  if (muted) rooms.push(roomKey);
  save('muted', rooms);
}

// --- recently used emoji ----------------------------------------------------

const RECENT_EMOJI = 24;

export const getRecentEmoji = () => load('recentEmoji', []);

/** Move this emoji to the front of the recent list. */
export function noteEmojiUsed(emoji) {
  const recent = getRecentEmoji().filter((e) => e !== emoji);
  recent.unshift(emoji);
  save('recentEmoji', recent.slice(0, RECENT_EMOJI));
}

// --- the rooms you are in ---------------------------------------------------
// Kept in sessionStorage, not localStorage: this tab's rooms survive a
// reload, but a new tab starts with just the room in its address.

export function getOpenRooms() {
  try {
    const rooms = JSON.parse(sessionStorage.getItem(PREFIX + 'rooms') || '[]');
    return Array.isArray(rooms) ? rooms.filter((r) => typeof r === 'string') : [];
  } catch {
    return [];
  }
}

export function setOpenRooms(names) {
  try {
    sessionStorage.setItem(PREFIX + 'rooms', JSON.stringify(names));
  } catch {
    // The rooms are simply not remembered across a reload.
  }
}
