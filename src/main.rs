//! shardis: a Redis-compatible, thread-per-core, shared-nothing key-value server.

mod commands;
mod config;
mod logging;
mod metrics;
mod net;
mod protocol;
mod routing;
mod runtime;
mod shard;
mod store;
mod util;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match config::Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:#}");
            std::process::exit(1);
        }
    };
    let file = args.first().filter(|a| !a.starts_with("--")).cloned();
    if let Err(e) = runtime::run(config, file) {
        eprintln!("{e:#}");
        std::process::exit(1);
    }
}
