//! HyperLogLog commands, checked against Redis 7.0.15 (run with SHARDIS_TEST_SERVER=redis to
//! check the tests themselves against redis-server). The expected counts, lengths and value
//! digests were taken from redis-server: shardis must store the very same bytes.

mod common;

use common::*;

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// `PFADD s a b c foo bar` as redis-server stores it after a PFCOUNT (cache valid: 5).
const SMALL_FROM_REDIS: &str = "48594c4c0100000005000000000000005cb390443e804621804a8e844bfb80425a";
/// DUMP of a fresh `PFADD t a b c foo bar` on redis-server.
const DUMP_FROM_REDIS: &str =
    "002148594c4c0100000000000000000000805cb390443e804621804a8e844bfb80425a0a003b759e647325f9eb";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// FNV-1a 64: a digest of a value to compare with the one Redis stores.
fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn get(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    qt(c, &["GET", key])
}

fn int_of(c: &mut redis::Connection, args: &[&str]) -> i64 {
    qt(c, args)
}

/// PFADD `el:0` … `el:{n-1}` to `key`, a thousand per command.
fn add_range(c: &mut redis::Connection, key: &str, prefix: &str, n: usize) {
    let els: Vec<String> = (0..n).map(|i| format!("{prefix}:{i}")).collect();
    for chunk in els.chunks(1000) {
        let mut args = vec!["PFADD", key];
        args.extend(chunk.iter().map(String::as_str));
        q(c, &args);
    }
}

#[test]
fn counts_and_bytes_match_redis() {
    // (elements, PFCOUNT, STRLEN, encoding, digest of the value before PFCOUNT)
    let cases: &[(usize, i64, i64, &str, u64)] = &[
        (1, 1, 21, "sparse", 0xdb51_2554_5875_9aef),
        (10, 10, 48, "sparse", 0xc2dd_3517_44c1_2b12),
        (100, 100, 289, "sparse", 0x184f_75b6_da99_1433),
        (1000, 999, 1892, "sparse", 0x007d_6275_b67d_f980),
        (10000, 10019, 12304, "dense", 0xeb44_a36e_3dee_2f2f),
        (100000, 98893, 12304, "dense", 0xcb0c_9bd8_5def_a544),
    ];
    both(|s| {
        let mut c = s.conn();
        for &(n, count, len, enc, digest) in cases {
            let key = format!("h{n}");
            add_range(&mut c, &key, "el", n);
            assert_eq!(
                fnv(&get(&mut c, &key)),
                digest,
                "{n} elements: value differs"
            );
            assert_eq!(int_of(&mut c, &["PFCOUNT", &key]), count, "{n} elements");
            // The cached answer is the same.
            assert_eq!(
                int_of(&mut c, &["PFCOUNT", &key]),
                count,
                "{n} elements, cached"
            );
            assert_eq!(int_of(&mut c, &["STRLEN", &key]), len, "{n} elements");
            assert_eq!(
                q(&mut c, &["PFDEBUG", "ENCODING", &key]),
                status(enc),
                "{n} elements"
            );
        }
        assert_eq!(
            int_of(&mut c, &["PFCOUNT", "h100", "h1000", "h10000"]),
            10019
        );
        let odd: Vec<String> = (0..500).map(|i| format!("o{i}")).collect();
        let mut args = vec!["PFADD", "odd"];
        args.extend(odd.iter().map(String::as_str));
        q(&mut c, &args);
        assert_eq!(int_of(&mut c, &["PFCOUNT", "h1000", "odd"]), 1493);
        assert_eq!(q(&mut c, &["PFMERGE", "m", "h1000", "odd"]), ok());
        assert_eq!(int_of(&mut c, &["PFCOUNT", "m"]), 1493);
        assert_eq!(q(&mut c, &["PFDEBUG", "ENCODING", "m"]), status("sparse"));
        assert_eq!(fnv(&get(&mut c, "m")), 0x86ef_9236_76f6_7121);
        // A dense source makes the destination dense.
        assert_eq!(q(&mut c, &["PFMERGE", "m2", "h10", "h10000"]), ok());
        assert_eq!(int_of(&mut c, &["PFCOUNT", "m2"]), 10019);
        assert_eq!(q(&mut c, &["PFDEBUG", "ENCODING", "m2"]), status("dense"));
    });
}

#[test]
fn basic_replies() {
    both(|s| {
        let mut c = s.conn();
        // Creating the key is an update even without elements.
        assert_eq!(q(&mut c, &["PFADD", "h"]), int(1));
        assert_eq!(q(&mut c, &["PFADD", "h"]), int(0));
        assert_eq!(q(&mut c, &["PFCOUNT", "h"]), int(0));
        assert_eq!(q(&mut c, &["PFADD", "h", "a", "b", "c"]), int(1));
        assert_eq!(q(&mut c, &["PFADD", "h", "a", "c"]), int(0));
        assert_eq!(q(&mut c, &["PFCOUNT", "h"]), int(3));
        assert_eq!(q(&mut c, &["PFCOUNT", "nokey"]), int(0));
        assert_eq!(q(&mut c, &["PFCOUNT", "nokey", "other"]), int(0));
        assert_eq!(q(&mut c, &["TYPE", "h"]), status("string"));
        assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "h"]), bulk("raw"));
        assert_eq!(
            qerr(&mut c, &["PFADD"]),
            "ERR wrong number of arguments for 'pfadd' command"
        );
        assert_eq!(
            qerr(&mut c, &["PFCOUNT"]),
            "ERR wrong number of arguments for 'pfcount' command"
        );
        assert_eq!(
            qerr(&mut c, &["PFMERGE"]),
            "ERR wrong number of arguments for 'pfmerge' command"
        );
        assert_eq!(
            qerr(&mut c, &["PFDEBUG", "x"]),
            "ERR wrong number of arguments for 'pfdebug' command"
        );
        // PFADD keeps the TTL: the value is edited in place.
        q(&mut c, &["EXPIRE", "h", "1000"]);
        q(&mut c, &["PFADD", "h", "d"]);
        assert!(int_of(&mut c, &["TTL", "h"]) > 990);
    });
}

#[test]
fn values_move_to_and_from_redis() {
    both(|s| {
        let mut c = s.conn();
        let small = hex(SMALL_FROM_REDIS);
        q(&mut c, &[&b"SET"[..], b"s", &small]);
        assert_eq!(q(&mut c, &["PFCOUNT", "s"]), int(5));
        assert_eq!(get(&mut c, "s"), small);
        assert_eq!(q(&mut c, &["PFADD", "s", "x", "y", "z"]), int(1));
        assert_eq!(q(&mut c, &["PFCOUNT", "s"]), int(8));
        assert_eq!(
            to_hex(&get(&mut c, "s")),
            "48594c4c0100000008000000000000005cb390443e80408f804590804a8e8448ab88434e8042508408"
        );
        assert_eq!(
            q(&mut c, &["PFDEBUG", "DECODE", "s"]),
            bulk(
                "Z:7348 v:5,1 Z:1087 v:1,1 Z:144 v:1,1 Z:1425 v:1,1 Z:2703 v:2,1 Z:2220 v:3,1 \
                 Z:847 v:1,1 Z:593 v:2,1 z:9"
            )
        );
        // DUMP gives Redis's payload; Redis's payload restores.
        q(&mut c, &["PFADD", "t", "a", "b", "c", "foo", "bar"]);
        assert_eq!(
            to_hex(&qt::<Vec<u8>, _>(&mut c, &["DUMP", "t"])),
            DUMP_FROM_REDIS
        );
        q(
            &mut c,
            &[&b"RESTORE"[..], b"r", b"0", &hex(DUMP_FROM_REDIS)],
        );
        assert_eq!(q(&mut c, &["PFCOUNT", "r"]), int(5));
        assert_eq!(q(&mut c, &["PFCOUNT", "r", "s", "t"]), int(8));
    });
}

#[test]
fn sparse_turns_dense_at_the_configured_size() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "hll-sparse-max-bytes"]),
            arr(vec![bulk("hll-sparse-max-bytes"), bulk("3000")])
        );
        q(&mut c, &["CONFIG", "SET", "hll-sparse-max-bytes", "100"]);
        let mut dense_at = None;
        for i in 0..200 {
            q(&mut c, &["PFADD", "h", &format!("e{i}")]);
            let len = int_of(&mut c, &["STRLEN", "h"]);
            if len == 12304 {
                dense_at = Some(i);
                break;
            }
            assert!(len <= 100, "sparse value of {len} bytes");
            assert_eq!(q(&mut c, &["PFDEBUG", "ENCODING", "h"]), status("sparse"));
        }
        // Redis promotes when the 29th element would take it past 100 bytes.
        assert_eq!(dense_at, Some(28));
        assert_eq!(q(&mut c, &["PFDEBUG", "ENCODING", "h"]), status("dense"));
        assert_eq!(q(&mut c, &["PFCOUNT", "h"]), int(29));
        q(&mut c, &["CONFIG", "SET", "hll-sparse-max-bytes", "3000"]);
        // PFDEBUG TODENSE converts once.
        q(&mut c, &["PFADD", "g", "a"]);
        assert_eq!(q(&mut c, &["PFDEBUG", "TODENSE", "g"]), int(1));
        assert_eq!(q(&mut c, &["PFDEBUG", "TODENSE", "g"]), int(0));
        assert_eq!(q(&mut c, &["PFCOUNT", "g"]), int(1));
        assert_eq!(
            qerr(&mut c, &["PFDEBUG", "DECODE", "g"]),
            "ERR HLL encoding is not sparse"
        );
    });
}

#[test]
fn merge_across_shards() {
    both(|s| {
        let mut c = s.conn();
        let keys = spread_keys("hll", 6);
        for (i, k) in keys.iter().enumerate() {
            // Overlapping ranges: key i holds el:100i … el:100i+199.
            let els: Vec<String> = (i * 100..i * 100 + 200)
                .map(|j| format!("el:{j}"))
                .collect();
            let mut args = vec!["PFADD", k.as_str()];
            args.extend(els.iter().map(String::as_str));
            q(&mut c, &args);
        }
        // The union is el:0 … el:699.
        add_range(&mut c, "all", "el", 700);
        let want = int_of(&mut c, &["PFCOUNT", "all"]);
        let mut args = vec!["PFCOUNT"];
        args.extend(keys.iter().map(String::as_str));
        assert_eq!(int_of(&mut c, &args), want);
        // Absent destination, sources everywhere: the registers of the one-key HLL.
        let mut args = vec!["PFMERGE", "dest"];
        args.extend(keys.iter().map(String::as_str));
        assert_eq!(q(&mut c, &args), ok());
        assert_eq!(int_of(&mut c, &["PFCOUNT", "dest"]), want);
        assert_eq!(
            q(&mut c, &["PFDEBUG", "ENCODING", "dest"]),
            status("sparse")
        );
        assert_eq!(
            q(&mut c, &["PFDEBUG", "GETREG", "dest"]),
            q(&mut c, &["PFDEBUG", "GETREG", "all"])
        );
        // The destination is a source too, and keeps its TTL.
        q(&mut c, &["PFADD", "d2", "x", "y"]);
        q(&mut c, &["EXPIRE", "d2", "1000"]);
        assert_eq!(q(&mut c, &["PFMERGE", "d2", &keys[0], &keys[5]]), ok());
        let expect = {
            q(&mut c, &["PFADD", "check", "x", "y"]);
            q(&mut c, &["PFMERGE", "check", &keys[0], &keys[5]]);
            int_of(&mut c, &["PFCOUNT", "check"])
        };
        assert_eq!(int_of(&mut c, &["PFCOUNT", "d2"]), expect);
        assert!(int_of(&mut c, &["TTL", "d2"]) > 990);
        // No sources: the destination is created empty.
        assert_eq!(q(&mut c, &["PFMERGE", "empty"]), ok());
        assert_eq!(q(&mut c, &["PFCOUNT", "empty"]), int(0));
        assert_eq!(q(&mut c, &["PFMERGE", "e2", "nokey1", "nokey2"]), ok());
        assert_eq!(q(&mut c, &["EXISTS", "e2"]), int(1));
    });
}

#[test]
fn wrong_types_and_corrupt_values() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["SET", "str", "hello"]);
        q(&mut c, &["LPUSH", "list", "a"]);
        q(&mut c, &["PFADD", "h", "a"]);
        for args in [
            &["PFADD", "str", "a"][..],
            &["PFCOUNT", "str"],
            &["PFCOUNT", "h", "str"],
            &["PFMERGE", "str"],
            &["PFMERGE", "dst", "h", "str"],
            &["PFDEBUG", "GETREG", "str"],
        ] {
            assert_eq!(qerr(&mut c, args), NOT_HLL, "{args:?}");
        }
        for args in [
            &["PFADD", "list"][..],
            &["PFCOUNT", "list"],
            &["PFCOUNT", "h", "list"],
            &["PFMERGE", "dst", "list"],
        ] {
            assert_eq!(qerr(&mut c, args), WRONGTYPE, "{args:?}");
        }
        assert_eq!(q(&mut c, &["EXISTS", "dst"]), int(0));
        // Not HLLs: unknown encoding, a dense value of the wrong length, a short header.
        let mut bad_enc = hex(SMALL_FROM_REDIS);
        bad_enc[4] = 2;
        let mut short_dense = hex(SMALL_FROM_REDIS);
        short_dense[4] = 0;
        for v in [bad_enc, short_dense, b"HYLL\x01".to_vec()] {
            q(&mut c, &[&b"SET"[..], b"bad", &v]);
            assert_eq!(qerr(&mut c, &["PFCOUNT", "bad"]), NOT_HLL);
            assert_eq!(qerr(&mut c, &["PFADD", "bad", "x"]), NOT_HLL);
        }
        // A sparse body that covers twice the registers.
        let mut over = b"HYLL\x01\x00\x00\x00".to_vec();
        over.extend_from_slice(&[0; 8]);
        over.extend_from_slice(&[0x7f, 0xff, 0x7f, 0xff]);
        q(&mut c, &[&b"SET"[..], b"over", &over]);
        // A valid cached cardinality is answered without reading the registers.
        assert_eq!(q(&mut c, &["PFCOUNT", "over"]), int(0));
        assert_eq!(qerr(&mut c, &["PFCOUNT", "over", "h"]), CORRUPT);
        assert_eq!(qerr(&mut c, &["PFMERGE", "h", "over"]), CORRUPT);
        assert_eq!(qerr(&mut c, &["PFDEBUG", "GETREG", "over"]), CORRUPT);
        over[15] = 0x80;
        q(&mut c, &[&b"SET"[..], b"over", &over]);
        assert_eq!(qerr(&mut c, &["PFCOUNT", "over"]), CORRUPT);
        // Redis edits the first run in place without noticing the rest.
        assert_eq!(q(&mut c, &["PFADD", "over", "x"]), int(1));
        // A value run past the last register, right after the runs covered all 16384.
        let mut past = hex(SMALL_FROM_REDIS);
        past.truncate(16);
        past.extend_from_slice(&[0x7f, 0xff, 0x80]);
        q(&mut c, &[&b"SET"[..], b"past", &past]);
        assert_eq!(qerr(&mut c, &["PFCOUNT", "past", "h"]), CORRUPT);
        assert_eq!(qerr(&mut c, &["PFDEBUG", "TODENSE", "past"]), CORRUPT);
        // A sparse body cut short (the last XZERO lacks its second byte).
        let mut cut = hex(SMALL_FROM_REDIS);
        cut[15] = 0x80;
        cut.pop();
        cut.push(0x40);
        q(&mut c, &[&b"SET"[..], b"cut", &cut]);
        assert_eq!(qerr(&mut c, &["PFCOUNT", "cut"]), CORRUPT);
        assert_eq!(qerr(&mut c, &["PFDEBUG", "TODENSE", "cut"]), CORRUPT);
        // PFDEBUG's own errors.
        assert_eq!(
            qerr(&mut c, &["PFDEBUG", "GETREG", "nokey"]),
            "ERR The specified key does not exist"
        );
        assert_eq!(
            qerr(&mut c, &["PFDEBUG", "FOO", "h"]),
            "ERR Unknown PFDEBUG subcommand 'FOO'"
        );
    });
}

#[test]
fn pfdebug_getreg_and_selftest() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["PFADD", "t", "a", "b", "c", "foo", "bar"]);
        let regs: Vec<i64> = qt(&mut c, &["PFDEBUG", "GETREG", "t"]);
        assert_eq!(regs.len(), 16384);
        let set: Vec<usize> = (0..regs.len()).filter(|&i| regs[i] != 0).collect();
        assert_eq!(set, vec![7348, 8436, 10007, 12711, 15780]);
        assert_eq!(regs.iter().sum::<i64>(), 10);
        // GETREG converts to dense.
        assert_eq!(q(&mut c, &["PFDEBUG", "ENCODING", "t"]), status("dense"));
        assert_eq!(q(&mut c, &["PFCOUNT", "t"]), int(5));
        assert_eq!(q(&mut c, &["PFSELFTEST"]), ok());
    });
}

#[test]
fn survives_an_aof_restart() {
    for shards in [1, 4] {
        let args = ["--appendonly", "yes"];
        let mut s = Server::start_with(shards, &args);
        let mut c = s.conn();
        let keys = spread_keys("aof-hll", 4);
        for (i, k) in keys.iter().enumerate() {
            add_range(&mut c, k, &format!("k{i}"), 50 + 1000 * i);
        }
        q(&mut c, &["PFADD", "dst", "z"]);
        q(&mut c, &["EXPIRE", "dst", "1000"]);
        let mut m = vec!["PFMERGE", "dst"];
        m.extend(keys.iter().map(String::as_str));
        q(&mut c, &m);
        let mut all = keys.clone();
        all.push("dst".to_string());
        let before: Vec<Vec<u8>> = all.iter().map(|k| get(&mut c, k)).collect();
        drop(c);
        s.shutdown();
        let s = s.restart(shards, &args).expect("restart");
        let mut c = s.conn();
        let after: Vec<Vec<u8>> = all.iter().map(|k| get(&mut c, k)).collect();
        assert_eq!(before, after, "{shards} shards");
        assert!(int_of(&mut c, &["TTL", "dst"]) > 990);
    }
}
