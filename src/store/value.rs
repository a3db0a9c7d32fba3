//! Values held in the keyspace. One variant per Redis type; the data-type families add theirs.

use bytes::Bytes;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Bytes),
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
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
        }
    }

    /// Approximate bytes used by the value, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        match self {
            Value::Str(b) => b.len() + 16,
        }
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
}

impl Entry {
    pub fn new(value: Value) -> Entry {
        Entry {
            value,
            expire_at: 0,
            lru: lru_clock(),
        }
    }
}

/// Seconds since the epoch, truncated: the access clock OBJECT IDLETIME reads.
pub fn lru_clock() -> u32 {
    (crate::util::now_ms() / 1000) as u32
}
