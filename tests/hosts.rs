//! DNS rebinding: a page on another site can point its own name at natter's
//! address, and its requests then reach natter saying `Host: <its name>`. The
//! web port answers only the names it is known by (`origin::host_allowed`):
//! its addresses, `localhost`, this machine's hostname, the hosts of
//! `--public-url` and `--ws-url`, and each `--allowed-host`; anything else is
//! answered 421 with a message saying how to allow it.

use natter_testkit as common;

use common::TestServer;

fn get_as(
    server: &TestServer,
    host: &str,
    path: &str,
    cookie: Option<&str>,
) -> common::HttpResponse {
    let mut raw = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(token) = cookie {
        raw.push_str(&format!("Cookie: natter_session={token}\r\n"));
    }
    raw.push_str("\r\n");
    server.raw(raw.as_bytes())
}

#[test]
fn a_page_under_another_name_is_refused_with_421() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    let port = server.web.port();
    for path in [
        "/",
        "/healthz",
        "/r/lobby",
        "/export/lobby",
        "/assets/css/app.css",
    ] {
        let page = get_as(&server, &format!("evil.example:{port}"), path, Some(&token));
        assert_eq!(page.status, 421, "GET {path}: {}", page.body);
        assert!(
            page.body.contains("--allowed-host evil.example"),
            "the message says what to do: {}",
            page.body
        );
        assert!(
            !page.body.contains("alice"),
            "nothing of the session: {}",
            page.body
        );
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    }
    // A login through the rebound name gets no session.
    let login = server.raw(
        b"POST /login HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 21\r\n\r\n\
          name=mallory&room=lob",
    );
    assert_eq!(login.status, 421);
    assert_eq!(login.header("set-cookie"), None);
    // The names natter is known by still work.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("chat.localhost:{port}"),
        format!("[::1]:{port}"),
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
            .to_string(),
    ] {
        assert_eq!(
            get_as(&server, &host, "/healthz", None).status,
            200,
            "{host}"
        );
    }
}

#[test]
fn an_allowed_host_and_the_public_url_are_answered() {
    let server = common::start_with(|c| {
        c.allowed_hosts = vec!["chat.lan".to_string()];
        c.public_url = Some("https://chat.example.com".to_string());
    });
    let port = server.web.port();
    for host in [
        format!("chat.lan:{port}"),
        "CHAT.LAN".to_string(),
        "chat.example.com".to_string(),
    ] {
        assert_eq!(get_as(&server, &host, "/", None).status, 200, "{host}");
    }
    assert_eq!(get_as(&server, "other.lan", "/", None).status, 421);
}

#[test]
fn a_request_needs_exactly_one_host() {
    let server = common::start();
    let none = server.raw(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(none.status, 400, "{}", none.body);
    assert!(none.body.contains("Host"), "{}", none.body);
    let two = server.raw(
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(two.status, 400, "{}", two.body);
    assert_eq!(server.get("/healthz", None).status, 200);
}

#[test]
fn a_websocket_under_another_name_is_refused_with_421() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    let handshake = |host: &str| {
        let origin = format!("http://{host}:{}", server.web.port());
        let status = server
            .connect()
            .session(&token)
            .host(host)
            .origin(Some(&origin))
            .try_open()
            .map_or_else(|refused| refused.status, |_| 101);
        format!("HTTP/1.1 {status}")
    };
    // A rebinding page: its own name, and its own (matching) origin.
    assert_eq!(handshake("evil.example"), "HTTP/1.1 421");
    assert_eq!(handshake("127.0.0.1"), "HTTP/1.1 101");
    assert_eq!(handshake("localhost"), "HTTP/1.1 101");
}
