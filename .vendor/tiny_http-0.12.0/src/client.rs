use ascii::AsciiString;

use std::io::Error as IoError;
use std::io::Result as IoResult;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};

use std::net::SocketAddr;
use std::str::FromStr;

use crate::common::{HTTPVersion, Method};
use crate::response::own_error_page;
use crate::util::RefinedTcpStream;
use crate::util::{SequentialReader, SequentialReaderBuilder, SequentialWriterBuilder};
use crate::Request;

/// A ClientConnection is an object that will store a socket to a client
/// and return Request objects.
pub struct ClientConnection {
    // address of the client
    remote_addr: IoResult<Option<SocketAddr>>,

    // sequence of Readers to the stream, so that the data is not read in
    //  the wrong order
    source: SequentialReaderBuilder<BufReader<RefinedTcpStream>>,

    // sequence of Writers to the stream, to avoid writing response #2 before
    //  response #1
    sink: SequentialWriterBuilder<BufWriter<RefinedTcpStream>>,

    // Reader to read the next header from
    next_header_source: SequentialReader<BufReader<RefinedTcpStream>>,

    // set to true if we know that the previous request is the last one
    no_more_requests: bool,

    // natter's patch: bytes of the current request's head read so far
    // (see `MAX_HEAD_BYTES`)
    head_bytes: usize,

    // natter's patch: how long a request may take to arrive, and the deadline
    // the read half enforces (see `HEAD_TIMEOUT`)
    head_timeout: std::time::Duration,
    head_deadline: std::sync::Arc<crate::util::refined_tcp_stream::HeadDeadline>,

    // true if the connection goes through SSL
    secure: bool,
}

/// Error that can happen when reading a request.
#[derive(Debug)]
enum ReadError {
    WrongRequestLine,
    WrongHeader(HTTPVersion),
    /// the client sent an unrecognized `Expect` header
    ExpectationFailed(HTTPVersion),
    /// natter's patch: the request line and headers passed `MAX_HEAD_BYTES`
    HeadTooLarge,
    /// natter's patch: the headers do not say unambiguously where the body
    /// ends (see `check_framing`); the text says why.
    BadFraming(HTTPVersion, &'static str),
    ReadIoError(IoError),
}

impl ClientConnection {
    /// Creates a new `ClientConnection` that takes ownership of the `TcpStream`.
    pub fn new(
        write_socket: RefinedTcpStream,
        mut read_socket: RefinedTcpStream,
        head_timeout: std::time::Duration,
    ) -> ClientConnection {
        let remote_addr = read_socket.peer_addr();
        let secure = read_socket.secure();
        let head_deadline = read_socket.head_deadline();

        let mut source = SequentialReaderBuilder::new(BufReader::with_capacity(1024, read_socket));
        let first_header = source.next().unwrap();

        ClientConnection {
            source,
            sink: SequentialWriterBuilder::new(BufWriter::with_capacity(1024, write_socket)),
            remote_addr,
            next_header_source: first_header,
            no_more_requests: false,
            head_bytes: 0,
            head_timeout,
            head_deadline,
            secure,
        }
    }

    /// true if the connection is HTTPS
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Reads the next line from self.next_header_source.
    ///
    /// Reads until `CRLF` is reached. The next read will start
    ///  at the first byte of the new line.
    /// (natter's patch: errors are `ReadError`s, to tell `HeadTooLarge` apart.)
    fn read_next_line(&mut self) -> Result<AsciiString, ReadError> {
        let mut buf = Vec::new();
        let mut prev_byte_was_cr = false;

        loop {
            let byte = self.next_header_source.by_ref().bytes().next();

            let byte = match byte {
                Some(b) => b.map_err(ReadError::ReadIoError)?,
                None => {
                    return Err(ReadError::ReadIoError(IoError::new(
                        ErrorKind::ConnectionAborted,
                        "Unexpected EOF",
                    )))
                }
            };

            if byte == b'\n' && prev_byte_was_cr {
                buf.pop(); // removing the '\r'
                return AsciiString::from_ascii(buf).map_err(|_| {
                    ReadError::ReadIoError(IoError::new(
                        ErrorKind::InvalidInput,
                        "Header is not in ASCII",
                    ))
                });
            }

            prev_byte_was_cr = byte == b'\r';

            // natter's patch: the request's first byte starts its clock (see
            // `HEAD_TIMEOUT`); waiting for it is `READ_TIMEOUT`'s business.
            if self.head_bytes == 0 {
                let deadline = std::time::Instant::now() + self.head_timeout;
                self.head_deadline.set(Some(deadline));
            }

            // natter's patch: see `MAX_HEAD_BYTES`.
            self.head_bytes += 1;
            if self.head_bytes > crate::MAX_HEAD_BYTES {
                return Err(ReadError::HeadTooLarge);
            }

            buf.push(byte);
        }
    }

    /// Reads a request from the stream.
    /// Blocks until the header has been read.
    fn read(&mut self) -> Result<Request, ReadError> {
        // natter's patch: each request's head is counted from zero, and its
        // deadline (see `HEAD_TIMEOUT`) ends with it, however it ends.
        self.head_bytes = 0;
        let result = self.read_request();
        self.head_deadline.set(None);
        result
    }

    fn read_request(&mut self) -> Result<Request, ReadError> {
        let (method, path, version, headers) = {
            // reading the request line
            let (method, path, version) = {
                let line = self.read_next_line()?;

                parse_request_line(
                    line.as_str().trim(), // TODO: remove this conversion
                )?
            };

            // getting all headers
            let headers = {
                let mut headers = Vec::new();
                loop {
                    let line = self.read_next_line()?;

                    if line.is_empty() {
                        break;
                    };
                    headers.push(match FromStr::from_str(line.as_str().trim()) {
                        // TODO: remove this conversion
                        Ok(h) => h,
                        _ => return Err(ReadError::WrongHeader(version)),
                    });
                }

                headers
            };

            (method, path, version, headers)
        };

        // natter's patch: see `check_framing`.
        if let Err(why) = check_framing(&method, &headers) {
            return Err(ReadError::BadFraming(version, why));
        }

        // building the writer for the request
        let writer = self.sink.next().unwrap();

        // follow-up for next potential request
        let mut data_source = self.source.next().unwrap();
        std::mem::swap(&mut self.next_header_source, &mut data_source);

        // building the next reader
        let request = crate::request::new_request(
            self.secure,
            method,
            path,
            version.clone(),
            headers,
            *self.remote_addr.as_ref().unwrap(),
            data_source,
            writer,
        )
        .map_err(|e| {
            use crate::request;
            match e {
                request::RequestCreationError::CreationIoError(e) => ReadError::ReadIoError(e),
                request::RequestCreationError::ExpectationFailed => {
                    ReadError::ExpectationFailed(version)
                }
            }
        })?;

        // return the request
        Ok(request)
    }
}

impl Iterator for ClientConnection {
    type Item = Request;

    /// Blocks until the next Request is available.
    /// Returns None when no new Requests will come from the client.
    fn next(&mut self) -> Option<Request> {
        // the client sent a "connection: close" header in this previous request
        //  or is using HTTP 1.0, meaning that no new request will come
        if self.no_more_requests {
            return None;
        }

        loop {
            let rq = match self.read() {
                Err(ReadError::WrongRequestLine) => {
                    let writer = self.sink.next().unwrap();
                    let response = own_error_page(400, "not an HTTP request line\n");
                    response
                        .raw_print(writer, HTTPVersion(1, 1), &[], false, None)
                        .ok();
                    return None; // we don't know where the next request would start,
                                 // se we have to close
                }

                Err(ReadError::WrongHeader(ver)) => {
                    let writer = self.sink.next().unwrap();
                    let response = own_error_page(400, "not an HTTP header line\n");
                    response.raw_print(writer, ver, &[], false, None).ok();
                    return None; // we don't know where the next request would start,
                                 // se we have to close
                }

                // natter's patch: only the deadline of `HEAD_TIMEOUT` fails
                // with `TimedOut` here (a socket timeout is `WouldBlock`).
                Err(ReadError::ReadIoError(ref err)) if err.kind() == ErrorKind::TimedOut => {
                    // request timeout
                    let writer = self.sink.next().unwrap();
                    let response = own_error_page(
                        408,
                        &format!(
                            "a request must arrive within {} s of its first byte\n",
                            self.head_timeout.as_secs_f64()
                        ),
                    );
                    response
                        .raw_print(writer, HTTPVersion(1, 1), &[], false, None)
                        .ok();
                    return None; // closing the connection
                }

                // natter's patch: see `MAX_HEAD_BYTES`.
                Err(ReadError::HeadTooLarge) => {
                    let writer = self.sink.next().unwrap();
                    let response = own_error_page(
                        431,
                        &format!(
                            "the request line and headers are limited to {} bytes\n",
                            crate::MAX_HEAD_BYTES
                        ),
                    );
                    response
                        .raw_print(writer, HTTPVersion(1, 1), &[], false, None)
                        .ok();
                    return None; // the rest of the head is unread: close
                }

                // natter's patch: see `check_framing`. Where this request's
                // body ends is unclear, so where the next request starts is
                // too: answer and close.
                Err(ReadError::BadFraming(ver, why)) => {
                    let writer = self.sink.next().unwrap();
                    let response = own_error_page(400, &format!("{why}\n"));
                    response.raw_print(writer, ver, &[], false, None).ok();
                    return None;
                }

                Err(ReadError::ExpectationFailed(ver)) => {
                    let writer = self.sink.next().unwrap();
                    let response =
                        own_error_page(417, "the only Expect understood is 100-continue\n");
                    response.raw_print(writer, ver, &[], true, None).ok();
                    return None; // TODO: should be recoverable, but needs handling in case of body
                }

                Err(ReadError::ReadIoError(_)) => return None,

                Ok(rq) => rq,
            };

            // checking HTTP version
            if *rq.http_version() > (1, 1) {
                // natter's patch: upstream wrote this answer through the next
                // writer in line (`self.sink.next()`), which waits until the
                // writer of `rq`, still alive here, is done: the connection's
                // thread waited forever, one per `HTTP/2.0` request line, and
                // no read timeout could end it. Answer through `rq`'s own
                // writer, then close: what follows is not HTTP/1.
                let mut writer = rq.into_writer();
                let response =
                    own_error_page(505, "This server only supports HTTP versions 1.0 and 1.1");
                response
                    .raw_print(&mut writer, HTTPVersion(1, 1), &[], false, None)
                    .ok();
                writer.flush().ok();
                return None;
            }

            // updating the status of the connection
            let connection_header = rq
                .headers()
                .iter()
                .find(|h| h.field.equiv("Connection"))
                .map(|h| h.value.as_str());

            let lowercase = connection_header.map(|h| h.to_ascii_lowercase());

            match lowercase {
                Some(ref val) if val.contains("close") => self.no_more_requests = true,
                Some(ref val) if val.contains("upgrade") => self.no_more_requests = true,
                Some(ref val)
                    if !val.contains("keep-alive") && *rq.http_version() == HTTPVersion(1, 0) =>
                {
                    self.no_more_requests = true
                }
                None if *rq.http_version() == HTTPVersion(1, 0) => self.no_more_requests = true,
                _ => (),
            };

            // returning the request
            return Some(rq);
        }
    }
}

/// natter's patch: refuse a request whose headers leave any doubt about where
/// its body ends. Upstream took the first `Content-Length` of several, let a
/// `Transfer-Encoding` silently override a `Content-Length`, read any
/// `Transfer-Encoding` as chunked, and ignored a `Content-Length` it could not
/// parse. A proxy in front that read the same headers differently would see
/// the body end elsewhere, and the bytes in between would reach natter as a
/// request of the attacker's making (request smuggling, RFC 9112 section 11.2).
/// A `GET` or `HEAD` has no body in HTTP's semantics; one that announces a body
/// is refused too rather than answered while its body waits in the socket.
fn check_framing(method: &Method, headers: &[crate::Header]) -> Result<(), &'static str> {
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.field.equiv(name))
            .map(|h| h.value.as_str())
    };
    let lengths: Vec<&str> = values("Content-Length").collect();
    let encodings: Vec<&str> = values("Transfer-Encoding").collect();
    if lengths.len() > 1 {
        return Err("a request may carry one Content-Length header, not several");
    }
    if !lengths.is_empty() && !encodings.is_empty() {
        return Err("a request may carry Content-Length or Transfer-Encoding, not both");
    }
    if encodings.len() > 1 || encodings.iter().any(|e| !e.eq_ignore_ascii_case("chunked")) {
        return Err("the only Transfer-Encoding accepted is a single `chunked`");
    }
    let length = match lengths.first() {
        None => None,
        // Digits only: Rust's integer parsing would also take "+5".
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => match v.parse() {
            Ok(n) => Some(n),
            Err(_) => return Err("Content-Length is too large a number"),
        },
        Some(_) => return Err("Content-Length must be a decimal number"),
    };
    let has_body = !encodings.is_empty() || length.is_some_and(|n: usize| n > 0);
    if has_body && matches!(method, Method::Get | Method::Head) {
        return Err("a GET or HEAD request may not carry a body");
    }
    Ok(())
}

/// Parses a "HTTP/1.1" string.
fn parse_http_version(version: &str) -> Result<HTTPVersion, ReadError> {
    let (major, minor) = match version {
        "HTTP/0.9" => (0, 9),
        "HTTP/1.0" => (1, 0),
        "HTTP/1.1" => (1, 1),
        "HTTP/2.0" => (2, 0),
        "HTTP/3.0" => (3, 0),
        _ => return Err(ReadError::WrongRequestLine),
    };

    Ok(HTTPVersion(major, minor))
}

/// Parses the request line of the request.
/// eg. GET / HTTP/1.1
fn parse_request_line(line: &str) -> Result<(Method, String, HTTPVersion), ReadError> {
    let mut parts = line.split(' ');

    let method = parts.next().and_then(|w| w.parse().ok());
    let path = parts.next().map(ToOwned::to_owned);
    let version = parts.next().and_then(|w| parse_http_version(w).ok());

    method
        .and_then(|method| Some((method, path?, version?)))
        .ok_or(ReadError::WrongRequestLine)
}

#[cfg(test)]
mod test {
    #[test]
    fn test_parse_request_line() {
        let (method, path, ver) = super::parse_request_line("GET /hello HTTP/1.1").unwrap();

        assert!(method == crate::Method::Get);
        assert!(path == "/hello");
        assert!(ver == crate::common::HTTPVersion(1, 1));

        assert!(super::parse_request_line("GET /hello").is_err());
        assert!(super::parse_request_line("qsd qsd qsd").is_err());
    }
}
