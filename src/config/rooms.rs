//! Rooms with owners: claims, roles, invites, bans, mutes, direct messages
//! and the directory (see `chat/controls.rs`).

use std::time::Duration;

/// A claim lapses after this long without one of its owners joining the
/// room (`--room-claim-days`): a squatted room comes free again. Then anyone
/// who can join the room may claim it, and its roles start over. 30 days, as
/// the proposal's survey found (hack.chat used 7, Anope expires nicks in 21).
pub const ROOM_CLAIM_LAPSE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// An owner's visit is written down at most this often (it keeps the claim
/// alive), so that an owner who joins and leaves all day costs one write an
/// hour, not one per join.
pub const OWNER_SEEN_EVERY: Duration = Duration::from_secs(60 * 60);

/// Rooms one identity (`uid`) may own at once. A claim past it is refused
/// with `limit_reached`: claims cost nothing but rate points, and one person
/// should not squat on every good name.
pub const MAX_ROOMS_OWNED: usize = 20;

/// Invite links live at once in one room; past it, `limit_reached` (revoke
/// one, or let one expire). Discord caps uses at 100 and ages at 7 days;
/// this caps the table.
pub const MAX_INVITES_PER_ROOM: usize = 50;

/// Bans one room keeps; past it, `limit_reached` (lift old ones first). They
/// are all in memory while the room is, so this bounds that memory.
pub const MAX_BANS_PER_ROOM: usize = 1000;

/// Mutes one room keeps (live ones); past it, `limit_reached`.
pub const MAX_MUTES_PER_ROOM: usize = 1000;

/// People recorded as members of one owned room (who joined it, or came in
/// by invite or password: they may come back when it is locked or private).
/// Past it, a newcomer of an open room still gets in but is not recorded; a
/// private room refuses them with `limit_reached`.
pub const MAX_ROOM_MEMBERS: usize = 5000;

/// Characters of a room's topic (IRC networks allow about 300; hack.chat's
/// MOTD 500). Longer is refused with `bad_field`.
pub const MAX_TOPIC_CHARS: usize = 300;

/// Characters of a moderation reason (a kick's, a ban's), shown in the notice.
pub const MAX_REASON_CHARS: usize = 200;

/// A room password: fewest characters, most bytes. Shorter than an account's
/// (`PASSWORD_MIN_CHARS`): it is a classroom's shared word, guessed at the
/// cost of `RATE_COST_KEY` each.
pub const ROOM_PASSWORD_MIN_CHARS: usize = 4;
pub const ROOM_PASSWORD_MAX_BYTES: usize = 128;

/// A mute without `minutes` lasts this long; no mute lasts longer than
/// `MAX_MUTE`.
pub const DEFAULT_MUTE: Duration = Duration::from_secs(10 * 60);
pub const MAX_MUTE: Duration = Duration::from_secs(24 * 60 * 60);

/// A ban with `ip: true` also refuses the address, for this long (or the
/// ban's own length, if shorter): a whole class or office behind one NAT
/// shares one address, so banning it is opt-in and short. The ban of the
/// person lasts as long as it says.
pub const ADDRESS_BAN: Duration = Duration::from_secs(60 * 60);

/// A ban given `minutes` lasts at most this long (without, until lifted).
pub const MAX_BAN: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// An invite without `max_age_s` lasts this long, and none lasts longer than
/// `MAX_INVITE_AGE` (Discord: a day by default, at most 7 days).
pub const DEFAULT_INVITE_AGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);
pub const MAX_INVITE_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Most uses one invite may allow (`max_uses`; 0 is unlimited).
pub const MAX_INVITE_USES: u32 = 1000;

/// Public rooms per page of the directory (`list_rooms`, `GET /rooms`).
pub const DIRECTORY_PAGE: usize = 50;

/// Rooms the directory considers at most, the busiest first: it is sorted
/// by members, and the members are counted in memory.
pub const DIRECTORY_MAX: usize = 1000;

/// Direct messages `hello` lists (the most recent first).
pub const MAX_DMS_LISTED: usize = 100;

/// Rate costs: claiming a room, creating an invite, a wrong owner key,
/// invite or room password (the only guessing surface: 10 points is 2–3
/// guesses a burst, then one every 10 s or so), a directory page (a
/// database read; hack.chat charges its channel list 4), and any other
/// moderation or settings request.
pub const RATE_COST_CLAIM: f64 = 10.0;
pub const RATE_COST_INVITE: f64 = 2.0;
pub const RATE_COST_KEY: f64 = 10.0;
pub const RATE_COST_DIRECTORY: f64 = 4.0;
pub const RATE_COST_MODERATE: f64 = 1.0;

/// Whether the directory lists rooms at all (`--directory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directory {
    /// Nothing is listed.
    Off,
    /// Owned rooms their owners made public (the default: a spam room
    /// costs at least a claim).
    Owned,
    /// Those, and every unowned open room.
    All,
}
