//! How `maxmemory` is divided among the shards.
//!
//! Each shard publishes its memory (its arena's bytes) once per cron tick in a slot the others
//! can read, and then computes its own budget from everyone's figures with the same rule, so the
//! budgets always add up to what the shards may use together:
//!
//! * `room` = `maxmemory` minus what no shard owns (other threads, allocator slack);
//!   `share` = `room / shards`.
//! * Under the limit (`sum(used) <= room`), every shard may grow by an equal part of the free
//!   room: `budget = used + (room - sum) / shards`.
//! * Over it, shards under their share lend what they do not use to the shards over it, in
//!   proportion to how far over each is: `budget = used` for a shard at or under its share, and
//!   `share + lent * excess / total_excess` for one over it. So a skewed keyspace keeps its
//!   skew, and the shards holding most of the data are the ones that evict.
//! * A shard that has nothing its policy may evict (no keys, or no keys with a TTL under a
//!   `volatile-*` policy) is *drained*: over the limit it keeps `budget = used` and the others
//!   share what is left, so they evict for it. Only when every shard is drained are `denyoom`
//!   commands refused.
//!
//! Between two ticks a shard holds itself to its budget on its own (see `evict.rs`).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

/// One shard's published figure; only that shard writes it.
struct Slot {
    used: AtomicU64,
    /// Memory it holds that maxmemory does not count (AOF buffers, as Redis leaves them out).
    uncounted: AtomicU64,
    /// Its budget from the last tick (reported by INFO).
    budget: AtomicU64,
    /// Its thread's own allocated-minus-freed bytes: what a per-thread counting allocator
    /// would report for it (INFO shows it beside the arena figure, see README "Memory").
    thread_net: AtomicU64,
    /// Over budget under `noeviction`: it refuses `denyoom` commands.
    oom: AtomicBool,
    /// Nothing its policy may evict.
    drained: AtomicBool,
    /// Its jemalloc arena (`NO_ARENA` until it has one).
    arena: AtomicU32,
}

const NO_ARENA: u32 = u32::MAX;

static SLOTS: OnceLock<Box<[Slot]>> = OnceLock::new();

fn slots(n: usize) -> &'static [Slot] {
    SLOTS.get_or_init(|| {
        (0..n)
            .map(|_| Slot {
                used: AtomicU64::new(0),
                uncounted: AtomicU64::new(0),
                budget: AtomicU64::new(0),
                thread_net: AtomicU64::new(0),
                oom: AtomicBool::new(false),
                drained: AtomicBool::new(false),
                arena: AtomicU32::new(NO_ARENA),
            })
            .collect()
    })
}

/// Publish shard `id`'s memory: what counts for maxmemory, and what does not.
pub fn publish(id: usize, n: usize, used: u64, uncounted: u64) {
    if let Some(s) = slots(n).get(id) {
        s.used.store(used, Ordering::Relaxed);
        s.uncounted.store(uncounted, Ordering::Relaxed);
    }
}

/// Shard `id`'s arena, for the others to read (`arenas`).
pub fn publish_arena(id: usize, n: usize, arena: u32) {
    if let Some(s) = slots(n).get(id) {
        s.arena.store(arena, Ordering::Relaxed);
    }
}

/// Every shard's arena; None while some shard has none (it allocates in jemalloc's shared
/// arenas, which other threads use too).
pub fn arenas(n: usize) -> Option<Vec<u32>> {
    slots(n)
        .iter()
        .map(|s| Some(s.arena.load(Ordering::Relaxed)).filter(|&a| a != NO_ARENA))
        .collect()
}

/// The memory the shards hold that maxmemory does not count, summed.
pub fn uncounted() -> u64 {
    SLOTS.get().map_or(0, |s| {
        s.iter().map(|s| s.uncounted.load(Ordering::Relaxed)).sum()
    })
}

fn set(flag: impl Fn(&Slot) -> &AtomicBool, id: usize, n: usize, on: bool) {
    if let Some(s) = slots(n).get(id) {
        let f = flag(s);
        // Read first: the line stays shared while nothing changes.
        if f.load(Ordering::Relaxed) != on {
            f.store(on, Ordering::Relaxed);
        }
    }
}

/// Shard `id` refuses (or no longer refuses) `denyoom` commands under `noeviction`.
pub fn set_oom(id: usize, n: usize, on: bool) {
    set(|s| &s.oom, id, n, on);
}

/// Shard `id` has (or again has) nothing its policy may evict.
pub fn set_drained(id: usize, n: usize, on: bool) {
    set(|s| &s.drained, id, n, on);
}

/// Whether a multi-shard `denyoom` command is refused: some shard refuses them under
/// `noeviction`, or no shard has anything left to evict.
pub fn refusing(n: usize) -> bool {
    let s = slots(n);
    s.iter().any(|s| s.oom.load(Ordering::Relaxed))
        || s.iter().all(|s| s.drained.load(Ordering::Relaxed))
}

/// Whether every shard is drained (then a drained shard refuses too).
pub fn all_drained(n: usize) -> bool {
    slots(n).iter().all(|s| s.drained.load(Ordering::Relaxed))
}

/// Which shards are drained, in shard order.
pub fn drained(n: usize) -> Vec<bool> {
    slots(n)
        .iter()
        .map(|s| s.drained.load(Ordering::Relaxed))
        .collect()
}

/// Publish shard `id`'s budget and its thread's own net allocation.
pub fn publish_budget(id: usize, n: usize, budget: u64, thread_net: u64) {
    if let Some(s) = slots(n).get(id) {
        s.budget.store(budget, Ordering::Relaxed);
        s.thread_net.store(thread_net, Ordering::Relaxed);
    }
}

/// Every shard's last published (memory, budget, thread's net allocation), in shard order, if
/// the shards started.
pub fn report() -> Vec<(u64, u64, i64)> {
    SLOTS.get().map_or_else(Vec::new, |s| {
        s.iter()
            .map(|s| {
                (
                    s.used.load(Ordering::Relaxed),
                    s.budget.load(Ordering::Relaxed),
                    s.thread_net.load(Ordering::Relaxed) as i64,
                )
            })
            .collect()
    })
}

/// Every shard's last published memory, in shard order.
pub fn published(n: usize) -> Vec<u64> {
    slots(n)
        .iter()
        .map(|s| s.used.load(Ordering::Relaxed))
        .collect()
}

/// Shard `id`'s budget given every shard's memory, which shards are drained, and the room they
/// have together.
pub fn budget(id: usize, used: &[u64], drained: &[bool], room: u64) -> u64 {
    let mine = used.get(id).copied().unwrap_or(0);
    let sum: u64 = used.iter().sum();
    if sum <= room {
        return mine + (room - sum) / used.len().max(1) as u64;
    }
    let is_drained = |i: usize| drained.get(i).copied().unwrap_or(false);
    if is_drained(id) || used.iter().enumerate().all(|(i, _)| is_drained(i)) {
        return mine;
    }
    // The drained shards keep what they hold; the others share the rest.
    let held: u64 = (0..used.len())
        .filter(|&i| is_drained(i))
        .map(|i| used[i])
        .sum();
    let room = room.saturating_sub(held);
    let live: Vec<u64> = (0..used.len())
        .filter(|&i| !is_drained(i))
        .map(|i| used[i])
        .collect();
    let share = room / live.len() as u64;
    if mine <= share {
        return mine;
    }
    let lent: u64 = live.iter().map(|&u| share.saturating_sub(u)).sum();
    let excess: u64 = live.iter().map(|&u| u.saturating_sub(share)).sum();
    let extra = (lent as u128 * (mine - share) as u128 / excess.max(1) as u128) as u64;
    share + extra
}

#[cfg(test)]
mod tests {
    use super::budget;

    fn all(used: &[u64], room: u64) -> Vec<u64> {
        let none = vec![false; used.len()];
        (0..used.len())
            .map(|i| budget(i, used, &none, room))
            .collect()
    }

    #[test]
    fn budgets_add_up_to_the_room() {
        for (used, room) in [
            (vec![10, 10, 10, 10], 100),
            (vec![50, 10, 0, 5], 40),
            (vec![90, 5, 5, 0], 60),
            (vec![0, 0, 0, 0], 0),
            (vec![7], 3),
        ] {
            let b = all(&used, room);
            let total: u64 = b.iter().sum();
            assert!(
                total <= room && room - total < used.len() as u64 + 1,
                "{used:?} {room} {b:?}"
            );
        }
    }

    #[test]
    fn under_the_limit_everyone_may_grow() {
        assert_eq!(all(&[10, 30, 0, 0], 100), vec![25, 45, 15, 15]);
    }

    #[test]
    fn over_the_limit_the_big_shards_evict_and_the_small_ones_lend() {
        // share = 25: shards 2 and 3 lend 25 + 20; shard 0 (excess 55) and 1 (excess 5) split it.
        let b = all(&[80, 30, 0, 5], 100);
        assert_eq!(b[2], 0);
        assert_eq!(b[3], 5);
        assert_eq!(b[0], 25 + 45 * 55 / 60);
        assert_eq!(b[1], 25 + 45 * 5 / 60);
        assert!(b[0] < 80 && b[1] < 30);
    }

    #[test]
    fn a_drained_shard_keeps_its_memory_and_the_others_evict_for_it() {
        let used = [40, 30, 30, 20];
        let drained = [true, false, false, false];
        let b: Vec<u64> = (0..4).map(|i| budget(i, &used, &drained, 100)).collect();
        assert_eq!(b[0], 40);
        assert_eq!(b[1..].iter().sum::<u64>(), 60);
        assert_eq!(b[3], 20);
    }
}
