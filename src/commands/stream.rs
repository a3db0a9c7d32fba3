//! The stream family (Redis 7.0 `t_stream.c`).
//!
//! Replies, error texts and the order of checks follow Redis 7.0.15. What goes to the AOF
//! follows Redis's propagation: XADD with `*`/`ms-*` is logged with the ID it generated and an
//! approximate (`~`) trim as the exact (`=`) trim it turned out to be; XREADGROUP, XCLAIM and
//! XAUTOCLAIM log XCLAIM … FORCE JUSTID LASTID per pending entry they touched (plus XGROUP
//! SETID / CREATECONSUMER where Redis emits them), never themselves.
//!
//! XREAD/XREADGROUP with BLOCK are run by the connection's task (`blocks`, then
//! `shard/blocking.rs`), which serves what is there as the plain command does and otherwise
//! waits; a client blocked on streams is served from here (`blocked_check`, `blocked_serve`:
//! Redis's serveClientsBlockedOnStreamKey) when XADD, XGROUP DESTROY or, for XREADGROUP, the
//! key's removal mark the key ready.

use super::args::is;
use super::blocking::Check;
use super::{CommandSpec, Kind};
use crate::protocol::reply::Reply;
use crate::store::notify::Class;
use crate::store::stream::{
    AddError, Group, PendingEntry, Stream, StreamId, Trim, INVALID_ENTRIES_READ,
};
use crate::store::{Ctx, Value};
use bytes::Bytes;
use std::borrow::Cow;

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
        "xadd",
        -5,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(xadd),
    )
    .doc("stream", "5.0.0", "Appends a new entry to a stream"),
    CommandSpec::new("xlen", 2, "readonly fast", (1, 1, 1), Kind::Keyed(xlen)).doc(
        "stream",
        "5.0.0",
        "Return the number of entries in a stream",
    ),
    CommandSpec::new("xrange", -4, "readonly", (1, 1, 1), Kind::Keyed(xrange)).doc(
        "stream",
        "5.0.0",
        "Return a range of elements in a stream, with IDs matching the specified IDs interval",
    ),
    CommandSpec::new("xrevrange", -4, "readonly", (1, 1, 1), Kind::Keyed(xrevrange)).doc(
        "stream",
        "5.0.0",
        "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE",
    ),
    CommandSpec::new("xdel", -3, "write fast", (1, 1, 1), Kind::Keyed(xdel)).doc(
        "stream",
        "5.0.0",
        "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.",
    ),
    CommandSpec::new("xtrim", -4, "write", (1, 1, 1), Kind::Keyed(xtrim)).doc(
        "stream",
        "5.0.0",
        "Trims the stream to (approximately if '~' is passed) a certain size",
    ),
    CommandSpec::new(
        "xread",
        -4,
        "readonly blocking",
        (0, 0, 0),
        Kind::Coordinated(xread),
    )
    .key_fn(xread_keys)
    .doc(
        "stream",
        "5.0.0",
        "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.",
    ),
    CommandSpec::new(
        "xreadgroup",
        -7,
        "write blocking",
        (0, 0, 0),
        Kind::Coordinated(xreadgroup),
    )
    .key_fn(xread_keys)
    .doc(
        "stream",
        "5.0.0",
        "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.",
    ),
    CommandSpec::new("xgroup", -2, "write", (0, 0, 0), Kind::Keyed(xgroup))
        .key_fn(key_at_2)
        .doc("stream", "5.0.0", "A container for consumer groups commands"),
    CommandSpec::new(
        "xsetid",
        -3,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(xsetid),
    )
    .doc(
        "stream",
        "5.0.0",
        "An internal command for replicating stream values",
    ),
    CommandSpec::new("xack", -4, "write fast", (1, 1, 1), Kind::Keyed(xack)).doc(
        "stream",
        "5.0.0",
        "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
    ),
    CommandSpec::new("xpending", -3, "readonly", (1, 1, 1), Kind::Keyed(xpending)).doc(
        "stream",
        "5.0.0",
        "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.",
    ),
    CommandSpec::new("xclaim", -6, "write fast", (1, 1, 1), Kind::Keyed(xclaim)).doc(
        "stream",
        "5.0.0",
        "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.",
    ),
    CommandSpec::new(
        "xautoclaim",
        -6,
        "write fast",
        (1, 1, 1),
        Kind::Keyed(xautoclaim),
    )
    .doc(
        "stream",
        "6.2.0",
        "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.",
    ),
    CommandSpec::new("xinfo", -2, "readonly", (0, 0, 0), Kind::Keyed(xinfo))
        .key_fn(key_at_2)
        .doc("stream", "5.0.0", "A container for stream introspection commands"),
];

// ---------------------------------------------------------------------------------------------
// Keys, IDs and lookups

/// XGROUP/XINFO: the key of the key-taking subcommands is the third argument.
fn key_at_2(args: &[Bytes]) -> Vec<usize> {
    if args.len() >= 3 && !is(&args[1], "help") {
        vec![2]
    } else {
        Vec::new()
    }
}

/// XREAD/XREADGROUP: the keys after STREAMS (the first half of what follows), as Redis's
/// xreadGetKeys finds them; none when the command is malformed (its handler says why).
pub fn xread_keys(args: &[Bytes]) -> Vec<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if is(a, "block") || is(a, "count") {
            i += 1;
        } else if is(a, "group") {
            i += 2;
        } else if is(a, "streams") {
            let num = args.len() - i - 1;
            if num == 0 || !num.is_multiple_of(2) {
                return Vec::new();
            }
            return (i + 1..i + 1 + num / 2).collect();
        }
        i += 1;
    }
    Vec::new()
}

const ERR_INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// C's strtoull over the whole string, as Redis's string2ull falls back to it: leading
/// blanks, a sign (a minus negates, modulo 2^64), at least one digit, nothing after.
fn strtoull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::util::num::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    if i == s.len() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &s[i..] {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Redis's streamGenericParseIDOrReply: `ms-seq`, `ms` (seq = `missing`), `-`/`+` unless
/// strict, and `ms-*` where `partial` allows it. Returns (id, seq given).
fn parse_id_full(
    a: &[u8],
    missing: u64,
    strict: bool,
    partial: bool,
) -> Result<(StreamId, bool), Reply> {
    let bad = || Reply::err(ERR_INVALID_ID);
    if a.len() > 127 {
        return Err(bad());
    }
    // The C string ends at the first NUL.
    let a = &a[..memchr::memchr(0, a).unwrap_or(a.len())];
    if a == b"-" || a == b"+" {
        if strict {
            return Err(bad());
        }
        return Ok((
            if a == b"-" {
                StreamId::MIN
            } else {
                StreamId::MAX
            },
            true,
        ));
    }
    let (ms, seq) = match memchr::memchr(b'-', a) {
        Some(d) => (&a[..d], Some(&a[d + 1..])),
        None => (a, None),
    };
    let ms = strtoull(ms).ok_or_else(bad)?;
    match seq {
        None => Ok((StreamId::new(ms, missing), true)),
        Some(b"*") if partial => Ok((StreamId::new(ms, 0), false)),
        Some(s) => Ok((StreamId::new(ms, strtoull(s).ok_or_else(bad)?), true)),
    }
}

fn parse_id(a: &[u8], missing: u64) -> Result<StreamId, Reply> {
    parse_id_full(a, missing, false, false).map(|r| r.0)
}

fn parse_strict(a: &[u8], missing: u64) -> Result<StreamId, Reply> {
    parse_id_full(a, missing, true, false).map(|r| r.0)
}

/// A range bound: `(id` is exclusive (and strict). Returns (id, exclusive).
fn parse_interval(a: &[u8], missing: u64) -> Result<(StreamId, bool), Reply> {
    if a.len() > 1 && a[0] == b'(' {
        Ok((parse_strict(&a[1..], missing)?, true))
    } else {
        Ok((parse_id(a, missing)?, false))
    }
}

/// Start and end of a range, with the exclusive forms applied.
fn parse_range(start: &[u8], end: &[u8]) -> Result<(StreamId, StreamId), Reply> {
    let (mut s, sx) = parse_interval(start, 0)?;
    if sx {
        s = s
            .incr()
            .ok_or_else(|| Reply::err("ERR invalid start ID for the interval"))?;
    }
    let (mut e, ex) = parse_interval(end, u64::MAX)?;
    if ex {
        e = e
            .decr()
            .ok_or_else(|| Reply::err("ERR invalid end ID for the interval"))?;
    }
    Ok((s, e))
}

fn int(a: &[u8]) -> Result<i64, Reply> {
    super::args::int(a)
}

/// Client bytes in an error text, as Redis's `%s` shows them: up to the first NUL byte.
fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(super::args::c_str(b))
}

fn stream_read<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Stream>, Reply> {
    ctx.read_as(key, Value::stream_mut)
}

fn stream_write<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Stream>, Reply> {
    ctx.write_as(key, Value::stream_mut)
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bulk())
}

fn entry_reply(id: StreamId, pairs: Vec<Bytes>) -> Reply {
    Reply::Array(vec![
        id_reply(id),
        Reply::Array(pairs.into_iter().map(Reply::Bulk).collect()),
    ])
}

fn entries_reply(v: Vec<(StreamId, Vec<Bytes>)>) -> Reply {
    Reply::Array(v.into_iter().map(|(i, p)| entry_reply(i, p)).collect())
}

fn bulk(s: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(s.as_bytes()))
}

fn no_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::err(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        lossy(key),
        lossy(group)
    ))
}

fn no_group_for_key(group: &[u8], key: &[u8]) -> Reply {
    Reply::err(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        lossy(group),
        lossy(key)
    ))
}

fn now_i(ctx: &Ctx) -> i64 {
    ctx.now as i64
}

/// XCLAIM <key> <group> <consumer> 0 <id> TIME <t> RETRYCOUNT <n> FORCE JUSTID LASTID <last>:
/// how Redis logs a pending entry it created or moved (streamPropagateXCLAIM).
fn propagate_claim(
    ctx: &mut Ctx,
    key: &[u8],
    group: &[u8],
    id: StreamId,
    p: &PendingEntry,
    last: StreamId,
) {
    if !ctx.feeding() {
        return;
    }
    let (t, n) = (p.delivery_time.to_string(), p.delivery_count.to_string());
    let (id, last) = (id.to_string(), last.to_string());
    ctx.propagate(&[
        &b"XCLAIM"[..],
        key,
        group,
        &p.consumer,
        b"0",
        id.as_bytes(),
        b"TIME",
        t.as_bytes(),
        b"RETRYCOUNT",
        n.as_bytes(),
        b"FORCE",
        b"JUSTID",
        b"LASTID",
        last.as_bytes(),
    ]);
}

/// XGROUP SETID <key> <group> <id> ENTRIESREAD <n> (streamPropagateGroupID).
fn propagate_group_id(ctx: &mut Ctx, key: &[u8], group: &[u8], last: StreamId, read: i64) {
    let (id, n) = (last.to_string(), read.to_string());
    ctx.propagate(&[
        &b"XGROUP"[..],
        b"SETID",
        key,
        group,
        id.as_bytes(),
        b"ENTRIESREAD",
        n.as_bytes(),
    ]);
}

// ---------------------------------------------------------------------------------------------
// XADD / XTRIM

/// Parsed XADD/XTRIM options (Redis's streamAddTrimArgs).
struct AddTrim {
    trim: Option<Trim>,
    approx: bool,
    /// Index of the MAXLEN/MINID value, for rewriting an approximate trim.
    trim_idx: usize,
    limit: u64,
    /// XADD: the ID argument's index, the ID (None for `*`), and whether its seq was given.
    id_idx: usize,
    id: Option<(StreamId, bool)>,
    nomkstream: bool,
}

/// Redis's streamParseAddOrTrimArgsOrReply.
fn parse_add_trim(args: &[Bytes], xadd: bool, max_entries: u64) -> Result<AddTrim, Reply> {
    let mut o = AddTrim {
        trim: None,
        approx: false,
        trim_idx: 0,
        limit: 0,
        id_idx: args.len(),
        id: None,
        nomkstream: false,
    };
    let mut limit_given = false;
    let incompatible =
        "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let a = &args[i];
        if xadd && &a[..] == b"*" {
            o.id_idx = i;
            break;
        } else if (is(a, "maxlen") || is(a, "minid")) && more > 0 {
            if o.trim.is_some() {
                return Err(Reply::err(incompatible));
            }
            o.approx = false;
            let next = &args[i + 1];
            if more >= 2 && &next[..] == b"~" {
                o.approx = true;
                i += 1;
            } else if more >= 2 && &next[..] == b"=" {
                i += 1;
            }
            let v = &args[i + 1];
            o.trim = Some(if is(a, "maxlen") {
                let n = int(v)?;
                if n < 0 {
                    return Err(Reply::err("ERR The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_strict(v, 0)?)
            });
            i += 1;
            o.trim_idx = i;
        } else if is(a, "limit") && more > 0 {
            let n = int(&args[i + 1])?;
            if n < 0 {
                return Err(Reply::err("ERR The LIMIT argument must be >= 0."));
            }
            o.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && is(a, "nomkstream") {
            o.nomkstream = true;
        } else if xadd {
            o.id = Some(parse_id_full(a, 0, true, true)?);
            o.id_idx = i;
            break;
        } else {
            return Err(Reply::syntax());
        }
        i += 1;
    }
    if o.limit != 0 && o.trim.is_none() {
        return Err(Reply::err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && o.trim.is_none() {
        return Err(Reply::err(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !o.approx {
            return Err(Reply::err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if o.approx {
        // At most 100 nodes' worth of work per trim.
        o.limit = max_entries.saturating_mul(100);
    } else {
        o.limit = 0;
    }
    Ok(o)
}

/// After an approximate trim, the command as it must be logged: `=` and the trim's outcome.
fn rewrite_trim(args: &mut [Bytes], o: &AddTrim, s: &Stream) {
    args[o.trim_idx - 1] = Bytes::from_static(b"=");
    args[o.trim_idx] = match o.trim {
        Some(Trim::MaxLen(_)) => Bytes::from(s.len().to_string()),
        _ => s.first_raw_id().to_bulk(),
    };
}

fn xadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let lim = ctx.store.limits.stream_node;
    let o = tri!(parse_add_trim(args, true, lim.max_entries));
    let field_pos = o.id_idx + 1;
    if field_pos > args.len() || (args.len() - field_pos) < 2 || (args.len() - field_pos) % 2 == 1 {
        return Reply::arity("xadd");
    }
    if let Some((id, true)) = o.id {
        if id.is_zero() {
            return Reply::err("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let key = &args[1];
    let now = ctx.now;
    let exists = tri!(stream_write(ctx, key)).is_some();
    if !exists {
        if o.nomkstream {
            return Reply::Nil;
        }
        ctx.set(key, Value::Stream(Box::new(Stream::new())), 0);
    }
    let Ok(Some(s)) = stream_write(ctx, key) else {
        return Reply::err("ERR internal error");
    };
    if s.last_id == StreamId::MAX {
        return Reply::err(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        );
    }
    let not_greater = || {
        Reply::err(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        )
    };
    let id = match o.id {
        None => s.next_id(now).unwrap_or(StreamId::MIN),
        Some((id, true)) => id,
        // `ms-*`: the next sequence number in that millisecond.
        Some((id, false)) => {
            if s.last_id.ms == id.ms {
                match s.last_id.incr() {
                    Some(n) if n.ms == id.ms => n,
                    _ => return not_greater(),
                }
            } else {
                id
            }
        }
    };
    let fields = &args[field_pos..];
    let id = match s.append(id, fields, lim) {
        Ok(id) => id,
        Err(AddError::NotGreater) => return not_greater(),
        Err(AddError::TooLarge) => return Reply::err("ERR Elements are too large to be stored"),
    };
    let mut logged: Option<Vec<Bytes>> = None;
    if let Some(t) = o.trim {
        s.trim(t, o.approx, o.limit);
        if o.approx {
            let mut a = args.to_vec();
            rewrite_trim(&mut a, &o, s);
            logged = Some(a);
        }
    }
    if !matches!(o.id, Some((_, true))) {
        let a = logged.get_or_insert_with(|| args.to_vec());
        a[o.id_idx] = id.to_bulk();
    }
    ctx.store.dirty += 1;
    if let Some(a) = logged {
        if ctx.feeding() {
            ctx.propagate(&a);
        }
    }
    // A new stream is noticed by `Db::insert`; an entry added in place is signalled.
    ctx.signal_ready(key);
    id_reply(id)
}

fn xtrim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let max_entries = ctx.store.limits.stream_node.max_entries;
    let o = tri!(parse_add_trim(args, false, max_entries));
    let Some(s) = tri!(stream_write(ctx, &args[1])) else {
        return Reply::Int(0);
    };
    let Some(t) = o.trim else {
        return Reply::Int(0);
    };
    let deleted = s.trim(t, o.approx, o.limit);
    if deleted > 0 {
        let rewritten = o.approx.then(|| {
            let mut a = args.to_vec();
            rewrite_trim(&mut a, &o, s);
            a
        });
        ctx.store.dirty += deleted;
        if let Some(a) = rewritten {
            if ctx.feeding() {
                ctx.propagate(&a);
            }
        }
    }
    Reply::Int(deleted as i64)
}

// ---------------------------------------------------------------------------------------------
// XRANGE XREVRANGE XLEN XDEL XSETID

fn range_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> Reply {
    let (start, end) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let (s_id, e_id) = tri!(parse_range(start, end));
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if is(&args[j], "count") && j + 1 < args.len() {
            count = tri!(int(&args[j + 1])).max(0);
            j += 2;
        } else {
            return Reply::syntax();
        }
    }
    let Some(s) = tri!(stream_read(ctx, &args[1])) else {
        return Reply::Array(Vec::new());
    };
    if count == 0 {
        return Reply::NilArray;
    }
    let n = if count < 0 { 0 } else { count as usize };
    entries_reply(s.range(s_id, e_id, n, rev))
}

fn xrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_generic(ctx, args, false)
}

fn xrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_generic(ctx, args, true)
}

fn xlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match tri!(stream_read(ctx, &args[1])) {
        None => Reply::Int(0),
        Some(s) => Reply::Int(s.len() as i64),
    }
}

fn xdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if tri!(stream_write(ctx, &args[1])).is_none() {
        return Reply::Int(0);
    }
    let mut ids = Vec::with_capacity(args.len() - 2);
    for a in &args[2..] {
        ids.push(tri!(parse_strict(a, 0)));
    }
    let Ok(Some(s)) = stream_write(ctx, &args[1]) else {
        return Reply::Int(0);
    };
    let mut deleted = 0;
    for id in ids {
        if s.delete(id) {
            if id > s.max_deleted {
                s.max_deleted = id;
            }
            deleted += 1;
        }
    }
    ctx.store.dirty += deleted;
    Reply::Int(deleted as i64)
}

fn xsetid(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let id = tri!(parse_strict(&args[2], 0));
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if is(&args[i], "entriesadded") && more > 0 {
            entries_added = tri!(int(&args[i + 1]));
            if entries_added < 0 {
                return Reply::err("ERR entries_added must be positive");
            }
        } else if is(&args[i], "maxdeletedid") && more > 0 {
            max_xdel = tri!(parse_strict(&args[i + 1], 0));
            if id < max_xdel {
                return Reply::err(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
            }
        } else {
            return Reply::syntax();
        }
        i += 2;
    }
    let Some(s) = tri!(stream_write(ctx, &args[1])) else {
        return Reply::err("ERR no such key");
    };
    if !s.is_empty() {
        if id < s.last_valid_id() {
            return Reply::err(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added != -1 && s.len() > entries_added as u64 {
            return Reply::err(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted = max_xdel;
    }
    ctx.store.dirty += 1;
    Reply::ok()
}

// ---------------------------------------------------------------------------------------------
// XREAD / XREADGROUP

/// What XREAD/XREADGROUP asked for.
#[derive(Clone, Debug)]
pub struct ReadArgs {
    pub count: usize,
    /// BLOCK's timeout in ms (0: forever).
    pub block: Option<u64>,
    pub group: Option<(Bytes, Bytes)>,
    pub noack: bool,
    /// Index of the first key.
    pub streams: usize,
    pub nkeys: usize,
}

/// Where a stream is read from.
#[derive(Clone, Copy, Debug)]
pub enum ReadFrom {
    /// After this ID (XREAD, or `$` resolved).
    After(StreamId),
    /// `>`: entries never delivered to the group.
    New,
}

/// Parse XREAD/XREADGROUP (Redis's xreadCommand up to the key checks), with its IDs.
pub fn parse_read(args: &[Bytes]) -> Result<ReadArgs, Reply> {
    let xreadgroup = args[0].len() == 10;
    let mut r = ReadArgs {
        count: 0,
        block: None,
        group: None,
        noack: false,
        streams: 0,
        nkeys: 0,
    };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let a = &args[i];
        if is(a, "block") && more > 0 {
            i += 1;
            let t = crate::util::num::parse_i64(&args[i])
                .ok_or_else(|| Reply::err("ERR timeout is not an integer or out of range"))?;
            if t < 0 {
                return Err(Reply::err("ERR timeout is negative"));
            }
            r.block = Some(t as u64);
        } else if is(a, "count") && more > 0 {
            i += 1;
            r.count = int(&args[i])?.max(0) as usize;
        } else if is(a, "streams") && more > 0 {
            r.streams = i + 1;
            let n = args.len() - r.streams;
            if !n.is_multiple_of(2) {
                return Err(Reply::err(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            r.nkeys = n / 2;
            break;
        } else if is(a, "group") && more >= 2 {
            if !xreadgroup {
                return Err(Reply::err(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 2;
        } else if is(a, "noack") {
            if !xreadgroup {
                return Err(Reply::err(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(Reply::syntax());
        }
        i += 1;
    }
    if r.streams == 0 {
        return Err(Reply::syntax());
    }
    if xreadgroup && r.group.is_none() {
        return Err(Reply::err("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// Check one key as Redis does before serving any (type, group), and resolve its ID.
pub fn read_check(
    ctx: &mut Ctx,
    r: &ReadArgs,
    key: &[u8],
    id_arg: &[u8],
) -> Result<ReadFrom, Reply> {
    let s = stream_read(ctx, key)?;
    if let Some((g, _)) = &r.group {
        let found = s.as_ref().is_some_and(|s| s.groups.contains_key(g));
        if !found {
            return Err(Reply::err(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                lossy(key),
                lossy(g)
            )));
        }
    }
    if id_arg == b"$" {
        if r.group.is_some() {
            return Err(Reply::err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
        }
        return Ok(ReadFrom::After(s.map_or(StreamId::MIN, |s| s.last_id)));
    }
    if id_arg == b">" && r.group.is_none() {
        return Err(Reply::err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
    }
    if r.group.is_some() && group_reads_new(id_arg) {
        return Ok(ReadFrom::New);
    }
    Ok(ReadFrom::After(parse_strict(id_arg, 0)?))
}

/// Whether a group read's ID asks for new entries: `>`, or the largest ID given explicitly,
/// which is how Redis keeps `>`.
fn group_reads_new(id_arg: &[u8]) -> bool {
    id_arg == b">" || parse_strict(id_arg, 0).is_ok_and(|id| id == StreamId::MAX)
}

/// `read_check`'s answer for a blocking read of a key whose stream went away (`gone`) after the
/// command reached the server: what it would have been, had it been waiting then. XREADGROUP
/// `>` refused (stream or group gone, another type there) reads new entries and goes on to
/// block, where it is told the stream or group is gone as a waiter is (`blocked_serve`); XREAD
/// reads after the gone stream's last ID (for `$`), or after its own ID where another type is
/// there now (a waiter waits on through that).
pub fn read_late(
    r: &ReadArgs,
    id_arg: &[u8],
    checked: Result<ReadFrom, Reply>,
    gone: &crate::store::stream::Gone,
) -> Result<ReadFrom, Reply> {
    match (&r.group, checked) {
        (Some((g, _)), Err(e)) => match group_reads_new(id_arg) && gone.groups.contains(g) {
            true => Ok(ReadFrom::New),
            false => Err(e),
        },
        (None, _) if id_arg == b"$" => Ok(ReadFrom::After(gone.last_id)),
        (None, Err(_)) => parse_strict(id_arg, 0).map(ReadFrom::After),
        (_, checked) => checked,
    }
}

/// Whether `s` has entries past `after` for a reader: for a command that reads now, entries
/// it holds; for a client blocked on it, past its last ID (what Redis compares when serving
/// blocked clients, so entries deleted since can serve an empty reply, as in Redis).
fn has_after(s: &Stream, after: StreamId, blocked: bool) -> bool {
    if blocked {
        s.last_id > after
    } else {
        !s.is_empty() && s.last_valid_id() > after
    }
}

/// Serve one key synchronously if there is something to serve: the entries reply.
pub fn read_serve(ctx: &mut Ctx, r: &ReadArgs, key: &[u8], from: ReadFrom) -> Option<Reply> {
    read_serve_as(ctx, r, key, from, false)
}

fn read_serve_as(
    ctx: &mut Ctx,
    r: &ReadArgs,
    key: &[u8],
    from: ReadFrom,
    blocked: bool,
) -> Option<Reply> {
    let now = now_i(ctx);
    let feeding = ctx.feeding();
    let s = stream_read(ctx, key).ok()??;
    let Some((gname, cname)) = &r.group else {
        let after = match from {
            ReadFrom::After(id) => id,
            _ => return None,
        };
        if !has_after(s, after, blocked) {
            return None;
        }
        let start = after.incr()?;
        return Some(entries_reply(s.range(start, StreamId::MAX, r.count, false)));
    };
    let (start, history) = match from {
        ReadFrom::New => {
            let last = s.groups.get(gname)?.last_id;
            if !has_after(s, last, blocked) {
                return None;
            }
            (last.incr()?, false)
        }
        ReadFrom::After(id) => (id.incr().unwrap_or(StreamId::MAX), true),
    };
    let g = s.groups.get_mut(gname)?;
    let (_, created) = g.consumer(cname, now, true);
    let mut effects: Vec<(StreamId, PendingEntry, StreamId)> = Vec::new();
    let mut set_id: Option<(StreamId, i64)> = None;
    let reply = if history {
        // The consumer's own pending entries from `start` (deleted ones as nil fields).
        let ids: Vec<StreamId> = g
            .consumers
            .get(&cname[..])
            .map(|c| {
                c.pel
                    .range(start..)
                    .take(if r.count == 0 { usize::MAX } else { r.count })
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match s.get(id) {
                Some(p) => {
                    if let Some(pe) = s.groups.get_mut(gname).and_then(|g| g.pel.get_mut(&id)) {
                        pe.delivery_time = now;
                        pe.delivery_count += 1;
                    }
                    out.push(entry_reply(id, p));
                }
                None => out.push(Reply::Array(vec![id_reply(id), Reply::NilArray])),
            }
        }
        Reply::Array(out)
    } else {
        let entries = s.range(start, StreamId::MAX, r.count, false);
        let mut moved = false;
        for (id, _) in &entries {
            let g_last = s.groups.get(gname)?.last_id;
            if *id > g_last {
                s.advance_group(gname, *id);
                moved = true;
            }
            if r.noack {
                continue;
            }
            let g = s.groups.get_mut(gname)?;
            let p = match g.pel.get_mut(id) {
                // Already pending (XGROUP SETID moved the group back): it changes hands.
                Some(p) => {
                    p.delivery_time = now;
                    p.delivery_count = 1;
                    p.clone()
                }
                None => {
                    let p = PendingEntry {
                        consumer: cname.clone(),
                        delivery_time: now,
                        delivery_count: 1,
                    };
                    g.pel.insert(*id, p.clone());
                    p
                }
            };
            g.assign(*id, cname);
            let mut p = p;
            p.consumer = cname.clone();
            effects.push((*id, p, g.last_id));
        }
        // With NOACK no XCLAIM carries the group's new last ID: Redis logs it apart.
        if moved && r.noack {
            set_id = s.groups.get(gname).map(|g| (g.last_id, g.entries_read));
        }
        entries_reply(entries)
    };
    ctx.store.dirty += 1;
    if created {
        ctx.notify(Class::STREAM, "xgroup-createconsumer", key);
    }
    if feeding {
        if created && r.noack {
            ctx.propagate(&[&b"XGROUP"[..], b"CREATECONSUMER", key, gname, cname]);
        }
        for (id, p, last) in &effects {
            propagate_claim(ctx, key, gname, *id, p, *last);
        }
        if let Some((last, read)) = set_id {
            propagate_group_id(ctx, key, gname, last, read);
        }
    }
    Some(reply)
}

/// XREAD/XREADGROUP's reply from the keys served, or what it answers when none was (the
/// reply of a blocking read that timed out, too).
pub fn read_reply(served: Vec<(Bytes, Reply)>) -> Reply {
    if served.is_empty() {
        return Reply::NilArray;
    }
    Reply::KeyedArrays(
        served
            .into_iter()
            .map(|(k, v)| (Reply::Bulk(k), v))
            .collect(),
    )
}

/// XREAD/XREADGROUP given BLOCK (before STREAMS): run by the connection's task, which may wait
/// (`shard/blocking.rs`). A group or consumer named "block" lands there too, and is served as
/// the plain command would be.
pub fn blocks(spec: &CommandSpec, args: &[Bytes]) -> bool {
    matches!(spec.name, "xread" | "xreadgroup")
        && args[1..]
            .iter()
            .take_while(|a| !is(a, "streams"))
            .any(|a| is(a, "block"))
}

/// What a client blocked on streams (`r`) would get from `key` now. `blocked`: it is waiting
/// (a write marked the key ready), else it is about to wait (and so is served only by what a
/// plain read would return).
///
/// As in Redis 7.0.15: XREAD waits through anything but new entries; XREADGROUP is also
/// served (an error) once its stream or its group is gone.
pub fn blocked_check(
    ctx: &mut Ctx,
    r: &ReadArgs,
    key: &[u8],
    from: ReadFrom,
    blocked: bool,
) -> Check {
    let s = match ctx.lookup(key).map(|e| &e.value) {
        Some(Value::Stream(s)) => s,
        None if r.group.is_none() => return Check::Absent,
        _ if r.group.is_some() => return Check::Serve,
        _ => return Check::Wait,
    };
    let after = match (&r.group, from) {
        (Some((g, _)), _) => match s.groups.get(g) {
            Some(g) => g.last_id,
            None => return Check::Serve,
        },
        (None, ReadFrom::After(id)) => id,
        (None, ReadFrom::New) => return Check::Wait,
    };
    if has_after(s, after, blocked) {
        Check::Serve
    } else {
        Check::Wait
    }
}

/// Serve a client blocked on streams from `key`, where `blocked_check` said so: the reply of
/// XREAD/XREADGROUP for this one key (deliveries logged as the plain XREADGROUP logs them), or
/// the error Redis unblocks it with.
pub fn blocked_serve(
    ctx: &mut Ctx,
    r: &ReadArgs,
    key: &Bytes,
    from: ReadFrom,
    blocked: bool,
) -> Reply {
    let s = match ctx.lookup(key).map(|e| &e.value) {
        Some(Value::Stream(s)) => s,
        _ => return Reply::err("UNBLOCKED the stream key no longer exists"),
    };
    if let Some((g, _)) = &r.group {
        if !s.groups.contains_key(g) {
            return Reply::err(
                "NOGROUP the consumer group this client was blocked on no longer exists",
            );
        }
    }
    match read_serve_as(ctx, r, key, from, blocked) {
        Some(entries) => read_reply(vec![(key.clone(), entries)]),
        None => Reply::NilArray,
    }
}

fn xread_generic(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let r = tri!(parse_read(args));
    let mut froms = Vec::with_capacity(r.nkeys);
    for i in 0..r.nkeys {
        let key = &args[r.streams + i];
        let id = &args[r.streams + r.nkeys + i];
        froms.push(tri!(read_check(ctx, &r, key, id)));
    }
    let mut served = Vec::new();
    for (i, from) in froms.into_iter().enumerate() {
        let key = &args[r.streams + i];
        if let Some(rep) = read_serve(ctx, &r, key, from) {
            served.push((key.clone(), rep));
        }
    }
    read_reply(served)
}

fn xread(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    xread_generic(ctx, args)
}

fn xreadgroup(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // Its effects are logged as XCLAIM/XGROUP commands, never the command itself.
    ctx.propagate_nothing();
    xread_generic(ctx, args)
}

// ---------------------------------------------------------------------------------------------
// XGROUP

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

fn help(args: &[Bytes], lines: &[&str]) -> Reply {
    let mut out = vec![Reply::Simple(Cow::Owned(format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        lossy(&args[0]).to_ascii_uppercase()
    )))];
    out.extend(
        lines
            .iter()
            .map(|l| Reply::Simple(Cow::Owned(l.to_string()))),
    );
    out.push(Reply::simple("HELP"));
    out.push(Reply::simple("    Prints this help."));
    Reply::Array(out)
}

/// Resolve a container's subcommand with Redis's arity rules: Ok(lower-case name).
fn subcommand(args: &[Bytes], table: &[(&'static str, i32)]) -> Result<&'static str, Reply> {
    let sub = &args[1];
    let Some(&(name, arity)) = table.iter().find(|(n, _)| is(sub, n)) else {
        return Err(Reply::err(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            lossy(&sub[..sub.len().min(128)]),
            lossy(&args[0]).to_ascii_uppercase()
        )));
    };
    let ok = if arity >= 0 {
        args.len() == arity as usize
    } else {
        args.len() >= (-arity) as usize
    };
    if !ok {
        return Err(Reply::err(format!(
            "ERR wrong number of arguments for '{}|{}' command",
            lossy(&args[0]).to_ascii_lowercase(),
            name
        )));
    }
    Ok(name)
}

fn sub_syntax(args: &[Bytes]) -> Reply {
    Reply::err(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        lossy(&args[1][..args[1].len().min(128)]),
        lossy(&args[0]).to_ascii_uppercase()
    ))
}

fn xgroup(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let name = tri!(subcommand(
        args,
        &[
            ("create", -5),
            ("createconsumer", 5),
            ("delconsumer", 5),
            ("destroy", 4),
            ("setid", -5),
            ("help", 2),
        ],
    ));
    if name == "help" {
        return help(args, XGROUP_HELP);
    }
    let key = &args[2];
    let gname = &args[3];
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < args.len() {
        if name == "create" && is(&args[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (name == "create" || name == "setid")
            && is(&args[i], "entriesread")
            && i + 1 < args.len()
        {
            entries_read = tri!(int(&args[i + 1]));
            if entries_read < 0 && entries_read != INVALID_ENTRIES_READ {
                return Reply::err("ERR value for ENTRIESREAD must be positive or -1");
            }
            i += 2;
        } else {
            return sub_syntax(args);
        }
    }
    let exists = tri!(stream_write(ctx, key)).is_some();
    if !mkstream {
        if !exists {
            return Reply::err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
        }
        let has_group =
            matches!(stream_write(ctx, key), Ok(Some(s)) if s.groups.contains_key(gname));
        if !has_group && matches!(name, "setid" | "createconsumer" | "delconsumer") {
            return no_group_for_key(gname, key);
        }
    }
    let now = now_i(ctx);
    match name {
        "create" if args.len() <= 8 => {
            let id_arg = &args[4];
            let id = if &id_arg[..] == b"$" {
                match stream_write(ctx, key) {
                    Ok(Some(s)) => s.last_id,
                    _ => StreamId::MIN,
                }
            } else {
                tri!(parse_strict(id_arg, 0))
            };
            if !exists {
                ctx.set(key, Value::Stream(Box::new(Stream::new())), 0);
            }
            let Ok(Some(s)) = stream_write(ctx, key) else {
                return Reply::err("ERR internal error");
            };
            if s.groups.contains_key(gname) {
                return Reply::err("BUSYGROUP Consumer Group name already exists");
            }
            s.groups.insert(gname.clone(), Group::new(id, entries_read));
            ctx.store.dirty += 1;
            Reply::ok()
        }
        "setid" if args.len() == 5 || args.len() == 7 => {
            let Ok(Some(s)) = stream_write(ctx, key) else {
                return Reply::err("ERR internal error");
            };
            let id = if &args[4][..] == b"$" {
                s.last_id
            } else {
                tri!(parse_id(&args[4], 0))
            };
            if let Some(g) = s.groups.get_mut(gname) {
                g.last_id = id;
                g.entries_read = entries_read;
            }
            ctx.store.dirty += 1;
            Reply::ok()
        }
        "destroy" => {
            let Ok(Some(s)) = stream_write(ctx, key) else {
                return Reply::Int(0);
            };
            if s.groups.remove(gname).is_some() {
                ctx.store.dirty += 1;
                // Clients blocked on the group hear of it (NOGROUP).
                ctx.signal_ready(key);
                Reply::Int(1)
            } else {
                Reply::Int(0)
            }
        }
        "createconsumer" => {
            let Ok(Some(s)) = stream_write(ctx, key) else {
                return Reply::Int(0);
            };
            let Some(g) = s.groups.get_mut(gname) else {
                return Reply::Int(0);
            };
            let (_, created) = g.consumer(&args[4], now, false);
            if created {
                ctx.store.dirty += 1;
            }
            Reply::Int(created as i64)
        }
        "delconsumer" => {
            let Ok(Some(s)) = stream_write(ctx, key) else {
                return Reply::Int(0);
            };
            let Some(g) = s.groups.get_mut(gname) else {
                return Reply::Int(0);
            };
            if !g.consumers.contains_key(&args[4][..]) {
                return Reply::Int(0);
            }
            let n = g.del_consumer(&args[4]);
            ctx.store.dirty += 1;
            Reply::Int(n as i64)
        }
        _ => sub_syntax(args),
    }
}

// ---------------------------------------------------------------------------------------------
// XACK XPENDING

fn xack(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let has = match tri!(stream_read(ctx, &args[1])) {
        None => false,
        Some(s) => s.groups.contains_key(&args[2]),
    };
    if !has {
        return Reply::Int(0);
    }
    let mut ids = Vec::with_capacity(args.len() - 3);
    for a in &args[3..] {
        ids.push(tri!(parse_strict(a, 0)));
    }
    let Ok(Some(s)) = stream_read(ctx, &args[1]) else {
        return Reply::Int(0);
    };
    let Some(g) = s.groups.get_mut(&args[2]) else {
        return Reply::Int(0);
    };
    let mut acked = 0;
    for id in ids {
        if g.ack(id).is_some() {
            acked += 1;
        }
    }
    ctx.store.dirty += acked;
    Reply::Int(acked as i64)
}

fn xpending(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Reply::syntax();
    }
    let mut range = None;
    let mut minidle = 0i64;
    let mut consumer: Option<&Bytes> = None;
    if argc >= 6 {
        let mut start = 3;
        if is(&args[3], "idle") {
            minidle = tri!(int(&args[4]));
            if argc < 8 {
                return Reply::syntax();
            }
            start += 2;
        }
        let Some(count_arg) = args.get(start + 2) else {
            return Reply::syntax();
        };
        let count = tri!(int(count_arg)).max(0);
        let (s, e) = tri!(parse_range(&args[start], &args[start + 1]));
        consumer = args.get(start + 3);
        range = Some((s, e, count));
    }
    let now = now_i(ctx);
    let s = tri!(stream_read(ctx, &args[1]));
    let Some(g) = s.and_then(|s| s.groups.get(&args[2])) else {
        return no_group(&args[1], &args[2]);
    };
    let Some((start, end, count)) = range else {
        if g.pel.is_empty() {
            return Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::NilArray]);
        }
        let first = g.pel.keys().next().copied().unwrap_or_default();
        let last = g.pel.keys().next_back().copied().unwrap_or_default();
        let owners = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(n, c)| {
                Reply::Array(vec![
                    Reply::Bulk(n.clone()),
                    Reply::Bulk(Bytes::from(c.pel.len().to_string())),
                ])
            })
            .collect();
        return Reply::Array(vec![
            Reply::Int(g.pel.len() as i64),
            id_reply(first),
            id_reply(last),
            Reply::Array(owners),
        ]);
    };
    let ids: Box<dyn Iterator<Item = StreamId>> = match consumer {
        Some(c) => match g.consumers.get(&c[..]) {
            None => return Reply::Array(Vec::new()),
            Some(c) => Box::new(c.pel.range(start..).copied()),
        },
        None => Box::new(g.pel.range(start..).map(|(k, _)| *k)),
    };
    let mut out = Vec::new();
    let mut left = count;
    if start <= end {
        for id in ids {
            if left == 0 || id > end {
                break;
            }
            let Some(p) = g.pel.get(&id) else { continue };
            if minidle != 0 && now - p.delivery_time < minidle {
                continue;
            }
            left -= 1;
            out.push(Reply::Array(vec![
                id_reply(id),
                Reply::Bulk(p.consumer.clone()),
                Reply::Int((now - p.delivery_time).max(0)),
                Reply::Int(p.delivery_count),
            ]));
        }
    }
    Reply::Array(out)
}

// ---------------------------------------------------------------------------------------------
// XCLAIM XAUTOCLAIM

fn xclaim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ctx.propagate_nothing();
    let (key, gname, cname) = (&args[1], &args[2], &args[3]);
    let has = match tri!(stream_read(ctx, key)) {
        None => false,
        Some(s) => s.groups.contains_key(gname),
    };
    if !has {
        return no_group(key, gname);
    }
    let minidle = match crate::util::num::parse_i64(&args[4]) {
        Some(v) => v.max(0),
        None => return Reply::err("ERR Invalid min-idle-time argument for XCLAIM"),
    };
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_strict(&args[j], 0) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = now_i(ctx);
    let (mut force, mut justid) = (false, false);
    let mut retrycount: i64 = -1;
    let mut deliverytime: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let a = &args[j];
        let opt_int = |v: &[u8], what: &'static str| {
            crate::util::num::parse_i64(v).ok_or_else(|| Reply::err(what))
        };
        if is(a, "force") {
            force = true;
        } else if is(a, "justid") {
            justid = true;
        } else if is(a, "idle") && more > 0 {
            j += 1;
            let idle = tri!(opt_int(
                &args[j],
                "ERR Invalid IDLE option argument for XCLAIM"
            ));
            deliverytime = now.wrapping_sub(idle);
        } else if is(a, "time") && more > 0 {
            j += 1;
            deliverytime = tri!(opt_int(
                &args[j],
                "ERR Invalid TIME option argument for XCLAIM"
            ));
        } else if is(a, "retrycount") && more > 0 {
            j += 1;
            retrycount = tri!(opt_int(
                &args[j],
                "ERR Invalid RETRYCOUNT option argument for XCLAIM"
            ));
        } else if is(a, "lastid") && more > 0 {
            j += 1;
            last_id = tri!(parse_strict(&args[j], 0));
        } else {
            return Reply::err(format!("ERR Unrecognized XCLAIM option '{}'", lossy(a)));
        }
        j += 1;
    }
    let feeding = ctx.feeding();
    let Ok(Some(s)) = stream_read(ctx, key) else {
        return no_group(key, gname);
    };
    let mut propagate_last = false;
    if let Some(g) = s.groups.get_mut(gname) {
        if last_id > g.last_id {
            g.last_id = last_id;
            propagate_last = true;
        }
    }
    if deliverytime != -1 {
        // A bogus time (negative, in the future) is taken as now rather than refused.
        if deliverytime < 0 || deliverytime > now {
            deliverytime = now;
        }
    } else {
        deliverytime = now;
    }
    let mut out = Vec::new();
    let mut effects: Vec<(StreamId, PendingEntry, StreamId)> = Vec::new();
    let mut dirty = 0;
    let mut created = false;
    for id in ids {
        let exists = s.contains(id);
        let Some(g) = s.groups.get_mut(gname) else {
            break;
        };
        let mut fresh = false;
        if force && !g.pel.contains_key(&id) {
            // FORCE creates the pending entry, if the stream holds the entry.
            if !exists {
                continue;
            }
            g.pel.insert(
                id,
                PendingEntry {
                    consumer: Bytes::new(),
                    delivery_time: now,
                    delivery_count: 1,
                },
            );
            fresh = true;
        }
        let Some(p) = g.pel.get(&id) else { continue };
        if !fresh && minidle != 0 && now - p.delivery_time < minidle {
            continue;
        }
        if !exists {
            // The entry was deleted from the stream: its pending entry goes too.
            if let Some(old) = g.ack(id) {
                effects.push((id, old, g.last_id));
                propagate_last = false;
                dirty += 1;
            }
            continue;
        }
        created |= g.consumer(cname, now, true).1;
        if let Some(p) = g.pel.get_mut(&id) {
            p.delivery_time = deliverytime;
            if retrycount >= 0 {
                p.delivery_count = retrycount;
            } else if !justid {
                p.delivery_count += 1;
            }
        }
        g.assign(id, cname);
        if let Some(p) = g.pel.get(&id) {
            effects.push((id, p.clone(), g.last_id));
        }
        out.push(if justid {
            id_reply(id)
        } else {
            match s.get(id) {
                Some(pairs) => entry_reply(id, pairs),
                None => Reply::Nil,
            }
        });
        propagate_last = false;
        dirty += 1;
    }
    let group_state = s.groups.get(gname).map(|g| (g.last_id, g.entries_read));
    ctx.store.dirty += dirty;
    if created {
        ctx.notify(Class::STREAM, "xgroup-createconsumer", key);
    }
    if feeding {
        for (id, p, last) in &effects {
            propagate_claim(ctx, key, gname, *id, p, *last);
        }
    }
    if propagate_last {
        if let Some((last, read)) = group_state {
            ctx.store.dirty += 1;
            if feeding {
                propagate_group_id(ctx, key, gname, last, read);
            }
        }
    }
    Reply::Array(out)
}

fn xautoclaim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ctx.propagate_nothing();
    let (key, gname, cname) = (&args[1], &args[2], &args[3]);
    let minidle = match crate::util::num::parse_i64(&args[4]) {
        Some(v) => v.max(0),
        None => return Reply::err("ERR Invalid min-idle-time argument for XAUTOCLAIM"),
    };
    let (start, sx) = tri!(parse_interval(&args[5], 0));
    let start = if sx {
        match start.incr() {
            Some(s) => s,
            None => return Reply::err("ERR invalid start ID for the interval"),
        }
    } else {
        start
    };
    const ATTEMPTS_FACTOR: i64 = 10;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "count") && more > 0 {
            count = match crate::util::num::parse_i64(&args[j + 1]) {
                Some(v) if (1..=i64::MAX / ATTEMPTS_FACTOR).contains(&v) => v,
                _ => return Reply::err("ERR COUNT must be > 0"),
            };
            j += 1;
        } else if is(&args[j], "justid") {
            justid = true;
        } else {
            return Reply::syntax();
        }
        j += 1;
    }
    let has = match tri!(stream_read(ctx, key)) {
        None => false,
        Some(s) => s.groups.contains_key(gname),
    };
    if !has {
        return no_group(key, gname);
    }
    // Redis allocates the deleted-IDs array up front; a count no allocator can serve fails.
    if count > (1i64 << 43) {
        return Reply::err(
            "ERR Insufficient memory, failed allocating transient memory, COUNT too high.",
        );
    }
    let now = now_i(ctx);
    let feeding = ctx.feeding();
    let Ok(Some(s)) = stream_read(ctx, key) else {
        return no_group(key, gname);
    };
    let mut attempts = count * ATTEMPTS_FACTOR;
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut effects: Vec<(StreamId, PendingEntry, StreamId)> = Vec::new();
    let mut created = false;
    let mut cursor = start;
    let mut next: Option<StreamId> = None;
    while let Some(g) = s.groups.get(gname) {
        let Some((&id, _)) = g.pel.range(cursor..).next() else {
            break;
        };
        if attempts == 0 || count == 0 {
            next = Some(id);
            break;
        }
        attempts -= 1;
        cursor = match id.incr() {
            Some(c) => c,
            None => StreamId::MAX,
        };
        let exists = s.contains(id);
        let Some(g) = s.groups.get_mut(gname) else {
            break;
        };
        if !exists {
            if let Some(old) = g.ack(id) {
                effects.push((id, old, g.last_id));
            }
            deleted.push(id_reply(id));
            count -= 1;
        } else {
            let Some(p) = g.pel.get(&id) else { continue };
            if minidle != 0 && now - p.delivery_time < minidle {
                if id == StreamId::MAX {
                    break;
                }
                continue;
            }
            created |= g.consumer(cname, now, true).1;
            if let Some(p) = g.pel.get_mut(&id) {
                p.delivery_time = now;
                if !justid {
                    p.delivery_count += 1;
                }
            }
            g.assign(id, cname);
            if let Some(p) = g.pel.get(&id) {
                effects.push((id, p.clone(), g.last_id));
            }
            claimed.push(if justid {
                id_reply(id)
            } else {
                match s.get(id) {
                    Some(pairs) => entry_reply(id, pairs),
                    None => Reply::Nil,
                }
            });
            count -= 1;
        }
        if id == StreamId::MAX {
            break;
        }
    }
    ctx.store.dirty += effects.len() as u64;
    if created {
        ctx.notify(Class::STREAM, "xgroup-createconsumer", key);
    }
    if feeding {
        for (id, p, last) in &effects {
            propagate_claim(ctx, key, gname, *id, p, *last);
        }
    }
    Reply::Array(vec![
        id_reply(next.unwrap_or(StreamId::MIN)),
        Reply::Array(claimed),
        Reply::Array(deleted),
    ])
}

// ---------------------------------------------------------------------------------------------
// XINFO

fn xinfo(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let name = tri!(subcommand(
        args,
        &[("consumers", 4), ("groups", 3), ("stream", -3), ("help", 2)],
    ));
    if name == "help" {
        return help(args, XINFO_HELP);
    }
    let now = now_i(ctx);
    let Some(s) = tri!(stream_read(ctx, &args[2])) else {
        return Reply::err("ERR no such key");
    };
    let s: &Stream = s;
    match name {
        "consumers" => {
            let Some(g) = s.groups.get(&args[3]) else {
                return no_group_for_key(&args[3], &args[2]);
            };
            Reply::Array(
                g.consumers
                    .iter()
                    .map(|(n, c)| {
                        Reply::Map(vec![
                            (bulk("name"), Reply::Bulk(n.clone())),
                            (bulk("pending"), Reply::Int(c.pel.len() as i64)),
                            (bulk("idle"), Reply::Int((now - c.seen_time).max(0))),
                        ])
                    })
                    .collect(),
            )
        }
        "groups" => Reply::Array(
            s.groups
                .iter()
                .map(|(n, g)| {
                    Reply::Map(vec![
                        (bulk("name"), Reply::Bulk(n.clone())),
                        (bulk("consumers"), Reply::Int(g.consumers.len() as i64)),
                        (bulk("pending"), Reply::Int(g.pel.len() as i64)),
                        (bulk("last-delivered-id"), id_reply(g.last_id)),
                        (bulk("entries-read"), entries_read(g)),
                        (bulk("lag"), s.lag(g).map_or(Reply::Nil, Reply::Int)),
                    ])
                })
                .collect(),
        ),
        _ => xinfo_stream(s, args),
    }
}

fn entries_read(g: &Group) -> Reply {
    if g.entries_read == INVALID_ENTRIES_READ {
        Reply::Nil
    } else {
        Reply::Int(g.entries_read)
    }
}

fn xinfo_stream(s: &Stream, args: &[Bytes]) -> Reply {
    let opts = &args[3..];
    let mut count: i64 = 10;
    let full = !opts.is_empty();
    if full {
        if (opts.len() != 1 && opts.len() != 3) || !is(&opts[0], "full") {
            return sub_syntax(args);
        }
        if opts.len() == 3 {
            if !is(&opts[1], "count") {
                return sub_syntax(args);
            }
            count = tri!(int(&opts[2]));
            if count < 0 {
                count = 10;
            }
        }
    }
    let mut m = vec![
        (bulk("length"), Reply::Int(s.len() as i64)),
        (bulk("radix-tree-keys"), Reply::Int(s.node_count() as i64)),
        (bulk("radix-tree-nodes"), Reply::Int(s.rax_nodes() as i64)),
        (bulk("last-generated-id"), id_reply(s.last_id)),
        (bulk("max-deleted-entry-id"), id_reply(s.max_deleted)),
        (bulk("entries-added"), Reply::Int(s.entries_added as i64)),
        (bulk("recorded-first-entry-id"), id_reply(s.first_id())),
    ];
    if !full {
        let edge = |rev: bool| {
            s.range(StreamId::MIN, StreamId::MAX, 1, rev)
                .pop()
                .map_or(Reply::Nil, |(i, p)| entry_reply(i, p))
        };
        m.push((bulk("groups"), Reply::Int(s.groups.len() as i64)));
        m.push((bulk("first-entry"), edge(false)));
        m.push((bulk("last-entry"), edge(true)));
        return Reply::Map(m);
    }
    let n = count as usize;
    let limit = |len: usize| if n == 0 { len } else { len.min(n) };
    m.push((
        bulk("entries"),
        entries_reply(s.range(StreamId::MIN, StreamId::MAX, n, false)),
    ));
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pel
                .iter()
                .take(limit(g.pel.len()))
                .map(|(id, p)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(p.consumer.clone()),
                        Reply::Int(p.delivery_time),
                        Reply::Int(p.delivery_count),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cn, c)| {
                    let cp = c
                        .pel
                        .iter()
                        .take(limit(c.pel.len()))
                        .filter_map(|id| {
                            let p = g.pel.get(id)?;
                            Some(Reply::Array(vec![
                                id_reply(*id),
                                Reply::Int(p.delivery_time),
                                Reply::Int(p.delivery_count),
                            ]))
                        })
                        .collect();
                    Reply::Map(vec![
                        (bulk("name"), Reply::Bulk(cn.clone())),
                        (bulk("seen-time"), Reply::Int(c.seen_time)),
                        (bulk("pel-count"), Reply::Int(c.pel.len() as i64)),
                        (bulk("pending"), Reply::Array(cp)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (bulk("name"), Reply::Bulk(name.clone())),
                (bulk("last-delivered-id"), id_reply(g.last_id)),
                (bulk("entries-read"), entries_read(g)),
                (bulk("lag"), s.lag(g).map_or(Reply::Nil, Reply::Int)),
                (bulk("pel-count"), Reply::Int(g.pel.len() as i64)),
                (bulk("pending"), Reply::Array(pending)),
                (bulk("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    m.push((bulk("groups"), Reply::Array(groups)));
    Reply::Map(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn id_parsing_as_redis() {
        assert_eq!(parse_id(b"5", 7).unwrap(), StreamId::new(5, 7));
        assert_eq!(parse_id(b"5-3", 7).unwrap(), StreamId::new(5, 3));
        assert_eq!(parse_id(b"-", 0).unwrap(), StreamId::MIN);
        assert_eq!(parse_id(b"+", 0).unwrap(), StreamId::MAX);
        assert!(parse_strict(b"+", 0).is_err());
        assert!(parse_id(b"5-", 0).is_err());
        assert!(parse_id(b"a-1", 0).is_err());
        assert!(parse_id(b"18446744073709551616", 0).is_err());
        assert_eq!(parse_id(b"007", 0).unwrap(), StreamId::new(7, 0));
        assert_eq!(
            parse_id_full(b"3-*", 0, true, true).unwrap(),
            (StreamId::new(3, 0), false)
        );
        assert!(parse_strict(b"3-*", 0).is_err());
    }

    #[test]
    fn xread_key_positions() {
        let a: Vec<Bytes> = "xread count 2 streams a b 0 0".split(' ').map(b).collect();
        assert_eq!(xread_keys(&a), vec![4, 5]);
        let a: Vec<Bytes> = "xreadgroup group g c streams a >"
            .split(' ')
            .map(b)
            .collect();
        assert_eq!(xread_keys(&a), vec![5]);
        let a: Vec<Bytes> = "xread streams a".split(' ').map(b).collect();
        assert!(xread_keys(&a).is_empty());
    }

    #[test]
    fn blocking_forms() {
        let args = |s: &str| -> Vec<Bytes> { s.split(' ').map(b).collect() };
        let spec = |n: &str| super::super::lookup(n.as_bytes()).expect("spec");
        let xr = spec("xread");
        assert!(blocks(xr, &args("xread count 1 BLOCK 0 streams a $")));
        assert!(!blocks(xr, &args("xread count 1 streams block 0")));
        assert!(!blocks(spec("xrange"), &args("xrange block - +")));
        let r = parse_read(&args("xread block 1500 streams a b 0 0")).ok();
        assert_eq!(r.map(|r| (r.block, r.nkeys)), Some((Some(1500), 2)));
        let r = parse_read(&args("xread streams a 0")).ok();
        assert_eq!(r.map(|r| r.block), Some(None));
    }
}
