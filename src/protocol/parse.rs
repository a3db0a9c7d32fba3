//! Incremental request parser: RESP multibulk and inline commands, worded and limited as in
//! Redis 7.0 (`processMultibulkBuffer`, `processInlineBuffer`, `sdssplitargs`).
//!
//! A request stays in the caller's buffer until it is complete; the parser only remembers offsets
//! into it, so resuming after a short read never rescans bytes already seen.

use bytes::{Buf, Bytes, BytesMut};
use std::fmt;

/// Longest header/inline line Redis waits for without a terminator (PROTO_INLINE_MAX_SIZE).
const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;
/// Redis 7.0 rejects multibulk counts above INT_MAX.
const MAX_MULTIBULK_LEN: i64 = i32::MAX as i64;
/// Like Redis, never preallocate argv for more than this many args on the client's word.
const ARGV_PREALLOC_MAX: usize = 1024;
/// Argument-offset capacity kept between requests; more is released after a huge request.
const ARGS_KEEP_CAPACITY: usize = 4096;

/// Limits taken from the config (`proto-max-bulk-len`, default 512 MiB).
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    pub proto_max_bulk_len: usize,
    /// The client has not authenticated: Redis allows it at most 10 arguments and 16 KiB
    /// bulks, so that an unauthenticated peer cannot make the server buffer much.
    pub unauthenticated: bool,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            proto_max_bulk_len: 512 * 1024 * 1024,
            unauthenticated: false,
        }
    }
}

/// A protocol error: the text to send to the client after '-', e.g.
/// "ERR Protocol error: invalid multibulk length". The server sends it and closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

fn proto_err(what: &str) -> ProtocolError {
    ProtocolError(format!("ERR Protocol error: {what}"))
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// No request started.
    #[default]
    Idle,
    /// Waiting for the `\n` of an inline line.
    Inline,
    /// Waiting for the `*<count>\r\n` line.
    Count,
    /// Waiting for a `$<len>\r\n` line.
    BulkHeader,
    /// Waiting for `len` payload bytes plus the two terminator bytes.
    BulkData(usize),
}

/// Result of one parsing step.
enum Step {
    NeedMore,
    /// An empty request was consumed.
    Skipped,
    Command(Vec<Bytes>),
}

/// Incremental request parser, one per connection. It keeps state between calls so that a big request
/// arriving in many small reads is not rescanned from the start each time (no quadratic behaviour for a
/// multibulk of 1M args sent a few bytes at a time).
#[derive(Default)]
pub struct RequestParser {
    limits: ParseLimits,
    phase: Phase,
    /// End of the parsed part of the current request; the request starts at `buf[0]`.
    pos: usize,
    /// Where the search for the current line's terminator resumes (`pos <= scan <= buf.len()`).
    scan: usize,
    /// A NUL precedes the terminator. Redis looks for line ends with strchr(), which stops at NUL,
    /// so such a line never completes: the request can only grow until the size limit.
    blocked: bool,
    /// Bulks still expected in the current multibulk.
    remaining: usize,
    /// (offset, len) of each completed bulk of the current multibulk.
    args: Vec<(usize, usize)>,
    /// An emptied argument vector handed back by the caller (`recycle`), so that a request does
    /// not allocate one.
    spare: Vec<Bytes>,
    /// The last command name handed out, as a static `Bytes` (see intern.rs): a client sending
    /// the same command again gets it without a table lookup.
    name: Option<Bytes>,
}

/// Argument vectors larger than this are not kept for reuse. 32 (1 KiB, only for a connection
/// that sent a command this wide) keeps MSET/MGET/HSET of up to 15 pairs: at 16, literal MSET's
/// 21 arguments missed it and allocated and grew a vector per command.
const SPARE_KEEP_CAPACITY: usize = 32;

impl RequestParser {
    pub fn new(limits: ParseLimits) -> Self {
        RequestParser {
            limits,
            ..Default::default()
        }
    }

    /// New config limits; whether the client is authenticated stays as it was.
    pub fn set_limits(&mut self, limits: ParseLimits) {
        let unauthenticated = self.limits.unauthenticated;
        self.limits = limits;
        self.limits.unauthenticated = unauthenticated;
    }

    pub fn set_unauthenticated(&mut self, on: bool) {
        self.limits.unauthenticated = on;
    }

    /// Hand back the arguments of a command that has run, for the next request to reuse.
    #[inline]
    pub fn recycle(&mut self, mut args: Vec<Bytes>) {
        if args.capacity() <= SPARE_KEEP_CAPACITY {
            args.clear();
            self.spare = args;
        }
    }

    /// Parse the next complete command from the front of `buf`.
    /// Ok(Some(args)): one command; its bytes have been removed from `buf` and args are zero-copy `Bytes`
    ///   slices of the split-off chunk, args[0] is the command name (inline arguments rewritten by quotes
    ///   or escapes are fresh `Bytes`).
    /// Ok(None): need more data (buf untouched or only fully-consumed prefixes removed; state kept).
    ///   Between calls the caller may only append to `buf`.
    /// Err(e): protocol error, as Redis words it; the parser is reset and the connection should close.
    /// Empty requests (`*0\r\n`, `*-1\r\n`, blank inline lines) are consumed and skipped.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.pos > buf.len() || self.scan > buf.len() {
            // The caller took bytes away: the saved offsets mean nothing now.
            self.reset();
        }
        loop {
            let step = match self.phase {
                Phase::Idle => {
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    if first != b'*' {
                        self.phase = Phase::Inline;
                        continue;
                    }
                    if let Some(end) = self.parse_whole(buf) {
                        return Ok(Some(self.take(buf, end)));
                    }
                    self.phase = Phase::Count;
                    continue;
                }
                Phase::Inline => self.parse_inline(buf),
                _ => self.parse_multibulk(buf),
            };
            match step {
                Ok(Step::NeedMore) => return Ok(None),
                Ok(Step::Skipped) => continue,
                Ok(Step::Command(args)) => return Ok(Some(args)),
                Err(e) => {
                    self.reset();
                    return Err(e);
                }
            }
        }
    }

    /// True when a request has been started but is incomplete (bytes pending). Used for the query buffer limit.
    pub fn in_progress(&self) -> bool {
        self.phase != Phase::Idle
    }

    fn reset(&mut self) {
        self.phase = Phase::Idle;
        self.pos = 0;
        self.scan = 0;
        self.blocked = false;
        self.remaining = 0;
        self.args.clear();
        if self.args.capacity() > ARGS_KEEP_CAPACITY {
            self.args.shrink_to(ARGS_KEEP_CAPACITY);
        }
    }

    /// Drops a finished empty request from the front of `buf`.
    fn skip(&mut self, buf: &mut BytesMut, len: usize) -> Step {
        buf.advance(len.min(buf.len()));
        self.reset();
        Step::Skipped
    }

    /// Finds the terminator of the line starting at `self.pos` the way Redis's strchr() does,
    /// resuming where the previous search stopped.
    fn find_terminator(&mut self, buf: &[u8], term: u8) -> Option<usize> {
        if self.blocked {
            return None;
        }
        let hay = buf.get(self.scan..).unwrap_or_default();
        match memchr::memchr2(term, 0, hay) {
            Some(i) => {
                self.scan += i;
                if hay[i] == 0 {
                    self.blocked = true;
                    None
                } else {
                    Some(self.scan)
                }
            }
            None => {
                self.scan = buf.len();
                None
            }
        }
    }

    /// Whether more than PROTO_INLINE_MAX_SIZE bytes are buffered from the current line on.
    fn line_too_big(&self, buf: &[u8]) -> bool {
        buf.len().saturating_sub(self.pos) > PROTO_INLINE_MAX_SIZE
    }

    fn parse_inline(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        let Some(nl) = self.find_terminator(buf, b'\n') else {
            if self.line_too_big(buf) {
                return Err(proto_err("too big inline request"));
            }
            return Ok(Step::NeedMore);
        };
        let mut end = nl;
        if end > 0 && buf.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        let line = buf.get(..end).unwrap_or_default();
        let tokens = split_args(line).ok_or_else(|| proto_err("unbalanced quotes in request"))?;
        let consumed = nl + 1;
        if tokens.is_empty() {
            return Ok(self.skip(buf, consumed));
        }
        let chunk = buf.split_to(consumed).freeze();
        let args = tokens
            .into_iter()
            .map(|t| match t {
                Token::Span(s, e) => chunk.slice(s..e),
                Token::Owned(v) => Bytes::from(v),
            })
            .collect();
        self.reset();
        Ok(Step::Command(args))
    }

    fn parse_multibulk(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        if self.phase == Phase::Count {
            let Some(cr) = self.find_terminator(buf, b'\r') else {
                if self.line_too_big(buf) {
                    return Err(proto_err("too big mbulk count string"));
                }
                return Ok(Step::NeedMore);
            };
            // Redis waits for the byte after '\r' but never checks that it is '\n'.
            if cr + 2 > buf.len() {
                return Ok(Step::NeedMore);
            }
            let count = buf
                .get(1..cr)
                .and_then(string2ll)
                .filter(|&n| n <= MAX_MULTIBULK_LEN)
                .ok_or_else(|| proto_err("invalid multibulk length"))?;
            if count > 10 && self.limits.unauthenticated {
                return Err(proto_err("unauthenticated multibulk length"));
            }
            self.pos = cr + 2;
            if count <= 0 {
                return Ok(self.skip(buf, cr + 2));
            }
            self.scan = self.pos;
            self.remaining =
                usize::try_from(count).map_err(|_| proto_err("invalid multibulk length"))?;
            self.args.clear();
            self.args.reserve(self.remaining.min(ARGV_PREALLOC_MAX));
            self.phase = Phase::BulkHeader;
        }

        while self.remaining > 0 {
            let len = match self.phase {
                Phase::BulkData(len) => len,
                _ => {
                    let Some(cr) = self.find_terminator(buf, b'\r') else {
                        if self.line_too_big(buf) {
                            return Err(proto_err("too big bulk count string"));
                        }
                        return Ok(Step::NeedMore);
                    };
                    if cr + 2 > buf.len() {
                        return Ok(Step::NeedMore);
                    }
                    let first = buf.get(self.pos).copied().unwrap_or(0);
                    if first != b'$' {
                        // Redis maps CR/LF in error texts to spaces.
                        let shown = match first {
                            b'\r' | b'\n' => ' ',
                            b => char::from(b),
                        };
                        return Err(proto_err(&format!("expected '$', got '{shown}'")));
                    }
                    let len = buf
                        .get(self.pos + 1..cr)
                        .and_then(string2ll)
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|&n| n <= self.limits.proto_max_bulk_len)
                        .ok_or_else(|| proto_err("invalid bulk length"))?;
                    if len > 16384 && self.limits.unauthenticated {
                        return Err(proto_err("unauthenticated bulk length"));
                    }
                    self.pos = cr + 2;
                    self.scan = self.pos;
                    self.phase = Phase::BulkData(len);
                    len
                }
            };
            // Payload plus the two terminator bytes, which Redis skips unchecked.
            if buf.len().saturating_sub(self.pos) < len.saturating_add(2) {
                return Ok(Step::NeedMore);
            }
            self.args.push((self.pos, len));
            self.pos += len + 2;
            self.scan = self.pos;
            self.remaining -= 1;
            self.phase = Phase::BulkHeader;
        }

        Ok(Step::Command(self.take(buf, self.pos)))
    }

    /// A whole, well-formed multibulk request at the front of `buf`, the usual case (a
    /// pipeline's requests arrive whole): its arguments' offsets go to `self.args` in one pass
    /// that reads the headers' digits directly instead of searching each line's end. Returns
    /// where the request ends, or None for anything else (incomplete, empty, malformed, over a
    /// limit, a header Redis would still read but this pass does not), which the general path
    /// then parses from the start, with Redis's errors.
    fn parse_whole(&mut self, buf: &[u8]) -> Option<usize> {
        let (count, mut at) = header_number(buf, 1)?;
        let unauthenticated = self.limits.unauthenticated;
        if count == 0 || count > ARGV_PREALLOC_MAX || (count > 10 && unauthenticated) {
            return None;
        }
        self.args.clear();
        for _ in 0..count {
            if buf.get(at) != Some(&b'$') {
                return None;
            }
            let (len, data) = header_number(buf, at + 1)?;
            if len > self.limits.proto_max_bulk_len || (len > 16384 && unauthenticated) {
                return None;
            }
            // Payload plus the two terminator bytes, which Redis skips unchecked.
            at = data.checked_add(len)?.checked_add(2)?;
            if at > buf.len() {
                return None;
            }
            self.args.push((data, len));
        }
        Some(at)
    }

    /// Hands out the request `buf[..end]`, whose arguments are in `self.args`, and gets ready
    /// for the next one.
    fn take(&mut self, buf: &mut BytesMut, end: usize) -> Vec<Bytes> {
        let chunk = buf.split_to(end).freeze();
        let mut args = std::mem::take(&mut self.spare);
        args.reserve(self.args.len());
        if let Some((&(start, len), first)) = self.args.split_last() {
            if let Some((&(s, l), rest)) = first.split_first() {
                args.push(name_arg(&mut self.name, &chunk, s, l));
                // Each argument goes into the vector one clone later: the clone is returned
                // through the stack, and copying it on at once stalled on store forwarding
                // (perf, literal MSET: 7-12% of the samples on that load); the next clone's
                // atomic increment drains the store buffer first.
                let mut cut: Option<Bytes> = None;
                for &(s, l) in rest {
                    let mut b = chunk.clone();
                    if let Some(prev) = cut.take() {
                        args.push(prev);
                    }
                    b.truncate(s + l);
                    b.advance(s);
                    cut = Some(b);
                }
                args.extend(cut);
            }
            // The last argument takes the chunk itself: one reference count fewer to bump.
            let mut last = chunk;
            last.truncate(start + len);
            last.advance(start);
            args.push(last);
        }
        self.reset();
        args
    }
}

/// The number of a `*<n>\r\n` or `$<n>\r\n` header whose digits start at `buf[at]`, and where
/// the line after it starts; None unless it is plain digits (no sign, no leading zero, as
/// Redis's string2ll wants) ending in CR LF.
#[inline]
fn header_number(buf: &[u8], at: usize) -> Option<(usize, usize)> {
    let digits = buf.get(at..)?;
    let mut n: usize = 0;
    // At most 18 digits: no overflow (longer numbers take the general path).
    for (i, &b) in digits.iter().enumerate().take(19) {
        match b {
            b'0'..=b'9' if !(i == 1 && n == 0) => n = n * 10 + usize::from(b - b'0'),
            b'\r' if i > 0 => {
                return (digits.get(i + 1) == Some(&b'\n')).then_some((n, at + i + 2));
            }
            _ => return None,
        }
    }
    None
}

/// The command name at `chunk[s..s + l]`: static when it can be (no reference count to bump
/// and drop; `last` remembers the connection's last one), else a slice of the chunk.
fn name_arg(last: &mut Option<Bytes>, chunk: &Bytes, s: usize, l: usize) -> Bytes {
    let name = &chunk[s..s + l];
    if let Some(b) = last {
        if crate::util::bytes::eq(b, name) {
            return b.clone();
        }
    }
    match super::intern::name(name) {
        Some(b) => {
            *last = Some(b.clone());
            b
        }
        None => chunk.slice(s..s + l),
    }
}

/// Redis's string2ll(): one implementation for the whole server.
use crate::util::num::parse_i64 as string2ll;

/// One inline argument: a verbatim range of the line, or bytes rewritten by quotes/escapes.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    Span(usize, usize),
    Owned(Vec<u8>),
}

impl Token {
    /// Appends `line[i]`, staying a span while the bytes are contiguous.
    fn push_at(&mut self, line: &[u8], i: usize) {
        match self {
            Token::Span(s, e) if *s == *e => *self = Token::Span(i, i + 1),
            Token::Span(_, e) if *e == i => *e += 1,
            _ => self.push_byte(line, line.get(i).copied().unwrap_or(0)),
        }
    }

    /// Appends a byte that is not a verbatim copy of the input.
    fn push_byte(&mut self, line: &[u8], b: u8) {
        match self {
            Token::Span(s, e) => {
                let mut v = line.get(*s..*e).unwrap_or_default().to_vec();
                v.push(b);
                *self = Token::Owned(v);
            }
            Token::Owned(v) => v.push(b),
        }
    }
}

/// C isspace() in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Port of sdssplitargs(); None on unbalanced quotes. `line` holds no NUL (the terminator search
/// stops at one), and reads past its end yield 0 like the C string's terminator.
fn split_args(line: &[u8]) -> Option<Vec<Token>> {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut tokens = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(tokens);
        }
        let mut tok = Token::Span(p, p);
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            let c = at(p);
            let mut done = false;
            if in_dq {
                let hex = if c == b'\\' && at(p + 1) == b'x' {
                    hex_val(at(p + 2)).zip(hex_val(at(p + 3)))
                } else {
                    None
                };
                if let Some((hi, lo)) = hex {
                    tok.push_byte(line, hi * 16 + lo);
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    let b = match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    };
                    tok.push_byte(line, b);
                } else if c == b'"' {
                    // A closing quote must be followed by a space or the end.
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    tok.push_at(line, p);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    tok.push_byte(line, b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    tok.push_at(line, p);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => tok.push_at(line, p),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
            if done {
                break;
            }
        }
        tokens.push(tok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Outcome = (Vec<Vec<Vec<u8>>>, Option<ProtocolError>, Vec<u8>, bool);

    fn encode(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn to_vecs(args: Vec<Bytes>) -> Vec<Vec<u8>> {
        args.into_iter().map(|a| a.to_vec()).collect()
    }

    /// Parses until the parser needs more or fails.
    fn drain(
        p: &mut RequestParser,
        buf: &mut BytesMut,
        out: &mut Vec<Vec<Vec<u8>>>,
    ) -> Option<ProtocolError> {
        loop {
            match p.parse(buf) {
                Ok(Some(args)) => out.push(to_vecs(args)),
                Ok(None) => {
                    assert!(p.pos <= buf.len() && p.scan <= buf.len());
                    assert!(p.in_progress() || buf.is_empty());
                    return None;
                }
                Err(e) => {
                    assert!(!p.in_progress());
                    return Some(e);
                }
            }
        }
    }

    /// Feeds `input` in pieces of the given sizes (cycled), parsing after each piece.
    fn feed(input: &[u8], sizes: &[usize], limits: ParseLimits) -> Outcome {
        let mut p = RequestParser::new(limits);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut off = 0;
        let mut i = 0;
        while off < input.len() {
            let n = sizes[i % sizes.len()].clamp(1, input.len() - off);
            i += 1;
            buf.extend_from_slice(&input[off..off + n]);
            off += n;
            if let Some(e) = drain(&mut p, &mut buf, &mut out) {
                return (out, Some(e), buf.to_vec(), p.in_progress());
            }
        }
        let e = drain(&mut p, &mut buf, &mut out);
        (out, e, buf.to_vec(), p.in_progress())
    }

    fn whole(input: &[u8]) -> Outcome {
        feed(input, &[usize::MAX], ParseLimits::default())
    }

    fn cmds(input: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let (out, err, rest, pending) = whole(input);
        assert_eq!(err, None);
        assert!(rest.is_empty() && !pending, "leftover {rest:?}");
        out
    }

    fn cmd(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    fn err_of(input: &[u8]) -> String {
        err_with(input, ParseLimits::default())
    }

    fn err_with(input: &[u8], limits: ParseLimits) -> String {
        let mut p = RequestParser::new(limits);
        let mut buf = BytesMut::from(input);
        loop {
            match p.parse(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error for {:?}", String::from_utf8_lossy(input)),
                Err(e) => return e.0,
            }
        }
    }

    /// Asserts the input is a valid but incomplete request.
    fn pending(input: &[u8]) {
        let (out, err, rest, in_progress) = whole(input);
        assert!(out.is_empty() && err.is_none() && in_progress);
        assert_eq!(rest, input);
    }

    #[test]
    fn simple_multibulk() {
        let mut p = RequestParser::default();
        let mut buf = BytesMut::from(&b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$0\r\n\r\n"[..]);
        let args = p.parse(&mut buf).unwrap().unwrap();
        assert_eq!(to_vecs(args), cmd(&["SET", "a", ""]));
        assert!(buf.is_empty());
        assert!(!p.in_progress());
        assert_eq!(p.parse(&mut buf), Ok(None));
    }

    #[test]
    fn args_are_zero_copy() {
        let mut buf = BytesMut::with_capacity(256);
        buf.extend_from_slice(&encode(&[b"SET", b"key", b"value"]));
        buf.extend_from_slice(b"GET key\r\n");
        let base = buf.as_ptr() as usize;
        let in_buf = |b: &Bytes| (base..base + 256).contains(&(b.as_ptr() as usize));
        let mut p = RequestParser::default();
        // The command name is the one static copy of its spelling (intern.rs), the other
        // arguments slices of the buffer.
        let args = p.parse(&mut buf).unwrap().unwrap();
        assert!(!in_buf(&args[0]) && args[1..].iter().all(in_buf));
        let set = args[0].clone();
        let again = encode(&[b"SET", b"k", b"v"]);
        buf.extend_from_slice(&again);
        let args = p.parse(&mut buf).unwrap().unwrap();
        assert_eq!(to_vecs(args.clone()), cmd(&["GET", "key"]));
        assert!(args.iter().all(in_buf), "an inline request is sliced");
        let args = p.parse(&mut buf).unwrap().unwrap();
        assert_eq!(args[0].as_ptr(), set.as_ptr());
    }

    #[test]
    fn pipeline_leaves_rest_in_buffer() {
        let mut input = encode(&[b"PING"]);
        input.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\n");
        let mut p = RequestParser::default();
        let mut buf = BytesMut::from(&input[..]);
        assert_eq!(to_vecs(p.parse(&mut buf).unwrap().unwrap()), cmd(&["PING"]));
        assert!(!p.in_progress());
        assert_eq!(p.parse(&mut buf), Ok(None));
        assert!(p.in_progress());
        assert_eq!(&buf[..], b"*2\r\n$3\r\nGET\r\n$1\r\n");
        buf.extend_from_slice(b"k\r\n");
        assert_eq!(
            to_vecs(p.parse(&mut buf).unwrap().unwrap()),
            cmd(&["GET", "k"])
        );
        assert!(buf.is_empty() && !p.in_progress());
    }

    #[test]
    fn long_pipeline() {
        let mut input = Vec::new();
        let mut expect = Vec::new();
        for i in 0..2000 {
            let key = format!("key:{i}");
            if i % 3 == 0 {
                input.extend_from_slice(format!("INCR {key}\r\n").as_bytes());
                expect.push(cmd(&["INCR", &key]));
            } else {
                input.extend_from_slice(&encode(&[b"SET", key.as_bytes(), b"v"]));
                expect.push(cmd(&["SET", &key, "v"]));
            }
            if i % 7 == 0 {
                input.extend_from_slice(b"*0\r\n\r\n");
            }
        }
        assert_eq!(cmds(&input), expect);
        assert_eq!(
            feed(&input, &[1, 3, 17, 64], ParseLimits::default()).0,
            expect
        );
    }

    #[test]
    fn empty_requests_are_skipped() {
        let input = b"*0\r\n*-1\r\n*-10\r\n*-9223372036854775808\r\n\r\n\n   \r\n \t \n*1\r\n$4\r\nPING\r\n";
        assert_eq!(cmds(input), vec![cmd(&["PING"])]);
        assert_eq!(cmds(b"*0\r\n\r\n  \n"), Vec::<Vec<Vec<u8>>>::new());
        // A consumed empty request leaves the start of the next one in place.
        let (out, err, rest, in_progress) = whole(b"*0\r\n*1\r\n$4\r\nPI");
        assert!(out.is_empty() && err.is_none() && in_progress);
        assert_eq!(rest, b"*1\r\n$4\r\nPI");
    }

    #[test]
    fn multibulk_count_errors() {
        for bad in [
            &b"*abc\r\n"[..],
            b"*+1\r\n",
            b"* 1\r\n",
            b"*1 \r\n",
            b"*01\r\n",
            b"*-0\r\n",
            b"*-\r\n",
            b"*\r\n",
            b"*2147483648\r\n",
            b"*3000000000\r\n",
            b"*9223372036854775808\r\n",
            b"*123456789012345678901\r\n",
        ] {
            assert_eq!(
                err_of(bad),
                "ERR Protocol error: invalid multibulk length",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        pending(b"*2147483647\r\n");
        pending(b"*1\r");
        pending(b"*12");
    }

    #[test]
    fn too_big_mbulk_count_string() {
        let mut input = b"*1".to_vec();
        input.resize(PROTO_INLINE_MAX_SIZE, b'1');
        pending(&input);
        input.push(b'1');
        assert_eq!(
            err_of(&input),
            "ERR Protocol error: too big mbulk count string"
        );
        // With the terminator present, the same line is just an invalid number.
        input.extend_from_slice(b"\r\n");
        assert_eq!(
            err_of(&input),
            "ERR Protocol error: invalid multibulk length"
        );
    }

    #[test]
    fn expected_dollar_errors() {
        let cases: [(&[u8], &str); 5] = [
            (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", "f"),
            (b"*1\r\n:1\r\n", ":"),
            (b"*1\r\n\r\n", " "),
            (b"*1\r\n\nx\r\n", " "),
            (b"*1\r\n\xe9\r\n", "\u{e9}"),
        ];
        for (input, got) in cases {
            assert_eq!(
                err_of(input),
                format!("ERR Protocol error: expected '$', got '{got}'")
            );
        }
        // Redis only looks at the first byte once the whole line is there.
        pending(b"*1\r\nfoo");
        pending(b"*1\r\nfoo\r");
    }

    #[test]
    fn too_big_bulk_count_string() {
        let mut input = b"*2\r\n$1\r\na\r\n$".to_vec();
        let header_start = input.len() - 1;
        input.resize(header_start + PROTO_INLINE_MAX_SIZE, b'9');
        pending(&input);
        input.push(b'9');
        assert_eq!(
            err_of(&input),
            "ERR Protocol error: too big bulk count string"
        );
        // Checked before the '$': a long garbage line without CR hits the size error.
        let mut input = b"*1\r\n".to_vec();
        input.resize(4 + PROTO_INLINE_MAX_SIZE + 1, b'x');
        assert_eq!(
            err_of(&input),
            "ERR Protocol error: too big bulk count string"
        );
    }

    #[test]
    fn bulk_length_errors() {
        for bad in [
            &b"*1\r\n$abc\r\n"[..],
            b"*1\r\n$-1\r\n",
            b"*1\r\n$-5\r\n",
            b"*1\r\n$+1\r\n",
            b"*1\r\n$01\r\n",
            b"*1\r\n$ 1\r\n",
            b"*1\r\n$\r\n",
            b"*1\r\n$1x\r\n",
            b"*1\r\n$536870913\r\n",
            b"*1\r\n$99999999999999999999\r\n",
        ] {
            assert_eq!(
                err_of(bad),
                "ERR Protocol error: invalid bulk length",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        pending(b"*1\r\n$536870912\r\n");
    }

    #[test]
    fn bulk_limit_is_configurable() {
        let limits = ParseLimits {
            proto_max_bulk_len: 10,
            ..Default::default()
        };
        let mut p = RequestParser::new(limits);
        let mut buf = BytesMut::from(&encode(&[b"0123456789"])[..]);
        assert_eq!(
            to_vecs(p.parse(&mut buf).unwrap().unwrap()),
            cmd(&["0123456789"])
        );
        assert_eq!(
            err_with(&encode(&[b"0123456789a"]), limits),
            "ERR Protocol error: invalid bulk length"
        );
        p.set_limits(ParseLimits {
            proto_max_bulk_len: 3,
            ..Default::default()
        });
        let mut buf = BytesMut::from(&encode(&[b"abcd"])[..]);
        assert_eq!(
            p.parse(&mut buf).unwrap_err().0,
            "ERR Protocol error: invalid bulk length"
        );
    }

    #[test]
    fn terminators_are_skipped_unchecked() {
        // Redis waits for two bytes after the payload and after each '\r' but never checks them.
        assert_eq!(cmds(b"*1\r\n$4\r\nPINGxy"), vec![cmd(&["PING"])]);
        assert_eq!(cmds(b"*1\rX$4\rYPING\r\n"), vec![cmd(&["PING"])]);
        pending(b"*1\r\n$4\r\nPINGx");
        pending(b"*1\r\n$4\r\nPING");
    }

    #[test]
    fn nul_before_terminator_blocks_like_strchr() {
        // strchr() stops at the NUL, so Redis never sees these lines end.
        let (out, err, _, in_progress) = whole(b"*1\0\r\n$4\r\nPING\r\n");
        assert!(out.is_empty() && err.is_none() && in_progress);
        let (out, err, _, in_progress) = whole(b"*1\r\n$\x004\r\nPING\r\n");
        assert!(out.is_empty() && err.is_none() && in_progress);
        let (out, err, _, in_progress) = whole(b"GET a\0b\r\nPING\r\n");
        assert!(out.is_empty() && err.is_none() && in_progress);
        // ...until the buffered line passes the size limit.
        let mut input = b"*1\0\r\n".to_vec();
        input.resize(PROTO_INLINE_MAX_SIZE + 1, b'\r');
        assert_eq!(
            err_of(&input),
            "ERR Protocol error: too big mbulk count string"
        );
        let mut input = b"GET \0\n".to_vec();
        input.resize(PROTO_INLINE_MAX_SIZE + 1, b'\n');
        assert_eq!(err_of(&input), "ERR Protocol error: too big inline request");
        // NULs inside payloads are data.
        assert_eq!(cmds(&encode(&[b"a\0b"])), vec![vec![b"a\0b".to_vec()]]);
    }

    #[test]
    fn binary_payloads() {
        let all: Vec<u8> = (0..=255u8).collect();
        let tricky = b"\r\n\r\n$3\r\n*1\r\n\0\0".to_vec();
        let input = encode(&[b"SET", &tricky, &all, b""]);
        let expect = vec![vec![b"SET".to_vec(), tricky, all, Vec::new()]];
        assert_eq!(cmds(&input), expect);
        assert_eq!(feed(&input, &[1], ParseLimits::default()).0, expect);
    }

    #[test]
    fn inline_basic() {
        assert_eq!(cmds(b"PING\r\n"), vec![cmd(&["PING"])]);
        assert_eq!(cmds(b"PING\n"), vec![cmd(&["PING"])]);
        assert_eq!(cmds(b"  set  a\t\tb  \r\n"), vec![cmd(&["set", "a", "b"])]);
        // CR inside the line separates; only one CR before LF is stripped.
        assert_eq!(cmds(b"a\rb\n"), vec![cmd(&["a", "b"])]);
        assert_eq!(cmds(b"a\r\r\n"), vec![cmd(&["a"])]);
        // Leading \v is blank, but inside a word it is data.
        assert_eq!(cmds(b"\x0bfoo\n"), vec![cmd(&["foo"])]);
        assert_eq!(cmds(b"a\x0bb\x0c\n"), vec![vec![b"a\x0bb\x0c".to_vec()]]);
        assert_eq!(
            cmds(b"\xff\xfe x\n"),
            vec![vec![b"\xff\xfe".to_vec(), b"x".to_vec()]]
        );
        pending(b"PING");
        pending(b"PING\r");
    }

    #[test]
    fn inline_quotes_and_escapes() {
        let q = |line: &[u8]| {
            let mut input = line.to_vec();
            input.extend_from_slice(b"\r\n");
            cmds(&input).pop().unwrap_or_default()
        };
        let v = |items: &[&[u8]]| items.iter().map(|i| i.to_vec()).collect::<Vec<_>>();
        assert_eq!(
            q(br#"SET k "hello world""#),
            v(&[b"SET", b"k", b"hello world"])
        );
        assert_eq!(
            q(br#""\n\r\t\b\a\\\"\q" x"#),
            v(&[b"\n\r\t\x08\x07\\\"q", b"x"])
        );
        assert_eq!(q(br#""\x41\x4a\x4B\xff\x00""#), v(&[b"AJK\xff\x00"]));
        // Incomplete hex escapes fall back to a plain escaped 'x'.
        assert_eq!(q(br#""\x4" "\xg1""#), v(&[b"x4", b"xg1"]));
        assert_eq!(
            q(br"'it\'s' 'a\nb' 'c\\d'"),
            v(&[b"it's", br"a\nb", br"c\\d"])
        );
        assert_eq!(q(br#"SET k "" ''"#), v(&[b"SET", b"k", b"", b""]));
        assert_eq!(q(br#"ab"cd" x'y z'"#), v(&[b"abcd", b"xy z"]));
        assert_eq!(q(b"\"a\"\t'b'\x0b\"c\""), v(&[b"a", b"b", b"c"]));
        assert_eq!(q(br"a\nb"), v(&[br"a\nb"]));
        assert_eq!(q(b"\"a\rb\""), v(&[b"a\rb"]));
    }

    #[test]
    fn inline_unbalanced_quotes() {
        for bad in [
            &br#"GET "abc"#[..],
            br"GET 'abc",
            br#"GET "abc"def"#,
            br"GET 'a'b",
            br#"GET "a\""#,
            br#"""""#,
            br#"GET "\"#,
            br"GET '\'",
            br"GET '\\'",
        ] {
            let mut input = bad.to_vec();
            input.extend_from_slice(b"\r\n");
            assert_eq!(
                err_of(&input),
                "ERR Protocol error: unbalanced quotes in request",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn inline_tokens_stay_spans_when_verbatim() {
        assert_eq!(
            split_args(br#"a "bc" 'd' "e\nf" g"h""#),
            Some(vec![
                Token::Span(0, 1),
                Token::Span(3, 5),
                Token::Span(8, 9),
                Token::Owned(b"e\nf".to_vec()),
                Token::Owned(b"gh".to_vec()),
            ])
        );
        assert_eq!(split_args(b""), Some(vec![]));
        assert_eq!(split_args(b" \t "), Some(vec![]));
    }

    #[test]
    fn too_big_inline_request() {
        let mut input = vec![b'a'; PROTO_INLINE_MAX_SIZE];
        pending(&input);
        input.push(b'a');
        assert_eq!(err_of(&input), "ERR Protocol error: too big inline request");
        // A long line that arrives complete is accepted, as in Redis.
        input.resize(100_000, b'a');
        input.extend_from_slice(b" b\r\n");
        let out = cmds(&input);
        assert_eq!(out[0].len(), 2);
        assert_eq!(out[0][0].len(), 100_000);
    }

    #[test]
    fn error_resets_parser() {
        let mut p = RequestParser::default();
        let mut buf = BytesMut::from(&b"*1\r\n$x\r\n"[..]);
        assert!(p.parse(&mut buf).is_err());
        assert!(!p.in_progress());
        let mut buf = BytesMut::from(&b"PING\r\n"[..]);
        assert_eq!(to_vecs(p.parse(&mut buf).unwrap().unwrap()), cmd(&["PING"]));
    }

    #[test]
    fn shrunk_buffer_restarts_parse() {
        let mut p = RequestParser::default();
        let mut buf = BytesMut::from(&b"*1\r\n$4\r\nPI"[..]);
        assert_eq!(p.parse(&mut buf), Ok(None));
        buf.clear();
        assert_eq!(p.parse(&mut buf), Ok(None));
        assert!(!p.in_progress());
    }

    #[test]
    fn every_split_point_gives_same_result() {
        let mut input = encode(&[b"SET", b"k\r\n", b"\0v"]);
        input.extend_from_slice(b"*0\r\n  \r\nset a \"b c\\x41\" 'd'\r\n\n");
        input.extend_from_slice(&encode(&[b"GET", b""]));
        input.extend_from_slice(b"*1\rZ$4\r\nPINGab");
        let expect = whole(&input);
        assert_eq!(expect.0.len(), 4);
        assert!(expect.1.is_none() && expect.2.is_empty());
        for i in 0..=input.len() {
            let mut p = RequestParser::default();
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            buf.extend_from_slice(&input[..i]);
            assert!(drain(&mut p, &mut buf, &mut out).is_none());
            buf.extend_from_slice(&input[i..]);
            assert!(drain(&mut p, &mut buf, &mut out).is_none());
            assert_eq!(out, expect.0, "split at {i}");
        }
        assert_eq!(feed(&input, &[1], ParseLimits::default()), expect);
        // Errors too are found whatever the split.
        let bad = b"*2\r\n$3\r\nGET\r\n$-2\r\n";
        for i in 0..=bad.len() {
            let (_, err, _, _) = feed(bad, &[i.max(1), bad.len()], ParseLimits::default());
            assert_eq!(err, Some(proto_err("invalid bulk length")));
        }
    }

    #[test]
    fn many_args_trickled_in_is_linear() {
        let n = 200_000;
        let args: Vec<Vec<u8>> = (0..n).map(|i| format!("{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        let input = encode(&refs);
        let start = std::time::Instant::now();
        let (out, err, rest, _) = feed(&input, &[3, 5, 2], ParseLimits::default());
        assert!(err.is_none() && rest.is_empty());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0], args);
        // Rescanning from the start on each read would take hours here.
        assert!(start.elapsed().as_secs() < 30);
    }

    #[test]
    fn big_bulk_in_pieces() {
        let big = vec![b'z'; 8 << 20];
        let input = encode(&[b"SET", b"k", &big]);
        let (out, err, rest, _) = feed(&input, &[4093], ParseLimits::default());
        assert!(err.is_none() && rest.is_empty());
        assert_eq!(out[0][2].len(), big.len());
        assert!(out[0][2] == big);
    }

    #[test]
    fn string2ll_matches_redis() {
        let ok: [(&[u8], i64); 6] = [
            (b"0", 0),
            (b"7", 7),
            (b"-7", -7),
            (b"1234567890", 1234567890),
            (b"9223372036854775807", i64::MAX),
            (b"-9223372036854775808", i64::MIN),
        ];
        for (s, v) in ok {
            assert_eq!(string2ll(s), Some(v));
        }
        for s in [
            &b""[..],
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"000000000000000000001",
        ] {
            assert_eq!(string2ll(s), None, "{:?}", String::from_utf8_lossy(s));
        }
    }

    /// Byte soup leaning towards protocol syntax, so that deep states are reached.
    fn soup() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"*".to_vec()),
            Just(b"$".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\0".to_vec()),
            Just(b" ".to_vec()),
            Just(b"\"".to_vec()),
            Just(b"'".to_vec()),
            Just(b"\\".to_vec()),
            Just(b"\\x4".to_vec()),
            Just(b"-".to_vec()),
            (0u32..20).prop_map(|n| n.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 1..8),
        ];
        proptest::collection::vec(piece, 0..120).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn prop_multibulk_roundtrip(
            args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8),
            times in 1usize..6,
            sizes in proptest::collection::vec(1usize..64, 1..20),
        ) {
            let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            let input = encode(&refs).repeat(times);
            let (out, err, rest, pending) = feed(&input, &sizes, ParseLimits::default());
            prop_assert_eq!(err, None);
            prop_assert!(rest.is_empty() && !pending);
            prop_assert_eq!(out, vec![args; times]);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn prop_random_bytes_never_panic(
            input in soup(),
            sizes in proptest::collection::vec(1usize..16, 1..10),
        ) {
            // `drain` checks the state invariants after every call.
            let all_at_once = whole(&input);
            let chunked = feed(&input, &sizes, ParseLimits::default());
            prop_assert_eq!(&chunked.0, &all_at_once.0);
            prop_assert_eq!(&chunked.1, &all_at_once.1);
            if all_at_once.1.is_none() {
                prop_assert_eq!(&chunked.2, &all_at_once.2);
                prop_assert!(all_at_once.2.len() <= input.len());
            }
        }
    }
}
