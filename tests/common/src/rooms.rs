//! Rooms with owners (issue 16): people with their public ids, logged in and
//! connected from an address of their choice, and the room requests with the
//! frames that answer them. Every wait has the deadline of [`Client::recv`].
//!
//! ```text
//! let mut alice = server.person("alice");
//! alice.enter("Den");
//! let key = alice.claim("Den");
//! let frames = alice.ok(json!({"type":"kick","room":"Den","user":"bob"}), &[notice("kick")]);
//! bob.refused(json!({"type":"join","room":"Den"}), &[is("joined")], "banned");
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::{Deref, DerefMut};

use serde_json::{json, Value};

use crate::{Client, TestServer, DEADLINE};

/// Someone logged in (a session of their own, so a `uid` of their own) and
/// connected past `hello`. Derefs to its [`Client`].
pub struct Person {
    pub name: String,
    pub token: String,
    pub uid: String,
    /// The loopback address it logged in and connected from.
    pub from: String,
    pub hello: Value,
    pub client: Client,
}

impl Deref for Person {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for Person {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl TestServer {
    /// A new session for `name` from 127.0.0.1, connected past `hello`.
    pub fn person(&self, name: &str) -> Person {
        self.person_from(name, "127.0.0.1")
    }

    /// A new session for `name`, logged in and connected from `from` (a
    /// loopback address such as 127.0.0.2: another machine, as far as the
    /// server can tell).
    pub fn person_from(&self, name: &str, from: &str) -> Person {
        let token = self.login_from(name, "lobby", from);
        let mut client = self.connect().session(&token).from(from).open();
        let hello = client.recv_type("hello");
        assert_eq!(hello["user"], name, "{hello}");
        let uid = hello["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("hello has a uid: {hello}"))
            .to_string();
        Person {
            name: name.to_string(),
            token,
            uid,
            from: from.to_string(),
            hello,
            client,
        }
    }

    /// Another connection of `person`'s session (a second tab), from the
    /// same address, past `hello` (returned beside it).
    pub fn tab(&self, person: &Person) -> (Client, Value) {
        let mut client = self
            .connect()
            .session(&person.token)
            .from(&person.from)
            .open();
        let hello = client.recv_type("hello");
        assert_eq!(
            hello["uid"],
            person.uid.as_str(),
            "the same session: {hello}"
        );
        (client, hello)
    }

    /// `login`, with the HTTP request made from `from`.
    pub fn login_from(&self, name: &str, room: &str, from: &str) -> String {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("name", name), ("room", room)])
            .finish();
        let request = format!(
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            self.web.port(),
            body.len()
        );
        let mut stream = web_stream_from(self.web, from);
        stream
            .write_all(request.as_bytes())
            .expect("the server reads the login");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .expect("the login answer arrives before the deadline");
        let head = String::from_utf8_lossy(&raw);
        assert!(head.starts_with("HTTP/1.1 303"), "login failed: {head}");
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| {
                let v = v.trim();
                let v = v.strip_prefix("__Host-").unwrap_or(v);
                Some(
                    v.strip_prefix("natter_session=")?
                        .split(';')
                        .next()?
                        .to_string(),
                )
            })
            .expect("a successful login sets the session cookie")
    }
}

fn web_stream_from(to: SocketAddr, from: &str) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, None).expect("a socket");
    let local: SocketAddr = format!("{from}:0").parse().expect("a loopback address");
    socket
        .bind(&local.into())
        .expect("bind to a loopback address");
    socket.connect(&to.into()).expect("the web port accepts");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("a non-zero timeout is accepted");
    stream
}

/// What a wait looks for: a test on one frame.
pub type Want = Box<dyn Fn(&Value) -> bool>;

/// A frame of this `type`.
pub fn is(kind: &'static str) -> Want {
    Box::new(move |v| v["type"] == kind)
}

/// A `system` notice of this `event`.
pub fn notice(event: &'static str) -> Want {
    Box::new(move |v| v["type"] == "system" && v["event"] == event)
}

/// A `system` notice of this `event` about `user` (the target's name).
pub fn notice_on(event: &'static str, user: &str) -> Want {
    let user = user.to_string();
    Box::new(move |v| v["type"] == "system" && v["event"] == event && v["user"] == user.as_str())
}

/// A test on settings: every field of `fields` but `password` has the
/// value given.
pub fn settings_show(fields: Value) -> impl Fn(&Value) -> bool + 'static {
    move |s| {
        fields
            .as_object()
            .expect("fields are an object")
            .iter()
            .all(|(k, v)| k == "password" || s[k] == *v)
    }
}

/// A `room` frame whose `settings` pass `test`.
pub fn room_where(test: impl Fn(&Value) -> bool + 'static) -> Want {
    Box::new(move |v| v["type"] == "room" && test(&v["settings"]))
}

/// The role `uid` has in these settings (`member` when `roles` omits it).
pub fn role_of(settings: &Value, uid: &str) -> String {
    settings["roles"]
        .as_array()
        .unwrap_or_else(|| panic!("settings have roles: {settings}"))
        .iter()
        .find(|r| r["uid"] == uid)
        .map_or("member".to_string(), |r| {
            r["role"].as_str().expect("a role is a string").to_string()
        })
}

/// The requests of the room protocol, and waits for their answers.
pub trait Rooms {
    /// Read until a frame passes each of `wanted` (in any order), and return
    /// the first one that passed each, in the order of `wanted`. An `error`
    /// frame before then is the `Err`.
    fn wait(&mut self, wanted: &[Want]) -> Result<Vec<Value>, Value>;

    /// Send `frame`, then `wait`.
    fn request(&mut self, frame: Value, wanted: &[Want]) -> Result<Vec<Value>, Value>;

    /// `request`, which must succeed.
    #[track_caller]
    fn ok(&mut self, frame: Value, wanted: &[Want]) -> Vec<Value> {
        let sent = frame.to_string();
        match self.request(frame, wanted) {
            Ok(frames) => frames,
            Err(error) => panic!("{sent} was refused: {error}"),
        }
    }

    /// `request`, which must be refused with `code`; the error frame. A
    /// frame passing all of `accepted` means it went through (a failure).
    #[track_caller]
    fn refused(&mut self, frame: Value, accepted: &[Want], code: &str) -> Value {
        let sent = frame.to_string();
        match self.request(frame, accepted) {
            Ok(frames) => panic!("{sent} went through (expected {code}): {frames:?}"),
            Err(error) => {
                assert_eq!(error["code"], code, "{sent} → {error}");
                error
            }
        }
    }

    /// Join `room`: the `joined` frame.
    #[track_caller]
    fn enter(&mut self, room: &str) -> Value {
        self.enter_with(json!({"type": "join", "room": room}))
    }

    /// Send this `join` (with an invite, a password, a `since`): `joined`.
    #[track_caller]
    fn enter_with(&mut self, join: Value) -> Value {
        self.ok(join, &[is("joined")]).remove(0)
    }

    /// Claim `room` (joined already): the owner key, once the `room` frame
    /// that says so has come too.
    #[track_caller]
    fn claim(&mut self, room: &str) -> String {
        let frames = self.ok(
            json!({"type": "claim", "room": room}),
            &[is("claimed"), room_where(|s| s["owned"] == true)],
        );
        let key = frames[0]["owner_key"]
            .as_str()
            .unwrap_or_else(|| panic!("claimed carries the owner key: {}", frames[0]))
            .to_string();
        assert_eq!(frames[0]["room"], room, "{}", frames[0]);
        key
    }

    /// `set_room` with these fields: the settings of the first `room` frame
    /// that shows them (a `password` is never shown: one that changes only
    /// the password takes the next `room` frame).
    #[track_caller]
    fn set_room(&mut self, room: &str, fields: Value) -> Value {
        let mut frame = json!({"type": "set_room", "room": room});
        for (k, v) in fields.as_object().expect("fields are an object") {
            frame[k] = v.clone();
        }
        let shown = settings_show(fields);
        self.ok(frame, &[room_where(shown)]).remove(0)["settings"].clone()
    }

    /// Make `uid` a moderator (or `role`) of `room`: the settings once they
    /// say so.
    #[track_caller]
    fn set_role(&mut self, room: &str, uid: &str, role: &'static str) -> Value {
        let who = uid.to_string();
        let frame = json!({"type": "set_role", "room": room, "uid": uid, "role": role});
        self.ok(frame, &[room_where(move |s| role_of(s, &who) == role)])
            .remove(0)["settings"]
            .clone()
    }

    /// Create an invite (`fields`: `max_age_s`, `max_uses`): `invite_created`,
    /// once the `room` frame that lists it has come too.
    #[track_caller]
    fn invite(&mut self, room: &str, fields: Value) -> Value {
        let mut frame = json!({"type": "invite", "room": room});
        for (k, v) in fields.as_object().expect("fields are an object") {
            frame[k] = v.clone();
        }
        let created = self.ok(frame, &[is("invite_created")]).remove(0);
        let id = created["id"].clone();
        let listed = room_where(move |s| {
            s["invites"]
                .as_array()
                .is_some_and(|i| i.iter().any(|i| i["id"] == id))
        });
        if let Err(error) = self.wait(&[listed]) {
            panic!("no room frame listed the invite {created}: {error}");
        }
        created
    }

    /// Say `text` in `room` and read it back: the message.
    #[track_caller]
    fn said(&mut self, room: &str, text: &str) -> Value {
        let frame = json!({"type": "message", "room": room, "text": text});
        let text = text.to_string();
        self.ok(
            frame,
            &[Box::new(move |v| {
                v["type"] == "message" && v["text"] == text.as_str()
            })],
        )
        .remove(0)
    }

    /// Read up to the message with this text, which must be the next
    /// message to come: whatever else was said before it would have come
    /// first (one hub, in order).
    fn next_message_is(&mut self, text: &str);
}

impl Rooms for Client {
    fn wait(&mut self, wanted: &[Want]) -> Result<Vec<Value>, Value> {
        let mut found: Vec<Option<Value>> = vec![None; wanted.len()];
        while found.iter().any(Option::is_none) {
            let frame = self.recv();
            if frame["type"] == "error" {
                return Err(frame);
            }
            for (slot, want) in found.iter_mut().zip(wanted) {
                if slot.is_none() && want(&frame) {
                    *slot = Some(frame.clone());
                }
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    fn request(&mut self, frame: Value, wanted: &[Want]) -> Result<Vec<Value>, Value> {
        self.send(frame);
        self.wait(wanted)
    }

    fn next_message_is(&mut self, text: &str) {
        let message = self.recv_message();
        assert_eq!(message["text"], text, "the next message: {message}");
    }
}

/// Now, in milliseconds since the Unix epoch (to compare with `until_ts`).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_millis() as u64
}
