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
}

impl Feed {
    /// Append one command for database `db`.
    pub fn record<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A]) {
        if !self.on {
            return;
        }
        let start = self.buf.len();
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
        std::mem::take(&mut self.buf)
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
}
