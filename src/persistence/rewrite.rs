//! A value as the commands that rebuild it: what an AOF rewrite writes for each key, and what
//! a cross-shard move logs on the receiving shard.

use crate::store::{Entry, Value};

/// Emit the commands that recreate `key` as `entry` holds it (value, then absolute expiry).
pub fn emit_entry(key: &[u8], entry: &Entry, out: &mut dyn FnMut(&[&[u8]])) {
    let mut cmds = Vec::new();
    match &entry.value {
        Value::Str(b) => out(&[b"SET", key, b]),
        Value::List(l) => crate::store::list::rewrite_commands(key, l, &mut cmds),
        Value::Hash(h) => crate::store::hash::rewrite_commands(key, h, &mut cmds),
        Value::Set(s) => crate::store::set::rewrite_commands(key, s, &mut cmds),
        Value::ZSet(z) => crate::commands::zset::rewrite_commands(key, z, &mut cmds),
        Value::Stream(s) => crate::store::stream::rewrite_commands(key, s, &mut cmds),
    }
    for c in &cmds {
        let args: Vec<&[u8]> = c.iter().map(|b| &b[..]).collect();
        out(&args);
    }
    if entry.expire_at != 0 {
        let mut ms = itoa::Buffer::new();
        out(&[b"PEXPIREAT", key, ms.format(entry.expire_at).as_bytes()]);
    }
}

/// Log an entry stored by a cross-shard operation: whatever was at the key is replaced.
pub fn log_put(feed: &mut super::feed::Feed, db: usize, key: &[u8], entry: &Entry) {
    if !feed.on {
        return;
    }
    feed.record(db, &[b"DEL".as_slice(), key]);
    emit_entry(key, entry, &mut |args| feed.record(db, args));
}
