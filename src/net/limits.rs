//! Per-client limits checked at every cron tick (`hz`): the output-buffer limits of the
//! client's class (`shard::pubsub::check_limit`, also run as replies are written: here it
//! counts the soft limit's seconds of a client that stopped reading), and query buffers, resized as Redis's clientsCronResizeQueryBuffer does: given
//! back after 2 s idle, and cut down to the recent peak when a big request grew them, so that
//! many connections cost little memory.

use crate::shard::Shard;
use std::rc::Rc;
use std::time::Duration;

/// Idle time after which an empty query buffer is freed (Redis: 2 s).
const QUERY_BUFFER_IDLE: Duration = Duration::from_secs(2);
/// A query buffer above this, more than twice its recent peak, is cut (PROTO_RESIZE_THRESHOLD).
const QUERY_BUFFER_BIG: usize = 32 * 1024;
/// Only buffers wasting at least this much are resized.
const QUERY_BUFFER_SLACK: usize = 4 * 1024;

pub fn cron(shard: &Rc<Shard>) {
    let mut over = Vec::new();
    for (id, conn) in shard.net.borrow().conns.iter() {
        // A connection borrowed right now belongs to a running task: next second.
        let Ok(mut c) = conn.try_borrow_mut() else {
            continue;
        };
        // The same per-class check as when replies are written (a client that stopped reading
        // produces no more writes, so its soft limit's seconds are counted here).
        let limit = crate::shard::pubsub::limit_for(shard, &c);
        if crate::shard::pubsub::check_limit(&mut c, &limit) {
            over.push(*id);
        }
        let (len, cap) = (c.rbuf.len(), c.rbuf.capacity());
        if !c.busy && cap - len > QUERY_BUFFER_SLACK {
            if c.client.last_interaction.elapsed() >= QUERY_BUFFER_IDLE {
                if len == 0 {
                    c.rbuf = bytes::BytesMut::new();
                }
            } else if cap > QUERY_BUFFER_BIG && cap / 2 > c.rbuf_peak {
                let mut smaller = bytes::BytesMut::with_capacity(len.max(c.rbuf_peak));
                smaller.extend_from_slice(&c.rbuf);
                c.rbuf = smaller;
            }
        }
        c.rbuf_peak = c.rbuf.len();
    }
    for id in over {
        super::close_conn(shard, id);
    }
}
