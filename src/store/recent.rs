//! Keys that something happened to lately on this shard: when (wall-clock ns) and what. For a
//! command that reached the server before it happened but reaches the key's shard after (it
//! came in through another shard than the command that did it): the key's shard can answer it
//! as a lone Redis, which sees commands in arrival order, would have (streams that went away:
//! `stream::GoneStreams`; lists and sorted sets created: `fresh::FreshKeys`). Entries live
//! `RECENT_FOR` at most, `RECENT_MAX` of them.

use bytes::Bytes;
use std::collections::VecDeque;

/// Far longer than a command takes to cross from one shard to another, even on a loaded
/// machine.
const RECENT_FOR: u64 = 1_000_000_000;
pub const RECENT_MAX: usize = 64;

#[derive(Debug)]
pub struct Recent<T>(VecDeque<(Bytes, u64, T)>);

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Recent(VecDeque::new())
    }
}

impl<T> Recent<T> {
    /// `what` happened to `key` now.
    pub fn add(&mut self, key: &[u8], what: T) {
        let at = crate::util::now_ns();
        while self
            .0
            .front()
            .is_some_and(|e| e.1 + RECENT_FOR < at || self.0.len() >= RECENT_MAX)
        {
            self.0.pop_front();
        }
        self.0.push_back((Bytes::copy_from_slice(key), at, what));
    }

    /// The last thing that happened to `key` after `arrived` (wall-clock ns).
    pub fn since(&self, key: &[u8], arrived: u64) -> Option<&T> {
        self.0
            .iter()
            .rev()
            .take_while(|e| e.1 > arrived)
            .find(|e| e.0[..] == *key)
            .map(|e| &e.2)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}
