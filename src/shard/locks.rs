//! Intent locks: what makes a command whose keys live on several shards atomic.
//!
//! The protocol, in the spirit of Dragonfly's VLL (very lightweight locking):
//! - A multi-shard command (or an EXEC spanning shards) first asks each shard it touches, in
//!   ascending shard order, to lock that shard's keys: shared for a read-only command,
//!   exclusive for a write, or the whole shard for work whose keys can't be named in advance
//!   (SORT … BY/GET patterns, transactions with server commands). A shard grants a request when
//!   none of its keys conflict with a held lock or with an earlier request still waiting
//!   there (FIFO, so nothing starves); otherwise the request waits in that shard's queue and the
//!   coordinator waits for the grant before asking the next shard. All of one shard's keys are
//!   granted at once and shards are always asked in the same order, so two coordinators cannot
//!   wait for each other (ordered acquisition: no cycle is possible).
//! - With every lock held, the command's parts run on their shards, in as many hops as it
//!   needs; other coordinators' parts never touch these keys meanwhile.
//! - The locks are then released on every shard (a message each, not waited for); a write also
//!   marks the keys it may write touched for WATCH there (`Touch`).
//! - A single-shard command checks `Locks::idle` (one borrow, two comparisons) before running:
//!   the common case costs nothing more. Only when some lock is held or waiting does it look its
//!   keys up; if one is locked (or wanted by an earlier waiting request) the command parks in the
//!   same queue and runs, in order, when the keys are free. Pipelined commands behind it on the
//!   same connection wait behind it.
//! - Nobody observes a partial effect: a reader of any involved key waits for the release, and
//!   the release happens after every part ran (and, under `appendfsync always`, after each part
//!   was synced, as `Shard::call` answers only then).
//!
//! What takes no locks: server-wide commands (FLUSHALL, KEYS, SCAN, DBSIZE …), as the brief
//! lists them fan-out reads/writes; blocked clients being served (BLPOP …) run inside the
//! command that woke them.

use super::Shard;
use crate::persistence::feed::TxMark;
use bytes::Bytes;
use futures::channel::oneshot;
use std::collections::VecDeque;
use std::rc::Rc;

/// What a request wants on one shard.
#[derive(Clone, Debug, Default)]
pub struct Want {
    /// (database, key) pairs; duplicates are allowed and counted.
    pub keys: Vec<(usize, Bytes)>,
    /// More keys, as their `key_hash`: for a holder that needs no key itself (no AOF bracket,
    /// nothing touched by key on release). Hashes cross shards without touching the reference
    /// counts of the buffers the keys were parsed into.
    pub hashed: Vec<u64>,
    pub exclusive: bool,
    /// The whole shard (every key), exclusively.
    pub whole: bool,
    /// A logged multi-shard write: its records here are bracketed (persistence/feed.rs).
    pub tx: Option<TxMark>,
    /// A transaction (EXEC), script or multi-shard write: blocked clients are served after it,
    /// not between its commands or steps.
    pub hold_ready: bool,
    /// The shard's write counter (`ShardStore::dirty`) when the holder got these locks: on
    /// release its keys are touched for WATCH only if the shard wrote anything since (Redis
    /// touches only what a command modified: a failed MSETNX or RENAMENX touches nothing).
    /// Conservative: another client's write elsewhere on the shard meanwhile counts too. None:
    /// always touched.
    pub since: Option<u64>,
}

/// How many holders (or waiters) want one key, shared and exclusively.
#[derive(Default, Clone, Copy)]
struct Count {
    shared: u32,
    exclusive: u32,
}

/// Held keys by hash, with counts. Two keys with one hash count as one key: a false conflict
/// only makes one wait for the other's release, never lets two conflicting ones run together.
/// Hashes keep every check O(keys of the asker), whatever the others hold: a pipelined pass
/// locks tens of keys (`coordinator::one_pass`), a big MSET thousands.
#[derive(Default)]
struct KeySet {
    keys: ahash::AHashMap<u64, Count>,
    whole: u32,
}

impl KeySet {
    fn is_empty(&self) -> bool {
        self.whole == 0 && self.keys.is_empty()
    }

    fn add(&mut self, w: &Want, hashes: &[u64]) {
        if w.whole {
            self.whole += 1;
            return;
        }
        for h in hashes {
            let c = self.keys.entry(*h).or_default();
            if w.exclusive {
                c.exclusive += 1;
            } else {
                c.shared += 1;
            }
        }
    }

    fn remove(&mut self, w: &Want, hashes: &[u64]) {
        if w.whole {
            self.whole = self.whole.saturating_sub(1);
            return;
        }
        for h in hashes {
            if let Some(c) = self.keys.get_mut(h) {
                if w.exclusive {
                    c.exclusive = c.exclusive.saturating_sub(1);
                } else {
                    c.shared = c.shared.saturating_sub(1);
                }
                if c.exclusive == 0 && c.shared == 0 {
                    self.keys.remove(h);
                }
            }
        }
    }

    /// Whether `w` (its keys' `hashes`) may not run while these are held.
    fn conflicts(&self, w: &Want, hashes: &[u64]) -> bool {
        if self.whole > 0 {
            return true;
        }
        if w.whole {
            return !self.keys.is_empty();
        }
        hashes.iter().any(|h| {
            self.keys
                .get(h)
                .is_some_and(|c| c.exclusive > 0 || (w.exclusive && c.shared > 0))
        })
    }
}

/// What the queue's waiters want, by key hash: (waiter's sequence number, exclusive) each, so
/// that "does a waiter ahead of this one want a conflicting key" costs a lookup per key.
#[derive(Default)]
struct Waiting {
    keys: ahash::AHashMap<u64, Vec<(u64, bool)>>,
    /// Waiters wanting their whole shard.
    whole: u32,
}

impl Waiting {
    fn add(&mut self, q: &Waiter) {
        if q.want.whole {
            self.whole += 1;
            return;
        }
        for h in &q.hashes {
            self.keys
                .entry(*h)
                .or_default()
                .push((q.seq, q.want.exclusive));
        }
    }

    fn remove(&mut self, q: &Waiter) {
        if q.want.whole {
            self.whole = self.whole.saturating_sub(1);
            return;
        }
        for h in &q.hashes {
            if let Some(v) = self.keys.get_mut(h) {
                v.retain(|e| e.0 != q.seq);
                if v.is_empty() {
                    self.keys.remove(h);
                }
            }
        }
    }

    /// Whether a waiter queued before sequence number `seq` wants one of `w`'s keys in a way
    /// that conflicts (whole-shard waiters are the caller's business).
    fn conflicts_before(&self, seq: u64, w: &Want, hashes: &[u64]) -> bool {
        hashes.iter().any(|h| {
            self.keys.get(h).is_some_and(|v| {
                v.iter()
                    .any(|&(s, exclusive)| s < seq && (exclusive || w.exclusive))
            })
        })
    }
}

/// A parked piece of work: run when its keys are free.
pub type Job = Box<dyn FnOnce(&Rc<Shard>)>;

enum Then {
    /// A coordinator's lock request: the grant wakes it.
    Grant(oneshot::Sender<u64>),
    /// A command (or the rest of a pipeline) that met a locked key.
    Run(Job),
}

struct Waiter {
    want: Want,
    hashes: Vec<u64>,
    /// Queue order.
    seq: u64,
    then: Then,
}

/// One shard's lock table and its queue of waiting requests and parked commands.
#[derive(Default)]
pub struct Locks {
    held: KeySet,
    /// Everything the queue's waiters want.
    waiting: Waiting,
    queue: VecDeque<Waiter>,
    next_seq: u64,
}

/// One hasher for every shard's table, so that a want's keys can be hashed where it is made
/// (`Want::hashed`). Seeded at random per process.
static HASHER: std::sync::LazyLock<ahash::RandomState> =
    std::sync::LazyLock::new(ahash::RandomState::new);

/// What a key counts as in a lock table.
pub fn key_hash(db: usize, key: &[u8]) -> u64 {
    HASHER.hash_one((db, key))
}

impl Locks {
    /// Nothing held, nothing waiting: every command may run at once.
    #[inline]
    pub fn idle(&self) -> bool {
        self.held.is_empty() && self.queue.is_empty()
    }

    /// The hashes of `w`'s keys, sorted, each once (what a want counts for in a `KeySet`).
    fn hashes(&self, w: &Want) -> Vec<u64> {
        let mut h: Vec<u64> = Vec::with_capacity(w.keys.len() + w.hashed.len());
        h.extend(w.keys.iter().map(|(db, k)| key_hash(*db, k)));
        h.extend_from_slice(&w.hashed);
        h.sort_unstable();
        h.dedup();
        h
    }

    /// Whether work wanting `w` has to wait: a held lock or an earlier waiter conflicts.
    pub fn blocks(&self, w: &Want) -> bool {
        let h = self.hashes(w);
        self.held.conflicts(w, &h)
            || self.waiting.whole > 0
            || (w.whole && !self.queue.is_empty())
            || self.waiting.conflicts_before(u64::MAX, w, &h)
    }

    fn hold(&mut self, w: &Want) {
        let h = self.hashes(w);
        self.held.add(w, &h);
    }

    /// What `w` freed, for `take_ready`: its key hashes, or None for a whole-shard want.
    fn unhold(&mut self, w: &Want) -> Option<Vec<u64>> {
        let h = self.hashes(w);
        self.held.remove(w, &h);
        (!w.whole).then_some(h)
    }

    fn enqueue(&mut self, want: Want, then: Then) {
        let hashes = self.hashes(&want);
        self.next_seq += 1;
        let q = Waiter {
            want,
            hashes,
            seq: self.next_seq,
            then,
        };
        self.waiting.add(&q);
        self.queue.push_back(q);
    }

    /// Every waiter that may go now, in queue order, taken out of the queue: no conflict with
    /// what is held, nor with any waiter ahead of it (still waiting, or going in this round).
    /// A grant is held at once; a job takes its locks (if any) when it runs, so what it wants
    /// keeps later waiters back until the next round.
    ///
    /// `freed`: the key hashes whose holders or waiters just went (sorted), or None to look at
    /// the whole queue. Only a waiter that now leads its queue at one of those keys can have
    /// become free (one that was blocked at a key whose state didn't change still is), so with
    /// a hundred waiters queued a release looks at a few, not all of them (`take_all` looked
    /// at every waiter on every release: a quarter of the server's time in `release` with 200
    /// clients pipelining multi-shard MSETs). Whole-shard wants don't keep per-key queues:
    /// while one is held or waits, and for a freed whole-shard want, the whole queue is looked
    /// at.
    fn take_ready(&mut self, freed: Option<&[u64]>) -> Vec<Waiter> {
        let freed = match freed {
            Some(f) if self.waiting.whole == 0 && self.held.whole == 0 => f,
            _ => return self.take_all(),
        };
        let mut cand: Vec<u64> = Vec::new();
        for h in freed {
            let Some(v) = self.waiting.keys.get(h) else {
                continue;
            };
            // The head, and the shared wants right behind a shared head.
            for (i, &(seq, exclusive)) in v.iter().enumerate() {
                if exclusive && i > 0 {
                    break;
                }
                cand.push(seq);
                if exclusive {
                    break;
                }
            }
        }
        if cand.is_empty() {
            return Vec::new();
        }
        cand.sort_unstable();
        cand.dedup();
        let mut ready = Vec::new();
        // Jobs going this round: out of `waiting` only after the round (see `take_all`).
        let mut jobs = Vec::new();
        for seq in cand {
            let Ok(i) = self.queue.binary_search_by_key(&seq, |q| q.seq) else {
                continue;
            };
            let q = &self.queue[i];
            if self.held.conflicts(&q.want, &q.hashes)
                || self.waiting.conflicts_before(q.seq, &q.want, &q.hashes)
            {
                continue;
            }
            let Some(q) = self.queue.remove(i) else {
                continue;
            };
            match q.then {
                Then::Grant(_) => {
                    self.waiting.remove(&q);
                    self.held.add(&q.want, &q.hashes);
                    ready.push(q);
                }
                Then::Run(_) => jobs.push(q),
            }
        }
        for q in &jobs {
            self.waiting.remove(q);
        }
        ready.extend(jobs);
        ready.sort_unstable_by_key(|q| q.seq);
        ready
    }

    /// `take_ready` looking at every waiter.
    fn take_all(&mut self) -> Vec<Waiter> {
        let mut go = vec![false; self.queue.len()];
        // Ahead of the one looked at: a waiter that stays or goes as a job (it takes its locks
        // when it runs), and whether one of those wants its whole shard.
        let (mut ahead, mut ahead_whole) = (false, false);
        for (i, q) in self.queue.iter().enumerate() {
            let blocked = ahead_whole
                || (q.want.whole && ahead)
                || self.held.conflicts(&q.want, &q.hashes)
                || self.waiting.conflicts_before(q.seq, &q.want, &q.hashes);
            if !blocked {
                go[i] = true;
                if let Then::Grant(_) = q.then {
                    self.waiting.remove(q);
                    self.held.add(&q.want, &q.hashes);
                    continue;
                }
            }
            ahead = true;
            ahead_whole |= q.want.whole;
        }
        if !go.contains(&true) {
            return Vec::new();
        }
        let mut ready = Vec::new();
        let mut rest = VecDeque::with_capacity(self.queue.len());
        for (q, go) in self.queue.drain(..).zip(go) {
            if !go {
                rest.push_back(q);
                continue;
            }
            if let Then::Run(_) = q.then {
                self.waiting.remove(&q);
            }
            ready.push(q);
        }
        self.queue = rest;
        ready
    }
}

/// Ask this shard for the locks in `w`: Ok(its write counter) if granted now, else the grant
/// to wait for (which brings the counter at that time).
fn request(sh: &Rc<Shard>, w: Want) -> Result<u64, oneshot::Receiver<u64>> {
    let mut l = sh.locks.borrow_mut();
    if !l.blocks(&w) {
        l.hold(&w);
        drop(l);
        mark(sh, &w);
        return Ok(sh.store.borrow().dirty);
    }
    let (tx, rx) = oneshot::channel();
    l.enqueue(w, Then::Grant(tx));
    Err(rx)
}

/// Give the locks in `w` back and let waiters go.
pub fn release(sh: &Rc<Shard>, w: &Want) {
    if let Some(m) = w.tx {
        sh.store.borrow_mut().feed.unmark(m, &w.keys, w.whole);
    }
    let freed = sh.locks.borrow_mut().unhold(w);
    if w.hold_ready {
        sh.hold_ready.set(sh.hold_ready.get().saturating_sub(1));
        super::blocking::serve_ready(sh);
    }
    wake(sh, freed);
}

/// Take the locks in `w` here now (the caller checked that nothing is in the way: a job run by
/// `run_when_free`).
pub fn take(sh: &Shard, w: &Want) {
    sh.locks.borrow_mut().hold(w);
    mark(sh, w);
}

/// Granted: a logged write's records of these keys go in its bracket from now on.
fn mark(sh: &Shard, w: &Want) {
    if let Some(m) = w.tx {
        sh.store.borrow_mut().feed.mark(m, &w.keys, w.whole);
    }
    if w.hold_ready {
        sh.hold_ready.set(sh.hold_ready.get() + 1);
    }
}

/// Grant or run every waiter that may go now that `freed` went (see `take_ready`), in queue
/// order; then those that the ones gone leave free, until none is.
fn wake(sh: &Rc<Shard>, mut freed: Option<Vec<u64>>) {
    loop {
        let ready = sh.locks.borrow_mut().take_ready(freed.as_deref());
        if ready.is_empty() {
            return;
        }
        let next = freed_by(&ready);
        for waiter in ready {
            match waiter.then {
                Then::Grant(tx) => {
                    // A coordinator that went away (shutdown) can't use the grant: give it
                    // back.
                    let dirty = sh.store.borrow().dirty;
                    if tx.send(dirty).is_err() {
                        sh.locks.borrow_mut().unhold(&waiter.want);
                    } else {
                        mark(sh, &waiter.want);
                    }
                }
                // Run outside the borrow: the job takes the store and may park itself again.
                Then::Run(job) => job(sh),
            }
        }
        freed = next;
    }
}

/// What the waiters that went leave free for the next round of `take_ready`: their places in
/// the queue (a grant's keys stay held, so nothing behind it moves; a job's are free unless it
/// takes them as it runs). None when one wanted its whole shard.
fn freed_by(ready: &[Waiter]) -> Option<Vec<u64>> {
    let mut f = Vec::new();
    for q in ready {
        if q.want.whole {
            return None;
        }
        f.extend_from_slice(&q.hashes);
    }
    f.sort_unstable();
    f.dedup();
    Some(f)
}

/// Run `job` now if nothing stands in the way of `w` on this shard, else park it until then.
#[inline]
pub fn run_when_free(sh: &Rc<Shard>, w: impl FnOnce() -> Want, job: Job) {
    if sh.locks.borrow().idle() {
        return job(sh);
    }
    let w = w();
    let blocked = sh.locks.borrow().blocks(&w);
    if blocked {
        park(sh, w, job);
    } else {
        job(sh);
    }
}

/// Queue `job` behind the locks and waiters in the way of `w`.
pub fn park(sh: &Rc<Shard>, w: Want, job: Job) {
    sh.locks.borrow_mut().enqueue(w, Then::Run(job));
}

/// What a command run on one shard wants: its keys there, shared or exclusive.
pub fn want_of(db: usize, spec: &crate::commands::CommandSpec, args: &[Bytes]) -> Want {
    Want {
        keys: spec
            .key_indexes(args)
            .into_iter()
            .filter_map(|i| args.get(i).map(|k| (db, k.clone())))
            .collect(),
        exclusive: spec.is_write(),
        whole: false,
        ..Default::default()
    }
}

/// Whether a command must wait for locks on this shard (only looked at when some lock is held
/// or wanted).
#[inline]
pub fn command_blocked(
    sh: &Shard,
    db: usize,
    spec: &crate::commands::CommandSpec,
    args: &[Bytes],
) -> bool {
    let l = sh.locks.borrow();
    !l.idle() && l.blocks(&want_of(db, spec, args))
}

/// Which locked keys WATCH sees touched when the locks are released.
#[derive(Clone)]
pub enum Touch {
    /// A read.
    Nothing,
    /// Every locked key (and a whole locked shard).
    All,
    /// The locked keys among these (the keys a write may modify, `written_positions`).
    Only(Vec<Bytes>),
}

impl Touch {
    /// A write's keys by its key specs; nothing for a read.
    pub fn of(spec: &crate::commands::CommandSpec, args: &[Bytes]) -> Touch {
        if !spec.is_write() {
            return Touch::Nothing;
        }
        let written = super::written_positions(spec, args);
        // Every key written (MSETNX …): no list to search per key.
        if written.len() >= spec.key_indexes(args).len() {
            return Touch::All;
        }
        Touch::Only(
            written
                .into_iter()
                .filter_map(|i| args.get(i).cloned())
                .collect(),
        )
    }

    /// All for a write, nothing for a read.
    pub fn all_if(write: bool) -> Touch {
        if write {
            Touch::All
        } else {
            Touch::Nothing
        }
    }

    /// Which of one shard's locked keys (`w`) are touched, and whether its whole keyspace is.
    pub fn pick(&self, w: &Want) -> (Vec<(usize, Bytes)>, bool) {
        match self {
            Touch::Nothing => (Vec::new(), false),
            Touch::All => (w.keys.clone(), w.whole),
            Touch::Only(ks) => (
                w.keys
                    .iter()
                    .filter(|(_, k)| ks.contains(k))
                    .cloned()
                    .collect(),
                false,
            ),
        }
    }
}

/// Locks held on several shards; released when dropped (so a coordinator that fails or is
/// cancelled never leaves keys locked).
pub struct Guard {
    shard: Rc<Shard>,
    parts: Vec<(usize, Want)>,
    /// What WATCH sees touched when releasing.
    touched: Touch,
    /// A logged write whose parts all ran: each shard logs its TXDONE as it releases.
    done: Option<TxMark>,
}

impl Guard {
    /// One more shard whose locks `take` took.
    pub fn push(&mut self, target: usize, w: Want) {
        self.parts.push((target, w));
    }

    /// Locks taken already (by `take`), on `parts`: released (TXDONE logged if `done`, keys
    /// touched for WATCH as `touched` says) when dropped.
    pub fn held(
        shard: &Rc<Shard>,
        parts: Vec<(usize, Want)>,
        touched: Touch,
        done: Option<TxMark>,
    ) -> Guard {
        Guard {
            shard: shard.clone(),
            parts,
            touched,
            done,
        }
    }

    /// Each locked shard's write counter when its locks were granted (`Want::since`).
    pub fn since(&self) -> Vec<(usize, u64)> {
        self.parts
            .iter()
            .filter_map(|(t, w)| w.since.map(|d| (*t, d)))
            .collect()
    }

    /// Every part ran: log the transaction as done on every shard, then release. Under
    /// `appendfsync always` the release waits until every TXDONE is synced, so nobody sees
    /// (and builds on) a multi-shard write that recovery could still drop.
    pub async fn commit(mut self) {
        let Some(m) = self.parts.first().and_then(|p| p.1.tx) else {
            return;
        };
        if self.shard.aof_always.get() {
            let calls = self.parts.iter().map(|(t, _)| {
                self.shard
                    .call(*t, move |sh| sh.store.borrow_mut().feed.tx_done(m))
            });
            futures::future::join_all(calls).await;
        } else {
            self.done = Some(m);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let done = self.done;
        for (target, w) in std::mem::take(&mut self.parts) {
            let (keys, whole) = self.touched.pick(&w);
            self.shard.run_or_post(target, move |sh| {
                {
                    let mut st = sh.store.borrow_mut();
                    if let Some(m) = done {
                        st.feed.tx_done(m);
                    }
                    if w.since.is_none_or(|d| d != st.dirty) {
                        for (db, k) in &keys {
                            st.watch.touch(*db, k);
                        }
                        if whole {
                            st.watch.touch_all();
                        }
                    }
                }
                release(sh, &w);
            });
        }
    }
}

/// Lock `parts` (shard, want), asking the shards in ascending order and waiting for each
/// grant before the next. `touched`: which keys WATCH sees touched on release.
/// `logged`: a write whose records are bracketed in the AOF (when it is on). None if a shard
/// is gone (shutdown).
pub async fn acquire(
    shard: &Rc<Shard>,
    mut parts: Vec<(usize, Want)>,
    touched: Touch,
    logged: bool,
) -> Option<Guard> {
    parts.sort_by_key(|p| p.0);
    // One request per shard: merge duplicates (a whole-shard lock absorbs keys).
    let mut merged: Vec<(usize, Want)> = Vec::with_capacity(parts.len());
    for (t, w) in parts {
        match merged.last_mut() {
            Some((lt, lw)) if *lt == t => {
                lw.keys.extend(w.keys);
                lw.exclusive |= w.exclusive;
                lw.whole |= w.whole;
                lw.hold_ready |= w.hold_ready;
            }
            _ => merged.push((t, w)),
        }
    }
    if logged && merged.len() > 1 && shard.store.borrow().feed.on {
        let m = TxMark {
            id: shard
                .global
                .next_tx
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            parts: merged.len() as u32,
        };
        for (_, w) in &mut merged {
            w.tx = Some(m);
        }
    }
    let mut guard = Guard {
        shard: shard.clone(),
        parts: Vec::with_capacity(merged.len()),
        touched,
        done: None,
    };
    for (target, w) in merged {
        let ask = w.clone();
        let answer = shard.call(target, move |sh| request(sh, ask)).await?;
        // Held from here on (released by the guard even if the grant never comes).
        guard.parts.push((target, w));
        let dirty = match answer {
            Ok(d) => d,
            Err(rx) => rx.await.ok()?,
        };
        if let Some(p) = guard.parts.last_mut() {
            p.1.since = Some(dirty);
        }
    }
    Some(guard)
}

/// Every shard, whole: for work whose keys can't be named in advance.
pub fn whole_shards(n: usize) -> Vec<(usize, Want)> {
    (0..n)
        .map(|t| {
            let w = Want {
                whole: true,
                exclusive: true,
                ..Default::default()
            };
            (t, w)
        })
        .collect()
}

/// The locks a multi-shard command needs: its keys on their owners, or every whole shard when
/// its keys can't be named in advance.
pub fn plan(
    n: usize,
    db: usize,
    spec: &crate::commands::CommandSpec,
    args: &[Bytes],
) -> Vec<(usize, Want)> {
    if spec.spread_fn.is_some_and(|f| f(args)) {
        return whole_shards(n);
    }
    let exclusive = spec.is_write();
    let mut parts: Vec<(usize, Want)> = Vec::new();
    for i in spec.key_indexes(args) {
        let Some(k) = args.get(i) else { continue };
        let owner = crate::routing::key_shard(k, n);
        let key = (db, k.clone());
        match parts.iter_mut().find(|p| p.0 == owner) {
            Some(p) => p.1.keys.push(key),
            None => parts.push((
                owner,
                Want {
                    keys: vec![key],
                    exclusive,
                    whole: false,
                    ..Default::default()
                },
            )),
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want<K: AsRef<[u8]>>(keys: &[K], exclusive: bool) -> Want {
        Want {
            keys: keys
                .iter()
                .map(|k| (0, Bytes::copy_from_slice(k.as_ref())))
                .collect(),
            exclusive,
            whole: false,
            ..Default::default()
        }
    }

    #[test]
    fn shared_locks_share_and_exclusive_ones_exclude() {
        let mut l = Locks::default();
        assert!(l.idle());
        l.hold(&want(&["a", "b"], false));
        assert!(!l.blocks(&want(&["a"], false)));
        assert!(l.blocks(&want(&["a"], true)));
        assert!(!l.blocks(&want(&["c"], true)));
        l.hold(&want(&["a"], false));
        l.unhold(&want(&["a", "b"], false));
        assert!(l.blocks(&want(&["a"], true)), "a is still shared once");
        l.unhold(&want(&["a"], false));
        assert!(l.idle());
    }

    #[test]
    fn whole_shard_lock_excludes_everything() {
        let mut l = Locks::default();
        l.hold(&want(&["a"], false));
        let whole = Want {
            whole: true,
            exclusive: true,
            keys: vec![],
            ..Default::default()
        };
        assert!(l.blocks(&whole));
        l.unhold(&want(&["a"], false));
        assert!(!l.blocks(&whole));
        l.hold(&whole);
        assert!(l.blocks(&want(&["z"], false)));
    }

    #[test]
    fn waiters_go_in_order_and_later_ones_do_not_overtake_conflicting_earlier_ones() {
        let mut l = Locks::default();
        l.hold(&want(&["a"], true));
        let (tx1, _rx1) = oneshot::channel();
        let (tx2, _rx2) = oneshot::channel();
        let (tx3, _rx3) = oneshot::channel();
        // 1 waits for a (it wants a and b); 2 wants b, so it waits behind 1.
        l.enqueue(want(&["a", "b"], true), Then::Grant(tx1));
        l.enqueue(want(&["b"], true), Then::Grant(tx2));
        l.enqueue(want(&["c"], true), Then::Grant(tx3));
        assert!(l.blocks(&want(&["b"], false)), "b is wanted by a waiter");
        // c is free and conflicts with nobody ahead: it may go; b must wait behind 1.
        let ready: Vec<usize> = l
            .take_ready(None)
            .iter()
            .map(|w| w.want.keys.len())
            .collect();
        assert_eq!(ready, vec![1]);
        assert_eq!(l.queue.len(), 2);
        assert!(
            l.take_ready(None).is_empty(),
            "1 waits for a, 2 waits behind 1"
        );
        let freed = l.unhold(&want(&["a"], true));
        // 1 goes (and holds b), so 2 still waits.
        let ready: Vec<usize> = l
            .take_ready(freed.as_deref())
            .iter()
            .map(|w| w.want.keys.len())
            .collect();
        assert_eq!(ready, vec![2]);
        assert_eq!(l.queue.len(), 1);
        let freed = l.unhold(&want(&["a", "b"], true));
        assert_eq!(l.take_ready(freed.as_deref()).len(), 1);
        l.unhold(&want(&["b"], true));
        l.unhold(&want(&["c"], true));
        assert!(l.idle());
    }

    #[test]
    fn a_parked_job_keeps_later_conflicting_waiters_back_until_it_ran() {
        let mut l = Locks::default();
        l.hold(&want(&["a"], true));
        let (tx, _rx) = oneshot::channel();
        l.enqueue(want(&["a"], true), Then::Run(Box::new(|_| {})));
        l.enqueue(want(&["a"], false), Then::Grant(tx));
        let freed = l.unhold(&want(&["a"], true));
        let ready = l.take_ready(freed.as_deref());
        assert_eq!(
            ready.len(),
            1,
            "the job goes, the grant behind it waits a round"
        );
        assert!(matches!(ready[0].then, Then::Run(_)));
        assert_eq!(l.take_ready(freed_by(&ready).as_deref()).len(), 1);
    }

    /// A lock table driven by `Op`s, waking as `wake` does: from what was freed, or (`full`)
    /// looking at the whole queue each round.
    struct Model {
        l: Locks,
        held: Vec<Want>,
        /// Jobs that take their locks when they run, by sequence number.
        takes: std::collections::HashSet<u64>,
        full: bool,
    }

    #[derive(Clone, Debug)]
    enum Op {
        Ask {
            keys: Vec<u8>,
            exclusive: bool,
            whole: bool,
            job: bool,
            takes: bool,
        },
        Release(usize),
    }

    impl Model {
        fn new(full: bool) -> Model {
            Model {
                l: Locks::default(),
                held: Vec::new(),
                takes: Default::default(),
                full,
            }
        }

        /// The sequence numbers that went, round by round.
        fn apply(&mut self, op: &Op) -> Vec<Vec<u64>> {
            match op {
                Op::Ask {
                    keys,
                    exclusive,
                    whole,
                    job,
                    takes,
                } => {
                    let keys: Vec<[u8; 1]> = keys.iter().map(|k| [*k]).collect();
                    let w = Want {
                        whole: *whole,
                        ..want(&keys, *exclusive || *whole)
                    };
                    if !self.l.blocks(&w) {
                        if !*job || *takes {
                            self.l.hold(&w);
                            self.held.push(w);
                        }
                        return Vec::new();
                    }
                    let then = if *job {
                        Then::Run(Box::new(|_| {}))
                    } else {
                        Then::Grant(oneshot::channel().0)
                    };
                    self.l.enqueue(w, then);
                    if *takes {
                        self.takes.insert(self.l.next_seq);
                    }
                    Vec::new()
                }
                Op::Release(i) => {
                    if self.held.is_empty() {
                        return Vec::new();
                    }
                    let w = self.held.remove(i % self.held.len());
                    let mut freed = self.l.unhold(&w);
                    let mut rounds = Vec::new();
                    loop {
                        let ready =
                            self.l
                                .take_ready(if self.full { None } else { freed.as_deref() });
                        if ready.is_empty() {
                            return rounds;
                        }
                        rounds.push(ready.iter().map(|q| q.seq).collect());
                        freed = freed_by(&ready);
                        for q in ready {
                            match q.then {
                                Then::Grant(_) => self.held.push(q.want),
                                Then::Run(_) if self.takes.contains(&q.seq) => {
                                    self.l.hold(&q.want);
                                    self.held.push(q.want);
                                }
                                Then::Run(_) => {}
                            }
                        }
                    }
                }
            }
        }
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            3 => (
                proptest::collection::vec(0u8..6, 1..4),
                any::<bool>(),
                proptest::bool::weighted(0.05),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(keys, exclusive, whole, job, takes)| Op::Ask {
                    keys,
                    exclusive,
                    whole,
                    job,
                    takes,
                }),
            2 => any::<usize>().prop_map(Op::Release),
        ]
    }

    proptest::proptest! {
        /// Waking from what was freed lets exactly the waiters go, round by round, that
        /// looking at the whole queue would.
        #[test]
        fn waking_from_what_was_freed_matches_looking_at_every_waiter(
            ops in proptest::collection::vec(op(), 1..200)
        ) {
            let (mut fast, mut full) = (Model::new(false), Model::new(true));
            for op in &ops {
                proptest::prop_assert_eq!(fast.apply(op), full.apply(op), "after {:?}", op);
                proptest::prop_assert_eq!(fast.l.queue.len(), full.l.queue.len());
            }
        }
    }
}
