//! A look ahead at the requests waiting in a read buffer, without parsing them: the first
//! argument after the command name of each complete RESP multibulk request, so that the
//! keyspace can prefetch where those keys live before the requests run (`Db::prefetch`).
//!
//! Advisory only: anything unexpected (inline requests, a partial request, a malformed one)
//! ends the look ahead, and the real parser decides what the bytes mean.

/// Call `f` with the second argument of each of the first `max` complete requests in `buf`,
/// until it returns false.
pub fn second_args<'a>(buf: &'a [u8], max: usize, mut f: impl FnMut(&'a [u8]) -> bool) {
    let mut pos = 0;
    for _ in 0..max {
        let Some((argc, p)) = header(buf, pos, b'*') else {
            return;
        };
        pos = p;
        for j in 0..argc {
            let Some((len, p)) = header(buf, pos, b'$') else {
                return;
            };
            let end = p + len;
            if buf.len() < end + 2 {
                return;
            }
            if j == 1 && !f(&buf[p..end]) {
                return;
            }
            pos = end + 2;
        }
    }
}

/// `<tag><decimal>\r\n` at `pos`: the number and the position after it.
fn header(buf: &[u8], pos: usize, tag: u8) -> Option<(usize, usize)> {
    if buf.get(pos) != Some(&tag) {
        return None;
    }
    let mut n: usize = 0;
    let mut i = pos + 1;
    loop {
        match *buf.get(i)? {
            d @ b'0'..=b'9' if i < pos + 12 => n = n * 10 + (d - b'0') as usize,
            b'\r' if i > pos + 1 => return (buf.get(i + 1) == Some(&b'\n')).then_some((n, i + 2)),
            _ => return None,
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(buf: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut out = vec![];
        second_args(buf, max, |k| {
            out.push(k.to_vec());
            true
        });
        out
    }

    #[test]
    fn finds_the_keys_of_complete_requests_only() {
        let buf = b"*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$2\r\nk2\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$2\r\nk";
        assert_eq!(keys(buf, 10), vec![b"k1".to_vec(), b"k2".to_vec()]);
        assert_eq!(keys(buf, 1), vec![b"k1".to_vec()]);
        assert!(keys(b"GET k\r\n", 10).is_empty());
        assert!(keys(b"*2\r\n$3\r\nGET\r\n$99999999999999\r\n", 10).is_empty());
        assert!(keys(b"*x\r\n", 10).is_empty());
        assert!(keys(b"", 10).is_empty());
    }
}
