#!/usr/bin/env bash
# How far below Redis can any server go here? Runs benches/floor.rs (a bare server that answers
# every request +OK: only the kernel's work, in its epoll and its io_uring form) beside
# redis-server and shardis --shards 1, each pinned to the server CPU with redis-benchmark on
# the client CPU, interleaved round by round, and prints server CPU time per request (the sum
# of the threads' run times in /proc/PID/task/*/schedstat) and its ratio to Redis's, and how
# much of it ran in user mode (utime against utime + stime in /proc/PID/stat, clock ticks: give
# -P 16 a few million requests for a steady figure), medians over the rounds.
#
# Usage: scripts/floor.sh [--rounds R] [--requests N] [--tests "set get"] [--pipelines "1 16"]
#          [--keyspace 100000 | --keyspace 0 (one key, redis-benchmark without -r)]
#          [--server-cpu 0] [--client-cpu 1] [--port 7400] [--no-build]
# Prebuilt binaries can be given in FLOOR, SHARDIS, REDIS_SERVER.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3 N=300000 TESTS="set get" PIPES="1 16" SCPU=0 CCPU=1 PORT=7400 BUILD=1 KEYSPACE=100000
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift ;;
        --requests) N=$2; shift ;;
        --tests) TESTS=$2; shift ;;
        --pipelines) PIPES=$2; shift ;;
        --keyspace) KEYSPACE=$2; shift ;;
        --server-cpu) SCPU=$2; shift ;;
        --client-cpu) CCPU=$2; shift ;;
        --port) PORT=$2; shift ;;
        --no-build) BUILD=0 ;;
        -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "floor.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

for tool in redis-benchmark taskset; do
    command -v $tool >/dev/null || { echo "floor.sh: $tool not found" >&2; exit 1; }
done
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
[ -x "$REDIS_SERVER" ] || { echo "floor.sh: redis-server not found" >&2; exit 1; }
if [ -z "${FLOOR:-}" ]; then
    FLOOR=$(cargo bench --bench floor --no-run 2>&1 | grep -o 'target/release/deps/floor-[0-9a-f]*' | tail -1)
fi
[ -x "$FLOOR" ] || { echo "floor.sh: could not build benches/floor.rs" >&2; exit 1; }
if [ -z "${SHARDIS:-}" ]; then
    ((BUILD)) && cargo build --release >&2
    SHARDIS=target/release/shardis
fi
SHARDIS=$(realpath "$SHARDIS") FLOOR=$(realpath "$FLOOR")

TMP=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# Nanoseconds all the server's threads have run.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
# Clock ticks the process has run in user mode and in the kernel (all threads): fields 14 and
# 15 of /proc/PID/stat, counted after the command name, which may hold spaces.
ticks() { sed 's/.*) //' /proc/"$1"/stat | awk '{print $12, $13}'; }
# redis-benchmark's key options: random keys, or one key.
RANDOM_KEYS=()
[ "$KEYSPACE" -gt 0 ] && RANDOM_KEYS=(-r "$KEYSPACE")

start() { # name
    case $1 in
        floor-epoll) set -- "$FLOOR" --port "$PORT" --mode epoll ;;
        floor-uring) set -- "$FLOOR" --port "$PORT" --mode uring ;;
        redis) set -- "$REDIS_SERVER" --port "$PORT" --save "" --appendonly no ;;
        shardis) set -- "$SHARDIS" --port "$PORT" --shards 1 --save "" --appendonly no ;;
    esac
    (cd "$TMP" && exec taskset -c "$SCPU" "$@") >"$TMP/log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "floor.sh: $1 did not start:" >&2
    cat "$TMP/log" >&2
    exit 1
}

stop() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
    # An io_uring server's listener goes away a moment after it exits; the next one takes
    # the next port.
    PORT=$((PORT + 1))
}

SERVERS="floor-epoll floor-uring redis shardis"
for round in $(seq "$ROUNDS"); do
    for s in $SERVERS; do
        start "$s"
        # GET finds its keys, as in scripts/bench.sh (the floor ignores them).
        taskset -c "$CCPU" redis-benchmark -p "$PORT" -t set "${RANDOM_KEYS[@]}" -n 200000 -P 16 -q >/dev/null 2>&1
        for t in $TESTS; do
            for p in $PIPES; do
                c0=$(cpu_ns "$PID")
                read -r u0 k0 < <(ticks "$PID")
                rate=$(taskset -c "$CCPU" redis-benchmark -p "$PORT" -t "$t" -P "$p" "${RANDOM_KEYS[@]}" -c 50 -n "$N" -q 2>&1 |
                    tr '\r' '\n' | grep "per second" | tail -1 | awk '{print $2}')
                c1=$(cpu_ns "$PID")
                read -r u1 k1 < <(ticks "$PID")
                user=$(awk -v u=$((u1 - u0)) -v k=$((k1 - k0)) 'BEGIN {printf "%.0f", (u + k) ? 100 * u / (u + k) : 0}')
                echo "$s $t $p $rate $(((c1 - c0) / N)) $user" >>"$TMP/raw"
                echo "floor.sh: round $round $s $t -P $p: $rate req/s, $(((c1 - c0) / N)) ns/req, $user% user" >&2
            done
        done
        stop
    done
done

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
printf "\nserver CPU per request, ns (median of %s rounds; ratio to redis-server; share in user mode)\n" "$ROUNDS"
printf "%-12s %-5s %-4s %12s %10s %8s %6s\n" server test P "req/s" "ns/req" "x redis" "user"
for t in $TESTS; do
    for p in $PIPES; do
        r=$(awk -v t="$t" -v p="$p" '$1 == "redis" && $2 == t && $3 == p {print $5}' "$TMP/raw" | median)
        for s in $SERVERS; do
            ns=$(awk -v s="$s" -v t="$t" -v p="$p" '$1 == s && $2 == t && $3 == p {print $5}' "$TMP/raw" | median)
            rate=$(awk -v s="$s" -v t="$t" -v p="$p" '$1 == s && $2 == t && $3 == p {print $4}' "$TMP/raw" | median)
            user=$(awk -v s="$s" -v t="$t" -v p="$p" '$1 == s && $2 == t && $3 == p {print $6}' "$TMP/raw" | median)
            printf "%-12s %-5s %-4s %12.0f %10.0f %8.2f %5.0f%%\n" "$s" "$t" "$p" "$rate" "$ns" "$(echo "$ns / $r" | bc -l)" "$user"
        done
    done
done
