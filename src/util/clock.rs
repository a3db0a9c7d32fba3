//! A cheap monotonic clock for per-command timing (INFO commandstats).
//!
//! clock_gettime through the vDSO cost ~45 ns a call on the VMs we measured, and taking it
//! twice per command was over 5% of a GET's CPU. On x86_64 the TSC (constant and invariant on
//! any CPU this server targets) is read instead and converted with a rate calibrated at
//! start-up; elsewhere `Instant` is used.

use std::sync::OnceLock;

static TICKS_PER_US: OnceLock<f64> = OnceLock::new();

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
pub fn calibrate() -> f64 {
    *TICKS_PER_US.get_or_init(|| {
        if cfg!(not(target_arch = "x86_64")) {
            return 1000.0;
        }
        let t0 = std::time::Instant::now();
        let c0 = ticks();
        std::thread::sleep(std::time::Duration::from_millis(10));
        let c1 = ticks();
        let us = t0.elapsed().as_secs_f64() * 1e6;
        let rate = c1.wrapping_sub(c0) as f64 / us;
        if rate.is_finite() && rate > 1.0 {
            rate
        } else {
            1000.0
        }
    })
}

/// Nanoseconds between two `ticks()` readings.
#[inline]
pub fn elapsed_ns(start: u64, end: u64) -> u64 {
    let rate = TICKS_PER_US.get().copied().unwrap_or_else(calibrate);
    (end.saturating_sub(start) as f64 * 1000.0 / rate) as u64
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
