//! Blocked clients (BLPOP and the other blocking commands, XREAD/XREADGROUP BLOCK) across
//! shards.
//!
//! A blocking command is run by its connection's task. It tries its keys in order, each on the
//! shard that owns it, where one synchronous step either serves it (the key has data), fails it
//! (another type) or registers a waiter for the key. With nothing served, the task waits for a
//! wake-up, its timeout, CLIENT UNBLOCK or its client going away; meanwhile the connection reads
//! nothing more than it needs to notice a disconnect, as in Redis.
//!
//! Waiters sit on the key's shard, in arrival order per key. A write that creates a watched key
//! marks it ready (`Db::insert`), as do writes that change a stream in place (XADD, XGROUP
//! DESTROY: `Db::signal_ready`) and, for keys an XREADGROUP waits on, the key's removal
//! (`Db::watched_gone`); right after that command (`Shard::exec`, `Shard::call`, active
//! expiry) the shard serves the key's waiters in order (`serve_ready`): it pops on the first
//! waiter's behalf, synchronously, so that no other client can take the element in between,
//! sends the result to the waiter's task, and goes on with the next waiter while the key has
//! data. Streams are not consumed: one XADD serves every waiter it has new entries for.
//! BLMOVE/BRPOPLPUSH between two shards' keys are not popped for: their turn is handed to the
//! task (`Served::Go`), which moves the element as LMOVE does, under both keys' locks, so that
//! no client sees it in neither list; the key's other waiters wait until then (`kick`).
//!
//! XREAD/XREADGROUP first resolve what they read (`stream_prepare`: every key checked on its
//! shard in key order, `$` resolved there, then what is there served as the plain command
//! serves it); with nothing there they wait as the others do, each waiter carrying the ID it
//! reads after.
//!
//! A client blocked on several keys has a waiter on each, possibly on several shards, so one
//! `Claim` (an atomic flag) decides who ends its wait: the first shard that serves it, or the
//! task itself (timeout, CLIENT UNBLOCK, disconnect, a wrong type found further in the key
//! order). Whoever loses leaves the data alone: an element is never popped for a client that
//! stopped waiting. Waiters whose claim is taken are skipped by the shards and removed by the
//! task once its wait is over.

use super::{locks, Shard};
use crate::commands::blocking::{self as cmd, Check, Op, Served, StreamRead};
use crate::commands::CommandSpec;
use crate::net::ConnRef;
use crate::protocol::reply::Reply;
use crate::store::fresh;
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
    /// When the command reached the server (the kernel's receive time of its read, or when
    /// its shard started it; ns since the epoch): waiters are served in this order.
    at: u64,
}

/// A shard's waiters, by (database, key), first come first served.
#[derive(Default)]
pub struct Registry {
    keys: HashMap<(usize, Bytes), VecDeque<Waiter>>,
    /// Keys made ready whose waiters are served once every shard has passed on the blocking
    /// commands it had read (see `start_barrier`).
    barriers: HashMap<(usize, Bytes), Barrier>,
    next_barrier: u64,
    /// When this shard last had every shard record the lists and sorted sets it creates
    /// (`announce`).
    announced: u64,
}

struct Barrier {
    id: u64,
    /// Shards yet to answer.
    left: usize,
    /// The key's lock, when it could be taken: other commands on it wait for the serving.
    lock: Option<locks::Want>,
    /// Who may pass that lock before the serving (see `admits_early`); None: nobody.
    early: Option<Early>,
}

/// What a command must show to pass a barrier's lock ahead of the serving: it reached the
/// server before the barrier began (`before`, ns since the epoch), nothing was written here
/// since (`dirty`), and it names none of `keys` (the barrier's key and those of the command
/// whose write started it).
struct Early {
    before: u64,
    dirty: u64,
    db: usize,
    keys: Vec<Bytes>,
}

/// The keys of the command whose write made keys ready, as (database, keys), computed only
/// if a barrier starts.
pub type Trigger<'a> = &'a dyn Fn() -> (usize, Vec<Bytes>);

impl Registry {
    /// How many keys have waiters (INFO total_blocking_keys, as Redis 7.2 reports it).
    pub fn keys(&self) -> usize {
        self.keys.len()
    }
}

fn add_waiter(sh: &Shard, db: usize, key: &Bytes, claim: &Arc<Claim>, op: &Arc<Op>, at: u64) {
    {
        let mut st = sh.store.borrow_mut();
        let d = &mut st.dbs[db];
        d.watched.insert(key.clone());
        if op.unblock_on_nokey() {
            d.watched_gone.insert(key.clone());
        }
    }
    let mut reg = sh.blocking.borrow_mut();
    let q = reg.keys.entry((db, key.clone())).or_default();
    // Commands forwarded from other shards can come in after later ones: in order of `at`
    // (nearly always the end).
    let pos = q.iter().rposition(|w| w.at <= at).map_or(0, |i| i + 1);
    q.insert(
        pos,
        Waiter {
            claim: claim.clone(),
            op: op.clone(),
            at,
        },
    );
}

fn remove_waiter(sh: &Shard, db: usize, key: &Bytes, claim: &Arc<Claim>) {
    let mut reg = sh.blocking.borrow_mut();
    let k = (db, key.clone());
    let Some(q) = reg.keys.get_mut(&k) else {
        return;
    };
    q.retain(|w| !Arc::ptr_eq(&w.claim, claim));
    let mut st = sh.store.borrow_mut();
    let d = &mut st.dbs[db];
    if !q.iter().any(|w| w.op.unblock_on_nokey()) {
        d.watched_gone.remove(key);
    }
    if q.is_empty() {
        reg.keys.remove(&k);
        d.watched.remove(key);
    }
}

/// While alive, blocked clients of this shard are not served (a script or transaction is
/// running); dropping it (also on unwinding) lets them be served again.
pub struct HoldReady<'a>(&'a Shard);

impl<'a> HoldReady<'a> {
    pub fn new(sh: &'a Shard) -> HoldReady<'a> {
        sh.hold_ready.set(sh.hold_ready.get() + 1);
        HoldReady(sh)
    }
}

impl Drop for HoldReady<'_> {
    fn drop(&mut self) {
        self.0
            .hold_ready
            .set(self.0.hold_ready.get().saturating_sub(1));
    }
}

/// Whether some client still waits on `key` here.
fn has_waiters(sh: &Shard, db: usize, key: &Bytes) -> bool {
    sh.blocking
        .borrow()
        .keys
        .get(&(db, key.clone()))
        .is_some_and(|q| q.iter().any(|w| !w.claim.is_taken()))
}

/// Whether `key` waits for a barrier.
fn in_barrier(sh: &Shard, db: usize, key: &Bytes) -> bool {
    let reg = sh.blocking.borrow();
    !reg.barriers.is_empty() && reg.barriers.contains_key(&(db, key.clone()))
}

/// `key` has data for its waiters, but a blocking command for it may still be on its way from
/// another shard: read there before the write that made the key ready, it must be served
/// first, as Redis serves in arrival order. Ask every shard (this one too) to read its sockets
/// and pass on what it read (`Registry::after_two_passes`; its answer comes through the same
/// inbox as the commands it passed on, so after them); meanwhile the key is locked, so that other
/// commands on it wait as they would while Redis serves. Once all have answered (or
/// `Shard::SERVED_LIMIT` passed: a shard busy with a long script, where fairness is given up
/// rather than the key held), `answered` serves the waiters in the order their commands
/// reached the server (`Waiter::at`).
fn start_barrier(sh: &Shard, db: usize, key: Bytes, trigger: Option<Trigger>) {
    let id = {
        let mut reg = sh.blocking.borrow_mut();
        reg.next_barrier += 1;
        reg.next_barrier
    };
    // The key, and where its waiters would move elements to on this shard: what serving
    // writes, which other commands (an EXEC watching a destination …) must not see unwritten.
    let mut keys = vec![(db, key.clone())];
    if let Some(q) = sh.blocking.borrow().keys.get(&(db, key.clone())) {
        for w in q {
            if let Op::Move {
                dst, here: true, ..
            } = &*w.op
            {
                if !keys.iter().any(|(_, k)| k == dst) {
                    keys.push((db, dst.clone()));
                }
            }
        }
    }
    let want = locks::Want {
        keys,
        exclusive: true,
        ..Default::default()
    };
    let lock = {
        let free = {
            let l = sh.locks.borrow();
            l.idle() || !l.blocks(&want)
        };
        free.then_some(want)
    };
    if let Some(w) = &lock {
        locks::take(sh, w);
    }
    let early = match (&lock, trigger.map(|t| t())) {
        (Some(_), Some((tdb, mut keys))) if tdb == db => {
            keys.push(key.clone());
            Some(Early {
                before: crate::util::now_ns(),
                dirty: sh.store.borrow().dirty,
                db,
                keys,
            })
        }
        _ => None,
    };
    sh.blocking.borrow_mut().barriers.insert(
        (db, key.clone()),
        Barrier {
            id,
            left: sh.n,
            lock,
            early,
        },
    );
    // This shard too: a blocking command on one of its own connections may be unread yet.
    for other in 0..sh.n {
        let k = key.clone();
        sh.once_served(other, move |sk| answered(sk, db, &k, id, false));
    }
    let inbox = sh.mesh.get(sh.id).cloned();
    glommio::spawn_local(async move {
        glommio::timer::sleep(Shard::SERVED_LIMIT).await;
        if let Some(inbox) = inbox {
            let _ = inbox.send(Box::new(move |sk| answered(sk, db, &key, id, true)));
        }
    })
    .detach();
}

/// A shard answered barrier `id` (or its time is up, `all`): once all have, serve the key.
fn answered(sh: &Rc<Shard>, db: usize, key: &Bytes, id: u64, all: bool) {
    let k = (db, key.clone());
    let lock = {
        let mut reg = sh.blocking.borrow_mut();
        let Some(b) = reg.barriers.get_mut(&k) else {
            return;
        };
        if b.id != id {
            return;
        }
        b.left = if all { 0 } else { b.left.saturating_sub(1) };
        if b.left > 0 {
            return;
        }
        reg.barriers.remove(&k).and_then(|b| b.lock)
    };
    if sh.hold_ready.get() > 0 {
        // A transaction here now: served after it, as any ready key.
        if let Some(d) = sh.store.borrow_mut().dbs.get_mut(db) {
            d.signal_ready(key);
        }
    } else {
        serve_key_guarded(sh, db, key.clone());
    }
    // What serving made ready (a move's destination) is served now, as Redis serves a chain
    // of moves in one go: everything sent before has arrived, the barrier saw to that.
    if sh.hold_ready.get() == 0 && !sh.blocking.borrow().keys.is_empty() {
        serve_ready_slow(sh, false, None);
    }
    if let Some(w) = lock {
        locks::release(sh, &w);
    }
    serve_ready(sh);
    super::pubsub::flush_events(sh);
}

/// Serve the waiters of keys that writes made ready. Called after every command and
/// cross-shard message; with nobody blocked on this shard it is one check.
#[inline]
pub fn serve_ready(sh: &Shard) {
    if !nothing_to_serve(sh) {
        serve_ready_slow(sh, true, None);
    }
}

/// Nobody is blocked here, or a transaction is running: its keys are served once it is over
/// (as Redis serves after EXEC).
#[inline]
fn nothing_to_serve(sh: &Shard) -> bool {
    sh.blocking.borrow().keys.is_empty() || sh.hold_ready.get() > 0
}

/// `serve_ready` after a command named `args` (`spec`) in `db`: a barrier it starts knows
/// which keys the command named (see `admits_early`).
#[inline]
pub fn serve_ready_after(
    sh: &Shard,
    db: usize,
    spec: &crate::commands::CommandSpec,
    args: &[Bytes],
) {
    if nothing_to_serve(sh) {
        return;
    }
    let keys = || {
        let ks = spec.key_indexes(args);
        (
            db,
            ks.into_iter()
                .filter_map(|i| args.get(i).cloned())
                .collect(),
        )
    };
    serve_ready_slow(sh, true, Some(&keys));
}

/// Whether a command that wants `want` here and reached the server at `arrived` may run now,
/// ahead of the serving of barriers whose locks are in its way (and of the commands queued
/// behind them), as if it had run before the write that started them: Redis would have run it
/// first. It may when it reached the server before each such barrier began, so that it was
/// sent before the write's reply came back; when nothing was written here since, so that it
/// sees nothing written after that write; and when it names neither the barrier's key nor any
/// key of that write, so that neither sees the other. Anything else in its way still stops it.
pub fn admits_early(sh: &Shard, want: &locks::Want, arrived: u64) -> bool {
    let reg = sh.blocking.borrow();
    if reg.barriers.is_empty() || want.whole || !want.hashed.is_empty() {
        return false;
    }
    let dirty = sh.store.borrow().dirty;
    let mut passed: Vec<&(usize, Bytes)> = Vec::new();
    for b in reg.barriers.values() {
        let Some(lock) = &b.lock else {
            continue;
        };
        let in_way: Vec<&(usize, Bytes)> =
            want.keys.iter().filter(|k| lock.keys.contains(k)).collect();
        if in_way.is_empty() {
            continue;
        }
        let Some(e) = &b.early else {
            return false;
        };
        let names = |(d, k): &(usize, Bytes)| *d == e.db && e.keys.contains(k);
        if arrived >= e.before || dirty != e.dirty || want.keys.iter().any(names) {
            return false;
        }
        passed.extend(in_way);
    }
    if passed.is_empty() {
        return false;
    }
    // The rest of what it wants (not whole, no hashes: checked above), held to the usual test.
    let rest = locks::Want {
        keys: want
            .keys
            .iter()
            .filter(|k| !passed.contains(k))
            .cloned()
            .collect(),
        exclusive: want.exclusive,
        ..Default::default()
    };
    !sh.locks.borrow().blocks(&rest)
}

/// `barriers`: keys of other shards' clients wait for a barrier first (not when serving
/// what a barrier's serving made ready). `trigger`: the keys of the command whose writes made
/// the keys ready, when known (not those of what serving then made ready).
#[inline(never)]
fn serve_ready_slow(sh: &Shard, barriers: bool, mut trigger: Option<Trigger>) {
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
            if in_barrier(sh, db, &key) {
                // Served when the barrier ends.
                continue;
            }
            if barriers
                && sh.n > 1
                && sh.config.borrow().blocking_arrival_order
                && has_waiters(sh, db, &key)
            {
                start_barrier(sh, db, key, trigger);
                continue;
            }
            serve_key_guarded(sh, db, key);
            // What that serving wrote is part of the command's effect too, and not in its keys.
            trigger = None;
        }
        trigger = None;
    }
}

/// `serve_key`, where a bug costs the key's waiters (they time out), not the shard, as with
/// handlers.
fn serve_key_guarded(sh: &Shard, db: usize, key: Bytes) {
    let run = std::panic::AssertUnwindSafe(|| serve_key(sh, db, key));
    if std::panic::catch_unwind(run).is_err() {
        crate::logging::warning("BUG: serving blocked clients panicked");
    }
}

/// Serve `key`'s waiters in arrival order, each that it can serve: while it holds data of
/// the type they want for list and sorted-set waiters (as in Redis, a waiter that wants another
/// type keeps its place), every stream waiter it has new entries for, and XREADGROUP waiters
/// whose stream or group is gone (an error).
fn serve_key(sh: &Shard, db: usize, key: Bytes) {
    let k = (db, key);
    let Some(mut queue) = sh.blocking.borrow_mut().keys.remove(&k) else {
        return;
    };
    let key = &k.1;
    let mut kept = VecDeque::with_capacity(queue.len());
    // Found gone: only waiters that hear of that still look.
    let mut gone = false;
    while let Some(w) = queue.pop_front() {
        if w.claim.is_taken() {
            // Its wait ended elsewhere; its task removes the rest of it.
            continue;
        }
        if gone && !w.op.unblock_on_nokey() {
            kept.push_back(w);
            continue;
        }
        let before = sh.feed_offset();
        let served = {
            let mut st = sh.store.borrow_mut();
            let mut ctx = st.ctx(db);
            match cmd::check(&mut ctx, key, &w.op, true) {
                Check::Serve => {
                    if !w.claim.take() {
                        continue;
                    }
                    cmd::serve(&mut ctx, key, &w.op, true)
                }
                Check::Absent => {
                    gone = true;
                    kept.push_back(w);
                    continue;
                }
                Check::Wait | Check::Wrong => {
                    kept.push_back(w);
                    continue;
                }
            }
        };
        if let Served::Go = served {
            // The element stays until the client's task has moved it: the waiters behind it
            // wait for that (the task then has them looked at again, `kick`).
            deliver(sh, &w.claim, served, before);
            kept.extend(queue.drain(..));
            break;
        }
        if served.changed() {
            touch_served(&mut sh.store.borrow_mut(), db, key, &w.op);
        }
        deliver(sh, &w.claim, served, before);
    }
    let nokey = kept.iter().any(|w| w.op.unblock_on_nokey());
    {
        let mut st = sh.store.borrow_mut();
        let d = &mut st.dbs[db];
        if !nokey {
            d.watched_gone.remove(key);
        }
        if kept.is_empty() {
            d.watched.remove(key);
            return;
        }
    }
    sh.blocking.borrow_mut().keys.insert(k, kept);
}

/// A served pop changed the key (and a move its destination, here too): clients WATCHing them
/// fail their EXEC.
fn touch_served(st: &mut crate::store::ShardStore, db: usize, key: &[u8], op: &Op) {
    st.watch.touch(db, key);
    if let Op::Move { dst, .. } = op {
        st.watch.touch(db, dst);
    }
}

/// Send a served result to the waiting task, after the keyspace events queued so far; with
/// `appendfsync always`, once what serving it wrote is on disk (as any write is acknowledged).
fn deliver(sh: &Shard, claim: &Claim, served: Served, before: u64) {
    let Some(tx) = claim.sender() else {
        return;
    };
    // The keyspace events of the write and of this serving go out first: a client that reads
    // the served reply and then writes elsewhere must not have that write's event reach a
    // subscriber before these (Redis publishes them during the commands).
    super::pubsub::flush_events(sh);
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
/// first of another type fails it; if none, register a waiter on each. `at`: when the command
/// reached the server; `in_exec`: it runs inside EXEC.
fn attempt(
    sh: &Shard,
    db: usize,
    keys: &[Bytes],
    claim: &Arc<Claim>,
    op: &Arc<Op>,
    (at, in_exec): (u64, bool),
) -> Attempt {
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
    // A key whose waiters a barrier is about to serve: this command may have come before some
    // of them, so it takes its place among them instead of taking the data now.
    if keys.iter().any(|k| in_barrier(sh, db, k)) {
        join_waiters(sh, db, keys, claim, op, at);
        return Attempt::Registered;
    }
    // Not inside EXEC: nothing blocks there, and the key may be the transaction's own.
    let late = !in_exec
        && !matches!(**op, Op::Stream(_))
        && sh.n > 1
        && sh.config.borrow().blocking_arrival_order;
    {
        let mut st = sh.store.borrow_mut();
        let mut ctx = st.ctx(db);
        for key in keys {
            match cmd::check(&mut ctx, key, op, false) {
                Check::Absent | Check::Wait => {}
                Check::Serve if late && ctx.db().fresh.created_after(key, at) => {
                    // The key was created after this command reached the server: a lone
                    // Redis would have had it waiting then, and served it among the key's
                    // waiters in arrival order, some of which may still be on their way from
                    // other shards. It waits for the barrier that gathers them.
                    drop(st);
                    join_waiters(sh, db, keys, claim, op, at);
                    if !in_barrier(sh, db, key) {
                        start_barrier(sh, db, key.clone(), None);
                    }
                    return Attempt::Registered;
                }
                Check::Serve => {
                    if !claim.take() {
                        return Attempt::Claimed;
                    }
                    let served = cmd::serve(&mut ctx, key, op, false);
                    if served.changed() {
                        touch_served(&mut st, db, key, op);
                    }
                    return Attempt::Done(served);
                }
                Check::Wrong => return end(Served::Reply(Reply::wrongtype())),
            }
        }
    }
    for key in keys {
        add_waiter(sh, db, key, claim, op, at);
    }
    Attempt::Registered
}

/// Register waiters on `keys`, as a command that came while a barrier gathers a key's waiters
/// does: keys not in a barrier that hold data are marked ready (served in turn, as ready keys
/// are).
fn join_waiters(sh: &Shard, db: usize, keys: &[Bytes], claim: &Arc<Claim>, op: &Arc<Op>, at: u64) {
    for key in keys {
        add_waiter(sh, db, key, claim, op, at);
        if !in_barrier(sh, db, key) {
            let mut st = sh.store.borrow_mut();
            let has = matches!(cmd::check(&mut st.ctx(db), key, op, false), Check::Serve);
            if has {
                st.dbs[db].signal_ready(key);
            }
        }
    }
}

/// Have every shard record the lists and sorted sets it creates for a while (`FreshKeys`), so
/// that a blocking command that comes to a key's shard after the key's creation can tell
/// whether it reached the server before it. Told once every half window at most.
fn announce(shard: &Rc<Shard>) {
    if shard.n < 2 || !shard.config.borrow().blocking_arrival_order {
        return;
    }
    let now = crate::util::now_ns();
    {
        let mut reg = shard.blocking.borrow_mut();
        if reg.announced + fresh::OPEN_FOR / 2 > now {
            return;
        }
        reg.announced = now;
    }
    let until = now + fresh::OPEN_FOR;
    for other in 0..shard.n {
        shard.run_or_post(other, move |sh| {
            for d in sh.store.borrow_mut().dbs.iter_mut() {
                d.fresh.open(until);
            }
        });
    }
}

/// What trying `keys` on their shard takes there: each key (and a move's destination when it
/// is there too), exclusively.
fn attempt_want(db: usize, keys: &[Bytes], op: &Op) -> locks::Want {
    let mut want: Vec<(usize, Bytes)> = keys.iter().map(|k| (db, k.clone())).collect();
    if let Op::Move {
        dst, here: true, ..
    } = op
    {
        want.push((db, dst.clone()));
    }
    locks::Want {
        keys: want,
        exclusive: true,
        ..Default::default()
    }
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
    announce(shard);
    // When it reached the server (a retry after a lost move queues anew, behind later ones).
    let mut at = {
        let mut c = conn.borrow_mut();
        let at = c.rx_ns.unwrap_or_else(crate::util::now_ns);
        if shard.net.borrow().stamped {
            c.stamp_always();
        }
        at
    };
    let parsed = if matches!(spec.name, "xread" | "xreadgroup") {
        stream_prepare(shard, db, args, at).await
    } else {
        cmd::parse(spec.name, args, shard.n)
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => return e,
    };
    // Inside EXEC nothing blocks: the command answers as if timed out.
    let in_exec = conn.borrow().client.tx.deny_blocking;
    let timeout = if in_exec {
        Some(Duration::ZERO)
    } else {
        parsed.timeout
    };
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    let op = Arc::new(parsed.op);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        let (served, woken) = block_once(
            shard,
            conn,
            db,
            &parsed.keys,
            &op,
            Try {
                timeout: left,
                in_exec,
                at,
            },
        )
        .await;
        let src = match served {
            Served::Reply(r) => return r,
            Served::Go => &parsed.keys[0],
        };
        let moved = move_across(shard, db, &op, src, in_exec).await;
        if woken {
            kick(shard, db, src);
        }
        // Nil: another client emptied the source first. Wait on, for what is left of the
        // timeout.
        if !matches!(moved, Reply::Nil) {
            return moved;
        }
        at = crate::util::now_ns();
    }
}

/// How one try of a blocking command goes: how long it may wait, whether EXEC holds its keys'
/// locks, and when it reached the server (the order among a key's waiters).
struct Try {
    timeout: Option<Duration>,
    in_exec: bool,
    at: u64,
}

/// Try the keys, then (nothing there) wait for a shard to serve us, the timeout or a cancel.
/// Also whether a shard's wake-up served us (not the first try).
async fn block_once(
    shard: &Rc<Shard>,
    conn: &ConnRef,
    db: usize,
    keys: &[Bytes],
    op: &Arc<Op>,
    how: Try,
) -> (Served, bool) {
    let Try {
        timeout,
        in_exec,
        at,
    } = how;
    let (tx, mut rx) = oneshot::channel();
    let claim = Arc::new(Claim {
        taken: AtomicBool::new(false),
        tx: Mutex::new(Some(tx)),
    });
    let mut registered: Vec<(usize, Vec<Bytes>)> = Vec::new();
    let mut done = None;
    for (owner, keys) in runs(keys, shard.n) {
        let (c, o, k) = (claim.clone(), op.clone(), keys.clone());
        let tried = shard.call_deferred(owner, move |sh, answer| {
            // Inside EXEC, which holds these keys' locks; a barrier's key is locked by the
            // barrier, whose waiters this command joins.
            if in_exec || k.iter().any(|key| in_barrier(sh, db, key)) {
                return answer.send(sh, attempt(sh, db, &k, &c, &o, (at, in_exec)));
            }
            // Keys a multi-shard command holds are tried once it lets go, as any command's.
            let (wk, wo) = (k.clone(), o.clone());
            locks::run_when_free(
                sh,
                move || attempt_want(db, &wk, &wo),
                Box::new(move |sh| {
                    let r = attempt(sh, db, &k, &c, &o, (at, in_exec));
                    answer.send(sh, r)
                }),
            );
        });
        match tried.await {
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
        Some(s) => (s, false),
        None if claim.is_taken() => {
            let s = (&mut rx).await.unwrap_or(Served::Reply(Reply::err(GONE)));
            (s, true)
        }
        None => (wait(shard, conn, &claim, rx, timeout).await, true),
    };
    deregister(shard, db, registered, claim);
    served
}

/// BLMOVE/BRPOPLPUSH across shards once the source holds an element (`Served::Go`): the move
/// LMOVE makes, under both keys' locks (inside EXEC, which holds them, without taking them).
/// BRPOPLPUSH is LMOVE RIGHT LEFT (its `Op::Move` says so).
async fn move_across(shard: &Rc<Shard>, db: usize, op: &Op, src: &Bytes, in_exec: bool) -> Reply {
    let Op::Move { dst, from, to, .. } = op else {
        return Reply::NilArray;
    };
    let side = |e| Bytes::from_static(cmd::side(e));
    let head = Bytes::from_static(b"LMOVE");
    let args = vec![head, src.clone(), dst.clone(), side(*from), side(*to)];
    let Some(spec) = crate::commands::lookup(b"lmove") else {
        return Reply::err("ERR internal routing error");
    };
    if in_exec {
        return super::coordinator::run_locked(shard, db, spec, &args).await;
    }
    let run = super::coordinator::run(shard, db, spec, &args);
    super::pubsub::coordinated(shard, db, spec, &args, run).await
}

/// After a move a shard's wake-up handed us (`serve_key` left the source's other waiters
/// alone meanwhile): have them looked at again, the key may hold elements for them.
fn kick(shard: &Rc<Shard>, db: usize, key: &Bytes) {
    let k = key.clone();
    let owner = crate::routing::key_shard(key, shard.n);
    shard.run_or_post(owner, move |sh| {
        if let Some(d) = sh.store.borrow_mut().dbs.get_mut(db) {
            d.signal_ready(&k);
        }
        serve_ready(sh);
    });
}

/// XREAD/XREADGROUP BLOCK up to its wait, as the plain command runs (`coordinator::xread`):
/// every key checked on its shard, in key order (type, group; `$` resolved there), so that an
/// error leaves no stream touched; then what is there served, key by key. Err: the reply (an
/// error, or what was there). Ok: what to wait for, each key read after the ID resolved here
/// (XREADGROUP: `>`, the group's last ID when served).
async fn stream_prepare(
    shard: &Rc<Shard>,
    db: usize,
    args: &[Bytes],
    arrived: u64,
) -> Result<cmd::Blocking, Reply> {
    use crate::commands::stream::{
        parse_read, read_check, read_late, read_reply, read_serve, ReadFrom,
    };
    let r = parse_read(args)?;
    let keys = &args[r.streams..r.streams + r.nkeys];
    let ids = &args[r.streams + r.nkeys..];
    // Runs of consecutive keys on one shard: (owner, [(key, id)]).
    let mut parts: Vec<(usize, Vec<(Bytes, Bytes)>)> = Vec::new();
    for (k, id) in keys.iter().zip(ids) {
        let owner = crate::routing::key_shard(k, shard.n);
        let pair = (k.clone(), id.clone());
        match parts.last_mut() {
            Some((o, v)) if *o == owner => v.push(pair),
            _ => parts.push((owner, vec![pair])),
        }
    }
    let mut froms: Vec<ReadFrom> = Vec::with_capacity(keys.len());
    for (owner, part) in &parts {
        let (ra, part) = (r.clone(), part.clone());
        let checked = shard
            .call(*owner, move |sh| {
                let mut st = sh.store.borrow_mut();
                let mut ctx = st.ctx(db);
                part.iter()
                    .map(|(k, id)| {
                        let checked = read_check(&mut ctx, &ra, k, id);
                        if ra.block.is_none() {
                            return checked;
                        }
                        match ctx.db().gone_streams.since(k, arrived) {
                            Some(gone) => read_late(&ra, id, checked, gone),
                            None => checked,
                        }
                    })
                    .collect::<Result<Vec<_>, Reply>>()
            })
            .await
            .unwrap_or_else(|| Err(Reply::err(GONE)))?;
        froms.extend(checked);
    }
    let mut served = Vec::new();
    let mut at = 0;
    for (owner, part) in parts {
        let fr = froms[at..at + part.len()].to_vec();
        at += part.len();
        let ra = r.clone();
        let got = shard
            .call(owner, move |sh| {
                let mut st = sh.store.borrow_mut();
                let mut ctx = st.ctx(db);
                part.into_iter()
                    .zip(fr)
                    .filter_map(|((k, _), f)| read_serve(&mut ctx, &ra, &k, f).map(|rep| (k, rep)))
                    .collect::<Vec<_>>()
            })
            .await
            .ok_or_else(|| Reply::err(GONE))?;
        served.extend(got);
    }
    let Some(ms) = r.block else {
        return Err(read_reply(served));
    };
    if !served.is_empty() {
        return Err(read_reply(served));
    }
    let mut from = HashMap::new();
    for (k, f) in keys.iter().zip(froms) {
        // A key given twice reads from its first ID (as Redis blocks on it).
        from.entry(k.clone()).or_insert(f);
    }
    Ok(cmd::Blocking {
        keys: keys.to_vec(),
        op: Op::Stream(Box::new(StreamRead { read: r, from })),
        timeout: cmd::timeout_ms(ms),
    })
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
