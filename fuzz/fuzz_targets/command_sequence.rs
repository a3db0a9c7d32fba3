//! Command sequences on a shard's store through the real handlers: no panic, replies encode,
//! memory bounded (the counting allocator below).
//! See `shardis::fuzzing` and README, "Fuzzing".

#![no_main]

#[global_allocator]
static ALLOC: shardis::fuzzing::CountingAlloc = shardis::fuzzing::CountingAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| shardis::fuzzing::command_sequence(data));
