//! The stream type (Redis 7.0 `t_stream.c`): entries ordered by ID in a B-tree of packed nodes,
//! plus consumer groups.
//!
//! Like Redis's radix tree of listpacks, entries are kept in nodes keyed by their first
//! ("master") ID; a node packs up to `stream-node-max-entries` entries (or about
//! `stream-node-max-bytes`) into one buffer, storing IDs as deltas from the master ID and
//! omitting field names equal to the master entry's. Deleted entries stay in their node as
//! tombstones until the whole node goes, as in Redis.
//!
//! The node boundaries must be the ones Redis would draw: approximate trimming (`~`) removes
//! whole nodes only, so the entries it leaves, and XINFO's radix-tree counters, depend on them.
//! So each node also tracks the size its listpack would have in Redis (`lp_bytes`), with
//! listpack's encoding sizes, and a node is closed exactly when Redis would close it.

use crate::util::varint;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// An entry ID: milliseconds and sequence number, ordered as a 128-bit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// The next ID, or None past the last possible one (Redis's streamIncrID failing).
    pub fn incr(&self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, or None before 0-0.
    pub fn decr(&self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// `ms-seq`, as replies and commands write it.
    pub fn to_bulk(self) -> Bytes {
        Bytes::from(format!("{}-{}", self.ms, self.seq))
    }

    fn to_u128(self) -> u128 {
        ((self.ms as u128) << 64) | self.seq as u128
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Node size limits (`stream-node-max-bytes`, `stream-node-max-entries`).
#[derive(Debug, Clone, Copy)]
pub struct NodeLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// Redis's STREAM_LISTPACK_MAX_SIZE: no node grows past 1 GB, whatever the config says.
const LISTPACK_MAX_SIZE: u64 = 1 << 30;

const FLAG_DELETED: u8 = 1;
const FLAG_SAMEFIELDS: u8 = 2;

// ---------------------------------------------------------------------------------------------
// Listpack sizes, to draw node boundaries where Redis does.

/// Bytes of a listpack integer element's encoding.
fn lp_int_enc(v: i64) -> usize {
    if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        4
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        5
    } else {
        9
    }
}

/// An element's bytes: its encoding plus the back-length that follows it.
fn lp_elem(enc: usize) -> usize {
    let back = if enc <= 127 {
        1
    } else if enc < 16383 {
        2
    } else if enc < 2_097_151 {
        3
    } else if enc < 268_435_455 {
        4
    } else {
        5
    };
    enc + back
}

fn lp_int(v: i64) -> usize {
    lp_elem(lp_int_enc(v))
}

/// A string element: stored as an integer when it reads as one, as lpAppend does.
fn lp_str(s: &[u8]) -> usize {
    if let Some(v) = crate::util::num::parse_i64(s) {
        return lp_int(v);
    }
    let n = s.len();
    lp_elem(if n < 64 {
        1 + n
    } else if n < 4096 {
        2 + n
    } else {
        5 + n
    })
}

// ---------------------------------------------------------------------------------------------
// Varints for the packed node buffer.

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint::put(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn get_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let n = varint::get(buf, pos) as usize;
    let s = &buf[*pos..*pos + n];
    *pos += n;
    s
}

// ---------------------------------------------------------------------------------------------
// Nodes

/// A run of entries: Redis's listpack under one radix-tree key.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    /// The master entry's field names.
    fields: Vec<Bytes>,
    /// Entries: flags byte, ms and seq deltas, [field count], [field], value, ...
    buf: Vec<u8>,
    live: u64,
    deleted: u64,
    /// Listpack bytes of everything but the header, end byte and the two counters.
    lp_body: u64,
}

/// One entry decoded from a node (its field-value pairs left packed until asked for).
struct Raw {
    flags: u8,
    id: StreamId,
    /// Offset of the flags byte.
    at: usize,
    nfields: usize,
    /// Offset of the first field (or value, with SAMEFIELDS).
    data: usize,
    /// Offset of the next entry.
    next: usize,
}

impl Node {
    fn lp_bytes(&self) -> u64 {
        7 + lp_int(self.live as i64) as u64 + lp_int(self.deleted as i64) as u64 + self.lp_body
    }

    fn new(fields: &[Bytes]) -> Node {
        let mut body = lp_int(fields.len() as i64) as u64 + lp_int(0) as u64;
        for f in fields {
            body += lp_str(f) as u64;
        }
        Node {
            fields: fields.to_vec(),
            buf: Vec::new(),
            live: 0,
            deleted: 0,
            lp_body: body,
        }
    }

    fn read(&self, master: StreamId, at: usize) -> Raw {
        let buf = &self.buf;
        let mut p = at;
        let flags = buf[p];
        p += 1;
        let dms = varint::get(buf, &mut p);
        let dseq = varint::get(buf, &mut p);
        let id = StreamId::new(master.ms.wrapping_add(dms), master.seq.wrapping_add(dseq));
        let same = flags & FLAG_SAMEFIELDS != 0;
        let nfields = if same {
            self.fields.len()
        } else {
            varint::get(buf, &mut p) as usize
        };
        let data = p;
        for _ in 0..(if same { nfields } else { nfields * 2 }) {
            let n = varint::get(buf, &mut p) as usize;
            p += n;
        }
        Raw {
            flags,
            id,
            at,
            nfields,
            data,
            next: p,
        }
    }

    /// The field-value pairs of an entry, flattened.
    fn pairs(&self, r: &Raw) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(r.nfields * 2);
        let mut p = r.data;
        let same = r.flags & FLAG_SAMEFIELDS != 0;
        for i in 0..r.nfields {
            if same {
                out.push(self.fields[i].clone());
            } else {
                out.push(Bytes::copy_from_slice(get_bytes(&self.buf, &mut p)));
            }
            out.push(Bytes::copy_from_slice(get_bytes(&self.buf, &mut p)));
        }
        out
    }

    /// Every entry, tombstones included, in order.
    fn raws(&self, master: StreamId) -> Vec<Raw> {
        let mut out = Vec::new();
        let mut p = 0;
        while p < self.buf.len() {
            let r = self.read(master, p);
            p = r.next;
            out.push(r);
        }
        out
    }

    fn push(&mut self, master: StreamId, id: StreamId, pairs: &[Bytes]) {
        let n = pairs.len() / 2;
        let same = n == self.fields.len() && (0..n).all(|i| pairs[2 * i] == self.fields[i]);
        let flags = if same { FLAG_SAMEFIELDS } else { 0 };
        let dms = id.ms.wrapping_sub(master.ms);
        let dseq = id.seq.wrapping_sub(master.seq);
        self.buf.push(flags);
        varint::put(&mut self.buf, dms);
        varint::put(&mut self.buf, dseq);
        // Listpack bytes as Redis counts them: flags, deltas, [count], fields, values, lp-count.
        let mut lp = lp_int(flags as i64) + lp_int(dms as i64) + lp_int(dseq as i64);
        let mut lp_count = n as i64 + 3;
        if !same {
            varint::put(&mut self.buf, n as u64);
            lp += lp_int(n as i64);
            lp_count += n as i64 + 1;
        }
        for i in 0..n {
            if !same {
                put_bytes(&mut self.buf, &pairs[2 * i]);
                lp += lp_str(&pairs[2 * i]);
            }
            put_bytes(&mut self.buf, &pairs[2 * i + 1]);
            lp += lp_str(&pairs[2 * i + 1]);
        }
        lp += lp_int(lp_count);
        self.lp_body += lp as u64;
        self.live += 1;
    }

    /// Mark the entry at `at` deleted (flags only: the same listpack size).
    fn tombstone(&mut self, at: usize) {
        self.buf[at] |= FLAG_DELETED;
        self.live -= 1;
        self.deleted += 1;
    }

    fn last_raw_id(&self, master: StreamId) -> Option<StreamId> {
        self.raws(master).last().map(|r| r.id)
    }
}

// ---------------------------------------------------------------------------------------------
// Consumer groups

/// A delivered, not yet acknowledged entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEntry {
    pub consumer: Bytes,
    /// Unix ms of the last delivery.
    pub delivery_time: i64,
    pub delivery_count: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    /// Unix ms of the last time it read or claimed.
    pub seen_time: i64,
    pub pel: BTreeSet<StreamId>,
}

/// Redis's SCG_INVALID_ENTRIES_READ.
pub const INVALID_ENTRIES_READ: i64 = -1;

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    /// Logical count of entries read (-1: unknown).
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, PendingEntry>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer, created if absent: (consumer, created).
    pub fn consumer(&mut self, name: &[u8], now: i64, refresh: bool) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c = self
            .consumers
            .entry(Bytes::copy_from_slice(name))
            .or_insert_with(|| Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            });
        if refresh {
            c.seen_time = now;
        }
        (c, created)
    }

    /// Delete a consumer and its pending entries: how many it had.
    pub fn del_consumer(&mut self, name: &[u8]) -> usize {
        let Some(c) = self.consumers.remove(name) else {
            return 0;
        };
        for id in &c.pel {
            self.pel.remove(id);
        }
        c.pel.len()
    }

    /// Give the pending entry `id` to `consumer` (which must exist), out of its old owner's
    /// list.
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes) {
        let Some(p) = self.pel.get_mut(&id) else {
            return;
        };
        if p.consumer != *consumer {
            if let Some(old) = self.consumers.get_mut(&p.consumer) {
                old.pel.remove(&id);
            }
            p.consumer = consumer.clone();
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }

    /// Remove a pending entry from the group and its consumer. Returns it if it was there.
    pub fn ack(&mut self, id: StreamId) -> Option<PendingEntry> {
        let p = self.pel.remove(&id)?;
        if let Some(c) = self.consumers.get_mut(&p.consumer) {
            c.pel.remove(&id);
        }
        Some(p)
    }
}

// ---------------------------------------------------------------------------------------------
// The stream

/// How XADD/XTRIM trim.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    pub last_id: StreamId,
    pub entries_added: u64,
    pub max_deleted: StreamId,
    pub groups: BTreeMap<Bytes, Group>,
}

/// Streams of one database deleted or replaced lately (see `Recent`), with what a reader
/// blocked on one then knew of it. A blocking XREAD/XREADGROUP that reached the server before
/// that, but got to the key's shard after (it came in through another shard, the deleting
/// command through a third), is answered as if it had been waiting already
/// (`commands::stream::read_late`): the order its client sent things in, which a lone Redis
/// keeps.
pub type GoneStreams = super::recent::Recent<Gone>;

#[derive(Debug)]
pub struct Gone {
    pub last_id: StreamId,
    pub groups: Vec<Bytes>,
}

impl Gone {
    /// What a blocked reader knew of stream `s`, which is going away now.
    pub fn of(s: &Stream) -> Gone {
        Gone {
            last_id: s.last_id,
            groups: s.groups.keys().cloned().collect(),
        }
    }
}

/// Why an append failed.
#[derive(Debug, PartialEq, Eq)]
pub enum AddError {
    /// The ID is not above the last one (EDOM).
    NotGreater,
    /// Elements over the listpack limit (ERANGE).
    TooLarge,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Radix-tree keys: the number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The number of radix-tree nodes Redis's rax would hold for these node keys (16-byte big
    /// endian IDs): the root, every key, every branching point and every child of one.
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<u128> = self.nodes.keys().map(|k| k.to_u128()).collect();
        if keys.is_empty() {
            return 1;
        }
        // A prefix is (byte length, value with the rest zeroed).
        let prefix = |k: u128, len: u32| -> (u32, u128) {
            if len == 0 {
                (0, 0)
            } else {
                (len, k & (!0u128 << (128 - 8 * len)))
            }
        };
        let mut set = std::collections::HashSet::new();
        set.insert((0u32, 0u128));
        for &k in &keys {
            set.insert((16, k));
        }
        for w in keys.windows(2) {
            let lcp = ((w[0] ^ w[1]).leading_zeros() / 8).min(15);
            set.insert(prefix(w[0], lcp));
            set.insert(prefix(w[0], lcp + 1));
            set.insert(prefix(w[1], lcp + 1));
        }
        set.len()
    }

    /// The ID the next `*` gets: now, or one past the last ID. None when no ID is left.
    pub fn next_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Append an entry (Redis's streamAppendItem). `pairs` alternates fields and values.
    pub fn append(
        &mut self,
        id: StreamId,
        pairs: &[Bytes],
        lim: NodeLimits,
    ) -> Result<StreamId, AddError> {
        if id <= self.last_id {
            return Err(AddError::NotGreater);
        }
        let total: u64 = pairs.iter().map(|b| b.len() as u64).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AddError::TooLarge);
        }
        let max_bytes = if lim.max_bytes == 0 || lim.max_bytes > LISTPACK_MAX_SIZE {
            LISTPACK_MAX_SIZE
        } else {
            lim.max_bytes
        };
        // Append to the tail node unless Redis would start a new one.
        let tail_ok = match self.nodes.last_key_value() {
            None => false,
            Some((_, n)) => {
                !(n.lp_bytes() + total >= max_bytes
                    || (lim.max_entries != 0 && n.live + n.deleted >= lim.max_entries))
            }
        };
        if !tail_ok {
            let nfields = pairs.len() / 2;
            let fields: Vec<Bytes> = (0..nfields).map(|i| pairs[2 * i].clone()).collect();
            self.nodes.insert(id, Node::new(&fields));
        }
        if let Some(mut e) = self.nodes.last_entry() {
            let master = *e.key();
            e.get_mut().push(master, id, pairs);
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        Ok(id)
    }

    /// Trim from the head (Redis's streamTrim): whole nodes, then (unless `approx`) entries
    /// inside the first node that must keep some. `limit` caps the entries removed (0: none).
    /// Returns how many entries went.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, node)) = self.nodes.first_key_value() else {
                break;
            };
            let entries = node.live;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => node.last_raw_id(master).is_some_and(|l| l < min),
            };
            if remove {
                self.nodes.remove(&master);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            // Tombstone entries of this node until the target is met.
            let Some(node) = self.nodes.get_mut(&master) else {
                break;
            };
            for r in node.raws(master) {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => r.id >= min,
                };
                if stop {
                    break;
                }
                if r.flags & FLAG_DELETED == 0 {
                    node.tombstone(r.at);
                    self.length -= 1;
                    deleted += 1;
                }
            }
            break;
        }
        deleted
    }

    /// The node that may hold `id` (the last one whose master ID is <= id).
    fn node_of(&self, id: StreamId) -> Option<StreamId> {
        self.nodes.range(..=id).next_back().map(|(k, _)| *k)
    }

    /// Live entries with start <= ID <= end, forward or (rev) backward, at most `count`
    /// (0: all), each as (id, field-value pairs).
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: usize,
        rev: bool,
    ) -> Vec<(StreamId, Vec<Bytes>)> {
        let mut out = Vec::new();
        if start > end {
            return out;
        }
        self.walk(start, end, rev, |node, r| {
            out.push((r.id, node.pairs(r)));
            count == 0 || out.len() < count
        });
        out
    }

    /// Visit live entries in [start, end] in order until `f` returns false.
    fn walk(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(&Node, &Raw) -> bool,
    ) {
        if !rev {
            let from = self.node_of(start).unwrap_or(StreamId::MIN);
            for (&master, node) in self.nodes.range(from..) {
                if master > end {
                    return;
                }
                let mut p = 0;
                while p < node.buf.len() {
                    let r = node.read(master, p);
                    p = r.next;
                    if r.flags & FLAG_DELETED != 0 || r.id < start {
                        continue;
                    }
                    if r.id > end || !f(node, &r) {
                        return;
                    }
                }
            }
        } else {
            for (&master, node) in self.nodes.range(..=end).rev() {
                for r in node.raws(master).iter().rev() {
                    if r.flags & FLAG_DELETED != 0 || r.id > end {
                        continue;
                    }
                    if r.id < start || !f(node, r) {
                        return;
                    }
                }
            }
        }
    }

    /// The fields of one live entry.
    pub fn get(&self, id: StreamId) -> Option<Vec<Bytes>> {
        self.range(id, id, 1, false).pop().map(|(_, p)| p)
    }

    pub fn contains(&self, id: StreamId) -> bool {
        let mut found = false;
        self.walk(id, id, false, |_, _| {
            found = true;
            false
        });
        found
    }

    /// Delete one entry (XDEL): true if it was there. Does not touch max_deleted.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some(master) = self.node_of(id) else {
            return false;
        };
        let Some(node) = self.nodes.get_mut(&master) else {
            return false;
        };
        let Some(at) = node
            .raws(master)
            .iter()
            .find(|r| r.id == id && r.flags & FLAG_DELETED == 0)
            .map(|r| r.at)
        else {
            return false;
        };
        // The node's last live entry takes the whole node with it.
        if node.live == 1 {
            self.nodes.remove(&master);
        } else {
            node.tombstone(at);
        }
        self.length -= 1;
        true
    }

    /// The first live entry's ID, 0-0 when empty (what Redis records as first_id).
    pub fn first_id(&self) -> StreamId {
        let mut id = StreamId::MIN;
        self.walk(StreamId::MIN, StreamId::MAX, false, |_, r| {
            id = r.id;
            false
        });
        id
    }

    /// The last live entry's ID, 0-0 when empty (streamLastValidID).
    pub fn last_valid_id(&self) -> StreamId {
        let mut id = StreamId::MIN;
        self.walk(StreamId::MIN, StreamId::MAX, true, |_, r| {
            id = r.id;
            false
        });
        id
    }

    /// The first ID in the first node, tombstones included (streamGetEdgeID without skipping
    /// tombstones), for rewriting an approximate MINID; MAX when empty.
    pub fn first_raw_id(&self) -> StreamId {
        match self.nodes.first_key_value() {
            None => StreamId::MAX,
            Some((&m, n)) => n.raws(m).first().map_or(StreamId::MAX, |r| r.id),
        }
    }

    /// Whether the range holds a tombstone (streamRangeHasTombstones).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() {
            return false;
        }
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// A group's logical read counter for `id`, -1 when it can't be told
    /// (streamEstimateDistanceFromFirstEverEntry).
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if !id.is_zero() && id < self.max_deleted {
            return INVALID_ENTRIES_READ;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        } else if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        let first = self.first_id();
        if self.max_deleted.is_zero() || self.max_deleted < first {
            if id < first {
                return (self.entries_added - self.length) as i64;
            } else if id == first {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// A group's lag: entries not yet delivered, None when it can't be told.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_distance(g.last_id);
        (read != INVALID_ENTRIES_READ).then(|| self.entries_added as i64 - read)
    }

    /// Move a group's last delivered ID to `id`, keeping its read counter as Redis does when
    /// it delivers `id`.
    pub fn advance_group(&mut self, group: &[u8], id: StreamId) {
        let tomb = self.range_has_tombstones(id, StreamId::MAX);
        let estimate = if self.entries_added != 0 {
            Some(self.estimate_distance(id))
        } else {
            None
        };
        if let Some(g) = self.groups.get_mut(group) {
            if g.entries_read != INVALID_ENTRIES_READ && !tomb {
                g.entries_read += 1;
            } else if let Some(e) = estimate {
                g.entries_read = e;
            }
            g.last_id = id;
        }
    }

    /// Approximate bytes used, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        let nodes: usize = self
            .nodes
            .values()
            .map(|n| n.buf.capacity() + n.fields.iter().map(|f| f.len() + 16).sum::<usize>() + 80)
            .sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(k, g)| k.len() + 64 + g.pel.len() * 64 + g.consumers.len() * 64)
            .sum();
        nodes + groups + 64
    }

    /// Every live entry, for rewriting.
    pub fn entries(&self) -> Vec<(StreamId, Vec<Bytes>)> {
        self.range(StreamId::MIN, StreamId::MAX, 0, false)
    }
}

/// The commands that rebuild `s` at `key` (Redis's rewriteStreamObject): XADD of every entry,
/// XSETID with the counters, then per group XGROUP CREATE … ENTRIESREAD, an XCLAIM for each
/// pending entry and XGROUP CREATECONSUMER for consumers that own none.
pub fn rewrite_commands(key: &[u8], s: &Stream, out: &mut Vec<Vec<Bytes>>) {
    let b = |x: &'static [u8]| Bytes::from_static(x);
    let k = Bytes::copy_from_slice(key);
    let entries = s.entries();
    if entries.is_empty() {
        // An empty stream is created with an XADD whose entry goes again (MAXLEN 0); the
        // XSETID below puts the real counters back.
        out.push(vec![
            b(b"XADD"),
            k.clone(),
            b(b"MAXLEN"),
            b(b"0"),
            b(b"0-1"),
            b(b"x"),
            b(b"y"),
        ]);
    } else {
        for (id, pairs) in &entries {
            let mut cmd = Vec::with_capacity(pairs.len() + 3);
            cmd.push(b(b"XADD"));
            cmd.push(k.clone());
            cmd.push(id.to_bulk());
            cmd.extend(pairs.iter().cloned());
            out.push(cmd);
        }
    }
    out.push(vec![
        b(b"XSETID"),
        k.clone(),
        s.last_id.to_bulk(),
        b(b"ENTRIESADDED"),
        Bytes::from(s.entries_added.to_string()),
        b(b"MAXDELETEDID"),
        s.max_deleted.to_bulk(),
    ]);
    for (name, g) in &s.groups {
        out.push(vec![
            b(b"XGROUP"),
            b(b"CREATE"),
            k.clone(),
            name.clone(),
            g.last_id.to_bulk(),
            b(b"ENTRIESREAD"),
            Bytes::from(g.entries_read.to_string()),
        ]);
        for (id, p) in &g.pel {
            out.push(vec![
                b(b"XCLAIM"),
                k.clone(),
                name.clone(),
                p.consumer.clone(),
                b(b"0"),
                id.to_bulk(),
                b(b"TIME"),
                Bytes::from(p.delivery_time.to_string()),
                b(b"RETRYCOUNT"),
                Bytes::from(p.delivery_count.to_string()),
                b(b"JUSTID"),
                b(b"FORCE"),
            ]);
        }
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                out.push(vec![
                    b(b"XGROUP"),
                    b(b"CREATECONSUMER"),
                    k.clone(),
                    name.clone(),
                    cname.clone(),
                ]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fv(pairs: &[&str]) -> Vec<Bytes> {
        pairs
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    #[test]
    fn append_range_and_delete() {
        let mut s = Stream::new();
        let lim = NodeLimits::default();
        for i in 1..=250u64 {
            s.append(id(i, 0), &fv(&["f", &i.to_string()]), lim)
                .unwrap();
        }
        assert_eq!(s.len(), 250);
        assert_eq!(s.node_count(), 3, "100 entries per node");
        assert_eq!(
            s.append(id(5, 0), &fv(&["a", "b"]), lim),
            Err(AddError::NotGreater)
        );
        let r = s.range(id(10, 0), id(12, 0), 0, false);
        assert_eq!(r.iter().map(|e| e.0.ms).collect::<Vec<_>>(), [10, 11, 12]);
        assert_eq!(r[0].1, fv(&["f", "10"]));
        let r = s.range(StreamId::MIN, StreamId::MAX, 2, true);
        assert_eq!(r.iter().map(|e| e.0.ms).collect::<Vec<_>>(), [250, 249]);
        assert!(s.delete(id(11, 0)));
        assert!(!s.delete(id(11, 0)));
        assert!(!s.contains(id(11, 0)));
        assert_eq!(s.len(), 249);
        assert_eq!(s.first_id(), id(1, 0));
        assert_eq!(s.last_valid_id(), id(250, 0));
    }

    #[test]
    fn different_fields_are_kept() {
        let mut s = Stream::new();
        let lim = NodeLimits::default();
        s.append(id(1, 0), &fv(&["a", "1", "b", "2"]), lim).unwrap();
        s.append(id(1, 1), &fv(&["x", "9"]), lim).unwrap();
        s.append(id(1, 2), &fv(&["a", "3", "b", "4"]), lim).unwrap();
        let all = s.entries();
        assert_eq!(all[1].1, fv(&["x", "9"]));
        assert_eq!(all[2].1, fv(&["a", "3", "b", "4"]));
    }

    #[test]
    fn approximate_trim_removes_whole_nodes() {
        let mut s = Stream::new();
        let lim = NodeLimits::default();
        for i in 1..=250u64 {
            s.append(id(i, 0), &fv(&["f", "v"]), lim).unwrap();
        }
        assert_eq!(s.trim(Trim::MaxLen(120), true, 10_000), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!(s.len(), 120);
        assert_eq!(s.first_id(), id(131, 0));
        assert_eq!(s.trim(Trim::MinId(id(200, 0)), true, 0), 0);
        // The node of 131..=200 goes whole, then 201..=204 inside the next.
        assert_eq!(s.trim(Trim::MinId(id(205, 0)), false, 0), 74);
        assert_eq!(s.first_id(), id(205, 0));
    }

    #[test]
    fn rax_node_counts() {
        let mut s = Stream::new();
        assert_eq!(s.rax_nodes(), 1);
        s.append(id(1, 1), &fv(&["a", "1"]), NodeLimits::default())
            .unwrap();
        assert_eq!(s.rax_nodes(), 2);
    }

    #[test]
    fn ids() {
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::MIN.decr(), None);
        assert_eq!(id(1, u64::MAX).incr(), Some(id(2, 0)));
        assert_eq!(id(2, 0).decr(), Some(id(1, u64::MAX)));
        assert_eq!(id(3, 4).to_string(), "3-4");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(u64, u8),
        Del(u64),
        TrimLen(u64, bool),
        TrimMin(u64, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (1..4u64, 0..3u8).prop_map(|(d, f)| Op::Add(d, f)),
            2 => (0..400u64).prop_map(Op::Del),
            1 => (0..300u64, any::<bool>()).prop_map(|(n, a)| Op::TrimLen(n, a)),
            1 => (0..400u64, any::<bool>()).prop_map(|(n, a)| Op::TrimMin(n, a)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Against a BTreeMap model: exact operations agree entry for entry; approximate
        /// trims never remove more than the exact ones, nor anything the exact one keeps.
        #[test]
        fn matches_a_btreemap(ops in proptest::collection::vec(op(), 1..400),
                              max_entries in 1..20u64) {
            let lim = NodeLimits { max_bytes: 4096, max_entries };
            let mut s = Stream::new();
            let mut m: BTreeMap<StreamId, Vec<Bytes>> = BTreeMap::new();
            let mut next = 0u64;
            for op in ops {
                match op {
                    Op::Add(d, f) => {
                        next += d;
                        let pairs = match f {
                            0 => fv(&["a", &next.to_string()]),
                            1 => fv(&["a", "x", "b", "y"]),
                            _ => fv(&["long-field-name", &"v".repeat(next as usize % 50)]),
                        };
                        s.append(id(next, 0), &pairs, lim).unwrap();
                        m.insert(id(next, 0), pairs);
                    }
                    Op::Del(ms) => {
                        prop_assert_eq!(s.delete(id(ms, 0)), m.remove(&id(ms, 0)).is_some());
                    }
                    Op::TrimLen(n, approx) => {
                        let before = m.len() as u64;
                        let gone = s.trim(Trim::MaxLen(n), approx, 0);
                        let goal = before.saturating_sub(n);
                        if approx { prop_assert!(gone <= goal) } else { prop_assert_eq!(gone, goal) }
                        for _ in 0..gone { m.pop_first(); }
                    }
                    Op::TrimMin(n, approx) => {
                        let goal = m.range(..id(n, 0)).count() as u64;
                        let gone = s.trim(Trim::MinId(id(n, 0)), approx, 0);
                        if approx { prop_assert!(gone <= goal) } else { prop_assert_eq!(gone, goal) }
                        for _ in 0..gone { m.pop_first(); }
                    }
                }
                prop_assert_eq!(s.len(), m.len() as u64);
            }
            let all = s.entries();
            let want: Vec<_> = m.iter().map(|(k, v)| (*k, v.clone())).collect();
            prop_assert_eq!(&all, &want);
            let mut rev = s.range(StreamId::MIN, StreamId::MAX, 0, true);
            rev.reverse();
            prop_assert_eq!(rev, want);
            if let (Some(a), Some(b)) = (m.keys().nth(1), m.keys().nth(5)) {
                let got: Vec<_> = s.range(*a, *b, 0, false).into_iter().map(|e| e.0).collect();
                let exp: Vec<_> = m.range(*a..=*b).map(|e| *e.0).collect();
                prop_assert_eq!(got, exp);
            }
        }
    }
}
