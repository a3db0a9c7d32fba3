//! Which arguments of a command are keys, and what it does with each (reads it: ACCESS;
//! changes it: WRITE), as Redis 7.0 tells it to its ACL check: from the command's key specs
//! (`keyspecs.rs`), or, for the commands whose specs are incomplete or whose flags depend on the
//! arguments, from Redis's per-command key finders (SET, BITFIELD, SORT, GEORADIUS, MIGRATE).

use super::keyspecs::KEY_SPECS;
use bytes::Bytes;
use std::sync::OnceLock;

/// The key's value is read (or returned).
pub const ACCESS: u8 = 1;
/// The key is inserted, updated or deleted.
pub const WRITE: u8 = 2;
/// The flags depend on the arguments (Redis's VARIABLE_FLAGS): use the command's finder.
pub const VARIABLE: u8 = 4;
/// The spec may miss keys (INCOMPLETE): use the command's finder.
pub const INCOMPLETE: u8 = 8;
/// Not a key (a channel of SPUBLISH …).
pub const NOT_KEY: u8 = 16;

#[derive(Clone, Copy, Debug)]
pub enum Begin {
    Index(i32),
    /// (keyword, start from: > 0 forwards from there, < 0 backwards from argc + it).
    Keyword(&'static str, i32),
    Unknown,
}

#[derive(Clone, Copy, Debug)]
pub enum Find {
    /// (last key relative to the first (< 0: from the end), step, limit).
    Range(i32, i32, i32),
    /// (index of the key count relative to the begin, first key relative to it, step).
    Keynum(i32, i32, i32),
    Unknown,
}

#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub flags: u8,
    pub begin: Begin,
    pub find: Find,
}

fn specs_of(name: &str) -> Option<&'static [Spec]> {
    static INDEX: OnceLock<ahash::AHashMap<&'static str, &'static [Spec]>> = OnceLock::new();
    INDEX
        .get_or_init(|| KEY_SPECS.iter().map(|(n, s)| (*n, *s)).collect())
        .get(name)
        .copied()
}

/// The keys of one invocation as (argument index, ACCESS/WRITE flags); None if Redis has no
/// key specs for this command (a shardis-only command).
pub fn keys(name: &str, args: &[Bytes]) -> Option<Vec<(usize, u8)>> {
    match name {
        "set" => return Some(set_keys(args)),
        "bitfield" => return Some(bitfield_keys(args)),
        "sort" => return Some(sort_keys(args)),
        "georadius" | "georadiusbymember" => return Some(georadius_keys(args)),
        "migrate" => return Some(migrate_keys(args)),
        _ => {}
    }
    let specs = specs_of(name)?;
    let mut out = Vec::new();
    for s in specs {
        if s.flags & NOT_KEY == 0 {
            spec_keys(s, args, &mut out);
        }
    }
    Some(out)
}

/// Redis's getKeysUsingKeySpecs for one spec (a spec that does not fit the arguments, a syntax
/// error for the command, gives no keys).
fn spec_keys(s: &Spec, args: &[Bytes], out: &mut Vec<(usize, u8)>) {
    let argc = args.len() as i64;
    let first = match s.begin {
        Begin::Index(i) => i as i64,
        Begin::Keyword(word, from) => {
            let from = from as i64;
            let (start, end) = if from > 0 {
                (from, argc - 1)
            } else {
                (argc + from, 1)
            };
            let mut i = start;
            let mut found = 0;
            loop {
                if i >= argc || i < 1 {
                    break;
                }
                if args[i as usize].eq_ignore_ascii_case(word.as_bytes()) {
                    found = i + 1;
                    break;
                }
                if i == end {
                    break;
                }
                i = if start <= end { i + 1 } else { i - 1 };
            }
            if found == 0 {
                return;
            }
            found
        }
        Begin::Unknown => return,
    };
    let (first, last, step) = match s.find {
        Find::Range(lastkey, step, limit) => {
            let last = if lastkey >= 0 {
                first + lastkey as i64
            } else if limit == 0 {
                argc + lastkey as i64
            } else {
                first + ((argc - first) / limit as i64 + lastkey as i64)
            };
            (first, last, step as i64)
        }
        Find::Keynum(idx, firstkey, step) => {
            let Some(n) = args
                .get((first + idx as i64) as usize)
                .and_then(|a| crate::util::num::parse_i64(a))
                .filter(|&n| n >= 0)
            else {
                return;
            };
            let first = first + firstkey as i64;
            (first, first + n - 1, step as i64)
        }
        Find::Unknown => return,
    };
    if last >= argc || last < first || first >= argc || step <= 0 {
        return;
    }
    let mut i = first;
    while i <= last {
        out.push((i as usize, s.flags & (ACCESS | WRITE)));
        i += step;
    }
}

fn is(a: &Bytes, w: &str) -> bool {
    a.eq_ignore_ascii_case(w.as_bytes())
}

/// SET reads its key only with GET.
fn set_keys(args: &[Bytes]) -> Vec<(usize, u8)> {
    let get = args.iter().skip(3).any(|a| is(a, "get"));
    vec![(1, if get { ACCESS | WRITE } else { WRITE })]
}

/// BITFIELD writes only with SET/INCRBY (or a syntax error, taken as a write).
fn bitfield_keys(args: &[Bytes]) -> Vec<(usize, u8)> {
    let mut readonly = true;
    let mut i = 2;
    while i < args.len() {
        let rem = args.len() - i - 1;
        if is(&args[i], "get") && rem >= 2 {
            i += 2;
        } else if is(&args[i], "overflow") && rem >= 1 {
            i += 1;
        } else {
            readonly = false;
            break;
        }
        i += 1;
    }
    vec![(1, if readonly { ACCESS } else { ACCESS | WRITE })]
}

/// SORT reads its key and writes the last STORE key.
fn sort_keys(args: &[Bytes]) -> Vec<(usize, u8)> {
    let mut out = vec![(1, ACCESS)];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "limit") {
            i += 2;
        } else if is(&args[i], "get") || is(&args[i], "by") {
            i += 1;
        } else if is(&args[i], "store") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    if let Some(s) = store {
        out.push((s, WRITE));
    }
    out
}

/// GEORADIUS(BYMEMBER) reads its key and writes the last STORE/STOREDIST key.
fn georadius_keys(args: &[Bytes]) -> Vec<(usize, u8)> {
    let mut out = vec![(1, ACCESS)];
    let mut store = None;
    let mut i = 5;
    while i < args.len() {
        if (is(&args[i], "store") || is(&args[i], "storedist")) && i + 1 < args.len() {
            store = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    if let Some(s) = store {
        out.push((s, WRITE));
    }
    out
}

/// MIGRATE: its key, or the keys after KEYS when the key is "".
fn migrate_keys(args: &[Bytes]) -> Vec<(usize, u8)> {
    let mut first = 3;
    let mut num = 1;
    if args.len() > 6 {
        let mut i = 6;
        while i < args.len() {
            if is(&args[i], "keys") {
                if !args[3].is_empty() {
                    return Vec::new();
                }
                first = i + 1;
                num = args.len() - first;
                break;
            }
            if is(&args[i], "auth") {
                i += 1;
            } else if is(&args[i], "auth2") {
                i += 2;
            }
            i += 1;
        }
    }
    (first..first + num)
        .filter(|&i| i < args.len())
        .map(|i| (i, ACCESS | WRITE))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ').map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn from_specs_and_finders() {
        assert_eq!(keys("get", &args("get k")), Some(vec![(1, ACCESS)]));
        assert_eq!(
            keys("zunionstore", &args("zunionstore d 2 a b")),
            Some(vec![(1, WRITE), (3, ACCESS), (4, ACCESS)])
        );
        assert_eq!(keys("set", &args("set k v")), Some(vec![(1, WRITE)]));
        assert_eq!(
            keys("set", &args("set k v ex 1 get")),
            Some(vec![(1, ACCESS | WRITE)])
        );
        assert_eq!(
            keys("sort", &args("sort k by x store d")),
            Some(vec![(1, ACCESS), (5, WRITE)])
        );
        assert_eq!(
            keys("eval", &args("eval s 2 a b c")),
            Some(vec![(3, ACCESS | WRITE), (4, ACCESS | WRITE)])
        );
        assert_eq!(keys("hexists", &args("hexists k f")), Some(vec![(1, 0)]));
        assert_eq!(
            keys("migrate", &args("migrate h p  0 5 AUTH2 KEYS 123 KEYS rw")),
            Some(vec![(10, ACCESS | WRITE)])
        );
        assert_eq!(keys("nosuch", &args("nosuch k")), None);
    }
}
