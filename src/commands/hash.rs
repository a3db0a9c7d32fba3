//! The hash family (Redis 7.0 `t_hash.c`).
//!
//! Replies, error texts and the order of checks follow Redis 7.0.15. A hash that becomes empty
//! is deleted. HINCRBYFLOAT is logged as the HSET of its result (its float arithmetic must not
//! be replayed).

use super::args::{self, is};
use super::{CommandSpec, Kind};
use crate::protocol::reply::Reply;
use crate::store::hash::{Hash, HashLimits};
use crate::store::{Ctx, Value};
use crate::util::glob::glob_match;
use crate::util::num;
use bytes::Bytes;

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "hset",
        -4,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(hset),
    )
    .doc("hash", "2.0.0", "Set the string value of a hash field"),
    CommandSpec::new(
        "hmset",
        -4,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(hmset),
    )
    .doc(
        "hash",
        "2.0.0",
        "Set multiple hash fields to multiple values",
    ),
    CommandSpec::new(
        "hsetnx",
        4,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(hsetnx),
    )
    .doc(
        "hash",
        "2.0.0",
        "Set the value of a hash field, only if the field does not exist",
    ),
    CommandSpec::new("hget", 3, "readonly fast", (1, 1, 1), Kind::Keyed(hget)).doc(
        "hash",
        "2.0.0",
        "Get the value of a hash field",
    ),
    CommandSpec::new("hmget", -3, "readonly fast", (1, 1, 1), Kind::Keyed(hmget)).doc(
        "hash",
        "2.0.0",
        "Get the values of all the given hash fields",
    ),
    CommandSpec::new("hdel", -3, "write fast", (1, 1, 1), Kind::Keyed(hdel)).doc(
        "hash",
        "2.0.0",
        "Delete one or more hash fields",
    ),
    CommandSpec::new("hlen", 2, "readonly fast", (1, 1, 1), Kind::Keyed(hlen)).doc(
        "hash",
        "2.0.0",
        "Get the number of fields in a hash",
    ),
    CommandSpec::new(
        "hstrlen",
        3,
        "readonly fast",
        (1, 1, 1),
        Kind::Keyed(hstrlen),
    )
    .doc(
        "hash",
        "3.2.0",
        "Get the length of the value of a hash field",
    ),
    CommandSpec::new(
        "hexists",
        3,
        "readonly fast",
        (1, 1, 1),
        Kind::Keyed(hexists),
    )
    .doc("hash", "2.0.0", "Determine if a hash field exists"),
    CommandSpec::new("hkeys", 2, "readonly", (1, 1, 1), Kind::Keyed(hkeys)).doc(
        "hash",
        "2.0.0",
        "Get all the fields in a hash",
    ),
    CommandSpec::new("hvals", 2, "readonly", (1, 1, 1), Kind::Keyed(hvals)).doc(
        "hash",
        "2.0.0",
        "Get all the values in a hash",
    ),
    CommandSpec::new("hgetall", 2, "readonly", (1, 1, 1), Kind::Keyed(hgetall)).doc(
        "hash",
        "2.0.0",
        "Get all the fields and values in a hash",
    ),
    CommandSpec::new(
        "hincrby",
        4,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(hincrby),
    )
    .doc(
        "hash",
        "2.0.0",
        "Increment the integer value of a hash field by the given number",
    ),
    CommandSpec::new(
        "hincrbyfloat",
        4,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(hincrbyfloat),
    )
    .doc(
        "hash",
        "2.6.0",
        "Increment the float value of a hash field by the given amount",
    ),
    CommandSpec::new(
        "hrandfield",
        -2,
        "readonly",
        (1, 1, 1),
        Kind::Keyed(hrandfield),
    )
    .doc(
        "hash",
        "6.2.0",
        "Get one or multiple random fields from a hash",
    ),
    CommandSpec::new("hscan", -3, "readonly", (1, 1, 1), Kind::Keyed(hscan)).doc(
        "hash",
        "2.8.0",
        "Incrementally iterate hash fields and associated values",
    ),
];

fn hash_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Hash>, Reply> {
    ctx.write_as(key, Value::hash_mut)
}

fn hash_read<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a Hash>, Reply> {
    ctx.read_as(key, Value::hash_mut).map(|o| o.map(|x| &*x))
}

/// The hash at `key`, created empty if absent (Redis's hashTypeLookupWriteOrCreate).
fn hash_create<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut Hash, Reply> {
    if hash_mut(ctx, key)?.is_none() {
        ctx.set(key, Value::Hash(Hash::new()), 0);
        return ctx.created_as(key, Value::hash_mut);
    }
    hash_mut(ctx, key)?.ok_or_else(|| Reply::err("ERR internal error"))
}

fn limits(ctx: &Ctx) -> HashLimits {
    ctx.store.limits.hash
}

fn bulk(b: &[u8]) -> Reply {
    Reply::copy_of(b)
}

// ---------------------------------------------------------------------------------------------
// Writes

/// HSET / HMSET: Ok(fields created).
fn hset_generic(ctx: &mut Ctx, args: &[Bytes]) -> Result<i64, Reply> {
    if args.len() % 2 == 1 {
        return Err(Reply::arity(&String::from_utf8_lossy(&args[0])));
    }
    let lim = limits(ctx);
    let h = hash_create(ctx, &args[1])?;
    // Convert once up front when any argument is too long for the pack, as Redis does.
    h.try_conversion(args[2..].iter().map(|a| &a[..]), lim);
    h.reserve_for(args[2..].iter().map(|a| &a[..]));
    let mut created = 0;
    for pair in args[2..].chunks_exact(2) {
        created += h.set(&pair[0], &pair[1], lim) as i64;
    }
    h.fit();
    ctx.store.dirty += ((args.len() - 2) / 2) as u64;
    Ok(created)
}

fn hset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Int(tri!(hset_generic(ctx, args)))
}

fn hmset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    tri!(hset_generic(ctx, args));
    Reply::ok()
}

fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let lim = limits(ctx);
    let h = tri!(hash_create(ctx, &args[1]));
    if h.contains(&args[2]) {
        return Reply::Int(0);
    }
    h.try_conversion([&args[2][..], &args[3][..]], lim);
    h.set(&args[2], &args[3], lim);
    ctx.store.dirty += 1;
    Reply::Int(1)
}

fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let Some(h) = tri!(hash_mut(ctx, key)) else {
        return Reply::Int(0);
    };
    let mut deleted = 0;
    for f in &args[2..] {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    let empty = h.is_empty();
    if deleted > 0 {
        ctx.store.dirty += deleted as u64;
        if empty {
            ctx.delete(key);
        }
    }
    Reply::Int(deleted)
}

fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let incr = tri!(args::int(&args[3]));
    let lim = limits(ctx);
    let h = tri!(hash_create(ctx, &args[1]));
    let cur = match h.get(&args[2]) {
        Some(v) => match num::parse_i64(v) {
            Some(i) => i,
            None => return Reply::err("ERR hash value is not an integer"),
        },
        None => 0,
    };
    let Some(new) = cur.checked_add(incr) else {
        return Reply::err("ERR increment or decrement would overflow");
    };
    h.set(&args[2], itoa::Buffer::new().format(new).as_bytes(), lim);
    ctx.store.dirty += 1;
    Reply::Int(new)
}

fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let incr = tri!(args::float(&args[3]));
    if incr.is_infinite() {
        return Reply::err("ERR value is NaN or Infinity");
    }
    let lim = limits(ctx);
    let h = tri!(hash_create(ctx, &args[1]));
    let cur = match h.get(&args[2]) {
        Some(v) => match num::parse_f64(v) {
            Some(f) => f,
            None => return Reply::err("ERR hash value is not a float"),
        },
        None => 0.0,
    };
    let new = cur + incr;
    if !new.is_finite() {
        return Reply::err("ERR increment would produce NaN or Infinity");
    }
    let text = Bytes::from(num::fmt_human_sum(new, cur, incr));
    h.set(&args[2], &text, lim);
    ctx.store.dirty += 1;
    // Replayed as the value it produced, not as float arithmetic.
    ctx.propagate(&[&b"HSET"[..], &args[1], &args[2], &text]);
    Reply::Bulk(text)
}

// ---------------------------------------------------------------------------------------------
// Reads

fn hget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match tri!(hash_read(ctx, &args[1])) {
        Some(h) => h.get(&args[2]).map_or(Reply::Nil, bulk),
        None => Reply::Nil,
    }
}

fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let h = tri!(hash_read(ctx, &args[1]));
    Reply::Array(
        args[2..]
            .iter()
            .map(|f| h.and_then(|h| h.get(f)).map_or(Reply::Nil, bulk))
            .collect(),
    )
}

fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Int(tri!(hash_read(ctx, &args[1])).map_or(0, |h| h.len() as i64))
}

fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let h = tri!(hash_read(ctx, &args[1]));
    Reply::Int(
        h.and_then(|h| h.get(&args[2]))
            .map_or(0, |v| v.len() as i64),
    )
}

fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let h = tri!(hash_read(ctx, &args[1]));
    Reply::Int(h.is_some_and(|h| h.contains(&args[2])) as i64)
}

fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let h = tri!(hash_read(ctx, &args[1]));
    Reply::Array(h.map_or_else(Vec::new, |h| h.iter().map(|(f, _)| bulk(f)).collect()))
}

fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let h = tri!(hash_read(ctx, &args[1]));
    Reply::Array(h.map_or_else(Vec::new, |h| h.iter().map(|(_, v)| bulk(v)).collect()))
}

fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let h = tri!(hash_read(ctx, &args[1]));
    Reply::Map(h.map_or_else(Vec::new, |h| {
        h.iter().map(|(f, v)| (bulk(f), bulk(v))).collect()
    }))
}

/// `count` distinct positions out of `len` (count < len), in random order.
pub fn distinct_positions(len: usize, count: usize) -> Vec<usize> {
    if count * 3 > len {
        // Many of them: shuffle all positions and keep a prefix.
        let mut all: Vec<usize> = (0..len).collect();
        fastrand::shuffle(&mut all);
        all.truncate(count);
        all
    } else {
        let mut seen = ahash::AHashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let i = fastrand::usize(..len);
            if seen.insert(i) {
                out.push(i);
            }
        }
        out
    }
}

fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        let Some(h) = tri!(hash_read(ctx, &args[1])) else {
            return Reply::Nil;
        };
        if h.is_empty() {
            return Reply::Nil;
        }
        let i = fastrand::usize(..h.len());
        return h.pair_at(i).map_or(Reply::Nil, |(f, _)| bulk(f));
    }
    let count = tri!(args::range(&args[2], -i64::MAX, i64::MAX, None));
    let withvalues = match args.len() {
        3 => false,
        4 if is(&args[3], "withvalues") => true,
        _ => return Reply::syntax(),
    };
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Reply::err("ERR value is out of range");
    }
    if count < 0 {
        tri!(args::random_count(count.unsigned_abs()));
    }
    let Some(h) = tri!(hash_read(ctx, &args[1])) else {
        return Reply::Array(Vec::new());
    };
    let len = h.len();
    if count == 0 || len == 0 {
        return Reply::Array(Vec::new());
    }
    let positions: Vec<usize> = if count < 0 {
        // Repeats allowed.
        let n = count.unsigned_abs();
        (0..n).map(|_| fastrand::usize(..len)).collect()
    } else if count as u64 >= len as u64 {
        (0..len).collect()
    } else {
        distinct_positions(len, count as usize)
    };
    let picks = positions.into_iter().filter_map(|i| h.pair_at(i));
    if withvalues {
        Reply::Pairs(picks.map(|(f, v)| (bulk(f), bulk(v))).collect())
    } else {
        Reply::Array(picks.map(|(f, _)| bulk(f)).collect())
    }
}

/// The empty SCAN reply: cursor 0, no elements.
pub fn empty_scan() -> Reply {
    Reply::Array(vec![Reply::bulk_str("0"), Reply::Array(Vec::new())])
}

/// Options of HSCAN/SSCAN/ZSCAN: MATCH and COUNT (TYPE is for SCAN only).
pub fn parse_coll_scan(args: &[Bytes]) -> Result<crate::commands::keyspace::ScanArgs, Reply> {
    if args[3..].iter().step_by(2).any(|a| is(a, "type")) {
        return Err(Reply::syntax());
    }
    crate::commands::keyspace::parse_scan_args(args, 3)
}

fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let cursor = tri!(args::cursor(&args[2]));
    let Some(h) = tri!(hash_read(ctx, &args[1])) else {
        return empty_scan();
    };
    let sa = tri!(parse_coll_scan(args));
    let mut out = Vec::new();
    let pat = sa.pattern.as_deref();
    let pos = usize::try_from(cursor).unwrap_or(usize::MAX);
    let next = h.scan(pos, sa.count, |f, v| {
        if pat.is_none_or(|p| glob_match(p, f, false)) {
            out.push(bulk(f));
            out.push(bulk(v));
        }
    });
    Reply::Array(vec![Reply::bulk_str(&next.to_string()), Reply::Array(out)])
}
