//! A follower's pages come from the leader: in a cluster (`--redis`), every
//! request that needs the chat (a login, a page that knows who you are, an
//! upload, a bot's post) is forwarded as it came to the leader's web port,
//! and its answer is copied back byte for byte. Only `/healthz` and the
//! embedded assets are answered here.
//!
//! So a login on any node is the leader's login, and its cookie works on
//! every node's WebSocket. The leader trusts the client's address this node
//! forwards (`X-Natter-Relay`) only with the secret the nodes share through
//! Redis, so a client cannot set its own.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use std::sync::Arc;

use tiny_http::Request;

use super::{Slot, WebContext};
use crate::config::MAX_RELAYS;

/// The header a follower names the client's address in, after the secret.
pub const RELAY_HEADER: &str = "X-Natter-Relay";

/// How long the leader may take to answer a forwarded request: past the
/// longest long-poll (`MAX_POLL_WAIT`), which is the slowest answer there is.
const RELAY_READ_TIMEOUT: Duration = Duration::from_secs(45);

/// A request a follower forwarded (with the cluster's secret): the client's
/// address, and the WebSocket port of the node the client is on, which the
/// chat page must name (the leader's own would be another origin).
pub fn relayed(request: &Request, context: &WebContext) -> Option<(std::net::IpAddr, u16)> {
    let status = context.cluster.as_ref()?;
    let value = request
        .headers()
        .iter()
        .find(|h| h.field.equiv(RELAY_HEADER))?
        .value
        .as_str();
    let mut parts = value.split(' ');
    if parts.next()? != status.relay_secret {
        return None;
    }
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The WebSocket port the page should connect to: this node's, or for a
/// forwarded request the forwarding node's.
pub fn ws_port(request: &Request, context: &WebContext) -> u16 {
    relayed(request, context).map_or(context.ws_port, |(_, port)| port)
}

/// Whether this request is forwarded: this node follows, and it is not
/// one of the few answered by any node.
pub fn forwards(path: &str, context: &WebContext) -> bool {
    let Some(status) = &context.cluster else {
        return false;
    };
    status.lead().is_none() && path != "/healthz" && !path.starts_with("/assets/")
}

/// Forward `request` on a thread of its own (`web-relay`), so that a slow
/// answer (a long-poll, an export, an upload) never holds one of the page
/// workers: at most `MAX_RELAYS` at once, 503 past them.
pub fn on_own_thread(request: Request, context: &Arc<WebContext>) {
    let Some(slot) = Slot::claim(&context.relays, MAX_RELAYS) else {
        let why = format!("{MAX_RELAYS} requests are being forwarded already; try again");
        let _ = request.respond(super::pages::secure(super::pages::unavailable(&why)));
        return;
    };
    let shared = context.clone();
    let refused = super::edge::on_own_thread("web-relay", request, move |request| {
        forward(request, &shared);
        drop(slot);
    });
    if let Some(request) = refused {
        let page = super::pages::unavailable("no thread to forward the request; try again");
        let _ = request.respond(super::pages::secure(page));
    }
}

/// Forward `request` to the leader and copy its answer back. With no
/// leader known (a failover under way) the client is told to retry.
fn forward(mut request: Request, context: &WebContext) {
    let status = context.cluster.as_ref().expect("only a cluster forwards");
    let Some(leader) = status.leader_web() else {
        let page = super::pages::unavailable(
            "the cluster is choosing a leader; try again in a few seconds",
        );
        let _ = request.respond(super::pages::secure(page));
        return;
    };
    let ip = super::login::client_address(&request, context);
    let mut body = Vec::new();
    let limit = context.config.media.max_upload_bytes.max(1 << 20) + (64 << 10);
    if request
        .as_reader()
        .take(limit)
        .read_to_end(&mut body)
        .is_err()
    {
        return; // the client went away mid-body
    }
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method(), request.url());
    for h in request.headers() {
        let field = h.field.as_str().as_str();
        let hop = [
            "connection",
            "keep-alive",
            "transfer-encoding",
            "content-length",
            "te",
        ]
        .iter()
        .any(|f| field.eq_ignore_ascii_case(f))
            || field.eq_ignore_ascii_case(RELAY_HEADER);
        if !hop {
            head.push_str(&format!("{field}: {}\r\n", h.value));
        }
    }
    head.push_str(&format!(
        "{RELAY_HEADER}: {} {ip} {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        status.relay_secret,
        context.ws_port,
        body.len()
    ));
    let upstream = leader
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .and_then(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok());
    let Some(mut upstream) = upstream else {
        let page = super::pages::unavailable(
            "the cluster's leader does not answer; try again in a few seconds",
        );
        let _ = request.respond(super::pages::secure(page));
        return;
    };
    let _ = upstream.set_read_timeout(Some(RELAY_READ_TIMEOUT));
    let _ = upstream.set_write_timeout(Some(Duration::from_secs(10)));
    if upstream
        .write_all(head.as_bytes())
        .and_then(|()| upstream.write_all(&body))
        .is_err()
    {
        let page = super::pages::unavailable(
            "the cluster's leader does not answer; try again in a few seconds",
        );
        let _ = request.respond(super::pages::secure(page));
        return;
    }
    // The leader closes after its answer (`Connection: close`), so the
    // answer is everything until the end, copied as it comes (an export
    // or a file streams through).
    let mut client = request.into_writer();
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.flush();
}
