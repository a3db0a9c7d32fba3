//! The geo family (Redis 7.0 `geo.c`): positions stored as sorted-set scores (52-bit geohashes,
//! see `util/geohash.rs`), so a geo key is a sorted set to every other command.
//!
//! Replies, error texts and the order in which arguments and keys are checked follow Redis
//! 7.0.15. The searches (GEOSEARCH, GEORADIUS… and their STORE forms) share one parser and one
//! search over an optional set, so that the coordinator can run the same steps when the source
//! and destination of a store live on different shards (`src/shard/coordinator.rs`).

use super::zset::{read_zset, store_result, strict_double};
use super::{CommandSpec, Kind};
use crate::protocol::reply::Reply;
use crate::store::zset::{ScoreRange, ZSet};
use crate::store::Ctx;
use crate::util::geohash::{self, Shape, ShapeKind};
use bytes::Bytes;

/// Evaluate a `Result<T, Reply>`, returning the error reply from the handler.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

const G: &str = "geo";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("geoadd", -5, "write denyoom", (1, 1, 1), Kind::Keyed(geoadd)).doc(
        G,
        "3.2.0",
        "Add one or more geospatial items in the geospatial index represented using a sorted set",
    ),
    CommandSpec::new("geodist", -4, "readonly", (1, 1, 1), Kind::Keyed(geodist)).doc(
        G,
        "3.2.0",
        "Returns the distance between two members of a geospatial index",
    ),
    CommandSpec::new("geohash", -2, "readonly", (1, 1, 1), Kind::Keyed(geohash_cmd)).doc(
        G,
        "3.2.0",
        "Returns members of a geospatial index as standard geohash strings",
    ),
    CommandSpec::new("geopos", -2, "readonly", (1, 1, 1), Kind::Keyed(geopos)).doc(
        G,
        "3.2.0",
        "Returns longitude and latitude of members of a geospatial index",
    ),
    CommandSpec::new("geosearch", -7, "readonly", (1, 1, 1), Kind::Keyed(geosearch)).doc(
        G,
        "6.2.0",
        "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.",
    ),
    CommandSpec::new(
        "geosearchstore",
        -8,
        "write denyoom",
        (1, 2, 1),
        Kind::Coordinated(geosearchstore),
    )
    .doc(
        G,
        "6.2.0",
        "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.",
    ),
    CommandSpec::new(
        "georadius",
        -6,
        "write denyoom movablekeys",
        (1, 1, 1),
        Kind::Coordinated(georadius),
    )
    .key_fn(georadius_keys)
    .doc(
        G,
        "3.2.0",
        "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point",
    ),
    CommandSpec::new(
        "georadiusbymember",
        -5,
        "write denyoom movablekeys",
        (1, 1, 1),
        Kind::Coordinated(georadiusbymember),
    )
    .key_fn(georadius_keys)
    .doc(
        G,
        "3.2.0",
        "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member",
    ),
    CommandSpec::new("georadius_ro", -6, "readonly", (1, 1, 1), Kind::Keyed(georadius_ro)).doc(
        G,
        "3.2.10",
        "A read-only variant for GEORADIUS",
    ),
    CommandSpec::new(
        "georadiusbymember_ro",
        -5,
        "readonly",
        (1, 1, 1),
        Kind::Keyed(georadiusbymember_ro),
    )
    .doc(G, "3.2.10", "A read-only variant for GEORADIUSBYMEMBER"),
];

/// GEORADIUS[BYMEMBER]'s keys: the source and the last STORE/STOREDIST key (georadiusGetKeys,
/// which looks from the sixth argument on for both commands).
fn georadius_keys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    if let Some(i) = store_key_index(args) {
        keys.push(i);
    }
    keys
}

fn store_key_index(args: &[Bytes]) -> Option<usize> {
    let mut stored = None;
    let mut i = 5;
    while i < args.len() {
        if (kw(&args[i], "store") || kw(&args[i], "storedist")) && i + 1 < args.len() {
            stored = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    stored
}

// ---------------------------------------------------------------------------------------------
// Argument parsing

/// The argument up to its first NUL byte: Redis compares keywords and units with strcasecmp.
fn cstr(a: &[u8]) -> &[u8] {
    match a.iter().position(|&c| c == 0) {
        Some(i) => &a[..i],
        None => a,
    }
}

fn kw(a: &[u8], word: &str) -> bool {
    cstr(a).eq_ignore_ascii_case(word.as_bytes())
}

/// extractLongLatOrReply: both numbers first, then the range check.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), Reply> {
    let lon = strict_double(lon).ok_or_else(Reply::not_float)?;
    let lat = strict_double(lat).ok_or_else(Reply::not_float)?;
    #[allow(clippy::manual_range_contains)]
    let outside = lon < geohash::LON_MIN
        || lon > geohash::LON_MAX
        || lat < geohash::LAT_MIN
        || lat > geohash::LAT_MAX;
    if outside {
        return Err(Reply::err(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// extractUnitOrReply: meters per unit.
fn unit(a: &[u8]) -> Result<f64, Reply> {
    let u = cstr(a);
    if u.eq_ignore_ascii_case(b"m") {
        Ok(1.0)
    } else if u.eq_ignore_ascii_case(b"km") {
        Ok(1000.0)
    } else if u.eq_ignore_ascii_case(b"ft") {
        Ok(0.3048)
    } else if u.eq_ignore_ascii_case(b"mi") {
        Ok(1609.34)
    } else {
        Err(Reply::err(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// extractDistanceOrReply: `<radius> <unit>` as (radius, meters per unit).
fn radius(r: &[u8], u: &[u8]) -> Result<(f64, f64), Reply> {
    let r = strict_double(r).ok_or_else(|| Reply::err("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(Reply::err("ERR radius cannot be negative"));
    }
    Ok((r, unit(u)?))
}

/// extractBoxOrReply: `<width> <height> <unit>` as (width, height, meters per unit).
fn box_size(w: &[u8], h: &[u8], u: &[u8]) -> Result<(f64, f64, f64), Reply> {
    let w = strict_double(w).ok_or_else(|| Reply::err("ERR need numeric width"))?;
    let h = strict_double(h).ok_or_else(|| Reply::err("ERR need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(Reply::err("ERR height or width cannot be negative"));
    }
    Ok((w, h, unit(u)?))
}

/// The position of `member` in `z` (longLatFromMember).
fn member_pos(z: &ZSet, member: &[u8]) -> Result<(f64, f64), Reply> {
    z.score(member)
        .map(geohash::decode_score)
        .ok_or_else(|| Reply::err("ERR could not decode requested zset member"))
}

// ---------------------------------------------------------------------------------------------
// GEOADD GEOPOS GEOHASH GEODIST

/// GEOADD is ZADD with the positions turned into scores, as in Redis: the options are checked
/// here, every position is checked before anything is written, and ZADD does the rest.
fn geoadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while first < args.len() {
        let a = &args[first];
        if kw(a, "nx") {
            nx = true;
        } else if kw(a, "xx") {
            xx = true;
        } else if !kw(a, "ch") {
            break;
        }
        first += 1;
    }
    if !(args.len() - first).is_multiple_of(3) || (nx && xx) {
        return Reply::syntax();
    }
    let mut zadd_args: Vec<Bytes> = Vec::with_capacity(first + (args.len() - first) / 3 * 2);
    zadd_args.push(Bytes::from_static(b"zadd"));
    zadd_args.extend(args[1..first].iter().cloned());
    for p in args[first..].chunks_exact(3) {
        let (lon, lat) = tri!(lon_lat(&p[0], &p[1]));
        let Some(score) = geohash::encode_score(lon, lat) else {
            return Reply::err(format!(
                "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
            ));
        };
        zadd_args.push(Bytes::from(score.to_string()));
        zadd_args.push(p[2].clone());
    }
    match super::lookup(b"zadd").map(|s| s.kind) {
        Some(Kind::Keyed(zadd)) => zadd(ctx, &zadd_args),
        _ => Reply::err("ERR internal error"),
    }
}

fn geopos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let z = tri!(read_zset(ctx, &args[1]));
    Reply::Array(
        args[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                None => Reply::NilArray,
                Some(s) => {
                    let (lon, lat) = geohash::decode_score(s);
                    coords_reply(lon, lat)
                }
            })
            .collect(),
    )
}

fn coords_reply(lon: f64, lat: f64) -> Reply {
    Reply::Array(vec![
        Reply::DoubleText(Bytes::from(geohash::fmt_coord(lon))),
        Reply::DoubleText(Bytes::from(geohash::fmt_coord(lat))),
    ])
}

fn geohash_cmd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let z = tri!(read_zset(ctx, &args[1]));
    Reply::Array(
        args[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                None => Reply::Nil,
                Some(s) => Reply::Bulk(Bytes::copy_from_slice(&geohash::standard_string(s))),
            })
            .collect(),
    )
}

fn geodist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let to_meters = match args.len() {
        5 => tri!(unit(&args[4])),
        n if n > 5 => return Reply::syntax(),
        _ => 1.0,
    };
    let Some(z) = tri!(read_zset(ctx, &args[1])) else {
        return Reply::Nil;
    };
    match (z.score(&args[2]), z.score(&args[3])) {
        (Some(a), Some(b)) => {
            let (a, b) = (geohash::decode_score(a), geohash::decode_score(b));
            let d = geohash::distance(a.0, a.1, b.0, b.1) / to_meters;
            Reply::Bulk(Bytes::from(geohash::fmt_distance(d)))
        }
        _ => Reply::Nil,
    }
}

// ---------------------------------------------------------------------------------------------
// GEOSEARCH GEOSEARCHSTORE GEORADIUS GEORADIUSBYMEMBER (_RO)

/// Which search command runs (georadiusGeneric's flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SearchCmd {
    Radius,
    RadiusRo,
    ByMember,
    ByMemberRo,
    Search,
    SearchStore,
}

impl SearchCmd {
    pub fn from_name(name: &str) -> Option<SearchCmd> {
        Some(match name {
            "georadius" => SearchCmd::Radius,
            "georadius_ro" => SearchCmd::RadiusRo,
            "georadiusbymember" => SearchCmd::ByMember,
            "georadiusbymember_ro" => SearchCmd::ByMemberRo,
            "geosearch" => SearchCmd::Search,
            "geosearchstore" => SearchCmd::SearchStore,
            _ => return None,
        })
    }

    /// The source key's position.
    pub fn src(self) -> usize {
        if self == SearchCmd::SearchStore {
            2
        } else {
            1
        }
    }

    fn is_search(self) -> bool {
        matches!(self, SearchCmd::Search | SearchCmd::SearchStore)
    }

    /// Takes STORE and STOREDIST with a key.
    fn store_option(self) -> bool {
        matches!(self, SearchCmd::Radius | SearchCmd::ByMember)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// What a search comes to: a reply, or members to store at the key in argument `dst`.
#[derive(Debug)]
pub enum Outcome {
    Reply(Reply),
    Store {
        dst: usize,
        items: Vec<(Bytes, f64)>,
    },
}

/// A member found inside the searched area.
struct Point {
    member: Bytes,
    score: f64,
    lon: f64,
    lat: f64,
    /// Meters from the centre.
    dist: f64,
}

/// georadiusGeneric once the source set has been looked up (`z`, None when absent): the
/// arguments in Redis's order (each error as soon as it is met), then the search.
pub fn search(z: Option<&ZSet>, args: &[Bytes], cmd: SearchCmd) -> Result<Outcome, Reply> {
    let mut center: Option<(f64, f64)> = None;
    let mut size: Option<(ShapeKind, f64)> = None;
    let mut store: Option<usize> = None;
    let base = match cmd {
        SearchCmd::Radius | SearchCmd::RadiusRo => {
            center = Some(lon_lat(&args[2], &args[3])?);
            let (r, conv) = radius(&args[4], &args[5])?;
            size = Some((ShapeKind::Radius(r), conv));
            6
        }
        SearchCmd::ByMember | SearchCmd::ByMemberRo => {
            // Without a source there is nothing to measure from; the options are still read
            // to pick the reply.
            if let Some(z) = z {
                center = Some(member_pos(z, &args[2])?);
                let (r, conv) = radius(&args[3], &args[4])?;
                size = Some((ShapeKind::Radius(r), conv));
            }
            5
        }
        SearchCmd::Search => 2,
        SearchCmd::SearchStore => {
            store = Some(1);
            3
        }
    };
    let (mut withdist, mut withhash, mut withcoord) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let mut storedist = false;
    let mut i = base;
    while i < args.len() {
        let a = &args[i];
        let left = args.len() - i - 1;
        if kw(a, "withdist") {
            withdist = true;
        } else if kw(a, "withhash") {
            withhash = true;
        } else if kw(a, "withcoord") {
            withcoord = true;
        } else if kw(a, "any") {
            any = true;
        } else if kw(a, "asc") {
            sort = Sort::Asc;
        } else if kw(a, "desc") {
            sort = Sort::Desc;
        } else if kw(a, "count") && left >= 1 {
            count = super::args::int(&args[i + 1])?;
            if count <= 0 {
                return Err(Reply::err("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (kw(a, "store") || kw(a, "storedist")) && left >= 1 && cmd.store_option() {
            store = Some(i + 1);
            storedist = kw(a, "storedist");
            i += 1;
        } else if kw(a, "storedist") && cmd == SearchCmd::SearchStore {
            storedist = true;
        } else if kw(a, "frommember") && left >= 1 && cmd.is_search() && !fromloc {
            if let Some(z) = z {
                center = Some(member_pos(z, &args[i + 1])?);
            }
            frommember = true;
            i += 1;
        } else if kw(a, "fromlonlat") && left >= 2 && cmd.is_search() && !frommember {
            center = Some(lon_lat(&args[i + 1], &args[i + 2])?);
            fromloc = true;
            i += 2;
        } else if kw(a, "byradius") && left >= 2 && cmd.is_search() && !bybox {
            let (r, conv) = radius(&args[i + 1], &args[i + 2])?;
            size = Some((ShapeKind::Radius(r), conv));
            byradius = true;
            i += 2;
        } else if kw(a, "bybox") && left >= 3 && cmd.is_search() && !byradius {
            let (width, height, conv) = box_size(&args[i + 1], &args[i + 2], &args[i + 3])?;
            size = Some((ShapeKind::Box { width, height }, conv));
            bybox = true;
            i += 3;
        } else {
            return Err(Reply::syntax());
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        return Err(Reply::err(if cmd == SearchCmd::SearchStore {
            "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        } else {
            "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        }));
    }
    // The command's name as the client wrote it.
    let name = || String::from_utf8_lossy(&args[0]).into_owned();
    if cmd.is_search() && !(frommember || fromloc) {
        return Err(Reply::err(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            name()
        )));
    }
    if cmd.is_search() && !(byradius || bybox) {
        return Err(Reply::err(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            name()
        )));
    }
    if any && count == 0 {
        return Err(Reply::err("ERR the ANY argument requires COUNT argument"));
    }
    let (Some(z), Some((lon, lat)), Some((kind, conversion))) = (z, center, size) else {
        // No source: the destination is deleted, or the reply is empty.
        return Ok(match store {
            Some(dst) => Outcome::Store {
                dst,
                items: Vec::new(),
            },
            None => Outcome::Reply(Reply::Array(Vec::new())),
        });
    };
    // COUNT returns the nearest ones unless ANY asks for whichever come first.
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape {
        lon,
        lat,
        conversion,
        kind,
    };
    let limit = if any { count as usize } else { 0 };
    let mut found = find_points(z, &shape, limit);
    if found.is_empty() && store.is_none() {
        return Ok(Outcome::Reply(Reply::Array(Vec::new())));
    }
    let returned = if count == 0 {
        found.len()
    } else {
        found
            .len()
            .min(usize::try_from(count).unwrap_or(usize::MAX))
    };
    match sort {
        // glibc's qsort merges: stable, equal distances keep their search order.
        Sort::Asc => found.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => found.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        Sort::None => {}
    }
    found.truncate(returned);
    if let Some(dst) = store {
        let items = found
            .into_iter()
            .map(|p| {
                let score = if storedist {
                    p.dist / conversion
                } else {
                    p.score
                };
                (p.member, score)
            })
            .collect();
        return Ok(Outcome::Store { dst, items });
    }
    let nested = withdist || withhash || withcoord;
    let replies = found
        .into_iter()
        .map(|p| {
            if !nested {
                return Reply::Bulk(p.member);
            }
            let mut item = vec![Reply::Bulk(p.member)];
            if withdist {
                let d = geohash::fmt_distance(p.dist / conversion);
                item.push(Reply::Bulk(Bytes::from(d)));
            }
            if withhash {
                item.push(Reply::Int(p.score as i64));
            }
            if withcoord {
                item.push(coords_reply(p.lon, p.lat));
            }
            Reply::Array(item)
        })
        .collect();
    Ok(Outcome::Reply(Reply::Array(replies)))
}

/// The members inside `shape`, cell by cell in Redis's order (membersOfAllNeighbors), stopping
/// once `limit` (0: none) are found.
fn find_points(z: &ZSet, shape: &Shape, limit: usize) -> Vec<Point> {
    let areas = geohash::areas_by_shape(shape);
    let cells = areas.cells();
    let mut found: Vec<Point> = Vec::new();
    let full = |found: &Vec<Point>| limit > 0 && found.len() >= limit;
    let mut last = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // Huge radiuses make neighbours coincide: skip a cell equal to the last one read.
        // (As in Redis, the comparison starts once a neighbour, not the centre, was read.)
        if last != 0 && *cell == cells[last] {
            continue;
        }
        if full(&found) {
            break;
        }
        let (min, max) = cell.score_range();
        let range = ScoreRange {
            min,
            max,
            minex: false,
            maxex: true,
        };
        let (start, end) = z.score_span(&range);
        for (m, s) in z.iter_from(start, false).take(end.saturating_sub(start)) {
            let (lon, lat) = geohash::decode_score(s);
            if let Some(dist) = shape.contains(lon, lat) {
                found.push(Point {
                    member: Bytes::copy_from_slice(m),
                    score: s,
                    lon,
                    lat,
                    dist,
                });
            }
            if full(&found) {
                break;
            }
        }
        last = i;
    }
    found
}

/// Run a search on this shard: the source looked up first (WRONGTYPE before any argument
/// error, as in Redis), the result stored here when the command stores.
fn search_here(ctx: &mut Ctx, args: &[Bytes], cmd: SearchCmd) -> Reply {
    let outcome = {
        let z = tri!(read_zset(ctx, &args[cmd.src()]));
        tri!(search(z, args, cmd))
    };
    match outcome {
        Outcome::Reply(r) => r,
        Outcome::Store { dst, items } => {
            // The router sent the command here for the keys georadius_keys found; a store key
            // found differently would belong elsewhere.
            if cmd != SearchCmd::SearchStore && store_key_index(args) != Some(dst) {
                return Reply::syntax();
            }
            store_result(ctx, &args[dst], items, false)
        }
    }
}

fn geosearch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, SearchCmd::Search)
}

fn geosearchstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, SearchCmd::SearchStore)
}

fn georadius(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, SearchCmd::Radius)
}

fn georadiusbymember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, SearchCmd::ByMember)
}

fn georadius_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, SearchCmd::RadiusRo)
}

fn georadiusbymember_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, SearchCmd::ByMemberRo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(args: &[&str]) -> Vec<Bytes> {
        args.iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn store_keys() {
        let a = b(&["georadius", "k", "1", "2", "3", "km", "store", "d"]);
        assert_eq!(georadius_keys(&a), vec![1, 7]);
        let a = b(&[
            "georadius",
            "k",
            "1",
            "2",
            "3",
            "km",
            "store",
            "d",
            "storedist",
            "e",
        ]);
        assert_eq!(georadius_keys(&a), vec![1, 9]);
        let a = b(&["georadiusbymember", "k", "m", "3", "km", "STORE", "d"]);
        assert_eq!(georadius_keys(&a), vec![1, 6]);
        let a = b(&["georadius", "k", "1", "2", "3", "km", "store"]);
        assert_eq!(georadius_keys(&a), vec![1]);
    }

    #[test]
    fn units_and_sizes() {
        assert_eq!(unit(b"KM").ok(), Some(1000.0));
        assert_eq!(unit(b"mi\0x").ok(), Some(1609.34));
        assert!(unit(b"yd").is_err());
        assert_eq!(
            radius(b"-1", b"m"),
            Err(Reply::err("ERR radius cannot be negative"))
        );
        assert_eq!(
            box_size(b"1", b"x", b"m"),
            Err(Reply::err("ERR need numeric height"))
        );
        assert_eq!(
            lon_lat(b"200", b"1"),
            Err(Reply::err(
                "ERR invalid longitude,latitude pair 200.000000,1.000000"
            ))
        );
        assert_eq!(
            lon_lat(b"-inf", b"1"),
            Err(Reply::err(
                "ERR invalid longitude,latitude pair -inf,1.000000"
            ))
        );
    }
}
