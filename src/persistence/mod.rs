//! The append-only file: one log per shard (its own segments), a manifest naming them, replay at
//! start-up and compaction by rewrite.

pub mod feed;
