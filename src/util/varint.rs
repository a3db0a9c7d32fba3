//! LEB128 varints (7 bits a byte, high bit = more), the length and number headers of the packed
//! buffers (`store/pack.rs`, `store/zpack.rs`, stream nodes).

/// Append `n`.
#[inline]
pub fn put(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Read the varint at `*pos` and move past it. The buffers are only ever written by this
/// server, so the varint is whole.
#[inline]
pub fn get(buf: &[u8], pos: &mut usize) -> u64 {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        n |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

/// Bytes `put` writes for `n`.
#[inline]
pub fn len(mut n: u64) -> usize {
    let mut k = 1;
    while n >= 0x80 {
        n >>= 7;
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_sizes() {
        for n in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut b = vec![7u8];
            super::put(&mut b, n);
            assert_eq!(b.len() - 1, super::len(n));
            let mut pos = 1;
            assert_eq!(super::get(&b, &mut pos), n);
            assert_eq!(pos, b.len());
        }
    }
}
