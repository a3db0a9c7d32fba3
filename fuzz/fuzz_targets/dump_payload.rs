//! RESTORE payloads (any body, valid footer): no panic; accepted values survive the commands of
//! their type and DUMP/RESTORE round trips.
//! See `shardis::fuzzing` and README, "Fuzzing".

#![no_main]

#[global_allocator]
static ALLOC: shardis::fuzzing::CountingAlloc = shardis::fuzzing::CountingAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| shardis::fuzzing::dump_payload(data));
