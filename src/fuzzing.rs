//! Entry points for fuzzing: each takes arbitrary bytes and panics when a property fails. The
//! cargo-fuzz targets (fuzz/fuzz_targets/) call them under libFuzzer; tests/fuzz_targets.rs
//! calls them on random inputs for a bounded time on the stable toolchain, so that CI runs the
//! same code (see README, "Fuzzing").
//!
//! - [`resp_parser`]: the request parser never panics, never yields an argument longer than the
//!   limits, and parses the same commands (and the same error) whether the bytes come at
//!   once or in pieces.
//! - [`command_sequence`]: commands decoded from the bytes run on a `ShardStore` through the
//!   real handlers: no panic, every reply encodes in RESP2 and RESP3, and memory stays bounded
//!   (checked when the binary installs [`CountingAlloc`]).
//! - [`dump_payload`]: RESTORE of any body (sealed with a valid footer) never panics; a value
//!   it accepts survives every command of the test list and DUMPs to a payload that restores
//!   to the same value.

use crate::commands::{self, Kind};
use crate::protocol::parse::{ParseLimits, RequestParser};
use crate::protocol::reply::Reply;
use crate::store::{digest, dump, ShardStore, StoreLimits};
use bytes::{Bytes, BytesMut};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Most bytes one command may allocate beyond what was live before it.
pub const COMMAND_MEMORY_LIMIT: usize = 64 << 20;
/// Most bytes a whole sequence may leave live.
pub const DATASET_MEMORY_LIMIT: usize = 128 << 20;

/// The system allocator, counting live bytes and their peak, for the memory bounds. Install it
/// in the fuzzing binary:
/// `#[global_allocator] static A: shardis::fuzzing::CountingAlloc = shardis::fuzzing::CountingAlloc;`
/// Without it the counters stay at zero and the bounds are not checked.
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn allocated(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            allocated(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            allocated(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is the caller's, checked by its contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            allocated(new_size);
        }
        p
    }
}

/// Bytes live now (0 without [`CountingAlloc`]).
fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts a new peak measurement; returns the live bytes at its start.
fn reset_peak() -> usize {
    let now = live();
    PEAK.store(now, Ordering::Relaxed);
    now
}

// ---------------------------------------------------------------------------------------------
// RESP parser

/// Redis's PROTO_INLINE_MAX_SIZE: the longest inline request line.
const INLINE_MAX: usize = 64 * 1024;

/// All commands (and the error, if any) the parser finds in `input` fed in `pieces`.
fn parse_pieces(
    limits: ParseLimits,
    input: &[u8],
    pieces: &mut dyn Iterator<Item = usize>,
) -> (Vec<Vec<Bytes>>, Option<String>) {
    let mut parser = RequestParser::new(limits);
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    let mut fed = 0;
    while fed < input.len() {
        let n = pieces
            .next()
            .unwrap_or(input.len())
            .clamp(1, input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            match parser.parse(&mut buf) {
                Ok(Some(args)) => {
                    // A bulk is limited by proto-max-bulk-len, an inline argument by the line.
                    let most = limits.proto_max_bulk_len.max(INLINE_MAX);
                    for a in &args {
                        assert!(a.len() <= most, "argument of {} bytes", a.len());
                    }
                    commands.push(args);
                }
                Ok(None) => break,
                Err(e) => return (commands, Some(e.0)),
            }
        }
    }
    (commands, None)
}

/// The first byte picks the bulk limit and how the rest is cut into reads; the parses of the
/// whole and of the pieces must agree.
pub fn resp_parser(data: &[u8]) {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let limits = ParseLimits {
        proto_max_bulk_len: if mode & 1 == 0 {
            ParseLimits::default().proto_max_bulk_len
        } else {
            usize::from(mode >> 1)
        },
        // Some inputs are parsed as a client that has not authenticated (smaller limits).
        unauthenticated: mode & 0x80 != 0,
    };
    let whole = parse_pieces(limits, input, &mut std::iter::once(input.len()));
    // Piece sizes from a small generator seeded by the mode: 1..=16 bytes, or one byte at a time.
    let mut state = u32::from(mode) | 1;
    let mut sizes = std::iter::from_fn(|| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        Some(if mode & 2 == 0 {
            1
        } else {
            (state >> 16) as usize % 16 + 1
        })
    });
    let split = parse_pieces(limits, input, &mut sizes);
    assert_eq!(whole, split, "parsed differently when read in pieces");
}

// ---------------------------------------------------------------------------------------------
// Command sequences

/// Keys: few, so commands meet on them.
const KEYS: &[&str] = &["k0", "k1", "k2", "{k0}x"];

/// Option words of every family.
const WORDS: &[&str] = &[
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "GET",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "PERSIST",
    "WITHSCORES",
    "WITHSCORE",
    "LIMIT",
    "BYSCORE",
    "BYLEX",
    "REV",
    "COUNT",
    "MATCH",
    "TYPE",
    "STORE",
    "STOREDIST",
    "BY",
    "ALPHA",
    "ASC",
    "DESC",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "MAXLEN",
    "MINID",
    "STREAMS",
    "GROUP",
    "NOACK",
    "MKSTREAM",
    "ENTRIESREAD",
    "JUSTID",
    "IDLE",
    "TIME",
    "RETRYCOUNT",
    "FORCE",
    "LASTID",
    "RANK",
    "WEIGHTS",
    "AGGREGATE",
    "SUM",
    "MIN",
    "MAX",
    "LEN",
    "IDX",
    "MINMATCHLEN",
    "WITHMATCHLEN",
    "BYTE",
    "BIT",
    "AND",
    "OR",
    "XOR",
    "NOT",
    "OVERFLOW",
    "WRAP",
    "SAT",
    "FAIL",
    "SET",
    "INCRBY",
    "u8",
    "i16",
    "u63",
    "i64",
    "#1",
    "FROMMEMBER",
    "FROMLONLAT",
    "BYRADIUS",
    "BYBOX",
    "m",
    "km",
    "WITHCOORD",
    "WITHDIST",
    "WITHHASH",
    "ANY",
    "REPLACE",
    "ABSTTL",
    "FREQ",
    "WITHVALUES",
    "NOMKSTREAM",
    "CREATE",
    "SETID",
    "DESTROY",
    "CREATECONSUMER",
    "DELCONSUMER",
    "=",
    "~",
    "*",
    "-",
    "+",
    "$",
    ">",
    "#",
    "h_*->f",
    "w_*",
    "0-1",
    "1-*",
    "(1",
    "[a",
    "-inf",
    "+inf",
    "nosort",
];

/// Numbers, with edge values; none whose legitimate use allocates much (no bit offset near
/// 2^32, no string offset near 512 MB), so that the memory bound catches bugs only.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "7",
    "8",
    "10",
    "100",
    "-100",
    "1000",
    "65536",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1.5",
    "-0",
    "inf",
    "-inf",
    "nan",
    "1e308",
    "0x10",
    "",
];

const VALUES: &[&str] = &[
    "a",
    "b",
    "m1",
    "",
    "\u{0}\u{ff}",
    "hello world",
    "10",
    "3.5",
];

/// Largest number a raw argument may carry (see NUMBERS).
const RAW_NUMBER_MAX: i64 = 65536;

/// Reads the fuzz input as a stream of choices.
struct Choices<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Choices<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        self.pos += 1;
        b
    }

    fn pick<'p>(&mut self, pool: &[&'p str]) -> Option<&'p str> {
        let b = self.byte()?;
        Some(pool[usize::from(b) % pool.len()])
    }

    /// One argument: a key, an option word, a number, a value, or raw bytes from the input.
    fn arg(&mut self) -> Option<Bytes> {
        let tag = self.byte()?;
        let s = match tag {
            0..=79 => self.pick(KEYS)?,
            80..=149 => self.pick(WORDS)?,
            150..=209 => self.pick(NUMBERS)?,
            210..=239 => self.pick(VALUES)?,
            _ => {
                let len = usize::from(self.byte()? % 32);
                let end = (self.pos + len).min(self.data.len());
                let raw = &self.data[self.pos.min(end)..end];
                self.pos = end;
                let big =
                    crate::util::num::parse_i64(raw).is_some_and(|v| v.abs() > RAW_NUMBER_MAX);
                return Some(if big {
                    Bytes::from_static(b"65536")
                } else {
                    Bytes::copy_from_slice(raw)
                });
            }
        };
        Some(Bytes::from(s))
    }
}

/// The commands a shard's store runs itself (the connection and server commands are not here),
/// but PFSELFTEST: Redis's HyperLogLog self-test, long by design, which would dominate the runs.
fn keyed_commands() -> Vec<&'static commands::CommandSpec> {
    commands::all()
        .into_iter()
        .filter(|c| !matches!(c.kind, Kind::Conn) && c.name != "pfselftest")
        .collect()
}

fn handler(spec: &commands::CommandSpec) -> Option<commands::Handler> {
    match spec.kind {
        Kind::Keyed(h) | Kind::Split(h, _) | Kind::Coordinated(h) => Some(h),
        Kind::Conn => None,
    }
}

/// Runs one command as the shard would: arity checked first, then the handler; the reply must
/// encode in both protocols.
fn run(store: &mut ShardStore, now: u64, args: &[Bytes]) -> Option<Reply> {
    let spec = commands::lookup(args.first()?)?;
    if !spec.arity_ok(args.len()) || commands::stream::blocks(spec, args) {
        return None;
    }
    let reply = store.run_logged(0, now, spec.is_write(), handler(spec)?, args);
    let mut out = BytesMut::new();
    reply.encode(&mut out, false);
    reply.encode(&mut out, true);
    Some(reply)
}

/// Decodes commands (name, then arguments) from `data` and runs them on one store, with a clock
/// that moves forward so that expiries happen; checks the memory bounds as it goes.
pub fn command_sequence(data: &[u8]) {
    let table = keyed_commands();
    let mut input = Choices { data, pos: 0 };
    let mut store = ShardStore::new(1);
    let mut now: u64 = 1_700_000_000_000;
    let base = live();
    while let Some(which) = input.byte() {
        let spec = table[usize::from(which) % table.len()];
        let Some(extra) = input.byte() else { break };
        let argc = if spec.arity > 0 {
            spec.arity as usize
        } else {
            spec.arity.unsigned_abs() as usize + usize::from(extra % 6)
        };
        let mut args = vec![Bytes::from_static(spec.name.as_bytes())];
        while args.len() < argc {
            match input.arg() {
                Some(a) => args.push(a),
                None => return,
            }
        }
        now += u64::from(extra >> 4) * 250;
        let before = reset_peak();
        run(&mut store, now, &args);
        let used = PEAK.load(Ordering::Relaxed).saturating_sub(before);
        assert!(
            used <= COMMAND_MEMORY_LIMIT,
            "{:?} allocated {used} bytes",
            show(&args)
        );
        let dataset = live().saturating_sub(base);
        assert!(
            dataset <= DATASET_MEMORY_LIMIT,
            "{dataset} bytes live after {:?}",
            show(&args)
        );
    }
}

fn show(args: &[Bytes]) -> Vec<String> {
    args.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// DUMP payloads

/// Commands run on a restored value (key `k`), whatever its type.
const ON_RESTORED: &[&[&str]] = &[
    &["type", "k"],
    &["strlen", "k"],
    &["getrange", "k", "0", "-1"],
    &["lrange", "k", "0", "-1"],
    &["lindex", "k", "-1"],
    &["lpos", "k", "a"],
    &["hgetall", "k"],
    &["hget", "k", "a"],
    &["hrandfield", "k", "-3", "withvalues"],
    &["smembers", "k"],
    &["sismember", "k", "1"],
    &["srandmember", "k", "-3"],
    &["zrange", "k", "0", "-1", "withscores"],
    &["zrangebylex", "k", "-", "+"],
    &["zrangebyscore", "k", "-inf", "+inf"],
    &["zrank", "k", "a"],
    &["zrandmember", "k", "-3"],
    &["pfcount", "k"],
    &["bitcount", "k"],
    &["sort", "k", "alpha"],
    &["dump", "k"],
    &["lpush", "k", "x"],
    &["hset", "k", "a", "b"],
    &["sadd", "k", "x", "2"],
    &["zadd", "k", "1", "a"],
    &["pfadd", "k", "x"],
    &["append", "k", "x"],
    &["lpop", "k"],
    &["srem", "k", "x"],
    &["zpopmin", "k"],
    &["hdel", "k", "a"],
];

/// RESTOREs `data` sealed as a payload; what is accepted must DUMP and restore to the same
/// value and survive [`ON_RESTORED`].
pub fn dump_payload(data: &[u8]) {
    let limits = StoreLimits::default();
    let payload = dump::seal(data.to_vec());
    let Ok(value) = dump::restore(&payload, &limits) else {
        return;
    };
    let mut store = ShardStore::new(1);
    let now = 1_700_000_000_000;
    if dump::dumpable(&value).is_ok() {
        let again = dump::dump(&value, &limits);
        let copy = dump::restore(&again, &limits);
        assert!(
            copy.is_ok(),
            "the DUMP of a restored value does not restore"
        );
        if let Ok(copy) = copy {
            store.ctx_at(0, now).set(b"copy", copy, 0);
        }
    }
    store.ctx_at(0, now).set(b"k", value, 0);
    let digests: Vec<_> = [&b"k"[..], b"copy"]
        .iter()
        .filter_map(|k| store.dbs[0].get_raw(k).map(digest::value_digest))
        .collect();
    if let [a, b] = digests[..] {
        assert_eq!(a, b, "DUMP and RESTORE changed the value");
    }
    for command in ON_RESTORED {
        let args: Vec<Bytes> = command.iter().map(|a| Bytes::from(*a)).collect();
        run(&mut store, now, &args);
    }
}
