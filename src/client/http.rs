//! The smallest HTTP/1.1 client that talks to natter: one request per
//! connection (`Connection: close`), a whole answer read back. Plain
//! `http://` only: natter has no TLS of its own, and a remote natter behind
//! https is for `curl` (see the README).

use std::io::{Read, Write};
use std::net::TcpStream;

use super::{CONNECT_TIMEOUT, IO_TIMEOUT, MAX_ANSWER_BYTES};

/// Where natter is: `http://host[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Url {
    /// `host:port`, as `Host` says it and as a socket address is looked up
    /// (an IPv6 address keeps its brackets).
    pub authority: String,
    /// A path the server sits under (behind a proxy), without its last `/`.
    pub prefix: String,
}

impl Url {
    pub fn parse(text: &str, scheme: &str, default_port: u16) -> Result<Url, String> {
        let rest = text.strip_prefix(&format!("{scheme}://")).ok_or_else(|| {
            format!("{text:?} is not a {scheme}:// URL (natter speaks plain {scheme} only)")
        })?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err(format!("{text:?} names no host"));
        }
        // A port is whatever follows the last ':' outside IPv6 brackets.
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'));
        let authority = match has_port {
            true => authority.to_string(),
            false => format!("{authority}:{default_port}"),
        };
        Ok(Url {
            authority,
            prefix: path.trim_end_matches('/').to_string(),
        })
    }
}

/// An answer: its status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// `method path` with these extra headers and body; the whole answer.
pub fn request(
    url: &Url,
    method: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> Result<Answer, String> {
    let unreachable = |e: std::io::Error| format!("cannot reach {}: {e}", url.authority);
    let address = std::net::ToSocketAddrs::to_socket_addrs(&url.authority)
        .map_err(unreachable)?
        .next()
        .ok_or_else(|| format!("{} has no address", url.authority))?;
    let mut stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(unreachable)?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(unreachable)?;
    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        url.prefix,
        url.authority,
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(unreachable)?;
    stream.write_all(body).map_err(unreachable)?;
    let mut raw = Vec::new();
    let limit = MAX_ANSWER_BYTES as u64;
    stream
        .take(limit)
        .read_to_end(&mut raw)
        .map_err(unreachable)?;
    parse(&raw)
}

/// An HTTP/1.1 answer from its bytes: a `Content-Length` body, a chunked
/// one, or (with `Connection: close`) whatever came until the end.
pub fn parse(raw: &[u8]) -> Result<Answer, String> {
    let bad = || "the server's answer is not HTTP".to_string();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(bad)?;
    let mut body = &raw[end + 4..];
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| bad())?;
            body = body.get(..n).ok_or("the server's answer was cut short")?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    let body = match chunked {
        true => unchunk(body).ok_or("the server's chunked answer is broken")?,
        false => body.to_vec(),
    };
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A chunked body's bytes.
fn unchunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = body.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&body[..line]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        body = &body[line + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = Url::parse("http://127.0.0.1:8080/", "http", 80).unwrap();
        assert_eq!(
            (url.authority.as_str(), url.prefix.as_str()),
            ("127.0.0.1:8080", "")
        );
        let url = Url::parse("http://chat.lan/natter", "http", 80).unwrap();
        assert_eq!(
            (url.authority.as_str(), url.prefix.as_str()),
            ("chat.lan:80", "/natter")
        );
        let url = Url::parse("http://[::1]:9000", "http", 80).unwrap();
        assert_eq!(url.authority, "[::1]:9000");
        assert_eq!(
            Url::parse("http://[::1]", "http", 80).unwrap().authority,
            "[::1]:80"
        );
        assert!(Url::parse("https://chat.example.com", "http", 80).is_err());
        assert!(Url::parse("http://", "http", 80).is_err());
    }

    #[test]
    fn answers() {
        let a = parse(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}extra").unwrap();
        assert_eq!((a.status, a.body.as_str()), (201, "{}"));
        let a = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            .unwrap();
        assert_eq!(a.body, "abcde");
        let a = parse(b"HTTP/1.1 401 Unauthorized\r\n\r\nno").unwrap();
        assert_eq!((a.status, a.body.as_str()), (401, "no"));
        assert!(parse(b"garbage").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
    }
}
