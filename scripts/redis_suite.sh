#!/usr/bin/env bash
# Run units of Redis 7.0.15's own TCL test suite against a release shardis (external-server mode)
# and print a summary table. Not part of `cargo test`. Run `scripts/redis_suite.sh --help`.
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)

SRC=
FETCH=0
WORK=${TMPDIR:-/tmp}/shardis-redis-suite
SHARDS_LIST="1 4"
PORT=17820
BUILD=1
SHARDIS_BIN=$REPO/target/release/shardis
REDIS_BIN=
TIMEOUT=600
KEEP_LOGS=0
SKIPFILE=
TAGS=
BASEPORT=
SPAWN=0
SERVER_ARGS=
DEFAULT_UNITS="unit/type/list unit/type/list-2 unit/type/list-3 unit/type/hash unit/type/set
unit/type/zset unit/type/incr unit/type/string unit/keyspace unit/expire unit/hyperloglog unit/geo
unit/info-command unit/protocol unit/auth"
UNITS=

usage() {
    cat <<EOF
Usage: scripts/redis_suite.sh [OPTIONS] [UNIT...]

Runs units of Redis 7.0.15's TCL test suite (tests/test_helper.tcl in external-server mode,
--clients 1) against shardis. A fresh release shardis is started for every unit and every shard
count, so that one unit's leftovers cannot affect the next. Prints one row per (unit, shards):
the number of [ok], [err] and [exception] lines (an exception aborts the rest of the unit).

The suite runs in a copy of the source tree (under --work), where one line is patched:
tests/support/server.tcl runs 'r function flush' between tests in external mode, and shardis has
no FUNCTION yet, so the copy gets 'catch {r function flush}' instead.

Options:
  --src DIR        Redis 7.0.15 source tree (the one holding tests/test_helper.tcl)
  --fetch          get the source with 'apt-get source redis' into the work directory instead;
                   needs deb-src lines in /etc/apt/sources.list(.d) (e.g. 'deb-src
                   http://deb.debian.org/debian bookworm main', then 'apt-get update') and
                   dpkg-dev; the distribution's version must be 7.0.x for the results to mean
                   anything
  --work DIR       where the patched copy and logs go (default: $WORK)
  --shards "N..."  shard counts to run every unit with (default: "$SHARDS_LIST")
  --port P         port for the servers (default: $PORT); with --spawn, the suite's servers
                   get ports from P+40 on and its test server one just below
  --baseport P     test_helper's --baseport in external-server mode: its own ports lie just below
                   P (default: --port + 1000; give another when a second suite runs)
  --no-build       don't run 'cargo build --release' first
  --bin PATH       shardis binary (default: target/release/shardis)
  --redis PATH     also run every unit against this redis-server (the reference row)
  --timeout S      per-unit time limit in seconds (default: $TIMEOUT)
  --skipfile FILE  tests to skip (test_helper's --skipfile: one name or /regexp per line);
                   scripts/redis_suite.skip lists the tests that need features shardis does not
                   have yet (MULTI, replication, streams...), so that the rest of each unit runs
  --server-args "A..."  more shardis arguments, external-server mode only (e.g.
                   "--script-allow-cross-slot-keys yes" for unit/scripting on several shards)
  --tags TAGS      test_helper's --tags (e.g. "-needs:repl" leaves out tests with that tag)
  --spawn          let the suite start its servers (not external-server mode): every test's
                   config overrides apply and the tests tagged external:skip run too (auth, acl,
                   limits, …); scripts/redis_suite_server.sh stands in for src/redis-server
  --keep-logs      keep server logs and suite output under the work directory (always kept
                   for units with failures)
  -h, --help       this text

UNIT is a test file name as test_helper's --single takes it (unit/type/hash). The default set:
$(echo $DEFAULT_UNITS | tr '\n' ' ')

Examples:
  scripts/redis_suite.sh --src ~/redis-7.0.15
  scripts/redis_suite.sh --src ~/redis-7.0.15 --shards 4 unit/type/zset
  scripts/redis_suite.sh --src ~/redis-7.0.15 --skipfile scripts/redis_suite.skip
  scripts/redis_suite.sh --src ~/redis-7.0.15 --redis \$(command -v redis-server) unit/geo
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --src) SRC=$2; shift 2 ;;
        --fetch) FETCH=1; shift ;;
        --work) WORK=$2; shift 2 ;;
        --shards) SHARDS_LIST=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        --baseport) BASEPORT=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --bin) SHARDIS_BIN=$2; BUILD=0; shift 2 ;;
        --redis) REDIS_BIN=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --keep-logs) KEEP_LOGS=1; shift ;;
        --spawn) SPAWN=1; shift ;;
        --skipfile) SKIPFILE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
        --tags) TAGS=$2; shift 2 ;;
        --server-args) SERVER_ARGS=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
        *) UNITS="$UNITS $1"; shift ;;
    esac
done
[ -n "$UNITS" ] || UNITS=$DEFAULT_UNITS

command -v tclsh >/dev/null || { echo "tclsh is needed (apt-get install tcl)" >&2; exit 2; }
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

if [ "$FETCH" = 1 ]; then
    mkdir -p "$WORK/fetch"
    (cd "$WORK/fetch" && apt-get source redis) || {
        echo "apt-get source redis failed: add a deb-src line and run apt-get update" >&2
        exit 2
    }
    SRC=$(ls -d "$WORK"/fetch/redis-*/ | head -n 1)
fi
[ -n "$SRC" ] || { echo "--src DIR or --fetch is needed (see --help)" >&2; exit 2; }
[ -f "$SRC/tests/test_helper.tcl" ] || { echo "$SRC/tests/test_helper.tcl not found" >&2; exit 2; }
VERSION=$(sed -n 's/^#define REDIS_VERSION "\(.*\)"/\1/p' "$SRC/src/version.h" 2>/dev/null)
case "$VERSION" in
    7.0.*) ;;
    *) echo "warning: the source is Redis '${VERSION:-unknown}', results were calibrated on 7.0.15" >&2 ;;
esac

COPY=$WORK/redis-tests
rm -rf "$COPY"
mkdir -p "$COPY"
cp -r "$SRC/tests" "$COPY/"
# A few units read files outside tests/ (e.g. the assets); keep the layout test_helper expects.
for d in src utils; do [ -d "$SRC/$d" ] && ln -s "$SRC/$d" "$COPY/$d"; done
if [ "$SPAWN" = 1 ]; then
    # src/ of our own, with the stand-in server beside links to the rest.
    rm "$COPY/src"
    mkdir "$COPY/src"
    for f in "$SRC"/src/*; do ln -s "$f" "$COPY/src/$(basename "$f")"; done
    rm -f "$COPY/src/redis-server"
    ln -s "$SCRIPT_DIR/redis_suite_server.sh" "$COPY/src/redis-server"
fi
sed -i 's/^\(\s*\)r function flush$/\1catch {r function flush}/' "$COPY/tests/support/server.tcl"
grep -q 'catch {r function flush}' "$COPY/tests/support/server.tcl" ||
    echo "warning: the 'r function flush' line was not found; the patch was not applied" >&2

if [ "$BUILD" = 1 ]; then
    (cd "$REPO" && cargo build --release) || exit 1
fi
[ -x "$SHARDIS_BIN" ] || { echo "$SHARDIS_BIN not found (build it or pass --bin)" >&2; exit 2; }

LOGS=$WORK/logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
SERVER_PID=

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=
    fi
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

wait_ready() {
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

ROWS=()
run_unit() { # unit label command...
    local unit=$1 label=$2; shift 2
    local name; name=$(echo "$unit-$label" | tr '/' '_')
    local dir=$LOGS/$name
    mkdir -p "$dir"
    local extra=()
    if [ "$SPAWN" = 0 ]; then
        (cd "$dir" && exec "$@" >"$dir/server.log" 2>&1) &
        SERVER_PID=$!
        if ! wait_ready; then
            ROWS+=("$unit|$label|-|-|-|server did not start")
            stop_server
            return
        fi
        extra+=(--host 127.0.0.1 --port "$PORT" --baseport "${BASEPORT:-$((PORT + 1000))}")
    else
        # The suite's own ports (its servers, its test server below them) from --port.
        extra+=(--baseport "$((PORT + 40))" --portcount 400)
    fi
    [ -n "$SKIPFILE" ] && extra+=(--skipfile "$SKIPFILE")
    [ -n "$TAGS" ] && extra+=(--tags "$TAGS")
    local shards=${label#shards=}
    (cd "$COPY" && TERM=dumb SHARDIS_BIN=$SHARDIS_BIN SHARDIS_SHARDS=$shards timeout "$TIMEOUT" \
        tclsh tests/test_helper.tcl --single "$unit" --clients 1 --timeout "$TIMEOUT" --dont-clean \
        "${extra[@]}") >"$dir/suite.log" 2>&1
    local rc=$?
    stop_server
    local ok err exc skip note=
    ok=$(grep -c '^\[ok\]' "$dir/suite.log")
    err=$(grep -c '^\[err\]' "$dir/suite.log")
    exc=$(grep -c '^\[exception\]' "$dir/suite.log")
    skip=$(grep -c '^\[skip\]' "$dir/suite.log")
    [ "$rc" = 124 ] && note="timed out"
    ROWS+=("$unit|$label|$ok|$err|$exc|$skip|$note")
    if [ "$KEEP_LOGS" = 0 ] && [ "$err" = 0 ] && [ "$exc" = 0 ] && [ -z "$note" ]; then
        rm -rf "$dir"
    fi
    printf '%-22s %-9s ok %-4s err %-3s exception %-2s skip %-3s %s\n' \
        "$unit" "$label" "$ok" "$err" "$exc" "$skip" "$note" >&2
}

for unit in $UNITS; do
    [ -f "$COPY/tests/$unit.tcl" ] || { ROWS+=("$unit|-|-|-|-|-|no such unit"); continue; }
    if [ -n "$REDIS_BIN" ] && [ "$SPAWN" = 0 ]; then
        run_unit "$unit" redis "$REDIS_BIN" --port "$PORT" --bind 127.0.0.1 --save '' \
            --appendonly no --enable-debug-command yes
    fi
    for shards in $SHARDS_LIST; do
        run_unit "$unit" "shards=$shards" "$SHARDIS_BIN" --port "$PORT" --bind 127.0.0.1 \
            --shards "$shards" --enable-debug-command yes $SERVER_ARGS
    done
done

echo
printf '| %-20s | %-9s | %4s | %4s | %9s | %4s | %s\n' unit server ok err exception skip note
printf '|%s|%s|%s|%s|%s|%s|%s\n' ---------------------- ----------- ------ ------ ----------- ------ ------
for row in "${ROWS[@]}"; do
    IFS='|' read -r u l o e x s n <<<"$row"
    printf '| %-20s | %-9s | %4s | %4s | %9s | %4s | %s\n' "$u" "$l" "$o" "$e" "$x" "$s" "$n"
done
echo
echo "logs of units with failures: $LOGS (grep '^\[err\]\|^\[exception\]' */suite.log)"
