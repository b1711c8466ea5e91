//! `natter-bench`: the load generator behind `make bench`, a binary of its
//! own so that none of it (nor `mio`, which only it uses) ships inside the
//! `natter` binary it measures. It starts the `natter` next to it unless
//! `--server PATH` says otherwise.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    natter::bench::main(std::env::args_os().skip(1).collect())
}
