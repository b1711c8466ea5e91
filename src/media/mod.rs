//! Uploads: images, voice notes and files, kept as files on disk beside the
//! database, each named by the SHA-256 of its bytes (content-addressed: the
//! same photo sent twice is stored once).
//!
//! Who does what:
//!
//! - A web thread receives an upload (`web/upload.rs`): it streams the body
//!   into `tmp/` ([`MediaStore::receive`]), sniffs its type and, for an
//!   image, rewrites it without metadata (`sniff.rs`), then moves it into
//!   place under its hash ([`MediaStore::install`]) and asks the hub to
//!   record it. The hub never touches the bytes; it keeps the rows (the
//!   `media` and `uploads` tables) with the rest of the chat's state.
//! - A message attaches uploads by id (`cmd/post.rs`). Deleting the message
//!   detaches them in the same transaction.
//! - The janitor thread (`janitor.rs`), not the hub, deletes files nothing
//!   refers to any more, and uploads never attached within the hour.
//!
//! An upload's id is a random 128-bit capability (`u_` and 32 hex digits),
//! not its hash: knowing a file's hash proves nothing, and each upload of the
//! same bytes has its own id and its own room.

pub mod janitor;
pub mod sniff;

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use crate::config::{Config, MEDIA_CHUNK_BYTES, MIN_UPLOAD_BYTES_PER_SEC, UPLOAD_RATE_GRACE};
use crate::protocol::{Attachment, MediaKind};
use sniff::{sniff, Bad, Format, SNIFF_BYTES};

/// Whether `id` has the form of an upload id: `u_` and 32 lowercase hex
/// digits. (Whether it names an upload is the store's to say.)
pub fn is_upload_id(id: &str) -> bool {
    id.len() == 34
        && id.starts_with("u_")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh upload id (see [`is_upload_id`]).
pub fn new_upload_id() -> io::Result<String> {
    Ok(format!("u_{}", random_hex::<16>()?))
}

/// `N` random bytes, in hex.
fn random_hex<const N: usize>() -> io::Result<String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The extension an upload's URL ends in (Safari wants it to match the type).
pub fn extension(mime: &str) -> &'static str {
    match mime {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "audio/webm" => "webm",
        "audio/ogg" => "ogg",
        "audio/mp4" => "m4a",
        _ => "bin",
    }
}

/// The type every file that is not an allowlisted image or voice note is
/// served as: a download, never something a browser runs.
pub const DOWNLOAD_MIME: &str = "application/octet-stream";

/// An upload as stored (a row of `uploads`, with its file's from `media`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredUpload {
    pub id: String,
    /// The SHA-256 of the file's bytes, in hex: its name in the store.
    pub hash: String,
    /// The room it was uploaded to: its key and its name.
    pub room: String,
    pub room_name: String,
    /// Who uploaded it (their public id).
    pub uid: String,
    pub name: String,
    pub kind: MediaKind,
    pub mime: String,
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub created_ms: u64,
    /// The message it is attached to, once it is.
    pub message_id: Option<u64>,
}

impl StoredUpload {
    /// How a message shows it.
    pub fn attachment(&self) -> Attachment {
        Attachment {
            id: self.id.clone(),
            url: format!("/m/{}.{}", self.id, extension(&self.mime)),
            kind: self.kind,
            mime: self.mime.clone(),
            size: self.size,
            name: self.name.clone(),
            width: self.width,
            height: self.height,
            duration_ms: self.duration_ms,
        }
    }
}

/// An upload refused, as the HTTP answer says it: the status, a stable code
/// the page may branch on, a sentence for the person, and for 429 and 503
/// when to try again.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl Refusal {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, seconds: u64) -> Refusal {
        self.retry_after = Some(seconds.max(1));
        self
    }
}

/// A storage failure while receiving: the disk is full or failing.
fn storage_refusal(err: io::Error) -> Refusal {
    let why = match err.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG) => {
            "the server's disk is full".to_string()
        }
        _ => format!("the server could not write the file ({err})"),
    };
    Refusal::new(507, "media_full", format!("{why}; nothing was stored"))
}

/// What the uploader says the file is (`X-Natter-Kind`): the bytes decide
/// in the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Declared {
    Image,
    Voice,
    File,
}

/// A file received into `tmp/`, checked, and ready to be installed.
#[derive(Debug)]
pub struct Received {
    pub tmp: PathBuf,
    pub hash: String,
    pub size: u64,
    pub kind: MediaKind,
    pub mime: &'static str,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// The folder of files: `<root>/<first two hex digits>/<hash>`, with
/// `<root>/tmp/` for uploads still arriving.
pub struct MediaStore {
    root: PathBuf,
    /// A folder made for `--db :memory:`, deleted at shutdown.
    temporary: bool,
    /// Held from installing a file until its row is stored, and by the
    /// janitor from reading which files are unused until they are deleted:
    /// so the janitor never deletes a file an upload has just put back.
    lock: Mutex<()>,
    /// The bytes of every file in the store (not `tmp/`), kept as files are
    /// installed and removed, for `natter_media_bytes`: a scrape reads one
    /// number instead of walking a folder of thousands of files. Counted
    /// once at start; only this store adds or deletes files, so it stays
    /// exact unless someone edits the folder by hand (a restart counts again).
    bytes: AtomicU64,
}

impl MediaStore {
    /// The store for `config`: `--media-dir`, else `<db>-media` beside the
    /// database, else (in memory) a fresh temporary folder.
    pub fn open(config: &Config) -> io::Result<MediaStore> {
        let (root, temporary) = match (&config.media.dir, config.db.as_str()) {
            (Some(dir), _) => (dir.clone(), false),
            (None, ":memory:") => {
                let name = format!("natter-media-{}-{}", std::process::id(), random_hex::<8>()?);
                (std::env::temp_dir().join(name), true)
            }
            (None, db) => (PathBuf::from(format!("{db}-media")), false),
        };
        fs::create_dir_all(root.join("tmp"))?;
        let store = MediaStore {
            root,
            temporary,
            lock: Mutex::new(()),
            bytes: AtomicU64::new(0),
        };
        let (hashes, _) = store.files()?;
        let size = |hash: &String| fs::metadata(store.path_of(hash)).map_or(0, |m| m.len());
        let total = hashes.iter().map(size).sum();
        store.bytes.store(total, Relaxed);
        Ok(store)
    }

    /// The bytes of the files in the store (see the field).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the file with this hash lives.
    pub fn path_of(&self, hash: &str) -> PathBuf {
        self.root.join(&hash[..2]).join(hash)
    }

    /// See [`MediaStore::lock`](Self).
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        // A thread that panicked holding it left no state behind it.
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stream `body` (at most `limit` bytes) into `tmp/`, sniff it and, for
    /// an image, rewrite it without metadata; hash it. Nothing is in the
    /// store yet; on an error, nothing is left behind.
    pub fn receive(
        &self,
        body: &mut dyn Read,
        declared: Declared,
        limit: u64,
    ) -> Result<Received, Refusal> {
        let raw = Temp::new(self.root.join("tmp"))?;
        let (size, hash, head) = stream(body, &raw.path, limit)?;
        let format = sniff(&head);
        let format = match (declared, format) {
            (Declared::Image, Some(f)) if f.kind() == MediaKind::Image => Some(f),
            (Declared::Voice, Some(f)) if f.kind() == MediaKind::Voice => Some(f),
            (Declared::File, Some(f)) if f.kind() == MediaKind::Image => Some(f),
            (Declared::File, _) => None,
            (Declared::Image, _) => {
                return Err(Refusal::new(
                    415,
                    "unsupported_type",
                    "natter shows PNG, JPEG, GIF and WebP images, and this is none of them; \
                     send it as a file instead",
                ))
            }
            (Declared::Voice, _) => {
                return Err(Refusal::new(
                    415,
                    "unsupported_type",
                    "a voice note must be WebM, Ogg or MP4 audio",
                ))
            }
        };
        let Some(format) = format.filter(|f| f.kind() == MediaKind::Image) else {
            let (kind, mime) = match format {
                Some(f) => (MediaKind::Voice, f.mime()),
                None => (MediaKind::File, DOWNLOAD_MIME),
            };
            let tmp = raw.keep();
            return Ok(Received {
                tmp,
                hash,
                size,
                kind,
                mime,
                width: None,
                height: None,
            });
        };
        let clean = Temp::new(self.root.join("tmp"))?;
        let (width, height) = rewrite(format, &raw.path, &clean.path)?;
        let (size, hash) = hash_file(&clean.path).map_err(storage_refusal)?;
        Ok(Received {
            tmp: clean.keep(),
            hash,
            size,
            kind: MediaKind::Image,
            mime: format.mime(),
            width: Some(width),
            height: Some(height),
        })
    }

    /// Move a received file into place. Returns whether it is new (the same
    /// bytes may be stored already: then the copy just received goes).
    /// Call with [`lock`](Self::lock) held, until the row is stored.
    pub fn install(&self, received: &Received) -> io::Result<bool> {
        let path = self.path_of(&received.hash);
        if path.exists() {
            let _ = fs::remove_file(&received.tmp);
            return Ok(false);
        }
        fs::create_dir_all(path.parent().expect("a file in the store has a folder"))?;
        fs::rename(&received.tmp, &path)?;
        self.bytes.fetch_add(received.size, Relaxed);
        Ok(true)
    }

    /// Delete the file with this hash (the janitor, with the lock held).
    pub fn remove(&self, hash: &str) {
        let path = self.path_of(hash);
        let size = fs::metadata(&path).map_or(0, |m| m.len());
        match fs::remove_file(path) {
            Ok(()) => {
                // Never below zero, should the folder have been edited.
                let _ = self
                    .bytes
                    .fetch_update(Relaxed, Relaxed, |b| Some(b.saturating_sub(size)));
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => eprintln!("natter: could not delete media file {hash}: {err}"),
        }
    }

    /// Every file in the store, by hash, and every leftover in `tmp/`.
    pub fn files(&self) -> io::Result<(Vec<String>, Vec<PathBuf>)> {
        let mut hashes = Vec::new();
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            let name = dir.file_name().to_string_lossy().into_owned();
            if name.len() != 2 || !dir.file_type()?.is_dir() {
                continue;
            }
            for file in fs::read_dir(dir.path())? {
                let file = file?.file_name().to_string_lossy().into_owned();
                if file.len() == 64 && file.starts_with(&name) {
                    hashes.push(file);
                }
            }
        }
        let tmp = fs::read_dir(self.root.join("tmp"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        Ok((hashes, tmp))
    }

    /// At shutdown: a temporary store (for `--db :memory:`) goes.
    pub fn close(&self) {
        if self.temporary {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// A temporary store also goes when the last holder lets go of it (a server
/// dropped without its orderly shutdown, as tests do).
impl Drop for MediaStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// A file in `tmp/` that is deleted when dropped, unless kept.
struct Temp {
    path: PathBuf,
    kept: bool,
}

impl Temp {
    fn new(dir: PathBuf) -> Result<Temp, Refusal> {
        let path = dir.join(random_hex::<12>().map_err(storage_refusal)?);
        File::create_new(&path).map_err(storage_refusal)?;
        Ok(Temp { path, kept: false })
    }

    fn keep(mut self) -> PathBuf {
        self.kept = true;
        self.path.clone()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Copy `body` into the file at `path`, hashing on the way and keeping the
/// first bytes for sniffing; at most `limit` bytes. The file is synced.
fn stream(body: &mut dyn Read, path: &Path, limit: u64) -> Result<(u64, String, Vec<u8>), Refusal> {
    let mut file = BufWriter::new(File::create(path).map_err(storage_refusal)?);
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut buf = vec![0u8; MEDIA_CHUNK_BYTES];
    let mut size = 0u64;
    let started = std::time::Instant::now();
    loop {
        let took = started.elapsed();
        if took > UPLOAD_RATE_GRACE && size < took.as_secs() * MIN_UPLOAD_BYTES_PER_SEC {
            return Err(Refusal::new(
                408,
                "too_slow",
                format!(
                    "the upload came slower than {} KiB/s; nothing was stored",
                    MIN_UPLOAD_BYTES_PER_SEC / 1024
                ),
            ));
        }
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                return Err(Refusal::new(
                    400,
                    "bad_request",
                    format!("the upload stopped before its end ({err}); nothing was stored"),
                ))
            }
        };
        size += n as u64;
        if size > limit {
            return Err(Refusal::new(
                413,
                "too_large",
                format!("the file is larger than the limit of {}", mib(limit)),
            ));
        }
        let want = SNIFF_BYTES.saturating_sub(head.len()).min(n);
        head.extend_from_slice(&buf[..want]);
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(storage_refusal)?;
    }
    let file = file
        .into_inner()
        .map_err(|e| storage_refusal(e.into_error()))?;
    file.sync_all().map_err(storage_refusal)?;
    Ok((size, hex(&hasher.finalize()), head))
}

/// An image at `from` rewritten to `to` without metadata (`sniff.rs`).
fn rewrite(format: Format, from: &Path, to: &Path) -> Result<(u32, u32), Refusal> {
    let mut input = BufReader::new(File::open(from).map_err(storage_refusal)?);
    let mut output = BufWriter::new(
        fs::OpenOptions::new()
            .write(true)
            .open(to)
            .map_err(storage_refusal)?,
    );
    let size = sniff::clean_image(format, &mut input, &mut output).map_err(|bad| match bad {
        Bad::Malformed(why) => Refusal::new(
            415,
            "unsupported_type",
            format!("{why}: it is not a {} image natter can show", format.mime()),
        ),
        Bad::TooLarge(why) => Refusal::new(422, "image_too_large", why),
    })?;
    let file = output
        .into_inner()
        .map_err(|e| storage_refusal(e.into_error()))?;
    file.sync_all().map_err(storage_refusal)?;
    Ok(size)
}

/// A file's size and SHA-256.
fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; MEDIA_CHUNK_BYTES];
    let mut size = 0;
    loop {
        match file.read(&mut buf)? {
            0 => return Ok((size, hex(&hasher.finalize()))),
            n => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
        }
    }
}

/// `bytes` as MiB for a person to read ("10 MiB", "1.5 MiB").
pub fn mib(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    match mib.fract() == 0.0 {
        true => format!("{mib:.0} MiB"),
        false => format!("{mib:.1} MiB"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> MediaStore {
        let config = Config {
            media: crate::config::MediaConfig {
                dir: Some(
                    std::env::temp_dir()
                        .join(format!("natter-media-test-{name}-{}", std::process::id())),
                ),
                ..Default::default()
            },
            ..Config::default()
        };
        MediaStore::open(&config).unwrap()
    }

    #[test]
    fn ids_are_random_capabilities_of_one_form() {
        let (a, b) = (new_upload_id().unwrap(), new_upload_id().unwrap());
        assert!(is_upload_id(&a) && is_upload_id(&b) && a != b);
        assert!(!is_upload_id("u_../../etc/passwd"));
        assert!(!is_upload_id(&a.to_uppercase()));
    }

    #[test]
    fn a_file_declared_an_image_must_be_one_and_other_files_are_downloads() {
        let s = store("declared");
        let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
        let refused = s
            .receive(&mut &svg[..], Declared::Image, 1 << 20)
            .unwrap_err();
        assert_eq!((refused.status, refused.code), (415, "unsupported_type"));
        let file = s.receive(&mut &svg[..], Declared::File, 1 << 20).unwrap();
        assert_eq!((file.kind, file.mime), (MediaKind::File, DOWNLOAD_MIME));
        assert_eq!(file.size, svg.len() as u64);
        let voice = s.receive(&mut &b"OggS\0\x02...."[..], Declared::Voice, 1 << 20);
        assert_eq!(voice.unwrap().mime, "audio/ogg");
        let too_big = s.receive(&mut &[0u8; 2000][..], Declared::File, 1000);
        assert_eq!(too_big.unwrap_err().status, 413);
        // Nothing left behind in tmp/ but the received files.
        let (_, tmp) = s.files().unwrap();
        assert_eq!(tmp.len(), 2);
        let _ = fs::remove_dir_all(s.root());
    }
}
