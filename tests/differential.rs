//! Differential testing against redis-server 7.0: the same random command sequences (every
//! supported family, edge-value arguments, wrong types, wrong arity) go to shardis and to a
//! real `redis-server`, and the replies must be equal, as must the final `DEBUG DIGEST`. The
//! first divergence is shrunk to a minimal sequence and reported.
//!
//! Runs within `cargo test` for a bounded time (a fixed list of seeds, cut short after
//! `SHARDIS_DIFF_SECS`), with `--shards 1` and `--shards 4`; skipped when `redis-server` is not
//! installed. Run it longer, with new seeds (see README, "Differential testing"):
//!
//! ```text
//! SHARDIS_DIFF_SEED=1000 SHARDIS_DIFF_SEEDS=5000 SHARDIS_DIFF_SECS=3600 \
//!     cargo test --test differential -- --nocapture
//! ```
//!
//! `SHARDIS_DIFF_LEN` sets the commands per sequence, `SHARDIS_DIFF_ALL=1` reports every
//! diverging seed instead of stopping at the first. `SHARDIS_DIFF_REPLAY=<file>` replays a
//! reported sequence (one command a line, as the report prints them) `SHARDIS_DIFF_REPEAT`
//! times on fresh servers, for divergences that depend on timing.

mod common;
#[path = "differential/gen.rs"]
mod gen;
#[path = "differential/oracle.rs"]
mod oracle;

use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn redis_installed() -> bool {
    std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the configured seeds against shardis with `shards` shards; panics with the minimised
/// divergence(s).
fn differential(shards: usize) {
    run_seeds(shards, gen::sequence, 400);
}

/// Runs `make(seed, len)` for the configured seeds (`default_seeds` of them unless set).
fn run_seeds(shards: usize, make: fn(u64, usize) -> Vec<Vec<Vec<u8>>>, default_seeds: u64) {
    if !redis_installed() {
        eprintln!("skipped: redis-server is not installed (the differential tester needs it)");
        return;
    }
    let first_seed = env_u64("SHARDIS_DIFF_SEED", 1);
    let seeds = env_u64("SHARDIS_DIFF_SEEDS", default_seeds);
    let len = env_u64("SHARDIS_DIFF_LEN", 40) as usize;
    let budget = Duration::from_secs(env_u64("SHARDIS_DIFF_SECS", 25));
    let report_all = std::env::var("SHARDIS_DIFF_ALL").is_ok_and(|v| v == "1");

    let mut pair = oracle::Pair::start(shards);
    let started = Instant::now();
    let mut reports = Vec::new();
    let mut ran = 0;
    for seed in first_seed..first_seed + seeds {
        if started.elapsed() > budget {
            break;
        }
        ran += 1;
        let seq = make(seed, len);
        if let Some(d) = pair.run(&seq) {
            let (min, d) = pair.shrink(&seq, d);
            let report = oracle::report(shards, seed, &min, &d);
            eprintln!("{report}");
            reports.push(report);
            if !report_all {
                break;
            }
        }
    }
    eprintln!(
        "--shards {shards}: {ran} sequences of {len} commands (seeds {first_seed}..) in {:.1?}, {} diverged",
        started.elapsed(),
        reports.len()
    );
    assert!(reports.is_empty(), "{}", reports.join("\n"));
}

/// Divergences the tester found and that were fixed, kept as fixed sequences (minimised).
const FIXED: &[&[&[&[u8]]]] = &[
    &[&[b"SET", b"k", b"0x10"], &[b"INCRBYFLOAT", b"k", b"-1"]],
    &[&[b"ZADD", b"z", b"0x1p3", b"m"], &[b"ZSCORE", b"z", b"m"]],
    &[
        &[b"HSET", b"h", b"f", b"v"],
        &[b"HSCAN", b"h", b"\0\xff\r\n", b"COUNT", b"1000"],
    ],
    &[&[b"SSCAN", b"s", b""], &[b"SCAN", b"+0", b"COUNT", b"1000"]],
    &[&[b"ZSCAN", b"z", b"-18446744073709551615"]],
    &[&[b"NOSUCHCOMMAND", b"k", b"\0\xff\r\n", b"x"]],
    &[&[b"XGROUP", b"a\0b", b"k", b"g"]],
    &[&[b"EXPIREAT", b"k", b"-5", b"\0\xff"]],
    &[&[b"XPENDING", b"\0\xff\r\n", b"g1"]],
    &[&[b"EXEC", b"0"]],
    &[
        &[b"WATCH", b"k"],
        &[b"MULTI"],
        &[b"SET", b"k", b"v"],
        &[b"EXEC", b"x"],
        &[b"EXEC"],
        &[b"GET", b"k"],
    ],
    &[
        &[b"SADD", b"{t}b", b"m"],
        &[b"BITOP", b"NOT", b"{t}a", b"{t}b", b"k1"],
    ],
    &[
        &[b"SADD", b"w_m1", b"m"],
        &[b"BITOP", b"NAND", b"{t}b", b"w_m1", b"k3"],
    ],
    &[
        &[b"RPUSH", b"k1", b"a", b"b", b"a", b"a"],
        &[
            b"LPOS",
            b"k1",
            b"a",
            b"RANK",
            b"-9223372036854775808",
            b"COUNT",
            b"1",
        ],
    ],
];

#[test]
fn fixed_divergences_stay_fixed() {
    if !redis_installed() {
        eprintln!("skipped: redis-server is not installed (the differential tester needs it)");
        return;
    }
    for shards in [1, 4] {
        let mut pair = oracle::Pair::start(shards);
        for seq in FIXED {
            let seq: Vec<Vec<Vec<u8>>> = seq
                .iter()
                .map(|c| c.iter().map(|a| a.to_vec()).collect())
                .collect();
            if let Some(d) = pair.run(&seq) {
                panic!("{}", oracle::report(shards, 0, &seq, &d));
            }
        }
    }
}

/// Splits a reported command line into arguments: words, or Rust-style quoted strings.
fn split_line(line: &str) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let mut arg = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('0') => arg.push('\0'),
                        Some('r') => arg.push('\r'),
                        Some('n') => arg.push('\n'),
                        Some('t') => arg.push('\t'),
                        Some(other) => arg.push(other),
                        None => {}
                    },
                    c => arg.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        args.push(arg.into_bytes());
    }
    args
}

#[test]
fn replay_reported_sequence() {
    let Ok(file) = std::env::var("SHARDIS_DIFF_REPLAY") else {
        return;
    };
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {file}: {e}"));
    let seq: Vec<Vec<Vec<u8>>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(split_line)
        .collect();
    let repeat = env_u64("SHARDIS_DIFF_REPEAT", 1);
    let shards = env_u64("SHARDIS_DIFF_SHARDS", 4) as usize;
    for i in 0..repeat {
        let mut pair = oracle::Pair::start(shards);
        if let Some(d) = pair.run(&seq) {
            panic!("run {i}: {}", oracle::report(shards, 0, &seq, &d));
        }
    }
    eprintln!("{repeat} runs of {} commands, no divergence", seq.len());
}

#[test]
fn same_replies_as_redis_one_shard() {
    differential(1);
}

#[test]
fn same_replies_as_redis_four_shards() {
    differential(4);
}

#[test]
fn lists_of_many_small_nodes_same_as_redis() {
    for shards in [1, 4] {
        run_seeds(shards, gen::list_sequence, 150);
    }
}
