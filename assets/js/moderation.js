// moderation.js — what moderators and owners do to people and messages,
// and the "Message" button that opens a direct message: the member card's
// controls (card.js opens the card), Delete on others' messages in the
// message menu (actions.js asks mayDeleteOthers), and the notices the
// server sends about moderation.
//
// Nobody may act on an equal or higher role (roles.js): a moderator sees
// the controls on members' cards, an owner on moderators' too, and nobody
// on their own card. The server checks every request again.

import { roomKey } from './state.js';
import { $, current, roomLabel, state } from './page.js';
import { sameName } from './render.js';
import { outranks, roleOfName, roleOfUid, ROLE_WORDS } from './roles.js';
import { answered, ask } from './requests.js';
import { myRole, noteModeration } from './room-settings.js';
import { noteMuted } from './access.js';
import { askForDm } from './dms.js';

const card = $('member-card');
// Whose card is open: { name, uid? } (uid when it came from a message).
let target;

const isDm = (room) => Boolean(room?.dm || room?.settings?.dm);

/** How to name the person on the card in a request: by name while they are here, else by uid. */
function who(room) {
  if (room.members.some((m) => sameName(m, target.name))) return { user: target.name };
  if (target.uid) return { uid: target.uid };
  return { user: target.name };
}

const theirRole = (room) => (target.uid ? roleOfUid(room.settings, target.uid) : roleOfName(room.settings, target.name));

/** card.js opened a card: the role and the controls for the room on screen. */
export function showCardActions(name, uid) {
  target = { name, uid };
  $('card-reason').value = '';
  $('card-ban-ip').checked = false;
  refreshCard();
}

/** The card's role and controls, again (the room's settings changed, or the card opened). */
export function refreshCard() {
  if (!card.open || !target) return;
  const room = current();
  const me = sameName(target.name, state.me);
  const role = room ? theirRole(room) : 'member';
  const roleLine = $('card-role');
  roleLine.textContent = room && role !== 'member' ? `${ROLE_WORDS[role]} of ${roomLabel(room)}` : '';
  roleLine.hidden = roleLine.textContent === '';
  const joined = room && !room.shut && room.joined;
  $('card-dm').hidden = me || !joined;
  $('card-dm').textContent = `Message ${target.name}`;
  const mine = myRole(room);
  const may = Boolean(joined && !me && !isDm(room) && outranks(mine, role));
  $('card-mod').hidden = !may;
  if (!may) return;
  const muted = (room.settings?.muted ?? []).some((m) => (target.uid ? m.uid === target.uid : sameName(m.user, target.name)));
  $('card-unmute').hidden = !muted;
  const toggle = $('card-role-toggle');
  toggle.hidden = mine !== 'owner';
  toggle.textContent = role === 'moderator' ? 'Remove moderator' : 'Make moderator';
}

/** Send a moderation request about the person on the card; its refusal shows on the card. */
function act(type, extra = {}) {
  const room = current();
  if (!room || !target) return;
  const frame = { type, room: room.name, ...who(room), ...extra };
  const reason = $('card-reason').value.trim();
  if (reason && ['kick', 'mute', 'ban'].includes(type)) frame.reason = reason;
  $('card-status').textContent = 'Sending…';
  ask(frame, (why) => { $('card-status').textContent = why; });
}

/**
 * A `system` notice (kick, mute, ban, role, …): a mute or unmute of us
 * locks or unlocks the composer; one we did answers our request, and its
 * words show on the card if it is about the person on it.
 */
export function noteSystem(frame) {
  if (frame.uid === state.uid && frame.uid !== undefined) {
    if (frame.event === 'mute') noteMuted(frame.room, frame.until_ts);
    if (frame.event === 'unmute') noteMuted(frame.room, undefined);
  }
  if (frame.by !== undefined && sameName(frame.by, state.me)) {
    answered(frame.room);
    if (card.open && target && frame.user !== undefined && sameName(frame.user, target.name)) {
      $('card-status').textContent = frame.text ?? '';
    }
  }
  noteModeration(frame);
}

/**
 * May we delete this message of someone else's (the message menu)? A
 * moderator may delete members' messages, an owner moderators' too.
 */
export function mayDeleteOthers(msg) {
  const room = state.rooms.get(roomKey(msg.room));
  if (!room || isDm(room)) return false;
  return outranks(myRole(room), roleOfUid(room.settings, msg.uid));
}

export function wireModeration() {
  $('card-kick').addEventListener('click', () => act('kick'));
  $('card-mute').addEventListener('click', () => act('mute', { minutes: Number($('card-mute-time').value) }));
  $('card-unmute').addEventListener('click', () => act('unmute'));
  $('card-ban').addEventListener('click', () => {
    const extra = {};
    const minutes = $('card-ban-time').value;
    if (minutes !== '') extra.minutes = Number(minutes); // omitted: until lifted
    if ($('card-ban-ip').checked) extra.ip = true;
    act('ban', extra);
  });
  $('card-role-toggle').addEventListener('click', () => {
    const room = current();
    if (room) act('set_role', { role: theirRole(room) === 'moderator' ? 'member' : 'moderator' });
  });
  $('card-dm').addEventListener('click', () => {
    const room = current();
    if (!room || !target) return;
    $('card-status').textContent = 'Opening…';
    askForDm(room, target, (why) => { $('card-status').textContent = why; }, () => card.close());
  });
  $('member-card').addEventListener('submit', (event) => event.preventDefault());
}
