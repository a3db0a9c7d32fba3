//! What a PUBLISH checks so that its count includes every (un)subscribe that reached the
//! server before it, as in Redis.
//!
//! Redis serves all clients from one event loop in the order their input came: a client that
//! sends UNSUBSCRIBE on one connection and, without reading the reply, PUBLISH on another gets
//! 0 receivers (Redis's pub/sub tests do just that). Here the subscriber's shard tells the
//! others of an unsubscribe only once it has read and run it, so a PUBLISH on another shard
//! could still count the subscriber. A PUBLISH that must not wait for that, the usual case,
//! looks at three things before it trusts its view of a shard with listeners, none of them a
//! message:
//! - **unread input on a subscriber's socket** on that shard: every shard watches, in an epoll
//!   set of its own (`Watch`), the sockets of the other shards' subscribed clients, which those
//!   shards name when they tell it of subscriptions. A subscribed client sends little besides
//!   (un)subscribing, and a closing one's socket is readable too;
//! - **input read from a subscriber and not yet told**: that shard's `Fence::reading`, set
//!   before it reads a subscribed client and cleared once its tasks have had a turn after;
//! - **counts told and not yet applied here**: this shard's `Fence::pending`.
//!
//! Within one shard, the network loop serves subscribed clients' input before the rest of
//! what one `epoll_wait` returned (net/mod.rs `serve_subscribers_first`): a hang-up can reach
//! epoll behind a PUBLISH sent after it.
//!
//! If any of them says so, the PUBLISH waits (`settle`): each shard with listeners serves what
//! it had read (two passes of its network loop) and answers through this shard's inbox, after
//! the counts it sent. One wait covers every command its connection had read by then.
//!
//! A version that waited whenever a shard with listeners had any input ready cut pipelined
//! PUBLISH on 4 shards to a third (busy shards nearly always have some); subscribers' sockets
//! are nearly always quiet.
//!
//! Left open: input that arrives while that shard sends the subscriber a message is held by
//! the kernel until the send returns, unseen by any poll. Waiting out such sends cost 2–3× the
//! CPU per PUBLISH in fan-out, where a shard is inside one a third of the time (README,
//! `scripts/pubsub_race.py … stream`).

use super::Shard;
use crate::net::sys;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

/// One shard's state as the other shards see it (`Global::fences`).
#[derive(Default)]
pub struct Fence {
    /// Subscription counts posted to this shard and not yet applied.
    pending: AtomicUsize,
    /// This shard has read input from a subscribed client that may not have been told yet.
    reading: AtomicBool,
    /// Network loop turns until `reading` is cleared (only the owning shard touches it).
    turns: AtomicU8,
}

impl Fence {
    /// On the shard's thread, before it reads a subscribed client's socket, or sends one the
    /// reply to its own command: a client that hangs up as soon as it has the reply may do so
    /// while the send still holds the socket, and the kernel then shows the hang-up to no one
    /// until the send returns.
    #[inline]
    pub fn reading(&self) {
        self.turns.store(2, Ordering::Relaxed);
        if !self.reading.load(Ordering::Relaxed) {
            self.reading.store(true, Ordering::SeqCst);
        }
    }

    /// At the top of each turn of the network loop: what was read two turns ago has run and
    /// the tasks it started have had a turn (the loop yields between turns), so it is told.
    #[inline]
    pub fn turn(&self) {
        let t = self.turns.load(Ordering::Relaxed);
        if t > 0 {
            self.turns.store(t - 1, Ordering::Relaxed);
            if t == 1 {
                self.reading.store(false, Ordering::Release);
            }
        }
    }

    /// When a look at the sockets, after a turn that yielded, finds nothing ready: told.
    #[inline]
    pub fn idle(&self) {
        if self.turns.load(Ordering::Relaxed) > 0 {
            self.turns.store(0, Ordering::Relaxed);
            self.reading.store(false, Ordering::Release);
        }
    }

    /// A shard is about to post counts here.
    pub fn posting(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
    }

    /// This shard applied counts that were posted here.
    pub fn applied(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a watched socket is watched for: input, or its client hanging up.
const WATCHED: u32 = sys::IN | libc::EPOLLRDHUP as u32;

/// A subscribed client's socket, as the other shards watch it: its number and whose it is, as
/// a number one client's close frees is soon another's (maybe on another shard, while the first
/// one's last counts are still on their way).
#[derive(Clone, Copy)]
pub struct Sock {
    pub fd: RawFd,
    pub client: u64,
}

impl Sock {
    /// A connection's socket.
    pub fn of(c: &crate::net::conn::Conn) -> Sock {
        Sock {
            fd: c.fd,
            client: c.client.id,
        }
    }
}

/// The sockets of the other shards' subscribed clients, watched for unread input.
#[derive(Default)]
pub struct Watch {
    ep: Option<sys::Epoll>,
    /// Socket → its client and how many subscriptions it holds (watched while above 0).
    fds: ahash::AHashMap<RawFd, (u64, usize)>,
}

impl Watch {
    /// Another shard's client on `sock` gained (`delta` > 0) or lost `names` subscriptions.
    pub fn change(&mut self, sock: Sock, delta: i64, names: usize) {
        if sock.fd < 0 || names == 0 {
            return;
        }
        let n = match self.fds.get(&sock.fd) {
            Some(&(client, n)) if client == sock.client => n,
            // The number was another client's, closed since (which took it out of the set):
            // this is a new socket.
            Some(_) if delta > 0 => 0,
            // Counts of a client whose number another has taken since: its socket is gone.
            Some(_) => return,
            None => 0,
        };
        let now = if delta > 0 {
            n + names
        } else {
            n.saturating_sub(names)
        };
        if now == 0 {
            self.fds.remove(&sock.fd);
        } else {
            self.fds.insert(sock.fd, (sock.client, now));
        }
        if self.ep.is_none() {
            // Without the set (out of file descriptors), every PUBLISH with remote listeners
            // waits (`ready`); once it can be made, it watches every socket counted so far.
            let Ok(ep) = sys::Epoll::new() else { return };
            for &f in self.fds.keys() {
                let _ = ep.add(f, WATCHED, f as u64);
            }
            self.ep = Some(ep);
            return;
        }
        let Some(ep) = &self.ep else { return };
        let fd = sock.fd;
        match (n, now) {
            // A socket already closed (its client left meanwhile) is simply not watched.
            (0, m) if m > 0 => drop(ep.add(fd, WATCHED, fd as u64)),
            // Gone already if its socket was closed (epoll drops closed files itself).
            (m, 0) if m > 0 => drop(ep.delete(fd)),
            _ => {}
        }
    }

    /// Whether some watched socket holds unread input (or cannot be told).
    fn ready(&self) -> bool {
        if self.fds.is_empty() {
            return false;
        }
        let Some(ep) = &self.ep else { return true };
        let mut ev = [libc::epoll_event { events: 0, u64: 0 }];
        ep.wait(&mut ev, 0).map_or(true, |n| n > 0)
    }
}

/// Whether a PUBLISH to `targets` (the other shards with listeners) must wait first.
pub fn unsettled(shard: &Shard, targets: &[(usize, u32)]) -> bool {
    if targets.is_empty() {
        return false;
    }
    // In the order the other shard does things backwards (it marks `reading`, reads the
    // socket, posts the counts, clears `reading`), so that whichever step it is at, one look
    // sees it: input not read yet, read and not told, told and not applied here.
    let g = &shard.global;
    shard.pubsub.borrow().watch.ready()
        || targets
            .iter()
            .any(|&(t, _)| g.fences[t].reading.load(Ordering::SeqCst))
        || g.fences[shard.id].pending.load(Ordering::SeqCst) > 0
}

/// Wait until every shard of `targets` has served the input it held and this shard has run
/// what they posted here meanwhile (at most `Shard::SERVED_LIMIT`).
pub async fn settle(shard: &Rc<Shard>, targets: Vec<(usize, u32)>) {
    let mut waits = Vec::with_capacity(targets.len() + 1);
    // This shard's own turn too: counts already queued here are applied before its answer.
    for t in targets.into_iter().map(|(t, _)| t).chain([shard.id]) {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let answer = move |_: &Rc<Shard>| {
            let _ = tx.send(());
        };
        if t == shard.id {
            shard.post(t, answer);
        } else {
            shard.once_served(t, answer);
        }
        waits.push(rx);
    }
    let all = std::pin::pin!(futures::future::join_all(waits));
    let limit = std::pin::pin!(glommio::timer::sleep(Shard::SERVED_LIMIT));
    futures::future::select(all, limit).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::{AsRawFd, IntoRawFd};
    use std::os::unix::net::UnixStream;

    /// A client's number taken by another client's socket before the first one's last counts
    /// arrive: the new socket is the one watched.
    #[test]
    fn a_reused_socket_number_watches_the_new_socket() {
        let mut w = Watch::default();
        let (old, _old_peer) = UnixStream::pair().unwrap();
        let fd = old.as_raw_fd();
        w.change(Sock { fd, client: 1 }, 1, 1);
        assert!(!w.ready());
        // Client 1 leaves: its socket closes, and client 2's takes its number.
        let (new, mut new_peer) = UnixStream::pair().unwrap();
        let new_fd = new.into_raw_fd();
        drop(old);
        assert_eq!(unsafe { libc::dup2(new_fd, fd) }, fd);
        sys::close(new_fd);
        w.change(Sock { fd, client: 2 }, 1, 1);
        // Client 1's last counts come after client 2's first.
        w.change(Sock { fd, client: 1 }, -1, 1);
        assert!(!w.ready());
        new_peer.write_all(b"*1\r\n$11\r\nunsubscribe\r\n").unwrap();
        assert!(w.ready(), "input on the new socket is seen");
        w.change(Sock { fd, client: 2 }, -1, 1);
        assert!(!w.ready(), "no longer watched once its client left");
        sys::close(fd);
    }
}
