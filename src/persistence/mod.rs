//! The append-only file: one log per shard (its own segments), a manifest naming them, replay at
//! start-up and compaction by rewrite.
//!
//! Layout under `<dir>/<appenddirname>/`: `<appendfilename>.manifest` lists, per shard, a base
//! segment (the data at some point) and incremental segments (writes since), each an AOF in
//! Redis's format. Every start opens a fresh incremental segment per shard (glommio's DMA
//! writer cannot append to an existing file), so a crash never leaves a segment that is both
//! replayed and written to.

pub mod appender;
pub mod compact;
pub mod feed;
pub mod load;
pub mod manifest;
pub mod rewrite;
pub mod segment;
pub mod writer;

use crate::config::Config;
use crate::logging;
use crate::shard::Shard;
use manifest::{manifest_name, segment_name, Manifest, SegKind, Segment};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A non-empty file for glommio's per-thread device probe (see `writer::probe_device`).
pub const PROBE: &str = ".shardis-probe";

/// Run blocking file-system work on a helper thread and await it: a shard never blocks.
pub async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    let (tx, rx) = futures::channel::oneshot::channel();
    std::thread::Builder::new()
        .name("shardis-io".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    rx.await.ok()
}

/// Where the AOF lives and what start-up found there. Built on the main thread before the
/// shards start (blocking I/O is fine there).
#[derive(Clone, Debug)]
pub struct Plan {
    pub dir: PathBuf,
    pub basename: String,
    /// The manifest as found (or fresh), plus this run's new segments when not resharding.
    pub manifest: Manifest,
    /// The segments were written with another shard count (or by Redis): replay each log into
    /// a scratch store, move every key to its owner, write new bases.
    pub reshard: bool,
    /// Per shard: the logs (manifest groups) it replays.
    pub assign: Vec<Vec<Option<usize>>>,
    /// Size of each listed segment at start-up (stat here, not on a shard).
    pub sizes: std::collections::HashMap<String, u64>,
}

impl Plan {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Log what start-up will do with the files found.
    pub fn announce(&self, n: usize) {
        if self.reshard {
            logging::notice(&format!(
                "The AOF was written with {}; loading it into {n} shard(s) and writing new bases",
                self.manifest
                    .shards
                    .map_or("a single log (Redis)".to_string(), |s| format!(
                        "{s} shard(s)"
                    ))
            ));
        }
    }

    /// A segment's size when start-up looked (0 if new or missing).
    pub fn size(&self, name: &str) -> u64 {
        self.sizes.get(name).copied().unwrap_or(0)
    }
}

/// Read the manifest and get the directory ready for `n` shards.
pub fn prepare(config: &Config, n: usize) -> anyhow::Result<Plan> {
    use anyhow::Context;
    let dir = PathBuf::from(&config.appenddirname);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("Can't create the append-only dir {}", dir.display()))?;
    let basename = config.appendfilename.clone();
    let mpath = dir.join(manifest_name(&basename));
    let mut manifest = match std::fs::read_to_string(&mpath) {
        Ok(text) => {
            Manifest::parse(&text).map_err(|e| anyhow::anyhow!("{e} (in {})", mpath.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
        Err(e) => return Err(e).with_context(|| format!("Can't read {}", mpath.display())),
    };
    for s in &manifest.segments {
        let p = dir.join(&s.name);
        if !p.exists() {
            anyhow::bail!(
                "The AOF file {} listed in the manifest {} doesn't exist",
                p.display(),
                mpath.display()
            );
        }
        if s.name.ends_with(".rdb") {
            anyhow::bail!(
                "{}: RDB-preamble AOF bases are not supported; rewrite the AOF with \
                 aof-use-rdb-preamble no first",
                p.display()
            );
        }
    }
    std::fs::write(dir.join(PROBE), vec![b'p'; 4096])
        .with_context(|| format!("Can't write in {}", dir.display()))?;
    let groups = manifest.groups();
    let same = manifest.segments.is_empty()
        || (manifest.shards == Some(n) && groups.iter().all(|g| g.is_some_and(|s| s < n)));
    let mut assign = vec![Vec::new(); n];
    if same {
        for g in groups.iter().flatten() {
            assign[*g].push(Some(*g));
        }
        manifest.shards = Some(n);
        for i in 0..n {
            let seq = manifest.next_seq(i);
            let name = segment_name(&basename, i, seq, SegKind::Incr);
            std::fs::File::create(dir.join(&name))
                .with_context(|| format!("Can't create {}", dir.join(&name).display()))?;
            manifest.segments.push(Segment {
                name,
                seq,
                kind: SegKind::Incr,
                shard: Some(i),
            });
        }
        manifest::write_atomic(&dir, &manifest_name(&basename), &manifest.format())
            .with_context(|| format!("Can't write {}", mpath.display()))?;
    } else {
        for g in &groups {
            assign[g.unwrap_or(0) % n].push(*g);
        }
    }
    let sizes = manifest
        .segments
        .iter()
        .map(|s| {
            let len = std::fs::metadata(dir.join(&s.name)).map_or(0, |m| m.len());
            (s.name.clone(), len)
        })
        .collect();
    Ok(Plan {
        dir,
        basename,
        manifest,
        reshard: !same,
        assign,
        sizes,
    })
}

/// The first pass: count the TXDONE records of multi-shard writes in this shard's logs.
async fn scan_shard(
    shard: Rc<Shard>,
    plan: Rc<Plan>,
) -> Result<ahash::AHashMap<u64, (u32, u32)>, String> {
    writer::probe_device(&plan.path(PROBE)).await;
    let mut tx = load::TxFilter::new(load::TxPass::Scan(Default::default()));
    for &g in &plan.assign[shard.id] {
        let mut db = 0;
        for seg in plan.manifest.group(g) {
            let rule = load::TailRule {
                may_be_torn: true,
                load_truncated: true,
            };
            load::replay_segment(&shard.store, &plan.dir, &seg, &mut db, rule, 0, &mut tx).await?;
        }
    }
    match tx.pass {
        load::TxPass::Scan(counts) => Ok(counts),
        load::TxPass::Apply(_) => Ok(Default::default()),
    }
}

/// Replay this shard's logs. In place when not resharding; else each log into a scratch store
/// whose keys then move to their owners. Multi-shard writes are applied if in `complete`.
async fn load_shard(
    shard: Rc<Shard>,
    plan: Rc<Plan>,
    complete: std::sync::Arc<ahash::AHashSet<u64>>,
) -> Result<load::LoadStats, String> {
    writer::probe_device(&plan.path(PROBE)).await;
    let (load_truncated, delay) = {
        let c = shard.config.borrow();
        (c.aof_load_truncated, c.key_load_delay)
    };
    let mut total = load::LoadStats::default();
    for &g in &plan.assign[shard.id] {
        let segs = plan.manifest.group(g);
        let scratch = std::cell::RefCell::new(crate::store::ShardStore::new(if plan.reshard {
            shard.store.borrow().dbs.len()
        } else {
            1
        }));
        let store = if plan.reshard { &scratch } else { &shard.store };
        let mut db = 0;
        let mut tx = load::TxFilter::new(load::TxPass::Apply(complete.clone()));
        // A crash can only have torn the last segment with data in this log.
        let last_with_data = segs.iter().rposition(|s| plan.size(&s.name) > 0);
        for (i, seg) in segs.iter().enumerate() {
            let rule = load::TailRule {
                may_be_torn: Some(i) == last_with_data,
                load_truncated,
            };
            let st =
                load::replay_segment(store, &plan.dir, seg, &mut db, rule, delay, &mut tx).await?;
            total.records += st.records;
            total.bytes += st.bytes;
        }
        if let Some(last) = segs.last() {
            tx.end_of_log(&last.name);
        }
        if plan.reshard {
            move_to_owners(&shard, scratch.into_inner()).await?;
        }
    }
    Ok(total)
}

/// Send every key of a scratch store to the shard that owns it under the current count.
async fn move_to_owners(shard: &Rc<Shard>, store: crate::store::ShardStore) -> Result<(), String> {
    const BATCH: usize = 1024;
    let mut out: Vec<Vec<(usize, Vec<u8>, crate::store::Entry)>> = vec![Vec::new(); shard.n];
    for (dbi, db) in store.dbs.into_iter().enumerate() {
        for (k, e) in db.into_entries() {
            let owner = crate::routing::key_shard(k.as_bytes(), shard.n);
            out[owner].push((dbi, k.as_bytes().to_vec(), e));
            if out[owner].len() >= BATCH {
                send_entries(shard, owner, std::mem::take(&mut out[owner])).await?;
            }
        }
    }
    for (owner, batch) in out.into_iter().enumerate() {
        if !batch.is_empty() {
            send_entries(shard, owner, batch).await?;
        }
    }
    Ok(())
}

async fn send_entries(
    shard: &Rc<Shard>,
    owner: usize,
    batch: Vec<(usize, Vec<u8>, crate::store::Entry)>,
) -> Result<(), String> {
    shard
        .call(owner, move |sh| {
            let mut st = sh.store.borrow_mut();
            for (db, k, e) in batch {
                st.dbs[db].insert(&k, e);
            }
        })
        .await
        .ok_or_else(|| "shard stopped while loading".to_string())
}

/// Write this shard's whole store as a base segment (start-up: nothing else runs).
async fn write_base_stopped(shard: &Rc<Shard>, path: &Path) -> std::io::Result<u64> {
    for (i, db) in shard.store.borrow_mut().dbs.iter_mut().enumerate() {
        db.snapshot_start(i);
    }
    compact::write_snapshot(shard, path).await
}

/// Start-up: shard 0 runs this while every shard serves `-LOADING`. Replays all logs in
/// parallel (one per shard), rewrites bases after a shard-count change, starts the writers.
/// A damaged AOF stops the server with a message naming the file and offset.
pub async fn load_all(shard: Rc<Shard>, plan: Plan) {
    let started = std::time::Instant::now();
    let plan = std::sync::Arc::new(plan);
    // First the TXDONE counts of every log, so that the replay knows which multi-shard writes
    // every part of logged (persistence/feed.rs `TxMark`).
    let scans = (0..shard.n).map(|t| {
        let plan = plan.clone();
        shard.call_async(t, move |sh| async move {
            scan_shard(sh, Rc::new((*plan).clone())).await
        })
    });
    let mut counts: ahash::AHashMap<u64, (u32, u32)> = Default::default();
    for r in futures::future::join_all(scans).await {
        match r {
            Some(Ok(c)) => {
                for (id, (parts, seen)) in c {
                    let e = counts.entry(id).or_insert((parts, 0));
                    e.1 += seen;
                }
            }
            Some(Err(e)) => fatal(&e),
            None => fatal("a shard stopped while loading the AOF"),
        }
    }
    let complete = std::sync::Arc::new(load::TxFilter::complete(&counts));
    let dropped = counts.len() - complete.len();
    if dropped > 0 {
        logging::warning(&format!(
            "{dropped} multi-shard write(s) were not logged by every shard they touched (a \
             crash between their parts): not applying any of their parts"
        ));
    }
    let loads = (0..shard.n).map(|t| {
        let plan = plan.clone();
        let complete = complete.clone();
        shard.call_async(t, move |sh| async move {
            load_shard(sh, Rc::new((*plan).clone()), complete).await
        })
    });
    let mut total = load::LoadStats::default();
    for r in futures::future::join_all(loads).await {
        match r {
            Some(Ok(s)) => {
                total.records += s.records;
                total.bytes += s.bytes;
            }
            Some(Err(e)) => fatal(&e),
            None => fatal("a shard stopped while loading the AOF"),
        }
    }
    if let Err(e) = open_writers(&shard, &plan).await {
        fatal(&e);
    }
    let secs = started.elapsed().as_secs_f64();
    logging::notice(&format!(
        "DB loaded from append only file: {secs:.3} seconds ({} records, {:.1} MB/s)",
        total.records,
        total.bytes as f64 / secs.max(1e-6) / 1e6
    ));
    shard
        .global
        .loading
        .store(false, std::sync::atomic::Ordering::Release);
}

/// After loading: every shard opens its new incremental segment (after writing a new base when
/// the shard count changed) and starts logging.
async fn open_writers(shard: &Rc<Shard>, plan: &std::sync::Arc<Plan>) -> Result<(), String> {
    let n = shard.n;
    let opened = (0..n).map(|t| {
        let plan = plan.clone();
        shard.call_async(t, move |sh| async move {
            let mut segs = Vec::new();
            let seq = if plan.reshard {
                plan.manifest.next_seq(sh.id).max(
                    plan.manifest
                        .segments
                        .iter()
                        .map(|s| s.seq)
                        .max()
                        .unwrap_or(0)
                        + 1,
                )
            } else {
                plan.manifest.next_seq(sh.id) - 1
            };
            if plan.reshard {
                let name = segment_name(&plan.basename, sh.id, seq, SegKind::Base);
                let size = write_base_stopped(&sh, &plan.path(&name))
                    .await
                    .map_err(|e| format!("Can't write the AOF base {name}: {e}"))?;
                sh.aof.borrow_mut().base_size = size;
                segs.push(Segment {
                    name,
                    seq,
                    kind: SegKind::Base,
                    shard: Some(sh.id),
                });
                let name = segment_name(&plan.basename, sh.id, seq + 1, SegKind::Incr);
                segs.push(Segment {
                    name,
                    seq: seq + 1,
                    kind: SegKind::Incr,
                    shard: Some(sh.id),
                });
            }
            if !plan.reshard {
                let mine = plan.manifest.group(Some(sh.id));
                let size = |s: &Segment| plan.size(&s.name);
                let mut a = sh.aof.borrow_mut();
                a.base_size = mine
                    .iter()
                    .filter(|s| s.kind == SegKind::Base)
                    .map(size)
                    .sum();
                a.current_size = mine.iter().map(size).sum();
            } else {
                let mut a = sh.aof.borrow_mut();
                a.current_size = a.base_size;
            }
            let incr = if plan.reshard { seq + 1 } else { seq };
            let name = segment_name(&plan.basename, sh.id, incr, SegKind::Incr);
            let w = writer::open_segment(&plan.path(&name))
                .await
                .map_err(|e| format!("Can't open the AOF segment {name}: {e}"))?;
            start_logging(&sh, w, incr, name);
            Ok::<_, String>(segs)
        })
    });
    let mut new_segs = Vec::new();
    for r in futures::future::join_all(opened).await {
        new_segs.extend(r.ok_or("a shard stopped")??);
    }
    let mut m = plan.manifest.clone();
    if plan.reshard {
        let old = std::mem::take(&mut m.segments);
        m = Manifest {
            shards: Some(n),
            segments: new_segs,
        };
        let (dir, text) = (plan.dir.clone(), m.format());
        let name = manifest_name(&plan.basename);
        blocking(move || {
            manifest::write_atomic(&dir, &name, &text)?;
            for s in old {
                let _ = std::fs::remove_file(dir.join(&s.name));
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .ok_or("no helper thread")?
        .map_err(|e| format!("Can't write the AOF manifest: {e}"))?;
    }
    let bytes: u64 = m.segments.iter().map(|s| plan.size(&s.name)).sum();
    logging::notice(&format!(
        "AOF: {} segment(s), {bytes} bytes at start, appendfsync {}",
        m.segments.len(),
        shard.config.borrow().appendfsync.name()
    ));
    *shard.manifest.borrow_mut() = m;
    let probe = plan.path(PROBE);
    blocking(move || std::fs::remove_file(probe)).await;
    Ok(())
}

/// Turn the feed on and start the writer on a freshly opened segment.
pub fn start_logging(shard: &Rc<Shard>, w: appender::Appender, seq: u64, name: String) {
    let policy = shard.config.borrow().appendfsync.into();
    let timestamps = shard.config.borrow().aof_timestamp_enabled;
    {
        let mut st = shard.store.borrow_mut();
        st.feed.on = true;
        st.feed.db = None;
        st.feed.timestamps = timestamps;
    }
    {
        let mut a = shard.aof.borrow_mut();
        a.policy = policy;
        a.seq = seq;
        a.segment = name;
        a.dir = shard.aof_dir();
        a.stream_db_at_sync = None;
    }
    let q = shard.aof_queue();
    writer::start(shard, w, q);
}

/// Change the manifest (on shard 0, which owns it) and write it atomically.
pub async fn update_manifest(
    shard: &Rc<Shard>,
    f: impl FnOnce(&mut Manifest) + Send + 'static,
) -> Result<(), String> {
    shard
        .call_async(0, move |sh| async move {
            let _turn = sh.manifest_lock.acquire_permit(1).await;
            let mut m = sh.manifest.borrow().clone();
            f(&mut m);
            let (dir, text) = (sh.aof_dir(), m.format());
            let name = manifest_name(&sh.config.borrow().appendfilename);
            let res = blocking(move || manifest::write_atomic(&dir, &name, &text)).await;
            match res {
                Some(Ok(())) => {
                    *sh.manifest.borrow_mut() = m;
                    Ok(())
                }
                Some(Err(e)) => Err(format!("Can't write the AOF manifest: {e}")),
                None => Err("no helper thread".to_string()),
            }
        })
        .await
        .unwrap_or_else(|| Err("shard 0 stopped".to_string()))
}

/// After a failed write: cut the failed segment back to its last synced byte, open a new
/// segment, list it, and write what was not synced into it. None (retry later) if the disk
/// still refuses.
pub async fn recover(
    shard: &Rc<Shard>,
    unsynced: &[u8],
    synced_len: u64,
) -> Option<appender::Appender> {
    let (dir, old, seq) = {
        let a = shard.aof.borrow();
        (a.dir.clone(), a.segment.clone(), a.seq)
    };
    let base = shard.config.borrow().appendfilename.clone();
    let old_path = dir.join(&old);
    let cut = blocking(move || -> std::io::Result<()> {
        let f = std::fs::OpenOptions::new().write(true).open(&old_path)?;
        f.set_len(synced_len)?;
        f.sync_all()
    })
    .await;
    if !matches!(cut, Some(Ok(()))) {
        return None;
    }
    let seq = seq + 1;
    let name = segment_name(&base, shard.id, seq, SegKind::Incr);
    let path = dir.join(&name);
    let mut w = writer::open_segment(&path).await.ok()?;
    let (id, seg_name) = (shard.id, name.clone());
    update_manifest(shard, move |m| {
        m.segments.push(Segment {
            name: seg_name,
            seq,
            kind: SegKind::Incr,
            shard: Some(id),
        })
    })
    .await
    .ok()?;
    {
        let mut a = shard.aof.borrow_mut();
        a.seq = seq;
        a.segment = name.clone();
    }
    // The feed is re-selected from scratch in the new segment: its first record must not
    // depend on a SELECT that only the old segment holds.
    let mut head = Vec::new();
    if !unsynced.is_empty() {
        // The unsynced bytes continue the old stream's database; say which.
        if let Some(db) = shard.aof.borrow().stream_db_at_sync {
            let mut d = itoa::Buffer::new();
            feed::encode(&mut head, &[b"SELECT".as_slice(), d.format(db).as_bytes()]);
        }
    }
    w.append(&head).await.ok()?;
    w.append(unsynced).await.ok()?;
    w.sync().await.ok()?;
    shard.aof.borrow_mut().failed = None;
    shard.aof_failed.set(false);
    shard
        .aof_always
        .set(shard.aof.borrow().policy == writer::Policy::Always);
    logging::notice(&format!(
        "AOF write error looks solved, shard {} can write again ({name})",
        shard.id
    ));
    Some(w)
}

/// A deadly start-up error: logged, and the process exits as Redis does.
fn fatal(msg: &str) -> ! {
    logging::warning(msg);
    std::process::exit(1);
}

/// `appendfsync` changed at runtime.
pub fn set_policy(shard: &Shard, policy: writer::Policy) {
    let mut a = shard.aof.borrow_mut();
    a.policy = policy;
    shard
        .aof_always
        .set(policy == writer::Policy::Always && a.running && a.failed.is_none());
    a.kick();
}

/// CONFIG SET appendonly no: every shard writes and syncs what it has and stops logging.
pub async fn stop_all(shard: &Rc<Shard>) {
    let stops = (0..shard.n).map(|t| {
        shard.call_async(t, |sh| async move {
            writer::stop(&sh).await;
            let mut st = sh.store.borrow_mut();
            st.feed.on = false;
            st.feed.buf.clear();
        })
    });
    futures::future::join_all(stops).await;
}
