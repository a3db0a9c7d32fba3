#!/usr/bin/env bash
# Compare shardis with redis-server under redis-benchmark: throughput, latency and server CPU time
# per request, servers interleaved round by round so that noise from a shared machine hits both.
# Run `scripts/bench.sh --help` for the options.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)

BUILD=1
SHARDIS_BIN=$REPO/target/release/shardis
REDIS_BIN=
USE_REDIS=1
BIND=127.0.0.1
BASE_PORT=7000
SERVER_CPUS=1
CLIENT_CPUS=0
SHARDS=1
THREADS=0
ROUNDS=3
REQUESTS=
CLIENTS=50
TESTS=set,get,incr,lpush,lpop,sadd,hset,zadd,mset
PIPELINES="1 16"
SIZES="64 1024"
KEYSPACE=100000
CSV=
SCALING=
TIMEOUT=600
KEEP_LOGS=0
CPU_CLOCK=stat
APPENDFSYNC=
SHARDIS_ARGS=

usage() {
    cat <<EOF
Usage: scripts/bench.sh [OPTIONS]

Benchmarks shardis against redis-server with redis-benchmark. Both servers run with the same
settings (persistence off unless --appendfsync, same bind address, different free ports), pinned with taskset to the
server CPUs while redis-benchmark is pinned to the client CPUs. For every (test, pipeline, size)
cell the servers are run in turn (A B A B ...) for --rounds rounds; before each run the database
is flushed (and filled where the test reads data: GET gets its keys, LPOP/RPOP a list).
Server CPU time (utime+stime of all threads, /proc/PID/stat) is read around each run and reported
as CPU microseconds per request. The table shows medians over the rounds.

Options:
  --no-build            do not run 'cargo build --release' first
  --shardis PATH        shardis binary (default: target/release/shardis)
  --redis-server PATH   redis-server binary (default: redis-server from PATH; if there is none,
                        shardis is benchmarked alone)
  --no-redis            benchmark shardis alone
  --bind ADDR           address both servers bind and the client connects to (default: $BIND)
  --port N              first port to try; free ports are picked from there (default: $BASE_PORT)
  --server-cpus LIST    taskset CPU list for the servers (default: $SERVER_CPUS)
  --client-cpus LIST    taskset CPU list for redis-benchmark (default: $CLIENT_CPUS)
  --shards N            shardis shard count (default: $SHARDS)
  --threads N           redis-benchmark --threads N (default: not passed, single-threaded client)
  --rounds N            rounds per cell; the table shows the medians (default: $ROUNDS)
  --requests N          requests per run, redis-benchmark -n (default: 200000 at -P 1, 1000000
                        deeper: a pipelined run of 200000 lasts ~0.2 s, so the 10 ms tick of
                        /proc/PID/stat alone moved its CPU per request by up to ±7%)
  --clients N           parallel connections, redis-benchmark -c (default: $CLIENTS)
  --tests LIST          comma-separated redis-benchmark tests (default: $TESTS).
                        One row per test; a test whose commands a server answers with errors
                        (e.g. not implemented yet) is shown as n/a for that server.
  --pipelines "LIST"    pipeline depths, redis-benchmark -P (default: "$PIPELINES")
  --sizes "LIST"        value sizes in bytes, redis-benchmark -d (default: "$SIZES")
  --keyspace N          random key space, redis-benchmark -r (default: $KEYSPACE)
  --csv FILE            also write the results to FILE as CSV: one row per run plus one row per
                        cell and server with round=median (scripts/plot.py draws it)
  --scaling "LIST"      also run shardis with each of these shard counts (e.g. "1 2 4 8"), each
                        pinned to that many CPUs (the first ones not in the client set; fewer if
                        the machine lacks them, marked oversubscribed) and print a scaling table.
                        These runs are interleaved with the comparison runs.
  --cpu-clock SRC       where server CPU time is read: 'stat' (default) sums utime+stime from
                        /proc/PID/stat, in clock ticks (10 ms on most kernels: at -n 200000 that
                        is 0.05 us/req resolution); 'schedstat' sums the nanosecond run times in
                        /proc/PID/task/*/schedstat (precise, but misses threads that exit mid-run)
  --appendfsync MODE    run both servers with the AOF on (appendonly yes) and this fsync policy:
                        always, everysec or no; each instance gets its own data directory
                        (default: AOF off)
  --shardis-args "ARGS" extra options for every shardis instance, split on spaces
                        (e.g. "--shard-spin-us 50 --migrate-connections no")
  --timeout SEC         limit for one redis-benchmark run (default: $TIMEOUT)
  --keep-logs           keep the server logs and the raw results (the directory is printed)
  -h, --help            show this help

Lists may use commas or spaces. Progress goes to stderr, the environment and tables to stdout.

Examples:
  scripts/bench.sh
  scripts/bench.sh --no-build --rounds 1 --requests 50000 --tests set,get --pipelines "1 16" --sizes 64
  scripts/bench.sh --server-cpus 8-15 --client-cpus 0-7 --threads 4 --scaling "1 2 4 8" --csv out.csv
EOF
}

die() {
    echo "bench.sh: $*" >&2
    exit 1
}
note() { echo "bench.sh: $*" >&2; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_pos() { [[ $1 =~ ^[0-9]+$ && $1 -gt 0 ]]; }

while (($#)); do
    opt=$1
    val=
    if [[ $opt == --*=* ]]; then
        val=${opt#*=}
        opt=${opt%%=*}
        set -- "$opt" "$val" "${@:2}"
    fi
    case $opt in
    -h | --help)
        usage
        exit 0
        ;;
    --no-build | --no-redis | --keep-logs)
        case $opt in
        --no-build) BUILD=0 ;;
        --no-redis) USE_REDIS=0 ;;
        --keep-logs) KEEP_LOGS=1 ;;
        esac
        shift
        continue
        ;;
    --shardis | --redis-server | --bind | --port | --server-cpus | --client-cpus | --shards | \
        --threads | --rounds | --requests | --clients | --tests | --pipelines | --sizes | \
        --keyspace | --csv | --scaling | --timeout | --cpu-clock | --appendfsync | --shardis-args)
        (($# >= 2)) || die "$opt needs a value (see --help)"
        val=$2
        ;;
    *) die "unknown option '$opt' (see --help)" ;;
    esac
    case $opt in
    --shardis) SHARDIS_BIN=$val ;;
    --redis-server) REDIS_BIN=$val ;;
    --bind) BIND=$val ;;
    --port) BASE_PORT=$val ;;
    --server-cpus) SERVER_CPUS=$val ;;
    --client-cpus) CLIENT_CPUS=$val ;;
    --shards) SHARDS=$val ;;
    --threads) THREADS=$val ;;
    --rounds) ROUNDS=$val ;;
    --requests) REQUESTS=$val ;;
    --clients) CLIENTS=$val ;;
    --tests) TESTS=$val ;;
    --pipelines) PIPELINES=$val ;;
    --sizes) SIZES=$val ;;
    --keyspace) KEYSPACE=$val ;;
    --csv) CSV=$val ;;
    --scaling) SCALING=$val ;;
    --timeout) TIMEOUT=$val ;;
    --cpu-clock) CPU_CLOCK=$val ;;
    --appendfsync) APPENDFSYNC=$val ;;
    --shardis-args) SHARDIS_ARGS=$val ;;
    esac
    shift 2
done

read -r -a TEST_LIST <<<"${TESTS//,/ }"
read -r -a PIPE_LIST <<<"${PIPELINES//,/ }"
read -r -a SIZE_LIST <<<"${SIZES//,/ }"
read -r -a SCALE_LIST <<<"${SCALING//,/ }"
read -r -a SHARDIS_EXTRA <<<"$SHARDIS_ARGS"

[[ -z $REQUESTS ]] || is_pos "$REQUESTS" || die "--requests must be a positive integer, got '$REQUESTS'"
for v in SHARDS ROUNDS CLIENTS KEYSPACE TIMEOUT BASE_PORT; do
    is_pos "${!v}" || die "--$(tr '[:upper:]_' '[:lower:]-' <<<"$v") must be a positive integer, got '${!v}'"
done
[[ $CPU_CLOCK == stat || $CPU_CLOCK == schedstat ]] || die "--cpu-clock must be stat or schedstat"
is_uint "$THREADS" || die "--threads must be a non-negative integer, got '$THREADS'"
((${#TEST_LIST[@]})) || die "--tests is empty"
((${#PIPE_LIST[@]})) || die "--pipelines is empty"
((${#SIZE_LIST[@]})) || die "--sizes is empty"
for t in "${TEST_LIST[@]}"; do
    [[ $t =~ ^[a-z0-9_]+$ ]] || die "bad test name '$t' (use redis-benchmark -t names, e.g. set,get)"
done
for v in "${PIPE_LIST[@]}" "${SIZE_LIST[@]}" "${SCALE_LIST[@]}"; do
    is_pos "$v" || die "pipelines, sizes and scaling shard counts must be positive integers, got '$v'"
done

for tool in redis-benchmark redis-cli taskset timeout awk getconf; do
    command -v "$tool" >/dev/null || die "'$tool' not found in PATH"
done

# "0-2,5" -> "0 1 2 5"
expand_cpus() {
    local part a b i out=()
    local -a parts
    IFS=, read -r -a parts <<<"$1"
    for part in "${parts[@]}"; do
        if [[ $part =~ ^([0-9]+)-([0-9]+)$ ]]; then
            a=${BASH_REMATCH[1]}
            b=${BASH_REMATCH[2]}
            for ((i = a; i <= b; i++)); do out+=("$i"); done
        elif [[ $part =~ ^[0-9]+$ ]]; then
            out+=("$part")
        else
            return 1
        fi
    done
    ((${#out[@]})) || return 1
    echo "${out[*]}"
}

expand_cpus "$SERVER_CPUS" >/dev/null || die "bad --server-cpus '$SERVER_CPUS'"
expand_cpus "$CLIENT_CPUS" >/dev/null || die "bad --client-cpus '$CLIENT_CPUS'"
taskset -c "$SERVER_CPUS" true 2>/dev/null || die "cannot pin to --server-cpus '$SERVER_CPUS'"
taskset -c "$CLIENT_CPUS" true 2>/dev/null || die "cannot pin to --client-cpus '$CLIENT_CPUS'"

if ((USE_REDIS)); then
    if [[ -z $REDIS_BIN ]]; then
        if REDIS_BIN=$(command -v redis-server); then
            :
        else
            note "redis-server not found in PATH: benchmarking shardis alone"
            USE_REDIS=0
        fi
    fi
    if ((USE_REDIS)) && [[ ! -x $REDIS_BIN ]]; then
        die "redis-server binary '$REDIS_BIN' is not executable"
    fi
fi

if ((BUILD)); then
    note "building: cargo build --release"
    (cd "$REPO" && cargo build --release) >&2 || die "cargo build --release failed"
fi
[[ -x $SHARDIS_BIN ]] || die "shardis binary '$SHARDIS_BIN' not found (build it, or drop --no-build)"

CLK_TCK=$(getconf CLK_TCK)
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/shardis-bench.XXXXXX")
RAW=$TMPD/raw.tsv
: >"$RAW"

# Server instances, in parallel arrays.
I_SECTION=() I_KIND=() I_LABEL=() I_SHARDS=() I_CPUS=() I_PORT=() I_PID=() I_LOG=() I_NOTE=()

cleanup() {
    local i pid n
    trap - EXIT INT TERM
    if [[ -n $BENCH_PID ]]; then
        kill -TERM "$BENCH_PID" 2>/dev/null || true
        wait "$BENCH_PID" 2>/dev/null || true
    fi
    for i in "${!I_PID[@]}"; do
        pid=${I_PID[i]}
        [[ -n $pid ]] || continue
        kill -TERM "$pid" 2>/dev/null || continue
    done
    for i in "${!I_PID[@]}"; do
        pid=${I_PID[i]}
        [[ -n $pid ]] || continue
        for ((n = 0; n < 50; n++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if ((KEEP_LOGS)); then
        note "logs and raw results kept in $TMPD"
    else
        rm -rf "$TMPD"
    fi
}
BENCH_PID=
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() {
    if command -v ss >/dev/null; then
        [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]] && return 0
    fi
    (exec 3<>"/dev/tcp/$BIND/$1") 2>/dev/null
}

NEXT_PORT=$BASE_PORT
PICKED_PORT=
pick_port() {
    local p=$NEXT_PORT
    while port_in_use "$p"; do
        p=$((p + 1))
        ((p < 65536)) || die "no free port from $BASE_PORT up"
    done
    PICKED_PORT=$p
    NEXT_PORT=$((p + 1))
}

add_instance() { # section kind label shards cpus
    local i=${#I_LABEL[@]}
    pick_port
    I_SECTION[i]=$1
    I_KIND[i]=$2
    I_LABEL[i]=$3
    I_SHARDS[i]=$4
    I_CPUS[i]=$5
    I_PORT[i]=$PICKED_PORT
    I_PID[i]=
    I_LOG[i]=$TMPD/$3.log
    I_NOTE[i]=
}

cli() { # instance args...
    local i=$1
    shift
    redis-cli -h "$BIND" -p "${I_PORT[i]}" "$@"
}

launch() { # instance argv...
    local i=$1
    shift
    # Each instance in its own directory: with the AOF on, their files must not mix.
    mkdir -p "$TMPD/data$i"
    (cd "$TMPD/data$i" && exec taskset -c "${I_CPUS[i]}" "$@") >>"${I_LOG[i]}" 2>&1 </dev/null &
    I_PID[i]=$!
}

wait_ready() { # instance; waits for PONG
    local i=$1 n reply
    for ((n = 0; n < 150; n++)); do
        kill -0 "${I_PID[i]}" 2>/dev/null || return 1
        reply=$(cli "$i" ping 2>/dev/null) || true
        [[ $reply == PONG ]] && return 0
        sleep 0.1
    done
    return 1
}

stop_instance() {
    local i=$1 pid n
    pid=${I_PID[i]}
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((n = 0; n < 50; n++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    I_PID[i]=
}

show_log() {
    echo "---- last lines of ${I_LOG[$1]} ----" >&2
    tail -n 15 "${I_LOG[$1]}" >&2 || true
    echo "----" >&2
}

# Warns when a thread of the server may run outside its CPU set (e.g. it re-pinned itself).
check_affinity() {
    local i=$1 want f allowed cpu bad=
    want=" $(expand_cpus "${I_CPUS[i]}") "
    for f in /proc/"${I_PID[i]}"/task/*/status; do
        allowed=$(awk '/^Cpus_allowed_list:/ {print $2}' "$f" 2>/dev/null) || continue
        [[ -n $allowed ]] || continue
        for cpu in $(expand_cpus "$allowed"); do
            [[ $want == *" $cpu "* ]] || bad="$bad $allowed"
        done
    done
    [[ -z $bad ]] || note "warning: some ${I_LABEL[i]} threads may run on CPUs$bad, outside ${I_CPUS[i]}"
}

# Persistence directives; any that shardis rejects are dropped for shardis only.
if [[ -n $APPENDFSYNC ]]; then
    case $APPENDFSYNC in always | everysec | no) ;; *) die "--appendfsync: always, everysec or no" ;; esac
    AOF_ARGS=(--appendonly yes --appendfsync "$APPENDFSYNC" --aof-use-rdb-preamble no)
    SH_OPT_NAMES=(save appendonly appendfsync)
    SH_OPT_VALS=("" yes "$APPENDFSYNC")
else
    AOF_ARGS=(--appendonly no)
    SH_OPT_NAMES=(save appendonly)
    SH_OPT_VALS=("" no)
fi

start_instance() {
    local i=$1 k drop logpos
    local -a args
    if [[ ${I_KIND[i]} == redis ]]; then
        launch "$i" "$REDIS_BIN" --port "${I_PORT[i]}" --bind "$BIND" --save '' "${AOF_ARGS[@]}"
        if ! wait_ready "$i"; then
            show_log "$i"
            die "redis-server did not answer PING on port ${I_PORT[i]}"
        fi
    else
        while :; do
            args=("$SHARDIS_BIN" --port "${I_PORT[i]}" --bind "$BIND" --shards "${I_SHARDS[i]}")
            for k in "${!SH_OPT_NAMES[@]}"; do
                args+=("--${SH_OPT_NAMES[k]}" "${SH_OPT_VALS[k]}")
            done
            args+=("${SHARDIS_EXTRA[@]}")
            logpos=$(stat -c %s "${I_LOG[i]}" 2>/dev/null || echo 0)
            launch "$i" "${args[@]}"
            wait_ready "$i" && break
            stop_instance "$i"
            if ((${#SH_OPT_NAMES[@]} == 0)); then
                show_log "$i"
                die "shardis did not answer PING on port ${I_PORT[i]}"
            fi
            # An option of --shardis-args that the log names is the user's to fix: no retry.
            for k in "${SHARDIS_EXTRA[@]}"; do
                if [[ $k == --* ]] && tail -c +$((logpos + 1)) "${I_LOG[i]}" | grep -qi -- "${k#--}"; then
                    show_log "$i"
                    die "shardis refused --shardis-args '$SHARDIS_ARGS' (see its log above)"
                fi
            done
            # Drop the directive the log complains about, else the last one, and retry.
            drop=$((${#SH_OPT_NAMES[@]} - 1))
            for k in "${!SH_OPT_NAMES[@]}"; do
                if tail -c +$((logpos + 1)) "${I_LOG[i]}" | grep -qi -- "${SH_OPT_NAMES[k]}"; then
                    drop=$k
                    break
                fi
            done
            note "shardis failed to start with --${SH_OPT_NAMES[drop]} '${SH_OPT_VALS[drop]}'; retrying without it:"
            tail -c +$((logpos + 1)) "${I_LOG[i]}" | tail -n 3 >&2 || true
            SH_OPT_DROPPED+=("--${SH_OPT_NAMES[drop]} '${SH_OPT_VALS[drop]}'")
            unset 'SH_OPT_NAMES[drop]' 'SH_OPT_VALS[drop]'
            SH_OPT_NAMES=("${SH_OPT_NAMES[@]}")
            SH_OPT_VALS=("${SH_OPT_VALS[@]}")
        done
    fi
    sleep 0.2
    check_affinity "$i"
}
SH_OPT_DROPPED=()

# Server CPU time so far, in CPU_UNIT_US microseconds per unit.
# stat: utime+stime (fields 14 and 15, after the parenthesised comm) in clock ticks; the
# process line covers all its threads, exited ones included.
# schedstat: sum over the live threads of their on-CPU nanoseconds.
if [[ $CPU_CLOCK == stat ]]; then
    CPU_UNIT_US=$(awk -v t="$CLK_TCK" 'BEGIN {print 1e6 / t}')
else
    CPU_UNIT_US=0.001
    [[ -r /proc/self/schedstat ]] || die "--cpu-clock schedstat: this kernel has no /proc/PID/schedstat"
fi
cpu_ticks() {
    local stat rest
    local -a f
    if [[ $CPU_CLOCK == schedstat ]]; then
        cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {if (NR) printf "%.0f\n", s; else exit 1}'
        return
    fi
    stat=$(<"/proc/$1/stat") || return 1
    rest=${stat##*) }
    read -r -a f <<<"$rest"
    echo $((f[11] + f[12]))
}

# Requests per run at pipeline depth $1 (see --requests).
requests_for() {
    if [[ -n $REQUESTS ]]; then
        echo "$REQUESTS"
    elif (($1 > 1)); then
        echo 1000000
    else
        echo 200000
    fi
}

# Puts the data some tests read in place (after FLUSHALL, before the measured run).
prefill() { # instance test size requests
    local i=$1 test=$2 size=$3 filler='' out
    case $test in
    get)
        out=$(awk -v n="$KEYSPACE" -v size="$size" 'BEGIN {
                v = sprintf("%" size "s", ""); gsub(/ /, "x", v)
                for (i = 0; i < n; i++) {
                    k = sprintf("key:%012d", i)
                    printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, size, v
                }
            }' | taskset -c "$CLIENT_CPUS" redis-cli -h "$BIND" -p "${I_PORT[i]}" --pipe 2>&1) || true
        [[ $out == *"errors: 0,"* ]] ||
            note "filling keys for GET failed on ${I_LABEL[i]} (GETs will miss): ${out##*$'\n'}"
        return 0
        ;;
    lpop | rpop) filler=lpush ;;
    spop) filler=sadd ;;
    zpopmin) filler=zadd ;;
    *) return 0 ;;
    esac
    taskset -c "$CLIENT_CPUS" redis-benchmark -h "$BIND" -p "${I_PORT[i]}" -t "$filler" \
        -c "$CLIENTS" -P 64 -d "$size" -r "$KEYSPACE" -n "$4" -q >/dev/null 2>&1 ||
        note "filling for $test failed on ${I_LABEL[i]}"
}

declare -A UNSUPPORTED=()
THREAD_ARGS=()
((THREADS > 0)) && THREAD_ARGS=(--threads "$THREADS")
RUNS_DONE=0
RUNS_TOTAL=0

run_one() { # instance test pipeline size round
    local i=$1 test=$2 p=$3 size=$4 round=$5
    local status=ok rps='' avg='' p50='' p95='' p99='' max='' cpu='' out rc=0 c0 c1 row name lo msg
    local n
    n=$(requests_for "$p")
    local err=$TMPD/bench.err
    RUNS_DONE=$((RUNS_DONE + 1))
    if [[ -n ${UNSUPPORTED[$i|$test]:-} ]]; then
        status=${UNSUPPORTED[$i|$test]}
    else
        if ! kill -0 "${I_PID[i]}" 2>/dev/null; then
            note "${I_LABEL[i]} is not running; restarting it"
            start_instance "$i"
        fi
        msg=$(cli "$i" flushall 2>&1) || true
        [[ $msg == OK ]] || note "FLUSHALL on ${I_LABEL[i]} answered: $msg"
        prefill "$i" "$test" "$size" "$n"
        c0=$(cpu_ticks "${I_PID[i]}") || c0=
        # In the background, so that a signal to this script is handled at once (see cleanup).
        timeout -k 5 "$TIMEOUT" taskset -c "$CLIENT_CPUS" redis-benchmark -h "$BIND" \
            -p "${I_PORT[i]}" -t "$test" -c "$CLIENTS" -P "$p" -d "$size" -r "$KEYSPACE" \
            -n "$n" --csv "${THREAD_ARGS[@]}" >"$TMPD/bench.out" 2>"$err" </dev/null &
        BENCH_PID=$!
        wait "$BENCH_PID" || rc=$?
        BENCH_PID=
        out=$(<"$TMPD/bench.out")
        c1=$(cpu_ticks "${I_PID[i]}" 2>/dev/null) || c1=
        # The last data row: for lrange_N, the rows before it are its LPUSH fill.
        row=$(printf '%s\n' "$out" | awk '/^"/ && !/^"test"/ {r = $0} END {print r}' | tr -d '"')
        if ((rc == 0)) && [[ -n $row ]]; then
            IFS=, read -r name rps avg lo p50 p95 p99 max <<<"$row"
            if [[ -n $c0 && -n $c1 ]]; then
                cpu=$(awk -v d=$((c1 - c0)) -v u="$CPU_UNIT_US" -v n="$n" \
                    'BEGIN {printf "%.4f", d * u / n}')
            fi
            : "$name" "$lo"
        elif ! kill -0 "${I_PID[i]}" 2>/dev/null; then
            status=crashed
            note "${I_LABEL[i]} died during '$test' (P=$p, d=$size)"
            show_log "$i"
            wait "${I_PID[i]}" 2>/dev/null || true
            I_PID[i]=
            start_instance "$i"
        elif ((rc == 124 || rc == 137)); then
            status=timeout
            note "'$test' on ${I_LABEL[i]} ran past --timeout $TIMEOUT s"
        elif grep -q "Error from server" "$err"; then
            status=n/a
            msg=$(grep -m1 "Error from server" "$err" | cut -c1-110)
            note "'$test' on ${I_LABEL[i]}: ${msg} -> n/a"
            UNSUPPORTED[$i|$test]=n/a
        else
            status=failed
            note "'$test' on ${I_LABEL[i]} failed (exit $rc): $(tail -n 2 "$err" | tr '\n' ' ')"
        fi
    fi
    if [[ $status != ok ]]; then
        rps='' avg='' p50='' p95='' p99='' max='' cpu=''
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "${I_SECTION[i]}" "$i" "${I_LABEL[i]}" "${I_SHARDS[i]}" "${I_CPUS[i]}" "$test" "$p" "$size" \
        "$round" "$status" "$rps" "$avg" "$p50" "$p95" "$p99" "$max" "$cpu" >>"$RAW"
    if [[ $status == ok ]]; then
        printf '[%d/%d] %-5s P=%-3s d=%-5s round %d/%d %-12s %10.0f rps  p50 %s ms  %.2f us/req\n' \
            "$RUNS_DONE" "$RUNS_TOTAL" "$test" "$p" "$size" "$round" "$ROUNDS" "${I_LABEL[i]}" \
            "$rps" "$p50" "${cpu:-0}" >&2
    else
        printf '[%d/%d] %-5s P=%-3s d=%-5s round %d/%d %-12s %s\n' "$RUNS_DONE" "$RUNS_TOTAL" \
            "$test" "$p" "$size" "$round" "$ROUNDS" "${I_LABEL[i]}" "$status" >&2
    fi
}

# ---- instances ----
add_instance compare shardis shardis "$SHARDS" "$SERVER_CPUS"
((USE_REDIS)) && add_instance compare redis redis 1 "$SERVER_CPUS"

if ((${#SCALE_LIST[@]})); then
    read -r -a avail <<<"$(expand_cpus "$(taskset -pc $$ | sed 's/.*: //')")"
    client_set=" $(expand_cpus "$CLIENT_CPUS") "
    free=()
    for c in "${avail[@]}"; do
        [[ $client_set == *" $c "* ]] || free+=("$c")
    done
    ((${#free[@]})) || free=("${avail[@]}")
    for n in "${SCALE_LIST[@]}"; do
        k=$((n < ${#free[@]} ? n : ${#free[@]}))
        cpus=$(
            IFS=,
            echo "${free[*]:0:k}"
        )
        add_instance scaling shardis "shardis@$n" "$n" "$cpus"
        ((k == n)) || I_NOTE[${#I_LABEL[@]} - 1]="oversubscribed: $n shards on $k CPUs"
    done
fi

for i in "${!I_LABEL[@]}"; do
    start_instance "$i"
    note "${I_LABEL[i]}: pid ${I_PID[i]}, port ${I_PORT[i]}, cpus ${I_CPUS[i]}${I_NOTE[i]:+ (${I_NOTE[i]})}"
done
((${#SH_OPT_DROPPED[@]} == 0)) || note "dropped for shardis: ${SH_OPT_DROPPED[*]}"

# ---- environment ----
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
git_rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$REPO" status --porcelain 2>/dev/null | head -n 1) ]] || git_rev="$git_rev (dirty)"
ENV_LINES=(
    "date:        $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    "host:        nproc=$(nproc), kernel $(uname -r), CPU ${cpu_model:-unknown}"
    "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (at start)"
    "pinning:     servers on CPUs $SERVER_CPUS, redis-benchmark on CPUs $CLIENT_CPUS"
    "shardis:     $SHARDIS_BIN, git $git_rev, --shards $SHARDS${SHARDIS_ARGS:+ $SHARDIS_ARGS}${SH_OPT_DROPPED[*]:+, without ${SH_OPT_DROPPED[*]}}"
)
if ((USE_REDIS)); then
    ENV_LINES+=("redis:       $("$REDIS_BIN" --version | cut -d' ' -f1-3)")
fi
ENV_LINES+=(
    "client:      $(redis-benchmark --version 2>/dev/null | cut -d' ' -f1-2), -c $CLIENTS, -n ${REQUESTS:-200000 at -P 1, 1000000 deeper}, -r $KEYSPACE${THREAD_ARGS[*]:+, ${THREAD_ARGS[*]}}"
    "rounds:      $ROUNDS per cell, servers interleaved"
    "persistence: ${APPENDFSYNC:+appendonly yes, appendfsync $APPENDFSYNC (both servers)}${APPENDFSYNC:-off}"
)
if [[ $CPU_CLOCK == stat ]]; then
    n_min=$(requests_for 1)
    ENV_LINES+=("cpu clock:   /proc/PID/stat utime+stime, 1 tick = $(awk -v u="$CPU_UNIT_US" 'BEGIN {print u / 1000}') ms = $(awk -v u="$CPU_UNIT_US" -v n="$n_min" 'BEGIN {printf "%.3g", u / n}') us/req at -n $n_min")
else
    ENV_LINES+=("cpu clock:   /proc/PID/task/*/schedstat (ns)")
fi
printf '%s\n' "${ENV_LINES[@]}"
echo

# ---- runs ----
RUNS_TOTAL=$((${#TEST_LIST[@]} * ${#PIPE_LIST[@]} * ${#SIZE_LIST[@]} * ROUNDS * ${#I_LABEL[@]}))
for test in "${TEST_LIST[@]}"; do
    for p in "${PIPE_LIST[@]}"; do
        for size in "${SIZE_LIST[@]}"; do
            for ((round = 1; round <= ROUNDS; round++)); do
                for i in "${!I_LABEL[@]}"; do
                    run_one "$i" "$test" "$p" "$size" "$round"
                done
            done
        done
    done
done

# ---- medians ----
SUMMARY=$TMPD/summary.tsv
awk -F'\t' -v OFS='\t' '
    function median(list,    a, n, i, j, t) {
        n = split(list, a, " ")
        if (n == 0) return ""
        for (i = 2; i <= n; i++) {
            t = a[i] + 0
            for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
            a[j + 1] = t
        }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        k = $2 SUBSEP $6 SUBSEP $7 SUBSEP $8
        if (!(k in meta)) { order[++nk] = k; meta[k] = $1 OFS $2 OFS $3 OFS $4 OFS $5 OFS $6 OFS $7 OFS $8 }
        if ($10 == "ok") {
            ok[k]++
            for (c = 11; c <= 17; c++) if ($c != "") v[k, c] = v[k, c] " " $c
        } else if (!(k in bad)) bad[k] = $10
    }
    END {
        for (x = 1; x <= nk; x++) {
            k = order[x]
            line = meta[k] OFS "median" OFS (ok[k] ? "ok" : bad[k])
            for (c = 11; c <= 17; c++) {
                m = ok[k] ? median(v[k, c]) : ""
                line = line OFS m
            }
            print line
        }
    }' "$RAW" >"$SUMMARY"

declare -A S_STATUS=() S_RPS=() S_P50=() S_P99=() S_CPU=()
while IFS=$'\t' read -r _ i _ _ _ test p size _ status rps _ p50 _ p99 _ cpu; do
    k="$i|$test|$p|$size"
    S_STATUS[$k]=$status
    S_RPS[$k]=$rps
    S_P50[$k]=$p50
    S_P99[$k]=$p99
    S_CPU[$k]=$cpu
done <"$SUMMARY"

# shellcheck disable=SC2059 # the format is the argument
fmt() { # printf-format value -> formatted, or the status / "?" when missing
    if [[ -n $2 ]]; then printf "$1" "$2"; else printf '%s' "${3:-?}"; fi
}
ratio() { # a b [suffix]
    if [[ -n $1 && -n $2 ]]; then
        awk -v a="$1" -v b="$2" -v s="${3:-}" 'BEGIN { if (b > 0) printf "%.2f%s", a / b, s; else printf "?" }'
    else
        printf -- '-'
    fi
}

# ---- comparison table ----
nserv=$((USE_REDIS ? 2 : 1))
hdr_cell() { printf '| %10s %7s %7s %8s ' rps p50_ms p99_ms cpu_us; }
echo "Medians over $ROUNDS round(s). rps: requests/s; p50/p99: latency in ms;"
echo "cpu_us: server CPU time per request in microseconds (all threads, --cpu-clock $CPU_CLOCK)."
((nserv == 2)) && echo "shardis/redis: rps ratio (>1: shardis faster), cpu ratio (<1: shardis cheaper)."
if ((THREADS > 0)); then
    # With --threads, redis-benchmark notices the end of a run on a 250 ms tick, so its rps of a
    # short run is rounded (1000000 requests in 1.2 s read as 1.5 s). Say so where it matters.
    shortest=$(awk -F'\t' -v r1="$(requests_for 1)" -v rp="$(requests_for 16)" '
        $10 == "ok" && $11 > 0 { s = ($7 > 1 ? rp : r1) / $11; if (m == "" || s < m) m = s }
        END { if (m != "") printf "%.2f", m }' "$RAW")
    if [[ -n $shortest ]] && awk -v s="$shortest" 'BEGIN { exit !(s < 5) }'; then
        echo "note: with --threads, redis-benchmark ends a run on a 250 ms tick; the shortest run"
        echo "here read as ${shortest} s, so its rps may read up to $(awk -v s="$shortest" \
            'BEGIN { printf "%.0f", 25 / s }')% low: raise --requests for runs of 5 s or more."
    fi
fi
echo
printf '%-8s %3s %5s ' "" "" ""
printf '| %-35s ' "shardis (--shards $SHARDS)"
((nserv == 2)) && printf '| %-35s | %s' "redis" "shardis/redis"
echo
printf '%-8s %3s %5s ' test P size
hdr_cell
((nserv == 2)) && {
    hdr_cell
    printf '| %6s %6s' rps cpu
}
echo
printf -- '-%.0s' {1..57}
((nserv == 2)) && printf -- '-%.0s' {1..53}
echo
for test in "${TEST_LIST[@]}"; do
    for p in "${PIPE_LIST[@]}"; do
        for size in "${SIZE_LIST[@]}"; do
            printf '%-8s %3s %5s ' "$test" "$p" "$size"
            for ((i = 0; i < nserv; i++)); do
                k="$i|$test|$p|$size"
                printf '| %10s %7s %7s %8s ' "$(fmt '%.0f' "${S_RPS[$k]}" "${S_STATUS[$k]}")" \
                    "$(fmt '%.3f' "${S_P50[$k]}" "${S_STATUS[$k]}")" \
                    "$(fmt '%.3f' "${S_P99[$k]}" "${S_STATUS[$k]}")" \
                    "$(fmt '%.2f' "${S_CPU[$k]}" "${S_STATUS[$k]}")"
            done
            if ((nserv == 2)); then
                a="0|$test|$p|$size"
                b="1|$test|$p|$size"
                printf '| %6s %6s' "$(ratio "${S_RPS[$a]}" "${S_RPS[$b]}")" \
                    "$(ratio "${S_CPU[$a]}" "${S_CPU[$b]}")"
            fi
            echo
        done
    done
done

# ---- scaling table ----
scale_idx=()
for i in "${!I_LABEL[@]}"; do
    [[ ${I_SECTION[i]} == scaling ]] && scale_idx+=("$i")
done
if ((${#scale_idx[@]})); then
    echo
    echo "Scaling: shardis rps (speedup over --shards ${I_SHARDS[${scale_idx[0]}]}) and cpu_us per request."
    for i in "${scale_idx[@]}"; do
        echo "  shards ${I_SHARDS[i]}: CPUs ${I_CPUS[i]}${I_NOTE[i]:+ (${I_NOTE[i]})}"
    done
    printf '%-8s %3s %5s ' test P size
    for i in "${scale_idx[@]}"; do
        printf '| %-25s ' "shards ${I_SHARDS[i]}"
    done
    echo
    for test in "${TEST_LIST[@]}"; do
        for p in "${PIPE_LIST[@]}"; do
            for size in "${SIZE_LIST[@]}"; do
                printf '%-8s %3s %5s ' "$test" "$p" "$size"
                base=${S_RPS[${scale_idx[0]}|$test|$p|$size]}
                for i in "${scale_idx[@]}"; do
                    k="$i|$test|$p|$size"
                    printf '| %10s %6s %7s ' "$(fmt '%.0f' "${S_RPS[$k]}" "${S_STATUS[$k]}")" \
                        "$(ratio "${S_RPS[$k]}" "$base" x)" "$(fmt '%.2f' "${S_CPU[$k]}" "${S_STATUS[$k]}")"
                done
                echo
            done
        done
    done
fi
echo
echo "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (at end)"

# ---- CSV ----
if [[ -n $CSV ]]; then
    {
        echo "section,server,shards,server_cpus,test,pipeline,size,round,status,rps,avg_ms,p50_ms,p95_ms,p99_ms,max_ms,cpu_us_per_req"
        cat "$RAW" "$SUMMARY" | awk -F'\t' -v OFS=, '{
            $5 = "\"" $5 "\""
            $2 = $1; $1 = ""
            sub(/^,/, "")
            print
        }'
    } >"$CSV"
    note "wrote $CSV"
fi
