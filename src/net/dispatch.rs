//! From parsed requests to replies: routing, pipeline squashing and barriers.

use super::{defer_settle, settle, ConnRef};
use crate::commands::{self, CommandSpec, Handler, Kind, Merge};
use crate::protocol::reply::Reply;
use crate::routing;
use crate::shard::{coordinator, locks, Answer, Shard};
use bytes::Bytes;
use std::rc::Rc;

/// Who sent a command (for the slow log of the shard that runs it).
type ClientTag = std::sync::Arc<crate::observe::ClientTag>;

/// A command to run on another shard, and where its reply goes.
struct Remote {
    slot: usize,
    db: usize,
    spec: &'static CommandSpec,
    handler: Handler,
    args: Vec<Bytes>,
    /// One shard's part of a multi-shard split command: its index in `Batch::splits` and the
    /// positions of its keys in the command's key order.
    split: Option<SplitPart>,
}

/// A split command's index in `Batch::splits`, and the positions of a part's keys.
type SplitPart = (usize, Vec<usize>);

/// Where a step's reply goes in its batch: a reply slot, or a part of a split command.
type Dest = (usize, Option<SplitPart>);

/// A multi-shard split command (MSET, MGET, DEL …) in a batch: its parts wait in `remote`.
struct SplitCmd {
    slot: usize,
    merge: Merge,
    total: usize,
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
    parts: Vec<(Reply, Vec<usize>)>,
}

/// Replies of one read's commands, in request order, while some are still out on other shards.
/// Holding a split command, the batch runs as one locked pass over its shards
/// (`coordinator::one_pass`), and every keyed command after the first split one waits for the
/// pass, this shard's too, to keep the pipeline's order.
#[derive(Default)]
struct Batch {
    replies: Vec<(Option<Reply>, bool)>,
    remote: Vec<(usize, Vec<Remote>)>,
    splits: Vec<SplitCmd>,
    /// Keys of the split commands, which the pass locks.
    pass_keys: usize,
    /// Rough size of the replies already held, for backpressure.
    held_bytes: usize,
}

/// Keys of split commands per locked pass. A pass holds its keys on every shard but the last
/// until the last has run, so the more it locks the likelier other passes wait for it (and the
/// longer the tail); past this, the rest of the pipeline goes in the next pass. MSET of 10
/// random keys at -P 16 on 2 shards: sharing one core, 30 keys 83–91k req/s, 60 keys 99–106k,
/// 160 keys 49–88k; on two cores shared with the client (4 rounds), 32 keys p99 8–22 ms, 64
/// keys 10–54 ms, at about the same rate.
const PASS_KEYS: usize = 32;

/// Commands per batch before it is sent off and waited for: with the output high-water mark,
/// this bounds what one connection can make the server hold while other shards work.
const BATCH_MAX: usize = 1024;

/// Room a batch starts with for its replies, and each shard's part for its commands: a
/// pipeline of 16 on 2 shards grew them from empty, 3 reallocations apiece per batch (perf:
/// `do_rallocx` under `push_part`).
const REPLIES_CAPACITY: usize = 16;
const PART_CAPACITY: usize = 8;

/// Each forwarded command's reply, by slot, with its arguments handed back: dropped on the
/// connection's own thread, their references to its read buffer stay there, and the vector
/// goes back to its parser (dropped on the owning shard, each was a free of another thread's
/// block, and each argument's reference count was changed from two threads).
type PartReplies = Vec<(usize, Reply, Vec<Bytes>)>;

impl Batch {
    fn new() -> Batch {
        Batch {
            replies: Vec::with_capacity(REPLIES_CAPACITY),
            ..Batch::default()
        }
    }

    fn push_reply(&mut self, r: Reply, suppress: bool) {
        self.held_bytes += match &r {
            Reply::Bulk(b) => b.len() + 16,
            _ => 16,
        };
        self.replies.push((Some(r), suppress));
    }

    /// Whether to stop taking commands and settle this batch first.
    fn full(&self) -> bool {
        self.replies.len() >= BATCH_MAX
            || self.held_bytes > super::conn::OUTPUT_HIGH_WATER
            || self.pass_keys >= PASS_KEYS
    }

    fn push_remote(&mut self, shard: usize, mut r: Remote, suppress: bool) {
        r.slot = self.replies.len();
        self.replies.push((None, suppress));
        self.push_part(shard, r);
    }

    fn push_part(&mut self, shard: usize, r: Remote) {
        match self.remote.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, v)) => v.push(r),
            None => {
                let mut v = Vec::with_capacity(PART_CAPACITY);
                v.push(r);
                self.remote.push((shard, v));
            }
        }
    }

    /// A shard went away (shutdown): every reply still missing says so.
    fn unavailable(&mut self) {
        for slot in self.replies.iter_mut().filter(|s| s.0.is_none()) {
            slot.0 = Some(Reply::err("ERR shard unavailable (shutting down)"));
        }
    }

    /// Whether keyed commands must queue behind a locked pass (see `Batch`).
    fn in_pass(&self) -> bool {
        !self.splits.is_empty()
    }

    /// A split command whose keys span shards, as its per-shard parts.
    #[allow(clippy::too_many_arguments)]
    fn push_split(
        &mut self,
        db: usize,
        spec: &'static CommandSpec,
        handler: Handler,
        merge: Merge,
        args: Vec<Bytes>,
        parts: coordinator::Parts,
        total: usize,
        suppress: bool,
    ) {
        let slot = self.replies.len();
        self.replies.push((None, suppress));
        self.held_bytes += 16 * total;
        self.pass_keys += total;
        let index = self.splits.len();
        for (owner, sub, positions) in parts {
            let r = Remote {
                slot,
                db,
                spec,
                handler,
                args: sub,
                split: Some((index, positions)),
            };
            self.push_part(owner, r);
        }
        self.splits.push(SplitCmd {
            slot,
            merge,
            total,
            spec,
            args,
            parts: Vec::new(),
        });
    }
}

/// Work left for the connection's async task.
struct Work {
    batch: Option<Batch>,
    barrier: Option<(Vec<Bytes>, bool)>,
}

/// Where a keyed command runs.
enum Route {
    Here,
    On(usize),
    Spread,
}

fn route(shard: &Shard, spec: &CommandSpec, args: &[Bytes]) -> Route {
    if shard.n == 1 {
        return Route::Here;
    }
    if spec.spread_fn.is_some_and(|f| f(args)) {
        return Route::Spread;
    }
    // One key, the first argument (GET, SET, INCR, LPUSH …): no list of key positions to build.
    let owner = if spec.key_fn.is_none() && spec.keys.first == 1 && spec.keys.last == 1 {
        match args.get(1) {
            Some(k) => routing::key_shard(k, shard.n),
            None => return Route::Here,
        }
    } else {
        let mut owners = spec
            .key_positions(args)
            .map(|i| routing::key_shard(&args[i], shard.n));
        let Some(owner) = owners.next() else {
            return Route::Here;
        };
        if owners.any(|o| o != owner) {
            return Route::Spread;
        }
        owner
    };
    if owner == shard.id {
        Route::Here
    } else {
        Route::On(owner)
    }
}

/// Run what is in the connection's input, synchronously as far as possible.
pub fn run_input(shard: &Rc<Shard>, conn: &ConnRef) {
    let work = {
        let mut c = conn.borrow_mut();
        process(shard, &mut c)
    };
    match work {
        None => defer_settle(shard, conn),
        Some(work) => {
            conn.borrow_mut().busy = true;
            // The replies already made go out now only when the task may wait long (a barrier:
            // a blocking or fanned-out command). A batch out on other shards is back within a
            // hop, and its replies then go out with these in one write, not two.
            if work.barrier.is_some() {
                settle(shard, conn);
            }
            let shard = shard.clone();
            let conn = conn.clone();
            glommio::spawn_local(async move {
                use futures::FutureExt;
                let run = std::panic::AssertUnwindSafe(finish(shard.clone(), conn.clone(), work));
                if run.catch_unwind().await.is_err() {
                    // A bug in the async path costs this connection, not the shard.
                    crate::logging::warning(
                        "BUG: a connection task panicked; closing the connection",
                    );
                    let id = {
                        let mut c = conn.borrow_mut();
                        c.closed = true;
                        c.busy = false;
                        c.client.id
                    };
                    super::close_conn(&shard, id);
                }
            })
            .detach();
        }
    }
}

/// Parse and run commands until the input is used up, output is backed up, or a command needs
/// to wait for other shards. Returns the work left for an async task, if any.
fn process(shard: &Rc<Shard>, c: &mut super::conn::Conn) -> Option<Work> {
    // The commands run here are this client's (slow log entries name it).
    let prev = shard.observe.set_client(Some(c.client.tag()));
    let work = process_input(shard, c);
    shard.observe.set_client(prev);
    work
}

/// Commands of a pipeline whose keys are prefetched before the first of them runs.
const PREFETCH_AHEAD: usize = 16;

/// Arguments of a pipeline's requests walked for keys to prefetch before the first of them
/// runs: sixteen GET or SET requests; fewer of wide ones (MSET prefetches its own keys).
const PREFETCH_ARGS: usize = 48;

/// Prefetch the keys of the requests waiting in the input that this shard owns (their first
/// key, the one after the command name), so that their lookups' cache misses overlap. Not for
/// a connection whose keys `net::read_ahead` prefetched with the others read in its round.
fn prefetch_input(shard: &Shard, c: &mut super::conn::Conn) {
    if std::mem::take(&mut c.prefetched) {
        return;
    }
    let Ok(store) = shard.store.try_borrow() else {
        return;
    };
    let Some(db) = store.prefetchable(c.client.db) else {
        return;
    };
    let mut ahead: crate::store::prefetch::Prefetch = Default::default();
    prefetch_keys(shard, db, &c.rbuf, &mut ahead, false);
    ahead.finish();
}

/// Pass 1 of the prefetch (`store::prefetch`) for the keys of the requests in `input` that
/// this shard owns. The first key is taken only once a second, different one shows up, unless
/// `lone`: a lone request (no pipeline) or a pipeline on one hot key (LPUSH list …) has
/// nothing of its own to overlap with. False if `ahead` had no room for all of them.
pub(super) fn prefetch_keys<'a, const N: usize>(
    shard: &Shard,
    db: &'a crate::store::db::Db,
    input: &[u8],
    ahead: &mut crate::store::prefetch::Prefetch<'a, N>,
    lone: bool,
) -> bool {
    let mut first: Option<&[u8]> = None;
    let mut overlapping = false;
    let mut all = true;
    let mut take = |k| {
        if shard.owns(k) {
            all &= ahead.key(db, k);
        }
    };
    crate::protocol::peek::second_args(input, PREFETCH_ARGS, |k| {
        match first {
            None => {
                first = Some(k);
                return true;
            }
            Some(f) if !overlapping => {
                if f == k {
                    return false;
                }
                overlapping = true;
                take(f);
            }
            Some(_) => {}
        }
        take(k);
        true
    });
    if let (Some(f), false, true) = (first, overlapping, lone) {
        take(f);
    }
    all
}

fn process_input(shard: &Rc<Shard>, c: &mut super::conn::Conn) -> Option<Work> {
    prefetch_input(shard, c);
    let mut batch: Option<Batch> = None;
    // One clock read for the whole batch: commands of one read run within microseconds.
    let now = crate::util::now_ms();
    loop {
        if c.closing || c.closed {
            break;
        }
        if batch.is_none() && c.wbuf.len() > super::conn::OUTPUT_HIGH_WATER {
            // Try to make room first: stopping with commands still in `rbuf` and an empty
            // socket buffer would leave them waiting for an event that never comes. If the
            // client is not reading, EPOLLOUT brings us back here once it is.
            c.flush();
            if c.wbuf.len() > super::conn::OUTPUT_HIGH_WATER {
                break;
            }
        }
        if batch.as_ref().is_some_and(|b| b.full()) {
            break;
        }
        let before = c.rbuf.len();
        let mut args = match c.parser.parse(&mut c.rbuf) {
            Ok(Some(a)) => {
                c.client.cmd_bytes = before - c.rbuf.len();
                a
            }
            Ok(None) => {
                c.reclaim_input();
                break;
            }
            Err(e) => {
                shard.stats.borrow_mut().record_rejected(None, &e.0);
                let r = Reply::Error(e.0.into());
                match &mut batch {
                    Some(b) => b.push_reply(r, false),
                    None => c.emit(&r, false),
                }
                c.closing = true;
                break;
            }
        };
        let skipped = c.client.take_skip();
        let spec = match c.lookups.lookup(&args[0]) {
            Some(s) if s.arity_ok(args.len()) => s,
            found => {
                let r = match found {
                    Some(s) if s.name == "exec" => commands::transaction::exec_abort(
                        shard,
                        &mut c.client.tx,
                        "wrong number of arguments for 'exec' command",
                    ),
                    Some(s) => Reply::arity(s.name),
                    None => commands::unknown_command(&args),
                };
                if let Reply::Error(e) = &r {
                    shard
                        .stats
                        .borrow_mut()
                        .record_rejected(found.map(|s| s.name), e);
                }
                c.client.tx.refused();
                let suppress = c.client.suppress(skipped);
                match &mut batch {
                    Some(b) => b.push_reply(r, suppress),
                    None => c.emit(&r, suppress),
                }
                continue;
            }
        };
        c.client.last_cmd = spec.name;
        c.client.last_sub = None;
        if shard
            .global
            .loading
            .load(std::sync::atomic::Ordering::Relaxed)
            && !spec.has_flag("loading")
        {
            let suppress = c.client.suppress(skipped);
            let r = Reply::err("LOADING Redis is loading the dataset in memory");
            match &mut batch {
                Some(b) => b.push_reply(r, suppress),
                None => c.emit(&r, suppress),
            }
            continue;
        }
        if crate::commands::server::auth_required(&c.client, spec.name) {
            let suppress = c.client.suppress(skipped);
            let r = Reply::err("NOAUTH Authentication required.");
            shard
                .stats
                .borrow_mut()
                .record_rejected(Some(spec.name), "NOAUTH");
            c.client.tx.refused();
            match &mut batch {
                Some(b) => b.push_reply(r, suppress),
                None => c.emit(&r, suppress),
            }
            continue;
        }
        if crate::acl::rename::active() {
            // Past here the command goes by its real name (barriers look it up again).
            args[0] = Bytes::from_static(spec.name.as_bytes());
        }
        match crate::acl::gate::check(shard, &mut c.client, spec, &args) {
            Ok(()) => {}
            Err(crate::acl::gate::Refused::Gone) => {
                c.closed = true;
                break;
            }
            Err(crate::acl::gate::Refused::Denied(r, _)) => {
                let suppress = c.client.suppress(skipped);
                if let Reply::Error(e) = &r {
                    shard.stats.borrow_mut().record_rejected(Some(spec.name), e);
                }
                c.client.tx.refused();
                match &mut batch {
                    Some(b) => b.push_reply(r, suppress),
                    None => c.emit(&r, suppress),
                }
                continue;
            }
        }
        // Inside MULTI: queued for EXEC (see commands/transaction.rs).
        if c.client.tx.queues(spec.name) {
            let suppress = c.client.suppress(skipped);
            let refused = crate::memory::evict::refuses_any_write(shard)
                .or_else(|| {
                    spec.has_flag("no_multi")
                        .then(|| Reply::err("ERR Command not allowed inside a transaction"))
                })
                .or_else(|| commands::docs::subcommand_error(spec.name, &args));
            let r = match refused {
                Some(err) => {
                    c.client.tx.refused();
                    if let Reply::Error(e) = &err {
                        shard.stats.borrow_mut().record_rejected(Some(spec.name), e);
                    }
                    err
                }
                None => c.client.tx.queue(args),
            };
            match &mut batch {
                Some(b) => b.push_reply(r, suppress),
                None => c.emit(&r, suppress),
            }
            continue;
        }
        if let Some(r) = commands::pubsub::refused_in_subscribed_mode(c, spec, &args) {
            let suppress = c.client.suppress(skipped);
            if let Reply::Error(e) = &r {
                shard.stats.borrow_mut().record_rejected(Some(spec.name), e);
            }
            match &mut batch {
                Some(b) => b.push_reply(r, suppress),
                None => c.emit(&r, suppress),
            }
            continue;
        }
        // EXEC is shown after the commands it runs (commands/transaction.rs), as Redis shows
        // each command once it has run.
        if spec.name != "exec" && crate::observe::monitor::active(shard) {
            crate::observe::monitor::feed(shard, spec, &args, c.client.db, &c.client.addr);
        }
        let handler = match spec.kind {
            Kind::Conn => {
                if matches!(
                    spec.name,
                    "client" | "config" | "memory" | "debug" | "command"
                ) {
                    c.client.last_sub = args.get(1).cloned();
                }
                if batch.is_some() {
                    return Some(Work {
                        batch,
                        barrier: Some((args, skipped)),
                    });
                }
                match crate::commands::server::exec_sync(shard, c, spec, &args) {
                    Some(r) => {
                        let suppress = c.client.suppress(skipped);
                        c.emit(&r, suppress);
                        continue;
                    }
                    None => {
                        return Some(Work {
                            batch: None,
                            barrier: Some((args, skipped)),
                        })
                    }
                }
            }
            // XREAD/XREADGROUP BLOCK: the connection's task runs it, as it may wait.
            Kind::Coordinated(_) if commands::stream::blocks(spec, &args) => {
                return Some(Work {
                    batch,
                    barrier: Some((args, skipped)),
                });
            }
            Kind::Keyed(h) | Kind::Split(h, _) | Kind::Coordinated(h) => h,
        };
        let suppress = c.client.suppress(skipped);
        let in_pass = batch.as_ref().is_some_and(Batch::in_pass);
        // MSET, MGET, DEL … across shards go into the batch, which becomes a locked pass;
        // under `appendfsync always` the general path runs (coordinator::run).
        let pass_merge = match spec.kind {
            Kind::Split(_, merge) if !shard.aof_always.get() => Some(merge),
            _ => None,
        };
        let route = route(shard, spec, &args);
        if shard.n > 1 {
            let owner = match route {
                Route::Here => shard.id,
                Route::On(o) => o,
                Route::Spread => super::migrate::SPREAD,
            };
            c.affinity.note(owner, shard.id);
        }
        let route = match route {
            // After a split command, in the batch's pass (see `Batch`), this shard's too.
            Route::Here if in_pass => Route::On(shard.id),
            r => r,
        };
        match (route, pass_merge) {
            // A key locked by a multi-shard command: wait for it in the task (see locks.rs).
            (Route::Here, _) if locks::command_blocked(shard, c.client.db, spec, &args) => {
                return Some(Work {
                    batch,
                    barrier: Some((args, skipped)),
                });
            }
            (Route::Here, _) => {
                let always = shard.aof_always.get();
                let before = if always { shard.feed_offset() } else { 0 };
                let r = shard.exec(c.client.db, spec, handler, &args, now);
                c.parser.recycle(args);
                if always {
                    let after = shard.feed_offset();
                    if after != before {
                        c.aof_hold = after;
                    }
                }
                match &mut batch {
                    Some(b) => b.push_reply(r, suppress),
                    None => c.emit(&r, suppress),
                }
            }
            (Route::On(owner), _) => {
                let remote = Remote {
                    slot: 0,
                    db: c.client.db,
                    spec,
                    handler,
                    args,
                    split: None,
                };
                batch
                    .get_or_insert_with(Batch::new)
                    .push_remote(owner, remote, suppress);
            }
            (Route::Spread, Some(merge)) => {
                let refused = crate::memory::evict::before_spread(shard, spec);
                let split = match refused {
                    Some(oom) => Err(oom),
                    None => coordinator::split_parts(shard, spec, &args),
                };
                match split {
                    Ok((parts, total)) => batch.get_or_insert_with(Batch::new).push_split(
                        c.client.db,
                        spec,
                        handler,
                        merge,
                        args,
                        parts,
                        total,
                        suppress,
                    ),
                    Err(r) => {
                        let start = crate::util::clock::ticks();
                        let tag = c.client.tag();
                        crate::observe::done(shard, spec, &args, start, &r, &|| Some(tag.clone()));
                        match &mut batch {
                            Some(b) => b.push_reply(r, suppress),
                            None => c.emit(&r, suppress),
                        }
                    }
                }
            }
            (Route::Spread, None) => {
                return Some(Work {
                    batch,
                    barrier: Some((args, skipped)),
                })
            }
        }
    }
    batch.map(|b| Work {
        batch: Some(b),
        barrier: None,
    })
}

/// Send each shard its part of the batch, wait for all, and write the replies in order.
async fn run_batch(shard: &Rc<Shard>, conn: &ConnRef, mut batch: Batch) {
    if batch.in_pass() {
        // Boxed for the same reason as `run_barrier` in `finish`.
        return Box::pin(run_pass(shard, conn, batch)).await;
    }
    let tag = conn.borrow().client.tag();
    let calls = std::mem::take(&mut batch.remote)
        .into_iter()
        .map(|(target, cmds)| {
            let tag = tag.clone();
            // Made here, filled there, dropped here: a block that crosses threads one way
            // only costs both allocators (one refills its cache, the other flushes to the
            // first one's arena).
            let out = Vec::with_capacity(cmds.len());
            shard.call_deferred(target, move |sh, answer| {
                run_part(sh, cmds.into(), out, tag, answer, false)
            })
        });
    let results = futures::future::join_all(calls).await;
    for res in results {
        match res {
            Some(list) => {
                let mut c = conn.borrow_mut();
                for (slot, r, args) in list {
                    batch.replies[slot].0 = Some(r);
                    c.parser.recycle(args);
                }
            }
            None => batch.unavailable(),
        }
    }
    emit_batch(conn, &batch);
}

/// A batch holding split commands: every shard's list in one locked pass, then the split
/// commands' parts merged (and each counted once, here), and the replies written in order.
async fn run_pass(shard: &Rc<Shard>, conn: &ConnRef, mut batch: Batch) {
    let tag = conn.borrow().client.tag();
    let start = crate::util::clock::ticks();
    // Where each step's reply goes: a slot, or a split command's parts.
    let mut dests: Vec<(usize, Vec<Dest>)> = Vec::new();
    let parts = std::mem::take(&mut batch.remote)
        .into_iter()
        .map(|(owner, cmds)| {
            let mut d = Vec::with_capacity(cmds.len());
            let steps = cmds
                .into_iter()
                .map(|r| {
                    let whole = r.split.is_none();
                    d.push((r.slot, r.split));
                    coordinator::Step {
                        db: r.db,
                        spec: r.spec,
                        handler: r.handler,
                        args: r.args,
                        whole,
                    }
                })
                .collect();
            dests.push((owner, d));
            (owner, steps)
        })
        .collect();
    let done = coordinator::one_pass(shard, parts, Some(tag.clone())).await;
    let Some(done) = done else {
        batch.unavailable();
        return emit_batch(conn, &batch);
    };
    for (owner, replies) in done {
        let Some(d) = dests.iter_mut().find(|d| d.0 == owner) else {
            continue;
        };
        for (r, (slot, split)) in replies.into_iter().zip(std::mem::take(&mut d.1)) {
            match split {
                Some((i, positions)) => {
                    if let Some(s) = batch.splits.get_mut(i) {
                        s.parts.push((r, positions));
                    }
                }
                None => batch.replies[slot].0 = Some(r),
            }
        }
    }
    for s in std::mem::take(&mut batch.splits) {
        let reply = coordinator::merge_replies(s.merge, s.parts, s.total);
        crate::observe::done(shard, s.spec, &s.args, start, &reply, &|| Some(tag.clone()));
        batch.replies[s.slot].0 = Some(reply);
    }
    emit_batch(conn, &batch);
}

fn emit_batch(conn: &ConnRef, batch: &Batch) {
    let mut c = conn.borrow_mut();
    for (r, suppress) in &batch.replies {
        if let Some(r) = r {
            c.emit(r, *suppress);
        }
    }
}

/// Run one connection's commands on their owning shard, in order. A command whose keys are
/// locked parks the rest of the list until they are free (see locks.rs). `cleared`: the lock
/// queue woke this part for its first command (`locks::wake`).
fn run_part(
    sh: &Rc<Shard>,
    mut cmds: std::collections::VecDeque<Remote>,
    mut out: PartReplies,
    tag: ClientTag,
    answer: Answer<PartReplies>,
    mut cleared: bool,
) {
    let now = crate::util::now_ms();
    prefetch_remote(sh, &cmds);
    // The slow log names the client that sent these, not this shard's.
    let prev = sh.observe.set_client(Some(tag.clone()));
    while let Some(r) = cmds.front() {
        // A woken part's first command was checked against what is held and every waiter
        // ahead of it. Asking `command_blocked` again would count the waiters behind it too:
        // two parts writing one key then parked behind each other in turn, forever, the shard
        // spinning.
        if !std::mem::take(&mut cleared) && locks::command_blocked(sh, r.db, r.spec, &r.args) {
            let w = locks::want_of(r.db, r.spec, &r.args);
            sh.observe.set_client(prev);
            locks::park(
                sh,
                w,
                Box::new(move |sh| run_part(sh, cmds, out, tag, answer, true)),
            );
            return;
        }
        let Some(r) = cmds.pop_front() else { break };
        let reply = sh.exec(r.db, r.spec, r.handler, &r.args, now);
        out.push((r.slot, reply, r.args));
    }
    sh.observe.set_client(prev);
    answer.send(sh, out);
}

/// Prefetch the first keys of commands sent here from another shard, as `prefetch_input` does
/// for a connection's own pipeline.
fn prefetch_remote(sh: &Shard, cmds: &std::collections::VecDeque<Remote>) {
    if cmds.len() < 2 {
        return;
    }
    let Ok(store) = sh.store.try_borrow() else {
        return;
    };
    let mut ahead: crate::store::prefetch::Prefetch = Default::default();
    for r in cmds.iter().take(PREFETCH_AHEAD) {
        if r.spec.keys.first != 1 {
            continue;
        }
        if let (Some(db), Some(k)) = (store.dbs.get(r.db), r.args.get(1)) {
            ahead.key(db, k);
        }
    }
    ahead.finish();
}

/// Run a keyed command on its owner (this shard or another), once its keys are unlocked.
async fn exec_keyed(
    shard: &Rc<Shard>,
    owner: usize,
    db: usize,
    spec: &'static CommandSpec,
    handler: Handler,
    args: &[Bytes],
    tag: ClientTag,
) -> Reply {
    let r = Remote {
        slot: 0,
        db,
        spec,
        handler,
        args: args.to_vec(),
        split: None,
    };
    let out = Vec::with_capacity(1);
    shard
        .call_deferred(owner, move |sh, answer| {
            run_part(sh, vec![r].into(), out, tag, answer, false)
        })
        .await
        .and_then(|mut v| v.pop())
        .map(|(_, r, _)| r)
        .unwrap_or_else(|| Reply::err("ERR shard unavailable (shutting down)"))
}

/// The async half of a connection's flow: finish batches and barriers, then carry on with the
/// input until it is used up.
async fn finish(shard: Rc<Shard>, conn: ConnRef, mut work: Work) {
    loop {
        if let Some(b) = work.batch.take() {
            run_batch(&shard, &conn, b).await;
        }
        if let Some((args, skipped)) = work.barrier.take() {
            // Boxed: a barrier's future (every server command, blocking, fanned-out and
            // coordinated command) is kilobytes, and spawning this task copies its whole state,
            // which a batch forwarded to another shard (the common case) does not need.
            let reply = Box::pin(run_barrier(&shard, &conn, &args)).await;
            let mut c = conn.borrow_mut();
            let suppress = c.client.suppress(skipped);
            // A connection closed by its own command (SHUTDOWN) gets no reply, as in Redis.
            if !c.closed {
                c.emit(&reply, suppress);
            }
        }
        // Write what is ready before going on if it is much: a long pipeline streams out.
        durable(&shard, &conn).await;
        conn.borrow_mut().flush_if_large();
        let next = {
            let mut c = conn.borrow_mut();
            if c.closed {
                None
            } else {
                process(&shard, &mut c)
            }
        };
        match next {
            Some(w) => work = w,
            None => break,
        }
    }
    durable(&shard, &conn).await;
    conn.borrow_mut().busy = false;
    if conn.borrow().client.subs.active() {
        // Its (un)subscribe confirmations go out now (see `Fence::reading`).
        shard.global.fences[shard.id].reading();
    }
    let id = conn.borrow().client.id;
    let registered = shard.net.borrow().conns.contains_key(&id);
    if registered {
        settle(&shard, &conn);
    }
}

/// With `appendfsync always`, wait until this connection's writes on this shard are synced.
async fn durable(shard: &Rc<Shard>, conn: &ConnRef) {
    if !shard.aof_always.get() {
        return;
    }
    let hold = conn.borrow().aof_hold;
    if hold > shard.aof.borrow().synced {
        shard.aof_kick();
        crate::persistence::writer::wait_synced(shard, hold).await;
    }
}

/// A command that waits on other shards: a spread keyed command or an async server command.
async fn run_barrier(shard: &Rc<Shard>, conn: &ConnRef, args: &[Bytes]) -> Reply {
    let Some(spec) = commands::lookup(&args[0]) else {
        return commands::unknown_command(args);
    };
    let (db, tag) = {
        let c = conn.borrow();
        (c.client.db, c.client.tag())
    };
    let start = crate::util::clock::ticks();
    let reply = match spec.kind {
        Kind::Conn => {
            let done = {
                let mut c = conn.borrow_mut();
                crate::commands::server::exec_sync(shard, &mut c, spec, args)
            };
            return match done {
                Some(r) => r,
                None => crate::commands::server::exec_async(shard, conn, spec, args).await,
            };
        }
        Kind::Coordinated(_) if commands::stream::blocks(spec, args) => {
            crate::shard::blocking::run(shard, conn, spec, args).await
        }
        _ => {
            let h = match spec.kind {
                Kind::Keyed(h) | Kind::Split(h, _) | Kind::Coordinated(h) => h,
                Kind::Conn => return unreachable_conn(),
            };
            // Keyed commands are counted by `Shard::exec` on their owner.
            match route(shard, spec, args) {
                Route::Spread => {
                    if let Some(oom) = crate::memory::evict::before_spread(shard, spec) {
                        return oom;
                    }
                    let run = coordinator::run(shard, db, spec, args);
                    // Keyspace events of the keys it changed (none while nobody listens).
                    crate::shard::pubsub::coordinated(shard, db, spec, args, run).await
                }
                Route::Here => return exec_keyed(shard, shard.id, db, spec, h, args, tag).await,
                Route::On(owner) => return exec_keyed(shard, owner, db, spec, h, args, tag).await,
            }
        }
    };
    crate::observe::done(shard, spec, args, start, &reply, &|| Some(tag.clone()));
    reply
}

fn unreachable_conn() -> Reply {
    Reply::err("ERR internal routing error")
}
