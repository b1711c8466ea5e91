// invite.js — bringing people into the room on screen: every button marked
// data-invite (the side panel's, and the empty room's) copies the room's
// link, location.origin + /r/<room>. Whoever opens it logs in (the login
// page says which room they are invited to) and lands in the room.
//
// The clipboard API needs a secure context and the page's focus; where it
// fails the link shows in a read-only field, selected, ready for Ctrl+C.
//
// It also keeps the empty-room hint: a room with no messages yet says how
// to invite, in the message area. Which messages a room has is the lists'
// business (messages.js, render.js), so this file only watches them.

import { $, current, lists, roomLabel, roomPath, state } from './page.js';
import { roomKey } from './state.js';
import { moderates, roleOfUid } from './roles.js';
import { openRoomDialog } from './room-settings.js';
import { showToast } from './toast.js';

const COPIED_MS = 2500;

export const inviteLink = (name) => `${location.origin}${roomPath(name)}`;

/** Say "Link copied" on the button for a moment, and to screen readers. */
function confirmCopied(button) {
  const label = button.dataset.label ?? button.textContent;
  button.dataset.label = label;
  button.textContent = 'Link copied ✓';
  // The button's own text changing is not announced; the live region is.
  const live = document.getElementById('live-status');
  if (live) live.textContent = 'Invite link copied';
  button.classList.add('copied');
  clearTimeout(Number(button.dataset.timer));
  button.dataset.timer = String(setTimeout(() => {
    button.textContent = label;
    button.classList.remove('copied');
    if (live) live.textContent = ''; // so that the next copy is read out again
  }, COPIED_MS));
}

/** The fallback: the link in a read-only field under the button, selected. */
function showLinkField(button, link) {
  let field = button.parentElement.querySelector('.invite-field');
  if (!field) {
    field = document.createElement('input');
    field.type = 'text';
    field.readOnly = true;
    field.className = 'invite-field';
    field.setAttribute('aria-label', 'Invite link: copy it with Ctrl+C');
    field.addEventListener('focus', () => field.select());
    button.after(field);
  }
  field.value = link;
  field.hidden = false;
  field.focus();
  field.select();
  // The old way still works in many browsers once the text is selected.
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  if (copied) confirmCopied(button);
}

async function copyInvite(button) {
  const room = current();
  if (!room) return;
  // An invite-only room's plain link lets nobody in: its moderators make
  // invite links in the room dialog; others are told whom to ask.
  if (room.settings?.access === 'invite' || room.settings?.dm) {
    if (!room.settings.dm && moderates(roleOfUid(room.settings, state.uid))) {
      openRoomDialog(button);
      $('invite-create').focus();
    } else {
      showToast(room.settings.dm ? 'A direct message is for its two people only.' : `${roomLabel(room)} is invite-only: ask its owner or a moderator for an invite link.`);
    }
    return;
  }
  const link = inviteLink(room.name);
  try {
    if (!navigator.clipboard) throw new Error('no clipboard here');
    await navigator.clipboard.writeText(link);
    button.parentElement.querySelector('.invite-field')?.setAttribute('hidden', '');
    confirmCopied(button);
  } catch {
    showLinkField(button, link);
  }
}

/**
 * Show the hint when the room on screen is joined and has no messages (a
 * posted one or one of yours on its way); hide it otherwise.
 */
export function updateEmptyRoom() {
  const room = current();
  const list = room ? lists.get(roomKey(room.name)) : undefined;
  const empty = Boolean(list && list.dataset.joined === 'true' && !list.querySelector('li.message'));
  const hint = $('empty-room');
  if (empty) $('empty-room-name').textContent = `#${room.name}`;
  hint.hidden = !empty;
  if (room) {
    for (const button of document.querySelectorAll('[data-invite]')) button.title = `Copy the link to #${room.name}`;
  }
}

export function wireInvite() {
  for (const button of document.querySelectorAll('[data-invite]')) {
    button.addEventListener('click', () => copyInvite(button));
  }
  // Lists gain messages, lose them, swap, or are marked joined: look again.
  new MutationObserver(updateEmptyRoom).observe($('scroller'), {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ['hidden', 'data-joined'],
  });
  updateEmptyRoom();
}
