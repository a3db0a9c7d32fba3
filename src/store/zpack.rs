//! A small sorted set packed in one exact-sized byte buffer (the role of Redis's listpack):
//! entries in (score, member) order, each a score then a length-prefixed member. An integral
//! score (the common case: ranks, counters, timestamps) takes a varint of a byte or three, any
//! other an 8-byte double, so a set of short members costs a few bytes per entry instead of a
//! (score, handle) pair and an allocation per member.
//!
//! Access is sequential, as in a listpack: the owning set moves to the tree encoding past
//! `zset-max-listpack-entries` members.

use crate::util::varint;
use bytes::Bytes;

/// Largest magnitude stored as an integer (every integer up to it is an exact f64).
const INT_MAX: f64 = (1u64 << 53) as f64;

/// The buffer: the entry count (u32, little-endian), then the entries; empty for no entries.
/// A boxed slice has no spare capacity, and the set's handle is 16 bytes.
#[derive(Clone, Debug, Default)]
pub struct ZPack {
    buf: Box<[u8]>,
}

const HEAD: usize = 4;

/// Encode one entry. A listpack keeps an integral score as an integer, so -0 reads back as 0.
fn encode(out: &mut Vec<u8>, score: f64, member: &[u8]) {
    if score.fract() == 0.0 && score.abs() < INT_MAX {
        let i = score as i64;
        let zz = ((i << 1) ^ (i >> 63)) as u64;
        varint::put(out, (zz << 1) | 1);
    } else {
        out.push(0);
        out.extend_from_slice(&score.to_le_bytes());
    }
    varint::put(out, member.len() as u64);
    out.extend_from_slice(member);
}

/// Decode the entry at `pos`: (score, member, next entry's offset). Only this module writes
/// the buffer, so it is well formed.
#[inline]
fn decode(buf: &[u8], mut pos: usize) -> (f64, &[u8], usize) {
    let tag = varint::get(buf, &mut pos);
    let score = if tag & 1 == 1 {
        let zz = tag >> 1;
        ((zz >> 1) as i64 ^ -((zz & 1) as i64)) as f64
    } else {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[pos..pos + 8]);
        pos += 8;
        f64::from_le_bytes(b)
    };
    let n = varint::get(buf, &mut pos) as usize;
    (score, &buf[pos..pos + n], pos + n)
}

/// `(score, member)` strictly before `(score2, member2)`.
#[inline]
pub fn before(score: f64, member: &[u8], score2: f64, member2: &[u8]) -> bool {
    score < score2 || (score == score2 && member < member2)
}

/// An exactly sized buffer of `count` entries: the header, then `parts` of entry bytes.
fn assemble(count: usize, parts: &[&[u8]]) -> Box<[u8]> {
    if count == 0 {
        return Box::default();
    }
    let body: usize = parts.iter().map(|p| p.len()).sum();
    let mut v = Vec::with_capacity(HEAD + body);
    v.extend_from_slice(&(count as u32).to_le_bytes());
    for p in parts {
        v.extend_from_slice(p);
    }
    v.into_boxed_slice()
}

impl ZPack {
    pub fn new() -> ZPack {
        ZPack::default()
    }

    /// A pack of entries given in order.
    pub fn build<'a>(items: impl IntoIterator<Item = (f64, &'a [u8])>) -> ZPack {
        let mut body = Vec::new();
        let mut n = 0;
        for (s, m) in items {
            encode(&mut body, s, m);
            n += 1;
        }
        ZPack {
            buf: assemble(n, &[&body]),
        }
    }

    pub fn len(&self) -> usize {
        match self.buf.get(..HEAD) {
            Some(h) => u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize,
            None => 0,
        }
    }

    /// Bytes allocated.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    fn body(&self) -> &[u8] {
        self.buf.get(HEAD..).unwrap_or(&[])
    }

    /// Entries with their byte offsets: (offset, score, member).
    pub fn entries(&self) -> Entries<'_> {
        self.entries_at(0)
    }

    /// Entries from byte offset `pos` on.
    pub fn entries_at(&self, pos: usize) -> Entries<'_> {
        Entries {
            buf: self.body(),
            pos,
        }
    }

    /// Byte offset of entry `i` (the end for `i == len`).
    pub fn offset(&self, i: usize) -> usize {
        self.entries()
            .nth(i)
            .map_or(self.body().len(), |(o, _, _)| o)
    }

    /// (index, byte offset, score) of `member`.
    pub fn find(&self, member: &[u8]) -> Option<(usize, usize, f64)> {
        self.entries()
            .enumerate()
            .find(|(_, (_, _, m))| *m == member)
            .map(|(i, (o, s, _))| (i, o, s))
    }

    /// Insert an absent member at its place in the order. The buffer is reallocated to the
    /// new size, as a listpack is on every insert: a set built and then left alone keeps no
    /// slack.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        let body = self.body();
        let at = self
            .entries()
            .find(|&(_, s, m)| !before(s, m, score, member))
            .map_or(body.len(), |(o, _, _)| o);
        let mut enc = Vec::with_capacity(member.len() + 12);
        encode(&mut enc, score, member);
        self.buf = assemble(self.len() + 1, &[&body[..at], &enc, &body[at..]]);
    }

    /// Remove the entries in byte range `from..to` (entry boundaries), `n` of them.
    fn cut(&mut self, from: usize, to: usize, n: usize) {
        let body = self.body();
        self.buf = assemble(self.len() - n, &[&body[..from], &body[to..]]);
    }

    /// Remove the entry at byte offset `at`.
    pub fn remove_at(&mut self, at: usize) {
        let (_, _, next) = decode(self.body(), at);
        self.cut(at, next, 1);
    }

    /// Remove entries `[start, end)`, returning them in order.
    pub fn remove_span(&mut self, start: usize, end: usize) -> Vec<(Bytes, f64)> {
        let from = self.offset(start);
        let mut out = Vec::with_capacity(end.saturating_sub(start).min(self.len()));
        let mut it = self.entries_at(from);
        for _ in start..end {
            match it.next() {
                Some((_, s, m)) => out.push((Bytes::copy_from_slice(m), s)),
                None => break,
            }
        }
        let to = it.pos;
        let n = out.len();
        self.cut(from, to, n);
        out
    }
}

/// Iterator over (byte offset, score, member).
#[derive(Clone)]
pub struct Entries<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (usize, f64, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let at = self.pos;
        let (s, m, next) = decode(self.buf, at);
        self.pos = next;
        Some((at, s, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip_and_small_ones_are_short() {
        let mut p = ZPack::new();
        let scores = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            1.5,
            9007199254740991.0,
            9007199254740992.0,
            -9007199254740993.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            -2.5e-300,
        ];
        for (i, &s) in scores.iter().enumerate() {
            p.insert(s, format!("m{i:02}").as_bytes());
        }
        let mut want: Vec<_> = scores
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                (
                    if s == 0.0 { 0.0 } else { s },
                    format!("m{i:02}").into_bytes(),
                )
            })
            .collect();
        want.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
        let got: Vec<_> = p.entries().map(|(_, s, m)| (s, m.to_vec())).collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.0.to_bits(), w.0.to_bits());
            assert_eq!(g.1, w.1);
        }
        // Ten short members with small integral scores: 4 bytes each, and the count.
        let mut q = ZPack::new();
        for i in 0..10 {
            q.insert(i as f64, format!("m{i}").as_bytes());
        }
        assert_eq!(q.bytes(), 44);
        assert_eq!(q.find(b"m3").map(|(i, _, s)| (i, s)), Some((3, 3.0)));
        let gone = q.remove_span(2, 5);
        assert_eq!(gone.len(), 3);
        assert_eq!(&gone[0].0[..], b"m2");
        assert_eq!(q.len(), 7);
        let (_, at, _) = q.find(b"m9").unwrap();
        q.remove_at(at);
        assert_eq!(q.len(), 6);
        assert_eq!(q.bytes(), 28);
        q.remove_span(0, 6);
        assert_eq!((q.len(), q.bytes()), (0, 0));
    }
}
