//! The hash type. Small hashes are one flat `Pack` of alternating fields and values, in
//! insertion order (Redis's listpack encoding); a hash with more than `hash-max-listpack-entries`
//! fields, or a field or value longer than `hash-max-listpack-value`, becomes a hash table for
//! good (Redis never converts back either).

use super::pack::{entry_size, Pack};
use bytes::Bytes;

/// The hash-table encoding: fields and their values as `Pair`s (a `Bytes` handle per string
/// would cost 32 bytes plus an allocation each).
pub type Table = super::table::Table<Pair>;

/// Bytes a pair keeps inline: what fits beside its two lengths and tag in 40 bytes.
const PAIR_INLINE: usize = 37;

/// A field and its value as the table holds them, in one 40-byte item: both inline when
/// together they fit `PAIR_INLINE` bytes (short fields and values, the usual case), otherwise
/// both in one exactly sized heap buffer.
#[derive(Clone)]
pub enum Pair {
    Inline {
        flen: u8,
        vlen: u8,
        buf: [u8; PAIR_INLINE],
    },
    Heap {
        flen: usize,
        buf: Box<[u8]>,
    },
}

impl Pair {
    pub fn new(field: &[u8], value: &[u8]) -> Pair {
        let n = field.len() + value.len();
        if n <= PAIR_INLINE {
            let mut buf = [0u8; PAIR_INLINE];
            buf[..field.len()].copy_from_slice(field);
            buf[field.len()..n].copy_from_slice(value);
            Pair::Inline {
                flen: field.len() as u8,
                vlen: value.len() as u8,
                buf,
            }
        } else {
            let mut buf = Vec::with_capacity(n);
            buf.extend_from_slice(field);
            buf.extend_from_slice(value);
            Pair::Heap {
                flen: field.len(),
                buf: buf.into_boxed_slice(),
            }
        }
    }

    #[inline]
    pub fn field(&self) -> &[u8] {
        match self {
            Pair::Inline { flen, buf, .. } => &buf[..*flen as usize],
            Pair::Heap { flen, buf } => &buf[..*flen],
        }
    }

    #[inline]
    pub fn value(&self) -> &[u8] {
        match self {
            Pair::Inline { flen, vlen, buf } => &buf[*flen as usize..(*flen + *vlen) as usize],
            Pair::Heap { flen, buf } => &buf[*flen..],
        }
    }

    /// Heap bytes, for MEMORY USAGE.
    fn heap(&self) -> usize {
        match self {
            Pair::Inline { .. } => 0,
            Pair::Heap { buf, .. } => buf.len(),
        }
    }
}

impl super::table::Keyed for Pair {
    #[inline]
    fn key(&self) -> &[u8] {
        self.field()
    }
}

impl PartialEq for Pair {
    fn eq(&self, other: &Pair) -> bool {
        self.field() == other.field() && self.value() == other.value()
    }
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}: {:?}",
            String::from_utf8_lossy(self.field()),
            String::from_utf8_lossy(self.value())
        )
    }
}

/// The table is boxed so that a small hash (the common case) keeps `Value` and every keyspace
/// entry small.
#[derive(Debug, Clone, PartialEq)]
pub enum Hash {
    Packed(Pack),
    Table(Box<Table>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Packed(Pack::new())
    }
}

/// The listpack thresholds (`hash-max-listpack-entries`, `hash-max-listpack-value`).
#[derive(Debug, Clone, Copy)]
pub struct HashLimits {
    pub entries: usize,
    pub value: usize,
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Packed(p) => p.len() / 2,
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Packed(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// Position (in fields) of `field` in a pack.
    fn pack_pos(p: &Pack, field: &[u8]) -> Option<usize> {
        p.iter().step_by(2).position(|f| f == field)
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Packed(p) => {
                let mut it = p.iter();
                while let Some(f) = it.next() {
                    let v = it.next();
                    if f == field {
                        return v;
                    }
                }
                None
            }
            Hash::Table(t) => t.get(field).map(Pair::value),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    fn convert_to_table(&mut self) {
        if let Hash::Packed(p) = self {
            let mut t = Table::with_capacity(p.len() / 2);
            let mut it = p.iter();
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                t.insert(Pair::new(f, v));
            }
            *self = Hash::Table(Box::new(t));
        }
    }

    /// Convert ahead of a write whose strings are too long for the pack (Redis's
    /// hashTypeTryConversion over a command's arguments).
    pub fn try_conversion<'a>(
        &mut self,
        strings: impl IntoIterator<Item = &'a [u8]>,
        lim: HashLimits,
    ) {
        if matches!(self, Hash::Packed(_)) && strings.into_iter().any(|s| s.len() > lim.value) {
            self.convert_to_table();
        }
    }

    /// Room in a new (empty) pack for the fields and values a command is about to set, in one
    /// allocation rather than one per pair; `fit` afterwards gives back what a field repeated
    /// in the command left unused. (A pack that holds fields already grows pair by pair:
    /// reserving for fields that turn out to exist would cost two reallocations instead.)
    pub fn reserve_for<'a>(&mut self, strings: impl IntoIterator<Item = &'a [u8]>) {
        if let Hash::Packed(p) = self {
            if p.is_empty() {
                p.reserve(strings.into_iter().map(|s| entry_size(s.len())).sum());
            }
        }
    }

    /// See `reserve_for`.
    pub fn fit(&mut self) {
        if let Hash::Packed(p) = self {
            p.fit();
        }
    }

    /// Set a field; true if it is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: HashLimits) -> bool {
        self.try_conversion([field, value], lim);
        let new = match self {
            Hash::Packed(p) => match Self::pack_pos(p, field) {
                Some(i) => {
                    p.replace(2 * i + 1, value);
                    false
                }
                None => {
                    p.reserve(entry_size(field.len()) + entry_size(value.len()));
                    p.push_back(field);
                    p.push_back(value);
                    true
                }
            },
            Hash::Table(t) => {
                let (p, new) = t.find_or_insert(field, || Pair::new(field, value));
                if !new {
                    *p = Pair::new(field, value);
                }
                new
            }
        };
        if matches!(self, Hash::Packed(_)) && self.len() > lim.entries {
            self.convert_to_table();
        }
        new
    }

    /// Remove a field; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(p) => match Self::pack_pos(p, field) {
                Some(i) => {
                    p.remove_range(2 * i, 2);
                    true
                }
                None => false,
            },
            Hash::Table(t) => t.swap_remove(field).is_some(),
        }
    }

    /// Field/value pairs, in the encoding's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Packed(p) => {
                let mut it = p.iter();
                Box::new(std::iter::from_fn(move || Some((it.next()?, it.next()?))))
            }
            Hash::Table(t) => Box::new(t.iter().map(|p| (p.field(), p.value()))),
        }
    }

    /// The pair at position `i` (for random picks), in the order of `iter`.
    pub fn pair_at(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Packed(p) => Some((p.get(2 * i)?, p.get(2 * i + 1)?)),
            Hash::Table(t) => t.get_index(i).map(|p| (p.field(), p.value())),
        }
    }

    /// One HSCAN step. A packed hash is returned whole with cursor 0, as Redis does for its
    /// listpack; a table is walked like the keyspace (see `Db::scan`): positions from the end,
    /// so entries present for the whole scan are all returned despite swap-removals.
    pub fn scan(&self, pos: usize, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> usize {
        match self {
            Hash::Packed(_) => {
                for (k, v) in self.iter() {
                    f(k, v);
                }
                0
            }
            Hash::Table(t) => {
                let len = t.len();
                let mut next = if pos == 0 { len } else { pos.min(len) };
                let mut visited = 0;
                while next > 0 && visited < count {
                    if let Some(p) = t.get_index(next - 1) {
                        f(p.field(), p.value());
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
            Hash::Packed(p) => p.bytes() + 32,
            Hash::Table(t) => {
                // The item, and about two u32 index slots and their control bytes.
                t.iter().map(|p| 50 + p.heap()).sum::<usize>() + 64
            }
        }
    }
}

/// The commands that rebuild `h` at `key`, for AOF rewrite: HSET with at most
/// `AOF_REWRITE_ITEMS_PER_CMD` field/value pairs each.
// Called by the AOF rewrite (persistence work in progress); SADD's twin is already used.
pub fn rewrite_commands(key: &[u8], h: &Hash, out: &mut Vec<Vec<Bytes>>) {
    let pairs: Vec<(&[u8], &[u8])> = h.iter().collect();
    for chunk in pairs.chunks(super::AOF_REWRITE_ITEMS_PER_CMD) {
        let mut cmd = Vec::with_capacity(2 * chunk.len() + 2);
        cmd.push(Bytes::from_static(b"HSET"));
        cmd.push(Bytes::copy_from_slice(key));
        for (f, v) in chunk {
            cmd.push(Bytes::copy_from_slice(f));
            cmd.push(Bytes::copy_from_slice(v));
        }
        out.push(cmd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn s() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => proptest::collection::vec(b'a'..b'h', 0..3),
            1 => proptest::collection::vec(b'a'..b'c', 60..70),
        ]
    }

    #[test]
    fn pairs_are_40_bytes_and_inline_when_short() {
        assert_eq!(std::mem::size_of::<Pair>(), 40);
        for (f, v, inline) in [
            (&b""[..], &b""[..], true),
            (b"field:123456", b"value:123456", true),
            (&[b'f'; 20], &[b'v'; 17], true),
            (&[b'f'; 20], &[b'v'; 18], false),
            (b"f", &[b'v'; 300], false),
        ] {
            let p = Pair::new(f, v);
            assert_eq!((p.field(), p.value()), (f, v));
            assert_eq!(matches!(p, Pair::Inline { .. }), inline);
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_map(
            ops in proptest::collection::vec((any::<bool>(), s(), s()), 0..200),
            entries in prop_oneof![Just(2usize), Just(16), Just(512)],
        ) {
            let lim = HashLimits { entries, value: 64 };
            let mut h = Hash::new();
            let mut m: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            for (set, f, v) in ops {
                if set {
                    // As HSET does: room for the command's strings first, trimmed after.
                    h.reserve_for([&f[..], &v[..], &f[..], &v[..]]);
                    prop_assert_eq!(h.set(&f, &v, lim), m.insert(f.clone(), v.clone()).is_none());
                    h.fit();
                } else {
                    prop_assert_eq!(h.remove(&f), m.remove(&f).is_some());
                }
                prop_assert_eq!(h.len(), m.len());
                let too_big = m.len() > entries || m.iter().any(|(f, v)| f.len() > 64 || v.len() > 64);
                if too_big {
                    prop_assert_eq!(h.encoding(), "hashtable");
                }
                let got: HashMap<Vec<u8>, Vec<u8>> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                prop_assert_eq!(&got, &m);
                for (f, v) in &m {
                    prop_assert_eq!(h.get(f), Some(v.as_slice()));
                }
                let mut seen = HashMap::new();
                let mut cur = 0;
                loop {
                    cur = h.scan(cur, 3, |f, v| { seen.insert(f.to_vec(), v.to_vec()); });
                    if cur == 0 { break; }
                }
                prop_assert_eq!(seen, m.clone());
            }
        }
    }
}
