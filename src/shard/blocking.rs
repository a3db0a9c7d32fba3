//! Blocked clients (BLPOP and the other blocking commands) across shards.
//!
//! A blocking command is run by its connection's task. It tries its keys in order, each on the
//! shard that owns it, where one synchronous step either serves it (the key has data), fails it
//! (another type) or registers a waiter for the key. With nothing served, the task waits for a
//! wake-up, its timeout, CLIENT UNBLOCK or its client going away; meanwhile the connection reads
//! nothing more than it needs to notice a disconnect, as in Redis.
//!
//! Waiters sit on the key's shard, in arrival order per key. A write that creates a watched key
//! marks it ready (`Db::insert`); right after that command (`Shard::exec`, `Shard::call`) the
//! shard serves the key's waiters in order (`serve_ready`): it pops on the first waiter's
//! behalf, synchronously, so that no other client can take the element in between, sends the
//! result to the waiter's task, and goes on with the next waiter while the key has data.
//!
//! A client blocked on several keys has a waiter on each, possibly on several shards, so one
//! `Claim` (an atomic flag) decides who ends its wait: the first shard that serves it, or the
//! task itself (timeout, CLIENT UNBLOCK, disconnect, a wrong type found further in the key
//! order). Whoever loses leaves the data alone: an element is never popped for a client that
//! stopped waiting. Waiters whose claim is taken are skipped by the shards and removed by the
//! task once its wait is over.

use super::Shard;
use crate::commands::blocking::{self as cmd, At, Op, Served};
use crate::commands::{list, CommandSpec};
use crate::net::ConnRef;
use crate::protocol::reply::Reply;
use bytes::Bytes;
use futures::channel::oneshot;
use futures::FutureExt;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const GONE: &str = "ERR shard unavailable (shutting down)";

/// Decides, once, who ends a blocked command's wait, and carries a serving shard's result to
/// the waiting task.
pub struct Claim {
    taken: AtomicBool,
    tx: Mutex<Option<oneshot::Sender<Served>>>,
}

impl Claim {
    /// Take the claim: true for the one caller that gets it.
    pub fn take(&self) -> bool {
        !self.taken.swap(true, Ordering::AcqRel)
    }

    fn is_taken(&self) -> bool {
        self.taken.load(Ordering::Acquire)
    }

    fn sender(&self) -> Option<oneshot::Sender<Served>> {
        self.tx.lock().ok().and_then(|mut t| t.take())
    }
}

/// Why a wait was ended from outside.
#[derive(Clone, Copy, Debug)]
pub enum Cancel {
    /// CLIENT UNBLOCK (TIMEOUT): as if it timed out.
    Timeout,
    /// CLIENT UNBLOCK ERROR.
    Error,
    /// The client went away (or was killed).
    Gone,
}

/// A connection's blocked state (`Conn::blocked`), for CLIENT UNBLOCK, CLIENT LIST, INFO and
/// disconnects.
pub struct BlockedOn {
    claim: Arc<Claim>,
    cancel: Option<oneshot::Sender<Cancel>>,
    /// It has a timeout (INFO clients_in_timeout_table).
    pub timeout: bool,
}

impl BlockedOn {
    /// End the wait from outside. False if it is already over (a shard served it just now).
    pub fn cancel(&mut self, why: Cancel) -> bool {
        if !self.claim.take() {
            return false;
        }
        if let Some(tx) = self.cancel.take() {
            let _ = tx.send(why);
        }
        true
    }
}

struct Waiter {
    claim: Arc<Claim>,
    op: Arc<Op>,
}

/// A shard's waiters, by (database, key), first come first served.
#[derive(Default)]
pub struct Registry {
    keys: HashMap<(usize, Bytes), VecDeque<Waiter>>,
}

impl Registry {
    /// How many keys have waiters (INFO total_blocking_keys, as Redis 7.2 reports it).
    pub fn keys(&self) -> usize {
        self.keys.len()
    }
}

fn add_waiter(sh: &Shard, db: usize, key: &Bytes, claim: &Arc<Claim>, op: &Arc<Op>) {
    sh.store.borrow_mut().dbs[db].watched.insert(key.clone());
    sh.blocking
        .borrow_mut()
        .keys
        .entry((db, key.clone()))
        .or_default()
        .push_back(Waiter {
            claim: claim.clone(),
            op: op.clone(),
        });
}

fn remove_waiter(sh: &Shard, db: usize, key: &Bytes, claim: &Arc<Claim>) {
    let mut reg = sh.blocking.borrow_mut();
    let k = (db, key.clone());
    let Some(q) = reg.keys.get_mut(&k) else {
        return;
    };
    q.retain(|w| !Arc::ptr_eq(&w.claim, claim));
    if q.is_empty() {
        reg.keys.remove(&k);
        sh.store.borrow_mut().dbs[db].watched.remove(key);
    }
}

/// Serve the waiters of keys that writes made ready. Called after every command and
/// cross-shard message; with nobody blocked on this shard it is one check.
#[inline]
pub fn serve_ready(sh: &Shard) {
    if sh.blocking.borrow().keys.is_empty() {
        return;
    }
    serve_ready_slow(sh);
}

#[inline(never)]
fn serve_ready_slow(sh: &Shard) {
    // Serving can make more keys ready (BLMOVE pushes): go on until none is left. Each round
    // serves (and so removes) a waiter, or finds nothing to do, so this ends.
    loop {
        let ready: Vec<(usize, Bytes)> = {
            let mut st = sh.store.borrow_mut();
            st.dbs
                .iter_mut()
                .enumerate()
                .flat_map(|(i, d)| {
                    std::mem::take(&mut d.ready)
                        .into_iter()
                        .map(move |k| (i, k))
                })
                .collect()
        };
        if ready.is_empty() {
            return;
        }
        for (db, key) in ready {
            // As with handlers, a bug here costs its waiters (they time out), not the shard.
            let run = std::panic::AssertUnwindSafe(|| serve_key(sh, db, key));
            if std::panic::catch_unwind(run).is_err() {
                crate::logging::warning("BUG: serving blocked clients panicked");
            }
        }
    }
}

/// Serve `key`'s waiters in arrival order while it holds data of the type they want (as in
/// Redis, a waiter that wants another type keeps its place).
fn serve_key(sh: &Shard, db: usize, key: Bytes) {
    let k = (db, key);
    let Some(mut queue) = sh.blocking.borrow_mut().keys.remove(&k) else {
        return;
    };
    let key = &k.1;
    let mut kept = VecDeque::new();
    while let Some(w) = queue.pop_front() {
        if w.claim.is_taken() {
            // Its wait ended elsewhere; its task removes the rest of it.
            continue;
        }
        let before = sh.feed_offset();
        let served = {
            let mut st = sh.store.borrow_mut();
            let mut ctx = st.ctx(db);
            match cmd::at(&mut ctx, key) {
                At::Absent => {
                    kept.push_back(w);
                    break;
                }
                At::Holds(t) if t == w.op.wants() => {
                    if !w.claim.take() {
                        continue;
                    }
                    cmd::serve(&mut ctx, key, &w.op)
                }
                At::Holds(_) | At::Other => {
                    kept.push_back(w);
                    continue;
                }
            }
        };
        deliver(sh, &w.claim, served, before);
    }
    kept.extend(queue);
    if kept.is_empty() {
        sh.store.borrow_mut().dbs[db].watched.remove(key);
    } else {
        sh.blocking.borrow_mut().keys.insert(k, kept);
    }
}

/// Send a served result to the waiting task; with `appendfsync always`, once what serving it
/// wrote is on disk (as any write is acknowledged).
fn deliver(sh: &Shard, claim: &Claim, served: Served, before: u64) {
    let Some(tx) = claim.sender() else {
        return;
    };
    let after = sh.feed_offset();
    if sh.aof_always.get() && after != before {
        sh.aof.borrow_mut().after_synced(
            after,
            Box::new(move || {
                let _ = tx.send(served);
            }),
        );
    } else {
        let _ = tx.send(served);
    }
}

/// What trying one shard's keys gave.
enum Attempt {
    /// Served at once, or failed (the claim is ours).
    Done(Served),
    /// Nothing there: waiters were registered for these keys.
    Registered,
    /// A shard where we registered earlier served us meanwhile: its result is on the way.
    Claimed,
}

/// On the keys' shard: the keys in order; the first that holds data serves the command, the
/// first of another type fails it; if none, register a waiter on each.
fn attempt(sh: &Shard, db: usize, keys: &[Bytes], claim: &Arc<Claim>, op: &Arc<Op>) -> Attempt {
    let end = |s: Served| {
        if claim.take() {
            Attempt::Done(s)
        } else {
            Attempt::Claimed
        }
    };
    if sh.aof_failed.get() {
        return end(Served::Reply(super::misconf(sh)));
    }
    {
        let mut st = sh.store.borrow_mut();
        let mut ctx = st.ctx(db);
        for key in keys {
            match cmd::at(&mut ctx, key) {
                At::Absent => {}
                At::Holds(t) if t == op.wants() => {
                    if !claim.take() {
                        return Attempt::Claimed;
                    }
                    return Attempt::Done(cmd::serve(&mut ctx, key, op));
                }
                At::Holds(_) | At::Other => return end(Served::Reply(Reply::wrongtype())),
            }
        }
    }
    for key in keys {
        add_waiter(sh, db, key, claim, op);
    }
    Attempt::Registered
}

/// The keys grouped into runs of consecutive keys on one shard, in key order.
fn runs(keys: &[Bytes], shards: usize) -> Vec<(usize, Vec<Bytes>)> {
    let mut out: Vec<(usize, Vec<Bytes>)> = Vec::new();
    for k in keys {
        let owner = crate::routing::key_shard(k, shards);
        match out.last_mut() {
            Some((o, v)) if *o == owner => v.push(k.clone()),
            _ => out.push((owner, vec![k.clone()])),
        }
    }
    out
}

/// Run a blocking command for the client on `conn` (its connection task, which owns the flow).
pub async fn run(
    shard: &Rc<Shard>,
    conn: &ConnRef,
    spec: &'static CommandSpec,
    args: &[Bytes],
) -> Reply {
    let db = conn.borrow().client.db;
    let parsed = match cmd::parse(spec.name, args, shard.n) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let (tx, mut rx) = oneshot::channel();
    let claim = Arc::new(Claim {
        taken: AtomicBool::new(false),
        tx: Mutex::new(Some(tx)),
    });
    let op = Arc::new(parsed.op);
    let mut registered: Vec<(usize, Vec<Bytes>)> = Vec::new();
    let mut done = None;
    for (owner, keys) in runs(&parsed.keys, shard.n) {
        let (c, o, k) = (claim.clone(), op.clone(), keys.clone());
        match shard
            .call(owner, move |sh| attempt(sh, db, &k, &c, &o))
            .await
        {
            Some(Attempt::Registered) => registered.push((owner, keys)),
            Some(Attempt::Done(s)) => {
                done = Some(s);
                break;
            }
            Some(Attempt::Claimed) => break,
            None => {
                if claim.take() {
                    done = Some(Served::Reply(Reply::err(GONE)));
                }
                break;
            }
        }
    }
    let served = match done {
        Some(s) => s,
        None if claim.is_taken() => (&mut rx).await.unwrap_or(Served::Reply(Reply::err(GONE))),
        None => wait(shard, conn, &claim, rx, parsed.timeout).await,
    };
    deregister(shard, db, registered, claim);
    match served {
        Served::Reply(r) => r,
        Served::Moved { src, value } => push_moved(shard, db, &op, src, value).await,
    }
}

/// Wait, blocked, for a shard to serve us, the timeout, or a cancel.
async fn wait(
    shard: &Rc<Shard>,
    conn: &ConnRef,
    claim: &Arc<Claim>,
    mut rx: oneshot::Receiver<Served>,
    timeout: Option<Duration>,
) -> Served {
    let (cancel_tx, mut cancel_rx) = oneshot::channel();
    {
        let mut c = conn.borrow_mut();
        if c.closed {
            // Gone during the attempts: stop here (unless a shard served it just now).
            if claim.take() {
                return Served::Reply(Reply::NilArray);
            }
        } else {
            c.blocked = Some(BlockedOn {
                claim: claim.clone(),
                cancel: Some(cancel_tx),
                timeout: timeout.is_some(),
            });
            // Read on while blocked: that is how a client that goes away is noticed.
            shard.net.borrow().update_interest(&mut c);
        }
    }
    let timer = async move {
        match timeout {
            Some(d) => glommio::timer::sleep(d).await,
            None => futures::future::pending::<()>().await,
        }
    };
    let mut timer = std::pin::pin!(timer.fuse());
    let cancelled = futures::select_biased! {
        s = rx => Err(s),
        c = cancel_rx => Ok(c.ok()),
        _ = timer => Ok(None),
    };
    {
        let mut c = conn.borrow_mut();
        c.blocked = None;
        if !c.closed {
            shard.net.borrow().update_interest(&mut c);
        }
    }
    match cancelled {
        Err(s) => s.unwrap_or(Served::Reply(Reply::err(GONE))),
        Ok(Some(why)) => Served::Reply(match why {
            Cancel::Error => Reply::err("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
            Cancel::Timeout | Cancel::Gone => Reply::NilArray,
        }),
        // Timed out: ours, unless a shard served us just now (then its result is on the way).
        Ok(None) if claim.take() => Served::Reply(Reply::NilArray),
        Ok(None) => rx.await.unwrap_or(Served::Reply(Reply::err(GONE))),
    }
}

/// Remove what is left of our waiters (in the background: the reply need not wait for it).
fn deregister(
    shard: &Rc<Shard>,
    db: usize,
    registered: Vec<(usize, Vec<Bytes>)>,
    claim: Arc<Claim>,
) {
    if registered.is_empty() {
        return;
    }
    let shard = shard.clone();
    glommio::spawn_local(async move {
        let calls = registered.into_iter().map(|(owner, keys)| {
            let c = claim.clone();
            shard.call(owner, move |sh| {
                for k in &keys {
                    remove_waiter(sh, db, k, &c);
                }
            })
        });
        futures::future::join_all(calls).await;
    })
    .detach();
}

/// BLMOVE across shards, after the source's shard popped `value`: push it to the destination.
/// If that holds another type now, the element goes back where it came from and the client gets
/// WRONGTYPE (as Redis undoes the pop).
async fn push_moved(shard: &Rc<Shard>, db: usize, op: &Op, src: Bytes, value: Bytes) -> Reply {
    let Op::Move { dst, from, to, .. } = op else {
        return Reply::Bulk(value);
    };
    let (d, v, to) = (dst.clone(), value.clone(), *to);
    let pushed = on_owner(shard, db, dst, move |ctx| {
        list::parts::push(ctx, &d, &v, to)
    })
    .await;
    match pushed {
        Ok(()) => Reply::Bulk(value),
        Err(e) => {
            let (s, v, from) = (src.clone(), value, *from);
            let _ = on_owner(shard, db, &src, move |ctx| {
                list::parts::push(ctx, &s, &v, from)
            })
            .await;
            e
        }
    }
}

async fn on_owner(
    shard: &Rc<Shard>,
    db: usize,
    key: &Bytes,
    f: impl FnOnce(&mut crate::store::Ctx) -> Result<(), Reply> + Send + 'static,
) -> Result<(), Reply> {
    let owner = crate::routing::key_shard(key, shard.n);
    shard
        .call(owner, move |sh| f(&mut sh.store.borrow_mut().ctx(db)))
        .await
        .unwrap_or_else(|| Err(Reply::err(GONE)))
}
