//! Large lists: a chain of packed nodes (`listnode.rs`), each at most what one listpack may
//! hold under `list-max-listpack-size` (the shape of Redis's quicklist).
//!
//! Why not a deque of byte strings: that costs a heap allocation and a 32-byte handle per
//! element, and LPUSH/RPUSH spent their time in the allocator and in page faults. Here an
//! element of a few bytes costs its bytes plus two, and a push only copies it into place.

use super::listnode::Node;
use bytes::Bytes;
use std::collections::VecDeque;

/// Redis's SIZE_SAFETY_LIMIT: a count-limited node still stays under 8 KB.
const SAFETY_BYTES: usize = 8192;

/// The limits `list-max-listpack-size` (`fill`) puts on one node: (entries, bytes). A positive
/// fill counts entries (still under 8 KB); -1..-5 cap the bytes at 4, 8, 16, 32, 64 KB.
pub fn node_limits(fill: i64) -> (usize, usize) {
    if fill >= 0 {
        (fill.max(1) as usize, SAFETY_BYTES)
    } else {
        let shift = (-fill - 1).clamp(0, 4) as u32;
        (usize::MAX, 4096usize << shift)
    }
}

/// The chain of nodes, head to tail.
#[derive(Debug, Clone, Default)]
pub struct QuickList {
    nodes: VecDeque<Node>,
    len: usize,
}

impl PartialEq for QuickList {
    fn eq(&self, other: &QuickList) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl QuickList {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn push_front(&mut self, v: &[u8], fill: i64) {
        let lim = node_limits(fill);
        match self.nodes.front_mut() {
            Some(n) if n.takes(v.len(), lim) => n.push_front(v, lim.1),
            front => {
                if let Some(n) = front {
                    n.fit();
                }
                let mut n = Node::default();
                n.push_front(v, lim.1);
                self.nodes.push_front(n);
            }
        }
        self.len += 1;
    }

    pub fn push_back(&mut self, v: &[u8], fill: i64) {
        let lim = node_limits(fill);
        match self.nodes.back_mut() {
            Some(n) if n.takes(v.len(), lim) => n.push_back(v, lim.1),
            back => {
                if let Some(n) = back {
                    n.fit();
                }
                let mut n = Node::default();
                n.push_back(v, lim.1);
                self.nodes.push_back(n);
            }
        }
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<Bytes> {
        let n = self.nodes.front_mut()?;
        let v = n.pop_front();
        if n.is_empty() {
            self.nodes.pop_front();
        }
        self.len -= v.is_some() as usize;
        v
    }

    pub fn pop_back(&mut self) -> Option<Bytes> {
        let n = self.nodes.back_mut()?;
        let v = n.pop_back();
        if n.is_empty() {
            self.nodes.pop_back();
        }
        self.len -= v.is_some() as usize;
        v
    }

    /// The node holding element `i` (< len) and its index there, walking from the nearer end.
    fn locate(&self, i: usize) -> (usize, usize) {
        if i < self.len / 2 {
            let mut i = i;
            for (k, n) in self.nodes.iter().enumerate() {
                if i < n.len() {
                    return (k, i);
                }
                i -= n.len();
            }
        } else {
            let mut from_end = self.len - i;
            for (k, n) in self.nodes.iter().enumerate().rev() {
                if from_end <= n.len() {
                    return (k, n.len() - from_end);
                }
                from_end -= n.len();
            }
        }
        (self.nodes.len(), 0)
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (k, j) = self.locate(i);
        self.nodes[k].get(j)
    }

    /// Insert before element `i` (`i >= len` appends).
    pub fn insert(&mut self, i: usize, v: &[u8], fill: i64) {
        if i == 0 {
            return self.push_front(v, fill);
        }
        if i >= self.len {
            return self.push_back(v, fill);
        }
        let lim = node_limits(fill);
        let (mut k, j) = self.locate(i);
        if self.nodes[k].takes(v.len(), lim) {
            self.nodes[k].insert(j, v, lim.1);
            self.len += 1;
            return;
        }
        // Full: the element goes between node `k - 1` and node `k`, after splitting node `k`
        // at `j` when it lands inside it; then into a neighbour that has room, or a new node.
        if j > 0 {
            let right = self.nodes[k].split_off(j);
            self.nodes.insert(k + 1, right);
            k += 1;
        }
        match (
            k.checked_sub(1).map(|p| self.nodes[p].takes(v.len(), lim)),
            self.nodes[k].takes(v.len(), lim),
        ) {
            (Some(true), _) => self.nodes[k - 1].push_back(v, lim.1),
            (_, true) => self.nodes[k].push_front(v, lim.1),
            _ => {
                let mut n = Node::default();
                n.push_back(v, lim.1);
                self.nodes.insert(k, n);
            }
        }
        self.len += 1;
    }

    /// Remove element `i` (< len).
    pub fn remove(&mut self, i: usize) {
        if i >= self.len {
            return;
        }
        let (k, j) = self.locate(i);
        self.nodes[k].remove(j);
        if self.nodes[k].is_empty() {
            self.nodes.remove(k);
        }
        self.len -= 1;
    }

    /// Calls `f` on `n` elements from `start` on, in order.
    pub fn for_range(&self, start: usize, n: usize, mut f: impl FnMut(&[u8])) {
        if start >= self.len {
            return;
        }
        let (k, j) = self.locate(start);
        let mut left = n;
        for (idx, node) in self.nodes.range(k..).enumerate() {
            let skip = if idx == 0 { j } else { 0 };
            for v in node.iter().skip(skip).take(left) {
                f(v);
                left -= 1;
            }
            if left == 0 {
                break;
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.nodes.iter().flat_map(Node::iter)
    }

    /// Remove the elements for which `remove(index, element)` is true; returns how many went.
    pub fn remove_where(&mut self, mut remove: impl FnMut(usize, &[u8]) -> bool) -> usize {
        let mut keep = |i: usize, v: &[u8]| !remove(i, v);
        let mut first = 0;
        let mut gone = 0;
        for n in self.nodes.iter_mut() {
            let before = n.len();
            gone += n.retain(first, &mut keep);
            first += before;
        }
        self.nodes.retain(|n| !n.is_empty());
        self.len -= gone;
        gone
    }

    /// Drop `k` elements from the head.
    pub fn drop_front(&mut self, mut k: usize) {
        k = k.min(self.len);
        self.len -= k;
        while k > 0 {
            let Some(n) = self.nodes.front_mut() else {
                break;
            };
            if n.len() <= k {
                k -= n.len();
                self.nodes.pop_front();
            } else {
                n.drop_front(k);
                k = 0;
            }
        }
    }

    /// Drop `k` elements from the tail.
    pub fn drop_back(&mut self, mut k: usize) {
        k = k.min(self.len);
        self.len -= k;
        while k > 0 {
            let Some(n) = self.nodes.back_mut() else {
                break;
            };
            if n.len() <= k {
                k -= n.len();
                self.nodes.pop_back();
            } else {
                n.drop_back(k);
                k = 0;
            }
        }
    }

    /// The head node's average entry size: a cheap guess at the whole list's.
    pub fn average_len(&self) -> usize {
        self.nodes.front().map_or(0, |n| n.bytes() / n.len().max(1))
    }

    /// Bytes held: the node buffers and their handles.
    pub fn mem_usage(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| n.capacity() + std::mem::size_of::<Node>())
            .sum::<usize>()
            + std::mem::size_of::<QuickList>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_respect_the_fill() {
        let mut q = QuickList::default();
        for i in 0..1000 {
            q.push_front(format!("{i:04}").as_bytes(), -1);
        }
        // 6 bytes an entry, at most 4096 bytes a node.
        assert!(q.nodes.iter().all(|n| n.bytes() <= 4096));
        assert_eq!(q.nodes.len(), 2);
        let mut c = QuickList::default();
        for i in 0..10 {
            c.push_back(&[i], 3);
        }
        assert_eq!(
            c.nodes.iter().map(|n| n.len()).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
        c.insert(1, b"x", 3);
        assert!(c.nodes.iter().all(|n| n.len() <= 3));
        let got: Vec<Vec<u8>> = c.iter().map(<[u8]>::to_vec).collect();
        assert_eq!(got[..3], [vec![0], b"x".to_vec(), vec![1]]);
    }
}
