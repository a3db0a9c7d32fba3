//! Key expiration: lazy and active expiry and how commands treat TTLs.

mod common;

use common::*;
use std::time::Duration;

/// Generous deadline for anything that should happen "soon".
const DEADLINE: Duration = Duration::from_secs(3);

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after epoch")
        .as_millis() as i64
}

/// Waits until `key` no longer exists, panicking after the deadline.
fn wait_gone(c: &mut redis::Connection, key: &str) {
    let gone = wait_until(DEADLINE, || q(c, &["EXISTS", key]) == int(0));
    assert!(gone, "{key} did not expire within {DEADLINE:?}");
}

fn expired_keys_stat(c: &mut redis::Connection) -> i64 {
    let info: String = qt(c, &["INFO", "stats"]);
    info_field(&info, "expired_keys")
        .expect("INFO stats has expired_keys")
        .parse()
        .expect("expired_keys is an integer")
}

#[test]
fn lazy_expiry_on_access() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "k", "v", "PX", "50"]), ok());
        assert_eq!(q(&mut c, &["SET", "long", "v", "PX", "100000"]), ok());
        let gone = wait_until(DEADLINE, || q(&mut c, &["GET", "k"]) == nil());
        assert!(gone, "key with PX 50 still readable after {DEADLINE:?}");
        assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
        assert_eq!(q(&mut c, &["TTL", "k"]), int(-2));
        assert_eq!(q(&mut c, &["PTTL", "k"]), int(-2));
        assert_eq!(q(&mut c, &["GET", "long"]), bulk("v"));
    });
}

/// Every command treats a key whose deadline has passed as missing, even if
/// it has not been reclaimed yet.
#[test]
fn expired_keys_are_invisible_to_all_commands() {
    both(|s| {
        let mut c = s.conn();
        let deadline = (unix_ms() + 300).to_string();
        let keys = [
            "anchor", "get", "mget", "exists", "strlen", "append", "incr", "setnx", "rename",
            "getrange", "keys:1", "ttl", "getdel", "copy", "bitcount", "type", "lcs",
        ];
        for k in keys {
            assert_eq!(q(&mut c, &["SET", k, "12", "PXAT", &deadline]), ok());
        }
        assert_eq!(q(&mut c, &["SET", "keys:2", "live"]), ok());
        // Wait until the deadline has passed (the anchor reports missing).
        let passed = wait_until(DEADLINE, || q(&mut c, &["PTTL", "anchor"]) == int(-2));
        assert!(passed, "anchor did not expire within {DEADLINE:?}");
        assert_eq!(q(&mut c, &["GET", "get"]), nil());
        assert_eq!(
            q(&mut c, &["MGET", "mget", "keys:2"]),
            arr(vec![nil(), bulk("live")])
        );
        assert_eq!(q(&mut c, &["EXISTS", "exists"]), int(0));
        assert_eq!(q(&mut c, &["STRLEN", "strlen"]), int(0));
        assert_eq!(q(&mut c, &["APPEND", "append", "x"]), int(1));
        assert_eq!(q(&mut c, &["TTL", "append"]), int(-1));
        assert_eq!(q(&mut c, &["INCR", "incr"]), int(1));
        assert_eq!(q(&mut c, &["SETNX", "setnx", "new"]), int(1));
        assert_eq!(q(&mut c, &["GET", "setnx"]), bulk("new"));
        assert_eq!(qerr(&mut c, &["RENAME", "rename", "x"]), "ERR no such key");
        assert_eq!(q(&mut c, &["GETRANGE", "getrange", "0", "-1"]), bulk(""));
        assert_eq!(q(&mut c, &["KEYS", "keys:*"]), arr(vec![bulk("keys:2")]));
        assert_eq!(q(&mut c, &["TTL", "ttl"]), int(-2));
        assert_eq!(q(&mut c, &["GETDEL", "getdel"]), nil());
        assert_eq!(q(&mut c, &["COPY", "copy", "copy2"]), int(0));
        assert_eq!(q(&mut c, &["BITCOUNT", "bitcount"]), int(0));
        assert_eq!(q(&mut c, &["TYPE", "type"]), status("none"));
        assert_eq!(q(&mut c, &["LCS", "lcs", "keys:2"]), bulk(""));
        let (_, scanned): (String, Vec<String>) =
            qt(&mut c, &["SCAN", "0", "MATCH", "keys:*", "COUNT", "1000"]);
        assert_eq!(scanned, vec!["keys:2".to_string()]);
        // Only the recreated keys and keys:2 are left once reclaimed.
        let settled = wait_until(DEADLINE, || q(&mut c, &["DBSIZE"]) == int(4));
        assert!(
            settled,
            "DBSIZE never settled at 4 (append incr setnx keys:2)"
        );
    });
}

#[test]
fn active_expiry_reclaims_untouched_keys() {
    both(|s| {
        let mut c = s.conn();
        let before = expired_keys_stat(&mut c);
        let keys = spread_keys("active", 200);
        let mut pipe = redis::pipe();
        for k in &keys {
            pipe.cmd("SET").arg(k).arg("v").arg("PX").arg(100).ignore();
        }
        pipe.cmd("SET").arg("survivor").arg("v").ignore();
        pipe.query::<()>(&mut c).expect("pipelined SET PX");
        // Do not touch the keys; only DBSIZE, which does not expire keys.
        let reclaimed = wait_until(Duration::from_secs(5), || q(&mut c, &["DBSIZE"]) == int(1));
        assert!(
            reclaimed,
            "active expiry left {:?} keys after 5 s",
            q(&mut c, &["DBSIZE"])
        );
        let after = expired_keys_stat(&mut c);
        assert!(
            after >= before + 200,
            "expired_keys went from {before} to {after}, expected +200"
        );
        assert_eq!(q(&mut c, &["GET", "survivor"]), bulk("v"));
        let info: String = qt(&mut c, &["INFO", "keyspace"]);
        assert!(
            info.contains("db0:keys=1,expires=0"),
            "INFO keyspace: {info}"
        );
    });
}

/// Which commands keep and which clear a TTL. Every key gets the same short
/// TTL; after an anchor key with the same TTL (set last) is gone, the keys
/// whose TTL was kept are gone too and the others are still there.
#[test]
fn which_commands_keep_the_ttl() {
    both(|s| {
        let mut c = s.conn();
        let px = "500";
        for k in [
            "set", "keepttl", "persist", "getset", "mset", "incr", "append", "setrange",
        ] {
            assert_eq!(q(&mut c, &["SET", k, "1", "PX", px]), ok());
        }
        assert_eq!(q(&mut c, &["SET", "set", "v2"]), ok());
        assert_eq!(q(&mut c, &["TTL", "set"]), int(-1));
        assert_eq!(q(&mut c, &["SET", "keepttl", "v2", "KEEPTTL"]), ok());
        assert_eq!(q(&mut c, &["PERSIST", "persist"]), int(1));
        assert_eq!(q(&mut c, &["GETSET", "getset", "v2"]), bulk("1"));
        assert_eq!(q(&mut c, &["MSET", "mset", "v2"]), ok());
        assert_eq!(q(&mut c, &["INCR", "incr"]), int(2));
        assert_eq!(q(&mut c, &["APPEND", "append", "2"]), int(2));
        assert_eq!(q(&mut c, &["SETRANGE", "setrange", "0", "2"]), int(1));
        assert_eq!(q(&mut c, &["SET", "anchor", "v", "PX", px]), ok());
        wait_gone(&mut c, "anchor");
        for k in ["keepttl", "incr", "append", "setrange"] {
            assert_eq!(q(&mut c, &["EXISTS", k]), int(0), "{k} kept its TTL");
        }
        assert_eq!(
            q(&mut c, &["MGET", "set", "persist", "getset", "mset"]),
            arr(vec![bulk("v2"), bulk("1"), bulk("v2"), bulk("v2")])
        );
        for k in ["set", "persist", "getset", "mset"] {
            assert_eq!(q(&mut c, &["TTL", k]), int(-1), "{k} lost its TTL");
        }
    });
}

#[test]
fn rename_keeps_ttl() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "src", "v", "EX", "100"]), ok());
        assert_eq!(q(&mut c, &["RENAME", "src", "dst"]), ok());
        let t: i64 = qt(&mut c, &["TTL", "dst"]);
        assert!((99..=100).contains(&t), "ttl {t}");
        // The renamed key still expires.
        assert_eq!(q(&mut c, &["SET", "short", "v", "PX", "500"]), ok());
        assert_eq!(q(&mut c, &["RENAME", "short", "{x}renamed"]), ok());
        assert_eq!(q(&mut c, &["RENAMENX", "{x}renamed", "other"]), int(1));
        let t: i64 = qt(&mut c, &["PTTL", "other"]);
        assert!((1..=500).contains(&t), "pttl {t}");
        wait_gone(&mut c, "other");
        assert_eq!(q(&mut c, &["EXISTS", "short", "{x}renamed"]), int(0));
    });
}

#[test]
fn non_positive_expire_deletes_the_key() {
    both(|s| {
        let mut c = s.conn();
        for (i, args) in [
            &["EXPIRE", "0"][..],
            &["EXPIRE", "-10"],
            &["PEXPIRE", "0"],
            &["PEXPIRE", "-1"],
            &["EXPIREAT", "1"],
            &["PEXPIREAT", "0"],
            &["EXPIREAT", "-5"],
        ]
        .iter()
        .enumerate()
        {
            let key = format!("k{i}");
            assert_eq!(q(&mut c, &["SET", &key, "v"]), ok());
            assert_eq!(q(&mut c, &[args[0], &key, args[1]]), int(1), "{args:?}");
            assert_eq!(q(&mut c, &["EXISTS", &key]), int(0), "{args:?}");
            assert_eq!(q(&mut c, &["GET", &key]), nil(), "{args:?}");
        }
        // Deleted right away, not merely hidden.
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
        // On a missing key nothing happens.
        assert_eq!(q(&mut c, &["EXPIRE", "missing", "-1"]), int(0));
        // GT/LT conditions are checked first: a negative TTL is "less than".
        assert_eq!(q(&mut c, &["SET", "g", "v"]), ok());
        assert_eq!(q(&mut c, &["EXPIRE", "g", "-1", "GT"]), int(0));
        assert_eq!(q(&mut c, &["EXISTS", "g"]), int(1));
        assert_eq!(q(&mut c, &["EXPIRE", "g", "-1", "LT"]), int(1));
        assert_eq!(q(&mut c, &["EXISTS", "g"]), int(0));
    });
}

#[test]
fn getex_and_set_get_with_short_ttls() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "k", "v"]), ok());
        assert_eq!(q(&mut c, &["GETEX", "k", "PX", "100"]), bulk("v"));
        wait_gone(&mut c, "k");
        assert_eq!(q(&mut c, &["SET", "k2", "v", "PX", "100000"]), ok());
        assert_eq!(
            q(&mut c, &["SET", "k2", "w", "GET", "PX", "100"]),
            bulk("v")
        );
        wait_gone(&mut c, "k2");
        // An expired key can be recreated with NX.
        assert_eq!(q(&mut c, &["SET", "k2", "again", "NX"]), ok());
        assert_eq!(q(&mut c, &["TTL", "k2"]), int(-1));
    });
}

#[test]
fn expiry_in_other_databases() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SELECT", "3"]), ok());
        let keys = spread_keys("db3", 50);
        for k in &keys {
            assert_eq!(q(&mut c, &["SET", k, "v", "PX", "100"]), ok());
        }
        let reclaimed = wait_until(Duration::from_secs(5), || q(&mut c, &["DBSIZE"]) == int(0));
        assert!(reclaimed, "keys in db 3 were not reclaimed");
        assert_eq!(q(&mut c, &["SELECT", "0"]), ok());
        assert_eq!(q(&mut c, &["DBSIZE"]), int(0));
    });
}
