//! A shard's AOF writer: a task that drains the feed into the shard's current segment through
//! glommio's DMA stream writer (io_uring, O_DIRECT) and syncs it as `appendfsync` says.
//!
//! Group commit: the task writes whatever accumulated while its previous write or sync was in
//! flight, so under load one `fdatasync` covers many commands. With `always`, replies wait for
//! the sync that covers their write (`after_synced`, `Registry::held`), while the shard goes on
//! serving others. Nothing here blocks the shard's thread.

use super::appender::Appender;
use crate::config::AppendFsync;
use crate::logging;
use crate::shard::Shard;
use glommio::io::DmaFile;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// A shard's AOF state, shared by the handlers' side (kicks, waiters, INFO) and the writer task.
#[derive(Default)]
pub struct Aof {
    /// A writer task is running for the current segment.
    pub running: bool,
    pub policy: Policy,
    /// Feed offset known to be on disk as the policy promises (synced for always/everysec).
    pub synced: u64,
    /// Feed offset handed to the writer.
    pub written: u64,
    waiters: Vec<(u64, Box<dyn FnOnce()>)>,
    wake: Option<Waker>,
    kicked: bool,
    /// SAVE wants what is written synced now, whatever the policy.
    pub sync_asked: bool,
    stop: bool,
    stopped: Option<futures::channel::oneshot::Sender<()>>,
    /// The last write or sync error, while it lasts (aof_last_write_status:err).
    pub failed: Option<String>,
    /// The current incremental segment: its sequence number and name.
    pub seq: u64,
    pub segment: String,
    /// Bytes in this shard's segments (aof_current_size) and in its base (aof_base_size).
    pub current_size: u64,
    pub base_size: u64,
    pub rewrite_in_progress: bool,
    /// Bytes the writer holds in memory (unsynced copy, write buffer): left out of maxmemory.
    pub buffer_bytes: u64,
    pub last_rewrite_ok: bool,
    pub last_rewrite_secs: i64,
    pub rewrites: u64,
    /// The AOF directory.
    pub dir: std::path::PathBuf,
    /// The database selected at the end of the synced part of the segment (for recovery).
    pub stream_db_at_sync: Option<usize>,
    /// A segment switch (AOF rewrite): feed bytes up to this offset go to the current segment,
    /// the rest to `next_writer`.
    pub switch_at: Option<u64>,
    pub next_writer: Option<(Appender, u64, String)>,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub enum Policy {
    Always,
    #[default]
    Everysec,
    No,
}

impl From<AppendFsync> for Policy {
    fn from(p: AppendFsync) -> Policy {
        match p {
            AppendFsync::Always => Policy::Always,
            AppendFsync::Everysec => Policy::Everysec,
            AppendFsync::No => Policy::No,
        }
    }
}

impl Aof {
    /// Wake the writer if it waits for data.
    pub fn kick(&mut self) {
        self.kicked = true;
        if let Some(w) = self.wake.take() {
            w.wake();
        }
    }

    /// Run `f` once the feed is synced up to `offset` (at once if it is).
    pub fn after_synced(&mut self, offset: u64, f: Box<dyn FnOnce()>) {
        if self.synced >= offset || !self.running {
            f();
        } else {
            self.waiters.push((offset, f));
        }
    }

    /// Waiters whose writes are now durable, to be run outside the borrow.
    fn due(&mut self) -> Vec<Box<dyn FnOnce()>> {
        let synced = self.synced;
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.waiters.len() {
            if self.waiters[i].0 <= synced {
                out.push(self.waiters.swap_remove(i).1);
            } else {
                i += 1;
            }
        }
        out
    }
}

/// Wait until `offset` of this shard's feed is durable (a no-op unless `appendfsync always`).
pub async fn wait_synced(shard: &Rc<Shard>, offset: u64) {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    shard.aof.borrow_mut().after_synced(
        offset,
        Box::new(move || {
            let _ = tx.send(());
        }),
    );
    let _ = rx.await;
}

/// Open a segment for appending (created, or emptied if it exists).
pub async fn open_segment(path: &std::path::Path) -> std::io::Result<Appender> {
    Appender::create(path).await
}

/// glommio decides once per thread whether a device supports polled I/O, by reading the first
/// DMA file opened on it; an empty file makes it decide wrongly and later reads fail. Open a
/// known non-empty file first (DESIGN.md).
pub async fn probe_device(path: &std::path::Path) {
    if let Ok(f) = DmaFile::open(path).await {
        let _ = f.close().await;
    }
}

/// Start the writer task on `segment` (whose writes begin at the feed's current offset).
pub fn start(shard: &Rc<Shard>, w: Appender, queue: glommio::TaskQueueHandle) {
    {
        let offset = shard.store.borrow().feed.offset;
        let mut a = shard.aof.borrow_mut();
        a.running = true;
        a.stop = false;
        a.written = offset;
        a.synced = offset;
        shard
            .aof_always
            .set(a.policy == Policy::Always && a.failed.is_none());
    }
    let sh = shard.clone();
    match glommio::spawn_local_into(run(sh, w), queue) {
        Ok(t) => {
            t.detach();
        }
        Err(e) => logging::warning(&format!("spawning the AOF writer: {e}")),
    }
}

/// Stop the writer: everything fed so far is written and synced, the segment closed.
pub async fn stop(shard: &Rc<Shard>) {
    let rx = {
        let mut a = shard.aof.borrow_mut();
        if !a.running {
            return;
        }
        let (tx, rx) = futures::channel::oneshot::channel();
        a.stop = true;
        a.stopped = Some(tx);
        a.kick();
        rx
    };
    let _ = rx.await;
}

/// Release everything waiting for durability up to `synced`, and the connections held for it.
fn release(shard: &Rc<Shard>, synced: u64) {
    let due = {
        let mut a = shard.aof.borrow_mut();
        a.synced = a.synced.max(synced);
        a.due()
    };
    for f in due {
        f();
    }
    crate::net::release_held(shard, synced);
}

/// One step of the writer's wait: until kicked, or `tick` passes.
async fn wait_kick(shard: &Rc<Shard>, tick: Duration) {
    let kicked = std::future::poll_fn(|cx| {
        let mut a = shard.aof.borrow_mut();
        if std::mem::take(&mut a.kicked) || a.stop {
            Poll::Ready(())
        } else {
            a.wake = Some(cx.waker().clone());
            Poll::Pending
        }
    });
    let timer = glommio::timer::sleep(tick);
    futures::future::select(std::pin::pin!(kicked), std::pin::pin!(timer)).await;
}

async fn run(shard: Rc<Shard>, w: Appender) {
    let mut w = Some(w);
    let mut last_sync = Instant::now();
    // Bytes written since the last sync: what a failed segment may have lost.
    let mut unsynced: Vec<u8> = Vec::new();
    // Bytes of the current segment, and how many of them are synced.
    let (mut seg_pos, mut seg_synced) = (0u64, 0u64);
    // The database selected at the end of the data taken so far.
    let mut take_db: Option<usize> = None;
    loop {
        let (data, upto, policy, stopping, failed, switching) = {
            let mut st = shard.store.borrow_mut();
            let a = shard.aof.borrow();
            let failed = a.failed.is_some();
            let start = st.feed.offset - st.feed.buf.len() as u64;
            let (data, upto, switching) = match a.switch_at {
                // At a switch, the current segment takes the bytes up to the switch only.
                Some(at) if !failed && a.next_writer.is_some() => {
                    let n = (at.saturating_sub(start) as usize).min(st.feed.buf.len());
                    (st.feed.buf.drain(..n).collect::<Vec<u8>>(), at, true)
                }
                _ if failed => (Vec::new(), st.feed.offset, false),
                _ => (st.feed.take(), st.feed.offset, false),
            };
            if !data.is_empty() && !switching {
                take_db = st.feed.db;
            }
            (data, upto, a.policy, a.stop, failed, switching)
        };
        if failed {
            if stopping {
                break;
            }
            // Dropping the failed writer cuts its file to what it knows was written; recovery
            // then cuts it back to the last sync and rewrites the rest into a new segment.
            w = None;
            match super::recover(&shard, &unsynced, seg_synced).await {
                Some(nw) => {
                    // The new segment holds a SELECT and the unsynced bytes, all synced.
                    seg_pos = nw.len();
                    seg_synced = seg_pos;
                    w = Some(nw);
                    unsynced.clear();
                    last_sync = Instant::now();
                    let written = shard.aof.borrow().written;
                    release(&shard, written);
                }
                None => glommio::timer::sleep(Duration::from_secs(1)).await,
            }
            continue;
        }
        let Some(wr) = w.as_mut() else {
            fail(&shard, &std::io::Error::other("no AOF segment open"));
            continue;
        };
        if !data.is_empty() {
            // Taken from the feed, `data` is in no buffer maxmemory leaves out while the append
            // waits (megabytes under a fast pipeline), nor is the copy the write hands to the
            // kernel: both counted as AOF buffer meanwhile, or the shard would evict keys for
            // them.
            shard.aof.borrow_mut().buffer_bytes =
                (unsynced.capacity() + data.capacity() + wr.buffer_bytes_appending(data.len()))
                    as u64;
            let t0 = Instant::now();
            let res = wr.append(&data).await;
            crate::observe::event(&shard, "aof-write", t0.elapsed().as_millis() as u64);
            unsynced.extend_from_slice(&data);
            seg_pos += data.len() as u64;
            {
                let mut a = shard.aof.borrow_mut();
                a.buffer_bytes = (unsynced.capacity() + wr.buffer_bytes()) as u64;
                a.written = upto;
                a.current_size += data.len() as u64;
            }
            if let Err(e) = res {
                fail(&shard, &e);
                continue;
            }
        }
        if switching {
            // Close the old segment (flush, sync, cut the padding) and go on in the new one.
            let res = match w.take() {
                Some(old) => old.close().await,
                None => Ok(()),
            };
            let next = {
                let mut a = shard.aof.borrow_mut();
                a.switch_at = None;
                a.stream_db_at_sync = None;
                a.next_writer.take()
            };
            if let Err(e) = res {
                fail(&shard, &e);
            }
            if let Some((nw, seq, name)) = next {
                w = Some(nw);
                let mut a = shard.aof.borrow_mut();
                a.seq = seq;
                a.segment = name;
            }
            (seg_pos, seg_synced) = (0, 0);
            unsynced.clear();
            take_db = None;
            last_sync = Instant::now();
            release(&shard, upto);
            continue;
        }
        let asked = shard.aof.borrow().sync_asked;
        let due = match policy {
            Policy::Always => !unsynced.is_empty(),
            Policy::Everysec | Policy::No => {
                !unsynced.is_empty()
                    && (stopping || asked || last_sync.elapsed() >= Duration::from_secs(1))
            }
        };
        if due {
            // `no` leaves syncing to the OS; with O_DIRECT that means writing the partial block
            // out each second without the fdatasync.
            let t0 = Instant::now();
            let res = if policy == Policy::No && !stopping && !asked {
                wr.flush().await
            } else {
                wr.sync().await
            };
            if policy == Policy::Always {
                let ms = t0.elapsed().as_millis() as u64;
                crate::observe::event(&shard, "aof-fsync-always", ms);
            }
            if let Err(e) = res {
                fail(&shard, &e);
                continue;
            }
            unsynced.clear();
            seg_synced = seg_pos;
            {
                let mut a = shard.aof.borrow_mut();
                a.stream_db_at_sync = take_db;
                // Only the ask this sync answered: one made while it ran gets a sync of its own.
                if asked {
                    a.sync_asked = false;
                }
            }
            last_sync = Instant::now();
            let written = shard.aof.borrow().written;
            release(&shard, written);
        }
        if stopping && shard.store.borrow().feed.buf.is_empty() {
            break;
        }
        if data.is_empty() {
            wait_kick(&shard, Duration::from_millis(200)).await;
        }
    }
    if let Some(w) = w {
        if let Err(e) = w.close().await {
            logging::warning(&format!("Closing the AOF segment: {e}"));
        }
    }
    let stopped = {
        let mut a = shard.aof.borrow_mut();
        a.running = false;
        a.stopped.take()
    };
    shard.aof_always.set(false);
    // Anyone still waiting is released: with the log stopped there is nothing to wait for.
    let waiters = std::mem::take(&mut shard.aof.borrow_mut().waiters);
    for (_, f) in waiters {
        f();
    }
    crate::net::release_held(&shard, u64::MAX);
    if let Some(tx) = stopped {
        let _ = tx.send(());
    }
}

/// A write or sync failed: writes are refused (MISCONF) until the writer recovers.
fn fail(shard: &Rc<Shard>, e: &std::io::Error) {
    let msg = e.to_string();
    let first = {
        let mut a = shard.aof.borrow_mut();
        let first = a.failed.is_none();
        a.failed = Some(msg.clone());
        first
    };
    shard.aof_failed.set(true);
    if first {
        logging::warning(&format!(
            "Error writing to the AOF file: {msg} (shard {}); refusing writes until it can be \
             written again",
            shard.id
        ));
    }
}
