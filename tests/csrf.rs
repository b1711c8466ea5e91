//! Login and logout CSRF: another site's page can make a visitor's browser
//! post a form to natter. A cross-site login used to replace the visitor's
//! session with one of the attacker's making (a puppet in the attacker's
//! room, typing into it unawares), and a cross-site logout logged them out.
//! Both forms must now come from natter's own pages, as the browser says in
//! `Origin` and `Sec-Fetch-Site`; requests with neither (curl, programs) are
//! still fine.

use natter_testkit as common;

use common::{HttpResponse, TestServer};

fn form(
    server: &TestServer,
    path: &str,
    body: &str,
    headers: &[&str],
    cookie: Option<&str>,
) -> HttpResponse {
    let mut all = vec!["Content-Type: application/x-www-form-urlencoded".to_string()];
    all.extend(headers.iter().map(|h| h.to_string()));
    if let Some(token) = cookie {
        all.push(format!("Cookie: natter_session={token}"));
    }
    server.request("POST", path, &all, body.as_bytes())
}

/// The headers a browser sends with a form posted from another site.
fn from_elsewhere(origin: &str) -> [String; 2] {
    [
        format!("Origin: {origin}"),
        "Sec-Fetch-Site: cross-site".to_string(),
    ]
}

#[test]
fn a_login_posted_from_another_site_is_refused_and_the_visitor_keeps_their_session() {
    let server = common::start();
    let victim = server.login("alice", "lobby");
    let mut alice = server.connect().session(&victim).open();
    alice.recv_type("hello");
    alice.join("lobby");
    let puppet = "name=alice2&room=attackers";
    let attempts: [Vec<String>; 5] = [
        from_elsewhere("https://evil.example").to_vec(),
        vec!["Origin: https://evil.example".to_string()],
        vec!["Origin: null".to_string()],
        vec!["Sec-Fetch-Site: cross-site".to_string()],
        // A sibling subdomain may be someone else's.
        vec![
            format!("Origin: {}", server.origin()),
            "Sec-Fetch-Site: same-site".to_string(),
        ],
    ];
    for headers in &attempts {
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let page = form(&server, "/login", puppet, &refs, Some(&victim));
        assert_eq!(page.status, 403, "{headers:?}: {}", page.body);
        assert!(page.body.contains("natter's own pages"), "{}", page.body);
        assert_eq!(
            page.header("set-cookie"),
            None,
            "{headers:?}: no new session"
        );
    }
    // Alice is still herself, in her room.
    let room = server.get("/r/lobby", Some(&victim));
    assert_eq!(room.status, 200);
    assert!(room.body.contains("data-user=\"alice\""));
    alice.say("lobby", "still me");
    assert_eq!(alice.recv_message()["user"], "alice");
}

#[test]
fn a_logout_posted_from_another_site_is_refused() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    let mut alice = server.connect().session(&token).open();
    alice.recv_type("hello");
    alice.join("lobby");
    let evil = from_elsewhere("https://evil.example");
    let refs: Vec<&str> = evil.iter().map(String::as_str).collect();
    let page = form(&server, "/logout", "", &refs, Some(&token));
    assert_eq!(page.status, 403, "{}", page.body);
    assert_eq!(page.header("set-cookie"), None);
    let page = form(&server, "/logout", "", &["Origin: null"], Some(&token));
    assert_eq!(page.status, 403, "{}", page.body);
    // Still logged in, still connected.
    assert_eq!(server.get("/r/lobby", Some(&token)).status, 200);
    alice.say("lobby", "not logged out");
    assert_eq!(alice.recv_message()["text"], "not logged out");
}

#[test]
fn forms_from_the_pages_own_origin_or_from_programs_work() {
    let server = common::start();
    let own = format!("Origin: {}", server.origin());
    let headers = [own.as_str(), "Sec-Fetch-Site: same-origin"];
    let login = form(&server, "/login", "name=alice&room=lobby", &headers, None);
    assert_eq!(login.status, 303, "{}", login.body);
    let token = login.cookie().expect("a session");
    let localhost = format!("Origin: http://localhost:{}", server.web.port());
    let mut raw = format!(
        "POST /logout HTTP/1.1\r\nHost: localhost:{}\r\n{localhost}\r\n\
         Cookie: natter_session={token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        server.web.port()
    );
    let logout = server.raw(raw.as_bytes());
    assert_eq!(
        logout.status, 303,
        "the page's origin is its own Host: {}",
        logout.body
    );
    // No Origin at all: curl, the bench, the tests.
    raw = "name=bob&room=lobby".to_string();
    assert_eq!(form(&server, "/login", &raw, &[], None).status, 303);
}

#[test]
fn behind_a_proxy_the_public_url_is_the_one_origin() {
    let server = common::start_with(|c| c.public_url = Some("https://chat.example.com".into()));
    let body = "name=alice&room=lobby";
    let public = form(
        &server,
        "/login",
        body,
        &["Origin: https://chat.example.com"],
        None,
    );
    assert_eq!(public.status, 303, "{}", public.body);
    for origin in ["http://chat.example.com", &server.origin()] {
        let header = format!("Origin: {origin}");
        let page = form(&server, "/login", "name=bob&room=lobby", &[&header], None);
        assert_eq!(page.status, 403, "{origin}: {}", page.body);
    }
}
