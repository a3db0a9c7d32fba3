//! A last-resort guard against a shard asleep with work waiting.
//!
//! Under heavy oversubscription (more busy threads than CPUs) a glommio executor was seen, a few
//! times in thousands of runs, asleep in `io_uring_enter` for minutes while its sockets were
//! ready and its tasks woken: at start-up before its network loop first ran, and later between
//! two rounds of the loop. Any signal got it going again (gdb or strace attaching). Those runs
//! used a helper thread per shard that woke an idle shard from outside; the idle wait is now on
//! the shard's own thread (its `epoll_wait`, or an io_uring poll; net/mod.rs), and this guard
//! stays as a backstop: every 50 ms (more often for a short `watchdog-period`) it checks each
//! shard's heartbeat (bumped by every round of the network loop, which runs at least every
//! 10 ms even when idle, as its wait is bounded) and interrupts a shard whose heartbeat has not
//! moved for 100 ms with a signal whose handler only notes where the thread was. A shard busy
//! in one long command (a script) gets harmless signals meanwhile.
//!
//! It is also Redis's software watchdog (`watchdog-period`, off by default): a shard whose
//! heartbeat has not moved for that many milliseconds is reported in the log once per stall,
//! with what the kernel says of its thread (state, the system call it is in and from where,
//! its kernel stack where readable), or, if it is running user code, the function it is in.
//! Redis logs its main thread's backtrace from a SIGALRM handler instead; walking the stack
//! from a signal handler is not async-signal-safe, and reading /proc from this thread leaves a
//! thread asleep in a system call alone, so such a stall is seen as it is, before the kick
//! changes it.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The signal that interrupts an executor's sleep. Its handler's only effect on the thread is
/// the EINTR it causes (glommio treats an interrupted io_uring wait as a wake-up); it also
/// notes where the thread was, for `watchdog-period` reports.
pub const KICK_SIGNAL: libc::c_int = libc::SIGURG;

/// Shard threads that a kick's handler can note the interrupted address of: each registered
/// thread's id claims a slot (0: free), and the handler stores the address in its slot.
const SAMPLED: usize = 256;
static SLOT_TIDS: [AtomicI32; SAMPLED] = [const { AtomicI32::new(0) }; SAMPLED];
static SLOT_PCS: [AtomicU64; SAMPLED] = [const { AtomicU64::new(0) }; SAMPLED];

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // Async-signal-safe: a system call, atomic loads and one atomic store.
    let pc = interrupted_pc(ctx);
    if pc == 0 {
        return;
    }
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    if let Some(i) = SLOT_TIDS
        .iter()
        .position(|t| t.load(Ordering::Relaxed) == tid)
    {
        SLOT_PCS[i].store(pc, Ordering::Relaxed);
    }
}

/// The instruction address a signal interrupted, from the handler's context.
fn interrupted_pc(ctx: *mut libc::c_void) -> u64 {
    if ctx.is_null() {
        return 0;
    }
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        // SAFETY: with SA_SIGINFO the third argument is the interrupted ucontext_t.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        uc.uc_mcontext.gregs[libc::REG_RIP as usize] as u64
    }
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    {
        // SAFETY: as above.
        let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
        uc.uc_mcontext.pc
    }
    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    {
        0
    }
}

/// Install the kick handler (once, at start-up). Without SA_RESTART, so a blocking wait
/// returns EINTR.
pub fn install_kick_handler() {
    // SAFETY: a zeroed sigaction with a valid handler and an empty mask is well-formed, and
    // the handler is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction =
            on_kick as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(KICK_SIGNAL, &sa, std::ptr::null_mut());
    }
}

/// One shard's heartbeat and thread.
#[derive(Default)]
pub struct Pulse {
    pub beat: AtomicU64,
    /// The executor thread while it runs (the lock keeps it alive while it is signalled).
    thread: Mutex<Option<libc::pthread_t>>,
    /// Its kernel thread id (0 before it starts), for /proc/self/task and its SLOT_TIDS slot.
    tid: AtomicI32,
}

impl Pulse {
    /// Called on the shard's thread before its executor starts.
    pub fn register(&self) {
        if let Ok(mut t) = self.thread.lock() {
            // SAFETY: pthread_self has no preconditions.
            *t = Some(unsafe { libc::pthread_self() });
        }
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        self.tid.store(tid, Ordering::Relaxed);
        // Claim a slot (none left: its reports just lack the running address).
        let _ = SLOT_TIDS.iter().any(|t| {
            t.compare_exchange(0, tid, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        });
    }

    /// Its slot in SLOT_TIDS / SLOT_PCS, if it has one.
    fn slot(&self) -> Option<usize> {
        let tid = self.tid.load(Ordering::Relaxed);
        if tid == 0 {
            return None;
        }
        SLOT_TIDS
            .iter()
            .position(|t| t.load(Ordering::Relaxed) == tid)
    }

    /// Called on the shard's thread before it ends.
    pub fn deregister(&self) {
        if let Ok(mut t) = self.thread.lock() {
            *t = None;
        }
        if let Some(i) = self.slot() {
            SLOT_TIDS[i].store(0, Ordering::Relaxed);
        }
    }

    /// Signal the thread (if it runs) with KICK_SIGNAL; whether it was sent.
    fn kick(&self) -> bool {
        let Ok(t) = self.thread.lock() else {
            return false;
        };
        let Some(t) = *t else {
            return false;
        };
        // SAFETY: the thread is registered, so alive (it deregisters under this lock before
        // ending), and the signal's handler is async-signal-safe.
        unsafe { libc::pthread_kill(t, KICK_SIGNAL) == 0 }
    }

    /// Where the thread is running now: kick it and wait (briefly) for its handler to say.
    fn sample_pc(&self) -> Option<u64> {
        let slot = self.slot()?;
        SLOT_PCS[slot].store(0, Ordering::Relaxed);
        if !self.kick() {
            return None;
        }
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(1));
            match SLOT_PCS[slot].load(Ordering::Relaxed) {
                0 => continue,
                pc => return Some(pc),
            }
        }
        None
    }

    #[inline]
    pub fn beat(&self) {
        self.beat.fetch_add(1, Ordering::Relaxed);
    }
}

/// How often the heartbeats are looked at (more often where `watchdog-period` is shorter).
const CHECK_EVERY: Duration = Duration::from_millis(50);
/// A shard whose heartbeat stood still this long is kicked.
const KICK_AFTER: Duration = Duration::from_millis(100);

/// Start the watchdog thread over the shards' pulses; it runs until the process exits and
/// reads `watchdog-period` (0: no reports; CONFIG SET may change it) before each look.
pub fn spawn(global: Arc<super::Global>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("shardis-watchdog".into())
        .spawn(move || {
            let (pulses, period_ms) = (&global.pulses, &global.watchdog_period_ms);
            let start = Instant::now();
            // Per shard: the beat last seen, when it moved, whether this stall was reported.
            let mut last: Vec<(u64, Instant, bool)> = vec![(0, start, false); pulses.len()];
            loop {
                let period = period_ms.load(Ordering::Relaxed);
                let every = match period {
                    0 => CHECK_EVERY,
                    p => CHECK_EVERY.min(Duration::from_millis((p / 4).max(1))),
                };
                std::thread::sleep(every);
                let now = Instant::now();
                for (i, (p, (seen, moved, reported))) in
                    pulses.iter().zip(last.iter_mut()).enumerate()
                {
                    let beat = p.beat.load(Ordering::Relaxed);
                    if beat != *seen {
                        (*seen, *moved, *reported) = (beat, now, false);
                        continue;
                    }
                    let still = now - *moved;
                    // Not before the loop's first round (start-up), when Redis's watchdog is
                    // not armed either.
                    if period > 0
                        && beat > 0
                        && !*reported
                        && still >= Duration::from_millis(period)
                    {
                        *reported = true;
                        report(i, p, still, period);
                    }
                    if still >= KICK_AFTER {
                        p.kick();
                    }
                }
            }
        })?;
    Ok(())
}

/// Log a stalled shard: Redis's "WATCHDOG TIMER EXPIRED" block, with the kernel's view of the
/// shard's thread and where it was running in place of Redis's backtrace.
fn report(shard: usize, p: &Pulse, still: Duration, period: u64) {
    let tid = p.tid.load(Ordering::Relaxed);
    let mut msg = format!(
        "\n--- WATCHDOG TIMER EXPIRED ---\nshard {shard} (thread {tid}): no round of its \
         network loop for {} ms (watchdog-period {period})\n",
        still.as_millis()
    );
    // The kernel's view first: a kick (the sample below, or the one after KICK_AFTER) would
    // interrupt a system call the thread is in.
    let view = thread_view(tid);
    msg.push_str(&view.text);
    if view.running {
        if let Some(pc) = p.sample_pc() {
            msg.push_str(&format!("running at: {pc:#x} {}\n", symbol_at(pc)));
        }
    }
    msg.push_str("--------");
    crate::logging::warning(&msg);
}

struct ThreadView {
    text: String,
    /// In user space rather than in a system call.
    running: bool,
}

/// What /proc says of thread `tid` of this process: its state, the system call it is in and
/// the user-space address it was made from (with the function there), its wait channel and
/// kernel stack (readable by root only). Lines that cannot be read are left out.
fn thread_view(tid: i32) -> ThreadView {
    let dir = format!("/proc/self/task/{tid}");
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).ok();
    let mut text = String::new();
    let mut running = false;
    if let Some(stat) = read("stat") {
        // The state follows the command name, which is in parentheses and may hold spaces.
        if let Some(state) = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
        {
            text.push_str(&format!("state: {}\n", state_name(state)));
        }
    }
    if let Some(sc) = read("syscall") {
        let sc = sc.trim();
        let fields: Vec<&str> = sc.split_whitespace().collect();
        running = sc == "running";
        text.push_str(&format!("syscall: {sc}\n"));
        // "nr arg1..arg6 sp pc" while in a system call ("-1 sp pc" in none).
        if let Some(pc) = fields
            .last()
            .filter(|_| fields.len() >= 3)
            .and_then(|pc| u64::from_str_radix(pc.trim_start_matches("0x"), 16).ok())
        {
            text.push_str(&format!("called from: {:#x} {}\n", pc, symbol_at(pc)));
        }
    }
    if let Some(w) = read("wchan").filter(|w| !w.is_empty() && w != "0") {
        text.push_str(&format!("wchan: {w}\n"));
    }
    if let Some(stack) = read("stack").filter(|s| !s.trim().is_empty()) {
        text.push_str("kernel stack:\n");
        text.push_str(&stack);
        if !stack.ends_with('\n') {
            text.push('\n');
        }
    }
    ThreadView { text, running }
}

fn state_name(s: &str) -> String {
    let name = match s {
        "R" => "running",
        "S" => "sleeping",
        "D" => "disk sleep",
        "T" => "stopped",
        "t" => "tracing stop",
        "Z" => "zombie",
        _ => return s.to_string(),
    };
    format!("{s} ({name})")
}

/// The function at address `pc` of this process, if its symbols say.
fn symbol_at(pc: u64) -> String {
    let mut name = String::from("?");
    backtrace::resolve(pc as usize as *mut std::ffi::c_void, |sym| {
        if name == "?" {
            if let Some(n) = sym.name() {
                name = n.to_string();
            }
        }
    });
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleeping_thread_is_seen_in_its_system_call() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            let _ = tx.send(unsafe { libc::gettid() });
            std::thread::sleep(Duration::from_millis(400));
        });
        let tid = rx.recv().unwrap_or(0);
        std::thread::sleep(Duration::from_millis(100));
        let view = thread_view(tid);
        let _ = t.join();
        assert!(!view.running, "{}", view.text);
        assert!(view.text.contains("state: S (sleeping)"), "{}", view.text);
        // The call came from libc's sleep.
        assert!(view.text.contains("sleep"), "{}", view.text);
    }

    #[test]
    fn a_kick_notes_where_a_running_thread_was() {
        install_kick_handler();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pulse = Arc::new(Pulse::default());
        let t = {
            let (stop, pulse) = (stop.clone(), pulse.clone());
            std::thread::spawn(move || {
                pulse.register();
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
                pulse.deregister();
                x
            })
        };
        while pulse.tid.load(Ordering::Relaxed) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let view = thread_view(pulse.tid.load(Ordering::Relaxed));
        let pc = pulse.sample_pc();
        stop.store(true, Ordering::Relaxed);
        let _ = t.join();
        assert!(view.running, "{}", view.text);
        assert!(pc.is_some_and(|pc| pc != 0));
    }
}
