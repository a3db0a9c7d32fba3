//! Instantaneous rates for INFO (ops/s, network kbps): Redis's trackInstantaneousMetric, a
//! 16-sample average of the rate between samples taken every 100 ms by the shard's cron.

const SAMPLES: usize = 16;

#[derive(Default, Clone, Copy)]
struct Metric {
    last_ms: u64,
    last_value: u64,
    ring: [f64; SAMPLES],
    idx: usize,
}

impl Metric {
    fn sample(&mut self, now_ms: u64, value: u64) {
        if self.last_ms != 0 && now_ms > self.last_ms {
            let per_sec = value.saturating_sub(self.last_value) as f64 * 1000.0
                / (now_ms - self.last_ms) as f64;
            self.ring[self.idx] = per_sec;
            self.idx = (self.idx + 1) % SAMPLES;
        }
        self.last_ms = now_ms;
        self.last_value = value;
    }

    fn mean(&self) -> f64 {
        self.ring.iter().sum::<f64>() / SAMPLES as f64
    }
}

/// A shard's rates: commands, bytes in, bytes out.
#[derive(Default, Clone, Copy)]
pub struct Rates {
    ops: Metric,
    input: Metric,
    output: Metric,
}

impl Rates {
    /// Take a sample if 100 ms passed since the last.
    pub fn tick(&mut self, now_ms: u64, ops: u64, input: u64, output: u64) {
        if now_ms < self.ops.last_ms + 100 {
            return;
        }
        self.ops.sample(now_ms, ops);
        self.input.sample(now_ms, input);
        self.output.sample(now_ms, output);
    }

    /// (ops/s, input bytes/s, output bytes/s).
    pub fn now(&self) -> (f64, f64, f64) {
        (self.ops.mean(), self.input.mean(), self.output.mean())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn averages_the_last_samples() {
        let mut r = super::Rates::default();
        for i in 0..=16u64 {
            r.tick(1000 + i * 100, i * 10, 0, i * 100);
        }
        let (ops, _, out) = r.now();
        assert!((ops - 100.0).abs() < 1e-6, "{ops}");
        assert!((out - 1000.0).abs() < 1e-6, "{out}");
    }
}
