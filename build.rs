//! Build script: two things natter's binary carries, made ready here so that
//! they cost less in it.
//!
//! 1. The page's files, gzipped ([`gzip_assets`]): `src/web/pages.rs` embeds
//!    these copies instead of `assets/` itself.
//! 2. The Unicode tables behind natter's naming rules (`protocol/unicode.rs`),
//!    computed from `unicode-security` and written to
//!    `$OUT_DIR/unicode_tables.rs`.
//!
//! Why not call `unicode-security` at run time: its confusables table is
//! 5,400 `(char, &[char])` pairs, and in natter's static binary each pair
//! takes 24 bytes and a 24-byte relocation; with its other tables it added
//! some 400 KB, which the 5 MB budget for the binary does not have. Here the
//! same data becomes flat arrays of about 80 KB, and `unicode-security`
//! stays what it is best at: the source of the data, and (in the tests) the
//! reference that natter's skeleton is checked against, character by
//! character.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::Path;

use flate2::{Compression, GzBuilder};

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use unicode_security::general_security_profile::IdentifierType;
use unicode_security::GeneralSecurityProfile;

/// A character allowed in names and rooms, in their NFKC form: space, `_`,
/// `-`, `.`, and the letters, digits and combining marks (é written as
/// e + ◌́, Devanagari vowel signs) of every script, except those whose UTS #39
/// identifier type says they are invisible (`Default_Ignorable`: the Hangul
/// fillers, U+034F COMBINING GRAPHEME JOINER, variation selectors), not
/// identifier characters at all (`Not_XID`), or deprecated.
///
/// UTS #39's own "Allowed" status is stricter on purpose, and not used here:
/// it is made for identifiers such as domain names, and restricts the living
/// scripts of smaller communities (Cherokee, N'Ko, Adlam, Tifinagh, Syriac,
/// Canadian syllabics as `Limited_Use`, Mongolian as `Exclusion`). Names are
/// for people; look-alikes across scripts are caught by the skeleton instead.
///
/// `protocol/unicode.rs`'s tests hold a copy of this rule and check the table
/// against it for every character.
fn allowed(c: char) -> bool {
    use IdentifierType::*;
    match c {
        ' ' | '_' | '-' | '.' => true,
        _ if c.is_alphanumeric() || is_combining_mark(c) => !matches!(
            c.identifier_type(),
            // Not_NFKC cannot occur after NFKC; it is listed so that the rule
            // reads on its own. None would be a character the tables lack.
            None | Some(Default_Ignorable | Not_XID | Not_NFKC | Deprecated | Not_Character)
        ),
        _ => false,
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    gzip_assets();
    let mut allowed_ranges = Ranges::default();
    let mut ignorable = Ranges::default();
    let mut prototypes = String::new();
    let mut confusables = String::new();
    for c in (0..=0x10FFFF).filter_map(char::from_u32) {
        allowed_ranges.add(c, allowed(c));
        // The skeleton takes the text's NFD first, so only characters that
        // NFD leaves alone are ever looked up. For those, the skeleton of the
        // character alone is its prototype (in NFD), or nothing when it is
        // default-ignorable.
        let alone = c.to_string();
        if !alone.nfd().eq([c]) {
            ignorable.add(c, false);
            continue;
        }
        let skeleton: String = unicode_security::skeleton(&alone).collect();
        ignorable.add(c, skeleton.is_empty());
        if !skeleton.is_empty() && skeleton != alone {
            let start = prototypes.len();
            prototypes.push_str(&skeleton);
            let packed = (start << 8) | skeleton.len();
            assert!(skeleton.len() < 256 && start < 1 << 24, "the packing fits");
            writeln!(confusables, "    ({c:?}, {packed}),").expect("writing to a String");
        }
    }
    let tables = format!(
        "// Made by build.rs from unicode-security {version:?}; do not edit.\n\
         \n\
         /// Characters allowed in names and rooms, as inclusive ranges, in order.\n\
         pub static ALLOWED: &[(char, char)] = &[\n{allowed}];\n\
         \n\
         /// Default-ignorable characters (invisible), as inclusive ranges, in order.\n\
         pub static DEFAULT_IGNORABLE: &[(char, char)] = &[\n{ignorable}];\n\
         \n\
         /// Each character whose UTS #39 prototype is other text, in order, with\n\
         /// where that text is in `PROTOTYPES`: its start << 8 | its length in bytes.\n\
         pub static CONFUSABLES: &[(char, u32)] = &[\n{confusables}];\n\
         \n\
         /// The prototypes, in NFD form, one after another.\n\
         pub static PROTOTYPES: &str = {prototypes:?};\n",
        version = unicode_security::UNICODE_VERSION,
        allowed = allowed_ranges.finish(),
        ignorable = ignorable.finish(),
    );
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    std::fs::write(format!("{out}/unicode_tables.rs"), tables).expect("OUT_DIR is writable");
}

/// Gzip every file under `assets/` into `$OUT_DIR/assets-gz/`, at the same
/// relative path and under the same name (`js/chat.js` stays `js/chat.js`,
/// its bytes now gzip). `src/web/pages.rs` embeds that folder.
///
/// Why: the page is text (HTML, CSS, JavaScript, SVG), and gzip makes it
/// about a third of its size. The binary carries the smaller copy, and a
/// browser (they all take gzip) is sent those very bytes, so a page loads
/// faster over a slow link too. Compressing once, here, at the best level,
/// costs nothing at run time, and the compressor (`flate2`) is a
/// build-dependency: it is not in the binary.
///
/// The gzip header is the plain one: no file name, no comment, time 0, so
/// the same file always gives the same bytes (and the same ETag).
fn gzip_assets() {
    // Cargo looks through the whole folder: a file edited, added or removed
    // anywhere under assets/ runs this again, and natter is rebuilt with it.
    println!("cargo:rerun-if-changed=assets");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let gz = Path::new(&out).join("assets-gz");
    // Start from nothing, so that a file removed from assets/ is gone here too.
    if gz.exists() {
        fs::remove_dir_all(&gz).expect("OUT_DIR is writable");
    }
    gzip_folder(Path::new("assets"), &gz);
}

fn gzip_folder(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("OUT_DIR is writable");
    for entry in fs::read_dir(from).expect("assets/ is readable") {
        let entry = entry.expect("assets/ is readable");
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            gzip_folder(&source, &target);
            continue;
        }
        let data = fs::read(&source).expect("assets/ is readable");
        let mut gzip = GzBuilder::new().write(Vec::new(), Compression::best());
        gzip.write_all(&data).expect("writing to a Vec");
        let bytes = gzip.finish().expect("writing to a Vec");
        fs::write(&target, bytes).expect("OUT_DIR is writable");
    }
}

/// Inclusive ranges of characters, built from a yes or no for each in order.
#[derive(Default)]
struct Ranges {
    text: String,
    open: Option<(char, char)>,
}

impl Ranges {
    fn add(&mut self, c: char, yes: bool) {
        self.open = match (self.open, yes) {
            // Surrogates are not chars: a range may run across them.
            (Some((first, _)), true) => Some((first, c)),
            (None, true) => Some((c, c)),
            (Some(range), false) => {
                self.push(range);
                None
            }
            (None, false) => None,
        };
    }

    fn push(&mut self, (first, last): (char, char)) {
        writeln!(self.text, "    ({first:?}, {last:?}),").expect("writing to a String");
    }

    fn finish(mut self) -> String {
        if let Some(range) = self.open.take() {
            self.push(range);
        }
        self.text
    }
}
