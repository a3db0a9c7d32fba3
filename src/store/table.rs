//! The keyspace table: one slot per key.
//!
//! `IndexMap`'s layout (slots at dense positions, a hash index of those positions) trimmed for
//! memory: the index stores `u32` positions instead of `usize` and the slots carry no cached
//! hash (an inline key is rehashed when the index grows or a slot moves; cheap next to the
//! 8 bytes a key it saves). The dense positions give O(1) uniform sampling (RANDOMKEY, active
//! expiry, eviction) and a stateless SCAN cursor (see `Db::scan`).
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
use super::value::Entry;

/// Indexes smaller than this grow in one go (cheap); larger ones incrementally.
const INCREMENTAL_FROM: usize = if cfg!(test) { 16 } else { 4096 };
/// Positions moved to the new index per write while it grows: enough that the move ends long
/// before the new index fills (it has room for twice the old), few enough to cost ~1 µs.
const MOVES_PER_WRITE: usize = 16;

const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;
const MASK: usize = CHUNK - 1;

type Slot = (Key, Entry);

/// Slots at dense positions `0..len`, in chunks of `CHUNK`.
#[derive(Default)]
struct Slots {
    chunks: Vec<Vec<Slot>>,
    len: usize,
}

impl Slots {
    #[inline]
    fn get(&self, i: usize) -> Option<&Slot> {
        if i >= self.len {
            return None;
        }
        self.chunks.get(i >> CHUNK_BITS)?.get(i & MASK)
    }

    #[inline]
    fn get_mut(&mut self, i: usize) -> Option<&mut Slot> {
        if i >= self.len {
            return None;
        }
        self.chunks.get_mut(i >> CHUNK_BITS)?.get_mut(i & MASK)
    }

    fn push(&mut self, s: Slot) {
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

    fn pop(&mut self) -> Option<Slot> {
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
    fn swap_remove(&mut self, i: usize) -> Option<Slot> {
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

    fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.chunks.iter().flatten()
    }
}

#[derive(Default)]
pub struct Table {
    slots: Slots,
    index: hashbrown::HashTable<u32>,
    /// While the index grows: the previous one. Positions below `moved` are all in `index`;
    /// the others are in one of the two.
    old: Option<hashbrown::HashTable<u32>>,
    moved: usize,
    hasher: ahash::RandomState,
}

impl Table {
    #[inline]
    fn hash(hasher: &ahash::RandomState, key: &[u8]) -> u64 {
        hasher.hash_one(key)
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
                .is_some_and(|(k, _)| k.as_bytes() == key)
        };
        match self.index.find(h, eq) {
            Some(&i) => Some(i as usize),
            None => self.old.as_ref()?.find(h, eq).map(|&i| i as usize),
        }
    }

    /// Bring the index entries and slot `key` would be found at into the cache, ahead of a
    /// lookup: run over the next requests of a pipeline, the cache misses of their lookups
    /// overlap instead of coming one after the other as each request runs.
    #[inline]
    pub fn prefetch(&self, key: &[u8]) {
        let h = Self::hash(&self.hasher, key);
        let slots = &self.slots;
        // An `eq` that only touches the candidate's slot and declines: the probe reads the
        // control bytes and positions the real lookup will read, and stops at the group's end.
        let _ = self.index.find(h, |&i| {
            if let Some((k, _)) = slots.get(i as usize) {
                std::hint::black_box(k.len());
            }
            false
        });
    }

    /// The hash of the key at position `i`.
    #[inline]
    fn hash_at(slots: &Slots, hasher: &ahash::RandomState, i: u32) -> u64 {
        slots
            .get(i as usize)
            .map_or(0, |(k, _)| Self::hash(hasher, k.as_bytes()))
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
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        let i = self.get_index_of(key)?;
        self.slots.get(i).map(|(_, e)| e)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let i = self.get_index_of(key)?;
        self.slots.get_mut(i).map(|(_, e)| e)
    }

    #[inline]
    pub fn get_full_mut(&mut self, key: &[u8]) -> Option<(usize, &Key, &mut Entry)> {
        let i = self.get_index_of(key)?;
        self.slots.get_mut(i).map(|(k, e)| (i, &*k, e))
    }

    #[inline]
    pub fn get_index(&self, i: usize) -> Option<(&Key, &Entry)> {
        self.slots.get(i).map(|(k, e)| (k, e))
    }

    #[inline]
    pub fn get_index_mut(&mut self, i: usize) -> Option<(&Key, &mut Entry)> {
        self.slots.get_mut(i).map(|(k, e)| (&*k, e))
    }

    /// Insert or replace; an existing key keeps its stored key. Returns the position and the
    /// entry replaced.
    pub fn insert_full(&mut self, key: &[u8], entry: Entry) -> (usize, Option<Entry>) {
        self.before_insert();
        let h = Self::hash(&self.hasher, key);
        if self.old.is_some() {
            if let Some(i) = self.old.as_ref().and_then(|_| self.find(h, key)) {
                let old = self
                    .slots
                    .get_mut(i)
                    .map(|(_, e)| std::mem::replace(e, entry));
                return (i, old);
            }
        }
        let slots = &mut self.slots;
        let hasher = &self.hasher;
        match self.index.entry(
            h,
            |&i| {
                slots
                    .get(i as usize)
                    .is_some_and(|(k, _)| k.as_bytes() == key)
            },
            |&i| {
                slots
                    .get(i as usize)
                    .map_or(0, |(k, _)| Self::hash(hasher, k.as_bytes()))
            },
        ) {
            hashbrown::hash_table::Entry::Occupied(o) => {
                let i = *o.get() as usize;
                match slots.get_mut(i) {
                    Some((_, e)) => (i, Some(std::mem::replace(e, entry))),
                    // The index only holds positions of slots.
                    None => (i, None),
                }
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                let i = slots.len;
                // Positions are u32: 4 billion keys in one database of one shard is far past
                // what a shard's memory holds.
                v.insert(i as u32);
                slots.push((Key::new(key), entry));
                (i, None)
            }
        }
    }

    /// Remove the slot at `i`, moving the last one into its place.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<(Key, Entry)> {
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

    /// The last slot, removed (detached tables are walked from the end).
    pub fn pop(&mut self) -> Option<(Key, Entry)> {
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
                .map_or(0, |(k, _)| Self::hash(hasher, k.as_bytes()))
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.slots.iter().map(|(k, e)| (k, e))
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
                .map_or(0, |(k, _)| Self::hash(hasher, k.as_bytes()))
        });
    }
}

impl IntoIterator for Table {
    type Item = (Key, Entry);
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<Slot>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.slots.chunks.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::value::Value;

    fn e(v: &str) -> Entry {
        Entry::new(Value::str(v.as_bytes()))
    }

    #[test]
    fn agrees_with_a_hashmap_across_chunks() {
        let mut m = Table::default();
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
                    let (i, old) = m.insert_full(k.as_bytes(), e(&step.to_string()));
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
            let Some(Entry {
                value: Value::Str(b),
                ..
            }) = m.get(k.as_bytes())
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
        let mut m = Table::default();
        let mut model = std::collections::HashSet::new();
        let mut growing = 0;
        for i in 0..20_000u32 {
            m.insert_full(format!("k{i}").as_bytes(), e("v"));
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
        let mut m = Table::default();
        for i in 0..(3 * CHUNK + 5) {
            m.insert_full(format!("k{i}").as_bytes(), e("v"));
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
}
