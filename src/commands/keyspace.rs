// PLACEHOLDER until the real module lands.
use super::CommandSpec;
use crate::protocol::reply::Reply;
use crate::store::Ctx;
use bytes::Bytes;
pub const COMMANDS: &[CommandSpec] = &[];
pub struct ScanArgs { pub pattern: Option<Bytes>, pub count: usize, pub type_filter: Option<Bytes> }
pub fn parse_scan_args(_a: &[Bytes], _s: usize) -> Result<ScanArgs, Reply> { Ok(ScanArgs { pattern: None, count: 10, type_filter: None }) }
pub fn scan_local(ctx: &mut Ctx, pos: usize, a: &ScanArgs) -> (usize, Vec<Bytes>) { let mut v = vec![]; let n = ctx.db().scan(pos, a.count, |k, _| v.push(k.clone())); (n, v) }
pub fn keys_local(ctx: &mut Ctx, _p: &[u8]) -> Vec<Bytes> { ctx.db().iter().map(|(k, _)| k.clone()).collect() }
pub fn random_key_local(ctx: &mut Ctx) -> Option<Bytes> { ctx.db().random_key().cloned() }
