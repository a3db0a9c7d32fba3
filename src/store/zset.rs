//! Sorted sets: the value behind ZADD and its family (Redis 7.0 `t_zset.c`).
//!
//! Two encodings, as in Redis. Small sets are packed in one byte buffer in order (`zpack`,
//! Redis's listpack: linear member lookup, a few bytes per entry). Larger ones keep each member
//! once, in a slot, with a hash index of slots for member lookups and the order in an
//! order-statistic B+tree of (score, slot) (`ztree`: O(log n) insert, delete, rank and range
//! with few cache misses). OBJECT ENCODING calls the large one "skiplist", as Redis does. A set
//! moves to it when an insert takes it past `zset-max-listpack-entries` members or adds a
//! member longer than `zset-max-listpack-value` bytes and, as in Redis, never moves back by
//! itself; sets built whole (ZUNIONSTORE, ZRANGESTORE …) get the encoding their final size
//! calls for.
//!
//! Order is (score, member), members compared as bytes (memcmp, shorter first on a tie), which
//! is the order every range command observes. Scores are never NaN.

use super::zpack::{Entries, ZPack};
use super::ztree::{Cursor, Members, Tree};
use bytes::Bytes;
use hashbrown::HashTable;
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
    /// Redis's listpack encoding.
    Pack(ZPack),
    /// Redis's skiplist encoding (here a B+tree: see `ztree`).
    Big(Box<Big>),
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

impl ZSet {
    pub fn new() -> ZSet {
        ZSet(Repr::Pack(ZPack::new()))
    }

    /// An empty set that will hold about `len` members, the longest `max_member` bytes: the
    /// large encoding from the start when that is where it would end up (zsetTypeCreate).
    pub fn with_hint(len: usize, max_member: usize, lim: PackLimits) -> ZSet {
        if lim.fits(len.max(1), max_member) {
            ZSet::new()
        } else {
            ZSet(Repr::Big(Box::default()))
        }
    }

    /// A set from distinct (member, score) pairs in (score, member) order, encoded for its
    /// size (Redis's zsetConvertToListpackIfNeeded on a built result).
    pub fn from_sorted(items: Vec<(Bytes, f64)>, lim: PackLimits) -> ZSet {
        let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        if lim.fits(items.len(), longest) {
            ZSet(Repr::Pack(ZPack::build(
                items.iter().map(|(m, s)| (*s, &m[..])),
            )))
        } else {
            let mut b = Big::default();
            for (m, s) in items {
                b.insert_new(&m, s);
            }
            ZSet(Repr::Big(Box::new(b)))
        }
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Pack(p) => p.len(),
            Repr::Big(b) => b.tree.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Pack(_) => "listpack",
            Repr::Big(_) => "skiplist",
        }
    }

    /// Approximate bytes used, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        match &self.0 {
            Repr::Pack(p) => 16 + p.bytes(),
            Repr::Big(b) => b.mem_usage(),
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.0 {
            Repr::Pack(p) => p.find(member).map(|(_, _, s)| s),
            Repr::Big(b) => b.id(member).map(|id| b.slots.v[id as usize].score),
        }
    }

    /// Add `member` or change its score. Returns true if it was added. The set converts to the
    /// large encoding first when the new member would break the listpack limits.
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
        let p = match &mut self.0 {
            Repr::Big(b) => return b.upsert(member, decide),
            Repr::Pack(p) => p,
        };
        if let Some((_, at, cur)) = p.find(member) {
            if let Some(score) = decide(Some(cur)) {
                debug_assert!(!score.is_nan());
                if cur != score {
                    p.remove_at(at);
                    p.insert(score, member);
                }
            }
            return false;
        }
        let Some(score) = decide(None) else {
            return false;
        };
        debug_assert!(!score.is_nan());
        if p.len() < lim.entries && member.len() <= lim.value {
            p.insert(score, member);
            return true;
        }
        let mut b = Big::default();
        for (_, s, m) in p.entries() {
            b.insert_new(m, s);
        }
        b.insert_new(member, score);
        self.0 = Repr::Big(Box::new(b));
        true
    }

    /// Remove `member`, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.0 {
            Repr::Pack(p) => {
                let (_, at, score) = p.find(member)?;
                p.remove_at(at);
                Some(score)
            }
            Repr::Big(b) => b.remove(member),
        }
    }

    /// 0-based position of `member` in (score, member) order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.0 {
            Repr::Pack(p) => p.find(member).map(|(i, _, _)| i),
            Repr::Big(b) => {
                let id = b.id(member)?;
                b.tree.rank(&b.slots, b.slots.v[id as usize].score, member)
            }
        }
    }

    /// The member at a 0-based position.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.0 {
            Repr::Pack(p) => p.entries().nth(rank).map(|(_, s, m)| (m, s)),
            Repr::Big(b) => {
                let (s, id) = b.tree.get(rank)?;
                Some((b.slots.member(id), s))
            }
        }
    }

    /// How many members, from the first, satisfy `pred`; `pred` must hold for a prefix of the
    /// order and not after it (a position found by descent, not by scanning).
    fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.0 {
            Repr::Pack(p) => p.entries().take_while(|&(_, s, m)| pred(s, m)).count(),
            Repr::Big(b) => b.tree.count_while(|s, id| pred(s, b.slots.member(id))),
        }
    }

    /// `count_while` for a predicate on the score alone: the tree never reads a member.
    fn count_while_score(&self, pred: impl Fn(f64) -> bool) -> usize {
        match &self.0 {
            Repr::Pack(p) => p.entries().take_while(|&(_, s, _)| pred(s)).count(),
            Repr::Big(b) => b.tree.count_while(|s, _| pred(s)),
        }
    }

    /// Positions `[start, end)` of the members whose score is in `r`.
    pub fn score_span(&self, r: &ScoreRange) -> (usize, usize) {
        if r.is_empty() {
            return (0, 0);
        }
        let start = self.count_while_score(|s| !r.gte_min(s));
        let end = self.count_while_score(|s| r.lte_max(s));
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
        let at = match &self.0 {
            _ if left == 0 => At::Done,
            Repr::Pack(p) if rev => {
                // No way back through varints: list the entries up to `rank` once.
                let mut v: Vec<_> = p.entries().take(rank + 1).map(|(_, s, m)| (m, s)).collect();
                v.reverse();
                At::PackRev(v.into_iter())
            }
            Repr::Pack(p) => At::Pack(p.entries_at(p.offset(rank))),
            Repr::Big(b) => match b.tree.cursor(rank) {
                Some(c) => At::Big(&b.slots, c, true),
                None => At::Done,
            },
        };
        Iter { at, rev, left }
    }

    /// Remove the members at positions `[start, end)`; returns them in order.
    pub fn remove_span(&mut self, start: usize, end: usize) -> Vec<(Bytes, f64)> {
        let end = end.min(self.len());
        if start >= end {
            return Vec::new();
        }
        match &mut self.0 {
            Repr::Pack(p) => p.remove_span(start, end),
            Repr::Big(b) if start == 0 && end == b.len() => b.take_all(),
            Repr::Big(b) => {
                let out = (start..end).filter_map(|_| b.remove_rank(start)).collect();
                if start == 0 || end == b.len() + (end - start) {
                    b.warm_end(start != 0);
                }
                out
            }
        }
    }

    /// The member at a uniformly drawn position: `i` in `0..len`, for ZRANDMEMBER.
    pub fn slot(&self, i: usize) -> Option<(&[u8], f64)> {
        self.get(i)
    }

    /// A uniformly random member.
    pub fn random(&self) -> Option<(&[u8], f64)> {
        if self.is_empty() {
            return None;
        }
        self.get(fastrand::usize(..self.len()))
    }

    /// One ZSCAN step: `pos` 0 starts, the return value is the next position (0 when done). A
    /// listpack is returned whole in one step, as Redis does. A large set is walked by member
    /// slot: a member keeps its slot for life, so every member present throughout is returned.
    pub fn scan(&self, pos: usize, count: usize, mut f: impl FnMut(&[u8], f64)) -> usize {
        match &self.0 {
            Repr::Pack(p) => {
                for (_, s, m) in p.entries() {
                    f(m, s);
                }
                0
            }
            Repr::Big(b) => {
                let slots = &b.slots.v;
                let mut next = pos;
                let mut seen = 0;
                while next < slots.len() && seen < count.max(1) {
                    if let Some(m) = &slots[next].member {
                        f(m, slots[next].score);
                        seen += 1;
                    }
                    next += 1;
                }
                if next >= slots.len() {
                    0
                } else {
                    next
                }
            }
        }
    }
}

/// Iterator over (member, score) from a position, forwards or backwards.
pub struct Iter<'a> {
    at: At<'a>,
    rev: bool,
    left: usize,
}

enum At<'a> {
    Done,
    Pack(Entries<'a>),
    PackRev(std::vec::IntoIter<(&'a [u8], f64)>),
    /// The cursor, and whether it stands on the next item to yield (not yet stepped).
    Big(&'a Slots, Cursor<'a>, bool),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match &mut self.at {
            At::Done => None,
            At::Pack(e) => e.next().map(|(_, s, m)| (m, s)),
            At::PackRev(v) => v.next(),
            At::Big(slots, c, fresh) => {
                if !*fresh {
                    let moved = if self.rev { c.retreat() } else { c.advance() };
                    if !moved {
                        self.left = 0;
                        return None;
                    }
                }
                *fresh = false;
                let (s, id) = c.get();
                Some((slots.member(id), s))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

// ---------------------------------------------------------------------------------------------
// Large encoding

/// A member and its score; `member` is None for a free slot.
#[derive(Clone, Debug)]
struct Slot {
    score: f64,
    member: Option<Box<[u8]>>,
}

/// Members by id: an id stays with its member for life (ZSCAN's cursor), freed ids are reused.
#[derive(Clone, Debug, Default)]
struct Slots {
    v: Vec<Slot>,
    free: Vec<u32>,
}

impl Members for Slots {
    #[inline]
    fn member(&self, id: u32) -> &[u8] {
        self.v[id as usize].member.as_deref().unwrap_or(&[])
    }
}

/// A large sorted set: each member stored once, in its slot; a hash index of slot ids for
/// member lookups; the order in a B+tree of (score, id).
#[derive(Clone, Debug, Default)]
struct Big {
    slots: Slots,
    index: HashTable<u32>,
    hasher: ahash::RandomState,
    tree: Tree,
    /// Bytes of all members (MEMORY USAGE without a walk).
    member_bytes: usize,
}

impl Big {
    #[inline]
    fn hash(&self, member: &[u8]) -> u64 {
        self.hasher.hash_one(member)
    }

    fn id(&self, member: &[u8]) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(self.hash(member), |&id| slots.member(id) == member)
            .copied()
    }

    fn mem_usage(&self) -> usize {
        // Members (rounded to the allocator's 16-byte steps), slots, index buckets (id and
        // control byte), tree items at about 3/4 fill.
        96 + self.member_bytes
            + self.len() * 8
            + self.slots.v.capacity() * 24
            + self.index.capacity() * 5
            + self.len() * 16
    }

    fn len(&self) -> usize {
        self.tree.len()
    }

    /// Insert a member known to be absent.
    fn insert_new(&mut self, member: &[u8], score: f64) {
        let hash = self.hash(member);
        self.member_bytes += member.len();
        let slot = Slot {
            score,
            member: Some(member.into()),
        };
        let id = match self.slots.free.pop() {
            Some(id) => {
                self.slots.v[id as usize] = slot;
                id
            }
            None => {
                self.slots.v.push(slot);
                (self.slots.v.len() - 1) as u32
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .insert_unique(hash, id, |&x| hasher.hash_one(slots.member(x)));
        self.tree.insert(&self.slots, score, id);
    }

    /// `ZSet::upsert` for this encoding: one hash lookup, then the tree.
    fn upsert(&mut self, member: &[u8], decide: impl FnOnce(Option<f64>) -> Option<f64>) -> bool {
        match self.id(member) {
            Some(id) => {
                let cur = self.slots.v[id as usize].score;
                if let Some(score) = decide(Some(cur)) {
                    debug_assert!(!score.is_nan());
                    if cur != score {
                        self.tree.remove(&self.slots, cur, member);
                        self.slots.v[id as usize].score = score;
                        self.tree.insert(&self.slots, score, id);
                    }
                }
                false
            }
            None => {
                let Some(score) = decide(None) else {
                    return false;
                };
                debug_assert!(!score.is_nan());
                self.insert_new(member, score);
                true
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let hash = self.hash(member);
        let slots = &self.slots;
        let entry = self
            .index
            .find_entry(hash, |&id| slots.member(id) == member)
            .ok()?;
        let (id, _) = entry.remove();
        let score = self.slots.v[id as usize].score;
        self.tree.remove(&self.slots, score, member);
        self.release(id);
        Some(score)
    }

    /// Remove the member at 0-based position `rank`.
    fn remove_rank(&mut self, rank: usize) -> Option<(Bytes, f64)> {
        let (score, id) = self.tree.remove_rank(rank)?;
        let hash = self.hash(self.slots.member(id));
        if let Ok(e) = self.index.find_entry(hash, |&x| x == id) {
            e.remove();
        }
        let member = self.release(id);
        Some((Bytes::from(member.into_vec()), score))
    }

    /// Remove every member, returning them in order.
    fn take_all(&mut self) -> Vec<(Bytes, f64)> {
        let mut out = Vec::with_capacity(self.len());
        if let Some(mut c) = self.tree.cursor(0) {
            loop {
                let (score, id) = c.get();
                let m = self.slots.v[id as usize].member.take().unwrap_or_default();
                out.push((Bytes::from(m.into_vec()), score));
                if !c.advance() {
                    break;
                }
            }
        }
        *self = Big::default();
        out
    }

    /// Start fetching what the next pop from one end will read: ZPOPMIN, ZPOPMAX and their
    /// blocking forms drain a set in order, and each pop would otherwise wait on memory for the
    /// slot, then for the member (hashed to find its index entry, and sent). The next item's
    /// member is fetched (its slot was asked for at the previous pop), and the slot after it.
    fn warm_end(&self, last: bool) {
        let [next, after] = self.tree.ends(last);
        if let Some(m) = next.and_then(|id| self.slots.v[id as usize].member.as_deref()) {
            crate::util::hint::prefetch(m.as_ptr());
        }
        if let Some(id) = after {
            crate::util::hint::prefetch(&self.slots.v[id as usize] as *const Slot as *const u8);
        }
    }

    /// Free a slot, returning its member.
    fn release(&mut self, id: u32) -> Box<[u8]> {
        let m = self.slots.v[id as usize].member.take().unwrap_or_default();
        self.member_bytes -= m.len();
        if id as usize + 1 == self.slots.v.len() {
            self.slots.v.pop();
        } else {
            self.slots.free.push(id);
        }
        m
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

    /// The handle a key's value points to: one 16-byte allocation.
    #[test]
    fn handle_is_two_words() {
        assert_eq!(std::mem::size_of::<ZSet>(), 16);
    }

    #[test]
    fn converts_past_the_limits_and_keeps_order() {
        let mut z = ZSet::new();
        for (i, m) in ["d", "c", "b", "a"].iter().enumerate() {
            assert!(z.insert(m.as_bytes(), i as f64, SMALL));
        }
        assert_eq!(z.encoding(), "listpack");
        assert!(z.insert(b"e", 0.0, SMALL));
        assert_eq!(z.encoding(), "skiplist");
        let order: Vec<_> = z.iter().map(|(m, _)| Bytes::copy_from_slice(m)).collect();
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
                z.get(10).map(|(m, s)| (m.to_vec(), s)),
                Some((b"m010".to_vec(), 5.0))
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
                seen.insert(m.to_vec());
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
            if let Repr::Big(b) = &z.0 {
                b.tree.check(&b.slots);
                assert_eq!(b.index.len(), b.tree.len());
                let live = b.slots.v.iter().filter_map(|s| s.member.as_ref());
                let (count, bytes) = live.fold((0, 0), |(c, n), m| (c + 1, n + m.len()));
                assert_eq!(count, b.tree.len());
                assert_eq!(bytes, b.member_bytes);
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
