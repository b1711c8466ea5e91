//! The standard `process_*` metrics every Prometheus client library exports,
//! read from `/proc/self` at scrape time (Linux; elsewhere they are left
//! out). Names and meanings follow the client libraries, so dashboards made
//! for any other process work unchanged.

use std::fmt::Write as _;

/// What `/proc/self/stat` says, in base units.
#[derive(Debug, PartialEq)]
struct Stat {
    cpu_seconds: f64,
    threads: u64,
    /// Clock ticks after boot.
    start_ticks: u64,
    virtual_bytes: u64,
    resident_pages: u64,
}

/// Fields after the command name, which is in parentheses and may hold
/// spaces and parentheses itself: the split is at the last `)`.
fn parse_stat(stat: &str, ticks_per_sec: f64) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (state); field n is at index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks_per_sec,
        threads: field(20)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_pages: field(24)?,
    })
}

/// When the machine booted, in seconds since the epoch (`btime`).
fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

fn max_fds() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// Append the `process_*` metrics; any that cannot be read are left out.
pub fn render(out: &mut String) {
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let page = rustix::param::page_size() as u64;
    let stat = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat(&s, ticks));
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| boot_time(&s));
    let mut metric = |name: &str, kind: &str, help: &str, value: Option<String>| {
        if let Some(value) = value {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    };
    let s = stat.as_ref();
    metric(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        s.map(|s| s.cpu_seconds.to_string()),
    );
    metric(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        s.map(|s| (s.resident_pages * page).to_string()),
    );
    metric(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        s.map(|s| s.virtual_bytes.to_string()),
    );
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        s.zip(boot)
            .map(|(s, boot)| (boot as f64 + s.start_ticks as f64 / ticks).to_string()),
    );
    metric(
        "process_threads",
        "gauge",
        "Number of OS threads in the process.",
        s.map(|s| s.threads.to_string()),
    );
    metric(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        open_fds().map(|n| n.to_string()),
    );
    metric(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        max_fds().map(|n| n.to_string()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let stat = "4242 (we (ird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 7 0 \
                    12345 104857600 300 18446744073709551615";
        let s = parse_stat(stat, 100.0).unwrap();
        assert_eq!(
            s,
            Stat {
                cpu_seconds: 3.0,
                threads: 7,
                start_ticks: 12345,
                virtual_bytes: 104_857_600,
                resident_pages: 300,
            }
        );
    }

    #[test]
    fn this_process_has_every_metric() {
        let mut out = String::new();
        render(&mut out);
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_start_time_seconds",
            "process_threads",
            "process_open_fds",
            "process_max_fds",
        ] {
            assert!(out.contains(&format!("\n{name} ")), "{name} in {out}");
        }
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }
}
