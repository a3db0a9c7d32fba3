//! The `shardis` binary; the server is the library (src/lib.rs).

/// jemalloc, whose per-arena statistics are the shards' memory figures (src/memory/alloc.rs).
/// Declared here, in the binary, so that the fuzz targets built on the library can count
/// allocations with an allocator of their own.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    shardis::main();
}
