//! One database's slice of the keyspace on one shard.
//!
//! Keys live in an insertion-ordered hash table (`Table`, in table.rs), which gives O(1) lookup, O(1)
//! uniform random sampling (RANDOMKEY, active expiry, later eviction) and a cheap stateless
//! SCAN cursor. Removal is `swap_remove`, which moves the last entry into the hole, so SCAN walks
//! positions from the end towards 0: a moved entry always comes from the visited tail into an
//! earlier slot (seen again at worst), and entries not yet visited never move, so every key that
//! exists for the whole scan is returned, as Redis guarantees.

use super::key::Key;
use super::table;
use super::ttl::Ttls;
use super::value::{Entry, Str, Value};

#[derive(Default)]
pub struct Db {
    map: Table,
    /// Keys that carry a TTL, sampled by the active expiry cycle.
    ttls: Ttls,
    /// Flips when a snapshot starts; entries whose mark differs are not in it yet.
    gen: bool,
    /// The running snapshot (AOF rewrite), if any.
    snap: Option<Box<Snap>>,
    /// Keys that clients are blocked on (BLPOP …), kept by the shard's blocking registry, and
    /// those of them (re)created since the registry last looked: a blocked client can only be
    /// served once its key is created (an empty list or sorted set does not exist), so
    /// `insert` is the one place to notice it. They belong to the database index, not to its
    /// data (SWAPDB leaves them in place, see `ShardStore::swap_dbs`).
    pub watched: ahash::AHashSet<bytes::Bytes>,
    pub ready: Vec<bytes::Bytes>,
    /// The watched keys whose removal serves a waiter too (XREADGROUP, told that its stream or
    /// group went away: Redis's signalDeletedKeyAsReady): `remove`, `remove_at` and `clear`
    /// mark them ready.
    pub watched_gone: ahash::AHashSet<bytes::Bytes>,
    /// Streams deleted or replaced lately (see `GoneStreams`).
    pub gone_streams: super::stream::GoneStreams,
    /// Lists and sorted sets created lately, while blocking commands are about (see
    /// `FreshKeys`).
    pub fresh: super::fresh::FreshKeys,
}

/// A point-in-time copy of a database being taken without stopping it (no fork): a walker
/// serializes entries a slice at a time, and any entry about to change or go away before the
/// walker reached it is serialized first, as it was. The walk goes from the last position
/// down: removal moves the last entry into the hole (already walked, or new and so not part
/// of the snapshot) and insertion appends past the walker, so it misses nothing that existed
/// when the snapshot began.
pub struct Snap {
    /// Positions below this are still to walk.
    cursor: usize,
    /// Serialized commands not yet taken by the writer.
    pub out: Vec<u8>,
    /// Maps emptied by FLUSHDB/FLUSHALL during the snapshot, still to walk.
    detached: Vec<Table>,
    /// The database index when the snapshot began (SWAPDB moves databases, not snapshots).
    pub index: usize,
}

/// Keys below which a database is not prefetched (`worth_prefetching`): 16 Ki slots of ~100
/// bytes and their index fit a core's L2 (4 MiB here, 1–2 MiB on most server parts).
const PREFETCH_MIN_KEYS: usize = 1 << 14;

/// The keyspace's table: keys and their entries.
type Table = table::Table<(Key, Entry)>;

/// Serialize an entry into a snapshot's output.
#[inline(never)]
fn snap_emit(out: &mut Vec<u8>, key: &Key, e: &Entry) {
    crate::persistence::rewrite::emit_entry(key.as_bytes(), e, &mut |args| {
        crate::persistence::feed::encode(out, args)
    });
}

impl Db {
    pub fn new() -> Db {
        Db::default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn expires_len(&self) -> usize {
        self.ttls.len()
    }

    /// The entry, expired or not (callers check expiry through `Ctx`).
    #[inline]
    pub fn get_raw(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key).map(|(_, e)| e)
    }

    #[inline]
    pub fn get_raw_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.before_change_key(key);
        self.map.get_mut(key).map(|(_, e)| e)
    }

    /// Snapshot hook: the entry at `idx` is about to change or go; serialize it first if the
    /// running snapshot does not hold it yet.
    #[inline]
    fn before_change(&mut self, idx: usize) {
        if let Some(s) = self.snap.as_deref_mut() {
            if let Some((k, e)) = self.map.get_index_mut(idx) {
                if e.snap != self.gen {
                    snap_emit(&mut s.out, k, e);
                    e.snap = self.gen;
                }
            }
        }
    }

    #[inline]
    fn before_change_key(&mut self, key: &[u8]) {
        if self.snap.is_some() {
            if let Some(i) = self.map.get_index_of(key) {
                self.before_change(i);
            }
        }
    }

    /// Begin a snapshot of this database, known to the writer as database `index`.
    pub fn snapshot_start(&mut self, index: usize) {
        self.gen = !self.gen;
        self.snap = Some(Box::new(Snap {
            cursor: self.map.len(),
            out: Vec::new(),
            detached: Vec::new(),
            index,
        }));
    }

    /// Walk up to `budget` entries. Returns true when the snapshot holds everything.
    pub fn snapshot_step(&mut self, budget: usize) -> bool {
        let gen = self.gen;
        let Some(s) = self.snap.as_deref_mut() else {
            return true;
        };
        let mut n = 0;
        while n < budget {
            let Some(m) = s.detached.last_mut() else {
                break;
            };
            match m.pop() {
                Some((k, e)) => {
                    if e.snap != gen {
                        snap_emit(&mut s.out, &k, &e);
                    }
                    n += 1;
                }
                None => {
                    s.detached.pop();
                }
            }
        }
        s.cursor = s.cursor.min(self.map.len());
        while n < budget && s.cursor > 0 {
            s.cursor -= 1;
            if let Some((k, e)) = self.map.get_index_mut(s.cursor) {
                if e.snap != gen {
                    snap_emit(&mut s.out, k, e);
                    e.snap = gen;
                }
            }
            n += 1;
        }
        s.cursor == 0 && s.detached.is_empty()
    }

    /// The snapshot's output so far, and its database index.
    pub fn snapshot_take(&mut self) -> Option<(usize, Vec<u8>)> {
        let s = self.snap.as_deref_mut()?;
        Some((s.index, std::mem::take(&mut s.out)))
    }

    pub fn snapshot_active(&self) -> bool {
        self.snap.is_some()
    }

    /// Drop the snapshot (after its last output was taken).
    pub fn snapshot_end(&mut self) {
        self.snap = None;
    }

    /// Position of a key, for a lookup that then reads or removes without hashing again.
    #[inline]
    pub fn index_of(&self, key: &[u8]) -> Option<usize> {
        self.map.get_index_of(key)
    }

    #[inline]
    pub fn at_mut(&mut self, idx: usize) -> Option<&mut Entry> {
        self.before_change(idx);
        self.map.get_index_mut(idx).map(|(_, e)| e)
    }

    /// Remove the entry at a position from `index_of`.
    pub fn remove_at(&mut self, idx: usize) -> Option<Entry> {
        self.before_change(idx);
        let (k, e) = self.take_at(idx)?;
        self.removed(k.as_bytes());
        if let Value::Stream(s) = &e.value {
            self.gone_streams
                .add(k.as_bytes(), super::stream::Gone::of(s));
        }
        Some(e)
    }

    /// Take the slot at `idx` out of the table and the TTL index. The table fills the hole
    /// with its last slot; the TTL index follows that move.
    fn take_at(&mut self, idx: usize) -> Option<(Key, Entry)> {
        let last = self.map.len().checked_sub(1)?;
        let (k, e) = self.map.swap_remove_index(idx)?;
        if e.expire_at != 0 {
            self.ttls.remove(idx);
        }
        if idx != last
            && self
                .map
                .get_index(idx)
                .is_some_and(|(_, m)| m.expire_at != 0)
        {
            self.ttls.moved(last, idx);
        }
        Some((k, e))
    }

    /// A key was removed: ready for the waiters that want to hear of it.
    #[inline]
    fn removed(&mut self, key: &[u8]) {
        if !self.watched_gone.is_empty() && self.watched_gone.contains(key) {
            self.signal_ready(key);
        }
    }

    /// A watched key changed in place in a way that may serve its waiters (XADD to an existing
    /// stream, XGROUP DESTROY: Redis's signalKeyAsReady); `insert` does this for new keys.
    pub fn signal_ready(&mut self, key: &[u8]) {
        if !self.watched.is_empty()
            && self.watched.contains(key)
            && !self.ready.iter().any(|k| k[..] == *key)
        {
            self.ready.push(bytes::Bytes::copy_from_slice(key));
        }
    }

    #[inline]
    pub fn is_expired(&self, key: &[u8], now: u64) -> bool {
        matches!(self.map.get(key), Some((_, e)) if e.expire_at != 0 && e.expire_at <= now)
    }

    /// Insert or replace. The key bytes are copied so a stored key never pins a network buffer.
    pub fn insert(&mut self, key: &[u8], mut entry: Entry) -> Option<Entry> {
        self.before_write(key);
        // New data is not part of a running snapshot (it is in the log after it).
        entry.snap = self.gen;
        let has_ttl = entry.expire_at != 0;
        let poppable = matches!(entry.value, Value::List(_) | Value::ZSet(_));
        // An existing key keeps its stored key and gets the new entry (one probe either way);
        // a new one is appended with an empty entry first, as the table makes the slot.
        let (idx, created) = self.map.find_or_insert_full(key, || {
            (Key::new(key), Entry::new_at(Value::Str(Str::new()), 0))
        });
        let old = self
            .map
            .get_index_mut(idx)
            .map(|(_, e)| std::mem::replace(e, entry))
            .filter(|_| !created);
        if created && poppable && self.fresh.is_open() {
            self.fresh.add(key);
        }
        if let Some(Entry {
            value: Value::Stream(s),
            ..
        }) = &old
        {
            self.gone_streams.add(key, super::stream::Gone::of(s));
        }
        let had_ttl = old.as_ref().is_some_and(|e| e.expire_at != 0);
        self.ttl_changed(idx, had_ttl, has_ttl);
        old
    }

    /// `insert` of a string value (SET, MSET …), written straight into the key's slot. Building
    /// an `Entry` and moving it in through `Ctx::set` and `insert` copies its 64 bytes from
    /// stack to stack in pieces of other widths, and the loads stalled on store forwarding:
    /// perf put half of `insert`'s and `Ctx::set`'s samples on two such loads (a tenth of a
    /// literal MSET's CPU). `lru` gets the live old entry, if any, and gives the new access field.
    /// Returns true when the key was created.
    pub fn insert_str(
        &mut self,
        key: &[u8],
        val: &[u8],
        expire_at: u64,
        lru: impl FnOnce(Option<&Entry>) -> u32,
    ) -> bool {
        self.before_write(key);
        let (idx, created) = self.map.find_or_insert_full(key, || {
            (Key::new(key), Entry::new_at(Value::Str(Str::new()), 0))
        });
        let Some((_, e)) = self.map.get_index_mut(idx) else {
            return created;
        };
        let old = (!created).then_some(&*e);
        let had_ttl = old.is_some_and(|o| o.expire_at != 0);
        e.lru = lru(old);
        match &mut e.value {
            Value::Str(s) => s.assign(val),
            Value::Stream(s) => {
                self.gone_streams.add(key, super::stream::Gone::of(s));
                e.value = Value::str(val);
            }
            v => *v = Value::str(val),
        }
        e.expire_at = expire_at;
        e.enc = super::value::StrEnc::Auto;
        // New data is not part of a running snapshot (it is in the log after it).
        e.snap = self.gen;
        self.ttl_changed(idx, had_ttl, expire_at != 0);
        created
    }

    /// What every write of a whole key does first: a running snapshot saves the old entry, and
    /// a key that blocked clients wait for is marked ready.
    #[inline]
    fn before_write(&mut self, key: &[u8]) {
        self.before_change_key(key);
        if !self.watched.is_empty() && self.watched.contains(key) {
            self.ready.push(bytes::Bytes::copy_from_slice(key));
        }
    }

    /// Keep the TTL index in step with the entry at `idx` gaining or losing an expiry.
    #[inline]
    fn ttl_changed(&mut self, idx: usize, had_ttl: bool, has_ttl: bool) {
        if has_ttl && !had_ttl {
            self.ttls.insert(idx);
        } else if !has_ttl && had_ttl {
            self.ttls.remove(idx);
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let idx = self.map.get_index_of(key)?;
        self.remove_at(idx)
    }

    /// Set or clear (0) the absolute expiry of an existing key. Returns false if absent.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        self.before_change_key(key);
        let Some(idx) = self.map.get_index_of(key) else {
            return false;
        };
        let Some((_, e)) = self.map.get_index_mut(idx) else {
            return false;
        };
        let had = e.expire_at != 0;
        e.expire_at = at;
        self.ttl_changed(idx, had, at != 0);
        true
    }

    /// Make room for `additional` more keys at once (loading), instead of growing step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Every key and entry, consuming the database.
    pub fn into_entries(self) -> impl Iterator<Item = (Key, Entry)> {
        self.map.into_iter()
    }

    pub fn clear(&mut self) {
        if self.fresh.is_open() {
            // A blocked read of one of these streams may still be on its way from another shard
            // (see recent.rs): it must find the stream gone, as it would had it come first. Only
            // while blocking commands are about (a scan of the table).
            for (k, e) in self.map.iter() {
                if let Value::Stream(st) = &e.value {
                    self.gone_streams
                        .add(k.as_bytes(), super::stream::Gone::of(st));
                }
            }
        }
        if let Some(s) = self.snap.as_deref_mut() {
            // The walker still serializes what the snapshot had not reached.
            s.detached.push(std::mem::take(&mut self.map));
        }
        self.map = Table::default();
        self.ttls = Ttls::default();
        let gone: Vec<bytes::Bytes> = self.watched_gone.iter().cloned().collect();
        for k in gone {
            self.signal_ready(&k);
        }
    }

    /// A uniformly random key (expired ones included; callers filter).
    pub fn random_key(&self) -> Option<&Key> {
        if self.map.is_empty() {
            return None;
        }
        self.map
            .get_index(fastrand::usize(..self.map.len()))
            .map(|(k, _)| k)
    }

    /// Give back the table's memory when it is mostly empty (under a quarter full), as Redis's
    /// cron resizes sparse dicts. Returns whether it did. Positions do not move.
    pub fn shrink_if_sparse(&mut self) -> bool {
        if !self.map.is_sparse() {
            return false;
        }
        self.map.shrink();
        self.ttls.shrink();
        true
    }

    /// The prefetch stages of a lookup of the key whose hash (`key_hash`) is `h`: see
    /// `store::prefetch`.
    #[inline]
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        self.map.hash_of(key)
    }

    /// Whether prefetching this database's keys can pay: a table this small stays in the
    /// caches between requests, and hashing and probing ahead only doubles the work (literal
    /// `redis-benchmark -t mset`, one key: 7% of the CPU in `Ctx::prefetch` and `Prefetch::key`).
    #[inline]
    pub fn worth_prefetching(&self) -> bool {
        self.map.len() >= PREFETCH_MIN_KEYS
    }

    #[inline]
    pub fn prefetch_home(&self, h: u64) {
        self.map.prefetch_home(h);
    }

    #[inline]
    pub fn prefetch_slot(&self, h: u64) -> Option<u32> {
        self.map.prefetch_slot(h)
    }

    /// Prefetch what the value at `candidate` (from `prefetch_slot`, once that slot is likely
    /// in) points to. Not checked to be the key's: a wrong guess costs a useless load.
    #[inline]
    pub fn prefetch_value(&self, candidate: u32) {
        if let Some((_, e)) = self.map.get_index(candidate as usize) {
            e.value.prefetch();
        }
    }

    /// Move some of a growing index's positions along (the cron's share of the incremental
    /// rehash, so that a table that stopped getting writes finishes it too).
    pub fn rehash_step(&mut self, positions: usize) {
        self.map.rehash_step(positions);
    }

    /// A uniformly random key that has a TTL (expired ones included; callers filter).
    pub fn random_expiring_key(&self) -> Option<&Key> {
        self.map.get_index(self.ttls.random()?).map(|(k, _)| k)
    }

    /// One SCAN step: `pos` is 0 to start, else the position returned by the previous step.
    /// Visits up to `count` entries and returns the next position (0 when done).
    pub fn scan(&self, pos: usize, count: usize, mut f: impl FnMut(&Key, &Entry)) -> usize {
        if self.is_empty() {
            return 0;
        }
        let len = self.map.len();
        // Positions are 1-based so that 0 can mean both "start" and "done".
        let mut next = if pos == 0 { len } else { pos.min(len) };
        let mut visited = 0;
        while next > 0 && visited < count {
            if let Some((k, e)) = self.map.get_index(next - 1) {
                f(k, e);
            }
            next -= 1;
            visited += 1;
        }
        next
    }

    /// Iterate over all entries (KEYS, DEBUG, fan-outs).
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.map.iter().map(|(k, e)| (k, e))
    }

    /// Active expiry step: test up to `samples` random keys with a TTL, delete the expired ones
    /// and hand each deleted key to `on_expired`. Returns (sampled, expired).
    pub fn expire_sample(
        &mut self,
        now: u64,
        samples: usize,
        mut on_expired: impl FnMut(&Key),
    ) -> (usize, usize) {
        let mut sampled = 0;
        let mut expired = 0;
        for _ in 0..samples {
            let Some(idx) = self.ttls.random() else {
                break;
            };
            let Some((key, e)) = self.map.get_index(idx) else {
                break;
            };
            sampled += 1;
            if e.expire_at != 0 && e.expire_at <= now {
                let key = key.clone();
                self.remove_at(idx);
                on_expired(&key);
                expired += 1;
            }
        }
        (sampled, expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::value::Value;
    use bytes::Bytes;

    fn e(v: &str, exp: u64) -> Entry {
        let mut e = Entry::new(Value::str(v.as_bytes()));
        e.expire_at = exp;
        e
    }

    #[test]
    fn ttl_index_follows_inserts_and_removes() {
        let mut db = Db::new();
        db.insert(b"a", e("1", 10));
        db.insert(b"b", e("1", 0));
        assert_eq!(db.expires_len(), 1);
        db.insert(b"a", e("2", 0));
        assert_eq!(db.expires_len(), 0);
        db.set_expire(b"b", 5);
        assert_eq!(db.expires_len(), 1);
        db.remove(b"b");
        assert_eq!(db.expires_len(), 0);
        assert_eq!(db.len(), 1);
    }

    #[test]
    fn insert_str_writes_in_place_and_keeps_the_ttl_index() {
        let mut db = Db::new();
        let long = b"a value longer than the thirty-eight bytes kept inline";
        assert!(db.insert_str(b"c", b"short", 7, |old| {
            assert!(old.is_none());
            1
        }));
        assert_eq!(db.expires_len(), 1);
        // Inline over inline, heap over inline, inline over heap; the old entry is offered.
        for (v, exp) in [(&b"x"[..], 9), (&long[..], 0), (&b"yz"[..], 3)] {
            assert!(!db.insert_str(b"c", v, exp, |old| old.map_or(0, |o| o.lru + 1)));
            let e = db
                .get_raw(b"c")
                .cloned()
                .unwrap_or_else(|| Entry::new(Value::str(b"")));
            assert!(matches!(&e.value, Value::Str(s) if s.as_bytes() == v));
            assert_eq!(e.expire_at, exp);
            assert_eq!(db.expires_len(), usize::from(exp != 0));
        }
        assert_eq!(db.get_raw(b"c").map(|e| e.lru), Some(4));
        // Another type is replaced.
        db.insert(b"l", Entry::new(Value::List(Default::default())));
        db.insert_str(b"l", b"now a string", 0, |_| 0);
        assert!(matches!(
            db.get_raw(b"l").map(|e| &e.value),
            Some(Value::Str(_))
        ));
        assert_eq!(db.len(), 2);
    }

    #[test]
    fn scan_sees_every_stable_key_despite_deletes() {
        let mut db = Db::new();
        for i in 0..1000 {
            db.insert(format!("k{i}").as_bytes(), e("v", 0));
        }
        let mut seen = std::collections::HashSet::new();
        let mut pos = 0;
        let mut round = 0;
        loop {
            let mut batch = vec![];
            pos = db.scan(pos, 10, |k, _| batch.push(k.clone()));
            seen.extend(batch);
            // Delete keys that are not part of the stable set (k0..k499 are stable).
            round += 1;
            let victim = format!("k{}", 500 + (round * 7) % 500);
            db.remove(victim.as_bytes());
            if pos == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "missed k{i}");
        }
    }

    #[test]
    fn active_expiry_removes_expired() {
        let mut db = Db::new();
        for i in 0..100 {
            db.insert(format!("k{i}").as_bytes(), e("v", 5));
        }
        let mut n = 0;
        while !db.is_empty() {
            db.expire_sample(10, 20, |_| n += 1);
        }
        assert_eq!(n, 100);
        assert_eq!(db.expires_len(), 0);
    }

    /// What a snapshot's output rebuilds: key → (value, expiry).
    fn replay(out: &[u8]) -> std::collections::BTreeMap<Vec<u8>, (Vec<u8>, u64)> {
        use crate::persistence::segment::{parse_record, Parsed};
        let buf = Bytes::copy_from_slice(out);
        let mut m = std::collections::BTreeMap::new();
        let mut pos = 0;
        while pos < buf.len() {
            match parse_record(&buf, pos) {
                Parsed::Record(a, n) => {
                    match &a[0][..] {
                        b"SET" => {
                            m.insert(a[1].to_vec(), (a[2].to_vec(), 0));
                        }
                        b"PEXPIREAT" => {
                            let at = crate::util::num::parse_i64(&a[2]).unwrap_or(-1) as u64;
                            if let Some(v) = m.get_mut(&a[1][..]) {
                                v.1 = at;
                            }
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                    pos += n;
                }
                p => panic!("bad snapshot output at {pos}: {p:?}"),
            }
        }
        m
    }

    fn state(db: &Db) -> std::collections::BTreeMap<Vec<u8>, (Vec<u8>, u64)> {
        db.iter()
            .map(|(k, e)| {
                let Value::Str(v) = &e.value else {
                    panic!("strings only here")
                };
                (k.as_bytes().to_vec(), (v.to_vec(), e.expire_at))
            })
            .collect()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(u8, u8),
        SetStr(u8, u8),
        Del(u8),
        Expire(u8, u8),
        Touch(u8),
        Step(u8),
        Clear,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (any::<u8>(), any::<u8>()).prop_map(|(k, v)| Op::Set(k % 64, v)),
            3 => (any::<u8>(), any::<u8>()).prop_map(|(k, v)| Op::SetStr(k % 64, v)),
            3 => any::<u8>().prop_map(|k| Op::Del(k % 64)),
            1 => (any::<u8>(), any::<u8>()).prop_map(|(k, t)| Op::Expire(k % 64, t)),
            2 => any::<u8>().prop_map(|k| Op::Touch(k % 64)),
            3 => any::<u8>().prop_map(|n| Op::Step(n % 8)),
            1 => Just(Op::Clear),
        ]
    }

    proptest::proptest! {
        /// Whatever happens to the database while the snapshot is taken, its output rebuilds
        /// exactly the data as it was when the snapshot began.
        #[test]
        fn snapshot_is_point_in_time(
            initial in proptest::collection::vec((0u8..64, proptest::num::u8::ANY), 0..60),
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let mut db = Db::new();
            for (k, v) in &initial {
                db.insert(&[*k], e(&v.to_string(), if v % 3 == 0 { 1000 + *v as u64 } else { 0 }));
            }
            let before = state(&db);
            db.snapshot_start(0);
            let mut out = Vec::new();
            for op in ops {
                match op {
                    Op::Set(k, v) => {
                        db.insert(&[k], e(&format!("new{v}"), 0));
                    }
                    Op::SetStr(k, v) => {
                        let exp = if v % 2 == 0 { 2000 + v as u64 } else { 0 };
                        db.insert_str(&[k], format!("str{v}").as_bytes(), exp, |_| 0);
                    }
                    Op::Del(k) => {
                        db.remove(&[k]);
                    }
                    Op::Expire(k, t) => {
                        db.set_expire(&[k], t as u64);
                    }
                    Op::Touch(k) => {
                        if let Some(i) = db.index_of(&[k]) {
                            if let Some(e) = db.at_mut(i) {
                                e.value = Value::str(b"touched");
                            }
                        }
                    }
                    Op::Step(n) => {
                        db.snapshot_step(n as usize);
                    }
                    Op::Clear => db.clear(),
                }
                if let Some((_, o)) = db.snapshot_take() {
                    out.extend_from_slice(&o);
                }
            }
            while !db.snapshot_step(16) {}
            if let Some((_, o)) = db.snapshot_take() {
                out.extend_from_slice(&o);
            }
            db.snapshot_end();
            proptest::prop_assert_eq!(replay(&out), before);
            // A second snapshot right after sees the current data.
            let now = state(&db);
            db.snapshot_start(0);
            while !db.snapshot_step(7) {}
            let (_, o) = db.snapshot_take().unwrap_or_default();
            db.snapshot_end();
            proptest::prop_assert_eq!(replay(&o), now);
        }
    }
}
