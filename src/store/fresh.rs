//! Lists and sorted sets created lately, and when: for a blocking command (BLPOP, BZPOPMIN …)
//! that reached the server before such a key was created but reached the key's shard after
//! (it came in through another shard than the push). A lone Redis would have had it blocked
//! when the push came, and served it among the key's other blocked clients in the order they
//! came; the key's shard treats it as such a waiter (`shard::blocking::attempt`).
//!
//! Recording costs a clock read and a copy of the key per creation, so it is done only while
//! blocking commands are about: each shard that starts one opens every shard's window for
//! `OPEN_FOR` (`shard::blocking::announce`). What is kept, and for how long, is `Recent`'s
//! (more creations than it keeps within its time lose the oldest, and with them the order of
//! a command that comes that late).

use super::recent::Recent;

/// How long a blocking command keeps recording on after it started (ns).
pub const OPEN_FOR: u64 = 60_000_000_000;

#[derive(Debug, Default)]
pub struct FreshKeys {
    /// Record creations until then (wall-clock ns, as the arrival times are).
    open_until: u64,
    created: Recent<()>,
}

impl FreshKeys {
    /// Record creations until `until` (ns since the epoch), if that is later than now set.
    pub fn open(&mut self, until: u64) {
        self.open_until = self.open_until.max(until);
    }

    /// Whether creations are recorded now: one compare on the write path when they are not.
    #[inline]
    pub fn is_open(&self) -> bool {
        self.open_until != 0
    }

    /// `key` (a list or a sorted set) was created now.
    pub fn add(&mut self, key: &[u8]) {
        if crate::util::now_ns() > self.open_until {
            // The window is over: close it, and forget what it recorded.
            self.open_until = 0;
            self.created.clear();
            return;
        }
        self.created.add(key, ());
    }

    /// Whether `key` was created after `arrived` (wall-clock ns).
    pub fn created_after(&self, key: &[u8], arrived: u64) -> bool {
        self.created.since(key, arrived).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::super::recent::RECENT_MAX;
    use super::*;

    #[test]
    fn records_only_while_open_and_answers_by_time() {
        let mut f = FreshKeys::default();
        let before = crate::util::now_ns();
        f.add(b"k");
        assert!(!f.created_after(b"k", before), "closed: nothing recorded");
        f.open(crate::util::now_ns() + OPEN_FOR);
        f.add(b"k");
        assert!(f.created_after(b"k", before));
        assert!(!f.created_after(b"other", before));
        assert!(!f.created_after(b"k", crate::util::now_ns() + 1));
    }

    #[test]
    fn keeps_at_most_the_last_few() {
        let mut f = FreshKeys::default();
        let before = crate::util::now_ns();
        f.open(before + OPEN_FOR);
        for i in 0..RECENT_MAX + 10 {
            f.add(format!("k{i}").as_bytes());
        }
        assert!(f.created.len() <= RECENT_MAX);
        assert!(!f.created_after(b"k0", before));
        assert!(f.created_after(format!("k{}", RECENT_MAX + 9).as_bytes(), before));
    }

    #[test]
    fn a_closed_window_forgets() {
        let mut f = FreshKeys::default();
        let before = crate::util::now_ns();
        f.open(before + OPEN_FOR);
        f.add(b"k");
        f.open_until = 1;
        f.add(b"j");
        assert!(!f.is_open());
        assert!(!f.created_after(b"k", before));
    }
}
