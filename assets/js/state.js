// state.js — the little bit of memory the chat page keeps.
//
// Everything the page shows can be rebuilt from this state. It knows
// nothing about the DOM or the WebSocket: chat.js feeds it server frames
// and asks it questions ("have I seen this id?", "what was the last id?").
//
// The server makes rooms whose names look alike one room ("Lobby",
// "lobby", "Ｌｏｂｂｙ" and "café" written two ways; README, "The protocol"),
// so every lookup goes through roomKey().

/**
 * The key a room is stored under: its name in NFKC form and lower case,
 * which is the server's key for case, accents written two ways and
 * fullwidth letters. The server also matches look-alike letters (a
 * Cyrillic "о" for an "o"), which the page has no table for: then it
 * learns the room's real name from `joined` (ChatSocket's onRename).
 *
 * It is a shortcut for finding a room, not a naming rule: it refuses
 * nothing, and it never makes one room of two the server keeps apart,
 * because the server's key starts from this same NFKC, lower-cased form
 * (`room_key` in src/protocol). Where the two differ, the server's answer
 * wins.
 */
export function roomKey(name) {
  return String(name).normalize('NFKC').toLowerCase();
}

/** One room's state. */
function newRoom(name) {
  return {
    name,                  // the spelling the server uses for this room
    messages: new Map(),   // id -> message frame; the Map makes duplicates impossible
    lastId: undefined,     // highest message id seen ("New since you left" counts from it)
    // The room's resume point: the highest number of the room's one sequence
    // seen so far, over every message `id` and `rev`, every change frame's
    // `seq` and `joined.cursor`. Sent as `since` after a reconnect, so the
    // server replays what we missed: new messages, and changes (edits,
    // deletes, reactions) to the ones we have.
    cursor: undefined,
    // A reply's original being looked for ({ id, found, missing }, scroll.js):
    // scroll-back pages until it is loaded, or the beginning shows.
    seeking: undefined,
    firstId: undefined,    // lowest message id seen; scroll-back asks for ids `before` it
    loadingOlder: false,   // a `history` request is on its way: never two at once per room
    reachedStart: false,   // the server said `more: false`: nothing older exists, stop asking
    members: [],           // sorted list of names, as the server sends it
    verified: [],          // those of them whose names are claimed (✓), as the server says
    typing: new Map(),     // user -> time (ms) until which "is typing" is shown
    joined: false,         // has the server ever confirmed this room (`joined`)?
    unread: 0,             // messages from others you have not seen yet
    mentions: 0,           // how many of those mention you
    // Where you were in this room's list when you switched away, so coming
    // back puts you at the same place (or at the bottom, if you were there).
    scrollTop: 0,
    atBottom: true,
    unseenBelow: 0,        // the "N new messages" pill's count for this room
    // Issue 16: the room's settings as the server last sent them (`joined`,
    // `room` frames): owner, topic, access, roles, mutes, live invites.
    settings: undefined,
    mutedUntil: undefined, // ms: we are muted here until then (`joined.muted_until`, a mute notice)
    // Why we cannot write here now, when we cannot (access.js): removed
    // (kicked or banned) or refused at the door. { kind, text, rejoin? }
    shut: undefined,
    dm: undefined,         // a direct message: { with, with_uid } (dms.js)
  };
}

/** The number of a message's latest change: `rev`, or its `id` when it never changed. */
export const revOf = (msg) => msg.rev ?? msg.id;

export class ChatState {
  /** @param {string} me  the name the server knows us by */
  constructor(me) {
    this.me = me;
    // roomKey -> room, for exactly the rooms in the sidebar, in sidebar order
    // (a Map remembers insertion order).
    this.rooms = new Map();
    this.current = undefined;  // roomKey of the room on screen
    this.uid = undefined;      // our session's public id from `hello`: a message with it is ours
    // client_id -> { room, text, status: 'pending' | 'unsaved' | 'failed', attempts }
    // 'unsaved': the server could not store it (storage_failed). It is still
    // ours to deliver: the page retries it later, unlike 'failed'.
    this.pending = new Map();
    this.counter = 0;          // makes client ids unique within this page
    this.epoch = undefined;    // the database's epoch from `hello`: our ids are from it
    // Is our name claimed by this session (hello's `verified`, or a claim
    // made on this page)? Then we get the ✓ too.
    this.verified = false;
  }

  /** Is this room in the sidebar? Frames for other rooms are ignored. */
  has(name) {
    return this.rooms.has(roomKey(name));
  }

  /** The room on screen. */
  currentRoom() {
    return this.rooms.get(this.current);
  }

  /**
   * The server answered our join for `from` as room `to` (a look-alike
   * name): the room, its pending messages and the screen move to `to`'s
   * key. If `to` is in the sidebar already, `from` simply goes. The room
   * keeps the name it had; `joined` gives it the server's.
   */
  renameRoom(from, to) {
    const [fromKey, toKey] = [roomKey(from), roomKey(to)];
    const room = this.rooms.get(fromKey);
    this.rooms.delete(fromKey);
    if (room && !this.rooms.has(toKey)) this.rooms.set(toKey, room);
    for (const entry of this.pending.values()) {
      if (roomKey(entry.room) === fromKey) entry.room = to;
    }
    if (this.current === fromKey) this.current = toKey;
  }

  /** Take a room out of the sidebar (you left it, or the server refused it). */
  removeRoom(name) {
    const key = roomKey(name);
    this.rooms.delete(key);
    for (const [clientId, entry] of this.pending) {
      if (roomKey(entry.room) === key) this.pending.delete(clientId);
    }
  }

  /**
   * The number for the tab title: unread messages in every room, except
   * that a muted room only counts the messages that mention you.
   */
  unreadTotal(isMuted) {
    let total = 0;
    for (const room of this.rooms.values()) {
      total += isMuted(room.name) ? room.mentions : room.unread;
    }
    return total;
  }

  /** The room's state, created on first use. */
  room(name) {
    const key = roomKey(name);
    let room = this.rooms.get(key);
    if (!room) {
      room = newRoom(name);
      this.rooms.set(key, room);
    }
    return room;
  }

  /**
   * Remember a chat message. Returns false when this id was already seen:
   * after a reconnect, `joined.history` may repeat messages we have, and the
   * caller must not show them twice.
   */
  addMessage(msg) {
    const room = this.room(msg.room);
    room.name = msg.room;
    this.noteSeq(msg.room, revOf(msg));
    if (room.messages.has(msg.id)) return false;
    room.messages.set(msg.id, msg);
    if (room.lastId === undefined || msg.id > room.lastId) room.lastId = msg.id;
    if (room.firstId === undefined || msg.id < room.firstId) room.firstId = msg.id;
    // Whoever just spoke has stopped typing.
    room.typing.delete(msg.user);
    return true;
  }

  /**
   * A message we may have already, in its current state (`joined.history`
   * and `changes`, a `history` page): stored if it is new, or in place of
   * ours if it is newer than ours (a higher rev). Returns 'new', 'updated'
   * or 'seen' (ours is as new: nothing to do).
   */
  upsertMessage(msg) {
    const room = this.room(msg.room);
    const known = room.messages.get(msg.id);
    if (!known) return this.addMessage(msg) ? 'new' : 'seen';
    this.noteSeq(msg.room, revOf(msg));
    if (revOf(msg) <= revOf(known)) return 'seen';
    room.messages.set(msg.id, msg);
    return 'updated';
  }

  /** A message of this room by id, if the page has it. */
  message(roomName, id) {
    return this.rooms.get(roomKey(roomName))?.messages.get(id);
  }

  /**
   * A live change frame (`edit`, `delete`, `reactions`) for message `id`:
   * `change(msg)` returns its new state, applied only when `seq` is newer
   * than the message's rev (an older or equal one is applied already).
   * Either way the cursor moves on. Returns the new message, or undefined
   * when nothing changed (not loaded, or not newer).
   */
  applyChange(roomName, id, seq, change) {
    this.noteSeq(roomName, seq);
    const room = this.rooms.get(roomKey(roomName));
    const known = room?.messages.get(id);
    if (!known || !(seq > revOf(known))) return undefined;
    const updated = { ...change(known), rev: seq };
    room.messages.set(id, updated);
    return updated;
  }

  /** Move the room's cursor on to `n`, if it is further. */
  noteSeq(roomName, n) {
    if (!Number.isSafeInteger(n)) return;
    const room = this.room(roomName);
    if (room.cursor === undefined || n > room.cursor) room.cursor = n;
  }

  /** Start the room's message history over (the server restarted). */
  forgetMessages(roomName) {
    const room = this.room(roomName);
    room.messages.clear();
    room.cursor = undefined;
    room.lastId = undefined;
    // The ids began again, so "the beginning" has to be found again too.
    room.firstId = undefined;
    room.reachedStart = false;
  }

  /** The `since` value for a re-join: the room's cursor, or undefined. */
  lastSeen(roomName) {
    return this.rooms.get(roomKey(roomName))?.cursor;
  }

  /**
   * Your newest message in the room that you may still edit (↑ in an
   * empty composer): yours by uid, not deleted, within the edit window
   * (`windowS` seconds, null: no limit, 0: editing is off).
   */
  lastEditable(roomName, windowS, now = Date.now()) {
    const room = this.rooms.get(roomKey(roomName));
    if (!room) return undefined;
    let newest;
    for (const msg of room.messages.values()) {
      if (!this.mayEdit(msg, windowS, now)) continue;
      if (!newest || msg.id > newest.id) newest = msg;
    }
    return newest;
  }

  /** Is `msg` ours (by uid) and not deleted? */
  isMine(msg) {
    return this.uid !== undefined && msg.uid === this.uid && !msg.deleted;
  }

  /** Ours, and still within the edit window. */
  mayEdit(msg, windowS, now = Date.now()) {
    if (!this.isMine(msg) || windowS === 0) return false;
    return windowS === null || windowS === undefined || now - msg.ts < windowS * 1000;
  }

  /** The room's members, and which of them are verified (claimed names). */
  setMembers(roomName, members, verified = []) {
    const room = this.room(roomName);
    room.members = [...members];
    room.verified = [...verified];
  }

  // --- typing -------------------------------------------------------------

  /** Someone is typing: show it until `until` (a Date.now() value). */
  setTyping(roomName, user, until) {
    this.room(roomName).typing.set(user, until);
  }

  /** Names still typing at time `now`; forgets the ones that expired. */
  typingUsers(roomName, now) {
    const typing = this.room(roomName).typing;
    for (const [user, until] of typing) {
      if (until <= now) typing.delete(user);
    }
    return [...typing.keys()];
  }

  // --- our own messages on their way to the server --------------------------

  /**
   * A fresh client_id. The server uses it to recognise a message it has
   * already posted, so it must be unique: random UUID when the browser has
   * one (only in secure contexts), counter + random otherwise.
   */
  newClientId() {
    this.counter += 1;
    if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
    return `c-${Date.now().toString(36)}-${this.counter}-${Math.random().toString(36).slice(2, 10)}`;
  }

  /**
   * Record a message we typed; it stays pending until the server echoes it.
   * A message kept from an earlier page (outbox.js) comes with its client_id.
   */
  addPending(roomName, text, clientId = this.newClientId()) {
    this.pending.set(clientId, { room: roomName, text, status: 'pending', attempts: 0 });
    return clientId;
  }

  /** The server refused it: keep it on screen, marked as failed. */
  failPending(clientId) {
    const entry = this.pending.get(clientId);
    if (entry) entry.status = 'failed';
    return entry;
  }

  /**
   * The server could not save it (storage_failed): it stays ours, waiting
   * for a retry. `attempts` counts these refusals and drives the backoff.
   */
  holdUnsaved(clientId) {
    const entry = this.pending.get(clientId);
    if (!entry) return undefined;
    entry.status = 'unsaved';
    entry.attempts += 1;
    return entry;
  }

  /** Try a failed or unsaved message again: it is pending once more. */
  retryPending(clientId) {
    const entry = this.pending.get(clientId);
    if (entry) entry.status = 'pending';
    return entry;
  }

  /** The real message arrived (or the user removed a failed one). */
  removePending(clientId) {
    return this.pending.delete(clientId);
  }

  /**
   * Find a pending message that matches `msg` by content. A fallback for
   * history after a reconnect: if the connection dropped after the server
   * posted our message but before its echo reached us, `joined.history`
   * holds it, normally with our client_id. Should it come without one:
   * same room, our name, same text, still pending is almost certainly ours.
   */
  findPendingLike(msg) {
    if (msg.user !== this.me) return undefined;
    for (const [clientId, entry] of this.pending) {
      if (entry.status === 'pending' && roomKey(entry.room) === roomKey(msg.room) && entry.text === msg.text) {
        return clientId;
      }
    }
    return undefined;
  }
}
