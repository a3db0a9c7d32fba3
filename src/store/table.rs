//! The hash table of the keyspace (one slot per key) and of large hashes and sets (one per
//! field or member): items that carry their own key (`Keyed`).
//!
//! `IndexMap`'s layout (items at dense positions, a hash index of those positions) trimmed for
//! memory: the index stores `u32` positions instead of `usize` and the items carry no cached
//! hash (a short key is rehashed when the index grows or an item moves; cheap next to the
//! 8 bytes an item it saves). The dense positions give O(1) uniform sampling (RANDOMKEY, active
//! expiry, eviction, HRANDFIELD, SPOP) and a stateless SCAN cursor (see `Db::scan`): a removal
//! moves the last item into the hole, as `IndexMap::swap_remove` does.
//!
//! The slots live in fixed chunks of 1024 instead of one `Vec`: a `Vec` grown by doubling
//! carries up to 2× slack (at 1M keys of 80-byte slots it held 96 MB for 80 MB of slots, as
//! jemalloc also rounds such a block up to its size class), and each doubling copied the whole
//! table in one stretch while the shard served no one (tens of ms at millions of keys).
//! Chunks are allocated as the table fills and never move; only the first grows by doubling,
//! so a small database stays small.
//!
//! The index grows incrementally, as Redis's dict rehashes: a full index is set aside and a
//! twice larger one started; every write then moves a few positions (in position order) from
//! the old index to the new, and lookups probe both until the old one is empty. Rehashing a
//! million keys at once stopped the shard for tens of milliseconds (each position's key is read
//! from its slot to hash it again: a cache miss apiece).

use super::key::Key;

/// An item that carries its own key (what the table hashes and compares).
pub trait Keyed {
    fn key(&self) -> &[u8];
}

impl Keyed for Key {
    #[inline]
    fn key(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// A keyspace slot: the key and its entry.
impl Keyed for (Key, super::value::Entry) {
    #[inline]
    fn key(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Indexes smaller than this grow in one go (cheap); larger ones incrementally.
const INCREMENTAL_FROM: usize = if cfg!(test) { 16 } else { 4096 };
/// Positions moved to the new index per write while it grows: enough that the move ends long
/// before the new index fills (it has room for twice the old), few enough to cost ~1 µs.
const MOVES_PER_WRITE: usize = 16;

const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;
const MASK: usize = CHUNK - 1;

/// Items at dense positions `0..len`, in chunks of `CHUNK`.
#[derive(Clone)]
struct Slots<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Slots<T> {
        Slots {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slots<T> {
    #[inline]
    fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        self.chunks.get(i >> CHUNK_BITS)?.get(i & MASK)
    }

    #[inline]
    fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len {
            return None;
        }
        self.chunks.get_mut(i >> CHUNK_BITS)?.get_mut(i & MASK)
    }

    /// The item at a position known to be held (like indexing a `Vec`).
    #[inline]
    fn at_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i >> CHUNK_BITS][i & MASK]
    }

    fn push(&mut self, s: T) {
        let c = self.len >> CHUNK_BITS;
        if c == self.chunks.len() {
            // The first chunk grows as a Vec does (a small database stays small) and reaches
            // CHUNK exactly, doubling from 4; later ones are allocated whole.
            self.chunks.push(if c == 0 {
                Vec::new()
            } else {
                Vec::with_capacity(CHUNK)
            });
        }
        let chunk = &mut self.chunks[c];
        if chunk.len() == chunk.capacity() {
            // Only the first chunk gets here (after a shrink too): grow it towards CHUNK, never
            // past it.
            let want = (chunk.capacity() * 2).clamp(4, CHUNK);
            chunk.reserve_exact(want - chunk.len());
        }
        chunk.push(s);
        self.len += 1;
    }

    fn pop(&mut self) -> Option<T> {
        // One empty chunk is kept at the end, so that a table hovering at a chunk boundary does
        // not allocate and free a chunk on every insert and delete; a second is dropped.
        if self.chunks.last().is_some_and(|c| c.is_empty()) && self.len & MASK != 0 {
            self.chunks.pop();
        }
        let s = self
            .chunks
            .get_mut((self.len.checked_sub(1)?) >> CHUNK_BITS)?
            .pop()?;
        self.len -= 1;
        Some(s)
    }

    /// Remove the slot at `i`, moving the last one into its place.
    fn swap_remove(&mut self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        let last = self.pop()?;
        if i == self.len {
            return Some(last);
        }
        self.get_mut(i).map(|s| std::mem::replace(s, last))
    }

    /// Give back memory past `len`: empty chunks, and the first chunk's slack when it is the
    /// only one.
    fn shrink(&mut self) {
        let used = self.len.div_ceil(CHUNK);
        self.chunks.truncate(used.max(1).min(self.chunks.len()));
        if self.chunks.len() == 1 {
            self.chunks[0].shrink_to_fit();
        }
        self.chunks.shrink_to_fit();
    }

    /// Slots allocated for (for the sparse-table check).
    fn capacity(&self) -> usize {
        self.chunks.iter().map(|c| c.capacity()).sum()
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

/// Control bytes hashbrown's probe reads at once (its SSE2 group; 8 elsewhere, where 16 only
/// over-asks).
const GROUP_WIDTH: usize = 16;

#[derive(Clone)]
pub struct Table<T> {
    slots: Slots<T>,
    index: hashbrown::HashTable<u32>,
    /// While the index grows: the previous one. Positions below `moved` are all in `index`;
    /// the others are in one of the two.
    old: Option<hashbrown::HashTable<u32>>,
    moved: usize,
    hasher: ahash::RandomState,
}

impl<T> Default for Table<T> {
    fn default() -> Table<T> {
        Table {
            slots: Slots::default(),
            index: hashbrown::HashTable::new(),
            old: None,
            moved: 0,
            hasher: ahash::RandomState::new(),
        }
    }
}

impl<T: Keyed> Table<T> {
    #[inline]
    fn hash(hasher: &ahash::RandomState, key: &[u8]) -> u64 {
        hasher.hash_one(key)
    }

    /// A table with index room for `n` items.
    pub fn with_capacity(n: usize) -> Table<T> {
        let mut t = Table::default();
        t.index.reserve(n, |_| 0);
        t
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.slots.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.slots.len == 0
    }

    #[inline]
    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        self.find(Self::hash(&self.hasher, key), key)
    }

    /// The position of `key`, whose hash is `h`, in either index.
    #[inline]
    fn find(&self, h: u64, key: &[u8]) -> Option<usize> {
        let slots = &self.slots;
        let eq = |&i: &u32| {
            slots
                .get(i as usize)
                .is_some_and(|x| crate::util::bytes::eq(x.key(), key))
        };
        match self.index.find(h, eq) {
            Some(&i) => Some(i as usize),
            None => self.old.as_ref()?.find(h, eq).map(|&i| i as usize),
        }
    }

    /// `key`'s hash, for the prefetch stages below.
    #[inline]
    pub fn hash_of(&self, key: &[u8]) -> u64 {
        Self::hash(&self.hasher, key)
    }

    /// First prefetch stage: start loading the control bytes and the position entries of the
    /// index group where a probe for `h` starts, without reading anything. Their addresses come
    /// from hashbrown's layout (the control bytes follow the buckets, bucket `i`'s entry ends
    /// where `i - 1`'s starts, counting down from the control bytes; a probe starts at bucket
    /// `h & (buckets - 1)`), found from any occupied bucket's address: a guess that is never
    /// dereferenced, so a layout change would cost only the gain (the test
    /// `index_home_addresses_follow_hashbrowns_layout` checks it still holds).
    ///
    /// A probe reads a group of GROUP_WIDTH control bytes from the home one and the entries
    /// of the buckets that match, up to GROUP_WIDTH - 1 past the home bucket's: both spans
    /// often cross into a second cache line, so both ends are asked for. (With only the home
    /// lines asked for, a sixth of `read_ahead`'s samples at GET `-P 16` stalled on loading
    /// the matching bucket's entry in pass 2.)
    #[inline]
    pub fn prefetch_home(&self, h: u64) {
        if let Some((ctrl, entry)) = self.home(h) {
            let span = GROUP_WIDTH - 1;
            crate::util::hint::prefetch(ctrl);
            crate::util::hint::prefetch(ctrl.wrapping_add(span));
            crate::util::hint::prefetch(entry);
            crate::util::hint::prefetch(entry.wrapping_sub(span * std::mem::size_of::<u32>()));
        }
    }

    /// The guessed addresses of `h`'s home control byte and position entry (see
    /// `prefetch_home`).
    #[inline]
    fn home(&self, h: u64) -> Option<(*const u8, *const u8)> {
        let size = std::mem::size_of::<u32>();
        let j = self.index.iter_buckets().next()?;
        let at_j = self.index.get_bucket(j)? as *const u32 as *const u8;
        let ctrl = at_j.wrapping_add((j + 1) * size);
        let pos = (h as usize) & (self.index.num_buckets() - 1);
        Some((ctrl.wrapping_add(pos), ctrl.wrapping_sub((pos + 1) * size)))
    }

    /// Second stage: probe the index for `h` (its group likely in after `prefetch_home`) and
    /// ask for the candidate slots without waiting for them. Returns the first candidate's
    /// position (almost always the key's, if it is here) for `candidate`.
    #[inline]
    pub fn prefetch_slot(&self, h: u64) -> Option<u32> {
        let slots = &self.slots;
        let mut first = None;
        // An `eq` that asks for the candidate's slot and declines: the probe reads the control
        // bytes and positions the real lookup will read and stops at the group's end. The slot
        // itself is only a prefetch hint, so the next probes overlap its miss.
        let _ = self.index.find(h, |&i| {
            if let Some(x) = slots.get(i as usize) {
                first.get_or_insert(i);
                let p = x as *const T as *const u8;
                crate::util::hint::prefetch(p);
                if std::mem::size_of::<T>() > 64 {
                    crate::util::hint::prefetch(p.wrapping_add(64));
                }
            }
            false
        });
        first
    }

    /// The hash of the key at position `i`.
    #[inline]
    fn hash_at(slots: &Slots<T>, hasher: &ahash::RandomState, i: u32) -> u64 {
        slots
            .get(i as usize)
            .map_or(0, |x| Self::hash(hasher, x.key()))
    }

    /// Move up to `n` positions from the old index to the new one; drop the old one when it is
    /// empty. A no-op when the index is not growing.
    pub fn rehash_step(&mut self, n: usize) {
        let Some(old) = self.old.as_mut() else {
            return;
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        let end = self.moved.saturating_add(n).min(slots.len);
        for p in self.moved..end {
            let h = Self::hash_at(slots, hasher, p as u32);
            if let Ok(o) = old.find_entry(h, |&j| j as usize == p) {
                o.remove();
                self.index
                    .insert_unique(h, p as u32, |&j| Self::hash_at(slots, hasher, j));
            }
        }
        self.moved = end;
        if self.moved >= slots.len || old.is_empty() {
            self.old = None;
            self.moved = 0;
        }
    }

    /// Before an insert: start growing the index incrementally when it is full (small ones
    /// grow at once, inside hashbrown), or take a step of a growth under way.
    #[inline]
    fn before_insert(&mut self) {
        if self.old.is_some() {
            self.rehash_step(MOVES_PER_WRITE);
        } else if self.index.len() == self.index.capacity() && self.index.len() >= INCREMENTAL_FROM
        {
            let bigger = hashbrown::HashTable::with_capacity(self.index.len() * 2);
            self.old = Some(std::mem::replace(&mut self.index, bigger));
            self.moved = 0;
            self.rehash_step(MOVES_PER_WRITE);
        }
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&T> {
        self.slots.get(self.get_index_of(key)?)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut T> {
        let i = self.get_index_of(key)?;
        self.slots.get_mut(i)
    }

    #[inline]
    pub fn contains(&self, key: &[u8]) -> bool {
        self.get_index_of(key).is_some()
    }

    /// The item at position `i` (the order of `iter`).
    #[inline]
    pub fn get_index(&self, i: usize) -> Option<&T> {
        self.slots.get(i)
    }

    /// The item at position `i`, to change (but not its key).
    #[inline]
    pub fn get_index_mut(&mut self, i: usize) -> Option<&mut T> {
        self.slots.get_mut(i)
    }

    /// The position of `key`, and whether it is new: then the position (the end) is already in
    /// the index and the caller must push the item at once.
    fn claim(&mut self, key: &[u8]) -> (usize, bool) {
        self.before_insert();
        let h = Self::hash(&self.hasher, key);
        if self.old.is_some() {
            if let Some(i) = self.find(h, key) {
                return (i, false);
            }
        }
        let slots = &self.slots;
        let hasher = &self.hasher;
        match self.index.entry(
            h,
            |&i| slots.get(i as usize).is_some_and(|x| x.key() == key),
            |&i| {
                slots
                    .get(i as usize)
                    .map_or(0, |x| Self::hash(hasher, x.key()))
            },
        ) {
            hashbrown::hash_table::Entry::Occupied(o) => (*o.get() as usize, false),
            hashbrown::hash_table::Entry::Vacant(v) => {
                // Positions are u32: 4 billion items in one table is far past what a shard's
                // memory holds.
                v.insert(slots.len as u32);
                (slots.len, true)
            }
        }
    }

    /// The position of the item with `key`, made by `make` and appended if there is none, and
    /// whether it is new. The caller may change the item but not its key.
    pub fn find_or_insert_full(&mut self, key: &[u8], make: impl FnOnce() -> T) -> (usize, bool) {
        let (i, new) = self.claim(key);
        if new {
            self.slots.push(make());
        }
        (i, new)
    }

    /// `find_or_insert_full`, giving the item.
    pub fn find_or_insert(&mut self, key: &[u8], make: impl FnOnce() -> T) -> (&mut T, bool) {
        let (i, new) = self.find_or_insert_full(key, make);
        (self.slots.at_mut(i), new)
    }

    /// Add `item` unless an item with its key is there; true if it was added.
    pub fn insert(&mut self, item: T) -> bool {
        let (_, new) = self.claim(item.key());
        if new {
            self.slots.push(item);
        }
        new
    }

    /// Remove the slot at `i`, moving the last one into its place.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<T> {
        let last = self.slots.len.checked_sub(1)?;
        if i > last {
            return None;
        }
        self.rehash_step(MOVES_PER_WRITE);
        let (slots, hasher) = (&self.slots, &self.hasher);
        let h = Self::hash_at(slots, hasher, i as u32);
        if let Ok(o) = self.index.find_entry(h, |&j| j as usize == i) {
            o.remove();
        } else if let Some(Ok(o)) = self
            .old
            .as_mut()
            .map(|old| old.find_entry(h, |&j| j as usize == i))
        {
            o.remove();
        }
        if i != last {
            let h = Self::hash_at(slots, hasher, last as u32);
            if let Some(j) = self.index.find_mut(h, |&j| j as usize == last) {
                *j = i as u32;
            } else if let Some(Ok(o)) = self
                .old
                .as_mut()
                .map(|old| old.find_entry(h, |&j| j as usize == last))
            {
                // Into the new index: `i` may be below `moved`.
                o.remove();
                self.index
                    .insert_unique(h, i as u32, |&j| Self::hash_at(slots, hasher, j));
            }
        }
        self.slots.swap_remove(i)
    }

    /// Remove the item with `key`.
    pub fn swap_remove(&mut self, key: &[u8]) -> Option<T> {
        let i = self.get_index_of(key)?;
        self.swap_remove_index(i)
    }

    /// The last item, removed (detached tables are walked from the end).
    pub fn pop(&mut self) -> Option<T> {
        let last = self.slots.len.checked_sub(1)?;
        self.swap_remove_index(last)
    }

    /// Make room in the index for `additional` more keys at once (loading), instead of
    /// rehashing step by step. (Slots need no reserve: chunks never move.)
    pub fn reserve(&mut self, additional: usize) {
        self.rehash_step(usize::MAX);
        let slots = &self.slots;
        let hasher = &self.hasher;
        self.index.reserve(additional, |&i| {
            slots
                .get(i as usize)
                .map_or(0, |x| Self::hash(hasher, x.key()))
        });
    }

    /// Items in table order (insertion order, but for the moves of `swap_remove`).
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter()
    }

    /// Whether the table holds much more room than keys (under a quarter full).
    pub fn is_sparse(&self) -> bool {
        if self.old.is_some() {
            return false;
        }
        let cap = self.index.capacity().max(self.slots.capacity());
        cap >= 64 && self.len() * 4 < cap
    }

    /// Give back the room past the keys held. Positions do not move.
    pub fn shrink(&mut self) {
        self.rehash_step(usize::MAX);
        self.slots.shrink();
        let slots = &self.slots;
        let hasher = &self.hasher;
        self.index.shrink_to(slots.len, |&i| {
            slots
                .get(i as usize)
                .map_or(0, |x| Self::hash(hasher, x.key()))
        });
    }
}

impl<T> IntoIterator for Table<T> {
    type Item = T;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<T>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.slots.chunks.into_iter().flatten()
    }
}

impl<T: Keyed> FromIterator<T> for Table<T> {
    fn from_iter<I: IntoIterator<Item = T>>(it: I) -> Table<T> {
        let it = it.into_iter();
        let mut t = Table::with_capacity(it.size_hint().0);
        for item in it {
            t.insert(item);
        }
        t
    }
}

// As `IndexMap`'s: the same items, whatever their order.
impl<T: Keyed + PartialEq> PartialEq for Table<T> {
    fn eq(&self, other: &Table<T>) -> bool {
        self.len() == other.len() && self.iter().all(|x| other.get(x.key()) == Some(x))
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.slots.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::value::{Entry, Value};

    fn e(v: &str) -> Entry {
        Entry::new(Value::str(v.as_bytes()))
    }

    #[test]
    fn index_home_addresses_follow_hashbrowns_layout() {
        let mut m: Table<Key> = Table::default();
        let n = 20_000usize;
        for i in 0..n {
            let k = format!("key:{i}");
            m.find_or_insert(k.as_bytes(), || Key::new(k.as_bytes()));
        }
        // Let any incremental growth finish: `home` guesses for the current index only.
        while m.old.is_some() {
            m.rehash_step(4096);
        }
        let buckets = m.index.num_buckets();
        let mut at_home = 0;
        for i in 0..n {
            let k = format!("key:{i}");
            let h = m.hash_of(k.as_bytes());
            let Some((ctrl, entry)) = m.home(h) else {
                panic!("no home for an occupied index")
            };
            let pos = (h as usize) & (buckets - 1);
            let b = m
                .index
                .find_bucket_index(h, |&p| {
                    m.slots
                        .get(p as usize)
                        .is_some_and(|x| x.key() == k.as_bytes())
                })
                .expect("the key is in the index");
            // Bucket `b`'s entry is where the layout puts it, counted from the guessed home.
            let real = m.index.get_bucket(b).expect("occupied") as *const u32 as *const u8;
            let size = std::mem::size_of::<u32>() as isize;
            assert_eq!(
                real,
                entry.wrapping_offset((pos as isize - b as isize) * size)
            );
            assert_eq!(
                ctrl.wrapping_sub(pos).wrapping_sub((b + 1) * size as usize),
                real
            );
            // Most keys sit in the group their probe starts at.
            if (b + buckets - pos) % buckets < 16 {
                at_home += 1;
            }
        }
        assert!(
            at_home * 10 > n * 9,
            "only {at_home} of {n} keys in their home group"
        );
    }

    #[test]
    fn agrees_with_a_hashmap_across_chunks() {
        let mut m: Table<(Key, Entry)> = Table::default();
        let mut want = std::collections::HashMap::new();
        fastrand::seed(7);
        // Enough keys to span several chunks, churned so the table crosses chunk boundaries
        // both ways.
        for step in 0..60_000u32 {
            // Short keys inline, long ones on the heap.
            let k = if step % 3 == 0 {
                format!("{:0>30}", fastrand::u32(..3000))
            } else {
                format!("k{}", fastrand::u32(..3000))
            };
            match fastrand::u8(..4) {
                0 | 1 => {
                    let (i, new) =
                        m.find_or_insert_full(k.as_bytes(), || (Key::new(k.as_bytes()), e("")));
                    if let Some(slot) = m.get_index_mut(i) {
                        slot.1 = e(&step.to_string());
                    }
                    let old = (!new).then_some(());
                    assert_eq!(
                        m.get_index(i).map(|(k, _)| k.to_vec()),
                        Some(k.clone().into_bytes())
                    );
                    assert_eq!(old.is_some(), want.insert(k, step).is_some());
                }
                2 => {
                    let gone = m.get_index_of(k.as_bytes()).map(|i| m.swap_remove_index(i));
                    assert_eq!(gone.is_some(), want.remove(&k).is_some());
                }
                _ => {
                    if !m.is_empty() {
                        let i = fastrand::usize(..m.len());
                        let (gone, _) = m.swap_remove_index(i).unwrap();
                        assert!(want.remove(std::str::from_utf8(&gone).unwrap()).is_some());
                    }
                }
            }
            assert_eq!(m.len(), want.len());
            if step % 10_000 == 0 {
                m.shrink();
            }
        }
        for (k, v) in &want {
            let Some((
                _,
                Entry {
                    value: Value::Str(b),
                    ..
                },
            )) = m.get(k.as_bytes())
            else {
                panic!("missing {k}");
            };
            assert_eq!(b.as_bytes(), v.to_string().as_bytes());
        }
        for i in 0..m.len() {
            let (k, _) = m.get_index(i).unwrap();
            assert_eq!(m.get_index_of(k), Some(i));
        }
        assert_eq!(m.iter().count(), want.len());
        while m.pop().is_some() {}
        assert!(m.is_empty());
        m.shrink();
        assert!(m.slots.capacity() <= 4);
    }

    #[test]
    fn every_key_is_found_while_the_index_grows_incrementally() {
        let mut m: Table<(Key, Entry)> = Table::default();
        let mut model = std::collections::HashSet::new();
        let mut growing = 0;
        for i in 0..20_000u32 {
            m.insert((Key::new(format!("k{i}").as_bytes()), e("v")));
            model.insert(i);
            growing += m.old.is_some() as u32;
            // Deletes while growing move slots (the last into the hole) across both indexes.
            if i % 7 == 3 {
                if let Some(j) = m.get_index_of(format!("k{}", i / 2).as_bytes()) {
                    m.swap_remove_index(j);
                }
                model.remove(&(i / 2));
            }
            let probe = fastrand::u32(..=i);
            let found = m.get_index_of(format!("k{probe}").as_bytes());
            assert_eq!(
                found.is_some(),
                model.contains(&probe),
                "k{probe} at step {i}"
            );
            if let Some(j) = found {
                let k = m.get_index(j).map(|(k, _)| k.to_vec());
                assert_eq!(k, Some(format!("k{probe}").into_bytes()));
            }
        }
        assert!(
            growing > 100,
            "the index grew incrementally ({growing} steps seen)"
        );
        assert_eq!(m.len(), model.len());
        for j in 0..m.len() {
            let (k, _) = m.get_index(j).unwrap();
            assert_eq!(m.get_index_of(k), Some(j));
        }
        m.rehash_step(usize::MAX);
        assert!(m.old.is_none());
        assert_eq!(m.index.len(), m.len());
    }

    #[test]
    fn chunks_are_exact_past_the_first() {
        let mut m: Table<(Key, Entry)> = Table::default();
        for i in 0..(3 * CHUNK + 5) {
            m.insert((Key::new(format!("k{i}").as_bytes()), e("v")));
        }
        assert_eq!(m.slots.chunks.len(), 4);
        assert!(m.slots.chunks.iter().all(|c| c.capacity() == CHUNK));
        // Deleting back below a boundary keeps one spare chunk, not two.
        for i in 0..(CHUNK + 10) {
            if let Some(j) = m.get_index_of(format!("k{i}").as_bytes()) {
                m.swap_remove_index(j);
            }
        }
        assert!(m.slots.chunks.len() <= 3);
        assert_eq!(m.len(), 2 * CHUNK - 5);
    }

    proptest::proptest! {
        /// Against `IndexSet`, the structure it replaced for large sets: same members, same
        /// order (so the same SCAN and random-pick behaviour), same answers.
        #[test]
        fn behaves_like_an_indexset(
            ops in proptest::collection::vec((0u8..4, 0u16..300, proptest::bool::ANY), 0..600),
        ) {
            let mut t: Table<Key> = Table::default();
            let mut m: indexmap::IndexSet<Vec<u8>> = indexmap::IndexSet::new();
            for (op, n, long) in ops {
                // Short members inline, long ones on the heap.
                let k = if long { format!("{n:0>30}") } else { format!("m{n}") }.into_bytes();
                match op {
                    0 | 1 => proptest::prop_assert_eq!(t.insert(Key::new(&k)), m.insert(k.clone())),
                    2 => proptest::prop_assert_eq!(t.swap_remove(&k).is_some(), m.swap_remove(&k)),
                    _ => if !m.is_empty() {
                        let i = n as usize % m.len();
                        proptest::prop_assert_eq!(
                            t.swap_remove_index(i).map(|x| x.to_vec()),
                            m.swap_remove_index(i)
                        );
                    },
                }
                proptest::prop_assert_eq!(t.len(), m.len());
                proptest::prop_assert_eq!(t.contains(&k), m.contains(&k));
            }
            let got: Vec<Vec<u8>> = t.iter().map(|x| x.to_vec()).collect();
            let want: Vec<Vec<u8>> = m.iter().cloned().collect();
            proptest::prop_assert_eq!(got, want);
            for (i, k) in m.iter().enumerate() {
                proptest::prop_assert_eq!(t.get_index_of(k), Some(i));
            }
            let copy = t.clone();
            proptest::prop_assert_eq!(&copy, &t);
        }
    }

    #[test]
    fn find_or_insert_keeps_one_item_per_key() {
        let mut t: Table<Key> = (0..100)
            .map(|i| Key::new(format!("k{i}").as_bytes()))
            .collect();
        let (x, new) = t.find_or_insert(b"k7", || Key::new(b"unused"));
        assert!(!new && &x[..] == b"k7");
        let (x, new) = t.find_or_insert(b"k100", || Key::new(b"k100"));
        assert!(new && &x[..] == b"k100");
        assert_eq!(t.len(), 101);
        assert_eq!(t.get_index_of(b"k100"), Some(100));
    }
}
