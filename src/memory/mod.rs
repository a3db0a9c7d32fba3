//! Memory: the allocator and its figures, `maxmemory` budgets per shard, eviction, and the
//! INFO memory / MEMORY reports.

pub mod alloc;
pub mod budget;
pub mod evict;
pub mod report;

use std::sync::atomic::{AtomicU64, Ordering};

/// The highest `used_memory` seen (INFO `used_memory_peak`).
static PEAK: AtomicU64 = AtomicU64::new(0);
/// `used_memory` once the server was up (INFO `used_memory_startup`).
static STARTUP: AtomicU64 = AtomicU64::new(0);

pub fn note_peak(used: u64) {
    PEAK.fetch_max(used, Ordering::Relaxed);
}

pub fn peak() -> u64 {
    PEAK.load(Ordering::Relaxed)
}

/// Record the memory of the server with no data, once (the first cron tick of shard 0).
pub fn note_startup(used: u64) {
    let _ = STARTUP.compare_exchange(0, used, Ordering::Relaxed, Ordering::Relaxed);
}

pub fn startup() -> u64 {
    STARTUP.load(Ordering::Relaxed)
}
