//! Small helpers shared by several modules.
pub mod bytes;
pub mod clock;
pub mod geohash;
pub mod glob;
pub mod hint;
pub mod num;
pub mod varint;

/// Milliseconds since the Unix epoch (wall clock, as Redis's `mstime`).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Nanoseconds since the Unix epoch (the clock of the kernel's receive timestamps).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
