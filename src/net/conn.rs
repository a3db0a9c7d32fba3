//! One client connection: its buffers, protocol state and client settings, and the socket I/O.

use super::sys;
use crate::protocol::parse::{ParseLimits, RequestParser};
use crate::protocol::reply::Reply;
use bytes::{Buf, Bytes, BytesMut};
use std::os::fd::RawFd;
use std::time::Instant;

/// Replies buffered past this make the connection stop reading until the client drains them,
/// so a client that pipelines without reading cannot grow our memory (TCP pushes back on it).
pub const OUTPUT_HIGH_WATER: usize = 4 * 1024 * 1024;
/// The largest output buffer kept between rounds while the replies keep filling it.
const KEEP_OUTPUT: usize = 1024 * 1024;
/// Read size per recv.
const READ_CHUNK: usize = 16 * 1024;
/// Output sent before the pipeline it answers is done (`flush_if_large`).
const STREAM_CHUNK: usize = 64 * 1024;

/// Per-client settings and facts (CLIENT LIST, HELLO, SELECT …).
pub struct ClientState {
    pub id: u64,
    pub db: usize,
    pub resp3: bool,
    pub name: Option<Bytes>,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub last_interaction: Instant,
    /// CLIENT REPLY OFF.
    pub reply_off: bool,
    /// CLIENT REPLY SKIP: drop the reply of the next command.
    pub skip_next: bool,
    /// Drop the reply of the command now running (CLIENT REPLY OFF/SKIP are not answered).
    pub skip_current: bool,
    /// The subcommand of a container command (CLIENT LIST shows "client|list").
    pub last_sub: Option<Bytes>,
    pub no_evict: bool,
    pub last_cmd: &'static str,
    /// False while `requirepass` is set and the client has not authenticated.
    pub authenticated: bool,
    /// MULTI queue and WATCHed keys.
    pub tx: crate::commands::transaction::TxState,
    /// Pub/sub subscriptions (see `shard/pubsub.rs`).
    pub subs: crate::shard::pubsub::Subs,
    /// CLIENT REPLY ON is answered even right after CLIENT REPLY SKIP (as in Redis).
    pub force_reply: bool,
    /// Bytes of the command now running, which Redis's `qbuf` still counts.
    pub cmd_bytes: usize,
    /// Address and name as last handed out by `tag` (slow log entries made on other shards).
    tag: std::cell::RefCell<Option<std::sync::Arc<crate::observe::ClientTag>>>,
    /// Its ACL user (see `crate::acl`).
    pub acl: crate::acl::ClientAcl,
}

impl ClientState {
    pub fn new(id: u64, addr: String, laddr: String) -> ClientState {
        let now = Instant::now();
        ClientState {
            id,
            db: 0,
            resp3: false,
            name: None,
            addr,
            laddr,
            created: now,
            last_interaction: now,
            reply_off: false,
            skip_next: false,
            skip_current: false,
            last_sub: None,
            no_evict: false,
            last_cmd: "NULL",
            authenticated: true,
            tx: Default::default(),
            subs: Default::default(),
            force_reply: false,
            cmd_bytes: 0,
            tag: Default::default(),
            acl: Default::default(),
        }
    }

    /// Who this client is, for the slow log; shared while the name stays the same.
    pub fn tag(&self) -> std::sync::Arc<crate::observe::ClientTag> {
        let mut cached = self.tag.borrow_mut();
        if let Some(t) = cached.as_ref() {
            if t.name == self.name {
                return t.clone();
            }
        }
        let t = std::sync::Arc::new(crate::observe::ClientTag {
            addr: self.addr.clone(),
            name: self.name.clone(),
        });
        *cached = Some(t.clone());
        t
    }

    /// Called as a command starts: whether an earlier CLIENT REPLY SKIP drops its reply.
    pub fn take_skip(&mut self) -> bool {
        std::mem::take(&mut self.skip_next)
    }

    /// Whether the reply of the command that just ran is dropped (CLIENT REPLY), given what
    /// `take_skip` said when it started.
    pub fn suppress(&mut self, skipped: bool) -> bool {
        if std::mem::take(&mut self.force_reply) {
            self.skip_current = false;
            return false;
        }
        skipped | self.reply_off | std::mem::take(&mut self.skip_current)
    }
}

pub struct Conn {
    pub fd: RawFd,
    pub rbuf: BytesMut,
    pub wbuf: BytesMut,
    pub parser: RequestParser,
    /// The last command name looked up (see `LookupCache`).
    pub lookups: crate::acl::rename::LookupCache,
    pub client: ClientState,
    /// An async task owns the command flow (cross-shard work in flight).
    pub busy: bool,
    /// Its socket was read this round ahead of its turn (net/mod.rs `read_ahead`): its event
    /// finds the input in `rbuf`, not in the socket.
    pub read_ahead: bool,
    /// `read_ahead` prefetched the keys of the requests it read: running them need not.
    pub prefetched: bool,
    /// Close once the output is flushed (QUIT, protocol error, kill).
    pub closing: bool,
    /// Socket gone or killed: clean up at the first chance.
    pub closed: bool,
    /// The epoll events currently registered.
    pub interest: u32,
    /// Queued in the registry's `pending` list for the end of this round.
    pub flush_queued: bool,
    /// Feed offset this connection's replies wait for (appendfsync always), and whether it sits
    /// in the registry's held list.
    pub aof_hold: u64,
    pub held: bool,
    /// Blocked in BLPOP & co (its task waits): for CLIENT UNBLOCK, CLIENT LIST, disconnects.
    pub blocked: Option<crate::shard::blocking::BlockedOn>,
    /// Bytes counted for INFO since the last stats update.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The TLS session of a client of the TLS port (see `tls.rs`); None on the plain port.
    pub tls: Option<Box<rustls::ServerConnection>>,
    /// Since when the output has been over its class's soft limit (client-output-buffer-limit).
    pub obuf_soft_since: Option<Instant>,
    /// The most input held at once since the cron last looked (see `limits.rs`).
    pub rbuf_peak: usize,
    /// Reads left to take with the kernel's receive time (`STAMP_ALWAYS`: every read, for a
    /// client that sent a blocking command); the time of the last one (`rx_ns`) orders the
    /// blocked clients of a key across shards (shard/blocking.rs).
    pub stamp_reads: u8,
    pub rx_ns: Option<u64>,
    /// Where its keyed commands go: whether to move to another shard (`migrate.rs`).
    pub affinity: super::migrate::Affinity,
    /// Reads that brought data, and how many of them a PUBLISH's wait for the shards with
    /// listeners covered: a wait covers everything read before it began, so one per read
    /// (shard/pubsub_fence.rs).
    pub reads: u64,
    pub settled_reads: u64,
}

/// A new connection's first reads are stamped: a client's first commands may well be
/// blocking ones (the test suites' deferred clients).
pub const STAMP_FIRST_READS: u8 = 8;
pub const STAMP_ALWAYS: u8 = u8::MAX;

pub enum ReadOutcome {
    /// New bytes are in `rbuf`.
    Data,
    /// Nothing to read now.
    Empty,
    /// Peer closed or the socket failed.
    Closed,
}

impl Conn {
    pub fn new(fd: RawFd, client: ClientState, limits: ParseLimits) -> Conn {
        Conn {
            fd,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(READ_CHUNK),
            parser: RequestParser::new(limits),
            lookups: Default::default(),
            client,
            busy: false,
            read_ahead: false,
            prefetched: false,
            closing: false,
            closed: false,
            interest: 0,
            flush_queued: false,
            aof_hold: 0,
            held: false,
            blocked: None,
            bytes_in: 0,
            bytes_out: 0,
            tls: None,
            obuf_soft_since: None,
            rbuf_peak: 0,
            affinity: Default::default(),
            stamp_reads: 0,
            rx_ns: None,
            reads: 0,
            settled_reads: 0,
        }
    }

    /// Stamp every read from now on (a blocking command came on this connection).
    pub fn stamp_always(&mut self) {
        if self.stamp_reads == 0 && self.tls.is_none() {
            sys::set_rx_timestamps(self.fd, true);
        }
        self.stamp_reads = STAMP_ALWAYS;
    }

    /// Read what the socket has, up to a few chunks (fairness between clients).
    pub fn read(&mut self) -> ReadOutcome {
        if self.tls.is_some() {
            return super::tls::read(self);
        }
        let mut got = false;
        for _ in 0..4 {
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                self.rbuf.reserve(READ_CHUNK);
            }
            let spare = self.rbuf.spare_capacity_mut();
            let want = spare.len();
            let read = if self.stamp_reads > 0 {
                sys::recv_stamped(self.fd, spare).map(|(n, at)| {
                    if n > 0 && at.is_some() {
                        self.rx_ns = at;
                    }
                    n
                })
            } else {
                // Unstamped: a stamp left from an earlier read must not pass for this one's.
                self.rx_ns = None;
                sys::recv(self.fd, spare)
            };
            match read {
                Ok(0) => return ReadOutcome::Closed,
                Ok(n) => {
                    // SAFETY: recv initialised the first n bytes of the spare capacity.
                    unsafe { self.rbuf.set_len(self.rbuf.len() + n) };
                    self.bytes_in += n as u64;
                    self.reads += 1;
                    got = true;
                    if n < want {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return ReadOutcome::Closed,
            }
        }
        if got && self.stamp_reads > 0 && self.stamp_reads != STAMP_ALWAYS {
            self.stamp_reads -= 1;
            if self.stamp_reads == 0 {
                // This read keeps its stamp: its commands are yet to run.
                sys::set_rx_timestamps(self.fd, false);
            }
        }
        if got {
            self.client.last_interaction = Instant::now();
            self.rbuf_peak = self.rbuf_peak.max(self.rbuf.len());
            ReadOutcome::Data
        } else {
            ReadOutcome::Empty
        }
    }

    /// All input was parsed: take back the room the parsed requests used at the front of the
    /// buffer (no copy when it is empty), so it keeps its read size (what CLIENT LIST shows).
    #[inline]
    pub fn reclaim_input(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() < READ_CHUNK {
            self.rbuf.reserve(READ_CHUNK);
        }
    }

    /// Append a reply for the client, honouring CLIENT REPLY.
    #[inline]
    pub fn emit(&mut self, reply: &Reply, suppress: bool) {
        if !suppress {
            reply.encode(&mut self.wbuf, self.client.resp3);
        }
    }

    /// Send the buffered output once it makes a chunk worth a send of its own: replies of a
    /// pipeline that takes several steps (passes across shards) go out together when it is
    /// done (`flush` at the end), as Redis writes a read's replies at once, instead of a send
    /// per step that wakes the client each time; a long one still streams out.
    pub fn flush_if_large(&mut self) {
        if self.wbuf.len() >= STREAM_CHUNK {
            self.flush();
        }
    }

    /// Send as much buffered output as the socket takes. Returns false if the socket failed.
    pub fn flush(&mut self) -> bool {
        if self.tls.is_some() {
            return super::tls::flush(self);
        }
        let batch = self.wbuf.len();
        while !self.wbuf.is_empty() {
            match sys::send(self.fd, &self.wbuf) {
                Ok(n) => {
                    self.bytes_out += n as u64;
                    // Not split_to: that turns the buffer into a shared one (an allocation).
                    if n >= self.wbuf.len() {
                        self.wbuf.clear();
                    } else {
                        self.wbuf.advance(n);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.closed = true;
                    return false;
                }
            }
        }
        self.trim_output(batch);
        true
    }

    /// After a flush that started with `batch` bytes buffered: give back a big output buffer.
    pub fn trim_output(&mut self, batch: usize) {
        if self.wbuf.is_empty()
            && self.wbuf.capacity() > 4 * READ_CHUNK
            && (self.wbuf.capacity() > KEEP_OUTPUT || batch < self.wbuf.capacity() / 4)
        {
            // Give back a buffer big replies grew, once they stop coming: a client pipelining
            // large replies would otherwise regrow it (allocation and copies) every round.
            self.wbuf = BytesMut::with_capacity(READ_CHUNK);
        }
    }

    /// Output waits to be sent: replies in `wbuf`, or TLS records (handshake included).
    #[inline]
    pub fn output_pending(&self) -> bool {
        !self.wbuf.is_empty() || (self.tls.is_some() && super::tls::wants_write(self))
    }

    /// The epoll events this connection should be registered for now.
    pub fn wanted_interest(&self) -> u32 {
        let mut ev = 0;
        // A blocked client is read (into `rbuf`, not run) so that its going away is noticed.
        if (!self.busy || self.blocked.is_some())
            && !self.closing
            && self.wbuf.len() <= OUTPUT_HIGH_WATER
        {
            ev |= sys::IN;
        }
        if self.output_pending() {
            ev |= sys::OUT;
        }
        ev
    }
}

impl crate::config::Config {
    /// The parser limits for new connections.
    pub fn parse_limits(&self) -> ParseLimits {
        ParseLimits {
            proto_max_bulk_len: self.proto_max_bulk_len as usize,
            unauthenticated: false,
        }
    }
}
