//! The slow log (Redis's slowlog.c): per shard, entries of commands that ran at least
//! `slowlog-log-slower-than` µs. Ids come from one server-wide counter, so SLOWLOG GET can merge
//! the shards' logs newest first.

use bytes::Bytes;
use std::collections::VecDeque;

/// Arguments kept per entry; the last one then says how many more there were.
const MAX_ARGC: usize = 32;
/// Bytes kept per argument.
const MAX_STRING: usize = 128;

#[derive(Clone, Debug)]
pub struct Entry {
    pub id: u64,
    /// Unix seconds when it was logged.
    pub time: u64,
    /// µs the command ran.
    pub duration: u64,
    pub args: Vec<Bytes>,
    pub peer: String,
    pub name: Bytes,
}

#[derive(Default)]
pub struct SlowLog {
    /// Newest first.
    pub entries: VecDeque<Entry>,
}

impl SlowLog {
    pub fn push(&mut self, e: Entry, max_len: usize) {
        self.entries.push_front(e);
        self.entries.truncate(max_len);
    }
}

/// The arguments as Redis keeps them: at most 32 (the last one then reads
/// `... (N more arguments)`), each cut to 128 bytes plus `... (N more bytes)`; `redact` names
/// the positions shown as `(redacted)`.
pub fn trim_args(args: &[Bytes], redact: &[usize]) -> Vec<Bytes> {
    let n = args.len().min(MAX_ARGC);
    let mut out = Vec::with_capacity(n);
    for (j, a) in args.iter().take(n).enumerate() {
        if n != args.len() && j == n - 1 {
            out.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - n + 1
            )));
        } else if redact.contains(&j) {
            out.push(Bytes::from_static(b"(redacted)"));
        } else if a.len() > MAX_STRING {
            let mut v = a[..MAX_STRING].to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
            out.push(Bytes::from(v));
        } else {
            // A copy: the argument is a slice of the connection's read buffer, which a shared
            // handle would keep alive whole (megabytes under a pipeline) for as long as the
            // entry stays in the log.
            out.push(Bytes::copy_from_slice(a));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_like_redis() {
        let args: Vec<Bytes> = (0..40).map(|i| Bytes::from(i.to_string())).collect();
        let t = trim_args(&args, &[]);
        assert_eq!(t.len(), 32);
        assert_eq!(t[31], Bytes::from("... (9 more arguments)"));
        let long = vec![Bytes::from("set"), Bytes::from(vec![b'a'; 130])];
        let t = trim_args(&long, &[]);
        assert_eq!(t[1].len(), 128 + "... (2 more bytes)".len());
        let t = trim_args(&long, &[1]);
        assert_eq!(t[1], Bytes::from("(redacted)"));
    }
}
