//! `loadgen`: a memtier_benchmark-style load generator for any Redis-compatible server.
//!
//! Each thread drives its connections from one epoll loop over non-blocking sockets (no async
//! runtime): requests are encoded straight into per-connection write buffers and replies are
//! matched to requests in order by a zero-copy RESP parser (`loadgen/resp.rs`), so the client
//! costs little per request and measures the server, not itself.
//!
//! Two modes:
//! * closed loop (default): every connection keeps `--pipeline` requests in flight;
//! * open loop (`--rate N`): requests are scheduled at fixed intervals for a total of N per
//!   second and latency is measured from each request's *intended* send time, so a stalled
//!   server (or client) shows up in the percentiles instead of silently slowing the schedule
//!   (coordinated omission). How far the sends fell behind schedule is reported as well.
//!
//! Run: `cargo bench --bench loadgen -- --port 6379 --pipeline 16` (see `--help` and README).

#[path = "loadgen/resp.rs"]
mod resp;

use hdrhistogram::Histogram;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

const USAGE: &str = "\
loadgen: a load generator for Redis-compatible servers (RESP2 over TCP)

USAGE: loadgen [OPTIONS]      (cargo bench --bench loadgen -- [OPTIONS])

Connection:
  --host HOST             server host [127.0.0.1]
  --port PORT             server port [6379]
  --threads N             client threads [1]
  --connections N         connections per thread [50]
  --pipeline N            requests in flight per connection [1]; in the open loop,
                          requests go out in batches of N (one batch per connection at a
                          time, a batch due every N/rate seconds, round robin)
Load:
  --rate N                open loop: N requests/s in total, latency from the intended send
                          time (coordinated-omission corrected); default: closed loop
  --duration SECS         run length [10, unless --requests is given]
  --requests N            total requests (instead of, or as well as, --duration)
  --drain-timeout SECS    how long to wait for outstanding replies at the end [5]
Workload:
  --ratio SET:GET         command mix [1:10]
  --key-pattern P         uniform | zipf:<s> | sequential [uniform]
  --keyspace N            distinct keys [100000]
  --key-prefix S          key prefix [key:]; keys are the prefix and a 12-digit index
  --data-size N|MIN-MAX   SET value size in bytes, fixed or uniform in a range [64]
  --prefill               SET every key once before measuring
  --seed N                random seed [1]
Output:
  --csv FILE              summary as CSV (one row per command type, latencies in ms)
  --hdr-out PREFIX        percentile distributions (HdrHistogram .hgrm text, ms) to
                          PREFIX_ALL.hgrm, PREFIX_SET.hgrm, PREFIX_GET.hgrm
  --quiet                 no progress lines
  -h, --help              this text
";

/// Command types, indexing the per-command counters.
const SET: usize = 0;
const GET: usize = 1;
const CMD_NAMES: [&str; 2] = ["SET", "GET"];

/// Histogram range: 1 ns .. 1 hour, 3 significant digits.
fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("histogram bounds")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum KeyPattern {
    Uniform,
    Zipf(f64),
    Sequential,
}

#[derive(Clone, Debug)]
struct Opts {
    host: String,
    port: u16,
    threads: usize,
    connections: usize,
    pipeline: usize,
    rate: Option<f64>,
    duration: Option<f64>,
    requests: Option<u64>,
    drain_timeout: f64,
    ratio: (u32, u32),
    key_pattern: KeyPattern,
    keyspace: u64,
    key_prefix: String,
    data_size: (usize, usize),
    prefill: bool,
    seed: u64,
    csv: Option<String>,
    hdr_out: Option<String>,
    quiet: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            host: "127.0.0.1".into(),
            port: 6379,
            threads: 1,
            connections: 50,
            pipeline: 1,
            rate: None,
            duration: None,
            requests: None,
            drain_timeout: 5.0,
            ratio: (1, 10),
            key_pattern: KeyPattern::Uniform,
            keyspace: 100_000,
            key_prefix: "key:".into(),
            data_size: (64, 64),
            prefill: false,
            seed: 1,
            csv: None,
            hdr_out: None,
            quiet: false,
        }
    }
}

/// What `parse_args` asks the program to do.
enum Parsed {
    Run(Box<Opts>),
    Help,
}

fn parse_args(args: &[String]) -> Result<Parsed, String> {
    // `cargo bench` appends `--bench`; a plain `cargo bench` (all benches) passes only that, and
    // must not start a load run against whatever listens on 6379.
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--bench")
        .collect();
    if args.is_empty() {
        return Ok(Parsed::Help);
    }
    let mut o = Opts::default();
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        if matches!(flag, "-h" | "--help") {
            return Ok(Parsed::Help);
        }
        if flag == "--prefill" {
            o.prefill = true;
            continue;
        }
        if flag == "--quiet" {
            o.quiet = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| -> Result<u64, String> {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        let float = |v: &str| -> Result<f64, String> {
            match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
                _ => Err(format!("{flag}: not a positive number: {v}")),
            }
        };
        match flag {
            "--host" => o.host = v.to_string(),
            "--port" => o.port = num(v)?.try_into().map_err(|_| "bad --port")?,
            "--threads" => o.threads = num(v)? as usize,
            "--connections" => o.connections = num(v)? as usize,
            "--pipeline" => o.pipeline = num(v)? as usize,
            "--rate" => o.rate = Some(float(v)?),
            "--duration" => o.duration = Some(float(v)?),
            "--requests" => o.requests = Some(num(v)?),
            "--drain-timeout" => o.drain_timeout = float(v)?,
            "--ratio" => {
                let (s, g) = v
                    .split_once(':')
                    .ok_or("--ratio wants SET:GET, e.g. 1:10")?;
                o.ratio = (num(s)? as u32, num(g)? as u32);
                if o.ratio.0 as u64 + o.ratio.1 as u64 == 0 {
                    return Err("--ratio: both parts are 0".into());
                }
            }
            "--key-pattern" => {
                o.key_pattern = match v {
                    "uniform" => KeyPattern::Uniform,
                    "sequential" => KeyPattern::Sequential,
                    _ => match v.strip_prefix("zipf:") {
                        Some(s) => KeyPattern::Zipf(float(s)?),
                        None => return Err(format!("--key-pattern: unknown pattern {v}")),
                    },
                }
            }
            "--keyspace" => o.keyspace = num(v)?,
            "--key-prefix" => o.key_prefix = v.to_string(),
            "--data-size" => {
                o.data_size = match v.split_once('-') {
                    Some((a, b)) => (num(a)? as usize, num(b)? as usize),
                    None => (num(v)? as usize, num(v)? as usize),
                };
                if o.data_size.0 > o.data_size.1 {
                    return Err("--data-size: MIN is above MAX".into());
                }
            }
            "--seed" => o.seed = num(v)?,
            "--csv" => o.csv = Some(v.to_string()),
            "--hdr-out" => o.hdr_out = Some(v.to_string()),
            _ => return Err(format!("unknown option {flag} (see --help)")),
        }
    }
    if o.threads == 0 || o.connections == 0 || o.pipeline == 0 || o.keyspace == 0 {
        return Err("--threads, --connections, --pipeline and --keyspace must be > 0".into());
    }
    if o.duration.is_none() && o.requests.is_none() {
        o.duration = Some(10.0);
    }
    Ok(Parsed::Run(Box::new(o)))
}

// ---------------------------------------------------------------------------------------------
// Clock, keys, values.

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec out-pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Zipf-distributed ranks 1..=n with exponent s, by rejection-inversion (Hörmann and
/// Derflinger, as in Apache Commons' `RejectionInversionZipfSampler`): O(1) per sample with no
/// table, so a keyspace of any size works.
#[derive(Clone, Debug)]
struct Zipf {
    s: f64,
    n: f64,
    h_x1: f64,
    h_n: f64,
    cut: f64,
}

impl Zipf {
    fn new(n: u64, s: f64) -> Zipf {
        let mut z = Zipf {
            s,
            n: n as f64,
            h_x1: 0.0,
            h_n: 0.0,
            cut: 0.0,
        };
        z.h_x1 = z.h_integral(1.5) - 1.0;
        z.h_n = z.h_integral(z.n + 0.5);
        z.cut = 2.0 - z.h_integral_inv(z.h_integral(2.5) - z.h(2.0));
        z
    }
    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }
    fn h_integral(&self, x: f64) -> f64 {
        let lx = x.ln();
        helper2((1.0 - self.s) * lx) * lx
    }
    fn h_integral_inv(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }
    /// A rank in 1..=n (1 the most frequent).
    fn sample(&self, rng: &mut fastrand::Rng) -> u64 {
        loop {
            let u = self.h_n + rng.f64() * (self.h_x1 - self.h_n);
            let x = self.h_integral_inv(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.cut || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }
}

/// ln(1+x)/x, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x - 1)/x, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

/// Picks keys (as indexes into the keyspace) for one thread.
struct KeyGen {
    pattern: KeyPattern,
    keyspace: u64,
    next_seq: u64,
    zipf: Option<Zipf>,
}

impl KeyGen {
    fn new(pattern: KeyPattern, keyspace: u64, seq_start: u64) -> KeyGen {
        KeyGen {
            pattern,
            keyspace,
            next_seq: seq_start % keyspace,
            zipf: match pattern {
                KeyPattern::Zipf(s) => Some(Zipf::new(keyspace, s)),
                _ => None,
            },
        }
    }
    fn next(&mut self, rng: &mut fastrand::Rng) -> u64 {
        match self.pattern {
            KeyPattern::Uniform => rng.u64(0..self.keyspace),
            KeyPattern::Sequential => {
                let k = self.next_seq;
                self.next_seq = if k + 1 == self.keyspace { 0 } else { k + 1 };
                k
            }
            KeyPattern::Zipf(_) => self.zipf.as_ref().expect("zipf").sample(rng) - 1,
        }
    }
}

/// Writes requests into a connection's output buffer.
struct Encoder {
    prefix: Vec<u8>,
    /// `max` bytes of value; a SET sends a prefix of it.
    value: Vec<u8>,
    size: (usize, usize),
}

impl Encoder {
    fn key(&self, out: &mut Vec<u8>, k: u64) {
        let mut digits = itoa::Buffer::new();
        let d = digits.format(k).as_bytes();
        let pad = 12usize.saturating_sub(d.len());
        let klen = self.prefix.len() + pad + d.len();
        out.push(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(klen).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&b"000000000000"[..pad]);
        out.extend_from_slice(d);
        out.extend_from_slice(b"\r\n");
    }
    fn set(&self, out: &mut Vec<u8>, k: u64, rng: &mut fastrand::Rng) {
        out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
        self.key(out, k);
        let n = if self.size.0 == self.size.1 {
            self.size.0
        } else {
            rng.usize(self.size.0..=self.size.1)
        };
        out.push(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.value[..n]);
        out.extend_from_slice(b"\r\n");
    }
    fn get(&self, out: &mut Vec<u8>, k: u64) {
        out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
        self.key(out, k);
    }
}

// ---------------------------------------------------------------------------------------------
// epoll plumbing.

struct Epoll(i32);

impl Epoll {
    fn new() -> std::io::Result<Epoll> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Epoll(fd))
    }
    fn ctl(&self, op: i32, fd: i32, events: u32, token: u64) -> std::io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: valid epoll fd and event pointer.
        if unsafe { libc::epoll_ctl(self.0, op, fd, &mut ev) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> usize {
        // SAFETY: the buffer is valid for `events.len()` entries.
        let n = unsafe {
            libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, timeout_ms)
        };
        n.max(0) as usize // EINTR: no events
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.0) };
    }
}

/// A CLOCK_MONOTONIC timerfd with absolute deadlines: microsecond-precise wakeups for the open
/// loop's send schedule where epoll_pwait2 is missing (epoll_wait's timeout is in milliseconds).
struct Timer {
    fd: i32,
    armed_at: u64,
}

impl Timer {
    fn new() -> std::io::Result<Timer> {
        // SAFETY: plain syscall.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Timer { fd, armed_at: 0 })
    }
    /// Fire at `at_ns` (CLOCK_MONOTONIC); 0 disarms. Re-arming also clears a pending expiry.
    fn arm(&mut self, at_ns: u64) {
        if at_ns == self.armed_at {
            return;
        }
        self.armed_at = at_ns;
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (at_ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (at_ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: valid fd and itimerspec.
        unsafe {
            libc::timerfd_settime(
                self.fd,
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
    }
    fn fired(&mut self) {
        // Nothing to read: the next `arm` clears the expiry.
        self.armed_at = 0;
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.fd) };
    }
}

// ---------------------------------------------------------------------------------------------
// The per-thread client.

/// Token of the timerfd in the epoll set (connections use their index).
const TIMER_TOKEN: u64 = u64::MAX;

/// Initial size of a connection's read buffer (it doubles for a larger reply).
const READ_BUF: usize = 64 * 1024;

struct Conn {
    sock: TcpStream,
    wbuf: Vec<u8>,
    wpos: usize,
    /// EPOLLOUT is registered (the last write was partial).
    want_out: bool,
    /// Replies read: unparsed bytes are `rbuf[rstart..rend]`.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Requests sent and not yet answered: (command type, start time for the latency).
    inflight: VecDeque<(u8, u64)>,
    /// Open loop: requests due (their intended send times) that wait for a pipeline slot.
    backlog: VecDeque<u64>,
}

/// What one phase (prefill or the measured run) of a thread does.
#[derive(Clone)]
struct Phase {
    /// Requests this thread sends (u64::MAX: until the deadline).
    quota: u64,
    /// Run length (0: none).
    duration_ns: u64,
    /// Open loop: ns between this thread's batches of `pipeline` requests; 0: closed loop.
    interval_ns: f64,
    /// Open loop: offset of this thread's first send from the start.
    offset_ns: u64,
    set_weight: u32,
    get_weight: u32,
    keys: KeyPatternStart,
    pipeline: usize,
    /// Record latencies and report progress.
    measure: bool,
}

#[derive(Clone, Copy)]
struct KeyPatternStart {
    pattern: KeyPattern,
    seq_start: u64,
}

/// A thread's results.
struct Stats {
    hist: [Histogram<u64>; 2],
    errors: [u64; 2],
    /// Open loop: actual minus intended send time of every request (the generator's own delay
    /// plus any wait for a pipeline slot, i.e. for the server to answer earlier requests).
    lag: Histogram<u64>,
    /// Open loop: the generator's own delay: when its loop got to a request minus its intended
    /// send time (its wake-up latency, or the CPU it lacked).
    sched_lag: Histogram<u64>,
    /// Requests sent but not answered when the drain timed out, plus open-loop requests that
    /// were due but never sent.
    unfinished: u64,
    /// When the last reply came (ns, monotonic).
    end_ns: u64,
    fatal: Option<String>,
}

/// Progress reported once a second to the main thread.
struct Tick {
    done: u64,
    errors: u64,
    hist: Histogram<u64>,
    /// Open loop: how far behind schedule the oldest unsent request is (ns).
    behind_ns: u64,
    /// The thread's run is over (this is its last report).
    last: bool,
}

struct Worker {
    conns: Vec<Conn>,
    epoll: Epoll,
    timer: Timer,
    rng: fastrand::Rng,
    enc: Arc<Encoder>,
    keyspace: u64,
    stop: Arc<AtomicBool>,
    progress: Option<mpsc::Sender<Tick>>,
    /// The kernel has epoll_pwait2 (Linux 5.11+).
    pwait2: bool,
}

impl Worker {
    fn connect(
        o: &Opts,
        thread: usize,
        enc: Arc<Encoder>,
        stop: Arc<AtomicBool>,
    ) -> Result<Worker, String> {
        let addr = (o.host.as_str(), o.port)
            .to_socket_addrs()
            .map_err(|e| format!("{}:{}: {e}", o.host, o.port))?
            .next()
            .ok_or_else(|| format!("{}:{}: no address", o.host, o.port))?;
        let epoll = Epoll::new().map_err(|e| e.to_string())?;
        let timer = Timer::new().map_err(|e| e.to_string())?;
        epoll
            .ctl(
                libc::EPOLL_CTL_ADD,
                timer.fd,
                libc::EPOLLIN as u32,
                TIMER_TOKEN,
            )
            .map_err(|e| e.to_string())?;
        let mut conns = Vec::with_capacity(o.connections);
        for i in 0..o.connections {
            let sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .map_err(|e| format!("connect {addr}: {e}"))?;
            sock.set_nodelay(true).map_err(|e| e.to_string())?;
            sock.set_nonblocking(true).map_err(|e| e.to_string())?;
            epoll
                .ctl(
                    libc::EPOLL_CTL_ADD,
                    sock.as_raw_fd(),
                    libc::EPOLLIN as u32,
                    i as u64,
                )
                .map_err(|e| e.to_string())?;
            conns.push(Conn {
                sock,
                wbuf: Vec::with_capacity(64 * 1024),
                wpos: 0,
                want_out: false,
                rbuf: vec![0; READ_BUF],
                rstart: 0,
                rend: 0,
                inflight: VecDeque::with_capacity(o.pipeline),
                backlog: VecDeque::new(),
            });
        }
        Ok(Worker {
            conns,
            epoll,
            timer,
            rng: fastrand::Rng::with_seed(
                o.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ thread as u64,
            ),
            enc,
            keyspace: o.keyspace,
            stop,
            progress: None,
            pwait2: true,
        })
    }

    /// Runs one phase to its end (quota sent and answered, or deadline and drain).
    fn run(&mut self, ph: &Phase, drain_ns: u64) -> Stats {
        let mut st = Stats {
            hist: [new_hist(), new_hist()],
            errors: [0; 2],
            lag: new_hist(),
            sched_lag: new_hist(),
            unfinished: 0,
            end_ns: 0,
            fatal: None,
        };
        let mut tick_hist = new_hist();
        let (mut tick_done, mut tick_errors) = (0u64, 0u64);
        let mut keys = KeyGen::new(ph.keys.pattern, self.keyspace, ph.keys.seq_start);
        let weights = ph.set_weight + ph.get_weight;
        let open = ph.interval_ns > 0.0;
        let n = self.conns.len();
        let start = now_ns();
        let deadline = if ph.duration_ns > 0 {
            start + ph.duration_ns
        } else {
            u64::MAX
        };
        let mut next_tick = start + 1_000_000_000;
        let mut issued = 0u64; // requests created (sent or in a backlog)
        let mut stopped_at = u64::MAX; // when issuing stopped: the drain starts
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut dirty: Vec<usize> = Vec::with_capacity(n);
        let mut rr = 0usize; // open loop: next connection in turn
        let mut batches = 0u64; // open loop: batches scheduled

        // Issue one request on connection `c` with latency start `t0` (not yet written).
        macro_rules! issue {
            ($c:expr, $t0:expr) => {{
                let c: usize = $c;
                let k = keys.next(&mut self.rng);
                let conn = &mut self.conns[c];
                let cmd = if ph.get_weight == 0
                    || (ph.set_weight > 0 && self.rng.u32(0..weights) < ph.set_weight)
                {
                    self.enc.set(&mut conn.wbuf, k, &mut self.rng);
                    SET
                } else {
                    self.enc.get(&mut conn.wbuf, k);
                    GET
                };
                conn.inflight.push_back((cmd as u8, $t0));
            }};
        }

        let mut now = start;
        loop {
            if self.stop.load(Ordering::Relaxed) && stopped_at == u64::MAX {
                stopped_at = now;
            }
            if now >= deadline && stopped_at == u64::MAX {
                stopped_at = now;
            }
            let issuing = stopped_at == u64::MAX && issued < ph.quota;

            // Create the requests that are due.
            if open {
                if issuing {
                    loop {
                        let due = start + ph.offset_ns + (batches as f64 * ph.interval_ns) as u64;
                        if due > now || due >= deadline || issued >= ph.quota {
                            break;
                        }
                        // A batch of `pipeline` requests, all due now, for the next connection.
                        let c = rr;
                        rr = if rr + 1 == n { 0 } else { rr + 1 };
                        batches += 1;
                        let size = (ph.pipeline as u64).min(ph.quota - issued);
                        issued += size;
                        if ph.measure {
                            st.sched_lag.saturating_record_n(now - due, size);
                        }
                        for _ in 0..size {
                            if self.conns[c].inflight.len() < ph.pipeline {
                                issue!(c, due);
                                if ph.measure {
                                    st.lag.saturating_record(now - due);
                                }
                            } else {
                                self.conns[c].backlog.push_back(due);
                            }
                        }
                        dirty.push(c);
                    }
                }
            } else if issuing {
                for c in 0..n {
                    let mut added = false;
                    while self.conns[c].inflight.len() < ph.pipeline && issued < ph.quota {
                        issue!(c, now);
                        issued += 1;
                        added = true;
                    }
                    if added {
                        dirty.push(c);
                    }
                }
            }

            // Write what was queued.
            for &c in &dirty {
                if let Err(e) = self.flush(c) {
                    st.fatal = Some(e);
                }
            }
            dirty.clear();
            if st.fatal.is_some() {
                break;
            }

            // Finished?
            let outstanding: usize = self
                .conns
                .iter()
                .map(|c| c.inflight.len() + c.backlog.len())
                .sum();
            let quota_done = issued >= ph.quota && outstanding == 0;
            if quota_done || (stopped_at != u64::MAX && outstanding == 0) {
                break;
            }
            if stopped_at != u64::MAX && now >= stopped_at.saturating_add(drain_ns) {
                st.unfinished += outstanding as u64;
                break;
            }

            // Progress.
            if ph.measure && now >= next_tick {
                next_tick += 1_000_000_000;
                if let Some(tx) = &self.progress {
                    let behind_ns = self
                        .conns
                        .iter()
                        .filter_map(|c| c.backlog.front())
                        .map(|&t| now.saturating_sub(t))
                        .max()
                        .unwrap_or(0);
                    let hist = std::mem::replace(&mut tick_hist, new_hist());
                    let _ = tx.send(Tick {
                        done: std::mem::take(&mut tick_done),
                        errors: std::mem::take(&mut tick_errors),
                        hist,
                        behind_ns,
                        last: false,
                    });
                }
            }

            // Sleep until something happens: a reply, the next scheduled send, a tick, the end.
            let mut wake = next_tick.min(deadline);
            if stopped_at != u64::MAX {
                wake = wake.min(stopped_at.saturating_add(drain_ns));
            }
            if open && issuing {
                let due = start + ph.offset_ns + (batches as f64 * ph.interval_ns) as u64;
                wake = wake.min(due);
            }
            let nev = self.wait(&mut events, wake);
            now = now_ns();
            for ev in &events[..nev] {
                let token = ev.u64;
                if token == TIMER_TOKEN {
                    self.timer.fired();
                    continue;
                }
                let c = token as usize;
                let flags = ev.events;
                if flags & libc::EPOLLOUT as u32 != 0 {
                    if let Err(e) = self.flush(c) {
                        st.fatal = Some(e);
                        break;
                    }
                }
                if flags & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 {
                    continue;
                }
                match self.read(c, now, ph.measure, &mut st, &mut tick_hist) {
                    Ok((got, errs)) => {
                        tick_done += got;
                        tick_errors += errs;
                        if got > 0 {
                            st.end_ns = now;
                        }
                    }
                    Err(e) => {
                        st.fatal = Some(e);
                        break;
                    }
                }
                // Refill this connection's pipeline.
                if open {
                    let mut added = false;
                    while self.conns[c].inflight.len() < ph.pipeline {
                        let Some(due) = self.conns[c].backlog.pop_front() else {
                            break;
                        };
                        issue!(c, due);
                        if ph.measure {
                            st.lag.saturating_record(now - due);
                        }
                        added = true;
                    }
                    if added {
                        dirty.push(c);
                    }
                } else if stopped_at == u64::MAX && issued < ph.quota {
                    let mut added = false;
                    while self.conns[c].inflight.len() < ph.pipeline && issued < ph.quota {
                        issue!(c, now);
                        issued += 1;
                        added = true;
                    }
                    if added {
                        dirty.push(c);
                    }
                }
            }
            if st.fatal.is_some() {
                break;
            }
        }
        if open && ph.quota != u64::MAX && issued < ph.quota && stopped_at == u64::MAX {
            st.unfinished += ph.quota - issued;
        }
        self.timer.arm(0);
        if st.end_ns == 0 {
            st.end_ns = now_ns();
        }
        if ph.measure {
            if let Some(tx) = &self.progress {
                let _ = tx.send(Tick {
                    done: tick_done,
                    errors: tick_errors,
                    hist: tick_hist,
                    behind_ns: 0,
                    last: true,
                });
            }
        }
        st
    }

    /// Waits for events until `wake` (ns, CLOCK_MONOTONIC) at the latest, with microsecond
    /// precision: epoll_pwait2's nanosecond timeout, or where the kernel lacks it (before 5.11)
    /// a timerfd in the epoll set (epoll_wait's own timeout is in milliseconds).
    fn wait(&mut self, events: &mut [libc::epoll_event], wake: u64) -> usize {
        let now = now_ns();
        if wake <= now + 2_000 {
            return self.epoll.wait(events, 0); // due (almost) now: just poll
        }
        let rel = wake - now;
        if self.pwait2 {
            let ts = libc::timespec {
                tv_sec: (rel / 1_000_000_000) as libc::time_t,
                tv_nsec: (rel % 1_000_000_000) as libc::c_long,
            };
            // SAFETY: valid epoll fd, event buffer, timespec; no signal mask.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    self.epoll.0,
                    events.as_mut_ptr(),
                    events.len() as libc::c_int,
                    &ts as *const libc::timespec,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            };
            if n >= 0 {
                return n as usize;
            }
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
                return 0; // EINTR
            }
            self.pwait2 = false;
        }
        // Coarse timeout as a backstop; the timer wakes us on time.
        if rel < 1_000_000_000 {
            self.timer.arm(wake);
        }
        let n = self
            .epoll
            .wait(events, (rel / 1_000_000 + 1).min(1000) as i32);
        self.timer.arm(0);
        n
    }

    /// Writes the connection's pending output; registers for EPOLLOUT if the socket is full.
    fn flush(&mut self, c: usize) -> Result<(), String> {
        let conn = &mut self.conns[c];
        while conn.wpos < conn.wbuf.len() {
            match conn.sock.write(&conn.wbuf[conn.wpos..]) {
                Ok(0) => return Err("connection closed while writing".into()),
                Ok(k) => conn.wpos += k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        let pending = conn.wpos < conn.wbuf.len();
        if !pending {
            conn.wbuf.clear();
            conn.wpos = 0;
        }
        if pending != conn.want_out {
            conn.want_out = pending;
            let ev = if pending {
                (libc::EPOLLIN | libc::EPOLLOUT) as u32
            } else {
                libc::EPOLLIN as u32
            };
            self.epoll
                .ctl(libc::EPOLL_CTL_MOD, conn.sock.as_raw_fd(), ev, c as u64)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Reads what the connection has and consumes every complete reply: (replies, errors).
    fn read(
        &mut self,
        c: usize,
        now: u64,
        measure: bool,
        st: &mut Stats,
        tick: &mut Histogram<u64>,
    ) -> Result<(u64, u64), String> {
        let conn = &mut self.conns[c];
        let (mut got, mut errs) = (0u64, 0u64);
        loop {
            // Room at the end of the buffer (it stays initialized: no zeroing per read).
            if conn.rstart == conn.rend {
                conn.rstart = 0;
                conn.rend = 0;
            }
            if conn.rend == conn.rbuf.len() {
                if conn.rstart > 0 {
                    conn.rbuf.copy_within(conn.rstart..conn.rend, 0);
                    conn.rend -= conn.rstart;
                    conn.rstart = 0;
                } else {
                    // One reply larger than the buffer.
                    let n = conn.rbuf.len() * 2;
                    conn.rbuf.resize(n, 0);
                }
            }
            let room = conn.rbuf.len() - conn.rend;
            let k = match conn.sock.read(&mut conn.rbuf[conn.rend..]) {
                Ok(0) => {
                    return Err(format!(
                        "connection {c} closed by the server ({} requests unanswered)",
                        conn.inflight.len()
                    ));
                }
                Ok(k) => k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read: {e}")),
            };
            conn.rend += k;
            // Consume the complete replies.
            while conn.rstart < conn.rend {
                let Some(reply) = resp::parse(&conn.rbuf[conn.rstart..conn.rend])
                    .map_err(|e| format!("bad reply from the server: {e}"))?
                else {
                    break;
                };
                conn.rstart += reply.len;
                let Some((cmd, t0)) = conn.inflight.pop_front() else {
                    return Err("a reply for no request".into());
                };
                got += 1;
                if reply.error {
                    errs += 1;
                    st.errors[cmd as usize] += 1;
                }
                if measure {
                    let lat = now.saturating_sub(t0).max(1);
                    st.hist[cmd as usize].saturating_record(lat);
                    tick.saturating_record(lat);
                }
            }
            if k < room {
                break; // drained the socket (a full buffer may mean more is waiting)
            }
        }
        Ok((got, errs))
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting.

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

const QUANTILES: [(f64, &str); 6] = [
    (0.5, "p50"),
    (0.9, "p90"),
    (0.99, "p99"),
    (0.999, "p99.9"),
    (0.9999, "p99.99"),
    (1.0, "max"),
];

/// `.hgrm` text (HdrHistogram's percentile distribution format), values in ms.
fn hgrm(h: &Histogram<u64>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let inv = if q < 1.0 {
            format!("{:>14.2}", 1.0 / (1.0 - q))
        } else {
            format!("{:>14}", "inf")
        };
        let _ = writeln!(
            s,
            "{:>12.3} {:>14.12} {:>10} {}",
            ms(v.value_iterated_to()),
            q,
            v.count_since_last_iteration(),
            inv
        );
    }
    let _ = writeln!(
        s,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / 1e6,
        h.stdev() / 1e6
    );
    let _ = writeln!(
        s,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        ms(h.max()),
        h.len()
    );
    let _ = writeln!(
        s,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        // HdrHistogram's sub-bucket count for the precision: 2^ceil(log2(2 * 10^sigfig)).
        (2.0 * 10f64.powi(h.sigfig() as i32)).log2().ceil().exp2() as u64
    );
    s
}

fn fmt_rate(x: f64) -> String {
    // 1234567.8 -> "1 234 568"
    let n = x.round() as u64;
    let d = n.to_string();
    let mut out = String::new();
    for (i, ch) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_args(&args) {
        Ok(Parsed::Run(o)) => *o,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(o) {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}

fn run(o: Opts) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone());
    let enc = Arc::new(Encoder {
        prefix: o.key_prefix.clone().into_bytes(),
        value: (0..o.data_size.1).map(|i| b'a' + (i % 26) as u8).collect(),
        size: o.data_size,
    });
    let threads = o.threads;
    let mode = match o.rate {
        Some(r) => format!("open loop at {} req/s", fmt_rate(r)),
        None => "closed loop".to_string(),
    };
    let size = if o.data_size.0 == o.data_size.1 {
        format!("{}", o.data_size.0)
    } else {
        format!("{}-{}", o.data_size.0, o.data_size.1)
    };
    println!(
        "loadgen: {}:{}, {} thread(s) x {} connection(s), pipeline {}, {mode}; SET:GET {}:{}, \
         {:?} keys over {}, {size}-byte values",
        o.host,
        o.port,
        o.threads,
        o.connections,
        o.pipeline,
        o.ratio.0,
        o.ratio.1,
        o.key_pattern,
        o.keyspace
    );

    let (tx, rx) = mpsc::channel::<Tick>();
    let barrier = Arc::new(Barrier::new(threads + 1));
    let mut handles = Vec::new();
    for t in 0..threads {
        let o = o.clone();
        let enc = enc.clone();
        let stop = stop.clone();
        let tx = tx.clone();
        let barrier = barrier.clone();
        handles.push(std::thread::spawn(move || -> Result<Stats, String> {
            // Precise open-loop wakeups: no timer slack (default 50 µs).
            // SAFETY: plain prctl on this thread.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
            let w = Worker::connect(&o, t, enc, stop);
            let mut w = match w {
                Ok(w) => w,
                Err(e) => {
                    barrier.wait();
                    barrier.wait();
                    return Err(e);
                }
            };
            barrier.wait();
            let lo = o.keyspace * t as u64 / o.threads as u64;
            let hi = o.keyspace * (t as u64 + 1) / o.threads as u64;
            if o.prefill && hi > lo {
                let ph = Phase {
                    quota: hi - lo,
                    duration_ns: 0,
                    interval_ns: 0.0,
                    offset_ns: 0,
                    set_weight: 1,
                    get_weight: 0,
                    keys: KeyPatternStart {
                        pattern: KeyPattern::Sequential,
                        seq_start: lo,
                    },
                    pipeline: o.pipeline.max(32),
                    measure: false,
                };
                let st = w.run(&ph, (o.drain_timeout * 1e9) as u64);
                if let Some(e) = st.fatal {
                    barrier.wait();
                    return Err(format!("prefill: {e}"));
                }
            }
            barrier.wait();
            w.progress = Some(tx);
            let share = |total: u64| {
                total / threads as u64 + u64::from((t as u64) < total % threads as u64)
            };
            let ph = Phase {
                quota: o.requests.map_or(u64::MAX, share),
                duration_ns: o.duration.map_or(0, |d| (d * 1e9) as u64),
                interval_ns: o
                    .rate
                    .map_or(0.0, |r| (threads * o.pipeline) as f64 * 1e9 / r),
                offset_ns: o
                    .rate
                    .map_or(0, |r| ((t * o.pipeline) as f64 * 1e9 / r) as u64),
                set_weight: o.ratio.0,
                get_weight: o.ratio.1,
                keys: KeyPatternStart {
                    pattern: o.key_pattern,
                    seq_start: lo,
                },
                pipeline: o.pipeline,
                measure: true,
            };
            let st = w.run(&ph, (o.drain_timeout * 1e9) as u64);
            Ok(st)
        }));
    }
    drop(tx);
    barrier.wait(); // connected
    if o.prefill {
        println!("prefilling {} keys...", o.keyspace);
    }
    let t_pre = now_ns();
    barrier.wait(); // prefilled
    if o.prefill {
        println!("prefill: {:.2} s", (now_ns() - t_pre) as f64 / 1e9);
    }
    let start = now_ns();

    // Progress: once a second (when every running thread has reported), the last second's rate
    // and the percentiles so far.
    let mut so_far = new_hist();
    let (mut total, mut errors) = (0u64, 0u64);
    let mut last_print = start;
    let mut last_total = 0u64;
    let mut behind = 0u64;
    let mut alive = threads;
    let mut round = 0usize;
    while alive > 0 {
        let tick = match rx.recv() {
            Ok(t) => t,
            Err(_) => break, // every thread is gone
        };
        total += tick.done;
        errors += tick.errors;
        so_far.add(&tick.hist).expect("same bounds");
        behind = behind.max(tick.behind_ns);
        if tick.last {
            alive -= 1;
            continue;
        }
        round += 1;
        if round < alive {
            continue;
        }
        round = 0;
        let now = now_ns();
        if !o.quiet {
            let rps = (total - last_total) as f64 / ((now - last_print) as f64 / 1e9);
            let mut line = format!(
                "[{:>4.0}s] {:>11} req/s  total {:>10}  errors {}  p50 {:.3} ms  p99 {:.3} ms",
                (now - start) as f64 / 1e9,
                fmt_rate(rps),
                total,
                errors,
                ms(so_far.value_at_quantile(0.5)),
                ms(so_far.value_at_quantile(0.99)),
            );
            if o.rate.is_some() {
                let _ = write!(line, "  behind schedule {:.3} ms", ms(behind));
            }
            println!("{line}");
        }
        behind = 0;
        last_print = now;
        last_total = total;
    }

    // Summary.
    let mut hist = [new_hist(), new_hist()];
    let mut errs = [0u64; 2];
    let mut lag = new_hist();
    let mut sched_lag = new_hist();
    let mut unfinished = 0u64;
    let mut end = start;
    let mut fatal = Vec::new();
    for (t, h) in handles.into_iter().enumerate() {
        match h.join().map_err(|_| format!("thread {t} panicked"))? {
            Ok(st) => {
                for i in 0..2 {
                    hist[i].add(&st.hist[i]).expect("same bounds");
                    errs[i] += st.errors[i];
                }
                lag.add(&st.lag).expect("same bounds");
                sched_lag.add(&st.sched_lag).expect("same bounds");
                unfinished += st.unfinished;
                end = end.max(st.end_ns);
                if let Some(e) = st.fatal {
                    fatal.push(format!("thread {t}: {e}"));
                }
            }
            Err(e) => fatal.push(format!("thread {t}: {e}")),
        }
    }
    if !fatal.is_empty() && hist[0].is_empty() && hist[1].is_empty() {
        return Err(fatal.join("; "));
    }
    let mut all = new_hist();
    all.add(&hist[0]).expect("same bounds");
    all.add(&hist[1]).expect("same bounds");
    let secs = (end.saturating_sub(start)).max(1) as f64 / 1e9;
    let total = all.len();
    println!();
    println!("== summary ==");
    println!(
        "requests {}  errors {}  time {:.2} s  throughput {} req/s",
        total,
        errs[0] + errs[1],
        secs,
        fmt_rate(total as f64 / secs)
    );
    if unfinished > 0 {
        println!(
            "unfinished: {unfinished} requests (unanswered at the end of the drain, or never sent)"
        );
    }
    let mut table = format!(
        "{:<6} {:>10} {:>7} {:>12} {:>8}",
        "cmd", "requests", "errors", "req/s", "mean"
    );
    for (_, name) in QUANTILES {
        let _ = write!(table, " {name:>8}");
    }
    table.push_str("   (latency in ms)");
    println!("{table}");
    let mut csv = String::from("command,requests,errors,rps,mean_ms");
    for (_, name) in QUANTILES {
        let _ = write!(csv, ",{name}_ms");
    }
    csv.push('\n');
    let rows: [(&str, &Histogram<u64>, u64); 3] = [
        (CMD_NAMES[SET], &hist[SET], errs[SET]),
        (CMD_NAMES[GET], &hist[GET], errs[GET]),
        ("ALL", &all, errs[0] + errs[1]),
    ];
    for (name, h, e) in rows {
        if h.is_empty() {
            continue;
        }
        let rps = h.len() as f64 / secs;
        let mut line = format!(
            "{:<6} {:>10} {:>7} {:>12} {:>8.3}",
            name,
            h.len(),
            e,
            fmt_rate(rps),
            h.mean() / 1e6
        );
        let _ = write!(csv, "{name},{},{e},{rps:.0},{:.4}", h.len(), h.mean() / 1e6);
        for (q, _) in QUANTILES {
            let v = ms(h.value_at_quantile(q));
            let _ = write!(line, " {v:>8.3}");
            let _ = write!(csv, ",{v:.4}");
        }
        csv.push('\n');
        println!("{line}");
    }
    if let Some(rate) = o.rate {
        let late = |h: &Histogram<u64>| {
            100.0 * (h.len() - h.count_between(0, 1_000_000)) as f64 / h.len().max(1) as f64
        };
        println!(
            "open loop: target {} req/s, achieved {} req/s",
            fmt_rate(rate),
            fmt_rate(total as f64 / secs)
        );
        for (what, h) in [
            ("behind schedule when sent (ms):     ", &lag),
            ("  of it the generator's own delay:  ", &sched_lag),
        ] {
            println!(
                "  {what} p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3};  {:.2}% >1 ms late",
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.value_at_quantile(0.999)),
                ms(h.max()),
                late(h)
            );
        }
        for (row, h) in [("SEND_LAG", &lag), ("SCHED_LAG", &sched_lag)] {
            let _ = write!(csv, "{row},{},0,0,{:.4}", h.len(), h.mean() / 1e6);
            for (q, _) in QUANTILES {
                let _ = write!(csv, ",{:.4}", ms(h.value_at_quantile(q)));
            }
            csv.push('\n');
        }
    }
    for e in &fatal {
        eprintln!("loadgen: {e}");
    }
    if let Some(path) = &o.csv {
        std::fs::write(path, csv).map_err(|e| format!("{path}: {e}"))?;
    }
    if let Some(prefix) = &o.hdr_out {
        for (name, h) in [("ALL", &all), ("SET", &hist[SET]), ("GET", &hist[GET])] {
            let path = format!("{prefix}_{name}.hgrm");
            std::fs::write(&path, hgrm(h)).map_err(|e| format!("{path}: {e}"))?;
        }
    }
    if !fatal.is_empty() {
        return Err("the run ended early (see above)".into());
    }
    Ok(())
}
