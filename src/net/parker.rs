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
    /// Bumped by the loop on every round: proof that a wake got it running.
    beat: std::sync::atomic::AtomicU64,
    /// The shard's executor thread, to interrupt its sleep (see `kick`).
    target: libc::pthread_t,
}

/// The signal that interrupts an executor's sleep. Its handler does nothing; its only effect
/// is the EINTR it causes (glommio treats an interrupted io_uring wait as a wake-up).
pub const KICK_SIGNAL: libc::c_int = libc::SIGURG;

/// How long a woken loop may take to run before its thread is interrupted.
const KICK_AFTER: std::time::Duration = std::time::Duration::from_millis(20);

extern "C" fn on_kick(_: libc::c_int) {}

/// Install the no-op handler for `KICK_SIGNAL` (once, at start-up). Without SA_RESTART, so a
/// blocking wait returns EINTR.
pub fn install_kick_handler() {
    // SAFETY: a zeroed sigaction with a valid handler and an empty mask is well-formed, and
    // the handler does nothing (async-signal-safe).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_kick as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        libc::sigaction(KICK_SIGNAL, &sa, std::ptr::null_mut());
    }
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
            beat: std::sync::atomic::AtomicU64::new(0),
            // SAFETY: pthread_self has no preconditions; this runs on the shard's thread.
            target: unsafe { libc::pthread_self() },
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

    /// The loop ran a round (the watcher stops kicking).
    #[inline]
    pub fn beat(&self) {
        self.shared.beat.fetch_add(1, Ordering::Relaxed);
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

/// Wait until the loop arms the parker; with a limit, false if it did not in time.
fn wait_armed(s: &Shared, limit: Option<std::time::Duration>) -> bool {
    let Ok(mut armed) = s.armed.lock() else {
        return false;
    };
    while !*armed {
        if s.stop.load(Ordering::Acquire) {
            return false;
        }
        armed = match limit {
            None => match s.cv.wait(armed) {
                Ok(g) => g,
                Err(_) => return false,
            },
            Some(d) => match s.cv.wait_timeout(armed, d) {
                Ok((g, t)) if t.timed_out() && !*g => return false,
                Ok((g, _)) => g,
                Err(_) => return false,
            },
        };
    }
    *armed = false;
    true
}

fn watch(epfd: RawFd, s: &Shared) {
    let mut ev = [libc::epoll_event { events: 0, u64: 0 }; 1];
    if !wait_armed(s, None) {
        return;
    }
    loop {
        if s.stop.load(Ordering::Acquire) {
            return;
        }
        // Level-triggered: this reports readiness without taking it from the loop. The wait is
        // bounded: an idle shard is also woken from here every WATCH_BOUND_MS.
        if let Err(e) = sys::wait_raw(epfd, &mut ev, WATCH_BOUND_MS) {
            // Never leave the shard without a watcher: report and wake it anyway (the loop
            // polls the set itself and bounds its sleeps).
            crate::logging::warning(&format!("epoll watcher: epoll_wait failed: {e}"));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if s.stop.load(Ordering::Acquire) {
            return;
        }
        let beat = s.beat.load(Ordering::Relaxed);
        s.fired.store(true, Ordering::Release);
        s.waker.wake();
        // Backstop for a wake that does not get the executor going. Under heavy
        // oversubscription a shard was seen asleep (in io_uring_enter) with ready sockets and
        // woken tasks, for minutes, until a signal (strace attaching) interrupted the wait —
        // also after the loop had run a round or two and before it parked again. So: whenever
        // the loop neither runs another round nor re-arms within KICK_AFTER, interrupt its
        // thread (while it is busy, its beat moves and this only looks every KICK_AFTER).
        let mut beat = beat;
        loop {
            if wait_armed(s, Some(KICK_AFTER)) {
                break;
            }
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            let now = s.beat.load(Ordering::Relaxed);
            if now != beat {
                beat = now;
                continue;
            }
            // SAFETY: the target thread outlives this watcher (the shard joins it on drop
            // before its thread ends), and the signal has a no-op handler installed.
            unsafe {
                libc::pthread_kill(s.target, KICK_SIGNAL);
            }
        }
    }
}
