//! Per-client limits checked at every cron tick (`hz`): the soft output-buffer limit
//! (`client-output-buffer-limit normal <hard> <soft> <seconds>`: replies waiting above `soft`
//! for `seconds` close the client; the hard limit is checked as replies are written, in
//! `settle`), and query buffers, resized as Redis's clientsCronResizeQueryBuffer does: given
//! back after 2 s idle, and cut down to the recent peak when a big request grew them, so that
//! many connections cost little memory.

use crate::shard::Shard;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Idle time after which an empty query buffer is freed (Redis: 2 s).
const QUERY_BUFFER_IDLE: Duration = Duration::from_secs(2);
/// A query buffer above this, more than twice its recent peak, is cut (PROTO_RESIZE_THRESHOLD).
const QUERY_BUFFER_BIG: usize = 32 * 1024;
/// Only buffers wasting at least this much are resized.
const QUERY_BUFFER_SLACK: usize = 4 * 1024;

pub fn cron(shard: &Rc<Shard>) {
    let limit = shard.config.borrow().client_output_buffer_limit.normal;
    let now = Instant::now();
    let mut over = Vec::new();
    for (id, conn) in shard.net.borrow().conns.iter() {
        // A connection borrowed right now belongs to a running task: next second.
        let Ok(mut c) = conn.try_borrow_mut() else {
            continue;
        };
        if limit.soft_limit_bytes > 0 && c.wbuf.len() as u64 > limit.soft_limit_bytes {
            let since = *c.soft_limit_since.get_or_insert(now);
            if now.duration_since(since) >= Duration::from_secs(limit.soft_limit_seconds) {
                over.push((*id, c.client.addr.clone()));
            }
        } else {
            c.soft_limit_since = None;
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
    for (id, addr) in over {
        crate::logging::warning(&format!(
            "Client id={id} addr={addr} closed for overcoming of output buffer limits."
        ));
        super::close_conn(shard, id);
    }
}
