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

/// Keys followed through the passes (a pipeline's worth); more get the first two at once.
const KEYS: usize = 16;

#[derive(Default)]
pub struct Prefetch<'a> {
    /// Each key's database and hash (pass 1).
    keys: [Option<(&'a Db, u64)>; KEYS],
    n: usize,
}

impl<'a> Prefetch<'a> {
    /// Pass 1 for `key` of `db`.
    #[inline]
    pub fn key(&mut self, db: &'a Db, key: &[u8]) {
        if !db.worth_prefetching() {
            return;
        }
        let h = db.key_hash(key);
        db.prefetch_home(h);
        match self.keys.get_mut(self.n) {
            Some(slot) => {
                *slot = Some((db, h));
                self.n += 1;
            }
            None => {
                let _ = db.prefetch_slot(h);
            }
        }
    }

    /// Passes 2 and 3.
    #[inline]
    pub fn finish(self) {
        let mut at = [None; KEYS];
        for (i, (db, h)) in self.keys.iter().flatten().enumerate() {
            at[i] = db.prefetch_slot(*h);
        }
        for ((db, _), at) in self.keys.iter().flatten().zip(at) {
            if let Some(at) = at {
                db.prefetch_value(at);
            }
        }
    }
}
