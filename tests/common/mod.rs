//! Shared harness for the shardis integration tests.
//!
//! Every test starts its own server process on a free loopback port and talks
//! to it through the `redis` client crate (`Server::conn`) or through a raw TCP
//! socket (`Server::raw`) when exact bytes on the wire matter.
//!
//! # Running the suite against real Redis
//!
//! Redis 7.0.15 is the specification of shardis. The same suite can be run
//! against a real `redis-server` to prove that each test encodes Redis's
//! behaviour rather than a guess:
//!
//! ```text
//! SHARDIS_TEST_SERVER=redis cargo test --tests
//! ```
//!
//! In that mode `Server::start` launches
//! `redis-server --port P --bind 127.0.0.1 --save "" --appendonly no`
//! (the `shards` argument is ignored) instead of the shardis binary, and tests
//! that check shardis-only behaviour skip themselves (see [`is_redis`]).
//!
//! Without the variable the binary under test is `CARGO_BIN_EXE_shardis`,
//! started as `shardis --port P --bind 127.0.0.1 --shards N [extra args]`.
//!
//! Most tests run their body twice through [`both`]: once against a server
//! with one shard and once against a server with four shards, so that
//! cross-shard code paths are exercised.

#![allow(dead_code)]

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How many ports are tried when a server fails to bind.
const START_ATTEMPTS: usize = 5;
/// Read timeout for client sockets: generous, a reply that takes longer is a bug.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// `shards` value that makes `Server::start_with` launch the real `redis-server` whatever
/// SHARDIS_TEST_SERVER says: the differential tester's oracle (tests/differential.rs).
pub const REDIS_ORACLE: usize = 0;

/// True when the suite runs against a real `redis-server` (the oracle).
pub fn is_redis() -> bool {
    matches!(std::env::var("SHARDIS_TEST_SERVER").as_deref(), Ok("redis"))
}

/// Skips the calling test (returns `true`) when running against real Redis.
/// Use as `if skip_under_redis("why") { return; }`.
pub fn skip_under_redis(why: &str) -> bool {
    if is_redis() {
        eprintln!("skipped under SHARDIS_TEST_SERVER=redis: {why}");
        true
    } else {
        false
    }
}

/// Runs `f` against a fresh 1-shard server and then a fresh 4-shard server.
pub fn both(f: impl Fn(&Server)) {
    for shards in [1, 4] {
        let server = Server::start(shards);
        f(&server);
    }
}

/// Like [`both`], with extra `--directive value` arguments for the server.
pub fn both_with(extra_args: &[&str], f: impl Fn(&Server)) {
    for shards in [1, 4] {
        let server = Server::start_with(shards, extra_args);
        f(&server);
    }
}

/// A running server process; killed (and reaped) on drop.
pub struct Server {
    child: Child,
    port: u16,
    shards: usize,
    dir: PathBuf,
    log: PathBuf,
}

impl Server {
    pub fn start(shards: usize) -> Server {
        Server::start_with(shards, &[])
    }

    pub fn start_with(shards: usize, extra_args: &[&str]) -> Server {
        let id = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("shardis-test-{}-{}", std::process::id(), id));
        std::fs::create_dir_all(&dir).expect("create server temp dir");
        match Server::try_start_in(dir.clone(), shards, extra_args) {
            Ok(s) => {
                s.wait_loaded();
                s
            }
            Err(last_log) => {
                let _ = std::fs::remove_dir_all(&dir);
                panic!(
                    "server did not start (mode: {}); its output:\n{last_log}",
                    if is_redis() { "redis" } else { "shardis" }
                );
            }
        }
    }

    /// Stop with SIGKILL (a crash: nothing is flushed) and wait for the process to go.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stop cleanly (SHUTDOWN) and wait for the process to go.
    pub fn shutdown(&mut self) {
        if let Ok(mut con) = redis::Client::open(self.url()).and_then(|c| c.get_connection()) {
            let _ = redis::cmd("SHUTDOWN").query::<redis::Value>(&mut con);
        }
        if self.wait_exit(Duration::from_secs(20)).is_none() {
            self.kill9();
        }
    }

    /// Start a new server process in this server's directory (after `kill9` or `shutdown`):
    /// its data files are what the new one finds. Err(its output) if it does not come up.
    pub fn restart(mut self, shards: usize, extra_args: &[&str]) -> Result<Server, String> {
        if self.is_alive() {
            self.kill9();
        }
        let dir = std::mem::take(&mut self.dir);
        drop(self);
        let mut s = Server::try_start_in(dir, shards, extra_args)?;
        s.try_wait_loaded()?;
        Ok(s)
    }

    /// Wait until loaded; Err(output) if the server exits meanwhile.
    pub fn try_wait_loaded(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if !self.is_alive() {
                return Err(self.log_contents());
            }
            let loaded = redis::Client::open(self.url())
                .and_then(|c| c.get_connection_with_timeout(READ_TIMEOUT))
                .and_then(|mut con| {
                    redis::cmd("INFO")
                        .arg("persistence")
                        .query::<String>(&mut con)
                })
                .is_ok_and(|i| info_field(&i, "loading").as_deref() == Some("0"));
            if loaded {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "still loading after 120 s:\n{}",
            self.log_contents()
        ))
    }

    /// Stop (if running) and give up the directory without deleting it.
    pub fn into_dir(mut self) -> PathBuf {
        if self.is_alive() {
            self.kill9();
        }
        std::mem::take(&mut self.dir)
    }

    /// Wait until the server has loaded its data (INFO persistence says loading:0).
    pub fn wait_loaded(&self) {
        let mut con = self.conn();
        let done = wait_until(Duration::from_secs(120), || {
            redis::cmd("INFO")
                .arg("persistence")
                .query::<String>(&mut con)
                .is_ok_and(|i| info_field(&i, "loading").as_deref() == Some("0"))
        });
        assert!(done, "server still loading after 120 s");
    }

    /// Start a server in `dir`; Err(its output) if it exits or does not answer.
    pub fn try_start_in(
        dir: PathBuf,
        shards: usize,
        extra_args: &[&str],
    ) -> Result<Server, String> {
        let mut last_log = String::new();
        for attempt in 0..START_ATTEMPTS {
            let port = free_port();
            let log = dir.join(format!("server-{attempt}.log"));
            let mut child = spawn_server(port, shards, extra_args, &dir, &log);
            match wait_ready(&mut child, port) {
                Ok(()) => {
                    return Ok(Server {
                        child,
                        port,
                        shards,
                        dir,
                        log,
                    })
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_log = std::fs::read_to_string(&log).unwrap_or_default();
                    let bind_failure = why.contains("bind failure")
                        || last_log.contains("in use")
                        || last_log.contains("AddrInUse")
                        || last_log.contains("bind");
                    eprintln!("server start attempt {attempt} on port {port} failed: {why}");
                    if !bind_failure {
                        break;
                    }
                }
            }
        }
        Err(last_log)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Shard count requested (meaningless under redis mode).
    pub fn shards(&self) -> usize {
        self.shards
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Working directory of the server process (a fresh temp dir).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A fresh client connection through the `redis` crate (RESP2, db 0).
    pub fn conn(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).expect("build redis client");
        let con = client
            .get_connection_with_timeout(READ_TIMEOUT)
            .expect("connect to server under test");
        con.set_read_timeout(Some(READ_TIMEOUT))
            .expect("set read timeout");
        con.set_write_timeout(Some(READ_TIMEOUT))
            .expect("set write timeout");
        con
    }

    /// A raw TCP connection for byte-exact protocol checks.
    pub fn raw(&self) -> RawConn {
        RawConn::connect(self.port)
    }

    /// Everything the server printed so far.
    pub fn log_contents(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send the server a signal, given as kill(1) takes it ("-TERM", "-STOP").
    pub fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} failed");
    }

    /// Wait up to `limit` for the server to exit; its status, or None if it is still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// True while the server process is still alive.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let crashed = matches!(self.child.try_wait(), Ok(Some(_)));
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() || crashed {
            eprintln!(
                "---- server output (port {}, shards {}) ----\n{}\n---- end of server output ----",
                self.port,
                self.shards,
                self.log_contents()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits until the freshly spawned server on `port` answers PING.
fn wait_ready(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("server exited early with {status}"));
        }
        if let Some(pid) = probe(port) {
            // Make sure the server that answered is ours and not another
            // test's server that grabbed the same port first.
            match pid {
                Some(pid) if pid != child.id() => {
                    return Err(format!(
                        "port {port} is served by another process (pid {pid}): bind failure"
                    ))
                }
                _ => return Ok(()),
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no PONG within {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Picks a free port: bind port 0, read the port, drop the listener. Ports
/// already handed out by this process are never reused.
pub fn free_port() -> u16 {
    static USED: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut used = USED.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener
            .local_addr()
            .expect("ephemeral port address")
            .port();
        if !used.contains(&port) {
            used.push(port);
            return port;
        }
    }
}

/// Sends PING (and then `INFO server`) to a port. Returns `None` if nothing
/// answered PONG, `Some(pid)` otherwise, where `pid` is the `process_id`
/// from `INFO server` if the server reports one.
fn probe(port: u16) -> Option<Option<u32>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(1000))).ok()?;
    s.set_write_timeout(Some(Duration::from_millis(1000)))
        .ok()?;
    s.write_all(b"*1\r\n$4\r\nPING\r\n").ok()?;
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).ok()?;
    if &buf == b"-LOADIN" {
        // Up, and still loading its data: ready for tests that watch the loading.
        return Some(None);
    }
    if &buf != b"+PONG\r\n" {
        return None;
    }
    let pid = (|| {
        s.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n").ok()?;
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        while reply_len(&reply).is_none() {
            let n = s.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            reply.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&reply).into_owned();
        info_field(&text, "process_id")?.parse::<u32>().ok()
    })();
    Some(pid)
}

fn spawn_server(port: u16, shards: usize, extra: &[&str], dir: &Path, log: &Path) -> Child {
    let out = std::fs::File::create(log).expect("create server log file");
    let err = out.try_clone().expect("clone server log file");
    let port_s = port.to_string();
    let mut cmd = if is_redis() || shards == REDIS_ORACLE {
        let mut c = Command::new("redis-server");
        c.args([
            "--port",
            &port_s,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        c
    } else {
        let mut c = Command::new(env!("CARGO_BIN_EXE_shardis"));
        c.args(["--port", &port_s, "--bind", "127.0.0.1", "--shards"])
            .arg(shards.to_string());
        c
    };
    cmd.args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    cmd.spawn().expect("spawn server process")
}

// ---------------------------------------------------------------------------
// Helpers around the redis crate
// ---------------------------------------------------------------------------

/// Builds a command from string-ish arguments: `cmd(&["SET", "k", "v"])`.
pub fn cmd<T: redis::ToRedisArgs>(args: &[T]) -> redis::Cmd {
    let mut c = redis::Cmd::new();
    for a in args {
        c.arg(a);
    }
    c
}

/// Runs a command and returns its reply as a `redis::Value`, panicking (with
/// the command and the error) if the server answers with an error.
pub fn q<T: redis::ToRedisArgs + fmt::Debug>(
    con: &mut redis::Connection,
    args: &[T],
) -> redis::Value {
    match cmd(args).query::<redis::Value>(con) {
        Ok(v) => v,
        Err(e) => panic!("command {args:?} failed: {e}"),
    }
}

/// Runs a command and converts its reply, panicking with context on error.
pub fn qt<R: redis::FromRedisValue, T: redis::ToRedisArgs + fmt::Debug>(
    con: &mut redis::Connection,
    args: &[T],
) -> R {
    match cmd(args).query::<R>(con) {
        Ok(v) => v,
        Err(e) => panic!("command {args:?} failed: {e}"),
    }
}

/// Runs a command that must fail and returns the full error line as Redis
/// sent it, without the leading `-` (e.g. `ERR syntax error`).
pub fn qerr<T: redis::ToRedisArgs + fmt::Debug>(con: &mut redis::Connection, args: &[T]) -> String {
    match cmd(args).query::<redis::Value>(con) {
        Ok(v) => panic!("command {args:?} should fail but replied {v:?}"),
        Err(e) => error_line(&e),
    }
}

/// Reconstructs `CODE detail` from a server error.
pub fn error_line(e: &redis::RedisError) -> String {
    assert!(
        !matches!(e.kind(), redis::ErrorKind::IoError),
        "expected a server error, got an I/O error: {e}"
    );
    let code = e.code().unwrap_or("");
    match e.detail() {
        Some(d) => format!("{code} {d}"),
        None => code.to_string(),
    }
}

/// Shorthand for a bulk string value.
pub fn bulk(s: impl AsRef<[u8]>) -> redis::Value {
    redis::Value::BulkString(s.as_ref().to_vec())
}

/// Shorthand for a simple-string status value such as `+QUEUED`.
pub fn status(s: &str) -> redis::Value {
    if s == "OK" {
        redis::Value::Okay
    } else {
        redis::Value::SimpleString(s.to_string())
    }
}

pub fn int(i: i64) -> redis::Value {
    redis::Value::Int(i)
}

pub fn nil() -> redis::Value {
    redis::Value::Nil
}

pub fn arr(items: Vec<redis::Value>) -> redis::Value {
    redis::Value::Array(items)
}

pub fn ok() -> redis::Value {
    redis::Value::Okay
}

/// MULTI, each of `cmds` (asserting it is queued), EXEC: the EXEC reply.
pub fn exec_reply(c: &mut redis::Connection, cmds: &[&[&str]]) -> redis::Value {
    assert_eq!(q(c, &["MULTI"]), ok());
    for cmd in cmds {
        assert_eq!(q(c, cmd), status("QUEUED"), "{cmd:?}");
    }
    q(c, &["EXEC"])
}

/// Polls `f` until it returns true or `timeout` passes; returns the outcome.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Parses an `INFO` reply into (field, value) pairs, ignoring section headers.
pub fn parse_info(info: &str) -> Vec<(String, String)> {
    info.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.to_string(), v.trim_end().to_string()))
        })
        .collect()
}

/// The `name=value` pairs of a line (CLIENT INFO) or an INFO field's value (`calls=1,usec=…`).
pub fn fields(line: &str) -> std::collections::HashMap<String, String> {
    line.split([' ', ','])
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// One section of `INFO`, as text.
pub fn info(c: &mut redis::Connection, section: &str) -> String {
    qt(c, &["INFO", section])
}

/// Returns one field of an `INFO` reply.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    parse_info(info)
        .into_iter()
        .find(|(k, _)| k == field)
        .map(|(_, v)| v)
}

/// Keys that hash to many different cluster slots (and therefore, on a
/// sharded server, to different shards).
pub fn spread_keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}

// ---------------------------------------------------------------------------
// Raw RESP connection
// ---------------------------------------------------------------------------

/// A parsed RESP2/RESP3 reply, for structural checks on raw connections.
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// RESP2 null bulk (`$-1`) or null array (`*-1`).
    Nil,
    Array(Vec<Resp>),
    /// RESP3 `_` null.
    Null,
    Double(String),
    Bool(bool),
    BigNumber(String),
    Verbatim(String, Vec<u8>),
    Map(Vec<(Resp, Resp)>),
    Set(Vec<Resp>),
    Push(Vec<Resp>),
    Attribute(Vec<(Resp, Resp)>),
}

impl Resp {
    /// Looks up a key (given as text) in a map reply.
    pub fn map_get(&self, key: &str) -> Option<&Resp> {
        match self {
            Resp::Map(pairs) => pairs.iter().find_map(|(k, v)| match k {
                Resp::Bulk(b) if b == key.as_bytes() => Some(v),
                Resp::Simple(s) if s == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }
}

/// A raw TCP client with an input buffer so that replies can be read one at a
/// time, byte-exact.
pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    pub fn connect(port: u16) -> RawConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("raw connect");
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set raw read timeout");
        stream
            .set_write_timeout(Some(READ_TIMEOUT))
            .expect("set raw write timeout");
        stream.set_nodelay(true).expect("set nodelay");
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes all bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("raw send");
    }

    /// Sends a command encoded as a RESP array of bulk strings.
    pub fn send_cmd(&mut self, args: &[&[u8]]) {
        let bytes = encode_cmd(args);
        self.send(&bytes);
    }

    /// Reads exactly one complete reply and returns its bytes as sent.
    pub fn read_reply(&mut self) -> Vec<u8> {
        loop {
            if let Some(len) = reply_len(&self.buf) {
                return self.buf.drain(..len).collect();
            }
            self.fill();
        }
    }

    /// Reads one reply and returns it as text (lossy), handy for assertions.
    pub fn read_reply_str(&mut self) -> String {
        String::from_utf8_lossy(&self.read_reply()).into_owned()
    }

    /// Reads and parses one complete reply.
    pub fn read_value(&mut self) -> Resp {
        let bytes = self.read_reply();
        let (v, used) = parse(&bytes, 0).expect("parse complete reply");
        assert_eq!(used, bytes.len());
        v
    }

    /// Sends a command and returns the raw bytes of its reply.
    pub fn roundtrip(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send_cmd(args);
        self.read_reply()
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill();
        }
        self.buf.drain(..n).collect()
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!(
                "connection closed by server while waiting for a reply; buffered: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!(
                "read failed while waiting for a reply: {e}; buffered: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// Asserts that the server closes the connection (EOF or reset) without
    /// sending anything more, within the read timeout.
    pub fn expect_closed(&mut self) {
        assert!(
            self.buf.is_empty(),
            "unexpected buffered bytes before close: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => panic!(
                    "expected the connection to be closed, got {:?}",
                    String::from_utf8_lossy(&chunk[..n])
                ),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => panic!("expected the connection to be closed, got error {e}"),
            }
        }
    }

    /// Half-closes the write side.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Length in bytes of the first complete reply in `buf`, if complete.
pub fn reply_len(buf: &[u8]) -> Option<usize> {
    parse(buf, 0).map(|(_, used)| used)
}

fn line_at(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let i = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..i], pos + i + 2))
}

fn parse_i64(b: &[u8]) -> i64 {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad integer in reply: {:?}", String::from_utf8_lossy(b)))
}

/// Parses one reply starting at `pos`; returns it and the position after it,
/// or `None` if the buffer does not yet hold a complete reply.
pub fn parse(buf: &[u8], pos: usize) -> Option<(Resp, usize)> {
    let kind = *buf.get(pos)?;
    let (line, mut next) = line_at(buf, pos + 1)?;
    let text = || String::from_utf8_lossy(line).into_owned();
    let v = match kind {
        b'+' => Resp::Simple(text()),
        b'-' => Resp::Error(text()),
        b':' => Resp::Int(parse_i64(line)),
        b'_' => Resp::Null,
        b',' => Resp::Double(text()),
        b'#' => Resp::Bool(line == b"t"),
        b'(' => Resp::BigNumber(text()),
        b'$' | b'=' | b'!' => {
            let n = parse_i64(line);
            if n < 0 {
                Resp::Nil
            } else {
                let n = n as usize;
                if buf.len() < next + n + 2 {
                    return None;
                }
                let data = buf[next..next + n].to_vec();
                assert_eq!(
                    &buf[next + n..next + n + 2],
                    b"\r\n",
                    "bulk not CRLF-terminated"
                );
                next += n + 2;
                match kind {
                    b'$' => Resp::Bulk(data),
                    b'!' => Resp::Error(String::from_utf8_lossy(&data).into_owned()),
                    _ => {
                        let fmt = String::from_utf8_lossy(&data[..3.min(data.len())]).into_owned();
                        Resp::Verbatim(fmt, data.get(4..).unwrap_or_default().to_vec())
                    }
                }
            }
        }
        b'*' | b'~' | b'>' => {
            let n = parse_i64(line);
            if n < 0 {
                Resp::Nil
            } else {
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let (v, p) = parse(buf, next)?;
                    items.push(v);
                    next = p;
                }
                match kind {
                    b'*' => Resp::Array(items),
                    b'~' => Resp::Set(items),
                    _ => Resp::Push(items),
                }
            }
        }
        b'%' | b'|' => {
            let n = parse_i64(line);
            let mut pairs = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let (k, p) = parse(buf, next)?;
                let (v, p) = parse(buf, p)?;
                pairs.push((k, v));
                next = p;
            }
            if kind == b'%' {
                Resp::Map(pairs)
            } else {
                Resp::Attribute(pairs)
            }
        }
        other => panic!(
            "unknown RESP type byte {:?} in {:?}",
            other as char,
            String::from_utf8_lossy(&buf[pos..])
        ),
    };
    Some((v, next))
}

/// Finds an executable on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

// ---------------------------------------------------------------------------
// Blocked clients (blocking list, sorted-set and stream commands)
// ---------------------------------------------------------------------------

/// A numeric field of INFO clients.
pub fn info_num(c: &mut redis::Connection, field: &str) -> Option<i64> {
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query(c)
        .expect("INFO clients");
    info_field(&info, field).and_then(|v| v.parse().ok())
}

pub fn blocked(c: &mut redis::Connection) -> i64 {
    info_num(c, "blocked_clients").expect("blocked_clients")
}

/// Wait until exactly `n` clients are blocked.
pub fn wait_blocked(c: &mut redis::Connection, n: i64) {
    assert!(
        wait_until(Duration::from_secs(10), || blocked(c) == n),
        "expected {n} blocked clients, have {}",
        blocked(c)
    );
}

/// Nothing is left registered once no client is blocked (shardis reports total_blocking_keys as
/// Redis 7.2 does; Redis 7.0 has no such field).
pub fn assert_no_waiters(c: &mut redis::Connection) {
    wait_blocked(c, 0);
    if let Some(n) = info_num(c, "total_blocking_keys") {
        assert!(
            wait_until(Duration::from_secs(5), || info_num(
                c,
                "total_blocking_keys"
            ) == Some(0)),
            "keys with waiters left behind: {n}"
        );
    }
}

/// Run `args` on a fresh connection in a thread (it blocks there); join for its reply.
pub fn spawn_cmd(
    s: &Server,
    args: &[&str],
) -> std::thread::JoinHandle<redis::RedisResult<redis::Value>> {
    let mut c = s.conn();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    std::thread::spawn(move || cmd(&args).query::<redis::Value>(&mut c))
}

pub fn joined(h: std::thread::JoinHandle<redis::RedisResult<redis::Value>>) -> redis::Value {
    h.join().expect("client thread").expect("blocked command")
}
