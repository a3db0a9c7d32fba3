//! The set type. A set of integers is a sorted `Vec<i64>` (Redis's intset) while it holds at
//! most `set-max-intset-entries` members; a non-integer member or one too many makes it a hash
//! set for good. Redis 7.0 has no listpack sets, so those are the two encodings.

use bytes::Bytes;
use indexmap::IndexSet;

pub type Table = IndexSet<Bytes, ahash::RandomState>;

#[derive(Debug, Clone, PartialEq)]
pub enum Set {
    Ints(Vec<i64>),
    Table(Table),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(Vec::new())
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
            Set::Ints(Vec::new())
        } else {
            Set::Table(Table::default())
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
            let t: Table = v.iter().map(|&i| int_bytes(i)).collect();
            *self = Set::Table(t);
        }
    }

    /// Add a member; true if it is new. `max_ints` is `set-max-intset-entries`.
    pub fn add(&mut self, m: &[u8], max_ints: usize) -> bool {
        if let Set::Ints(v) = self {
            match as_int(m) {
                Some(i) => {
                    let Err(pos) = v.binary_search(&i) else {
                        return false;
                    };
                    v.insert(pos, i);
                    if v.len() > max_ints {
                        self.convert_to_table();
                    }
                    return true;
                }
                None => self.convert_to_table(),
            }
        }
        match self {
            Set::Table(t) => t.insert(Bytes::copy_from_slice(m)),
            Set::Ints(_) => false,
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => match as_int(m).map(|i| v.binary_search(&i)) {
                Some(Ok(pos)) => {
                    v.remove(pos);
                    true
                }
                _ => false,
            },
            Set::Table(t) => t.swap_remove(m),
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => as_int(m).is_some_and(|i| v.binary_search(&i).is_ok()),
            Set::Table(t) => t.contains(m),
        }
    }

    /// The member at position `i` (for random picks), in the order of `members`.
    pub fn at(&self, i: usize) -> Option<Bytes> {
        match self {
            Set::Ints(v) => v.get(i).map(|&x| int_bytes(x)),
            Set::Table(t) => t.get_index(i).map(super::value::share_or_copy),
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
            Set::Ints(v) => (i < v.len()).then(|| int_bytes(v.remove(i))),
            Set::Table(t) => t.swap_remove_index(i),
        }
    }

    /// Every member: ascending for an intset, table order otherwise.
    pub fn members(&self) -> Vec<Bytes> {
        match self {
            Set::Ints(v) => v.iter().map(|&i| int_bytes(i)).collect(),
            Set::Table(t) => t.iter().map(super::value::share_or_copy).collect(),
        }
    }

    /// Visit every member as bytes without collecting them.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            Set::Ints(v) => {
                let mut buf = itoa::Buffer::new();
                for &i in v {
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
            Set::Ints(v) => v.len() * 8 + 32,
            Set::Table(t) => t.iter().map(|m| m.len() + 56).sum::<usize>() + 64,
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
            1 => Just(b"007".to_vec()),
            1 => proptest::collection::vec(b'a'..b'e', 1..3),
        ]
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
                    prop_assert!(v.windows(2).all(|w| w[0] < w[1]));
                }
            }
        }
    }
}
