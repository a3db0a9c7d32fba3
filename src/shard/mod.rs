//! A shard: one pinned executor's store, settings, stats and its channels to the other shards.
//!
//! Everything here is owned by one thread (`Rc`/`RefCell`). Other shards reach it only through
//! messages: closures sent over glommio's channel mesh, run here between two network events,
//! and answered through a oneshot that wakes the caller's task on its own executor.

pub mod blocking;
pub mod coordinator;
pub mod cron;
pub mod mesh;

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
    pub started: std::time::Instant,
    pub started_unix: u64,
    /// The AOF is being loaded: commands other than `loading` ones get -LOADING.
    pub loading: AtomicBool,
    pub run_id: String,
    pub config_file: Option<String>,
    pub executable: String,
    pub port: u16,
    /// Each shard's wake-up eventfd, by shard id (shutdown, cross-shard client kills).
    pub wakers: Vec<Arc<crate::net::sys::EventFd>>,
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
    /// This shard's copy of the ACL users (see `crate::acl`).
    pub acl: RefCell<crate::acl::AclState>,
    mesh: mesh::Mesh,
}

impl Shard {
    pub fn new(
        id: usize,
        n: usize,
        config: Config,
        global: Arc<Global>,
        mesh: mesh::Mesh,
    ) -> Shard {
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
            aof: RefCell::new(Default::default()),
            aof_always: std::cell::Cell::new(false),
            aof_failed: std::cell::Cell::new(false),
            manifest: RefCell::new(Default::default()),
            manifest_lock: glommio::sync::Semaphore::new(1),
            aof_queue: std::cell::Cell::new(None),
            rewrite_queue: std::cell::Cell::new(None),
            blocking: RefCell::new(Default::default()),
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
        if self.aof_failed.get() && spec.is_write() {
            return misconf(self);
        }
        let start = crate::util::clock::ticks();
        let reply = run_guarded(spec.name, || {
            self.store
                .borrow_mut()
                .run_logged(db, now, spec.is_write(), handler, args)
        });
        // Clients blocked on keys this wrote are served now, before the next command (Redis's
        // handleClientsBlockedOnKeys after each call).
        blocking::serve_ready(self);
        let us = crate::util::clock::elapsed_us(start, crate::util::clock::ticks());
        self.stats
            .borrow_mut()
            .record(spec.name, us, reply.is_error());
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
