//! A last-resort guard against a shard asleep with work waiting.
//!
//! Under heavy oversubscription (more busy threads than CPUs) a glommio executor was seen, a few
//! times in thousands of runs, asleep in `io_uring_enter` for minutes while its sockets were
//! ready and its tasks woken: at start-up before its network loop first ran, and later between
//! two rounds of the loop. Any signal got it going again (gdb or strace attaching). Those runs
//! used a helper thread per shard that woke an idle shard from outside; the idle wait is now on
//! the shard's own thread (its `epoll_wait`, or an io_uring poll; net/mod.rs), and this guard
//! stays as a backstop: every 50 ms it checks each shard's heartbeat (bumped by every round of
//! the network loop, which runs at least every 10 ms even when idle, as its wait is bounded)
//! and interrupts a shard whose heartbeat has not moved for 100 ms with a no-op signal. A shard busy in one long
//! command (DEBUG SLEEP) gets harmless signals meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The signal that interrupts an executor's sleep. Its handler does nothing; its only effect
/// is the EINTR it causes (glommio treats an interrupted io_uring wait as a wake-up).
pub const KICK_SIGNAL: libc::c_int = libc::SIGURG;

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

/// One shard's heartbeat and thread.
#[derive(Default)]
pub struct Pulse {
    pub beat: AtomicU64,
    /// The executor thread while it runs (the lock keeps it alive while it is signalled).
    thread: Mutex<Option<libc::pthread_t>>,
}

impl Pulse {
    /// Called on the shard's thread before its executor starts.
    pub fn register(&self) {
        if let Ok(mut t) = self.thread.lock() {
            // SAFETY: pthread_self has no preconditions.
            *t = Some(unsafe { libc::pthread_self() });
        }
    }

    /// Called on the shard's thread before it ends.
    pub fn deregister(&self) {
        if let Ok(mut t) = self.thread.lock() {
            *t = None;
        }
    }

    #[inline]
    pub fn beat(&self) {
        self.beat.fetch_add(1, Ordering::Relaxed);
    }
}

const CHECK_EVERY: Duration = Duration::from_millis(50);
const STALLED_AFTER: u32 = 2;

/// Start the watchdog thread over `pulses` (one per shard); it runs until the process exits.
pub fn spawn(pulses: Vec<Arc<Pulse>>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("shardis-watchdog".into())
        .spawn(move || {
            let mut last: Vec<(u64, u32)> = vec![(0, 0); pulses.len()];
            loop {
                std::thread::sleep(CHECK_EVERY);
                for (p, (seen, still)) in pulses.iter().zip(last.iter_mut()) {
                    let now = p.beat.load(Ordering::Relaxed);
                    if now != *seen {
                        *seen = now;
                        *still = 0;
                        continue;
                    }
                    *still += 1;
                    if *still < STALLED_AFTER {
                        continue;
                    }
                    if let Ok(t) = p.thread.lock() {
                        if let Some(t) = *t {
                            // SAFETY: the thread is registered, so alive (it deregisters under
                            // this lock before ending), and the signal's handler is a no-op.
                            unsafe {
                                libc::pthread_kill(t, KICK_SIGNAL);
                            }
                        }
                    }
                }
            }
        })?;
    Ok(())
}
