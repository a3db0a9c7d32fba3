// PLACEHOLDER until the real module lands.
use super::CommandSpec;
use crate::protocol::reply::Reply;
use bytes::Bytes;
pub const COMMANDS: &[CommandSpec] = &[];
pub fn bitop_compute(_op: &[u8], _s: &[Option<Bytes>]) -> Result<Vec<u8>, Reply> { Err(Reply::err("ERR placeholder")) }
