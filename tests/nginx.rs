//! The shipped nginx configuration works: a real nginx (Debian's `nginx`
//! package), configured with exactly what `natter nginx-config` prints, in
//! front of the real natter binary, serves both listeners on one port. Two
//! users log in and chat through it; nginx refuses an oversized header and an
//! oversized login body before natter sees them, and the chat carries on.
//!
//! nginx must be installed (`make setup` installs it, and `make test` runs that
//! first). Without it this test fails: it is the only test of the deployment
//! the README describes.

use natter_testkit as common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nginx; killed, and its directory removed, when dropped.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Nginx {
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

/// The nginx binary, or a failure that says how to install it.
fn nginx_binary() -> PathBuf {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!(
            "nginx is not installed, and this test needs a real one: \
             run `make setup`, which installs it (or names the command that does)"
        )
    })
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `natter nginx-config ...`, run as a user would, its output unchanged.
fn generated_config(args: &[String]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_natter"))
        .arg("nginx-config")
        .args(args)
        .output()
        .expect("natter runs");
    assert!(
        output.status.success(),
        "natter nginx-config failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the configuration is UTF-8")
}

/// Start nginx in the foreground, one process, everything in a fresh directory,
/// with `http { include <site>; }` around the generated site file.
fn start_nginx(site: &str, port: u16) -> Nginx {
    let binary = nginx_binary();
    let dir =
        std::env::temp_dir().join(format!("natter-nginx-test-{}-{}", std::process::id(), port));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = |name: &str| dir.join(name).display().to_string();
    std::fs::write(dir.join("natter.conf"), site).unwrap();
    let main = format!(
        "daemon off;\n\
         master_process off;\n\
         worker_processes 1;\n\
         pid {pid};\n\
         error_log {log} info;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n\
         \x20   access_log {access};\n\
         \x20   client_body_temp_path {body};\n\
         \x20   proxy_temp_path {proxy};\n\
         \x20   fastcgi_temp_path {fastcgi};\n\
         \x20   uwsgi_temp_path {uwsgi};\n\
         \x20   scgi_temp_path {scgi};\n\
         \x20   include {site};\n\
         }}\n",
        pid = path("nginx.pid"),
        log = path("error.log"),
        access = path("access.log"),
        body = path("client_body"),
        proxy = path("proxy"),
        fastcgi = path("fastcgi"),
        uwsgi = path("uwsgi"),
        scgi = path("scgi"),
        site = path("natter.conf"),
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let child = Command::new(&binary)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let mut nginx = Nginx { child, dir };
    wait_until_listening(&mut nginx, port);
    nginx
}

fn wait_until_listening(nginx: &mut Nginx, port: u16) {
    let deadline = Instant::now() + common::DEADLINE;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = nginx.child.try_wait() {
            panic!("nginx exited ({status}): {}", nginx.error_log());
        }
        assert!(
            Instant::now() < deadline,
            "nginx is not listening on {port}: {}",
            nginx.error_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send one raw request (write errors ignored: nginx may refuse before reading
/// it all) and return the status and the answer's head.
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("nginx accepts");
    stream.set_read_timeout(Some(common::DEADLINE)).unwrap();
    stream.set_write_timeout(Some(common::DEADLINE)).unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // The head is enough; nginx may linger before closing a connection whose
    // body it refused to read.
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // A reset after the answer (nginx closing on an unread body).
            Err(_) if !answer.is_empty() => break,
            Err(err) => panic!("no answer from nginx before the deadline: {err}"),
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    (status, text)
}

fn from_nginx(answer: &str) -> bool {
    answer
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("server: nginx"))
}

/// natter (the real binary) behind a real nginx configured with exactly
/// what `natter nginx-config` prints, as the README's deployment says.
/// `shared` flags go to both (`--max-upload-mb`). Both stop when dropped.
struct Deployed {
    _natter: common::Binary,
    _nginx: Nginx,
    /// nginx's one public port, and the URLs natter was told.
    front: SocketAddr,
    public_url: String,
    ws_url: String,
    /// The generated configuration.
    site: String,
}

fn deploy(shared: &[&str]) -> Deployed {
    let public = free_port();
    let public_url = format!("http://127.0.0.1:{public}");
    let ws_url = format!("ws://127.0.0.1:{public}/ws");
    let mut flags = vec![
        "--public-url",
        &public_url,
        "--ws-url",
        &ws_url,
        "--trust-proxy",
        "--db",
        ":memory:",
    ];
    flags.extend(shared);
    let natter = common::Binary::start(&flags);
    let mut args: Vec<String> = vec![
        "--listen".into(),
        format!("127.0.0.1:{public}"),
        "--server-name".into(),
        "127.0.0.1".into(),
        "--port".into(),
        natter.web.port().to_string(),
        "--ws-port".into(),
        natter.ws.port().to_string(),
    ];
    args.extend(shared.iter().map(|s| s.to_string()));
    let site = generated_config(&args);
    let nginx = start_nginx(&site, public);
    Deployed {
        _natter: natter,
        _nginx: nginx,
        front: SocketAddr::from(([127, 0, 0, 1], public)),
        public_url,
        ws_url,
        site,
    }
}

#[test]
fn chat_through_nginx_with_the_shipped_configuration() {
    let deployed = deploy(&[]);
    let (front, ws_url) = (deployed.front, deployed.ws_url.clone());
    assert!(deployed.site.contains(&format!(
        "--public-url {} --ws-url {ws_url} --trust-proxy",
        deployed.public_url
    )));

    // Everything below goes to nginx's one port: pages, login, and /ws (the
    // helpers use Origin http://127.0.0.1:<public>, which is --public-url).
    let site = common::attach(front, front);
    let mut alice = site.user("alice");
    let mut bob = site.user("bob");
    alice.join("lobby");
    bob.join("lobby");
    common::exchange(&mut alice, &mut bob, "hello through nginx");

    // The chat page tells the browser to use nginx's /ws.
    let token = site.login("carol", "lobby");
    let page = site.get("/r/lobby", Some(&token));
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&ws_url), "the page names --ws-url");

    // A 64 KiB header line: nginx refuses it (tiny_http would take it).
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let (status, answer) = raw(front, big.as_bytes());
    assert!(
        (400..500).contains(&status),
        "an oversized header gets 4xx, got {answer:?}"
    );
    assert!(from_nginx(&answer), "refused by nginx: {answer:?}");
    common::exchange(&mut alice, &mut bob, "still chatting after the big header");

    // An oversized login body: 413 from nginx, whether announced or sent.
    let body = format!("name=mallory&room=lobby&pad={}", "x".repeat(8 * 1024));
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, answer) = raw(front, request.as_bytes());
    assert_eq!(status, 413, "{answer:?}");
    assert!(from_nginx(&answer), "refused by nginx: {answer:?}");
    let (status, answer) = raw(
        front,
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
          Content-Length: 1000000000\r\n\r\nname=x",
    );
    assert_eq!(status, 413, "{answer:?}");
    assert!(from_nginx(&answer), "refused by nginx: {answer:?}");
    // The absurd Content-Length that aborts natter on its own never reaches it.
    let (status, answer) = raw(
        front,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
          Content-Length: 64000000000\r\n\r\n",
    );
    assert_eq!(status, 413, "{answer:?}");
    common::exchange(&mut alice, &mut bob, "still chatting after the big bodies");
    assert_eq!(site.get("/healthz", None).status, 200);

    // A login of normal size still works through nginx afterwards.
    let mut dave = site.user("dave");
    dave.join("lobby");
    dave.say("lobby", "dave made it in");
    assert_eq!(alice.recv_message()["text"], "dave made it in");
}

/// nginx takes uploads exactly as large as natter does, because both limits
/// come from one `--max-upload-mb` (mattermost#3701 is the other way), and a
/// file comes back through it with its Range answer untouched.
#[test]
fn uploads_through_nginx_are_limited_by_the_same_flag_as_natter() {
    let deployed = deploy(&["--max-upload-mb", "2"]);
    let (front, public_url) = (deployed.front, deployed.public_url.clone());
    let site = common::attach(front, front);
    let token = site.login("alice", "lobby");
    let mut alice = site.connect().session(&token).past_hello();
    alice.join("lobby");
    let upload = |bytes: &[u8]| {
        let headers = vec![
            format!("Cookie: natter_session={token}"),
            format!("Origin: {public_url}"),
            "X-Natter-Kind: file".to_string(),
            "X-Natter-Name: big.bin".to_string(),
        ];
        site.request("POST", "/upload/lobby", &headers, bytes)
    };
    // Just under the limit: far past nginx's 4 KiB for other bodies.
    let almost = vec![7u8; 2 * 1024 * 1024 - 100];
    let answer = upload(&almost);
    assert_eq!(answer.status, 201, "{}", answer.body);
    let up: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let url = up["url"].as_str().unwrap();
    // (Not on a message yet: for its uploader only.)
    let ranged = site.request(
        "GET",
        url,
        &[
            "Range: bytes=0-9".to_string(),
            format!("Cookie: natter_session={token}"),
        ],
        b"",
    );
    assert_eq!(ranged.status, 206);
    assert_eq!(
        ranged.header("content-range"),
        Some(format!("bytes 0-9/{}", almost.len()).as_str())
    );
    // Past it: refused (413) before the body is taken.
    let request = format!(
        "POST /upload/lobby HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Cookie: natter_session={token}\r\nOrigin: {public_url}\r\nContent-Length: {}\r\n\r\n",
        3 * 1024 * 1024
    );
    let (status, answer) = raw(front, request.as_bytes());
    assert_eq!(status, 413, "{answer:?}");
}

/// Two cluster nodes on one Redis behind one nginx made by `natter
/// nginx-config --upstream A --upstream B`: a client through nginx chats,
/// the node it is on is killed, and through the same nginx it lands on the
/// other and resumes with nothing lost.
#[test]
fn a_cluster_behind_nginx_survives_the_node_a_client_is_on() {
    let redis = common::RedisServer::start();
    let dir = common::TempDir::new("nginx-cluster");
    let public = free_port();
    let public_url = format!("http://127.0.0.1:{public}");
    let ws_url = format!("ws://127.0.0.1:{public}/ws");
    let url = redis.url();
    let node = |name: &str| {
        let db = dir.file(name);
        common::Binary::start(&[
            "--public-url",
            &public_url,
            "--ws-url",
            &ws_url,
            "--trust-proxy",
            "--redis",
            &url,
            "--db",
            &db,
        ])
    };
    let mut nodes = vec![Some(node("a.db")), Some(node("b.db"))];
    let mut args: Vec<String> = vec![
        "--listen".into(),
        format!("127.0.0.1:{public}"),
        "--server-name".into(),
        "127.0.0.1".into(),
    ];
    for n in nodes.iter().flatten() {
        args.push("--upstream".into());
        args.push(format!("127.0.0.1:{},{}", n.web.port(), n.ws.port()));
    }
    let site = generated_config(&args);
    assert!(site.contains("hash $remote_addr consistent;"));
    let _nginx = start_nginx(&site, public);
    let front = SocketAddr::from(([127, 0, 0, 1], public));
    let site = common::attach(front, front);
    // Both nodes ready (each knows the leader).
    for n in nodes.iter().flatten() {
        let direct = n.server();
        let deadline = Instant::now() + common::DEADLINE;
        while direct.get("/healthz", None).status != 200 {
            assert!(Instant::now() < deadline, "a node never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let token = site.login("alice", "lobby");
    let mut alice = site.connect().session(&token).open();
    let epoch = alice.recv_type("hello")["epoch"]
        .as_str()
        .unwrap()
        .to_string();
    alice.join("lobby");
    for n in 0..3 {
        alice.say("lobby", &format!("m{n}"));
    }
    let since = loop {
        let m = alice.recv_message();
        if m["text"] == "m0" {
            break m["id"].as_u64().unwrap();
        }
    };
    while alice.recv_message()["text"] != "m2" {}
    // The node alice is on: the one whose process holds her connection.
    let on = (0..2)
        .find(|&i| {
            let pid = nodes[i].as_ref().unwrap().child.id();
            common::proc_fds(pid) > 0 && established_to(pid, nodes[i].as_ref().unwrap().ws.port())
        })
        .expect("alice is on one of the nodes");
    let mut gone = nodes[on].take().unwrap();
    gone.signal("KILL");
    gone.wait_exit(common::DEADLINE);
    let _ = alice.expect_close();
    // Through the same nginx: the other node (nginx skips the dead one),
    // once it answers (a failover takes a few seconds when it was the leader).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut alice = loop {
        assert!(Instant::now() < deadline, "never reconnected through nginx");
        match site.connect().session(&token).try_open() {
            Ok(mut client) => {
                client.recv_type("hello");
                break client;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    alice
        .send(serde_json::json!({"type": "join", "room": "lobby", "since": since, "epoch": epoch}));
    let joined = alice.recv_type("joined");
    assert_eq!(joined["gap"], false, "{joined}");
    let texts: Vec<&str> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m1", "m2"], "nothing lost, nothing twice");
    drop(nodes);
}

/// Whether process `pid` has a TCP connection established on local port
/// `port` (from /proc/net/tcp and its file descriptors).
fn established_to(pid: u32, port: u16) -> bool {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    l.strip_prefix("socket:[")
                        .and_then(|s| s.strip_suffix(']'))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() > 9
            && f[3] == "01" // ESTABLISHED
            && f[1].ends_with(&format!(":{port:04X}"))
            && inodes.contains(f[9])
    })
}
