//! ACL LOG: denied commands, keys and failed AUTHs, newest first, as Redis 7.0 keeps them
//! (a repeat of the same denial within 60 s bumps the entry's count).

use crate::protocol::reply::Reply;
use std::collections::VecDeque;
use std::time::Instant;

/// What Redis calls the entry's reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    /// For pub/sub's channel checks.
    #[allow(dead_code)]
    Channel,
    Auth,
}

impl Reason {
    fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

/// Where the denied command was (Redis's ACL_LOG_CTX_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    /// Queued inside MULTI, or run by EXEC.
    Multi,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    pub object: String,
    pub username: String,
    pub client_info: String,
    pub created: Instant,
    pub updated: Instant,
}

/// Two denials of the same kind by the same client this close together are one entry.
const GROUPING_MS: u128 = 60_000;

#[derive(Default)]
pub struct AclLog {
    entries: VecDeque<Entry>,
}

impl AclLog {
    pub fn add(&mut self, mut e: Entry, max_len: usize) {
        let now = e.created;
        let similar = self.entries.iter().take(10).position(|o| {
            o.reason == e.reason
                && o.context == e.context
                && o.object == e.object
                && o.username == e.username
                && now.duration_since(o.updated).as_millis() < GROUPING_MS
        });
        // A repeat updates the earlier entry and, as in Redis, makes it the newest.
        if let Some(mut old) = similar.and_then(|i| self.entries.remove(i)) {
            old.count += e.count;
            old.updated = now;
            old.client_info = std::mem::take(&mut e.client_info);
            self.entries.push_front(old);
            return;
        }
        self.entries.push_front(e);
        self.entries.truncate(max_len);
    }

    /// Take every entry, oldest first.
    pub fn drain(&mut self) -> Vec<Entry> {
        self.entries.drain(..).rev().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    pub fn reply(&self, count: usize) -> Reply {
        let s = Reply::bulk_str;
        Reply::Array(
            self.entries
                .iter()
                .take(count)
                .map(|e| {
                    let age = e.created.elapsed().as_secs_f64();
                    Reply::Map(vec![
                        (s("count"), Reply::Int(e.count as i64)),
                        (s("reason"), s(e.reason.name())),
                        (s("context"), s(e.context.name())),
                        (s("object"), s(&e.object)),
                        (s("username"), s(&e.username)),
                        (s("age-seconds"), Reply::Double(age)),
                        (s("client-info"), s(&e.client_info)),
                    ])
                })
                .collect(),
        )
    }
}
