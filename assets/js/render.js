// render.js — builds and updates DOM nodes. No state, no network.
//
// The one rule here: text that came from a user (names, messages, server
// error messages) goes into the page with textContent, never innerHTML.
// textContent cannot create elements, so a message such as
// "<img src=x onerror=...>" is shown as those characters and nothing runs.

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

/** "14:05" in the viewer's local time zone. */
export function clockTime(ts) {
  const d = new Date(ts);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** A <time> element: HH:MM on screen, the full date on hover. */
function timeElement(ts) {
  const time = el('time', 'time', clockTime(ts));
  const d = new Date(ts);
  time.dateTime = d.toISOString();
  time.title = d.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'medium' });
  return time;
}

// --- messages ---------------------------------------------------------------

/** The parts shared by real and pending messages. */
function messageShell(user, text, me) {
  const li = el('li', 'message');
  if (user === me) li.classList.add('own');

  const meta = el('div', 'meta');
  meta.append(el('span', `author ${nameColourClass(user)}`, user));
  li.append(meta);

  // white-space: pre-wrap in app.css keeps the newlines the user typed.
  li.append(el('p', 'text', text));
  return li;
}

/** A message the server has posted (it has an id). */
export function messageElement(msg, me) {
  const li = messageShell(msg.user, msg.text, me);
  li.dataset.id = String(msg.id);
  li.querySelector('.meta').append(timeElement(msg.ts));
  return li;
}

/** Our own message, shown dimmed until the server echoes it. */
export function pendingElement(clientId, text, me) {
  const li = messageShell(me, text, me);
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
  rate_limited: 'too fast, wait a moment',
  not_joined: 'not in the room',
  bad_client_id: 'bad id',
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

/** Back to pending for a retry: drop the buttons, move it to the bottom. */
export function markPendingAgain(li, list) {
  li.classList.replace('failed', 'pending');
  li.querySelectorAll('.meta button').forEach((button) => button.remove());
  li.querySelector('.state').textContent = 'sending…';
  list.append(li);
}

/** A small text button. The label starts with the visible text, so voice
 *  control users can say what they see ("click Retry"). */
function actionButton(text, label, onClick) {
  const button = el('button', 'link-button', text);
  button.type = 'button';
  button.setAttribute('aria-label', label);
  button.addEventListener('click', onClick);
  return button;
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
  while (after && (after.classList.contains('pending') || Number(after.dataset.id) > id)) {
    after = after.previousElementSibling;
  }
  if (after) after.after(li);
  else list.prepend(li);
}

/** A small centred line: "carol joined", or our own notes such as a history gap. */
export function systemElement(text, ts) {
  const li = el('li', 'system');
  li.append(el('span', 'system-text', text));
  if (ts !== undefined) {
    li.append(' ');
    li.append(timeElement(ts));
  }
  return li;
}

// --- the side panel and the status bits -------------------------------------

export function renderMembers(list, members, me) {
  const items = members.map((name) => {
    const li = el('li', 'member');
    li.append(el('span', `dot ${nameColourClass(name)}`));
    li.append(el('span', 'member-name', name));
    if (name === me) li.append(el('span', 'you', '(you)'));
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
