//! The ACL file (`aclfile`): one `user <name> <rules…>` line per user, read at startup and by
//! ACL LOAD, written by ACL SAVE (temp file, fsync, rename, as Redis does).

use super::{add_user_line, Users};
use std::io::Write;
use std::path::Path;

/// Read `path` into `users` (which holds the default user to use when the file has none).
/// Errors are collected per line, Redis-style: "path:line: what. ".
pub fn load(path: &Path, users: &mut Users, _cfg: &crate::config::Config) -> Result<(), String> {
    let text = std::fs::read(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{}': {}",
            path.display(),
            e.kind()
        )
    })?;
    let shown = path.display().to_string();
    let mut errors = String::new();
    let mut defined = std::collections::HashSet::new();
    let mut fresh = Users::new();
    if let Some(d) = users.get("default") {
        fresh.insert("default".into(), d.clone());
    }
    for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = raw.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let lineno = n + 1;
        let Some(words) = crate::config::split_args(line) else {
            errors.push_str(&format!(
                "{shown}:{lineno}: unbalanced quotes in acl line. "
            ));
            continue;
        };
        if words.first().is_none_or(|w| w.as_slice() != b"user") {
            errors.push_str(&format!(
                "{shown}:{lineno} should start with user keyword. "
            ));
            continue;
        }
        if words.len() < 2 {
            errors.push_str(&format!("{shown}:{lineno}: missing username. "));
            continue;
        }
        let name = String::from_utf8_lossy(&words[1]).into_owned();
        if !defined.insert(name.clone()) {
            errors.push_str(&format!(
                "{shown}:{lineno}: Duplicate user '{name}' found. "
            ));
            continue;
        }
        if let Err(e) = add_user_line(&mut fresh, &words[1..], false) {
            let e = e
                .strip_prefix("Error in ACL SETUSER modifier ")
                .map_or(e.clone(), |rest| {
                    format!("Error in applying operation {rest}")
                });
            errors.push_str(&format!("{shown}:{lineno}: {e}. "));
        }
    }
    if !errors.is_empty() {
        return Err(errors.trim_end().to_string());
    }
    *users = fresh;
    Ok(())
}

/// ACL SAVE: every user as an ACL LIST line.
pub fn save(path: &Path, users: &Users) -> std::io::Result<()> {
    let mut text = String::new();
    for u in users.values() {
        text.push_str(&format!("user {} {}\n", u.name, u.describe()));
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
