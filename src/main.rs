//! The `natter` binary: parse the command line into a [`Config`], then run.
//! Everything else lives in the library, so tests start the same server.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use natter::Config;

const USAGE: &str = "\
usage: natter [options]          run the chat
       natter echo [options]     a WebSocket echo server on natter's own code
                                 path, for the Autobahn conformance suite only
       natter account list | reset NAME | delete NAME [--db PATH]
                                 claimed names: list them, print a new password, free one
       natter token create ROOM NAME [--scope post|read|bot] | list [ROOM] | revoke ID [--db PATH]
                                 bot tokens: make one (its secret is shown once), list, revoke
       natter say --url URL --room ROOM --token TOKEN TEXT
       natter tail --url URL --room ROOM --token TOKEN [--json]
                                 post as a bot; follow a room live (natter say --help)
       natter nginx-config [--listen PORT] [--server-name NAME] [--port N] [--ws-port N]
                           [--upstream HOST:PORT ...]
                                 print an nginx configuration to run natter behind (--help)

  --host ADDR        address to listen on (default 127.0.0.1; 0.0.0.0 for everyone)
  --port N           web port: pages and login (default 8080)
  --ws-port N        WebSocket port (default: web port + 1)
  --ws-url URL       WebSocket URL the page connects to (e.g. wss://chat.example.com/ws)
  --public-url URL   public origin of the pages, behind a proxy (e.g. https://chat.example.com)
  --allowed-host NAME  a name this server answers to besides its addresses,
                     localhost, its hostname and the URLs' hosts (repeatable;
                     e.g. chat.lan); other Host headers get 421
  --history N        messages each room keeps for people who join (default 200)
  --edit-window MIN  minutes after sending that its author may edit a message
                     (default 10; 0: no editing; off: no limit)
  --room-claim-days N  a room's claim lapses after N days without an owner
                     visit (default 30; fractions allowed)
  --directory off|owned|all  which rooms the public directory lists: none,
                     owned rooms made public (default), or every open room too
  --rate-limit N     per-session rate limit score (default 25), or off
  --address-rate-limit N  per-address score, shared by its sessions (default 10x --rate-limit)
  --bot-rate-limit N  each bot token's own score, not its address's (default 25)
  --max-connections N  WebSocket connections in all (default 5000)
  --max-per-ip N     WebSocket connections from one address (default 64; IPv6: per /64)
  --max-per-session N  WebSocket connections of one session (default 16)
  --max-sessions-per-ip N  sessions made from one address (default 256, or a
                     raised --max-per-ip)
  --max-sessions N   sessions in all; past it the oldest unused one is evicted (default 50000)
  --max-web-per-ip N  web-port connections from one address (default 32, or a
                     quarter of a raised --max-per-ip; IPv6 by /64; no cap
                     with --trust-proxy)
  --max-exports N    transcript exports running at once (default 2)
  --trust-proxy      take client addresses from X-Forwarded-For (only behind a proxy)
  --metrics ADDR     serve Prometheus metrics at http://ADDR/metrics, on a listener
                     of its own (e.g. 127.0.0.1:9090; off by default)
  --redis URL        cluster mode: share rooms with other natter nodes through
                     this Redis (redis://HOST:PORT); see the README's Cluster part
  --node-address HOST:PORT  where the other nodes reach this one's web port
                     (default --host and --port; needed with --host 0.0.0.0)
  --node-id NAME     this node's name in the cluster (default its address)
  --redis-prefix P   what natter's Redis keys start with (default natter)
  --redis-log-length N  entries the shared log keeps (default 100000)
  --db PATH          SQLite file for history and sessions (default natter.db), or :memory:
  --retention DAYS   delete messages older than this many days (default: keep all)
  --db-max-mb N      refuse new messages once the database reaches N MB; the
                     write-ahead log beside it is then held to about N/4 MB
                     (at least 4) instead of 64 (default: no limit)
  --uploads on|off   images, voice notes and files in messages (default on)
  --media-dir DIR    where uploaded files live (default: <db>-media beside the
                     database; a temporary folder with --db :memory:)
  --max-upload-mb N  largest upload (default 10); give nginx-config the same
  --media-max-mb N   all stored media together (default 1024)
  --media-per-person-mb N  media one person may have stored (default 100)
  --media-daily-mb N  what one person may upload in a day (default 500)
  --uploads-in-flight N  uploads received at once (default 8)
  --orphan-upload-secs N  an upload not attached to a message within this
                     long is deleted (default 3600)
  -h, --help         show this help
  -V, --version      show the version";

fn main() -> ExitCode {
    // `natter nginx-config ...` prints a reverse-proxy configuration (src/nginx.rs).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "nginx-config")
    {
        let mut args = pico_args::Arguments::from_env();
        let _ = args.subcommand();
        return natter::nginx::main(args);
    }
    // `natter account ...` looks after claimed names (src/account_cli.rs).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "account")
    {
        let mut args = pico_args::Arguments::from_env();
        let _ = args.subcommand();
        return natter::account_cli::main(args);
    }
    // `natter say ...` and `natter tail ...`: a bot's commands (src/client/).
    let first = std::env::args_os().nth(1);
    if let Some(command) = first.as_ref().filter(|a| *a == "say" || *a == "tail") {
        let say = command == "say";
        let mut args = pico_args::Arguments::from_env();
        let _ = args.subcommand();
        return match say {
            true => natter::client::say_main(args),
            false => natter::client::tail_main(args),
        };
    }
    // `natter token ...` makes, lists and revokes bot tokens (src/token_cli.rs).
    if std::env::args_os().nth(1).is_some_and(|arg| arg == "token") {
        let mut args = pico_args::Arguments::from_env();
        let _ = args.subcommand();
        return natter::token_cli::main(args);
    }
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

/// An optional flag's value, parsed; a malformed one is an error naming the flag.
fn value<T: std::str::FromStr>(
    args: &mut pico_args::Arguments,
    flag: &'static str,
) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    args.opt_value_from_str(flag)
        .map_err(|e| format!("bad value for {flag}: {e}"))
}

/// The upload flags, over the defaults (see `config/media.rs`).
fn media_flags(
    args: &mut pico_args::Arguments,
    defaults: &natter::config::MediaConfig,
) -> Result<natter::config::MediaConfig, String> {
    let mib = |flag: &'static str, default: u64, args: &mut pico_args::Arguments| {
        Ok::<_, String>(match value::<u64>(args, flag)? {
            None => default,
            Some(0) => return Err(format!("{flag} takes a number of MiB above 0")),
            Some(mb) => mb.saturating_mul(1 << 20),
        })
    };
    Ok(natter::config::MediaConfig {
        enabled: match value::<String>(args, "--uploads")?.as_deref() {
            None | Some("on") => defaults.enabled,
            Some("off") => false,
            Some(other) => return Err(format!("--uploads takes on or off, got {other:?}")),
        },
        dir: value(args, "--media-dir")?,
        max_upload_bytes: mib("--max-upload-mb", defaults.max_upload_bytes, args)?,
        max_total_bytes: mib("--media-max-mb", defaults.max_total_bytes, args)?,
        per_person_bytes: mib("--media-per-person-mb", defaults.per_person_bytes, args)?,
        daily_bytes: mib("--media-daily-mb", defaults.daily_bytes, args)?,
        in_flight: match value::<usize>(args, "--uploads-in-flight")? {
            None => defaults.in_flight,
            Some(0) => return Err("--uploads-in-flight takes a number above 0".into()),
            Some(n) => n,
        },
        orphan_age: match value::<u64>(args, "--orphan-upload-secs")? {
            None => defaults.orphan_age,
            Some(s) if s < 2 => {
                return Err(format!("--orphan-upload-secs takes 2 or more, got {s}"))
            }
            Some(s) => std::time::Duration::from_secs(s),
        },
    })
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
    let echo = match args.subcommand().map_err(|e| e.to_string())?.as_deref() {
        None => false,
        Some("echo") => true,
        Some(other) => return Err(format!("unknown command {other:?}")),
    };
    let config = flags(&mut args)?;
    let rest = args.finish();
    if let Some(first) = rest.first() {
        return Err(format!("unknown argument {:?}", first.to_string_lossy()));
    }
    // Echo mode has no chat to store.
    let db = match echo && config.db == natter::config::DEFAULT_DB {
        true => ":memory:".to_string(),
        false => config.db,
    };
    let config = Config { echo, db, ..config };
    check(&config)?;
    Ok(Some(config))
}

/// Every option, over the defaults.
fn flags(args: &mut pico_args::Arguments) -> Result<Config, String> {
    let defaults = Config::default();
    let max_per_ip = value(args, "--max-per-ip")?.unwrap_or(defaults.max_per_ip);
    Ok(Config {
        host: value(args, "--host")?.unwrap_or(defaults.host.clone()),
        port: value(args, "--port")?.unwrap_or(defaults.port),
        ws_port: value(args, "--ws-port")?,
        ws_url: value(args, "--ws-url")?,
        public_url: value(args, "--public-url")?,
        allowed_hosts: args
            .values_from_str::<_, String>("--allowed-host")
            .map_err(|e| format!("bad value for --allowed-host: {e}"))?,
        history: value(args, "--history")?.unwrap_or(defaults.history),
        edit_window: match value::<String>(args, "--edit-window")? {
            None => defaults.edit_window,
            Some(v) if v == "off" => None,
            Some(v) => Some(
                v.parse::<f64>()
                    .ok()
                    .and_then(|min| std::time::Duration::try_from_secs_f64(min * 60.0).ok())
                    .ok_or_else(|| {
                        format!("--edit-window takes minutes (0 or more) or off, got {v:?}")
                    })?,
            ),
        },
        room_claim_lapse: match value::<f64>(args, "--room-claim-days")? {
            None => defaults.room_claim_lapse,
            Some(days) => std::time::Duration::try_from_secs_f64(days * 24.0 * 60.0 * 60.0)
                .map_err(|_| format!("--room-claim-days takes days (0 or more), got {days}"))?,
        },
        directory: match value::<String>(args, "--directory")?.as_deref() {
            None => defaults.directory,
            Some("off") => natter::config::Directory::Off,
            Some("owned") => natter::config::Directory::Owned,
            Some("all") => natter::config::Directory::All,
            Some(other) => {
                return Err(format!(
                    "--directory takes off, owned or all, got {other:?}"
                ))
            }
        },
        media: media_flags(args, &defaults.media)?,
        rate_limit: match value::<String>(args, "--rate-limit")? {
            None => defaults.rate_limit,
            Some(v) if v == "off" => None,
            Some(v) => Some(
                v.parse::<f64>()
                    .ok()
                    .filter(|n| positive(*n))
                    .ok_or_else(|| {
                        format!("--rate-limit takes a positive number or off, got {v:?}")
                    })?,
            ),
        },
        address_rate_limit: match value::<f64>(args, "--address-rate-limit")? {
            Some(n) if !positive(n) => {
                return Err(format!(
                    "--address-rate-limit takes a positive number, got {n}"
                ))
            }
            other => other,
        },
        bot_rate_limit: match value::<f64>(args, "--bot-rate-limit")? {
            Some(n) if !positive(n) => {
                return Err(format!("--bot-rate-limit takes a positive number, got {n}"))
            }
            Some(n) => n,
            None => defaults.bot_rate_limit,
        },
        max_connections: value(args, "--max-connections")?.unwrap_or(defaults.max_connections),
        max_per_ip,
        max_per_session: value(args, "--max-per-session")?.unwrap_or(defaults.max_per_session),
        // A raised --max-per-ip raises the session cap with it: each of
        // those sockets may be a session of its own.
        max_sessions_per_ip: value(args, "--max-sessions-per-ip")?
            .unwrap_or(max_per_ip.max(defaults.max_sessions_per_ip)),
        max_sessions: value(args, "--max-sessions")?.unwrap_or(defaults.max_sessions),
        // A raised --max-per-ip raises the page cap with it (a quarter, as
        // for pending handshakes): the address that opens that many sockets
        // loads as many pages and logs in as often.
        max_web_per_ip: value(args, "--max-web-per-ip")?
            .unwrap_or((max_per_ip / 4).max(defaults.max_web_per_ip)),
        max_exports: value(args, "--max-exports")?.unwrap_or(defaults.max_exports),
        trust_proxy: args.contains("--trust-proxy"),
        metrics: value(args, "--metrics")?,
        cluster: cluster_flags(args)?,
        db: value(args, "--db")?.unwrap_or(defaults.db.clone()),
        db_max_bytes: value::<u64>(args, "--db-max-mb")?.map(|mb| mb.saturating_mul(1 << 20)),
        retention: match value::<f64>(args, "--retention")? {
            None => None,
            Some(days) if positive(days) => Some(std::time::Duration::from_secs_f64(
                days * 24.0 * 60.0 * 60.0,
            )),
            Some(days) => {
                return Err(format!(
                    "--retention takes a positive number of days, got {days}"
                ))
            }
        },
        ..defaults
    })
}

/// `--redis URL` and its companions; `None` without `--redis`.
fn cluster_flags(
    args: &mut pico_args::Arguments,
) -> Result<Option<natter::cluster::ClusterConfig>, String> {
    let redis: Option<String> = value(args, "--redis")?;
    let prefix: Option<String> = value(args, "--redis-prefix")?;
    let node: Option<String> = value(args, "--node-id")?;
    let address: Option<String> = value(args, "--node-address")?;
    let length: Option<u64> = value(args, "--redis-log-length")?;
    let Some(url) = redis else {
        if prefix.is_some() || node.is_some() || address.is_some() || length.is_some() {
            return Err(
                "--redis-prefix, --node-id, --node-address and --redis-log-length \
                        need --redis URL (cluster mode)"
                    .into(),
            );
        }
        return Ok(None);
    };
    if !(url.starts_with("redis://") || url.starts_with("unix://")) {
        return Err(format!("--redis takes redis://HOST:PORT, got {url:?}"));
    }
    let mut cluster = natter::cluster::ClusterConfig::new(&url);
    if let Some(prefix) = prefix {
        cluster.prefix = prefix;
    }
    if let Some(node) = node {
        if node.is_empty() || node.contains(char::is_whitespace) {
            return Err(format!(
                "--node-id takes a name without spaces, got {node:?}"
            ));
        }
        cluster.node = node;
    }
    cluster.address = address;
    match length {
        Some(n) if n < 1000 => {
            return Err(format!(
                "--redis-log-length takes at least 1000 entries, got {n}"
            ))
        }
        Some(n) => cluster.log_length = n,
        None => {}
    }
    Ok(Some(cluster))
}

fn positive(n: f64) -> bool {
    n > 0.0 && n.is_finite()
}

/// What the options must be, together.
fn check(config: &Config) -> Result<(), String> {
    if let Some(url) = &config.ws_url {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(format!(
                "--ws-url must start with ws:// or wss://, got {url:?}"
            ));
        }
    }
    for name in &config.allowed_hosts {
        if natter::origin::normal_host_name(name).is_none() {
            return Err(format!(
                "--allowed-host takes a host name (an address needs none), got {name:?}"
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
    Ok(())
}
