//! One packed run of list elements: a whole small list, or one node of a large list's chain
//! (`quicklist.rs`); the role of Redis's listpack.
//!
//! Entries are an element's length as a varint, its bytes, and the varint again reversed (a
//! listpack's backlen), so the node is walked from either end: RPOP finds the last entry
//! without scanning. The entries sit in the middle of the buffer with room on both sides, so a
//! push or pop at either end moves nothing but the element (a listpack prepend moves the
//! whole listpack); room runs out only now and then, and the entries are moved or the buffer
//! grown then.
//!
//! Offsets are `u32` in a small list (whose node the list's fill keeps under 64 KB), so that
//! the list stays as small as a `Vec` in the keyspace entry, and `usize` in a chain, whose
//! nodes may hold one element of any size.

use super::pack::{fit_capacity, size_class};
use crate::util::varint;
use bytes::Bytes;

/// The offset type of a node.
pub trait Idx: Copy + Default + std::fmt::Debug {
    fn get(self) -> usize;
    fn of(n: usize) -> Self;
}

impl Idx for u32 {
    #[inline]
    fn get(self) -> usize {
        self as usize
    }
    #[inline]
    fn of(n: usize) -> u32 {
        debug_assert!(n <= u32::MAX as usize);
        n as u32
    }
}

impl Idx for usize {
    #[inline]
    fn get(self) -> usize {
        self
    }
    #[inline]
    fn of(n: usize) -> usize {
        n
    }
}

/// Encoded size of an entry of `n` bytes: the length as a varint before and (reversed) after.
pub fn entry_size(n: usize) -> usize {
    2 * varint::len(n as u64) + n
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

/// `len` entries in `buf[head..tail]`.
#[derive(Debug, Clone, Default)]
pub struct Node<I: Idx = usize> {
    buf: Box<[u8]>,
    head: I,
    tail: I,
    len: I,
}

impl<I: Idx> PartialEq for Node<I> {
    fn eq(&self, other: &Node<I>) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<I: Idx> Node<I> {
    #[inline]
    pub fn len(&self) -> usize {
        self.len.get()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Encoded bytes in use.
    #[inline]
    pub fn bytes(&self) -> usize {
        self.tail.get() - self.head.get()
    }

    /// Bytes allocated.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    fn set(&mut self, head: usize, tail: usize, len: usize) {
        self.head = I::of(head);
        self.tail = I::of(tail);
        self.len = I::of(len);
    }

    /// Whether one more entry of `add` bytes keeps the node within `(entries, bytes)`.
    pub fn takes(&self, add: usize, (count, bytes): (usize, usize)) -> bool {
        self.len() < count && self.bytes() + entry_size(add) <= bytes
    }

    /// Room for `need` more bytes (a command's entries) at one end, allocated at once and to
    /// fit (a list built by one RPUSH then holds no spare room).
    pub fn reserve(&mut self, need: usize, front: bool, max: usize) {
        self.make_room(need, front, max, false);
    }

    /// Room for `need` more bytes before `head` (`front`) or after `tail`. Moves the entries
    /// when the buffer has room enough, else grows it (with `slack`, by an eighth past 512
    /// bytes, as `Pack` does; never past `max`, unless one entry alone is larger), leaving
    /// most of the spare room on the side that grows.
    fn make_room(&mut self, need: usize, front: bool, max: usize, slack: bool) {
        let (head, tail, cap) = (self.head.get(), self.tail.get(), self.buf.len());
        if (front && head >= need) || (!front && cap - tail >= need) {
            return;
        }
        let used = tail - head;
        let new_cap = if cap - used >= need + cap / 8 {
            cap
        } else {
            let want = used + need;
            let cap = if slack {
                fit_capacity(want)
            } else {
                size_class(want)
            };
            cap.min(max.max(want))
        };
        let spare = new_cap - used - need;
        let at = if front {
            need + spare - spare / 4
        } else {
            spare / 4
        };
        if new_cap == cap {
            self.buf.copy_within(head..tail, at);
        } else {
            let mut b = vec![0u8; new_cap].into_boxed_slice();
            b[at..at + used].copy_from_slice(&self.buf[head..tail]);
            self.buf = b;
        }
        self.set(at, at + used, self.len());
    }

    /// Give back the spare room (a node the chain has moved past, a list that shrank).
    pub fn fit(&mut self) {
        let (head, tail) = (self.head.get(), self.tail.get());
        if self.buf.len() > size_class(tail - head) {
            self.buf = self.buf[head..tail].into();
            self.set(0, tail - head, self.len());
        }
    }

    /// After a removal: give the room back once more than half the buffer is unused.
    fn maybe_shrink(&mut self) {
        if self.buf.len() > 2 * self.bytes() + 64 {
            self.fit();
        }
    }

    /// Push at the head (`front`) or the tail.
    pub fn push(&mut self, v: &[u8], max: usize, front: bool) {
        if front {
            self.push_front(v, max)
        } else {
            self.push_back(v, max)
        }
    }

    /// Pop from the head (`front`) or the tail.
    pub fn pop(&mut self, front: bool) -> Option<Bytes> {
        if front {
            self.pop_front()
        } else {
            self.pop_back()
        }
    }

    /// Remove `k` entries from the head (`front`) or the tail.
    pub fn discard(&mut self, k: usize, front: bool) {
        let k = k.min(self.len());
        let (mut head, mut tail) = (self.head.get(), self.tail.get());
        for _ in 0..k {
            if front {
                head = entry_from(&self.buf, head).2;
            } else {
                tail = entry_before(&self.buf, tail).0;
            }
        }
        self.set(head, tail, self.len() - k);
        self.maybe_shrink();
    }

    fn push_front(&mut self, v: &[u8], max: usize) {
        let need = entry_size(v.len());
        self.make_room(need, true, max, true);
        let head = self.head.get() - need;
        write_entry(&mut self.buf, head, v);
        self.set(head, self.tail.get(), self.len() + 1);
    }

    fn push_back(&mut self, v: &[u8], max: usize) {
        let need = entry_size(v.len());
        self.make_room(need, false, max, true);
        let tail = write_entry(&mut self.buf, self.tail.get(), v);
        self.set(self.head.get(), tail, self.len() + 1);
    }

    fn pop_front(&mut self) -> Option<Bytes> {
        if self.is_empty() {
            return None;
        }
        let (s, e, end) = entry_from(&self.buf, self.head.get());
        let v = Bytes::copy_from_slice(&self.buf[s..e]);
        self.set(end, self.tail.get(), self.len() - 1);
        self.maybe_shrink();
        Some(v)
    }

    fn pop_back(&mut self) -> Option<Bytes> {
        if self.is_empty() {
            return None;
        }
        let (start, s, e) = entry_before(&self.buf, self.tail.get());
        let v = Bytes::copy_from_slice(&self.buf[s..e]);
        self.set(self.head.get(), start, self.len() - 1);
        self.maybe_shrink();
        Some(v)
    }

    /// Entry `j`'s span (entry start, data start, data end, entry end), walking from the
    /// nearer end.
    fn span(&self, j: usize) -> (usize, usize, usize, usize) {
        let len = self.len();
        if j < len / 2 {
            let mut pos = self.head.get();
            for _ in 0..j {
                pos = entry_from(&self.buf, pos).2;
            }
            let (s, e, end) = entry_from(&self.buf, pos);
            (pos, s, e, end)
        } else {
            let mut end = self.tail.get();
            for _ in j + 1..len {
                end = entry_before(&self.buf, end).0;
            }
            let (start, s, e) = entry_before(&self.buf, end);
            (start, s, e, end)
        }
    }

    /// Entry `j`, if there is one.
    pub fn get(&self, j: usize) -> Option<&[u8]> {
        if j >= self.len() {
            return None;
        }
        let (_, s, e, _) = self.span(j);
        Some(&self.buf[s..e])
    }

    /// Where entry `j` starts (`tail` for `j >= len`).
    fn offset(&self, j: usize) -> usize {
        if j >= self.len() {
            self.tail.get()
        } else {
            self.span(j).0
        }
    }

    /// Insert `v` before entry `j` (`j >= len` appends), moving whichever side of it is
    /// shorter.
    pub fn insert(&mut self, j: usize, v: &[u8], max: usize) {
        let need = entry_size(v.len());
        let at = self.offset(j);
        let (head, tail) = (self.head.get(), self.tail.get());
        let at = if at - head < tail - at && head >= need {
            self.buf.copy_within(head..at, head - need);
            self.set(head - need, tail, self.len());
            at - need
        } else {
            let rel = at - head;
            self.make_room(need, false, max, true);
            let (head, tail) = (self.head.get(), self.tail.get());
            let at = head + rel;
            self.buf.copy_within(at..tail, at + need);
            self.set(head, tail + need, self.len());
            at
        };
        write_entry(&mut self.buf, at, v);
        self.len = I::of(self.len() + 1);
    }

    /// Remove entry `j` (< len), moving whichever side of it is shorter.
    pub fn remove(&mut self, j: usize) {
        let (start, _, _, end) = self.span(j);
        let (head, tail) = (self.head.get(), self.tail.get());
        let n = end - start;
        if start - head < tail - end {
            self.buf.copy_within(head..start, head + n);
            self.set(head + n, tail, self.len() - 1);
        } else {
            self.buf.copy_within(end..tail, start);
            self.set(head, tail - n, self.len() - 1);
        }
        self.maybe_shrink();
    }

    /// Entries `j..` as a node of their own; this one keeps `..j`.
    pub fn split_off(&mut self, j: usize) -> Node<I> {
        let at = self.offset(j);
        let tail = self.tail.get();
        let mut right = Node {
            buf: self.buf[at..tail].into(),
            ..Node::default()
        };
        right.set(0, tail - at, self.len() - j);
        self.set(self.head.get(), at, j);
        right
    }

    /// Keep the entries for which `keep(first + index, entry)` is true, compacted in place;
    /// returns how many went.
    pub fn retain(&mut self, first: usize, keep: &mut impl FnMut(usize, &[u8]) -> bool) -> usize {
        let head = self.head.get();
        let (mut r, mut w) = (head, head);
        let before = self.len();
        let mut len = before;
        for i in 0..before {
            let (s, e, end) = entry_from(&self.buf, r);
            if keep(first + i, &self.buf[s..e]) {
                self.buf.copy_within(r..end, w);
                w += end - r;
            } else {
                len -= 1;
            }
            r = end;
        }
        self.set(head, w, len);
        self.maybe_shrink();
        before - len
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            pos: self.head.get(),
            end: self.tail.get(),
        }
    }
}

pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Iterator for Iter<'a> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_the_same_from_either_end() {
        let mut n: Node = Node::default();
        let vals: Vec<Vec<u8>> = [0usize, 1, 127, 128, 300, 20_000]
            .iter()
            .map(|&k| vec![b'v'; k])
            .collect();
        for v in &vals {
            n.push(v, 1 << 20, false);
        }
        let fwd: Vec<&[u8]> = n.iter().collect();
        assert_eq!(fwd, vals.iter().map(|v| &v[..]).collect::<Vec<_>>());
        for (j, v) in vals.iter().enumerate() {
            assert_eq!(n.get(j), Some(&v[..]));
        }
        for v in vals.iter().rev() {
            assert_eq!(n.pop(false).as_deref(), Some(&v[..]));
        }
        assert!(n.is_empty());
    }

    #[test]
    fn a_small_list_node_is_as_small_as_a_vec() {
        assert_eq!(std::mem::size_of::<Node<u32>>(), 32);
        let mut n: Node<u32> = Node::default();
        n.push(b"abc", 8192, true);
        // One entry of 5 bytes: the smallest jemalloc class that holds it.
        assert_eq!(n.capacity(), 8);
        let vals: Vec<Vec<u8>> = (0..100).map(|i| format!("e{i}").into_bytes()).collect();
        n.reserve(vals.iter().map(|v| entry_size(v.len())).sum(), false, 8192);
        for v in &vals {
            n.push(v, 8192, false);
        }
        assert_eq!(n.capacity(), size_class(n.bytes()));
    }
}
