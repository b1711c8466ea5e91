// account.js — claimed names: the Settings dialog's "Claim your name"
// section, and what the page knows of who is verified.
//
// A claimed name is one only its owner can use, in every room: they log in
// with its password. The server says which names are: `hello.verified` for
// this session's own, `joined` and `presence` list the room's members whose
// names are claimed (`verified`), and a message carries `verified: true`
// when its author was logged in on a claimed name. render.js draws the ✓
// from these; this file keeps our own and asks the server for a claim.
//
// The claim is a plain POST /account/claim (form-encoded, with the session
// cookie; fetch sends the page's Origin, which the server checks as it does
// for the login form). The server judges the password and answers in JSON;
// the page shows its words. The page itself checks only what cannot be
// wrong to check: that both fields were filled in and that they match.

import { $, state } from './page.js';
import { showMembers } from './messages.js';

/** Did the server ever say, on this page, that our name is not claimed? */
let claimable = false;
/** A claim is on its way: a second press of Enter does not send another. */
let busy = false;

/** Put our name (the server's word, from hello) wherever the section says it. */
function fillName() {
  for (const span of document.querySelectorAll('[data-my-name]')) {
    if (span.textContent !== state.me) span.textContent = state.me;
  }
  $('claim-username').value = state.me;
}

/**
 * The section as the state says: hidden while the server never said our
 * name is unclaimed (a server without accounts says nothing: then there is
 * nothing to claim), the form while it is not, "“alice” is yours ✓" once
 * it is (after a claim made on this page).
 */
function updateClaimSection() {
  fillName();
  $('claim-section').hidden = !claimable;
  $('claim-form').hidden = state.verified;
  $('claim-done').hidden = !state.verified;
}

/** hello: whether this session's name is claimed by it (frames.js). */
export function noteHello(frame) {
  if (typeof frame.verified !== 'boolean') {
    updateClaimSection();
    return;
  }
  state.verified = frame.verified;
  if (!frame.verified) claimable = true;
  updateClaimSection();
}

/** The server took the claim: we are verified now, on screen at once (its presence frames follow). */
function claimed(user) {
  if (user) state.me = user;
  state.verified = true;
  for (const room of state.rooms.values()) {
    if (room.members.includes(state.me) && !room.verified.includes(state.me)) room.verified.push(state.me);
  }
  $('claim-password').value = '';
  $('claim-confirm').value = '';
  updateClaimSection();
  showMembers();
  $('claim-done').focus();
}

/** Show a refusal under the fields; `field` is the one to fix, and gets the focus. */
function showClaimError(text, field = $('claim-password')) {
  $('claim-error').textContent = text;
  for (const input of [$('claim-password'), $('claim-confirm')]) {
    if (input === field) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
  field.focus();
}

function clearClaimError() {
  $('claim-error').textContent = '';
  $('claim-password').removeAttribute('aria-invalid');
  $('claim-confirm').removeAttribute('aria-invalid');
}

/** The wait the server asked for, in seconds: the JSON's retry_after, else the header. */
function retryAfter(response, body) {
  const seconds = Number(body?.retry_after ?? response.headers.get('Retry-After'));
  return Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : undefined;
}

/** What to say for an answer that is not a success: the server's words when it gave some. */
function refusalText(response, body) {
  const wait = retryAfter(response, body);
  const later = wait ? ` Try again in ${wait} s.` : ' Try again in a moment.';
  switch (response.status) {
    case 401: return 'Your session has ended: log in again, then claim your name.';
    case 429: return body?.error ?? `Too many tries.${later}`;
    case 503: return body?.error ?? `The server is busy checking passwords.${later}`;
    default: return body?.error ?? `The server refused the claim (status ${response.status}).`;
  }
}

async function submitClaim(event) {
  event.preventDefault();
  if (busy) return;
  const password = $('claim-password').value;
  const confirm = $('claim-confirm').value;
  if (password === '') return showClaimError('Type the password you want for your name.');
  if (confirm !== password) return showClaimError('The two passwords differ: type the same one twice.', $('claim-confirm'));
  clearClaimError();

  busy = true;
  const button = $('claim-button');
  // aria-disabled, not disabled: a disabled button would drop the focus
  // out of the dialog while it waits.
  button.setAttribute('aria-disabled', 'true');
  try {
    const response = await fetch('/account/claim', {
      method: 'POST',
      body: new URLSearchParams({ password, confirm }),
      credentials: 'same-origin',
    });
    const body = await response.json().catch(() => undefined);
    if (response.ok && body?.ok) claimed(body.user);
    else showClaimError(refusalText(response, body));
  } catch {
    showClaimError('The server could not be reached: try again in a moment.');
  } finally {
    busy = false;
    button.removeAttribute('aria-disabled');
  }
}

export function wireAccount() {
  $('claim-form').addEventListener('submit', submitClaim);
  updateClaimSection();
}
