//! AOF rewrite (BGREWRITEAOF, the growth trigger, CONFIG SET appendonly yes): every shard
//! switches to a new incremental segment at one instant and writes a new base from a
//! point-in-time snapshot of its store, taken without fork and without stopping it (see
//! `store::db::Snap`); then shard 0 swaps the manifest and the old segments are deleted.
//!
//! Memory overhead: the snapshot's serialized commands wait in memory only until the writer
//! takes them (one slice at a time), plus the entries the shard changes before the walker gets
//! to them (serialized early, so bounded by the keys written during the rewrite) and any map
//! emptied by FLUSHDB/FLUSHALL meanwhile, kept until walked.

use super::manifest::{segment_name, SegKind, Segment};
use super::{blocking, feed, update_manifest, writer};
use crate::logging;
use crate::shard::Shard;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Entries walked per slice; the shard serves requests between slices.
const SLICE_ENTRIES: usize = 2048;
/// Serialized bytes gathered before they are handed to the base writer.
const WRITE_CHUNK: usize = 1 << 20;

/// Start a rewrite in the background, from any shard; shard 0 drives it. `enable` turns
/// logging on at the switch (CONFIG SET appendonly yes); else a shard without a running log
/// only gets a base (BGREWRITEAOF with appendonly no). False if one is already running.
pub async fn start(shard: &Rc<Shard>, enable: bool) -> bool {
    shard
        .call_async(0, move |sh| async move {
            {
                let mut a = sh.aof.borrow_mut();
                if a.rewrite_in_progress {
                    return false;
                }
                a.rewrite_in_progress = true;
            }
            spawn(&sh, enable);
            true
        })
        .await
        .unwrap_or(false)
}

fn spawn(shard0: &Rc<Shard>, enable: bool) {
    let sh = shard0.clone();
    glommio::spawn_local(async move {
        let started = Instant::now();
        sh.broadcast(|s| s.aof.borrow_mut().rewrite_in_progress = true)
            .await;
        let res = rewrite(&sh, enable).await;
        let ok = res.is_ok();
        let secs = started.elapsed().as_secs() as i64;
        sh.broadcast(move |s| {
            let mut a = s.aof.borrow_mut();
            a.rewrite_in_progress = false;
            a.last_rewrite_ok = ok;
            a.last_rewrite_secs = secs;
            a.rewrites += 1;
        })
        .await;
        match res {
            Ok(()) => logging::notice("Background AOF rewrite finished successfully"),
            Err(e) => logging::warning(&format!("Background AOF rewrite failed: {e}")),
        }
    })
    .detach();
}

async fn rewrite(shard0: &Rc<Shard>, enable: bool) -> Result<(), String> {
    let n = shard0.n;
    logging::notice("Background append only file rewriting started");
    // 1. Every shard opens its next incremental segment (empty) and names its new base.
    let dir = shard0.aof_dir();
    let base = shard0.config.borrow().appendfilename.clone();
    let was_on = shard0.store.borrow().feed.on;
    let probe = dir.join(super::PROBE);
    if !was_on {
        // No log yet in this run: make the directory, learn the sequence numbers an older
        // manifest used (its files are replaced, never overwritten), and leave glommio's probe.
        let (d, p) = (dir.clone(), probe.clone());
        let mname = super::manifest::manifest_name(&base);
        let old = blocking(move || -> std::io::Result<Option<String>> {
            std::fs::create_dir_all(&d)?;
            std::fs::write(&p, vec![b'p'; 4096])?;
            match std::fs::read_to_string(d.join(mname)) {
                Ok(t) => Ok(Some(t)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
        .ok_or("no helper thread")?
        .map_err(|e| format!("Can't prepare {}: {e}", dir.display()))?;
        if let Some(m) = old.and_then(|t| super::manifest::Manifest::parse(&t).ok()) {
            *shard0.manifest.borrow_mut() = m;
        }
    }
    let seqs: Vec<u64> = {
        let m = shard0.manifest.borrow();
        (0..n).map(|i| m.next_seq(i)).collect()
    };
    let opened = (0..n).map(|t| {
        let (dir, base) = (dir.clone(), base.clone());
        let seq = seqs[t];
        let probe = probe.clone();
        shard0.call_async(t, move |sh| async move {
            if !was_on {
                writer::probe_device(&probe).await;
            }
            let seq = seq.max(sh.aof.borrow().seq + 1);
            let name = segment_name(&base, sh.id, seq, SegKind::Incr);
            let w = writer::open_segment(&dir.join(&name))
                .await
                .map_err(|e| format!("Can't open {name}: {e}"))?;
            sh.aof.borrow_mut().next_writer = Some((w, seq, name.clone()));
            Ok::<_, String>((seq, name))
        })
    });
    let mut incrs = Vec::new();
    for r in futures::future::join_all(opened).await {
        incrs.push(r.ok_or("a shard stopped")??);
    }
    // 2. With a log running, list the new segments now: a crash during the rewrite then
    // replays old base + old increments + new increments.
    if was_on {
        let add = incrs.clone();
        update_manifest(shard0, move |m| {
            m.segments.extend(per_shard(add, SegKind::Incr));
        })
        .await?;
    }
    // 3. The switch: on each shard, at one instant between two commands, writes start going
    // to the new segment and the snapshot begins. Every shard is locked whole meanwhile, so no
    // multi-shard write straddles the switch: each lies wholly in the bases or wholly in the new
    // increments, where recovery can tell whether all its parts were logged.
    let all = crate::shard::locks::whole_shards(n);
    let quiet =
        crate::shard::locks::acquire(shard0, all, crate::shard::locks::Touch::Nothing, false)
            .await
            .ok_or("a shard stopped")?;
    let switched = (0..n).map(|t| {
        shard0.call(t, move |sh| {
            let offset = sh.store.borrow().feed.offset;
            {
                let mut st = sh.store.borrow_mut();
                st.feed.db = None;
                for (i, db) in st.dbs.iter_mut().enumerate() {
                    db.snapshot_start(i);
                }
            }
            let running = sh.aof.borrow().running;
            if running {
                let mut a = sh.aof.borrow_mut();
                a.switch_at = Some(offset);
                a.kick();
            } else {
                let next = sh.aof.borrow_mut().next_writer.take();
                if let Some((w, seq, name)) = next {
                    if enable {
                        super::start_logging(sh, w, seq, name);
                    } else {
                        // BGREWRITEAOF without a log: the new segment stays empty.
                        drop(w);
                        let mut a = sh.aof.borrow_mut();
                        a.seq = seq;
                        a.segment = name;
                    }
                }
            }
        })
    });
    futures::future::join_all(switched).await;
    drop(quiet);
    // 4. Every shard writes its base from the snapshot, in its background queue.
    let bases = (0..n).map(|t| {
        let (dir, base) = (dir.clone(), base.clone());
        let seq = incrs[t].0;
        shard0.call_async(t, move |sh| async move {
            let name = segment_name(&base, sh.id, seq, SegKind::Base);
            let q = sh.rewrite_queue();
            let sh2 = sh.clone();
            let path = dir.join(&name);
            let res = match glommio::spawn_local_into(
                async move { write_snapshot(&sh2, &path).await },
                q,
            ) {
                Ok(t) => t.await,
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            match res {
                Ok(size) => {
                    let mut a = sh.aof.borrow_mut();
                    a.base_size = size;
                    a.current_size = size;
                    Ok((seq, name))
                }
                Err(e) => Err(format!("Can't write the AOF base {name}: {e}")),
            }
        })
    });
    let mut new_bases = Vec::new();
    let mut failure = None;
    for r in futures::future::join_all(bases).await {
        match r {
            Some(Ok(b)) => new_bases.push(b),
            Some(Err(e)) => failure = Some(e),
            None => failure = Some("a shard stopped".to_string()),
        }
    }
    if let Some(e) = failure {
        let names: Vec<String> = new_bases.into_iter().map(|(_, n)| n).collect();
        let d = dir.clone();
        blocking(move || {
            names
                .iter()
                .for_each(|n| drop(std::fs::remove_file(d.join(n))))
        })
        .await;
        return Err(e);
    }
    // 5. The new manifest: per shard, the new base and the increments from the switch on.
    let mut dropped = Vec::new();
    let keep_from = incrs.iter().map(|(s, _)| *s).collect::<Vec<u64>>();
    let bases2 = new_bases.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    update_manifest(shard0, move |m| {
        m.shards = Some(n);
        let old = std::mem::take(&mut m.segments);
        m.segments.extend(per_shard(bases2, SegKind::Base));
        for s in old {
            let keep =
                s.kind == SegKind::Incr && s.shard.is_some_and(|i| i < n && s.seq >= keep_from[i]);
            if keep {
                m.segments.push(s);
            } else {
                let _ = tx.send(s.name);
            }
        }
        if !was_on {
            m.segments.extend(per_shard(incrs, SegKind::Incr));
        }
    })
    .await?;
    dropped.extend(rx.try_iter());
    dropped.push(super::PROBE.to_string());
    let d = dir.clone();
    blocking(move || {
        dropped
            .iter()
            .for_each(|n| drop(std::fs::remove_file(d.join(n))))
    })
    .await;
    Ok(())
}

/// Manifest entries for one new segment per shard, (seq, name) in shard order.
fn per_shard(segs: Vec<(u64, String)>, kind: SegKind) -> impl Iterator<Item = Segment> {
    segs.into_iter()
        .enumerate()
        .map(move |(i, (seq, name))| Segment {
            name,
            seq,
            kind,
            shard: Some(i),
        })
}

/// Write the running snapshot of every database of this shard to a base file. With nothing
/// else running (start-up) this is simply the whole store.
pub async fn write_snapshot(shard: &Rc<Shard>, path: &std::path::Path) -> std::io::Result<u64> {
    let mut w = writer::open_segment(path).await;
    let mut total = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_CHUNK);
    let mut selected: Option<usize> = None;
    let mut error: Option<std::io::Error> = None;
    let ndb = shard.store.borrow().dbs.len();
    loop {
        let mut done = true;
        {
            let mut st = shard.store.borrow_mut();
            let slice = Instant::now();
            for i in 0..ndb {
                let db = &mut st.dbs[i];
                if !db.snapshot_active() {
                    continue;
                }
                let finished = db.snapshot_step(SLICE_ENTRIES);
                if let Some((index, out)) = db.snapshot_take() {
                    if !out.is_empty() {
                        if selected != Some(index) {
                            let mut d = itoa::Buffer::new();
                            feed::encode(
                                &mut buf,
                                &[b"SELECT".as_slice(), d.format(index).as_bytes()],
                            );
                            selected = Some(index);
                        }
                        buf.extend_from_slice(&out);
                    }
                }
                if finished {
                    db.snapshot_end();
                } else {
                    done = false;
                }
                if slice.elapsed() > Duration::from_micros(500) || buf.len() >= WRITE_CHUNK {
                    done = false;
                    break;
                }
            }
        }
        if !buf.is_empty() {
            // After a write error the walk still finishes (every entry must be marked), but
            // its output is dropped.
            if let (Ok(wr), None) = (w.as_mut(), error.as_ref()) {
                if let Err(e) = wr.append(&buf).await {
                    error = Some(e);
                }
            }
            total += buf.len() as u64;
            buf.clear();
        }
        if done {
            break;
        }
        glommio::executor().yield_now().await;
    }
    let w = w?;
    if let Some(e) = error {
        return Err(e);
    }
    w.close().await?;
    Ok(total)
}
