//! Listening sockets: checked free once at startup, then bound by every shard with
//! SO_REUSEPORT so the kernel spreads incoming connections over the shards.

use anyhow::{bail, Context};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

/// One address to listen on; `optional` is Redis's `-` prefix (skip if unavailable).
#[derive(Clone, Debug)]
pub struct BindAddr {
    pub addr: SocketAddr,
    pub optional: bool,
}

/// Resolve the `bind` directive's entries ("*" and "::*" mean any address).
pub fn bind_addrs(binds: &[String], port: u16) -> anyhow::Result<Vec<BindAddr>> {
    let mut out = Vec::new();
    for b in binds {
        let (optional, host) = match b.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, b.as_str()),
        };
        let ip: IpAddr = match host {
            "*" => IpAddr::from([0u8, 0, 0, 0]),
            "::*" => IpAddr::from([0u16; 8]),
            h => h
                .parse()
                .with_context(|| format!("Invalid bind address '{h}'"))?,
        };
        out.push(BindAddr {
            addr: SocketAddr::new(ip, port),
            optional,
        });
    }
    Ok(out)
}

fn socket_for(addr: &SocketAddr, reuse_port: bool) -> std::io::Result<Socket> {
    let s = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    s.set_nonblocking(true)?;
    s.set_cloexec(true)?;
    Ok(s)
}

/// Fail early, with Redis's wording, if another process holds the port. A probe socket without
/// SO_REUSEPORT cannot share the port, so this also catches a second shardis.
/// Returns the addresses that can be used (optional ones that fail are dropped).
pub fn check_free(addrs: &[BindAddr]) -> anyhow::Result<Vec<BindAddr>> {
    let mut ok = Vec::new();
    for b in addrs {
        let res = socket_for(&b.addr, false).and_then(|s| s.bind(&SockAddr::from(b.addr)));
        match res {
            Ok(()) => ok.push(b.clone()),
            Err(e) if b.optional && e.kind() != std::io::ErrorKind::AddrInUse => {}
            Err(e) => bail!(
                "Warning: Could not create server TCP listening socket {}: bind: {}",
                b.addr,
                e
            ),
        }
    }
    if ok.is_empty() {
        bail!(
            "Failed listening on port {} (tcp), aborting.",
            addrs.first().map_or(0, |a| a.addr.port())
        );
    }
    Ok(ok)
}

/// A shard's own listening sockets (SO_REUSEPORT).
/// `stamp`: the kernel stamps what arrives with its receive time (see `Registry::stamped`).
pub fn bind_shard(addrs: &[BindAddr], backlog: i32, stamp: bool) -> anyhow::Result<Vec<Socket>> {
    let mut out = Vec::new();
    for b in addrs {
        let s = socket_for(&b.addr, true)
            .and_then(|s| s.bind(&SockAddr::from(b.addr)).map(|_| s))
            // Accepted sockets inherit it, so that even a client's first bytes, sent before
            // the accept, carry the kernel's receive time (net/conn.rs `stamp_reads`).
            .inspect(|s| {
                if stamp {
                    super::sys::set_rx_timestamps(s.as_raw_fd(), true)
                }
            })
            .and_then(|s| s.listen(backlog).map(|_| s))
            .with_context(|| format!("Could not create server TCP listening socket {}", b.addr))?;
        out.push(s);
    }
    Ok(out)
}
