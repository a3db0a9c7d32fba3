//! HyperLogLog over a string's bytes, byte-compatible with Redis 7.0 (hyperloglog.c).
//!
//! Layout: a 16-byte header ("HYLL", encoding, 3 unused bytes, the cached cardinality as 8
//! little-endian bytes whose top bit set means "stale"), then the registers: 16384 registers of
//! 6 bits, either dense (packed LSB-first, 12288 bytes) or sparse (run-length opcodes: ZERO
//! `00xxxxxx`, XZERO `01xxxxxx yyyyyyyy`, VAL `1vvvvvxx`). Elements are hashed with
//! MurmurHash64A (seed 0xadc83b19): the low 14 bits pick the register, the position of the
//! first set bit in the rest is the value. The estimate is Ertl's improved raw estimator, as in
//! Redis 7.0, so counts match Redis exactly.
//!
//! The bytes come from clients (SET, RESTORE): nothing here trusts a length or an opcode.
//! Where Redis reads the string's NUL terminator past the end (a truncated XZERO), a missing
//! byte reads as 0, so corrupt values give Redis's answers rather than a panic. One known
//! divergence, on crafted values only: when PFADD splits a final XZERO that lacks its second
//! byte, Redis writes the new last byte over its NUL terminator, past the string's length, and
//! reads it back on later edits of that same allocation; here it reads as 0 (as it would in
//! Redis after the value is copied).

pub const HDR_SIZE: usize = 16;
const P: u32 = 14;
/// Bits of the hash left after the register index.
const Q: usize = 64 - P as usize;
pub const REGISTERS: usize = 1 << P;
const P_MASK: u64 = REGISTERS as u64 - 1;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// Length of a dense HLL string.
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * BITS).div_ceil(8);
const ENC_DENSE: u8 = 0;
const ENC_SPARSE: u8 = 1;
const MAGIC: &[u8; 4] = b"HYLL";
const SEED: u64 = 0xadc8_3b19;
/// 0.5 / ln(2).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

const XZERO_BIT: u8 = 0x40;
const VAL_BIT: u8 = 0x80;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not an HLL string at all (Redis: "WRONGTYPE Key is not a valid HyperLogLog string
    /// value.").
    NotHll,
    /// Looks like an HLL but its registers don't decode (Redis: INVALIDOBJ).
    Corrupt,
}

/// Redis's isHLLObjectOrReply: magic, a known encoding, and the exact length when dense. A
/// sparse body is only checked when it is walked.
pub fn validate(buf: &[u8]) -> Result<Encoding, Error> {
    if buf.len() < HDR_SIZE || &buf[..4] != MAGIC {
        return Err(Error::NotHll);
    }
    match buf[4] {
        ENC_DENSE if buf.len() == DENSE_SIZE => Ok(Encoding::Dense),
        ENC_SPARSE => Ok(Encoding::Sparse),
        _ => Err(Error::NotHll),
    }
}

/// A new, empty HLL as Redis creates it: sparse, one XZERO covering every register, cached
/// cardinality 0 and valid.
pub fn new_hll() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR_SIZE + 2);
    v.extend_from_slice(MAGIC);
    v.push(ENC_SPARSE);
    v.resize(HDR_SIZE, 0);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        v.extend_from_slice(&xzero_op(n));
        left -= n;
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------------------

/// MurmurHash64A (Austin Appleby), reading the input as little-endian words as Redis does on
/// the machines it runs on.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut k = w
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to and the value it offers (1 + trailing zeros of the rest
/// of the hash, at most Q + 1).
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash & P_MASK) as usize;
    // The guard bit bounds the count at Q + 1.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------------------------
// Cached cardinality
// ---------------------------------------------------------------------------------------------

/// The cached cardinality, if the header holds a valid one.
pub fn cached(buf: &[u8]) -> Option<u64> {
    let card: [u8; 8] = buf.get(8..HDR_SIZE)?.try_into().ok()?;
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

pub fn set_cached(buf: &mut [u8], card: u64) {
    if let Some(c) = buf.get_mut(8..HDR_SIZE) {
        c.copy_from_slice(&card.to_le_bytes());
    }
}

pub fn invalidate_cache(buf: &mut [u8]) {
    if let Some(b) = buf.get_mut(15) {
        *b |= 0x80;
    }
}

// ---------------------------------------------------------------------------------------------
// Dense registers
// ---------------------------------------------------------------------------------------------

/// Register `i` of a dense register block (12288 bytes).
fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * BITS;
    let (byte, fb) = (bit / 8, bit & 7);
    let b0 = u16::from(regs.get(byte).copied().unwrap_or(0));
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REGISTER_MAX)) as u8
}

fn dense_put(regs: &mut [u8], i: usize, val: u8) {
    let bit = i * BITS;
    let (byte, fb) = (bit / 8, bit & 7);
    let v = u16::from(val & REGISTER_MAX) << fb;
    let mask = u16::from(REGISTER_MAX) << fb;
    if let Some(b) = regs.get_mut(byte) {
        *b = (*b & !(mask as u8)) | v as u8;
    }
    // The register's high bits, when it straddles two bytes.
    if let Some(b) = regs.get_mut(byte + 1) {
        *b = (*b & !((mask >> 8) as u8)) | (v >> 8) as u8;
    }
}

/// Raise register `i` to `count`; true if it changed.
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

fn dense_regs(buf: &[u8]) -> &[u8] {
    buf.get(HDR_SIZE..DENSE_SIZE).unwrap_or(&[])
}

fn dense_regs_mut(buf: &mut [u8]) -> &mut [u8] {
    buf.get_mut(HDR_SIZE..DENSE_SIZE).unwrap_or(&mut [])
}

/// Four registers per three bytes.
fn dense_histogram(regs: &[u8], hist: &mut [u64; 64]) {
    for c in regs.chunks_exact(3) {
        let (b0, b1, b2) = (c[0], c[1], c[2]);
        hist[usize::from(b0 & 63)] += 1;
        hist[usize::from((b0 >> 6 | b1 << 2) & 63)] += 1;
        hist[usize::from((b1 >> 4 | b2 << 4) & 63)] += 1;
        hist[usize::from(b2 >> 2)] += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Sparse opcodes
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// A run of zero registers.
    Zero(usize),
    /// A long run of zero registers (two bytes).
    XZero(usize),
    /// A run of registers holding `value` (1..=32).
    Val(u8, usize),
}

impl Op {
    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    fn size(self) -> usize {
        if matches!(self, Op::XZero(_)) {
            2
        } else {
            1
        }
    }
}

/// The opcode at `p` (`p` must be inside `buf`).
fn op_at(buf: &[u8], p: usize) -> Op {
    let b = buf[p];
    if b & VAL_BIT != 0 {
        Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 3) + 1)
    } else if b & XZERO_BIT != 0 {
        // Redis reads the NUL terminator when the second byte is missing.
        let lo = buf.get(p + 1).copied().unwrap_or(0);
        Op::XZero(((usize::from(b & 0x3f) << 8) | usize::from(lo)) + 1)
    } else {
        Op::Zero(usize::from(b & 0x3f) + 1)
    }
}

fn val_op(value: u8, len: usize) -> u8 {
    ((value - 1) << 2) | (len as u8 - 1) | VAL_BIT
}

fn xzero_op(len: usize) -> [u8; 2] {
    let l = len - 1;
    [(l >> 8) as u8 | XZERO_BIT, (l & 0xff) as u8]
}

/// A run of `len` zero registers (1..=16384), as Redis writes it when splitting.
fn push_zeros(seq: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        seq.extend_from_slice(&xzero_op(len));
    } else {
        seq.push((len - 1) as u8);
    }
}

/// The sparse opcodes with their offsets.
fn sparse_ops(buf: &[u8]) -> impl Iterator<Item = (usize, Op)> + '_ {
    let mut p = HDR_SIZE;
    std::iter::from_fn(move || {
        if p >= buf.len() {
            return None;
        }
        let op = op_at(buf, p);
        let at = p;
        p += op.size();
        Some((at, op))
    })
}

/// Call `f` for every non-zero register of a sparse body: Redis's hllMerge /
/// hllSparseToDense walk. A VAL run past the last register is corrupt (even right after the
/// runs reached 16384), and the runs must cover exactly every register.
fn sparse_for_each(buf: &[u8], mut f: impl FnMut(usize, u8)) -> Result<(), Error> {
    let mut idx = 0usize;
    for (_, op) in sparse_ops(buf) {
        match op {
            Op::Zero(n) | Op::XZero(n) => idx += n,
            Op::Val(v, n) => {
                if idx + n > REGISTERS {
                    return Err(Error::Corrupt);
                }
                for i in idx..idx + n {
                    f(i, v);
                }
                idx += n;
            }
        }
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Error::Corrupt)
    }
}

fn sparse_histogram(buf: &[u8], hist: &mut [u64; 64]) -> Result<(), Error> {
    let mut idx = 0u64;
    for (_, op) in sparse_ops(buf) {
        let n = op.span() as u64;
        idx += n;
        match op {
            Op::Zero(_) | Op::XZero(_) => hist[0] += n,
            Op::Val(v, _) => hist[usize::from(v)] += n,
        }
    }
    if idx == REGISTERS as u64 {
        Ok(())
    } else {
        Err(Error::Corrupt)
    }
}

/// Redis's hllSparseToDense: the header is kept (cached cardinality included), the encoding
/// byte set to dense. A dense value is left alone.
pub fn sparse_to_dense(buf: &mut Vec<u8>) -> Result<(), Error> {
    match validate(buf) {
        Ok(Encoding::Dense) => return Ok(()),
        Ok(Encoding::Sparse) => {}
        Err(_) => return Err(Error::Corrupt),
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR_SIZE].copy_from_slice(&buf[..HDR_SIZE]);
    dense[4] = ENC_DENSE;
    let regs = &mut dense[HDR_SIZE..];
    sparse_for_each(buf, |i, v| dense_put(regs, i, v))?;
    *buf = dense;
    Ok(())
}

/// Redis's hllSparseSet: raise register `index` to `count` in a sparse HLL, editing the opcode
/// sequence in place (splitting the run that covers it and merging equal neighbours after),
/// or promoting to dense when the value doesn't fit a VAL opcode or the string would pass
/// `max_bytes`. Returns whether the register changed.
fn sparse_set(buf: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> Result<bool, Error> {
    if count > VAL_MAX_VALUE {
        return promote(buf, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let mut first = 0usize;
    let mut prev = None;
    let mut found = None;
    for (p, op) in sparse_ops(buf) {
        if index < first + op.span() {
            found = Some((p, op));
            break;
        }
        prev = Some(p);
        first += op.span();
    }
    let Some((p, op)) = found else {
        return Err(Error::Corrupt);
    };
    let last = first + op.span() - 1;

    // Step 2: the trivial in-place updates, else build the replacement sequence.
    let mut seq = Vec::with_capacity(5);
    match op {
        Op::Val(old, _) if old >= count => return Ok(false),
        Op::Val(_, 1) | Op::Zero(1) => {
            buf[p] = val_op(count, 1);
            merge_neighbours(buf, prev.unwrap_or(HDR_SIZE));
            invalidate_cache(buf);
            return Ok(true);
        }
        Op::Zero(_) | Op::XZero(_) => {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
        Op::Val(cur, _) => {
            if index != first {
                seq.push(val_op(cur, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(cur, last - index));
            }
        }
    }

    // Step 3: put the sequence in place of the opcode.
    let old_len = op.size();
    let new_total = buf.len() + seq.len() - old_len;
    if seq.len() > old_len && new_total > max_bytes {
        return promote(buf, index, count);
    }
    if p + old_len < buf.len() {
        buf.splice(p..p + old_len, seq);
    } else {
        // The last opcode (possibly an XZERO cut short): Redis writes the sequence at `p` and
        // sets the length by the opcode's nominal size.
        buf.truncate(p);
        buf.extend_from_slice(&seq);
        buf.truncate(new_total);
    }

    // Step 4: merge adjacent VAL opcodes of equal value.
    merge_neighbours(buf, prev.unwrap_or(HDR_SIZE));
    invalidate_cache(buf);
    Ok(true)
}

/// Redis scans up to five opcodes from the one before the edit, folding a VAL into the next
/// when both have the same value and their runs fit one opcode.
fn merge_neighbours(buf: &mut Vec<u8>, mut p: usize) {
    let mut scan = 5;
    while p < buf.len() && scan > 0 {
        scan -= 1;
        let op = op_at(buf, p);
        let Op::Val(v1, n1) = op else {
            p += op.size();
            continue;
        };
        if let Some(Op::Val(v2, n2)) = (p + 1 < buf.len()).then(|| op_at(buf, p + 1)) {
            if v1 == v2 && n1 + n2 <= VAL_MAX_LEN {
                buf[p + 1] = val_op(v1, n1 + n2);
                buf.remove(p);
                // Try the merged run against its right neighbour too.
                continue;
            }
        }
        p += 1;
    }
}

fn promote(buf: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Error> {
    sparse_to_dense(buf)?;
    Ok(dense_set(dense_regs_mut(buf), index, count))
}

// ---------------------------------------------------------------------------------------------
// The operations
// ---------------------------------------------------------------------------------------------

/// Raise register `index` to `count`, whatever the encoding (sparse values promote to dense as
/// Redis does). The cached cardinality is left to the caller.
pub fn set_register(
    buf: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Error> {
    // A register is never lowered, and there are no others.
    if count == 0 || index >= REGISTERS {
        return Ok(false);
    }
    match validate(buf) {
        Ok(Encoding::Dense) => Ok(dense_set(dense_regs_mut(buf), index, count)),
        Ok(Encoding::Sparse) => sparse_set(buf, index, count, max_bytes),
        Err(_) => Err(Error::Corrupt),
    }
}

/// Add one element; true if a register changed (Redis's hllAdd).
pub fn add(buf: &mut Vec<u8>, ele: &[u8], max_bytes: usize) -> Result<bool, Error> {
    let (index, count) = pat_len(ele);
    set_register(buf, index, count, max_bytes)
}

/// The cardinality estimate of one HLL, ignoring the cache (Redis's hllCount).
pub fn count(buf: &[u8]) -> Result<u64, Error> {
    let mut hist = [0u64; 64];
    match validate(buf).map_err(|_| Error::Corrupt)? {
        Encoding::Dense => dense_histogram(dense_regs(buf), &mut hist),
        Encoding::Sparse => sparse_histogram(buf, &mut hist)?,
    }
    Ok(estimate(&hist))
}

/// The cardinality of a register array of one byte per register (PFCOUNT of several keys).
pub fn count_registers(regs: &[u8]) -> u64 {
    let mut hist = [0u64; 64];
    for &r in regs {
        hist[usize::from(r.min(63))] += 1;
    }
    estimate(&hist)
}

/// Raise each of `max`'s registers (one byte per register) to this HLL's (Redis's hllMerge).
pub fn merge_into(max: &mut [u8], buf: &[u8]) -> Result<(), Error> {
    match validate(buf).map_err(|_| Error::Corrupt)? {
        Encoding::Dense => {
            let regs = dense_regs(buf);
            for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
                *m = (*m).max(dense_get(regs, i));
            }
            Ok(())
        }
        Encoding::Sparse => sparse_for_each(buf, |i, v| {
            if let Some(m) = max.get_mut(i) {
                *m = (*m).max(v);
            }
        }),
    }
}

/// PFMERGE's write: convert to dense if any input was dense, raise every register to `max`,
/// and mark the cache stale.
pub fn store_merged(
    buf: &mut Vec<u8>,
    max: &[u8],
    use_dense: bool,
    max_bytes: usize,
) -> Result<(), Error> {
    if use_dense {
        sparse_to_dense(buf)?;
    }
    for (i, &m) in max.iter().enumerate().take(REGISTERS) {
        if m != 0 {
            // Redis ignores a failed sparse update here: the value was validated before.
            let _ = set_register(buf, i, m, max_bytes);
        }
    }
    invalidate_cache(buf);
    Ok(())
}

/// Every register, one byte each.
pub fn registers(buf: &[u8]) -> Result<Vec<u8>, Error> {
    let mut regs = vec![0u8; REGISTERS];
    merge_into(&mut regs, buf)?;
    Ok(regs)
}

/// PFDEBUG DECODE's text for a sparse HLL ("z:N", "Z:N", "v:VALUE,N" separated by spaces).
pub fn decode(buf: &[u8]) -> String {
    let parts: Vec<String> = sparse_ops(buf)
        .map(|(_, op)| match op {
            Op::Zero(n) => format!("z:{n}"),
            Op::XZero(n) => format!("Z:{n}"),
            Op::Val(v, n) => format!("v:{v},{n}"),
        })
        .collect();
    parts.join(" ")
}

// ---------------------------------------------------------------------------------------------
// Estimator (Otmar Ertl, "New cardinality estimation algorithms for HyperLogLog sketches")
// ---------------------------------------------------------------------------------------------

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

fn estimate(hist: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - hist[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += hist[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(hist[0] as f64 / m);
    // llroundl: half away from zero, as f64::round.
    (ALPHA_INF * m * m / z).round() as u64
}

/// The core of PFSELFTEST, scaled down (Redis runs 1000 register cycles and 10M elements,
/// seconds of a blocked shard): register access round-trips, and dense and sparse HLLs fed
/// the same elements agree and stay within six standard errors.
pub fn selftest(max_bytes: usize) -> Result<(), String> {
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..4].copy_from_slice(MAGIC);
    let mut expect = vec![0u8; REGISTERS];
    for _ in 0..10 {
        for (i, e) in expect.iter_mut().enumerate() {
            *e = fastrand::u8(..) & REGISTER_MAX;
            dense_put(dense_regs_mut(&mut dense), i, *e);
        }
        for (i, &e) in expect.iter().enumerate() {
            let got = dense_get(dense_regs(&dense), i);
            if got != e {
                return Err(format!(
                    "TESTFAILED Register error, counter {i} should be {e} but is {got}"
                ));
            }
        }
    }
    dense_regs_mut(&mut dense).fill(0);
    let mut sparse = new_hll();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed = fastrand::u64(..);
    let mut checkpoint = 1u64;
    for j in 1..=100_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        let (index, c) = pat_len(&ele);
        dense_set(dense_regs_mut(&mut dense), index, c);
        add(&mut sparse, &ele, max_bytes).map_err(|_| "TESTFAILED corrupt HLL".to_string())?;
        if j != checkpoint {
            continue;
        }
        if (j as usize) < max_bytes / 2 && validate(&sparse) != Ok(Encoding::Sparse) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let (cd, cs) = (count(&dense), count(&sparse));
        if cd != cs {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = checkpoint.abs_diff(cd.unwrap_or(0));
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX: usize = 3000;

    fn hll_of<'a>(elems: impl IntoIterator<Item = &'a [u8]>, max_bytes: usize) -> Vec<u8> {
        let mut h = new_hll();
        for e in elems {
            add(&mut h, e, max_bytes).expect("valid hll");
        }
        h
    }

    #[test]
    fn empty_hll_bytes() {
        let h = new_hll();
        assert_eq!(
            h,
            b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff".to_vec()
        );
        assert_eq!(count(&h), Ok(0));
        assert_eq!(cached(&h), Some(0));
    }

    #[test]
    fn same_bytes_as_redis() {
        assert_eq!(murmur64a(b"", 0), 0);
        // GET of `PFADD s a b c foo bar` on redis-server 7.0.15 (the cache marked stale).
        let want = "48594c4c0100000000000000000000805cb390443e804621804a8e844bfb80425a";
        let mut h = hll_of([&b"a"[..], b"b", b"c", b"foo", b"bar"], MAX);
        invalidate_cache(&mut h);
        let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, want);
        assert_eq!(count(&h), Ok(5));
    }

    #[test]
    fn dense_register_roundtrip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR_SIZE];
        for i in 0..REGISTERS {
            dense_put(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8, "register {i}");
        }
        let mut hist = [0u64; 64];
        dense_histogram(&regs, &mut hist);
        assert!(hist.iter().all(|&n| n == (REGISTERS / 64) as u64));
    }

    #[test]
    fn sparse_promotes_past_max_bytes() {
        let elems: Vec<Vec<u8>> = (0..2000).map(|i| format!("e{i}").into_bytes()).collect();
        let mut h = new_hll();
        let mut promoted_at = None;
        for (n, e) in elems.iter().enumerate() {
            add(&mut h, e, 200).expect("valid");
            if promoted_at.is_none() && validate(&h) == Ok(Encoding::Dense) {
                promoted_at = Some(n);
            } else if promoted_at.is_none() {
                assert!(h.len() <= 200);
            }
        }
        assert!(promoted_at.is_some());
        assert_eq!(h.len(), DENSE_SIZE);
    }

    #[test]
    fn selftest_passes() {
        assert_eq!(selftest(MAX), Ok(()));
    }

    #[test]
    fn truncated_and_overlong_sparse() {
        let mut h = new_hll();
        h.pop(); // an XZERO cut short
        assert_eq!(count(&h), Err(Error::Corrupt));
        let mut h2 = h.clone();
        let _ = add(&mut h2, b"x", MAX);
        let mut h3 = new_hll();
        h3.extend_from_slice(&[0x7f, 0xff]); // covers twice the registers
        assert_eq!(count(&h3), Err(Error::Corrupt));
        assert_eq!(sparse_to_dense(&mut h3.clone()), Err(Error::Corrupt));
        let mut max = vec![0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &h3), Err(Error::Corrupt));
        assert!(add(&mut h3, b"y", MAX).is_ok());
        // A VAL run past the last register is corrupt even when the runs before it covered
        // exactly 16384 registers (redis-server 7.0.15 agrees).
        let mut h4 = new_hll();
        h4.push(0x80);
        assert_eq!(sparse_to_dense(&mut h4.clone()), Err(Error::Corrupt));
        assert_eq!(merge_into(&mut max, &h4), Err(Error::Corrupt));
        assert_eq!(count(&h4), Err(Error::Corrupt));
    }

    fn elems() -> impl Strategy<Value = Vec<Vec<u8>>> {
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..600)
    }

    proptest! {
        #[test]
        fn sparse_and_dense_agree(es in elems(), max_bytes in prop_oneof![Just(0usize), Just(40), Just(300), Just(3000)]) {
            let sparse = hll_of(es.iter().map(|e| &e[..]), usize::MAX);
            let small = hll_of(es.iter().map(|e| &e[..]), max_bytes);
            let mut dense = new_hll();
            sparse_to_dense(&mut dense).expect("valid");
            for e in &es {
                add(&mut dense, e, max_bytes).expect("valid");
            }
            let r = registers(&sparse).expect("valid");
            prop_assert_eq!(&r, &registers(&small).expect("valid"));
            prop_assert_eq!(&r, &registers(&dense).expect("valid"));
            prop_assert_eq!(count(&sparse), count(&dense));
            prop_assert_eq!(count(&sparse), Ok(count_registers(&r)));
            let mut d2 = sparse.clone();
            sparse_to_dense(&mut d2).expect("valid");
            prop_assert_eq!(&d2[HDR_SIZE..], &dense[HDR_SIZE..]);
            // The sparse form stays canonical enough to re-walk: it covers every register.
            prop_assert!(sparse_histogram(&sparse, &mut [0; 64]).is_ok());
        }

        #[test]
        fn merge_equals_union(a in elems(), b in elems(), dense_a in any::<bool>()) {
            let mut ha = hll_of(a.iter().map(|e| &e[..]), MAX);
            if dense_a {
                sparse_to_dense(&mut ha).expect("valid");
            }
            let hb = hll_of(b.iter().map(|e| &e[..]), MAX);
            let all = hll_of(a.iter().chain(&b).map(|e| &e[..]), MAX);
            let mut max = vec![0u8; REGISTERS];
            merge_into(&mut max, &ha).expect("valid");
            merge_into(&mut max, &hb).expect("valid");
            prop_assert_eq!(&max, &registers(&all).expect("valid"));
            let mut dst = new_hll();
            store_merged(&mut dst, &max, dense_a, MAX).expect("valid");
            prop_assert_eq!(registers(&dst).expect("valid"), max.clone());
            prop_assert_eq!(count(&dst), Ok(count_registers(&max)));
        }

        #[test]
        fn count_within_error(n in 0u64..30_000, salt in any::<u64>()) {
            let mut h = new_hll();
            for i in 0..n {
                add(&mut h, &(i ^ salt).to_le_bytes(), MAX).expect("valid");
            }
            let c = count(&h).expect("valid");
            // Six standard errors (1.04 / sqrt(m)), as Redis's self-test allows; small sets
            // are near exact.
            let bound = (6.0 * 1.04 / (REGISTERS as f64).sqrt() * n as f64).ceil() as u64 + 1;
            prop_assert!(c.abs_diff(n) <= bound, "n {} count {}", n, c);
        }

        #[test]
        fn corrupt_bytes_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..400),
            enc in 0u8..3,
            dense_len in any::<bool>(),
            ops in proptest::collection::vec(any::<Vec<u8>>(), 0..20),
        ) {
            let mut buf = b"HYLL".to_vec();
            buf.push(enc);
            buf.extend_from_slice(&[0; 11]);
            buf.extend_from_slice(&body);
            if dense_len {
                buf.resize(DENSE_SIZE, 0x5a);
            }
            let _ = validate(&buf);
            let _ = count(&buf);
            let _ = registers(&buf);
            let _ = decode(&buf);
            let _ = cached(&buf);
            let mut max = vec![0u8; REGISTERS];
            let _ = merge_into(&mut max, &buf);
            let mut b2 = buf.clone();
            let _ = sparse_to_dense(&mut b2);
            for e in &ops {
                let _ = add(&mut buf, e, 100);
            }
            let _ = count(&buf);
            let _ = store_merged(&mut buf, &max, enc == 0, 100);
            let _ = validate(&body);
            let _ = count(&body);
        }
    }
}
