//! Micro-benchmarks of the self-contained hot-path modules: the RESP request parser and key
//! routing. The crate has no lib target, so the source files are included with `#[path]`; only
//! files that need little from `crate::` can be benchmarked this way (their dependencies are
//! included the same way).
//!
//! Run: `cargo bench --bench micro` (filter: `cargo bench --bench micro -- parse`).

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};

#[allow(dead_code, unused_imports)]
#[path = "../src/protocol/parse.rs"]
mod parse;

// The parser's integer rules come from util::num (`crate::util::num` in the server).
#[allow(dead_code, unused_imports)]
#[path = "../src/util/num.rs"]
pub mod num;
mod util {
    pub(crate) use super::num;
}

#[allow(dead_code, unused_imports)]
#[path = "../src/routing.rs"]
mod routing;

#[allow(dead_code, unused_imports)]
#[path = "../src/store/zset.rs"]
mod zset;

/// `n` pipelined `SET key:000123 <64-byte value>` requests, as redis-benchmark sends them.
fn set_pipeline(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$10\r\nkey:000123\r\n$64\r\n");
        out.extend_from_slice(&[b'x'; 64]);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses every request in `buf`; returns how many arguments were seen.
fn parse_all(parser: &mut parse::RequestParser, buf: &mut BytesMut) -> usize {
    let mut args = 0;
    while let Some(cmd) = parser.parse(buf).expect("valid input") {
        args += cmd.len();
        black_box(cmd);
    }
    args
}

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");

    let pipeline = set_pipeline(16);
    g.throughput(Throughput::Elements(16));
    g.bench_function("pipeline_16x_set_64b", |b| {
        let mut parser = parse::RequestParser::default();
        b.iter_batched_ref(
            || BytesMut::from(&pipeline[..]),
            |buf| assert_eq!(parse_all(&mut parser, buf), 48),
            BatchSize::SmallInput,
        )
    });

    g.throughput(Throughput::Elements(1));
    g.bench_function("inline_ping", |b| {
        let mut parser = parse::RequestParser::default();
        b.iter_batched_ref(
            || BytesMut::from(&b"PING\r\n"[..]),
            |buf| assert_eq!(parse_all(&mut parser, buf), 1),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_routing(c: &mut Criterion) {
    // 1024 distinct 16-byte keys ("key:" + 12 digits, redis-benchmark's key format).
    let keys: Vec<Vec<u8>> = (0..1024u64)
        .map(|i| format!("key:{:012}", i * 7919).into_bytes())
        .collect();
    assert!(keys.iter().all(|k| k.len() == 16));

    let mut g = c.benchmark_group("routing");
    g.throughput(Throughput::Elements(keys.len() as u64));
    for shards in [1usize, 64] {
        g.bench_function(format!("key_shard_16b_{shards}_shards"), |b| {
            b.iter(|| {
                let mut acc = 0usize;
                for k in &keys {
                    acc = acc.wrapping_add(routing::key_shard(black_box(k), black_box(shards)));
                }
                acc
            })
        });
    }
    g.finish();
}

/// redis-benchmark's ZADD: `ZADD myzset <rand score> element:<rand>` into one set of ~100k
/// members (mostly score updates once it has grown), as the command's handler runs it: the
/// current score, then the insert or update.
fn bench_zset(c: &mut Criterion) {
    const N: u64 = 100_000;
    let lim = zset::PackLimits::default();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut z = zset::ZSet::new();
    for _ in 0..N {
        let m = format!("element:{:06}", rng.u64(..N));
        let s = rng.u64(..N) as f64;
        z.upsert(m.as_bytes(), lim, |_| Some(s));
    }
    let ops: Vec<(Vec<u8>, f64)> = (0..4096)
        .map(|_| {
            let m = format!("element:{:06}", rng.u64(..N)).into_bytes();
            (m, rng.u64(..N) as f64)
        })
        .collect();

    let mut g = c.benchmark_group("zset");
    g.throughput(Throughput::Elements(ops.len() as u64));
    let mut round = 0.0;
    g.bench_function("zadd_100k_random", |b| {
        b.iter(|| {
            // A new score every round, so that every op moves its member.
            round += 1.0;
            let mut added = 0;
            for (m, s) in &ops {
                let s = (s + round) % N as f64;
                added += z.upsert(black_box(m), lim, |cur| (cur != Some(s)).then_some(s)) as usize;
            }
            added
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("rank_100k", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % ops.len();
            z.rank(black_box(&ops[i].0))
        })
    });
    g.finish();
}

fn bench_double(c: &mut Criterion) {
    let mut g = c.benchmark_group("double");
    g.throughput(Throughput::Elements(1));
    g.bench_function("fmt_integral", |b| {
        b.iter(|| num::fmt_double(black_box(12345.0)))
    });
    g.bench_function("fmt_fraction", |b| {
        b.iter(|| num::fmt_double(black_box(0.1)))
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_parse,
    bench_routing,
    bench_zset,
    bench_double
);
criterion_main!(benches);
