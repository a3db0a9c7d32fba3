//! Argument parsing shared by the command families, with Redis's error replies.

use crate::protocol::reply::Reply;
use crate::util::num;

/// An integer argument, or `ERR value is not an integer or out of range`.
pub fn int(a: &[u8]) -> Result<i64, Reply> {
    num::parse_i64(a).ok_or_else(Reply::not_int)
}

/// A float argument, or `ERR value is not a valid float`.
pub fn float(a: &[u8]) -> Result<f64, Reply> {
    num::parse_f64(a).ok_or_else(Reply::not_float)
}

/// Case-insensitive keyword comparison.
#[inline]
pub fn is(a: &[u8], kw: &str) -> bool {
    a.eq_ignore_ascii_case(kw.as_bytes())
}

/// Redis's getPositiveLongFromObjectOrReply: a non-negative integer, else `msg` (or its
/// default wording) for a negative value and for anything that is not an integer alike.
pub fn positive(a: &[u8], msg: Option<&'static str>) -> Result<i64, Reply> {
    match num::parse_i64(a) {
        Some(v) if v >= 0 => Ok(v),
        _ => Err(Reply::err(
            msg.unwrap_or("ERR value is out of range, must be positive"),
        )),
    }
}

/// Redis's getRangeLongFromObjectOrReply: an integer in `lo..=hi`; outside it `msg`, or the
/// default range wording when there is none.
pub fn range(a: &[u8], lo: i64, hi: i64, msg: Option<&'static str>) -> Result<i64, Reply> {
    let v = match num::parse_i64(a) {
        Some(v) => v,
        None => return Err(msg.map_or_else(Reply::not_int, Reply::err)),
    };
    if v < lo || v > hi {
        return Err(match msg {
            Some(m) => Reply::err(m),
            None => Reply::err(format!(
                "ERR value is out of range, value must between {lo} and {hi}"
            )),
        });
    }
    Ok(v)
}

/// An argument as Redis shows it in an error it formats with C's `%s`: up to its first NUL.
pub fn c_str(a: &[u8]) -> &[u8] {
    &a[..memchr::memchr(0, a).unwrap_or(a.len())]
}

/// A SCAN cursor, read as Redis's strtoul on the C string does: up to the first NUL byte, an
/// empty one is 0, an optional sign (a negative one wraps), no leading space, no overflow;
/// else `ERR invalid cursor`.
pub fn cursor(a: &[u8]) -> Result<u64, Reply> {
    let invalid = || Reply::err("ERR invalid cursor");
    let s = c_str(a);
    if s.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(invalid());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// Most elements a random-with-repetition reply (HRANDFIELD/SRANDMEMBER/ZRANDMEMBER with a
/// negative count) may hold. Redis streams such replies until memory runs out; a server must
/// not let one request do that, so larger counts are refused.
pub const MAX_RANDOM_REPLY: u64 = 1 << 24;

/// Refuse a repetition count above `MAX_RANDOM_REPLY`.
pub fn random_count(n: u64) -> Result<(), Reply> {
    if n > MAX_RANDOM_REPLY {
        Err(Reply::err(format!(
            "ERR value is out of range, a negative count may ask for at most {MAX_RANDOM_REPLY} elements"
        )))
    } else {
        Ok(())
    }
}
