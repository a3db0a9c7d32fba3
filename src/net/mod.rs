//! The network path of a shard: an epoll loop over its listeners and client sockets, driven by
//! a glommio task.
//!
//! Why epoll and not glommio's TcpStream: DESIGN.md measured TcpStream at ~1.5× Redis's CPU per
//! request, because it re-arms a one-shot io_uring poll after every read. Here the sockets stay
//! registered in one level-triggered epoll set per shard, which the loop polls with a zero
//! timeout while there is work. When a poll finds nothing, the shard sleeps in `epoll_wait` on
//! the set (`OutsideSleep`), or, while other tasks are runnable, waits for the set's own fd
//! through one io_uring poll on its glommio reactor (`glommio::net::poll_readable`). Both are
//! functions shardis adds to glommio (vendor/README.md). Either way the wait is on the shard's
//! own thread: no helper thread and no cross-thread wake-up.
//!
//! Per readable client: one read, parse every complete command, run the ones this shard owns
//! inline, group the others by owning shard (one message per shard per read), and write all
//! replies, in request order, with one send. A command that spans shards, or a server command
//! that must ask every shard, is a barrier: the connection hands its flow to an async task that
//! finishes the batch, runs the barrier, and goes on with the rest of the input.

pub mod busy;
pub mod conn;
pub mod dispatch;
pub mod limits;
pub mod listener;
pub mod migrate;
pub mod protected;
pub mod sys;
pub mod tls;

use crate::logging;
use crate::shard::Shard;
use conn::{Conn, ReadOutcome};
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;

const WAKE_TOKEN: u64 = 1 << 62;

/// Longest an idle shard sleeps before polling its sockets again (see `serve`): the watchdog
/// (shard/watchdog.rs) counts on a heartbeat at least this often.
const PARK_BOUND: std::time::Duration = std::time::Duration::from_millis(10);
/// How long an idle shard may park now: until the next multiple of PARK_BOUND since `grid`,
/// not PARK_BOUND from now, so that every park within one period has the same deadline and
/// the reactor keeps one kernel timeout armed for all of them instead of re-arming it per
/// park (vendor/README.md).
fn park_bound(grid: std::time::Instant) -> std::time::Duration {
    let now = std::time::Instant::now();
    let period = PARK_BOUND.as_nanos();
    let periods = now.saturating_duration_since(grid).as_nanos() / period + 1;
    let next = grid + std::time::Duration::from_nanos((periods * period) as u64);
    next.saturating_duration_since(now)
}

/// The idle shard's sleep: in `epoll_wait` on its own set rather than in io_uring behind a poll
/// of that set (`glommio::net::poll_readable`, the fallback). Measured at 70% of Redis's
/// maximum in the open loop (`scripts/loadgen_check.sh`), the io_uring wake-up path now and
/// then left requests waiting for several ms (p99.99 up to 89 ms in one of four runs, against
/// 5–7 ms here), and it costs an io_uring_enter and a POLL_ADD per sleep. glommio's
/// `sleep_with` (vendor/README.md) keeps its own rules: nothing runnable, no timer due, its
/// cross-thread wake-up eventfd and its rings in our set.
#[derive(Default)]
struct OutsideSleep {
    /// The executor's fds, once added to our epoll set.
    registered: Vec<RawFd>,
    /// Registering or waiting failed once: the io_uring park from then on.
    failed: bool,
}

impl OutsideSleep {
    fn register(&mut self, ep: &sys::Epoll, fds: &[RawFd]) -> std::io::Result<()> {
        for &fd in fds {
            if !self.registered.contains(&fd) {
                // Edge-triggered: the executor reads them, not us.
                ep.add(fd, sys::IN | libc::EPOLLET as u32, GLOMMIO_TOKEN)?;
                self.registered.push(fd);
            }
        }
        Ok(())
    }
}

const LISTEN_TOKEN: u64 = 1 << 63;
/// The executor's own fds (see `OutsideSleep`).
const GLOMMIO_TOKEN: u64 = 1 << 60;
/// With LISTEN_TOKEN: the listener is a TLS one.
const TLS_LISTEN_TOKEN: u64 = 1 << 61;

pub type ConnRef = Rc<RefCell<Conn>>;

/// This shard's connections, by client id (= epoll token).
#[derive(Default)]
pub struct Registry {
    pub conns: ahash::AHashMap<u64, ConnRef>,
    /// Connections moved to another shard that has not yet said it took them in
    /// (`migrate::Departed`): CLIENT LIST and CLIENT KILL still find them here meanwhile.
    pub departed: HashMap<u64, migrate::Departed>,
    pub epoll: Option<Rc<sys::Epoll>>,
    /// Connections with replies to send once this round of events is handled.
    pub pending: Vec<ConnRef>,
    /// Connections whose replies wait for an AOF sync (appendfsync always).
    pub held: Vec<ConnRef>,
    /// Connections read ahead of their turn in the current round (`read_ahead`): a script
    /// that runs long meanwhile answers their input from here (busy.rs), as their sockets no
    /// longer show it.
    pub read_ahead: Vec<ConnRef>,
    /// The plain listeners have SO_TIMESTAMPNS on (more than one shard, and
    /// `blocking-arrival-order` at start-up): accepted sockets inherit it.
    pub stamped: bool,
    /// Run once the network loop has looked at every socket and let what that started run:
    /// asked for during the current pass, due at the start of the third pass after it (a
    /// connection whose connect was pending is accepted in the first, and its input read in
    /// the second, as epoll reports it).
    after_pass: [Vec<AfterPass>; 3],
}

/// Work for after two full passes of the network loop (`Registry::after_two_passes`).
pub type AfterPass = Box<dyn FnOnce(&Rc<Shard>)>;

impl Registry {
    /// Run `f` once the network loop has read every socket that held data by now and the
    /// tasks its commands started have run until their first wait: after two full passes, at
    /// the start of the third (see `after_pass`). A blocked-client barrier (`shard::blocking`) uses it
    /// so that a blocking command already sent has left this shard for its key's shard.
    pub fn after_two_passes(&mut self, f: AfterPass) {
        self.after_pass[0].push(f);
    }

    fn pass_work_pending(&self) -> bool {
        self.after_pass.iter().any(|a| !a.is_empty())
    }

    /// Register the connection's wanted events with epoll if they changed. A connection whose
    /// task waits on other shards keeps reading registered until input does arrive
    /// (`on_conn_event` stops it then): a request-reply client sends nothing meanwhile, and
    /// taking reading off and on again cost two epoll_ctl calls per forwarded batch (with 2
    /// shards, more epoll_ctl calls than requests).
    pub fn update_interest(&self, c: &mut Conn) {
        let mut want = c.wanted_interest();
        if c.busy && c.blocked.is_none() {
            want |= c.interest & sys::IN;
        }
        self.set_interest(c, want);
    }

    /// Stop reading a busy connection that has input waiting (see `update_interest`).
    fn stop_reading(&self, c: &mut Conn) {
        self.set_interest(c, c.wanted_interest());
    }

    fn set_interest(&self, c: &mut Conn, want: u32) {
        if want != c.interest {
            if let Some(ep) = &self.epoll {
                if ep.modify(c.fd, want, c.client.id).is_err() {
                    c.closed = true;
                }
            }
            c.interest = want;
        }
    }
}

/// Close and forget a connection (it must not be busy, or the caller is its task).
pub fn close_conn(shard: &Shard, id: u64) {
    let Some(c) = shard.net.borrow_mut().conns.remove(&id) else {
        return;
    };
    crate::observe::monitor::remove(shard, id);
    let mut c = c.borrow_mut();
    crate::commands::transaction::unwatch_all(shard, &mut c.client.tx);
    if let Some(ep) = &shard.net.borrow().epoll {
        let _ = ep.delete(c.fd);
    }
    if c.tls.is_some() {
        tls::close_notify(&mut c);
    }
    let sock = crate::shard::pubsub_fence::Sock::of(&c);
    crate::shard::pubsub::forget(shard, &mut c.client, sock);
    sys::close(c.fd);
    c.closed = true;
    c.fd = -1;
    account_io(shard, &mut c);
    shard.global.connected.fetch_sub(1, Ordering::AcqRel);
}

/// Move a connection's byte counters into the shard's stats.
pub fn account_io(shard: &Shard, c: &mut Conn) {
    if c.bytes_in | c.bytes_out != 0 {
        let mut st = shard.stats.borrow_mut();
        st.net_input_bytes += c.bytes_in;
        st.net_output_bytes += c.bytes_out;
        c.bytes_in = 0;
        c.bytes_out = 0;
    }
}

/// Send the replies of this round, one write per connection, after every ready socket was
/// read. Like Redis's write-before-sleep: the peers' wake-ups come in one burst rather than one
/// per read, which on loopback (where our send runs the receiver's wake-up) halved the kernel
/// time spent waking clients.
pub fn settle_pending(shard: &Shard) {
    let pending = std::mem::take(&mut shard.net.borrow_mut().pending);
    let synced = if shard.aof_always.get() {
        shard.aof.borrow().synced
    } else {
        u64::MAX
    };
    for conn in &pending {
        {
            let mut c = conn.borrow_mut();
            c.flush_queued = false;
            if c.aof_hold > synced {
                // Its writes are not on disk yet: the writer settles it after the sync.
                if !c.held {
                    c.held = true;
                    drop(c);
                    shard.net.borrow_mut().held.push(conn.clone());
                }
                continue;
            }
        }
        settle(shard, conn);
    }
    let mut reg = shard.net.borrow_mut();
    if reg.pending.is_empty() {
        // Keep the allocation for the next round.
        reg.pending = pending;
        reg.pending.clear();
    }
}

/// The AOF is synced up to `synced`: send the replies that waited for it.
pub fn release_held(shard: &Shard, synced: u64) {
    let held = std::mem::take(&mut shard.net.borrow_mut().held);
    if held.is_empty() {
        return;
    }
    let mut keep = Vec::new();
    for conn in held {
        let ready = {
            let mut c = conn.borrow_mut();
            let ready = c.aof_hold <= synced;
            if ready {
                c.held = false;
            }
            ready
        };
        if ready {
            settle(shard, &conn);
        } else {
            keep.push(conn);
        }
    }
    shard.net.borrow_mut().held.extend(keep);
}

/// Queue a connection for `settle_pending`.
pub fn defer_settle(shard: &Shard, conn: &ConnRef) {
    let mut c = conn.borrow_mut();
    if !c.flush_queued {
        c.flush_queued = true;
        shard.net.borrow_mut().pending.push(conn.clone());
    }
}

/// After commands ran: flush, then close or re-register as the state says.
pub fn settle(shard: &Shard, conn: &ConnRef) {
    let id;
    let close;
    {
        let mut c = conn.borrow_mut();
        id = c.client.id;
        crate::shard::pubsub::drain_stalled(shard, &mut c);
        if !c.closed {
            c.flush();
        }
        let limit = crate::shard::pubsub::limit_for(shard, &c);
        crate::shard::pubsub::check_limit(&mut c, &limit);
        close = c.closed || (c.closing && !c.output_pending());
        if !close {
            shard.net.borrow().update_interest(&mut c);
        }
        account_io(shard, &mut c);
    }
    if close {
        close_conn(shard, id);
    } else {
        migrate::maybe_move(shard, conn);
    }
}

/// Handle a readable (or writable) client socket.
fn on_conn_event(shard: &Rc<Shard>, conn: &ConnRef, events: u32) {
    {
        let mut c = conn.borrow_mut();
        let read_ahead = std::mem::take(&mut c.read_ahead);
        if c.busy {
            // Its task owns the flow; a hang-up is noted for the task to act on.
            if events & (sys::HUP | sys::ERR) != 0 {
                c.closed = true;
            } else {
                if c.blocked.is_none() {
                    // Input for a busy task waits in the socket until the task is done
                    // (`settle` registers reading again).
                    if events & sys::IN != 0 {
                        shard.net.borrow().stop_reading(&mut c);
                    }
                } else {
                    // Blocked: what it sends waits in `rbuf` (as Redis keeps reading a blocked
                    // client), and its going away ends the wait.
                    if events & sys::IN != 0 && matches!(c.read(), ReadOutcome::Closed) {
                        c.closed = true;
                    }
                    let limit = shard.config.borrow().client_query_buffer_limit;
                    if c.rbuf.len() as u64 > limit {
                        c.closed = true;
                    }
                }
                // Replies from before the task may still be going out. Level-triggered: an
                // OUT left unanswered would come back on every poll, a busy loop for as long
                // as the task waits.
                if events & sys::OUT != 0 && c.flush() {
                    shard.net.borrow().update_interest(&mut c);
                }
            }
            if c.closed {
                if let Some(ep) = &shard.net.borrow().epoll {
                    let _ = ep.delete(c.fd);
                }
                if let Some(b) = c.blocked.as_mut() {
                    b.cancel(crate::shard::blocking::Cancel::Gone);
                }
            }
            return;
        }
        if events & sys::OUT != 0 && !c.flush() {
            drop(c);
            settle(shard, conn);
            return;
        }
        if !read_ahead && events & (sys::IN | sys::HUP | sys::ERR) != 0 && c.interest & sys::IN != 0
        {
            read_input(shard, &mut c);
        }
    }
    if conn.borrow().closed {
        settle(shard, conn);
        return;
    }
    dispatch::run_input(shard, conn);
}

/// Read a client's socket into its input; a peer gone, or a request past the query buffer
/// limit, marks it closed.
fn read_input(shard: &Shard, c: &mut Conn) {
    if let ReadOutcome::Closed = c.read() {
        c.closed = true;
    }
    let limit = shard.config.borrow().client_query_buffer_limit;
    if c.rbuf.len() as u64 > limit && c.parser.in_progress() {
        logging::warning(&format!(
            "Closing client that reached max query buffer length: id={} addr={}",
            c.client.id, c.client.addr
        ));
        c.closed = true;
    }
}

/// Keys of one round's clients prefetched together by `read_ahead`: eight pipelines of
/// sixteen. The lines they bring (index group, slot, value: about 4 KiB per 16 keys) stay
/// within L1 and L2 until their commands run.
const ROUND_PREFETCH: usize = 128;

/// Read every client that `events` reports readable before running any of their commands, and
/// prefetch the keys they sent, all together: the lookups' cache misses then overlap the
/// later clients' recv calls and each other, instead of stalling each command (or each
/// pipeline's first) in turn. The commands still run in the order the events came
/// (`on_conn_event` finds the input read). Only where a lookup misses the caches
/// (`Db::worth_prefetching`) and several clients are ready.
///
/// Measured (server on CPU 0, `redis-benchmark -c 50 -r 100000` on CPU 1, 3 interleaved
/// rounds, CPU per request against the build before): prefetching each client's first key
/// here gave SET 0.94x and GET 0.96x at `-P 1`, SET 0.92x and GET 0.95x at `-P 16` (README,
/// "How it got there").
fn read_ahead(shard: &Rc<Shard>, events: &[libc::epoll_event]) {
    if events.len() < 2 {
        return;
    }
    let Ok(store) = shard.store.try_borrow() else {
        return;
    };
    let mut ahead = crate::store::prefetch::Prefetch::<'_, ROUND_PREFETCH>::default();
    let mut read = std::mem::take(&mut shard.net.borrow_mut().read_ahead);
    for ev in events {
        let (token, flags) = (ev.u64, ev.events);
        // Only plain input: listeners, wake-ups, served events and writable sockets are left
        // to the loop.
        if token & (LISTEN_TOKEN | WAKE_TOKEN | GLOMMIO_TOKEN) != 0
            || flags & sys::IN == 0
            || flags & sys::OUT != 0
        {
            continue;
        }
        let conn = shard.net.borrow().conns.get(&token).cloned();
        let Some(conn) = conn else { continue };
        let Ok(mut c) = conn.try_borrow_mut() else {
            continue;
        };
        let Some(db) = store.prefetchable(c.client.db) else {
            continue;
        };
        if c.busy || c.closed || c.tls.is_some() || c.interest & sys::IN == 0 {
            continue;
        }
        read_input(shard, &mut c);
        c.read_ahead = true;
        // Past the round's room, a client's keys are prefetched when its commands run.
        if !ahead.is_full() {
            c.prefetched = dispatch::prefetch_keys(shard, db, &c.rbuf, &mut ahead, true);
        }
        drop(c);
        read.push(conn);
    }
    ahead.finish();
    shard.net.borrow_mut().read_ahead = read;
}

/// An event `serve_subscribers_first` has handled.
const SERVED_TOKEN: u64 = u64::MAX;

/// Serve the input (or hang-up) of subscribed clients among `events` before the rest, and
/// mark them SERVED_TOKEN. A subscriber's input is nearly always an (un)subscribe or a hang-up,
/// which a PUBLISH sent after it must see; among sockets that became ready together, epoll's
/// order is not always the order the input came in: a hang-up that arrives while this shard's
/// `send` to that client holds its socket is queued until the send returns, behind a PUBLISH
/// that came later on another socket. The other shards learn of the input being read through
/// this shard's fence (shard/pubsub_fence.rs).
fn serve_subscribers_first(shard: &Rc<Shard>, events: &mut [libc::epoll_event]) {
    for ev in events.iter_mut() {
        let (token, flags) = (ev.u64, ev.events);
        if token & (LISTEN_TOKEN | WAKE_TOKEN | GLOMMIO_TOKEN) != 0 || flags & !sys::OUT == 0 {
            continue;
        }
        let conn = shard.net.borrow().conns.get(&token).cloned();
        let Some(conn) = conn else { continue };
        if conn.try_borrow().is_ok_and(|c| c.client.subs.active()) {
            shard.global.fences[shard.id].reading();
            on_conn_event(shard, &conn, flags);
            ev.u64 = SERVED_TOKEN;
        }
    }
}

/// Accept every pending connection on the listener an epoll `token` (with LISTEN_TOKEN) names.
/// The plain ones are added to `fresh`, if given, for a caller that reads them at once (a
/// script's busy loop, which sees the epoll set only now and then); the network loop leaves
/// them to epoll, which reports them in the order their data came (see `serve`).
fn accept_on(
    shard: &Rc<Shard>,
    ep: &sys::Epoll,
    listeners: &[socket2::Socket],
    tls_listeners: &[socket2::Socket],
    token: u64,
    fresh: Option<&mut Vec<ConnRef>>,
) {
    let tls = token & TLS_LISTEN_TOKEN != 0;
    let idx = (token & !(LISTEN_TOKEN | TLS_LISTEN_TOKEN)) as usize;
    let list = if tls { tls_listeners } else { listeners };
    if let Some(l) = list.get(idx) {
        accept_all(shard, l.as_raw_fd(), ep, tls, fresh);
    }
}

/// Accept every pending connection on a listener (a TLS one if `tls`).
fn accept_all(
    shard: &Rc<Shard>,
    lfd: i32,
    ep: &sys::Epoll,
    tls: bool,
    mut fresh: Option<&mut Vec<ConnRef>>,
) {
    for _ in 0..256 {
        let (fd, peer) = match sys::accept(lfd) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                logging::warning(&format!("Accepting client connection: {e}"));
                return;
            }
        };
        let (maxclients, keepalive, limits, protected) = {
            let cfg = shard.config.borrow();
            (
                cfg.maxclients,
                cfg.tcp_keepalive,
                cfg.parse_limits(),
                cfg.protected_mode,
            )
        };
        let (open, nopass, epoch) = {
            let acl = shard.acl.borrow();
            let nopass = acl.user("default").is_none_or(|u| u.nopass);
            (acl.default_open(), nopass, acl.epoch)
        };
        if protected && nopass && !protected::is_local(peer) {
            let _ = sys::send(fd, protected::DENIED);
            sys::close(fd);
            shard.stats.borrow_mut().rejected_connections += 1;
            continue;
        }
        let g = &shard.global;
        if g.connected.fetch_add(1, Ordering::AcqRel) as u64 >= maxclients {
            g.connected.fetch_sub(1, Ordering::AcqRel);
            if !tls {
                // A TLS client could not read it before a handshake.
                let _ = sys::send(fd, b"-ERR max number of clients reached\r\n");
            }
            sys::close(fd);
            shard.stats.borrow_mut().rejected_connections += 1;
            continue;
        }
        sys::tune_client_socket(fd, keepalive);
        let id = g.next_client_id.fetch_add(1, Ordering::AcqRel);
        let addr = peer.map_or_else(|| "?:0".to_string(), |a| a.to_string());
        let laddr = sys::local_addr(fd).map_or_else(|| "?:0".to_string(), |a| a.to_string());
        let mut c = Conn::new(fd, conn::ClientState::new(id, addr, laddr), limits);
        // Receive times are on (inherited from the listener) for the first reads only.
        if shard.net.borrow().stamped && !tls {
            c.stamp_reads = conn::STAMP_FIRST_READS;
        }
        if tls {
            match tls::accept() {
                Ok(session) => c.tls = Some(Box::new(session)),
                Err(e) => {
                    logging::warning(&format!("Error accepting a TLS connection: {e}"));
                    sys::close(fd);
                    g.connected.fetch_sub(1, Ordering::AcqRel);
                    continue;
                }
            }
        }
        c.interest = sys::IN;
        c.client.authenticated = open;
        c.parser.set_unauthenticated(!open);
        c.client.acl.epoch = Some(epoch);
        if ep.add(fd, sys::IN, id).is_err() {
            sys::close(fd);
            g.connected.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        shard.stats.borrow_mut().total_connections_received += 1;
        let conn = Rc::new(RefCell::new(c));
        shard.net.borrow_mut().conns.insert(id, conn.clone());
        if let Some(fresh) = fresh.as_deref_mut().filter(|_| !tls) {
            fresh.push(conn);
        }
    }
}

/// The shard's network loop. Returns at shutdown, after closing every connection.
pub async fn serve(
    shard: Rc<Shard>,
    listeners: Vec<socket2::Socket>,
    tls_listeners: Vec<socket2::Socket>,
) -> anyhow::Result<()> {
    let ep = Rc::new(sys::Epoll::new()?);
    for (i, l) in listeners.iter().enumerate() {
        ep.add(l.as_raw_fd(), sys::IN, LISTEN_TOKEN | i as u64)?;
    }
    for (i, l) in tls_listeners.iter().enumerate() {
        ep.add(
            l.as_raw_fd(),
            sys::IN,
            LISTEN_TOKEN | TLS_LISTEN_TOKEN | i as u64,
        )?;
    }
    let wake = shard.global.wakers[shard.id].clone();
    ep.add(wake.fd(), sys::IN, WAKE_TOKEN)?;
    shard.net.borrow_mut().epoll = Some(ep.clone());
    let listeners = Rc::new(listeners);
    let tls_listeners = Rc::new(tls_listeners);
    busy::register(&shard, &listeners, &tls_listeners);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
    let spin = std::time::Duration::from_micros(shard.config.borrow().shard_spin_us);
    let mut poll_failed = false;
    let park_grid = std::time::Instant::now();
    let mut outside = OutsideSleep::default();
    // What the other shards' PUBLISH checks of this one (shard/pubsub_fence.rs).
    let fence = &shard.global.fences[shard.id];

    'outer: loop {
        shard.global.pulses[shard.id].beat();
        fence.turn();
        let due = {
            let mut net = shard.net.borrow_mut();
            let due = std::mem::take(&mut net.after_pass[2]);
            net.after_pass.rotate_right(1);
            due
        };
        for f in due {
            f(&shard);
        }
        let mut n = ep.wait(&mut events, 0)?;
        if n == 0 {
            fence.idle();
            if shard.global.shutdown.load(Ordering::Acquire) {
                break;
            }
            if shard.net.borrow().pass_work_pending() {
                // Passes are owed to a barrier: no sleeping until they are made.
                glommio::executor().yield_now().await;
                continue;
            }
            // Optionally spin a little before parking (lower wake-up latency, more CPU).
            let deadline = (!spin.is_zero()).then(|| std::time::Instant::now() + spin);
            while n == 0 && deadline.is_some_and(|d| std::time::Instant::now() < d) {
                glommio::executor().yield_now().await;
                n = ep.wait(&mut events, 0)?;
            }
            if n == 0 && !outside.failed {
                // Sleep in epoll_wait on our own set, as Redis does, when nothing else on this
                // executor is due (see `OutsideSleep`). Bounded like the park below.
                let mut failed = None;
                let slept = glommio::executor().sleep_with(|fds, next_timer| {
                    if let Err(e) = outside.register(&ep, fds) {
                        failed = Some(e);
                        return true;
                    }
                    let bound = park_bound(park_grid);
                    let timeout = next_timer.map_or(bound, |t| t.min(bound));
                    // Rounded up: a timer is never served early, at most 1 ms late.
                    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                    match ep.wait_or_interrupted(&mut events, ms) {
                        // Done unless only the executor's own fds (or their task work, which
                        // interrupts the wait) woke us: it looks at what they brought, and
                        // lets us sleep on if that woke no task (the preemption timer fired).
                        Ok(None) => {
                            n = 0;
                            false
                        }
                        Ok(Some(m)) => {
                            n = m;
                            m == 0 || events[..m].iter().any(|e| e.u64 != GLOMMIO_TOKEN)
                        }
                        Err(e) => {
                            failed = Some(e);
                            true
                        }
                    }
                });
                if let Some(e) = failed {
                    outside.failed = true;
                    logging::warning(&format!(
                        "shard {}: sleeping in epoll_wait failed ({e}); waiting through \
                         io_uring instead",
                        shard.id
                    ));
                    continue;
                }
                match slept {
                    glommio::OutsideSleep::Slept if n == 0 => continue,
                    glommio::OutsideSleep::Slept => {}
                    // A timer or another thread's wake-up woke a task: let it run, then look
                    // again (one wake-up, no io_uring round trip).
                    glommio::OutsideSleep::Woke => {
                        glommio::executor().yield_now().await;
                        continue;
                    }
                    // Another task of this queue is runnable (a connection woken by another
                    // shard's reply, the inbox): yield to it, then look at the sockets and try
                    // to sleep again. Parking through io_uring instead cost a POLL_ADD and an
                    // io_uring_enter, and left the sleep to glommio, not epoll_wait.
                    glommio::OutsideSleep::Queued => {
                        glommio::executor().yield_now().await;
                        continue;
                    }
                    // Another queue's task is runnable: the park below lets it run.
                    glommio::OutsideSleep::Busy => {}
                }
            }
            if n == 0 {
                // The wait is bounded so that the heartbeat moves while idle, and so that even
                // a wake-up gone missing costs at most PARK_BOUND. Idle: 100 wake-ups/s.
                let park = std::pin::pin!(glommio::net::poll_readable(ep.fd()));
                let tick = std::pin::pin!(glommio::timer::sleep(park_bound(park_grid)));
                if let futures::future::Either::Left((Err(e), tick)) =
                    futures::future::select(park, tick).await
                {
                    // A poll that fails at once must not turn the wait into a busy loop: fall
                    // back to looking every PARK_BOUND.
                    if !poll_failed {
                        poll_failed = true;
                        logging::warning(&format!(
                            "shard {}: waiting for sockets through io_uring failed ({e}); \
                             polling every {} ms instead",
                            shard.id,
                            PARK_BOUND.as_millis()
                        ));
                    }
                    tick.await;
                }
                continue;
            }
        }
        if crate::shard::pubsub::anyone_listening(&shard) {
            serve_subscribers_first(&shard, &mut events[..n]);
        }
        read_ahead(&shard, &events[..n]);
        for ev in &events[..n] {
            let (token, flags) = (ev.u64, ev.events);
            if token == SERVED_TOKEN {
                continue;
            }
            if token == GLOMMIO_TOKEN {
                // The executor's own business: it sees to it when this task next yields.
                continue;
            }
            if token == WAKE_TOKEN {
                wake.drain();
                if shard.global.shutdown.load(Ordering::Acquire) {
                    break 'outer;
                }
            } else if token & LISTEN_TOKEN != 0 {
                // New connections are read when epoll next reports them, a moment later, not
                // at once: it reports sockets in the order their data came, so a request sent
                // after another client's is not read first (two fresh clients' BLPOPs and a
                // push). Redis too reads a new connection in its next round.
                accept_on(&shard, &ep, &listeners, &tls_listeners, token, None);
            } else {
                let conn = shard.net.borrow().conns.get(&token).cloned();
                if let Some(conn) = conn {
                    on_conn_event(&shard, &conn, flags);
                }
            }
        }
        shard.net.borrow_mut().read_ahead.clear();
        settle_pending(&shard);
        shard.aof_kick();
        glommio::executor().yield_now().await;
    }

    // Shutdown: stop accepting, flush what we can, close every client.
    drop(listeners);
    drop(tls_listeners);
    let ids: Vec<u64> = shard.net.borrow().conns.keys().copied().collect();
    for id in ids {
        let c = shard.net.borrow().conns.get(&id).cloned();
        if let Some(c) = c {
            c.borrow_mut().flush();
        }
        close_conn(&shard, id);
    }
    Ok(())
}
