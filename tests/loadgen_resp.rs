//! Tests of the load generator's RESP reply parser (`benches/loadgen/resp.rs`).

#[allow(dead_code)]
#[path = "../benches/loadgen/resp.rs"]
mod resp;

use resp::{parse, Reply, MAX_DEPTH};

fn whole(s: &[u8]) -> Reply {
    let r = parse(s).expect("valid").expect("complete");
    assert_eq!(r.len, s.len(), "{:?}", String::from_utf8_lossy(s));
    // Every proper prefix is incomplete, never an error.
    for cut in 0..s.len() {
        assert_eq!(parse(&s[..cut]), Ok(None), "prefix {cut} of {s:?}");
    }
    r
}

#[test]
fn resp2_types() {
    assert!(!whole(b"+OK\r\n").error);
    assert!(whole(b"-ERR unknown command\r\n").error);
    assert!(whole(b"-WRONGTYPE Operation\r\n").error);
    assert!(!whole(b":1000\r\n").error);
    assert!(!whole(b":-7\r\n").error);
    assert!(!whole(b"$5\r\nhello\r\n").error);
    assert!(!whole(b"$0\r\n\r\n").error);
    assert!(!whole(b"$-1\r\n").error);
    assert!(!whole(b"*-1\r\n").error);
    assert!(!whole(b"*0\r\n").error);
    // Bulk contents may hold CRLF.
    whole(b"$4\r\n\r\n\r\n\r\n");
    whole(b"*3\r\n$3\r\nfoo\r\n$-1\r\n:5\r\n");
    // Nested arrays, including empty and null ones, and an error inside (EXEC).
    let r = whole(b"*3\r\n*2\r\n+a\r\n*0\r\n*-1\r\n*1\r\n-ERR x\r\n");
    assert!(!r.error);
}

#[test]
fn resp3_types() {
    whole(b"_\r\n");
    whole(b",3.14\r\n");
    whole(b"#t\r\n");
    whole(b"(12345678901234567890\r\n");
    whole(b"=8\r\ntxt:abcd\r\n");
    assert!(whole(b"!5\r\nERR x\r\n").error);
    whole(b"%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n:2\r\n");
    whole(b"~2\r\n+a\r\n+b\r\n");
    whole(b">2\r\n+message\r\n+x\r\n");
    whole(b"|1\r\n+key\r\n+val\r\n:42\r\n");
}

#[test]
fn pipelined_replies_one_at_a_time() {
    let buf = b"+OK\r\n$3\r\nbar\r\n-ERR no\r\n*2\r\n:1\r\n:2\r\n$-1\r\n";
    let mut pos = 0;
    let mut seen = vec![];
    while let Some(r) = parse(&buf[pos..]).unwrap() {
        seen.push((r.len, r.error));
        pos += r.len;
    }
    assert_eq!(pos, buf.len());
    assert_eq!(
        seen,
        vec![(5, false), (9, false), (9, true), (12, false), (5, false)]
    );
}

#[test]
fn invalid_input() {
    for bad in [
        &b"?x\r\n"[..],
        b":12a\r\n",
        b":\r\n",
        b"$-2\r\n",
        b"$3\r\nabcXY",
        b"*-2\r\n",
        b"+OK\rX",
        b"#x\r\n",
        b"$99999999999999999999\r\n",
    ] {
        assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
    let mut deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
    deep.extend_from_slice(b":1\r\n");
    assert!(parse(&deep).is_err());
    let mut ok = b"*1\r\n".repeat(MAX_DEPTH);
    ok.extend_from_slice(b":1\r\n");
    assert_eq!(parse(&ok).unwrap().unwrap().len, ok.len());
}
