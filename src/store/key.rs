//! Keys as the keyspace stores them.
//!
//! Most keys are short ("user:1000:name", "key:000000012345"). Kept inline in the table entry,
//! comparing a key during a lookup touches no other memory: with keys in their own heap
//! allocations that comparison was a cache miss of its own on every hit (it showed as a fifth of
//! a GET's CPU under load). Longer keys go to an exactly-sized heap buffer.

use bytes::Bytes;
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Keys up to this length live inline (24-byte `Key`, like a `Bytes`' 32 minus the tag).
const INLINE: usize = 22;

#[derive(Clone)]
pub enum Key {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    pub fn new(k: &[u8]) -> Key {
        if k.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..k.len()].copy_from_slice(k);
            Key::Inline {
                len: k.len() as u8,
                buf,
            }
        } else {
            Key::Heap(k.into())
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..*len as usize],
            Key::Heap(b) => b,
        }
    }

    /// An owned copy to hand out (KEYS, SCAN, RANDOMKEY replies).
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

impl Deref for Key {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

// Hash and Eq follow `[u8]`'s, so the maps can be queried with a plain `&[u8]`.
impl Borrow<[u8]> for Key {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_keys_hash_and_compare_as_bytes() {
        let s = ahash::RandomState::new();
        for k in [
            &b""[..],
            b"a",
            b"key:000000012345",
            &[7u8; 22],
            &[9u8; 23],
            &[1u8; 300],
        ] {
            let key = Key::new(k);
            assert_eq!(key.as_bytes(), k);
            assert_eq!(s.hash_one(&key), s.hash_one(k));
            assert_eq!(key.to_bytes(), Bytes::copy_from_slice(k));
        }
        assert!(matches!(Key::new(&[0u8; 22]), Key::Inline { .. }));
        assert!(matches!(Key::new(&[0u8; 23]), Key::Heap(_)));
        assert_eq!(std::mem::size_of::<Key>(), 24);
    }
}
