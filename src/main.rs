//! The `shardis` binary; the server is the library (src/lib.rs).

fn main() {
    shardis::main();
}
