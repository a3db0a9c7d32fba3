//! `rename-command` (config file only): a command renamed, or disabled with `""`. Set once at
//! startup; clients look names up through `lookup`, which costs one load when nothing is
//! renamed. Inside the server (AOF, coordinator) commands keep their real names.

use crate::commands::{self, CommandSpec};
use std::sync::OnceLock;

/// (client-visible lower-case name → command); names renamed away are absent.
struct Renames {
    /// Real names no longer reachable by clients.
    hidden: Vec<&'static str>,
    /// New name → command.
    added: Vec<(Vec<u8>, &'static CommandSpec)>,
}

static RENAMES: OnceLock<Renames> = OnceLock::new();

/// Install the config's renames (once, before the shards start).
pub fn install(pairs: &[(Vec<u8>, Vec<u8>)]) {
    if pairs.is_empty() {
        return;
    }
    let mut r = Renames {
        hidden: Vec::new(),
        added: Vec::new(),
    };
    for (from, to) in pairs {
        // Checked when the config was read.
        let Some(spec) = commands::lookup(from) else {
            continue;
        };
        r.hidden.push(spec.name);
        if !to.is_empty() {
            r.added.push((to.to_ascii_lowercase(), spec));
        }
    }
    let _ = RENAMES.set(r);
}

/// Whether any command is renamed or disabled.
#[inline]
pub fn active() -> bool {
    RENAMES.get().is_some()
}

/// The command a client's name means, honouring renames.
#[inline]
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let Some(r) = RENAMES.get() else {
        return commands::lookup(name);
    };
    if let Some((_, spec)) = r.added.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Some(spec);
    }
    commands::lookup(name).filter(|s| !r.hidden.contains(&s.name))
}

/// One connection's last command name and what it meant: a pipeline of one command (the
/// usual case) looks its name up once. Names are compared as sent (case included); renames
/// are fixed at start-up, so a cached answer never goes stale.
#[derive(Default)]
pub struct LookupCache {
    name: [u8; 16],
    len: usize,
    spec: Option<&'static CommandSpec>,
}

impl LookupCache {
    #[inline]
    pub fn lookup(&mut self, name: &[u8]) -> Option<&'static CommandSpec> {
        if let Some(spec) = self.spec {
            if name.len() == self.len && self.name.get(..self.len) == Some(name) {
                return Some(spec);
            }
        }
        let spec = lookup(name);
        if spec.is_some() && name.len() <= self.name.len() {
            self.name[..name.len()].copy_from_slice(name);
            self.len = name.len();
            self.spec = spec;
        }
        spec
    }
}

#[cfg(test)]
mod cache_tests {
    use super::LookupCache;

    #[test]
    fn answers_as_the_table_does() {
        let mut c = LookupCache::default();
        for name in [
            &b"GET"[..],
            b"GET",
            b"get",
            b"SET",
            b"nosuchcommand",
            b"GET",
            b"GETE",
            b"GE",
            b"averyveryverylongcommandname",
            b"set",
        ] {
            assert_eq!(
                c.lookup(name).map(|s| s.name),
                crate::commands::lookup(name).map(|s| s.name),
                "{}",
                String::from_utf8_lossy(name)
            );
        }
    }
}
