//! Server and connection management commands, plus smoke tests with the
//! stock Redis tools (redis-cli, redis-benchmark).

mod common;

use common::*;
use redis::Value;
use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after epoch")
        .as_secs() as i64
}

fn info_int(c: &mut redis::Connection, section: &str, field: &str) -> i64 {
    let text = info(c, section);
    info_field(&text, field)
        .unwrap_or_else(|| panic!("INFO {section} lacks {field}:\n{text}"))
        .parse()
        .unwrap_or_else(|e| panic!("INFO field {field} is not an integer: {e}"))
}

/// Parses one CLIENT LIST / CLIENT INFO line into its fields.
fn client_fields(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn client_id(c: &mut redis::Connection) -> i64 {
    qt(c, &["CLIENT", "ID"])
}

#[test]
fn ping_echo_time_lastsave_dbsize() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["PING"]), status("PONG"));
        assert_eq!(q(&mut c, &["PING", "hello world"]), bulk("hello world"));
        assert_eq!(
            qerr(&mut c, &["PING", "a", "b"]),
            "ERR wrong number of arguments for 'ping' command"
        );
        assert_eq!(q(&mut c, &["ECHO", "a\r\nb"]), bulk("a\r\nb"));
        assert_eq!(q(&mut c, &["ECHO", ""]), bulk(""));
        assert_eq!(
            qerr(&mut c, &["ECHO"]),
            "ERR wrong number of arguments for 'echo' command"
        );
        let (secs, micros): (String, String) = qt(&mut c, &["TIME"]);
        let secs: i64 = secs.parse().expect("TIME seconds");
        let micros: i64 = micros.parse().expect("TIME microseconds");
        assert!(
            (secs - now_secs()).abs() <= 5,
            "TIME {secs} vs clock {}",
            now_secs()
        );
        assert!((0..1_000_000).contains(&micros), "micros {micros}");
        match q(&mut c, &["TIME"]) {
            Value::Array(items) => {
                assert!(
                    items.iter().all(|v| matches!(v, Value::BulkString(_))),
                    "{items:?}"
                )
            }
            other => panic!("TIME must be an array of two bulk strings: {other:?}"),
        }
        let lastsave = q(&mut c, &["LASTSAVE"]);
        let Value::Int(lastsave) = lastsave else {
            panic!("LASTSAVE must be an integer: {lastsave:?}")
        };
        assert!(
            lastsave > 0 && lastsave <= now_secs() + 1,
            "lastsave {lastsave}"
        );
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
        assert_eq!(q(&mut c, &["MSET", "a", "1", "b", "2"]), ok());
        assert_eq!(q(&mut c, &["DBSIZE"]), int(2));
    });
}

#[test]
fn info_sections_and_fields() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "k", "v"]), ok());
        assert_eq!(q(&mut c, &["SET", "t", "v", "EX", "100"]), ok());
        let all: String = qt(&mut c, &["INFO"]);
        for header in [
            "# Server",
            "# Clients",
            "# Memory",
            "# Persistence",
            "# Stats",
            "# Replication",
            "# CPU",
            "# Keyspace",
        ] {
            assert!(
                all.lines().any(|l| l == header),
                "INFO lacks section {header}:\n{all}"
            );
        }
        assert!(all.contains("\r\n"), "INFO lines end with CRLF");
        for field in [
            "redis_version",
            "redis_mode",
            "os",
            "arch_bits",
            "process_id",
            "run_id",
            "tcp_port",
            "uptime_in_seconds",
            "uptime_in_days",
            "hz",
            "connected_clients",
            "maxclients",
            "blocked_clients",
            "used_memory",
            "used_memory_human",
            "used_memory_rss",
            "used_memory_peak",
            "maxmemory",
            "maxmemory_policy",
            "mem_fragmentation_ratio",
            "loading",
            "rdb_changes_since_last_save",
            "rdb_bgsave_in_progress",
            "rdb_last_save_time",
            "aof_enabled",
            "total_connections_received",
            "total_commands_processed",
            "instantaneous_ops_per_sec",
            "total_net_input_bytes",
            "total_net_output_bytes",
            "rejected_connections",
            "expired_keys",
            "evicted_keys",
            "keyspace_hits",
            "keyspace_misses",
            "total_error_replies",
            "role",
            "connected_slaves",
            "master_replid",
            "master_repl_offset",
            "used_cpu_sys",
            "used_cpu_user",
        ] {
            assert!(
                info_field(&all, field).is_some(),
                "INFO lacks field {field}:\n{all}"
            );
        }
        assert_eq!(
            info_field(&all, "tcp_port").as_deref(),
            Some(s.port().to_string().as_str())
        );
        assert_eq!(info_field(&all, "role").as_deref(), Some("master"));
        assert_eq!(
            info_field(&all, "redis_mode").as_deref(),
            Some("standalone")
        );
        assert_eq!(
            info_field(&all, "maxmemory_policy").as_deref(),
            Some("noeviction")
        );
        let used: i64 = info_field(&all, "used_memory")
            .expect("used_memory")
            .parse()
            .expect("used_memory integer");
        assert!(used > 0);
        let ver = info_field(&all, "redis_version").expect("redis_version");
        assert!(ver.split('.').count() == 3, "redis_version {ver}");
        let keyspace = info_field(&all, "db0").expect("db0 line");
        assert!(
            keyspace.starts_with("keys=2,expires=1,avg_ttl="),
            "db0:{keyspace}"
        );
        // Sections on request, case-insensitive, several at once.
        let server = info(&mut c, "server");
        assert!(server.starts_with("# Server\r\n"), "{server}");
        assert!(!server.contains("# Clients"));
        let two: String = qt(&mut c, &["INFO", "CLIENTS", "memory"]);
        assert!(
            two.contains("# Clients") && two.contains("# Memory"),
            "{two}"
        );
        assert!(!two.contains("# Server"));
        assert_eq!(info(&mut c, "nosuchsection"), "");
        // Commandstats only on request.
        assert!(!all.contains("# Commandstats"));
        assert_eq!(q(&mut c, &["GET", "k"]), bulk("v"));
        let stats = info(&mut c, "commandstats");
        assert!(stats.starts_with("# Commandstats\r\n"), "{stats}");
        let get_line = info_field(&stats, "cmdstat_get").expect("cmdstat_get");
        assert!(
            get_line.starts_with("calls=1,usec="),
            "cmdstat_get:{get_line}"
        );
        assert!(get_line.contains(",usec_per_call="));
        assert!(
            get_line.ends_with(",rejected_calls=0,failed_calls=0"),
            "{get_line}"
        );
        let everything = info(&mut c, "everything");
        assert!(everything.contains("# Commandstats"));
        assert!(everything.contains("# Keyspace"));
        // Empty databases are not listed; others are.
        assert_eq!(q(&mut c, &["SELECT", "7"]), ok());
        assert_eq!(q(&mut c, &["SET", "x", "1"]), ok());
        let ks = info(&mut c, "keyspace");
        assert_eq!(
            ks.lines().filter(|l| l.starts_with("db")).count(),
            2,
            "{ks}"
        );
        assert!(ks.contains("db7:keys=1,expires=0,avg_ttl=0"), "{ks}");
        assert!(!ks.contains("db1:"));
    });
}

#[test]
fn info_stats_counters() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "k", "v"]), ok());
        assert_eq!(q(&mut c, &["CONFIG", "RESETSTAT"]), ok());
        assert_eq!(info_int(&mut c, "stats", "keyspace_hits"), 0);
        assert_eq!(info_int(&mut c, "stats", "keyspace_misses"), 0);
        for _ in 0..3 {
            assert_eq!(q(&mut c, &["GET", "k"]), bulk("v"));
        }
        assert_eq!(q(&mut c, &["GET", "nope"]), nil());
        assert_eq!(
            q(&mut c, &["MGET", "k", "nope2"]),
            arr(vec![bulk("v"), nil()])
        );
        assert_eq!(info_int(&mut c, "stats", "keyspace_hits"), 4);
        assert_eq!(info_int(&mut c, "stats", "keyspace_misses"), 2);
        let before = info_int(&mut c, "stats", "total_commands_processed");
        for _ in 0..10 {
            assert_eq!(q(&mut c, &["PING"]), status("PONG"));
        }
        let after = info_int(&mut c, "stats", "total_commands_processed");
        // 10 PINGs plus the INFO that read `before`.
        assert_eq!(after - before, 11);
        let alone = wait_until(Duration::from_secs(3), || {
            info_int(&mut c, "clients", "connected_clients") == 1
        });
        assert!(alone, "connected_clients never settled at 1");
        let clients = 1;
        let mut others: Vec<redis::Connection> = (0..3).map(|_| s.conn()).collect();
        for o in &mut others {
            assert_eq!(q(o, &["PING"]), status("PONG"));
        }
        assert_eq!(
            info_int(&mut c, "clients", "connected_clients"),
            clients + 3
        );
        drop(others);
        let back = wait_until(Duration::from_secs(3), || {
            info_int(&mut c, "clients", "connected_clients") == clients
        });
        assert!(back, "connected_clients did not drop back to {clients}");
        let received = info_int(&mut c, "stats", "total_connections_received");
        let _extra = s.conn();
        assert_eq!(
            info_int(&mut c, "stats", "total_connections_received"),
            received + 1
        );
        // Error replies are counted.
        let errors = info_int(&mut c, "stats", "total_error_replies");
        let _ = qerr(&mut c, &["INCR", "k"]);
        assert_eq!(info_int(&mut c, "stats", "total_error_replies"), errors + 1);
        // RESETSTAT clears command statistics.
        assert_eq!(q(&mut c, &["CONFIG", "RESETSTAT"]), ok());
        let stats = info(&mut c, "commandstats");
        assert!(!stats.contains("cmdstat_get:"), "{stats}");
        assert_eq!(info_int(&mut c, "stats", "keyspace_hits"), 0);
    });
}

#[test]
fn client_id_setname_getname() {
    both(|s| {
        let mut c = s.conn();
        let mut d = s.conn();
        let a = client_id(&mut c);
        let b = client_id(&mut d);
        assert!(a > 0 && b > a, "client ids {a} {b} must increase");
        assert_eq!(client_id(&mut c), a);
        assert_eq!(q(&mut c, &["CLIENT", "GETNAME"]), nil());
        assert_eq!(q(&mut c, &["CLIENT", "SETNAME", "worker-1"]), ok());
        assert_eq!(q(&mut c, &["CLIENT", "GETNAME"]), bulk("worker-1"));
        assert_eq!(q(&mut d, &["CLIENT", "GETNAME"]), nil());
        for bad in ["a b", "a\nb", "tab\there"] {
            assert_eq!(
                qerr(&mut c, &["CLIENT", "SETNAME", bad]),
                "ERR Client names cannot contain spaces, newlines or special characters."
            );
        }
        assert_eq!(q(&mut c, &["CLIENT", "GETNAME"]), bulk("worker-1"));
        assert_eq!(q(&mut c, &["CLIENT", "SETNAME", ""]), ok());
        assert_eq!(q(&mut c, &["CLIENT", "GETNAME"]), nil());
        assert_eq!(
            qerr(&mut c, &["CLIENT", "FOO"]),
            "ERR unknown subcommand 'FOO'. Try CLIENT HELP."
        );
        assert_eq!(
            qerr(&mut c, &["CLIENT", "SETNAME"]),
            "ERR wrong number of arguments for 'client|setname' command"
        );
        let help: Vec<String> = qt(&mut c, &["CLIENT", "HELP"]);
        assert!(help.len() > 5, "{help:?}");
    });
}

#[test]
fn client_list_and_info() {
    both(|s| {
        let mut r = s.raw();
        let local = r.stream.local_addr().expect("local addr").to_string();
        r.send(b"CLIENT SETNAME lister\r\nSELECT 3\r\nCLIENT ID\r\n");
        assert_eq!(r.read_reply(), b"+OK\r\n");
        assert_eq!(r.read_reply(), b"+OK\r\n");
        let id_reply = r.read_reply_str();
        let id: i64 = id_reply
            .trim_start_matches(':')
            .trim_end()
            .parse()
            .expect("client id");
        let mut c = s.conn();
        // Exactly our two connections (the harness's readiness probe may
        // take a moment to be reaped).
        let mut list = String::new();
        let two = wait_until(Duration::from_secs(3), || {
            list = qt(&mut c, &["CLIENT", "LIST"]);
            list.lines().count() == 2
        });
        assert!(two, "expected two clients in CLIENT LIST:\n{list}");
        assert!(list.ends_with('\n'), "CLIENT LIST lines end with \\n");
        let lines: Vec<&str> = list.lines().collect();
        let mine = lines
            .iter()
            .map(|l| client_fields(l))
            .find(|f| f.get("id").map(String::as_str) == Some(&id.to_string()))
            .unwrap_or_else(|| panic!("client {id} not in CLIENT LIST:\n{list}"));
        for field in [
            "id",
            "addr",
            "laddr",
            "fd",
            "name",
            "age",
            "idle",
            "flags",
            "db",
            "sub",
            "psub",
            "multi",
            "qbuf",
            "qbuf-free",
            "obl",
            "oll",
            "omem",
            "tot-mem",
            "events",
            "cmd",
            "user",
            "resp",
        ] {
            assert!(
                mine.contains_key(field),
                "CLIENT LIST lacks {field}: {mine:?}"
            );
        }
        assert_eq!(mine["addr"], local);
        assert_eq!(mine["laddr"], s.addr());
        assert_eq!(mine["name"], "lister");
        assert_eq!(mine["db"], "3");
        assert_eq!(mine["flags"], "N");
        assert_eq!(mine["cmd"], "client|id");
        assert_eq!(mine["user"], "default");
        assert_eq!(mine["resp"], "2");
        assert_eq!(mine["multi"], "-1");
        // Filters.
        let only: String = qt(&mut c, &["CLIENT", "LIST", "ID", &id.to_string()]);
        assert_eq!(only.lines().count(), 1);
        assert!(
            only.starts_with(&format!("id={id} addr={local} ")),
            "{only}"
        );
        let none: String = qt(&mut c, &["CLIENT", "LIST", "ID", "999999"]);
        assert_eq!(none, "");
        let normal: String = qt(&mut c, &["CLIENT", "LIST", "TYPE", "normal"]);
        assert_eq!(normal.lines().count(), 2);
        assert_eq!(
            qerr(&mut c, &["CLIENT", "LIST", "TYPE", "foo"]),
            "ERR Unknown client type 'foo'"
        );
        // CLIENT INFO describes the calling connection.
        r.send(b"CLIENT INFO\r\n");
        let reply = r.read_value();
        let Resp::Bulk(line) = reply else {
            panic!("CLIENT INFO must be a bulk string: {reply:?}")
        };
        let line = String::from_utf8(line).expect("utf8");
        assert!(line.ends_with('\n'));
        let f = client_fields(&line);
        assert_eq!(f["id"], id.to_string());
        assert_eq!(f["cmd"], "client|info");
        assert_eq!(f["name"], "lister");
    });
}

#[test]
fn client_kill() {
    both(|s| {
        let mut c = s.conn();
        let my_id = client_id(&mut c);
        // By id.
        let mut victim = s.raw();
        victim.send(b"CLIENT ID\r\n");
        let vid = victim.read_reply_str();
        let vid = vid.trim_start_matches(':').trim_end().to_string();
        assert_eq!(q(&mut c, &["CLIENT", "KILL", "ID", &vid]), int(1));
        victim.expect_closed();
        assert_eq!(q(&mut c, &["CLIENT", "KILL", "ID", &vid]), int(0));
        assert_eq!(q(&mut c, &["CLIENT", "KILL", "ID", "999999"]), int(0));
        // SKIPME defaults to yes.
        assert_eq!(
            q(&mut c, &["CLIENT", "KILL", "ID", &my_id.to_string()]),
            int(0)
        );
        assert_eq!(q(&mut c, &["PING"]), status("PONG"));
        // By address, new style.
        let mut victim = s.raw();
        victim.send(b"PING\r\n");
        assert_eq!(victim.read_reply(), b"+PONG\r\n");
        let addr = victim.stream.local_addr().expect("victim addr").to_string();
        assert_eq!(q(&mut c, &["CLIENT", "KILL", "ADDR", &addr]), int(1));
        victim.expect_closed();
        assert_eq!(q(&mut c, &["CLIENT", "KILL", "ADDR", &addr]), int(0));
        // By address, old style.
        let mut victim = s.raw();
        victim.send(b"PING\r\n");
        assert_eq!(victim.read_reply(), b"+PONG\r\n");
        let addr = victim.stream.local_addr().expect("victim addr").to_string();
        assert_eq!(q(&mut c, &["CLIENT", "KILL", &addr]), ok());
        victim.expect_closed();
        assert_eq!(
            qerr(&mut c, &["CLIENT", "KILL", &addr]),
            "ERR No such client"
        );
        // Killing yourself with SKIPME no.
        let mut selfkill = s.raw();
        selfkill.send(b"CLIENT ID\r\n");
        let sid = selfkill.read_reply_str();
        let sid = sid.trim_start_matches(':').trim_end().to_string();
        selfkill.send_cmd(&[b"CLIENT", b"KILL", b"ID", sid.as_bytes(), b"SKIPME", b"no"]);
        // The reply may or may not make it out before the close.
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut selfkill.stream, &mut buf);
        assert!(buf.is_empty() || buf == b":1\r\n", "got {buf:?}");
        // Errors.
        assert_eq!(
            qerr(&mut c, &["CLIENT", "KILL", "ID", "abc"]),
            "ERR client-id should be greater than 0"
        );
        assert_eq!(
            qerr(&mut c, &["CLIENT", "KILL", "ID", "1", "FOO", "x"]),
            "ERR syntax error"
        );
        assert_eq!(q(&mut c, &["PING"]), status("PONG"));
    });
}

#[test]
fn client_no_evict_and_reply() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["CLIENT", "NO-EVICT", "on"]), ok());
        assert_eq!(q(&mut c, &["CLIENT", "NO-EVICT", "OFF"]), ok());
        assert_eq!(
            qerr(&mut c, &["CLIENT", "NO-EVICT", "maybe"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["CLIENT", "REPLY", "foo"]),
            "ERR syntax error"
        );
        let mut r = s.raw();
        // OFF: nothing at all until ON, which replies OK.
        r.send(b"CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nFOO\r\nCLIENT REPLY ON\r\nGET a\r\n");
        assert_eq!(r.read_reply(), b"+OK\r\n");
        assert_eq!(r.read_reply(), b"$1\r\n1\r\n");
        // SKIP: no reply for the next command only.
        r.send(b"CLIENT REPLY SKIP\r\nINCR a\r\nINCR a\r\n");
        assert_eq!(r.read_reply(), b":3\r\n");
        // The skipped command still ran.
        assert_eq!(q(&mut c, &["GET", "a"]), bulk("3"));
        r.send(b"CLIENT REPLY ON\r\n");
        assert_eq!(r.read_reply(), b"+OK\r\n");
    });
}

#[test]
fn config_get_set() {
    both(|s| {
        let mut c = s.conn();
        let got: HashMap<String, String> = qt(&mut c, &["CONFIG", "GET", "maxmemory*"]);
        let keys: HashSet<&str> = got.keys().map(String::as_str).collect();
        for k in ["maxmemory", "maxmemory-policy", "maxmemory-samples"] {
            assert!(keys.contains(k), "CONFIG GET maxmemory* lacks {k}: {got:?}");
        }
        assert!(keys.iter().all(|k| k.starts_with("maxmemory")), "{got:?}");
        assert_eq!(got["maxmemory"], "0");
        assert_eq!(got["maxmemory-policy"], "noeviction");
        assert_eq!(got["maxmemory-samples"], "5");
        assert_eq!(q(&mut c, &["CONFIG", "GET", "nosuchparam"]), arr(vec![]));
        // Several patterns, exact names, case-insensitive.
        let got: HashMap<String, String> = qt(&mut c, &["CONFIG", "GET", "hz", "maxmemory"]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got["hz"], "10");
        // An exact name is matched case-insensitively and echoed as given.
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "HZ"]),
            arr(vec![bulk("HZ"), bulk("10")])
        );
        let got: HashMap<String, String> = qt(&mut c, &["CONFIG", "GET", "H*"]);
        assert_eq!(got.get("hz").map(String::as_str), Some("10"), "{got:?}");
        let got: HashMap<String, String> = qt(&mut c, &["CONFIG", "GET", "port"]);
        assert_eq!(got["port"], s.port().to_string());
        let got: HashMap<String, String> = qt(&mut c, &["CONFIG", "GET", "*"]);
        for name in [
            "port",
            "bind",
            "dir",
            "databases",
            "maxclients",
            "timeout",
            "tcp-keepalive",
            "proto-max-bulk-len",
            "client-query-buffer-limit",
            "client-output-buffer-limit",
            "loglevel",
            "logfile",
            "appendonly",
            "appendfsync",
            "save",
            "hz",
        ] {
            assert!(got.contains_key(name), "CONFIG GET * lacks {name}: {got:?}");
        }
        assert_eq!(got.get("databases").map(String::as_str), Some("16"));
        // SET valid values, with unit suffixes.
        assert_eq!(q(&mut c, &["CONFIG", "SET", "maxmemory", "100mb"]), ok());
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "maxmemory"]),
            arr(vec![bulk("maxmemory"), bulk("104857600")])
        );
        assert_eq!(q(&mut c, &["CONFIG", "SET", "maxmemory", "1gb"]), ok());
        assert_eq!(
            q(&mut c, &["CONFIG", "GET", "maxmemory"]),
            arr(vec![bulk("maxmemory"), bulk("1073741824")])
        );
        assert_eq!(
            q(
                &mut c,
                &[
                    "CONFIG",
                    "SET",
                    "hz",
                    "20",
                    "maxmemory-policy",
                    "allkeys-lru"
                ]
            ),
            ok()
        );
        let got: HashMap<String, String> = qt(&mut c, &["CONFIG", "GET", "hz", "maxmemory-policy"]);
        assert_eq!(got["hz"], "20");
        assert_eq!(got["maxmemory-policy"], "allkeys-lru");
        assert_eq!(info_int(&mut c, "memory", "maxmemory"), 1_073_741_824);
        // Invalid values.
        assert_eq!(
            qerr(&mut c, &["CONFIG", "SET", "maxmemory", "abc"]),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
        );
        assert_eq!(
            qerr(&mut c, &["CONFIG", "SET", "maxmemory-policy", "foo"]),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
        );
        assert_eq!(
            qerr(&mut c, &["CONFIG", "SET", "hz", "30", "hz", "40"]),
            "ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter"
        );
        // Unknown and immutable options.
        assert_eq!(
            qerr(&mut c, &["CONFIG", "SET", "nosuch", "1"]),
            "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
        );
        assert_eq!(
            qerr(&mut c, &["CONFIG", "SET", "daemonize", "yes"]),
            "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"
        );
        assert_eq!(
            qerr(&mut c, &["CONFIG", "SET", "databases", "32"]),
            "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
        );
        // A failing multi-set changes nothing.
        assert_eq!(
            qerr(&mut c, &["CONFIG", "SET", "hz", "50", "maxmemory", "abc"]),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
        );
        let got: HashMap<String, String> = qt(&mut c, &["CONFIG", "GET", "hz"]);
        assert_eq!(got["hz"], "20");
        assert_eq!(
            qerr(&mut c, &["CONFIG", "GET"]),
            "ERR wrong number of arguments for 'config|get' command"
        );
        assert_eq!(
            qerr(&mut c, &["CONFIG", "SET", "hz"]),
            "ERR wrong number of arguments for 'config|set' command"
        );
        assert_eq!(
            qerr(&mut c, &["CONFIG", "FOO"]),
            "ERR unknown subcommand 'FOO'. Try CONFIG HELP."
        );
        assert_eq!(q(&mut c, &["CONFIG", "RESETSTAT"]), ok());
    });
}

#[test]
fn config_from_command_line() {
    both_with(&["--maxmemory", "12mb", "--hz", "15"], |s| {
        let mut c = s.conn();
        let got: HashMap<String, String> = qt(&mut c, &["CONFIG", "GET", "maxmemory", "hz"]);
        assert_eq!(got["maxmemory"], "12582912");
        assert_eq!(got["hz"], "15");
    });
}

#[test]
fn config_get_shards() {
    if skip_under_redis("CONFIG GET shards is shardis-specific") {
        return;
    }
    for shards in [1usize, 4] {
        let s = Server::start(shards);
        let mut c = s.conn();
        let got: HashMap<String, String> = qt(&mut c, &["CONFIG", "GET", "shards"]);
        assert_eq!(got.get("shards"), Some(&shards.to_string()));
    }
}

#[test]
fn command_introspection() {
    both(|s| {
        let mut c = s.conn();
        let count: i64 = qt(&mut c, &["COMMAND", "COUNT"]);
        // Every top-level command INFO returns is counted.
        let all: Vec<Value> = qt(&mut c, &["COMMAND"]);
        assert_eq!(count, all.len() as i64, "COMMAND COUNT vs COMMAND");
        assert!(count >= 70, "COMMAND COUNT {count}");
        let list: Vec<String> = qt(&mut c, &["COMMAND", "LIST"]);
        // COUNT counts top-level commands; LIST also names subcommands.
        assert!(
            list.len() as i64 >= count,
            "COMMAND LIST shorter than COUNT"
        );
        assert!(
            list.iter().any(|n| n == "config|get"),
            "COMMAND LIST lacks config|get"
        );
        for name in [
            "get", "set", "del", "ping", "config", "client", "command", "info",
        ] {
            assert!(list.iter().any(|n| n == name), "COMMAND LIST lacks {name}");
        }
        let mut filtered: Vec<String> =
            qt(&mut c, &["COMMAND", "LIST", "FILTERBY", "PATTERN", "getr*"]);
        filtered.sort();
        assert_eq!(filtered, vec!["getrange".to_string()]);
        // COMMAND INFO get: name, arity, flags, first key, last key, step.
        let info = q(&mut c, &["COMMAND", "INFO", "get"]);
        let Value::Array(entries) = info else {
            panic!("COMMAND INFO must be an array: {info:?}")
        };
        assert_eq!(entries.len(), 1);
        let Value::Array(get) = &entries[0] else {
            panic!("COMMAND INFO entry must be an array: {:?}", entries[0])
        };
        assert!(get.len() >= 10, "{get:?}");
        assert_eq!(get[0], bulk("get"));
        assert_eq!(get[1], int(2));
        assert_eq!(get[2], arr(vec![status("readonly"), status("fast")]));
        assert_eq!(get[3], int(1));
        assert_eq!(get[4], int(1));
        assert_eq!(get[5], int(1));
        let info = q(&mut c, &["COMMAND", "INFO", "set", "nosuch", "mset"]);
        let Value::Array(entries) = info else {
            panic!("COMMAND INFO must be an array")
        };
        assert_eq!(entries.len(), 3);
        let Value::Array(set) = &entries[0] else {
            panic!("set entry")
        };
        assert_eq!(set[0], bulk("set"));
        assert_eq!(set[1], int(-3));
        assert_eq!(entries[1], nil());
        let Value::Array(mset) = &entries[2] else {
            panic!("mset entry")
        };
        assert_eq!(mset[1], int(-3));
        assert_eq!(mset[3..6], [int(1), int(-1), int(2)]);
        // COMMAND DOCS get.
        let docs = q(&mut c, &["COMMAND", "DOCS", "get"]);
        let Value::Array(docs) = docs else {
            panic!("COMMAND DOCS array")
        };
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0], bulk("get"));
        let Value::Array(fields) = &docs[1] else {
            panic!("docs fields")
        };
        let mut map = HashMap::new();
        for pair in fields.chunks(2) {
            if let Value::BulkString(k) = &pair[0] {
                map.insert(String::from_utf8_lossy(k).into_owned(), pair[1].clone());
            }
        }
        assert_eq!(map.get("summary"), Some(&bulk("Get the value of a key")));
        assert_eq!(map.get("since"), Some(&bulk("1.0.0")));
        assert_eq!(map.get("group"), Some(&bulk("string")));
        assert_eq!(map.get("complexity"), Some(&bulk("O(1)")));
        assert!(map.contains_key("arguments"));
        assert_eq!(q(&mut c, &["COMMAND", "DOCS", "nosuch"]), arr(vec![]));
        // COMMAND GETKEYS.
        assert_eq!(
            q(&mut c, &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
            arr(vec![bulk("a"), bulk("b")])
        );
        assert_eq!(
            q(&mut c, &["COMMAND", "GETKEYS", "SET", "k", "v", "EX", "10"]),
            arr(vec![bulk("k")])
        );
        assert_eq!(
            q(&mut c, &["COMMAND", "GETKEYS", "del", "x", "y", "z"]),
            arr(vec![bulk("x"), bulk("y"), bulk("z")])
        );
        assert_eq!(
            qerr(&mut c, &["COMMAND", "GETKEYS", "foo", "a"]),
            "ERR Invalid command specified"
        );
        assert_eq!(
            qerr(&mut c, &["COMMAND", "GETKEYS", "ping", "x"]),
            "ERR The command has no key arguments"
        );
        assert_eq!(
            qerr(&mut c, &["COMMAND", "GETKEYS", "get", "a", "b"]),
            "ERR Invalid number of arguments specified for command"
        );
        // Plain COMMAND returns one entry per command.
        let all = q(&mut c, &["COMMAND"]);
        let Value::Array(all) = all else {
            panic!("COMMAND array")
        };
        assert_eq!(all.len() as i64, count);
    });
}

#[test]
fn debug_command_is_disabled_by_default() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(
            qerr(&mut c, &["DEBUG", "SLEEP", "0"]),
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."
        );
    });
}

#[test]
fn debug_sleep_when_enabled() {
    both_with(&["--enable-debug-command", "local"], |s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["DEBUG", "SLEEP", "0"]), ok());
        assert_eq!(q(&mut c, &["PING"]), status("PONG"));
    });
}

#[test]
fn memory_usage() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["MEMORY", "USAGE", "missing"]), nil());
        assert_eq!(q(&mut c, &["SET", "small", "hello"]), ok());
        let small: i64 = qt(&mut c, &["MEMORY", "USAGE", "small"]);
        assert!(small > 5 && small < 1000, "MEMORY USAGE small = {small}");
        let big = "x".repeat(10_000);
        assert_eq!(q(&mut c, &["SET", "big", &big]), ok());
        let large: i64 = qt(&mut c, &["MEMORY", "USAGE", "big"]);
        assert!(
            (10_000..20_000).contains(&large),
            "MEMORY USAGE big = {large}"
        );
        let sampled: i64 = qt(&mut c, &["MEMORY", "USAGE", "big", "SAMPLES", "5"]);
        assert_eq!(sampled, large);
        assert_eq!(
            qerr(&mut c, &["MEMORY", "USAGE", "big", "FOO"]),
            "ERR syntax error"
        );
    });
}

#[test]
fn redis_cli_smoke() {
    let Some(cli) = which("redis-cli") else {
        eprintln!("skipped: redis-cli is not installed");
        return;
    };
    both(|s| {
        let port = s.port().to_string();
        let run = |args: &[&str]| -> String {
            let out = Command::new(&cli)
                .args(["-h", "127.0.0.1", "-p", &port])
                .args(args)
                .output()
                .expect("run redis-cli");
            assert!(out.status.success(), "redis-cli {args:?} failed: {out:?}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(run(&["ping"]), "PONG\n");
        assert_eq!(run(&["set", "a", "b"]), "OK\n");
        assert_eq!(run(&["get", "a"]), "b\n");
        assert_eq!(run(&["incr", "n"]), "1\n");
        assert_eq!(run(&["get", "missing"]), "\n");
        assert_eq!(run(&["mget", "a", "missing", "n"]), "b\n\n1\n");
        assert_eq!(run(&["dbsize"]), "2\n");
        let err = run(&["incr", "a"]);
        assert_eq!(err, "ERR value is not an integer or out of range\n\n");
        // Commands from stdin, pipe mode.
        let mut child = Command::new(&cli)
            .args(["-h", "127.0.0.1", "-p", &port])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn redis-cli");
        {
            use std::io::Write;
            let stdin = child.stdin.as_mut().expect("redis-cli stdin");
            stdin
                .write_all(b"set piped yes\nget piped\nexists a piped nope\n")
                .expect("write to redis-cli");
        }
        let out = child.wait_with_output().expect("redis-cli output");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\nyes\n2\n");
    });
}

#[test]
fn redis_benchmark_smoke() {
    let Some(bench) = which("redis-benchmark") else {
        eprintln!("skipped: redis-benchmark is not installed");
        return;
    };
    both(|s| {
        let out = Command::new(&bench)
            .args(["-h", "127.0.0.1", "-p", &s.port().to_string()])
            .args(["-t", "set,get,incr,mset", "-n", "2000", "-P", "16", "-q"])
            .output()
            .expect("run redis-benchmark");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "redis-benchmark failed: {stdout}\n{stderr}"
        );
        assert!(
            !stdout.contains("ERR") && !stderr.contains("ERR"),
            "redis-benchmark saw errors:\n{stdout}\n{stderr}"
        );
        for t in ["SET", "GET", "INCR", "MSET (10 keys)"] {
            // Progress lines are separated by '\r', results end with '\n'.
            assert!(
                stdout
                    .split(['\r', '\n'])
                    .any(|l| l.starts_with(&format!("{t}: ")) && l.contains("requests per second")),
                "no {t} result in:\n{stdout}"
            );
        }
        let mut c = s.conn();
        // Default payload: 3 bytes.
        assert_eq!(q(&mut c, &["STRLEN", "key:__rand_int__"]), int(3));
        let counter: i64 = qt(&mut c, &["GET", "counter:__rand_int__"]);
        assert_eq!(counter, 2000);
    });
}

/// DEBUG DIGEST / DIGEST-VALUE: Redis's digest of the data, bit for bit (the hex values below
/// are what redis-server 7.0.15 prints for the same data), whatever the shard count and the
/// order the data was built in.
#[test]
fn debug_digest_is_redis_digest() {
    both_with(&["--enable-debug-command", "yes"], |s| {
        let mut c = s.conn();
        let zero = "0".repeat(40);
        assert_eq!(q(&mut c, &["DEBUG", "DIGEST"]), status(&zero));
        assert_eq!(q(&mut c, &["SET", "foo", "bar"]), ok());
        q(&mut c, &["RPUSH", "l", "a", "b", "1", "2"]);
        // Members in another order than the one the expected digest was made with.
        q(&mut c, &["SADD", "s", "2", "b", "1", "a"]);
        q(&mut c, &["ZADD", "z", "0.1", "c", "1.5", "a", "2", "b"]);
        q(&mut c, &["HSET", "h", "g", "1", "f", "v"]);
        assert_eq!(q(&mut c, &["SET", "e", "x", "EX", "100"]), ok());
        let expected = [
            "68467c70ae30376e7ce005bcc8827f5ba7fd67dc",
            "6b15aa298e0e4d1f6244448df32b23e74a4147ce",
            "32b8b98ca01572a2e08f0714f8b73a61d59139dd",
            "2c385488a5eef8be43a6e3722a96af78cf880203",
            "6679ee22f89ed8001eeb5309d0900265ea56c03a",
            "0745672cb1bf060476eedeb8a28f5ffe1ff5a2be",
            &zero,
        ];
        assert_eq!(
            q(
                &mut c,
                &[
                    "DEBUG",
                    "DIGEST-VALUE",
                    "foo",
                    "l",
                    "s",
                    "z",
                    "h",
                    "e",
                    "nokey"
                ]
            ),
            arr(expected.iter().map(|d| status(d)).collect())
        );
        assert_eq!(
            q(&mut c, &["DEBUG", "DIGEST"]),
            status("6489ee351a7313feb15a693f283999707eaf17fc")
        );
        // The database number is part of the digest.
        q(&mut c, &["SELECT", "3"]);
        assert_eq!(q(&mut c, &["SET", "foo", "bar"]), ok());
        assert_eq!(
            q(&mut c, &["DEBUG", "DIGEST"]),
            status("d827576857e86306c082dba52642007628221691")
        );
        assert_eq!(q(&mut c, &["DEBUG", "DIGEST-VALUE"]), arr(vec![]));
        // A list's order matters, a set's does not.
        q(&mut c, &["RPUSH", "l1", "a", "b"]);
        q(&mut c, &["RPUSH", "l2", "b", "a"]);
        q(&mut c, &["SADD", "s1", "a", "b"]);
        q(&mut c, &["SADD", "s2", "b", "a"]);
        let d: Vec<String> = qt(&mut c, &["DEBUG", "DIGEST-VALUE", "l1", "l2", "s1", "s2"]);
        assert_ne!(d[0], d[1]);
        assert_eq!(d[2], d[3]);
    });
}

#[test]
fn debug_protocol_and_list_helpers() {
    both_with(&["--enable-debug-command", "yes"], |s| {
        let mut c = s.conn();
        assert_eq!(
            q(&mut c, &["DEBUG", "PROTOCOL", "attrib"]),
            bulk("Some real reply following the attribute")
        );
        assert_eq!(
            q(&mut c, &["DEBUG", "PROTOCOL", "bignum"]),
            bulk("1234567999999999999999999999999999999")
        );
        assert_eq!(q(&mut c, &["DEBUG", "PROTOCOL", "true"]), int(1));
        assert_eq!(q(&mut c, &["DEBUG", "PROTOCOL", "double"]), bulk("3.141"));
        assert_eq!(
            qerr(&mut c, &["DEBUG", "PROTOCOL", "push"]),
            "ERR RESP2 is not supported by this command"
        );
        let mut r = s.raw();
        r.roundtrip(&[b"HELLO", b"3"]);
        let want = b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$39\r\nSome real reply following the attribute\r\n";
        r.send_cmd(&[b"DEBUG", b"PROTOCOL", b"attrib"]);
        assert_eq!(r.read_exact_bytes(want.len()), want.to_vec());
        assert_eq!(
            r.roundtrip(&[b"DEBUG", b"PROTOCOL", b"bignum"]),
            b"(1234567999999999999999999999999999999\r\n".to_vec()
        );
        assert_eq!(
            r.roundtrip(&[b"DEBUG", b"PROTOCOL", b"map"]),
            b"%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n".to_vec()
        );

        assert_eq!(
            q(&mut c, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1b"]),
            ok()
        );
        assert_eq!(
            q(&mut c, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0"]),
            ok()
        );
        for bad in ["5gb", "-1", "abc"] {
            assert_eq!(
                qerr(&mut c, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", bad]),
                "ERR argument must be a memory value bigger than 1 and smaller than 4gb"
            );
        }
        q(&mut c, &["RPUSH", "list", "a", "b"]);
        q(&mut c, &["HSET", "hash", "f", "v"]);
        assert_eq!(
            q(&mut c, &["DEBUG", "QUICKLIST", "list"]),
            status("Quicklist structure printed on stdout")
        );
        assert_eq!(
            q(&mut c, &["DEBUG", "LISTPACK", "hash"]),
            status("Listpack structure printed on stdout")
        );
        assert_eq!(
            qerr(&mut c, &["DEBUG", "LISTPACK", "list"]),
            "ERR Not a listpack encoded object."
        );
        assert_eq!(
            qerr(&mut c, &["DEBUG", "QUICKLIST", "hash"]),
            "ERR Not a quicklist encoded object."
        );
        assert_eq!(
            qerr(&mut c, &["DEBUG", "LISTPACK", "nokey"]),
            "ERR no such key"
        );
        assert_eq!(q(&mut c, &["DEBUG", "CHANGE-REPL-ID"]), ok());
    });
}

/// Directives Redis's test suite sets that shardis only stores (no RDB, no replication).
#[test]
fn config_replication_and_rdb_directives_are_stored() {
    both(|s| {
        let mut c = s.conn();
        for (name, default, value) in [
            ("rdb-key-save-delay", "0", "-100"),
            ("repl-ping-replica-period", "10", "3600"),
            ("replica-read-only", "yes", "no"),
            ("masterauth", "", "secret"),
        ] {
            assert_eq!(
                qt::<Vec<String>, _>(&mut c, &["CONFIG", "GET", name]),
                vec![name.to_string(), default.to_string()]
            );
            assert_eq!(q(&mut c, &["CONFIG", "SET", name, value]), ok());
            assert_eq!(
                qt::<Vec<String>, _>(&mut c, &["CONFIG", "GET", name]),
                vec![name.to_string(), value.to_string()]
            );
        }
        assert_eq!(
            qt::<Vec<String>, _>(&mut c, &["CONFIG", "GET", "slave-read-only"]),
            vec!["slave-read-only".to_string(), "no".to_string()]
        );
        assert!(
            qerr(&mut c, &["CONFIG", "SET", "repl-ping-replica-period", "0"])
                .contains("argument must be between 1 and 2147483647 inclusive")
        );
        // Hidden, as in Redis: only its exact name shows it.
        let all: Vec<String> = qt(&mut c, &["CONFIG", "GET", "*"]);
        assert!(!all.iter().any(|n| n == "rdb-key-save-delay"));
        assert!(all.iter().any(|n| n == "repl-ping-replica-period"));
    });
}
