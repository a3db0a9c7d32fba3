//! The ACL command. Reads (GETUSER, LIST, USERS, WHOAMI, CAT, DRYRUN, GENPASS) use this
//! shard's copy; changes (SETUSER, DELUSER, LOAD) are made on shard 0 and installed on every
//! shard before the reply (see `crate::acl`); LOG reads shard 0's log.

use super::{CommandSpec, Kind};
use crate::acl::{self, catalog, Users};
use crate::net::conn::Conn;
use crate::net::ConnRef;
use crate::protocol::reply::Reply;
use crate::shard::Shard;
use bytes::Bytes;
use std::rc::Rc;
use std::sync::Arc;

pub const COMMANDS: &[CommandSpec] =
    &[
        CommandSpec::new("acl", -2, "sentinel", (0, 0, 0), Kind::Conn).doc(
            "server",
            "6.0.0",
            "A container for Access List Control commands",
        ),
    ];

/// (subcommand, Redis arity counting "acl" and the subcommand).
const ARITY: &[(&str, i32)] = &[
    ("cat", -2),
    ("deluser", -3),
    ("dryrun", -4),
    ("genpass", -2),
    ("getuser", 3),
    ("help", 2),
    ("list", 2),
    ("load", 2),
    ("log", -2),
    ("save", 2),
    ("setuser", -3),
    ("users", 2),
    ("whoami", 2),
];

const NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

fn sub_name(a: &[Bytes]) -> String {
    String::from_utf8_lossy(&a[1]).to_ascii_lowercase()
}

/// The subcommand's arity error or unknown-subcommand error, if any.
fn check_sub(a: &[Bytes]) -> Option<Reply> {
    let sub = sub_name(a);
    // Redis's handler takes at most one argument for these and answers more as unknown.
    if matches!(sub.as_str(), "cat" | "genpass" | "log") && a.len() > 3 {
        return Some(Reply::err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
            String::from_utf8_lossy(&a[1])
        )));
    }
    match ARITY.iter().find(|(n, _)| *n == sub) {
        None => Some(Reply::err(format!(
            "ERR unknown subcommand '{}'. Try ACL HELP.",
            String::from_utf8_lossy(&a[1])
        ))),
        Some((_, ar)) => {
            let ok = if *ar >= 0 {
                a.len() == *ar as usize
            } else {
                a.len() >= (-ar) as usize
            };
            (!ok).then(|| {
                Reply::err(format!(
                    "ERR wrong number of arguments for 'acl|{sub}' command"
                ))
            })
        }
    }
}

/// The subcommands answered from this shard's copy; None for the others (then `run`).
pub fn sync(shard: &Rc<Shard>, c: &mut Conn, a: &[Bytes]) -> Option<Reply> {
    if let Some(e) = check_sub(a) {
        return Some(e);
    }
    let acl = shard.acl.borrow();
    Some(match sub_name(a).as_str() {
        "whoami" => Reply::bulk_str(c.client.acl.name()),
        "users" => Reply::Array(acl.users.keys().map(|n| Reply::bulk_str(n)).collect()),
        "list" => Reply::Array(
            acl.users
                .values()
                .map(|u| Reply::bulk_str(&format!("user {} {}", u.name, u.describe())))
                .collect(),
        ),
        "getuser" => match acl.user(&String::from_utf8_lossy(&a[2])) {
            None => Reply::Nil,
            Some(u) => getuser(u),
        },
        "cat" => cat(a),
        "genpass" => genpass(a),
        "dryrun" => dryrun(&acl.users, a),
        "help" => help(),
        _ => return None,
    })
}

/// The subcommands that change the ACL or read the log.
pub async fn run(shard: &Rc<Shard>, conn: &ConnRef, a: &[Bytes]) -> Reply {
    if let Some(e) = check_sub(a) {
        return e;
    }
    match sub_name(a).as_str() {
        "setuser" => {
            let name = String::from_utf8_lossy(&a[2]).into_owned();
            if !acl::valid_username(&name) {
                return Reply::err("ERR Usernames can't contain spaces or null characters");
            }
            let given: Vec<Vec<u8>> = a[3..].iter().map(|r| r.to_vec()).collect();
            let rules = match acl::user::merge_selector_args(&given) {
                Ok(r) => r,
                Err(at) => {
                    return Reply::err(format!(
                        "ERR Unmatched parenthesis in acl selector starting at '{}'.",
                        String::from_utf8_lossy(&at)
                    ))
                }
            };
            change(shard, move |users, cfg, _| {
                let mut u = users.get(&name).map_or_else(
                    || {
                        let mut u = acl::User::new(&name);
                        if cfg.acl_pubsub_default_all {
                            let _ = u.apply(b"allchannels");
                        }
                        u
                    },
                    |u| (**u).clone(),
                );
                let refs: Vec<&[u8]> = rules.iter().map(Vec::as_slice).collect();
                u.apply_all(&refs).map_err(|e| format!("ERR {e}"))?;
                users.insert(name, Arc::new(u));
                Ok(Reply::ok())
            })
            .await
        }
        "deluser" => {
            let names: Vec<String> = a[2..]
                .iter()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect();
            if names.iter().any(|n| n == "default") {
                return Reply::err("ERR The 'default' user cannot be removed");
            }
            change(shard, move |users, _, _| {
                let n = names.iter().filter(|n| users.remove(*n).is_some()).count();
                Ok(Reply::Int(n as i64))
            })
            .await
        }
        "load" => {
            change(shard, |users, cfg, epoch| {
                *epoch += 1;
                let Some(path) = cfg.aclfile.clone() else {
                    return Err(NO_ACLFILE.into());
                };
                acl::file::load(&path, users, cfg).map_err(|e| format!("ERR {e}"))?;
                Ok(Reply::ok())
            })
            .await
        }
        "save" => {
            let Some(path) = shard.config.borrow().aclfile.clone() else {
                return Reply::err(NO_ACLFILE);
            };
            let users = shard.acl.borrow().users.clone();
            match acl::file::save(&path, &users) {
                Ok(()) => Reply::ok(),
                Err(e) => {
                    crate::logging::warning(&format!("Opening temp ACL file for ACL SAVE: {e}"));
                    Reply::err("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
                }
            }
        }
        "log" => log(shard, a).await,
        _ => {
            // Answered by `sync`, which the connection layer tries first.
            let mut c = conn.borrow_mut();
            sync(shard, &mut c, a).unwrap_or_else(Reply::syntax)
        }
    }
}

/// Make a change on shard 0 (the authoritative copy), then install the result everywhere
/// before replying.
async fn change<F>(shard: &Rc<Shard>, f: F) -> Reply
where
    F: FnOnce(&mut Users, &crate::config::Config, &mut u64) -> Result<Reply, String>
        + Send
        + 'static,
{
    let done = shard
        .call(0, move |sh| {
            let cfg = sh.config.borrow();
            let mut st = sh.acl.borrow_mut();
            let mut users = (*st.users).clone();
            let mut epoch = st.epoch;
            let r = f(&mut users, &cfg, &mut epoch)?;
            let v = st.version + 1;
            st.install(Arc::new(users), v, epoch);
            Ok::<_, String>((r, st.users.clone(), v, epoch))
        })
        .await;
    match done {
        None => Reply::err("ERR shard unavailable (shutting down)"),
        Some(Err(e)) => Reply::err(e),
        Some(Ok((r, users, v, epoch))) => {
            shard
                .broadcast(move |sh| sh.acl.borrow_mut().install(users.clone(), v, epoch))
                .await;
            r
        }
    }
}

/// CONFIG SET requirepass: the default user's passwords follow it, as in Redis.
pub async fn sync_requirepass(shard: &Rc<Shard>) {
    change(shard, |users, cfg, _| {
        let mut d = users
            .get("default")
            .map_or_else(acl::User::default_user, |u| (**u).clone());
        acl::set_requirepass(&mut d, cfg.requirepass.as_deref());
        users.insert("default".into(), Arc::new(d));
        Ok(Reply::ok())
    })
    .await;
}

fn selector_map(sel: &acl::selector::Selector) -> Vec<(Reply, Reply)> {
    let s = Reply::bulk_str;
    vec![
        (s("commands"), s(&sel.describe_commands())),
        (s("keys"), s(&sel.describe_keys())),
        (s("channels"), s(&sel.describe_channels())),
    ]
}

fn getuser(u: &acl::User) -> Reply {
    let s = Reply::bulk_str;
    let mut m = vec![
        (
            s("flags"),
            Reply::Array(u.flags().into_iter().map(s).collect()),
        ),
        (
            s("passwords"),
            Reply::Array(u.password_hexes().iter().map(|h| s(h)).collect()),
        ),
    ];
    m.extend(selector_map(&u.root));
    m.push((
        s("selectors"),
        Reply::Array(
            u.selectors
                .iter()
                .map(|sel| Reply::Map(selector_map(sel)))
                .collect(),
        ),
    ));
    Reply::Map(m)
}

fn cat(a: &[Bytes]) -> Reply {
    if a.len() > 3 {
        return Reply::err("ERR wrong number of arguments for 'acl|cat' command");
    }
    let Some(name) = a.get(2) else {
        return Reply::Array(
            catalog::CATEGORY_NAMES
                .iter()
                .map(|c| Reply::bulk_str(c))
                .collect(),
        );
    };
    let name = String::from_utf8_lossy(name);
    match catalog::category_bit(&name) {
        None => Reply::err(format!("ERR Unknown category '{name}'")),
        Some(bit) => Reply::Array(
            catalog::catalog()
                .in_category(bit)
                .into_iter()
                .map(Reply::bulk_str)
                .collect(),
        ),
    }
}

fn genpass(a: &[Bytes]) -> Reply {
    let bits = match a.get(2) {
        None => 256,
        Some(b) => match crate::util::num::parse_i64(b) {
            Some(n) if (1..=4096).contains(&n) => n as usize,
            _ => return Reply::err("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"),
        },
    };
    let chars = bits.div_ceil(4);
    let mut buf = vec![0u8; chars.div_ceil(2)];
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n <= 0 {
            return Reply::err("ERR can't read random bytes");
        }
        filled += n as usize;
    }
    let mut hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(chars);
    Reply::bulk_str(&hex)
}

fn dryrun(users: &Users, a: &[Bytes]) -> Reply {
    let name = String::from_utf8_lossy(&a[2]);
    let Some(u) = users.get(name.as_ref()) else {
        return Reply::err(format!("ERR User '{name}' not found"));
    };
    let args = &a[3..];
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let verdict = match super::lookup(&args[0]) {
        Some(spec) if !spec.arity_ok(args.len()) => return Reply::arity(spec.name),
        Some(spec) => u.check(spec, args),
        // A Redis command shardis lacks: its command permission can still be told.
        None if catalog::catalog().lookup(&name).is_some() => u.check_by_name(&name, None, args),
        None => {
            return Reply::err(format!(
                "ERR Command '{}' not found",
                String::from_utf8_lossy(&args[0])
            ))
        }
    };
    match verdict {
        Ok(()) => Reply::ok(),
        Err(acl::Denied::Command(c)) => Reply::bulk_str(&format!(
            "This user has no permissions to run the '{c}' command"
        )),
        Err(acl::Denied::Key(_, k)) => Reply::bulk_str(&format!(
            "This user has no permissions to access the '{}' key",
            String::from_utf8_lossy(&k)
        )),
    }
}

async fn log(shard: &Rc<Shard>, a: &[Bytes]) -> Reply {
    let mut count = 10usize;
    let mut reset = false;
    if let Some(arg) = a.get(2) {
        if a.len() > 3 {
            return Reply::syntax();
        }
        if arg.eq_ignore_ascii_case(b"reset") {
            reset = true;
        } else {
            match crate::util::num::parse_i64(arg) {
                Some(n) if n >= 0 => count = n as usize,
                Some(_) => return Reply::err("ERR value is out of range, must be positive"),
                None => return Reply::not_int(),
            }
        }
    }
    // Denials still in other shards' outboxes go first (see `gate::flush_log`); the inbox of
    // shard 0 is one queue, so they land before the read below.
    shard.broadcast(crate::acl::gate::flush_log).await;
    shard
        .call(0, move |sh| {
            let mut st = sh.acl.borrow_mut();
            if reset {
                st.log.reset();
                Reply::ok()
            } else {
                st.log.reply(count)
            }
        })
        .await
        .unwrap_or_else(|| Reply::err("ERR shard unavailable (shutting down)"))
}

fn help() -> Reply {
    let lines = [
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::simple(l)).collect())
}
