//! Replaying a shard's segments into a store at start-up.

use super::manifest::Segment;
use super::segment::{classify_tail, parse_record, Parsed, Tail};
use crate::commands::{self, Kind};
use crate::logging;
use crate::store::ShardStore;
use bytes::{Bytes, BytesMut};
use futures::AsyncReadExt;
use std::cell::RefCell;
use std::path::Path;
use std::time::Instant;

/// Read size per step; the store is borrowed for one chunk's records at a time.
const CHUNK: usize = 1 << 20;

#[derive(Default, Debug, Clone, Copy)]
pub struct LoadStats {
    pub records: u64,
    pub bytes: u64,
}

/// How to treat a segment whose end is unreadable.
#[derive(Clone, Copy)]
pub struct TailRule {
    /// The segment is the last with data in its log: a crash may have torn its end.
    pub may_be_torn: bool,
    /// `aof-load-truncated`.
    pub load_truncated: bool,
}

/// Which multi-shard writes a replay applies (see `TxMark` in feed.rs): a first pass over every
/// log (`Scan`) counts the TXDONE records of each transaction; the replay (`Apply`) then applies
/// the bracketed records of the complete ones only. Plain `MULTI` … `EXEC` blocks (Redis's
/// transactions, ours on one shard) are applied at their EXEC; one left open at the end of a log
/// by a crash is dropped, as Redis does.
pub enum TxPass {
    Scan(ahash::AHashMap<u64, (u32, u32)>),
    Apply(std::sync::Arc<ahash::AHashSet<u64>>),
}

enum Block {
    /// After MULTI: records held until EXEC.
    Multi(Vec<Vec<Bytes>>),
    /// Inside a multi-shard write's bracket: applied or skipped.
    Tx { skip: bool },
}

pub struct TxFilter {
    pub pass: TxPass,
    block: Option<Block>,
}

impl TxFilter {
    pub fn new(pass: TxPass) -> TxFilter {
        TxFilter { pass, block: None }
    }

    fn scanning(&self) -> bool {
        matches!(self.pass, TxPass::Scan(_))
    }

    /// The ids of the transactions whose TXDONE every part logged, from the counts of a scan.
    pub fn complete(counts: &ahash::AHashMap<u64, (u32, u32)>) -> ahash::AHashSet<u64> {
        counts
            .iter()
            .filter(|(_, (parts, seen))| seen >= parts)
            .map(|(id, _)| *id)
            .collect()
    }

    /// One record of the log.
    fn record(
        &mut self,
        st: &mut ShardStore,
        db: &mut usize,
        args: Vec<Bytes>,
        now: u64,
    ) -> Result<(), String> {
        use super::feed::{TX, TXDONE};
        let is = |name: &[u8]| args[0].eq_ignore_ascii_case(name);
        let id = || {
            args.get(1)
                .and_then(|a| crate::util::num::parse_i64(a))
                .map(|v| v as u64)
        };
        if is(TXDONE) {
            if let (TxPass::Scan(counts), Some(id)) = (&mut self.pass, id()) {
                let parts = args
                    .get(2)
                    .and_then(|a| crate::util::num::parse_i64(a))
                    .unwrap_or(0) as u32;
                let e = counts.entry(id).or_insert((parts, 0));
                e.1 += 1;
            }
            return Ok(());
        }
        if self.scanning() {
            return Ok(());
        }
        if is(b"MULTI") {
            self.flush_open(st, db, now)?;
            self.block = Some(Block::Multi(Vec::new()));
            return Ok(());
        }
        if is(TX) {
            let skip = match (&self.pass, id()) {
                (TxPass::Apply(done), Some(id)) => !done.contains(&id),
                _ => true,
            };
            self.block = Some(Block::Tx { skip });
            return Ok(());
        }
        if is(b"EXEC") {
            if let Some(Block::Multi(held)) = self.block.take() {
                for a in held {
                    apply(st, db, &a, now)?;
                }
            }
            return Ok(());
        }
        match &mut self.block {
            Some(Block::Multi(held)) => held.push(args),
            // The database changes even in a skipped bracket: later records depend on it.
            Some(Block::Tx { skip: true }) if is(b"SELECT") => apply(st, db, &args, now)?,
            Some(Block::Tx { skip: true }) => {}
            _ => apply(st, db, &args, now)?,
        }
        Ok(())
    }

    /// A MULTI without its EXEC before another MULTI: apply what it held (a log cut in two by
    /// a segment switch reads this way).
    fn flush_open(&mut self, st: &mut ShardStore, db: &mut usize, now: u64) -> Result<(), String> {
        if let Some(Block::Multi(held)) = self.block.take() {
            for a in held {
                apply(st, db, &a, now)?;
            }
        }
        Ok(())
    }

    /// The end of a log: a transaction left open by a crash is dropped.
    pub fn end_of_log(&mut self, name: &str) {
        if let Some(Block::Multi(held)) = self.block.take() {
            if !held.is_empty() {
                logging::warning(&format!(
                    "!!! Warning: {name} ends inside a MULTI/EXEC block ({} commands): not \
                     applying them, as left by a crash !!!",
                    held.len()
                ));
            }
        }
        self.block = None;
    }
}

/// Apply one record. `db` is the stream's selected database.
fn apply(st: &mut ShardStore, db: &mut usize, args: &[Bytes], now: u64) -> Result<(), String> {
    let unknown = || {
        format!(
            "Unknown command '{}'",
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
        )
    };
    let Some(spec) = commands::lookup(&args[0]) else {
        // Redis wraps some writes in transactions; their effects are what counts here.
        if args[0].eq_ignore_ascii_case(b"multi") || args[0].eq_ignore_ascii_case(b"exec") {
            return Ok(());
        }
        return Err(unknown());
    };
    let ndb = st.dbs.len();
    let db_arg = |a: &Bytes| {
        crate::util::num::parse_i64(a)
            .filter(|&d| d >= 0 && (d as usize) < ndb)
            .map(|d| d as usize)
            .ok_or_else(|| format!("bad database index in {}", spec.name))
    };
    match spec.kind {
        Kind::Keyed(h) | Kind::Split(h, _) | Kind::Coordinated(h) if spec.arity_ok(args.len()) => {
            // Error replies are ignored, as Redis's loader ignores them.
            let _ = crate::shard::run_guarded(spec.name, || h(&mut st.ctx_at(*db, now), args));
        }
        _ => match (spec.name, args.len()) {
            ("select", 2) => *db = db_arg(&args[1])?,
            ("flushall", _) => st.dbs.iter_mut().for_each(|d| d.clear()),
            ("flushdb", _) => st.dbs[*db].clear(),
            ("swapdb", 3) => {
                let (x, y) = (db_arg(&args[1])?, db_arg(&args[2])?);
                st.dbs.swap(x, y);
            }
            _ => return Err(unknown()),
        },
    }
    Ok(())
}

/// Replay one segment file into `store`. Returns what it read, or a message naming the file
/// and offset that stops the start.
pub async fn replay_segment(
    store: &RefCell<ShardStore>,
    dir: &Path,
    seg: &Segment,
    db: &mut usize,
    rule: TailRule,
    key_load_delay: i64,
    tx: &mut TxFilter,
) -> Result<LoadStats, String> {
    let path = dir.join(&seg.name);
    let shown = path.display().to_string();
    let file = glommio::io::DmaFile::open(&path)
        .await
        .map_err(|e| format!("Can't open the append-only file {shown}: {e}"))?;
    let size = file.file_size().await.unwrap_or(0);
    let mut reader = glommio::io::DmaStreamReaderBuilder::new(file)
        .with_buffer_size(128 << 10)
        .with_read_ahead(4)
        .build();
    let mut stats = LoadStats::default();
    let mut window = BytesMut::new();
    // File offset of window[0].
    let mut base: u64 = 0;
    let mut chunk = vec![0u8; CHUNK];
    let started = Instant::now();
    let mut last_log = started;
    let mut delay_debt_us: i64 = 0;
    let mut eof = false;
    let mut reserved = false;
    let bad_end: Option<u64> = loop {
        if !eof {
            let n = reader
                .read(&mut chunk)
                .await
                .map_err(|e| format!("Error reading the append-only file {shown}: {e}"))?;
            if n == 0 {
                eof = true;
            } else {
                window.extend_from_slice(&chunk[..n]);
            }
        }
        let buf: Bytes = window.split().freeze();
        let mut pos = 0;
        let mut stop: Option<bool> = None; // Some(bad?) when the data can't be read further.
        {
            let mut st = store.borrow_mut();
            let now = crate::util::now_ms();
            while pos < buf.len() {
                match parse_record(&buf, pos) {
                    Parsed::Record(args, n) => {
                        tx.record(&mut st, db, args, now).map_err(|e| {
                            format!(
                                "{e} reading the append only file {shown} at offset {}",
                                base + pos as u64
                            )
                        })?;
                        pos += n;
                        stats.records += 1;
                        if !tx.scanning() {
                            delay_debt_us += key_load_delay.max(0);
                        }
                    }
                    Parsed::Annotation(n) => pos += n,
                    Parsed::Incomplete => {
                        if eof {
                            stop = Some(false);
                        }
                        break;
                    }
                    Parsed::Bad => {
                        stop = Some(true);
                        break;
                    }
                }
            }
        }
        stats.bytes = base + pos as u64;
        if !reserved && stats.records > 1000 && !tx.scanning() {
            // Size the table for the whole file from the first chunk's record density:
            // growing a table of millions of keys step by step rehashes it over and over.
            reserved = true;
            let estimate =
                (size as f64 * stats.records as f64 / stats.bytes.max(1) as f64) as usize;
            let mut st = store.borrow_mut();
            let d = &mut st.dbs[*db];
            let want = estimate.min(1 << 28).saturating_sub(d.len());
            d.reserve(want);
        }
        base += pos as u64;
        window.extend_from_slice(&buf[pos..]);
        if stop.is_some() || (eof && window.is_empty()) {
            break if window.is_empty() { None } else { Some(base) };
        }
        if delay_debt_us >= 1000 {
            glommio::timer::sleep(std::time::Duration::from_micros(delay_debt_us as u64)).await;
            delay_debt_us = 0;
        } else {
            glommio::executor().yield_if_needed().await;
        }
        if last_log.elapsed().as_secs() >= 1 && !tx.scanning() {
            last_log = Instant::now();
            let secs = started.elapsed().as_secs_f64().max(1e-6);
            logging::notice(&format!(
                "Loading {}: {} MB of {} MB ({:.1} MB/s)",
                seg.name,
                base >> 20,
                size >> 20,
                base as f64 / secs / 1e6
            ));
        }
    };
    let _ = reader.close().await;
    if tx.scanning() {
        // The replay that follows judges the file's end.
        return Ok(stats);
    }
    if let Some(at) = bad_end {
        // The rest of the file decides: padding or one torn record may be cut; else damage.
        let rest = if eof {
            window.to_vec()
        } else {
            // Damage before the end: read the whole rest (an error path; size is no concern).
            let p = path.clone();
            match super::blocking(move || std::fs::read(p)).await {
                Some(Ok(all)) => all.get(at as usize..).unwrap_or_default().to_vec(),
                _ => window.to_vec(),
            }
        };
        let tail = classify_tail(&rest);
        let cuttable = tail != Tail::Damaged && rule.may_be_torn;
        if !cuttable {
            return Err(format!(
                "Bad file format reading the append only file {shown} at offset {at}: make a \
                 backup of your AOF file, then use redis-check-aof --fix <filename>"
            ));
        }
        if tail == Tail::Torn && !rule.load_truncated {
            return Err(format!(
                "Unexpected end of file reading the append only file {shown} at offset {at}. \
                 You can: 1) Make a backup of your AOF file, then use redis-check-aof --fix \
                 <filename>. 2) Alternatively you can set the 'aof-load-truncated' \
                 configuration option to yes and restart the server."
            ));
        }
        let what = if tail == Tail::Torn {
            "a truncated record"
        } else {
            "zero padding"
        };
        logging::warning(&format!(
            "!!! Warning: {shown} ends with {what} at offset {at} ({} bytes): cutting it there, \
             as left by a crash !!!",
            size.saturating_sub(at)
        ));
        let p = path.clone();
        let cut = super::blocking(move || -> std::io::Result<()> {
            let f = std::fs::OpenOptions::new().write(true).open(&p)?;
            f.set_len(at)?;
            f.sync_all()
        })
        .await;
        match cut {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(format!("Can't truncate {shown} at offset {at}: {e}")),
            None => return Err(format!("Can't truncate {shown}: no helper thread")),
        }
    } else if stats.bytes == 0 && size > 0 {
        logging::notice(&format!("{shown} is empty"));
    }
    Ok(stats)
}
