//! Micro-benchmarks of the self-contained hot-path modules: the RESP request parser, the reply
//! writer, key routing and the sorted-set structures. The source files are included with
//! `#[path]` (the lib keeps these modules private); only files that need little from `crate::`
//! can be benchmarked this way (their dependencies are included the same way).
//!
//! The store (`ShardStore` set/get) is not benchmarked here: `store/mod.rs` names
//! `crate::commands::Handler`, `crate::persistence::feed` and `crate::config`, and `store/db.rs`
//! the AOF rewrite (`crate::persistence::rewrite`), which between them reach every command family
//! and the whole persistence layer, i.e. the entire server. Its cost shows end to end in
//! `benches/loadgen.rs` and `scripts/bench.sh` instead.
//!
//! Run: `cargo bench --bench micro` (filter: `cargo bench --bench micro -- parse`).

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};

#[allow(dead_code, unused_imports)]
#[path = "../src/protocol/parse.rs"]
mod parse;
// The parser's command-name table (`super::intern` from parse.rs).
#[allow(dead_code, unused_imports)]
#[path = "../src/protocol/intern.rs"]
mod intern;

#[allow(dead_code, unused_imports)]
#[path = "../src/protocol/reply.rs"]
mod reply;

// The parser's integer rules and the reply writer's doubles come from util::num (`crate::util::num` in the server).
#[allow(dead_code)]
#[path = "../src/util/bytes.rs"]
pub mod byte_eq;
#[path = "../src/util/hint.rs"]
pub mod hint;
#[allow(dead_code, unused_imports)]
#[path = "../src/util/num.rs"]
pub mod num;
#[allow(dead_code)]
#[path = "../src/util/varint.rs"]
pub mod varint;
mod util {
    pub(crate) use super::byte_eq as bytes;
    pub(crate) use super::hint;
    pub(crate) use super::num;
    pub(crate) use super::varint;
}

#[allow(dead_code, unused_imports)]
#[path = "../src/routing.rs"]
mod routing;

#[allow(dead_code, unused_imports)]
#[path = "../src/store/zset.rs"]
mod zset;

#[allow(dead_code, unused_imports)]
#[path = "../src/store/zpack.rs"]
mod zpack;

#[allow(dead_code, unused_imports)]
#[path = "../src/store/ztree.rs"]
mod ztree;

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

/// Encodes `r` into a reused buffer (cleared each time, as a connection's output buffer is
/// drained); returns the encoded length.
fn encode_into(out: &mut BytesMut, r: &reply::Reply, resp3: bool) -> usize {
    out.clear();
    r.encode(out, resp3);
    out.len()
}

fn bench_reply(c: &mut Criterion) {
    use reply::Reply;
    let mut g = c.benchmark_group("reply");

    // GET's reply: one bulk string.
    for size in [64usize, 4096] {
        let r = Reply::Bulk(Bytes::from(vec![b'x'; size]));
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("bulk_{size}b"), |b| {
            let mut out = BytesMut::with_capacity(8192);
            b.iter(|| encode_into(&mut out, black_box(&r), false))
        });
    }

    // MGET / LRANGE-style: an array of 100 16-byte bulk strings with a nil among them.
    let items: Vec<Reply> = (0..100)
        .map(|i| {
            if i == 50 {
                Reply::Nil
            } else {
                Reply::Bulk(Bytes::from(format!("value:{i:010}")))
            }
        })
        .collect();
    let arr = Reply::Array(items);
    g.throughput(Throughput::Elements(100));
    g.bench_function("array_100x_bulk_16b", |b| {
        let mut out = BytesMut::with_capacity(8192);
        b.iter(|| encode_into(&mut out, black_box(&arr), false))
    });

    // HGETALL-style map of 50 pairs, as RESP2 (flat array) and RESP3 (map).
    let map = Reply::Map(
        (0..50)
            .map(|i| {
                (
                    Reply::Bulk(Bytes::from(format!("field:{i:04}"))),
                    Reply::Int(i * 1000),
                )
            })
            .collect(),
    );
    g.throughput(Throughput::Elements(100));
    for (name, resp3) in [("map_50_pairs_resp2", false), ("map_50_pairs_resp3", true)] {
        g.bench_function(name, |b| {
            let mut out = BytesMut::with_capacity(8192);
            b.iter(|| encode_into(&mut out, black_box(&map), resp3))
        });
    }

    // SET's and INCR's replies.
    g.throughput(Throughput::Elements(1));
    let ok = Reply::ok();
    g.bench_function("simple_ok", |b| {
        let mut out = BytesMut::with_capacity(64);
        b.iter(|| encode_into(&mut out, black_box(&ok), false))
    });
    let int = Reply::Int(1_234_567);
    g.bench_function("int", |b| {
        let mut out = BytesMut::with_capacity(64);
        b.iter(|| encode_into(&mut out, black_box(&int), false))
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
    bench_reply,
    bench_routing,
    bench_zset,
    bench_double
);
criterion_main!(benches);
