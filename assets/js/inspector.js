// inspector.js — the protocol inspector, for learners: a panel that shows
// every WebSocket frame this page sends (→) and receives (←), newest at the
// bottom, each with the time to the millisecond, its `type`, and the frame
// itself as indented JSON in a <details> (closed; opened on demand).
//
// Off by default: Settings → "Protocol inspector" turns it on (prefs.js
// keeps the choice). Only while it is on does socket.js's one hook
// (`socket.tap`) point here; off, the hook is null and nothing is recorded
// or kept. Pause stops recording too, until Resume; Clear forgets what was
// recorded. At most MAX_FRAMES frames are kept: the oldest go first, and
// the count under the tools says how many went.
//
// A frame is the server's (or another user's) text: it only ever goes into
// the page as textContent, never as HTML.

import * as prefs from './prefs.js';
import { $, socket } from './page.js';

export const MAX_FRAMES = 500;

const panel = $('inspector');
const list = $('inspector-list');
const filter = $('inspector-filter');
const pauseButton = $('inspector-pause');
const count = $('inspector-count');

const texts = new WeakMap(); // <details> -> the frame's text, pretty-printed on first opening
let paused = false;
let dropped = 0;             // frames dropped since the last Clear (over MAX_FRAMES)

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** "14:05:09.042", local time. */
export function frameTime(date) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** The frame's `type`, or what it is instead. */
function typeOf(text) {
  try {
    const frame = JSON.parse(text);
    return typeof frame?.type === 'string' ? frame.type : '(no type)';
  } catch {
    return '(not JSON)';
  }
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return String(text);
  }
}

function span(className, text) {
  const node = document.createElement('span');
  node.className = className;
  node.textContent = text;
  return node;
}

/** The type filter lists every type seen, in alphabetical order. */
function noteType(type) {
  const options = [...filter.options].slice(1);
  if (options.some((o) => o.value === type)) return;
  const option = document.createElement('option');
  option.value = type;
  option.textContent = type;
  filter.insertBefore(option, options.find((o) => o.value > type) ?? null);
}

const shows = (li) => filter.value === '' || li.dataset.type === filter.value;

function updateCount() {
  const n = list.children.length;
  const parts = [`${n} ${n === 1 ? 'frame' : 'frames'}`];
  if (filter.value !== '') parts.push(`${[...list.children].filter(shows).length} shown`);
  parts.push(dropped > 0 ? `${dropped} older dropped: only the newest ${MAX_FRAMES} are kept` : `only the newest ${MAX_FRAMES} are kept`);
  count.textContent = `${parts.join(' · ')}.${paused ? ' Paused: new frames are not recorded.' : ''}`;
}

/** socket.tap while the inspector is on: one frame, sent or received. */
function record(direction, text) {
  if (paused) return;
  const type = typeOf(text);
  const now = new Date();
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24;

  const li = document.createElement('li');
  li.className = `frame ${direction}`;
  li.dataset.type = type;
  li.dataset.direction = direction;
  const details = document.createElement('details');
  const summary = document.createElement('summary');
  const dir = span('frame-dir', '');
  dir.append(span('frame-arrow', direction === 'sent' ? '→' : '←'), ` ${direction}`);
  dir.firstChild.setAttribute('aria-hidden', 'true');
  const time = document.createElement('time');
  time.className = 'frame-time';
  time.dateTime = now.toISOString();
  time.textContent = frameTime(now);
  const code = document.createElement('code');
  code.className = 'frame-type';
  code.textContent = type;
  summary.append(dir, ' ', time, ' ', code);
  const pre = document.createElement('pre');
  pre.className = 'frame-json';
  details.append(summary, pre);
  texts.set(details, text);
  li.append(details);
  li.hidden = !shows(li);
  list.append(li);
  noteType(type);

  while (list.children.length > MAX_FRAMES) {
    list.firstElementChild.remove();
    dropped += 1;
  }
  updateCount();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

/** Forget every frame recorded (and the types seen, but the one chosen). */
function clear() {
  list.replaceChildren();
  dropped = 0;
  for (const option of [...filter.options].slice(1)) {
    if (option.value !== filter.value) option.remove();
  }
  updateCount();
}

function setPaused(on) {
  paused = on;
  pauseButton.setAttribute('aria-pressed', String(on));
  pauseButton.textContent = on ? 'Resume' : 'Pause';
  updateCount();
}

/** Turn the inspector on (show the panel, start recording) or off (hide it, record nothing, forget). */
export function setInspectorOn(on) {
  $('inspector-toggle').checked = on;
  panel.hidden = !on;
  socket.tap = on ? record : null;
  if (!on) {
    clear();
    setPaused(false);
  } else {
    updateCount();
  }
}

export function wireInspector() {
  const toggle = $('inspector-toggle');
  toggle.addEventListener('change', () => {
    prefs.setInspector(toggle.checked);
    setInspectorOn(toggle.checked);
  });
  // The × turns it off, like the setting; the focus goes to Settings, where it is turned on again.
  $('inspector-close').addEventListener('click', () => {
    prefs.setInspector(false);
    setInspectorOn(false);
    $('settings-open').focus();
  });
  pauseButton.addEventListener('click', () => setPaused(!paused));
  $('inspector-clear').addEventListener('click', clear);
  filter.addEventListener('change', () => {
    for (const li of list.children) li.hidden = !shows(li);
    updateCount();
    list.scrollTop = list.scrollHeight;
  });
  // A frame's JSON is made when it is first opened: most are never opened,
  // and a `joined` with its history can be long. `toggle` does not bubble,
  // so the list listens in the capture phase.
  list.addEventListener('toggle', (event) => {
    const details = event.target;
    const pre = details.querySelector?.('.frame-json');
    if (!details.open || !pre || pre.textContent !== '') return;
    pre.textContent = pretty(texts.get(details));
  }, true);
  // Turned on or off in another tab of this site: the same here.
  window.addEventListener('storage', (event) => {
    if (event.key === null || event.key === 'natter.inspector') setInspectorOn(prefs.getInspector());
  });
  setInspectorOn(prefs.getInspector());
}
