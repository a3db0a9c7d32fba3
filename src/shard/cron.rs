//! A shard's periodic work (Redis's serverCron for one shard): active expiry and idle-client
//! timeouts. Runs in its own low-share task queue so request handling comes first.

use super::Shard;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Keys sampled per database per step (ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP).
const KEYS_PER_LOOP: usize = 20;
/// Work done between two yields, so a large expiry backlog never stalls requests for long.
const SLICE: Duration = Duration::from_micros(500);

pub async fn run(shard: Rc<Shard>) {
    let mut last_timeout_check = Instant::now();
    loop {
        let hz = shard.config.borrow().hz.clamp(1, 500);
        let period = Duration::from_millis(1000 / hz);
        glommio::timer::sleep(period).await;
        if shard
            .global
            .shutdown
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return;
        }
        if shard.active_expire.get() {
            active_expire_cycle(&shard, period).await;
        }
        if last_timeout_check.elapsed() >= Duration::from_secs(1) {
            last_timeout_check = Instant::now();
            close_idle_clients(&shard);
        }
    }
}

/// Redis's adaptive cycle: per database, sample keys with a TTL and delete the expired ones;
/// repeat while more than a tenth of a sample was expired (the keyspace is full of stale keys),
/// for at most a quarter of the cron period (more with higher `active-expire-effort`).
async fn active_expire_cycle(shard: &Rc<Shard>, period: Duration) {
    let effort = shard.config.borrow().active_expire_effort.clamp(1, 10) as u32;
    let budget = period * (25 + 2 * (effort - 1)) / 100;
    let stale_pct = 10usize.saturating_sub(effort as usize - 1);
    let samples = KEYS_PER_LOOP + KEYS_PER_LOOP / 4 * (effort as usize - 1);
    let start = Instant::now();
    let ndb = shard.store.borrow().dbs.len();
    for db in 0..ndb {
        loop {
            let slice_start = Instant::now();
            let mut again = false;
            while slice_start.elapsed() < SLICE {
                let now = crate::util::now_ms();
                let (sampled, expired) = {
                    let mut st = shard.store.borrow_mut();
                    let crate::store::ShardStore { dbs, feed, .. } = &mut *st;
                    // Expired keys are logged as deletions, as Redis propagates them.
                    let (sampled, expired) = dbs[db]
                        .expire_sample(now, samples, |k| feed.record(db, &[b"DEL", k.as_bytes()]));
                    st.stats.expired_keys += expired as u64;
                    st.dirty += expired as u64;
                    (sampled, expired)
                };
                again = sampled > 0 && expired * 100 > sampled * stale_pct;
                if !again {
                    break;
                }
            }
            if !again {
                break;
            }
            if start.elapsed() >= budget {
                shard
                    .store
                    .borrow_mut()
                    .stats
                    .expired_time_cap_reached_count += 1;
                return;
            }
            glommio::executor().yield_now().await;
        }
    }
}

fn close_idle_clients(shard: &Rc<Shard>) {
    let timeout = shard.config.borrow().timeout;
    if timeout == 0 {
        return;
    }
    let limit = Duration::from_secs(timeout);
    let idle: Vec<u64> = shard
        .net
        .borrow()
        .conns
        .iter()
        .filter_map(|(id, c)| {
            let c = c.borrow();
            (!c.busy && c.client.last_interaction.elapsed() > limit).then_some(*id)
        })
        .collect();
    for id in idle {
        crate::logging::verbose("Closing idle client");
        crate::net::close_conn(shard, id);
    }
}
