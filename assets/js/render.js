// render.js — builds and updates DOM nodes. No state, no network.
//
// The one rule here: text that came from a user (names, messages, server
// error messages) goes into the page with textContent, never innerHTML.
// textContent cannot create elements, so a message such as
// "<img src=x onerror=...>" is shown as those characters and nothing runs.

import { roomKey } from './state.js';
import { appendRichText, isEmojiOnly, mentions } from './text.js';
import { attachmentsCountElement, attachmentsElement, attachmentsSummary } from './attachments.js';

// --- small helpers ----------------------------------------------------------

/** document.createElement with a class name and optional text. */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// How many name colours app.css defines (.name-c0 … .name-c11). Each one
// was picked to read well (WCAG AA) on the dark background.
const NAME_COLOURS = 12;

/**
 * A stable colour class for a name: the same name gets the same colour on
 * every screen and after every reload, because it comes from a hash of the
 * name (FNV-1a, a tiny, well-spread string hash) rather than from a counter.
 */
export function nameColourClass(name) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i += 1) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `name-c${hash % NAME_COLOURS}`;
}

const pad2 = (n) => String(n).padStart(2, '0');

// The browser's own locale decides between "2:05 PM" and "14:05" (and the
// digits and separators): undefined means "the default locale".
const CLOCK = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });

/** "2:05 PM" or "14:05", as the viewer's locale writes times, in their time zone. */
export function clockTime(ts) {
  return CLOCK.format(new Date(ts));
}

/** A <time> element: the clock time on screen, the full date on hover. */
function timeElement(ts) {
  const time = el('time', 'time', clockTime(ts));
  const d = new Date(ts);
  time.dateTime = d.toISOString();
  time.title = d.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'medium' });
  return time;
}

/**
 * The ✓ of a verified name: one whose owner claimed it with a password, so
 * only they can use it. An element of its own beside the name, never part
 * of it (names cannot contain "✓": the server allows letters, digits,
 * spaces, "_", "-" and "."), drawn as a filled badge, so "alice ✓" cannot
 * be faked by a look-alike "alice". Screen readers hear "verified name".
 */
export function verifiedBadge() {
  return badge('verified', '✓', 'verified name', 'Verified name: claimed with a password, only its owner can use it');
}

/**
 * The BOT badge: a message posted with a bot token (a webhook, the HTTP
 * API), whose frame says `"bot": true`. Its name comes from the token, not
 * from whoever sent the request. Drawn after the name like the ✓; screen
 * readers hear "bot".
 */
export function botBadge() {
  return badge('bot-badge', 'BOT', 'bot', 'Posted by a bot (a webhook or the HTTP API)');
}

/** A badge beside a name: an image to screen readers, with its own label. */
function badge(className, text, label, title) {
  const span = el('span', className, text);
  span.setAttribute('role', 'img');
  span.setAttribute('aria-label', label);
  span.title = title;
  return span;
}

// --- days -------------------------------------------------------------------

/** "2026-11-25" in local time: two timestamps on the same day share it. */
export function dayKey(ts) {
  const d = new Date(Number(ts));
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}

/** "Today", "Yesterday", or a date such as "Monday, 24 November 2026". */
export function dayLabel(ts, now = Date.now()) {
  const yesterday = new Date(now);
  yesterday.setDate(yesterday.getDate() - 1);
  if (dayKey(ts) === dayKey(now)) return 'Today';
  if (dayKey(ts) === dayKey(yesterday.getTime())) return 'Yesterday';
  return new Date(Number(ts)).toLocaleDateString(undefined, {
    weekday: 'long', year: 'numeric', month: 'long', day: 'numeric',
  });
}

/**
 * "Today" becomes "Yesterday" at midnight: re-label every separator under
 * `root`. chat.js calls this now and then; it only touches changed labels.
 */
export function refreshDayLabels(root) {
  for (const separator of root.querySelectorAll('li.day')) {
    const [y, m, d] = separator.dataset.day.split('-').map(Number);
    const label = dayLabel(new Date(y, m - 1, d, 12).getTime());
    const span = separator.querySelector('.day-label');
    if (span.textContent !== label) span.textContent = label;
  }
}

function daySeparator(ts) {
  const li = el('li', 'day');
  li.dataset.day = dayKey(ts);
  li.append(el('span', 'day-label', dayLabel(ts)));
  return li;
}

// --- messages ---------------------------------------------------------------

/**
 * dir="auto": the browser reads the direction from the text's first strong
 * letter, so an Arabic or Hebrew message (or name) runs right to left and
 * lines up on the right, while the page around it stays left to right.
 */
function autoDirection(node) {
  node.dir = 'auto';
  return node;
}

/**
 * What render.js needs to know to draw a message, from the page (messages.js
 * makes it; render.js keeps no state of its own):
 *   me            your name (mentions of you are highlighted)
 *   uid           your session's uid: a message with it is yours
 *   verified      whether your name is claimed by you (your pending copies get the ✓)
 *   lookup(id)    the room's copy of message `id`, if the page has it (a
 *                 reply's preview is drawn from it, so it follows edits)
 *   excerptChars  how long a reply's excerpt may be
 *   editStatus(id)  your edit of it on its way: undefined, or
 *                 { state: 'saving' | 'unsaved', clientId }
 * @typedef {object} View
 */

/** Is this message yours? By uid when both have one, else by name (pending copies, old messages). */
export function isOwn(msg, view) {
  if (msg.uid !== undefined && view.uid !== undefined) return msg.uid === view.uid;
  return msg.user === view.me;
}

/** The first `max` characters of a text on one line, with "…" when cut. */
export function excerpt(text, max = 120) {
  const line = text.replace(/\s+/gu, ' ').trim();
  const chars = [...line];
  return chars.length > max ? `${chars.slice(0, max).join('').trimEnd()}…` : line;
}

/**
 * Above a reply: who and what it answers, as a button that brings the
 * original into view (actions.js). Drawn from the page's own copy of the
 * original when it has one (so an edit or delete shows at once), else from
 * the server's `reply`; without either the original is gone (retention).
 */
function replyPreview(msg, view) {
  const target = view.lookup?.(msg.reply_to);
  const reply = target
    ? (target.deleted ? { deleted: true } : { user: target.user, excerpt: excerpt(target.text, view.excerptChars) || attachmentsSummary(target.attachments) })
    : msg.reply;
  const replyBot = target ? target.bot === true : reply?.bot === true;
  if (!reply) return el('div', 'reply-preview gone', 'In reply to a message that is no longer available');
  const button = el('button', 'reply-preview');
  button.type = 'button';
  button.dataset.replyTo = String(msg.reply_to);
  button.title = 'Show the original';
  const arrow = el('span', 'reply-arrow', '↪');
  arrow.setAttribute('aria-hidden', 'true');
  button.append(arrow, el('span', 'visually-hidden', 'In reply to '));
  if (reply.deleted) {
    button.append(el('span', 'reply-excerpt deleted', 'deleted message'));
  } else {
    button.append(autoDirection(el('span', `reply-author ${nameColourClass(reply.user)}`, reply.user)), ' ');
    if (replyBot) button.append(botBadge(), ' ');
    button.append(autoDirection(el('span', 'reply-excerpt', reply.excerpt)));
  }
  return button;
}

/** The text of a message: rich text, big emoji, or "* alice waves" for an action (/me). */
function messageText(msg, view) {
  const body = autoDirection(el('div', 'text'));
  if (msg.action) {
    body.classList.add('action-text');
    body.append(el('span', 'action-author', `* ${msg.user} `));
    if (msg.verified) body.append(verifiedBadge(), ' ');
    if (msg.bot === true) body.append(botBadge(), ' ');
    appendRichText(body, msg.text, view.me);
  } else if (isEmojiOnly(msg.text)) {
    body.classList.add('emoji-only');
    body.textContent = msg.text;
  } else {
    appendRichText(body, msg.text, view.me);
  }
  return body;
}

/**
 * The chips under a message: one per emoji with its count, pressed when
 * you are among those who reacted, named with who did ("👍 3: alice, bob,
 * carol"); then a "+" to add another. actions.js handles the clicks.
 */
function reactionsRow(msg, view) {
  const row = el('div', 'reactions');
  row.setAttribute('role', 'group');
  row.setAttribute('aria-label', 'Reactions');
  for (const reaction of msg.reactions) {
    const mine = view.uid !== undefined && (reaction.uids ?? []).includes(view.uid);
    const chip = el('button', 'reaction');
    chip.type = 'button';
    chip.dataset.emoji = reaction.emoji;
    chip.setAttribute('aria-pressed', String(mine));
    chip.append(el('span', 'reaction-emoji', reaction.emoji), el('span', 'reaction-count', String(reaction.count)));
    const names = reaction.users ?? [];
    const more = reaction.count > names.length ? ` and ${reaction.count - names.length} more` : '';
    const who = `${reaction.emoji} ${reaction.count}: ${names.join(', ')}${more}`;
    chip.setAttribute('aria-label', who);
    chip.title = who;
    row.append(chip);
  }
  const add = el('button', 'reaction reaction-add', '+');
  add.type = 'button';
  add.setAttribute('aria-label', 'Add a reaction');
  add.title = 'Add a reaction';
  row.append(add);
  return row;
}

/** The parts shared by real and pending messages. */
function messageShell(msg, view, ts) {
  const li = el('li', 'message');
  li.dataset.user = msg.user;
  li.dataset.ts = String(ts);
  // Grouping compares it too: a verified message never hides its ✓ under
  // an unverified one's name of the same spelling, nor the other way round.
  li.dataset.verified = String(msg.verified === true);
  // And a bot's message never hides its BOT under a person's name, either.
  li.dataset.bot = String(msg.bot === true);
  if (isOwn(msg, view)) li.classList.add('own');
  else if (!msg.deleted && (mentions(msg.text, view.me) || (msg.mentions ?? []).some((n) => sameName(n, view.me)))) {
    li.classList.add('mentions-me');
  }
  if (msg.action) li.classList.add('action');

  const meta = el('div', 'meta');
  const author = cardButton(el('button', `author ${nameColourClass(msg.user)}`, msg.user), msg.user);
  // The author's uid lets a moderator act on them after they left (moderation.js).
  if (msg.uid !== undefined) author.dataset.cardUid = msg.uid;
  meta.append(autoDirection(author));
  if (msg.verified === true) meta.append(verifiedBadge());
  if (msg.bot === true) meta.append(botBadge());
  meta.append(timeElement(ts));
  li.append(meta);

  if (msg.deleted) {
    // A tombstone: the message's place in the conversation, and nothing of it.
    li.classList.add('deleted');
    // Deleted by a moderator: the tombstone says who (`deleted_by`).
    li.append(el('div', 'text tombstone', msg.deleted_by ? `message deleted by ${msg.deleted_by}` : 'message deleted'));
    return li;
  }
  if (msg.reply_to !== undefined) li.append(replyPreview(msg, view));
  // white-space: pre-wrap in app.css keeps the newlines the user typed. A
  // <div>, not a <p>: a code block (<pre>) may be inside. A message of
  // attachments alone has no text, and no empty line for it either.
  const attachments = attachmentsElement(msg.attachments);
  if (msg.text !== '' || !attachments) li.append(messageText(msg, view));
  if (attachments) li.append(attachments);
  return li;
}

/** Names compare as the server compares them: NFKC form, lower case. */
export const sameName = (a, b) => String(a).normalize('NFKC').toLowerCase() === String(b).normalize('NFKC').toLowerCase();

/** A message the server has posted (it has an id), in its current state. */
export function messageElement(msg, view) {
  const li = messageShell(msg, view, msg.ts);
  li.dataset.id = String(msg.id);
  if (msg.deleted) return li;
  const meta = li.querySelector('.meta');
  if (msg.edited_ts !== undefined) {
    const edited = el('span', 'edited', '(edited)');
    edited.title = `Edited ${new Date(msg.edited_ts).toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'medium' })}`;
    meta.append(edited);
  }
  const status = view.editStatus?.(msg.id);
  if (status?.state === 'saving') meta.append(el('span', 'state', 'saving edit…'));
  if (status?.state === 'unsaved') {
    li.classList.add('edit-unsaved');
    meta.append(el('span', 'state', 'not saved — '));
    const retry = actionButton('Retry', 'Retry saving this edit');
    retry.dataset.retryEdit = status.clientId;
    meta.append(retry);
  }
  if (msg.reactions?.length) li.append(reactionsRow(msg, view));
  // The actions menu (Reply, React, Edit, Delete): actions.js opens it.
  const menu = el('button', 'icon-button message-menu-button', '⋯');
  menu.type = 'button';
  menu.dataset.focusKey = 'menu';
  menu.setAttribute('aria-label', `Actions for ${msg.user}’s message`);
  menu.setAttribute('aria-expanded', 'false');
  menu.setAttribute('aria-controls', 'message-menu');
  menu.title = isOwn(msg, view) ? 'Reply, react, edit or delete' : 'Reply or react';
  li.append(menu);
  return li;
}

/**
 * Put `li` (a message's new state) in place of `old`, keeping its grouping,
 * an open delete question and, when the keyboard was inside the old one,
 * the focus on the same control in the new one.
 */
export function replaceMessage(old, li) {
  const focused = old.contains(document.activeElement) ? document.activeElement : null;
  const key = focused?.dataset.focusKey ?? (focused?.dataset.emoji ? `emoji:${focused.dataset.emoji}` : null);
  li.classList.toggle('grouped', old.classList.contains('grouped'));
  // A "Delete this message?" being answered stays (unless it was deleted).
  const confirm = old.querySelector('.delete-confirm');
  if (confirm && !li.classList.contains('deleted')) li.append(confirm);
  old.replaceWith(li);
  if (!focused) return;
  const again = key?.startsWith('emoji:')
    ? [...li.querySelectorAll('.reaction')].find((b) => b.dataset.emoji === key.slice(6))
    : li.querySelector(`[data-focus-key="${CSS.escape(key ?? 'menu')}"]`);
  (again ?? li.querySelector('.message-menu-button'))?.focus();
}

/**
 * Our own message, shown as pending until the server echoes it. `draft`:
 * { text, action?, reply_to?, reply?, attachments? } as it will be sent;
 * `ts`: when it was typed; `files`: what the server said of its
 * attachments' uploads, drawn as they will look (after a reload the page
 * knows only how many there are).
 */
export function pendingElement(clientId, draft, view, ts = Date.now(), files = undefined) {
  const shown = { ...draft, attachments: files, user: view.me, uid: view.uid, verified: view.verified === true };
  const li = messageShell(shown, view, ts);
  if (!files?.length && draft.attachments?.length) li.append(attachmentsCountElement(draft.attachments.length));
  li.classList.add('pending');
  li.dataset.clientId = clientId;
  li.querySelector('.meta').append(el('span', 'state', 'sending…'));
  return li;
}

// Short words for the error codes a message can fail with (the full
// sentence from the server is shown in the notice above the composer).
const FAILURE_REASONS = {
  empty_text: 'empty',
  text_too_long: 'too long',
  bad_text: 'control character',
  rate_limited: 'too fast, wait a moment',
  not_joined: 'not in the room',
  bad_client_id: 'bad id',
  bad_attachment: 'an attachment was refused',
};

/**
 * The server refused a pending message: say why, and offer buttons.
 * `actions.onRemove` always; `actions.onRetry` only when trying again can
 * help (the rate limit), since an empty or too-long text fails every time.
 */
export function markFailed(li, reason, actions) {
  // No longer "pending": it stays where it is, and later messages go below it.
  li.classList.replace('pending', 'failed');
  li.querySelector('.state').textContent = `not sent: ${FAILURE_REASONS[reason] ?? reason}`;
  const meta = li.querySelector('.meta');
  meta.querySelectorAll('button').forEach((button) => button.remove());
  if (actions.onRetry) {
    meta.append(actionButton('Retry', 'Retry sending this message', actions.onRetry));
  }
  meta.append(actionButton('Remove', 'Remove unsent message', actions.onRemove));
}

/**
 * The server could not store it (storage_failed). It is not failed: it
 * stays pending, at the bottom, and chat.js retries it, so there is nothing
 * for the user to click. The `unsaved` class keeps the connection-status
 * labels (refreshPendingLabels in chat.js) from overwriting this one.
 */
export function markUnsaved(li) {
  li.classList.add('unsaved');
  li.querySelector('.state').textContent = 'not saved yet — will retry';
}

/** An unsaved message is being sent again: back to an ordinary pending one. */
export function markResending(li) {
  li.classList.remove('unsaved');
  li.querySelector('.state').textContent = 'sending…';
}

/** Back to pending for a retry: drop the buttons, move it to the bottom. */
export function markPendingAgain(li, list) {
  li.classList.replace('failed', 'pending');
  li.querySelectorAll('.meta button').forEach((button) => button.remove());
  li.querySelector('.state').textContent = 'sending…';
  removeItem(li);
  appendItem(list, li);
}

/** A small text button. The label starts with the visible text, so voice
 *  control users can say what they see ("click Retry"). */
function actionButton(text, label, onClick) {
  const button = el('button', 'link-button', text);
  button.type = 'button';
  button.setAttribute('aria-label', label);
  if (onClick) button.addEventListener('click', onClick);
  return button;
}

/** "Delete this message? Yes / No", inside the message (actions.js answers the buttons). */
export function deleteConfirm() {
  const box = el('div', 'delete-confirm');
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', 'Delete this message?');
  box.append(el('span', 'delete-question', 'Delete this message?'));
  const yes = actionButton('Yes, delete', 'Yes, delete this message');
  yes.classList.add('danger-link');
  yes.dataset.confirmDelete = 'yes';
  yes.dataset.focusKey = 'confirm-yes';
  const no = actionButton('No', 'No, keep it');
  no.dataset.confirmDelete = 'no';
  no.dataset.focusKey = 'confirm-no';
  box.append(' ', yes, ' ', no);
  return box;
}

/** /help: the commands and hints, as a local line in the list (never sent). */
export function helpElement(lines) {
  const li = el('li', 'system help');
  li.append(el('p', 'help-title', 'What you can type:'));
  const list = el('ul', 'help-list');
  for (const [what, how] of lines) {
    const item = el('li');
    item.append(el('code', 'code', what), ` ${how}`);
    list.append(item);
  }
  li.append(list);
  return li;
}

/**
 * Put a posted message into the list in id order.
 *
 * Usually that means "at the end", but two things can sit after it:
 * our own pending messages (they stay at the bottom until echoed), and
 * - after a reconnect - messages with a higher id. So walk back from the end
 * and insert after the last posted message with a smaller id.
 */
export function insertMessage(list, li) {
  const id = Number(li.dataset.id);
  let after = list.lastElementChild;
  while (
    after &&
    (after.classList.contains('pending') ||
      after.classList.contains('day') ||
      after.classList.contains('unread-divider') ||
      Number(after.dataset.id) > id)
  ) {
    after = after.previousElementSibling;
  }
  if (after) after.after(li);
  else list.prepend(li);
  decorate(li);
}

/**
 * Put older messages (scroll-back), oldest first, above everything in the
 * list: every item already there is newer. Only the "beginning" marker
 * stays above them. Then fix the day separators and grouping: each new item
 * against the one before it, and the old first message against the last
 * new one (decorate() does the item after, too).
 */
export function prependMessages(list, items) {
  if (items.length === 0) return;
  const fragment = document.createDocumentFragment();
  fragment.append(...items);
  const marker = list.firstElementChild?.classList.contains('beginning') ? list.firstElementChild : null;
  if (marker) marker.after(fragment);
  else list.prepend(fragment);
  for (const item of items) decorate(item);
}

/**
 * "This is the beginning of #room": the top of a room whose oldest message
 * is shown. `label` is how the room is written ("#room", "@bob").
 */
export function beginningElement(label) {
  const li = el('li', 'beginning');
  li.append(el('span', 'beginning-text', `This is the beginning of ${label}`));
  return li;
}

/** Add an item (pending message, system line) at the end of the list. */
export function appendItem(list, li) {
  list.append(li);
  decorate(li);
}

/** Take an item out, and fix up what its neighbours looked like because of it. */
export function removeItem(li) {
  const prev = li.previousElementSibling;
  const next = li.nextElementSibling;
  li.remove();
  // A day separator with nothing of its day after it goes too.
  if (prev?.classList.contains('day') && (!next || next.classList.contains('day'))) prev.remove();
  if (next) decorate(next);
}

// --- grouping and day separators ---------------------------------------------
//
// Both depend on the item before: a day separator goes before the first
// item of each day, and a message from the same person within a few minutes
// of their previous one is "grouped" (drawn without their name again).
// decorate() fixes one item and the one after it, which is all an insert
// or a removal can change.

const GROUP_WITHIN_MS = 5 * 60 * 1000;

function previousDated(item) {
  let prev = item.previousElementSibling;
  while (prev && !prev.dataset.ts) prev = prev.previousElementSibling;
  return prev;
}

function placeDaySeparator(item) {
  if (!item.dataset.ts) return;
  const day = dayKey(item.dataset.ts);
  const before = item.previousElementSibling;
  const separator = before?.classList.contains('day') ? before : null;
  const prev = previousDated(item);
  const needed = !prev || dayKey(prev.dataset.ts) !== day;
  if (needed && !separator) item.before(daySeparator(item.dataset.ts));
  else if (!needed && separator) separator.remove();
  else if (needed && separator.dataset.day !== day) separator.replaceWith(daySeparator(item.dataset.ts));
}

function setGrouped(item) {
  if (!item.classList.contains('message')) return;
  const prev = item.previousElementSibling;
  // A pending message keeps its name and its "sending…" until it is posted.
  const grouped = Boolean(
    !item.classList.contains('pending') &&
      prev &&
      prev.classList.contains('message') &&
      !prev.classList.contains('failed') &&
      prev.dataset.user === item.dataset.user &&
      prev.dataset.verified === item.dataset.verified &&
      prev.dataset.bot === item.dataset.bot &&
      Math.abs(Number(item.dataset.ts) - Number(prev.dataset.ts)) < GROUP_WITHIN_MS,
  );
  item.classList.toggle('grouped', grouped);
}

function decorate(item) {
  placeDaySeparator(item);
  setGrouped(item);
  let next = item.nextElementSibling;
  if (next?.classList.contains('unread-divider')) next = next.nextElementSibling;
  if (next?.classList.contains('day')) next = next.nextElementSibling;
  if (next) {
    placeDaySeparator(next);
    setGrouped(next);
  }
}

// --- "New since you left" ---------------------------------------------------------
//
// divider.js decides where it goes; here is only how. It sits right before
// the first message you had not read, or before that message's day
// separator (so the separator still touches its day). The message after it
// starts a new group: it shows its author again, since the line broke the
// conversation in two.

const DIVIDER_TEXT = 'New since you left';

function dividerElement() {
  const li = el('li', 'unread-divider');
  // A separator with a name: screen readers say "New since you left, separator".
  const line = el('span', 'unread-divider-text', DIVIDER_TEXT);
  line.setAttribute('role', 'separator');
  line.setAttribute('aria-label', DIVIDER_TEXT);
  li.append(line);
  return li;
}

/** The list's divider, if it has one. */
export function dividerOf(list) {
  return list.querySelector(':scope > li.unread-divider');
}

/** Put the divider before `message` (moving it if it is elsewhere). Returns it. */
export function showDivider(list, message) {
  const before = message.previousElementSibling?.classList.contains('day') ? message.previousElementSibling : message;
  let divider = dividerOf(list);
  if (divider && divider.nextElementSibling === before) return divider;
  if (divider) removeDivider(list);
  divider = dividerElement();
  before.before(divider);
  setGrouped(message);
  return divider;
}

/** Take the divider away; the message after it may join its group again. */
export function removeDivider(list) {
  const divider = dividerOf(list);
  if (!divider) return;
  const next = divider.nextElementSibling;
  divider.remove();
  if (next) decorate(next);
}

/** A small centred line: "carol joined", or our own notes such as a history gap. */
export function systemElement(text, ts) {
  const li = el('li', 'system');
  li.append(el('span', 'system-text', text));
  if (ts !== undefined) {
    li.dataset.ts = String(ts);
    li.append(' ');
    li.append(timeElement(ts));
  }
  return li;
}

// --- the side panel and the status bits -------------------------------------

/**
 * The sidebar's list of rooms: a button to open each (with its unread
 * badge) and a button to leave it. Redrawn whole on every change; the
 * keyboard focus is put back on the same button afterwards.
 *
 * @param {HTMLElement} list  the <ul>
 * @param {object[]} rooms    room states, in order
 * A direct message (`room.dm`) reads "@bob"; a room we are not in now
 * (`room.shut`: removed, or refused at the door) is marked so; a `stub`
 * is a direct message listed but not joined yet (no leave button).
 *
 * @param {HTMLElement} list  the <ul>
 * @param {object[]} rooms    room states, in order
 * @param {object} o          { current, isMuted(name), canLeave, onOpen(name), onLeave(name) }
 */
export function renderRooms(list, rooms, { current, isMuted, canLeave = rooms.length > 1, onOpen, onLeave }) {
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.focusKey : undefined;
  const items = rooms.map((room) => {
    const key = roomKey(room.name);
    const li = el('li', 'room-item');
    const muted = isMuted(room.name);
    if (muted) li.classList.add('muted');

    const open = el('button', 'room-button');
    open.type = 'button';
    open.dataset.focusKey = `open:${key}`;
    open.dataset.roomKey = key;
    if (key === current) open.setAttribute('aria-current', 'page');
    const [mark, label] = room.dm ? ['@', room.dm.with] : ['#', room.name];
    open.append(el('span', 'room-hash', mark), autoDirection(el('span', 'room-label', label)));
    if (room.dm) open.append(el('span', 'visually-hidden', ', direct message'));
    if (muted) open.append(el('span', 'visually-hidden', ', muted'));
    if (room.shut) {
      li.classList.add('shut');
      open.append(el('span', 'visually-hidden', ', you are not in it'));
    }
    const count = muted ? room.mentions : room.unread;
    if (room.unread > 0) {
      const badge = el('span', 'badge', String(room.unread > 99 ? '99+' : room.unread));
      badge.setAttribute('aria-hidden', 'true');
      if (count === 0) badge.classList.add('quiet'); // muted: shown, but grey
      if (room.mentions > 0) badge.classList.add('mention');
      open.append(badge, el('span', 'visually-hidden', `, ${room.unread} unread`));
    }
    open.addEventListener('click', () => onOpen(room.name));
    li.append(open);

    if (canLeave && !room.stub) {
      const leave = el('button', 'icon-button leave-button', '×');
      leave.type = 'button';
      leave.dataset.focusKey = `leave:${key}`;
      leave.setAttribute('aria-label', `Leave ${mark}${label}`);
      leave.title = `Leave ${mark}${label}`;
      leave.addEventListener('click', () => onLeave(room.name));
      li.append(leave);
    }
    return li;
  });
  list.replaceChildren(...items);
  if (focused) list.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
}

/**
 * A button that opens `name`'s member card (card.js listens for
 * data-card). Its text stays the name (what a screen reader says); its
 * title says what it does.
 */
function cardButton(button, name) {
  button.type = 'button';
  button.dataset.card = name;
  button.title = `About ${name}`;
  return button;
}

const SVG = 'http://www.w3.org/2000/svg';

/** An "i" in a circle, drawn (not a font's ⓘ, which some systems lack). */
function infoIcon() {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '18');
  svg.setAttribute('height', '18');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('icon');
  const circle = document.createElementNS(SVG, 'circle');
  for (const [key, value] of [['cx', 12], ['cy', 12], ['r', 9], ['fill', 'none'], ['stroke', 'currentColor'], ['stroke-width', 2]]) circle.setAttribute(key, String(value));
  const stroke = document.createElementNS(SVG, 'path');
  for (const [key, value] of [['d', 'M12 11v6M12 7.5v.5'], ['stroke', 'currentColor'], ['stroke-width', 2.2], ['stroke-linecap', 'round']]) stroke.setAttribute(key, String(value));
  svg.append(circle, stroke);
  return svg;
}

/**
 * The member list. `verified`: the names the server says are claimed (a ✓
 * each); `meVerified`: yours is, as far as the page knows (a claim just
 * made shows before the server's next presence).
 */
export function renderMembers(list, members, me, { verified = [], meVerified = false } = {}) {
  const items = members.map((name) => {
    const li = el('li', 'member');
    li.append(el('span', `dot ${nameColourClass(name)}`));
    const badge = verified.includes(name) || (name === me && meVerified) ? [verifiedBadge()] : [];
    if (name === me) {
      li.append(autoDirection(el('span', 'member-name', name)), ...badge, el('span', 'you', '(you)'));
    } else {
      // A button: clicking (or Enter on) a name mentions them (mentions.js).
      const mention = autoDirection(el('button', 'member-name member-mention', name));
      mention.type = 'button';
      mention.dataset.mention = name;
      mention.title = `Mention ${name}`;
      li.append(mention, ...badge);
    }
    // Beside the name (which mentions), the way to their card.
    const about = cardButton(el('button', 'icon-button member-card-button'), name);
    about.setAttribute('aria-label', `About ${name}`);
    about.append(infoIcon());
    li.append(about);
    return li;
  });
  list.replaceChildren(...items);
}

/** "alice is typing…", "alice and bob are typing…", "several people are typing…" */
export function typingText(names) {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'several people are typing…';
}

/** The words of the connection status line. */
export function statusText(status) {
  switch (status.state) {
    case 'connected': return 'connected';
    case 'connecting': return 'connecting…';
    case 'reconnecting': return `reconnecting in ${status.seconds} s…`;
    case 'offline': return status.reason ? `offline (${status.reason})` : 'offline';
    default: return status.state;
  }
}
