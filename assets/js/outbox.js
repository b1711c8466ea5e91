// outbox.js — your unsent messages, kept in this browser (localStorage), so
// that a reload, a closed tab, a log-out or a "log in again" loses none of
// them.
//
// socket.js keeps the outbox in memory and mirrors every change here; on the
// next page load composer.js shows what is left as pending and socket.js
// sends it after `joined`. Sending a message twice is safe: the server never
// posts the same client_id twice in a room, and answers a resend with the
// original.
//
// One list per user name ("natter.outbox.alice"), so logging in again with
// the same name after a session ended still sends them, and nobody else's
// page ever sends them. Several tabs of one user share the list, so every
// change reads the stored list afresh and changes only its own entries
// instead of writing this tab's copy over the others'.
//
// localStorage can throw (disabled, private mode, full): then the outbox
// lasts as long as the page, as it did before, and nothing breaks.

const PREFIX = 'natter.outbox.';
// What a message frame may carry besides its text, kept so that the next
// page sends the very same message: a /me, a reply, its mentions, its
// attachments (upload ids: without them it would be half a message).
const EXTRA_FIELDS = ['action', 'reply_to', 'mentions', 'attachments'];

export class StoredOutbox {
  /** @param {string} user  the name whose outbox this is */
  constructor(user) {
    this.key = PREFIX + user;
  }

  /**
   * Every stored entry, oldest first: { client_id, room, text, ts }, and
   * the message's action, reply_to and mentions when it has them.
   */
  all() {
    try {
      const list = JSON.parse(localStorage.getItem(this.key) || '[]');
      return Array.isArray(list) ? list.filter(isEntry) : [];
    } catch {
      return [];
    }
  }

  /** Keep a message (or update the one with its client_id, in place). */
  put({ client_id, room, text, ts = Date.now(), ...frame }) {
    this.change((list) => {
      const entry = { client_id, room, text, ts };
      for (const field of EXTRA_FIELDS) if (frame[field] !== undefined) entry[field] = frame[field];
      const at = list.findIndex((e) => e.client_id === client_id);
      if (at === -1) list.push(entry);
      else list[at] = { ...entry, ts: list[at].ts };
    });
  }

  /** Forget the messages this predicate picks (by client_id, or by room). */
  remove(picks) {
    this.change((list) => list.splice(0, list.length, ...list.filter((e) => !picks(e))));
  }

  change(edit) {
    try {
      const list = this.all();
      edit(list);
      if (list.length === 0) localStorage.removeItem(this.key);
      else localStorage.setItem(this.key, JSON.stringify(list));
    } catch {
      // Not kept across a reload; the page still has it in memory.
    }
  }
}

function isEntry(e) {
  return e && typeof e.client_id === 'string' && typeof e.room === 'string' && typeof e.text === 'string';
}
