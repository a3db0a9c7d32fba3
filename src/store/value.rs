//! Values held in the keyspace. One variant per Redis type; the data-type families add theirs.

pub use super::string::Str;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Str),
    List(super::list::List),
    Hash(super::hash::Hash),
    Set(super::set::Set),
    ZSet(super::zset::ZSet),
    Stream(Box<super::stream::Stream>),
}

/// `Value::<type>_mut()`: the value as one type, None for another (typed lookups use these).
macro_rules! projections {
    ($($fn:ident => $variant:ident : $t:ty),* $(,)?) => {
        impl Value {
            $(
                pub fn $fn(&mut self) -> Option<&mut $t> {
                    match self {
                        Value::$variant(x) => Some(x),
                        _ => None,
                    }
                }
            )*
        }
    };
}

projections! {
    list_mut => List: super::list::List,
    hash_mut => Hash: super::hash::Hash,
    set_mut => Set: super::set::Set,
    zset_mut => ZSet: super::zset::ZSet,
    stream_mut => Stream: super::stream::Stream,
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name OBJECT ENCODING reports, with Redis's thresholds.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(b) => {
                if b.len() <= 20 && crate::util::num::parse_i64(b).is_some() {
                    "int"
                } else if b.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            // Redis 7.0 lists are always quicklists (listpack lists came with 7.2).
            Value::List(_) => "quicklist",
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Approximate bytes used by the value, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        match self {
            Value::Str(b) => b.heap_len() + 16,
            Value::List(l) => l.mem_usage(),
            Value::Hash(h) => h.mem_usage(),
            Value::Set(s) => s.mem_usage(),
            Value::ZSet(z) => z.mem_usage(),
            Value::Stream(s) => s.mem_usage(),
        }
    }
}

/// A stored byte string handed out for a reply: copied up to 4 KiB (sharing touches the
/// reference count, which lives in its own allocation: a likely cache miss under load, twice;
/// the copy reads bytes the lookup prefetched), shared when larger (saving the copy). GET
/// `-P 16`, one shard, A/B against sharing above 128 bytes: CPU per request 0.84× at 1 KiB,
/// 0.92× at 4 KiB, 1.03–1.09× at 16 KiB, 1.24–1.40× at 64 KiB.
#[inline]
pub fn share_or_copy(b: &bytes::Bytes) -> bytes::Bytes {
    if b.len() <= 4096 {
        bytes::Bytes::copy_from_slice(b)
    } else {
        b.clone()
    }
}

/// How much of a heap string `Value::prefetch` asks for.
const PREFETCH_VALUE_BYTES: usize = 1024;

impl Value {
    /// Ask for the memory of this value that is not in the slot itself: a heap string's bytes,
    /// every line up to PREFETCH_VALUE_BYTES (a GET copies them all, and a SET of the same
    /// length overwrites them all, `Str::assign`; asking for the first line only left a SET
    /// of 1 KiB stalled on the rest).
    #[inline]
    pub fn prefetch(&self) {
        if let Value::Str(Str::Heap(b)) = self {
            // From the line the value starts in: a value not aligned to a line (a size class
            // between the powers of two) has bytes in one line more than its length makes.
            let p = b.as_ptr();
            let first = p.wrapping_sub(p as usize % 64);
            let end = b.len().min(PREFETCH_VALUE_BYTES) + p as usize % 64;
            for off in (0..end).step_by(64) {
                crate::util::hint::prefetch(first.wrapping_add(off));
            }
        }
    }

    /// A string value holding a copy of `b` (never a slice that would pin a network buffer).
    #[inline]
    pub fn str(b: &[u8]) -> Value {
        Value::Str(Str::copy_from(b))
    }
}

/// A key's slot in a database: its value, absolute expiry and access clock.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 means none.
    pub expire_at: u64,
    /// Last access, in seconds of the shard's LRU clock (OBJECT IDLETIME).
    pub lru: u32,
    /// How Redis would have encoded this string, where its content alone does not tell.
    pub enc: StrEnc,
    /// Snapshot mark: equal to its database's `gen` once the running snapshot (AOF rewrite)
    /// holds this entry, or when it was created after the snapshot began.
    pub snap: bool,
}

/// OBJECT ENCODING for strings: Redis picks int/embstr/raw by content when it stores an
/// argument, but some commands build the object another way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrEnc {
    /// By content: int if it reads as one, embstr up to 44 bytes, raw beyond.
    Auto,
    /// Edited in place or built as a buffer (APPEND, SETRANGE, SETBIT, BITFIELD, BITOP).
    Raw,
    /// Built from a number's text, never int-encoded (INCRBYFLOAT): embstr up to 44 bytes.
    Text,
}

impl Entry {
    pub fn new(value: Value) -> Entry {
        Entry::new_at(value, crate::util::now_ms())
    }

    /// A new entry accessed at `now_ms` (saves a clock read when the caller has one).
    #[inline]
    pub fn new_at(value: Value, now_ms: u64) -> Entry {
        Entry {
            value,
            expire_at: 0,
            lru: Entry::fresh_lru(now_ms),
            enc: StrEnc::Auto,
            snap: false,
        }
    }

    /// The access field of an entry made at `now_ms`.
    #[inline]
    pub fn fresh_lru(now_ms: u64) -> u32 {
        if lfu_policy() {
            lfu_new(now_ms)
        } else {
            (now_ms / 1000) as u32
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.value {
            Value::Str(_) if self.enc == StrEnc::Raw => "raw",
            Value::Str(b) if self.enc == StrEnc::Text => {
                if b.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            v => v.encoding(),
        }
    }
}

/// Seconds since the epoch, truncated: the access clock OBJECT IDLETIME reads.
pub fn lru_clock() -> u32 {
    (crate::util::now_ms() / 1000) as u32
}

/// Whether an LFU `maxmemory-policy` is set: the access field of new entries then starts as an
/// LFU counter (Redis's createObject). Process-wide so that every way of making an entry
/// agrees; the shards set it together with their store limits.
static LFU_POLICY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_lfu(on: bool) {
    LFU_POLICY.store(on, std::sync::atomic::Ordering::Relaxed);
}

#[inline]
fn lfu_policy() -> bool {
    LFU_POLICY.load(std::sync::atomic::Ordering::Relaxed)
}

/// Initial LFU counter of a new key (Redis's LFU_INIT_VAL).
pub const LFU_INIT_VAL: u8 = 5;

/// Minutes clock, 16 bits, as Redis keeps it in the LFU half of the access field.
fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

/// The access field of a new key under an LFU policy: (minutes << 8) | counter.
pub fn lfu_new(now_ms: u64) -> u32 {
    (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL as u32
}

/// The counter after decay: one less per `decay_time` minutes since the last access.
pub fn lfu_counter(field: u32, now_ms: u64, decay_time: u64) -> u8 {
    let last = (field >> 8) & 0xFFFF;
    let counter = (field & 0xFF) as u8;
    let now = lfu_minutes(now_ms);
    // The minutes clock wraps at 16 bits.
    let elapsed = now.wrapping_sub(last) & 0xFFFF;
    let periods = (elapsed as u64).checked_div(decay_time).unwrap_or(0);
    counter.saturating_sub(periods.min(255) as u8)
}

/// An access: decay, then a logarithmic increment (the more hits, the less likely the next
/// one counts), as Redis's LFULogIncr with `lfu-log-factor`.
pub fn lfu_access(field: u32, now_ms: u64, log_factor: u64, decay_time: u64) -> u32 {
    let mut counter = lfu_counter(field, now_ms, decay_time);
    if counter < 255 {
        let base = (counter as f64 - LFU_INIT_VAL as f64).max(0.0);
        if fastrand::f64() < 1.0 / (base * log_factor as f64 + 1.0) {
            counter += 1;
        }
    }
    (lfu_minutes(now_ms) << 8) | counter as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key pays for an `Entry`: keep the large variants boxed.
    #[test]
    fn entry_stays_small() {
        use std::mem::size_of;
        assert_eq!(size_of::<Value>(), 40);
        assert_eq!(size_of::<Entry>(), 56);
    }
}
