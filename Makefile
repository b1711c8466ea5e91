# natter: the two commands you need are `make run` (chat) and `make test`.

CARGO  ?= cargo
TARGET ?= x86_64-unknown-linux-gnu
ARGS   ?=

.PHONY: run test lint unit release static clean

## run: build and start the chat on http://127.0.0.1:8080 (pass flags with ARGS="--port 9000")
run:
	$(CARGO) run --release -- $(ARGS)

## test: formatting, lints, then every test (unit and integration, over real sockets)
test: lint unit

## unit: the Rust test suite alone
unit:
	$(CARGO) test --all-targets

## lint: rustfmt check and clippy with warnings as errors
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

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
