//! Lua scripting: EVAL/EVALSHA/EVAL_RO, SCRIPT, FUNCTION/FCALL, conversions and errors as
//! Redis 7.0 has them, routing of scripts across shards, atomicity, and AOF replay.

mod common;

use common::*;
use redis::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

// "foo" (slot 12182) and "bar" (slot 5061) live on different shards of a 4-shard server.
const A: &str = "{foo}acct";
const B: &str = "{bar}acct";

fn eval(c: &mut redis::Connection, script: &str, keys: &[&str], args: &[&str]) -> Value {
    let mut a: Vec<String> = vec!["EVAL".into(), script.into(), keys.len().to_string()];
    a.extend(keys.iter().map(|s| s.to_string()));
    a.extend(args.iter().map(|s| s.to_string()));
    q(c, &a)
}

fn eval_err(c: &mut redis::Connection, script: &str, keys: &[&str]) -> String {
    let mut a: Vec<String> = vec!["EVAL".into(), script.into(), keys.len().to_string()];
    a.extend(keys.iter().map(|s| s.to_string()));
    qerr(c, &a)
}

#[test]
fn lua_to_redis_conversions() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(eval(&mut c, "return 42", &[], &[]), int(42));
        assert_eq!(eval(&mut c, "return 3.99", &[], &[]), int(3), "truncated");
        assert_eq!(eval(&mut c, "return -3.99", &[], &[]), int(-3));
        assert_eq!(eval(&mut c, "return 'x'", &[], &[]), bulk("x"));
        assert_eq!(eval(&mut c, "return true", &[], &[]), int(1));
        assert_eq!(eval(&mut c, "return false", &[], &[]), nil());
        assert_eq!(eval(&mut c, "return nil", &[], &[]), nil());
        assert_eq!(
            eval(&mut c, "return {1,'a',{2,false}}", &[], &[]),
            arr(vec![int(1), bulk("a"), arr(vec![int(2), nil()])])
        );
        assert_eq!(
            eval(&mut c, "return {1,2,nil,4}", &[], &[]),
            arr(vec![int(1), int(2)]),
            "a table stops at its first nil"
        );
        assert_eq!(eval(&mut c, "return {ok='fine'}", &[], &[]), status("fine"));
        assert_eq!(
            eval(&mut c, "return redis.status_reply('PONG')", &[], &[]),
            status("PONG")
        );
        assert_eq!(eval_err(&mut c, "return {err='My Error'}", &[]), "My Error");
        assert_eq!(
            eval_err(&mut c, "return redis.error_reply('My Error')", &[]),
            "My Error"
        );
        assert_eq!(
            eval(
                &mut c,
                "return {KEYS[1], ARGV[1], ARGV[2]}",
                &["k"],
                &["a", "b"]
            ),
            arr(vec![bulk("k"), bulk("a"), bulk("b")])
        );
        assert_eq!(
            eval(&mut c, "return redis.sha1hex('')", &[], &[]),
            bulk("da39a3ee5e6b4b0d3255bfef95601890afd80709")
        );
        assert_eq!(eval(&mut c, "return bit.band(7, 3)", &[], &[]), int(3));
        assert_eq!(
            eval(&mut c, "return bit.tohex(255, 2)", &[], &[]),
            bulk("ff")
        );
    });
}

#[test]
fn redis_to_lua_conversions() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["SET", "k", "5"]);
        q(&mut c, &["RPUSH", "l", "a", "b"]);
        let t = "local r = redis.call(ARGV[1], KEYS[1]) return {type(r), tostring(r)}";
        let typ = |c: &mut redis::Connection, cmd: &str, key: &str| -> Vec<String> {
            let v: Vec<String> = qt(c, &["EVAL", t, "1", key, cmd]);
            v
        };
        assert_eq!(typ(&mut c, "get", "k"), ["string", "5"]);
        assert_eq!(typ(&mut c, "incr", "k"), ["number", "6"]);
        assert_eq!(typ(&mut c, "get", "missing"), ["boolean", "false"]);
        assert_eq!(typ(&mut c, "llen", "l"), ["number", "2"]);
        // Arrays (LRANGE is pre-encoded on the server) and status replies.
        assert_eq!(
            eval(
                &mut c,
                "return redis.call('lrange', KEYS[1], 0, -1)",
                &["l"],
                &[]
            ),
            arr(vec![bulk("a"), bulk("b")])
        );
        assert_eq!(
            eval(
                &mut c,
                "local r = redis.call('set', KEYS[1], 'v') return r['ok']",
                &["k"],
                &[]
            ),
            bulk("OK")
        );
        // pcall hands the error over as a table.
        assert_eq!(
            eval(
                &mut c,
                "local r = redis.pcall('incr', KEYS[1]) return r['err']",
                &["l"],
                &[]
            ),
            bulk("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        // Numbers as arguments are sent as Lua prints them.
        assert_eq!(
            eval(
                &mut c,
                "redis.call('set', KEYS[1], 3.5) return redis.call('get', KEYS[1])",
                &["k"],
                &[]
            ),
            bulk("3.5")
        );
    });
}

#[test]
fn errors_as_redis_words_them() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["RPUSH", "l", "a"]);
        let e = eval_err(&mut c, "return redis.call('incr', KEYS[1])", &["l"]);
        assert!(
            e.starts_with(
                "WRONGTYPE Operation against a key holding the wrong kind of value script: f_"
            ) && e.ends_with(", on @user_script:1."),
            "{e}"
        );
        let e = eval_err(&mut c, "local a = 1\nerror('boom')", &[]);
        assert!(e.starts_with("ERR user_script:2: boom script: f_"), "{e}");
        assert!(e.ends_with("on @user_script:2."), "{e}");
        let e = eval_err(&mut c, "x = 5", &[]);
        assert!(
            e.starts_with("ERR user_script:1: Attempt to modify a readonly table"),
            "{e}"
        );
        let e = eval_err(&mut c, "redis.call = function() return 1 end", &[]);
        assert!(e.contains("Attempt to modify a readonly table"), "{e}");
        assert_eq!(
            eval(&mut c, "return redis.call('ping')", &[], &[]),
            status("PONG")
        );
        let e = eval_err(&mut c, "return os.time()", &[]);
        assert!(e.contains("nonexistent global variable 'os'"), "{e}");
        let e = eval_err(&mut c, "return loadfile('/etc/passwd')", &[]);
        assert!(e.contains("nonexistent global variable 'loadfile'"), "{e}");
        let e = eval_err(&mut c, "return redis.call('nosuch')", &[]);
        assert!(
            e.starts_with("ERR Unknown Redis command called from script"),
            "{e}"
        );
        let e = eval_err(&mut c, "return redis.call('get')", &[]);
        assert!(
            e.starts_with("ERR Wrong number of args calling Redis command from script"),
            "{e}"
        );
        let e = eval_err(&mut c, "return redis.call('eval', 'return 1', 0)", &[]);
        assert!(
            e.starts_with("ERR This Redis command is not allowed from script"),
            "{e}"
        );
        let e = eval_err(&mut c, "return redis.call('get', {})", &[]);
        assert!(
            e.starts_with("ERR Lua redis lib command arguments must be strings or integers"),
            "{e}"
        );
        let e = eval_err(&mut c, "return +", &[]);
        assert!(
            e.starts_with("ERR Error compiling script (new function): user_script:1:"),
            "{e}"
        );
        assert_eq!(
            qerr(&mut c, &["EVAL", "return 1", "2", "a"]),
            "ERR Number of keys can't be greater than number of args"
        );
        assert_eq!(
            qerr(&mut c, &["EVAL", "return 1", "-1"]),
            "ERR Number of keys can't be negative"
        );
        assert_eq!(
            qerr(&mut c, &["EVAL", "return 1", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            qerr(
                &mut c,
                &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"]
            ),
            "NOSCRIPT No matching script. Please use EVAL."
        );
        assert_eq!(
            qerr(&mut c, &["EVAL", "#!lua flags=bogus\nreturn 1", "0"]),
            "ERR Unexpected flag in script shebang: bogus"
        );
    });
}

#[test]
fn evalsha_works_from_every_connection() {
    both(|s| {
        let mut c = s.conn();
        let sha: String = qt(&mut c, &["SCRIPT", "LOAD", "return ARGV[1]"]);
        assert_eq!(
            sha,
            sha1_smol::Sha1::from("return ARGV[1]").digest().to_string()
        );
        // Connections are spread over the shards: each must find the script.
        for _ in 0..8 {
            let mut other = s.conn();
            assert_eq!(
                q(&mut other, &["EVALSHA", sha.as_str(), "0", "hi"]),
                bulk("hi")
            );
            assert_eq!(
                q(&mut other, &["SCRIPT", "EXISTS", sha.as_str(), "nope"]),
                arr(vec![int(1), int(0)])
            );
        }
        // A script first run with EVAL is cached everywhere too.
        eval(&mut c, "return 'e'", &[], &[]);
        let real = sha1_smol::Sha1::from("return 'e'").digest().to_string();
        for _ in 0..8 {
            let mut other = s.conn();
            assert_eq!(q(&mut other, &["EVALSHA", real.as_str(), "0"]), bulk("e"));
        }
        q(&mut c, &["SCRIPT", "FLUSH"]);
        for _ in 0..4 {
            let mut other = s.conn();
            assert_eq!(
                qerr(&mut other, &["EVALSHA", sha.as_str(), "0", "hi"]),
                "NOSCRIPT No matching script. Please use EVAL."
            );
        }
        assert_eq!(
            qerr(&mut c, &["SCRIPT", "KILL"]),
            "NOTBUSY No scripts in execution right now."
        );
    });
}

#[test]
fn read_only_scripts_refuse_writes() {
    both(|s| {
        let mut c = s.conn();
        let e = qerr(
            &mut c,
            &["EVAL_RO", "return redis.call('set', KEYS[1], 1)", "1", "k"],
        );
        assert!(
            e.starts_with("ERR Write commands are not allowed from read-only scripts."),
            "{e}"
        );
        let e = qerr(
            &mut c,
            &[
                "EVAL",
                "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 1)",
                "1",
                "k",
            ],
        );
        assert!(e.starts_with("ERR Write commands are not allowed"), "{e}");
        assert_eq!(
            qerr(&mut c, &["EVAL_RO", "#!lua\nreturn 1", "0"]),
            "ERR Can not execute a script with write flag using *_ro command."
        );
        q(&mut c, &["SET", "k", "v"]);
        assert_eq!(
            q(
                &mut c,
                &["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"]
            ),
            bulk("v")
        );
        let sha: String = qt(
            &mut c,
            &["SCRIPT", "LOAD", "return redis.call('get', KEYS[1])"],
        );
        assert_eq!(
            q(&mut c, &["EVALSHA_RO", sha.as_str(), "1", "k"]),
            bulk("v")
        );
    });
}

#[test]
fn undeclared_keys_on_other_shards_are_refused() {
    let s = Server::start(4);
    let mut c = s.conn();
    let e = eval_err(&mut c, &format!("return redis.call('get', '{B}')"), &[A]);
    assert!(
        e.starts_with("ERR Script attempted to access a non local key in a cluster node"),
        "{e}"
    );
    let e = eval_err(&mut c, "return redis.call('get', 'x')", &[]);
    assert!(e.contains("non local key"), "no keys declared: {e}");
    // A key of the same shard as the declared one is fine (Redis cluster allows it too).
    assert_eq!(
        eval(
            &mut c,
            "return redis.call('set', '{foo}other', 1)",
            &[A],
            &[]
        ),
        ok()
    );
    // Keyless commands without the whole keyspace are refused.
    let e = eval_err(&mut c, "return redis.call('dbsize')", &[A]);
    assert!(e.contains("allow-cross-slot-keys"), "{e}");
    // On one shard every key is local.
    let s1 = Server::start(1);
    let mut c1 = s1.conn();
    assert_eq!(
        eval(&mut c1, "return redis.call('set', 'x', 1)", &[], &[]),
        ok()
    );
    assert_eq!(
        eval(&mut c1, "return redis.call('dbsize')", &[], &[]),
        int(1)
    );
}

#[test]
fn cross_slot_flag_takes_every_shard() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["MSET", A, "1", B, "2"]);
        let script = format!(
            "#!lua flags=allow-cross-slot-keys\n\
             redis.call('incr', '{A}')\n\
             redis.call('incr', '{B}')\n\
             return {{redis.call('get', '{A}'), redis.call('get', '{B}'), redis.call('dbsize')}}"
        );
        assert_eq!(
            eval(&mut c, &script, &[], &[]),
            arr(vec![bulk("2"), bulk("3"), int(2)])
        );
    });
}

#[test]
fn scripts_across_shards_move_values_atomically() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["MSET", A, "1000", B, "1000"]);
        let transfer = "local v = tonumber(redis.call('get', KEYS[1]))\n\
                        local n = tonumber(ARGV[1])\n\
                        if v < n then return 0 end\n\
                        redis.call('decrby', KEYS[1], n)\n\
                        redis.call('incrby', KEYS[2], n)\n\
                        return 1";
        let sha: String = qt(&mut c, &["SCRIPT", "LOAD", transfer]);
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|i| {
                let stop = stop.clone();
                let mut r = s.conn();
                std::thread::spawn(move || {
                    let mut seen = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let vals: Vec<i64> = if i == 0 {
                            qt(&mut r, &["MGET", A, B])
                        } else {
                            qt(
                                &mut r,
                                &[
                                    "EVAL_RO",
                                    "return {tonumber(redis.call('get', KEYS[1])), tonumber(redis.call('get', KEYS[2]))}",
                                    "2",
                                    A,
                                    B,
                                ],
                            )
                        };
                        assert_eq!(vals.iter().sum::<i64>(), 2000, "torn read {vals:?}");
                        seen += 1;
                    }
                    seen
                })
            })
            .collect();
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let mut c = s.conn();
                let sha = sha.clone();
                std::thread::spawn(move || {
                    for i in 0..150 {
                        let (from, to) = if (i + w) % 2 == 0 { (A, B) } else { (B, A) };
                        let n = ((i * 7 + w) % 13).to_string();
                        let _: i64 = qt(
                            &mut c,
                            &["EVALSHA", sha.as_str(), "2", from, to, n.as_str()],
                        );
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().expect("reader") > 0);
        }
        let vals: Vec<i64> = qt(&mut c, &["MGET", A, B]);
        assert_eq!(vals.iter().sum::<i64>(), 2000);
    });
}

#[test]
fn functions_load_and_fcall() {
    both(|s| {
        let mut c = s.conn();
        let lib = "#!lua name=mylib\n\
                   redis.register_function('setit', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n\
                   redis.register_function{function_name='getit', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";
        assert_eq!(q(&mut c, &["FUNCTION", "LOAD", lib]), bulk("mylib"));
        assert_eq!(
            qerr(&mut c, &["FUNCTION", "LOAD", lib]),
            "ERR Library 'mylib' already exists"
        );
        assert_eq!(
            q(&mut c, &["FUNCTION", "LOAD", "REPLACE", lib]),
            bulk("mylib")
        );
        for (i, (k, v)) in [(A, "1"), (B, "2")].into_iter().enumerate() {
            let mut other = s.conn();
            assert_eq!(q(&mut other, &["FCALL", "setit", "1", k, v]), ok(), "{i}");
            assert_eq!(q(&mut other, &["FCALL_RO", "getit", "1", k]), bulk(v));
        }
        assert_eq!(
            qerr(&mut c, &["FCALL_RO", "setit", "1", A, "x"]),
            "ERR Can not execute a script with write flag using *_ro command."
        );
        assert_eq!(
            qerr(&mut c, &["FCALL", "nosuch", "0"]),
            "ERR Function not found"
        );
        assert_eq!(
            qerr(&mut c, &["FUNCTION", "LOAD", "return 1"]),
            "ERR Missing library metadata"
        );
        let listed = q(&mut c, &["FUNCTION", "LIST"]);
        assert!(format!("{listed:?}").contains("getit"), "{listed:?}");
        assert_eq!(q(&mut c, &["FUNCTION", "DELETE", "mylib"]), ok());
        assert_eq!(
            qerr(&mut c, &["FCALL", "getit", "1", A]),
            "ERR Function not found"
        );
        assert_eq!(
            qerr(&mut c, &["FUNCTION", "DELETE", "mylib"]),
            "ERR Library not found"
        );
    });
}

#[test]
fn library_metadata_is_read_as_redis_reads_it() {
    both(|s| {
        let mut c = s.conn();
        let body = "\nredis.register_function('foo', function() return 1 end)";
        let load = |c: &mut redis::Connection, head: &str| {
            cmd(&["FUNCTION", "LOAD", "REPLACE", &format!("{head}{body}")]).query::<Value>(c)
        };
        assert_eq!(
            load(&mut c, "#!lua name=\"quoted\"").ok(),
            Some(bulk("quoted"))
        );
        for (head, want) in [
            ("#! name=test", "ERR Engine '' not found"),
            ("#!js name=test", "ERR Engine 'js' not found"),
            (
                "#!lua name=foo name=bar",
                "ERR Invalid metadata value, name argument was given multiple times",
            ),
            (
                "#!lua name=test foo=bar",
                "ERR Invalid metadata value given: foo=bar",
            ),
            ("#!lua", "ERR Library name was not given"),
            ("#!lua name=\"unbalanced", "ERR Invalid library metadata"),
        ] {
            let e = load(&mut c, head).err().map(|e| error_line(&e));
            assert_eq!(e.as_deref(), Some(want), "{head}");
        }
        // A script's shebang is split the same way; the engine is named as written.
        assert_eq!(
            eval_err(&mut c, "#!js\nreturn 1", &[]),
            "ERR Unexpected engine in script shebang: #!js"
        );
        assert_eq!(
            eval(&mut c, "#!lua flags=\"no-writes\"\nreturn 1", &[], &[]),
            int(1)
        );
        q(&mut c, &["FUNCTION", "FLUSH"]);
    });
}

#[test]
fn sort_by_a_constant_in_a_script_comes_sorted() {
    both(|s| {
        let mut c = s.conn();
        let members = ["z", "b", "aa", "c", "azz", "a", "aaa", "m"];
        let mut add = vec!["SADD", "myset"];
        add.extend(members);
        q(&mut c, &add);
        let mut sorted: Vec<&str> = members.to_vec();
        sorted.sort_unstable();
        let want = arr(sorted.iter().map(bulk).collect());
        // A set's own order is not deterministic, so Redis sorts what a script gets (as it
        // does for STORE); lists keep their order.
        for script in [
            "return redis.call('sort', KEYS[1], 'by', 'nosort')",
            "return redis.call('sort_ro', KEYS[1], 'by', 'nosort')",
        ] {
            assert_eq!(eval(&mut c, script, &["myset"], &[]), want, "{script}");
        }
        q(&mut c, &["RPUSH", "mylist", "b", "a", "c"]);
        assert_eq!(
            eval(
                &mut c,
                "return redis.call('sort', KEYS[1], 'by', 'nosort')",
                &["mylist"],
                &[]
            ),
            arr(vec![bulk("b"), bulk("a"), bulk("c")])
        );
    });
}

#[test]
fn info_memory_counts_scripts_and_functions() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["SCRIPT", "FLUSH"]);
        q(&mut c, &["FUNCTION", "FLUSH"]);
        let info = |c: &mut redis::Connection, field: &str| -> String {
            let text: String = qt(c, &["INFO", "memory"]);
            parse_info(&text)
                .into_iter()
                .find(|(k, _)| k == field)
                .map(|(_, v)| v)
                .unwrap_or_default()
        };
        assert_eq!(info(&mut c, "number_of_cached_scripts"), "0");
        q(&mut c, &["SCRIPT", "LOAD", "return 1"]);
        q(&mut c, &["SCRIPT", "LOAD", "return 2"]);
        eval(&mut c, "return 3", &[], &[]);
        assert_eq!(info(&mut c, "number_of_cached_scripts"), "3");
        q(
            &mut c,
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=two
redis.register_function('f1', function() return 1 end)
redis.register_function('f2', function() return 2 end)",
            ],
        );
        assert_eq!(info(&mut c, "number_of_functions"), "2");
        assert_eq!(info(&mut c, "number_of_libraries"), "1");
        q(&mut c, &["SCRIPT", "FLUSH"]);
        q(&mut c, &["FUNCTION", "FLUSH"]);
        assert_eq!(info(&mut c, "number_of_cached_scripts"), "0");
        assert_eq!(info(&mut c, "number_of_functions"), "0");
    });
}

#[test]
fn replacing_a_library_again_and_again_leaves_no_lua_garbage() {
    // Redis's suite loads a library 10 000 times and wants `used_memory_lua` under 100 KB:
    // each load must not leave the old library and the compiler's garbage behind.
    both(|s| {
        let mut c = s.conn();
        let lib = "#!lua name=again
redis.register_function('again', function(keys, args) return redis.call('incr', keys[1]) end)";
        let lua_memory = |c: &mut redis::Connection| -> u64 {
            let text: String = qt(c, &["INFO", "memory"]);
            parse_info(&text)
                .into_iter()
                .find(|(k, _)| k == "used_memory_lua")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(u64::MAX)
        };
        q(&mut c, &["FUNCTION", "LOAD", "REPLACE", lib]);
        let first = lua_memory(&mut c);
        let mut p = redis::pipe();
        for _ in 0..300 {
            p.cmd("FUNCTION")
                .arg("LOAD")
                .arg("REPLACE")
                .arg(lib)
                .ignore();
        }
        p.query::<()>(&mut c).expect("pipeline");
        let after = lua_memory(&mut c);
        assert!(after <= first + 4096, "used_memory_lua {first} -> {after}");
        assert_eq!(q(&mut c, &["FCALL", "again", "1", "n"]), int(1));
        q(&mut c, &["FUNCTION", "FLUSH"]);
    });
}

#[test]
fn script_allow_cross_slot_keys_lets_every_script_use_any_key() {
    if skip_under_redis("script-allow-cross-slot-keys is a shardis directive") {
        return;
    }
    let s = Server::start_with(4, &["--script-allow-cross-slot-keys", "yes"]);
    let mut c = s.conn();
    q(&mut c, &["MSET", A, "1", B, "2"]);
    // Neither key declared, on two shards: the script takes every shard, as if flagged.
    let script = format!(
        "redis.call('incr', '{A}') redis.call('incr', '{B}')          return {{redis.call('get', '{A}'), redis.call('get', '{B}'), redis.call('dbsize')}}"
    );
    assert_eq!(
        eval(&mut c, &script, &[], &[]),
        arr(vec![bulk("2"), bulk("3"), int(2)])
    );
    q(
        &mut c,
        &["CONFIG", "SET", "script-allow-cross-slot-keys", "no"],
    );
    let e = eval_err(&mut c, &script, &[]);
    assert!(e.contains("non local key"), "{e}");
    assert_eq!(q(&mut c, &["MGET", A, B]), arr(vec![bulk("2"), bulk("3")]));
}

#[test]
fn script_effects_replay_from_the_aof() {
    if skip_under_redis("shardis restart") {
        return;
    }
    for shards in [1, 4] {
        let args = ["--appendonly", "yes"];
        let mut s = Server::start_with(shards, &args);
        {
            let mut c = s.conn();
            q(&mut c, &["MSET", A, "10", B, "10"]);
            // One shard: its commands logged between MULTI and EXEC.
            eval(
                &mut c,
                "redis.call('incrby', KEYS[1], 5) redis.call('set', KEYS[2], 'x') return 1",
                &[A, "{foo}side"],
                &[],
            );
            // Across shards: bracketed per shard.
            eval(
                &mut c,
                "redis.call('decrby', KEYS[1], 3) redis.call('incrby', KEYS[2], 3) return 1",
                &[A, B],
                &[],
            );
            // Effects, not the script: a random value is replayed as it was.
            eval(
                &mut c,
                "redis.call('set', KEYS[1], tostring(redis.call('time')[2])) return 1",
                &["{foo}t"],
                &[],
            );
        }
        let t: String = qt(&mut s.conn(), &["GET", "{foo}t"]);
        s.shutdown();
        let s = s.restart(shards, &args).expect("restart");
        let mut c = s.conn();
        let vals: Vec<String> = qt(&mut c, &["MGET", A, B, "{foo}side", "{foo}t"]);
        assert_eq!(vals, ["12", "13", "x", t.as_str()], "{shards} shards");
    }
}

#[test]
fn scripts_inside_multi_exec() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["MULTI"]);
        q(
            &mut c,
            &["EVAL", "return redis.call('incr', KEYS[1])", "1", A],
        );
        q(
            &mut c,
            &["EVAL", "return redis.call('incr', KEYS[1])", "2", A, B],
        );
        q(&mut c, &["SET", B, "7"]);
        let r = q(&mut c, &["EXEC"]);
        assert_eq!(r, arr(vec![int(1), int(2), ok()]));
        let done = wait_until(Duration::from_secs(10), || {
            qt::<String, _>(&mut c, &["GET", B]) == "7"
        });
        assert!(done);
    });
}

#[test]
fn script_kill_stops_a_long_read_only_script() {
    // Declared keys on two shards: the Lua runs on a helper thread, so every shard still
    // serves SCRIPT KILL (a one-shard script: see the test below).
    let s = Server::start_with(4, &["--busy-reply-threshold", "100"]);
    let mut c = s.conn();
    let runner = {
        let mut r = s.conn();
        std::thread::spawn(move || {
            cmd(&[
                "EVAL_RO",
                "local i = 0 while true do i = i + 1 end",
                "2",
                A,
                B,
            ])
            .query::<Value>(&mut r)
            .map_err(|e| error_line(&e))
        })
    };
    let killed = wait_until(Duration::from_secs(20), || {
        cmd(&["SCRIPT", "KILL"]).query::<Value>(&mut c).is_ok()
    });
    assert!(killed, "SCRIPT KILL never found the script");
    let e = runner.join().expect("runner").expect_err("killed");
    assert!(
        e.starts_with("ERR Script killed by user with SCRIPT KILL..."),
        "{e}"
    );
    assert_eq!(
        qerr(&mut c, &["SCRIPT", "KILL"]),
        "NOTBUSY No scripts in execution right now."
    );
    // A script that wrote can't be killed. It runs 3 to 4 s: under a loaded machine (the whole
    // suite at once) a 1-2 s run once ended before a SCRIPT KILL saw it.
    let runner = {
        let mut r = s.conn();
        std::thread::spawn(move || {
            cmd(&[
                "EVAL",
                "redis.call('set', KEYS[1], 1) local t = redis.call('time')[1] while tonumber(redis.call('time')[1]) < t + 4 do end return 1",
                "2",
                A,
                B,
            ])
            .query::<Value>(&mut r)
        })
    };
    let unkillable = wait_until(Duration::from_secs(20), || {
        matches!(
            cmd(&["SCRIPT", "KILL"]).query::<Value>(&mut c),
            Err(e) if error_line(&e).starts_with("UNKILLABLE")
        )
    });
    assert!(unkillable);
    assert_eq!(
        runner.join().expect("runner").expect("ran to its end"),
        int(1)
    );
}

/// Run `script` (EVAL, no keys) on a connection of its own, in a thread.
fn run_in_background(
    s: &Server,
    script: &'static str,
) -> std::thread::JoinHandle<Result<Value, String>> {
    let mut r = s.conn();
    std::thread::spawn(move || {
        cmd(&["EVAL", script, "0"])
            .query::<Value>(&mut r)
            .map_err(|e| {
                // A server shut down under it: Redis closes the connection without a reply.
                if e.is_io_error() {
                    format!("I/O: {e}")
                } else {
                    error_line(&e)
                }
            })
    })
}

#[test]
fn a_client_read_in_the_round_a_long_script_started_in_gets_busy() {
    // The network loop reads every ready client before running their commands once the
    // keyspace is big enough to prefetch (net/mod.rs `read_ahead`). A client read that way
    // while a script started in the same round runs long must still get BUSY, as in Redis.
    let s = Server::start_with(1, &["--busy-reply-threshold", "50"]);
    let mut c = s.conn();
    // Past the size from which lookups are prefetched (store/db.rs PREFETCH_MIN_KEYS).
    for chunk in 0..20 {
        let mut mset = vec!["MSET".to_string()];
        for i in 0..1000 {
            mset.push(format!("key:{chunk}:{i}"));
            mset.push("v".to_string());
        }
        assert_eq!(q(&mut c, &mset), ok());
    }
    let mut script = s.raw();
    let mut other = s.raw();
    // Both requests wait in the kernel while the server is stopped, so that its next poll
    // reports both sockets, the script's first.
    s.signal("-STOP");
    script.send_cmd(&[b"EVAL", b"local i = 0 while true do i = i + 1 end", b"0"]);
    std::thread::sleep(Duration::from_millis(100));
    other.send_cmd(&[b"GET", b"key:0:0"]);
    std::thread::sleep(Duration::from_millis(100));
    s.signal("-CONT");
    assert_eq!(
        other.read_reply_str(),
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN \
         NOSAVE.\r\n"
    );
    assert_eq!(q(&mut s.conn(), &["SCRIPT", "KILL"]), ok());
    let killed = script.read_reply_str();
    assert!(
        killed.starts_with("-ERR Script killed by user with SCRIPT KILL..."),
        "{killed}"
    );
    assert_eq!(q(&mut c, &["GET", "key:0:0"]), bulk("v"));
}

#[test]
fn a_long_script_holding_its_shard_answers_busy_and_can_be_killed() {
    // One shard: the script holds the only executor, as in Redis.
    let s = Server::start_with(1, &["--busy-reply-threshold", "50"]);
    let mut c = s.conn();
    let mut d = s.conn();
    // Before the threshold nothing is busy.
    assert_eq!(
        qerr(&mut c, &["SCRIPT", "KILL"]),
        "NOTBUSY No scripts in execution right now."
    );
    let runner = run_in_background(&s, "local i = 0 while true do i = i + 1 end");
    const BUSY: &str =
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
    let busy = wait_until(
        Duration::from_secs(20),
        || matches!(cmd(&["PING"]).query::<Value>(&mut c), Err(e) if error_line(&e) == BUSY),
    );
    assert!(busy, "no BUSY while the script ran");
    // Every other command is refused the same way; unknown commands and wrong arities keep
    // their own errors.
    assert_eq!(qerr(&mut d, &["SET", "k", "v"]), BUSY);
    assert_eq!(
        qerr(&mut d, &["NOSUCHCOMMAND"]),
        "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: "
    );
    assert_eq!(
        qerr(&mut d, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        qerr(&mut d, &["FUNCTION", "KILL"]),
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    assert_eq!(qerr(&mut d, &["SHUTDOWN"]), BUSY);
    // A transaction straddling the script is refused as a whole.
    assert_eq!(q(&mut d, &["MULTI"]), ok());
    assert_eq!(qerr(&mut d, &["INCR", "n"]), BUSY);
    assert_eq!(
        qerr(&mut d, &["EXEC"]),
        format!("EXECABORT Transaction discarded because of: {BUSY}")
    );
    // DISCARD, UNWATCH and QUIT are let through too.
    assert_eq!(q(&mut d, &["MULTI"]), ok());
    assert_eq!(q(&mut d, &["DISCARD"]), ok());
    assert_eq!(qerr(&mut d, &["DISCARD"]), "ERR DISCARD without MULTI");
    assert_eq!(q(&mut d, &["UNWATCH"]), ok());
    // AUTH, HELLO and RESET too: they need no keyspace.
    assert_eq!(
        qerr(&mut d, &["AUTH", "nosuchuser", "pw"]),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
    let hello: Value = cmd(&["HELLO", "2", "SETNAME", "busy-hello"])
        .query(&mut d)
        .expect("HELLO while busy");
    assert!(format!("{hello:?}").contains("standalone"), "{hello:?}");
    assert_eq!(q(&mut d, &["MULTI"]), ok());
    assert_eq!(q(&mut d, &["RESET"]), status("RESET"));
    assert_eq!(q(&mut d, &["MULTI"]), ok(), "RESET ended the transaction");
    assert_eq!(q(&mut d, &["DISCARD"]), ok());
    let mut leaving = s.conn();
    assert_eq!(q(&mut leaving, &["QUIT"]), ok());
    assert!(
        cmd(&["PING"]).query::<Value>(&mut leaving).is_err(),
        "QUIT closed the connection"
    );
    // SCRIPT KILL stops it, also from a connection made meanwhile; its client gets the
    // error, everyone else service again.
    let mut fresh = s.conn();
    assert_eq!(q(&mut fresh, &["SCRIPT", "KILL"]), ok());
    let e = runner.join().expect("runner").expect_err("killed");
    assert!(
        e.starts_with("ERR Script killed by user with SCRIPT KILL..."),
        "{e}"
    );
    assert_eq!(q(&mut c, &["PING"]), status("PONG"));
    assert_eq!(
        q(&mut d, &["GET", "k"]),
        Value::Nil,
        "the refused SET did not run"
    );
    assert_eq!(
        q(&mut d, &["GET", "n"]),
        Value::Nil,
        "the refused transaction did not run"
    );

    // A kill caught by pcall is raised again until it escapes.
    let runner = run_in_background(
        &s,
        "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end",
    );
    let killed = wait_until(Duration::from_secs(20), || {
        cmd(&["SCRIPT", "KILL"]).query::<Value>(&mut c).is_ok()
    });
    assert!(killed);
    let e = runner.join().expect("runner").expect_err("killed");
    assert!(e.contains("killed by user"), "{e}");

    // A function: FUNCTION STATS names it, SCRIPT KILL is refused, FUNCTION KILL stops it.
    q(
        &mut c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=busylib\nredis.register_function('spin', function() while true do end end)",
        ],
    );
    let runner = {
        let mut r = s.conn();
        std::thread::spawn(move || {
            cmd(&["FCALL", "spin", "0"])
                .query::<Value>(&mut r)
                .map_err(|e| error_line(&e))
        })
    };
    const BUSY_F: &str =
        "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
    let busy = wait_until(
        Duration::from_secs(20),
        || matches!(cmd(&["PING"]).query::<Value>(&mut c), Err(e) if error_line(&e) == BUSY_F),
    );
    assert!(busy);
    let stats = q(&mut d, &["FUNCTION", "STATS"]);
    let text = format!("{stats:?}");
    assert!(text.contains("spin") && text.contains("FCALL"), "{text}");
    assert_eq!(qerr(&mut d, &["SCRIPT", "KILL"]), BUSY_F);
    assert_eq!(q(&mut d, &["FUNCTION", "KILL"]), ok());
    let e = runner.join().expect("runner").expect_err("killed");
    assert!(e.contains("killed by user"), "{e}");
    q(&mut c, &["FUNCTION", "FLUSH"]);

    // A script that wrote cannot be killed; SHUTDOWN NOSAVE ends it and the server.
    let runner = run_in_background(&s, "redis.call('set', 'w', 1) while true do end");
    let unkillable = wait_until(Duration::from_secs(20), || {
        matches!(
            cmd(&["SCRIPT", "KILL"]).query::<Value>(&mut c),
            Err(e) if error_line(&e).starts_with("UNKILLABLE")
        )
    });
    assert!(unkillable);
    assert!(matches!(
        cmd(&["PING"]).query::<Value>(&mut d),
        Err(e) if error_line(&e) == BUSY
    ));
    let _ = cmd(&["SHUTDOWN", "NOSAVE"]).query::<Value>(&mut d);
    assert!(runner.join().expect("runner").is_err());
    let mut s = s;
    if !is_redis() {
        assert!(
            s.wait_exit(Duration::from_secs(10)).is_some(),
            "SHUTDOWN NOSAVE did not stop the server"
        );
    }
}

#[test]
fn allow_oom_scripts_write_past_maxmemory() {
    // One shard: how several shards split a limit this far below their own overhead is
    // tests/maxmemory.rs's business.
    {
        let s = &Server::start(1);
        let mut c = s.conn();
        q(
            &mut c,
            &[
                "FUNCTION",
                "LOAD",
                "REPLACE",
                "#!lua name=oomlib\nredis.register_function{function_name='setit', callback=function(keys) return redis.call('set', keys[1], '1') end, flags={'allow-oom'}}\nredis.register_function('setit_plain', function(keys) return redis.call('set', keys[1], '1') end)",
            ],
        );
        q(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
        // Shards see the new limit at their next look at memory (see README, maxmemory).
        let full = wait_until(Duration::from_secs(10), || {
            cmd(&["SET", "{x}probe", "1"])
                .query::<Value>(&mut c)
                .is_err()
        });
        assert!(full, "SET never refused at maxmemory 1");
        assert_eq!(q(&mut c, &["FCALL", "setit", "1", "{x}a"]), ok());
        let e = qerr(&mut c, &["FCALL", "setit_plain", "1", "{x}b"]);
        assert!(e.starts_with("OOM command not allowed"), "{e}");
        let shebang = "#!lua flags=allow-oom\nreturn redis.call('set', KEYS[1], '1')";
        assert_eq!(q(&mut c, &["EVAL", shebang, "1", "{x}c"]), ok());
        // With a shebang, a script that may write is refused whole, whatever it would do;
        // without one, or flagged no-writes, it runs.
        let e = qerr(&mut c, &["EVAL", "#!lua\nreturn 1", "0"]);
        assert!(e.starts_with("OOM command not allowed"), "{e}");
        let e = qerr(&mut c, &["FCALL", "setit_plain", "1", "{x}b"]);
        assert!(e.starts_with("OOM command not allowed"), "{e}");
        assert_eq!(q(&mut c, &["EVAL", "return 1", "0"]), int(1));
        assert_eq!(
            q(&mut c, &["EVAL", "#!lua flags=no-writes\nreturn 1", "0"]),
            int(1)
        );
        q(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
        assert_eq!(q(&mut c, &["GET", "{x}a"]), bulk("1"));
        assert_eq!(q(&mut c, &["EXISTS", "{x}b"]), int(0));
        assert_eq!(q(&mut c, &["GET", "{x}c"]), bulk("1"));
        q(&mut c, &["FUNCTION", "FLUSH"]);
    }
}

/// `calls`, `rejected_calls` and `failed_calls` of one command in INFO commandstats.
fn cmdstat(c: &mut redis::Connection, name: &str) -> (i64, i64, i64) {
    let text = info(c, "commandstats");
    let Some(v) = info_field(&text, &format!("cmdstat_{name}")) else {
        return (0, 0, 0);
    };
    let f = fields(&v);
    let field = |k: &str| f.get(k).and_then(|n| n.parse().ok()).unwrap_or(-1);
    (
        field("calls"),
        field("rejected_calls"),
        field("failed_calls"),
    )
}

/// (total_error_replies, the count of errors with `code`) after `f`, from zeroed statistics.
fn errors_after(
    c: &mut redis::Connection,
    code: &str,
    f: impl FnOnce(&mut redis::Connection),
) -> (i64, i64) {
    q(c, &["CONFIG", "RESETSTAT"]);
    f(c);
    let total = info_field(&info(c, "stats"), "total_error_replies")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    let n = info_field(&info(c, "errorstats"), &format!("errorstat_{code}"))
        .and_then(|v| v.strip_prefix("count=")?.parse().ok())
        .unwrap_or(0);
    (total, n)
}

#[test]
fn an_error_a_script_passes_on_is_counted_once() {
    both(|s| {
        let mut c = s.conn();
        // Raised by redis.call: the command failed, the script failed, one error reply.
        let r = errors_after(&mut c, "ERR", |c| {
            let e = eval_err(c, "return redis.call('select', 99)", &[]);
            assert!(e.starts_with("ERR DB index is out of range"), "{e}");
        });
        assert_eq!(r, (1, 1));
        assert_eq!(cmdstat(&mut c, "select"), (1, 0, 1));
        assert_eq!(cmdstat(&mut c, "eval"), (1, 0, 1));
        // Caught by pcall: the script succeeded.
        let r = errors_after(&mut c, "ERR", |c| {
            let ok = "local t = redis.pcall('select', 99) if t['err'] == 'ERR DB index is out of range' then return 1 end return 0";
            assert_eq!(eval(c, ok, &[], &[]), int(1));
        });
        assert_eq!(r, (1, 1));
        assert_eq!(cmdstat(&mut c, "select"), (1, 0, 1));
        assert_eq!(cmdstat(&mut c, "eval"), (1, 0, 0));
        // The error table returned as the script's reply.
        let r = errors_after(&mut c, "ERR", |c| {
            eval_err(c, "return redis.pcall('select', 99)", &[]);
        });
        assert_eq!(r, (1, 1));
        assert_eq!(cmdstat(&mut c, "eval"), (1, 0, 1));
        // A keyed command's error, on the key's shard.
        q(&mut c, &["SET", "{x}str", "1"]);
        let r = errors_after(&mut c, "WRONGTYPE", |c| {
            let e = eval_err(c, "return redis.call('lpush', KEYS[1], 'a')", &["{x}str"]);
            assert!(e.starts_with("WRONGTYPE"), "{e}");
        });
        assert_eq!(r, (1, 1));
        assert_eq!(cmdstat(&mut c, "lpush"), (1, 0, 1));
        assert_eq!(cmdstat(&mut c, "eval"), (1, 0, 1));
        // Refused before it ran: a rejected call of the command.
        let r = errors_after(&mut c, "ERR", |c| {
            let mut a = vec![
                "EVAL_RO",
                "return redis.call('set', KEYS[1], 'y')",
                "1",
                "{x}k",
            ];
            let e = qerr(c, &a);
            assert!(
                e.starts_with("ERR Write commands are not allowed from read-only scripts"),
                "{e}"
            );
            a[1] = "local t = redis.pcall('set', KEYS[1], 'y') return t['err']";
            assert_eq!(
                q(c, &a),
                bulk("ERR Write commands are not allowed from read-only scripts.")
            );
        });
        assert_eq!(r, (2, 2));
        assert_eq!(cmdstat(&mut c, "set"), (0, 2, 0));
        assert_eq!(cmdstat(&mut c, "eval_ro"), (2, 0, 1));
        // An error the script makes itself is counted with its reply.
        let r = errors_after(&mut c, "MY_ERR_CODE", |c| {
            eval_err(c, "return redis.error_reply('MY_ERR_CODE custom msg')", &[]);
        });
        assert_eq!(r, (1, 1));
        let r = errors_after(&mut c, "ERR", |c| {
            let e = eval_err(c, "error('boom')", &[]);
            assert!(e.contains("boom"), "{e}");
        });
        assert_eq!(r, (1, 1));
        // A key the script did not declare, on a sharded server, is refused the same way.
        if s.shards() > 1 && !is_redis() {
            let r = errors_after(&mut c, "ERR", |c| {
                let e = eval_err(c, "return redis.call('get', 'undeclared')", &[]);
                assert!(e.contains("non local key"), "{e}");
            });
            assert_eq!(r, (1, 1));
            assert_eq!(cmdstat(&mut c, "get"), (0, 1, 0));
        }
    });
}
