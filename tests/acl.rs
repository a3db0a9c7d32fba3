//! Authentication and ACLs through a real client: users and their rules, the permission
//! matrix (commands, categories, subcommands, key patterns on keys of every shard), ACL LOG,
//! the ACL file, `user` and `rename-command` directives, requirepass and protected mode.

mod common;

use common::*;
use redis::Value;
use std::io::{Read, Write};
use std::time::Duration;

fn auth(con: &mut redis::Connection, user: &str, pass: &str) {
    assert_eq!(q(con, &["AUTH", user, pass]), ok());
}

fn strings(v: Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                Value::SimpleString(s) => s,
                other => panic!("not a string: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

const NOPERM_KEY: &str =
    "NOPERM this user has no permissions to access one of the keys used as arguments";

fn noperm_cmd(c: &str) -> String {
    format!("NOPERM this user has no permissions to run the '{c}' command")
}

#[test]
fn default_user_and_acl_list() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(
            strings(q(&mut c, &["ACL", "LIST"])),
            vec!["user default on nopass ~* &* +@all"]
        );
        assert_eq!(qt::<String, _>(&mut c, &["ACL", "WHOAMI"]), "default");
        assert_eq!(
            qt::<Vec<String>, _>(&mut c, &["ACL", "USERS"]),
            vec!["default"]
        );
    });
}

#[test]
fn setuser_describes_rules_as_redis() {
    both(|s| {
        let mut c = s.conn();
        q(
            &mut c,
            &[
                "ACL",
                "SETUSER",
                "alice",
                "on",
                ">pw",
                "~k*",
                "%R~r*",
                "&ch*",
                "+get",
                "+@hash",
                "-hset",
                "+config|get",
            ],
        );
        let list = strings(q(&mut c, &["ACL", "LIST"]));
        // Redis lists single commands in its hash table's order, which varies between runs.
        let (head, singles) = list[0].split_at(list[0].find(" +@hash ").unwrap() + 8);
        assert_eq!(
            head,
            "user alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 \
             ~k* %R~r* resetchannels &ch* -@all +@hash "
        );
        let mut singles: Vec<&str> = singles.split(' ').collect();
        singles.sort_unstable();
        assert_eq!(singles, ["+config|get", "+get", "-hset"]);
        let info: Vec<Value> = qt(&mut c, &["ACL", "GETUSER", "alice"]);
        let text: Vec<String> = info
            .iter()
            .map(|v| match v {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                Value::Array(a) => format!("{} items", a.len()),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(text[0], "flags");
        assert!(text[5].starts_with("-@all +@hash "), "{}", text[5]);
        assert_eq!(text[7], "~k* %R~r*");
        assert_eq!(text[9], "&ch*");
        assert_eq!(q(&mut c, &["ACL", "GETUSER", "nobody"]), nil());
        // Errors name the rule and change nothing.
        assert_eq!(
            qerr(&mut c, &["ACL", "SETUSER", "alice", "-get", "bogus"]),
            "ERR Error in ACL SETUSER modifier 'bogus': Syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["ACL", "SETUSER", "alice", "+nosuch"]),
            "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
        );
        assert_eq!(
            qerr(&mut c, &["ACL", "SETUSER", "bad name"]),
            "ERR Usernames can't contain spaces or null characters"
        );
        assert_eq!(
            strings(q(&mut c, &["ACL", "LIST"]))[0],
            list[0],
            "a failed SETUSER must leave the user as it was"
        );
        assert_eq!(
            qerr(&mut c, &["ACL", "DELUSER", "default"]),
            "ERR The 'default' user cannot be removed"
        );
        assert_eq!(q(&mut c, &["ACL", "DELUSER", "alice", "nobody"]), int(1));
    });
}

#[test]
fn auth_and_hello_auth() {
    both(|s| {
        let mut c = s.conn();
        q(
            &mut c,
            &["ACL", "SETUSER", "bob", "on", ">secret", "+@all", "~*"],
        );
        q(
            &mut c,
            &["ACL", "SETUSER", "off-user", "off", ">x", "+@all"],
        );
        let wrong = "WRONGPASS invalid username-password pair or user is disabled.";
        assert_eq!(qerr(&mut c, &["AUTH", "bob", "nope"]), wrong);
        assert_eq!(qerr(&mut c, &["AUTH", "off-user", "x"]), wrong);
        assert_eq!(qerr(&mut c, &["AUTH", "ghost", "x"]), wrong);
        assert_eq!(
            qerr(&mut c, &["AUTH", "justone"]),
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?"
        );
        auth(&mut c, "bob", "secret");
        assert_eq!(qt::<String, _>(&mut c, &["ACL", "WHOAMI"]), "bob");

        let mut raw = s.raw();
        let r = raw.roundtrip(&[b"HELLO", b"3", b"AUTH", b"bob", b"secret"]);
        assert!(r.starts_with(b"%7\r\n"), "{}", String::from_utf8_lossy(&r));
        assert_eq!(raw.roundtrip(&[b"ACL", b"WHOAMI"]), b"$3\r\nbob\r\n");
        let r = raw.roundtrip(&[b"HELLO", b"2", b"AUTH", b"bob", b"bad"]);
        assert_eq!(r, format!("-{wrong}\r\n").as_bytes());
        // RESET goes back to the default user.
        assert_eq!(raw.roundtrip(&[b"RESET"]), b"+RESET\r\n");
        assert_eq!(raw.roundtrip(&[b"ACL", b"WHOAMI"]), b"$7\r\ndefault\r\n");
    });
}

#[test]
fn requirepass_is_the_default_users_password() {
    both(|s| {
        let mut admin = s.conn();
        q(&mut admin, &["CONFIG", "SET", "requirepass", "hunter2"]);
        let mut c = s.conn();
        assert_eq!(
            qerr(&mut c, &["GET", "x"]),
            "NOAUTH Authentication required."
        );
        assert_eq!(
            qerr(&mut c, &["AUTH", "wrong"]),
            "WRONGPASS invalid username-password pair or user is disabled."
        );
        auth(&mut c, "default", "hunter2");
        assert_eq!(q(&mut c, &["GET", "x"]), nil());
        let line = strings(q(&mut c, &["ACL", "LIST"]))[0].clone();
        assert!(
            line.starts_with("user default on #") && line.ends_with(" ~* &* +@all"),
            "{line}"
        );
        // Unauthenticated clients are held to small requests, as in Redis.
        let mut raw = s.raw();
        raw.send(b"*100\r\n");
        assert_eq!(
            raw.read_reply_str(),
            "-ERR Protocol error: unauthenticated multibulk length\r\n"
        );
        let mut raw = s.raw();
        raw.send(b"*1\r\n$100000\r\n");
        assert_eq!(
            raw.read_reply_str(),
            "-ERR Protocol error: unauthenticated bulk length\r\n"
        );
        q(&mut c, &["CONFIG", "SET", "requirepass", ""]);
        let mut fresh = s.conn();
        assert_eq!(q(&mut fresh, &["PING"]), status("PONG"));
    });
}

/// Command, category, subcommand and first-argument rules, and key patterns checked on keys
/// that live on every shard.
#[test]
fn permission_matrix() {
    both(|s| {
        let mut admin = s.conn();
        q(
            &mut admin,
            &[
                "ACL",
                "SETUSER",
                "u",
                "on",
                "nopass",
                "~k:*",
                "%R~ro:*",
                "%W~wo:*",
                "+@string",
                "-append",
                "+@hash",
                "-hset",
                "+client|id",
                "+select|0",
                "+copy",
                "+del",
            ],
        );
        let mut c = s.conn();
        auth(&mut c, "u", "x");
        // Keys on every shard (spread_keys hashes them to many slots).
        for k in spread_keys("k", 16) {
            assert_eq!(q(&mut c, &["SET", &k, "v"]), ok());
            assert_eq!(q(&mut c, &["GET", &k]), bulk("v"));
        }
        for k in spread_keys("other", 16) {
            assert_eq!(qerr(&mut c, &["GET", &k]), NOPERM_KEY);
        }
        // One allowed and one forbidden key, on different shards, in one command.
        assert_eq!(qerr(&mut c, &["MGET", "k:1", "other:1"]), NOPERM_KEY);
        assert_eq!(
            qerr(&mut c, &["MSET", "k:1", "a", "nope:2", "b"]),
            NOPERM_KEY
        );
        // %R~ reads only, %W~ writes only.
        assert_eq!(q(&mut c, &["GET", "ro:1"]), nil());
        assert_eq!(qerr(&mut c, &["SET", "ro:1", "v"]), NOPERM_KEY);
        assert_eq!(q(&mut c, &["SET", "wo:1", "v"]), ok());
        assert_eq!(qerr(&mut c, &["GET", "wo:1"]), NOPERM_KEY);
        // COPY reads its source and writes its destination.
        assert_eq!(q(&mut c, &["COPY", "ro:1", "wo:2"]), int(0));
        assert_eq!(qerr(&mut c, &["COPY", "wo:1", "ro:2"]), NOPERM_KEY);
        // Categories and single commands.
        assert_eq!(qerr(&mut c, &["APPEND", "k:1", "x"]), noperm_cmd("append"));
        assert_eq!(q(&mut c, &["HGET", "k:h", "f"]), nil());
        assert_eq!(qerr(&mut c, &["HSET", "k:h", "f", "v"]), noperm_cmd("hset"));
        assert_eq!(qerr(&mut c, &["LPUSH", "k:l", "x"]), noperm_cmd("lpush"));
        // Subcommands and first arguments.
        assert!(matches!(q(&mut c, &["CLIENT", "ID"]), Value::Int(_)));
        assert_eq!(qerr(&mut c, &["CLIENT", "LIST"]), noperm_cmd("client|list"));
        assert_eq!(q(&mut c, &["SELECT", "0"]), ok());
        assert_eq!(qerr(&mut c, &["SELECT", "1"]), noperm_cmd("select"));
        // AUTH, HELLO and friends need no permission.
        assert_eq!(qerr(&mut c, &["AUTH", "u", "x", "y"]), "ERR syntax error");
        // ACL DRYRUN tells the same without running anything.
        assert_eq!(q(&mut admin, &["ACL", "DRYRUN", "u", "GET", "k:1"]), ok());
        assert_eq!(
            q(&mut admin, &["ACL", "DRYRUN", "u", "GET", "zz"]),
            bulk("This user has no permissions to access the 'zz' key")
        );
        assert_eq!(
            q(&mut admin, &["ACL", "DRYRUN", "u", "LPUSH", "k:1", "x"]),
            bulk("This user has no permissions to run the 'lpush' command")
        );
        assert_eq!(
            qerr(&mut admin, &["ACL", "DRYRUN", "ghost", "GET", "k"]),
            "ERR User 'ghost' not found"
        );
    });
}

/// An ACL change is visible to the next command on every shard once SETUSER replied.
#[test]
fn setuser_is_visible_everywhere_at_once() {
    both(|s| {
        let mut admin = s.conn();
        q(
            &mut admin,
            &["ACL", "SETUSER", "v", "on", "nopass", "~*", "+get"],
        );
        // Enough connections that some land on every shard (they spread by the kernel).
        let mut conns: Vec<redis::Connection> = (0..12).map(|_| s.conn()).collect();
        for c in conns.iter_mut() {
            auth(c, "v", "x");
            assert_eq!(q(c, &["GET", "k"]), nil());
        }
        for round in 0..3 {
            q(&mut admin, &["ACL", "SETUSER", "v", "-get"]);
            for c in conns.iter_mut() {
                assert_eq!(qerr(c, &["GET", "k"]), noperm_cmd("get"), "round {round}");
            }
            q(&mut admin, &["ACL", "SETUSER", "v", "+get"]);
            for c in conns.iter_mut() {
                assert_eq!(q(c, &["GET", "k"]), nil(), "round {round}");
            }
        }
        // Deleting the user disconnects its clients.
        q(&mut admin, &["ACL", "DELUSER", "v"]);
        for c in conns.iter_mut() {
            assert!(cmd(&["GET", "k"]).query::<Value>(c).is_err());
        }
    });
}

#[test]
fn categories_and_cat() {
    both(|s| {
        let mut c = s.conn();
        let cats = strings(q(&mut c, &["ACL", "CAT"]));
        assert_eq!(cats.len(), 21);
        assert_eq!(cats[0], "keyspace");
        let hash = strings(q(&mut c, &["ACL", "CAT", "hash"]));
        assert!(hash.contains(&"hset".to_string()) && !hash.contains(&"get".to_string()));
        let admin = strings(q(&mut c, &["ACL", "CAT", "admin"]));
        assert!(admin.contains(&"config|set".to_string()));
        assert_eq!(
            qerr(&mut c, &["ACL", "CAT", "nosuch"]),
            "ERR Unknown category 'nosuch'"
        );
        q(
            &mut c,
            &["ACL", "SETUSER", "r", "on", "nopass", "allkeys", "+@read"],
        );
        let mut r = s.conn();
        auth(&mut r, "r", "x");
        assert_eq!(q(&mut r, &["GET", "a"]), nil());
        assert_eq!(q(&mut r, &["ZRANGE", "z", "0", "-1"]), arr(vec![]));
        assert_eq!(qerr(&mut r, &["SET", "a", "1"]), noperm_cmd("set"));
        assert_eq!(qerr(&mut r, &["FLUSHALL"]), noperm_cmd("flushall"));
        let p = qt::<String, _>(&mut c, &["ACL", "GENPASS"]);
        assert_eq!(p.len(), 64);
        assert!(p.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(qt::<String, _>(&mut c, &["ACL", "GENPASS", "5"]).len(), 2);
    });
}

fn log_field(entry: &Value, name: &str) -> Value {
    let Value::Array(items) = entry else {
        panic!("entry is not an array: {entry:?}")
    };
    for pair in items.chunks(2) {
        if pair[0] == bulk(name) {
            return pair[1].clone();
        }
    }
    panic!("no {name} in {entry:?}")
}

#[test]
fn acl_log_records_denials() {
    both(|s| {
        let mut admin = s.conn();
        q(
            &mut admin,
            &["ACL", "SETUSER", "l", "on", ">p", "~ok:*", "+get"],
        );
        let mut c = s.conn();
        auth(&mut c, "l", "p");
        // Denials on connections of every shard all reach the one log.
        for k in spread_keys("bad", 8) {
            qerr(&mut c, &["GET", &k]);
        }
        for _ in 0..3 {
            qerr(&mut c, &["SET", "ok:1", "v"]);
        }
        let mut other = s.conn();
        qerr(&mut other, &["AUTH", "l", "wrong"]);
        let log = match q(&mut admin, &["ACL", "LOG"]) {
            Value::Array(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(log.len(), 10, "8 keys, 1 command (3 times), 1 auth");
        let newest = &log[0];
        assert_eq!(log_field(newest, "reason"), bulk("auth"));
        assert_eq!(log_field(newest, "object"), bulk("AUTH"));
        assert_eq!(log_field(newest, "username"), bulk("l"));
        assert_eq!(log_field(&log[1], "reason"), bulk("command"));
        assert_eq!(log_field(&log[1], "object"), bulk("set"));
        assert_eq!(log_field(&log[1], "count"), int(3));
        assert_eq!(log_field(&log[1], "context"), bulk("toplevel"));
        assert_eq!(log_field(&log[2], "reason"), bulk("key"));
        assert_eq!(log_field(&log[2], "object"), bulk("bad:7"));
        let Value::BulkString(info) = log_field(&log[1], "client-info") else {
            panic!()
        };
        assert!(String::from_utf8_lossy(&info).contains(" user=l "));
        match q(&mut admin, &["ACL", "LOG", "2"]) {
            Value::Array(v) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(q(&mut admin, &["ACL", "LOG", "RESET"]), ok());
        assert_eq!(q(&mut admin, &["ACL", "LOG"]), arr(vec![]));
    });
}

#[test]
fn aclfile_round_trip() {
    if skip_under_redis("the ACL file lives in the server's dir") {
        return;
    }
    for shards in [1, 4] {
        let dir =
            std::env::temp_dir().join(format!("shardis-aclfile-{}-{shards}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("users.acl");
        std::fs::write(&file, "user alice on >pw ~a:* +get\n").unwrap();
        let path = file.to_str().unwrap();
        let s = Server::start_with(shards, &["--aclfile", path]);
        let mut c = s.conn();
        assert_eq!(
            qt::<Vec<String>, _>(&mut c, &["ACL", "USERS"]),
            vec!["alice", "default"]
        );
        q(
            &mut c,
            &["ACL", "SETUSER", "bob", "on", ">b", "~b:*", "+@set"],
        );
        assert_eq!(q(&mut c, &["ACL", "SAVE"]), ok());
        let saved = std::fs::read_to_string(&file).unwrap();
        assert!(saved.contains("user bob on #"), "{saved}");
        assert!(
            saved.contains("user default on nopass ~* &* +@all"),
            "{saved}"
        );
        // LOAD replaces the users and disconnects every client, as in Redis.
        q(&mut c, &["ACL", "SETUSER", "carol", "on"]);
        std::fs::write(&file, saved.replace("~b:*", "~bb:*")).unwrap();
        assert_eq!(q(&mut c, &["ACL", "LOAD"]), ok());
        assert!(cmd(&["PING"]).query::<Value>(&mut c).is_err());
        let mut c = s.conn();
        assert_eq!(
            qt::<Vec<String>, _>(&mut c, &["ACL", "USERS"]),
            vec!["alice", "bob", "default"]
        );
        auth(&mut c, "bob", "b");
        assert_eq!(q(&mut c, &["SADD", "bb:1", "x"]), int(1));
        assert_eq!(qerr(&mut c, &["SADD", "b:1", "x"]), NOPERM_KEY);
        // A bad file changes nothing and says where it is wrong.
        std::fs::write(&file, "user alice on +nosuch\nfoo\n").unwrap();
        let mut admin = s.conn();
        let e = qerr(&mut admin, &["ACL", "LOAD"]);
        assert!(
            e.contains(":1: Error in applying operation '+nosuch'"),
            "{e}"
        );
        assert!(e.contains(":2 should start with user keyword"), "{e}");
        assert_eq!(
            qt::<Vec<String>, _>(&mut admin, &["ACL", "USERS"]),
            vec!["alice", "bob", "default"]
        );
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn users_and_renames_in_the_config() {
    if skip_under_redis("rename-command is a config-file directive") {
        return;
    }
    for shards in [1, 4] {
        let s = Server::start_with(
            shards,
            &[
                "--user",
                "ann",
                "on",
                ">pw",
                "~*",
                "+@all",
                "-flushall",
                "--rename-command",
                "flushall",
                "",
                "--rename-command",
                "dbsize",
                "keycount",
            ],
        );
        let mut c = s.conn();
        assert!(qerr(&mut c, &["FLUSHALL"]).starts_with("ERR unknown command 'FLUSHALL'"));
        assert!(qerr(&mut c, &["DBSIZE"]).starts_with("ERR unknown command 'DBSIZE'"));
        q(&mut c, &["SET", "a", "1"]);
        assert_eq!(q(&mut c, &["KEYCOUNT"]), int(1));
        auth(&mut c, "ann", "pw");
        assert_eq!(q(&mut c, &["GET", "a"]), bulk("1"));
    }
    // A bad user line stops the start with Redis's message.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardis"))
        .args(["--port", "0", "--user", "x", "+nosuch"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("Error in user declaration 'x'") && text.contains("+nosuch"),
        "{text}"
    );
}

/// Redis counts only 127.0.0.1 and ::1 as local, so a client from 127.0.0.2 is refused while
/// the default user has no password.
#[test]
fn protected_mode_refuses_non_local_clients() {
    if skip_under_redis("needs a second loopback bind") {
        return;
    }
    let connect_from = |port: u16| -> std::net::TcpStream {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        sock.bind(
            &"127.0.0.2:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .expect("bind 127.0.0.2");
        sock.connect(
            &format!("127.0.0.2:{port}")
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .expect("connect");
        let s: std::net::TcpStream = sock.into();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    let talk = |mut s: std::net::TcpStream| -> String {
        s.write_all(b"PING\r\n").unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.ends_with(b"\r\n") {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    for shards in [1, 4] {
        let s = Server::start_with(shards, &["--bind", "127.0.0.1", "127.0.0.2"]);
        let reply = talk(connect_from(s.port()));
        assert!(
            reply.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user."),
            "{reply}"
        );
        assert!(reply.ends_with("to start accepting connections from the outside.\r\n"));
        let mut c = s.conn();
        let info: String = qt(&mut c, &["INFO", "stats"]);
        assert_eq!(
            info_field(&info, "rejected_connections").as_deref(),
            Some("1")
        );
        // A password on the default user lifts it (the client must then AUTH).
        q(&mut c, &["CONFIG", "SET", "requirepass", "pw"]);
        assert_eq!(
            talk(connect_from(s.port())),
            "-NOAUTH Authentication required.\r\n"
        );
        q(&mut c, &["AUTH", "pw"]);
        q(&mut c, &["CONFIG", "SET", "requirepass", ""]);
        q(&mut c, &["CONFIG", "SET", "protected-mode", "no"]);
        assert_eq!(talk(connect_from(s.port())), "+PONG\r\n");
    }
}

/// Selectors add permission sets; key permissions follow what each command does with each key
/// (Redis's key specs), checked on keys of every shard.
#[test]
fn selectors_and_key_flags() {
    both(|s| {
        let mut admin = s.conn();
        q(
            &mut admin,
            &[
                "ACL",
                "SETUSER",
                "sel",
                "on",
                "nopass",
                "-@all",
                "(+@write",
                "~w:*)",
                "(+@read ~r:*)",
            ],
        );
        let line = strings(q(&mut admin, &["ACL", "LIST"]))
            .into_iter()
            .find(|l| l.starts_with("user sel "))
            .unwrap();
        assert!(
            line.ends_with("(~w:* resetchannels -@all +@write) (~r:* resetchannels -@all +@read)"),
            "{line}"
        );
        let mut c = s.conn();
        auth(&mut c, "sel", "x");
        for k in spread_keys("w", 8) {
            assert_eq!(q(&mut c, &["SET", &k, "1"]), ok());
            assert_eq!(qerr(&mut c, &["GET", &k]), NOPERM_KEY);
        }
        for k in spread_keys("r", 8) {
            assert_eq!(q(&mut c, &["GET", &k]), nil());
            assert_eq!(qerr(&mut c, &["SET", &k, "1"]), NOPERM_KEY);
        }
        assert_eq!(qerr(&mut c, &["PING"]), noperm_cmd("ping"));
        assert_eq!(
            qerr(&mut admin, &["ACL", "SETUSER", "sel", "(+get"]),
            "ERR Unmatched parenthesis in acl selector starting at '(+get'."
        );
        assert_eq!(
            q(&mut admin, &["ACL", "SETUSER", "sel", "clearselectors"]),
            ok()
        );
        assert_eq!(qerr(&mut c, &["SET", "w:1", "1"]), noperm_cmd("set"));

        // SET needs read access only with GET; BITFIELD write access only to change bits.
        q(
            &mut admin,
            &[
                "ACL", "SETUSER", "wo", "on", "nopass", "+@all", "%W~w:*", "%R~r:*",
            ],
        );
        let mut w = s.conn();
        auth(&mut w, "wo", "x");
        assert_eq!(q(&mut w, &["SET", "w:a", "v"]), ok());
        assert_eq!(qerr(&mut w, &["SET", "w:a", "v", "GET"]), NOPERM_KEY);
        assert_eq!(q(&mut w, &["LPUSH", "w:l", "1"]), int(1));
        assert_eq!(
            q(&mut w, &["BITFIELD", "r:b", "GET", "u4", "0"]),
            arr(vec![int(0)])
        );
        assert_eq!(
            qerr(&mut w, &["BITFIELD", "r:b", "SET", "u4", "0", "1"]),
            NOPERM_KEY
        );
        // A store reads its sources and writes its destination, across shards.
        q(&mut admin, &["SADD", "r:s1", "a", "b"]);
        q(&mut admin, &["SADD", "r:s2", "b"]);
        assert_eq!(q(&mut w, &["SINTERSTORE", "w:dst", "r:s1", "r:s2"]), int(1));
        assert_eq!(
            qerr(&mut w, &["SINTERSTORE", "r:dst", "r:s1", "r:s2"]),
            NOPERM_KEY
        );
        // Existence checks need either permission.
        assert_eq!(q(&mut w, &["EXISTS", "w:a", "r:s1"]), int(2));
        assert_eq!(qerr(&mut w, &["EXISTS", "other"]), NOPERM_KEY);
        // SORT's BY and GET patterns need read access to every key.
        assert_eq!(
            qerr(&mut w, &["SORT", "r:s1", "BY", "r:*", "ALPHA"]),
            "ERR BY option of SORT denied due to insufficient ACL permissions."
        );
        assert_eq!(
            qerr(&mut w, &["SORT", "r:s1", "ALPHA", "GET", "#"]),
            "ERR GET option of SORT denied due to insufficient ACL permissions."
        );
        q(&mut admin, &["ACL", "SETUSER", "wo", "(+sort %R~*)"]);
        assert_eq!(
            qt::<Vec<String>, _>(&mut w, &["SORT", "r:s1", "ALPHA", "GET", "#"]),
            vec!["a", "b"]
        );
    });
}

#[test]
fn client_kill_by_user_and_client_list_user() {
    both(|s| {
        let mut admin = s.conn();
        q(
            &mut admin,
            &["ACL", "SETUSER", "k", "on", "nopass", "+@all", "~*"],
        );
        let mut conns: Vec<redis::Connection> = (0..4).map(|_| s.conn()).collect();
        for c in conns.iter_mut() {
            auth(c, "k", "x");
        }
        let list: String = qt(&mut admin, &["CLIENT", "LIST"]);
        assert_eq!(list.matches(" user=k ").count(), 4, "{list}");
        assert_eq!(
            qerr(&mut admin, &["CLIENT", "KILL", "USER", "ghost"]),
            "ERR No such user 'ghost'"
        );
        assert_eq!(q(&mut admin, &["CLIENT", "KILL", "USER", "k"]), int(4));
        for c in conns.iter_mut() {
            assert!(cmd(&["PING"]).query::<Value>(c).is_err());
        }
        assert_eq!(q(&mut admin, &["PING"]), status("PONG"));
    });
}

/// A pipelined flood of denied commands is answered and logged as one grouped entry.
#[test]
fn denial_flood_is_grouped() {
    both(|s| {
        let mut admin = s.conn();
        q(
            &mut admin,
            &["ACL", "SETUSER", "f", "on", "nopass", "~*", "+get"],
        );
        let mut raw = s.raw();
        assert_eq!(raw.roundtrip(&[b"AUTH", b"f", b"x"]), b"+OK\r\n");
        let n = 20_000;
        let mut flood = Vec::new();
        for _ in 0..n {
            flood.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        }
        raw.send(&flood);
        let expect = format!("-{}\r\n", noperm_cmd("set"));
        for _ in 0..n {
            assert_eq!(raw.read_reply_str(), expect);
        }
        let log = match q(&mut admin, &["ACL", "LOG"]) {
            Value::Array(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(log.len(), 1);
        assert_eq!(log_field(&log[0], "count"), int(n));
    });
}

#[test]
fn channel_permissions_guard_publish_and_subscribe() {
    both(|s| {
        let mut admin = s.conn();
        q(
            &mut admin,
            &[
                "ACL",
                "SETUSER",
                "ch",
                "on",
                ">p",
                "resetchannels",
                "&news.*",
                "+@all",
                "~*",
            ],
        );
        let mut c = s.conn();
        auth(&mut c, "ch", "p");
        let denied =
            "NOPERM this user has no permissions to access one of the channels used as arguments";
        assert_eq!(q(&mut c, &["PUBLISH", "news.1", "x"]), int(0));
        assert_eq!(qerr(&mut c, &["PUBLISH", "sports", "x"]), denied);
        assert_eq!(qerr(&mut c, &["SPUBLISH", "sports", "x"]), denied);
        // A pattern must equal an allowed one; a channel must match one.
        assert_eq!(qerr(&mut c, &["PSUBSCRIBE", "n*"]), denied);
        assert_eq!(qerr(&mut c, &["SUBSCRIBE", "news.1", "sports"]), denied);
        let log = match q(&mut admin, &["ACL", "LOG", "1"]) {
            Value::Array(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(log_field(&log[0], "reason"), bulk("channel"));
        assert_eq!(log_field(&log[0], "object"), bulk("sports"));
        // Allowed subscriptions go through (the connection then is in subscribed mode).
        let mut sub = s.conn();
        auth(&mut sub, "ch", "p");
        let mut ps = sub.as_pubsub();
        ps.psubscribe("news.*").expect("allowed pattern");
        ps.subscribe("news.2").expect("allowed channel");
    });
}

/// ACL LOG's context inside a transaction, and EXEC's second check of the queued commands (the
/// rules may change between MULTI and EXEC), as Redis 7.0.
#[test]
fn transactions_are_checked_again_at_exec_and_logged_as_multi() {
    both(|s| {
        let mut admin = s.conn();
        q(
            &mut admin,
            &[
                "ACL", "SETUSER", "tx", "on", ">p", "~*", "+multi", "+exec", "+incr",
            ],
        );
        let mut c = s.conn();
        auth(&mut c, "tx", "p");
        // Refused while queueing: context multi, the EXEC aborts.
        q(&mut admin, &["ACL", "LOG", "RESET"]);
        assert_eq!(q(&mut c, &["MULTI"]), ok());
        assert!(qerr(&mut c, &["SET", "k", "v"]).starts_with("NOPERM"));
        assert!(qerr(&mut c, &["EXEC"]).starts_with("EXECABORT"));
        let log = match q(&mut admin, &["ACL", "LOG"]) {
            Value::Array(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(log_field(&log[0], "context"), bulk("multi"));
        assert_eq!(log_field(&log[0], "object"), bulk("set"));
        // Allowed when queued, taken away before EXEC: that command's reply is the error.
        let mut raw = s.raw();
        assert_eq!(raw.roundtrip(&[b"AUTH", b"tx", b"p"]), b"+OK\r\n");
        assert_eq!(raw.roundtrip(&[b"MULTI"]), b"+OK\r\n");
        assert_eq!(raw.roundtrip(&[b"INCR", b"n"]), b"+QUEUED\r\n");
        q(&mut admin, &["ACL", "SETUSER", "tx", "-incr"]);
        assert_eq!(
            String::from_utf8_lossy(&raw.roundtrip(&[b"EXEC"])),
            "*1\r\n-NOPERM ACLs rules changed between the moment the transaction was \
             accumulated and the EXEC call. This command is no longer allowed for the \
             following reason: no permission to execute the command or subcommand\r\n"
        );
        assert_eq!(q(&mut admin, &["EXISTS", "n"]), int(0));
        let log = match q(&mut admin, &["ACL", "LOG"]) {
            Value::Array(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(log_field(&log[0], "context"), bulk("multi"));
        assert_eq!(log_field(&log[0], "object"), bulk("incr"));
        // Outside a transaction the context is toplevel.
        assert!(qerr(&mut c, &["INCR", "n"]).starts_with("NOPERM"));
        let log = match q(&mut admin, &["ACL", "LOG"]) {
            Value::Array(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(log_field(&log[0], "context"), bulk("toplevel"));
    });
}
