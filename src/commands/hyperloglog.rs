//! HyperLogLog commands: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST.
//!
//! HLLs are plain strings in Redis's format (src/store/hll.rs), so GET/SET/DUMP/RESTORE move
//! them between shardis and Redis unchanged. Replies, error texts and the order of checks
//! follow Redis 7.0 (src/hyperloglog.c). Values are edited in place when nothing else holds
//! the buffer.

use super::{CommandSpec, Kind};
use crate::protocol::reply::Reply;
use crate::store::hll::{self, Encoding, REGISTERS};
use crate::store::value::StrEnc;
use crate::store::{Ctx, Value};
use bytes::Bytes;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "pfadd",
        -2,
        "write denyoom fast",
        (1, 1, 1),
        Kind::Keyed(pfadd),
    )
    .doc(
        "hyperloglog",
        "2.8.9",
        "Adds the specified elements to the specified HyperLogLog.",
    ),
    CommandSpec::new(
        "pfcount",
        -2,
        "readonly",
        (1, -1, 1),
        Kind::Coordinated(pfcount),
    )
    .doc(
        "hyperloglog",
        "2.8.9",
        "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
    ),
    CommandSpec::new(
        "pfmerge",
        -2,
        "write denyoom",
        (1, -1, 1),
        Kind::Coordinated(pfmerge),
    )
    .doc(
        "hyperloglog",
        "2.8.9",
        "Merge N different HyperLogLogs into a single one.",
    ),
    CommandSpec::new(
        "pfdebug",
        3,
        "write denyoom admin",
        (2, 2, 1),
        Kind::Keyed(pfdebug),
    )
    .doc(
        "hyperloglog",
        "2.8.9",
        "Internal commands for debugging HyperLogLog values",
    ),
    CommandSpec::new("pfselftest", 1, "admin", (0, 0, 0), Kind::Keyed(pfselftest)).doc(
        "hyperloglog",
        "2.8.9",
        "An internal command for testing HyperLogLog values",
    ),
];

pub const ERR_NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
pub const ERR_CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

fn hll_err(e: hll::Error) -> Reply {
    Reply::err(match e {
        hll::Error::NotHll => ERR_NOT_HLL,
        hll::Error::Corrupt => ERR_CORRUPT,
    })
}

/// Run `f` on the stored HLL at `key` as an owned buffer, written back afterwards (the
/// allocation is reused when the value isn't shared). `None` if the key is absent; a wrong
/// type or a string that isn't an HLL fails before `f` runs. The value ends up "raw" as
/// Redis's dbUnshareStringValue leaves it.
fn with_hll<R>(
    ctx: &mut Ctx,
    key: &[u8],
    read: bool,
    f: impl FnOnce(&mut Vec<u8>) -> R,
) -> Result<Option<R>, Reply> {
    let found = if read {
        ctx.lookup_read(key)
    } else {
        ctx.lookup(key)
    };
    let Some(e) = found else {
        return Ok(None);
    };
    let Value::Str(slot) = &mut e.value else {
        return Err(Reply::wrongtype());
    };
    hll::validate(slot).map_err(hll_err)?;
    let mut buf = Vec::from(std::mem::take(slot).into_mut());
    let r = f(&mut buf);
    *slot = buf.into();
    e.enc = StrEnc::Raw;
    Ok(Some(r))
}

/// Store a freshly built HLL at an absent key ("raw", as Redis creates it).
fn create(ctx: &mut Ctx, key: &[u8], buf: Vec<u8>) {
    ctx.set(key, Value::Str(buf.into()), 0);
    if let Some(e) = ctx.db().get_raw_mut(key) {
        e.enc = StrEnc::Raw;
    }
}

/// Add `elems` one by one; the number of registers changed, or the first error (what was
/// changed before it stays, as in Redis).
fn add_all(buf: &mut Vec<u8>, elems: &[Bytes], max_bytes: usize) -> Result<u64, hll::Error> {
    let mut updated = 0;
    for e in elems {
        if hll::add(buf, e, max_bytes)? {
            updated += 1;
        }
    }
    Ok(updated)
}

/// PFADD key [element ...]
fn pfadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let max_bytes = ctx.store.limits.hll_sparse_max_bytes;
    let (key, elems) = (&args[1], &args[2..]);
    let res = with_hll(ctx, key, false, |buf| {
        let r = add_all(buf, elems, max_bytes);
        if matches!(r, Ok(n) if n > 0) {
            hll::invalidate_cache(buf);
        }
        r
    });
    let updated = match res {
        Err(reply) => return reply,
        Ok(Some(r)) => match r {
            Ok(n) => n,
            Err(e) => return hll_err(e),
        },
        Ok(None) => {
            let mut buf = hll::new_hll();
            let n = match add_all(&mut buf, elems, max_bytes) {
                Ok(n) => n,
                Err(e) => return hll_err(e),
            };
            // Creating the key counts as an update even with no elements.
            hll::invalidate_cache(&mut buf);
            create(ctx, key, buf);
            // `create` counted one change.
            ctx.store.dirty += n;
            return Reply::Int(1);
        }
    };
    ctx.store.dirty += updated;
    Reply::Int(i64::from(updated > 0))
}

/// Fold one source value into `max`; whether it was dense. The shared step of PFCOUNT and
/// PFMERGE over several keys (also used by the coordinator).
pub fn merge_source(max: &mut [u8], value: &[u8]) -> Result<bool, Reply> {
    let enc = hll::validate(value).map_err(hll_err)?;
    hll::merge_into(max, value).map_err(hll_err)?;
    Ok(enc == Encoding::Dense)
}

/// A register array for merging into.
pub fn empty_registers() -> Vec<u8> {
    vec![0u8; REGISTERS]
}

/// PFCOUNT key [key ...]
fn pfcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 2 {
        let mut max = empty_registers();
        for key in &args[1..] {
            let Some(e) = ctx.lookup_read(key) else {
                continue;
            };
            let Value::Str(v) = &e.value else {
                return Reply::wrongtype();
            };
            if let Err(r) = merge_source(&mut max, v) {
                return r;
            }
        }
        return Reply::Int(hll::count_registers(&max) as i64);
    }
    let res = with_hll(ctx, &args[1], true, |buf| {
        if let Some(c) = hll::cached(buf) {
            return Ok((c, false));
        }
        let c = hll::count(buf)?;
        hll::set_cached(buf, c);
        Ok((c, true))
    });
    match res {
        Err(r) => r,
        Ok(None) => Reply::Int(0),
        Ok(Some(Err(e))) => hll_err(e),
        Ok(Some(Ok((c, recomputed)))) => {
            // Refreshing the cache changes the value (Redis counts it, without propagating).
            if recomputed {
                ctx.store.dirty += 1;
            }
            Reply::Int(c as i64)
        }
    }
}

/// PFMERGE destkey [sourcekey ...]
fn pfmerge(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut max = empty_registers();
    let mut use_dense = false;
    // The destination is a source too (Redis 7.0 reads argv[1..]).
    for key in &args[1..] {
        let Some(e) = ctx.lookup_read(key) else {
            continue;
        };
        let Value::Str(v) = &e.value else {
            return Reply::wrongtype();
        };
        match merge_source(&mut max, v) {
            Ok(dense) => use_dense |= dense,
            Err(r) => return r,
        }
    }
    match store_merged(ctx, &args[1], &max, use_dense) {
        Ok(_) => Reply::ok(),
        Err(r) => r,
    }
}

/// PFMERGE's write on the destination's shard: create or update `key` with the merged
/// registers; returns the stored value (the coordinator logs it).
pub fn store_merged(
    ctx: &mut Ctx,
    key: &[u8],
    max: &[u8],
    use_dense: bool,
) -> Result<Bytes, Reply> {
    let max_bytes = ctx.store.limits.hll_sparse_max_bytes;
    let merge = |buf: &mut Vec<u8>| {
        hll::store_merged(buf, max, use_dense, max_bytes)?;
        Ok::<_, hll::Error>(Bytes::copy_from_slice(buf))
    };
    let stored = match with_hll(ctx, key, false, merge)? {
        Some(r) => {
            let v = r.map_err(hll_err)?;
            ctx.store.dirty += 1;
            v
        }
        None => {
            let mut buf = hll::new_hll();
            hll::store_merged(&mut buf, max, use_dense, max_bytes).map_err(hll_err)?;
            let v = Bytes::copy_from_slice(&buf);
            create(ctx, key, buf);
            v
        }
    };
    Ok(stored)
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
fn pfdebug(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let res = with_hll(
        ctx,
        &args[2],
        false,
        |buf| -> Result<(Reply, bool), Reply> {
            let sparse = hll::validate(buf) == Ok(Encoding::Sparse);
            match sub.as_str() {
                "getreg" => {
                    if sparse {
                        hll::sparse_to_dense(buf).map_err(hll_err)?;
                    }
                    let regs = hll::registers(buf).map_err(hll_err)?;
                    let items = regs.iter().map(|&r| Reply::Int(i64::from(r))).collect();
                    Ok((Reply::Array(items), sparse))
                }
                "decode" => {
                    if !sparse {
                        return Err(Reply::err("ERR HLL encoding is not sparse"));
                    }
                    Ok((Reply::Bulk(Bytes::from(hll::decode(buf))), false))
                }
                "encoding" => {
                    let name = if sparse { "sparse" } else { "dense" };
                    Ok((Reply::Simple(name.to_string().into()), false))
                }
                "todense" => {
                    if sparse {
                        hll::sparse_to_dense(buf).map_err(hll_err)?;
                    }
                    Ok((Reply::Int(i64::from(sparse)), sparse))
                }
                _ => Err(Reply::err(format!(
                    "ERR Unknown PFDEBUG subcommand '{}'",
                    String::from_utf8_lossy(&args[1])
                ))),
            }
        },
    );
    match res {
        Err(r) | Ok(Some(Err(r))) => r,
        Ok(None) => Reply::err("ERR The specified key does not exist"),
        Ok(Some(Ok((reply, converted)))) => {
            // An encoding change is a write (Redis forces its propagation).
            if converted {
                ctx.store.dirty += 1;
            }
            reply
        }
    }
}

/// PFSELFTEST
fn pfselftest(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    match hll::selftest(ctx.store.limits.hll_sparse_max_bytes) {
        Ok(()) => Reply::ok(),
        Err(e) => Reply::err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ShardStore;

    fn run(st: &mut ShardStore, args: &[&[u8]]) -> Reply {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let spec = COMMANDS
            .iter()
            .find(|c| c.name.as_bytes() == args[0].to_ascii_lowercase())
            .expect("a command of this family");
        assert!(spec.arity_ok(args.len()));
        match spec.kind {
            Kind::Keyed(h) | Kind::Coordinated(h) => h(&mut st.ctx(0), &args),
            _ => unreachable!(),
        }
    }

    #[test]
    fn add_count_merge() {
        let mut st = ShardStore::new(1);
        assert_eq!(run(&mut st, &[b"PFADD", b"h"]), Reply::Int(1));
        assert_eq!(run(&mut st, &[b"PFADD", b"h"]), Reply::Int(0));
        assert_eq!(run(&mut st, &[b"PFCOUNT", b"h"]), Reply::Int(0));
        assert_eq!(
            run(&mut st, &[b"PFADD", b"h", b"a", b"b", b"c"]),
            Reply::Int(1)
        );
        assert_eq!(run(&mut st, &[b"PFADD", b"h", b"a"]), Reply::Int(0));
        assert_eq!(run(&mut st, &[b"PFCOUNT", b"h"]), Reply::Int(3));
        assert_eq!(run(&mut st, &[b"PFADD", b"g", b"c", b"d"]), Reply::Int(1));
        assert_eq!(
            run(&mut st, &[b"PFCOUNT", b"h", b"g", b"nokey"]),
            Reply::Int(4)
        );
        assert_eq!(run(&mut st, &[b"PFMERGE", b"d", b"h", b"g"]), Reply::ok());
        assert_eq!(run(&mut st, &[b"PFCOUNT", b"d"]), Reply::Int(4));
        assert_eq!(
            run(&mut st, &[b"PFDEBUG", b"ENCODING", b"d"]),
            Reply::Simple("sparse".to_string().into())
        );
        assert_eq!(run(&mut st, &[b"PFDEBUG", b"TODENSE", b"d"]), Reply::Int(1));
        assert_eq!(run(&mut st, &[b"PFCOUNT", b"d"]), Reply::Int(4));
        assert_eq!(run(&mut st, &[b"PFSELFTEST"]), Reply::ok());
    }

    #[test]
    fn not_an_hll() {
        let mut st = ShardStore::new(1);
        st.ctx(0).set(b"s", Value::str(b"hello"), 0);
        assert_eq!(
            run(&mut st, &[b"PFADD", b"s", b"a"]),
            Reply::err(ERR_NOT_HLL)
        );
        assert_eq!(run(&mut st, &[b"PFCOUNT", b"s"]), Reply::err(ERR_NOT_HLL));
        let mut bad = hll::new_hll();
        bad.extend_from_slice(&[0x7f, 0xff]);
        // A valid cached cardinality is answered without walking the registers.
        st.ctx(0).set(b"c", Value::Str(bad.clone().into()), 0);
        assert_eq!(run(&mut st, &[b"PFCOUNT", b"c"]), Reply::Int(0));
        hll::invalidate_cache(&mut bad);
        st.ctx(0).set(b"c", Value::Str(bad.into()), 0);
        assert_eq!(run(&mut st, &[b"PFCOUNT", b"c"]), Reply::err(ERR_CORRUPT));
        assert_eq!(
            run(&mut st, &[b"PFMERGE", b"x", b"c"]),
            Reply::err(ERR_CORRUPT)
        );
    }
}
