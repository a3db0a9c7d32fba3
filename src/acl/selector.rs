//! A selector: one set of permissions (commands, key patterns, channel patterns) built by
//! Redis's rules. A user has a root selector and any number of added ones (`(…)` rules); a
//! command is allowed when one of them allows it.

use super::catalog::{catalog, category_bit, CATEGORY_NAMES};
use super::keys::{ACCESS, WRITE};
use crate::util::glob::glob_match;
use bytes::Bytes;

pub(crate) const UNKNOWN: &str = "Unknown command or category name in ACL";
pub(crate) const SYNTAX: &str = "Syntax error";

/// A key pattern and what it allows (`~p` both, `%R~p` reads, `%W~p` writes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub read: bool,
    pub write: bool,
}

/// Why a command was refused (ACL LOG's reason and object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    Command(String),
    /// (argument index, key).
    Key(usize, Vec<u8>),
}

impl Denied {
    pub fn message(&self) -> String {
        match self {
            Denied::Command(c) => {
                format!("NOPERM this user has no permissions to run the '{c}' command")
            }
            Denied::Key(..) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .to_string()
            }
        }
    }

    /// Which of several selectors' refusals to report (Redis: a key refusal over a command
    /// one, then the key furthest along the arguments).
    pub fn rank(&self) -> (u8, usize) {
        match self {
            Denied::Command(_) => (1, 0),
            Denied::Key(i, _) => (2, *i),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Selector {
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
}

impl Selector {
    /// No permissions at all.
    pub fn new() -> Selector {
        Selector {
            allowed: vec![0; catalog().len().div_ceil(64)],
            all_commands: false,
            future: false,
            first_args: Vec::new(),
            keys: Vec::new(),
            all_keys: false,
            channels: Vec::new(),
            all_channels: false,
        }
    }

    /// One selector rule (Redis's ACLSetSelector).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), String> {
        let lower = String::from_utf8_lossy(op).to_ascii_lowercase();
        match lower.as_str() {
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
        let Some((&first, rest)) = op.split_first() else {
            return Err(SYNTAX.into());
        };
        match first {
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
                self.set_category(bit, first == b'+');
            }
            b'+' | b'-' => {
                let name = String::from_utf8_lossy(rest).to_ascii_lowercase();
                self.command_rule(&name, first == b'+')?;
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
        for &s in &catalog().entries[id].subs {
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

    /// `allkeys`, or a `*` pattern that allows reads.
    pub fn reads_every_key(&self) -> bool {
        self.all_keys || self.keys.iter().any(|k| k.read && k.pattern == b"*")
    }

    /// Nothing to check per command: all commands on all keys and channels.
    pub fn unrestricted(&self) -> bool {
        self.all_commands && self.all_keys && self.all_channels
    }

    /// The check for one invocation of a command by its table name (a Redis command shardis
    /// lacks has no spec: its keys come from Redis's key specs alone).
    pub fn check(
        &self,
        name: &str,
        spec: Option<&crate::commands::CommandSpec>,
        args: &[Bytes],
    ) -> Result<(), Denied> {
        let cat = catalog();
        let id = cat.resolve(name, args);
        let full = id.map_or(name, |i| cat.entries[i].name.as_str());
        if !spec.is_some_and(|s| s.has_flag("no_auth")) {
            self.check_command(id, full, args)?;
        }
        if self.all_keys {
            return Ok(());
        }
        let keys = super::keys::keys(full, args).unwrap_or_else(|| match spec {
            // A shardis-only command: its own key positions, read or written as flagged.
            Some(s) => {
                let flags = if s.is_write() { WRITE } else { ACCESS };
                s.key_indexes(args)
                    .into_iter()
                    .map(|i| (i, flags))
                    .collect()
            }
            None => Vec::new(),
        });
        for (i, flags) in keys {
            let key = &args[i];
            let (read, write) = (flags & ACCESS != 0, flags & WRITE != 0);
            let ok = self.keys.iter().any(|k| {
                (!read || k.read) && (!write || k.write) && glob_match(&k.pattern, key, false)
            });
            if !ok {
                return Err(Denied::Key(i, key.to_vec()));
            }
        }
        Ok(())
    }

    fn check_command(&self, id: Option<usize>, full: &str, args: &[Bytes]) -> Result<(), Denied> {
        if self.all_commands {
            return Ok(());
        }
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
            Err(Denied::Command(full.to_string()))
        }
    }

    /// Whether a channel may be used (`literal`: a channel name, matched against the patterns;
    /// otherwise a PSUBSCRIBE pattern, which must equal one).
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

    /// Keys, channels and commands as ACL LIST shows them.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let keys = self.describe_keys();
        if !keys.is_empty() {
            s.push_str(&keys);
            s.push(' ');
        }
        if !self.all_channels {
            s.push_str("resetchannels ");
        }
        let ch = self.describe_channels();
        if !ch.is_empty() {
            s.push_str(&ch);
            s.push(' ');
        }
        s.push_str(&self.describe_commands());
        s
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
        let mut fake = Selector::new();
        let _ = fake.apply(rules[0].as_bytes());
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
