// settings.js — your choices: the settings dialog (the theme,
// notifications, the sound, and the links that download the transcript of
// the room on screen) and the top bar's mute button. prefs.js keeps the
// choices; this file is the controls. The dialog's last section, "Claim
// your name", is account.js's; its "Your account…" button opens
// account-dialog.js's dialog. Its "Protocol inspector" checkbox is
// inspector.js's.
//
// The dialog is a native <dialog> opened with showModal(): the browser makes
// the rest of the page inert (the focus stays inside) and Esc closes it. On
// closing, the focus goes back to the button that opened it.

import * as prefs from './prefs.js';
import * as notify from './notify.js';
import { roomKey } from './state.js';
import { $, current, roomLabel } from './page.js';
import { renderSidebar } from './rooms.js';
import { isMuted, updateTitle } from './unread.js';
import { openShortcutSheet } from './keys.js';
import { updateAccountEntry } from './account-dialog.js';

const NOTIFY_WORDS = {
  on: ['Disable notifications', 'Notifications are on while this tab is in the background.'],
  off: ['Enable notifications', 'Notifications are off.'],
  blocked: ['Enable notifications', 'Notifications are blocked in the browser settings for this site.'],
  unsupported: ['Enable notifications', 'This browser cannot show notifications here (they need https).'],
};

export function updateNotifyButton(stateName = notify.notifyState()) {
  const [label, explanation] = NOTIFY_WORDS[stateName];
  const button = $('notify-toggle');
  button.textContent = label;
  button.disabled = stateName === 'blocked' || stateName === 'unsupported';
  $('notify-state').textContent = explanation;
}

/**
 * The mute button says whether the room on screen is muted, three ways:
 * the bell is struck through, the label reads "Muted" instead of "Mute",
 * and aria-pressed tells screen readers ("Muted, toggle button, pressed").
 */
export function updateMuteButton() {
  const muteButton = $('mute-toggle');
  const room = current();
  const muted = room ? isMuted(room.name) : false;
  muteButton.setAttribute('aria-pressed', String(muted));
  $('mute-label').textContent = muted ? 'Muted' : 'Mute';
  const name = room ? roomLabel(room) : 'this room';
  muteButton.title = muted ? `${name} is muted: only @mentions notify. Click to unmute.` : `Mute notifications for ${name}`;
}

// --- the dialog -----------------------------------------------------------------

const dialog = $('settings-dialog');

export function openSettings() {
  if (dialog.open) return;
  $('theme-select').value = prefs.getTheme(); // another tab may have changed it
  updateAccountEntry(); // a claim made since shows "Your account…"
  dialog.showModal();
  $('theme-select').focus();
}

export const closeSettings = () => dialog.close();

/**
 * The settings dialog's download links follow the room on screen. The server
 * answers /export/<room> with Content-Disposition: attachment, so a plain
 * link downloads; `download` on the <a> says so to the browser up front.
 */
export function updateExportLinks() {
  const room = current();
  if (!room) return;
  const base = `/export/${encodeURIComponent(room.name)}`;
  $('export-txt').href = `${base}?format=txt`;
  $('export-json').href = `${base}?format=json`;
  $('export-room').textContent = roomLabel(room);
}

export function wireSettings() {
  const opener = $('settings-open');
  opener.addEventListener('click', openSettings);
  $('settings-close').addEventListener('click', closeSettings);
  // A click on the dimmed page around the dialog (the ::backdrop is part of
  // the <dialog> element itself, outside its box) closes it too.
  dialog.addEventListener('click', (event) => {
    if (event.target !== dialog) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) closeSettings();
  });
  // Esc (the browser's own `cancel`) and the × both end in `close`.
  dialog.addEventListener('close', () => opener.focus());
  // A modal dialog makes the page behind it inert, but Tab from its last
  // control would still leave for the browser's own toolbar: wrap round.
  dialog.addEventListener('keydown', (event) => {
    if (event.key !== 'Tab') return;
    const controls = [...dialog.querySelectorAll('button, select, input, a[href]')].filter((c) => !c.disabled && c.offsetParent !== null);
    const [first, last] = [controls[0], controls[controls.length - 1]];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });

  // The shortcut sheet replaces this dialog; once it closes, the focus
  // (back on the Settings button by then) is where the sheet returns it.
  $('shortcuts-open').addEventListener('click', () => {
    dialog.addEventListener('close', openShortcutSheet, { once: true });
    closeSettings();
  });

  const themeSelect = $('theme-select');
  themeSelect.value = prefs.getTheme();
  themeSelect.addEventListener('change', () => prefs.setTheme(themeSelect.value));
  // A theme chosen in another tab of this site applies here too.
  window.addEventListener('storage', (event) => {
    if (event.key === null || event.key === 'natter.theme') prefs.applyTheme();
  });

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

  $('mute-toggle').addEventListener('click', () => {
    const room = current();
    if (!room) return;
    prefs.setMuted(roomKey(room.name), !isMuted(room.name));
    updateMuteButton();
    renderSidebar();
    updateTitle();
  });
}
