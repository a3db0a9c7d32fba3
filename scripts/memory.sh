#!/usr/bin/env bash
# Memory per key and per element, shardis next to redis-server: for each dataset both servers
# are started fresh (shardis with one shard; redis-server without persistence), VmRSS (from
# /proc/PID/status) and INFO used_memory are read, the dataset is loaded with `redis-cli --pipe`,
# and both are read again. The table shows each server's growth per key or element, and the
# shardis / redis ratios.
# Run `scripts/memory.sh --help` for the options.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)

BUILD=1
SHARDIS_BIN=$REPO/target/release/shardis
REDIS_BIN=$(command -v redis-server || true)
CLI_BIN=$(command -v redis-cli || true)
BASE_PORT=17810
DATASETS=strings,strings16,strings16ttl,hashes,sets,zsets,lists,bighash,bigset,bigzset
SCALE=1

usage() {
    cat <<EOF
Usage: scripts/memory.sh [OPTIONS]

Loads each dataset into a fresh shardis (--shards 1) and a fresh redis-server (--save ''
--appendonly no) and prints the growth of each process's VmRSS.

Datasets (counts at --scale 1):
  strings   1M   SET key:<i> value:<i>
  strings16 1M   SET key:<12-digit i> <32-byte value>   (16-byte keys, 32-byte values)
  strings16ttl   as strings16, each with EX 100000
  hashes    100k HSET h:<i> field0 value0 ... field9 value9
  sets      100k SADD s:<i> 0 1 ... 9          (intset)
  zsets     100k ZADD z:<i> 0 m0 1 m1 ... 9 m9 (listpack)
  lists     10k  RPUSH l:<i> with 100 elements e0 ... e99
  bighash   one hash of 1M fields  field:<j> value:<j>  (hashtable)
  bigset    one set of 1M members  member:<j>           (hashtable)
  bigzset   one zset of 1M members member:<j>, score j  (skiplist)

Options:
  --no-build            do not run 'cargo build --release' first
  --shardis PATH        shardis binary (default: target/release/shardis)
  --redis-server PATH   redis-server binary (default: from PATH)
  --port N              first port to try; free ports are picked from there (default: $BASE_PORT)
  --datasets LIST       comma-separated subset of the datasets above (default: all)
  --scale F             multiply every count by F (e.g. 0.1 for a quick run)
  -h, --help            this text
EOF
}

while (($#)); do
    case $1 in
    --no-build) BUILD=0 ;;
    --shardis) SHARDIS_BIN=$2; shift ;;
    --redis-server) REDIS_BIN=$2; shift ;;
    --port) BASE_PORT=$2; shift ;;
    --datasets) DATASETS=$2; shift ;;
    --scale) SCALE=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

die() { echo "memory.sh: $*" >&2; exit 1; }
[[ -n $REDIS_BIN && -x $REDIS_BIN ]] || die "redis-server not found (use --redis-server)"
[[ -n $CLI_BIN ]] || die "redis-cli not found"
if ((BUILD)); then
    (cd "$REPO" && cargo build --release --quiet) || die "build failed"
fi
[[ -x $SHARDIS_BIN ]] || die "no shardis binary at $SHARDIS_BIN"

TMPD=$(mktemp -d)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() {
    if command -v ss >/dev/null; then
        [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]] && return 0
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

NEXT_PORT=$BASE_PORT
pick_port() {
    local p=$NEXT_PORT
    while port_in_use "$p"; do
        p=$((p + 1))
        ((p < 65536)) || die "no free port from $BASE_PORT up"
    done
    NEXT_PORT=$((p + 1))
    echo "$p"
}

n() { awk -v n="$1" -v s="$SCALE" 'BEGIN { v = int(n * s); print (v < 1 ? 1 : v) }'; }

# Each dataset as RESP, generated once and fed to both servers. Prints the element count
# the per-item column divides by.
gen() {
    local name=$1 out=$TMPD/$1.resp
    case $name in
    strings)
        awk -v n="$(n 1000000)" 'BEGIN { for (i = 0; i < n; i++) {
            k = "key:" i; v = "value:" i
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v } }' >"$out"
        n 1000000 ;;
    strings16 | strings16ttl)
        awk -v n="$(n 1000000)" -v ttl="$([[ $name == strings16ttl ]] && echo 1 || echo 0)" 'BEGIN {
            for (i = 0; i < n; i++) {
                k = sprintf("key:%012d", i); v = sprintf("%032d", i)
                if (ttl) printf "*5\r\n$3\r\nSET\r\n$16\r\n%s\r\n$32\r\n%s\r\n$2\r\nEX\r\n$6\r\n100000\r\n", k, v
                else printf "*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$32\r\n%s\r\n", k, v } }' >"$out"
        n 1000000 ;;
    hashes)
        awk -v n="$(n 100000)" 'BEGIN { for (i = 0; i < n; i++) {
            k = "h:" i; printf "*22\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n", length(k), k
            for (j = 0; j < 10; j++) printf "$6\r\nfield%d\r\n$6\r\nvalue%d\r\n", j, j } }' >"$out"
        n 100000 ;;
    sets)
        awk -v n="$(n 100000)" 'BEGIN { for (i = 0; i < n; i++) {
            k = "s:" i; printf "*12\r\n$4\r\nSADD\r\n$%d\r\n%s\r\n", length(k), k
            for (j = 0; j < 10; j++) printf "$1\r\n%d\r\n", j } }' >"$out"
        n 100000 ;;
    zsets)
        awk -v n="$(n 100000)" 'BEGIN { for (i = 0; i < n; i++) {
            k = "z:" i; printf "*22\r\n$4\r\nZADD\r\n$%d\r\n%s\r\n", length(k), k
            for (j = 0; j < 10; j++) printf "$1\r\n%d\r\n$2\r\nm%d\r\n", j, j } }' >"$out"
        n 100000 ;;
    lists)
        awk -v n="$(n 10000)" 'BEGIN { for (i = 0; i < n; i++) {
            k = "l:" i; printf "*102\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n", length(k), k
            for (j = 0; j < 100; j++) { e = "e" j; printf "$%d\r\n%s\r\n", length(e), e } } }' >"$out"
        n 10000 ;;
    bighash | bigset | bigzset)
        # 100 elements per command.
        awk -v n="$(n 1000000)" -v t="$name" 'BEGIN {
            for (i = 0; i < n; i += 100) {
                m = (n - i < 100) ? n - i : 100
                if (t == "bighash") printf "*%d\r\n$4\r\nHSET\r\n$7\r\nbighash\r\n", 2 + 2 * m
                else if (t == "bigset") printf "*%d\r\n$4\r\nSADD\r\n$6\r\nbigset\r\n", 2 + m
                else printf "*%d\r\n$4\r\nZADD\r\n$7\r\nbigzset\r\n", 2 + 2 * m
                for (j = i; j < i + m; j++) {
                    if (t == "bighash") {
                        f = "field:" j; v = "value:" j
                        printf "$%d\r\n%s\r\n$%d\r\n%s\r\n", length(f), f, length(v), v
                    } else if (t == "bigset") {
                        f = "member:" j; printf "$%d\r\n%s\r\n", length(f), f
                    } else {
                        f = "member:" j; s = j ""
                        printf "$%d\r\n%s\r\n$%d\r\n%s\r\n", length(s), s, length(f), f
                    }
                } } }' >"$out"
        n 1000000 ;;
    *) die "unknown dataset: $name" ;;
    esac
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
used_memory() { "$CLI_BIN" -p "$1" INFO memory | awk -F: '/^used_memory:/ { print $2 + 0 }'; }

wait_ready() { # port
    local k
    for k in $(seq 100); do
        "$CLI_BIN" -p "$1" PING 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    return 1
}

# Start a server, load a dataset, print "rss_before_kb rss_after_kb used_before used_after"
# (used_memory from INFO, in bytes).
measure() { # kind dataset
    local kind=$1 name=$2 port pid before after
    port=$(pick_port)
    if [[ $kind == redis ]]; then
        "$REDIS_BIN" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            >"$TMPD/$kind.log" 2>&1 &
    else
        "$SHARDIS_BIN" --shards 1 --port "$port" --bind 127.0.0.1 >"$TMPD/$kind.log" 2>&1 &
    fi
    pid=$!
    PIDS+=("$pid")
    wait_ready "$port" || { cat "$TMPD/$kind.log" >&2; die "$kind did not answer PING"; }
    before=$(rss_kb "$pid")
    ubefore=$(used_memory "$port")
    "$CLI_BIN" -p "$port" --pipe <"$TMPD/$name.resp" >"$TMPD/pipe.out" 2>&1 ||
        { cat "$TMPD/pipe.out" >&2; die "$kind: loading $name failed"; }
    grep -q "errors: 0" "$TMPD/pipe.out" || { cat "$TMPD/pipe.out" >&2; die "$kind: errors loading $name"; }
    sleep 0.5
    after=$(rss_kb "$pid")
    uafter=$(used_memory "$port")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset 'PIDS[-1]'
    echo "$before $after $ubefore $uafter"
}

printf '%-12s %8s | %-26s | %-26s | %s\n' "" "" "shardis B/item" "redis B/item" "shardis/redis"
printf '%-12s %8s | %8s %8s %8s | %8s %8s %8s | %6s %6s\n' dataset items RSS_MB RSS used RSS_MB RSS used RSS used
printf -- '-----------------------------------------------------------------------------------------------\n'
IFS=, read -ra SETS <<<"$DATASETS"
for d in "${SETS[@]}"; do
    items=$(gen "$d")
    read -r sb sa sub sua <<<"$(measure shardis "$d")"
    read -r rb ra rub rua <<<"$(measure redis "$d")"
    rm -f "$TMPD/$d.resp"
    awk -v d="$d" -v n="$items" -v sb="$sb" -v sa="$sa" -v rb="$rb" -v ra="$ra" \
        -v su="$((sua - sub))" -v ru="$((rua - rub))" 'BEGIN {
        s = (sa - sb) * 1024; r = (ra - rb) * 1024
        printf "%-12s %8d | %8.1f %8.0f %8.0f | %8.1f %8.0f %8.0f | %6.2f %6.2f\n",
            d, n, s / 1e6, s / n, su / n, r / 1e6, r / n, ru / n,
            (r > 0 ? s / r : 0), (ru > 0 ? su / ru : 0) }'
done
