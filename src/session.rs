//! Temporary sessions, as the browser sees them: a random token in a cookie.
//!
//! The sessions themselves (who owns which token, which rooms they are in) live
//! in the hub like all other chat state. This module only makes tokens and reads
//! them back out of `Cookie` headers, for both listeners.

use std::fmt::Write;

/// The cookie's name.
pub const COOKIE: &str = "natter_session";

/// Random bytes in a token: 128 bits, from the operating system's source.
const TOKEN_BYTES: usize = 16;

/// A fresh session token: 32 hex digits from the OS random source.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    let mut token = String::with_capacity(TOKEN_BYTES * 2);
    for b in bytes {
        write!(token, "{b:02x}").expect("writing to a String cannot fail");
    }
    Ok(token)
}

/// What the server keeps of a token: its SHA-256, in hex. The database (and the
/// hub's map) never hold a usable token, so a copied database file logs nobody
/// in. A token has 128 random bits, so no salt or slow hash is needed.
pub fn token_key(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut key = String::with_capacity(64);
    for b in Sha256::digest(token.as_bytes()) {
        write!(key, "{b:02x}").expect("writing to a String cannot fail");
    }
    key
}

/// The `Set-Cookie` value that logs a browser in. HttpOnly keeps page scripts
/// from reading it; SameSite=Lax keeps other sites from posting with it. No
/// Max-Age: it is a browser-session cookie, gone when the browser closes.
pub fn set_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax")
}

/// The `Set-Cookie` value that logs a browser out.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Find our token in a `Cookie` header value (`a=1; natter_session=...; b=2`).
/// Anything that is not 32 lowercase hex digits is ignored.
pub fn token_from_cookies(header: &str) -> Option<String> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| v.len() == TOKEN_BYTES * 2 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_readable_back() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        let header = format!("theme=dark; {COOKIE}={a}; x=y");
        assert_eq!(token_from_cookies(&header), Some(a));
        assert_eq!(token_from_cookies(&format!("{COOKIE}=nothex")), None);
        assert_eq!(token_from_cookies("other=1"), None);
        assert_eq!(token_key("abc").len(), 64);
        assert_ne!(token_key(&b), b, "the key is not the token");
    }
}
