//! shardis: a Redis-compatible, thread-per-core, shared-nothing key-value server.
//!
//! The server is this library; the `shardis` binary (src/main.rs) only calls [`main`]. It is a
//! library so that the fuzz targets (fuzz/) and their bounded CI run (tests/fuzz_targets.rs)
//! reach the request parser and the command handlers, through [`fuzzing`].

mod acl;
mod commands;
mod config;
pub mod fuzzing;
mod logging;
mod memory;
mod metrics;
mod net;
mod observe;
mod persistence;
mod protocol;
mod routing;
mod runtime;
mod scripting;
mod shard;
mod store;
mod util;

/// The server: reads the command line (and config file), then runs until shut down.
pub fn main() {
    // A write past RLIMIT_FSIZE must fail with EFBIG (an AOF write error we recover from),
    // not kill the process.
    // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    shard::watchdog::install_kick_handler();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match config::Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            if let Some(early) = e.downcast_ref::<config::EarlyExit>() {
                println!("{early}");
                std::process::exit(0);
            }
            eprintln!("{e:#}");
            std::process::exit(1);
        }
    };
    // Like Redis, relative paths (logfile, AOF directory) are taken from `dir`.
    if let Err(e) = std::env::set_current_dir(&config.dir) {
        eprintln!("Can't chdir to '{}': {e}", config.dir.display());
        std::process::exit(1);
    }
    let file = config.config_file.as_ref().map(|p| p.display().to_string());
    if let Err(e) = runtime::run(config, file) {
        eprintln!("{e:#}");
        std::process::exit(1);
    }
}
