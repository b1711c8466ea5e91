// voice.js — voice notes (issue 17): the mic button beside the composer.
// Hold it to record and let go to attach; or press it once to start and
// once more to stop (the keyboard's Enter and Space do the same). While it
// records, a bar over the composer shows the time and a Cancel button; Esc
// cancels too, and the recording stops by itself at `limits.maxVoiceMs`.
// The note goes to the tray (uploads.js) and uploads at once; the message
// is sent with Send, with or without words.
//
// It records with MediaRecorder, in the first of these the browser can
// write: WebM/Opus (Chrome, Firefox), MP4 (Safari), Ogg/Opus. The
// microphone exists only in a secure context (https://, or localhost):
// over plain http:// on a LAN the browser has no navigator.mediaDevices at
// all. Then the mic button is hidden and a note near the composer says why
// and points to the README's TLS section (the link is in chat.html).

import { $, limits, showNotice } from './page.js';
import { addVoice, uploadsOn } from './uploads.js';
import { durationText } from './attachments.js';

const button = $('voice-button');
const bar = $('recorder');
const TYPES = ['audio/webm;codecs=opus', 'audio/mp4', 'audio/ogg;codecs=opus'];
// A press longer than this is a hold (let go to attach); a shorter one a
// tap (recording goes on until the next press).
const HOLD_MS = 400;
// Shorter than this is a slip of the finger, not a voice note.
const MIN_MS = 500;
const NOTE_KEY = 'natter.voiceNoteSeen';

/** 'ok', 'insecure' (no microphone outside a secure context) or 'unsupported' (no MediaRecorder, no format). */
export function voiceSupport() {
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) return 'insecure';
  if (typeof MediaRecorder === 'undefined' || !recordingType()) return 'unsupported';
  return 'ok';
}

function recordingType() {
  return TYPES.find((type) => {
    try {
      return MediaRecorder.isTypeSupported(type);
    } catch {
      return false;
    }
  });
}

function noteDismissed() {
  try {
    return localStorage.getItem(NOTE_KEY) === '1';
  } catch {
    return false;
  }
}

/** Show the mic where voice notes can work; say why not, once, where they cannot. */
export function updateVoice() {
  const support = voiceSupport();
  button.hidden = !uploadsOn() || support !== 'ok';
  $('voice-note').hidden = !(uploadsOn() && support === 'insecure' && !noteDismissed());
  $('attach-button').title = uploadsOn() && support === 'insecure'
    ? 'Attach images or files (drop or paste them here too). Voice notes need https:// (or localhost).'
    : 'Attach images or files (drop or paste them here too)';
}

// ================================================================================
// Recording
// ================================================================================

let rec = null; // the recording under way: { recorder, stream, chunks, started, … }

const say = (text) => {
  $('live-status').textContent = text;
};

function showTime() {
  if (!rec?.started) return;
  const ms = Math.min(performance.now() - rec.started, limits.maxVoiceMs);
  $('recorder-time').textContent = `${durationText(ms)} / ${durationText(limits.maxVoiceMs)}`;
}

async function start() {
  if (rec || button.hidden || button.disabled) return;
  const mine = { chunks: [] };
  rec = mine;
  bar.hidden = false;
  $('recorder-time').textContent = 'starting…';
  button.setAttribute('aria-pressed', 'true');
  button.setAttribute('aria-label', 'Stop recording and attach the voice note');
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    end(mine);
    showNotice(err?.name === 'NotAllowedError'
      ? 'The browser may not use the microphone here: allow it (the icon in the address bar), then try again.'
      : 'No microphone could be opened for a voice note.');
    return;
  }
  mine.stream = stream;
  if (mine.cancelled || mine.stopAsked) {
    // Let go (or cancelled) before the microphone was even on.
    end(mine);
    if (!mine.cancelled) tooShort();
    return;
  }
  const type = recordingType();
  let recorder;
  try {
    recorder = new MediaRecorder(stream, { mimeType: type });
  } catch {
    end(mine);
    showNotice('This browser cannot record a voice note.');
    return;
  }
  mine.recorder = recorder;
  mine.type = type;
  recorder.addEventListener('dataavailable', (event) => {
    if (event.data?.size) mine.chunks.push(event.data);
  });
  recorder.addEventListener('stop', () => finish(mine));
  recorder.start();
  mine.started = performance.now();
  mine.ticker = setInterval(showTime, 250);
  mine.limit = setTimeout(stop, limits.maxVoiceMs);
  showTime();
  say('Recording a voice note. Press the microphone button again to attach it, or Escape to cancel.');
}

/** Stop and attach what was recorded. */
function stop() {
  if (!rec) return;
  if (!rec.recorder) {
    rec.stopAsked = true; // the microphone is still starting
    return;
  }
  rec.durationMs ??= performance.now() - rec.started;
  if (rec.recorder.state !== 'inactive') rec.recorder.stop();
}

/** Stop and throw it away. */
export function cancelRecording() {
  if (!rec) return false;
  rec.cancelled = true;
  if (rec.recorder && rec.recorder.state !== 'inactive') rec.recorder.stop();
  else if (rec.recorder) end(rec);
  say('Voice note cancelled.');
  return true;
}

/** The microphone off, the bar gone, the button back as it was. */
function end(mine) {
  clearInterval(mine.ticker);
  clearTimeout(mine.limit);
  for (const track of mine.stream?.getTracks() ?? []) track.stop();
  if (rec === mine) rec = null;
  bar.hidden = true;
  button.setAttribute('aria-pressed', 'false');
  button.setAttribute('aria-label', 'Record a voice note');
}

function tooShort() {
  showNotice('That was too short for a voice note: hold the microphone button while you speak, or press it once to start and again to stop.');
}

function finish(mine) {
  end(mine);
  if (mine.cancelled) return;
  const durationMs = Math.min(mine.durationMs ?? performance.now() - mine.started, limits.maxVoiceMs);
  const blob = new Blob(mine.chunks, { type: mine.recorder.mimeType || mine.type });
  if (durationMs < MIN_MS || blob.size === 0) {
    tooShort();
    return;
  }
  say(`Voice note of ${durationText(durationMs)} attached.`);
  addVoice({ blob, durationMs });
  $('composer-input').focus();
}

// ================================================================================
// The button: hold, or press twice
// ================================================================================

export function wireVoice() {
  let press = null; // { at, startedHere } from pointerdown to pointerup
  let ignoreClickUntil = 0; // the click that follows a pointerup was handled already

  button.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    event.preventDefault(); // the focus stays in the message box
    button.setPointerCapture?.(event.pointerId);
    press = { at: performance.now(), startedHere: !rec };
    if (!rec) start();
  });
  button.addEventListener('pointerup', () => {
    if (!press) return;
    const { at, startedHere } = press;
    press = null;
    ignoreClickUntil = performance.now() + 1000;
    // A hold ends at the release; a tap goes on until the next press.
    if (!startedHere || performance.now() - at >= HOLD_MS) stop();
  });
  button.addEventListener('pointercancel', () => {
    if (press?.startedHere) cancelRecording();
    press = null;
  });
  // A long press on a touch screen must not open the context menu.
  button.addEventListener('contextmenu', (event) => event.preventDefault());
  // Enter, Space, a screen reader's "activate": press to start, again to stop.
  button.addEventListener('click', () => {
    if (performance.now() < ignoreClickUntil) {
      ignoreClickUntil = 0;
      return;
    }
    if (rec) stop();
    else start();
  });

  $('recorder-cancel').addEventListener('click', () => {
    cancelRecording();
    $('composer-input').focus();
  });
  $('recorder-done').addEventListener('click', () => stop());
  // Esc cancels, before anything else on the page hears it.
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && rec && cancelRecording()) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);

  $('voice-note-close').addEventListener('click', () => {
    try {
      localStorage.setItem(NOTE_KEY, '1');
    } catch {
      // shown again on the next page, that is all
    }
    $('voice-note').hidden = true;
    $('composer-input').focus();
  });
}
