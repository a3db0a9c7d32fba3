#!/usr/bin/env bash
# Validates benches/loadgen against redis-benchmark and sweeps its open loop.
#
#  1. closed loop: `redis-benchmark -t set,get -P P -c C -d D -r K` and loadgen with the same
#     settings (one thread, C connections, pipeline P, SET-only then GET-only over K keys),
#     interleaved for ROUNDS rounds; prints req/s of each and the ratio.
#  2. open loop: loadgen's closed-loop maximum for the SET:GET mix (best of three), then
#     --rate at the given fractions of it; prints p50/p99/p99.9 latency (from the intended send
#     times) and the p99 of how late requests were sent, in all and of the generator's own doing.
#
# The server runs on --server-cpu, the clients on --client-cpu (taskset).
#
# Usage: scripts/loadgen_check.sh [--server redis|shardis] [--port N] [--pipeline P]
#          [--clients C] [--size D] [--keyspace K] [--requests N] [--rounds R]
#          [--fractions "0.3 0.7 0.95"] [--open-secs S] [--ratio 1:10]
#          [--server-cpu 1] [--client-cpu 0] [--skip-closed] [--skip-open] [--max RPS]
#
# --max RPS takes RPS as the open loop's maximum instead of measuring this server's (the data is
# still prefilled): run `--server redis` first and pass its maximum to `--server shardis` to load
# both at the same fractions of Redis's maximum rate.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER=redis PORT=17840 P=16 C=50 D=64 K=100000 N=2000000 ROUNDS=3
FRACTIONS="0.3 0.7 0.95" OPEN_SECS=10 RATIO=1:10 SCPU=1 CCPU=0 CLOSED=1 OPEN=1 MAX=
while [ $# -gt 0 ]; do
    case "$1" in
        --server) SERVER=$2; shift ;;
        --port) PORT=$2; shift ;;
        --pipeline) P=$2; shift ;;
        --clients) C=$2; shift ;;
        --size) D=$2; shift ;;
        --keyspace) K=$2; shift ;;
        --requests) N=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --fractions) FRACTIONS=$2; shift ;;
        --open-secs) OPEN_SECS=$2; shift ;;
        --ratio) RATIO=$2; shift ;;
        --server-cpu) SCPU=$2; shift ;;
        --client-cpu) CCPU=$2; shift ;;
        --skip-closed) CLOSED=0 ;;
        --skip-open) OPEN=0 ;;
        --max) MAX=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

# Prebuilt binaries can be given in LOADGEN, SHARDIS, REDIS_SERVER, REDIS_BENCHMARK, REDIS_CLI.
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
if [ -z "${LOADGEN:-}" ]; then
    LOADGEN=$(cargo bench --bench loadgen --no-run 2>&1 |
        grep -o 'target/release/deps/loadgen-[0-9a-f]*' | tail -1)
fi
[ -x "$LOADGEN" ] || { echo "could not build the load generator" >&2; exit 1; }
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
REDIS_CLI=${REDIS_CLI:-redis-cli}
TMP=$(mktemp -d)
SPID=
cleanup() {
    if [ -n "$SPID" ]; then
        kill "$SPID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SPID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# The server runs in the temporary directory: files of an earlier run where this script was
# started (an appendonlydir, which Redis 7 reads even with the AOF off) must not stop it.
case "$SERVER" in
    redis)
        (cd "$TMP" && exec taskset -c "$SCPU" "$REDIS_SERVER" --port "$PORT" --save '' \
            --appendonly no --logfile "$TMP/server.log") &
        ;;
    shardis)
        if [ -z "${SHARDIS:-}" ]; then
            cargo build --release >/dev/null 2>&1
            SHARDIS=target/release/shardis
        fi
        SHARDIS=$(realpath "$SHARDIS")
        (cd "$TMP" && exec taskset -c "$SCPU" "$SHARDIS" --port "$PORT" --shards 1) \
            >"$TMP/server.log" 2>&1 &
        ;;
    *) echo "--server redis|shardis" >&2; exit 2 ;;
esac
SPID=$!
for _ in $(seq 50); do timeout 1 "$REDIS_CLI" -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

lg() { timeout 120 taskset -c "$CCPU" "$LOADGEN" --port "$PORT" --quiet --csv "$TMP/out.csv" "$@" >"$TMP/out.txt"; }
col() { awk -F, -v row="$1" -v c="$2" '$1 == row { print $c }' "$TMP/out.csv"; }

echo "# $SERVER on CPU $SCPU, clients on CPU $CCPU: P=$P C=$C D=$D keyspace=$K"
if [ "$CLOSED" = 1 ]; then
    echo "## closed loop, $N requests per test, $ROUNDS rounds (req/s)"
    echo "round test redis-benchmark loadgen ratio"
    for r in $(seq "$ROUNDS"); do
        rb=$(taskset -c "$CCPU" "$REDIS_BENCHMARK" -p "$PORT" -t set,get -P "$P" -c "$C" -d "$D" \
            -r "$K" -n "$N" --csv 2>/dev/null | tr -d '"')
        for t in SET GET; do
            b=$(echo "$rb" | awk -F, -v t="$t" '$1 == t { printf "%.0f", $2 }')
            if [ "$t" = SET ]; then ratio=1:0; else ratio=0:1; fi
            lg --connections "$C" --pipeline "$P" --data-size "$D" --keyspace "$K" \
                --requests "$N" --ratio "$ratio"
            l=$(col "$t" 4)
            echo "$r $t $b $l $(awk -v a="$l" -v b="$b" 'BEGIN { printf "%.3f", a / b }')"
        done
    done
fi

if [ "$OPEN" = 1 ]; then
    # The closed-loop maximum: the best of three 5-second runs (the first one prefills), or
    # --max after one prefilling run.
    max=0
    runs=3
    [ -n "$MAX" ] && runs=1
    for i in $(seq "$runs"); do
        lg --connections "$C" --pipeline "$P" --data-size "$D" --keyspace "$K" \
            --ratio "$RATIO" --duration 5 $([ "$i" = 1 ] && echo --prefill)
        r=$(col ALL 4)
        if [ "$r" -gt "$max" ]; then
            max=$r
            best="closed - $r $(col ALL 6) $(col ALL 8) $(col ALL 9) $(col ALL 11) - -"
        fi
    done
    source="best of 3"
    if [ -n "$MAX" ]; then
        source="given; this server's closed loop: $max"
        max=$MAX
    fi
    echo "## open loop, SET:GET $RATIO, ${OPEN_SECS}s each; closed-loop max $max req/s ($source)"
    echo "fraction target_rps achieved_rps p50_ms p99_ms p99.9_ms max_ms behind_p99_ms own_delay_p99_ms"
    echo "$best"
    for f in $FRACTIONS; do
        rate=$(awk -v m="$max" -v f="$f" 'BEGIN { printf "%d", m * f }')
        lg --connections "$C" --pipeline "$P" --data-size "$D" --keyspace "$K" \
            --ratio "$RATIO" --duration "$OPEN_SECS" --rate "$rate"
        echo "$f $rate $(col ALL 4) $(col ALL 6) $(col ALL 8) $(col ALL 9) $(col ALL 11)" \
            "$(col SEND_LAG 8) $(col SCHED_LAG 8)"
    done
fi
