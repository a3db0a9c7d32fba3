//! String, bit and LCS commands, checked against Redis 7.0.15 semantics.

mod common;

use common::*;
use redis::Value;

fn ttl(c: &mut redis::Connection, key: &str) -> i64 {
    qt(c, &["TTL", key])
}

fn pttl(c: &mut redis::Connection, key: &str) -> i64 {
    qt(c, &["PTTL", key])
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after epoch")
        .as_secs()
}

fn get(c: &mut redis::Connection, key: &str) -> Value {
    q(c, &["GET", key])
}

#[test]
fn get_set_basic() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(get(&mut c, "missing"), nil());
        assert_eq!(q(&mut c, &["SET", "k", "v1"]), ok());
        assert_eq!(get(&mut c, "k"), bulk("v1"));
        assert_eq!(q(&mut c, &["SET", "k", "v2"]), ok());
        assert_eq!(get(&mut c, "k"), bulk("v2"));
        assert_eq!(q(&mut c, &["SET", "empty", ""]), ok());
        assert_eq!(get(&mut c, "empty"), bulk(""));
        assert_eq!(
            qerr(&mut c, &["GET"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            qerr(&mut c, &["GET", "a", "b"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            qerr(&mut c, &["SET", "k"]),
            "ERR wrong number of arguments for 'set' command"
        );
        // Command names are case-insensitive.
        assert_eq!(q(&mut c, &["sEt", "lower", "x"]), ok());
        assert_eq!(q(&mut c, &["get", "lower"]), bulk("x"));
    });
}

#[test]
fn set_expire_options() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "k", "v", "EX", "100"]), ok());
        let t = ttl(&mut c, "k");
        assert!((99..=100).contains(&t), "ttl {t}");
        assert_eq!(q(&mut c, &["SET", "k", "v", "px", "100000"]), ok());
        let t = pttl(&mut c, "k");
        assert!((98_000..=100_000).contains(&t), "pttl {t}");
        let at = unix_secs() + 200;
        assert_eq!(q(&mut c, &["SET", "k", "v", "EXAT", &at.to_string()]), ok());
        let t = ttl(&mut c, "k");
        assert!((198..=200).contains(&t), "ttl {t}");
        let at_ms = (unix_secs() + 300) * 1000;
        assert_eq!(
            q(&mut c, &["SET", "k", "v", "PXAT", &at_ms.to_string()]),
            ok()
        );
        let t = ttl(&mut c, "k");
        assert!((298..=300).contains(&t), "ttl {t}");
        // SET without options clears the TTL.
        assert_eq!(q(&mut c, &["SET", "k", "v"]), ok());
        assert_eq!(ttl(&mut c, "k"), -1);
        // KEEPTTL keeps it.
        assert_eq!(q(&mut c, &["SET", "k", "v", "EX", "100"]), ok());
        assert_eq!(q(&mut c, &["SET", "k", "v2", "KEEPTTL"]), ok());
        let t = ttl(&mut c, "k");
        assert!((99..=100).contains(&t), "ttl {t}");
        assert_eq!(get(&mut c, "k"), bulk("v2"));
        // An EXAT in the past is accepted and the key is gone.
        assert_eq!(q(&mut c, &["SET", "past", "v", "EXAT", "1"]), ok());
        assert_eq!(get(&mut c, "past"), nil());
        assert_eq!(q(&mut c, &["SET", "past", "v", "PXAT", "1"]), ok());
        assert_eq!(q(&mut c, &["EXISTS", "past"]), int(0));
    });
}

#[test]
fn set_option_errors() {
    both(|s| {
        let mut c = s.conn();
        let syntax = "ERR syntax error";
        for args in [
            &["SET", "k", "v", "EX", "10", "PX", "100"][..],
            &["SET", "k", "v", "NX", "XX"],
            &["SET", "k", "v", "KEEPTTL", "EX", "10"],
            &["SET", "k", "v", "PX", "10", "KEEPTTL"],
            &["SET", "k", "v", "EXAT", "10", "PXAT", "10"],
            &["SET", "k", "v", "EX"],
            &["SET", "k", "v", "FOO"],
        ] {
            assert_eq!(qerr(&mut c, args), syntax, "{args:?}");
        }
        let invalid = "ERR invalid expire time in 'set' command";
        for args in [
            &["SET", "k", "v", "EX", "0"][..],
            &["SET", "k", "v", "EX", "-1"],
            &["SET", "k", "v", "PX", "0"],
            &["SET", "k", "v", "EXAT", "0"],
            &["SET", "k", "v", "PXAT", "-5"],
            &["SET", "k", "v", "PX", "9223372036854775807"],
            &["SET", "k", "v", "EX", "9223372036854775"],
        ] {
            assert_eq!(qerr(&mut c, args), invalid, "{args:?}");
        }
        assert_eq!(
            qerr(&mut c, &["SET", "k", "v", "EX", "abc"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            qerr(&mut c, &["SET", "k", "v", "EX", "1.5"]),
            "ERR value is not an integer or out of range"
        );
        // None of the failed commands created the key.
        assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
        // Repeating the same option is accepted; the last value wins.
        assert_eq!(q(&mut c, &["SET", "k", "v", "EX", "10", "EX", "100"]), ok());
        let t = ttl(&mut c, "k");
        assert!((99..=100).contains(&t), "ttl {t}");
        assert_eq!(q(&mut c, &["SET", "k", "v", "NX", "NX"]), nil());
    });
}

#[test]
fn set_nx_xx_get() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "k", "a", "XX"]), nil());
        assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
        assert_eq!(q(&mut c, &["SET", "k", "a", "NX"]), ok());
        assert_eq!(q(&mut c, &["SET", "k", "b", "NX"]), nil());
        assert_eq!(get(&mut c, "k"), bulk("a"));
        assert_eq!(q(&mut c, &["SET", "k", "b", "XX"]), ok());
        assert_eq!(get(&mut c, "k"), bulk("b"));
        // GET returns the old value (nil when absent).
        assert_eq!(q(&mut c, &["SET", "g", "1", "GET"]), nil());
        assert_eq!(q(&mut c, &["SET", "g", "2", "GET"]), bulk("1"));
        assert_eq!(get(&mut c, "g"), bulk("2"));
        // NX + GET is allowed since 7.0: returns the old value, does not set.
        assert_eq!(q(&mut c, &["SET", "g", "3", "NX", "GET"]), bulk("2"));
        assert_eq!(get(&mut c, "g"), bulk("2"));
        assert_eq!(q(&mut c, &["SET", "g2", "3", "NX", "GET"]), nil());
        assert_eq!(get(&mut c, "g2"), bulk("3"));
        // XX + GET on a missing key: nil and not set.
        assert_eq!(q(&mut c, &["SET", "g3", "x", "XX", "GET"]), nil());
        assert_eq!(q(&mut c, &["EXISTS", "g3"]), int(0));
        assert_eq!(
            q(&mut c, &["SET", "g", "4", "XX", "GET", "EX", "100"]),
            bulk("2")
        );
        let t = ttl(&mut c, "g");
        assert!((99..=100).contains(&t), "ttl {t}");
    });
}

#[test]
fn setnx_setex_psetex() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SETNX", "k", "a"]), int(1));
        assert_eq!(q(&mut c, &["SETNX", "k", "b"]), int(0));
        assert_eq!(get(&mut c, "k"), bulk("a"));
        assert_eq!(q(&mut c, &["SETEX", "k", "100", "b"]), ok());
        assert_eq!(get(&mut c, "k"), bulk("b"));
        let t = ttl(&mut c, "k");
        assert!((99..=100).contains(&t), "ttl {t}");
        assert_eq!(q(&mut c, &["PSETEX", "p", "100000", "c"]), ok());
        let t = pttl(&mut c, "p");
        assert!((98_000..=100_000).contains(&t), "pttl {t}");
        assert_eq!(get(&mut c, "p"), bulk("c"));
        assert_eq!(
            qerr(&mut c, &["SETEX", "k", "0", "v"]),
            "ERR invalid expire time in 'setex' command"
        );
        assert_eq!(
            qerr(&mut c, &["SETEX", "k", "-5", "v"]),
            "ERR invalid expire time in 'setex' command"
        );
        assert_eq!(
            qerr(&mut c, &["PSETEX", "k", "0", "v"]),
            "ERR invalid expire time in 'psetex' command"
        );
        assert_eq!(
            qerr(&mut c, &["SETEX", "k", "x", "v"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            qerr(&mut c, &["SETEX", "k", "10"]),
            "ERR wrong number of arguments for 'setex' command"
        );
        assert_eq!(
            qerr(&mut c, &["SETNX", "k"]),
            "ERR wrong number of arguments for 'setnx' command"
        );
        // Failed SETEX left the old value and TTL alone.
        assert_eq!(get(&mut c, "k"), bulk("b"));
    });
}

#[test]
fn getset_getdel() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["GETSET", "k", "a"]), nil());
        assert_eq!(q(&mut c, &["GETSET", "k", "b"]), bulk("a"));
        assert_eq!(get(&mut c, "k"), bulk("b"));
        // GETSET clears the TTL.
        assert_eq!(q(&mut c, &["EXPIRE", "k", "100"]), int(1));
        assert_eq!(q(&mut c, &["GETSET", "k", "c"]), bulk("b"));
        assert_eq!(ttl(&mut c, "k"), -1);
        assert_eq!(q(&mut c, &["GETDEL", "k"]), bulk("c"));
        assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
        assert_eq!(q(&mut c, &["GETDEL", "k"]), nil());
        assert_eq!(
            qerr(&mut c, &["GETDEL", "a", "b"]),
            "ERR wrong number of arguments for 'getdel' command"
        );
    });
}

#[test]
fn getex() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["GETEX", "nokey", "EX", "10"]), nil());
        assert_eq!(q(&mut c, &["EXISTS", "nokey"]), int(0));
        assert_eq!(q(&mut c, &["SET", "k", "v"]), ok());
        assert_eq!(q(&mut c, &["GETEX", "k"]), bulk("v"));
        assert_eq!(ttl(&mut c, "k"), -1);
        assert_eq!(q(&mut c, &["GETEX", "k", "EX", "100"]), bulk("v"));
        let t = ttl(&mut c, "k");
        assert!((99..=100).contains(&t), "ttl {t}");
        assert_eq!(q(&mut c, &["GETEX", "k", "PX", "200000"]), bulk("v"));
        let t = ttl(&mut c, "k");
        assert!((198..=200).contains(&t), "ttl {t}");
        let at = unix_secs() + 300;
        assert_eq!(
            q(&mut c, &["GETEX", "k", "EXAT", &at.to_string()]),
            bulk("v")
        );
        let t = ttl(&mut c, "k");
        assert!((298..=300).contains(&t), "ttl {t}");
        let at_ms = (unix_secs() + 400) * 1000;
        assert_eq!(
            q(&mut c, &["GETEX", "k", "PXAT", &at_ms.to_string()]),
            bulk("v")
        );
        let t = ttl(&mut c, "k");
        assert!((398..=400).contains(&t), "ttl {t}");
        assert_eq!(q(&mut c, &["GETEX", "k", "PERSIST"]), bulk("v"));
        assert_eq!(ttl(&mut c, "k"), -1);
        // Errors.
        let syntax = "ERR syntax error";
        assert_eq!(qerr(&mut c, &["GETEX", "k", "PERSIST", "EX", "10"]), syntax);
        assert_eq!(
            qerr(&mut c, &["GETEX", "k", "EX", "10", "PX", "10"]),
            syntax
        );
        assert_eq!(qerr(&mut c, &["GETEX", "k", "FOO"]), syntax);
        assert_eq!(qerr(&mut c, &["GETEX", "k", "EX"]), syntax);
        assert_eq!(
            qerr(&mut c, &["GETEX", "k", "EX", "0"]),
            "ERR invalid expire time in 'getex' command"
        );
        assert_eq!(
            qerr(&mut c, &["GETEX", "k", "EXAT", "0"]),
            "ERR invalid expire time in 'getex' command"
        );
        assert_eq!(
            qerr(&mut c, &["GETEX", "k", "PX", "abc"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(ttl(&mut c, "k"), -1);
        // An absolute time in the past deletes the key but returns the value.
        assert_eq!(q(&mut c, &["GETEX", "k", "PXAT", "1"]), bulk("v"));
        assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
    });
}

#[test]
fn mget_mset_msetnx() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["MSET", "a", "1", "b", "2", "c", "3"]), ok());
        assert_eq!(
            q(&mut c, &["MGET", "a", "nope", "b", "c", "a"]),
            arr(vec![bulk("1"), nil(), bulk("2"), bulk("3"), bulk("1")])
        );
        // Last value wins for a repeated key.
        assert_eq!(q(&mut c, &["MSET", "d", "x", "d", "y"]), ok());
        assert_eq!(get(&mut c, "d"), bulk("y"));
        assert_eq!(
            qerr(&mut c, &["MSET", "a", "1", "b"]),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            qerr(&mut c, &["MSET"]),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            qerr(&mut c, &["MGET"]),
            "ERR wrong number of arguments for 'mget' command"
        );
        assert_eq!(
            qerr(&mut c, &["MSETNX", "x", "1", "y"]),
            "ERR wrong number of arguments for 'msetnx' command"
        );
        // MSETNX is all or nothing.
        assert_eq!(q(&mut c, &["MSETNX", "x", "1", "a", "9"]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", "x"]), int(0));
        assert_eq!(get(&mut c, "a"), bulk("1"));
        assert_eq!(q(&mut c, &["MSETNX", "x", "1", "y", "2"]), int(1));
        assert_eq!(
            q(&mut c, &["MGET", "x", "y"]),
            arr(vec![bulk("1"), bulk("2")])
        );
        // MSET clears TTLs.
        assert_eq!(q(&mut c, &["EXPIRE", "x", "100"]), int(1));
        assert_eq!(q(&mut c, &["MSET", "x", "2"]), ok());
        assert_eq!(ttl(&mut c, "x"), -1);
    });
}

#[test]
fn mset_mget_many_slots() {
    both(|s| {
        let mut c = s.conn();
        let keys = spread_keys("mk", 100);
        let mut args = vec!["MSET".to_string()];
        for (i, k) in keys.iter().enumerate() {
            args.push(k.clone());
            args.push(format!("val-{i}"));
        }
        assert_eq!(q(&mut c, &args), ok());
        let mut mget = vec!["MGET".to_string()];
        mget.extend(keys.iter().cloned());
        mget.push("missing-key".to_string());
        let expected: Vec<Value> = (0..100)
            .map(|i| bulk(format!("val-{i}")))
            .chain(std::iter::once(nil()))
            .collect();
        assert_eq!(q(&mut c, &mget), arr(expected));
        // MSETNX across slots: one existing key blocks all of them.
        let mut msetnx = vec!["MSETNX".to_string()];
        for i in 0..50 {
            msetnx.push(format!("fresh:{i}"));
            msetnx.push(i.to_string());
        }
        msetnx.push(keys[77].clone());
        msetnx.push("clobber".into());
        assert_eq!(q(&mut c, &msetnx), int(0));
        for i in 0..50 {
            assert_eq!(q(&mut c, &["EXISTS", &format!("fresh:{i}")]), int(0));
        }
        assert_eq!(get(&mut c, &keys[77]), bulk("val-77"));
        msetnx.truncate(msetnx.len() - 2);
        assert_eq!(q(&mut c, &msetnx), int(1));
        let mut mget = vec!["MGET".to_string()];
        mget.extend((0..50).map(|i| format!("fresh:{i}")));
        let expected: Vec<Value> = (0..50).map(|i| bulk(i.to_string())).collect();
        assert_eq!(q(&mut c, &mget), arr(expected));
        assert_eq!(q(&mut c, &["DBSIZE"]), int(150));
    });
}

#[test]
fn append_strlen() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["STRLEN", "k"]), int(0));
        assert_eq!(q(&mut c, &["APPEND", "k", "Hello"]), int(5));
        assert_eq!(q(&mut c, &["APPEND", "k", " World"]), int(11));
        assert_eq!(get(&mut c, "k"), bulk("Hello World"));
        assert_eq!(q(&mut c, &["STRLEN", "k"]), int(11));
        // APPEND of an empty string creates an empty key.
        assert_eq!(q(&mut c, &["APPEND", "e", ""]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", "e"]), int(1));
        // Integer-encoded values append as text.
        assert_eq!(q(&mut c, &["SET", "n", "123"]), ok());
        assert_eq!(q(&mut c, &["APPEND", "n", "45"]), int(5));
        assert_eq!(q(&mut c, &["INCR", "n"]), int(12346));
        assert_eq!(q(&mut c, &["STRLEN", "n"]), int(5));
        // APPEND keeps the TTL.
        assert_eq!(q(&mut c, &["EXPIRE", "k", "100"]), int(1));
        assert_eq!(q(&mut c, &["APPEND", "k", "!"]), int(12));
        assert!(ttl(&mut c, "k") > 0);
    });
}

#[test]
fn getrange_substr() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "g", "Hello World"]), ok());
        let cases: &[(&str, &str, &str)] = &[
            ("0", "-1", "Hello World"),
            ("0", "4", "Hello"),
            ("-3", "-1", "rld"),
            ("5", "2", ""),
            ("100", "200", ""),
            ("-100", "2", "Hel"),
            ("6", "100", "World"),
            ("0", "9223372036854775807", "Hello World"),
            ("-1", "-5", ""),
            ("-1", "-1", "d"),
            // Redis 7.0 quirk: both ends negative beyond the start clamp to 0.
            ("-100", "-50", "H"),
        ];
        for (start, end, want) in cases {
            assert_eq!(
                q(&mut c, &["GETRANGE", "g", start, end]),
                bulk(want),
                "GETRANGE g {start} {end}"
            );
        }
        assert_eq!(q(&mut c, &["SUBSTR", "g", "0", "4"]), bulk("Hello"));
        assert_eq!(q(&mut c, &["GETRANGE", "missing", "0", "-1"]), bulk(""));
        assert_eq!(q(&mut c, &["SET", "e", ""]), ok());
        assert_eq!(q(&mut c, &["GETRANGE", "e", "0", "-1"]), bulk(""));
        assert_eq!(
            qerr(&mut c, &["GETRANGE", "g", "a", "1"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            qerr(&mut c, &["GETRANGE", "g", "1"]),
            "ERR wrong number of arguments for 'getrange' command"
        );
        // Integer-encoded values.
        assert_eq!(q(&mut c, &["SET", "n", "-12345"]), ok());
        assert_eq!(q(&mut c, &["GETRANGE", "n", "1", "3"]), bulk("123"));
    });
}

#[test]
fn setrange() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "k", "Hello World"]), ok());
        assert_eq!(q(&mut c, &["SETRANGE", "k", "6", "Redis"]), int(11));
        assert_eq!(get(&mut c, "k"), bulk("Hello Redis"));
        assert_eq!(q(&mut c, &["SETRANGE", "k", "9", "xyz"]), int(12));
        assert_eq!(get(&mut c, "k"), bulk("Hello Redxyz"));
        // Padding with zero bytes, on a new key.
        assert_eq!(q(&mut c, &["SETRANGE", "p", "5", "ab"]), int(7));
        assert_eq!(get(&mut c, "p"), bulk(b"\0\0\0\0\0ab"));
        // Empty value: returns current length, creates nothing.
        assert_eq!(q(&mut c, &["SETRANGE", "none", "5", ""]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", "none"]), int(0));
        assert_eq!(q(&mut c, &["SETRANGE", "none", "536870912", ""]), int(0));
        assert_eq!(q(&mut c, &["SETRANGE", "k", "100", ""]), int(12));
        assert_eq!(get(&mut c, "k"), bulk("Hello Redxyz"));
        assert_eq!(
            qerr(&mut c, &["SETRANGE", "k", "-1", "x"]),
            "ERR offset is out of range"
        );
        assert_eq!(
            qerr(&mut c, &["SETRANGE", "k", "536870912", "x"]),
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
        );
        assert_eq!(
            qerr(&mut c, &["SETRANGE", "k", "536870911", "xy"]),
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
        );
        assert_eq!(
            qerr(&mut c, &["SETRANGE", "k", "x", "x"]),
            "ERR value is not an integer or out of range"
        );
        // Integer-encoded value.
        assert_eq!(q(&mut c, &["SET", "n", "1234"]), ok());
        assert_eq!(q(&mut c, &["SETRANGE", "n", "1", "9"]), int(4));
        assert_eq!(get(&mut c, "n"), bulk("1934"));
        // Keeps the TTL.
        assert_eq!(q(&mut c, &["EXPIRE", "n", "100"]), int(1));
        assert_eq!(q(&mut c, &["SETRANGE", "n", "0", "0"]), int(4));
        assert!(ttl(&mut c, "n") > 0);
    });
}

#[test]
fn incr_decr() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["INCR", "n"]), int(1));
        assert_eq!(q(&mut c, &["INCR", "n"]), int(2));
        assert_eq!(q(&mut c, &["DECR", "n"]), int(1));
        assert_eq!(q(&mut c, &["INCRBY", "n", "10"]), int(11));
        assert_eq!(q(&mut c, &["INCRBY", "n", "-20"]), int(-9));
        assert_eq!(q(&mut c, &["DECRBY", "n", "-9"]), int(0));
        assert_eq!(q(&mut c, &["DECRBY", "m", "5"]), int(-5));
        assert_eq!(get(&mut c, "m"), bulk("-5"));
        assert_eq!(q(&mut c, &["SET", "n", "100"]), ok());
        assert_eq!(q(&mut c, &["EXPIRE", "n", "100"]), int(1));
        assert_eq!(q(&mut c, &["INCR", "n"]), int(101));
        assert!(ttl(&mut c, "n") > 0, "INCR keeps the TTL");

        let not_int = "ERR value is not an integer or out of range";
        for v in [
            "abc",
            "01",
            " 1",
            "1 ",
            "+1",
            "1.0",
            "",
            "9223372036854775808",
            "0x10",
        ] {
            assert_eq!(q(&mut c, &["SET", "bad", v]), ok());
            assert_eq!(qerr(&mut c, &["INCR", "bad"]), not_int, "value {v:?}");
        }
        assert_eq!(get(&mut c, "bad"), bulk("0x10"));
        assert_eq!(qerr(&mut c, &["INCRBY", "n", "abc"]), not_int);
        assert_eq!(qerr(&mut c, &["INCRBY", "n", "1.5"]), not_int);
        assert_eq!(qerr(&mut c, &["DECRBY", "n", "x"]), not_int);

        let overflow = "ERR increment or decrement would overflow";
        assert_eq!(q(&mut c, &["SET", "max", "9223372036854775807"]), ok());
        assert_eq!(qerr(&mut c, &["INCR", "max"]), overflow);
        assert_eq!(qerr(&mut c, &["INCRBY", "max", "1"]), overflow);
        assert_eq!(q(&mut c, &["DECR", "max"]), int(9223372036854775806));
        assert_eq!(
            qerr(&mut c, &["DECRBY", "max", "-9223372036854775808"]),
            "ERR decrement would overflow"
        );
        assert_eq!(q(&mut c, &["SET", "min", "-9223372036854775808"]), ok());
        assert_eq!(qerr(&mut c, &["DECR", "min"]), overflow);
        assert_eq!(qerr(&mut c, &["DECRBY", "min", "1"]), overflow);
        assert_eq!(qerr(&mut c, &["INCRBY", "min", "-1"]), overflow);
        assert_eq!(get(&mut c, "min"), bulk("-9223372036854775808"));
        assert_eq!(
            q(&mut c, &["INCRBY", "min", "9223372036854775807"]),
            int(-1)
        );
        assert_eq!(
            qerr(&mut c, &["INCR", "a", "b"]),
            "ERR wrong number of arguments for 'incr' command"
        );
    });
}

#[test]
fn incrbyfloat() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "f", "10.50"]), ok());
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "f", "-5"]), bulk("5.6"));
        assert_eq!(q(&mut c, &["SET", "f", "5.0e3"]), ok());
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "f", "0"]), bulk("5000"));
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "f", "2.0e2"]), bulk("5200"));
        assert_eq!(get(&mut c, "f"), bulk("5200"));
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "new", "3"]), bulk("3"));
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "new", "-3"]), bulk("0"));
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "new", "1.5e-3"]), bulk("0.0015"));
        assert_eq!(
            q(&mut c, &["INCRBYFLOAT", "big", "1e20"]),
            bulk("100000000000000000000")
        );
        assert_eq!(q(&mut c, &["SET", "i", "7"]), ok());
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "i", "0.5"]), bulk("7.5"));
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "i", "-10"]), bulk("-2.5"));

        let not_float = "ERR value is not a valid float";
        assert_eq!(qerr(&mut c, &["INCRBYFLOAT", "f", "abc"]), not_float);
        assert_eq!(qerr(&mut c, &["INCRBYFLOAT", "f", "nan"]), not_float);
        assert_eq!(qerr(&mut c, &["INCRBYFLOAT", "f", " 1"]), not_float);
        assert_eq!(qerr(&mut c, &["INCRBYFLOAT", "f", ""]), not_float);
        assert_eq!(q(&mut c, &["SET", "s", "abc"]), ok());
        assert_eq!(qerr(&mut c, &["INCRBYFLOAT", "s", "1"]), not_float);
        assert_eq!(
            qerr(&mut c, &["INCRBYFLOAT", "f", "inf"]),
            "ERR increment would produce NaN or Infinity"
        );
        assert_eq!(get(&mut c, "f"), bulk("5200"));
        assert_eq!(
            qerr(&mut c, &["INCRBYFLOAT", "f"]),
            "ERR wrong number of arguments for 'incrbyfloat' command"
        );
    });
}

/// Redis computes INCRBYFLOAT in `long double` and prints 17 significant
/// digits, so sums that are inexact in binary64 still come out short.
#[test]
fn incrbyfloat_long_double_formatting() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "f", "1.1"]), ok());
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "f", "2.2"]), bulk("3.3"));
        assert_eq!(q(&mut c, &["SET", "g", "0.1"]), ok());
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "g", "0.2"]), bulk("0.3"));
    });
}

#[test]
fn lcs() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(
            q(&mut c, &["MSET", "a", "ohmytext", "b", "mynewtext"]),
            ok()
        );
        assert_eq!(q(&mut c, &["LCS", "a", "b"]), bulk("mytext"));
        assert_eq!(q(&mut c, &["LCS", "a", "b", "LEN"]), int(6));
        let m = |a: (i64, i64), b: (i64, i64)| {
            arr(vec![
                arr(vec![int(a.0), int(a.1)]),
                arr(vec![int(b.0), int(b.1)]),
            ])
        };
        assert_eq!(
            q(&mut c, &["LCS", "a", "b", "IDX"]),
            arr(vec![
                bulk("matches"),
                arr(vec![m((4, 7), (5, 8)), m((2, 3), (0, 1))]),
                bulk("len"),
                int(6),
            ])
        );
        assert_eq!(
            q(&mut c, &["LCS", "a", "b", "IDX", "MINMATCHLEN", "4"]),
            arr(vec![
                bulk("matches"),
                arr(vec![m((4, 7), (5, 8))]),
                bulk("len"),
                int(6),
            ])
        );
        assert_eq!(
            q(
                &mut c,
                &["LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]
            ),
            arr(vec![
                bulk("matches"),
                arr(vec![arr(vec![
                    arr(vec![int(4), int(7)]),
                    arr(vec![int(5), int(8)]),
                    int(4),
                ])]),
                bulk("len"),
                int(6),
            ])
        );
        assert_eq!(
            q(&mut c, &["LCS", "a", "b", "IDX", "WITHMATCHLEN"]),
            arr(vec![
                bulk("matches"),
                arr(vec![
                    arr(vec![
                        arr(vec![int(4), int(7)]),
                        arr(vec![int(5), int(8)]),
                        int(4)
                    ]),
                    arr(vec![
                        arr(vec![int(2), int(3)]),
                        arr(vec![int(0), int(1)]),
                        int(2)
                    ]),
                ]),
                bulk("len"),
                int(6),
            ])
        );
        // A negative MINMATCHLEN is treated as 0.
        assert_eq!(
            q(&mut c, &["LCS", "a", "b", "IDX", "MINMATCHLEN", "-1"]),
            q(&mut c, &["LCS", "a", "b", "IDX"])
        );
        // Missing keys behave as empty strings.
        assert_eq!(q(&mut c, &["LCS", "nx1", "nx2"]), bulk(""));
        assert_eq!(q(&mut c, &["LCS", "a", "nx2", "LEN"]), int(0));
        assert_eq!(
            q(&mut c, &["LCS", "a", "nx2", "IDX"]),
            arr(vec![bulk("matches"), arr(vec![]), bulk("len"), int(0)])
        );
        assert_eq!(
            qerr(&mut c, &["LCS", "a", "b", "LEN", "IDX"]),
            "ERR If you want both the length and indexes, please just use IDX."
        );
        assert_eq!(qerr(&mut c, &["LCS", "a", "b", "FOO"]), "ERR syntax error");
        assert_eq!(
            qerr(&mut c, &["LCS", "a", "b", "IDX", "MINMATCHLEN"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["LCS", "a"]),
            "ERR wrong number of arguments for 'lcs' command"
        );
    });
}

#[test]
fn setbit_getbit() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["GETBIT", "b", "0"]), int(0));
        assert_eq!(q(&mut c, &["SETBIT", "b", "7", "1"]), int(0));
        assert_eq!(get(&mut c, "b"), bulk([1u8]));
        assert_eq!(q(&mut c, &["SETBIT", "b", "7", "1"]), int(1));
        assert_eq!(q(&mut c, &["SETBIT", "b", "0", "1"]), int(0));
        assert_eq!(get(&mut c, "b"), bulk([0x81u8]));
        assert_eq!(q(&mut c, &["GETBIT", "b", "0"]), int(1));
        assert_eq!(q(&mut c, &["GETBIT", "b", "1"]), int(0));
        assert_eq!(q(&mut c, &["GETBIT", "b", "1000"]), int(0));
        assert_eq!(q(&mut c, &["SETBIT", "b", "23", "1"]), int(0));
        assert_eq!(get(&mut c, "b"), bulk([0x81u8, 0, 1]));
        assert_eq!(q(&mut c, &["SETBIT", "b", "0", "0"]), int(1));
        assert_eq!(get(&mut c, "b"), bulk([0x01u8, 0, 1]));
        // Works on string values too ('a' = 0x61).
        assert_eq!(q(&mut c, &["SET", "s", "a"]), ok());
        assert_eq!(q(&mut c, &["GETBIT", "s", "1"]), int(1));
        assert_eq!(q(&mut c, &["SETBIT", "s", "6", "1"]), int(0));
        assert_eq!(get(&mut c, "s"), bulk("c"));
        let bad_off = "ERR bit offset is not an integer or out of range";
        assert_eq!(qerr(&mut c, &["SETBIT", "b", "-1", "1"]), bad_off);
        assert_eq!(qerr(&mut c, &["SETBIT", "b", "4294967296", "1"]), bad_off);
        assert_eq!(qerr(&mut c, &["SETBIT", "b", "x", "1"]), bad_off);
        assert_eq!(qerr(&mut c, &["GETBIT", "b", "-1"]), bad_off);
        let bad_bit = "ERR bit is not an integer or out of range";
        assert_eq!(qerr(&mut c, &["SETBIT", "b", "1", "2"]), bad_bit);
        assert_eq!(qerr(&mut c, &["SETBIT", "b", "1", "-1"]), bad_bit);
        assert_eq!(qerr(&mut c, &["SETBIT", "b", "1", "x"]), bad_bit);
        assert_eq!(get(&mut c, "b"), bulk([0x01u8, 0, 1]));
    });
}

#[test]
fn bitcount() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["BITCOUNT", "none"]), int(0));
        assert_eq!(q(&mut c, &["SET", "k", "foobar"]), ok());
        assert_eq!(q(&mut c, &["BITCOUNT", "k"]), int(26));
        assert_eq!(q(&mut c, &["BITCOUNT", "k", "0", "0"]), int(4));
        assert_eq!(q(&mut c, &["BITCOUNT", "k", "1", "1"]), int(6));
        assert_eq!(q(&mut c, &["BITCOUNT", "k", "1", "1", "BYTE"]), int(6));
        assert_eq!(q(&mut c, &["BITCOUNT", "k", "5", "30", "BIT"]), int(17));
        assert_eq!(q(&mut c, &["BITCOUNT", "k", "0", "-1"]), int(26));
        assert_eq!(q(&mut c, &["BITCOUNT", "k", "-2", "-1"]), int(7));
        assert_eq!(q(&mut c, &["BITCOUNT", "k", "-2", "-1", "bit"]), int(1));
        assert_eq!(q(&mut c, &["BITCOUNT", "k", "3", "1"]), int(0));
        assert_eq!(q(&mut c, &["BITCOUNT", "k", "-100", "100"]), int(26));
        assert_eq!(q(&mut c, &["BITCOUNT", "k", "100", "200"]), int(0));
        assert_eq!(qerr(&mut c, &["BITCOUNT", "k", "0"]), "ERR syntax error");
        assert_eq!(
            qerr(&mut c, &["BITCOUNT", "k", "0", "1", "WORD"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["BITCOUNT", "k", "a", "1"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            qerr(&mut c, &["BITCOUNT", "k", "0", "1", "BIT", "x"]),
            "ERR syntax error"
        );
        assert_eq!(q(&mut c, &["BITCOUNT", "none", "0", "-1", "BIT"]), int(0));
    });
}

#[test]
fn bitpos() {
    both(|s| {
        let mut c = s.conn();
        // Missing key: looking for 0 gives 0, looking for 1 gives -1.
        assert_eq!(q(&mut c, &["BITPOS", "none", "0"]), int(0));
        assert_eq!(q(&mut c, &["BITPOS", "none", "1"]), int(-1));
        assert_eq!(q(&mut c, &[&b"SET"[..], b"k", b"\xff\xf0\x00"]), ok());
        assert_eq!(q(&mut c, &["BITPOS", "k", "0"]), int(12));
        assert_eq!(q(&mut c, &["BITPOS", "k", "1"]), int(0));
        assert_eq!(q(&mut c, &["BITPOS", "k", "1", "2"]), int(-1));
        assert_eq!(q(&mut c, &["BITPOS", "k", "0", "1"]), int(12));
        assert_eq!(q(&mut c, &["BITPOS", "k", "1", "1", "-1"]), int(8));
        assert_eq!(q(&mut c, &["BITPOS", "k", "1", "7", "15", "BIT"]), int(7));
        assert_eq!(q(&mut c, &["BITPOS", "k", "0", "7", "15", "BIT"]), int(12));
        assert_eq!(q(&mut c, &["BITPOS", "k", "1", "12", "-1", "BIT"]), int(-1));
        assert_eq!(q(&mut c, &["BITPOS", "k", "1", "0", "0", "BYTE"]), int(0));
        // All ones: looking for 0 without an end reports the bit after the string.
        assert_eq!(q(&mut c, &[&b"SET"[..], b"ones", b"\xff\xff"]), ok());
        assert_eq!(q(&mut c, &["BITPOS", "ones", "0"]), int(16));
        assert_eq!(q(&mut c, &["BITPOS", "ones", "0", "0"]), int(16));
        assert_eq!(q(&mut c, &["BITPOS", "ones", "0", "0", "-1"]), int(-1));
        assert_eq!(q(&mut c, &[&b"SET"[..], b"zeros", b"\x00\x00"]), ok());
        assert_eq!(q(&mut c, &["BITPOS", "zeros", "1"]), int(-1));
        assert_eq!(
            qerr(&mut c, &["BITPOS", "k", "2"]),
            "ERR The bit argument must be 1 or 0."
        );
        assert_eq!(
            qerr(&mut c, &["BITPOS", "k", "1", "0", "1", "FOO"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["BITPOS", "k", "1", "x"]),
            "ERR value is not an integer or out of range"
        );
    });
}

#[test]
fn bitop() {
    both(|s| {
        let mut c = s.conn();
        // Keys share a hash tag so this also works on clustered servers.
        assert_eq!(q(&mut c, &["SET", "{b}1", "foobar"]), ok());
        assert_eq!(q(&mut c, &["SET", "{b}2", "abcdef"]), ok());
        assert_eq!(q(&mut c, &["BITOP", "AND", "{b}d", "{b}1", "{b}2"]), int(6));
        assert_eq!(get(&mut c, "{b}d"), bulk("`bc`ab"));
        assert_eq!(q(&mut c, &["BITOP", "or", "{b}d", "{b}1", "{b}2"]), int(6));
        assert_eq!(get(&mut c, "{b}d"), bulk("goofev"));
        assert_eq!(q(&mut c, &["BITOP", "XOR", "{b}d", "{b}1", "{b}2"]), int(6));
        assert_eq!(get(&mut c, "{b}d"), bulk(b"\x07\x0d\x0c\x06\x04\x14"));
        assert_eq!(q(&mut c, &["BITOP", "NOT", "{b}d", "{b}1"]), int(6));
        assert_eq!(get(&mut c, "{b}d"), bulk(b"\x99\x90\x90\x9d\x9e\x8d"));
        // Shorter inputs are zero-padded; the result has the longest length.
        assert_eq!(q(&mut c, &["SET", "{b}s", "a"]), ok());
        assert_eq!(q(&mut c, &["BITOP", "OR", "{b}d", "{b}s", "{b}1"]), int(6));
        assert_eq!(get(&mut c, "{b}d"), bulk("goobar"));
        assert_eq!(q(&mut c, &["BITOP", "AND", "{b}d", "{b}s", "{b}1"]), int(6));
        assert_eq!(get(&mut c, "{b}d"), bulk(b"\x60\0\0\0\0\0"));
        // Missing sources count as empty strings.
        assert_eq!(
            q(&mut c, &["BITOP", "OR", "{b}d", "{b}s", "{b}none"]),
            int(1)
        );
        assert_eq!(get(&mut c, "{b}d"), bulk("a"));
        // All sources missing: result empty, destination deleted.
        assert_eq!(q(&mut c, &["BITOP", "AND", "{b}d", "{b}x", "{b}y"]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", "{b}d"]), int(0));
        assert_eq!(
            qerr(&mut c, &["BITOP", "NOT", "{b}d", "{b}1", "{b}2"]),
            "ERR BITOP NOT must be called with a single source key."
        );
        assert_eq!(
            qerr(&mut c, &["BITOP", "NAND", "{b}d", "{b}1"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["BITOP", "AND", "{b}d"]),
            "ERR wrong number of arguments for 'bitop' command"
        );
        // Destination may also be a source.
        assert_eq!(q(&mut c, &["BITOP", "NOT", "{b}s", "{b}s"]), int(1));
        assert_eq!(get(&mut c, "{b}s"), bulk([!b'a']));
    });
}

#[test]
fn bitop_across_slots() {
    both(|s| {
        let mut c = s.conn();
        let keys = spread_keys("bo", 20);
        for (i, k) in keys.iter().enumerate() {
            let mut v = vec![0u8; 3];
            v[i / 8] |= 0x80 >> (i % 8);
            assert_eq!(
                redis::cmd("SET")
                    .arg(k)
                    .arg(v)
                    .query::<Value>(&mut c)
                    .expect("SET"),
                ok()
            );
        }
        let mut args = vec!["BITOP".to_string(), "OR".into(), "dest".into()];
        args.extend(keys.iter().cloned());
        assert_eq!(q(&mut c, &args), int(3));
        assert_eq!(get(&mut c, "dest"), bulk([0xffu8, 0xff, 0xf0]));
        assert_eq!(q(&mut c, &["BITCOUNT", "dest"]), int(20));
    });
}

#[test]
fn bitfield() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(
            q(
                &mut c,
                &["BITFIELD", "bf", "SET", "i8", "0", "100", "GET", "i8", "0"]
            ),
            arr(vec![int(0), int(100)])
        );
        assert_eq!(get(&mut c, "bf"), bulk([100u8]));
        assert_eq!(
            q(
                &mut c,
                &["BITFIELD", "bf", "INCRBY", "i8", "0", "100", "GET", "u8", "0"]
            ),
            arr(vec![int(-56), int(200)])
        );
        // Default overflow is WRAP.
        assert_eq!(
            q(
                &mut c,
                &[
                    "BITFIELD", "w", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2",
                    "102", "1"
                ]
            ),
            arr(vec![int(1), int(1)])
        );
        assert_eq!(
            q(
                &mut c,
                &[
                    "BITFIELD", "w", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2",
                    "102", "1"
                ]
            ),
            arr(vec![int(2), int(2)])
        );
        assert_eq!(
            q(
                &mut c,
                &[
                    "BITFIELD", "w", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2",
                    "102", "1"
                ]
            ),
            arr(vec![int(3), int(3)])
        );
        assert_eq!(
            q(
                &mut c,
                &[
                    "BITFIELD", "w", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2",
                    "102", "1"
                ]
            ),
            arr(vec![int(0), int(3)])
        );
        // FAIL returns nil and leaves the value alone.
        assert_eq!(
            q(
                &mut c,
                &[
                    "BITFIELD", "w", "OVERFLOW", "FAIL", "INCRBY", "u2", "102", "1", "GET", "u2",
                    "102"
                ]
            ),
            arr(vec![nil(), int(3)])
        );
        // Signed saturation / wrap.
        assert_eq!(
            q(
                &mut c,
                &[
                    "BITFIELD", "s", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "200", "INCRBY", "i8",
                    "8", "-200"
                ]
            ),
            arr(vec![int(127), int(-128)])
        );
        assert_eq!(
            q(
                &mut c,
                &["BITFIELD", "s", "OVERFLOW", "WRAP", "INCRBY", "i8", "0", "1"]
            ),
            arr(vec![int(-128)])
        );
        assert_eq!(
            q(
                &mut c,
                &["BITFIELD", "s", "OVERFLOW", "SAT", "SET", "i8", "16", "300", "GET", "i8", "16"]
            ),
            arr(vec![int(0), int(127)])
        );
        assert_eq!(
            q(
                &mut c,
                &[
                    "BITFIELD", "s", "OVERFLOW", "FAIL", "SET", "u4", "24", "16", "SET", "u4",
                    "24", "15"
                ]
            ),
            arr(vec![nil(), int(0)])
        );
        // `#` offsets are multiplied by the type width.
        assert_eq!(
            q(
                &mut c,
                &[
                    "BITFIELD", "h", "SET", "u8", "#1", "255", "SET", "u8", "#0", "1", "GET",
                    "u16", "#0"
                ]
            ),
            arr(vec![int(0), int(0), int(511)])
        );
        assert_eq!(get(&mut c, "h"), bulk([1u8, 255]));
        // Unaligned fields and wide types.
        assert_eq!(
            q(
                &mut c,
                &["BITFIELD", "u", "SET", "u5", "3", "31", "GET", "u8", "0", "GET", "i5", "3"]
            ),
            arr(vec![int(0), int(0x1f), int(-1)])
        );
        assert_eq!(
            q(
                &mut c,
                &[
                    "BITFIELD", "wide", "SET", "i64", "0", "-1", "GET", "u63", "0", "GET", "i64",
                    "0"
                ]
            ),
            arr(vec![int(0), int(i64::MAX), int(-1)])
        );
        // GET beyond the end reads zeros; a missing key reads zeros.
        assert_eq!(
            q(&mut c, &["BITFIELD", "none", "GET", "u8", "100"]),
            arr(vec![int(0)])
        );
        assert_eq!(q(&mut c, &["EXISTS", "none"]), int(0));
        assert_eq!(q(&mut c, &["BITFIELD", "none"]), arr(vec![]));
        // Errors.
        let bad_type = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
        assert_eq!(
            qerr(&mut c, &["BITFIELD", "e", "GET", "u64", "0"]),
            bad_type
        );
        assert_eq!(
            qerr(&mut c, &["BITFIELD", "e", "GET", "i65", "0"]),
            bad_type
        );
        assert_eq!(qerr(&mut c, &["BITFIELD", "e", "GET", "x8", "0"]), bad_type);
        assert_eq!(qerr(&mut c, &["BITFIELD", "e", "GET", "i0", "0"]), bad_type);
        let bad_off = "ERR bit offset is not an integer or out of range";
        assert_eq!(qerr(&mut c, &["BITFIELD", "e", "GET", "u8", "-1"]), bad_off);
        assert_eq!(qerr(&mut c, &["BITFIELD", "e", "GET", "u8", "#x"]), bad_off);
        assert_eq!(
            qerr(&mut c, &["BITFIELD", "e", "OVERFLOW", "MAYBE"]),
            "ERR Invalid OVERFLOW type specified"
        );
        assert_eq!(qerr(&mut c, &["BITFIELD", "e", "FOO"]), "ERR syntax error");
        assert_eq!(
            qerr(&mut c, &["BITFIELD", "e", "GET", "u8"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["BITFIELD", "e", "SET", "u8", "0", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(q(&mut c, &["EXISTS", "e"]), int(0));
    });
}

#[test]
fn bitfield_ro() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "k", "\u{7f}"]), ok());
        assert_eq!(
            q(
                &mut c,
                &["BITFIELD_RO", "k", "GET", "u8", "0", "GET", "i4", "4"]
            ),
            arr(vec![int(127), int(-1)])
        );
        assert_eq!(
            q(&mut c, &["BITFIELD_RO", "none", "GET", "u8", "0"]),
            arr(vec![int(0)])
        );
        assert_eq!(
            qerr(&mut c, &["BITFIELD_RO", "k", "SET", "u8", "0", "1"]),
            "ERR BITFIELD_RO only supports the GET subcommand"
        );
        assert_eq!(
            qerr(&mut c, &["BITFIELD_RO", "k", "INCRBY", "u8", "0", "1"]),
            "ERR BITFIELD_RO only supports the GET subcommand"
        );
        assert_eq!(get(&mut c, "k"), bulk("\u{7f}"));
    });
}

#[test]
fn binary_safe_keys_and_values() {
    both(|s| {
        let mut c = s.conn();
        let all: Vec<u8> = (0..=255u8).collect();
        let key: Vec<u8> = b"key\0\r\n\xff".to_vec();
        redis::cmd("SET")
            .arg(&key)
            .arg(&all)
            .query::<()>(&mut c)
            .expect("binary SET");
        let got: Vec<u8> = redis::cmd("GET")
            .arg(&key)
            .query(&mut c)
            .expect("binary GET");
        assert_eq!(got, all);
        let len: i64 = redis::cmd("STRLEN")
            .arg(&key)
            .query(&mut c)
            .expect("STRLEN");
        assert_eq!(len, 256);
        let part: Vec<u8> = redis::cmd("GETRANGE")
            .arg(&key)
            .arg(10)
            .arg(14)
            .query(&mut c)
            .expect("GETRANGE");
        assert_eq!(part, vec![10, 11, 12, 13, 14]);
        let n: i64 = redis::cmd("APPEND")
            .arg(&key)
            .arg(b"\r\n\0")
            .query(&mut c)
            .expect("APPEND");
        assert_eq!(n, 259);
        // Every single-byte key is distinct.
        for b in 0..=255u8 {
            redis::cmd("SET")
                .arg(&[b][..])
                .arg(&[b, b][..])
                .query::<()>(&mut c)
                .expect("SET single byte key");
        }
        for b in 0..=255u8 {
            let v: Vec<u8> = redis::cmd("GET").arg(&[b][..]).query(&mut c).expect("GET");
            assert_eq!(v, vec![b, b]);
        }
        assert_eq!(q(&mut c, &["DBSIZE"]), int(257));
        let mut mget = redis::cmd("MGET");
        mget.arg(&key).arg(&[0u8][..]).arg(&b"\n"[..]);
        let vals: Vec<Vec<u8>> = mget.query(&mut c).expect("MGET binary");
        assert_eq!(vals[1], vec![0, 0]);
        assert_eq!(vals[2], b"\n\n".to_vec());
        assert_eq!(vals[0].len(), 259);
        // Empty key is a valid key.
        assert_eq!(q(&mut c, &["SET", "", "empty-key"]), ok());
        assert_eq!(q(&mut c, &["GET", ""]), bulk("empty-key"));
    });
}

/// Redis's "No negative zero" test: 1/41 as Tcl writes it, added then subtracted, reads back as
/// 0 (Redis's long double sum cancels to nothing; it never prints "-0").
#[test]
fn incrbyfloat_cancellation_gives_zero() {
    both(|s| {
        let mut c = s.conn();
        let third = 1.0f64 / 41.0;
        q(&mut c, &["INCRBYFLOAT", "foo", &format!("{third:?}")]);
        q(&mut c, &["INCRBYFLOAT", "foo", &format!("{:?}", -third)]);
        assert_eq!(q(&mut c, &["GET", "foo"]), bulk("0"));
        q(&mut c, &["SET", "n", "10.5"]);
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "n", "-10.5"]), bulk("0"));
        assert_eq!(q(&mut c, &["INCRBYFLOAT", "n", "-0.0"]), bulk("0"));
    });
}

/// Values around the length a reply carries inline (38 bytes) come back byte for byte, binary
/// bytes included, from GET and MGET, in RESP2 and RESP3, inside MULTI and from a script.
#[test]
fn get_replies_byte_exact_around_the_inline_length() {
    both(|s| {
        let mut raw = s.raw();
        let values: Vec<Vec<u8>> = [0usize, 1, 37, 38, 39, 64, 5000]
            .iter()
            .map(|&n| {
                (0..n)
                    .map(|i| [b'\r', b'\n', 0, b'x', 0xff][i % 5])
                    .collect()
            })
            .collect();
        let keys: Vec<String> = (0..values.len()).map(|i| format!("inl{i}")).collect();
        for (k, v) in keys.iter().zip(&values) {
            assert_eq!(raw.roundtrip(&[b"SET", k.as_bytes(), v]), b"+OK\r\n");
        }
        let bulk_of = |v: &[u8]| [format!("${}\r\n", v.len()).as_bytes(), v, b"\r\n"].concat();
        let mut mget_args: Vec<&[u8]> = vec![b"MGET"];
        mget_args.extend(keys.iter().map(|k| k.as_bytes()));
        let mget_reply = |missing: &[u8]| {
            let mut want = format!("*{}\r\n", values.len() + 1).into_bytes();
            for v in &values {
                want.extend(bulk_of(v));
            }
            want.extend(missing);
            want
        };
        let mut args = mget_args.clone();
        args.push(b"inl-missing");
        for resp3 in [false, true] {
            if resp3 {
                raw.send(b"HELLO 3\r\n");
                raw.read_reply();
            }
            for (k, v) in keys.iter().zip(&values) {
                assert_eq!(raw.roundtrip(&[b"GET", k.as_bytes()]), bulk_of(v), "{k}");
            }
            let nil: &[u8] = if resp3 { b"_\r\n" } else { b"$-1\r\n" };
            assert_eq!(raw.roundtrip(&args), mget_reply(nil));
        }
        // In a transaction and from a script, the same bytes.
        let mut c = s.conn();
        for (k, v) in keys.iter().zip(&values) {
            let got: Vec<Vec<u8>> = redis::pipe()
                .atomic()
                .cmd("GET")
                .arg(k)
                .query(&mut c)
                .expect("MULTI GET");
            assert_eq!(got, vec![v.clone()], "{k}");
            let got: Vec<u8> = redis::cmd("EVAL")
                .arg("return redis.call('GET', KEYS[1])")
                .arg(1)
                .arg(k)
                .query(&mut c)
                .expect("EVAL GET");
            assert_eq!(&got, v, "{k}");
        }
    });
}
