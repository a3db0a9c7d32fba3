//! The command table: one `CommandSpec` per command, contributed by each family's file.
//!
//! Handlers of keyed commands are plain synchronous functions over a shard's store
//! (`fn(&mut Ctx, &[Bytes]) -> Reply`, args[0] is the command name as sent). The connection
//! layer looks a command up here, checks arity, finds its keys from the key spec, routes it to
//! the owning shard and, for multi-key commands whose keys live on several shards, splits or
//! coordinates it as `Kind` says.

pub mod args;

use crate::protocol::reply::Reply;
use crate::store::Ctx;
use bytes::Bytes;
use std::sync::OnceLock;

pub type Handler = fn(&mut Ctx, &[Bytes]) -> Reply;

/// Finds the key indexes of commands whose key positions depend on their arguments.
pub type KeyFn = fn(&[Bytes]) -> Vec<usize>;

/// How replies of the per-shard parts of a split command are merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Sum of integer replies (DEL, EXISTS, TOUCH, UNLINK).
    SumInt,
    /// Every part replies +OK (MSET).
    AllOk,
    /// Array replies, one element per key, put back in key order (MGET).
    PerKey,
}

#[derive(Clone, Copy)]
pub enum Kind {
    /// Runs whole on the shard that owns its key(s).
    Keyed(Handler),
    /// Keys are independent of each other: when they span shards the command is split into one
    /// command per shard (same handler, that shard's keys) and the replies merged.
    Split(Handler, Merge),
    /// Keys depend on each other (RENAME, MSETNX, LCS, BITOP …): runs as `Keyed` when all keys
    /// are on one shard, else the coordinator's code for this command runs it across shards.
    Coordinated(Handler),
    /// Connection and server commands, run by the connection layer on the client's own shard;
    /// also the blocking commands (BLPOP …), which the connection's task runs (see
    /// `shard/blocking.rs`).
    Conn,
}

/// Where the keys are, as Redis's (first, last, step); last < 0 counts from the end.
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub first: i32,
    pub last: i32,
    pub step: i32,
}

pub struct CommandSpec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: N exact, -N at least N (the name counts).
    pub arity: i32,
    /// Space-separated Redis command flags ("write denyoom", "readonly fast").
    pub flags: &'static str,
    pub keys: KeySpec,
    /// For commands whose keys can't be described by `keys` (numkeys forms): the key indexes.
    pub key_fn: Option<KeyFn>,
    /// For commands that may read keys their key spec cannot name (SORT's BY/GET patterns):
    /// whether this invocation does, in which case it runs on the coordinator whatever the
    /// owners of its declared keys.
    pub spread_fn: Option<fn(&[Bytes]) -> bool>,
    pub kind: Kind,
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
}

impl CommandSpec {
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: &'static str,
        keys: (i32, i32, i32),
        kind: Kind,
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            keys: KeySpec {
                first: keys.0,
                last: keys.1,
                step: keys.2,
            },
            key_fn: None,
            spread_fn: None,
            kind,
            group: "generic",
            since: "1.0.0",
            summary: "",
        }
    }

    /// Documentation shown by COMMAND DOCS.
    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        summary: &'static str,
    ) -> CommandSpec {
        self.group = group;
        self.since = since;
        self.summary = summary;
        self
    }

    pub const fn key_fn(mut self, f: KeyFn) -> CommandSpec {
        self.key_fn = Some(f);
        self
    }

    pub const fn spread_if(mut self, f: fn(&[Bytes]) -> bool) -> CommandSpec {
        self.spread_fn = Some(f);
        self
    }

    /// A write command (logged to the AOF when it changes something).
    #[inline]
    pub fn is_write(&self) -> bool {
        // The flags string starts with "write" for every write command in the table.
        self.flags.as_bytes().starts_with(b"write")
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.split_ascii_whitespace().any(|f| f == flag)
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        if a >= 0 {
            argc == a as usize
        } else {
            argc >= (-a) as usize
        }
    }

    /// Indexes of the key arguments of this invocation.
    pub fn key_indexes(&self, args: &[Bytes]) -> Vec<usize> {
        self.key_positions(args).collect()
    }

    /// `key_indexes` without building a vector where the key spec is a plain range (routing
    /// MSET grew one three times per command: 3% of a literal MSET's CPU in realloc).
    pub fn key_positions(&self, args: &[Bytes]) -> KeyPositions {
        if let Some(f) = self.key_fn {
            return KeyPositions::Listed(f(args).into_iter());
        }
        let KeySpec { first, last, step } = self.keys;
        if first <= 0 || step <= 0 {
            return KeyPositions::Range((0..0).step_by(1));
        }
        let argc = args.len() as i32;
        let last = if last < 0 { argc + last } else { last };
        let end = (last + 1).min(argc).max(first);
        KeyPositions::Range((first as usize..end as usize).step_by(step as usize))
    }
}

/// The argument positions of a command's keys (`CommandSpec::key_positions`).
pub enum KeyPositions {
    Listed(std::vec::IntoIter<usize>),
    Range(std::iter::StepBy<std::ops::Range<usize>>),
}

impl Iterator for KeyPositions {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        match self {
            KeyPositions::Listed(i) => i.next(),
            KeyPositions::Range(i) => i.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            KeyPositions::Listed(i) => i.size_hint(),
            KeyPositions::Range(i) => i.size_hint(),
        }
    }
}

/// Every family's commands.
fn families() -> impl Iterator<Item = &'static CommandSpec> {
    [
        crate::commands::string::COMMANDS,
        crate::commands::bitops::COMMANDS,
        crate::commands::keyspace::COMMANDS,
        crate::commands::server::COMMANDS,
        crate::commands::list::COMMANDS,
        crate::commands::hash::COMMANDS,
        crate::commands::set::COMMANDS,
        crate::commands::zset::COMMANDS,
        crate::commands::hyperloglog::COMMANDS,
        crate::commands::geo::COMMANDS,
        crate::commands::blocking::COMMANDS,
        crate::commands::stream::COMMANDS,
        crate::commands::sort::COMMANDS,
        crate::commands::transaction::COMMANDS,
        crate::commands::pubsub::COMMANDS,
        crate::commands::observe::COMMANDS,
        crate::scripting::COMMANDS,
        crate::commands::acl::COMMANDS,
    ]
    .into_iter()
    .flatten()
}

pub mod acl;
pub mod bitops;
pub mod blocking;
pub mod docs;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod keyspace;
pub mod list;
pub mod observe;
pub mod pubsub;
pub mod server;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
pub mod transaction;
pub mod zset;

static TABLE: OnceLock<ahash::AHashMap<&'static str, &'static CommandSpec>> = OnceLock::new();

pub fn table() -> &'static ahash::AHashMap<&'static str, &'static CommandSpec> {
    TABLE.get_or_init(|| families().map(|c| (c.name, c)).collect())
}

/// Look a command up by the name a client sent, case-insensitively, without allocating for
/// names of ordinary length.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    let s = std::str::from_utf8(lower).ok()?;
    table().get(s).copied()
}

/// All specs, sorted by name (COMMAND, COMMAND LIST).
pub fn all() -> Vec<&'static CommandSpec> {
    let mut v: Vec<_> = table().values().copied().collect();
    v.sort_by_key(|c| c.name);
    v
}

/// The unknown-command error exactly as Redis words it: the arguments are quoted one by one
/// while the list is under 128 bytes, each cut to what is left of those 128.
pub fn unknown_command(args: &[Bytes]) -> Reply {
    let c_str = args::c_str;
    let name = args
        .first()
        .map(|a| String::from_utf8_lossy(c_str(a)).into_owned())
        .unwrap_or_default();
    let mut list = String::new();
    for a in args.iter().skip(1) {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        let a = c_str(a);
        let s = String::from_utf8_lossy(&a[..a.len().min(room)]);
        list.push_str(&format!("'{s}' "));
    }
    let name: String = name.chars().take(128).collect();
    Reply::Error(format!("ERR unknown command '{name}', with args beginning with: {list}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_lowercase_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in families() {
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert!(seen.insert(c.name), "duplicate {}", c.name);
        }
    }

    #[test]
    fn write_flag_comes_first() {
        for c in families() {
            assert_eq!(c.is_write(), c.has_flag("write"), "{}", c.name);
        }
    }

    #[test]
    fn key_positions() {
        let spec = CommandSpec::new("mset", -3, "write", (1, -1, 2), Kind::Conn);
        let args: Vec<Bytes> = ["mset", "a", "1", "b", "2"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        assert_eq!(spec.key_indexes(&args), vec![1, 3]);
    }
}
