//! Behind HTTPS (`--public-url https://...`) the session cookie is
//! `__Host-natter_session`, `Secure`, for the whole site and this host only,
//! so no other host (a sibling subdomain, a plain-HTTP page on a hostile
//! network) can set or replace it; both listeners read it. Over plain HTTP
//! it stays `natter_session`, without `Secure`, which a browser would refuse
//! to send over HTTP.

use natter_testkit as common;

fn attributes(cookie: &str) -> Vec<String> {
    cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

#[test]
fn behind_https_the_session_cookie_is_a_secure_host_cookie_that_both_ports_read() {
    let public = "https://chat.example.com";
    let server = common::start_with(|c| c.public_url = Some(public.to_string()));
    let login = server.post_form("/login", &[("name", "alice"), ("room", "lobby")], None);
    assert_eq!(login.status, 303, "{}", login.body);
    let cookie = login.header("set-cookie").expect("a session cookie");
    let token = cookie
        .strip_prefix("__Host-natter_session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("a __Host- cookie: {cookie}"))
        .to_string();
    let set = attributes(cookie);
    for wanted in ["secure", "path=/", "httponly", "samesite=lax"] {
        assert!(set.iter().any(|a| a == wanted), "{wanted}: {cookie}");
    }
    assert!(!set.iter().any(|a| a.starts_with("domain")), "{cookie}");

    let jar = format!("Cookie: __Host-natter_session={token}");
    let room = server.request("GET", "/r/lobby", std::slice::from_ref(&jar), b"");
    assert_eq!(room.status, 200);
    assert!(room.body.contains("data-user=\"alice\""));

    // The WebSocket handshake reads the same cookie.
    let mut chat = server
        .connect()
        .cookie(&format!("__Host-natter_session={token}"))
        .origin(Some(public))
        .open();
    assert_eq!(chat.recv_type("hello")["user"], "alice");

    // Logging out clears it, Secure like itself.
    let logout = server.request("POST", "/logout", &[jar], b"");
    assert_eq!(logout.status, 303);
    let cleared: Vec<&str> = logout
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("__Host-natter_session=;")
                && attributes(c).iter().any(|a| a == "secure")
                && attributes(c).iter().any(|a| a == "max-age=0")),
        "{cleared:?}"
    );
    assert_eq!(chat.expect_close(), Some(1008));
}

#[test]
fn over_plain_http_the_cookie_is_not_secure() {
    let server = common::start_with(|c| c.public_url = Some("http://chat.example.com".into()));
    let login = server.post_form("/login", &[("name", "alice"), ("room", "lobby")], None);
    let cookie = login.header("set-cookie").expect("a session cookie");
    assert!(cookie.starts_with("natter_session="), "{cookie}");
    assert!(
        !attributes(cookie).iter().any(|a| a == "secure"),
        "{cookie}"
    );
}
