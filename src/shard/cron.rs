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
    // maxmemory: budgets and background eviction, in this same low-priority queue.
    glommio::spawn_local(crate::memory::evict::background(shard.clone())).detach();
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
        crate::observe::cron(&shard);
        if shard.active_expire.get() {
            active_expire_cycle(&shard, period).await;
        }
        crate::net::limits::cron(&shard);
        if last_timeout_check.elapsed() >= Duration::from_secs(1) {
            last_timeout_check = Instant::now();
            close_idle_clients(&shard);
            if shard.id == 0 {
                maybe_rewrite_aof(&shard).await;
            }
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
                    let crate::store::ShardStore {
                        dbs,
                        feed,
                        events,
                        limits,
                        ..
                    } = &mut *st;
                    let flags = limits.keyspace_events;
                    // Expired keys are logged as deletions, as Redis propagates them.
                    let (sampled, expired) = dbs[db].expire_sample(now, samples, |k| {
                        feed.record(db, &[b"DEL", k.as_bytes()]);
                        let class = crate::store::notify::Class::EXPIRED;
                        crate::store::notify::queue(
                            events,
                            flags,
                            class,
                            "expired",
                            db,
                            k.as_bytes(),
                        );
                    });
                    st.stats.expired_keys += expired as u64;
                    st.dirty += expired as u64;
                    (sampled, expired)
                };
                if expired > 0 {
                    // An expired stream may end an XREADGROUP's wait (as Redis signals it).
                    super::blocking::serve_ready(shard);
                    super::pubsub::flush_events(shard);
                }
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

/// Redis's automatic rewrite: once the AOF is past `auto-aof-rewrite-min-size` and has grown
/// by `auto-aof-rewrite-percentage` since the last rewrite. Shard 0 decides for all, on the
/// sum of the shards' logs.
async fn maybe_rewrite_aof(shard: &Rc<Shard>) {
    let (pct, min) = {
        let c = shard.config.borrow();
        (c.auto_aof_rewrite_percentage, c.auto_aof_rewrite_min_size)
    };
    let busy = {
        let a = shard.aof.borrow();
        !a.running || a.rewrite_in_progress
    };
    if pct == 0 || busy {
        return;
    }
    let sizes = shard
        .broadcast(|sh| {
            let a = sh.aof.borrow();
            (a.current_size, a.base_size)
        })
        .await;
    let (current, base) = sizes
        .into_iter()
        .flatten()
        .fold((0u64, 0u64), |(c, b), (c2, b2)| (c + c2, b + b2));
    if current <= min {
        return;
    }
    let growth = (current * 100 / base.max(1)).saturating_sub(100);
    if growth >= pct {
        crate::logging::notice(&format!(
            "Starting automatic rewriting of AOF on {growth}% growth"
        ));
        crate::persistence::compact::start(shard, false).await;
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
