//! Start-up and shutdown: one pinned glommio executor per shard, the channel mesh between
//! them, listeners, the signal thread.

use crate::config::Config;
use crate::logging;
use crate::net::{self, listener, sys::EventFd};
use crate::shard::{cron, mesh, Global, Shard};
use anyhow::Context;
use glommio::{Latency, LocalExecutorBuilder, Placement, Shares};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

pub fn run(config: Config, config_file: Option<String>) -> anyhow::Result<()> {
    logging::init(config.loglevel.name(), &config.logfile)
        .with_context(|| format!("Can't open the log file: {}", config.logfile))?;
    let n = config.shards.max(1);
    // Bad users (config `user` lines, aclfile) stop the start, as in Redis.
    crate::acl::initial_users(&config).map_err(anyhow::Error::msg)?;
    crate::acl::rename::install(&config.rename_commands);
    crate::util::clock::calibrate();
    // As in Redis, `port 0` means no plain TCP listener (with `tls-port`, TLS only).
    let addrs = match config.port {
        0 => Vec::new(),
        p => listener::check_free(&listener::bind_addrs(&config.bind, p)?)?,
    };
    let tls_addrs = match config.tls_port {
        0 => Vec::new(),
        p if p == config.port => anyhow::bail!(
            "tls-port {p} is also the plain port: give TLS a port of its own (or port 0)"
        ),
        p => {
            // Certificates are read now: a bad file stops the start, with its name.
            net::tls::install(&config)
                .map_err(|e| anyhow::anyhow!("Failed to configure TLS: {e}"))?;
            listener::check_free(&listener::bind_addrs(&config.bind, p)?).context("tls-port")?
        }
    };
    if addrs.is_empty() && tls_addrs.is_empty() {
        anyhow::bail!("Configured to not listen anywhere, exiting.");
    }
    // The AOF directory is read and prepared here, where blocking I/O is harmless.
    let plan = if config.appendonly {
        Some(crate::persistence::prepare(&config, n)?)
    } else {
        None
    };
    let wakers = (0..n)
        .map(|_| EventFd::new().map(Arc::new))
        .collect::<std::io::Result<Vec<_>>>()?;
    let global = Arc::new(Global {
        shutdown: AtomicBool::new(false),
        connected: AtomicUsize::new(0),
        next_client_id: AtomicU64::new(1),
        // Unique across restarts (ids in old logs must not come back): 2^20 per ms of clock.
        next_tx: AtomicU64::new(crate::util::now_ms() << 20),
        started: std::time::Instant::now(),
        last_save_unix: AtomicU64::new(crate::util::now_ms() / 1000),
        loading: AtomicBool::new(plan.is_some()),
        run_id: run_id(),
        config_file: config_file.clone(),
        executable: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        port: config.port,
        wakers,
        pulses: (0..n).map(|_| Default::default()).collect(),
        watchdog_period_ms: AtomicU64::new(config.watchdog_period),
        fences: (0..n).map(|_| Default::default()).collect(),
        subscriptions: AtomicUsize::new(0),
        monitors: crate::observe::monitor::Monitors::new(n),
    });
    spawn_signal_thread(global.clone())?;
    crate::shard::watchdog::spawn(global.clone())?;

    logging::notice(&format!(
        "shardis {} (Redis {} compatible) starting: pid={}, port={}, shards={}",
        env!("CARGO_PKG_VERSION"),
        crate::commands::server::REDIS_VERSION,
        std::process::id(),
        config.port,
        n
    ));
    match &config_file {
        Some(f) => logging::notice(&format!("Configuration loaded from {f}")),
        None => logging::notice("No config file specified, using the embedded default config"),
    }
    if let Some(p) = &plan {
        p.announce(n);
    }

    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let mesh = mesh::new_mesh(n);
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let cpu = if cores.is_empty() {
            None
        } else {
            Some(cores[i % cores.len()])
        };
        let placement = cpu.map_or(Placement::Unbound, |c| Placement::Fixed(c.id));
        let (mesh, config, global, addrs) =
            (mesh.clone(), config.clone(), global.clone(), addrs.clone());
        let tls_addrs = tls_addrs.clone();
        let plan = if i == 0 { plan.clone() } else { None };
        let spin = Duration::from_micros(config.shard_spin_us);
        let handle = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{i}"))
            // io_uring buffers are locked memory: keep them small (see tuning.md on memlock).
            .io_memory(2 << 20)
            .spin_before_park(spin)
            .spawn(move || {
                // On the shard's thread, before its executor first sleeps.
                global.pulses[i].register();
                async move {
                    let res =
                        shard_main(i, mesh, n, config, global.clone(), (addrs, tls_addrs), plan)
                            .await;
                    if let Err(e) = &res {
                        logging::warning(&format!("Shard failed: {e:#}"));
                        global.request_shutdown();
                    }
                    global.pulses[i].deregister();
                    res
                }
            })
            .map_err(std::io::Error::from)
            .with_context(|| format!("starting shard {i}"))?;
        handles.push(handle);
    }
    let mut result = Ok(());
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(e) => result = Err(anyhow::anyhow!("shard thread failed: {e}")),
        }
    }
    if result.is_ok() {
        logging::notice("shardis is now ready to exit, bye bye...");
    }
    result
}

async fn shard_main(
    id: usize,
    mesh: mesh::Mesh,
    n: usize,
    config: Config,
    global: Arc<Global>,
    (addrs, tls_addrs): (Vec<listener::BindAddr>, Vec<listener::BindAddr>),
    plan: Option<crate::persistence::Plan>,
) -> anyhow::Result<()> {
    let backlog = config.tcp_backlog as i32;
    let shard = Rc::new(Shard::new(id, n, config, global, mesh));
    // Requests and cross-shard messages run in a queue whose latency need makes glommio look
    // at timers and other threads' wake-ups every 500 us while it is busy. (Setting that as
    // the executor-wide preempt timer instead left a just-started, oversubscribed executor
    // asleep before it ever ran its main task: the timer fired first, the scheduler took that
    // for "preempt" and parked with no timer armed.)
    let net_queue = glommio::executor().create_task_queue(
        Shares::Static(1000),
        Latency::Matters(Duration::from_micros(500)),
        "net",
    );
    shard.spawn_inbox(net_queue);
    let background =
        glommio::executor().create_task_queue(Shares::Static(100), Latency::NotImportant, "cron");
    glommio::spawn_local_into(cron::run(shard.clone()), background)
        .map_err(|e| anyhow::anyhow!("spawning the cron task: {e}"))?
        .detach();
    // Receive times order blocked clients across shards (shard/blocking.rs): one shard needs
    // none, and then no packet pays for the stamp.
    let stamp = shard.n > 1 && shard.config.borrow().blocking_arrival_order;
    shard.net.borrow_mut().stamped = stamp;
    let listeners = listener::bind_shard(&addrs, backlog, stamp)?;
    let tls_listeners = listener::bind_shard(&tls_addrs, backlog, false)?;
    if id == 0 {
        logging::notice("Server initialized");
        for a in &addrs {
            logging::notice(&format!("Ready to accept connections tcp {}", a.addr));
        }
        for a in &tls_addrs {
            logging::notice(&format!("Ready to accept connections tls {}", a.addr));
        }
    }
    let serving = glommio::spawn_local_into(
        net::serve(shard.clone(), listeners, tls_listeners),
        net_queue,
    )
    .map_err(|e| anyhow::anyhow!("spawning the network loop: {e}"))?;
    if let Some(plan) = plan {
        // Shard 0 drives the load; every shard answers -LOADING meanwhile.
        glommio::spawn_local_into(crate::persistence::load_all(shard.clone(), plan), net_queue)
            .map_err(|e| anyhow::anyhow!("spawning the AOF load: {e}"))?
            .detach();
    }
    let res = serving.await;
    // Clean shutdown: everything acknowledged is written and synced before the inbox closes
    // (another shard may still be waiting on this one's log).
    crate::persistence::writer::stop(&shard).await;
    shard.close_inbox();
    res
}

/// SIGINT/SIGTERM: ask every shard to stop; a second signal exits at once.
fn spawn_signal_thread(global: Arc<Global>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("shardis-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if global.request_shutdown() {
                    logging::warning("You insist... exiting now.");
                    std::process::exit(1);
                }
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                logging::warning(&format!("Received {name} scheduling shutdown..."));
            }
        })?;
    Ok(())
}

fn run_id() -> String {
    (0..40)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
        .collect()
}
