//! Uploads: images, voice notes and files (`media/`, `web/upload.rs`,
//! `web/media.rs`). Where a number comes from another chat, it says which.

use std::time::Duration;

/// The largest upload, in MiB, unless `--max-upload-mb` says otherwise.
/// Checked from `Content-Length` before a byte of the body is read (413).
/// `natter nginx-config` gives the proxy the same limit, so the two never
/// disagree (mattermost#3701). Zulip's default is 25 MiB and ntfy's 15 MB;
/// 10 MiB holds a minute of any phone's photo after the page re-encodes it.
pub const DEFAULT_MAX_UPLOAD_MB: u64 = 10;

/// All media stored together, in MiB (`--media-max-mb`). Past it an upload
/// is answered 507 "media storage is full", and nothing is half stored.
pub const DEFAULT_MEDIA_MAX_MB: u64 = 1024;

/// What one person (one public id) may have stored at a time, in MiB
/// (`--media-per-person-mb`): ntfy's per-visitor total. 429 past it.
pub const DEFAULT_MEDIA_PER_PERSON_MB: u64 = 100;

/// What one person may upload in a day, in MiB (`--media-daily-mb`): ntfy's
/// daily bandwidth per visitor. 429 with `Retry-After` past it.
pub const DEFAULT_MEDIA_DAILY_MB: u64 = 500;

/// Uploads being received at once, in the whole server (`--uploads-in-flight`).
/// Each holds a thread and a file in `tmp/`; past it the answer is 503 with
/// `Retry-After`, and the page tries again.
pub const DEFAULT_UPLOADS_IN_FLIGHT: usize = 8;

/// One person's uploads being received at once (a page sends one file at a
/// time, and a tray of four waits its turn): past it 429 with `Retry-After`.
/// Without it, one person's stalled uploads could hold every slot.
pub const MAX_UPLOADS_PER_PERSON: usize = 2;

/// An upload slower than this on average, once it has run for
/// [`UPLOAD_RATE_GRACE`], is stopped (408): a body trickled a byte every few
/// seconds would otherwise hold its slot for as long as it liked. 4 KiB/s
/// is far below a bad 3G link.
pub const MIN_UPLOAD_BYTES_PER_SEC: u64 = 4 * 1024;
pub const UPLOAD_RATE_GRACE: Duration = Duration::from_secs(30);

/// Attachments on one message: the design's four (Discord allows ten).
pub const MAX_ATTACHMENTS: usize = 4;

/// A file name as sent in `X-Natter-Name`, in characters; longer ones are
/// cut (keeping the extension), not refused.
pub const MAX_FILE_NAME_CHARS: usize = 100;

/// An image's side, in pixels, and its area: a small file can declare a
/// huge picture that a browser would then decode into gigabytes (a
/// decompression bomb). Mattermost stops at 8K (7680x4320, 33 MP).
pub const MAX_IMAGE_SIDE: u32 = 16_384;
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;

/// The longest edge and the quality the page re-encodes images to before it
/// uploads them (told to it in `hello`): that strips EXIF and GPS on the
/// device and shrinks a phone's 12 MP photo to a few hundred KB.
pub const IMAGE_MAX_EDGE: u32 = 2048;
pub const IMAGE_QUALITY: f64 = 0.85;

/// The longest voice note the page records, in ms (5 minutes). The server
/// bounds a voice note by the upload size; a duration the page claims past
/// this is refused as nonsense.
pub const MAX_VOICE_MS: u64 = 5 * 60 * 1000;

/// How long an upload may wait to be attached to a message before the
/// janitor deletes it (ntfy's orphan grace), unless `--orphan-upload-secs`
/// says otherwise. A message attaching an upload older than this less a
/// minute is refused (`bad_attachment`), so the janitor never deletes an
/// upload a message is being stored with.
pub const ORPHAN_UPLOAD_AGE: Duration = Duration::from_secs(60 * 60);

/// How close to [`ORPHAN_UPLOAD_AGE`] an upload may still be attached.
pub const ATTACH_MARGIN: Duration = Duration::from_secs(60);

/// How often the janitor looks for files to delete (uploads never attached,
/// files of deleted messages); it also runs at once after a message with
/// files is deleted, and at start, when it reconciles the folder with the
/// database.
pub const JANITOR_INTERVAL: Duration = Duration::from_secs(60);

/// Downloads (`GET /m/...`) being streamed at once: each has a thread, as an
/// export does. Past it the answer is 503 with `Retry-After`.
pub const MAX_DOWNLOADS: usize = 64;

/// The rate-limit cost of an upload, in points (a message costs 1).
pub const RATE_COST_UPLOAD: f64 = 5.0;

/// Bytes copied per read while an upload streams to disk and a download
/// streams out.
pub const MEDIA_CHUNK_BYTES: usize = 64 * 1024;

/// Uploads the janitor forgets per sweep (it sweeps again at once while
/// there are more), so that one sweep never holds the hub for long.
pub const JANITOR_BATCH: usize = 500;
