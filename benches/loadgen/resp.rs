//! The load generator's RESP reply parser: finds where the next complete reply in a buffer
//! ends without copying or allocating, and says whether it is an error reply.
//!
//! It understands every RESP2 type (simple strings, errors, integers, bulk strings, arrays,
//! null bulk strings and null arrays, nested to any depth up to `MAX_DEPTH`) and also skips the
//! RESP3 types (`_ , # ( = ! % ~ > |`), so a server that answers in RESP3 doesn't break the
//! reply/request matching.
//!
//! Included by `benches/loadgen.rs` and, for its tests, by `tests/loadgen_resp.rs` (bench
//! targets don't run under `cargo test`).

/// A complete reply at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// Bytes it takes.
    pub len: usize,
    /// An error reply (`-ERR ...` or a RESP3 blob error); errors nested in arrays (EXEC's) don't
    /// count.
    pub error: bool,
}

/// Deepest nesting of aggregates accepted.
pub const MAX_DEPTH: usize = 64;

/// Longest header line (type byte, text, CRLF) before the input is taken as garbage: bounds the
/// rescanning of a partial reply.
const MAX_LINE: usize = 64 * 1024;

/// The next complete reply in `buf`: `Ok(None)` if `buf` holds only part of one, `Err` with a
/// description if `buf` doesn't start with valid RESP.
pub fn parse(buf: &[u8]) -> Result<Option<Reply>, String> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let error = first == b'-' || first == b'!';
    // Values still to read in each open aggregate.
    let mut open = [0u64; MAX_DEPTH];
    let mut depth = 0usize;
    let mut pos = 0usize;
    loop {
        // One value at `pos`.
        let Some(&ty) = buf.get(pos) else {
            return Ok(None);
        };
        let Some(end) = line_end(buf, pos + 1)? else {
            return Ok(None);
        };
        let text = &buf[pos + 1..end];
        let next = end + 2;
        // Children an aggregate opens (0: the value is complete).
        let mut children = 0u64;
        match ty {
            b'+' | b'-' | b'(' => pos = next,
            b':' => {
                int(text)?;
                pos = next;
            }
            b',' => {
                if text.is_empty() {
                    return Err("empty double".into());
                }
                pos = next;
            }
            b'#' => {
                if text != b"t" && text != b"f" {
                    return Err(format!("bad boolean {:?}", String::from_utf8_lossy(text)));
                }
                pos = next;
            }
            b'_' => {
                if !text.is_empty() {
                    return Err("bad null".into());
                }
                pos = next;
            }
            b'$' | b'=' | b'!' => {
                let n = int(text)?;
                if n == -1 && ty == b'$' {
                    pos = next; // null bulk string
                } else if n < 0 {
                    return Err(format!("bad bulk length {n}"));
                } else {
                    let n = n as usize;
                    let Some(stop) = next.checked_add(n).and_then(|s| s.checked_add(2)) else {
                        return Err(format!("bad bulk length {n}"));
                    };
                    if buf.len() < stop {
                        return Ok(None);
                    }
                    if &buf[next + n..stop] != b"\r\n" {
                        return Err("bulk string not followed by CRLF".into());
                    }
                    pos = stop;
                }
            }
            b'*' | b'%' | b'~' | b'>' | b'|' => {
                let n = int(text)?;
                if n == -1 && ty == b'*' {
                    // null array
                } else if n < 0 {
                    return Err(format!("bad aggregate length {n}"));
                } else {
                    children = if ty == b'%' || ty == b'|' {
                        2 * n as u64
                    } else {
                        n as u64
                    };
                }
                pos = next;
                if ty == b'|' {
                    // An attribute comes before the value it describes: one more to read.
                    children += 1;
                }
            }
            _ => return Err(format!("unexpected type byte {:?}", ty as char)),
        }
        if children > 0 {
            if depth == MAX_DEPTH {
                return Err("replies nested too deeply".into());
            }
            open[depth] = children;
            depth += 1;
            continue;
        }
        // The value is complete: close the aggregates it completes.
        loop {
            if depth == 0 {
                return Ok(Some(Reply { len: pos, error }));
            }
            open[depth - 1] -= 1;
            if open[depth - 1] > 0 {
                break;
            }
            depth -= 1;
        }
    }
}

/// Index of the CR of the CRLF ending the line that starts at `from`.
fn line_end(buf: &[u8], from: usize) -> Result<Option<usize>, String> {
    let rest = buf.get(from..).unwrap_or(&[]);
    match memchr::memchr(b'\r', rest) {
        Some(i) => match rest.get(i + 1) {
            Some(b'\n') => Ok(Some(from + i)),
            Some(_) => Err("CR not followed by LF".into()),
            None => Ok(None),
        },
        None if rest.len() > MAX_LINE => Err("header line too long".into()),
        None => Ok(None),
    }
}

fn int(text: &[u8]) -> Result<i64, String> {
    let (neg, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(format!("bad integer {:?}", String::from_utf8_lossy(text)));
    }
    let mut v: i64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((d - b'0') as i64))
            .ok_or_else(|| "integer overflow".to_string())?;
    }
    Ok(if neg { -v } else { v })
}
