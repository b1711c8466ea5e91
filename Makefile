# natter: the two commands you need are `make run` (chat) and `make test`.

CARGO  ?= cargo
# The machine we build on (x86_64, or aarch64 on a Raspberry Pi); static
# builds name it so that crt-static applies to natter and not to build scripts.
TARGET ?= $(shell rustc -vV | sed -n "s/^host: //p")
ARGS   ?=

.PHONY: run test lint unit autobahn browser bench release static clean

## run: build and start the chat on http://127.0.0.1:8080 (pass flags with ARGS="--port 9000")
run:
	$(CARGO) run --release -- $(ARGS)

## test: formatting and lints, then every test: Rust unit and integration tests
## over real sockets (a real nginx among them), the Autobahn WebSocket
## conformance suite, and end-to-end tests in headless Chromium.
## .ci/run installs what a fresh machine lacks (chromium, nginx).
test: lint unit autobahn browser

## unit: the Rust test suite alone
unit:
	$(CARGO) test --all-targets

## autobahn: the Autobahn WebSocket conformance suite against `natter echo`,
## diffed with tests/autobahn/expected.json (Python 2.7 from pyenv, pip from PyPI)
autobahn:
	$(CARGO) build
	bash tests/autobahn/run.sh

## browser: end-to-end tests in headless Chromium (.ci/run installs chromium)
browser:
	$(CARGO) build
	cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	cd tests/browser && NATTER_BIN=$(CURDIR)/target/debug/natter node --test --test-concurrency=1

## lint: rustfmt check and clippy with warnings as errors
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## bench: the benchmark: fresh servers under load, one table line per scenario
## (takes a few minutes; run it on a quiet machine). It measures the static
## binary, the one that ships, so cold-start reports that binary's size.
bench: static
	./target/$(TARGET)/release/natter-bench

## release: an optimised binary in target/release/natter
release:
	$(CARGO) build --release

## static: a statically linked binary (glibc, crt-static); ldd shows it needs nothing
static:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --target $(TARGET)
	@ls -l target/$(TARGET)/release/natter
	-ldd target/$(TARGET)/release/natter

clean:
	$(CARGO) clean
