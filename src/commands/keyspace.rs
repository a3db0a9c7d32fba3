//! Generic keyspace commands (Redis 7.0 db.c, expire.c, object.c, cluster.c DUMP/RESTORE),
//! and the shard-local halves of the commands the connection layer fans out to every shard
//! (KEYS, SCAN, RANDOMKEY).

use crate::commands::args::{self, is};
use crate::commands::{CommandSpec, Kind, Merge};
use crate::protocol::reply::Reply;
use crate::store::{dump, Ctx, Entry, Value};
use crate::util::glob::glob_match;
use bytes::Bytes;
use std::borrow::Cow;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, "write", (1, -1, 1), Kind::Split(del, Merge::SumInt))
        .doc("generic", "1.0.0", "Delete a key"),
    CommandSpec::new("unlink", -2, "write fast", (1, -1, 1), Kind::Split(del, Merge::SumInt))
        .doc(
            "generic",
            "4.0.0",
            "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
        ),
    CommandSpec::new("exists", -2, "readonly fast", (1, -1, 1), Kind::Split(exists, Merge::SumInt))
        .doc("generic", "1.0.0", "Determine if a key exists"),
    CommandSpec::new("touch", -2, "readonly fast", (1, -1, 1), Kind::Split(touch, Merge::SumInt))
        .doc(
            "generic",
            "3.2.1",
            "Alters the last access time of a key(s). Returns the number of existing keys specified.",
        ),
    CommandSpec::new("type", 2, "readonly fast", (1, 1, 1), Kind::Keyed(type_cmd))
        .doc("generic", "1.0.0", "Determine the type stored at key"),
    CommandSpec::new("expire", -3, "write fast", (1, 1, 1), Kind::Keyed(expire))
        .doc("generic", "1.0.0", "Set a key's time to live in seconds"),
    CommandSpec::new("pexpire", -3, "write fast", (1, 1, 1), Kind::Keyed(pexpire))
        .doc("generic", "2.6.0", "Set a key's time to live in milliseconds"),
    CommandSpec::new("expireat", -3, "write fast", (1, 1, 1), Kind::Keyed(expireat))
        .doc("generic", "1.2.0", "Set the expiration for a key as a UNIX timestamp"),
    CommandSpec::new("pexpireat", -3, "write fast", (1, 1, 1), Kind::Keyed(pexpireat)).doc(
        "generic",
        "2.6.0",
        "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
    ),
    CommandSpec::new("ttl", 2, "readonly fast", (1, 1, 1), Kind::Keyed(ttl))
        .doc("generic", "1.0.0", "Get the time to live for a key in seconds"),
    CommandSpec::new("pttl", 2, "readonly fast", (1, 1, 1), Kind::Keyed(pttl))
        .doc("generic", "2.6.0", "Get the time to live for a key in milliseconds"),
    CommandSpec::new("expiretime", 2, "readonly fast", (1, 1, 1), Kind::Keyed(expiretime))
        .doc("generic", "7.0.0", "Get the expiration Unix timestamp for a key"),
    CommandSpec::new("pexpiretime", 2, "readonly fast", (1, 1, 1), Kind::Keyed(pexpiretime))
        .doc("generic", "7.0.0", "Get the expiration Unix timestamp for a key in milliseconds"),
    CommandSpec::new("persist", 2, "write fast", (1, 1, 1), Kind::Keyed(persist))
        .doc("generic", "2.2.0", "Remove the expiration from a key"),
    // A container command in Redis: the container itself has no flags and no key spec; its
    // key-taking subcommands have the key at index 2, which `key_fn` gives the router.
    CommandSpec::new("object", -2, "", (0, 0, 0), Kind::Keyed(object))
        .key_fn(object_keys)
        .doc("generic", "2.2.3", "A container for object introspection commands"),
    CommandSpec::new("dump", 2, "readonly", (1, 1, 1), Kind::Keyed(dump_cmd)).doc(
        "generic",
        "2.6.0",
        "Return a serialized version of the value stored at the specified key.",
    ),
    CommandSpec::new("restore", -4, "write denyoom", (1, 1, 1), Kind::Keyed(restore)).doc(
        "generic",
        "2.6.0",
        "Create a key using the provided serialized value, previously obtained using DUMP.",
    ),
    CommandSpec::new("move", 3, "write fast", (1, 1, 1), Kind::Keyed(move_cmd))
        .doc("generic", "1.0.0", "Move a key to another database"),
    CommandSpec::new("rename", 3, "write", (1, 2, 1), Kind::Coordinated(rename))
        .doc("generic", "1.0.0", "Rename a key"),
    CommandSpec::new("renamenx", 3, "write fast", (1, 2, 1), Kind::Coordinated(renamenx))
        .doc("generic", "1.0.0", "Rename a key, only if the new key does not exist"),
    CommandSpec::new("copy", -3, "write denyoom", (1, 2, 1), Kind::Coordinated(copy))
        .doc("generic", "6.2.0", "Copy a key"),
];

const ERR_NO_SUCH_KEY: &str = "ERR no such key";
const ERR_SAME_OBJECT: &str = "ERR source and destination objects are the same";
const ERR_DB_RANGE: &str = "ERR DB index is out of range";
const ERR_INT_RANGE: &str =
    "ERR value is out of range, value must between -2147483648 and 2147483647";
const ERR_BUSYKEY: &str = "BUSYKEY Target key name already exists.";
const ERR_LFU_IDLE: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const ERR_LFU_FREQ: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// Redis's OBJ_SHARED_REFCOUNT: what OBJECT REFCOUNT shows for the shared integers 0..9999.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
const OBJ_SHARED_INTEGERS: i64 = 10000;
/// Redis's 24-bit LRU clock (seconds), which RESTORE IDLETIME arithmetic wraps within.
const LRU_CLOCK_MAX: i64 = (1 << 24) - 1;

// ---------------------------------------------------------------------------------------------
// Lookups with Redis's side effects.

/// The access clock value for "now" (Entry::lru is in seconds).
fn lru_now(ctx: &Ctx) -> u32 {
    (ctx.now / 1000) as u32
}

/// A context on another database of the same shard, same clock.
fn other_db<'s>(ctx: &'s mut Ctx<'_>, db: usize) -> Ctx<'s> {
    Ctx {
        store: &mut *ctx.store,
        db,
        now: ctx.now,
    }
}

/// getIntFromObjectOrReply then selectDb's range check (MOVE, COPY DB).
fn parse_db_index(ctx: &Ctx, a: &[u8]) -> Result<usize, Reply> {
    let v = args::int(a)?;
    let v = i32::try_from(v).map_err(|_| Reply::err(ERR_INT_RANGE))?;
    match usize::try_from(v) {
        Ok(i) if i < ctx.store.dbs.len() => Ok(i),
        _ => Err(Reply::err(ERR_DB_RANGE)),
    }
}

/// Client bytes in an error text, as Redis's `%s` shows them: up to the first NUL byte.
fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(args::c_str(b))
}

// ---------------------------------------------------------------------------------------------
// DEL UNLINK EXISTS TOUCH TYPE

/// DEL and UNLINK (a value is freed at once either way; there is no lazy-free thread).
fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ctx.prefetch(&args[1..], 1);
    let n = args.iter().skip(1).filter(|k| ctx.delete(k)).count();
    Reply::Int(n as i64)
}

/// EXISTS counts a key as many times as it is named.
fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ctx.prefetch(&args[1..], 1);
    let n = args
        .iter()
        .skip(1)
        .filter(|k| ctx.lookup_notouch(k).is_some())
        .count();
    Reply::Int(n as i64)
}

fn touch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let n = args
        .iter()
        .skip(1)
        .filter(|k| ctx.lookup_read(k).is_some())
        .count();
    Reply::Int(n as i64)
}

fn type_cmd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.lookup_notouch(&args[1]) {
        Some(e) => Reply::simple(e.value.type_name()),
        None => Reply::simple("none"),
    }
}

// ---------------------------------------------------------------------------------------------
// EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST

const EXPIRE_NX: u8 = 1;
const EXPIRE_XX: u8 = 2;
const EXPIRE_GT: u8 = 4;
const EXPIRE_LT: u8 = 8;

/// parseExtendedExpireArgumentsOrReply: options are checked before the time argument.
fn parse_expire_flags(args: &[Bytes]) -> Result<u8, Reply> {
    let mut flags = 0;
    for opt in args.iter().skip(3) {
        flags |= if is(opt, "nx") {
            EXPIRE_NX
        } else if is(opt, "xx") {
            EXPIRE_XX
        } else if is(opt, "gt") {
            EXPIRE_GT
        } else if is(opt, "lt") {
            EXPIRE_LT
        } else {
            return Err(Reply::err(format!("ERR Unsupported option {}", lossy(opt))));
        };
    }
    if flags & EXPIRE_NX != 0 && flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT) != 0 {
        return Err(Reply::err(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if flags & EXPIRE_GT != 0 && flags & EXPIRE_LT != 0 {
        return Err(Reply::err(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(flags)
}

/// expireGenericCommand: `basetime` is 0 for the absolute forms, now for the relative ones.
fn expire_generic(ctx: &mut Ctx, args: &[Bytes], basetime: i64, secs: bool, name: &str) -> Reply {
    let flags = match parse_expire_flags(args) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let when = match args::int(&args[2]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let bad_time = || Reply::err(format!("ERR invalid expire time in '{name}' command"));
    let when = if secs {
        match when.checked_mul(1000) {
            Some(ms) => ms,
            None => return bad_time(),
        }
    } else {
        when
    };
    let Some(when) = when.checked_add(basetime) else {
        return bad_time();
    };
    let key = &args[1][..];
    let now = ctx.now as i64;
    let Some(e) = ctx.lookup(key) else {
        return Reply::Int(0);
    };
    // -1 for no TTL, as getExpire reports it.
    let current = if e.expire_at == 0 {
        -1
    } else {
        e.expire_at as i64
    };
    let refused = (flags & EXPIRE_NX != 0 && current != -1)
        || (flags & EXPIRE_XX != 0 && current == -1)
        // GT: no TTL counts as infinite, so GT always fails on it.
        || (flags & EXPIRE_GT != 0 && (current == -1 || when <= current))
        || (flags & EXPIRE_LT != 0 && current != -1 && when >= current);
    if refused {
        return Reply::Int(0);
    }
    if when <= now {
        // A time in the past deletes the key (replicated as DEL in Redis).
        ctx.db().remove(key);
        ctx.propagate(&[b"DEL", key]);
    } else {
        ctx.db().set_expire(key, when as u64);
        log_pexpireat(ctx, key, when as u64);
    }
    ctx.store.dirty += 1;
    Reply::Int(1)
}

/// Every expiry is logged as `PEXPIREAT key <absolute ms>`: replay at any later time sets the
/// same deadline.
pub fn log_pexpireat(ctx: &mut Ctx, key: &[u8], at: u64) {
    if ctx.feeding() {
        let mut ms = itoa::Buffer::new();
        ctx.propagate(&[b"PEXPIREAT", key, ms.format(at).as_bytes()]);
    }
}

fn expire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now as i64;
    expire_generic(ctx, args, now, true, "expire")
}

fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now as i64;
    expire_generic(ctx, args, now, false, "pexpire")
}

fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, 0, true, "expireat")
}

fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, 0, false, "pexpireat")
}

fn persist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1][..];
    match ctx.lookup(key) {
        Some(e) if e.expire_at != 0 => {
            ctx.db().set_expire(key, 0);
            ctx.store.dirty += 1;
            Reply::Int(1)
        }
        _ => Reply::Int(0),
    }
}

// ---------------------------------------------------------------------------------------------
// TTL PTTL EXPIRETIME PEXPIRETIME

/// ttlGenericCommand: -2 no key, -1 no TTL; seconds are rounded to nearest.
fn ttl_generic(ctx: &mut Ctx, args: &[Bytes], ms: bool, abs: bool) -> Reply {
    let now = ctx.now as i128;
    let Some(e) = ctx.lookup_notouch(&args[1]) else {
        return Reply::Int(-2);
    };
    if e.expire_at == 0 {
        return Reply::Int(-1);
    }
    let at = e.expire_at as i128;
    let t = if abs { at } else { (at - now).max(0) };
    // i128 so that rounding a time near i64::MAX does not overflow (Redis prints it unwrapped).
    let t = if ms { t } else { (t + 500) / 1000 };
    Reply::Int(i64::try_from(t).unwrap_or(i64::MAX))
}

fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, false, false)
}

fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, true, false)
}

fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, false, true)
}

fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, true, true)
}

// ---------------------------------------------------------------------------------------------
// OBJECT

fn object_keys(args: &[Bytes]) -> Vec<usize> {
    if args.len() >= 3 {
        vec![2]
    } else {
        Vec::new()
    }
}

const OBJECT_HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

fn object(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() < 2 {
        return Reply::arity("object");
    }
    let sub = &args[1];
    // Redis resolves the subcommand before the call: unknown names and wrong argument counts
    // are rejected with the container's wording, before any key is looked at.
    let (name, argc) = if is(sub, "help") {
        ("help", 2)
    } else if is(sub, "encoding") {
        ("encoding", 3)
    } else if is(sub, "freq") {
        ("freq", 3)
    } else if is(sub, "idletime") {
        ("idletime", 3)
    } else if is(sub, "refcount") {
        ("refcount", 3)
    } else {
        let shown = &sub[..sub.len().min(128)];
        return Reply::err(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            lossy(shown),
            lossy(&args[0]).to_ascii_uppercase()
        ));
    };
    if args.len() != argc {
        return Reply::err(format!(
            "ERR wrong number of arguments for 'object|{name}' command"
        ));
    }
    if name == "help" {
        let mut lines = vec![Reply::Simple(Cow::Owned(format!(
            "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            lossy(&args[0]).to_ascii_uppercase()
        )))];
        lines.extend(OBJECT_HELP.iter().map(|l| Reply::simple(l)));
        return Reply::Array(lines);
    }
    let now_s = lru_now(ctx);
    let (lfu, decay, now) = (
        ctx.store.limits.lfu,
        ctx.store.limits.lfu_decay_time,
        ctx.now,
    );
    let shared_integers = ctx.store.limits.shared_integers;
    let Some(e) = ctx.lookup_notouch(&args[2]) else {
        return Reply::Nil;
    };
    match name {
        "encoding" => Reply::bulk_str(e.encoding()),
        "refcount" => Reply::Int(refcount(e, shared_integers)),
        "idletime" if lfu => Reply::err(ERR_LFU_IDLE),
        "idletime" => Reply::Int(now_s.saturating_sub(e.lru) as i64),
        _ if lfu => Reply::Int(crate::store::value::lfu_counter(e.lru, now, decay) as i64),
        _ => Reply::err(ERR_LFU_FREQ),
    }
}

/// Redis shares the integer objects 0..9999 (unless maxmemory is set with an LRU/LFU policy),
/// and those report OBJ_SHARED_REFCOUNT; everything else has one reference.
fn refcount(e: &Entry, shared_integers: bool) -> i64 {
    match &e.value {
        Value::Str(b) => {
            let shared = shared_integers
                && e.encoding() == "int"
                && crate::util::num::parse_i64(b)
                    .is_some_and(|i| (0..OBJ_SHARED_INTEGERS).contains(&i));
            if shared {
                SHARED_REFCOUNT
            } else {
                1
            }
        }
        _ => 1,
    }
}

// ---------------------------------------------------------------------------------------------
// DUMP RESTORE

fn dump_cmd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // The limits are copied out first: the entry borrows the store.
    let limits = ctx.store.limits.clone();
    match ctx.lookup_read(&args[1]) {
        Some(e) => match dump::dumpable(&e.value) {
            Ok(()) => Reply::Bulk(Bytes::from(dump::dump(&e.value, &limits))),
            Err(msg) => Reply::err(msg),
        },
        None => Reply::Nil,
    }
}

/// The access-clock value Redis ends up with for RESTORE ... IDLETIME `idle`, expressed as
/// our absolute seconds: Redis subtracts from its 24-bit wrapping clock, wraps once, keeps 24
/// bits, and OBJECT IDLETIME unwraps that again, so huge idle times read back folded.
fn restored_lru(now_s: u32, idle: i64) -> u32 {
    let clock = now_s as i64 & LRU_CLOCK_MAX;
    // lru_idle * 1000 / LRU_CLOCK_RESOLUTION, wrapping as the C does for huge values.
    let idle = idle.wrapping_mul(1000) / 1000;
    let mut abs = clock.wrapping_sub(idle);
    if abs < 0 {
        abs = abs.wrapping_add(LRU_CLOCK_MAX);
    }
    let lru24 = abs & 0xff_ffff;
    let est = if clock >= lru24 {
        clock - lru24
    } else {
        clock + (LRU_CLOCK_MAX - lru24)
    };
    now_s.saturating_sub(est as u32)
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f], checks in Redis's order:
/// options, existing key, TTL, payload footer, payload body.
fn restore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut replace = false;
    let mut absttl = false;
    let mut idle: Option<i64> = None;
    let mut freq: Option<i64> = None;
    let mut j = 4;
    while j < args.len() {
        let a = &args[j];
        let more = j + 1 < args.len();
        if is(a, "replace") {
            replace = true;
        } else if is(a, "absttl") {
            absttl = true;
        } else if is(a, "idletime") && more && freq.is_none() {
            let v = match args::int(&args[j + 1]) {
                Ok(v) => v,
                Err(e) => return e,
            };
            if v < 0 {
                return Reply::err("ERR Invalid IDLETIME value, must be >= 0");
            }
            idle = Some(v);
            j += 1;
        } else if is(a, "freq") && more && idle.is_none() {
            let v = match args::int(&args[j + 1]) {
                Ok(v) => v,
                Err(e) => return e,
            };
            if !(0..=255).contains(&v) {
                return Reply::err("ERR Invalid FREQ value, must be >= 0 and <= 255");
            }
            freq = Some(v);
            j += 1;
        } else {
            return Reply::syntax();
        }
        j += 1;
    }
    let key = &args[1][..];
    if !replace && ctx.lookup(key).is_some() {
        return Reply::err(ERR_BUSYKEY);
    }
    let ttl = match args::int(&args[2]) {
        Ok(v) if v < 0 => return Reply::err("ERR Invalid TTL value, must be >= 0"),
        Ok(v) => v,
        Err(e) => return e,
    };
    let value = match dump::restore(&args[3], &ctx.store.limits) {
        Ok(v) => v,
        Err(e) => return Reply::err(e),
    };
    let deleted = replace && {
        ctx.expire_if_needed(key);
        ctx.db().remove(key).is_some()
    };
    // Wrapping as in Redis: a relative TTL that overflows lands in the past and the key is
    // simply not created.
    let at = if ttl != 0 && !absttl {
        ttl.wrapping_add(ctx.now as i64)
    } else {
        ttl
    };
    if at != 0 && at <= ctx.now as i64 {
        // Already expired: nothing is created; only the REPLACE deletion happened.
        if deleted {
            ctx.store.dirty += 1;
        }
        return Reply::ok();
    }
    if at != 0 && !absttl && ctx.feeding() {
        // Logged with the absolute deadline (ABSTTL), as Redis does.
        let mut ms = itoa::Buffer::new();
        let mut cmd: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        cmd[2] = ms.format(at).as_bytes();
        cmd.push(b"ABSTTL");
        ctx.propagate(&cmd);
    }
    let now_s = lru_now(ctx);
    let mut e = Entry::new(value);
    e.expire_at = at as u64;
    // Redis's objectSetLRUOrLFU: FREQ under an LFU policy, IDLETIME under the others.
    if ctx.store.limits.lfu {
        if let Some(f) = freq {
            e.lru = (e.lru & !0xFF) | f as u32;
        }
    } else {
        e.lru = match idle {
            Some(i) => restored_lru(now_s, i),
            None => now_s,
        };
    }
    ctx.db().insert(key, e);
    ctx.store.dirty += 1;
    Reply::ok()
}

// ---------------------------------------------------------------------------------------------
// MOVE RENAME RENAMENX COPY

fn move_cmd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let dst = match parse_db_index(ctx, &args[2]) {
        Ok(d) => d,
        Err(e) => return e,
    };
    if dst == ctx.db {
        return Reply::err(ERR_SAME_OBJECT);
    }
    let key = &args[1][..];
    if ctx.lookup(key).is_none() {
        return Reply::Int(0);
    }
    if other_db(ctx, dst).lookup(key).is_some() {
        return Reply::Int(0);
    }
    // The entry moves whole: value, TTL and access clock.
    let Some(e) = ctx.db().remove(key) else {
        return Reply::Int(0);
    };
    ctx.store.dbs[dst].insert(key, e);
    ctx.store.dirty += 1;
    Reply::Int(1)
}

/// renameGenericCommand; the TTL goes with the value, an existing destination is replaced
/// (RENAME) or left alone (RENAMENX).
fn rename_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Reply {
    let (src, dst) = (&args[1][..], &args[2][..]);
    if ctx.lookup(src).is_none() {
        return Reply::err(ERR_NO_SUCH_KEY);
    }
    if src == dst {
        return if nx { Reply::Int(0) } else { Reply::ok() };
    }
    if ctx.lookup(dst).is_some() {
        if nx {
            return Reply::Int(0);
        }
        ctx.db().remove(dst);
    }
    let Some(e) = ctx.db().remove(src) else {
        return Reply::err(ERR_NO_SUCH_KEY);
    };
    ctx.db().insert(dst, e);
    ctx.store.dirty += 1;
    if nx {
        Reply::Int(1)
    } else {
        Reply::ok()
    }
}

fn rename(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_generic(ctx, args, true)
}

/// COPY source destination [DB n] [REPLACE]. "Same object" only for the same key in the same
/// database; the copy keeps the TTL and gets a fresh access clock (it is a new object).
fn copy(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut replace = false;
    let mut dst_db = ctx.db;
    let mut j = 3;
    while j < args.len() {
        let a = &args[j];
        if is(a, "replace") {
            replace = true;
        } else if is(a, "db") && j + 1 < args.len() {
            dst_db = match parse_db_index(ctx, &args[j + 1]) {
                Ok(d) => d,
                Err(e) => return e,
            };
            j += 1;
        } else {
            return Reply::syntax();
        }
        j += 1;
    }
    let (src, dst) = (&args[1][..], &args[2][..]);
    if dst_db == ctx.db && src == dst {
        return Reply::err(ERR_SAME_OBJECT);
    }
    let lru = lru_now(ctx);
    let lfu = ctx.store.limits.lfu;
    let Some(e) = ctx.lookup_read(src) else {
        return Reply::Int(0);
    };
    let mut copy = Entry::new(e.value.clone());
    copy.expire_at = e.expire_at;
    copy.enc = e.enc;
    if !lfu {
        copy.lru = lru;
    }
    let mut d = other_db(ctx, dst_db);
    if d.lookup(dst).is_some() && !replace {
        return Reply::Int(0);
    }
    d.db().insert(dst, copy);
    ctx.store.dirty += 1;
    Reply::Int(1)
}

// ---------------------------------------------------------------------------------------------
// Shard-local primitives of the fan-out commands.

/// KEYS on this shard's slice of the client's database: matching keys whose TTL has not
/// passed (expired ones are skipped, not deleted, as in Redis).
pub fn keys_local(ctx: &mut Ctx, pattern: &[u8]) -> Vec<Bytes> {
    let now = ctx.now;
    let all = pattern == b"*";
    ctx.db()
        .iter()
        .filter(|(k, e)| {
            (e.expire_at == 0 || e.expire_at > now) && (all || glob_match(pattern, k, false))
        })
        .map(|(k, _)| k.to_bytes())
        .collect()
}

/// SCAN options after the cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanArgs {
    /// None when absent or "*" (Redis skips matching then).
    pub pattern: Option<Bytes>,
    /// Positions visited per step (default 10).
    pub count: usize,
    /// TYPE name as given; compared case-insensitively, an unknown name matches nothing.
    pub type_filter: Option<Bytes>,
}

/// Parse `[MATCH pattern] [COUNT n] [TYPE name]` from `args[start..]`, with Redis's errors:
/// a missing value or unknown word is a syntax error, COUNT < 1 too, a non-integer COUNT is
/// `ERR value is not an integer or out of range`. Later repeats win.
pub fn parse_scan_args(args: &[Bytes], start: usize) -> Result<ScanArgs, Reply> {
    let mut out = ScanArgs {
        pattern: None,
        count: 10,
        type_filter: None,
    };
    let mut i = start;
    while i < args.len() {
        let a = &args[i];
        let Some(v) = args.get(i + 1) else {
            return Err(Reply::syntax());
        };
        if is(a, "count") {
            let n = args::int(v)?;
            if n < 1 {
                return Err(Reply::syntax());
            }
            out.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(a, "match") {
            out.pattern = (&v[..] != b"*").then(|| v.clone());
        } else if is(a, "type") {
            out.type_filter = Some(v.clone());
        } else {
            return Err(Reply::syntax());
        }
        i += 2;
    }
    Ok(out)
}

/// One SCAN step over this shard's slice of the client's database: returns the next position
/// (0 when done) and the keys found. Filters in Redis's order: pattern, type (a lookup that
/// counts a hit or miss and deletes an expired key), then expiry (deleting expired keys).
pub fn scan_local(ctx: &mut Ctx, pos: usize, args: &ScanArgs) -> (usize, Vec<Bytes>) {
    let mut found = Vec::new();
    let pattern = args.pattern.as_deref();
    let next = ctx.db().scan(pos, args.count, |k, _| {
        if pattern.is_none_or(|p| glob_match(p, k, false)) {
            found.push(k.to_bytes());
        }
    });
    // Deleting here is safe for the cursor: these keys sit at or after `next`, and removal
    // only moves entries that were already visited.
    found.retain(|k| match &args.type_filter {
        Some(t) => ctx
            .lookup_notouch(k)
            .is_some_and(|e| t.eq_ignore_ascii_case(e.value.type_name().as_bytes())),
        None => !ctx.expire_if_needed(k),
    });
    (next, found)
}

/// RANDOMKEY on this shard's slice: a random live key, deleting expired ones it draws. After a
/// bounded number of expired draws it falls back to the first live key in order, so a database
/// full of expired keys costs one pass rather than an unbounded loop.
pub fn random_key_local(ctx: &mut Ctx) -> Option<Bytes> {
    const TRIES: usize = 100;
    for _ in 0..TRIES {
        let key = ctx.db().random_key()?.to_bytes();
        if !ctx.expire_if_needed(&key) {
            return Some(key);
        }
    }
    let now = ctx.now;
    ctx.db()
        .iter()
        .find(|(_, e)| e.expire_at == 0 || e.expire_at > now)
        .map(|(k, _)| k.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ShardStore;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn spec(name: &str) -> &'static CommandSpec {
        COMMANDS
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no spec {name}"))
    }

    fn handler(name: &str) -> crate::commands::Handler {
        match spec(name).kind {
            Kind::Keyed(h) | Kind::Split(h, _) | Kind::Coordinated(h) => h,
            Kind::Conn => panic!("conn"),
        }
    }

    /// Run a command (arity checked like the connection layer does) at time `now`.
    fn run_at(st: &mut ShardStore, db: usize, now: u64, argv: &[&[u8]]) -> Reply {
        let args: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let name = String::from_utf8_lossy(argv[0]).to_ascii_lowercase();
        let s = spec(&name);
        if !s.arity_ok(args.len()) {
            return Reply::arity(&name);
        }
        let mut ctx = st.ctx(db);
        ctx.now = now;
        handler(&name)(&mut ctx, &args)
    }

    const NOW: u64 = 1_700_000_000_000;

    fn run(st: &mut ShardStore, line: &str) -> Reply {
        run_db(st, 0, line)
    }

    fn run_db(st: &mut ShardStore, db: usize, line: &str) -> Reply {
        let parts: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
        run_at(st, db, NOW, &parts)
    }

    fn set(st: &mut ShardStore, db: usize, k: &str, v: &str, expire_at: u64) {
        let mut ctx = st.ctx(db);
        ctx.now = NOW;
        ctx.set_str(k.as_bytes(), v.as_bytes(), expire_at);
    }

    fn get(st: &mut ShardStore, db: usize, k: &str) -> Option<Bytes> {
        let mut ctx = st.ctx(db);
        ctx.now = NOW;
        ctx.get_str(k.as_bytes()).ok().flatten()
    }

    fn expire_at(st: &ShardStore, db: usize, k: &str) -> Option<u64> {
        st.dbs[db].get_raw(k.as_bytes()).map(|e| e.expire_at)
    }

    fn err(s: &str) -> Reply {
        Reply::err(s.to_string())
    }

    fn int(i: i64) -> Reply {
        Reply::Int(i)
    }

    #[test]
    fn specs_match_command_info() {
        // (name, arity, flags, first, last, step) as Redis 7.0.15's COMMAND INFO prints them.
        let want: &[(&str, i32, &str, i32, i32, i32)] = &[
            ("del", -2, "write", 1, -1, 1),
            ("unlink", -2, "write fast", 1, -1, 1),
            ("exists", -2, "readonly fast", 1, -1, 1),
            ("touch", -2, "readonly fast", 1, -1, 1),
            ("type", 2, "readonly fast", 1, 1, 1),
            ("expire", -3, "write fast", 1, 1, 1),
            ("pexpire", -3, "write fast", 1, 1, 1),
            ("expireat", -3, "write fast", 1, 1, 1),
            ("pexpireat", -3, "write fast", 1, 1, 1),
            ("ttl", 2, "readonly fast", 1, 1, 1),
            ("pttl", 2, "readonly fast", 1, 1, 1),
            ("expiretime", 2, "readonly fast", 1, 1, 1),
            ("pexpiretime", 2, "readonly fast", 1, 1, 1),
            ("persist", 2, "write fast", 1, 1, 1),
            ("object", -2, "", 0, 0, 0),
            ("dump", 2, "readonly", 1, 1, 1),
            ("restore", -4, "write denyoom", 1, 1, 1),
            ("move", 3, "write fast", 1, 1, 1),
            ("rename", 3, "write", 1, 2, 1),
            ("renamenx", 3, "write fast", 1, 2, 1),
            ("copy", -3, "write denyoom", 1, 2, 1),
        ];
        assert_eq!(COMMANDS.len(), want.len());
        for &(n, a, f, first, last, step) in want {
            let s = spec(n);
            assert_eq!((s.arity, s.flags), (a, f), "{n}");
            assert_eq!(
                (s.keys.first, s.keys.last, s.keys.step),
                (first, last, step),
                "{n}"
            );
            assert_eq!(s.group, "generic");
            assert!(!s.summary.is_empty());
        }
        for n in ["del", "unlink", "exists", "touch"] {
            assert!(matches!(spec(n).kind, Kind::Split(_, Merge::SumInt)), "{n}");
        }
        for n in ["rename", "renamenx", "copy"] {
            assert!(matches!(spec(n).kind, Kind::Coordinated(_)), "{n}");
        }
        let a: Vec<Bytes> = ["object", "encoding", "k"].map(b).to_vec();
        assert_eq!(spec("object").key_indexes(&a), vec![2]);
        assert!(spec("object").key_indexes(&a[..2]).is_empty());
        let a: Vec<Bytes> = ["copy", "a", "b", "db", "1"].map(b).to_vec();
        assert_eq!(spec("copy").key_indexes(&a), vec![1, 2]);
    }

    #[test]
    fn del_unlink_exists_touch() {
        let mut st = ShardStore::new(16);
        set(&mut st, 0, "a", "1", 0);
        set(&mut st, 0, "b", "1", 0);
        set(&mut st, 0, "gone", "1", NOW - 1);
        assert_eq!(run(&mut st, "exists a a a b gone nokey"), int(4));
        assert_eq!(run(&mut st, "touch a b gone nokey"), int(2));
        assert_eq!(run(&mut st, "del a a nokey gone"), int(1));
        assert_eq!(run(&mut st, "unlink b"), int(1));
        assert_eq!(run(&mut st, "unlink b"), int(0));
        assert_eq!(
            run(&mut st, "del"),
            err("ERR wrong number of arguments for 'del' command")
        );
        assert_eq!(st.dbs[0].len(), 0);
    }

    #[test]
    fn exists_counts_stats_without_touching() {
        let mut st = ShardStore::new(16);
        set(&mut st, 0, "a", "1", 0);
        st.dbs[0].get_raw_mut(b"a").unwrap().lru = 5;
        assert_eq!(run(&mut st, "exists a x"), int(1));
        assert_eq!(st.stats.keyspace_hits, 1);
        assert_eq!(st.stats.keyspace_misses, 1);
        assert_eq!(st.dbs[0].get_raw(b"a").unwrap().lru, 5);
        assert_eq!(run(&mut st, "touch a"), int(1));
        assert_ne!(st.dbs[0].get_raw(b"a").unwrap().lru, 5);
    }

    #[test]
    fn type_cmd() {
        let mut st = ShardStore::new(16);
        set(&mut st, 0, "a", "1", 0);
        set(&mut st, 0, "old", "1", NOW);
        assert_eq!(run(&mut st, "type a"), Reply::simple("string"));
        assert_eq!(run(&mut st, "type nokey"), Reply::simple("none"));
        assert_eq!(run(&mut st, "type old"), Reply::simple("none"));
    }

    #[test]
    fn expire_options_and_errors() {
        let mut st = ShardStore::new(16);
        set(&mut st, 0, "k", "v", 0);
        let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
        let gtlt = "ERR GT and LT options at the same time are not compatible";
        assert_eq!(run(&mut st, "expire k 100 nx xx"), err(nx));
        assert_eq!(run(&mut st, "expire k 100 nx gt"), err(nx));
        assert_eq!(run(&mut st, "expire k 100 LT nx"), err(nx));
        assert_eq!(run(&mut st, "expire k 100 gt lt"), err(gtlt));
        assert_eq!(
            run(&mut st, "expire k 100 foo"),
            err("ERR Unsupported option foo")
        );
        // Options are checked before the time.
        assert_eq!(
            run(&mut st, "expire k abc FOO"),
            err("ERR Unsupported option FOO")
        );
        assert_eq!(run(&mut st, "expire k abc nx xx"), err(nx));
        assert_eq!(
            run(&mut st, "expire k abc"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            run(&mut st, "expire k"),
            err("ERR wrong number of arguments for 'expire' command")
        );
        // Overflow, even for a missing key.
        for (line, name) in [
            ("expire k 9223372036854775807", "expire"),
            ("expire k 9223372036854775", "expire"),
            ("expire k 9223372036854774", "expire"),
            ("expire nokey 9223372036854775807", "expire"),
            ("pexpire k 9223372036854775807", "pexpire"),
            ("expireat k -9223372036854775808", "expireat"),
        ] {
            assert_eq!(
                run(&mut st, line),
                err(&format!("ERR invalid expire time in '{name}' command"))
            );
        }
        assert_eq!(expire_at(&st, 0, "k"), Some(0));
        assert_eq!(run(&mut st, "pexpireat k 9223372036854775807"), int(1));
        assert_eq!(
            run(&mut st, "ttl k"),
            int(((i64::MAX as i128 - NOW as i128 + 500) / 1000) as i64)
        );
        assert_eq!(run(&mut st, "expiretime k"), int(9223372036854776));
        assert_eq!(run(&mut st, "pexpiretime k"), int(i64::MAX));
    }

    #[test]
    fn expire_nx_xx_gt_lt() {
        let mut st = ShardStore::new(16);
        set(&mut st, 0, "k", "v", 0);
        assert_eq!(run(&mut st, "expire nokey 10"), int(0));
        assert_eq!(run(&mut st, "expire k 100 gt"), int(0)); // no TTL = infinite
        assert_eq!(run(&mut st, "expire k 100 xx"), int(0));
        assert_eq!(run(&mut st, "expire k 100 lt"), int(1)); // no TTL: LT succeeds
        assert_eq!(expire_at(&st, 0, "k"), Some(NOW + 100_000));
        assert_eq!(run(&mut st, "expire k 100 xx"), int(1));
        assert_eq!(run(&mut st, "expire k 20 nx"), int(0));
        assert_eq!(run(&mut st, "expire k 100 lt"), int(0)); // equal is not less
        assert_eq!(run(&mut st, "expire k 50 lt"), int(1));
        assert_eq!(run(&mut st, "expire k 50 gt"), int(0));
        assert_eq!(run(&mut st, "expire k 200 GT"), int(1));
        assert_eq!(run(&mut st, "expire k 100 lt lt"), int(1));
        assert_eq!(run(&mut st, "ttl k"), int(100));
        assert_eq!(run(&mut st, "persist k"), int(1));
        assert_eq!(run(&mut st, "expire k 20 nx"), int(1));
        assert_eq!(st.dbs[0].expires_len(), 1);
    }

    #[test]
    fn expire_units_and_past_times_delete() {
        let mut st = ShardStore::new(16);
        for k in ["a", "b", "c", "d"] {
            set(&mut st, 0, k, "v", 0);
        }
        assert_eq!(run(&mut st, "pexpire a 1500"), int(1));
        assert_eq!(expire_at(&st, 0, "a"), Some(NOW + 1500));
        assert_eq!(
            run(&mut st, &format!("expireat b {}", NOW / 1000 + 10)),
            int(1)
        );
        assert_eq!(expire_at(&st, 0, "b"), Some(NOW + 10_000));
        assert_eq!(run(&mut st, &format!("pexpireat c {}", NOW + 1)), int(1));
        assert_eq!(expire_at(&st, 0, "c"), Some(NOW + 1));
        let dirty = st.dirty;
        assert_eq!(run(&mut st, "expire a -1"), int(1));
        assert_eq!(run(&mut st, "pexpire b 0"), int(1)); // now counts as past
        assert_eq!(run(&mut st, &format!("pexpireat c {NOW}")), int(1));
        assert_eq!(run(&mut st, "expireat d 100"), int(1));
        assert_eq!(st.dirty, dirty + 4);
        assert_eq!(st.dbs[0].len(), 0);
        assert_eq!(st.dbs[0].expires_len(), 0);
        // A refused option does not delete even with a past time.
        set(&mut st, 0, "e", "v", 0);
        assert_eq!(run(&mut st, "expire e -1 xx"), int(0));
        assert_eq!(get(&mut st, 0, "e"), Some(b("v")));
        // An expired key counts as missing.
        set(&mut st, 0, "f", "v", NOW);
        assert_eq!(run(&mut st, "expire f 100"), int(0));
    }

    #[test]
    fn ttl_family() {
        let mut st = ShardStore::new(16);
        set(&mut st, 0, "p", "v", 0);
        set(&mut st, 0, "t", "v", NOW + 1499);
        set(&mut st, 0, "u", "v", NOW + 1500);
        set(&mut st, 0, "old", "v", NOW);
        for (cmd, miss) in [
            ("ttl", -2),
            ("pttl", -2),
            ("expiretime", -2),
            ("pexpiretime", -2),
        ] {
            assert_eq!(run(&mut st, &format!("{cmd} nokey")), int(miss));
            assert_eq!(run(&mut st, &format!("{cmd} old")), int(-2));
            assert_eq!(run(&mut st, &format!("{cmd} p")), int(-1));
        }
        assert_eq!(run(&mut st, "ttl t"), int(1)); // rounded to nearest
        assert_eq!(run(&mut st, "ttl u"), int(2));
        assert_eq!(run(&mut st, "pttl t"), int(1499));
        assert_eq!(
            run(&mut st, "expiretime t"),
            int(((NOW + 1499 + 500) / 1000) as i64)
        );
        assert_eq!(run(&mut st, "pexpiretime t"), int((NOW + 1499) as i64));
        assert_eq!(
            run(&mut st, "ttl"),
            err("ERR wrong number of arguments for 'ttl' command")
        );
    }

    #[test]
    fn persist() {
        let mut st = ShardStore::new(16);
        set(&mut st, 0, "p", "v", 0);
        set(&mut st, 0, "t", "v", NOW + 5000);
        assert_eq!(run(&mut st, "persist nokey"), int(0));
        assert_eq!(run(&mut st, "persist p"), int(0));
        assert_eq!(run(&mut st, "persist t"), int(1));
        assert_eq!(run(&mut st, "ttl t"), int(-1));
        assert_eq!(st.dbs[0].expires_len(), 0);
    }

    #[test]
    fn object_subcommands() {
        let mut st = ShardStore::new(16);
        set(&mut st, 0, "s", "v", 0);
        set(&mut st, 0, "i", "100", 0);
        set(&mut st, 0, "j", "10000", 0);
        set(&mut st, 0, "n", "-1", 0);
        set(&mut st, 0, "r", &"x".repeat(45), 0);
        assert_eq!(run(&mut st, "object encoding s"), Reply::bulk_str("embstr"));
        assert_eq!(run(&mut st, "object ENCODING i"), Reply::bulk_str("int"));
        assert_eq!(run(&mut st, "object encoding r"), Reply::bulk_str("raw"));
        assert_eq!(run(&mut st, "object encoding nokey"), Reply::Nil);
        assert_eq!(run(&mut st, "object refcount s"), int(1));
        assert_eq!(run(&mut st, "object refcount i"), int(2147483647));
        assert_eq!(run(&mut st, "object refcount j"), int(1));
        assert_eq!(run(&mut st, "object refcount n"), int(1));
        assert_eq!(run(&mut st, "object refcount nokey"), Reply::Nil);
        st.dbs[0].get_raw_mut(b"s").unwrap().lru = (NOW / 1000) as u32 - 42;
        assert_eq!(run(&mut st, "object idletime s"), int(42));
        // OBJECT does not touch the access clock.
        assert_eq!(run(&mut st, "object idletime s"), int(42));
        assert_eq!(run(&mut st, "object idletime nokey"), Reply::Nil);
        assert_eq!(run(&mut st, "object freq nokey"), Reply::Nil);
        assert_eq!(run(&mut st, "object freq s"), err(ERR_LFU_FREQ));
        assert_eq!(
            run(&mut st, "object foo k"),
            err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")
        );
        assert_eq!(
            run(&mut st, "object foo"),
            err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")
        );
        for (line, sub) in [
            ("object encoding", "encoding"),
            ("object encoding k x", "encoding"),
            ("object FREQ", "freq"),
            ("object idletime", "idletime"),
            ("object refcount a b", "refcount"),
            ("object help x", "help"),
        ] {
            assert_eq!(
                run(&mut st, line),
                err(&format!(
                    "ERR wrong number of arguments for 'object|{sub}' command"
                ))
            );
        }
        assert_eq!(
            run(&mut st, "object"),
            err("ERR wrong number of arguments for 'object' command")
        );
        let Reply::Array(lines) = run(&mut st, "object HELP") else {
            panic!("help")
        };
        assert_eq!(lines.len(), 15);
        assert_eq!(
            lines[0],
            Reply::simple("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        );
        assert_eq!(lines[1], Reply::simple("ENCODING <key>"));
        assert_eq!(lines[14], Reply::simple("    Prints this help."));
    }

    const HELLO: &str = "000568656c6c6f0a006372df766534200a";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn restore_args<'a>(
        key: &'a str,
        ttl: &'a str,
        payload: &'a [u8],
        rest: &[&'a str],
    ) -> Vec<&'a [u8]> {
        let mut v: Vec<&[u8]> = vec![b"restore", key.as_bytes(), ttl.as_bytes(), payload];
        v.extend(rest.iter().map(|s| s.as_bytes()));
        v
    }

    #[test]
    fn dump_and_restore() {
        let mut st = ShardStore::new(16);
        set(&mut st, 0, "k", "hello", 0);
        let Reply::Bulk(p) = run(&mut st, "dump k") else {
            panic!("dump")
        };
        assert_eq!(&p[..], &hex(HELLO)[..]);
        assert_eq!(run(&mut st, "dump nokey"), Reply::Nil);
        assert_eq!(
            run_at(&mut st, 0, NOW, &restore_args("x", "0", &p, &[])),
            Reply::ok()
        );
        assert_eq!(get(&mut st, 0, "x"), Some(b("hello")));
        assert_eq!(expire_at(&st, 0, "x"), Some(0));
        // Relative and absolute TTLs.
        assert_eq!(
            run_at(&mut st, 0, NOW, &restore_args("y", "5000", &p, &[])),
            Reply::ok()
        );
        assert_eq!(expire_at(&st, 0, "y"), Some(NOW + 5000));
        let abs = (NOW + 7000).to_string();
        assert_eq!(
            run_at(&mut st, 0, NOW, &restore_args("z", &abs, &p, &["ABSTTL"])),
            Reply::ok()
        );
        assert_eq!(expire_at(&st, 0, "z"), Some(NOW + 7000));
        assert_eq!(st.dbs[0].expires_len(), 2);
    }

    #[test]
    fn restore_errors_in_redis_order() {
        let mut st = ShardStore::new(16);
        let p = hex(HELLO);
        let r = |st: &mut ShardStore, key: &str, ttl: &str, pl: &[u8], rest: &[&str]| {
            run_at(st, 0, NOW, &restore_args(key, ttl, pl, rest))
        };
        set(&mut st, 0, "x", "old", 0);
        let busy = err("BUSYKEY Target key name already exists.");
        // Options first, then the existing key, then the TTL, then the payload.
        assert_eq!(r(&mut st, "x", "abc", &p, &["foo"]), Reply::syntax());
        assert_eq!(r(&mut st, "x", "abc", &p, &[]), busy);
        assert_eq!(r(&mut st, "x", "-1", b"junk", &[]), busy);
        assert_eq!(r(&mut st, "x", "0", &p, &[]), busy);
        assert_eq!(
            r(&mut st, "x", "-1", &p, &["replace"]),
            err("ERR Invalid TTL value, must be >= 0")
        );
        assert_eq!(
            r(&mut st, "x", "abc", &p, &["replace"]),
            err("ERR value is not an integer or out of range")
        );
        let bad_crc = [&p[..p.len() - 1], &[0u8][..]].concat();
        let wrong = err("ERR DUMP payload version or checksum are wrong");
        assert_eq!(r(&mut st, "x", "0", &bad_crc, &["replace"]), wrong);
        assert_eq!(r(&mut st, "x", "0", b"short", &["replace"]), wrong);
        let mut body = hex("0100");
        body.extend_from_slice(&10u16.to_le_bytes());
        let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            r(&mut st, "x", "0", &body, &["replace"]),
            err("ERR Bad data format")
        );
        // Failed restores leave the old value in place.
        assert_eq!(get(&mut st, 0, "x"), Some(b("old")));
        for (rest, e) in [
            (&["idletime"][..], "ERR syntax error"),
            (
                &["idletime", "-1"],
                "ERR Invalid IDLETIME value, must be >= 0",
            ),
            (
                &["idletime", "x"],
                "ERR value is not an integer or out of range",
            ),
            (
                &["freq", "256"],
                "ERR Invalid FREQ value, must be >= 0 and <= 255",
            ),
            (
                &["freq", "-1"],
                "ERR Invalid FREQ value, must be >= 0 and <= 255",
            ),
            (&["freq", "5", "idletime", "5"], "ERR syntax error"),
            (&["idletime", "5", "freq", "5"], "ERR syntax error"),
            (&["absttl", "bogus"], "ERR syntax error"),
        ] {
            assert_eq!(r(&mut st, "x", "0", &p, rest), err(e), "{rest:?}");
        }
        assert_eq!(
            run(&mut st, "restore x 0"),
            err("ERR wrong number of arguments for 'restore' command")
        );
    }

    #[test]
    fn restore_replace_idletime_freq_and_expired_ttl() {
        let mut st = ShardStore::new(16);
        let p = hex(HELLO);
        let r = |st: &mut ShardStore, key: &str, ttl: &str, rest: &[&str]| {
            run_at(st, 0, NOW, &restore_args(key, ttl, &p, rest))
        };
        set(&mut st, 0, "x", "old", NOW + 99_000);
        let dirty = st.dirty;
        assert_eq!(
            r(
                &mut st,
                "x",
                "0",
                &["REPLACE", "replace", "IDLETIME", "100"]
            ),
            Reply::ok()
        );
        assert_eq!(st.dirty, dirty + 1);
        assert_eq!(run(&mut st, "object idletime x"), int(100));
        assert_eq!(get(&mut st, 0, "x"), Some(b("hello"))); // a read resets the idle time
        assert_eq!(run(&mut st, "object idletime x"), int(0));
        assert_eq!(expire_at(&st, 0, "x"), Some(0)); // REPLACE drops the old TTL
        assert_eq!(st.dbs[0].expires_len(), 0);
        assert_eq!(
            r(&mut st, "x", "0", &["replace", "idletime", "7"]),
            Reply::ok()
        );
        assert_eq!(
            r(&mut st, "x", "0", &["replace", "freq", "100"]),
            Reply::ok()
        );
        assert_eq!(run(&mut st, "object idletime x"), int(0));
        // A TTL already in the past: OK, but the key is gone (REPLACE deleted it).
        let past = (NOW - 1).to_string();
        assert_eq!(r(&mut st, "x", &past, &["replace", "absttl"]), Reply::ok());
        assert_eq!(run(&mut st, "exists x"), int(0));
        // A relative TTL that overflows wraps into the past, as in Redis.
        assert_eq!(r(&mut st, "x", "9223372036854775807", &[]), Reply::ok());
        assert_eq!(run(&mut st, "exists x"), int(0));
        assert_eq!(
            r(&mut st, "x", "9223372036854775807", &["absttl"]),
            Reply::ok()
        );
        assert_eq!(expire_at(&st, 0, "x"), Some(i64::MAX as u64));
        // An expired key does not block a restore.
        set(&mut st, 0, "e", "old", NOW);
        assert_eq!(r(&mut st, "e", "0", &[]), Reply::ok());
    }

    #[test]
    fn restore_idletime_folds_like_redis() {
        // Observed on redis-server 7.0.15 with its LRU clock at 512467.
        let now_s = 512467 + (1 << 24) * 100;
        let idle = |i: i64| now_s - restored_lru(now_s, i);
        assert_eq!(idle(100_000), 100_000);
        assert_eq!(idle(16_000_000), 16_000_000);
        assert_eq!(idle(9_999_999_999), 779_263);
        assert_eq!(idle(i64::MAX), 16_777_214);
        assert_eq!(idle(0), 0);
    }

    #[test]
    fn move_cmd() {
        let mut st = ShardStore::new(16);
        set(&mut st, 0, "k", "v", NOW + 5000);
        st.dbs[0].get_raw_mut(b"k").unwrap().lru = 7;
        assert_eq!(run(&mut st, "move k 0"), err(ERR_SAME_OBJECT));
        assert_eq!(run(&mut st, "move k 16"), err(ERR_DB_RANGE));
        assert_eq!(run(&mut st, "move k -1"), err(ERR_DB_RANGE));
        assert_eq!(run(&mut st, "move k 2147483647"), err(ERR_DB_RANGE));
        assert_eq!(run(&mut st, "move k 2147483648"), err(ERR_INT_RANGE));
        assert_eq!(run(&mut st, "move k -99999999999"), err(ERR_INT_RANGE));
        assert_eq!(
            run(&mut st, "move k x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            run(&mut st, "move k 99999999999999999999"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(run(&mut st, "move nokey 1"), int(0));
        assert_eq!(run(&mut st, "move k 1"), int(1));
        assert_eq!(run(&mut st, "exists k"), int(0));
        assert_eq!(expire_at(&st, 1, "k"), Some(NOW + 5000));
        assert_eq!(st.dbs[1].expires_len(), 1);
        assert_eq!(st.dbs[0].expires_len(), 0);
        // Destination occupied: nothing moves.
        set(&mut st, 0, "k", "new", 0);
        assert_eq!(run(&mut st, "move k 1"), int(0));
        assert_eq!(get(&mut st, 0, "k"), Some(b("new")));
        // An expired destination key does not count.
        set(&mut st, 2, "k", "old", NOW);
        assert_eq!(run(&mut st, "move k 2"), int(1));
        assert_eq!(get(&mut st, 2, "k"), Some(b("new")));
    }

    #[test]
    fn rename_and_renamenx() {
        let mut st = ShardStore::new(16);
        assert_eq!(run(&mut st, "rename a b"), err(ERR_NO_SUCH_KEY));
        assert_eq!(run(&mut st, "renamenx a b"), err(ERR_NO_SUCH_KEY));
        assert_eq!(run(&mut st, "rename a a"), err(ERR_NO_SUCH_KEY));
        set(&mut st, 0, "a", "1", NOW + 100_000);
        assert_eq!(run(&mut st, "rename a a"), Reply::ok());
        assert_eq!(run(&mut st, "renamenx a a"), int(0));
        assert_eq!(run(&mut st, "rename a b"), Reply::ok());
        assert_eq!(expire_at(&st, 0, "b"), Some(NOW + 100_000));
        assert_eq!(run(&mut st, "exists a"), int(0));
        set(&mut st, 0, "c", "2", 0);
        assert_eq!(run(&mut st, "renamenx b c"), int(0));
        assert_eq!(run(&mut st, "rename b c"), Reply::ok());
        assert_eq!(get(&mut st, 0, "c"), Some(b("1")));
        assert_eq!(expire_at(&st, 0, "c"), Some(NOW + 100_000));
        assert_eq!(st.dbs[0].len(), 1);
        assert_eq!(st.dbs[0].expires_len(), 1);
        // RENAME onto a key with a TTL from one without: the TTL goes away.
        set(&mut st, 0, "d", "3", 0);
        assert_eq!(run(&mut st, "rename d c"), Reply::ok());
        assert_eq!(expire_at(&st, 0, "c"), Some(0));
        assert_eq!(st.dbs[0].expires_len(), 0);
        assert_eq!(run(&mut st, "renamenx c e"), int(1));
        assert_eq!(get(&mut st, 0, "e"), Some(b("3")));
        // An expired source is missing; an expired destination is free.
        set(&mut st, 0, "old", "x", NOW);
        assert_eq!(run(&mut st, "rename old z"), err(ERR_NO_SUCH_KEY));
        set(&mut st, 0, "old", "x", NOW);
        assert_eq!(run(&mut st, "renamenx e old"), int(1));
    }

    #[test]
    fn copy() {
        let mut st = ShardStore::new(16);
        set(&mut st, 0, "c", "1", NOW + 100_000);
        assert_eq!(run(&mut st, "copy c c"), err(ERR_SAME_OBJECT));
        assert_eq!(run(&mut st, "copy c c db 0"), err(ERR_SAME_OBJECT));
        assert_eq!(run(&mut st, "copy c d db 16"), err(ERR_DB_RANGE));
        assert_eq!(run(&mut st, "copy c d db -1"), err(ERR_DB_RANGE));
        assert_eq!(run(&mut st, "copy c d db 99999999999"), err(ERR_INT_RANGE));
        assert_eq!(
            run(&mut st, "copy c d db x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(run(&mut st, "copy c d db"), Reply::syntax());
        assert_eq!(run(&mut st, "copy c d foo"), Reply::syntax());
        assert_eq!(
            run(&mut st, "copy c"),
            err("ERR wrong number of arguments for 'copy' command")
        );
        assert_eq!(run(&mut st, "copy nokey d"), int(0));
        assert_eq!(run(&mut st, "copy c c db 1"), int(1));
        assert_eq!(expire_at(&st, 1, "c"), Some(NOW + 100_000));
        assert_eq!(run(&mut st, "copy c d"), int(1));
        assert_eq!(expire_at(&st, 0, "d"), Some(NOW + 100_000));
        assert_eq!(run(&mut st, "copy c d"), int(0));
        set(&mut st, 0, "c", "2", 0);
        assert_eq!(run(&mut st, "copy c d REPLACE"), int(1));
        assert_eq!(get(&mut st, 0, "d"), Some(b("2")));
        assert_eq!(expire_at(&st, 0, "d"), Some(0));
        assert_eq!(st.dbs[0].expires_len(), 0);
        assert_eq!(run(&mut st, "copy c c db 1 replace"), int(1));
        assert_eq!(get(&mut st, 1, "c"), Some(b("2")));
        // The last DB option wins; from a non-zero database.
        assert_eq!(run_db(&mut st, 1, "copy c z db 3 db 0"), int(1));
        assert_eq!(get(&mut st, 0, "z"), Some(b("2")));
        // An expired destination does not block.
        set(&mut st, 0, "old", "x", NOW);
        assert_eq!(run(&mut st, "copy c old"), int(1));
        // The source is unchanged.
        assert_eq!(get(&mut st, 0, "c"), Some(b("2")));
    }

    #[test]
    fn keys_local_skips_expired() {
        let mut st = ShardStore::new(16);
        for k in ["foo", "foobar", "bar", "fo"] {
            set(&mut st, 0, k, "v", 0);
        }
        set(&mut st, 0, "fooold", "v", NOW);
        let mut ctx = st.ctx(0);
        ctx.now = NOW;
        let mut all = keys_local(&mut ctx, b"*");
        all.sort();
        assert_eq!(all, vec![b("bar"), b("fo"), b("foo"), b("foobar")]);
        let mut f = keys_local(&mut ctx, b"foo*");
        f.sort();
        assert_eq!(f, vec![b("foo"), b("foobar")]);
        assert!(keys_local(&mut ctx, b"nomatch").is_empty());
        assert_eq!(ctx.store.dbs[0].len(), 5); // KEYS does not delete
    }

    fn scan_args(line: &str) -> Result<ScanArgs, Reply> {
        let a: Vec<Bytes> = line.split_whitespace().map(b).collect();
        parse_scan_args(&a, 2)
    }

    #[test]
    fn scan_arg_parsing() {
        let d = scan_args("scan 0").unwrap();
        assert_eq!(
            d,
            ScanArgs {
                pattern: None,
                count: 10,
                type_filter: None
            }
        );
        for bad in [
            "scan 0 count 0",
            "scan 0 count -1",
            "scan 0 count",
            "scan 0 match",
            "scan 0 foo",
            "scan 0 type",
            "scan 0 match a foo",
        ] {
            assert_eq!(scan_args(bad), Err(Reply::syntax()), "{bad}");
        }
        assert_eq!(scan_args("scan 0 count x"), Err(Reply::not_int()));
        assert_eq!(
            scan_args("scan 0 count 99999999999999999999"),
            Err(Reply::not_int())
        );
        let a = scan_args("scan 0 MATCH a* match b* COUNT 5 TYPE String").unwrap();
        assert_eq!(a.pattern, Some(b("b*")));
        assert_eq!(a.count, 5);
        assert_eq!(a.type_filter, Some(b("String")));
        assert_eq!(scan_args("scan 0 match *").unwrap().pattern, None);
    }

    #[test]
    fn scan_local_walks_everything_and_filters() {
        let mut st = ShardStore::new(16);
        for i in 0..100 {
            set(&mut st, 0, &format!("k{i}"), "v", 0);
        }
        for i in 0..20 {
            set(&mut st, 0, &format!("old{i}"), "v", NOW);
        }
        let run_scan = |st: &mut ShardStore, a: &ScanArgs| {
            let mut ctx = st.ctx(0);
            ctx.now = NOW;
            let mut pos = 0;
            let mut seen = Vec::new();
            loop {
                let (next, keys) = scan_local(&mut ctx, pos, a);
                seen.extend(keys);
                if next == 0 {
                    break;
                }
                pos = next;
            }
            seen.sort();
            seen
        };
        let all = run_scan(&mut st, &scan_args("scan 0 count 7").unwrap());
        assert_eq!(all.len(), 100);
        assert!(all.iter().all(|k| k.starts_with(b"k")));
        // Expired keys met by the scan were deleted.
        assert_eq!(st.dbs[0].len(), 100);
        let m = run_scan(&mut st, &scan_args("scan 0 match k1*").unwrap());
        assert_eq!(m.len(), 11);
        let t = run_scan(
            &mut st,
            &scan_args("scan 0 type STRING count 1000").unwrap(),
        );
        assert_eq!(t.len(), 100);
        let hits = st.stats.keyspace_hits;
        assert!(hits >= 100); // the TYPE check is a counted lookup, as in Redis
        assert!(run_scan(&mut st, &scan_args("scan 0 type list").unwrap()).is_empty());
        assert!(run_scan(&mut st, &scan_args("scan 0 type nosuchtype").unwrap()).is_empty());
        // Empty database.
        let mut empty = ShardStore::new(16);
        let mut ctx = empty.ctx(3);
        assert_eq!(
            scan_local(&mut ctx, 0, &scan_args("scan 0").unwrap()),
            (0, vec![])
        );
    }

    #[test]
    fn random_key_local_skips_expired() {
        let mut st = ShardStore::new(16);
        let mut ctx = st.ctx(0);
        assert_eq!(random_key_local(&mut ctx), None);
        for i in 0..500 {
            set(&mut st, 0, &format!("old{i}"), "v", NOW);
        }
        set(&mut st, 0, "live", "v", 0);
        let mut ctx = st.ctx(0);
        ctx.now = NOW;
        assert_eq!(random_key_local(&mut ctx), Some(b("live")));
        // Only expired keys: none, and some were cleaned up on the way.
        let mut st = ShardStore::new(16);
        for i in 0..50 {
            set(&mut st, 0, &format!("old{i}"), "v", NOW);
        }
        let mut ctx = st.ctx(0);
        ctx.now = NOW;
        assert_eq!(random_key_local(&mut ctx), None);
        assert_eq!(st.dbs[0].len(), 0);
    }
}
