//! Random command sequences for the differential tester.
//!
//! Each command family is a list of templates in a small grammar, expanded with a seeded RNG:
//! `[...]` is optional (half the time), `{a|b|c}` picks one alternative, a word ending in
//! `...` is repeated one to three times, a single upper-case letter is a placeholder drawn from
//! a pool of edge values (see [`placeholder`]), anything else is sent literally. A few commands
//! are then mutated (an argument dropped, added or replaced) to reach the arity and syntax
//! errors. Keys come from a small pool, so families meet on the same keys (WRONGTYPE paths) and,
//! with `--shards 4`, multi-key commands span shards.

use fastrand::Rng;

/// Templates per family. Commands whose replies are random or time-dependent are either left
/// out (SPOP, SCAN over the keyspace, XINFO, OBJECT, DUMP) or normalised by `oracle.rs`.
const FAMILIES: &[&[&str]] = &[
    // strings
    &[
        "SET K V [{NX|XX}] [GET] [{EX E|PX E|EXAT T|PXAT T|KEEPTTL}]",
        "GET K",
        "GETSET K V",
        "GETDEL K",
        "GETEX K [{EX E|PX E|EXAT T|PXAT T|PERSIST}]",
        "SETNX K V",
        "SETEX K E V",
        "PSETEX K E V",
        "MSET K V [K V] [K V]",
        "MSETNX K V [K V]",
        "MGET K...",
        "APPEND K V",
        "STRLEN K",
        "INCR K",
        "DECR K",
        "INCRBY K I",
        "DECRBY K I",
        "INCRBYFLOAT K Z",
        "GETRANGE K I I",
        "SUBSTR K I I",
        "SETRANGE K O V",
        "LCS K K [{LEN|IDX [MINMATCHLEN I] [WITHMATCHLEN]}]",
    ],
    // keyspace and expiry
    &[
        "DEL K...",
        "UNLINK K...",
        "EXISTS K...",
        "TYPE K",
        "TOUCH K...",
        "RENAME K K",
        "RENAMENX K K",
        "COPY K K [REPLACE]",
        "EXPIRE K E [{NX|XX|GT|LT}]",
        "PEXPIRE K E [{NX|XX|GT|LT}]",
        "EXPIREAT K T [{NX|XX|GT|LT}]",
        "PEXPIREAT K T [{NX|XX|GT|LT}]",
        "TTL K",
        "PTTL K",
        "EXPIRETIME K",
        "PEXPIRETIME K",
        "PERSIST K",
        "DBSIZE",
        "KEYS Y",
        "RANDOMKEY",
        "ECHO V",
        "PING [V]",
        "NOSUCHCOMMAND K V",
    ],
    // lists
    &[
        "LPUSH K V...",
        "RPUSH K V...",
        "LPUSHX K V...",
        "RPUSHX K V...",
        "LPOP K [C]",
        "RPOP K [C]",
        "LLEN K",
        "LRANGE K I I",
        "LINDEX K I",
        "LSET K I V",
        "LINSERT K {BEFORE|AFTER|MIDDLE} V V",
        "LREM K I V",
        "LTRIM K I I",
        "LPOS K V [RANK I] [COUNT C] [MAXLEN C]",
        "RPOPLPUSH K K",
        "LMOVE K K {LEFT|RIGHT} {LEFT|RIGHT}",
        "LMPOP {1 K|2 K K|0 K|C K} {LEFT|RIGHT} [COUNT C]",
        "BLPOP K [K] {0.01|-1|abc}",
        "BRPOP K {0.01|0.02}",
        "BLMOVE K K {LEFT|RIGHT} RIGHT 0.01",
    ],
    // hashes
    &[
        "HSET K F V [F V]",
        "HSETNX K F V",
        "HGET K F",
        "HMGET K F...",
        "HMSET K F V",
        "HDEL K F...",
        "HLEN K",
        "HEXISTS K F",
        "HINCRBY K F I",
        "HINCRBYFLOAT K F Z",
        "HKEYS K",
        "HVALS K",
        "HGETALL K",
        "HSTRLEN K F",
        "HRANDFIELD K [I [WITHVALUES]]",
        "HSCAN K 0 [MATCH {*|m*|?}] COUNT 1000",
    ],
    // sets
    &[
        "SADD K M...",
        "SREM K M...",
        "SISMEMBER K M",
        "SMISMEMBER K M...",
        "SCARD K",
        "SMEMBERS K",
        "SINTER K...",
        "SUNION K...",
        "SDIFF K...",
        "SINTERSTORE K K...",
        "SUNIONSTORE K K...",
        "SDIFFSTORE K K...",
        "SINTERCARD {1 K|2 K K|0 K|C K} [LIMIT I]",
        "SMOVE K K M",
        "SRANDMEMBER K [I]",
        "SSCAN K 0 [MATCH {*|m*}] COUNT 1000",
    ],
    // sorted sets
    &[
        "ZADD K [{NX|XX}] [{GT|LT}] [CH] [INCR] D M [D M]",
        "ZINCRBY K D M",
        "ZSCORE K M",
        "ZMSCORE K M...",
        "ZCARD K",
        "ZCOUNT K S S",
        "ZLEXCOUNT K L L",
        "ZRANGE K I I [REV] [WITHSCORES]",
        "ZRANGE K S S BYSCORE [REV] [LIMIT I I] [WITHSCORES]",
        "ZRANGE K L L BYLEX [REV] [LIMIT I I]",
        "ZRANGEBYSCORE K S S [WITHSCORES] [LIMIT I I]",
        "ZREVRANGEBYSCORE K S S [WITHSCORES] [LIMIT I I]",
        "ZRANGEBYLEX K L L [LIMIT I I]",
        "ZREVRANGEBYLEX K L L [LIMIT I I]",
        "ZREVRANGE K I I [WITHSCORES]",
        "ZRANK K M",
        "ZREVRANK K M",
        "ZREM K M...",
        "ZREMRANGEBYRANK K I I",
        "ZREMRANGEBYSCORE K S S",
        "ZREMRANGEBYLEX K L L",
        "ZPOPMIN K [I]",
        "ZPOPMAX K [I]",
        "{ZUNIONSTORE|ZINTERSTORE} K {1 K|2 K K|0|C K K} [WEIGHTS D [D]] [AGGREGATE {SUM|MIN|MAX|AVG}]",
        "ZDIFFSTORE K {1 K|2 K K}",
        "{ZUNION|ZINTER} {1 K|2 K K} [WEIGHTS D [D]] [AGGREGATE {SUM|MIN|MAX}] [WITHSCORES]",
        "ZDIFF {1 K|2 K K|3 K K K} [WITHSCORES]",
        "ZINTERCARD {1 K|2 K K} [LIMIT I]",
        "ZRANGESTORE K K I I",
        "ZRANGESTORE K K S S BYSCORE [REV] [LIMIT I I]",
        "ZMPOP {1 K|2 K K} {MIN|MAX} [COUNT C]",
        "BZPOPMIN K 0.01",
        "ZRANDMEMBER K [I [WITHSCORES]]",
        "ZSCAN K 0 COUNT 1000",
    ],
    // streams
    &[
        "XADD K [NOMKSTREAM] [{MAXLEN|MINID} [{=|~}] {C|X}] X F V [F V]",
        "XLEN K",
        "XRANGE K X X [COUNT I]",
        "XREVRANGE K X X [COUNT I]",
        "XDEL K X...",
        "XTRIM K {MAXLEN|MINID} [{=|~}] {C|X} [LIMIT C]",
        "XREAD [COUNT I] STREAMS {K X|K K X X}",
        "XGROUP CREATE K Q X [MKSTREAM] [ENTRIESREAD I]",
        "XGROUP SETID K Q X",
        "XGROUP DESTROY K Q",
        "XGROUP CREATECONSUMER K Q N",
        "XGROUP DELCONSUMER K Q N",
        "XREADGROUP GROUP Q N [COUNT I] [NOACK] STREAMS K {>|X}",
        "XACK K Q X...",
        "XPENDING K Q",
        "XCLAIM K Q N 0 X... [JUSTID]",
        "XAUTOCLAIM K Q N 0 X [COUNT I] [JUSTID]",
        "XSETID K X",
    ],
    // HyperLogLog
    &["PFADD K [M...]", "PFADD K M M M M M M M M", "PFCOUNT K...", "PFMERGE K K..."],
    // geo
    &[
        "GEOADD K [{NX|XX}] [CH] G A M [G A M]",
        "GEODIST K M M [U]",
        "GEOPOS K M...",
        "GEOHASH K M...",
        "GEOSEARCH K {FROMMEMBER M|FROMLONLAT G A} {BYRADIUS R U|BYBOX R R U} {ASC|DESC} [COUNT C] [WITHCOORD] [WITHDIST] [WITHHASH]",
        "GEOSEARCHSTORE K K {FROMMEMBER M|FROMLONLAT G A} BYRADIUS R U {ASC|DESC} [COUNT C] [STOREDIST]",
        "{GEORADIUS|GEORADIUS_RO} K G A R U {ASC|DESC} [WITHDIST] [WITHCOORD] [COUNT C]",
        "GEORADIUSBYMEMBER K M R U {ASC|DESC} [WITHDIST] [COUNT C]",
    ],
    // bitmaps
    &[
        "SETBIT K B {0|1|2}",
        "GETBIT K B",
        "BITCOUNT K [I I [{BYTE|BIT}]]",
        "BITPOS K {0|1|2} [I [I [{BYTE|BIT}]]]",
        "BITOP {AND|OR|XOR|NOT|NAND} K K [K]",
        "BITFIELD K [GET W P] [SET W P I] [INCRBY W P I] [OVERFLOW {WRAP|SAT|FAIL}] [INCRBY W P I]",
        "BITFIELD_RO K GET W P",
    ],
    // SORT
    &[
        "SORT K [BY {w_*|nokey|h_*->f}] [LIMIT I I] [GET {#|w_*|h_*->f}] [{ASC|DESC}] [ALPHA]",
        // Stored without BY: the unspecified orders of BY (see oracle.rs) would be stored.
        "SORT K [LIMIT I I] [GET {#|w_*}] [{ASC|DESC}] [ALPHA] STORE K",
        "SORT_RO K [LIMIT I I] [{ASC|DESC}] [ALPHA]",
    ],
];

/// MULTI/EXEC/WATCH around the other families' commands: generated only with
/// `SHARDIS_DIFF_TX=1` while the divergences it finds are open (README, "Differential testing").
const TRANSACTIONS: &[&str] = &[
    "MULTI",
    "MULTI",
    "EXEC",
    "EXEC",
    "DISCARD",
    "WATCH K...",
    "UNWATCH",
];

/// The families in play.
fn families() -> Vec<&'static [&'static str]> {
    let mut all = FAMILIES.to_vec();
    if std::env::var("SHARDIS_DIFF_TX").is_ok_and(|v| v == "1") {
        all.push(TRANSACTIONS);
    }
    all
}

/// The key pool: few keys, so families collide; hash tags and plain names spread them over shards.
const KEYS: &[&str] = &["k1", "k2", "k3", "{t}a", "{t}b", "w_m1"];

const VALUES: &[&str] = &[
    "",
    "v",
    "abc",
    "0",
    "1",
    "-1",
    "10",
    "3.5",
    "m1",
    "m2",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "inf",
    "nan",
    "\u{0}\u{ff}\r\n",
    " 12",
    "1e3",
    "0x10",
];

const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "10",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "abc",
    "",
    "1.5",
    "+1",
    " 1",
    "007",
];

const FLOATS: &[&str] = &[
    "0", "1", "-1", "1.5", "-2.5", "inf", "-inf", "+inf", "nan", "1e308", "1e309", "-0", "abc", "",
    "0.1", "3", "1e-320", "2",
];

/// Increments for INCRBYFLOAT: Redis adds in `long double`, so huge values (1e308, 1e309) give
/// other digits than shardis's f64 (an accepted difference, see README).
const INCREMENTS: &[&str] = &[
    "0", "1", "-1", "1.5", "-2.5", "inf", "-inf", "nan", "abc", "", "0.1", "3", "1e-320", "5e3",
    "1e20",
];

const MEMBERS: &[&str] = &["m1", "m2", "m3", "a", "b", "", "0", "1", "-5", "10"];

// No short positive expiries: a key must not expire between the calls to the two servers.
const EXPIRES: &[&str] = &[
    "0",
    "-1",
    "100000",
    "1000000",
    "100000000",
    "9223372036854775807",
    "-9223372036854775808",
    "abc",
    "1.5",
];

const UNIX_TIMES: &[&str] = &["1", "0", "-5", "4000000000", "4000000000000", "abc"];

const STREAM_IDS: &[&str] = &[
    "0",
    "0-1",
    "1",
    "1-1",
    "2-0",
    "3-5",
    "5-*",
    "7",
    "+",
    "-",
    "$",
    "abc",
    "0-0",
    "18446744073709551615-18446744073709551615",
    "1-18446744073709551615",
    "(1-1",
];

const SCORE_BOUNDS: &[&str] = &[
    "-inf", "+inf", "(1", "1", "(0", "0", "5", "(5", "abc", "nan", "-1", "(-inf", "2",
];

const LEX_BOUNDS: &[&str] = &["-", "+", "[a", "(a", "[m2", "(m3", "a", "[", "(", "[0"];

const SETRANGE_OFFSETS: &[&str] = &["0", "1", "5", "-1", "536870912", "abc", "20"];

const BIT_OFFSETS: &[&str] = &["0", "1", "7", "8", "100", "1000", "-1", "4294967296", "abc"];

const BITFIELD_TYPES: &[&str] = &[
    "u8", "i8", "u1", "i64", "u63", "u64", "i65", "i1", "u0", "x8",
];

const BITFIELD_OFFSETS: &[&str] = &["0", "1", "3", "7", "8", "13", "#0", "#1", "#3", "-1", "abc"];

const LONGITUDES: &[&str] = &[
    "13.361389",
    "15.087269",
    "-180",
    "180",
    "181",
    "0",
    "abc",
    "-73.9",
];

const LATITUDES: &[&str] = &[
    "38.115556",
    "37.502669",
    "85.05112878",
    "86",
    "0",
    "-85.05112878",
];

const RADII: &[&str] = &["0", "1", "100", "200", "1000", "5000", "-1", "abc"];

const UNITS: &[&str] = &["m", "km", "mi", "ft", "KM", "xx"];

const PATTERNS: &[&str] = &["*", "k*", "{t}*", "?1", "[a-k]*", "*\\*", "w_*", "k[^1]"];

const GROUPS: &[&str] = &["g1", "g2"];

const CONSUMERS: &[&str] = &["c1", "c2"];

/// Small counts (COUNT, numkeys, LPOP's count), plus edge values.
const COUNTS: &[&str] = &["0", "1", "2", "3", "5", "-1", "abc", "100"];

/// One value for the placeholder `p`, or None if `p` is a literal.
fn placeholder(rng: &mut Rng, p: &str) -> Option<Vec<u8>> {
    let pool: &[&str] = match p {
        "K" => KEYS,
        "V" => VALUES,
        "I" => {
            // Small numbers are the interesting indexes; the pool has the edge cases.
            if rng.bool() {
                return Some(rng.i64(-6..7).to_string().into_bytes());
            }
            INTS
        }
        "D" => FLOATS,
        "Z" => INCREMENTS,
        "M" | "F" => MEMBERS,
        "E" => EXPIRES,
        "T" => UNIX_TIMES,
        "X" => STREAM_IDS,
        "S" => SCORE_BOUNDS,
        "L" => LEX_BOUNDS,
        "O" => SETRANGE_OFFSETS,
        "B" => BIT_OFFSETS,
        "W" => BITFIELD_TYPES,
        "P" => BITFIELD_OFFSETS,
        "G" => LONGITUDES,
        "A" => LATITUDES,
        "R" => RADII,
        "U" => UNITS,
        "C" => COUNTS,
        "N" => CONSUMERS,
        "Q" => GROUPS,
        "Y" => PATTERNS,
        _ => return None,
    };
    Some(pick(rng, pool).as_bytes().to_vec())
}

fn pick<'a>(rng: &mut Rng, pool: &[&'a str]) -> &'a str {
    pool[rng.usize(..pool.len())]
}

/// A template, split into tokens: words, brackets, braces and bars.
fn tokens(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = template.as_bytes();
    let mut start = None;
    for (i, &b) in bytes.iter().enumerate() {
        let special = matches!(b, b'[' | b']' | b'{' | b'}' | b'|' | b' ');
        if special {
            if let Some(s) = start.take() {
                out.push(&template[s..i]);
            }
            if b != b' ' {
                out.push(&template[i..=i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(&template[s..]);
    }
    out
}

/// Expands tokens from `*pos` until a closing `]`, `}` or `|` (not consumed) or the end.
fn expand(rng: &mut Rng, toks: &[&str], pos: &mut usize, out: &mut Vec<Vec<u8>>) {
    while *pos < toks.len() {
        let t = toks[*pos];
        match t {
            "]" | "}" | "|" => return,
            "[" => {
                *pos += 1;
                let mut inner = Vec::new();
                expand(rng, toks, pos, &mut inner);
                *pos += 1; // the `]`
                if rng.bool() {
                    out.extend(inner);
                }
            }
            "{" => {
                *pos += 1;
                let mut alts = Vec::new();
                loop {
                    let mut alt = Vec::new();
                    expand(rng, toks, pos, &mut alt);
                    alts.push(alt);
                    let closing = toks.get(*pos).copied();
                    *pos += 1;
                    if closing != Some("|") {
                        break;
                    }
                }
                let n = alts.len();
                out.extend(alts.swap_remove(rng.usize(..n)));
            }
            word => {
                *pos += 1;
                let (word, repeat) = match word.strip_suffix("...") {
                    Some(w) => (w, rng.usize(1..4)),
                    None => (word, 1),
                };
                for _ in 0..repeat {
                    out.push(placeholder(rng, word).unwrap_or_else(|| word.as_bytes().to_vec()));
                }
            }
        }
    }
}

/// One random command.
pub fn command(rng: &mut Rng, families: &[&[&str]], focus: &[usize]) -> Vec<Vec<u8>> {
    // Mostly the sequence's own families, so that their values build up on the keys.
    let family = if !focus.is_empty() && rng.u8(..4) != 0 {
        families[focus[rng.usize(..focus.len())]]
    } else {
        families[rng.usize(..families.len())]
    };
    let template = family[rng.usize(..family.len())];
    let toks = tokens(template);
    let mut pos = 0;
    let mut args = Vec::new();
    expand(rng, &toks, &mut pos, &mut args);
    mutate(rng, &mut args);
    args
}

/// Now and then breaks a command: wrong arity, an unexpected argument, a wrong value.
fn mutate(rng: &mut Rng, args: &mut Vec<Vec<u8>>) {
    // A mutated blocking command may wait for seconds (its timeout is its last argument).
    if args[0].starts_with(b"BL") || args[0].starts_with(b"BR") || args[0].starts_with(b"BZ") {
        return;
    }
    match rng.u32(..100) {
        0..=2 if args.len() > 1 => {
            let i = rng.usize(1..args.len());
            args.remove(i);
        }
        3..=4 => args.push(pick(rng, VALUES).as_bytes().to_vec()),
        5..=6 if args.len() > 1 => {
            let i = rng.usize(1..args.len());
            let v = pick(rng, VALUES);
            // No short positive expiry, as in EXPIRES (`PSETEX k 1 v`): the key could expire
            // between the calls to the two servers.
            if relative_ttl(&args[0]) && v.parse::<i64>().is_ok_and(|n| (1..100_000).contains(&n)) {
                return;
            }
            args[i] = v.as_bytes().to_vec();
        }
        7 => {
            // Name case must not matter.
            args[0] = args[0].to_ascii_lowercase();
        }
        _ => {}
    }
}

/// Whether the command can give a key a time to live counted from now.
fn relative_ttl(name: &[u8]) -> bool {
    ["SET", "SETEX", "PSETEX", "GETEX", "EXPIRE", "PEXPIRE"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// A sequence of at least 80 list commands (mostly) from `seed`, on two lists (one on a tagged
/// key) that start with every value once and are cut into nodes of one to four elements
/// (`list-max-listpack-size`), so that the chain of nodes (splits on LINSERT and LSET, removals,
/// trims, pops and moves across node boundaries) meets Redis's quicklist.
pub fn list_sequence(seed: u64, len: usize) -> Vec<Vec<Vec<u8>>> {
    let mut rng = Rng::with_seed(seed);
    let families = families();
    let lists: Vec<usize> = families
        .iter()
        .position(|f| f.contains(&"LPUSH K V..."))
        .into_iter()
        .collect();
    let fill = rng.usize(1..5).to_string();
    let words = |w: &[&str]| w.iter().map(|a| a.as_bytes().to_vec()).collect::<Vec<_>>();
    let mut seq = vec![words(&["CONFIG", "SET", "list-max-listpack-size", &fill])];
    for key in ["k1", "{t}a"] {
        let mut push = words(&["RPUSH", key]);
        push.extend(words(VALUES));
        seq.push(push);
    }
    for _ in 0..len.max(80) {
        let mut c = command(&mut rng, &families, &lists);
        // Two keys, so that commands meet the same lists.
        for a in c.iter_mut().skip(1) {
            if KEYS.iter().any(|k| k.as_bytes() == &a[..]) {
                *a = if a.starts_with(b"{t}") {
                    b"{t}a".to_vec()
                } else {
                    b"k1".to_vec()
                };
            }
        }
        seq.push(c);
    }
    seq
}

/// A sequence of `len` random commands from `seed`.
/// One or two families get most of the commands; every third sequence speaks RESP3.
pub fn sequence(seed: u64, len: usize) -> Vec<Vec<Vec<u8>>> {
    let mut rng = Rng::with_seed(seed);
    let families = families();
    let focus: Vec<usize> = (0..rng.usize(1..3))
        .map(|_| rng.usize(..families.len()))
        .collect();
    let mut seq = Vec::with_capacity(len + 1);
    if seed.is_multiple_of(3) {
        seq.push(vec![b"HELLO".to_vec(), b"3".to_vec()]);
    }
    seq.extend((0..len).map(|_| command(&mut rng, &families, &focus)));
    seq
}
