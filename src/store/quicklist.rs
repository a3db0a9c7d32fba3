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

    /// The node at the head (`front`) or the tail.
    fn end_mut(&mut self, front: bool) -> Option<&mut Node> {
        if front {
            self.nodes.front_mut()
        } else {
            self.nodes.back_mut()
        }
    }

    /// Add `n` at the head (`front`) or the tail, or take the node there away (None).
    fn set_end(&mut self, front: bool, n: Option<Node>) {
        match (front, n) {
            (true, Some(n)) => self.nodes.push_front(n),
            (false, Some(n)) => self.nodes.push_back(n),
            (true, None) => drop(self.nodes.pop_front()),
            (false, None) => drop(self.nodes.pop_back()),
        }
    }

    /// Push `v` at the head (`front`) or the tail.
    pub fn push(&mut self, v: &[u8], fill: i64, front: bool) {
        let lim = node_limits(fill);
        match self.end_mut(front) {
            Some(n) if n.takes(v.len(), lim) => n.push(v, lim.1, front),
            end => {
                // A node the chain moves past gives back its spare room.
                if let Some(n) = end {
                    n.fit();
                }
                let mut n = Node::default();
                n.push(v, lim.1, front);
                self.set_end(front, Some(n));
            }
        }
        self.len += 1;
    }

    /// Pop from the head (`front`) or the tail.
    pub fn pop(&mut self, front: bool) -> Option<Bytes> {
        let n = self.end_mut(front)?;
        let v = n.pop(front);
        if n.is_empty() {
            self.set_end(front, None);
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
            return self.push(v, fill, true);
        }
        if i >= self.len {
            return self.push(v, fill, false);
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
            (Some(true), _) => self.nodes[k - 1].push(v, lim.1, false),
            (_, true) => self.nodes[k].push(v, lim.1, true),
            _ => {
                let mut n = Node::default();
                n.push(v, lim.1, false);
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

    /// Drop `k` elements from the head (`front`) or the tail.
    pub fn discard(&mut self, k: usize, front: bool) {
        let mut k = k.min(self.len);
        self.len -= k;
        while k > 0 {
            let Some(n) = self.end_mut(front) else {
                break;
            };
            if n.len() <= k {
                k -= n.len();
                self.set_end(front, None);
            } else {
                n.discard(k, front);
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
            q.push(format!("{i:04}").as_bytes(), -1, true);
        }
        // 6 bytes an entry, at most 4096 bytes a node.
        assert!(q.nodes.iter().all(|n| n.bytes() <= 4096));
        assert_eq!(q.nodes.len(), 2);
        let mut c = QuickList::default();
        for i in 0..10 {
            c.push(&[i], 3, false);
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
