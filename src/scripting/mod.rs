//! Lua scripting: EVAL/EVALSHA/EVAL_RO/EVALSHA_RO, SCRIPT, FUNCTION, FCALL/FCALL_RO.
//!
//! Where a script runs depends on its declared keys (KEYS / FCALL's keys):
//! - All on one shard (or none, or a one-shard server): on that shard's executor thread, in
//!   that shard's own Lua VM, in one synchronous stretch, once no multi-shard lock stands in the
//!   way of its keys (`locks::run_when_free`). `redis.call` runs the command's handler right
//!   there (`Shard::exec`); the commands it ran are logged to the AOF between MULTI and EXEC.
//! - On several shards (or any script flagged `allow-cross-slot-keys`, which takes every shard
//!   whole): the coordinator locks the keys on their shards (`locks::acquire`, ascending order),
//!   then runs the Lua on a helper OS thread with its own VM. Each `redis.call` goes back to the
//!   coordinator's task over a channel and from there to the key's shard; the helper thread waits
//!   on a std channel. No shard's executor ever blocks on another shard. The writes are
//!   bracketed per shard in the AOF as every multi-shard write is (persistence/feed.rs).
//! - A script touching a key on a shard other than its declared keys' (or any key, when it
//!   declared none on a multi-shard server) gets Redis Cluster's "non local key" error.
//!
//! Scripts (by SHA1) and function libraries are kept on every shard: SCRIPT LOAD, EVAL of a
//! new script, FUNCTION LOAD/DELETE/FLUSH and SCRIPT FLUSH reach every shard before they answer,
//! so EVALSHA and FCALL work from any connection.

pub mod bit;
pub mod busy;
pub mod cjson;
pub mod flags;
pub mod resp;
pub mod vm;

use crate::commands::{CommandSpec, Kind};
use crate::net::ConnRef;
use crate::protocol::reply::Reply;
use crate::routing;
use crate::shard::locks::{self, Want};
use crate::shard::Shard;
use bytes::Bytes;
use flags::Flags;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use vm::{Caller, How, Vm};

const GONE: &str = "ERR shard unavailable (shutting down)";
const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
const NON_LOCAL: &str = "ERR Script attempted to access a non local key in a cluster node";

/// DEBUG SET-DISABLE-DENY-SCRIPTS: let scripts run `noscript` commands (a testing aid of Redis).
static DENY_DISABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_deny_disabled(on: bool) {
    DENY_DISABLED.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub fn deny_disabled() -> bool {
    DENY_DISABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Key indexes of EVAL/FCALL forms: `numkeys` at 2, the keys after it.
fn numkeys_keys(a: &[Bytes]) -> Vec<usize> {
    let Some(n) = a.get(2).and_then(|n| crate::util::num::parse_i64(n)) else {
        return Vec::new();
    };
    if n <= 0 || (n as usize) > a.len().saturating_sub(3) {
        return Vec::new();
    }
    (3..3 + n as usize).collect()
}

const fn script_cmd(
    name: &'static str,
    arity: i32,
    flags: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, (0, 0, 0), Kind::Conn)
        .doc("scripting", "2.6.0", summary)
        .key_fn(numkeys_keys)
}

pub static COMMANDS: &[CommandSpec] = &[
    script_cmd(
        "eval",
        -3,
        "noscript skip_monitor may_replicate no_mandatory_keys stale",
        "Execute a Lua script server side",
    ),
    script_cmd(
        "evalsha",
        -3,
        "noscript skip_monitor may_replicate no_mandatory_keys stale",
        "Execute a Lua script server side",
    ),
    script_cmd(
        "eval_ro",
        -3,
        "readonly noscript skip_monitor no_mandatory_keys stale",
        "Execute a read-only Lua script server side",
    ),
    script_cmd(
        "evalsha_ro",
        -3,
        "readonly noscript skip_monitor no_mandatory_keys stale",
        "Execute a read-only Lua script server side",
    ),
    script_cmd(
        "fcall",
        -3,
        "noscript skip_monitor may_replicate no_mandatory_keys stale",
        "Invoke a function",
    ),
    script_cmd(
        "fcall_ro",
        -3,
        "readonly noscript skip_monitor no_mandatory_keys stale",
        "Invoke a read-only function",
    ),
    CommandSpec::new("script", -2, "noscript", (0, 0, 0), Kind::Conn).doc(
        "scripting",
        "2.6.0",
        "A container for Lua scripts management commands",
    ),
    CommandSpec::new("function", -2, "noscript", (0, 0, 0), Kind::Conn).doc(
        "scripting",
        "7.0.0",
        "A container for function commands",
    ),
];

/// A function library as FUNCTION LOAD registered it.
#[derive(Clone)]
struct Library {
    name: String,
    code: Bytes,
    /// (function name, flags, description)
    functions: Vec<(String, Vec<String>, Option<String>)>,
}

/// One shard's scripting state (thread-local: one shard per executor thread).
#[derive(Default)]
struct Local {
    vm: Option<Vm>,
    /// EVAL scripts by SHA1, as sent.
    bodies: HashMap<String, Bytes>,
    libraries: Vec<Library>,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

/// (libraries, functions) loaded (the same on every shard).
fn engine_counts() -> (usize, usize) {
    LOCAL.with(|l| {
        let l = l.borrow();
        let functions = l.libraries.iter().map(|x| x.functions.len()).sum();
        (l.libraries.len(), functions)
    })
}

/// The script engine's share of INFO memory, from this shard (scripts and libraries are loaded
/// on every shard alike).
pub struct MemoryStats {
    /// Bytes the Lua VM has allocated (before the first script: an empty VM's, as Redis shows).
    pub vm: usize,
    pub scripts: usize,
    pub script_bytes: usize,
    pub libraries: usize,
    pub functions: usize,
    pub library_bytes: usize,
}

pub fn memory_stats() -> MemoryStats {
    let (libraries, functions) = engine_counts();
    LOCAL.with(|l| {
        let l = l.borrow();
        MemoryStats {
            vm: l.vm.as_ref().map_or(31744, |vm| vm.lua.used_memory()),
            scripts: l.bodies.len(),
            script_bytes: l.bodies.iter().map(|(k, v)| k.len() + v.len()).sum(),
            libraries,
            functions,
            library_bytes: l.libraries.iter().map(|x| x.code.len()).sum(),
        }
    })
}

/// Run `f` with this thread's VM (made on first use).
fn with_vm<R>(f: impl FnOnce(&mut Vm) -> R) -> Result<R, String> {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let l = &mut *l;
        if l.vm.is_none() {
            l.vm = Some(Vm::new().map_err(|e| format!("ERR creating the Lua VM: {e}"))?);
        }
        match l.vm.as_mut() {
            Some(vm) => Ok(f(vm)),
            None => Err("ERR no Lua VM".into()),
        }
    })
}

/// What to run.
#[derive(Clone)]
enum What {
    Eval {
        sha: String,
        body: Bytes,
        skip: usize,
    },
    Fcall {
        name: String,
        lib: Library,
    },
}

/// One script run, as sent to the shard (or helper thread) that runs it.
struct Job {
    what: What,
    /// The command as sent and the (libraries, functions) loaded: FUNCTION STATS shows them
    /// while the script is busy.
    command: Vec<Bytes>,
    engines: (usize, usize),
    keys: Vec<Bytes>,
    argv: Vec<Bytes>,
    db: usize,
    read_only: bool,
    /// Flagged `allow-oom`: its commands skip the maxmemory check.
    allow_oom: bool,
    busy_after: std::time::Duration,
    /// `databases`, for SELECT inside the script.
    ndb: usize,
}

/// The entry point from the connection layer (`server::exec_async`).
pub async fn exec(
    shard: &Rc<Shard>,
    conn: &ConnRef,
    spec: &'static CommandSpec,
    a: &[Bytes],
) -> Reply {
    match spec.name {
        "script" => script(shard, a).await,
        "function" => function(shard, a).await,
        name => run(shard, conn, name, a).await,
    }
}

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// Split EVAL/FCALL arguments into keys and args, with Redis's errors.
fn split_args(a: &[Bytes]) -> Result<(Vec<Bytes>, Vec<Bytes>), Reply> {
    let n = crate::util::num::parse_i64(&a[2]).ok_or_else(Reply::not_int)?;
    if n < 0 {
        return Err(Reply::err("ERR Number of keys can't be negative"));
    }
    if n as usize > a.len() - 3 {
        return Err(Reply::err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let n = n as usize;
    Ok((a[3..3 + n].to_vec(), a[3 + n..].to_vec()))
}

/// Make sure every shard knows script `body` (compiled here first, so a bad script is refused
/// before it is stored anywhere).
async fn store_script(shard: &Rc<Shard>, sha: &str, body: &Bytes) -> Result<(), Reply> {
    let known = LOCAL.with(|l| l.borrow().bodies.contains_key(sha));
    if known {
        return Ok(());
    }
    let (_, skip) = flags::shebang(body).map_err(Reply::err)?;
    let compiled = with_vm(|vm| vm.compile(sha, &body[skip..])).map_err(Reply::err)?;
    compiled.map_err(Reply::err)?;
    let (sha, body) = (sha.to_string(), body.clone());
    shard
        .broadcast(move |_| {
            LOCAL.with(|l| {
                l.borrow_mut().bodies.insert(sha.clone(), body.clone());
            })
        })
        .await;
    Ok(())
}

async fn run(shard: &Rc<Shard>, conn: &ConnRef, name: &str, a: &[Bytes]) -> Reply {
    let ro_cmd = name.ends_with("_ro");
    let fcall = name.starts_with("fcall");
    if fcall && crate::util::num::parse_i64(&a[2]).is_none() {
        return Reply::err("ERR Bad number of keys provided");
    }
    let (keys, argv) = match split_args(a) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let (what, flags) = if fcall {
        let fname = String::from_utf8_lossy(&a[1]).into_owned();
        let found = LOCAL.with(|l| {
            l.borrow().libraries.iter().find_map(|lib| {
                lib.functions
                    .iter()
                    .find(|f| f.0.eq_ignore_ascii_case(&fname))
                    .map(|f| (lib.clone(), f.0.clone(), f.1.clone()))
            })
        });
        let Some((lib, fname, fl)) = found else {
            return Reply::err("ERR Function not found");
        };
        let f = Flags::from_names(fl.iter().map(String::as_str));
        (What::Fcall { name: fname, lib }, f)
    } else {
        let (sha, body) = if name.starts_with("evalsha") {
            let sha = lower(&a[1]);
            match LOCAL.with(|l| l.borrow().bodies.get(&sha).cloned()) {
                Some(b) => (sha, b),
                None => return Reply::err(NOSCRIPT),
            }
        } else {
            let body = a[1].clone();
            let sha = vm::sha1_hex(&body);
            if let Err(e) = store_script(shard, &sha, &body).await {
                return e;
            }
            (sha, body)
        };
        let (f, skip) = match flags::shebang(&body) {
            Ok(p) => p,
            Err(e) => return Reply::err(e),
        };
        (What::Eval { sha, body, skip }, f)
    };
    if ro_cmd && flags.shebang && !flags.no_writes {
        return Reply::err("ERR Can not execute a script with write flag using *_ro command.");
    }
    // A script with flags that may write is refused whole when memory is short unless it says
    // `allow-oom` (without a shebang, each denyoom call is checked instead).
    if flags.shebang && !flags.no_writes && !flags.allow_oom {
        if let Some(oom) = crate::memory::evict::refuses_any_write(shard) {
            return oom;
        }
    }
    let (db, in_exec) = {
        let c = conn.borrow();
        (c.client.db, c.client.tx.deny_blocking)
    };
    let fcall = matches!(what, What::Fcall { .. });
    let job = Job {
        what,
        // Only FUNCTION STATS shows them, and only for a function (a busy EVAL refuses it).
        command: if fcall { a.to_vec() } else { Vec::new() },
        engines: if fcall { engine_counts() } else { (0, 0) },
        keys,
        argv,
        db,
        read_only: ro_cmd || flags.no_writes,
        allow_oom: flags.allow_oom,
        busy_after: std::time::Duration::from_millis(shard.config.borrow().busy_reply_threshold),
        ndb: shard.store.borrow().dbs.len(),
    };
    let cross_slot = flags.cross_slot || shard.config.borrow().script_allow_cross_slot_keys;
    let n = shard.n;
    let mut owners: Vec<usize> = job.keys.iter().map(|k| routing::key_shard(k, n)).collect();
    owners.sort_unstable();
    owners.dedup();
    let single = match owners.as_slice() {
        _ if n == 1 => Some(0),
        _ if cross_slot => None,
        [] => Some(shard.id),
        [one] => Some(*one),
        _ => None,
    };
    match single {
        Some(t) => run_on_one(shard, t, job, in_exec).await,
        None => run_across(shard, job, cross_slot, in_exec).await,
    }
}

/// A script whose declared keys all live on shard `t`: run there in one synchronous stretch.
async fn run_on_one(shard: &Rc<Shard>, t: usize, job: Job, in_exec: bool) -> Reply {
    let want = Want {
        keys: job.keys.iter().map(|k| (job.db, k.clone())).collect(),
        exclusive: !job.read_only,
        whole: false,
        hold_ready: false,
        ..Default::default()
    };
    shard
        .call_deferred(t, move |sh, answer| {
            // Inside EXEC the transaction already holds these keys' locks.
            if in_exec {
                let r = run_here(sh, job, false);
                return answer.send(sh, r);
            }
            locks::run_when_free(
                sh,
                || want,
                Box::new(move |sh| {
                    let r = run_here(sh, job, true);
                    answer.send(sh, r)
                }),
            );
        })
        .await
        .unwrap_or_else(|| Reply::err(GONE))
}

/// Run `job` on this shard's VM, its writes logged as one MULTI/EXEC (`wrap`; not inside an
/// EXEC, whose own records already bracket them).
fn run_here(sh: &Rc<Shard>, mut job: Job, wrap: bool) -> Reply {
    let caller = Box::new(LocalCaller {
        sh: sh.clone(),
        db: job.db,
        declared: !job.keys.is_empty() || sh.n == 1,
        keys: job.keys.clone(),
        now: crate::util::now_ms(),
    });
    let how = How {
        caller,
        read_only: job.read_only,
        busy_after: job.busy_after,
        global: Some(sh.global.clone()),
        command: std::mem::take(&mut job.command),
        engines: job.engines,
    };
    let r = with_vm(|vm| {
        let at = if wrap {
            sh.store.borrow_mut().feed.begin_multi()
        } else {
            None
        };
        // Blocked clients are served after the script, not between its calls (as in Redis).
        let r = {
            let _hold = crate::shard::blocking::HoldReady::new(sh);
            let _oom = OomExempt::new(sh, job.allow_oom);
            run_in(vm, &job, how)
        };
        sh.store.borrow_mut().feed.end_multi(at);
        r
    });
    crate::shard::blocking::serve_ready(sh);
    r.unwrap_or_else(Reply::err)
}

/// An `allow-oom` script's commands skip the maxmemory check while it runs (Redis's
/// scriptVerifyOOM); put back when dropped, also if the run panics.
struct OomExempt<'a> {
    sh: &'a Shard,
    prev: bool,
}

impl<'a> OomExempt<'a> {
    fn new(sh: &'a Shard, on: bool) -> OomExempt<'a> {
        OomExempt {
            sh,
            prev: sh.oom_exempt.replace(on),
        }
    }
}

impl Drop for OomExempt<'_> {
    fn drop(&mut self) {
        self.sh.oom_exempt.set(self.prev);
    }
}

/// Compile what `job` needs in `vm` (a script, or its library) and run it.
fn run_in(vm: &mut Vm, job: &Job, how: How) -> Reply {
    match &job.what {
        What::Eval { sha, body, skip } => {
            if !vm.has_script(sha) {
                if let Err(e) = vm.compile(sha, &body[*skip..]) {
                    return Reply::err(e);
                }
            }
            vm.eval(sha, &job.keys, &job.argv, how)
        }
        What::Fcall { name, lib } => {
            if !vm.functions.contains_key(name) {
                // A helper thread's fresh VM: load the library first.
                match vm.load_library(&lib.code) {
                    Ok(fs) => {
                        for (n, f, ..) in fs {
                            vm.functions.insert(n, f);
                        }
                    }
                    Err(e) => return Reply::err(e),
                }
            }
            vm.fcall(name, &job.keys, &job.argv, how)
        }
    }
}

/// `redis.call` on the shard the script runs on.
struct LocalCaller {
    sh: Rc<Shard>,
    db: usize,
    /// The script declared keys (or the server has one shard): keys of this shard are local.
    declared: bool,
    keys: Vec<Bytes>,
    now: u64,
}

impl Caller for LocalCaller {
    fn call(&mut self, spec: &'static CommandSpec, args: Vec<Bytes>) -> Reply {
        let sh = &self.sh;
        let h = match spec.kind {
            Kind::Keyed(h) | Kind::Split(h, _) | Kind::Coordinated(h) => h,
            Kind::Conn => {
                let db = self.db;
                let ndb = sh.store.borrow().dbs.len();
                let start = crate::util::clock::ticks();
                let r = conn_command(sh.n == 1, ndb, spec, &args, &mut self.db, || {
                    sh.store.borrow().dbs[db].len() as i64
                });
                ran(sh, spec, &args, start, &r);
                return r;
            }
        };
        if sh.n > 1 {
            for i in spec.key_indexes(&args) {
                let Some(k) = args.get(i) else { continue };
                if !self.declared || routing::key_shard(k, sh.n) != sh.id {
                    return refuse(sh, spec, NON_LOCAL);
                }
                // An undeclared key of this shard held by a multi-shard command: using it
                // would see (or make) a half-done state.
                if !self.keys.contains(k) {
                    let w = locks::want_of(self.db, spec, std::slice::from_ref(k));
                    let l = sh.locks.borrow();
                    if !l.idle() && l.blocks(&w) {
                        drop(l);
                        return refuse(sh, spec, NON_LOCAL);
                    }
                }
            }
        }
        sh.exec(self.db, spec, h, &args, self.now)
    }

    fn refused(&mut self, name: Option<&'static str>, err: &str) {
        self.sh.stats.borrow_mut().record_rejected(name, err);
    }
}

/// Count a keyless command a script ran, as a client's would be (keyed ones are counted by
/// `Shard::exec`, on their shard).
fn ran(sh: &Shard, spec: &'static CommandSpec, args: &[Bytes], start: u64, r: &Reply) {
    crate::observe::done(sh, spec, args, start, r, &|| {
        sh.observe.client.borrow().clone()
    });
}

/// Refuse a command of a script, counted as Redis's scriptCall counts a refusal.
fn refuse(sh: &Shard, spec: &'static CommandSpec, err: &'static str) -> Reply {
    sh.stats.borrow_mut().record_rejected(Some(spec.name), err);
    Reply::err(err)
}

/// The keyless server commands a script may run. `whole`: the script has the keyspace to
/// itself (one shard, or every shard locked whole); `dbsize` counts the keys.
fn conn_command(
    whole: bool,
    ndb: usize,
    spec: &CommandSpec,
    args: &[Bytes],
    db: &mut usize,
    dbsize: impl FnOnce() -> i64,
) -> Reply {
    match spec.name {
        "ping" => match args.get(1) {
            Some(m) => Reply::Bulk(m.clone()),
            None => Reply::simple("PONG"),
        },
        "echo" => Reply::Bulk(args[1].clone()),
        "time" => {
            let us = crate::util::now_us();
            Reply::Array(vec![
                Reply::bulk_str(&(us / 1_000_000).to_string()),
                Reply::bulk_str(&(us % 1_000_000).to_string()),
            ])
        }
        "select" => match crate::util::num::parse_i64(&args[1]) {
            Some(d) if d >= 0 && (d as usize) < ndb => {
                *db = d as usize;
                Reply::ok()
            }
            Some(_) => Reply::err("ERR DB index is out of range"),
            None => Reply::not_int(),
        },
        "dbsize" if whole => Reply::Int(dbsize()),
        "dbsize" => Reply::err(
            "ERR DBSIZE in a script needs every shard: declare the script with #!lua flags=allow-cross-slot-keys",
        ),
        _ => Reply::Error(
            format!(
                "ERR '{}' is not supported inside scripts on a sharded server",
                spec.name
            )
            .into(),
        ),
    }
}

/// A request from a helper thread running a multi-shard script.
enum Req {
    Call {
        spec: &'static CommandSpec,
        args: Vec<Bytes>,
        db: usize,
        back: std::sync::mpsc::SyncSender<Reply>,
    },
    /// A command the script may not run (see `Caller::refused`).
    Refused(Option<&'static str>, String),
    Done(Reply),
}

/// A script whose declared keys span shards (or which takes every shard whole): lock, then run
/// its Lua on a helper thread while this task carries its commands to their shards.
async fn run_across(shard: &Rc<Shard>, job: Job, whole: bool, in_exec: bool) -> Reply {
    let n = shard.n;
    let mut parts: Vec<(usize, Want)> = Vec::new();
    if whole {
        parts = crate::shard::locks::whole_shards(n);
        // Blocked clients are served after the script, as in Redis.
        for p in &mut parts {
            p.1.hold_ready = true;
        }
    } else {
        for k in &job.keys {
            parts.push((
                routing::key_shard(k, n),
                Want {
                    keys: vec![(job.db, k.clone())],
                    exclusive: !job.read_only,
                    whole: false,
                    hold_ready: true,
                    ..Default::default()
                },
            ));
        }
    }
    let guard = if in_exec {
        None
    } else {
        let touch = locks::Touch::all_if(!job.read_only);
        match locks::acquire(shard, parts, touch, !job.read_only).await {
            Some(g) => Some(g),
            None => return Reply::err(GONE),
        }
    };
    let declared: Vec<Bytes> = job.keys.clone();
    let allow_oom = job.allow_oom;
    let (tx, mut rx) = futures::channel::mpsc::unbounded::<Req>();
    let global = shard.global.clone();
    let spawned = std::thread::Builder::new()
        .name("shardis-script".into())
        .spawn(move || {
            let done = tx.clone();
            let r = helper(job, tx, global);
            let _ = done.unbounded_send(Req::Done(r));
        });
    if let Err(e) = spawned {
        return Reply::err(format!("ERR could not start the script thread: {e}"));
    }
    let mut result = Reply::err(GONE);
    while let Some(req) = next_request(&mut rx).await {
        match req {
            Req::Call {
                spec,
                args,
                db,
                back,
            } => {
                let r = remote_call(shard, whole, &declared, spec, args, db, allow_oom).await;
                let _ = back.send(r);
            }
            Req::Refused(name, err) => shard.stats.borrow_mut().record_rejected(name, &err),
            Req::Done(r) => {
                result = r;
                break;
            }
        }
    }
    if let Some(g) = guard {
        g.commit().await;
    }
    result
}

/// The helper thread's next request. It usually follows the last answer within microseconds,
/// so the task first yields to the shard's other work and looks again, for a short while; then
/// it waits for the wake. A wake from a foreign thread can sit unseen while the executor sleeps
/// (see shard/watchdog.rs), so a short timer bounds that wait as a backstop.
async fn next_request(rx: &mut futures::channel::mpsc::UnboundedReceiver<Req>) -> Option<Req> {
    use futures::StreamExt;
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_micros(50) {
        match rx.try_recv() {
            Ok(r) => return Some(r),
            Err(futures::channel::mpsc::TryRecvError::Closed) => return None,
            Err(_) => YieldNow(false).await,
        }
    }
    loop {
        let timer = glommio::timer::Timer::new(std::time::Duration::from_micros(50));
        match futures::future::select(rx.next(), timer).await {
            futures::future::Either::Left((req, _)) => return req,
            futures::future::Either::Right(_) => {}
        }
    }
}

/// Let the executor run its other ready tasks once.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// The helper thread: a fresh VM whose `redis.call` sends each command back to the coordinator.
fn helper(
    mut job: Job,
    tx: futures::channel::mpsc::UnboundedSender<Req>,
    global: std::sync::Arc<crate::shard::Global>,
) -> Reply {
    let mut vm = match Vm::new() {
        Ok(v) => v,
        Err(e) => return Reply::err(format!("ERR creating the Lua VM: {e}")),
    };
    let how = How {
        caller: Box::new(RemoteCaller {
            tx,
            db: job.db,
            ndb: job.ndb,
        }),
        read_only: job.read_only,
        busy_after: job.busy_after,
        global: Some(global),
        command: std::mem::take(&mut job.command),
        engines: job.engines,
    };
    run_in(&mut vm, &job, how)
}

struct RemoteCaller {
    tx: futures::channel::mpsc::UnboundedSender<Req>,
    db: usize,
    ndb: usize,
}

impl Caller for RemoteCaller {
    fn call(&mut self, spec: &'static CommandSpec, args: Vec<Bytes>) -> Reply {
        // SELECT runs here for the db it sets, and on the coordinator too, counted there.
        if spec.name == "select" {
            let mut db = self.db;
            let _ = conn_command(false, self.ndb, spec, &args, &mut db, || 0);
            self.db = db;
        }
        let (back, answer) = std::sync::mpsc::sync_channel(1);
        let req = Req::Call {
            spec,
            args,
            db: self.db,
            back,
        };
        if self.tx.unbounded_send(req).is_err() {
            return Reply::err(GONE);
        }
        // The answer usually comes within microseconds: look a few times before sleeping.
        for _ in 0..200 {
            match answer.try_recv() {
                Ok(r) => return r,
                Err(std::sync::mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return Reply::err(GONE),
            }
        }
        answer.recv().unwrap_or_else(|_| Reply::err(GONE))
    }

    fn refused(&mut self, name: Option<&'static str>, err: &str) {
        let _ = self.tx.unbounded_send(Req::Refused(name, err.to_string()));
    }
}

/// One command of a multi-shard script, run by the coordinator on the shard(s) of its keys.
async fn remote_call(
    shard: &Rc<Shard>,
    whole: bool,
    declared: &[Bytes],
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
    db: usize,
    allow_oom: bool,
) -> Reply {
    let start = crate::util::clock::ticks();
    let h = match spec.kind {
        Kind::Keyed(h) | Kind::Split(h, _) | Kind::Coordinated(h) => h,
        Kind::Conn => {
            let r = if whole && spec.name == "dbsize" {
                let counts = shard
                    .broadcast(move |sh| sh.store.borrow().dbs[db].len() as i64)
                    .await;
                Reply::Int(counts.into_iter().flatten().sum())
            } else {
                let ndb = shard.store.borrow().dbs.len();
                conn_command(false, ndb, spec, &args, &mut db.clone(), || 0)
            };
            ran(shard, spec, &args, start, &r);
            return r;
        }
    };
    let idx = spec.key_indexes(&args);
    let mut owner = None;
    let mut spans = false;
    for &i in &idx {
        let Some(k) = args.get(i) else { continue };
        if !whole && !declared.contains(k) {
            return refuse(shard, spec, NON_LOCAL);
        }
        let o = routing::key_shard(k, shard.n);
        match owner {
            None => owner = Some(o),
            Some(p) if p != o => spans = true,
            _ => {}
        }
    }
    if spans {
        let r = crate::shard::coordinator::run_locked(shard, db, spec, &args).await;
        ran(shard, spec, &args, start, &r);
        return r;
    }
    let Some(t) = owner else {
        // A keyless keyed command (none in practice): refuse rather than guess a shard.
        return refuse(shard, spec, NON_LOCAL);
    };
    shard
        .call(t, move |sh| {
            let _exempt = OomExempt::new(sh, allow_oom);
            sh.exec(db, spec, h, &args, crate::util::now_ms())
        })
        .await
        .unwrap_or_else(|| Reply::err(GONE))
}

/// SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP.
async fn script(shard: &Rc<Shard>, a: &[Bytes]) -> Reply {
    let sub = lower(&a[1]);
    match sub.as_str() {
        "load" if a.len() == 3 => {
            let sha = vm::sha1_hex(&a[2]);
            match store_script(shard, &sha, &a[2]).await {
                Ok(()) => Reply::Bulk(Bytes::from(sha)),
                Err(e) => e,
            }
        }
        "exists" if a.len() >= 3 => LOCAL.with(|l| {
            let l = l.borrow();
            Reply::Array(
                a[2..]
                    .iter()
                    .map(|s| Reply::Int(l.bodies.contains_key(&lower(s)) as i64))
                    .collect(),
            )
        }),
        "flush" if a.len() <= 3 => {
            if a.len() == 3 && !matches!(lower(&a[2]).as_str(), "sync" | "async") {
                return Reply::err("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            }
            shard
                .broadcast(|_| {
                    LOCAL.with(|l| {
                        let mut l = l.borrow_mut();
                        l.bodies.clear();
                        if let Some(vm) = l.vm.as_mut() {
                            vm.flush();
                        }
                    })
                })
                .await;
            Reply::ok()
        }
        "kill" if a.len() == 2 => match busy::kill(true) {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::err(e),
        },
        "help" if a.len() == 2 => help(&[
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "HELP",
            "    Prints this help.",
        ]),
        _ => sub_error("SCRIPT", &a[1]),
    }
}

fn help(lines: &[&str]) -> Reply {
    Reply::Array(
        lines
            .iter()
            .map(|l| Reply::Simple(l.to_string().into()))
            .collect(),
    )
}

fn sub_error(cmd: &str, sub: &Bytes) -> Reply {
    Reply::Error(
        format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try {cmd} HELP.",
            String::from_utf8_lossy(sub)
        )
        .into(),
    )
}

/// Load library `lib` into this shard's VM and registry (replacing one of the same name when
/// `replace`). The same on every shard, so only the first shard's answer matters.
fn load_here(code: &Bytes, replace: bool) -> Result<String, String> {
    let name = flags::library_name(code)?;
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let l = &mut *l;
        if l.vm.is_none() {
            l.vm = Some(Vm::new().map_err(|e| format!("ERR creating the Lua VM: {e}"))?);
        }
        let exists = l.libraries.iter().any(|x| x.name == name);
        if exists && !replace {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let Some(vm) = l.vm.as_mut() else {
            return Err("ERR no Lua VM".into());
        };
        let fs = vm.load_library(code)?;
        for (f, ..) in &fs {
            let clash = l
                .libraries
                .iter()
                .any(|x| x.name != name && x.functions.iter().any(|g| g.0 == *f));
            if clash {
                return Err(format!("ERR Function {f} already exists"));
            }
        }
        if let Some(old) = l.libraries.iter().position(|x| x.name == name) {
            for (f, ..) in &l.libraries[old].functions {
                vm.functions.remove(f);
            }
            l.libraries.remove(old);
        }
        let mut lib = Library {
            name: name.clone(),
            code: code.clone(),
            functions: Vec::new(),
        };
        for (f, func, flags, desc) in fs {
            vm.functions.insert(f.clone(), func);
            lib.functions.push((f, flags, desc));
        }
        l.libraries.push(lib);
        vm.collect();
        Ok(name)
    })
}

/// FUNCTION LOAD | DELETE | FLUSH | LIST | STATS | KILL | HELP.
async fn function(shard: &Rc<Shard>, a: &[Bytes]) -> Reply {
    let sub = lower(&a[1]);
    match sub.as_str() {
        "load" => {
            let mut replace = false;
            let mut i = 2;
            while i + 1 < a.len() {
                if lower(&a[i]) == "replace" {
                    replace = true;
                    i += 1;
                } else {
                    return Reply::Error(
                        format!(
                            "ERR Unknown option given: {}",
                            String::from_utf8_lossy(&a[i])
                        )
                        .into(),
                    );
                }
            }
            let Some(code) = a.get(i).cloned() else {
                return Reply::err("ERR Function code is missing");
            };
            // Here first: a bad library is refused before any other shard sees it.
            let name = match load_here(&code, replace) {
                Ok(n) => n,
                Err(e) => return Reply::Error(e.into()),
            };
            let me = shard.id;
            shard
                .broadcast(move |sh| {
                    if sh.id != me {
                        if let Err(e) = load_here(&code, replace) {
                            crate::logging::warning(&format!("FUNCTION LOAD on shard: {e}"));
                        }
                    }
                })
                .await;
            Reply::Bulk(Bytes::from(name))
        }
        "delete" if a.len() == 3 => {
            let name = String::from_utf8_lossy(&a[2]).into_owned();
            let found = LOCAL.with(|l| l.borrow().libraries.iter().any(|x| x.name == name));
            if !found {
                return Reply::err("ERR Library not found");
            }
            shard
                .broadcast(move |_| {
                    LOCAL.with(|l| {
                        let mut l = l.borrow_mut();
                        let l = &mut *l;
                        if let Some(i) = l.libraries.iter().position(|x| x.name == name) {
                            let lib = l.libraries.remove(i);
                            if let Some(vm) = l.vm.as_mut() {
                                for (f, ..) in &lib.functions {
                                    vm.functions.remove(f);
                                }
                                vm.collect();
                            }
                        }
                    })
                })
                .await;
            Reply::ok()
        }
        "flush" if a.len() <= 3 => {
            if a.len() == 3 && !matches!(lower(&a[2]).as_str(), "sync" | "async") {
                return Reply::err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
            }
            shard
                .broadcast(|_| {
                    LOCAL.with(|l| {
                        let mut l = l.borrow_mut();
                        l.libraries.clear();
                        if let Some(vm) = l.vm.as_mut() {
                            vm.functions.clear();
                            vm.collect();
                        }
                    })
                })
                .await;
            Reply::ok()
        }
        "list" => function_list(a),
        "stats" if a.len() == 2 => busy::function_stats(engine_counts()),
        "kill" if a.len() == 2 => match busy::kill(false) {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::err(e),
        },
        "help" if a.len() == 2 => help(&[
            "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LOAD [REPLACE] <FUNCTION CODE>",
            "DELETE <LIBRARY NAME>",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "FLUSH [ASYNC|SYNC]",
            "STATS",
            "KILL",
            "HELP",
        ]),
        _ => sub_error("FUNCTION", &a[1]),
    }
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
fn function_list(a: &[Bytes]) -> Reply {
    let mut code = false;
    let mut pattern: Option<Bytes> = None;
    let mut i = 2;
    while i < a.len() {
        match lower(&a[i]).as_str() {
            "withcode" if !code => code = true,
            "libraryname" if pattern.is_none() => match a.get(i + 1) {
                Some(p) => {
                    pattern = Some(p.clone());
                    i += 1;
                }
                None => return Reply::err("ERR library name argument was not given"),
            },
            _ => {
                return Reply::Error(
                    format!("ERR Unknown argument {}", String::from_utf8_lossy(&a[i])).into(),
                )
            }
        }
        i += 1;
    }
    let k = Reply::bulk_str;
    LOCAL.with(|l| {
        let l = l.borrow();
        let mut libs: Vec<&Library> = l
            .libraries
            .iter()
            .filter(|x| {
                pattern
                    .as_ref()
                    .is_none_or(|p| crate::util::glob::glob_match(p, x.name.as_bytes(), false))
            })
            .collect();
        libs.sort_by(|x, y| x.name.cmp(&y.name));
        Reply::Array(
            libs.into_iter()
                .map(|lib| {
                    let mut m = vec![
                        (k("library_name"), k(&lib.name)),
                        (k("engine"), k("LUA")),
                        (
                            k("functions"),
                            Reply::Array(
                                lib.functions
                                    .iter()
                                    .map(|(f, fl, desc)| {
                                        Reply::Map(vec![
                                            (k("name"), k(f)),
                                            (
                                                k("description"),
                                                desc.as_deref().map_or(Reply::Nil, k),
                                            ),
                                            (
                                                k("flags"),
                                                Reply::Set(fl.iter().map(|x| k(x)).collect()),
                                            ),
                                        ])
                                    })
                                    .collect(),
                            ),
                        ),
                    ];
                    if code {
                        m.push((k("library_code"), Reply::Bulk(lib.code.clone())));
                    }
                    Reply::Map(m)
                })
                .collect(),
        )
    })
}
