//! Connection and server commands (Redis's server.c, networking.c, config.c, debug.c parts).
//! They run on the client's own shard; the ones that need every shard fan out over the mesh.

use super::args;
use super::{CommandSpec, Kind};
use crate::net::conn::{ClientState, Conn};
use crate::net::ConnRef;
use crate::protocol::reply::Reply;
use crate::shard::Shard;
use crate::store::digest;
use bytes::Bytes;
use std::rc::Rc;

pub const REDIS_VERSION: &str = "7.0.15";

const fn c(
    name: &'static str,
    arity: i32,
    flags: &'static str,
    group: &'static str,
    since: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec::new(name, arity, flags, (0, 0, 0), Kind::Conn).doc(group, since, summary)
}

pub const COMMANDS: &[CommandSpec] = &[
    c(
        "ping",
        -1,
        "fast sentinel",
        "connection",
        "1.0.0",
        "Ping the server",
    ),
    c(
        "echo",
        2,
        "fast",
        "connection",
        "1.0.0",
        "Echo the given string",
    ),
    c(
        "quit",
        -1,
        "allow_busy noscript loading stale fast no_auth allow_busy",
        "connection",
        "1.0.0",
        "Close the connection",
    ),
    c(
        "reset",
        1,
        "noscript loading stale fast no_auth allow_busy",
        "connection",
        "6.2.0",
        "Reset the connection",
    ),
    c(
        "hello",
        -1,
        "noscript loading stale fast no_auth sentinel allow_busy",
        "connection",
        "6.0.0",
        "Handshake with Redis",
    ),
    c(
        "auth",
        -2,
        "noscript loading stale fast no_auth sentinel allow_busy",
        "connection",
        "1.0.0",
        "Authenticate to the server",
    ),
    c(
        "select",
        2,
        "loading stale fast",
        "connection",
        "1.0.0",
        "Change the selected database for the current connection",
    ),
    c(
        "client",
        -2,
        "",
        "connection",
        "2.4.0",
        "A container for client connection commands",
    ),
    c(
        "time",
        1,
        "loading stale fast",
        "server",
        "2.6.0",
        "Return the current server time",
    ),
    c(
        "bgrewriteaof",
        1,
        "admin noscript no_async_loading",
        "server",
        "1.0.0",
        "Asynchronously rewrite the append-only file",
    ),
    c(
        "save",
        1,
        "admin noscript no_async_loading no_multi",
        "server",
        "1.0.0",
        "Synchronously save the dataset to disk",
    ),
    c(
        "lastsave",
        1,
        "loading stale fast",
        "server",
        "1.0.0",
        "Get the UNIX time stamp of the last successful save to disk",
    ),
    c(
        "command",
        -1,
        "loading stale sentinel",
        "server",
        "2.8.13",
        "Get array of Redis command details",
    ),
    c(
        "config",
        -2,
        "",
        "server",
        "2.0.0",
        "A container for server configuration commands",
    ),
    c(
        "debug",
        -2,
        "admin noscript loading stale",
        "server",
        "1.0.0",
        "A container for debugging commands",
    ),
    c(
        "memory",
        -2,
        "",
        "server",
        "4.0.0",
        "A container for memory diagnostics commands",
    ),
    c(
        "info",
        -1,
        "loading stale sentinel",
        "server",
        "1.0.0",
        "Get information and statistics about the server",
    ),
    c(
        "dbsize",
        1,
        "readonly fast",
        "server",
        "1.0.0",
        "Return the number of keys in the selected database",
    ),
    c(
        "keys",
        2,
        "readonly",
        "generic",
        "1.0.0",
        "Find all keys matching the given pattern",
    ),
    c(
        "scan",
        -2,
        "readonly",
        "generic",
        "2.8.0",
        "Incrementally iterate the keys space",
    ),
    c(
        "randomkey",
        1,
        "readonly",
        "generic",
        "1.0.0",
        "Return a random key from the keyspace",
    ),
    c(
        "flushdb",
        -1,
        "write",
        "server",
        "1.0.0",
        "Remove all keys from the current database",
    ),
    c(
        "flushall",
        -1,
        "write",
        "server",
        "1.0.0",
        "Remove all keys from all databases",
    ),
    c(
        "swapdb",
        3,
        "write fast",
        "server",
        "4.0.0",
        "Swaps two Redis databases",
    ),
    c(
        "shutdown",
        -1,
        "admin noscript loading stale no_multi sentinel allow_busy",
        "server",
        "1.0.0",
        "Synchronously save the dataset to disk and then shut down the server",
    ),
];

/// Commands a client may send before authenticating.
fn allowed_unauthenticated(name: &str) -> bool {
    matches!(name, "auth" | "hello" | "quit" | "reset")
}

/// The NOAUTH check, done before any command runs.
pub fn auth_required(c: &ClientState, name: &str) -> bool {
    !c.authenticated && !allowed_unauthenticated(name)
}

pub fn sub_err(cmd: &str, sub: &[u8]) -> Reply {
    Reply::err(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(crate::commands::args::c_str(sub)),
        cmd.to_ascii_uppercase()
    ))
}

fn sub_arity(cmd: &str, sub: &[u8]) -> Reply {
    Reply::err(format!(
        "ERR wrong number of arguments for '{}|{}' command",
        cmd,
        String::from_utf8_lossy(sub).to_ascii_lowercase()
    ))
}

pub fn help(lines: &[&str]) -> Reply {
    Reply::Array(
        lines
            .iter()
            .map(|l| Reply::Simple(l.to_string().into()))
            .collect(),
    )
}

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// Run a server command without waiting, or None if it needs other shards (then `exec_async`).
pub fn exec_sync(
    shard: &Rc<Shard>,
    c: &mut Conn,
    spec: &'static CommandSpec,
    a: &[Bytes],
) -> Option<Reply> {
    let start = crate::util::clock::ticks();
    let r = sync_inner(shard, c, spec, a)?;
    crate::observe::done(shard, spec, a, start, &r, &|| Some(c.client.tag()));
    Some(r)
}

/// AUTH, HELLO or RESET while a script holds the shard (net/busy.rs): run as usual, but not
/// counted (the statistics may be borrowed by the script's command). None: it must wait.
pub fn conn_while_busy(
    shard: &Rc<Shard>,
    c: &mut Conn,
    spec: &'static CommandSpec,
    a: &[Bytes],
) -> Option<Reply> {
    match spec.name {
        "auth" | "hello" | "reset" => sync_inner(shard, c, spec, a),
        _ => None,
    }
}

fn sync_inner(
    shard: &Rc<Shard>,
    c: &mut Conn,
    spec: &'static CommandSpec,
    a: &[Bytes],
) -> Option<Reply> {
    let sub = a.get(1).map(|s| lower(s)).unwrap_or_default();
    if crate::commands::pubsub::handles(spec.name) {
        return crate::commands::pubsub::sync(shard, c, spec, a);
    }
    Some(match spec.name {
        "ping" if crate::commands::pubsub::ping_reply(c, a).is_some() => {
            crate::commands::pubsub::ping_reply(c, a)?
        }
        "ping" => match a.len() {
            1 => Reply::simple("PONG"),
            2 => Reply::Bulk(a[1].clone()),
            _ => Reply::arity("ping"),
        },
        "echo" => Reply::Bulk(a[1].clone()),
        "quit" => {
            c.closing = true;
            Reply::ok()
        }
        "multi" | "discard" | "unwatch" | "watch" | "exec" => {
            return crate::commands::transaction::exec_sync(shard, &mut c.client.tx, spec.name)
        }
        // With several shards the others must hear of the dropped subscriptions first.
        "reset" if shard.n > 1 && c.client.subs.active() => return None,
        "reset" => {
            crate::commands::transaction::unwatch_all(shard, &mut c.client.tx);
            let sock = crate::shard::pubsub_fence::Sock::of(c);
            crate::shard::pubsub::forget(shard, &mut c.client, sock);
            let id = c.client.id;
            crate::observe::monitor::remove(shard, id);
            let (addr, laddr) = (c.client.addr.clone(), c.client.laddr.clone());
            let mut fresh = ClientState::new(id, addr, laddr);
            fresh.created = c.client.created;
            fresh.authenticated = shard.acl.borrow().default_open();
            c.parser.set_unauthenticated(!fresh.authenticated);
            c.client = fresh;
            Reply::simple("RESET")
        }
        "hello" => {
            let r = hello(shard, c, a);
            c.parser.set_unauthenticated(!c.client.authenticated);
            r
        }
        "acl" => return crate::commands::acl::sync(shard, c, a),
        "auth" => {
            let r = auth(shard, &mut c.client, &a[1..]);
            c.parser.set_unauthenticated(!c.client.authenticated);
            r
        }
        "select" => match args::int(&a[1]) {
            Err(e) => e,
            Ok(n) if n < 0 || n as usize >= shard.store.borrow().dbs.len() => {
                Reply::err("ERR DB index is out of range")
            }
            Ok(n) => {
                c.client.db = n as usize;
                Reply::ok()
            }
        },
        "time" => {
            let us = crate::util::now_us();
            Reply::Array(vec![
                Reply::bulk_str(&(us / 1_000_000).to_string()),
                Reply::bulk_str(&(us % 1_000_000).to_string()),
            ])
        }
        "lastsave" => Reply::Int(
            shard
                .global
                .last_save_unix
                .load(std::sync::atomic::Ordering::Relaxed) as i64,
        ),
        "command" => command(a),
        "client" => match sub.as_str() {
            "list" | "kill" | "unblock" => return None,
            "info" if a.len() == 2 => {
                let line = client_line(shard, &c.client, Some(c), c.client.id);
                Reply::Verbatim(Bytes::from(line + "\n"))
            }
            _ => client_sync(&mut c.client, a, &sub),
        },
        "config" => match sub.as_str() {
            "get" => {
                if a.len() < 3 {
                    return Some(sub_arity("config", &a[1]));
                }
                let pats: Vec<&[u8]> = a[2..].iter().map(|p| p.as_ref()).collect();
                let pairs = shard.config.borrow().get(&pats);
                Reply::Map(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (Reply::bulk_str(&k), Reply::bulk_str(&v)))
                        .collect(),
                )
            }
            "help" => help(&[
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
                "HELP",
                "    Prints this help.",
            ]),
            "set" | "resetstat" | "rewrite" => return None,
            _ => sub_err("config", &a[1]),
        },
        "slowlog" | "latency" | "monitor" => return super::observe::exec_sync(shard, c, a),
        "memory" => match sub.as_str() {
            "doctor" if a.len() == 2 => {
                Reply::Verbatim(Bytes::from(crate::memory::report::doctor(0, 0)))
            }
            "malloc-stats" if a.len() == 2 => {
                Reply::Verbatim(Bytes::from(crate::memory::alloc::stats_text()))
            }
            "purge" if a.len() == 2 => {
                if crate::memory::alloc::purge() {
                    Reply::ok()
                } else {
                    Reply::err("ERR Error purging dirty pages")
                }
            }
            "help" => help(&[
                "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
                "HELP",
                "    Prints this help.",
            ]),
            "usage" | "stats" => return None,
            _ => sub_err("memory", &a[1]),
        },
        _ => return None,
    })
}

fn hello(shard: &Rc<Shard>, c: &mut Conn, a: &[Bytes]) -> Reply {
    let mut proto = if c.client.resp3 { 3 } else { 2 };
    let mut i = 1;
    if a.len() > 1 {
        match crate::util::num::parse_i64(&a[1]) {
            None => return Reply::err("ERR Protocol version is not an integer or out of range"),
            Some(v) if v != 2 && v != 3 => {
                return Reply::err("NOPROTO unsupported protocol version")
            }
            Some(v) => proto = v,
        }
        i = 2;
    }
    let mut name = None;
    while i < a.len() {
        let left = a.len() - i - 1;
        if args::is(&a[i], "auth") && left >= 2 {
            let r = auth(shard, &mut c.client, &a[i + 1..i + 3]);
            if r.is_error() {
                return r;
            }
            i += 3;
        } else if args::is(&a[i], "setname") && left >= 1 {
            if let Err(e) = check_client_name(&a[i + 1]) {
                return e;
            }
            name = Some(a[i + 1].clone());
            i += 2;
        } else {
            return Reply::err(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&a[i])
            ));
        }
    }
    if !c.client.authenticated {
        return Reply::err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(n) = name {
        c.client.name = if n.is_empty() { None } else { Some(n) };
    }
    c.client.resp3 = proto == 3;
    let s = |x: &str| Reply::bulk_str(x);
    Reply::Map(vec![
        (s("server"), s("redis")),
        (s("version"), s(REDIS_VERSION)),
        (s("proto"), Reply::Int(proto)),
        (s("id"), Reply::Int(c.client.id as i64)),
        (s("mode"), s("standalone")),
        (s("role"), s("master")),
        (s("modules"), Reply::Array(vec![])),
    ])
}

/// AUTH [username] password, checked against the ACL users (`requirepass` is the default
/// user's password). A failure is logged in ACL LOG.
fn auth(shard: &Rc<Shard>, client: &mut ClientState, a: &[Bytes]) -> Reply {
    if a.len() > 2 {
        return Reply::syntax();
    }
    let (user, given) = if a.len() == 2 {
        (a[0].as_ref(), &a[1])
    } else {
        (&b"default"[..], &a[0])
    };
    let found = {
        let acl = shard.acl.borrow();
        if a.len() == 1 && acl.user("default").is_some_and(|u| u.nopass) {
            return Reply::err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        }
        let found = crate::acl::authenticate(&acl, user, given);
        if let Some(u) = &found {
            client.authenticated = true;
            client.acl.set_user(u.clone(), &acl);
        }
        found
    };
    match found {
        Some(_) => Reply::ok(),
        None => {
            let name = String::from_utf8_lossy(user).into_owned();
            crate::acl::gate::record(
                shard,
                client,
                crate::acl::gate::context_of(client),
                crate::acl::log::Reason::Auth,
                "AUTH".into(),
                name,
            );
            Reply::err("WRONGPASS invalid username-password pair or user is disabled.")
        }
    }
}

fn check_client_name(n: &[u8]) -> Result<(), Reply> {
    if n.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(Reply::err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

fn client_sync(cl: &mut ClientState, a: &[Bytes], sub: &str) -> Reply {
    let n = a.len();
    match (sub, n) {
        ("id", 2) => Reply::Int(cl.id as i64),
        ("getname", 2) => cl.name.clone().map_or(Reply::Nil, Reply::Bulk),
        ("setname", 3) => match check_client_name(&a[2]) {
            Err(e) => e,
            Ok(()) => {
                cl.name = if a[2].is_empty() {
                    None
                } else {
                    Some(a[2].clone())
                };
                Reply::ok()
            }
        },
        ("getredir", 2) => Reply::Int(-1),
        ("no-evict", 3) => {
            if args::is(&a[2], "on") {
                cl.no_evict = true;
            } else if args::is(&a[2], "off") {
                cl.no_evict = false;
            } else {
                return Reply::syntax();
            }
            Reply::ok()
        }
        ("reply", 3) => {
            // OFF and SKIP are not answered themselves; ON is.
            if args::is(&a[2], "on") {
                cl.reply_off = false;
                cl.force_reply = true;
            } else if args::is(&a[2], "off") {
                cl.reply_off = true;
                cl.skip_current = true;
            } else if args::is(&a[2], "skip") {
                cl.skip_next = !cl.reply_off;
                cl.skip_current = true;
            } else {
                return Reply::syntax();
            }
            Reply::ok()
        }
        ("help", 2) => help(&[
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "    * USER <username>",
            "    * ID <client-id>",
            "    * SKIPME (YES|NO)",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "    * ID id [id ...]",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "HELP",
            "    Prints this help.",
        ]),
        ("id" | "getname" | "setname" | "info" | "getredir" | "no-evict" | "reply", _) => {
            sub_arity("client", &a[1])
        }
        _ => sub_err("client", &a[1]),
    }
}

/// CLIENT LIST's `flags`, as Redis spells them (O monitor, P pub/sub, x in MULTI, b blocked;
/// N for none).
fn client_flags(shard: &Shard, cl: &ClientState, conn: Option<&Conn>) -> String {
    let mut f = String::new();
    if shard.observe.monitors.borrow().contains(&cl.id) {
        f.push('O');
    }
    if cl.subs.active() {
        f.push('P');
    }
    if cl.tx.in_multi() {
        f.push('x');
    }
    if conn.is_some_and(|c| c.blocked.is_some()) {
        f.push('b');
    }
    if f.is_empty() {
        f.push('N');
    }
    f
}

/// One CLIENT LIST line, in Redis 7.0's field order. `me` is the client asking, whose query
/// buffer still holds the command running now, as Redis counts it.
pub fn client_line(shard: &Shard, cl: &ClientState, conn: Option<&Conn>, me: u64) -> String {
    let running = if cl.id == me { cl.cmd_bytes } else { 0 };
    let (fd, qbuf, qfree, omem) = conn.map_or((-1, 0, 0, 0), |c| {
        (
            c.fd,
            c.rbuf.len() + running,
            c.rbuf.capacity() - c.rbuf.len(),
            c.wbuf.len(),
        )
    });
    let name = cl
        .name
        .as_ref()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} redir=-1 resp={} shard={}",
        cl.id,
        cl.addr,
        cl.laddr,
        fd,
        name,
        cl.created.elapsed().as_secs(),
        cl.last_interaction.elapsed().as_secs(),
        client_flags(shard, cl, conn),
        cl.db,
        cl.subs.channels.len(),
        cl.subs.patterns.len(),
        cl.subs.shard_channels.len(),
        cl.tx.queued.as_ref().map_or(-1, |q| q.len() as i64),
        qbuf,
        qfree,
        qbuf + qfree,
        omem,
        qbuf + qfree + omem,
        match &cl.last_sub {
            Some(sub) => format!("{}|{}", cl.last_cmd, String::from_utf8_lossy(sub).to_ascii_lowercase()),
            None => cl.last_cmd.to_string(),
        },
        cl.acl.name(),
        if cl.resp3 { 3 } else { 2 },
        shard.id
    )
}

fn command(a: &[Bytes]) -> Reply {
    let sub = a.get(1).map(|s| lower(s)).unwrap_or_default();
    let all = super::all();
    match sub.as_str() {
        "" => Reply::Array(all.iter().map(|s| command_info(s)).collect()),
        "count" if a.len() == 2 => Reply::Int(all.len() as i64),
        "list" => {
            let filter = if a.len() == 2 {
                None
            } else if a.len() == 5 && args::is(&a[2], "filterby") {
                Some((lower(&a[3]), a[4].clone()))
            } else {
                return Reply::syntax();
            };
            let keep = |s: &CommandSpec| match &filter {
                None => true,
                Some((kind, v)) => match kind.as_str() {
                    "pattern" => crate::util::glob::glob_match(v, s.name.as_bytes(), true),
                    "aclcat" => acl_categories(s)
                        .iter()
                        .any(|c| c[1..].eq_ignore_ascii_case(&String::from_utf8_lossy(v))),
                    _ => false,
                },
            };
            let pattern_ok = |name: &str| match &filter {
                Some((kind, v)) if kind == "pattern" => {
                    crate::util::glob::glob_match(v, name.as_bytes(), true)
                }
                _ => true,
            };
            let mut names = Vec::new();
            for s in all.iter() {
                if keep(s) {
                    names.push(Reply::bulk_str(s.name));
                }
                // Subcommands are listed (and filtered by pattern) on their own, as in Redis.
                if filter.as_ref().is_none_or(|(k, _)| k == "pattern") {
                    names.extend(
                        super::docs::subcommand_names(s.name)
                            .into_iter()
                            .filter(|n| pattern_ok(n))
                            .map(Reply::bulk_str),
                    );
                }
            }
            Reply::Array(names)
        }
        "info" => {
            if a.len() == 2 {
                return Reply::Array(all.iter().map(|s| command_info(s)).collect());
            }
            Reply::Array(
                a[2..]
                    .iter()
                    .map(|n| super::lookup(n).map_or(Reply::NilArray, command_info))
                    .collect(),
            )
        }
        "docs" => {
            let specs: Vec<&CommandSpec> = if a.len() == 2 {
                all
            } else {
                a[2..].iter().filter_map(|n| super::lookup(n)).collect()
            };
            Reply::Map(
                specs
                    .into_iter()
                    .map(|s| {
                        (
                            Reply::bulk_str(s.name),
                            super::docs::docs_reply(s.name).unwrap_or_else(|| command_docs(s)),
                        )
                    })
                    .collect(),
            )
        }
        "getkeys" if a.len() >= 3 => {
            let Some(spec) = super::lookup(&a[2]) else {
                return Reply::err("ERR Invalid command specified");
            };
            let cmd = &a[2..];
            if !spec.arity_ok(cmd.len()) {
                return Reply::err("ERR Invalid number of arguments specified for command");
            }
            let keys = spec.key_indexes(cmd);
            if keys.is_empty() {
                return Reply::err("ERR The command has no key arguments");
            }
            Reply::Array(
                keys.into_iter()
                    .map(|i| Reply::Bulk(cmd[i].clone()))
                    .collect(),
            )
        }
        "help" => help(&[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "HELP",
            "    Prints this help.",
        ]),
        "count" | "getkeys" => sub_arity("command", &a[1]),
        _ => sub_err("command", &a[1]),
    }
}

fn acl_categories(s: &CommandSpec) -> Vec<String> {
    let mut v = Vec::new();
    let fam = match s.group {
        "string" => Some("@string"),
        "bitmap" => Some("@bitmap"),
        "hyperloglog" => Some("@hyperloglog"),
        "generic" => Some("@keyspace"),
        "connection" => Some("@connection"),
        _ => None,
    };
    if s.has_flag("write") {
        v.push("@write".to_string());
    }
    if s.has_flag("readonly") {
        v.push("@read".to_string());
    }
    if let Some(f) = fam {
        v.push(f.to_string());
    }
    if s.has_flag("admin") {
        v.push("@admin".to_string());
        v.push("@dangerous".to_string());
    }
    v.push(if s.has_flag("fast") { "@fast" } else { "@slow" }.to_string());
    if s.has_flag("blocking") {
        v.push("@blocking".to_string());
    }
    v
}

/// COMMAND INFO's entry: name, arity, flags, first, last, step, ACL categories, tips, key
/// specs, subcommands.
fn command_info(s: &CommandSpec) -> Reply {
    let flags = s
        .flags
        .split_ascii_whitespace()
        .map(|f| Reply::Simple(f.to_string().into()))
        .collect();
    let key_specs = if s.keys.first > 0 {
        let ks = |x: &str| Reply::bulk_str(x);
        vec![Reply::Map(vec![
            (ks("flags"), Reply::Array(vec![])),
            (
                ks("begin_search"),
                Reply::Map(vec![
                    (ks("type"), ks("index")),
                    (
                        ks("spec"),
                        Reply::Map(vec![(ks("index"), Reply::Int(s.keys.first as i64))]),
                    ),
                ]),
            ),
            (
                ks("find_keys"),
                Reply::Map(vec![
                    (ks("type"), ks("range")),
                    (
                        ks("spec"),
                        Reply::Map(vec![
                            (
                                ks("lastkey"),
                                Reply::Int(if s.keys.last < 0 {
                                    s.keys.last as i64
                                } else {
                                    (s.keys.last - s.keys.first) as i64
                                }),
                            ),
                            (ks("keystep"), Reply::Int(s.keys.step as i64)),
                            (ks("limit"), Reply::Int(0)),
                        ]),
                    ),
                ]),
            ),
        ])]
    } else {
        vec![]
    };
    Reply::Array(vec![
        Reply::bulk_str(s.name),
        Reply::Int(s.arity as i64),
        Reply::Set(flags),
        Reply::Int(s.keys.first as i64),
        Reply::Int(s.keys.last as i64),
        Reply::Int(s.keys.step as i64),
        Reply::Set(
            acl_categories(s)
                .into_iter()
                .map(|c| Reply::Simple(c.into()))
                .collect(),
        ),
        Reply::Set(vec![]),
        Reply::Array(key_specs),
        {
            // Redis sends an empty set when there are no subcommands, an array otherwise.
            let subs = super::docs::subcommand_infos(s.name);
            if subs.is_empty() {
                Reply::Set(vec![])
            } else {
                Reply::Array(subs)
            }
        },
    ])
}

fn command_docs(s: &CommandSpec) -> Reply {
    let k = |x: &str| Reply::bulk_str(x);
    Reply::Map(vec![
        (k("summary"), k(s.summary)),
        (k("since"), k(s.since)),
        (k("group"), k(s.group)),
    ])
}

/// SAVE. shardis keeps no RDB snapshots: its dataset on disk is the append-only file, and SAVE
/// makes everything written so far durable there, on every shard, before it replies, whatever
/// `appendfsync` says (Redis's SAVE too replies once its snapshot is on disk).
async fn save(shard: &Rc<Shard>) -> Reply {
    if !shard.config.borrow().appendonly {
        return Reply::err(
            "ERR shardis keeps no RDB snapshots: SAVE syncs the append-only file, and appendonly is no",
        );
    }
    let syncs = (0..shard.n).map(|t| {
        shard.call_async(t, |sh| async move {
            let offset = sh.feed_offset();
            let dirty = sh.store.borrow().dirty;
            {
                let mut a = sh.aof.borrow_mut();
                a.sync_asked = true;
                a.kick();
            }
            // Under `appendfsync no`, a once-a-second write-out already under way when SAVE asks
            // may be what reaches `offset`: written with O_DIRECT, not yet fdatasync'ed.
            crate::persistence::writer::wait_synced(&sh, offset).await;
            let failed = sh.aof.borrow().failed.clone();
            if failed.is_none() {
                sh.store.borrow_mut().saved_dirty = dirty;
            }
            failed
        })
    });
    for r in futures::future::join_all(syncs).await {
        match r {
            None => return Reply::err("ERR shard unavailable (shutting down)"),
            Some(Some(e)) => return Reply::err(format!("ERR writing the append-only file: {e}")),
            Some(None) => {}
        }
    }
    let now = crate::util::now_ms() / 1000;
    shard
        .global
        .last_save_unix
        .store(now, std::sync::atomic::Ordering::Relaxed);
    Reply::ok()
}

/// Server commands that wait on other shards (or on a timer).
pub async fn exec_async(
    shard: &Rc<Shard>,
    conn: &ConnRef,
    spec: &'static CommandSpec,
    a: &[Bytes],
) -> Reply {
    let start = crate::util::clock::ticks();
    let r = async_inner(shard, conn, spec, a).await;
    crate::observe::done(shard, spec, a, start, &r, &|| {
        conn.try_borrow().ok().map(|c| c.client.tag())
    });
    r
}

async fn async_inner(
    shard: &Rc<Shard>,
    conn: &ConnRef,
    spec: &'static CommandSpec,
    a: &[Bytes],
) -> Reply {
    let (db, resp3, my_id) = {
        let c = conn.borrow();
        (c.client.db, c.client.resp3, c.client.id)
    };
    if spec.has_flag("blocking") {
        return crate::shard::blocking::run(shard, conn, spec, a).await;
    }
    if crate::commands::pubsub::handles(spec.name) {
        return crate::commands::pubsub::run_async(shard, conn, spec, a).await;
    }
    if spec.name == "reset" {
        crate::shard::pubsub::leave_all(shard, conn).await;
        let mut c = conn.borrow_mut();
        return sync_inner(shard, &mut c, spec, a).unwrap_or_else(|| Reply::err("ERR reset"));
    }
    let sub = a.get(1).map(|s| lower(s)).unwrap_or_default();
    match spec.name {
        "watch" | "exec" => {
            crate::commands::transaction::exec_async(shard, conn, spec.name, a).await
        }
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" | "script"
        | "function" => crate::scripting::exec(shard, conn, spec, a).await,
        "acl" => crate::commands::acl::run(shard, conn, a).await,
        "save" => save(shard).await,
        "bgrewriteaof" => {
            if crate::persistence::compact::start(shard, false).await {
                Reply::Simple("Background append only file rewriting started".into())
            } else {
                Reply::err("ERR Background append only file rewriting already in progress")
            }
        }
        "dbsize" => Reply::Int(sum(shard
            .broadcast(move |sh| sh.store.borrow().dbs[db].len() as i64)
            .await)),
        "flushdb" | "flushall" => {
            if a.len() > 2
                || (a.len() == 2 && !args::is(&a[1], "sync") && !args::is(&a[1], "async"))
            {
                return Reply::syntax();
            }
            let all = spec.name == "flushall";
            shard
                .broadcast(move |sh| {
                    let mut st = sh.store.borrow_mut();
                    let n: usize = if all {
                        st.dbs.iter().map(|d| d.len()).sum()
                    } else {
                        st.dbs[db].len()
                    };
                    if all {
                        st.flush(None);
                        st.feed.record(db, &[b"FLUSHALL"]);
                    } else {
                        st.flush(Some(db));
                        st.feed.record(db, &[b"FLUSHDB"]);
                    }
                    st.dirty += n as u64;
                })
                .await;
            Reply::ok()
        }
        "swapdb" => {
            let ndb = shard.config.borrow().databases as i64;
            let x = match crate::util::num::parse_i64(&a[1]) {
                Some(x) => x,
                None => return Reply::err("ERR invalid first DB index"),
            };
            let y = match crate::util::num::parse_i64(&a[2]) {
                Some(y) => y,
                None => return Reply::err("ERR invalid second DB index"),
            };
            if x < 0 || y < 0 || x >= ndb || y >= ndb {
                return Reply::err("ERR DB index is out of range");
            }
            shard
                .broadcast(move |sh| {
                    let mut st = sh.store.borrow_mut();
                    st.swap_dbs(x as usize, y as usize);
                    let (mut xs, mut ys) = (itoa::Buffer::new(), itoa::Buffer::new());
                    let (xs, ys) = (xs.format(x).as_bytes(), ys.format(y).as_bytes());
                    st.feed.record(0, &[b"SWAPDB", xs, ys]);
                })
                .await;
            Reply::ok()
        }
        "keys" => {
            let pat = a[1].clone();
            let parts = shard
                .broadcast(move |sh| {
                    crate::commands::keyspace::keys_local(&mut sh.store.borrow_mut().ctx(db), &pat)
                })
                .await;
            Reply::Array(
                parts
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(Reply::Bulk)
                    .collect(),
            )
        }
        "randomkey" => {
            let parts = shard
                .broadcast(move |sh| {
                    let mut st = sh.store.borrow_mut();
                    let len = st.dbs[db].len();
                    (
                        len,
                        crate::commands::keyspace::random_key_local(&mut st.ctx(db)),
                    )
                })
                .await;
            let total: usize = parts.iter().flatten().map(|p| p.0).sum();
            if total == 0 {
                return Reply::Nil;
            }
            // Pick a shard weighted by its size, so every key is equally likely.
            let mut pick = fastrand::usize(..total);
            let mut fallback = None;
            for (len, key) in parts.into_iter().flatten() {
                if key.is_some() && fallback.is_none() {
                    fallback = key.clone();
                }
                if pick < len {
                    if let Some(k) = key {
                        return Reply::Bulk(k);
                    }
                }
                pick = pick.saturating_sub(len);
            }
            fallback.map_or(Reply::Nil, Reply::Bulk)
        }
        "scan" => scan(shard, db, a).await,
        "slowlog" | "latency" => super::observe::exec_async(shard, a).await,
        "info" => info(shard, a).await,
        "shutdown" => {
            for w in a.iter().skip(1) {
                let w = lower(w);
                if !matches!(w.as_str(), "nosave" | "save" | "now" | "force" | "abort") {
                    return Reply::syntax();
                }
                if w == "abort" {
                    return Reply::err("ERR No shutdown in progress.");
                }
            }
            crate::logging::warning("User requested shutdown...");
            shard.global.request_shutdown();
            conn.borrow_mut().closed = true;
            Reply::ok()
        }
        "client" => match sub.as_str() {
            "list" => client_list(shard, a, my_id).await,
            "kill" => client_kill(shard, my_id, a).await,
            "unblock" => client_unblock(shard, a).await,
            _ => sub_err("client", &a[1]),
        },
        "config" => match sub.as_str() {
            "set" => config_set(shard, a).await,
            "resetstat" if a.len() == 2 => {
                shard
                    .broadcast(|sh| {
                        *sh.stats.borrow_mut() = Default::default();
                        sh.store.borrow_mut().stats = Default::default();
                    })
                    .await;
                Reply::ok()
            }
            "rewrite" if a.len() == 2 => match &shard.global.config_file {
                None => Reply::err("ERR The server is running without a config file"),
                Some(path) => {
                    let text = shard.config.borrow().rewrite_text();
                    match std::fs::write(path, text) {
                        Ok(()) => Reply::ok(),
                        Err(e) => Reply::err(format!("ERR Rewriting config file: {e}")),
                    }
                }
            },
            _ => sub_arity("config", &a[1]),
        },
        "memory" => match sub.as_str() {
            "usage" if a.len() >= 3 => {
                if let Err(e) = crate::memory::report::usage_args(&a[3..]) {
                    return e;
                }
                let key = a[2].clone();
                let owner = crate::routing::key_shard(&key, shard.n);
                shard
                    .call(owner, move |sh| {
                        let mut st = sh.store.borrow_mut();
                        let mut ctx = st.ctx(db);
                        ctx.lookup_notouch(&key).map_or(Reply::Nil, |e| {
                            Reply::Int(crate::memory::report::key_usage(&key, e) as i64)
                        })
                    })
                    .await
                    .unwrap_or(Reply::Nil)
            }
            "stats" if a.len() == 2 => {
                let parts = shard
                    .broadcast(|sh| {
                        let st = sh.store.borrow();
                        st.dbs
                            .iter()
                            .map(|d| (d.len(), d.expires_len()))
                            .collect::<Vec<_>>()
                    })
                    .await;
                let mut dbs: Vec<(usize, usize)> = Vec::new();
                for p in parts.into_iter().flatten() {
                    dbs.resize(dbs.len().max(p.len()), (0, 0));
                    for (i, (k, e)) in p.into_iter().enumerate() {
                        dbs[i].0 += k;
                        dbs[i].1 += e;
                    }
                }
                crate::memory::report::stats(&dbs)
            }
            _ => sub_err("memory", &a[1]),
        },
        "debug" => {
            if !debug_allowed(shard, &conn.borrow().client) {
                return Reply::err("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
            }
            debug(shard, db, a, resp3).await
        }
        _ => Reply::err("ERR internal dispatch error"),
    }
}

fn sum(v: Vec<Option<i64>>) -> i64 {
    v.into_iter().flatten().sum()
}

/// SCAN over all shards. The cursor packs (position in the shard's table) * shards + shard.
async fn scan(shard: &Rc<Shard>, db: usize, a: &[Bytes]) -> Reply {
    let cursor = match crate::commands::args::cursor(&a[1]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let sa = match crate::commands::keyspace::parse_scan_args(a, 2) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let n = shard.n as u64;
    let mut s = (cursor % n) as usize;
    let mut pos = (cursor / n) as usize;
    let mut keys = Vec::new();
    let sa = std::sync::Arc::new(sa);
    loop {
        let args = sa.clone();
        let res = shard
            .call(s, move |sh| {
                crate::commands::keyspace::scan_local(
                    &mut sh.store.borrow_mut().ctx(db),
                    pos,
                    &args,
                )
            })
            .await;
        let Some((next, found)) = res else {
            return Reply::err("ERR shard unavailable (shutting down)");
        };
        keys.extend(found);
        if next == 0 {
            s += 1;
            pos = 0;
            if s >= shard.n {
                return scan_reply(0, keys);
            }
        } else {
            pos = next;
        }
        if keys.len() >= sa.count {
            return scan_reply(pos as u64 * n + s as u64, keys);
        }
    }
}

fn scan_reply(cursor: u64, keys: Vec<Bytes>) -> Reply {
    Reply::Array(vec![
        Reply::bulk_str(&cursor.to_string()),
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
    ])
}

async fn client_list(shard: &Rc<Shard>, a: &[Bytes], me: u64) -> Reply {
    let mut ids: Option<Vec<u64>> = None;
    let mut i = 2;
    while i < a.len() {
        if args::is(&a[i], "type") && i + 1 < a.len() {
            let t = lower(&a[i + 1]);
            if !matches!(
                t.as_str(),
                "normal" | "master" | "replica" | "slave" | "pubsub"
            ) {
                return Reply::err(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(&a[i + 1])
                ));
            }
            if t != "normal" {
                return Reply::Verbatim(Bytes::new());
            }
            i += 2;
        } else if args::is(&a[i], "id") && i + 1 < a.len() {
            let mut v = Vec::new();
            for x in &a[i + 1..] {
                match crate::util::num::parse_i64(x) {
                    Some(n) if n > 0 => v.push(n as u64),
                    _ => return Reply::err("ERR Invalid client ID"),
                }
            }
            ids = Some(v);
            i = a.len();
        } else {
            return Reply::syntax();
        }
    }
    let lines = shard
        .broadcast(move |sh| {
            let reg = sh.net.borrow();
            let wanted = |id: &u64| ids.as_ref().is_none_or(|v| v.contains(id));
            // (id, false, line) for a connection here, (id, true, line) for one on its way to
            // another shard (`net::migrate`), which that shard may list too.
            let live = reg
                .conns
                .iter()
                .filter(|(id, _)| wanted(id))
                .filter_map(|(id, c)| {
                    c.try_borrow()
                        .ok()
                        .map(|c| (*id, false, client_line(sh, &c.client, Some(&c), me)))
                });
            let departed = reg
                .departed
                .iter()
                .filter(|(id, _)| wanted(id))
                .map(|(id, d)| (*id, true, d.line.clone()));
            live.chain(departed).collect::<Vec<_>>()
        })
        .await;
    let mut all: Vec<(u64, bool, String)> = lines.into_iter().flatten().flatten().collect();
    // A moving connection's line from the shard that has it wins over the one it left.
    all.sort();
    all.dedup_by_key(|l| l.0);
    let mut text = String::new();
    for (_, _, l) in all {
        text.push_str(&l);
        text.push('\n');
    }
    Reply::Verbatim(Bytes::from(text))
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: end a blocked command's wait, on whichever shard the
/// client is. 1 if it was blocked.
async fn client_unblock(shard: &Rc<Shard>, a: &[Bytes]) -> Reply {
    let why = match a.len() {
        3 => crate::shard::blocking::Cancel::Timeout,
        4 if args::is(&a[3], "timeout") => crate::shard::blocking::Cancel::Timeout,
        4 if args::is(&a[3], "error") => crate::shard::blocking::Cancel::Error,
        4 => return Reply::err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
        2 => return sub_arity("client", &a[1]),
        _ => {
            return Reply::err(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&a[1])
            ))
        }
    };
    let id = match args::int(&a[2]) {
        Ok(id) => id as u64,
        Err(e) => return e,
    };
    let found = shard
        .broadcast(move |sh| {
            let c = sh.net.borrow().conns.get(&id).cloned();
            c.is_some_and(|c| {
                c.try_borrow_mut()
                    .is_ok_and(|mut c| c.blocked.as_mut().is_some_and(|b| b.cancel(why)))
            })
        })
        .await;
    Reply::Int(found.into_iter().flatten().any(|x| x) as i64)
}

#[derive(Clone, Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    user: Option<String>,
    skip: Option<u64>,
    normal_only: bool,
    none: bool,
}

impl KillFilter {
    /// Whether the client `id` with these addresses and user matches (TYPE is `none`, checked
    /// before).
    fn matches(&self, id: u64, addr: &str, laddr: &str, user: &str) -> bool {
        Some(id) != self.skip
            && self.id.is_none_or(|x| x == id)
            && self.addr.as_ref().is_none_or(|a| a == addr)
            && self.laddr.as_ref().is_none_or(|a| a == laddr)
            && self.user.as_ref().is_none_or(|u| u == user)
    }
}

async fn client_kill(shard: &Rc<Shard>, my_id: u64, a: &[Bytes]) -> Reply {
    if a.len() < 3 {
        return sub_arity("client", &a[1]);
    }
    let old_form = a.len() == 3;
    let mut f = KillFilter::default();
    if old_form {
        f.addr = Some(String::from_utf8_lossy(&a[2]).into_owned());
    } else {
        if !a.len().is_multiple_of(2) {
            return Reply::syntax();
        }
        f.skip = Some(my_id);
        for pair in a[2..].chunks(2) {
            let v = &pair[1];
            match lower(&pair[0]).as_str() {
                "id" => match crate::util::num::parse_i64(v) {
                    Some(n) if n > 0 => f.id = Some(n as u64),
                    _ => return Reply::err("ERR client-id should be greater than 0"),
                },
                "addr" => f.addr = Some(String::from_utf8_lossy(v).into_owned()),
                "laddr" => f.laddr = Some(String::from_utf8_lossy(v).into_owned()),
                "type" => match lower(v).as_str() {
                    "normal" => f.normal_only = true,
                    "master" | "replica" | "slave" | "pubsub" => f.none = true,
                    _ => {
                        return Reply::err(format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(v)
                        ))
                    }
                },
                "user" => {
                    let name = String::from_utf8_lossy(v).into_owned();
                    if shard.acl.borrow().user(&name).is_none() {
                        return Reply::err(format!("ERR No such user '{name}'"));
                    }
                    f.user = Some(name);
                }
                "skipme" => match lower(v).as_str() {
                    "yes" => f.skip = Some(my_id),
                    "no" => f.skip = None,
                    _ => return Reply::syntax(),
                },
                "maxage" => {
                    if crate::util::num::parse_i64(v).is_none() {
                        return Reply::not_int();
                    }
                }
                _ => return Reply::syntax(),
            }
        }
    }
    // Client ids, counted once: a moving connection may be matched by both its shards.
    let mut ids: Vec<u64> = shard
        .broadcast(move |sh| kill_local(sh, &f, my_id))
        .await
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let killed = ids.len() as i64;
    if old_form {
        if killed == 0 {
            Reply::err("ERR No such client")
        } else {
            Reply::ok()
        }
    } else {
        Reply::Int(killed)
    }
}

/// Close this shard's connections matching the filter, and have the shards that connections
/// moved to close those of them that match; returns their ids. The caller's own connection is
/// only marked (it is closed after its reply is written).
fn kill_local(sh: &Rc<Shard>, f: &KillFilter, my_id: u64) -> Vec<u64> {
    if f.none {
        return Vec::new();
    }
    let mut killed: Vec<u64> = Vec::new();
    for (&id, d) in sh.net.borrow().departed.iter() {
        if f.matches(id, &d.addr, &d.laddr, &d.user) {
            killed.push(id);
            // Behind the connection itself on the way there.
            let only = KillFilter {
                id: Some(id),
                ..KillFilter::default()
            };
            sh.post(d.to, move |t| {
                kill_local(t, &only, my_id);
            });
        }
    }
    let matches: Vec<(u64, crate::net::ConnRef)> = sh
        .net
        .borrow()
        .conns
        .iter()
        .filter(|(&id, c)| match c.try_borrow() {
            Ok(c) => f.matches(id, &c.client.addr, &c.client.laddr, c.client.acl.name()),
            // In use (the running command's own connection): matched on its id alone.
            Err(_) => Some(id) != f.skip && f.id.is_none_or(|x| x == id),
        })
        .map(|(id, c)| (*id, c.clone()))
        .collect();
    killed.extend(matches.iter().map(|(id, _)| *id));
    for (_, c) in &matches {
        let (id, busy) = match c.try_borrow_mut() {
            Ok(mut cm) => {
                if let Some(b) = cm.blocked.as_mut() {
                    b.cancel(crate::shard::blocking::Cancel::Gone);
                }
                if cm.client.id == my_id || cm.busy {
                    // Its task is running: mark it; the task closes it when done.
                    cm.closing = true;
                    if cm.client.id != my_id {
                        cm.closed = true;
                        crate::net::sys::shutdown(cm.fd);
                    }
                    (cm.client.id, true)
                } else {
                    (cm.client.id, false)
                }
            }
            Err(_) => continue,
        };
        if !busy {
            crate::net::close_conn(sh, id);
        }
    }
    killed
}

async fn config_set(shard: &Rc<Shard>, a: &[Bytes]) -> Reply {
    if a.len() < 4 || !a.len().is_multiple_of(2) {
        return Reply::arity("config|set");
    }
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = a[2..]
        .chunks(2)
        .map(|p| (p[0].to_vec(), p[1].to_vec()))
        .collect();
    // Validate on a copy first so a bad value changes no shard.
    {
        let mut probe = shard.config.borrow().clone();
        let refs: Vec<(&[u8], &[u8])> = pairs
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        if let Err(e) = probe.set(&refs) {
            return Reply::err(e);
        }
        if let Some(r) = crate::net::tls::config_set(&probe, &refs) {
            return r;
        }
    }
    let was_on = shard.config.borrow().appendonly;
    let new_pass = pairs
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case(b"requirepass"));
    let pairs = std::sync::Arc::new(pairs);
    shard
        .broadcast(move |sh| {
            let refs: Vec<(&[u8], &[u8])> = pairs
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_slice()))
                .collect();
            let mut cfg = sh.config.borrow_mut();
            if cfg.set(&refs).is_ok() {
                sh.observe.refresh(&cfg);
                sh.global
                    .watchdog_period_ms
                    .store(cfg.watchdog_period, std::sync::atomic::Ordering::Relaxed);
                crate::logging::set_level(cfg.loglevel.name());
                let limits = cfg.parse_limits();
                sh.store.borrow_mut().limits = crate::store::StoreLimits::from_config(&cfg);
                crate::memory::evict::config_changed();
                sh.store.borrow_mut().feed.timestamps = cfg.aof_timestamp_enabled;
                crate::persistence::set_policy(sh, cfg.appendfsync.into());
                for c in sh.net.borrow().conns.values() {
                    if let Ok(mut c) = c.try_borrow_mut() {
                        c.parser.set_limits(limits);
                    }
                }
            }
        })
        .await;
    // Every shard has the new settings: each evicts down to them now (a second round, so that
    // each one's budget is figured with everyone's new limit).
    shard.broadcast(crate::memory::evict::config_applied).await;
    if new_pass {
        crate::commands::acl::sync_requirepass(shard).await;
    }
    let now_on = shard.config.borrow().appendonly;
    if now_on != was_on {
        if now_on {
            // As Redis: logging starts with a rewrite that writes a base of the current data.
            crate::persistence::compact::start(shard, true).await;
        } else {
            crate::persistence::stop_all(shard).await;
        }
    }
    Reply::ok()
}

/// Whether DEBUG may run for this client (`enable-debug-command`, "local" = loopback only).
fn debug_allowed(shard: &Shard, c: &ClientState) -> bool {
    use crate::config::EnableDebug;
    match shard.config.borrow().enable_debug_command {
        EnableDebug::Yes => true,
        EnableDebug::No => false,
        EnableDebug::Local => c
            .addr
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback()),
    }
}

async fn debug(shard: &Rc<Shard>, db: usize, a: &[Bytes], resp3: bool) -> Reply {
    let sub = lower(&a[1]);
    match sub.as_str() {
        "sleep" if a.len() == 3 => {
            let secs = match args::float(&a[2]) {
                Ok(s) if s >= 0.0 && s.is_finite() => s,
                Ok(_) => 0.0,
                Err(e) => return e,
            };
            // Clamp: Duration panics on values past u64 seconds.
            let d =
                std::time::Duration::try_from_secs_f64(secs).unwrap_or(std::time::Duration::MAX);
            glommio::timer::sleep(d).await;
            Reply::ok()
        }
        "reload" => Reply::ok(),
        "digest" if a.len() == 2 => {
            // Every shard XORs the digests of its keys per database; XOR is order-free, so the
            // merged figures are what one Redis holding all the keys computes.
            let parts = shard
                .broadcast(|sh| {
                    let st = sh.store.borrow();
                    st.dbs
                        .iter()
                        .map(|d| {
                            let mut x = [0u8; 20];
                            for (k, e) in d.iter() {
                                digest::xor(&mut x, &digest::key_digest(k, e));
                            }
                            (d.len(), x)
                        })
                        .collect::<Vec<_>>()
                })
                .await;
            let mut dbs: Vec<(usize, [u8; 20])> = Vec::new();
            for part in parts {
                let Some(part) = part else {
                    return Reply::err("ERR shard unavailable");
                };
                if dbs.len() < part.len() {
                    dbs.resize(part.len(), (0, [0u8; 20]));
                }
                for (acc, (n, x)) in dbs.iter_mut().zip(part) {
                    acc.0 += n;
                    digest::xor(&mut acc.1, &x);
                }
            }
            Reply::Simple(digest::hex(&digest::dataset_digest(&dbs)).into())
        }
        "digest-value" => {
            let mut out = Vec::with_capacity(a.len() - 2);
            for key in &a[2..] {
                let key = key.clone();
                let owner = crate::routing::key_shard(&key, shard.n);
                // As Redis: the stored value even if it is logically expired.
                let d = shard
                    .call(owner, move |sh| {
                        let st = sh.store.borrow();
                        st.dbs
                            .get(db)
                            .and_then(|d| d.get_raw(&key))
                            .map(digest::value_digest)
                            .unwrap_or([0u8; 20])
                    })
                    .await;
                match d {
                    Some(d) => out.push(Reply::Simple(digest::hex(&d).into())),
                    None => return Reply::err("ERR shard unavailable"),
                }
            }
            Reply::Array(out)
        }
        "quicklist-packed-threshold" if a.len() == 3 => {
            // Redis's quicklistisSetPackedThreshold: up to 4 GiB - 1 MiB, 0 restores 1 GiB.
            match crate::config::memtoull(&a[2]) {
                Some(sz) if sz <= (1u64 << 32) - (1 << 20) => {
                    let sz = if sz == 0 { 1 << 30 } else { sz };
                    PACKED_THRESHOLD.store(sz, std::sync::atomic::Ordering::Relaxed);
                    Reply::ok()
                }
                _ => Reply::err(
                    "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
                ),
            }
        }
        "listpack" | "quicklist" | "ziplist" if (3..=4).contains(&a.len()) => {
            let want = if sub == "quicklist" {
                "quicklist"
            } else {
                "listpack"
            };
            if sub != "quicklist" && a.len() == 4 {
                return sub_err("debug", &a[1]);
            }
            let key = a[2].clone();
            let owner = crate::routing::key_shard(&key, shard.n);
            shard
                .call(owner, move |sh| {
                    let mut st = sh.store.borrow_mut();
                    let mut ctx = st.ctx(db);
                    let Some(e) = ctx.lookup_notouch(&key) else {
                        return Reply::err("ERR no such key");
                    };
                    let enc = e.encoding();
                    if enc != want {
                        return Reply::err(if want == "quicklist" {
                            "ERR Not a quicklist encoded object."
                        } else {
                            "ERR Not a listpack encoded object."
                        });
                    }
                    crate::logging::notice(&structure_dump(&key, e));
                    Reply::Simple(if want == "quicklist" {
                        "Quicklist structure printed on stdout".into()
                    } else {
                        "Listpack structure printed on stdout".into()
                    })
                })
                .await
                .unwrap_or_else(|| Reply::err("ERR shard unavailable"))
        }
        "change-repl-id" if a.len() == 2 => {
            // shardis has no replication: no replica can hold the old ID, nothing to change.
            crate::logging::warning(
                "Changing replication IDs after receiving DEBUG change-repl-id",
            );
            Reply::ok()
        }
        "protocol" if a.len() == 3 => debug_protocol(&a[2], resp3),
        "set-disable-deny-scripts" if a.len() == 3 => {
            crate::scripting::set_deny_disabled(a[2].as_ref() != b"0");
            Reply::ok()
        }
        "set-active-expire" if a.len() == 3 => {
            let on = a[2].as_ref() != b"0";
            shard.broadcast(move |sh| sh.active_expire.set(on)).await;
            Reply::ok()
        }
        "object" if a.len() == 3 => {
            let key = a[2].clone();
            let owner = crate::routing::key_shard(&key, shard.n);
            shard
                .call(owner, move |sh| {
                    let mut st = sh.store.borrow_mut();
                    let mut ctx = st.ctx(db);
                    match ctx.lookup(&key) {
                        None => Reply::err("ERR no such key"),
                        Some(e) => Reply::Simple(
                            format!(
                                "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
                                e.encoding(),
                                e.value.mem_usage().saturating_sub(16),
                                e.lru & 0xFF_FFFF,
                                crate::store::value::lru_clock().saturating_sub(e.lru)
                            )
                            .into(),
                        ),
                    }
                })
                .await
                .unwrap_or_else(|| Reply::err("ERR shard unavailable"))
        }
        "help" => help(&[
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANGE-REPL-ID",
            "    Accepted; shardis has no replication, the replication ID stays.",
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "LISTPACK <key>",
            "    Show low level info about the listpack encoding of <key> (in the log).",
            "OBJECT <key>",
            "    Show low level info about the key and associated value.",
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type. <type> can be: string,",
            "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
            "    true, false.",
            "QUICKLIST <key> [<0|1>]",
            "    Show low level info about the quicklist encoding of <key> (in the log).",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "    Accepted and checked like Redis (up to 4GB, 0 restores the 1GB default); shardis",
            "    lists have no plain nodes, so it changes nothing else.",
            "RELOAD",
            "    Kept for compatibility: shardis has no RDB; data stays as it is.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not accessed.",
            "SLEEP <seconds>",
            "    Stop the connection for <seconds> (the server keeps serving others).",
            "HELP",
            "    Prints this help.",
        ]),
        _ => sub_err("debug", &a[1]),
    }
}

/// DEBUG QUICKLIST-PACKED-THRESHOLD's value (process-wide in Redis too).
static PACKED_THRESHOLD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 30);

/// What DEBUG LISTPACK / QUICKLIST print: Redis writes lpRepr/quicklistRepr to stdout, shardis
/// logs one line per element of the same content.
fn structure_dump(key: &[u8], e: &crate::store::value::Entry) -> String {
    use crate::store::value::Value;
    use std::fmt::Write as _;
    let mut out = format!(
        "{{key {}}} encoding {}:",
        String::from_utf8_lossy(key),
        e.encoding()
    );
    let mut item = |i: usize, what: &str, b: &[u8]| {
        let _ = write!(out, "\n  {{{i}}} {what} {}", String::from_utf8_lossy(b));
    };
    match &e.value {
        Value::Str(s) => item(0, "string", s),
        Value::List(l) => l
            .iter()
            .enumerate()
            .for_each(|(i, b)| item(i, "element", b)),
        Value::Hash(h) => h.iter().enumerate().for_each(|(i, (f, v))| {
            item(2 * i, "field", f);
            item(2 * i + 1, "value", v);
        }),
        Value::Set(s) => {
            let mut i = 0;
            s.for_each(|m| {
                item(i, "member", m);
                i += 1;
            });
        }
        Value::ZSet(z) => z.iter().enumerate().for_each(|(i, (m, sc))| {
            item(2 * i, "member", m);
            item(
                2 * i + 1,
                "score",
                crate::util::num::fmt_double(sc).as_bytes(),
            );
        }),
        Value::Stream(s) => item(0, "stream entries", s.len().to_string().as_bytes()),
    }
    out
}

/// DEBUG PROTOCOL <type>: one reply of each RESP type, as Redis's debug.c writes them.
// Redis's own test value is the literal 3.141, not pi.
#[allow(clippy::approx_constant)]
fn debug_protocol(name: &[u8], resp3: bool) -> Reply {
    let bulk = |s: &'static str| Reply::Bulk(Bytes::from_static(s.as_bytes()));
    match lower(name).as_str() {
        "string" => bulk("Hello World"),
        "integer" => Reply::Int(12345),
        "double" => Reply::Double(3.141),
        "bignum" if resp3 => Reply::Raw(Bytes::from_static(
            b"(1234567999999999999999999999999999999\r\n",
        )),
        "bignum" => bulk("1234567999999999999999999999999999999"),
        "null" => Reply::Nil,
        "array" => Reply::Array((0..3).map(Reply::Int).collect()),
        "set" => Reply::Set((0..3).map(Reply::Int).collect()),
        "map" => Reply::Map((0..3).map(|j| (Reply::Int(j), Reply::Bool(j == 1))).collect()),
        // An attribute is not a reply: the real one follows it.
        "attrib" if resp3 => Reply::Raw(Bytes::from_static(
            b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n\
              $39\r\nSome real reply following the attribute\r\n",
        )),
        "attrib" => bulk("Some real reply following the attribute"),
        "push" if resp3 => Reply::Raw(Bytes::from_static(
            b">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n\
              $40\r\nSome real reply following the push reply\r\n",
        )),
        "push" => Reply::err("ERR RESP2 is not supported by this command"),
        "true" => Reply::Bool(true),
        "false" => Reply::Bool(false),
        "verbatim" => Reply::Verbatim(Bytes::from_static(b"This is a verbatim\nstring")),
        _ => Reply::err("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"),
    }
}

/// Per-shard figures INFO merges.
#[derive(Default)]
struct ShardInfo {
    stats: crate::metrics::ServerStats,
    keys: crate::store::KeyStats,
    dirty: u64,
    dbs: Vec<(usize, usize)>,
    clients: usize,
    /// Blocked clients, those of them with a timeout, and keys with waiters.
    blocked: (usize, usize, usize),
    aof: AofInfo,
    rates: (f64, f64, f64),
}

/// One shard's AOF figures for INFO persistence.
#[derive(Default, Clone)]
struct AofInfo {
    enabled: bool,
    rewriting: bool,
    last_rewrite_ok: bool,
    last_rewrite_secs: i64,
    rewrites: u64,
    failed: Option<String>,
    current: u64,
    base: u64,
    buffered: u64,
}

/// This shard's blocked clients, those of them with a timeout, and its keys with waiters.
fn blocked_clients(sh: &Shard) -> (usize, usize, usize) {
    let reg = sh.net.borrow();
    let mut n = (0, 0, sh.blocking.borrow().keys());
    for c in reg.conns.values() {
        if let Ok(c) = c.try_borrow() {
            if let Some(b) = &c.blocked {
                n.0 += 1;
                n.1 += b.timeout as usize;
            }
        }
    }
    n
}

async fn info(shard: &Rc<Shard>, a: &[Bytes]) -> Reply {
    let mut sections: Vec<String> = a[1..].iter().map(|s| lower(s)).collect();
    if sections.is_empty() {
        sections.push("default".into());
    }
    let has = |name: &str| {
        sections.iter().any(|s| {
            // No module adds sections, so "all" is "everything".
            s == name
                || s == "everything"
                || s == "all"
                || (s == "default" && !matches!(name, "commandstats" | "latencystats"))
        })
    };
    let memory = has("memory").then(crate::memory::report::measure);
    let parts = shard
        .broadcast(|sh| ShardInfo {
            stats: sh.stats.borrow().clone(),
            keys: sh.store.borrow().stats.clone(),
            dirty: {
                let st = sh.store.borrow();
                st.dirty.saturating_sub(st.saved_dirty)
            },
            dbs: sh
                .store
                .borrow()
                .dbs
                .iter()
                .map(|d| (d.len(), d.expires_len()))
                .collect(),
            clients: sh.net.borrow().conns.len(),
            blocked: blocked_clients(sh),
            aof: {
                let a = sh.aof.borrow();
                AofInfo {
                    enabled: a.running,
                    rewriting: a.rewrite_in_progress,
                    last_rewrite_ok: a.last_rewrite_ok || a.rewrites == 0,
                    last_rewrite_secs: if a.rewrites == 0 {
                        -1
                    } else {
                        a.last_rewrite_secs
                    },
                    rewrites: a.rewrites,
                    failed: a.failed.clone(),
                    current: a.current_size,
                    base: a.base_size,
                    buffered: sh.store.borrow().feed.buf.len() as u64,
                }
            },
            rates: sh.observe.rates.get().now(),
        })
        .await;
    let mut total = ShardInfo::default();
    total.aof.last_rewrite_ok = true;
    total.aof.last_rewrite_secs = -1;
    let mut shard_lines = String::new();
    let mut rates = (0.0, 0.0, 0.0);
    for (i, p) in parts.into_iter().enumerate() {
        let Some(p) = p else { continue };
        let line = crate::observe::info::ShardLine {
            keys: p.dbs.iter().map(|d| d.0).sum(),
            expires: p.dbs.iter().map(|d| d.1).sum(),
            commands: p.stats.total_commands_processed,
            ops_per_sec: p.rates.0,
            clients: p.clients,
            blocked: p.blocked.0,
            net_input: p.stats.net_input_bytes,
            net_output: p.stats.net_output_bytes,
            aof_size: p.aof.current,
            moved_in: p.stats.connections_moved_in,
        };
        shard_lines.push_str(&line.render(i));
        rates.0 += p.rates.0;
        rates.1 += p.rates.1;
        rates.2 += p.rates.2;
        total.stats.merge(&p.stats);
        total.keys.expired_keys += p.keys.expired_keys;
        total.keys.keyspace_hits += p.keys.keyspace_hits;
        total.keys.keyspace_misses += p.keys.keyspace_misses;
        total.keys.expired_time_cap_reached_count += p.keys.expired_time_cap_reached_count;
        total.keys.evicted_keys += p.keys.evicted_keys;
        total.dirty += p.dirty;
        total.clients += p.clients;
        total.blocked.0 += p.blocked.0;
        total.blocked.1 += p.blocked.1;
        total.blocked.2 += p.blocked.2;
        let (a, t) = (&p.aof, &mut total.aof);
        t.enabled |= a.enabled;
        t.rewriting |= a.rewriting;
        t.last_rewrite_secs = t.last_rewrite_secs.max(a.last_rewrite_secs);
        t.rewrites = t.rewrites.max(a.rewrites);
        if !a.last_rewrite_ok {
            t.last_rewrite_ok = false;
        }
        if t.failed.is_none() {
            t.failed = a.failed.clone();
        }
        t.current += a.current;
        t.base += a.base;
        t.buffered += a.buffered;
        if total.dbs.len() < p.dbs.len() {
            total.dbs.resize(p.dbs.len(), (0, 0));
        }
        for (i, (k, e)) in p.dbs.into_iter().enumerate() {
            total.dbs[i].0 += k;
            total.dbs[i].1 += e;
        }
    }
    let cfg = shard.config.borrow().clone();
    let g = &shard.global;
    let mut out = String::new();
    let mut section = |name: &str, title: &str, body: String| {
        if has(name) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            out.push_str("# ");
            out.push_str(title);
            out.push_str("\r\n");
            out.push_str(&body);
        }
    };
    let uptime = g.started.elapsed().as_secs();
    section("server", "Server", format!(
        "redis_version:{REDIS_VERSION}\r\nshardis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\nshards:{}\r\n",
        env!("CARGO_PKG_VERSION"),
        os_name(),
        std::process::id(),
        g.run_id,
        g.port,
        crate::util::now_us(),
        uptime,
        uptime / 86400,
        cfg.hz,
        cfg.hz,
        crate::store::value::lru_clock() & 0xFF_FFFF,
        g.executable,
        g.config_file.clone().unwrap_or_default(),
        shard.n,
    ));
    section("clients", "Clients", format!(
        "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:{}\r\ntotal_blocking_keys:{}\r\n",
        total.clients, cfg.maxclients, total.blocked.0, total.blocked.1, total.blocked.2
    ));
    if let Some(measured) = memory {
        let keys = total.dbs.iter().map(|d| d.0 as u64).sum();
        let expires = total.dbs.iter().map(|d| d.1 as u64).sum();
        section(
            "memory",
            "Memory",
            crate::memory::report::info_memory(&cfg, measured, keys, expires),
        );
    }
    let aof = &total.aof;
    let loading = g.loading.load(std::sync::atomic::Ordering::Relaxed);
    let mut persistence = format!(
        "loading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\nrdb_last_bgsave_time_sec:-1\r\nrdb_current_bgsave_time_sec:-1\r\naof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_last_write_status:{}\r\n",
        loading as u8, total.dirty, g.last_save_unix.load(std::sync::atomic::Ordering::Relaxed),
        aof.enabled as u8, aof.rewriting as u8,
        aof.last_rewrite_secs, if aof.last_rewrite_ok { "ok" } else { "err" }, aof.rewrites,
        if aof.failed.is_some() { "err" } else { "ok" }
    );
    if aof.enabled {
        persistence.push_str(&format!(
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
            aof.current, aof.base, aof.buffered
        ));
    }
    persistence.push_str("rdb_saves:0\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:0\r\nrdb_last_load_keys_loaded:0\r\naof_rewrites_consecutive_failures:0\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\ncurrent_cow_size_age:0\r\n");
    section("persistence", "Persistence", persistence);
    let st = &total.stats;
    section("stats", "Stats", format!(
        "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nsync_full:0\r\nsync_partial_ok:0\r\nsync_partial_err:0\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:{}\r\nevicted_keys:{}\r\nevicted_clients:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\ntotal_active_defrag_time:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\n{}",
        st.total_connections_received, st.total_commands_processed, rates.0.round() as u64, st.net_input_bytes, st.net_output_bytes, st.rejected_connections,
        total.keys.expired_keys, total.keys.expired_time_cap_reached_count, total.keys.evicted_keys, total.keys.keyspace_hits, total.keys.keyspace_misses,
        // Every shard knows all shards' subscriptions (as PUBSUB NUMPAT answers).
        shard.pubsub.borrow().names(crate::shard::pubsub::Space::Channel, None).len(),
        shard.pubsub.borrow().names(crate::shard::pubsub::Space::Pattern, None).len(),
        st.total_error_replies,
        stats_extra(rates)
    ));
    section("replication", "Replication", format!(
        "role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
        g.run_id
    ));
    let (u, s) = crate::metrics::cpu_times();
    section("cpu", "CPU", format!(
        "used_cpu_sys:{s:.6}\r\nused_cpu_user:{u:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n{}",
        main_thread_cpu()
    ));
    section("modules", "Modules", String::new());
    let mut cs: Vec<_> = st.commands.iter().collect();
    cs.sort_by_key(|(k, _)| **k);
    let mut body = String::new();
    for (name, c) in cs {
        let per = if c.calls > 0 {
            c.usec as f64 / c.calls as f64
        } else {
            0.0
        };
        body.push_str(&format!(
            "cmdstat_{name}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
            c.calls, c.usec, c.rejected, c.failed
        ));
    }
    section("commandstats", "Commandstats", body);
    section(
        "errorstats",
        "Errorstats",
        crate::observe::info::errorstats(st),
    );
    let pct = cfg.latency_tracking_info_percentiles.0.clone();
    section(
        "latencystats",
        "Latencystats",
        crate::observe::info::latencystats(st, &pct),
    );
    section("cluster", "Cluster", "cluster_enabled:0\r\n".into());
    let mut body = String::new();
    for (i, (k, e)) in total.dbs.iter().enumerate() {
        if *k > 0 {
            body.push_str(&format!("db{i}:keys={k},expires={e},avg_ttl=0\r\n"));
        }
    }
    section("keyspace", "Keyspace", body);
    section("shards", "Shards", shard_lines);
    Reply::Verbatim(Bytes::from(out))
}

/// Redis 7.0's Stats fields that follow `dump_payload_sanitizations` or that shardis has no
/// counterpart for (replication, defrag, tracking, io threads).
fn stats_extra(rates: (f64, f64, f64)) -> String {
    format!(
        "total_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nexpire_cycle_cpu_milliseconds:0\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\npubsubshard_channels:0\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:0\r\ntracking_total_items:0\r\ntracking_total_prefixes:0\r\nunexpected_error_replies:0\r\ntotal_reads_processed:0\r\ntotal_writes_processed:0\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
        rates.1 / 1024.0,
        rates.2 / 1024.0,
    )
}

/// `used_cpu_*_main_thread`: the CPU time of the shard thread answering.
fn main_thread_cpu() -> String {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    format!(
        "used_cpu_sys_main_thread:{:.6}\r\nused_cpu_user_main_thread:{:.6}\r\n",
        t(ru.ru_stime),
        t(ru.ru_utime)
    )
}

pub fn human(n: u64) -> String {
    let f = n as f64;
    if f < 1024.0 {
        format!("{n}B")
    } else if f < 1024.0 * 1024.0 {
        format!("{:.2}K", f / 1024.0)
    } else if f < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", f / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", f / 1024.0 / 1024.0 / 1024.0)
    }
}

fn os_name() -> String {
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return "Linux".into();
    }
    let f = |s: &[libc::c_char]| {
        unsafe { std::ffi::CStr::from_ptr(s.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    format!("{} {} {}", f(&u.sysname), f(&u.release), f(&u.machine))
}

pub fn total_system_memory() -> u64 {
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) }.max(0) as u64;
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    pages * size
}
