//! Stream commands, checked against Redis 7.0.15 (run with SHARDIS_TEST_SERVER=redis to check
//! the tests themselves against redis-server). IDs are given explicitly wherever the reply
//! depends on them; generated ones are checked for their relations only.

mod common;

use common::*;
use redis::Value;
use std::time::Duration;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn entry(id: &str, fv: &[&str]) -> Value {
    arr(vec![bulk(id), arr(fv.iter().map(bulk).collect())])
}

/// A map reply (RESP2: a flat array) as (field name, value) pairs.
fn map(v: &Value) -> Vec<(String, Value)> {
    let Value::Array(items) = v else {
        panic!("not a map: {v:?}")
    };
    items
        .chunks(2)
        .map(|c| match &c[0] {
            Value::BulkString(k) => (String::from_utf8_lossy(k).into_owned(), c[1].clone()),
            other => panic!("map key {other:?}"),
        })
        .collect()
}

fn field(v: &Value, name: &str) -> Value {
    map(v)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {name} in {v:?}"))
}

fn id_parts(v: &Value) -> (u64, u64) {
    let Value::BulkString(b) = v else {
        panic!("not an id: {v:?}")
    };
    let s = String::from_utf8_lossy(b);
    let (a, b) = s.split_once('-').expect("ms-seq");
    (a.parse().expect("ms"), b.parse().expect("seq"))
}

#[test]
fn xadd_ids_and_errors() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["XADD", "s", "1-1", "a", "1"]), bulk("1-1"));
        assert_eq!(q(&mut c, &["XADD", "s", "1-*", "b", "2"]), bulk("1-2"));
        assert_eq!(q(&mut c, &["XADD", "s", "5", "c", "3"]), bulk("5-0"));
        assert_eq!(
            qerr(&mut c, &["XADD", "s", "0-0", "a", "1"]),
            "ERR The ID specified in XADD must be greater than 0-0"
        );
        assert_eq!(
            qerr(&mut c, &["XADD", "s", "1-1", "a", "1"]),
            "ERR The ID specified in XADD is equal or smaller than the target stream top item"
        );
        assert_eq!(
            qerr(&mut c, &["XADD", "s", "abc", "a", "1"]),
            "ERR Invalid stream ID specified as stream command argument"
        );
        assert_eq!(
            qerr(&mut c, &["XADD", "s", "*", "a"]),
            "ERR wrong number of arguments for 'xadd' command"
        );
        assert_eq!(
            qerr(
                &mut c,
                &["XADD", "s", "MAXLEN", "1", "MINID", "1", "*", "a", "1"]
            ),
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
        );
        assert_eq!(
            qerr(&mut c, &["XADD", "s", "MAXLEN", "-1", "*", "a", "1"]),
            "ERR The MAXLEN argument must be >= 0."
        );
        assert_eq!(
            qerr(
                &mut c,
                &["XADD", "s", "MAXLEN", "1", "LIMIT", "10", "*", "a", "1"]
            ),
            "ERR syntax error, LIMIT cannot be used without the special ~ option"
        );
        // Auto IDs are now-ish and increasing.
        let a = id_parts(&q(&mut c, &["XADD", "auto", "*", "f", "v"]));
        let b = id_parts(&q(&mut c, &["XADD", "auto", "*", "f", "v"]));
        assert!(b > a && a.0 > 1_600_000_000_000);
        // NOMKSTREAM on a missing key: nil, nothing created.
        assert_eq!(
            q(&mut c, &["XADD", "nos", "NOMKSTREAM", "*", "a", "1"]),
            nil()
        );
        assert_eq!(qt::<i64, _>(&mut c, &["EXISTS", "nos"]), 0);
        q(&mut c, &["SET", "str", "x"]);
        assert_eq!(qerr(&mut c, &["XADD", "str", "*", "a", "1"]), WRONGTYPE);
        assert_eq!(qt::<String, _>(&mut c, &["TYPE", "s"]), "stream");
        assert_eq!(
            qt::<String, _>(&mut c, &["OBJECT", "ENCODING", "s"]),
            "stream"
        );
        // The last possible ID, then nothing more.
        q(
            &mut c,
            &[
                "XADD",
                "m",
                "18446744073709551615-18446744073709551615",
                "a",
                "1",
            ],
        );
        assert_eq!(
            qerr(&mut c, &["XADD", "m", "*", "a", "1"]),
            "ERR The stream has exhausted the last possible ID, unable to add more items"
        );
    });
}

#[test]
fn ranges_lengths_and_deletes() {
    both(|s| {
        let mut c = s.conn();
        for i in 1..=5 {
            q(
                &mut c,
                &["XADD", "s", &format!("{i}-0"), "f", &i.to_string()],
            );
        }
        assert_eq!(qt::<i64, _>(&mut c, &["XLEN", "s"]), 5);
        assert_eq!(qt::<i64, _>(&mut c, &["XLEN", "none"]), 0);
        assert_eq!(
            q(&mut c, &["XRANGE", "s", "2", "3"]),
            arr(vec![entry("2-0", &["f", "2"]), entry("3-0", &["f", "3"])])
        );
        assert_eq!(
            q(&mut c, &["XRANGE", "s", "(1-0", "(4-0"]),
            arr(vec![entry("2-0", &["f", "2"]), entry("3-0", &["f", "3"])])
        );
        assert_eq!(
            q(&mut c, &["XREVRANGE", "s", "+", "-", "COUNT", "2"]),
            arr(vec![entry("5-0", &["f", "5"]), entry("4-0", &["f", "4"])])
        );
        assert_eq!(
            q(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "0"]),
            Value::Nil
        );
        assert_eq!(q(&mut c, &["XRANGE", "none", "-", "+"]), arr(vec![]));
        assert_eq!(
            qerr(
                &mut c,
                &[
                    "XRANGE",
                    "s",
                    "(18446744073709551615-18446744073709551615",
                    "+"
                ]
            ),
            "ERR invalid start ID for the interval"
        );
        assert_eq!(
            qerr(&mut c, &["XRANGE", "s", "-", "(0-0"]),
            "ERR invalid end ID for the interval"
        );
        assert_eq!(
            qerr(&mut c, &["XRANGE", "s", "(-", "+"]),
            "ERR Invalid stream ID specified as stream command argument"
        );
        assert_eq!(qt::<i64, _>(&mut c, &["XDEL", "s", "2-0", "9-0", "2-0"]), 1);
        assert_eq!(qt::<i64, _>(&mut c, &["XDEL", "none", "2-0"]), 0);
        assert_eq!(qt::<i64, _>(&mut c, &["XLEN", "s"]), 4);
        let info = q(&mut c, &["XINFO", "STREAM", "s"]);
        assert_eq!(field(&info, "max-deleted-entry-id"), bulk("2-0"));
        assert_eq!(field(&info, "entries-added"), int(5));
        assert_eq!(field(&info, "first-entry"), entry("1-0", &["f", "1"]));
        assert_eq!(qt::<i64, _>(&mut c, &["XTRIM", "s", "MAXLEN", "2"]), 2);
        assert_eq!(
            q(&mut c, &["XRANGE", "s", "-", "+"]),
            arr(vec![entry("4-0", &["f", "4"]), entry("5-0", &["f", "5"])])
        );
        assert_eq!(qt::<i64, _>(&mut c, &["XTRIM", "s", "MINID", "5"]), 1);
        assert_eq!(
            qerr(&mut c, &["XTRIM", "s", "LIMIT", "5"]),
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
        );
        assert_eq!(
            qerr(&mut c, &["XTRIM", "s", "LIMIT", "0"]),
            "ERR syntax error, XTRIM must be called with a trimming strategy"
        );
    });
}

#[test]
fn approximate_trimming_removes_whole_nodes_as_redis() {
    both(|s| {
        let mut c = s.conn();
        for i in 1..=1000 {
            q(
                &mut c,
                &["XADD", "s", &format!("{i}-1"), "f", &format!("v{i}")],
            );
        }
        let info = q(&mut c, &["XINFO", "STREAM", "s"]);
        assert_eq!(field(&info, "radix-tree-keys"), int(10));
        assert_eq!(field(&info, "radix-tree-nodes"), int(26));
        // 100 entries a node: MAXLEN ~ 555 can drop four nodes.
        assert_eq!(
            qt::<i64, _>(&mut c, &["XTRIM", "s", "MAXLEN", "~", "555"]),
            400
        );
        assert_eq!(
            qt::<i64, _>(&mut c, &["XTRIM", "s", "MINID", "~", "750"]),
            300
        );
        assert_eq!(
            qt::<i64, _>(&mut c, &["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "150"]),
            100
        );
        let info = q(&mut c, &["XINFO", "STREAM", "s"]);
        assert_eq!(field(&info, "length"), int(200));
        assert_eq!(field(&info, "radix-tree-keys"), int(2));
        assert_eq!(field(&info, "radix-tree-nodes"), int(6));
        assert_eq!(field(&info, "recorded-first-entry-id"), bulk("801-1"));
    });
}

#[test]
fn consumer_groups() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["XADD", "s", "1-1", "a", "1"]);
        q(&mut c, &["XADD", "s", "2-1", "b", "2"]);
        q(&mut c, &["XADD", "s", "3-1", "c", "3"]);
        assert_eq!(q(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]), ok());
        assert_eq!(
            qerr(&mut c, &["XGROUP", "CREATE", "s", "g", "$"]),
            "BUSYGROUP Consumer Group name already exists"
        );
        assert_eq!(
            qerr(&mut c, &["XGROUP", "CREATE", "none", "g", "$"]),
            "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."
        );
        assert_eq!(
            q(&mut c, &["XGROUP", "CREATE", "new", "g", "$", "MKSTREAM"]),
            ok()
        );
        assert_eq!(qt::<i64, _>(&mut c, &["XLEN", "new"]), 0);
        assert_eq!(
            q(
                &mut c,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "alice",
                    "COUNT",
                    "2",
                    "STREAMS",
                    "s",
                    ">"
                ]
            ),
            arr(vec![arr(vec![
                bulk("s"),
                arr(vec![entry("1-1", &["a", "1"]), entry("2-1", &["b", "2"])])
            ])])
        );
        assert_eq!(
            q(
                &mut c,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "bob",
                    "NOACK",
                    "STREAMS",
                    "s",
                    ">"
                ]
            ),
            arr(vec![arr(vec![
                bulk("s"),
                arr(vec![entry("3-1", &["c", "3"])])
            ])])
        );
        // Nothing new: a nil reply. Redis keeps `>` as the largest ID, so that ID given
        // explicitly reads new entries too, not bob's history after it (an empty list).
        for id in [">", "18446744073709551615-18446744073709551615"] {
            let read = ["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", id];
            assert_eq!(q(&mut c, &read), Value::Nil, "{id}");
        }
        // Alice's history.
        assert_eq!(
            q(
                &mut c,
                &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"]
            ),
            arr(vec![arr(vec![
                bulk("s"),
                arr(vec![entry("1-1", &["a", "1"]), entry("2-1", &["b", "2"])])
            ])])
        );
        assert_eq!(
            qerr(
                &mut c,
                &["XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", ">"]
            ),
            "NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option"
        );
        let groups = q(&mut c, &["XINFO", "GROUPS", "s"]);
        let Value::Array(gs) = &groups else { panic!() };
        assert_eq!(field(&gs[0], "name"), bulk("g"));
        assert_eq!(field(&gs[0], "consumers"), int(2));
        assert_eq!(field(&gs[0], "pending"), int(2));
        assert_eq!(field(&gs[0], "last-delivered-id"), bulk("3-1"));
        assert_eq!(field(&gs[0], "entries-read"), int(3));
        assert_eq!(field(&gs[0], "lag"), int(0));
        // XPENDING, summary and extended.
        assert_eq!(
            q(&mut c, &["XPENDING", "s", "g"]),
            arr(vec![
                int(2),
                bulk("1-1"),
                bulk("2-1"),
                arr(vec![arr(vec![bulk("alice"), bulk("2")])])
            ])
        );
        let ext = q(&mut c, &["XPENDING", "s", "g", "-", "+", "10"]);
        let Value::Array(rows) = &ext else { panic!() };
        assert_eq!(rows.len(), 2);
        let Value::Array(r0) = &rows[0] else { panic!() };
        assert_eq!(r0[0], bulk("1-1"));
        assert_eq!(r0[1], bulk("alice"));
        assert_eq!(r0[3], int(2), "delivered twice (history read)");
        assert_eq!(
            q(
                &mut c,
                &["XPENDING", "s", "g", "IDLE", "1000000", "-", "+", "10"]
            ),
            arr(vec![])
        );
        // XCLAIM and XAUTOCLAIM.
        assert_eq!(
            q(&mut c, &["XCLAIM", "s", "g", "carol", "0", "1-1", "JUSTID"]),
            arr(vec![bulk("1-1")])
        );
        assert_eq!(
            q(
                &mut c,
                &["XAUTOCLAIM", "s", "g", "dave", "0", "0", "COUNT", "1"]
            ),
            arr(vec![
                bulk("2-1"),
                arr(vec![entry("1-1", &["a", "1"])]),
                arr(vec![])
            ])
        );
        // A deleted entry leaves the PEL when claimed.
        q(&mut c, &["XDEL", "s", "2-1"]);
        assert_eq!(
            q(&mut c, &["XAUTOCLAIM", "s", "g", "dave", "0", "0"]),
            arr(vec![
                bulk("0-0"),
                arr(vec![entry("1-1", &["a", "1"])]),
                arr(vec![bulk("2-1")])
            ])
        );
        assert_eq!(
            qt::<i64, _>(&mut c, &["XACK", "s", "g", "1-1", "1-1", "9-9"]),
            1
        );
        assert_eq!(
            q(&mut c, &["XPENDING", "s", "g"]),
            arr(vec![int(0), Value::Nil, Value::Nil, Value::Nil])
        );
        // Consumers.
        assert_eq!(
            qt::<i64, _>(&mut c, &["XGROUP", "CREATECONSUMER", "s", "g", "eve"]),
            1
        );
        assert_eq!(
            qt::<i64, _>(&mut c, &["XGROUP", "CREATECONSUMER", "s", "g", "eve"]),
            0
        );
        assert_eq!(
            qt::<i64, _>(&mut c, &["XGROUP", "DELCONSUMER", "s", "g", "eve"]),
            0
        );
        let cons = q(&mut c, &["XINFO", "CONSUMERS", "s", "g"]);
        let Value::Array(cs) = &cons else { panic!() };
        let names: Vec<Value> = cs.iter().map(|x| field(x, "name")).collect();
        assert_eq!(
            names,
            vec![bulk("alice"), bulk("bob"), bulk("carol"), bulk("dave")]
        );
        assert_eq!(
            qerr(&mut c, &["XGROUP", "SETID", "s", "nog", "0"]),
            "NOGROUP No such consumer group 'nog' for key name 's'"
        );
        assert_eq!(
            q(
                &mut c,
                &["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "0"]
            ),
            ok()
        );
        assert_eq!(qt::<i64, _>(&mut c, &["XGROUP", "DESTROY", "s", "g"]), 1);
        assert_eq!(qt::<i64, _>(&mut c, &["XGROUP", "DESTROY", "s", "g"]), 0);
        assert_eq!(
            qerr(&mut c, &["XGROUP", "CREATE", "s"]),
            "ERR wrong number of arguments for 'xgroup|create' command"
        );
        assert_eq!(
            qerr(&mut c, &["XGROUP", "FOO"]),
            "ERR unknown subcommand 'FOO'. Try XGROUP HELP."
        );
    });
}

#[test]
fn xread_over_keys_on_several_shards() {
    both(|s| {
        let mut c = s.conn();
        let keys = spread_keys("st", 6);
        for (i, k) in keys.iter().enumerate() {
            q(
                &mut c,
                &["XADD", k, &format!("{}-1", i + 1), "n", &i.to_string()],
            );
            q(&mut c, &["XGROUP", "CREATE", k, "g", "0"]);
        }
        let mut args = vec!["XREAD", "COUNT", "1", "STREAMS"];
        args.extend(keys.iter().map(String::as_str));
        args.extend(std::iter::repeat_n("0", keys.len()));
        let want: Vec<Value> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                arr(vec![
                    bulk(k),
                    arr(vec![entry(&format!("{}-1", i + 1), &["n", &i.to_string()])]),
                ])
            })
            .collect();
        assert_eq!(q(&mut c, &args), arr(want.clone()));
        // `$`: nothing newer.
        let mut args = vec!["XREAD", "STREAMS"];
        args.extend(keys.iter().map(String::as_str));
        args.extend(std::iter::repeat_n("$", keys.len()));
        assert_eq!(q(&mut c, &args), Value::Nil);
        let mut args = vec!["XREADGROUP", "GROUP", "g", "c", "STREAMS"];
        args.extend(keys.iter().map(String::as_str));
        args.extend(std::iter::repeat_n(">", keys.len()));
        assert_eq!(q(&mut c, &args), arr(want));
        // A missing group on a later key fails the whole command before any delivery.
        q(&mut c, &["XADD", &keys[0], "100-1", "n", "x"]);
        q(&mut c, &["XGROUP", "DESTROY", &keys[5], "g"]);
        assert!(qerr(&mut c, &args).starts_with("NOGROUP"));
        assert_eq!(
            qt::<i64, _>(&mut c, &["XLEN", &keys[0]]),
            2,
            "untouched by the failed read"
        );
        let p = q(&mut c, &["XPENDING", &keys[0], "g"]);
        let Value::Array(p) = p else { panic!() };
        assert_eq!(p[0], int(1));
    });
}

#[test]
fn xinfo_stream_full_shape() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["XADD", "s", "1-1", "a", "1"]);
        q(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
        q(
            &mut c,
            &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"],
        );
        let full = q(&mut c, &["XINFO", "STREAM", "s", "FULL"]);
        let names: Vec<String> = map(&full).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                "length",
                "radix-tree-keys",
                "radix-tree-nodes",
                "last-generated-id",
                "max-deleted-entry-id",
                "entries-added",
                "recorded-first-entry-id",
                "entries",
                "groups"
            ]
        );
        let Value::Array(groups) = field(&full, "groups") else {
            panic!()
        };
        let gnames: Vec<String> = map(&groups[0]).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            gnames,
            [
                "name",
                "last-delivered-id",
                "entries-read",
                "lag",
                "pel-count",
                "pending",
                "consumers"
            ]
        );
        let Value::Array(cons) = field(&groups[0], "consumers") else {
            panic!()
        };
        let cnames: Vec<String> = map(&cons[0]).into_iter().map(|(k, _)| k).collect();
        assert_eq!(cnames, ["name", "seen-time", "pel-count", "pending"]);
        assert_eq!(
            qerr(&mut c, &["XINFO", "STREAM", "none"]),
            "ERR no such key"
        );
        // RESP3: maps.
        let mut raw = s.raw();
        raw.roundtrip(&[b"HELLO", b"3"]);
        let r = raw.roundtrip(&[b"XINFO", b"STREAM", b"s"]);
        assert!(r.starts_with(b"%10\r\n"), "{}", String::from_utf8_lossy(&r));
        let r = raw.roundtrip(&[b"XREAD", b"STREAMS", b"s", b"0"]);
        assert!(
            r.starts_with(b"%1\r\n$1\r\ns\r\n"),
            "{}",
            String::from_utf8_lossy(&r)
        );
    });
}

/// XINFO STREAM FULL with the times of pending entries and consumers, which survive a restart.
fn full_info(s: &Server, key: &str) -> Value {
    let mut c = s.conn();
    q(&mut c, &["XINFO", "STREAM", key, "FULL"])
}

fn populate_groups(s: &Server) {
    let mut c = s.conn();
    for i in 1..=250 {
        q(
            &mut c,
            &[
                "XADD",
                "s",
                &format!("{i}-1"),
                "f",
                &i.to_string(),
                "g",
                "x",
            ],
        );
    }
    q(
        &mut c,
        &["XADD", "s", "MAXLEN", "~", "120", "*", "last", "1"],
    );
    q(&mut c, &["XDEL", "s", "201-1", "202-1"]);
    q(&mut c, &["XGROUP", "CREATE", "s", "g1", "0"]);
    q(
        &mut c,
        &["XGROUP", "CREATE", "s", "g2", "$", "ENTRIESREAD", "5"],
    );
    q(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "a",
            "COUNT",
            "3",
            "STREAMS",
            "s",
            ">",
        ],
    );
    q(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "b",
            "NOACK",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">",
        ],
    );
    q(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "c",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">",
        ],
    );
    q(&mut c, &["XCLAIM", "s", "g1", "d", "0", "201-1", "FORCE"]);
    q(
        &mut c,
        &[
            "XCLAIM",
            "s",
            "g1",
            "d",
            "0",
            "210-1",
            "IDLE",
            "5000",
            "RETRYCOUNT",
            "7",
        ],
    );
    q(&mut c, &["XGROUP", "CREATECONSUMER", "s", "g2", "idle"]);
    q(&mut c, &["XACK", "s", "g1", "206-1"]);
    q(&mut c, &["XGROUP", "CREATE", "e", "g", "$", "MKSTREAM"]);
    q(&mut c, &["XADD", "e2", "5-5", "a", "1"]);
    q(&mut c, &["XDEL", "e2", "5-5"]);
}

#[test]
fn aof_restart_keeps_streams_and_groups() {
    if skip_under_redis("shardis AOF restart") {
        return;
    }
    for shards in [1, 4] {
        let args = ["--appendonly", "yes", "--appendfsync", "always"];
        let mut s = Server::start_with(shards, &args);
        populate_groups(&s);
        let before: Vec<Value> = ["s", "e", "e2"].iter().map(|k| full_info(&s, k)).collect();
        s.shutdown();
        let s = s.restart(shards, &args).expect("restart");
        let after: Vec<Value> = ["s", "e", "e2"].iter().map(|k| full_info(&s, k)).collect();
        // Replayed XCLAIMs refresh their consumer's seen-time (in Redis too): all else matches.
        assert_eq!(strip_seen(&before), strip_seen(&after), "{shards} shards");
        // Then rewritten, and loaded again.
        let mut c = s.conn();
        q(&mut c, &["BGREWRITEAOF"]);
        let done = wait_until(Duration::from_secs(60), || {
            let info: String = qt(&mut c, &["INFO", "persistence"]);
            info_field(&info, "aof_rewrite_in_progress").as_deref() == Some("0")
                && info_field(&info, "aof_rewrite_scheduled").as_deref() != Some("1")
        });
        assert!(done, "rewrite did not finish");
        drop(c);
        let mut s = s;
        s.shutdown();
        let s = s.restart(shards, &args).expect("restart after rewrite");
        let again: Vec<Value> = ["s", "e", "e2"].iter().map(|k| full_info(&s, k)).collect();
        assert_eq!(
            strip_seen(&before),
            strip_seen(&again),
            "{shards} shards, rewritten"
        );
    }
}

/// The value with every consumer's seen-time zeroed.
fn strip_seen(v: &[Value]) -> Vec<Value> {
    fn walk(v: &Value) -> Value {
        match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut i = 0;
                while i < items.len() {
                    if items[i] == bulk("seen-time") && i + 1 < items.len() {
                        out.push(items[i].clone());
                        out.push(int(0));
                        i += 2;
                        continue;
                    }
                    out.push(walk(&items[i]));
                    i += 1;
                }
                Value::Array(out)
            }
            other => other.clone(),
        }
    }
    v.iter().map(walk).collect()
}

#[test]
fn wrong_types_and_missing_keys() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["SET", "str", "x"]);
        for args in [
            vec!["XLEN", "str"],
            vec!["XRANGE", "str", "-", "+"],
            vec!["XREAD", "STREAMS", "str", "0"],
            vec!["XGROUP", "CREATE", "str", "g", "0"],
            vec!["XINFO", "STREAM", "str"],
            vec!["XTRIM", "str", "MAXLEN", "1"],
            vec!["XDEL", "str", "1"],
        ] {
            assert_eq!(qerr(&mut c, &args), WRONGTYPE, "{args:?}");
        }
        assert_eq!(qerr(&mut c, &["XSETID", "none", "1"]), "ERR no such key");
        assert_eq!(
            qerr(&mut c, &["XCLAIM", "none", "g", "c", "0", "1"]),
            "NOGROUP No such key 'none' or consumer group 'g'"
        );
        assert_eq!(
            qerr(&mut c, &["XPENDING", "none", "g"]),
            "NOGROUP No such key 'none' or consumer group 'g'"
        );
        assert_eq!(qt::<i64, _>(&mut c, &["XACK", "none", "g", "1"]), 0);
        assert_eq!(
            qerr(&mut c, &["XREAD", "STREAMS", "a", "b", "0"]),
            "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
        );
        assert_eq!(
            qerr(&mut c, &["XREAD", "STREAMS", "a", ">"]),
            "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
        );
        // XSETID.
        q(&mut c, &["XADD", "s", "5-5", "a", "1"]);
        assert_eq!(
            qerr(&mut c, &["XSETID", "s", "1-1"]),
            "ERR The ID specified in XSETID is smaller than the target stream top item"
        );
        assert_eq!(
            q(
                &mut c,
                &[
                    "XSETID",
                    "s",
                    "9-9",
                    "ENTRIESADDED",
                    "10",
                    "MAXDELETEDID",
                    "2-0"
                ]
            ),
            ok()
        );
        let info = q(&mut c, &["XINFO", "STREAM", "s"]);
        assert_eq!(field(&info, "last-generated-id"), bulk("9-9"));
        assert_eq!(field(&info, "entries-added"), int(10));
        assert_eq!(field(&info, "max-deleted-entry-id"), bulk("2-0"));
    });
}
