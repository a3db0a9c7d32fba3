//! Blocking commands (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP, CLIENT
//! UNBLOCK), checked against Redis 7.0.15 semantics (run with SHARDIS_TEST_SERVER=redis to
//! check the tests themselves against redis-server).
//!
//! With four shards, keys without hash tags land on different shards, and connections are spread
//! over the shards by the kernel: the blocked client, the pusher and the key are on different
//! shards in most of these cases (several keys and connections are used to make sure of it).

mod common;

use common::*;
use redis::Value;
use std::time::{Duration, Instant};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn bulks(items: &[&str]) -> Value {
    arr(items.iter().map(bulk).collect())
}

fn raw_str(v: &Resp) -> String {
    format!("{v:?}")
}

#[test]
fn wakes_on_push_from_another_connection() {
    both(|s| {
        let mut admin = s.conn();
        let mut pusher = s.conn();
        for (i, key) in spread_keys("wake", 6).iter().enumerate() {
            let (block, push, want) = if i % 2 == 0 {
                ("BLPOP", "RPUSH", "a")
            } else {
                ("BRPOP", "LPUSH", "a")
            };
            let h = spawn_cmd(s, &[block, key, "0"]);
            wait_blocked(&mut admin, 1);
            // The push is answered as usual, then the element goes to the blocked client.
            assert_eq!(q(&mut pusher, &[push, key, "a"]), int(1));
            assert_eq!(joined(h), bulks(&[key, want]));
            assert_eq!(q(&mut pusher, &["EXISTS", key]), int(0));
        }
        // Several elements: one goes to the blocked client, the rest stay.
        let h = spawn_cmd(s, &["BLPOP", "wake:multi", "0"]);
        wait_blocked(&mut admin, 1);
        assert_eq!(
            q(&mut pusher, &["RPUSH", "wake:multi", "x", "y", "z"]),
            int(3)
        );
        assert_eq!(joined(h), bulks(&["wake:multi", "x"]));
        assert_eq!(
            q(&mut pusher, &["LRANGE", "wake:multi", "0", "-1"]),
            bulks(&["y", "z"])
        );
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn served_at_once_when_data_is_there() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["RPUSH", "now:b", "1", "2"]);
        q(&mut c, &["RPUSH", "now:c", "3"]);
        // The first key with data, in key order.
        assert_eq!(
            q(&mut c, &["BLPOP", "now:a", "now:b", "now:c", "0"]),
            bulks(&["now:b", "1"])
        );
        assert_eq!(
            q(&mut c, &["BRPOP", "now:c", "now:b", "1"]),
            bulks(&["now:c", "3"])
        );
        assert_eq!(
            q(
                &mut c,
                &["BLMPOP", "0", "3", "now:a", "now:c", "now:b", "LEFT", "COUNT", "5"]
            ),
            arr(vec![bulk("now:b"), bulks(&["2"])])
        );
        assert_eq!(q(&mut c, &["EXISTS", "now:b"]), int(0));
        q(&mut c, &["RPUSH", "now:l", "a", "b", "c"]);
        assert_eq!(
            q(&mut c, &["BLMPOP", "0", "1", "now:l", "RIGHT"]),
            arr(vec![bulk("now:l"), bulks(&["c"])])
        );
        q(&mut c, &["ZADD", "now:z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(
            q(&mut c, &["BZPOPMIN", "now:none", "now:z", "0"]),
            arr(vec![bulk("now:z"), bulk("a"), bulk("1")])
        );
        assert_eq!(
            q(&mut c, &["BZPOPMAX", "now:z", "0"]),
            arr(vec![bulk("now:z"), bulk("c"), bulk("3")])
        );
        assert_eq!(
            q(
                &mut c,
                &["BZMPOP", "0", "2", "now:none", "now:z", "MIN", "COUNT", "9"]
            ),
            arr(vec![
                bulk("now:z"),
                arr(vec![arr(vec![bulk("b"), bulk("2")])])
            ])
        );
        q(&mut c, &["RPUSH", "now:src", "a", "b"]);
        assert_eq!(
            q(
                &mut c,
                &["BLMOVE", "now:src", "now:dst", "RIGHT", "LEFT", "0"]
            ),
            bulk("b")
        );
        assert_eq!(
            q(&mut c, &["BRPOPLPUSH", "now:src", "now:dst", "0"]),
            bulk("a")
        );
        assert_eq!(
            q(&mut c, &["LRANGE", "now:dst", "0", "-1"]),
            bulks(&["a", "b"])
        );
        assert_eq!(q(&mut c, &["EXISTS", "now:src"]), int(0));
        assert_eq!(blocked(&mut c), 0);
    });
}

#[test]
fn timeouts_reply_nil() {
    both(|s| {
        let mut c = s.conn();
        let cases: &[&[&str]] = &[
            &["BLPOP", "t:a", "t:b", "0.1"],
            &["BRPOP", "t:a", "0.1"],
            &["BLMOVE", "t:a", "t:b", "LEFT", "RIGHT", "0.1"],
            &["BRPOPLPUSH", "t:a", "t:b", "0.1"],
            &["BLMPOP", "0.1", "2", "t:a", "t:b", "LEFT"],
            &["BZPOPMIN", "t:a", "0.1"],
            &["BZPOPMAX", "t:a", "t:b", "0.1"],
            &["BZMPOP", "0.1", "1", "t:a", "MAX", "COUNT", "2"],
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
            raw.roundtrip(&[b"BLPOP", b"t:a", b"0.05"]),
            b"*-1\r\n".to_vec()
        );
        assert_eq!(
            raw.roundtrip(&[b"BLMOVE", b"t:a", b"t:b", b"LEFT", b"LEFT", b"0.05"]),
            b"*-1\r\n".to_vec()
        );
        raw.send_cmd(&[b"HELLO", b"3"]);
        raw.read_value();
        assert_eq!(
            raw.roundtrip(&[b"BZPOPMIN", b"t:a", b"0.05"]),
            b"_\r\n".to_vec()
        );
        assert_no_waiters(&mut c);
        // A later push is not taken by a client that timed out.
        q(&mut c, &["RPUSH", "t:a", "x"]);
        assert_eq!(q(&mut c, &["LLEN", "t:a"]), int(1));
    });
}

#[test]
fn argument_errors() {
    both(|s| {
        let mut c = s.conn();
        let not_float = "ERR timeout is not a float or out of range";
        let negative = "ERR timeout is negative";
        assert_eq!(qerr(&mut c, &["BLPOP", "k", "abc"]), not_float);
        assert_eq!(qerr(&mut c, &["BLPOP", "k", " 1"]), not_float);
        assert_eq!(qerr(&mut c, &["BLPOP", "k", "nan"]), not_float);
        assert_eq!(qerr(&mut c, &["BRPOP", "k", "-1"]), negative);
        assert_eq!(qerr(&mut c, &["BZPOPMIN", "k", "-0.5"]), negative);
        assert_eq!(qerr(&mut c, &["BLPOP", "k", "inf"]), negative);
        assert_eq!(
            qerr(&mut c, &["BLMOVE", "a", "b", "LEFT", "RIGHT", "x"]),
            not_float
        );
        assert_eq!(
            qerr(&mut c, &["BLMOVE", "a", "b", "UP", "RIGHT", "x"]),
            "ERR syntax error"
        );
        assert_eq!(qerr(&mut c, &["BRPOPLPUSH", "a", "b", "-2"]), negative);
        // BLMPOP/BZMPOP check numkeys, the end and COUNT before the timeout.
        assert_eq!(
            qerr(&mut c, &["BLMPOP", "x", "0", "a", "LEFT"]),
            "ERR numkeys should be greater than 0"
        );
        assert_eq!(qerr(&mut c, &["BLMPOP", "x", "1", "a", "LEFT"]), not_float);
        assert_eq!(
            qerr(&mut c, &["BLMPOP", "0", "1", "a", "UP"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["BZMPOP", "0", "1", "a", "MIN", "COUNT", "0"]),
            "ERR count should be greater than 0"
        );
        assert_eq!(
            qerr(&mut c, &["BZMPOP", "0", "2", "a", "MIN"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["BLPOP", "k"]),
            "ERR wrong number of arguments for 'blpop' command"
        );
        assert_eq!(
            qerr(&mut c, &["BLMOVE", "a", "b", "LEFT", "RIGHT"]),
            "ERR wrong number of arguments for 'blmove' command"
        );
    });
}

#[test]
fn wrong_type() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["SET", "wt:s", "x"]);
        q(&mut c, &["RPUSH", "wt:l", "a"]);
        q(&mut c, &["ZADD", "wt:z", "1", "m"]);
        assert_eq!(qerr(&mut c, &["BLPOP", "wt:s", "0"]), WRONGTYPE);
        // Checked in key order: an absent key first, then the wrong one.
        assert_eq!(qerr(&mut c, &["BLPOP", "wt:none", "wt:s", "0"]), WRONGTYPE);
        assert_eq!(qerr(&mut c, &["BRPOP", "wt:none", "wt:z", "0"]), WRONGTYPE);
        assert_eq!(qerr(&mut c, &["BZPOPMIN", "wt:l", "0"]), WRONGTYPE);
        assert_eq!(
            qerr(&mut c, &["BZMPOP", "0", "2", "wt:none", "wt:l", "MIN"]),
            WRONGTYPE
        );
        assert_eq!(
            qerr(&mut c, &["BLMPOP", "0", "1", "wt:s", "LEFT"]),
            WRONGTYPE
        );
        // A list before the wrong type is served.
        assert_eq!(
            q(&mut c, &["BLPOP", "wt:l", "wt:s", "0"]),
            bulks(&["wt:l", "a"])
        );
        // BLMOVE: a source of another type, or a destination of another type while the source
        // has data (nothing moves).
        assert_eq!(
            qerr(&mut c, &["BLMOVE", "wt:s", "wt:l", "LEFT", "LEFT", "0"]),
            WRONGTYPE
        );
        q(&mut c, &["RPUSH", "wt:src", "a"]);
        assert_eq!(
            qerr(&mut c, &["BLMOVE", "wt:src", "wt:s", "LEFT", "LEFT", "0"]),
            WRONGTYPE
        );
        assert_eq!(q(&mut c, &["LRANGE", "wt:src", "0", "-1"]), bulks(&["a"]));
        assert_eq!(blocked(&mut c), 0);
    });
}

#[test]
fn first_blocked_is_served_first() {
    both(|s| {
        let mut admin = s.conn();
        let mut pusher = s.conn();
        for key in spread_keys("fair", 3) {
            let first = spawn_cmd(s, &["BLPOP", &key, "0"]);
            wait_blocked(&mut admin, 1);
            let second = spawn_cmd(s, &["BLPOP", &key, "0"]);
            wait_blocked(&mut admin, 2);
            // One push serves one client.
            q(&mut pusher, &["RPUSH", &key, "x"]);
            assert_eq!(joined(first), bulks(&[&key, "x"]));
            wait_blocked(&mut admin, 1);
            q(&mut pusher, &["RPUSH", &key, "y"]);
            assert_eq!(joined(second), bulks(&[&key, "y"]));
        }
        // Two elements in one push: one each, in order.
        let first = spawn_cmd(s, &["BRPOP", "fair:two", "0"]);
        wait_blocked(&mut admin, 1);
        let second = spawn_cmd(s, &["BRPOP", "fair:two", "0"]);
        wait_blocked(&mut admin, 2);
        q(&mut pusher, &["RPUSH", "fair:two", "a", "b"]);
        assert_eq!(joined(first), bulks(&["fair:two", "b"]));
        assert_eq!(joined(second), bulks(&["fair:two", "a"]));
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn multiple_keys() {
    both(|s| {
        let mut admin = s.conn();
        let mut pusher = s.conn();
        let keys = spread_keys("mk", 4);
        let mut args = vec!["BLPOP"];
        args.extend(keys.iter().map(String::as_str));
        args.push("0");
        for (i, key) in keys.iter().enumerate() {
            let h = spawn_cmd(s, &args);
            wait_blocked(&mut admin, 1);
            q(&mut pusher, &["RPUSH", key, &format!("v{i}")]);
            assert_eq!(joined(h), bulks(&[key, &format!("v{i}")]));
            assert_no_waiters(&mut admin);
            // The other keys forgot the served client: a push there stays.
            let other = &keys[(i + 1) % keys.len()];
            q(&mut pusher, &["RPUSH", other, "stay"]);
            assert_eq!(q(&mut pusher, &["LLEN", other]), int(1));
            q(&mut pusher, &["DEL", other]);
        }
        // BLMPOP and BZMPOP over several keys.
        let h = spawn_cmd(
            s,
            &["BLMPOP", "0", "2", "mk:x", "mk:y", "RIGHT", "COUNT", "2"],
        );
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["RPUSH", "mk:y", "1", "2", "3"]);
        assert_eq!(joined(h), arr(vec![bulk("mk:y"), bulks(&["3", "2"])]));
        let h = spawn_cmd(s, &["BZMPOP", "0", "2", "mk:zx", "mk:zy", "MAX"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["ZADD", "mk:zx", "1", "a", "5", "b"]);
        assert_eq!(
            joined(h),
            arr(vec![
                bulk("mk:zx"),
                arr(vec![arr(vec![bulk("b"), bulk("5")])])
            ])
        );
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn sorted_sets() {
    both(|s| {
        let mut admin = s.conn();
        let mut pusher = s.conn();
        let h = spawn_cmd(s, &["BZPOPMIN", "bz:a", "bz:b", "0"]);
        wait_blocked(&mut admin, 1);
        assert_eq!(
            q(&mut pusher, &["ZADD", "bz:b", "2", "two", "1", "one"]),
            int(2)
        );
        assert_eq!(joined(h), arr(vec![bulk("bz:b"), bulk("one"), bulk("1")]));
        let h = spawn_cmd(s, &["BZPOPMAX", "bz:a", "0"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["ZADD", "bz:a", "1.5", "x", "7", "y"]);
        assert_eq!(joined(h), arr(vec![bulk("bz:a"), bulk("y"), bulk("7")]));
        let h = spawn_cmd(s, &["BZMPOP", "0", "1", "bz:c", "MIN", "COUNT", "10"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["ZADD", "bz:c", "3", "c", "1", "a"]);
        assert_eq!(
            joined(h),
            arr(vec![
                bulk("bz:c"),
                arr(vec![
                    arr(vec![bulk("a"), bulk("1")]),
                    arr(vec![bulk("c"), bulk("3")])
                ])
            ])
        );
        assert_eq!(q(&mut pusher, &["EXISTS", "bz:c"]), int(0));
        assert_eq!(
            q(&mut pusher, &["ZRANGE", "bz:b", "0", "-1"]),
            bulks(&["two"])
        );
        // A list push does not serve a sorted-set waiter (nor the reverse).
        let h = spawn_cmd(s, &["BZPOPMIN", "bz:t", "0"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["RPUSH", "bz:t", "l"]);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(blocked(&mut admin), 1);
        q(&mut pusher, &["DEL", "bz:t"]);
        q(&mut pusher, &["ZADD", "bz:t", "4", "m"]);
        assert_eq!(joined(h), arr(vec![bulk("bz:t"), bulk("m"), bulk("4")]));
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn blmove_across_keys() {
    both(|s| {
        let mut admin = s.conn();
        let mut pusher = s.conn();
        for (i, pair) in spread_keys("mv", 8).chunks(2).enumerate() {
            let (src, dst) = (&pair[0], &pair[1]);
            let h = if i % 2 == 0 {
                spawn_cmd(s, &["BLMOVE", src, dst, "RIGHT", "LEFT", "0"])
            } else {
                spawn_cmd(s, &["BRPOPLPUSH", src, dst, "0"])
            };
            wait_blocked(&mut admin, 1);
            q(&mut pusher, &["RPUSH", dst, "old"]);
            q(&mut pusher, &["RPUSH", src, "a", "b"]);
            assert_eq!(joined(h), bulk("b"));
            assert_eq!(q(&mut pusher, &["LRANGE", src, "0", "-1"]), bulks(&["a"]));
            assert_eq!(
                q(&mut pusher, &["LRANGE", dst, "0", "-1"]),
                bulks(&["b", "old"])
            );
        }
        // A move feeds a client blocked on the destination.
        let mover = spawn_cmd(s, &["BLMOVE", "mv:in", "mv:out", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut admin, 1);
        let popper = spawn_cmd(s, &["BLPOP", "mv:out", "0"]);
        wait_blocked(&mut admin, 2);
        q(&mut pusher, &["RPUSH", "mv:in", "v"]);
        assert_eq!(joined(mover), bulk("v"));
        assert_eq!(joined(popper), bulks(&["mv:out", "v"]));
        assert_eq!(q(&mut pusher, &["EXISTS", "mv:in", "mv:out"]), int(0));
        // Rotation of one list.
        let h = spawn_cmd(s, &["BLMOVE", "mv:rot", "mv:rot", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["RPUSH", "mv:rot", "1", "2"]);
        assert_eq!(joined(h), bulk("1"));
        assert_eq!(
            q(&mut pusher, &["LRANGE", "mv:rot", "0", "-1"]),
            bulks(&["2", "1"])
        );
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn blmove_destination_of_another_type_when_woken() {
    both(|s| {
        let mut admin = s.conn();
        let mut pusher = s.conn();
        let h = spawn_cmd(s, &["BLMOVE", "mvw:src", "mvw:dst", "LEFT", "LEFT", "0"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["SET", "mvw:dst", "string"]);
        q(&mut pusher, &["RPUSH", "mvw:src", "a"]);
        let r = h.join().expect("client thread");
        let e = r.expect_err("WRONGTYPE expected");
        assert_eq!(error_line(&e), WRONGTYPE);
        // The element stays in the source.
        assert_eq!(
            q(&mut pusher, &["LRANGE", "mvw:src", "0", "-1"]),
            bulks(&["a"])
        );
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn woken_move_refused_by_its_destination_leaves_the_element_to_the_next() {
    // As Redis's "BRPOPLPUSH with multiple blocked clients", waiting for each to block.
    both(|s| {
        let mut admin = s.conn();
        let mut c = s.conn();
        let ks = spread_keys("mvn", 3);
        let (src, bad, good) = (&ks[0], &ks[1], &ks[2]);
        q(&mut c, &["SET", bad, "nolist"]);
        let first = spawn_cmd(s, &["BRPOPLPUSH", src, bad, "0"]);
        wait_blocked(&mut admin, 1);
        let second = spawn_cmd(s, &["BRPOPLPUSH", src, good, "0"]);
        wait_blocked(&mut admin, 2);
        q(&mut c, &["LPUSH", src, "foo"]);
        let e = first.join().expect("client thread").expect_err("WRONGTYPE");
        assert_eq!(error_line(&e), WRONGTYPE);
        assert_eq!(joined(second), bulk("foo"));
        assert_eq!(q(&mut c, &["LRANGE", good, "0", "-1"]), bulks(&["foo"]));
        assert_eq!(q(&mut c, &["EXISTS", src]), int(0));
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn a_pop_served_at_once_fails_exec_of_who_watches_the_key() {
    both(|s| {
        let mut watcher = s.conn();
        let mut c = s.conn();
        let ks = spread_keys("wpop", 3);
        for (cmd, dst) in [
            ("BLPOP", None),
            ("BLMOVE", Some(&ks[1])),
            ("BLMOVE", Some(&ks[2])),
        ] {
            q(&mut c, &["RPUSH", &ks[0], "a", "b"]);
            assert_eq!(q(&mut watcher, &["WATCH", &ks[0]]), ok());
            match dst {
                None => q(&mut c, &[cmd, &ks[0], "0"]),
                Some(d) => q(&mut c, &[cmd, &ks[0], d, "LEFT", "LEFT", "0"]),
            };
            let r = exec_reply(&mut watcher, &[&["SET", "wpop:other", "1"]]);
            assert_eq!(r, Value::Nil, "{cmd} {dst:?}");
            q(&mut c, &["DEL", &ks[0]]);
        }
    });
}

#[test]
fn set_of_the_key_does_not_wake() {
    both(|s| {
        let mut admin = s.conn();
        let mut pusher = s.conn();
        let h = spawn_cmd(s, &["BLPOP", "sk", "0"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["SET", "sk", "v"]);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(blocked(&mut admin), 1);
        q(&mut pusher, &["DEL", "sk"]);
        q(&mut pusher, &["LPUSH", "sk", "x"]);
        assert_eq!(joined(h), bulks(&["sk", "x"]));
        // Recreated through RENAME of a list: served too.
        let h = spawn_cmd(s, &["BRPOP", "sk", "0"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["RPUSH", "sk:tmp", "r"]);
        q(&mut pusher, &["RENAME", "sk:tmp", "sk"]);
        assert_eq!(joined(h), bulks(&["sk", "r"]));
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn client_unblock() {
    both(|s| {
        let mut admin = s.conn();
        let mut blocked_con = s.conn();
        let id: i64 = redis::cmd("CLIENT")
            .arg("ID")
            .query(&mut blocked_con)
            .expect("CLIENT ID");
        let h = std::thread::spawn(move || {
            let r = cmd(&["BLPOP", "ub", "0"]).query::<Value>(&mut blocked_con);
            (r, blocked_con)
        });
        wait_blocked(&mut admin, 1);
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut admin)
            .expect("CLIENT LIST");
        let line = list
            .lines()
            .find(|l| l.starts_with(&format!("id={id} ")))
            .expect("blocked client listed");
        assert!(line.contains(" flags=b "), "{line}");
        let sid = id.to_string();
        assert_eq!(q(&mut admin, &["CLIENT", "UNBLOCK", &sid]), int(1));
        let (r, mut blocked_con) = h.join().expect("thread");
        assert_eq!(r.expect("nil"), Value::Nil);
        // Not blocked any more.
        assert_eq!(q(&mut admin, &["CLIENT", "UNBLOCK", &sid]), int(0));
        let h = std::thread::spawn(move || {
            let r = cmd(&["BZPOPMIN", "ub", "0"]).query::<Value>(&mut blocked_con);
            (r, blocked_con)
        });
        wait_blocked(&mut admin, 1);
        assert_eq!(q(&mut admin, &["CLIENT", "UNBLOCK", &sid, "ERROR"]), int(1));
        let (r, mut blocked_con) = h.join().expect("thread");
        assert_eq!(
            error_line(&r.expect_err("error")),
            "UNBLOCKED client unblocked via CLIENT UNBLOCK"
        );
        // The connection goes on as usual.
        assert_eq!(q(&mut blocked_con, &["PING"]), status("PONG"));
        let h = std::thread::spawn(move || {
            cmd(&["BLMOVE", "ub", "ub2", "LEFT", "LEFT", "0"]).query::<Value>(&mut blocked_con)
        });
        wait_blocked(&mut admin, 1);
        assert_eq!(
            q(&mut admin, &["CLIENT", "UNBLOCK", &sid, "timeout"]),
            int(1)
        );
        assert_eq!(h.join().expect("thread").expect("nil"), Value::Nil);
        assert_no_waiters(&mut admin);
        // A push afterwards stays in the list.
        q(&mut admin, &["RPUSH", "ub", "x"]);
        assert_eq!(q(&mut admin, &["LLEN", "ub"]), int(1));
        // Errors.
        assert_eq!(q(&mut admin, &["CLIENT", "UNBLOCK", "999999"]), int(0));
        assert_eq!(
            qerr(&mut admin, &["CLIENT", "UNBLOCK", &sid, "foo"]),
            "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
        );
        assert_eq!(
            qerr(&mut admin, &["CLIENT", "UNBLOCK", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            qerr(&mut admin, &["CLIENT", "UNBLOCK"]),
            "ERR wrong number of arguments for 'client|unblock' command"
        );
        assert_eq!(
            qerr(&mut admin, &["CLIENT", "UnBlock", "1", "2", "3"]),
            "ERR unknown subcommand or wrong number of arguments for 'UnBlock'. Try CLIENT HELP."
        );
    });
}

#[test]
fn disconnected_client_leaves_nothing_behind() {
    both(|s| {
        let mut admin = s.conn();
        for key in spread_keys("gone", 4) {
            let mut raw = s.raw();
            raw.send_cmd(&[b"BLPOP", key.as_bytes(), b"0"]);
            wait_blocked(&mut admin, 1);
            drop(raw);
            assert_no_waiters(&mut admin);
            // The element is not lost to the dead client.
            q(&mut admin, &["RPUSH", &key, "kept"]);
            assert_eq!(
                q(&mut admin, &["LRANGE", &key, "0", "-1"]),
                bulks(&["kept"])
            );
            // And the next client gets it.
            assert_eq!(q(&mut admin, &["BLPOP", &key, "1"]), bulks(&[&key, "kept"]));
        }
        // A client blocked on several keys, killed.
        let mut c = s.conn();
        let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut c).expect("id");
        let h = std::thread::spawn(move || {
            cmd(&["BLPOP", "gone:a", "gone:b", "gone:c", "0"]).query::<Value>(&mut c)
        });
        wait_blocked(&mut admin, 1);
        assert_eq!(
            q(&mut admin, &["CLIENT", "KILL", "ID", &id.to_string()]),
            int(1)
        );
        assert!(h.join().expect("thread").is_err());
        assert_no_waiters(&mut admin);
        q(&mut admin, &["RPUSH", "gone:b", "x"]);
        assert_eq!(q(&mut admin, &["LLEN", "gone:b"]), int(1));
    });
}

#[test]
fn blocked_connection_holds_its_pipeline() {
    both(|s| {
        let mut admin = s.conn();
        let mut raw = s.raw();
        let mut pipeline = encode_cmd(&[b"BLPOP", b"pl", b"0"]);
        pipeline.extend(encode_cmd(&[b"PING"]));
        pipeline.extend(encode_cmd(&[b"RPOP", b"pl"]));
        raw.send(&pipeline);
        wait_blocked(&mut admin, 1);
        // Other connections are served meanwhile; the blocked one answers nothing yet.
        assert_eq!(q(&mut admin, &["PING"]), status("PONG"));
        raw.stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let mut b = [0u8; 16];
        assert!(std::io::Read::read(&mut raw.stream, &mut b).is_err());
        raw.stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        q(&mut admin, &["RPUSH", "pl", "a", "b"]);
        assert_eq!(
            raw_str(&raw.read_value()),
            raw_str(&Resp::Array(vec![
                Resp::Bulk(b"pl".to_vec()),
                Resp::Bulk(b"a".to_vec())
            ]))
        );
        assert_eq!(raw.read_value(), Resp::Simple("PONG".into()));
        assert_eq!(raw.read_value(), Resp::Bulk(b"b".to_vec()));
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn replies_before_a_blocking_command_go_out_while_it_waits() {
    both(|s| {
        let mut admin = s.conn();
        let mut raw = s.raw();
        // Keys on every shard, so that on 4 shards some of these go out to other shards and the
        // pipeline holds a batch when BLPOP is reached.
        let mut pipeline = Vec::new();
        for i in 0..8 {
            let k = format!("pre:{i}");
            pipeline.extend(encode_cmd(&[b"SET", k.as_bytes(), b"v"]));
            pipeline.extend(encode_cmd(&[b"GET", k.as_bytes()]));
        }
        pipeline.extend(encode_cmd(&[b"BLPOP", b"pre:list", b"0"]));
        raw.send(&pipeline);
        // All sixteen replies arrive while BLPOP still waits.
        for _ in 0..8 {
            assert_eq!(raw.read_value(), Resp::Simple("OK".into()));
            assert_eq!(raw.read_value(), Resp::Bulk(b"v".to_vec()));
        }
        wait_blocked(&mut admin, 1);
        q(&mut admin, &["RPUSH", "pre:list", "x"]);
        assert_eq!(
            raw.read_value(),
            Resp::Array(vec![
                Resp::Bulk(b"pre:list".to_vec()),
                Resp::Bulk(b"x".to_vec())
            ])
        );
    });
}

#[test]
fn many_blocked_clients_served_in_order() {
    both(|s| {
        let mut admin = s.conn();
        let n = 50;
        let mut clients = Vec::new();
        for i in 0..n {
            let mut raw = s.raw();
            raw.send_cmd(&[b"BLPOP", b"many", b"many:other", b"0"]);
            wait_blocked(&mut admin, i as i64 + 1);
            clients.push(raw);
        }
        let mut pusher = s.conn();
        for i in 0..n {
            q(&mut pusher, &["RPUSH", "many", &i.to_string()]);
        }
        for (i, raw) in clients.iter_mut().enumerate() {
            assert_eq!(
                raw.read_value(),
                Resp::Array(vec![
                    Resp::Bulk(b"many".to_vec()),
                    Resp::Bulk(i.to_string().into_bytes())
                ])
            );
        }
        assert_eq!(q(&mut pusher, &["EXISTS", "many"]), int(0));
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn info_counts_blocked_clients() {
    both(|s| {
        let mut admin = s.conn();
        assert_eq!(blocked(&mut admin), 0);
        let a = spawn_cmd(s, &["BLPOP", "ic:a", "0"]);
        let b = spawn_cmd(s, &["BZPOPMIN", "ic:b", "5"]);
        wait_blocked(&mut admin, 2);
        assert_eq!(info_num(&mut admin, "clients_in_timeout_table"), Some(1));
        if let Some(n) = info_num(&mut admin, "total_blocking_keys") {
            assert_eq!(n, 2);
        }
        q(&mut admin, &["RPUSH", "ic:a", "1"]);
        q(&mut admin, &["ZADD", "ic:b", "1", "m"]);
        joined(a);
        joined(b);
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn swapdb_keeps_waiters_on_their_database() {
    both(|s| {
        let mut admin = s.conn();
        let mut pusher = s.conn();
        // Blocked in db 0 on a key that db 1 has: SWAPDB brings it to db 0.
        q(&mut pusher, &["SELECT", "1"]);
        q(&mut pusher, &["RPUSH", "sw", "from1"]);
        let h = spawn_cmd(s, &["BLPOP", "sw", "0"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["SWAPDB", "0", "1"]);
        assert_eq!(joined(h), bulks(&["sw", "from1"]));
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn served_pops_are_logged_as_their_effect() {
    let args = ["--appendonly", "yes", "--appendfsync", "always"];
    for shards in [1, 4] {
        let s = Server::start_with(shards, &args);
        let mut admin = s.conn();
        let mut pusher = s.conn();
        let h1 = spawn_cmd(&s, &["BLPOP", "aof:l", "0"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["RPUSH", "aof:l", "a", "b"]);
        joined(h1);
        let h2 = spawn_cmd(&s, &["BLMOVE", "aof:src", "aof:dst", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["RPUSH", "aof:src", "x", "y"]);
        joined(h2);
        let h3 = spawn_cmd(&s, &["BZPOPMIN", "aof:z", "0"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["ZADD", "aof:z", "1", "m", "2", "n"]);
        joined(h3);
        let h4 = spawn_cmd(&s, &["BLMPOP", "0", "1", "aof:m", "RIGHT", "COUNT", "2"]);
        wait_blocked(&mut admin, 1);
        q(&mut pusher, &["RPUSH", "aof:m", "1", "2", "3"]);
        joined(h4);
        q(&mut pusher, &["RPUSH", "aof:now", "1", "2"]);
        q(&mut pusher, &["BRPOP", "aof:now", "0"]);
        let want = [
            ("aof:l", "list", bulks(&["b"])),
            ("aof:src", "list", bulks(&["y"])),
            ("aof:dst", "list", bulks(&["x"])),
            ("aof:z", "zset", bulks(&["n"])),
            ("aof:m", "list", bulks(&["1"])),
            ("aof:now", "list", bulks(&["1"])),
        ];
        drop(admin);
        drop(pusher);
        let s = s.restart(shards, &args).expect("restart");
        let mut c = s.conn();
        for (key, t, items) in want {
            let got = if t == "list" {
                q(&mut c, &["LRANGE", key, "0", "-1"])
            } else {
                q(&mut c, &["ZRANGE", key, "0", "-1"])
            };
            assert_eq!(got, items, "{key} after restart ({shards} shards)");
        }
    }
}

#[test]
fn no_element_lost_or_duplicated_under_races() {
    // Consumers block on several keys (several shards) with short timeouts while producers push:
    // timeouts race with wake-ups, and a client registered on several shards is claimed once.
    both(|s| {
        let keys: Vec<String> = spread_keys("race", 4);
        let per_producer = 600;
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let mut c = s.conn();
                let keys = keys.clone();
                std::thread::spawn(move || {
                    for i in 0..per_producer {
                        let key = &keys[(i * 7 + p) % keys.len()];
                        q(&mut c, &["RPUSH", key, &format!("{p}:{i}")]);
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..6)
            .map(|n| {
                let mut c = s.conn();
                let keys = keys.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut idle = 0;
                    while idle < 3 {
                        let timeout = ["0.01", "0.02", "0.05"][n % 3];
                        let mut args = vec!["BLPOP"];
                        args.extend(keys.iter().map(String::as_str));
                        args.push(timeout);
                        match q(&mut c, &args) {
                            Value::Nil => idle += 1,
                            Value::Array(kv) => {
                                idle = 0;
                                got.push(kv[1].clone());
                            }
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    got
                })
            })
            .collect();
        for p in producers {
            p.join().expect("producer");
        }
        let mut seen = std::collections::HashSet::new();
        for c in consumers {
            for v in c.join().expect("consumer") {
                let Value::BulkString(b) = v else {
                    panic!("not a bulk: {v:?}");
                };
                assert!(seen.insert(b), "an element was served twice");
            }
        }
        let mut admin = s.conn();
        for key in &keys {
            let rest: Vec<Vec<u8>> = redis::cmd("LRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .query(&mut admin)
                .expect("LRANGE");
            for b in rest {
                assert!(seen.insert(b), "an element both served and left");
            }
        }
        assert_eq!(seen.len(), 2 * per_producer, "elements lost");
        assert_no_waiters(&mut admin);
    });
}

#[test]
fn a_woken_move_waits_for_a_multi_shard_write_holding_its_destination() {
    // RENAMENX across shards looks at its destination, then fetches the source from its
    // shard, then writes the destination. A client blocked moving into that destination,
    // woken by a push meanwhile, must move before the RENAMENX (which then finds the
    // destination there and renames nothing) or after it (onto the renamed list); written in
    // between, its element was overwritten: lost in up to half the tries with the push sent
    // 20-100 µs after the RENAMENX.
    let s = Server::start(4);
    let mut admin = s.conn();
    let mut c = s.conn();
    let (mut renamer, mut pusher) = (s.raw(), s.raw());
    let mut renamed = 0;
    for round in 0..300u64 {
        q(&mut c, &["DEL", "{a}src", "{b}dst", "{b}in"]);
        q(&mut c, &["RPUSH", "{a}src", "x", "y"]);
        let mover = spawn_cmd(&s, &["BLMOVE", "{b}in", "{b}dst", "LEFT", "LEFT", "0"]);
        wait_blocked(&mut admin, 1);
        renamer.send_cmd(&[b"RENAMENX", b"{a}src", b"{b}dst"]);
        let until = std::time::Instant::now() + Duration::from_micros(round % 150);
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
        pusher.send_cmd(&[b"LPUSH", b"{b}in", b"moved"]);
        let r = renamer.read_reply_str();
        assert_eq!(pusher.read_reply_str(), ":1\r\n");
        assert_eq!(joined(mover), bulk("moved"));
        let dst = q(&mut c, &["LRANGE", "{b}dst", "0", "-1"]);
        if r == ":1\r\n" {
            renamed += 1;
            assert_eq!(
                dst,
                bulks(&["moved", "x", "y"]),
                "round {round}: renamed, then moved"
            );
            assert_eq!(q(&mut c, &["EXISTS", "{a}src"]), int(0));
        } else {
            assert_eq!(r, ":0\r\n");
            assert_eq!(
                dst,
                bulks(&["moved"]),
                "round {round}: moved, so not renamed"
            );
            assert_eq!(q(&mut c, &["LLEN", "{a}src"]), int(2));
        }
    }
    assert!(
        renamed > 0,
        "the RENAMENX never went first: the test proves nothing"
    );
    assert_no_waiters(&mut admin);
}

#[test]
fn blocked_clients_are_served_in_the_order_they_sent_their_commands() {
    // Two clients send a blocking pop one right after the other. On several shards their
    // commands reach the key's shard through different inboxes, so they may register in the
    // other order; they are served by when their bytes reached the server (the kernel's
    // receive times), as Redis serves them by arrival. Without that (`--blocking-arrival-order
    // no`) the second was served first in 27-37% of rounds. Each round pushes two elements, so
    // that both clients are answered whatever the order.
    let s = Server::start(4);
    let mut admin = s.conn();
    let mut c = s.conn();
    let early = "*2\r\n$7\r\narrival\r\n$5\r\nearly\r\n";
    let late = "*2\r\n$7\r\narrival\r\n$4\r\nlate\r\n";
    for round in 0..60 {
        let (mut first, mut second) = (s.raw(), s.raw());
        first.send_cmd(&[b"BLPOP", b"arrival", b"0"]);
        second.send_cmd(&[b"BLPOP", b"arrival", b"0"]);
        wait_blocked(&mut admin, 2);
        q(&mut c, &["LPUSH", "arrival", "late", "early"]);
        assert_eq!(first.read_reply_str(), early, "round {round}");
        assert_eq!(second.read_reply_str(), late, "round {round}");
    }
    assert_no_waiters(&mut admin);
}

#[test]
fn clients_still_on_their_way_when_the_push_came_are_served_in_the_order_they_sent() {
    // As above, but nobody waits for the pops to block: each round, two fresh connections send
    // a blocking pop one right after the other and a third, fresh too, pushes at once. A lone
    // Redis reads the three in that order: both pops block and the push serves the first
    // sender first. On four shards the push often reaches the key's shard before either pop
    // has (their connections are on other shards); the key's shard then tells by the pops'
    // arrival times that they came before the key was created, and has them wait for the
    // barrier that gathers the key's waiters (FreshKeys). Without that, 2-29 of 120 rounds
    // served the second sender first. Creations are recorded while blocking commands are
    // about: the round before the first is that first blocking command.
    both(|s| {
        let mut admin = s.conn();
        assert_eq!(
            q(&mut admin, &["BLPOP", "arrival-warmup", "0.01"]),
            Value::Nil
        );
        let early = "*2\r\n$7\r\narrival\r\n$5\r\nearly\r\n";
        let late = "*2\r\n$7\r\narrival\r\n$4\r\nlate\r\n";
        for round in 0..120 {
            let (mut first, mut second, mut pusher) = (s.raw(), s.raw(), s.raw());
            first.send_cmd(&[b"BLPOP", b"arrival", b"0"]);
            second.send_cmd(&[b"BLPOP", b"arrival", b"0"]);
            pusher.send_cmd(&[b"LPUSH", b"arrival", b"late", b"early"]);
            assert_eq!(
                pusher.read_reply_str(),
                ":2\r\n",
                "round {round} on {} shards",
                s.shards()
            );
            assert_eq!(
                first.read_reply_str(),
                early,
                "round {round} on {} shards",
                s.shards()
            );
            assert_eq!(
                second.read_reply_str(),
                late,
                "round {round} on {} shards",
                s.shards()
            );
        }
        assert_no_waiters(&mut admin);
        // Inside EXEC nothing waits: a list the transaction created is popped at once.
        let r = exec_reply(
            &mut admin,
            &[&["LPUSH", "in-exec", "a"], &["BLPOP", "in-exec", "0"]],
        );
        assert_eq!(r, arr(vec![int(1), bulks(&["in-exec", "a"])]));
    });
}

#[test]
fn an_exec_sent_before_a_push_keeps_its_watch_on_the_move_destination() {
    // Redis's "BRPOPLPUSH does not affect WATCH while still blocked": a client blocks in
    // BRPOPLPUSH src dst; another WATCHes dst and sends MULTI, GET and EXEC; a third, without
    // waiting for that EXEC's reply, pushes to src. Redis reads the EXEC first: it runs, then
    // the push moves the element. On four shards the push can reach the keys' shard first, and
    // the barrier that gathers src's waiters locks dst until the move: the EXEC, arriving
    // meanwhile, used to wait for the move and fail (17-25 of 300 rounds of a replay). It now
    // passes the lock: it reached the server before the push, nothing was written since, and it
    // names neither src nor the push's keys.
    both(|s| {
        let mut admin = s.conn();
        let mut pusher = s.conn();
        for round in 0..200 {
            let ctx = format!("round {round} on {} shards", s.shards());
            q(&mut admin, &["DEL", "src{w}", "dst{w}"]);
            q(&mut admin, &["SET", "some{w}", "v"]);
            let mut blocked = s.raw();
            blocked.send_cmd(&[b"BRPOPLPUSH", b"src{w}", b"dst{w}", b"0"]);
            wait_blocked(&mut admin, 1);
            let mut watcher = s.raw();
            for (cmd, reply) in [
                (&[&b"WATCH"[..], b"dst{w}"][..], "+OK\r\n"),
                (&[&b"MULTI"[..]][..], "+OK\r\n"),
                (&[&b"GET"[..], b"some{w}"][..], "+QUEUED\r\n"),
            ] {
                watcher.send_cmd(cmd);
                assert_eq!(watcher.read_reply_str(), reply, "{ctx}");
            }
            watcher.send_cmd(&[b"EXEC"]);
            let n = q(&mut pusher, &["LPUSH", "src{w}", "element"]);
            assert_eq!(n, int(1), "{ctx}");
            assert_eq!(watcher.read_reply_str(), "*1\r\n$1\r\nv\r\n", "{ctx}");
            assert_eq!(blocked.read_reply_str(), "$7\r\nelement\r\n", "{ctx}");
        }
    });
}
