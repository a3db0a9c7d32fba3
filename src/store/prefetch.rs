//! Keys whose lookups are about to run (a pipeline's, a multi-key command's), prefetched in
//! three passes so that their cache misses overlap instead of coming one after another as each
//! command runs. A lookup is a chain of dependent loads: the index group of the key's hash, the
//! slot the index points to, and what the slot's value points to (a string's bytes past the
//! inline size live in an allocation of their own). Each pass asks for one link of every key's
//! chain, and the next pass reads those links:
//!
//! 1. `key`, `Db::prefetch_home`: hash the key, ask for its index group (control bytes and
//!    position entries);
//! 2. `Db::prefetch_slot`: probe that group, ask for the candidate slot;
//! 3. `Db::prefetch_value`: read the candidate slot, ask for its value's bytes (every line up
//!    to 1 KiB: a GET copies them and a same-length SET overwrites them).
//!
//! Measured (GET `-P 16 -d 64 -r 100000`, perf): with only the slot prefetched, GET's copy of
//! the value stalled on the third miss (a fifth of shardis's samples in `memmove`) and the
//! probes on the first (a tenth). Passes 2 and 3 added took GET to 0.81× and SET to 0.91× the
//! CPU per request; pass 1 a further 0.96–0.97× (A/B runs in README, Benchmarks). Following
//! each pass three or six keys behind the one before instead of after it was no better (the
//! loads had not come in yet: on this VM a miss outlasts several keys' work).
//!
//! A database too small to miss the caches is not prefetched at all (`Db::worth_prefetching`).

use super::db::Db;

/// Keys followed through the passes by default (a pipeline's worth); more get the first two at
/// once.
const KEYS: usize = 16;

/// Up to `N` keys followed through the three passes.
pub struct Prefetch<'a, const N: usize = KEYS> {
    /// Each key's database and hash (pass 1).
    keys: [Option<(&'a Db, u64)>; N],
    n: usize,
}

impl<const N: usize> Default for Prefetch<'_, N> {
    fn default() -> Self {
        Prefetch {
            keys: [None; N],
            n: 0,
        }
    }
}

impl<'a, const N: usize> Prefetch<'a, N> {
    /// Pass 1 for `key` of `db`. False if there was no room left to follow it through passes
    /// 2 and 3 with the others: it got the first two at once.
    #[inline]
    pub fn key(&mut self, db: &'a Db, key: &[u8]) -> bool {
        if !db.worth_prefetching() {
            return true;
        }
        let h = db.key_hash(key);
        db.prefetch_home(h);
        match self.keys.get_mut(self.n) {
            Some(slot) => {
                *slot = Some((db, h));
                self.n += 1;
                true
            }
            None => {
                let _ = db.prefetch_slot(h);
                false
            }
        }
    }

    /// Whether no more keys can be followed through all three passes.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.n == N
    }

    /// Passes 2 and 3.
    #[inline]
    pub fn finish(self) {
        let keys = &self.keys[..self.n];
        let mut at = [None; N];
        for (i, (db, h)) in keys.iter().flatten().enumerate() {
            at[i] = db.prefetch_slot(*h);
        }
        for ((db, _), at) in keys.iter().flatten().zip(at) {
            if let Some(at) = at {
                db.prefetch_value(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::value::{Entry, Value};

    fn db_of(keys: usize) -> Db {
        let mut db = Db::new();
        for i in 0..keys {
            db.insert(format!("k{i}").as_bytes(), Entry::new(Value::str(b"v")));
        }
        db
    }

    #[test]
    fn keys_past_the_room_are_reported_not_followed() {
        let big = db_of(1 << 14);
        assert!(big.worth_prefetching());
        let mut ahead = Prefetch::<'_, 2>::default();
        assert!(ahead.key(&big, b"k1"));
        assert!(!ahead.is_full());
        assert!(ahead.key(&big, b"missing"));
        assert!(ahead.is_full());
        // No room: the caller must prefetch it again where it runs.
        assert!(!ahead.key(&big, b"k2"));
        ahead.finish();
    }

    #[test]
    fn a_table_in_the_caches_takes_no_room() {
        let small = db_of(10);
        let mut ahead = Prefetch::<'_, 1>::default();
        for k in [&b"k1"[..], b"k2", b"k3"] {
            assert!(ahead.key(&small, k));
        }
        assert!(!ahead.is_full());
        ahead.finish();
    }
}
