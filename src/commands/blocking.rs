//! The blocking commands (Redis 7.0 `t_list.c`, `t_zset.c`, `blocked.c`): BLPOP BRPOP BLMOVE
//! BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP, and XREAD/XREADGROUP with BLOCK.
//!
//! This file holds their parsing and the synchronous steps run on a key's shard (whether the
//! key can serve a client, and serving it); the waiting itself (registering on the owning
//! shards, wake-ups, timeouts, CLIENT UNBLOCK) is in `shard/blocking.rs`. They are `Kind::Conn`
//! commands: the connection's own task runs them (`server::exec_async`), since a blocked client
//! holds its connection's flow until it is served. XREAD/XREADGROUP are keyed commands whose
//! connection task takes over when they are given BLOCK (`stream::blocks`); what they read is
//! resolved on the keys' shards first (`shard::blocking::stream_prepare`), and the stream side
//! of checking and serving is in `stream.rs`.
//!
//! Replies, error texts and the order of the checks follow Redis 7.0.15.

use super::list::{self, End};
use super::stream::{self, ReadArgs, ReadFrom};
use super::zset;
use super::{CommandSpec, Kind};
use crate::protocol::reply::Reply;
use crate::store::{Ctx, Value};
use bytes::Bytes;
use std::collections::HashMap;
use std::time::Duration;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("blpop", -3, "write blocking", (1, -2, 1), Kind::Conn).doc(
        "list",
        "2.0.0",
        "Remove and get the first element in a list, or block until one is available",
    ),
    CommandSpec::new("brpop", -3, "write blocking", (1, -2, 1), Kind::Conn).doc(
        "list",
        "2.0.0",
        "Remove and get the last element in a list, or block until one is available",
    ),
    CommandSpec::new("blmove", 6, "write denyoom blocking", (1, 2, 1), Kind::Conn).doc(
        "list",
        "6.2.0",
        "Pop an element from a list, push it to another list and return it; or block until one is available",
    ),
    CommandSpec::new("brpoplpush", 4, "write denyoom blocking", (1, 2, 1), Kind::Conn).doc(
        "list",
        "2.2.0",
        "Pop an element from a list, push it to another list and return it; or block until one is available",
    ),
    CommandSpec::new("blmpop", -5, "write blocking movablekeys", (0, 0, 0), Kind::Conn)
        .key_fn(numkeys_at_2)
        .doc(
            "list",
            "7.0.0",
            "Pop elements from a list, or block until one is available",
        ),
    CommandSpec::new("bzpopmin", -3, "write fast blocking", (1, -2, 1), Kind::Conn).doc(
        "sorted-set",
        "5.0.0",
        "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
    ),
    CommandSpec::new("bzpopmax", -3, "write fast blocking", (1, -2, 1), Kind::Conn).doc(
        "sorted-set",
        "5.0.0",
        "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
    ),
    CommandSpec::new("bzmpop", -5, "write blocking movablekeys", (0, 0, 0), Kind::Conn)
        .key_fn(numkeys_at_2)
        .doc(
            "sorted-set",
            "7.0.0",
            "Remove and return members with scores in a sorted set or block until one is available",
        ),
];

/// Keys of `CMD timeout numkeys key [key ...] ...` (BLMPOP, BZMPOP).
fn numkeys_at_2(args: &[Bytes]) -> Vec<usize> {
    list::numkeys_at_1(&args[1..])
        .into_iter()
        .map(|i| i + 1)
        .collect()
}

/// What serving a blocked command does at the key it is served from.
#[derive(Clone, Debug)]
pub enum Op {
    /// BLPOP/BRPOP (`count` None: reply `[key, element]`), BLMPOP (`[key, [elements]]`).
    Pop { end: End, count: Option<usize> },
    /// BLMOVE/BRPOPLPUSH. `here`: the destination is on the source's shard, so the whole move
    /// happens there; else the client's task moves the element (`Served::Go`).
    Move {
        dst: Bytes,
        from: End,
        to: End,
        rpoplpush: bool,
        here: bool,
    },
    /// BZPOPMIN/BZPOPMAX (`count` None: reply `[key, member, score]`), BZMPOP.
    ZPop { max: bool, count: Option<u64> },
    /// XREAD/XREADGROUP BLOCK: reads the key's new entries (streams don't consume: one XADD
    /// serves every client it has something for).
    Stream(Box<StreamRead>),
}

/// A blocked XREAD/XREADGROUP: its options, and where it reads each key from (XREAD's `$`
/// resolved when it blocked; XREADGROUP reads `>`, the group's last ID when served).
#[derive(Clone, Debug)]
pub struct StreamRead {
    pub read: ReadArgs,
    pub from: HashMap<Bytes, ReadFrom>,
}

impl StreamRead {
    fn from(&self, key: &[u8]) -> ReadFrom {
        self.from.get(key).copied().unwrap_or(ReadFrom::New)
    }
}

impl Op {
    /// Whether its waiter is served (told) when its key is removed: XREADGROUP.
    pub fn unblock_on_nokey(&self) -> bool {
        matches!(self, Op::Stream(s) if s.read.group.is_some())
    }
}

/// A parsed blocking command: its keys in order, what it does, and how long it may wait
/// (None: forever).
#[derive(Debug)]
pub struct Blocking {
    pub keys: Vec<Bytes>,
    pub op: Op,
    pub timeout: Option<Duration>,
}

/// The outcome of serving a blocked command at one key.
#[derive(Debug)]
pub enum Served {
    /// The reply (or the error) for the client.
    Reply(Reply),
    /// BLMOVE across shards: the source holds an element. Nothing was popped: the client's
    /// task moves it as LMOVE does, under both keys' locks, so that nobody sees the element in
    /// neither list (`shard::blocking::move_across`).
    Go,
}

impl Served {
    /// Whether serving popped (or moved) something.
    pub fn changed(&self) -> bool {
        match self {
            Served::Go => false,
            Served::Reply(r) => !matches!(r, Reply::NilArray | Reply::Error(_)),
        }
    }
}

/// Past this, a timeout might as well be forever (and no timer needs to exist that far out).
const FOREVER_MS: f64 = 1e12;

/// XREAD/XREADGROUP's BLOCK timeout (ms, already checked): 0 is forever.
pub fn timeout_ms(ms: u64) -> Option<Duration> {
    if ms == 0 || ms as f64 > FOREVER_MS {
        return None;
    }
    Some(Duration::from_millis(ms))
}

/// A blocking command's timeout in seconds, as Redis 7.0.15 reads it: a long double, times 1000
/// rounded up to ms, then cast to a long long; what doesn't fit (inf, 1e30) comes out of the
/// cast as LLONG_MIN on x86, which Redis then reports as negative. 0 (or anything that rounds
/// to 0 ms, such as -0.0001) is forever.
pub fn parse_timeout(a: &[u8]) -> Result<Option<Duration>, Reply> {
    let Some(secs) = crate::util::num::parse_f64(a) else {
        return Err(Reply::err("ERR timeout is not a float or out of range"));
    };
    let ms = (secs * 1000.0).ceil();
    let fits = ms > -9.223_372_036_854_775e18 && ms < 9.223_372_036_854_775e18;
    if !fits || ms < 0.0 {
        return Err(Reply::err("ERR timeout is negative"));
    }
    if ms == 0.0 || ms > FOREVER_MS {
        return Ok(None);
    }
    Ok(Some(Duration::from_millis(ms as u64)))
}

/// Parse a blocking command with Redis's order of checks. `shards`: how many shards there are
/// (BLMOVE notes whether its two keys share one).
pub fn parse(name: &str, args: &[Bytes], shards: usize) -> Result<Blocking, Reply> {
    let last = args.len() - 1;
    let (keys, op, timeout_at) = match name {
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => {
            let op = match name {
                "blpop" => Op::Pop {
                    end: End::Left,
                    count: None,
                },
                "brpop" => Op::Pop {
                    end: End::Right,
                    count: None,
                },
                _ => Op::ZPop {
                    max: name == "bzpopmax",
                    count: None,
                },
            };
            (args[1..last].to_vec(), op, last)
        }
        "blmove" | "brpoplpush" => {
            let rpoplpush = name == "brpoplpush";
            let (from, to, timeout_at) = if rpoplpush {
                (End::Right, End::Left, 3)
            } else {
                (list::parse_end(&args[3])?, list::parse_end(&args[4])?, 5)
            };
            let here = crate::routing::key_shard(&args[1], shards)
                == crate::routing::key_shard(&args[2], shards);
            let op = Op::Move {
                dst: args[2].clone(),
                from,
                to,
                rpoplpush,
                here,
            };
            (vec![args[1].clone()], op, timeout_at)
        }
        "blmpop" => {
            // numkeys, the end and COUNT are checked before the timeout.
            let rest = &args[1..];
            let a = list::parse_lmpop(rest)?;
            let op = Op::Pop {
                end: a.end,
                count: Some(usize::try_from(a.count).unwrap_or(usize::MAX)),
            };
            (rest[a.keys].to_vec(), op, 1)
        }
        "bzmpop" => {
            let rest = &args[1..];
            let s = zset::parse_zmpop(rest)?;
            let op = Op::ZPop {
                max: s.max,
                count: Some(s.count),
            };
            (rest[s.keys].to_vec(), op, 1)
        }
        _ => return Err(Reply::err("ERR internal routing error")),
    };
    let timeout = parse_timeout(&args[timeout_at])?;
    Ok(Blocking { keys, op, timeout })
}

/// Whether a key can serve a blocked command, now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Check {
    /// The key does not exist: nor can it serve the list and sorted-set clients waiting behind
    /// (XREADGROUP's hear of it: `Serve`).
    Absent,
    /// Serve it (`serve`).
    Serve,
    /// Not this one (a stream without entries for it): it waits on, and those behind it may
    /// still be served.
    Wait,
    /// Another type: WRONGTYPE for a client that asks now, nothing for one that waits.
    Wrong,
}

/// Whether `key` can serve `op` (a write lookup, as Redis's blocking commands do; lazy expiry
/// on the way). `blocked`: `op` is waiting already (a write marked the key ready), else it
/// asks now.
pub fn check(ctx: &mut Ctx, key: &[u8], op: &Op, blocked: bool) -> Check {
    if let Op::Stream(s) = op {
        return stream::blocked_check(ctx, &s.read, key, s.from(key), blocked);
    }
    let list = matches!(op, Op::Pop { .. } | Op::Move { .. });
    match ctx.lookup(key).map(|e| &e.value) {
        None => Check::Absent,
        Some(Value::List(_)) if list => Check::Serve,
        Some(Value::ZSet(_)) if !list => Check::Serve,
        Some(_) => Check::Wrong,
    }
}

/// Serve a blocked command from `key`, where `check` said so: pop, build its reply and log the
/// effect as the non-blocking command would be (BLPOP as LPOP key, BLMOVE as LMOVE …).
pub fn serve(ctx: &mut Ctx, key: &Bytes, op: &Op, blocked: bool) -> Served {
    let served = serve_op(ctx, key, op, blocked);
    if served.changed() {
        notify_served(ctx, key, op);
    }
    served
}

/// The keyspace events of a blocked pop or move that was served (Redis's
/// serveClientBlockedOnList and blocking sorted-set pops): the push of a move first, then the
/// pop, then "del" if it emptied the key.
fn notify_served(ctx: &mut Ctx, key: &Bytes, op: &Op) {
    use crate::store::notify::Class;
    let pop_event = |e: End| if e == End::Left { "lpop" } else { "rpop" };
    match op {
        Op::Stream(_) => return,
        Op::Pop { end, .. } => ctx.notify(Class::LIST, pop_event(*end), key),
        // Only a move within one shard is served here (else `Served::Go`).
        Op::Move { dst, from, to, .. } => {
            let push = if *to == End::Left { "lpush" } else { "rpush" };
            ctx.notify(Class::LIST, push, dst);
            ctx.notify(Class::LIST, pop_event(*from), key);
        }
        Op::ZPop { max, .. } => {
            ctx.notify(Class::ZSET, if *max { "zpopmax" } else { "zpopmin" }, key)
        }
    }
    if ctx.db().get_raw(key).is_none() {
        ctx.notify(Class::GENERIC, "del", key);
    }
}

fn serve_op(ctx: &mut Ctx, key: &Bytes, op: &Op, blocked: bool) -> Served {
    let reply = match op {
        Op::Stream(s) => stream::blocked_serve(ctx, &s.read, key, s.from(key), blocked),
        Op::Pop { end, count: None } => match list::parts::pop(ctx, key, *end) {
            Ok(Some(v)) => Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(v)]),
            Ok(None) => Reply::NilArray,
            Err(e) => e,
        },
        Op::Pop {
            end,
            count: Some(n),
        } => match list::parts::pop_count(ctx, key, *end, *n) {
            Ok(Some(out)) => Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(out)]),
            Ok(None) => Reply::NilArray,
            Err(e) => e,
        },
        Op::Move {
            dst,
            from,
            to,
            rpoplpush,
            here: true,
        } => {
            let r = list::parts::lmove_here(ctx, key, dst, *from, *to);
            if matches!(r, Reply::Bulk(_)) {
                if *rpoplpush {
                    ctx.propagate(&[b"RPOPLPUSH", &key[..], &dst[..]]);
                } else {
                    ctx.propagate(&[b"LMOVE", &key[..], &dst[..], side(*from), side(*to)]);
                }
            }
            r
        }
        Op::Move { here: false, .. } => return Served::Go,
        Op::ZPop { max, count } => match zset::pop_from(ctx, key, *max, count.unwrap_or(1)) {
            Ok(Some(items)) => match count {
                None => {
                    let name: &[u8] = if *max { b"ZPOPMAX" } else { b"ZPOPMIN" };
                    ctx.propagate(&[name, &key[..]]);
                    let mut out = vec![Reply::Bulk(key.clone())];
                    for (m, s) in items {
                        out.push(Reply::Bulk(m));
                        out.push(Reply::Double(s));
                    }
                    Reply::Array(out)
                }
                Some(c) => {
                    let spec = zset::MpopSpec {
                        keys: 0..0,
                        max: *max,
                        count: *c,
                    };
                    zset::zmpop_reply(ctx, key, &spec, items)
                }
            },
            Ok(None) => Reply::NilArray,
            Err(e) => e,
        },
    };
    Served::Reply(reply)
}

pub fn side(e: End) -> &'static [u8] {
    match e {
        End::Left => b"LEFT",
        End::Right => b"RIGHT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|x| Bytes::copy_from_slice(x.as_bytes()))
            .collect()
    }

    fn err(r: Result<Option<Duration>, Reply>) -> String {
        match r {
            Err(Reply::Error(e)) => e.to_string(),
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout(b"0").ok(), Some(None));
        assert_eq!(
            parse_timeout(b"0.1").ok(),
            Some(Some(Duration::from_millis(100)))
        );
        assert_eq!(
            parse_timeout(b"0.0005").ok(),
            Some(Some(Duration::from_millis(1)))
        );
        assert_eq!(parse_timeout(b"-0.0005").ok(), Some(None));
        assert_eq!(parse_timeout(b"2").ok(), Some(Some(Duration::from_secs(2))));
        assert_eq!(parse_timeout(b"1e300").ok(), None);
        let neg = "ERR timeout is negative";
        assert_eq!(err(parse_timeout(b"-1")), neg);
        assert_eq!(err(parse_timeout(b"inf")), neg);
        assert_eq!(err(parse_timeout(b"-inf")), neg);
        assert_eq!(err(parse_timeout(b"1e30")), neg);
        let bad = "ERR timeout is not a float or out of range";
        for t in ["", "x", " 1", "1 ", "nan", "1e"] {
            assert_eq!(err(parse_timeout(t.as_bytes())), bad, "{t:?}");
        }
    }

    #[test]
    fn stream_timeouts() {
        assert_eq!(timeout_ms(0), None);
        assert_eq!(timeout_ms(250), Some(Duration::from_millis(250)));
        assert_eq!(timeout_ms(u64::MAX), None);
    }

    #[test]
    fn parses() {
        let p = parse("blpop", &a("blpop a b 0"), 4).ok().map(|p| p.keys);
        assert_eq!(p, Some(a("a b")));
        let p = parse("blmpop", &a("blmpop 1 2 a b right count 3"), 1).ok();
        let p = p.map(|p| (p.keys, format!("{:?}", p.op)));
        assert_eq!(
            p,
            Some((a("a b"), "Pop { end: Right, count: Some(3) }".to_string()))
        );
        let p = parse("bzmpop", &a("bzmpop 0 1 z max"), 1)
            .ok()
            .map(|p| p.keys);
        assert_eq!(p, Some(a("z")));
        // BLMPOP checks its numkeys before its timeout.
        assert!(matches!(
            parse("blmpop", &a("blmpop x 0 a left"), 1),
            Err(Reply::Error(e)) if &*e == "ERR numkeys should be greater than 0"
        ));
        assert_eq!(numkeys_at_2(&a("blmpop 0 2 a b left")), vec![3, 4]);
        assert!(numkeys_at_2(&a("blmpop 0 3 a b")).is_empty());
    }
}
