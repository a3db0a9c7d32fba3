//! Pub/Sub on a shard: who listens here, delivering messages to them, and publishing the
//! keyspace notifications the shard's commands queued.
//!
//! A client's subscriptions live on the shard that holds its connection (its own registry
//! below), so a subscriber is only ever written to by its own shard. Every shard also keeps
//! how many subscribers each other shard has per channel and pattern (`Registry::remote`),
//! updated by (un)subscribing shards before they confirm. So PUBLISH runs without waiting:
//! it delivers here, posts the message to the shards that have listeners (their inboxes are
//! FIFO per sender, so what one publisher sends arrives in its order) and answers the count.
//! It waits only while a shard with listeners may hold subscriber input it has not served, so
//! that the count includes every (un)subscribe that came before it (`pubsub_fence.rs`).
//! `Global::subscriptions` counts subscriptions server-wide; while it is 0, PUBLISH answers 0
//! and queued keyspace events are dropped, so a server where nobody subscribes pays nothing
//! for pub/sub beyond that counter's read.

use super::pubsub_fence::Sock;
use super::Shard;
use crate::config::{KeyspaceEvents, ObufLimit};
use crate::net::conn::{ClientState, Conn};
use crate::protocol::reply::Reply;
use bytes::Bytes;
use indexmap::IndexSet;
use std::rc::Rc;
use std::sync::atomic::Ordering;

type Ids = IndexSet<u64, ahash::RandomState>;
type Names = IndexSet<Bytes, ahash::RandomState>;

/// Which of the three namespaces a subscription is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// SUBSCRIBE / PUBLISH.
    Channel,
    /// PSUBSCRIBE: glob patterns over the `Channel` namespace.
    Pattern,
    /// SSUBSCRIBE / SPUBLISH: shard channels (never matched by patterns).
    Shard,
}

/// One client's subscriptions (kept in its `ClientState`).
#[derive(Default, Debug)]
pub struct Subs {
    pub channels: Names,
    pub patterns: Names,
    pub shard_channels: Names,
}

impl Subs {
    pub fn set(&self, space: Space) -> &Names {
        match space {
            Space::Channel => &self.channels,
            Space::Pattern => &self.patterns,
            Space::Shard => &self.shard_channels,
        }
    }

    fn set_mut(&mut self, space: Space) -> &mut Names {
        match space {
            Space::Channel => &mut self.channels,
            Space::Pattern => &mut self.patterns,
            Space::Shard => &mut self.shard_channels,
        }
    }

    /// Redis's CLIENT_PUBSUB: subscribed to anything (RESP2 clients are then restricted, and
    /// every client is held to the `pubsub` output buffer limits).
    #[inline]
    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty())
    }

    /// The count a (un)subscribe confirmation carries: channels and patterns together, shard
    /// channels on their own (Redis's clientSubscriptionsCount / clientShardSubscriptionsCount).
    pub fn count(&self, space: Space) -> usize {
        match space {
            Space::Channel | Space::Pattern => self.channels.len() + self.patterns.len(),
            Space::Shard => self.shard_channels.len(),
        }
    }

    fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }
}

/// This shard's listeners: channel (or pattern) → the ids of its clients subscribed to it.
#[derive(Default)]
pub struct Registry {
    channels: ahash::AHashMap<Bytes, Ids>,
    patterns: ahash::AHashMap<Bytes, Ids>,
    shard_channels: ahash::AHashMap<Bytes, Ids>,
    /// Messages for a client whose connection was in use when they came (its own command
    /// produced them): written when it is next settled.
    stalled: Vec<(u64, Reply)>,
    /// The other shards' subscribers: per namespace, name → subscribers on each shard (by
    /// shard id; this shard's own entry stays 0).
    remote: [ahash::AHashMap<Bytes, Vec<u32>>; 3],
    /// Their sockets, watched for input not read yet (`pubsub_fence.rs`).
    pub watch: super::pubsub_fence::Watch,
}

impl Registry {
    fn map(&self, space: Space) -> &ahash::AHashMap<Bytes, Ids> {
        match space {
            Space::Channel => &self.channels,
            Space::Pattern => &self.patterns,
            Space::Shard => &self.shard_channels,
        }
    }

    fn map_mut(&mut self, space: Space) -> &mut ahash::AHashMap<Bytes, Ids> {
        match space {
            Space::Channel => &mut self.channels,
            Space::Pattern => &mut self.patterns,
            Space::Shard => &mut self.shard_channels,
        }
    }

    /// Names with listeners on any shard, in a namespace, that match `pattern` (all without).
    pub fn names(&self, space: Space, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let mut out: IndexSet<Bytes, ahash::RandomState> = Default::default();
        out.extend(self.map(space).keys().cloned());
        out.extend(self.remote[space as usize].keys().cloned());
        out.into_iter()
            .filter(|n| pattern.is_none_or(|p| crate::util::glob::glob_match(p, n, false)))
            .collect()
    }

    /// Subscribers on all shards of one channel (patterns not counted, as PUBSUB NUMSUB).
    pub fn listeners(&self, space: Space, name: &[u8]) -> usize {
        let here = self.map(space).get(name).map_or(0, |s| s.len());
        let there: u32 = self.remote[space as usize]
            .get(name)
            .map_or(0, |v| v.iter().sum());
        here + there as usize
    }

    /// Shard `from` gained (`delta` > 0) or lost subscribers of `name`.
    fn apply_remote(&mut self, n: usize, from: usize, space: Space, name: &Bytes, delta: i64) {
        let map = &mut self.remote[space as usize];
        let v = map.entry(name.clone()).or_insert_with(|| vec![0; n]);
        if let Some(c) = v.get_mut(from) {
            *c = (i64::from(*c) + delta).clamp(0, i64::from(u32::MAX)) as u32;
        }
        if v.iter().all(|&c| c == 0) {
            map.remove(name);
        }
    }

    /// The other shards with listeners for a message on `channel`, and how many each has.
    pub fn remote_targets(&self, sharded: bool, channel: &[u8]) -> Vec<(usize, u32)> {
        let mut per: Vec<u32> = Vec::new();
        let mut add = |v: &Vec<u32>| {
            if per.len() < v.len() {
                per.resize(v.len(), 0);
            }
            for (p, c) in per.iter_mut().zip(v) {
                *p += c;
            }
        };
        let space = if sharded {
            Space::Shard
        } else {
            Space::Channel
        };
        if let Some(v) = self.remote[space as usize].get(channel) {
            add(v);
        }
        if !sharded {
            for (pat, v) in &self.remote[Space::Pattern as usize] {
                if crate::util::glob::glob_match(pat, channel, false) {
                    add(v);
                }
            }
        }
        per.into_iter()
            .enumerate()
            .filter(|(_, c)| *c > 0)
            .collect()
    }
}

fn bulk(s: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(s.as_bytes()))
}

/// The confirmation pushes of (un)subscribe commands.
fn confirm(kind: &'static str, name: Option<&Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        bulk(kind),
        name.map_or(Reply::Nil, |n| Reply::Bulk(n.clone())),
        Reply::Int(count as i64),
    ])
}

fn words(space: Space) -> (&'static str, &'static str) {
    match space {
        Space::Channel => ("subscribe", "unsubscribe"),
        Space::Pattern => ("psubscribe", "punsubscribe"),
        Space::Shard => ("ssubscribe", "sunsubscribe"),
    }
}

/// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE: subscribe `c` and write one confirmation per name.
/// Confirmations are pushes: written even under CLIENT REPLY OFF, as Redis does. With several
/// shards, `announce` must have told the others of the new names first (see `run_subscribe`).
pub fn subscribe(shard: &Shard, c: &mut Conn, space: Space, names: &[Bytes]) {
    let id = c.client.id;
    for name in names {
        if c.client.subs.set_mut(space).insert(name.clone()) {
            shard
                .pubsub
                .borrow_mut()
                .map_mut(space)
                .entry(name.clone())
                .or_default()
                .insert(id);
            shard.global.subscriptions.fetch_add(1, Ordering::AcqRel);
        }
        let n = c.client.subs.count(space);
        c.emit(&confirm(words(space).0, Some(name), n), false);
    }
}

/// The names of `names` that `c` is not subscribed to yet, each once.
pub fn new_names(c: &Conn, space: Space, names: &[Bytes]) -> Vec<Bytes> {
    let mut out: Vec<Bytes> = Vec::new();
    for n in names {
        if !c.client.subs.set(space).contains(n) && !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

/// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE: from `names`, or from all when empty (then one
/// confirmation with a nil name if there was nothing to leave). Returns the confirmations and
/// the names left, for the caller to tell the other shards before confirming.
pub fn unsubscribe(
    shard: &Shard,
    c: &mut Conn,
    space: Space,
    names: &[Bytes],
) -> (Vec<Reply>, Vec<Bytes>) {
    let mut confirms = Vec::new();
    let mut left = Vec::new();
    let all: Vec<Bytes>;
    let names = if names.is_empty() {
        all = c.client.subs.set(space).iter().cloned().collect();
        if all.is_empty() {
            let n = c.client.subs.count(space);
            confirms.push(confirm(words(space).1, None, n));
            return (confirms, left);
        }
        &all[..]
    } else {
        names
    };
    for name in names {
        if leave(shard, &mut c.client, space, name) {
            left.push(name.clone());
        }
        let n = c.client.subs.count(space);
        confirms.push(confirm(words(space).1, Some(name), n));
    }
    (confirms, left)
}

/// Drop one subscription of a client, here and in the shard's registry. Returns whether it
/// had it.
fn leave(shard: &Shard, client: &mut ClientState, space: Space, name: &Bytes) -> bool {
    if !client.subs.set_mut(space).shift_remove(name) {
        return false;
    }
    let mut reg = shard.pubsub.borrow_mut();
    let map = reg.map_mut(space);
    if let Some(ids) = map.get_mut(name) {
        ids.shift_remove(&client.id);
        if ids.is_empty() {
            map.remove(name);
        }
    }
    shard.global.subscriptions.fetch_sub(1, Ordering::AcqRel);
    true
}

/// Forget every subscription of a client on socket `sock` (disconnect, RESET), without
/// confirmations; the other shards hear of it without being waited for.
pub fn forget(shard: &Shard, client: &mut ClientState, sock: Sock) {
    if client.subs.total() == 0 {
        return;
    }
    for space in [Space::Channel, Space::Pattern, Space::Shard] {
        let names: Vec<Bytes> = client.subs.set(space).iter().cloned().collect();
        for n in &names {
            leave(shard, client, space, n);
        }
        post_counts(shard, space, names, -1, sock);
    }
    shard
        .pubsub
        .borrow_mut()
        .stalled
        .retain(|(id, _)| *id != client.id);
}

/// The message that tells shard `t` that a client of this shard, on socket `sock`, gained
/// (`delta` > 0) or lost a subscription to each of `names`; counted as pending there until it
/// has run (`pubsub_fence.rs`), so it must be sent.
fn tell(
    shard: &Shard,
    t: usize,
    space: Space,
    names: Vec<Bytes>,
    delta: i64,
    sock: Sock,
) -> impl FnOnce(&Rc<Shard>) + Send + 'static {
    let (n, me) = (shard.n, shard.id);
    shard.global.fences[t].posting();
    move |sh| {
        let mut reg = sh.pubsub.borrow_mut();
        for name in &names {
            reg.apply_remote(n, me, space, name, delta);
        }
        reg.watch.change(sock, delta, names.len());
        drop(reg);
        sh.global.fences[sh.id].applied();
    }
}

/// Tell every other shard that this one gained or lost a subscriber of each name, and wait
/// until they all know (a confirmed subscription must count on every shard).
pub async fn announce(shard: &Rc<Shard>, space: Space, names: Vec<Bytes>, delta: i64, sock: Sock) {
    if shard.n == 1 || names.is_empty() {
        return;
    }
    let me = shard.id;
    let calls = (0..shard.n)
        .filter(|&t| t != me)
        .map(|t| shard.call(t, tell(shard, t, space, names.clone(), delta, sock)));
    futures::future::join_all(calls).await;
}

/// As `announce`, without waiting.
fn post_counts(shard: &Shard, space: Space, names: Vec<Bytes>, delta: i64, sock: Sock) {
    if shard.n == 1 || names.is_empty() {
        return;
    }
    for t in (0..shard.n).filter(|&t| t != shard.id) {
        shard.post(t, tell(shard, t, space, names.clone(), delta, sock));
    }
}

/// Drop every subscription of a client, and wait until the other shards know (RESET).
pub async fn leave_all(shard: &Rc<Shard>, conn: &crate::net::ConnRef) {
    let sock = Sock::of(&conn.borrow());
    for space in [Space::Channel, Space::Pattern, Space::Shard] {
        let (_, left) = {
            let mut c = conn.borrow_mut();
            unsubscribe(shard, &mut c, space, &[])
        };
        announce(shard, space, left, -1, sock).await;
    }
}

/// (UN)SUBSCRIBE with several shards: the other shards learn of new subscriptions before they
/// are confirmed, and of dropped ones before the drop is confirmed.
pub async fn run_subscribe(
    shard: &Rc<Shard>,
    conn: &crate::net::ConnRef,
    space: Space,
    join: bool,
    names: &[Bytes],
) {
    // Read now: a client that leaves meanwhile has its socket closed and its number cleared.
    let sock = Sock::of(&conn.borrow());
    if join {
        let fresh = new_names(&conn.borrow(), space, names);
        announce(shard, space, fresh.clone(), 1, sock).await;
        let mut c = conn.borrow_mut();
        if c.closed {
            // Gone while the others were told: take it back.
            post_counts(shard, space, fresh, -1, sock);
            return;
        }
        // Names another command of this client subscribed meanwhile were announced twice.
        let twice: Vec<Bytes> = fresh
            .into_iter()
            .filter(|n| c.client.subs.set(space).contains(n))
            .collect();
        post_counts(shard, space, twice, -1, sock);
        subscribe(shard, &mut c, space, names);
    } else {
        let (confirms, left) = {
            let mut c = conn.borrow_mut();
            unsubscribe(shard, &mut c, space, names)
        };
        announce(shard, space, left, -1, sock).await;
        let mut c = conn.borrow_mut();
        for r in &confirms {
            c.emit(r, false);
        }
    }
}

/// Whether any client anywhere is subscribed to anything.
#[inline]
pub fn anyone_listening(shard: &Shard) -> bool {
    shard.global.subscriptions.load(Ordering::Acquire) != 0
}

/// Deliver a message to this shard's listeners and return how many got it. `me` is the
/// connection running the command, if any: it is in use, so it is written directly.
pub fn publish_local(
    shard: &Shard,
    sharded: bool,
    channel: &Bytes,
    msg: &Bytes,
    me: Option<&mut Conn>,
) -> usize {
    let mut out: Vec<(u64, Reply)> = Vec::new();
    {
        let reg = shard.pubsub.borrow();
        let space = if sharded {
            Space::Shard
        } else {
            Space::Channel
        };
        if let Some(ids) = reg.map(space).get(channel) {
            let kind = if sharded { "smessage" } else { "message" };
            for &id in ids {
                let m = vec![
                    bulk(kind),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(msg.clone()),
                ];
                out.push((id, Reply::Push(m)));
            }
        }
        if !sharded {
            for (pat, ids) in &reg.patterns {
                if crate::util::glob::glob_match(pat, channel, false) {
                    for &id in ids {
                        let m = vec![
                            bulk("pmessage"),
                            Reply::Bulk(pat.clone()),
                            Reply::Bulk(channel.clone()),
                            Reply::Bulk(msg.clone()),
                        ];
                        out.push((id, Reply::Push(m)));
                    }
                }
            }
        }
    }
    let n = out.len();
    deliver(shard, out, me);
    n
}

/// Write messages into their clients' output and send it (or let the owner of a busy
/// connection send it); a client over its output limit is closed, as Redis does.
fn deliver(shard: &Shard, out: Vec<(u64, Reply)>, mut me: Option<&mut Conn>) {
    if out.is_empty() {
        return;
    }
    let limit = shard.config.borrow().client_output_buffer_limit.pubsub;
    let mut touched: Vec<crate::net::ConnRef> = Vec::new();
    for (id, push) in out {
        if let Some(c) = me.as_deref_mut().filter(|c| c.client.id == id) {
            c.emit(&push, false);
            check_limit(c, &limit);
            continue;
        }
        let Some(conn) = shard.net.borrow().conns.get(&id).cloned() else {
            continue;
        };
        let Ok(mut c) = conn.try_borrow_mut() else {
            shard.pubsub.borrow_mut().stalled.push((id, push));
            continue;
        };
        if c.closed {
            continue;
        }
        c.emit(&push, false);
        check_limit(&mut c, &limit);
        let busy = c.busy;
        drop(c);
        if !busy && !touched.iter().any(|t| Rc::ptr_eq(t, &conn)) {
            touched.push(conn);
        }
    }
    for conn in touched {
        crate::net::settle(shard, &conn);
    }
}

/// Write the messages that came while `c` was in use (called as it is settled).
#[inline]
pub fn drain_stalled(shard: &Shard, c: &mut Conn) {
    let mut reg = shard.pubsub.borrow_mut();
    if reg.stalled.is_empty() {
        return;
    }
    let id = c.client.id;
    let mine: Vec<Reply> = reg
        .stalled
        .iter()
        .filter(|(i, _)| *i == id)
        .map(|(_, r)| r.clone())
        .collect();
    reg.stalled.retain(|(i, _)| *i != id);
    drop(reg);
    let limit = shard.config.borrow().client_output_buffer_limit.pubsub;
    for r in &mine {
        c.emit(r, false);
    }
    if !mine.is_empty() {
        check_limit(c, &limit);
    }
}

/// Redis's checkClientOutputBufferLimits for one class: over the hard limit, or over the soft
/// limit for longer than its seconds, closes the client. Returns whether it was closed.
pub fn check_limit(c: &mut Conn, limit: &ObufLimit) -> bool {
    let used = c.wbuf.len() as u64;
    let hard = limit.hard_limit_bytes != 0 && used >= limit.hard_limit_bytes;
    let mut soft = false;
    if limit.soft_limit_bytes != 0 && used >= limit.soft_limit_bytes {
        let now = std::time::Instant::now();
        match c.obuf_soft_since {
            None => c.obuf_soft_since = Some(now),
            Some(t) => soft = now.duration_since(t).as_secs() > limit.soft_limit_seconds,
        }
    } else {
        c.obuf_soft_since = None;
    }
    if (hard || soft) && !c.closed {
        crate::logging::warning(&format!(
            "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
            c.client.id, c.client.addr
        ));
        c.closed = true;
        return true;
    }
    false
}

/// The output limits that apply to a client: `pubsub` while it is subscribed, else `normal`.
pub fn limit_for(shard: &Shard, c: &Conn) -> ObufLimit {
    let l = &shard.config.borrow().client_output_buffer_limit;
    if c.client.subs.active() {
        l.pubsub
    } else {
        l.normal
    }
}

/// PUBLISH / SPUBLISH: deliver here and post the message to `targets`, the other shards with
/// listeners (`Registry::remote_targets`, which the caller has looked at already); returns the
/// number of receivers on all shards. `me`: as for `publish_local`.
pub fn publish(
    shard: &Shard,
    sharded: bool,
    channel: &Bytes,
    msg: &Bytes,
    me: Option<&mut Conn>,
    targets: Vec<(usize, u32)>,
) -> i64 {
    let mut n = publish_local(shard, sharded, channel, msg, me) as i64;
    for (t, count) in targets {
        n += i64::from(count);
        let (channel, msg) = (channel.clone(), msg.clone());
        shard.post(t, move |sh| {
            publish_local(sh, sharded, &channel, &msg, None);
        });
    }
    n
}

/// Publish the keyspace notifications this shard's commands queued, through the inboxes of
/// this shard and of the others with listeners (in order, without waiting). Cheap when nothing
/// is queued.
#[inline]
pub fn flush_events(shard: &Shard) {
    if shard.store.borrow().events.is_empty() {
        return;
    }
    flush_events_slow(shard);
}

#[inline(never)]
fn flush_events_slow(shard: &Shard) {
    let (events, flags) = {
        let mut st = shard.store.borrow_mut();
        (std::mem::take(&mut st.events), st.limits.keyspace_events)
    };
    if !anyone_listening(shard) {
        return;
    }
    let mut msgs: Vec<(Bytes, Bytes)> = Vec::with_capacity(events.len() * 2);
    for e in events {
        if flags & KeyspaceEvents::KEYSPACE != 0 {
            let mut ch = format!("__keyspace@{}__:", e.db).into_bytes();
            ch.extend_from_slice(&e.key);
            msgs.push((ch.into(), Bytes::from_static(e.event.as_bytes())));
        }
        if flags & KeyspaceEvents::KEYEVENT != 0 {
            let ch = format!("__keyevent@{}__:{}", e.db, e.event);
            msgs.push((ch.into(), e.key));
        }
    }
    // Delivered here through this shard's own inbox too: events another shard posted here
    // for an earlier command of the same client may still wait in it, and must go first.
    let mut targets: Vec<usize> = vec![shard.id];
    for (ch, _) in &msgs {
        for (t, _) in shard.pubsub.borrow().remote_targets(false, ch) {
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
    }
    for t in targets {
        let msgs = msgs.clone();
        shard.post(t, move |sh| {
            for (ch, m) in &msgs {
                publish_local(sh, false, ch, m, None);
            }
        });
    }
}

/// Run a write the coordinator spreads over shards (`run`), announcing its keyspace events:
/// no one shard's command saw all its keys, so which of them hold a value is asked of their
/// shards before and after, and the events are published from here. Costs nothing extra
/// unless notifications are on and someone listens.
pub async fn coordinated(
    shard: &Rc<Shard>,
    db: usize,
    spec: &'static crate::commands::CommandSpec,
    args: &[Bytes],
    run: impl std::future::Future<Output = Reply>,
) -> Reply {
    let flags = shard.store.borrow().limits.keyspace_events;
    if flags == 0
        || !spec.is_write()
        || !matches!(spec.kind, crate::commands::Kind::Coordinated(_))
        || !anyone_listening(shard)
    {
        return run.await;
    }
    let keys = crate::store::notify::event_keys(spec, args);
    let before = existing(shard, db, &keys).await;
    let reply = run.await;
    if !crate::store::notify::coordinated_changed(spec.name, args, &reply) {
        return reply;
    }
    let after = existing(shard, db, &keys).await;
    let there: Vec<Bytes> = keys
        .iter()
        .zip(&after)
        .filter(|(_, e)| **e)
        .map(|(k, _)| k.clone())
        .collect();
    let pairs: Vec<(Bytes, bool)> = keys.into_iter().zip(before).collect();
    let mut out = Vec::new();
    let exists = |k: &[u8]| there.iter().any(|t| &t[..] == k);
    crate::store::notify::events_of(&mut out, flags, db, args, &pairs, &exists);
    shard.store.borrow_mut().events.extend(out);
    flush_events(shard);
    reply
}

/// Whether each key holds a live value, asked of its shard.
async fn existing(shard: &Rc<Shard>, db: usize, keys: &[Bytes]) -> Vec<bool> {
    let calls = keys.iter().map(|k| {
        let k = k.clone();
        let owner = crate::routing::key_shard(&k, shard.n);
        shard.call(owner, move |sh| {
            let now = crate::util::now_ms();
            sh.store.borrow().dbs[db]
                .get_raw(&k)
                .is_some_and(|e| e.expire_at == 0 || e.expire_at > now)
        })
    });
    futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|e| e.unwrap_or(false))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_redis() {
        let mut s = Subs::default();
        s.channels.insert(Bytes::from_static(b"a"));
        s.patterns.insert(Bytes::from_static(b"p*"));
        s.shard_channels.insert(Bytes::from_static(b"s"));
        assert_eq!(s.count(Space::Channel), 2);
        assert_eq!(s.count(Space::Pattern), 2);
        assert_eq!(s.count(Space::Shard), 1);
        assert!(s.active());
        assert!(!Subs::default().active());
    }
}
