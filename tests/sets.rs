//! Set commands, checked against Redis 7.0.15 semantics (run with SHARDIS_TEST_SERVER=redis
//! to check the tests themselves against redis-server).

mod common;

use common::*;
use redis::Value;
use std::collections::BTreeSet;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn bulks(items: &[&str]) -> Value {
    arr(items.iter().map(bulk).collect())
}

/// A set-valued reply, order-free.
fn members(c: &mut redis::Connection, args: &[&str]) -> BTreeSet<String> {
    let v: Vec<String> = qt(c, args);
    let n = v.len();
    let s: BTreeSet<String> = v.into_iter().collect();
    assert_eq!(s.len(), n, "duplicates in {args:?}");
    s
}

fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn enc(c: &mut redis::Connection, key: &str) -> Value {
    q(c, &["OBJECT", "ENCODING", key])
}

#[test]
fn add_remove_query() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SADD", "s", "a", "b", "a"]), int(2));
        assert_eq!(q(&mut c, &["SADD", "s", "b", "c"]), int(1));
        assert_eq!(q(&mut c, &["SCARD", "s"]), int(3));
        assert_eq!(q(&mut c, &["SCARD", "nos"]), int(0));
        assert_eq!(q(&mut c, &["SISMEMBER", "s", "a"]), int(1));
        assert_eq!(q(&mut c, &["SISMEMBER", "s", "z"]), int(0));
        assert_eq!(q(&mut c, &["SISMEMBER", "nos", "z"]), int(0));
        assert_eq!(
            q(&mut c, &["SMISMEMBER", "s", "a", "z", "c"]),
            arr(vec![int(1), int(0), int(1)])
        );
        assert_eq!(q(&mut c, &["SMISMEMBER", "nos", "a"]), arr(vec![int(0)]));
        assert_eq!(
            members(&mut c, &["SMEMBERS", "s"]),
            set_of(&["a", "b", "c"])
        );
        assert_eq!(q(&mut c, &["SMEMBERS", "nos"]), arr(vec![]));
        assert_eq!(q(&mut c, &["SREM", "s", "a", "z"]), int(1));
        assert_eq!(q(&mut c, &["SREM", "nos", "a"]), int(0));
        assert_eq!(q(&mut c, &["SREM", "s", "b", "c"]), int(2));
        assert_eq!(q(&mut c, &["EXISTS", "s"]), int(0));
        assert_eq!(
            qerr(&mut c, &["SADD", "s"]),
            "ERR wrong number of arguments for 'sadd' command"
        );
        assert_eq!(
            qerr(&mut c, &["SMISMEMBER", "s"]),
            "ERR wrong number of arguments for 'smismember' command"
        );
        // Intsets answer in ascending order.
        q(&mut c, &["SADD", "i", "3", "-1", "20", "1"]);
        assert_eq!(q(&mut c, &["TYPE", "i"]), status("set"));
        assert_eq!(
            q(&mut c, &["SMEMBERS", "i"]),
            bulks(&["-1", "1", "3", "20"])
        );
        assert_eq!(q(&mut c, &["SISMEMBER", "i", "03"]), int(0));
        assert_eq!(q(&mut c, &["SISMEMBER", "i", "3"]), int(1));
    });
}

#[test]
fn wrongtype() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["SET", "str", "x"]);
        q(&mut c, &["SADD", "s", "a"]);
        for args in [
            vec!["SADD", "str", "a"],
            vec!["SREM", "str", "a"],
            vec!["SCARD", "str"],
            vec!["SISMEMBER", "str", "a"],
            vec!["SMISMEMBER", "str", "a"],
            vec!["SMEMBERS", "str"],
            vec!["SPOP", "str"],
            vec!["SPOP", "str", "2"],
            vec!["SRANDMEMBER", "str"],
            vec!["SRANDMEMBER", "str", "2"],
            vec!["SMOVE", "str", "s", "a"],
            vec!["SMOVE", "s", "str", "a"],
            vec!["SINTER", "s", "str"],
            vec!["SINTER", "nos", "str"],
            vec!["SUNION", "s", "str"],
            vec!["SDIFF", "s", "str"],
            vec!["SINTERSTORE", "d", "s", "str"],
            vec!["SUNIONSTORE", "d", "str"],
            vec!["SDIFFSTORE", "d", "s", "str"],
            vec!["SINTERCARD", "2", "s", "str"],
            vec!["SSCAN", "str", "0"],
            vec!["GET", "s"],
            vec!["HSET", "s", "a", "1"],
            vec!["LPUSH", "s", "a"],
        ] {
            assert_eq!(qerr(&mut c, &args), WRONGTYPE, "{args:?}");
        }
        // SMOVE from a missing source answers 0 before looking at the destination's type.
        assert_eq!(q(&mut c, &["SMOVE", "nos", "str", "a"]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", "d"]), int(0));
    });
}

#[test]
fn encodings_and_config() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "set-max-intset-entries"]),
            bulks(&["set-max-intset-entries", "512"])
        );
        q(&mut c, &["SADD", "i", "1", "2", "3"]);
        assert_eq!(enc(&mut c, "i"), bulk("intset"));
        q(&mut c, &["SADD", "i", "x"]);
        assert_eq!(enc(&mut c, "i"), bulk("hashtable"));
        q(&mut c, &["SREM", "i", "x"]);
        assert_eq!(enc(&mut c, "i"), bulk("hashtable"));
        // Not canonical integers are strings.
        q(&mut c, &["SADD", "z", "007"]);
        assert_eq!(enc(&mut c, "z"), bulk("hashtable"));
        q(&mut c, &["SADD", "m", "-9223372036854775808"]);
        assert_eq!(enc(&mut c, "m"), bulk("intset"));
        q(&mut c, &["SADD", "t", "a"]);
        assert_eq!(enc(&mut c, "t"), bulk("hashtable"));
        assert_eq!(
            q(&mut c, &["CONFIG", "SET", "set-max-intset-entries", "3"]),
            ok()
        );
        q(&mut c, &["SADD", "n", "1", "2", "3"]);
        assert_eq!(enc(&mut c, "n"), bulk("intset"));
        q(&mut c, &["SADD", "n", "4"]);
        assert_eq!(enc(&mut c, "n"), bulk("hashtable"));
        assert_eq!(
            members(&mut c, &["SMEMBERS", "n"]),
            set_of(&["1", "2", "3", "4"])
        );
        // Results of the STORE forms take the encoding their members call for.
        q(&mut c, &["CONFIG", "SET", "set-max-intset-entries", "512"]);
        q(&mut c, &["SADD", "mix", "1", "2", "a"]);
        q(&mut c, &["SADD", "nums", "2", "3"]);
        assert_eq!(q(&mut c, &["SINTERSTORE", "{d}1", "mix", "nums"]), int(1));
        assert_eq!(enc(&mut c, "{d}1"), bulk("intset"));
        assert_eq!(q(&mut c, &["SUNIONSTORE", "{d}2", "mix", "nums"]), int(4));
        assert_eq!(enc(&mut c, "{d}2"), bulk("hashtable"));
        q(&mut c, &["SMOVE", "mix", "{d}3", "1"]);
        assert_eq!(enc(&mut c, "{d}3"), bulk("intset"));
        q(&mut c, &["SMOVE", "mix", "{d}4", "a"]);
        assert_eq!(enc(&mut c, "{d}4"), bulk("hashtable"));
    });
}

#[test]
fn spop_and_srandmember() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SPOP", "nos"]), nil());
        assert_eq!(q(&mut c, &["SPOP", "nos", "2"]), arr(vec![]));
        assert_eq!(q(&mut c, &["SRANDMEMBER", "nos"]), nil());
        assert_eq!(q(&mut c, &["SRANDMEMBER", "nos", "2"]), arr(vec![]));
        let all = set_of(&["a", "b", "c", "d", "e"]);
        for small in [false, true] {
            let m: Vec<&str> = if small {
                vec!["1", "2", "3", "4", "5"]
            } else {
                vec!["a", "b", "c", "d", "e"]
            };
            let all: BTreeSet<String> = if small { set_of(&m) } else { all.clone() };
            let mut args = vec!["SADD", "s"];
            args.extend(&m);
            q(&mut c, &args);
            let one: String = qt(&mut c, &["SRANDMEMBER", "s"]);
            assert!(all.contains(&one));
            assert_eq!(members(&mut c, &["SRANDMEMBER", "s", "10"]), all);
            assert_eq!(members(&mut c, &["SRANDMEMBER", "s", "3"]).len(), 3);
            let rep: Vec<String> = qt(&mut c, &["SRANDMEMBER", "s", "-20"]);
            assert_eq!(rep.len(), 20);
            assert!(rep.iter().all(|r| all.contains(r)));
            assert_eq!(q(&mut c, &["SRANDMEMBER", "s", "0"]), arr(vec![]));
            assert_eq!(q(&mut c, &["SPOP", "s", "0"]), arr(vec![]));
            let popped = members(&mut c, &["SPOP", "s", "2"]);
            assert_eq!(popped.len(), 2);
            let one: String = qt(&mut c, &["SPOP", "s"]);
            assert!(!popped.contains(&one));
            let rest = members(&mut c, &["SPOP", "s", "10"]);
            assert_eq!(rest.len(), 2);
            let mut seen = popped.clone();
            seen.insert(one);
            seen.extend(rest);
            assert_eq!(seen, all);
            assert_eq!(q(&mut c, &["EXISTS", "s"]), int(0));
        }
        q(&mut c, &["SADD", "s", "x"]);
        assert_eq!(q(&mut c, &["SPOP", "s"]), bulk("x"));
        assert_eq!(q(&mut c, &["EXISTS", "s"]), int(0));
        q(&mut c, &["SADD", "s", "x"]);
        for (args, err) in [
            (vec!["SPOP", "s", "-1"], "ERR value is out of range, must be positive"),
            (vec!["SPOP", "s", "x"], "ERR value is out of range, must be positive"),
            (vec!["SPOP", "s", "1", "2"], "ERR syntax error"),
            (vec!["SRANDMEMBER", "s", "x"], "ERR value is not an integer or out of range"),
            (vec!["SRANDMEMBER", "s", "1", "2"], "ERR syntax error"),
            (
                vec!["SRANDMEMBER", "s", "-9223372036854775808"],
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ),
        ] {
            assert_eq!(qerr(&mut c, &args), err, "{args:?}");
        }
        // Distinct picks from a big set.
        let many: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
        let mut args = vec!["SADD".to_string(), "big".to_string()];
        args.extend(many.iter().cloned());
        q(&mut c, &args);
        assert_eq!(members(&mut c, &["SRANDMEMBER", "big", "100"]).len(), 100);
        assert_eq!(members(&mut c, &["SPOP", "big", "250"]).len(), 250);
        assert_eq!(q(&mut c, &["SCARD", "big"]), int(50));
    });
}

#[test]
fn smove_across_shards() {
    both(|s| {
        let mut c = s.conn();
        let keys = spread_keys("sm", 4);
        let (a, b) = (keys[0].as_str(), keys[1].as_str());
        q(&mut c, &["SADD", a, "x", "y"]);
        assert_eq!(q(&mut c, &["SMOVE", a, b, "x"]), int(1));
        assert_eq!(q(&mut c, &["SMOVE", a, b, "zz"]), int(0));
        assert_eq!(q(&mut c, &["SMOVE", a, a, "y"]), int(1));
        assert_eq!(q(&mut c, &["SMOVE", a, a, "zz"]), int(0));
        assert_eq!(members(&mut c, &["SMEMBERS", b]), set_of(&["x"]));
        q(&mut c, &["SADD", b, "y"]);
        assert_eq!(q(&mut c, &["SMOVE", a, b, "y"]), int(1));
        assert_eq!(q(&mut c, &["EXISTS", a]), int(0));
        assert_eq!(members(&mut c, &["SMEMBERS", b]), set_of(&["x", "y"]));
        q(&mut c, &["SET", keys[2].as_str(), "s"]);
        assert_eq!(
            qerr(&mut c, &["SMOVE", b, keys[2].as_str(), "x"]),
            WRONGTYPE
        );
        assert_eq!(members(&mut c, &["SMEMBERS", b]), set_of(&["x", "y"]));
        assert_eq!(q(&mut c, &["SMOVE", b, keys[3].as_str(), "x"]), int(1));
        assert_eq!(
            members(&mut c, &["SMEMBERS", keys[3].as_str()]),
            set_of(&["x"])
        );
    });
}

#[test]
fn algebra_across_shards() {
    both(|s| {
        let mut c = s.conn();
        let keys = spread_keys("alg", 8);
        let k: Vec<&str> = keys.iter().map(|s| s.as_str()).collect();
        q(&mut c, &["SADD", k[0], "a", "b", "c", "d"]);
        q(&mut c, &["SADD", k[1], "c", "d", "e"]);
        q(&mut c, &["SADD", k[2], "d", "e", "f", "a"]);
        // k[3] is missing.
        assert_eq!(
            members(&mut c, &["SINTER", k[0], k[1]]),
            set_of(&["c", "d"])
        );
        assert_eq!(
            members(&mut c, &["SINTER", k[0], k[1], k[2]]),
            set_of(&["d"])
        );
        assert_eq!(
            members(&mut c, &["SINTER", k[0]]),
            set_of(&["a", "b", "c", "d"])
        );
        assert_eq!(q(&mut c, &["SINTER", k[0], k[3]]), arr(vec![]));
        assert_eq!(
            members(&mut c, &["SUNION", k[0], k[1], k[3]]),
            set_of(&["a", "b", "c", "d", "e"])
        );
        assert_eq!(q(&mut c, &["SUNION", k[3]]), arr(vec![]));
        assert_eq!(members(&mut c, &["SDIFF", k[0], k[1]]), set_of(&["a", "b"]));
        assert_eq!(
            members(&mut c, &["SDIFF", k[0], k[1], k[2]]),
            set_of(&["b"])
        );
        assert_eq!(
            members(&mut c, &["SDIFF", k[0], k[3]]),
            set_of(&["a", "b", "c", "d"])
        );
        assert_eq!(q(&mut c, &["SDIFF", k[3], k[0]]), arr(vec![]));
        assert_eq!(q(&mut c, &["SINTERCARD", "2", k[0], k[1]]), int(2));
        assert_eq!(
            q(&mut c, &["SINTERCARD", "2", k[0], k[1], "LIMIT", "1"]),
            int(1)
        );
        assert_eq!(
            q(&mut c, &["SINTERCARD", "2", k[0], k[1], "limit", "0"]),
            int(2)
        );
        assert_eq!(q(&mut c, &["SINTERCARD", "1", k[0]]), int(4));
        assert_eq!(q(&mut c, &["SINTERCARD", "2", k[0], k[3]]), int(0));
        // STORE forms, with the destination on yet another shard.
        assert_eq!(q(&mut c, &["SINTERSTORE", k[4], k[0], k[1]]), int(2));
        assert_eq!(members(&mut c, &["SMEMBERS", k[4]]), set_of(&["c", "d"]));
        assert_eq!(q(&mut c, &["SUNIONSTORE", k[5], k[0], k[1]]), int(5));
        assert_eq!(q(&mut c, &["SCARD", k[5]]), int(5));
        assert_eq!(q(&mut c, &["SDIFFSTORE", k[6], k[0], k[1], k[2]]), int(1));
        assert_eq!(members(&mut c, &["SMEMBERS", k[6]]), set_of(&["b"]));
        // The destination may be a source, and an empty result deletes it.
        assert_eq!(q(&mut c, &["SUNIONSTORE", k[6], k[6], k[1]]), int(4));
        assert_eq!(q(&mut c, &["SINTERSTORE", k[6], k[6], k[3]]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", k[6]]), int(0));
        // A destination of another type is overwritten, and loses its TTL.
        q(&mut c, &["SET", k[7], "str", "EX", "100"]);
        assert_eq!(q(&mut c, &["SDIFFSTORE", k[7], k[0], k[1]]), int(2));
        assert_eq!(q(&mut c, &["TYPE", k[7]]), status("set"));
        assert_eq!(q(&mut c, &["TTL", k[7]]), int(-1));
        assert_eq!(q(&mut c, &["SINTERSTORE", k[7], k[3]]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", k[7]]), int(0));
        for (args, err) in [
            (
                vec!["SINTERCARD", "0", k[0]],
                "ERR numkeys should be greater than 0",
            ),
            (
                vec!["SINTERCARD", "x", k[0]],
                "ERR numkeys should be greater than 0",
            ),
            (
                vec!["SINTERCARD", "3", k[0], k[1]],
                "ERR Number of keys can't be greater than number of args",
            ),
            (
                vec!["SINTERCARD", "1", k[0], "LIMIT", "-1"],
                "ERR LIMIT can't be negative",
            ),
            (vec!["SINTERCARD", "1", k[0], "LIMIT"], "ERR syntax error"),
            (
                vec!["SINTERCARD", "1", k[0], "FOO", "1"],
                "ERR syntax error",
            ),
            (
                vec!["SINTERSTORE", k[4]],
                "ERR wrong number of arguments for 'sinterstore' command",
            ),
            (
                vec!["SINTER"],
                "ERR wrong number of arguments for 'sinter' command",
            ),
        ] {
            assert_eq!(qerr(&mut c, &args), err, "{args:?}");
        }
    });
}

#[test]
fn resp3_shapes() {
    both(|s| {
        let mut r = s.raw();
        r.roundtrip(&[b"HELLO", b"3"]);
        r.roundtrip(&[b"SADD", b"s", b"1", b"2"]);
        assert_eq!(
            r.roundtrip(&[b"SMEMBERS", b"s"]),
            b"~2\r\n$1\r\n1\r\n$1\r\n2\r\n".to_vec()
        );
        assert_eq!(r.roundtrip(&[b"SMEMBERS", b"nos"]), b"~0\r\n".to_vec());
        assert_eq!(r.roundtrip(&[b"SINTER", b"s", b"nos"]), b"~0\r\n".to_vec());
        assert_eq!(r.roundtrip(&[b"SPOP", b"nos", b"1"]), b"~0\r\n".to_vec());
        assert_eq!(
            r.roundtrip(&[b"SRANDMEMBER", b"nos", b"1"]),
            b"*0\r\n".to_vec()
        );
        assert_eq!(r.roundtrip(&[b"SPOP", b"nos"]), b"_\r\n".to_vec());
        assert_eq!(
            r.roundtrip(&[b"SMISMEMBER", b"s", b"1", b"3"]),
            b"*2\r\n:1\r\n:0\r\n".to_vec()
        );
        assert_eq!(
            r.roundtrip(&[b"SSCAN", b"s", b"0"]),
            b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n".to_vec()
        );
    });
}

#[test]
fn sscan() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(
            q(&mut c, &["SSCAN", "nos", "0"]),
            arr(vec![bulk("0"), arr(vec![])])
        );
        q(&mut c, &["SADD", "s", "10", "2", "3"]);
        assert_eq!(
            q(&mut c, &["SSCAN", "s", "0", "MATCH", "*0", "COUNT", "1"]),
            arr(vec![bulk("0"), bulks(&["10"])])
        );
        assert_eq!(qerr(&mut c, &["SSCAN", "s", "x"]), "ERR invalid cursor");
        assert_eq!(
            qerr(&mut c, &["SSCAN", "s", "0", "COUNT", "0"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["SSCAN", "s", "0", "TYPE", "set"]),
            "ERR syntax error"
        );
        let want: BTreeSet<String> = (0..1000).map(|i| format!("m{i}")).collect();
        let mut args = vec!["SADD".to_string(), "big".to_string()];
        args.extend(want.iter().cloned());
        q(&mut c, &args);
        let mut got = BTreeSet::new();
        let mut cursor = "0".to_string();
        let mut steps = 0;
        loop {
            let (next, items): (String, Vec<String>) =
                qt(&mut c, &["SSCAN", "big", &cursor, "COUNT", "100"]);
            got.extend(items);
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
