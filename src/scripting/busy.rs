//! Scripts running longer than `busy-reply-threshold` (Redis's lua-time-limit, 5 s), and SCRIPT
//! KILL / FUNCTION KILL. A script makes itself known here from its instruction-count hook once
//! it is past the threshold (short scripts never touch this); SCRIPT KILL, from any shard, sets
//! its kill flag and the hook stops it.

use crate::protocol::reply::Reply;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct Entry {
    kill: Arc<AtomicBool>,
    pub wrote: AtomicBool,
    eval: bool,
    /// The function's name, the command as sent, when it started, and the (libraries,
    /// functions) loaded: FUNCTION STATS.
    name: String,
    command: Vec<Bytes>,
    started: Instant,
    engines: (usize, usize),
}

impl Entry {
    pub fn new(
        kill: Arc<AtomicBool>,
        eval: bool,
        name: String,
        command: Vec<Bytes>,
        started: Instant,
        engines: (usize, usize),
    ) -> Entry {
        Entry {
            kill,
            wrote: AtomicBool::new(false),
            eval,
            name,
            command,
            started,
            engines,
        }
    }
}

static RUNNING: Mutex<Vec<Arc<Entry>>> = Mutex::new(Vec::new());

/// Redis's answer to other commands while a script (EVAL family) is past the threshold.
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// The same while a function (FCALL) runs.
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// The BUSY error for a script (`eval`) or a function.
pub fn busy_error(eval: bool) -> &'static str {
    if eval {
        BUSY_EVAL
    } else {
        BUSY_FUNCTION
    }
}

pub fn register(e: Entry) -> Arc<Entry> {
    let e = Arc::new(e);
    if let Ok(mut r) = RUNNING.lock() {
        r.push(e.clone());
    }
    e
}

pub fn finished(e: &Arc<Entry>) {
    if let Ok(mut r) = RUNNING.lock() {
        r.retain(|x| !Arc::ptr_eq(x, e));
    }
}

/// SCRIPT KILL (`eval`) or FUNCTION KILL: the reply Redis gives.
pub fn kill(eval: bool) -> Result<(), &'static str> {
    let r = match RUNNING.lock() {
        Ok(r) => r,
        Err(_) => return Err("NOTBUSY No scripts in execution right now."),
    };
    let Some(e) = r.first() else {
        return Err("NOTBUSY No scripts in execution right now.");
    };
    if e.wrote.load(Ordering::Relaxed) {
        return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    if eval != e.eval {
        return Err(busy_error(e.eval));
    }
    e.kill.store(true, Ordering::Relaxed);
    Ok(())
}

/// FUNCTION STATS: the function past the threshold, if any, and the engines' counts (`engines`
/// when none is; while one is, this thread's VM is the one running it, so its own counts are
/// used). A busy EVAL refuses it, as in Redis.
pub fn function_stats(engines: (usize, usize)) -> Reply {
    let running = RUNNING.lock().ok().and_then(|r| r.first().cloned());
    let (script, (libraries, functions)) = match &running {
        Some(e) if e.eval => return Reply::err(BUSY_EVAL),
        Some(e) => {
            let script = Reply::Map(vec![
                (Reply::bulk_str("name"), Reply::bulk_str(&e.name)),
                (
                    Reply::bulk_str("command"),
                    Reply::Array(e.command.iter().cloned().map(Reply::Bulk).collect()),
                ),
                (
                    Reply::bulk_str("duration_ms"),
                    Reply::Int(e.started.elapsed().as_millis() as i64),
                ),
            ]);
            (script, e.engines)
        }
        None => (Reply::Nil, engines),
    };
    Reply::Map(vec![
        (Reply::bulk_str("running_script"), script),
        (
            Reply::bulk_str("engines"),
            Reply::Map(vec![(
                Reply::bulk_str("LUA"),
                Reply::Map(vec![
                    (
                        Reply::bulk_str("libraries_count"),
                        Reply::Int(libraries as i64),
                    ),
                    (
                        Reply::bulk_str("functions_count"),
                        Reply::Int(functions as i64),
                    ),
                ]),
            )]),
        ),
    ])
}
