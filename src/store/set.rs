//! The set type. A set of integers is a sorted array of them (Redis's intset) while it holds at
//! most `set-max-intset-entries` members; a non-integer member or one too many makes it a hash
//! set for good. Redis 7.0 has no listpack sets, so those are the two encodings.

use super::key::Key;
use bytes::Bytes;

/// Members as `Key`s: up to 22 bytes inline in the table's item instead of a 32-byte `Bytes`
/// handle plus an allocation each.
pub type Table = super::table::Table<Key>;

/// The table is boxed so that an intset (and `Value`, and every keyspace entry) stays small.
#[derive(Debug, Clone, PartialEq)]
pub enum Set {
    Ints(Ints),
    Table(Box<Table>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(Ints::default())
    }
}

/// Sorted distinct integers at the narrowest width that holds them all, as Redis's intset
/// (2, 4 or 8 bytes each; widened when a member needs it, never narrowed). Up to `TINY` 16-bit
/// members live inline, in the set's own slot of the keyspace entry, so a small set of small
/// integers (the common case) costs no allocation at all; beyond that the array is allocated
/// to fit, as the intset is reallocated on each insert.
#[derive(Debug, Clone)]
pub enum Ints {
    Tiny { len: u8, buf: [i16; TINY] },
    W16(Vec<i16>),
    W32(Vec<i32>),
    W64(Vec<i64>),
}

/// Inline capacity: what fits beside the tags in the 32 bytes a `Set` takes anyway.
const TINY: usize = 14;

impl Default for Ints {
    fn default() -> Self {
        Ints::Tiny {
            len: 0,
            buf: [0; TINY],
        }
    }
}

// By content and width (what DUMP writes), whether inline or not.
impl PartialEq for Ints {
    fn eq(&self, other: &Ints) -> bool {
        self.width() == other.width() && self.iter().eq(other.iter())
    }
}

/// `$e` over the members as a slice of their width.
macro_rules! each {
    ($s:expr, $v:ident => $e:expr) => {
        match $s {
            Ints::Tiny { len, buf } => {
                let $v = &buf[..*len as usize];
                $e
            }
            Ints::W16($v) => $e,
            Ints::W32($v) => $e,
            // The same code for every width; for this one a widening is the identity.
            #[allow(clippy::useless_conversion)]
            Ints::W64($v) => $e,
        }
    };
}

/// Room for one more element, allocated to fit rather than doubled.
fn grow_one<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        let w = std::mem::size_of::<T>();
        let cap = super::pack::fit_capacity((v.len() + 1) * w) / w;
        v.reserve_exact(cap - v.len());
    }
}

/// Give back the room removals left, when it is worth a reallocation.
fn shrink<T>(v: &mut Vec<T>) {
    let w = std::mem::size_of::<T>();
    let want = super::pack::fit_capacity(v.len() * w) / w;
    if (v.capacity() - want.min(v.capacity())) * w >= 64 {
        v.shrink_to(want);
    }
}

/// The inline form of 16-bit members (at most `TINY`).
fn tiny(v: &[i16]) -> Ints {
    let mut buf = [0; TINY];
    buf[..v.len()].copy_from_slice(v);
    Ints::Tiny {
        len: v.len() as u8,
        buf,
    }
}

impl Ints {
    /// The intset of sorted distinct integers, at the narrowest width that holds them all.
    pub fn from_sorted(all: Vec<i64>) -> Ints {
        let (lo, hi) = (all.first().copied(), all.last().copied());
        let fits = |t: fn(i64) -> bool| lo.is_none_or(t) && hi.is_none_or(t);
        if fits(|x| i16::try_from(x).is_ok()) {
            let v: Vec<i16> = all.into_iter().map(|x| x as i16).collect();
            if v.len() <= TINY {
                tiny(&v)
            } else {
                Ints::W16(v)
            }
        } else if fits(|x| i32::try_from(x).is_ok()) {
            Ints::W32(all.into_iter().map(|x| x as i32).collect())
        } else {
            Ints::W64(all)
        }
    }

    pub fn len(&self) -> usize {
        each!(self, v => v.len())
    }

    /// Bytes per member: 2, 4 or 8 (the intset's encoding).
    pub fn width(&self) -> usize {
        match self {
            Ints::Tiny { .. } | Ints::W16(_) => 2,
            Ints::W32(_) => 4,
            Ints::W64(_) => 8,
        }
    }

    pub fn get(&self, i: usize) -> Option<i64> {
        each!(self, v => v.get(i).map(|&x| i64::from(x)))
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Position of `x`, or where it would go.
    pub fn search(&self, x: i64) -> Result<usize, usize> {
        // A value outside the current width sorts before or after every member.
        let outside = || Err(if x < 0 { 0 } else { self.len() });
        match self {
            Ints::Tiny { len, buf } => i16::try_from(x)
                .map_or_else(|_| outside(), |x| buf[..*len as usize].binary_search(&x)),
            Ints::W16(v) => i16::try_from(x).map_or_else(|_| outside(), |x| v.binary_search(&x)),
            Ints::W32(v) => i32::try_from(x).map_or_else(|_| outside(), |x| v.binary_search(&x)),
            Ints::W64(v) => v.binary_search(&x),
        }
    }

    /// Widen the array if `x` does not fit its width.
    fn widen_for(&mut self, x: i64) {
        let need = if i16::try_from(x).is_ok() {
            2
        } else if i32::try_from(x).is_ok() {
            4
        } else {
            8
        };
        if need <= self.width() {
            return;
        }
        let all: Vec<i64> = self.iter().collect();
        *self = if need == 4 {
            let mut v = Vec::with_capacity(all.len() + 1);
            v.extend(all.iter().map(|&x| x as i32));
            Ints::W32(v)
        } else {
            let mut v = Vec::with_capacity(all.len() + 1);
            v.extend(all);
            Ints::W64(v)
        };
    }

    /// Add `x`; true if it is new.
    pub fn insert(&mut self, x: i64) -> bool {
        if self.search(x).is_ok() {
            return false;
        }
        self.widen_for(x);
        let Err(pos) = self.search(x) else {
            return false;
        };
        match self {
            Ints::Tiny { len, buf } => {
                let n = *len as usize;
                if n < TINY {
                    buf.copy_within(pos..n, pos + 1);
                    buf[pos] = x as i16;
                    *len += 1;
                } else {
                    let mut v = Vec::new();
                    grow_one(&mut v);
                    v.extend_from_slice(&buf[..n]);
                    grow_one(&mut v);
                    v.insert(pos, x as i16);
                    *self = Ints::W16(v);
                }
            }
            Ints::W16(v) => {
                grow_one(v);
                v.insert(pos, x as i16)
            }
            Ints::W32(v) => {
                grow_one(v);
                v.insert(pos, x as i32)
            }
            Ints::W64(v) => {
                grow_one(v);
                v.insert(pos, x)
            }
        }
        true
    }

    /// Remove and return the member at position `i`.
    pub fn remove_at(&mut self, i: usize) -> Option<i64> {
        if i >= self.len() {
            return None;
        }
        let x = match self {
            Ints::Tiny { len, buf } => {
                let x = buf[i];
                buf.copy_within(i + 1..*len as usize, i);
                *len -= 1;
                i64::from(x)
            }
            Ints::W16(v) => {
                let x = v.remove(i);
                // Back inline once it fits again: the allocation is freed.
                if v.len() <= TINY {
                    *self = tiny(v);
                } else {
                    shrink(v);
                }
                i64::from(x)
            }
            Ints::W32(v) => {
                let x = v.remove(i);
                shrink(v);
                i64::from(x)
            }
            Ints::W64(v) => {
                let x = v.remove(i);
                shrink(v);
                x
            }
        };
        Some(x)
    }

    /// Bytes of the array, for MEMORY USAGE.
    fn bytes(&self) -> usize {
        self.len() * self.width()
    }
}

/// A member as an intset would hold it: Redis's string2ll (no sign or zero padding, no spaces).
#[inline]
fn as_int(m: &[u8]) -> Option<i64> {
    if m.len() > 20 {
        return None;
    }
    crate::util::num::parse_i64(m)
}

fn int_bytes(i: i64) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(i).as_bytes())
}

impl Set {
    /// An empty set of the encoding Redis picks for a set whose first member is `first`.
    pub fn for_member(first: &[u8]) -> Set {
        if as_int(first).is_some() {
            Set::Ints(Ints::default())
        } else {
            Set::Table(Box::default())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    fn convert_to_table(&mut self) {
        if let Set::Ints(v) = self {
            let mut buf = itoa::Buffer::new();
            let t: Table = v
                .iter()
                .map(|i| Key::new(buf.format(i).as_bytes()))
                .collect();
            *self = Set::Table(Box::new(t));
        }
    }

    /// Add a member; true if it is new. `max_ints` is `set-max-intset-entries`.
    pub fn add(&mut self, m: &[u8], max_ints: usize) -> bool {
        if let Set::Ints(v) = self {
            match as_int(m) {
                Some(i) => {
                    if !v.insert(i) {
                        return false;
                    }
                    if v.len() > max_ints {
                        self.convert_to_table();
                    }
                    return true;
                }
                None => self.convert_to_table(),
            }
        }
        match self {
            Set::Table(t) => t.insert(Key::new(m)),
            Set::Ints(_) => false,
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => match as_int(m).map(|i| v.search(i)) {
                Some(Ok(pos)) => v.remove_at(pos).is_some(),
                _ => false,
            },
            Set::Table(t) => t.swap_remove(m).is_some(),
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => as_int(m).is_some_and(|i| v.search(i).is_ok()),
            Set::Table(t) => t.contains(m),
        }
    }

    /// The member at position `i` (for random picks), in the order of `members`.
    pub fn at(&self, i: usize) -> Option<Bytes> {
        match self {
            Set::Ints(v) => v.get(i).map(int_bytes),
            Set::Table(t) => t.get_index(i).map(Key::to_bytes),
        }
    }

    /// A uniformly random member.
    pub fn random(&self) -> Option<Bytes> {
        if self.is_empty() {
            return None;
        }
        self.at(fastrand::usize(..self.len()))
    }

    /// Remove and return the member at position `i`.
    pub fn take_at(&mut self, i: usize) -> Option<Bytes> {
        match self {
            Set::Ints(v) => v.remove_at(i).map(int_bytes),
            Set::Table(t) => t.swap_remove_index(i).map(|k| k.to_bytes()),
        }
    }

    /// Every member: ascending for an intset, table order otherwise.
    pub fn members(&self) -> Vec<Bytes> {
        match self {
            Set::Ints(v) => v.iter().map(int_bytes).collect(),
            Set::Table(t) => t.iter().map(Key::to_bytes).collect(),
        }
    }

    /// Visit every member as bytes without collecting them.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            Set::Ints(v) => {
                let mut buf = itoa::Buffer::new();
                for i in v.iter() {
                    f(buf.format(i).as_bytes());
                }
            }
            Set::Table(t) => t.iter().for_each(|m| f(m)),
        }
    }

    /// One SSCAN step: an intset whole with cursor 0 (as Redis), a table from the end like
    /// `Db::scan`.
    pub fn scan(&self, pos: usize, count: usize, mut f: impl FnMut(&[u8])) -> usize {
        match self {
            Set::Ints(_) => {
                self.for_each(f);
                0
            }
            Set::Table(t) => {
                let len = t.len();
                let mut next = if pos == 0 { len } else { pos.min(len) };
                let mut visited = 0;
                while next > 0 && visited < count {
                    if let Some(m) = t.get_index(next - 1) {
                        f(m);
                    }
                    next -= 1;
                    visited += 1;
                }
                next
            }
        }
    }

    /// Approximate bytes used, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        match self {
            Set::Ints(v) => v.bytes() + 32,
            Set::Table(t) => {
                let heap = |k: &Key| if k.len() > 22 { k.len() + 8 } else { 0 };
                // The item, and about two u32 index slots and their control bytes.
                t.iter().map(|m| 34 + heap(m)).sum::<usize>() + 64
            }
        }
    }
}

/// The commands that rebuild `s` at `key`, for AOF rewrite: SADD with at most
/// `AOF_REWRITE_ITEMS_PER_CMD` members each.
pub fn rewrite_commands(key: &[u8], s: &Set, out: &mut Vec<Vec<Bytes>>) {
    for chunk in s.members().chunks(super::AOF_REWRITE_ITEMS_PER_CMD) {
        let mut cmd = Vec::with_capacity(chunk.len() + 2);
        cmd.push(Bytes::from_static(b"SADD"));
        cmd.push(Bytes::copy_from_slice(key));
        cmd.extend(chunk.iter().cloned());
        out.push(cmd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => (-20i64..20).prop_map(|i| i.to_string().into_bytes()),
            1 => Just(b"9223372036854775807".to_vec()),
            1 => Just(b"-9223372036854775808".to_vec()),
            1 => (-100_000i64..100_000).prop_map(|i| i.to_string().into_bytes()),
            1 => Just(b"007".to_vec()),
            1 => proptest::collection::vec(b'a'..b'e', 1..3),
        ]
    }

    #[test]
    fn small_intsets_are_inline() {
        use std::mem::size_of;
        assert_eq!(size_of::<Set>(), 32);
        let mut s = Set::for_member(b"0");
        for i in 0..TINY as i64 {
            assert!(s.add(i.to_string().as_bytes(), 512));
        }
        assert!(matches!(&s, Set::Ints(Ints::Tiny { .. })));
        assert!(s.add(b"-1", 512));
        assert!(matches!(&s, Set::Ints(Ints::W16(_))));
        assert!(s.remove(b"5"));
        assert!(matches!(&s, Set::Ints(Ints::Tiny { .. })));
        assert_eq!(s.members().len(), TINY);
        assert!(s.add(b"70000", 512));
        assert!(matches!(&s, Set::Ints(Ints::W32(_))));
        // Width is part of the value (DUMP writes it); the representation is not.
        let v: Vec<i64> = (0..20).collect();
        let mut a = Ints::from_sorted(v[..TINY].to_vec());
        let mut b = Ints::from_sorted(v.clone());
        for i in TINY..20 {
            assert_eq!(b.remove_at(TINY), Some(i as i64));
        }
        assert_eq!(a, b);
        a.insert(100_000);
        assert_eq!(a.width(), 4);
        a.remove_at(TINY);
        assert_ne!(a, b);
    }

    proptest! {
        #[test]
        fn behaves_like_a_btreeset(
            ops in proptest::collection::vec((0u8..3, member()), 0..200),
            max in prop_oneof![Just(4usize), Just(512)],
        ) {
            let mut s = Set::for_member(b"1");
            let mut m: BTreeSet<Vec<u8>> = BTreeSet::new();
            let mut saw_text = false;
            for (op, v) in ops {
                match op {
                    0 => {
                        saw_text |= as_int(&v).is_none();
                        prop_assert_eq!(s.add(&v, max), m.insert(v.clone()));
                    }
                    1 => prop_assert_eq!(s.remove(&v), m.remove(&v)),
                    _ => {
                        if !m.is_empty() {
                            let i = fastrand::usize(..m.len());
                            let got = s.take_at(i).map(|b| b.to_vec());
                            prop_assert!(got.as_ref().is_some_and(|g| m.remove(g)));
                        }
                    }
                }
                prop_assert_eq!(s.len(), m.len());
                if saw_text || m.len() > max {
                    prop_assert_eq!(s.encoding(), "hashtable");
                }
                let got: BTreeSet<Vec<u8>> = s.members().into_iter().map(|b| b.to_vec()).collect();
                prop_assert_eq!(&got, &m);
                for x in &m {
                    prop_assert!(s.contains(x));
                }
                if let Set::Ints(v) = &s {
                    let all: Vec<i64> = v.iter().collect();
                    prop_assert!(all.windows(2).all(|w| w[0] < w[1]));
                }
            }
        }
    }
}
