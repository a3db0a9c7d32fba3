//! Moving a connection to the shard its keys live on, as Dragonfly migrates connections.
//!
//! Connections are accepted on every shard, wherever the kernel's SO_REUSEPORT hash puts them.
//! A client whose keys all live on another shard (one tenant's hash tag, a benchmark on one
//! key) then has every read's commands forwarded there and the replies sent back: two
//! cross-thread wake-ups per read, which on this project's VMs cost more than the commands.
//! Once nearly all of a window of its keyed commands went to one other shard, the connection
//! moves there between two reads: its socket leaves this shard's epoll set and joins that
//! shard's, with its buffers, parser and client state (id, name, db, user …). Only a plain
//! connection moves: nothing in flight, nothing buffered either way, not subscribed, not in
//! MULTI or WATCHing, not monitoring, not blocked, not TLS. Commands spread over several
//! shards count against moving, so a client of random keys stays where it is: with 2 shards,
//! 60 of 64 independent keys on one other shard has a chance under 1e-13. A connection's first
//! window is shorter and must be unanimous (16 of 16): a client that only ever names one other
//! shard's keys moves after its first pipeline instead of its fourth (redis-benchmark's default
//! 100 000 literal MSETs: 0.8% of them forwarded instead of 3.2%), and a client of random keys
//! is moved by mistake once in 65 536 connections at worst (2 shards), which costs one move.
//!
//! While it travels (one message between shards), the shard it left keeps what CLIENT LIST
//! shows of it and what CLIENT KILL matches (`Departed`) until the new shard says it took the
//! connection in, so that at every moment one of the two has it (both, for a moment: CLIENT
//! LIST and CLIENT KILL count a client id once). A CLIENT KILL that matches a departed
//! connection is passed on to the new shard, behind the connection itself (a shard's messages
//! to another arrive in the order sent).

use super::conn::{ClientState, Conn};
use super::{account_io, ConnRef};
use crate::shard::{Global, Shard};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Keyed commands per window.
const WINDOW: u16 = 64;
/// Keyed commands of a connection's first window, all of which must go to one other shard.
const FIRST_WINDOW: u16 = 16;
/// Commands of a window that must go to one other shard for the connection to move.
const NEEDED: u16 = 60;
/// `Affinity::note`'s owner for a command spread over several shards.
pub const SPREAD: usize = usize::MAX;

/// Where a connection's keyed commands go (see the module's doc).
#[derive(Default, Debug)]
pub struct Affinity {
    /// The owner of the window's first command, and how many of the window went there.
    candidate: usize,
    hits: u16,
    seen: u16,
    /// A window has been completed (the short first one is over), here or before a move.
    settled: bool,
    /// The shard to move to, once a window said so.
    pub target: Option<usize>,
}

impl Affinity {
    /// A keyed command of a connection on shard `here` runs on shard `owner` (SPREAD: on
    /// several).
    #[inline]
    pub fn note(&mut self, owner: usize, here: usize) {
        if self.seen == 0 {
            self.candidate = owner;
        }
        self.hits += u16::from(owner == self.candidate);
        self.seen += 1;
        let (window, needed) = if self.settled {
            (WINDOW, NEEDED)
        } else {
            (FIRST_WINDOW, FIRST_WINDOW)
        };
        if self.seen == window {
            if self.hits >= needed && self.candidate != here && self.candidate != SPREAD {
                self.target = Some(self.candidate);
            }
            self.seen = 0;
            self.hits = 0;
            self.settled = true;
        }
    }

    /// A fresh count for a connection that has moved: full windows only, so that a client
    /// switching between two shards' keys does not move at every short window.
    fn after_move() -> Affinity {
        Affinity {
            settled: true,
            ..Affinity::default()
        }
    }
}

/// Whether the connection may move now: nothing of it is in flight or buffered here, its
/// writes are on disk (appendfsync always), and no registry of this shard knows it but the
/// connection table.
fn movable(shard: &Shard, c: &Conn) -> bool {
    !c.busy
        && !c.closing
        && !c.closed
        && !c.held
        && !c.flush_queued
        && c.tls.is_none()
        && c.blocked.is_none()
        && c.rbuf.is_empty()
        && !c.parser.in_progress()
        && !c.output_pending()
        && c.obuf_soft_since.is_none()
        && !c.client.tx.in_multi()
        && c.client.tx.watched.is_empty()
        && !c.client.subs.active()
        && !shard.observe.monitors.borrow().contains(&c.client.id)
        && (!shard.aof_always.get() || c.aof_hold <= shard.aof.borrow().synced)
}

/// What the shard a connection left knows of it until the new shard has it (see the
/// module's doc).
pub struct Departed {
    /// The shard it went to.
    pub to: usize,
    /// Its CLIENT LIST line when it left.
    pub line: String,
    /// What CLIENT KILL filters on.
    pub addr: String,
    pub laddr: String,
    pub user: String,
}

/// A connection on its way between shards. Dropped undelivered (the other shard is stopping),
/// it closes its socket and stops counting as connected.
struct Moving {
    conn: Option<Conn>,
    global: Arc<Global>,
}

impl Drop for Moving {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            super::sys::close(c.fd);
            self.global.connected.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Move the connection to the shard its affinity names, if it has one and may move now
/// (called once its replies are flushed). A target it cannot move to now is dropped: the next
/// window names it again if the keys still go there.
pub fn maybe_move(shard: &Shard, conn: &ConnRef) {
    let to = {
        let mut c = conn.borrow_mut();
        let Some(to) = c.affinity.target.take() else {
            return;
        };
        if to >= shard.n || !movable(shard, &c) || !shard.config.borrow().migrate_connections {
            return;
        }
        to
    };
    let mut moving = {
        let mut c = conn.borrow_mut();
        shard.net.borrow_mut().conns.remove(&c.client.id);
        if let Some(ep) = &shard.net.borrow().epoll {
            let _ = ep.delete(c.fd);
        }
        account_io(shard, &mut c);
        // Whoever still holds the Rc (a list being walked) finds a closed connection with no
        // socket, which closing again leaves alone.
        let stub = ClientState::new(c.client.id, String::new(), String::new());
        let mut gone = Conn::new(-1, stub, Default::default());
        gone.closed = true;
        std::mem::replace(&mut *c, gone)
    };
    moving.affinity = Affinity::after_move();
    moving.interest = 0;
    // A feed offset of this shard's log (appendfsync always), synced already (`movable`): on
    // the new shard it would hold replies until that shard's log reached it.
    moving.aof_hold = 0;
    let departed = Departed {
        to,
        line: crate::commands::server::client_line(shard, &moving.client, Some(&moving), 0),
        addr: moving.client.addr.clone(),
        laddr: moving.client.laddr.clone(),
        user: moving.client.acl.name().to_string(),
    };
    shard
        .net
        .borrow_mut()
        .departed
        .insert(moving.client.id, departed);
    let moving = Moving {
        conn: Some(moving),
        global: shard.global.clone(),
    };
    // Refused (that shard is stopping), the message is dropped and `Moving` closes the socket.
    let from = shard.id;
    shard.post(to, move |sh| adopt(sh, moving, from));
}

/// Take in a connection shard `from` moved here.
fn adopt(shard: &Rc<Shard>, moving: Moving, from: usize) {
    let id = moving.conn.as_ref().map(|c| c.client.id);
    take_in(shard, moving);
    // Here now, or closed: the shard it left may forget it.
    if let Some(id) = id {
        shard.post(from, move |sh| {
            sh.net.borrow_mut().departed.remove(&id);
        });
    }
}

/// Register a moved connection with this shard's epoll set and connection table; on failure
/// (shutting down, no epoll) `Moving` closes it.
fn take_in(shard: &Rc<Shard>, mut moving: Moving) {
    if shard.global.shutdown.load(Ordering::Acquire) {
        return;
    }
    let Some(ep) = shard.net.borrow().epoll.clone() else {
        return;
    };
    let Some(mut c) = moving.conn.take() else {
        return;
    };
    let want = c.wanted_interest();
    if ep.add(c.fd, want, c.client.id).is_err() {
        moving.conn = Some(c);
        return;
    }
    c.interest = want;
    shard.stats.borrow_mut().connections_moved_in += 1;
    let id = c.client.id;
    shard
        .net
        .borrow_mut()
        .conns
        .insert(id, Rc::new(RefCell::new(c)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(a: &mut Affinity, owners: impl IntoIterator<Item = usize>) {
        for o in owners {
            a.note(o, 0);
        }
    }

    /// Past the short first window, which these feed with this shard's own keys.
    fn settled() -> Affinity {
        let mut a = Affinity::default();
        feed(&mut a, std::iter::repeat_n(0, FIRST_WINDOW as usize));
        assert_eq!(a.target, None);
        a
    }

    #[test]
    fn the_first_window_is_short_and_unanimous() {
        let mut a = Affinity::default();
        feed(&mut a, std::iter::repeat_n(1, 15));
        assert_eq!(a.target, None);
        a.note(1, 0);
        assert_eq!(a.target, Some(1), "16 of 16 elsewhere moves");
        let mut a = Affinity::default();
        feed(&mut a, (0..16).map(|i| if i == 7 { 0 } else { 1 }));
        assert_eq!(a.target, None, "15 of 16 does not");
        // And after a move, only full windows count.
        let mut a = Affinity::after_move();
        feed(&mut a, std::iter::repeat_n(1, 16));
        assert_eq!(a.target, None);
    }

    #[test]
    fn moves_after_a_window_nearly_all_elsewhere() {
        let mut a = settled();
        feed(&mut a, std::iter::repeat_n(2, 63));
        assert_eq!(a.target, None);
        a.note(2, 0);
        assert_eq!(a.target, Some(2));
        let mut a = settled();
        feed(&mut a, (0..64).map(|i| if i % 16 == 5 { 0 } else { 3 }));
        assert_eq!(a.target, Some(3), "4 of 64 elsewhere still moves");
    }

    #[test]
    fn stays_for_spread_mixed_or_local_commands() {
        for owners in [
            (0..64).map(|i| i % 2).collect::<Vec<_>>(),
            (0..64)
                .map(|i| if i % 10 == 0 { SPREAD } else { 1 })
                .collect(),
            vec![0; 64],
            vec![SPREAD; 64],
        ] {
            let mut a = Affinity::default();
            feed(&mut a, owners.iter().copied().cycle().take(640));
            assert_eq!(a.target, None, "{owners:?}");
        }
    }
}
