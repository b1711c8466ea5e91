#!/usr/bin/env bash
# Everything `make test` needs beyond the Rust toolchain and Node.js, installed
# if it is missing. `make setup` runs this, and `make test` runs `make setup`
# first, so a fresh clone on a fresh Debian machine tests itself.
#
#   bash tests/setup.sh
#
# - Debian packages: chromium and the fonts its pages are drawn with (the
#   browser tests), nginx (tests/nginx.rs), redis-server. apt-get installs the
#   missing ones when you are root, or through `sudo -n` when sudo needs no
#   password; otherwise this stops at once and prints the one command to run.
# - tests/browser/node_modules, from the committed package-lock.json (npm ci).
# - target/autobahn-venv, the pinned Python packages of the Autobahn suite
#   (tests/autobahn/venv.sh).
#
# Every step looks before it acts, so when everything is there this takes
# about a second and changes nothing: no apt-get update, no npm, no pip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() {
    echo "setup: $*" >&2
    exit 1
}

# -- the toolchains ------------------------------------------------------------
# Installing these is yours to choose (rustup, a distribution, nvm), so they are
# only checked, each with the command that installs it.

command -v cargo > /dev/null || die "no cargo: install Rust with rustup (https://rustup.rs)"
cargo fmt --version > /dev/null 2>&1 || die "no rustfmt: run \`rustup component add rustfmt\`"
cargo clippy --version > /dev/null 2>&1 || die "no clippy: run \`rustup component add clippy\`"
# `node --test --test-concurrency` (make browser) needs Node.js 20 or later.
node_version=$(node --version 2> /dev/null || echo none)
node_major=$(sed -n 's/^v\([0-9]*\)\..*/\1/p' <<< "$node_version")
if [[ -z $node_major ]] || ((node_major < 20)) || ! command -v npm > /dev/null; then
    die "the browser tests need Node.js 20 or later with npm (https://nodejs.org); found node $node_version"
fi

# -- Debian packages -------------------------------------------------------------

packages=(chromium fonts-liberation fonts-noto-color-emoji nginx redis-server)

# Whether a package is there: for a program, where the tests look for it
# (tests/browser/lib.mjs, tests/nginx.rs), so another build of it counts too;
# for the fonts, what dpkg says (where there is no dpkg, fonts are left to you).
present() {
    case $1 in
    chromium) [[ -x ${CHROMIUM:-/usr/bin/chromium} ]] ;;
    nginx) [[ -x /usr/sbin/nginx || -x /usr/bin/nginx || -x /usr/local/sbin/nginx ]] ;;
    redis-server) command -v redis-server > /dev/null ;;
    *) ! command -v dpkg-query > /dev/null || dpkg-query -W -f='${Status}' "$1" 2> /dev/null | grep -q "ok installed" ;;
    esac
}

# As root, or through sudo when it asks for no password. `sudo -n` fails
# instead of prompting, so a run without a terminal (CI) never hangs here.
as_root() {
    if ((EUID == 0)); then
        "$@"
    else
        sudo -n "$@"
    fi
}

missing=()
for package in "${packages[@]}"; do
    present "$package" || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
    command -v apt-get > /dev/null ||
        die "missing: ${missing[*]} (Debian's names); install them with your system's package manager"
    if ((EUID != 0)) && ! sudo -n true 2> /dev/null; then
        install="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
        if command -v sudo > /dev/null; then
            install="sudo sh -c '$install'"
        else
            install="su -c '$install'"
        fi
        die "missing Debian packages: ${missing[*]}. Install them with
  $install
and run make test again"
    fi
    echo "setup: installing ${missing[*]}"
    # No questions (sudo would drop an exported variable, hence env), and wait
    # up to five minutes for another apt-get, such as a fresh machine's
    # unattended upgrades, to let go of the package database.
    apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    as_root "${apt[@]}" update -qq
    as_root "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
    # Debian starts nginx's default site on port 80, and redis on 6379, when it
    # installs them. The tests start their own on free ports and need nothing
    # else listening.
    for service in nginx redis-server; do
        if [[ " ${missing[*]} " == *" $service "* ]]; then
            as_root service "$service" stop > /dev/null 2>&1 || true
        fi
    done
    for package in "${missing[@]}"; do
        present "$package" || die "$package is still missing after apt-get install"
    done
fi

# -- the browser tests' packages -------------------------------------------------
# npm ci deletes node_modules and installs it again, so it runs only when the
# lock file differs from the copy kept in node_modules after the last success.

browser=tests/browser
if ! cmp -s "$browser/package-lock.json" "$browser/node_modules/.setup-package-lock.json" 2> /dev/null; then
    echo "setup: npm ci in $browser"
    # playwright-core drives the system's chromium; it needs no download.
    (cd "$browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    cp "$browser/package-lock.json" "$browser/node_modules/.setup-package-lock.json"
fi

# -- the Autobahn suite's Python packages ------------------------------------------

bash tests/autobahn/venv.sh
