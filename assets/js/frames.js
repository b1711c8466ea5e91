// frames.js — what the socket reports, each to the part of the page it is
// about: server frames (one case per type), the connection's status in the
// top bar, and trouble that needs you (log in again).

import * as render from './render.js';
import { $, isCurrent, limits, loginAgainHref, showNotice, socket, state } from './page.js';
import { forgetRoomMessages, showMembers, showMessage, showSystem, showTyping, TYPING_SHOWN_MS } from './messages.js';
import { afterAdd, handleHistory, historyRefused } from './scroll.js';
import { noteNewMessages } from './unread.js';
import { handleJoined, joinRefused } from './rooms.js';
import { messageRefused, refreshPendingLabels } from './composer.js';
import { unsentNote } from './leaving.js';
import { changeRefused, handleDelete, handleEdit, handleReactions } from './actions.js';
import { noteHello } from './account.js';
import { handleBans, handleClaimed, handleInviteCreated, handleRoomFrame } from './room-settings.js';
import { accessRefused, handleRemoved, noteMuted } from './access.js';
import { noteSystem } from './moderation.js';
import { requestRefused } from './requests.js';
import { authRefused } from './owner.js';
import { handleDm, noteHelloDms } from './dms.js';
import { handleRooms } from './directory.js';
import { noteMediaLimits } from './uploads.js';
import { handleTokenCreated, handleTokenRevoked, handleTokens } from './bots.js';

// Frames that name no room the page has yet: the directory's answer, and a
// direct message just opened (its room is new to the page).
const NOT_IN_A_ROOM = ['hello', 'error', 'rooms', 'dm'];

export function handleFrame(frame) {
  // Every frame but `hello` and some errors names a room. Frames for rooms
  // that are not in the sidebar (a late answer after you left) are ignored.
  if (!NOT_IN_A_ROOM.includes(frame.type) && !(typeof frame.room === 'string' && state.has(frame.room))) {
    return;
  }
  switch (frame.type) {
    case 'hello':
      handleHello(frame);
      break;
    case 'joined':
      handleJoined(frame);
      break;
    case 'message':
      handleMessage(frame);
      break;
    case 'system':
      // Moderation notices (kick, mute, ban, claim, topic, …) too: shown as
      // the server words them, and a mute of us locks the composer.
      showSystem(frame.room, frame.text || `${frame.user} ${frame.event === 'leave' ? 'left' : 'joined'}`, frame.ts);
      if (isCurrent(frame.room)) afterAdd();
      noteSystem(frame);
      break;
    // Rooms with owners (issue 16): settings, claims, invites, bans, being
    // put out, direct messages and the directory.
    case 'room':
      handleRoomFrame(frame);
      break;
    case 'claimed':
      handleClaimed(frame);
      break;
    case 'invite_created':
      handleInviteCreated(frame);
      break;
    case 'bans':
      handleBans(frame);
      break;
    // Bot tokens (issue 18), for the room's owner: bots.js.
    case 'token_created':
      handleTokenCreated(frame);
      break;
    case 'tokens':
      handleTokens(frame);
      break;
    case 'token_revoked':
      handleTokenRevoked(frame);
      break;
    case 'removed':
      handleRemoved(frame);
      break;
    case 'dm':
      handleDm(frame);
      break;
    case 'rooms':
      handleRooms(frame);
      break;
    case 'presence':
      state.setMembers(frame.room, frame.members ?? [], frame.verified ?? []);
      if (isCurrent(frame.room)) showMembers();
      break;
    case 'typing':
      if (frame.user === state.me) break;
      state.setTyping(frame.room, frame.user, Date.now() + TYPING_SHOWN_MS);
      if (isCurrent(frame.room)) showTyping();
      break;
    case 'history':
      handleHistory(frame);
      break;
    // Changes to a posted message (actions.js): applied when newer than what we have.
    case 'edit':
      handleEdit(frame);
      break;
    case 'delete':
      handleDelete(frame);
      break;
    case 'reactions':
      handleReactions(frame);
      break;
    case 'error':
      handleError(frame);
      break;
    default:
      // A newer server may send types this page does not know yet; ignoring
      // them keeps old pages working.
      break;
  }
}

function handleHello(frame) {
  // The server's word on who we are beats the page's.
  if (frame.user) state.me = frame.user;
  // Our session's public id: a message carrying it is ours to edit or delete.
  if (frame.uid) state.uid = frame.uid;
  // The limits the page checks before it sends (page.js): the server's own.
  if (frame.limits?.max_text_chars) limits.maxTextChars = frame.limits.max_text_chars;
  if (frame.limits?.max_text_bytes) limits.maxTextBytes = frame.limits.max_text_bytes;
  if (frame.limits?.max_room_chars) limits.maxRoomChars = frame.limits.max_room_chars;
  // null is a value here (no limit), so only a missing key leaves it unknown.
  if (frame.limits && 'edit_window_s' in frame.limits) limits.editWindowS = frame.limits.edit_window_s;
  if (frame.limits?.max_mentions) limits.maxMentions = frame.limits.max_mentions;
  if (frame.limits?.reply_excerpt_chars) limits.replyExcerptChars = frame.limits.reply_excerpt_chars;
  // Uploads on or off, and their limits: the attach and mic buttons (uploads.js).
  noteMediaLimits(frame.limits);
  $('session-banner').hidden = true;
  // Another database than the one our messages came from (a restored
  // backup, another file): their ids mean nothing there, so every room
  // starts over before the joins go out (without `since`). Checked here,
  // not left to `joined`'s gap, because the new ids may run past ours.
  if (frame.epoch && state.epoch && frame.epoch !== state.epoch) {
    for (const room of state.rooms.values()) {
      forgetRoomMessages(room.name);
      showSystem(room.name, 'The server’s history was replaced; the conversation starts again from here.');
    }
  }
  if (frame.epoch) state.epoch = frame.epoch;
  // Whether our name is claimed by us: the ✓, and the Settings' claim section.
  noteHello(frame);
  // Our direct messages, into the sidebar.
  noteHelloDms(frame.dms);
}

function handleMessage(frame) {
  const room = state.room(frame.room);
  const shown = showMessage(frame);
  const fresh = shown === 'new' && frame.user !== state.me;
  if (isCurrent(frame.room)) {
    showTyping(); // the author has stopped typing
    // Your own message always brings you to the bottom, to see it land.
    afterAdd({ fresh: fresh ? 1 : 0, forceScroll: shown === 'echo' });
  }
  if (fresh) noteNewMessages(room, [frame], { live: true });
}

/**
 * A refusal. Each part of the page takes what is about it (one of our
 * messages, a scroll-back request, a join); you see the server's reason.
 */
function handleError(frame) {
  // An edit, delete or reaction of ours: actions.js says why, in a toast.
  if (changeRefused(frame)) return;
  // Muted: the composer says until when (access.js), whatever was refused.
  if (frame.code === 'muted' && frame.room) noteMuted(frame.room, frame.until_ts);
  messageRefused(frame);
  historyRefused(frame);
  if (frame.code === 'muted') return; // the composer says it, and the message waits
  // A kept owner key that is not the room's any more.
  if (authRefused(frame)) return;
  // A private room's door: an invite, the password, locked, banned.
  if (accessRefused(frame)) return;
  // A control's request (claim, settings, kick, …): said next to it.
  if (!frame.client_id && requestRefused(frame)) return;
  if (joinRefused(frame)) return;

  if (frame.code === 'name_taken') {
    showNotice(frame.message || 'Someone with your name is already in this room.', {
      href: loginAgainHref(),
      text: 'Log in with another name',
    });
  } else {
    showNotice(frame.message || `The server refused that (${frame.code}).`);
  }
}

// ================================================================================
// Connection status
// ================================================================================

export function handleStatus(status) {
  $('status').dataset.state = status.state;
  $('status-text').textContent = render.statusText(status);
  $('retry-now').hidden = !(status.state === 'reconnecting' || (status.state === 'offline' && status.reason !== 'session ended'));
  refreshPendingLabels();
}

/**
 * What socket.js found out about an outage (its diagnose()), in words that
 * are true: it asked the server, so the page never has to guess. The
 * banner is an alert, so it is only rewritten when what it says changes.
 */
export function handleTrouble(kind) {
  const banner = $('session-banner');
  const link = $('relogin-link');
  const unsent = socket.unsentCount();
  let text;
  if (kind === 'session-ended') {
    text = 'Your session has ended.';
    // The outbox stays in this browser under your name (outbox.js).
    if (unsent > 0) text += ` ${unsentNote(unsent)}`;
  } else if (kind === 'unreachable') {
    text = 'Server unreachable, still trying…';
    if (unsent > 0) text += ` ${unsentNote(unsent, 'when it is back')}`;
  } else if (kind === 'cannot-open') {
    // /healthz and /session both answer, and still the socket does not open
    // (a proxy in the way, say).
    text = 'The server answers, but the chat connection does not open yet (still trying).';
  } else {
    // 'reachable': the server answers again and our session lives; it is
    // restarting, and the next attempt will most likely work.
    banner.hidden = true;
    return;
  }
  link.hidden = kind !== 'session-ended';
  link.href = loginAgainHref();
  banner.dataset.kind = kind; // the tests read it; so may CSS
  if ($('session-banner-text').textContent !== text) $('session-banner-text').textContent = text;
  banner.hidden = false;
}
