//! Replies and their RESP2/RESP3 encoding.
//!
//! Handlers return a `Reply` value; the connection encodes it for the client's protocol
//! version. Replies cross shard boundaries as values (all parts are `Send`), so a command run
//! on another shard is encoded by the connection that asked for it.

use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;

// Some variants have no producer yet.
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub enum Reply {
    /// `+text`
    Simple(Cow<'static, str>),
    /// `-text`: the full text, code included ("ERR syntax error", "WRONGTYPE ...").
    Error(Cow<'static, str>),
    /// An error already counted in the error statistics: a script passing on the error of a
    /// command it ran (Redis's ERR_REPLY_FLAG_NO_STATS_UPDATE). Written as `Error`; it makes
    /// its command a failed call without counting the error twice.
    CountedError(Cow<'static, str>),
    Int(i64),
    Bulk(Bytes),
    /// A bulk string short enough to ride in the reply itself: a GET of a value stored inline
    /// (`Str::to_reply`) allocates nothing for its reply and frees nothing after.
    Short(ShortBulk),
    /// Null bulk string (`$-1` / `_`).
    Nil,
    /// Null array (`*-1` / `_`).
    NilArray,
    Array(Vec<Reply>),
    /// RESP3 map; a flat array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 set; an array in RESP2.
    Set(Vec<Reply>),
    /// Pairs as RESP3 nests them (an array of 2-element arrays: HRANDFIELD WITHVALUES); a flat
    /// array in RESP2.
    Pairs(Vec<(Reply, Reply)>),
    /// RESP3 map; in RESP2 an array of 2-element arrays (XREAD's streams).
    KeyedArrays(Vec<(Reply, Reply)>),
    /// RESP3 double; a bulk string in RESP2.
    Double(f64),
    /// A RESP3 double written as the given text (a form other than `%.17g`, such as the
    /// coordinates GEOPOS prints); a bulk string in RESP2.
    DoubleText(Bytes),
    /// RESP3 boolean; integer 1/0 in RESP2.
    Bool(bool),
    /// RESP3 verbatim string ("txt"); a bulk string in RESP2.
    Verbatim(Bytes),
    /// RESP3 push (pub/sub); an array in RESP2.
    Push(Vec<Reply>),
    /// Already-encoded bytes, written as they are.
    Raw(Bytes),
}

/// Bytes a `Reply::Short` holds: as many as fit beside its tag and length without making a
/// `Reply` larger than its `Bulk` (a `Bytes`) makes it.
pub const SHORT: usize = 38;

#[derive(Clone, Copy)]
pub struct ShortBulk {
    len: u8,
    buf: [u8; SHORT],
}

impl ShortBulk {
    /// `len` bytes of `buf` (at most SHORT).
    #[inline]
    pub fn new(len: u8, buf: [u8; SHORT]) -> ShortBulk {
        ShortBulk {
            len: len.min(SHORT as u8),
            buf,
        }
    }

    /// A copy of `b`, if it fits (at most SHORT bytes). Also how `Str` packs an inline value.
    #[inline]
    pub fn copy_of(b: &[u8]) -> Option<ShortBulk> {
        if b.len() > SHORT {
            return None;
        }
        let mut buf = [0u8; SHORT];
        buf[..b.len()].copy_from_slice(b);
        Some(ShortBulk {
            len: b.len() as u8,
            buf,
        })
    }

    /// Its length and buffer (the bytes past the length are unspecified).
    #[inline]
    pub fn into_parts(self) -> (u8, [u8; SHORT]) {
        (self.len, self.buf)
    }
}

impl std::ops::Deref for ShortBulk {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

impl std::fmt::Debug for ShortBulk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Bytes::copy_from_slice(self).fmt(f)
    }
}

/// Replies are equal when a client could not tell them apart by their variant and content: a
/// `Short` equals the `Bulk` of the same bytes.
impl PartialEq for Reply {
    fn eq(&self, other: &Reply) -> bool {
        use Reply::*;
        match (self, other) {
            (Bulk(_) | Short(_), Bulk(_) | Short(_)) => self.as_bulk() == other.as_bulk(),
            (Simple(a), Simple(b)) | (Error(a), Error(b)) | (CountedError(a), CountedError(b)) => {
                a == b
            }
            (Int(a), Int(b)) => a == b,
            (Nil, Nil) | (NilArray, NilArray) => true,
            (Array(a), Array(b)) | (Set(a), Set(b)) | (Push(a), Push(b)) => a == b,
            (Map(a), Map(b)) | (Pairs(a), Pairs(b)) | (KeyedArrays(a), KeyedArrays(b)) => a == b,
            (Double(a), Double(b)) => a == b,
            (DoubleText(a), DoubleText(b)) | (Verbatim(a), Verbatim(b)) | (Raw(a), Raw(b)) => {
                a == b
            }
            (Bool(a), Bool(b)) => a == b,
            // Written out rather than `_`, so that a new variant must be added here.
            (
                Simple(_) | Error(_) | CountedError(_) | Int(_) | Bulk(_) | Short(_) | Nil
                | NilArray | Array(_) | Map(_) | Set(_) | Pairs(_) | KeyedArrays(_) | Double(_)
                | DoubleText(_) | Bool(_) | Verbatim(_) | Push(_) | Raw(_),
                _,
            ) => false,
        }
    }
}

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

impl Reply {
    #[inline]
    pub fn ok() -> Reply {
        Reply::Simple(Cow::Borrowed("OK"))
    }
    #[inline]
    pub fn simple(s: &'static str) -> Reply {
        Reply::Simple(Cow::Borrowed(s))
    }
    #[inline]
    pub fn err(s: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(s.into())
    }
    pub fn syntax() -> Reply {
        Reply::err("ERR syntax error")
    }
    pub fn wrongtype() -> Reply {
        Reply::err(WRONGTYPE)
    }
    pub fn not_int() -> Reply {
        Reply::err("ERR value is not an integer or out of range")
    }
    pub fn not_float() -> Reply {
        Reply::err("ERR value is not a valid float")
    }
    pub fn arity(name: &str) -> Reply {
        Reply::Error(Cow::Owned(format!(
            "ERR wrong number of arguments for '{}' command",
            name.to_ascii_lowercase()
        )))
    }
    /// A bulk string holding a copy of `b`: in the reply itself when it fits (`Short`).
    #[inline]
    pub fn copy_of(b: &[u8]) -> Reply {
        match ShortBulk::copy_of(b) {
            Some(s) => Reply::Short(s),
            None => Reply::Bulk(Bytes::copy_from_slice(b)),
        }
    }
    pub fn bulk_str(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }
    /// The bytes of a bulk string reply (`Bulk` or `Short`).
    pub fn as_bulk(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            Reply::Short(b) => Some(b),
            _ => None,
        }
    }
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_) | Reply::CountedError(_))
    }
    /// Bulk string or nil for an optional value.
    pub fn opt_bulk(v: Option<Bytes>) -> Reply {
        v.map_or(Reply::Nil, Reply::Bulk)
    }

    /// Encode for a client speaking RESP2 (`resp3 == false`) or RESP3.
    pub fn encode(&self, out: &mut BytesMut, resp3: bool) {
        match self {
            Reply::Simple(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(s) | Reply::CountedError(s) => {
                out.put_u8(b'-');
                // An error must stay on one line whatever a message holds.
                for &c in s.as_bytes() {
                    out.put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
                }
                out.put_slice(b"\r\n");
            }
            Reply::Int(i) => int_line(out, b':', *i),
            Reply::Bulk(b) => bulk(out, b),
            Reply::Short(b) => bulk(out, b),
            Reply::Nil => out.put_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
            Reply::NilArray => out.put_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" }),
            Reply::Array(items) => {
                int_line(out, b'*', items.len() as i64);
                for r in items {
                    r.encode(out, resp3);
                }
            }
            Reply::Map(pairs) => {
                if resp3 {
                    int_line(out, b'%', pairs.len() as i64);
                } else {
                    int_line(out, b'*', 2 * pairs.len() as i64);
                }
                for (k, v) in pairs {
                    k.encode(out, resp3);
                    v.encode(out, resp3);
                }
            }
            Reply::Pairs(pairs) => {
                if resp3 {
                    int_line(out, b'*', pairs.len() as i64);
                } else {
                    int_line(out, b'*', 2 * pairs.len() as i64);
                }
                for (k, v) in pairs {
                    if resp3 {
                        out.put_slice(b"*2\r\n");
                    }
                    k.encode(out, resp3);
                    v.encode(out, resp3);
                }
            }
            Reply::KeyedArrays(pairs) => {
                int_line(out, if resp3 { b'%' } else { b'*' }, pairs.len() as i64);
                for (k, v) in pairs {
                    if !resp3 {
                        out.put_slice(b"*2\r\n");
                    }
                    k.encode(out, resp3);
                    v.encode(out, resp3);
                }
            }
            Reply::Set(items) => {
                int_line(out, if resp3 { b'~' } else { b'*' }, items.len() as i64);
                for r in items {
                    r.encode(out, resp3);
                }
            }
            Reply::Push(items) => {
                int_line(out, if resp3 { b'>' } else { b'*' }, items.len() as i64);
                for r in items {
                    r.encode(out, resp3);
                }
            }
            Reply::Double(d) => {
                if let Some(i) = crate::util::num::integral(*d) {
                    let mut buf = itoa::Buffer::new();
                    let s = buf.format(i);
                    if resp3 {
                        line(out, b',', s.as_bytes());
                    } else {
                        bulk(out, s.as_bytes());
                    }
                    return;
                }
                let s = crate::util::num::fmt_double(*d);
                if resp3 {
                    line(out, b',', s.as_bytes());
                } else {
                    bulk(out, s.as_bytes());
                }
            }
            Reply::DoubleText(s) => {
                if resp3 {
                    line(out, b',', s);
                } else {
                    bulk(out, s);
                }
            }
            Reply::Bool(b) => {
                if resp3 {
                    out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
                } else {
                    out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" });
                }
            }
            Reply::Verbatim(b) => {
                if resp3 {
                    int_line(out, b'=', b.len() as i64 + 4);
                    out.put_slice(b"txt:");
                    out.put_slice(b);
                    out.put_slice(b"\r\n");
                } else {
                    bulk(out, b);
                }
            }
            Reply::Raw(b) => out.put_slice(b),
        }
    }
}

/// An array of bulk strings encoded as it is built, into one buffer sized up front, and handed
/// over as `Reply::Raw`: the encoding is the same in RESP2 and RESP3. For replies of many
/// elements read from a value (LRANGE): it saves a copy, an allocation and a free per element.
pub struct BulkArray {
    buf: BytesMut,
    left: usize,
}

impl BulkArray {
    /// An array of `n` elements whose bytes add up to `payload`.
    pub fn new(n: usize, payload: usize) -> BulkArray {
        // `$<len>\r\n<data>\r\n`: 5 bytes of framing plus the length's digits per element.
        let mut buf = BytesMut::with_capacity(24 + payload + n * 8);
        int_line(&mut buf, b'*', n as i64);
        BulkArray { buf, left: n }
    }

    /// The next element; exactly `n` must be pushed.
    pub fn push(&mut self, b: &[u8]) {
        debug_assert!(self.left > 0);
        self.left = self.left.wrapping_sub(1);
        bulk(&mut self.buf, b);
    }

    pub fn finish(self) -> Reply {
        debug_assert_eq!(self.left, 0);
        Reply::Raw(self.buf.freeze())
    }
}

impl From<i64> for Reply {
    fn from(i: i64) -> Reply {
        Reply::Int(i)
    }
}

fn line(out: &mut BytesMut, prefix: u8, s: &[u8]) {
    out.reserve(s.len() + 3);
    out.put_u8(prefix);
    out.put_slice(s);
    out.put_slice(b"\r\n");
}

fn int_line(out: &mut BytesMut, prefix: u8, i: i64) {
    let mut buf = itoa::Buffer::new();
    line(out, prefix, buf.format(i).as_bytes());
}

fn bulk(out: &mut BytesMut, b: &[u8]) {
    let mut buf = itoa::Buffer::new();
    let len = buf.format(b.len());
    out.reserve(b.len() + len.len() + 5);
    out.put_u8(b'$');
    out.put_slice(len.as_bytes());
    out.put_slice(b"\r\n");
    out.put_slice(b);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, resp3: bool) -> Vec<u8> {
        let mut b = BytesMut::new();
        r.encode(&mut b, resp3);
        b.to_vec()
    }

    #[test]
    fn resp2_and_resp3_forms() {
        assert_eq!(enc(&Reply::ok(), false), b"+OK\r\n");
        assert_eq!(enc(&Reply::Int(-3), false), b":-3\r\n");
        assert_eq!(enc(&Reply::bulk_str("ab"), false), b"$2\r\nab\r\n");
        assert_eq!(enc(&Reply::Nil, false), b"$-1\r\n");
        assert_eq!(enc(&Reply::Nil, true), b"_\r\n");
        assert_eq!(enc(&Reply::NilArray, false), b"*-1\r\n");
        let m = Reply::Map(vec![(Reply::bulk_str("a"), Reply::Int(1))]);
        assert_eq!(enc(&m, false), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&m, true), b"%1\r\n$1\r\na\r\n:1\r\n");
        let p = Reply::Pairs(vec![(Reply::bulk_str("a"), Reply::Int(1))]);
        assert_eq!(enc(&p, false), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&p, true), b"*1\r\n*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Double(1.5), true), b",1.5\r\n");
        assert_eq!(enc(&Reply::Double(1.5), false), b"$3\r\n1.5\r\n");
        assert_eq!(enc(&Reply::Bool(true), true), b"#t\r\n");
        let t = Reply::DoubleText(Bytes::from_static(b"13.5"));
        assert_eq!(enc(&t, true), b",13.5\r\n");
        assert_eq!(enc(&t, false), b"$4\r\n13.5\r\n");
        let p = Reply::Pairs(vec![(Reply::bulk_str("a"), Reply::Double(1.5))]);
        assert_eq!(enc(&p, false), b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n");
        assert_eq!(enc(&p, true), b"*1\r\n*2\r\n$1\r\na\r\n,1.5\r\n");
        assert_eq!(enc(&Reply::err("ERR a\r\nb"), false), b"-ERR a  b\r\n");
    }

    #[test]
    fn a_short_bulk_is_a_bulk_to_clients_and_costs_no_room() {
        let mut buf = [0u8; SHORT];
        buf[..3].copy_from_slice(b"abc");
        let short = Reply::Short(ShortBulk::new(3, buf));
        for resp3 in [false, true] {
            assert_eq!(enc(&short, resp3), b"$3\r\nabc\r\n");
        }
        assert_eq!(short, Reply::bulk_str("abc"));
        assert_eq!(Reply::bulk_str("abc"), short);
        assert_ne!(short, Reply::bulk_str("abd"));
        assert_ne!(short, Reply::Simple("abc".into()));
        assert_eq!(short.as_bulk(), Some(&b"abc"[..]));
        let full = Reply::Short(ShortBulk::new(SHORT as u8, [b'x'; SHORT]));
        assert_eq!(full.as_bulk().map(<[u8]>::len), Some(SHORT));
        assert!(matches!(Reply::copy_of(b"abc"), Reply::Short(_)));
        assert_eq!(Reply::copy_of(b"abc"), short);
        let long = [b'y'; SHORT + 1];
        assert!(matches!(Reply::copy_of(&long), Reply::Bulk(_)));
        assert_eq!(Reply::copy_of(&long).as_bulk(), Some(&long[..]));
        assert_eq!(
            Reply::copy_of(&long[..SHORT]).as_bulk(),
            Some(&long[..SHORT])
        );
        // It rides in the space a Bulk's `Bytes` takes already.
        assert_eq!(std::mem::size_of::<Reply>(), 40);
    }

    #[test]
    fn bulk_array_encodes_as_an_array_of_bulks() {
        let items: Vec<Bytes> = ["", "a", &"x".repeat(300)]
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        let mut b = BulkArray::new(items.len(), items.iter().map(|i| i.len()).sum());
        for i in &items {
            b.push(i);
        }
        let raw = b.finish();
        let arr = Reply::Array(items.into_iter().map(Reply::Bulk).collect());
        for resp3 in [false, true] {
            assert_eq!(enc(&raw, resp3), enc(&arr, resp3));
        }
        assert_eq!(enc(&BulkArray::new(0, 0).finish(), false), b"*0\r\n");
    }
}
