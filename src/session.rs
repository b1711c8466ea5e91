//! Temporary sessions, as the browser sees them: a random token in a cookie.
//!
//! The sessions themselves (who owns which token, which rooms they are in) live
//! in the hub like all other chat state. This module only makes tokens and reads
//! them back out of `Cookie` headers, for both listeners.

use std::fmt::Write;

/// The cookie's name.
pub const COOKIE: &str = "natter_session";

/// The cookie's name when the pages are served over HTTPS (`--public-url
/// https://...`). Browsers take a `__Host-` cookie only if it is `Secure`,
/// has `Path=/` and no `Domain`, and was set over HTTPS: no other host (a
/// sibling subdomain, or a plain-HTTP page of the same name on a hostile
/// network) can set or overwrite it, so nobody can slip a session of their
/// own into a visitor's browser.
pub const SECURE_COOKIE: &str = "__Host-natter_session";

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

/// Hex digits of a session's public id.
const PUBLIC_ID_CHARS: usize = 12;

/// A session's public id (`uid`), from its token key: stamped on its
/// messages and given in `hello`, so a page knows which messages are its own
/// and the server checks authorship by it, not by a name that tomorrow
/// someone else may have. It is a hash of the token key (48 of its bits,
/// under a label of its own), so it is the same after a restart without
/// being stored, and tells nothing of the token or its key.
pub fn public_id(token_key: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut id = String::with_capacity(PUBLIC_ID_CHARS);
    let digest = Sha256::digest(format!("natter public id\0{token_key}").as_bytes());
    for b in &digest[..PUBLIC_ID_CHARS / 2] {
        write!(id, "{b:02x}").expect("writing to a String cannot fail");
    }
    id
}

/// Whether cookies are set `Secure` under [`SECURE_COOKIE`]: when the public
/// address of the pages is HTTPS. natter itself speaks only HTTP, so without
/// `--public-url` it cannot know whether a proxy adds TLS.
pub fn secure_cookies(public_url: Option<&str>) -> bool {
    public_url.is_some_and(|url| url.to_ascii_lowercase().starts_with("https://"))
}

/// The `Set-Cookie` value that logs a browser in. HttpOnly keeps page scripts
/// from reading it; SameSite=Lax keeps other sites from posting with it. No
/// Max-Age: it is a browser-session cookie, gone when the browser closes.
/// Behind HTTPS (`secure`) it is a `Secure` [`SECURE_COOKIE`].
pub fn set_cookie(token: &str, secure: bool) -> String {
    match secure {
        true => format!("{SECURE_COOKIE}={token}; Secure; Path=/; HttpOnly; SameSite=Lax"),
        false => format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax"),
    }
}

/// [`set_cookie`] for a session of a claimed name: it stays in the browser
/// for `max_age` (the account session's time to live), so closing the
/// browser does not log its owner out.
pub fn set_lasting_cookie(token: &str, secure: bool, max_age: std::time::Duration) -> String {
    format!(
        "{}; Max-Age={}",
        set_cookie(token, secure),
        max_age.as_secs()
    )
}

/// The `Set-Cookie` values that log a browser out: the plain cookie, and
/// behind HTTPS the `__Host-` one too (a browser may hold either, say from
/// before the site moved to HTTPS).
pub fn clear_cookies(secure: bool) -> Vec<String> {
    let mut cookies = vec![format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
    )];
    if secure {
        cookies.push(format!(
            "{SECURE_COOKIE}=; Secure; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        ));
    }
    cookies
}

/// Find our token in a `Cookie` header value (`a=1; natter_session=...; b=2`),
/// under either name; the `__Host-` one wins, since only this server can have
/// set it. Anything that is not 32 lowercase hex digits is ignored.
pub fn token_from_cookies(header: &str) -> Option<String> {
    let token = |wanted: &str| {
        header
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == wanted)
            .map(|(_, value)| value.trim())
            .find(|v| v.len() == TOKEN_BYTES * 2 && v.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_string)
    };
    token(SECURE_COOKIE).or_else(|| token(COOKIE))
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

    #[test]
    fn behind_https_the_cookie_is_a_secure_host_cookie_and_wins() {
        assert!(secure_cookies(Some("https://chat.example.com")));
        assert!(!secure_cookies(Some("http://chat.example.com")));
        assert!(!secure_cookies(None));
        let secure = set_cookie("t", true);
        assert!(secure.starts_with("__Host-natter_session=t;"), "{secure}");
        assert!(secure.contains("; Secure;") && secure.contains("Path=/"));
        assert!(!secure.contains("Domain"));
        let (host, plain) = (new_token().unwrap(), new_token().unwrap());
        let both = format!("{COOKIE}={plain}; {SECURE_COOKIE}={host}");
        assert_eq!(token_from_cookies(&both), Some(host.clone()));
        assert_eq!(
            token_from_cookies(&format!("{SECURE_COOKIE}={host}")),
            Some(host)
        );
        assert_eq!(clear_cookies(false).len(), 1);
        assert!(clear_cookies(true)[1].starts_with("__Host-natter_session=; Secure"));
    }
}
