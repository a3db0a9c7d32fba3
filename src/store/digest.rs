//! DEBUG DIGEST and DEBUG DIGEST-VALUE: Redis 7.0's dataset digest (debug.c), bit for bit.
//!
//! Unordered collections (the keys of a database, set members, hash fields, sorted set members)
//! are combined by XOR, so their order does not matter; ordered content (a string, the elements
//! of a list) is mixed in with feedback (`SHA1(digest ^ SHA1(data))`), so it does. The digest
//! therefore depends on the data only: equal data gives equal digests whatever the shard count,
//! the memory layout or the order of insertion, and across restarts.

use super::value::{Entry, Value};

/// Redis's object type codes (server.h: OBJ_STRING..OBJ_STREAM), mixed into every value.
fn type_code(v: &Value) -> u32 {
    match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// `digest ^= SHA1(data)`.
pub fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// `digest = SHA1(digest ^ SHA1(data))`.
pub fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(&digest[..]);
}

/// Redis's `xorObjectDigest` from a clean digest: what DEBUG DIGEST-VALUE prints for a key.
pub fn value_digest(e: &Entry) -> [u8; 20] {
    let mut d = [0u8; 20];
    object_digest(&mut d, e);
    d
}

/// What `computeDatasetDigest` XORs into the total for one key: the SHA1 of the digest of the
/// key name mixed with its value.
pub fn key_digest(key: &[u8], e: &Entry) -> [u8; 20] {
    let mut d = [0u8; 20];
    mix_digest(&mut d, key);
    object_digest(&mut d, e);
    sha1(&d)
}

fn object_digest(d: &mut [u8; 20], e: &Entry) {
    mix_digest(d, &type_code(&e.value).to_be_bytes());
    match &e.value {
        Value::Str(s) => mix_digest(d, s),
        Value::List(l) => {
            for el in l.iter() {
                mix_digest(d, el);
            }
        }
        Value::Set(s) => s.for_each(|m| xor_digest(d, m)),
        Value::ZSet(z) => {
            for (m, score) in z.iter() {
                let mut el = [0u8; 20];
                mix_digest(&mut el, m);
                mix_digest(&mut el, crate::util::num::fmt_double(score).as_bytes());
                xor_digest(d, &el);
            }
        }
        Value::Hash(h) => {
            for (f, v) in h.iter() {
                let mut el = [0u8; 20];
                mix_digest(&mut el, f);
                mix_digest(&mut el, v);
                xor_digest(d, &el);
            }
        }
        // As debug.c: each entry's "ms.seq" ID, then its fields and values, in order.
        Value::Stream(st) => {
            for (id, fv) in st.entries() {
                mix_digest(d, format!("{}.{}", id.ms, id.seq).as_bytes());
                for x in &fv {
                    mix_digest(d, x);
                }
            }
        }
    }
    if e.expire_at != 0 {
        xor_digest(d, b"!!expire!!");
    }
}

/// `a ^= b`.
pub fn xor(a: &mut [u8; 20], b: &[u8; 20]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// The dataset digest from, for every database in order, its key count and the XOR of its
/// keys' [`key_digest`]s (what each shard computes over its part, XORed together).
pub fn dataset_digest(dbs: &[(usize, [u8; 20])]) -> [u8; 20] {
    let mut total = [0u8; 20];
    for (j, (keys, xored)) in dbs.iter().enumerate() {
        if *keys == 0 {
            continue;
        }
        mix_digest(&mut total, &(j as u32).to_be_bytes());
        xor(&mut total, xored);
    }
    total
}

/// Lowercase hex, as Redis prints digests.
pub fn hex(d: &[u8; 20]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(40);
    for b in d {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-1 (FIPS 180-4) of `data`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let bit_len = (data.len() as u64).wrapping_mul(8);
    let mut block = [0u8; 64];
    let mut chunks = data.chunks_exact(64);
    for c in &mut chunks {
        block.copy_from_slice(c);
        sha1_block(&mut h, &block);
    }
    let rest = chunks.remainder();
    block = [0u8; 64];
    block[..rest.len()].copy_from_slice(rest);
    block[rest.len()] = 0x80;
    if rest.len() >= 56 {
        sha1_block(&mut h, &block);
        block = [0u8; 64];
    }
    block[56..].copy_from_slice(&bit_len.to_be_bytes());
    sha1_block(&mut h, &block);
    let mut out = [0u8; 20];
    for (o, w) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

fn sha1_block(h: &mut [u32; 5], block: &[u8; 64]) {
    let mut w = [0u32; 80];
    for (i, c) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    }
    for i in 16..80 {
        w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *h;
    for (i, wi) in w.iter().enumerate() {
        let (f, k) = match i {
            0..=19 => ((b & c) | (!b & d), 0x5A827999),
            20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
            40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
            _ => (b ^ c ^ d, 0xCA62C1D6),
        };
        let t = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(k)
            .wrapping_add(*wi);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = t;
    }
    for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
        *x = x.wrapping_add(y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        let million = vec![b'a'; 1_000_000];
        assert_eq!(
            hex(&sha1(&million)),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
        // 55, 56 and 64 bytes: the padding edge cases.
        for n in [55usize, 56, 63, 64, 65] {
            assert_eq!(sha1(&vec![b'x'; n]).len(), 20);
        }
    }

    #[test]
    fn empty_dataset_is_zero() {
        assert_eq!(hex(&dataset_digest(&[(0, [0; 20]); 16])), "0".repeat(40));
    }
}
