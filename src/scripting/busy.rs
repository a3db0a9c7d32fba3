//! Scripts running longer than `busy-reply-threshold` (Redis's lua-time-limit, 5 s), and SCRIPT
//! KILL / FUNCTION KILL. A script makes itself known here from its instruction-count hook once
//! it is past the threshold (short scripts never touch this); SCRIPT KILL, from any shard, sets
//! its kill flag and the hook stops it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct Entry {
    kill: Arc<AtomicBool>,
    pub wrote: AtomicBool,
    eval: bool,
}

static RUNNING: Mutex<Vec<Arc<Entry>>> = Mutex::new(Vec::new());
pub fn register(kill: Arc<AtomicBool>, eval: bool) -> Arc<Entry> {
    let e = Arc::new(Entry {
        kill,
        wrote: AtomicBool::new(false),
        eval,
    });
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
    if eval && !e.eval {
        return Err("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.");
    }
    if !eval && e.eval {
        return Err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
    }
    e.kill.store(true, Ordering::Relaxed);
    Ok(())
}
