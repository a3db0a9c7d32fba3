//! Runs the same commands on shardis and on redis-server and compares the replies, after
//! normalising what Redis itself leaves unspecified (hash order, random picks, clocks).

use crate::common::{encode_cmd, parse, Resp, Server, REDIS_ORACLE};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Arguments of both servers: DEBUG DIGEST compares the final datasets.
const SERVER_ARGS: &[&str] = &["--enable-debug-command", "yes"];

/// A reply, or why none came (the connection broke or timed out: a crash or a hang).
pub type Outcome = Result<Resp, String>;

/// A connection that reports a broken or silent server instead of panicking.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(server: &Server) -> Result<Conn, String> {
        let stream = TcpStream::connect(server.addr()).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    fn call(&mut self, args: &[Vec<u8>]) -> Outcome {
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        self.stream
            .write_all(&encode_cmd(&refs))
            .map_err(|e| format!("write: {e}"))?;
        loop {
            if let Some((v, used)) = parse(&self.buf, 0) {
                self.buf.drain(..used);
                return Ok(v);
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("connection closed".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }
}

/// One server under comparison and a connection to it.
struct Side {
    shards: usize,
    // Owned so the process lives as long as the side (dropping it kills the server).
    server: Server,
    conn: Option<Conn>,
}

impl Side {
    fn start(shards: usize) -> Side {
        let server = Server::start_with(shards, SERVER_ARGS);
        let conn = Conn::open(&server).ok();
        Side {
            shards,
            server,
            conn,
        }
    }

    fn call(&mut self, args: &[Vec<u8>]) -> Outcome {
        let conn = self.conn.as_mut().ok_or("no connection")?;
        let out = conn.call(args);
        if out.is_err() {
            self.conn = None;
        }
        out
    }

    /// Empties the dataset and the connection's state (transaction, watched keys, protocol);
    /// a server that crashed or hung is started again.
    /// True if the server was started again.
    fn reset(&mut self) -> bool {
        let _ = self.call(&[b"DISCARD".to_vec()]);
        let _ = self.call(&[b"UNWATCH".to_vec()]);
        let flushed = self.conn.is_some()
            && matches!(self.call(&[b"FLUSHALL".to_vec()]), Ok(Resp::Simple(_)))
            && self.call(&[b"HELLO".to_vec(), b"2".to_vec()]).is_ok();
        if !flushed {
            *self = Side::start(self.shards);
        }
        !flushed
    }
}

/// Where two runs of a sequence first differ.
#[derive(Debug, Clone)]
pub struct Divergence {
    /// Index of the command in the sequence; `len` for the final DEBUG DIGEST.
    pub index: usize,
    pub command: Vec<Vec<u8>>,
    pub shardis: Outcome,
    pub redis: Outcome,
}

/// shardis with `shards` shards beside a redis-server.
pub struct Pair {
    shardis: Side,
    redis: Side,
    /// A second connection to redis-server for the oracle's own questions (never in MULTI).
    probe: Option<Conn>,
}

impl Pair {
    pub fn start(shards: usize) -> Pair {
        let redis = Side::start(REDIS_ORACLE);
        Pair {
            shardis: Side::start(shards),
            probe: Conn::open(&redis.server).ok(),
            redis,
        }
    }

    /// Runs `seq` from an empty dataset; the first divergence, if any.
    pub fn run(&mut self, seq: &[Vec<Vec<u8>>]) -> Option<Divergence> {
        self.shardis.reset();
        if self.redis.reset() {
            self.probe = Conn::open(&self.redis.server).ok();
        }
        let digest = vec![b"DEBUG".to_vec(), b"DIGEST".to_vec()];
        // Commands queued since MULTI: EXEC's reply holds theirs, normalised the same way.
        let mut queued: Option<Vec<Vec<Vec<u8>>>> = None;
        for (index, command) in seq.iter().chain(std::iter::once(&digest)).enumerate() {
            if index == seq.len() {
                // Redis's digest counts keys that have expired but are not reclaimed yet; a
                // SCAN over everything reclaims them (its reply is not compared).
                let scan = ["SCAN", "0", "COUNT", "1000000"].map(|a| a.as_bytes().to_vec());
                let _ = self.shardis.call(&scan);
                let _ = self.redis.call(&scan);
            }
            if self.lex_unspecified(command) {
                continue;
            }
            let a = self.shardis.call(command);
            let b = self.redis.call(command);
            let (a, b) = match name(command).as_str() {
                "EXEC" => {
                    let cmds = queued.take().unwrap_or_default();
                    (
                        a.map(|r| normalize_exec(&cmds, r)),
                        b.map(|r| normalize_exec(&cmds, r)),
                    )
                }
                _ => (
                    a.map(|r| normalize(command, r)),
                    b.map(|r| normalize(command, r)),
                ),
            };
            match (name(command).as_str(), &b) {
                ("MULTI", Ok(Resp::Simple(_))) => queued = Some(Vec::new()),
                ("DISCARD", _) => queued = None,
                (_, Ok(Resp::Simple(s))) if s == "QUEUED" => {
                    if let Some(q) = queued.as_mut() {
                        q.push(command.clone());
                    }
                }
                _ => {}
            }
            if sort_errno(command, &a, &b) {
                // Redis 7.0.15's SORT reads weights with strtod without clearing errno: an
                // earlier overflow anywhere in the process fails it (README, known
                // differences). The two datasets may differ from here: stop comparing.
                return None;
            }
            if float_rounding(command, &a, &b) {
                // Redis adds in `long double`: the last digits may differ (see README). Give
                // shardis Redis's result so that the sequence goes on from the same data.
                if let Ok(Resp::Bulk(v)) = &b {
                    let _ = self.shardis.call(&resync(command, v));
                }
                continue;
            }
            if !same(command, &a, &b) {
                return Some(Divergence {
                    index,
                    command: command.clone(),
                    shardis: a,
                    redis: b,
                });
            }
        }
        None
    }

    /// A lex-range command on a sorted set whose scores differ: Redis leaves its result
    /// unspecified (it assumes one score), so it is not run on either server.
    fn lex_unspecified(&mut self, command: &[Vec<u8>]) -> bool {
        let lex = matches!(
            name(command).as_str(),
            "ZRANGEBYLEX" | "ZREVRANGEBYLEX" | "ZLEXCOUNT" | "ZREMRANGEBYLEX"
        ) || has_arg(command, "BYLEX");
        if !lex {
            return false;
        }
        // ZRANGESTORE dst src ...: the source is the second key.
        let key = if name(command) == "ZRANGESTORE" { 2 } else { 1 };
        let Some(key) = command.get(key) else {
            return false;
        };
        let query = [
            b"ZRANGE".to_vec(),
            key.clone(),
            b"0".to_vec(),
            b"-1".to_vec(),
        ];
        let scores = [&query[..], &[b"WITHSCORES".to_vec()]].concat();
        let Some(probe) = self.probe.as_mut() else {
            return false;
        };
        match probe.call(&scores) {
            Ok(Resp::Array(items)) => {
                // RESP2: member, score, member, score …; RESP3: [member, score] pairs.
                let scores: Vec<&Resp> = match items.first() {
                    Some(Resp::Array(_)) => items
                        .iter()
                        .filter_map(|p| match p {
                            Resp::Array(pair) => pair.get(1),
                            _ => None,
                        })
                        .collect(),
                    _ => items.iter().skip(1).step_by(2).collect(),
                };
                scores.windows(2).any(|w| w[0] != w[1])
            }
            _ => false,
        }
    }

    /// Shrinks a diverging sequence to a minimal one (no single command or chunk of commands
    /// can be removed without losing the divergence) and returns it with its divergence.
    pub fn shrink(
        &mut self,
        seq: &[Vec<Vec<u8>>],
        first: Divergence,
    ) -> (Vec<Vec<Vec<u8>>>, Divergence) {
        // The commands up to the diverging one (all of them when it is the final digest).
        let mut seq = seq.to_vec();
        seq.truncate(first.index + 1);
        let mut best = first;
        let mut chunk = seq.len().div_ceil(2).max(1);
        loop {
            let mut removed_any = false;
            let mut start = 0;
            while start < seq.len() {
                let end = (start + chunk).min(seq.len());
                let mut candidate = seq.clone();
                candidate.drain(start..end);
                match self.run(&candidate) {
                    Some(d) => {
                        candidate.truncate((d.index + 1).min(candidate.len()));
                        seq = candidate;
                        best = d;
                        removed_any = true;
                    }
                    None => start = end,
                }
            }
            if chunk == 1 && !removed_any {
                break;
            }
            chunk = (chunk / 2).max(1);
        }
        (seq, best)
    }
}

/// Name of a command, upper-case.
fn name(command: &[Vec<u8>]) -> String {
    command
        .first()
        .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
        .unwrap_or_default()
}

fn has_arg(command: &[Vec<u8>], word: &str) -> bool {
    command
        .iter()
        .any(|a| a.eq_ignore_ascii_case(word.as_bytes()))
}

/// Puts what Redis leaves unspecified into a canonical form.
fn normalize(command: &[Vec<u8>], reply: Resp) -> Resp {
    if matches!(reply, Resp::Error(_)) {
        return reply;
    }
    match name(command).as_str() {
        // Hash-ordered collections: compared as sets.
        "SMEMBERS" | "SINTER" | "SUNION" | "SDIFF" | "HKEYS" | "HVALS" | "KEYS" => sorted(reply, 1),
        "HGETALL" => sorted(reply, 2),
        // One SCAN call with a COUNT larger than the collection returns it all, in hash order.
        "SSCAN" | "HSCAN" | "ZSCAN" => match reply {
            Resp::Array(mut parts) if parts.len() == 2 => {
                let items = parts.pop().unwrap_or(Resp::Nil);
                let pair = if name(command) == "SSCAN" { 1 } else { 2 };
                parts.push(sorted(items, pair));
                Resp::Array(parts)
            }
            other => other,
        },
        // Orders SORT leaves to the hash order of a set: BY a pattern without `*` does not
        // sort, and with BY and ALPHA Redis does not break ties (missing weights). LIMIT then
        // picks elements from that order.
        "SORT" | "SORT_RO" if unordered_sort(command) || nul_ties(command, &reply) => {
            if has_arg(command, "LIMIT") {
                shape(reply)
            } else {
                sorted(reply, 1)
            }
        }
        // Random picks: only their shape is specified. HELLO names the server.
        "SRANDMEMBER" | "HRANDFIELD" | "ZRANDMEMBER" | "RANDOMKEY" | "HELLO" => shape(reply),
        // GEORADIUS without ASC/DESC returns matches in geohash-box order.
        "GEORADIUS" | "GEORADIUS_RO" | "GEORADIUSBYMEMBER" | "GEOSEARCH"
            if !has_arg(command, "ASC") && !has_arg(command, "DESC") =>
        {
            sorted(reply, 1)
        }
        _ => reply,
    }
}

/// SORT with BY a pattern without `*`, or with BY and ALPHA.
fn unordered_sort(command: &[Vec<u8>]) -> bool {
    let by = command
        .windows(2)
        .find(|w| w[0].eq_ignore_ascii_case(b"BY"))
        .map(|w| &w[1]);
    match by {
        Some(pattern) => !pattern.contains(&b'*') || has_arg(command, "ALPHA"),
        None => false,
    }
}

/// SORT ALPHA without STORE whose reply has an element with a NUL byte: Redis compares with
/// strcoll, which stops at the NUL, so `""` and `"\0x"` tie, and ties keep the source's order,
/// a set's hash order.
fn nul_ties(command: &[Vec<u8>], reply: &Resp) -> bool {
    has_arg(command, "ALPHA")
        && !has_arg(command, "STORE")
        && matches!(reply, Resp::Array(items)
            if items.iter().any(|i| matches!(i, Resp::Bulk(b) if b.contains(&0))))
}

/// EXEC's reply: each queued command's reply normalised as that command's.
fn normalize_exec(queued: &[Vec<Vec<u8>>], reply: Resp) -> Resp {
    match reply {
        Resp::Array(items) if items.len() == queued.len() => Resp::Array(
            items
                .into_iter()
                .zip(queued)
                .map(|(r, c)| normalize(c, r))
                .collect(),
        ),
        other => other,
    }
}

/// The reply's items (or pairs of items, `group` = 2) sorted; RESP3 maps and sets too.
fn sorted(reply: Resp, group: usize) -> Resp {
    let sort = |items: Vec<Resp>, group: usize| {
        let mut chunks: Vec<Vec<Resp>> = items.chunks(group).map(|c| c.to_vec()).collect();
        chunks.sort_by_key(|c| format!("{c:?}"));
        chunks.into_iter().flatten().collect()
    };
    match reply {
        Resp::Array(items) => Resp::Array(sort(items, group)),
        Resp::Set(items) => Resp::Set(sort(items, 1)),
        Resp::Map(mut pairs) => {
            pairs.sort_by_key(|p| format!("{p:?}"));
            Resp::Map(pairs)
        }
        other => other,
    }
}

/// Arrays become their length, strings a marker: what a random reply must match.
fn shape(reply: Resp) -> Resp {
    match reply {
        Resp::Array(items) | Resp::Set(items) => Resp::Simple(format!("{} items", items.len())),
        Resp::Map(pairs) => Resp::Simple(format!("{} pairs", pairs.len())),
        Resp::Bulk(_) => Resp::Simple("a bulk string".into()),
        other => other,
    }
}

/// Equal replies; clock readings may differ by the time between the two calls.
fn same(command: &[Vec<u8>], a: &Outcome, b: &Outcome) -> bool {
    let tolerance = match name(command).as_str() {
        "TTL" | "EXPIRETIME" => 2,
        "PTTL" | "PEXPIRETIME" => 2000,
        _ => 0,
    };
    match (a, b) {
        (Ok(Resp::Int(x)), Ok(Resp::Int(y))) if tolerance > 0 && *x >= 0 && *y >= 0 => {
            (x - y).abs() <= tolerance
        }
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Redis failed a SORT with the weight error where shardis did not (see `run`).
fn sort_errno(command: &[Vec<u8>], a: &Outcome, b: &Outcome) -> bool {
    let sort = matches!(name(command).as_str(), "SORT" | "SORT_RO");
    let errno = matches!(b, Ok(Resp::Error(e))
        if e == "ERR One or more scores can't be converted into double");
    sort && errno && a != b
}

/// INCRBYFLOAT/HINCRBYFLOAT results equal up to f64 precision, the rest being long double's.
fn float_rounding(command: &[Vec<u8>], a: &Outcome, b: &Outcome) -> bool {
    if !matches!(name(command).as_str(), "INCRBYFLOAT" | "HINCRBYFLOAT") {
        return false;
    }
    let num = |o: &Outcome| match o {
        Ok(Resp::Bulk(v)) => std::str::from_utf8(v).ok()?.parse::<f64>().ok(),
        _ => None,
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => a != b && (x - y).abs() <= 1e-15 * x.abs().max(y.abs()),
        _ => false,
    }
}

/// The command that stores `value` where an INCRBYFLOAT/HINCRBYFLOAT command stored its result.
fn resync(command: &[Vec<u8>], value: &[u8]) -> Vec<Vec<u8>> {
    let key = command.get(1).cloned().unwrap_or_default();
    if name(command) == "INCRBYFLOAT" {
        vec![b"SET".to_vec(), key, value.to_vec(), b"KEEPTTL".to_vec()]
    } else {
        let field = command.get(2).cloned().unwrap_or_default();
        vec![b"HSET".to_vec(), key, field, value.to_vec()]
    }
}

/// A command as it would be typed into redis-cli.
pub fn show(command: &[Vec<u8>]) -> String {
    command
        .iter()
        .map(|a| {
            let s = String::from_utf8_lossy(a);
            if a.is_empty() || a.iter().any(|&b| !b.is_ascii_graphic() || b == b'"') {
                format!("{:?}", s)
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The report of a divergence: the minimal sequence and the two replies.
pub fn report(shards: usize, seed: u64, seq: &[Vec<Vec<u8>>], d: &Divergence) -> String {
    let mut out = format!(
        "divergence (seed {seed}, --shards {shards}), minimal sequence of {} commands:\n",
        seq.len()
    );
    for c in seq {
        out.push_str(&format!("  {}\n", show(c)));
    }
    out.push_str(&format!(
        "at `{}`:\n  shardis: {}\n  redis:   {}\n",
        show(&d.command),
        outcome(&d.shardis),
        outcome(&d.redis)
    ));
    out
}

/// A reply in readable form: bulk strings as (lossy) text.
fn outcome(o: &Outcome) -> String {
    fn text(r: &Resp) -> String {
        match r {
            Resp::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
            Resp::Array(items) => format!(
                "[{}]",
                items.iter().map(text).collect::<Vec<_>>().join(", ")
            ),
            other => format!("{other:?}"),
        }
    }
    match o {
        Ok(r) => text(r),
        Err(e) => format!("no reply ({e})"),
    }
}
