//! SORT and SORT_RO (Redis 7.0 `sort.c`) over lists, sets and sorted sets.
//!
//! The work is split in phases shared with the coordinator, which runs the command when its BY
//! or GET patterns name keys (those can live on any shard) or its STORE destination is on
//! another shard than the source: `load` builds the vector on the source's shard,
//! `by_lookups`/`sort_vector` order it, `get_lookups`/`assemble` build the output, and
//! `store_list` writes a STORE result. Here, on one shard, every lookup is local.

use super::args::is;
use super::{CommandSpec, Kind};
use crate::protocol::reply::Reply;
use crate::store::list::List;
use crate::store::{Ctx, Value};
use bytes::Bytes;
use std::cmp::Ordering;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "sort",
        -2,
        "write denyoom",
        (1, 1, 1),
        Kind::Coordinated(sort),
    )
    .key_fn(sort_keys)
    .spread_if(needs_other_keys)
    .doc(
        "generic",
        "1.0.0",
        "Sort the elements in a list, set or sorted set, optionally storing the result",
    ),
    CommandSpec::new(
        "sort_ro",
        -2,
        "readonly",
        (1, 1, 1),
        Kind::Coordinated(sort_ro),
    )
    .spread_if(needs_other_keys)
    .doc(
        "generic",
        "7.0.0",
        "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
    ),
];

/// SORT and SORT_RO as `redis.call` runs them: a set's unsorted output (BY a pattern without
/// '*') comes sorted, as Redis makes it for scripts, so that what a script does with it does
/// not depend on the set's internal order. `for_script` picks them.
static IN_SCRIPT: [CommandSpec; 2] = [
    with_kind(&COMMANDS[0], Kind::Coordinated(sort_scripted)),
    with_kind(&COMMANDS[1], Kind::Coordinated(sort_ro_scripted)),
];

const fn with_kind(spec: &CommandSpec, kind: Kind) -> CommandSpec {
    CommandSpec { kind, ..*spec }
}

/// The spec a script runs for `spec`: SORT's script variant, anything else as it is.
pub fn for_script(spec: &'static CommandSpec) -> &'static CommandSpec {
    match spec.name {
        "sort" => &IN_SCRIPT[0],
        "sort_ro" => &IN_SCRIPT[1],
        _ => spec,
    }
}

/// Whether `spec` is the variant a script runs (for the coordinator's SORT).
pub fn scripted(spec: &CommandSpec) -> bool {
    IN_SCRIPT.iter().any(|s| std::ptr::eq(s, spec))
}

/// The parsed options of one SORT.
#[derive(Clone, Debug)]
pub struct SortOpts {
    pub desc: bool,
    pub alpha: bool,
    limit_start: i64,
    limit_count: i64,
    /// The STORE destination's argument index.
    pub store: Option<usize>,
    /// BY pattern; a pattern without '*' means no sorting at all (`dontsort`).
    by: Option<Bytes>,
    dontsort: bool,
    gets: Vec<Bytes>,
    /// Run by a script (see `IN_SCRIPT`).
    pub script: bool,
}

/// The argument up to its first NUL byte (Redis handles patterns with C string functions).
fn cstr(a: &[u8]) -> &[u8] {
    a.iter().position(|&c| c == 0).map_or(a, |i| &a[..i])
}

fn has_star(p: &[u8]) -> bool {
    cstr(p).contains(&b'*')
}

/// Parse SORT's options as sortCommandGeneric does (a later ASC/DESC, LIMIT or BY wins).
pub fn parse(args: &[Bytes], readonly: bool) -> Result<SortOpts, Reply> {
    let mut o = SortOpts {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
        script: false,
    };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if is(a, "asc") {
            o.desc = false;
        } else if is(a, "desc") {
            o.desc = true;
        } else if is(a, "alpha") {
            o.alpha = true;
        } else if is(a, "limit") && left >= 2 {
            o.limit_start = super::args::int(&args[j + 1])?;
            o.limit_count = super::args::int(&args[j + 2])?;
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            o.store = Some(j + 1);
            j += 1;
        } else if is(a, "by") && left >= 1 {
            o.by = Some(args[j + 1].clone());
            o.dontsort = !has_star(&args[j + 1]);
            j += 1;
        } else if is(a, "get") && left >= 1 {
            o.gets.push(args[j + 1].clone());
            j += 1;
        } else {
            return Err(Reply::syntax());
        }
        j += 1;
    }
    Ok(o)
}

/// SORT's keys as sortGetKeys finds them: the source, and the last STORE's destination.
fn sort_keys(args: &[Bytes]) -> Vec<usize> {
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "limit") {
            i += 2;
        } else if is(a, "get") || is(a, "by") {
            i += 1;
        } else if is(a, "store") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    let mut keys = vec![1];
    keys.extend(store);
    keys
}

/// Whether the command reads keys named by its patterns (a sorting BY pattern, or a GET
/// pattern other than "#"): those may live on any shard, so the coordinator runs it.
fn needs_other_keys(args: &[Bytes]) -> bool {
    let readonly = args.first().is_some_and(|a| is(a, "sort_ro"));
    parse(args, readonly).is_ok_and(|o| {
        (o.by.is_some() && !o.dontsort) || o.gets.iter().any(|g| !is_hash_sign(g) && has_star(g))
    })
}

/// GET "#": the element itself.
fn is_hash_sign(p: &[u8]) -> bool {
    cstr(p) == b"#"
}

/// A key (and hash field) a pattern names for one element.
pub type Lookup = (Bytes, Option<Bytes>);

/// lookupKeyByPattern's substitution: the first '*' replaced by the element; "->field" after
/// it (with something after the arrow) names a hash field. None when the pattern has no '*'.
fn pattern_key(pat: &[u8], elem: &[u8]) -> Option<Lookup> {
    let c = cstr(pat);
    let star = c.iter().position(|&b| b == b'*')?;
    let arrow = c[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&f| f + 2 < c.len());
    let (post_end, field) = match arrow {
        // The field runs to the end of the whole argument, as Redis takes its length.
        Some(f) => (f, Some(Bytes::copy_from_slice(&pat[f + 2..]))),
        None => (pat.len(), None),
    };
    let mut key = Vec::with_capacity(pat.len() + elem.len());
    key.extend_from_slice(&pat[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pat[star + 1..post_end]);
    Some((Bytes::from(key), field))
}

/// The value a lookup finds: a string key's value, or a hash's field; None for anything else.
pub fn resolve(ctx: &mut Ctx, key: &[u8], field: Option<&[u8]>) -> Option<Bytes> {
    let e = ctx.lookup_read(key)?;
    match (&e.value, field) {
        (Value::Str(s), None) => Some(s.to_bytes()),
        (Value::Hash(h), Some(f)) => h.get(f).map(Bytes::copy_from_slice),
        _ => None,
    }
}

/// The elements to sort and the output window (`start..=end` over them), as
/// sortCommandGeneric loads them.
#[derive(Debug)]
pub struct Vector {
    pub elems: Vec<Bytes>,
    start: i64,
    end: i64,
}

/// Look the source up (WRONGTYPE unless a list, set or sorted set; absent reads as an empty
/// list) and load its vector; returns the options as adjusted for the source's type.
pub fn load(ctx: &mut Ctx, key: &[u8], o: SortOpts) -> Result<(Vector, SortOpts), Reply> {
    match ctx.lookup_read(key).map(|e| &e.value) {
        None => Ok(build_vector(None, o)),
        Some(v @ (Value::List(_) | Value::Set(_) | Value::ZSet(_))) => Ok(build_vector(Some(v), o)),
        Some(_) => Err(Reply::wrongtype()),
    }
}

fn build_vector(v: Option<&Value>, mut o: SortOpts) -> (Vector, SortOpts) {
    // A set's own order is not stable across runs: with STORE or in a script it is sorted
    // (ALPHA) instead, so that what is written does not depend on it.
    if o.dontsort && matches!(v, Some(Value::Set(_))) && (o.store.is_some() || o.script) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = match v {
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        _ => 0,
    } as i64;
    let mut start = o.limit_start.clamp(0, len);
    let count = o.limit_count.clamp(-1, len);
    let mut end = if count < 0 { len } else { start + count - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    let window = (end - start + 1).max(0) as usize;
    let elems: Vec<Bytes> = match v {
        // Kept in their own order, only the window, DESC walking from the other end.
        Some(Value::List(l)) if o.dontsort => {
            let from = start.max(0) as usize;
            let out = if o.desc {
                let all: Vec<&[u8]> = l.iter().collect();
                all.iter()
                    .rev()
                    .skip(from)
                    .take(window)
                    .map(|e| Bytes::copy_from_slice(e))
                    .collect()
            } else {
                let mut v = Vec::with_capacity(window);
                l.for_range(from, from + window.saturating_sub(1), |e| {
                    v.push(Bytes::copy_from_slice(e))
                });
                v
            };
            if window > 0 {
                end -= start;
                start = 0;
            }
            out.into_iter().take(window).collect()
        }
        Some(Value::ZSet(z)) if o.dontsort => {
            let from = start.max(0) as usize;
            let out: Vec<Bytes> = if window == 0 {
                Vec::new()
            } else if o.desc {
                z.iter_from(z.len() - 1 - from, true)
                    .take(window)
                    .map(|(m, _)| Bytes::copy_from_slice(m))
                    .collect()
            } else {
                z.iter_from(from, false)
                    .take(window)
                    .map(|(m, _)| Bytes::copy_from_slice(m))
                    .collect()
            };
            end -= start;
            start = 0;
            out
        }
        Some(Value::List(l)) => l.iter().map(Bytes::copy_from_slice).collect(),
        Some(Value::Set(s)) => s.members(),
        Some(Value::ZSet(z)) => z.iter().map(|(m, _)| Bytes::copy_from_slice(m)).collect(),
        _ => Vec::new(),
    };
    (Vector { elems, start, end }, o)
}

/// The lookups the BY pattern needs, one per element (None: the pattern names no key); None
/// when sorting needs none.
pub fn by_lookups(v: &Vector, o: &SortOpts) -> Option<Vec<Option<Lookup>>> {
    if o.dontsort {
        return None;
    }
    let by = o.by.as_ref()?;
    Some(v.elems.iter().map(|e| pattern_key(by, e)).collect())
}

/// C's strtod over a sort weight, as SORT checks it: all read (up to a NUL byte), no overflow
/// or underflow, not NaN. The empty string reads as 0.
fn sort_score(a: &[u8]) -> Option<f64> {
    let c = cstr(a);
    let (v, used) = super::zset::strtod_prefix(c);
    if used != c.len() && !c.is_empty() {
        return None;
    }
    if used == 0 {
        // Nothing converted: strtod leaves the end pointer at the start, fine only when empty.
        return c.is_empty().then_some(0.0);
    }
    super::zset::strtod_in_range(&c[..used], v)
}

/// Sort the vector (unless `dontsort`): numerically by the element or its BY value (missing
/// BY values weigh 0), ties by the element's bytes; ALPHA by bytes (elements without a BY
/// value first). `by` holds the BY values, in element order, when there is a BY pattern.
pub fn sort_vector(
    v: &mut Vector,
    by: Option<Vec<Option<Bytes>>>,
    o: &SortOpts,
) -> Result<(), Reply> {
    if o.dontsort {
        return Ok(());
    }
    let by_pattern = by.is_some();
    let weights: Vec<Option<Bytes>> = by.unwrap_or_default();
    let mut items: Vec<(Bytes, f64, Option<Bytes>)> = Vec::with_capacity(v.elems.len());
    let mut bad = false;
    for (i, e) in std::mem::take(&mut v.elems).into_iter().enumerate() {
        let w = if by_pattern {
            weights.get(i).cloned().flatten()
        } else {
            Some(e.clone())
        };
        let mut score = 0.0;
        if !o.alpha {
            if let Some(w) = &w {
                match sort_score(w) {
                    Some(s) => score = s,
                    None => bad = true,
                }
            }
        }
        items.push((e, score, if by_pattern { w } else { None }));
    }
    if bad {
        return Err(Reply::err(
            "ERR One or more scores can't be converted into double",
        ));
    }
    // Without STORE Redis compares ALPHA values with strcoll, which in the C locale is byte
    // order up to the first NUL byte; with STORE, binary-safe byte order.
    let alpha_cmp = |x: &[u8], y: &[u8]| {
        if o.store.is_some() {
            x.cmp(y)
        } else {
            cstr(x).cmp(cstr(y))
        }
    };
    // A stable sort, as glibc's qsort (a merge sort) behaves on ties.
    items.sort_by(|a, b| {
        let c = if !o.alpha {
            a.1.partial_cmp(&b.1)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.0.cmp(&b.0))
        } else if by_pattern {
            match (&a.2, &b.2) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => alpha_cmp(x, y),
            }
        } else {
            alpha_cmp(&a.0, &b.0)
        };
        if o.desc {
            c.reverse()
        } else {
            c
        }
    });
    v.elems = items.into_iter().map(|i| i.0).collect();
    Ok(())
}

/// The output window's elements.
fn window(v: &Vector) -> &[Bytes] {
    if v.end < v.start || v.start < 0 {
        return &[];
    }
    let (s, e) = (v.start as usize, (v.end as usize + 1).min(v.elems.len()));
    v.elems.get(s..e).unwrap_or(&[])
}

/// The lookups the GET patterns need for the output window, in output order ("#" and patterns
/// without '*' need none).
pub fn get_lookups(v: &Vector, o: &SortOpts) -> Vec<Lookup> {
    let mut out = Vec::new();
    for e in window(v) {
        for g in &o.gets {
            if !is_hash_sign(g) {
                if let Some(l) = pattern_key(g, e) {
                    out.push(l);
                }
            }
        }
    }
    out
}

/// The output: the window's elements, or for each one its GET values (`found`: the results of
/// `get_lookups`, in order).
pub fn assemble(
    v: &Vector,
    o: &SortOpts,
    found: impl IntoIterator<Item = Option<Bytes>>,
) -> Vec<Option<Bytes>> {
    let mut found = found.into_iter();
    let mut out = Vec::new();
    for e in window(v) {
        if o.gets.is_empty() {
            out.push(Some(e.clone()));
        }
        for g in &o.gets {
            if is_hash_sign(g) {
                out.push(Some(e.clone()));
            } else if has_star(g) {
                out.push(found.next().flatten());
            } else {
                out.push(None);
            }
        }
    }
    out
}

/// The reply without STORE.
pub fn reply(items: Vec<Option<Bytes>>) -> Reply {
    Reply::Array(
        items
            .into_iter()
            .map(|i| i.map_or(Reply::Nil, Reply::Bulk))
            .collect(),
    )
}

/// STORE: the output as a list at `dst` (missing GET values as empty strings), replacing what
/// is there (TTL dropped), or `dst` deleted when the output is empty; logged as its effect
/// (DEL, then RPUSH chunks) since the BY/GET keys a replay would read may live elsewhere.
pub fn store_list(ctx: &mut Ctx, dst: &[u8], items: Vec<Option<Bytes>>) -> Reply {
    let n = items.len();
    if n == 0 {
        if ctx.delete(dst) {
            ctx.propagate(&[&b"DEL"[..], dst]);
        } else {
            ctx.propagate_nothing();
        }
        return Reply::Int(0);
    }
    let fill = ctx.store.limits.list_max_listpack_size;
    let mut l = List::new();
    for i in &items {
        l.push_back(i.as_deref().unwrap_or(b""), fill);
    }
    ctx.propagate(&[&b"DEL"[..], dst]);
    let mut cmds = Vec::new();
    crate::store::list::rewrite_commands(dst, &l, &mut cmds);
    for c in cmds {
        ctx.propagate(&c);
    }
    ctx.set(dst, Value::List(l), 0);
    Reply::Int(n as i64)
}

/// The whole command on one shard (every key it reads is here).
fn run(ctx: &mut Ctx, args: &[Bytes], readonly: bool, script: bool) -> Reply {
    let o = match parse(args, readonly) {
        Ok(o) => SortOpts { script, ..o },
        Err(e) => return e,
    };
    let (mut v, o) = match load(ctx, &args[1], o) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let by = by_lookups(&v, &o).map(|ls| {
        ls.into_iter()
            .map(|l| l.and_then(|(k, f)| resolve(ctx, &k, f.as_deref())))
            .collect()
    });
    if let Err(e) = sort_vector(&mut v, by, &o) {
        return e;
    }
    let found: Vec<Option<Bytes>> = get_lookups(&v, &o)
        .into_iter()
        .map(|(k, f)| resolve(ctx, &k, f.as_deref()))
        .collect();
    let items = assemble(&v, &o, found);
    match o.store {
        Some(d) => store_list(ctx, &args[d], items),
        None => reply(items),
    }
}

fn sort(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    run(ctx, args, false, false)
}

fn sort_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    run(ctx, args, true, false)
}

fn sort_scripted(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    run(ctx, args, false, true)
}

fn sort_ro_scripted(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    run(ctx, args, true, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn pattern_substitution() {
        assert_eq!(pattern_key(b"w_*", b"3"), Some((b("w_3"), None)));
        assert_eq!(pattern_key(b"h_*->f", b"3"), Some((b("h_3"), Some(b("f")))));
        // An arrow with nothing after it is part of the key.
        assert_eq!(pattern_key(b"h_*->", b"3"), Some((b("h_3->"), None)));
        // Only the first '*' is replaced; the arrow is searched after it.
        assert_eq!(pattern_key(b"a->*x*", b"3"), Some((b("a->3x*"), None)));
        assert_eq!(pattern_key(b"nostar", b"3"), None);
    }

    #[test]
    fn weights_read_as_strtod() {
        assert_eq!(sort_score(b"1.5"), Some(1.5));
        assert_eq!(sort_score(b" 2"), Some(2.0));
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"0x10"), Some(16.0));
        assert_eq!(sort_score(b"inf"), Some(f64::INFINITY));
        assert_eq!(sort_score(b"3\0abc"), Some(3.0));
        assert_eq!(sort_score(b"1e400"), None);
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"1x"), None);
        assert_eq!(sort_score(b" "), None);
    }

    #[test]
    fn keys_as_sort_get_keys() {
        let a: Vec<Bytes> = ["sort", "k", "limit", "0", "1", "store", "d", "get", "store"]
            .iter()
            .map(|s| b(s))
            .collect();
        assert_eq!(sort_keys(&a), vec![1, 6]);
        assert!(!needs_other_keys(&a));
        let a: Vec<Bytes> = ["sort", "k", "by", "w_*"].iter().map(|s| b(s)).collect();
        assert!(needs_other_keys(&a));
        let a: Vec<Bytes> = ["sort", "k", "by", "nosort", "get", "#"]
            .iter()
            .map(|s| b(s))
            .collect();
        assert!(!needs_other_keys(&a));
    }
}
