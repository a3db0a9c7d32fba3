//! A shard: one pinned executor's store, settings, stats and its channels to the other shards.
//!
//! Everything here is owned by one thread (`Rc`/`RefCell`). Other shards reach it only through
//! messages: closures sent over glommio's channel mesh, run here between two network events,
//! and answered through a oneshot that wakes the caller's task on its own executor.

pub mod blocking;
pub mod coordinator;
pub mod cron;
pub mod locks;
pub mod mesh;
pub mod pubsub;
pub mod pubsub_fence;
pub mod watchdog;

use crate::commands::CommandSpec;
use crate::config::Config;
use crate::metrics::ServerStats;
use crate::protocol::reply::Reply;
use crate::store::ShardStore;
use bytes::Bytes;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Arc;

/// Run a handler so that a bug in it costs one error reply, not the shard: the panic is
/// logged and the client told. Handlers hold no state across the call, so nothing is left
/// half-borrowed (RefCell guards are released while unwinding).
pub fn run_guarded(name: &str, f: impl FnOnce() -> Reply) -> Reply {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(e) => {
            let what = e
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            crate::logging::warning(&format!("BUG: command '{name}' panicked: {what}"));
            Reply::err(format!("ERR internal error while running '{name}'"))
        }
    }
}

/// Writes refused while the AOF can't be written, as Redis words it.
pub fn misconf(shard: &Shard) -> Reply {
    let why = shard.aof.borrow().failed.clone().unwrap_or_default();
    Reply::err(format!("MISCONF Errors writing to the AOF file: {why}"))
}

/// A unit of work sent to another shard.
pub type Msg = Box<dyn FnOnce(&Rc<Shard>) + Send>;

/// What all shards share, set up before they start. Besides the channel mesh these are the only
/// shared pieces: the shutdown flag and two admission counters touched once per connection
/// (Redis's `maxclients` is global and client ids increase server-wide), never per request.
pub struct Global {
    pub shutdown: AtomicBool,
    pub connected: AtomicUsize,
    pub next_client_id: AtomicU64,
    /// Ids of logged multi-shard writes (persistence/feed.rs `TxMark`); only they touch it.
    pub next_tx: AtomicU64,
    pub started: std::time::Instant,
    /// Unix time of the last successful SAVE (LASTSAVE), the start until there is one.
    pub last_save_unix: AtomicU64,
    /// The AOF is being loaded: commands other than `loading` ones get -LOADING.
    pub loading: AtomicBool,
    pub run_id: String,
    pub config_file: Option<String>,
    pub executable: String,
    pub port: u16,
    /// Each shard's wake-up eventfd, by shard id (shutdown, cross-shard client kills).
    pub wakers: Vec<Arc<crate::net::sys::EventFd>>,
    /// Each shard's heartbeat, by shard id (see `watchdog.rs`).
    pub pulses: Vec<Arc<watchdog::Pulse>>,
    /// `watchdog-period` in ms (0: off), read by the watchdog thread.
    pub watchdog_period_ms: AtomicU64,
    /// What a PUBLISH elsewhere checks of each shard (`pubsub_fence.rs`), by shard id.
    pub fences: Vec<crossbeam::utils::CachePadded<pubsub_fence::Fence>>,
    /// Pub/sub subscriptions of all clients on all shards, touched once per (un)subscribe:
    /// while 0, publishing and keyspace events cost nothing (see `pubsub.rs`).
    pub subscriptions: AtomicUsize,
    /// MONITOR clients per shard (checked once per command: is there any).
    pub monitors: crate::observe::monitor::Monitors,
}

impl Global {
    /// Stop every shard: each finishes its round, flushes and closes its clients. Returns
    /// whether a shutdown was already under way.
    pub fn request_shutdown(&self) -> bool {
        let already = self
            .shutdown
            .swap(true, std::sync::atomic::Ordering::AcqRel);
        for w in &self.wakers {
            w.notify();
        }
        already
    }
}

pub struct Shard {
    pub id: usize,
    pub n: usize,
    pub store: RefCell<ShardStore>,
    pub config: RefCell<Config>,
    pub stats: RefCell<ServerStats>,
    pub global: Arc<Global>,
    pub net: RefCell<crate::net::Registry>,
    /// DEBUG SET-ACTIVE-EXPIRE.
    pub active_expire: std::cell::Cell<bool>,
    /// A script flagged `allow-oom` is running here: its commands skip the maxmemory check.
    pub oom_exempt: std::cell::Cell<bool>,
    /// This shard's AOF writer state.
    pub aof: RefCell<crate::persistence::writer::Aof>,
    /// `appendfsync always` with a healthy log: replies wait for the sync of their writes.
    pub aof_always: std::cell::Cell<bool>,
    /// The last AOF write failed: writes are refused (MISCONF) until it recovers.
    pub aof_failed: std::cell::Cell<bool>,
    /// The AOF manifest (kept by shard 0, which alone writes it).
    pub manifest: RefCell<crate::persistence::manifest::Manifest>,
    pub manifest_lock: glommio::sync::Semaphore,
    /// The task queue the AOF writer runs in.
    pub aof_queue: std::cell::Cell<Option<glommio::TaskQueueHandle>>,
    pub rewrite_queue: std::cell::Cell<Option<glommio::TaskQueueHandle>>,
    /// Clients blocked on this shard's keys (BLPOP …), see `blocking.rs`.
    pub blocking: RefCell<blocking::Registry>,
    /// Intent locks of multi-shard commands on this shard's keys, see `locks.rs`.
    pub locks: RefCell<locks::Locks>,
    /// Transactions running here: blocked clients are served when the last one ends.
    pub hold_ready: std::cell::Cell<u32>,
    /// Pub/sub subscribers connected to this shard.
    pub pubsub: RefCell<pubsub::Registry>,
    /// Slow log, latency monitor, MONITOR clients (see `observe`).
    pub observe: crate::observe::Observe,
    /// This shard's copy of the ACL users (see `crate::acl`).
    pub acl: RefCell<crate::acl::AclState>,
    mesh: mesh::Mesh,
}

/// The way back to a caller of `Shard::call_deferred`: answered when the work is done, which may
/// be later than the message (a command parked behind a lock). Under `appendfsync always` the
/// answer waits for the sync of what was written meanwhile.
pub struct Answer<R> {
    tx: futures::channel::oneshot::Sender<R>,
    before: u64,
}

impl<R: Send + 'static> Answer<R> {
    pub fn send(self, sh: &Shard, r: R) {
        // What was written may serve blocked clients, before anything else runs here; its
        // keyspace events go out (as after `call`).
        blocking::serve_ready(sh);
        pubsub::flush_events(sh);
        if sh.aof_always.get() {
            let after = sh.feed_offset();
            if after != self.before {
                let tx = self.tx;
                sh.aof.borrow_mut().after_synced(
                    after,
                    Box::new(move || {
                        let _ = tx.send(r);
                    }),
                );
                sh.aof_kick();
                return;
            }
        }
        let _ = self.tx.send(r);
    }
}

impl Shard {
    /// Whether this shard owns `key`.
    #[inline]
    pub fn owns(&self, key: &[u8]) -> bool {
        self.n == 1 || crate::routing::key_shard(key, self.n) == self.id
    }

    pub fn new(
        id: usize,
        n: usize,
        config: Config,
        global: Arc<Global>,
        mesh: mesh::Mesh,
    ) -> Shard {
        // First, so the shard's data goes to its own arena.
        crate::memory::evict::attach(id, n);
        let observe = crate::observe::Observe::new(&config);
        // The users were checked at startup (runtime::run); a failure here cannot happen.
        let users = crate::acl::initial_users(&config).unwrap_or_default();
        let mut store = ShardStore::new(config.databases);
        store.limits = crate::store::StoreLimits::from_config(&config);
        Shard {
            id,
            n,
            store: RefCell::new(store),
            config: RefCell::new(config),
            stats: RefCell::new(ServerStats::default()),
            global,
            net: RefCell::new(crate::net::Registry::default()),
            active_expire: std::cell::Cell::new(true),
            oom_exempt: std::cell::Cell::new(false),
            aof: RefCell::new(Default::default()),
            aof_always: std::cell::Cell::new(false),
            aof_failed: std::cell::Cell::new(false),
            manifest: RefCell::new(Default::default()),
            manifest_lock: glommio::sync::Semaphore::new(1),
            aof_queue: std::cell::Cell::new(None),
            rewrite_queue: std::cell::Cell::new(None),
            blocking: RefCell::new(Default::default()),
            locks: RefCell::new(Default::default()),
            hold_ready: std::cell::Cell::new(0),
            pubsub: RefCell::new(Default::default()),
            observe,
            acl: RefCell::new(crate::acl::AclState::new(users)),
            mesh,
        }
    }

    /// Run `f` on shard `target` and return its result. None if that shard is gone (shutdown).
    pub async fn call<R: Send + 'static>(
        self: &Rc<Self>,
        target: usize,
        f: impl FnOnce(&Rc<Shard>) -> R + Send + 'static,
    ) -> Option<R> {
        if target == self.id {
            let before = self.feed_offset();
            let r = f(self);
            blocking::serve_ready(self);
            pubsub::flush_events(self);
            if self.aof_always.get() {
                let after = self.feed_offset();
                if after != before {
                    self.aof_kick();
                    crate::persistence::writer::wait_synced(self, after).await;
                }
            }
            return Some(r);
        }
        let (tx, rx) = futures::channel::oneshot::channel();
        let msg: Msg = Box::new(move |sh| {
            let before = sh.feed_offset();
            let r = f(sh);
            // What `f` wrote may serve blocked clients, before anything else runs here.
            blocking::serve_ready(sh);
            pubsub::flush_events(sh);
            // With `appendfsync always`, what `f` wrote is acknowledged after its sync.
            if sh.aof_always.get() {
                let after = sh.feed_offset();
                if after != before {
                    sh.aof.borrow_mut().after_synced(
                        after,
                        Box::new(move || {
                            let _ = tx.send(r);
                        }),
                    );
                    return;
                }
            }
            let _ = tx.send(r);
        });
        // A closed inbox drops queued messages, which cancels `rx`: the caller gets None.
        self.mesh.get(target)?.send(msg).ok()?;
        rx.await.ok()
    }

    /// Run `f` on shard `target`; it answers through the `Answer` it is given, now or later.
    /// None if that shard is gone (shutdown) or `f` dropped the answer.
    pub async fn call_deferred<R: Send + 'static>(
        self: &Rc<Self>,
        target: usize,
        f: impl FnOnce(&Rc<Shard>, Answer<R>) + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = futures::channel::oneshot::channel();
        let msg: Msg = Box::new(move |sh| {
            let before = sh.feed_offset();
            f(sh, Answer { tx, before });
        });
        if target == self.id {
            msg(self);
        } else {
            // A closed inbox drops queued messages, which cancels `rx`: the caller gets None.
            self.mesh.get(target)?.send(msg).ok()?;
        }
        if target == self.id && self.aof_always.get() {
            // Our own records wait for the writer, which needs a kick.
            self.aof_kick();
        }
        rx.await.ok()
    }

    /// Run `f` on shard `target` without waiting for it: inline when it is this shard, else
    /// posted (releasing locks: the sooner the better).
    pub fn run_or_post(
        self: &Rc<Self>,
        target: usize,
        f: impl FnOnce(&Rc<Shard>) + Send + 'static,
    ) {
        if target == self.id {
            return f(self);
        }
        self.post(target, f);
    }

    /// Run `f` on shard `target` without waiting for it (messages from one shard to another
    /// run in the order they were posted). Dropped if that shard is gone (shutdown).
    pub fn post(&self, target: usize, f: impl FnOnce(&Rc<Shard>) + Send + 'static) {
        if let Some(inbox) = self.mesh.get(target) {
            let _ = inbox.send(Box::new(f));
        }
    }

    /// Longest a wait on `once_served` answers lasts: a shard that has not made its passes by
    /// then is taken as stuck (a long script), not slow. Shards that share a loaded CPU took up
    /// to 33 ms here (4 shards on 2 CPUs beside busy loops). 10 ms (the blocking barrier) was
    /// overrun in CI, serving clients out of order; 50 ms most likely was too (a PUBLISH
    /// counted two subscribers that had left, not reproduced here).
    pub const SERVED_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

    /// Have shard `target` (this one too) serve the input its sockets hold by now, then run `f`
    /// here: through this shard's inbox, so after whatever `target` posted here meanwhile
    /// (`Registry::after_two_passes` says what its passes cover).
    pub fn once_served(&self, target: usize, f: impl FnOnce(&Rc<Shard>) + Send + 'static) {
        let me = self.id;
        self.post(target, move |sx| {
            sx.net
                .borrow_mut()
                .after_two_passes(Box::new(move |sx| sx.post(me, f)));
            // The network loop may be parked on its sockets: have it make its passes now.
            sx.global.wakers[sx.id].notify();
        });
    }

    /// As `post`, from code that holds the shard without its `Rc` (closing a connection).
    pub fn send_to(&self, target: usize, f: impl FnOnce(&Shard) + Send + 'static) {
        if target == self.id {
            return f(self);
        }
        if let Some(inbox) = self.mesh.get(target) {
            let _ = inbox.send(Box::new(move |sh: &Rc<Shard>| f(sh)));
        }
    }

    /// Run the future `f` makes on shard `target` (spawned there) and return its output.
    pub async fn call_async<R, F, Fut>(self: &Rc<Self>, target: usize, f: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = R> + 'static,
    {
        let (tx, rx) = futures::channel::oneshot::channel();
        let msg: Msg = Box::new(move |sh| {
            let sh = sh.clone();
            glommio::spawn_local(async move {
                let _ = tx.send(f(sh).await);
            })
            .detach();
        });
        if target == self.id {
            msg(self);
        } else {
            self.mesh.get(target)?.send(msg).ok()?;
        }
        rx.await.ok()
    }

    /// Bytes ever fed to this shard's AOF.
    #[inline]
    pub fn feed_offset(&self) -> u64 {
        self.store.borrow().feed.offset
    }

    /// Wake the AOF writer if records are waiting (after a round of commands).
    #[inline]
    pub fn aof_kick(&self) {
        if self.store.borrow().feed.buf.is_empty() {
            return;
        }
        self.aof.borrow_mut().kick();
    }

    /// The AOF directory (relative to the working directory, which is `dir`).
    pub fn aof_dir(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(&self.config.borrow().appenddirname)
    }

    /// The AOF rewrite's task queue: a small share, so requests go first.
    pub fn rewrite_queue(&self) -> glommio::TaskQueueHandle {
        if let Some(q) = self.rewrite_queue.get() {
            return q;
        }
        let q = glommio::executor().create_task_queue(
            glommio::Shares::Static(200),
            glommio::Latency::NotImportant,
            "rewrite",
        );
        self.rewrite_queue.set(Some(q));
        q
    }

    /// The writer's task queue (made on first use).
    pub fn aof_queue(&self) -> glommio::TaskQueueHandle {
        if let Some(q) = self.aof_queue.get() {
            return q;
        }
        let q = glommio::executor().create_task_queue(
            glommio::Shares::Static(1000),
            glommio::Latency::Matters(std::time::Duration::from_micros(500)),
            "aof",
        );
        self.aof_queue.set(Some(q));
        q
    }

    /// Run `f` on every shard (concurrently) and return the results in shard order.
    pub async fn broadcast<R: Send + 'static>(
        self: &Rc<Self>,
        f: impl Fn(&Rc<Shard>) -> R + Send + Sync + Clone + 'static,
    ) -> Vec<Option<R>> {
        let calls = (0..self.n).map(|t| {
            let f = f.clone();
            self.call(t, f)
        });
        futures::future::join_all(calls).await
    }

    /// Run one keyed command on this shard's store, with command stats. `now` is the wall
    /// clock in ms, read once per batch of commands.
    pub fn exec(
        &self,
        db: usize,
        spec: &'static CommandSpec,
        handler: crate::commands::Handler,
        args: &[Bytes],
        now: u64,
    ) -> Reply {
        let refused = if self.aof_failed.get() && spec.is_write() {
            Some(misconf(self))
        } else {
            crate::memory::evict::before_command(self, spec)
        };
        if let Some(r) = refused {
            if let Reply::Error(e) = &r {
                self.stats.borrow_mut().record_rejected(Some(spec.name), e);
            }
            return r;
        }
        let start = crate::util::clock::ticks();
        let reply = run_guarded(spec.name, || {
            let mut st = self.store.borrow_mut();
            let dirty = st.dirty;
            // Left by a command run another way (a script, a multi-shard part): not ours.
            st.untouched = None;
            let r = st.run_logged(db, now, spec.is_write(), handler, args);
            // WATCHed keys written by this command (Redis's signalModifiedKey). A read that
            // only expired a key lazily does not count (a stale key has no value to change).
            // Only the keys it may write: a source of SUNIONSTORE, PFMERGE or BITOP is not
            // touched (Redis signals the destination only).
            let untouched = st.untouched.take();
            if st.dirty != dirty && spec.is_write() {
                touch_written(&mut st, db, spec, args, untouched.as_ref());
            }
            r
        });
        // Clients blocked on keys this wrote are served now, before the next command (Redis's
        // handleClientsBlockedOnKeys after each call).
        blocking::serve_ready_after(self, db, spec, args);
        // Keyspace notifications it queued go out now, in command order.
        pubsub::flush_events(self);
        crate::observe::done(self, spec, args, start, &reply, &|| {
            self.observe.client.borrow().clone()
        });
        reply
    }

    /// Serve messages from the other shards until shutdown.
    pub fn spawn_inbox(self: &Rc<Self>, queue: glommio::TaskQueueHandle) {
        let inbox = self.mesh[self.id].clone();
        match glommio::spawn_local_into(mesh::serve(self.clone(), inbox), queue) {
            Ok(t) => {
                t.detach();
            }
            Err(e) => crate::logging::warning(&format!("spawning the inbox: {e}")),
        }
    }

    /// Stop taking messages (shutdown): senders get their message back.
    pub fn close_inbox(&self) {
        self.mesh[self.id].close();
    }
}

/// Tell WATCH that a write that changed something touched the keys it may write, but
/// `untouched` (a key it named and left as it was). Nothing to do, and nothing allocated, when
/// nobody watches.
pub fn touch_written(
    st: &mut ShardStore,
    db: usize,
    spec: &CommandSpec,
    args: &[Bytes],
    untouched: Option<&Bytes>,
) {
    if st.watch.is_empty() {
        return;
    }
    for i in written_positions(spec, args) {
        if let Some(k) = args.get(i) {
            if untouched != Some(k) {
                st.watch.touch(db, k);
            }
        }
    }
}

/// The argument positions of the keys a write may modify, by its key specs: what WATCH sees
/// touched, as Redis signals only those (a source of SUNIONSTORE, PFMERGE or BITOP is not).
pub fn written_positions(spec: &CommandSpec, args: &[Bytes]) -> Vec<usize> {
    match crate::acl::keys::keys(spec.name, args) {
        Some(ks) => ks
            .into_iter()
            .filter(|&(_, f)| f & crate::acl::keys::WRITE != 0)
            .map(|(i, _)| i)
            .collect(),
        None => spec.key_indexes(args),
    }
}
