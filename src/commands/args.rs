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

/// A collection SCAN cursor, read as Redis's strtoul does (a negative one wraps), or
/// `ERR invalid cursor`.
pub fn cursor(a: &[u8]) -> Result<u64, Reply> {
    std::str::from_utf8(a)
        .ok()
        .and_then(|s| {
            s.parse::<u64>()
                .ok()
                .or_else(|| s.parse::<i64>().ok().map(|v| v as u64))
        })
        .ok_or_else(|| Reply::err("ERR invalid cursor"))
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
