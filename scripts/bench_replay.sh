#!/usr/bin/env bash
# AOF replay time, shardis vs redis-server: fill each server (AOF on) with the same N SET
# commands, shut it down cleanly, start it again and time how long it takes until it answers
# PING with PONG (not -LOADING). Both servers are pinned to the same CPUs; runs alternate.
#
# Usage: scripts/bench_replay.sh [--keys N] [--shards N] [--size BYTES] [--rounds N]
#                                [--server-cpus LIST] [--no-build]
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
KEYS=2000000
SHARDS=$(nproc)
SIZE=32
ROUNDS=3
SERVER_CPUS=0-$(($(nproc) - 1))
BUILD=1

while (($#)); do
    case $1 in
    --keys) KEYS=$2; shift 2 ;;
    --shards) SHARDS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --server-cpus) SERVER_CPUS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

((BUILD)) && (cd "$REPO" && cargo build --release --quiet)
SHARDIS=$REPO/target/release/shardis
command -v redis-server >/dev/null || { echo "redis-server not found" >&2; exit 1; }
TMPD=$(mktemp -d)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$TMPD"' EXIT

# The same commands for both: N SETs of distinct keys, as redis-cli --pipe input.
python3 - "$KEYS" "$SIZE" >"$TMPD/cmds.resp" <<'EOF'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
val = b"v" * size
for i in range(n):
    k = b"key:%d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(val), val))
EOF

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # kind dir port
    local kind=$1 dir=$2 p=$3
    if [[ $kind == redis ]]; then
        (cd "$dir" && exec taskset -c "$SERVER_CPUS" redis-server --port "$p" --bind 127.0.0.1 \
            --save '' --appendonly yes --appendfsync no --aof-use-rdb-preamble no \
            --auto-aof-rewrite-percentage 0) >>"$dir/log" 2>&1 &
    else
        (cd "$dir" && exec taskset -c "$SERVER_CPUS" "$SHARDIS" --port "$p" --bind 127.0.0.1 \
            --shards "$SHARDS" --appendonly yes --appendfsync no \
            --auto-aof-rewrite-percentage 0) >>"$dir/log" 2>&1 &
    fi
    echo $!
}

ready() { # port: PONG (loaded), not -LOADING
    [[ $(redis-cli -p "$1" ping 2>/dev/null) == PONG ]]
}

declare -A BEST
for kind in shardis redis; do
    dir=$TMPD/$kind
    mkdir -p "$dir"
    p=$(port)
    pid=$(start "$kind" "$dir" "$p")
    until ready "$p"; do sleep 0.05; done
    redis-cli -p "$p" --pipe <"$TMPD/cmds.resp" >/dev/null
    n=$(redis-cli -p "$p" dbsize)
    redis-cli -p "$p" shutdown >/dev/null 2>&1 || true
    wait "$pid" 2>/dev/null || true
    size=$(du -sb "$dir"/appendonlydir | cut -f1)
    echo "$kind: $n keys, AOF $((size / 1048576)) MiB" >&2
done

for ((r = 1; r <= ROUNDS; r++)); do
    for kind in shardis redis; do
        dir=$TMPD/$kind
        p=$(port)
        t0=$(date +%s.%N)
        pid=$(start "$kind" "$dir" "$p")
        until ready "$p"; do sleep 0.01; done
        t1=$(date +%s.%N)
        cpu=$(awk '{print ($14 + $15) / 100}' /proc/"$pid"/stat)
        n=$(redis-cli -p "$p" dbsize)
        redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || redis-cli -p "$p" shutdown >/dev/null 2>&1 || true
        wait "$pid" 2>/dev/null || true
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
        echo "round $r $kind: ${secs}s to PONG, ${cpu}s CPU, $n keys" >&2
        if [[ -z ${BEST[$kind]:-} ]] || awk -v a="$secs" -v b="${BEST[$kind]}" 'BEGIN {exit !(a < b)}'; then
            BEST[$kind]=$secs
        fi
    done
done

echo "AOF replay of $KEYS keys (SET, ${SIZE}-byte values), best of $ROUNDS, servers on CPUs $SERVER_CPUS:"
echo "  shardis (--shards $SHARDS): ${BEST[shardis]} s"
echo "  redis-server:             ${BEST[redis]} s"
awk -v a="${BEST[redis]}" -v b="${BEST[shardis]}" 'BEGIN {printf "  shardis is %.2fx faster\n", a / b}'
