//! Hash commands, checked against Redis 7.0.15 semantics (run with SHARDIS_TEST_SERVER=redis
//! to check the tests themselves against redis-server).

mod common;

use common::*;
use redis::Value;
use std::collections::BTreeMap;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn bulks(items: &[&str]) -> Value {
    arr(items.iter().map(bulk).collect())
}

fn getall(c: &mut redis::Connection, key: &str) -> BTreeMap<String, String> {
    qt(c, &["HGETALL", key])
}

fn sorted(c: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = qt(c, args);
    v.sort();
    v
}

#[test]
fn set_get_del() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["HSET", "h", "a", "1", "b", "2"]), int(2));
        assert_eq!(q(&mut c, &["HSET", "h", "a", "10", "c", "3"]), int(1));
        assert_eq!(q(&mut c, &["HMSET", "h", "d", "4"]), ok());
        assert_eq!(q(&mut c, &["HGET", "h", "a"]), bulk("10"));
        assert_eq!(q(&mut c, &["HGET", "h", "zz"]), nil());
        assert_eq!(q(&mut c, &["HGET", "noh", "a"]), nil());
        assert_eq!(
            q(&mut c, &["HMGET", "h", "a", "zz", "b"]),
            arr(vec![bulk("10"), nil(), bulk("2")])
        );
        assert_eq!(
            q(&mut c, &["HMGET", "noh", "a", "b"]),
            arr(vec![nil(), nil()])
        );
        assert_eq!(q(&mut c, &["HLEN", "h"]), int(4));
        assert_eq!(q(&mut c, &["HLEN", "noh"]), int(0));
        assert_eq!(q(&mut c, &["HSTRLEN", "h", "a"]), int(2));
        assert_eq!(q(&mut c, &["HSTRLEN", "h", "zz"]), int(0));
        assert_eq!(q(&mut c, &["HEXISTS", "h", "a"]), int(1));
        assert_eq!(q(&mut c, &["HEXISTS", "h", "zz"]), int(0));
        assert_eq!(q(&mut c, &["HEXISTS", "noh", "a"]), int(0));
        // A small hash keeps insertion order (listpack).
        assert_eq!(q(&mut c, &["HKEYS", "h"]), bulks(&["a", "b", "c", "d"]));
        assert_eq!(q(&mut c, &["HVALS", "h"]), bulks(&["10", "2", "3", "4"]));
        assert_eq!(
            q(&mut c, &["HGETALL", "h"]),
            bulks(&["a", "10", "b", "2", "c", "3", "d", "4"])
        );
        assert_eq!(q(&mut c, &["HKEYS", "noh"]), arr(vec![]));
        assert_eq!(q(&mut c, &["HGETALL", "noh"]), arr(vec![]));
        assert_eq!(q(&mut c, &["HSETNX", "h", "a", "x"]), int(0));
        assert_eq!(q(&mut c, &["HSETNX", "h", "e", "5"]), int(1));
        assert_eq!(q(&mut c, &["HSETNX", "h2", "e", "5"]), int(1));
        assert_eq!(q(&mut c, &["HDEL", "h", "a", "zz", "b"]), int(2));
        assert_eq!(q(&mut c, &["HDEL", "noh", "a"]), int(0));
        assert_eq!(q(&mut c, &["HDEL", "h", "c", "d", "e"]), int(3));
        assert_eq!(q(&mut c, &["EXISTS", "h"]), int(0));
        assert_eq!(q(&mut c, &["TYPE", "h2"]), status("hash"));
        for (args, name) in [
            (vec!["HSET", "h", "a"], "hset"),
            (vec!["HSET", "h", "a", "1", "b"], "hset"),
            (vec!["HMSET", "h", "a"], "hmset"),
            (vec!["HMSET", "h", "a", "1", "b"], "hmset"),
            (vec!["HGET", "h"], "hget"),
            (vec!["HDEL", "h"], "hdel"),
            (vec!["HSETNX", "h", "a"], "hsetnx"),
        ] {
            assert_eq!(
                qerr(&mut c, &args),
                format!("ERR wrong number of arguments for '{name}' command")
            );
        }
        assert_eq!(q(&mut c, &["EXISTS", "h"]), int(0));
    });
}

#[test]
fn wrongtype() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["SET", "str", "x"]);
        q(&mut c, &["HSET", "h", "f", "v"]);
        for args in [
            vec!["HSET", "str", "a", "1"],
            vec!["HMSET", "str", "a", "1"],
            vec!["HSETNX", "str", "a", "1"],
            vec!["HGET", "str", "a"],
            vec!["HMGET", "str", "a"],
            vec!["HDEL", "str", "a"],
            vec!["HLEN", "str"],
            vec!["HSTRLEN", "str", "a"],
            vec!["HEXISTS", "str", "a"],
            vec!["HKEYS", "str"],
            vec!["HVALS", "str"],
            vec!["HGETALL", "str"],
            vec!["HINCRBY", "str", "a", "1"],
            vec!["HINCRBYFLOAT", "str", "a", "1"],
            vec!["HRANDFIELD", "str"],
            vec!["HRANDFIELD", "str", "2"],
            vec!["HSCAN", "str", "0"],
            vec!["GET", "h"],
            vec!["INCR", "h"],
            vec!["LPUSH", "h", "x"],
        ] {
            assert_eq!(qerr(&mut c, &args), WRONGTYPE, "{args:?}");
        }
    });
}

#[test]
fn increments() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["HINCRBY", "h", "n", "5"]), int(5));
        assert_eq!(q(&mut c, &["HINCRBY", "h", "n", "-7"]), int(-2));
        q(
            &mut c,
            &["HSET", "h", "s", "abc", "big", "9223372036854775807"],
        );
        assert_eq!(
            qerr(&mut c, &["HINCRBY", "h", "s", "1"]),
            "ERR hash value is not an integer"
        );
        assert_eq!(
            qerr(&mut c, &["HINCRBY", "h", "big", "1"]),
            "ERR increment or decrement would overflow"
        );
        assert_eq!(
            qerr(&mut c, &["HINCRBY", "h", "n", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "f", "1.5"]), bulk("1.5"));
        assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("1.6"));
        assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "n", "2.5e2"]), bulk("248"));
        assert_eq!(q(&mut c, &["HGET", "h", "n"]), bulk("248"));
        assert_eq!(
            qerr(&mut c, &["HINCRBYFLOAT", "h", "s", "1"]),
            "ERR hash value is not a float"
        );
        assert_eq!(
            qerr(&mut c, &["HINCRBYFLOAT", "h", "f", "x"]),
            "ERR value is not a valid float"
        );
        assert_eq!(
            qerr(&mut c, &["HINCRBYFLOAT", "h", "f", "inf"]),
            "ERR value is NaN or Infinity"
        );
        q(&mut c, &["HSET", "h", "huge", "inf"]);
        assert_eq!(
            qerr(&mut c, &["HINCRBYFLOAT", "h", "huge", "1"]),
            "ERR increment would produce NaN or Infinity"
        );
        // A failed increment on a missing key leaves no key behind.
        assert_eq!(
            qerr(&mut c, &["HINCRBY", "noh", "n", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(q(&mut c, &["EXISTS", "noh"]), int(0));
    });
}

#[test]
fn encodings_and_config() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "hash-max-listpack-entries"]),
            bulks(&["hash-max-listpack-entries", "512"])
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "hash-max-ziplist-value"]),
            bulks(&["hash-max-ziplist-value", "64"])
        );
        q(&mut c, &["HSET", "small", "a", "1"]);
        assert_eq!(
            q(&mut c, &["OBJECT", "ENCODING", "small"]),
            bulk("listpack")
        );
        // A long value converts.
        let long = "v".repeat(65);
        q(&mut c, &["HSET", "long", "a", long.as_str()]);
        assert_eq!(
            q(&mut c, &["OBJECT", "ENCODING", "long"]),
            bulk("hashtable")
        );
        let edge = "v".repeat(64);
        q(&mut c, &["HSET", "edge", edge.as_str(), edge.as_str()]);
        assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "edge"]), bulk("listpack"));
        // Too many fields convert; the old names are aliases.
        assert_eq!(
            q(&mut c, &["CONFIG", "SET", "hash-max-ziplist-entries", "4"]),
            ok()
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "hash-max-listpack-entries"]),
            bulks(&["hash-max-listpack-entries", "4"])
        );
        for i in 0..4 {
            q(&mut c, &["HSET", "many", &format!("f{i}"), "x"]);
        }
        assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "many"]), bulk("listpack"));
        q(&mut c, &["HSET", "many", "f4", "x"]);
        assert_eq!(
            q(&mut c, &["OBJECT", "ENCODING", "many"]),
            bulk("hashtable")
        );
        // Never back, even when it shrinks.
        q(&mut c, &["HDEL", "many", "f0", "f1", "f2", "f3"]);
        assert_eq!(
            q(&mut c, &["OBJECT", "ENCODING", "many"]),
            bulk("hashtable")
        );
        // HINCRBYFLOAT past the value limit converts too.
        q(&mut c, &["CONFIG", "SET", "hash-max-listpack-value", "3"]);
        q(&mut c, &["HSET", "inc", "n", "1"]);
        assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "inc"]), bulk("listpack"));
        q(&mut c, &["HINCRBY", "inc", "n", "1000"]);
        assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "inc"]), bulk("hashtable"));
        assert_eq!(q(&mut c, &["HGET", "inc", "n"]), bulk("1001"));
        // The table still answers everything.
        let mut want = BTreeMap::new();
        for i in 0..200 {
            q(&mut c, &["HSET", "t", &format!("f{i}"), &format!("v{i}")]);
            want.insert(format!("f{i}"), format!("v{i}"));
        }
        assert_eq!(getall(&mut c, "t"), want);
        assert_eq!(q(&mut c, &["HLEN", "t"]), int(200));
        assert_eq!(q(&mut c, &["HGET", "t", "f150"]), bulk("v150"));
        let keys = sorted(&mut c, &["HKEYS", "t"]);
        assert_eq!(keys, want.keys().cloned().collect::<Vec<_>>());
    });
}

#[test]
fn hrandfield() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["HRANDFIELD", "noh"]), nil());
        assert_eq!(q(&mut c, &["HRANDFIELD", "noh", "3"]), arr(vec![]));
        q(&mut c, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        let one: String = qt(&mut c, &["HRANDFIELD", "h"]);
        assert!(["a", "b", "c"].contains(&one.as_str()));
        assert_eq!(q(&mut c, &["HRANDFIELD", "h", "0"]), arr(vec![]));
        let mut all = sorted(&mut c, &["HRANDFIELD", "h", "10"]);
        all.dedup();
        assert_eq!(all, vec!["a", "b", "c"]);
        let two = sorted(&mut c, &["HRANDFIELD", "h", "2"]);
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        let rep: Vec<String> = qt(&mut c, &["HRANDFIELD", "h", "-7"]);
        assert_eq!(rep.len(), 7);
        let pairs: Vec<String> = qt(&mut c, &["HRANDFIELD", "h", "-4", "WITHVALUES"]);
        assert_eq!(pairs.len(), 8);
        for p in pairs.chunks(2) {
            let want = match p[0].as_str() {
                "a" => "1",
                "b" => "2",
                _ => "3",
            };
            assert_eq!(p[1], want);
        }
        assert_eq!(
            qerr(&mut c, &["HRANDFIELD", "h", "1", "foo"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["HRANDFIELD", "h", "1", "withvalues", "x"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["HRANDFIELD", "h", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            qerr(&mut c, &["HRANDFIELD", "h", "-9223372036854775808"]),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        // Distinct picks from a big hash too.
        for i in 0..300 {
            q(&mut c, &["HSET", "big", &format!("f{i}"), "v"]);
        }
        let mut picks = sorted(&mut c, &["HRANDFIELD", "big", "50"]);
        picks.dedup();
        assert_eq!(picks.len(), 50);
    });
}

#[test]
fn resp3_shapes() {
    both(|s| {
        let mut r = s.raw();
        r.roundtrip(&[b"HELLO", b"3"]);
        r.roundtrip(&[b"HSET", b"h", b"a", b"1"]);
        assert_eq!(
            r.roundtrip(&[b"HGETALL", b"h"]),
            b"%1\r\n$1\r\na\r\n$1\r\n1\r\n".to_vec()
        );
        assert_eq!(
            r.roundtrip(&[b"HRANDFIELD", b"h", b"1", b"WITHVALUES"]),
            b"*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n".to_vec()
        );
        assert_eq!(r.roundtrip(&[b"HGETALL", b"noh"]), b"%0\r\n".to_vec());
        assert_eq!(r.roundtrip(&[b"HGET", b"noh", b"a"]), b"_\r\n".to_vec());
        assert_eq!(
            r.roundtrip(&[b"HINCRBYFLOAT", b"h", b"a", b"0.5"]),
            b"$3\r\n1.5\r\n".to_vec()
        );
    });
}

#[test]
fn hscan() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(
            q(&mut c, &["HSCAN", "noh", "0"]),
            arr(vec![bulk("0"), arr(vec![])])
        );
        q(&mut c, &["HSET", "h", "a", "1", "b", "2", "ab", "3"]);
        assert_eq!(
            q(&mut c, &["HSCAN", "h", "0"]),
            arr(vec![bulk("0"), bulks(&["a", "1", "b", "2", "ab", "3"])])
        );
        assert_eq!(
            q(&mut c, &["HSCAN", "h", "0", "MATCH", "a*", "COUNT", "1"]),
            arr(vec![bulk("0"), bulks(&["a", "1", "ab", "3"])])
        );
        assert_eq!(qerr(&mut c, &["HSCAN", "h", "x"]), "ERR invalid cursor");
        assert_eq!(
            qerr(&mut c, &["HSCAN", "h", "0", "COUNT", "0"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["HSCAN", "h", "0", "TYPE", "string"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["HSCAN", "h", "0", "MATCH"]),
            "ERR syntax error"
        );
        // A big hash is walked with a cursor; every field is seen.
        let mut want = BTreeMap::new();
        for i in 0..1000 {
            q(&mut c, &["HSET", "big", &format!("f{i}"), &i.to_string()]);
            want.insert(format!("f{i}"), i.to_string());
        }
        let mut got = BTreeMap::new();
        let mut cursor = "0".to_string();
        let mut steps = 0;
        loop {
            let (next, items): (String, Vec<String>) =
                qt(&mut c, &["HSCAN", "big", &cursor, "COUNT", "50"]);
            for p in items.chunks(2) {
                got.insert(p[0].clone(), p[1].clone());
            }
            steps += 1;
            cursor = next;
            if cursor == "0" {
                break;
            }
        }
        assert!(steps > 1);
        assert_eq!(got, want);
    });
}

#[test]
fn random_count_overflow_is_refused_not_fatal() {
    both(|s| {
        let mut con = s.conn();
        q(&mut con, &["HSET", "h", "a", "1"]);
        q(&mut con, &["SADD", "s", "a"]);
        q(&mut con, &["ZADD", "z", "1", "a"]);
        for (cmd, key, opt) in [
            ("HRANDFIELD", "h", "WITHVALUES"),
            ("ZRANDMEMBER", "z", "WITHSCORES"),
        ] {
            for n in ["-9223372036854770000", "-9223372036854775808"] {
                let e = qerr(&mut con, &[cmd, key, n, opt]);
                assert!(e.contains("value is out of range"), "{cmd} {n}: {e}");
            }
        }
        if !is_redis() {
            // Redis would try to stream 2^62 elements; shardis refuses.
            for (cmd, key) in [
                ("HRANDFIELD", "h"),
                ("SRANDMEMBER", "s"),
                ("ZRANDMEMBER", "z"),
            ] {
                let e = qerr(&mut con, &[cmd, key, "-9223372036854770000"]);
                assert!(e.contains("value is out of range"), "{cmd}: {e}");
            }
        }
        assert_eq!(qt::<String, _>(&mut con, &["PING"]), "PONG");
    });
}

/// HINCRBYFLOAT's result is formatted like INCRBYFLOAT's: a near cancellation reads back as 0.
#[test]
fn hincrbyfloat_cancellation_gives_zero() {
    both(|s| {
        let mut c = s.conn();
        let x = 1.0f64 / 41.0;
        q(&mut c, &["HINCRBYFLOAT", "h", "f", &format!("{x:?}")]);
        assert_eq!(
            q(&mut c, &["HINCRBYFLOAT", "h", "f", &format!("{:?}", -x)]),
            bulk("0")
        );
        assert_eq!(q(&mut c, &["HGET", "h", "f"]), bulk("0"));
    });
}
