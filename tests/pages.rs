//! The plain web pages: a health check, a friendly 404, security headers on
//! every response, assets with the right Content-Type and working caching, and
//! no way to read files outside the embedded assets.

use natter_testkit as common;

use common::{HttpResponse, TestServer};

/// A spread of responses: every route, and success, redirect and error alike.
fn every_kind_of_response(server: &TestServer) -> Vec<(String, HttpResponse)> {
    let token = server.login("alice", "lobby");
    let form = "Content-Type: application/x-www-form-urlencoded".to_string();
    let mut out = vec![
        ("GET /".to_string(), server.get("/", None)),
        ("GET /healthz".to_string(), server.get("/healthz", None)),
        (
            "GET /r/lobby (no session)".to_string(),
            server.get("/r/lobby", None),
        ),
        (
            "GET /r/lobby".to_string(),
            server.get("/r/lobby", Some(&token)),
        ),
        ("GET /nope".to_string(), server.get("/nope", None)),
        (
            "GET /assets/css/app.css".to_string(),
            server.get("/assets/css/app.css", None),
        ),
        (
            "GET /assets/js/chat.js".to_string(),
            server.get("/assets/js/chat.js", None),
        ),
        ("GET /login".to_string(), server.get("/login", None)),
        (
            "POST /login (refused)".to_string(),
            server.request(
                "POST",
                "/login",
                std::slice::from_ref(&form),
                b"name=&room=lobby",
            ),
        ),
        (
            "POST /login".to_string(),
            server.request("POST", "/login", &[form], b"name=bob&room=lobby"),
        ),
        (
            "POST /logout".to_string(),
            server.post_form("/logout", &[], Some(&token)),
        ),
    ];
    let css = server.get("/assets/css/app.css", None);
    let etag = css.header("etag").unwrap_or("\"none\"").to_string();
    out.push((
        "GET /assets/css/app.css (304)".to_string(),
        server.request(
            "GET",
            "/assets/css/app.css",
            &[format!("If-None-Match: {etag}")],
            b"",
        ),
    ));
    out
}

#[test]
fn healthz_answers_ok() {
    let server = common::start();
    let page = server.get("/healthz", None);
    assert_eq!(page.status, 200);
    assert_eq!(page.body.trim(), "ok");
    let head = server.request("HEAD", "/healthz", &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "", "HEAD has no body");
}

#[test]
fn the_login_page_is_html() {
    let server = common::start();
    let page = server.get("/", None);
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert!(page.body.contains("action=\"/login\""));
}

#[test]
fn an_unknown_path_is_a_404_html_page() {
    let server = common::start();
    for path in [
        "/nope",
        "/r/",
        "/assets/",
        "/assets/nope.css",
        "/index.html",
    ] {
        let page = server.get(path, None);
        assert_eq!(page.status, 404, "GET {path}");
        assert!(
            page.header("content-type")
                .unwrap_or("")
                .starts_with("text/html"),
            "GET {path}: {:?}",
            page.header("content-type")
        );
        assert!(page.body.contains("Not found"), "GET {path}: {}", page.body);
        assert!(page.body.contains("href=/"), "a way back to the login page");
    }
}

#[test]
fn every_response_carries_the_security_headers() {
    let server = common::start();
    for (what, page) in every_kind_of_response(&server) {
        let csp = page
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{what} ({}) has no CSP", page.status));
        let directive = |name: &str| {
            csp.split(';')
                .map(str::trim)
                .find(|d| d.split_whitespace().next() == Some(name))
                .map(str::to_string)
        };
        let scripts = directive("script-src")
            .or_else(|| directive("default-src"))
            .unwrap_or_else(|| panic!("{what}: the CSP does not limit scripts: {csp}"));
        assert!(
            !scripts.contains("'unsafe-inline'") && !scripts.contains("'unsafe-eval'"),
            "{what}: inline scripts are not allowed: {scripts}"
        );
        assert!(
            !scripts.split_whitespace().skip(1).any(|s| s == "*"),
            "{what}: scripts only from known places: {scripts}"
        );
        assert!(
            directive("frame-ancestors").is_some() || page.header("x-frame-options").is_some(),
            "{what}: the page cannot be framed"
        );
        assert_eq!(
            page.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert!(
            page.header("referrer-policy")
                .is_some_and(|p| !p.is_empty()),
            "{what} has a Referrer-Policy"
        );
    }
}

/// The answers tiny_http writes by itself, before natter sees a request,
/// carry the same protections as natter's pages (natter's tiny_http patch).
#[test]
fn the_web_servers_own_error_pages_carry_the_security_headers() {
    let server = common::start();
    let big = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "x".repeat(20_000)
    );
    let cases: [(&str, &[u8], u16); 6] = [
        ("a broken request line", b"NOT A REQUEST\r\n\r\n", 400),
        (
            "a broken header",
            b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
            400,
        ),
        (
            "a GET with a body",
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc",
            400,
        ),
        (
            "an unknown Expect",
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: tea\r\n\r\n",
            417,
        ),
        ("a head too large", big.as_bytes(), 431),
        (
            "HTTP/2.0",
            b"GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n",
            505,
        ),
    ];
    for (what, bytes, status) in cases {
        let page = server.raw(bytes);
        assert_eq!(page.status, status, "{what}: {page:?}");
        let expected = [
            ("x-content-type-options", "nosniff"),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "same-origin"),
        ];
        for (name, value) in expected {
            assert_eq!(page.header(name), Some(value), "{what}: {name}");
        }
    }
}

#[test]
fn pages_with_user_data_are_not_cached() {
    let server = common::start();
    let token = server.login("alice", "lobby");
    let page = server.get("/r/lobby", Some(&token));
    let cache = page.header("cache-control").unwrap_or("");
    assert!(
        cache.contains("no-store") || cache.contains("private"),
        "a page naming the user must not be stored by shared caches: {cache:?}"
    );
}

#[test]
fn the_stylesheet_is_css_with_an_etag_and_revalidates_to_304() {
    let server = common::start();
    let css = server.get("/assets/css/app.css", None);
    assert_eq!(css.status, 200);
    assert!(
        css.header("content-type")
            .unwrap_or("")
            .starts_with("text/css"),
        "{:?}",
        css.header("content-type")
    );
    assert!(!css.body.is_empty());
    let etag = css.header("etag").expect("an ETag").to_string();
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "a quoted ETag: {etag}"
    );

    let again = server.request(
        "GET",
        "/assets/css/app.css",
        &[format!("If-None-Match: {etag}")],
        b"",
    );
    assert_eq!(again.status, 304);
    assert_eq!(again.body, "", "a 304 has no body");
    assert_eq!(
        again.header("etag"),
        Some(etag.as_str()),
        "a 304 repeats the ETag"
    );

    let stale = server.request(
        "GET",
        "/assets/css/app.css",
        &["If-None-Match: \"something-else\"".to_string()],
        b"",
    );
    assert_eq!(stale.status, 200, "a different ETag gets the file");
    assert_eq!(stale.body, css.body);
}

#[test]
fn different_assets_have_different_etags() {
    let server = common::start();
    let css = server.get("/assets/css/app.css", None);
    let js = server.get("/assets/js/chat.js", None);
    assert_ne!(css.header("etag"), js.header("etag"));
    // The CSS ETag does not revalidate the script.
    let js_again = server.request(
        "GET",
        "/assets/js/chat.js",
        &[format!("If-None-Match: {}", css.header("etag").unwrap())],
        b"",
    );
    assert_eq!(js_again.status, 200);
}

#[test]
fn scripts_are_served_as_javascript() {
    let server = common::start();
    for file in ["chat.js", "login.js", "render.js", "socket.js", "state.js"] {
        let path = format!("/assets/js/{file}");
        let page = server.get(&path, None);
        assert_eq!(page.status, 200, "GET {path}");
        let kind = page.header("content-type").unwrap_or("");
        assert!(
            kind.contains("javascript"),
            "GET {path}: a module script needs a JavaScript type, got {kind:?}"
        );
        assert!(!page.body.is_empty());
    }
}

#[test]
fn the_icon_is_svg() {
    let server = common::start();
    let page = server.get("/assets/favicon.svg", None);
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap_or("")
        .starts_with("image/svg+xml"));
}

#[test]
fn asset_paths_cannot_escape_the_assets() {
    let server = common::start();
    let attempts = [
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/assets/%2E%2E/Cargo.toml",
        "/assets/..%2fCargo.toml",
        "/assets/..%2FCargo.toml",
        "/assets/%2e%2e%2fsrc%2flib.rs",
        "/assets/css/../../Cargo.toml",
        "/assets/css/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/..%5cCargo.toml",
        "/assets/..\\Cargo.toml",
        "/assets/./../Cargo.toml",
        "/assets//etc/passwd",
        "/assets/%2fetc%2fpasswd",
        "/assets/../../../../../../etc/passwd",
        "/assets/css/app.css%00.txt",
        "/assets/../src/lib.rs",
    ];
    for path in attempts {
        let page = server.get(path, None);
        assert!(
            page.status == 404 || page.status == 400,
            "GET {path} answered {}",
            page.status
        );
        for leak in ["[package]", "forbid(unsafe_code)", "root:x:0"] {
            assert!(
                !page.body.contains(leak),
                "GET {path} leaked a file ({leak}): {}",
                page.body
            );
        }
    }
}

#[test]
fn an_oversized_login_form_is_refused_without_a_session() {
    let server = common::start();
    let body = format!("name=alice&room=lobby&pad={}", "x".repeat(8 * 1024));
    let page = server.request(
        "POST",
        "/login",
        &["Content-Type: application/x-www-form-urlencoded".to_string()],
        body.as_bytes(),
    );
    assert_eq!(page.status, 413);
    assert_eq!(page.cookie(), None);
}

/// Browsers keep connections open between requests and open several at once.
/// Every new connection must be answered even while earlier keep-alive
/// connections sit idle, each holding one of tiny_http's pool threads. (Before
/// natter's tiny_http patch, all but one of a burst of new connections queued
/// behind a single idle thread, and pages hung half-loaded.)
#[test]
fn new_connections_are_served_while_keep_alive_connections_idle() {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    let server = common::start();
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        server.web.port()
    );
    let ask = |stream: &mut TcpStream| {
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = [0u8; 512];
        let n = stream
            .read(&mut answer)
            .expect("an answer before the deadline");
        assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    };
    // Keep-alive connections that made one request and now sit idle.
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(server.web).unwrap();
        stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
        ask(&mut stream);
        idle.push(stream);
    }
    // A burst of new connections, all sent before any is read.
    let mut burst: Vec<TcpStream> = (0..6)
        .map(|_| {
            let mut stream = TcpStream::connect(server.web).unwrap();
            stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            stream
        })
        .collect();
    for stream in &mut burst {
        let mut answer = [0u8; 512];
        let n = stream
            .read(&mut answer)
            .expect("every new connection is answered");
        assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    }
    drop(idle);
}
