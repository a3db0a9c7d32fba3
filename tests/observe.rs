//! Observability: INFO sections and fields, command and error stats, latency stats and
//! histograms, the slow log, the latency monitor, CLIENT LIST fields and filters, MONITOR.
//! Everything runs with one and with four shards; the four-shard runs check that what happens
//! on other shards is seen.

mod common;

use common::*;
use redis::Value;
use std::collections::HashMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// The shard a connection landed on (shardis's extra CLIENT INFO field).
fn shard_of(c: &mut redis::Connection) -> String {
    let line: String = qt(c, &["CLIENT", "INFO"]);
    fields(line.trim())
        .get("shard")
        .cloned()
        .unwrap_or_default()
}

/// A connection on another shard than `other` (connections are spread by the kernel).
fn conn_elsewhere(s: &Server, other: &str) -> redis::Connection {
    for _ in 0..200 {
        let mut c = s.conn();
        if shard_of(&mut c) != other {
            return c;
        }
    }
    panic!("no connection landed on another shard than {other}");
}

fn as_str(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        Value::Int(i) => i.to_string(),
        other => panic!("not a string: {other:?}"),
    }
}

fn as_int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Map(m) => m.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect(),
        Value::Nil => Vec::new(),
        other => panic!("not an array: {other:?}"),
    }
}

/// A flat map reply (RESP2) as name → value.
fn map(v: &Value) -> HashMap<String, Value> {
    items(v)
        .chunks(2)
        .map(|p| (as_str(&p[0]), p[1].clone()))
        .collect()
}

#[test]
fn info_has_redis_sections_and_fields() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["SET", "k", "v"]);
        let text = info(&mut c, "default");
        let heads: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(
            heads,
            [
                "# Server",
                "# Clients",
                "# Memory",
                "# Persistence",
                "# Stats",
                "# Replication",
                "# CPU",
                "# Modules",
                "# Errorstats",
                "# Cluster",
                "# Keyspace",
                "# Shards"
            ]
        );
        for f in [
            "redis_version",
            "redis_mode",
            "process_id",
            "run_id",
            "tcp_port",
            "uptime_in_seconds",
            "atomicvar_api",
            "connected_clients",
            "maxclients",
            "blocked_clients",
            "used_memory",
            "aof_enabled",
            "rdb_saves",
            "total_commands_processed",
            "instantaneous_ops_per_sec",
            "instantaneous_input_kbps",
            "total_net_input_bytes",
            "keyspace_hits",
            "total_error_replies",
            "unexpected_error_replies",
            "role",
            "master_repl_offset",
            "used_cpu_sys",
            "used_cpu_user_main_thread",
            "cluster_enabled",
            "db0",
        ] {
            assert!(info_field(&text, f).is_some(), "INFO lacks {f}:\n{text}");
        }
        assert!(!text.contains("cmdstat_"), "default has no commandstats");
        assert!(!text.contains("latency_percentiles_usec_"));
        for arg in ["all", "everything"] {
            let text = info(&mut c, arg);
            assert!(text.contains("# Commandstats\r\ncmdstat_"), "{arg}");
            assert!(
                text.contains("# Latencystats\r\nlatency_percentiles_usec_"),
                "{arg}"
            );
        }
        // One line per shard, and their keys add up.
        let text = info(&mut c, "shards");
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("shard")).collect();
        assert_eq!(lines.len(), s.shards(), "{text}");
        let keys: i64 = lines
            .iter()
            .map(|l| {
                fields(l.split_once(':').unwrap().1)["keys"]
                    .parse::<i64>()
                    .unwrap()
            })
            .sum();
        assert_eq!(keys, 1);
        // Several sections, case-insensitive, each once.
        let text = info(&mut c, "CPU");
        assert!(text.starts_with("# CPU\r\n") && !text.contains("# Server"));
        let text: String = qt(&mut c, &["INFO", "cpu", "default"]);
        assert_eq!(text.matches("used_cpu_user_children").count(), 1);
    });
}

#[test]
fn commandstats_and_errorstats_count_every_shard() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["CONFIG", "RESETSTAT"]);
        let keys = spread_keys("cs", 8);
        for k in &keys {
            q(&mut c, &["SET", k.as_str(), "1"]);
        }
        for k in &keys[..3] {
            q(&mut c, &["GET", k.as_str()]);
        }
        q(&mut c, &["LPUSH", "alist", "x"]);
        qerr(&mut c, &["GET", "alist"]);
        qerr(&mut c, &["GET"]);
        qerr(&mut c, &["NOSUCHCOMMAND"]);
        q(&mut c, &["CLIENT", "ID"]);
        let text = info(&mut c, "commandstats");
        let stat = |name: &str| {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
                .unwrap_or_else(|| panic!("no cmdstat_{name}:\n{text}"));
            fields(line.split_once(':').unwrap().1)
        };
        assert_eq!(stat("set")["calls"], "8");
        let get = stat("get");
        assert_eq!(get["calls"], "4");
        assert_eq!(get["failed_calls"], "1");
        assert_eq!(get["rejected_calls"], "1");
        assert!(get.contains_key("usec") && get.contains_key("usec_per_call"));
        assert_eq!(stat("client|id")["calls"], "1");
        let text = info(&mut c, "errorstats");
        assert_eq!(info_field(&text, "errorstat_WRONGTYPE").unwrap(), "count=1");
        assert_eq!(info_field(&text, "errorstat_ERR").unwrap(), "count=2");
        assert_eq!(
            info_field(&info(&mut c, "stats"), "total_error_replies").unwrap(),
            "3"
        );
        q(&mut c, &["CONFIG", "RESETSTAT"]);
        assert!(!info(&mut c, "errorstats").contains("errorstat_"));
    });
}

#[test]
fn latencystats_show_configured_percentiles() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["CONFIG", "RESETSTAT"]);
        for k in spread_keys("ls", 6) {
            q(&mut c, &["SET", k.as_str(), "v"]);
        }
        let text = info(&mut c, "latencystats");
        let line = info_field(&text, "latency_percentiles_usec_set").expect("set percentiles");
        let f = fields(&line);
        let keys: Vec<&str> = line
            .split(',')
            .map(|p| p.split('=').next().unwrap())
            .collect();
        assert_eq!(keys, ["p50", "p99", "p99.9"]);
        let p50: f64 = f["p50"].parse().unwrap();
        let p999: f64 = f["p99.9"].parse().unwrap();
        assert!(p50 > 0.0 && p50 <= p999, "{line}");
        assert!(f["p50"].split('.').nth(1).is_some_and(|d| d.len() == 3));

        q(
            &mut c,
            &[
                "CONFIG",
                "SET",
                "latency-tracking-info-percentiles",
                "50.0 90 100",
            ],
        );
        let got: Vec<String> = qt(
            &mut c,
            &["CONFIG", "GET", "latency-tracking-info-percentiles"],
        );
        assert_eq!(got[1], "50 90 100");
        let line = info_field(
            &info(&mut c, "latencystats"),
            "latency_percentiles_usec_set",
        )
        .unwrap();
        assert!(line.starts_with("p50=") && line.contains(",p90=") && line.contains(",p100="));
        assert_eq!(
            qerr(&mut c, &["CONFIG", "SET", "latency-tracking-info-percentiles", "101"]),
            "ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
        );

        // Tracking off: nothing recorded.
        q(&mut c, &["CONFIG", "SET", "latency-tracking", "no"]);
        q(&mut c, &["CONFIG", "RESETSTAT"]);
        q(&mut c, &["SET", "x", "1"]);
        assert!(!info(&mut c, "latencystats").contains("usec_set:"));
        q(&mut c, &["CONFIG", "SET", "latency-tracking", "yes"]);
    });
}

#[test]
fn latency_histogram_has_redis_shape() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["CONFIG", "RESETSTAT"]);
        for k in spread_keys("lh", 5) {
            q(&mut c, &["SET", k.as_str(), "v"]);
        }
        q(&mut c, &["GET", "lh:0"]);
        q(&mut c, &["CLIENT", "ID"]);
        let h = map(&q(
            &mut c,
            &["LATENCY", "HISTOGRAM", "set", "get", "nosuch"],
        ));
        assert_eq!(h.len(), 2, "{h:?}");
        let set = map(&h["set"]);
        assert_eq!(as_int(&set["calls"]), 5);
        // Cumulative counts by bucket, ending at the total.
        let buckets: Vec<i64> = items(&set["histogram_usec"]).iter().map(as_int).collect();
        assert!(!buckets.is_empty() && buckets.len().is_multiple_of(2));
        let counts: Vec<i64> = buckets.chunks(2).map(|p| p[1]).collect();
        assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
        assert_eq!(*counts.last().unwrap(), 5);
        // A container gives its subcommands.
        let h = map(&q(&mut c, &["LATENCY", "HISTOGRAM", "client"]));
        assert!(h.contains_key("client|id"), "{h:?}");
        let all = map(&q(&mut c, &["LATENCY", "HISTOGRAM"]));
        assert!(all.contains_key("set") && all.contains_key("config|resetstat"));
    });
}

#[test]
fn slowlog_merges_every_shard_newest_first() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        q(&mut c, &["SLOWLOG", "RESET"]);
        q(&mut c, &["CLIENT", "SETNAME", "slowpoke"]);
        let me: String = qt(&mut c, &["CLIENT", "INFO"]);
        let addr = fields(me.trim())["addr"].clone();
        let keys = spread_keys("sl", 8);
        for k in &keys {
            q(&mut c, &["SET", k.as_str(), "v"]);
        }
        let all = items(&q(&mut c, &["SLOWLOG", "GET", "-1"]));
        // Newest first: the last SET, with ids decreasing.
        let ids: Vec<i64> = all.iter().map(|e| as_int(&items(e)[0])).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
        let sets: Vec<Vec<Value>> = all
            .iter()
            .map(items)
            .filter(|e| items(&e[3]).first().map(as_str).as_deref() == Some("SET"))
            .collect();
        assert_eq!(sets.len(), keys.len());
        let first = &sets[0];
        assert_eq!(
            items(&first[3]).iter().map(as_str).collect::<Vec<_>>(),
            ["SET", keys[7].as_str(), "v"]
        );
        assert!(as_int(&first[1]) > 1_600_000_000);
        assert!(as_int(&first[2]) >= 0);
        for e in &sets {
            assert_eq!(as_str(&e[4]), addr);
            assert_eq!(as_str(&e[5]), "slowpoke");
        }
        let len = as_int(&q(&mut c, &["SLOWLOG", "LEN"]));
        assert!(len as usize > keys.len(), "{len}");
        assert_eq!(items(&q(&mut c, &["SLOWLOG", "GET", "2"])).len(), 2);
        assert_eq!(items(&q(&mut c, &["SLOWLOG", "GET"])).len(), 10);
        assert_eq!(
            qerr(&mut c, &["SLOWLOG", "GET", "-2"]),
            "ERR count should be greater than or equal to -1"
        );

        // Trimmed as Redis: 32 arguments, 128 bytes each.
        let mut args: Vec<String> = vec!["SADD".into(), "slset".into()];
        args.extend((0..40).map(|i| i.to_string()));
        q(&mut c, &args);
        let e = items(&items(&q(&mut c, &["SLOWLOG", "GET", "1"]))[0]);
        let logged: Vec<String> = items(&e[3]).iter().map(as_str).collect();
        assert_eq!(logged.len(), 32);
        assert_eq!(logged[31], "... (11 more arguments)");
        let long = "x".repeat(200);
        q(&mut c, &["SET", "sllong", long.as_str()]);
        let e = items(&items(&q(&mut c, &["SLOWLOG", "GET", "1"]))[0]);
        assert_eq!(
            as_str(&items(&e[3])[2]),
            format!("{}... (72 more bytes)", "x".repeat(128))
        );

        // The length cap holds server-wide.
        q(&mut c, &["CONFIG", "SET", "slowlog-max-len", "5"]);
        for k in &keys {
            q(&mut c, &["GET", k.as_str()]);
        }
        assert_eq!(as_int(&q(&mut c, &["SLOWLOG", "LEN"])), 5);
        q(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
        q(&mut c, &["SLOWLOG", "RESET"]);
        q(&mut c, &["SET", "after", "1"]);
        assert_eq!(as_int(&q(&mut c, &["SLOWLOG", "LEN"])), 0);
        assert_eq!(
            qerr(&mut c, &["SLOWLOG", "LEN", "x"]),
            "ERR wrong number of arguments for 'slowlog|len' command"
        );
    });
}

#[test]
fn latency_monitor_records_slow_commands() {
    both_with(&["--enable-debug-command", "yes"], |s| {
        let mut c = s.conn();
        let doc: String = qt(&mut c, &["LATENCY", "DOCTOR"]);
        assert!(doc.contains("Latency monitoring is disabled"), "{doc}");
        q(
            &mut c,
            &["CONFIG", "SET", "latency-monitor-threshold", "100"],
        );
        q(&mut c, &["DEBUG", "SLEEP", "0.2"]);
        let latest = items(&q(&mut c, &["LATENCY", "LATEST"]));
        let ev: Vec<Value> = latest
            .iter()
            .map(items)
            .find(|e| as_str(&e[0]) == "command")
            .expect("a 'command' event");
        assert!(as_int(&ev[2]) >= 200 && as_int(&ev[3]) >= 200, "{ev:?}");
        let hist = items(&q(&mut c, &["LATENCY", "HISTORY", "command"]));
        assert_eq!(hist.len(), 1);
        assert!(as_int(&items(&hist[0])[1]) >= 200);
        let doc: String = qt(&mut c, &["LATENCY", "DOCTOR"]);
        assert!(doc.contains("1. command: 1 latency spikes"), "{doc}");
        assert!(items(&q(&mut c, &["LATENCY", "HISTORY", "nosuch"])).is_empty());
        assert_eq!(as_int(&q(&mut c, &["LATENCY", "RESET"])), 1);
        assert!(items(&q(&mut c, &["LATENCY", "LATEST"])).is_empty());
        assert!(qerr(&mut c, &["LATENCY", "GRAPH", "command"]).starts_with("ERR No samples"));
        assert!(qerr(&mut c, &["LATENCY", "NOPE"]).starts_with("ERR unknown subcommand 'NOPE'"));
    });
}

#[test]
fn client_list_fields_and_filters() {
    both(|s| {
        let mut c = s.conn();
        let mut other = s.conn();
        q(&mut other, &["CLIENT", "SETNAME", "other"]);
        let other_id: i64 = qt(&mut other, &["CLIENT", "ID"]);
        let list: String = qt(&mut c, &["CLIENT", "LIST"]);
        let line = list
            .lines()
            .find(|l| l.contains("name=other"))
            .expect("the other client");
        let names: Vec<&str> = line
            .split(' ')
            .map(|kv| kv.split('=').next().unwrap())
            .collect();
        assert_eq!(
            &names[..28],
            [
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
                "ssub",
                "multi",
                "qbuf",
                "qbuf-free",
                "argv-mem",
                "multi-mem",
                "rbs",
                "rbp",
                "obl",
                "oll",
                "omem",
                "tot-mem",
                "events",
                "cmd",
                "user",
                "redir",
                "resp"
            ]
        );
        let f = fields(line);
        assert_eq!(f["cmd"], "client|id");
        assert_eq!(f["flags"], "N");
        assert_eq!(f["sub"], "0");
        assert_eq!(f["multi"], "-1");
        let only: String = qt(&mut c, &["CLIENT", "LIST", "ID", &other_id.to_string()]);
        assert_eq!(only.lines().count(), 1);
        assert!(only.contains("name=other"));
        let normal: String = qt(&mut c, &["CLIENT", "LIST", "TYPE", "normal"]);
        assert!(normal.lines().count() >= 2);
        let pubsub: String = qt(&mut c, &["CLIENT", "LIST", "TYPE", "pubsub"]);
        assert_eq!(pubsub, "");
        assert_eq!(
            qerr(&mut c, &["CLIENT", "LIST", "TYPE", "bogus"]),
            "ERR Unknown client type 'bogus'"
        );
        let mine: String = qt(&mut c, &["CLIENT", "INFO"]);
        assert_eq!(fields(mine.trim())["cmd"], "client|info");
    });
}

#[test]
fn monitor_sees_commands_from_every_shard() {
    both(|s| {
        let mut mon = s.raw();
        mon.send_cmd(&[b"MONITOR"]);
        assert_eq!(mon.read_reply_str(), "+OK\r\n");
        // The monitor's shard, from the server's side: the client whose last command is monitor.
        let mut c = s.conn();
        let list: String = qt(&mut c, &["CLIENT", "LIST"]);
        let mon_line = list
            .lines()
            .find(|l| l.contains("cmd=monitor"))
            .expect("the monitor in CLIENT LIST");
        assert_eq!(fields(mon_line)["flags"], "O");
        let mon_shard = fields(mon_line).get("shard").cloned().unwrap_or_default();
        let mut c = if s.shards() > 1 {
            conn_elsewhere(s, &mon_shard)
        } else {
            s.conn()
        };
        q(&mut c, &["SELECT", "2"]);
        let keys = spread_keys("mon", 4);
        for k in &keys {
            q(&mut c, &["SET", k.as_str(), "a \"q\"\n"]);
        }
        q(&mut c, &["AUTH", "default", "secret"]);
        let me: String = qt(&mut c, &["CLIENT", "INFO"]);
        let addr = fields(me.trim())["addr"].clone();
        q(&mut c, &["ECHO", "monitor-done"]);
        let mut lines = Vec::new();
        assert!(wait_until(WAIT, || {
            let l = mon.read_reply_str();
            lines.push(l);
            lines.iter().any(|l| l.contains("\"monitor-done\""))
        }));
        for k in &keys {
            let want = format!(" [2 {addr}] \"SET\" \"{k}\" \"a \\\"q\\\"\\n\"\r\n");
            let line = lines
                .iter()
                .find(|l| l.contains(&format!("\"{k}\"")))
                .unwrap_or_else(|| panic!("no line for {k} in {lines:?}"));
            assert!(line.starts_with('+') && line.ends_with(&want), "{line}");
            let ts = line[1..].split(' ').next().unwrap();
            let (sec, usec) = ts.split_once('.').unwrap();
            assert!(sec.parse::<u64>().unwrap() > 1_600_000_000 && usec.len() == 6);
        }
        assert!(lines
            .iter()
            .any(|l| l.ends_with("\"AUTH\" \"(redacted)\" \"(redacted)\"\r\n")));
        // Administrative commands are not shown.
        assert!(!lines.iter().any(|l| l.contains("\"LIST\"")), "{lines:?}");
    });
}

#[test]
fn client_info_counts_the_running_command() {
    both(|s| {
        let mut r = s.raw();
        // `*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n` is 26 bytes, still in the query buffer in Redis.
        let line = String::from_utf8_lossy(&r.roundtrip(&[b"CLIENT", b"INFO"])).into_owned();
        let f = fields(line.trim());
        assert_eq!(f["qbuf"], "26", "{line}");
        assert_ne!(f["fd"], "-1", "{line}");
        // CLIENT REPLY ON is answered even right after SKIP.
        r.send(b"CLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nPING\r\n");
        assert_eq!(r.read_reply_str(), "+OK\r\n");
        assert_eq!(r.read_reply_str(), "+PONG\r\n");
    });
}

/// A transaction as MONITOR shows it (Redis's order): MULTI, then each queued command as EXEC
/// runs it, then EXEC; a discarded transaction shows MULTI and EXEC only.
#[test]
fn monitor_shows_a_transaction_in_run_order() {
    both(|s| {
        let mut mon = s.raw();
        mon.send_cmd(&[b"MONITOR"]);
        assert_eq!(mon.read_reply_str(), "+OK\r\n");
        let mut c = s.conn();
        q(&mut c, &["MULTI"]);
        q(&mut c, &["SET", "foo", "bar"]);
        q(&mut c, &["EXEC"]);
        q(&mut c, &["MULTI"]);
        let _ = qerr(&mut c, &["NOSUCHCMD"]);
        let _ = qerr(&mut c, &["EXEC"]);
        q(&mut c, &["ECHO", "monitor-done"]);
        let mut lines = Vec::new();
        assert!(wait_until(WAIT, || {
            lines.push(mon.read_reply_str());
            lines.iter().any(|l| l.contains("\"monitor-done\""))
        }));
        let names: Vec<String> = lines
            .iter()
            .filter_map(|l| l.split("] ").nth(1))
            .map(|rest| rest.trim_end().to_string())
            .filter(|l| !l.starts_with("\"CLIENT\" \"SETINFO\""))
            .collect();
        assert_eq!(
            names,
            [
                "\"MULTI\"",
                "\"SET\" \"foo\" \"bar\"",
                "\"EXEC\"",
                "\"MULTI\"",
                "\"EXEC\"",
                "\"ECHO\" \"monitor-done\""
            ],
            "{lines:?}"
        );
    });
}

/// `watchdog-period` (Redis's software watchdog): a shard stuck in one long script for longer
/// than the period is reported in the log, once; 0 turns it off. The period is raised to two
/// cron ticks, as Redis does.
#[test]
fn watchdog_period_reports_a_long_script_once() {
    const BUSY: &str = "local t0 = redis.call('time') \
        repeat local t = redis.call('time') \
        until (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > 700000 return 1";
    const EXPIRED: &str = "--- WATCHDOG TIMER EXPIRED ---";
    both_with(&["--watchdog-period", "50"], |s| {
        let mut c = s.conn();
        // 50 ms is under two ticks of the default hz 10.
        let got: Vec<String> = qt(&mut c, &["CONFIG", "GET", "watchdog-period"]);
        assert_eq!(got, ["watchdog-period", "200"]);
        assert!(!s.log_contents().contains(EXPIRED), "{}", s.log_contents());
        assert_eq!(qt::<i64, _>(&mut c, &["EVAL", BUSY, "0"]), 1);
        // Redis writes the block from its signal handler; give either a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !s.log_contents().contains(EXPIRED) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = s.log_contents();
        assert_eq!(log.matches(EXPIRED).count(), 1, "{log}");
        if !is_redis() {
            // The kernel's view of the shard's thread, and where it was: in the Lua VM.
            assert!(log.contains("state: R (running)"), "{log}");
            assert!(log.contains("running at: 0x"), "{log}");
        }
        q(&mut c, &["CONFIG", "SET", "watchdog-period", "0"]);
        assert_eq!(qt::<i64, _>(&mut c, &["EVAL", BUSY, "0"]), 1);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(s.log_contents().matches(EXPIRED).count(), 1);
        // Not in CONFIG GET *: a hidden directive, shown only by its name.
        let all: Vec<String> = qt(&mut c, &["CONFIG", "GET", "*"]);
        assert!(!all.iter().any(|n| n == "watchdog-period"));
    });
}
