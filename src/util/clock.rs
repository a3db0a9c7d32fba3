//! A cheap monotonic clock for per-command timing (INFO commandstats).
//!
//! clock_gettime through the vDSO cost ~45 ns a call on the VMs we measured, and taking it
//! twice per command was over 5% of a GET's CPU. On x86_64 the TSC (constant and invariant on
//! any CPU this server targets) is read instead and converted with a rate calibrated at
//! start-up; elsewhere `Instant` is used.

use std::sync::OnceLock;

/// Nanoseconds per tick in 32.32 fixed point: a multiply and a shift per conversion, where a
/// floating-point division showed as a fifth of `observe::done`'s samples.
static NS_PER_TICK_Q32: OnceLock<u64> = OnceLock::new();

#[cfg(target_arch = "x86_64")]
#[inline]
pub fn ticks() -> u64 {
    // SAFETY: rdtsc has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn ticks() -> u64 {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

/// Measure the tick rate against the OS clock (about 10 ms, once, at start-up).
pub fn calibrate() {
    NS_PER_TICK_Q32.get_or_init(|| {
        let ns_per_tick = if cfg!(target_arch = "x86_64") {
            let t0 = std::time::Instant::now();
            let c0 = ticks();
            std::thread::sleep(std::time::Duration::from_millis(10));
            let c1 = ticks();
            let ns = t0.elapsed().as_secs_f64() * 1e9;
            let r = ns / c1.wrapping_sub(c0) as f64;
            if r.is_finite() && r > 0.0 && r < 1e6 {
                r
            } else {
                1.0
            }
        } else {
            1.0
        };
        (ns_per_tick * (1u64 << 32) as f64) as u64
    });
}

/// Nanoseconds between two `ticks()` readings.
#[inline]
pub fn elapsed_ns(start: u64, end: u64) -> u64 {
    let q = match NS_PER_TICK_Q32.get() {
        Some(&q) => q,
        None => {
            calibrate();
            NS_PER_TICK_Q32.get().copied().unwrap_or(1 << 32)
        }
    };
    ((end.saturating_sub(start) as u128 * q as u128) >> 32) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn measures_a_sleep() {
        super::calibrate();
        let t0 = super::ticks();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let us = super::elapsed_ns(t0, super::ticks()) / 1000;
        assert!((15_000..200_000).contains(&us), "{us}");
    }
}
