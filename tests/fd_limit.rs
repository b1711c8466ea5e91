//! natter raises its own open-file limit to fit `--max-connections`, and says
//! what to do when the system will not let it.

use natter_testkit as common;

/// The soft and hard "Max open files" of a process, from `/proc/PID/limits`.
fn open_file_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("/proc/PID/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

#[test]
fn a_low_soft_limit_is_raised_to_fit_max_connections() {
    // Many systems start programs with a soft limit of 1024: natter could hold
    // only about a thousand chats of the 5,000 it allows.
    let natter = common::Binary::start_with_ulimit(
        "-Sn 1024 && ulimit -Hn 8000",
        None,
        &["--max-connections", "5000"],
    );
    let (soft, hard) = open_file_limits(natter.child.id());
    assert_eq!(hard, 8000);
    assert_eq!(soft, 5000 + 1024, "FD_HEADROOM above --max-connections");
}

#[test]
fn a_hard_limit_too_low_gets_a_warning_that_says_what_to_do() {
    let dir = common::TempDir::new("fd-limit");
    let stderr = dir.0.join("stderr");
    let natter =
        common::Binary::start_with_ulimit("-n 2000", Some(&stderr), &["--max-connections", "5000"]);
    // It still starts, and chats.
    let server = natter.server();
    let mut alice = server.user("alice");
    alice.join("lobby");
    let said = std::fs::read_to_string(&stderr).expect("stderr was written");
    assert!(
        said.contains("the open-file limit is 2000")
            && said.contains("past about 976 chat connections")
            && said.contains("ulimit -n 6024"),
        "{said}"
    );
}
