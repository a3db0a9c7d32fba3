//! WATCH on one shard: a version per watched key, bumped whenever the key is touched (written
//! by a command, by a multi-shard command's release, by FLUSHDB/FLUSHALL/SWAPDB when it held a
//! live value). EXEC compares the versions it saw at WATCH time, and the key's liveness, as
//! Redis compares its dirty-CAS flag and `isWatchedKeyExpired`: a key that was live at WATCH
//! and has expired since fails the EXEC; a key already stale at WATCH does not.
//!
//! Keys nobody watches cost nothing: every hook starts with `is_empty`.

use super::Db;
use bytes::Bytes;

#[derive(Default, Clone, Copy)]
struct Watched {
    /// Clients watching it (the entry goes when the last one unwatches).
    refs: u32,
    version: u64,
}

#[derive(Default)]
pub struct Watches {
    /// By database index.
    dbs: Vec<ahash::AHashMap<Bytes, Watched>>,
    count: usize,
}

/// What WATCH saw: compared again at EXEC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub version: u64,
    pub live: bool,
}

/// Whether `key` holds a value that has not expired at `now`.
pub fn live(db: &Db, key: &[u8], now: u64) -> bool {
    db.get_raw(key)
        .is_some_and(|e| e.expire_at == 0 || e.expire_at > now)
}

impl Watches {
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// One more client watches `key`.
    pub fn watch(&mut self, db: usize, key: &Bytes, live: bool) -> Seen {
        if self.dbs.len() <= db {
            self.dbs.resize_with(db + 1, Default::default);
        }
        let w = self.dbs[db].entry(key.clone()).or_default();
        w.refs += 1;
        self.count += 1;
        Seen {
            version: w.version,
            live,
        }
    }

    /// One client stops watching `key`.
    pub fn unwatch(&mut self, db: usize, key: &[u8]) {
        let Some(m) = self.dbs.get_mut(db) else {
            return;
        };
        if let Some(w) = m.get_mut(key) {
            w.refs = w.refs.saturating_sub(1);
            self.count = self.count.saturating_sub(1);
            if w.refs == 0 {
                m.remove(key);
            }
        }
    }

    /// The current version of a watched key (None when nobody watches it: then it can't
    /// have been seen either).
    pub fn version(&self, db: usize, key: &[u8]) -> Option<u64> {
        self.dbs.get(db)?.get(key).map(|w| w.version)
    }

    /// `key` was written: every client watching it will fail its EXEC.
    #[inline]
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        if self.count == 0 {
            return;
        }
        if let Some(w) = self.dbs.get_mut(db).and_then(|m| m.get_mut(key)) {
            w.version += 1;
        }
    }

    /// Every watched key of every database (a whole-shard lock's write).
    pub fn touch_all(&mut self) {
        for m in &mut self.dbs {
            for w in m.values_mut() {
                w.version += 1;
            }
        }
    }

    /// Database `db` (as `data` is now) is about to be emptied or replaced by `other`: watched
    /// keys live in either are touched (Redis's touchAllWatchedKeysInDb; stale ones are not).
    pub fn touch_live_in(&mut self, db: usize, data: &Db, other: Option<&Db>, now: u64) {
        if self.count == 0 {
            return;
        }
        let Some(m) = self.dbs.get_mut(db) else {
            return;
        };
        for (k, w) in m.iter_mut() {
            if live(data, k, now) || other.is_some_and(|o| live(o, k, now)) {
                w.version += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_a_watched_key_changes_its_version_and_others_cost_nothing() {
        let mut w = Watches::default();
        let k = Bytes::from_static(b"k");
        let seen = w.watch(0, &k, false);
        w.touch(0, b"other");
        w.touch(1, b"k");
        assert_eq!(w.version(0, b"k"), Some(seen.version));
        w.touch(0, b"k");
        assert_ne!(w.version(0, b"k"), Some(seen.version));
        w.unwatch(0, b"k");
        assert!(w.is_empty());
        assert_eq!(w.version(0, b"k"), None);
    }
}
