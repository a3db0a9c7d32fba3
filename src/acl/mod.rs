//! Access control: ACL users, AUTH, and the per-command permission check.
//!
//! ACL state is server-wide but shards share nothing: each shard keeps a copy (`AclState` on
//! the shard) of an immutable snapshot of the users. Shard 0 owns the authoritative copy: a
//! change (ACL SETUSER/DELUSER/LOAD, CONFIG SET requirepass) is applied there, gets the next
//! version, and the new snapshot is installed on every shard before the command replies, so
//! the next command anywhere sees it. A shard ignores a snapshot older than the one it has,
//! so concurrent changes end in the same state everywhere.
//!
//! The check costs the common case (a user with every permission) one version compare and one
//! flag: a client caches its user's snapshot and whether it is unrestricted, refreshed when the
//! shard's version moves.

pub mod catalog;
pub mod categories;
pub mod file;
pub mod gate;
pub mod keys;
pub mod keyspecs;
pub mod log;
pub mod rename;
pub mod selector;
pub mod user;

use std::collections::BTreeMap;
use std::sync::Arc;
pub use user::{Denied, User};

/// Users by name (sorted, as ACL USERS lists them).
pub type Users = BTreeMap<String, Arc<User>>;

/// One shard's copy of the ACL.
pub struct AclState {
    pub users: Arc<Users>,
    pub version: u64,
    /// Bumped by ACL LOAD, which (as in Redis) replaces every user and so disconnects every
    /// client authenticated before it.
    pub epoch: u64,
    /// ACL LOG (kept on shard 0 only).
    pub log: log::AclLog,
    /// This shard's entries on their way to shard 0's log: a flood of denials becomes a few
    /// grouped entries and one message, not a message each.
    pub outbox: log::AclLog,
}

impl AclState {
    pub fn new(users: Users) -> AclState {
        AclState {
            users: Arc::new(users),
            version: 1,
            epoch: 0,
            log: log::AclLog::default(),
            outbox: log::AclLog::default(),
        }
    }

    /// Install a newer snapshot (older ones, overtaken in flight, are ignored).
    pub fn install(&mut self, users: Arc<Users>, version: u64, epoch: u64) {
        if version > self.version {
            self.users = users;
            self.version = version;
            self.epoch = epoch;
        }
    }

    pub fn user(&self, name: &str) -> Option<&Arc<User>> {
        self.users.get(name)
    }

    /// New connections start authenticated as `default` when it is on and has no password.
    pub fn default_open(&self) -> bool {
        self.users
            .get("default")
            .is_some_and(|u| u.enabled && u.nopass)
    }
}

/// The ACL side of a client: who it is, and a cached view of that user's permissions.
#[derive(Clone)]
pub struct ClientAcl {
    pub user: Arc<User>,
    pub version: u64,
    /// The ACL LOAD epoch it authenticated in; None until its first command.
    pub epoch: Option<u64>,
    /// The user may run every command on every key: nothing to check per command.
    pub unrestricted: bool,
}

impl Default for ClientAcl {
    fn default() -> ClientAcl {
        let user = Arc::new(User::default_user());
        ClientAcl {
            unrestricted: user.unrestricted(),
            user,
            // Compared with the shard's version (from 1) before the first command.
            version: 0,
            epoch: None,
        }
    }
}

impl ClientAcl {
    pub fn name(&self) -> &str {
        &self.user.name
    }

    /// Bring the cached user up to the shard's version. False if the user is gone (the client
    /// is then disconnected, as Redis does for a deleted user's clients).
    #[inline]
    pub fn refresh(&mut self, acl: &AclState) -> bool {
        if self.version == acl.version {
            return true;
        }
        if *self.epoch.get_or_insert(acl.epoch) != acl.epoch {
            return false;
        }
        match acl.user(&self.user.name) {
            Some(u) => {
                self.user = u.clone();
                self.unrestricted = u.unrestricted();
                self.version = acl.version;
                true
            }
            None => false,
        }
    }

    pub fn set_user(&mut self, user: Arc<User>, acl: &AclState) {
        self.unrestricted = user.unrestricted();
        self.user = user;
        self.version = acl.version;
        self.epoch = Some(acl.epoch);
    }
}

/// The users a server starts with: `default` (shaped by `requirepass`), the config file's
/// `user` lines, or the `aclfile` (Redis refuses both at once).
pub fn initial_users(cfg: &crate::config::Config) -> Result<Users, String> {
    if cfg.aclfile.is_some() && !cfg.acl_users.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same time setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    let mut users = Users::new();
    users.insert("default".into(), Arc::new(default_with_requirepass(cfg)));
    match &cfg.aclfile {
        Some(path) => file::load(path, &mut users, cfg)?,
        None => {
            for line in &cfg.acl_users {
                add_user_line(&mut users, line, true)?;
            }
        }
    }
    Ok(users)
}

/// The default user as `requirepass` makes it (Redis's ACLUpdateDefaultUserPassword).
pub fn default_with_requirepass(cfg: &crate::config::Config) -> User {
    let mut u = User::default_user();
    set_requirepass(&mut u, cfg.requirepass.as_deref());
    u
}

pub fn set_requirepass(u: &mut User, pass: Option<&[u8]>) {
    let _ = u.apply(b"resetpass");
    match pass {
        Some(p) => {
            let mut rule = b">".to_vec();
            rule.extend_from_slice(p);
            let _ = u.apply(&rule);
        }
        None => {
            let _ = u.apply(b"nopass");
        }
    }
}

/// A `user <name> <rules…>` line (config file or ACL file). `unique`: a second definition of
/// the same user is an error, as in Redis.
pub fn add_user_line(users: &mut Users, words: &[Vec<u8>], unique: bool) -> Result<(), String> {
    let Some((name, rules)) = words.split_first() else {
        return Err("Bad directive or wrong number of arguments".into());
    };
    let name = String::from_utf8_lossy(name).into_owned();
    if !valid_username(&name) {
        return Err("Usernames can't contain spaces or null characters".into());
    }
    if unique && seen_in_config(users, &name) {
        return Err("Duplicate user found. A user can only be defined once in config files".into());
    }
    let mut u = if name == "default" {
        let mut d = User::new("default");
        // A declared default user is built from scratch, as Redis does ("reset" first).
        let _ = d.apply(b"reset");
        d
    } else {
        User::new(&name)
    };
    let rules = user::merge_selector_args(rules)
        .map_err(|_| "Unmatched parenthesis in selector definition.".to_string())?;
    let refs: Vec<&[u8]> = rules.iter().map(Vec::as_slice).collect();
    u.apply_all(&refs)?;
    u.declared = true;
    users.insert(name, Arc::new(u));
    Ok(())
}

/// Whether a config file already declared this user (the built-in default user does not count).
fn seen_in_config(users: &Users, name: &str) -> bool {
    users
        .get(name)
        .is_some_and(|u| name != "default" || u.declared)
}

/// An error about a rule, with a password rule's password blanked out (`'>…'`).
pub fn redact(e: &str) -> String {
    match e.split_once("modifier '") {
        Some((head, rest)) if rest.starts_with(['>', '<']) => {
            let tail = rest.split_once("': ").map_or("", |(_, t)| t);
            format!("{head}modifier '{}…': {tail}", &rest[..1])
        }
        _ => e.to_string(),
    }
}

pub fn valid_username(name: &str) -> bool {
    !name.is_empty() && !name.bytes().any(|b| b == b' ' || b == 0)
}

/// Check a `user` config line without keeping it (config file errors are fatal at load).
pub fn validate_user_line(words: &[Vec<u8>]) -> Result<(), String> {
    let mut scratch = Users::new();
    add_user_line(&mut scratch, words, false)
}

/// AUTH: the user, if the credentials are right and the user is enabled.
pub fn authenticate(acl: &AclState, user: &[u8], pass: &[u8]) -> Option<Arc<User>> {
    let u = acl.user(std::str::from_utf8(user).ok()?)?;
    u.password_ok(pass).then(|| u.clone())
}
