//! Redis's wire protocol (RESP2), as much of it as natter speaks: a command
//! is an array of byte strings, and a reply is one of five kinds. You can
//! read all of it in a few minutes, and watch it with `redis-cli monitor`.
//!
//! ```text
//! natter ─▶ *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n     (SET k v)
//! redis  ◀─ +OK\r\n                                    a status
//!           :42\r\n                                    an integer
//!           $5\r\nhello\r\n   or  $-1\r\n              a byte string, or nil
//!           *2\r\n...         or  *-1\r\n              an array, or nil
//!           -ERR wrong type\r\n                        an error
//! ```
//!
//! Why not the `redis` crate: it was the first choice, with its default
//! features off, and it works; but with what it brings (a URL parser with
//! its Unicode tables, a parser-combinator library) it made natter's static
//! binary 5.37 MB, past the 5 MB it must stay under. This file is what
//! natter needs of it, blocking and with time-outs, like everything else.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The largest reply natter reads: a snapshot (`MAX_SNAPSHOT_BYTES`) and a
/// little more. A longer one is a broken server or a stranger.
const MAX_REPLY_BYTES: usize = 513 * 1024 * 1024;

/// One reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Int(i64),
    /// A byte string, or a status (`+OK`).
    Data(Vec<u8>),
    Array(Vec<Value>),
}

/// Why a command failed: Redis said no (the connection is still good), or
/// the connection broke (open a new one).
#[derive(Debug)]
pub enum Error {
    Server(String),
    Io(io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Server(message) => write!(f, "Redis said: {message}"),
            Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                write!(f, "Redis closed the connection")
            }
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

fn broken(what: &str) -> Error {
    Error::Io(io::Error::new(io::ErrorKind::InvalidData, what.to_string()))
}

impl Value {
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Data(d) => std::str::from_utf8(d).ok()?.parse().ok(),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<String> {
        match self {
            Value::Data(d) => String::from_utf8(d.clone()).ok(),
            Value::Int(n) => Some(n.to_string()),
            _ => None,
        }
    }

    pub fn into_data(self) -> Option<Vec<u8>> {
        match self {
            Value::Data(d) => Some(d),
            _ => None,
        }
    }

    /// The items of an array (nil is none).
    pub fn into_items(self) -> Vec<Value> {
        match self {
            Value::Array(items) => items,
            _ => Vec::new(),
        }
    }
}

/// One command, built argument by argument: `Cmd::new("SET").arg("k").arg(v)`.
#[derive(Clone, Debug, Default)]
pub struct Cmd {
    args: Vec<Vec<u8>>,
}

impl Cmd {
    pub fn new(name: &str) -> Cmd {
        Cmd {
            args: vec![name.as_bytes().to_vec()],
        }
    }

    pub fn arg(mut self, arg: impl Arg) -> Cmd {
        self.args.push(arg.bytes());
        self
    }

    /// `EVAL script numkeys keys... args...`: a Lua script Redis runs
    /// atomically, nothing else running meanwhile.
    pub fn eval(script: &str, keys: &[&str]) -> Cmd {
        let mut cmd = Cmd::new("EVAL").arg(script).arg(keys.len() as u64);
        for key in keys {
            cmd = cmd.arg(*key);
        }
        cmd
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("*{}\r\n", self.args.len()).as_bytes());
        for arg in &self.args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// What a command's argument can be.
pub trait Arg {
    fn bytes(self) -> Vec<u8>;
}

impl Arg for &str {
    fn bytes(self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl Arg for &String {
    fn bytes(self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl Arg for &[u8] {
    fn bytes(self) -> Vec<u8> {
        self.to_vec()
    }
}

impl Arg for &Vec<u8> {
    fn bytes(self) -> Vec<u8> {
        self.clone()
    }
}

impl Arg for u64 {
    fn bytes(self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

/// One connection to Redis.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    /// Connect to `host:port`, within `timeout`.
    pub fn connect(address: &str, timeout: Duration) -> Result<Conn, Error> {
        let addr = address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| broken("the Redis host has no address"))?;
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    pub fn set_timeouts(&self, read: Duration, write: Duration) -> io::Result<()> {
        self.writer.set_read_timeout(Some(read))?;
        self.writer.set_write_timeout(Some(write))
    }

    /// Send one command and read its reply; an error reply is `Err`.
    pub fn query(&mut self, cmd: &Cmd) -> Result<Value, Error> {
        let mut replies = self.pipeline(std::slice::from_ref(cmd))?;
        replies.pop().expect("one reply per command")
    }

    /// Send several commands in one write, then read one reply each (one
    /// round trip for all of them). An error reply is that command's `Err`;
    /// a broken connection is the whole call's.
    pub fn pipeline(&mut self, cmds: &[Cmd]) -> Result<Vec<Result<Value, Error>>, Error> {
        let mut out = Vec::new();
        for cmd in cmds {
            cmd.encode(&mut out);
        }
        self.writer.write_all(&out)?;
        cmds.iter().map(|_| self.read_reply()).collect()
    }

    /// One reply: `Ok(Ok(value))`, `Ok(Err(refusal))`, or a broken connection.
    fn read_reply(&mut self) -> Result<Result<Value, Error>, Error> {
        let line = self.line()?;
        let (kind, rest) = line.split_at(1);
        let number = || -> Result<i64, Error> {
            rest.parse()
                .map_err(|_| broken("Redis sent a malformed number"))
        };
        Ok(Ok(match kind {
            "+" => Value::Data(rest.as_bytes().to_vec()),
            "-" => return Ok(Err(Error::Server(rest.to_string()))),
            ":" => Value::Int(number()?),
            "$" => match number()? {
                -1 => Value::Nil,
                n if n < 0 || n as usize > MAX_REPLY_BYTES => {
                    return Err(broken("Redis sent a reply too long to take"))
                }
                n => {
                    let mut data = vec![0; n as usize + 2];
                    self.reader.read_exact(&mut data)?;
                    data.truncate(n as usize);
                    Value::Data(data)
                }
            },
            "*" => match number()? {
                -1 => Value::Nil,
                n if n < 0 => return Err(broken("Redis sent a malformed array")),
                n => {
                    let mut items = Vec::with_capacity((n as usize).min(1024));
                    for _ in 0..n {
                        // An error inside an array (a script's) fails the
                        // whole reply.
                        items.push(self.read_reply()??);
                    }
                    Value::Array(items)
                }
            },
            _ => return Err(broken("Redis sent something that is not RESP")),
        }))
    }

    /// One line, without its `\r\n`.
    fn line(&mut self) -> Result<String, Error> {
        let mut line = String::new();
        let n = (&mut self.reader).take(64 * 1024).read_line(&mut line)?;
        if n == 0 {
            return Err(Error::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        if !line.ends_with("\r\n") || line.len() < 3 {
            return Err(broken("Redis sent a line that does not end in CRLF"));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }
}

/// What `--redis redis://[:PASSWORD@]HOST:PORT[/DB]` says.
#[derive(Clone, Debug, PartialEq)]
pub struct Url {
    pub address: String,
    pub password: Option<String>,
    pub db: u64,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let bad = || format!("--redis takes redis://[:PASSWORD@]HOST:PORT[/DB], got {url:?}");
        let rest = url.strip_prefix("redis://").ok_or_else(bad)?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (Some(auth), rest),
            None => (None, rest),
        };
        let password = auth.map(|a| a.split_once(':').map_or(a, |(_, p)| p).to_string());
        let (address, db) = match rest.split_once('/') {
            Some((address, "")) => (address, 0),
            Some((address, db)) => (address, db.parse().map_err(|_| bad())?),
            None => (rest, 0),
        };
        let address = match address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                address.to_string()
            }
            None if !address.is_empty() => format!("{address}:6379"),
            _ => return Err(bad()),
        };
        Ok(Url {
            address,
            password,
            db,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_an_array_of_byte_strings() {
        let mut out = Vec::new();
        Cmd::new("SET").arg("k").arg(42u64).encode(&mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n42\r\n");
    }

    #[test]
    fn urls_name_the_host_port_password_and_database() {
        let u = Url::parse("redis://10.0.0.2:6380/3").unwrap();
        assert_eq!(
            (u.address.as_str(), u.db, u.password),
            ("10.0.0.2:6380", 3, None)
        );
        let u = Url::parse("redis://:s3cret@cache").unwrap();
        assert_eq!(u.address, "cache:6379");
        assert_eq!(u.password.as_deref(), Some("s3cret"));
        for bad in ["http://x:1", "redis://", "redis://h:port", "redis://h:1/x"] {
            assert!(Url::parse(bad).is_err(), "accepted {bad}");
        }
    }
}
