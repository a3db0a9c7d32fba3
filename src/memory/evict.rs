//! Eviction under `maxmemory`, per shard (Redis's evict.c).
//!
//! Before every command a shard compares its memory with its budget (see `budget.rs`); when over,
//! it deletes keys the policy picks until it is back under, for at most `COMMAND_LIMIT`; what is
//! left is done by a background task in the shard's low-priority queue, a slice at a time. A
//! command flagged `denyoom` is refused with -OOM when nothing can be freed (`noeviction`, or no
//! candidate left: a `volatile-*` policy with no key that has a TTL). Evicted keys are logged to
//! the AOF as DEL, counted in INFO `evicted_keys` and announced as the `evicted` keyspace event.
//!
//! Candidates: the random policies take a random key of the next non-empty database in turn;
//! LRU, LFU and TTL sample `maxmemory-samples` keys of every database into a pool of the 16 best
//! candidates seen (Redis's eviction pool) and evict the best one that still exists.

use super::{alloc, budget};
use crate::commands::CommandSpec;
use crate::config::MaxmemoryPolicy as Policy;
use crate::protocol::reply::Reply;
use crate::shard::Shard;
use crate::store::{value, ShardStore};
use bytes::Bytes;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The error Redis sends for a `denyoom` command it cannot make room for.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Eviction work one command may do before the rest goes to the background (Redis's limit at
/// the default `maxmemory-eviction-tenacity`).
const COMMAND_LIMIT: Duration = Duration::from_micros(500);
/// Work the background task does between two yields.
const SLICE: Duration = Duration::from_micros(500);
/// How stale the arena figure may be once a shard is near its budget (it is refreshed at
/// least once per cron tick anyway).
const NEAR_REFRESH: Duration = Duration::from_millis(1);
/// The oldest arena figure a shard goes by at all (`stale` is true before the first refresh).
const MAX_AGE: Duration = Duration::from_millis(10);
/// Redis's EVPOOL_SIZE.
const POOL_SIZE: usize = 16;

/// One candidate in the eviction pool: higher `score` = better victim.
#[derive(Debug, Clone)]
pub struct Candidate {
    score: u64,
    db: usize,
    key: Bytes,
}

/// A shard's eviction state. Each shard has its own thread, so it lives in a thread-local.
#[derive(Default)]
struct State {
    id: usize,
    n: usize,
    /// This shard's arena (None: jemalloc refused one; the thread's counters are used).
    arena: Option<u32>,
    /// The shard's bytes at the last refresh (less what maxmemory does not count), and its
    /// thread's net allocation then.
    base: u64,
    base_thread: u64,
    /// The shard's AOF buffers at the last refresh (`uncounted`).
    base_uncounted: u64,
    refreshed: Option<Instant>,
    budget: u64,
    /// What no shard owns (start-up overhead, Lua, other threads) is already at or over
    /// `maxmemory`: the server is over the limit whatever the shards hold, as Redis's
    /// used_memory would be (`CONFIG SET maxmemory 1` refuses writes there).
    starved: bool,
    pool: Vec<Candidate>,
    next_db: usize,
    /// The background task has work (set by a command that ran out of time).
    wake: Option<Rc<glommio::sync::Semaphore>>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

impl State {
    /// The shard's bytes now: the last arena figure plus what this thread did since, less what
    /// its AOF buffers (`uncounted`, their size now) grew by meanwhile. Those grow on this
    /// thread too: a release build filling keys through a pipeline put megabytes in them
    /// between two refreshes, and counting that evicted every key and refused writes.
    fn used(&self, uncounted: u64) -> u64 {
        let delta = alloc::thread_net().wrapping_sub(self.base_thread) as i64;
        let aof = uncounted as i64 - self.base_uncounted as i64;
        (self.base as i64)
            .saturating_add(delta)
            .saturating_sub(aof)
            .max(0) as u64
    }

    /// Over this shard's part of `maxmemory`.
    fn over(&self, uncounted: u64) -> bool {
        self.starved || self.used(uncounted) > self.budget
    }

    fn stale(&self, after: Duration) -> bool {
        self.refreshed.is_none_or(|t| t.elapsed() >= after)
    }

    /// Read the arena, publish it, and recompute the budget from everyone's figures.
    /// `uncounted`: the shard's AOF buffers, which maxmemory leaves out (as Redis does).
    fn refresh(&mut self, maxmemory: u64, uncounted: u64) {
        alloc::refresh();
        self.base_thread = alloc::thread_net();
        let arena = match self.arena {
            Some(a) => alloc::arena_allocated(a),
            None => self.base_thread,
        };
        self.base = arena.saturating_sub(uncounted);
        self.base_uncounted = uncounted;
        self.refreshed = Some(Instant::now());
        budget::publish(self.id, self.n, self.base, arena - self.base);
        let totals = alloc::totals();
        super::note_peak(totals.allocated);
        let used = budget::published(self.n);
        // What no shard owns: the total less every shard's arena, all read now. The shards'
        // published figures are from their own last refresh, up to `MAX_AGE` old: while they
        // grow (a fill through pipelines, AOF buffers and all), the total less those counted
        // megabytes of shard data as no one's, and 4 shards at 2 MB over the start-up figure
        // found the server "starved" and refused writes with keys left to evict.
        let shards = match budget::arenas(self.n) {
            Some(arenas) => arenas.into_iter().map(alloc::arena_allocated).sum::<u64>(),
            None => used.iter().sum::<u64>() + budget::uncounted(),
        };
        let others = totals.allocated.saturating_sub(shards);
        let drained = budget::drained(self.n);
        self.starved = others >= maxmemory;
        self.budget = budget::budget(self.id, &used, &drained, maxmemory.saturating_sub(others));
        budget::publish_budget(self.id, self.n, self.budget, self.base_thread);
    }
}

/// Set up this thread as shard `id` of `n`: its own arena (call on the shard's thread, first).
pub fn attach(id: usize, n: usize) {
    let arena = alloc::bind_own_arena();
    if arena.is_none() {
        crate::logging::warning("jemalloc gave this shard no arena of its own");
    }
    if let Some(a) = arena {
        budget::publish_arena(id, n, a);
    }
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.id = id;
        s.n = n;
        s.arena = arena;
    });
}

/// What happened when a shard tried to get under its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Out of time: the background task goes on.
    Running,
    /// Nothing (more) can be evicted.
    Fail,
}

/// Redis's performEvictions before a command: None to run it, or the OOM error for a `denyoom`
/// command that cannot get room.
#[inline]
pub fn before_command(shard: &Shard, spec: &CommandSpec) -> Option<Reply> {
    if shard.config.borrow().maxmemory == 0 || shard.oom_exempt.get() {
        return None;
    }
    match perform(shard, COMMAND_LIMIT) {
        Outcome::Fail if spec.has_flag("denyoom") => Some(Reply::err(OOM)),
        _ => None,
    }
}

/// OOM while this shard cannot make room or any shard refuses writes. Redis refuses this way
/// every command queued inside MULTI (the transaction is then discarded at EXEC), and a script
/// whose shebang does not allow it, whatever the script would do.
pub fn refuses_any_write(shard: &Shard) -> Option<Reply> {
    if shard.config.borrow().maxmemory == 0 {
        return None;
    }
    let fail = matches!(perform(shard, COMMAND_LIMIT), Outcome::Fail) || budget::refusing(shard.n);
    fail.then(|| Reply::err(OOM))
}

/// A `denyoom` command whose keys span shards: refused while any shard cannot make room (the
/// shards' own checks run at their next command or tick).
pub fn before_spread(shard: &Shard, spec: &CommandSpec) -> Option<Reply> {
    if shard.config.borrow().maxmemory == 0 || !spec.has_flag("denyoom") {
        return None;
    }
    budget::refusing(shard.n).then(|| Reply::err(OOM))
}

/// Evict until this shard is under its budget, for at most `limit`.
pub fn perform(shard: &Shard, limit: Duration) -> Outcome {
    let (maxmemory, policy, samples, decay) = {
        let c = shard.config.borrow();
        (
            c.maxmemory,
            c.maxmemory_policy,
            c.maxmemory_samples.max(1) as usize,
            c.lfu_decay_time,
        )
    };
    if maxmemory == 0 {
        return Outcome::Ok;
    }
    STATE.with(|s| {
        let mut st = s.borrow_mut();
        let unc = uncounted(shard);
        let near = st.used(unc) + st.budget / 32 > st.budget;
        // Also when the figure is old, whatever it says: a shard kept busy by forwarded writes
        // may see no cron tick for a while, and its thread's count since the last one goes down
        // by every buffer it frees for another shard's thread, so it would look far under its
        // budget (release builds filling 8 MB through one connection: three shards of four
        // read as empty, and the fourth evicted everything and refused writes).
        if (near && st.stale(NEAR_REFRESH)) || st.stale(MAX_AGE) {
            st.refresh(maxmemory, unc);
        }
        if !st.over(unc) {
            budget::set_oom(st.id, st.n, false);
            return Outcome::Ok;
        }
        if policy == Policy::NoEviction {
            budget::set_oom(st.id, st.n, true);
            return Outcome::Fail;
        }
        let start = Instant::now();
        let now = crate::util::now_ms();
        let mut store = shard.store.borrow_mut();
        let mut evicted = 0u32;
        // Each eviction logs a DEL: the AOF buffer it grows is not counted either.
        let unc_now = |store: &ShardStore| uncounted_in(store, shard);
        while st.over(unc_now(&store)) {
            let State { pool, next_db, .. } = &mut *st;
            let Some((db, key)) = pick_victim(&store, policy, samples, decay, now, pool, next_db)
            else {
                // Nothing to evict: what the emptied tables still hold can go.
                if store
                    .dbs
                    .iter_mut()
                    .fold(false, |any, d| d.shrink_if_sparse() | any)
                    && !st.over(unc_now(&store))
                {
                    return Outcome::Ok;
                }
                // The other shards evict for this one (see budget.rs) unless none can; then
                // writes are refused while the server as a whole is over the limit.
                budget::set_drained(st.id, st.n, true);
                // Starved, nothing anyone evicts can help: refuse now (and across shards)
                // rather than wait for the others to drain too.
                if st.starved {
                    budget::set_oom(st.id, st.n, true);
                    return Outcome::Fail;
                }
                return if budget::all_drained(st.n) && over_limit(maxmemory) {
                    Outcome::Fail
                } else {
                    Outcome::Ok
                };
            };
            budget::set_drained(st.id, st.n, false);
            evict_key(&mut store, db, &key);
            evicted += 1;
            if evicted.is_multiple_of(16) && start.elapsed() >= limit {
                if let Some(w) = &st.wake {
                    w.signal(1);
                }
                return Outcome::Running;
            }
        }
        budget::set_oom(st.id, st.n, false);
        Outcome::Ok
    })
}

/// Whether the whole server is over `maxmemory` right now (fresh figures).
fn over_limit(maxmemory: u64) -> bool {
    alloc::refresh();
    alloc::totals()
        .allocated
        .saturating_sub(budget::uncounted())
        > maxmemory
}

/// This shard's memory that maxmemory leaves out: its AOF buffers (the feed waiting for the
/// writer, the writer's own).
fn uncounted(shard: &Shard) -> u64 {
    uncounted_in(&shard.store.borrow(), shard)
}

/// `uncounted` while the store is borrowed.
fn uncounted_in(store: &ShardStore, shard: &Shard) -> u64 {
    store.feed.buf.capacity() as u64 + shard.aof.borrow().buffer_bytes
}

/// Delete an evicted key: logged as DEL (as Redis propagates evictions), counted, reported.
fn evict_key(store: &mut ShardStore, db: usize, key: &[u8]) {
    if store.dbs[db].remove(key).is_some() {
        store.feed.record(db, &[b"DEL", key]);
        store.stats.evicted_keys += 1;
        // Redis's notifyKeyspaceEvent(NOTIFY_EVICTED, "evicted", key, db): published after the
        // command that evicted (or by the background task below).
        store.notify(db, crate::store::notify::Class::EVICTED, "evicted", key);
    }
}

/// The best victim for `policy`, or None if the policy has nothing to evict.
pub fn pick_victim(
    store: &ShardStore,
    policy: Policy,
    samples: usize,
    decay: u64,
    now_ms: u64,
    pool: &mut Vec<Candidate>,
    next_db: &mut usize,
) -> Option<(usize, Bytes)> {
    let volatile = matches!(
        policy,
        Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl
    );
    let ndb = store.dbs.len();
    if matches!(policy, Policy::AllkeysRandom | Policy::VolatileRandom) {
        for _ in 0..ndb {
            let db = *next_db % ndb;
            *next_db = (db + 1) % ndb;
            let d = &store.dbs[db];
            let key = if volatile {
                d.random_expiring_key()
            } else {
                d.random_key()
            };
            if let Some(k) = key {
                return Some((db, k.to_bytes()));
            }
        }
        return None;
    }
    let score = |e: &crate::store::Entry| -> u64 {
        match policy {
            Policy::AllkeysLfu | Policy::VolatileLfu => {
                255 - value::lfu_counter(e.lru, now_ms, decay) as u64
            }
            Policy::VolatileTtl => u64::MAX - e.expire_at,
            _ => now_ms.saturating_sub(e.lru as u64 * 1000),
        }
    };
    loop {
        let mut candidates = 0;
        for (db, d) in store.dbs.iter().enumerate() {
            let size = if volatile { d.expires_len() } else { d.len() };
            if size == 0 {
                continue;
            }
            candidates += size;
            for _ in 0..samples {
                let key = if volatile {
                    d.random_expiring_key()
                } else {
                    d.random_key()
                };
                let Some(k) = key else { break };
                if let Some(e) = d.get_raw(k) {
                    pool_insert(pool, score(e), db, k);
                }
            }
        }
        if candidates == 0 {
            return None;
        }
        // Best first; a candidate deleted since it was sampled is dropped.
        while let Some(c) = pool.pop() {
            let d = &store.dbs[c.db];
            if d.get_raw(&c.key)
                .is_some_and(|e| !volatile || e.expire_at != 0)
            {
                return Some((c.db, c.key));
            }
        }
    }
}

/// Keep `pool` sorted by score, at most POOL_SIZE entries, the best last.
fn pool_insert(pool: &mut Vec<Candidate>, score: u64, db: usize, key: &[u8]) {
    if pool.len() >= POOL_SIZE && pool.first().is_some_and(|c| score <= c.score) {
        return;
    }
    if pool.iter().any(|c| c.db == db && c.key[..] == *key) {
        return;
    }
    let at = pool.partition_point(|c| c.score < score);
    pool.insert(
        at,
        Candidate {
            score,
            db,
            key: Bytes::copy_from_slice(key),
        },
    );
    if pool.len() > POOL_SIZE {
        pool.remove(0);
    }
}

/// The shard's memory task (in the cron's low-priority queue): once per cron period it
/// refreshes the shard's figure and budget; whenever the shard is over budget it evicts a
/// slice at a time, yielding to requests in between.
pub async fn background(shard: Rc<Shard>) {
    let wake = Rc::new(glommio::sync::Semaphore::new(0));
    STATE.with(|s| s.borrow_mut().wake = Some(wake.clone()));
    let mut first = true;
    loop {
        let hz = shard.config.borrow().hz.clamp(1, 500);
        let period = Duration::from_millis(1000 / hz);
        {
            use futures::FutureExt;
            let tick = glommio::timer::sleep(period).fuse();
            let woken = wake.acquire(1).fuse();
            futures::pin_mut!(tick, woken);
            futures::select! {
                _ = tick => {},
                _ = woken => {},
            }
        }
        if shard
            .global
            .shutdown
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return;
        }
        for d in shard.store.borrow_mut().dbs.iter_mut() {
            d.rehash_step(1024);
            d.shrink_if_sparse();
        }
        let maxmemory = shard.config.borrow().maxmemory;
        let aof = uncounted(&shard);
        STATE.with(|s| s.borrow_mut().refresh(maxmemory, aof));
        if std::mem::take(&mut first) && shard.id == 0 {
            super::note_startup(alloc::totals().allocated);
        }
        if maxmemory == 0 {
            budget::set_oom(shard.id, shard.n, false);
            continue;
        }
        loop {
            let outcome = perform(&shard, SLICE);
            // Evicting a stream may end an XREADGROUP's wait, as expiry does; `evicted`
            // keyspace events go out.
            crate::shard::blocking::serve_ready(&shard);
            crate::shard::pubsub::flush_events(&shard);
            if outcome != Outcome::Running {
                break;
            }
            glommio::executor().yield_now().await;
        }
    }
}

/// Settings changed (CONFIG SET): drop candidates scored under the old policy and look again
/// now, so that a lower `maxmemory` is evicted down without waiting for a command.
pub fn config_changed() {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.pool.clear();
        s.refreshed = None;
        budget::set_oom(s.id, s.n, false);
        budget::set_drained(s.id, s.n, false);
        if let Some(w) = &s.wake {
            w.signal(1);
        }
    });
}

/// After CONFIG SET, on every shard before the reply: evict down to a lowered `maxmemory` now,
/// for as long as one command may (the background task does the rest), as Redis's
/// updateMaxmemory runs performEvictions at once.
pub fn config_applied(shard: &Rc<Shard>) {
    if shard.config.borrow().maxmemory == 0 {
        return;
    }
    perform(shard, COMMAND_LIMIT);
    crate::shard::blocking::serve_ready(shard);
    crate::shard::pubsub::flush_events(shard);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Entry, Value};

    fn store_with(keys: &[(&str, u32, u64)]) -> ShardStore {
        let mut st = ShardStore::new(2);
        for (i, (k, lru, ttl)) in keys.iter().enumerate() {
            let mut e = Entry::new_at(Value::str(b"v"), 0);
            e.lru = *lru;
            e.expire_at = *ttl;
            st.dbs[i % 2].insert(k.as_bytes(), e);
        }
        st
    }

    fn victims(st: &mut ShardStore, policy: Policy, now: u64) -> Vec<String> {
        let (mut pool, mut next) = (Vec::new(), 0);
        let mut out = vec![];
        while let Some((db, k)) = pick_victim(st, policy, 64, 1, now, &mut pool, &mut next) {
            st.dbs[db].remove(&k);
            out.push(String::from_utf8_lossy(&k).into_owned());
        }
        out
    }

    #[test]
    fn volatile_policies_leave_persistent_keys_alone() {
        for p in [
            Policy::VolatileLru,
            Policy::VolatileLfu,
            Policy::VolatileRandom,
            Policy::VolatileTtl,
        ] {
            let mut st =
                store_with(&[("p1", 1, 0), ("v1", 1, 5000), ("p2", 1, 0), ("v2", 1, 9000)]);
            let mut got = victims(&mut st, p, 1_000_000);
            got.sort();
            assert_eq!(got, ["v1", "v2"], "{p:?}");
        }
    }

    #[test]
    fn ttl_evicts_the_nearest_expiry_first() {
        let mut st = store_with(&[
            ("c", 1, 3000),
            ("a", 1, 1000),
            ("d", 1, 4000),
            ("b", 1, 2000),
        ]);
        assert_eq!(
            victims(&mut st, Policy::VolatileTtl, 0),
            ["a", "b", "c", "d"]
        );
    }

    #[test]
    fn lru_evicts_the_longest_idle_first() {
        let mut st = store_with(&[("new", 900, 0), ("old", 100, 0), ("mid", 500, 0)]);
        assert_eq!(
            victims(&mut st, Policy::AllkeysLru, 1_000_000),
            ["old", "mid", "new"]
        );
    }

    #[test]
    fn lfu_evicts_the_least_used_first() {
        // (minutes << 8) | counter, all accessed at minute 0.
        let mut st = store_with(&[("hot", 200, 0), ("cold", 1, 0), ("warm", 50, 0)]);
        assert_eq!(
            victims(&mut st, Policy::AllkeysLfu, 0),
            ["cold", "warm", "hot"]
        );
    }

    #[test]
    fn pool_keeps_the_best_sixteen() {
        let mut pool = Vec::new();
        for i in 0..100u64 {
            pool_insert(&mut pool, i, 0, format!("k{i}").as_bytes());
        }
        assert_eq!(pool.len(), POOL_SIZE);
        assert_eq!(pool.last().map(|c| c.score), Some(99));
        assert_eq!(pool.first().map(|c| c.score), Some(84));
    }
}
