// attachments.js — how a message's attachments look (issue 17): images
// inline (a click opens them in viewer.js), voice notes as a player with
// their length, any other file as a download chip with its name and size.
// No state, no network: render.js calls it for every message that carries
// `attachments`, the tray (uploads.js) for its sizes and lengths.
//
// As in render.js, everything that came from a user (file names) goes in
// with textContent or as an attribute, never as HTML. The URLs are the
// server's own `/m/…` paths; anything else is not shown.

// An image in the list is at most this big (CSS pixels); the viewer shows
// it whole. Its box is worked out from the frame's width and height before
// the image loads, so nothing below it jumps when it arrives.
const INLINE_MAX_WIDTH = 320;
const INLINE_MAX_HEIGHT = 240;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** "812 KB", "3.4 MB": a file's size as people read it (1 KB = 1024 bytes). */
export function sizeText(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024 * 1024) {
    const kb = n / 1024;
    return `${kb < 10 ? Math.max(0.1, Math.round(kb * 10) / 10) : Math.round(kb)} KB`;
  }
  const mb = n / (1024 * 1024);
  return `${mb < 10 ? Math.round(mb * 10) / 10 : Math.round(mb)} MB`;
}

/** "0:08", "4:59": a voice note's length, in whole seconds as players count them (but never 0:00). */
export function durationText(ms) {
  const n = Number(ms) || 0;
  const seconds = n > 0 ? Math.max(1, Math.floor(n / 1000)) : 0;
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** Only the server's own media paths are shown (never a page or a script elsewhere). */
const safeUrl = (url) => (typeof url === 'string' && url.startsWith('/m/') ? url : undefined);

/** The size an image is drawn at in the list: its own, scaled down to fit the box. */
export function inlineSize(width, height) {
  const w = Number(width) || 0;
  const h = Number(height) || 0;
  if (w <= 0 || h <= 0) return undefined;
  const scale = Math.min(1, INLINE_MAX_WIDTH / w, INLINE_MAX_HEIGHT / h);
  return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)) };
}

/** An image: a button (viewer.js opens it) around the lazily loaded picture. */
function imageItem(att, url) {
  const button = el('button', 'attachment attachment-image');
  button.type = 'button';
  button.dataset.viewUrl = url;
  button.dataset.viewName = att.name ?? '';
  if (att.width) button.dataset.viewWidth = String(att.width);
  if (att.height) button.dataset.viewHeight = String(att.height);
  button.setAttribute('aria-haspopup', 'dialog');
  button.title = `${att.name ?? 'image'}: open it larger`;
  const img = document.createElement('img');
  img.src = url;
  img.alt = att.name || 'image';
  img.loading = 'lazy';
  img.decoding = 'async';
  const size = inlineSize(att.width, att.height);
  if (size) {
    img.width = size.width;
    img.height = size.height;
  }
  button.append(img);
  return button;
}

/** A voice note: the browser's player, and its length from the frame (a recorded WebM says none itself). */
function voiceItem(att, url) {
  const box = el('div', 'attachment attachment-voice');
  const length = durationText(att.duration_ms);
  const icon = el('span', 'voice-icon', '🎤');
  icon.setAttribute('aria-hidden', 'true');
  const audio = document.createElement('audio');
  audio.controls = true;
  audio.preload = 'metadata';
  audio.src = url;
  audio.setAttribute('aria-label', att.duration_ms ? `Voice note, ${length}` : 'Voice note');
  box.append(icon, audio);
  if (att.duration_ms) {
    const shown = el('span', 'voice-length', length);
    shown.setAttribute('aria-hidden', 'true'); // the player's label says it
    box.append(shown);
  }
  return box;
}

/** Any other file: a chip that downloads it (the server serves it as a download). */
function fileItem(att, url) {
  const chip = el('a', 'attachment attachment-file');
  chip.href = url;
  chip.download = att.name || 'file';
  const icon = el('span', 'file-icon', '📄');
  icon.setAttribute('aria-hidden', 'true');
  const name = el('span', 'file-name', att.name || 'file');
  name.dir = 'auto';
  const size = el('span', 'file-size', sizeText(att.size));
  // Read out as "Download notes.pdf, 812 KB": the words on screen, in order.
  chip.append(icon, el('span', 'visually-hidden', 'Download '), name, el('span', 'visually-hidden', ', '), size);
  chip.title = `Download ${att.name || 'file'} (${sizeText(att.size)})`;
  return chip;
}

/**
 * A message's attachments ([{ id, url, kind, mime, size, name, width?,
 * height?, duration_ms? }]), in the order they were attached, or null when
 * there is nothing to show.
 */
export function attachmentsElement(attachments) {
  if (!Array.isArray(attachments) || attachments.length === 0) return null;
  const box = el('div', 'attachments');
  for (const att of attachments) {
    const url = safeUrl(att?.url);
    if (!url) continue;
    if (att.kind === 'image') box.append(imageItem(att, url));
    else if (att.kind === 'voice') box.append(voiceItem(att, url));
    else box.append(fileItem(att, url));
  }
  return box.childElementCount > 0 ? box : null;
}

/**
 * A message's attachments in a few words, where only a line fits (a reply's
 * excerpt, a notification): "🖼 cat.webp", "🎤 voice note 0:08", "📄 notes.pdf",
 * "… and 2 more".
 */
export function attachmentsSummary(attachments) {
  if (!Array.isArray(attachments) || attachments.length === 0) return '';
  const [first] = attachments;
  const what = first.kind === 'image' ? `🖼 ${first.name || 'image'}`
    : first.kind === 'voice' ? `🎤 voice note${first.duration_ms ? ` ${durationText(first.duration_ms)}` : ''}`
      : `📄 ${first.name || 'file'}`;
  return attachments.length > 1 ? `${what} and ${attachments.length - 1} more` : what;
}

/** Pending copies of ours after a reload know only how many there are. */
export function attachmentsCountElement(count) {
  return el('div', 'attachments attachments-count', count === 1 ? '📎 1 attachment' : `📎 ${count} attachments`);
}
