//! The list type. Small lists are one flat `Pack` (a listpack's role); past
//! `list-max-listpack-size` they become a chain of such packs, each within that limit (Redis's
//! quicklist of listpack nodes): a large list then costs a byte or two per element beyond its
//! payload, instead of a 32-byte handle and an allocation each.
//!
//! Redis 7.0 always reports "quicklist" for lists (its listpack-encoded lists arrived in 7.2),
//! so the change of representation is invisible to clients; it is not undone when a list
//! shrinks (a later push would only convert it again).

use super::pack::{entry_size, Pack};
use bytes::Bytes;
use std::collections::VecDeque;

/// The node chain is boxed so that a small list (and `Value`, and every keyspace entry) stays
/// small.
#[derive(Debug, Clone, PartialEq)]
pub enum List {
    Packed(Pack),
    Nodes(Box<Nodes>),
}

impl Default for List {
    fn default() -> Self {
        List::Packed(Pack::new())
    }
}

/// Packs in order, none empty, each within the fill limit (an element too large for any pack
/// gets one of its own), and the total element count.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Nodes {
    nodes: VecDeque<Pack>,
    len: usize,
}

/// Redis's SIZE_SAFETY_LIMIT: a count-limited node still stays under 8 KB.
const SAFETY_BYTES: usize = 8192;

/// Whether a pack of `len` entries and `bytes` encoded bytes may take one more entry of
/// `add` bytes under `list-max-listpack-size` (`fill`): > 0 counts entries, -1..-5 cap the
/// bytes at 4, 8, 16, 32, 64 KB.
fn fits(fill: i64, len: usize, bytes: usize, add: usize) -> bool {
    let total = bytes + entry_size(add);
    if fill >= 0 {
        (len as i64) < fill.max(1) && total <= SAFETY_BYTES
    } else {
        let shift = (-fill - 1).clamp(0, 4) as u32;
        total <= 4096usize << shift
    }
}

/// Bytes a node of a chain holds at most (unless one element alone is larger): smaller than
/// the fill limit allows, because a pack is walked from its front, so popping its last element
/// or editing its head costs a walk or a move of the whole node. At 1 KB that stays a few
/// hundred nanoseconds, and the 32 bytes a node costs stay about 3%.
const NODE_BYTES: usize = 1024;

/// Whether a node of a chain may take one more entry of `add` bytes.
fn node_fits(fill: i64, p: &Pack, add: usize) -> bool {
    fits(fill, p.len(), p.bytes(), add) && p.bytes() + entry_size(add) <= NODE_BYTES
}

/// Whether a node is past its limits and should be split (one entry always stays).
fn over(fill: i64, p: &Pack) -> bool {
    p.len() > 1 && {
        let last = p.get(p.len() - 1).map_or(0, <[u8]>::len);
        let rest = p.bytes() - entry_size(last);
        !fits(fill, p.len() - 1, rest, last) || p.bytes() > NODE_BYTES
    }
}

impl Nodes {
    /// Node and offset in it of element `i` (< len), walking from the nearer end.
    fn locate(&self, i: usize) -> (usize, usize) {
        if i < self.len / 2 {
            let mut at = i;
            for (n, p) in self.nodes.iter().enumerate() {
                if at < p.len() {
                    return (n, at);
                }
                at -= p.len();
            }
        } else {
            let mut from_end = self.len - i;
            for (n, p) in self.nodes.iter().enumerate().rev() {
                if from_end <= p.len() {
                    return (n, p.len() - from_end);
                }
                from_end -= p.len();
            }
        }
        (self.nodes.len().saturating_sub(1), 0)
    }

    /// Split node `n` until every part is within the fill limit.
    fn normalize(&mut self, n: usize, fill: i64) {
        let mut n = n;
        while self.nodes.get(n).is_some_and(|p| over(fill, p)) {
            let p = &mut self.nodes[n];
            let half = p.len() / 2;
            let tail: Pack = p.iter().skip(half).collect();
            p.remove_range(half, p.len() - half);
            self.nodes.insert(n + 1, tail);
            if !self.nodes.get(n).is_some_and(|p| over(fill, p)) {
                n += 1;
            }
        }
    }

    fn push_back(&mut self, v: &[u8], fill: i64) {
        match self.nodes.back_mut() {
            Some(p) if node_fits(fill, p, v.len()) => p.push_back(v),
            _ => self.nodes.push_back([v].iter().collect()),
        }
        self.len += 1;
    }

    fn push_front(&mut self, v: &[u8], fill: i64) {
        match self.nodes.front_mut() {
            Some(p) if node_fits(fill, p, v.len()) => p.insert(0, v),
            _ => self.nodes.push_front([v].iter().collect()),
        }
        self.len += 1;
    }

    fn insert(&mut self, i: usize, v: &[u8], fill: i64) {
        if i >= self.len {
            return self.push_back(v, fill);
        }
        if i == 0 {
            return self.push_front(v, fill);
        }
        let (n, off) = self.locate(i);
        self.nodes[n].insert(off, v);
        self.len += 1;
        self.normalize(n, fill);
    }

    fn set(&mut self, i: usize, v: &[u8], fill: i64) {
        if i < self.len {
            let (n, off) = self.locate(i);
            self.nodes[n].replace(off, v);
            self.normalize(n, fill);
        }
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (n, off) = self.locate(i);
        self.nodes[n].get(off)
    }

    fn pop_front(&mut self) -> Option<Bytes> {
        let p = self.nodes.front_mut()?;
        let v = p.pop_front();
        if p.is_empty() {
            self.nodes.pop_front();
        }
        self.len -= v.is_some() as usize;
        v
    }

    fn pop_back(&mut self) -> Option<Bytes> {
        let p = self.nodes.back_mut()?;
        let v = p.pop_back();
        if p.is_empty() {
            self.nodes.pop_back();
        }
        self.len -= v.is_some() as usize;
        v
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.nodes.iter().flat_map(Pack::iter)
    }

    /// Calls `f` on `n` elements from `start` on, in order, node by node.
    fn for_range(&self, start: usize, mut n: usize, mut f: impl FnMut(&[u8])) {
        if start >= self.len {
            return;
        }
        let (first, mut skip) = self.locate(start);
        for p in self.nodes.range(first..) {
            for v in p.iter().skip(skip).take(n) {
                f(v);
                n -= 1;
            }
            if n == 0 {
                return;
            }
            skip = 0;
        }
    }

    fn remove_where(&mut self, mut remove: impl FnMut(usize, &[u8]) -> bool) -> usize {
        let mut base = 0;
        let mut removed = 0;
        for p in self.nodes.iter_mut() {
            let n = p.len();
            removed += p.retain(|i, v| !remove(base + i, v));
            base += n;
        }
        self.nodes.retain(|p| !p.is_empty());
        self.len -= removed;
        removed
    }

    /// Drop `n` elements from the front.
    fn drop_front(&mut self, mut n: usize) {
        self.len -= n.min(self.len);
        while n > 0 {
            let Some(p) = self.nodes.front_mut() else {
                return;
            };
            if p.len() <= n {
                n -= p.len();
                self.nodes.pop_front();
            } else {
                p.remove_range(0, n);
                n = 0;
            }
        }
    }

    /// Drop `n` elements from the back.
    fn drop_back(&mut self, mut n: usize) {
        self.len -= n.min(self.len);
        while n > 0 {
            let Some(p) = self.nodes.back_mut() else {
                return;
            };
            if p.len() <= n {
                n -= p.len();
                self.nodes.pop_back();
            } else {
                let k = p.len() - n;
                p.remove_range(k, n);
                n = 0;
            }
        }
    }

    fn mem_usage(&self) -> usize {
        self.nodes.iter().map(|p| p.bytes() + 32).sum::<usize>() + 64
    }
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        match self {
            List::Packed(p) => p.len(),
            List::Nodes(d) => d.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Switch to nodes if one more element of `add` bytes would not fit the pack.
    fn make_room(&mut self, fill: i64, add: usize) {
        if let List::Packed(p) = self {
            if !fits(fill, p.len(), p.bytes(), add) {
                self.convert_to_nodes(fill);
            }
        }
    }

    /// The pack, cut into the nodes of a chain.
    fn convert_to_nodes(&mut self, fill: i64) {
        if let List::Packed(p) = self {
            let mut d = Nodes::default();
            for v in p.iter() {
                d.push_back(v, fill);
            }
            *self = List::Nodes(Box::new(d));
        }
    }

    pub fn push_back(&mut self, v: &[u8], fill: i64) {
        self.make_room(fill, v.len());
        match self {
            List::Packed(p) => p.push_back(v),
            List::Nodes(d) => d.push_back(v, fill),
        }
    }

    pub fn push_front(&mut self, v: &[u8], fill: i64) {
        self.make_room(fill, v.len());
        match self {
            List::Packed(p) => p.insert(0, v),
            List::Nodes(d) => d.push_front(v, fill),
        }
    }

    /// Insert before index `i` (`i == len` appends).
    pub fn insert(&mut self, i: usize, v: &[u8], fill: i64) {
        self.make_room(fill, v.len());
        match self {
            List::Packed(p) => p.insert(i, v),
            List::Nodes(d) => d.insert(i, v, fill),
        }
    }

    pub fn pop_front(&mut self) -> Option<Bytes> {
        match self {
            List::Packed(p) => p.pop_front(),
            List::Nodes(d) => d.pop_front(),
        }
    }

    pub fn pop_back(&mut self) -> Option<Bytes> {
        match self {
            List::Packed(p) => p.pop_back(),
            List::Nodes(d) => d.pop_back(),
        }
    }

    pub fn get(&self, i: usize) -> Option<Bytes> {
        match self {
            List::Packed(p) => p.get(i).map(Bytes::copy_from_slice),
            List::Nodes(d) => d.get(i).map(Bytes::copy_from_slice),
        }
    }

    /// Replace element `i` (which must exist).
    pub fn set(&mut self, i: usize, v: &[u8], fill: i64) {
        if let List::Packed(p) = self {
            let old = p.get(i).map_or(0, |o| entry_size(o.len()));
            if !fits(fill, p.len().saturating_sub(1), p.bytes() - old, v.len()) {
                self.convert_to_nodes(fill);
            }
        }
        match self {
            List::Packed(p) => p.replace(i, v),
            List::Nodes(d) => d.set(i, v, fill),
        }
    }

    /// Elements `start..=end` (indexes already clamped by the caller).
    #[cfg(test)]
    pub fn range(&self, start: usize, end: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.for_range(start, end, |v| out.push(Bytes::copy_from_slice(v)));
        out
    }

    /// Calls `f` on elements `start..=end` in order (indexes already clamped by the caller),
    /// without copying them out.
    pub fn for_range(&self, start: usize, end: usize, f: impl FnMut(&[u8])) {
        if start > end || start >= self.len() {
            return;
        }
        let n = end - start + 1;
        match self {
            List::Packed(p) => p.iter().skip(start).take(n).for_each(f),
            List::Nodes(d) => d.for_range(start, n, f),
        }
    }

    /// All elements, head to tail.
    pub fn iter(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match self {
            List::Packed(p) => Box::new(p.iter()),
            List::Nodes(d) => Box::new(d.iter()),
        }
    }

    /// Remove the elements for which `remove` returns true (visited head to tail, with their
    /// index); returns how many went.
    pub fn remove_where(&mut self, mut remove: impl FnMut(usize, &[u8]) -> bool) -> usize {
        match self {
            List::Packed(p) => p.retain(|i, v| !remove(i, v)),
            List::Nodes(d) => d.remove_where(remove),
        }
    }

    /// Keep only `start..=end` (empty when start > end).
    pub fn trim(&mut self, start: usize, end: usize) {
        let len = self.len();
        if start > end || start >= len {
            *self = List::new();
            return;
        }
        let end = end.min(len - 1);
        match self {
            List::Packed(p) => {
                p.remove_range(end + 1, len - end - 1);
                p.remove_range(0, start);
            }
            List::Nodes(d) => {
                d.drop_back(len - end - 1);
                d.drop_front(start);
            }
        }
    }

    /// Approximate bytes used, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        match self {
            List::Packed(p) => p.bytes() + 32,
            List::Nodes(d) => d.mem_usage(),
        }
    }
}

/// The commands that rebuild `l` at `key`, for AOF rewrite: RPUSH with at most
/// `AOF_REWRITE_ITEMS_PER_CMD` elements each.
// Called by the AOF rewrite (persistence work in progress); SADD's twin is already used.
pub fn rewrite_commands(key: &[u8], l: &List, out: &mut Vec<Vec<Bytes>>) {
    let items: Vec<&[u8]> = l.iter().collect();
    for chunk in items.chunks(super::AOF_REWRITE_ITEMS_PER_CMD) {
        let mut cmd = Vec::with_capacity(chunk.len() + 2);
        cmd.push(Bytes::from_static(b"RPUSH"));
        cmd.push(Bytes::copy_from_slice(key));
        cmd.extend(chunk.iter().map(|v| Bytes::copy_from_slice(v)));
        out.push(cmd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        PushBack(Vec<u8>),
        PushFront(Vec<u8>),
        PopBack,
        PopFront,
        Insert(usize, Vec<u8>),
        Set(usize, Vec<u8>),
        RemoveEq(Vec<u8>),
        Trim(usize, usize),
    }

    fn val() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => proptest::collection::vec(b'a'..b'd', 0..3),
            1 => proptest::collection::vec(any::<u8>(), 100..400),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            val().prop_map(Op::PushBack),
            val().prop_map(Op::PushFront),
            Just(Op::PopBack),
            Just(Op::PopFront),
            (0..40usize, val()).prop_map(|(i, v)| Op::Insert(i, v)),
            (0..40usize, val()).prop_map(|(i, v)| Op::Set(i, v)),
            val().prop_map(Op::RemoveEq),
            (0..40usize, 0..40usize).prop_map(|(a, b)| Op::Trim(a, b)),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_deque(ops in proptest::collection::vec(op(), 0..120), fill in prop_oneof![Just(-1i64), Just(-2), Just(3), Just(128)]) {
            let mut l = List::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for o in ops {
                match o {
                    Op::PushBack(v) => { l.push_back(&v, fill); m.push_back(v); }
                    Op::PushFront(v) => { l.push_front(&v, fill); m.push_front(v); }
                    Op::PopBack => prop_assert_eq!(l.pop_back().map(|b| b.to_vec()), m.pop_back()),
                    Op::PopFront => prop_assert_eq!(l.pop_front().map(|b| b.to_vec()), m.pop_front()),
                    Op::Insert(i, v) => {
                        let i = i.min(m.len());
                        l.insert(i, &v, fill);
                        m.insert(i, v);
                    }
                    Op::Set(i, v) => if i < m.len() {
                        l.set(i, &v, fill);
                        m[i] = v;
                    },
                    Op::RemoveEq(v) => {
                        let before = m.len();
                        m.retain(|x| *x != v);
                        prop_assert_eq!(l.remove_where(|_, x| x == v.as_slice()), before - m.len());
                    }
                    Op::Trim(a, b) => {
                        l.trim(a, b);
                        if a > b || a >= m.len() {
                            m.clear();
                        } else {
                            m.truncate(b + 1);
                            m.drain(..a);
                        }
                    }
                }
                prop_assert_eq!(l.len(), m.len());
                if let List::Nodes(d) = &l {
                    // The chain's invariants: no empty node, each within the fill (or alone),
                    // counts adding up.
                    prop_assert!(d.nodes.iter().all(|p| !p.is_empty() && !over(fill, p)));
                    prop_assert_eq!(d.nodes.iter().map(Pack::len).sum::<usize>(), d.len);
                }
                let got: Vec<Vec<u8>> = l.iter().map(|v| v.to_vec()).collect();
                let want: Vec<Vec<u8>> = m.iter().cloned().collect();
                prop_assert_eq!(got, want);
                if !m.is_empty() {
                    let r: Vec<Vec<u8>> = l.range(1, m.len() + 3).iter().map(|b| b.to_vec()).collect();
                    prop_assert_eq!(&r, &m.iter().skip(1).cloned().collect::<Vec<_>>());
                    let mut f = Vec::new();
                    l.for_range(1, m.len() + 3, |v| f.push(v.to_vec()));
                    prop_assert_eq!(f, r);
                    prop_assert_eq!(l.get(m.len() - 1).map(|b| b.to_vec()), m.back().cloned());
                }
            }
        }
    }

    #[test]
    fn large_lists_are_chains_of_packs() {
        let mut l = List::new();
        for i in 0..10_000 {
            l.push_back(format!("e{i}").as_bytes(), -2);
        }
        let List::Nodes(d) = &l else {
            panic!("still one pack");
        };
        // 1 KB nodes of 5-6 byte entries: about 180 elements a node.
        assert!((50..=70).contains(&d.nodes.len()), "{}", d.nodes.len());
        assert_eq!(l.get(5000).as_deref(), Some(&b"e5000"[..]));
        l.insert(5000, b"x", -2);
        l.set(0, &[b'y'; 9000], -2);
        assert_eq!(l.get(0).map(|b| b.len()), Some(9000));
        assert_eq!(l.get(5001).as_deref(), Some(&b"e5000"[..]));
        l.trim(1, 9000);
        assert_eq!(l.len(), 9000);
        assert_eq!(l.get(0).as_deref(), Some(&b"e1"[..]));
    }

    #[test]
    fn converts_past_the_fill() {
        let mut l = List::new();
        for _ in 0..3 {
            l.push_back(b"x", 3);
        }
        assert!(matches!(l, List::Packed(_)));
        l.push_back(b"x", 3);
        assert!(matches!(l, List::Nodes(_)));
        let mut out = Vec::new();
        let mut big = List::new();
        for i in 0..130 {
            big.push_back(i.to_string().as_bytes(), -2);
        }
        rewrite_commands(b"k", &big, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].len(), 66);
        assert_eq!(out[2].len(), 4);
    }
}
