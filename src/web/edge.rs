//! The edge: what keeps the open internet from taking the pages down. A first
//! reading can skip this file; the routes work the same without an attacker.
//!
//! tiny_http was written for friendly clients (no timeouts, a thread per
//! connection, no header-size limit: tiny-http #143, #221, #56). natter ships
//! it patched (`.vendor/README.md`: timeouts, a deadline for a request's head,
//! a per-address connection cap, strict body framing, an accept loop that
//! never gives up), the chat does not depend on this listener once a page is
//! loaded, and the README's deployment section says what to put in front of
//! it (`natter nginx-config`). What is left to do from natter's side is here:
//!
//! - the limits handed to tiny_http (`limits`);
//! - every request must name this server in `Host` (`check_host`), against
//!   DNS rebinding;
//! - a `POST` whose body is still in the socket is answered on a thread of its
//!   own (`handle_on_own_thread`), never on one of the few page workers;
//! - a panic while answering costs that one request (`handle_caught`).
//!
//! The login forms' origin check is in `login.rs`, with the forms.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use tiny_http::{Method, Request, Server};

use super::pages::{first_header, text, Page};
use super::{handle, WebContext};
use crate::config::Config;

/// The limits the patched tiny_http enforces before natter sees a request.
/// Behind a proxy (`--trust-proxy`) every connection comes from the proxy's
/// address, so a per-address cap would cap everyone together; the proxy caps
/// per address instead.
pub(super) fn limits(config: &Config) -> tiny_http::Limits {
    tiny_http::Limits {
        head_timeout: config.web_head_timeout,
        write_timeout: config.web_write_timeout,
        max_connections_per_address: match config.trust_proxy {
            true => usize::MAX,
            false => config.max_web_per_ip,
        },
    }
}

/// Every request must name this server in its one `Host` header (see
/// `origin::host_allowed`): a page on another site that has rebound its own
/// name to this machine's address still sends its own name, and gets 421.
/// HTTP/1.1 requires exactly one `Host` (RFC 9112 section 3.2); a request
/// without one comes from no browser, and is refused too.
pub(super) fn check_host(request: &Request, config: &Config) -> Result<(), Page> {
    let mut hosts = request
        .headers()
        .iter()
        .filter(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str());
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host,
        (None, _) => return Err(text(400, "a request needs a Host header\n")),
        (Some(_), Some(_)) => return Err(text(400, "a request may carry one Host header\n")),
    };
    if crate::origin::host_allowed(host, config) {
        return Ok(());
    }
    let message = match crate::origin::normal_host_name(host) {
        Some(name) => format!(
            "this server does not answer to the name {name}; if that is its name, \
             start natter with --allowed-host {name}\n"
        ),
        None => "this server does not answer to that Host\n".to_string(),
    };
    Err(text(421, &message))
}

/// One page worker: answer requests until the server is unblocked (`stop`).
/// Several threads run this on one `Server`; each request is handled start
/// to finish by one of them, or handed to a body thread.
pub(super) fn page_worker(server: &Server, context: &Arc<WebContext>) {
    for request in server.incoming_requests() {
        if needs_own_thread(&request) {
            handle_on_own_thread(request, context);
        } else {
            handle_caught(request, context);
        }
    }
}

/// Answer one request; a panic while doing so costs that request only. A
/// page worker that died of a panic would not be replaced, and a handful of
/// them would leave nobody to answer pages.
fn handle_caught(request: Request, context: &Arc<WebContext>) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(request, context)));
}

/// Whether a request goes to a body thread (see `handle_on_own_thread`): a
/// `POST` whose body is still in the socket. Only a `POST` (the login and
/// account forms) ever reads a body, so no other method needs a thread for one; a `DELETE` with a chunked
/// body is answered by the page worker without a byte of its body being read
/// (and a `GET` announcing one is refused by the patched tiny_http).
fn needs_own_thread(request: &Request) -> bool {
    *request.method() == Method::Post && !body_in_memory(request)
}

/// Requests whose body is still in the socket that may be answered on threads
/// of their own at once (see `handle_on_own_thread`). Past this they are
/// answered by the page worker that received them, as any other request.
/// Browsers never send such a body, so these are abuse, and 256 idle threads
/// cost about as much as 256 idle connections.
const MAX_BODY_THREADS: usize = 256;

/// Body threads running now, in this process.
static BODY_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Whether tiny_http has already read this request's whole body into memory.
/// This mirrors tiny_http's `new_request`: a `Content-Length` of at most
/// [`tiny_http::BUFFERED_BODY_BYTES`] without `Expect` is read on tiny_http's
/// own connection thread, within its head deadline; every other body (larger,
/// chunked, `Expect: 100-continue`, a `Connection: upgrade` stream) is still
/// in the socket when the request reaches us.
fn body_in_memory(request: &Request) -> bool {
    let first = |name: &'static str| first_header(request, name);
    if first("Transfer-Encoding").is_some()
        || first("Connection").is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"))
    {
        return false;
    }
    match request.body_length() {
        None | Some(0) => true,
        Some(n) => n <= tiny_http::BUFFERED_BODY_BYTES && first("Expect").is_none(),
    }
}

/// Answer a request whose body is still in the socket on a thread of its own.
///
/// Reading such a body waits for whatever bytes the client chooses to send,
/// one per `WEB_READ_TIMEOUT` if it likes, up to the form's limit: on a page
/// worker, four such clients stopped every page. (Dropping the request with
/// its body unread costs nothing: the patched tiny_http leaves the rest in
/// the socket and closes the connection.)
fn handle_on_own_thread(request: Request, context: &Arc<WebContext>) {
    let Some(slot) = BodyThread::claim() else {
        return handle_caught(request, context);
    };
    let for_thread = context.clone();
    let answered = on_own_thread("web-body", request, move |request| {
        let _slot = slot;
        handle_caught(request, &for_thread);
    });
    // Without a thread, answer it here after all.
    if let Some(request) = answered {
        handle_caught(request, context);
    }
}

/// Run `work` on a new thread named `name`, handing it `request`. If no
/// thread can be started (near the system's limit), the request comes back
/// (`Some`) to be answered where it is: it is handed over by a channel, not
/// moved into the thread's closure, because a closure that never runs would
/// drop it unanswered. Whatever else `work` holds (a slot) is dropped, and so
/// given back, either way.
pub(super) fn on_own_thread(
    name: &str,
    request: Request,
    work: impl FnOnce(Request) + Send + 'static,
) -> Option<Request> {
    let (give, take) = crossbeam_channel::bounded::<Request>(1);
    let spawned = thread::Builder::new().name(name.into()).spawn(move || {
        if let Ok(request) = take.recv() {
            work(request);
        }
    });
    match spawned {
        Ok(_) => give.send(request).err().map(|unsent| unsent.0),
        Err(_) => Some(request),
    }
}

/// One of the `MAX_BODY_THREADS`; given back when dropped, even by a panic.
struct BodyThread;

impl BodyThread {
    fn claim() -> Option<BodyThread> {
        if BODY_THREADS.fetch_add(1, Ordering::SeqCst) < MAX_BODY_THREADS {
            Some(BodyThread)
        } else {
            BODY_THREADS.fetch_sub(1, Ordering::SeqCst);
            None
        }
    }
}

impl Drop for BodyThread {
    fn drop(&mut self) {
        BODY_THREADS.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::super::pages::header;
    use super::*;

    #[test]
    fn only_a_post_with_its_body_in_the_socket_gets_a_body_thread() {
        use tiny_http::TestRequest;
        let chunked = || header("Transfer-Encoding", "chunked");
        for method in [Method::Get, Method::Head, Method::Options, Method::Delete] {
            let request: Request = TestRequest::new()
                .with_method(method.clone())
                .with_header(chunked())
                .into();
            assert!(!needs_own_thread(&request), "{method} with a chunked body");
        }
        let post: Request = TestRequest::new()
            .with_method(Method::Post)
            .with_header(chunked())
            .into();
        assert!(needs_own_thread(&post));
        let small: Request = TestRequest::new()
            .with_method(Method::Post)
            .with_body("name=a&room=b")
            .into();
        assert!(
            !needs_own_thread(&small),
            "a small body is already in memory"
        );
    }

    #[test]
    fn web_connections_count_per_address_and_ipv6_per_64() {
        let group = |ip: &str| tiny_http::address_group(ip.parse().unwrap());
        assert_eq!(group("192.0.2.7"), group("192.0.2.7"));
        assert_ne!(group("192.0.2.7"), group("192.0.2.8"));
        // One IPv6 subscriber picks any address in its /64.
        assert_eq!(group("2001:db8:1:2:aaaa::1"), group("2001:db8:1:2:bbbb::2"));
        assert_ne!(group("2001:db8:1:2::1"), group("2001:db8:1:3::1"));
        assert_eq!(group("::ffff:192.0.2.7"), group("192.0.2.7"));
    }
}
