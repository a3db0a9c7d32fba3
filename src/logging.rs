//! Redis-style log lines ("pid:role dd Mon yyyy hh:mm:ss.mmm * message") to stdout or `logfile`.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

pub const DEBUG: u8 = 0;
pub const VERBOSE: u8 = 1;
pub const NOTICE: u8 = 2;
pub const WARNING: u8 = 3;

static LEVEL: AtomicU8 = AtomicU8::new(NOTICE);
static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);

pub fn level_from_name(name: &str) -> u8 {
    match name {
        "debug" => DEBUG,
        "verbose" => VERBOSE,
        "warning" => WARNING,
        _ => NOTICE,
    }
}

/// Set the level and destination ("" = stdout). Called at startup and by CONFIG SET loglevel.
pub fn init(level: &str, logfile: &str) -> std::io::Result<()> {
    set_level(level);
    if !logfile.is_empty() {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)?;
        if let Ok(mut g) = FILE.lock() {
            *g = Some(f);
        }
    }
    Ok(())
}

pub fn set_level(level: &str) {
    LEVEL.store(level_from_name(level), Ordering::Relaxed);
}

pub fn log(level: u8, msg: &str) {
    if level < LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let mark = ['.', '-', '*', '#'][level.min(3) as usize];
    let line = format!(
        "{}:M {} {} {}\n",
        std::process::id(),
        timestamp(),
        mark,
        msg
    );
    if let Ok(mut g) = FILE.lock() {
        if let Some(f) = g.as_mut() {
            let _ = f.write_all(line.as_bytes());
            return;
        }
    }
    let _ = std::io::stdout().write_all(line.as_bytes());
}

pub fn notice(msg: &str) {
    log(NOTICE, msg)
}
pub fn warning(msg: &str) {
    log(WARNING, msg)
}
pub fn verbose(msg: &str) {
    log(VERBOSE, msg)
}

/// "26 Nov 2026 06:17:31.123" in UTC.
fn timestamp() -> String {
    let ms = crate::util::now_ms();
    let secs = (ms / 1000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86400));
    let t = secs.rem_euclid(86400);
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MON[(mo - 1) as usize % 12],
        y,
        t / 3600,
        (t / 60) % 60,
        t % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20783), (2026, 11, 26));
    }
}
