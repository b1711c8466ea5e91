// rooms.js — the rooms you are in: the sidebar's list, joining (and the
// server's answer, `joined` or a refusal), leaving, switching, and the
// address (/r/<room>, where back and forward switch rooms).
//
// The server alone judges a room's name. The page sends what you typed,
// and the server answers with the room's own spelling (look-alike names are
// one room) or refuses it with the reason, which the page shows.

import * as render from './render.js';
import * as prefs from './prefs.js';
import * as notify from './notify.js';
import { showToast } from './toast.js';
import { roomKey } from './state.js';
import { $, current, input, isCurrent, limits, lists, listFor, page, roomLabel, roomPath, scroller, showNotice, socket, state } from './page.js';
import { forgetRoomMessages, showMembers, showMessage, showSystem, showTyping } from './messages.js';
import { afterAdd, maybeLoadOlder, rememberPlace, restorePlace, updateHistoryIndicator } from './scroll.js';
import { isMuted, markRead, noteNewMessages, updateTitle } from './unread.js';
import { refreshPendingLabels, requeueUnsent, resendUnsaved } from './composer.js';
import { updateExportLinks, updateMuteButton } from './settings.js';
import { setDrawer } from './drawer.js';
import { afterBacklog } from './divider.js';
import { loadDraft, moveDraft, swapDraft } from './drafts.js';
import { leaveRoomMode } from './editing.js';
import { leaveRoomActions, resendChanges } from './actions.js';
import { applySettings, updateHeader } from './room-settings.js';
import { takeLinkSecrets } from './owner.js';
import { noteJoined, updateLock } from './access.js';
import { showTray } from './uploads.js';
import { dmInfo, isDmRoom, unopenedDms } from './dms.js';
import { refreshCard } from './moderation.js';

export function renderSidebar() {
  const all = [...state.rooms.values()];
  const options = {
    current: state.current,
    isMuted,
    canLeave: all.length > 1, // the page always shows some room
    onOpen: (name) => {
      switchRoom(name);
      setDrawer(false);
      input.focus();
    },
    onLeave: (name) => leaveRoom(name, { undoable: true }),
  };
  render.renderRooms($('room-list'), all.filter((room) => !isDmRoom(room)), options);
  // Direct messages: the joined ones, then the older ones, joined when opened.
  const dms = [...all.filter(isDmRoom), ...unopenedDms().map((info) => ({ name: info.room, dm: info, unread: 0, mentions: 0, stub: true }))];
  render.renderRooms($('dm-list'), dms, options);
  $('dm-group').hidden = dms.length === 0;
}

/** Remember this tab's rooms across a reload (sessionStorage). */
function saveRooms() {
  prefs.setOpenRooms([...state.rooms.values()].map((room) => room.name));
}

/** Put a room in the sidebar and join it (no-op if it is there already). */
export function addRoom(name) {
  if (state.has(name)) return;
  state.room(name).dm = dmInfo(name);
  listFor(name);
  socket.join(name);
  saveRooms();
  renderSidebar();
}

/** The room's name at the top, in the composer and in the title. */
function showRoomName(room) {
  updateHeader(); // the name ("#lobby", "@bob"), its marks and its topic
  input.placeholder = `Message ${roomLabel(room)}`;
}

/**
 * Show another room. `push` adds a browser history entry (false when we
 * are answering the back button, which has already moved).
 */
export function switchRoom(name, { push = true } = {}) {
  addRoom(name);
  const old = current();
  const room = state.room(name);
  if (old && old !== room) {
    rememberPlace(old);
    // An edit or a reply belongs to the room it began in; the box gets
    // that room's draft back before it is kept.
    leaveRoomMode();
    leaveRoomActions();
  }
  swapDraft(old?.name, room.name); // each room keeps its own half-typed text
  state.current = roomKey(name);
  for (const [key, list] of lists) list.hidden = key !== state.current;

  showRoomName(room);
  restorePlace(room);
  if (!notify.inBackground()) markRead(room);
  showMembers();
  showTyping();
  updateMuteButton();
  updateExportLinks();
  renderSidebar();
  updateTitle();
  refreshPendingLabels();
  updateHistoryIndicator();
  maybeLoadOlder();
  updateLock(); // muted here, or not in it: the composer says so
  showTray(); // the attachments waiting for this room's next message
  refreshCard();
  if (push && location.pathname !== roomPath(room.name)) {
    history.pushState({ room: room.name }, '', roomPath(room.name));
  }
}

/**
 * Our join for `from` was answered as room `to`: the server makes
 * look-alike names one room (a Cyrillic "о" for an "o", "0" for "O"). The
 * room moves to `to`'s key (the `joined` that follows gives it the
 * server's spelling everywhere), or goes if `to` is open already.
 */
export function renameRoom(from, to) {
  const [fromKey, toKey] = [roomKey(from), roomKey(to)];
  const merging = state.rooms.has(toKey);
  moveDraft(from, to);
  state.renameRoom(from, to);
  const list = lists.get(fromKey);
  lists.delete(fromKey);
  if (merging) {
    // Our messages still on their way move to the room they are for, so
    // their echo (or refusal) finds them.
    const into = listFor(to);
    for (const li of list?.querySelectorAll('li.pending, li.failed') ?? []) render.appendItem(into, li);
    list?.remove();
  } else if (list) {
    list.dataset.roomKey = toKey;
    lists.set(toKey, list);
  }
  saveRooms();
  if (merging && state.current === toKey) {
    switchRoom(state.room(to).name, { push: false });
    history.replaceState({ room: state.room(to).name }, '', roomPath(state.room(to).name));
  } else {
    renderSidebar();
  }
  // The composer shows the draft of the room on screen, wherever it moved.
  if (state.current === toKey) input.value = loadDraft(to);
}

/**
 * Leave a room: the server is told, and its messages go from the page.
 * `undoable` (you clicked ×): a notice offers to undo it for a few seconds,
 * which joins again; the history comes back with the `joined`.
 */
function leaveRoom(name, { undoable = false } = {}) {
  if (state.rooms.size <= 1) return; // the page always shows some room
  const key = roomKey(name);
  const wasCurrent = state.current === key;
  $('join-note').textContent = ''; // it may name this room
  // Leaving drops the room's unsent messages; Undo brings them back.
  const unsent = undoable ? socket.unsentIn(name) : [];
  socket.leave(name);
  state.removeRoom(name);
  lists.get(key)?.remove();
  lists.delete(key);
  saveRooms();
  if (state.current === key) {
    const next = state.rooms.values().next().value;
    switchRoom(next.name);
    input.focus();
  } else {
    renderSidebar();
    updateTitle();
    // The × that had the focus is gone: the room on screen's button gets it,
    // so the keyboard is not left at the top of the page.
    $('room-list').querySelector('[aria-current="page"]')?.focus();
  }
  if (undoable) {
    const dropped = unsent.length === 0 ? '' : ` ${unsent.length === 1 ? 'Its unsent message goes' : `Its ${unsent.length} unsent messages go`} with it unless you undo.`;
    showToast(`Left #${name}.${dropped}`, {
      label: 'Undo',
      run: () => {
        if (wasCurrent) switchRoom(name);
        else addRoom(name);
        requeueUnsent(unsent);
        input.focus();
      },
    });
  }
}

// ================================================================================
// The server's answers to a join
// ================================================================================

export function handleJoined(frame) {
  const room = state.room(frame.room);
  // Rooms match case-insensitively; the server's spelling is the real one.
  if (room.name !== frame.room) {
    room.name = frame.room;
    saveRooms();
    renderSidebar();
    if (isCurrent(frame.room)) {
      showRoomName(room);
      history.replaceState({ room: room.name }, '', roomPath(room.name));
      updateTitle();
      updateExportLinks();
    }
  }
  room.joined = true;
  // A `joined` comes on a fresh connection (or a first join): a history
  // request sent on an old one will never be answered, so ask again.
  room.loadingOlder = false;
  // socket.js resends the whole outbox right after this, messages the
  // server could not save included: they are simply pending again.
  for (const [clientId, entry] of state.pending) {
    if (entry.status === 'unsaved' && roomKey(entry.room) === roomKey(room.name)) resendUnsaved(clientId, { send: false });
  }
  listFor(room.name).dataset.joined = 'true'; // the tests wait for this
  // Issue 16: the room's settings (owner, topic, roles, mutes), whether we
  // are muted, and a kept owner key proved (owner.js, via applySettings).
  if (frame.settings) applySettings(room.name, frame.settings);
  noteJoined(room, frame);
  if (isCurrent(room.name)) updateHeader();
  state.setMembers(room.name, frame.members ?? [], frame.verified ?? []);
  if (isCurrent(room.name)) showMembers();
  showBacklog(room, frame);
  state.noteSeq(room.name, frame.cursor);
  // Edits, deletes and reactions that may have been lost with the last connection.
  resendChanges(room.name);
  afterBacklog(room); // "New since you left" on a return visit
  refreshPendingLabels();
  if (isCurrent(room.name)) {
    updateHistoryIndicator();
    maybeLoadOlder();
  }
}

/** The history a `joined` brings: the room's last messages, or what we missed. */
function showBacklog(room, frame) {
  // `since` was the room's cursor when we sent the join (nothing arrives
  // for a room between the drop and `joined`, so it has not changed).
  const since = state.lastSeen(room.name);
  const backlog = frame.history ?? [];
  if (frame.gap && since !== undefined) {
    // The server could not say exactly what we missed: it restarted with
    // another database (ids began again), or more changed than one resume
    // replays. What we have may be stale (edited, deleted since), so the
    // room starts over from what `joined` brings, each in its current
    // state; scrolling up brings older messages as they are now.
    const restarted = backlog.length === 0 || backlog[0].id <= since;
    forgetRoomMessages(room.name);
    showSystem(room.name, restarted
      ? 'The server restarted; the conversation starts again from here.'
      : 'Much happened while you were away: here are the latest messages, as they are now. Scroll up for older ones.');
  }
  const hadHistory = state.lastSeen(room.name) !== undefined;
  // aria-busy asks screen readers to wait until the whole batch is in,
  // instead of reading out two hundred history messages one by one.
  scroller.setAttribute('aria-busy', 'true');
  const missed = [];
  for (const msg of backlog) {
    const shown = showMessage(msg, true);
    if (shown === 'new' && msg.user !== state.me) missed.push(msg);
  }
  // Older messages that changed while we were away, each in its current
  // state: drawn again if we have them. One we do not have is not put in
  // (it would sit among the newest); scroll-back brings it as it is now.
  for (const msg of frame.changes ?? []) {
    if (state.message(msg.room ?? room.name, msg.id)) showMessage({ ...msg, room: msg.room ?? room.name }, true);
    else state.noteSeq(room.name, msg.rev ?? msg.id);
  }
  scroller.setAttribute('aria-busy', 'false');
  // The first history is not "new"; missed messages after a reconnect are.
  if (isCurrent(room.name)) afterAdd({ fresh: hadHistory ? missed.length : 0, forceScroll: !hadHistory });
  if (hadHistory) noteNewMessages(room, missed, { live: false });
}

// Refusals of a `join`: the room goes from the sidebar again.
const JOIN_REFUSALS = ['name_taken', 'bad_room', 'too_many_rooms'];

/**
 * An error that refuses one of our joins: the room you tried to open goes
 * again, and the server's reason shows. Returns whether it was one.
 */
export function joinRefused(frame) {
  if (!frame.room || !JOIN_REFUSALS.includes(frame.code)) return false;
  // A refused join names the room as the server spells it: for a look-alike
  // of an existing room (name_taken there), that is not the name we asked
  // for, and the refusal is the answer to our one unanswered join.
  const name = state.has(frame.room) ? frame.room : socket.soleUnanswered();
  const room = name && state.has(name) ? state.room(name) : null;
  // A room you are in, or the only one the page has, stays: the page always
  // shows some room, and frames.js shows the refusal.
  if (!room || room.joined || state.rooms.size <= 1) return false;
  // Messages an earlier page left unsent for it (outbox.js) cannot be
  // delivered there: say so rather than drop them without a word.
  const unsent = socket.unsentIn(room.name);
  leaveRoom(room.name);
  const lost = unsent.length === 0 ? '' : ` ${unsent.length === 1 ? 'Your unsent message' : `Your ${unsent.length} unsent messages`} for it could not be delivered: ${unsent.map((m) => `“${m.text}”`).join(', ')}.`;
  showNotice(`Could not join ${roomLabel(room)}: ${frame.message || frame.code}${lost}`);
  return true;
}

// ================================================================================
// Joining from the sidebar's form, and the address
// ================================================================================

/**
 * What the page checks of a typed room name before it joins: only what
 * cannot be wrong to check. The naming rules themselves (which characters,
 * which scripts, no invisible ones) are the server's: it answers a name
 * it refuses with `bad_room` and a message saying why, and joinRefused
 * takes the room away again and shows that message. A copy of the rules
 * here would drift, and refuse names the server takes.
 * Returns the name to join, or { error } to show under the field.
 */
function typedRoomName(typed) {
  // "#kitchen" is how rooms are written on screen, so a "#" typed in front
  // is not part of the name: it goes, and the page says so (`dropped`).
  const trimmed = typed.trim();
  const name = trimmed.replace(/^#+/, '').trim();
  if (name === '') return { error: 'Type the name of a room.' };
  const dropped = name !== trimmed;
  // The server counts the characters of the name's NFKC form, against the
  // limit its `hello` gave (unknown before that: then the server judges).
  const length = [...name.normalize('NFKC')].length;
  const max = limits.maxRoomChars;
  if (max !== undefined && length > max) {
    return { error: `That name is ${length} characters long; a room name has at most ${max}.` };
  }
  return { name, dropped };
}

function joinFromForm(event) {
  event.preventDefault();
  const field = $('join-input');
  const { name, dropped, error: problem } = typedRoomName(field.value);
  const error = $('join-error');
  const note = dropped ? `# is not part of a room's name: joined #${name}` : '';
  $('join-note').textContent = note;
  // On a phone the drawer closes as you join, and the note with it: say it
  // by the composer instead.
  if (note && $('sidebar').classList.contains('open')) showToast(note);
  if (problem) {
    error.textContent = problem;
    field.setAttribute('aria-invalid', 'true');
    field.focus();
    return;
  }
  error.textContent = '';
  field.removeAttribute('aria-invalid');
  field.value = '';
  switchRoom(name);
  setDrawer(false);
  input.focus();
}

export function wireRooms() {
  $('join-form').addEventListener('submit', joinFromForm);
  // The note is about the last join; typing the next name clears it.
  $('join-input').addEventListener('input', () => { $('join-note').textContent = ''; });

  // Back and forward: the address says which room.
  window.addEventListener('popstate', (event) => {
    const name = event.state?.room ?? decodeURIComponent(location.pathname.replace(/^\/r\//, ''));
    if (name) switchRoom(name, { push: false });
  });

  // Logging out ends this tab's set of rooms too.
  document.querySelector('.logout-form').addEventListener('submit', () => prefs.setOpenRooms([]));
}

/** This tab's rooms from before a reload, then the room in the address. */
export function openFirstRooms() {
  // An owner link's key (#owner=) and an invite link's code (?invite=) are
  // taken before the address below is replaced by the bare /r/<room>.
  takeLinkSecrets();
  for (const name of prefs.getOpenRooms()) addRoom(name);
  switchRoom(page.room, { push: false });
  history.replaceState({ room: page.room }, '', roomPath(page.room));
}
