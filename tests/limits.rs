//! Connection limits with their Redis error texts (maxclients, timeout, proto-max-bulk-len,
//! client-query-buffer-limit, client-output-buffer-limit), and misbehaving clients (floods of
//! connections, byte-at-a-time senders, half-open connections, clients that never read) that
//! must neither starve a well-behaved client nor grow the server's memory without bound.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

/// Whether the server closed this socket (EOF), reading and dropping whatever came first.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn connected_clients(c: &mut redis::Connection) -> i64 {
    let info: String = qt(c, &["INFO", "clients"]);
    info_field(&info, "connected_clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn maxclients_refuses_with_redis_error() {
    both_with(&["--maxclients", "8"], |s| {
        let mut held = vec![s.conn()];
        // The start-up probe's connection may still be closing.
        assert!(wait_until(LONG, || connected_clients(&mut held[0]) == 1));
        for _ in 1..8 {
            held.push(s.conn());
        }
        assert_eq!(connected_clients(&mut held[0]), 8);
        let mut refused = s.raw();
        assert_eq!(
            refused.read_reply_str(),
            "-ERR max number of clients reached\r\n"
        );
        let info: String = qt(&mut held[0], &["INFO", "stats"]);
        assert_eq!(
            info_field(&info, "rejected_connections").as_deref(),
            Some("1")
        );
        // A slot that frees up is taken again.
        held.pop();
        assert!(wait_until(LONG, || connected_clients(&mut held[0]) == 7));
        let mut again = s.raw();
        again.send(b"PING\r\n");
        assert_eq!(again.read_reply(), b"+PONG\r\n");
    });
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    both_with(&["--timeout", "1"], |s| {
        let mut idle = TcpStream::connect(("127.0.0.1", s.port())).unwrap();
        idle.write_all(b"PING\r\n").unwrap();
        assert!(wait_until(LONG, || closed_by_server(&mut idle)));
        // A client that keeps talking stays.
        let mut busy = s.conn();
        for _ in 0..5 {
            assert_eq!(q(&mut busy, &["PING"]), status("PONG"));
            std::thread::sleep(Duration::from_millis(300));
        }
    });
}

#[test]
fn proto_max_bulk_len_and_unknown_sizes() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["CONFIG", "SET", "proto-max-bulk-len", "1mb"]);
        let mut raw = s.raw();
        raw.send(b"*2\r\n$3\r\nGET\r\n$2000000\r\n");
        assert_eq!(
            raw.read_reply_str(),
            "-ERR Protocol error: invalid bulk length\r\n"
        );
        assert!(wait_until(LONG, || closed_by_server(&mut raw.stream)));
        let mut raw = s.raw();
        raw.send(b"*2\r\n$3\r\nGET\r\n$1000000\r\n");
        raw.send(&vec![b'x'; 1_000_000]);
        raw.send(b"\r\n");
        assert_eq!(raw.read_reply(), b"$-1\r\n");
    });
}

#[test]
fn query_buffer_limit_closes_the_client() {
    both(|s| {
        let mut c = s.conn();
        q(
            &mut c,
            &["CONFIG", "SET", "client-query-buffer-limit", "1mb"],
        );
        let mut raw = TcpStream::connect(("127.0.0.1", s.port())).unwrap();
        raw.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n")
            .unwrap();
        // Past the limit the server hangs up (writes then fail or read EOF).
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0;
        while sent < 3_000_000 {
            if raw.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        assert!(wait_until(LONG, || closed_by_server(&mut raw)));
        assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
        assert!(s
            .log_contents()
            .contains("Closing client that reached max query buffer length"));
    });
}

#[test]
fn output_buffer_limits_close_clients_that_do_not_read() {
    both(|s| {
        let mut c = s.conn();
        q(&mut c, &["SET", "big", &"x".repeat(100_000)]);
        for (limit, why) in [("normal 1mb 0 0", "hard"), ("normal 0 1mb 1", "soft")] {
            q(
                &mut c,
                &["CONFIG", "SET", "client-output-buffer-limit", limit],
            );
            let before = connected_clients(&mut c);
            let mut reader = TcpStream::connect(("127.0.0.1", s.port())).unwrap();
            assert!(wait_until(LONG, || connected_clients(&mut c) == before + 1));
            // 200 replies of 100 kB, never read: far past 1 MB plus the socket buffers.
            let mut pipeline = Vec::new();
            for _ in 0..200 {
                pipeline.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
            }
            reader.write_all(&pipeline).unwrap();
            assert!(
                wait_until(LONG, || connected_clients(&mut c) == before),
                "{why} limit: the client was not closed"
            );
        }
        q(
            &mut c,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 0 0 0",
            ],
        );
    });
}

/// 200 misbehaving clients — byte-at-a-time senders, half-open connections and clients that
/// pipeline large replies without ever reading — while a well-behaved client keeps getting its
/// answers, and the server's memory stays bounded by the per-connection output cap rather than
/// by what the non-readers ask for.
#[test]
fn slow_and_non_reading_clients_do_not_starve_others() {
    if skip_under_redis("Redis buffers replies of non-reading clients without bound") {
        return;
    }
    for shards in [1, 4] {
        let s = Server::start(shards);
        let mut good = s.conn();
        let value = "v".repeat(16 * 1024);
        q(&mut good, &["SET", "big", &value]);
        let rss_before = rss_kib(s.pid());

        // 50 clients that never read, each asking for 4096 × 16 kB = 64 MB of replies.
        let mut request = Vec::new();
        for _ in 0..4096 {
            request.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
        }
        let mut non_readers = Vec::new();
        for _ in 0..50 {
            let mut c = TcpStream::connect(("127.0.0.1", s.port())).unwrap();
            c.set_nonblocking(true).unwrap();
            let mut off = 0;
            // Write what the kernel takes now; the rest stays unsent (TCP pushes back).
            while off < request.len() {
                match c.write(&request[off..]) {
                    Ok(n) => off += n,
                    Err(_) => break,
                }
            }
            non_readers.push(c);
        }
        // 50 half-open connections: a partial command, then silence (a peer that vanished
        // without a FIN). One that does shut its side is closed by the server.
        let half_open: Vec<TcpStream> = (0..50)
            .map(|_| {
                let mut c = TcpStream::connect(("127.0.0.1", s.port())).unwrap();
                c.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$10\r\nabc")
                    .unwrap();
                c
            })
            .collect();
        let mut gone = TcpStream::connect(("127.0.0.1", s.port())).unwrap();
        gone.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$10\r\nabc")
            .unwrap();
        gone.shutdown(Shutdown::Write).unwrap();
        assert!(wait_until(LONG, || closed_by_server(&mut gone)));
        // 100 clients sending a command one byte at a time, from a thread, until told to stop.
        let stop = Arc::new(AtomicBool::new(false));
        let trickle = {
            let stop = stop.clone();
            let port = s.port();
            std::thread::spawn(move || {
                let mut conns: Vec<TcpStream> = (0..100)
                    .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
                    .collect();
                let cmd = b"*3\r\n$3\r\nSET\r\n$4\r\nslow\r\n$100\r\n".to_vec();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let byte = [cmd.get(i % (cmd.len() + 100)).copied().unwrap_or(b'x')];
                    for c in conns.iter_mut() {
                        let _ = c.write_all(&byte);
                    }
                    i += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                conns
            })
        };

        // The well-behaved client keeps getting answers, on keys of every shard.
        for (i, k) in spread_keys("good", 200).iter().enumerate() {
            assert_eq!(q(&mut good, &["SET", k, &i.to_string()]), ok());
            assert_eq!(q(&mut good, &["GET", k]), bulk(i.to_string()));
        }
        assert_eq!(q(&mut good, &["PING"]), status("PONG"));
        let clients = connected_clients(&mut good);
        assert!(clients >= 200, "{clients} clients connected");

        // Let the non-readers' pipelines fill whatever the server will buffer for them.
        std::thread::sleep(Duration::from_millis(500));
        let rss_during = rss_kib(s.pid());
        stop.store(true, Ordering::Relaxed);
        let trickling = trickle.join().unwrap();
        // Unbounded buffering would be 50 × 64 MB = 3.2 GB. What a connection can make the
        // server hold is capped: replies stop being produced past 4 MiB unsent
        // (OUTPUT_HIGH_WATER, in a buffer that grows by doubling), plus one batch of at most
        // 1024 commands sent to other shards (16 MiB of these replies): under 24 MiB each.
        let grown_mib = rss_during.saturating_sub(rss_before) / 1024;
        eprintln!(
            "shards={shards}: RSS {} MiB before, {} MiB with 200 slow clients (+{grown_mib} MiB)",
            rss_before / 1024,
            rss_during / 1024
        );
        assert!(grown_mib < 50 * 24, "RSS grew by {grown_mib} MiB");
        drop(non_readers);
        drop(half_open);
        drop(trickling);
        assert!(wait_until(LONG, || connected_clients(&mut good) == 1));
        assert_eq!(q(&mut good, &["GET", "big"]), bulk(&value));
    }
}
