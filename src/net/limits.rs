//! Per-client limits checked once a second from the shard's cron: the soft output-buffer
//! limit (`client-output-buffer-limit normal <hard> <soft> <seconds>`: replies waiting above
//! `soft` for `seconds` close the client; the hard limit is checked as replies are written,
//! in `settle`), and the query buffers of idle clients, given back after 2 s as Redis does, so
//! that many idle connections cost little memory.

use crate::shard::Shard;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Idle time after which an empty query buffer is freed (Redis: 2 s).
const QUERY_BUFFER_IDLE: Duration = Duration::from_secs(2);

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
        if !c.busy
            && c.rbuf.is_empty()
            && c.rbuf.capacity() > 0
            && c.client.last_interaction.elapsed() >= QUERY_BUFFER_IDLE
        {
            c.rbuf = bytes::BytesMut::new();
        }
    }
    for (id, addr) in over {
        crate::logging::warning(&format!(
            "Client id={id} addr={addr} closed for overcoming of output buffer limits."
        ));
        super::close_conn(shard, id);
    }
}
