//! One ACL user: flags, password hashes and the permissions its rules build (Redis's rule
//! syntax, Redis's semantics and error texts), its description for ACL LIST / GETUSER, and the
//! per-command permission check.

use super::catalog::{catalog, category_bit, CATEGORY_NAMES};
use crate::util::glob::glob_match;
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// A key pattern and what it allows (`~p` both, `%R~p` reads, `%W~p` writes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub read: bool,
    pub write: bool,
}

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    /// (flag, set): Redis keeps "sanitize-payload" / "skip-sanitize-payload" as given.
    pub sanitize: Option<bool>,
    /// SHA-256 digests of the passwords, in the order added.
    pub passwords: Vec<[u8; 32]>,
    /// Bit per catalog id.
    allowed: Vec<u64>,
    /// Every command allowed (`allcommands`, until one is taken away).
    all_commands: bool,
    /// Redis's reserved bit: commands added later are allowed (`+@all` was the base).
    future: bool,
    /// Allowed first arguments of otherwise blocked commands (`+select|0`), by catalog id.
    first_args: Vec<(usize, Vec<String>)>,
    pub keys: Vec<KeyPattern>,
    pub all_keys: bool,
    pub channels: Vec<Vec<u8>>,
    pub all_channels: bool,
    /// Declared by a `user` line (config or ACL file), for the duplicate check.
    pub declared: bool,
}

/// Why a command was refused (ACL LOG's reason and object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    Command(String),
    Key(Vec<u8>),
}

impl Denied {
    pub fn message(&self) -> String {
        match self {
            Denied::Command(c) => {
                format!("NOPERM this user has no permissions to run the '{c}' command")
            }
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .to_string()
            }
        }
    }
}

pub fn hash_password(p: &[u8]) -> [u8; 32] {
    Sha256::digest(p).into()
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `#<hash>` rule's hash: exactly 64 lower-case hex digits.
fn parse_hash(h: &[u8]) -> Result<[u8; 32], String> {
    let bad = || {
        "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters".to_string()
    };
    if h.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in h.chunks(2).enumerate() {
        let d = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        match (d(pair[0]), d(pair[1])) {
            (Some(a), Some(b)) => out[i] = a << 4 | b,
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

const UNKNOWN: &str = "Unknown command or category name in ACL";
const SYNTAX: &str = "Syntax error";

impl User {
    /// A new user as ACL SETUSER creates it: off, no passwords, no permissions.
    pub fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            allowed: vec![0; catalog().len().div_ceil(64)],
            all_commands: false,
            future: false,
            first_args: Vec::new(),
            keys: Vec::new(),
            all_keys: false,
            channels: Vec::new(),
            all_channels: false,
            declared: false,
        }
    }

    /// Redis's default user: everything, no password.
    pub fn default_user() -> User {
        let mut u = User::new("default");
        for r in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = u.apply(r.as_bytes());
        }
        u
    }

    /// Apply rules in order; on error nothing is changed and the error names the rule.
    pub fn apply_all(&mut self, rules: &[&[u8]]) -> Result<(), String> {
        let mut next = self.clone();
        for r in rules {
            next.apply(r).map_err(|e| {
                format!(
                    "Error in ACL SETUSER modifier '{}': {e}",
                    String::from_utf8_lossy(r)
                )
            })?;
        }
        *self = next;
        Ok(())
    }

    /// One rule (Redis's ACLSetUser / ACLSetSelector).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), String> {
        if op.is_empty() {
            return Ok(());
        }
        let lower = String::from_utf8_lossy(op).to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "skip-sanitize-payload" => self.sanitize = Some(false),
            "sanitize-payload" => self.sanitize = Some(true),
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "reset" => {
                for r in ["resetpass", "resetkeys", "resetchannels", "off", "-@all"] {
                    self.apply(r.as_bytes())?;
                }
                self.sanitize = Some(true);
            }
            "allkeys" | "~*" => {
                self.all_keys = true;
                self.keys.clear();
            }
            "resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            "allchannels" | "&*" => {
                self.all_channels = true;
                self.channels.clear();
            }
            "resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            "allcommands" | "+@all" => {
                self.allowed.iter_mut().for_each(|w| *w = u64::MAX);
                self.all_commands = true;
                self.future = true;
                self.first_args.clear();
            }
            "nocommands" | "-@all" => {
                self.allowed.iter_mut().for_each(|w| *w = 0);
                self.all_commands = false;
                self.future = false;
                self.first_args.clear();
            }
            _ => return self.apply_prefixed(op),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, op: &[u8]) -> Result<(), String> {
        let rest = &op[1..];
        match op[0] {
            b'>' | b'#' => {
                let h = if op[0] == b'>' {
                    hash_password(rest)
                } else {
                    parse_hash(rest)?
                };
                if !self.passwords.contains(&h) {
                    self.passwords.push(h);
                }
                self.nopass = false;
            }
            b'<' | b'!' => {
                let h = if op[0] == b'<' {
                    hash_password(rest)
                } else {
                    parse_hash(rest)?
                };
                let before = self.passwords.len();
                self.passwords.retain(|p| p != &h);
                if self.passwords.len() == before {
                    return Err(
                        "The password you are trying to remove from the user does not exist".into(),
                    );
                }
            }
            b'~' | b'%' => self.add_key_pattern(op)?,
            b'&' => {
                if self.all_channels {
                    return Err("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels".into());
                }
                if rest.contains(&b' ') {
                    return Err(SYNTAX.into());
                }
                if !self.channels.iter().any(|c| c == rest) {
                    self.channels.push(rest.to_vec());
                }
            }
            b'+' | b'-' if rest.first() == Some(&b'@') => {
                let bit = category_bit(&String::from_utf8_lossy(&rest[1..]))
                    .ok_or_else(|| UNKNOWN.to_string())?;
                self.set_category(bit, op[0] == b'+');
            }
            b'+' | b'-' => {
                let name = String::from_utf8_lossy(rest).to_ascii_lowercase();
                self.command_rule(&name, op[0] == b'+')?;
            }
            _ => return Err(SYNTAX.into()),
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), String> {
        if self.all_keys {
            return Err("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns".into());
        }
        let (mut read, mut write) = (true, true);
        let mut offset = 1;
        if op[0] == b'%' {
            (read, write) = (false, false);
            loop {
                match op.get(offset).map(u8::to_ascii_uppercase) {
                    Some(b'R') if !read => read = true,
                    Some(b'W') if !write => write = true,
                    Some(b'~') => {
                        offset += 1;
                        break;
                    }
                    Some(_) => return Err(SYNTAX.into()),
                    None => break,
                }
                offset += 1;
            }
        }
        let pattern = &op[offset..];
        if pattern.contains(&b' ') {
            return Err(SYNTAX.into());
        }
        match self.keys.iter_mut().find(|k| k.pattern == pattern) {
            Some(k) => {
                k.read |= read;
                k.write |= write;
            }
            None => self.keys.push(KeyPattern {
                pattern: pattern.to_vec(),
                read,
                write,
            }),
        }
        Ok(())
    }

    /// `+cmd`, `-cmd`, `+cmd|sub`, `-cmd|sub`.
    fn command_rule(&mut self, name: &str, allow: bool) -> Result<(), String> {
        let cat = catalog();
        if let Some(id) = cat.lookup(name) {
            self.set_command(id, allow);
            return Ok(());
        }
        let Some((cmd, sub)) = name.rsplit_once('|') else {
            return Err(UNKNOWN.into());
        };
        if !allow {
            return Err(UNKNOWN.into());
        }
        let id = cat.lookup(cmd).ok_or_else(|| UNKNOWN.to_string())?;
        let e = &cat.entries[id];
        if e.parent.is_some() {
            return Err("Allowing first-arg of a subcommand is not supported".into());
        }
        if sub.is_empty() {
            return Err(SYNTAX.into());
        }
        if !e.subs.is_empty() {
            return Err(UNKNOWN.into());
        }
        // A first argument of a command without subcommands (`+select|0`).
        match self.first_args.iter_mut().find(|(i, _)| *i == id) {
            Some((_, v)) => {
                if !v.iter().any(|s| s == sub) {
                    v.push(sub.to_string());
                }
            }
            None => self.first_args.push((id, vec![sub.to_string()])),
        }
        Ok(())
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        let (w, b) = (id / 64, 1u64 << (id % 64));
        if on {
            self.allowed[w] |= b;
        } else {
            self.allowed[w] &= !b;
            self.all_commands = false;
        }
    }

    fn bit(&self, id: usize) -> bool {
        self.allowed[id / 64] & (1 << (id % 64)) != 0
    }

    /// Redis's ACLChangeSelectorPerm: the command and all its subcommands.
    fn set_command(&mut self, id: usize, on: bool) {
        self.first_args.retain(|(i, _)| *i != id);
        self.set_bit(id, on);
        for s in catalog().entries[id].subs.clone() {
            self.set_bit(s, on);
        }
    }

    fn set_category(&mut self, bit: u32, on: bool) {
        for (id, e) in catalog().entries.iter().enumerate() {
            if e.cats & bit != 0 {
                self.set_bit(id, on);
                if on {
                    self.first_args.retain(|(i, _)| *i != id);
                }
            }
        }
    }

    /// Nothing to check per command: all commands on all keys.
    pub fn unrestricted(&self) -> bool {
        self.all_commands && self.all_keys
    }

    /// AUTH's check, comparing digests in constant time.
    pub fn password_ok(&self, given: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = hash_password(given);
        let mut ok = subtle::Choice::from(0);
        for p in &self.passwords {
            ok |= p.ct_eq(&h);
        }
        ok.into()
    }

    /// The permission check for one command invocation (`name` is the command's table name).
    pub fn check(&self, spec: &crate::commands::CommandSpec, args: &[Bytes]) -> Result<(), Denied> {
        if !spec.has_flag("no_auth") {
            self.check_command(spec.name, args)?;
        }
        if !self.all_keys {
            let idx = spec.key_indexes(args);
            for (n, &i) in idx.iter().enumerate() {
                let (read, write) = key_access(spec, n);
                let key = &args[i];
                let ok = self.keys.iter().any(|k| {
                    (!read || k.read) && (!write || k.write) && glob_match(&k.pattern, key, false)
                });
                if !ok {
                    return Err(Denied::Key(key.to_vec()));
                }
            }
        }
        Ok(())
    }

    /// The command part of the check, by the command's lower-case name (also for commands
    /// Redis has and shardis does not, for ACL DRYRUN).
    pub fn check_command(&self, name: &str, args: &[Bytes]) -> Result<(), Denied> {
        if self.all_commands {
            return Ok(());
        }
        let cat = catalog();
        let id = cat.resolve(name, args);
        let allowed = id.is_some_and(|id| {
            self.bit(id)
                || args.get(1).is_some_and(|a1| {
                    let a1 = String::from_utf8_lossy(a1);
                    self.first_args
                        .iter()
                        .any(|(i, v)| *i == id && v.iter().any(|s| s.eq_ignore_ascii_case(&a1)))
                })
        });
        if allowed {
            Ok(())
        } else {
            let name = id.map_or(name, |i| cat.entries[i].name.as_str());
            Err(Denied::Command(name.to_string()))
        }
    }

    /// Whether this user may use a channel (for pub/sub; `literal` for PUBLISH/SUBSCRIBE
    /// channel names, false for PSUBSCRIBE patterns, which must match a rule exactly).
    #[allow(dead_code)]
    pub fn channel_ok(&self, channel: &[u8], literal: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|p| {
                if literal {
                    glob_match(p, channel, false)
                } else {
                    p == channel
                }
            })
    }

    /// ACL LIST's line without "user <name> ".
    pub fn describe(&self) -> String {
        let mut s = String::new();
        s.push_str(if self.enabled { "on " } else { "off " });
        if self.nopass {
            s.push_str("nopass ");
        }
        match self.sanitize {
            Some(true) => s.push_str("sanitize-payload "),
            Some(false) => s.push_str("skip-sanitize-payload "),
            None => {}
        }
        for p in &self.passwords {
            s.push('#');
            s.push_str(&hex(p));
            s.push(' ');
        }
        let keys = self.describe_keys();
        if !keys.is_empty() {
            s.push_str(&keys);
            s.push(' ');
        }
        let ch = self.describe_channels();
        if ch.is_empty() {
            s.push_str("resetchannels ");
        } else {
            if !self.all_channels {
                s.push_str("resetchannels ");
            }
            s.push_str(&ch);
            s.push(' ');
        }
        s.push_str(&self.describe_commands());
        s
    }

    pub fn flags(&self) -> Vec<&'static str> {
        let mut v = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            v.push("nopass");
        }
        match self.sanitize {
            Some(true) => v.push("sanitize-payload"),
            Some(false) => v.push("skip-sanitize-payload"),
            None => {}
        }
        v
    }

    pub fn password_hexes(&self) -> Vec<String> {
        self.passwords.iter().map(hex).collect()
    }

    pub fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".into();
        }
        self.keys
            .iter()
            .map(|k| {
                let p = String::from_utf8_lossy(&k.pattern);
                match (k.read, k.write) {
                    (true, true) => format!("~{p}"),
                    (true, false) => format!("%R~{p}"),
                    _ => format!("%W~{p}"),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        self.channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Redis's ACLDescribeSelectorCommandRules: a base (+@all or -@all), the categories that
    /// fit best, then single commands until the rules rebuild exactly this bitmap.
    pub fn describe_commands(&self) -> String {
        let cat = catalog();
        let additive = !self.future;
        let mut rules = vec![if additive { "-@all" } else { "+@all" }.to_string()];
        let mut fake = User::new("");
        fake.apply(rules[0].as_bytes()).ok();
        let mut temp = self.clone();
        let mut applied = [false; CATEGORY_NAMES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0usize);
            for (j, name) in CATEGORY_NAMES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let bit = 1u32 << j;
                let (mut on, mut off) = (0, 0);
                for (id, e) in cat.entries.iter().enumerate() {
                    if e.cats & bit != 0 {
                        if temp.bit(id) {
                            on += 1;
                        } else {
                            off += 1;
                        }
                    }
                }
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some((j, *name));
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some((j, name)) = best else { break };
            let bit = 1u32 << j;
            fake.set_category(bit, additive);
            temp.set_category(bit, !additive);
            rules.push(format!("{}@{name}", if additive { '+' } else { '-' }));
            applied[j] = true;
        }
        let mut order: Vec<usize> = (0..cat.len()).collect();
        order.sort_by(|a, b| cat.entries[*a].name.cmp(&cat.entries[*b].name));
        for id in order {
            let (user_bit, fake_bit) = (self.bit(id), fake.bit(id));
            if user_bit != fake_bit {
                rules.push(format!(
                    "{}{}",
                    if user_bit { '+' } else { '-' },
                    cat.entries[id].name
                ));
                fake.set_command(id, user_bit);
            }
            if !user_bit {
                if let Some((_, v)) = self.first_args.iter().find(|(i, _)| *i == id) {
                    for a in v {
                        rules.push(format!("+{}|{a}", cat.entries[id].name));
                    }
                }
            }
        }
        rules.join(" ")
    }
}

/// Commands whose keys after the first are only read (the first is written).
const READS_SOURCES: &[&str] = &[
    "sinterstore",
    "sunionstore",
    "sdiffstore",
    "zunionstore",
    "zinterstore",
    "zdiffstore",
    "zrangestore",
    "geosearchstore",
    "bitop",
    "pfmerge",
];

/// (read, write) access a command needs on its n-th key, from its read/write flags (Redis
/// reads it from key-spec flags; the commands that read one key and write another are named).
fn key_access(spec: &crate::commands::CommandSpec, n: usize) -> (bool, bool) {
    if !spec.is_write() {
        return (true, false);
    }
    match spec.name {
        "copy" if n == 0 => (true, false),
        name if n > 0 && READS_SOURCES.contains(&name) => (true, false),
        _ => (false, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let mut u = User::new("u");
        let r: Vec<&[u8]> = rules.iter().map(|r| r.as_bytes()).collect();
        u.apply_all(&r).unwrap();
        u
    }

    #[test]
    fn describes_as_redis() {
        assert_eq!(User::default_user().describe(), "on nopass ~* &* +@all");
        assert_eq!(User::new("x").describe(), "off resetchannels -@all");
        let u = user(&["on", "~k*", "%R~r*", "&ch*", "+get", "+@hash", "-hset"]);
        assert_eq!(
            u.describe(),
            "on ~k* %R~r* resetchannels &ch* -@all +@hash +get -hset"
        );
        let u = user(&["+@all", "-get"]);
        assert_eq!(u.describe_commands(), "+@all -get");
        let u = user(&["+select|0"]);
        assert_eq!(u.describe_commands(), "-@all +select|0");
    }

    #[test]
    fn rule_errors() {
        let mut u = User::new("u");
        assert_eq!(u.apply(b"bogus").unwrap_err(), SYNTAX);
        assert_eq!(u.apply(b"+nosuch").unwrap_err(), UNKNOWN);
        assert_eq!(u.apply(b"+@nosuch").unwrap_err(), UNKNOWN);
        assert!(u
            .apply(b"#abc")
            .unwrap_err()
            .starts_with("The password hash"));
        assert!(u.apply(b"<nope").unwrap_err().contains("does not exist"));
        assert!(u.apply(b"+config|get|x").is_err());
        u.apply(b"allkeys").unwrap();
        assert!(u.apply(b"~x").unwrap_err().contains("'allkeys'"));
    }

    #[test]
    fn passwords() {
        let u = user(&["on", ">secret"]);
        assert!(u.password_ok(b"secret") && !u.password_ok(b"other"));
        assert_eq!(
            u.password_hexes()[0],
            "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
        );
        let off = user(&[">secret"]);
        assert!(!off.password_ok(b"secret"));
    }
}
