//! SLOWLOG, LATENCY and MONITOR (Redis's slowlog.c, latency.c, the MONITOR part of
//! replication.c). Each shard keeps its own slow log and latency events (see `observe`); these
//! commands merge them.

use super::server::{help, sub_err};
use super::{CommandSpec, Kind};
use crate::net::conn::Conn;
use crate::observe::{latency, slowlog};
use crate::protocol::reply::Reply;
use crate::shard::Shard;
use bytes::Bytes;
use std::rc::Rc;

const fn c(
    name: &'static str,
    arity: i32,
    flags: &'static str,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, (0, 0, 0), Kind::Conn).doc("server", since, summary)
}

pub const COMMANDS: &[CommandSpec] = &[
    c(
        "slowlog",
        -2,
        "",
        "2.2.12",
        "A container for slow log commands",
    ),
    c(
        "latency",
        -2,
        "",
        "2.8.13",
        "A container for latency diagnostics commands",
    ),
    c(
        "monitor",
        1,
        "admin noscript loading stale",
        "1.0.0",
        "Listen for all requests received by the server in real time",
    ),
];

/// Subcommands and their arities (Redis 7.0's command table).
const SLOWLOG_SUBS: &[(&str, i32)] = &[("get", -2), ("len", 2), ("reset", 2), ("help", 2)];
const LATENCY_SUBS: &[(&str, i32)] = &[
    ("doctor", 2),
    ("graph", 3),
    ("help", 2),
    ("histogram", -2),
    ("history", 3),
    ("latest", 2),
    ("reset", -2),
];

/// The command table's checks for a container: a known subcommand with its arity.
fn check_sub(cmd: &str, subs: &[(&str, i32)], a: &[Bytes]) -> Option<Reply> {
    let Some(&(name, arity)) = subs
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(&a[1]))
    else {
        return Some(sub_err(cmd, &a[1]));
    };
    let n = a.len() as i32;
    if (arity >= 0 && n != arity) || (arity < 0 && n < -arity) {
        return Some(Reply::err(format!(
            "ERR wrong number of arguments for '{cmd}|{name}' command"
        )));
    }
    None
}

/// What runs without other shards; None: `exec_async`.
pub fn exec_sync(shard: &Rc<Shard>, c: &mut Conn, a: &[Bytes]) -> Option<Reply> {
    let sub = a.get(1).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    let cmd = a[0].to_ascii_lowercase();
    let bad = match cmd.as_slice() {
        b"slowlog" => check_sub("slowlog", SLOWLOG_SUBS, a),
        b"latency" => check_sub("latency", LATENCY_SUBS, a),
        _ => None,
    };
    if bad.is_some() {
        return bad;
    }
    Some(match (cmd.as_slice(), sub.as_slice()) {
        (b"monitor", _) => {
            crate::observe::monitor::add(shard, c.client.id);
            Reply::ok()
        }
        (b"slowlog", b"help") if a.len() == 2 => help(&[
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Prints this help.",
        ]),
        (b"latency", b"help") if a.len() == 2 => help(&[
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
            "HELP",
            "    Prints this help.",
        ]),
        _ => return None,
    })
}

/// SLOWLOG and LATENCY subcommands that merge every shard's data.
pub async fn exec_async(shard: &Rc<Shard>, a: &[Bytes]) -> Reply {
    let sub = a.get(1).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    if a[0].eq_ignore_ascii_case(b"slowlog") {
        return match (sub.as_slice(), a.len()) {
            (b"reset", 2) => {
                shard
                    .broadcast(|sh| sh.observe.slowlog.borrow_mut().entries.clear())
                    .await;
                Reply::ok()
            }
            (b"len", 2) => Reply::Int(merged_slowlog(shard).await.len() as i64),
            (b"get", 2 | 3) => {
                let mut count = 10usize;
                if a.len() == 3 {
                    match crate::util::num::parse_i64(&a[2]) {
                        Some(-1) => count = usize::MAX,
                        Some(n) if n >= 0 => count = n as usize,
                        _ => return Reply::err("ERR count should be greater than or equal to -1"),
                    }
                }
                let entries = merged_slowlog(shard).await;
                Reply::Array(entries.into_iter().take(count).map(entry_reply).collect())
            }
            _ => sub_syntax(&a[1], "SLOWLOG"),
        };
    }
    match (sub.as_slice(), a.len()) {
        (b"latest", 2) => {
            let ev = merged_events(shard).await;
            Reply::Array(
                ev.series
                    .iter()
                    .map(|(name, s)| {
                        let (t, ms) = s.samples.back().copied().unwrap_or_default();
                        Reply::Array(vec![
                            Reply::bulk_str(name),
                            Reply::Int(t as i64),
                            Reply::Int(ms as i64),
                            Reply::Int(s.max as i64),
                        ])
                    })
                    .collect(),
            )
        }
        (b"history", 3) => {
            let ev = merged_events(shard).await;
            let samples = ev.get(&a[2]).map(|s| s.samples.clone()).unwrap_or_default();
            Reply::Array(
                samples
                    .into_iter()
                    .map(|(t, ms)| Reply::Array(vec![Reply::Int(t as i64), Reply::Int(ms as i64)]))
                    .collect(),
            )
        }
        (b"graph", 3) => {
            let ev = merged_events(shard).await;
            match ev.get(&a[2]) {
                Some(s) => Reply::Verbatim(Bytes::from(graph(&String::from_utf8_lossy(&a[2]), s))),
                None => Reply::err(format!(
                    "ERR No samples available for event '{}'",
                    String::from_utf8_lossy(&a[2])
                )),
            }
        }
        (b"doctor", 2) => {
            let ev = merged_events(shard).await;
            let t = shard.observe.knobs.get().latency_ms;
            Reply::Verbatim(Bytes::from(latency::doctor(&ev, t)))
        }
        (b"reset", _) => {
            let names: Option<Vec<Vec<u8>>> =
                (a.len() > 2).then(|| a[2..].iter().map(|x| x.to_vec()).collect());
            let names = std::sync::Arc::new(names);
            // An event counts once however many shards had it.
            let before = merged_events(shard).await;
            shard
                .broadcast(move |sh| sh.observe.events.borrow_mut().reset(names.as_deref()))
                .await;
            let after = merged_events(shard).await;
            Reply::Int((before.series.len() - after.series.len().min(before.series.len())) as i64)
        }
        (b"histogram", _) => histogram(shard, &a[2..]).await,
        _ => sub_syntax(&a[1], "LATENCY"),
    }
}

/// Redis's addReplySubcommandSyntaxError.
fn sub_syntax(sub: &[u8], cmd: &str) -> Reply {
    Reply::err(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {cmd} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)])
    ))
}

/// Every shard's counters and histograms, summed.
async fn merged_stats(shard: &Rc<Shard>) -> crate::metrics::ServerStats {
    let parts = shard.broadcast(|sh| sh.stats.borrow().clone()).await;
    let mut all = crate::metrics::ServerStats::default();
    for p in parts.into_iter().flatten() {
        all.merge(&p);
    }
    all
}

/// Every shard's slow log, newest first, cut to `slowlog-max-len` (ids are server-wide, so the
/// newest entries overall are all there).
async fn merged_slowlog(shard: &Rc<Shard>) -> Vec<slowlog::Entry> {
    let parts = shard
        .broadcast(|sh| {
            sh.observe
                .slowlog
                .borrow()
                .entries
                .iter()
                .cloned()
                .collect::<Vec<_>>()
        })
        .await;
    let mut all: Vec<slowlog::Entry> = parts.into_iter().flatten().flatten().collect();
    all.sort_by_key(|e| std::cmp::Reverse(e.id));
    all.truncate(shard.observe.knobs.get().slowlog_max);
    all
}

fn entry_reply(e: slowlog::Entry) -> Reply {
    Reply::Array(vec![
        Reply::Int(e.id as i64),
        Reply::Int(e.time as i64),
        Reply::Int(e.duration as i64),
        Reply::Array(e.args.into_iter().map(Reply::Bulk).collect()),
        Reply::bulk_str(&e.peer),
        Reply::Bulk(e.name),
    ])
}

async fn merged_events(shard: &Rc<Shard>) -> latency::Events {
    let parts = shard
        .broadcast(|sh| sh.observe.events.borrow().clone())
        .await;
    let mut all = latency::Events::default();
    for p in parts.into_iter().flatten() {
        all.merge(&p);
    }
    all
}

/// LATENCY HISTOGRAM [command ...]: per command, calls and the cumulative distribution in µs
/// buckets doubling from 1 µs (Redis's reply shape).
async fn histogram(shard: &Rc<Shard>, names: &[Bytes]) -> Reply {
    let stats = merged_stats(shard).await;
    let mut wanted: Vec<&str> = Vec::new();
    if names.is_empty() {
        let mut v: Vec<&str> = stats.commands.keys().copied().collect();
        v.sort_unstable();
        wanted = v;
    } else {
        for n in names {
            let lower = String::from_utf8_lossy(n).to_ascii_lowercase();
            if let Some((cmd, sub)) = lower.split_once('|') {
                if let Some(full) = crate::observe::sub_fullname(cmd, sub.as_bytes()) {
                    wanted.push(full);
                }
            } else if let Some(spec) = super::lookup(n) {
                wanted.push(spec.name);
                let prefix = format!("{}|", spec.name);
                let mut subs: Vec<&str> = stats
                    .commands
                    .keys()
                    .copied()
                    .filter(|k| k.starts_with(&prefix))
                    .collect();
                subs.sort_unstable();
                wanted.extend(subs);
            }
        }
    }
    let mut out = Vec::new();
    for name in wanted {
        let Some(h) = stats.commands.get(name).and_then(|s| s.latency.as_ref()) else {
            continue;
        };
        let mut buckets = Vec::new();
        let mut cumulative = 0u64;
        for v in h.iter_log(1024, 2.0) {
            let before = cumulative;
            cumulative += v.count_since_last_iteration();
            if cumulative > before {
                let us = h.highest_equivalent(v.value_iterated_to()) / 1000;
                buckets.push((Reply::Int(us as i64), Reply::Int(cumulative as i64)));
            }
        }
        out.push((
            Reply::bulk_str(name),
            Reply::Map(vec![
                (Reply::bulk_str("calls"), Reply::Int(h.len() as i64)),
                (Reply::bulk_str("histogram_usec"), Reply::Map(buckets)),
            ]),
        ));
    }
    Reply::Map(out)
}

/// LATENCY GRAPH: Redis's sparkline, one column per sample, scaled to the worst.
fn graph(event: &str, s: &latency::Series) -> String {
    let now = crate::util::now_ms() / 1000;
    let (lo, hi) = s
        .samples
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), x| (lo.min(x.1), hi.max(x.1)));
    let mut out = format!(
        "{} - high {} ms, low {} ms (all time high {} ms)\n",
        event,
        hi,
        if lo == u64::MAX { 0 } else { lo },
        s.max
    );
    out.push_str(&"-".repeat(80));
    out.push('\n');
    const ROWS: u64 = 4;
    for row in (0..ROWS).rev() {
        for x in &s.samples {
            let level = (x.1 * ROWS).checked_div(hi).unwrap_or(0);
            out.push(if level > row {
                '#'
            } else if row == 0 {
                '_'
            } else {
                ' '
            });
        }
        out.push('\n');
    }
    for x in &s.samples {
        let ago = now.saturating_sub(x.0);
        out.push_str(&format!("{ago}s "));
    }
    out.push('\n');
    out
}
