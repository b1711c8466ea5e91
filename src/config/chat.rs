//! What a name, a room and a message may be, and what the hub keeps of
//! them: the limits the protocol checks and the page is told (`hello`), and
//! the ones that shape answers (history, presence, typing).

use std::time::Duration;

/// Longest display name, in characters, after trimming. A longer name is refused
/// at login with a message that names this limit. 24 fits a member list on a phone.
pub const MAX_NAME_CHARS: usize = 24;

/// Longest room name, in characters, after trimming. Refused at login and in
/// `join` (`bad_room`). 64 is plenty for a name and short enough for a URL.
pub const MAX_ROOM_CHARS: usize = 64;

/// Longest chat message, in characters, after trimming. A longer one gets an
/// `error` with code `text_too_long` and is not posted. The seed had no limit;
/// 4000 is a long screenful and keeps history in memory bounded.
pub const MAX_TEXT_CHARS: usize = 4000;

/// Longest chat message in bytes of UTF-8, checked alongside
/// [`MAX_TEXT_CHARS`]: a longer one gets `text_too_long`, saying it was the
/// bytes, and is not posted. Characters alone do not bound the size: 4000
/// emoji are 16 KB. 12,000 is 4000 characters of 3 bytes, the most any
/// character of the Basic Multilingual Plane takes, so a message at the
/// character limit fits in every living script (Chinese, Hindi and Thai
/// included); only 4-byte characters (emoji, rare ideographs) meet this limit
/// first, at 3000. With control characters refused, JSON escaping only
/// doubles `"`, `\`, newline and tab, so a message's text takes at most
/// 13,332 bytes on the wire (1334 of those and 2666 emoji), and a room's 200
/// messages in memory at most 2.4 MB.
pub const MAX_TEXT_BYTES: usize = 12_000;

/// Longest `client_id` a page may attach to a message (`bad_client_id` beyond).
/// A UUID is 36 characters.
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// Largest WebSocket message, and largest single frame, the server will read.
/// A bigger one closes the connection with 1009 before the payload is buffered:
/// tungstenite checks the announced length against this first. A message's
/// text is at most [`MAX_TEXT_BYTES`] (under 14 KB escaped), so 64 KiB is generous.
pub const MAX_WS_MESSAGE_BYTES: usize = 64 * 1024;

/// How deeply a request's JSON may nest (`[` and `{`); a deeper frame is
/// refused with `bad_json` before serde_json sees it. Requests are one
/// flat object (depth 1); serde_json allows 128, and that deep a recursion on a reader
/// thread's small stack ([`READER_STACK_BYTES`](super::READER_STACK_BYTES))
/// could overflow it in a debug build. 16 leaves room, and checking it is
/// one linear scan of the frame.
pub const MAX_JSON_DEPTH: usize = 16;

/// How many rooms one connection may be in at once (`too_many_rooms` beyond).
pub const MAX_ROOMS_PER_CONNECTION: usize = 32;

/// How many recent messages each room keeps in memory, sent in `joined` and used
/// to answer `since`. Overridable with `--history`.
pub const DEFAULT_HISTORY: usize = 200;

/// How many of a session's recent `client_id`s the hub remembers to drop resent
/// duplicates. A page resends at most its outbox after a reconnect, which is far
/// smaller than this.
pub const CLIENT_ID_MEMORY: usize = 256;

/// How long after a user's last connection leaves a room before the leave notice
/// is posted. A page reload reconnects well within this, so it posts nothing.
pub const LEAVE_GRACE: Duration = Duration::from_secs(4);

/// After a restart, how long a session that was in a room when natter stopped
/// has to come back before its leave notice is posted. Longer than
/// [`LEAVE_GRACE`]: every page reconnects at once, and a page that was in its
/// longest wait between retries (10 s, `assets/js/socket.js`) still comes back
/// within it, so a restart announces nobody.
pub const RESTART_GRACE: Duration = Duration::from_secs(20);

/// `typing` notices from one member of a room are passed on at most once per
/// this long; the rest are dropped (the page shows "is typing" for 5 s after
/// each, so nobody notices). They travel in the room's batch with everything
/// else, never as a frame queued per recipient.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(1);

/// Member lists (`presence`) for a room go out at most once per this much time
/// per member in the room, capped by [`MAX_PRESENCE_INTERVAL`]. A member list
/// is sent to every member, so n joins in a row would cost n² names; spacing
/// the lists out in big rooms keeps a join storm linear. Join and leave notices
/// still go out at once; a 10-person room gets its list within 10 ms.
pub const PRESENCE_INTERVAL_PER_MEMBER: Duration = Duration::from_millis(1);

/// The longest a member list waits; see [`PRESENCE_INTERVAL_PER_MEMBER`].
pub const MAX_PRESENCE_INTERVAL: Duration = Duration::from_secs(2);

/// Most messages one `history` request returns (scroll-back pages).
pub const MAX_HISTORY_PAGE: usize = 100;

/// Most bytes of messages in one `joined` or `history` answer; it is also
/// held to half of what is free in the asker's outbound queue. Past it the
/// oldest messages are left out: `history` says `more: true` (the page asks
/// again), `joined` with `since` says `gap: true`. So a room full of long
/// messages can always be joined and scrolled; without a bound, 44 long
/// messages made every join overflow the 1 MiB queue and close the joiner.
pub const MAX_REPLY_BYTES: usize = 256 * 1024;

/// Most missed messages a `join` with `since` replays from storage. Past it the
/// reply says `gap: true` and the page starts the room afresh.
pub const MAX_RESUME: usize = 1000;

/// How long after posting a message its author may edit it: 10 minutes by
/// default, as Zulip (`--edit-window MIN`; `0` turns editing off, `off`
/// allows it for ever). Past it an edit is refused with `edit_window`.
/// Deleting your own message has no window.
pub const EDIT_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Most distinct emoji on one message (Discord's limit, its error 30010).
/// The 21st is refused with `too_many_reactions`; adding yourself to an
/// emoji already there always works.
pub const MAX_REACTIONS: usize = 20;

/// Most names a reaction's summary lists per emoji (`users`, `uids`); its
/// `count` is always the whole number. Keeps a frame small in a big room.
pub const MAX_REACTION_NAMES: usize = 20;

/// Most bytes of one reaction's emoji. The longest emoji sequences (a family
/// with skin tones, a flag of a region) are about 28 bytes.
pub const MAX_EMOJI_BYTES: usize = 32;

/// Most people one message mentions; further names are dropped.
pub const MAX_MENTIONS: usize = 20;

/// Characters of the original's text a reply's preview carries.
pub const REPLY_EXCERPT_CHARS: usize = 120;
