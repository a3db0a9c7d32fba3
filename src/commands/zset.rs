//! The sorted-set family (Redis 7.0 `t_zset.c`), without the blocking commands.
//!
//! Replies, error texts and the order in which arguments and keys are checked follow Redis
//! 7.0.15. The multi-key commands (ZUNION…, ZRANGESTORE, ZMPOP) are split into pure parsing,
//! lookups and computing so that the coordinator can run the same steps when their keys live on
//! several shards (`src/shard/coordinator.rs`).

use super::{CommandSpec, Kind};
use crate::protocol::reply::Reply;
use crate::store::set::Set;
use crate::store::zset::{LexRange, LexVal, PackLimits, ScoreRange, ZSet};
use crate::store::{Ctx, Value};
use crate::util::num;
use bytes::Bytes;

/// Evaluate a `Result<T, Reply>`, returning the error reply from the handler.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

const G: &str = "sorted-set";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, "write denyoom fast", (1, 1, 1), Kind::Keyed(zadd)).doc(
        G,
        "1.2.0",
        "Add one or more members to a sorted set, or update its score if it already exists",
    ),
    CommandSpec::new("zincrby", 4, "write denyoom fast", (1, 1, 1), Kind::Keyed(zincrby)).doc(
        G,
        "1.2.0",
        "Increment the score of a member in a sorted set",
    ),
    CommandSpec::new("zrem", -3, "write fast", (1, 1, 1), Kind::Keyed(zrem)).doc(
        G,
        "1.2.0",
        "Remove one or more members from a sorted set",
    ),
    CommandSpec::new("zcard", 2, "readonly fast", (1, 1, 1), Kind::Keyed(zcard)).doc(
        G,
        "1.2.0",
        "Get the number of members in a sorted set",
    ),
    CommandSpec::new("zcount", 4, "readonly fast", (1, 1, 1), Kind::Keyed(zcount)).doc(
        G,
        "2.0.0",
        "Count the members in a sorted set with scores within the given values",
    ),
    CommandSpec::new("zlexcount", 4, "readonly fast", (1, 1, 1), Kind::Keyed(zlexcount)).doc(
        G,
        "2.8.9",
        "Count the number of members in a sorted set between a given lexicographical range",
    ),
    CommandSpec::new("zscore", 3, "readonly fast", (1, 1, 1), Kind::Keyed(zscore)).doc(
        G,
        "1.2.0",
        "Get the score associated with the given member in a sorted set",
    ),
    CommandSpec::new("zmscore", -3, "readonly fast", (1, 1, 1), Kind::Keyed(zmscore)).doc(
        G,
        "6.2.0",
        "Get the score associated with the given members in a sorted set",
    ),
    CommandSpec::new("zrank", 3, "readonly fast", (1, 1, 1), Kind::Keyed(zrank)).doc(
        G,
        "2.0.0",
        "Determine the index of a member in a sorted set",
    ),
    CommandSpec::new("zrevrank", 3, "readonly fast", (1, 1, 1), Kind::Keyed(zrevrank)).doc(
        G,
        "2.0.0",
        "Determine the index of a member in a sorted set, with scores ordered from high to low",
    ),
    CommandSpec::new("zrange", -4, "readonly", (1, 1, 1), Kind::Keyed(zrange)).doc(
        G,
        "1.2.0",
        "Return a range of members in a sorted set",
    ),
    CommandSpec::new(
        "zrangestore",
        -5,
        "write denyoom",
        (1, 2, 1),
        Kind::Coordinated(zrangestore),
    )
    .doc(
        G,
        "6.2.0",
        "Store a range of members from sorted set into another key",
    ),
    CommandSpec::new("zrevrange", -4, "readonly", (1, 1, 1), Kind::Keyed(zrevrange)).doc(
        G,
        "1.2.0",
        "Return a range of members in a sorted set, by index, with scores ordered from high to low",
    ),
    CommandSpec::new("zrangebyscore", -4, "readonly", (1, 1, 1), Kind::Keyed(zrangebyscore))
        .doc(G, "1.0.5", "Return a range of members in a sorted set, by score"),
    CommandSpec::new(
        "zrevrangebyscore",
        -4,
        "readonly",
        (1, 1, 1),
        Kind::Keyed(zrevrangebyscore),
    )
    .doc(
        G,
        "2.2.0",
        "Return a range of members in a sorted set, by score, with scores ordered from high to low",
    ),
    CommandSpec::new("zrangebylex", -4, "readonly", (1, 1, 1), Kind::Keyed(zrangebylex)).doc(
        G,
        "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range",
    ),
    CommandSpec::new(
        "zrevrangebylex",
        -4,
        "readonly",
        (1, 1, 1),
        Kind::Keyed(zrevrangebylex),
    )
    .doc(
        G,
        "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
    ),
    CommandSpec::new("zremrangebyrank", 4, "write", (1, 1, 1), Kind::Keyed(zremrangebyrank)).doc(
        G,
        "2.0.0",
        "Remove all members in a sorted set within the given indexes",
    ),
    CommandSpec::new(
        "zremrangebyscore",
        4,
        "write",
        (1, 1, 1),
        Kind::Keyed(zremrangebyscore),
    )
    .doc(
        G,
        "1.2.0",
        "Remove all members in a sorted set within the given scores",
    ),
    CommandSpec::new("zremrangebylex", 4, "write", (1, 1, 1), Kind::Keyed(zremrangebylex)).doc(
        G,
        "2.8.9",
        "Remove all members in a sorted set between the given lexicographical range",
    ),
    CommandSpec::new("zpopmin", -2, "write fast", (1, 1, 1), Kind::Keyed(zpopmin)).doc(
        G,
        "5.0.0",
        "Remove and return members with the lowest scores in a sorted set",
    ),
    CommandSpec::new("zpopmax", -2, "write fast", (1, 1, 1), Kind::Keyed(zpopmax)).doc(
        G,
        "5.0.0",
        "Remove and return members with the highest scores in a sorted set",
    ),
    CommandSpec::new("zmpop", -4, "write movablekeys", (0, 0, 0), Kind::Coordinated(zmpop))
        .key_fn(zmpop_keys)
        .doc(G, "7.0.0", "Remove and return members with scores in a sorted set"),
    CommandSpec::new("zrandmember", -2, "readonly", (1, 1, 1), Kind::Keyed(zrandmember)).doc(
        G,
        "6.2.0",
        "Get one or multiple random elements from a sorted set",
    ),
    CommandSpec::new(
        "zunion",
        -3,
        "readonly movablekeys",
        (0, 0, 0),
        Kind::Coordinated(zunion),
    )
    .key_fn(numkeys_at_1)
    .doc(G, "6.2.0", "Add multiple sorted sets"),
    CommandSpec::new(
        "zinter",
        -3,
        "readonly movablekeys",
        (0, 0, 0),
        Kind::Coordinated(zinter),
    )
    .key_fn(numkeys_at_1)
    .doc(G, "6.2.0", "Intersect multiple sorted sets"),
    CommandSpec::new(
        "zdiff",
        -3,
        "readonly movablekeys",
        (0, 0, 0),
        Kind::Coordinated(zdiff),
    )
    .key_fn(numkeys_at_1)
    .doc(G, "6.2.0", "Subtract multiple sorted sets"),
    CommandSpec::new(
        "zunionstore",
        -4,
        "write denyoom movablekeys",
        (1, 1, 1),
        Kind::Coordinated(zunionstore),
    )
    .key_fn(dest_numkeys_at_2)
    .doc(
        G,
        "2.0.0",
        "Add multiple sorted sets and store the resulting sorted set in a new key",
    ),
    CommandSpec::new(
        "zinterstore",
        -4,
        "write denyoom movablekeys",
        (1, 1, 1),
        Kind::Coordinated(zinterstore),
    )
    .key_fn(dest_numkeys_at_2)
    .doc(
        G,
        "2.0.0",
        "Intersect multiple sorted sets and store the resulting sorted set in a new key",
    ),
    CommandSpec::new(
        "zdiffstore",
        -4,
        "write denyoom movablekeys",
        (1, 1, 1),
        Kind::Coordinated(zdiffstore),
    )
    .key_fn(dest_numkeys_at_2)
    .doc(
        G,
        "6.2.0",
        "Subtract multiple sorted sets and store the resulting sorted set in a new key",
    ),
    CommandSpec::new(
        "zintercard",
        -3,
        "readonly movablekeys",
        (0, 0, 0),
        Kind::Coordinated(zintercard),
    )
    .key_fn(numkeys_at_1)
    .doc(
        G,
        "7.0.0",
        "Intersect multiple sorted sets and return the cardinality of the result",
    ),
    CommandSpec::new("zscan", -3, "readonly", (1, 1, 1), Kind::Keyed(zscan)).doc(
        G,
        "2.8.0",
        "Incrementally iterate sorted sets elements and associated scores",
    ),
];

// ---------------------------------------------------------------------------------------------
// Key positions of the numkeys forms

/// Keys `numkeys` at `idx` announces, when it is a usable count; none otherwise (the handler
/// then runs where the client is and replies the error).
fn numkeys_keys(args: &[Bytes], idx: usize) -> Vec<usize> {
    match args.get(idx).and_then(|a| num::parse_i64(a)) {
        Some(n) if n >= 1 && (n as u64) <= (args.len() - idx - 1) as u64 => {
            (idx + 1..idx + 1 + n as usize).collect()
        }
        _ => Vec::new(),
    }
}

fn numkeys_at_1(args: &[Bytes]) -> Vec<usize> {
    numkeys_keys(args, 1)
}

fn zmpop_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_keys(args, 1)
}

fn dest_numkeys_at_2(args: &[Bytes]) -> Vec<usize> {
    let mut keys = numkeys_keys(args, 2);
    if !keys.is_empty() {
        keys.insert(0, 1);
    }
    keys
}

// ---------------------------------------------------------------------------------------------
// Argument parsing

/// The argument up to its first NUL byte: Redis compares keywords with strcasecmp.
fn cstr(a: &[u8]) -> &[u8] {
    match a.iter().position(|&c| c == 0) {
        Some(i) => &a[..i],
        None => a,
    }
}

/// Case-insensitive keyword test, as strcasecmp sees the argument.
fn kw(a: &[u8], word: &str) -> bool {
    cstr(a).eq_ignore_ascii_case(word.as_bytes())
}

/// C's strtod on bytes: the value and how many bytes it read (0 when nothing parses). Leading
/// white space, a sign, decimal or hexadecimal forms, "inf", "infinity" and "nan" as glibc.
fn strtod(s: &[u8]) -> (f64, usize) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let start = i;
    let neg = matches!(s.get(i), Some(b'-'));
    if matches!(s.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &s[i..];
    let starts = |w: &[u8]| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w);
    if starts(b"infinity") {
        return (sign(f64::INFINITY), i + 8);
    }
    if starts(b"inf") {
        return (sign(f64::INFINITY), i + 3);
    }
    if starts(b"nan") {
        let mut end = i + 3;
        // "nan(chars)" reads whole when the parenthesis closes.
        if s.get(end) == Some(&b'(') {
            if let Some(close) = s[end..].iter().position(|&c| c == b')') {
                if s[end + 1..end + close]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    end += close + 1;
                }
            }
        }
        return (f64::NAN, end);
    }
    let hex_digit = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_hexdigit());
    if starts(b"0x")
        && (hex_digit(rest.get(2)) || (rest.get(2) == Some(&b'.') && hex_digit(rest.get(3))))
    {
        return hex_strtod(s, i + 2, neg);
    }
    let digits = |mut j: usize| {
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let int_end = digits(i);
    let mut end = int_end;
    let mut frac_digits = 0;
    if s.get(end) == Some(&b'.') {
        let f = digits(end + 1);
        frac_digits = f - end - 1;
        end = f;
    }
    if int_end == i && frac_digits == 0 {
        return (0.0, 0);
    }
    if matches!(s.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let e = digits(j);
        if e > j {
            end = e;
        }
    }
    let text = std::str::from_utf8(&s[start..end]).unwrap_or("0");
    (text.parse::<f64>().unwrap_or(0.0), end)
}

/// The hexadecimal form of strtod, from the first digit after "0x".
fn hex_strtod(s: &[u8], mut i: usize, neg: bool) -> (f64, usize) {
    let mut v = 0f64;
    let mut exp: i64 = 0;
    while let Some(d) = s.get(i).and_then(|c| (*c as char).to_digit(16)) {
        v = v * 16.0 + d as f64;
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = s.get(i).and_then(|c| (*c as char).to_digit(16)) {
            v = v * 16.0 + d as f64;
            exp -= 4;
            i += 1;
        }
    }
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let mut j = i + 1;
        let eneg = s.get(j) == Some(&b'-');
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let mut e: i64 = 0;
        let from = j;
        while let Some(c) = s.get(j).filter(|c| c.is_ascii_digit()) {
            e = (e * 10 + (c - b'0') as i64).min(100_000);
            j += 1;
        }
        if j > from {
            exp += if eneg { -e } else { e };
            i = j;
        }
    }
    let v = v * 2f64.powi(exp.clamp(-2000, 2000) as i32);
    (if neg { -v } else { v }, i)
}

/// Redis's getDoubleFromObject: the whole argument a number, no leading space, no overflow to
/// infinity or underflow to zero, not NaN.
pub fn strict_double(a: &[u8]) -> Option<f64> {
    if a.is_empty() || a[0].is_ascii_whitespace() || a[0] == 0x0b {
        return None;
    }
    let (v, used) = strtod(a);
    if used != a.len() {
        return None;
    }
    strtod_in_range(a, v)
}

/// C's strtod on bytes (see `strtod`), for the other families.
pub(crate) fn strtod_prefix(s: &[u8]) -> (f64, usize) {
    strtod(s)
}

/// `v`, which strtod read from all of `a`, unless strtod would have set ERANGE (digits that
/// overflow to infinity, non-zero digits that underflow to zero) or it is NaN.
pub(crate) fn strtod_in_range(a: &[u8], v: f64) -> Option<f64> {
    if v.is_nan() {
        return None;
    }
    let literal_inf = a.iter().any(|c| c.eq_ignore_ascii_case(&b'i'));
    if v.is_infinite() && !literal_inf {
        return None;
    }
    let hex = a.iter().any(|c| c.eq_ignore_ascii_case(&b'x'));
    if v == 0.0 && !hex {
        // Underflow: digits before the exponent that are not all zero.
        let mant = a.split(|c| *c == b'e' || *c == b'E').next().unwrap_or(a);
        if mant.iter().any(|c| (b'1'..=b'9').contains(c)) {
            return None;
        }
    }
    Some(v)
}

/// One end of a score range (zslParseRange): strtod must stop at the end or at a NUL byte.
fn score_bound(a: &[u8]) -> Option<(f64, bool)> {
    let (body, ex) = match a.first() {
        Some(b'(') => (&a[1..], true),
        _ => (a, false),
    };
    let (v, used) = strtod(body);
    if (used < body.len() && body[used] != 0) || v.is_nan() {
        return None;
    }
    Some((v, ex))
}

pub fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
    match (score_bound(min), score_bound(max)) {
        (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange {
            min,
            max,
            minex,
            maxex,
        }),
        _ => Err(Reply::err("ERR min or max is not a float")),
    }
}

/// One end of a lex range (zslParseLexRangeItem).
fn lex_bound(a: &[u8]) -> Option<(LexVal, bool)> {
    let lone = a.len() == 1 || a.get(1) == Some(&0);
    match a.first() {
        Some(b'+') if lone => Some((LexVal::Max, true)),
        Some(b'-') if lone => Some((LexVal::Min, true)),
        Some(b'(') => Some((LexVal::Str(Bytes::copy_from_slice(&a[1..])), true)),
        Some(b'[') => Some((LexVal::Str(Bytes::copy_from_slice(&a[1..])), false)),
        _ => None,
    }
}

pub fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, Reply> {
    match (lex_bound(min), lex_bound(max)) {
        (Some((min, minex)), Some((max, maxex))) => Ok(LexRange {
            min,
            max,
            minex,
            maxex,
        }),
        _ => Err(Reply::err("ERR min or max not valid string range item")),
    }
}

/// getPositiveLongFromObjectOrReply with Redis's default text for both failures.
fn positive(a: &[u8], msg: &'static str) -> Result<i64, Reply> {
    match num::parse_i64(a) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(Reply::err(msg)),
    }
}

// ---------------------------------------------------------------------------------------------
// Access

fn limits(ctx: &Ctx) -> PackLimits {
    ctx.store.limits.zset_pack
}

/// The sorted set at `key` for reading: Ok(None) if absent, WRONGTYPE for another type.
pub fn read_zset<'a>(ctx: &'a mut Ctx<'_>, key: &[u8]) -> Result<Option<&'a ZSet>, Reply> {
    ctx.read_as(key, Value::zset_mut).map(|o| o.map(|x| &*x))
}

/// The sorted set at `key` for writing.
pub fn write_zset<'a>(ctx: &'a mut Ctx<'_>, key: &[u8]) -> Result<Option<&'a mut ZSet>, Reply> {
    ctx.write_as(key, Value::zset_mut)
}

/// Delete `key` if its set was emptied by the running command.
fn drop_if_empty(ctx: &mut Ctx, key: &[u8]) {
    if matches!(ctx.lookup(key).map(|e| &e.value), Some(Value::ZSet(z)) if z.is_empty()) {
        ctx.delete(key);
    }
}

/// Owned (member, score) for a reply or a result set.
fn own(m: &[u8], s: f64) -> (Bytes, f64) {
    (Bytes::copy_from_slice(m), s)
}

/// A member list, with scores as pairs (nested in RESP3) when asked.
pub fn items_reply(items: Vec<(Bytes, f64)>, withscores: bool) -> Reply {
    if withscores {
        Reply::Pairs(
            items
                .into_iter()
                .map(|(m, s)| (Reply::Bulk(m), Reply::Double(s)))
                .collect(),
        )
    } else {
        Reply::Array(items.into_iter().map(|(m, _)| Reply::Bulk(m)).collect())
    }
}

/// Store a computed result at `dst` (replacing whatever is there, TTL dropped) or delete `dst`
/// when it is empty; replies the result's size. With `log_effect` (the coordinator's runs,
/// which bypass the per-command AOF hook) the effect is logged as DEL plus ZADDs.
pub fn store_result(
    ctx: &mut Ctx,
    dst: &[u8],
    mut items: Vec<(Bytes, f64)>,
    log_effect: bool,
) -> Reply {
    let n = items.len();
    if n == 0 {
        if ctx.delete(dst) && log_effect && ctx.feeding() {
            ctx.propagate(&[&b"DEL"[..], dst]);
        }
        return Reply::Int(0);
    }
    // Lex ranges over mixed scores can come out of (score, member) order.
    if items
        .windows(2)
        .any(|w| w[1].1 < w[0].1 || (w[1].1 == w[0].1 && w[1].0 < w[0].0))
    {
        sort_items(&mut items);
    }
    let z = ZSet::from_sorted(items, limits(ctx));
    if log_effect && ctx.feeding() {
        ctx.propagate(&[&b"DEL"[..], dst]);
        let mut cmds = Vec::new();
        rewrite_commands(dst, &z, &mut cmds);
        for c in cmds {
            ctx.propagate(&c);
        }
    }
    ctx.set(dst, Value::ZSet(z), 0);
    Reply::Int(n as i64)
}

fn sort_items(items: &mut [(Bytes, f64)]) {
    items.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
}

/// The commands that rebuild a sorted set (AOF rewrite): ZADD with at most 64 pairs each,
/// scores in %.17g, which reads back to the same double.
pub fn rewrite_commands(key: &[u8], z: &ZSet, out: &mut Vec<Vec<Bytes>>) {
    const PER_COMMAND: usize = 64;
    let mut cmd: Vec<Bytes> = Vec::new();
    for (m, s) in z.iter() {
        if cmd.is_empty() {
            cmd.push(Bytes::from_static(b"ZADD"));
            cmd.push(Bytes::copy_from_slice(key));
        }
        cmd.push(Bytes::from(num::fmt_double(s)));
        cmd.push(Bytes::copy_from_slice(m));
        if cmd.len() == 2 + 2 * PER_COMMAND {
            out.push(std::mem::take(&mut cmd));
        }
    }
    if !cmd.is_empty() {
        out.push(cmd);
    }
}

// ---------------------------------------------------------------------------------------------
// ZADD ZINCRBY

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

#[derive(PartialEq)]
enum Added {
    New,
    Updated,
    /// Present, score unchanged (still "processed": INCR replies the score).
    Same,
    /// Skipped by NX/XX/GT/LT.
    Nop,
}

/// zsetAdd: Err on a NaN result of INCR.
fn zset_add(
    z: &mut ZSet,
    score: f64,
    member: &[u8],
    f: AddFlags,
    lim: PackLimits,
) -> Result<(Added, f64), ()> {
    // One lookup of the member decides and applies (the closure runs once).
    let mut out = Ok((Added::Nop, score));
    z.upsert(member, lim, |cur| match cur {
        Some(cur) => {
            if f.nx {
                out = Ok((Added::Nop, cur));
                return None;
            }
            let mut s = score;
            if f.incr {
                s += cur;
                if s.is_nan() {
                    out = Err(());
                    return None;
                }
            }
            if (f.lt && s >= cur) || (f.gt && s <= cur) {
                out = Ok((Added::Nop, cur));
                None
            } else if s != cur {
                out = Ok((Added::Updated, s));
                Some(s)
            } else {
                out = Ok((Added::Same, s));
                None
            }
        }
        None if f.xx => None,
        None => {
            out = Ok((Added::New, score));
            Some(score)
        }
    });
    out
}

fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut f = AddFlags::default();
    let mut ch = false;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if kw(a, "nx") {
            f.nx = true;
        } else if kw(a, "xx") {
            f.xx = true;
        } else if kw(a, "ch") {
            ch = true;
        } else if kw(a, "incr") {
            f.incr = true;
        } else if kw(a, "gt") {
            f.gt = true;
        } else if kw(a, "lt") {
            f.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = args.len() - i;
    if rest == 0 || !rest.is_multiple_of(2) {
        return Reply::syntax();
    }
    if f.nx && f.xx {
        return Reply::err("ERR XX and NX options at the same time are not compatible");
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Reply::err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && rest > 2 {
        return Reply::err("ERR INCR option supports a single increment-element pair");
    }
    zadd_apply(ctx, &args[1], &args[i..], f, ch)
}

fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    zadd_apply(ctx, &args[1], &args[2..], f, false)
}

fn zadd_apply(ctx: &mut Ctx, key: &[u8], pairs: &[Bytes], f: AddFlags, ch: bool) -> Reply {
    // Every score is checked before anything changes: the command applies whole or not at all.
    // (On the stack for the usual single pair.)
    let mut one = [0.0];
    let mut many = Vec::new();
    let scores: &[f64] = if pairs.len() == 2 {
        match strict_double(&pairs[0]) {
            Some(s) => one[0] = s,
            None => return Reply::not_float(),
        }
        &one
    } else {
        many.reserve(pairs.len() / 2);
        for p in pairs.chunks_exact(2) {
            match strict_double(&p[0]) {
                Some(s) => many.push(s),
                None => return Reply::not_float(),
            }
        }
        &many
    };
    let lim = limits(ctx);
    let nothing = || if f.incr { Reply::Nil } else { Reply::Int(0) };
    // One lookup for an existing key; a new key is not touched again (its LFU counter starts
    // at LFU_INIT_VAL, as in Redis).
    let z = match write_zset(ctx, key) {
        Err(e) => return e,
        Ok(None) if f.xx => return nothing(),
        Ok(Some(z)) => z,
        Ok(None) => {
            let z = ZSet::with_hint(scores.len(), pairs[1].len(), lim);
            ctx.set(key, Value::ZSet(z), 0);
            match ctx.created_as(key, Value::zset_mut) {
                Ok(z) => z,
                Err(e) => return e,
            }
        }
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut nan = false;
    for (p, &score) in pairs.chunks_exact(2).zip(scores) {
        match zset_add(z, score, &p[1], f, lim) {
            Err(()) => {
                nan = true;
                break;
            }
            Ok((what, s)) => {
                match what {
                    Added::New => added += 1,
                    Added::Updated => updated += 1,
                    _ => {}
                }
                if what != Added::Nop {
                    processed += 1;
                }
                last = s;
            }
        }
    }
    let empty = z.is_empty();
    if empty {
        // Only a NaN on a new key's first pair could leave it empty; don't keep an empty set.
        ctx.delete(key);
    }
    if nan {
        return Reply::err("ERR resulting score is not a number (NaN)");
    }
    ctx.store.dirty += (added + updated) as u64;
    if f.incr {
        if processed > 0 {
            Reply::Double(last)
        } else {
            Reply::Nil
        }
    } else {
        Reply::Int(if ch { added + updated } else { added })
    }
}

// ---------------------------------------------------------------------------------------------
// ZREM ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK ZCOUNT ZLEXCOUNT

fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let z = match tri!(write_zset(ctx, key)) {
        Some(z) => z,
        None => return Reply::Int(0),
    };
    let mut n = 0;
    for m in &args[2..] {
        if z.remove(m).is_some() {
            n += 1;
        }
        if z.is_empty() {
            break;
        }
    }
    ctx.store.dirty += n;
    drop_if_empty(ctx, key);
    Reply::Int(n as i64)
}

fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Int(tri!(read_zset(ctx, &args[1])).map_or(0, |z| z.len() as i64))
}

fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match tri!(read_zset(ctx, &args[1])).and_then(|z| z.score(&args[2])) {
        Some(s) => Reply::Double(s),
        None => Reply::Nil,
    }
}

fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let z = tri!(read_zset(ctx, &args[1]));
    Reply::Array(
        args[2..]
            .iter()
            .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double))
            .collect(),
    )
}

fn rank_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> Reply {
    let Some(z) = tri!(read_zset(ctx, &args[1])) else {
        return Reply::Nil;
    };
    match z.rank(&args[2]) {
        Some(r) if rev => Reply::Int((z.len() - 1 - r) as i64),
        Some(r) => Reply::Int(r as i64),
        None => Reply::Nil,
    }
}

fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rank_generic(ctx, args, true)
}

fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let r = tri!(parse_score_range(&args[2], &args[3]));
    let Some(z) = tri!(read_zset(ctx, &args[1])) else {
        return Reply::Int(0);
    };
    let (s, e) = z.score_span(&r);
    Reply::Int((e - s) as i64)
}

fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let r = tri!(parse_lex_range(&args[2], &args[3]));
    let Some(z) = tri!(read_zset(ctx, &args[1])) else {
        return Reply::Int(0);
    };
    let (s, e) = z.lex_span(&r);
    Reply::Int((e - s) as i64)
}

// ---------------------------------------------------------------------------------------------
// ZRANGE and its older forms

#[derive(Clone, Copy, PartialEq, Debug)]
enum By {
    Auto,
    Rank,
    Score,
    Lex,
}

/// A parsed range request.
#[derive(Clone, Debug)]
pub struct RangeSpec {
    by: By,
    rev: bool,
    withscores: bool,
    offset: i64,
    /// -1: no limit.
    limit: i64,
    start: i64,
    end: i64,
    score: Option<ScoreRange>,
    lex: Option<LexRange>,
}

/// zrangeGenericCommand's parsing: options after `<src> <min> <max>` (at `first`), then the
/// range in the form BY… chose. `rev`/`by` are fixed by the older commands, Auto for ZRANGE.
fn parse_range(
    args: &[Bytes],
    first: usize,
    store: bool,
    by: By,
    rev: Option<bool>,
) -> Result<RangeSpec, Reply> {
    let mut spec = RangeSpec {
        by,
        rev: rev.unwrap_or(false),
        withscores: false,
        offset: 0,
        limit: -1,
        start: 0,
        end: 0,
        score: None,
        lex: None,
    };
    let mut j = first + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if !store && kw(a, "withscores") {
            spec.withscores = true;
        } else if kw(a, "limit") && left >= 2 {
            spec.offset = super::args::int(&args[j + 1])?;
            spec.limit = super::args::int(&args[j + 2])?;
            j += 2;
        } else if rev.is_none() && kw(a, "rev") {
            spec.rev = true;
        } else if spec.by == By::Auto && kw(a, "bylex") {
            spec.by = By::Lex;
        } else if spec.by == By::Auto && kw(a, "byscore") {
            spec.by = By::Score;
        } else {
            return Err(Reply::syntax());
        }
        j += 1;
    }
    if spec.by == By::Auto {
        spec.by = By::Rank;
    }
    if spec.limit != -1 && spec.by == By::Rank {
        return Err(Reply::err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if spec.withscores && spec.by == By::Lex {
        return Err(Reply::err(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (&args[first + 1], &args[first + 2]);
    if spec.rev && spec.by != By::Rank {
        // Reverse score and lex ranges are given as max then min.
        std::mem::swap(&mut lo, &mut hi);
    }
    match spec.by {
        By::Score => spec.score = Some(parse_score_range(lo, hi)?),
        By::Lex => spec.lex = Some(parse_lex_range(lo, hi)?),
        _ => {
            spec.start = super::args::int(lo)?;
            spec.end = super::args::int(hi)?;
        }
    }
    Ok(spec)
}

/// The members a range request selects, in reply order.
fn range_items(z: &ZSet, spec: &RangeSpec) -> Vec<(Bytes, f64)> {
    let len = z.len() as i64;
    match spec.by {
        By::Rank | By::Auto => {
            let (mut start, mut end) = (spec.start, spec.end);
            if start < 0 {
                start += len;
            }
            if end < 0 {
                end += len;
            }
            start = start.max(0);
            if start > end || start >= len {
                return Vec::new();
            }
            end = end.min(len - 1);
            let n = (end - start + 1) as usize;
            let from = if spec.rev { len - 1 - start } else { start } as usize;
            z.iter_from(from, spec.rev)
                .take(n)
                .map(|(m, s)| own(m, s))
                .collect()
        }
        By::Score | By::Lex => {
            let (s, e) = match (&spec.score, &spec.lex) {
                (Some(r), _) => z.score_span(r),
                (_, Some(r)) => z.lex_span(r),
                _ => (0, 0),
            };
            // Redis walks `offset` members first: a negative offset walks off the end.
            if spec.offset < 0 || e <= s {
                return Vec::new();
            }
            let offset = spec.offset as u64;
            let n = (e - s) as u64;
            if offset >= n {
                return Vec::new();
            }
            let take = if spec.limit < 0 {
                n - offset
            } else {
                (spec.limit as u64).min(n - offset)
            } as usize;
            let from = if spec.rev {
                e - 1 - offset as usize
            } else {
                s + offset as usize
            };
            z.iter_from(from, spec.rev)
                .take(take)
                .map(|(m, s)| own(m, s))
                .collect()
        }
    }
}

fn range_cmd(ctx: &mut Ctx, args: &[Bytes], by: By, rev: Option<bool>) -> Reply {
    let spec = tri!(parse_range(args, 1, false, by, rev));
    let Some(z) = tri!(read_zset(ctx, &args[1])) else {
        return Reply::Array(Vec::new());
    };
    let items = range_items(z, &spec);
    items_reply(items, spec.withscores)
}

fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_cmd(ctx, args, By::Auto, None)
}

fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_cmd(ctx, args, By::Rank, Some(true))
}

fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_cmd(ctx, args, By::Score, Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_cmd(ctx, args, By::Score, Some(true))
}

fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_cmd(ctx, args, By::Lex, Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_cmd(ctx, args, By::Lex, Some(true))
}

/// ZRANGESTORE's parsing (for the coordinator too).
pub fn parse_rangestore(args: &[Bytes]) -> Result<RangeSpec, Reply> {
    parse_range(args, 2, true, By::Auto, None)
}

/// ZRANGESTORE's source step: the selected members, or nothing for a missing key.
pub fn rangestore_source(
    ctx: &mut Ctx,
    src: &[u8],
    spec: &RangeSpec,
) -> Result<Vec<(Bytes, f64)>, Reply> {
    Ok(read_zset(ctx, src)?.map_or_else(Vec::new, |z| range_items(z, spec)))
}

fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let spec = tri!(parse_rangestore(args));
    let items = tri!(rangestore_source(ctx, &args[2], &spec));
    store_result(ctx, &args[1], items, false)
}

// ---------------------------------------------------------------------------------------------
// ZREMRANGEBY*

fn zremrange(ctx: &mut Ctx, args: &[Bytes], by: By) -> Reply {
    let (mut start, mut end) = (0i64, 0i64);
    let mut score = None;
    let mut lex = None;
    match by {
        By::Score => score = Some(tri!(parse_score_range(&args[2], &args[3]))),
        By::Lex => lex = Some(tri!(parse_lex_range(&args[2], &args[3]))),
        _ => {
            start = tri!(super::args::int(&args[2]));
            end = tri!(super::args::int(&args[3]));
        }
    }
    let key = &args[1];
    let Some(z) = tri!(write_zset(ctx, key)) else {
        return Reply::Int(0);
    };
    let (s, e) = match (score, lex) {
        (Some(r), _) => z.score_span(&r),
        (_, Some(r)) => z.lex_span(&r),
        _ => {
            let len = z.len() as i64;
            if start < 0 {
                start += len;
            }
            if end < 0 {
                end += len;
            }
            start = start.max(0);
            if start > end || start >= len {
                return Reply::Int(0);
            }
            (start as usize, (end.min(len - 1) + 1) as usize)
        }
    };
    let n = z.remove_span(s, e).len();
    ctx.store.dirty += n as u64;
    drop_if_empty(ctx, key);
    Reply::Int(n as i64)
}

fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zremrange(ctx, args, By::Rank)
}

fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zremrange(ctx, args, By::Score)
}

fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zremrange(ctx, args, By::Lex)
}

// ---------------------------------------------------------------------------------------------
// ZPOPMIN ZPOPMAX ZMPOP

/// Pop up to `count` members from the low (or high, `max`) end of the set at `key`: None when
/// the key is absent. Deletes the key when emptied.
pub fn pop_from(
    ctx: &mut Ctx,
    key: &[u8],
    max: bool,
    count: u64,
) -> Result<Option<Vec<(Bytes, f64)>>, Reply> {
    let Some(z) = write_zset(ctx, key)? else {
        return Ok(None);
    };
    let len = z.len();
    let n = (count.min(len as u64)) as usize;
    let mut out = if max {
        z.remove_span(len - n, len)
    } else {
        z.remove_span(0, n)
    };
    if max {
        out.reverse();
    }
    let emptied = z.is_empty();
    ctx.store.dirty += n as u64;
    if emptied {
        ctx.delete(key);
    }
    Ok(Some(out))
}

fn zpop(ctx: &mut Ctx, args: &[Bytes], max: bool) -> Reply {
    if args.len() > 3 {
        return Reply::syntax();
    }
    let count = match args.get(2) {
        Some(a) => Some(tri!(positive(
            a,
            "ERR value is out of range, must be positive"
        ))),
        None => None,
    };
    // WRONGTYPE wins over a zero count.
    if count == Some(0) {
        tri!(read_type_only(ctx, &args[1]));
        return Reply::Array(Vec::new());
    }
    match tri!(pop_from(ctx, &args[1], max, count.unwrap_or(1) as u64)) {
        None => Reply::Array(Vec::new()),
        Some(items) if count.is_some() => items_reply(items, true),
        Some(items) => Reply::Array(
            items
                .into_iter()
                .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)])
                .collect(),
        ),
    }
}

/// Whether `key` holds a sorted set (false if absent), WRONGTYPE otherwise; a write lookup.
fn read_type_only(ctx: &mut Ctx, key: &[u8]) -> Result<bool, Reply> {
    Ok(write_zset(ctx, key)?.is_some())
}

fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zpop(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zpop(ctx, args, true)
}

/// ZMPOP's arguments: the key positions, MAX or MIN, and the count.
pub struct MpopSpec {
    pub keys: std::ops::Range<usize>,
    pub max: bool,
    pub count: u64,
}

pub fn parse_zmpop(args: &[Bytes]) -> Result<MpopSpec, Reply> {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let n = match num::parse_i64(&args[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(Reply::err(NUMKEYS)),
    };
    let where_idx = 2u64.saturating_add(n);
    if where_idx >= args.len() as u64 {
        return Err(Reply::syntax());
    }
    let where_idx = where_idx as usize;
    let max = if kw(&args[where_idx], "min") {
        false
    } else if kw(&args[where_idx], "max") {
        true
    } else {
        return Err(Reply::syntax());
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && kw(&args[j], "count") && j + 1 < args.len() {
            j += 1;
            match num::parse_i64(&args[j]) {
                Some(c) if c >= 1 => count = Some(c as u64),
                _ => return Err(Reply::err("ERR count should be greater than 0")),
            }
        } else {
            return Err(Reply::syntax());
        }
        j += 1;
    }
    Ok(MpopSpec {
        keys: 2..where_idx,
        max,
        count: count.unwrap_or(1),
    })
}

/// ZMPOP's reply for what was popped from `key`, and its AOF form: ZPOPMIN/ZPOPMAX key count,
/// as Redis propagates it.
pub fn zmpop_reply(ctx: &mut Ctx, key: &[u8], spec: &MpopSpec, items: Vec<(Bytes, f64)>) -> Reply {
    let name: &[u8] = if spec.max { b"ZPOPMAX" } else { b"ZPOPMIN" };
    let count = spec.count.to_string();
    ctx.propagate(&[name, key, count.as_bytes()]);
    Reply::Array(vec![
        Reply::Bulk(Bytes::copy_from_slice(key)),
        Reply::Array(
            items
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                .collect(),
        ),
    ])
}

fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let spec = tri!(parse_zmpop(args));
    for key in &args[spec.keys.clone()] {
        if let Some(items) = tri!(pop_from(ctx, key, spec.max, spec.count)) {
            return zmpop_reply(ctx, key, &spec, items);
        }
    }
    ctx.propagate_nothing();
    Reply::NilArray
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER

fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() < 3 {
        return match tri!(read_zset(ctx, &args[1])).and_then(|z| z.random()) {
            Some((m, _)) => Reply::copy_of(m),
            None => Reply::Nil,
        };
    }
    let l = match num::parse_i64(&args[2]) {
        None => return Reply::not_int(),
        Some(i64::MIN) => {
            return Reply::err(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            )
        }
        Some(l) => l,
    };
    if args.len() > 4 || (args.len() == 4 && !kw(&args[3], "withscores")) {
        return Reply::syntax();
    }
    let withscores = args.len() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Reply::err("ERR value is out of range");
    }
    if l < 0 {
        if let Err(e) = super::args::random_count(l.unsigned_abs()) {
            return e;
        }
    }
    let Some(z) = tri!(read_zset(ctx, &args[1])) else {
        return Reply::Array(Vec::new());
    };
    let size = z.len();
    let count = l.unsigned_abs();
    if count == 0 || size == 0 {
        return Reply::Array(Vec::new());
    }
    let items: Vec<(Bytes, f64)> = if l < 0 || count == 1 {
        // With repetitions: independent draws.
        (0..count)
            .filter_map(|_| z.random().map(|(m, s)| own(m, s)))
            .collect()
    } else if count >= size as u64 {
        // The whole set, highest first (as Redis 7.0 walks it).
        z.iter_from(size - 1, true)
            .map(|(m, s)| own(m, s))
            .collect()
    } else {
        // Distinct members in random order: a partial shuffle of the positions.
        let count = count as usize;
        let mut idx: Vec<usize> = (0..size).collect();
        for i in 0..count {
            let j = fastrand::usize(i..size);
            idx.swap(i, j);
        }
        idx[..count]
            .iter()
            .filter_map(|&i| z.slot(i).map(|(m, s)| own(m, s)))
            .collect()
    };
    items_reply(items, withscores)
}

// ---------------------------------------------------------------------------------------------
// ZUNION ZINTER ZDIFF (…STORE) ZINTERCARD

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Agg {
    Sum,
    Min,
    Max,
}

/// Options of the set operations.
pub struct SetOpts {
    weights: Vec<f64>,
    agg: Agg,
    pub withscores: bool,
    limit: u64,
}

/// What a set-operation command is, from its name.
pub struct SetOpCmd {
    pub op: SetOp,
    /// The destination key's position (the STORE forms).
    pub dst: Option<usize>,
    pub card: bool,
    numkeys_idx: usize,
    name: &'static str,
}

pub fn setop_cmd(name: &str) -> Option<SetOpCmd> {
    let (op, store, card, name) = match name {
        "zunion" => (SetOp::Union, false, false, "zunion"),
        "zinter" => (SetOp::Inter, false, false, "zinter"),
        "zdiff" => (SetOp::Diff, false, false, "zdiff"),
        "zunionstore" => (SetOp::Union, true, false, "zunionstore"),
        "zinterstore" => (SetOp::Inter, true, false, "zinterstore"),
        "zdiffstore" => (SetOp::Diff, true, false, "zdiffstore"),
        "zintercard" => (SetOp::Inter, false, true, "zintercard"),
        _ => return None,
    };
    Some(SetOpCmd {
        op,
        dst: store.then_some(1),
        card,
        numkeys_idx: if store { 2 } else { 1 },
        name,
    })
}

impl SetOpCmd {
    /// The input keys' positions, with Redis's errors for a bad numkeys.
    pub fn keys(&self, args: &[Bytes]) -> Result<std::ops::Range<usize>, Reply> {
        let n = super::args::int(&args[self.numkeys_idx])?;
        if n < 1 {
            return Err(Reply::err(format!(
                "ERR at least 1 input key is needed for '{}' command",
                self.name
            )));
        }
        let first = self.numkeys_idx + 1;
        if n as u64 > (args.len() - first) as u64 {
            return Err(Reply::syntax());
        }
        Ok(first..first + n as usize)
    }

    /// The options after the keys (parsed after the keys are looked up, as Redis does).
    pub fn options(&self, args: &[Bytes], keys: &std::ops::Range<usize>) -> Result<SetOpts, Reply> {
        let n = keys.len();
        let mut o = SetOpts {
            weights: vec![1.0; n],
            agg: Agg::Sum,
            withscores: false,
            limit: 0,
        };
        let mut j = keys.end;
        while j < args.len() {
            let remaining = args.len() - j;
            let a = &args[j];
            if self.op != SetOp::Diff && !self.card && remaining > n && kw(a, "weights") {
                for (i, w) in args[j + 1..j + 1 + n].iter().enumerate() {
                    o.weights[i] = strict_double(w)
                        .ok_or_else(|| Reply::err("ERR weight value is not a float"))?;
                }
                j += 1 + n;
            } else if self.op != SetOp::Diff && !self.card && remaining >= 2 && kw(a, "aggregate") {
                let v = &args[j + 1];
                o.agg = if kw(v, "sum") {
                    Agg::Sum
                } else if kw(v, "min") {
                    Agg::Min
                } else if kw(v, "max") {
                    Agg::Max
                } else {
                    return Err(Reply::syntax());
                };
                j += 2;
            } else if self.dst.is_none() && !self.card && kw(a, "withscores") {
                o.withscores = true;
                j += 1;
            } else if self.card && remaining >= 2 && kw(a, "limit") {
                o.limit = positive(&args[j + 1], "ERR LIMIT can't be negative")? as u64;
                j += 2;
            } else {
                return Err(Reply::syntax());
            }
        }
        Ok(o)
    }
}

fn aggregate(target: &mut f64, v: f64, agg: Agg) {
    match agg {
        Agg::Sum => {
            *target += v;
            // inf + -inf is NaN; Redis makes it 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Agg::Min => {
            if v < *target {
                *target = v
            }
        }
        Agg::Max => {
            if v > *target {
                *target = v
            }
        }
    }
}

/// Weighted score; NaN (0 * inf) counts as 0.
fn weighted(s: f64, w: f64) -> f64 {
    let v = s * w;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// An input of ZUNION/ZINTER/ZDIFF (and their STORE forms, ZINTERCARD): a sorted set, or a
/// plain set whose members all score 1, as Redis takes them.
#[derive(Clone, Copy)]
pub enum SetOpInput<'a> {
    Z(&'a ZSet),
    S(&'a Set),
}

/// A member handed out by `SetOpInput::entries`: shared from the store, or made (intsets).
type Member<'a> = std::borrow::Cow<'a, [u8]>;

impl<'a> SetOpInput<'a> {
    /// The input held by a value; None for another type.
    pub fn of(v: &'a Value) -> Option<SetOpInput<'a>> {
        match v {
            Value::ZSet(z) => Some(SetOpInput::Z(z)),
            Value::Set(s) => Some(SetOpInput::S(s)),
            _ => None,
        }
    }

    fn len(&self) -> usize {
        match self {
            SetOpInput::Z(z) => z.len(),
            SetOpInput::S(s) => s.len(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            SetOpInput::Z(z) => z.score(m),
            SetOpInput::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn entries(&self) -> Box<dyn Iterator<Item = (Member<'a>, f64)> + 'a> {
        use std::borrow::Cow;
        match *self {
            SetOpInput::Z(z) => Box::new(z.iter().map(|(m, s)| (Cow::Borrowed(m), s))),
            SetOpInput::S(Set::Table(t)) => {
                Box::new(t.iter().map(|m| (Cow::Owned(m.as_bytes().to_vec()), 1.0)))
            }
            SetOpInput::S(Set::Ints(v)) => Box::new(v.iter().map(|i| {
                let m = itoa::Buffer::new().format(i).as_bytes().to_vec();
                (Cow::Owned(m), 1.0)
            })),
        }
    }
}

/// A copy of an input, to carry across shards.
pub enum OwnedInput {
    Z(ZSet),
    S(Set),
}

impl OwnedInput {
    pub fn as_input(&self) -> SetOpInput<'_> {
        match self {
            OwnedInput::Z(z) => SetOpInput::Z(z),
            OwnedInput::S(s) => SetOpInput::S(s),
        }
    }
}

/// Look an input key up (expiring, counting): Ok(None) if absent, WRONGTYPE unless it holds a
/// sorted set or a set.
fn read_setop_input<'a>(ctx: &'a mut Ctx<'_>, key: &[u8]) -> Result<Option<&'a Value>, Reply> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) if matches!(e.value, Value::ZSet(_) | Value::Set(_)) => Ok(Some(&e.value)),
        Some(_) => Err(Reply::wrongtype()),
    }
}

/// A copy of the input at `key` (for the coordinator).
pub fn fetch_setop_input(ctx: &mut Ctx, key: &[u8]) -> Result<Option<OwnedInput>, Reply> {
    Ok(match read_setop_input(ctx, key)? {
        Some(Value::ZSet(z)) => Some(OwnedInput::Z((*z).clone())),
        Some(Value::Set(s)) => Some(OwnedInput::S(s.clone())),
        _ => None,
    })
}

fn member_bytes(m: Member) -> Bytes {
    match m {
        std::borrow::Cow::Borrowed(b) => Bytes::copy_from_slice(b),
        std::borrow::Cow::Owned(b) => Bytes::from(b),
    }
}

/// The result of a set operation over the inputs (None: key absent), in (score, member)
/// order; for ZINTERCARD only the count matters (`card`).
pub fn setop_compute(
    op: SetOp,
    inputs: &[Option<SetOpInput>],
    o: &SetOpts,
    card: bool,
) -> (Vec<(Bytes, f64)>, u64) {
    let len = |i: usize| inputs[i].map_or(0, |z| z.len());
    let mut out: Vec<(Bytes, f64)> = Vec::new();
    let mut count = 0u64;
    match op {
        SetOp::Inter => {
            // Smallest first (stable, as Redis's qsort on these small arrays), probing the rest.
            let mut order: Vec<usize> = (0..inputs.len()).collect();
            order.sort_by_key(|&i| len(i));
            let (first, rest) = (order[0], &order[1..]);
            if let Some(z0) = inputs[first].filter(|_| len(first) > 0) {
                for (m, s) in z0.entries() {
                    let mut score = weighted(s, o.weights[first]);
                    let mut all = true;
                    for &j in rest {
                        match inputs[j].and_then(|z| z.score(&m)) {
                            Some(v) => aggregate(&mut score, weighted(v, o.weights[j]), o.agg),
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if !all {
                        continue;
                    }
                    if card {
                        count += 1;
                        if o.limit > 0 && count >= o.limit {
                            break;
                        }
                    } else {
                        out.push((member_bytes(m), score));
                    }
                }
            }
        }
        SetOp::Union => {
            let mut order: Vec<usize> = (0..inputs.len()).collect();
            order.sort_by_key(|&i| len(i));
            let mut acc: indexmap::IndexMap<Bytes, f64, ahash::RandomState> =
                indexmap::IndexMap::default();
            for &i in &order {
                let Some(z) = inputs[i] else { continue };
                for (m, s) in z.entries() {
                    let v = weighted(s, o.weights[i]);
                    match acc.get_mut(&m[..]) {
                        Some(t) => aggregate(t, v, o.agg),
                        None => {
                            acc.insert(member_bytes(m), v);
                        }
                    }
                }
            }
            out = acc.into_iter().collect();
        }
        SetOp::Diff => {
            if let Some(z0) = inputs[0] {
                for (m, s) in z0.entries() {
                    if !inputs[1..]
                        .iter()
                        .any(|z| z.is_some_and(|z| z.score(&m).is_some()))
                    {
                        out.push((member_bytes(m), s));
                    }
                }
            }
        }
    }
    if !card {
        sort_items(&mut out);
        count = out.len() as u64;
    }
    (out, count)
}

/// The reply (or stored result) of a set operation once its inputs are at hand.
pub fn setop_finish(
    c: &SetOpCmd,
    inputs: &[Option<SetOpInput>],
    o: &SetOpts,
) -> Result<Vec<(Bytes, f64)>, u64> {
    let (items, count) = setop_compute(c.op, inputs, o, c.card);
    if c.card {
        Err(count)
    } else {
        Ok(items)
    }
}

fn setop(ctx: &mut Ctx, args: &[Bytes], name: &str) -> Reply {
    let Some(c) = setop_cmd(name) else {
        return Reply::err("ERR internal error");
    };
    let keys = tri!(c.keys(args));
    // Look every input up first (expiring, counting, WRONGTYPE), as Redis does before options.
    for k in &args[keys.clone()] {
        tri!(read_setop_input(ctx, k));
    }
    let o = tri!(c.options(args, &keys));
    let result = {
        let db = ctx.db();
        let inputs: Vec<Option<SetOpInput>> = args[keys.clone()]
            .iter()
            .map(|k| db.get_raw(k).and_then(|e| SetOpInput::of(&e.value)))
            .collect();
        setop_finish(&c, &inputs, &o)
    };
    match (result, c.dst) {
        (Err(count), _) => Reply::Int(count as i64),
        (Ok(items), Some(d)) => store_result(ctx, &args[d], items, false),
        (Ok(items), None) => items_reply(items, o.withscores),
    }
}

fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    setop(ctx, args, "zunion")
}

fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    setop(ctx, args, "zinter")
}

fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    setop(ctx, args, "zdiff")
}

fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    setop(ctx, args, "zunionstore")
}

fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    setop(ctx, args, "zinterstore")
}

fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    setop(ctx, args, "zdiffstore")
}

fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    setop(ctx, args, "zintercard")
}

// ---------------------------------------------------------------------------------------------
// ZSCAN

fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let cursor = match crate::commands::args::cursor(&args[2]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let empty = || {
        Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"0")),
            Reply::Array(Vec::new()),
        ])
    };
    // The key is looked up before the options are read, as Redis does.
    let Some(z) = tri!(read_zset(ctx, &args[1])) else {
        return empty();
    };
    let sa = tri!(super::keyspace::parse_scan_args(args, 3));
    if sa.type_filter.is_some() {
        return Reply::syntax();
    }
    let pattern = sa.pattern.as_deref();
    let mut found = Vec::new();
    let pos = usize::try_from(cursor).unwrap_or(usize::MAX);
    let next = z.scan(pos, sa.count, |m, s| {
        if pattern.is_none_or(|p| crate::util::glob::glob_match(p, m, false)) {
            found.push(Reply::copy_of(m));
            found.push(Reply::Bulk(Bytes::from(num::fmt_double(s))));
        }
    });
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(found),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_forms() {
        assert_eq!(strtod(b" 1.5x"), (1.5, 4));
        assert_eq!(strtod(b""), (0.0, 0));
        assert_eq!(strtod(b"0x10"), (16.0, 4));
        assert_eq!(strtod(b"-inf"), (f64::NEG_INFINITY, 4));
        assert_eq!(strtod(b"1e"), (1.0, 1));
        assert_eq!(strtod(b".5"), (0.5, 2));
        assert!(strtod(b"nan").0.is_nan());
    }

    #[test]
    fn strict_doubles() {
        assert_eq!(strict_double(b"1.5"), Some(1.5));
        assert_eq!(strict_double(b"0x10"), Some(16.0));
        assert_eq!(strict_double(b"+inf"), Some(f64::INFINITY));
        assert_eq!(strict_double(b"0e5"), Some(0.0));
        for bad in [&b""[..], b" 1", b"1e400", b"1e-400", b"nan", b"1x", b"abc"] {
            assert_eq!(strict_double(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn range_bounds() {
        assert_eq!(score_bound(b"(1"), Some((1.0, true)));
        assert_eq!(score_bound(b""), Some((0.0, false)));
        assert_eq!(score_bound(b"1\0junk"), Some((1.0, false)));
        assert_eq!(score_bound(b"1a"), None);
        assert_eq!(lex_bound(b"+"), Some((LexVal::Max, true)));
        assert_eq!(lex_bound(b"+a"), None);
        assert_eq!(lex_bound(b""), None);
        assert_eq!(
            lex_bound(b"[ab"),
            Some((LexVal::Str(Bytes::from_static(b"ab")), false))
        );
    }

    #[test]
    fn rewrite_chunks_of_64() {
        let mut z = ZSet::new();
        for i in 0..130 {
            z.insert(
                format!("m{i}").as_bytes(),
                i as f64 / 3.0,
                PackLimits::default(),
            );
        }
        let mut out = Vec::new();
        rewrite_commands(b"k", &z, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].len(), 2 + 128);
        assert_eq!(out[2].len(), 2 + 4);
        assert_eq!(strict_double(&out[0][4]), Some(1.0 / 3.0));
    }
}
