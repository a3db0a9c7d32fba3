//! The manifest: which segment files make up the AOF, in what order, for which shard.
//!
//! Redis 7's format (`file <name> seq <n> type <b|i>` per line), with a `shard <i>` pair on
//! each line and a `shards <n>` line for the shard count the segments were written with. A
//! manifest written by Redis (no shard pairs) reads as one unsharded log.

use std::fmt::Write as _;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegKind {
    Base,
    Incr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    pub seq: u64,
    pub kind: SegKind,
    /// The shard that wrote it; None in a manifest written by Redis.
    pub shard: Option<usize>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Shard count the segments were written with (None: Redis's single log).
    pub shards: Option<usize>,
    pub segments: Vec<Segment>,
}

pub fn manifest_name(base: &str) -> String {
    format!("{base}.manifest")
}

pub fn segment_name(base: &str, shard: usize, seq: u64, kind: SegKind) -> String {
    let k = match kind {
        SegKind::Base => "base",
        SegKind::Incr => "incr",
    };
    format!("{base}.s{shard}.{seq}.{k}.aof")
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_ascii_whitespace().collect();
            let bad = |what: &str| format!("Invalid AOF manifest line {}: {what}", i + 1);
            if words[0] == "shards" {
                let n = words
                    .get(1)
                    .and_then(|w| w.parse::<usize>().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad("bad shard count"))?;
                m.shards = Some(n);
                continue;
            }
            if !words.len().is_multiple_of(2) {
                return Err(bad("odd number of fields"));
            }
            let (mut name, mut seq, mut kind, mut shard) = (None, None, None, None);
            for kv in words.chunks(2) {
                match kv[0] {
                    "file" => name = Some(kv[1].to_string()),
                    "seq" => seq = kv[1].parse::<u64>().ok(),
                    "type" => {
                        kind = match kv[1] {
                            "b" => Some(SegKind::Base),
                            "i" => Some(SegKind::Incr),
                            // History files are kept by Redis until deleted: not part of the
                            // data.
                            "h" => None,
                            _ => return Err(bad("unknown file type")),
                        };
                        if kv[1] == "h" {
                            name = None;
                            break;
                        }
                    }
                    "shard" => shard = Some(kv[1].parse::<usize>().map_err(|_| bad("bad shard"))?),
                    _ => {}
                }
            }
            let Some(name) = name else { continue };
            if name.contains('/') {
                return Err(bad("file name with a path"));
            }
            let seq = seq.ok_or_else(|| bad("missing seq"))?;
            let kind = kind.ok_or_else(|| bad("missing type"))?;
            m.segments.push(Segment {
                name,
                seq,
                kind,
                shard,
            });
        }
        if let Some(n) = m.shards {
            if let Some(s) = m.segments.iter().find(|s| s.shard.is_none_or(|x| x >= n)) {
                return Err(format!(
                    "Invalid AOF manifest: {} has no valid shard",
                    s.name
                ));
            }
        }
        Ok(m)
    }

    pub fn format(&self) -> String {
        let mut out = String::new();
        if let Some(n) = self.shards {
            let _ = writeln!(out, "shards {n}");
        }
        for s in &self.segments {
            let t = match s.kind {
                SegKind::Base => "b",
                SegKind::Incr => "i",
            };
            let _ = write!(out, "file {} seq {} type {t}", s.name, s.seq);
            if let Some(sh) = s.shard {
                let _ = write!(out, " shard {sh}");
            }
            out.push('\n');
        }
        out
    }

    /// The segments of one group (a shard, or None for Redis's log), base first, then the
    /// increments in order.
    pub fn group(&self, shard: Option<usize>) -> Vec<Segment> {
        let mut v: Vec<Segment> = self
            .segments
            .iter()
            .filter(|s| s.shard == shard)
            .cloned()
            .collect();
        v.sort_by_key(|s| (s.kind == SegKind::Incr, s.seq));
        v
    }

    /// The groups present, in order (shards ascending, Redis's log first).
    pub fn groups(&self) -> Vec<Option<usize>> {
        let mut g: Vec<Option<usize>> = self.segments.iter().map(|s| s.shard).collect();
        g.sort();
        g.dedup();
        g
    }

    /// The next sequence number for a shard's segment.
    pub fn next_seq(&self, shard: usize) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.shard == Some(shard))
            .map(|s| s.seq)
            .max()
            .unwrap_or(0)
            + 1
    }
}

/// Write a file atomically: temp file, fsync, rename, fsync the directory. Blocking: call it
/// at start-up or from a helper thread, never on a shard.
pub fn write_atomic(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("temp-{name}"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = Manifest {
            shards: Some(2),
            segments: vec![
                Segment {
                    name: segment_name("appendonly.aof", 0, 1, SegKind::Base),
                    seq: 1,
                    kind: SegKind::Base,
                    shard: Some(0),
                },
                Segment {
                    name: segment_name("appendonly.aof", 1, 2, SegKind::Incr),
                    seq: 2,
                    kind: SegKind::Incr,
                    shard: Some(1),
                },
            ],
        };
        assert_eq!(Manifest::parse(&m.format()).unwrap(), m);
        assert_eq!(m.next_seq(0), 2);
        assert_eq!(m.next_seq(1), 3);
        assert_eq!(m.groups(), vec![Some(0), Some(1)]);
    }

    #[test]
    fn reads_redis_manifest() {
        let text = "file appendonly.aof.1.base.aof seq 1 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type i\n\
                    file appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.shards, None);
        let g = m.group(None);
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].kind, SegKind::Base);
        assert_eq!(g[2].name, "appendonly.aof.2.incr.aof");
    }

    #[test]
    fn rejects_damage() {
        assert!(Manifest::parse("file x seq\n").is_err());
        assert!(Manifest::parse("file x seq 1 type z\n").is_err());
        assert!(Manifest::parse("shards 2\nfile x seq 1 type i shard 5\n").is_err());
        assert!(Manifest::parse("file ../x seq 1 type i\n").is_err());
    }
}
