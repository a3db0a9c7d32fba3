//! A look ahead at the requests waiting in a read buffer, without parsing them: the first
//! argument after the command name of each complete RESP multibulk request, so that the
//! keyspace can prefetch where those keys live before the requests run (`store::prefetch`).
//!
//! Advisory only: anything unexpected (inline requests, a partial request, a malformed one)
//! ends the look ahead, and the real parser decides what the bytes mean.

/// Call `f` with the second argument of each complete request in `buf`, until it returns false
/// or `max_args` arguments (of all requests, commands' names included) have been walked: the
/// walk costs per argument, and a pipeline of wide requests (MSET of ten keys) has few keys
/// worth the look ahead.
pub fn second_args<'a>(buf: &'a [u8], max_args: usize, mut f: impl FnMut(&'a [u8]) -> bool) {
    let (mut pos, mut walked) = (0, 0);
    // request_at stops (None) as soon as the callback says no.
    while let Some(end) = request_at(buf, pos, |j, a| {
        walked += 1;
        walked <= max_args && (j != 1 || f(a))
    }) {
        pos = end;
    }
}

/// The front request of a buffer (see `front`).
#[derive(Debug, PartialEq)]
pub struct Front<'a> {
    pub argc: usize,
    pub name: &'a [u8],
    pub second: Option<&'a [u8]>,
}

/// The first request in `buf` if it is a complete multibulk: its argument count, its command
/// name and its second argument.
pub fn front(buf: &[u8]) -> Option<Front<'_>> {
    let (mut name, mut second, mut argc) = (None, None, 0);
    request_at(buf, 0, |j, a| {
        match j {
            0 => name = Some(a),
            1 => second = Some(a),
            _ => {}
        }
        argc = j + 1;
        true
    })?;
    Some(Front {
        argc,
        name: name?,
        second,
    })
}

/// Walk the multibulk request at `pos`, calling `f(index, argument)` for each argument until it
/// returns false; the position after the request if it is complete and `f` never declined.
/// (Also what `benches/floor.rs` counts requests with.)
pub fn request_at<'a>(
    buf: &'a [u8],
    pos: usize,
    mut f: impl FnMut(usize, &'a [u8]) -> bool,
) -> Option<usize> {
    let (argc, mut pos) = header(buf, pos, b'*')?;
    for j in 0..argc {
        let (len, p) = header(buf, pos, b'$')?;
        let end = p.checked_add(len)?;
        if buf.len() < end.checked_add(2)? {
            return None;
        }
        if !f(j, &buf[p..end]) {
            return None;
        }
        pos = end + 2;
    }
    Some(pos)
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
        assert_eq!(keys(buf, 5), vec![b"k1".to_vec(), b"k2".to_vec()]);
        assert_eq!(
            keys(buf, 4),
            vec![b"k1".to_vec()],
            "GET k2 is past 4 arguments"
        );
        assert!(keys(buf, 1).is_empty());
        assert!(keys(b"GET k\r\n", 10).is_empty());
        assert!(keys(b"*2\r\n$3\r\nGET\r\n$99999999999999\r\n", 10).is_empty());
        assert!(keys(b"*x\r\n", 10).is_empty());
        assert!(keys(b"", 10).is_empty());
    }

    #[test]
    fn front_names_the_first_complete_request() {
        let buf = b"*3\r\n$6\r\nSCRIPT\r\n$4\r\nKILL\r\n$1\r\nx\r\n*1\r\n$4\r\nPING\r\n";
        let f = |argc, name: &'static [u8], second| Front { argc, name, second };
        assert_eq!(front(buf), Some(f(3, b"SCRIPT", Some(&b"KILL"[..]))));
        assert_eq!(front(b"*1\r\n$4\r\nPING\r\n"), Some(f(1, b"PING", None)));
        assert_eq!(front(b"*2\r\n$4\r\nPING\r\n$2\r\nab"), None);
        assert_eq!(front(b"PING\r\n"), None);
        assert_eq!(front(b"*0\r\n"), None);
    }
}
