//! List commands, checked against Redis 7.0.15 semantics (run with SHARDIS_TEST_SERVER=redis
//! to check the tests themselves against redis-server).

mod common;

use common::*;
use redis::Value;

fn bulks(items: &[&str]) -> Value {
    arr(items.iter().map(bulk).collect())
}

fn range(c: &mut redis::Connection, key: &str) -> Value {
    q(c, &["LRANGE", key, "0", "-1"])
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn push_pop_len() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["RPUSH", "l", "a", "b", "c"]), int(3));
        assert_eq!(q(&mut c, &["LPUSH", "l", "x", "y"]), int(5));
        assert_eq!(range(&mut c, "l"), bulks(&["y", "x", "a", "b", "c"]));
        assert_eq!(q(&mut c, &["LLEN", "l"]), int(5));
        assert_eq!(q(&mut c, &["LLEN", "nol"]), int(0));
        assert_eq!(q(&mut c, &["LPOP", "l"]), bulk("y"));
        assert_eq!(q(&mut c, &["RPOP", "l"]), bulk("c"));
        assert_eq!(q(&mut c, &["LPOP", "l", "2"]), bulks(&["x", "a"]));
        assert_eq!(q(&mut c, &["LPOP", "l", "0"]), arr(vec![]));
        assert_eq!(q(&mut c, &["RPOP", "l", "5"]), bulks(&["b"]));
        // The emptied list is gone.
        assert_eq!(q(&mut c, &["EXISTS", "l"]), int(0));
        assert_eq!(q(&mut c, &["LPOP", "l"]), nil());
        assert_eq!(q(&mut c, &["LPOP", "l", "2"]), nil());
        assert_eq!(q(&mut c, &["LPOP", "l", "0"]), nil());
        assert_eq!(
            qerr(&mut c, &["LPOP", "l", "-1"]),
            "ERR value is out of range, must be positive"
        );
        assert_eq!(
            qerr(&mut c, &["LPOP", "l", "x"]),
            "ERR value is out of range, must be positive"
        );
        assert_eq!(
            qerr(&mut c, &["LPOP", "l", "1", "2"]),
            "ERR wrong number of arguments for 'lpop' command"
        );
        assert_eq!(
            qerr(&mut c, &["LPUSH", "l"]),
            "ERR wrong number of arguments for 'lpush' command"
        );
        // PUSHX only on an existing list.
        assert_eq!(q(&mut c, &["LPUSHX", "l", "a"]), int(0));
        assert_eq!(q(&mut c, &["RPUSHX", "l", "a"]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", "l"]), int(0));
        q(&mut c, &["RPUSH", "l", "m"]);
        assert_eq!(q(&mut c, &["LPUSHX", "l", "a", "b"]), int(3));
        assert_eq!(q(&mut c, &["RPUSHX", "l", "z"]), int(4));
        assert_eq!(range(&mut c, "l"), bulks(&["b", "a", "m", "z"]));
        assert_eq!(q(&mut c, &["TYPE", "l"]), status("list"));
        assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "l"]), bulk("quicklist"));
    });
}

#[test]
fn wrongtype_everywhere() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["SET", "str", "x"]);
        q(&mut c, &["RPUSH", "l", "a"]);
        for args in [
            vec!["LPUSH", "str", "a"],
            vec!["RPUSH", "str", "a"],
            vec!["LPUSHX", "str", "a"],
            vec!["RPUSHX", "str", "a"],
            vec!["LPOP", "str"],
            vec!["RPOP", "str", "1"],
            vec!["LLEN", "str"],
            vec!["LRANGE", "str", "0", "1"],
            vec!["LINDEX", "str", "0"],
            vec!["LSET", "str", "0", "x"],
            vec!["LINSERT", "str", "BEFORE", "a", "x"],
            vec!["LREM", "str", "0", "a"],
            vec!["LTRIM", "str", "0", "1"],
            vec!["LPOS", "str", "a"],
            vec!["LMOVE", "str", "l", "LEFT", "LEFT"],
            vec!["LMOVE", "l", "str", "LEFT", "LEFT"],
            vec!["RPOPLPUSH", "str", "l"],
            vec!["LMPOP", "1", "str", "LEFT"],
        ] {
            assert_eq!(qerr(&mut c, &args), WRONGTYPE, "{args:?}");
        }
        // The failed LMOVE left the source alone.
        assert_eq!(range(&mut c, "l"), bulks(&["a"]));
        // String commands refuse lists.
        assert_eq!(qerr(&mut c, &["GET", "l"]), WRONGTYPE);
        assert_eq!(qerr(&mut c, &["APPEND", "l", "x"]), WRONGTYPE);
        assert_eq!(qerr(&mut c, &["INCR", "l"]), WRONGTYPE);
        assert_eq!(qerr(&mut c, &["STRLEN", "l"]), WRONGTYPE);
        assert_eq!(qerr(&mut c, &["SETRANGE", "l", "0", "x"]), WRONGTYPE);
        assert_eq!(qerr(&mut c, &["GETBIT", "l", "0"]), WRONGTYPE);
        assert_eq!(qerr(&mut c, &["BITCOUNT", "l"]), WRONGTYPE);
        // SET replaces whatever is there.
        assert_eq!(q(&mut c, &["SET", "l", "v"]), ok());
        assert_eq!(q(&mut c, &["GET", "l"]), bulk("v"));
    });
}

#[test]
fn lrange_lindex_lset() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["RPUSH", "l", "a", "b", "c", "d"]);
        assert_eq!(q(&mut c, &["LRANGE", "l", "1", "2"]), bulks(&["b", "c"]));
        assert_eq!(q(&mut c, &["LRANGE", "l", "-2", "-1"]), bulks(&["c", "d"]));
        assert_eq!(
            q(&mut c, &["LRANGE", "l", "-100", "100"]),
            bulks(&["a", "b", "c", "d"])
        );
        assert_eq!(q(&mut c, &["LRANGE", "l", "3", "1"]), arr(vec![]));
        assert_eq!(q(&mut c, &["LRANGE", "l", "5", "10"]), arr(vec![]));
        assert_eq!(q(&mut c, &["LRANGE", "nol", "0", "-1"]), arr(vec![]));
        assert_eq!(
            qerr(&mut c, &["LRANGE", "l", "a", "1"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(q(&mut c, &["LINDEX", "l", "0"]), bulk("a"));
        assert_eq!(q(&mut c, &["LINDEX", "l", "-1"]), bulk("d"));
        assert_eq!(q(&mut c, &["LINDEX", "l", "4"]), nil());
        assert_eq!(q(&mut c, &["LINDEX", "l", "-5"]), nil());
        assert_eq!(q(&mut c, &["LINDEX", "nol", "x"]), nil());
        assert_eq!(
            qerr(&mut c, &["LINDEX", "l", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(q(&mut c, &["LSET", "l", "1", "B"]), ok());
        assert_eq!(q(&mut c, &["LSET", "l", "-1", "D"]), ok());
        assert_eq!(range(&mut c, "l"), bulks(&["a", "B", "c", "D"]));
        assert_eq!(
            qerr(&mut c, &["LSET", "l", "4", "x"]),
            "ERR index out of range"
        );
        assert_eq!(qerr(&mut c, &["LSET", "nol", "0", "x"]), "ERR no such key");
        assert_eq!(
            qerr(&mut c, &["LSET", "l", "x", "x"]),
            "ERR value is not an integer or out of range"
        );
    });
}

#[test]
fn linsert_lrem_ltrim() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["RPUSH", "l", "a", "b", "a", "c", "a"]);
        assert_eq!(q(&mut c, &["LINSERT", "l", "BEFORE", "b", "x"]), int(6));
        assert_eq!(q(&mut c, &["LINSERT", "l", "after", "c", "y"]), int(7));
        assert_eq!(q(&mut c, &["LINSERT", "l", "AFTER", "zz", "y"]), int(-1));
        assert_eq!(q(&mut c, &["LINSERT", "nol", "AFTER", "a", "y"]), int(0));
        assert_eq!(
            qerr(&mut c, &["LINSERT", "l", "middle", "a", "y"]),
            "ERR syntax error"
        );
        assert_eq!(
            range(&mut c, "l"),
            bulks(&["a", "x", "b", "a", "c", "y", "a"])
        );
        assert_eq!(q(&mut c, &["LREM", "l", "-1", "a"]), int(1));
        assert_eq!(range(&mut c, "l"), bulks(&["a", "x", "b", "a", "c", "y"]));
        assert_eq!(q(&mut c, &["LREM", "l", "1", "a"]), int(1));
        assert_eq!(range(&mut c, "l"), bulks(&["x", "b", "a", "c", "y"]));
        q(&mut c, &["RPUSH", "l", "a", "a"]);
        assert_eq!(q(&mut c, &["LREM", "l", "0", "a"]), int(3));
        assert_eq!(q(&mut c, &["LREM", "l", "0", "zz"]), int(0));
        assert_eq!(q(&mut c, &["LREM", "nol", "0", "zz"]), int(0));
        assert_eq!(
            qerr(&mut c, &["LREM", "l", "x", "a"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(range(&mut c, "l"), bulks(&["x", "b", "c", "y"]));
        assert_eq!(q(&mut c, &["LTRIM", "l", "1", "-2"]), ok());
        assert_eq!(range(&mut c, "l"), bulks(&["b", "c"]));
        assert_eq!(q(&mut c, &["LTRIM", "nol", "1", "-2"]), ok());
        assert_eq!(
            qerr(&mut c, &["LTRIM", "l", "x", "1"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(q(&mut c, &["LTRIM", "l", "5", "10"]), ok());
        assert_eq!(q(&mut c, &["EXISTS", "l"]), int(0));
        q(&mut c, &["RPUSH", "l", "a"]);
        assert_eq!(q(&mut c, &["LREM", "l", "0", "a"]), int(1));
        assert_eq!(q(&mut c, &["EXISTS", "l"]), int(0));
    });
}

#[test]
fn lpos() {
    both(|s| {
        let mut c = s.conn();
        q(
            &mut c,
            &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"],
        );
        assert_eq!(q(&mut c, &["LPOS", "l", "c"]), int(2));
        assert_eq!(q(&mut c, &["LPOS", "l", "c", "RANK", "2"]), int(6));
        assert_eq!(q(&mut c, &["LPOS", "l", "c", "RANK", "-1"]), int(7));
        assert_eq!(q(&mut c, &["LPOS", "l", "c", "RANK", "-3"]), int(2));
        assert_eq!(q(&mut c, &["LPOS", "l", "c", "RANK", "4"]), nil());
        assert_eq!(
            q(&mut c, &["LPOS", "l", "c", "COUNT", "0"]),
            arr(vec![int(2), int(6), int(7)])
        );
        assert_eq!(
            q(&mut c, &["LPOS", "l", "c", "COUNT", "2", "RANK", "-1"]),
            arr(vec![int(7), int(6)])
        );
        assert_eq!(
            q(&mut c, &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"]),
            arr(vec![int(2), int(6)])
        );
        assert_eq!(q(&mut c, &["LPOS", "l", "zz", "COUNT", "1"]), arr(vec![]));
        assert_eq!(q(&mut c, &["LPOS", "l", "c", "MAXLEN", "2"]), nil());
        assert_eq!(q(&mut c, &["LPOS", "nol", "c"]), nil());
        assert_eq!(q(&mut c, &["LPOS", "nol", "c", "COUNT", "0"]), arr(vec![]));
        // Redis negates the rank unchecked: the most negative one matches the first hit from
        // the tail.
        assert_eq!(
            q(&mut c, &["LPOS", "l", "c", "RANK", "-9223372036854775808"]),
            int(7)
        );
        // And its COUNT test overflows: every match comes back, from the tail (found by the
        // differential test of list nodes).
        assert_eq!(
            q(
                &mut c,
                &[
                    "LPOS",
                    "l",
                    "c",
                    "RANK",
                    "-9223372036854775808",
                    "COUNT",
                    "1"
                ]
            ),
            arr(vec![int(7), int(6), int(2)])
        );
        assert!(
            qerr(&mut c, &["LPOS", "l", "c", "RANK", "0"]).starts_with("ERR RANK can't be zero")
        );
        assert_eq!(
            qerr(&mut c, &["LPOS", "l", "c", "COUNT", "-1"]),
            "ERR COUNT can't be negative"
        );
        assert_eq!(
            qerr(&mut c, &["LPOS", "l", "c", "MAXLEN", "-1"]),
            "ERR MAXLEN can't be negative"
        );
        assert_eq!(
            qerr(&mut c, &["LPOS", "l", "c", "RANK"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["LPOS", "l", "c", "FOO", "1"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["LPOS", "l", "c", "RANK", "x"]),
            "ERR value is not an integer or out of range"
        );
    });
}

#[test]
fn lmove_and_rpoplpush() {
    both(|s| {
        let mut c = s.conn();
        // Keys without hash tags: on four shards these usually live apart.
        let keys = spread_keys("lm", 6);
        let (a, b) = (keys[0].as_str(), keys[1].as_str());
        q(&mut c, &["RPUSH", a, "1", "2", "3"]);
        assert_eq!(q(&mut c, &["LMOVE", a, b, "LEFT", "RIGHT"]), bulk("1"));
        assert_eq!(q(&mut c, &["LMOVE", a, b, "right", "left"]), bulk("3"));
        assert_eq!(range(&mut c, b), bulks(&["3", "1"]));
        assert_eq!(q(&mut c, &["RPOPLPUSH", a, b]), bulk("2"));
        assert_eq!(q(&mut c, &["EXISTS", a]), int(0));
        assert_eq!(range(&mut c, b), bulks(&["2", "3", "1"]));
        assert_eq!(q(&mut c, &["LMOVE", a, b, "LEFT", "LEFT"]), nil());
        assert_eq!(q(&mut c, &["RPOPLPUSH", a, b]), nil());
        // Rotation within one list.
        assert_eq!(q(&mut c, &["RPOPLPUSH", b, b]), bulk("1"));
        assert_eq!(range(&mut c, b), bulks(&["1", "2", "3"]));
        assert_eq!(q(&mut c, &["LMOVE", b, b, "LEFT", "RIGHT"]), bulk("1"));
        assert_eq!(range(&mut c, b), bulks(&["2", "3", "1"]));
        assert_eq!(
            qerr(&mut c, &["LMOVE", b, a, "UP", "LEFT"]),
            "ERR syntax error"
        );
        // A missing source wins over a wrong-typed destination.
        q(&mut c, &["SET", keys[2].as_str(), "x"]);
        assert_eq!(
            q(&mut c, &["LMOVE", a, keys[2].as_str(), "LEFT", "LEFT"]),
            nil()
        );
        assert_eq!(
            qerr(&mut c, &["LMOVE", b, keys[2].as_str(), "LEFT", "LEFT"]),
            WRONGTYPE
        );
        assert_eq!(range(&mut c, b), bulks(&["2", "3", "1"]));
        // Move every element across, one by one, to several destinations.
        for (i, k) in keys[3..].iter().enumerate() {
            let v: Value = q(&mut c, &["LMOVE", b, k.as_str(), "RIGHT", "LEFT"]);
            assert_eq!(v, bulk(["1", "3", "2"][i]));
            assert_eq!(q(&mut c, &["LLEN", k.as_str()]), int(1));
        }
        assert_eq!(q(&mut c, &["EXISTS", b]), int(0));
    });
}

#[test]
fn lmpop() {
    both(|s| {
        let mut c = s.conn();
        let keys = spread_keys("mp", 4);
        let k: Vec<&str> = keys.iter().map(|s| s.as_str()).collect();
        assert_eq!(q(&mut c, &["LMPOP", "2", k[0], k[1], "LEFT"]), nil());
        q(&mut c, &["RPUSH", k[2], "a", "b", "c"]);
        q(&mut c, &["RPUSH", k[3], "x"]);
        assert_eq!(
            q(&mut c, &["LMPOP", "4", k[0], k[1], k[2], k[3], "LEFT"]),
            arr(vec![bulk(k[2]), bulks(&["a"])])
        );
        assert_eq!(
            q(
                &mut c,
                &["LMPOP", "3", k[0], k[2], k[3], "RIGHT", "COUNT", "5"]
            ),
            arr(vec![bulk(k[2]), bulks(&["c", "b"])])
        );
        assert_eq!(q(&mut c, &["EXISTS", k[2]]), int(0));
        assert_eq!(
            q(
                &mut c,
                &["LMPOP", "3", k[0], k[2], k[3], "RIGHT", "count", "2"]
            ),
            arr(vec![bulk(k[3]), bulks(&["x"])])
        );
        q(&mut c, &["SET", k[1], "s"]);
        q(&mut c, &["RPUSH", k[2], "a"]);
        assert_eq!(qerr(&mut c, &["LMPOP", "2", k[1], k[2], "LEFT"]), WRONGTYPE);
        for (args, err) in [
            (
                vec!["LMPOP", "0", k[0], "LEFT"],
                "ERR numkeys should be greater than 0",
            ),
            (
                vec!["LMPOP", "x", k[0], "LEFT"],
                "ERR numkeys should be greater than 0",
            ),
            (vec!["LMPOP", "1", k[0], "MIDDLE"], "ERR syntax error"),
            (vec!["LMPOP", "2", k[0], "LEFT"], "ERR syntax error"),
            (vec!["LMPOP", "5", k[0], "LEFT"], "ERR syntax error"),
            (
                vec!["LMPOP", "1", k[0], "LEFT", "COUNT", "0"],
                "ERR count should be greater than 0",
            ),
            (
                vec!["LMPOP", "1", k[0], "LEFT", "COUNT", "1", "COUNT", "1"],
                "ERR syntax error",
            ),
            (
                vec!["LMPOP", "1", k[0], "LEFT", "COUNT"],
                "ERR syntax error",
            ),
        ] {
            assert_eq!(qerr(&mut c, &args), err, "{args:?}");
        }
        assert_eq!(
            qerr(&mut c, &["LMPOP", "1", k[0]]),
            "ERR wrong number of arguments for 'lmpop' command"
        );
    });
}

#[test]
fn big_lists_and_config() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "list-max-listpack-size"]),
            bulks(&["list-max-listpack-size", "-2"])
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "list-max-ziplist-size"]),
            bulks(&["list-max-ziplist-size", "-2"])
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "SET", "list-max-ziplist-size", "4"]),
            ok()
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "list-max-listpack-size"]),
            bulks(&["list-max-listpack-size", "4"])
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "SET", "list-compress-depth", "1"]),
            ok()
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "list-compress-depth"]),
            bulks(&["list-compress-depth", "1"])
        );
        // Past the node size the list keeps working (and is still a quicklist in 7.0).
        let vals: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
        let mut args = vec!["RPUSH".to_string(), "big".to_string()];
        args.extend(vals.iter().cloned());
        assert_eq!(q(&mut c, &args), int(1000));
        let big = "x".repeat(10_000);
        assert_eq!(q(&mut c, &["LPUSH", "big", big.as_str()]), int(1001));
        assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "big"]), bulk("quicklist"));
        assert_eq!(q(&mut c, &["LINDEX", "big", "0"]), bulk(&big));
        assert_eq!(q(&mut c, &["LINDEX", "big", "500"]), bulk("v499"));
        assert_eq!(
            q(&mut c, &["LRANGE", "big", "-2", "-1"]),
            bulks(&["v998", "v999"])
        );
        assert_eq!(q(&mut c, &["LPOS", "big", "v700"]), int(701));
        assert_eq!(q(&mut c, &["LTRIM", "big", "1", "3"]), ok());
        assert_eq!(range(&mut c, "big"), bulks(&["v0", "v1", "v2"]));
    });
}
