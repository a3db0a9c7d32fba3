//! Reading AOF records back: a strict RESP reader (arrays of bulk strings, `#` annotation
//! lines) that tells a complete record, an incomplete one (a torn tail) and damage apart.

use bytes::Bytes;

/// What is at a position of a segment.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// One command and the bytes it took.
    Record(Vec<Bytes>, usize),
    /// An annotation line (`#TS:…`), skipped, and its length.
    Annotation(usize),
    /// The data ends inside a record.
    Incomplete,
    /// Not an AOF record.
    Bad,
}

/// Largest argument count and bulk length accepted (Redis's proto limits).
const MAX_ARGS: usize = 1 << 20;
const MAX_BULK: usize = 512 << 20;

/// A decimal length after a `*` or `$` marker at `pos`, and where its line ends.
fn length_line(buf: &[u8], pos: usize, marker: u8) -> Result<(usize, usize), Parsed> {
    match buf.get(pos) {
        None => return Err(Parsed::Incomplete),
        Some(&b) if b != marker => return Err(Parsed::Bad),
        _ => {}
    }
    let mut n: usize = 0;
    let mut i = pos + 1;
    loop {
        let Some(&b) = buf.get(i) else {
            return Err(Parsed::Incomplete);
        };
        match b {
            b'0'..=b'9' if i - pos <= 19 => n = n * 10 + (b - b'0') as usize,
            b'\r' if i > pos + 1 => break,
            _ => return Err(Parsed::Bad),
        }
        i += 1;
    }
    match buf.get(i + 1) {
        None => Err(Parsed::Incomplete),
        Some(b'\n') => Ok((n, i + 2)),
        Some(_) => Err(Parsed::Bad),
    }
}

/// Parse the record at `pos` of `buf`. Arguments are zero-copy slices of `buf`.
pub fn parse_record(buf: &Bytes, pos: usize) -> Parsed {
    if buf.get(pos) == Some(&b'#') {
        return match memchr::memchr(b'\n', &buf[pos..]) {
            Some(i) => Parsed::Annotation(i + 1),
            None => Parsed::Incomplete,
        };
    }
    let (count, mut i) = match length_line(buf, pos, b'*') {
        Ok(x) => x,
        Err(p) => return p,
    };
    if count == 0 || count > MAX_ARGS {
        return Parsed::Bad;
    }
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, start) = match length_line(buf, i, b'$') {
            Ok(x) => x,
            Err(p) => return p,
        };
        if len > MAX_BULK {
            return Parsed::Bad;
        }
        let end = start + len;
        if buf.len() < end + 2 {
            // Damage shows as a wrong terminator when the rest is here; else it's cut short.
            if buf.len() > end && buf[end] != b'\r' {
                return Parsed::Bad;
            }
            return Parsed::Incomplete;
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Parsed::Bad;
        }
        args.push(buf.slice(start..end));
        i = end + 2;
    }
    Parsed::Record(args, i - pos)
}

/// How the unreadable rest of a segment (from a record's start to the end of the file) is to
/// be taken: zero padding and a torn last record are what a crash leaves behind.
#[derive(Debug, PartialEq)]
pub enum Tail {
    /// Only zero bytes: the writer's block padding.
    Padding,
    /// One record cut short (possibly followed by padding).
    Torn,
    /// Anything else.
    Damaged,
}

pub fn classify_tail(rest: &[u8]) -> Tail {
    let Some(last) = rest.iter().rposition(|&b| b != 0) else {
        return Tail::Padding;
    };
    let trimmed = Bytes::copy_from_slice(&rest[..=last]);
    match parse_record(&trimmed, 0) {
        Parsed::Incomplete => Tail::Torn,
        _ => Tail::Damaged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &[u8]) -> Bytes {
        Bytes::copy_from_slice(s)
    }

    #[test]
    fn parses_records_and_annotations() {
        let buf = b(b"#TS:123\r\n*2\r\n$3\r\nDEL\r\n$2\r\na\0\r\n");
        assert_eq!(parse_record(&buf, 0), Parsed::Annotation(9));
        match parse_record(&buf, 9) {
            Parsed::Record(a, n) => {
                assert_eq!(a, vec![b(b"DEL"), b(b"a\0")]);
                assert_eq!(9 + n, buf.len());
            }
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn every_cut_is_incomplete() {
        let full = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        for cut in 1..full.len() {
            assert_eq!(
                parse_record(&b(&full[..cut]), 0),
                Parsed::Incomplete,
                "{cut}"
            );
        }
    }

    #[test]
    fn damage_is_bad() {
        for bad in [
            &b"SET k v\r\n"[..],
            b"*x\r\n",
            b"*1\r\n$3\r\nSETX\r\n",
            b"*1\r\n:3\r\n",
            b"*0\r\n",
            b"*1\r\n$-1\r\n",
        ] {
            assert_eq!(parse_record(&b(bad), 0), Parsed::Bad, "{bad:?}");
        }
    }

    #[test]
    fn tails() {
        assert_eq!(classify_tail(&[0; 4096]), Tail::Padding);
        let mut torn = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhel".to_vec();
        torn.extend_from_slice(&[0; 100]);
        assert_eq!(classify_tail(&torn), Tail::Torn);
        assert_eq!(classify_tail(b"*1\r\n$4\r\nPING\r\nxx"), Tail::Damaged);
        assert_eq!(classify_tail(b"garbage"), Tail::Damaged);
    }

    proptest::proptest! {
        #[test]
        fn encode_parse_round_trip(args in proptest::collection::vec(
            proptest::collection::vec(proptest::num::u8::ANY, 0..40), 1..6)) {
            let mut out = Vec::new();
            super::super::feed::encode(&mut out, &args);
            let buf = Bytes::from(out);
            match parse_record(&buf, 0) {
                Parsed::Record(a, n) => {
                    proptest::prop_assert_eq!(n, buf.len());
                    let a: Vec<Vec<u8>> = a.iter().map(|x| x.to_vec()).collect();
                    proptest::prop_assert_eq!(a, args);
                }
                p => proptest::prop_assert!(false, "{:?}", p),
            }
        }
    }
}
