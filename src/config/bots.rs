//! Bots and integrations (`cmd/bots.rs`, `web/bots.rs`): room-scoped tokens,
//! the incoming webhook, the HTTP API and its long-poll.

use std::time::Duration;

/// What every secret of a bot token starts with, then 32 hex digits (128
/// random bits). The prefix lets a secret scanner (GitHub's, say) spot one
/// pasted where it should not be, and natter refuse a cookie or an invite
/// given in its place without a database read.
pub const TOKEN_PREFIX: &str = "ntb_";

/// A bot's public id is this and its token's id (`bot-3f2a9c1b0d4e`), so no
/// person's id (hex digits alone) can be one.
pub const BOT_UID_PREFIX: &str = "bot-";

/// Live tokens one room may have; `create_token` past it is refused with
/// `limit_reached`. Twenty is more bots than a busy team room runs (a CI,
/// an alert manager, a deploy bot, a few personal ones), and keeps the list
/// the owner reads short.
pub const MAX_TOKENS_PER_ROOM: usize = 20;

/// The default score of each token's own budget (`--bot-rate-limit`): a
/// bot gets what a person gets (`RATE_THRESHOLD`), charged to the token, not
/// to its address, because many CI runners share one address (hack.chat's
/// bots were throttled after about three lines by the address's budget:
/// AndrewBelt/hack.chat#2).
pub const DEFAULT_BOT_RATE_LIMIT: f64 = 25.0;

/// What making or revoking a token costs its owner's budget: a write and a
/// secret, like an invite.
pub const RATE_COST_TOKEN: f64 = 2.0;

/// What one read of the HTTP API costs the token: a history page's worth.
/// A long-poll that waits is charged once, when it is asked.
pub const RATE_COST_READ: f64 = 1.0;

/// A token's `last_used_ts` is written at most this often, so a busy bot
/// costs the database one row write a minute, not one a message.
pub const TOKEN_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// How often the hub reads again the tokens of open bot connections, so
/// that one revoked beside natter (`natter token revoke`) is closed within
/// this time (one revoked from the page is closed at once).
pub const TOKEN_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// The longest a `GET .../messages?wait=` is held open when nothing is new
/// (seconds past it are cut to it). Thirty seconds stays under the idle
/// time-outs of common proxies (nginx's default `proxy_read_timeout` is
/// 60 s; the configuration `natter nginx-config` writes gives `/api/` 45 s).
pub const MAX_POLL_WAIT: Duration = Duration::from_secs(30);

/// Long-polls held open at once, in all. Each holds a thread of its own
/// (never one of the `WEB_WORKERS`) and an entry the hub checks at the end
/// of every pass; past this they are answered 503 with `Retry-After` at once.
pub const MAX_POLL_WAITERS: usize = 64;

/// The largest body a webhook or an API post may have. A message's text is
/// at most `MAX_TEXT_BYTES` (12 000 bytes), which JSON escaping can grow by
/// six times (`\u00e9`); bigger bodies are refused 413 before they are read.
pub const MAX_API_BODY_BYTES: usize = 80 * 1024;
