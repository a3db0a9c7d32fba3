//! SORT and SORT_RO, checked against Redis 7.0.15 (run with SHARDIS_TEST_SERVER=redis to check
//! the tests themselves against redis-server). With 4 shards the BY/GET keys, the source and
//! the STORE destination land on different shards, which the coordinator must handle.

mod common;

use common::*;
use redis::Value;

/// `\xNN` escapes to bytes (the tables below spell NUL bytes that way).
fn unesc(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() + 1 && b.get(i + 1) == Some(&b'x') {
            let h = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex");
            out.push(u8::from_str_radix(h, 16).expect("hex"));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// A reply in the tables' notation: `[a,b]`, `nil`, `:n`, `+status`, `ERR:line`, bulk strings
/// as they are with non-printable bytes as `\xNN`.
fn render(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Int(i) => format!(":{i}"),
        Value::Okay => "+OK".into(),
        Value::SimpleString(s) => format!("+{s}"),
        Value::BulkString(b) => b
            .iter()
            .map(|&c| {
                if (32..127).contains(&c) && c != b'\\' {
                    (c as char).to_string()
                } else {
                    format!("\\x{c:02x}")
                }
            })
            .collect(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(render).collect::<Vec<_>>().join(",")
        ),
        other => format!("{other:?}"),
    }
}

fn run_table(c: &mut redis::Connection, table: &[(&[&str], &str)]) {
    for (args, want) in table {
        let mut cmd = redis::Cmd::new();
        for a in *args {
            cmd.arg(unesc(a));
        }
        if args[0] == "sort" && args.last() == Some(&"exp_*") {
            // Let exp_1's 1 ms TTL pass.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let got = match cmd.query::<Value>(c) {
            Ok(v) => render(&v),
            Err(e) => format!("ERR:{}", error_line(&e)),
        };
        assert_eq!(&got, want, "{args:?}");
    }
}

/// Every reply as redis-server 7.0.15 gave it, the commands run in this order on one
/// connection (sets are only sorted, or sorted on STORE, since their own order differs).
const TABLE: &[(&[&str], &str)] = &[
        (&["rpush", "l", "3", "1", "2", "10", "-1.5", "2"], ":6"),
        (&["sort", "l"], "[-1.5,1,2,2,3,10]"),
        (&["sort", "l", "desc"], "[10,3,2,2,1,-1.5]"),
        (&["sort", "l", "alpha"], "[-1.5,1,10,2,2,3]"),
        (&["sort", "l", "limit", "1", "3"], "[1,2,2]"),
        (&["sort", "l", "limit", "-1", "2"], "[-1.5,1]"),
        (&["sort", "l", "limit", "2", "-1"], "[2,2,3,10]"),
        (&["sort", "l", "limit", "10", "2"], "[]"),
        (&["sort", "l", "limit", "0", "0"], "[]"),
        (&["sort", "l", "by", "nosort"], "[3,1,2,10,-1.5,2]"),
        (&["sort", "l", "by", "nosort", "desc"], "[2,-1.5,10,2,1,3]"),
        (&["sort", "l", "by", "nosort", "limit", "1", "2"], "[1,2]"),
        (&["sort", "l", "by", "nosort", "desc", "limit", "1", "2"], "[-1.5,10]"),
        (&["sort", "l", "by", "nosort", "limit", "5", "9"], "[2]"),
        (&["sort", "l", "by", "nosort", "desc", "limit", "5", "9"], "[3]"),
        (&["mset", "w_3", "30", "w_1", "10", "w_2", "-5", "w_10", "0x10", "w_-1.5", "1e1"], "+OK"),
        (&["sort", "l", "by", "w_*"], "[2,2,-1.5,1,10,3]"),
        (&["sort", "l", "by", "w_*", "desc", "limit", "0", "3"], "[3,10,1]"),
        (&["sort", "l", "by", "w_*", "alpha"], "[2,2,10,1,-1.5,3]"),
        (&["hset", "h_1", "f", "zz", "g", "9"], ":2"),
        (&["hset", "h_2", "f", "aa", "g", "3"], ":2"),
        (&["hset", "h_3", "f", "mm"], ":1"),
        (&["sort", "l", "by", "h_*->f", "alpha"], "[10,-1.5,2,2,3,1]"),
        (&["sort", "l", "by", "h_*->g"], "[-1.5,10,3,2,2,1]"),
        (&["sort", "l", "by", "h_*->g", "get", "#", "get", "h_*->f", "get", "w_*", "get", "nostar", "get", "h_*->"], "[-1.5,nil,1e1,nil,nil,10,nil,0x10,nil,nil,3,mm,30,nil,nil,2,aa,-5,nil,nil,2,aa,-5,nil,nil,1,zz,10,nil,nil]"),
        (&["sort", "l", "get", "w_*", "get", "#"], "[1e1,-1.5,10,1,-5,2,-5,2,30,3,0x10,10]"),
        (&["rpush", "bad", "1", "x", "2"], ":3"),
        (&["sort", "bad"], "ERR:ERR One or more scores can't be converted into double"),
        (&["sort", "bad", "alpha"], "[1,2,x]"),
        (&["sort", "bad", "by", "nosort"], "[1,x,2]"),
        (&["sort", "bad", "by", "w_*"], "[2,x,1]"),
        (&["mset", "wx_1", "a"], "+OK"),
        (&["sort", "l", "by", "wx_*"], "ERR:ERR One or more scores can't be converted into double"),
        (&["sort", "l", "store", "dst"], ":6"),
        (&["lrange", "dst", "0", "-1"], "[-1.5,1,2,2,3,10]"),
        (&["sort", "l", "by", "h_*->g", "get", "h_*->f", "store", "dst2"], ":6"),
        (&["lrange", "dst2", "0", "-1"], "[,,mm,aa,aa,zz]"),
        (&["set", "dst3", "x"], "+OK"),
        (&["expire", "dst3", "100"], ":1"),
        (&["sort", "nokey", "store", "dst3"], ":0"),
        (&["exists", "dst3"], ":0"),
        (&["sort", "l", "store", "dst4", "limit", "0", "2"], ":2"),
        (&["ttl", "dst4"], ":-1"),
        (&["type", "dst4"], "+list"),
        (&["sadd", "s", "5", "3", "b", "a", "10"], ":5"),
        (&["sort", "s", "alpha"], "[10,3,5,a,b]"),
        (&["sort", "s"], "ERR:ERR One or more scores can't be converted into double"),
        (&["sort", "s", "by", "nosort", "store", "sdst"], ":5"),
        (&["lrange", "sdst", "0", "-1"], "[10,3,5,a,b]"),
        (&["sadd", "si", "5", "3", "1", "20"], ":4"),
        (&["sort", "si"], "[1,3,5,20]"),
        (&["sort", "si", "desc", "limit", "1", "2"], "[5,3]"),
        (&["zadd", "z", "3", "c", "1", "a", "2", "b", "0", "d"], ":4"),
        (&["sort", "z", "alpha"], "[a,b,c,d]"),
        (&["sort", "z", "by", "nosort"], "[d,a,b,c]"),
        (&["sort", "z", "by", "nosort", "desc"], "[c,b,a,d]"),
        (&["sort", "z", "by", "nosort", "limit", "1", "2"], "[a,b]"),
        (&["sort", "z", "by", "nosort", "desc", "limit", "1", "2"], "[b,a]"),
        (&["sort", "z", "by", "nosort", "desc", "limit", "3", "9"], "[d]"),
        (&["sort", "z"], "ERR:ERR One or more scores can't be converted into double"),
        (&["set", "str", "x"], "+OK"),
        (&["sort", "str"], "ERR:WRONGTYPE Operation against a key holding the wrong kind of value"),
        (&["sort", "str", "by", "w_*"], "ERR:WRONGTYPE Operation against a key holding the wrong kind of value"),
        (&["sort", "l", "limit", "1"], "ERR:ERR syntax error"),
        (&["sort", "l", "limit", "a", "1"], "ERR:ERR value is not an integer or out of range"),
        (&["sort", "l", "foo"], "ERR:ERR syntax error"),
        (&["sort", "l", "store"], "ERR:ERR syntax error"),
        (&["sort_ro", "l", "store", "x"], "ERR:ERR syntax error"),
        (&["sort_ro", "l", "by", "w_*", "get", "#"], "[2,2,-1.5,1,10,3]"),
        (&["sort", "nokey"], "[]"),
        (&["sort", "nokey", "by", "w_*", "get", "#"], "[]"),
        (&["sort", "l", "asc", "desc"], "[10,3,2,2,1,-1.5]"),
        (&["sort", "l", "desc", "asc"], "[-1.5,1,2,2,3,10]"),
        (&["rpush", "e", "", "1", " 2", "0x1p3", "inf", "-inf"], ":6"),
        (&["sort", "e"], "[-inf,,1, 2,0x1p3,inf]"),
        (&["rpush", "al", "B", "a", "b", "A", "ab", "a\\x00c", "a\\x00b"], ":7"),
        (&["sort", "al", "alpha"], "[A,B,a,a\\x00c,a\\x00b,ab,b]"),
        (&["sort", "al", "alpha", "desc"], "[b,ab,a,a\\x00c,a\\x00b,B,A]"),
        (&["sort", "l", "by", "w_*", "get", "w_*", "alpha"], "[-5,-5,0x10,10,1e1,30]"),
        (&["hset", "hh", "a", "1"], ":1"),
        (&["sort", "hh"], "ERR:WRONGTYPE Operation against a key holding the wrong kind of value"),
        (&["command", "getkeys", "sort", "k", "limit", "0", "1", "store", "d", "get", "store"], "[k,d]"),
        (&["command", "getkeys", "sort", "k", "by", "w_*"], "[k]"),
        (&["sort", "l", "by", "w_*", "store", "dst5"], ":6"),
        (&["lrange", "dst5", "0", "-1"], "[2,2,-1.5,1,10,3]"),
        (&["sort", "al", "alpha", "store", "ast"], ":7"),
        (&["lrange", "ast", "0", "-1"], "[A,B,a,a\\x00b,a\\x00c,ab,b]"),
        (&["sort", "al", "by", "nosort", "get", "#", "get", "al_*"], "[B,nil,a,nil,b,nil,A,nil,ab,nil,a\\x00c,nil,a\\x00b,nil]"),
        (&["rpush", "m", "1", "2", "3", "4"], ":4"),
        (&["set", "bw_1", "5"], "+OK"),
        (&["rpush", "bw_2", "x"], ":1"),
        (&["hset", "hm_3", "f", "b"], ":1"),
        (&["hset", "hm_4", "f", "a"], ":1"),
        (&["set", "hm_1", "notahash"], "+OK"),
        (&["sort", "m", "by", "bw_*"], "[2,3,4,1]"),
        (&["sort", "m", "by", "hm_*->f", "alpha"], "[1,2,4,3]"),
        (&["sort", "m", "by", "hm_*->f", "alpha", "desc"], "[3,4,1,2]"),
        (&["sort", "m", "get", "hm_*->f", "get", "bw_*"], "[nil,5,nil,nil,b,nil,a,nil]"),
        (&["sort", "m", "by", "hm_*->f", "alpha", "limit", "0", "2"], "[1,2]"),
        (&["sort", "m", "by", "missing_*", "limit", "1", "2"], "[2,3]"),
        (&["sort", "z", "by", "nosort", "store", "zd"], ":4"),
        (&["lrange", "zd", "0", "-1"], "[d,a,b,c]"),
        (&["sort_ro", "z", "by", "nosort", "desc", "get", "#", "get", "w_*"], "[c,nil,b,nil,a,nil,d,nil]"),
        (&["sort_ro", "l", "by", "w_*", "desc", "limit", "1", "3", "get", "#", "get", "w_*"], "[10,0x10,1,10,-1.5,1e1]"),
        (&["set", "exp_1", "7"], "+OK"),
        (&["pexpire", "exp_1", "1"], ":1"),
        (&["sort", "m", "by", "exp_*"], "[1,2,3,4]"),
        (&["rpush", "nn", "1e400"], ":1"),
        (&["sort", "nn"], "ERR:ERR One or more scores can't be converted into double"),
];

#[test]
fn sort_as_redis() {
    both(|s| {
        let mut c = s.conn();
        run_table(&mut c, TABLE);
    });
}

#[test]
fn store_replaces_and_logs_across_shards() {
    both(|s| {
        let mut c = s.conn();
        let n = 300;
        let items: Vec<String> = (0..n).map(|i| format!("{}", (i * 7919) % 1000)).collect();
        let mut rpush = vec!["RPUSH".to_string(), "src".into()];
        rpush.extend(items.iter().cloned());
        q(&mut c, &rpush);
        for i in &items {
            q(
                &mut c,
                &[
                    "SET",
                    &format!("weight_{i}"),
                    &format!("{}", 1000 - i.parse::<i64>().unwrap_or(0)),
                ],
            );
            q(
                &mut c,
                &["HSET", &format!("obj_{i}"), "name", &format!("n{i}")],
            );
        }
        q(&mut c, &["SET", "out", "old"]);
        q(&mut c, &["EXPIRE", "out", "100"]);
        let stored: i64 = qt(
            &mut c,
            &[
                "SORT",
                "src",
                "BY",
                "weight_*",
                "GET",
                "obj_*->name",
                "GET",
                "#",
                "STORE",
                "out",
            ],
        );
        assert_eq!(stored, 2 * n);
        assert_eq!(qt::<i64, _>(&mut c, &["TTL", "out"]), -1);
        let got: Vec<String> = qt(&mut c, &["LRANGE", "out", "0", "3"]);
        let mut sorted: Vec<i64> = items.iter().map(|i| i.parse().unwrap_or(0)).collect();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(
            got,
            [
                format!("n{}", sorted[0]),
                sorted[0].to_string(),
                format!("n{}", sorted[1]),
                sorted[1].to_string()
            ]
        );
        let direct: Vec<String> = qt(
            &mut c,
            &[
                "SORT_RO",
                "src",
                "BY",
                "weight_*",
                "GET",
                "obj_*->name",
                "GET",
                "#",
            ],
        );
        let all: Vec<String> = qt(&mut c, &["LRANGE", "out", "0", "-1"]);
        assert_eq!(direct, all);
        // An empty result deletes the destination.
        assert_eq!(
            qt::<i64, _>(
                &mut c,
                &["SORT", "nothing", "BY", "weight_*", "STORE", "out"]
            ),
            0
        );
        assert_eq!(qt::<i64, _>(&mut c, &["EXISTS", "out"]), 0);
    });
}

#[test]
fn store_survives_a_restart_through_the_aof() {
    if skip_under_redis("restarts the server under test with its own options") {
        return;
    }
    for shards in [1, 4] {
        let mut s = Server::start_with(shards, &["--appendonly", "yes"]);
        let mut c = s.conn();
        q(&mut c, &["RPUSH", "src", "3", "1", "2"]);
        q(&mut c, &["MSET", "w_1", "30", "w_2", "20", "w_3", "10"]);
        q(
            &mut c,
            &[
                "SORT", "src", "BY", "w_*", "GET", "#", "GET", "w_*", "STORE", "dst",
            ],
        );
        q(&mut c, &["SORT", "src", "STORE", "plain"]);
        drop(c);
        s.shutdown();
        let s = s
            .restart(shards, &["--appendonly", "yes"])
            .expect("restart");
        let mut c = s.conn();
        let got: Vec<String> = qt(&mut c, &["LRANGE", "dst", "0", "-1"]);
        assert_eq!(got, ["3", "10", "2", "20", "1", "30"]);
        let got: Vec<String> = qt(&mut c, &["LRANGE", "plain", "0", "-1"]);
        assert_eq!(got, ["1", "2", "3"]);
    }
}
