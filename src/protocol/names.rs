//! The naming rules for display names and rooms, shared by the login form
//! and the WebSocket so both apply exactly the same rules.
//!
//! A name is checked, stored and shown in its NFKC form: the Unicode
//! normalisation that gives each text one spelling. "é" typed as one character
//! or as "e" plus a combining accent becomes the one character, and fullwidth
//! "ａｌｉｃｅ" and mathematical bold "𝐚𝐥𝐢𝐜𝐞" become plain "alice".
//!
//! Two names are then the same name when they *look* the same: `name_key` and
//! `room_key` compare the UTS #39 "skeleton" of the lower-cased name, which maps
//! every character to one representative of those it is confused with
//! (Cyrillic "а" to Latin "a", "0" to "O", "rn" to "m") and drops invisible ones.
//! How the characters are classified and the skeleton is made is in
//! `unicode.rs`, the edge a first reading can skip.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::unicode::{allowed_char, invisible, look_alike_key};
use super::wire::{ErrorCode, Rejection};
use crate::config::{MAX_NAME_CHARS, MAX_ROOM_CHARS};

/// Check a display name or room name and return its NFKC form, trimmed, or
/// say what is wrong. `what` is "name" or "room name", for the message.
fn check_label(raw: &str, what: &str, max: usize) -> Result<String, String> {
    let raw = raw.trim();
    // ASCII is its own NFKC form. Most names and rooms are ASCII, and every
    // message names its room, so this is the common case on every reader
    // thread: it skips the normalizer's iterators (and the stack pages
    // their frames would touch, which an idle reader keeps).
    let label: String = match raw.is_ascii() {
        true => raw.to_string(),
        false => raw.nfkc().collect(),
    };
    // NFKC can make spaces (U+3000 IDEOGRAPHIC SPACE is one), so trim again.
    let label = label.trim();
    let chars = label.chars().count();
    if chars == 0 {
        return Err(format!("Please enter a {what}."));
    }
    if chars > max {
        return Err(format!(
            "That {what} is {chars} characters long; the limit is {max}."
        ));
    }
    if let Some(bad) = label.chars().find(|&c| !allowed_char(c)) {
        // Name the character that was typed, not its normal form: a Hangul
        // filler typed as U+3164 is U+1160 after NFKC.
        let typed = raw
            .chars()
            .find(|&c| c.to_string().nfkc().any(|n| !allowed_char(n)))
            .unwrap_or(bad);
        return Err(if invisible(typed) {
            format!(
                "A {what} cannot contain invisible characters (found U+{:04X}).",
                typed as u32
            )
        } else {
            format!(
                "A {what} may only use letters, digits, spaces, \"_\", \"-\" and \".\" \
                 (found \"{typed}\")."
            )
        });
    }
    if label.starts_with(is_combining_mark) {
        return Err(format!("A {what} cannot start with a combining mark."));
    }
    Ok(label.to_string())
}

/// The display-name rule: 1–24 allowed characters after trimming, in NFKC
/// form. The name returned is the one to store and show.
pub fn check_name(raw: &str) -> Result<String, String> {
    check_label(raw, "name", MAX_NAME_CHARS)
}

/// The room-name rule: 1–64 allowed characters after trimming, in NFKC form,
/// and not only dots and spaces. A leading "#" is how rooms are written on
/// screen ("#kitchen"), not part of the name, so it is dropped rather than
/// refused (the page says so where it was typed).
pub fn check_room(raw: &str) -> Result<String, Rejection> {
    let raw = raw.trim_start().trim_start_matches('#');
    // A direct message's name is made by the server, of characters no
    // other room name may hold, so nobody can take one by joining it first.
    if is_dm_name(raw) {
        return Ok(raw.to_string());
    }
    let room = check_label(raw, "room name", MAX_ROOM_CHARS)
        .map_err(|message| Rejection::new(ErrorCode::BadRoom, message))?;
    // A browser reads "." and ".." in an address as "this folder" and "the
    // folder above" (typed as %2E%2E too), so /r/.. is the site's root: such
    // a room could be joined over the WebSocket but never opened in a page.
    if room.chars().all(|c| c == '.' || c == ' ') {
        return Err(Rejection::new(
            ErrorCode::BadRoom,
            "A room name needs a letter or digit: one made only of dots cannot be opened \
             in a browser.",
        ));
    }
    // Rooms whose names look alike are one room (`room_key`), and a letter
    // may look like ":" (U+A4FD LISU LETTER TONE MYA JEU, U+0903 DEVANAGARI
    // SIGN VISARGA): "dm\u{A4FD}<uid>\u{A4FD}<uid>" would be a way into the
    // direct message of those two, joined before it exists or after. ASCII
    // has no such letter.
    if !room.is_ascii() && room_key(&room).starts_with(&room_key("dm:")) {
        return Err(Rejection::new(
            ErrorCode::BadRoom,
            "That room name looks like a direct message's (\"dm:\"): pick another.",
        ));
    }
    Ok(room)
}

/// Whether `name` is a direct message's: `dm:<uid>:<uid>`, two public ids
/// of lower-case hex (see `cmd::room::dm`). ":" is in no other room's name.
pub fn is_dm_name(name: &str) -> bool {
    let hex = |s: &str| {
        (1..=32).contains(&s.len()) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    match name
        .strip_prefix("dm:")
        .and_then(|rest| rest.split_once(':'))
    {
        Some((a, b)) => hex(a) && hex(b),
        None => false,
    }
}

/// The key a room is found by, in memory and in the database (`rooms.key`,
/// `messages.room`): rooms whose names look alike are one room, so "Lobby",
/// "lobby" and "Lоbby" with a Cyrillic "о" are all #Lobby, and so are "café"
/// written with "é" and with "e" + a combining accent. The first spelling is
/// kept for display. See [`name_key`] for what the key is and costs.
///
/// The key depends on the confusables table of `unicode-security`, whose
/// version Cargo.toml pins: a new table can change stored keys, and so needs a
/// schema migration that re-keys the rooms (`storage` has one).
pub fn room_key(room: &str) -> String {
    look_alike_key(room)
}

/// The key two display names are compared by: names in one room must differ
/// by this key, so that nobody can sit next to "alice" as "аlice" (Cyrillic
/// "а"), "ａｌｉｃｅ" or "ALICE".
///
/// It is the UTS #39 skeleton of the lower-cased NFKC name. Lower case first
/// makes case not matter; but a skeleton maps some characters to a capital
/// ("0" and "O" both become "O", while "o" stays "o"), so a key with capitals
/// in it is lower-cased and skeletonised once more, and "B0B" meets "bob".
/// One limit follows from ignoring case: "aIice" with a capital I is read as
/// "aiice", not as the "alice" it looks like in many fonts.
///
/// A key costs about 50 ns for an ASCII name (a table lookup per character)
/// and 1.5–8 µs for others (normalisation and the skeleton's table searches,
/// in a release build). Compute it once per name, at login or join, and keep
/// it, rather than once per comparison.
pub fn name_key(name: &str) -> String {
    look_alike_key(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        assert_eq!(check_name("  alice ").unwrap(), "alice");
        assert!(
            check_name("Zoë_O'Neil").is_err(),
            "apostrophe is not allowed"
        );
        assert!(check_name("José-María.").is_ok());
        assert!(check_name("प्रिया").is_ok(), "Devanagari with vowel signs");
        assert!(check_name("李小龙").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("   ").is_err());
        assert!(check_name(&"a".repeat(24)).is_ok());
        assert!(check_name(&"a".repeat(25)).is_err());
        assert!(check_name("a\u{200B}b").is_err(), "zero-width space");
        assert!(check_name("a\u{202E}b").is_err(), "bidi override");
        assert!(check_name("a\tb").is_err());
        assert!(check_name("<script>").is_err());
    }

    #[test]
    fn a_leading_hash_is_how_rooms_are_written_not_part_of_the_name() {
        assert_eq!(check_room("#kitchen").unwrap(), "kitchen");
        assert_eq!(check_room(" ## kitchen").unwrap(), "kitchen");
        assert!(check_room("#").is_err(), "nothing left is an empty name");
        assert!(
            check_room("kit#chen").is_err(),
            "inside a name it is refused"
        );
    }

    #[test]
    fn names_are_kept_in_their_nfkc_form() {
        assert_eq!(
            check_name("Jose\u{301}").unwrap(),
            "José",
            "e + combining acute"
        );
        assert_eq!(check_name("ａｌｉｃｅ").unwrap(), "alice", "fullwidth");
        assert_eq!(check_name("𝐚𝐥𝐢𝐜𝐞").unwrap(), "alice", "mathematical bold");
        assert_eq!(
            check_name("\u{3000}bob\u{3000}").unwrap(),
            "bob",
            "ideographic spaces"
        );
        assert_eq!(check_room("cafe\u{301}").unwrap(), "café");
    }

    #[test]
    fn every_script_is_welcome() {
        for name in [
            "José-María",
            "प्रिया", // Devanagari, with a virama and vowel signs
            "李小龙",
            "محمد",         // Arabic
            "สมชาย",        // Thai, with vowel marks
            "דוד",          // Hebrew
            "Дмитрий",      // Cyrillic
            "Αλέξανδρος",   // Greek
            "김민준",       // Hangul syllables
            "か\u{3099}く", // が written with a combining voicing mark
            "தமிழ்",         // Tamil
            "ᏣᎳᎩ",          // Cherokee (a UTS #39 "Limited_Use" script)
            "ᠮᠣᠩᠭᠣᠯ",       // Mongolian ("Exclusion" in UTS #39)
            "ߒߞߏ",          // N'Ko
            "ǃXóõ",         // a click letter
            "user_42.x",
            "٤٢", // Arabic-Indic digits
        ] {
            // Kept as typed, only composed: か + ◌゙ is stored as が.
            let composed: String = name.nfc().collect();
            assert_eq!(check_name(name), Ok(composed), "{name} is a name");
        }
        assert!(check_room("Book Club 2").is_ok());
    }

    #[test]
    fn invisible_and_filler_characters_are_refused_by_their_code() {
        for (c, code) in [
            ('\u{3164}', "U+3164"), // HANGUL FILLER
            ('\u{115F}', "U+115F"), // HANGUL CHOSEONG FILLER
            ('\u{1160}', "U+1160"), // HANGUL JUNGSEONG FILLER
            ('\u{FFA0}', "U+FFA0"), // HALFWIDTH HANGUL FILLER
            ('\u{034F}', "U+034F"), // COMBINING GRAPHEME JOINER
            ('\u{200B}', "U+200B"), // ZERO WIDTH SPACE
            ('\u{200D}', "U+200D"), // ZERO WIDTH JOINER
            ('\u{FE0F}', "U+FE0F"), // VARIATION SELECTOR-16
            ('\u{2800}', "U+2800"), // BRAILLE PATTERN BLANK
            ('\u{00AD}', "U+00AD"), // SOFT HYPHEN
        ] {
            let message = check_name(&format!("al{c}ice")).unwrap_err();
            assert!(message.contains(code), "{code}: {message}");
            assert!(message.contains("invisible"), "{code}: {message}");
            assert!(
                check_room(&format!("lob{c}by")).is_err(),
                "{code} in a room"
            );
        }
        // A name that is nothing but fillers looks blank.
        for blank in [
            "\u{3164}",
            "\u{3164}\u{3164}",
            "\u{115F}\u{1160}",
            "\u{FFA0}",
        ] {
            assert!(check_name(blank).is_err(), "{blank:?}");
        }
    }

    #[test]
    fn rooms_of_only_dots_are_refused() {
        for room in [".", "..", "...", ". .", " .. ", "．．"] {
            let rejection = check_room(room).unwrap_err();
            assert_eq!(rejection.code, ErrorCode::BadRoom);
            assert!(
                rejection.message.contains("dots"),
                "{room:?}: {rejection:?}"
            );
        }
        for room in ["a.b", ".net", "..a", "v1.2", "-", "_"] {
            assert!(check_room(room).is_ok(), "{room:?}");
        }
    }

    #[test]
    fn look_alike_names_share_a_key() {
        let same = |a: &str, b: &str| {
            let (a, b) = (check_name(a).unwrap(), check_name(b).unwrap());
            assert_eq!(name_key(&a), name_key(&b), "{a:?} and {b:?}");
        };
        same("alice", "Alice");
        same("alice", "ALICE");
        same("alice", "\u{430}lice"); // Cyrillic а
        same("alice", "ａｌｉｃｅ");
        same("alice", "𝐚𝐥𝐢𝐜𝐞");
        same("alice", "a1ice");
        same("José", "Jose\u{301}");
        same("bob", "B0B");
        same("room", "r00m");
        same("Kim", "Kirn");
        let differ = |a: &str, b: &str| assert_ne!(name_key(a), name_key(b), "{a:?} and {b:?}");
        differ("alice", "alicia");
        differ("José", "Jose");
        differ("bob", "rob");
        differ("李小龙", "李小");
        differ("a b", "ab");
    }

    #[test]
    fn look_alike_rooms_are_one_room() {
        let key = |room: &str| room_key(&check_room(room).unwrap());
        assert_eq!(key("café"), key("cafe\u{301}"));
        assert_eq!(key("Lobby"), key("lobby"));
        assert_eq!(key("Lobby"), key("L\u{43E}bby")); // Cyrillic о
        assert_eq!(key("Lobby"), key("Ｌｏｂｂｙ"));
        assert_ne!(key("Lobby"), key("Lobby 2"));
    }
}
