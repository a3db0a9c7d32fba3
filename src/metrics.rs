//! Server counters kept per shard and merged by INFO.

#[derive(Default, Clone, Debug)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    pub failed: u64,
    pub rejected: u64,
    /// Run times in ns (`latency-tracking`): INFO latencystats, LATENCY HISTOGRAM.
    pub latency: Option<Box<hdrhistogram::Histogram<u64>>>,
}

/// Redis's range for command latency histograms: 1 ns to 1 s, 2 significant digits.
fn new_histogram() -> Option<Box<hdrhistogram::Histogram<u64>>> {
    hdrhistogram::Histogram::new_with_bounds(1, 1_000_000_000, 2)
        .ok()
        .map(Box::new)
}

/// Distinct error codes counted before errorstats stops growing (Redis's ERRORSTATS_LIMIT).
const ERRORSTATS_LIMIT: usize = 128;

#[derive(Default, Clone, Debug)]
pub struct ServerStats {
    pub total_connections_received: u64,
    pub rejected_connections: u64,
    pub total_commands_processed: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub total_error_replies: u64,
    /// Connections other shards moved here (`net/migrate.rs`).
    pub connections_moved_in: u64,
    pub commands: indexmap::IndexMap<&'static str, CommandStat, ahash::RandomState>,
    /// Where the last command was counted (`stat_of`).
    last: Option<usize>,
    /// Error replies by code (the first word: ERR, WRONGTYPE …), INFO errorstats.
    pub errors: ahash::AHashMap<String, u64>,
}

impl ServerStats {
    /// One command ran for `ns`; `track` adds it to its latency histogram.
    #[inline]
    pub fn record_timed(&mut self, name: &'static str, ns: u64, failed: bool, track: bool) {
        self.total_commands_processed += 1;
        let s = self.stat_of(name);
        s.calls += 1;
        s.usec += ns / 1000;
        if failed {
            s.failed += 1;
        }
        if track {
            if s.latency.is_none() {
                s.latency = new_histogram();
            }
            if let Some(h) = &mut s.latency {
                h.saturating_record(ns.max(1));
            }
        }
    }

    /// The counters of command `name`. A pipeline repeats one command: its entry is found again
    /// by the name's address (the key stored there is that very string), without hashing.
    #[inline]
    fn stat_of(&mut self, name: &'static str) -> &mut CommandStat {
        if let Some(i) = self.last {
            if self
                .commands
                .get_index(i)
                .is_some_and(|(k, _)| std::ptr::eq(*k, name))
            {
                return &mut self.commands[i];
            }
        }
        let e = self.commands.entry(name);
        self.last = Some(e.index());
        e.or_default()
    }

    /// Count an error reply under its code, as Redis's afterErrorReply does. An error a script
    /// passes on from a command it ran was counted when that command failed, and is not again
    /// (`Reply::CountedError`).
    pub fn record_error(&mut self, text: &str) {
        self.total_error_replies += 1;
        let head = &text.as_bytes()[..text.len().min(32)];
        let code = match memchr::memchr(b' ', head) {
            Some(i) => &text[..i],
            None => "ERR",
        };
        if let Some(n) = self.errors.get_mut(code) {
            *n += 1;
        } else if self.errors.len() < ERRORSTATS_LIMIT {
            self.errors.insert(code.to_string(), 1);
        }
    }

    /// A command refused before it ran (arity, unknown, protocol-level checks) with `err`.
    pub fn record_rejected(&mut self, name: Option<&'static str>, err: &str) {
        self.record_error(err);
        if let Some(n) = name {
            self.stat_of(n).rejected += 1;
        }
    }

    pub fn merge(&mut self, other: &ServerStats) {
        self.total_connections_received += other.total_connections_received;
        self.rejected_connections += other.rejected_connections;
        self.total_commands_processed += other.total_commands_processed;
        self.net_input_bytes += other.net_input_bytes;
        self.net_output_bytes += other.net_output_bytes;
        self.total_error_replies += other.total_error_replies;
        self.connections_moved_in += other.connections_moved_in;
        for (k, v) in &other.commands {
            let s = self.commands.entry(k).or_default();
            s.calls += v.calls;
            s.usec += v.usec;
            s.failed += v.failed;
            s.rejected += v.rejected;
            if let Some(h) = &v.latency {
                match &mut s.latency {
                    Some(mine) => {
                        let _ = mine.add(h.as_ref());
                    }
                    None => s.latency = Some(h.clone()),
                }
            }
        }
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
    }
}

/// Process CPU time (user, system) in seconds, from getrusage.
pub fn cpu_times() -> (f64, f64) {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}

/// Resident set size in bytes, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |p| p * page)
}
