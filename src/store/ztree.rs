//! The order of a large sorted set: an order-statistic B+tree of (score, member id) items.
//!
//! Leaves keep up to 64 items with their scores side by side, so a descent compares f64s held
//! in a few cache lines and reads a member (through `Members`) only on a score tie; a skiplist
//! touches one scattered node per step instead. Inner nodes keep, per child, the first item of
//! its subtree (the separator) and its item count, which gives O(log n) rank, select by rank
//! and range bounds. Nodes below a quarter full after a removal merge with, or borrow from, a
//! neighbour; a split of a full leaf at its end keeps the left one full, so a set built in
//! order (a load, ZUNIONSTORE) is packed.

/// Where the tree reads the member of an id (the set's member slab).
pub trait Members {
    fn member(&self, id: u32) -> &[u8];
}

#[cfg(not(test))]
const LEAF_CAP: usize = 64;
#[cfg(not(test))]
const INNER_CAP: usize = 32;
// Small nodes under test, so that short operation sequences build deep trees and reach every
// split, merge and borrow.
#[cfg(test)]
const LEAF_CAP: usize = 8;
#[cfg(test)]
const INNER_CAP: usize = 8;

/// (score, id) strictly before (score, member).
#[inline]
fn before<M: Members + ?Sized>(keys: &M, s: f64, id: u32, score: f64, member: &[u8]) -> bool {
    s < score || (s == score && keys.member(id) < member)
}

/// (score, id) at or before (score, member).
#[inline]
fn at_or_before<M: Members + ?Sized>(keys: &M, s: f64, id: u32, score: f64, member: &[u8]) -> bool {
    s < score || (s == score && keys.member(id) <= member)
}

#[derive(Clone, Debug)]
struct Leaf {
    len: usize,
    scores: [f64; LEAF_CAP],
    ids: [u32; LEAF_CAP],
}

impl Leaf {
    fn new() -> Box<Leaf> {
        Box::new(Leaf {
            len: 0,
            scores: [0.0; LEAF_CAP],
            ids: [0; LEAF_CAP],
        })
    }

    /// How many items satisfy `pred`, which holds for a prefix.
    #[inline]
    fn partition(&self, pred: impl Fn(f64, u32) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if pred(self.scores[mid], self.ids[mid]) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn insert_at(&mut self, p: usize, score: f64, id: u32) {
        self.scores.copy_within(p..self.len, p + 1);
        self.ids.copy_within(p..self.len, p + 1);
        self.scores[p] = score;
        self.ids[p] = id;
        self.len += 1;
    }

    fn remove_at(&mut self, p: usize) -> (f64, u32) {
        let out = (self.scores[p], self.ids[p]);
        self.scores.copy_within(p + 1..self.len, p);
        self.ids.copy_within(p + 1..self.len, p);
        self.len -= 1;
        out
    }

    /// Move items `from..len` to a new leaf.
    fn split_off(&mut self, from: usize) -> Box<Leaf> {
        let mut r = Leaf::new();
        let n = self.len - from;
        r.scores[..n].copy_from_slice(&self.scores[from..self.len]);
        r.ids[..n].copy_from_slice(&self.ids[from..self.len]);
        r.len = n;
        self.len = from;
        r
    }

    /// Append the items of `r[from..to]`.
    fn append(&mut self, r: &Leaf, from: usize, to: usize) {
        let n = to - from;
        self.scores[self.len..self.len + n].copy_from_slice(&r.scores[from..to]);
        self.ids[self.len..self.len + n].copy_from_slice(&r.ids[from..to]);
        self.len += n;
    }
}

#[derive(Clone, Debug)]
struct Inner {
    /// First item of each child's subtree; entry 0 is not consulted (and may be stale).
    scores: [f64; INNER_CAP],
    ids: [u32; INNER_CAP],
    /// Items under each child.
    counts: [u32; INNER_CAP],
    kids: Vec<Node>,
}

impl Inner {
    fn new() -> Box<Inner> {
        Box::new(Inner {
            scores: [0.0; INNER_CAP],
            ids: [0; INNER_CAP],
            counts: [0; INNER_CAP],
            kids: Vec::with_capacity(INNER_CAP),
        })
    }

    fn total(&self) -> usize {
        self.counts[..self.kids.len()]
            .iter()
            .map(|&c| c as usize)
            .sum()
    }

    /// The child whose range holds what `le` is about: `le(separator)` must hold for a prefix
    /// of the separators (those at or before the sought item).
    #[inline]
    fn child_for(&self, le: impl Fn(f64, u32) -> bool) -> usize {
        let (mut lo, mut hi) = (1, self.kids.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if le(self.scores[mid], self.ids[mid]) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo - 1
    }

    /// The child holding 0-based position `rank`, and the rank within it.
    #[inline]
    fn child_at(&self, mut rank: usize) -> (usize, usize) {
        let last = self.kids.len() - 1;
        let mut i = 0;
        while i < last && rank >= self.counts[i] as usize {
            rank -= self.counts[i] as usize;
            i += 1;
        }
        (i, rank)
    }

    fn before_child(&self, i: usize) -> usize {
        self.counts[..i].iter().map(|&c| c as usize).sum()
    }

    fn set_sep(&mut self, i: usize, (s, id): (f64, u32)) {
        self.scores[i] = s;
        self.ids[i] = id;
    }

    /// Insert child `kid` (first item `sep`, `count` items) at position `i`; the node has room.
    fn insert_kid(&mut self, i: usize, sep: (f64, u32), count: usize, kid: Node) {
        let n = self.kids.len();
        self.scores.copy_within(i..n, i + 1);
        self.ids.copy_within(i..n, i + 1);
        self.counts.copy_within(i..n, i + 1);
        self.set_sep(i, sep);
        self.counts[i] = count as u32;
        self.kids.insert(i, kid);
    }

    fn remove_kid(&mut self, i: usize) -> ((f64, u32), u32, Node) {
        let n = self.kids.len();
        let out = (
            (self.scores[i], self.ids[i]),
            self.counts[i],
            self.kids.remove(i),
        );
        self.scores.copy_within(i + 1..n, i);
        self.ids.copy_within(i + 1..n, i);
        self.counts.copy_within(i + 1..n, i);
        out
    }

    /// Move children `from..` to a new node.
    fn split_off(&mut self, from: usize) -> Box<Inner> {
        let mut r = Inner::new();
        let n = self.kids.len();
        r.scores[..n - from].copy_from_slice(&self.scores[from..n]);
        r.ids[..n - from].copy_from_slice(&self.ids[from..n]);
        r.counts[..n - from].copy_from_slice(&self.counts[from..n]);
        r.kids = self.kids.split_off(from);
        r
    }

    /// After a removal under child `i` (`fc`: its first item changed): keep every child at
    /// least a quarter full by merging with or borrowing from a neighbour, and keep the
    /// separators exact. Returns whether this node's first item changed.
    fn fix(&mut self, mut i: usize, mut fc: bool) -> bool {
        if self.kids[i].is_under() && self.kids.len() > 1 {
            let (l, r) = if i + 1 < self.kids.len() {
                (i, i + 1)
            } else {
                (i - 1, i)
            };
            if self.kids[l].width() + self.kids[r].width() <= self.kids[l].cap() {
                self.merge(l, r);
            } else {
                self.redistribute(l, r);
                let first = self.kids[r].first();
                self.set_sep(r, first);
            }
            if r == i {
                // The removal was in the right one; the left one's first item stays.
                i = l;
                fc = false;
            }
        }
        if fc && i > 0 {
            let first = self.kids[i].first();
            self.set_sep(i, first);
        }
        fc && i == 0
    }

    /// Append child `r` to child `l` (its left neighbour) and drop `r`.
    fn merge(&mut self, l: usize, r: usize) {
        let (_, count, right) = self.remove_kid(r);
        self.counts[l] += count;
        match (&mut self.kids[l], right) {
            (Node::Leaf(a), Node::Leaf(b)) => a.append(&b, 0, b.len),
            (Node::Inner(a), Node::Inner(mut b)) => {
                let first = b.kids[0].first();
                b.set_sep(0, first);
                let n = b.kids.len();
                let at = a.kids.len();
                a.scores[at..at + n].copy_from_slice(&b.scores[..n]);
                a.ids[at..at + n].copy_from_slice(&b.ids[..n]);
                a.counts[at..at + n].copy_from_slice(&b.counts[..n]);
                a.kids.append(&mut b.kids);
            }
            // Siblings are at the same depth, hence of the same kind.
            _ => unreachable!("siblings of different kinds"),
        }
    }

    /// Even out children `l` and `r` (neighbours, together over one node's capacity).
    fn redistribute(&mut self, l: usize, r: usize) {
        let (left, right) = self.kids.split_at_mut(r);
        match (&mut left[l], &mut right[0]) {
            (Node::Leaf(a), Node::Leaf(b)) => {
                let half = (a.len + b.len) / 2;
                if a.len > half {
                    let moved = a.split_off(half);
                    let mut nb = moved;
                    nb.append(b, 0, b.len);
                    **b = *nb;
                } else {
                    let take = half - a.len;
                    a.append(b, 0, take);
                    let rest = b.split_off(take);
                    **b = *rest;
                }
            }
            (Node::Inner(a), Node::Inner(b)) => {
                let first = b.kids[0].first();
                b.set_sep(0, first);
                let half = (a.kids.len() + b.kids.len()) / 2;
                if a.kids.len() > half {
                    let mut moved = a.split_off(half);
                    let n = b.kids.len();
                    let at = moved.kids.len();
                    moved.scores[at..at + n].copy_from_slice(&b.scores[..n]);
                    moved.ids[at..at + n].copy_from_slice(&b.ids[..n]);
                    moved.counts[at..at + n].copy_from_slice(&b.counts[..n]);
                    moved.kids.append(&mut b.kids);
                    *b = moved;
                } else {
                    let take = half - a.kids.len();
                    let rest = b.split_off(take);
                    let at = a.kids.len();
                    a.scores[at..at + take].copy_from_slice(&b.scores[..take]);
                    a.ids[at..at + take].copy_from_slice(&b.ids[..take]);
                    a.counts[at..at + take].copy_from_slice(&b.counts[..take]);
                    a.kids.append(&mut b.kids);
                    *b = rest;
                }
            }
            _ => unreachable!("siblings of different kinds"),
        }
        let (cl, cr) = (self.kids[l].size(), self.kids[r].size());
        self.counts[l] = cl as u32;
        self.counts[r] = cr as u32;
    }
}

#[derive(Clone, Debug)]
enum Node {
    Leaf(Box<Leaf>),
    Inner(Box<Inner>),
}

impl Node {
    fn size(&self) -> usize {
        match self {
            Node::Leaf(l) => l.len,
            Node::Inner(n) => n.total(),
        }
    }

    /// Items in a leaf, children in an inner node.
    fn width(&self) -> usize {
        match self {
            Node::Leaf(l) => l.len,
            Node::Inner(n) => n.kids.len(),
        }
    }

    fn cap(&self) -> usize {
        match self {
            Node::Leaf(_) => LEAF_CAP,
            Node::Inner(_) => INNER_CAP,
        }
    }

    fn is_under(&self) -> bool {
        self.width() < self.cap() / 4
    }

    /// The first item of the subtree (which is never empty below the root).
    fn first(&self) -> (f64, u32) {
        let mut n = self;
        loop {
            match n {
                Node::Leaf(l) => return (l.scores[0], l.ids[0]),
                Node::Inner(i) => n = &i.kids[0],
            }
        }
    }

    /// Insert an item not present; returns the new right sibling when the node split.
    fn insert<M: Members + ?Sized>(
        &mut self,
        keys: &M,
        score: f64,
        id: u32,
        member: &[u8],
    ) -> Option<((f64, u32), Node)> {
        match self {
            Node::Leaf(l) => {
                let p = l.partition(|s, x| before(keys, s, x, score, member));
                if l.len < LEAF_CAP {
                    l.insert_at(p, score, id);
                    return None;
                }
                // Full: an insert at the end starts a new leaf (ordered loads stay packed),
                // any other splits in halves.
                let mut r = if p == LEAF_CAP {
                    Leaf::new()
                } else {
                    l.split_off(LEAF_CAP / 2)
                };
                if p <= l.len && p < LEAF_CAP {
                    l.insert_at(p, score, id);
                } else {
                    r.insert_at(p - l.len, score, id);
                }
                Some(((r.scores[0], r.ids[0]), Node::Leaf(r)))
            }
            Node::Inner(n) => {
                let i = n.child_for(|s, x| before(keys, s, x, score, member));
                n.counts[i] += 1;
                let (sep, right) = n.kids[i].insert(keys, score, id, member)?;
                let rc = right.size();
                n.counts[i] -= rc as u32;
                let at = i + 1;
                if n.kids.len() < INNER_CAP {
                    n.insert_kid(at, sep, rc, right);
                    return None;
                }
                // Always in halves: a child below a quarter full is mended through its
                // parent, which must then have a neighbour for it.
                let mut r = n.split_off(INNER_CAP / 2);
                if at <= n.kids.len() {
                    n.insert_kid(at, sep, rc, right);
                } else {
                    let k = at - n.kids.len();
                    r.insert_kid(k, sep, rc, right);
                }
                let first = (r.scores[0], r.ids[0]);
                Some((first, Node::Inner(r)))
            }
        }
    }

    /// Remove (score, member): its id, and whether the subtree's first item changed.
    fn remove<M: Members + ?Sized>(
        &mut self,
        keys: &M,
        score: f64,
        member: &[u8],
    ) -> Option<(u32, bool)> {
        match self {
            Node::Leaf(l) => {
                let p = l.partition(|s, x| before(keys, s, x, score, member));
                if p < l.len && l.scores[p] == score && keys.member(l.ids[p]) == member {
                    let (_, id) = l.remove_at(p);
                    Some((id, p == 0))
                } else {
                    None
                }
            }
            Node::Inner(n) => {
                let i = n.child_for(|s, x| at_or_before(keys, s, x, score, member));
                let (id, fc) = n.kids[i].remove(keys, score, member)?;
                n.counts[i] -= 1;
                Some((id, n.fix(i, fc)))
            }
        }
    }

    /// Remove the item at 0-based position `rank` (< size): it, and whether the first changed.
    fn remove_rank(&mut self, rank: usize) -> ((f64, u32), bool) {
        match self {
            Node::Leaf(l) => (l.remove_at(rank), rank == 0),
            Node::Inner(n) => {
                let (i, r) = n.child_at(rank);
                let (item, fc) = n.kids[i].remove_rank(r);
                n.counts[i] -= 1;
                (item, n.fix(i, fc))
            }
        }
    }
}

/// The tree.
#[derive(Clone, Debug)]
pub struct Tree {
    root: Node,
    len: usize,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree::new()
    }
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            root: Node::Leaf(Leaf::new()),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Insert `id` (whose member `keys` knows) at `score`; (score, member) must be absent.
    pub fn insert<M: Members + ?Sized>(&mut self, keys: &M, score: f64, id: u32) {
        let member = keys.member(id);
        if let Some((sep, right)) = self.root.insert(keys, score, id, member) {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Leaf::new()));
            let mut top = Inner::new();
            let (lc, rc) = (left.size(), right.size());
            top.insert_kid(0, left.first(), lc, left);
            top.insert_kid(1, sep, rc, right);
            self.root = Node::Inner(top);
        }
        self.len += 1;
    }

    /// Remove (score, member), returning its id.
    pub fn remove<M: Members + ?Sized>(
        &mut self,
        keys: &M,
        score: f64,
        member: &[u8],
    ) -> Option<u32> {
        let (id, _) = self.root.remove(keys, score, member)?;
        self.len -= 1;
        self.shrink_root();
        Some(id)
    }

    /// Remove the item at 0-based position `rank`.
    pub fn remove_rank(&mut self, rank: usize) -> Option<(f64, u32)> {
        if rank >= self.len {
            return None;
        }
        let (item, _) = self.root.remove_rank(rank);
        self.len -= 1;
        self.shrink_root();
        Some(item)
    }

    /// A root left with one child gives way to it.
    fn shrink_root(&mut self) {
        while let Node::Inner(n) = &mut self.root {
            if n.kids.len() != 1 {
                break;
            }
            if let Some(kid) = n.kids.pop() {
                self.root = kid;
            }
        }
    }

    /// The item at 0-based position `rank`.
    pub fn get(&self, mut rank: usize) -> Option<(f64, u32)> {
        if rank >= self.len {
            return None;
        }
        let mut n = &self.root;
        loop {
            match n {
                Node::Leaf(l) => return Some((l.scores[rank], l.ids[rank])),
                Node::Inner(i) => {
                    let (k, r) = i.child_at(rank);
                    rank = r;
                    n = &i.kids[k];
                }
            }
        }
    }

    /// The ids of the (up to) two items at one end that share the end leaf: the next pops.
    pub fn ends(&self, last: bool) -> [Option<u32>; 2] {
        let mut n = &self.root;
        loop {
            match n {
                Node::Leaf(l) => {
                    let at = |i: usize| (i < l.len).then(|| l.ids[i]);
                    return if last {
                        let k = l.len;
                        [k.checked_sub(1).and_then(at), k.checked_sub(2).and_then(at)]
                    } else {
                        [at(0), at(1)]
                    };
                }
                Node::Inner(i) => {
                    n = if last {
                        &i.kids[i.kids.len() - 1]
                    } else {
                        &i.kids[0]
                    }
                }
            }
        }
    }

    /// 0-based position of (score, member), if present.
    pub fn rank<M: Members + ?Sized>(&self, keys: &M, score: f64, member: &[u8]) -> Option<usize> {
        let mut n = &self.root;
        let mut base = 0;
        loop {
            match n {
                Node::Leaf(l) => {
                    let p = l.partition(|s, x| before(keys, s, x, score, member));
                    return (p < l.len && l.scores[p] == score && keys.member(l.ids[p]) == member)
                        .then_some(base + p);
                }
                Node::Inner(i) => {
                    let k = i.child_for(|s, x| at_or_before(keys, s, x, score, member));
                    base += i.before_child(k);
                    n = &i.kids[k];
                }
            }
        }
    }

    /// How many items, from the first, satisfy `pred` (which holds for a prefix of the order).
    pub fn count_while(&self, pred: impl Fn(f64, u32) -> bool) -> usize {
        let mut n = &self.root;
        let mut base = 0;
        loop {
            match n {
                Node::Leaf(l) => return base + l.partition(&pred),
                Node::Inner(i) => {
                    // The boundary lies in the last child whose first item satisfies `pred`.
                    let k = i.child_for(&pred);
                    base += i.before_child(k);
                    n = &i.kids[k];
                }
            }
        }
    }

    /// A cursor at 0-based position `rank` (None past the end).
    pub fn cursor(&self, mut rank: usize) -> Option<Cursor<'_>> {
        if rank >= self.len {
            return None;
        }
        let mut stack = Vec::new();
        let mut n = &self.root;
        loop {
            match n {
                Node::Leaf(l) => {
                    return Some(Cursor {
                        stack,
                        leaf: l,
                        pos: rank,
                    })
                }
                Node::Inner(i) => {
                    let (k, r) = i.child_at(rank);
                    stack.push((&**i, k));
                    rank = r;
                    n = &i.kids[k];
                }
            }
        }
    }

    /// Check the invariants (tests): order, counts, separators, fill.
    #[cfg(test)]
    pub fn check<M: Members + ?Sized>(&self, keys: &M) {
        fn walk(
            n: &Node,
            root: bool,
            depth: usize,
            leaf_depth: &mut Option<usize>,
            out: &mut Vec<(f64, u32)>,
        ) {
            if !root {
                assert!(n.width() > 0);
            }
            match n {
                Node::Leaf(l) => {
                    assert_eq!(*leaf_depth.get_or_insert(depth), depth);
                    for p in 0..l.len {
                        out.push((l.scores[p], l.ids[p]));
                    }
                }
                Node::Inner(i) => {
                    assert!(root || !i.kids.is_empty());
                    for (k, kid) in i.kids.iter().enumerate() {
                        assert_eq!(i.counts[k] as usize, kid.size());
                        if k > 0 {
                            let (s, id) = kid.first();
                            assert_eq!(i.scores[k].to_bits(), s.to_bits());
                            assert_eq!(i.ids[k], id);
                        }
                        walk(kid, false, depth + 1, leaf_depth, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, true, 0, &mut None, &mut out);
        assert_eq!(out.len(), self.len);
        for w in out.windows(2) {
            let (a, b) = (w[0], w[1]);
            assert!(before(keys, a.0, a.1, b.0, keys.member(b.1)));
        }
    }
}

/// A position in the tree that moves forwards or backwards.
pub struct Cursor<'a> {
    stack: Vec<(&'a Inner, usize)>,
    leaf: &'a Leaf,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn get(&self) -> (f64, u32) {
        (self.leaf.scores[self.pos], self.leaf.ids[self.pos])
    }

    /// Step to the next item; false at the end (the cursor is then spent).
    pub fn advance(&mut self) -> bool {
        if self.pos + 1 < self.leaf.len {
            self.pos += 1;
            return true;
        }
        while let Some((n, k)) = self.stack.pop() {
            if k + 1 < n.kids.len() {
                self.stack.push((n, k + 1));
                self.descend(&n.kids[k + 1], false);
                return true;
            }
        }
        false
    }

    /// Step to the previous item; false at the start (the cursor is then spent).
    pub fn retreat(&mut self) -> bool {
        if self.pos > 0 {
            self.pos -= 1;
            return true;
        }
        while let Some((n, k)) = self.stack.pop() {
            if k > 0 {
                self.stack.push((n, k - 1));
                self.descend(&n.kids[k - 1], true);
                return true;
            }
        }
        false
    }

    /// Go down to the first (or last) item of a subtree.
    fn descend(&mut self, mut n: &'a Node, last: bool) {
        loop {
            match n {
                Node::Leaf(l) => {
                    self.leaf = l;
                    self.pos = if last { l.len.saturating_sub(1) } else { 0 };
                    return;
                }
                Node::Inner(i) => {
                    let k = if last { i.kids.len() - 1 } else { 0 };
                    self.stack.push((i, k));
                    n = &i.kids[k];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Members are the ids' decimal text, padded: id order is member order.
    struct Names(Vec<Vec<u8>>);
    impl Members for Names {
        fn member(&self, id: u32) -> &[u8] {
            &self.0[id as usize]
        }
    }

    fn names(n: usize) -> Names {
        Names((0..n).map(|i| format!("m{i:05}").into_bytes()).collect())
    }

    /// Model: (score as ordered integer, id).
    fn check_against(t: &Tree, keys: &Names, model: &BTreeSet<(i64, u32)>) {
        t.check(keys);
        let items: Vec<_> = model.iter().copied().collect();
        assert_eq!(t.len(), items.len());
        for (r, &(s, id)) in items.iter().enumerate() {
            assert_eq!(t.get(r), Some((s as f64, id)));
            assert_eq!(t.rank(keys, s as f64, keys.member(id)), Some(r));
        }
        // Forwards and backwards walks.
        if let Some(mut c) = t.cursor(0) {
            let mut got = vec![c.get()];
            while c.advance() {
                got.push(c.get());
            }
            let want: Vec<_> = items.iter().map(|&(s, id)| (s as f64, id)).collect();
            assert_eq!(got, want);
            let mut c = t.cursor(items.len() - 1).unwrap();
            let mut back = vec![c.get()];
            while c.retreat() {
                back.push(c.get());
            }
            back.reverse();
            assert_eq!(back, want);
        }
        for bound in [-1i64, 0, 3, 7, 100] {
            let want = items.iter().filter(|&&(s, _)| s < bound).count();
            assert_eq!(t.count_while(|s, _| s < bound as f64), want);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32, i64),
        Remove(u32),
        RemoveRank(usize),
    }

    fn op(ids: u32) -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => (0..ids, 0i64..8).prop_map(|(i, s)| Op::Insert(i, s)),
            3 => (0..ids).prop_map(Op::Remove),
            1 => (0usize..3000).prop_map(Op::RemoveRank),
        ]
    }

    #[test]
    fn ordered_load_is_packed_and_walks() {
        let keys = names(20_000);
        let mut t = Tree::new();
        let mut model = BTreeSet::new();
        for id in 0..20_000u32 {
            t.insert(&keys, (id / 3) as f64, id);
            model.insert(((id / 3) as i64, id));
        }
        check_against(&t, &keys, &model);
        // Full leaves: 20000 / 64 of them, rounded up.
        let mut leaves = 0;
        let mut stack = vec![&t.root];
        while let Some(n) = stack.pop() {
            match n {
                Node::Leaf(_) => leaves += 1,
                Node::Inner(i) => stack.extend(i.kids.iter()),
            }
        }
        assert_eq!(leaves, 20_000usize.div_ceil(LEAF_CAP));
        // Drain from the front, the middle and by key.
        for r in [0usize, 5000, 9000] {
            for _ in 0..3000 {
                let (s, id) = t.remove_rank(r).unwrap();
                assert!(model.remove(&(s as i64, id)));
            }
            check_against(&t, &keys, &model);
        }
        for id in (0..20_000u32).step_by(2) {
            let s = (id / 3) as i64;
            let got = t.remove(&keys, s as f64, keys.member(id));
            assert_eq!(got.is_some(), model.remove(&(s, id)));
        }
        check_against(&t, &keys, &model);
        while t.remove_rank(0).is_some() {}
        assert_eq!(t.len(), 0);
        t.check(&keys);
    }

    type Scores = std::collections::HashMap<u32, i64>;

    fn apply(
        t: &mut Tree,
        keys: &Names,
        model: &mut BTreeSet<(i64, u32)>,
        sc: &mut Scores,
        op: &Op,
    ) {
        match *op {
            Op::Insert(id, s) => {
                if let std::collections::hash_map::Entry::Vacant(e) = sc.entry(id) {
                    e.insert(s);
                    model.insert((s, id));
                    t.insert(keys, s as f64, id);
                }
            }
            Op::Remove(id) => {
                let cur = sc.remove(&id);
                if let Some(s) = cur {
                    model.remove(&(s, id));
                }
                let s = cur.unwrap_or(3);
                assert_eq!(t.remove(keys, s as f64, keys.member(id)), cur.map(|_| id));
            }
            Op::RemoveRank(r) => {
                let want = model.iter().nth(r).copied();
                if let Some(w) = want {
                    model.remove(&w);
                    sc.remove(&w.1);
                }
                assert_eq!(t.remove_rank(r), want.map(|(s, id)| (s as f64, id)));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_a_btreeset(ops in prop::collection::vec(op(3000), 0..4000)) {
            let keys = names(3000);
            let mut t = Tree::new();
            let mut model = BTreeSet::new();
            let mut sc = Scores::new();
            for (k, op) in ops.iter().enumerate() {
                apply(&mut t, &keys, &mut model, &mut sc, op);
                if k % 50 == 49 {
                    check_against(&t, &keys, &model);
                }
            }
            check_against(&t, &keys, &model);
        }
    }
}
