//! String values as the keyspace stores them.
//!
//! Most cached values are short (counters, ids, small JSON). A `Value` is 40 bytes whatever it
//! holds, so a string of up to 38 bytes is kept in those bytes, inline in the table slot: SET
//! allocates nothing for it, a GET finds it in the cache line of its entry and answers it from
//! the reply itself (`Reply::Short`, no allocation either), and a million such keys save the
//! million 32–48-byte allocations (plus allocator slack) a `Bytes` each would cost. Longer
//! strings are a `Bytes`, so a large value can be handed to a reply without a copy.

use crate::protocol::reply::{Reply, ShortBulk};
use bytes::{Bytes, BytesMut};
use std::ops::Deref;

/// Bytes kept inline: a `Value` is 40 bytes with its tag; `Str` uses one byte for its own tag
/// (which the `Value` tag shares) and one for the length. As many as a `Reply::Short` holds, for
/// the same reason, so `to_reply` hands the slot's bytes over as they are.
pub const INLINE: usize = crate::protocol::reply::SHORT;

#[derive(Clone)]
pub enum Str {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Bytes),
}

impl Str {
    #[inline]
    pub const fn new() -> Str {
        Str::Inline {
            len: 0,
            buf: [0; INLINE],
        }
    }

    /// An owned copy of `b` (never pins the buffer `b` lives in).
    #[inline]
    pub fn copy_from(b: &[u8]) -> Str {
        match ShortBulk::copy_of(b) {
            Some(s) => {
                let (len, buf) = s.into_parts();
                Str::Inline { len, buf }
            }
            None => Str::Heap(Bytes::copy_from_slice(b)),
        }
    }

    /// Take a buffer built for this value: short ones are moved inline, long ones kept as
    /// they are (with any spare capacity, so that APPEND can grow them in place).
    #[inline]
    pub fn from_bytes(b: Bytes) -> Str {
        if b.len() <= INLINE {
            Str::copy_from(&b)
        } else {
            Str::Heap(b)
        }
    }

    /// Become a copy of `b`, in place when both fit inline (SET over a short string writes no
    /// more than the new bytes).
    #[inline]
    pub fn assign(&mut self, b: &[u8]) {
        match self {
            Str::Inline { len, buf } if b.len() <= INLINE => {
                buf[..b.len()].copy_from_slice(b);
                *len = b.len() as u8;
            }
            // A value of the same length that nothing else holds (no reply being written):
            // overwrite its bytes rather than allocate, copy and free.
            Str::Heap(old) if old.len() == b.len() => match std::mem::take(old).try_into_mut() {
                Ok(mut m) => {
                    m.copy_from_slice(b);
                    *old = m.freeze();
                }
                Err(_) => *self = Str::copy_from(b),
            },
            s => *s = Str::copy_from(b),
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Str::Inline { len, buf } => &buf[..*len as usize],
            Str::Heap(b) => b,
        }
    }

    /// The value for a reply: copied when small, shared when large (`share_or_copy`).
    #[inline]
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Str::Heap(b) => super::value::share_or_copy(b),
            s => Bytes::copy_from_slice(s.as_bytes()),
        }
    }

    /// The value as a reply: held in the reply when inline (no allocation), else `to_bytes`.
    #[inline]
    pub fn to_reply(&self) -> Reply {
        match self {
            Str::Inline { len, buf } => Reply::Short(ShortBulk::new(*len, *buf)),
            s => Reply::Bulk(s.to_bytes()),
        }
    }

    /// The value as a buffer to edit in place (APPEND, SETRANGE, SETBIT): a heap value's own
    /// allocation when nothing else refers to it, else a copy (a reply still being written may
    /// hold the old value).
    pub fn into_mut(self) -> BytesMut {
        match self {
            Str::Heap(b) => b.try_into_mut().unwrap_or_else(|b| BytesMut::from(&b[..])),
            s => BytesMut::from(s.as_bytes()),
        }
    }

    /// Bytes allocated outside the value (0 when inline), for MEMORY USAGE.
    pub fn heap_len(&self) -> usize {
        match self {
            Str::Inline { .. } => 0,
            Str::Heap(b) => b.len(),
        }
    }
}

impl Default for Str {
    fn default() -> Str {
        Str::new()
    }
}

impl Deref for Str {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Str {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

impl PartialEq<[u8]> for Str {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl From<&[u8]> for Str {
    #[inline]
    fn from(b: &[u8]) -> Str {
        Str::copy_from(b)
    }
}

impl From<Bytes> for Str {
    #[inline]
    fn from(b: Bytes) -> Str {
        Str::from_bytes(b)
    }
}

impl From<Vec<u8>> for Str {
    #[inline]
    fn from(v: Vec<u8>) -> Str {
        Str::from_bytes(Bytes::from(v))
    }
}

impl From<BytesMut> for Str {
    #[inline]
    fn from(b: BytesMut) -> Str {
        Str::from_bytes(b.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assign_overwrites_in_place_only_what_nothing_else_holds() {
        let (a, b) = (vec![b'a'; 100], vec![b'b'; 100]);
        // Alone: the same allocation takes the new bytes.
        let mut s = Str::copy_from(&a);
        let before = s.as_bytes().as_ptr();
        s.assign(&b);
        assert_eq!(s.as_bytes(), &b[..]);
        assert_eq!(s.as_bytes().as_ptr(), before);
        // Held by a reply: that copy keeps the old bytes, the value gets new ones.
        let mut s = Str::copy_from(&a);
        let reply = match &s {
            Str::Heap(h) => h.clone(),
            Str::Inline { .. } => unreachable!("100 bytes are not inline"),
        };
        s.assign(&b);
        assert_eq!(s.as_bytes(), &b[..]);
        assert_eq!(&reply[..], &a[..]);
        // Another length: a new allocation, and shorter ones go inline.
        s.assign(&a[..70]);
        assert_eq!(s.as_bytes(), &a[..70]);
        s.assign(b"short");
        assert!(matches!(s, Str::Inline { .. }));
        assert_eq!(s.as_bytes(), b"short");
    }

    #[test]
    fn short_inline_long_on_the_heap_same_bytes() {
        for n in [0, 1, 20, INLINE, INLINE + 1, 129, 5000] {
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            for s in [Str::copy_from(&data), Str::from(data.clone())] {
                assert_eq!(s.as_bytes(), &data[..]);
                assert_eq!(matches!(s, Str::Inline { .. }), n <= INLINE);
                assert_eq!(s.to_bytes(), Bytes::from(data.clone()));
                assert_eq!(&s.clone().into_mut()[..], &data[..]);
            }
        }
    }

    #[test]
    fn a_value_stays_forty_bytes() {
        assert_eq!(std::mem::size_of::<Str>(), 40);
        assert_eq!(std::mem::size_of::<super::super::value::Value>(), 40);
    }

    #[test]
    fn editing_an_unshared_heap_value_keeps_its_allocation() {
        let s = Str::from(vec![7u8; 100]);
        let p = s.as_ptr();
        let m = s.into_mut();
        assert_eq!(m.as_ptr(), p);
    }
}
