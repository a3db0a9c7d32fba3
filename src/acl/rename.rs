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
