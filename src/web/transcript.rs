//! How an export writes a transcript out: plain text or JSON, a message at a
//! time, so that `export.rs` never holds more than one page of it.

use std::io::Write;

use serde::Serialize;

use crate::config::MAX_EXPORT_MESSAGES;
use crate::protocol::ChatMessage;

/// The two formats an export comes in (`?format=txt|json`).
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Format {
    Text,
    Json,
}

impl Format {
    pub(super) fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Json => "json",
        }
    }

    pub(super) fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; charset=utf-8",
            Format::Json => "application/json",
        }
    }

    /// What comes before the first message.
    pub(super) fn write_start(self, out: &mut Vec<u8>, room: &str) {
        match self {
            Format::Text => {
                let room = transcript_text(room, None);
                let _ = writeln!(out, "# natter transcript of #{room} (times in UTC)");
            }
            Format::Json => {
                out.extend_from_slice(b"{\"room\":");
                serde_json::to_writer(&mut *out, room).expect("a string always serialises");
                out.extend_from_slice(b",\"messages\":[");
            }
        }
    }

    /// One message; `first` says whether it is the transcript's first.
    pub(super) fn write_row(self, out: &mut Vec<u8>, m: &ChatMessage, first: bool) {
        match self {
            Format::Text => {
                let user = transcript_text(&m.user, None);
                let text = transcript_text(&m.text, Some(CONTINUATION));
                let edited = if m.edited_ts.is_some() {
                    " (edited)"
                } else {
                    ""
                };
                // Files as their kind, name and link: `[image: cat.webp /m/u_….webp]`.
                let files: String = m
                    .attachments
                    .iter()
                    .map(|a| {
                        let name = transcript_text(&a.name, None);
                        format!(" [{}: {name} {}]", a.kind.as_str(), a.url)
                    })
                    .collect();
                let text = format!("{text}{files}");
                let text = text.trim_start();
                let _ = match m.action {
                    true => writeln!(out, "[{}] * {user} {text}{edited}", utc(m.ts)),
                    false => writeln!(out, "[{}] {user}: {text}{edited}", utc(m.ts)),
                };
            }
            Format::Json => {
                if !first {
                    out.push(b',');
                }
                let row = ExportRow {
                    id: m.id,
                    user: &m.user,
                    text: &m.text,
                    ts: m.ts,
                    edited_ts: m.edited_ts,
                    action: m.action,
                    reply_to: m.reply_to,
                    attachments: &m.attachments,
                };
                serde_json::to_writer(&mut *out, &row)
                    .expect("a row of strings and numbers always serialises");
            }
        }
    }

    /// What comes after the last message, saying so if the transcript was cut
    /// short at [`MAX_EXPORT_MESSAGES`].
    pub(super) fn write_end(self, out: &mut Vec<u8>, truncated: bool) {
        match (self, truncated) {
            (Format::Text, false) => {}
            (Format::Text, true) => {
                let _ = writeln!(
                    out,
                    "# cut short: an export holds at most {MAX_EXPORT_MESSAGES} messages"
                );
            }
            (Format::Json, false) => out.extend_from_slice(b"]}"),
            (Format::Json, true) => out.extend_from_slice(b"],\"truncated\":true}"),
        }
    }
}

/// One message in a JSON export, borrowed from the page: serialised straight
/// into the body, with no tree of values in between.
#[derive(Serialize)]
struct ExportRow<'a> {
    id: u64,
    user: &'a str,
    text: &'a str,
    ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    edited_ts: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    action: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    attachments: &'a [crate::protocol::Attachment],
}

/// What starts a message's second and later lines in a plain-text transcript.
/// Every line of a transcript that does not start with `[` belongs to the
/// message above it, so no text can forge a line of its own.
const CONTINUATION: &str = "    ";

/// Text as it goes into a plain-text transcript. A line break (`\n`, `\r\n`,
/// a lone `\r`, U+2028, U+2029) starts a line with `continuation`, or, where
/// there may be none (names), becomes U+FFFD like every other control
/// character and the bidi controls, which could make a line look as if it
/// started elsewhere. Messages stored before today's rules may hold any of
/// these.
fn transcript_text(text: &str, continuation: Option<&str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let line_break = matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}');
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue; // `\r\n` is one break: the `\n` makes it.
        }
        match (line_break, continuation) {
            (true, Some(indent)) => {
                out.push('\n');
                out.push_str(indent);
            }
            _ if line_break || is_unsafe_in_a_transcript(c) => out.push('\u{FFFD}'),
            _ => out.push(c),
        }
    }
    out
}

/// Control characters (a tab is fine) and the bidi embedding, override and
/// isolate controls.
fn is_unsafe_in_a_transcript(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `YYYY-MM-DD HH:MM:SS` in UTC for milliseconds since the epoch, without a
/// date library: days to a civil date by Howard Hinnant's algorithm.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_right() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_795_647_448_708), "2026-11-25 22:57:28");
    }

    #[test]
    fn transcript_text_keeps_every_message_on_lines_of_its_own() {
        let text = |t| transcript_text(t, Some(CONTINUATION));
        assert_eq!(text("a\nb"), "a\n    b");
        assert_eq!(text("a\r\nb\rc"), "a\n    b\n    c");
        assert_eq!(text("a\u{2028}b"), "a\n    b");
        assert_eq!(
            text("tab\tok \u{1b}[2J \u{202e}x"),
            "tab\tok \u{fffd}[2J \u{fffd}x"
        );
        assert_eq!(transcript_text("ali\nce", None), "ali\u{fffd}ce");
    }
}
