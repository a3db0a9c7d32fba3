//! Parking an idle shard's network loop until a socket is ready.
//!
//! glommio 0.9 has no public way to await readiness of an arbitrary fd, and re-arming an
//! io_uring poll per socket read is what made a plain glommio server costlier than Redis (see
//! DESIGN.md). So sockets live in a per-shard epoll set that the loop polls with a zero timeout
//! while busy. When a poll finds nothing, the loop arms this parker: a helper thread, pinned to
//! the shard's CPU, blocks in `epoll_wait` on the same (level-triggered) set and wakes the
//! loop's task through its `Waker` (glommio honours wakes from other threads). The helper only
//! observes readiness; it never consumes events, so the loop sees them on its next poll. Under
//! load the set is never empty and the helper sleeps: the cost is paid only on idle→busy edges.

use super::sys;
use futures::task::AtomicWaker;
use std::future::Future;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};

struct Shared {
    armed: Mutex<bool>,
    cv: Condvar,
    fired: AtomicBool,
    stop: AtomicBool,
    waker: AtomicWaker,
}

pub struct Parker {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Parker {
    pub fn new(
        epfd: RawFd,
        cpu: Option<core_affinity::CoreId>,
        name: String,
    ) -> std::io::Result<Parker> {
        let shared = Arc::new(Shared {
            armed: Mutex::new(false),
            cv: Condvar::new(),
            fired: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            if let Some(c) = cpu {
                core_affinity::set_for_current(c);
            }
            watch(epfd, &s)
        })?;
        Ok(Parker {
            shared,
            thread: Some(thread),
        })
    }

    /// Resolves once the epoll set has a ready fd (or at once if it already has).
    pub fn park(&self) -> Park<'_> {
        self.shared.fired.store(false, Ordering::Release);
        Park {
            shared: &self.shared,
            armed: false,
        }
    }
}

impl Drop for Parker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Ok(mut a) = self.shared.armed.lock() {
            *a = true;
        }
        self.shared.cv.notify_one();
        // The thread may be inside epoll_wait; the owner makes the set ready (the shutdown
        // eventfd) before dropping us, so the join below returns.
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct Park<'a> {
    shared: &'a Shared,
    armed: bool,
}

impl Future for Park<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.shared.waker.register(cx.waker());
        if self.shared.fired.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        if !self.armed {
            self.armed = true;
            if let Ok(mut a) = self.shared.armed.lock() {
                *a = true;
            }
            self.shared.cv.notify_one();
        }
        Poll::Pending
    }
}

/// Longest the watcher sleeps before waking the loop anyway.
const WATCH_BOUND_MS: i32 = 100;

fn watch(epfd: RawFd, s: &Shared) {
    let mut ev = [libc::epoll_event { events: 0, u64: 0 }; 1];
    loop {
        {
            let Ok(mut armed) = s.armed.lock() else {
                return;
            };
            while !*armed {
                armed = match s.cv.wait(armed) {
                    Ok(g) => g,
                    Err(_) => return,
                };
            }
            *armed = false;
        }
        if s.stop.load(Ordering::Acquire) {
            return;
        }
        // Level-triggered: this reports readiness without taking it from the loop. The wait is
        // bounded: an idle shard is also woken from here every WATCH_BOUND_MS. Its own 10 ms
        // timer should make this redundant, but a 4-shards-on-2-CPUs test once sat for minutes
        // until a new connection's wake came through this thread — a wake from another thread
        // got the executor going where its timer had not — so this thread also ticks.
        if let Err(e) = sys::wait_raw(epfd, &mut ev, WATCH_BOUND_MS) {
            // Never leave the shard without a watcher: report and wake it anyway (the loop
            // polls the set itself and bounds its sleeps).
            crate::logging::warning(&format!("epoll watcher: epoll_wait failed: {e}"));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if s.stop.load(Ordering::Acquire) {
            return;
        }
        s.fired.store(true, Ordering::Release);
        s.waker.wake();
    }
}
