//! The Unicode hardening behind the naming rules (`names.rs`): which
//! characters a name may use, and the look-alike key. This is the edge a first
//! reading can skip: the rules themselves, and why, are in `names.rs`; this
//! file is how they are computed quickly and checked against UTS #39.

use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

/// Tables made by `build.rs` from UTS #39's data (`unicode-security`):
/// which characters names may use, which are default-ignorable, and each
/// character's confusable prototype.
mod tables {
    include!(concat!(env!("OUT_DIR"), "/unicode_tables.rs"));
}

/// A character allowed in names and rooms, in their NFKC form: space, `_`,
/// `-`, `.`, and the letters, digits and combining marks of every script,
/// except those that UTS #39 types as invisible (`Default_Ignorable`: the
/// Hangul fillers, U+034F, variation selectors), not identifier characters
/// (`Not_XID`) or deprecated. The rule, and why UTS #39's stricter "Allowed"
/// status is not it (it refuses Cherokee, N'Ko, Mongolian...), is in
/// `build.rs`, which makes the table.
pub(super) fn allowed_char(c: char) -> bool {
    in_ranges(tables::ALLOWED, c)
}

/// Whether `c` is in one of `ranges` (inclusive, in order).
fn in_ranges(ranges: &[(char, char)], c: char) -> bool {
    ranges
        .binary_search_by(|&(first, last)| {
            if last < c {
                std::cmp::Ordering::Less
            } else if first > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// A character a person cannot see, or cannot tell from a space: the message
/// that refuses it names it by its code rather than showing it.
pub(super) fn invisible(c: char) -> bool {
    c.is_control()
        || c.is_whitespace()
        || in_ranges(tables::DEFAULT_IGNORABLE, c)
        // BRAILLE PATTERN BLANK: a symbol, drawn as nothing.
        || c == '\u{2800}'
}

/// The key of a name or a room: see `names::name_key` for what it is and costs.
pub(super) fn look_alike_key(text: &str) -> String {
    ascii_key(text).unwrap_or_else(|| skeleton_key(text))
}

/// The key, computed the long way: see `names::name_key`.
fn skeleton_key(text: &str) -> String {
    let folded = text.nfkc().collect::<String>().to_lowercase();
    let key = skeleton(&folded);
    let lower = key.to_lowercase();
    if lower == key {
        key
    } else {
        skeleton(&lower)
    }
}

/// The UTS #39 skeleton of a text: its NFD form with each character replaced
/// by its confusable prototype and default-ignorable ones dropped, in NFD
/// form again. This is `unicode_security::skeleton` on natter's compact
/// tables; a test checks the two agree on every character.
fn skeleton(text: &str) -> String {
    let mut mapped = String::with_capacity(text.len());
    for c in text.nfd() {
        if in_ranges(tables::DEFAULT_IGNORABLE, c) {
            continue;
        }
        match prototype(c) {
            Some(prototype) => mapped.push_str(prototype),
            None => mapped.push(c),
        }
    }
    mapped.nfd().collect()
}

/// The confusable prototype of `c`, when it is not `c` itself.
fn prototype(c: char) -> Option<&'static str> {
    let at = tables::CONFUSABLES
        .binary_search_by_key(&c, |&(from, _)| from)
        .ok()?;
    let packed = tables::CONFUSABLES[at].1 as usize;
    tables::PROTOTYPES.get(packed >> 8..(packed >> 8) + (packed & 0xFF))
}

/// The key of an ASCII text, one character at a time from a table: ASCII is
/// what most names and rooms are, and this is some fifty times quicker than
/// [`skeleton_key`]. It gives the same key: NFKC and NFD leave ASCII as it is,
/// and lower-casing and the skeleton map each character on its own, so for a
/// character whose key is ASCII (all but `%`) the key of a text is the keys
/// of its characters in a row. The table is made from `skeleton_key` itself,
/// so it cannot disagree with the confusables data; a test checks the rest.
fn ascii_key(text: &str) -> Option<String> {
    static TABLE: OnceLock<Vec<Option<String>>> = OnceLock::new();
    if !text.is_ascii() {
        return None;
    }
    let table = TABLE.get_or_init(|| {
        (0..128u8)
            .map(|b| Some(skeleton_key(&char::from(b).to_string())).filter(|k| k.is_ascii()))
            .collect()
    });
    let mut key = String::with_capacity(text.len() + 4);
    for b in text.bytes() {
        key.push_str(table[usize::from(b)].as_deref()?);
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::char::is_combining_mark;

    #[test]
    fn the_tables_agree_with_unicode_security_on_every_character() {
        use unicode_security::general_security_profile::IdentifierType::*;
        use unicode_security::GeneralSecurityProfile;
        // The rule of build.rs, again, as the reference for the table.
        let allowed = |c: char| match c {
            ' ' | '_' | '-' | '.' => true,
            _ if c.is_alphanumeric() || is_combining_mark(c) => !matches!(
                c.identifier_type(),
                None | Some(Default_Ignorable | Not_XID | Not_NFKC | Deprecated | Not_Character)
            ),
            _ => false,
        };
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(allowed_char(c), allowed(c), "U+{:04X}", c as u32);
            let alone = c.to_string();
            let reference: String = unicode_security::skeleton(&alone).collect();
            assert_eq!(skeleton(&alone), reference, "U+{:04X}", c as u32);
        }
        // Texts, where NFD reorders and composes across characters.
        for text in [
            "Jose\u{301}",
            "e\u{323}\u{302}",
            "L\u{43E}bby",
            "a\u{34F}b",
            "ǅ𝐀ℌ",
            "가\u{11A8}",
        ] {
            let reference: String = unicode_security::skeleton(text).collect();
            assert_eq!(skeleton(text), reference, "{text:?}");
        }
    }

    #[test]
    fn the_ascii_shortcut_gives_the_full_key() {
        // Every ASCII character and pair of characters, and some names.
        let mut texts: Vec<String> = (0..128u8).map(|b| char::from(b).to_string()).collect();
        for a in 0..128u8 {
            for b in 0..128u8 {
                texts.push([char::from(a), char::from(b)].iter().collect());
            }
        }
        texts.extend(["Book Club", "B0B", "commons", "a-b_c.d 9"].map(String::from));
        for text in texts {
            assert_eq!(look_alike_key(&text), skeleton_key(&text), "{text:?}");
        }
        assert!(
            ascii_key("Lobby").is_some(),
            "ASCII names take the shortcut"
        );
    }
}
