//! An append-only segment file over a glommio `DmaFile` (O_DIRECT, io_uring).
//!
//! Why not glommio's `DmaStreamWriter`: when it writes a partial block it sends its whole
//! buffer, and the bytes past the data are whatever that recycled DMA memory held before —
//! after a crash the file could end in stale *valid-looking* records, which replay would
//! apply twice. Here every write covers the data and zero padding only, the partial last block
//! is rewritten in place by the next write, and a clean close cuts the padding off.

use glommio::io::{DmaFile, OpenOptions};
use std::io;
use std::path::Path;

/// Bytes gathered in memory before they are written without being asked to (sync/flush).
const WRITE_CHUNK: usize = 512 << 10;

pub struct Appender {
    file: DmaFile,
    align: u64,
    /// File offset of `tail[0]`: block-aligned.
    aligned_pos: u64,
    /// Data from `aligned_pos` on not yet known to be written: the partial block already on
    /// disk (rewritten with what follows) plus what was appended since.
    tail: Vec<u8>,
    /// Length of `tail` that is on disk (written, maybe not synced).
    written: usize,
}

fn to_io(e: glommio::GlommioError<()>) -> io::Error {
    io::Error::from(e)
}

impl Appender {
    /// Create (or empty) a segment file for appending.
    pub async fn create(path: &Path) -> io::Result<Appender> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .dma_open(path)
            .await
            .map_err(to_io)?;
        let align = file.alignment().max(512);
        Ok(Appender {
            file,
            align,
            aligned_pos: 0,
            tail: Vec::with_capacity(WRITE_CHUNK),
            written: 0,
        })
    }

    /// Bytes this writer holds in memory (what maxmemory does not count, as Redis's AOF buffer).
    pub fn buffer_bytes(&self) -> usize {
        self.tail.capacity()
    }

    /// What it holds while it appends `more` bytes: the grown tail and, when that makes a
    /// write, the aligned copy of the tail handed to the kernel until the write is done.
    pub fn buffer_bytes_appending(&self, more: usize) -> usize {
        let len = self.tail.len() + more;
        let copy = match len - self.written >= WRITE_CHUNK {
            true => (len as u64).div_ceil(self.align) * self.align,
            false => 0,
        };
        self.tail.capacity().max(len) + copy as usize
    }

    /// Logical length: bytes appended so far.
    pub fn len(&self) -> u64 {
        self.aligned_pos + self.tail.len() as u64
    }

    /// Append (in memory; written by `flush`, or when enough has gathered).
    pub async fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.tail.extend_from_slice(data);
        if self.tail.len() - self.written >= WRITE_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    /// Write everything appended so far (the last partial block zero-padded).
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.written == self.tail.len() {
            return Ok(());
        }
        let len = self.tail.len();
        let padded = (len as u64).div_ceil(self.align) * self.align;
        let mut buf = self.file.alloc_dma_buffer(padded as usize);
        let bytes = buf.as_bytes_mut();
        bytes[..len].copy_from_slice(&self.tail);
        bytes[len..].fill(0);
        let n = self
            .file
            .write_at(buf, self.aligned_pos)
            .await
            .map_err(to_io)?;
        if (n as u64) < padded {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short AOF write"));
        }
        // Keep only the partial last block: the next write starts there.
        let full = (len as u64 / self.align * self.align) as usize;
        self.aligned_pos += full as u64;
        self.tail.drain(..full);
        self.written = self.tail.len();
        Ok(())
    }

    /// Write and fdatasync everything appended so far.
    pub async fn sync(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.file.fdatasync().await.map_err(to_io)
    }

    /// Write, sync, cut the padding off and close.
    pub async fn close(mut self) -> io::Result<()> {
        self.sync().await?;
        let len = self.len();
        self.file.truncate(len).await.map_err(to_io)?;
        self.file.close().await.map_err(to_io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_with_zeros_rewrites_the_tail_and_close_cuts_the_padding() {
        let dir = std::env::temp_dir().join(format!("shardis-appender-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("seg.aof");
        let probe = dir.join("probe");
        std::fs::write(&probe, vec![1u8; 4096]).expect("probe file");
        let p = path.clone();
        let file = glommio::LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .spawn(move || async move {
                crate::persistence::writer::probe_device(&probe).await;
                let mut a = Appender::create(&p).await.expect("create");
                a.append(b"hello ").await.expect("append");
                a.sync().await.expect("sync");
                // What a crash would leave now: the data, then zeros to the block's end.
                let raw = std::fs::read(&p).expect("read");
                assert_eq!(&raw[..6], b"hello ");
                assert!(raw.len().is_multiple_of(512) && raw[6..].iter().all(|&b| b == 0));
                a.append(b"world").await.expect("append");
                a.sync().await.expect("sync");
                let raw = std::fs::read(&p).expect("read");
                assert_eq!(&raw[..11], b"hello world");
                assert!(raw[11..].iter().all(|&b| b == 0));
                a.append(&[b'x'; 10_000]).await.expect("append");
                assert_eq!(a.len(), 10_011);
                a.close().await.expect("close");
                std::fs::read(&p).expect("read")
            })
            .expect("executor")
            .join()
            .expect("executor thread");
        assert_eq!(file.len(), 10_011);
        assert_eq!(&file[..11], b"hello world");
        assert!(file[11..].iter().all(|&b| b == b'x'));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
