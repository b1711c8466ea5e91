// notify.js — telling you about messages when you are not looking:
// browser notifications and an optional sound.
//
// The rules (chat.js decides *which* messages qualify; this file decides
// whether and how to tell you):
//   * only while the tab is in the background: hidden, or the window does
//     not have focus. If you are looking at the chat you see the message;
//   * only after you switched notifications on with the button. Browsers
//     only show the permission prompt from a click (a "user gesture"), and
//     a prompt nobody asked for is the fastest way to be blocked for good;
//   * never for your own messages (chat.js does not ask for those).

import { attachmentsSummary } from './attachments.js';
import * as prefs from './prefs.js';

// Notifications exist only in secure contexts (https, or http on
// localhost/127.0.0.1). Elsewhere the button explains why it does nothing.
const supported = 'Notification' in window && window.isSecureContext;

/** Is the page in the background right now? */
export function inBackground() {
  return document.hidden || !document.hasFocus();
}

/** 'on', 'off', 'blocked' (the browser said no) or 'unsupported'. */
export function notifyState() {
  if (!supported) return 'unsupported';
  if (Notification.permission === 'denied') return 'blocked';
  return prefs.getNotify() && Notification.permission === 'granted' ? 'on' : 'off';
}

/**
 * The "Enable notifications" button calls this (a user gesture, so the
 * browser may ask for permission). Returns the new notifyState().
 */
export async function toggleNotifications() {
  if (!supported) return 'unsupported';
  if (notifyState() === 'on') {
    prefs.setNotify(false);
    return 'off';
  }
  let permission = Notification.permission;
  if (permission === 'default') {
    try {
      permission = await Notification.requestPermission();
    } catch {
      permission = Notification.permission;
    }
  }
  prefs.setNotify(permission === 'granted');
  return notifyState();
}

/**
 * Show a notification for `msg`. `onClick` runs when it is clicked, after
 * the tab has been brought to the front. `where` ends its title: " in
 * #lobby", or " (direct message)".
 */
export function showNotification(msg, onClick, where = ` in #${msg.room}`) {
  if (notifyState() !== 'on') return null;
  // A long message would be cut by the system anyway; keep it short. A /me
  // reads as it does in the room: "* alice waves".
  // Attachments alone say what they are: "🖼 cat.webp".
  const said = msg.text || attachmentsSummary(msg.attachments);
  const text = msg.action ? `* ${msg.user} ${said}` : said;
  const body = text.length > 200 ? `${text.slice(0, 199)}…` : text;
  try {
    const notification = new Notification(`${msg.user}${where}`, {
      body,
      // One notification per room: a newer one replaces the older.
      tag: `natter-${msg.room.toLowerCase()}`,
      icon: '/assets/favicon.svg',
    });
    notification.addEventListener('click', () => {
      window.focus();
      onClick();
      notification.close();
    });
    return notification;
  } catch {
    // Some mobile browsers only allow notifications from a service worker,
    // and throw here. The unread count in the title still works.
    return null;
  }
}

// --- sound ----------------------------------------------------------------------
// A short two-note chime made with the Web Audio API, so there is no sound
// file to ship. Browsers only let a page start audio after a user gesture,
// so the AudioContext is created when you tick the box.

let audio = null;

export function prepareSound() {
  if (audio || !window.AudioContext) return;
  audio = new AudioContext();
}

export function playSound() {
  if (!prefs.getSound()) return;
  prepareSound();
  if (!audio) return;
  if (audio.state === 'suspended') audio.resume().catch(() => {});
  const now = audio.currentTime;
  [880, 1320].forEach((frequency, i) => {
    const start = now + i * 0.12;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.15, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start(start);
    osc.stop(start + 0.3);
  });
}
