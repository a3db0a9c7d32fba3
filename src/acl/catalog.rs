//! The commands ACL rules name: Redis 7.0's command and subcommand list with their categories
//! (`categories.rs`), plus shardis commands Redis lacks, each with a dense id for the per-user
//! permission bitmaps.

use super::categories::CATEGORIES;
use std::sync::OnceLock;

/// Redis's categories, in ACL CAT's order.
pub const CATEGORY_NAMES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

pub struct Entry {
    /// Lower case; "container|sub" for subcommands.
    pub name: String,
    /// Bit i: member of CATEGORY_NAMES[i].
    pub cats: u32,
    /// For a subcommand, its container's id.
    pub parent: Option<usize>,
    /// For a container, its subcommands' ids.
    pub subs: Vec<usize>,
}

pub struct Catalog {
    pub entries: Vec<Entry>,
    by_name: ahash::AHashMap<String, usize>,
}

pub fn category_bit(name: &str) -> Option<u32> {
    CATEGORY_NAMES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

fn cats_of(list: &[&str]) -> u32 {
    list.iter()
        .filter_map(|c| category_bit(c))
        .fold(0, |a, b| a | b)
}

/// Categories of a shardis command Redis does not have, from its flags as Redis derives them.
fn derived_cats(spec: &crate::commands::CommandSpec) -> u32 {
    let mut v = vec![if spec.has_flag("fast") {
        "fast"
    } else {
        "slow"
    }];
    if spec.has_flag("write") {
        v.push("write");
    }
    if spec.has_flag("readonly") {
        v.push("read");
    }
    if spec.has_flag("admin") {
        v.extend(["admin", "dangerous"]);
    }
    if spec.has_flag("blocking") {
        v.push("blocking");
    }
    cats_of(&v)
}

pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut entries: Vec<Entry> = CATEGORIES
            .iter()
            .map(|(name, cats)| Entry {
                name: name.to_string(),
                cats: cats_of(cats),
                parent: None,
                subs: Vec::new(),
            })
            .collect();
        for spec in crate::commands::all() {
            if !entries.iter().any(|e| e.name == spec.name) {
                entries.push(Entry {
                    name: spec.name.to_string(),
                    cats: derived_cats(spec),
                    parent: None,
                    subs: Vec::new(),
                });
            }
        }
        let by_name: ahash::AHashMap<String, usize> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        for i in 0..entries.len() {
            if let Some((parent, _)) = entries[i].name.split_once('|') {
                if let Some(&p) = by_name.get(parent) {
                    entries[i].parent = Some(p);
                    entries[p].subs.push(i);
                }
            }
        }
        Catalog { entries, by_name }
    })
}

impl Catalog {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// A command or "container|sub" by name, any case.
    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    /// The id a command invocation is checked against: its subcommand's where it has one.
    pub fn resolve(&self, name: &str, args: &[bytes::Bytes]) -> Option<usize> {
        let id = self.by_name.get(name).copied()?;
        if self.entries[id].subs.is_empty() {
            return Some(id);
        }
        let Some(sub) = args.get(1) else {
            return Some(id);
        };
        let full = format!(
            "{name}|{}",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        );
        Some(self.by_name.get(&full).copied().unwrap_or(id))
    }

    /// Names in a category (ACL CAT <category>), subcommands included, sorted.
    pub fn in_category(&self, bit: u32) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| e.cats & bit != 0)
            .map(|e| e.name.as_str())
            .collect();
        v.sort_unstable();
        v
    }
}
