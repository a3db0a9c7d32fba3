//! Answering the shard's other clients while a script runs past `busy-reply-threshold`, as
//! Redis's processEventsWhileBlocked does: a one-shard script holds its shard's thread, so its
//! instruction hook calls `poll` here now and then (scripting/vm.rs).
//!
//! Each call looks at the shard's epoll set once (no wait), sends the replies still queued from
//! the round the script started in, and, for each client with input, answers its complete
//! requests in order: SCRIPT KILL, FUNCTION KILL and FUNCTION STATS run, SHUTDOWN NOSAVE shuts the server down
//! (which stops the script), MULTI starts a transaction, EXEC is refused as EXECABORT, QUIT
//! closes, DISCARD and UNWATCH (no watched keys; UNWATCH outside MULTI) run, AUTH and HELLO
//! run, RESET runs (no watched keys, no subscriptions), an unknown command, a wrong arity or
//! a missing AUTH get their usual errors, and every other command gets `-BUSY` (inside MULTI
//! that fails the transaction, as in Redis). The commands Redis also lets through while busy
//! but that need the keyspace or other shards (WATCH, and DISCARD, UNWATCH, EXEC or RESET with
//! watched keys, RESET with subscriptions) wait, with everything the client sent after them,
//! until the script ends; so do inline requests. Only the sockets and the clients' transaction state are touched: the keyspace is
//! the script's while it runs. New connections are accepted (a SCRIPT KILL often comes on one).
//! Clients of other shards are served as usual (their commands for this shard's keys wait).

use super::conn::{Conn, ReadOutcome};
use super::sys;
use crate::protocol::reply::Reply;
use crate::shard::Shard;
use std::cell::RefCell;
use std::rc::{Rc, Weak};

/// The shard whose network loop runs on this thread, and its listeners.
#[derive(Default)]
struct Loop {
    shard: Weak<Shard>,
    listeners: Weak<Vec<socket2::Socket>>,
    tls_listeners: Weak<Vec<socket2::Socket>>,
}

thread_local! {
    static LOOP: RefCell<Loop> = RefCell::new(Loop::default());
}

/// Called by the network loop as it starts: scripts run on this thread belong to `shard`.
pub fn register(
    shard: &Rc<Shard>,
    listeners: &Rc<Vec<socket2::Socket>>,
    tls_listeners: &Rc<Vec<socket2::Socket>>,
) {
    LOOP.with(|l| {
        *l.borrow_mut() = Loop {
            shard: Rc::downgrade(shard),
            listeners: Rc::downgrade(listeners),
            tls_listeners: Rc::downgrade(tls_listeners),
        }
    });
}

/// Answer what the shard's clients sent meanwhile (see the module comment). `eval`: the script
/// is an EVAL (else a function), which words the BUSY error. A no-op off a shard's thread.
pub fn poll(eval: bool) {
    let Some((shard, listeners, tls_listeners)) = LOOP.with(|l| {
        let l = l.borrow();
        Some((
            l.shard.upgrade()?,
            l.listeners.upgrade()?,
            l.tls_listeners.upgrade()?,
        ))
    }) else {
        return;
    };
    let Some(ep) = shard.net.try_borrow().ok().and_then(|n| n.epoll.clone()) else {
        return;
    };
    let synced = if shard.aof_always.get() {
        shard.aof.try_borrow().map_or(0, |a| a.synced)
    } else {
        u64::MAX
    };
    // Replies of the round the script started in are still queued for its end (the loop sends
    // a round's replies together): send them now, or their clients would wait with it.
    for conn in listed(&shard, |n| &n.pending) {
        if let Ok(mut c) = conn.try_borrow_mut() {
            if !c.busy && !waits_for_sync(&c, synced) {
                c.flush();
            }
        }
    }
    // Clients read ahead in the round the script started in (net/mod.rs `read_ahead`): their
    // input is in their buffers, where no poll of the sockets sees it.
    for conn in listed(&shard, |n| &n.read_ahead) {
        if let Ok(mut c) = conn.try_borrow_mut() {
            if c.read_ahead && !c.busy && !c.closed && !c.closing && !waits_for_sync(&c, synced) {
                answer(&shard, &mut c, eval);
                c.flush();
                if let Ok(net) = shard.net.try_borrow() {
                    net.update_interest(&mut c);
                }
            }
        }
    }
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 256];
    let n = ep.wait(&mut events, 0).unwrap_or(0);
    for ev in &events[..n] {
        let token = ev.u64;
        if token & super::LISTEN_TOKEN != 0 {
            // Accepting reads the config and the ACL; both are free unless a command holds
            // them, which a script's commands do not across its Lua.
            if shard.config.try_borrow_mut().is_ok() && shard.acl.try_borrow_mut().is_ok() {
                let mut fresh = Vec::new();
                super::accept_on(
                    &shard,
                    &ep,
                    &listeners,
                    &tls_listeners,
                    token,
                    Some(&mut fresh),
                );
                for conn in fresh {
                    super::on_conn_event(&shard, &conn, super::sys::IN);
                }
            }
            continue;
        }
        let Some(conn) = shard
            .net
            .try_borrow()
            .ok()
            .and_then(|net| net.conns.get(&token).cloned())
        else {
            continue; // the wake-up fd: left for the loop
        };
        // The script's own client is borrowed (it is running this command).
        let Ok(mut c) = conn.try_borrow_mut() else {
            continue;
        };
        // Clients whose flow a task owns, or whose replies wait for an fsync, are left alone:
        // an answer now would overtake what they wait for.
        if c.busy || c.closed || c.closing || waits_for_sync(&c, synced) {
            continue;
        }
        if ev.events & sys::OUT != 0 {
            c.flush();
        }
        // A client whose requests wait for the script stops being read at the query buffer
        // limit (the loop then applies the limit as usual).
        let limit = shard
            .config
            .try_borrow()
            .map_or(0, |cfg| cfg.client_query_buffer_limit);
        let room = (c.rbuf.len() as u64) < limit;
        if room && c.interest & sys::IN != 0 && ev.events & (sys::IN | sys::HUP | sys::ERR) != 0 {
            if let ReadOutcome::Closed = c.read() {
                // Left to the loop, which sees the hang-up again once the script is done.
                continue;
            }
            answer(&shard, &mut c, eval);
            c.flush();
        }
        if let Ok(net) = shard.net.try_borrow() {
            net.update_interest(&mut c);
        }
    }
}

/// A copy of one of the network loop's lists of connections (none while the loop's registry
/// is borrowed).
fn listed(
    shard: &Shard,
    pick: fn(&super::Registry) -> &Vec<super::ConnRef>,
) -> Vec<super::ConnRef> {
    shard
        .net
        .try_borrow()
        .map(|n| pick(&n).clone())
        .unwrap_or_default()
}

/// Whether `c`'s replies wait for the AOF to be synced up to a point it has not reached.
fn waits_for_sync(c: &Conn, synced: u64) -> bool {
    c.held || c.aof_hold > synced
}

/// What a request gets while the script runs.
enum Verdict {
    /// Its answer, now.
    Reply(Reply),
    /// An unknown command: Redis's error, which quotes its arguments.
    Unknown,
    /// SHUTDOWN: with NOSAVE it stops the server (no answer; the connection closes), without
    /// it gets BUSY.
    Shutdown,
    /// MULTI, DISCARD or UNWATCH, run now on the client's transaction state (Redis lets them
    /// through; MULTI so that a transaction straddling the script is refused as a whole at
    /// EXEC). Only when they need no keyspace: no watched keys.
    Transaction(&'static str),
    /// QUIT: OK, and the connection closes.
    Quit,
    /// EXEC: refused, and the transaction discarded (Redis's execCommandAbort).
    ExecAbort,
    /// AUTH, HELLO, and RESET of a client with no watched keys and no subscriptions: they
    /// touch the connection and the ACL users only, so they run now as Redis lets them.
    Conn,
    /// It runs after the script, and so does everything after it.
    Wait,
}

/// Answer the complete requests at the front of `c`'s input until one must wait.
fn answer(shard: &Rc<Shard>, c: &mut Conn, eval: bool) {
    loop {
        // Only whole multibulk requests; an inline or partial one waits for the script's end.
        let Some(f) = crate::protocol::peek::front(&c.rbuf) else {
            return;
        };
        let verdict = judge(&mut c.lookups, &c.client, f.argc, f.name, f.second, eval);
        if matches!(verdict, Verdict::Wait) {
            return;
        }
        let args = match c.parser.parse(&mut c.rbuf) {
            Ok(Some(a)) => a,
            Ok(None) => return,
            Err(e) => {
                c.emit(&Reply::Error(e.0.into()), false);
                c.closing = true;
                return;
            }
        };
        let skipped = c.client.take_skip();
        match verdict {
            Verdict::Reply(r) => {
                if matches!(r, Reply::Error(_)) {
                    let name = c.lookups.lookup(&args[0]).map(|s| s.name);
                    reject(shard, c, r, name, skipped);
                } else {
                    let suppress = c.client.suppress(skipped);
                    c.emit(&r, suppress);
                }
            }
            Verdict::Unknown => {
                let r = crate::commands::unknown_command(&args);
                reject(shard, c, r, None, skipped);
            }
            Verdict::Shutdown if args.iter().any(|a| a.eq_ignore_ascii_case(b"nosave")) => {
                crate::logging::warning("User requested shutdown...");
                shard.global.request_shutdown();
                c.closing = true;
                return;
            }
            Verdict::Shutdown => {
                let r = Reply::err(crate::scripting::busy::busy_error(eval));
                reject(shard, c, r, Some("shutdown"), skipped);
            }
            Verdict::Transaction(name) => {
                let r = crate::commands::transaction::exec_sync(shard, &mut c.client.tx, name);
                let suppress = c.client.suppress(skipped);
                c.emit(&r.unwrap_or_else(Reply::ok), suppress);
            }
            Verdict::Quit => {
                // Closed now, as Redis closes after the reply (the loop forgets it later):
                // a client must not wait for the script to learn that.
                c.emit(&Reply::ok(), false);
                c.flush();
                sys::shutdown(c.fd);
                c.closing = true;
                return;
            }
            Verdict::ExecAbort => {
                let busy = crate::scripting::busy::busy_error(eval);
                let r = crate::commands::transaction::exec_abort(shard, &mut c.client.tx, busy);
                if let (Reply::Error(e), Ok(mut st)) = (&r, shard.stats.try_borrow_mut()) {
                    st.record_rejected(Some("exec"), e);
                }
                let suppress = c.client.suppress(skipped);
                c.emit(&r, suppress);
            }
            Verdict::Conn => {
                // Not through `server::exec_sync`: its statistics are the script's to borrow.
                let spec = c.lookups.lookup(&args[0]);
                let r = spec
                    .and_then(|spec| {
                        crate::commands::server::conn_while_busy(shard, c, spec, &args)
                    })
                    .unwrap_or_else(|| Reply::err(crate::scripting::busy::busy_error(eval)));
                let suppress = c.client.suppress(skipped);
                c.emit(&r, suppress);
            }
            Verdict::Wait => return,
        }
        c.parser.recycle(args);
    }
}

/// Answer with an error for a command refused before it ran: counted as Redis counts it, and a
/// MULTI in progress fails at EXEC.
fn reject(shard: &Shard, c: &mut Conn, r: Reply, name: Option<&'static str>, skipped: bool) {
    c.client.tx.refused();
    if let (Reply::Error(e), Ok(mut st)) = (&r, shard.stats.try_borrow_mut()) {
        st.record_rejected(name, e);
    }
    let suppress = c.client.suppress(skipped);
    c.emit(&r, suppress);
}

fn judge(
    lookups: &mut crate::acl::rename::LookupCache,
    client: &super::conn::ClientState,
    argc: usize,
    name: &[u8],
    sub: Option<&[u8]>,
    eval: bool,
) -> Verdict {
    let Some(spec) = lookups.lookup(name) else {
        return Verdict::Unknown;
    };
    if !spec.arity_ok(argc) {
        return Verdict::Reply(Reply::arity(spec.name));
    }
    if crate::commands::server::auth_required(client, spec.name) {
        return Verdict::Reply(Reply::err("NOAUTH Authentication required."));
    }
    let sub = sub.map(|s| s.to_ascii_lowercase());
    let kill = |eval: bool| {
        Verdict::Reply(match crate::scripting::busy::kill(eval) {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::err(e),
        })
    };
    match (spec.name, sub.as_deref()) {
        ("script", Some(b"kill")) if argc == 2 => kill(true),
        ("function", Some(b"kill")) if argc == 2 => kill(false),
        ("shutdown", _) => Verdict::Shutdown,
        ("multi", _) => Verdict::Transaction("multi"),
        // Ending a transaction unwatches its keys, in the keyspace the script holds: with
        // watched keys, EXEC waits for the script like the commands below.
        ("exec", _) if client.tx.watched.is_empty() => Verdict::ExecAbort,
        ("function", Some(b"stats")) if argc == 2 => {
            Verdict::Reply(crate::scripting::busy::function_stats((0, 0)))
        }
        ("quit", _) => Verdict::Quit,
        // Without watched keys they touch no keyspace; UNWATCH inside MULTI would be queued.
        ("discard", _) if client.tx.watched.is_empty() => Verdict::Transaction("discard"),
        ("unwatch", _) if client.tx.watched.is_empty() && !client.tx.in_multi() => {
            Verdict::Transaction("unwatch")
        }
        ("auth" | "hello", _) => Verdict::Conn,
        ("reset", _) if client.tx.watched.is_empty() && !client.subs.active() => Verdict::Conn,
        ("exec", _) | ("reset" | "discard" | "watch" | "unwatch", _) => Verdict::Wait,
        _ => Verdict::Reply(Reply::err(crate::scripting::busy::busy_error(eval))),
    }
}
