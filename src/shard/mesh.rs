//! Shard-to-shard channels: one inbox per shard, a lock-free queue that every other shard
//! pushes closures into, plus a waker for the task that drains it.
//!
//! glommio's own channel mesh was tried first; its `join()` handshake hung now and then at
//! start-up with more shards than cores (all executors parked) — likely the start-up stall
//! described in runtime.rs, found later. This inbox needs no handshake: the queues exist before
//! the executors start, shard ids are ours (not the join order), and a push wakes the owner's
//! inbox task through its `Waker` (glommio honours wakes from other threads).

use super::{Msg, Shard};
use crossbeam::queue::SegQueue;
use futures::task::AtomicWaker;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

/// Messages run per wake-up before the inbox task yields to the network loop.
const BATCH: usize = 64;

#[derive(Default)]
pub struct Inbox {
    queue: SegQueue<Msg>,
    waker: AtomicWaker,
    closed: AtomicBool,
}

impl Inbox {
    /// Queue a message for the owning shard. Gives it back if that shard has stopped.
    pub fn send(&self, msg: Msg) -> Result<(), Msg> {
        if self.closed.load(Ordering::Acquire) {
            return Err(msg);
        }
        self.queue.push(msg);
        self.waker.wake();
        Ok(())
    }

    /// Stop taking messages and drop the queued ones: their callers' reply channels close,
    /// so they get an error instead of waiting.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        while self.queue.pop().is_some() {}
        self.waker.wake();
    }
}

/// Every shard's inbox, by shard id. Shared by all shards (the only shared structure besides
/// the admission counters in `Global`).
pub type Mesh = Arc<Vec<Arc<Inbox>>>;

pub fn new_mesh(n: usize) -> Mesh {
    Arc::new((0..n).map(|_| Arc::new(Inbox::default())).collect())
}

/// Drain this shard's inbox until it is closed. The task yields only after a full batch, and
/// otherwise waits for the next push (its waker is registered before it looks): a yield after
/// every drain left it runnable whenever the network loop looked for sleep, which then parked
/// through io_uring instead of `epoll_wait` (net/mod.rs). It never runs more than a batch
/// without returning to the executor.
pub async fn serve(shard: Rc<Shard>, inbox: Arc<Inbox>) {
    loop {
        let drain = std::future::poll_fn(|cx| {
            // Register first, then look: a push after the look wakes us again.
            inbox.waker.register(cx.waker());
            let mut n = 0;
            while n < BATCH {
                match inbox.queue.pop() {
                    Some(msg) => {
                        // A panicking message drops its reply sender: the caller gets an
                        // error, and this shard keeps serving.
                        let run = std::panic::AssertUnwindSafe(|| msg(&shard));
                        if std::panic::catch_unwind(run).is_err() {
                            crate::logging::warning("BUG: a cross-shard message panicked");
                        }
                        n += 1;
                    }
                    None => break,
                }
            }
            if n > 0 {
                shard.aof_kick();
            }
            if n == BATCH {
                // More may be queued: let the other tasks have a turn first.
                Poll::Ready(true)
            } else if inbox.closed.load(Ordering::Acquire) {
                Poll::Ready(false)
            } else {
                Poll::Pending
            }
        });
        if !drain.await {
            return;
        }
        glommio::executor().yield_now().await;
    }
}
