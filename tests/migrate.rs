//! Connections move to the shard their keys live on (src/net/migrate.rs), through a real
//! client on `--shards 4`: what moves with them, and when they stay.

mod common;

use common::*;

const SHARDS: usize = 4;

/// The shard that owns `key` (Redis Cluster's slot, in contiguous ranges over the shards), an
/// oracle written from the spec rather than shared with the server.
fn owner(key: &str) -> usize {
    let bytes = key.as_bytes();
    let tag = match bytes.iter().position(|&b| b == b'{') {
        Some(open) => match bytes[open + 1..].iter().position(|&b| b == b'}') {
            Some(0) | None => bytes,
            Some(len) => &bytes[open + 1..open + 1 + len],
        },
        None => bytes,
    };
    let mut crc: u16 = 0;
    for &b in tag {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    (crc as usize % 16384) * SHARDS / 16384
}

/// This connection's CLIENT INFO fields.
fn client_info(c: &mut redis::Connection) -> std::collections::HashMap<String, String> {
    fields(qt::<String, _>(c, &["CLIENT", "INFO"]).trim())
}

fn shard_of(c: &mut redis::Connection) -> usize {
    client_info(c)["shard"].parse().unwrap_or(usize::MAX)
}

/// A hash tag whose keys live on a shard other than `not`.
fn tag_off(not: usize) -> String {
    (0..)
        .map(|i| format!("t{i}"))
        .find(|t| owner(t) != not)
        .unwrap_or_default()
}

fn moved_in(c: &mut redis::Connection) -> u64 {
    info(c, "shards")
        .lines()
        .filter_map(|l| fields(l).get("connections_moved_in")?.parse::<u64>().ok())
        .sum()
}

/// SET `{tag}:i` to i for i in 0..n, in pipelines of 25.
fn fill(c: &mut redis::Connection, tag: &str, n: usize) {
    for start in (0..n).step_by(25) {
        let mut p = redis::pipe();
        for i in start..(start + 25).min(n) {
            p.cmd("SET").arg(format!("{{{tag}}}:{i}")).arg(i).ignore();
        }
        p.query::<()>(c).expect("pipeline");
    }
}

#[test]
fn a_connection_moves_to_its_keys_shard_with_its_state() {
    if skip_under_redis("shardis's shards") {
        return;
    }
    let s = Server::start(SHARDS);
    let mut c = s.conn();
    q(&mut c, &["CLIENT", "SETNAME", "mover"]);
    q(&mut c, &["SELECT", "5"]);
    let before = client_info(&mut c);
    let from: usize = before["shard"].parse().unwrap_or(usize::MAX);
    let tag = tag_off(from);
    fill(&mut c, &tag, 100);
    let after = client_info(&mut c);
    assert_eq!(after["shard"], owner(&tag).to_string(), "moved from {from}");
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["name"], "mover");
    assert_eq!(after["db"], "5");
    assert_eq!(moved_in(&mut c), 1);
    // Its commands run where it is now, and what it wrote is where others look.
    assert_eq!(
        qt::<String, _>(&mut c, &["GET", &format!("{{{tag}}}:7")]),
        "7"
    );
    let mut other = s.conn();
    q(&mut other, &["SELECT", "5"]);
    assert_eq!(
        qt::<String, _>(&mut other, &["GET", &format!("{{{tag}}}:99")]),
        "99"
    );
    // And it moves on from there when its keys do (within two windows of 64 commands: the
    // GET above starts one).
    let next = tag_off(owner(&tag));
    fill(&mut c, &next, 200);
    assert_eq!(shard_of(&mut c), owner(&next));
    assert_eq!(moved_in(&mut c), 2);
    assert_eq!(qt::<i64, _>(&mut c, &["DBSIZE"]), 300);
}

#[test]
fn pipelines_sent_across_moves_are_answered_in_order() {
    if skip_under_redis("shardis's shards") {
        return;
    }
    let s = Server::start(SHARDS);
    // Eight clients at once, each on keys of its own tag (spread over the shards): INCRs of one
    // counter in long pipelines, so that each move comes between two reads of them, and any
    // command lost, repeated or answered out of order shows in the replies.
    let tags: Vec<String> = (0..8).map(|i| format!("p{i}")).collect();
    std::thread::scope(|scope| {
        for tag in &tags {
            let s = &s;
            scope.spawn(move || {
                let mut c = s.conn();
                let mut next = 1;
                for _ in 0..20 {
                    let mut p = redis::pipe();
                    for _ in 0..50 {
                        p.cmd("INCR").arg(format!("{{{tag}}}:n"));
                    }
                    let got: Vec<i64> = p.query(&mut c).expect("pipeline");
                    assert_eq!(got, (next..next + 50).collect::<Vec<_>>(), "{tag}");
                    next += 50;
                }
                assert_eq!(shard_of(&mut c), owner(tag), "{tag}");
            });
        }
    });
    let mut c = s.conn();
    for tag in &tags {
        assert_eq!(
            qt::<i64, _>(&mut c, &["GET", &format!("{{{tag}}}:n")]),
            1000
        );
    }
}

#[test]
fn connections_stay_when_their_keys_are_spread_or_they_are_pinned() {
    if skip_under_redis("shardis's shards") {
        return;
    }
    let s = Server::start(SHARDS);
    // Keys on every shard.
    let mut c = s.conn();
    let from = shard_of(&mut c);
    let mut p = redis::pipe();
    for i in 0..640 {
        p.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    p.query::<()>(&mut c).expect("pipeline");
    assert_eq!(shard_of(&mut c), from);

    // WATCHing: the watch lives on this shard.
    let mut w = s.conn();
    let from = shard_of(&mut w);
    let tag = tag_off(from);
    q(&mut w, &["WATCH", &format!("{{{tag}}}:w")]);
    fill(&mut w, &tag, 100);
    assert_eq!(shard_of(&mut w), from);
    let r = exec_reply(&mut w, &[&["SET", &format!("{{{tag}}}:w"), "x"]]);
    assert_eq!(r, arr(vec![ok()]));

    // Subscribed (RESP2 allows no keyed commands then, so a RESP3 client).
    let mut sub = s.raw();
    let raw_shard = |r: &mut RawConn| -> String {
        let text = String::from_utf8_lossy(&r.roundtrip(&[b"CLIENT", b"INFO"])).to_string();
        fields(text.trim())
            .get("shard")
            .cloned()
            .unwrap_or_default()
    };
    sub.roundtrip(&[b"HELLO", b"3"]);
    let from = raw_shard(&mut sub);
    sub.roundtrip(&[b"SUBSCRIBE", b"news"]);
    let tag = tag_off(from.parse().unwrap_or(usize::MAX));
    for i in 0..100 {
        sub.send_cmd(&[b"SET", format!("{{{tag}}}:{i}").as_bytes(), b"v"]);
    }
    for _ in 0..100 {
        assert_eq!(sub.read_reply(), b"+OK\r\n");
    }
    assert_eq!(raw_shard(&mut sub), from);

    // Switched off.
    q(&mut c, &["CONFIG", "SET", "migrate-connections", "no"]);
    let mut off = s.conn();
    let from = shard_of(&mut off);
    fill(&mut off, &tag_off(from), 200);
    assert_eq!(shard_of(&mut off), from);
    assert_eq!(moved_in(&mut c), 0);
}

#[test]
fn a_connection_moves_under_appendfsync_always() {
    if skip_under_redis("shardis's shards") {
        return;
    }
    let s = Server::start_with(SHARDS, &["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = s.conn();
    // Writes on this shard first, so that its log is ahead of the shard the connection goes to.
    let here = shard_of(&mut c);
    let home = (0..)
        .map(|i| format!("h{i}"))
        .find(|t| owner(t) == here)
        .unwrap_or_default();
    let big = "x".repeat(4096);
    for i in 0..50 {
        q(&mut c, &["SET", &format!("{{{home}}}:{i}"), &big]);
    }
    let tag = tag_off(here);
    fill(&mut c, &tag, 100);
    assert_eq!(shard_of(&mut c), owner(&tag));
    // Reads only: nothing on the new shard's log for a reply to wait for.
    for i in 0..10 {
        let key = format!("{{{tag}}}:{i}");
        assert_eq!(qt::<String, _>(&mut c, &["GET", &key]), i.to_string());
    }
}

/// While a connection travels to its keys' shard, CLIENT LIST and CLIENT KILL still find it:
/// the shard it left answers for it until the new one has it. The checks run right after the
/// pipeline that makes the connection move has been answered, when the move is under way.
#[test]
fn client_list_and_kill_find_a_connection_on_its_way() {
    if skip_under_redis("shardis's shards") {
        return;
    }
    let s = Server::start(SHARDS);
    let mut w = s.conn();
    let rounds = 40;
    for round in 0..rounds {
        let mut m = s.conn();
        let id: i64 = qt(&mut m, &["CLIENT", "ID"]);
        let tag = tag_off(shard_of(&mut m));
        fill(&mut m, &tag, 25);
        let id_s = id.to_string();
        if round % 2 == 0 {
            // Listed once, though both shards may know it for a moment.
            for ask in [
                &["CLIENT", "LIST", "ID", &id_s][..],
                &["CLIENT", "LIST"][..],
            ] {
                let list: String = qt(&mut w, ask);
                let mine = format!("id={id} ");
                assert_eq!(
                    list.lines().filter(|l| l.starts_with(&mine)).count(),
                    1,
                    "round {round}: {list:?}"
                );
            }
        } else {
            let killed: i64 = qt(&mut w, &["CLIENT", "KILL", "ID", &id_s]);
            assert_eq!(killed, 1, "round {round}");
            // Caught on its way, it is closed by the shard it went to, a moment after the
            // answer.
            let closed = (0..100).any(|_| {
                let gone = redis::cmd("PING").query::<String>(&mut m).is_err();
                if !gone {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                gone
            });
            assert!(closed, "round {round}: the killed connection still answers");
        }
    }
    let moved = moved_in(&mut w);
    assert!(moved >= rounds / 2, "only {moved} connections moved");
}
