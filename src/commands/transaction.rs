//! MULTI / EXEC / DISCARD / WATCH / UNWATCH (Redis's multi.c).
//!
//! Commands after MULTI are checked (name, arity) and queued on the connection. EXEC runs them
//! as one atomic unit:
//! - When every queued command and every WATCHed key lives on one shard, the whole transaction
//!   goes there in one message and runs in one synchronous stretch (after waiting, if needed,
//!   for multi-shard locks on its keys): nothing else can run in between.
//! - Otherwise the keys of all queued commands are locked on their shards (exclusive; the
//!   WATCHed ones shared; whole shards for server commands such as FLUSHALL or KEYS), in
//!   ascending shard order as every multi-shard command does (shard/locks.rs), the WATCHed
//!   versions are checked, the commands run in order, and the locks are released.
//!
//! WATCH records, on the key's shard, the key's version and whether it was live (store/watch.rs);
//! EXEC compares both under the locks. Blocking commands inside a transaction do not block, as
//! in Redis.

use super::{CommandSpec, Kind};
use crate::net::ConnRef;
use crate::protocol::reply::Reply;
use crate::routing;
use crate::shard::locks::{self, Want};
use crate::shard::Shard;
use crate::store::watch::Seen;
use bytes::Bytes;
use std::rc::Rc;

const GONE: &str = "ERR shard unavailable (shutting down)";

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "multi",
        1,
        "noscript loading stale fast allow_busy",
        (0, 0, 0),
        Kind::Conn,
    )
    .doc("transactions", "1.2.0", "Starts a transaction."),
    CommandSpec::new(
        "exec",
        1,
        "noscript loading stale skip_slowlog",
        (0, 0, 0),
        Kind::Conn,
    )
    .doc(
        "transactions",
        "1.2.0",
        "Executes all commands in a transaction.",
    ),
    CommandSpec::new(
        "discard",
        1,
        "noscript loading stale fast allow_busy",
        (0, 0, 0),
        Kind::Conn,
    )
    .doc("transactions", "2.0.0", "Discards a transaction."),
    CommandSpec::new(
        "watch",
        -2,
        "noscript loading stale fast allow_busy",
        (1, -1, 1),
        Kind::Conn,
    )
    .doc(
        "transactions",
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
    ),
    CommandSpec::new(
        "unwatch",
        1,
        "noscript loading stale fast allow_busy",
        (0, 0, 0),
        Kind::Conn,
    )
    .doc(
        "transactions",
        "2.2.0",
        "Forgets about watched keys of a transaction.",
    ),
];

/// A key this client WATCHes, and what WATCH saw.
pub struct Watched {
    pub shard: usize,
    pub db: usize,
    pub key: Bytes,
    pub seen: Seen,
}

/// A connection's transaction state.
#[derive(Default)]
pub struct TxState {
    /// The queued commands, while in MULTI.
    pub queued: Option<Vec<Vec<Bytes>>>,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub aborted: bool,
    pub watched: Vec<Watched>,
    /// Running EXEC: blocking commands return at once.
    pub deny_blocking: bool,
}

impl TxState {
    #[inline]
    pub fn in_multi(&self) -> bool {
        self.queued.is_some()
    }

    /// A command was refused (unknown, wrong arity, no permission …): inside MULTI, the
    /// transaction will not run (Redis's flagTransaction).
    #[inline]
    pub fn refused(&mut self) {
        if self.queued.is_some() {
            self.aborted = true;
        }
    }

    /// Whether a command is queued rather than run now (all but these, as in Redis).
    pub fn queues(&self, name: &str) -> bool {
        self.queued.is_some()
            && !matches!(
                name,
                "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
            )
    }

    pub fn queue(&mut self, args: Vec<Bytes>) -> Reply {
        match &mut self.queued {
            Some(q) => {
                q.push(args);
                Reply::simple("QUEUED")
            }
            None => Reply::err("ERR internal error: not in MULTI"),
        }
    }
}

/// Stop watching every key (after EXEC or DISCARD, on UNWATCH, RESET, or a closed connection).
pub fn unwatch_all(shard: &Shard, tx: &mut TxState) {
    for w in std::mem::take(&mut tx.watched) {
        shard.send_to(w.shard, move |sh| {
            sh.store.borrow_mut().watch.unwatch(w.db, &w.key)
        });
    }
}

/// A refused EXEC (wrong arity): as Redis's execCommandAbort, whether or not MULTI was called,
/// the transaction is discarded, the keys unwatched, and the reason given as EXECABORT.
pub fn exec_abort(shard: &Shard, tx: &mut TxState, reason: &str) -> Reply {
    tx.queued = None;
    tx.aborted = false;
    unwatch_all(shard, tx);
    Reply::err(format!(
        "EXECABORT Transaction discarded because of: {reason}"
    ))
}

/// The synchronous ones: MULTI, DISCARD, UNWATCH, and the errors of WATCH and EXEC. None: run
/// `exec_async`.
pub fn exec_sync(shard: &Rc<Shard>, tx: &mut TxState, name: &str) -> Option<Reply> {
    Some(match name {
        "multi" if tx.in_multi() => Reply::err("ERR MULTI calls can not be nested"),
        "multi" => {
            tx.queued = Some(Vec::new());
            tx.aborted = false;
            Reply::ok()
        }
        "discard" if !tx.in_multi() => Reply::err("ERR DISCARD without MULTI"),
        "discard" => {
            tx.queued = None;
            tx.aborted = false;
            unwatch_all(shard, tx);
            Reply::ok()
        }
        "unwatch" => {
            unwatch_all(shard, tx);
            Reply::ok()
        }
        "watch" if tx.in_multi() => Reply::err("ERR WATCH inside MULTI is not allowed"),
        "exec" if !tx.in_multi() => Reply::err("ERR EXEC without MULTI"),
        _ => return None,
    })
}

pub async fn exec_async(shard: &Rc<Shard>, conn: &ConnRef, name: &str, args: &[Bytes]) -> Reply {
    match name {
        "watch" => watch(shard, conn, args).await,
        "exec" => exec(shard, conn, args).await,
        _ => Reply::err("ERR internal routing error"),
    }
}

async fn watch(shard: &Rc<Shard>, conn: &ConnRef, args: &[Bytes]) -> Reply {
    let db = conn.borrow().client.db;
    for key in &args[1..] {
        let already = conn
            .borrow()
            .client
            .tx
            .watched
            .iter()
            .any(|w| w.db == db && w.key == key);
        if already {
            continue;
        }
        let owner = routing::key_shard(key, shard.n);
        let k = key.clone();
        let seen = shard
            .call(owner, move |sh| {
                let mut st = sh.store.borrow_mut();
                let live = crate::store::watch::live(&st.dbs[db], &k, crate::util::now_ms());
                st.watch.watch(db, &k, live)
            })
            .await;
        let Some(seen) = seen else {
            return Reply::err(GONE);
        };
        conn.borrow_mut().client.tx.watched.push(Watched {
            shard: owner,
            db,
            key: key.clone(),
            seen,
        });
    }
    Reply::ok()
}

/// A watched key to check on its shard: database, key, what WATCH saw.
type WatchCheck = (usize, Bytes, Seen);

/// Whether none of `watched` (all on the calling shard) changed since WATCH.
fn watches_hold(sh: &Shard, watched: &[WatchCheck]) -> bool {
    let st = sh.store.borrow();
    let now = crate::util::now_ms();
    watched.iter().all(|(db, key, seen)| {
        st.watch.version(*db, key) == Some(seen.version)
            && (!seen.live || crate::store::watch::live(&st.dbs[*db], key, now))
    })
}

/// One queued command, as EXEC plans it.
struct Step {
    args: Vec<Bytes>,
    spec: &'static CommandSpec,
    db: usize,
    /// Refused by the ACL check EXEC makes again: the reply that stands in for it.
    denied: Option<Reply>,
}

impl Step {
    /// The shard that runs it whole, if one does (a keyed command whose keys are all there;
    /// a keyless keyed command runs on the coordinator).
    fn single_owner(&self, n: usize, here: usize) -> Option<usize> {
        if !matches!(
            self.spec.kind,
            Kind::Keyed(_) | Kind::Split(..) | Kind::Coordinated(_)
        ) || self.blocks()
        {
            return None;
        }
        if self.spec.spread_fn.is_some_and(|f| f(&self.args)) {
            return None;
        }
        let mut owner = None;
        for i in self.spec.key_indexes(&self.args) {
            let o = routing::key_shard(self.args.get(i)?, n);
            match owner {
                None => owner = Some(o),
                Some(p) if p != o => return None,
                _ => {}
            }
        }
        Some(owner.unwrap_or(if n == 1 { 0 } else { here }))
    }

    fn blocks(&self) -> bool {
        self.spec.has_flag("blocking") || super::stream::blocks(self.spec, &self.args)
    }

    /// Server commands that read or write the whole keyspace need every shard to themselves.
    fn needs_whole(&self) -> bool {
        matches!(self.spec.kind, Kind::Conn)
            && !self.blocks()
            && (self.spec.is_write()
                || matches!(
                    self.spec.name,
                    "keys" | "scan" | "dbsize" | "randomkey" | "info" | "debug" | "object"
                ))
    }
}

async fn exec(shard: &Rc<Shard>, conn: &ConnRef, args: &[Bytes]) -> Reply {
    let (queued, aborted, watched, db0) = {
        let mut c = conn.borrow_mut();
        let tx = &mut c.client.tx;
        let q = tx.queued.take().unwrap_or_default();
        let aborted = std::mem::take(&mut tx.aborted);
        let watched: Vec<(usize, usize, Bytes, Seen)> = tx
            .watched
            .iter()
            .map(|w| (w.shard, w.db, w.key.clone(), w.seen))
            .collect();
        (q, aborted, watched, c.client.db)
    };
    // Out of memory with a queued command that may grow it: Redis refuses the EXEC itself.
    let denyoom = queued
        .iter()
        .any(|a| super::lookup(&a[0]).is_some_and(|s| s.has_flag("denyoom")));
    let oom = if denyoom && !aborted {
        crate::memory::evict::refuses_any_write(shard)
    } else {
        None
    };
    let monitored = crate::observe::monitor::active(shard).then(|| queued.clone());
    let reply = if aborted {
        Reply::err("EXECABORT Transaction discarded because of previous errors.")
    } else if let Some(Reply::Error(e)) = oom {
        Reply::err(format!("EXECABORT Transaction discarded because of: {e}"))
    } else {
        run(shard, conn, queued, watched, db0).await
    };
    let mut c = conn.borrow_mut();
    if let Some(queued) = monitored {
        monitor_exec(shard, &c.client.addr, db0, &queued, &reply, args);
    }
    unwatch_all(shard, &mut c.client.tx);
    reply
}

/// MONITOR lines for a transaction, as Redis writes them: the commands it ran (none if it was
/// discarded or a WATCHed key changed), then EXEC itself (`exec`, as the client sent it).
fn monitor_exec(
    shard: &Rc<Shard>,
    addr: &str,
    db0: usize,
    queued: &[Vec<Bytes>],
    reply: &Reply,
    exec: &[Bytes],
) {
    use crate::observe::monitor::feed;
    let ndb = shard.config.borrow().databases;
    let mut db = db0;
    if matches!(reply, Reply::Array(_)) {
        for args in queued {
            if let Some(spec) = super::lookup(&args[0]) {
                feed(shard, spec, args, db, addr);
                db = selected_db(spec, args, ndb).unwrap_or(db);
            }
        }
    }
    if let Some(spec) = super::lookup(b"exec") {
        feed(shard, spec, exec, db, addr);
    }
}

/// The database a queued SELECT moves the rest of the transaction to; None for any other
/// command or an index out of range (that SELECT fails and the database stays).
fn selected_db(spec: &CommandSpec, args: &[Bytes], ndb: usize) -> Option<usize> {
    if spec.name != "select" {
        return None;
    }
    let d = crate::util::num::parse_i64(args.get(1)?)?;
    (d >= 0 && (d as usize) < ndb).then_some(d as usize)
}

async fn run(
    shard: &Rc<Shard>,
    conn: &ConnRef,
    queued: Vec<Vec<Bytes>>,
    watched: Vec<(usize, usize, Bytes, Seen)>,
    db0: usize,
) -> Reply {
    // Plan: each command with the database it will run in (SELECT inside MULTI moves it).
    let ndb = shard.config.borrow().databases;
    let mut db = db0;
    let mut steps = Vec::with_capacity(queued.len());
    for args in queued {
        let Some(spec) = super::lookup(&args[0]) else {
            return Reply::err("EXECABORT Transaction discarded because of previous errors.");
        };
        let denied =
            crate::acl::gate::recheck_queued(shard, &mut conn.borrow_mut().client, spec, &args);
        steps.push(Step {
            args,
            spec,
            db,
            denied,
        });
        if let Some(d) = steps.last().and_then(|s| selected_db(s.spec, &s.args, ndb)) {
            db = d;
        }
    }
    // One shard for everything: one message.
    let owners: Vec<Option<usize>> = steps
        .iter()
        .map(|s| s.single_owner(shard.n, shard.id))
        .collect();
    let target = owners
        .first()
        .copied()
        .flatten()
        .or_else(|| watched.first().map(|w| w.0));
    if let Some(t) = target {
        if owners.iter().all(|o| *o == Some(t)) && watched.iter().all(|w| w.0 == t) {
            // When the EXEC reached the server, if its read was stamped (see `run_on_one`).
            let arrived = conn.borrow().rx_ns;
            return run_on_one(shard, t, steps, watched, arrived).await;
        }
    }
    // Lock everything the transaction touches, then run it step by step.
    let mut parts: Vec<(usize, Want)> = Vec::new();
    if steps.iter().any(Step::needs_whole) {
        parts = locks::whole_shards(shard.n);
    } else {
        for s in &steps {
            for (t, mut w) in locks::plan(shard.n, s.db, s.spec, &s.args) {
                w.exclusive = true;
                parts.push((t, w));
            }
        }
        for (t, db, key, _) in &watched {
            parts.push((
                *t,
                Want {
                    keys: vec![(*db, key.clone())],
                    exclusive: false,
                    whole: false,
                    ..Default::default()
                },
            ));
        }
    }
    for p in &mut parts {
        p.1.hold_ready = true;
    }
    let logged = steps.iter().any(|s| s.spec.is_write());
    let Some(guard) = locks::acquire(shard, parts, locks::Touch::Nothing, logged).await else {
        return Reply::err(GONE);
    };
    if !watches_hold_everywhere(shard, &watched).await {
        return Reply::NilArray;
    }
    conn.borrow_mut().client.tx.deny_blocking = true;
    let since = guard.since();
    let mut replies = Vec::with_capacity(steps.len());
    for s in steps {
        replies.push(run_step(shard, conn, s, &since).await);
    }
    conn.borrow_mut().client.tx.deny_blocking = false;
    guard.commit().await;
    Reply::Array(replies)
}

/// Check the watched keys on their shards (under the locks EXEC holds).
async fn watches_hold_everywhere(
    shard: &Rc<Shard>,
    watched: &[(usize, usize, Bytes, Seen)],
) -> bool {
    let mut by_shard: Vec<(usize, Vec<WatchCheck>)> = Vec::new();
    for (t, db, key, seen) in watched {
        let item = (*db, key.clone(), *seen);
        match by_shard.iter_mut().find(|p| p.0 == *t) {
            Some(p) => p.1.push(item),
            None => by_shard.push((*t, vec![item])),
        }
    }
    for (t, items) in by_shard {
        match shard.call(t, move |sh| watches_hold(sh, &items)).await {
            Some(true) => {}
            _ => return false,
        }
    }
    true
}

/// A transaction whose commands and watched keys all live on shard `t`: checked and run there
/// in one synchronous stretch. `arrived`: when the EXEC reached the server; one that came
/// before a push whose blocked clients are still being gathered may run ahead of their serving
/// (`blocking::admits_early`), as Redis, which reads it first, would run it: its WATCH on a
/// move's destination then still holds.
async fn run_on_one(
    shard: &Rc<Shard>,
    t: usize,
    steps: Vec<Step>,
    watched: Vec<(usize, usize, Bytes, Seen)>,
    arrived: Option<u64>,
) -> Reply {
    let mut want = Want {
        keys: Vec::new(),
        exclusive: true,
        whole: false,
        ..Default::default()
    };
    for s in &steps {
        for i in s.spec.key_indexes(&s.args) {
            if let Some(k) = s.args.get(i) {
                want.keys.push((s.db, k.clone()));
            }
        }
    }
    let watched: Vec<WatchCheck> = watched
        .into_iter()
        .map(|(_, db, k, s)| (db, k, s))
        .collect();
    want.keys
        .extend(watched.iter().map(|(db, k, _)| (*db, k.clone())));
    let done = shard
        .call_deferred(t, move |sh, answer| {
            let job = move |sh: &Rc<Shard>| {
                if !watches_hold(sh, &watched) {
                    return answer.send(sh, Reply::NilArray);
                }
                let now = crate::util::now_ms();
                let hold = crate::shard::blocking::HoldReady::new(sh);
                let at = sh.store.borrow_mut().feed.begin_multi();
                let replies = steps
                    .iter()
                    .map(|s| match s.spec.kind {
                        _ if s.denied.is_some() => s.denied.clone().unwrap_or(Reply::Nil),
                        Kind::Keyed(h) | Kind::Split(h, _) | Kind::Coordinated(h) => {
                            sh.exec(s.db, s.spec, h, &s.args, now)
                        }
                        Kind::Conn => Reply::err("ERR internal routing error"),
                    })
                    .collect();
                sh.store.borrow_mut().feed.end_multi(at);
                drop(hold);
                answer.send(sh, Reply::Array(replies));
            };
            if arrived.is_some_and(|at| crate::shard::blocking::admits_early(sh, &want, at)) {
                return job(sh);
            }
            locks::run_when_free(sh, || want, Box::new(job));
        })
        .await;
    done.unwrap_or_else(|| Reply::err(GONE))
}

/// One command of a transaction spanning shards, run while EXEC holds its locks.
/// `since`: each locked shard's write counter when EXEC got its locks (see `touch_keys`).
async fn run_step(shard: &Rc<Shard>, conn: &ConnRef, s: Step, since: &[(usize, u64)]) -> Reply {
    if let Some(r) = s.denied {
        return r;
    }
    // The database as the earlier commands left it (SELECT runs for real).
    let db = conn.borrow().client.db;
    let step = Step { db, ..s };
    let (spec, args) = (step.spec, &step.args);
    let h = match spec.kind {
        _ if step.blocks() => {
            let r = crate::shard::blocking::run(shard, conn, spec, args).await;
            // BLMOVE across shards moves as LMOVE's parts do, which leave WATCH to the caller.
            if spec.is_write() {
                touch_keys(shard, db, spec, args, since);
            }
            return r;
        }
        Kind::Conn => {
            let done = {
                let mut c = conn.borrow_mut();
                super::server::exec_sync(shard, &mut c, spec, args)
            };
            return match done {
                Some(r) => r,
                // Boxed: EXEC itself is one of these commands.
                None => Box::pin(super::server::exec_async(shard, conn, spec, args)).await,
            };
        }
        Kind::Keyed(h) | Kind::Split(h, _) | Kind::Coordinated(h) => h,
    };
    match step.single_owner(shard.n, shard.id) {
        Some(owner) => {
            let Step { args, .. } = step;
            shard
                .call(owner, move |sh| {
                    sh.exec(db, spec, h, &args, crate::util::now_ms())
                })
                .await
                .unwrap_or_else(|| Reply::err(GONE))
        }
        None => {
            let r = crate::shard::coordinator::run_locked(shard, db, spec, &step.args).await;
            if spec.is_write() {
                touch_keys(shard, db, spec, &step.args, since);
            }
            r
        }
    }
}

/// A multi-shard write ran inside EXEC: the keys it may write are touched for other clients'
/// WATCH, on the shards that wrote anything since EXEC locked them (`since`, as
/// `locks::Want::since`: a failed MSETNX touches nothing).
fn touch_keys(
    shard: &Rc<Shard>,
    db: usize,
    spec: &CommandSpec,
    args: &[Bytes],
    since: &[(usize, u64)],
) {
    let touch = locks::Touch::of(spec, args);
    for (t, w) in locks::plan(shard.n, db, spec, args) {
        let (keys, whole) = touch.pick(&w);
        let locked_at = since.iter().find(|p| p.0 == t).map(|p| p.1);
        shard.run_or_post(t, move |sh| {
            let mut st = sh.store.borrow_mut();
            if locked_at == Some(st.dirty) {
                return;
            }
            for (db, k) in &keys {
                st.watch.touch(*db, k);
            }
            if whole {
                st.watch.touch_all();
            }
        });
    }
}
