#!/usr/bin/env bash
# Per-call cost of redis.call in a script whose keys are on one shard (runs on that shard) and
# in one whose keys span two shards (Lua on a helper thread, each call sent to the key's shard
# by the coordinator), and the fixed cost of each kind of EVAL. Usage:
#   scripts/script_overhead.sh [path/to/shardis]   (default target/release/shardis)
set -euo pipefail
BIN=${1:-target/release/shardis}
PORT=${PORT:-17950}
N=${N:-20000}
DIR=$(mktemp -d)
"$BIN" --port "$PORT" --shards 4 --dir "$DIR" > "$DIR/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
C="redis-cli -p $PORT"
LOOP="for i=1,tonumber(ARGV[1]) do redis.call('incr', KEYS[1]) end return 1"
ms() { local a b; a=$(date +%s%N); "$@" >/dev/null; b=$(date +%s%N); echo $(( (b - a) / 1000 )); }
# {foo} and {bar} hash to different shards of 4.
for run in 1 2 3; do
  one=$(ms $C eval "$LOOP" 1 '{foo}x' "$N")
  two=$(ms $C eval "$LOOP" 2 '{foo}x' '{bar}y' "$N")
  echo "run $run: $N calls, keys on one shard: $one us ($(( one * 1000 / N )) ns/call); keys on two shards: $two us ($(( two * 1000 / N )) ns/call)"
done
echo "fixed cost per EVAL (redis-benchmark, 1 client, 5000 requests):"
bench() { redis-benchmark -p "$PORT" -c 1 -n 5000 -q "$@" | tr '\r' '\n' | grep -v 'rps=' | grep -v '^ *$' | tail -1; }
bench eval "return 1" 1 '{foo}x' | sed 's/^/  one shard:  /'
bench eval "return 1" 2 '{foo}x' '{bar}y' | sed 's/^/  two shards: /'
bench get '{foo}x' | sed 's/^/  (GET, for scale): /'
