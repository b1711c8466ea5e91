//! Who may talk to this server: the `Host` rule against DNS rebinding, the
//! `Origin` rule against other sites posting forms, and the `Origin` rule
//! against other sites opening a WebSocket. Pure functions of a request's
//! headers and the [`Config`], for both listeners.
//!
//! **DNS rebinding.** A page on `evil.example` can make its own name resolve
//! to `127.0.0.1` (or to natter's LAN address) a moment later. The browser then
//! treats natter as part of `evil.example`: same origin, so the page may read
//! natter's answers and open its WebSocket. Its requests still say
//! `Host: evil.example`, though, so natter answers only the names it is known
//! by: [`host_allowed`].
//!
//! **Cross-site forms.** Any site can make a visitor's browser post a form to
//! natter. The browser says where the form came from (`Origin`, and in newer
//! browsers `Sec-Fetch-Site`), so natter refuses a login or logout that did not
//! come from its own pages: [`form_origin_allowed`].
//!
//! **Cross-site WebSockets.** A WebSocket is not bound by the same-origin
//! policy: any page can open one to natter, and the browser sends the
//! visitor's cookie with it. It also sends `Origin`, which the page cannot
//! forge, so the handshake accepts exactly the pages' own origin:
//! [`ws_origin_allowed`] (after [`host_allowed`]).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::OnceLock;

use crate::Config;

/// Whether a request's `Host` header names this server. Allowed:
///
/// - an IP address, IPv4 or bracketed IPv6, with or without a port: a
///   rebinding page always sends its own name, never an address;
/// - `localhost` and any name under `.localhost` (browsers resolve those to
///   this machine themselves, RFC 6761);
/// - this machine's hostname and `hostname.local` (mDNS, on a LAN);
/// - the hosts of `--public-url` and `--ws-url`;
/// - every `--allowed-host NAME`.
///
/// The port is not compared: rebinding changes the name, not the port. Names
/// compare case-insensitively, and one trailing dot (`localhost.`) is the same
/// name. A header that is not a host at all (empty, a path, a space) is refused.
pub fn host_allowed(host_header: &str, config: &Config) -> bool {
    let name = match parse_host(host_header) {
        Some(Host::Ip(_)) => return true,
        Some(Host::Name(name)) => name,
        None => return false,
    };
    name == "localhost"
        || name.ends_with(".localhost")
        || machine_names().contains(&name)
        || [&config.public_url, &config.ws_url]
            .into_iter()
            .flatten()
            .any(|url| url_host(url).is_some_and(|host| host == name))
        || config
            .allowed_hosts
            .iter()
            .any(|allowed| normal_host_name(allowed).is_some_and(|host| host == name))
}

/// The name in a `Host` header (or a `--allowed-host`), lower case, without its
/// port or a trailing dot; `None` when it is an IP address or not a host at
/// all. For messages that tell the operator what to allow.
pub fn normal_host_name(host: &str) -> Option<String> {
    match parse_host(host)? {
        Host::Name(name) => Some(name),
        Host::Ip(_) => None,
    }
}

/// Whether a login or logout form may be taken as the visitor's own doing:
/// posted from natter's own pages, as the browser tells it. Refused:
///
/// - `Sec-Fetch-Site: cross-site` or `same-site` (another site, or a sibling
///   subdomain, which may be someone else's);
/// - `Origin: null` (a sandboxed frame, a `data:` page, a redirect chain: a
///   page that hides where it is);
/// - any other `Origin` that is not the pages' own: exactly `--public-url`
///   when set, else `http://` or `https://` followed by the request's `Host`.
///
/// A request with neither header is allowed: browsers send `Origin` on every
/// cross-site POST, so one without it comes from a program (curl, the tests,
/// the bench), which has no visitor's cookie to abuse. `Err` says why, for
/// the 403.
pub fn form_origin_allowed(
    origin: Option<&str>,
    sec_fetch_site: Option<&str>,
    host: &str,
    config: &Config,
) -> Result<(), String> {
    if let Some(site) = sec_fetch_site.map(str::trim) {
        if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
            return Err(format!(
                "this form was sent from another site (Sec-Fetch-Site: {site}); \
                 log in and out from natter's own pages"
            ));
        }
    }
    let Some(origin) = origin.map(str::trim) else {
        return Ok(());
    };
    if origin.eq_ignore_ascii_case("null") {
        return Err("this form was sent from a page that hides its origin \
                    (Origin: null); log in and out from natter's own pages"
            .to_string());
    }
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    let own = match &config.public_url {
        Some(public) => origin == url_origin(public),
        None => {
            let host = host.trim().to_ascii_lowercase();
            !host.is_empty()
                && (origin == format!("http://{host}") || origin == format!("https://{host}"))
        }
    };
    match own {
        true => Ok(()),
        false => Err(format!(
            "this form was sent from {origin}, not from natter's own pages; \
             log in and out from natter's own pages"
        )),
    }
}

/// The WebSocket handshake's Origin check. Browsers always send `Origin` on a
/// WebSocket handshake, and a page on another site cannot forge it; checking
/// it stops other sites from using a visitor's cookie to chat as them. An
/// empty `Origin` (not a browser, or one that hides it) is refused.
///
/// With `--public-url`, that origin exactly. Otherwise the page's own origin:
/// `http://` + the host this request was sent to + `web_port`, where the pages
/// are served (the WebSocket listener has a port of its own). Whole strings
/// are compared, never substrings, so `http://localhost:8080.evil.example`
/// fails.
pub fn ws_origin_allowed(origin: &str, host: &str, web_port: u16, config: &Config) -> bool {
    if origin.is_empty() {
        return false;
    }
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    if let Some(public) = &config.public_url {
        return origin == url_origin(public);
    }
    let hostname = strip_port(host).to_ascii_lowercase();
    if hostname.is_empty() {
        return false;
    }
    let expected = match web_port {
        80 => format!("http://{hostname}"),
        port => format!("http://{hostname}:{port}"),
    };
    origin == expected
}

/// `example.com:8081` → `example.com`; `[::1]:8081` → `[::1]`.
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

/// A parsed `Host`: an address, or a name (lower case, no trailing dot).
#[derive(Debug, PartialEq)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, as in a `Host` header. Names
/// are letters, digits, `-`, `_` and `.` (an internationalised name arrives
/// as punycode); anything else is not a host.
fn parse_host(text: &str) -> Option<Host> {
    let text = text.trim();
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (inside, after) = rest.split_once(']')?;
            return match (inside.parse::<Ipv6Addr>(), after) {
                (Ok(ip), "") => Some(Host::Ip(IpAddr::V6(ip))),
                (Ok(ip), port) if valid_port(port.strip_prefix(':')?) => {
                    Some(Host::Ip(IpAddr::V6(ip)))
                }
                _ => None,
            };
        }
        None => match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        },
    };
    if port.is_some_and(|p| !valid_port(p)) {
        return None;
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(Host::Ip(ip));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let valid = !name.is_empty()
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(is_name_byte));
    valid.then(|| Host::Name(name.to_ascii_lowercase()))
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn valid_port(port: &str) -> bool {
    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
}

/// `https://chat.example.com:8443/ws` → `chat.example.com:8443`.
fn url_authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// The name of a URL's host, as `normal_host_name` gives it.
fn url_host(url: &str) -> Option<String> {
    normal_host_name(url_authority(url))
}

/// A URL's origin as a browser writes it in `Origin`: scheme and authority,
/// lower case, no path (`https://Chat.Example.com/` → `https://chat.example.com`).
fn url_origin(url: &str) -> String {
    let scheme = url.split_once("://").map_or("http", |(scheme, _)| scheme);
    format!("{scheme}://{}", url_authority(url)).to_ascii_lowercase()
}

/// This machine's names, read once: its hostname (from the kernel) and
/// `hostname.local`, and for a dotted hostname also its first label and that
/// `.local`, which is what mDNS announces.
fn machine_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let Some(full) = normal_host_name(hostname.trim()) else {
            return Vec::new();
        };
        let short = full.split('.').next().unwrap_or(&full).to_string();
        let mut names = vec![
            format!("{full}.local"),
            format!("{short}.local"),
            short,
            full,
        ];
        names.dedup();
        names
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::default()
    }

    #[test]
    fn ip_addresses_are_allowed_with_or_without_a_port() {
        let c = config();
        for host in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "192.168.1.20:8080",
            "[::1]",
            "[::1]:8080",
            "[2001:db8::7]:8080",
        ] {
            assert!(host_allowed(host, &c), "{host}");
        }
    }

    #[test]
    fn localhost_and_its_subdomains_are_allowed() {
        let c = config();
        for host in [
            "localhost",
            "localhost:8080",
            "LOCALHOST:8080",
            "localhost.",
            "chat.localhost:8080",
        ] {
            assert!(host_allowed(host, &c), "{host}");
        }
    }

    #[test]
    fn this_machines_name_is_allowed() {
        let c = config();
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let hostname = hostname.trim();
        assert!(host_allowed(hostname, &c), "{hostname}");
        assert!(host_allowed(&format!("{hostname}.local:8080"), &c));
        assert!(host_allowed(&hostname.to_uppercase(), &c));
    }

    #[test]
    fn the_public_and_websocket_urls_and_allowed_hosts_are_allowed() {
        let c = Config {
            public_url: Some("https://Chat.Example.com".into()),
            ws_url: Some("wss://ws.example.net:8443/ws".into()),
            allowed_hosts: vec!["natter.lan".into(), "Pi.Home:8080".into()],
            ..config()
        };
        for host in [
            "chat.example.com",
            "chat.example.com:443",
            "ws.example.net",
            "natter.lan:8080",
            "NATTER.LAN",
            "pi.home",
        ] {
            assert!(host_allowed(host, &c), "{host}");
        }
        assert!(!host_allowed("natter.lan", &config()), "only when allowed");
    }

    #[test]
    fn other_names_and_things_that_are_not_hosts_are_refused() {
        let c = config();
        for host in [
            "",
            " ",
            ":8080",
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "evil-localhost",
            "127.0.0.1:80:80",
            "127.0.0.1:port",
            "127.0.0.1:99999",
            "::1",
            "[::1",
            "[::1]x",
            "evil@127.0.0.1",
            "127.0.0.1/path",
            "a b",
            "exa..mple",
            "caf\u{e9}.example",
            "[fe80::1%25eth0]:8080",
        ] {
            assert!(!host_allowed(host, &c), "{host:?}");
        }
    }

    #[test]
    fn origin_must_match_exactly() {
        // The pages on port 8080, the WebSocket listener on 8081.
        let ok = |origin, host, c: &Config| ws_origin_allowed(origin, host, 8080, c);
        let c = config();
        assert!(ok("http://localhost:8080", "localhost:8081", &c));
        assert!(ok("http://[::1]:8080", "[::1]:8081", &c));
        assert!(!ok(
            "http://localhost:8080.evil.example",
            "localhost:8081",
            &c
        ));
        assert!(!ok("http://evil.example", "localhost:8081", &c));
        assert!(!ok("http://localhost:9999", "localhost:8081", &c));
        assert!(!ok("", "localhost:8081", &c));
        let c = Config {
            public_url: Some("https://chat.example.com/".into()),
            ..config()
        };
        assert!(ok("https://chat.example.com", "anything", &c));
        assert!(!ok("https://chat.example.com.evil", "anything", &c));
    }

    #[test]
    fn a_form_must_come_from_the_pages_own_origin() {
        let c = config();
        let ok = |origin, site, host| form_origin_allowed(origin, site, host, &c).is_ok();
        // No header at all: not a browser, allowed.
        assert!(ok(None, None, "127.0.0.1:8080"));
        assert!(ok(Some("http://127.0.0.1:8080"), None, "127.0.0.1:8080"));
        assert!(ok(Some("HTTP://LOCALHOST:8080/"), None, "localhost:8080"));
        assert!(ok(Some("https://chat.lan"), None, "chat.lan"));
        assert!(ok(
            Some("http://127.0.0.1:8080"),
            Some("same-origin"),
            "127.0.0.1:8080"
        ));
        assert!(ok(None, Some("none"), "127.0.0.1:8080"));
        // Another site, a hidden origin, a lookalike, another port.
        assert!(!ok(Some("https://evil.example"), None, "127.0.0.1:8080"));
        assert!(!ok(Some("null"), None, "127.0.0.1:8080"));
        assert!(!ok(
            Some("http://127.0.0.1:8080.evil.example"),
            None,
            "127.0.0.1:8080"
        ));
        assert!(!ok(Some("http://127.0.0.1:9999"), None, "127.0.0.1:8080"));
        assert!(!ok(None, Some("cross-site"), "127.0.0.1:8080"));
        assert!(!ok(
            Some("http://127.0.0.1:8080"),
            Some("same-site"),
            "127.0.0.1:8080"
        ));
        assert!(!ok(Some("http://x"), None, ""));
        // With --public-url, exactly that origin, whatever the Host.
        let public = Config {
            public_url: Some("https://chat.example.com/".into()),
            ..config()
        };
        let ok = |origin| form_origin_allowed(Some(origin), None, "127.0.0.1:8080", &public);
        assert!(ok("https://chat.example.com").is_ok());
        assert!(ok("http://chat.example.com").is_err());
        assert!(ok("http://127.0.0.1:8080").is_err());
        let why = ok("https://evil.example").unwrap_err();
        assert!(why.contains("https://evil.example"), "{why}");
    }
}
