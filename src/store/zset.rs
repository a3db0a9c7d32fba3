//! Sorted sets: the value behind ZADD and its family (Redis 7.0 `t_zset.c`).
//!
//! Two encodings, as in Redis. Small sets are a flat `Vec` of (score, member) kept in order
//! (Redis's listpack: no allocation per element besides the member, linear member lookup,
//! binary search by position). Larger ones are a skiplist with spans (O(log n) insert, delete,
//! rank and range) next to a member → score map. A set moves to the skiplist when an insert
//! takes it past `zset-max-listpack-entries` members or adds a member longer than
//! `zset-max-listpack-value` bytes and, as in Redis, never moves back by itself; sets built
//! whole (ZUNIONSTORE, ZRANGESTORE …) get the encoding their final size calls for.
//!
//! Order is (score, member), members compared as bytes (memcmp, shorter first on a tie), which
//! is the order every range command observes. Scores are never NaN.

use bytes::Bytes;
use indexmap::map::raw_entry_v1::{RawEntryApiV1, RawEntryMut};
use indexmap::IndexMap;
use std::cmp::Ordering;

/// The listpack thresholds (`zset-max-listpack-entries`, `zset-max-listpack-value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackLimits {
    pub entries: usize,
    pub value: usize,
}

impl Default for PackLimits {
    fn default() -> Self {
        PackLimits {
            entries: 128,
            value: 64,
        }
    }
}

impl PackLimits {
    /// Whether a set of `len` members, the longest `max_member` bytes, is kept as a listpack.
    pub fn fits(&self, len: usize, max_member: usize) -> bool {
        len <= self.entries && max_member <= self.value
    }
}

/// A score interval as ZRANGEBYSCORE takes it: `(` makes a bound exclusive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// Ranges that can hold nothing whatever the set (Redis's zslIsInRange pre-test).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a ZRANGEBYLEX interval: `-` and `+` are the smallest and largest strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexVal {
    Min,
    Max,
    Str(Bytes),
}

/// A member interval as ZRANGEBYLEX takes it (`[a` inclusive, `(a` exclusive, `-`, `+`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexVal,
    pub max: LexVal,
    pub minex: bool,
    pub maxex: bool,
}

/// Redis's sdscmplex: the specials compare below/above everything, and equal to themselves.
fn lex_cmp(a: &LexVal, b: &LexVal) -> Ordering {
    match (a, b) {
        (LexVal::Min, LexVal::Min) | (LexVal::Max, LexVal::Max) => Ordering::Equal,
        (LexVal::Min, _) | (_, LexVal::Max) => Ordering::Less,
        (LexVal::Max, _) | (_, LexVal::Min) => Ordering::Greater,
        (LexVal::Str(x), LexVal::Str(y)) => x[..].cmp(&y[..]),
    }
}

fn member_cmp(m: &[u8], b: &LexVal) -> Ordering {
    match b {
        LexVal::Min => Ordering::Greater,
        LexVal::Max => Ordering::Less,
        LexVal::Str(s) => m.cmp(&s[..]),
    }
}

impl LexRange {
    pub fn gte_min(&self, m: &[u8]) -> bool {
        let c = member_cmp(m, &self.min);
        if self.minex {
            c == Ordering::Greater
        } else {
            c != Ordering::Less
        }
    }

    pub fn lte_max(&self, m: &[u8]) -> bool {
        let c = member_cmp(m, &self.max);
        if self.maxex {
            c == Ordering::Less
        } else {
            c != Ordering::Greater
        }
    }

    pub fn is_empty(&self) -> bool {
        match lex_cmp(&self.min, &self.max) {
            Ordering::Greater => true,
            Ordering::Equal => self.minex || self.maxex,
            Ordering::Less => false,
        }
    }
}

/// A sorted set.
#[derive(Clone, Debug)]
pub struct ZSet(Repr);

#[derive(Clone, Debug)]
enum Repr {
    /// (score, member) in order: Redis's listpack encoding.
    Pack(Vec<(f64, Bytes)>),
    /// Redis's skiplist encoding.
    Skip(Skip),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

impl PartialEq for ZSet {
    /// Same members with the same scores, whatever the encoding.
    fn eq(&self, other: &ZSet) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits())
    }
}

/// `(score, member)` strictly before `(score2, member2)`.
#[inline]
fn before(score: f64, member: &[u8], score2: f64, member2: &[u8]) -> bool {
    score < score2 || (score == score2 && member < member2)
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet(Repr::Pack(Vec::new()))
    }

    /// An empty set that will hold about `len` members, the longest `max_member` bytes: a
    /// skiplist from the start when that is where it would end up (Redis's zsetTypeCreate).
    pub fn with_hint(len: usize, max_member: usize, lim: PackLimits) -> ZSet {
        if lim.fits(len.max(1), max_member) {
            ZSet(Repr::Pack(Vec::with_capacity(len.min(lim.entries))))
        } else {
            ZSet(Repr::Skip(Skip::new()))
        }
    }

    /// A set from distinct (member, score) pairs in (score, member) order, encoded for its
    /// size (Redis's zsetConvertToListpackIfNeeded on a built result).
    pub fn from_sorted(items: Vec<(Bytes, f64)>, lim: PackLimits) -> ZSet {
        let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        if lim.fits(items.len(), longest) {
            ZSet(Repr::Pack(
                items.into_iter().map(|(m, s)| (pack_score(s), m)).collect(),
            ))
        } else {
            let mut s = Skip::new();
            for (m, score) in items {
                s.insert_new(m, score);
            }
            ZSet(Repr::Skip(s))
        }
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Pack(v) => v.len(),
            Repr::Skip(s) => s.map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Pack(_) => "listpack",
            Repr::Skip(_) => "skiplist",
        }
    }

    /// Approximate bytes used, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        match &self.0 {
            Repr::Pack(v) => 16 + v.iter().map(|(_, m)| m.len() + 10).sum::<usize>(),
            Repr::Skip(s) => 64 + s.map.len() * 120 + s.map.keys().map(|m| m.len()).sum::<usize>(),
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.0 {
            Repr::Pack(v) => v.iter().find(|(_, m)| m[..] == *member).map(|(s, _)| *s),
            Repr::Skip(s) => s.map.get(member).copied(),
        }
    }

    /// Add `member` or change its score. Returns true if it was added. The set converts to the
    /// skiplist first when the new member would break the listpack limits.
    #[cfg(test)]
    pub fn insert(&mut self, member: &[u8], score: f64, lim: PackLimits) -> bool {
        self.upsert(member, lim, |_| Some(score))
    }

    /// Look `member` up once and give it the score `decide` returns for its current one (None
    /// when absent), or leave the set as it is when `decide` returns None. A score equal to the
    /// current one changes nothing (-0 and 0 compare equal, as Redis's `score != curscore`).
    /// Returns true if the member was added; converts as `insert` does.
    pub fn upsert(
        &mut self,
        member: &[u8],
        lim: PackLimits,
        decide: impl FnOnce(Option<f64>) -> Option<f64>,
    ) -> bool {
        if let Repr::Pack(v) = &mut self.0 {
            if let Some(i) = v.iter().position(|(_, m)| m[..] == *member) {
                if let Some(score) = decide(Some(v[i].0)) {
                    debug_assert!(!score.is_nan());
                    if v[i].0 != score {
                        let (_, m) = v.remove(i);
                        pack_insert(v, score, m);
                    }
                }
                return false;
            }
            let Some(score) = decide(None) else {
                return false;
            };
            debug_assert!(!score.is_nan());
            if v.len() < lim.entries && member.len() <= lim.value {
                pack_insert(v, score, Bytes::copy_from_slice(member));
                return true;
            }
            self.convert_to_skip();
            if let Repr::Skip(s) = &mut self.0 {
                s.insert_new(Bytes::copy_from_slice(member), score);
            }
            return true;
        }
        match &mut self.0 {
            Repr::Skip(s) => s.upsert(member, decide),
            Repr::Pack(_) => false,
        }
    }

    /// Remove `member`, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.0 {
            Repr::Pack(v) => {
                let i = v.iter().position(|(_, m)| m[..] == *member)?;
                Some(v.remove(i).0)
            }
            Repr::Skip(s) => {
                let score = s.map.swap_remove(member)?;
                s.list.delete(score, member);
                Some(score)
            }
        }
    }

    /// 0-based position of `member` in (score, member) order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.0 {
            Repr::Pack(v) => v.iter().position(|(_, m)| m[..] == *member),
            Repr::Skip(s) => {
                let score = *s.map.get(member)?;
                s.list.rank(score, member).checked_sub(1)
            }
        }
    }

    /// The member at a 0-based position.
    #[cfg(test)]
    pub fn get(&self, rank: usize) -> Option<(&Bytes, f64)> {
        match &self.0 {
            Repr::Pack(v) => v.get(rank).map(|(s, m)| (m, *s)),
            Repr::Skip(s) => {
                let n = s.list.by_rank(rank + 1)?;
                let node = &s.list.nodes[n as usize];
                Some((&node.member, node.score))
            }
        }
    }

    /// How many members, from the first, satisfy `pred`; `pred` must hold for a prefix of the
    /// order and not after it (a position found by descent, not by scanning).
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.0 {
            Repr::Pack(v) => v.partition_point(|(s, m)| pred(*s, m)),
            Repr::Skip(s) => s.list.count_while(pred),
        }
    }

    /// Positions `[start, end)` of the members whose score is in `r`.
    pub fn score_span(&self, r: &ScoreRange) -> (usize, usize) {
        if r.is_empty() {
            return (0, 0);
        }
        let start = self.count_while(|s, _| !r.gte_min(s));
        let end = self.count_while(|s, _| r.lte_max(s));
        (start, end.max(start))
    }

    /// Positions `[start, end)` of the members in `r` (meaningful when all scores are equal).
    pub fn lex_span(&self, r: &LexRange) -> (usize, usize) {
        if r.is_empty() {
            return (0, 0);
        }
        let start = self.count_while(|_, m| !r.gte_min(m));
        let end = self.count_while(|_, m| r.lte_max(m));
        (start, end.max(start))
    }

    /// All members in order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0, false)
    }

    /// Members from position `rank` on: towards the end, or towards the start if `rev`.
    pub fn iter_from(&self, rank: usize, rev: bool) -> Iter<'_> {
        let len = self.len();
        let left = match (rank < len, rev) {
            (false, _) => 0,
            (true, false) => len - rank,
            (true, true) => rank + 1,
        };
        let pos = match &self.0 {
            _ if left == 0 => 0,
            Repr::Pack(_) => rank,
            Repr::Skip(s) => s.list.by_rank(rank + 1).unwrap_or(NIL) as usize,
        };
        Iter {
            repr: &self.0,
            pos,
            rev,
            left,
        }
    }

    /// Remove the members at positions `[start, end)`; returns them in order.
    pub fn remove_span(&mut self, start: usize, end: usize) -> Vec<(Bytes, f64)> {
        let end = end.min(self.len());
        if start >= end {
            return Vec::new();
        }
        match &mut self.0 {
            Repr::Pack(v) => v.drain(start..end).map(|(s, m)| (m, s)).collect(),
            Repr::Skip(s) => {
                let gone = s.list.delete_span(start, end);
                for (m, _) in &gone {
                    s.map.swap_remove(&m[..]);
                }
                gone
            }
        }
    }

    /// The member at a uniformly drawn position of the storage (position in order for a
    /// listpack, in the member map for a skiplist): O(1) random access for ZRANDMEMBER.
    pub fn slot(&self, i: usize) -> Option<(&Bytes, f64)> {
        match &self.0 {
            Repr::Pack(v) => v.get(i).map(|(s, m)| (m, *s)),
            Repr::Skip(s) => s.map.get_index(i).map(|(m, s)| (m, *s)),
        }
    }

    /// A uniformly random member.
    pub fn random(&self) -> Option<(&Bytes, f64)> {
        if self.is_empty() {
            return None;
        }
        self.slot(fastrand::usize(..self.len()))
    }

    /// One ZSCAN step: `pos` 0 starts, the return value is the next position (0 when done). A
    /// listpack is returned whole in one step, as Redis does. For a skiplist the member map is
    /// walked from its end towards 0: removal moves the last entry into the hole, so an entry
    /// not yet visited never moves and every member present throughout is returned.
    pub fn scan(&self, pos: usize, count: usize, mut f: impl FnMut(&Bytes, f64)) -> usize {
        match &self.0 {
            Repr::Pack(v) => {
                for (s, m) in v {
                    f(m, *s);
                }
                0
            }
            Repr::Skip(s) => {
                let len = s.map.len();
                let mut next = if pos == 0 { len } else { pos.min(len) };
                let mut visited = 0;
                while next > 0 && visited < count.max(1) {
                    if let Some((m, sc)) = s.map.get_index(next - 1) {
                        f(m, *sc);
                    }
                    next -= 1;
                    visited += 1;
                }
                next
            }
        }
    }

    /// Switch a listpack to the skiplist encoding.
    fn convert_to_skip(&mut self) {
        if let Repr::Pack(v) = &mut self.0 {
            let mut s = Skip::new();
            for (score, m) in std::mem::take(v) {
                s.insert_new(m, score);
            }
            self.0 = Repr::Skip(s);
        }
    }
}

/// A listpack stores an integral score as an integer, so -0 reads back as 0 there (a skiplist
/// keeps the sign, as Redis's does).
#[inline]
fn pack_score(s: f64) -> f64 {
    if s == 0.0 {
        0.0
    } else {
        s
    }
}

fn pack_insert(v: &mut Vec<(f64, Bytes)>, score: f64, member: Bytes) {
    let score = pack_score(score);
    let at = v.partition_point(|(s, m)| before(*s, m, score, &member));
    v.insert(at, (score, member));
}

/// Iterator over (member, score) from a position, forwards or backwards.
pub struct Iter<'a> {
    repr: &'a Repr,
    /// Index in the listpack, or node id in the skiplist.
    pos: usize,
    rev: bool,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Bytes, f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match self.repr {
            Repr::Pack(v) => {
                let (s, m) = v.get(self.pos)?;
                self.pos = if self.rev {
                    self.pos.wrapping_sub(1)
                } else {
                    self.pos + 1
                };
                Some((m, *s))
            }
            Repr::Skip(sk) => {
                let n = sk.list.nodes.get(self.pos)?;
                self.pos = if self.rev { n.back } else { n.links[0].next } as usize;
                Some((&n.member, n.score))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

// ---------------------------------------------------------------------------------------------
// Skiplist encoding

/// Skiplist plus member map. The map is insertion-ordered so that ZSCAN has a stable cursor
/// and ZRANDMEMBER O(1) uniform access.
#[derive(Clone, Debug)]
struct Skip {
    list: SkipList,
    map: IndexMap<Bytes, f64, ahash::RandomState>,
}

impl Skip {
    fn new() -> Skip {
        Skip {
            list: SkipList::new(),
            map: IndexMap::default(),
        }
    }

    /// Insert a member known to be absent.
    fn insert_new(&mut self, member: Bytes, score: f64) {
        self.list.insert(score, member.clone());
        self.map.insert(member, score);
    }

    /// `ZSet::upsert` for this encoding: one hash of the member for the lookup and the insert.
    fn upsert(&mut self, member: &[u8], decide: impl FnOnce(Option<f64>) -> Option<f64>) -> bool {
        let hash = self.map.hasher().hash_one(member);
        match self
            .map
            .raw_entry_mut_v1()
            .from_key_hashed_nocheck(hash, member)
        {
            RawEntryMut::Occupied(mut e) => {
                let cur = *e.get();
                if let Some(score) = decide(Some(cur)) {
                    debug_assert!(!score.is_nan());
                    if cur != score {
                        *e.get_mut() = score;
                        self.list.update_score(cur, member, score);
                    }
                }
                false
            }
            RawEntryMut::Vacant(e) => {
                let Some(score) = decide(None) else {
                    return false;
                };
                debug_assert!(!score.is_nan());
                let m = Bytes::copy_from_slice(member);
                self.list.insert(score, m.clone());
                e.insert_hashed_nocheck(hash, m, score);
                true
            }
        }
    }
}

const MAX_LEVEL: usize = 32;
/// No node (end of a level, or no predecessor).
const NIL: u32 = u32::MAX;
/// The header node's id.
const HEAD: u32 = 0;

#[derive(Clone, Copy, Debug)]
struct Link {
    next: u32,
    /// Positions crossed by following `next` (Redis's span), for rank arithmetic.
    span: u32,
    /// The score of `next` (meaningless when `next` is NIL). A descent compares against it
    /// where it stands instead of loading the next node: the nodes are scattered over memory
    /// and each load is a likely cache miss; the next node is only read on a score tie (for
    /// its member) or when the descent moves there.
    score: f64,
}

const NO_LINK: Link = Link {
    next: NIL,
    span: 0,
    score: 0.0,
};

/// Levels kept in the node itself (a node has more than 2 with probability 1/16): the descent
/// reads the links of a node in the same cache line as the node, not in an allocation of
/// their own.
const INLINE: usize = 3;

/// `repr(C)` keeps the links, read at every step of a descent, at the start.
#[repr(C)]
#[derive(Clone, Debug)]
struct Node {
    /// Levels `0..INLINE` (those past `lvl` unused).
    links: [Link; INLINE],
    /// Previous node on level 0; NIL for the first.
    back: u32,
    /// How many levels the node has.
    lvl: u32,
    score: f64,
    member: Bytes,
    /// Levels `INLINE..lvl` (empty, without allocation, for most nodes).
    upper: Box<[Link]>,
}

impl Node {
    fn new(score: f64, member: Bytes, back: u32, lvl: usize) -> Node {
        Node {
            links: [NO_LINK; INLINE],
            back,
            lvl: lvl as u32,
            score,
            member,
            upper: if lvl > INLINE {
                vec![NO_LINK; lvl - INLINE].into_boxed_slice()
            } else {
                Box::new([])
            },
        }
    }
}

/// Redis's zskiplist with nodes in an arena (ids instead of pointers; freed ids reused).
#[derive(Clone, Debug)]
struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    level: usize,
    len: usize,
    tail: u32,
}

impl SkipList {
    fn new() -> SkipList {
        let head = Node::new(0.0, Bytes::new(), NIL, MAX_LEVEL);
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            level: 1,
            len: 0,
            tail: NIL,
        }
    }

    #[inline]
    fn link(&self, x: u32, i: usize) -> Link {
        let n = &self.nodes[x as usize];
        if i < INLINE {
            n.links[i]
        } else {
            n.upper[i - INLINE]
        }
    }

    #[inline]
    fn link_mut(&mut self, x: u32, i: usize) -> &mut Link {
        let n = &mut self.nodes[x as usize];
        if i < INLINE {
            &mut n.links[i]
        } else {
            &mut n.upper[i - INLINE]
        }
    }

    /// Whether `l` leads to a node strictly before (score, member).
    #[inline]
    fn leads_before(&self, l: Link, score: f64, member: &[u8]) -> bool {
        l.next != NIL
            && (l.score < score
                || (l.score == score && self.nodes[l.next as usize].member[..] < *member))
    }

    #[inline]
    fn node(&self, x: u32) -> &Node {
        &self.nodes[x as usize]
    }

    /// Level of a new node: 1, then one more with probability 1/4 each (Redis's ZSKIPLIST_P).
    fn random_level() -> usize {
        let mut l = 1;
        while l < MAX_LEVEL && (fastrand::u32(..) & 0xFFFF) < 0xFFFF / 4 {
            l += 1;
        }
        l
    }

    fn alloc(&mut self, node: Node) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, x: u32) -> (f64, Bytes) {
        let n = &mut self.nodes[x as usize];
        let member = std::mem::take(&mut n.member);
        n.upper = Box::new([]);
        n.lvl = 0;
        self.free.push(x);
        (n.score, member)
    }

    /// The last node before (score, member) on each level.
    fn path(&self, score: f64, member: &[u8]) -> [u32; MAX_LEVEL] {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if self.leads_before(l, score, member) {
                    x = l.next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        update
    }

    /// zslInsert: (score, member) must not be present.
    fn insert(&mut self, score: f64, member: Bytes) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let l = self.link(x, i);
                if self.leads_before(l, score, &member) {
                    rank[i] += l.span;
                    x = l.next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let lvl = Self::random_level();
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                self.link_mut(HEAD, i).span = self.len as u32;
            }
            self.level = lvl;
        }
        let back = if update[0] == HEAD { NIL } else { update[0] };
        let id = self.alloc(Node::new(score, member, back, lvl));
        for i in 0..lvl {
            let u = self.link(update[i], i);
            let crossed = rank[0] - rank[i];
            *self.link_mut(id, i) = Link {
                next: u.next,
                span: u.span - crossed,
                score: u.score,
            };
            *self.link_mut(update[i], i) = Link {
                next: id,
                span: crossed + 1,
                score,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(lvl) {
            self.link_mut(u, i).span += 1;
        }
        let nx = self.link(id, 0).next;
        if nx != NIL {
            self.nodes[nx as usize].back = id;
        } else {
            self.tail = id;
        }
        self.len += 1;
    }

    /// zslDeleteNode: unlink `x`, whose predecessors per level are `update`.
    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let xl = if i < self.node(x).lvl as usize {
                Some(self.link(x, i))
            } else {
                None
            };
            let ul = self.link_mut(u, i);
            match xl {
                Some(xl) if ul.next == x => {
                    ul.span = ul.span + xl.span - 1;
                    ul.next = xl.next;
                    ul.score = xl.score;
                }
                _ => ul.span -= 1,
            }
        }
        let (nx, back) = (self.link(x, 0).next, self.node(x).back);
        if nx != NIL {
            self.nodes[nx as usize].back = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Delete (score, member) if present.
    fn delete(&mut self, score: f64, member: &[u8]) -> bool {
        let update = self.path(score, member);
        let x = self.link(update[0], 0).next;
        if x != NIL && self.node(x).score == score && self.node(x).member[..] == *member {
            self.unlink(x, &update);
            self.release(x);
            true
        } else {
            false
        }
    }

    /// zslUpdateScore: move (cur, member) to `score`, in place when the order allows.
    fn update_score(&mut self, cur: f64, member: &[u8], score: f64) {
        let update = self.path(cur, member);
        let x = self.link(update[0], 0).next;
        if x == NIL || self.node(x).member[..] != *member {
            return;
        }
        let back = self.node(x).back;
        let nx = self.link(x, 0).next;
        if (back == NIL || self.node(back).score < score)
            && (nx == NIL || self.node(nx).score > score)
        {
            self.nodes[x as usize].score = score;
            // The links into x, one per level of x, are those of its predecessors.
            for (i, &u) in update.iter().enumerate().take(self.node(x).lvl as usize) {
                self.link_mut(u, i).score = score;
            }
            return;
        }
        self.unlink(x, &update);
        let (_, m) = self.release(x);
        self.insert(score, m);
    }

    /// 1-based rank of (score, member), 0 if absent (zslGetRank).
    fn rank(&self, score: f64, member: &[u8]) -> usize {
        let mut rank = 0usize;
        let mut x = HEAD;
        // x's score: only a node with the score sought can be the one.
        let mut xscore = None;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next != NIL
                    && (l.score < score
                        || (l.score == score && self.node(l.next).member[..] <= *member))
                {
                    rank += l.span as usize;
                    x = l.next;
                    xscore = Some(l.score);
                } else {
                    break;
                }
            }
            if xscore == Some(score) && self.node(x).member[..] == *member {
                return rank;
            }
        }
        0
    }

    /// The node at a 1-based rank (zslGetElementByRank).
    fn by_rank(&self, rank: usize) -> Option<u32> {
        if rank == 0 || rank > self.len {
            return None;
        }
        let mut traversed = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next != NIL && traversed + l.span as usize <= rank {
                    traversed += l.span as usize;
                    x = l.next;
                } else {
                    break;
                }
            }
            if traversed == rank {
                return Some(x);
            }
        }
        None
    }

    /// Length of the prefix whose nodes satisfy `pred`.
    fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut rank = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next != NIL && pred(l.score, &self.node(l.next).member) {
                    rank += l.span as usize;
                    x = l.next;
                } else {
                    break;
                }
            }
        }
        rank
    }

    /// Delete the nodes at 0-based positions `[start, end)` (zslDeleteRangeByRank).
    fn delete_span(&mut self, start: usize, end: usize) -> Vec<(Bytes, f64)> {
        let mut update = [HEAD; MAX_LEVEL];
        let mut traversed = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next != NIL && traversed + (l.span as usize) < start + 1 {
                    traversed += l.span as usize;
                    x = l.next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let mut out = Vec::with_capacity(end - start);
        let mut x = self.link(x, 0).next;
        let mut pos = start;
        while x != NIL && pos < end {
            let next = self.link(x, 0).next;
            self.unlink(x, &update);
            let (score, m) = self.release(x);
            out.push((m, score));
            pos += 1;
            x = next;
        }
        out
    }

    /// Check the invariants (tests).
    #[cfg(test)]
    fn check(&self) {
        let mut count = 0;
        let mut x = self.link(HEAD, 0).next;
        let mut prev = NIL;
        while x != NIL {
            let n = self.node(x);
            assert_eq!(n.back, prev);
            if prev != NIL {
                let p = self.node(prev);
                assert!(before(p.score, &p.member, n.score, &n.member));
            }
            assert_eq!(n.upper.len(), (n.lvl as usize).saturating_sub(INLINE));
            prev = x;
            x = n.links[0].next;
            count += 1;
        }
        assert_eq!(count, self.len);
        assert_eq!(self.tail, prev);
        // Spans: every link's span is the distance in positions.
        let pos_of = |id: u32| -> usize {
            let mut p = 0;
            let mut y = HEAD;
            while y != id {
                y = self.link(y, 0).next;
                p += 1;
            }
            p
        };
        for i in 0..self.level {
            let mut y = HEAD;
            while self.link(y, i).next != NIL {
                let l = self.link(y, i);
                assert_eq!(l.span as usize, pos_of(l.next) - pos_of(y));
                assert_eq!(l.score.to_bits(), self.node(l.next).score.to_bits());
                y = l.next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap};

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    const SMALL: PackLimits = PackLimits {
        entries: 4,
        value: 3,
    };

    #[test]
    fn converts_past_the_limits_and_keeps_order() {
        let mut z = ZSet::new();
        for (i, m) in ["d", "c", "b", "a"].iter().enumerate() {
            assert!(z.insert(m.as_bytes(), i as f64, SMALL));
        }
        assert_eq!(z.encoding(), "listpack");
        assert!(z.insert(b"e", 0.0, SMALL));
        assert_eq!(z.encoding(), "skiplist");
        let order: Vec<_> = z.iter().map(|(m, _)| m.clone()).collect();
        assert_eq!(order, vec![b("d"), b("e"), b("c"), b("b"), b("a")]);
        let mut z = ZSet::new();
        z.insert(b"abcd", 1.0, SMALL);
        assert_eq!(z.encoding(), "skiplist");
        // Removals never convert back.
        z.remove(b"abcd");
        assert_eq!(z.encoding(), "skiplist");
    }

    #[test]
    fn ranks_ranges_and_reverse_iteration() {
        for lim in [
            PackLimits::default(),
            PackLimits {
                entries: 0,
                value: 0,
            },
        ] {
            let mut z = ZSet::new();
            for i in 0..100 {
                z.insert(format!("m{i:03}").as_bytes(), (i / 2) as f64, lim);
            }
            assert_eq!(z.rank(b"m010"), Some(10));
            assert_eq!(
                z.get(10).map(|(m, s)| (m.clone(), s)),
                Some((b("m010"), 5.0))
            );
            let r = ScoreRange {
                min: 5.0,
                max: 7.0,
                minex: true,
                maxex: false,
            };
            assert_eq!(z.score_span(&r), (12, 16));
            let back: Vec<_> = z.iter_from(15, true).take(3).map(|(_, s)| s).collect();
            assert_eq!(back, vec![7.0, 7.0, 6.0]);
            let gone = z.remove_span(0, 50);
            assert_eq!(gone.len(), 50);
            assert_eq!(z.len(), 50);
            assert_eq!(z.rank(b"m050"), Some(0));
        }
    }

    #[test]
    fn lex_bounds() {
        let r = LexRange {
            min: LexVal::Min,
            max: LexVal::Min,
            minex: true,
            maxex: true,
        };
        assert!(r.is_empty());
        let r = LexRange {
            min: LexVal::Str(b("a")),
            max: LexVal::Str(b("a")),
            minex: false,
            maxex: false,
        };
        assert!(!r.is_empty());
        assert!(r.gte_min(b"a") && r.lte_max(b"a") && !r.lte_max(b"aa"));
    }

    #[test]
    fn scan_sees_stable_members_despite_removals() {
        let mut z = ZSet::new();
        for i in 0..1000 {
            z.insert(format!("k{i}").as_bytes(), i as f64, PackLimits::default());
        }
        let mut seen = std::collections::HashSet::new();
        let mut pos = 0;
        let mut round = 0;
        loop {
            pos = z.scan(pos, 10, |m, _| {
                seen.insert(m.clone());
            });
            round += 1;
            z.remove(format!("k{}", 500 + (round * 7) % 500).as_bytes());
            if pos == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(seen.contains(format!("k{i}").as_bytes()));
        }
    }

    /// Total order on scores for the model (no NaN ever stored).
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Ord64(f64);
    impl Eq for Ord64 {}
    impl PartialOrd for Ord64 {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Ord64 {
        fn cmp(&self, o: &Self) -> Ordering {
            // -0 and 0 are one score, as in the set.
            self.0.partial_cmp(&o.0).unwrap_or(Ordering::Equal)
        }
    }

    #[derive(Default)]
    struct Model {
        order: BTreeSet<(Ord64, Vec<u8>)>,
        map: HashMap<Vec<u8>, f64>,
    }

    impl Model {
        fn insert(&mut self, m: &[u8], s: f64) -> bool {
            match self.map.get(m).copied() {
                Some(old) => {
                    if old != s {
                        self.order.remove(&(Ord64(old), m.to_vec()));
                        self.order.insert((Ord64(s), m.to_vec()));
                        self.map.insert(m.to_vec(), s);
                    }
                    false
                }
                None => {
                    self.order.insert((Ord64(s), m.to_vec()));
                    self.map.insert(m.to_vec(), s);
                    true
                }
            }
        }
        fn remove(&mut self, m: &[u8]) -> Option<f64> {
            let s = self.map.remove(m)?;
            self.order.remove(&(Ord64(s), m.to_vec()));
            Some(s)
        }
        fn items(&self) -> Vec<(Vec<u8>, f64)> {
            self.order.iter().map(|(s, m)| (m.clone(), s.0)).collect()
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Vec<u8>, f64),
        Remove(Vec<u8>),
        RemoveSpan(usize, usize),
        Score(f64, f64, bool, bool),
        Lex(Option<Vec<u8>>, Option<Vec<u8>>, bool, bool),
    }

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c', 0u8]), 0..5)
    }

    fn score() -> impl Strategy<Value = f64> {
        prop_oneof![
            (-5i32..5).prop_map(|i| i as f64),
            Just(-0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.5),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (member(), score()).prop_map(|(m, s)| Op::Insert(m, s)),
            2 => member().prop_map(Op::Remove),
            1 => (0usize..12, 0usize..12).prop_map(|(a, b)| Op::RemoveSpan(a, b)),
            2 => (score(), score(), any::<bool>(), any::<bool>())
                .prop_map(|(a, b, x, y)| Op::Score(a, b, x, y)),
            2 => (prop::option::of(member()), prop::option::of(member()), any::<bool>(), any::<bool>())
                .prop_map(|(a, b, x, y)| Op::Lex(a, b, x, y)),
        ]
    }

    fn run(ops: Vec<Op>, lim: PackLimits) {
        let mut z = ZSet::new();
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Insert(m, s) => assert_eq!(z.insert(&m, s, lim), model.insert(&m, s)),
                Op::Remove(m) => assert_eq!(z.remove(&m), model.remove(&m)),
                Op::RemoveSpan(a, b) => {
                    let items = model.items();
                    let want: Vec<_> = items
                        .iter()
                        .skip(a)
                        .take(b.saturating_sub(a))
                        .cloned()
                        .collect();
                    for (m, _) in &want {
                        model.remove(m);
                    }
                    let got: Vec<_> = z
                        .remove_span(a, b)
                        .into_iter()
                        .map(|(m, s)| (m.to_vec(), s))
                        .collect();
                    assert_eq!(got, want);
                }
                Op::Score(min, max, minex, maxex) => {
                    let r = ScoreRange {
                        min,
                        max,
                        minex,
                        maxex,
                    };
                    let want: Vec<_> = model
                        .items()
                        .into_iter()
                        .filter(|(_, s)| !r.is_empty() && r.gte_min(*s) && r.lte_max(*s))
                        .collect();
                    let (start, end) = z.score_span(&r);
                    let got: Vec<_> = z
                        .iter_from(start, false)
                        .take(end - start)
                        .map(|(m, s)| (m.to_vec(), s))
                        .collect();
                    assert_eq!(got, want);
                    if end > start {
                        let rev: Vec<_> = z
                            .iter_from(end - 1, true)
                            .take(end - start)
                            .map(|(m, s)| (m.to_vec(), s))
                            .collect();
                        let mut w = want.clone();
                        w.reverse();
                        assert_eq!(rev, w);
                    }
                }
                Op::Lex(a, b, minex, maxex) => {
                    // Lex ranges are defined over equal scores: query the members of one score.
                    let r = LexRange {
                        min: a.map_or(LexVal::Min, |v| LexVal::Str(Bytes::from(v))),
                        max: b.map_or(LexVal::Max, |v| LexVal::Str(Bytes::from(v))),
                        minex,
                        maxex,
                    };
                    let mut same = ZSet::new();
                    for (m, _) in model.items() {
                        same.insert(&m, 0.0, lim);
                    }
                    let want: Vec<_> = model
                        .items()
                        .into_iter()
                        .map(|(m, _)| m)
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .filter(|m| !r.is_empty() && r.gte_min(m) && r.lte_max(m))
                        .collect();
                    let (start, end) = same.lex_span(&r);
                    let got: Vec<_> = same
                        .iter_from(start, false)
                        .take(end - start)
                        .map(|(m, _)| m.to_vec())
                        .collect();
                    assert_eq!(got, want);
                }
            }
            // Whole content, ranks, positions and scores agree with the model.
            let items = model.items();
            assert_eq!(z.len(), items.len());
            let got: Vec<_> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            assert_eq!(got, items);
            for (i, (m, s)) in items.iter().enumerate() {
                assert_eq!(z.rank(m), Some(i));
                assert_eq!(z.score(m), Some(*s));
                assert_eq!(z.get(i).map(|(x, _)| x.to_vec()), Some(m.clone()));
            }
            if let Repr::Skip(s) = &z.0 {
                s.list.check();
                assert_eq!(s.map.len(), s.list.len);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn matches_model_listpack_and_skiplist(ops in prop::collection::vec(op(), 0..80)) {
            run(ops.clone(), SMALL);
            run(ops, PackLimits { entries: 0, value: 0 });
        }
    }
}
