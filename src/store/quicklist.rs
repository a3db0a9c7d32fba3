//! Large lists: a chain of nodes, each a buffer of packed entries (the shape of Redis's
//! quicklist of listpacks).
//!
//! Why not a deque of byte strings: that costs a heap allocation and a 32-byte handle per
//! element, and LPUSH/RPUSH spent their time in the allocator and in page faults. Here an
//! element of a few bytes costs its bytes plus two, and a push only copies it into place.
//!
//! Each node keeps its entries in the middle of its buffer with room on both sides, so pushes
//! and pops at either end move nothing (a listpack prepend moves the whole node). Entries carry
//! their length at both ends (a listpack's backlen), so a node can be walked from its tail.

use crate::util::varint;
use bytes::Bytes;
use std::collections::VecDeque;

/// Redis's SIZE_SAFETY_LIMIT: a count-limited node still stays under 8 KB.
const SAFETY_BYTES: usize = 8192;

/// The smallest buffer a node starts with.
const MIN_CAP: usize = 64;

/// Encoded size of an entry of `n` bytes: the length as a varint before and (reversed) after.
pub fn entry_size(n: usize) -> usize {
    2 * varint::len(n as u64) + n
}

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

fn encode_len(n: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    let mut n = n as u64;
    let mut k = 0;
    while n >= 0x80 {
        h[k] = (n as u8) | 0x80;
        n >>= 7;
        k += 1;
    }
    h[k] = n as u8;
    (h, k + 1)
}

/// Write `v` as an entry at `at` (room already made); returns where it ends.
fn write_entry(buf: &mut [u8], at: usize, v: &[u8]) -> usize {
    let (h, k) = encode_len(v.len());
    buf[at..at + k].copy_from_slice(&h[..k]);
    let mut p = at + k;
    buf[p..p + v.len()].copy_from_slice(v);
    p += v.len();
    // Reversed, so that reading back from the entry's end meets the low bits first.
    for &b in h[..k].iter().rev() {
        buf[p] = b;
        p += 1;
    }
    p
}

/// The entry starting at `pos`: (data start, data end, entry end). Nodes are only written by
/// this module, so entries are whole.
#[inline]
fn entry_from(buf: &[u8], pos: usize) -> (usize, usize, usize) {
    let mut p = pos;
    let n = varint::get(buf, &mut p) as usize;
    (p, p + n, p + n + (p - pos))
}

/// The entry ending at `end`: (entry start, data start, data end).
#[inline]
fn entry_before(buf: &[u8], end: usize) -> (usize, usize, usize) {
    let mut p = end;
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        p -= 1;
        let b = buf[p];
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let hdr = end - p;
    (p - n - hdr, p - n, p)
}

/// One node: `len` entries in `buf[head..tail]`.
#[derive(Debug, Clone, Default)]
struct Node {
    buf: Box<[u8]>,
    head: usize,
    tail: usize,
    len: usize,
}

impl Node {
    fn bytes(&self) -> usize {
        self.tail - self.head
    }

    /// Whether one more entry of `add` bytes keeps the node within `limits`.
    fn takes(&self, add: usize, (count, bytes): (usize, usize)) -> bool {
        self.len < count && self.bytes() + entry_size(add) <= bytes
    }

    /// Room for `need` more bytes before `head` (`front`) or after `tail`. Moves the entries
    /// to the middle when the buffer has room enough, else grows it (never past `max`, unless
    /// one entry alone is larger), leaving most of the spare room on the side that grows.
    fn make_room(&mut self, need: usize, front: bool, max: usize) {
        let cap = self.buf.len();
        if (front && self.head >= need) || (!front && cap - self.tail >= need) {
            return;
        }
        let used = self.bytes();
        let new_cap = if cap - used >= need + cap / 4 {
            cap
        } else {
            (cap * 2)
                .max(used + need)
                .max(MIN_CAP)
                .min(max.max(used + need))
        };
        let spare = new_cap - used - need;
        let head = if front {
            need + spare - spare / 4
        } else {
            spare / 4
        };
        if new_cap == cap {
            self.buf.copy_within(self.head..self.tail, head);
        } else {
            let mut b = vec![0u8; new_cap].into_boxed_slice();
            b[head..head + used].copy_from_slice(&self.buf[self.head..self.tail]);
            self.buf = b;
        }
        self.head = head;
        self.tail = head + used;
    }

    /// Give back the spare room (a node that the chain has moved past).
    fn fit(&mut self) {
        if self.buf.len() > self.bytes() + 16 {
            self.buf = self.buf[self.head..self.tail].into();
            self.tail -= self.head;
            self.head = 0;
        }
    }

    fn push_front(&mut self, v: &[u8], max: usize) {
        let need = entry_size(v.len());
        self.make_room(need, true, max);
        self.head -= need;
        write_entry(&mut self.buf, self.head, v);
        self.len += 1;
    }

    fn push_back(&mut self, v: &[u8], max: usize) {
        let need = entry_size(v.len());
        self.make_room(need, false, max);
        self.tail = write_entry(&mut self.buf, self.tail, v);
        self.len += 1;
    }

    fn pop_front(&mut self) -> Option<Bytes> {
        if self.len == 0 {
            return None;
        }
        let (s, e, end) = entry_from(&self.buf, self.head);
        let v = Bytes::copy_from_slice(&self.buf[s..e]);
        self.head = end;
        self.len -= 1;
        Some(v)
    }

    fn pop_back(&mut self) -> Option<Bytes> {
        if self.len == 0 {
            return None;
        }
        let (start, s, e) = entry_before(&self.buf, self.tail);
        let v = Bytes::copy_from_slice(&self.buf[s..e]);
        self.tail = start;
        self.len -= 1;
        Some(v)
    }

    /// Entry `j`'s span (entry start, data start, data end, entry end), walking from the
    /// nearer end.
    fn span(&self, j: usize) -> (usize, usize, usize, usize) {
        if j < self.len / 2 {
            let mut pos = self.head;
            for _ in 0..j {
                pos = entry_from(&self.buf, pos).2;
            }
            let (s, e, end) = entry_from(&self.buf, pos);
            (pos, s, e, end)
        } else {
            let mut end = self.tail;
            for _ in j + 1..self.len {
                end = entry_before(&self.buf, end).0;
            }
            let (start, s, e) = entry_before(&self.buf, end);
            (start, s, e, end)
        }
    }

    fn get(&self, j: usize) -> &[u8] {
        let (_, s, e, _) = self.span(j);
        &self.buf[s..e]
    }

    /// Where entry `j` starts (`tail` for `j == len`).
    fn offset(&self, j: usize) -> usize {
        if j >= self.len {
            self.tail
        } else {
            self.span(j).0
        }
    }

    /// Insert `v` before entry `j`, moving whichever side of it is shorter.
    fn insert(&mut self, j: usize, v: &[u8], max: usize) {
        let need = entry_size(v.len());
        let at = self.offset(j);
        let at = if at - self.head < self.tail - at && self.head >= need {
            self.buf.copy_within(self.head..at, self.head - need);
            self.head -= need;
            at - need
        } else {
            let rel = at - self.head;
            self.make_room(need, false, max);
            let at = self.head + rel;
            self.buf.copy_within(at..self.tail, at + need);
            self.tail += need;
            at
        };
        write_entry(&mut self.buf, at, v);
        self.len += 1;
    }

    /// Remove entry `j`, moving whichever side of it is shorter.
    fn remove(&mut self, j: usize) {
        let (start, _, _, end) = self.span(j);
        let n = end - start;
        if start - self.head < self.tail - end {
            self.buf.copy_within(self.head..start, self.head + n);
            self.head += n;
        } else {
            self.buf.copy_within(end..self.tail, start);
            self.tail -= n;
        }
        self.len -= 1;
    }

    fn drop_front(&mut self, k: usize) {
        for _ in 0..k.min(self.len) {
            self.head = entry_from(&self.buf, self.head).2;
        }
        self.len -= k.min(self.len);
    }

    fn drop_back(&mut self, k: usize) {
        for _ in 0..k.min(self.len) {
            self.tail = entry_before(&self.buf, self.tail).0;
        }
        self.len -= k.min(self.len);
    }

    /// Entries `j..` as a node of their own; this node keeps `..j`.
    fn split_off(&mut self, j: usize) -> Node {
        let at = self.offset(j);
        let right = Node {
            buf: self.buf[at..self.tail].into(),
            head: 0,
            tail: self.tail - at,
            len: self.len - j,
        };
        self.tail = at;
        self.len = j;
        right
    }

    /// Keep the entries for which `keep(first + index, entry)` is true, compacted in place;
    /// returns how many went.
    fn retain(&mut self, first: usize, keep: &mut impl FnMut(usize, &[u8]) -> bool) -> usize {
        let (mut r, mut w) = (self.head, self.head);
        let before = self.len;
        for i in 0..before {
            let (s, e, end) = entry_from(&self.buf, r);
            if keep(first + i, &self.buf[s..e]) {
                self.buf.copy_within(r..end, w);
                w += end - r;
            } else {
                self.len -= 1;
            }
            r = end;
        }
        self.tail = w;
        before - self.len
    }

    fn iter(&self) -> NodeIter<'_> {
        NodeIter {
            buf: &self.buf,
            pos: self.head,
            end: self.tail,
        }
    }
}

struct NodeIter<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.end {
            return None;
        }
        let (s, e, end) = entry_from(self.buf, self.pos);
        self.pos = end;
        Some(&self.buf[s..e])
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
        if n.len == 0 {
            self.nodes.pop_front();
        }
        self.len -= v.is_some() as usize;
        v
    }

    pub fn pop_back(&mut self) -> Option<Bytes> {
        let n = self.nodes.back_mut()?;
        let v = n.pop_back();
        if n.len == 0 {
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
                if i < n.len {
                    return (k, i);
                }
                i -= n.len;
            }
        } else {
            let mut from_end = self.len - i;
            for (k, n) in self.nodes.iter().enumerate().rev() {
                if from_end <= n.len {
                    return (k, n.len - from_end);
                }
                from_end -= n.len;
            }
        }
        (self.nodes.len(), 0)
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (k, j) = self.locate(i);
        Some(self.nodes[k].get(j))
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
        if self.nodes[k].len == 0 {
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
            let before = n.len;
            gone += n.retain(first, &mut keep);
            first += before;
        }
        self.nodes.retain(|n| n.len > 0);
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
            if n.len <= k {
                k -= n.len;
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
            if n.len <= k {
                k -= n.len;
                self.nodes.pop_back();
            } else {
                n.drop_back(k);
                k = 0;
            }
        }
    }

    /// The head node's average entry size: a cheap guess at the whole list's.
    pub fn average_len(&self) -> usize {
        self.nodes.front().map_or(0, |n| n.bytes() / n.len.max(1))
    }

    /// Bytes held: the node buffers and their handles.
    pub fn mem_usage(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| n.buf.len() + std::mem::size_of::<Node>())
            .sum::<usize>()
            + std::mem::size_of::<QuickList>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_the_same_from_either_end() {
        let mut n = Node::default();
        let vals: Vec<Vec<u8>> = [0usize, 1, 127, 128, 300, 20_000]
            .iter()
            .map(|&k| vec![b'v'; k])
            .collect();
        for v in &vals {
            n.push_back(v, 1 << 20);
        }
        let fwd: Vec<&[u8]> = n.iter().collect();
        assert_eq!(fwd, vals.iter().map(|v| &v[..]).collect::<Vec<_>>());
        for (j, v) in vals.iter().enumerate() {
            assert_eq!(n.get(j), &v[..]);
        }
        for v in vals.iter().rev() {
            assert_eq!(n.pop_back().as_deref(), Some(&v[..]));
        }
        assert_eq!(n.len, 0);
    }

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
            c.nodes.iter().map(|n| n.len).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
        c.insert(1, b"x", 3);
        assert!(c.nodes.iter().all(|n| n.len <= 3));
        let got: Vec<Vec<u8>> = c.iter().map(<[u8]>::to_vec).collect();
        assert_eq!(got[..3], [vec![0], b"x".to_vec(), vec![1]]);
    }
}
