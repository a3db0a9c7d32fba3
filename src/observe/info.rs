//! INFO sections this module adds: errorstats, latencystats and shards (ours: one line per
//! shard, so an imbalance shows).

use crate::metrics::ServerStats;

/// `errorstat_<CODE>:count=<n>`, codes in byte order (Redis keeps them in a radix tree).
pub fn errorstats(st: &ServerStats) -> String {
    let mut codes: Vec<_> = st.errors.iter().collect();
    codes.sort();
    codes
        .into_iter()
        .map(|(code, n)| format!("errorstat_{code}:count={n}\r\n"))
        .collect()
}

/// `latency_percentiles_usec_<cmd>:p50=…,p99=…,p99.9=…` for each command with a histogram.
pub fn latencystats(st: &ServerStats, percentiles: &[f64]) -> String {
    let mut names: Vec<_> = st
        .commands
        .iter()
        .filter_map(|(k, v)| v.latency.as_ref().map(|h| (*k, h)))
        .collect();
    names.sort_by_key(|(k, _)| *k);
    let mut out = String::new();
    for (name, h) in names {
        let parts: Vec<String> = percentiles
            .iter()
            .map(|p| {
                format!(
                    "p{}={:.3}",
                    crate::config::fmt_percentile(*p),
                    h.value_at_percentile(*p) as f64 / 1000.0
                )
            })
            .collect();
        out.push_str(&format!(
            "latency_percentiles_usec_{name}:{}\r\n",
            parts.join(",")
        ));
    }
    out
}

/// What one shard reports in the `shards` section.
#[derive(Default, Clone)]
pub struct ShardLine {
    pub keys: usize,
    pub expires: usize,
    pub commands: u64,
    pub ops_per_sec: f64,
    pub clients: usize,
    pub blocked: usize,
    pub net_input: u64,
    pub net_output: u64,
    pub aof_size: u64,
    /// Connections other shards moved here (net/migrate.rs).
    pub moved_in: u64,
}

impl ShardLine {
    pub fn render(&self, id: usize) -> String {
        format!(
            "shard{id}:keys={},expires={},total_commands_processed={},instantaneous_ops_per_sec={},connected_clients={},blocked_clients={},total_net_input_bytes={},total_net_output_bytes={},aof_current_size={},connections_moved_in={}\r\n",
            self.keys,
            self.expires,
            self.commands,
            self.ops_per_sec.round() as u64,
            self.clients,
            self.blocked,
            self.net_input,
            self.net_output,
            self.aof_size,
            self.moved_in
        )
    }
}
