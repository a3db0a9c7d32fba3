//! maxmemory, the eviction policies and memory reporting, through a real client against the
//! real binary, with one shard and with four (budgets per shard, cross-shard commands).

mod common;

use common::*;
use std::time::Duration;

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
const WAIT: Duration = Duration::from_secs(20);

fn info_u64(con: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let info: String = qt(con, &["INFO", section]);
    info_field(&info, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
}

fn used(con: &mut redis::Connection) -> u64 {
    info_u64(con, "memory", "used_memory")
}

fn evicted(con: &mut redis::Connection) -> u64 {
    info_u64(con, "stats", "evicted_keys")
}

/// Set the policy and a limit `extra` bytes above what the server uses now.
fn limit_above_now(con: &mut redis::Connection, policy: &str, extra: u64) -> u64 {
    let _: () = qt(con, &["CONFIG", "SET", "maxmemory", "0"]);
    let _: () = qt(con, &["CONFIG", "SET", "maxmemory-policy", policy]);
    let limit = used(con) + extra;
    let _: () = qt(con, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    limit
}

/// SET `prefix:i` for i in `range` with `size`-byte values (and a TTL of `ttl` s if not 0), in
/// pipelines of 100. Panics on an error reply.
fn fill(
    con: &mut redis::Connection,
    prefix: &str,
    range: std::ops::Range<usize>,
    size: usize,
    ttl: u64,
) {
    let value = "x".repeat(size);
    let keys: Vec<usize> = range.collect();
    for chunk in keys.chunks(100) {
        let mut p = redis::pipe();
        for i in chunk {
            let c = p.cmd("SET").arg(format!("{prefix}:{i}")).arg(&value);
            if ttl != 0 {
                c.arg("EX").arg(ttl);
            }
            c.ignore();
        }
        if let Err(e) = p.query::<()>(con) {
            panic!("filling {prefix}: {e}");
        }
    }
}

fn exists(con: &mut redis::Connection, key: &str) -> bool {
    qt::<i64, _>(con, &["EXISTS", key]) == 1
}

fn count_existing(
    con: &mut redis::Connection,
    prefix: &str,
    range: std::ops::Range<usize>,
) -> usize {
    range
        .filter(|i| exists(con, &format!("{prefix}:{i}")))
        .count()
}

/// Write persistent keys one at a time until the server answers OOM (or `cap` writes).
fn write_until_oom(
    con: &mut redis::Connection,
    prefix: &str,
    size: usize,
    cap: usize,
) -> Option<usize> {
    let value = "y".repeat(size);
    for i in 0..cap {
        match cmd(&["SET", &format!("{prefix}:{i}"), &value]).query::<redis::Value>(con) {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(error_line(&e), OOM);
                return Some(i);
            }
        }
    }
    None
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl_then_refuse_writes() {
    if skip_under_redis("shardis budgets") {
        return;
    }
    both(|s| {
        let mut con = s.conn();
        for policy in [
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ] {
            let _: () = qt(&mut con, &["FLUSHALL"]);
            let before = evicted(&mut con);
            limit_above_now(&mut con, policy, 3 << 20);
            fill(&mut con, "p", 0..500, 1000, 0);
            // Four times the room in keys with a TTL: most of them must go, none of the others.
            fill(&mut con, "v", 0..12000, 1000, 100_000);
            assert!(evicted(&mut con) > before, "{policy}: nothing evicted");
            assert_eq!(count_existing(&mut con, "p", 0..500), 500, "{policy}");
            // Persistent keys only from now on: once no key with a TTL is left, writes are refused.
            let refused = write_until_oom(&mut con, "q", 1000, 40_000);
            assert!(refused.is_some(), "{policy}: never refused");
            let ttl_keys: i64 = (0..12000)
                .step_by(50)
                .filter(|i| exists(&mut con, &format!("v:{i}")))
                .count() as i64;
            assert_eq!(ttl_keys, 0, "{policy}: keys with a TTL left");
            assert_eq!(count_existing(&mut con, "p", 0..500), 500, "{policy}");
            // Reads and DEL still work.
            assert_eq!(q(&mut con, &["GET", "p:7"]), bulk("x".repeat(1000)));
            assert_eq!(q(&mut con, &["DEL", "p:7"]), int(1));
            let _: () = qt(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);
        }
    });
}

#[test]
fn volatile_ttl_evicts_the_nearest_expiry_first() {
    if skip_under_redis("shardis budgets") {
        return;
    }
    both(|s| {
        let mut con = s.conn();
        let _: () = qt(&mut con, &["CONFIG", "SET", "maxmemory-samples", "10"]);
        limit_above_now(&mut con, "volatile-ttl", 3 << 20);
        // Key i expires after 10000 + i seconds: the low ones are the nearest.
        let value = "z".repeat(1000);
        for chunk in (0..8000).collect::<Vec<usize>>().chunks(100) {
            let mut p = redis::pipe();
            for i in chunk {
                p.cmd("SET")
                    .arg(format!("t:{i}"))
                    .arg(&value)
                    .arg("EX")
                    .arg(10_000 + i)
                    .ignore();
            }
            p.query::<()>(&mut con).expect("fill");
        }
        assert!(evicted(&mut con) > 0);
        let early = count_existing(&mut con, "t", 0..2000);
        let late = count_existing(&mut con, "t", 6000..8000);
        assert!(
            late >= 1000 && early < 200,
            "survivors: {early} of the nearest 2000, {late} of the farthest 2000"
        );
    });
}

#[test]
fn allkeys_lru_keeps_a_frequently_read_hot_set() {
    if skip_under_redis("shardis budgets") {
        return;
    }
    both(|s| {
        let mut con = s.conn();
        let _: () = qt(&mut con, &["CONFIG", "SET", "maxmemory-samples", "10"]);
        limit_above_now(&mut con, "allkeys-lru", 4 << 20);
        fill(&mut con, "old", 0..3000, 1000, 0);
        // The LRU clock counts seconds: let the old keys age.
        std::thread::sleep(Duration::from_millis(2100));
        let hot: Vec<String> = (0..100).map(|i| format!("old:{i}")).collect();
        for round in 0..30 {
            for k in &hot {
                let _: Option<String> = qt(&mut con, &["GET", k]);
            }
            fill(&mut con, "new", round * 100..(round + 1) * 100, 1000, 0);
            // The rounds span a few ticks of the clock: once the idle keys are gone (nearly all
            // must go), the new keys of earlier rounds must look older than the hot ones, which
            // a run within one second (a release build) cannot show.
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(evicted(&mut con) > 0);
        let kept = hot.iter().filter(|k| exists(&mut con, k)).count();
        assert!(kept >= 95, "only {kept} of 100 hot keys kept");
        let old_kept = count_existing(&mut con, "old", 100..3000);
        assert!(
            old_kept < 2900,
            "the idle keys were not the victims ({old_kept} left)"
        );
    });
}

#[test]
fn allkeys_lfu_keeps_frequently_used_keys() {
    if skip_under_redis("shardis budgets") {
        return;
    }
    both(|s| {
        let mut con = s.conn();
        let _: () = qt(&mut con, &["CONFIG", "SET", "maxmemory-samples", "10"]);
        limit_above_now(&mut con, "allkeys-lfu", 4 << 20);
        // No decay, so that a minute boundary during the test changes nothing.
        let _: () = qt(&mut con, &["CONFIG", "SET", "lfu-decay-time", "0"]);
        fill(&mut con, "f", 0..100, 1000, 0);
        for _ in 0..100 {
            let mut p = redis::pipe();
            for i in 0..100 {
                p.cmd("GET").arg(format!("f:{i}")).ignore();
            }
            p.query::<()>(&mut con).expect("reads");
        }
        let freq: i64 = qt(&mut con, &["OBJECT", "FREQ", "f:1"]);
        assert!(freq > 6, "100 reads left the counter at {freq}");
        fill(&mut con, "once", 0..8000, 1000, 0);
        assert!(evicted(&mut con) > 0);
        let kept = count_existing(&mut con, "f", 0..100);
        // Under heavy CPU load a shard may overshoot the budget of its last tick and, having
        // evicted its one-off keys already, take frequent ones too (seen: 74-76 kept, with the
        // machine running 7 builds); on a quiet machine all 100 stay.
        assert!(kept >= 70, "only {kept} of 100 frequent keys kept");
    });
}

#[test]
fn allkeys_random_evicts_and_counts() {
    if skip_under_redis("shardis budgets") {
        return;
    }
    both(|s| {
        let mut con = s.conn();
        limit_above_now(&mut con, "allkeys-random", 2 << 20);
        fill(&mut con, "r", 0..6000, 1000, 0);
        // Each key is either evicted (and counted) or still there, once the shards' background
        // eviction has settled (it may go on between the two reads).
        let mut counts = (0, 0);
        let settled = wait_until(WAIT, || {
            let gone = evicted(&mut con);
            let left: i64 = qt(&mut con, &["DBSIZE"]);
            counts = (gone, left as u64);
            gone + left as u64 == 6000
        });
        assert!(settled, "evicted + left = {counts:?}, not 6000");
        assert!(counts.0 > 0 && counts.1 > 0, "{counts:?}");
    });
}

#[test]
fn noeviction_refuses_denyoom_commands_but_serves_reads_and_del() {
    if skip_under_redis("shardis budgets") {
        return;
    }
    both(|s| {
        let mut con = s.conn();
        limit_above_now(&mut con, "noeviction", 2 << 20);
        let n = write_until_oom(&mut con, "k", 1000, 20_000).expect("never refused");
        assert!(n > 100, "refused after {n} writes");
        // Other denyoom commands, also across shards (refused as a whole). Each may still get
        // in while the server is under its limit (idle query buffers are given back by the
        // cron, which makes some room).
        let big = "z".repeat(1000);
        for kind in 0..3 {
            let refused = (0..5000).any(|j| {
                let m = format!("{j}{big}");
                let c = match kind {
                    0 => cmd(&["RPUSH", "list", &m]),
                    1 => cmd(&["SADD", "set", &m]),
                    _ => cmd(&["MSET", "a", &m, "b", &m, "c", &m, "d", &m]),
                };
                match c.query::<redis::Value>(&mut con) {
                    Ok(_) => false,
                    Err(e) => {
                        assert_eq!(error_line(&e), OOM);
                        true
                    }
                }
            });
            assert!(refused, "command {kind} never refused");
        }
        assert_eq!(evicted(&mut con), 0);
        // Reads and deletions are not refused; a deletion makes room again.
        assert_eq!(q(&mut con, &["GET", "k:1"]), bulk("y".repeat(1000)));
        assert_eq!(q(&mut con, &["EXISTS", "k:1", "k:2", "k:3"]), int(3));
        let keys: Vec<String> = (0..n).map(|i| format!("k:{i}")).collect();
        let mut del = vec!["DEL".to_string()];
        del.extend(keys);
        assert_eq!(q(&mut con, &del), int(n as i64));
        assert!(wait_until(WAIT, || {
            cmd(&["SET", "again", "v"]).query::<()>(&mut con).is_ok()
        }));
    });
}

#[test]
fn a_limit_below_the_servers_own_memory_refuses_writes_at_once() {
    // `CONFIG SET maxmemory 1` is how Redis's own tests force -OOM: the server's start-up
    // memory alone is over it, so the very next write is refused (after evicting every key
    // when the policy may), however little the shards hold.
    both(|s| {
        let mut con = s.conn();
        for policy in [
            "noeviction",
            "allkeys-lru",
            "allkeys-random",
            "volatile-lru",
        ] {
            for k in spread_keys("few", 8) {
                q(&mut con, &["SET", &k, "v"]);
            }
            q(&mut con, &["CONFIG", "SET", "maxmemory-policy", policy]);
            q(&mut con, &["CONFIG", "SET", "maxmemory", "1"]);
            assert_eq!(qerr(&mut con, &["SET", "x", "v"]), OOM, "{policy}");
            // Spread across shards, refused as a whole.
            assert_eq!(
                qerr(&mut con, &["MSET", "a", "1", "b", "2", "c", "3"]),
                OOM,
                "{policy}"
            );
            // Reads still run; the allkeys policies evicted everything they could.
            let left = match q(&mut con, &["DBSIZE"]) {
                redis::Value::Int(n) => n,
                other => panic!("{other:?}"),
            };
            let expect = if policy.starts_with("allkeys") { 0 } else { 8 };
            assert_eq!(left, expect, "{policy}");
            q(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);
            assert_eq!(q(&mut con, &["SET", "x", "v"]), ok());
            q(&mut con, &["FLUSHALL"]);
        }
    });
}

#[test]
fn memory_stays_within_5_percent_of_maxmemory_under_random_writes() {
    if skip_under_redis("shardis budgets") {
        return;
    }
    both(|s| {
        let mut con = s.conn();
        let limit = limit_above_now(&mut con, "allkeys-lru", 16 << 20);
        let mut writer = s.conn();
        fastrand::seed(7);
        let mut worst = 0u64;
        for round in 0..150 {
            let mut p = redis::pipe();
            for i in 0..100 {
                let size = fastrand::usize(1..4096);
                p.cmd("SET")
                    .arg(format!("w:{}", fastrand::u32(..1_000_000)))
                    .arg(vec![b'a' + (i % 26) as u8; size])
                    .ignore();
            }
            p.query::<()>(&mut writer).expect("writes");
            if round % 5 == 4 {
                worst = worst.max(used(&mut con));
            }
        }
        assert!(evicted(&mut con) > 0, "the load never reached the limit");
        assert!(
            worst <= limit + limit / 20,
            "used_memory {worst} over maxmemory {limit} by more than 5%"
        );
        let end = used(&mut con);
        assert!(end <= limit + limit / 20, "{end} vs {limit}");
    });
}

#[test]
fn lowering_maxmemory_at_run_time_evicts_down() {
    if skip_under_redis("shardis budgets") {
        return;
    }
    both(|s| {
        let mut con = s.conn();
        let _: () = qt(
            &mut con,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"],
        );
        let base = used(&mut con);
        fill(&mut con, "d", 0..6000, 1000, 0);
        assert_eq!(evicted(&mut con), 0);
        let limit = base + (3 << 20);
        let _: () = qt(
            &mut con,
            &["CONFIG", "SET", "maxmemory", &limit.to_string()],
        );
        // No command needs to come: the shards evict in the background. (INFO's own request
        // buffers count too: allow them 1%.)
        assert!(wait_until(WAIT, || used(&mut con) <= limit + limit / 100));
        // Eviction may still be finishing its last round: every key is either left or
        // counted as evicted once the two readings agree (DBSIZE then INFO can straddle an
        // eviction).
        let mut left = 0;
        let settled = wait_until(WAIT, || {
            left = qt::<i64, _>(&mut con, &["DBSIZE"]);
            evicted(&mut con) + left as u64 == 6000
        });
        assert!(settled, "{left} keys left, {} evicted", evicted(&mut con));
        assert!(left < 6000 && left > 0, "{left} keys left");
    });
}

#[test]
fn evictions_are_logged_to_the_aof_as_del() {
    if skip_under_redis("restarts shardis") {
        return;
    }
    for shards in [1, 4] {
        let s = Server::start_with(shards, &["--appendonly", "yes"]);
        let mut con = s.conn();
        limit_above_now(&mut con, "allkeys-random", 2 << 20);
        fill(&mut con, "a", 0..5000, 1000, 0);
        assert!(evicted(&mut con) > 0);
        // The shards go on evicting in the background for a moment after the last write:
        // what is left is read once nothing has changed for a while.
        let mut left: i64 = -1;
        let settled = wait_until(WAIT, || {
            let before = (qt::<i64, _>(&mut con, &["DBSIZE"]), evicted(&mut con));
            std::thread::sleep(Duration::from_millis(300));
            left = qt(&mut con, &["DBSIZE"]);
            before == (left, evicted(&mut con))
        });
        assert!(settled, "eviction did not settle ({left} keys left)");
        drop(con);
        let mut s = s;
        s.shutdown();
        let s = s
            .restart(shards, &["--appendonly", "yes"])
            .expect("restart");
        let mut con = s.conn();
        assert_eq!(qt::<i64, _>(&mut con, &["DBSIZE"]), left);
    }
}

#[test]
fn info_memory_and_memory_commands() {
    if skip_under_redis("jemalloc figures") {
        return;
    }
    both(|s| {
        let mut con = s.conn();
        let info: String = qt(&mut con, &["INFO", "memory"]);
        for f in [
            "used_memory",
            "used_memory_human",
            "used_memory_rss",
            "used_memory_peak",
            "used_memory_peak_perc",
            "used_memory_overhead",
            "used_memory_startup",
            "used_memory_dataset",
            "allocator_allocated",
            "allocator_active",
            "allocator_resident",
            "maxmemory",
            "maxmemory_human",
            "maxmemory_policy",
            "allocator_frag_ratio",
            "mem_fragmentation_ratio",
            "mem_allocator",
        ] {
            assert!(info_field(&info, f).is_some(), "no {f}");
        }
        assert_eq!(
            info_field(&info, "mem_allocator").as_deref(),
            Some("jemalloc-5.3.0")
        );
        assert_eq!(
            info_field(&info, "maxmemory_policy").as_deref(),
            Some("noeviction")
        );

        // 4000 keys of 2000 bytes: used_memory grows by about that, MEMORY USAGE agrees. (The
        // filling connection's buffers go with it: what stays is the data.)
        let before = used(&mut con);
        let mut filler = s.conn();
        fill(&mut filler, "m", 0..4000, 2000, 0);
        drop(filler);
        let usage: i64 = (0..4000)
            .map(|i| qt::<i64, _>(&mut con, &["MEMORY", "USAGE", &format!("m:{i}")]))
            .sum();
        let mut grown = 0;
        let close = wait_until(WAIT, || {
            grown = used(&mut con).saturating_sub(before);
            (0.8..1.25).contains(&(usage as f64 / grown as f64))
        });
        assert!(
            close,
            "MEMORY USAGE sums to {usage}, used_memory grew by {grown}"
        );
        assert!(grown >= 4000 * 2000 * 8 / 10, "grew by {grown}");
        assert_eq!(q(&mut con, &["MEMORY", "USAGE", "nokey"]), nil());
        let one: i64 = qt(&mut con, &["MEMORY", "USAGE", "m:1", "SAMPLES", "0"]);
        assert!(one > 2000);
        assert_eq!(
            qerr(&mut con, &["MEMORY", "USAGE", "m:1", "SAMPLES"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut con, &["MEMORY", "USAGE", "m:1", "SAMPLES", "-1"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut con, &["MEMORY", "USAGE", "m:1", "FOO", "1"]),
            "ERR syntax error"
        );

        let stats: Vec<redis::Value> = qt(&mut con, &["MEMORY", "STATS"]);
        let names: Vec<String> = stats
            .iter()
            .step_by(2)
            .filter_map(|v| match v {
                redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            })
            .collect();
        for f in [
            "peak.allocated",
            "total.allocated",
            "keys.count",
            "dataset.bytes",
            "db.0",
            "fragmentation",
        ] {
            assert!(names.iter().any(|n| n == f), "no {f} in {names:?}");
        }
        let i = names.iter().position(|n| n == "keys.count").unwrap_or(0);
        assert_eq!(stats[2 * i + 1], int(4000));

        let doctor: String = qt(&mut con, &["MEMORY", "DOCTOR"]);
        assert!(doctor.contains("Sam"), "{doctor}");
        let malloc: String = qt(&mut con, &["MEMORY", "MALLOC-STATS"]);
        assert!(
            malloc.contains("jemalloc"),
            "{}",
            &malloc[..malloc.len().min(200)]
        );
        assert_eq!(q(&mut con, &["MEMORY", "PURGE"]), ok());

        // Deleting gives the memory back to the count.
        let _: () = qt(&mut con, &["FLUSHALL"]);
        assert!(wait_until(WAIT, || used(&mut con) < before + 500_000));
    });
}

#[test]
fn lfu_counters_start_at_five_for_every_kind_of_new_key() {
    both_with(&["--maxmemory-policy", "allkeys-lfu"], |s| {
        let mut con = s.conn();
        let _: () = qt(&mut con, &["RPUSH", "l", "a"]);
        let _: () = qt(&mut con, &["HSET", "h", "f", "v"]);
        let _: () = qt(&mut con, &["SET", "s", "v"]);
        for k in ["l", "h", "s"] {
            assert_eq!(q(&mut con, &["OBJECT", "FREQ", k]), int(5), "{k}");
        }
        assert!(qerr(&mut con, &["OBJECT", "IDLETIME", "s"])
            .starts_with("ERR An LFU maxmemory policy is selected"));
        // Switching to an LRU policy: idle time is tracked, frequency is not.
        let _: () = qt(
            &mut con,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
        );
        let _: () = qt(&mut con, &["SET", "n", "v"]);
        assert_eq!(q(&mut con, &["OBJECT", "IDLETIME", "n"]), int(0));
        assert!(qerr(&mut con, &["OBJECT", "FREQ", "n"])
            .starts_with("ERR An LFU maxmemory policy is not selected"));
    });
}

/// SET `key:<12 digits>` (16 bytes) to a 32-byte value for i in `range`, with EX `ttl` if not 0,
/// in pipelines of 1000.
fn load_small_strings(con: &mut redis::Connection, range: std::ops::Range<usize>, ttl: u64) {
    let keys: Vec<usize> = range.collect();
    for chunk in keys.chunks(1000) {
        let mut p = redis::pipe();
        for i in chunk {
            let c = p
                .cmd("SET")
                .arg(format!("key:{i:012}"))
                .arg(format!("{i:032}"));
            if ttl != 0 {
                c.arg("EX").arg(ttl);
            }
            c.ignore();
        }
        if let Err(e) = p.query::<()>(con) {
            panic!("loading: {e}");
        }
    }
}

/// The per-key cost of the workload the memory-efficiency target names (16-byte keys, 32-byte
/// values; Redis 7.0 needs ~136 bytes per key for it, ~176 with a TTL): the value lives inline
/// in the table slot, slots in fixed chunks, and the TTL index names positions, not key copies.
#[test]
fn small_strings_cost_under_a_hundred_bytes_per_key() {
    if skip_under_redis("shardis's own memory layout") {
        return;
    }
    let s = Server::start(1);
    let mut con = s.conn();
    let n = 200_000;
    let base = used(&mut con);
    load_small_strings(&mut con, 0..n, 0);
    let plain = used(&mut con);
    let per_key = (plain - base) as f64 / n as f64;
    assert!(per_key <= 100.0, "{per_key:.1} bytes per key");

    // The same keys again with a TTL each: only the TTL index grows.
    load_small_strings(&mut con, 0..n, 100_000);
    let per_key_ttl = (used(&mut con) - base) as f64 / n as f64;
    assert!(
        per_key_ttl <= 115.0,
        "{per_key_ttl:.1} bytes per key with a TTL"
    );

    let dbsize: usize = qt(&mut con, &["DBSIZE"]);
    assert_eq!(dbsize, n);
    let info: String = qt(&mut con, &["INFO", "keyspace"]);
    assert!(
        info.contains(&format!("db0:keys={n},expires={n},")),
        "{info}"
    );
    for i in [0, 1, n / 2, n - 1] {
        let v: String = qt(&mut con, &["GET", &format!("key:{i:012}")]);
        assert_eq!(v, format!("{i:032}"));
    }
}

/// SLOWLOG keeps copies of the arguments: a slice of the connection's read buffer would keep
/// the whole buffer alive (tens of KB to megabytes under a deep pipeline) per entry.
#[test]
fn slowlog_entries_do_not_pin_network_buffers() {
    let s = Server::start(1);
    let mut con = s.conn();
    let _: () = qt(&mut con, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    let _: () = qt(&mut con, &["CONFIG", "SET", "slowlog-max-len", "1024"]);
    let base = used(&mut con);
    // 1024 logged commands, each from a pipeline whose read buffer held ~512 KB.
    let value = "v".repeat(4096);
    for round in 0..8 {
        let mut p = redis::pipe();
        for i in 0..128 {
            p.cmd("SET").arg(format!("k{i}")).arg(&value).ignore();
        }
        p.cmd("PING").ignore();
        let _: () = p
            .query(&mut con)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    let _: () = qt(&mut con, &["FLUSHALL", "SYNC"]);
    let len: usize = qt(&mut con, &["SLOWLOG", "LEN"]);
    assert!(len >= 1000, "slowlog holds {len}");
    let grown = used(&mut con).saturating_sub(base);
    // Each entry holds its arguments cut to 128 bytes: ~1024 × a few hundred bytes.
    assert!(grown < 3_000_000, "used_memory grew by {grown} bytes");
}

/// Writing a key again keeps its LFU counter (Redis's SET is an access followed by an
/// overwrite that carries the old counter over): a hot key stays hot for the eviction pool.
#[test]
fn overwriting_a_key_keeps_its_lfu_counter() {
    both_with(&["--maxmemory-policy", "allkeys-lfu"], |s| {
        let mut con = s.conn();
        let _: () = qt(&mut con, &["SET", "hot", "v"]);
        // lfu-log-factor 0 counts every access.
        let _: () = qt(&mut con, &["CONFIG", "SET", "lfu-log-factor", "0"]);
        for _ in 0..20 {
            let _: Option<String> = qt(&mut con, &["GET", "hot"]);
        }
        let before: i64 = qt(&mut con, &["OBJECT", "FREQ", "hot"]);
        assert!(before >= 20, "freq {before} after 20 reads");
        let _: () = qt(&mut con, &["SET", "hot", "v2"]);
        let after: i64 = qt(&mut con, &["OBJECT", "FREQ", "hot"]);
        assert_eq!(after, before + 1, "SET counts as one more access");
        let _: () = qt(&mut con, &["SET", "cold", "v"]);
        assert_eq!(q(&mut con, &["OBJECT", "FREQ", "cold"]), int(5));
    });
}
