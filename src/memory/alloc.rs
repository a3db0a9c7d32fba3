//! The allocator: jemalloc (the binary's global allocator, src/main.rs), with one arena per
//! shard.
//!
//! A shard's data is allocated on its own thread, so binding each shard thread to an arena of
//! its own makes that arena's statistics the shard's memory, exactly: a block freed by another
//! thread (a reply buffer made on the key's shard and dropped by the connection's) still goes
//! back to the arena it came from. A per-thread counting allocator cannot tell that apart: every
//! cross-shard request would move bytes from one shard's count to the other's for good (see
//! README, "Memory").
//!
//! Arena statistics are a snapshot jemalloc refreshes on request (`refresh`, a few µs); between
//! two refreshes a shard adds what its own thread allocated and freed since, which jemalloc keeps
//! in thread-local counters that cost one load to read.

use std::cell::Cell;

/// The library's own unit tests measure jemalloc's arenas, so they run on it too (the binary
/// declares it for the server, src/main.rs).
#[cfg(test)]
#[global_allocator]
static TEST_GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use tikv_jemalloc_ctl::{epoch, raw, stats, thread};

/// jemalloc's version, for INFO `mem_allocator` (as Redis reports it).
pub const NAME: &str = "jemalloc-5.3.0";

/// `MALLCTL_ARENAS_ALL`: the arena index that means "every arena".
const ARENAS_ALL: usize = 4096;

type Counter = thread::ThreadLocal<u64>;

thread_local! {
    /// This thread's allocated/deallocated byte counters (pointers into jemalloc's TSD).
    static COUNTERS: Cell<Option<(Counter, Counter)>> = const { Cell::new(None) };
}

/// Give the calling thread an arena of its own. Returns its index, or None if jemalloc refused
/// (the thread then shares the automatic arenas and its figures come from `thread_net`).
pub fn bind_own_arena() -> Option<u32> {
    // SAFETY: "arenas.create" reads nothing and returns the new arena's index as an unsigned.
    let arena: u32 = unsafe { raw::read(b"arenas.create\0") }.ok()?;
    // SAFETY: "thread.arena" takes an unsigned arena index.
    unsafe { raw::write(b"thread.arena\0", arena) }.ok()?;
    Some(arena)
}

/// Bytes this thread allocated minus bytes it freed, since it started (wrapping: a thread that
/// frees what others allocated goes "negative").
#[inline]
pub fn thread_net() -> u64 {
    let counters = COUNTERS.with(|c| {
        if let Some(p) = c.get() {
            return Some(p);
        }
        let p = (
            thread::allocatedp::read().ok()?,
            thread::deallocatedp::read().ok()?,
        );
        c.set(Some(p));
        Some(p)
    });
    match counters {
        Some((a, d)) => a.get().wrapping_sub(d.get()),
        None => 0,
    }
}

/// Ask jemalloc to refresh the statistics read below.
pub fn refresh() {
    let _ = epoch::advance();
}

/// Process-wide figures from the last refresh.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    /// Bytes in blocks handed out (Redis's `allocator_allocated`).
    pub allocated: u64,
    /// Bytes in pages with at least one block in use (`allocator_active`).
    pub active: u64,
    /// Bytes of the allocator's pages that are resident (`allocator_resident`).
    pub resident: u64,
}

pub fn totals() -> Totals {
    let n = |r: tikv_jemalloc_ctl::Result<usize>| r.unwrap_or(0) as u64;
    Totals {
        // Blocks freed into a thread's cache are not in use: leave them out, as Redis's own
        // counter does (its used_memory counts live allocations only).
        allocated: n(stats::allocated::read()).saturating_sub(tcache_bytes(ARENAS_ALL as u32)),
        active: n(stats::active::read()),
        resident: n(stats::resident::read()),
    }
}

fn arena_stat(arena: u32, what: &str) -> u64 {
    let name = format!("stats.arenas.{arena}.{what}\0");
    // SAFETY: these statistics are size_t.
    unsafe { raw::read::<usize>(name.as_bytes()) }.unwrap_or(0) as u64
}

/// Bytes of an arena's blocks sitting in thread caches (freed, not yet given back).
fn tcache_bytes(arena: u32) -> u64 {
    arena_stat(arena, "tcache_bytes")
}

/// Bytes in use in one arena's blocks (small + large, less those in thread caches), as of the
/// last refresh.
pub fn arena_allocated(arena: u32) -> u64 {
    (arena_stat(arena, "small.allocated") + arena_stat(arena, "large.allocated"))
        .saturating_sub(tcache_bytes(arena))
}

/// Return unused dirty pages of every arena to the system (MEMORY PURGE).
pub fn purge() -> bool {
    let name = format!("arena.{ARENAS_ALL}.purge\0");
    // SAFETY: "arena.<i>.purge" takes and returns nothing.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    rc == 0
}

/// jemalloc's own statistics report (MEMORY MALLOC-STATS).
pub fn stats_text() -> String {
    let mut out = Vec::new();
    let opts = tikv_jemalloc_ctl::stats_print::Options::default();
    if tikv_jemalloc_ctl::stats_print::stats_print(&mut out, opts).is_err() {
        return "Stats not supported for the current allocator".into();
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The size jemalloc really hands out for a request of `size` bytes (its size class).
#[inline]
pub fn usable_size(size: usize) -> usize {
    if size == 0 {
        return 0;
    }
    // SAFETY: nallocx only computes; flags 0 means default alignment.
    unsafe { tikv_jemalloc_sys::nallocx(size, 0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_arena_counts_this_threads_blocks_wherever_they_are_freed() {
        std::thread::spawn(|| {
            let arena = bind_own_arena().expect("an arena");
            refresh();
            let before = arena_allocated(arena);
            let blocks: Vec<Vec<u8>> = (0..1000).map(|_| vec![1u8; 1000]).collect();
            refresh();
            let grown = arena_allocated(arena) - before;
            assert!(grown >= 1000 * 1000, "grew {grown}");
            // Freed on another thread: still leaves this arena.
            std::thread::spawn(move || drop(blocks)).join().unwrap();
            refresh();
            let after = arena_allocated(arena);
            assert!(after < before + 100_000, "before {before}, after {after}");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn thread_counters_follow_this_thread() {
        let a = thread_net();
        // black_box: a release build would leave out an allocation nobody reads.
        let v = std::hint::black_box(vec![0u8; 1 << 20]);
        let b = thread_net();
        assert!(b.wrapping_sub(a) >= 1 << 20);
        drop(v);
        assert!(thread_net().wrapping_sub(a) < 4096);
        assert_eq!(usable_size(100), 112);
    }
}
