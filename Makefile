# natter: the two commands you need are `make run` (chat) and `make test`.

CARGO  ?= cargo
# The machine we build on (x86_64, or aarch64 on a Raspberry Pi); static
# builds name it so that crt-static applies to natter and not to build scripts.
TARGET ?= $(shell rustc -vV | sed -n "s/^host: //p")
ARGS   ?=
# A static build (glibc, crt-static). The load generator is built with the same
# flags, so the two share every dependency they have in common.
STATIC  = RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --target $(TARGET)

.PHONY: run setup test lint unit autobahn browser bench release static clean

## run: build and start the chat on http://127.0.0.1:8080 (pass flags with ARGS="--port 9000")
run:
	$(CARGO) run --release -- $(ARGS)

## test: set-up, formatting and lints, then every test: Rust unit and
## integration tests over real sockets (a real nginx among them), the Autobahn
## WebSocket conformance suite, and end-to-end tests in headless Chromium.
test: setup lint unit autobahn browser

## setup: install what the tests need and this machine lacks (tests/setup.sh):
## Debian's chromium, fonts, nginx and redis-server (as root, or with sudo -n),
## the browser tests' npm packages, the Autobahn suite's pinned Python
## packages. Without root it stops at once with the one command to run. Takes
## about a second when everything is there.
setup:
	bash tests/setup.sh

## unit: the Rust test suite alone (natter and the load generator)
unit: setup
	$(CARGO) test --workspace --all-targets

## autobahn: the Autobahn WebSocket conformance suite against `natter echo`,
## diffed with tests/autobahn/expected.json (Python 2.7 from pyenv, pip from PyPI)
autobahn: setup
	$(CARGO) build
	bash tests/autobahn/run.sh

## browser: end-to-end tests in headless Chromium
browser: setup
	$(CARGO) build
	cd tests/browser && NATTER_BIN=$(CURDIR)/target/debug/natter node --test --test-concurrency=1

## lint: rustfmt check and clippy with warnings as errors, the load generator too
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## bench: the benchmark: what one message costs natter's own code (parse,
## validate, encode, store: tests/bench/core.rs), then fresh servers under
## load, one table line per scenario (or per rate, in the fixed-rate ones),
## cluster-100 beside cluster-100-one (fanout-100's load on two nodes and a
## redis-server of its own, against one node: what cluster mode costs; needs
## redis-server, which make setup installs), last login-flood (issue 15:
## chat latency in a busy room with no logins and during 50 wrong-password
## logins/s at claimed names, a row each);
## takes about ten minutes; run it on a quiet machine. It measures the static
## binary, the one that ships, so cold-start reports that binary's size. The
## load generator (tests/loadgen/) is built beside it and told its path.
bench: static
	$(CARGO) bench --bench core
	$(STATIC) -p natter-loadgen
	./target/$(TARGET)/release/natter-bench --server target/$(TARGET)/release/natter

## release: an optimised binary in target/release/natter
release:
	$(CARGO) build --release

## static: a statically linked binary (glibc, crt-static); ldd shows it needs nothing
static:
	$(STATIC) -p natter
	@ls -l target/$(TARGET)/release/natter
	-ldd target/$(TARGET)/release/natter

clean:
	$(CARGO) clean
