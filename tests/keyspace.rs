//! Generic keyspace commands, checked against Redis 7.0.15 semantics.

mod common;

use common::*;
use redis::Value;
use std::collections::{BTreeSet, HashSet};

fn ttl(c: &mut redis::Connection, key: &str) -> i64 {
    qt(c, &["TTL", key])
}

fn unix_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after epoch")
        .as_secs() as i64
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after epoch")
        .as_millis() as i64
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn sorted_strings(v: Value) -> Vec<String> {
    let mut out: Vec<String> = redis::from_redis_value(&v).expect("array of strings");
    out.sort();
    out
}

fn with_cmd(name: &str, keys: &[String]) -> Vec<String> {
    let mut v = vec![name.to_string()];
    v.extend(keys.iter().cloned());
    v
}

#[test]
fn del_unlink_exists_touch() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["MSET", "a", "1", "b", "2", "c", "3"]), ok());
        assert_eq!(q(&mut c, &["EXISTS", "a"]), int(1));
        assert_eq!(q(&mut c, &["EXISTS", "a", "a", "b", "nope", "a"]), int(4));
        assert_eq!(q(&mut c, &["TOUCH", "a", "b", "nope", "a"]), int(3));
        assert_eq!(q(&mut c, &["DEL", "a", "nope", "a"]), int(1));
        assert_eq!(q(&mut c, &["EXISTS", "a"]), int(0));
        assert_eq!(q(&mut c, &["UNLINK", "b", "c", "b"]), int(2));
        assert_eq!(q(&mut c, &["DEL", "b"]), int(0));
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
        assert_eq!(
            qerr(&mut c, &["DEL"]),
            "ERR wrong number of arguments for 'del' command"
        );
        assert_eq!(
            qerr(&mut c, &["EXISTS"]),
            "ERR wrong number of arguments for 'exists' command"
        );
        assert_eq!(
            qerr(&mut c, &["UNLINK"]),
            "ERR wrong number of arguments for 'unlink' command"
        );
        assert_eq!(
            qerr(&mut c, &["TOUCH"]),
            "ERR wrong number of arguments for 'touch' command"
        );
    });
}

#[test]
fn multi_key_commands_across_slots() {
    both(|s| {
        let mut c = s.conn();
        let keys = spread_keys("xk", 100);
        let mut mset = vec!["MSET".to_string()];
        for k in &keys {
            mset.push(k.clone());
            mset.push(format!("v-{k}"));
        }
        assert_eq!(q(&mut c, &mset), ok());
        assert_eq!(q(&mut c, &["DBSIZE"]), int(100));
        assert_eq!(q(&mut c, &with_cmd("EXISTS", &keys)), int(100));
        let mut dup = keys.clone();
        dup.extend(keys[..10].iter().cloned());
        dup.push("missing".into());
        assert_eq!(q(&mut c, &with_cmd("EXISTS", &dup)), int(110));
        assert_eq!(q(&mut c, &with_cmd("TOUCH", &dup)), int(110));
        // DEL half, counting each key once even when repeated.
        let mut del = keys[..50].to_vec();
        del.extend(keys[..5].iter().cloned());
        assert_eq!(q(&mut c, &with_cmd("DEL", &del)), int(50));
        assert_eq!(q(&mut c, &with_cmd("EXISTS", &keys)), int(50));
        let mget = q(&mut c, &with_cmd("MGET", &keys));
        let expected: Vec<Value> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                if i < 50 {
                    nil()
                } else {
                    bulk(format!("v-{k}"))
                }
            })
            .collect();
        assert_eq!(mget, arr(expected));
        assert_eq!(q(&mut c, &with_cmd("UNLINK", &keys)), int(50));
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
        // Hash-tagged keys behave the same.
        let tagged: Vec<String> = (0..30).map(|i| format!("{{tag}}:{i}")).collect();
        let mut mset = vec!["MSET".to_string()];
        for k in &tagged {
            mset.push(k.clone());
            mset.push(k.clone());
        }
        assert_eq!(q(&mut c, &mset), ok());
        assert_eq!(q(&mut c, &with_cmd("EXISTS", &tagged)), int(30));
        assert_eq!(
            q(&mut c, &["MGET", "{tag}:0", "{tag}:29", "{tag}:30"]),
            arr(vec![bulk("{tag}:0"), bulk("{tag}:29"), nil()])
        );
        assert_eq!(q(&mut c, &with_cmd("DEL", &tagged)), int(30));
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
    });
}

#[test]
fn rename_and_copy_across_slots() {
    both(|s| {
        let mut c = s.conn();
        let keys = spread_keys("rk", 40);
        for k in &keys {
            assert_eq!(q(&mut c, &["SET", k, &format!("val:{k}")]), ok());
        }
        // Rename each key to a name on (most likely) another slot.
        for (i, k) in keys.iter().enumerate() {
            let dst = format!("renamed:{i}");
            assert_eq!(q(&mut c, &["RENAME", k, &dst]), ok());
            assert_eq!(q(&mut c, &["EXISTS", k]), int(0));
            assert_eq!(q(&mut c, &["GET", &dst]), bulk(format!("val:{k}")));
        }
        for (i, k) in keys.iter().enumerate() {
            let src = format!("renamed:{i}");
            assert_eq!(q(&mut c, &["COPY", &src, k]), int(1));
            assert_eq!(q(&mut c, &["GET", k]), bulk(format!("val:{k}")));
            assert_eq!(q(&mut c, &["GET", &src]), bulk(format!("val:{k}")));
        }
        assert_eq!(q(&mut c, &["DBSIZE"]), int(80));
        // RENAMENX across slots refuses to clobber.
        assert_eq!(q(&mut c, &["RENAMENX", &keys[0], &keys[1]]), int(0));
        assert_eq!(
            q(&mut c, &["GET", &keys[1]]),
            bulk(format!("val:{}", keys[1]))
        );
        assert_eq!(q(&mut c, &["RENAMENX", &keys[0], "fresh"]), int(1));
        assert_eq!(
            q(&mut c, &["GET", "fresh"]),
            bulk(format!("val:{}", keys[0]))
        );
        // RENAME over an existing key replaces it.
        assert_eq!(q(&mut c, &["RENAME", &keys[2], &keys[3]]), ok());
        assert_eq!(
            q(&mut c, &["GET", &keys[3]]),
            bulk(format!("val:{}", keys[2]))
        );
        // Hash-tagged rename.
        assert_eq!(q(&mut c, &["SET", "{u1}a", "x"]), ok());
        assert_eq!(q(&mut c, &["RENAME", "{u1}a", "{u1}b"]), ok());
        assert_eq!(q(&mut c, &["GET", "{u1}b"]), bulk("x"));
        assert_eq!(q(&mut c, &["COPY", "{u1}b", "{u1}c"]), int(1));
        assert_eq!(q(&mut c, &["GET", "{u1}c"]), bulk("x"));
    });
}

#[test]
fn type_command() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "k", "v"]), ok());
        assert_eq!(q(&mut c, &["SET", "n", "12"]), ok());
        assert_eq!(q(&mut c, &["TYPE", "k"]), status("string"));
        assert_eq!(q(&mut c, &["TYPE", "n"]), status("string"));
        assert_eq!(q(&mut c, &["TYPE", "missing"]), status("none"));
    });
}

#[test]
fn expire_family() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["EXPIRE", "missing", "100"]), int(0));
        assert_eq!(q(&mut c, &["TTL", "missing"]), int(-2));
        assert_eq!(q(&mut c, &["PTTL", "missing"]), int(-2));
        assert_eq!(q(&mut c, &["EXPIRETIME", "missing"]), int(-2));
        assert_eq!(q(&mut c, &["PEXPIRETIME", "missing"]), int(-2));
        assert_eq!(q(&mut c, &["PERSIST", "missing"]), int(0));
        assert_eq!(q(&mut c, &["SET", "k", "v"]), ok());
        assert_eq!(q(&mut c, &["TTL", "k"]), int(-1));
        assert_eq!(q(&mut c, &["PTTL", "k"]), int(-1));
        assert_eq!(q(&mut c, &["EXPIRETIME", "k"]), int(-1));
        assert_eq!(q(&mut c, &["PEXPIRETIME", "k"]), int(-1));
        assert_eq!(q(&mut c, &["PERSIST", "k"]), int(0));

        assert_eq!(q(&mut c, &["EXPIRE", "k", "100"]), int(1));
        let t = ttl(&mut c, "k");
        assert!((99..=100).contains(&t), "ttl {t}");
        assert_eq!(q(&mut c, &["PEXPIRE", "k", "200000"]), int(1));
        let t: i64 = qt(&mut c, &["PTTL", "k"]);
        assert!((198_000..=200_000).contains(&t), "pttl {t}");
        let at = unix_secs() + 300;
        assert_eq!(q(&mut c, &["EXPIREAT", "k", &at.to_string()]), int(1));
        assert_eq!(q(&mut c, &["EXPIRETIME", "k"]), int(at));
        assert_eq!(q(&mut c, &["PEXPIRETIME", "k"]), int(at * 1000));
        let at_ms = unix_ms() + 400_000;
        assert_eq!(q(&mut c, &["PEXPIREAT", "k", &at_ms.to_string()]), int(1));
        assert_eq!(q(&mut c, &["PEXPIRETIME", "k"]), int(at_ms));
        // EXPIRETIME rounds the millisecond deadline to the nearest second.
        assert_eq!(q(&mut c, &["EXPIRETIME", "k"]), int((at_ms + 500) / 1000));
        assert_eq!(
            q(&mut c, &["PEXPIREAT", "k", "1500499"]),
            int(1),
            "a deadline in the past deletes the key"
        );
        assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
        assert_eq!(q(&mut c, &["SET", "k", "v"]), ok());
        let far_ms = 4_102_444_800_499i64; // year 2100, just under a half second
        assert_eq!(q(&mut c, &["PEXPIREAT", "k", &far_ms.to_string()]), int(1));
        assert_eq!(q(&mut c, &["EXPIRETIME", "k"]), int(4_102_444_800));
        assert_eq!(q(&mut c, &["PEXPIREAT", "k", "4102444800500"]), int(1));
        assert_eq!(q(&mut c, &["EXPIRETIME", "k"]), int(4_102_444_801));
        assert_eq!(q(&mut c, &["PERSIST", "k"]), int(1));
        assert_eq!(q(&mut c, &["TTL", "k"]), int(-1));
        assert_eq!(q(&mut c, &["GET", "k"]), bulk("v"));

        // Overflowing expire times.
        for (cmd, val) in [
            ("expire", "9223372036854775807"),
            ("expire", "92233720368547758"),
            ("pexpire", "9223372036854775807"),
            ("expireat", "9223372036854775807"),
        ] {
            assert_eq!(
                qerr(&mut c, &[cmd, "k", val]),
                format!("ERR invalid expire time in '{cmd}' command")
            );
        }
        assert_eq!(
            qerr(&mut c, &["EXPIRE", "k", "abc"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            qerr(&mut c, &["EXPIRE", "k", "1.5"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            qerr(&mut c, &["EXPIRE", "k"]),
            "ERR wrong number of arguments for 'expire' command"
        );
        assert_eq!(q(&mut c, &["TTL", "k"]), int(-1));
    });
}

#[test]
fn expire_nx_xx_gt_lt() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "k", "v"]), ok());
        let incompatible = "ERR NX and XX, GT or LT options at the same time are not compatible";
        assert_eq!(
            qerr(&mut c, &["EXPIRE", "k", "100", "NX", "XX"]),
            incompatible
        );
        assert_eq!(
            qerr(&mut c, &["EXPIRE", "k", "100", "NX", "GT"]),
            incompatible
        );
        assert_eq!(
            qerr(&mut c, &["PEXPIRE", "k", "100", "lt", "nx"]),
            incompatible
        );
        assert_eq!(
            qerr(&mut c, &["EXPIRE", "k", "100", "GT", "LT"]),
            "ERR GT and LT options at the same time are not compatible"
        );
        assert_eq!(
            qerr(&mut c, &["EXPIRE", "k", "100", "FOO"]),
            "ERR Unsupported option FOO"
        );
        // No TTL yet: XX and GT fail, LT succeeds (no TTL = infinite).
        assert_eq!(q(&mut c, &["EXPIRE", "k", "100", "XX"]), int(0));
        assert_eq!(q(&mut c, &["EXPIRE", "k", "100", "GT"]), int(0));
        assert_eq!(q(&mut c, &["TTL", "k"]), int(-1));
        assert_eq!(q(&mut c, &["EXPIRE", "k", "100", "NX"]), int(1));
        assert_eq!(q(&mut c, &["EXPIRE", "k", "200", "NX"]), int(0));
        let t = ttl(&mut c, "k");
        assert!((99..=100).contains(&t), "ttl {t}");
        assert_eq!(q(&mut c, &["EXPIRE", "k", "50", "GT"]), int(0));
        assert_eq!(q(&mut c, &["EXPIRE", "k", "500", "LT"]), int(0));
        assert_eq!(q(&mut c, &["EXPIRE", "k", "500", "GT"]), int(1));
        let t = ttl(&mut c, "k");
        assert!((499..=500).contains(&t), "ttl {t}");
        assert_eq!(q(&mut c, &["EXPIRE", "k", "50", "LT"]), int(1));
        let t = ttl(&mut c, "k");
        assert!((49..=50).contains(&t), "ttl {t}");
        assert_eq!(q(&mut c, &["EXPIRE", "k", "60", "XX"]), int(1));
        let t = ttl(&mut c, "k");
        assert!((59..=60).contains(&t), "ttl {t}");
        assert_eq!(q(&mut c, &["PERSIST", "k"]), int(1));
        assert_eq!(q(&mut c, &["EXPIRE", "k", "100", "LT"]), int(1));
        let t = ttl(&mut c, "k");
        assert!((99..=100).contains(&t), "ttl {t}");
        let at = unix_secs() + 1000;
        assert_eq!(q(&mut c, &["EXPIREAT", "k", &at.to_string(), "GT"]), int(1));
        assert_eq!(q(&mut c, &["EXPIRETIME", "k"]), int(at));
        assert_eq!(
            q(
                &mut c,
                &["PEXPIREAT", "k", &(at * 1000 - 1).to_string(), "GT"]
            ),
            int(0)
        );
        assert_eq!(
            q(
                &mut c,
                &["PEXPIREAT", "k", &(at * 1000 - 1).to_string(), "LT"]
            ),
            int(1)
        );
        assert_eq!(q(&mut c, &["PEXPIRETIME", "k"]), int(at * 1000 - 1));
        // Options on a missing key.
        assert_eq!(q(&mut c, &["EXPIRE", "missing", "10", "NX"]), int(0));
    });
}

#[test]
fn rename_renamenx() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(qerr(&mut c, &["RENAME", "nokey", "x"]), "ERR no such key");
        assert_eq!(qerr(&mut c, &["RENAMENX", "nokey", "x"]), "ERR no such key");
        assert_eq!(q(&mut c, &["SET", "a", "1"]), ok());
        assert_eq!(q(&mut c, &["RENAME", "a", "a"]), ok());
        assert_eq!(q(&mut c, &["GET", "a"]), bulk("1"));
        assert_eq!(q(&mut c, &["RENAMENX", "a", "a"]), int(0));
        assert_eq!(q(&mut c, &["RENAME", "a", "b"]), ok());
        assert_eq!(q(&mut c, &["EXISTS", "a"]), int(0));
        assert_eq!(q(&mut c, &["GET", "b"]), bulk("1"));
        assert_eq!(q(&mut c, &["SET", "c", "3"]), ok());
        assert_eq!(q(&mut c, &["RENAMENX", "b", "c"]), int(0));
        assert_eq!(q(&mut c, &["GET", "b"]), bulk("1"));
        assert_eq!(q(&mut c, &["RENAMENX", "b", "d"]), int(1));
        assert_eq!(q(&mut c, &["GET", "d"]), bulk("1"));
        // RENAME replaces the destination, TTL included.
        assert_eq!(q(&mut c, &["EXPIRE", "c", "100"]), int(1));
        assert_eq!(q(&mut c, &["RENAME", "d", "c"]), ok());
        assert_eq!(q(&mut c, &["GET", "c"]), bulk("1"));
        assert_eq!(q(&mut c, &["TTL", "c"]), int(-1));
        assert_eq!(q(&mut c, &["DBSIZE"]), int(1));
        assert_eq!(
            qerr(&mut c, &["RENAME", "c"]),
            "ERR wrong number of arguments for 'rename' command"
        );
    });
}

#[test]
fn copy_command() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["COPY", "nokey", "x"]), int(0));
        assert_eq!(q(&mut c, &["SET", "src", "hello"]), ok());
        assert_eq!(q(&mut c, &["EXPIRE", "src", "100"]), int(1));
        assert_eq!(q(&mut c, &["COPY", "src", "dst"]), int(1));
        assert_eq!(q(&mut c, &["GET", "dst"]), bulk("hello"));
        let t = ttl(&mut c, "dst");
        assert!((99..=100).contains(&t), "COPY keeps the TTL, got {t}");
        assert_eq!(q(&mut c, &["SET", "src", "world"]), ok());
        assert_eq!(q(&mut c, &["COPY", "src", "dst"]), int(0));
        assert_eq!(q(&mut c, &["GET", "dst"]), bulk("hello"));
        assert_eq!(q(&mut c, &["COPY", "src", "dst", "REPLACE"]), int(1));
        assert_eq!(q(&mut c, &["GET", "dst"]), bulk("world"));
        assert_eq!(q(&mut c, &["TTL", "dst"]), int(-1));
        // The copy is independent of the source.
        assert_eq!(q(&mut c, &["APPEND", "dst", "!"]), int(6));
        assert_eq!(q(&mut c, &["GET", "src"]), bulk("world"));
        // Copy into another database.
        assert_eq!(q(&mut c, &["COPY", "src", "other", "DB", "1"]), int(1));
        assert_eq!(q(&mut c, &["EXISTS", "other"]), int(0));
        assert_eq!(q(&mut c, &["COPY", "src", "other", "DB", "1"]), int(0));
        assert_eq!(
            q(&mut c, &["COPY", "src", "other", "DB", "1", "REPLACE"]),
            int(1)
        );
        assert_eq!(q(&mut c, &["COPY", "src", "src", "DB", "1"]), int(1));
        assert_eq!(q(&mut c, &["SELECT", "1"]), ok());
        assert_eq!(q(&mut c, &["GET", "other"]), bulk("world"));
        assert_eq!(q(&mut c, &["GET", "src"]), bulk("world"));
        assert_eq!(q(&mut c, &["DBSIZE"]), int(2));
        assert_eq!(q(&mut c, &["SELECT", "0"]), ok());
        // Errors.
        assert_eq!(
            qerr(&mut c, &["COPY", "src", "src"]),
            "ERR source and destination objects are the same"
        );
        assert_eq!(
            qerr(&mut c, &["COPY", "src", "x", "DB", "16"]),
            "ERR DB index is out of range"
        );
        assert_eq!(
            qerr(&mut c, &["COPY", "src", "x", "DB", "-1"]),
            "ERR DB index is out of range"
        );
        assert_eq!(
            qerr(&mut c, &["COPY", "src", "x", "DB", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            qerr(&mut c, &["COPY", "src", "x", "FOO"]),
            "ERR syntax error"
        );
        assert_eq!(q(&mut c, &["EXISTS", "x"]), int(0));
    });
}

#[test]
fn move_command() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["MOVE", "nokey", "1"]), int(0));
        assert_eq!(q(&mut c, &["SET", "k", "v"]), ok());
        assert_eq!(q(&mut c, &["EXPIRE", "k", "100"]), int(1));
        assert_eq!(q(&mut c, &["MOVE", "k", "1"]), int(1));
        assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
        assert_eq!(q(&mut c, &["SET", "k", "v0"]), ok());
        // Target exists: nothing moves.
        assert_eq!(q(&mut c, &["MOVE", "k", "1"]), int(0));
        assert_eq!(q(&mut c, &["GET", "k"]), bulk("v0"));
        assert_eq!(q(&mut c, &["SELECT", "1"]), ok());
        assert_eq!(q(&mut c, &["GET", "k"]), bulk("v"));
        let t = ttl(&mut c, "k");
        assert!((99..=100).contains(&t), "MOVE keeps the TTL, got {t}");
        assert_eq!(
            qerr(&mut c, &["MOVE", "k", "1"]),
            "ERR source and destination objects are the same"
        );
        assert_eq!(
            qerr(&mut c, &["MOVE", "k", "16"]),
            "ERR DB index is out of range"
        );
        assert_eq!(
            qerr(&mut c, &["MOVE", "k", "x"]),
            "ERR value is not an integer or out of range"
        );
    });
}

#[test]
fn keys_patterns() {
    both(|s| {
        let mut c = s.conn();
        let names = [
            "hello", "hallo", "hxllo", "hllo", "heeeello", "hbllo", "h*llo", "h?llo", "foo",
            "foo:bar", "a[b", "",
        ];
        for n in names {
            assert_eq!(q(&mut c, &["SET", n, "1"]), ok());
        }
        let all = sorted_strings(q(&mut c, &["KEYS", "*"]));
        let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(all, want);
        let cases: &[(&str, &[&str])] = &[
            (
                "h?llo",
                &["h*llo", "h?llo", "hallo", "hbllo", "hello", "hxllo"],
            ),
            (
                "h*llo",
                &[
                    "h*llo", "h?llo", "hallo", "hbllo", "heeeello", "hello", "hllo", "hxllo",
                ],
            ),
            ("h[ae]llo", &["hallo", "hello"]),
            ("h[^e]llo", &["h*llo", "h?llo", "hallo", "hbllo", "hxllo"]),
            ("h[a-b]llo", &["hallo", "hbllo"]),
            ("h\\*llo", &["h*llo"]),
            ("h\\?llo", &["h?llo"]),
            ("foo*", &["foo", "foo:bar"]),
            ("foo", &["foo"]),
            ("a\\[b", &["a[b"]),
            ("nomatch*", &[]),
            ("*:*", &["foo:bar"]),
        ];
        for (pat, expected) in cases {
            let got = sorted_strings(q(&mut c, &["KEYS", pat]));
            let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(got, want, "KEYS {pat}");
        }
        // Many keys on many slots / shards.
        for k in spread_keys("many", 200) {
            assert_eq!(q(&mut c, &["SET", &k, "x"]), ok());
        }
        let got = sorted_strings(q(&mut c, &["KEYS", "many:*"]));
        let mut want = spread_keys("many", 200);
        want.sort();
        assert_eq!(got, want);
        let got = sorted_strings(q(&mut c, &["KEYS", "many:1?"]));
        let mut want: Vec<String> = (10..20).map(|i| format!("many:{i}")).collect();
        want.sort();
        assert_eq!(got, want);
    });
}

/// Runs a full SCAN and returns every key seen (with duplicates collapsed) and
/// the number of calls made.
fn full_scan(c: &mut redis::Connection, extra: &[&str]) -> (HashSet<String>, usize) {
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut calls = 0;
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let (next, keys): (String, Vec<String>) = qt(c, &args);
        calls += 1;
        seen.extend(keys);
        cursor = next;
        if cursor == "0" {
            return (seen, calls);
        }
        assert!(calls < 100_000, "SCAN does not terminate");
    }
}

#[test]
fn scan() {
    both(|s| {
        let mut c = s.conn();
        // Empty database.
        let (next, keys): (String, Vec<String>) = qt(&mut c, &["SCAN", "0"]);
        assert_eq!(next, "0");
        assert!(keys.is_empty());
        let keys = spread_keys("scan", 500);
        let mut mset = vec!["MSET".to_string()];
        for k in &keys {
            mset.push(k.clone());
            mset.push("v".into());
        }
        for i in 0..50 {
            mset.push(format!("other:{i}"));
            mset.push("v".into());
        }
        assert_eq!(q(&mut c, &mset), ok());
        let want: HashSet<String> = keys.iter().cloned().collect();
        let (seen, calls) = full_scan(&mut c, &[]);
        assert_eq!(seen.len(), 550);
        assert!(want.is_subset(&seen));
        assert!(calls > 1, "550 keys with COUNT 10 need several calls");
        let (seen, _) = full_scan(&mut c, &["MATCH", "scan:*", "COUNT", "7"]);
        assert_eq!(seen, want);
        let (seen, _) = full_scan(&mut c, &["COUNT", "1000", "MATCH", "other:*"]);
        assert_eq!(seen.len(), 50);
        let (seen, _) = full_scan(&mut c, &["TYPE", "string", "MATCH", "other:1*"]);
        let want_other: HashSet<String> = std::iter::once("other:1".to_string())
            .chain((10..20).map(|i| format!("other:{i}")))
            .collect();
        assert_eq!(seen, want_other);
        let (seen, _) = full_scan(&mut c, &["TYPE", "list"]);
        assert!(seen.is_empty());
        let (seen, _) = full_scan(&mut c, &["MATCH", "nothing*"]);
        assert!(seen.is_empty());
        // Errors.
        assert_eq!(qerr(&mut c, &["SCAN", "abc"]), "ERR invalid cursor");
        assert_eq!(qerr(&mut c, &["SCAN", "1.5"]), "ERR invalid cursor");
        assert_eq!(
            qerr(&mut c, &["SCAN", "18446744073709551616"]),
            "ERR invalid cursor"
        );
        assert_eq!(
            qerr(&mut c, &["SCAN", "0", "COUNT", "0"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["SCAN", "0", "COUNT", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(qerr(&mut c, &["SCAN", "0", "MATCH"]), "ERR syntax error");
        assert_eq!(
            qerr(&mut c, &["SCAN", "0", "FOO", "bar"]),
            "ERR syntax error"
        );
    });
}

#[test]
fn scan_while_adding_keys() {
    both(|s| {
        let mut c = s.conn();
        let keys = spread_keys("orig", 300);
        let mut mset = vec!["MSET".to_string()];
        for k in &keys {
            mset.push(k.clone());
            mset.push("v".into());
        }
        assert_eq!(q(&mut c, &mset), ok());
        let mut cursor = "0".to_string();
        let mut seen = HashSet::new();
        let mut added = 0usize;
        loop {
            let (next, batch): (String, Vec<String>) =
                qt(&mut c, &["SCAN", &cursor, "COUNT", "20"]);
            seen.extend(batch);
            // Grow the keyspace a lot while iterating (forces rehashing).
            for _ in 0..40 {
                let k = format!("added:{added}");
                assert_eq!(q(&mut c, &["SET", &k, "v"]), ok());
                added += 1;
            }
            cursor = next;
            if cursor == "0" {
                break;
            }
            assert!(added < 1_000_000, "SCAN does not terminate");
        }
        for k in &keys {
            assert!(
                seen.contains(k),
                "key {k} present during the whole scan was not returned"
            );
        }
        assert_eq!(q(&mut c, &["DBSIZE"]), int((300 + added) as i64));
    });
}

#[test]
fn randomkey_dbsize_flush() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["RANDOMKEY"]), nil());
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
        assert_eq!(q(&mut c, &["SET", "only", "1"]), ok());
        assert_eq!(q(&mut c, &["RANDOMKEY"]), bulk("only"));
        let keys = spread_keys("rnd", 50);
        for k in &keys {
            assert_eq!(q(&mut c, &["SET", k, "1"]), ok());
        }
        assert_eq!(q(&mut c, &["DBSIZE"]), int(51));
        let mut distinct = BTreeSet::new();
        for _ in 0..200 {
            let k: String = qt(&mut c, &["RANDOMKEY"]);
            assert!(k == "only" || keys.contains(&k), "RANDOMKEY gave {k}");
            distinct.insert(k);
        }
        assert!(distinct.len() > 5, "RANDOMKEY is not random: {distinct:?}");
        // FLUSHDB only affects the selected database.
        assert_eq!(q(&mut c, &["SELECT", "2"]), ok());
        assert_eq!(q(&mut c, &["SET", "in2", "1"]), ok());
        assert_eq!(q(&mut c, &["FLUSHDB"]), ok());
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
        assert_eq!(q(&mut c, &["SET", "in2", "1"]), ok());
        assert_eq!(q(&mut c, &["SELECT", "0"]), ok());
        assert_eq!(q(&mut c, &["DBSIZE"]), int(51));
        assert_eq!(q(&mut c, &["FLUSHDB", "SYNC"]), ok());
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
        assert_eq!(q(&mut c, &["SET", "a", "1"]), ok());
        assert_eq!(q(&mut c, &["FLUSHDB", "ASYNC"]), ok());
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
        assert_eq!(q(&mut c, &["GET", "a"]), nil());
        // FLUSHALL clears every database.
        assert_eq!(q(&mut c, &["SET", "a", "1"]), ok());
        assert_eq!(q(&mut c, &["FLUSHALL"]), ok());
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
        assert_eq!(q(&mut c, &["SELECT", "2"]), ok());
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
        assert_eq!(q(&mut c, &["SET", "a", "1"]), ok());
        assert_eq!(q(&mut c, &["FLUSHALL", "ASYNC"]), ok());
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
        assert_eq!(q(&mut c, &["SET", "a", "1"]), ok());
        assert_eq!(q(&mut c, &["FLUSHALL", "sync"]), ok());
        assert_eq!(q(&mut c, &["EXISTS", "a"]), int(0));
        assert_eq!(qerr(&mut c, &["FLUSHALL", "foo"]), "ERR syntax error");
        assert_eq!(qerr(&mut c, &["FLUSHDB", "foo"]), "ERR syntax error");
        assert_eq!(
            qerr(&mut c, &["DBSIZE", "x"]),
            "ERR wrong number of arguments for 'dbsize' command"
        );
    });
}

#[test]
fn select_and_swapdb() {
    both(|s| {
        let mut c = s.conn();
        let mut other = s.conn();
        assert_eq!(q(&mut c, &["SET", "k", "db0"]), ok());
        assert_eq!(q(&mut c, &["SELECT", "15"]), ok());
        assert_eq!(q(&mut c, &["GET", "k"]), nil());
        assert_eq!(q(&mut c, &["SET", "k", "db15"]), ok());
        assert_eq!(q(&mut c, &["SET", "only15", "x"]), ok());
        assert_eq!(
            qerr(&mut c, &["SELECT", "16"]),
            "ERR DB index is out of range"
        );
        assert_eq!(
            qerr(&mut c, &["SELECT", "-1"]),
            "ERR DB index is out of range"
        );
        assert_eq!(
            qerr(&mut c, &["SELECT", "x"]),
            "ERR value is not an integer or out of range"
        );
        // A failed SELECT leaves the selection alone.
        assert_eq!(q(&mut c, &["GET", "k"]), bulk("db15"));
        // Each connection has its own selected database.
        assert_eq!(q(&mut other, &["GET", "k"]), bulk("db0"));
        assert_eq!(q(&mut c, &["SWAPDB", "0", "15"]), ok());
        assert_eq!(q(&mut c, &["GET", "k"]), bulk("db0"));
        assert_eq!(q(&mut other, &["GET", "k"]), bulk("db15"));
        assert_eq!(q(&mut other, &["GET", "only15"]), bulk("x"));
        assert_eq!(q(&mut other, &["DBSIZE"]), int(2));
        assert_eq!(q(&mut c, &["DBSIZE"]), int(1));
        assert_eq!(q(&mut c, &["SWAPDB", "3", "3"]), ok());
        assert_eq!(
            qerr(&mut c, &["SWAPDB", "0", "16"]),
            "ERR DB index is out of range"
        );
        assert_eq!(
            qerr(&mut c, &["SWAPDB", "x", "1"]),
            "ERR invalid first DB index"
        );
        assert_eq!(
            qerr(&mut c, &["SWAPDB", "1", "x"]),
            "ERR invalid second DB index"
        );
        assert_eq!(q(&mut other, &["GET", "k"]), bulk("db15"));
    });
}

#[test]
fn object_command() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "small", "100"]), ok());
        assert_eq!(q(&mut c, &["SET", "i", "123456"]), ok());
        assert_eq!(q(&mut c, &["SET", "neg", "-5"]), ok());
        assert_eq!(q(&mut c, &["SET", "max", "9223372036854775807"]), ok());
        assert_eq!(q(&mut c, &["SET", "toobig", "9223372036854775808"]), ok());
        assert_eq!(q(&mut c, &["SET", "lead", "007"]), ok());
        assert_eq!(q(&mut c, &["SET", "float", "1.5"]), ok());
        assert_eq!(q(&mut c, &["SET", "s", "hello"]), ok());
        let s44 = "x".repeat(44);
        let s45 = "x".repeat(45);
        assert_eq!(q(&mut c, &["SET", "e44", &s44]), ok());
        assert_eq!(q(&mut c, &["SET", "r45", &s45]), ok());
        for (key, enc) in [
            ("small", "int"),
            ("i", "int"),
            ("neg", "int"),
            ("max", "int"),
            ("toobig", "embstr"),
            ("lead", "embstr"),
            ("float", "embstr"),
            ("s", "embstr"),
            ("e44", "embstr"),
            ("r45", "raw"),
        ] {
            assert_eq!(
                q(&mut c, &["OBJECT", "ENCODING", key]),
                bulk(enc),
                "encoding of {key}"
            );
        }
        // Modifying a string makes it raw; INCR makes it int.
        assert_eq!(q(&mut c, &["APPEND", "s", "!"]), int(6));
        assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "s"]), bulk("raw"));
        assert_eq!(q(&mut c, &["SETRANGE", "i", "0", "9"]), int(6));
        assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "i"]), bulk("raw"));
        assert_eq!(q(&mut c, &["INCR", "counter"]), int(1));
        assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "counter"]), bulk("int"));
        assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "missing"]), nil());
        // REFCOUNT: 1 for an ordinary value.
        assert_eq!(q(&mut c, &["OBJECT", "REFCOUNT", "s"]), int(1));
        assert_eq!(q(&mut c, &["OBJECT", "REFCOUNT", "missing"]), nil());
        // IDLETIME: an integer number of seconds, small for a fresh key.
        let idle: i64 = qt(&mut c, &["OBJECT", "IDLETIME", "s"]);
        assert!((0..=2).contains(&idle), "idletime {idle}");
        assert_eq!(q(&mut c, &["OBJECT", "IDLETIME", "missing"]), nil());
        // FREQ needs an LFU policy.
        assert_eq!(
            qerr(&mut c, &["OBJECT", "FREQ", "s"]),
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
        );
        assert_eq!(
            q(
                &mut c,
                &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]
            ),
            ok()
        );
        let freq: i64 = qt(&mut c, &["OBJECT", "FREQ", "s"]);
        assert!((0..=255).contains(&freq), "freq {freq}");
        assert_eq!(
            qerr(&mut c, &["OBJECT", "IDLETIME", "s"]),
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
        );
        assert_eq!(
            q(&mut c, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]),
            ok()
        );
        assert_eq!(
            qerr(&mut c, &["OBJECT", "FOO", "s"]),
            "ERR unknown subcommand 'FOO'. Try OBJECT HELP."
        );
        assert_eq!(
            qerr(&mut c, &["OBJECT", "ENCODING"]),
            "ERR wrong number of arguments for 'object|encoding' command"
        );
        let help: Vec<String> = qt(&mut c, &["OBJECT", "HELP"]);
        assert!(help[0].starts_with("OBJECT <subcommand>"), "{help:?}");
    });
}

/// DUMP payloads produced by redis-server 7.0.15 (RDB version 10).
const DUMP_HELLO_WORLD: &str = "000b68656c6c6f20776f726c640a000bfc49b9a6c7a034";
const DUMP_INT_12345: &str = "00c139300a009d94ea2793fc08b9";
const DUMP_INT_MINUS_1: &str = "00c0ff0a000c937e2485089dc5";
const DUMP_EMPTY: &str = "00000a005d9b5c400f7fa2da";
/// 40 times 'x', LZF-compressed by Redis.
const DUMP_LZF_40X: &str = "00c30928017878e01b000178780a007a1d6ccea5401333";

fn restore(
    c: &mut redis::Connection,
    key: &str,
    ttl: &str,
    payload: &[u8],
    extra: &[&str],
) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(key).arg(ttl).arg(payload);
    for e in extra {
        cmd.arg(*e);
    }
    cmd.query(c)
}

#[test]
fn dump_restore_roundtrip() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["DUMP", "missing"]), nil());
        let all: Vec<u8> = (0..=255u8).collect();
        let values: Vec<Vec<u8>> = vec![
            b"hello".to_vec(),
            b"12345".to_vec(),
            b"-9223372036854775808".to_vec(),
            Vec::new(),
            all.clone(),
            "y".repeat(5000).into_bytes(),
            b"abcdefghij".repeat(100),
        ];
        for (i, v) in values.iter().enumerate() {
            let key = format!("src:{i}");
            redis::cmd("SET")
                .arg(&key)
                .arg(v)
                .query::<()>(&mut c)
                .expect("SET");
            let payload: Vec<u8> = redis::cmd("DUMP").arg(&key).query(&mut c).expect("DUMP");
            assert!(payload.len() > 10, "payload too short");
            let dst = format!("dst:{i}");
            assert_eq!(
                restore(&mut c, &dst, "0", &payload, &[]).expect("RESTORE"),
                ok()
            );
            let got: Vec<u8> = redis::cmd("GET").arg(&dst).query(&mut c).expect("GET");
            assert_eq!(&got, v, "value {i} survives DUMP/RESTORE");
            assert_eq!(q(&mut c, &["TTL", &dst]), int(-1));
        }
        let payload: Vec<u8> = redis::cmd("DUMP").arg("src:0").query(&mut c).expect("DUMP");
        // Existing target.
        let e = restore(&mut c, "dst:0", "0", &payload, &[]).expect_err("BUSYKEY");
        assert_eq!(error_line(&e), "BUSYKEY Target key name already exists.");
        // REPLACE.
        assert_eq!(q(&mut c, &["SET", "dst:0", "old"]), ok());
        assert_eq!(
            restore(&mut c, "dst:0", "0", &payload, &["REPLACE"]).expect("REPLACE"),
            ok()
        );
        assert_eq!(q(&mut c, &["GET", "dst:0"]), bulk("hello"));
        // Relative TTL in milliseconds.
        assert_eq!(
            restore(&mut c, "ttl", "100000", &payload, &[]).expect("RESTORE ttl"),
            ok()
        );
        let t: i64 = qt(&mut c, &["PTTL", "ttl"]);
        assert!((98_000..=100_000).contains(&t), "pttl {t}");
        // ABSTTL: an absolute unix time in milliseconds.
        let at = unix_ms() + 200_000;
        assert_eq!(
            restore(&mut c, "abs", &at.to_string(), &payload, &["ABSTTL"]).expect("ABSTTL"),
            ok()
        );
        assert_eq!(q(&mut c, &["PEXPIRETIME", "abs"]), int(at));
        // ABSTTL in the past: OK, but the key does not exist afterwards.
        assert_eq!(
            restore(&mut c, "past", "1000", &payload, &["ABSTTL"]).expect("ABSTTL past"),
            ok()
        );
        assert_eq!(q(&mut c, &["EXISTS", "past"]), int(0));
        // Bad payloads and arguments.
        let e = restore(&mut c, "bad", "0", b"not a payload at all", &[]).expect_err("bad payload");
        assert_eq!(
            error_line(&e),
            "ERR DUMP payload version or checksum are wrong"
        );
        let mut corrupt = payload.clone();
        let n = corrupt.len();
        corrupt[n - 1] ^= 0xff;
        let e = restore(&mut c, "bad", "0", &corrupt, &[]).expect_err("corrupt checksum");
        assert_eq!(
            error_line(&e),
            "ERR DUMP payload version or checksum are wrong"
        );
        let e = restore(&mut c, "bad", "-1", &payload, &[]).expect_err("negative ttl");
        assert_eq!(error_line(&e), "ERR Invalid TTL value, must be >= 0");
        let e = restore(&mut c, "bad", "x", &payload, &[]).expect_err("bad ttl");
        assert_eq!(
            error_line(&e),
            "ERR value is not an integer or out of range"
        );
        let e = restore(&mut c, "bad", "0", &payload, &["FOO"]).expect_err("bad option");
        assert_eq!(error_line(&e), "ERR syntax error");
        assert_eq!(q(&mut c, &["EXISTS", "bad"]), int(0));
    });
}

#[test]
fn restore_payloads_from_redis() {
    both(|s| {
        let mut c = s.conn();
        for (payload, value) in [
            (DUMP_HELLO_WORLD, "hello world"),
            (DUMP_INT_12345, "12345"),
            (DUMP_INT_MINUS_1, "-1"),
            (DUMP_EMPTY, ""),
        ] {
            assert_eq!(
                restore(&mut c, value, "0", &hex(payload), &[]).expect("RESTORE redis payload"),
                ok()
            );
            assert_eq!(q(&mut c, &["GET", value]), bulk(value));
        }
        // DUMP of the same values in the server under test restores into
        // the same values (the payload bytes themselves may differ).
        let p: Vec<u8> = redis::cmd("DUMP")
            .arg("hello world")
            .query(&mut c)
            .expect("DUMP");
        assert_eq!(
            restore(&mut c, "again", "0", &p, &[]).expect("RESTORE"),
            ok()
        );
        assert_eq!(q(&mut c, &["GET", "again"]), bulk("hello world"));
    });
}

#[test]
fn restore_lzf_compressed_payload_from_redis() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(
            restore(&mut c, "lzf", "0", &hex(DUMP_LZF_40X), &[]).expect("RESTORE lzf payload"),
            ok()
        );
        assert_eq!(q(&mut c, &["GET", "lzf"]), bulk("x".repeat(40)));
    });
}

/// DUMP output is byte-for-byte what Redis 7.0.15 produces for these values
/// (RDB version 10, integer encoding for short integers, CRC64 footer), so
/// that the payloads can be restored into real Redis.
#[test]
fn dump_payload_matches_redis() {
    both(|s| {
        let mut c = s.conn();
        for (value, payload) in [
            ("hello world", DUMP_HELLO_WORLD),
            ("12345", DUMP_INT_12345),
            ("-1", DUMP_INT_MINUS_1),
            ("", DUMP_EMPTY),
        ] {
            assert_eq!(q(&mut c, &["SET", "k", value]), ok());
            let got: Vec<u8> = redis::cmd("DUMP").arg("k").query(&mut c).expect("DUMP");
            assert_eq!(got, hex(payload), "DUMP of {value:?}");
        }
    });
}
