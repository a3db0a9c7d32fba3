//! A shard: one pinned executor's store, settings, stats and its channels to the other shards.
//!
//! Everything here is owned by one thread (`Rc`/`RefCell`). Other shards reach it only through
//! messages: closures sent over glommio's channel mesh, run here between two network events,
//! and answered through a oneshot that wakes the caller's task on its own executor.

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
            return Some(f(self));
        }
        let (tx, rx) = futures::channel::oneshot::channel();
        let msg: Msg = Box::new(move |sh| {
            let _ = tx.send(f(sh));
        });
        // A closed inbox drops queued messages, which cancels `rx`: the caller gets None.
        self.mesh.get(target)?.send(msg).ok()?;
        rx.await.ok()
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
        let start = crate::util::clock::ticks();
        let reply = run_guarded(spec.name, || {
            let mut store = self.store.borrow_mut();
            let dirty = store.dirty;
            store.feed.explicit = false;
            let mut ctx = store.ctx_at(db, now);
            let reply = handler(&mut ctx, args);
            // Log the command as sent if it changed something and logged no effects itself.
            if store.feed.on && store.dirty != dirty && !store.feed.explicit && spec.is_write() {
                store.feed.record(db, args);
            }
            reply
        });
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
