//! What shardis tells about itself beyond counters: the slow log, the latency monitor, latency
//! histograms and the MONITOR feed. Everything is kept per shard (counters and histograms in
//! `metrics::ServerStats`, the rest here) and merged by the commands that show it.
//!
//! `done` is the one hook every command passes through after it ran; with the default settings
//! it costs a histogram record and two comparisons.

pub mod info;
pub mod latency;
pub mod monitor;
pub mod rates;
pub mod slowlog;

use crate::commands::CommandSpec;
use crate::config::Config;
use crate::protocol::reply::Reply;
use crate::shard::Shard;
use bytes::Bytes;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Who ran a command, for slow log entries made on another shard.
#[derive(Debug)]
pub struct ClientTag {
    pub addr: String,
    pub name: Option<Bytes>,
}

/// The settings `done` reads, copied out of the config so the hot path reads one `Cell`.
#[derive(Clone, Copy)]
pub struct Knobs {
    /// µs; negative: slow log off.
    pub slower_than: i64,
    pub slowlog_max: usize,
    /// ms; 0: latency monitor off.
    pub latency_ms: u64,
    pub tracking: bool,
}

impl Knobs {
    pub fn from_config(c: &Config) -> Knobs {
        Knobs {
            slower_than: c.slowlog_log_slower_than,
            slowlog_max: c.slowlog_max_len.min(usize::MAX as u64) as usize,
            latency_ms: c.latency_monitor_threshold,
            tracking: c.latency_tracking,
        }
    }
}

/// A shard's observability state.
pub struct Observe {
    pub knobs: Cell<Knobs>,
    pub slowlog: RefCell<slowlog::SlowLog>,
    pub events: RefCell<latency::Events>,
    /// The client whose commands this shard runs now (set around synchronous runs).
    pub client: RefCell<Option<Arc<ClientTag>>>,
    /// This shard's monitoring connections.
    pub monitors: RefCell<Vec<u64>>,
    pub rates: Cell<rates::Rates>,
}

impl Observe {
    pub fn new(c: &Config) -> Observe {
        Observe {
            knobs: Cell::new(Knobs::from_config(c)),
            slowlog: Default::default(),
            events: Default::default(),
            client: RefCell::new(None),
            monitors: Default::default(),
            rates: Default::default(),
        }
    }

    /// After CONFIG SET.
    pub fn refresh(&self, c: &Config) {
        self.knobs.set(Knobs::from_config(c));
        let max = self.knobs.get().slowlog_max;
        self.slowlog.borrow_mut().entries.truncate(max);
    }

    /// Set the client whose commands run next on this shard; returns the previous one.
    pub fn set_client(&self, tag: Option<Arc<ClientTag>>) -> Option<Arc<ClientTag>> {
        std::mem::replace(&mut *self.client.borrow_mut(), tag)
    }
}

/// The shard's cron: sample the instantaneous rates.
pub fn cron(shard: &Shard) {
    let (ops, input, output) = {
        let st = shard.stats.borrow();
        (
            st.total_commands_processed,
            st.net_input_bytes,
            st.net_output_bytes,
        )
    };
    let mut r = shard.observe.rates.get();
    r.tick(crate::util::now_ms(), ops, input, output);
    shard.observe.rates.set(r);
}

/// Server-wide slow log ids (touched only when an entry is made).
pub static SLOWLOG_IDS: AtomicU64 = AtomicU64::new(0);

/// Record a command that ran from `start` (clock ticks) to now: command stats, error stats,
/// the latency histogram, latency monitor and slow log. `who` names the client (asked only for
/// a slow log entry).
#[inline]
pub fn done(
    shard: &Shard,
    spec: &'static CommandSpec,
    args: &[Bytes],
    start: u64,
    reply: &Reply,
    who: &dyn Fn() -> Option<Arc<ClientTag>>,
) {
    use crate::util::clock;
    let ns = clock::elapsed_ns(start, clock::ticks());
    let k = shard.observe.knobs.get();
    let name = fullname(spec, args);
    {
        let mut st = shard.stats.borrow_mut();
        st.record_timed(name, ns, reply.is_error(), k.tracking);
        if let Reply::Error(e) = reply {
            st.record_error(e);
        }
    }
    let us = ns / 1000;
    if k.latency_ms > 0 && us / 1000 >= k.latency_ms {
        let event = if spec.has_flag("fast") {
            "fast-command"
        } else {
            "command"
        };
        shard.observe.events.borrow_mut().add(event, us / 1000);
    }
    if k.slower_than >= 0 && us >= k.slower_than as u64 && spec.name != "exec" {
        let tag = who();
        let entry = slowlog::Entry {
            id: SLOWLOG_IDS.fetch_add(1, Ordering::Relaxed),
            time: crate::util::now_ms() / 1000,
            duration: us,
            args: slowlog::trim_args(args, &redacted(args)),
            peer: tag.as_ref().map(|t| t.addr.clone()).unwrap_or_default(),
            name: tag.and_then(|t| t.name.clone()).unwrap_or_default(),
        };
        shard
            .observe
            .slowlog
            .borrow_mut()
            .push(entry, k.slowlog_max);
    }
}

/// A latency event other than a command's (AOF writes and syncs …), if over the threshold.
pub fn event(shard: &Shard, name: &'static str, ms: u64) {
    let t = shard.observe.knobs.get().latency_ms;
    if t > 0 && ms >= t {
        shard.observe.events.borrow_mut().add(name, ms);
    }
}

/// Redis 7's container commands and their subcommands, by full name ("client|list").
const SUBCOMMANDS: &[&str] = &[
    "client|caching",
    "client|getname",
    "client|getredir",
    "client|help",
    "client|id",
    "client|info",
    "client|kill",
    "client|list",
    "client|no-evict",
    "client|pause",
    "client|reply",
    "client|setname",
    "client|tracking",
    "client|trackinginfo",
    "client|unblock",
    "client|unpause",
    "config|get",
    "config|help",
    "config|resetstat",
    "config|rewrite",
    "config|set",
    "memory|doctor",
    "memory|help",
    "memory|malloc-stats",
    "memory|purge",
    "memory|stats",
    "memory|usage",
    "command|count",
    "command|docs",
    "command|getkeys",
    "command|getkeysandflags",
    "command|help",
    "command|info",
    "command|list",
    "object|encoding",
    "object|freq",
    "object|help",
    "object|idletime",
    "object|refcount",
    "xinfo|consumers",
    "xinfo|groups",
    "xinfo|help",
    "xinfo|stream",
    "xgroup|create",
    "xgroup|createconsumer",
    "xgroup|delconsumer",
    "xgroup|destroy",
    "xgroup|help",
    "xgroup|setid",
    "slowlog|get",
    "slowlog|help",
    "slowlog|len",
    "slowlog|reset",
    "latency|doctor",
    "latency|graph",
    "latency|help",
    "latency|histogram",
    "latency|history",
    "latency|latest",
    "latency|reset",
];

/// The name stats are kept under: "client|list" for a container's known subcommand, else the
/// command's name.
#[inline]
pub fn fullname(spec: &'static CommandSpec, args: &[Bytes]) -> &'static str {
    if args.len() < 2
        || !matches!(
            spec.name,
            "client"
                | "config"
                | "memory"
                | "command"
                | "object"
                | "xinfo"
                | "xgroup"
                | "slowlog"
                | "latency"
        )
    {
        return spec.name;
    }
    sub_fullname(spec.name, &args[1]).unwrap_or(spec.name)
}

/// "client|list" for ("client", b"LIST"), if that subcommand exists.
pub fn sub_fullname(cmd: &str, sub: &[u8]) -> Option<&'static str> {
    SUBCOMMANDS.iter().copied().find(|full| {
        full.len() == cmd.len() + 1 + sub.len()
            && full.starts_with(cmd)
            && full.as_bytes()[cmd.len()] == b'|'
            && full.as_bytes()[cmd.len() + 1..].eq_ignore_ascii_case(sub)
    })
}

/// Whether this is an administrative command (Redis's ADMIN flag), which MONITOR does not show.
pub fn admin(spec: &CommandSpec, args: &[Bytes]) -> bool {
    if spec.has_flag("admin") {
        return true;
    }
    let sub = || {
        args.get(1)
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default()
    };
    match spec.name {
        "monitor" | "lastsave" | "config" | "pfselftest" | "pfdebug" => true,
        "slowlog" | "latency" => sub() != b"help",
        "client" => matches!(
            sub().as_slice(),
            b"kill" | b"list" | b"no-evict" | b"pause" | b"unpause" | b"unblock"
        ),
        _ => false,
    }
}

/// Argument positions hidden from MONITOR and the slow log (passwords), as Redis redacts them.
pub fn redacted(args: &[Bytes]) -> Vec<usize> {
    let Some(name) = args.first() else {
        return Vec::new();
    };
    let is = |i: usize, w: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    if name.eq_ignore_ascii_case(b"auth") {
        return (1..args.len()).collect();
    }
    if name.eq_ignore_ascii_case(b"hello") {
        return (2..args.len())
            .filter(|&i| is(i, "auth"))
            .flat_map(|i| [i + 1, i + 2])
            .filter(|&i| i < args.len())
            .collect();
    }
    if name.eq_ignore_ascii_case(b"config") && is(1, "set") {
        return (2..args.len())
            .step_by(2)
            .filter(|&i| Config::is_sensitive(&args[i]))
            .map(|i| i + 1)
            .filter(|&i| i < args.len())
            .collect();
    }
    if name.eq_ignore_ascii_case(b"migrate") {
        let mut v = Vec::new();
        for i in 6..args.len() {
            if is(i, "auth") {
                v.push(i + 1);
            } else if is(i, "auth2") {
                v.extend([i + 1, i + 2]);
            }
        }
        v.retain(|&i| i < args.len());
        return v;
    }
    if name.eq_ignore_ascii_case(b"acl") && is(1, "setuser") {
        return (2..args.len()).collect();
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcommand_names() {
        assert_eq!(sub_fullname("client", b"LIST"), Some("client|list"));
        assert_eq!(sub_fullname("client", b"nope"), None);
        assert_eq!(
            sub_fullname("config", b"resetstat"),
            Some("config|resetstat")
        );
    }

    #[test]
    fn redaction() {
        let a = |v: &[&str]| {
            v.iter()
                .map(|s| Bytes::from(s.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(redacted(&a(&["auth", "u", "p"])), vec![1, 2]);
        assert_eq!(redacted(&a(&["hello", "2", "AUTH", "u", "p"])), vec![3, 4]);
        assert_eq!(redacted(&a(&["config", "set", "masterauth", "x"])), vec![3]);
        assert!(redacted(&a(&["config", "set", "maxclients", "x"])).is_empty());
        assert!(redacted(&a(&["get", "k"])).is_empty());
    }
}
