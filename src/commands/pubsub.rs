//! Pub/Sub commands: SUBSCRIBE & co, PUBLISH, SPUBLISH, PUBSUB. Connection commands: they
//! run on the client's own shard (where its subscriptions live, see `shard/pubsub.rs`).

use super::{CommandSpec, Kind};
use crate::net::conn::Conn;
use crate::net::ConnRef;
use crate::protocol::reply::Reply;
use crate::shard::pubsub::{self, Space};
use crate::shard::pubsub_fence;
use crate::shard::Shard;
use bytes::Bytes;
use std::rc::Rc;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "subscribe",
        -2,
        "pubsub noscript loading stale",
        (0, 0, 0),
        Kind::Conn,
    )
    .doc(
        "pubsub",
        "2.0.0",
        "Listen for messages published to the given channels",
    ),
    CommandSpec::new(
        "unsubscribe",
        -1,
        "pubsub noscript loading stale",
        (0, 0, 0),
        Kind::Conn,
    )
    .doc(
        "pubsub",
        "2.0.0",
        "Stop listening for messages posted to the given channels",
    ),
    CommandSpec::new(
        "psubscribe",
        -2,
        "pubsub noscript loading stale",
        (0, 0, 0),
        Kind::Conn,
    )
    .doc(
        "pubsub",
        "2.0.0",
        "Listen for messages published to channels matching the given patterns",
    ),
    CommandSpec::new(
        "punsubscribe",
        -1,
        "pubsub noscript loading stale",
        (0, 0, 0),
        Kind::Conn,
    )
    .doc(
        "pubsub",
        "2.0.0",
        "Stop listening for messages posted to channels matching the given patterns",
    ),
    CommandSpec::new(
        "ssubscribe",
        -2,
        "pubsub noscript loading stale",
        (1, -1, 1),
        Kind::Conn,
    )
    .doc(
        "pubsub",
        "7.0.0",
        "Listen for messages published to the given shard channels",
    ),
    CommandSpec::new(
        "sunsubscribe",
        -1,
        "pubsub noscript loading stale",
        (1, -1, 1),
        Kind::Conn,
    )
    .doc(
        "pubsub",
        "7.0.0",
        "Stop listening for messages posted to the given shard channels",
    ),
    CommandSpec::new(
        "publish",
        3,
        "pubsub loading stale fast may-replicate",
        (0, 0, 0),
        Kind::Conn,
    )
    .doc("pubsub", "2.0.0", "Post a message to a channel"),
    CommandSpec::new(
        "spublish",
        3,
        "pubsub loading stale fast may-replicate",
        (1, 1, 1),
        Kind::Conn,
    )
    .doc("pubsub", "7.0.0", "Post a message to a shard channel"),
    CommandSpec::new("pubsub", -2, "", (0, 0, 0), Kind::Conn).doc(
        "pubsub",
        "2.8.0",
        "A container for Pub/Sub commands",
    ),
];

/// Whether this module runs the command.
pub fn handles(name: &str) -> bool {
    COMMANDS.iter().any(|c| c.name == name)
}

/// Redis's gate for RESP2 clients in subscribed mode: the error for a command they may not
/// run, if this is one.
pub fn refused_in_subscribed_mode(c: &Conn, spec: &CommandSpec, args: &[Bytes]) -> Option<Reply> {
    if c.client.resp3 || !c.client.subs.active() {
        return None;
    }
    let allowed = matches!(
        spec.name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    );
    if allowed {
        return None;
    }
    // Redis names a subcommand as container|sub.
    let mut name = spec.name.to_string();
    if matches!(
        spec.name,
        "client"
            | "config"
            | "command"
            | "pubsub"
            | "memory"
            | "object"
            | "xinfo"
            | "xgroup"
            | "debug"
    ) {
        if let Some(sub) = args.get(1) {
            name.push('|');
            name.push_str(&String::from_utf8_lossy(sub).to_ascii_lowercase());
        }
    }
    Some(Reply::err(format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    )))
}

/// PING's reply: RESP2 subscribers get Redis's ["pong", arg] form.
pub fn ping_reply(c: &Conn, a: &[Bytes]) -> Option<Reply> {
    if c.client.resp3 || !c.client.subs.active() || a.len() > 2 {
        return None;
    }
    Some(Reply::Array(vec![
        Reply::Bulk(Bytes::from_static(b"pong")),
        Reply::Bulk(a.get(1).cloned().unwrap_or_default()),
    ]))
}

/// No reply of its own: the command wrote pushes (they ignore CLIENT REPLY).
fn pushed() -> Reply {
    Reply::Raw(Bytes::new())
}

/// Which namespace an (un)subscribe command is about, and whether it joins.
fn subscription(name: &str) -> Option<(Space, bool)> {
    Some(match name {
        "subscribe" => (Space::Channel, true),
        "psubscribe" => (Space::Pattern, true),
        "ssubscribe" => (Space::Shard, true),
        "unsubscribe" => (Space::Channel, false),
        "punsubscribe" => (Space::Pattern, false),
        "sunsubscribe" => (Space::Shard, false),
        _ => return None,
    })
}

/// What can run without waiting for the other shards. None: `run_async` runs it.
pub fn sync(shard: &Rc<Shard>, c: &mut Conn, spec: &CommandSpec, a: &[Bytes]) -> Option<Reply> {
    if let Some((space, join)) = subscription(spec.name) {
        if shard.n > 1 {
            // The other shards must know before the client is answered.
            return None;
        }
        if join {
            pubsub::subscribe(shard, c, space, &a[1..]);
        } else {
            for r in pubsub::unsubscribe(shard, c, space, &a[1..]).0 {
                c.emit(&r, false);
            }
        }
        return Some(pushed());
    }
    Some(match spec.name {
        "publish" | "spublish" => {
            if !pubsub::anyone_listening(shard) {
                Reply::Int(0)
            } else {
                let sharded = spec.name == "spublish";
                let targets = shard.pubsub.borrow().remote_targets(sharded, &a[1]);
                // One look per read of the connection: a wait covers all it had read.
                if c.reads > c.settled_reads && pubsub_fence::unsettled(shard, &targets) {
                    return None;
                }
                Reply::Int(pubsub::publish(
                    shard,
                    sharded,
                    &a[1],
                    &a[2],
                    Some(c),
                    targets,
                ))
            }
        }
        "pubsub" => pubsub_command(&shard.pubsub.borrow(), a),
        _ => return None,
    })
}

/// (UN)SUBSCRIBE with several shards, and PUBLISH while a shard with listeners may not have
/// told this one of every (un)subscribe that came before it (`pubsub_fence.rs`).
pub async fn run_async(
    shard: &Rc<Shard>,
    conn: &ConnRef,
    spec: &CommandSpec,
    a: &[Bytes],
) -> Reply {
    match subscription(spec.name) {
        Some((space, join)) => {
            pubsub::run_subscribe(shard, conn, space, join, &a[1..]).await;
            pushed()
        }
        None if matches!(spec.name, "publish" | "spublish") => {
            let sharded = spec.name == "spublish";
            let reads = conn.borrow().reads;
            let waited_on = shard.pubsub.borrow().remote_targets(sharded, &a[1]);
            pubsub_fence::settle(shard, waited_on).await;
            let mut c = conn.borrow_mut();
            // Everything read before the wait began is covered by it.
            c.settled_reads = c.settled_reads.max(reads);
            // The view has taken in what the wait brought: look again.
            let targets = shard.pubsub.borrow().remote_targets(sharded, &a[1]);
            Reply::Int(pubsub::publish(
                shard,
                sharded,
                &a[1],
                &a[2],
                Some(&mut c),
                targets,
            ))
        }
        None => Reply::err("ERR internal routing error"),
    }
}

/// PUBSUB: every shard knows all shards' subscriptions, so this shard answers.
fn pubsub_command(reg: &pubsub::Registry, a: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    let argc = a.len();
    let names = |space| {
        Reply::Array(
            reg.names(space, a.get(2).map(|p| &p[..]))
                .into_iter()
                .map(Reply::Bulk)
                .collect(),
        )
    };
    let counts = |space| {
        Reply::Array(
            a[2..]
                .iter()
                .flat_map(|c| {
                    [
                        Reply::Bulk(c.clone()),
                        Reply::Int(reg.listeners(space, c) as i64),
                    ]
                })
                .collect(),
        )
    };
    match sub.as_str() {
        "help" | "numpat" if argc != 2 => Reply::err(format!(
            "ERR wrong number of arguments for 'pubsub|{sub}' command"
        )),
        "help" => Reply::Array(HELP.iter().map(|l| Reply::Simple((*l).into())).collect()),
        "numpat" => Reply::Int(reg.names(Space::Pattern, None).len() as i64),
        "channels" | "shardchannels" if argc > 3 => Reply::err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&a[1])
        )),
        "channels" => names(Space::Channel),
        "shardchannels" => names(Space::Shard),
        "numsub" => counts(Space::Channel),
        "shardnumsub" => counts(Space::Shard),
        _ => Reply::err(format!(
            "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&a[1])
        )),
    }
}

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Print this help.",
];
