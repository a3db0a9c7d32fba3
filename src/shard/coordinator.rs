//! Commands whose keys live on several shards.
//!
//! Each part runs on its owning shard, in as many hops as the command needs, while the command
//! holds intent locks on all its keys (locks.rs): no other client observes the in-between state
//! (MSET half applied, RENAME with the key briefly on neither side).

use super::Shard;
use crate::commands::set::{self as sets, Op as SetOp};
use crate::commands::{args, list, CommandSpec, Handler, Kind, Merge};
use crate::protocol::reply::Reply;
use crate::routing;
use crate::store::{Entry, Value};
use bytes::Bytes;
use std::rc::Rc;

const GONE: &str = "ERR shard unavailable (shutting down)";

/// Run a command whose keys span shards, atomically: its keys are locked on their shards first
/// (see locks.rs) and released once every part has run.
pub async fn run(
    shard: &Rc<Shard>,
    db: usize,
    spec: &'static CommandSpec,
    args: &[Bytes],
) -> Reply {
    if let Kind::Split(h, merge) = spec.kind {
        if !shard.aof_always.get() {
            return split_in_one_pass(shard, db, spec, h, merge, args).await;
        }
    }
    let mut parts = super::locks::plan(shard.n, db, spec, args);
    let write = spec.is_write();
    // A write's shards serve their blocked clients after it, not between its steps (as after
    // EXEC): a BLMOVE woken between RENAMENX's look at the destination and its write there
    // would have its element overwritten.
    for p in parts.iter_mut().filter(|_| write) {
        p.1.hold_ready = true;
    }
    let touch = super::locks::Touch::of(spec, args);
    let Some(guard) = super::locks::acquire(shard, parts, touch, write).await else {
        return Reply::err(GONE);
    };
    let reply = run_locked(shard, db, spec, args).await;
    guard.commit().await;
    reply
}

/// The parts of a multi-shard command, run by a caller that holds its locks (`run`, EXEC).
pub async fn run_locked(
    shard: &Rc<Shard>,
    db: usize,
    spec: &'static CommandSpec,
    args: &[Bytes],
) -> Reply {
    match spec.kind {
        Kind::Split(h, merge) => split(shard, db, spec, h, merge, args).await,
        Kind::Coordinated(h) => match spec.name {
            "rename" => rename(shard, db, args, false).await,
            "renamenx" => rename(shard, db, args, true).await,
            "copy" => copy(shard, db, args).await,
            "msetnx" => msetnx(shard, db, spec, h, args).await,
            "lcs" => lcs(shard, db, args).await,
            "bitop" => bitop(shard, db, spec, args).await,
            "lmove" => match (list::parse_end(&args[3]), list::parse_end(&args[4])) {
                (Ok(from), Ok(to)) => lmove(shard, db, args, from, to).await,
                (Err(e), _) | (_, Err(e)) => e,
            },
            "rpoplpush" => lmove(shard, db, args, list::End::Right, list::End::Left).await,
            "lmpop" => lmpop(shard, db, h, args).await,
            "smove" => smove(shard, db, args).await,
            "sinter" => set_algebra(shard, db, args, SetOp::Inter, false).await,
            "sunion" => set_algebra(shard, db, args, SetOp::Union, false).await,
            "sdiff" => set_algebra(shard, db, args, SetOp::Diff, false).await,
            "sinterstore" => set_algebra(shard, db, args, SetOp::Inter, true).await,
            "sunionstore" => set_algebra(shard, db, args, SetOp::Union, true).await,
            "sdiffstore" => set_algebra(shard, db, args, SetOp::Diff, true).await,
            "sintercard" => sintercard(shard, db, args).await,
            "zunion" | "zinter" | "zdiff" | "zunionstore" | "zinterstore" | "zdiffstore"
            | "zintercard" => zset_setop(shard, db, spec, args).await,
            "zrangestore" => zset_rangestore(shard, db, args).await,
            "zmpop" => zset_mpop(shard, db, args).await,
            "pfcount" => pfcount(shard, db, args).await,
            "pfmerge" => pfmerge(shard, db, args).await,
            "sort" | "sort_ro" => sort(shard, db, spec, args).await,
            "xread" | "xreadgroup" => xread(shard, db, args).await,
            // Geo stores (see the geo section at the end).
            "geosearchstore" | "georadius" | "georadiusbymember" => {
                geo_search_store(shard, db, spec, args).await
            }
            _ => Reply::err("CROSSSLOT Keys in request don't hash to the same slot"),
        },
        _ => Reply::err("ERR internal routing error"),
    }
}

/// Run `h` on one shard's store, outside the stats (the whole command is counted once).
async fn on_shard(
    shard: &Rc<Shard>,
    target: usize,
    db: usize,
    h: Handler,
    sub: Vec<Bytes>,
) -> Reply {
    shard
        .call(target, move |sh| {
            super::run_guarded("multi-shard part", || {
                let write = crate::commands::lookup(&sub[0]).is_some_and(|s| s.is_write());
                let now = crate::util::now_ms();
                sh.store.borrow_mut().run_logged(db, now, write, h, &sub)
            })
        })
        .await
        .unwrap_or_else(|| Reply::err(GONE))
}

/// Per shard: the sub-command and the positions (in key order) of its keys. Err: the arity
/// error of a key without its value (MSET a 1 b), before any shard is touched.
pub type Parts = Vec<(usize, Vec<Bytes>, Vec<usize>)>;

pub fn split_parts(
    shard: &Shard,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Result<(Parts, usize), Reply> {
    let step = spec.keys.step.max(1) as usize;
    if step > 1 && !(args.len() - spec.keys.first.max(1) as usize).is_multiple_of(step) {
        return Err(Reply::arity(spec.name));
    }
    // Owners first, so that each part's vectors are allocated once at their size.
    let owned: Vec<(usize, usize)> = spec
        .key_indexes(args)
        .into_iter()
        .map(|i| (i, routing::key_shard(&args[i], shard.n)))
        .collect();
    let mut parts: Parts = Vec::new();
    for (pos, &(i, owner)) in owned.iter().enumerate() {
        let part = match parts.iter_mut().position(|p| p.0 == owner) {
            Some(p) => &mut parts[p],
            None => {
                let keys = owned.iter().filter(|o| o.1 == owner).count();
                let mut sub = Vec::with_capacity(1 + keys * step);
                sub.push(args[0].clone());
                parts.push((owner, sub, Vec::with_capacity(keys)));
                let last = parts.len() - 1;
                &mut parts[last]
            }
        };
        part.1
            .extend(args[i..(i + step).min(args.len())].iter().cloned());
        part.2.push(pos);
    }
    let total = parts.iter().map(|p| p.2.len()).sum();
    Ok((parts, total))
}

/// Split a command of independent keys into one command per shard and merge the replies
/// (its locks held by the caller).
async fn split(
    shard: &Rc<Shard>,
    db: usize,
    spec: &'static CommandSpec,
    h: Handler,
    merge: Merge,
    args: &[Bytes],
) -> Reply {
    let (parts, total) = match split_parts(shard, spec, args) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let calls = parts.into_iter().map(|(owner, sub, positions)| async move {
        (on_shard(shard, owner, db, h, sub).await, positions)
    });
    let results = futures::future::join_all(calls).await;
    merge_replies(merge, results, total)
}

/// A split command (MSET, MGET, DEL …) atomically in one message per shard (`one_pass`).
async fn split_in_one_pass(
    shard: &Rc<Shard>,
    db: usize,
    spec: &'static CommandSpec,
    h: Handler,
    merge: Merge,
    args: &[Bytes],
) -> Reply {
    let (parts, total) = match split_parts(shard, spec, args) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut positions = Vec::with_capacity(parts.len());
    let steps = parts
        .into_iter()
        .map(|(owner, sub, pos)| {
            positions.push((owner, pos));
            let step = Step {
                db,
                spec,
                handler: h,
                args: sub,
                whole: false,
            };
            (owner, vec![step])
        })
        .collect();
    let Some(done) = one_pass(shard, steps, None).await else {
        return Reply::err(GONE);
    };
    let mut results = Vec::with_capacity(done.len());
    for (owner, replies) in done {
        let pos = positions
            .iter_mut()
            .find(|p| p.0 == owner)
            .map(|p| std::mem::take(&mut p.1))
            .unwrap_or_default();
        results.extend(replies.into_iter().map(|r| (r, pos.clone())));
    }
    merge_replies(merge, results, total)
}

/// One piece of a locked pass (`one_pass`) on one shard.
pub struct Step {
    pub db: usize,
    pub spec: &'static CommandSpec,
    pub handler: Handler,
    pub args: Vec<Bytes>,
    /// A whole command, run as the one-shard path runs it (`Shard::exec`: counted, OOM and
    /// MISCONF checked, WATCH touched); else one shard's part of a split command, whose
    /// coordinator counts the whole.
    pub whole: bool,
}

/// Run each shard's steps, in order, as one atomic unit, in one message per shard: the shards
/// are visited in ascending order (the lock order); each but the last locks the keys of its
/// steps and runs them, keeping the locks; the last locks, runs and releases in one step; then
/// the others release. Nobody sees a partial effect: what already ran stays locked (readers
/// wait) until the last shard has run. The unit is a split command (MSET across shards), or a
/// stretch of a pipeline holding such commands (`net/dispatch.rs`): run back to back with no
/// other client in between is a serial order Redis could have produced too, at a hop per shard
/// instead of a hop per shard per command. Not under `appendfsync always`, whose releases wait
/// for every shard's TXDONE to be synced (`run`).
///
/// The replies, per shard in ascending order; None if a shard is gone (shutdown).
pub async fn one_pass(
    shard: &Rc<Shard>,
    mut parts: Vec<(usize, Vec<Step>)>,
    tag: Option<std::sync::Arc<crate::observe::ClientTag>>,
) -> Option<Vec<(usize, Vec<Reply>)>> {
    use super::locks;
    parts.sort_by_key(|p| p.0);
    let write = parts.iter().flat_map(|p| &p.1).any(|s| s.spec.is_write());
    let mark = (write && parts.len() > 1 && shard.store.borrow().feed.on).then(|| {
        crate::persistence::feed::TxMark {
            id: shard
                .global
                .next_tx
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            parts: parts.len() as u32,
        }
    });
    let n = parts.len();
    // Released when dropped, also if a shard is gone half-way. WATCH is told on each shard as
    // its steps run (`run_steps`), so the release touches nothing more.
    let mut guard = locks::Guard::held(shard, Vec::new(), locks::Touch::Nothing, mark);
    let mut results = Vec::with_capacity(n);
    for (i, (owner, steps)) in parts.into_iter().enumerate() {
        let last = i + 1 == n;
        let mut want = locks::Want {
            tx: mark,
            ..Default::default()
        };
        for s in &steps {
            want.exclusive |= s.spec.is_write();
            let keys = s.spec.key_indexes(&s.args).into_iter();
            let keys = keys.filter_map(|i| s.args.get(i));
            // An AOF bracket needs the keys; otherwise their hashes do (`Want::hashed`).
            if mark.is_some() {
                want.keys.extend(keys.map(|k| (s.db, k.clone())));
            } else {
                want.hashed.extend(keys.map(|k| locks::key_hash(s.db, k)));
            }
        }
        // The guard keeps a copy of what the shards but the last hold, to release it.
        let w = if last {
            std::mem::take(&mut want)
        } else {
            want.clone()
        };
        let tag = tag.clone();
        let r = shard
            .call_deferred(owner, move |sh, answer| {
                // A copy to wait with only when some lock is held or wanted here.
                let ask = (!sh.locks.borrow().idle()).then(|| w.clone());
                let job = move |sh: &Rc<Shard>| {
                    if !last {
                        locks::take(sh, &w);
                    } else if let Some(m) = w.tx {
                        sh.store.borrow_mut().feed.mark(m, &w.keys, false);
                    }
                    // The slow log names the client that sent these, not this shard's.
                    let prev = tag.map(|t| sh.observe.set_client(Some(t)));
                    let replies = run_steps(sh, &steps);
                    if let Some(prev) = prev {
                        sh.observe.set_client(prev);
                    }
                    if last {
                        if let Some(m) = w.tx {
                            let mut st = sh.store.borrow_mut();
                            st.feed.tx_done(m);
                            st.feed.unmark(m, &w.keys, false);
                        }
                    }
                    answer.send(sh, replies);
                };
                match ask {
                    None => job(sh),
                    Some(ask) => locks::run_when_free(sh, || ask, Box::new(job)),
                }
            })
            .await;
        let replies = r?;
        if !last {
            guard.push(owner, want);
        }
        results.push((owner, replies));
    }
    drop(guard);
    Some(results)
}

/// One shard's steps, in order. A part of a split command that wrote (the shard's write
/// counter moved) touches the keys it may write for WATCH, as the one-shard path does
/// (`Shard::exec`, which runs the whole commands).
fn run_steps(sh: &Shard, steps: &[Step]) -> Vec<Reply> {
    let now = crate::util::now_ms();
    steps
        .iter()
        .map(|s| {
            if s.whole {
                return sh.exec(s.db, s.spec, s.handler, &s.args, now);
            }
            let write = s.spec.is_write();
            let before = sh.store.borrow().dirty;
            let r = super::run_guarded("multi-shard part", || {
                sh.store
                    .borrow_mut()
                    .run_logged(s.db, now, write, s.handler, &s.args)
            });
            let mut st = sh.store.borrow_mut();
            if write && st.dirty != before {
                super::touch_written(&mut st, s.db, s.spec, &s.args, None);
            }
            r
        })
        .collect()
}

pub fn merge_replies(merge: Merge, results: Vec<(Reply, Vec<usize>)>, total: usize) -> Reply {
    match merge {
        Merge::SumInt => {
            let mut sum = 0;
            for (r, _) in results {
                match r {
                    Reply::Int(n) => sum += n,
                    other => return other,
                }
            }
            Reply::Int(sum)
        }
        Merge::AllOk => results
            .into_iter()
            .map(|(r, _)| r)
            .find(|r| r.is_error())
            .unwrap_or_else(Reply::ok),
        Merge::PerKey => {
            let mut out = vec![Reply::Nil; total];
            for (r, positions) in results {
                match r {
                    Reply::Array(items) => {
                        for (item, pos) in items.into_iter().zip(positions) {
                            out[pos] = item;
                        }
                    }
                    other => return other,
                }
            }
            Reply::Array(out)
        }
    }
}

/// Take (`remove`) or copy an entry from its owner, checking expiry first.
async fn fetch_entry(
    shard: &Rc<Shard>,
    db: usize,
    key: Bytes,
    remove: bool,
) -> Option<Option<Entry>> {
    let owner = routing::key_shard(&key, shard.n);
    shard
        .call(owner, move |sh| {
            let mut st = sh.store.borrow_mut();
            let mut ctx = st.ctx(db);
            if remove {
                ctx.expire_if_needed(&key);
                let e = ctx.db().remove(&key);
                if e.is_some() {
                    ctx.store.dirty += 1;
                    ctx.store.feed.record(db, &[b"DEL", &key[..]]);
                }
                e
            } else {
                ctx.lookup(&key).cloned()
            }
        })
        .await
}

/// Store an entry at its owner. With `only_if_absent`, leaves an existing key alone and
/// returns false.
async fn put_entry(
    shard: &Rc<Shard>,
    db: usize,
    key: Bytes,
    entry: Entry,
    only_if_absent: bool,
) -> Option<bool> {
    let owner = routing::key_shard(&key, shard.n);
    shard
        .call(owner, move |sh| {
            let mut st = sh.store.borrow_mut();
            let mut ctx = st.ctx(db);
            if only_if_absent && ctx.exists(&key) {
                return false;
            }
            crate::persistence::rewrite::log_put(&mut ctx.store.feed, db, &key, &entry);
            ctx.db().insert(&key, entry);
            ctx.store.dirty += 1;
            true
        })
        .await
}

async fn key_exists(shard: &Rc<Shard>, db: usize, key: Bytes) -> Option<bool> {
    let owner = routing::key_shard(&key, shard.n);
    shard
        .call(owner, move |sh| sh.store.borrow_mut().ctx(db).exists(&key))
        .await
}

async fn rename(shard: &Rc<Shard>, db: usize, args: &[Bytes], nx: bool) -> Reply {
    let (src, dst) = (args[1].clone(), args[2].clone());
    if nx {
        match key_exists(shard, db, dst.clone()).await {
            None => return Reply::err(GONE),
            Some(true) => {
                // RENAMENX still reports a missing source first.
                return match key_exists(shard, db, src).await {
                    Some(true) => Reply::Int(0),
                    Some(false) => Reply::err("ERR no such key"),
                    None => Reply::err(GONE),
                };
            }
            Some(false) => {}
        }
    }
    let entry = match fetch_entry(shard, db, src, true).await {
        None => return Reply::err(GONE),
        Some(None) => return Reply::err("ERR no such key"),
        Some(Some(e)) => e,
    };
    match put_entry(shard, db, dst, entry, false).await {
        None => Reply::err(GONE),
        Some(_) if nx => Reply::Int(1),
        Some(_) => Reply::ok(),
    }
}

async fn copy(shard: &Rc<Shard>, db: usize, a: &[Bytes]) -> Reply {
    let mut dst_db = db;
    let mut replace = false;
    let mut i = 3;
    while i < a.len() {
        if args::is(&a[i], "replace") {
            replace = true;
        } else if args::is(&a[i], "db") && i + 1 < a.len() {
            let n = match args::int(&a[i + 1]) {
                Ok(n) => n,
                Err(e) => return e,
            };
            let dbs = shard.config.borrow().databases as i64;
            if n < 0 || n >= dbs {
                return Reply::err("ERR DB index is out of range");
            }
            dst_db = n as usize;
            i += 1;
        } else {
            return Reply::syntax();
        }
        i += 1;
    }
    let entry = match fetch_entry(shard, db, a[1].clone(), false).await {
        None => return Reply::err(GONE),
        Some(None) => return Reply::Int(0),
        Some(Some(e)) => e,
    };
    match put_entry(shard, dst_db, a[2].clone(), entry, !replace).await {
        None => Reply::err(GONE),
        Some(done) => Reply::Int(done as i64),
    }
}

async fn msetnx(
    shard: &Rc<Shard>,
    db: usize,
    spec: &'static CommandSpec,
    h: Handler,
    args: &[Bytes],
) -> Reply {
    if args.len().is_multiple_of(2) {
        return Reply::arity(spec.name);
    }
    for i in (1..args.len()).step_by(2) {
        match key_exists(shard, db, args[i].clone()).await {
            None => return Reply::err(GONE),
            Some(true) => return Reply::Int(0),
            Some(false) => {}
        }
    }
    // Apply the same MSETNX per shard; all keys were absent above.
    let r = split(shard, db, spec, h, Merge::SumInt, args).await;
    match r {
        Reply::Int(_) => Reply::Int(1),
        other => other,
    }
}

/// A string value from its owner, or WRONGTYPE.
async fn fetch_str(shard: &Rc<Shard>, db: usize, key: Bytes) -> Result<Option<Bytes>, Reply> {
    let owner = routing::key_shard(&key, shard.n);
    shard
        .call(owner, move |sh| sh.store.borrow_mut().ctx(db).get_str(&key))
        .await
        .unwrap_or_else(|| Err(Reply::err(GONE)))
}

async fn lcs(shard: &Rc<Shard>, db: usize, args: &[Bytes]) -> Reply {
    use crate::commands::string::{lcs_reply_limited, LCS_TYPE_ERR};
    let mut vals = Vec::with_capacity(2);
    for key in &args[1..3] {
        match fetch_str(shard, db, key.clone()).await {
            Ok(v) => vals.push(v.unwrap_or_default()),
            Err(Reply::Error(e)) if e.starts_with("WRONGTYPE") => return Reply::err(LCS_TYPE_ERR),
            Err(e) => return e,
        }
    }
    let limit = shard.config.borrow().proto_max_bulk_len;
    lcs_reply_limited(&vals[0], &vals[1], args, limit)
}

async fn bitop(shard: &Rc<Shard>, db: usize, spec: &'static CommandSpec, args: &[Bytes]) -> Reply {
    let keys = spec.key_indexes(args);
    let Some((&dst_idx, srcs)) = keys.split_first() else {
        return Reply::arity(spec.name);
    };
    // Redis rejects a bad operation or source count before it looks at any key.
    if let Err(e) = crate::commands::bitops::bitop_validate(&args[1], srcs.len()) {
        return e;
    }
    let mut values = Vec::with_capacity(srcs.len());
    for &i in srcs {
        match fetch_str(shard, db, args[i].clone()).await {
            Ok(v) => values.push(v),
            Err(e) => return e,
        }
    }
    let result = match crate::commands::bitops::bitop_compute(&args[1], &values) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let len = result.len() as i64;
    let dst = args[dst_idx].clone();
    let owner = routing::key_shard(&dst, shard.n);
    let stored = shard
        .call(owner, move |sh| {
            let mut st = sh.store.borrow_mut();
            let mut ctx = st.ctx(db);
            if result.is_empty() {
                if ctx.delete(&dst) {
                    ctx.store.feed.record(db, &[b"DEL", &dst[..]]);
                }
            } else {
                ctx.store.feed.record(db, &[b"SET", &dst[..], &result[..]]);
                ctx.set(&dst, Value::Str(result.into()), 0);
                // Built as a buffer in Redis: "raw" whatever its length.
                if let Some(e) = ctx.db().get_raw_mut(&dst) {
                    e.enc = crate::store::value::StrEnc::Raw;
                }
            }
        })
        .await;
    match stored {
        Some(()) => Reply::Int(len),
        None => Reply::err(GONE),
    }
}

/// Run `f` on the shard that owns `key`, with that shard's store (a part of a multi-shard
/// command; it logs its own effects).
async fn on_owner<T: Send + 'static>(
    shard: &Rc<Shard>,
    db: usize,
    key: &Bytes,
    f: impl FnOnce(&mut crate::store::Ctx) -> Result<T, Reply> + Send + 'static,
) -> Result<T, Reply> {
    let owner = routing::key_shard(key, shard.n);
    shard
        .call(owner, move |sh| {
            let mut st = sh.store.borrow_mut();
            let mut ctx = st.ctx(db);
            f(&mut ctx)
        })
        .await
        .unwrap_or_else(|| Err(Reply::err(GONE)))
}

/// LMOVE / RPOPLPUSH across shards, with Redis's order of checks: source missing (nil), source
/// type, destination type, then pop and push.
async fn lmove(
    shard: &Rc<Shard>,
    db: usize,
    args: &[Bytes],
    from: list::End,
    to: list::End,
) -> Reply {
    let (src, dst) = (args[1].clone(), args[2].clone());
    let step = async {
        let s = src.clone();
        if !on_owner(shard, db, &src, move |ctx| list::parts::is_list(ctx, &s)).await? {
            return Ok(Reply::Nil);
        }
        let d = dst.clone();
        on_owner(shard, db, &dst, move |ctx| list::parts::is_list(ctx, &d)).await?;
        let s = src.clone();
        let Some(v) = on_owner(shard, db, &src, move |ctx| list::parts::pop(ctx, &s, from)).await?
        else {
            return Ok(Reply::Nil);
        };
        let (d, val) = (dst.clone(), v.clone());
        if let Err(e) = on_owner(shard, db, &dst, move |ctx| {
            list::parts::push(ctx, &d, &val, to)
        })
        .await
        {
            // The destination changed type in between: put the element back where it was.
            let (s, val) = (src.clone(), v.clone());
            let back = on_owner(shard, db, &src, move |ctx| {
                list::parts::push(ctx, &s, &val, from)
            });
            let _ = back.await;
            return Err(e);
        }
        Ok(Reply::Bulk(v))
    };
    step.await.unwrap_or_else(|e| e)
}

/// LMPOP across shards: the keys in order, each asked on its shard as a one-key LMPOP, until one
/// pops something (or fails on a wrong type).
async fn lmpop(shard: &Rc<Shard>, db: usize, h: Handler, args: &[Bytes]) -> Reply {
    let a = match list::parse_lmpop(args) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let end: &'static [u8] = if a.end == list::End::Left {
        b"LEFT"
    } else {
        b"RIGHT"
    };
    let count = Bytes::from(a.count.to_string());
    for i in a.keys {
        let key = args[i].clone();
        let owner = routing::key_shard(&key, shard.n);
        let sub = vec![
            args[0].clone(),
            Bytes::from_static(b"1"),
            key,
            Bytes::from_static(end),
            Bytes::from_static(b"COUNT"),
            count.clone(),
        ];
        match on_shard(shard, owner, db, h, sub).await {
            Reply::NilArray => continue,
            other => return other,
        }
    }
    Reply::NilArray
}

/// SMOVE across shards, in Redis's order: source missing (0), source type, destination type,
/// then the removal and the addition.
async fn smove(shard: &Rc<Shard>, db: usize, args: &[Bytes]) -> Reply {
    let (src, dst, m) = (args[1].clone(), args[2].clone(), args[3].clone());
    let step = async {
        let s = src.clone();
        if !on_owner(shard, db, &src, move |ctx| sets::parts::is_set(ctx, &s)).await? {
            return Ok(Reply::Int(0));
        }
        let d = dst.clone();
        on_owner(shard, db, &dst, move |ctx| sets::parts::is_set(ctx, &d)).await?;
        let (s, mm) = (src.clone(), m.clone());
        if !on_owner(shard, db, &src, move |ctx| {
            sets::parts::remove(ctx, &s, &mm)
        })
        .await?
        {
            return Ok(Reply::Int(0));
        }
        let (d, mm) = (dst.clone(), m.clone());
        if let Err(e) = on_owner(shard, db, &dst, move |ctx| sets::parts::add(ctx, &d, &mm)).await {
            // The destination changed type in between: give the member back.
            let (s, mm) = (src.clone(), m.clone());
            let _ = on_owner(shard, db, &src, move |ctx| sets::parts::add(ctx, &s, &mm)).await;
            return Err(e);
        }
        Ok(Reply::Int(1))
    };
    step.await.unwrap_or_else(|e| e)
}

/// Copies of the sets at `keys`, fetched from their shards in key order (the first wrong type
/// fails the command, as Redis checks them in order).
async fn fetch_sets(
    shard: &Rc<Shard>,
    db: usize,
    keys: &[Bytes],
    write: bool,
) -> Result<Vec<Option<crate::store::set::Set>>, Reply> {
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let key = k.clone();
        out.push(
            on_owner(shard, db, k, move |ctx| {
                sets::parts::fetch(ctx, &key, write)
            })
            .await?,
        );
    }
    Ok(out)
}

async fn set_algebra(
    shard: &Rc<Shard>,
    db: usize,
    args: &[Bytes],
    op: SetOp,
    store: bool,
) -> Reply {
    let keys = if store { &args[2..] } else { &args[1..] };
    let fetched = match fetch_sets(shard, db, keys, store).await {
        Ok(f) => f,
        Err(e) => return e,
    };
    let max = shard.config.borrow().set_max_intset_entries;
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let refs: Vec<_> = fetched.iter().map(|s| s.as_ref()).collect();
    let result = sets::compute(op, &refs, max);
    if !store {
        return Reply::Set(result.members().into_iter().map(Reply::Bulk).collect());
    }
    let dst = args[1].clone();
    on_owner(shard, db, &args[1], move |ctx| {
        Ok(sets::parts::store(ctx, &dst, result))
    })
    .await
    .unwrap_or_else(|e| e)
}

async fn sintercard(shard: &Rc<Shard>, db: usize, args: &[Bytes]) -> Reply {
    let (keys, limit) = match sets::parse_sintercard(args) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let fetched = match fetch_sets(shard, db, &args[keys], false).await {
        Ok(f) => f,
        Err(e) => return e,
    };
    let refs: Vec<_> = fetched.iter().map(|s| s.as_ref()).collect();
    Reply::Int(sets::inter_card(&refs, limit) as i64)
}

// ---------------------------------------------------------------------------------------------
// Sorted sets across shards: inputs are read (copied) from their shards, the result computed
// here and written on the destination's shard, with the same parsing and computing code as the
// one-shard handlers in commands/zset.rs.

/// Store a computed sorted set at `dst` on its owner (the effect logged there as DEL + ZADDs).
async fn store_zset_items(
    shard: &Rc<Shard>,
    db: usize,
    dst: Bytes,
    items: Vec<(Bytes, f64)>,
) -> Reply {
    let owner = routing::key_shard(&dst, shard.n);
    shard
        .call(owner, move |sh| {
            let mut st = sh.store.borrow_mut();
            let mut ctx = st.ctx(db);
            crate::commands::zset::store_result(&mut ctx, &dst, items, true)
        })
        .await
        .unwrap_or_else(|| Reply::err(GONE))
}

async fn zset_setop(shard: &Rc<Shard>, db: usize, spec: &CommandSpec, args: &[Bytes]) -> Reply {
    use crate::commands::zset as z;
    let Some(c) = z::setop_cmd(spec.name) else {
        return Reply::err("ERR internal routing error");
    };
    let keys = match c.keys(args) {
        Ok(k) => k,
        Err(e) => return e,
    };
    // All inputs first (WRONGTYPE wins over option errors, as in Redis); sorted sets or plain
    // sets (members scoring 1).
    let mut inputs = Vec::with_capacity(keys.len());
    for k in &args[keys.clone()] {
        let key = k.clone();
        match on_owner(shard, db, k, move |ctx| z::fetch_setop_input(ctx, &key)).await {
            Ok(v) => inputs.push(v),
            Err(e) => return e,
        }
    }
    let o = match c.options(args, &keys) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let refs: Vec<_> = inputs
        .iter()
        .map(|i| i.as_ref().map(z::OwnedInput::as_input))
        .collect();
    match (z::setop_finish(&c, &refs, &o), c.dst) {
        (Err(count), _) => Reply::Int(count as i64),
        (Ok(items), Some(d)) => store_zset_items(shard, db, args[d].clone(), items).await,
        (Ok(items), None) => z::items_reply(items, o.withscores),
    }
}

async fn zset_rangestore(shard: &Rc<Shard>, db: usize, args: &[Bytes]) -> Reply {
    use crate::commands::zset as z;
    let spec = match z::parse_rangestore(args) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let src = args[2].clone();
    let owner = routing::key_shard(&src, shard.n);
    let items = shard
        .call(owner, move |sh| {
            let mut st = sh.store.borrow_mut();
            let mut ctx = st.ctx(db);
            z::rangestore_source(&mut ctx, &src, &spec)
        })
        .await
        .unwrap_or_else(|| Err(Reply::err(GONE)));
    match items {
        Ok(items) => store_zset_items(shard, db, args[1].clone(), items).await,
        Err(e) => e,
    }
}

/// ZMPOP: the keys are tried in order, each on its own shard, until one holds a set.
async fn zset_mpop(shard: &Rc<Shard>, db: usize, args: &[Bytes]) -> Reply {
    use crate::commands::zset as z;
    let spec = match z::parse_zmpop(args) {
        Ok(s) => std::sync::Arc::new(s),
        Err(e) => return e,
    };
    for key in &args[spec.keys.clone()] {
        let key = key.clone();
        let owner = routing::key_shard(&key, shard.n);
        let sp = spec.clone();
        let r = shard
            .call(owner, move |sh| {
                let mut st = sh.store.borrow_mut();
                let mut ctx = st.ctx(db);
                match z::pop_from(&mut ctx, &key, sp.max, sp.count) {
                    Err(e) => Some(e),
                    Ok(None) => None,
                    Ok(Some(items)) => Some(z::zmpop_reply(&mut ctx, &key, &sp, items)),
                }
            })
            .await;
        match r {
            None => return Reply::err(GONE),
            Some(Some(reply)) => return reply,
            Some(None) => {}
        }
    }
    Reply::NilArray
}

// ---------------------------------------------------------------------------------------------
// HyperLogLog: PFCOUNT and PFMERGE across shards
// ---------------------------------------------------------------------------------------------

/// The registers of the union of the HLLs at `keys`, fetched from their shards in key order
/// (the first wrong type or corrupt value fails it, as Redis checks them in order), and whether
/// any was dense.
async fn hll_union(shard: &Rc<Shard>, db: usize, keys: &[Bytes]) -> Result<(Vec<u8>, bool), Reply> {
    use crate::commands::hyperloglog::{empty_registers, merge_source};
    let mut max = empty_registers();
    let mut use_dense = false;
    for key in keys {
        if let Some(v) = fetch_str(shard, db, key.clone()).await? {
            use_dense |= merge_source(&mut max, &v)?;
        }
    }
    Ok((max, use_dense))
}

/// PFCOUNT of several keys: the cardinality of their union (read-only: no cache is updated).
async fn pfcount(shard: &Rc<Shard>, db: usize, args: &[Bytes]) -> Reply {
    match hll_union(shard, db, &args[1..]).await {
        Ok((max, _)) => Reply::Int(crate::store::hll::count_registers(&max) as i64),
        Err(e) => e,
    }
}

/// PFMERGE dest src...: the union (dest included, as in Redis 7.0) computed here, written on
/// the destination's shard and logged as the value it stored (TTL kept).
async fn pfmerge(shard: &Rc<Shard>, db: usize, args: &[Bytes]) -> Reply {
    let (max, use_dense) = match hll_union(shard, db, &args[1..]).await {
        Ok(u) => u,
        Err(e) => return e,
    };
    let dst = args[1].clone();
    on_owner(shard, db, &args[1], move |ctx| {
        let stored = crate::commands::hyperloglog::store_merged(ctx, &dst, &max, use_dense)?;
        ctx.store
            .feed
            .record(db, &[&b"SET"[..], &dst, &stored, &b"KEEPTTL"[..]]);
        Ok(Reply::ok())
    })
    .await
    .unwrap_or_else(|e| e)
}

// ---------------------------------------------------------------------------------------------
// Geo: GEOSEARCHSTORE and GEORADIUS[BYMEMBER] … STORE/STOREDIST whose source and destination
// live on different shards. The search runs on the source's shard (the same parsing and search
// as the one-shard handler in commands/geo.rs), only the found members travel, and they are
// stored on the destination's shard (logged there as DEL + ZADDs).

async fn geo_search_store(
    shard: &Rc<Shard>,
    db: usize,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Reply {
    use crate::commands::geo::{self, Outcome, SearchCmd};
    let Some(cmd) = SearchCmd::from_name(spec.name) else {
        return Reply::err("ERR internal routing error");
    };
    let src = args[cmd.src()].clone();
    let owner = routing::key_shard(&src, shard.n);
    let a = args.to_vec();
    let outcome = shard
        .call(owner, move |sh| {
            let mut st = sh.store.borrow_mut();
            let mut ctx = st.ctx(db);
            let z = crate::commands::zset::read_zset(&mut ctx, &a[cmd.src()])?;
            geo::search(z, &a, cmd)
        })
        .await
        .unwrap_or_else(|| Err(Reply::err(GONE)));
    match outcome {
        Err(e) => e,
        Ok(Outcome::Reply(r)) => r,
        Ok(Outcome::Store { dst, items }) => {
            store_zset_items(shard, db, args[dst].clone(), items).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SORT / SORT_RO whose BY/GET patterns name keys (any shard may own them) or whose STORE
// destination is on another shard than the source. The phases are commands/sort.rs's: the
// vector is loaded on the source's shard, the BY and then the GET keys are resolved in one
// call per owning shard, and a STORE result is written on the destination's shard (logged there
// as DEL + RPUSHes).

/// The values of `lookups` (a string key's value, a hash's field), asking each owning shard
/// once for all of its keys; in the order of `lookups`.
async fn sort_lookups(
    shard: &Rc<Shard>,
    db: usize,
    lookups: Vec<crate::commands::sort::Lookup>,
) -> Result<Vec<Option<Bytes>>, Reply> {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, (k, _)) in lookups.iter().enumerate() {
        let owner = routing::key_shard(k, shard.n);
        match groups.iter_mut().find(|g| g.0 == owner) {
            Some(g) => g.1.push(i),
            None => groups.push((owner, vec![i])),
        }
    }
    let calls = groups.into_iter().map(|(owner, idxs)| {
        let batch: Vec<_> = idxs.iter().map(|&i| lookups[i].clone()).collect();
        async move {
            let vals = shard
                .call(owner, move |sh| {
                    let mut st = sh.store.borrow_mut();
                    let mut ctx = st.ctx(db);
                    batch
                        .iter()
                        .map(|(k, f)| crate::commands::sort::resolve(&mut ctx, k, f.as_deref()))
                        .collect::<Vec<_>>()
                })
                .await;
            (vals, idxs)
        }
    });
    let mut out = vec![None; lookups.len()];
    for (vals, idxs) in futures::future::join_all(calls).await {
        let vals = vals.ok_or_else(|| Reply::err(GONE))?;
        for (v, i) in vals.into_iter().zip(idxs) {
            out[i] = v;
        }
    }
    Ok(out)
}

async fn sort(shard: &Rc<Shard>, db: usize, spec: &CommandSpec, args: &[Bytes]) -> Reply {
    use crate::commands::sort as s;
    let step = async {
        let mut o = s::parse(args, spec.name == "sort_ro")?;
        o.script = s::scripted(spec);
        let src = args[1].clone();
        let (mut v, o) = on_owner(shard, db, &args[1], move |ctx| s::load(ctx, &src, o)).await?;
        let by = match s::by_lookups(&v, &o) {
            None => None,
            Some(ls) => {
                // Elements whose pattern names no key have no weight.
                let wanted: Vec<usize> = (0..ls.len()).filter(|&i| ls[i].is_some()).collect();
                let found = sort_lookups(shard, db, ls.iter().flatten().cloned().collect()).await?;
                let mut by = vec![None; ls.len()];
                for (i, f) in wanted.into_iter().zip(found) {
                    by[i] = f;
                }
                Some(by)
            }
        };
        s::sort_vector(&mut v, by, &o)?;
        let found = sort_lookups(shard, db, s::get_lookups(&v, &o)).await?;
        let items = s::assemble(&v, &o, found);
        let Some(d) = o.store else {
            return Ok(s::reply(items));
        };
        let dst = args[d].clone();
        on_owner(shard, db, &args[d], move |ctx| {
            Ok(s::store_list(ctx, &dst, items))
        })
        .await
    };
    step.await.unwrap_or_else(|e| e)
}

// ---------------------------------------------------------------------------------------------
// Streams: XREAD / XREADGROUP over keys on several shards. As the one-shard handler does, every
// key is checked first, in key order, on its owner (type, group, `$` resolved there), so an
// error leaves no stream touched; then each key is served on its owner (XREADGROUP's
// deliveries and their XCLAIM records happen there) and the reply is assembled in key order.

async fn xread(shard: &Rc<Shard>, db: usize, args: &[Bytes]) -> Reply {
    use crate::commands::stream::{parse_read, read_check, read_reply, read_serve};
    let r = match parse_read(args) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut froms = Vec::with_capacity(r.nkeys);
    for i in 0..r.nkeys {
        let key = args[r.streams + i].clone();
        let id = args[r.streams + r.nkeys + i].clone();
        let ra = r.clone();
        let k = key.clone();
        match on_owner(shard, db, &key, move |ctx| read_check(ctx, &ra, &k, &id)).await {
            Ok(f) => froms.push(f),
            Err(e) => return e,
        }
    }
    let mut served = Vec::new();
    for (i, from) in froms.into_iter().enumerate() {
        let key = args[r.streams + i].clone();
        let ra = r.clone();
        let k = key.clone();
        let got = on_owner(shard, db, &key, move |ctx| {
            Ok(read_serve(ctx, &ra, &k, from))
        })
        .await;
        match got {
            Ok(Some(rep)) => served.push((key, rep)),
            Ok(None) => {}
            Err(e) => return e,
        }
    }
    read_reply(served)
}
