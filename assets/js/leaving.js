// leaving.js — leaving the page without losing what you typed: "Log out"
// asks first and says what is not sent yet, and the browser warns before a
// tab with unsent messages closes or reloads.
//
// Nothing is thrown away on the way out: the outbox stays in this browser
// under your name (outbox.js) and is sent when you log in again with the
// same name. The warning is there because until then nobody reads them.

import { $, socket, state } from './page.js';

// Set when you chose to go and were told what happens to your unsent
// messages (you confirmed the log-out, or followed "Log in again"): then the
// browser's warning would only ask the same question twice.
let leavingOnPurpose = false;

/** "2 messages are not sent yet; they will be sent when you log in again as alice." */
export function unsentNote(count, when = `when you log in again as ${state.me}`) {
  return count === 1
    ? `1 message is not sent yet; it will be sent ${when}.`
    : `${count} messages are not sent yet; they will be sent ${when}.`;
}

// --- "Log out?" -----------------------------------------------------------------

function askLogout() {
  const unsent = socket.unsentCount();
  const note = $('logout-unsent');
  note.textContent = unsent > 0 ? unsentNote(unsent) : '';
  note.hidden = unsent === 0;
  $('logout-confirm').hidden = false;
  $('logout-ask').setAttribute('aria-expanded', 'true');
  // Cancel has the focus: Enter pressed twice by habit must not log you out.
  $('logout-cancel').focus();
}

function cancelLogout({ refocus = true } = {}) {
  $('logout-confirm').hidden = true;
  $('logout-ask').setAttribute('aria-expanded', 'false');
  if (refocus) $('logout-ask').focus();
}

export function wireLeaving() {
  $('logout-ask').addEventListener('click', () => {
    if ($('logout-confirm').hidden) askLogout();
    else cancelLogout();
  });
  $('logout-cancel').addEventListener('click', cancelLogout);
  $('logout-confirm').addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      cancelLogout();
    }
  });
  // A click or tap anywhere else puts the question away, as a menu would.
  // (pointerdown, not focusout: Safari does not focus a clicked button, so
  // focus would seem to leave on the way to "Yes".)
  document.addEventListener('pointerdown', (event) => {
    if (!$('logout-confirm').hidden && !$('logout-form').contains(event.target)) cancelLogout({ refocus: false });
  });
  $('logout-form').addEventListener('submit', () => {
    leavingOnPurpose = true;
  });
  // The session-ended banner's link: the banner said the messages are kept.
  $('relogin-link').addEventListener('click', () => {
    leavingOnPurpose = true;
  });

  // Only with unsent messages: a warning every time would teach you to
  // click it away without reading.
  window.addEventListener('beforeunload', (event) => {
    if (leavingOnPurpose || socket.unsentCount() === 0) return;
    event.preventDefault();
    event.returnValue = ''; // older browsers ask for this instead
  });
  // Back from the browser's page cache after leaving: you are here again.
  window.addEventListener('pageshow', () => {
    leavingOnPurpose = false;
  });
}
