//! Model-based property test: random sequences of string commands are run
//! against the server and against a tiny in-memory model of Redis 7.0.15
//! string semantics; every reply must match.

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use redis::Value;
use std::collections::HashMap;

const KEYS: &[&str] = &["a", "b", "{t}c", "key:with:colons", "\u{0}\r\n", "k5"];

#[derive(Debug, Clone)]
enum Op {
    Set(usize, Vec<u8>),
    SetNx(usize, Vec<u8>),
    GetSet(usize, Vec<u8>),
    Get(usize),
    GetDel(usize),
    Append(usize, Vec<u8>),
    SetRange(usize, usize, Vec<u8>),
    GetRange(usize, i64, i64),
    Strlen(usize),
    Del(usize),
    Exists(usize),
    IncrBy(usize, i64),
    MGet(Vec<usize>),
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(
            prop_oneof![
                Just(b'0'),
                Just(b'7'),
                Just(b'-'),
                Just(b'a'),
                Just(b' '),
                Just(0u8),
                Just(b'\r'),
                Just(b'\n'),
                Just(0xffu8),
            ],
            0..8
        ),
        (-1000i64..1000).prop_map(|n| n.to_string().into_bytes()),
        prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(i64::MAX - 1)]
            .prop_map(|n| n.to_string().into_bytes()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0..KEYS.len();
    prop_oneof![
        (k.clone(), value()).prop_map(|(k, v)| Op::Set(k, v)),
        (k.clone(), value()).prop_map(|(k, v)| Op::SetNx(k, v)),
        (k.clone(), value()).prop_map(|(k, v)| Op::GetSet(k, v)),
        k.clone().prop_map(Op::Get),
        k.clone().prop_map(Op::GetDel),
        (k.clone(), value()).prop_map(|(k, v)| Op::Append(k, v)),
        (k.clone(), 0usize..24, value()).prop_map(|(k, o, v)| Op::SetRange(k, o, v)),
        (k.clone(), -30i64..30, -30i64..30).prop_map(|(k, s, e)| Op::GetRange(k, s, e)),
        k.clone().prop_map(Op::Strlen),
        k.clone().prop_map(Op::Del),
        k.clone().prop_map(Op::Exists),
        (
            k.clone(),
            prop_oneof![-50i64..50, Just(i64::MAX), Just(i64::MIN), Just(1i64 << 62)]
        )
            .prop_map(|(k, d)| Op::IncrBy(k, d)),
        proptest::collection::vec(k, 1..5).prop_map(Op::MGet),
    ]
}

/// Redis `string2ll`: only the canonical decimal form is an integer.
fn as_int(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

fn getrange(v: &[u8], mut start: i64, mut end: i64) -> Vec<u8> {
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Vec::new();
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Vec::new();
    }
    v[start as usize..=end as usize].to_vec()
}

/// Applies `op` to the model; returns the expected reply (Err = error line).
fn apply(model: &mut HashMap<usize, Vec<u8>>, op: &Op) -> Result<Value, String> {
    let opt = |v: Option<Vec<u8>>| v.map(Value::BulkString).unwrap_or(Value::Nil);
    Ok(match op {
        Op::Set(k, v) => {
            model.insert(*k, v.clone());
            Value::Okay
        }
        Op::SetNx(k, v) => {
            if model.contains_key(k) {
                Value::Int(0)
            } else {
                model.insert(*k, v.clone());
                Value::Int(1)
            }
        }
        Op::GetSet(k, v) => opt(model.insert(*k, v.clone())),
        Op::Get(k) => opt(model.get(k).cloned()),
        Op::GetDel(k) => opt(model.remove(k)),
        Op::Append(k, v) => {
            let cur = model.entry(*k).or_default();
            cur.extend_from_slice(v);
            Value::Int(cur.len() as i64)
        }
        Op::SetRange(k, off, v) => {
            if v.is_empty() {
                Value::Int(model.get(k).map_or(0, |c| c.len() as i64))
            } else {
                let cur = model.entry(*k).or_default();
                if cur.len() < off + v.len() {
                    cur.resize(off + v.len(), 0);
                }
                cur[*off..off + v.len()].copy_from_slice(v);
                Value::Int(cur.len() as i64)
            }
        }
        Op::GetRange(k, s, e) => {
            Value::BulkString(getrange(model.get(k).map_or(&[][..], |v| v), *s, *e))
        }
        Op::Strlen(k) => Value::Int(model.get(k).map_or(0, |v| v.len() as i64)),
        Op::Del(k) => Value::Int(model.remove(k).is_some() as i64),
        Op::Exists(k) => Value::Int(model.contains_key(k) as i64),
        Op::IncrBy(k, d) => {
            let cur = match model.get(k) {
                None => 0,
                Some(v) => match as_int(v) {
                    Some(n) => n,
                    None => return Err("ERR value is not an integer or out of range".into()),
                },
            };
            match cur.checked_add(*d) {
                Some(n) => {
                    model.insert(*k, n.to_string().into_bytes());
                    Value::Int(n)
                }
                None => return Err("ERR increment or decrement would overflow".into()),
            }
        }
        Op::MGet(ks) => Value::Array(ks.iter().map(|k| opt(model.get(k).cloned())).collect()),
    })
}

fn to_cmd(op: &Op) -> redis::Cmd {
    let key = |k: &usize| KEYS[*k].as_bytes();
    let mut c;
    match op {
        Op::Set(k, v) => {
            c = redis::cmd("SET");
            c.arg(key(k)).arg(v.as_slice());
        }
        Op::SetNx(k, v) => {
            c = redis::cmd("SETNX");
            c.arg(key(k)).arg(v.as_slice());
        }
        Op::GetSet(k, v) => {
            c = redis::cmd("GETSET");
            c.arg(key(k)).arg(v.as_slice());
        }
        Op::Get(k) => {
            c = redis::cmd("GET");
            c.arg(key(k));
        }
        Op::GetDel(k) => {
            c = redis::cmd("GETDEL");
            c.arg(key(k));
        }
        Op::Append(k, v) => {
            c = redis::cmd("APPEND");
            c.arg(key(k)).arg(v.as_slice());
        }
        Op::SetRange(k, off, v) => {
            c = redis::cmd("SETRANGE");
            c.arg(key(k)).arg(*off).arg(v.as_slice());
        }
        Op::GetRange(k, s, e) => {
            c = redis::cmd("GETRANGE");
            c.arg(key(k)).arg(*s).arg(*e);
        }
        Op::Strlen(k) => {
            c = redis::cmd("STRLEN");
            c.arg(key(k));
        }
        Op::Del(k) => {
            c = redis::cmd("DEL");
            c.arg(key(k));
        }
        Op::Exists(k) => {
            c = redis::cmd("EXISTS");
            c.arg(key(k));
        }
        Op::IncrBy(k, d) => {
            c = redis::cmd("INCRBY");
            c.arg(key(k)).arg(*d);
        }
        Op::MGet(ks) => {
            c = redis::cmd("MGET");
            for k in ks {
                c.arg(key(k));
            }
        }
    }
    c
}

#[test]
fn string_commands_match_model() {
    both(|s| {
        let con = std::cell::RefCell::new(s.conn());
        let mut runner = TestRunner::new(Config {
            cases: 48,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
            let mut con = con.borrow_mut();
            let con = &mut *con;
            let flushed = q(con, &["FLUSHALL"]);
            prop_assert_eq!(flushed, ok());
            let mut model = HashMap::new();
            for (i, op) in ops.iter().enumerate() {
                let expected = apply(&mut model, op);
                let got = to_cmd(op).query::<Value>(con).map_err(|e| error_line(&e));
                if got != expected {
                    return Err(TestCaseError::fail(format!(
                        "step {i} {op:?}: server replied {got:?}, model expects {expected:?}"
                    )));
                }
            }
            // Final state matches too.
            for (k, name) in KEYS.iter().enumerate() {
                let got: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(name.as_bytes())
                    .query(con)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(got.as_ref(), model.get(&k), "final value of {:?}", name);
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("model mismatch (shards={}): {e}", s.shards());
        }
    });
}
