//! MONITOR: every command run anywhere, as a line to each monitoring client, in Redis's format
//! (`+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`). The connection's shard formats the
//! line and hands it to every shard that holds monitors; with none, the cost per command is the
//! one relaxed load in `active`.

use crate::commands::CommandSpec;
use crate::protocol::reply::Reply;
use crate::shard::Shard;
use bytes::Bytes;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Monitors per shard, server-wide (in `Global`).
pub struct Monitors {
    total: AtomicUsize,
    per_shard: Vec<AtomicUsize>,
}

impl Monitors {
    pub fn new(shards: usize) -> Monitors {
        Monitors {
            total: AtomicUsize::new(0),
            per_shard: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
        }
    }
}

/// Whether any client monitors: checked before anything else is done for the feed.
#[inline]
pub fn active(shard: &Shard) -> bool {
    shard.global.monitors.total.load(Ordering::Relaxed) != 0
}

/// This connection (on `shard`) starts monitoring.
pub fn add(shard: &Shard, id: u64) {
    let mut mine = shard.observe.monitors.borrow_mut();
    if mine.contains(&id) {
        return;
    }
    mine.push(id);
    let m = &shard.global.monitors;
    m.per_shard[shard.id].fetch_add(1, Ordering::AcqRel);
    m.total.fetch_add(1, Ordering::AcqRel);
}

/// A connection closed: it stops monitoring if it did.
pub fn remove(shard: &Shard, id: u64) {
    let mut mine = shard.observe.monitors.borrow_mut();
    let Some(i) = mine.iter().position(|&x| x == id) else {
        return;
    };
    mine.swap_remove(i);
    let m = &shard.global.monitors;
    m.per_shard[shard.id].fetch_sub(1, Ordering::AcqRel);
    m.total.fetch_sub(1, Ordering::AcqRel);
}

/// Send a command the client at `addr` runs in `db` to every monitor (call when `active`).
pub fn feed(shard: &Rc<Shard>, spec: &CommandSpec, args: &[Bytes], db: usize, addr: &str) {
    if super::admin(spec, args) {
        return;
    }
    let line: Arc<str> = line(args, db, addr).into();
    for (t, n) in shard.global.monitors.per_shard.iter().enumerate() {
        if n.load(Ordering::Relaxed) == 0 {
            continue;
        }
        if t == shard.id {
            deliver(shard, &line);
        } else {
            let line = line.clone();
            shard.post(t, move |sh| deliver(sh, &line));
        }
    }
}

/// Write the line to this shard's monitors.
fn deliver(shard: &Rc<Shard>, line: &Arc<str>) {
    let ids = shard.observe.monitors.borrow().clone();
    for id in ids {
        let Some(conn) = shard.net.borrow().conns.get(&id).cloned() else {
            continue;
        };
        let busy = match conn.try_borrow_mut() {
            Ok(mut c) => {
                c.emit(&Reply::Simple(line.to_string().into()), false);
                c.busy
            }
            // It is the client that sent the command (a monitor may send commands too).
            Err(_) => continue,
        };
        if !busy {
            crate::net::settle(shard, &conn);
        }
    }
}

/// `<sec>.<usec> [<db> <addr>] "arg" …` with each argument quoted as Redis's sdscatrepr.
pub fn line(args: &[Bytes], db: usize, addr: &str) -> String {
    let us = crate::util::now_us();
    let mut s = format!("{}.{:06} [{} {}]", us / 1_000_000, us % 1_000_000, db, addr);
    let redact = super::redacted(args);
    for (i, a) in args.iter().enumerate() {
        s.push(' ');
        if redact.contains(&i) {
            s.push_str("\"(redacted)\"");
        } else {
            repr(&mut s, a);
        }
    }
    s
}

/// Redis's sdscatrepr: a quoted string with C escapes.
pub fn repr(out: &mut String, v: &[u8]) {
    out.push('"');
    for &b in v {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_sdscatrepr() {
        let mut s = String::new();
        repr(&mut s, b"a\"b\\\n\x01");
        assert_eq!(s, "\"a\\\"b\\\\\\n\\x01\"");
        let l = line(&[Bytes::from("keys"), Bytes::from("*")], 3, "1.2.3.4:5");
        assert!(l.ends_with(" [3 1.2.3.4:5] \"keys\" \"*\""), "{l}");
        let l = line(&[Bytes::from("auth"), Bytes::from("pw")], 0, "x:1");
        assert!(l.ends_with("\"auth\" \"(redacted)\""), "{l}");
    }
}
