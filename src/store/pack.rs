//! A flat, compact sequence of byte strings: the small hash's encoding (the role of Redis's
//! listpack; lists have their own, walkable from both ends: `listnode.rs`). One allocation holds every entry as a varint length
//! followed by its bytes, so a small collection costs its payload plus a byte or two per entry
//! instead of a heap object (and 32-byte handle) per element.
//!
//! Access is sequential, as in a listpack: fine for the small sizes it is used for; the owning
//! type converts to a real container past its configured thresholds.
//!
//! The buffer grows to fit, as a listpack is reallocated on every insert, rather than by
//! doubling: a collection built and then left alone (the usual case) would otherwise keep up to
//! half its allocation unused for good.

use crate::util::varint;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pack {
    buf: Vec<u8>,
    len: usize,
}

impl Clone for Pack {
    fn clone(&self) -> Pack {
        // `Vec::clone` allocates exactly the length; keep that (no slack copied over).
        Pack {
            buf: self.buf.clone(),
            len: self.len,
        }
    }
}

/// The capacity to allocate for `n` bytes: `n` rounded up to the jemalloc size class it lands
/// in anyway (the gap would be wasted, and this way later pushes fill it without a
/// reallocation), plus an eighth past 512 bytes so a growing large pack is not copied on every
/// push.
pub fn fit_capacity(n: usize) -> usize {
    size_class(if n > 512 { n + n / 8 } else { n })
}

/// jemalloc's size class for `n` bytes (x86-64, 16-byte quantum): 8, then 16-byte steps up to
/// 128, then four classes per doubling (160, 192, 224, 256, 320, …).
pub fn size_class(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return (n + 15) & !15;
    }
    // 2^(lg-1) < n <= 2^lg; the classes in that range are 2^(lg-3) apart.
    let lg = usize::BITS - (n - 1).leading_zeros();
    let step = 1usize << (lg - 3);
    (n + step - 1) & !(step - 1)
}

fn put_varint(out: &mut Vec<u8>, n: usize) {
    varint::put(out, n as u64);
}

/// Decode the entry starting at `pos`: (data start, data end). Entries are only ever written
/// by this module, so the buffer is well formed.
#[inline]
fn entry_at(buf: &[u8], mut pos: usize) -> (usize, usize) {
    let n = varint::get(buf, &mut pos) as usize;
    (pos, pos + n)
}

/// Encoded size of an entry (header + data).
pub fn entry_size(data_len: usize) -> usize {
    varint::len(data_len as u64) + data_len
}

impl Pack {
    pub fn new() -> Pack {
        Pack::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Encoded bytes in use.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            pos: 0,
        }
    }

    /// Entries with their byte spans: (entry start, data start, data end).
    fn spans(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= self.buf.len() {
                return None;
            }
            let (s, e) = entry_at(&self.buf, pos);
            let start = pos;
            pos = e;
            Some((start, s, e))
        })
    }

    /// The byte span (entry start, entry end) of entry `i`.
    fn span(&self, i: usize) -> Option<(usize, usize)> {
        self.spans().nth(i).map(|(st, _, e)| (st, e))
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.spans().nth(i).map(|(_, s, e)| &self.buf[s..e])
    }

    /// Room for `add` more bytes, allocated to fit (see the module comment).
    #[inline]
    pub fn reserve(&mut self, add: usize) {
        let need = self.buf.len() + add;
        if need > self.buf.capacity() {
            self.buf.reserve_exact(fit_capacity(need) - self.buf.len());
        }
    }

    /// Give back the room a removal left, when it is worth a reallocation.
    fn shrink(&mut self) {
        let want = fit_capacity(self.buf.len());
        if self.buf.capacity() >= want + 64 || (self.buf.is_empty() && self.buf.capacity() > 0) {
            self.buf
                .shrink_to(if self.buf.is_empty() { 0 } else { want });
        }
    }

    /// Give back what a `reserve` larger than the pushes that followed left unused.
    pub fn fit(&mut self) {
        let want = fit_capacity(self.buf.len());
        if self.buf.capacity() > want {
            self.buf.shrink_to(want);
        }
    }

    pub fn push_back(&mut self, v: &[u8]) {
        self.reserve(entry_size(v.len()));
        put_varint(&mut self.buf, v.len());
        self.buf.extend_from_slice(v);
        self.len += 1;
    }

    /// Replace entry `i` with `v`.
    pub fn replace(&mut self, i: usize, v: &[u8]) {
        if let Some((st, e)) = self.span(i) {
            let mut enc = Vec::with_capacity(entry_size(v.len()));
            put_varint(&mut enc, v.len());
            enc.extend_from_slice(v);
            self.reserve(enc.len().saturating_sub(e - st));
            self.buf.splice(st..e, enc);
            self.shrink();
        }
    }

    /// Remove `n` entries starting at entry `i`.
    pub fn remove_range(&mut self, i: usize, n: usize) {
        if n == 0 || i >= self.len {
            return;
        }
        let n = n.min(self.len - i);
        let (st, end) = {
            let mut spans = self.spans().skip(i);
            let Some((st, _, end)) = spans.next() else {
                return;
            };
            let end = if n > 1 {
                spans.nth(n - 2).map_or(end, |(_, _, e)| e)
            } else {
                end
            };
            (st, end)
        };
        self.buf.drain(st..end);
        self.len -= n;
        self.shrink();
    }
}

impl<T: AsRef<[u8]>> FromIterator<T> for Pack {
    fn from_iter<I: IntoIterator<Item = T>>(it: I) -> Pack {
        let mut p = Pack::new();
        for v in it {
            p.push_back(v.as_ref());
        }
        p
    }
}

pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let b = *self.buf.get(self.pos)?;
        // Entries under 128 bytes (nearly all of them) have a one-byte header.
        if b < 0x80 {
            let s = self.pos + 1;
            self.pos = s + b as usize;
            return self.buf.get(s..self.pos);
        }
        let (s, e) = entry_at(self.buf, self.pos);
        self.pos = e;
        Some(&self.buf[s..e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits() {
        let mut p: Pack = ["a", "bb", ""].iter().collect();
        assert_eq!(p.len(), 3);
        p.replace(1, &[b'x'; 200]);
        assert_eq!(p.get(1).map(|v| v.len()), Some(200));
        p.replace(0, b"zz");
        p.remove_range(1, 1);
        let v: Vec<&[u8]> = p.iter().collect();
        assert_eq!(v, vec![b"zz".as_slice(), b""]);
        p.remove_range(0, 2);
        assert!(p.is_empty());
        assert_eq!(p.bytes(), 0);
    }

    #[test]
    fn allocated_to_fit() {
        let mut p = Pack::new();
        for i in 0..10 {
            p.push_back(format!("field{i}").as_bytes());
            p.push_back(format!("value{i}").as_bytes());
        }
        assert_eq!(p.bytes(), 140);
        assert_eq!(p.buf.capacity(), 160);
        for (n, c) in [
            (0, 8),
            (9, 16),
            (100, 112),
            (129, 160),
            (256, 256),
            (257, 320),
        ] {
            assert_eq!(size_class(n), c);
        }
        for n in [0, 1, 24, 25, 100, 140, 500, 600, 8000, 70_000] {
            let c = fit_capacity(n);
            assert!(c >= n && c == size_class(c), "{n} -> {c}");
        }
        // What jemalloc really hands out (the tests run on it, see memory/alloc.rs).
        for n in [1, 17, 100, 140, 390, 1000, 5000, 40_000] {
            // SAFETY: nallocx only computes a size; flags 0 asks for no special alignment.
            let real = unsafe { tikv_jemalloc_sys::nallocx(n, 0) };
            assert_eq!(real, size_class(n), "{n}");
        }
        p.remove_range(0, 16);
        assert!(p.buf.capacity() < 64);
        // A reservation larger than what followed is given back.
        p.reserve(300);
        p.push_back(b"x");
        p.fit();
        assert_eq!(p.buf.capacity(), size_class(p.bytes()));
    }
}
