//! The per-command ACL gate run by the connection layer, and ACL LOG recording (entries go to
//! shard 0, which keeps the server's log).

use super::log::{Context, Entry, Reason};
use super::Denied;
use crate::commands::CommandSpec;
use crate::net::conn::ClientState;
use crate::protocol::reply::Reply;
use crate::shard::Shard;
use bytes::Bytes;
use std::rc::Rc;

pub enum Refused {
    /// The client's user was deleted: close the connection.
    Gone,
    /// -NOPERM … (with what was denied, when it is logged).
    Denied(Reply, Option<Reason>),
}

/// Whether the client may run this command. The common case (an unrestricted user, ACL
/// unchanged) is a version compare and a flag.
#[inline]
pub fn check(
    shard: &Rc<Shard>,
    client: &mut ClientState,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Result<(), Refused> {
    check_in(shard, client, spec, args, context_of(client))
}

/// The ACL LOG context of what the client runs now: a command queued inside MULTI, or run by
/// EXEC, is the transaction's.
pub fn context_of(client: &ClientState) -> Context {
    if client.tx.in_multi() || client.tx.deny_blocking {
        Context::Multi
    } else {
        Context::Toplevel
    }
}

fn check_in(
    shard: &Rc<Shard>,
    client: &mut ClientState,
    spec: &CommandSpec,
    args: &[Bytes],
    context: Context,
) -> Result<(), Refused> {
    {
        let acl = shard.acl.borrow();
        if !client.acl.refresh(&acl) {
            return Err(Refused::Gone);
        }
    }
    if client.acl.unrestricted {
        return Ok(());
    }
    match client.acl.user.check(spec, args) {
        Ok(()) => {
            if let Some(c) = channel_denied(&client.acl.user, spec, args) {
                let object = String::from_utf8_lossy(&c).into_owned();
                record(
                    shard,
                    client,
                    context,
                    Reason::Channel,
                    object,
                    client.acl.name().to_string(),
                );
                return Err(Refused::Denied(
                    Reply::err(
                        "NOPERM this user has no permissions to access one of the channels \
                         used as arguments",
                    ),
                    Some(Reason::Channel),
                ));
            }
            match sort_patterns_denied(&client.acl.user, spec, args) {
                Some(r) => Err(Refused::Denied(r, None)),
                None => Ok(()),
            }
        }
        Err(d) => {
            let r = Reply::err(d.message());
            let (reason, object) = match d {
                Denied::Command(c) => (Reason::Command, c),
                Denied::Key(_, k) => (Reason::Key, String::from_utf8_lossy(&k).into_owned()),
            };
            let user = client.acl.name().to_string();
            record(shard, client, context, reason, object, user);
            Err(Refused::Denied(r, Some(reason)))
        }
    }
}

/// The first channel of a pub/sub command this user may not use (Redis checks PUBLISH,
/// (S)SUBSCRIBE and SPUBLISH channels against the `&` patterns, and PSUBSCRIBE patterns by
/// equality; unsubscribing is always allowed).
fn channel_denied(user: &super::User, spec: &CommandSpec, args: &[Bytes]) -> Option<Bytes> {
    let (channels, literal) = match spec.name {
        "publish" | "spublish" => (args.get(1..2)?, true),
        "subscribe" | "ssubscribe" => (args.get(1..)?, true),
        "psubscribe" => (args.get(1..)?, false),
        _ => return None,
    };
    channels
        .iter()
        .find(|c| !user.channel_ok(c, literal))
        .cloned()
}

/// SORT's BY and GET patterns read keys no key spec names: Redis allows them only to a user
/// who may read every key, and answers this (not an ACL LOG entry) otherwise.
fn sort_patterns_denied(user: &super::User, spec: &CommandSpec, args: &[Bytes]) -> Option<Reply> {
    if !matches!(spec.name, "sort" | "sort_ro") {
        return None;
    }
    let mut full = None;
    let mut reads_all = || *full.get_or_insert_with(|| user.reads_every_key(spec, args));
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            j += 2;
        } else if a.eq_ignore_ascii_case(b"store") && left >= 1 {
            j += 1;
        } else if a.eq_ignore_ascii_case(b"by") && left >= 1 {
            if args[j + 1].contains(&b'*') && !reads_all() {
                return Some(Reply::err(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            j += 1;
        } else if a.eq_ignore_ascii_case(b"get") && left >= 1 {
            if !reads_all() {
                return Some(Reply::err(
                    "ERR GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            j += 1;
        }
        j += 1;
    }
    None
}

/// Redis's second check of a queued command, when EXEC runs it (the rules may have changed
/// since it was queued; a denial is logged in the "multi" context): None to run it, else the
/// error that stands in for its reply.
pub fn recheck_queued(
    shard: &Rc<Shard>,
    client: &mut ClientState,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Option<Reply> {
    let reason = match check_in(shard, client, spec, args, Context::Multi) {
        Ok(()) => return None,
        Err(Refused::Denied(_, Some(Reason::Command))) => {
            "no permission to execute the command or subcommand"
        }
        Err(Refused::Denied(_, Some(Reason::Key))) => "no permission to touch the specified keys",
        Err(Refused::Denied(_, Some(Reason::Channel))) => {
            "no permission to access one of the channels used as arguments"
        }
        Err(_) => "no permission",
    };
    Some(Reply::err(format!(
        "NOPERM ACLs rules changed between the moment the transaction was accumulated and the \
         EXEC call. This command is no longer allowed for the following reason: {reason}"
    )))
}

/// Add an ACL LOG entry (on shard 0, in the order this shard sends them).
pub fn record(
    shard: &Rc<Shard>,
    client: &ClientState,
    context: Context,
    reason: Reason,
    object: String,
    username: String,
) {
    let now = std::time::Instant::now();
    let entry = Entry {
        count: 1,
        reason,
        context,
        object,
        username,
        client_info: crate::commands::server::client_line(shard, client, None, client.id),
        created: now,
        updated: now,
    };
    let max = shard.config.borrow().acllog_max_len as usize;
    if max == 0 {
        return;
    }
    let first = {
        let mut acl = shard.acl.borrow_mut();
        let first = acl.outbox.is_empty();
        acl.outbox.add(entry, max);
        first
    };
    if !first {
        // A flush is already on its way; it takes this entry too.
        return;
    }
    let shard = shard.clone();
    glommio::spawn_local(async move { flush_log(&shard) }).detach();
}

/// Post this shard's pending ACL LOG entries to shard 0. Draining and posting happen in one
/// step, so an entry is always either here or in shard 0's inbox: ACL LOG, which has every
/// shard flush before it reads, then sees every denial already answered.
pub fn flush_log(shard: &Rc<Shard>) {
    let entries = shard.acl.borrow_mut().outbox.drain();
    if entries.is_empty() {
        return;
    }
    shard.run_or_post(0, move |sh| {
        let max = sh.config.borrow().acllog_max_len as usize;
        let mut acl = sh.acl.borrow_mut();
        for e in entries {
            acl.log.add(e, max);
        }
    });
}
