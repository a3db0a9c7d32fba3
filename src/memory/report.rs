//! INFO memory, MEMORY STATS / DOCTOR / USAGE: Redis 7.0's fields from jemalloc's figures.
//!
//! `used_memory` is what the allocator handed out (jemalloc's `stats.allocated`), as Redis's
//! counter is; `used_memory_rss` is the process's resident set. The overhead is the memory of the
//! server with no data plus the keyspace tables' slots; the dataset is the rest.

use super::alloc::{self, Totals};
use crate::config::Config;
use crate::protocol::reply::Reply;
use crate::store::{Entry, Value};
use std::fmt::Write;

/// Bytes of one key's slot in a keyspace table: the (key, entry) pair plus its u32 index slot
/// and control byte (the index is kept at most 7/8 full).
pub const SLOT_BYTES: usize =
    std::mem::size_of::<(crate::store::key::Key, Entry)>() + 4 * 8 / 7 + 2;
/// Bytes of a key's place in its database's TTL index (its position, and that position's
/// index slot and control byte, the index kept at most 7/8 full).
pub const EXPIRES_SLOT_BYTES: usize = 4 + 4 * 8 / 7 + 2;

/// The figures every report is built from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Figures {
    pub used: u64,
    pub rss: u64,
    pub peak: u64,
    pub startup: u64,
    pub overhead: u64,
    pub dataset: u64,
    pub t: Totals,
}

/// Fresh allocator figures. Take them before building a reply (INFO gathers from every shard
/// first), so that the reply's own buffers are not in them, as in Redis.
pub fn measure() -> Figures {
    alloc::refresh();
    let t = alloc::totals();
    super::note_peak(t.allocated);
    let used = t.allocated;
    Figures {
        used,
        rss: crate::metrics::rss_bytes(),
        peak: super::peak().max(used),
        startup: super::startup().min(used),
        t,
        ..Default::default()
    }
}

impl Figures {
    /// Split into overhead and dataset, given the key counts over all databases and shards.
    pub fn with_keys(mut self, keys: u64, expires: u64) -> Figures {
        let tables = keys * SLOT_BYTES as u64 + expires * EXPIRES_SLOT_BYTES as u64;
        self.overhead = (self.startup + tables).min(self.used);
        self.dataset = self.used - self.overhead;
        self
    }
}

/// Fresh figures; `keys` and `expires` are the key counts over all databases and shards.
pub fn figures(keys: u64, expires: u64) -> Figures {
    measure().with_keys(keys, expires)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn diff(a: u64, b: u64) -> i64 {
    a as i64 - b as i64
}

fn perc(part: u64, whole: u64) -> f64 {
    ratio(part, whole) * 100.0
}

/// The body of INFO's Memory section, in Redis 7.0's field order, from figures taken with
/// `measure` before the rest of INFO was gathered.
pub fn info_memory(cfg: &Config, measured: Figures, keys: u64, expires: u64) -> String {
    let f = measured.with_keys(keys, expires);
    let h = crate::commands::server::human;
    let sys = crate::commands::server::total_system_memory();
    let t = &f.t;
    let mut s = String::new();
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(s, "{k}:{v}\r\n");
    };
    line("used_memory", &f.used);
    line("used_memory_human", &h(f.used));
    line("used_memory_rss", &f.rss);
    line("used_memory_rss_human", &h(f.rss));
    line("used_memory_peak", &f.peak);
    line("used_memory_peak_human", &h(f.peak));
    line(
        "used_memory_peak_perc",
        &format!("{:.2}%", perc(f.used, f.peak)),
    );
    line("used_memory_overhead", &f.overhead);
    line("used_memory_startup", &f.startup);
    line("used_memory_dataset", &f.dataset);
    let net = f.used.saturating_sub(f.startup);
    line(
        "used_memory_dataset_perc",
        &format!("{:.2}%", perc(f.dataset, net)),
    );
    line("allocator_allocated", &t.allocated);
    line("allocator_active", &t.active);
    line("allocator_resident", &t.resident);
    line("total_system_memory", &sys);
    line("total_system_memory_human", &h(sys));
    // One VM serves EVAL and functions here; Redis's functions VM is reported at its empty size.
    let lua = crate::scripting::memory_stats();
    let vm_functions = 32768;
    line("used_memory_lua", &lua.vm);
    line("used_memory_vm_eval", &lua.vm);
    line("used_memory_lua_human", &h(lua.vm as u64));
    line("used_memory_scripts_eval", &lua.script_bytes);
    line("number_of_cached_scripts", &lua.scripts);
    line("number_of_functions", &lua.functions);
    line("number_of_libraries", &lua.libraries);
    line("used_memory_vm_functions", &vm_functions);
    line("used_memory_vm_total", &(lua.vm + vm_functions));
    line(
        "used_memory_vm_total_human",
        &h((lua.vm + vm_functions) as u64),
    );
    line("used_memory_functions", &lua.library_bytes);
    let scripts = lua.script_bytes + lua.library_bytes;
    line("used_memory_scripts", &scripts);
    line("used_memory_scripts_human", &h(scripts as u64));
    line("maxmemory", &cfg.maxmemory);
    line("maxmemory_human", &h(cfg.maxmemory));
    line("maxmemory_policy", &cfg.maxmemory_policy);
    // Each overhead as Redis reports it: `<name>_ratio` (2 decimals) and `<name>_bytes`.
    for (name, outer, inner) in [
        ("allocator_frag", t.active, t.allocated),
        ("allocator_rss", t.resident, t.active),
        ("rss_overhead", f.rss, t.resident),
        ("mem_fragmentation", f.rss, f.used),
    ] {
        line(
            &format!("{name}_ratio"),
            &format!("{:.2}", ratio(outer, inner)),
        );
        line(&format!("{name}_bytes"), &diff(outer, inner));
    }
    let aof = super::budget::uncounted();
    line("mem_not_counted_for_evict", &aof);
    line("mem_replication_backlog", &0);
    line("mem_total_replication_buffers", &0);
    line("mem_clients_slaves", &0);
    line("mem_clients_normal", &0);
    line("mem_cluster_links", &0);
    line("mem_aof_buffer", &aof);
    line("mem_allocator", &alloc::NAME);
    line("active_defrag_running", &0);
    line("lazyfree_pending_objects", &0);
    line("lazyfreed_objects", &0);
    // shardis: per shard, as of its last cron tick: its arena's bytes in use, its share of
    // maxmemory, and its thread's own allocated-minus-freed bytes.
    let shards: Vec<String> = super::budget::report()
        .iter()
        .map(|(u, b, t)| format!("{u}/{b}/{t}"))
        .collect();
    line("shard_memory", &shards.join(","));
    s
}

/// MEMORY STATS; `dbs` holds (keys, keys with a TTL) per database, summed over the shards.
pub fn stats(dbs: &[(usize, usize)]) -> Reply {
    let keys: u64 = dbs.iter().map(|d| d.0 as u64).sum();
    let expires: u64 = dbs.iter().map(|d| d.1 as u64).sum();
    let f = figures(keys, expires);
    let t = &f.t;
    let net = f.used.saturating_sub(f.startup);
    let k = |x: &str| Reply::bulk_str(x);
    let i = |x: u64| Reply::Int(x as i64);
    let mut m = vec![
        (k("peak.allocated"), i(f.peak)),
        (k("total.allocated"), i(f.used)),
        (k("startup.allocated"), i(f.startup)),
        (k("replication.backlog"), i(0)),
        (k("clients.slaves"), i(0)),
        (k("clients.normal"), i(0)),
        (k("cluster.links"), i(0)),
        (k("aof.buffer"), i(super::budget::uncounted())),
        (k("lua.caches"), i(0)),
        (k("functions.caches"), i(0)),
    ];
    for (n, (keys, expires)) in dbs.iter().enumerate() {
        if *keys == 0 {
            continue;
        }
        m.push((
            Reply::bulk_str(&format!("db.{n}")),
            Reply::Map(vec![
                (k("overhead.hashtable.main"), i((*keys * SLOT_BYTES) as u64)),
                (
                    k("overhead.hashtable.expires"),
                    i((*expires * EXPIRES_SLOT_BYTES) as u64),
                ),
            ]),
        ));
    }
    m.extend([
        (k("overhead.total"), i(f.overhead)),
        (k("keys.count"), i(keys)),
        (
            k("keys.bytes-per-key"),
            i(net.checked_div(keys).unwrap_or(0)),
        ),
        (k("dataset.bytes"), i(f.dataset)),
        (k("dataset.percentage"), Reply::Double(perc(f.dataset, net))),
        (k("peak.percentage"), Reply::Double(perc(f.used, f.peak))),
        (k("allocator.allocated"), i(t.allocated)),
        (k("allocator.active"), i(t.active)),
        (k("allocator.resident"), i(t.resident)),
        (
            k("allocator-fragmentation.ratio"),
            Reply::Double(ratio(t.active, t.allocated)),
        ),
        (
            k("allocator-fragmentation.bytes"),
            Reply::Int(diff(t.active, t.allocated)),
        ),
        (
            k("allocator.rss-ratio"),
            Reply::Double(ratio(t.resident, t.active)),
        ),
        (
            k("allocator.rss-bytes"),
            Reply::Int(diff(t.resident, t.active)),
        ),
        (
            k("rss-overhead.ratio"),
            Reply::Double(ratio(f.rss, t.resident)),
        ),
        (k("rss-overhead.bytes"), Reply::Int(diff(f.rss, t.resident))),
        (k("fragmentation"), Reply::Double(ratio(f.rss, f.used))),
        (k("fragmentation.bytes"), Reply::Int(diff(f.rss, f.used))),
    ]);
    Reply::Map(m)
}

/// MEMORY DOCTOR: Redis's checks that apply here, in its words.
pub fn doctor(keys: u64, expires: u64) -> String {
    let f = figures(keys, expires);
    let t = &f.t;
    if f.used < 5 << 20 {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    let mut reports = Vec::new();
    if ratio(f.peak, f.used) > 1.5 {
        reports.push(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n".to_string());
    }
    if ratio(f.rss, f.used) > 1.4 && diff(f.rss, f.used) > 10 << 20 {
        reports.push(format!(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"{}\".\n\n", alloc::NAME));
    }
    if ratio(t.active, t.allocated) > 1.1 && diff(t.active, t.allocated) > 10 << 20 {
        reports.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n".to_string());
    }
    if ratio(t.resident, t.active) > 1.1 && diff(t.resident, t.active) > 10 << 20 {
        reports.push(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n".to_string());
    }
    if ratio(f.rss, t.resident) > 1.1 && diff(f.rss, t.resident) > 10 << 20 {
        reports.push(" * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n".to_string());
    }
    if reports.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
    }
    let mut s =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    for r in reports {
        s.push_str(&r);
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

/// MEMORY USAGE: the key's slot, its heap parts and its value, in jemalloc's size classes.
pub fn key_usage(key: &[u8], e: &Entry) -> usize {
    let key_heap = if key.len() > 22 {
        alloc::usable_size(key.len())
    } else {
        0
    };
    let value = match &e.value {
        Value::Str(b) if b.heap_len() == 0 => 0,
        Value::Str(b) => alloc::usable_size(b.heap_len()),
        v => v.mem_usage(),
    };
    let ttl = if e.expire_at != 0 {
        EXPIRES_SLOT_BYTES
    } else {
        0
    };
    SLOT_BYTES + key_heap + value + ttl
}

/// MEMORY USAGE's arguments after the key: `[SAMPLES count]` (checked as Redis does; every
/// value here is measured whole, so the count only has to be valid).
pub fn usage_args(rest: &[bytes::Bytes]) -> Result<(), Reply> {
    let mut j = 0;
    while j < rest.len() {
        if rest[j].eq_ignore_ascii_case(b"samples") && j + 1 < rest.len() {
            match crate::util::num::parse_i64(&rest[j + 1]) {
                None => return Err(Reply::err("ERR value is not an integer or out of range")),
                Some(n) if n < 0 => return Err(Reply::syntax()),
                Some(_) => {}
            }
            j += 2;
        } else {
            return Err(Reply::syntax());
        }
    }
    Ok(())
}
