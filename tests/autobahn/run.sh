#!/usr/bin/env bash
# The Autobahn WebSocket conformance suite (wstest -m fuzzingclient) against
# `natter echo`, compared case by case with tests/autobahn/expected.json.
#
#   bash tests/autobahn/run.sh
#
# - Creates target/autobahn-venv (Python 2.7, the pinned requirements.txt) if it
#   is missing or requirements.txt changed: see venv.sh.
# - Starts natter's echo mode ($NATTER, default target/debug/natter, built with
#   `cargo build` first) on free ports, runs the cases in fuzzingclient.json,
#   then stops natter.
# - Prints every case whose behavior/behaviorClose differs from expected.json,
#   then `autobahn: N passed, M failed`, and exits non-zero if M > 0.
#   The HTML reports are in target/autobahn-reports/index.html.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

venv=target/autobahn-venv
reports=target/autobahn-reports
spec=target/autobahn-fuzzingclient.json
natter_log=target/autobahn-natter.log
wstest_log=target/autobahn-wstest.log
# The whole suite takes well under a minute; these only stop a hung run.
WSTEST_TIMEOUT=${WSTEST_TIMEOUT:-600}
START_TIMEOUT=10

die() {
    echo "autobahn: $*" >&2
    exit 1
}

# -- the virtualenv ----------------------------------------------------------

# Made by venv.sh (which `make setup` runs too) unless it is current.
bash "$here/venv.sh"

# -- natter ------------------------------------------------------------------

if [[ -z ${NATTER:-} ]]; then
    cargo build --quiet
    NATTER=target/debug/natter
fi
[[ -x $NATTER ]] || die "no natter binary at $NATTER"

natter_pid=
stop_natter() {
    if [[ -n $natter_pid ]] && kill -0 "$natter_pid" 2> /dev/null; then
        kill "$natter_pid" 2> /dev/null || true
        wait "$natter_pid" 2> /dev/null || true
    fi
    natter_pid=
}
trap stop_natter EXIT

# --db :memory:: echo mode stores nothing, and the run leaves no natter.db behind.
"$NATTER" echo --host 127.0.0.1 --port 0 --db :memory: > "$natter_log" 2>&1 &
natter_pid=$!

# natter prints "(WebSocket listener on port N; ...)" once it is listening.
ws_port=
for _ in $(seq $((START_TIMEOUT * 10))); do
    ws_port=$(sed -n 's/.*WebSocket listener on port \([0-9][0-9]*\).*/\1/p' "$natter_log")
    [[ -n $ws_port ]] && break
    kill -0 "$natter_pid" 2> /dev/null || { cat "$natter_log" >&2; die "natter echo exited at start"; }
    sleep 0.1
done
[[ -n $ws_port ]] || { cat "$natter_log" >&2; die "natter echo did not start within ${START_TIMEOUT}s"; }

# -- wstest ------------------------------------------------------------------

rm -rf "$reports"
sed "s/NATTER_WS_PORT/$ws_port/" "$here/fuzzingclient.json" > "$spec"
echo "autobahn: running wstest against natter echo on port $ws_port (log: $wstest_log)"
started=$SECONDS
if ! PYTHONWARNINGS=ignore timeout "$WSTEST_TIMEOUT" \
    "$venv/bin/wstest" -m fuzzingclient -s "$spec" > "$wstest_log" 2>&1; then
    tail -n 30 "$wstest_log" >&2
    die "wstest failed (see $wstest_log)"
fi
echo "autobahn: wstest took $((SECONDS - started))s; reports in $reports/index.html"

if ! kill -0 "$natter_pid" 2> /dev/null; then
    cat "$natter_log" >&2
    die "natter echo died during the suite"
fi
stop_natter

# -- compare -----------------------------------------------------------------

"$venv/bin/python" - "$here/expected.json" "$reports" << 'EOF'
import json
import os
import sys

expected_path, reports = sys.argv[1], sys.argv[2]
with open(expected_path) as f:
    expected = json.load(f)
with open(os.path.join(reports, "index.json")) as f:
    index = json.load(f)
if len(index) != 1:
    sys.exit("autobahn: expected results for one agent, got %r" % sorted(index))
actual = list(index.values())[0]


def case_key(case_id):
    return [int(part) for part in case_id.split(".")]


def detail(result):
    """The case's own report: what it expected and what natter did."""
    name = os.path.join(reports, result.get("reportfile", ""))
    try:
        with open(name) as f:
            case = json.load(f)
    except (IOError, ValueError):
        return "    (no case report)"
    lines = [
        "    %s" % case.get("description", "").replace("<b>", "").replace("</b>", ""),
        "    expected events: %s" % json.dumps(case.get("expected")),
        "    received events: %s" % json.dumps(case.get("received"))[:300],
        "    %s; %s" % (case.get("result"), case.get("resultClose")),
        "    close codes: natter sent %s (%s), wstest sent %s; report: %s"
        % (
            case.get("remoteCloseCode"),
            case.get("remoteCloseReason"),
            case.get("localCloseCode"),
            name.replace(".json", ".html"),
        ),
    ]
    return "\n".join(lines)


passed = failed = 0
for case_id in sorted(set(expected) | set(actual), key=case_key):
    want, got = expected.get(case_id), actual.get(case_id)
    if want is None:
        print("autobahn: case %s: not in expected.json (got %s / %s)"
              % (case_id, got["behavior"], got["behaviorClose"]))
        failed += 1
    elif got is None:
        print("autobahn: case %s: expected %s / %s, but it did not run"
              % (case_id, want["behavior"], want["behaviorClose"]))
        failed += 1
    elif (want["behavior"], want["behaviorClose"]) != (got["behavior"], got["behaviorClose"]):
        print("autobahn: case %s: expected behavior %s / close %s, got %s / %s"
              % (case_id, want["behavior"], want["behaviorClose"],
                 got["behavior"], got["behaviorClose"]))
        print(detail(got))
        failed += 1
    else:
        passed += 1

print("autobahn: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
