//! The set family (Redis 7.0 `t_set.c`).
//!
//! Replies, error texts and the order of checks follow Redis 7.0.15. A set that becomes empty
//! is deleted. SPOP is logged as the SREM (or DEL) of what it popped, since its choice is random.
//! The algebra (SINTER/SUNION/SDIFF and their STORE forms, SINTERCARD) is computed by functions
//! shared with the coordinator, which runs these commands when their keys span shards.

use super::args::{self, is};
use super::hash::{distinct_positions, empty_scan, parse_coll_scan};
use super::list::numkeys_at_1;
use super::{CommandSpec, Kind};
use crate::protocol::reply::Reply;
use crate::store::set::Set;
use crate::store::{Ctx, Value};
use crate::util::glob::glob_match;
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
        "sadd",
        -3,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(sadd),
    )
    .doc("set", "1.0.0", "Add one or more members to a set"),
    CommandSpec::new("srem", -3, "write fast", (1, 1, 1), Kind::Keyed(srem)).doc(
        "set",
        "1.0.0",
        "Remove one or more members from a set",
    ),
    CommandSpec::new("scard", 2, "readonly fast", (1, 1, 1), Kind::Keyed(scard)).doc(
        "set",
        "1.0.0",
        "Get the number of members in a set",
    ),
    CommandSpec::new(
        "sismember",
        3,
        "readonly fast",
        (1, 1, 1),
        Kind::Keyed(sismember),
    )
    .doc(
        "set",
        "1.0.0",
        "Determine if a given value is a member of a set",
    ),
    CommandSpec::new(
        "smismember",
        -3,
        "readonly fast",
        (1, 1, 1),
        Kind::Keyed(smismember),
    )
    .doc(
        "set",
        "6.2.0",
        "Returns the membership associated with the given elements for a set",
    ),
    CommandSpec::new("smembers", 2, "readonly", (1, 1, 1), Kind::Keyed(smembers)).doc(
        "set",
        "1.0.0",
        "Get all the members in a set",
    ),
    CommandSpec::new("spop", -2, "write fast", (1, 1, 1), Kind::Keyed(spop)).doc(
        "set",
        "1.0.0",
        "Remove and return one or multiple random members from a set",
    ),
    CommandSpec::new(
        "srandmember",
        -2,
        "readonly",
        (1, 1, 1),
        Kind::Keyed(srandmember),
    )
    .doc(
        "set",
        "1.0.0",
        "Get one or multiple random members from a set",
    ),
    CommandSpec::new(
        "smove",
        4,
        "write fast",
        (1, 2, 1),
        Kind::Coordinated(smove),
    )
    .doc("set", "1.0.0", "Move a member from one set to another"),
    CommandSpec::new(
        "sinter",
        -2,
        "readonly",
        (1, -1, 1),
        Kind::Coordinated(sinter),
    )
    .doc("set", "1.0.0", "Intersect multiple sets"),
    CommandSpec::new(
        "sintercard",
        -3,
        "readonly",
        (0, 0, 0),
        Kind::Coordinated(sintercard),
    )
    .key_fn(numkeys_at_1)
    .doc(
        "set",
        "7.0.0",
        "Intersect multiple sets and return the cardinality of the result",
    ),
    CommandSpec::new(
        "sunion",
        -2,
        "readonly",
        (1, -1, 1),
        Kind::Coordinated(sunion),
    )
    .doc("set", "1.0.0", "Add multiple sets"),
    CommandSpec::new(
        "sdiff",
        -2,
        "readonly",
        (1, -1, 1),
        Kind::Coordinated(sdiff),
    )
    .doc("set", "1.0.0", "Subtract multiple sets"),
    CommandSpec::new(
        "sinterstore",
        -3,
        "write denyoom",
        (1, -1, 1),
        Kind::Coordinated(sinterstore),
    )
    .doc(
        "set",
        "1.0.0",
        "Intersect multiple sets and store the resulting set in a key",
    ),
    CommandSpec::new(
        "sunionstore",
        -3,
        "write denyoom",
        (1, -1, 1),
        Kind::Coordinated(sunionstore),
    )
    .doc(
        "set",
        "1.0.0",
        "Add multiple sets and store the resulting set in a key",
    ),
    CommandSpec::new(
        "sdiffstore",
        -3,
        "write denyoom",
        (1, -1, 1),
        Kind::Coordinated(sdiffstore),
    )
    .doc(
        "set",
        "1.0.0",
        "Subtract multiple sets and store the resulting set in a key",
    ),
    CommandSpec::new("sscan", -3, "readonly", (1, 1, 1), Kind::Keyed(sscan)).doc(
        "set",
        "2.0.0",
        "Incrementally iterate Set elements",
    ),
];

fn set_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Set>, Reply> {
    ctx.write_as(key, Value::set_mut)
}

fn set_read<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a Set>, Reply> {
    ctx.read_as(key, Value::set_mut).map(|o| o.map(|x| &*x))
}

fn members_reply(m: Vec<Bytes>) -> Reply {
    Reply::Set(m.into_iter().map(Reply::Bulk).collect())
}

// ---------------------------------------------------------------------------------------------
// Single-key commands

fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let max = ctx.store.limits.set_max_intset_entries;
    let added = match tri!(set_mut(ctx, key)) {
        Some(s) => args[2..].iter().filter(|m| s.add(m, max)).count(),
        None => {
            // The first member picks the encoding (Redis's setTypeCreate).
            let mut s = Set::for_member(&args[2]);
            let n = args[2..].iter().filter(|m| s.add(m, max)).count();
            ctx.set(key, Value::Set(s), 0);
            n
        }
    };
    ctx.store.dirty += added as u64;
    Reply::Int(added as i64)
}

fn srem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let Some(s) = tri!(set_mut(ctx, key)) else {
        return Reply::Int(0);
    };
    let mut removed = 0;
    for m in &args[2..] {
        if s.remove(m) {
            removed += 1;
            if s.is_empty() {
                break;
            }
        }
    }
    let empty = s.is_empty();
    if removed > 0 {
        ctx.store.dirty += removed as u64;
        if empty {
            ctx.delete(key);
        }
    }
    Reply::Int(removed)
}

fn scard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Int(tri!(set_read(ctx, &args[1])).map_or(0, |s| s.len() as i64))
}

fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let s = tri!(set_read(ctx, &args[1]));
    Reply::Int(s.is_some_and(|s| s.contains(&args[2])) as i64)
}

fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let s = tri!(set_read(ctx, &args[1]));
    Reply::Array(
        args[2..]
            .iter()
            .map(|m| Reply::Int(s.is_some_and(|s| s.contains(m)) as i64))
            .collect(),
    )
}

fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let s = tri!(set_read(ctx, &args[1]));
    members_reply(s.map_or_else(Vec::new, |s| s.members()))
}

fn spop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::syntax();
    }
    let key = &args[1];
    let count = match args.get(2) {
        Some(a) => Some(tri!(args::positive(a, None)) as u64),
        None => None,
    };
    let Some(s) = tri!(set_mut(ctx, key)) else {
        return if count.is_some() {
            Reply::Set(Vec::new())
        } else {
            Reply::Nil
        };
    };
    let Some(count) = count else {
        let Some(m) = s.take_at(fastrand::usize(..s.len().max(1))) else {
            return Reply::Nil;
        };
        let empty = s.is_empty();
        ctx.store.dirty += 1;
        if empty {
            ctx.delete(key);
        }
        ctx.propagate(&[&b"SREM"[..], key, &m]);
        return Reply::Bulk(m);
    };
    if count == 0 {
        return Reply::Set(Vec::new());
    }
    if count >= s.len() as u64 {
        // Everything: the key goes, logged as its deletion.
        let all = s.members();
        ctx.delete(key);
        ctx.propagate(&[&b"DEL"[..], key]);
        return members_reply(all);
    }
    let mut popped = Vec::with_capacity(count as usize);
    for _ in 0..count {
        if let Some(m) = s.take_at(fastrand::usize(..s.len())) {
            popped.push(m);
        }
    }
    ctx.store.dirty += popped.len() as u64;
    if ctx.feeding() {
        let mut cmd = Vec::with_capacity(popped.len() + 2);
        cmd.push(Bytes::from_static(b"SREM"));
        cmd.push(key.clone());
        cmd.extend(popped.iter().cloned());
        ctx.propagate(&cmd);
    } else {
        ctx.propagate_nothing();
    }
    members_reply(popped)
}

fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::syntax();
    }
    if args.len() == 2 {
        let s = tri!(set_read(ctx, &args[1]));
        return Reply::opt_bulk(s.and_then(|s| s.random()));
    }
    let count = tri!(args::range(&args[2], -i64::MAX, i64::MAX, None));
    if count < 0 {
        tri!(args::random_count(count.unsigned_abs()));
    }
    let Some(s) = tri!(set_read(ctx, &args[1])) else {
        return Reply::Array(Vec::new());
    };
    let len = s.len();
    if count == 0 || len == 0 {
        return Reply::Array(Vec::new());
    }
    let picks: Vec<Bytes> = if count < 0 {
        (0..count.unsigned_abs())
            .filter_map(|_| s.random())
            .collect()
    } else if count as u64 >= len as u64 {
        s.members()
    } else {
        distinct_positions(len, count as usize)
            .into_iter()
            .filter_map(|i| s.at(i))
            .collect()
    };
    Reply::Array(picks.into_iter().map(Reply::Bulk).collect())
}

fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let cursor = tri!(args::cursor(&args[2]));
    let Some(s) = tri!(set_read(ctx, &args[1])) else {
        return empty_scan();
    };
    let sa = tri!(parse_coll_scan(args));
    let pat = sa.pattern.as_deref();
    let mut out = Vec::new();
    let pos = usize::try_from(cursor).unwrap_or(usize::MAX);
    let next = s.scan(pos, sa.count, |m| {
        if pat.is_none_or(|p| glob_match(p, m, false)) {
            out.push(Reply::copy_of(m));
        }
    });
    Reply::Array(vec![Reply::bulk_str(&next.to_string()), Reply::Array(out)])
}

// ---------------------------------------------------------------------------------------------
// SMOVE

fn smove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (src, dst, m) = (&args[1], &args[2], &args[3]);
    let max = ctx.store.limits.set_max_intset_entries;
    if tri!(set_mut(ctx, src)).is_none() {
        return Reply::Int(0);
    }
    let dst_exists = tri!(set_mut(ctx, dst)).is_some();
    let Some(s) = tri!(set_mut(ctx, src)) else {
        return Reply::Int(0);
    };
    if src == dst {
        return Reply::Int(s.contains(m) as i64);
    }
    if !s.remove(m) {
        return Reply::Int(0);
    }
    let empty = s.is_empty();
    ctx.store.dirty += 1;
    if empty {
        ctx.delete(src);
    }
    if dst_exists {
        if let Ok(Some(d)) = set_mut(ctx, dst) {
            // Redis signals the destination only when the member is new there.
            if !d.add(m, max) {
                ctx.store.untouched = Some(dst.clone());
            }
        }
    } else {
        let mut d = Set::for_member(m);
        d.add(m, max);
        ctx.set(dst, Value::Set(d), 0);
    }
    ctx.store.dirty += 1;
    Reply::Int(1)
}

// ---------------------------------------------------------------------------------------------
// Algebra

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Inter,
    Union,
    Diff,
}

/// The result of `op` over `sets` (None: a missing key, an empty set), built member by member
/// so that it gets the encoding Redis gives it (an intset when every member is an integer).
pub fn compute(op: Op, sets: &[Option<&Set>], max_ints: usize) -> Set {
    let mut out = Set::default();
    match op {
        Op::Inter => {
            let Some(mut present) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
                return out;
            };
            present.sort_by_key(|s| s.len());
            if let Some((first, rest)) = present.split_first() {
                first.for_each(|m| {
                    if rest.iter().all(|s| s.contains(m)) {
                        out.add(m, max_ints);
                    }
                });
            }
        }
        Op::Union => {
            for s in sets.iter().flatten() {
                s.for_each(|m| {
                    out.add(m, max_ints);
                });
            }
        }
        Op::Diff => {
            let Some(Some(first)) = sets.first() else {
                return out;
            };
            first.for_each(|m| {
                if !sets[1..].iter().flatten().any(|s| s.contains(m)) {
                    out.add(m, max_ints);
                }
            });
        }
    }
    out
}

/// SINTERCARD's count, stopping at `limit` (0: no limit).
pub fn inter_card(sets: &[Option<&Set>], limit: u64) -> u64 {
    let Some(mut present) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return 0;
    };
    present.sort_by_key(|s| s.len());
    let Some((first, rest)) = present.split_first() else {
        return 0;
    };
    let mut n = 0u64;
    // `for_each` cannot stop early; members past the limit are skipped cheaply.
    first.for_each(|m| {
        if (limit == 0 || n < limit) && rest.iter().all(|s| s.contains(m)) {
            n += 1;
        }
    });
    n
}

/// Look each key up (lazily expiring it, counting reads unless `write`) and check its type.
fn check_sets(ctx: &mut Ctx, keys: &[Bytes], write: bool) -> Result<(), Reply> {
    for k in keys {
        let e = if write {
            ctx.lookup(k)
        } else {
            ctx.lookup_read(k)
        };
        if let Some(e) = e {
            if !matches!(e.value, Value::Set(_)) {
                return Err(Reply::wrongtype());
            }
        }
    }
    Ok(())
}

/// The sets at `keys` (already checked by `check_sets`), borrowed together.
fn borrow_sets<'a>(ctx: &'a Ctx, keys: &[Bytes]) -> Vec<Option<&'a Set>> {
    let db = &ctx.store.dbs[ctx.db];
    keys.iter()
        .map(|k| match db.get_raw(k).map(|e| &e.value) {
            Some(Value::Set(s)) => Some(s),
            _ => None,
        })
        .collect()
}

fn algebra(ctx: &mut Ctx, args: &[Bytes], op: Op) -> Reply {
    let keys = &args[1..];
    tri!(check_sets(ctx, keys, false));
    let max = ctx.store.limits.set_max_intset_entries;
    let result = compute(op, &borrow_sets(ctx, keys), max);
    members_reply(result.members())
}

/// Store `result` at `dst` (deleting it when empty); returns the reply (the size).
pub fn store_result(ctx: &mut Ctx, dst: &[u8], result: Set) -> Reply {
    let n = result.len() as i64;
    if result.is_empty() {
        ctx.delete(dst);
    } else {
        ctx.set(dst, Value::Set(result), 0);
    }
    Reply::Int(n)
}

fn algebra_store(ctx: &mut Ctx, args: &[Bytes], op: Op) -> Reply {
    let keys = &args[2..];
    tri!(check_sets(ctx, keys, true));
    let max = ctx.store.limits.set_max_intset_entries;
    let result = compute(op, &borrow_sets(ctx, keys), max);
    store_result(ctx, &args[1], result)
}

fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra(ctx, args, Op::Inter)
}

fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra(ctx, args, Op::Union)
}

fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra(ctx, args, Op::Diff)
}

fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra_store(ctx, args, Op::Inter)
}

fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra_store(ctx, args, Op::Union)
}

fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra_store(ctx, args, Op::Diff)
}

/// Parse `SINTERCARD numkeys key [key ...] [LIMIT limit]`: the key positions and the limit.
pub fn parse_sintercard(args: &[Bytes]) -> Result<(std::ops::Range<usize>, u64), Reply> {
    let numkeys = args::range(
        &args[1],
        1,
        i64::MAX,
        Some("ERR numkeys should be greater than 0"),
    )?;
    if numkeys as u64 > (args.len() - 2) as u64 {
        return Err(Reply::err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0;
    let mut j = end;
    while j < args.len() {
        if is(&args[j], "limit") && j + 1 < args.len() {
            j += 1;
            limit = args::positive(&args[j], Some("ERR LIMIT can't be negative"))? as u64;
        } else {
            return Err(Reply::syntax());
        }
        j += 1;
    }
    Ok((2..end, limit))
}

fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (keys, limit) = tri!(parse_sintercard(args));
    let keys = &args[keys];
    tri!(check_sets(ctx, keys, false));
    Reply::Int(inter_card(&borrow_sets(ctx, keys), limit) as i64)
}

/// Steps of the cross-shard set commands, each run on one shard by the coordinator.
pub mod parts {
    use super::*;

    /// A copy of the set at `key` (None if absent), or WRONGTYPE.
    pub fn fetch(ctx: &mut Ctx, key: &[u8], write: bool) -> Result<Option<Set>, Reply> {
        let e = if write {
            ctx.lookup(key)
        } else {
            ctx.lookup_read(key)
        };
        match e.map(|e| &e.value) {
            None => Ok(None),
            Some(Value::Set(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Reply::wrongtype()),
        }
    }

    /// Whether `key` holds a set (Err for another type).
    pub fn is_set(ctx: &mut Ctx, key: &[u8]) -> Result<bool, Reply> {
        Ok(set_mut(ctx, key)?.is_some())
    }

    /// Store a computed result at `dst`, logged as DEL and the SADDs that rebuild it.
    pub fn store(ctx: &mut Ctx, dst: &[u8], result: Set) -> Reply {
        let mut cmds = Vec::new();
        crate::store::set::rewrite_commands(dst, &result, &mut cmds);
        let r = store_result(ctx, dst, result);
        ctx.propagate(&[&b"DEL"[..], dst]);
        for c in &cmds {
            ctx.propagate(c);
        }
        r
    }

    /// SMOVE's removal from the source: false if the member was not there.
    pub fn remove(ctx: &mut Ctx, key: &[u8], m: &Bytes) -> Result<bool, Reply> {
        let Some(s) = set_mut(ctx, key)? else {
            return Ok(false);
        };
        if !s.remove(m) {
            return Ok(false);
        }
        let empty = s.is_empty();
        ctx.store.dirty += 1;
        if empty {
            ctx.delete(key);
        }
        ctx.propagate(&[&b"SREM"[..], key, m]);
        Ok(true)
    }

    /// SMOVE's addition to the destination, creating it.
    pub fn add(ctx: &mut Ctx, key: &[u8], m: &Bytes) -> Result<(), Reply> {
        let max = ctx.store.limits.set_max_intset_entries;
        match set_mut(ctx, key)? {
            Some(s) => {
                // Already there: nothing written (and nothing touched for WATCH).
                if !s.add(m, max) {
                    return Ok(());
                }
            }
            None => {
                let mut s = Set::for_member(m);
                s.add(m, max);
                ctx.set(key, Value::Set(s), 0);
            }
        }
        ctx.store.dirty += 1;
        ctx.propagate(&[&b"SADD"[..], key, m]);
        Ok(())
    }
}
