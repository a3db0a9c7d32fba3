//! The string family (Redis 7.0 `t_string.c`): GET/SET and their variants, counters, ranges,
//! MGET/MSET/MSETNX and LCS.
//!
//! Replies, error texts and the order in which arguments and keys are checked follow Redis
//! 7.0.15, since clients and test suites observe which error wins when several apply.

use super::args;
use super::{CommandSpec, Kind, Merge};
use crate::protocol::reply::Reply;
use crate::store::value::{Str, StrEnc};
use crate::store::{Ctx, Value};
use crate::util::num;
use bytes::{Bytes, BytesMut};

/// Evaluate a `Result<T, Reply>`, returning the error reply from the handler.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, "readonly fast", (1, 1, 1), Kind::Keyed(get)).doc(
        "string",
        "1.0.0",
        "Get the value of a key",
    ),
    CommandSpec::new("set", -3, "write denyoom", (1, 1, 1), Kind::Keyed(set)).doc(
        "string",
        "1.0.0",
        "Set the string value of a key",
    ),
    CommandSpec::new(
        "setnx",
        3,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(setnx),
    )
    .doc(
        "string",
        "1.0.0",
        "Set the value of a key, only if the key does not exist",
    ),
    CommandSpec::new("setex", 4, "write denyoom", (1, 1, 1), Kind::Keyed(setex)).doc(
        "string",
        "2.0.0",
        "Set the value and expiration of a key",
    ),
    CommandSpec::new("psetex", 4, "write denyoom", (1, 1, 1), Kind::Keyed(psetex)).doc(
        "string",
        "2.6.0",
        "Set the value and expiration in milliseconds of a key",
    ),
    CommandSpec::new(
        "getset",
        3,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(getset),
    )
    .doc(
        "string",
        "1.0.0",
        "Set the string value of a key and return its old value",
    ),
    CommandSpec::new("getdel", 2, "write fast", (1, 1, 1), Kind::Keyed(getdel)).doc(
        "string",
        "6.2.0",
        "Get the value of a key and delete the key",
    ),
    CommandSpec::new("getex", -2, "write fast", (1, 1, 1), Kind::Keyed(getex)).doc(
        "string",
        "6.2.0",
        "Get the value of a key and optionally set its expiration",
    ),
    CommandSpec::new(
        "mget",
        -2,
        "readonly fast",
        (1, -1, 1),
        Kind::Split(mget, Merge::PerKey),
    )
    .doc("string", "1.0.0", "Get the values of all the given keys"),
    CommandSpec::new(
        "mset",
        -3,
        "write denyoom",
        (1, -1, 2),
        Kind::Split(mset, Merge::AllOk),
    )
    .doc("string", "1.0.1", "Set multiple keys to multiple values"),
    CommandSpec::new(
        "msetnx",
        -3,
        "write denyoom",
        (1, -1, 2),
        Kind::Coordinated(msetnx),
    )
    .doc(
        "string",
        "1.0.1",
        "Set multiple keys to multiple values, only if none of the keys exist",
    ),
    CommandSpec::new(
        "append",
        3,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(append),
    )
    .doc("string", "2.0.0", "Append a value to a key"),
    CommandSpec::new("strlen", 2, "readonly fast", (1, 1, 1), Kind::Keyed(strlen)).doc(
        "string",
        "2.2.0",
        "Get the length of the value stored in a key",
    ),
    CommandSpec::new("getrange", 4, "readonly", (1, 1, 1), Kind::Keyed(getrange)).doc(
        "string",
        "2.4.0",
        "Get a substring of the string stored at a key",
    ),
    CommandSpec::new("substr", 4, "readonly", (1, 1, 1), Kind::Keyed(getrange)).doc(
        "string",
        "1.0.0",
        "Get a substring of the string stored at a key",
    ),
    CommandSpec::new(
        "setrange",
        4,
        "write denyoom",
        (1, 1, 1),
        Kind::Keyed(setrange),
    )
    .doc(
        "string",
        "2.2.0",
        "Overwrite part of a string at key starting at the specified offset",
    ),
    CommandSpec::new(
        "incr",
        2,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(incr),
    )
    .doc(
        "string",
        "1.0.0",
        "Increment the integer value of a key by one",
    ),
    CommandSpec::new(
        "decr",
        2,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(decr),
    )
    .doc(
        "string",
        "1.0.0",
        "Decrement the integer value of a key by one",
    ),
    CommandSpec::new(
        "incrby",
        3,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(incrby),
    )
    .doc(
        "string",
        "1.0.0",
        "Increment the integer value of a key by the given amount",
    ),
    CommandSpec::new(
        "decrby",
        3,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(decrby),
    )
    .doc(
        "string",
        "1.0.0",
        "Decrement the integer value of a key by the given number",
    ),
    CommandSpec::new(
        "incrbyfloat",
        3,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(incrbyfloat),
    )
    .doc(
        "string",
        "2.6.0",
        "Increment the float value of a key by the given amount",
    ),
    CommandSpec::new("lcs", -3, "readonly", (1, 2, 1), Kind::Coordinated(lcs)).doc(
        "string",
        "7.0.0",
        "Find longest common substring",
    ),
];

/// LCS's own error when either key holds a non-string (it does not use WRONGTYPE).
pub const LCS_TYPE_ERR: &str = "ERR The specified keys must contain string values";

const BULK_LEN_ERR: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

// ---------------------------------------------------------------------------------------------
// Expiry arguments

/// How an expiry argument is given: relative or absolute (Unix time), in seconds or ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireUnit {
    /// EX: relative seconds.
    Ex,
    /// PX: relative milliseconds.
    Px,
    /// EXAT: absolute Unix seconds.
    ExAt,
    /// PXAT: absolute Unix milliseconds.
    PxAt,
}

impl ExpireUnit {
    fn in_seconds(self) -> bool {
        matches!(self, ExpireUnit::Ex | ExpireUnit::ExAt)
    }
    fn is_relative(self) -> bool {
        matches!(self, ExpireUnit::Ex | ExpireUnit::Px)
    }
    fn keyword(opt: &[u8]) -> Option<ExpireUnit> {
        if args::is(opt, "ex") {
            Some(ExpireUnit::Ex)
        } else if args::is(opt, "px") {
            Some(ExpireUnit::Px)
        } else if args::is(opt, "exat") {
            Some(ExpireUnit::ExAt)
        } else if args::is(opt, "pxat") {
            Some(ExpireUnit::PxAt)
        } else {
            None
        }
    }
}

/// Turn an expiry argument into an absolute Unix time in ms, as Redis's
/// `getExpireMillisecondsOrReply`: not an integer → `ERR value is not an integer or out of
/// range`; zero, negative, or overflowing when scaled to ms or made absolute →
/// `ERR invalid expire time in '<cmd>' command`. The result may lie in the past (EXAT/PXAT).
pub fn expire_at_ms(raw: &[u8], unit: ExpireUnit, now: u64, cmd: &str) -> Result<u64, Reply> {
    let invalid = || Reply::err(format!("ERR invalid expire time in '{cmd}' command"));
    let mut ms = args::int(raw)?;
    if ms <= 0 || (unit.in_seconds() && ms > i64::MAX / 1000) {
        return Err(invalid());
    }
    if unit.in_seconds() {
        ms *= 1000;
    }
    if unit.is_relative() {
        let now = i64::try_from(now).map_err(|_| invalid())?;
        ms = ms.checked_add(now).ok_or_else(invalid)?;
    }
    // Positive by now, so the conversion cannot fail.
    u64::try_from(ms).map_err(|_| invalid())
}

/// Options of SET (from argument 3) and GETEX (from argument 2), as Redis's
/// `parseExtendedStringArgumentsOrReply`.
#[derive(Default)]
struct StrOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(ExpireUnit, &'a [u8])>,
}

fn parse_opts(args: &[Bytes], from: usize, is_set: bool) -> Result<StrOpts<'_>, Reply> {
    let mut o = StrOpts::default();
    let mut j = from;
    while j < args.len() {
        let opt = &args[j][..];
        let next = args.get(j + 1);
        // Redis checks the flag bits rather than "seen before", so repeating an option is
        // accepted (the last expiry wins) while mixing conflicting ones is a syntax error.
        if is_set && !o.xx && args::is(opt, "nx") {
            o.nx = true;
        } else if is_set && !o.nx && args::is(opt, "xx") {
            o.xx = true;
        } else if is_set && args::is(opt, "get") {
            o.get = true;
        } else if is_set && !o.persist && o.expire.is_none() && args::is(opt, "keepttl") {
            o.keepttl = true;
        } else if !is_set && o.expire.is_none() && !o.keepttl && args::is(opt, "persist") {
            o.persist = true;
        } else if let Some(unit) = ExpireUnit::keyword(opt)
            .filter(|&u| !o.keepttl && !o.persist && o.expire.is_none_or(|(prev, _)| prev == u))
        {
            let Some(value) = next else {
                return Err(Reply::syntax());
            };
            o.expire = Some((unit, &value[..]));
            j += 1;
        } else {
            return Err(Reply::syntax());
        }
        j += 1;
    }
    Ok(o)
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// `checkStringLength`: would a string of `len + add` bytes exceed proto-max-bulk-len?
fn check_len(ctx: &Ctx, len: u64, add: u64) -> Result<usize, Reply> {
    len.checked_add(add)
        .filter(|&total| total <= ctx.store.limits.proto_max_bulk_len)
        .and_then(|total| usize::try_from(total).ok())
        .ok_or_else(|| Reply::err(BULK_LEN_ERR))
}

/// What a read-modify-write step did.
enum Step {
    /// Nothing stored (an error, or a no-op such as SETRANGE with an empty value).
    Keep(Reply),
    /// The value was changed (or, for an absent key, should be created).
    Write(Reply),
    /// As `Write`, for edits Redis makes on an unshared sds, which OBJECT ENCODING reports as
    /// "raw" whatever the length (APPEND to an existing key, SETRANGE).
    WriteRaw(Reply),
}

/// Read-modify-write of the string at `key`, in place so the TTL is kept and the key is looked
/// up once. `f` gets the current value (empty if absent) and whether the key exists; when it
/// returns `Write` an existing value is left as `f` changed it, an absent key is created from
/// it without TTL. A non-string key replies WRONGTYPE without calling `f`.
fn update_str(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&mut Str, bool) -> Step) -> Reply {
    let lru = (ctx.now / 1000) as u32;
    match ctx.lookup(key) {
        Some(e) => {
            let step = match &mut e.value {
                Value::Str(b) => f(b, true),
                #[allow(unreachable_patterns)]
                _ => return Reply::wrongtype(),
            };
            match step {
                Step::Keep(r) => r,
                Step::Write(r) => {
                    e.lru = lru;
                    e.enc = StrEnc::Auto;
                    ctx.store.dirty += 1;
                    r
                }
                Step::WriteRaw(r) => {
                    e.lru = lru;
                    e.enc = StrEnc::Raw;
                    ctx.store.dirty += 1;
                    r
                }
            }
        }
        None => {
            let mut b = Str::new();
            match f(&mut b, false) {
                Step::Keep(r) => r,
                Step::Write(r) => {
                    ctx.set(key, Value::Str(b), 0);
                    r
                }
                Step::WriteRaw(r) => {
                    ctx.set(key, Value::Str(b), 0);
                    if let Some(e) = ctx.db().get_raw_mut(key) {
                        e.enc = StrEnc::Raw;
                    }
                    r
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GET / SET family

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.str_at(&args[1]) {
        Ok(v) => v.map_or(Reply::Nil, Str::to_reply),
        Err(e) => e,
    }
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 3 {
        // The common case: no options, no lookup needed (replacing drops any TTL).
        ctx.set_str(&args[1], &args[2], 0);
        return Reply::ok();
    }
    let o = tri!(parse_opts(args, 3, true));
    set_generic(ctx, &args[1], &args[2], &o, "set", Reply::ok(), Reply::Nil)
}

/// Redis's `setGenericCommand`: validate the expiry, answer GET, apply NX/XX, store.
fn set_generic(
    ctx: &mut Ctx,
    key: &[u8],
    val: &[u8],
    o: &StrOpts,
    cmd: &str,
    ok: Reply,
    abort: Reply,
) -> Reply {
    let at = match o.expire {
        Some((unit, raw)) => tri!(expire_at_ms(raw, unit, ctx.now, cmd)),
        None => 0,
    };
    let old = if o.get {
        Some(Reply::opt_bulk(tri!(ctx.get_str(key))))
    } else {
        None
    };
    if o.nx || o.xx {
        let found = ctx.exists(key);
        if (o.nx && found) || (o.xx && !found) {
            return old.unwrap_or(abort);
        }
    }
    // An EXAT/PXAT in the past is stored as given and expires on the next access, as 7.0 does
    // (the key still counts in DBSIZE until then).
    if o.keepttl {
        ctx.set_str_keep_ttl(key, val);
    } else {
        ctx.set_str(key, val, at);
        if at != 0 {
            log_set_pxat(ctx, key, val, at);
        }
    }
    old.unwrap_or(ok)
}

/// A SET with an expiry is logged as `SET key value PXAT <absolute ms>` (as Redis 7 does), so
/// replay gives the same expiry whenever it happens.
fn log_set_pxat(ctx: &mut Ctx, key: &[u8], val: &[u8], at: u64) {
    if ctx.feeding() {
        let mut ms = itoa::Buffer::new();
        ctx.propagate(&[b"SET", key, val, b"PXAT", ms.format(at).as_bytes()]);
    }
}

fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if ctx.exists(&args[1]) {
        return Reply::Int(0);
    }
    ctx.set_str(&args[1], &args[2], 0);
    Reply::Int(1)
}

fn setex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let at = tri!(expire_at_ms(&args[2], ExpireUnit::Ex, ctx.now, "setex"));
    ctx.set_str(&args[1], &args[3], at);
    log_set_pxat(ctx, &args[1], &args[3], at);
    Reply::ok()
}

fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let at = tri!(expire_at_ms(&args[2], ExpireUnit::Px, ctx.now, "psetex"));
    ctx.set_str(&args[1], &args[3], at);
    log_set_pxat(ctx, &args[1], &args[3], at);
    Reply::ok()
}

fn getset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let old = tri!(ctx.get_str(&args[1]));
    ctx.set_str(&args[1], &args[2], 0);
    Reply::opt_bulk(old)
}

fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match tri!(ctx.get_str(&args[1])) {
        Some(v) => {
            ctx.delete(&args[1]);
            Reply::Bulk(v)
        }
        None => Reply::Nil,
    }
}

fn getex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1][..];
    // Redis parses the options, then looks the key up, and only validates the expiry value
    // for an existing string: `GETEX missing EX 0` replies nil.
    let o = tri!(parse_opts(args, 2, false));
    let Some(v) = tri!(ctx.get_str(key)) else {
        return Reply::Nil;
    };
    if let Some((unit, raw)) = o.expire {
        let at = tri!(expire_at_ms(raw, unit, ctx.now, "getex"));
        if !unit.is_relative() && at <= ctx.now {
            // An absolute time already past deletes the key at once.
            ctx.delete(key);
            ctx.propagate(&[b"DEL", key]);
        } else {
            ctx.db().set_expire(key, at);
            ctx.store.dirty += 1;
            crate::commands::keyspace::log_pexpireat(ctx, key, at);
        }
    } else if o.persist {
        let had_ttl = ctx.db().get_raw(key).is_some_and(|e| e.expire_at != 0);
        if had_ttl {
            ctx.db().set_expire(key, 0);
            ctx.store.dirty += 1;
            ctx.propagate(&[b"PERSIST", key]);
        }
    }
    Reply::Bulk(v)
}

// ---------------------------------------------------------------------------------------------
// Multi-key

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut out = Vec::with_capacity(args.len().saturating_sub(1));
    ctx.prefetch(&args[1..], 1);
    for key in &args[1..] {
        // A key of another type reads as nil here, not WRONGTYPE.
        out.push(
            ctx.str_at(key)
                .ok()
                .flatten()
                .map_or(Reply::Nil, Str::to_reply),
        );
    }
    Reply::Array(out)
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return Reply::arity("mset");
    }
    ctx.prefetch(&args[1..], 2);
    for pair in args[1..].chunks_exact(2) {
        ctx.set_str(&pair[0], &pair[1], 0);
    }
    Reply::ok()
}

/// MSETNX with all keys on this shard; the cross-shard form is coordinated elsewhere.
fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return Reply::arity("msetnx");
    }
    if args[1..].iter().step_by(2).any(|k| ctx.exists(k)) {
        return Reply::Int(0);
    }
    for pair in args[1..].chunks_exact(2) {
        ctx.set_str(&pair[0], &pair[1], 0);
    }
    Reply::Int(1)
}

// ---------------------------------------------------------------------------------------------
// Lengths and ranges

fn append(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let add = &args[2][..];
    let max = ctx.store.limits.proto_max_bulk_len;
    update_str(ctx, &args[1], |b, exists| {
        if !exists {
            // A new key takes the argument as it is (it already passed the protocol limit).
            *b = Str::copy_from(add);
            return Step::Write(Reply::Int(add.len() as i64));
        }
        let total = (b.len() as u64).checked_add(add.len() as u64);
        if total.is_none_or(|t| t > max) {
            return Step::Keep(Reply::err(BULK_LEN_ERR));
        }
        // Grow in place when we can, so repeated APPENDs are amortised O(1) like sds.
        let mut m = std::mem::take(b).into_mut();
        m.extend_from_slice(add);
        *b = m.into();
        Step::WriteRaw(Reply::Int(b.len() as i64))
    })
}

fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.get_str(&args[1]) {
        Ok(v) => Reply::Int(v.map_or(0, |b| b.len() as i64)),
        Err(e) => e,
    }
}

/// GETRANGE and SUBSTR, with Redis's index clamping (including its quirk that an end before
/// the start of the string clamps to 0, so `GETRANGE k 0 -100` returns the first byte).
fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut start = tri!(args::int(&args[2]));
    let mut end = tri!(args::int(&args[3]));
    let Some(v) = tri!(ctx.get_str(&args[1])) else {
        return Reply::Bulk(Bytes::new());
    };
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Reply::Bulk(Bytes::new());
    }
    if start < 0 {
        start = start.saturating_add(len);
    }
    if end < 0 {
        end = end.saturating_add(len);
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Reply::Bulk(Bytes::new());
    }
    // 0 <= start <= end < len here, so the casts are exact; slicing shares the stored buffer.
    Reply::Bulk(v.slice(start as usize..=end as usize))
}

fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let offset = tri!(args::int(&args[2]));
    if offset < 0 {
        return Reply::err("ERR offset is out of range");
    }
    let offset = offset as u64;
    let value = &args[3][..];
    let key = &args[1][..];
    // Checked before the lookup borrows the store; only used on paths that write.
    let end = check_len(ctx, offset, value.len() as u64);
    update_str(ctx, key, |b, exists| {
        if value.is_empty() {
            // Nothing to write: the current length (0 for a missing key, which isn't created).
            return Step::Keep(Reply::Int(b.len() as i64));
        }
        let end = match &end {
            Ok(end) => *end,
            Err(e) => return Step::Keep(e.clone()),
        };
        let start = end - value.len();
        let mut m = if exists {
            std::mem::take(b).into_mut()
        } else {
            BytesMut::new()
        };
        if m.len() < end {
            m.resize(end, 0);
        }
        m[start..end].copy_from_slice(value);
        *b = m.into();
        Step::WriteRaw(Reply::Int(b.len() as i64))
    })
}

// ---------------------------------------------------------------------------------------------
// Counters

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_decr(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_decr(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let by = tri!(args::int(&args[2]));
    incr_decr(ctx, &args[1], by)
}

fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let by = tri!(args::int(&args[2]));
    // -i64::MIN does not exist.
    let Some(by) = by.checked_neg() else {
        return Reply::err("ERR decrement would overflow");
    };
    incr_decr(ctx, &args[1], by)
}

/// INCR/DECR/INCRBY/DECRBY: a missing key counts as 0; the TTL is kept.
fn incr_decr(ctx: &mut Ctx, key: &[u8], by: i64) -> Reply {
    update_str(ctx, key, |b, exists| {
        let old = if exists {
            match num::parse_i64(b) {
                Some(v) => v,
                None => return Step::Keep(Reply::not_int()),
            }
        } else {
            0
        };
        let Some(new) = old.checked_add(by) else {
            return Step::Keep(Reply::err("ERR increment or decrement would overflow"));
        };
        *b = Str::copy_from(itoa::Buffer::new().format(new).as_bytes());
        Step::Write(Reply::Int(new))
    })
}

fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let by = &args[2][..];
    let reply = update_str(ctx, &args[1], |b, exists| {
        // Redis checks the stored value before the increment argument.
        let old = if exists {
            match num::parse_f64(b) {
                Some(v) => v,
                None => return Step::Keep(Reply::not_float()),
            }
        } else {
            0.0
        };
        let Some(by) = num::parse_f64(by) else {
            return Step::Keep(Reply::not_float());
        };
        let new = old + by;
        if !new.is_finite() {
            return Step::Keep(Reply::err("ERR increment would produce NaN or Infinity"));
        }
        // The formatted text is what is stored, so later reads agree with this reply.
        *b = Str::copy_from(num::fmt_human_sum(new, old, by).as_bytes());
        Step::Write(Reply::Bulk(b.to_bytes()))
    });
    // Redis stores the result as text, never as an int-encoded object.
    if !reply.is_error() {
        if let Some(e) = ctx.db().get_raw_mut(&args[1]) {
            e.enc = StrEnc::Text;
        }
        // Logged as the value it produced: float addition must not be redone on replay.
        if let Reply::Bulk(v) = &reply {
            let v = v.clone();
            ctx.propagate(&[b"SET", &args[1][..], &v, b"KEEPTTL"]);
        }
    }
    reply
}

// ---------------------------------------------------------------------------------------------
// LCS

/// LCS with both keys on this shard.
fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // Both keys are looked up before the type check, as Redis does.
    let a = ctx.get_str(&args[1]);
    let b = ctx.get_str(&args[2]);
    let max = ctx.store.limits.proto_max_bulk_len;
    match (a, b) {
        (Ok(a), Ok(b)) => lcs_reply_limited(
            a.as_deref().unwrap_or_default(),
            b.as_deref().unwrap_or_default(),
            args,
            max,
        ),
        _ => Reply::err(LCS_TYPE_ERR),
    }
}

/// The LCS reply for two string values (a missing key is ""), as the cross-shard coordinator
/// needs it after fetching the values itself (it replies `LCS_TYPE_ERR` when either key holds
/// another type). `args` is the whole LCS command; its options are parsed here. The DP table
/// is limited by the default proto-max-bulk-len; see `lcs_reply_limited`.
#[cfg(test)]
pub fn lcs_reply(a: &[u8], b: &[u8], args: &[Bytes]) -> Reply {
    lcs_reply_limited(
        a,
        b,
        args,
        crate::store::StoreLimits::default().proto_max_bulk_len,
    )
}

/// `lcs_reply` with the shard's proto-max-bulk-len, which bounds the DP table's bytes.
pub fn lcs_reply_limited(a: &[u8], b: &[u8], args: &[Bytes], max_table: u64) -> Reply {
    let mut getidx = false;
    let mut getlen = false;
    let mut withmatchlen = false;
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j][..];
        if args::is(opt, "idx") {
            getidx = true;
        } else if args::is(opt, "len") {
            getlen = true;
        } else if args::is(opt, "withmatchlen") {
            withmatchlen = true;
        } else if args::is(opt, "minmatchlen") && j + 1 < args.len() {
            minmatchlen = tri!(args::int(&args[j + 1])).max(0);
            j += 1;
        } else {
            return Reply::syntax();
        }
        j += 1;
    }
    if getidx && getlen {
        return Reply::err("ERR If you want both the length and indexes, please just use IDX.");
    }
    // Redis keeps table entries and indexes in 32 bits.
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Reply::err("ERR String too long for LCS");
    }
    let (alen, blen) = (a.len(), b.len());
    let w = blen + 1;
    let dp = match lcs_table(alen, blen, max_table) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let mut dp = dp;
    // dp[i*w + j] = length of the LCS of a[..i] and b[..j]; row and column 0 stay 0.
    for i in 1..=alen {
        let (done, rest) = dp.split_at_mut(i * w);
        let prev = &done[(i - 1) * w..];
        let cur = &mut rest[..w];
        let ai = a[i - 1];
        for j in 1..=blen {
            cur[j] = if ai == b[j - 1] {
                prev[j - 1] + 1
            } else {
                prev[j].max(cur[j - 1])
            };
        }
    }
    let at = |i: usize, j: usize| dp[i * w + j];
    let total = at(alen, blen);

    // Walk back from the end, building the LCS backwards and (for IDX) the matching ranges,
    // exactly as Redis's loop does so that ranges and their order agree.
    let computelcs = getidx || !getlen;
    let mut idx = total as usize;
    let mut result = if computelcs {
        vec![0u8; idx]
    } else {
        Vec::new()
    };
    let mut ranges = Vec::new();
    // arange_start == alen means "no range in progress".
    let (mut arange_start, mut arange_end, mut brange_start, mut brange_end) = (alen, 0, 0, 0);
    let (mut i, mut j) = (alen, blen);
    while computelcs && i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if arange_start == alen {
                arange_start = i - 1;
                arange_end = i - 1;
                brange_start = j - 1;
                brange_end = j - 1;
            } else if arange_start == i && brange_start == j {
                // Contiguous with the current range: extend it backwards.
                arange_start -= 1;
                brange_start -= 1;
            } else {
                emit = true;
            }
            // Matched the first byte of either string: the loop ends, emit what we have.
            if arange_start == 0 || brange_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            if arange_start != alen {
                emit = true;
            }
        }
        if emit {
            let match_len = arange_end - arange_start + 1;
            if getidx && (minmatchlen == 0 || match_len as i64 >= minmatchlen) {
                let mut range = vec![
                    Reply::Array(vec![
                        Reply::Int(arange_start as i64),
                        Reply::Int(arange_end as i64),
                    ]),
                    Reply::Array(vec![
                        Reply::Int(brange_start as i64),
                        Reply::Int(brange_end as i64),
                    ]),
                ];
                if withmatchlen {
                    range.push(Reply::Int(match_len as i64));
                }
                ranges.push(Reply::Array(range));
            }
            arange_start = alen;
        }
    }

    if getidx {
        Reply::Map(vec![
            (Reply::bulk_str("matches"), Reply::Array(ranges)),
            (Reply::bulk_str("len"), Reply::Int(total as i64)),
        ])
    } else if getlen {
        Reply::Int(total as i64)
    } else {
        Reply::Bulk(Bytes::from(result))
    }
}

/// The zeroed (alen+1)*(blen+1) table, refused as Redis does when its size exceeds
/// proto-max-bulk-len or cannot be allocated (instead of aborting the process).
fn lcs_table(alen: usize, blen: usize, max_table: u64) -> Result<Vec<u32>, Reply> {
    let failed =
        || Reply::err("ERR Insufficient memory, failed allocating transient memory for LCS");
    let cells = (alen as u64 + 1)
        .checked_mul(blen as u64 + 1)
        .ok_or_else(failed)?;
    let bytes = cells.checked_mul(4).ok_or_else(failed)?;
    if bytes > max_table {
        return Err(Reply::err(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let cells = usize::try_from(cells).map_err(|_| failed())?;
    let mut dp: Vec<u32> = Vec::new();
    dp.try_reserve_exact(cells).map_err(|_| failed())?;
    dp.resize(cells, 0);
    Ok(dp)
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ShardStore;

    fn spec(name: &str) -> &'static CommandSpec {
        COMMANDS
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no spec for {name}"))
    }

    fn argv(args: &[&str]) -> Vec<Bytes> {
        args.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    /// Run a command as the connection layer would: arity first, then the handler.
    fn run_at(store: &mut ShardStore, now: u64, args: &[&str]) -> Reply {
        let a = argv(args);
        let s = spec(&args[0].to_ascii_lowercase());
        if !s.arity_ok(a.len()) {
            return Reply::arity(args[0]);
        }
        let h = match s.kind {
            Kind::Keyed(h) | Kind::Split(h, _) | Kind::Coordinated(h) => h,
            Kind::Conn => panic!("not a keyed command"),
        };
        let mut ctx = Ctx { store, db: 0, now };
        h(&mut ctx, &a)
    }

    fn run(store: &mut ShardStore, args: &[&str]) -> Reply {
        let now = crate::util::now_ms();
        run_at(store, now, args)
    }

    fn bulk(s: &str) -> Reply {
        Reply::bulk_str(s)
    }
    fn err(s: &str) -> Reply {
        Reply::Error(s.to_string().into())
    }
    fn int(i: i64) -> Reply {
        Reply::Int(i)
    }
    fn arr(v: Vec<Reply>) -> Reply {
        Reply::Array(v)
    }

    const NOT_INT: &str = "ERR value is not an integer or out of range";
    const NOT_FLOAT: &str = "ERR value is not a valid float";
    const SYNTAX: &str = "ERR syntax error";
    const WT: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

    fn ttl_ms(store: &mut ShardStore, key: &str) -> u64 {
        store.dbs[0]
            .get_raw(key.as_bytes())
            .map_or(0, |e| e.expire_at)
    }

    #[test]
    fn table_matches_redis() {
        type Row = (
            &'static str,
            i32,
            &'static str,
            (i32, i32, i32),
            &'static str,
        );
        let expect: &[Row] = &[
            ("get", 2, "readonly fast", (1, 1, 1), "1.0.0"),
            ("set", -3, "write denyoom", (1, 1, 1), "1.0.0"),
            ("setnx", 3, "write denyoom fast", (1, 1, 1), "1.0.0"),
            ("setex", 4, "write denyoom", (1, 1, 1), "2.0.0"),
            ("psetex", 4, "write denyoom", (1, 1, 1), "2.6.0"),
            ("getset", 3, "write denyoom fast", (1, 1, 1), "1.0.0"),
            ("getdel", 2, "write fast", (1, 1, 1), "6.2.0"),
            ("getex", -2, "write fast", (1, 1, 1), "6.2.0"),
            ("mget", -2, "readonly fast", (1, -1, 1), "1.0.0"),
            ("mset", -3, "write denyoom", (1, -1, 2), "1.0.1"),
            ("msetnx", -3, "write denyoom", (1, -1, 2), "1.0.1"),
            ("append", 3, "write denyoom fast", (1, 1, 1), "2.0.0"),
            ("strlen", 2, "readonly fast", (1, 1, 1), "2.2.0"),
            ("getrange", 4, "readonly", (1, 1, 1), "2.4.0"),
            ("substr", 4, "readonly", (1, 1, 1), "1.0.0"),
            ("setrange", 4, "write denyoom", (1, 1, 1), "2.2.0"),
            ("incr", 2, "write denyoom fast", (1, 1, 1), "1.0.0"),
            ("decr", 2, "write denyoom fast", (1, 1, 1), "1.0.0"),
            ("incrby", 3, "write denyoom fast", (1, 1, 1), "1.0.0"),
            ("decrby", 3, "write denyoom fast", (1, 1, 1), "1.0.0"),
            ("incrbyfloat", 3, "write denyoom fast", (1, 1, 1), "2.6.0"),
            ("lcs", -3, "readonly", (1, 2, 1), "7.0.0"),
        ];
        assert_eq!(COMMANDS.len(), expect.len());
        for &(name, arity, flags, keys, since) in expect {
            let s = spec(name);
            assert_eq!(s.arity, arity, "{name}");
            assert_eq!(s.flags, flags, "{name}");
            assert_eq!((s.keys.first, s.keys.last, s.keys.step), keys, "{name}");
            assert_eq!(s.group, "string", "{name}");
            assert_eq!(s.since, since, "{name}");
            assert!(!s.summary.is_empty(), "{name}");
        }
        assert!(matches!(spec("mget").kind, Kind::Split(_, Merge::PerKey)));
        assert!(matches!(spec("mset").kind, Kind::Split(_, Merge::AllOk)));
        assert!(matches!(spec("msetnx").kind, Kind::Coordinated(_)));
        assert!(matches!(spec("lcs").kind, Kind::Coordinated(_)));
    }

    #[test]
    fn get_and_set_plain() {
        let mut s = ShardStore::new(16);
        assert_eq!(run(&mut s, &["GET", "k"]), Reply::Nil);
        assert_eq!(run(&mut s, &["SET", "k", "v"]), Reply::ok());
        assert_eq!(run(&mut s, &["GET", "k"]), bulk("v"));
        assert_eq!(run(&mut s, &["SET", "k", ""]), Reply::ok());
        assert_eq!(run(&mut s, &["GET", "k"]), bulk(""));
        assert_eq!(
            run(&mut s, &["SET", "k"]),
            err("ERR wrong number of arguments for 'set' command")
        );
        assert_eq!(s.stats.keyspace_hits, 2);
        assert_eq!(s.stats.keyspace_misses, 1);
    }

    #[test]
    fn set_drops_ttl_unless_keepttl() {
        let mut s = ShardStore::new(16);
        let now = 1_000_000;
        assert_eq!(
            run_at(&mut s, now, &["SET", "k", "v", "EX", "10"]),
            Reply::ok()
        );
        assert_eq!(ttl_ms(&mut s, "k"), now + 10_000);
        assert_eq!(
            run_at(&mut s, now, &["SET", "k", "w", "KEEPTTL"]),
            Reply::ok()
        );
        assert_eq!(ttl_ms(&mut s, "k"), now + 10_000);
        assert_eq!(run_at(&mut s, now, &["SET", "k", "x"]), Reply::ok());
        assert_eq!(ttl_ms(&mut s, "k"), 0);
        assert_eq!(
            run_at(&mut s, now, &["SET", "k", "x", "px", "1500"]),
            Reply::ok()
        );
        assert_eq!(ttl_ms(&mut s, "k"), now + 1500);
        assert_eq!(
            run_at(&mut s, now, &["SET", "k", "x", "exat", "2000"]),
            Reply::ok()
        );
        assert_eq!(ttl_ms(&mut s, "k"), 2_000_000);
        assert_eq!(
            run_at(&mut s, now, &["SET", "k", "x", "PXAT", "2000001"]),
            Reply::ok()
        );
        assert_eq!(ttl_ms(&mut s, "k"), 2_000_001);
        // Repeating the same expiry option is allowed; the last one wins.
        assert_eq!(
            run_at(&mut s, now, &["SET", "k", "x", "EX", "10", "ex", "20"]),
            Reply::ok()
        );
        assert_eq!(ttl_ms(&mut s, "k"), now + 20_000);
        assert_eq!(
            run_at(
                &mut s,
                now,
                &["SET", "k", "x", "PXAT", "9223372036854775807"]
            ),
            Reply::ok()
        );
        assert_eq!(ttl_ms(&mut s, "k"), i64::MAX as u64);
    }

    #[test]
    fn set_option_errors() {
        let mut s = ShardStore::new(16);
        let syntax = [
            &["SET", "k", "v", "NX", "XX"][..],
            &["SET", "k", "v", "xx", "nx"],
            &["SET", "k", "v", "EX", "10", "PX", "10"],
            &["SET", "k", "v", "KEEPTTL", "EX", "10"],
            &["SET", "k", "v", "EX", "10", "KEEPTTL"],
            &["SET", "k", "v", "EXAT", "9999999999", "PX", "1"],
            &["SET", "k", "v", "EX"],
            &["SET", "k", "v", "PERSIST"],
            &["SET", "k", "v", "foo"],
            &["SET", "k", "v", "NXX"],
        ];
        for a in syntax {
            assert_eq!(run(&mut s, a), err(SYNTAX), "{a:?}");
        }
        assert_eq!(run(&mut s, &["SET", "k", "v", "EX", "NX"]), err(NOT_INT));
        assert_eq!(run(&mut s, &["SET", "k", "v", "EX", "1.5"]), err(NOT_INT));
        let inv = err("ERR invalid expire time in 'set' command");
        for a in [
            &["SET", "k", "v", "EX", "0"][..],
            &["SET", "k", "v", "EX", "-1"],
            &["SET", "k", "v", "PX", "0"],
            &["SET", "k", "v", "EXAT", "0"],
            &["SET", "k", "v", "PXAT", "-5"],
            &["SET", "k", "v", "EX", "9223372036854775807"],
            // Fits once scaled to ms, but overflows when now is added.
            &["SET", "k", "v", "EX", "9223372036854775"],
            &["SET", "k", "v", "PX", "9223372036854775807"],
        ] {
            assert_eq!(run(&mut s, a), inv, "{a:?}");
        }
        // Nothing was stored by any of those.
        assert_eq!(run(&mut s, &["GET", "k"]), Reply::Nil);
        // Repeated flags are fine.
        assert_eq!(run(&mut s, &["SET", "k", "v", "NX", "NX"]), Reply::ok());
        assert_eq!(run(&mut s, &["SET", "k", "v", "XX", "xx"]), Reply::ok());
    }

    #[test]
    fn set_nx_xx_get() {
        let mut s = ShardStore::new(16);
        assert_eq!(run(&mut s, &["SET", "k", "v", "XX"]), Reply::Nil);
        assert_eq!(run(&mut s, &["SET", "k", "v", "NX"]), Reply::ok());
        assert_eq!(run(&mut s, &["SET", "k", "w", "NX"]), Reply::Nil);
        assert_eq!(run(&mut s, &["GET", "k"]), bulk("v"));
        assert_eq!(run(&mut s, &["SET", "k", "w", "XX"]), Reply::ok());
        assert_eq!(run(&mut s, &["SET", "k", "x", "GET"]), bulk("w"));
        assert_eq!(run(&mut s, &["SET", "k", "y", "get", "get"]), bulk("x"));
        // NX with GET: the aborted set still answers the old value.
        assert_eq!(run(&mut s, &["SET", "k", "z", "NX", "GET"]), bulk("y"));
        assert_eq!(run(&mut s, &["GET", "k"]), bulk("y"));
        assert_eq!(run(&mut s, &["SET", "n", "v", "GET", "NX"]), Reply::Nil);
        assert_eq!(run(&mut s, &["GET", "n"]), bulk("v"));
        assert_eq!(run(&mut s, &["SET", "m", "v", "XX", "GET"]), Reply::Nil);
        assert_eq!(run(&mut s, &["GET", "m"]), Reply::Nil);
        // The expiry is validated before GET answers.
        assert_eq!(
            run(&mut s, &["SET", "k", "v", "GET", "EX", "0"]),
            err("ERR invalid expire time in 'set' command")
        );
    }

    #[test]
    fn set_exat_in_the_past_expires_the_key() {
        let mut s = ShardStore::new(16);
        assert_eq!(run(&mut s, &["SET", "k", "v", "EXAT", "1"]), Reply::ok());
        assert_eq!(run(&mut s, &["GET", "k"]), Reply::Nil);
        assert_eq!(run(&mut s, &["SET", "k", "v"]), Reply::ok());
        assert_eq!(
            run(&mut s, &["SET", "k", "w", "PXAT", "1", "GET"]),
            bulk("v")
        );
        assert_eq!(run(&mut s, &["GET", "k"]), Reply::Nil);
    }

    #[test]
    fn setnx_setex_psetex() {
        let mut s = ShardStore::new(16);
        let now = 5_000;
        assert_eq!(run_at(&mut s, now, &["SETNX", "k", "v"]), int(1));
        assert_eq!(run_at(&mut s, now, &["SETNX", "k", "w"]), int(0));
        assert_eq!(run_at(&mut s, now, &["GET", "k"]), bulk("v"));
        assert_eq!(run_at(&mut s, now, &["SETEX", "k", "10", "a"]), Reply::ok());
        assert_eq!(ttl_ms(&mut s, "k"), now + 10_000);
        assert_eq!(
            run_at(&mut s, now, &["PSETEX", "k", "10", "b"]),
            Reply::ok()
        );
        assert_eq!(ttl_ms(&mut s, "k"), now + 10);
        assert_eq!(run_at(&mut s, now, &["GET", "k"]), bulk("b"));
        assert_eq!(
            run_at(&mut s, now, &["SETEX", "k", "0", "v"]),
            err("ERR invalid expire time in 'setex' command")
        );
        assert_eq!(
            run_at(&mut s, now, &["SETEX", "k", "9223372036854775", "v"]),
            err("ERR invalid expire time in 'setex' command")
        );
        assert_eq!(
            run_at(&mut s, now, &["PSETEX", "k", "-1", "v"]),
            err("ERR invalid expire time in 'psetex' command")
        );
        assert_eq!(run_at(&mut s, now, &["SETEX", "k", "x", "v"]), err(NOT_INT));
        assert_eq!(run_at(&mut s, now, &["GET", "k"]), bulk("b"));
    }

    #[test]
    fn getset_getdel() {
        let mut s = ShardStore::new(16);
        assert_eq!(run(&mut s, &["GETSET", "k", "a"]), Reply::Nil);
        assert_eq!(run(&mut s, &["GETSET", "k", "b"]), bulk("a"));
        assert_eq!(run(&mut s, &["GETDEL", "k"]), bulk("b"));
        assert_eq!(run(&mut s, &["GETDEL", "k"]), Reply::Nil);
        assert!(s.dbs[0].is_empty());
    }

    #[test]
    fn getset_clears_ttl() {
        let mut s = ShardStore::new(16);
        let now = 1_000;
        run_at(&mut s, now, &["SET", "k", "a", "EX", "100"]);
        assert_eq!(run_at(&mut s, now, &["GETSET", "k", "b"]), bulk("a"));
        assert_eq!(ttl_ms(&mut s, "k"), 0);
    }

    #[test]
    fn getex_options() {
        let mut s = ShardStore::new(16);
        let now = 1_000_000;
        // Options are parsed first, the expiry value only checked on an existing key.
        assert_eq!(run_at(&mut s, now, &["GETEX", "nokey", "foo"]), err(SYNTAX));
        assert_eq!(
            run_at(&mut s, now, &["GETEX", "nokey", "EX", "0"]),
            Reply::Nil
        );
        assert_eq!(
            run_at(&mut s, now, &["GETEX", "nokey", "EX", "abc"]),
            Reply::Nil
        );
        run_at(&mut s, now, &["SET", "k", "v"]);
        assert_eq!(
            run_at(&mut s, now, &["GETEX", "k", "EX", "0"]),
            err("ERR invalid expire time in 'getex' command")
        );
        assert_eq!(
            run_at(&mut s, now, &["GETEX", "k", "EX", "abc"]),
            err(NOT_INT)
        );
        for a in [
            &["GETEX", "k", "EXAT", "1", "PERSIST"][..],
            &["GETEX", "k", "PX", "10", "EX", "10"],
            &["GETEX", "k", "EX", "10", "PERSIST"],
            &["GETEX", "k", "GET"],
            &["GETEX", "k", "KEEPTTL"],
            &["GETEX", "k", "NX"],
            &["GETEX", "k", "EX"],
        ] {
            assert_eq!(run_at(&mut s, now, a), err(SYNTAX), "{a:?}");
        }
        assert_eq!(run_at(&mut s, now, &["GETEX", "k"]), bulk("v"));
        assert_eq!(ttl_ms(&mut s, "k"), 0);
        assert_eq!(
            run_at(&mut s, now, &["GETEX", "k", "EX", "10", "ex", "20"]),
            bulk("v")
        );
        assert_eq!(ttl_ms(&mut s, "k"), now + 20_000);
        assert_eq!(run_at(&mut s, now, &["GETEX", "k", "PX", "5"]), bulk("v"));
        assert_eq!(ttl_ms(&mut s, "k"), now + 5);
        assert_eq!(
            run_at(&mut s, now, &["GETEX", "k", "EXAT", "2000"]),
            bulk("v")
        );
        assert_eq!(ttl_ms(&mut s, "k"), 2_000_000);
        assert_eq!(
            run_at(&mut s, now, &["GETEX", "k", "PXAT", "3000000"]),
            bulk("v")
        );
        assert_eq!(ttl_ms(&mut s, "k"), 3_000_000);
        assert_eq!(
            run_at(&mut s, now, &["GETEX", "k", "PERSIST", "persist"]),
            bulk("v")
        );
        assert_eq!(ttl_ms(&mut s, "k"), 0);
        // An absolute time already past deletes the key at once.
        assert_eq!(
            run_at(&mut s, now, &["GETEX", "k", "PXAT", "1000000"]),
            bulk("v")
        );
        assert!(s.dbs[0].is_empty());
    }

    #[test]
    fn wrong_type_errors() {
        // Only strings exist in the store so far, so no key of another type can be made here;
        // check the texts the type-check paths reply with.
        assert_eq!(Reply::wrongtype(), err(WT));
        assert_eq!(
            LCS_TYPE_ERR,
            "ERR The specified keys must contain string values"
        );
    }

    #[test]
    fn mget_mset_msetnx() {
        let mut s = ShardStore::new(16);
        assert_eq!(run(&mut s, &["MSET", "a", "1", "b", "2"]), Reply::ok());
        assert_eq!(
            run(&mut s, &["MGET", "a", "none", "b", "a"]),
            arr(vec![bulk("1"), Reply::Nil, bulk("2"), bulk("1")])
        );
        assert_eq!(
            run(&mut s, &["MSET", "a"]),
            err("ERR wrong number of arguments for 'mset' command")
        );
        assert_eq!(
            run(&mut s, &["MSET", "a", "1", "b"]),
            err("ERR wrong number of arguments for 'mset' command")
        );
        assert_eq!(
            run(&mut s, &["MSETNX", "a", "1", "b"]),
            err("ERR wrong number of arguments for 'msetnx' command")
        );
        assert_eq!(
            run(&mut s, &["MGET"]),
            err("ERR wrong number of arguments for 'mget' command")
        );
        assert_eq!(run(&mut s, &["MSETNX", "c", "3", "a", "9"]), int(0));
        assert_eq!(run(&mut s, &["GET", "c"]), Reply::Nil);
        assert_eq!(run(&mut s, &["MSETNX", "c", "3", "d", "4"]), int(1));
        assert_eq!(run(&mut s, &["MSETNX", "x", "1", "x", "2"]), int(1));
        assert_eq!(run(&mut s, &["GET", "x"]), bulk("2"));
        assert_eq!(run(&mut s, &["MSET", "y", "1", "y", "2"]), Reply::ok());
        assert_eq!(run(&mut s, &["GET", "y"]), bulk("2"));
    }

    #[test]
    fn mset_clears_ttl() {
        let mut s = ShardStore::new(16);
        let now = 1_000;
        run_at(&mut s, now, &["SET", "a", "v", "EX", "100"]);
        run_at(&mut s, now, &["MSET", "a", "w"]);
        assert_eq!(ttl_ms(&mut s, "a"), 0);
    }

    #[test]
    fn append_and_strlen() {
        let mut s = ShardStore::new(16);
        let now = 1_000;
        assert_eq!(run_at(&mut s, now, &["STRLEN", "k"]), int(0));
        assert_eq!(run_at(&mut s, now, &["APPEND", "k", "foo"]), int(3));
        assert_eq!(run_at(&mut s, now, &["APPEND", "k", "bar"]), int(6));
        assert_eq!(run_at(&mut s, now, &["GET", "k"]), bulk("foobar"));
        assert_eq!(run_at(&mut s, now, &["STRLEN", "k"]), int(6));
        assert_eq!(run_at(&mut s, now, &["APPEND", "e", ""]), int(0));
        assert_eq!(run_at(&mut s, now, &["GET", "e"]), bulk(""));
        // APPEND keeps the TTL.
        run_at(&mut s, now, &["SET", "t", "a", "EX", "100"]);
        assert_eq!(run_at(&mut s, now, &["APPEND", "t", "b"]), int(2));
        assert_eq!(ttl_ms(&mut s, "t"), now + 100_000);
        // A value a reply still holds is not changed under it.
        let held = run_at(&mut s, now, &["GET", "k"]);
        // A value stored inline is answered from the reply itself (no allocation).
        assert!(matches!(held, Reply::Short(_)), "{held:?}");
        run_at(&mut s, now, &["APPEND", "k", "!"]);
        assert_eq!(held, bulk("foobar"));
        assert_eq!(run_at(&mut s, now, &["GET", "k"]), bulk("foobar!"));
        // Many appends grow in place.
        for _ in 0..1000 {
            run_at(&mut s, now, &["APPEND", "big", "xy"]);
        }
        assert_eq!(run_at(&mut s, now, &["STRLEN", "big"]), int(2000));
    }

    #[test]
    fn append_limit() {
        let mut s = ShardStore::new(16);
        s.limits.proto_max_bulk_len = 10;
        assert_eq!(run(&mut s, &["APPEND", "k", "12345678"]), int(8));
        assert_eq!(run(&mut s, &["APPEND", "k", "90"]), int(10));
        assert_eq!(run(&mut s, &["APPEND", "k", "x"]), err(BULK_LEN_ERR));
        assert_eq!(run(&mut s, &["STRLEN", "k"]), int(10));
    }

    #[test]
    fn getrange_clamping() {
        let mut s = ShardStore::new(16);
        run(&mut s, &["SET", "s", "hello"]);
        run(&mut s, &["SET", "e", ""]);
        let cases: &[(&str, &str, &str)] = &[
            ("0", "-1", "hello"),
            ("0", "-100", "h"),
            ("-1", "-5", ""),
            ("-100", "-1", "hello"),
            ("3", "1", ""),
            ("0", "100", "hello"),
            ("1", "-9223372036854775808", ""),
            ("-9223372036854775808", "9223372036854775807", "hello"),
            ("1", "2", "el"),
            ("-3", "-2", "ll"),
            ("5", "10", ""),
            ("4", "4", "o"),
        ];
        for &(a, b, want) in cases {
            assert_eq!(run(&mut s, &["GETRANGE", "s", a, b]), bulk(want), "{a} {b}");
        }
        assert_eq!(run(&mut s, &["SUBSTR", "s", "1", "2"]), bulk("el"));
        assert_eq!(run(&mut s, &["GETRANGE", "e", "0", "-1"]), bulk(""));
        assert_eq!(run(&mut s, &["GETRANGE", "none", "0", "1"]), bulk(""));
        assert_eq!(run(&mut s, &["GETRANGE", "s", "a", "1"]), err(NOT_INT));
        assert_eq!(run(&mut s, &["GETRANGE", "none", "0", "x"]), err(NOT_INT));
    }

    #[test]
    fn setrange_cases() {
        let mut s = ShardStore::new(16);
        let now = 1_000;
        assert_eq!(
            run_at(&mut s, now, &["SETRANGE", "k", "-1", "x"]),
            err("ERR offset is out of range")
        );
        assert_eq!(
            run_at(&mut s, now, &["SETRANGE", "k", "x", "x"]),
            err(NOT_INT)
        );
        // Empty value on a missing key: 0, key not created.
        assert_eq!(run_at(&mut s, now, &["SETRANGE", "new", "5", ""]), int(0));
        assert!(s.dbs[0].is_empty());
        assert_eq!(run_at(&mut s, now, &["SETRANGE", "new", "2", "ab"]), int(4));
        assert_eq!(
            run_at(&mut s, now, &["GET", "new"]),
            Reply::Bulk(Bytes::from_static(b"\0\0ab"))
        );
        run_at(&mut s, now, &["SET", "k", "Hello World", "EX", "100"]);
        assert_eq!(
            run_at(&mut s, now, &["SETRANGE", "k", "6", "Redis"]),
            int(11)
        );
        assert_eq!(run_at(&mut s, now, &["GET", "k"]), bulk("Hello Redis"));
        assert_eq!(ttl_ms(&mut s, "k"), now + 100_000);
        assert_eq!(run_at(&mut s, now, &["SETRANGE", "k", "1", ""]), int(11));
        assert_eq!(run_at(&mut s, now, &["SETRANGE", "k", "11", "!!"]), int(13));
        assert_eq!(run_at(&mut s, now, &["GET", "k"]), bulk("Hello Redis!!"));
        assert_eq!(run_at(&mut s, now, &["SETRANGE", "k", "0", "J"]), int(13));
        assert_eq!(run_at(&mut s, now, &["GET", "k"]), bulk("Jello Redis!!"));
    }

    #[test]
    fn setrange_limit() {
        let mut s = ShardStore::new(16);
        assert_eq!(
            run(&mut s, &["SETRANGE", "k", "536870912", "x"]),
            err(BULK_LEN_ERR)
        );
        assert_eq!(
            run(&mut s, &["SETRANGE", "k", "9223372036854775807", "x"]),
            err(BULK_LEN_ERR)
        );
        // Nothing to write: no size check, length of what's there.
        assert_eq!(
            run(&mut s, &["SETRANGE", "k", "9223372036854775807", ""]),
            int(0)
        );
        s.limits.proto_max_bulk_len = 8;
        assert_eq!(run(&mut s, &["SETRANGE", "j", "7", "x"]), int(8));
        assert_eq!(run(&mut s, &["SETRANGE", "j", "8", "x"]), err(BULK_LEN_ERR));
        assert_eq!(run(&mut s, &["SETRANGE", "j", "6", "xy"]), int(8));
        assert_eq!(
            run(&mut s, &["SETRANGE", "j", "6", "xyz"]),
            err(BULK_LEN_ERR)
        );
    }

    #[test]
    fn incr_decr() {
        let mut s = ShardStore::new(16);
        let now = 1_000;
        assert_eq!(run_at(&mut s, now, &["INCR", "n"]), int(1));
        assert_eq!(run_at(&mut s, now, &["INCRBY", "n", "10"]), int(11));
        assert_eq!(run_at(&mut s, now, &["DECR", "n"]), int(10));
        assert_eq!(run_at(&mut s, now, &["DECRBY", "n", "-5"]), int(15));
        assert_eq!(run_at(&mut s, now, &["GET", "n"]), bulk("15"));
        assert_eq!(run_at(&mut s, now, &["DECR", "m"]), int(-1));
        assert_eq!(run_at(&mut s, now, &["INCRBY", "n", "x"]), err(NOT_INT));
        assert_eq!(run_at(&mut s, now, &["INCRBY", "n", "1.5"]), err(NOT_INT));
        assert_eq!(
            run_at(&mut s, now, &["DECRBY", "n", "-9223372036854775808"]),
            err("ERR decrement would overflow")
        );
        assert_eq!(
            run_at(&mut s, now, &["INCRBY", "n", "9223372036854775807"]),
            err("ERR increment or decrement would overflow")
        );
        run_at(&mut s, now, &["SET", "n", "9223372036854775807"]);
        assert_eq!(
            run_at(&mut s, now, &["INCR", "n"]),
            err("ERR increment or decrement would overflow")
        );
        run_at(&mut s, now, &["SET", "n", "-9223372036854775808"]);
        assert_eq!(
            run_at(&mut s, now, &["DECR", "n"]),
            err("ERR increment or decrement would overflow")
        );
        assert_eq!(
            run_at(&mut s, now, &["INCR", "n"]),
            int(-9223372036854775807)
        );
        for bad in [" 1", "1 ", "01", "1.0", "", "abc", "-0", "+1"] {
            run_at(&mut s, now, &["SET", "b", bad]);
            assert_eq!(run_at(&mut s, now, &["INCR", "b"]), err(NOT_INT), "{bad:?}");
            assert_eq!(run_at(&mut s, now, &["GET", "b"]), bulk(bad));
        }
        // The TTL is kept.
        run_at(&mut s, now, &["SET", "t", "3", "EX", "100"]);
        assert_eq!(run_at(&mut s, now, &["INCR", "t"]), int(4));
        assert_eq!(ttl_ms(&mut s, "t"), now + 100_000);
    }

    #[test]
    fn incrbyfloat_cases() {
        let mut s = ShardStore::new(16);
        let now = 1_000;
        run_at(&mut s, now, &["SET", "f", "10.5"]);
        assert_eq!(
            run_at(&mut s, now, &["INCRBYFLOAT", "f", "0.1"]),
            bulk("10.6")
        );
        assert_eq!(run_at(&mut s, now, &["GET", "f"]), bulk("10.6"));
        assert_eq!(
            run_at(&mut s, now, &["INCRBYFLOAT", "f", "inf"]),
            err("ERR increment would produce NaN or Infinity")
        );
        assert_eq!(
            run_at(&mut s, now, &["INCRBYFLOAT", "f", "abc"]),
            err(NOT_FLOAT)
        );
        assert_eq!(
            run_at(&mut s, now, &["INCRBYFLOAT", "f", "nan"]),
            err(NOT_FLOAT)
        );
        assert_eq!(run_at(&mut s, now, &["INCRBYFLOAT", "nf", "3"]), bulk("3"));
        assert_eq!(
            run_at(&mut s, now, &["INCRBYFLOAT", "nf", "1e20"]),
            bulk("100000000000000000000")
        );
        assert_eq!(
            run_at(&mut s, now, &["INCRBYFLOAT", "qq", "0.1"]),
            bulk("0.1")
        );
        assert_eq!(
            run_at(&mut s, now, &["INCRBYFLOAT", "qq", "0.2"]),
            bulk("0.3")
        );
        assert_eq!(run_at(&mut s, now, &["INCRBYFLOAT", "z", "-0"]), bulk("0"));
        assert_eq!(
            run_at(&mut s, now, &["INCRBYFLOAT", "h", "1.5e-7"]),
            bulk("0.00000015")
        );
        run_at(&mut s, now, &["SET", "q", "1"]);
        assert_eq!(run_at(&mut s, now, &["INCRBYFLOAT", "q", "-1"]), bulk("0"));
        for bad in [" 1", "1 ", "abc", ""] {
            run_at(&mut s, now, &["SET", "g", bad]);
            // The stored value is checked before the increment.
            assert_eq!(
                run_at(&mut s, now, &["INCRBYFLOAT", "g", "x"]),
                err(NOT_FLOAT),
                "{bad:?}"
            );
        }
        run_at(&mut s, now, &["SET", "t", "3", "EX", "100"]);
        assert_eq!(run_at(&mut s, now, &["INCRBYFLOAT", "t", "1"]), bulk("4"));
        assert_eq!(ttl_ms(&mut s, "t"), now + 100_000);
        assert_eq!(run_at(&mut s, now, &["INCR", "t"]), int(5));
    }

    fn range(a: (i64, i64), b: (i64, i64), len: Option<i64>) -> Reply {
        let mut v = vec![arr(vec![int(a.0), int(a.1)]), arr(vec![int(b.0), int(b.1)])];
        if let Some(l) = len {
            v.push(int(l));
        }
        arr(v)
    }

    fn idx(matches: Vec<Reply>, len: i64) -> Reply {
        Reply::Map(vec![
            (bulk("matches"), arr(matches)),
            (bulk("len"), int(len)),
        ])
    }

    #[test]
    fn lcs_forms() {
        let mut s = ShardStore::new(16);
        run(&mut s, &["MSET", "ka", "ohmytext", "kb", "mynewtext"]);
        assert_eq!(run(&mut s, &["LCS", "ka", "kb"]), bulk("mytext"));
        assert_eq!(run(&mut s, &["LCS", "ka", "kb", "LEN"]), int(6));
        assert_eq!(
            run(&mut s, &["LCS", "ka", "kb", "IDX"]),
            idx(
                vec![range((4, 7), (5, 8), None), range((2, 3), (0, 1), None)],
                6
            )
        );
        assert_eq!(
            run(
                &mut s,
                &["LCS", "ka", "kb", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]
            ),
            idx(vec![range((4, 7), (5, 8), Some(4))], 6)
        );
        assert_eq!(
            run(
                &mut s,
                &[
                    "LCS",
                    "ka",
                    "kb",
                    "minmatchlen",
                    "-5",
                    "idx",
                    "withmatchlen"
                ]
            ),
            idx(
                vec![
                    range((4, 7), (5, 8), Some(4)),
                    range((2, 3), (0, 1), Some(2))
                ],
                6
            )
        );
        // WITHMATCHLEN without IDX changes nothing.
        assert_eq!(
            run(&mut s, &["LCS", "ka", "kb", "WITHMATCHLEN"]),
            bulk("mytext")
        );
        assert_eq!(run(&mut s, &["LCS", "n1", "n2"]), bulk(""));
        assert_eq!(run(&mut s, &["LCS", "n1", "n2", "IDX"]), idx(vec![], 0));
        assert_eq!(run(&mut s, &["LCS", "ka", "n2", "IDX"]), idx(vec![], 0));
        assert_eq!(run(&mut s, &["LCS", "ka", "ka"]), bulk("ohmytext"));
    }

    #[test]
    fn lcs_errors() {
        let mut s = ShardStore::new(16);
        run(&mut s, &["MSET", "ka", "ohmytext", "kb", "mynewtext"]);
        let both = err("ERR If you want both the length and indexes, please just use IDX.");
        assert_eq!(run(&mut s, &["LCS", "ka", "kb", "IDX", "LEN"]), both);
        assert_eq!(run(&mut s, &["LCS", "ka", "kb", "len", "idx"]), both);
        assert_eq!(run(&mut s, &["LCS", "ka", "kb", "foo"]), err(SYNTAX));
        assert_eq!(
            run(&mut s, &["LCS", "ka", "kb", "MINMATCHLEN"]),
            err(SYNTAX)
        );
        assert_eq!(
            run(&mut s, &["LCS", "ka", "kb", "MINMATCHLEN", "x"]),
            err(NOT_INT)
        );
        assert_eq!(
            run(&mut s, &["LCS", "ka"]),
            err("ERR wrong number of arguments for 'lcs' command")
        );
        // The DP table is bounded by proto-max-bulk-len (4 bytes a cell).
        let a = "a".repeat(600);
        let mut args = argv(&["LCS", "x", "y", "LEN"]);
        assert_eq!(lcs_reply(a.as_bytes(), a.as_bytes(), &args), int(600));
        assert_eq!(
            lcs_reply_limited(a.as_bytes(), a.as_bytes(), &args, 1024 * 1024),
            err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
        );
        args.truncate(3);
        assert_eq!(lcs_reply(b"abcXdef", b"abcYdef", &args), bulk("abcdef"));
    }

    #[test]
    fn lcs_reply_ranges_match_redis() {
        // Checked against redis-server 7.0.15.
        let args = argv(&["LCS", "a", "b", "IDX", "WITHMATCHLEN"]);
        assert_eq!(
            lcs_reply(b"abcdefgh", b"xbcdyefh", &args),
            idx(
                vec![
                    range((7, 7), (7, 7), Some(1)),
                    range((4, 5), (5, 6), Some(2)),
                    range((1, 3), (1, 3), Some(3)),
                ],
                6
            )
        );
    }
}
