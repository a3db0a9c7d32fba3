//! The latency monitor (Redis's latency.c): per event class, the worst latency of each second
//! over the last 160 seconds with a sample, and the worst ever. Kept per shard; LATENCY merges.

use std::collections::VecDeque;

/// Samples kept per event (Redis's LATENCY_TS_LEN).
pub const TS_LEN: usize = 160;

#[derive(Clone, Debug, Default)]
pub struct Series {
    /// (unix seconds, ms), oldest first, one per second.
    pub samples: VecDeque<(u64, u64)>,
    pub max: u64,
}

impl Series {
    pub fn add(&mut self, now: u64, ms: u64) {
        self.max = self.max.max(ms);
        if let Some(last) = self.samples.back_mut() {
            if last.0 == now {
                last.1 = last.1.max(ms);
                return;
            }
        }
        self.samples.push_back((now, ms));
        while self.samples.len() > TS_LEN {
            self.samples.pop_front();
        }
    }

    /// Fold another shard's series of the same event in: per second the worst.
    pub fn merge(&mut self, other: &Series) {
        self.max = self.max.max(other.max);
        let mut all: Vec<(u64, u64)> = self.samples.iter().chain(&other.samples).copied().collect();
        all.sort_unstable();
        let mut out: VecDeque<(u64, u64)> = VecDeque::with_capacity(all.len());
        for (t, ms) in all {
            match out.back_mut() {
                Some(last) if last.0 == t => last.1 = last.1.max(ms),
                _ => out.push_back((t, ms)),
            }
        }
        while out.len() > TS_LEN {
            out.pop_front();
        }
        self.samples = out;
    }
}

/// Events by name, in the order they first happened.
#[derive(Clone, Debug, Default)]
pub struct Events {
    pub series: Vec<(&'static str, Series)>,
}

impl Events {
    pub fn add(&mut self, event: &'static str, ms: u64) {
        let now = crate::util::now_ms() / 1000;
        match self.series.iter_mut().find(|(e, _)| *e == event) {
            Some((_, s)) => s.add(now, ms),
            None => {
                let mut s = Series::default();
                s.add(now, ms);
                self.series.push((event, s));
            }
        }
    }

    pub fn get(&self, event: &[u8]) -> Option<&Series> {
        self.series
            .iter()
            .find(|(e, _)| e.as_bytes() == event)
            .map(|(_, s)| s)
    }

    /// Forget the named events (all with None); how many there were.
    pub fn reset(&mut self, events: Option<&[Vec<u8>]>) -> usize {
        let before = self.series.len();
        match events {
            None => self.series.clear(),
            Some(names) => self
                .series
                .retain(|(e, _)| !names.iter().any(|n| n == e.as_bytes())),
        }
        before - self.series.len()
    }

    pub fn merge(&mut self, other: &Events) {
        for (e, s) in &other.series {
            match self.series.iter_mut().find(|(x, _)| x == e) {
                Some((_, mine)) => mine.merge(s),
                None => self.series.push((e, s.clone())),
            }
        }
    }
}

/// LATENCY DOCTOR's report, worded as Redis's (the advice needing facts shardis does not
/// have — fork rate, transparent huge pages — is left out).
pub fn doctor(events: &Events, threshold_ms: u64) -> String {
    if events.series.is_empty() && threshold_ms == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    if events.series.is_empty() {
        return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".into();
    }
    let mut out = String::from(
        "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
    );
    let now = crate::util::now_ms() / 1000;
    for (i, (event, s)) in events.series.iter().enumerate() {
        let n = s.samples.len().max(1) as u64;
        let sum: u64 = s.samples.iter().map(|x| x.1).sum();
        let avg = sum / n;
        let mad = s.samples.iter().map(|x| x.1.abs_diff(avg)).sum::<u64>() / n;
        let first = s.samples.front().map_or(now, |x| x.0);
        let period = now.saturating_sub(first).max(1);
        out.push_str(&format!(
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.\n",
            i + 1,
            event,
            s.samples.len(),
            avg,
            mad,
            period as f64 / n as f64,
            s.max
        ));
    }
    out.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_worst_kept() {
        let mut s = Series::default();
        s.add(10, 5);
        s.add(10, 7);
        s.add(10, 3);
        s.add(11, 1);
        assert_eq!(s.samples, VecDeque::from(vec![(10, 7), (11, 1)]));
        assert_eq!(s.max, 7);
        let mut o = Series::default();
        o.add(11, 9);
        o.add(12, 2);
        s.merge(&o);
        assert_eq!(s.samples, VecDeque::from(vec![(10, 7), (11, 9), (12, 2)]));
        assert_eq!(s.max, 9);
    }
}
