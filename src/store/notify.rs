//! Keyspace notifications as handlers produce them (Redis's `notifyKeyspaceEvent`).
//!
//! Handlers are synchronous and run with the store borrowed, so an event is only queued here
//! (the shard's outbox); the shard publishes the queue after the command, on this shard and to
//! the others in order (`shard/pubsub.rs`). With `notify-keyspace-events` empty (the default)
//! nothing is queued: the cost is one flag test per event site.

use super::Ctx;
use crate::config::KeyspaceEvents;
use bytes::Bytes;

/// One event: `__keyspace@<db>__:<key>` gets `event`, `__keyevent@<db>__:<event>` gets `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub db: usize,
    pub event: &'static str,
    pub key: Bytes,
}

/// Queue `event` for `key` if `flags` (the `notify-keyspace-events` bits) want its class.
#[inline]
pub fn queue(
    out: &mut Vec<Event>,
    flags: u32,
    class: u32,
    event: &'static str,
    db: usize,
    key: &[u8],
) {
    if KeyspaceEvents(flags).wants(class) {
        out.push(Event {
            db,
            event,
            key: Bytes::copy_from_slice(key),
        });
    }
}

impl Ctx<'_> {
    /// Announce `event` (of class `class`, a `KeyspaceEvents` bit) on `key` in this database.
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        let flags = self.store.limits.keyspace_events;
        if flags != 0 {
            queue(&mut self.store.events, flags, class, event, self.db, key);
        }
    }
}

impl super::ShardStore {
    /// Announce an event from outside a command (eviction, for one): queued like a handler's,
    /// published when the shard next drains its outbox (`shard::pubsub::flush_events`).
    pub fn notify(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        let flags = self.limits.keyspace_events;
        if flags != 0 {
            queue(&mut self.events, flags, class, event, db, key);
        }
    }
}

/// The class bits, under short names for the event sites.
pub use crate::config::KeyspaceEvents as Class;

/// The keys a write command's events may name: its key arguments, and the STORE key of the
/// commands that take it as an option.
pub fn event_keys(spec: &crate::commands::CommandSpec, args: &[Bytes]) -> Vec<Bytes> {
    let mut keys: Vec<Bytes> = spec
        .key_indexes(args)
        .into_iter()
        .map(|i| args[i].clone())
        .collect();
    if let Some(k) = store_option(spec.name, args) {
        keys.push(k.clone());
    }
    keys
}

/// SORT's and GEORADIUS's STORE (or STOREDIST) key, not in their key spec.
fn store_option<'a>(name: &str, args: &'a [Bytes]) -> Option<&'a Bytes> {
    if !matches!(name, "sort" | "georadius" | "georadiusbymember") {
        return None;
    }
    let i = args
        .iter()
        .position(|a| a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist"))?;
    args.get(i + 1)
}

/// Whether each key of a write command holds a live value before it runs (only asked while
/// notifications are on): what `command_events` compares against to tell a "del" apart.
pub fn keys_before(
    store: &super::ShardStore,
    db: usize,
    now: u64,
    args: &[Bytes],
) -> Vec<(Bytes, bool)> {
    let Some(spec) = crate::commands::lookup(&args[0]) else {
        return Vec::new();
    };
    event_keys(spec, args)
        .into_iter()
        .map(|k| {
            let live = store.dbs[db]
                .get_raw(&k)
                .is_some_and(|e| e.expire_at == 0 || e.expire_at > now);
            (k, live)
        })
        .collect()
}

/// Whether a command the coordinator ran across shards changed anything, from its reply (no
/// one shard's dirty counter saw all of it).
pub fn coordinated_changed(
    name: &str,
    args: &[Bytes],
    reply: &crate::protocol::reply::Reply,
) -> bool {
    use crate::protocol::reply::Reply;
    match (name, reply) {
        (_, Reply::Error(_)) => false,
        ("rename", r) => *r == Reply::ok(),
        ("renamenx" | "copy" | "smove" | "msetnx", r) => *r == Reply::Int(1),
        ("lmove" | "rpoplpush", r) => matches!(r, Reply::Bulk(_)),
        ("lmpop" | "zmpop", r) => !matches!(r, Reply::NilArray | Reply::Nil),
        ("sort" | "georadius" | "georadiusbymember", _) => store_option(name, args).is_some(),
        ("xreadgroup", _) => false,
        _ => true,
    }
}

fn has_opt(args: &[Bytes], opts: &[&str]) -> bool {
    args.iter()
        .skip(1)
        .any(|a| opts.iter().any(|o| a.eq_ignore_ascii_case(o.as_bytes())))
}

/// The keyspace events of a write command that ran on this shard: `keys` as `keys_before`
/// found them, `changed` whether it wrote.
pub fn command_events(
    store: &mut super::ShardStore,
    db: usize,
    args: &[Bytes],
    keys: &[(Bytes, bool)],
    changed: bool,
) {
    if !changed || keys.is_empty() {
        return;
    }
    let flags = store.limits.keyspace_events;
    let mut out = std::mem::take(&mut store.events);
    let data = &store.dbs[db];
    events_of(&mut out, flags, db, args, keys, &|k| {
        data.get_raw(k).is_some()
    });
    store.events = out;
}

/// The keyspace events of a write command that changed something, with Redis's names and in
/// Redis's order (the `notifyKeyspaceEvent` calls of its t_*.c, db.c and expire.c), judged
/// from which of its `keys` held a value before (`keys`) and after (`exists`) it ran.
pub fn events_of(
    out: &mut Vec<Event>,
    flags: u32,
    db: usize,
    args: &[Bytes],
    keys: &[(Bytes, bool)],
    exists: &dyn Fn(&[u8]) -> bool,
) {
    if keys.is_empty() {
        return;
    }
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let mut ev =
        |class: u32, event: &'static str, key: &[u8]| queue(out, flags, class, event, db, key);
    let first = &keys[0].0;
    // A collection emptied by the command is deleted: "del" after the command's own event.
    let emptied = |k: &(Bytes, bool)| k.1 && !exists(&k.0);
    // A destination written by a *STORE command: its event, or "del" if the result was empty.
    let stored = |ev: &mut dyn FnMut(u32, &'static str, &[u8]),
                  class: u32,
                  event: &'static str,
                  k: &(Bytes, bool)| {
        if exists(&k.0) {
            ev(class, event, &k.0);
        } else if k.1 {
            ev(Class::GENERIC, "del", &k.0);
        }
    };
    let pop = |ev: &mut dyn FnMut(u32, &'static str, &[u8]),
               class: u32,
               event: &'static str,
               k: &(Bytes, bool)| {
        if k.1 {
            ev(class, event, &k.0);
            if emptied(k) {
                ev(Class::GENERIC, "del", &k.0);
            }
        }
    };
    let last = keys.last().unwrap_or(&keys[0]);
    match name.as_str() {
        // Generic.
        "del" | "unlink" => {
            for k in keys.iter().filter(|k| emptied(k)) {
                ev(Class::GENERIC, "del", &k.0);
            }
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            if exists(first) {
                ev(Class::GENERIC, "expire", first);
            } else {
                ev(Class::GENERIC, "del", first);
            }
        }
        "persist" => ev(Class::GENERIC, "persist", first),
        "rename" | "renamenx" => {
            ev(Class::GENERIC, "rename_from", first);
            ev(Class::GENERIC, "rename_to", &last.0);
        }
        "copy" => ev(Class::GENERIC, "copy_to", &last.0),
        "move" => {
            ev(Class::GENERIC, "move_from", first);
            let to = crate::util::num::parse_i64(&args[2]).unwrap_or(0);
            queue(
                out,
                flags,
                Class::GENERIC,
                "move_to",
                to.max(0) as usize,
                first,
            );
        }
        "restore" => ev(Class::GENERIC, "restore", first),
        "sort" => stored(&mut ev, Class::LIST, "sortstore", last),
        // Strings.
        "set" | "setnx" | "getset" => {
            ev(Class::STRING, "set", first);
            if has_opt(args, &["ex", "px", "exat", "pxat"]) {
                ev(Class::GENERIC, "expire", first);
            }
        }
        "setex" | "psetex" => {
            ev(Class::STRING, "set", first);
            ev(Class::GENERIC, "expire", first);
        }
        "mset" | "msetnx" => {
            for k in keys {
                ev(Class::STRING, "set", &k.0);
            }
        }
        "append" => ev(Class::STRING, "append", first),
        "setrange" => ev(Class::STRING, "setrange", first),
        "incr" | "decr" | "incrby" | "decrby" => ev(Class::STRING, "incrby", first),
        "incrbyfloat" => ev(Class::STRING, "incrbyfloat", first),
        "getdel" => ev(Class::GENERIC, "del", first),
        "getex" => {
            if !exists(first) {
                ev(Class::GENERIC, "del", first);
            } else if has_opt(args, &["persist"]) {
                ev(Class::GENERIC, "persist", first);
            } else {
                ev(Class::GENERIC, "expire", first);
            }
        }
        "setbit" | "bitfield" => ev(Class::STRING, "setbit", first),
        "bitop" => stored(&mut ev, Class::STRING, "set", &keys[0]),
        "pfadd" | "pfmerge" => ev(Class::STRING, "pfadd", first),
        // Lists.
        "lpush" | "lpushx" => ev(Class::LIST, "lpush", first),
        "rpush" | "rpushx" => ev(Class::LIST, "rpush", first),
        "linsert" => ev(Class::LIST, "linsert", first),
        "lset" => ev(Class::LIST, "lset", first),
        "lpop" => pop(&mut ev, Class::LIST, "lpop", &keys[0]),
        "rpop" => pop(&mut ev, Class::LIST, "rpop", &keys[0]),
        "ltrim" => pop(&mut ev, Class::LIST, "ltrim", &keys[0]),
        "lrem" => pop(&mut ev, Class::LIST, "lrem", &keys[0]),
        "lmove" | "rpoplpush" => {
            let (from_left, to_left) = if name == "rpoplpush" {
                (false, true)
            } else {
                (
                    args[3].eq_ignore_ascii_case(b"left"),
                    args[4].eq_ignore_ascii_case(b"left"),
                )
            };
            ev(
                Class::LIST,
                if to_left { "lpush" } else { "rpush" },
                &last.0,
            );
            let src = &keys[0];
            ev(Class::LIST, if from_left { "lpop" } else { "rpop" }, &src.0);
            if src.0 != last.0 && emptied(src) {
                ev(Class::GENERIC, "del", &src.0);
            }
        }
        "lmpop" | "zmpop" => {
            // The first non-empty key is the one popped from.
            let left = has_opt(args, &["left"]);
            let event = match (name.as_str(), left, has_opt(args, &["min"])) {
                ("lmpop", true, _) => "lpop",
                ("lmpop", false, _) => "rpop",
                (_, _, true) => "zpopmin",
                _ => "zpopmax",
            };
            let class = if name == "lmpop" {
                Class::LIST
            } else {
                Class::ZSET
            };
            if let Some(k) = keys.iter().find(|k| k.1) {
                pop(&mut ev, class, event, k);
            }
        }
        // Hashes.
        "hset" | "hmset" | "hsetnx" => ev(Class::HASH, "hset", first),
        "hincrby" => ev(Class::HASH, "hincrby", first),
        "hincrbyfloat" => ev(Class::HASH, "hincrbyfloat", first),
        "hdel" => pop(&mut ev, Class::HASH, "hdel", &keys[0]),
        // Sets.
        "sadd" => ev(Class::SET, "sadd", first),
        "srem" => pop(&mut ev, Class::SET, "srem", &keys[0]),
        "spop" => pop(&mut ev, Class::SET, "spop", &keys[0]),
        "smove" => {
            pop(&mut ev, Class::SET, "srem", &keys[0]);
            ev(Class::SET, "sadd", &last.0);
        }
        "sinterstore" | "sunionstore" | "sdiffstore" => {
            let event = match name.as_str() {
                "sinterstore" => "sinterstore",
                "sunionstore" => "sunionstore",
                _ => "sdiffstore",
            };
            stored(&mut ev, Class::SET, event, &keys[0]);
        }
        // Sorted sets.
        "zadd" => {
            let event = if has_opt(args, &["incr"]) {
                "zincr"
            } else {
                "zadd"
            };
            ev(Class::ZSET, event, first);
        }
        "geoadd" => ev(Class::ZSET, "zadd", first),
        "zincrby" => ev(Class::ZSET, "zincr", first),
        "zrem" => pop(&mut ev, Class::ZSET, "zrem", &keys[0]),
        "zremrangebyscore" => pop(&mut ev, Class::ZSET, "zremrangebyscore", &keys[0]),
        "zremrangebyrank" => pop(&mut ev, Class::ZSET, "zremrangebyrank", &keys[0]),
        "zremrangebylex" => pop(&mut ev, Class::ZSET, "zremrangebylex", &keys[0]),
        "zpopmin" => pop(&mut ev, Class::ZSET, "zpopmin", &keys[0]),
        "zpopmax" => pop(&mut ev, Class::ZSET, "zpopmax", &keys[0]),
        "zunionstore" | "zinterstore" | "zdiffstore" | "zrangestore" => {
            let event = match name.as_str() {
                "zunionstore" => "zunionstore",
                "zinterstore" => "zinterstore",
                "zdiffstore" => "zdiffstore",
                _ => "zrangestore",
            };
            stored(&mut ev, Class::ZSET, event, &keys[0]);
        }
        "geosearchstore" => stored(&mut ev, Class::ZSET, "geosearchstore", &keys[0]),
        "georadius" | "georadiusbymember" => stored(&mut ev, Class::ZSET, "georadiusstore", last),
        // Streams.
        "xadd" => ev(Class::STREAM, "xadd", first),
        "xtrim" => ev(Class::STREAM, "xtrim", first),
        "xdel" => ev(Class::STREAM, "xdel", first),
        "xsetid" => ev(Class::STREAM, "xsetid", first),
        "xgroup" => {
            let event = match String::from_utf8_lossy(&args[1])
                .to_ascii_lowercase()
                .as_str()
            {
                "create" => "xgroup-create",
                "setid" => "xgroup-setid",
                "destroy" => "xgroup-destroy",
                "createconsumer" => "xgroup-createconsumer",
                "delconsumer" => "xgroup-delconsumer",
                _ => "",
            };
            if !event.is_empty() {
                ev(Class::STREAM, event, first);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_only_wanted_classes() {
        let mut out = Vec::new();
        let flags = KeyspaceEvents::KEYSPACE | KeyspaceEvents::GENERIC;
        queue(&mut out, flags, Class::GENERIC, "del", 0, b"k");
        queue(&mut out, flags, Class::STRING, "set", 0, b"k");
        // Without K or E nothing is announced, whatever the classes.
        queue(&mut out, Class::GENERIC, Class::GENERIC, "del", 0, b"k");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].event, "del");
    }

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    /// The events of a command, given which keys existed before and which exist after.
    fn events(cmd: &str, before: &[(&str, bool)], after: &[&str]) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        let keys: Vec<(Bytes, bool)> = before
            .iter()
            .map(|(k, e)| (Bytes::copy_from_slice(k.as_bytes()), *e))
            .collect();
        let exists = |k: &[u8]| after.iter().any(|a| a.as_bytes() == k);
        let all = KeyspaceEvents::parse(b"KA").map_or(0, |f| f.0);
        events_of(&mut out, all, 0, &args(cmd), &keys, &exists);
        out.into_iter()
            .map(|e| (String::from_utf8_lossy(&e.key).into_owned(), e.event))
            .collect()
    }

    fn ev(list: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
        list.iter().map(|(k, e)| (k.to_string(), *e)).collect()
    }

    #[test]
    fn events_follow_redis() {
        // An expiry in the past deletes.
        assert_eq!(
            events("expire k -1", &[("k", true)], &[]),
            ev(&[("k", "del")])
        );
        assert_eq!(
            events("expire k 10", &[("k", true)], &["k"]),
            ev(&[("k", "expire")])
        );
        // LMOVE: the push, the pop, then the emptied source's "del".
        assert_eq!(
            events("lmove a b right left", &[("a", true), ("b", false)], &["b"]),
            ev(&[("b", "lpush"), ("a", "rpop"), ("a", "del")])
        );
        // A *STORE whose result is empty deletes the destination, if it existed.
        assert_eq!(
            events("sunionstore d x", &[("d", true), ("x", false)], &[]),
            ev(&[("d", "del")])
        );
        assert!(events("sunionstore d x", &[("d", false), ("x", false)], &[]).is_empty());
        // SET with an expiry announces both.
        assert_eq!(
            events("set k v px 100", &[("k", false)], &["k"]),
            ev(&[("k", "set"), ("k", "expire")])
        );
        // ZADD INCR is zincr; DEL names only the keys it removed.
        assert_eq!(
            events("zadd z incr 1 m", &[("z", true)], &["z"]),
            ev(&[("z", "zincr")])
        );
        assert_eq!(
            events("del a b c", &[("a", true), ("b", false), ("c", true)], &[]),
            ev(&[("a", "del"), ("c", "del")])
        );
    }

    #[test]
    fn coordinated_changes_from_replies() {
        use crate::protocol::reply::Reply;
        assert!(!coordinated_changed(
            "smove",
            &args("smove a b m"),
            &Reply::Int(0)
        ));
        assert!(coordinated_changed(
            "smove",
            &args("smove a b m"),
            &Reply::Int(1)
        ));
        assert!(!coordinated_changed(
            "sort",
            &args("sort k"),
            &Reply::Array(vec![])
        ));
        assert!(coordinated_changed(
            "sort",
            &args("sort k store d"),
            &Reply::Int(0)
        ));
        assert!(!coordinated_changed(
            "rename",
            &args("rename a b"),
            &Reply::err("ERR no such key")
        ));
    }
}
