//! The hash-table encoding of large hashes and sets: `IndexMap`'s layout (items in a dense
//! `Vec`, in insertion order with swap-removal, and a hash index of their positions), trimmed
//! for memory as the keyspace's own table is (`db.rs`, `Map`): positions are `u32` rather than
//! `usize`, and items carry no cached hash (a short field is rehashed when the index grows or
//! an item moves, which is cheap next to the 8 bytes per item it saves). A million-field hash
//! then costs its items plus about 10 bytes of index per item, where `IndexMap` added 8 bytes
//! of cached hash and about 18 of index.
//!
//! The order is the one SCAN cursors, random picks and AOF rewrites rely on: a removal moves
//! the last item into the hole, as `IndexMap::swap_remove` does.

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

/// An item that carries its own key (what the table hashes and compares).
pub trait Keyed {
    fn key(&self) -> &[u8];
}

impl Keyed for super::key::Key {
    #[inline]
    fn key(&self) -> &[u8] {
        self.as_bytes()
    }
}

#[derive(Clone)]
pub struct Table<T> {
    items: Vec<T>,
    index: HashTable<u32>,
    hasher: ahash::RandomState,
}

impl<T: Keyed> Default for Table<T> {
    fn default() -> Table<T> {
        Table::new()
    }
}

#[inline]
fn hash(hasher: &ahash::RandomState, key: &[u8]) -> u64 {
    hasher.hash_one(key)
}

impl<T: Keyed> Table<T> {
    pub fn new() -> Table<T> {
        Table {
            items: Vec::new(),
            index: HashTable::new(),
            hasher: ahash::RandomState::new(),
        }
    }

    pub fn with_capacity(n: usize) -> Table<T> {
        Table {
            items: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            hasher: ahash::RandomState::new(),
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    #[inline]
    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        let items = &self.items;
        self.index
            .find(hash(&self.hasher, key), |&i| items[i as usize].key() == key)
            .map(|&i| i as usize)
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&T> {
        self.items.get(self.get_index_of(key)?)
    }

    #[inline]
    pub fn contains(&self, key: &[u8]) -> bool {
        self.get_index_of(key).is_some()
    }

    /// The item at position `i`, in the order of `iter`.
    #[inline]
    pub fn get_index(&self, i: usize) -> Option<&T> {
        self.items.get(i)
    }

    /// The item with `key`, made by `make` and appended if there is none; true if it is new.
    /// The caller may change the item but not its key.
    #[inline]
    pub fn find_or_insert(&mut self, key: &[u8], make: impl FnOnce() -> T) -> (&mut T, bool) {
        let items = &mut self.items;
        let hasher = &self.hasher;
        match self.index.entry(
            hash(hasher, key),
            |&i| items[i as usize].key() == key,
            |&i| hash(hasher, items[i as usize].key()),
        ) {
            Entry::Occupied(o) => (&mut items[*o.get() as usize], false),
            Entry::Vacant(v) => {
                let i = items.len();
                // Positions are u32: 4 billion items in one collection is far past what a
                // shard's memory holds.
                v.insert(i as u32);
                items.push(make());
                (&mut items[i], true)
            }
        }
    }

    /// Add `item` unless an item with its key is there; true if it was added.
    #[inline]
    pub fn insert(&mut self, item: T) -> bool {
        let items = &mut self.items;
        let hasher = &self.hasher;
        let key = item.key();
        match self.index.entry(
            hash(hasher, key),
            |&i| items[i as usize].key() == key,
            |&i| hash(hasher, items[i as usize].key()),
        ) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(items.len() as u32);
                items.push(item);
                true
            }
        }
    }

    /// Remove the item at `i`, moving the last one into its place.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<T> {
        let last = self.items.len().checked_sub(1)?;
        let gone = self.items.get(i)?;
        if let Ok(o) = self
            .index
            .find_entry(hash(&self.hasher, gone.key()), |&j| j as usize == i)
        {
            o.remove();
        }
        if i != last {
            let h = hash(&self.hasher, self.items[last].key());
            if let Some(j) = self.index.find_mut(h, |&j| j as usize == last) {
                *j = i as u32;
            }
        }
        Some(self.items.swap_remove(i))
    }

    pub fn swap_remove(&mut self, key: &[u8]) -> Option<T> {
        let i = self.get_index_of(key)?;
        self.swap_remove_index(i)
    }

    /// Items in table order (insertion order, but for the moves of `swap_remove`).
    #[inline]
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
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
        f.debug_list().entries(self.items.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::key::Key;
    use proptest::prelude::*;

    proptest! {
        /// Against `IndexSet`, the structure it replaces: same members, same order (so the
        /// same SCAN and random-pick behaviour), same answers.
        #[test]
        fn behaves_like_an_indexset(
            ops in proptest::collection::vec((0u8..4, 0u16..300, any::<bool>()), 0..600),
        ) {
            let mut t: Table<Key> = Table::new();
            let mut m: indexmap::IndexSet<Vec<u8>> = indexmap::IndexSet::new();
            for (op, n, long) in ops {
                // Short members inline, long ones on the heap.
                let k = if long { format!("{n:0>30}") } else { format!("m{n}") }.into_bytes();
                match op {
                    0 | 1 => prop_assert_eq!(t.insert(Key::new(&k)), m.insert(k.clone())),
                    2 => prop_assert_eq!(t.swap_remove(&k).is_some(), m.swap_remove(&k)),
                    _ => if !m.is_empty() {
                        let i = n as usize % m.len();
                        prop_assert_eq!(t.swap_remove_index(i).map(|x| x.to_vec()), m.swap_remove_index(i));
                    },
                }
                prop_assert_eq!(t.len(), m.len());
                prop_assert_eq!(t.contains(&k), m.contains(&k));
            }
            let got: Vec<Vec<u8>> = t.iter().map(|x| x.to_vec()).collect();
            let want: Vec<Vec<u8>> = m.iter().cloned().collect();
            prop_assert_eq!(got, want);
            for (i, k) in m.iter().enumerate() {
                prop_assert_eq!(t.get_index_of(k), Some(i));
            }
            let copy = t.clone();
            prop_assert_eq!(&copy, &t);
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
