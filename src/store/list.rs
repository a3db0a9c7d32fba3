//! The list type. A small list is one packed node (`listnode.rs`, a listpack's role); past
//! `list-max-listpack-size` it becomes a chain of them (`quicklist.rs`, a quicklist's).
//!
//! Redis 7.0 always reports "quicklist" for lists (its listpack-encoded lists arrived in 7.2),
//! so the change of representation is invisible to clients; it is not undone when a list
//! shrinks (a later push would only convert it again).

use super::listnode::{entry_size, Node};
use super::quicklist::{node_limits, QuickList};
use bytes::Bytes;

/// The chain is boxed so that a small list (and `Value`, and every keyspace entry) stays small.
#[derive(Debug, Clone, PartialEq)]
pub enum List {
    Packed(Node<u32>),
    Chain(Box<QuickList>),
}

impl Default for List {
    fn default() -> Self {
        List::Packed(Node::default())
    }
}

/// Whether a small list of `len` entries and `bytes` encoded bytes may take one more entry
/// of `add` bytes under `list-max-listpack-size` (`fill`): the limits of one chain node (so a
/// small list stays under 64 KB, and `u32` offsets serve it).
fn fits(fill: i64, len: usize, bytes: usize, add: usize) -> bool {
    let (count, max) = node_limits(fill);
    len < count && bytes + entry_size(add) <= max
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        match self {
            List::Packed(p) => p.len(),
            List::Chain(q) => q.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Switch to the chain if one more element of `add` bytes would not fit the node.
    fn make_room(&mut self, fill: i64, add: usize) {
        if let List::Packed(p) = self {
            if !fits(fill, p.len(), p.bytes(), add) {
                self.convert_to_chain(fill);
            }
        }
    }

    fn convert_to_chain(&mut self, fill: i64) {
        if let List::Packed(p) = self {
            let mut q = QuickList::default();
            for v in p.iter() {
                q.push(v, fill, false);
            }
            *self = List::Chain(Box::new(q));
        }
    }

    /// Room for a command's `values`, pushed at one end, in one allocation where the list is
    /// still one node and they fit it.
    pub fn reserve(&mut self, values: &[Bytes], front: bool, fill: i64) {
        if let List::Packed(p) = self {
            let (count, max) = node_limits(fill);
            let add: usize = values.iter().map(|v| entry_size(v.len())).sum();
            if p.len() + values.len() <= count && p.bytes() + add <= max {
                p.reserve(add, front, max);
            }
        }
    }

    pub fn push_back(&mut self, v: &[u8], fill: i64) {
        self.make_room(fill, v.len());
        match self {
            List::Packed(p) => p.push(v, node_limits(fill).1, false),
            List::Chain(q) => q.push(v, fill, false),
        }
    }

    pub fn push_front(&mut self, v: &[u8], fill: i64) {
        self.make_room(fill, v.len());
        match self {
            List::Packed(p) => p.push(v, node_limits(fill).1, true),
            List::Chain(q) => q.push(v, fill, true),
        }
    }

    /// Insert before index `i` (`i == len` appends).
    pub fn insert(&mut self, i: usize, v: &[u8], fill: i64) {
        self.make_room(fill, v.len());
        match self {
            List::Packed(p) => p.insert(i, v, node_limits(fill).1),
            List::Chain(q) => q.insert(i, v, fill),
        }
    }

    pub fn pop_front(&mut self) -> Option<Bytes> {
        match self {
            List::Packed(p) => p.pop(true),
            List::Chain(q) => q.pop(true),
        }
    }

    pub fn pop_back(&mut self) -> Option<Bytes> {
        match self {
            List::Packed(p) => p.pop(false),
            List::Chain(q) => q.pop(false),
        }
    }

    pub fn get(&self, i: usize) -> Option<Bytes> {
        match self {
            List::Packed(p) => p.get(i),
            List::Chain(q) => q.get(i),
        }
        .map(Bytes::copy_from_slice)
    }

    /// Replace element `i` (which must exist).
    pub fn set(&mut self, i: usize, v: &[u8], fill: i64) {
        if let List::Packed(p) = self {
            let old = p.get(i).map_or(0, |o| entry_size(o.len()));
            if !fits(fill, p.len().saturating_sub(1), p.bytes() - old, v.len()) {
                self.convert_to_chain(fill);
            }
        }
        match self {
            List::Packed(p) => {
                if i < p.len() {
                    p.remove(i);
                    p.insert(i, v, node_limits(fill).1);
                }
            }
            List::Chain(q) => {
                if i < q.len() {
                    q.remove(i);
                    q.insert(i, v, fill);
                }
            }
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
            List::Chain(q) => q.for_range(start, n, f),
        }
    }

    /// All elements, head to tail.
    pub fn iter(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match self {
            List::Packed(p) => Box::new(p.iter()),
            List::Chain(q) => Box::new(q.iter()),
        }
    }

    /// Remove the elements for which `remove` returns true (visited head to tail, with their
    /// index); returns how many went.
    pub fn remove_where(&mut self, mut remove: impl FnMut(usize, &[u8]) -> bool) -> usize {
        match self {
            List::Packed(p) => p.retain(0, &mut |i, v| !remove(i, v)),
            List::Chain(q) => q.remove_where(remove),
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
                p.discard(len - end - 1, false);
                p.discard(start, true);
            }
            List::Chain(q) => {
                q.discard(len - end - 1, false);
                q.discard(start, true);
            }
        }
    }

    /// About how long an element is (encoding included), to size replies.
    pub fn average_len(&self) -> usize {
        match self {
            List::Packed(p) => p.bytes() / p.len().max(1),
            List::Chain(q) => q.average_len(),
        }
    }

    /// Approximate bytes used, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        match self {
            List::Packed(p) => p.capacity() + 32,
            List::Chain(q) => q.mem_usage(),
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
    use std::collections::VecDeque;

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
    fn converts_past_the_fill() {
        let mut l = List::new();
        for _ in 0..3 {
            l.push_back(b"x", 3);
        }
        assert!(matches!(l, List::Packed(_)));
        l.push_back(b"x", 3);
        assert!(matches!(l, List::Chain(_)));
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
