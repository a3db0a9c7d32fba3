//! Which keys of a database carry a TTL, for active expiry and the volatile-* eviction
//! policies, which sample them at random.
//!
//! The expiry time itself lives in the key's entry. This index only names the keys, by their
//! position in the keyspace table: a dense list of positions (uniform sampling, a count) and a
//! hash index from a position to its place in that list (O(1) removal). About 16 bytes per
//! key with a TTL, where a set of the keys themselves (what Redis's `expires` dict is, and what
//! this was) cost ~60: a 24-byte key copy, a cached hash and a `usize` index, each table
//! doubling on growth. The price is that the table must report every move of a key with a
//! TTL (`Db` does, where slots move: on removal the last slot fills the hole).

/// Positions, hashed by a multiply: they are dense small integers, which the multiply spreads
/// over the index's buckets (low bits) and control bytes (high bits).
#[inline]
fn hash(pos: u32) -> u64 {
    (pos as u64 | 1 << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The hash of the position held at place `j` (what the index needs to grow or shrink).
#[inline]
fn rehash(pos: &[u32], j: u32) -> u64 {
    pos.get(j as usize).map_or(0, |&q| hash(q))
}

#[derive(Default)]
pub struct Ttls {
    /// Table positions of the keys with a TTL, in no order.
    pos: Vec<u32>,
    /// Places in `pos`, hashed by the position they hold.
    index: hashbrown::HashTable<u32>,
}

impl Ttls {
    pub fn len(&self) -> usize {
        self.pos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pos.is_empty()
    }

    /// The place in `pos` of table position `p`.
    fn place(&self, p: u32) -> Option<usize> {
        let pos = &self.pos;
        self.index
            .find(hash(p), |&j| pos.get(j as usize) == Some(&p))
            .map(|&j| j as usize)
    }

    /// Remove the index entry of table position `p`: its place in `pos`, if it has one.
    fn unindex(&mut self, p: u32) -> Option<usize> {
        let pos = &self.pos;
        let o = self
            .index
            .find_entry(hash(p), |&j| pos.get(j as usize) == Some(&p))
            .ok()?;
        Some(o.remove().0 as usize)
    }

    /// Index place `j`, which holds table position `p`.
    fn index_place(&mut self, p: u32, j: usize) {
        let pos = &self.pos;
        self.index
            .insert_unique(hash(p), j as u32, |&k| rehash(pos, k));
    }

    /// Add table position `p` (a key that just got a TTL). Adding one already there is a no-op.
    pub fn insert(&mut self, p: usize) {
        let p = p as u32;
        if self.place(p).is_some() {
            return;
        }
        self.pos.push(p);
        self.index_place(p, self.pos.len() - 1);
    }

    /// Drop table position `p` (its key lost its TTL or went away).
    pub fn remove(&mut self, p: usize) {
        let Some(j) = self.unindex(p as u32) else {
            return;
        };
        let last = self.pos.len() - 1;
        self.pos.swap_remove(j);
        if j != last {
            // The last place moved into j: point its index entry there.
            let q = self.pos[j];
            if let Some(k) = self.index.find_mut(hash(q), |&k| k as usize == last) {
                *k = j as u32;
            }
        }
    }

    /// The key with a TTL at table position `from` moved to `to`.
    pub fn moved(&mut self, from: usize, to: usize) {
        let Some(j) = self.unindex(from as u32) else {
            return;
        };
        self.pos[j] = to as u32;
        self.index_place(to as u32, j);
    }

    /// A uniformly random table position among the keys with a TTL.
    pub fn random(&self) -> Option<usize> {
        if self.is_empty() {
            return None;
        }
        Some(self.pos[fastrand::usize(..self.pos.len())] as usize)
    }

    /// Give back the room past what is held (after many keys lost their TTL).
    pub fn shrink(&mut self) {
        self.pos.shrink_to_fit();
        let pos = &self.pos;
        self.index.shrink_to(pos.len(), |&j| rehash(pos, j));
    }

    #[cfg(test)]
    fn positions(&self) -> std::collections::BTreeSet<usize> {
        self.pos.iter().map(|&p| p as usize).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_a_set_of_positions() {
        let mut t = Ttls::default();
        let mut want = std::collections::BTreeSet::new();
        fastrand::seed(3);
        for _ in 0..50_000 {
            let p = fastrand::usize(..2000);
            match fastrand::u8(..3) {
                0 => {
                    t.insert(p);
                    want.insert(p);
                }
                1 => {
                    t.remove(p);
                    want.remove(&p);
                }
                _ => {
                    // A move is to a free position, as the table's are.
                    let to = fastrand::usize(..2000);
                    if want.contains(&p) && !want.contains(&to) {
                        t.moved(p, to);
                        want.remove(&p);
                        want.insert(to);
                    }
                }
            }
            assert_eq!(t.len(), want.len());
        }
        assert_eq!(t.positions(), want);
        for &p in &want {
            assert!(t.place(p as u32).is_some());
        }
        t.shrink();
        assert_eq!(t.positions(), want);
        for _ in 0..100 {
            assert!(t.random().is_some_and(|p| want.contains(&p)));
        }
    }
}
