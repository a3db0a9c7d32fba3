//! Pre-encoded replies (`Reply::Raw`, e.g. LRANGE's bulk arrays) read back into values, for
//! scripts, which see replies as Lua values.

use crate::protocol::reply::Reply;
use bytes::Bytes;

/// The first RESP2 value in `b`, or None if it is not well formed.
pub fn parse(b: &Bytes) -> Option<Reply> {
    let mut at = 0;
    let r = value(b, &mut at)?;
    Some(r)
}

fn line<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let rest = b.get(*at..)?;
    let end = memchr::memchr(b'\r', rest)?;
    *at += end + 2;
    Some(&rest[..end])
}

fn value(b: &Bytes, at: &mut usize) -> Option<Reply> {
    let kind = *b.get(*at)?;
    *at += 1;
    let l = line(b, at)?;
    let num = || crate::util::num::parse_i64(l);
    Some(match kind {
        b'+' => Reply::Simple(String::from_utf8_lossy(l).into_owned().into()),
        b'-' => Reply::Error(String::from_utf8_lossy(l).into_owned().into()),
        b':' => Reply::Int(num()?),
        b'$' => {
            let n = num()?;
            if n < 0 {
                return Some(Reply::Nil);
            }
            let n = n as usize;
            let data = b.slice(*at..(*at).checked_add(n).filter(|&e| e <= b.len())?);
            *at += n + 2;
            Reply::Bulk(data)
        }
        b'*' => {
            let n = num()?;
            if n < 0 {
                return Some(Reply::NilArray);
            }
            let mut items = Vec::with_capacity((n as usize).min(1024));
            for _ in 0..n {
                items.push(value(b, at)?);
            }
            Reply::Array(items)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_arrays_of_bulks() {
        let b = Bytes::from_static(b"*3\r\n$1\r\na\r\n$-1\r\n:5\r\n");
        assert_eq!(
            parse(&b),
            Some(Reply::Array(vec![
                Reply::Bulk(Bytes::from_static(b"a")),
                Reply::Nil,
                Reply::Int(5)
            ]))
        );
    }
}
