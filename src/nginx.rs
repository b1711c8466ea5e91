//! `natter nginx-config`: print an nginx `server { }` block that puts both of
//! natter's listeners behind one public port.
//!
//! The template is `src/nginx.conf`, compiled into the binary like the pages.
//! It closes the gaps tiny_http leaves on the web port (no timeouts, no header
//! limit, a trusted `Content-Length`) and proxies `/ws` to the WebSocket
//! listener. `tests/nginx.rs` runs a real nginx with exactly this output.

use std::process::ExitCode;

/// The configuration, with `{{placeholders}}` filled in by [`render`].
pub const TEMPLATE: &str = include_str!("nginx.conf");

const USAGE: &str = "\
usage: natter nginx-config [options]     print an nginx configuration for natter

  --listen PORT        public port nginx listens on, or ADDR:PORT (default 80)
  --server-name NAME   the site's host name (default localhost)
  --port N             natter's web port (default 8080)
  --ws-port N          natter's WebSocket port (default: web port + 1)
  --max-upload-mb N    the largest upload, as natter's own --max-upload-mb
                       (default 10): nginx then takes uploads that large
  --upstream HOST:PORT a natter node of a cluster (--redis), by its web port;
                       its WebSocket port is PORT+1, or give HOST:PORT,WSPORT.
                       Repeat it for every node (instead of --port/--ws-port)
  -h, --help           show this help

Put the output inside nginx's http { } block; its first lines say how to run
natter behind it (--public-url, --ws-url, --trust-proxy).";

/// What the template needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// nginx's `listen` value: a port, or `address:port`.
    pub listen: String,
    pub server_name: String,
    /// natter's web port.
    pub port: u16,
    /// natter's WebSocket port.
    pub ws_port: u16,
    /// natter's `--max-upload-mb`: nginx's body limit for `/upload/`, so
    /// the proxy never refuses what natter takes (mattermost#3701).
    pub max_upload_mb: u64,
    /// The nodes of a cluster (`--upstream`): host, web port, WebSocket
    /// port. Empty: one natter on 127.0.0.1 (`port`, `ws_port`).
    pub upstreams: Vec<(String, u16, u16)>,
}

impl Options {
    /// The public port, from `listen`.
    fn public_port(&self) -> u16 {
        self.listen
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(80)
    }

    /// The site as a browser sees it: `http://name`, with the port unless 80.
    pub fn public_url(&self) -> String {
        match self.public_port() {
            80 => format!("http://{}", self.server_name),
            port => format!("http://{}:{port}", self.server_name),
        }
    }

    /// Where the chat page opens its WebSocket.
    pub fn ws_url(&self) -> String {
        format!("ws{}/ws", &self.public_url()["http".len()..])
    }
}

impl Options {
    /// The `server` lines of an upstream block. With several nodes, one
    /// client address always lands on the same node (`hash ... consistent`),
    /// so natter's per-address limits stay exact, and a node that fails is
    /// skipped for a while (`max_fails`): its clients reconnect to another
    /// and resume (the nodes' `/healthz` says when one lost its cluster).
    fn servers(&self, each: impl Fn(&(String, u16, u16)) -> String) -> String {
        if self.upstreams.is_empty() {
            return format!(
                "    server {};\n",
                each(&("127.0.0.1".into(), self.port, self.ws_port))
            );
        }
        let mut text = String::from("    hash $remote_addr consistent;\n");
        for node in &self.upstreams {
            text.push_str(&format!(
                "    server {} max_fails=1 fail_timeout=5s;\n",
                each(node)
            ));
        }
        text
    }

    /// What to run each node of a cluster with.
    fn cluster_note(&self) -> String {
        if self.upstreams.is_empty() {
            return String::new();
        }
        let mut text = String::from(
            "# A cluster: run each node below with the flags above, and also\n\
             #   --redis redis://REDIS_HOST:6379 --node-address HOST:PORT\n\
             # (HOST:PORT as in its `server` line; see the README's cluster part).\n",
        );
        for (host, web, ws) in &self.upstreams {
            text.push_str(&format!("#   node {host}: --port {web} --ws-port {ws}\n"));
        }
        text.push('\n');
        text
    }
}

/// The template with every placeholder filled in.
pub fn render(options: &Options) -> String {
    let values = [
        ("listen", options.listen.clone()),
        ("server_name", options.server_name.clone()),
        ("port", options.port.to_string()),
        ("ws_port", options.ws_port.to_string()),
        ("max_upload_mb", options.max_upload_mb.to_string()),
        ("public_url", options.public_url()),
        ("ws_url", options.ws_url()),
        (
            "web_servers",
            options.servers(|(h, web, _)| format!("{h}:{web}")),
        ),
        (
            "ws_servers",
            options.servers(|(h, _, ws)| format!("{h}:{ws}")),
        ),
        ("cluster_note", options.cluster_note()),
    ];
    let mut text = TEMPLATE.to_string();
    for (key, value) in values {
        text = text.replace(&format!("{{{{{key}}}}}"), &value);
    }
    text
}

/// Parse the subcommand's flags (after `nginx-config`).
pub fn parse(mut args: pico_args::Arguments) -> Result<Option<Options>, String> {
    if args.contains(["-h", "--help"]) {
        println!("{USAGE}");
        return Ok(None);
    }
    let bad = |flag: &'static str| move |e: pico_args::Error| format!("bad value for {flag}: {e}");
    let listen: String = args
        .opt_value_from_str("--listen")
        .map_err(bad("--listen"))?
        .unwrap_or_else(|| "80".to_string());
    let server_name: String = args
        .opt_value_from_str("--server-name")
        .map_err(bad("--server-name"))?
        .unwrap_or_else(|| "localhost".to_string());
    let port: u16 = args
        .opt_value_from_str("--port")
        .map_err(bad("--port"))?
        .unwrap_or(8080);
    let ws_port: Option<u16> = args
        .opt_value_from_str("--ws-port")
        .map_err(bad("--ws-port"))?;
    let max_upload_mb: u64 = args
        .opt_value_from_str("--max-upload-mb")
        .map_err(bad("--max-upload-mb"))?
        .unwrap_or(crate::config::DEFAULT_MAX_UPLOAD_MB);
    if max_upload_mb == 0 {
        return Err("--max-upload-mb takes a number of MiB above 0".into());
    }
    let mut upstreams = Vec::new();
    while let Some(node) = args
        .opt_value_from_str::<_, String>("--upstream")
        .map_err(bad("--upstream"))?
    {
        upstreams.push(upstream(&node)?);
    }
    if let Some(first) = args.finish().first() {
        return Err(format!("unknown argument {:?}", first.to_string_lossy()));
    }
    let ws_port = match ws_port {
        Some(p) => p,
        None => port
            .checked_add(1)
            .ok_or("--port 65535 needs an explicit --ws-port")?,
    };
    // These go into nginx's configuration as they are: nothing that could end
    // a directive or start a new one.
    let (address, public) = match listen.rsplit_once(':') {
        Some((address, port)) => (address, port),
        None => ("", listen.as_str()),
    };
    let address_ok = address
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c));
    if !address_ok || !matches!(public.parse::<u16>(), Ok(p) if p > 0) {
        return Err(format!("--listen takes PORT or ADDR:PORT, got {listen:?}"));
    }
    let name_ok = !server_name.is_empty()
        && server_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
    if !name_ok {
        return Err(format!(
            "--server-name takes one host name (letters, digits, '.', '-', '_'), got {server_name:?}"
        ));
    }
    if port == 0 || ws_port == 0 || port == ws_port {
        return Err("--port and --ws-port must be two different, non-zero ports".into());
    }
    Ok(Some(Options {
        listen,
        server_name,
        port,
        ws_port,
        max_upload_mb,
        upstreams,
    }))
}

/// `HOST:PORT` or `HOST:PORT,WSPORT`: one node of a cluster.
fn upstream(node: &str) -> Result<(String, u16, u16), String> {
    let bad = || format!("--upstream takes HOST:PORT or HOST:PORT,WSPORT, got {node:?}");
    let (address, ws) = match node.split_once(',') {
        Some((address, ws)) => (address, Some(ws.parse::<u16>().map_err(|_| bad())?)),
        None => (node, None),
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let ws = match ws {
        Some(ws) => ws,
        None => port.checked_add(1).ok_or_else(bad)?,
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c));
    if !host_ok || port == 0 || ws == 0 || port == ws {
        return Err(bad());
    }
    Ok((host.to_string(), port, ws))
}

/// `natter nginx-config ...`: print the configuration, or explain what is wrong
/// (exit status 2, as for natter's own flags).
pub fn main(args: pico_args::Arguments) -> ExitCode {
    match parse(args) {
        Ok(Some(options)) => {
            print!("{}", render(&options));
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("natter nginx-config: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> pico_args::Arguments {
        pico_args::Arguments::from_vec(list.iter().map(Into::into).collect())
    }

    #[test]
    fn every_placeholder_is_filled() {
        let options = parse(args(&[
            "--listen",
            "8443",
            "--server-name",
            "chat.example.com",
        ]))
        .unwrap()
        .unwrap();
        let text = render(&options);
        assert!(!text.contains("{{"), "a placeholder is left: {text}");
        assert!(text.contains("listen 8443;"));
        assert!(text.contains("server 127.0.0.1:8080;"));
        assert!(text.contains("server 127.0.0.1:8081;"));
        assert!(text.contains("--public-url http://chat.example.com:8443 "));
        assert!(text.contains("--ws-url ws://chat.example.com:8443/ws "));
        assert!(text.contains("client_max_body_size 10m;"));
        let options = parse(args(&["--max-upload-mb", "25"])).unwrap().unwrap();
        assert!(render(&options).contains("client_max_body_size 25m;"));
        assert!(render(&options).contains("--max-upload-mb 25"));
    }

    #[test]
    fn several_upstreams_make_a_cluster_balanced_by_address() {
        let options = parse(args(&[
            "--upstream",
            "10.0.0.5:8080",
            "--upstream",
            "10.0.0.6:9000,9100",
        ]))
        .unwrap()
        .unwrap();
        let text = render(&options);
        assert!(!text.contains("{{"), "a placeholder is left: {text}");
        assert!(text.contains("server 10.0.0.5:8080 max_fails=1 fail_timeout=5s;"));
        assert!(text.contains("server 10.0.0.5:8081 max_fails=1 fail_timeout=5s;"));
        assert!(text.contains("server 10.0.0.6:9100 max_fails=1 fail_timeout=5s;"));
        assert_eq!(text.matches("hash $remote_addr consistent;").count(), 2);
        assert!(text.contains("--redis redis://"));
        for bad in ["10.0.0.5", "10.0.0.5:0", "h:80,80", "a b:80", "x:80,y"] {
            assert!(parse(args(&["--upstream", bad])).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn port_80_is_left_out_of_the_urls() {
        let options = parse(args(&["--server-name", "chat.example.com"]))
            .unwrap()
            .unwrap();
        assert_eq!(options.public_url(), "http://chat.example.com");
        assert_eq!(options.ws_url(), "ws://chat.example.com/ws");
        let options = parse(args(&["--listen", "127.0.0.1:9000"]))
            .unwrap()
            .unwrap();
        assert_eq!(options.ws_url(), "ws://localhost:9000/ws");
    }

    #[test]
    fn values_that_could_break_the_configuration_are_refused() {
        for bad in [
            &["--server-name", "a.com; include /etc/passwd"][..],
            &["--server-name", "a b"],
            &["--listen", "80; x"],
            &["--listen", "0"],
            &["--port", "9000", "--ws-port", "9000"],
            &["--port", "65535"],
            &["--surprise"],
        ] {
            assert!(parse(args(bad)).is_err(), "accepted {bad:?}");
        }
    }
}
