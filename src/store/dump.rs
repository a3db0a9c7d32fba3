//! DUMP/RESTORE payloads, byte-compatible with Redis 7.0 (cluster.c createDumpPayload and
//! verifyDumpPayload, rdb.c string and length encodings, liblzf 3.6 as Redis builds it).
//!
//! A payload is `type byte | RDB-encoded value | RDB version (u16 LE) | CRC64 (LE)`, the CRC
//! (Redis's crc64, the Jones polynomial) covering everything before it.

use super::hash::{self, Hash, HashLimits};
use super::key::Key;
use super::list::List;
use super::set::{self, Set};
use super::value::Value;
use super::StoreLimits;
use crate::util::num;
use bytes::Bytes;

/// RDB version written by Redis 7.0; payloads from newer versions are refused.
pub const RDB_VERSION: u16 = 10;

/// Error text (code included) for a payload whose footer does not verify.
pub const ERR_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
/// Error text (code included) for a payload whose body does not decode.
pub const ERR_BAD_FORMAT: &str = "ERR Bad data format";

const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

// RDB object types (rdb.h): every encoding Redis 7.0 writes or still reads for strings, lists,
// sets, hashes and sorted sets (module and stream types are refused as bad data).
const RDB_TYPE_STRING: u8 = 0;
/// List as a plain sequence of strings (before quicklists).
const RDB_TYPE_LIST: u8 = 1;
/// Set as a sequence of strings (what Redis writes for hashtable sets).
const RDB_TYPE_SET: u8 = 2;
/// Sorted set, scores as binary doubles (what Redis writes for skiplist-encoded sets).
const RDB_TYPE_ZSET_2: u8 = 5;
/// Hash as field/value strings (what Redis writes for hashtable hashes).
const RDB_TYPE_HASH: u8 = 4;
/// Hash as a zipmap blob (Redis 2.4 and older).
const RDB_TYPE_HASH_ZIPMAP: u8 = 9;
/// List as one ziplist blob (before quicklists).
const RDB_TYPE_LIST_ZIPLIST: u8 = 10;
/// Set of integers as an intset blob (what Redis writes for intset sets).
const RDB_TYPE_SET_INTSET: u8 = 11;
/// Sorted set as a ziplist blob (before 7.0).
const RDB_TYPE_ZSET_ZIPLIST: u8 = 12;
/// Hash as a ziplist blob (before 7.0).
const RDB_TYPE_HASH_ZIPLIST: u8 = 13;
/// List as quicklist nodes, each a ziplist blob (3.2 to 6.2).
const RDB_TYPE_LIST_QUICKLIST: u8 = 14;
/// Hash as a listpack blob (what Redis writes for small hashes).
const RDB_TYPE_HASH_LISTPACK: u8 = 16;
/// Sorted set as a listpack blob (what Redis writes for small sets).
const RDB_TYPE_ZSET_LISTPACK: u8 = 17;
/// List as quicklist nodes, each a container kind and a listpack (or plain) blob (7.0).
const RDB_TYPE_LIST_QUICKLIST_2: u8 = 18;

// Quicklist node containers (quicklist.h).
const QUICKLIST_NODE_CONTAINER_PLAIN: u64 = 1;
const QUICKLIST_NODE_CONTAINER_PACKED: u64 = 2;

// Length and string encodings (rdb.h).
const RDB_6BITLEN: u8 = 0;
const RDB_14BITLEN: u8 = 1;
const RDB_32BITLEN: u8 = 0x80;
const RDB_64BITLEN: u8 = 0x81;
const RDB_ENCVAL: u8 = 3;
const RDB_ENC_INT8: u64 = 0;
const RDB_ENC_INT16: u64 = 1;
const RDB_ENC_INT32: u64 = 2;
const RDB_ENC_LZF: u64 = 3;

/// Serialize a value the way Redis's DUMP does. `lim` gives the list node size
/// (`list-max-listpack-size`) that decides where Redis would cut a list into quicklist nodes.
/// Callers check `dumpable` first; a value it refuses serializes as nothing.
pub fn dump(value: &Value, lim: &StoreLimits) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::Str(s) => {
            out.push(RDB_TYPE_STRING);
            save_string(&mut out, s);
        }
        Value::List(l) => save_list(&mut out, l, lim.list_max_listpack_size),
        Value::Hash(h) => save_hash(&mut out, h),
        Value::Set(s) => save_set(&mut out, s),
        Value::Stream(_) => return Vec::new(),
        Value::ZSet(z) => save_zset(&mut out, z),
    }
    seal(out)
}

/// Appends the footer (RDB version, CRC64) that turns a serialized value into a payload.
pub fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// Whether DUMP can serialize this value (streams' RDB encoding is not written yet).
pub fn dumpable(value: &Value) -> Result<(), &'static str> {
    match value {
        Value::Stream(_) => Err("ERR DUMP is not supported yet for streams"),
        _ => Ok(()),
    }
}

/// Check a payload's footer as verifyDumpPayload does: at least 10 bytes, an RDB version no
/// newer than ours, and a matching CRC (Redis has no "zero CRC" escape here, unlike RDB files).
pub fn verify(payload: &[u8]) -> bool {
    if payload.len() < 10 {
        return false;
    }
    let footer = &payload[payload.len() - 10..];
    let ver = u16::from_le_bytes([footer[0], footer[1]]);
    if ver > RDB_VERSION {
        return false;
    }
    let crc = CRC64.checksum(&payload[..payload.len() - 8]);
    crc.to_le_bytes() == footer[2..]
}

/// Decode a DUMP payload. The error is the full reply text: `ERR_PAYLOAD` for a bad footer,
/// `ERR_BAD_FORMAT` for a body that does not decode. Bodies are checked as Redis does with
/// `sanitize-dump-payload yes` (every blob walked, duplicates refused): a payload is untrusted
/// and must never leave a structure behind that breaks a later command. `lim` picks the
/// encodings of the restored value, as Redis's loader does with its config.
pub fn restore(payload: &[u8], lim: &StoreLimits) -> Result<Value, &'static str> {
    if !verify(payload) {
        return Err(ERR_PAYLOAD);
    }
    // Redis reads the object from the whole buffer, footer included, and does not insist that
    // it ends where the footer starts; reading the same way accepts exactly what Redis accepts.
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let ty = r.byte().ok_or(ERR_BAD_FORMAT)?;
    load_object(ty, &mut r, lim).ok_or(ERR_BAD_FORMAT)
}

/// rdbLoadObject for the types this server holds; None for bad data, an empty collection
/// (Redis's "empty key" error) or a type it does not hold (modules, streams).
fn load_object(ty: u8, r: &mut Reader, lim: &StoreLimits) -> Option<Value> {
    let fill = lim.list_max_listpack_size;
    match ty {
        RDB_TYPE_STRING => load_string(r).map(|b| Value::Str(b.into())),
        RDB_TYPE_LIST => {
            let n = load_count(r)?;
            let mut l = List::new();
            for _ in 0..n {
                l.push_back(&load_string(r)?, fill);
            }
            non_empty_list(l)
        }
        RDB_TYPE_LIST_ZIPLIST => {
            let mut l = List::new();
            for v in ziplist_entries(&load_string(r)?)? {
                l.push_back(&v, fill);
            }
            non_empty_list(l)
        }
        RDB_TYPE_LIST_QUICKLIST | RDB_TYPE_LIST_QUICKLIST_2 => {
            let nodes = load_count(r)?;
            let mut l = List::new();
            for _ in 0..nodes {
                let container = if ty == RDB_TYPE_LIST_QUICKLIST_2 {
                    load_count(r)?
                } else {
                    QUICKLIST_NODE_CONTAINER_PACKED
                };
                if container != QUICKLIST_NODE_CONTAINER_PACKED
                    && container != QUICKLIST_NODE_CONTAINER_PLAIN
                {
                    return None;
                }
                let blob = load_string(r)?;
                if blob.is_empty() {
                    return None;
                }
                if container == QUICKLIST_NODE_CONTAINER_PLAIN {
                    l.push_back(&blob, fill);
                    continue;
                }
                let entries = if ty == RDB_TYPE_LIST_QUICKLIST_2 {
                    listpack_entries(&blob)?
                } else {
                    ziplist_entries(&blob)?
                };
                // Empty nodes are skipped, as Redis does; an empty list fails below.
                for v in entries {
                    l.push_back(&v, fill);
                }
            }
            non_empty_list(l)
        }
        RDB_TYPE_SET => {
            let n = load_count(r)?;
            let mut members = Vec::new();
            for _ in 0..n {
                members.push(load_string(r)?);
            }
            set_from_members(members, lim.set_max_intset_entries)
        }
        RDB_TYPE_SET_INTSET => {
            let ints = intset_members(&load_string(r)?)?;
            if ints.len() > lim.set_max_intset_entries {
                let t: set::Table = ints.iter().map(|&i| Key::new(&int_text(i))).collect();
                Some(Value::Set(Set::Table(Box::new(t))))
            } else {
                Some(Value::Set(Set::Ints(set::Ints::from_sorted(ints))))
            }
        }
        RDB_TYPE_HASH => {
            let n = load_count(r)?;
            let mut flat = Vec::new();
            for _ in 0..n {
                flat.push(load_string(r)?);
                flat.push(load_string(r)?);
            }
            hash_from_flat(flat, lim.hash, true)
        }
        RDB_TYPE_HASH_ZIPMAP => hash_from_flat(zipmap_entries(&load_string(r)?)?, lim.hash, true),
        RDB_TYPE_HASH_ZIPLIST => {
            hash_from_flat(ziplist_entries(&load_string(r)?)?, lim.hash, false)
        }
        RDB_TYPE_HASH_LISTPACK => {
            hash_from_flat(listpack_entries(&load_string(r)?)?, lim.hash, false)
        }
        RDB_TYPE_ZSET_2 => load_zset(r, lim),
        RDB_TYPE_ZSET_ZIPLIST => zset_from_flat(ziplist_entries(&load_string(r)?)?, lim),
        RDB_TYPE_ZSET_LISTPACK => zset_from_flat(listpack_entries(&load_string(r)?)?, lim),
        // Modules, streams and the pre-RDB-8 encodings of sorted sets (string scores) are
        // valid RDB types this server cannot hold; anything else is not a type at all.
        _ => None,
    }
}

/// rdbLoadLen(rdb, NULL): a count, where an "encoded" first byte is taken as its 6-bit number.
fn load_count(r: &mut Reader) -> Option<u64> {
    load_len(r).map(|(n, _)| n)
}

fn non_empty_list(l: List) -> Option<Value> {
    (!l.is_empty()).then_some(Value::List(l))
}

fn int_text(i: i64) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(i).as_bytes())
}

/// A set from loaded members: refused when empty or with a repeated member. An intset while
/// every member is an integer and there are at most `max_ints` of them, as Redis's loader.
fn set_from_members(members: Vec<Vec<u8>>, max_ints: usize) -> Option<Value> {
    if members.is_empty() {
        return None;
    }
    // Redis caps the intset test at 2^30 members (rdbLoadObject).
    let ints: Option<Vec<i64>> = if members.len() > max_ints.min(1 << 30) {
        None
    } else {
        members.iter().map(|m| num::parse_i64(m)).collect()
    };
    if let Some(mut ints) = ints {
        ints.sort_unstable();
        if ints.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        return Some(Value::Set(Set::Ints(set::Ints::from_sorted(ints))));
    }
    let mut t = set::Table::default();
    for m in members {
        if !t.insert(Key::new(&m)) {
            return None;
        }
    }
    Some(Value::Set(Set::Table(Box::new(t))))
}

/// A hash from alternating fields and values: refused when empty, odd or with a repeated
/// field. Packed unless it has more than `hash-max-listpack-entries` fields or, where Redis's
/// loader checks sizes (`check_sizes`: plain hashes and zipmaps), a string over
/// `hash-max-listpack-value`.
fn hash_from_flat(flat: Vec<Vec<u8>>, lim: HashLimits, check_sizes: bool) -> Option<Value> {
    if flat.is_empty() || !flat.len().is_multiple_of(2) {
        return None;
    }
    let mut fields: Vec<&[u8]> = flat.iter().step_by(2).map(|f| &f[..]).collect();
    fields.sort_unstable();
    if fields.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    let n = flat.len() / 2;
    let table = n > lim.entries || (check_sizes && flat.iter().any(|s| s.len() > lim.value));
    if !table {
        return Some(Value::Hash(Hash::Packed(flat.iter().collect())));
    }
    let mut t = hash::Table::with_capacity(n);
    let mut it = flat.into_iter();
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        t.insert(hash::Pair::new(&f, &v));
    }
    Some(Value::Hash(Hash::Table(Box::new(t))))
}

/// A sorted set from alternating members and scores (ziplist and listpack blobs).
fn zset_from_flat(flat: Vec<Vec<u8>>, lim: &StoreLimits) -> Option<Value> {
    if !flat.len().is_multiple_of(2) {
        return None;
    }
    let mut items = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        items.push((Bytes::from(m), num::parse_f64(&s)?));
    }
    zset_from_items(items, lim)
}

/// A list as RDB_TYPE_LIST_QUICKLIST_2, cut into nodes where Redis's quicklistPushTail would
/// cut the same elements pushed in order under `fill` (list-max-listpack-size), so that a list
/// built by RPUSH dumps byte for byte as in Redis.
fn save_list(out: &mut Vec<u8>, l: &List, fill: i64) {
    // quicklistSetFill's clamp.
    let fill = fill.clamp(-5, (1 << 15) - 1);
    enum Node<'a> {
        Plain(&'a [u8]),
        Packed(LpWriter),
    }
    let mut nodes: Vec<Node> = Vec::new();
    for v in l.iter() {
        if v.len() >= PACKED_THRESHOLD {
            nodes.push(Node::Plain(v));
            continue;
        }
        match nodes.last_mut() {
            Some(Node::Packed(lp)) if node_allows_insert(lp.bytes(), lp.count, fill, v.len()) => {
                lp.push(v)
            }
            _ => {
                let mut lp = LpWriter::new();
                lp.push(v);
                nodes.push(Node::Packed(lp));
            }
        }
    }
    out.push(RDB_TYPE_LIST_QUICKLIST_2);
    save_len(out, nodes.len() as u64);
    for n in nodes {
        match n {
            Node::Plain(v) => {
                save_len(out, QUICKLIST_NODE_CONTAINER_PLAIN);
                save_string(out, v);
            }
            Node::Packed(lp) => {
                save_len(out, QUICKLIST_NODE_CONTAINER_PACKED);
                save_string(out, &lp.finish());
            }
        }
    }
}

/// Elements this large get a node of their own (quicklist's default packed_threshold, 1 GB).
const PACKED_THRESHOLD: usize = 1 << 30;

/// _quicklistNodeAllowInsert (Redis 7.0.15): whether a node of `sz` bytes and `count` entries
/// takes one more element of `add` bytes; Redis estimates an entry's cost as its length plus 8.
fn node_allows_insert(sz: usize, count: usize, fill: i64, add: usize) -> bool {
    const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
    const SIZE_SAFETY_LIMIT: usize = 8192;
    const SIZE_ESTIMATE_OVERHEAD: usize = 8;
    let new_sz = sz + add + SIZE_ESTIMATE_OVERHEAD;
    if fill < 0 {
        let level = OPTIMIZATION_LEVEL[((-fill - 1) as usize).min(4)];
        if new_sz <= level {
            return true;
        }
    }
    new_sz <= SIZE_SAFETY_LIMIT && (count as i64) < fill
}

/// A hash as RDB_TYPE_HASH_LISTPACK (packed: fields and values in order, as Redis's listpack
/// holds them) or RDB_TYPE_HASH (table).
fn save_hash(out: &mut Vec<u8>, h: &Hash) {
    match h {
        Hash::Packed(p) => {
            out.push(RDB_TYPE_HASH_LISTPACK);
            let mut lp = LpWriter::new();
            for v in p.iter() {
                lp.push(v);
            }
            save_string(out, &lp.finish());
        }
        Hash::Table(t) => {
            out.push(RDB_TYPE_HASH);
            save_len(out, t.len() as u64);
            for p in t.iter() {
                save_string(out, p.field());
                save_string(out, p.value());
            }
        }
    }
}

/// A set as RDB_TYPE_SET_INTSET (integers, in the narrowest width that holds them all) or
/// RDB_TYPE_SET (table).
fn save_set(out: &mut Vec<u8>, s: &Set) {
    match s {
        Set::Ints(v) => {
            out.push(RDB_TYPE_SET_INTSET);
            // The set's own width, which (as Redis's intset) never narrows after removals.
            let width = v.width();
            let mut blob = Vec::with_capacity(8 + v.len() * width);
            blob.extend_from_slice(&(width as u32).to_le_bytes());
            blob.extend_from_slice(&(v.len() as u32).to_le_bytes());
            for i in v.iter() {
                blob.extend_from_slice(&i.to_le_bytes()[..width]);
            }
            save_string(out, &blob);
        }
        Set::Table(t) => {
            out.push(RDB_TYPE_SET);
            save_len(out, t.len() as u64);
            for m in t.iter() {
                save_string(out, m.as_bytes());
            }
        }
    }
}

/// The members of an intset blob (intset.c), checked as intsetValidateIntegrity does deeply:
/// a known width, a size matching the count, not empty, strictly ascending.
fn intset_members(b: &[u8]) -> Option<Vec<i64>> {
    let width = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    let count = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || count == 0 || 8 + count * width != b.len() {
        return None;
    }
    let v: Vec<i64> = b[8..]
        .chunks_exact(width)
        .map(|c| {
            // Sign-extend from the stored width.
            let mut x = [if c[width - 1] & 0x80 != 0 { 0xFF } else { 0 }; 8];
            x[..width].copy_from_slice(c);
            i64::from_le_bytes(x)
        })
        .collect();
    v.windows(2).all(|w| w[0] < w[1]).then_some(v)
}

/// A listpack being written, as lpAppend writes one (listpack.c).
struct LpWriter {
    buf: Vec<u8>,
    count: usize,
}

impl LpWriter {
    fn new() -> LpWriter {
        // Header (total bytes, element count) filled in by `finish`.
        LpWriter {
            buf: vec![0; 6],
            count: 0,
        }
    }

    /// lpBytes: header, entries and the end byte.
    fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// lpAppend: a canonical integer in the narrowest integer encoding, anything else as a
    /// 6-, 12- or 32-bit-length string; then the entry's length, backwards-readable.
    fn push(&mut self, v: &[u8]) {
        let b = &mut self.buf;
        let start = b.len();
        match num::parse_i64(v) {
            Some(i) if (0..=127).contains(&i) => b.push(i as u8),
            Some(i) if (-4096..=4095).contains(&i) => {
                let u = (i as u64) & 0x1FFF;
                b.push(0xC0 | (u >> 8) as u8);
                b.push(u as u8);
            }
            Some(i) if i16::try_from(i).is_ok() => {
                b.push(0xF1);
                b.extend_from_slice(&i.to_le_bytes()[..2]);
            }
            Some(i) if (-(1 << 23)..(1 << 23)).contains(&i) => {
                b.push(0xF2);
                b.extend_from_slice(&i.to_le_bytes()[..3]);
            }
            Some(i) if i32::try_from(i).is_ok() => {
                b.push(0xF3);
                b.extend_from_slice(&i.to_le_bytes()[..4]);
            }
            Some(i) => {
                b.push(0xF4);
                b.extend_from_slice(&i.to_le_bytes());
            }
            None => {
                let n = v.len();
                if n < 64 {
                    b.push(0x80 | n as u8);
                } else if n < 4096 {
                    b.push(0xE0 | (n >> 8) as u8);
                    b.push(n as u8);
                } else {
                    b.push(0xF0);
                    b.extend_from_slice(&(n as u32).to_le_bytes());
                }
                b.extend_from_slice(v);
            }
        }
        let l = b.len() - start;
        // lpEncodeBacklen: 7 bits per byte, most significant first, all but the first byte
        // flagged with the high bit.
        let k = backlen_size(l);
        for j in (0..k).rev() {
            let byte = ((l >> (7 * j)) & 127) as u8;
            b.push(if j + 1 == k { byte } else { byte | 128 });
        }
        self.count += 1;
    }

    fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        // 65535 means "unknown", past which Redis stops counting in the header.
        let n = self.count.min(u16::MAX as usize) as u16;
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        self.buf
    }
}

/// Bytes lpEncodeBacklen takes for an entry of `l` bytes.
fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// The entries of a ziplist (ziplist.c, the encoding before listpacks), integers as their
/// decimal text, checked as ziplistValidateIntegrity does deeply: sizes, each entry's
/// previous-length field, the tail offset and the count.
fn ziplist_entries(zl: &[u8]) -> Option<Vec<Vec<u8>>> {
    let u32_at = |i: usize| -> Option<usize> {
        Some(u32::from_le_bytes(zl.get(i..i + 4)?.try_into().ok()?) as usize)
    };
    let total = u32_at(0)?;
    let tail = u32_at(4)?;
    let count = u16::from_le_bytes(zl.get(8..10)?.try_into().ok()?);
    if zl.len() < 11 || total != zl.len() || zl[zl.len() - 1] != 0xFF {
        return None;
    }
    let end = zl.len() - 1;
    let mut out = Vec::new();
    let mut p = 10;
    let mut prev_size = 0usize;
    let mut last = None;
    while zl[p] != 0xFF {
        let (prevlen, pl) = if zl[p] < 254 {
            (zl[p] as usize, 1)
        } else {
            (u32_at(p + 1)?, 5)
        };
        if prevlen != prev_size {
            return None;
        }
        let e = p + pl;
        let enc = *zl.get(e)?;
        let int = |n: usize| -> Option<i64> {
            let b = zl.get(e + 1..e + 1 + n)?;
            let mut x = [if b[n - 1] & 0x80 != 0 { 0xFF } else { 0 }; 8];
            x[..n].copy_from_slice(b);
            Some(i64::from_le_bytes(x))
        };
        let (header, len, val) = match enc >> 6 {
            0 => {
                let n = (enc & 0x3F) as usize;
                (1, n, None)
            }
            1 => {
                let n = (((enc & 0x3F) as usize) << 8) | *zl.get(e + 1)? as usize;
                (2, n, None)
            }
            // 10xxxxxx: the low bits are ignored (ZIP_ENTRY_ENCODING keeps the top two).
            2 => {
                let n = u32::from_be_bytes(zl.get(e + 1..e + 5)?.try_into().ok()?) as usize;
                (5, n, None)
            }
            _ => match enc {
                0xC0 => (1, 2, Some(int(2)?)),
                0xD0 => (1, 4, Some(int(4)?)),
                0xE0 => (1, 8, Some(int(8)?)),
                0xF0 => (1, 3, Some(int(3)?)),
                0xFE => (1, 1, Some(int(1)?)),
                0xF1..=0xFD => (1, 0, Some((enc & 0x0F) as i64 - 1)),
                _ => return None,
            },
        };
        let next = e.checked_add(header)?.checked_add(len)?;
        if next > end {
            return None;
        }
        out.push(match val {
            Some(i) => int_text(i).to_vec(),
            None => zl[e + header..next].to_vec(),
        });
        prev_size = next - p;
        last = Some(p);
        p = next;
    }
    if p != end || last.is_some_and(|l| l != tail) {
        return None;
    }
    if count != u16::MAX && count as usize != out.len() {
        return None;
    }
    Some(out)
}

/// The fields and values of a zipmap (zipmap.c, hashes before Redis 2.6), alternating,
/// checked as zipmapValidateIntegrity does deeply.
fn zipmap_entries(zm: &[u8]) -> Option<Vec<Vec<u8>>> {
    if zm.len() < 2 || zm[zm.len() - 1] != 0xFF {
        return None;
    }
    let end = zm.len() - 1;
    // A length: one byte below 254, else 254 and four bytes (host order: little-endian).
    let len_at = |p: usize| -> Option<(usize, usize)> {
        let b = *zm.get(p)?;
        if b < 254 {
            Some((b as usize, 1))
        } else {
            let n = u32::from_le_bytes(zm.get(p + 1..p + 5)?.try_into().ok()?);
            Some((n as usize, 5))
        }
    };
    let mut out = Vec::new();
    let mut p = 1;
    while zm[p] != 0xFF {
        let (kl, s) = len_at(p)?;
        if p + s > end {
            return None;
        }
        let k = p + s;
        p = k.checked_add(kl)?;
        if p > end {
            return None;
        }
        let (vl, s) = len_at(p)?;
        if p + s > end {
            return None;
        }
        let free = zm[p + s] as usize;
        let v = p + s + 1;
        p = v.checked_add(vl)?.checked_add(free)?;
        if p > end {
            return None;
        }
        out.push(zm[k..k + kl].to_vec());
        out.push(zm.get(v..v + vl)?.to_vec());
    }
    let count = out.len() / 2;
    if count == 0 || (zm[0] != 254 && zm[0] as usize != count) {
        return None;
    }
    Some(out)
}

/// A sorted set as RDB_TYPE_ZSET_2, greatest member first (Redis's order for skiplists; Redis
/// writes small sets as a listpack blob instead, which this payload is equivalent to).
fn save_zset(out: &mut Vec<u8>, z: &super::zset::ZSet) {
    out.push(RDB_TYPE_ZSET_2);
    save_len(out, z.len() as u64);
    if let Some(last) = z.len().checked_sub(1) {
        for (m, score) in z.iter_from(last, true) {
            save_string(out, m);
            out.extend_from_slice(&score.to_le_bytes());
        }
    }
}

/// RDB_TYPE_ZSET_2: refused on a NaN score or a repeated member, as Redis does.
fn load_zset(r: &mut Reader, lim: &StoreLimits) -> Option<Value> {
    let len = load_count(r)?;
    let mut items: Vec<(Bytes, f64)> = Vec::new();
    for _ in 0..len {
        let m = Bytes::from(load_string(r)?);
        let score = f64::from_le_bytes(r.array()?);
        items.push((m, score));
    }
    zset_from_items(items, lim)
}

/// The entries of a listpack (listpack.c), integers as their decimal text; None if malformed.
fn listpack_entries(lp: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(lp.get(0..4)?.try_into().ok()?) as usize;
    let count = u16::from_le_bytes(lp.get(4..6)?.try_into().ok()?);
    if total != lp.len() {
        return None;
    }
    let int = |v: i64| itoa::Buffer::new().format(v).as_bytes().to_vec();
    let le = |from: usize, n: usize| -> Option<u64> {
        let b = lp.get(from..from + n)?;
        Some(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    };
    // Sign-extend an n-byte little-endian integer.
    let signed = |v: u64, bits: u32| ((v << (64 - bits)) as i64) >> (64 - bits);
    let mut out = Vec::new();
    let mut p = 6;
    loop {
        let b = *lp.get(p)?;
        if b == 0xFF {
            break;
        }
        let (val, len) = if b & 0x80 == 0 {
            (int((b & 0x7F) as i64), 1)
        } else if b & 0xC0 == 0x80 {
            let n = (b & 0x3F) as usize;
            (lp.get(p + 1..p + 1 + n)?.to_vec(), 1 + n)
        } else if b & 0xE0 == 0xC0 {
            let v = (((b & 0x1F) as u64) << 8) | *lp.get(p + 1)? as u64;
            (int(signed(v, 13)), 2)
        } else if b & 0xF0 == 0xE0 {
            let n = (((b & 0x0F) as usize) << 8) | *lp.get(p + 1)? as usize;
            (lp.get(p + 2..p + 2 + n)?.to_vec(), 2 + n)
        } else {
            match b {
                0xF0 => {
                    let n = le(p + 1, 4)? as usize;
                    (lp.get(p + 5..p + 5 + n)?.to_vec(), 5 + n)
                }
                0xF1 => (int(signed(le(p + 1, 2)?, 16)), 3),
                0xF2 => (int(signed(le(p + 1, 3)?, 24)), 4),
                0xF3 => (int(signed(le(p + 1, 4)?, 32)), 5),
                0xF4 => (int(le(p + 1, 8)? as i64), 9),
                _ => return None,
            }
        };
        // Each entry ends with its own length, in 1 to 5 bytes, read backwards from its last
        // byte (lpDecodeBacklen), which must agree (lpValidateNext).
        let backlen = backlen_size(len);
        let last = p.checked_add(len + backlen - 1)?;
        let mut decoded = 0usize;
        for j in 0..5 {
            let b = *lp.get(last.checked_sub(j)?)?;
            decoded |= ((b & 127) as usize) << (7 * j);
            if b & 128 == 0 {
                break;
            }
            if j == 4 {
                return None;
            }
        }
        if decoded != len {
            return None;
        }
        p = last + 1;
        out.push(val);
    }
    if p + 1 != lp.len() || (count != u16::MAX && count as usize != out.len()) {
        return None;
    }
    Some(out)
}

/// A sorted set from loaded (member, score) pairs: refused when empty or with a repeated
/// member, as Redis does.
fn zset_from_items(mut items: Vec<(Bytes, f64)>, lim: &StoreLimits) -> Option<Value> {
    use super::zset::ZSet;
    if items.iter().any(|(_, s)| s.is_nan()) {
        return None;
    }
    // Scores are never NaN here, so partial_cmp is total (and -0 == 0, as in the set).
    items.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    let mut members: Vec<&Bytes> = items.iter().map(|i| &i.0).collect();
    members.sort();
    if items.is_empty() || members.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    Some(Value::ZSet(ZSet::from_sorted(items, lim.zset_pack)))
}

/// rdbSaveLen.
fn save_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push((len as u8) | (RDB_6BITLEN << 6));
    } else if len < 1 << 14 {
        out.push(((len >> 8) as u8) | (RDB_14BITLEN << 6));
        out.push(len as u8);
    } else if len <= u32::MAX as u64 {
        out.push(RDB_32BITLEN);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(RDB_64BITLEN);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// rdbEncodeInteger: the 8/16/32-bit special encodings, when the value fits one.
fn encode_int(v: i64, out: &mut Vec<u8>) -> bool {
    let enc = |e: u64| (RDB_ENCVAL << 6) | e as u8;
    if let Ok(b) = i8::try_from(v) {
        out.push(enc(RDB_ENC_INT8));
        out.push(b as u8);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(enc(RDB_ENC_INT16));
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(enc(RDB_ENC_INT32));
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// rdbSaveRawString: integer encoding for short canonical integers, LZF when it saves at least
/// four bytes on strings over 20 bytes (rdbcompression yes), else length-prefixed bytes.
fn save_string(out: &mut Vec<u8>, s: &[u8]) {
    // parse_i64 only takes the canonical form, which is what Redis's strtoll + ll2string
    // round-trip check in rdbTryIntegerEncoding amounts to.
    if s.len() <= 11 {
        if let Some(v) = num::parse_i64(s) {
            if encode_int(v, out) {
                return;
            }
        }
    }
    if s.len() > 20 {
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            out.push((RDB_ENCVAL << 6) | RDB_ENC_LZF as u8);
            save_len(out, c.len() as u64);
            save_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    save_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

/// rdbLoadLenByRef: (length or encoding number, whether it is an encoding).
fn load_len(r: &mut Reader) -> Option<(u64, bool)> {
    let b = r.byte()?;
    let len = match b >> 6 {
        RDB_ENCVAL => return Some(((b & 0x3f) as u64, true)),
        RDB_6BITLEN => (b & 0x3f) as u64,
        RDB_14BITLEN => (((b & 0x3f) as u64) << 8) | r.byte()? as u64,
        _ if b == RDB_32BITLEN => u32::from_be_bytes(r.array()?) as u64,
        _ if b == RDB_64BITLEN => u64::from_be_bytes(r.array()?),
        _ => return None,
    };
    // RDB_LENERR is u64::MAX: a 64-bit length of all ones reads as an error in Redis too.
    (len != u64::MAX).then_some((len, false))
}

/// rdbGenericLoadStringObject.
fn load_string(r: &mut Reader) -> Option<Vec<u8>> {
    let (len, encoded) = load_len(r)?;
    if !encoded {
        let n = usize::try_from(len).ok()?;
        return r.take(n).map(<[u8]>::to_vec);
    }
    let v: i64 = match len {
        RDB_ENC_INT8 => i8::from_le_bytes(r.array()?) as i64,
        RDB_ENC_INT16 => i16::from_le_bytes(r.array()?) as i64,
        RDB_ENC_INT32 => i32::from_le_bytes(r.array()?) as i64,
        RDB_ENC_LZF => return load_lzf(r),
        _ => return None,
    };
    Some(itoa::Buffer::new().format(v).as_bytes().to_vec())
}

/// rdbLoadLzfStringObject: compressed length, original length, compressed bytes.
fn load_lzf(r: &mut Reader) -> Option<Vec<u8>> {
    // Redis reads both lengths with rdbLoadLen(rdb, NULL): an "encoded" form is taken as its
    // 6-bit number.
    let (clen, _) = load_len(r)?;
    let (len, _) = load_len(r)?;
    let data = r.take(usize::try_from(clen).ok()?)?;
    // LZF expands at most 88 times (3 bytes of back reference for 264 out), so a larger claim
    // can never decode; refusing it early avoids reserving memory for it.
    if len > clen.saturating_mul(88) {
        // lzf_decompress fails, returning 0, which matches a claimed length of 0.
        return (len == 0).then(Vec::new);
    }
    let len = usize::try_from(len).ok()?;
    let mut out = Vec::new();
    out.try_reserve_exact(len).ok()?;
    // Redis compares lzf_decompress's result (0 on any error) with the claimed length.
    (lzf::decompress(data, len, &mut out) == len).then_some(out)
}

/// liblzf 3.6 as configured by Redis (HLOG 16, VERY_FAST, offsets on 64-bit, CHECK_INPUT),
/// ported so that DUMP output matches Redis's byte for byte.
mod lzf {
    use std::cell::RefCell;

    const HLOG: u32 = 16;
    const HSIZE: usize = 1 << HLOG;
    const MAX_LIT: usize = 1 << 5;
    const MAX_OFF: usize = 1 << 13;
    const MAX_REF: usize = (1 << 8) + (1 << 3);

    thread_local! {
        // The hash table (input offsets; 0 never matches since liblzf wants `ref > in_data`).
        // Kept all-zero between calls so that output depends only on the input, as with a
        // fresh table, without zeroing 256 KiB for every short string.
        static HTAB: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    }

    #[inline]
    fn frst(p: &[u8], i: usize) -> u32 {
        ((p[i] as u32) << 8) | p[i + 1] as u32
    }

    #[inline]
    fn next(v: u32, p: &[u8], i: usize) -> u32 {
        (v << 8) | p[i + 2] as u32
    }

    #[inline]
    fn idx(h: u32) -> usize {
        ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) & (HSIZE as u32 - 1)) as usize
    }

    /// lzf_compress into at most `out_len` bytes; None when it does not fit.
    pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
        // liblzf takes unsigned int lengths; its first hash reads two bytes.
        if input.len() < 3 || input.len() > u32::MAX as usize || out_len == 0 {
            return None;
        }
        HTAB.with(|cell| match cell.try_borrow_mut() {
            Ok(mut htab) => {
                if htab.len() != HSIZE {
                    *htab = vec![0; HSIZE];
                }
                let mut touched = Vec::new();
                let r = compress_with(&mut htab, &mut touched, input, out_len);
                for i in touched {
                    htab[i] = 0;
                }
                r
            }
            Err(_) => compress_with(&mut vec![0; HSIZE], &mut Vec::new(), input, out_len),
        })
    }

    #[inline]
    fn put(htab: &mut [u32], touched: &mut Vec<usize>, h: u32, at: usize) {
        let i = idx(h);
        htab[i] = at as u32;
        touched.push(i);
    }

    fn compress_with(
        htab: &mut [u32],
        touched: &mut Vec<usize>,
        input: &[u8],
        out_len: usize,
    ) -> Option<Vec<u8>> {
        let in_end = input.len();
        let out_end = out_len;
        let mut out = vec![0u8; out_len];
        let mut ip = 0usize;
        let mut op = 1usize; // start run
        let mut lit = 0usize;
        let mut hval = frst(input, ip);
        while ip + 2 < in_end {
            hval = next(hval, input, ip);
            let slot = idx(hval);
            let r = htab[slot] as usize;
            htab[slot] = ip as u32;
            touched.push(slot);
            // Wrapping like the C unsigned subtraction: a slot pointing at or after `ip` fails.
            let off = ip.wrapping_sub(r).wrapping_sub(1);
            if off < MAX_OFF
                && r > 0
                && input[r + 2] == input[ip + 2]
                && input[r] == input[ip]
                && input[r + 1] == input[ip + 1]
            {
                let mut len = 2usize;
                let maxlen = (in_end - ip - len).min(MAX_REF);
                if op + 3 + 1 >= out_end && op - usize::from(lit == 0) + 3 + 1 >= out_end {
                    return None;
                }
                out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
                op -= usize::from(lit == 0); // undo run if length is zero
                                             // liblzf's unrolled first 16 steps skip the `len < maxlen` test; keep that,
                                             // it decides the match length near the end of the input.
                let mut done = false;
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[r + len] != input[ip + len] {
                            done = true;
                            break;
                        }
                    }
                }
                if !done {
                    loop {
                        len += 1;
                        if !(len < maxlen && input[r + len] == input[ip + len]) {
                            break;
                        }
                    }
                }
                len -= 2; // len is now #octets - 1
                ip += 1;
                if len < 7 {
                    out[op] = ((off >> 8) + (len << 5)) as u8;
                    op += 1;
                } else {
                    out[op] = ((off >> 8) + (7 << 5)) as u8;
                    out[op + 1] = (len - 7) as u8;
                    op += 2;
                }
                out[op] = off as u8;
                op += 1;
                lit = 0;
                op += 1; // start run
                ip += len + 1;
                if ip + 2 >= in_end {
                    break;
                }
                // VERY_FAST: hash only the last two positions of the match.
                ip -= 2;
                hval = frst(input, ip);
                hval = next(hval, input, ip);
                put(htab, touched, hval, ip);
                ip += 1;
                hval = next(hval, input, ip);
                put(htab, touched, hval, ip);
                ip += 1;
            } else {
                if op >= out_end {
                    return None;
                }
                lit += 1;
                out[op] = input[ip];
                op += 1;
                ip += 1;
                if lit == MAX_LIT {
                    out[op - lit - 1] = (lit - 1) as u8;
                    lit = 0;
                    op += 1;
                }
            }
        }
        if op + 3 > out_end {
            return None;
        }
        while ip < in_end {
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
        out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
        op -= usize::from(lit == 0);
        out.truncate(op);
        Some(out)
    }

    /// lzf_decompress with CHECK_INPUT: appends to `out` (empty, `out_len` reserved) and returns
    /// the number of bytes produced, or 0 on any error, as the C function does.
    pub fn decompress(input: &[u8], out_len: usize, out: &mut Vec<u8>) -> usize {
        let in_end = input.len();
        let mut ip = 0usize;
        while ip < in_end {
            let ctrl = input[ip] as usize;
            ip += 1;
            if ctrl < 1 << 5 {
                // literal run
                let n = ctrl + 1;
                if out.len() + n > out_len || ip + n > in_end {
                    return 0;
                }
                out.extend_from_slice(&input[ip..ip + n]);
                ip += n;
            } else {
                // back reference
                let mut len = ctrl >> 5;
                let mut back = ((ctrl & 0x1f) << 8) + 1;
                if ip >= in_end {
                    return 0;
                }
                if len == 7 {
                    len += input[ip] as usize;
                    ip += 1;
                    if ip >= in_end {
                        return 0;
                    }
                }
                back += input[ip] as usize;
                ip += 1;
                if out.len() + len + 2 > out_len || back > out.len() {
                    return 0;
                }
                // Byte by byte: the source may overlap what is being written.
                let start = out.len() - back;
                for i in start..start + len + 2 {
                    let b = out[i];
                    out.push(b);
                }
            }
        }
        out.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RESTORE with the default limits.
    fn rst(p: &[u8]) -> Result<Value, &'static str> {
        restore(p, &StoreLimits::default())
    }

    /// DUMP with the default limits.
    fn dump_str(v: &Value) -> Vec<u8> {
        super::dump(v, &StoreLimits::default())
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn s(b: &[u8]) -> Value {
        Value::str(b)
    }

    /// (member, score) of a restored sorted set, in order.
    fn zitems(v: &Value) -> Vec<(String, f64)> {
        match v {
            Value::ZSet(z) => z
                .iter()
                .map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), s))
                .collect(),
            _ => panic!("not a zset"),
        }
    }

    #[test]
    fn zset_listpack_payload_from_redis() {
        // DUMP from redis-server 7.0.15 of a listpack-encoded set: small and 13/16/24/32/64-bit
        // integers, 6- and 12-bit strings, float scores, inf/-inf, LZF-compressed blob.
        let p = hex("11c3408d40e41fe400000018000501842d696e6605f1c0e003dff902816202842d322e3505847408696e7905972d312e30e005001331652d303518832d307a04000181610201019478e00a00051592332e3134e0043a1831138362696704f2701101047b01f2a08601048369363404f4208801000120030f098468756765058535652b323006bc79e03200013d8320d40104ff0a00e5ddc119d7e1776f");
        let v = rst(&p).expect("restores");
        let items = zitems(&v);
        assert_eq!(items.len(), 12);
        assert_eq!(items[0], ("5".to_string(), f64::NEG_INFINITY));
        assert_eq!(items[1], ("-8000".to_string(), -7.0));
        assert_eq!(items[3], ("tiny".to_string(), -1e-5));
        assert_eq!(items[8], ("123".to_string(), 100000.0));
        assert_eq!(items[9], ("i64".to_string(), 4294967296.0));
        assert_eq!(items[10], ("huge".to_string(), 5e20));
        assert_eq!(items[11], ("y".repeat(60), f64::INFINITY));
        assert_eq!(v.encoding(), "listpack");
    }

    #[test]
    fn zset_round_trip_and_refusals() {
        use crate::store::zset::{PackLimits, ZSet};
        let mut z = ZSet::new();
        for i in 0..300 {
            z.insert(
                format!("m{i}").as_bytes(),
                i as f64 / 7.0,
                PackLimits::default(),
            );
        }
        let v = Value::ZSet(z);
        let back = rst(&dump(&v, &StoreLimits::default())).expect("round trip");
        assert_eq!(back, v);
        assert_eq!(back.encoding(), "skiplist");
        // A repeated member is refused.
        let mut out = vec![RDB_TYPE_ZSET_2];
        save_len(&mut out, 2);
        for _ in 0..2 {
            save_string(&mut out, b"a");
            out.extend_from_slice(&1f64.to_le_bytes());
        }
        out.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = CRC64.checksum(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(rst(&out), Err(ERR_BAD_FORMAT));
    }

    /// Wrap a body in a valid footer (version, CRC).
    fn wrap(body: &[u8], ver: u16) -> Vec<u8> {
        let mut p = body.to_vec();
        p.extend_from_slice(&ver.to_le_bytes());
        let crc = CRC64.checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }

    /// Deterministic pseudo-random bytes (the same LCG produced the Redis captures below).
    fn lcg_bytes(n: usize, alphabet: u32) -> Vec<u8> {
        let mut x: u32 = 12345;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                ((x >> 16) % alphabet) as u8 + if alphabet < 256 { b'a' } else { 0 }
            })
            .collect()
    }

    // Payloads captured from redis-server 7.0.15 (`DUMP k`).
    const REDIS: &[(&[u8], &str)] = &[
        (b"12345", "00c139300a009d94ea2793fc08b9"),
        (b"-5", "00c0fb0a0049c4c6f4d7263f68"),
        (b"2147483647", "00c2ffffff7f0a002c74e59ee02eada1"),
        (
            b"2147483648",
            "000a323134373438333634380a00e7b129a34c1d76ee",
        ),
        (b"hello", "000568656c6c6f0a006372df766534200a"),
        (
            b"a\x00\xff\r\nb\x80",
            "00076100ff0d0a62800a00f0b16c89c868613f",
        ),
        (b"", "00000a005d9b5c400f7fa2da"),
    ];

    #[test]
    fn crc_is_redis_crc64() {
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn matches_redis_payloads() {
        for (v, h) in REDIS {
            assert_eq!(dump_str(&s(v)), hex(h), "dump {:?}", v);
            assert_eq!(rst(&hex(h)), Ok(s(v)));
        }
    }

    #[test]
    fn compressed_200_bytes_matches_redis() {
        let mut v = b"abc".repeat(66);
        v.extend_from_slice(b"xy");
        let h = "00c30b40c80361626361e0b9020178790a0057df920f9a286717";
        assert_eq!(dump_str(&s(&v)), hex(h));
        assert_eq!(rst(&hex(h)), Ok(s(&v)));
    }

    #[test]
    fn lzf_output_matches_redis_on_varied_inputs() {
        // (length, alphabet size, first 24 hex chars of Redis's payload, its CRC bytes hex).
        for &(n, alpha, head, crc) in LZF_CASES {
            let v = lcg_bytes(n, alpha);
            let d = dump_str(&s(&v));
            let got = d.iter().map(|b| format!("{b:02x}")).collect::<String>();
            assert!(got.starts_with(head), "n={n} a={alpha}: {got}");
            assert!(got.ends_with(crc), "n={n} a={alpha}: {got}");
            assert_eq!(rst(&d), Ok(s(&v)));
        }
    }

    // Filled from redis-server 7.0.15 on lcg_bytes(n, alphabet) values.
    const LZF_CASES: &[(usize, u32, &str, &str)] = &[
        (21, 2, "001561616261626262616162", "b7e1e7e172ef556e"),
        (21, 3, "001563616161616261626263", "ff1b556bb4c6d8e7"),
        (21, 4, "001561616263646262636362", "061d0e0d3baedd55"),
        (21, 8, "001565656663686666636366", "14ef0318792e70a2"),
        (21, 26, "0015616d7a6f6a64706f6d78", "64ebf1edbf552239"),
        (21, 256, "0015dc0465aa1fad1d5adae5", "f99bd575919ffeda"),
        (22, 2, "001661616261626262616162", "078bf69da75ec28d"),
        (22, 3, "001663616161616261626263", "e7ea064987e519f9"),
        (22, 4, "001661616263646262636362", "b492a6d14b3494e5"),
        (22, 8, "001665656663686666636366", "35e2667b6087db6d"),
        (22, 26, "0016616d7a6f6a64706f6d78", "8f38904ab8a4fc5b"),
        (22, 256, "0016dc0465aa1fad1d5adae5", "ca6cc60dc5edc87d"),
        (23, 2, "001761616261626262616162", "ffc3483c4b37c53b"),
        (23, 3, "001763616161616261626263", "f83085153a0a647f"),
        (23, 4, "001761616263646262636362", "09c47ca14ec8afc8"),
        (23, 8, "001765656663686666636366", "112ef73fb830ecfa"),
        (23, 26, "0017616d7a6f6a64706f6d78", "1c5ca1009329728b"),
        (23, 256, "0017dc0465aa1fad1d5adae5", "eff8969c7be9de65"),
        (24, 2, "001861616261626262616162", "3fe3c955109d8df1"),
        (24, 3, "001863616161616261626263", "dfe1e82806cce47d"),
        (24, 4, "001861616263646262636362", "1c2799e7d4bb3909"),
        (24, 8, "001865656663686666636366", "023dadf1a3eb2bdf"),
        (24, 26, "0018616d7a6f6a64706f6d78", "57c0ad3311582d13"),
        (24, 256, "0018dc0465aa1fad1d5adae5", "3b6a9723dc28c978"),
        (25, 2, "001961616261626262616162", "d80d78827650f844"),
        (25, 3, "001963616161616261626263", "02175c53c48eb3f4"),
        (25, 4, "001961616263646262636362", "9519e8077f8b7931"),
        (25, 8, "001965656663686666636366", "434fc6b811a0a57f"),
        (25, 26, "0019616d7a6f6a64706f6d78", "c023318ad6b77e5a"),
        (25, 256, "0019dc0465aa1fad1d5adae5", "4b10039f1af58f98"),
        (30, 2, "001e61616261626262616162", "53232b4ec440919c"),
        (30, 3, "001e63616161616261626263", "39306b3a7c6a31a5"),
        (30, 4, "001e61616263646262636362", "5632b96823390fe1"),
        (30, 8, "001e65656663686666636366", "f3a8c4d1481968ff"),
        (30, 26, "001e616d7a6f6a64706f6d78", "2ad1817628d1c0ed"),
        (30, 256, "001edc0465aa1fad1d5adae5", "30cf9c823e5c9f5d"),
        (33, 2, "00c31a210761616261626262", "390756899c800dac"),
        (33, 3, "002163616161616261626263", "d55715ac197c77e3"),
        (33, 4, "002161616263646262636362", "fd74cd2baa8dea5c"),
        (33, 8, "002165656663686666636366", "07ac76081a13d98e"),
        (33, 26, "0021616d7a6f6a64706f6d78", "f54229aa62229708"),
        (33, 256, "0021dc0465aa1fad1d5adae5", "8f4f5d21bca3316a"),
        (34, 2, "00c31a220761616261626262", "e420677fa10f8378"),
        (34, 3, "002263616161616261626263", "d9a25072b7bd01f9"),
        (34, 4, "002261616263646262636362", "61d65062fec94a32"),
        (34, 8, "002265656663686666636366", "67d5eb959cbfcfa1"),
        (34, 26, "0022616d7a6f6a64706f6d78", "b202a4255a07d317"),
        (34, 256, "0022dc0465aa1fad1d5adae5", "6a3fbcde272658e5"),
        (35, 2, "00c319230761616261626262", "9d2f39fc2cdf8177"),
        (35, 3, "002363616161616261626263", "d598dd91c4ddde46"),
        (35, 4, "002361616263646262636362", "f5fd4741616cf53c"),
        (35, 8, "002365656663686666636366", "8be29adbf4edee09"),
        (35, 26, "0023616d7a6f6a64706f6d78", "07c635d6ae2c0637"),
        (35, 256, "0023dc0465aa1fad1d5adae5", "ca50594212605781"),
        (40, 2, "00c31d280761616261626262", "5c18d72634549e5e"),
        (40, 3, "00c322280163612000076261", "a52e29b1ccbfd2a6"),
        (40, 4, "002861616263646262636362", "892f2914215e33b8"),
        (40, 8, "002865656663686666636366", "a8bc436907147511"),
        (40, 26, "0028616d7a6f6a64706f6d78", "1ea80795295f5ec2"),
        (40, 256, "0028dc0465aa1fad1d5adae5", "68f6a1c0f9189f17"),
        (50, 2, "00c31f320761616261626262", "ce508070fdc7933b"),
        (50, 3, "00c327320163612000076261", "7312f9aac2f73e08"),
        (50, 4, "003261616263646262636362", "4ddedc52bf100857"),
        (50, 8, "003265656663686666636366", "6f628273f02aec79"),
        (50, 26, "0032616d7a6f6a64706f6d78", "3d06d6306d28ea81"),
        (50, 256, "0032dc0465aa1fad1d5adae5", "63c9aa53a5f1ca3b"),
        (64, 2, "00c328404007616162616262", "17b8506698601507"),
        (64, 3, "00c332404001636120000762", "eae5c050750d3be1"),
        (64, 4, "00c339404010616162636462", "1fb017a395b4f083"),
        (64, 8, "004040656566636866666363", "b55ed2d8c787e536"),
        (64, 26, "004040616d7a6f6a64706f6d", "35224566f2f205b5"),
        (64, 256, "004040dc0465aa1fad1d5ada", "467a2cf9de4bc74c"),
        (65, 2, "00c328404107616162616262", "66599fe92f7ecc76"),
        (65, 3, "00c331404101636120000762", "19f04eabfc785d5e"),
        (65, 4, "00c33a404110616162636462", "859c5048226133c8"),
        (65, 8, "004041656566636866666363", "4d007ef150ef6de9"),
        (65, 26, "004041616d7a6f6a64706f6d", "845e8b680c9c427c"),
        (65, 256, "004041dc0465aa1fad1d5ada", "59e5e56b19584caa"),
        (100, 2, "00c33c406407616162616262", "2795bb1bc5f68e81"),
        (100, 3, "00c340474064016361200007", "1ec634dcbdc57954"),
        (100, 4, "00c340504064106161626364", "02c3fc2db9d2015d"),
        (100, 8, "004064656566636866666363", "fc2e89927f6d18ec"),
        (100, 26, "004064616d7a6f6a64706f6d", "0687271f75fea861"),
        (100, 256, "004064dc0465aa1fad1d5ada", "fe5d7dcfa2f32aaf"),
        (200, 2, "00c3406a40c8076161626162", "a7d7fea726a592ea"),
        (200, 3, "00c3408340c8016361200007", "ea1e2fd97e14d197"),
        (200, 4, "00c3409340c8106161626364", "9ed33138cef0b4c4"),
        (200, 8, "0040c8656566636866666363", "33664c89327e0b76"),
        (200, 26, "0040c8616d7a6f6a64706f6d", "359cb20dcaaf22d9"),
        (200, 256, "0040c8dc0465aa1fad1d5ada", "dbe0f8d89ee18194"),
        (300, 2, "00c340a0412c076161626162", "7420c80375b825dd"),
        (300, 3, "00c340bc412c016361200007", "c4899ca241fe1885"),
        (300, 4, "00c340d6412c106161626364", "40054648b14a9cf7"),
        (300, 8, "00c3411b412c1a6565666368", "0eb2315da04d76bf"),
        (300, 26, "00412c616d7a6f6a64706f6d", "a4f4575f6a134ef7"),
        (300, 256, "00412cdc0465aa1fad1d5ada", "1d4dd1a77e52afb2"),
        (1000, 2, "00c3420443e8076161626162", "2b3be7b5c5e1849e"),
        (1000, 3, "00c3424143e8016361200007", "5897c7eedb10d45a"),
        (1000, 4, "00c3427643e8106161626364", "562bf31c348b394c"),
        (1000, 8, "00c3433443e81a6565666368", "baae35fb4f02b903"),
        (1000, 26, "0043e8616d7a6f6a64706f6d", "e8df9c4cf9f2de87"),
        (1000, 256, "0043e8dc0465aa1fad1d5ada", "908c89f0e1b32289"),
        (5000, 2, "00c349e65388076161626162", "3d678f3761add7f1"),
        (5000, 3, "00c34b2d5388016361200007", "4e168b37a24fdeba"),
        (5000, 4, "00c34bbb5388106161626364", "d0d4ccf88d69b8f4"),
        (5000, 8, "00c34d4153881a6565666368", "89d7718819b5e860"),
        (5000, 26, "00c3533253881f616d7a6f6a", "8bd2b09998d1147d"),
        (5000, 256, "005388dc0465aa1fad1d5ada", "f4a38e11549fabf8"),
        (9000, 2, "00c351ac6328076161626162", "b07f974aee758c2b"),
        (9000, 3, "00c3542d6328016361200007", "0799c57c39632c3f"),
        (9000, 4, "00c3550f6328106161626364", "b9ee1637f69ba022"),
        (9000, 8, "00c3573763281a6565666368", "a66da3cbbb8b9736"),
        (9000, 26, "00c361c563281f616d7a6f6a", "70308386c5362621"),
        (9000, 256, "006328dc0465aa1fad1d5ada", "4c5c1f62fec798e6"),
        (20000, 2, "00c367388000004e20076161", "2863b1faa44fb732"),
        (20000, 3, "00c36c9e8000004e20016361", "95ee060615d9675f"),
        (20000, 4, "00c36eb28000004e20106161", "7b116a6be013da89"),
        (20000, 8, "00c372888000004e201a6565", "dbc023b1dd302bb3"),
        (20000, 26, "00c380000049328000004e20", "1a22290cbee68bd5"),
        (20000, 256, "008000004e20dc0465aa1fad", "037b75d5a1d23ae3"),
        (70000, 2, "00c380000089538000011170", "6128634263bc371b"),
        (70000, 3, "00c38000009bcd8000011170", "eb36a632e6114cc0"),
        (70000, 4, "00c3800000a3be8000011170", "0663b65818a442af"),
        (70000, 8, "00c3800000aed58000011170", "f6f012f465742068"),
        (70000, 26, "00c3800000fbe38000011170", "91fb12524ee9133a"),
        (70000, 256, "008000011170dc0465aa1fad", "a14259ad1d9b32ed"),
    ];

    fn lim_fill(fill: i64) -> StoreLimits {
        StoreLimits {
            list_max_listpack_size: fill,
            ..StoreLimits::default()
        }
    }

    fn list_of<T: AsRef<[u8]>>(items: &[T], fill: i64) -> Value {
        let mut l = List::new();
        for v in items {
            l.push_back(v.as_ref(), fill);
        }
        Value::List(l)
    }

    fn hash_of<T: AsRef<[u8]>>(flat: &[T]) -> Value {
        let mut h = Hash::new();
        for p in flat.chunks(2) {
            h.set(p[0].as_ref(), p[1].as_ref(), StoreLimits::default().hash);
        }
        Value::Hash(h)
    }

    fn set_of<T: AsRef<[u8]>>(members: &[T]) -> Value {
        let mut s = Set::for_member(members[0].as_ref());
        for m in members {
            s.add(m.as_ref(), 512);
        }
        Value::Set(s)
    }

    /// A collection's content, comparable across encodings: list elements in order, hash
    /// pairs and set members sorted.
    fn content(v: &Value) -> Vec<Vec<u8>> {
        match v {
            Value::List(l) => l.iter().map(<[u8]>::to_vec).collect(),
            Value::Hash(h) => {
                let mut p: Vec<(Vec<u8>, Vec<u8>)> =
                    h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                p.sort();
                p.into_iter().flat_map(|(f, v)| [f, v]).collect()
            }
            Value::Set(s) => {
                let mut m: Vec<Vec<u8>> = s.members().iter().map(|b| b.to_vec()).collect();
                m.sort();
                m
            }
            _ => panic!("not a collection"),
        }
    }

    fn strs(v: impl IntoIterator<Item = String>) -> Vec<String> {
        v.into_iter().collect()
    }

    /// Checks a DUMP against Redis's: the whole payload when `want` is hex, else its length
    /// and CRC (the last 8 bytes); and that the payload restores to the same content.
    fn check_dump(v: &Value, fill: i64, want: &str, want_len: usize) {
        let d = dump(v, &lim_fill(fill));
        let got: String = d.iter().map(|b| format!("{b:02x}")).collect();
        if want_len == 0 {
            assert_eq!(got, want);
        } else {
            assert_eq!((d.len(), &got[got.len() - 16..]), (want_len, want));
        }
        let back = rst(&d).expect("restores");
        assert_eq!(content(&back), content(v));
        assert_eq!(back.type_name(), v.type_name());
    }

    // Expected payloads below are redis-server 7.0.15's DUMP of the same commands (RPUSH,
    // HSET, SADD in one call each, default config unless a fill is given).
    #[test]
    fn lists_dump_as_redis() {
        let l1 = [
            "a",
            "b",
            "1",
            "-5",
            "300",
            "70000",
            "-9000000",
            "12345678901",
            "hello",
        ];
        check_dump(&list_of(&l1, -2), -2, "120102313100000009008161028162020101dffb02c12c02f270110104f3c0ab76ff05f4351cdcdf02000000098568656c6c6f06ff0a00ba53c146c5c13c30", 0);
        let l2 = strs((0..2000).map(|i| format!("item:{i}")));
        check_dump(&list_of(&l2, -2), -2, "2a11369aabf408be", 9976);
        let l3 = strs((0..200).map(|i| "x".repeat((i * 37) % 700)));
        check_dump(&list_of(&l3, -2), -2, "b0346a4cadb26a47", 2376);
        check_dump(&list_of(&l3, -1), -1, "4aa3671ac324f690", 2636);
        let mut l4 = strs(["y".repeat(20000), "z".repeat(70000), "a".into()]);
        l4.extend((0..10).map(|i| i.to_string()));
        check_dump(&list_of(&l4, -2), -2, "3982420442f3239c", 1124);
        let l7 =
            strs((0..300i64).map(|i| (i * i * i * if i % 2 == 1 { -1 } else { 1 }).to_string()));
        check_dump(&list_of(&l7, -2), -2, "5e9da70f64ed4b0d", 1567);
        let l5 = strs((0..23).map(|i| i.to_string()));
        check_dump(&list_of(&l5, 5), 5, "1205021111000000050000010101020103010401ff021111000000050005010601070108010901ff02111100000005000a010b010c010d010e01ff02111100000005000f011001110112011301ff020d0d0000000300140115011601ff0a00db5c9d8483bd8946", 0);
    }

    #[test]
    fn hashes_dump_as_redis() {
        let h1 = hash_of(&["f1", "v1", "f2", "2", "3", "-400"]);
        check_dump(
            &h1,
            -2,
            "101a1a000000060082663103827631038266320302010301de7002ff0a00728c42cb234a66c7",
            0,
        );
        let mut h2 = Vec::new();
        for i in 0..100i64 {
            h2.push(format!("f{i}"));
            h2.push(if i % 3 != 0 {
                (i * i * i * 7919 * if i % 2 == 1 { -1 } else { 1 }).to_string()
            } else {
                format!("val-{i}")
            });
        }
        let h2 = hash_of(&h2);
        assert_eq!(h2.encoding(), "listpack");
        check_dump(&h2, -2, "92c0cd1e6bf01980", 966);
    }

    #[test]
    fn sets_dump_as_redis() {
        check_dump(
            &set_of(&["1", "2", "3", "-70000"]),
            -2,
            "0b18040000000400000090eefeff0100000002000000030000000a00a8b63c622cbf2c9c",
            0,
        );
        let s2 = strs((0..100).map(|i| i.to_string()));
        check_dump(&set_of(&s2), -2, "50faa1ca543b7a96", 221);
        let s3 = strs(["5".into(), "-3".into(), (1i64 << 40).to_string()]);
        check_dump(
            &set_of(&s3),
            -2,
            "0bc31820040800000003200301fdff80000005200be00000020100000a00109cce0158956f27",
            0,
        );
        // A table's order is its own (Redis's follows its dict), so only content is compared.
        let p = hex("0202016201610a0075d99d835ef85f65");
        assert_eq!(
            content(&rst(&p).expect("restores")),
            [b"a".to_vec(), b"b".to_vec()]
        );
        let s4 = set_of(&["a", "b"]);
        assert_eq!(
            content(&rst(&dump(&s4, &lim_fill(-2))).expect("restores")),
            content(&s4)
        );
    }

    /// Every older or alternative encoding, and corrupt blobs, with what redis-server 7.0.15
    /// (`sanitize-dump-payload yes`) made of each: type, OBJECT ENCODING and content (hash
    /// pairs and set members sorted), or None for `Bad data format`.
    #[test]
    fn restores_every_encoding_as_redis() {
        let cases: &[(&str, Option<&str>)] = &[
            // list_ziplist
            ("0a3838000000330000000800000568656c6c6f07f602c0e8030405776f726c6407f090eefe05e000000000000100000ad0001f0afa06c0c800ff", Some("list quicklist hello,5,1000,world,-70000,1099511627776,-100000000,200")),
            // list_quicklist1
            ("0e0211110000000d0000000200000161030162ff4056560000000c000000020000f402404663636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363ff", Some("list quicklist a,b,3,cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc")),
            // list_quicklist1_empty_node
            ("0e020b0b0000000a0000000000ff0e0e0000000a0000000100000178ff", Some("list quicklist x")),
            // list_quicklist1_all_empty
            ("0e010b0b0000000a0000000000ff", None),
            // hash_ziplist
            ("0d191900000016000000040000026631040276310402663204f3ff", Some("hash listpack f1,v1,f2,2")),
            // hash_ziplist_dup
            ("0d191900000016000000040000026631040276310402663104f3ff", None),
            // hash_ziplist_odd
            ("0d1717000000120000000300000266310402763104026632ff", None),
            // zset_ziplist
            ("0c181800000012000000040000016103f20201620303322e35ff", Some("zset listpack a,1,b,2.5")),
            // hash_zipmap
            ("091402046e616d650300666f6f0361676502003432ff", Some("hash listpack age,42,name,foo")),
            // hash_zipmap_dup
            ("091502046e616d650300666f6f046e616d6502003432ff", None),
            // hash_zipmap_badcount
            ("090c05046e616d650300666f6fff", None),
            // list_plain
            ("01030178027979c007", Some("list quicklist x,yy,7")),
            // list_plain_empty
            ("0100", None),
            // set_plain_ints
            ("0203c005022d3303313030", Some("set intset -3,100,5")),
            // set_plain_mixed
            ("020201610131", Some("set hashtable 1,a")),
            // set_plain_dup
            ("020201610161", None),
            // set_plain_dupint
            ("02020131c001", None),
            // hash_plain
            ("04020166017601670177", Some("hash listpack f,v,g,w")),
            // hash_plain_dup
            ("04020166017601660177", None),
            // hash_plain_empty
            ("0400", None),
            // intset_unsorted
            ("0b0c020000000200000005000300", None),
            // intset_dup
            ("0b0c020000000200000003000300", None),
            // intset_badwidth
            ("0b0b0300000001000000616263", None),
            // intset_empty
            ("0b080200000000000000", None),
            // intset_badsize
            ("0b0a02000000020000000300", None),
            // hash_lp_dup
            ("101a1a000000060082663103827631038266310302010301de7002ff", None),
            // hash_lp_badbacklen
            ("101a1a000000060082663103827631048266320302010301de7002ff", None),
            // hash_lp_badcount
            ("101a1a000000070082663103827631038266320302010301de7002ff", None),
            // hash_lp_odd
            ("1013130000000300826631038276310382663203ff", None),
            // ql2_badcontainer
            ("1201030178", None),
            // ql2_plain
            ("12020109706c61696e2d6f6e65020a0a0000000100816102ff", Some("list quicklist plain-one,a")),
            // ql2_emptyblob
            ("12010200", None),
            // ql2_encoded_count
            ("12c1020a0a0000000100816102ff", Some("list quicklist a")),
            // zl_badprev
            ("0a11110000000d0000000200000161050162ff", None),
            // zl_badtail
            ("0a11110000000a0000000200000161030162ff", None),
        ];
        for (body, want) in cases {
            let got = rst(&wrap(&hex(body), 10)).ok().map(|v| {
                let c: Vec<String> = match &v {
                    Value::ZSet(_) => zitems(&v)
                        .into_iter()
                        .flat_map(|(m, s)| [m, s.to_string()])
                        .collect(),
                    _ => content(&v)
                        .into_iter()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .collect(),
                };
                format!("{} {} {}", v.type_name(), v.encoding(), c.join(","))
            });
            assert_eq!(got.as_deref(), *want, "{body}");
        }
    }

    fn elem() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            4 => proptest::collection::vec(b'a'..b'e', 0..4),
            3 => any::<i64>().prop_map(|i| i.to_string().into_bytes()),
            2 => (-5000i64..5000).prop_map(|i| i.to_string().into_bytes()),
            1 => proptest::collection::vec(any::<u8>(), 60..300),
            1 => (0usize..20_000).prop_map(|n| vec![b'q'; n]),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        #[test]
        fn random_collections_round_trip(
            items in proptest::collection::vec(elem(), 1..300),
            fill in proptest::prelude::prop_oneof![
                proptest::strategy::Just(-2i64),
                proptest::strategy::Just(-1),
                proptest::strategy::Just(3),
                proptest::strategy::Just(-5),
            ],
        ) {
            let lim = lim_fill(fill);
            let l = list_of(&items, fill);
            let back = restore(&dump(&l, &lim), &lim).expect("list");
            proptest::prop_assert_eq!(content(&back), content(&l));
            let s = set_of(&items);
            let back = restore(&dump(&s, &lim), &lim).expect("set");
            proptest::prop_assert_eq!(content(&back), content(&s));
            proptest::prop_assert_eq!(back.encoding(), s.encoding());
            let h = hash_of(&items.iter().flat_map(|i| [i.clone(), i.repeat(2)]).collect::<Vec<_>>());
            let back = restore(&dump(&h, &lim), &lim).expect("hash");
            proptest::prop_assert_eq!(content(&back), content(&h));
        }

        #[test]
        fn random_bytes_never_panic(
            ty in 0u8..20,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let mut b = vec![ty];
            b.extend_from_slice(&body);
            let _ = rst(&wrap(&b, 10));
        }

        #[test]
        fn mutated_payloads_never_panic(
            items in proptest::collection::vec(elem(), 1..40),
            kind in 0u8..4,
            edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..4),
        ) {
            let v = match kind {
                0 => list_of(&items, -2),
                1 => set_of(&items),
                2 => hash_of(&items.iter().flat_map(|i| [i.clone(), b"v".to_vec()]).collect::<Vec<_>>()),
                _ => set_of(&(0..items.len()).map(|i| (i * 1000).to_string()).collect::<Vec<_>>()),
            };
            let d = dump(&v, &lim_fill(-2));
            let mut body = d[..d.len() - 10].to_vec();
            for (at, x) in edits {
                let i = at % body.len();
                body[i] = x;
            }
            // Whatever decodes must be a consistent, non-empty value.
            if let Ok(back) = rst(&wrap(&body, 10)) {
                match &back {
                    Value::List(l) => proptest::prop_assert!(!l.is_empty()),
                    Value::Set(s) => proptest::prop_assert!(!s.is_empty()),
                    Value::Hash(h) => proptest::prop_assert!(!h.is_empty()),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn round_trip() {
        let mut cases: Vec<Vec<u8>> = vec![
            b"0".to_vec(),
            b"-0".to_vec(),
            b"01".to_vec(),
            b"+1".to_vec(),
            b"127".to_vec(),
            b"128".to_vec(),
            b"-128".to_vec(),
            b"-129".to_vec(),
            b"32767".to_vec(),
            b"-32768".to_vec(),
            b"-2147483648".to_vec(),
            b"-2147483649".to_vec(),
            b"99999999999".to_vec(),
            vec![b'a'; 21],
            vec![b'a'; 63],
            vec![b'a'; 64],
            vec![0; 100_000],
        ];
        for n in [21, 22, 40, 100, 1000, 16383, 16384, 70_000] {
            cases.push(lcg_bytes(n, 256));
            cases.push(lcg_bytes(n, 4));
            cases.push(lcg_bytes(n, 26));
        }
        for v in cases {
            let d = dump_str(&s(&v));
            assert_eq!(rst(&d), Ok(s(&v)), "len {}", v.len());
        }
    }

    #[test]
    fn integer_encodings() {
        assert_eq!(&dump_str(&s(b"-128"))[..3], &[0, 0xc0, 0x80]);
        assert_eq!(&dump_str(&s(b"128"))[..4], &[0, 0xc1, 0x80, 0]);
        assert_eq!(
            &dump_str(&s(b"-2147483648"))[..6],
            &[0, 0xc2, 0, 0, 0, 0x80]
        );
        // Non-canonical integers are kept as strings.
        assert_eq!(&dump_str(&s(b"01"))[..4], &[0, 2, b'0', b'1']);
        assert_eq!(&dump_str(&s(b"-0"))[..4], &[0, 2, b'-', b'0']);
    }

    #[test]
    fn length_encodings() {
        let mut o = Vec::new();
        save_len(&mut o, 63);
        save_len(&mut o, 64);
        save_len(&mut o, 16383);
        save_len(&mut o, 16384);
        save_len(&mut o, 1 << 32);
        assert_eq!(
            o,
            [
                &[63u8][..],
                &[0x40, 64],
                &[0x7f, 0xff],
                &[0x80, 0, 0, 0x40, 0],
                &[0x81, 0, 0, 0, 1, 0, 0, 0, 0]
            ]
            .concat()
        );
        // Every length form decodes (a 5-byte string written each way).
        for pre in [
            &[5u8][..],
            &[0x40, 5],
            &[0x80, 0, 0, 0, 5],
            &[0x81, 0, 0, 0, 0, 0, 0, 0, 5],
        ] {
            let mut body = vec![0u8];
            body.extend_from_slice(pre);
            body.extend_from_slice(b"hello");
            assert_eq!(rst(&wrap(&body, 10)), Ok(s(b"hello")), "{pre:?}");
        }
    }

    #[test]
    fn footer_checks() {
        let p = hex("000568656c6c6f0a006372df766534200a");
        assert_eq!(rst(&p[..9]), Err(ERR_PAYLOAD));
        let mut bad = p.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(rst(&bad), Err(ERR_PAYLOAD));
        // No escape for an all-zero CRC.
        let mut zero = p[..p.len() - 8].to_vec();
        zero.extend_from_slice(&[0; 8]);
        assert_eq!(rst(&zero), Err(ERR_PAYLOAD));
        let body = hex("000568656c6c6f");
        assert_eq!(rst(&wrap(&body, 0)), Ok(s(b"hello")));
        assert_eq!(rst(&wrap(&body, 9)), Ok(s(b"hello")));
        assert_eq!(rst(&wrap(&body, 11)), Err(ERR_PAYLOAD));
        assert_eq!(rst(&wrap(&body, 266)), Err(ERR_PAYLOAD));
    }

    // Each expectation below was checked against redis-server 7.0.15's RESTORE.
    #[test]
    fn body_edge_cases_as_redis() {
        let ok = |body: &str, want: &[u8]| {
            assert_eq!(rst(&wrap(&hex(body), 10)), Ok(s(want)), "{body}");
        };
        let bad = |body: &str| {
            assert_eq!(rst(&wrap(&hex(body), 10)), Err(ERR_BAD_FORMAT), "{body}");
        };
        // Unknown type bytes, and types this server does not hold (module, stream).
        bad("080568656c6c6f");
        bad("140568656c6c6f");
        bad("070568656c6c6f");
        bad("0f0568656c6c6f");
        // Trailing bytes are ignored; a string may run into the footer (Redis reads there).
        ok("000568656c6c6fffff", b"hello");
        ok("000768656c6c6f", b"hello\n\x00");
        bad("001068656c6c6f");
        // Empty body, type only, bad length/encoding bytes.
        bad("");
        bad("00");
        bad("0082");
        bad("00bf");
        bad("00c4");
        // Integer encodings, including one that reads the version byte.
        ok("00c0fb", b"-5");
        ok("00c1ffff", b"-1");
        ok("00c0", b"10");
        ok("00c2ff", b"1795164927");
        // LZF: literal run; claimed length 0 passes whatever the data; mismatches fail.
        ok("00c3060504616263646566", b"abcde");
        ok("00c30b000361626361e0b9020178", b"");
        ok("00c30000", b"");
        bad("00c30005");
        bad("00c3060604616263646566");
        bad("00c3060404616263646566");
        bad("00c3030520ff00");
        bad("00c30681000001000000000461626364");
    }

    #[test]
    fn decompress_rejects_garbage_without_panicking() {
        let mut x: u32 = 7;
        for round in 0..2000 {
            let n = round % 40;
            let data: Vec<u8> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                    (x >> 24) as u8
                })
                .collect();
            let mut out = Vec::new();
            let got = lzf::decompress(&data, 64, &mut out);
            assert!(got <= 64);
            let _ = rst(&wrap(&[&[0u8, 0xc3][..], &data].concat(), 10));
        }
    }
}
