//! What a shard appends to its AOF: each write as the RESP command Redis would log for it.
//!
//! Handlers run synchronously and append here (Redis's `aof_buf`); the shard's writer task
//! drains the buffer to disk. A command is logged as it was sent unless its handler logs an
//! explicit, deterministic effect instead (relative expiries as absolute ones, INCRBYFLOAT as
//! SET …), so replaying the file at any later time gives the same data.

/// A shard's pending AOF bytes.
#[derive(Default)]
pub struct Feed {
    /// Logging is on (appendonly yes, or a rewrite is starting it).
    pub on: bool,
    /// RESP records not yet handed to the writer.
    pub buf: Vec<u8>,
    /// Bytes ever appended: the position a write must be synced to before it is acknowledged.
    pub offset: u64,
    /// The database the stream is in (SELECT is logged when it changes). None after a segment
    /// switch, so the next record selects again.
    pub db: Option<usize>,
    /// The running command logged its effects itself: don't log its arguments.
    pub explicit: bool,
    /// `aof-timestamp-enabled`: a `#TS:` annotation before the first record of each second.
    pub timestamps: bool,
    last_ts: u64,
    /// Multi-shard writes holding keys here (see `TxMark`), by key.
    pub tx_keys: ahash::AHashMap<bytes::Bytes, Vec<(usize, TxMark)>>,
    /// A multi-shard write holding this whole shard.
    pub tx_whole: Option<TxMark>,
    /// The transaction whose bracket is open in `buf`.
    open: Option<u64>,
}

/// A multi-shard write: its id (unique across restarts) and how many shards take part. Each
/// shard logs the records of the transaction's keys inside `MULTI` / `SHARDIS.TX id parts` …
/// `EXEC`, and, once every part has run, `SHARDIS.TXDONE id parts`. Recovery applies a
/// transaction only if all `parts` shards logged its TXDONE (each after its own records), so a
/// crash between two shards' writes leaves none of it. Redis's own loader does not know these
/// records; `redis-check-aof` accepts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxMark {
    pub id: u64,
    pub parts: u32,
}

pub const TX: &[u8] = b"SHARDIS.TX";
/// `MULTI` as a RESP record.
const MULTI_RECORD: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
pub const TXDONE: &[u8] = b"SHARDIS.TXDONE";

impl Feed {
    /// Append one command for database `db`.
    pub fn record<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A]) {
        if !self.on {
            return;
        }
        let start = self.buf.len();
        if self.open.is_some() || !self.tx_keys.is_empty() || self.tx_whole.is_some() {
            self.bracket(db, args);
        }
        if self.timestamps {
            let secs = crate::util::now_ms() / 1000;
            if secs != self.last_ts {
                self.last_ts = secs;
                self.buf
                    .extend_from_slice(format!("#TS:{secs}\r\n").as_bytes());
            }
        }
        if self.db != Some(db) {
            let mut n = itoa::Buffer::new();
            encode(
                &mut self.buf,
                &[b"SELECT".as_slice(), n.format(db).as_bytes()],
            );
            self.db = Some(db);
        }
        encode(&mut self.buf, args);
        self.offset += (self.buf.len() - start) as u64;
    }

    /// The pending bytes, for the writer.
    pub fn take(&mut self) -> Vec<u8> {
        self.close();
        std::mem::take(&mut self.buf)
    }

    /// Open, keep or close the bracket of the transaction that owns the key of this record.
    fn bracket<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A]) {
        let owner = self.tx_whole.or_else(|| {
            let key = args.get(1)?.as_ref();
            self.tx_keys
                .get(key)?
                .iter()
                .find(|(d, _)| *d == db)
                .map(|(_, m)| *m)
        });
        if owner.map(|m| m.id) == self.open {
            return;
        }
        self.close();
        if let Some(m) = owner {
            let (mut id, mut parts) = (itoa::Buffer::new(), itoa::Buffer::new());
            let rec: [&[u8]; 3] = [
                TX,
                id.format(m.id).as_bytes(),
                parts.format(m.parts).as_bytes(),
            ];
            self.raw(&[b"MULTI".as_slice()]);
            self.raw(&rec);
            self.open = Some(m.id);
        }
    }

    /// Close the open transaction bracket, if any.
    fn close(&mut self) {
        if self.open.take().is_some() {
            self.raw(&[b"EXEC".as_slice()]);
        }
    }

    /// Append a record as is (no SELECT, no bracket).
    pub fn raw<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        if !self.on {
            return;
        }
        let start = self.buf.len();
        encode(&mut self.buf, args);
        self.offset += (self.buf.len() - start) as u64;
    }

    /// A transaction on this shard starts: its records go between MULTI and EXEC, so that a
    /// crash in the middle of writing them leaves none (the loader drops an open MULTI at the
    /// end of a log). Returns where it started, for `end_multi`.
    pub fn begin_multi(&mut self) -> Option<(usize, u64)> {
        if !self.on {
            return None;
        }
        self.close();
        let at = (self.buf.len(), self.offset);
        self.buf.extend_from_slice(MULTI_RECORD);
        self.offset += MULTI_RECORD.len() as u64;
        Some(at)
    }

    /// The transaction begun at `at` ends: EXEC, or nothing at all if it wrote nothing.
    pub fn end_multi(&mut self, at: Option<(usize, u64)>) {
        let Some((len, offset)) = at else { return };
        self.close();
        // Only the MULTI record since `begin_multi`: take it back.
        if self.offset - offset == MULTI_RECORD.len() as u64 {
            self.buf.truncate(len);
            self.offset = offset;
        } else {
            self.raw(&[b"EXEC".as_slice()]);
        }
    }

    /// Every part of transaction `m` ran on this shard and the others.
    pub fn tx_done(&mut self, m: TxMark) {
        self.close();
        let (mut id, mut parts) = (itoa::Buffer::new(), itoa::Buffer::new());
        let rec: [&[u8]; 3] = [
            TXDONE,
            id.format(m.id).as_bytes(),
            parts.format(m.parts).as_bytes(),
        ];
        self.raw(&rec);
    }

    /// Records of `keys` (in `db`) belong to transaction `m` until `unmark`.
    pub fn mark(&mut self, m: TxMark, keys: &[(usize, bytes::Bytes)], whole: bool) {
        if whole {
            self.tx_whole = Some(m);
            return;
        }
        for (db, k) in keys {
            self.tx_keys.entry(k.clone()).or_default().push((*db, m));
        }
    }

    pub fn unmark(&mut self, m: TxMark, keys: &[(usize, bytes::Bytes)], whole: bool) {
        if self.open == Some(m.id) {
            self.close();
        }
        if whole {
            if self.tx_whole == Some(m) {
                self.tx_whole = None;
            }
            return;
        }
        for (_, k) in keys {
            if let Some(v) = self.tx_keys.get_mut(k) {
                v.retain(|(_, x)| *x != m);
                if v.is_empty() {
                    self.tx_keys.remove(k);
                }
            }
        }
    }
}

/// One command as a RESP array of bulk strings, as Redis's AOF holds it.
pub fn encode<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    out.push(b'*');
    push_int(out, args.len());
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        push_int(out, a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_int(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_select_once_per_db_change() {
        let mut f = Feed {
            on: true,
            ..Feed::default()
        };
        f.record(0, &[b"SET".as_slice(), b"k", b"v"]);
        f.record(0, &[b"DEL".as_slice(), b"k"]);
        f.record(3, &[b"DEL".as_slice(), b"x\r\n"]);
        let want = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n\
*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*2\r\n$3\r\nDEL\r\n$3\r\nx\r\n\r\n";
        assert_eq!(f.buf, want.to_vec());
        assert_eq!(f.offset, want.len() as u64);
    }

    #[test]
    fn off_records_nothing() {
        let mut f = Feed::default();
        f.record(0, &[b"SET".as_slice(), b"k", b"v"]);
        assert!(f.buf.is_empty());
        assert_eq!(f.offset, 0);
    }

    /// The records as text, one command per line (for readable asserts).
    fn lines(buf: &[u8]) -> Vec<String> {
        let buf = bytes::Bytes::copy_from_slice(buf);
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            match crate::persistence::segment::parse_record(&buf, pos) {
                crate::persistence::segment::Parsed::Record(args, n) => {
                    let words: Vec<String> = args
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).into())
                        .collect();
                    out.push(words.join(" "));
                    pos += n;
                }
                _ => break,
            }
        }
        out
    }

    #[test]
    fn records_of_a_marked_transaction_are_bracketed_and_closed() {
        let mut f = Feed {
            on: true,
            ..Feed::default()
        };
        let m = TxMark { id: 7, parts: 2 };
        let keys = [(0, bytes::Bytes::from_static(b"a"))];
        f.record(0, &[b"SET".as_slice(), b"x", b"1"]);
        f.mark(m, &keys, false);
        f.record(0, &[b"SET".as_slice(), b"a", b"1"]);
        f.record(0, &[b"INCR".as_slice(), b"a"]);
        // Another key in between closes the bracket; the next record of `a` opens another.
        f.record(0, &[b"SET".as_slice(), b"y", b"1"]);
        f.record(0, &[b"DEL".as_slice(), b"a"]);
        f.tx_done(m);
        f.unmark(m, &keys, false);
        f.record(0, &[b"SET".as_slice(), b"a", b"2"]);
        assert_eq!(
            lines(&f.take()),
            [
                "SELECT 0",
                "SET x 1",
                "MULTI",
                "SHARDIS.TX 7 2",
                "SET a 1",
                "INCR a",
                "EXEC",
                "SET y 1",
                "MULTI",
                "SHARDIS.TX 7 2",
                "DEL a",
                "EXEC",
                "SHARDIS.TXDONE 7 2",
                "SET a 2",
            ]
        );
    }

    #[test]
    fn a_one_shard_transaction_that_wrote_nothing_leaves_nothing() {
        let mut f = Feed {
            on: true,
            ..Feed::default()
        };
        let at = f.begin_multi();
        f.end_multi(at);
        assert!(f.buf.is_empty());
        assert_eq!(f.offset, 0);
        let at = f.begin_multi();
        f.record(0, &[b"SET".as_slice(), b"k", b"v"]);
        f.end_multi(at);
        assert_eq!(lines(&f.take()), ["MULTI", "SELECT 0", "SET k v", "EXEC"]);
    }
}
