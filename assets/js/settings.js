// settings.js — your choices on the side panel and the top bar: the theme,
// notifications, the sound, muting the room on screen, and the links that
// download its transcript. prefs.js keeps the choices; this file is the
// controls.

import * as prefs from './prefs.js';
import * as notify from './notify.js';
import { roomKey } from './state.js';
import { $, current } from './page.js';
import { renderSidebar } from './rooms.js';
import { isMuted, updateTitle } from './unread.js';

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

/** The mute button says whether the room on screen is muted. */
export function updateMuteButton() {
  const muteButton = $('mute-toggle');
  const muted = current() ? isMuted(current().name) : false;
  muteButton.setAttribute('aria-pressed', String(muted));
  muteButton.title = muted ? 'Muted: only @mentions notify' : 'Mute notifications for this room';
}

/**
 * The side panel's download links follow the room on screen. The server
 * answers /export/<room> with Content-Disposition: attachment, so a plain
 * link downloads; `download` on the <a> says so to the browser up front.
 */
export function updateExportLinks() {
  const room = current();
  if (!room) return;
  const base = `/export/${encodeURIComponent(room.name)}`;
  $('export-txt').href = `${base}?format=txt`;
  $('export-json').href = `${base}?format=json`;
  $('export-room').textContent = `#${room.name}`;
}

export function wireSettings() {
  const themeSelect = $('theme-select');
  themeSelect.value = prefs.getTheme();
  themeSelect.addEventListener('change', () => prefs.setTheme(themeSelect.value));

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
