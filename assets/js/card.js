// card.js — a member's card: who is behind a name. Opened from the card
// button beside each name in the member list, and from a message's author
// (render.js draws both as buttons carrying data-card="<name>", so the
// keyboard reaches them). Clicking the name itself in the member list still
// mentions them, as it always did (mentions.js).
//
// A claimed name has a card on the server (GET /u/<name>?format=json):
// ✓ "verified name", the owner's bio and colour, and since when it is
// claimed. A name nobody claimed (404) is a temporary one: whoever logs in
// with it while it is free is "them", so the card says exactly that.
//
// The card is a modal <dialog>: Esc closes it, and the focus goes back to
// the button that opened it.

import { $ } from './page.js';
import { askServer } from './account-dialog.js';
import { showCardActions } from './moderation.js';

const card = $('member-card');
let opener = null;
/** The name whose card is on screen: a late answer for another is dropped. */
let showing;

/** Put the card in its "we know only the name" state. */
function reset(name) {
  $('card-name').textContent = name;
  for (const id of ['card-verified', 'card-bio', 'card-since', 'card-temporary', 'card-swatch']) $(id).hidden = true;
  $('card-status').textContent = 'Loading…';
}

/** Fill the card from the server's answer for `name`. */
function fill(name, answer) {
  $('card-status').textContent = '';
  if (answer.status === 404) {
    $('card-temporary').hidden = false;
    return;
  }
  if (!answer.ok) {
    $('card-status').textContent = answer.body.error;
    return;
  }
  const info = answer.body;
  $('card-name').textContent = info.user ?? name;
  $('card-verified').hidden = info.verified !== true;
  $('card-bio').textContent = info.bio ?? '';
  $('card-bio').hidden = !info.bio;
  if (info.since) $('card-since').textContent = `Claimed since ${info.since}`;
  $('card-since').hidden = !info.since;
  // The owner's colour, as a swatch before the name. Only a #rrggbb value
  // (the server allows no other) goes into the style.
  const swatch = $('card-swatch');
  const color = /^#[0-9a-f]{6}$/iu.test(info.color ?? '') ? info.color : '';
  swatch.style.background = color;
  swatch.hidden = color === '';
  swatch.title = color ? `Colour ${color}` : '';
}

/** Open `name`'s card; `from` gets the focus back when it closes. */
export async function openCard(name, from) {
  opener = from ?? null;
  showing = name;
  reset(name);
  if (!card.open) card.showModal();
  // Their role here, "Message", and for moderators what they may do (moderation.js).
  showCardActions(name, from?.dataset?.cardUid);
  $('card-close').focus();
  const answer = await askServer(`/u/${encodeURIComponent(name)}?format=json`);
  if (showing === name && card.open) fill(name, answer);
}

export function wireCard() {
  // One listener for every card button, in the member list and on messages,
  // drawn and redrawn by render.js.
  document.addEventListener('click', (event) => {
    const button = event.target.closest?.('[data-card]');
    if (!button) return;
    openCard(button.dataset.card, button);
  });
  $('card-close').addEventListener('click', () => card.close());
  // A click on the dimmed page around the card closes it (the ::backdrop is
  // part of the <dialog> element, outside its box).
  card.addEventListener('click', (event) => {
    if (event.target !== card) return;
    const box = card.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) card.close();
  });
  card.addEventListener('close', () => {
    showing = undefined;
    // The list may have been redrawn meanwhile: then the same name's button.
    const again = opener?.isConnected ? opener : document.querySelector(`[data-card="${CSS.escape(opener?.dataset.card ?? '')}"]`);
    again?.focus();
    opener = null;
  });
}
