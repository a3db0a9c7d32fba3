//! Geo commands, checked against Redis 7.0.15 (run with `SHARDIS_TEST_SERVER=redis` to check
//! the expectations against real Redis). Every value below was read from redis-server 7.0.15.

mod common;

use common::*;
use redis::Value;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn strs(c: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    qt(c, args)
}

/// Six cities in one set.
fn cities(c: &mut redis::Connection, key: &str) {
    let n: i64 = qt(
        c,
        &[
            "GEOADD",
            key,
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
            "12.496366",
            "41.902782",
            "Rome",
            "9.189982",
            "45.464204",
            "Milan",
            "2.352222",
            "48.856613",
            "Paris",
            "-0.127758",
            "51.507351",
            "London",
        ],
    );
    assert_eq!(n, 6);
}

fn pair(a: &str, b: &str) -> Value {
    arr(vec![bulk(a), bulk(b)])
}

#[test]
fn geoadd_options_and_errors() {
    both(|s| {
        let mut c = s.conn();
        let sicily = [
            "GEOADD",
            "Sicily",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ];
        assert_eq!(q(&mut c, &sicily), int(2));
        assert_eq!(q(&mut c, &sicily), int(0));
        // A geo set is a sorted set of 52-bit geohash scores.
        assert_eq!(q(&mut c, &["TYPE", "Sicily"]), status("zset"));
        assert_eq!(
            strs(&mut c, &["ZRANGE", "Sicily", "0", "-1", "WITHSCORES"]),
            ["Palermo", "3479099956230698", "Catania", "3479447370796909"]
        );
        // CH counts changed positions; NX and XX as in ZADD.
        let moved = ["13.361389", "38.2", "Palermo", "1", "1", "New"];
        let args: Vec<&str> = ["GEOADD", "Sicily", "XX", "CH"]
            .iter()
            .chain(moved.iter())
            .copied()
            .collect();
        assert_eq!(q(&mut c, &args), int(1));
        assert_eq!(q(&mut c, &["ZSCORE", "Sicily", "New"]), nil());
        let args: Vec<&str> = ["GEOADD", "Sicily", "NX", "CH"]
            .iter()
            .chain(moved.iter())
            .copied()
            .collect();
        assert_eq!(q(&mut c, &args), int(1));
        assert_eq!(q(&mut c, &["ZCARD", "Sicily"]), int(3));
        // The limits themselves are accepted.
        assert_eq!(
            q(
                &mut c,
                &[
                    "GEOADD",
                    "edge",
                    "180",
                    "85.05112878",
                    "ne",
                    "-180",
                    "-85.05112878",
                    "sw"
                ]
            ),
            int(2)
        );
        assert_eq!(
            strs(&mut c, &["ZRANGE", "edge", "0", "-1", "WITHSCORES"]),
            ["sw", "0", "ne", "13510798882111488"]
        );
        for (args, err) in [
            (
                &["GEOADD", "k", "1", "2"][..],
                "ERR wrong number of arguments for 'geoadd' command",
            ),
            (&["GEOADD", "k", "1", "2", "a", "3"], "ERR syntax error"),
            (
                &["GEOADD", "k", "NX", "XX", "1", "2", "a"],
                "ERR syntax error",
            ),
            (&["GEOADD", "k", "CH", "1", "2"], "ERR syntax error"),
            (&["GEOADD", "k", "NX", "CH", "CH"], "ERR syntax error"),
            (&["GEOADD", "k", "GT", "1", "2", "a"], "ERR syntax error"),
            (
                &["GEOADD", "k", "abc", "2", "a"],
                "ERR value is not a valid float",
            ),
            (
                &["GEOADD", "k", "1", "nan", "a"],
                "ERR value is not a valid float",
            ),
            (
                &["GEOADD", "k", "181", "2", "a"],
                "ERR invalid longitude,latitude pair 181.000000,2.000000",
            ),
            (
                &["GEOADD", "k", "1", "85.06", "a"],
                "ERR invalid longitude,latitude pair 1.000000,85.060000",
            ),
            (
                &["GEOADD", "k", "inf", "2", "a"],
                "ERR invalid longitude,latitude pair inf,2.000000",
            ),
            // One bad pair anywhere and nothing is added.
            (
                &["GEOADD", "k", "1", "2", "a", "-200", "3", "b"],
                "ERR invalid longitude,latitude pair -200.000000,3.000000",
            ),
        ] {
            assert_eq!(qerr(&mut c, args), err, "{args:?}");
        }
        assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
    });
}

#[test]
fn geopos_geohash_geodist() {
    both(|s| {
        let mut c = s.conn();
        cities(&mut c, "pts");
        assert_eq!(
            q(&mut c, &["GEOPOS", "pts", "Paris", "nope", "London"]),
            arr(vec![
                pair("2.35221952199935913", "48.85661220395509474"),
                Value::Nil,
                pair("-0.12775629758834839", "51.50735008547815141"),
            ])
        );
        assert_eq!(q(&mut c, &["GEOPOS", "pts"]), arr(vec![]));
        assert_eq!(q(&mut c, &["GEOPOS", "nokey", "a"]), arr(vec![Value::Nil]));
        assert_eq!(
            strs(&mut c, &["GEOHASH", "pts", "Paris", "London"]),
            ["u09tvw0f6s0", "gcpvj0dup10"]
        );
        assert_eq!(
            q(&mut c, &["GEOHASH", "pts", "nope"]),
            arr(vec![Value::Nil])
        );
        for (unit, d) in [
            (None, "343646.2197"),
            (Some("m"), "343646.2197"),
            (Some("km"), "343.6462"),
            (Some("KM"), "343.6462"),
            (Some("mi"), "213.5324"),
            (Some("ft"), "1127448.2272"),
        ] {
            let mut args = vec!["GEODIST", "pts", "Paris", "London"];
            args.extend(unit);
            assert_eq!(q(&mut c, &args), bulk(d), "{unit:?}");
        }
        assert_eq!(
            q(&mut c, &["GEODIST", "pts", "Paris", "Paris"]),
            bulk("0.0000")
        );
        assert_eq!(q(&mut c, &["GEODIST", "pts", "Paris", "nope"]), nil());
        assert_eq!(q(&mut c, &["GEODIST", "nokey", "a", "b"]), nil());
        assert_eq!(
            qerr(&mut c, &["GEODIST", "pts", "Paris", "London", "yd"]),
            "ERR unsupported unit provided. please use M, KM, FT, MI"
        );
        // The unit is checked before the key is looked up.
        assert_eq!(
            qerr(&mut c, &["GEODIST", "nokey", "a", "b", "yd"]),
            "ERR unsupported unit provided. please use M, KM, FT, MI"
        );
        assert_eq!(
            qerr(&mut c, &["GEODIST", "pts", "Paris", "London", "km", "x"]),
            "ERR syntax error"
        );
        // Scores GEOADD never writes still decode (clamped to the limits).
        assert_eq!(
            q(
                &mut c,
                &["ZADD", "raw", "-1", "neg", "0", "zero", "-inf", "ninf"]
            ),
            int(3)
        );
        assert_eq!(
            q(&mut c, &["GEOPOS", "raw", "neg", "zero", "ninf"]),
            arr(vec![
                pair("180", "85.0511287799999991"),
                pair("-179.99999731779098511", "-85.05112751263942528"),
                pair("180", "-85.05112751263942528"),
            ])
        );
        assert_eq!(
            strs(&mut c, &["GEOHASH", "raw", "neg", "zero"]),
            ["bp05b5048p0", "00bh0hbj200"]
        );
        assert_eq!(
            q(&mut c, &["GEODIST", "raw", "neg", "zero"]),
            bulk("18919844.5891")
        );
    });
}

#[test]
fn geosearch_shapes_orders_and_counts() {
    both(|s| {
        let mut c = s.conn();
        cities(&mut c, "pts");
        let near = [
            "GEOSEARCH",
            "pts",
            "FROMLONLAT",
            "12",
            "42",
            "BYRADIUS",
            "500",
            "km",
        ];
        let with = |extra: &[&'static str]| -> Vec<&str> {
            near.iter().chain(extra.iter()).copied().collect()
        };
        assert_eq!(
            q(&mut c, &with(&["ASC", "WITHDIST"])),
            arr(vec![
                pair("Rome", "42.4595"),
                pair("Milan", "446.5483"),
                pair("Palermo", "447.3088"),
            ])
        );
        assert_eq!(strs(&mut c, &with(&["DESC"])), ["Palermo", "Milan", "Rome"]);
        // Without an order, members come cell by cell in score order.
        let all = [
            "GEOSEARCH",
            "pts",
            "FROMMEMBER",
            "Rome",
            "BYRADIUS",
            "1500",
            "km",
        ];
        assert_eq!(
            strs(&mut c, &all),
            ["Palermo", "Catania", "Rome", "Milan", "Paris", "London"]
        );
        let mut args = all.to_vec();
        args.extend(["COUNT", "3", "WITHDIST"]);
        // COUNT alone returns the nearest.
        assert_eq!(
            q(&mut c, &args),
            arr(vec![
                pair("Rome", "0.0000"),
                pair("Palermo", "427.6295"),
                pair("Milan", "477.0207"),
            ])
        );
        let mut args = all.to_vec();
        args.extend(["COUNT", "2", "DESC"]);
        assert_eq!(strs(&mut c, &args), ["London", "Paris"]);
        // ANY stops at the first matches found, unsorted.
        let mut args = all.to_vec();
        args.extend(["COUNT", "2", "ANY"]);
        assert_eq!(strs(&mut c, &args), ["Palermo", "Catania"]);
        // A box 1200 km wide and 800 km high around Rome.
        assert_eq!(
            q(
                &mut c,
                &[
                    "GEOSEARCH",
                    "pts",
                    "FROMMEMBER",
                    "Rome",
                    "BYBOX",
                    "1200",
                    "800",
                    "km",
                    "ASC",
                    "WITHDIST"
                ]
            ),
            arr(vec![pair("Rome", "0.0000"), pair("Milan", "477.0207")])
        );
        // The radius edge: London is 343.6462 km from Paris.
        let from_paris = |r: &str| -> Vec<String> {
            strs(
                &mut s.conn(),
                &[
                    "GEOSEARCH",
                    "pts",
                    "FROMMEMBER",
                    "Paris",
                    "BYRADIUS",
                    r,
                    "km",
                ],
            )
        };
        assert_eq!(from_paris("343.5"), ["Paris"]);
        assert_eq!(from_paris("344"), ["Paris", "London"]);
        // WITHCOORD WITHDIST WITHHASH: member, distance, hash, coordinates.
        assert_eq!(
            q(
                &mut c,
                &[
                    "GEOSEARCH",
                    "pts",
                    "FROMLONLAT",
                    "15",
                    "37",
                    "BYBOX",
                    "400",
                    "400",
                    "km",
                    "WITHCOORD",
                    "WITHDIST",
                    "WITHHASH",
                    "COUNT",
                    "1"
                ]
            ),
            arr(vec![arr(vec![
                bulk("Catania"),
                bulk("56.4413"),
                int(3479447370796909),
                pair("15.08726745843887329", "37.50266842333162032"),
            ])])
        );
        assert_eq!(
            q(
                &mut c,
                &[
                    "GEOSEARCH",
                    "pts",
                    "FROMLONLAT",
                    "15",
                    "37",
                    "BYRADIUS",
                    "0",
                    "km"
                ]
            ),
            arr(vec![])
        );
        assert_eq!(
            strs(
                &mut c,
                &[
                    "GEOSEARCH",
                    "pts",
                    "FROMMEMBER",
                    "Paris",
                    "BYBOX",
                    "0",
                    "0",
                    "m"
                ]
            ),
            ["Paris"]
        );
        // A missing key replies empty, even FROMMEMBER a member it can't have.
        assert_eq!(
            q(
                &mut c,
                &[
                    "GEOSEARCH",
                    "nokey",
                    "FROMMEMBER",
                    "x",
                    "BYRADIUS",
                    "1",
                    "km"
                ]
            ),
            arr(vec![])
        );
        // Repeated options: the last one counts.
        assert_eq!(
            strs(
                &mut c,
                &[
                    "GEOSEARCH",
                    "pts",
                    "FROMLONLAT",
                    "15",
                    "37",
                    "BYRADIUS",
                    "200",
                    "km",
                    "COUNT",
                    "1",
                    "COUNT",
                    "5",
                    "ASC",
                    "DESC"
                ]
            ),
            ["Palermo", "Catania"]
        );
    });
}

#[test]
fn georadius_forms() {
    both(|s| {
        let mut c = s.conn();
        cities(&mut c, "pts");
        assert_eq!(
            q(
                &mut c,
                &[
                    "GEORADIUS",
                    "pts",
                    "12",
                    "42",
                    "600",
                    "mi",
                    "WITHHASH",
                    "ASC"
                ]
            ),
            arr(vec![
                arr(vec![bulk("Rome"), int(3480343273965391)]),
                arr(vec![bulk("Milan"), int(3663062935203652)]),
                arr(vec![bulk("Palermo"), int(3479099956230698)]),
                arr(vec![bulk("Catania"), int(3479447370796909)]),
            ])
        );
        assert_eq!(
            q(
                &mut c,
                &[
                    "GEORADIUSBYMEMBER_RO",
                    "pts",
                    "Paris",
                    "400",
                    "km",
                    "WITHCOORD"
                ]
            ),
            arr(vec![
                arr(vec![
                    bulk("Paris"),
                    pair("2.35221952199935913", "48.85661220395509474"),
                ]),
                arr(vec![
                    bulk("London"),
                    pair("-0.12775629758834839", "51.50735008547815141"),
                ]),
            ])
        );
        assert_eq!(
            strs(
                &mut c,
                &["GEORADIUS_RO", "pts", "12", "42", "500", "km", "COUNT", "1"]
            ),
            ["Rome"]
        );
        assert_eq!(
            q(
                &mut c,
                &["GEORADIUSBYMEMBER", "pts", "Rome", "100", "km", "WITHDIST"]
            ),
            arr(vec![arr(vec![bulk("Rome"), bulk("0.0000")])])
        );
        // Without the source set nothing is parsed past the member: an empty reply.
        assert_eq!(
            q(&mut c, &["GEORADIUSBYMEMBER", "nokey", "x", "abc", "km"]),
            arr(vec![])
        );
    });
}

#[test]
fn search_errors() {
    both(|s| {
        let mut c = s.conn();
        cities(&mut c, "pts");
        let syntax = "ERR syntax error";
        let ll_with = |extra: &[&'static str]| -> Vec<&'static str> {
            ["GEOSEARCH", "pts", "FROMLONLAT", "15", "37"]
                .iter()
                .chain(extra.iter())
                .copied()
                .collect()
        };
        for (args, err) in [
            (ll_with(&["BYRADIUS", "-1", "km"]), "ERR radius cannot be negative"),
            (ll_with(&["BYRADIUS", "abc", "km"]), "ERR need numeric radius"),
            (ll_with(&["BYRADIUS", "1e400", "km"]), "ERR need numeric radius"),
            (
                ll_with(&["BYRADIUS", "1", "yd"]),
                "ERR unsupported unit provided. please use M, KM, FT, MI",
            ),
            (ll_with(&["BYBOX", "abc", "1", "km"]), "ERR need numeric width"),
            (ll_with(&["BYBOX", "1", "abc", "km"]), "ERR need numeric height"),
            (
                ll_with(&["BYBOX", "-1", "1", "km"]),
                "ERR height or width cannot be negative",
            ),
            (ll_with(&["BYBOX", "1", "2"]), syntax),
            (ll_with(&["BYRADIUS", "9", "km", "COUNT", "0"]), "ERR COUNT must be > 0"),
            (
                ll_with(&["BYRADIUS", "9", "km", "COUNT", "x"]),
                "ERR value is not an integer or out of range",
            ),
            (
                ll_with(&["BYRADIUS", "9", "km", "ANY"]),
                "ERR the ANY argument requires COUNT argument",
            ),
            (ll_with(&["BYRADIUS", "9", "km", "BYBOX", "1", "1", "km"]), syntax),
            (ll_with(&["FROMMEMBER", "Rome", "BYRADIUS", "9", "km"]), syntax),
            (ll_with(&["BYRADIUS", "9", "km", "STORE", "x"]), syntax),
            (ll_with(&["BYRADIUS", "9", "km", "STOREDIST"]), syntax),
            (
                ll_with(&["WITHDIST"]),
                "ERR wrong number of arguments for 'geosearch' command",
            ),
            (
                vec!["GEOSEARCH", "pts", "FROMMEMBER", "nope", "BYRADIUS", "9", "km"],
                "ERR could not decode requested zset member",
            ),
            (
                vec!["GEOSEARCH", "pts", "FROMLONLAT", "200", "37", "BYRADIUS", "9", "km"],
                "ERR invalid longitude,latitude pair 200.000000,37.000000",
            ),
            // The first error met while reading the options wins.
            (
                vec!["GEOSEARCH", "pts", "BYRADIUS", "-1", "km", "FROMMEMBER", "nope"],
                "ERR radius cannot be negative",
            ),
            (
                vec!["GEOSEARCH", "pts", "BYRADIUS", "9", "km", "COUNT", "1"],
                "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH",
            ),
            // The command's name as sent.
            (
                vec!["GeoSearchStore", "d", "pts", "FROMLONLAT", "1", "1", "COUNT", "1", "ANY"],
                "ERR exactly one of BYRADIUS and BYBOX can be specified for GeoSearchStore",
            ),
            (
                vec!["GEOSEARCHSTORE", "d", "pts", "FROMLONLAT", "1", "1", "BYRADIUS", "9", "km", "WITHDIST"],
                "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            ),
            (
                vec!["GEOSEARCHSTORE", "d", "pts", "FROMLONLAT", "1", "1", "BYRADIUS", "9", "km", "STORE", "x"],
                syntax,
            ),
            (
                vec!["GEORADIUS", "pts", "15", "37", "200", "km", "WITHDIST", "STORE", "x"],
                "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            ),
            (vec!["GEORADIUS", "pts", "15", "37", "200", "km", "STORE"], syntax),
            (vec!["GEORADIUS_RO", "pts", "15", "37", "200", "km", "STORE", "x"], syntax),
            (vec!["GEORADIUS", "pts", "15", "37", "200", "km", "FROMMEMBER", "x"], syntax),
            (vec!["GEORADIUS", "pts", "15", "37", "1", "km", "COUNT", "-1"], "ERR COUNT must be > 0"),
            (
                vec!["GEORADIUS", "nokey", "1", "2", "1", "km", "ANY"],
                "ERR the ANY argument requires COUNT argument",
            ),
            (
                vec!["GEORADIUSBYMEMBER", "pts", "nope", "9", "km", "WITHDIST", "STORE", "d"],
                "ERR could not decode requested zset member",
            ),
            (
                vec!["GEORADIUSBYMEMBER", "nokey", "x", "9", "km", "WITHDIST", "STORE", "d"],
                "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            ),
            (
                vec!["GEORADIUSBYMEMBER", "pts", "Rome", "-1", "km"],
                "ERR radius cannot be negative",
            ),
        ] {
            assert_eq!(qerr(&mut c, &args), err, "{args:?}");
        }
    });
}

#[test]
fn stores_across_shards() {
    both(|s| {
        let mut c = s.conn();
        // Keys without hash tags: spread over the shards of a multi-shard server.
        let k = spread_keys("geo", 6);
        cities(&mut c, &k[0]);
        let n: i64 = qt(
            &mut c,
            &[
                "GEOSEARCHSTORE",
                &k[1],
                &k[0],
                "FROMMEMBER",
                "Rome",
                "BYRADIUS",
                "1500",
                "km",
                "COUNT",
                "3",
            ],
        );
        assert_eq!(n, 3);
        assert_eq!(
            strs(&mut c, &["ZRANGE", &k[1], "0", "-1", "WITHSCORES"]),
            [
                "Palermo",
                "3479099956230698",
                "Rome",
                "3480343273965391",
                "Milan",
                "3663062935203652"
            ]
        );
        // STOREDIST: the distances in the unit asked for.
        let n: i64 = qt(
            &mut c,
            &[
                "GEOSEARCHSTORE",
                &k[2],
                &k[0],
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
                "STOREDIST",
            ],
        );
        assert_eq!(n, 2);
        assert_eq!(
            strs(&mut c, &["ZRANGE", &k[2], "0", "-1", "WITHSCORES"]),
            [
                "Catania",
                "56.441257870158204",
                "Palermo",
                "190.44242984775784"
            ]
        );
        // GEORADIUS STORE / STOREDIST; the last of them names the destination.
        let n: i64 = qt(
            &mut c,
            &[
                "GEORADIUS",
                &k[0],
                "15",
                "37",
                "200",
                "km",
                "STOREDIST",
                &k[3],
                "ASC",
                "COUNT",
                "1",
            ],
        );
        assert_eq!(n, 1);
        assert_eq!(
            strs(&mut c, &["ZRANGE", &k[3], "0", "-1", "WITHSCORES"]),
            ["Catania", "56.441257870158204"]
        );
        let n: i64 = qt(
            &mut c,
            &[
                "GEORADIUSBYMEMBER",
                &k[0],
                "Paris",
                "400",
                "km",
                "STORE",
                &k[5],
                "STORE",
                &k[4],
            ],
        );
        assert_eq!(n, 2);
        assert_eq!(q(&mut c, &["EXISTS", &k[5]]), int(0));
        assert_eq!(
            q(&mut c, &["GEOPOS", &k[4], "London"]),
            arr(vec![pair("-0.12775629758834839", "51.50735008547815141")])
        );
        // The destination is replaced whole, its TTL dropped.
        assert_eq!(q(&mut c, &["EXPIRE", &k[4], "100"]), int(1));
        let n: i64 = qt(
            &mut c,
            &[
                "GEORADIUS",
                &k[0],
                "-0.1",
                "51.5",
                "10",
                "km",
                "STORE",
                &k[4],
            ],
        );
        assert_eq!(n, 1);
        assert_eq!(q(&mut c, &["TTL", &k[4]]), int(-1));
        assert_eq!(strs(&mut c, &["ZRANGE", &k[4], "0", "-1"]), ["London"]);
        // Nothing found, or no source: the destination is deleted.
        let n: i64 = qt(
            &mut c,
            &[
                "GEOSEARCHSTORE",
                &k[4],
                &k[0],
                "FROMLONLAT",
                "100",
                "0",
                "BYRADIUS",
                "1",
                "km",
            ],
        );
        assert_eq!(n, 0);
        assert_eq!(q(&mut c, &["EXISTS", &k[4]]), int(0));
        let n: i64 = qt(
            &mut c,
            &["GEORADIUSBYMEMBER", &k[5], "x", "1", "km", "STORE", &k[3]],
        );
        assert_eq!(n, 0);
        assert_eq!(q(&mut c, &["EXISTS", &k[3]]), int(0));
        // A destination of another type is overwritten; a source of another type is refused.
        assert_eq!(q(&mut c, &["SET", &k[3], "v"]), ok());
        let n: i64 = qt(
            &mut c,
            &[
                "GEOSEARCHSTORE",
                &k[3],
                &k[0],
                "FROMMEMBER",
                "Paris",
                "BYRADIUS",
                "1",
                "km",
            ],
        );
        assert_eq!(n, 1);
        assert_eq!(q(&mut c, &["TYPE", &k[3]]), status("zset"));
        assert_eq!(q(&mut c, &["SET", &k[5], "v"]), ok());
        assert_eq!(
            qerr(
                &mut c,
                &[
                    "GEOSEARCHSTORE",
                    &k[3],
                    &k[5],
                    "FROMLONLAT",
                    "1",
                    "1",
                    "BYRADIUS",
                    "1",
                    "km"
                ]
            ),
            WRONGTYPE
        );
        assert_eq!(
            qerr(
                &mut c,
                &["GEORADIUS", &k[5], "1", "1", "1", "km", "STORE", &k[3]]
            ),
            WRONGTYPE
        );
        // Errors after the lookup leave the destination alone.
        assert_eq!(
            qerr(
                &mut c,
                &[
                    "GEOSEARCHSTORE",
                    &k[3],
                    &k[0],
                    "FROMMEMBER",
                    "nope",
                    "BYRADIUS",
                    "1",
                    "km"
                ]
            ),
            "ERR could not decode requested zset member"
        );
        assert_eq!(q(&mut c, &["ZCARD", &k[3]]), int(1));
    });
}

#[test]
fn wrong_types() {
    both(|s| {
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "s", "v"]), ok());
        for args in [
            &["GEOADD", "s", "1", "1", "a"][..],
            &["GEOPOS", "s", "a"],
            &["GEOHASH", "s", "a"],
            &["GEODIST", "s", "a", "b"],
            &[
                "GEOSEARCH",
                "s",
                "FROMLONLAT",
                "1",
                "1",
                "BYRADIUS",
                "1",
                "km",
            ],
            // The key's type is checked before the arguments.
            &[
                "GEOSEARCH",
                "s",
                "FROMLONLAT",
                "1",
                "1000",
                "BYRADIUS",
                "1",
                "km",
            ],
            &["GEORADIUS", "s", "1", "1", "1", "km"],
            &["GEORADIUS_RO", "s", "1", "1", "1", "km"],
            &["GEORADIUSBYMEMBER", "s", "a", "1", "km"],
            &["GEORADIUSBYMEMBER_RO", "s", "a", "1", "km"],
        ] {
            assert_eq!(qerr(&mut c, args), WRONGTYPE, "{args:?}");
        }
        // The coordinates are checked before ZADD looks at the key.
        assert_eq!(
            qerr(&mut c, &["GEOADD", "s", "1", "100", "a"]),
            "ERR invalid longitude,latitude pair 1.000000,100.000000"
        );
        // A geo set is a sorted set to other commands.
        cities(&mut c, "pts");
        assert_eq!(qerr(&mut c, &["GET", "pts"]), WRONGTYPE);
        assert_eq!(q(&mut c, &["ZCARD", "pts"]), int(6));
    });
}

#[test]
fn resp3_shapes() {
    both(|s| {
        let mut r = s.raw();
        let _ = r.roundtrip(&[b"HELLO", b"3"]);
        let rt = |r: &mut RawConn, args: &[&str]| {
            let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
            String::from_utf8_lossy(&r.roundtrip(&a)).into_owned()
        };
        assert_eq!(
            rt(&mut r, &["GEOADD", "g", "2.352222", "48.856613", "Paris"]),
            ":1\r\n"
        );
        assert_eq!(
            rt(&mut r, &["GEOPOS", "g", "Paris", "x"]),
            "*2\r\n*2\r\n,2.35221952199935913\r\n,48.85661220395509474\r\n_\r\n"
        );
        assert_eq!(rt(&mut r, &["GEODIST", "g", "Paris", "x"]), "_\r\n");
        assert_eq!(
            rt(&mut r, &["GEODIST", "g", "Paris", "Paris"]),
            "$6\r\n0.0000\r\n"
        );
        assert_eq!(
            rt(&mut r, &["GEOHASH", "g", "Paris", "x"]),
            "*2\r\n$11\r\nu09tvw0f6s0\r\n_\r\n"
        );
        assert_eq!(
            rt(
                &mut r,
                &["GEOSEARCH", "g", "FROMMEMBER", "Paris", "BYRADIUS", "1", "m", "WITHDIST", "WITHHASH", "WITHCOORD"]
            ),
            "*1\r\n*4\r\n$5\r\nParis\r\n$6\r\n0.0000\r\n:3663832779125283\r\n*2\r\n,2.35221952199935913\r\n,48.85661220395509474\r\n"
        );
        // RESP2: the coordinates are bulk strings, a missing member a null array.
        let _ = r.roundtrip(&[b"HELLO", b"2"]);
        assert_eq!(
            rt(&mut r, &["GEOPOS", "g", "Paris", "x"]),
            "*2\r\n*2\r\n$19\r\n2.35221952199935913\r\n$20\r\n48.85661220395509474\r\n*-1\r\n"
        );
        assert_eq!(rt(&mut r, &["GEODIST", "g", "Paris", "x"]), "$-1\r\n");
    });
}

/// Positions around the world against a brute-force filter over GEODIST: every member a
/// search returns is within the radius, every member clearly within it is returned.
#[test]
fn radius_search_matches_distances() {
    both(|s| {
        let mut c = s.conn();
        let mut seed = 42u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut args = vec!["GEOADD".to_string(), "w".to_string()];
        for i in 0..300 {
            let lon = next() * 360.0 - 180.0;
            let lat = next() * 170.0 - 85.0;
            args.extend([format!("{lon:.5}"), format!("{lat:.5}"), format!("p{i}")]);
        }
        let _: i64 = qt(&mut c, &args);
        for (center, radius_km) in [
            ("p0", 3000.0),
            ("p1", 500.0),
            ("p2", 9000.0),
            ("p3", 20000.0),
        ] {
            let found = strs(
                &mut c,
                &[
                    "GEOSEARCH",
                    "w",
                    "FROMMEMBER",
                    center,
                    "BYRADIUS",
                    &radius_km.to_string(),
                    "km",
                ],
            );
            for i in 0..300 {
                let m = format!("p{i}");
                let d: f64 = qt::<String, _>(&mut c, &["GEODIST", "w", center, &m, "km"])
                    .parse()
                    .unwrap_or(f64::NAN);
                let inside = found.contains(&m);
                if d < radius_km - 0.01 {
                    assert!(inside, "{m} at {d} km from {center} missing");
                } else if d > radius_km + 0.01 {
                    assert!(!inside, "{m} at {d} km from {center} returned");
                }
            }
        }
    });
}

#[test]
fn stores_survive_an_aof_restart() {
    if skip_under_redis("shardis AOF layout") {
        return;
    }
    let args = ["--appendonly", "yes"];
    let mut s = Server::start_with(4, &args);
    let k = spread_keys("geoaof", 4);
    {
        let mut c = s.conn();
        cities(&mut c, &k[0]);
        let n: i64 = qt(
            &mut c,
            &[
                "GEOSEARCHSTORE",
                &k[1],
                &k[0],
                "FROMMEMBER",
                "Rome",
                "BYRADIUS",
                "500",
                "km",
                "STOREDIST",
            ],
        );
        assert_eq!(n, 3);
        let n: i64 = qt(
            &mut c,
            &["GEORADIUS", &k[0], "2", "50", "400", "km", "STORE", &k[2]],
        );
        assert_eq!(n, 2);
        let n: i64 = qt(
            &mut c,
            &["GEORADIUS", &k[0], "100", "0", "1", "km", "STORE", &k[1]],
        );
        assert_eq!(n, 0);
    }
    s.shutdown();
    let s = s.restart(4, &args).expect("restart");
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["ZCARD", &k[0]]), int(6));
    assert_eq!(q(&mut c, &["EXISTS", &k[1]]), int(0));
    assert_eq!(
        strs(&mut c, &["ZRANGE", &k[2], "0", "-1"]),
        ["London", "Paris"]
    );
    assert_eq!(
        q(&mut c, &["GEOPOS", &k[2], "London"]),
        arr(vec![pair("-0.12775629758834839", "51.50735008547815141")])
    );
}
