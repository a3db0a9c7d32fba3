//! MULTI/EXEC/WATCH and the atomicity of multi-shard commands, through a real client, with
//! `--shards 1` and `--shards 4` (where the keys below live on different shards).

mod common;

use common::*;
use redis::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn queued_commands_run_in_order_and_reply_as_an_array() {
    both(|s| {
        let mut c = s.conn();
        let r = exec_reply(
            &mut c,
            &[
                &["SET", "a", "1"],
                &["INCR", "b"],
                &["RPUSH", "list", "x", "y"],
                &["MGET", "a", "b", "nokey"],
                &["RENAME", "a", "a2"],
                &["EXISTS", "a", "a2"],
                &["PING"],
            ],
        );
        assert_eq!(
            r,
            arr(vec![
                ok(),
                int(1),
                int(2),
                arr(vec![bulk("1"), bulk("1"), nil()]),
                ok(),
                int(1),
                status("PONG"),
            ])
        );
        // Runtime errors are reported per command; the others still run.
        let mut raw = s.raw();
        for cmd in [&b"MULTI"[..], b"INCR list", b"SET after yes", b"EXEC"] {
            let args: Vec<&[u8]> = cmd.split(|&b| b == b' ').collect();
            raw.send_cmd(&args);
        }
        let mut replies = String::new();
        for _ in 0..4 {
            replies.push_str(&raw.read_reply_str());
        }
        assert_eq!(
            replies,
            "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n-WRONGTYPE Operation against a key holding \
             the wrong kind of value\r\n+OK\r\n"
        );
        assert_eq!(q(&mut c, &["GET", "after"]), bulk("yes"));
        // An empty transaction.
        assert_eq!(exec_reply(&mut c, &[]), arr(vec![]));
    });
}

#[test]
fn queueing_errors_abort_and_misuse_is_refused() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(qerr(&mut c, &["EXEC"]), "ERR EXEC without MULTI");
        assert_eq!(qerr(&mut c, &["DISCARD"]), "ERR DISCARD without MULTI");
        assert_eq!(q(&mut c, &["MULTI"]), ok());
        assert_eq!(
            qerr(&mut c, &["MULTI"]),
            "ERR MULTI calls can not be nested"
        );
        assert_eq!(
            qerr(&mut c, &["WATCH", "x"]),
            "ERR WATCH inside MULTI is not allowed"
        );
        assert_eq!(q(&mut c, &["SET", "x", "1"]), status("QUEUED"));
        assert_eq!(
            qerr(&mut c, &["SET", "x"]),
            "ERR wrong number of arguments for 'set' command"
        );
        assert!(qerr(&mut c, &["NOSUCHCMD"]).starts_with("ERR unknown command 'NOSUCHCMD'"));
        assert_eq!(
            qerr(&mut c, &["EXEC"]),
            "EXECABORT Transaction discarded because of previous errors."
        );
        assert_eq!(q(&mut c, &["EXISTS", "x"]), int(0), "nothing ran");
        // Redis's no-multi commands are refused, and abort the transaction.
        assert_eq!(q(&mut c, &["MULTI"]), ok());
        assert_eq!(
            qerr(&mut c, &["SHUTDOWN"]),
            "ERR Command not allowed inside a transaction"
        );
        assert!(qerr(&mut c, &["EXEC"]).starts_with("EXECABORT"));
        // A subcommand that does not exist or has the wrong arity is refused at queue time.
        for (cmd, err) in [
            (
                &["CONFIG", "GET"][..],
                "ERR wrong number of arguments for 'config|get' command",
            ),
            (
                &["CONFIG", "NOSUCH"][..],
                "ERR unknown subcommand 'NOSUCH'. Try CONFIG HELP.",
            ),
            (
                &["OBJECT", "ENCODING", "a", "b"][..],
                "ERR wrong number of arguments for 'object|encoding' command",
            ),
        ] {
            assert_eq!(q(&mut c, &["MULTI"]), ok());
            assert_eq!(q(&mut c, &["SET", "x", "1"]), status("QUEUED"));
            assert_eq!(qerr(&mut c, cmd), err);
            assert!(qerr(&mut c, &["EXEC"]).starts_with("EXECABORT"));
            assert_eq!(q(&mut c, &["EXISTS", "x"]), int(0), "nothing ran");
        }
        let r = exec_reply(&mut c, &[&["CONFIG", "GET", "maxmemory"]]);
        assert_eq!(r, arr(vec![arr(vec![bulk("maxmemory"), bulk("0")])]));
        // DISCARD drops the queue.
        assert_eq!(q(&mut c, &["MULTI"]), ok());
        assert_eq!(q(&mut c, &["SET", "x", "1"]), status("QUEUED"));
        assert_eq!(q(&mut c, &["DISCARD"]), ok());
        assert_eq!(q(&mut c, &["EXISTS", "x"]), int(0));
        // Blocking commands don't block inside a transaction.
        let r = exec_reply(&mut c, &[&["BLPOP", "nolist", "0"], &["SET", "x", "2"]]);
        assert_eq!(r, arr(vec![Value::Nil, ok()]));
        // SELECT inside MULTI moves the connection too.
        let r = exec_reply(&mut c, &[&["SELECT", "3"], &["SET", "indb3", "1"]]);
        assert_eq!(r, arr(vec![ok(), ok()]));
        assert_eq!(q(&mut c, &["GET", "indb3"]), bulk("1"));
        assert_eq!(q(&mut c, &["SELECT", "0"]), ok());
        assert_eq!(q(&mut c, &["EXISTS", "indb3"]), int(0));
    });
}

#[test]
fn a_multi_shard_write_that_changes_nothing_leaves_watched_keys_alone() {
    both(|s| {
        let mut c = s.conn();
        let mut other = s.conn();
        // Keys spread over the shards (on 4 shards most of these pairs straddle two).
        q(&mut c, &["SET", "nc:a", "1"]);
        q(&mut c, &["SET", "nc:b", "2"]);
        q(&mut c, &["SADD", "nc:s1", "x"]);
        q(&mut c, &["SADD", "nc:s2", "y"]);
        let unchanged: &[&[&str]] = &[
            &["MSETNX", "nc:a", "9", "nc:new", "9"],
            &["DEL", "nc:absent1", "nc:absent2", "nc:absent3"],
            &["UNLINK", "nc:absent1", "nc:absent2"],
            &["RENAMENX", "nc:a", "nc:b"],
            &["COPY", "nc:a", "nc:b"],
            &["SMOVE", "nc:s1", "nc:s2", "nothere"],
            &["LMOVE", "nc:nolist", "nc:b", "LEFT", "RIGHT"],
        ];
        let watched = [
            "nc:a",
            "nc:b",
            "nc:new",
            "nc:absent1",
            "nc:absent2",
            "nc:s1",
            "nc:s2",
        ];
        for in_exec in [false, true] {
            for cmd in unchanged {
                let mut w = vec!["WATCH"];
                w.extend(watched);
                assert_eq!(q(&mut c, &w), ok());
                if in_exec {
                    assert_eq!(q(&mut other, &["MULTI"]), ok());
                }
                let _ = redis::cmd(cmd[0])
                    .arg(&cmd[1..])
                    .query::<redis::Value>(&mut other);
                if in_exec {
                    q(&mut other, &["EXEC"]);
                }
                assert_eq!(
                    exec_reply(&mut c, &[&["PING"]]),
                    arr(vec![status("PONG")]),
                    "{cmd:?} changed nothing but failed the EXEC (in EXEC: {in_exec})"
                );
            }
        }
        // The same commands when they do write fail it.
        let changing: &[&[&str]] = &[
            &["MSETNX", "nc:new", "1", "nc:new2", "2"],
            &["DEL", "nc:new", "nc:absent1"],
            &["RENAMENX", "nc:a", "nc:c"],
            &["SMOVE", "nc:s1", "nc:s2", "x"],
        ];
        for cmd in changing {
            let mut w = vec!["WATCH"];
            w.extend(watched);
            assert_eq!(q(&mut c, &w), ok());
            q(&mut other, cmd);
            assert_eq!(exec_reply(&mut c, &[&["PING"]]), Value::Nil, "{cmd:?}");
        }
        // SMOVE of a member the destination holds already changes only the source (one shard
        // by the hash tag, then two shards).
        for (src, dst) in [("{nc}m1", "{nc}m2"), ("nc:m1", "nc:m2")] {
            q(&mut c, &["SADD", src, "a", "b"]);
            q(&mut c, &["SADD", dst, "a"]);
            assert_eq!(q(&mut c, &["WATCH", dst]), ok());
            assert_eq!(q(&mut other, &["SMOVE", src, dst, "a"]), int(1));
            assert_eq!(
                exec_reply(&mut c, &[&["PING"]]),
                arr(vec![status("PONG")]),
                "SMOVE {src} {dst}"
            );
            assert_eq!(q(&mut c, &["WATCH", src]), ok());
            assert_eq!(q(&mut other, &["SMOVE", src, dst, "b"]), int(1));
            assert_eq!(
                exec_reply(&mut c, &[&["PING"]]),
                Value::Nil,
                "SMOVE {src} {dst}"
            );
        }
    });
}

#[test]
fn watch_aborts_exec_when_a_watched_key_is_touched() {
    both_with(&["--enable-debug-command", "yes"], |s| {
        let mut c = s.conn();
        let mut other = s.conn();
        // Touched by another client: EXEC answers nil and runs nothing.
        q(&mut c, &["SET", "w1", "0"]);
        assert_eq!(q(&mut c, &["WATCH", "w1", "w2"]), ok());
        q(&mut other, &["INCR", "w1"]);
        assert_eq!(exec_reply(&mut c, &[&["SET", "w2", "x"]]), Value::Nil);
        assert_eq!(q(&mut c, &["EXISTS", "w2"]), int(0));
        // Untouched: it runs; the watch ends with EXEC.
        assert_eq!(q(&mut c, &["WATCH", "w1", "w2"]), ok());
        assert_eq!(exec_reply(&mut c, &[&["SET", "w2", "x"]]), arr(vec![ok()]));
        q(&mut other, &["INCR", "w1"]);
        assert_eq!(exec_reply(&mut c, &[&["GET", "w2"]]), arr(vec![bulk("x")]));
        // UNWATCH forgets.
        assert_eq!(q(&mut c, &["WATCH", "w1"]), ok());
        q(&mut other, &["INCR", "w1"]);
        assert_eq!(q(&mut c, &["UNWATCH"]), ok());
        assert_eq!(exec_reply(&mut c, &[&["PING"]]), arr(vec![status("PONG")]));
        // A write through a multi-shard command counts (RENAME onto a watched key).
        q(&mut c, &["SET", "src", "v"]);
        assert_eq!(q(&mut c, &["WATCH", "dst"]), ok());
        q(&mut other, &["RENAME", "src", "dst"]);
        assert_eq!(exec_reply(&mut c, &[&["PING"]]), Value::Nil);
        // Only what a command writes is touched: a source of SUNIONSTORE is not, its
        // destination is (one shard: the hash tag keeps both keys together).
        q(&mut c, &["SADD", "{t}src", "a"]);
        assert_eq!(q(&mut c, &["WATCH", "{t}src"]), ok());
        q(&mut other, &["SUNIONSTORE", "{t}dst", "{t}src"]);
        assert_eq!(exec_reply(&mut c, &[&["PING"]]), arr(vec![status("PONG")]));
        assert_eq!(q(&mut c, &["WATCH", "{t}dst"]), ok());
        q(&mut other, &["SUNIONSTORE", "{t}dst", "{t}src"]);
        assert_eq!(exec_reply(&mut c, &[&["PING"]]), Value::Nil);
        // The same with keys on several shards (the multi-shard path), run alone and inside
        // another client's EXEC, and for PFMERGE's sources.
        let srcs = ["ms:a", "ms:b", "ms:c", "ms:d", "ms:e"];
        for k in srcs {
            q(&mut c, &["SADD", k, "m"]);
            q(&mut c, &["PFADD", &format!("hll:{k}"), "m"]);
        }
        let hsrcs: Vec<String> = srcs.iter().map(|k| format!("hll:{k}")).collect();
        let union: Vec<&str> = ["SUNIONSTORE", "ms:dst"].into_iter().chain(srcs).collect();
        let merge: Vec<&str> = ["PFMERGE", "hll:dst"]
            .into_iter()
            .chain(hsrcs.iter().map(|k| k.as_str()))
            .collect();
        for (cmd, watched_src, dst) in
            [(&union, srcs[2], "ms:dst"), (&merge, "hll:ms:c", "hll:dst")]
        {
            for in_exec in [false, true] {
                assert_eq!(q(&mut c, &["WATCH", watched_src]), ok());
                if in_exec {
                    assert_eq!(q(&mut other, &["MULTI"]), ok());
                    q(&mut other, cmd);
                    q(&mut other, &["EXEC"]);
                } else {
                    q(&mut other, cmd);
                }
                assert_eq!(
                    exec_reply(&mut c, &[&["PING"]]),
                    arr(vec![status("PONG")]),
                    "{cmd:?} touched its source (in EXEC: {in_exec})"
                );
                assert_eq!(q(&mut c, &["WATCH", dst]), ok());
                q(&mut other, cmd);
                assert_eq!(exec_reply(&mut c, &[&["PING"]]), Value::Nil, "{cmd:?}");
            }
        }
        // FLUSHALL touches keys that existed …
        q(&mut c, &["SET", "w1", "1"]);
        assert_eq!(q(&mut c, &["WATCH", "w1"]), ok());
        q(&mut other, &["FLUSHALL"]);
        assert_eq!(exec_reply(&mut c, &[&["PING"]]), Value::Nil);
        // … and not those that did not.
        assert_eq!(q(&mut c, &["WATCH", "absent"]), ok());
        q(&mut other, &["FLUSHALL"]);
        assert_eq!(exec_reply(&mut c, &[&["PING"]]), arr(vec![status("PONG")]));
        // A key that expires after WATCH fails the EXEC; one already stale at WATCH does not.
        q(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        q(&mut c, &["SET", "soon", "1", "PX", "100"]);
        assert_eq!(q(&mut c, &["WATCH", "soon"]), ok());
        thread::sleep(Duration::from_millis(200));
        assert_eq!(exec_reply(&mut c, &[&["PING"]]), Value::Nil);
        q(&mut c, &["SET", "stale", "1", "PX", "50"]);
        thread::sleep(Duration::from_millis(100));
        assert_eq!(q(&mut c, &["WATCH", "stale"]), ok());
        assert_eq!(exec_reply(&mut c, &[&["PING"]]), arr(vec![status("PONG")]));
        q(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
        // Writing it ourselves inside the transaction is fine (the check comes first).
        q(&mut c, &["SET", "mine", "1"]);
        assert_eq!(q(&mut c, &["WATCH", "mine"]), ok());
        assert_eq!(
            exec_reply(&mut c, &[&["INCR", "mine"], &["INCR", "mine"]]),
            arr(vec![int(2), int(3)])
        );
    });
}

/// Keys spread over the shards (on `--shards 4`, these land on different shards).
fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}

/// MSET every key of `ks` to `v`.
fn mset_all(c: &mut redis::Connection, ks: &[String], v: &str) {
    let mut a = vec!["MSET".to_string()];
    for k in ks {
        a.push(k.clone());
        a.push(v.into());
    }
    q(c, &a);
}

/// An MGET of a group its writers always set whole: every value the same.
fn untorn(vals: &[String]) -> Result<(), String> {
    if vals.iter().any(|v| v != &vals[0]) {
        return Err(format!("torn MGET: {vals:?}"));
    }
    Ok(())
}

/// Run `writer` and `checker` closures on threads until the deadline; the checker returns an
/// error message on a violated invariant.
fn race(
    s: &Server,
    writers: usize,
    readers: usize,
    run_for: Duration,
    writer: impl Fn(&mut redis::Connection, usize, u64) + Send + Sync + 'static,
    reader: impl Fn(&mut redis::Connection) -> Result<(), String> + Send + Sync + 'static,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = Arc::new(writer);
    let reader = Arc::new(reader);
    let mut handles: Vec<thread::JoinHandle<Result<u64, String>>> = Vec::new();
    for w in 0..writers {
        let (stop, writer, mut c) = (stop.clone(), writer.clone(), s.conn());
        handles.push(thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                writer(&mut c, w, i);
                i += 1;
            }
            Ok(i)
        }));
    }
    for _ in 0..readers {
        let (stop, reader, mut c) = (stop.clone(), reader.clone(), s.conn());
        handles.push(thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                reader(&mut c)?;
                i += 1;
            }
            Ok(i)
        }));
    }
    let end = Instant::now() + run_for;
    while Instant::now() < end && !handles.iter().any(|h| h.is_finished()) {
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let mut counts = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(n)) => counts.push(n),
            Ok(Err(e)) => panic!("invariant violated: {e}"),
            Err(_) => panic!("a client thread panicked"),
        }
    }
    assert!(
        counts.iter().all(|&n| n > 0),
        "every client made progress: {counts:?}"
    );
}

/// On 1 and 4 shards: `writer`s keep setting the group `prefix:0..n` (spread over the shards)
/// whole while `reader`s check, on the group, that they never see it torn.
fn race_on_group(
    prefix: &str,
    n: usize,
    writer: impl Fn(&mut redis::Connection, &[String], usize, u64) + Send + Sync + 'static,
    reader: impl Fn(&mut redis::Connection, &[String]) -> Result<(), String> + Send + Sync + 'static,
) {
    let (writer, reader) = (Arc::new(writer), Arc::new(reader));
    for shards in [1, 4] {
        let s = Server::start(shards);
        let ks = Arc::new(keys(prefix, n));
        mset_all(&mut s.conn(), &ks, "0");
        let (wk, w) = (ks.clone(), writer.clone());
        let (rk, r) = (ks, reader.clone());
        race(
            &s,
            3,
            3,
            Duration::from_secs(2),
            move |c, id, i| w(c, &wk, id, i),
            move |c| r(c, &rk),
        );
    }
}

#[test]
fn mset_across_shards_is_never_seen_torn() {
    race_on_group(
        "pair",
        6,
        |c, ks, w, i| mset_all(c, ks, &format!("{w}-{i}")),
        |c, ks| {
            let mut a = vec!["MGET".to_string()];
            a.extend(ks.iter().cloned());
            untorn(&qt::<Vec<String>, _>(c, &a))
        },
    );
}

#[test]
fn transfers_in_multi_exec_keep_the_total() {
    for shards in [1, 4] {
        let s = Server::start(shards);
        let accounts = keys("acct", 8);
        let mut c = s.conn();
        for a in &accounts {
            q(&mut c, &["SET", a.as_str(), "100"]);
        }
        let wa = accounts.clone();
        let ra = accounts.clone();
        race(
            &s,
            4,
            2,
            Duration::from_secs(2),
            move |c, w, i| {
                let from = &wa[(w + i as usize) % wa.len()];
                let to = &wa[(w * 3 + i as usize * 5 + 1) % wa.len()];
                let amount = (i % 7 + 1).to_string();
                let r = exec_reply(c, &[&["DECRBY", from, &amount], &["INCRBY", to, &amount]]);
                assert!(matches!(r, Value::Array(ref v) if v.len() == 2), "{r:?}");
            },
            move |c| {
                // Read both ways: one MGET (atomic across shards) and a read-only transaction.
                let mut a = vec!["MGET".to_string()];
                a.extend(ra.iter().cloned());
                let vals: Vec<i64> = qt(c, &a);
                let total: i64 = vals.iter().sum();
                if total != 800 {
                    return Err(format!("MGET total {total}: {vals:?}"));
                }
                let gets: Vec<Vec<&str>> = ra.iter().map(|k| vec!["GET", k.as_str()]).collect();
                let refs: Vec<&[&str]> = gets.iter().map(|g| g.as_slice()).collect();
                let r = exec_reply(c, &refs);
                let vals: Vec<i64> = redis::from_redis_value(&r).map_err(|e| e.to_string())?;
                let total: i64 = vals.iter().sum();
                if total != 800 {
                    return Err(format!("EXEC total {total}: {vals:?}"));
                }
                Ok(())
            },
        );
    }
}

#[test]
fn rename_ping_pong_never_loses_or_duplicates_the_key() {
    for shards in [1, 4] {
        let s = Server::start(shards);
        let names = keys("ball", 4);
        let mut c = s.conn();
        q(&mut c, &["SET", names[0].as_str(), "ball"]);
        let wn = names.clone();
        let rn = names.clone();
        race(
            &s,
            3,
            3,
            Duration::from_secs(2),
            move |c, w, i| {
                let from = &wn[(w + i as usize) % wn.len()];
                let to = &wn[(w + i as usize + 1 + w) % wn.len()];
                // Only one of the racing renames finds the ball where it looked.
                let _ = cmd(&["RENAME", from.as_str(), to.as_str()]).query::<Value>(c);
            },
            move |c| {
                let mut a = vec!["EXISTS".to_string()];
                a.extend(rn.iter().cloned());
                let n: i64 = qt(c, &a);
                if n != 1 {
                    return Err(format!("{n} balls"));
                }
                Ok(())
            },
        );
        let mut a = vec!["MGET".to_string()];
        a.extend(names.iter().cloned());
        let vals: Vec<Option<String>> = qt(&mut c, &a);
        assert_eq!(vals.iter().flatten().count(), 1, "{vals:?}");
    }
}

/// Elements moved between lists on different shards by LMOVE and the blocking moves, often
/// from an empty list (so that clients block and are woken): a snapshot of every list's length
/// never misses or doubles one.
#[test]
fn moves_between_lists_never_show_an_element_twice_or_nowhere() {
    for shards in [1, 4] {
        let s = Server::start(shards);
        let lists = Arc::new(keys("mvq", 4));
        let mut c = s.conn();
        for (i, l) in lists.iter().take(3).enumerate() {
            q(&mut c, &["RPUSH", l.as_str(), &format!("e{i}")]);
        }
        let (wl, rl) = (lists.clone(), lists.clone());
        race(
            &s,
            4,
            2,
            Duration::from_secs(2),
            move |c, w, i| {
                let from = &wl[(w + i as usize) % wl.len()];
                let to = &wl[(w + 2 * i as usize + 1) % wl.len()];
                let a = match i % 3 {
                    0 => vec!["LMOVE", from, to, "LEFT", "RIGHT"],
                    1 => vec!["BLMOVE", from, to, "RIGHT", "LEFT", "0.01"],
                    _ => vec!["BRPOPLPUSH", from, to, "0.01"],
                };
                let _ = cmd(&a).query::<Value>(c);
            },
            move |c| {
                let lens: Vec<[&str; 2]> = rl.iter().map(|l| ["LLEN", l.as_str()]).collect();
                let lens: Vec<&[&str]> = lens.iter().map(|a| &a[..]).collect();
                let r = exec_reply(c, &lens);
                let n: Vec<i64> = redis::from_redis_value(&r).map_err(|e| e.to_string())?;
                match n.iter().sum::<i64>() {
                    3 => Ok(()),
                    t => Err(format!("{t} elements: {n:?}")),
                }
            },
        );
    }
}

/// Writes that queue on a key while a multi-shard script holds it all run once it lets go.
/// Two of them used to take turns parking behind each other forever, the shard spinning.
#[test]
fn writes_queued_behind_a_locked_key_all_run_after_the_release() {
    const BUSY: &str = "local t0 = redis.call('time') \
        repeat local t = redis.call('time') \
        until (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > 400000 return 1";
    for shards in [1, 4] {
        let s = Server::start(shards);
        let names = keys("held", 8);
        let script = {
            let (mut c, names) = (s.conn(), names.clone());
            thread::spawn(move || {
                let mut a = vec!["EVAL".to_string(), BUSY.into(), names.len().to_string()];
                a.extend(names);
                qt::<i64, _>(&mut c, &a)
            })
        };
        // Let the script take its locks, then queue writes on one of its keys.
        thread::sleep(Duration::from_millis(100));
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let (mut c, key) = (s.conn(), names[0].clone());
                thread::spawn(move || qt::<i64, _>(&mut c, &["INCR", &key]))
            })
            .collect();
        let mut got: Vec<i64> = writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        got.sort_unstable();
        assert_eq!(got, vec![1, 2, 3, 4], "{shards} shards");
        assert_eq!(script.join().expect("script"), 1);
        let mut c = s.conn();
        assert_eq!(qt::<i64, _>(&mut c, &["GET", names[0].as_str()]), 4);
    }
}

/// A blocked BLMOVE woken while a multi-shard script holds its destination is served once the
/// script is over (blocked clients wait for scripts and transactions, as in Redis): the script
/// reads the destination the same before and after its busy stretch.
#[test]
fn a_woken_move_waits_for_a_script_holding_its_destination() {
    const READ_TWICE: &str = "local a = redis.call('llen', KEYS[1]) \
        local t0 = redis.call('time') \
        repeat local t = redis.call('time') \
        until (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > 400000 \
        return {a, redis.call('llen', KEYS[1])}";
    for shards in [1, 4] {
        let s = Server::start(shards);
        let mut admin = s.conn();
        let mover = {
            let mut c = s.conn();
            thread::spawn(move || {
                qt::<String, _>(
                    &mut c,
                    &["BLMOVE", "{mv}src", "{mv}dst", "LEFT", "LEFT", "0"],
                )
            })
        };
        wait_blocked(&mut admin, 1);
        let script = {
            let mut c = s.conn();
            thread::spawn(move || {
                let mut a = vec!["EVAL".to_string(), READ_TWICE.into(), "5".into()];
                a.push("{mv}dst".into());
                a.extend(keys("held", 4));
                qt::<Vec<i64>, _>(&mut c, &a)
            })
        };
        // Wake the mover while the script holds its destination.
        thread::sleep(Duration::from_millis(100));
        q(&mut admin, &["LPUSH", "{mv}src", "x"]);
        // [0, 0] when the push came while the script ran, [1, 1] if it came first (a slow
        // start): never a change in between.
        let seen = script.join().expect("script");
        assert_eq!(seen[0], seen[1], "{shards} shards: {seen:?}");
        assert_eq!(mover.join().expect("mover"), "x");
        assert_eq!(
            q(&mut admin, &["LRANGE", "{mv}dst", "0", "-1"]),
            arr(vec![bulk("x")])
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Crash atomicity of multi-shard writes in the AOF.

fn segment_files(s: &Server) -> Vec<std::path::PathBuf> {
    let dir = s.dir().join("appendonlydir");
    let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap_or_default();
    manifest
        .lines()
        .filter(|l| l.starts_with("file "))
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|n| dir.join(n))
        .collect()
}

/// Remove the first `SHARDIS.TXDONE` record from `bytes`; false if there is none.
fn cut_txdone(bytes: &mut Vec<u8>) -> bool {
    let needle = b"\r\nSHARDIS.TXDONE\r\n";
    let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) else {
        return false;
    };
    // "*3\r\n$14" precedes the name; then two more bulk strings follow it.
    let start = at - b"*3\r\n$14".len();
    let mut pos = at + needle.len();
    for _ in 0..2 {
        let line_end = pos
            + bytes[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("len");
        let len: usize = std::str::from_utf8(&bytes[pos + 1..line_end])
            .expect("utf8")
            .parse()
            .expect("len");
        pos = line_end + 2 + len + 2;
    }
    bytes.drain(start..pos);
    true
}

#[test]
fn a_multi_shard_write_missing_on_one_shard_is_dropped_whole() {
    if skip_under_redis("shardis AOF layout") {
        return;
    }
    let args = ["--appendonly", "yes"];
    let mut s = Server::start_with(4, &args);
    let accounts = keys("acct", 8);
    let mut c = s.conn();
    for a in &accounts {
        q(&mut c, &["SET", a.as_str(), "100"]);
    }
    let mut mset = vec!["MSET".to_string()];
    for a in &accounts {
        mset.push(a.clone());
        mset.push("50".into());
    }
    q(&mut c, &mset);
    drop(c);
    s.shutdown();
    // As if one shard crashed before logging that the MSET was done everywhere.
    let mut cut = false;
    for seg in segment_files(&s) {
        let mut bytes = std::fs::read(&seg).expect("segment");
        if cut_txdone(&mut bytes) {
            std::fs::write(&seg, &bytes).expect("rewrite segment");
            cut = true;
            break;
        }
    }
    assert!(cut, "the MSET spanning shards logged TXDONE records");
    let s = s.restart(4, &args).expect("restart");
    let mut c = s.conn();
    let mut mget = vec!["MGET".to_string()];
    mget.extend(accounts.iter().cloned());
    let vals: Vec<String> = qt(&mut c, &mget);
    assert!(vals.iter().all(|v| v == "100"), "no part applied: {vals:?}");
    assert!(
        s.log_contents().contains("not applying"),
        "{}",
        s.log_contents()
    );
    // The same logs, untouched, apply it everywhere.
    q(&mut c, &mset);
    drop(c);
    let mut s = s;
    s.shutdown();
    let s = s.restart(4, &args).expect("restart");
    let vals: Vec<String> = qt(&mut s.conn(), &mget);
    assert!(vals.iter().all(|v| v == "50"), "{vals:?}");
}

#[test]
fn kill9_during_multi_shard_writes_keeps_the_invariants() {
    if skip_under_redis("shardis AOF layout") {
        return;
    }
    let args = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut s = Server::start_with(4, &args);
    let accounts = keys("acct", 8);
    let balls = keys("ball", 4);
    let mut c = s.conn();
    for a in &accounts {
        q(&mut c, &["SET", a.as_str(), "100"]);
    }
    q(&mut c, &["SET", balls[0].as_str(), "ball"]);
    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for w in 0..4usize {
            let (stop, mut c, accounts, balls) =
                (stop.clone(), s.conn(), accounts.clone(), balls.clone());
            handles.push(thread::spawn(move || {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let ok = if w % 2 == 0 {
                        let from = &accounts[i % 8];
                        let to = &accounts[(i * 3 + 1) % 8];
                        redis::pipe()
                            .atomic()
                            .cmd("DECRBY")
                            .arg(from)
                            .arg(3)
                            .cmd("INCRBY")
                            .arg(to)
                            .arg(3)
                            .query::<Value>(&mut c)
                            .is_ok()
                    } else {
                        let from = &balls[i % 4];
                        let to = &balls[(i + 1 + w) % 4];
                        match cmd(&["RENAME", from.as_str(), to.as_str()]).query::<Value>(&mut c) {
                            Ok(_) => true,
                            // "no such key" is an answer; a dropped connection is the crash.
                            Err(e) => e.kind() == redis::ErrorKind::ResponseError,
                        }
                    };
                    if !ok {
                        break;
                    }
                }
            }));
        }
        thread::sleep(Duration::from_millis(300 + round * 170));
        s.kill9();
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
        s = s.restart(4, &args).expect("restart after kill -9");
        let mut c = s.conn();
        let mut mget = vec!["MGET".to_string()];
        mget.extend(accounts.iter().cloned());
        let vals: Vec<i64> = qt(&mut c, &mget);
        assert_eq!(vals.iter().sum::<i64>(), 800, "round {round}: {vals:?}");
        let mut exists = vec!["EXISTS".to_string()];
        exists.extend(balls.iter().cloned());
        let n: i64 = qt(&mut c, &exists);
        assert_eq!(n, 1, "round {round}: one ball");
    }
}

#[test]
fn blocked_clients_are_served_after_the_transaction_not_inside_it() {
    both(|s| {
        let mut c = s.conn();
        for (cmds, want) in [
            // Pushed and deleted inside: nothing to serve; the later push is what it gets.
            (vec![vec!["LPUSH", "bl", "a"], vec!["DEL", "bl"]], "b"),
            // Three pushes: the waiter sees the list as EXEC left it (head c).
            (
                vec![
                    vec!["LPUSH", "bl", "a"],
                    vec!["LPUSH", "bl", "b"],
                    vec!["LPUSH", "bl", "c"],
                ],
                "c",
            ),
        ] {
            q(&mut c, &["DEL", "bl"]);
            let mut waiter = s.conn();
            let t =
                thread::spawn(move || -> Vec<String> { qt(&mut waiter, &["BLPOP", "bl", "10"]) });
            wait_blocked(&mut c, 1);
            let refs: Vec<&[&str]> = cmds.iter().map(|v| v.as_slice()).collect();
            exec_reply(&mut c, &refs);
            q(&mut c, &["LPUSH", "bl", "b"]);
            let got = t.join().expect("waiter");
            assert_eq!(got, vec!["bl".to_string(), want.to_string()]);
        }
        // A pop by a served blocked BRPOPLPUSH touches the watched destination.
        q(&mut c, &["DEL", "src", "dst"]);
        let mut waiter = s.conn();
        let t = thread::spawn(move || -> Option<String> {
            qt(&mut waiter, &["BRPOPLPUSH", "src", "dst", "10"])
        });
        wait_blocked(&mut c, 1);
        q(&mut c, &["WATCH", "dst"]);
        q(&mut c, &["LPUSH", "src", "v"]);
        assert_eq!(t.join().expect("waiter"), Some("v".to_string()));
        assert_eq!(exec_reply(&mut c, &[&["PING"]]), Value::Nil);
    });
}

/// Pipelined multi-shard commands run as one locked pass per stretch of the pipeline
/// (net/dispatch.rs): the replies keep request order, and each command sees the ones before it,
/// this shard's keys and other shards' alike.
#[test]
fn a_pipeline_of_multi_shard_commands_keeps_its_order() {
    for shards in [1, 4] {
        let s = Server::start(shards);
        let ks = keys("seq", 4);
        let k = |i: usize| ks[i].as_str();
        let cmds: Vec<Vec<&str>> = vec![
            vec!["SET", k(0), "a"],
            vec!["MSET", k(0), "b", k(1), "b"],
            vec!["GET", k(0)],
            vec!["MGET", k(0), k(1), k(2)],
            vec!["INCR", k(2)],
            vec!["MSET", k(2), "x", k(3), "y"],
            vec!["DEL", k(0), k(3), "seq:none"],
            vec!["EXISTS", k(0), k(1), k(2), k(3)],
            // Odd: an arity error, nothing written.
            vec!["MSET", k(0), "1", k(1)],
            vec!["MGET", k(0), k(1), k(2), k(3)],
            // A wrong type inside the pass.
            vec!["LPUSH", k(1), "z"],
            vec!["UNLINK", k(1), k(2)],
            vec!["MGET", k(1), k(2)],
        ];
        // One write: the server reads the whole pipeline at once.
        let mut buf = Vec::new();
        for c in &cmds {
            buf.extend(format!("*{}\r\n", c.len()).into_bytes());
            for a in c {
                buf.extend(format!("${}\r\n{a}\r\n", a.len()).into_bytes());
            }
        }
        let mut raw = s.raw();
        raw.send(&buf);
        let got: Vec<Resp> = cmds.iter().map(|_| raw.read_value()).collect();
        let b = |v: &str| Resp::Bulk(v.as_bytes().to_vec());
        let ok = || Resp::Simple("OK".into());
        let want = vec![
            ok(),
            ok(),
            b("b"),
            Resp::Array(vec![b("b"), b("b"), Resp::Nil]),
            Resp::Int(1),
            ok(),
            Resp::Int(2),
            Resp::Int(2),
            Resp::Error("ERR wrong number of arguments for 'mset' command".into()),
            Resp::Array(vec![Resp::Nil, b("b"), b("x"), Resp::Nil]),
            Resp::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into()),
            Resp::Int(2),
            Resp::Array(vec![Resp::Nil, Resp::Nil]),
        ];
        assert_eq!(got, want, "--shards {shards}");
        // Each command counted once, as Redis counts it.
        let mut c = s.conn();
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut c)
            .unwrap();
        assert!(stats.contains("cmdstat_mset:calls=3,"), "{stats}");
        assert!(stats.contains("cmdstat_mget:calls=3,"), "{stats}");
    }
}

/// Many clients pipeline MSETs of one group of keys spread over the shards while others
/// pipeline MGETs of it: no MGET is ever torn, however the passes of different pipelines meet.
#[test]
fn pipelined_msets_across_shards_are_never_seen_torn() {
    race_on_group(
        "piped",
        8,
        |c, ks, w, i| {
            let mut p = redis::pipe();
            for j in 0..12 {
                p.cmd("MSET");
                for k in ks {
                    p.arg(k).arg(format!("{w}-{i}-{j}"));
                }
                // A one-key write in between (of another key: a pipeline is not atomic).
                p.cmd("SET").arg(format!("piped:other:{j}")).arg(w);
                p.cmd("MSET");
                for k in ks {
                    p.arg(k).arg(format!("{w}-{i}-{j}b"));
                }
            }
            let _: Vec<Value> = p.query(c).expect("writer pipeline");
        },
        |c, ks| {
            let mut p = redis::pipe();
            for _ in 0..12 {
                p.cmd("MGET").arg(ks);
            }
            let all: Vec<Vec<String>> = p.query(c).map_err(|e| e.to_string())?;
            all.iter().try_for_each(|vals| untorn(vals))
        },
    );
}

/// Random pipelines of multi-key and one-key commands on a few keys spread over the shards,
/// each sent in one write to shardis (`--shards 4`, so multi-shard commands run in locked passes
/// with the commands around them) and to redis-server 7.0: every reply equal, in order.
/// Skipped without `redis-server`.
#[test]
fn random_pipelines_reply_as_redis_does() {
    let installed = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed || is_redis() {
        eprintln!("skipped: needs redis-server beside shardis");
        return;
    }
    let ours = Server::start(4);
    let theirs = Server::start(REDIS_ORACLE);
    let (mut a, mut b) = (ours.raw(), theirs.raw());
    let ks = keys("pipe", 8);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: usize| {
        // xorshift64*: reproducible without a crate.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    };
    for round in 0..150 {
        let mut cmds: Vec<Vec<String>> = Vec::new();
        for _ in 0..24 {
            let n = 1 + next(4);
            let some: Vec<String> = (0..n).map(|_| ks[next(ks.len())].clone()).collect();
            let k = ks[next(ks.len())].clone();
            let v = next(20).to_string();
            let mut c: Vec<String> = match next(15) {
                0 | 1 => {
                    let mut c = vec!["MSET".to_string()];
                    for k in &some {
                        c.push(k.clone());
                        c.push(next(20).to_string());
                    }
                    c
                }
                2 | 3 => [vec!["MGET".to_string()], some].concat(),
                4 => [vec!["DEL".to_string()], some].concat(),
                5 => [vec!["UNLINK".to_string()], some].concat(),
                6 => [vec!["EXISTS".to_string()], some].concat(),
                7 => [vec!["TOUCH".to_string()], some].concat(),
                8 => vec!["SET".into(), k, v],
                9 => vec!["GET".into(), k],
                10 => vec!["INCR".into(), k],
                11 => vec!["LPUSH".into(), k, v],
                12 => vec!["APPEND".into(), k, v],
                13 => {
                    let mut c = vec!["MSETNX".to_string()];
                    for k in &some {
                        c.push(k.clone());
                        c.push(v.clone());
                    }
                    c
                }
                _ => vec!["RENAME".into(), k, ks[next(ks.len())].clone()],
            };
            if c[0] == "MSET" && next(10) == 0 {
                c.pop(); // a key without its value: the arity error
            }
            cmds.push(c);
        }
        let mut buf = Vec::new();
        for c in &cmds {
            let args: Vec<&[u8]> = c.iter().map(|s| s.as_bytes()).collect();
            buf.extend(encode_cmd(&args));
        }
        a.send(&buf);
        b.send(&buf);
        for c in &cmds {
            let (x, y) = (a.read_value(), b.read_value());
            assert_eq!(x, y, "round {round}, {c:?} in the pipeline {cmds:?}");
        }
    }
}

/// A pipeline whose locked pass holds a DEL of absent keys and writes of other keys on the
/// same shards: the DEL wrote nothing, so a client watching its keys still runs its EXEC, as
/// in Redis (WATCH is told per command part, not per shard that wrote).
#[test]
fn a_pass_touches_only_what_its_commands_wrote() {
    both(|s| {
        let mut c = s.conn();
        let watched = ["ps:absent1", "ps:absent2", "ps:absent3"];
        let mut w = vec!["WATCH"];
        w.extend(watched);
        assert_eq!(q(&mut c, &w), ok());
        let mut cmds: Vec<Vec<String>> = vec![["DEL"]
            .iter()
            .chain(watched.iter())
            .map(|a| a.to_string())
            .collect()];
        for i in 0..16 {
            cmds.push(vec!["SET".into(), format!("ps:other{i}"), "v".into()]);
        }
        let mut buf = Vec::new();
        for cmd in &cmds {
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            buf.extend(encode_cmd(&args));
        }
        let mut raw = s.raw();
        raw.send(&buf);
        assert_eq!(raw.read_value(), Resp::Int(0));
        for _ in 1..cmds.len() {
            assert_eq!(raw.read_value(), Resp::Simple("OK".into()));
        }
        assert_eq!(
            exec_reply(&mut c, &[&["PING"]]),
            arr(vec![status("PONG")]),
            "--shards {}: the DEL of absent keys failed the EXEC",
            s.shards()
        );
    });
}

#[test]
fn save_and_shutdown_are_refused_inside_multi() {
    both(|s| {
        let mut c = s.conn();
        for cmd in ["SAVE", "SHUTDOWN"] {
            q(&mut c, &["MULTI"]);
            assert_eq!(q(&mut c, &["SET", "foo", "bar"]), status("QUEUED"));
            assert_eq!(
                qerr(&mut c, &[cmd]),
                "ERR Command not allowed inside a transaction"
            );
            assert!(qerr(&mut c, &["EXEC"]).starts_with("EXECABORT"));
            assert_eq!(q(&mut c, &["GET", "foo"]), nil());
        }
    });
}
