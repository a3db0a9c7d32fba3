//! Sorted sets in both encodings (packed listpack, large tree) against a model, through the
//! real server: many score updates with ties, removals and pops, then every read path (ranks,
//! ranges both ways, score and lex bounds, ZSCAN, ZRANDMEMBER, DUMP/RESTORE) and a set
//! operation across shards.

mod common;

use common::*;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Member → score, with the order every range command observes.
#[derive(Default)]
struct Model(HashMap<String, i64>);

impl Model {
    fn ordered(&self) -> Vec<(String, i64)> {
        let mut v: Vec<_> = self.0.iter().map(|(m, s)| (m.clone(), *s)).collect();
        v.sort_by(|a, b| {
            a.1.cmp(&b.1)
                .then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
        });
        v
    }
}

fn strs(c: &mut redis::Connection, args: &[String]) -> Vec<String> {
    qt(c, args)
}

fn a(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn with_scores(items: &[(String, i64)]) -> Vec<String> {
    items
        .iter()
        .flat_map(|(m, s)| [m.clone(), s.to_string()])
        .collect()
}

/// Apply random ZADD/ZINCRBY/ZREM/ZPOPMIN/ZPOPMAX to `key` and the model.
fn churn(c: &mut redis::Connection, key: &str, m: &mut Model, rng: &mut fastrand::Rng, ops: usize) {
    for _ in 0..ops {
        let member = format!("element:{:05}", rng.u32(..4000));
        match rng.u32(..10) {
            0..=5 => {
                // Few distinct scores: many ties, decided by the member bytes.
                let s = rng.i64(-50..50);
                let added: i64 = qt(c, &["ZADD", key, &s.to_string(), &member]);
                assert_eq!(added == 1, m.0.insert(member, s).is_none());
            }
            6 => {
                let by = rng.i64(-3..4);
                let got: String = qt(c, &["ZINCRBY", key, &by.to_string(), &member]);
                let s = m.0.entry(member).or_insert(0);
                *s += by;
                assert_eq!(got, s.to_string());
            }
            7 => {
                let n: i64 = qt(c, &["ZREM", key, &member]);
                assert_eq!(n == 1, m.0.remove(&member).is_some());
            }
            8 => {
                let got: Vec<String> = qt(c, &["ZPOPMIN", key]);
                let want = m.ordered().into_iter().next();
                if let Some((w, _)) = &want {
                    m.0.remove(w);
                }
                assert_eq!(got, want.map(|x| with_scores(&[x])).unwrap_or_default());
            }
            _ => {
                let got: Vec<String> = qt(c, &["ZPOPMAX", key, "2"]);
                let mut want = m.ordered();
                want.reverse();
                want.truncate(2);
                for (w, _) in &want {
                    m.0.remove(w);
                }
                assert_eq!(got, with_scores(&want));
            }
        }
    }
}

/// Every read path agrees with the model.
fn compare(c: &mut redis::Connection, key: &str, m: &Model, rng: &mut fastrand::Rng) {
    let order = m.ordered();
    let n = order.len();
    let card: usize = qt(c, &["ZCARD", key]);
    assert_eq!(card, n);
    assert_eq!(
        strs(c, &a(&["ZRANGE", key, "0", "-1", "WITHSCORES"])),
        with_scores(&order)
    );
    let mut rev = order.clone();
    rev.reverse();
    assert_eq!(
        strs(c, &a(&["ZREVRANGE", key, "0", "-1", "WITHSCORES"])),
        with_scores(&rev)
    );
    for _ in 0..50 {
        let i = rng.usize(..n.max(1));
        if let Some((mem, _)) = order.get(i) {
            let r: usize = qt(c, &["ZRANK", key, mem]);
            assert_eq!(r, i);
            let r: usize = qt(c, &["ZREVRANK", key, mem]);
            assert_eq!(r, n - 1 - i);
        }
        let (x, y) = (rng.usize(..n + 2), rng.usize(..n + 2));
        let want: Vec<String> = order
            .iter()
            .skip(x)
            .take((y + 1).saturating_sub(x))
            .map(|(m, _)| m.clone())
            .collect();
        assert_eq!(
            strs(c, &a(&["ZRANGE", key, &x.to_string(), &y.to_string()])),
            want
        );
        let (lo, hi) = (rng.i64(-60..60), rng.i64(-60..60));
        let want: Vec<String> = order
            .iter()
            .filter(|(_, s)| lo < *s && *s <= hi)
            .map(|(m, _)| m.clone())
            .collect();
        let min = format!("({lo}");
        assert_eq!(
            strs(c, &a(&["ZRANGEBYSCORE", key, &min, &hi.to_string()])),
            want
        );
        let cnt: usize = qt(c, &["ZCOUNT", key, &min, &hi.to_string()]);
        assert_eq!(cnt, want.len());
        let mut w = want.clone();
        w.reverse();
        assert_eq!(
            strs(c, &a(&["ZREVRANGEBYSCORE", key, &hi.to_string(), &min])),
            w
        );
    }
    // ZSCAN returns every member (a member may come twice, none may be missing).
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, items): (String, Vec<String>) = qt(c, &["ZSCAN", key, &cursor, "COUNT", "37"]);
        for pair in items.chunks(2) {
            assert_eq!(
                m.0.get(&pair[0]).map(|s| s.to_string()),
                Some(pair[1].clone())
            );
            seen.insert(pair[0].clone());
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), n);
    // ZRANDMEMBER: members of the set, distinct for a positive count.
    let got: Vec<String> = qt(c, &["ZRANDMEMBER", key, "-40"]);
    assert!(got.iter().all(|x| m.0.contains_key(x)));
    let got: Vec<String> = qt(c, &["ZRANDMEMBER", key, "25"]);
    assert_eq!(got.len(), 25.min(n));
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len());
    assert!(got.iter().all(|x| m.0.contains_key(x)));
}

#[test]
fn large_sets_match_a_model() {
    both(|s| {
        let mut c = s.conn();
        let mut rng = fastrand::Rng::with_seed(11);
        let mut m = Model::default();
        let mut args = a(&["ZADD", "big"]);
        for i in 0..3000 {
            let (mem, sc) = (format!("element:{i:05}"), rng.i64(-50..50));
            args.push(sc.to_string());
            args.push(mem.clone());
            m.0.insert(mem, sc);
        }
        let _: i64 = qt(&mut c, &args);
        let e: String = qt(&mut c, &["OBJECT", "ENCODING", "big"]);
        assert_eq!(e, "skiplist");
        churn(&mut c, "big", &mut m, &mut rng, 6000);
        compare(&mut c, "big", &m, &mut rng);

        // Lex ranges over one score.
        let mut lex = BTreeSet::new();
        let mut args = a(&["ZADD", "lex"]);
        for _ in 0..500 {
            let mem = format!("{:x}", rng.u32(..100_000));
            args.push("0".into());
            args.push(mem.clone());
            lex.insert(mem);
        }
        let _: i64 = qt(&mut c, &args);
        for _ in 0..30 {
            let (lo, hi) = (
                format!("{:x}", rng.u32(..100_000)),
                format!("{:x}", rng.u32(..100_000)),
            );
            let want: Vec<String> = lex
                .iter()
                .filter(|x| x.as_str() >= lo.as_str() && x.as_str() < hi.as_str())
                .cloned()
                .collect();
            let got = strs(
                &mut c,
                &a(&["ZRANGEBYLEX", "lex", &format!("[{lo}"), &format!("({hi}")]),
            );
            assert_eq!(got, want);
            let n: usize = qt(
                &mut c,
                &["ZLEXCOUNT", "lex", &format!("[{lo}"), &format!("({hi}")],
            );
            assert_eq!(n, want.len());
        }

        // A set operation with a set on another shard (cross-shard with --shards 4).
        let mut other = Model::default();
        let mut args = a(&["ZADD", "other"]);
        for i in (0..4000).step_by(7) {
            let mem = format!("element:{i:05}");
            args.push("1".into());
            args.push(mem.clone());
            other.0.insert(mem, 1);
        }
        let _: i64 = qt(&mut c, &args);
        let n: usize = qt(&mut c, &["ZUNIONSTORE", "u", "2", "big", "other"]);
        let mut union = Model(m.0.clone());
        for (k, v) in &other.0 {
            *union.0.entry(k.clone()).or_insert(0) += v;
        }
        assert_eq!(n, union.0.len());
        compare(&mut c, "u", &union, &mut rng);

        // DUMP / RESTORE keeps the content.
        let dump: Vec<u8> = qt(&mut c, &["DUMP", "big"]);
        let _: () = redis::cmd("RESTORE")
            .arg("big2")
            .arg(0)
            .arg(dump)
            .query(&mut c)
            .expect("RESTORE");
        compare(&mut c, "big2", &m, &mut rng);

        // Removal by rank from the middle, then everything by score: the key goes.
        let gone: usize = qt(&mut c, &["ZREMRANGEBYRANK", "big", "100", "1099"]);
        let order = m.ordered();
        assert_eq!(gone, 1000.min(order.len().saturating_sub(100)));
        for (k, _) in order.iter().skip(100).take(1000) {
            m.0.remove(k);
        }
        compare(&mut c, "big", &m, &mut rng);
        let gone: usize = qt(&mut c, &["ZREMRANGEBYSCORE", "big", "-inf", "+inf"]);
        assert_eq!(gone, m.0.len());
        assert_eq!(q(&mut c, &["EXISTS", "big"]), int(0));
    });
}

#[test]
fn small_sets_are_packed_and_convert() {
    both(|s| {
        let mut c = s.conn();
        let mut rng = fastrand::Rng::with_seed(5);
        let mut m = Model::default();
        let mut args = a(&["ZADD", "small"]);
        for i in 0..100 {
            let mem = format!("m{i}");
            let sc = rng.i64(-5..5);
            args.push(sc.to_string());
            args.push(mem.clone());
            m.0.insert(mem, sc);
        }
        let _: i64 = qt(&mut c, &args);
        let e: String = qt(&mut c, &["OBJECT", "ENCODING", "small"]);
        assert_eq!(e, "listpack");
        compare(&mut c, "small", &m, &mut rng);

        // Scores of every kind survive the packed form and the conversion.
        let _: i64 = qt(
            &mut c,
            &[
                "ZADD",
                "kinds",
                "-0",
                "a",
                "1.5",
                "b",
                "inf",
                "c",
                "-inf",
                "d",
                "9007199254740993",
                "e",
                "1e300",
                "f",
                "-2.5e-300",
                "g",
                "-7",
                "h",
            ],
        );
        let want = a(&[
            "d",
            "-inf",
            "h",
            "-7",
            "g",
            "-2.5e-300",
            "a",
            "0",
            "b",
            "1.5",
            "e",
            "9007199254740992",
            "f",
            "1.0000000000000001e+300",
            "c",
            "inf",
        ]);
        assert_eq!(
            strs(&mut c, &a(&["ZRANGE", "kinds", "0", "-1", "WITHSCORES"])),
            want
        );
        let long = "x".repeat(65);
        let _: i64 = qt(&mut c, &["ZADD", "kinds", "3", &long]);
        let e: String = qt(&mut c, &["OBJECT", "ENCODING", "kinds"]);
        assert_eq!(e, "skiplist");
        let mut want2 = want.clone();
        want2.splice(10..10, [long.clone(), "3".to_string()]);
        assert_eq!(
            strs(&mut c, &a(&["ZRANGE", "kinds", "0", "-1", "WITHSCORES"])),
            want2
        );

        // Past 128 members the set converts and keeps its content.
        let mut args = a(&["ZADD", "small"]);
        for i in 100..200 {
            let mem = format!("m{i}");
            args.push(i.to_string());
            args.push(mem.clone());
            m.0.insert(mem, i);
        }
        let _: i64 = qt(&mut c, &args);
        let e: String = qt(&mut c, &["OBJECT", "ENCODING", "small"]);
        assert_eq!(e, "skiplist");
        compare(&mut c, "small", &m, &mut rng);
    });
}
