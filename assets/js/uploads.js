// uploads.js — attachments on their way (issue 17): the attach button (any
// file), dropping files on the room, pasting an image; each one prepared in
// the browser, uploaded, and kept in the tray above the composer until the
// message goes. composer.js sends one `message` with the tray's upload ids
// only once every one of them has uploaded (trayFor), so a message never
// goes out without some of its files.
//
// Each attachment, in order:
//   1. prepared: an image (but a GIF, which would lose its animation) is
//      drawn on a canvas and encoded again, as WebP or, where the browser
//      cannot encode WebP, JPEG: at most `limits.imageMaxEdge` px on its
//      longest edge, at `limits.imageQuality`. That drops everything the
//      camera wrote into the file (EXIF: where the photo was taken, the
//      phone's name), and shrinks phone photos. The picture stays upright,
//      because the browser applies the EXIF orientation while decoding.
//   2. checked against `limits.maxUploadBytes` (the server would refuse it
//      from its Content-Length anyway; here you are told before it goes);
//   3. uploaded with an XMLHttpRequest (its upload.onprogress drives the
//      <progress> bar; fetch has no upload progress) to POST /upload/<room>
//      as the raw body, with the session cookie and the page's Origin
//      (README, "Uploads"). The answer is the upload's id and what the
//      server made of the bytes.
// An attachment can be removed at any time (an upload on its way is
// aborted); a failed one says why, in the server's words, and most can be
// tried again. The tray belongs to a room: an upload can only be attached
// in the room it was uploaded to, so each room shows its own.

import { $, current, limits, showNotice, state } from './page.js';
import { roomKey } from './state.js';
import { durationText, sizeText } from './attachments.js';
import { updateVoice } from './voice.js';
import { isMutedHere } from './access.js';

const tray = $('upload-tray');
const trayList = $('tray-list');
const attachButton = $('attach-button');
const fileInput = $('attach-input');

// What the server's limits are when its hello does not say (a server from
// before issue 17 says nothing at all, and then uploads stay off).
const DEFAULTS = { maxAttachments: 4, maxVoiceMs: 300_000, imageMaxEdge: 2048, imageQuality: 0.85 };
// The server cuts a longer name itself; cutting it here keeps the header short.
const MAX_NAME_CHARS = 100;
// A busy server (503) or a rate limit (429) says when to come back; the
// page does, by itself, this many times before it asks you.
const AUTO_RETRIES = 3;
// Statuses that fail the same way every time: no Retry button.
const FINAL = new Set([400, 413, 415, 422]);

/** @type {object[]} every attachment of every room, oldest first */
const items = [];
let nextId = 1;

/** Are uploads on (the server's hello said a size above 0)? */
export const uploadsOn = () => (limits.maxUploadBytes ?? 0) > 0;

/**
 * The media limits of the server's `hello` (frames.js): the attach and mic
 * buttons show only when uploads are on.
 */
export function noteMediaLimits(l = {}) {
  limits.maxUploadBytes = Number.isFinite(l.max_upload_bytes) ? l.max_upload_bytes : 0;
  limits.maxAttachments = l.max_attachments || DEFAULTS.maxAttachments;
  limits.maxVoiceMs = l.max_voice_ms || DEFAULTS.maxVoiceMs;
  limits.imageMaxEdge = l.image_max_edge || DEFAULTS.imageMaxEdge;
  limits.imageQuality = l.image_quality || DEFAULTS.imageQuality;
  attachButton.hidden = !uploadsOn();
  updateVoice();
}

// ================================================================================
// The tray: what goes with the next message of each room
// ================================================================================

const inRoom = (roomName) => items.filter((item) => roomKey(item.room) === roomKey(roomName));

/**
 * What the composer needs to know of a room's tray before it sends:
 *   count    how many attachments wait
 *   ready    every one of them has uploaded
 *   problem  why not, in words, when not
 *   ids      the upload ids, in order (the message's `attachments`)
 *   files    the server's answers, to draw the pending copy with
 */
export function trayFor(roomName) {
  const list = inRoom(roomName);
  const failed = list.filter((item) => item.status === 'failed').length;
  const busy = list.filter((item) => item.status !== 'done' && item.status !== 'failed').length;
  let problem;
  if (failed > 0) {
    problem = failed === 1
      ? 'An attachment did not upload: retry it or remove it (×) before you send.'
      : `${failed} attachments did not upload: retry them or remove them (×) before you send.`;
  } else if (busy > 0) {
    problem = busy === 1 ? 'Wait a moment: an attachment is still uploading.' : `Wait a moment: ${busy} attachments are still uploading.`;
  }
  return {
    count: list.length,
    ready: list.length > 0 && problem === undefined,
    problem,
    ids: list.map((item) => item.result?.upload).filter(Boolean),
    files: list.map((item) => item.result && { ...item.result, id: item.result.upload }).filter(Boolean),
  };
}

/** The message went: its attachments leave the tray. */
export function clearTray(roomName) {
  for (const item of inRoom(roomName)) drop(item);
  showTray();
}

/** Show the tray of the room on screen (rooms.js calls this on every switch). */
export function showTray() {
  let shown = 0;
  for (const item of items) {
    item.li.hidden = roomKey(item.room) !== state.current;
    if (!item.li.hidden) shown += 1;
  }
  tray.hidden = shown === 0;
}

function drop(item) {
  item.removed = true;
  item.xhr?.abort();
  clearTimeout(item.retryTimer);
  if (item.thumbUrl) URL.revokeObjectURL(item.thumbUrl);
  item.li.remove();
  const at = items.indexOf(item);
  if (at !== -1) items.splice(at, 1);
}

// ================================================================================
// Adding: the button, a drop, a paste, a voice note
// ================================================================================

/** Why nothing can be attached in the room on screen now, or undefined. */
function cannotAttach() {
  const room = current();
  if (!uploadsOn()) return 'This server does not take files.';
  if (!room) return 'Open a room first.';
  if (room.shut || isMutedHere(room)) return 'You cannot send anything in this room now.';
  return undefined;
}

/** Is there room in the tray for one more? Says so when not. */
function roomForOne(roomName) {
  if (inRoom(roomName).length < limits.maxAttachments) return true;
  showNotice(`At most ${limits.maxAttachments} attachments go with one message: send these first, or remove one.`);
  return false;
}

/** Images the page decodes and re-encodes; an SVG (a document that can run script) never counts as one. */
const isImage = (file) => /^image\//.test(file.type) && file.type !== 'image/svg+xml';

/** Attach these files (File objects) to the next message of the room on screen. */
export function addFiles(files) {
  const why = cannotAttach();
  if (why) {
    showNotice(why);
    return;
  }
  const room = current();
  for (const file of files) {
    if (!roomForOne(room.name)) break;
    const kind = isImage(file) ? 'image' : 'file';
    const item = newItem(room.name, { kind, name: file.name || (kind === 'image' ? 'image' : 'file'), source: file });
    prepare(item);
  }
}

/** A recorded voice note (voice.js): { blob, durationMs }. */
export function addVoice({ blob, durationMs }) {
  const why = cannotAttach();
  if (why) {
    showNotice(why);
    return;
  }
  const room = current();
  if (!roomForOne(room.name)) return;
  const ext = blob.type.startsWith('audio/mp4') ? 'm4a' : blob.type.startsWith('audio/ogg') ? 'ogg' : 'webm';
  const item = newItem(room.name, { kind: 'voice', name: `voice.${ext}`, source: blob, durationMs });
  item.blob = blob;
  checkAndUpload(item);
}

function newItem(roomName, fields) {
  const item = { id: nextId++, room: roomName, status: 'preparing', loaded: 0, total: 0, retries: 0, ...fields };
  item.li = trayElement(item);
  items.push(item);
  trayList.append(item.li);
  draw(item);
  showTray();
  return item;
}

// ================================================================================
// Preparing: images drawn again, smaller and without their metadata
// ================================================================================

async function prepare(item) {
  if (item.kind === 'image' && item.source.type !== 'image/gif') {
    try {
      const prepared = await reencode(item.source, limits.imageMaxEdge, limits.imageQuality);
      item.blob = prepared.blob;
      item.name = renamed(item.name, prepared.blob.type === 'image/webp' ? 'webp' : 'jpg');
    } catch {
      // Not a picture this browser can draw (HEIC, a broken file): it goes
      // as it is, and the server decides what it is from its bytes.
      item.kind = 'file';
      item.blob = item.source;
    }
  } else {
    item.blob = item.source;
  }
  if (item.removed) return;
  if (item.kind === 'image') {
    item.thumbUrl = URL.createObjectURL(item.blob);
    item.li.querySelector('.tray-thumb').replaceChildren(thumbImage(item.thumbUrl));
  }
  checkAndUpload(item);
}

/** `name` with another extension: "IMG_2041.HEIC" becomes "IMG_2041.webp". */
function renamed(name, ext) {
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  return `${stem || 'image'}.${ext}`;
}

/** Decode an image file, upright (the EXIF orientation applied): an ImageBitmap, or an <img> where that fails. */
async function decode(file) {
  if (typeof createImageBitmap === 'function') {
    try {
      return await createImageBitmap(file, { imageOrientation: 'from-image' });
    } catch {
      // An older browser that does not know the option: it applies the
      // orientation anyway, or the <img> below does.
    }
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

const toBlob = (canvas, type, quality) => new Promise((resolve) => canvas.toBlob(resolve, type, quality));

/**
 * Draw the image at most `maxEdge` px on its longest edge and encode it as
 * WebP, or JPEG when the browser cannot encode WebP (it then hands back a
 * PNG, so the blob's type is what tells). Returns { blob, width, height }.
 */
export async function reencode(file, maxEdge, quality) {
  const source = await decode(file);
  const width = source.naturalWidth || source.width;
  const height = source.naturalHeight || source.height;
  if (!width || !height) throw new Error('no picture');
  const scale = Math.min(1, maxEdge / Math.max(width, height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  const context = canvas.getContext('2d');
  context.imageSmoothingQuality = 'high';
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  source.close?.();
  let blob = await toBlob(canvas, 'image/webp', quality);
  if (!blob || blob.type !== 'image/webp') {
    // JPEG has no transparency: what was see-through becomes white, not black.
    const flat = document.createElement('canvas');
    flat.width = canvas.width;
    flat.height = canvas.height;
    const flatContext = flat.getContext('2d');
    flatContext.fillStyle = '#fff';
    flatContext.fillRect(0, 0, flat.width, flat.height);
    flatContext.drawImage(canvas, 0, 0);
    blob = await toBlob(flat, 'image/jpeg', quality);
  }
  if (!blob) throw new Error('could not encode');
  return { blob, width: canvas.width, height: canvas.height };
}

// ================================================================================
// Uploading
// ================================================================================

function checkAndUpload(item) {
  if (item.blob.size > limits.maxUploadBytes) {
    fail(item, `“${item.name}” is ${sizeText(item.blob.size)}; the limit is ${sizeText(limits.maxUploadBytes)} per file.`, { retry: false });
    return;
  }
  if (item.blob.size === 0) {
    fail(item, `“${item.name}” is empty.`, { retry: false });
    return;
  }
  upload(item);
}

/** At most MAX_NAME_CHARS characters, the extension kept. */
function cutName(name) {
  const chars = [...name];
  if (chars.length <= MAX_NAME_CHARS) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && name.length - dot <= 11 ? name.slice(dot) : '';
  return chars.slice(0, MAX_NAME_CHARS - [...ext].length).join('') + ext;
}

// At most this many uploads at once from this page; the rest wait their
// turn (the server takes two per person at a time: MAX_UPLOADS_PER_PERSON).
const AT_ONCE = 2;
let sending = 0;
const queued = [];

/** Upload `item` now, or once an upload before it is done. */
function upload(item) {
  if (sending >= AT_ONCE) {
    item.status = 'waiting';
    item.error = undefined;
    queued.push(item);
    draw(item);
    return;
  }
  send(item);
}

function nextQueued() {
  while (sending < AT_ONCE && queued.length > 0) {
    const item = queued.shift();
    if (!item.removed) send(item);
  }
}

function send(item) {
  const xhr = new XMLHttpRequest();
  sending += 1;
  // After load, error or abort alike: the next one may go.
  xhr.addEventListener('loadend', () => {
    sending -= 1;
    nextQueued();
  });
  item.xhr = xhr;
  item.status = 'uploading';
  item.loaded = 0;
  item.total = item.blob.size;
  item.error = undefined;
  xhr.open('POST', `/upload/${encodeURIComponent(item.room)}`);
  xhr.setRequestHeader('Content-Type', item.blob.type || 'application/octet-stream');
  xhr.setRequestHeader('X-Natter-Name', encodeURIComponent(cutName(item.name)));
  xhr.setRequestHeader('X-Natter-Kind', item.kind);
  if (item.kind === 'voice') xhr.setRequestHeader('X-Natter-Duration-Ms', String(Math.max(0, Math.round(item.durationMs))));
  xhr.responseType = 'text';
  // Listeners on xhr.upload must be there before send(), or the browser
  // may not report the body's progress at all.
  xhr.upload.addEventListener('progress', (event) => {
    if (item.xhr !== xhr) return;
    item.loaded = event.loaded;
    if (event.lengthComputable) item.total = event.total;
    draw(item);
  });
  xhr.addEventListener('load', () => {
    if (item.xhr !== xhr) return;
    item.xhr = null;
    const answer = parseAnswer(xhr.responseText);
    if (xhr.status === 201 && typeof answer?.upload === 'string') {
      item.result = answer;
      item.status = 'done';
      item.loaded = item.total;
      if (answer.name) item.name = answer.name; // what the server made of it ("cat.png")
      draw(item);
      return;
    }
    const wait = Number(xhr.getResponseHeader('Retry-After'));
    const message = answer?.message ? sentence(answer.message) : `The server refused the file (HTTP ${xhr.status}).`;
    if ((xhr.status === 503 || answer?.code === 'rate_limited' || answer?.code === 'busy') && Number.isFinite(wait) && wait > 0 && wait <= 30 && item.retries < AUTO_RETRIES) {
      item.retries += 1;
      item.status = 'waiting';
      item.error = `${message} Trying again in ${wait} s…`;
      draw(item);
      item.retryTimer = setTimeout(() => upload(item), wait * 1000);
      return;
    }
    fail(item, message, { retry: !FINAL.has(xhr.status) });
  });
  xhr.addEventListener('error', () => {
    if (item.xhr !== xhr) return;
    item.xhr = null;
    fail(item, 'The upload did not reach the server: check the connection, then retry.', { retry: true });
  });
  xhr.send(item.blob);
  draw(item);
}

function parseAnswer(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The server's message as a sentence: capitalised, with its full stop. */
function sentence(text) {
  const t = String(text).trim();
  if (!t) return t;
  const capital = t[0].toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

function fail(item, message, { retry }) {
  item.status = 'failed';
  item.error = message;
  item.canRetry = retry;
  draw(item);
}

function retry(item) {
  clearTimeout(item.retryTimer);
  item.retries = 0;
  upload(item);
}

// ================================================================================
// Drawing a tray item
// ================================================================================

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function thumbImage(url) {
  const img = document.createElement('img');
  img.src = url;
  img.alt = ''; // the name is written beside it
  img.width = 48;
  img.height = 48;
  return img;
}

const ICONS = { image: '🖼', voice: '🎤', file: '📄' };

function trayElement(item) {
  const li = el('li', 'tray-item');
  li.dataset.trayId = String(item.id);
  const thumb = el('span', 'tray-thumb', ICONS[item.kind] ?? ICONS.file);
  thumb.setAttribute('aria-hidden', 'true');
  const info = el('div', 'tray-info');
  const name = el('span', 'tray-name');
  name.dir = 'auto';
  const stateLine = el('span', 'tray-state');
  const progress = document.createElement('progress');
  progress.className = 'tray-progress';
  const error = el('p', 'tray-error');
  error.setAttribute('role', 'alert');
  info.append(name, stateLine, progress, error);
  const retryButton = el('button', 'link-button tray-retry', 'Retry');
  retryButton.type = 'button';
  retryButton.addEventListener('click', () => retry(item));
  const remove = el('button', 'icon-button tray-remove', '×');
  remove.type = 'button';
  remove.addEventListener('click', () => {
    drop(item);
    showTray();
    $('composer-input').focus();
  });
  li.append(thumb, info, retryButton, remove);
  return li;
}

function draw(item) {
  const { li } = item;
  li.dataset.status = item.status;
  li.dataset.kind = item.kind;
  li.querySelector('.tray-name').textContent = item.name;
  const progress = li.querySelector('.tray-progress');
  const stateLine = li.querySelector('.tray-state');
  const error = li.querySelector('.tray-error');
  const retryButton = li.querySelector('.tray-retry');
  const remove = li.querySelector('.tray-remove');
  let text = '';
  if (item.status === 'preparing') {
    text = item.kind === 'image' ? 'preparing…' : '';
    progress.removeAttribute('value'); // indeterminate
  } else if (item.status === 'uploading') {
    const total = item.total || 1;
    progress.max = total;
    progress.value = Math.min(item.loaded, total);
    text = `uploading ${Math.floor((100 * Math.min(item.loaded, total)) / total)} % of ${sizeText(total)}`;
  } else if (item.status === 'done') {
    text = item.kind === 'voice' && item.durationMs ? `ready · ${durationText(item.durationMs)}` : `ready · ${sizeText(item.result?.size ?? item.total)}`;
  } else if (item.status === 'waiting') {
    text = 'waiting…';
  }
  if (stateLine.textContent !== text) stateLine.textContent = text;
  progress.hidden = !(item.status === 'preparing' || item.status === 'uploading');
  progress.setAttribute('aria-label', `Uploading ${item.name}`);
  const errorText = item.status === 'failed' || item.status === 'waiting' ? item.error ?? '' : '';
  if (error.textContent !== errorText) error.textContent = errorText;
  error.hidden = errorText === '';
  retryButton.hidden = !(item.status === 'failed' && item.canRetry);
  retryButton.setAttribute('aria-label', `Retry uploading ${item.name}`);
  const inFlight = item.status === 'preparing' || item.status === 'uploading' || item.status === 'waiting';
  const label = inFlight ? `Cancel the upload of ${item.name}` : `Remove ${item.name}`;
  remove.setAttribute('aria-label', label);
  remove.title = label;
}

// ================================================================================
// Wiring: the button, dropping, pasting
// ================================================================================

/** A drag that carries files (not text, not a link from the page itself). */
const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');

export function wireUploads() {
  attachButton.addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => {
    const files = [...fileInput.files];
    fileInput.value = ''; // the same file may be chosen again
    if (files.length > 0) addFiles(files);
    $('composer-input').focus();
  });

  // Drop files anywhere on the room (the messages and the composer).
  const area = document.querySelector('main.chat');
  const zone = $('drop-zone');
  let depth = 0; // dragenter/leave fire for every child crossed
  area.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event) || !uploadsOn()) return;
    event.preventDefault();
    depth += 1;
    zone.hidden = false;
  });
  area.addEventListener('dragover', (event) => {
    if (!carriesFiles(event) || !uploadsOn()) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  area.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.hidden = true;
  });
  area.addEventListener('drop', (event) => {
    depth = 0;
    zone.hidden = true;
    if (!carriesFiles(event) || !uploadsOn()) return;
    event.preventDefault();
    addFiles([...event.dataTransfer.files]);
  });

  // Paste an image (a screenshot, a copied picture) into the composer, or
  // anywhere on the room outside the page's other fields and dialogs.
  document.addEventListener('paste', (event) => {
    if (!uploadsOn()) return;
    const target = event.target instanceof Element ? event.target : document.body;
    const elsewhere = target.closest('dialog, input, textarea, select, [contenteditable]');
    if (elsewhere && elsewhere.id !== 'composer-input') return;
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length === 0) return; // text: pasted as usual
    event.preventDefault();
    addFiles(files);
  });
}
