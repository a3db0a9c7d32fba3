//! `floor`: a bare Redis-shaped server that does the least work per request this kernel allows:
//! it reads requests, counts the complete ones and answers each with `+OK`. Nothing is parsed
//! into arguments, looked up or stored. What it spends per request is the kernel's share of a
//! request (TCP receive, send, the wake-ups), which no server can avoid, so
//! `scripts/floor.sh` runs it beside redis-server and shardis to show how far below Redis any
//! server can go on a machine.
//!
//! Two network loops, one thread each:
//! * `--mode epoll`: Redis's shape: level-triggered `epoll_wait`, one `recv` and one `send`
//!   per ready connection;
//! * `--mode uring`: io_uring with the leanest setup we know: multishot accept, multishot recv
//!   into a provided buffer ring, sends queued as SQEs with no completion on success and
//!   submitted together with the wait (one `io_uring_enter` per loop), task work deferred to
//!   that wait (`DEFER_TASKRUN`, `SINGLE_ISSUER`).
//!
//! Run: `cargo bench --bench floor -- --port 7400 --mode uring`.

#[allow(dead_code)]
#[path = "../src/protocol/peek.rs"]
mod peek;

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};

const USAGE: &str = "\
floor: a bare server that answers every request +OK and does nothing else

USAGE: floor [--port PORT] [--bind ADDR] [--mode epoll|uring]
       (cargo bench --bench floor -- [OPTIONS])
";

/// Room for this many replies in one send; a longer batch is sent in several.
const REPLIES: usize = 4096;
const OK: &[u8] = b"+OK\r\n";
/// Read size, and the size of each provided buffer.
const READ: usize = 16 * 1024;

fn main() {
    if let Err(e) = run() {
        eprintln!("floor: {e}");
        std::process::exit(1);
    }
}

fn run() -> io::Result<()> {
    let (mut port, mut bind, mut mode) = (7400u16, "127.0.0.1".to_string(), "epoll".to_string());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .ok_or_else(|| io::Error::other(format!("{a} needs a value\n{USAGE}")))
        };
        match a.as_str() {
            "--port" => port = val()?.parse().map_err(io::Error::other)?,
            "--bind" => bind = val()?,
            "--mode" => mode = val()?,
            // `cargo bench` passes --bench to every bench binary.
            "--bench" => {}
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            _ => return Err(io::Error::other(format!("unknown option {a}\n{USAGE}"))),
        }
    }
    let listener = TcpListener::bind((bind.as_str(), port))?;
    let replies = OK.repeat(REPLIES);
    match mode.as_str() {
        "epoll" => epoll_loop(listener, &replies),
        "uring" => uring_loop(listener, &replies),
        m => Err(io::Error::other(format!("unknown mode {m}\n{USAGE}"))),
    }
}

/// How many whole requests `buf` starts with, and how many bytes they take: multibulk
/// requests walked as the server's look-ahead walks them (`protocol::peek`), or inline lines.
fn complete_requests(buf: &[u8]) -> (usize, usize) {
    let (mut n, mut at) = (0, 0);
    while at < buf.len() {
        let end = if buf[at] == b'*' {
            peek::request_at(buf, at, |_, _| true)
        } else {
            memchr::memchr(b'\n', &buf[at..]).map(|i| at + i + 1)
        };
        let Some(end) = end else { break };
        n += 1;
        at = end;
    }
    (n, at)
}

/// A connection's unfinished request, kept until the rest comes.
#[derive(Default)]
struct Pending(Vec<u8>);

impl Pending {
    /// Takes `data` in and returns how many requests it completes.
    fn feed(&mut self, data: &[u8]) -> usize {
        if self.0.is_empty() {
            let (n, used) = complete_requests(data);
            self.0.extend_from_slice(&data[used..]);
            return n;
        }
        self.0.extend_from_slice(data);
        let (n, used) = complete_requests(&self.0);
        self.0.drain(..used);
        n
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn epoll_add(ep: RawFd, fd: RawFd, events: u32) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events,
        u64: fd as u64,
    };
    // SAFETY: plain syscall on fds this process owns.
    cvt(unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) }).map(drop)
}

fn close(fd: RawFd) {
    // SAFETY: the fd is ours and forgotten after this.
    unsafe { libc::close(fd) };
}

fn epoll_loop(listener: TcpListener, replies: &[u8]) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let lfd = listener.as_raw_fd();
    // SAFETY: plain syscall.
    let ep = cvt(unsafe { libc::epoll_create1(0) })?;
    epoll_add(ep, lfd, libc::EPOLLIN as u32)?;
    let mut pending: Vec<Pending> = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
    let mut buf = vec![0u8; READ];
    loop {
        // SAFETY: `events` has room for the 512 events asked for.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 512, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let fd = ev.u64 as RawFd;
            if fd == lfd {
                while let Ok((s, _)) = listener.accept() {
                    s.set_nodelay(true)?;
                    s.set_nonblocking(true)?;
                    let fd = s.into_raw_fd();
                    epoll_add(ep, fd, libc::EPOLLIN as u32)?;
                    if pending.len() <= fd as usize {
                        pending.resize_with(fd as usize + 1, Pending::default);
                    }
                    pending[fd as usize] = Pending::default();
                }
                continue;
            }
            // SAFETY: `buf` is READ bytes long.
            let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), READ, libc::MSG_DONTWAIT) };
            if r <= 0 {
                if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock {
                    continue;
                }
                close(fd);
                continue;
            }
            let mut due = pending[fd as usize].feed(&buf[..r as usize]);
            while due > 0 {
                let k = due.min(REPLIES);
                if !send_all(fd, &replies[..k * OK.len()]) {
                    close(fd);
                    break;
                }
                due -= k;
            }
        }
    }
}

/// Sends all of `data`, waiting in poll() if the socket is full (replies here are small
/// enough that it never is in a benchmark). False if the connection is gone.
fn send_all(fd: RawFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        // SAFETY: `data` is a live slice.
        let r = unsafe {
            libc::send(
                fd,
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if r >= 0 {
            data = &data[r as usize..];
            continue;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
            return false;
        }
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one pollfd.
        unsafe { libc::poll(&mut p, 1, -1) };
    }
    true
}

const ACCEPT: u64 = u64::MAX;
const SENT: u64 = u64::MAX - 1;
/// Provided buffers in the ring (a power of two).
const BUFS: u16 = 1024;

fn uring_loop(listener: TcpListener, replies: &[u8]) -> io::Result<()> {
    use io_uring::{cqueue, opcode, squeue, types, IoUring};
    let lfd = listener.as_raw_fd();
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(4096)?;
    // The provided buffers and the ring that hands them to the kernel (page aligned).
    let mut data = vec![0u8; READ * BUFS as usize];
    let layout = std::alloc::Layout::from_size_align(
        BUFS as usize * std::mem::size_of::<types::BufRingEntry>(),
        4096,
    )
    .map_err(io::Error::other)?;
    // SAFETY: a non-zero-sized layout; the memory lives as long as the process.
    let entries = unsafe { std::alloc::alloc_zeroed(layout) } as *mut types::BufRingEntry;
    if entries.is_null() {
        return Err(io::Error::other("out of memory"));
    }
    // SAFETY: `entries` is BUFS page-aligned entries that stay allocated.
    unsafe {
        ring.submitter()
            .register_buf_ring_with_flags(entries as u64, BUFS, 0, 0)?
    };
    let mut tail: u16 = 0;
    let give = |bid: u16, tail: &mut u16, data: &mut [u8]| {
        // SAFETY: the slot `tail & mask` is ours until the tail store below hands it over.
        unsafe {
            let e = &mut *entries.add((*tail & (BUFS - 1)) as usize);
            e.set_addr(data.as_mut_ptr().add(bid as usize * READ) as u64);
            e.set_len(READ as u32);
            e.set_bid(bid);
            *tail = tail.wrapping_add(1);
            let t = types::BufRingEntry::tail(entries) as *const std::sync::atomic::AtomicU16;
            (*t).store(*tail, std::sync::atomic::Ordering::Release);
        }
    };
    for bid in 0..BUFS {
        give(bid, &mut tail, &mut data);
    }
    let recv = |fd: RawFd| {
        opcode::RecvMulti::new(types::Fd(fd), 0)
            .build()
            .user_data(fd as u64)
    };
    let accept = opcode::AcceptMulti::new(types::Fd(lfd))
        .build()
        .user_data(ACCEPT);
    let mut pending: Vec<Pending> = Vec::new();
    let mut queue: Vec<squeue::Entry> = vec![accept.clone()];
    let mut done: Vec<(u64, i32, u32)> = Vec::new();
    loop {
        {
            let (submitter, mut sq, _) = ring.split();
            for e in queue.drain(..) {
                // SAFETY: the buffers named by these entries (the reply buffer, the provided
                // buffers) outlive the ring.
                while unsafe { sq.push(&e) }.is_err() {
                    sq.sync();
                    submitter.submit()?;
                    sq.sync();
                }
            }
            sq.sync();
        }
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        done.clear();
        done.extend(
            ring.completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(tag, res, flags) in &done {
            match tag {
                SENT => {}
                ACCEPT => {
                    if res >= 0 {
                        let one: libc::c_int = 1;
                        // SAFETY: plain setsockopt on the new socket.
                        unsafe {
                            libc::setsockopt(
                                res,
                                libc::IPPROTO_TCP,
                                libc::TCP_NODELAY,
                                (&one as *const libc::c_int).cast(),
                                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                            )
                        };
                        if pending.len() <= res as usize {
                            pending.resize_with(res as usize + 1, Pending::default);
                        }
                        pending[res as usize] = Pending::default();
                        queue.push(recv(res));
                    }
                    if !cqueue::more(flags) {
                        queue.push(accept.clone());
                    }
                }
                fd => {
                    let fd = fd as RawFd;
                    if res > 0 {
                        let Some(bid) = cqueue::buffer_select(flags) else {
                            continue;
                        };
                        let at = bid as usize * READ;
                        let mut due = pending[fd as usize].feed(&data[at..at + res as usize]);
                        give(bid, &mut tail, &mut data);
                        while due > 0 {
                            let k = due.min(REPLIES);
                            let send = opcode::Send::new(
                                types::Fd(fd),
                                replies.as_ptr(),
                                (k * OK.len()) as u32,
                            )
                            .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
                            .build()
                            .flags(squeue::Flags::SKIP_SUCCESS)
                            .user_data(SENT);
                            queue.push(send);
                            due -= k;
                        }
                        if !cqueue::more(flags) {
                            queue.push(recv(fd));
                        }
                    } else if res == -libc::ENOBUFS {
                        queue.push(recv(fd));
                    } else {
                        close(fd);
                    }
                }
            }
        }
    }
}
