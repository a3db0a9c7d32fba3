//! XREAD BLOCK and XREADGROUP BLOCK, checked against Redis 7.0.15 (run with
//! SHARDIS_TEST_SERVER=redis to check the tests themselves against redis-server).
//!
//! With four shards, keys without hash tags land on different shards, and connections are spread
//! over the shards by the kernel: the blocked client, the writer and the key are on different
//! shards in most of these cases (several keys are used to make sure of it).

mod common;

use common::*;
use redis::Value;
use std::time::{Duration, Instant};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOGROUP_BLOCKED: &str =
    "NOGROUP the consumer group this client was blocked on no longer exists";
const NOKEY_BLOCKED: &str = "UNBLOCKED the stream key no longer exists";

fn entry(id: &str, fv: &[&str]) -> Value {
    arr(vec![bulk(id), arr(fv.iter().map(bulk).collect())])
}

/// An XREAD/XREADGROUP reply (RESP2): `[[key, [entry …]] …]`.
fn read_reply(keys: &[(&str, Vec<Value>)]) -> Value {
    arr(keys
        .iter()
        .map(|(k, entries)| arr(vec![bulk(k), arr(entries.clone())]))
        .collect())
}

fn joined_err(h: std::thread::JoinHandle<redis::RedisResult<Value>>) -> String {
    match h.join().expect("client thread") {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => error_line(&e),
    }
}

#[test]
fn xread_woken_by_xadd_from_another_connection() {
    both(|s| {
        let mut admin = s.conn();
        let mut writer = s.conn();
        for key in spread_keys("xw", 4) {
            // A stream that does not exist yet: `$` is 0-0.
            let h = spawn_cmd(s, &["XREAD", "BLOCK", "0", "STREAMS", &key, "$"]);
            wait_blocked(&mut admin, 1);
            assert_eq!(
                q(&mut writer, &["XADD", &key, "1-1", "f", "v"]),
                bulk("1-1")
            );
            assert_eq!(
                joined(h),
                read_reply(&[(&key, vec![entry("1-1", &["f", "v"])])])
            );
            // `$` on a stream with entries: only what comes after.
            let h = spawn_cmd(s, &["XREAD", "BLOCK", "0", "STREAMS", &key, "$"]);
            wait_blocked(&mut admin, 1);
            q(&mut writer, &["XADD", &key, "2-1", "g", "w"]);
            assert_eq!(
                joined(h),
                read_reply(&[(&key, vec![entry("2-1", &["g", "w"])])])
            );
            // An explicit ID: entries up to it do not serve the client.
            let h = spawn_cmd(s, &["XREAD", "BLOCK", "0", "STREAMS", &key, "10-0"]);
            wait_blocked(&mut admin, 1);
            q(&mut writer, &["XADD", &key, "5-0", "a", "1"]);
            q(&mut writer, &["XADD", &key, "10-0", "a", "2"]);
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(blocked(&mut admin), 1);
            q(&mut writer, &["XADD", &key, "10-1", "a", "3"]);
            assert_eq!(
                joined(h),
                read_reply(&[(&key, vec![entry("10-1", &["a", "3"])])])
            );
        }
        // XADD with a generated ID (and a trim) serves as well.
        let h = spawn_cmd(s, &["XREAD", "BLOCK", "0", "STREAMS", "xw:gen", "$"]);
        wait_blocked(&mut admin, 1);
        let id = q(
            &mut writer,
            &["XADD", "xw:gen", "MAXLEN", "~", "10", "*", "k", "v"],
        );
        assert_eq!(joined(h), read_reply(&[("xw:gen", vec![entry_of(&id)])]));
        assert_no_waiters(&mut admin);
    });
}

/// The entry `[id, [k, v]]` for a generated ID.
fn entry_of(id: &Value) -> Value {
    arr(vec![id.clone(), arr(vec![bulk("k"), bulk("v")])])
}

#[test]
fn served_at_once_when_data_is_there() {
    both(|s| {
        let mut c = s.conn();
        for i in 1..=3 {
            q(&mut c, &["XADD", "now:a", &format!("{i}-0"), "f", "v"]);
        }
        q(&mut c, &["XADD", "now:b", "1-0", "f", "v"]);
        // Every key with data, as the plain command, COUNT applied.
        assert_eq!(
            q(
                &mut c,
                &[
                    "XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "now:a", "now:x", "now:b", "0",
                    "0", "0"
                ]
            ),
            read_reply(&[
                (
                    "now:a",
                    vec![entry("1-0", &["f", "v"]), entry("2-0", &["f", "v"])]
                ),
                ("now:b", vec![entry("1-0", &["f", "v"])]),
            ])
        );
        // XREADGROUP with an ID reads the consumer's history: it never blocks.
        q(&mut c, &["XGROUP", "CREATE", "now:a", "g", "$"]);
        assert_eq!(
            q(
                &mut c,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "alice",
                    "BLOCK",
                    "0",
                    "STREAMS",
                    "now:a",
                    "0"
                ]
            ),
            read_reply(&[("now:a", vec![])])
        );
        // Entries the group has not seen yet are delivered at once.
        q(&mut c, &["XGROUP", "SETID", "now:a", "g", "2-0"]);
        assert_eq!(
            q(
                &mut c,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "alice",
                    "BLOCK",
                    "0",
                    "STREAMS",
                    "now:a",
                    ">"
                ]
            ),
            read_reply(&[("now:a", vec![entry("3-0", &["f", "v"])])])
        );
        // A group and consumer named like the option read as usual.
        q(&mut c, &["XGROUP", "CREATE", "now:b", "block", "0"]);
        assert_eq!(
            q(
                &mut c,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "block",
                    "block",
                    "STREAMS",
                    "now:b",
                    ">"
                ]
            ),
            read_reply(&[("now:b", vec![entry("1-0", &["f", "v"])])])
        );
        assert_eq!(
            q(
                &mut c,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "block",
                    "block",
                    "STREAMS",
                    "now:b",
                    ">"
                ]
            ),
            Value::Nil
        );
        assert_eq!(blocked(&mut c), 0);
    });
}

#[test]
fn timeouts_reply_nil() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["XGROUP", "CREATE", "t:g", "g", "$", "MKSTREAM"]);
        let cases: &[&[&str]] = &[
            &["XREAD", "BLOCK", "100", "STREAMS", "t:a", "$"],
            &["XREAD", "BLOCK", "100", "STREAMS", "t:a", "t:b", "0", "$"],
            &["XREAD", "COUNT", "5", "BLOCK", "100", "STREAMS", "t:g", "$"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "100",
                "STREAMS",
                "t:g",
                ">",
            ],
        ];
        for args in cases {
            let start = Instant::now();
            assert_eq!(q(&mut c, args), Value::Nil, "{args:?}");
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(90), "{args:?} took {took:?}");
            assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
        }
        // Wire form: a null array in RESP2, null in RESP3.
        let mut raw = s.raw();
        assert_eq!(
            raw.roundtrip(&[b"XREAD", b"BLOCK", b"50", b"STREAMS", b"t:a", b"$"]),
            b"*-1\r\n".to_vec()
        );
        raw.send_cmd(&[b"HELLO", b"3"]);
        raw.read_value();
        assert_eq!(
            raw.roundtrip(&[
                b"XREADGROUP",
                b"GROUP",
                b"g",
                b"c",
                b"BLOCK",
                b"50",
                b"STREAMS",
                b"t:g",
                b">"
            ]),
            b"_\r\n".to_vec()
        );
        // Served in RESP3: a map of the one key.
        let mut w = s.conn();
        raw.send_cmd(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"t:a", b"$"]);
        wait_blocked(&mut c, 1);
        q(&mut w, &["XADD", "t:a", "1-1", "f", "v"]);
        assert_eq!(
            raw.read_reply(),
            b"%1\r\n$3\r\nt:a\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n".to_vec()
        );
        assert_no_waiters(&mut c);
        // Nothing delivered to the group's consumer that timed out.
        q(&mut c, &["XADD", "t:g", "1-1", "f", "v"]);
        assert_eq!(
            q(&mut c, &["XPENDING", "t:g", "g"]),
            arr(vec![int(0), Value::Nil, Value::Nil, Value::Nil])
        );
    });
}

#[test]
fn argument_errors() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["SET", "e:str", "x"]);
        q(&mut c, &["XADD", "e:s", "1-1", "f", "v"]);
        let cases: &[(&[&str], &str)] = &[
            (
                &["XREAD", "BLOCK", "x", "STREAMS", "e:s", "$"],
                "ERR timeout is not an integer or out of range",
            ),
            (
                &["XREAD", "BLOCK", "1.5", "STREAMS", "e:s", "$"],
                "ERR timeout is not an integer or out of range",
            ),
            (
                &["XREAD", "BLOCK", "-1", "STREAMS", "e:s", "$"],
                "ERR timeout is negative",
            ),
            (
                &["XREAD", "BLOCK", "0", "STREAMS", "e:s"],
                "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
            ),
            // `+` (the last entry) came with Redis 7.4.
            (
                &["XREAD", "BLOCK", "0", "STREAMS", "e:s", "+"],
                "ERR Invalid stream ID specified as stream command argument",
            ),
            (
                &["XREAD", "BLOCK", "0", "STREAMS", "e:none", "e:str", "$", "$"],
                WRONGTYPE,
            ),
            (
                &["XREAD", "BLOCK", "0", "STREAMS", "e:s", ">"],
                "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            ),
            (
                &["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "e:s", ">"],
                "NOGROUP No such key 'e:s' or consumer group 'g' in XREADGROUP with GROUP option",
            ),
            (
                &["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "e:none", ">"],
                "NOGROUP No such key 'e:none' or consumer group 'g' in XREADGROUP with GROUP option",
            ),
            (
                &["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "e:str", ">"],
                WRONGTYPE,
            ),
        ];
        for (args, want) in cases {
            assert_eq!(qerr(&mut c, args), *want, "{args:?}");
        }
        q(&mut c, &["XGROUP", "CREATE", "e:s", "g", "$"]);
        assert_eq!(
            qerr(
                &mut c,
                &["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "e:s", "$"]
            ),
            "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."
        );
        assert_eq!(blocked(&mut c), 0);
    });
}

#[test]
fn several_keys_the_one_written_is_served() {
    both(|s| {
        let mut admin = s.conn();
        let mut writer = s.conn();
        let keys = spread_keys("mk", 4);
        q(&mut writer, &["XADD", &keys[1], "5-0", "old", "1"]);
        for (i, key) in keys.iter().enumerate() {
            let mut args = vec!["XREAD", "BLOCK", "0", "STREAMS"];
            args.extend(keys.iter().map(|k| k.as_str()));
            args.extend(["$", "$", "$", "$"]);
            let h = spawn_cmd(s, &args);
            wait_blocked(&mut admin, 1);
            let id = format!("{}-1", 10 + i);
            q(&mut writer, &["XADD", key, &id, "n", "1"]);
            // Only the key that got the entry.
            assert_eq!(
                joined(h),
                read_reply(&[(key.as_str(), vec![entry(&id, &["n", "1"])])])
            );
        }
        // A key given twice.
        let h = spawn_cmd(
            s,
            &["XREAD", "BLOCK", "0", "STREAMS", "mk:d", "mk:d", "$", "$"],
        );
        wait_blocked(&mut admin, 1);
        q(&mut writer, &["XADD", "mk:d", "1-1", "f", "v"]);
        assert_eq!(
            joined(h),
            read_reply(&[("mk:d", vec![entry("1-1", &["f", "v"])])])
        );
        // Writes of other kinds do not serve a stream reader: it goes on waiting.
        let h = spawn_cmd(s, &["XREAD", "BLOCK", "0", "STREAMS", "mk:e", "$"]);
        wait_blocked(&mut admin, 1);
        q(&mut writer, &["LPUSH", "mk:e", "x"]);
        q(&mut writer, &["DEL", "mk:e"]);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(blocked(&mut admin), 1);
        q(&mut writer, &["XADD", "mk:e", "1-1", "f", "v"]);
        assert_eq!(
            joined(h),
            read_reply(&[("mk:e", vec![entry("1-1", &["f", "v"])])])
        );
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn one_xadd_serves_every_waiting_reader() {
    both(|s| {
        let mut admin = s.conn();
        let mut writer = s.conn();
        q(&mut writer, &["XADD", "all", "1-0", "f", "v"]);
        let hs: Vec<_> = (0..3)
            .map(|_| spawn_cmd(s, &["XREAD", "BLOCK", "0", "STREAMS", "all", "$"]))
            .collect();
        // One that reads from further on, one on another key.
        let later = spawn_cmd(s, &["XREAD", "BLOCK", "0", "STREAMS", "all", "5-0"]);
        let other = spawn_cmd(s, &["XREAD", "BLOCK", "0", "STREAMS", "all:other", "$"]);
        wait_blocked(&mut admin, 5);
        q(&mut writer, &["XADD", "all", "2-0", "f", "w"]);
        for h in hs {
            assert_eq!(
                joined(h),
                read_reply(&[("all", vec![entry("2-0", &["f", "w"])])])
            );
        }
        wait_blocked(&mut admin, 2);
        q(&mut writer, &["XADD", "all", "6-0", "f", "x"]);
        assert_eq!(
            joined(later),
            read_reply(&[("all", vec![entry("6-0", &["f", "x"])])])
        );
        wait_blocked(&mut admin, 1);
        q(&mut writer, &["XADD", "all:other", "1-0", "o", "1"]);
        assert_eq!(
            joined(other),
            read_reply(&[("all:other", vec![entry("1-0", &["o", "1"])])])
        );
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn xreadgroup_woken_delivers_and_updates_the_pel() {
    both(|s| {
        let mut admin = s.conn();
        let mut writer = s.conn();
        for key in spread_keys("grp", 3) {
            q(
                &mut writer,
                &["XGROUP", "CREATE", &key, "g", "$", "MKSTREAM"],
            );
            let h = spawn_cmd(
                s,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "alice",
                    "BLOCK",
                    "0",
                    "STREAMS",
                    &key,
                    ">",
                ],
            );
            wait_blocked(&mut admin, 1);
            q(&mut writer, &["XADD", &key, "1-1", "f", "v"]);
            assert_eq!(
                joined(h),
                read_reply(&[(&key, vec![entry("1-1", &["f", "v"])])])
            );
            assert_eq!(
                q(&mut writer, &["XPENDING", &key, "g"]),
                arr(vec![
                    int(1),
                    bulk("1-1"),
                    bulk("1-1"),
                    arr(vec![arr(vec![bulk("alice"), bulk("1")])])
                ])
            );
            let groups = q(&mut writer, &["XINFO", "GROUPS", &key]);
            let Value::Array(g) = groups else {
                panic!("{groups:?}")
            };
            let Value::Array(fields) = &g[0] else {
                panic!("{g:?}")
            };
            // last-delivered-id moved.
            assert_eq!(fields[7], bulk("1-1"), "{fields:?}");
        }
        // Two consumers of one group: one XADD serves the first (the group moved on), the
        // next one the second.
        q(
            &mut writer,
            &["XGROUP", "CREATE", "two", "g", "$", "MKSTREAM"],
        );
        let read = |who: &str| {
            spawn_cmd(
                s,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    who,
                    "COUNT",
                    "10",
                    "BLOCK",
                    "0",
                    "STREAMS",
                    "two",
                    ">",
                ],
            )
        };
        let a = read("a");
        wait_blocked(&mut admin, 1);
        let b = read("b");
        wait_blocked(&mut admin, 2);
        q(&mut writer, &["XADD", "two", "1-0", "n", "1"]);
        assert_eq!(
            joined(a),
            read_reply(&[("two", vec![entry("1-0", &["n", "1"])])])
        );
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(blocked(&mut admin), 1);
        q(&mut writer, &["XADD", "two", "2-0", "n", "2"]);
        assert_eq!(
            joined(b),
            read_reply(&[("two", vec![entry("2-0", &["n", "2"])])])
        );
        let got = q(&mut writer, &["XPENDING", "two", "g", "-", "+", "10"]);
        let want = arr(vec![
            arr(vec![bulk("1-0"), bulk("a"), any_int(), int(1)]),
            arr(vec![bulk("2-0"), bulk("b"), any_int(), int(1)]),
        ]);
        assert_eq!(got, want.pick(&got));
        // NOACK: delivered, nothing pending.
        let h = spawn_cmd(
            s,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "NOACK",
                "BLOCK",
                "0",
                "STREAMS",
                "two",
                ">",
            ],
        );
        wait_blocked(&mut admin, 1);
        q(&mut writer, &["XADD", "two", "3-0", "n", "3"]);
        assert_eq!(
            joined(h),
            read_reply(&[("two", vec![entry("3-0", &["n", "3"])])])
        );
        assert_eq!(
            q(&mut writer, &["XPENDING", "two", "g"]),
            arr(vec![
                int(2),
                bulk("1-0"),
                bulk("2-0"),
                arr(vec![
                    arr(vec![bulk("a"), bulk("1")]),
                    arr(vec![bulk("b"), bulk("1")])
                ])
            ])
        );
        assert_eq!(
            q(&mut writer, &["XINFO", "CONSUMERS", "two", "g"]).len_of_array(),
            3
        );
        assert_no_waiters(&mut admin);
    });
}

/// Helpers to compare replies that hold times.
trait Loose {
    fn pick(self, got: &Value) -> Value;
    fn len_of_array(&self) -> usize;
}

/// A placeholder for an integer the comparison ignores.
fn any_int() -> Value {
    Value::Int(i64::MIN)
}

impl Loose for Value {
    /// `self` with its `any_int()` placeholders replaced by what `got` has there.
    fn pick(self, got: &Value) -> Value {
        match (self, got) {
            (Value::Int(i64::MIN), Value::Int(n)) => Value::Int(*n),
            (Value::Array(want), Value::Array(have)) if want.len() == have.len() => {
                Value::Array(want.into_iter().zip(have).map(|(w, h)| w.pick(h)).collect())
            }
            (w, _) => w,
        }
    }

    fn len_of_array(&self) -> usize {
        match self {
            Value::Array(v) => v.len(),
            other => panic!("not an array: {other:?}"),
        }
    }
}

#[test]
fn xreadgroup_told_when_its_group_or_stream_goes() {
    both(|s| {
        let mut admin = s.conn();
        let mut writer = s.conn();
        let block = |key: &str| {
            spawn_cmd(
                s,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "c",
                    "BLOCK",
                    "0",
                    "STREAMS",
                    key,
                    ">",
                ],
            )
        };
        let mk = |w: &mut redis::Connection, key: &str| {
            q(w, &["XGROUP", "CREATE", key, "g", "$", "MKSTREAM"]);
        };
        // The group destroyed.
        mk(&mut writer, "gone:a");
        let h = block("gone:a");
        wait_blocked(&mut admin, 1);
        assert_eq!(
            q(&mut writer, &["XGROUP", "DESTROY", "gone:a", "g"]),
            int(1)
        );
        assert_eq!(joined_err(h), NOGROUP_BLOCKED);
        // The key deleted, overwritten, renamed away, flushed.
        let removals: &[&[&str]] = &[
            &["DEL", "gone:b"],
            &["UNLINK", "gone:b"],
            &["SET", "gone:b", "x"],
            &["RENAME", "gone:b", "gone:c"],
            &["FLUSHDB"],
        ];
        for how in removals {
            mk(&mut writer, "gone:b");
            let h = block("gone:b");
            wait_blocked(&mut admin, 1);
            q(&mut writer, how);
            assert_eq!(joined_err(h), NOKEY_BLOCKED, "{how:?}");
            q(&mut writer, &["DEL", "gone:b", "gone:c"]);
        }
        // Expired.
        mk(&mut writer, "gone:e");
        let h = block("gone:e");
        wait_blocked(&mut admin, 1);
        q(&mut writer, &["PEXPIRE", "gone:e", "50"]);
        assert_eq!(joined_err(h), NOKEY_BLOCKED);
        // Replaced by a stream without the group.
        mk(&mut writer, "gone:f");
        q(&mut writer, &["XADD", "gone:g", "1-1", "f", "v"]);
        let h = block("gone:f");
        wait_blocked(&mut admin, 1);
        q(&mut writer, &["RENAME", "gone:g", "gone:f"]);
        assert_eq!(joined_err(h), NOGROUP_BLOCKED);
        // Deleted, then created again: it was told of the deletion.
        mk(&mut writer, "gone:h");
        let h = block("gone:h");
        wait_blocked(&mut admin, 1);
        q(&mut writer, &["DEL", "gone:h"]);
        q(&mut writer, &["XADD", "gone:h", "1-1", "f", "v"]);
        assert_eq!(joined_err(h), NOKEY_BLOCKED);
        // A plain XREAD waits through a deletion.
        q(&mut writer, &["XADD", "gone:i", "5-0", "f", "v"]);
        let h = spawn_cmd(s, &["XREAD", "BLOCK", "0", "STREAMS", "gone:i", "$"]);
        wait_blocked(&mut admin, 1);
        q(&mut writer, &["DEL", "gone:i"]);
        // Created again below the ID it reads after: still nothing for it.
        q(&mut writer, &["XADD", "gone:i", "1-0", "f", "v"]);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(blocked(&mut admin), 1);
        q(&mut writer, &["XADD", "gone:i", "6-0", "f", "w"]);
        assert_eq!(
            joined(h),
            read_reply(&[("gone:i", vec![entry("6-0", &["f", "w"])])])
        );
        // Another group going, or the group moved back, does not end the wait.
        mk(&mut writer, "gone:j");
        q(&mut writer, &["XGROUP", "CREATE", "gone:j", "other", "$"]);
        let h = block("gone:j");
        wait_blocked(&mut admin, 1);
        q(&mut writer, &["XGROUP", "DESTROY", "gone:j", "other"]);
        q(&mut writer, &["XGROUP", "SETID", "gone:j", "g", "0"]);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(blocked(&mut admin), 1);
        q(&mut writer, &["XADD", "gone:j", "1-0", "f", "v"]);
        assert_eq!(
            joined(h),
            read_reply(&[("gone:j", vec![entry("1-0", &["f", "v"])])])
        );
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn served_with_nothing_left_when_entries_were_deleted() {
    // A blocked client is served when the stream's last ID passes its own, even if those
    // entries are gone by the time a write marks the key (Redis compares the last ID).
    both(|s| {
        let mut admin = s.conn();
        let mut w = s.conn();
        q(&mut w, &["XADD", "d", "1-1", "f", "v"]);
        q(&mut w, &["XGROUP", "CREATE", "d", "g", "$"]);
        q(&mut w, &["XGROUP", "CREATE", "d", "g2", "$"]);
        q(&mut w, &["XADD", "d", "2-2", "f", "v"]);
        q(&mut w, &["XDEL", "d", "2-2"]);
        let a = spawn_cmd(
            s,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "d",
                ">",
            ],
        );
        let b = spawn_cmd(s, &["XREAD", "BLOCK", "0", "STREAMS", "d", "1-1"]);
        wait_blocked(&mut admin, 2);
        q(&mut w, &["XGROUP", "DESTROY", "d", "g2"]);
        assert_eq!(joined(a), read_reply(&[("d", vec![])]));
        assert_eq!(joined(b), read_reply(&[("d", vec![])]));
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn client_unblock() {
    both(|s| {
        let mut admin = s.conn();
        let mut c = s.conn();
        q(
            &mut admin,
            &["XGROUP", "CREATE", "ub", "g", "$", "MKSTREAM"],
        );
        let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut c).expect("id");
        let sid = id.to_string();
        let h = std::thread::spawn(move || {
            let r = cmd(&["XREAD", "BLOCK", "0", "STREAMS", "ub", "ub:2", "$", "$"])
                .query::<Value>(&mut c);
            (r, c)
        });
        wait_blocked(&mut admin, 1);
        assert_eq!(q(&mut admin, &["CLIENT", "UNBLOCK", &sid]), int(1));
        let (r, mut c) = h.join().expect("thread");
        assert_eq!(r.expect("nil"), Value::Nil);
        let h = std::thread::spawn(move || {
            let r = cmd(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "ub",
                ">",
            ])
            .query::<Value>(&mut c);
            (r, c)
        });
        wait_blocked(&mut admin, 1);
        assert_eq!(q(&mut admin, &["CLIENT", "UNBLOCK", &sid, "ERROR"]), int(1));
        let (r, mut c) = h.join().expect("thread");
        assert_eq!(
            error_line(&r.expect_err("error")),
            "UNBLOCKED client unblocked via CLIENT UNBLOCK"
        );
        assert_no_waiters(&mut admin);
        // Nothing is delivered to it afterwards.
        q(&mut admin, &["XADD", "ub", "1-1", "f", "v"]);
        assert_eq!(
            q(&mut admin, &["XPENDING", "ub", "g"]),
            arr(vec![int(0), Value::Nil, Value::Nil, Value::Nil])
        );
        assert_eq!(q(&mut c, &["PING"]), status("PONG"));
    });
}

#[test]
fn disconnected_reader_leaves_nothing_behind() {
    both(|s| {
        let mut admin = s.conn();
        q(
            &mut admin,
            &["XGROUP", "CREATE", "dc:g", "g", "$", "MKSTREAM"],
        );
        let keys = spread_keys("dc", 4);
        let mut raw = s.raw();
        let mut args: Vec<&[u8]> = vec![b"XREAD", b"BLOCK", b"0", b"STREAMS"];
        args.extend(keys.iter().map(|k| k.as_bytes()));
        args.extend([b"$".as_slice(); 4]);
        raw.send_cmd(&args);
        wait_blocked(&mut admin, 1);
        drop(raw);
        assert_no_waiters(&mut admin);
        let mut raw = s.raw();
        raw.send_cmd(&[
            b"XREADGROUP",
            b"GROUP",
            b"g",
            b"gone",
            b"BLOCK",
            b"0",
            b"STREAMS",
            b"dc:g",
            b">",
        ]);
        wait_blocked(&mut admin, 1);
        drop(raw);
        assert_no_waiters(&mut admin);
        // The entry is not delivered to the dead client: the next reader gets it.
        q(&mut admin, &["XADD", "dc:g", "1-1", "f", "v"]);
        assert_eq!(
            q(&mut admin, &["XPENDING", "dc:g", "g"]),
            arr(vec![int(0), Value::Nil, Value::Nil, Value::Nil])
        );
        assert_eq!(
            q(
                &mut admin,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "next",
                    "BLOCK",
                    "0",
                    "STREAMS",
                    "dc:g",
                    ">"
                ]
            ),
            read_reply(&[("dc:g", vec![entry("1-1", &["f", "v"])])])
        );
        // Killed while blocked.
        let mut c = s.conn();
        let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut c).expect("id");
        let h = std::thread::spawn(move || {
            cmd(&["XREAD", "BLOCK", "0", "STREAMS", "dc:0", "dc:1", "$", "$"])
                .query::<Value>(&mut c)
        });
        wait_blocked(&mut admin, 1);
        assert_eq!(
            q(&mut admin, &["CLIENT", "KILL", "ID", &id.to_string()]),
            int(1)
        );
        assert!(h.join().expect("thread").is_err());
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn blocked_connection_holds_its_pipeline() {
    both(|s| {
        let mut admin = s.conn();
        let mut raw = s.raw();
        let mut pipeline = encode_cmd(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"pl", b"$"]);
        pipeline.extend(encode_cmd(&[b"XLEN", b"pl"]));
        raw.send(&pipeline);
        wait_blocked(&mut admin, 1);
        assert_eq!(q(&mut admin, &["XADD", "pl", "1-1", "f", "v"]), bulk("1-1"));
        assert_eq!(
            raw.read_reply(),
            b"*1\r\n*2\r\n$2\r\npl\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
                .to_vec()
        );
        assert_eq!(raw.read_reply(), b":1\r\n".to_vec());
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn aof_restart_keeps_what_a_blocked_xreadgroup_was_served() {
    if skip_under_redis("shardis AOF restart") {
        return;
    }
    let args = ["--appendonly", "yes", "--appendfsync", "always"];
    for shards in [1, 4] {
        let mut s = Server::start_with(shards, &args);
        let mut admin = s.conn();
        let mut w = s.conn();
        q(&mut w, &["XGROUP", "CREATE", "aof:a", "g", "$", "MKSTREAM"]);
        q(&mut w, &["XGROUP", "CREATE", "aof:b", "g", "$", "MKSTREAM"]);
        let h = spawn_cmd(
            &s,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "alice",
                "BLOCK",
                "0",
                "STREAMS",
                "aof:a",
                ">",
            ],
        );
        let n = spawn_cmd(
            &s,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "bob",
                "NOACK",
                "BLOCK",
                "0",
                "STREAMS",
                "aof:b",
                ">",
            ],
        );
        wait_blocked(&mut admin, 2);
        q(&mut w, &["XADD", "aof:a", "1-1", "f", "v"]);
        q(&mut w, &["XADD", "aof:b", "1-1", "f", "v"]);
        joined(h);
        joined(n);
        let before_a = q(&mut w, &["XPENDING", "aof:a", "g", "-", "+", "10", "alice"]);
        let groups_b = q(&mut w, &["XINFO", "GROUPS", "aof:b"]);
        let consumers_b = q(&mut w, &["XINFO", "CONSUMERS", "aof:b", "g"]).len_of_array();
        drop(admin);
        drop(w);
        s.shutdown();
        let s = s.restart(shards, &args).expect("restart");
        let mut c = s.conn();
        assert_eq!(
            q(&mut c, &["XPENDING", "aof:a", "g"]),
            arr(vec![
                int(1),
                bulk("1-1"),
                bulk("1-1"),
                arr(vec![arr(vec![bulk("alice"), bulk("1")])])
            ]),
            "{shards} shards"
        );
        let after_a = q(&mut c, &["XPENDING", "aof:a", "g", "-", "+", "10", "alice"]);
        // Same entry, consumer and delivery count (the idle time goes on).
        assert_eq!(
            strip_idle(&before_a),
            strip_idle(&after_a),
            "{shards} shards"
        );
        assert_eq!(
            q(&mut c, &["XINFO", "GROUPS", "aof:b"]),
            groups_b,
            "{shards} shards"
        );
        assert_eq!(
            q(&mut c, &["XINFO", "CONSUMERS", "aof:b", "g"]).len_of_array(),
            consumers_b
        );
        // The group goes on from there.
        assert_eq!(
            q(
                &mut c,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "alice",
                    "BLOCK",
                    "10",
                    "STREAMS",
                    "aof:a",
                    ">"
                ]
            ),
            Value::Nil
        );
    }
}

/// XPENDING's extended form with the idle times zeroed.
fn strip_idle(v: &Value) -> Value {
    match v {
        Value::Array(rows) => Value::Array(
            rows.iter()
                .map(|r| match r {
                    Value::Array(f) if f.len() == 4 => {
                        Value::Array(vec![f[0].clone(), f[1].clone(), int(0), f[3].clone()])
                    }
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn no_entry_lost_under_races() {
    // Readers block with short timeouts on several keys while writers add: timeouts race with
    // wake-ups; every entry a group delivers is delivered once.
    both(|s| {
        let keys = spread_keys("race", 3);
        let mut w = s.conn();
        for k in &keys {
            q(&mut w, &["XGROUP", "CREATE", k, "g", "$", "MKSTREAM"]);
        }
        let total = 150;
        let readers: Vec<_> = (0..3)
            .map(|i| {
                let mut c = s.conn();
                let keys = keys.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut idle = 0;
                    while idle < 20 {
                        let mut args = vec![
                            "XREADGROUP".to_string(),
                            "GROUP".into(),
                            "g".into(),
                            format!("r{i}"),
                            "COUNT".into(),
                            "5".into(),
                            "BLOCK".into(),
                            "20".into(),
                            "STREAMS".into(),
                        ];
                        args.extend(keys.iter().cloned());
                        args.extend(keys.iter().map(|_| ">".to_string()));
                        match cmd(&args).query::<Value>(&mut c).expect("XREADGROUP") {
                            Value::Nil => idle += 1,
                            Value::Array(streams) => {
                                idle = 0;
                                for st in streams {
                                    let Value::Array(kv) = st else { panic!() };
                                    let Value::Array(entries) = &kv[1] else {
                                        panic!()
                                    };
                                    for e in entries {
                                        let Value::Array(e) = e else { panic!() };
                                        got.push((kv[0].clone(), e[0].clone()));
                                    }
                                }
                            }
                            other => panic!("{other:?}"),
                        }
                    }
                    got
                })
            })
            .collect();
        for i in 0..total {
            let k = &keys[i % keys.len()];
            q(&mut w, &["XADD", k, "*", "n", &i.to_string()]);
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(3));
            }
        }
        let mut all: Vec<(Value, Value)> = readers
            .into_iter()
            .flat_map(|h| h.join().expect("reader"))
            .collect();
        let n = all.len();
        all.sort_by_key(|(k, id)| format!("{k:?}{id:?}"));
        all.dedup();
        assert_eq!(all.len(), n, "an entry delivered twice");
        assert_eq!(n, total, "entries lost");
        let mut admin = s.conn();
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn info_counts_stream_waiters() {
    both(|s| {
        let mut admin = s.conn();
        let a = spawn_cmd(
            s,
            &["XREAD", "BLOCK", "0", "STREAMS", "ic:a", "ic:b", "$", "$"],
        );
        let b = spawn_cmd(s, &["XREAD", "BLOCK", "5000", "STREAMS", "ic:a", "$"]);
        wait_blocked(&mut admin, 2);
        assert_eq!(info_num(&mut admin, "clients_in_timeout_table"), Some(1));
        if let Some(n) = info_num(&mut admin, "total_blocking_keys") {
            assert_eq!(n, 2);
        }
        q(&mut admin, &["XADD", "ic:a", "1-1", "f", "v"]);
        joined(a);
        joined(b);
        assert_no_waiters(&mut admin);
    });
}

/// Redis's suite's way (stream-cgroups "Blocking XREADGROUP: key deleted" and the like): a new
/// connection (one round trip done, as the suite's deferring client does) sends the blocking
/// read and another, without waiting, deletes or replaces the stream. On several shards the
/// deletion can reach the key's shard before the read that came in first (through another
/// shard); the read is still answered as if it had been waiting. FLUSHALL too: without the
/// streams it flushed recorded, each of 5 runs failed a FLUSHALL round.
#[test]
fn a_read_sent_before_its_stream_went_is_answered_as_a_waiter() {
    both(|s| {
        let mut r = s.raw();
        for round in 0..45 {
            let key = format!("gone:{round}");
            let k = key.as_bytes();
            r.roundtrip(&[b"XADD", k, b"666", b"f", b"v"]);
            r.roundtrip(&[b"XGROUP", b"CREATE", k, b"g", b"$"]);
            let mut rd = s.raw();
            rd.roundtrip(&[b"PING"]);
            rd.send_cmd(&[
                b"XREADGROUP",
                b"GROUP",
                b"g",
                b"c",
                b"BLOCK",
                b"0",
                b"STREAMS",
                k,
                b">",
            ]);
            match round % 3 {
                0 => r.roundtrip(&[b"DEL", k]),
                1 => r.roundtrip(&[b"SET", k, b"val1"]),
                // "Blocking XREADGROUP: flushed DB".
                _ => r.roundtrip(&[b"FLUSHALL"]),
            };
            let got = rd.read_reply_str();
            assert_eq!(got, format!("-{NOKEY_BLOCKED}\r\n"), "round {round}");
        }
        for round in 0..30 {
            let key = format!("changed:{round}");
            let k = key.as_bytes();
            r.roundtrip(&[b"XADD", k, b"666", b"f", b"v"]);
            let mut rd = s.raw();
            rd.roundtrip(&[b"PING"]);
            rd.send_cmd(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", k, b"$"]);
            r.roundtrip(&[b"SET", k, b"val1"]);
            r.roundtrip(&[b"DEL", k]);
            r.roundtrip(&[b"XADD", k, b"667", b"f", b"v"]);
            let got = rd.read_reply_str();
            assert!(got.contains("667-0"), "round {round}: {got}");
        }
    });
}
