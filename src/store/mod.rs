//! A shard's keyspace: its slice of every database, and the context handlers run in.

pub mod db;
pub mod digest;
pub mod dump;
pub mod fresh;
pub mod hash;
pub mod hll;
pub mod key;
pub mod list;
pub mod listnode;
pub mod notify;
pub mod pack;
pub mod prefetch;
pub mod quicklist;
pub mod recent;
pub mod set;
pub mod stream;
pub mod string;
pub mod table;
pub mod ttl;
pub mod value;
pub mod watch;
pub mod zpack;
pub mod zset;
pub mod ztree;

/// Elements per command when a collection is rebuilt as commands (Redis's
/// AOF_REWRITE_ITEMS_PER_CMD).
pub const AOF_REWRITE_ITEMS_PER_CMD: usize = 64;

use crate::persistence::feed::Feed;
use crate::protocol::reply::Reply;
use bytes::Bytes;
pub use db::Db;
pub use value::{Entry, Value};

/// Keyspace counters reported by INFO stats.
#[derive(Default, Clone, Debug)]
pub struct KeyStats {
    pub expired_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_time_cap_reached_count: u64,
    /// Keys deleted to stay under `maxmemory`.
    pub evicted_keys: u64,
}

/// Settings a handler needs from the config, copied into each shard.
#[derive(Clone, Debug)]
pub struct StoreLimits {
    pub proto_max_bulk_len: u64,
    /// An LFU maxmemory policy is set: the access field holds an LFU counter, not a clock.
    pub lfu: bool,
    /// Redis shares the small integers unless maxmemory is set with an LRU/LFU policy (each
    /// key then needs its own access field): OBJECT REFCOUNT shows it.
    pub shared_integers: bool,
    pub lfu_log_factor: u64,
    pub lfu_decay_time: u64,
    /// `hash-max-listpack-entries` / `hash-max-listpack-value`.
    pub hash: hash::HashLimits,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: usize,
    /// `list-max-listpack-size` (> 0 entries per node, -1..-5 node bytes 4 KB..64 KB).
    pub list_max_listpack_size: i64,
    /// zset-max-listpack-entries / zset-max-listpack-value.
    pub zset_pack: zset::PackLimits,
    /// `hll-sparse-max-bytes`: a sparse HyperLogLog longer than this turns dense.
    pub hll_sparse_max_bytes: usize,
    /// `stream-node-max-bytes` / `stream-node-max-entries`.
    pub stream_node: stream::NodeLimits,
    /// `notify-keyspace-events` bits (see `notify.rs`).
    pub keyspace_events: u32,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            proto_max_bulk_len: 512 * 1024 * 1024,
            lfu: false,
            shared_integers: true,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            hash: hash::HashLimits {
                entries: 512,
                value: 64,
            },
            set_max_intset_entries: 512,
            list_max_listpack_size: -2,
            zset_pack: zset::PackLimits::default(),
            hll_sparse_max_bytes: 3000,
            stream_node: stream::NodeLimits::default(),
            keyspace_events: 0,
        }
    }
}

impl StoreLimits {
    /// The settings handlers need, from the config.
    pub fn from_config(c: &crate::config::Config) -> StoreLimits {
        use crate::config::MaxmemoryPolicy::{AllkeysLfu, AllkeysLru, VolatileLfu, VolatileLru};
        value::set_lfu(matches!(c.maxmemory_policy, AllkeysLfu | VolatileLfu));
        StoreLimits {
            proto_max_bulk_len: c.proto_max_bulk_len,
            lfu: matches!(c.maxmemory_policy, AllkeysLfu | VolatileLfu),
            shared_integers: c.maxmemory == 0
                || !matches!(
                    c.maxmemory_policy,
                    AllkeysLru | VolatileLru | AllkeysLfu | VolatileLfu
                ),
            lfu_log_factor: c.lfu_log_factor,
            lfu_decay_time: c.lfu_decay_time,
            hash: hash::HashLimits {
                entries: usize::try_from(c.hash_max_listpack_entries).unwrap_or(usize::MAX),
                value: usize::try_from(c.hash_max_listpack_value).unwrap_or(usize::MAX),
            },
            set_max_intset_entries: usize::try_from(c.set_max_intset_entries).unwrap_or(usize::MAX),
            list_max_listpack_size: c.list_max_listpack_size,
            zset_pack: zset::PackLimits {
                entries: c.zset_max_listpack_entries as usize,
                value: c.zset_max_listpack_value as usize,
            },
            hll_sparse_max_bytes: usize::try_from(c.hll_sparse_max_bytes).unwrap_or(usize::MAX),
            stream_node: stream::NodeLimits {
                max_bytes: c.stream_node_max_bytes,
                max_entries: c.stream_node_max_entries,
            },
            keyspace_events: c.notify_keyspace_events.0,
        }
    }
}

pub struct ShardStore {
    pub dbs: Vec<Db>,
    pub stats: KeyStats,
    /// Writes since start: commands compare it before and after to see whether they wrote.
    pub dirty: u64,
    /// `dirty` when SAVE last made this shard's writes durable (INFO
    /// rdb_changes_since_last_save counts from there).
    pub saved_dirty: u64,
    pub limits: StoreLimits,
    /// This shard's pending AOF records.
    pub feed: crate::persistence::feed::Feed,
    /// Keys clients WATCH here.
    pub watch: watch::Watches,
    /// A key the running command may write by its key specs but left as it was while it
    /// changed others (SMOVE of a member the destination already holds): not touched for
    /// WATCH (Shard::exec takes it).
    pub untouched: Option<Bytes>,
    /// Keyspace notifications not yet published (see `notify.rs`).
    pub events: Vec<notify::Event>,
}

impl ShardStore {
    /// Database `db`, if its lookups miss the caches enough to be worth prefetching
    /// (`Db::worth_prefetching`).
    #[inline]
    pub fn prefetchable(&self, db: usize) -> Option<&Db> {
        self.dbs.get(db).filter(|db| db.worth_prefetching())
    }

    pub fn new(databases: usize) -> ShardStore {
        ShardStore {
            dbs: (0..databases.max(1)).map(|_| Db::new()).collect(),
            stats: KeyStats::default(),
            dirty: 0,
            saved_dirty: 0,
            untouched: None,
            limits: StoreLimits::default(),
            feed: Default::default(),
            watch: Default::default(),
            events: Vec::new(),
        }
    }

    /// SWAPDB on this shard: the data of `x` and `y` trade places, the clients blocked on keys
    /// stay with their database index (as in Redis), and keys they wait for that now exist are
    /// marked ready for the blocking registry.
    pub fn swap_dbs(&mut self, x: usize, y: usize) {
        if x == y {
            return;
        }
        let now = crate::util::now_ms();
        self.watch
            .touch_live_in(x, &self.dbs[x], Some(&self.dbs[y]), now);
        self.watch
            .touch_live_in(y, &self.dbs[y], Some(&self.dbs[x]), now);
        self.dbs.swap(x, y);
        let (lo, hi) = (x.min(y), x.max(y));
        let (a, b) = self.dbs.split_at_mut(hi);
        let (a, b) = (&mut a[lo], &mut b[0]);
        std::mem::swap(&mut a.watched, &mut b.watched);
        std::mem::swap(&mut a.ready, &mut b.ready);
        std::mem::swap(&mut a.watched_gone, &mut b.watched_gone);
        for d in [a, b] {
            // Waiters that hear of removals look whatever is there now.
            let found: Vec<Bytes> = d
                .watched
                .iter()
                .filter(|k| d.get_raw(k).is_some() || d.watched_gone.contains(*k))
                .cloned()
                .collect();
            for k in found {
                d.signal_ready(&k);
            }
        }
    }

    /// FLUSHDB (`Some(db)`) or FLUSHALL (`None`) on this shard: watched keys that held live
    /// values are touched first.
    pub fn flush(&mut self, db: Option<usize>) {
        let now = crate::util::now_ms();
        let range = match db {
            Some(d) => d..d + 1,
            None => 0..self.dbs.len(),
        };
        for d in range {
            self.watch.touch_live_in(d, &self.dbs[d], None, now);
            self.dbs[d].clear();
        }
    }

    pub fn ctx(&mut self, db: usize) -> Ctx<'_> {
        self.ctx_at(db, crate::util::now_ms())
    }

    /// Run one command's handler and log it to the AOF: as sent if it is a write that changed
    /// something and logged no effects of its own.
    #[inline]
    pub fn run_logged(
        &mut self,
        db: usize,
        now: u64,
        write: bool,
        handler: crate::commands::Handler,
        args: &[Bytes],
    ) -> Reply {
        let dirty = self.dirty;
        self.feed.explicit = false;
        // Keyspace notifications (when on) need to know which keys were there before.
        let notify = write && self.limits.keyspace_events != 0;
        let keys = if notify {
            notify::keys_before(self, db, now, args)
        } else {
            Vec::new()
        };
        let reply = handler(&mut self.ctx_at(db, now), args);
        if notify {
            notify::command_events(self, db, args, &keys, self.dirty != dirty);
        }
        if self.feed.on && write && self.dirty != dirty && !self.feed.explicit {
            self.feed.record(db, args);
        }
        reply
    }

    /// A context whose clock the caller read (once for a whole batch of commands).
    #[inline]
    pub fn ctx_at(&mut self, db: usize, now: u64) -> Ctx<'_> {
        Ctx {
            store: self,
            db,
            now,
        }
    }
}

/// The live entry at `key`, with one hash lookup: an expired one is deleted on the way (lazy
/// expiry) and reads as absent.
#[inline]
fn live<'d>(
    db: &'d mut Db,
    stats: &mut KeyStats,
    dirty: &mut u64,
    feed: &mut Feed,
    (events, flags): (&mut Vec<notify::Event>, u32),
    (dbi, key): (usize, &[u8]),
    now: u64,
) -> Option<&'d mut Entry> {
    let idx = db.index_of(key)?;
    let expire_at = db.at_mut(idx)?.expire_at;
    if expire_at != 0 && expire_at <= now {
        db.remove_at(idx);
        stats.expired_keys += 1;
        *dirty += 1;
        feed.record(dbi, &[b"DEL", key]);
        notify::queue(events, flags, notify::Class::EXPIRED, "expired", dbi, key);
        return None;
    }
    db.at_mut(idx)
}

/// Record an access on an entry: the LRU clock, or the LFU counter under an LFU policy.
#[inline]
fn touch(limits: &StoreLimits, now: u64, e: &mut Entry) {
    e.lru = touched(limits, now, e.lru);
}

/// The access field of a key being overwritten by a SET, whose `old` entry (expired or not) may
/// be there. Redis's SET looks the key up for writing (an access) and its dbOverwrite keeps the
/// old LFU counter: a hot key written again stays hot. A fresh key starts at LFU_INIT_VAL.
/// (Under LRU the new entry's clock is now, as Redis's is.)
#[inline]
fn overwrite_lru(limits: &StoreLimits, now: u64, old: Option<&Entry>) -> u32 {
    if !limits.lfu {
        return Entry::fresh_lru(now);
    }
    match old.filter(|o| o.expire_at == 0 || o.expire_at > now) {
        Some(o) => touched(limits, now, o.lru),
        None => value::lfu_new(now),
    }
}

/// An entry's access field after an access.
#[inline]
fn touched(limits: &StoreLimits, now: u64, field: u32) -> u32 {
    if limits.lfu {
        value::lfu_access(field, now, limits.lfu_log_factor, limits.lfu_decay_time)
    } else {
        (now / 1000) as u32
    }
}

/// What a synchronous handler runs against: one shard's store, the client's database, and the
/// command's clock (fixed for the whole command, as Redis caches `mstime` per command).
pub struct Ctx<'a> {
    pub store: &'a mut ShardStore,
    pub db: usize,
    pub now: u64,
}

impl Ctx<'_> {
    #[inline]
    pub fn db(&mut self) -> &mut Db {
        &mut self.store.dbs[self.db]
    }

    /// Start loading where the keys `args[0]`, `args[step]` … live before a loop looks them up
    /// one by one (MSET, MGET, DEL …): their cache misses overlap instead of queueing. Nothing
    /// for a single key, which would only be hashed and probed twice.
    pub fn prefetch(&mut self, args: &[Bytes], step: usize) {
        let db = &self.store.dbs[self.db];
        if args.len() <= step || !db.worth_prefetching() {
            return;
        }
        let mut ahead: prefetch::Prefetch = Default::default();
        for k in args.iter().step_by(step.max(1)) {
            ahead.key(db, k);
        }
        ahead.finish();
    }

    /// Delete the key if its TTL has passed. Returns true if it was deleted.
    #[inline]
    pub fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        let now = self.now;
        let db = &mut self.store.dbs[self.db];
        if db.is_expired(key, now) {
            db.remove(key);
            self.store.stats.expired_keys += 1;
            self.store.dirty += 1;
            self.store.feed.record(self.db, &[b"DEL", key]);
            self.notify(notify::Class::EXPIRED, "expired", key);
            true
        } else {
            false
        }
    }

    /// Look a key up for writing (Redis's lookupKeyWrite): expires it if due, touches it, no
    /// hit/miss accounting.
    #[inline]
    pub fn lookup(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.find(key, false, true)
    }

    /// Look a key up for reading: counts a hit or miss and touches it.
    #[inline]
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.find(key, true, true)
    }

    /// A read that leaves the access clock alone (EXISTS, TYPE, TTL, OBJECT): expires the key
    /// if due and counts a hit or miss.
    pub fn lookup_notouch(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.find(key, true, false)
    }

    /// The one lookup behind the three above (one hash probe; lazy expiry on the way).
    #[inline(always)]
    fn find(&mut self, key: &[u8], count: bool, touch_it: bool) -> Option<&mut Entry> {
        let ShardStore {
            dbs,
            stats,
            dirty,
            limits,
            feed,
            events,
            ..
        } = &mut *self.store;
        let found = live(
            &mut dbs[self.db],
            stats,
            dirty,
            feed,
            (events, limits.keyspace_events),
            (self.db, key),
            self.now,
        );
        if count {
            if found.is_some() {
                stats.keyspace_hits += 1;
            } else {
                stats.keyspace_misses += 1;
            }
        }
        let e = found?;
        if touch_it {
            touch(limits, self.now, e);
        }
        Some(e)
    }

    /// `key` changed in place in a way that may serve clients blocked on it (Redis's
    /// signalKeyAsReady: XADD to an existing stream, XGROUP DESTROY).
    #[inline]
    pub fn signal_ready(&mut self, key: &[u8]) {
        self.store.dbs[self.db].signal_ready(key);
    }

    /// Whether writes are being logged: a handler that logs its own effects can skip building
    /// them when not.
    #[inline]
    pub fn feeding(&self) -> bool {
        self.store.feed.on
    }

    /// Log `args` as (one of) the effects of the running command, in place of the command as
    /// sent: for commands whose effect depends on the clock or on chance (relative expiries,
    /// INCRBYFLOAT, SPOP …). Call it once per effect, in order.
    pub fn propagate<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        self.store.feed.explicit = true;
        self.store.feed.record(self.db, args);
    }

    /// The running command changed nothing worth logging, whatever `dirty` says.
    pub fn propagate_nothing(&mut self) {
        self.store.feed.explicit = true;
    }

    /// The value at `key` as the type `as_type` picks, for writing: Ok(None) if absent,
    /// WRONGTYPE if it holds another type. The one lookup behind each family's accessor.
    pub fn write_as<T: ?Sized>(
        &mut self,
        key: &[u8],
        as_type: fn(&mut Value) -> Option<&mut T>,
    ) -> Result<Option<&mut T>, Reply> {
        match self.lookup(key) {
            None => Ok(None),
            Some(e) => as_type(&mut e.value).map(Some).ok_or_else(Reply::wrongtype),
        }
    }

    /// The value a handler just stored at `key` (with `set`), as the type `as_type` picks,
    /// without counting an access: Redis's new objects start at LFU_INIT_VAL.
    pub fn created_as<T: ?Sized>(
        &mut self,
        key: &[u8],
        as_type: fn(&mut Value) -> Option<&mut T>,
    ) -> Result<&mut T, Reply> {
        let e = self.store.dbs[self.db]
            .get_raw_mut(key)
            .ok_or_else(|| Reply::err("ERR internal error"))?;
        as_type(&mut e.value).ok_or_else(Reply::wrongtype)
    }

    /// As `write_as`, for reading (counts a hit or miss).
    pub fn read_as<T: ?Sized>(
        &mut self,
        key: &[u8],
        as_type: fn(&mut Value) -> Option<&mut T>,
    ) -> Result<Option<&mut T>, Reply> {
        match self.lookup_read(key) {
            None => Ok(None),
            Some(e) => as_type(&mut e.value).map(Some).ok_or_else(Reply::wrongtype),
        }
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.lookup(key).is_some()
    }

    /// The string at `key` for reading: Ok(None) if absent, Err(WRONGTYPE) for another type.
    #[inline]
    pub fn str_at(&mut self, key: &[u8]) -> Result<Option<&string::Str>, Reply> {
        match self.lookup_read(key) {
            None => Ok(None),
            Some(e) => match &e.value {
                Value::Str(b) => Ok(Some(b)),
                #[allow(unreachable_patterns)]
                _ => Err(Reply::wrongtype()),
            },
        }
    }

    /// `str_at`, as an owned copy (or share: `Str::to_bytes`).
    #[inline]
    pub fn get_str(&mut self, key: &[u8]) -> Result<Option<Bytes>, Reply> {
        Ok(self.str_at(key)?.map(string::Str::to_bytes))
    }

    /// Store `value` at `key` with an absolute expiry (0 = none), replacing what was there.
    #[inline]
    pub fn set(&mut self, key: &[u8], value: Value, expire_at: u64) {
        let mut e = Entry::new_at(value, self.now);
        e.expire_at = expire_at;
        if self.store.limits.lfu {
            let old = self.store.dbs[self.db].get_raw(key);
            e.lru = overwrite_lru(&self.store.limits, self.now, old);
        }
        let created = self.store.dbs[self.db].insert(key, e).is_none();
        self.store.dirty += 1;
        if created {
            self.notify(notify::Class::NEW, "new", key);
        }
    }

    /// `set` of a string value: the bytes go straight into the key's slot (`Db::insert_str`).
    #[inline]
    pub fn set_str(&mut self, key: &[u8], val: &[u8], expire_at: u64) {
        let (now, limits) = (self.now, &self.store.limits);
        let created = self.store.dbs[self.db]
            .insert_str(key, val, expire_at, |old| overwrite_lru(limits, now, old));
        self.store.dirty += 1;
        if created {
            self.notify(notify::Class::NEW, "new", key);
        }
    }

    /// `set_str`, keeping the key's TTL (SET … KEEPTTL).
    pub fn set_str_keep_ttl(&mut self, key: &[u8], val: &[u8]) {
        let ttl = self.lookup(key).map_or(0, |e| e.expire_at);
        self.set_str(key, val, ttl);
    }

    /// Delete a key (if live). Returns true if it existed.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        self.expire_if_needed(key);
        let gone = self.store.dbs[self.db].remove(key).is_some();
        if gone {
            self.store.dirty += 1;
        }
        gone
    }
}
