#!/usr/bin/env bash
# Cache hit ratio under maxmemory, shardis next to redis-server.
#
# For each eviction policy, each server is started fresh with the same `maxmemory` and policy,
# then driven by benches/loadgen with a Zipf key distribution over a keyspace larger than the
# memory holds (a SET:GET mix, so the hot keys are written back as a cache-aside client would).
# Every key is SET once first (--prefill), so the memory is full and evicting before the mix
# starts. Afterwards the script reads INFO: keyspace_hits / (hits + misses) is the hit ratio, plus
# evicted_keys, the keys held, used_memory and the peak RSS (VmHWM). Servers run in turn on the
# same CPU, the client on another.
#
# Usage: scripts/hitratio.sh [--policies "allkeys-lru allkeys-lfu"] [--maxmemory 200mb]
#          [--keyspace 1000000] [--zipf 0.99] [--size 1024] [--ratio 1:10] [--requests 3000000]
#          [--shards 1] [--server-cpu 1] [--client-cpu 0] [--port 17870]
# Prebuilt binaries can be given in LOADGEN, SHARDIS, REDIS_SERVER.
set -euo pipefail
cd "$(dirname "$0")/.."
POLICIES="allkeys-lru allkeys-lfu" MAXMEM=200mb K=1000000 S=0.99 D=1024 RATIO=1:10 N=3000000
SHARDS=1 SCPU=1 CCPU=0 PORT=17870
while [ $# -gt 0 ]; do
    case "$1" in
        --policies) POLICIES=$2; shift ;;
        --maxmemory) MAXMEM=$2; shift ;;
        --keyspace) K=$2; shift ;;
        --zipf) S=$2; shift ;;
        --size) D=$2; shift ;;
        --ratio) RATIO=$2; shift ;;
        --requests) N=$2; shift ;;
        --shards) SHARDS=$2; shift ;;
        --server-cpu) SCPU=$2; shift ;;
        --client-cpu) CCPU=$2; shift ;;
        --port) PORT=$2; shift ;;
        -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "${LOADGEN:-}" ]; then
    LOADGEN=$(cargo bench --bench loadgen --no-run 2>&1 |
        grep -o 'target/release/deps/loadgen-[0-9a-f]*' | tail -1)
fi
[ -x "$LOADGEN" ] || { echo "could not build the load generator" >&2; exit 1; }
SHARDIS=${SHARDIS:-target/release/shardis}
[ -x "$SHARDIS" ] || cargo build --release --quiet
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
SPID=
cleanup() {
    if [ -n "$SPID" ]; then
        kill "$SPID" 2>/dev/null || true
        wait "$SPID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

info() { redis-cli -p "$PORT" INFO "$1" | tr -d '\r'; }
field() { awk -F: -v f="$2" '$1 == f { print $2 }' <<<"$1"; }

run() { # server policy
    local server=$1 policy=$2
    if [ "$server" = redis ]; then
        taskset -c "$SCPU" "$REDIS_SERVER" --port "$PORT" --save '' --appendonly no \
            --maxmemory "$MAXMEM" --maxmemory-policy "$policy" >/dev/null 2>&1 &
    else
        taskset -c "$SCPU" "$SHARDIS" --port "$PORT" --shards "$SHARDS" \
            --maxmemory "$MAXMEM" --maxmemory-policy "$policy" >/dev/null 2>&1 &
    fi
    SPID=$!
    for _ in $(seq 100); do redis-cli -p "$PORT" PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
    taskset -c "$CCPU" "$LOADGEN" --port "$PORT" --connections 50 --pipeline 16 --quiet \
        --key-pattern "zipf:$S" --keyspace "$K" --data-size "$D" --ratio "$RATIO" \
        --requests "$N" --seed 7 --prefill >/dev/null
    local stats mem keys
    stats=$(info stats)
    mem=$(info memory)
    keys=$(redis-cli -p "$PORT" DBSIZE)
    local hits misses evicted used hwm
    hits=$(field "$stats" keyspace_hits)
    misses=$(field "$stats" keyspace_misses)
    evicted=$(field "$stats" evicted_keys)
    used=$(field "$mem" used_memory)
    hwm=$(awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$SPID/status")
    cleanup
    SPID=
    awk -v s="$server" -v p="$policy" -v h="$hits" -v m="$misses" -v e="$evicted" -v k="$keys" \
        -v u="$used" -v r="$hwm" 'BEGIN {
        printf "%-12s %-8s | %8.4f %10d %9d %10.1f %10.1f\n", p, s, (h + m > 0 ? h / (h + m) : 0),
            e, k, u / 1048576, r / 1048576 }'
}

echo "maxmemory $MAXMEM, $K keys zipf:$S, ${D}-byte values, SET:GET $RATIO, $N requests"
printf '%-12s %-8s | %8s %10s %9s %10s %10s\n' policy server hit_ratio evicted keys used_MB peakRSS_MB
for policy in $POLICIES; do
    run shardis "$policy"
    if [ -n "$REDIS_SERVER" ]; then run redis "$policy"; fi
done
