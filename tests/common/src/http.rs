//! HTTP the simple way: one HTTP/1.1 request with `Connection: close` on a
//! fresh connection, read to the end within the deadline, and parsed.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::{TestServer, DEADLINE};

/// A whole response: status, headers (names in lower case), body as text.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl TestServer {
    /// Log in and return the session token (the cookie's value).
    pub fn login(&self, name: &str, room: &str) -> String {
        let response = self.post_form("/login", &[("name", name), ("room", room)], None);
        assert_eq!(response.status, 303, "login failed: {}", response.body);
        response
            .cookie()
            .expect("a successful login sets the session cookie")
    }

    pub fn get(&self, path: &str, cookie: Option<&str>) -> HttpResponse {
        let mut headers = Vec::new();
        if let Some(token) = cookie {
            headers.push(format!("Cookie: natter_session={token}"));
        }
        self.request("GET", path, &headers, b"")
    }

    pub fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> HttpResponse {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut headers = vec!["Content-Type: application/x-www-form-urlencoded".to_string()];
        if let Some(token) = cookie {
            headers.push(format!("Cookie: natter_session={token}"));
        }
        self.request("POST", path, &headers, body.as_bytes())
    }

    /// One HTTP/1.1 request with `Connection: close`, read to the end.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[String],
        body: &[u8],
    ) -> HttpResponse {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.web.port(),
            body.len()
        );
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut stream = self.web_stream();
        stream
            .write_all(head.as_bytes())
            .expect("the server reads a request head");
        stream.write_all(body).expect("the server reads the body");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .expect("the response arrives before the deadline");
        HttpResponse::parse(&raw)
    }

    /// Send these exact bytes to the web port, say that nothing more follows
    /// (so a server that would wait for a next request sees the end), and read
    /// the answer until the server closes the connection (within the deadline).
    /// The server may answer and hang up before it has read all of them (a
    /// head too large), so a failed write is not a failure here.
    pub fn raw(&self, bytes: &[u8]) -> HttpResponse {
        let mut stream = self.web_stream();
        let _ = stream.write_all(bytes);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .expect("the server answers and closes before the deadline");
        HttpResponse::parse(&raw)
    }

    fn web_stream(&self) -> TcpStream {
        let stream = TcpStream::connect(self.web).expect("the web port accepts");
        stream
            .set_read_timeout(Some(DEADLINE))
            .expect("a non-zero timeout is accepted");
        stream
    }
}

impl HttpResponse {
    /// Parse a whole response as read off the socket; a chunked body is
    /// put back together.
    fn parse(raw: &[u8]) -> HttpResponse {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n");
        let (head, body) = match split {
            Some(at) => (&raw[..at], &raw[at + 4..]),
            None => (raw, &b""[..]),
        };
        let head = String::from_utf8_lossy(head);
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("an HTTP status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v == "chunked");
        let body = match chunked {
            true => dechunk(body),
            false => body.to_vec(),
        };
        HttpResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The session token from `Set-Cookie`, if one was set (under either
    /// name: `__Host-natter_session` behind an `https://` public URL).
    pub fn cookie(&self) -> Option<String> {
        let value = self.header("set-cookie")?;
        let value = value.strip_prefix("__Host-").unwrap_or(value);
        let token = value.strip_prefix("natter_session=")?.split(';').next()?;
        (!token.is_empty()).then(|| token.to_string())
    }
}

/// A chunked body's data: each chunk is its size in hex, CRLF, the bytes,
/// CRLF; a chunk of size 0 ends it. What does not parse ends it too (a test
/// then sees a short body).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..end])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok());
        let Some(size) = size.filter(|&n| n > 0 && raw.len() >= end + 2 + n) else {
            break;
        };
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = raw.get(end + 2 + size + 2..).unwrap_or(&[]);
    }
    body
}

/// The value of the `<input name="...">` in a page, HTML entities left as sent.
pub fn input_value<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[at..tag_end];
    let start = tag.find("value=\"")? + "value=\"".len();
    let len = tag[start..].find('"')?;
    Some(&html[at + start..at + start + len])
}

/// Undo the escaping the server applies to text put into a page.
pub fn unescape_html(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
