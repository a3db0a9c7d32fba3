//! Sorted-set commands, checked against Redis 7.0.15 semantics (run with
//! `SHARDIS_TEST_SERVER=redis` to check the expectations against real Redis).

mod common;

use common::*;
use redis::Value;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn strs(c: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    qt(c, args)
}

fn zadd(c: &mut redis::Connection, key: &str, pairs: &[(f64, &str)]) {
    let mut args = vec!["ZADD".to_string(), key.to_string()];
    for (s, m) in pairs {
        args.push(s.to_string());
        args.push(m.to_string());
    }
    let _: i64 = qt(c, &args);
}

fn enc(c: &mut redis::Connection, key: &str) -> String {
    qt(c, &["OBJECT", "ENCODING", key])
}

#[test]
fn zadd_options_and_errors() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["ZADD", "z", "1", "a", "2", "b"]), int(2));
        assert_eq!(q(&mut c, &["ZADD", "z", "1", "a", "3", "c"]), int(1));
        assert_eq!(q(&mut c, &["ZADD", "z", "CH", "5", "a", "3", "c"]), int(1));
        assert_eq!(q(&mut c, &["ZADD", "z", "NX", "9", "a", "4", "d"]), int(1));
        assert_eq!(q(&mut c, &["ZSCORE", "z", "a"]), bulk("5"));
        assert_eq!(q(&mut c, &["ZADD", "z", "XX", "7", "a", "1", "e"]), int(0));
        assert_eq!(q(&mut c, &["ZSCORE", "z", "a"]), bulk("7"));
        assert_eq!(q(&mut c, &["ZSCORE", "z", "e"]), nil());
        // GT/LT only move a score one way; new members are still added.
        assert_eq!(
            q(&mut c, &["ZADD", "z", "GT", "CH", "6", "a", "1", "f"]),
            int(1)
        );
        assert_eq!(q(&mut c, &["ZSCORE", "z", "a"]), bulk("7"));
        assert_eq!(q(&mut c, &["ZADD", "z", "LT", "CH", "6", "a"]), int(1));
        assert_eq!(
            q(&mut c, &["ZADD", "z", "XX", "GT", "CH", "8", "a"]),
            int(1)
        );
        // INCR replies the new score, nil when the flags skip it.
        assert_eq!(q(&mut c, &["ZADD", "z", "INCR", "2", "a"]), bulk("10"));
        assert_eq!(q(&mut c, &["ZADD", "z", "NX", "INCR", "2", "a"]), nil());
        assert_eq!(q(&mut c, &["ZADD", "z", "GT", "INCR", "-1", "a"]), nil());
        assert_eq!(
            q(&mut c, &["ZADD", "z", "LT", "INCR", "-1", "a"]),
            bulk("9")
        );
        assert_eq!(q(&mut c, &["ZADD", "z", "XX", "INCR", "1", "nope"]), nil());
        // XX on a missing key creates nothing.
        assert_eq!(q(&mut c, &["ZADD", "none", "XX", "1", "a"]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", "none"]), int(0));
        // Scores: strtod forms, infinities; refused: NaN, overflow, spaces.
        assert_eq!(
            q(&mut c, &["ZADD", "f", "0x10", "hex", "+inf", "top"]),
            int(2)
        );
        assert_eq!(q(&mut c, &["ZSCORE", "f", "hex"]), bulk("16"));
        assert_eq!(q(&mut c, &["ZSCORE", "f", "top"]), bulk("inf"));
        assert_eq!(q(&mut c, &["ZADD", "f", "0.1", "tenth"]), int(1));
        assert_eq!(
            q(&mut c, &["ZSCORE", "f", "tenth"]),
            bulk("0.10000000000000001")
        );
        for bad in ["abc", "nan", "1e400", " 1", "1 ", ""] {
            assert_eq!(
                qerr(&mut c, &["ZADD", "f", bad, "x"]),
                "ERR value is not a valid float",
                "{bad:?}"
            );
        }
        for (args, err) in [
            (
                &["ZADD", "z", "XX", "NX", "1", "a"][..],
                "ERR XX and NX options at the same time are not compatible",
            ),
            (
                &["ZADD", "z", "GT", "LT", "1", "a"],
                "ERR GT, LT, and/or NX options at the same time are not compatible",
            ),
            (
                &["ZADD", "z", "GT", "NX", "1", "a"],
                "ERR GT, LT, and/or NX options at the same time are not compatible",
            ),
            (
                &["ZADD", "z", "INCR", "1", "a", "2", "b"],
                "ERR INCR option supports a single increment-element pair",
            ),
            (&["ZADD", "z", "1", "a", "2"], "ERR syntax error"),
            (&["ZADD", "z", "NX", "XX"], "ERR syntax error"),
            (
                &["ZADD", "z", "1"],
                "ERR wrong number of arguments for 'zadd' command",
            ),
        ] {
            assert_eq!(qerr(&mut c, args), err, "{args:?}");
        }
        // A bad score anywhere leaves the set untouched.
        assert_eq!(
            qerr(&mut c, &["ZADD", "z", "1", "new", "x", "y"]),
            "ERR value is not a valid float"
        );
        assert_eq!(q(&mut c, &["ZSCORE", "z", "new"]), nil());
        assert_eq!(q(&mut c, &["SET", "s", "v"]), ok());
        assert_eq!(qerr(&mut c, &["ZADD", "s", "1", "a"]), WRONGTYPE);
        assert_eq!(qerr(&mut c, &["ZADD", "s", "XX", "1", "a"]), WRONGTYPE);
    });
}

#[test]
fn zincrby_and_nan() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["ZINCRBY", "z", "1.5", "a"]), bulk("1.5"));
        assert_eq!(q(&mut c, &["ZINCRBY", "z", "-0.5", "a"]), bulk("1"));
        assert_eq!(q(&mut c, &["ZINCRBY", "z", "inf", "a"]), bulk("inf"));
        assert_eq!(
            qerr(&mut c, &["ZINCRBY", "z", "-inf", "a"]),
            "ERR resulting score is not a number (NaN)"
        );
        assert_eq!(
            qerr(&mut c, &["ZADD", "z", "INCR", "-inf", "a"]),
            "ERR resulting score is not a number (NaN)"
        );
        assert_eq!(q(&mut c, &["ZSCORE", "z", "a"]), bulk("inf"));
        assert_eq!(
            qerr(&mut c, &["ZINCRBY", "z", "x", "a"]),
            "ERR value is not a valid float"
        );
        assert_eq!(q(&mut c, &["SET", "s", "v"]), ok());
        assert_eq!(qerr(&mut c, &["ZINCRBY", "s", "1", "a"]), WRONGTYPE);
    });
}

#[test]
fn zrem_zcard_and_empty_key_removal() {
    both(|s| {
        let mut c = s.conn();
        zadd(&mut c, "z", &[(1.0, "a"), (2.0, "b"), (3.0, "c")]);
        assert_eq!(q(&mut c, &["ZCARD", "z"]), int(3));
        assert_eq!(q(&mut c, &["ZREM", "z", "a", "x", "a"]), int(1));
        assert_eq!(q(&mut c, &["ZREM", "z", "b", "c"]), int(2));
        assert_eq!(q(&mut c, &["EXISTS", "z"]), int(0));
        assert_eq!(q(&mut c, &["ZCARD", "z"]), int(0));
        assert_eq!(q(&mut c, &["ZREM", "z", "a"]), int(0));
        assert_eq!(q(&mut c, &["SET", "s", "v"]), ok());
        assert_eq!(qerr(&mut c, &["ZREM", "s", "a"]), WRONGTYPE);
        assert_eq!(qerr(&mut c, &["ZCARD", "s"]), WRONGTYPE);
        assert_eq!(
            qerr(&mut c, &["ZREM", "s"]),
            "ERR wrong number of arguments for 'zrem' command"
        );
    });
}

#[test]
fn zscore_zmscore_zrank() {
    both(|s| {
        let mut c = s.conn();
        zadd(
            &mut c,
            "z",
            &[(1.0, "a"), (2.0, "b"), (2.0, "c"), (-1.5, "d")],
        );
        assert_eq!(q(&mut c, &["ZSCORE", "z", "d"]), bulk("-1.5"));
        assert_eq!(q(&mut c, &["ZSCORE", "z", "x"]), nil());
        assert_eq!(q(&mut c, &["ZSCORE", "nokey", "x"]), nil());
        assert_eq!(
            q(&mut c, &["ZMSCORE", "z", "a", "x", "c"]),
            arr(vec![bulk("1"), nil(), bulk("2")])
        );
        assert_eq!(
            q(&mut c, &["ZMSCORE", "nokey", "a", "b"]),
            arr(vec![nil(), nil()])
        );
        assert_eq!(q(&mut c, &["ZRANK", "z", "d"]), int(0));
        assert_eq!(q(&mut c, &["ZRANK", "z", "c"]), int(3));
        assert_eq!(q(&mut c, &["ZREVRANK", "z", "c"]), int(0));
        assert_eq!(q(&mut c, &["ZREVRANK", "z", "d"]), int(3));
        assert_eq!(q(&mut c, &["ZRANK", "z", "x"]), nil());
        assert_eq!(q(&mut c, &["ZRANK", "nokey", "x"]), nil());
        assert_eq!(
            qerr(&mut c, &["ZRANK", "z", "a", "b"]),
            "ERR wrong number of arguments for 'zrank' command"
        );
        assert_eq!(q(&mut c, &["SET", "s", "v"]), ok());
        for cmd in [
            &["ZSCORE", "s", "a"][..],
            &["ZMSCORE", "s", "a"],
            &["ZRANK", "s", "a"],
            &["ZREVRANK", "s", "a"],
        ] {
            assert_eq!(qerr(&mut c, cmd), WRONGTYPE, "{cmd:?}");
        }
    });
}

#[test]
fn zcount_and_zlexcount_bounds() {
    both(|s| {
        let mut c = s.conn();
        zadd(
            &mut c,
            "z",
            &[(1.0, "a"), (2.0, "b"), (3.0, "c"), (f64::INFINITY, "i")],
        );
        assert_eq!(q(&mut c, &["ZCOUNT", "z", "-inf", "+inf"]), int(4));
        assert_eq!(q(&mut c, &["ZCOUNT", "z", "(1", "3"]), int(2));
        assert_eq!(q(&mut c, &["ZCOUNT", "z", "(1", "(3"]), int(1));
        assert_eq!(q(&mut c, &["ZCOUNT", "z", "3", "1"]), int(0));
        assert_eq!(q(&mut c, &["ZCOUNT", "z", "(inf", "+inf"]), int(0));
        assert_eq!(q(&mut c, &["ZCOUNT", "z", "inf", "inf"]), int(1));
        // strtod is lenient where ZADD is not: leading space, empty string.
        assert_eq!(q(&mut c, &["ZCOUNT", "z", " 2", "100"]), int(2));
        assert_eq!(q(&mut c, &["ZCOUNT", "z", "", "100"]), int(3));
        assert_eq!(q(&mut c, &["ZCOUNT", "nokey", "0", "1"]), int(0));
        for (lo, hi) in [("a", "1"), ("1", "1x"), ("nan", "1"), ("((1", "2")] {
            assert_eq!(
                qerr(&mut c, &["ZCOUNT", "z", lo, hi]),
                "ERR min or max is not a float"
            );
        }
        zadd(
            &mut c,
            "l",
            &[(0.0, "a"), (0.0, "b"), (0.0, "c"), (0.0, "d")],
        );
        assert_eq!(q(&mut c, &["ZLEXCOUNT", "l", "-", "+"]), int(4));
        assert_eq!(q(&mut c, &["ZLEXCOUNT", "l", "[b", "(d"]), int(2));
        assert_eq!(q(&mut c, &["ZLEXCOUNT", "l", "(b", "[d"]), int(2));
        assert_eq!(q(&mut c, &["ZLEXCOUNT", "l", "+", "-"]), int(0));
        assert_eq!(q(&mut c, &["ZLEXCOUNT", "l", "[b", "[b"]), int(1));
        assert_eq!(q(&mut c, &["ZLEXCOUNT", "l", "(b", "(b"]), int(0));
        for (lo, hi) in [("a", "+"), ("", "+"), ("-", "++"), ("[a", "b")] {
            assert_eq!(
                qerr(&mut c, &["ZLEXCOUNT", "l", lo, hi]),
                "ERR min or max not valid string range item"
            );
        }
        assert_eq!(q(&mut c, &["SET", "s", "v"]), ok());
        assert_eq!(qerr(&mut c, &["ZCOUNT", "s", "0", "1"]), WRONGTYPE);
        // The range is checked before the key.
        assert_eq!(
            qerr(&mut c, &["ZCOUNT", "s", "x", "1"]),
            "ERR min or max is not a float"
        );
    });
}

#[test]
fn zrange_all_forms() {
    both(|s| {
        let mut c = s.conn();
        zadd(
            &mut c,
            "z",
            &[(1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "d"), (5.0, "e")],
        );
        assert_eq!(
            strs(&mut c, &["ZRANGE", "z", "0", "-1"]),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(strs(&mut c, &["ZRANGE", "z", "-2", "100"]), ["d", "e"]);
        assert_eq!(
            strs(&mut c, &["ZRANGE", "z", "3", "1"]),
            Vec::<String>::new()
        );
        assert_eq!(strs(&mut c, &["ZRANGE", "z", "-100", "0"]), ["a"]);
        assert_eq!(
            strs(&mut c, &["ZRANGE", "z", "0", "1", "REV", "WITHSCORES"]),
            ["e", "5", "d", "4"]
        );
        assert_eq!(
            strs(&mut c, &["ZRANGE", "z", "(1", "3", "BYSCORE"]),
            ["b", "c"]
        );
        assert_eq!(
            strs(&mut c, &["ZRANGE", "z", "3", "(1", "BYSCORE", "REV"]),
            ["c", "b"]
        );
        assert_eq!(
            strs(&mut c, &["ZRANGE", "z", "(1", "3", "BYSCORE", "REV"]),
            Vec::<String>::new()
        );
        assert_eq!(
            strs(
                &mut c,
                &[
                    "ZRANGE",
                    "z",
                    "-inf",
                    "+inf",
                    "BYSCORE",
                    "LIMIT",
                    "1",
                    "2",
                    "WITHSCORES"
                ]
            ),
            ["b", "2", "c", "3"]
        );
        assert_eq!(
            strs(
                &mut c,
                &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "-1"]
            ),
            ["b", "c", "d", "e"]
        );
        assert_eq!(
            strs(
                &mut c,
                &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "-1", "2"]
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            strs(
                &mut c,
                &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "9", "2"]
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            strs(&mut c, &["ZRANGE", "z", "[b", "(d", "BYLEX"]),
            ["b", "c"]
        );
        assert_eq!(
            strs(
                &mut c,
                &["ZRANGE", "z", "+", "-", "BYLEX", "REV", "LIMIT", "0", "2"]
            ),
            ["e", "d"]
        );
        assert_eq!(
            strs(&mut c, &["ZRANGE", "nokey", "0", "-1"]),
            Vec::<String>::new()
        );
        // Legacy forms.
        assert_eq!(
            strs(&mut c, &["ZREVRANGE", "z", "0", "1", "WITHSCORES"]),
            ["e", "5", "d", "4"]
        );
        assert_eq!(
            strs(&mut c, &["ZRANGEBYSCORE", "z", "2", "4", "LIMIT", "1", "1"]),
            ["c"]
        );
        assert_eq!(
            strs(&mut c, &["ZREVRANGEBYSCORE", "z", "4", "2", "WITHSCORES"]),
            ["d", "4", "c", "3", "b", "2"]
        );
        assert_eq!(strs(&mut c, &["ZRANGEBYLEX", "z", "-", "[b"]), ["a", "b"]);
        assert_eq!(
            strs(&mut c, &["ZREVRANGEBYLEX", "z", "[b", "-"]),
            ["b", "a"]
        );
        for (args, err) in [
            (&["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"][..], "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"),
            (&["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"], "ERR syntax error, WITHSCORES not supported in combination with BYLEX"),
            (&["ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"], "ERR syntax error, WITHSCORES not supported in combination with BYLEX"),
            (&["ZRANGE", "z", "0", "-1", "BYSCORE", "BYLEX"], "ERR syntax error"),
            (&["ZRANGE", "z", "0", "-1", "LIMIT", "0"], "ERR syntax error"),
            (&["ZREVRANGE", "z", "0", "-1", "REV"], "ERR syntax error"),
            (&["ZRANGEBYSCORE", "z", "0", "1", "BYSCORE"], "ERR syntax error"),
            (&["ZRANGE", "z", "a", "b"], "ERR value is not an integer or out of range"),
            (&["ZRANGE", "z", "0", "1", "BYSCORE", "LIMIT", "x", "1"], "ERR value is not an integer or out of range"),
            (&["ZRANGE", "z", "x", "1", "BYSCORE"], "ERR min or max is not a float"),
            (&["ZRANGE", "z", "x", "1", "BYLEX"], "ERR min or max not valid string range item"),
            (&["ZRANGE", "z", "0"], "ERR wrong number of arguments for 'zrange' command"),
        ] {
            assert_eq!(qerr(&mut c, args), err, "{args:?}");
        }
        assert_eq!(q(&mut c, &["SET", "s", "v"]), ok());
        assert_eq!(qerr(&mut c, &["ZRANGE", "s", "0", "-1"]), WRONGTYPE);
    });
}

#[test]
fn zrangestore_and_destination_rules() {
    both(|s| {
        let mut c = s.conn();
        zadd(&mut c, "src", &[(1.0, "a"), (2.0, "b"), (3.0, "c")]);
        assert_eq!(q(&mut c, &["ZRANGESTORE", "dst", "src", "1", "-1"]), int(2));
        assert_eq!(
            strs(&mut c, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
            ["b", "2", "c", "3"]
        );
        assert_eq!(
            q(
                &mut c,
                &[
                    "ZRANGESTORE",
                    "dst",
                    "src",
                    "3",
                    "(1",
                    "BYSCORE",
                    "REV",
                    "LIMIT",
                    "0",
                    "1"
                ]
            ),
            int(1)
        );
        assert_eq!(strs(&mut c, &["ZRANGE", "dst", "0", "-1"]), ["c"]);
        // The destination is replaced, its TTL dropped; an empty result deletes it.
        assert_eq!(q(&mut c, &["EXPIRE", "dst", "100"]), int(1));
        assert_eq!(q(&mut c, &["ZRANGESTORE", "dst", "src", "0", "0"]), int(1));
        assert_eq!(q(&mut c, &["TTL", "dst"]), int(-1));
        assert_eq!(q(&mut c, &["ZRANGESTORE", "dst", "src", "5", "9"]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", "dst"]), int(0));
        assert_eq!(q(&mut c, &["SET", "str", "v"]), ok());
        assert_eq!(
            q(&mut c, &["ZRANGESTORE", "str", "nokey", "0", "-1"]),
            int(0)
        );
        assert_eq!(q(&mut c, &["EXISTS", "str"]), int(0));
        assert_eq!(q(&mut c, &["SET", "str", "v"]), ok());
        assert_eq!(q(&mut c, &["ZRANGESTORE", "str", "src", "0", "-1"]), int(3));
        assert_eq!(q(&mut c, &["TYPE", "str"]), status("zset"));
        assert_eq!(q(&mut c, &["SET", "str", "v"]), ok());
        assert_eq!(
            qerr(&mut c, &["ZRANGESTORE", "dst", "str", "0", "-1"]),
            WRONGTYPE
        );
        assert_eq!(
            qerr(
                &mut c,
                &["ZRANGESTORE", "dst", "src", "0", "-1", "WITHSCORES"]
            ),
            "ERR syntax error"
        );
        // Source and destination the same key.
        assert_eq!(q(&mut c, &["ZRANGESTORE", "src", "src", "0", "0"]), int(1));
        assert_eq!(strs(&mut c, &["ZRANGE", "src", "0", "-1"]), ["a"]);
    });
}

#[test]
fn zremrange_forms() {
    both(|s| {
        let mut c = s.conn();
        let pairs: Vec<(f64, String)> = (0..10).map(|i| (i as f64, format!("m{i}"))).collect();
        let pairs: Vec<(f64, &str)> = pairs.iter().map(|(s, m)| (*s, m.as_str())).collect();
        zadd(&mut c, "z", &pairs);
        assert_eq!(q(&mut c, &["ZREMRANGEBYRANK", "z", "0", "1"]), int(2));
        assert_eq!(q(&mut c, &["ZREMRANGEBYRANK", "z", "-1", "-1"]), int(1));
        assert_eq!(q(&mut c, &["ZREMRANGEBYRANK", "z", "5", "2"]), int(0));
        assert_eq!(q(&mut c, &["ZREMRANGEBYSCORE", "z", "(2", "4"]), int(2));
        assert_eq!(
            strs(&mut c, &["ZRANGE", "z", "0", "-1"]),
            ["m2", "m5", "m6", "m7", "m8"]
        );
        zadd(&mut c, "l", &[(0.0, "a"), (0.0, "b"), (0.0, "c")]);
        assert_eq!(q(&mut c, &["ZREMRANGEBYLEX", "l", "(a", "+"]), int(2));
        assert_eq!(q(&mut c, &["ZREMRANGEBYLEX", "l", "-", "+"]), int(1));
        assert_eq!(q(&mut c, &["EXISTS", "l"]), int(0));
        assert_eq!(
            q(&mut c, &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]),
            int(5)
        );
        assert_eq!(q(&mut c, &["EXISTS", "z"]), int(0));
        assert_eq!(q(&mut c, &["ZREMRANGEBYRANK", "nokey", "0", "-1"]), int(0));
        assert_eq!(q(&mut c, &["SET", "s", "v"]), ok());
        assert_eq!(qerr(&mut c, &["ZREMRANGEBYRANK", "s", "0", "1"]), WRONGTYPE);
        assert_eq!(
            qerr(&mut c, &["ZREMRANGEBYRANK", "s", "a", "1"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            qerr(&mut c, &["ZREMRANGEBYSCORE", "s", "a", "1"]),
            "ERR min or max is not a float"
        );
        assert_eq!(
            qerr(&mut c, &["ZREMRANGEBYLEX", "s", "a", "1"]),
            "ERR min or max not valid string range item"
        );
    });
}

#[test]
fn zpop_and_zmpop() {
    both(|s| {
        let mut c = s.conn();
        zadd(
            &mut c,
            "z",
            &[(1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "d")],
        );
        assert_eq!(strs(&mut c, &["ZPOPMIN", "z"]), ["a", "1"]);
        assert_eq!(strs(&mut c, &["ZPOPMAX", "z", "2"]), ["d", "4", "c", "3"]);
        assert_eq!(strs(&mut c, &["ZPOPMIN", "z", "0"]), Vec::<String>::new());
        assert_eq!(strs(&mut c, &["ZPOPMIN", "z", "10"]), ["b", "2"]);
        assert_eq!(q(&mut c, &["EXISTS", "z"]), int(0));
        assert_eq!(strs(&mut c, &["ZPOPMIN", "z"]), Vec::<String>::new());
        assert_eq!(
            qerr(&mut c, &["ZPOPMIN", "z", "-1"]),
            "ERR value is out of range, must be positive"
        );
        assert_eq!(
            qerr(&mut c, &["ZPOPMIN", "z", "x"]),
            "ERR value is out of range, must be positive"
        );
        assert_eq!(
            qerr(&mut c, &["ZPOPMIN", "z", "1", "2"]),
            "ERR syntax error"
        );
        // ZMPOP: the first non-empty key, nested pairs even in RESP2.
        zadd(&mut c, "m1", &[(1.0, "a"), (2.0, "b"), (3.0, "c")]);
        assert_eq!(
            q(&mut c, &["ZMPOP", "2", "nokey", "m1", "MAX", "COUNT", "2"]),
            arr(vec![
                bulk("m1"),
                arr(vec![
                    arr(vec![bulk("c"), bulk("3")]),
                    arr(vec![bulk("b"), bulk("2")])
                ])
            ])
        );
        assert_eq!(
            q(&mut c, &["ZMPOP", "1", "m1", "MIN"]),
            arr(vec![bulk("m1"), arr(vec![arr(vec![bulk("a"), bulk("1")])])])
        );
        assert_eq!(q(&mut c, &["EXISTS", "m1"]), int(0));
        assert_eq!(q(&mut c, &["ZMPOP", "2", "m1", "nokey", "MIN"]), Value::Nil);
        for (args, err) in [
            (
                &["ZMPOP", "0", "k", "MIN"][..],
                "ERR numkeys should be greater than 0",
            ),
            (
                &["ZMPOP", "x", "k", "MIN"],
                "ERR numkeys should be greater than 0",
            ),
            (&["ZMPOP", "1", "k", "FOO"], "ERR syntax error"),
            (&["ZMPOP", "2", "k", "MIN"], "ERR syntax error"),
            (
                &["ZMPOP", "1", "k", "MIN", "COUNT", "0"],
                "ERR count should be greater than 0",
            ),
            (
                &["ZMPOP", "1", "k", "MIN", "COUNT", "1", "COUNT", "2"],
                "ERR syntax error",
            ),
            (
                &["ZMPOP", "1", "k"],
                "ERR wrong number of arguments for 'zmpop' command",
            ),
        ] {
            assert_eq!(qerr(&mut c, args), err, "{args:?}");
        }
        assert_eq!(q(&mut c, &["SET", "s", "v"]), ok());
        assert_eq!(qerr(&mut c, &["ZPOPMIN", "s"]), WRONGTYPE);
        assert_eq!(qerr(&mut c, &["ZPOPMIN", "s", "0"]), WRONGTYPE);
        zadd(&mut c, "m2", &[(1.0, "a")]);
        assert_eq!(qerr(&mut c, &["ZMPOP", "2", "s", "m2", "MIN"]), WRONGTYPE);
        assert_eq!(q(&mut c, &["ZCARD", "m2"]), int(1));
    });
}

#[test]
fn zmpop_across_shards() {
    both(|s| {
        let mut c = s.conn();
        let keys = spread_keys("mp", 8);
        zadd(&mut c, &keys[5], &[(1.0, "x"), (2.0, "y")]);
        zadd(&mut c, &keys[7], &[(1.0, "z")]);
        let mut args = vec!["ZMPOP".to_string(), "8".to_string()];
        args.extend(keys.iter().cloned());
        args.push("MAX".into());
        let r: Value = q(&mut c, &args);
        assert_eq!(
            r,
            arr(vec![
                bulk(&keys[5]),
                arr(vec![arr(vec![bulk("y"), bulk("2")])])
            ])
        );
    });
}

#[test]
fn zrandmember_forms() {
    both(|s| {
        let mut c = s.conn();
        zadd(&mut c, "z", &[(1.0, "a"), (2.0, "b"), (3.0, "c")]);
        let one: String = qt(&mut c, &["ZRANDMEMBER", "z"]);
        assert!(["a", "b", "c"].contains(&one.as_str()));
        assert_eq!(q(&mut c, &["ZRANDMEMBER", "nokey"]), nil());
        assert_eq!(
            strs(&mut c, &["ZRANDMEMBER", "nokey", "3"]),
            Vec::<String>::new()
        );
        assert_eq!(
            strs(&mut c, &["ZRANDMEMBER", "z", "0"]),
            Vec::<String>::new()
        );
        // A count at least the size: the whole set, highest first.
        assert_eq!(
            strs(&mut c, &["ZRANDMEMBER", "z", "5", "WITHSCORES"]),
            ["c", "3", "b", "2", "a", "1"]
        );
        let two = strs(&mut c, &["ZRANDMEMBER", "z", "2"]);
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        let many = strs(&mut c, &["ZRANDMEMBER", "z", "-20", "WITHSCORES"]);
        assert_eq!(many.len(), 40);
        for p in many.chunks(2) {
            let want = match p[0].as_str() {
                "a" => "1",
                "b" => "2",
                _ => "3",
            };
            assert_eq!(p[1], want);
        }
        assert_eq!(
            qerr(&mut c, &["ZRANDMEMBER", "z", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            qerr(&mut c, &["ZRANDMEMBER", "z", "1", "foo"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["ZRANDMEMBER", "z", "-9223372036854775808"]),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(
            qerr(
                &mut c,
                &["ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES"]
            ),
            "ERR value is out of range"
        );
        assert_eq!(q(&mut c, &["SET", "s", "v"]), ok());
        assert_eq!(qerr(&mut c, &["ZRANDMEMBER", "s", "1"]), WRONGTYPE);
    });
}

#[test]
fn set_operations() {
    both(|s| {
        let mut c = s.conn();
        zadd(&mut c, "z1", &[(1.0, "a"), (2.0, "b"), (3.0, "c")]);
        zadd(&mut c, "z2", &[(10.0, "b"), (20.0, "c"), (30.0, "d")]);
        assert_eq!(
            strs(&mut c, &["ZUNION", "2", "z1", "z2", "WITHSCORES"]),
            ["a", "1", "b", "12", "c", "23", "d", "30"]
        );
        assert_eq!(
            strs(
                &mut c,
                &[
                    "ZUNION",
                    "2",
                    "z1",
                    "z2",
                    "WEIGHTS",
                    "2",
                    "1",
                    "AGGREGATE",
                    "MIN",
                    "WITHSCORES"
                ]
            ),
            ["a", "2", "b", "4", "c", "6", "d", "30"]
        );
        assert_eq!(
            strs(
                &mut c,
                &["ZINTER", "2", "z1", "z2", "AGGREGATE", "MAX", "WITHSCORES"]
            ),
            ["b", "10", "c", "20"]
        );
        assert_eq!(
            strs(&mut c, &["ZINTER", "3", "z1", "z2", "nokey"]),
            Vec::<String>::new()
        );
        assert_eq!(
            strs(&mut c, &["ZDIFF", "2", "z1", "z2", "WITHSCORES"]),
            ["a", "1"]
        );
        assert_eq!(
            strs(&mut c, &["ZDIFF", "2", "nokey", "z2"]),
            Vec::<String>::new()
        );
        // inf * 0 and inf + -inf count as 0.
        assert_eq!(
            strs(
                &mut c,
                &[
                    "ZUNION",
                    "2",
                    "z1",
                    "z2",
                    "WEIGHTS",
                    "inf",
                    "-inf",
                    "WITHSCORES"
                ]
            ),
            ["d", "-inf", "b", "0", "c", "0", "a", "inf"]
        );
        assert_eq!(q(&mut c, &["ZUNIONSTORE", "u", "2", "z1", "z2"]), int(4));
        assert_eq!(
            q(
                &mut c,
                &["ZINTERSTORE", "i", "2", "z1", "z2", "WEIGHTS", "1", "0"]
            ),
            int(2)
        );
        assert_eq!(
            strs(&mut c, &["ZRANGE", "i", "0", "-1", "WITHSCORES"]),
            ["b", "2", "c", "3"]
        );
        assert_eq!(q(&mut c, &["ZDIFFSTORE", "d", "2", "z2", "z1"]), int(1));
        assert_eq!(strs(&mut c, &["ZRANGE", "d", "0", "-1"]), ["d"]);
        assert_eq!(q(&mut c, &["ZDIFFSTORE", "d", "2", "z1", "z1"]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", "d"]), int(0));
        // The destination may be an input.
        assert_eq!(q(&mut c, &["ZUNIONSTORE", "z1", "2", "z1", "z1"]), int(3));
        assert_eq!(
            strs(&mut c, &["ZRANGE", "z1", "0", "-1", "WITHSCORES"]),
            ["a", "2", "b", "4", "c", "6"]
        );
        assert_eq!(q(&mut c, &["ZINTERCARD", "2", "z1", "z2"]), int(2));
        assert_eq!(
            q(&mut c, &["ZINTERCARD", "2", "z1", "z2", "LIMIT", "1"]),
            int(1)
        );
        assert_eq!(
            q(&mut c, &["ZINTERCARD", "2", "z1", "z2", "LIMIT", "0"]),
            int(2)
        );
        assert_eq!(q(&mut c, &["ZINTERCARD", "2", "z1", "nokey"]), int(0));
        assert_eq!(q(&mut c, &["SET", "s", "v"]), ok());
        for (args, err) in [
            (
                &["ZUNION", "0", "z1"][..],
                "ERR at least 1 input key is needed for 'zunion' command",
            ),
            (
                &["ZUNIONSTORE", "d", "-1", "z1"],
                "ERR at least 1 input key is needed for 'zunionstore' command",
            ),
            (
                &["ZINTERCARD", "0", "z1"],
                "ERR at least 1 input key is needed for 'zintercard' command",
            ),
            (
                &["ZUNION", "x", "z1"],
                "ERR value is not an integer or out of range",
            ),
            (&["ZUNION", "3", "z1", "z2"], "ERR syntax error"),
            (&["ZUNIONSTORE", "d", "1", "z1", "z2"], "ERR syntax error"),
            (
                &["ZUNION", "2", "z1", "z2", "WEIGHTS", "1"],
                "ERR syntax error",
            ),
            (
                &["ZUNION", "2", "z1", "z2", "WEIGHTS", "1", "x"],
                "ERR weight value is not a float",
            ),
            (
                &["ZUNION", "2", "z1", "z2", "AGGREGATE", "AVG"],
                "ERR syntax error",
            ),
            (
                &["ZUNIONSTORE", "d", "2", "z1", "z2", "WITHSCORES"],
                "ERR syntax error",
            ),
            (
                &["ZDIFF", "2", "z1", "z2", "WEIGHTS", "1", "1"],
                "ERR syntax error",
            ),
            (
                &["ZDIFF", "2", "z1", "z2", "AGGREGATE", "SUM"],
                "ERR syntax error",
            ),
            (
                &["ZINTERCARD", "2", "z1", "z2", "LIMIT", "-1"],
                "ERR LIMIT can't be negative",
            ),
            (
                &["ZINTERCARD", "2", "z1", "z2", "WITHSCORES"],
                "ERR syntax error",
            ),
            // Inputs are looked up before the options are read.
            (&["ZUNION", "2", "z1", "s", "WEIGHTS", "x", "y"], WRONGTYPE),
            (&["ZINTERSTORE", "d", "2", "nokey", "s"], WRONGTYPE),
            (&["ZINTERCARD", "2", "nokey", "s"], WRONGTYPE),
        ] {
            assert_eq!(qerr(&mut c, args), err, "{args:?}");
        }
    });
}

#[test]
fn store_commands_across_shards() {
    both(|s| {
        let mut c = s.conn();
        // Keys without hash tags: spread over the shards of a multi-shard server.
        let k = spread_keys("zx", 6);
        for (i, key) in k.iter().enumerate().take(4) {
            let pairs: Vec<(f64, String)> = (0..20)
                .map(|j| ((i * j) as f64, format!("m{}", j + i)))
                .collect();
            let pairs: Vec<(f64, &str)> = pairs.iter().map(|(s, m)| (*s, m.as_str())).collect();
            zadd(&mut c, key, &pairs);
        }
        let n: i64 = qt(
            &mut c,
            &["ZUNIONSTORE", &k[4], "4", &k[0], &k[1], &k[2], &k[3]],
        );
        assert_eq!(n, 23);
        let n: i64 = qt(
            &mut c,
            &[
                "ZINTERSTORE",
                &k[5],
                "4",
                &k[0],
                &k[1],
                &k[2],
                &k[3],
                "AGGREGATE",
                "MAX",
            ],
        );
        assert_eq!(n, 17);
        assert_eq!(
            strs(&mut c, &["ZRANGE", &k[5], "0", "1", "WITHSCORES"]),
            ["m3", "2", "m4", "4"]
        );
        let n: i64 = qt(&mut c, &["ZDIFFSTORE", &k[5], "2", &k[0], &k[3]]);
        assert_eq!(n, 3);
        assert_eq!(
            strs(&mut c, &["ZRANGE", &k[5], "0", "-1"]),
            ["m0", "m1", "m2"]
        );
        let n: i64 = qt(&mut c, &["ZINTERCARD", "3", &k[0], &k[1], &k[2]]);
        assert_eq!(n, 18);
        assert_eq!(
            strs(&mut c, &["ZINTER", "2", &k[0], &k[1], "WITHSCORES"])[..4],
            ["m1", "0", "m2", "1"]
        );
        let n: i64 = qt(
            &mut c,
            &[
                "ZRANGESTORE",
                &k[5],
                &k[2],
                "10",
                "+inf",
                "BYSCORE",
                "LIMIT",
                "0",
                "3",
            ],
        );
        assert_eq!(n, 3);
        assert_eq!(
            strs(&mut c, &["ZRANGE", &k[5], "0", "-1", "WITHSCORES"]),
            ["m7", "10", "m8", "12", "m9", "14"]
        );
        // An empty result deletes the destination wherever it lives.
        let n: i64 = qt(&mut c, &["ZINTERSTORE", &k[5], "2", &k[0], "nokey"]);
        assert_eq!(n, 0);
        assert_eq!(q(&mut c, &["EXISTS", &k[5]]), int(0));
        assert_eq!(q(&mut c, &["SET", &k[5], "v"]), ok());
        assert_eq!(
            qerr(&mut c, &["ZUNIONSTORE", &k[4], "2", &k[0], &k[5]]),
            WRONGTYPE
        );
        assert_eq!(
            qerr(&mut c, &["ZRANGESTORE", &k[4], &k[5], "0", "-1"]),
            WRONGTYPE
        );
        assert_eq!(q(&mut c, &["ZCARD", &k[4]]), int(23));
    });
}

#[test]
fn zscan_small_and_large() {
    both(|s| {
        let mut c = s.conn();
        zadd(&mut c, "small", &[(1.0, "a"), (2.5, "b"), (3.0, "ab")]);
        assert_eq!(
            q(&mut c, &["ZSCAN", "small", "0", "COUNT", "1"]),
            arr(vec![
                bulk("0"),
                arr(vec![
                    bulk("a"),
                    bulk("1"),
                    bulk("b"),
                    bulk("2.5"),
                    bulk("ab"),
                    bulk("3")
                ])
            ])
        );
        assert_eq!(
            q(&mut c, &["ZSCAN", "small", "0", "MATCH", "a*"]),
            arr(vec![
                bulk("0"),
                arr(vec![bulk("a"), bulk("1"), bulk("ab"), bulk("3")])
            ])
        );
        assert_eq!(
            q(&mut c, &["ZSCAN", "nokey", "0"]),
            arr(vec![bulk("0"), arr(vec![])])
        );
        let pairs: Vec<(f64, String)> = (0..500).map(|i| (i as f64, format!("m{i}"))).collect();
        let pairs: Vec<(f64, &str)> = pairs.iter().map(|(s, m)| (*s, m.as_str())).collect();
        zadd(&mut c, "big", &pairs);
        let mut seen = std::collections::HashMap::new();
        let mut cursor = "0".to_string();
        loop {
            let (next, items): (String, Vec<String>) =
                qt(&mut c, &["ZSCAN", "big", &cursor, "COUNT", "50"]);
            for p in items.chunks(2) {
                seen.insert(p[0].clone(), p[1].clone());
            }
            cursor = next;
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
        assert_eq!(seen["m42"], "42");
        assert_eq!(qerr(&mut c, &["ZSCAN", "big", "x"]), "ERR invalid cursor");
        assert_eq!(
            qerr(&mut c, &["ZSCAN", "big", "0", "COUNT", "0"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["ZSCAN", "big", "0", "TYPE", "zset"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["ZSCAN", "big", "0", "MATCH"]),
            "ERR syntax error"
        );
        assert_eq!(q(&mut c, &["SET", "s", "v"]), ok());
        assert_eq!(qerr(&mut c, &["ZSCAN", "s", "0"]), WRONGTYPE);
    });
}

#[test]
fn encodings_and_config() {
    both(|s| {
        let mut c = s.conn();
        zadd(&mut c, "z", &[(1.0, "a")]);
        assert_eq!(enc(&mut c, "z"), "listpack");
        assert_eq!(q(&mut c, &["TYPE", "z"]), status("zset"));
        let long = "x".repeat(65);
        zadd(&mut c, "z", &[(2.0, long.as_str())]);
        assert_eq!(enc(&mut c, "z"), "skiplist");
        // Never back by itself, even when small again.
        assert_eq!(q(&mut c, &["ZREM", "z", long.as_str()]), int(1));
        assert_eq!(enc(&mut c, "z"), "skiplist");
        let pairs: Vec<(f64, String)> = (0..129).map(|i| (i as f64, format!("m{i}"))).collect();
        let pairs: Vec<(f64, &str)> = pairs.iter().map(|(s, m)| (*s, m.as_str())).collect();
        zadd(&mut c, "n", &pairs[..128]);
        assert_eq!(enc(&mut c, "n"), "listpack");
        zadd(&mut c, "n", &pairs[128..]);
        assert_eq!(enc(&mut c, "n"), "skiplist");
        // Built results get the encoding their size calls for.
        assert_eq!(q(&mut c, &["ZRANGESTORE", "r", "n", "0", "9"]), int(10));
        assert_eq!(enc(&mut c, "r"), "listpack");
        assert_eq!(q(&mut c, &["ZUNIONSTORE", "u", "1", "n"]), int(129));
        assert_eq!(enc(&mut c, "u"), "skiplist");
        assert_eq!(q(&mut c, &["ZUNIONSTORE", "u", "1", "z"]), int(1));
        assert_eq!(enc(&mut c, "u"), "listpack");
        // Directives, aliases included.
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "zset-max-listpack-entries"]),
            arr(vec![bulk("zset-max-listpack-entries"), bulk("128")])
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "SET", "zset-max-ziplist-entries", "2"]),
            ok()
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "zset-max-listpack-entries"]),
            arr(vec![bulk("zset-max-listpack-entries"), bulk("2")])
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "SET", "zset-max-listpack-value", "1kb"]),
            ok()
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "zset-max-ziplist-value"]),
            arr(vec![bulk("zset-max-ziplist-value"), bulk("1024")])
        );
        zadd(&mut c, "t", &[(1.0, "a"), (2.0, "b")]);
        assert_eq!(enc(&mut c, "t"), "listpack");
        zadd(&mut c, "t", &[(3.0, "c")]);
        assert_eq!(enc(&mut c, "t"), "skiplist");
        assert_eq!(
            q(&mut c, &["CONFIG", "SET", "zset-max-listpack-entries", "0"]),
            ok()
        );
        zadd(&mut c, "e", &[(1.0, "a")]);
        assert_eq!(enc(&mut c, "e"), "skiplist");
        assert!(qerr(
            &mut c,
            &["CONFIG", "SET", "zset-max-listpack-entries", "-1"]
        )
        .contains("argument must be between 0 and 9223372036854775807 inclusive"));
        assert_eq!(
            q(
                &mut c,
                &["CONFIG", "SET", "zset-max-listpack-entries", "128"]
            ),
            ok()
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "SET", "zset-max-listpack-value", "64"]),
            ok()
        );
    });
}

#[test]
fn listpack_drops_the_sign_of_zero() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["ZADD", "p", "-0", "a"]), int(1));
        assert_eq!(q(&mut c, &["ZSCORE", "p", "a"]), bulk("0"));
        assert_eq!(
            q(&mut c, &["CONFIG", "SET", "zset-max-listpack-entries", "0"]),
            ok()
        );
        assert_eq!(q(&mut c, &["ZADD", "k", "-0", "a"]), int(1));
        assert_eq!(q(&mut c, &["ZSCORE", "k", "a"]), bulk("-0"));
        assert_eq!(
            q(
                &mut c,
                &["CONFIG", "SET", "zset-max-listpack-entries", "128"]
            ),
            ok()
        );
    });
}

#[test]
fn other_types_commands_refuse_zsets() {
    both(|s| {
        let mut c = s.conn();
        zadd(&mut c, "z", &[(1.0, "a")]);
        for cmd in [
            &["GET", "z"][..],
            &["APPEND", "z", "x"],
            &["INCR", "z"],
            &["STRLEN", "z"],
            &["GETRANGE", "z", "0", "1"],
            &["SETRANGE", "z", "0", "x"],
            &["GETDEL", "z"],
            &["BITCOUNT", "z"],
            &["SETBIT", "z", "0", "1"],
        ] {
            assert_eq!(qerr(&mut c, cmd), WRONGTYPE, "{cmd:?}");
        }
        assert_eq!(q(&mut c, &["MGET", "z"]), arr(vec![nil()]));
        assert_eq!(
            qerr(&mut c, &["LCS", "z", "z"]),
            "ERR The specified keys must contain string values"
        );
        // SET replaces whatever was there.
        assert_eq!(q(&mut c, &["SET", "z", "v"]), ok());
        assert_eq!(q(&mut c, &["TYPE", "z"]), status("string"));
    });
}

#[test]
fn dump_restore_round_trip() {
    both(|s| {
        let mut c = s.conn();
        let pairs: Vec<(f64, String)> = (0..200)
            .map(|i| (i as f64 / 7.0, format!("m{i}")))
            .collect();
        let pairs: Vec<(f64, &str)> = pairs.iter().map(|(s, m)| (*s, m.as_str())).collect();
        zadd(&mut c, "big", &pairs);
        zadd(&mut c, "small", &[(-1.5, "a"), (f64::INFINITY, "b")]);
        for (key, copy) in [("big", "big2"), ("small", "small2")] {
            let payload: Vec<u8> = qt(&mut c, &["DUMP", key]);
            let r: Value = q(&mut c, &[&b"RESTORE"[..], copy.as_bytes(), b"0", &payload]);
            assert_eq!(r, ok());
            let a: Vec<String> = qt(&mut c, &["ZRANGE", key, "0", "-1", "WITHSCORES"]);
            let b: Vec<String> = qt(&mut c, &["ZRANGE", copy, "0", "-1", "WITHSCORES"]);
            assert_eq!(a, b);
        }
        assert_eq!(enc(&mut c, "small2"), "listpack");
        assert_eq!(enc(&mut c, "big2"), "skiplist");
    });
}

#[test]
fn resp3_shapes() {
    both(|s| {
        let mut r = s.raw();
        let _ = r.roundtrip(&[b"HELLO", b"3"]);
        let rt = |r: &mut RawConn, args: &[&str]| {
            let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
            String::from_utf8_lossy(&r.roundtrip(&a)).into_owned()
        };
        assert_eq!(rt(&mut r, &["ZADD", "z", "1", "a", "2.5", "b"]), ":2\r\n");
        assert_eq!(rt(&mut r, &["ZSCORE", "z", "b"]), ",2.5\r\n");
        assert_eq!(rt(&mut r, &["ZSCORE", "z", "x"]), "_\r\n");
        assert_eq!(
            rt(&mut r, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
            "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n"
        );
        assert_eq!(rt(&mut r, &["ZMSCORE", "z", "a", "x"]), "*2\r\n,1\r\n_\r\n");
        assert_eq!(rt(&mut r, &["ZINCRBY", "z", "1", "a"]), ",2\r\n");
        assert_eq!(
            rt(&mut r, &["ZSCAN", "z", "0"]),
            "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$3\r\n2.5\r\n"
        );
        assert_eq!(rt(&mut r, &["ZPOPMIN", "z"]), "*2\r\n$1\r\na\r\n,2\r\n");
        assert_eq!(
            rt(&mut r, &["ZPOPMIN", "z", "1"]),
            "*1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n"
        );
        assert_eq!(rt(&mut r, &["ZMPOP", "1", "z", "MIN"]), "_\r\n");
        assert_eq!(rt(&mut r, &["ZADD", "z", "1", "a"]), ":1\r\n");
        assert_eq!(
            rt(&mut r, &["ZMPOP", "1", "z", "MIN"]),
            "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n,1\r\n"
        );
        assert_eq!(rt(&mut r, &["ZRANDMEMBER", "z"]), "_\r\n");
    });
}

/// Ranks, ranges and removals on a larger set checked against a sorted model.
#[test]
fn large_set_against_model() {
    both(|s| {
        let mut c = s.conn();
        let mut rng = 12345u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            rng >> 33
        };
        let mut model: std::collections::BTreeMap<String, i64> = Default::default();
        for _ in 0..6 {
            let mut args = vec!["ZADD".to_string(), "big".to_string()];
            for _ in 0..100 {
                let m = format!("m{}", next() % 400);
                let sc = (next() % 50) as i64 - 25;
                args.push(sc.to_string());
                args.push(m.clone());
                model.insert(m, sc);
            }
            let _: i64 = qt(&mut c, &args);
            let mut order: Vec<(i64, String)> =
                model.iter().map(|(m, s)| (*s, m.clone())).collect();
            order.sort();
            let all = strs(&mut c, &["ZRANGE", "big", "0", "-1"]);
            assert_eq!(
                all,
                order.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>()
            );
            for _ in 0..5 {
                let i = (next() as usize) % order.len();
                let rank: i64 = qt(&mut c, &["ZRANK", "big", &order[i].1]);
                assert_eq!(rank, i as i64);
                let lo = (next() % 50) as i64 - 25;
                let want: Vec<String> = order
                    .iter()
                    .filter(|(s, _)| *s > lo && *s <= lo + 5)
                    .map(|(_, m)| m.clone())
                    .collect();
                let got = strs(
                    &mut c,
                    &[
                        "ZRANGEBYSCORE",
                        "big",
                        &format!("({lo}"),
                        &(lo + 5).to_string(),
                    ],
                );
                assert_eq!(got, want);
            }
            // Remove a few by rank and by member.
            let n: i64 = qt(&mut c, &["ZREMRANGEBYRANK", "big", "10", "19"]);
            assert_eq!(n, 10);
            for (_, m) in &order[10..20] {
                model.remove(m);
            }
        }
        assert_eq!(enc(&mut c, "big"), "skiplist");
    });
}

#[test]
fn setops_take_plain_sets_scoring_one() {
    // Expected replies from redis-server 7.0.15; the keys land on different shards.
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["SADD", "s", "a", "b"]);
        q(&mut c, &["SADD", "si", "1", "2", "10"]);
        zadd(&mut c, "z", &[(1.0, "a"), (5.0, "c"), (2.0, "1")]);
        q(&mut c, &["SET", "str", "x"]);
        assert_eq!(
            strs(&mut c, &["ZUNION", "3", "z", "s", "si", "WITHSCORES"]),
            ["10", "1", "2", "1", "b", "1", "a", "2", "1", "3", "c", "5"]
        );
        assert_eq!(
            strs(
                &mut c,
                &["ZINTER", "2", "z", "s", "WEIGHTS", "2", "3", "WITHSCORES"]
            ),
            ["a", "5"]
        );
        assert_eq!(
            strs(
                &mut c,
                &["ZINTER", "2", "si", "z", "AGGREGATE", "MAX", "WITHSCORES"]
            ),
            ["1", "2"]
        );
        assert_eq!(
            strs(&mut c, &["ZDIFF", "2", "s", "z", "WITHSCORES"]),
            ["b", "1"]
        );
        assert_eq!(
            strs(&mut c, &["ZDIFF", "2", "z", "s", "WITHSCORES"]),
            ["1", "2", "c", "5"]
        );
        assert_eq!(q(&mut c, &["ZUNIONSTORE", "d", "2", "s", "si"]), int(5));
        assert_eq!(
            strs(&mut c, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
            ["1", "1", "10", "1", "2", "1", "a", "1", "b", "1"]
        );
        assert_eq!(q(&mut c, &["ZINTERCARD", "2", "s", "z"]), int(1));
        assert_eq!(q(&mut c, &["ZINTERSTORE", "d2", "2", "s", "si"]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", "d2"]), int(0));
        assert_eq!(q(&mut c, &["ZDIFFSTORE", "d3", "1", "si"]), int(3));
        assert_eq!(
            strs(&mut c, &["ZRANGE", "d3", "0", "-1", "WITHSCORES"]),
            ["1", "1", "10", "1", "2", "1"]
        );
        assert_eq!(enc(&mut c, "d3"), "listpack");
        assert_eq!(
            qerr(&mut c, &["ZUNION", "2", "z", "str"]),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
    });
}

/// ZUNION / ZINTER / ZDIFF (and their STORE forms, ZINTERCARD) read a plain set as a sorted
/// set whose members all score 1, as Redis does; only other types are WRONGTYPE. Keys with and
/// without a hash tag, so that the four-shard run covers both the one-shard and the cross-shard
/// paths.
#[test]
fn setops_accept_plain_sets() {
    both(|s| {
        let mut c = s.conn();
        for (z, set, other, dst) in [
            ("{t}z", "{t}set", "{t}str", "{t}dst"),
            ("zkey", "setkey", "strkey", "dstkey"),
        ] {
            zadd(&mut c, z, &[(1.0, "a"), (2.0, "b"), (3.0, "c")]);
            q(&mut c, &["SADD", set, "b", "c", "d", "10"]);
            q(&mut c, &["SET", other, "v"]);
            assert_eq!(
                q(
                    &mut c,
                    &["ZUNIONSTORE", dst, "2", set, z, "WEIGHTS", "2", "3"]
                ),
                int(5)
            );
            assert_eq!(
                strs(&mut c, &["ZRANGE", dst, "0", "-1", "WITHSCORES"]),
                ["10", "2", "d", "2", "a", "3", "b", "8", "c", "11"]
            );
            assert_eq!(
                strs(&mut c, &["ZINTER", "2", z, set, "WITHSCORES"]),
                ["b", "3", "c", "4"]
            );
            assert_eq!(strs(&mut c, &["ZDIFF", "2", set, z]), ["10", "d"]);
            assert_eq!(q(&mut c, &["ZINTERCARD", "2", set, z]), int(2));
            assert_eq!(q(&mut c, &["ZINTERSTORE", dst, "1", set]), int(4));
            assert_eq!(q(&mut c, &["TYPE", dst]), status("zset"));
            assert_eq!(
                strs(&mut c, &["ZUNION", "1", set, "WITHSCORES"]),
                ["10", "1", "b", "1", "c", "1", "d", "1"]
            );
            // The set itself is left as it was.
            assert_eq!(q(&mut c, &["TYPE", set]), status("set"));
            assert_eq!(q(&mut c, &["SCARD", set]), int(4));
            assert_eq!(qerr(&mut c, &["ZUNION", "2", z, other]), WRONGTYPE);
            assert_eq!(
                qerr(&mut c, &["ZINTERSTORE", dst, "2", set, other]),
                WRONGTYPE
            );
        }
    });
}
