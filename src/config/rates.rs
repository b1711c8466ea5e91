//! Rate limits (a decaying score per session and per address, see
//! `ratelimit.rs`) and how many sessions live, and for how long.

use std::time::Duration;

/// Rate limit threshold, per session: a session whose decaying score reaches
/// this is refused (`rate_limited`) until it decays; at twice this its
/// connection is closed with 1008. The numbers are hack.chat's: about 23
/// quick messages from rest pass. Overridable with `--rate-limit N`, or
/// `--rate-limit off` (which turns off the per-address budget too).
pub const RATE_THRESHOLD: f64 = 25.0;

/// The per-address budget is this many times the per-session one (unless
/// `--address-rate-limit N` sets it). Everything a session is charged, its
/// address is charged too, and logins are charged to the address alone. A
/// class of 30 behind one NAT address logs in, connects and joins (5 points
/// each, 150 in all) within it; one visitor who opens many sessions gets at
/// most this many sessions' worth.
pub const ADDRESS_RATE_FACTOR: f64 = 10.0;

/// The score halves every this long.
pub const RATE_HALF_LIFE: Duration = Duration::from_secs(30);

/// Cost of a chat message: this, plus its length over [`RATE_CHARS_PER_POINT`].
pub const RATE_COST_MESSAGE: f64 = 1.0;

/// A message costs one more point per this many characters.
pub const RATE_CHARS_PER_POINT: f64 = 332.0;

/// Cost of deleting a message (an edit costs what a message of its length
/// does, see `cmd::post::cost`).
pub const RATE_COST_DELETE: f64 = 1.0;

/// Cost of adding or removing a reaction: a reaction storm is charged like
/// a message storm, and every one takes a number of the room's sequence.
pub const RATE_COST_REACT: f64 = 1.0;

/// Cost of joining a room (joining is work for the server and noise for others).
pub const RATE_COST_JOIN: f64 = 3.0;

/// Cost of a frame that breaks the protocol's rules: two of those are a burst.
pub const RATE_COST_INVALID: f64 = 13.0;

/// Cost of a `history` page: a database read. Scrolling back through a busy
/// room a page at a time stays well inside the budget.
pub const RATE_COST_HISTORY: f64 = 1.0;

/// Cost of opening a WebSocket. Each connection is a thread, so an address
/// that reconnects in a loop is refused at the handshake (429) once its score
/// reaches the threshold, before a thread does any more work for it. Only an
/// accepted handshake is charged: refusals are not, so pages that retry behind
/// one NAT do not keep each other out.
pub const RATE_COST_CONNECT: f64 = 1.0;

/// Cost of a login, charged to the address (a session does not exist yet).
/// Refused logins are charged too. At the default budget one address can
/// make about 250 sessions in a burst, then about 6 a second; the cap on
/// sessions per address ([`MAX_SESSIONS_PER_IP`]) stops it sooner.
pub const RATE_COST_LOGIN: f64 = 1.0;

/// Cost of a `typing` notice. A page sends one at most every 3 s while you
/// type, which costs next to nothing; a flood of them is charged like anything
/// else, and the flooder is refused, then closed.
pub const RATE_COST_TYPING: f64 = 0.25;

/// Cost of a `leave`: cheap, but a leave-and-join loop is not free.
pub const RATE_COST_LEAVE: f64 = 1.0;

/// Cost of a control frame from a client: a ping (which the server must
/// answer) or a pong. Browsers only answer the server's pings, one per 25 s.
pub const RATE_COST_CONTROL: f64 = 0.25;

/// A session with no open socket for this long expires; its cookie stops working.
pub const SESSION_IDLE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Most live sessions. A login past it evicts the oldest session without an
/// open socket (one that never opened one first), so a login flood cannot
/// grow memory without bound, nor lock newcomers out. Only when every session
/// has a socket open is a login refused (503). Overridable with
/// `--max-sessions`.
pub const MAX_SESSIONS: usize = 50_000;

/// Most sessions made from one address (an IPv6 /64 counts as one). A login
/// past it evicts that address's oldest session without an open socket; if
/// all of them have one, it is refused (429). A school behind one NAT address
/// fits; one visitor cannot make 50,000. Overridable with `--max-sessions-per-ip`;
/// a raised `--max-per-ip` raises it to match (each socket may be a session).
pub const MAX_SESSIONS_PER_IP: usize = 256;

/// A session that has had a socket is evicted for a newcomer (when the chat
/// or an address is at its session cap) only once it has had none for this
/// long. Reloads, a phone asleep in a pocket and the reconnects after a
/// restart come back well within it, so a login flood cannot log out people
/// who were just chatting; sessions nobody ever used go first anyway.
pub const MIN_IDLE_TO_EVICT: Duration = Duration::from_secs(60 * 60);

/// A session that never opened a WebSocket expires after this long. A real
/// login opens the chat page's socket within a second; a scripted login flood
/// never does. Such sessions are also never written to the database, so they
/// cannot take the space messages need.
pub const UNUSED_SESSION_TTL: Duration = Duration::from_secs(10 * 60);

/// What one stored session costs in the database, for sizing their share of
/// `--db-max-mb`: with a budget, at most a quarter of it is spent on sessions
/// (budget / 4 / this many sessions, at least 100), and the oldest unused
/// session is evicted past that. A row is about 130 bytes, plus its index.
pub const STORED_SESSION_BYTES: u64 = 256;
