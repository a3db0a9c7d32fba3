//! The RESP request parser: no panic, the bulk limit kept, the same parse whole or in pieces.
//! See `shardis::fuzzing` and README, "Fuzzing".

#![no_main]

#[global_allocator]
static ALLOC: shardis::fuzzing::CountingAlloc = shardis::fuzzing::CountingAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| shardis::fuzzing::resp_parser(data));
