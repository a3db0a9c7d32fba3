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
