//! The `natter` binary: parse the command line into a [`Config`], then run.
//! Everything else lives in the library, so tests start the same server.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use natter::Config;

const USAGE: &str = "\
usage: natter [options]

  --host ADDR        address to listen on (default 127.0.0.1; 0.0.0.0 for everyone)
  --port N           web port: pages and login (default 8080)
  --ws-port N        WebSocket port (default: web port + 1)
  --ws-url URL       WebSocket URL the page connects to (e.g. wss://chat.example.com/ws)
  --public-url URL   public origin of the pages, behind a proxy (e.g. https://chat.example.com)
  --history N        messages each room keeps for people who join (default 200)
  -h, --help         show this help
  -V, --version      show the version";

fn main() -> ExitCode {
    let config = match parse(pico_args::Arguments::from_env()) {
        Ok(Some(config)) => config,
        Ok(None) => return ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("natter: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match natter::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("natter: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` means help or version was printed and there is nothing to run.
fn parse(mut args: pico_args::Arguments) -> Result<Option<Config>, String> {
    if args.contains(["-h", "--help"]) {
        println!(
            "natter {}: a small real-time chat server\n\n{USAGE}",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(None);
    }
    if args.contains(["-V", "--version"]) {
        println!("natter {}", env!("CARGO_PKG_VERSION"));
        return Ok(None);
    }
    let defaults = Config::default();
    let bad = |e: pico_args::Error| e.to_string();
    let config = Config {
        host: args
            .opt_value_from_str("--host")
            .map_err(bad)?
            .unwrap_or(defaults.host.clone()),
        port: args
            .opt_value_from_str("--port")
            .map_err(bad)?
            .unwrap_or(defaults.port),
        ws_port: args.opt_value_from_str("--ws-port").map_err(bad)?,
        ws_url: args.opt_value_from_str("--ws-url").map_err(bad)?,
        public_url: args.opt_value_from_str("--public-url").map_err(bad)?,
        history: args
            .opt_value_from_str("--history")
            .map_err(bad)?
            .unwrap_or(defaults.history),
        ..defaults
    };
    let rest = args.finish();
    if let Some(first) = rest.first() {
        return Err(format!("unknown argument {:?}", first.to_string_lossy()));
    }
    if let Some(url) = &config.ws_url {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(format!(
                "--ws-url must start with ws:// or wss://, got {url:?}"
            ));
        }
    }
    if let Some(url) = &config.public_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "--public-url must start with http:// or https://, got {url:?}"
            ));
        }
    }
    Ok(Some(config))
}
