//! Bitmap commands: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.
//!
//! Replies, error texts and argument precedence follow Redis 7.0 (src/bitops.c). Bits are
//! numbered MSB-first within each byte, as in Redis. Writes modify the stored buffer in place
//! when nothing else holds it, so SETBIT on a large bitmap costs O(1), not a copy.

use super::{args, CommandSpec, Kind};
use crate::protocol::reply::Reply;
use crate::store::{Ctx, Value};
use crate::util::num;
use bytes::Bytes;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("setbit", 4, "write denyoom", (1, 1, 1), Kind::Keyed(setbit)).doc(
        "bitmap",
        "2.2.0",
        "Sets or clears the bit at offset in the string value stored at key",
    ),
    CommandSpec::new("getbit", 3, "readonly fast", (1, 1, 1), Kind::Keyed(getbit)).doc(
        "bitmap",
        "2.2.0",
        "Returns the bit value at offset in the string value stored at key",
    ),
    CommandSpec::new("bitcount", -2, "readonly", (1, 1, 1), Kind::Keyed(bitcount)).doc(
        "bitmap",
        "2.6.0",
        "Count set bits in a string",
    ),
    CommandSpec::new("bitpos", -3, "readonly", (1, 1, 1), Kind::Keyed(bitpos)).doc(
        "bitmap",
        "2.8.7",
        "Find first bit set or clear in a string",
    ),
    CommandSpec::new(
        "bitop",
        -4,
        "write denyoom",
        (2, -1, 1),
        Kind::Coordinated(bitop),
    )
    .key_fn(bitop_keys)
    .doc(
        "bitmap",
        "2.6.0",
        "Perform bitwise operations between strings",
    ),
    CommandSpec::new(
        "bitfield",
        -2,
        "write denyoom",
        (1, 1, 1),
        Kind::Keyed(bitfield),
    )
    .doc(
        "bitmap",
        "3.2.0",
        "Perform arbitrary bitfield integer operations on strings",
    ),
    CommandSpec::new(
        "bitfield_ro",
        -2,
        "readonly fast",
        (1, 1, 1),
        Kind::Keyed(bitfield_ro),
    )
    .doc(
        "bitmap",
        "6.0.0",
        "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
    ),
];

const ERR_BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const ERR_BIT_VALUE: &str = "ERR bit is not an integer or out of range";
const ERR_BITPOS_BIT: &str = "ERR The bit argument must be 1 or 0.";
const ERR_BITOP_NOT: &str = "ERR BITOP NOT must be called with a single source key.";
const ERR_BF_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const ERR_BF_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";
const ERR_BF_RO: &str = "ERR BITFIELD_RO only supports the GET subcommand";

/// BITOP's keys: the destination and every source.
fn bitop_keys(args: &[Bytes]) -> Vec<usize> {
    (2..args.len()).collect()
}

// ---------------------------------------------------------------------------------------------
// Argument parsing
// ---------------------------------------------------------------------------------------------

/// The argument up to its first NUL byte: Redis compares keywords with strcasecmp and reads
/// the bitfield width with strlen, so anything after a NUL is ignored there.
fn cstr(a: &[u8]) -> &[u8] {
    match a.iter().position(|&c| c == 0) {
        Some(i) => &a[..i],
        None => a,
    }
}

fn kw(a: &[u8], word: &str) -> bool {
    cstr(a).eq_ignore_ascii_case(word.as_bytes())
}

/// A bit offset (Redis's getBitOffsetFromArgument). With `hash_bits > 0` the `#N` form is
/// accepted and means N * hash_bits; the product wraps as it does in Redis's C. The byte it
/// falls in must be below proto-max-bulk-len.
fn bit_offset(a: &[u8], hash_bits: u32, max_bulk: u64) -> Result<u64, Reply> {
    let (hash, digits) = match a.split_first() {
        Some((b'#', rest)) if hash_bits > 0 => (true, rest),
        _ => (false, a),
    };
    let mut off = num::parse_i64(digits).ok_or_else(|| Reply::err(ERR_BIT_OFFSET))?;
    if hash {
        off = off.wrapping_mul(i64::from(hash_bits));
    }
    if off < 0 || (off as u64 >> 3) >= max_bulk {
        return Err(Reply::err(ERR_BIT_OFFSET));
    }
    Ok(off as u64)
}

/// BIT or BYTE (true for BIT), else a syntax error.
fn unit_arg(a: &[u8]) -> Result<bool, Reply> {
    if kw(a, "bit") {
        Ok(true)
    } else if kw(a, "byte") {
        Ok(false)
    } else {
        Err(Reply::syntax())
    }
}

/// Clamp a start/end pair against a length, Redis style: negative values count from the end,
/// then both are clipped into [0, len-1]. The result may be empty (start > end).
fn clamp_range(mut start: i64, mut end: i64, len: i64) -> (i64, i64) {
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

// ---------------------------------------------------------------------------------------------
// Buffer helpers
// ---------------------------------------------------------------------------------------------

#[inline]
fn load_u64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(b);
    u64::from_ne_bytes(w)
}

/// Set bits in a byte slice, a word at a time.
fn popcount(s: &[u8]) -> u64 {
    let words = s.chunks_exact(8);
    let tail: u64 = words
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    words
        .map(|w| u64::from(load_u64(w).count_ones()))
        .sum::<u64>()
        + tail
}

/// Set bits in the bit range [sb, eb] of `s` (both within `s`).
fn count_bits(s: &[u8], sb: usize, eb: usize) -> u64 {
    let (first, last) = (sb / 8, eb / 8);
    let head = 0xffu8 >> (sb % 8);
    let tail = 0xffu8 << (7 - eb % 8);
    let (Some(&fb), Some(&lb)) = (s.get(first), s.get(last)) else {
        return 0;
    };
    if first == last {
        return u64::from((fb & head & tail).count_ones());
    }
    u64::from((fb & head).count_ones())
        + popcount(&s[first + 1..last])
        + u64::from((lb & tail).count_ones())
}

/// Position of the first bit equal to `bit` in the bit range [sb, eb] of `s`.
fn first_bit(s: &[u8], sb: usize, eb: usize, bit: bool) -> Option<usize> {
    // Searching for 0 is searching for 1 in the complement.
    let flip = if bit { 0u8 } else { 0xff };
    let hit = |i: usize, b: u8| (b != 0).then(|| i * 8 + b.leading_zeros() as usize);
    let (first, last) = (sb / 8, eb / 8);
    let head = 0xffu8 >> (sb % 8);
    let tail = 0xffu8 << (7 - eb % 8);
    let (Some(&fb), Some(&lb)) = (s.get(first), s.get(last)) else {
        return None;
    };
    if first == last {
        return hit(first, (fb ^ flip) & head & tail);
    }
    if let Some(p) = hit(first, (fb ^ flip) & head) {
        return Some(p);
    }
    let mid = &s[first + 1..last];
    // Skip whole words that cannot hold the bit, then look byte by byte.
    let skip = if bit { 0 } else { u64::MAX };
    let words = mid
        .chunks_exact(8)
        .take_while(|w| load_u64(w) == skip)
        .count();
    let from = words * 8;
    for (k, &b) in mid[from..].iter().enumerate() {
        if let Some(p) = hit(first + 1 + from + k, b ^ flip) {
            return Some(p);
        }
    }
    hit(last, (lb ^ flip) & tail)
}

/// `dst[i] = f(dst[i], src[i])` over the common length, eight bytes at a time.
#[inline(always)]
fn zip_words(dst: &mut [u8], src: &[u8], f: impl Fn(u64, u64) -> u64) {
    let n = dst.len().min(src.len());
    let mut d = dst[..n].chunks_exact_mut(8);
    let mut s = src[..n].chunks_exact(8);
    for (dw, sw) in (&mut d).zip(&mut s) {
        dw.copy_from_slice(&f(load_u64(dw), load_u64(sw)).to_ne_bytes());
    }
    // Byte-wise ops on zero-extended bytes give the same low byte.
    for (db, &sb) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *db = f(u64::from(*db), u64::from(sb)) as u8;
    }
}

/// Run `f` on the string at `key` as a mutable buffer at least `min_len` bytes long, created or
/// zero-padded as Redis's lookupStringForBitCommand does, then store it back (TTL kept). `f` gets
/// whether the buffer grew and returns its result and how many changes to add to the dirty
/// counter (Redis counts only ops that changed something).
fn modify_str<R>(
    ctx: &mut Ctx,
    key: &[u8],
    min_len: usize,
    f: impl FnOnce(&mut [u8], bool) -> (R, u64),
) -> Result<R, Reply> {
    if let Some(e) = ctx.lookup(key) {
        let slot = match &mut e.value {
            Value::Str(b) => b,
            #[allow(unreachable_patterns)]
            _ => return Err(Reply::wrongtype()),
        };
        // Reuse the stored allocation when it is not shared; otherwise copy it once.
        let mut buf = std::mem::take(slot).into_mut();
        let grown = buf.len() < min_len;
        if grown {
            buf.resize(min_len, 0);
        }
        let (r, changes) = f(&mut buf, grown);
        *slot = buf.into();
        e.enc = crate::store::value::StrEnc::Raw;
        ctx.store.dirty += changes;
        return Ok(r);
    }
    let mut buf = vec![0u8; min_len];
    let (r, changes) = f(&mut buf, true);
    // `set` counts one change itself.
    ctx.set(key, Value::Str(buf.into()), 0);
    if let Some(e) = ctx.db().get_raw_mut(key) {
        e.enc = crate::store::value::StrEnc::Raw;
    }
    ctx.store.dirty += changes.saturating_sub(1);
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// SETBIT / GETBIT
// ---------------------------------------------------------------------------------------------

fn get_bit(s: &[u8], off: u64) -> bool {
    usize::try_from(off >> 3)
        .ok()
        .and_then(|i| s.get(i))
        .is_some_and(|&b| b & (0x80 >> (off & 7)) != 0)
}

/// SETBIT key offset value
fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let off = match bit_offset(&args[2], 0, ctx.store.limits.proto_max_bulk_len) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let on = match num::parse_i64(&args[3]) {
        Some(v @ 0..=1) => v == 1,
        _ => return Reply::err(ERR_BIT_VALUE),
    };
    let byte = (off >> 3) as usize;
    let mask = 0x80u8 >> (off & 7);
    let res = modify_str(ctx, &args[1], byte + 1, |buf, grown| {
        let Some(b) = buf.get_mut(byte) else {
            return (false, 0);
        };
        let old = *b & mask != 0;
        if on {
            *b |= mask;
        } else {
            *b &= !mask;
        }
        (old, u64::from(grown || old != on))
    });
    match res {
        Ok(old) => Reply::Int(i64::from(old)),
        Err(e) => e,
    }
}

/// GETBIT key offset
fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let off = match bit_offset(&args[2], 0, ctx.store.limits.proto_max_bulk_len) {
        Ok(o) => o,
        Err(e) => return e,
    };
    match ctx.get_str(&args[1]) {
        Ok(s) => Reply::Int(i64::from(s.is_some_and(|s| get_bit(&s, off)))),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------------
// BITCOUNT / BITPOS
// ---------------------------------------------------------------------------------------------

/// BITCOUNT key [start end [BYTE|BIT]]
fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // Redis 7.0 looks the key up before parsing the range: a missing key answers 0 whatever
    // the other arguments are.
    let s = match ctx.get_str(&args[1]) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let len = s.len() as i64;
    let (sb, eb) = match args.len() {
        2 => (0, len * 8 - 1),
        4 | 5 => {
            let (start, end) = match (args::int(&args[2]), args::int(&args[3])) {
                (Ok(s), Ok(e)) => (s, e),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            // Checked before BIT|BYTE is parsed, as in Redis.
            if start < 0 && end < 0 && start > end {
                return Reply::Int(0);
            }
            let is_bit = match args.get(4) {
                Some(a) => match unit_arg(a) {
                    Ok(b) => b,
                    Err(e) => return e,
                },
                None => false,
            };
            if is_bit {
                clamp_range(start, end, len * 8)
            } else {
                let (s, e) = clamp_range(start, end, len);
                if s > e {
                    return Reply::Int(0);
                }
                (s * 8, e * 8 + 7)
            }
        }
        _ => return Reply::syntax(),
    };
    if sb > eb {
        return Reply::Int(0);
    }
    Reply::Int(count_bits(&s, sb as usize, eb as usize) as i64)
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let bit = match args::int(&args[2]) {
        Ok(b @ 0..=1) => b == 1,
        Ok(_) => return Reply::err(ERR_BITPOS_BIT),
        Err(e) => return e,
    };
    // A missing key is an infinite run of zeros (checked before the range is parsed).
    let s = match ctx.get_str(&args[1]) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::Int(if bit { -1 } else { 0 }),
        Err(e) => return e,
    };
    let len = s.len() as i64;
    let mut end_given = false;
    let (sb, eb) = match args.len() {
        3 => (0, len * 8 - 1),
        4..=6 => {
            let start = match args::int(&args[3]) {
                Ok(v) => v,
                Err(e) => return e,
            };
            // Redis parses BIT|BYTE before end.
            let is_bit = match args.get(5) {
                Some(a) => match unit_arg(a) {
                    Ok(b) => b,
                    Err(e) => return e,
                },
                None => false,
            };
            let end = match args.get(4) {
                Some(a) => match args::int(a) {
                    Ok(v) => {
                        end_given = true;
                        v
                    }
                    Err(e) => return e,
                },
                None => i64::MAX,
            };
            if is_bit {
                clamp_range(start, end, len * 8)
            } else {
                let (s, e) = clamp_range(start, end, len);
                if s > e {
                    return Reply::Int(-1);
                }
                (s * 8, e * 8 + 7)
            }
        }
        _ => return Reply::syntax(),
    };
    // An empty range holds neither a 0 nor a 1.
    if sb > eb {
        return Reply::Int(-1);
    }
    match first_bit(&s, sb as usize, eb as usize, bit) {
        Some(p) => Reply::Int(p as i64),
        // Looking for a 0 without an explicit end: the string counts as zero-padded to the
        // right, so the answer is the first bit after it.
        None if !bit && !end_given => Reply::Int((eb / 8 + 1) * 8),
        None => Reply::Int(-1),
    }
}

// ---------------------------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Checks BITOP's operation name and source count, with the errors Redis gives before it
/// looks at any key. The coordinator may call it before fetching the sources so that a syntax
/// error wins over WRONGTYPE, as in Redis.
pub fn bitop_validate(op_arg: &[u8], nsources: usize) -> Result<(), Reply> {
    bitop_parse(op_arg, nsources).map(|_| ())
}

fn bitop_parse(op_arg: &[u8], nsources: usize) -> Result<BitOp, Reply> {
    let op = if kw(op_arg, "and") {
        BitOp::And
    } else if kw(op_arg, "or") {
        BitOp::Or
    } else if kw(op_arg, "xor") {
        BitOp::Xor
    } else if kw(op_arg, "not") {
        BitOp::Not
    } else {
        return Err(Reply::syntax());
    };
    if op == BitOp::Not && nsources != 1 {
        return Err(Reply::err(ERR_BITOP_NOT));
    }
    Ok(op)
}

/// BITOP's result for the given sources (None = missing key = empty string). An empty result
/// means the destination is to be deleted; otherwise it is stored (without TTL). The reply is
/// `Reply::Int(result.len())` either way.
pub fn bitop_compute(op_arg: &[u8], sources: &[Option<Bytes>]) -> Result<Vec<u8>, Reply> {
    let op = bitop_parse(op_arg, sources.len())?;
    let srcs: Vec<&[u8]> = sources
        .iter()
        .map(|s| s.as_deref().unwrap_or(&[]))
        .collect();
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    if maxlen == 0 {
        return Ok(Vec::new());
    }
    // Missing bytes of shorter sources count as zeros.
    let mut res = vec![0u8; maxlen];
    match op {
        BitOp::Not => {
            let src = srcs.first().copied().unwrap_or(&[]);
            zip_words(&mut res, src, |_, s| !s);
        }
        BitOp::And => {
            // Past the shortest source every result byte is 0.
            let minlen = srcs.iter().map(|s| s.len()).min().unwrap_or(0);
            let (head, rest) = srcs
                .split_first()
                .map_or((&[][..], &[][..]), |(h, r)| (*h, r));
            res[..minlen].copy_from_slice(&head[..minlen]);
            for s in rest {
                zip_words(&mut res[..minlen], s, |d, s| d & s);
            }
        }
        BitOp::Or => {
            for s in &srcs {
                zip_words(&mut res, s, |d, s| d | s);
            }
        }
        BitOp::Xor => {
            for s in &srcs {
                zip_words(&mut res, s, |d, s| d ^ s);
            }
        }
    }
    Ok(res)
}

/// BITOP op destkey srckey [srckey ...], all keys on this shard.
fn bitop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let keys = args.get(3..).unwrap_or(&[]);
    if let Err(e) = bitop_validate(&args[1], keys.len()) {
        return e;
    }
    let mut sources = Vec::with_capacity(keys.len());
    for k in keys {
        match ctx.get_str(k) {
            Ok(v) => sources.push(v),
            Err(e) => return e,
        }
    }
    let res = match bitop_compute(&args[1], &sources) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let n = res.len() as i64;
    if res.is_empty() {
        ctx.delete(&args[2]);
    } else {
        ctx.set(&args[2], Value::Str(res.into()), 0);
        // Redis builds the result as a buffer: "raw" whatever its length.
        if let Some(e) = ctx.db().get_raw_mut(&args[2]) {
            e.enc = crate::store::value::StrEnc::Raw;
        }
    }
    Reply::Int(n)
}

// ---------------------------------------------------------------------------------------------
// BITFIELD / BITFIELD_RO
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FieldCmd {
    Get,
    Set,
    Incrby,
}

#[derive(Clone, Copy, Debug)]
struct FieldOp {
    cmd: FieldCmd,
    offset: u64,
    bits: u32,
    signed: bool,
    /// SET value or INCRBY increment.
    value: i64,
    overflow: Overflow,
}

/// `i1`..`i64` or `u1`..`u63`: (signed, bits).
fn field_type(a: &[u8]) -> Result<(bool, u32), Reply> {
    let a = cstr(a);
    let signed = match a.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(Reply::err(ERR_BF_TYPE)),
    };
    match num::parse_i64(&a[1..]) {
        Some(b @ 1..=64) if signed || b <= 63 => Ok((signed, b as u32)),
        _ => Err(Reply::err(ERR_BF_TYPE)),
    }
}

#[inline]
fn width_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// The 9 bytes from `byte` on (zero past the end) as a big-endian integer: any field of up to
/// 64 bits starting in `byte` lies inside.
fn window(p: &[u8], byte: usize) -> u128 {
    (0..9).fold(0u128, |w, i| {
        let b = p.get(byte.saturating_add(i)).copied().unwrap_or(0);
        (w << 8) | u128::from(b)
    })
}

fn field_pos(offset: u64, bits: u32) -> (usize, u32) {
    // 72 - 7 - 64 >= 1, so the shift is always in range.
    ((offset >> 3) as usize, 72 - (offset & 7) as u32 - bits)
}

fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    let (byte, shift) = field_pos(offset, bits);
    (window(p, byte) >> shift) as u64 & width_mask(bits)
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(p, offset, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Store the low `bits` bits of `value`; bytes past the end of `p` are not written.
fn set_field(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    let (byte, shift) = field_pos(offset, bits);
    let m = u128::from(width_mask(bits)) << shift;
    let w = (window(p, byte) & !m) | ((u128::from(value) << shift) & m);
    for i in 0..9 {
        if let Some(b) = p.get_mut(byte.saturating_add(i)) {
            *b = (w >> (8 * (8 - i))) as u8;
        }
    }
}

/// Redis's checkUnsignedBitfieldOverflow: None when `value + incr` fits, else the value to
/// store under WRAP or SAT (unused under FAIL).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = width_mask(bits);
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrapped = value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Sat { max } else { wrapped })
    } else if incr < 0 && incr < minincr {
        Some(if ow == Overflow::Sat { 0 } else { wrapped })
    } else {
        None
    }
}

/// Redis's checkSignedBitfieldOverflow, same contract as `unsigned_overflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    // These may wrap; they are only used once `value` is known to be in range.
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrapped = {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            // Sign-extend from the field's top bit.
            let high = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c | high
            } else {
                c & !high
            }
        } else {
            c
        }
    } as i64;
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Sat { max } else { wrapped })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(if ow == Overflow::Sat { min } else { wrapped })
    } else {
        None
    }
}

/// Parse every subcommand, as Redis does before touching the key. Returns the ops and the
/// highest bit a write reaches (None when all ops are GETs).
fn parse_fields(args: &[Bytes], max_bulk: u64) -> Result<(Vec<FieldOp>, Option<u64>), Reply> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest: Option<u64> = None;
    let mut j = 2;
    while j < args.len() {
        let rem = args.len() - j - 1;
        let sub = &args[j];
        let cmd = if kw(sub, "get") && rem >= 2 {
            FieldCmd::Get
        } else if kw(sub, "set") && rem >= 3 {
            FieldCmd::Set
        } else if kw(sub, "incrby") && rem >= 3 {
            FieldCmd::Incrby
        } else if kw(sub, "overflow") && rem >= 1 {
            let t = &args[j + 1];
            overflow = if kw(t, "wrap") {
                Overflow::Wrap
            } else if kw(t, "sat") {
                Overflow::Sat
            } else if kw(t, "fail") {
                Overflow::Fail
            } else {
                return Err(Reply::err(ERR_BF_OVERFLOW));
            };
            j += 2;
            continue;
        } else {
            return Err(Reply::syntax());
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(&args[j + 2], bits, max_bulk)?;
        let mut value = 0;
        if cmd != FieldCmd::Get {
            let top = offset + u64::from(bits) - 1;
            highest = Some(highest.map_or(top, |h| h.max(top)));
            value = args::int(&args[j + 3])?;
        }
        ops.push(FieldOp {
            cmd,
            offset,
            bits,
            signed,
            value,
            overflow,
        });
        j += if cmd == FieldCmd::Get { 3 } else { 4 };
    }
    Ok((ops, highest))
}

/// Run one op against the buffer. Returns its reply and, for a SET or INCRBY that was
/// carried out (not refused by OVERFLOW FAIL), whether the stored value changed.
fn apply_field(buf: &mut [u8], op: &FieldOp) -> (Reply, Option<bool>) {
    if op.cmd == FieldCmd::Get {
        return (field_get(buf, op), None);
    }
    let (offset, bits, ow) = (op.offset, op.bits, op.overflow);
    let incr = op.cmd == FieldCmd::Incrby;
    // Old value, new value (None when FAIL refuses an overflow) as 64-bit patterns, and the
    // reply: INCRBY answers the new value, SET the old one.
    let (old, new, reply): (u64, Option<u64>, i64);
    if op.signed {
        let o = get_signed(buf, offset, bits);
        let (n, over) = if incr {
            let over = signed_overflow(o, op.value, bits, ow);
            (over.unwrap_or(o.wrapping_add(op.value)), over.is_some())
        } else {
            let over = signed_overflow(op.value, 0, bits, ow);
            (over.unwrap_or(op.value), over.is_some())
        };
        old = o as u64;
        new = (!(over && ow == Overflow::Fail)).then_some(n as u64);
        reply = if incr { n } else { o };
    } else {
        let o = get_unsigned(buf, offset, bits);
        let (n, over) = if incr {
            let over = unsigned_overflow(o, op.value, bits, ow);
            (
                over.unwrap_or(o.wrapping_add(op.value as u64)),
                over.is_some(),
            )
        } else {
            let over = unsigned_overflow(op.value as u64, 0, bits, ow);
            (over.unwrap_or(op.value as u64), over.is_some())
        };
        old = o;
        new = (!(over && ow == Overflow::Fail)).then_some(n);
        reply = if incr { n as i64 } else { o as i64 };
    }
    match new {
        Some(n) => {
            set_field(buf, offset, bits, n);
            (Reply::Int(reply), Some(old != n))
        }
        None => (Reply::Nil, None),
    }
}

fn bitfield_generic(ctx: &mut Ctx, args: &[Bytes], read_only_cmd: bool) -> Reply {
    let (ops, highest) = match parse_fields(args, ctx.store.limits.proto_max_bulk_len) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let Some(highest) = highest else {
        // Only GETs: read without creating the key.
        let s = match ctx.get_str(&args[1]) {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => return e,
        };
        return Reply::Array(ops.iter().map(|op| field_get(&s, op)).collect());
    };
    if read_only_cmd {
        return Reply::err(ERR_BF_RO);
    }
    let min_len = (highest >> 3) as usize + 1;
    let res = modify_str(ctx, &args[1], min_len, |buf, grown| {
        let mut changes = 0;
        let replies = ops
            .iter()
            .map(|op| {
                let (r, changed) = apply_field(buf, op);
                // As in Redis, a write counts when it changed the value or the string grew;
                // GETs and FAIL-refused writes never count.
                if changed.is_some_and(|c| c || grown) {
                    changes += 1;
                }
                r
            })
            .collect();
        (Reply::Array(replies), changes)
    });
    res.unwrap_or_else(|e| e)
}

/// GET against a read-only buffer.
fn field_get(s: &[u8], op: &FieldOp) -> Reply {
    Reply::Int(if op.signed {
        get_signed(s, op.offset, op.bits)
    } else {
        get_unsigned(s, op.offset, op.bits) as i64
    })
}

/// BITFIELD key [GET type offset | SET type offset value | INCRBY type offset incr |
/// OVERFLOW WRAP|SAT|FAIL] ...
fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bitfield_generic(ctx, args, false)
}

/// BITFIELD_RO key [GET type offset] ...
fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bitfield_generic(ctx, args, true)
}

#[cfg(test)]
mod tests {
    //! Expected replies in the scenario tests were taken from redis-server 7.0.15.

    use super::*;
    use crate::store::ShardStore;

    /// A reply in a compact text form: ":1", "-ERR ...", "+OK", "nil", "$bytes" (non-printable
    /// bytes as \xNN), "[a, b]".
    fn fmt(r: &Reply) -> String {
        match r {
            Reply::Int(i) => format!(":{i}"),
            Reply::Error(e) => format!("-{e}"),
            Reply::Simple(s) => format!("+{s}"),
            Reply::Nil => "nil".into(),
            Reply::Bulk(_) | Reply::Short(_) => {
                let b = r.as_bulk().unwrap_or_default();
                let mut s = String::from("$");
                for &c in b.iter() {
                    if (32..127).contains(&c) && c != b'\\' && c != b'"' {
                        s.push(c as char);
                    } else {
                        s.push_str(&format!("\\x{c:02x}"));
                    }
                }
                s
            }
            Reply::Array(items) => {
                let v: Vec<String> = items.iter().map(fmt).collect();
                format!("[{}]", v.join(", "))
            }
            other => format!("{other:?}"),
        }
    }

    fn bytes_args(args: &[&[u8]]) -> Vec<Bytes> {
        args.iter().map(|a| Bytes::copy_from_slice(a)).collect()
    }

    /// Run one command of this family (or GET/SET/STRLEN/EXISTS for checking state).
    fn exec(st: &mut ShardStore, args: &[Bytes]) -> Reply {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let mut ctx = st.ctx(0);
        match name.as_str() {
            "get" => ctx.get_str(&args[1]).map_or_else(|e| e, Reply::opt_bulk),
            "set" => {
                ctx.set_str(&args[1], &args[2], 0);
                Reply::ok()
            }
            "strlen" => ctx
                .get_str(&args[1])
                .map_or_else(|e| e, |v| Reply::Int(v.map_or(0, |v| v.len() as i64))),
            "exists" => Reply::Int(i64::from(ctx.exists(&args[1]))),
            _ => {
                let spec = COMMANDS
                    .iter()
                    .find(|c| c.name == name)
                    .expect("command of this family");
                assert!(spec.arity_ok(args.len()), "arity {args:?}");
                match spec.kind {
                    Kind::Keyed(h) | Kind::Coordinated(h) => h(&mut ctx, args),
                    _ => unreachable!(),
                }
            }
        }
    }

    fn run(st: &mut ShardStore, cmd: &str) -> Reply {
        let parts: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
        exec(st, &bytes_args(&parts))
    }

    fn check(st: &mut ShardStore, cases: &[(&str, &str)]) {
        for (cmd, want) in cases {
            assert_eq!(fmt(&run(st, cmd)), *want, "{cmd}");
        }
    }

    fn set(st: &mut ShardStore, key: &str, v: &[u8]) {
        st.ctx(0).set(key.as_bytes(), Value::str(v), 0);
    }

    #[test]
    fn setbit_getbit() {
        let mut st = ShardStore::new(16);
        check(
            &mut st,
            &[
                ("SETBIT k 7 1", ":0"),
                ("GET k", "$\\x01"),
                ("SETBIT k 7 1", ":1"),
                ("SETBIT k 7 0", ":1"),
                ("GETBIT k 7", ":0"),
                ("SETBIT k 100 0", ":0"),
                ("STRLEN k", ":13"),
                ("GETBIT k 100", ":0"),
                ("GETBIT k 1000", ":0"),
                ("GETBIT nokey 0", ":0"),
                ("SETBIT k 0 1", ":0"),
                ("GETBIT k 0", ":1"),
                (
                    "GET k",
                    "$\\x80\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
                ),
                ("setbit K2 9 1", ":0"),
                ("GET K2", "$\\x00@"),
            ],
        );
        set(&mut st, "s", b"\xff\xf0\x00");
        check(
            &mut st,
            &[
                ("GETBIT s 0", ":1"),
                ("GETBIT s 11", ":1"),
                ("GETBIT s 12", ":0"),
                ("GETBIT s 23", ":0"),
                ("SETBIT s 23 1", ":0"),
                ("GET s", "$\\xff\\xf0\\x01"),
            ],
        );
    }

    #[test]
    fn setbit_getbit_errors() {
        let mut st = ShardStore::new(16);
        check(
            &mut st,
            &[
                (
                    "SETBIT k -1 1",
                    "-ERR bit offset is not an integer or out of range",
                ),
                (
                    "SETBIT k a 1",
                    "-ERR bit offset is not an integer or out of range",
                ),
                (
                    "SETBIT k +1 1",
                    "-ERR bit offset is not an integer or out of range",
                ),
                (
                    "SETBIT k 01 1",
                    "-ERR bit offset is not an integer or out of range",
                ),
                (
                    "SETBIT k 1.5 1",
                    "-ERR bit offset is not an integer or out of range",
                ),
                (
                    "SETBIT k 4294967296 1",
                    "-ERR bit offset is not an integer or out of range",
                ),
                (
                    "SETBIT k 9223372036854775807 1",
                    "-ERR bit offset is not an integer or out of range",
                ),
                (
                    "SETBIT k 9223372036854775808 1",
                    "-ERR bit offset is not an integer or out of range",
                ),
                ("SETBIT k 1 2", "-ERR bit is not an integer or out of range"),
                (
                    "SETBIT k 1 -1",
                    "-ERR bit is not an integer or out of range",
                ),
                ("SETBIT k 1 a", "-ERR bit is not an integer or out of range"),
                (
                    "SETBIT k 1 01",
                    "-ERR bit is not an integer or out of range",
                ),
                (
                    "SETBIT k a 2",
                    "-ERR bit offset is not an integer or out of range",
                ),
                ("EXISTS k", ":0"),
                (
                    "GETBIT k -1",
                    "-ERR bit offset is not an integer or out of range",
                ),
                (
                    "GETBIT k a",
                    "-ERR bit offset is not an integer or out of range",
                ),
                (
                    "GETBIT k 4294967296",
                    "-ERR bit offset is not an integer or out of range",
                ),
                ("GETBIT k 4294967295", ":0"),
                (
                    "GETBIT nokey a",
                    "-ERR bit offset is not an integer or out of range",
                ),
            ],
        );
    }

    #[test]
    fn setbit_proto_max_bulk_len() {
        let mut st = ShardStore::new(16);
        st.limits.proto_max_bulk_len = 1024 * 1024;
        check(
            &mut st,
            &[
                (
                    "SETBIT k 8388608 1",
                    "-ERR bit offset is not an integer or out of range",
                ),
                (
                    "GETBIT k 8388608",
                    "-ERR bit offset is not an integer or out of range",
                ),
                ("SETBIT k 8388607 1", ":0"),
                ("STRLEN k", ":1048576"),
                ("GETBIT k 8388607", ":1"),
                ("BITCOUNT k", ":1"),
                ("BITPOS k 1", ":8388607"),
                (
                    "BITFIELD k GET u8 8388600 GET i8 #1048575 GET i8 #1048576",
                    "-ERR bit offset is not an integer or out of range",
                ),
            ],
        );
        st.limits.proto_max_bulk_len = 512 * 1024 * 1024;
    }

    #[test]
    fn bitcount_whole_and_ranges() {
        let mut st = ShardStore::new(16);
        check(
            &mut st,
            &[("BITCOUNT nokey", ":0"), ("BITCOUNT nokey 0 -1", ":0")],
        );
        set(&mut st, "a", b"foobar");
        check(
            &mut st,
            &[
                ("BITCOUNT a", ":26"),
                ("BITCOUNT a 0 0", ":4"),
                ("BITCOUNT a 1 1", ":6"),
                ("BITCOUNT a 1 1 BYTE", ":6"),
                ("BITCOUNT a 1 1 bit", ":1"),
                ("BITCOUNT a 5 30 BIT", ":17"),
                ("BITCOUNT a 0 -1 bit", ":26"),
                ("BITCOUNT a -10 -1 bit", ":5"),
                ("BITCOUNT a -1 -1", ":4"),
                ("BITCOUNT a -2 -1", ":7"),
                ("BITCOUNT a -100 100", ":26"),
                ("BITCOUNT a -100 -50", ":4"),
                ("BITCOUNT a 100 1000", ":0"),
                ("BITCOUNT a 2 1", ":0"),
                ("BITCOUNT a 47 47 bit", ":0"),
                ("BITCOUNT a 46 46 bit", ":1"),
                ("BITCOUNT a 48 100 bit", ":0"),
                ("BITCOUNT a 9223372036854775807 -9223372036854775808", ":0"),
                (
                    "BITCOUNT a -9223372036854775808 9223372036854775807 bit",
                    ":26",
                ),
            ],
        );
        set(&mut st, "e", b"");
        check(
            &mut st,
            &[
                ("BITCOUNT e", ":0"),
                ("BITCOUNT e 0 -1", ":0"),
                ("BITCOUNT e 0 -1 bit", ":0"),
            ],
        );
        set(
            &mut st,
            "w",
            b"\xff\x00\x0f\xf0\xaaU\x01\x80\xff\xff\xff\x7f\xfe\x00\x00\x00\x11\x223",
        );
        check(
            &mut st,
            &[
                ("BITCOUNT w", ":72"),
                ("BITCOUNT w 1 -2", ":60"),
                ("BITCOUNT w 3 60 bit", ":23"),
                ("BITCOUNT w 1 150 bit", ":70"),
            ],
        );
    }

    #[test]
    fn bitcount_errors_and_order() {
        let mut st = ShardStore::new(16);
        set(&mut st, "a", b"foobar");
        check(
            &mut st,
            &[
                ("BITCOUNT a 0", "-ERR syntax error"),
                (
                    "BITCOUNT a a b",
                    "-ERR value is not an integer or out of range",
                ),
                (
                    "BITCOUNT a 0 b",
                    "-ERR value is not an integer or out of range",
                ),
                ("BITCOUNT a 0 1 foo", "-ERR syntax error"),
                ("BITCOUNT a 0 1 bit extra", "-ERR syntax error"),
                ("BITCOUNT a -1 -5 foo", ":0"),
                ("BITCOUNT a -1 -5", ":0"),
                ("BITCOUNT a -3 -5 bit", ":0"),
                ("BITCOUNT nokey 0", ":0"),
                ("BITCOUNT nokey a b", ":0"),
                ("BITCOUNT nokey 0 1 foo", ":0"),
                ("BITCOUNT nokey 0 1 bit extra", ":0"),
            ],
        );
    }

    #[test]
    fn bitpos_basic() {
        let mut st = ShardStore::new(16);
        check(
            &mut st,
            &[
                ("BITPOS nokey 0", ":0"),
                ("BITPOS nokey 1", ":-1"),
                ("BITPOS nokey 1 a", ":-1"),
                ("BITPOS nokey 0 0 -1 foo", ":0"),
            ],
        );
        set(&mut st, "s", b"\xff\xf0\x00");
        check(
            &mut st,
            &[
                ("BITPOS s 0", ":12"),
                ("BITPOS s 1", ":0"),
                ("BITPOS s 0 0", ":12"),
                ("BITPOS s 0 0 -1", ":12"),
                ("BITPOS s 1 2", ":-1"),
                ("BITPOS s 0 3", ":-1"),
                ("BITPOS s 0 -1", ":16"),
                ("BITPOS s 1 -100 -50", ":0"),
                ("BITPOS s 1 5 3", ":-1"),
                ("BITPOS s 0 5 3", ":-1"),
                ("BITPOS s 1 -1 -2", ":-1"),
                ("BITPOS s 0 12 15 bit", ":12"),
                ("BITPOS s 0 12 13 BIT", ":12"),
                ("BITPOS s 1 12 30 bit", ":-1"),
                ("BITPOS s 0 0 -1 bit", ":12"),
                ("BITPOS s 0 0 7 bit", ":-1"),
                ("BITPOS s 0 1 -1 byte", ":12"),
                (
                    "BITPOS s 1 -9223372036854775808 9223372036854775807 bit",
                    ":0",
                ),
            ],
        );
        set(&mut st, "z", b"\x00\x00\x01");
        check(
            &mut st,
            &[
                ("BITPOS z 1", ":23"),
                ("BITPOS z 1 0 -1 bit", ":23"),
                ("BITPOS z 1 0 22 bit", ":-1"),
                ("BITPOS z 1 23 23 bit", ":23"),
                ("BITPOS z 0 3 5 bit", ":3"),
            ],
        );
    }

    #[test]
    fn bitpos_all_ones_and_zeros() {
        let mut st = ShardStore::new(16);
        set(&mut st, "ones", b"\xff\xff");
        check(
            &mut st,
            &[
                ("BITPOS ones 0", ":16"),
                ("BITPOS ones 0 0", ":16"),
                ("BITPOS ones 0 1", ":16"),
                ("BITPOS ones 0 0 -1", ":-1"),
                ("BITPOS ones 0 0 -1 byte", ":-1"),
                ("BITPOS ones 0 3 14 bit", ":-1"),
                ("BITPOS ones 0 8 15 bit", ":-1"),
                (
                    "BITPOS ones 1 3 bit",
                    "-ERR value is not an integer or out of range",
                ),
                ("BITPOS ones 1 3 5 bit", ":3"),
            ],
        );
        set(&mut st, "zeros", b"\x00\x00");
        check(
            &mut st,
            &[
                ("BITPOS zeros 1", ":-1"),
                ("BITPOS zeros 1 0 -1", ":-1"),
                ("BITPOS zeros 1 1 -1 bit", ":-1"),
                ("BITPOS zeros 0", ":0"),
                ("BITPOS zeros 0 1", ":8"),
                ("BITPOS zeros 0 9 9 bit", ":9"),
            ],
        );
        set(&mut st, "e", b"");
        check(
            &mut st,
            &[
                ("BITPOS e 0", ":-1"),
                ("BITPOS e 1", ":-1"),
                ("BITPOS e 0 0", ":-1"),
                ("BITPOS e 0 0 -1", ":-1"),
                ("BITPOS e 0 0 -1 bit", ":-1"),
            ],
        );
        set(&mut st, "long", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x08");
        check(
            &mut st,
            &[
                ("BITPOS long 0", ":327"),
                ("BITPOS long 1 41", ":572"),
                ("BITPOS long 1 41 -2", ":-1"),
                ("BITPOS long 0 3 -1 bit", ":327"),
                (
                    "BITPOS long 1 330 bit",
                    "-ERR value is not an integer or out of range",
                ),
                ("BITPOS long 0 0 39", ":-1"),
                ("BITPOS long 0 0 319 bit", ":-1"),
            ],
        );
    }

    #[test]
    fn bitpos_errors() {
        let mut st = ShardStore::new(16);
        set(&mut st, "s", b"\xff\xf0\x00");
        check(
            &mut st,
            &[
                ("BITPOS s 2", "-ERR The bit argument must be 1 or 0."),
                ("BITPOS s -1", "-ERR The bit argument must be 1 or 0."),
                ("BITPOS s a", "-ERR value is not an integer or out of range"),
                ("BITPOS nokey 2", "-ERR The bit argument must be 1 or 0."),
                (
                    "BITPOS s 1 a",
                    "-ERR value is not an integer or out of range",
                ),
                (
                    "BITPOS s 1 0 a",
                    "-ERR value is not an integer or out of range",
                ),
                ("BITPOS s 1 0 1 foo", "-ERR syntax error"),
                ("BITPOS s 1 0 a foo", "-ERR syntax error"),
                (
                    "BITPOS s 1 a 1 foo",
                    "-ERR value is not an integer or out of range",
                ),
                ("BITPOS s 1 0 1 bit extra", "-ERR syntax error"),
                (
                    "BITPOS s 0 12 bit",
                    "-ERR value is not an integer or out of range",
                ),
            ],
        );
    }

    #[test]
    fn bitop_ops() {
        let mut st = ShardStore::new(16);
        set(&mut st, "a", b"\xff\x0f\xaa");
        set(&mut st, "b", b"\x0f");
        check(
            &mut st,
            &[
                ("BITOP AND d a b", ":3"),
                ("GET d", "$\\x0f\\x00\\x00"),
                ("BITOP and d a b nokey", ":3"),
                ("GET d", "$\\x00\\x00\\x00"),
                ("BITOP OR d a b", ":3"),
                ("GET d", "$\\xff\\x0f\\xaa"),
                ("BITOP xor d a b", ":3"),
                ("GET d", "$\\xf0\\x0f\\xaa"),
                ("BITOP XOR d a a", ":3"),
                ("GET d", "$\\x00\\x00\\x00"),
                ("BITOP NOT d a", ":3"),
                ("GET d", "$\\x00\\xf0U"),
                ("BITOP not d nokey", ":0"),
                ("EXISTS d", ":0"),
                ("BITOP AnD a a b", ":3"),
                ("GET a", "$\\x0f\\x00\\x00"),
            ],
        );
    }

    #[test]
    fn bitop_long_words() {
        let mut st = ShardStore::new(16);
        set(&mut st, "a", b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f !\x22#$");
        set(&mut st, "b", b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0\xef\xee\xed\xec\xeb\xea\xe9\xe8\xe7\xe6\xe5\xe4\xe3\xe2\xe1\xe0\xdf\xde\xdd\xdc\xdb\xda\xd9\xd8\xd7\xd6\xd5\xd4\xd3\xd2\xd1\xd0\xcf\xce\xcd\xcc\xcb\xca\xc9");
        set(
            &mut st,
            "c",
            b"ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
        );
        check(
            &mut st,
            &[
                ("BITOP AND d a b c", ":70"),
                ("GET d", "$\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"),
                ("BITOP OR d a b c", ":70"),
                ("GET d", "$\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xda\\xdb\\xda\\xdf\\xde\\xdf\\xde\\xdb\\xda\\xdb\\xda\\xdf\\xde\\xdf\\xde\\xdb\\xda\\xdbZZZZZZZZZZZZZZZ"),
                ("BITOP XOR d a b c", ":70"),
                ("GET d", "$\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\xa5\\x80\\x83\\x82\\x8d\\x8c\\x8f\\x8e\\x89\\x88\\x8b\\x8a\\x95\\x94\\x97\\x96\\x91\\x90\\x93ZZZZZZZZZZZZZZZ"),
                ("BITOP NOT d b", ":55"),
                ("GET d", "$\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\x09\\x0a\\x0b\\x0c\\x0d\\x0e\\x0f\\x10\\x11\\x12\\x13\\x14\\x15\\x16\\x17\\x18\\x19\\x1a\\x1b\\x1c\\x1d\\x1e\\x1f !\\x22#$%&'()*+,-./0123456"),
            ],
        );
    }

    #[test]
    fn bitop_empty_result_deletes() {
        let mut st = ShardStore::new(16);
        check(
            &mut st,
            &[
                ("SET d x", "+OK"),
                ("BITOP AND d nokey nokey2", ":0"),
                ("EXISTS d", ":0"),
            ],
        );
        set(&mut st, "e", b"");
        check(
            &mut st,
            &[
                ("BITOP OR d e", ":0"),
                ("EXISTS d", ":0"),
                ("BITOP NOT d e", ":0"),
                ("BITOP XOR d e nokey", ":0"),
                ("EXISTS d", ":0"),
            ],
        );
    }

    #[test]
    fn bitop_errors() {
        let mut st = ShardStore::new(16);
        set(&mut st, "a", b"x");
        check(
            &mut st,
            &[
                (
                    "BITOP NOT d a a",
                    "-ERR BITOP NOT must be called with a single source key.",
                ),
                ("BITOP nand d a", "-ERR syntax error"),
                ("BITOP andx d a", "-ERR syntax error"),
                ("BITOP an d a", "-ERR syntax error"),
                ("EXISTS d", ":0"),
            ],
        );
    }

    #[test]
    fn bitfield_basic() {
        let mut st = ShardStore::new(16);
        check(
            &mut st,
            &[
                ("BITFIELD k", "[]"),
                ("EXISTS k", ":0"),
                ("BITFIELD k GET u8 0", "[:0]"),
                ("EXISTS k", ":0"),
                ("BITFIELD k SET u8 0 255 GET u8 0 INCRBY u8 0 1 GET i8 0", "[:0, :255, :0, :0]"),
                ("BITFIELD k SET i5 3 -7 GET i5 3 GET u5 3 GET u8 0 GET i13 5", "[:0, :-7, :25, :25, :1024]"),
                ("BITFIELD k incrby u10 #2 1023 incrby u10 #2 5 get u16 16 get u16 #2", "[:1023, :4, :16, :0]"),
                ("BITFIELD k set i64 100 -5 get i64 100 get u63 101 get i64 103", "[:0, :-5, :9223372036854775803, :-40]"),
                ("BITFIELD_RO k get i64 100 get u63 101 GET i64 103", "[:-5, :9223372036854775803, :-40]"),
                ("GET k", "$\\x19\\x00\\x00\\x10\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x0f\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xb0"),
                ("BITFIELD k GET u63 0 GET i64 0 GET i64 4294967295 GET u4 #4611686018427387905", "[:900719959833837568, :1801439919667675136, :0, :9]"),
                ("BITFIELD k SET u4 #4611686018427387905 15 GET u4 4 GET u8 0", "[:9, :15, :31]"),
                ("BITFIELD k get i8 #536870911", "[:0]"),
            ],
        );
    }

    #[test]
    fn bitfield_overflow_unsigned() {
        let mut st = ShardStore::new(16);
        check(
            &mut st,
            &[
                ("BITFIELD x SET u8 0 255 INCRBY u8 0 1 OVERFLOW SAT INCRBY u8 0 -1 INCRBY u8 0 -1000 OVERFLOW FAIL INCRBY u8 0 1000 GET u8 0", "[:0, :0, :0, :0, nil, :0]"),
                ("BITFIELD y SET u8 0 -1 OVERFLOW SAT SET u8 8 -1 SET u8 16 256 OVERFLOW FAIL SET u8 24 -1 GET u32 0", "[:0, :0, :0, nil, :4294967040]"),
                ("BITFIELD y set u63 0 9223372036854775807 incrby u63 0 1 overflow sat incrby u63 0 9223372036854775807 set u63 0 -1 overflow wrap incrby u63 0 -9223372036854775808", "[:9223371487098961920, :0, :9223372036854775807, :9223372036854775807, :9223372036854775807]"),
                ("BITFIELD y overflow wrap set u3 0 9 incrby u3 0 -10 overflow sat incrby u3 0 -10 incrby u3 0 100 overflow fail incrby u3 0 1 incrby u3 0 -1", "[:7, :7, :0, :7, nil, :6]"),
                ("BITFIELD y overflow sat set u1 0 5 incrby u1 0 -2 overflow wrap incrby u1 0 3", "[:1, :0, :1]"),
            ],
        );
    }

    #[test]
    fn bitfield_overflow_signed() {
        let mut st = ShardStore::new(16);
        check(
            &mut st,
            &[
                ("BITFIELD x SET i8 0 127 INCRBY i8 0 1 OVERFLOW SAT INCRBY i8 0 1 INCRBY i8 0 -1000 SET i8 0 300 OVERFLOW WRAP SET i8 0 300 OVERFLOW FAIL SET i8 0 300 SET i8 0 -129 GET i8 0", "[:0, :-128, :-127, :-128, :-128, :127, nil, nil, :44]"),
                ("BITFIELD y SET i64 0 9223372036854775807 INCRBY i64 0 1 OVERFLOW SAT INCRBY i64 0 1 INCRBY i64 0 -9223372036854775808 INCRBY i64 0 -9223372036854775808 OVERFLOW FAIL INCRBY i64 0 -1 INCRBY i64 0 1", "[:0, :-9223372036854775808, :-9223372036854775807, :-9223372036854775808, :-9223372036854775808, nil, :-9223372036854775807]"),
                ("BITFIELD y OVERFLOW SaT SET i1 1 0 SET i1 1 1 SET i1 1 -1 INCRBY i1 1 1 GET i1 1 OVERFLOW WRAP INCRBY i1 1 -1 INCRBY i1 1 -1", "[:0, :0, :0, :0, :0, :-1, :0]"),
                ("BITFIELD y overflow sat set i4 3 -100 get i4 3 incrby i4 3 100 overflow wrap incrby i4 3 9 get u4 3", "[:0, :-8, :7, :0, :0]"),
                ("BITFIELD y overflow fail set i64 0 -9223372036854775808 incrby i64 0 -1 incrby i64 0 9223372036854775807 incrby i64 0 1", "[:-9223372036854775807, nil, :-1, :0]"),
            ],
        );
    }

    #[test]
    fn bitfield_fail_still_creates_key() {
        let mut st = ShardStore::new(16);
        check(
            &mut st,
            &[
                ("BITFIELD nk OVERFLOW FAIL SET u2 0 10", "[nil]"),
                ("STRLEN nk", ":1"),
                (
                    "BITFIELD nk2 OVERFLOW FAIL INCRBY u2 100 10 GET u2 100",
                    "[nil, :0]",
                ),
                ("STRLEN nk2", ":13"),
                (
                    "BITFIELD w overflow fail set u8 0 300 set u8 0 3 get u8 0",
                    "[nil, :0, :3]",
                ),
                (
                    "BITFIELD v overflow sat overflow fail set u8 0 300",
                    "[nil]",
                ),
            ],
        );
    }

    #[test]
    fn bitfield_errors() {
        let mut st = ShardStore::new(16);
        check(
            &mut st,
            &[
                ("BITFIELD k GET", "-ERR syntax error"),
                ("BITFIELD k GET u8", "-ERR syntax error"),
                ("BITFIELD k GET u8 0 SET u8 0", "-ERR syntax error"),
                ("BITFIELD k FOO u8 0", "-ERR syntax error"),
                ("BITFIELD k OVERFLOW", "-ERR syntax error"),
                ("BITFIELD k OVERFLOW foo", "-ERR Invalid OVERFLOW type specified"),
                ("BITFIELD k OVERFLOW foo GET u8 0", "-ERR Invalid OVERFLOW type specified"),
                ("BITFIELD k GET u8 0 OVERFLOW foo", "-ERR Invalid OVERFLOW type specified"),
                ("BITFIELD k SET u8 0 1 OVERFLOW", "-ERR syntax error"),
                ("BITFIELD k GET u64 0", "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
                ("BITFIELD k GET i65 0", "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
                ("BITFIELD k GET i0 0", "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
                ("BITFIELD k GET U8 0", "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
                ("BITFIELD k GET I8 0", "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
                ("BITFIELD k GET i08 0", "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
                ("BITFIELD k GET i 0", "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
                ("BITFIELD k GET x8 0", "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
                ("BITFIELD k GET i8 -1", "-ERR bit offset is not an integer or out of range"),
                ("BITFIELD k GET i8 a", "-ERR bit offset is not an integer or out of range"),
                ("BITFIELD k GET i8 #", "-ERR bit offset is not an integer or out of range"),
                ("BITFIELD k GET i8 #-1", "-ERR bit offset is not an integer or out of range"),
                ("BITFIELD k GET i8 ##1", "-ERR bit offset is not an integer or out of range"),
                ("BITFIELD k GET i8 #536870912", "-ERR bit offset is not an integer or out of range"),
                ("BITFIELD k GET i8 4294967296", "-ERR bit offset is not an integer or out of range"),
                ("BITFIELD k SET i8 0 a", "-ERR value is not an integer or out of range"),
                ("BITFIELD k SET i8 0 1.5", "-ERR value is not an integer or out of range"),
                ("BITFIELD k INCRBY i8 0 9223372036854775808", "-ERR value is not an integer or out of range"),
                ("BITFIELD k SET i8 -1 1 GET i8 foo", "-ERR bit offset is not an integer or out of range"),
                ("BITFIELD k SET i8 0 1 GET u64 0", "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
                ("BITFIELD k GET u8 0 GET", "-ERR syntax error"),
                ("EXISTS k", ":0"),
            ],
        );
    }

    #[test]
    fn bitfield_ro_only_get() {
        let mut st = ShardStore::new(16);
        check(
            &mut st,
            &[
                ("BITFIELD_RO k GET u8 0", "[:0]"),
                ("EXISTS k", ":0"),
                ("BITFIELD_RO k", "[]"),
                (
                    "BITFIELD_RO k GET u8 0 SET u8 0 1",
                    "-ERR BITFIELD_RO only supports the GET subcommand",
                ),
                (
                    "BITFIELD_RO k INCRBY u8 0 1",
                    "-ERR BITFIELD_RO only supports the GET subcommand",
                ),
                ("BITFIELD_RO k OVERFLOW FAIL GET i8 0", "[:0]"),
                ("BITFIELD_RO k GET u8 0 foo", "-ERR syntax error"),
                (
                    "BITFIELD_RO k GET u8 0 INCRBY u8 0 a",
                    "-ERR value is not an integer or out of range",
                ),
                ("EXISTS k", ":0"),
            ],
        );
        set(&mut st, "s", b"\x80\x01");
        check(
            &mut st,
            &[(
                "BITFIELD_RO s GET i8 0 GET u8 0 GET u16 0 GET i2 0 GET u1 15 GET u9 #1",
                "[:-128, :128, :32769, :-2, :1, :4]",
            )],
        );
    }

    // ---- Behaviour not visible in a single reply ----------------------------------------

    #[test]
    fn command_table() {
        let names: Vec<_> = COMMANDS.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "setbit",
                "getbit",
                "bitcount",
                "bitpos",
                "bitop",
                "bitfield",
                "bitfield_ro"
            ]
        );
        for c in COMMANDS {
            assert_eq!(c.group, "bitmap");
        }
        let bitop = COMMANDS.iter().find(|c| c.name == "bitop").expect("bitop");
        assert!(matches!(bitop.kind, Kind::Coordinated(_)));
        let args = bytes_args(&[b"bitop", b"and", b"d", b"a", b"b"]);
        assert_eq!(bitop.key_indexes(&args), vec![2, 3, 4]);
        let getbit = COMMANDS
            .iter()
            .find(|c| c.name == "getbit")
            .expect("getbit");
        assert!(getbit.has_flag("fast") && getbit.has_flag("readonly"));
        assert_eq!(
            getbit.key_indexes(&bytes_args(&[b"getbit", b"k", b"1"])),
            vec![1]
        );
    }

    #[test]
    fn writes_keep_ttl_and_bitop_clears_it() {
        let mut st = ShardStore::new(16);
        let far = crate::util::now_ms() + 100_000;
        st.ctx(0).set(b"k", Value::str(b"\x00"), far);
        st.ctx(0).set(b"d", Value::str(b"x"), far);
        run(&mut st, "SETBIT k 20 1");
        run(&mut st, "BITFIELD k SET u8 32 7");
        let ttl = |st: &mut ShardStore, k: &[u8]| st.ctx(0).lookup(k).map(|e| e.expire_at);
        assert_eq!(ttl(&mut st, b"k"), Some(far));
        assert_eq!(fmt(&run(&mut st, "GET k")), "$\\x00\\x00\\x08\\x00\\x07");
        run(&mut st, "BITOP OR d k");
        assert_eq!(ttl(&mut st, b"d"), Some(0));
    }

    #[test]
    fn dirty_counts_only_changes() {
        let mut st = ShardStore::new(16);
        let step = |st: &mut ShardStore, cmd: &str| {
            let before = st.dirty;
            run(st, cmd);
            st.dirty - before
        };
        assert_eq!(step(&mut st, "SETBIT k 1 1"), 1);
        assert_eq!(step(&mut st, "SETBIT k 1 1"), 0);
        assert_eq!(step(&mut st, "SETBIT k 1 0"), 1);
        assert_eq!(step(&mut st, "SETBIT k 20 0"), 1);
        assert_eq!(step(&mut st, "BITFIELD k SET u8 0 0 SET u8 0 0"), 0);
        assert_eq!(
            step(&mut st, "BITFIELD k SET u8 0 1 SET u8 0 2 GET u8 0"),
            2
        );
        assert_eq!(step(&mut st, "BITFIELD k OVERFLOW FAIL INCRBY u2 0 9"), 0);
        assert_eq!(step(&mut st, "BITFIELD k2 SET u8 0 0 SET u8 0 0"), 2);
        assert_eq!(step(&mut st, "BITFIELD k GET u8 0"), 0);
    }

    #[test]
    fn setbit_reuses_an_unshared_buffer() {
        let mut st = ShardStore::new(16);
        run(&mut st, "SETBIT k 80000 1");
        let ptr = |st: &mut ShardStore| match st.ctx(0).lookup(b"k").map(|e| &e.value) {
            Some(Value::Str(b)) => b.as_ptr(),
            _ => std::ptr::null(),
        };
        let p0 = ptr(&mut st);
        run(&mut st, "SETBIT k 3 1");
        run(&mut st, "BITFIELD k INCRBY i16 100 5");
        assert_eq!(p0, ptr(&mut st));
        // A value someone else still holds is copied, never written through.
        let held = st.ctx(0).get_str(b"k").ok().flatten().unwrap_or_default();
        run(&mut st, "SETBIT k 3 0");
        assert_eq!(held[0], 0x10);
        assert_eq!(fmt(&run(&mut st, "GETBIT k 3")), ":0");
    }

    #[test]
    fn bitop_compute_for_the_coordinator() {
        let some = |b: &'static [u8]| Some(Bytes::from_static(b));
        assert_eq!(
            bitop_compute(b"and", &[some(b"\xff\x0f"), some(b"\x0f")]),
            Ok(vec![0x0f, 0x00])
        );
        assert_eq!(
            bitop_compute(b"OR", &[None, some(b"\x01\x02"), some(b"\x10")]),
            Ok(vec![0x11, 0x02])
        );
        assert_eq!(bitop_compute(b"xor", &[None, None]), Ok(vec![]));
        assert_eq!(bitop_compute(b"not", &[some(b"\x0f")]), Ok(vec![0xf0]));
        assert_eq!(bitop_compute(b"not", &[None]), Ok(vec![]));
        assert_eq!(
            bitop_compute(b"not", &[some(b"a"), some(b"b")]),
            Err(Reply::err(ERR_BITOP_NOT))
        );
        assert_eq!(bitop_compute(b"not", &[]), Err(Reply::err(ERR_BITOP_NOT)));
        assert_eq!(bitop_compute(b"and", &[]), Ok(vec![]));
        assert_eq!(bitop_compute(b"nand", &[None]), Err(Reply::syntax()));
        // strcasecmp stops at a NUL, as in Redis.
        assert_eq!(bitop_compute(b"or\0x", &[some(b"\x01")]), Ok(vec![1]));
        assert_eq!(bitop_validate(b"nand", 1), Err(Reply::syntax()));
        assert_eq!(bitop_validate(b"not", 2), Err(Reply::err(ERR_BITOP_NOT)));
        assert_eq!(bitop_validate(b"Xor", 5), Ok(()));
    }

    /// Word-at-a-time paths against a bit-by-bit reference, on lengths and ranges around the
    /// 8-byte boundaries.
    #[test]
    fn word_paths_match_bitwise_reference() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..300 {
            let len = rng.usize(1..70);
            let s: Vec<u8> = (0..len)
                .map(|_| match rng.u8(0..4) {
                    0 => 0,
                    1 => 0xff,
                    _ => rng.u8(..),
                })
                .collect();
            let bit_at = |i: usize| s[i / 8] & (0x80 >> (i % 8)) != 0;
            let sb = rng.usize(0..len * 8);
            let eb = rng.usize(sb..len * 8);
            let want = (sb..=eb).filter(|&i| bit_at(i)).count() as u64;
            assert_eq!(count_bits(&s, sb, eb), want);
            assert_eq!(
                popcount(&s),
                (0..len * 8).filter(|&i| bit_at(i)).count() as u64
            );
            for bit in [false, true] {
                let want = (sb..=eb).find(|&i| bit_at(i) == bit);
                assert_eq!(first_bit(&s, sb, eb, bit), want, "{s:?} {sb} {eb} {bit}");
            }
            let other: Vec<u8> = (0..rng.usize(0..70)).map(|_| rng.u8(..)).collect();
            let mut d = s.clone();
            zip_words(&mut d, &other, |a, b| a ^ b);
            for (i, &c) in d.iter().enumerate() {
                assert_eq!(c, s[i] ^ other.get(i).copied().unwrap_or(0));
            }
        }
    }

    #[test]
    fn field_get_and_set_roundtrip() {
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..500 {
            let bits = rng.u32(1..=64);
            let off = rng.u64(0..80);
            let mut buf = vec![0u8; 20];
            rng.fill(&mut buf);
            let before = buf.clone();
            let v = rng.u64(..) & width_mask(bits);
            set_field(&mut buf, off, bits, v);
            assert_eq!(get_unsigned(&buf, off, bits), v);
            // Bits outside the field are untouched.
            for i in 0..160u64 {
                if i < off || i >= off + u64::from(bits) {
                    assert_eq!(get_bit(&buf, i), get_bit(&before, i));
                }
            }
        }
        assert_eq!(get_signed(&[0x80], 0, 8), -128);
        assert_eq!(get_signed(&[0x80], 0, 1), -1);
        assert_eq!(get_signed(&[0xff; 8], 0, 64), -1);
    }
}
