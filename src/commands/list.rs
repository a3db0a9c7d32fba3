//! The list family (Redis 7.0 `t_list.c`); the blocking ones are in `blocking.rs`.
//!
//! Replies, error texts and the order in which arguments, keys and types are checked follow
//! Redis 7.0.15. A list that becomes empty is deleted.

use super::args::{self, is};
use super::{CommandSpec, Kind};
use crate::protocol::reply::{BulkArray, Reply};
use crate::store::list::List;
use crate::store::{Ctx, Value};
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
        "lpush",
        -3,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(lpush),
    )
    .doc(
        "list",
        "1.0.0",
        "Prepend one or multiple elements to a list",
    ),
    CommandSpec::new(
        "rpush",
        -3,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(rpush),
    )
    .doc("list", "1.0.0", "Append one or multiple elements to a list"),
    CommandSpec::new(
        "lpushx",
        -3,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(lpushx),
    )
    .doc(
        "list",
        "2.2.0",
        "Prepend an element to a list, only if the list exists",
    ),
    CommandSpec::new(
        "rpushx",
        -3,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(rpushx),
    )
    .doc(
        "list",
        "2.2.0",
        "Append an element to a list, only if the list exists",
    ),
    CommandSpec::new("lpop", -2, "write fast", (1, 1, 1), Kind::Keyed(lpop)).doc(
        "list",
        "1.0.0",
        "Remove and get the first elements in a list",
    ),
    CommandSpec::new("rpop", -2, "write fast", (1, 1, 1), Kind::Keyed(rpop)).doc(
        "list",
        "1.0.0",
        "Remove and get the last elements in a list",
    ),
    CommandSpec::new("llen", 2, "readonly fast", (1, 1, 1), Kind::Keyed(llen)).doc(
        "list",
        "1.0.0",
        "Get the length of a list",
    ),
    CommandSpec::new("lrange", 4, "readonly", (1, 1, 1), Kind::Keyed(lrange)).doc(
        "list",
        "1.0.0",
        "Get a range of elements from a list",
    ),
    CommandSpec::new("lindex", 3, "readonly", (1, 1, 1), Kind::Keyed(lindex)).doc(
        "list",
        "1.0.0",
        "Get an element from a list by its index",
    ),
    CommandSpec::new("lset", 4, "write denyoom", (1, 1, 1), Kind::Keyed(lset)).doc(
        "list",
        "1.0.0",
        "Set the value of an element in a list by its index",
    ),
    CommandSpec::new(
        "linsert",
        5,
        "write denyoom",
        (1, 1, 1),
        Kind::Keyed(linsert),
    )
    .doc(
        "list",
        "2.2.0",
        "Insert an element before or after another element in a list",
    ),
    CommandSpec::new("lrem", 4, "write", (1, 1, 1), Kind::Keyed(lrem)).doc(
        "list",
        "1.0.0",
        "Remove elements from a list",
    ),
    CommandSpec::new("ltrim", 4, "write", (1, 1, 1), Kind::Keyed(ltrim)).doc(
        "list",
        "1.0.0",
        "Trim a list to the specified range",
    ),
    CommandSpec::new("lpos", -3, "readonly", (1, 1, 1), Kind::Keyed(lpos)).doc(
        "list",
        "6.0.6",
        "Return the index of matching elements on a list",
    ),
    CommandSpec::new(
        "lmove",
        5,
        "write denyoom",
        (1, 2, 1),
        Kind::Coordinated(lmove),
    )
    .doc(
        "list",
        "6.2.0",
        "Pop an element from a list, push it to another list and return it",
    ),
    CommandSpec::new(
        "rpoplpush",
        3,
        "write denyoom",
        (1, 2, 1),
        Kind::Coordinated(rpoplpush),
    )
    .doc(
        "list",
        "1.2.0",
        "Remove the last element in a list, prepend it to another list and return it",
    ),
    CommandSpec::new("lmpop", -4, "write", (0, 0, 0), Kind::Coordinated(lmpop))
        .key_fn(numkeys_at_1)
        .doc("list", "7.0.0", "Pop elements from a list"),
];

/// Keys of `CMD numkeys key [key ...] ...` (LMPOP, SINTERCARD): none when numkeys is not a
/// usable count, so the command runs where it is and reports the error.
pub fn numkeys_at_1(args: &[Bytes]) -> Vec<usize> {
    match args.get(1).and_then(|a| crate::util::num::parse_i64(a)) {
        Some(n) if n >= 1 && (n as u64) <= args.len().saturating_sub(2) as u64 => {
            (2..2 + n as usize).collect()
        }
        _ => Vec::new(),
    }
}

/// The list at `key` for writing: Ok(None) if absent, Err(WRONGTYPE) for another type.
fn list_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut List>, Reply> {
    ctx.write_as(key, Value::list_mut)
}

/// The list at `key` for reading (counts a hit or miss).
fn list_read<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a List>, Reply> {
    ctx.read_as(key, Value::list_mut).map(|o| o.map(|x| &*x))
}

/// After an in-place change of `n` elements: count it, and delete the key if the list is now
/// empty.
fn changed(ctx: &mut Ctx, key: &[u8], n: u64, empty: bool) {
    ctx.store.dirty += n;
    if empty {
        ctx.delete(key);
    }
}

/// LRANGE/LTRIM index arithmetic: the clamped `start..=end`, None when empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { start + len } else { start }.max(0);
    let end = if end < 0 { end + len } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    Left,
    Right,
}

/// LEFT or RIGHT, else a syntax error.
pub fn parse_end(a: &[u8]) -> Result<End, Reply> {
    if is(a, "left") {
        Ok(End::Left)
    } else if is(a, "right") {
        Ok(End::Right)
    } else {
        Err(Reply::syntax())
    }
}

// ---------------------------------------------------------------------------------------------
// Pushes and pops

fn push_generic(ctx: &mut Ctx, args: &[Bytes], end: End, only_existing: bool) -> Reply {
    let key = &args[1];
    let fill = ctx.store.limits.list_max_listpack_size;
    let len = match tri!(list_mut(ctx, key)) {
        Some(l) => {
            push_all(l, &args[2..], end, fill);
            l.len()
        }
        None if only_existing => return Reply::Int(0),
        None => {
            let mut l = List::new();
            push_all(&mut l, &args[2..], end, fill);
            let n = l.len();
            ctx.set(key, Value::List(l), 0);
            n
        }
    };
    ctx.store.dirty += (args.len() - 2) as u64;
    Reply::Int(len as i64)
}

fn push_all(l: &mut List, vals: &[Bytes], end: End, fill: i64) {
    if vals.len() > 1 {
        l.reserve(vals, matches!(end, End::Left), fill);
    }
    for v in vals {
        match end {
            End::Left => l.push_front(v, fill),
            End::Right => l.push_back(v, fill),
        }
    }
}

fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push_generic(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push_generic(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push_generic(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push_generic(ctx, args, End::Right, true)
}

/// Pop up to `count` elements from one end.
fn pop_n(l: &mut List, end: End, count: usize) -> Vec<Reply> {
    let mut out = Vec::with_capacity(count.min(l.len()));
    for _ in 0..count {
        let v = match end {
            End::Left => l.pop_front(),
            End::Right => l.pop_back(),
        };
        match v {
            Some(v) => out.push(Reply::Bulk(v)),
            None => break,
        }
    }
    out
}

fn pop_generic(ctx: &mut Ctx, args: &[Bytes], end: End) -> Reply {
    if args.len() > 3 {
        return Reply::arity(&String::from_utf8_lossy(&args[0]));
    }
    // The count is checked before the key, as Redis does.
    let count = match args.get(2) {
        Some(a) => Some(tri!(args::positive(a, None)) as usize),
        None => None,
    };
    let key = &args[1];
    let Some(l) = tri!(list_mut(ctx, key)) else {
        return if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        };
    };
    match count {
        Some(0) => Reply::Array(Vec::new()),
        Some(n) => {
            let out = pop_n(l, end, n);
            let empty = l.is_empty();
            changed(ctx, key, out.len() as u64, empty);
            Reply::Array(out)
        }
        None => {
            let v = pop_n(l, end, 1).pop().unwrap_or(Reply::Nil);
            let empty = l.is_empty();
            changed(ctx, key, 1, empty);
            v
        }
    }
}

fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop_generic(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop_generic(ctx, args, End::Right)
}

// ---------------------------------------------------------------------------------------------
// Reads

fn llen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match tri!(list_read(ctx, &args[1])) {
        Some(l) => Reply::Int(l.len() as i64),
        None => Reply::Int(0),
    }
}

fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let start = tri!(args::int(&args[2]));
    let end = tri!(args::int(&args[3]));
    let Some(l) = tri!(list_read(ctx, &args[1])) else {
        return Reply::Array(Vec::new());
    };
    match clamp_range(start, end, l.len()) {
        Some((s, e)) => {
            // Encoded here in one buffer: no copy, allocation and free per element. Sized from
            // the list's average element (a pass to add up the lengths cost more than the
            // buffer growing now and then).
            let n = e - s + 1;
            let mut out = BulkArray::new(n, n * l.average_len());
            l.for_range(s, e, |v| out.push(v));
            out.finish()
        }
        None => Reply::Array(Vec::new()),
    }
}

/// A Redis list index (negative from the tail) as a position, if in range.
fn position(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 {
        index.checked_add(len as i64)?
    } else {
        index
    };
    (i >= 0 && (i as u64) < len as u64).then_some(i as usize)
}

fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // Key and type first, then the index (Redis's order).
    let Some(l) = tri!(list_read(ctx, &args[1])) else {
        return Reply::Nil;
    };
    let index = tri!(args::int(&args[2]));
    Reply::opt_bulk(position(index, l.len()).and_then(|i| l.get(i)))
}

fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut rank: i64 = 1;
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let opt = &args[j];
        if is(opt, "rank") && more {
            j += 1;
            rank = tri!(args::int(&args[j]));
            if rank == 0 {
                return Reply::err(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                );
            }
        } else if is(opt, "count") && more {
            j += 1;
            count = Some(tri!(args::positive(
                &args[j],
                Some("ERR COUNT can't be negative")
            )));
        } else if is(opt, "maxlen") && more {
            j += 1;
            maxlen = tri!(args::positive(
                &args[j],
                Some("ERR MAXLEN can't be negative")
            ));
        } else {
            return Reply::syntax();
        }
        j += 1;
    }
    let Some(l) = tri!(list_read(ctx, &args[1])) else {
        return if count.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Nil
        };
    };
    let ele = &args[2][..];
    let len = l.len();
    // A negative rank searches from the tail; Redis negates it unchecked, so i64::MIN stays
    // negative and then matches from the first hit, which `>=` below reproduces, and its
    // COUNT test (`matches - rank + 1 >= count`) overflows and never stops the scan, which the
    // wrapping arithmetic below reproduces.
    let from_tail = rank < 0;
    let rank = if from_tail { rank.wrapping_neg() } else { rank };
    let items: Vec<&[u8]> = l.iter().collect();
    let order: Box<dyn Iterator<Item = usize>> = if from_tail {
        Box::new((0..len).rev())
    } else {
        Box::new(0..len)
    };
    let want = count.unwrap_or(1);
    let mut matches: i64 = 0;
    let mut found = Vec::new();
    for (scanned, i) in order.enumerate() {
        if maxlen != 0 && scanned as i64 >= maxlen {
            break;
        }
        if items[i] == ele {
            matches += 1;
            if matches >= rank {
                found.push(Reply::Int(i as i64));
                if want != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= want {
                    break;
                }
            }
        }
    }
    if count.is_some() {
        Reply::Array(found)
    } else {
        found.into_iter().next().unwrap_or(Reply::Nil)
    }
}

// ---------------------------------------------------------------------------------------------
// In-place edits

fn lset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let fill = ctx.store.limits.list_max_listpack_size;
    let Some(l) = tri!(list_mut(ctx, key)) else {
        return Reply::err("ERR no such key");
    };
    let index = tri!(args::int(&args[2]));
    let Some(i) = position(index, l.len()) else {
        return Reply::err("ERR index out of range");
    };
    l.set(i, &args[3], fill);
    ctx.store.dirty += 1;
    Reply::ok()
}

fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let after = if is(&args[2], "after") {
        true
    } else if is(&args[2], "before") {
        false
    } else {
        return Reply::syntax();
    };
    let fill = ctx.store.limits.list_max_listpack_size;
    let Some(l) = tri!(list_mut(ctx, &args[1])) else {
        return Reply::Int(0);
    };
    let pivot = &args[3][..];
    let Some(at) = l.iter().position(|v| v == pivot) else {
        return Reply::Int(-1);
    };
    l.insert(at + after as usize, &args[4], fill);
    let len = l.len();
    ctx.store.dirty += 1;
    Reply::Int(len as i64)
}

fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let count = tri!(args::int(&args[2]));
    let key = &args[1];
    let Some(l) = tri!(list_mut(ctx, key)) else {
        return Reply::Int(0);
    };
    let ele = &args[3][..];
    let limit = count.unsigned_abs();
    let removed = if count >= 0 {
        let mut n = 0u64;
        l.remove_where(|_, v| {
            let hit = v == ele && (limit == 0 || n < limit);
            n += hit as u64;
            hit
        })
    } else {
        // From the tail: find the positions first, then remove those.
        let len = l.len();
        let mut doomed = vec![false; len];
        let mut n = 0u64;
        let items: Vec<&[u8]> = l.iter().collect();
        for i in (0..len).rev() {
            if n == limit {
                break;
            }
            if items[i] == ele {
                doomed[i] = true;
                n += 1;
            }
        }
        drop(items);
        l.remove_where(|i, _| doomed[i])
    };
    let empty = l.is_empty();
    if removed > 0 {
        changed(ctx, key, removed as u64, empty);
    }
    Reply::Int(removed as i64)
}

fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let start = tri!(args::int(&args[2]));
    let end = tri!(args::int(&args[3]));
    let key = &args[1];
    let Some(l) = tri!(list_mut(ctx, key)) else {
        return Reply::ok();
    };
    let before = l.len();
    match clamp_range(start, end, before) {
        Some((s, e)) => l.trim(s, e),
        None => l.trim(1, 0),
    }
    let (removed, empty) = (before - l.len(), l.is_empty());
    changed(ctx, key, removed as u64, empty);
    Reply::ok()
}

// ---------------------------------------------------------------------------------------------
// LMOVE RPOPLPUSH LMPOP

/// LMOVE with both keys on this shard.
fn lmove_local(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> Reply {
    let fill = ctx.store.limits.list_max_listpack_size;
    if tri!(list_mut(ctx, src)).is_none() {
        return Reply::Nil;
    }
    // The destination's type is checked before anything moves.
    let dst_exists = tri!(list_mut(ctx, dst)).is_some();
    let Some(l) = tri!(list_mut(ctx, src)) else {
        return Reply::Nil;
    };
    let Some(v) = (match from {
        End::Left => l.pop_front(),
        End::Right => l.pop_back(),
    }) else {
        return Reply::Nil;
    };
    if src == dst {
        // Rotation within one list: it never becomes empty.
        match to {
            End::Left => l.push_front(&v, fill),
            End::Right => l.push_back(&v, fill),
        }
        ctx.store.dirty += 1;
        return Reply::Bulk(v);
    }
    let empty = l.is_empty();
    if dst_exists {
        if let Ok(Some(d)) = list_mut(ctx, dst) {
            push_all(d, std::slice::from_ref(&v), to, fill);
        }
    } else {
        let mut d = List::new();
        push_all(&mut d, std::slice::from_ref(&v), to, fill);
        ctx.set(dst, Value::List(d), 0);
    }
    changed(ctx, src, 1, empty);
    Reply::Bulk(v)
}

fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let from = tri!(parse_end(&args[3]));
    let to = tri!(parse_end(&args[4]));
    lmove_local(ctx, &args[1], &args[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    lmove_local(ctx, &args[1], &args[2], End::Right, End::Left)
}

/// LMPOP's parsed arguments: the key positions, the end, the count.
pub struct MpopArgs {
    pub keys: std::ops::Range<usize>,
    pub end: End,
    pub count: i64,
}

/// Parse `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]` with Redis's errors.
pub fn parse_lmpop(args: &[Bytes]) -> Result<MpopArgs, Reply> {
    let numkeys = args::range(
        &args[1],
        1,
        i64::MAX,
        Some("ERR numkeys should be greater than 0"),
    )?;
    let where_idx = numkeys.saturating_add(2);
    if where_idx >= args.len() as i64 {
        return Err(Reply::syntax());
    }
    let where_idx = where_idx as usize;
    let end = parse_end(&args[where_idx])?;
    let mut count = -1;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count == -1 && is(&args[j], "count") && j + 1 < args.len() {
            j += 1;
            count = args::range(
                &args[j],
                1,
                i64::MAX,
                Some("ERR count should be greater than 0"),
            )?;
        } else {
            return Err(Reply::syntax());
        }
        j += 1;
    }
    Ok(MpopArgs {
        keys: 2..where_idx,
        end,
        count: if count == -1 { 1 } else { count },
    })
}

fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let a = tri!(parse_lmpop(args));
    for i in a.keys.clone() {
        let key = &args[i];
        let Some(l) = tri!(list_mut(ctx, key)) else {
            continue;
        };
        if l.is_empty() {
            continue;
        }
        let out = pop_n(l, a.end, usize::try_from(a.count).unwrap_or(usize::MAX));
        let empty = l.is_empty();
        changed(ctx, key, out.len() as u64, empty);
        // Logged as the pop it did, as Redis propagates LMPOP.
        let count = a.count.to_string();
        let pop: &[u8] = if a.end == End::Left { b"LPOP" } else { b"RPOP" };
        ctx.propagate(&[pop, &key[..], count.as_bytes()]);
        return Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(out)]);
    }
    Reply::NilArray
}

/// Cross-shard LMOVE steps, run on one shard each by the coordinator.
pub mod parts {
    use super::*;

    /// Whether `key` holds a list (Err for another type).
    pub fn is_list(ctx: &mut Ctx, key: &[u8]) -> Result<bool, Reply> {
        Ok(list_mut(ctx, key)?.is_some())
    }

    /// Pop one element, deleting the list if it empties; logged as the pop.
    pub fn pop(ctx: &mut Ctx, key: &[u8], end: End) -> Result<Option<Bytes>, Reply> {
        let Some(l) = list_mut(ctx, key)? else {
            return Ok(None);
        };
        let v = match end {
            End::Left => l.pop_front(),
            End::Right => l.pop_back(),
        };
        let empty = l.is_empty();
        if v.is_some() {
            changed(ctx, key, 1, empty);
            let cmd: &[u8] = if end == End::Left { b"LPOP" } else { b"RPOP" };
            ctx.propagate(&[cmd, key]);
        }
        Ok(v)
    }

    /// Pop up to `count` elements from one end (BLMPOP served), deleting the list if it empties;
    /// logged as `LPOP|RPOP key count`, as Redis propagates it. None if the key is absent.
    pub fn pop_count(
        ctx: &mut Ctx,
        key: &[u8],
        end: End,
        count: usize,
    ) -> Result<Option<Vec<Reply>>, Reply> {
        let Some(l) = list_mut(ctx, key)? else {
            return Ok(None);
        };
        let out = pop_n(l, end, count);
        let empty = l.is_empty();
        changed(ctx, key, out.len() as u64, empty);
        let cmd: &[u8] = if end == End::Left { b"LPOP" } else { b"RPOP" };
        ctx.propagate(&[cmd, key, count.to_string().as_bytes()]);
        Ok(Some(out))
    }

    /// LMOVE with both keys on this shard (BLMOVE served): Redis's checks, pop and push. The
    /// caller logs it.
    pub fn lmove_here(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> Reply {
        lmove_local(ctx, src, dst, from, to)
    }

    /// Push one element, creating the list; logged as the push.
    pub fn push(ctx: &mut Ctx, key: &[u8], v: &Bytes, end: End) -> Result<(), Reply> {
        let fill = ctx.store.limits.list_max_listpack_size;
        match list_mut(ctx, key)? {
            Some(l) => push_all(l, std::slice::from_ref(v), end, fill),
            None => {
                let mut l = List::new();
                push_all(&mut l, std::slice::from_ref(v), end, fill);
                ctx.set(key, Value::List(l), 0);
            }
        }
        ctx.store.dirty += 1;
        let cmd: &[u8] = if end == End::Left { b"LPUSH" } else { b"RPUSH" };
        ctx.propagate(&[cmd, key, &v[..]]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(0, -4, 3), None);
        assert_eq!(position(-1, 3), Some(2));
        assert_eq!(position(-4, 3), None);
        assert_eq!(position(i64::MIN, 3), None);
    }

    #[test]
    fn numkeys_keys() {
        let a = |s: &str| -> Vec<Bytes> {
            s.split(' ')
                .map(|x| Bytes::copy_from_slice(x.as_bytes()))
                .collect()
        };
        assert_eq!(numkeys_at_1(&a("lmpop 2 a b left")), vec![2, 3]);
        assert_eq!(numkeys_at_1(&a("sintercard 2 a b")), vec![2, 3]);
        assert!(numkeys_at_1(&a("lmpop 3 a b")).is_empty());
        assert!(numkeys_at_1(&a("lmpop 0 a left")).is_empty());
        assert!(numkeys_at_1(&a("lmpop x a left")).is_empty());
    }
}
