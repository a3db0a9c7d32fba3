//! Command names as `Bytes` that cost no reference counting.
//!
//! Every argument the parser hands out is a slice of the read buffer: cloning and dropping one
//! is an atomic increment and decrement of the buffer's count, a measurable share of a small
//! command's CPU (perf, SET at -P 16: ~6% of samples in `shared_v_clone`/`shared_v_drop` for
//! three arguments). The first argument, the command name, comes in a handful of spellings, so
//! each spelling is leaked once per shard thread and handed out as a static `Bytes`, whose
//! clone and drop are plain copies. Bounded: past `MAX_NAMES` spellings (or for a long one)
//! names are sliced as before, so junk cannot grow memory.

use bytes::Bytes;
use std::cell::RefCell;
use std::collections::HashSet;

/// Spellings kept per thread (upper and lower case of every command fit many times over).
const MAX_NAMES: usize = 512;
/// Longer first arguments are not names worth keeping.
const MAX_LEN: usize = 32;

thread_local! {
    static NAMES: RefCell<HashSet<&'static [u8]>> = RefCell::new(HashSet::new());
}

/// `name` as a static `Bytes`, or None when it is too long or the table is full.
pub fn name(name: &[u8]) -> Option<Bytes> {
    if name.len() > MAX_LEN {
        return None;
    }
    NAMES.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(&kept) = t.get(name) {
            return Some(Bytes::from_static(kept));
        }
        if t.len() >= MAX_NAMES {
            return None;
        }
        let kept: &'static [u8] = Box::leak(name.to_vec().into_boxed_slice());
        t.insert(kept);
        Some(Bytes::from_static(kept))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spelling_is_kept_once_and_long_names_are_not() {
        let a = name(b"SET").expect("kept");
        let b = name(b"SET").expect("kept");
        assert_eq!(a.as_ptr(), b.as_ptr());
        assert_eq!(&a[..], b"SET");
        assert_ne!(name(b"set").expect("kept").as_ptr(), a.as_ptr());
        assert!(name(&[b'x'; MAX_LEN + 1]).is_none());
    }
}
