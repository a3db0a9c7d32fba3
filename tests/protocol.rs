//! Wire protocol checks on raw TCP connections, byte for byte.

mod common;

use common::*;
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Upper bound for "answers promptly": a liveness check, not a benchmark.
const PROMPT: Duration = Duration::from_secs(5);

#[test]
fn inline_commands() {
    both(|s| {
        let mut r = s.raw();
        r.send(b"PING\r\n");
        assert_eq!(r.read_reply(), b"+PONG\r\n");
        // A bare LF also terminates an inline command.
        r.send(b"PING\n");
        assert_eq!(r.read_reply(), b"+PONG\r\n");
        r.send(b"PING hello\r\n");
        assert_eq!(r.read_reply(), b"$5\r\nhello\r\n");
        r.send(b"SET k \"a b\"\r\nGET k\r\n");
        assert_eq!(r.read_reply(), b"+OK\r\n");
        assert_eq!(r.read_reply(), b"$3\r\na b\r\n");
        // Escapes inside double quotes.
        r.send(b"SET k \"a\\x41\\n\\\"q\\t\"\r\nGET k\r\n");
        assert_eq!(r.read_reply(), b"+OK\r\n");
        assert_eq!(r.read_reply(), b"$6\r\naA\n\"q\t\r\n");
        // Single quotes: only \' is an escape.
        r.send(b"SET k 'a b\\' c\\n'\r\nGET k\r\n");
        assert_eq!(r.read_reply(), b"+OK\r\n");
        assert_eq!(r.read_reply(), b"$8\r\na b' c\\n\r\n");
        // Empty quoted argument, extra spaces and tabs between arguments.
        r.send(b"SET   e  \"\"\r\nSTRLEN e\r\nSET\tt\tv\r\nGET t\r\n");
        assert_eq!(r.read_reply(), b"+OK\r\n");
        assert_eq!(r.read_reply(), b":0\r\n");
        assert_eq!(r.read_reply(), b"+OK\r\n");
        assert_eq!(r.read_reply(), b"$1\r\nv\r\n");
        // Empty lines and blank lines are ignored.
        r.send(b"\r\n\r\n   \r\nPING\r\n");
        assert_eq!(r.read_reply(), b"+PONG\r\n");
        // Inline and multibulk can be mixed on one connection.
        r.send(b"*2\r\n$3\r\nGET\r\n$1\r\nt\r\nGET t\r\n");
        assert_eq!(r.read_reply(), b"$1\r\nv\r\n");
        assert_eq!(r.read_reply(), b"$1\r\nv\r\n");
        // Lowercase command names.
        r.send(b"ping\r\n");
        assert_eq!(r.read_reply(), b"+PONG\r\n");
    });
}

#[test]
fn inline_unbalanced_quotes_is_a_protocol_error() {
    both(|s| {
        for bad in [
            &b"SET k \"a b\r\n"[..],
            b"SET k \"a\"b\r\n",
            b"SET k 'abc\r\n",
        ] {
            let mut r = s.raw();
            r.send(bad);
            assert_eq!(
                r.read_reply_str(),
                "-ERR Protocol error: unbalanced quotes in request\r\n"
            );
            r.expect_closed();
        }
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["EXISTS", "k"]), int(0));
    });
}

#[test]
fn inline_size_limit() {
    both(|s| {
        // Exactly 64 KiB without a newline is still accepted...
        let mut r = s.raw();
        r.send(&vec![b'x'; 64 * 1024]);
        r.send(b"\r\n");
        let expected = format!(
            "-ERR unknown command '{}', with args beginning with: \r\n",
            "x".repeat(128)
        );
        assert_eq!(r.read_reply_str(), expected);
        r.send(b"PING\r\n");
        assert_eq!(r.read_reply(), b"+PONG\r\n");
        // ...one byte more is a protocol error and the connection is closed.
        let mut r = s.raw();
        r.send(b"PING\r\n");
        r.send(&vec![b'x'; 64 * 1024 + 1]);
        assert_eq!(r.read_reply(), b"+PONG\r\n");
        assert_eq!(
            r.read_reply_str(),
            "-ERR Protocol error: too big inline request\r\n"
        );
        r.expect_closed();
    });
}

#[test]
fn multibulk_protocol_errors_close_the_connection() {
    both(|s| {
        let cases: &[(&[u8], &str)] = &[
            (
                b"*abc\r\n",
                "-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*3000000000\r\n",
                "-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*2147483648\r\n",
                "-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*\x01\x02garbage\r\n",
                "-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*1\r\n$abc\r\n",
                "-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                b"*1\r\n$-1\r\n",
                "-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                b"*1\r\n$536870913\r\n",
                "-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                b"*1\r\nxfoo\r\n",
                "-ERR Protocol error: expected '$', got 'x'\r\n",
            ),
            (
                b"*2\r\n$3\r\nGET\r\n:1\r\n",
                "-ERR Protocol error: expected '$', got ':'\r\n",
            ),
        ];
        for (input, expected) in cases {
            let mut r = s.raw();
            // Commands before the bad frame are still answered.
            r.send(b"*1\r\n$4\r\nPING\r\n");
            r.send(input);
            assert_eq!(r.read_reply(), b"+PONG\r\n");
            assert_eq!(
                r.read_reply_str(),
                *expected,
                "input {:?}",
                String::from_utf8_lossy(input)
            );
            r.expect_closed();
        }
        // The server is still fine.
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["PING"]), status("PONG"));
    });
}

#[test]
fn multibulk_edge_cases() {
    both(|s| {
        let mut r = s.raw();
        // Empty and null multibulk headers are skipped silently.
        r.send(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(r.read_reply(), b"+PONG\r\n");
        // A frame split into tiny pieces is reassembled.
        let frame = encode_cmd(&[b"SET", b"split", b"hello world"]);
        for chunk in frame.chunks(3) {
            r.send(chunk);
            r.stream.flush().expect("flush");
        }
        assert_eq!(r.read_reply(), b"+OK\r\n");
        r.send(b"*2\r\n$3\r\nGET\r\n$5\r\nsplit\r\n");
        assert_eq!(r.read_reply(), b"$11\r\nhello world\r\n");
        // Binary argument with CR LF inside, and an empty argument.
        r.send(b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$4\r\n\r\n\r\n\r\n");
        assert_eq!(r.read_reply(), b"+OK\r\n");
        r.send(b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
        assert_eq!(r.read_reply(), b"$4\r\n\r\n\r\n\r\n");
        // A 1 MiB value.
        let big = vec![b'z'; 1 << 20];
        r.send_cmd(&[b"SET", b"big", &big]);
        assert_eq!(r.read_reply(), b"+OK\r\n");
        r.send_cmd(&[b"GET", b"big"]);
        let reply = r.read_reply();
        assert_eq!(&reply[..11], b"$1048576\r\nz");
        assert_eq!(reply.len(), (1 << 20) + 12);
    });
}

#[test]
fn unknown_command_and_arity_errors() {
    both(|s| {
        let mut r = s.raw();
        r.send_cmd(&[b"foo", b"a", b"b"]);
        assert_eq!(
            r.read_reply_str(),
            "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"
        );
        r.send(b"foo\r\n");
        assert_eq!(
            r.read_reply_str(),
            "-ERR unknown command 'foo', with args beginning with: \r\n"
        );
        r.send(b"FOO a\r\n");
        assert_eq!(
            r.read_reply_str(),
            "-ERR unknown command 'FOO', with args beginning with: 'a' \r\n"
        );
        // Arguments are cut once the list reaches 128 characters.
        let long = "abcdefghij ".repeat(20);
        r.send(format!("foo {long}\r\n").as_bytes());
        let expected = format!(
            "-ERR unknown command 'foo', with args beginning with: {}\r\n",
            "'abcdefghij' ".repeat(10)
        );
        assert_eq!(r.read_reply_str(), expected);
        r.send(format!("foo {}\r\n", "y".repeat(200)).as_bytes());
        let expected = format!(
            "-ERR unknown command 'foo', with args beginning with: '{}' \r\n",
            "y".repeat(128)
        );
        assert_eq!(r.read_reply_str(), expected);
        // CR and LF in the echoed text become spaces.
        r.send(b"*2\r\n$3\r\nf\ro\r\n$3\r\na\nb\r\n");
        assert_eq!(
            r.read_reply_str(),
            "-ERR unknown command 'f o', with args beginning with: 'a b' \r\n"
        );
        r.send(b"GET\r\n");
        assert_eq!(
            r.read_reply_str(),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        r.send(b"get a b\r\n");
        assert_eq!(
            r.read_reply_str(),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        r.send(b"SeT k\r\n");
        assert_eq!(
            r.read_reply_str(),
            "-ERR wrong number of arguments for 'set' command\r\n"
        );
        // Errors do not close the connection.
        r.send(b"PING\r\n");
        assert_eq!(r.read_reply(), b"+PONG\r\n");
    });
}

#[test]
fn pipelining_ten_thousand_commands() {
    both(|s| {
        let mut r = s.raw();
        let mut batch = Vec::new();
        for i in 0..10_000 {
            if i % 2 == 0 {
                batch.extend_from_slice(&encode_cmd(&[b"INCR", b"ctr"]));
            } else {
                batch.extend_from_slice(&encode_cmd(&[b"GET", b"ctr"]));
            }
        }
        let mut writer = r.stream.try_clone().expect("clone stream");
        let t = std::thread::spawn(move || writer.write_all(&batch).expect("one big write"));
        for i in 0..10_000 {
            let n = i / 2 + 1;
            let want = if i % 2 == 0 {
                format!(":{n}\r\n")
            } else {
                format!("${}\r\n{n}\r\n", n.to_string().len())
            };
            assert_eq!(r.read_reply_str(), want, "reply #{i}");
        }
        t.join().expect("writer thread");
        // Inline commands pipelined too.
        let inline = "PING\r\n".repeat(1000);
        r.send(inline.as_bytes());
        let all = r.read_exact_bytes(7 * 1000);
        assert_eq!(all, "+PONG\r\n".repeat(1000).into_bytes());
    });
}

#[test]
fn hello_and_resp3() {
    both(|s| {
        let mut r = s.raw();
        r.send(b"HELLO 3\r\n");
        let hello = r.read_value();
        let Resp::Map(pairs) = &hello else {
            panic!("HELLO 3 must reply with a map, got {hello:?}")
        };
        let mut keys: Vec<String> = pairs
            .iter()
            .map(|(k, _)| match k {
                Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("map key {other:?}"),
            })
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            ["id", "mode", "modules", "proto", "role", "server", "version"]
        );
        assert_eq!(hello.map_get("proto"), Some(&Resp::Int(3)));
        assert_eq!(
            hello.map_get("mode"),
            Some(&Resp::Bulk(b"standalone".to_vec()))
        );
        assert_eq!(hello.map_get("role"), Some(&Resp::Bulk(b"master".to_vec())));
        assert_eq!(hello.map_get("modules"), Some(&Resp::Array(vec![])));
        assert!(matches!(hello.map_get("server"), Some(Resp::Bulk(_))));
        assert!(matches!(hello.map_get("version"), Some(Resp::Bulk(_))));
        let Some(Resp::Int(id)) = hello.map_get("id") else {
            panic!("HELLO id must be an integer: {hello:?}")
        };
        r.send(b"CLIENT ID\r\n");
        assert_eq!(r.read_reply_str(), format!(":{id}\r\n"));
        // RESP3 null.
        r.send(b"GET nokey\r\n");
        assert_eq!(r.read_reply(), b"_\r\n");
        r.send(b"MGET nokey\r\n");
        assert_eq!(r.read_reply(), b"*1\r\n_\r\n");
        // CONFIG GET replies with a map.
        r.send(b"CONFIG GET maxmemory\r\n");
        assert_eq!(r.read_reply(), b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
        // LCS IDX replies with a map.
        r.send(b"MSET a ohmytext b mynewtext\r\n");
        assert_eq!(r.read_reply(), b"+OK\r\n");
        r.send(b"LCS a b IDX\r\n");
        assert_eq!(
            r.read_reply(),
            &b"%2\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n"[..]
        );
        // Verbatim strings for CLIENT INFO and INFO.
        r.send(b"CLIENT INFO\r\n");
        match r.read_value() {
            Resp::Verbatim(fmt, text) => {
                assert_eq!(fmt, "txt");
                assert!(text.starts_with(format!("id={id} ").as_bytes()));
            }
            other => panic!("CLIENT INFO in RESP3 should be verbatim: {other:?}"),
        }
        r.send(b"INFO keyspace\r\n");
        match r.read_value() {
            Resp::Verbatim(fmt, text) => {
                assert_eq!(fmt, "txt");
                assert!(
                    text.starts_with(b"# Keyspace\r\n"),
                    "{:?}",
                    String::from_utf8_lossy(&text)
                );
            }
            other => panic!("INFO in RESP3 should be verbatim: {other:?}"),
        }
        // Unchanged replies.
        r.send(b"INCRBYFLOAT f 1.5\r\nEXISTS a b\r\nPING\r\n");
        assert_eq!(r.read_reply(), b"$3\r\n1.5\r\n");
        assert_eq!(r.read_reply(), b":2\r\n");
        assert_eq!(r.read_reply(), b"+PONG\r\n");
        // HELLO without a version reports the current protocol.
        r.send(b"HELLO\r\n");
        assert_eq!(r.read_value().map_get("proto"), Some(&Resp::Int(3)));
        // HELLO 2 switches back: the same reply as an array.
        r.send(b"HELLO 2\r\n");
        match r.read_value() {
            Resp::Array(items) => {
                assert_eq!(items.len(), 14);
                assert_eq!(items[4], Resp::Bulk(b"proto".to_vec()));
                assert_eq!(items[5], Resp::Int(2));
            }
            other => panic!("HELLO 2 must reply with an array, got {other:?}"),
        }
        r.send(b"GET nokey\r\nCONFIG GET maxmemory\r\n");
        assert_eq!(r.read_reply(), b"$-1\r\n");
        assert_eq!(r.read_reply(), b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
        // Unsupported versions.
        r.send(b"HELLO 4\r\n");
        assert_eq!(
            r.read_reply_str(),
            "-NOPROTO unsupported protocol version\r\n"
        );
        r.send(b"HELLO 1\r\n");
        assert_eq!(
            r.read_reply_str(),
            "-NOPROTO unsupported protocol version\r\n"
        );
        r.send(b"HELLO abc\r\n");
        assert_eq!(
            r.read_reply_str(),
            "-ERR Protocol version is not an integer or out of range\r\n"
        );
        // A failed HELLO leaves the protocol alone.
        r.send(b"GET nokey\r\n");
        assert_eq!(r.read_reply(), b"$-1\r\n");
    });
}

#[test]
fn hello_setname() {
    both(|s| {
        let mut r = s.raw();
        r.send(b"HELLO 3 SETNAME myconn\r\n");
        assert!(matches!(r.read_value(), Resp::Map(_)));
        r.send(b"CLIENT GETNAME\r\n");
        assert_eq!(r.read_reply(), b"$6\r\nmyconn\r\n");
        r.send(b"HELLO 3 FOO\r\n");
        assert_eq!(
            r.read_reply_str(),
            "-ERR Syntax error in HELLO option 'FOO'\r\n"
        );
    });
}

#[test]
fn garbage_does_not_hurt_other_clients() {
    both(|s| {
        let mut good = s.conn();
        assert_eq!(q(&mut good, &["SET", "k", "v"]), ok());
        let garbage: &[&[u8]] = &[
            b"*\x01\x02garbage\r\n",
            b"\x16\x03\x01\x02\x05\x01\x07\x01\xfc\x03\x03*zz\r\n",
            b"$$$$\r\n",
            b"\xff\xfe\xfd\r\n",
            b"*1\r\n$2\r\n\x00\x01\r\n",
            b"GET \"unterminated\r\n",
        ];
        for g in garbage {
            let mut r = s.raw();
            r.send(g);
            let reply = r.read_reply_str();
            assert!(reply.starts_with("-ERR "), "garbage {g:?} got {reply:?}");
            assert_eq!(q(&mut good, &["GET", "k"]), bulk("v"));
        }
        // Several garbage connections at once, one of them left open.
        let mut open = s.raw();
        open.send(b"*1\r\n$10\r\nabc");
        let mut r = s.raw();
        r.send(b"*zzz\r\n");
        assert_eq!(
            r.read_reply_str(),
            "-ERR Protocol error: invalid multibulk length\r\n"
        );
        assert_eq!(q(&mut good, &["PING"]), status("PONG"));
        open.send(b"defghij\r\n");
        assert_eq!(
            open.read_reply_str(),
            "-ERR unknown command 'abcdefghij', with args beginning with: \r\n"
        );
    });
}

#[test]
fn slow_reader_does_not_block_other_clients() {
    both(|s| {
        let mut c = s.conn();
        let value = "v".repeat(1024);
        assert_eq!(q(&mut c, &["SET", "big", &value]), ok());
        // ~50 MB of replies that the flooding client never reads.
        let flood = TcpStream::connect(("127.0.0.1", s.port())).expect("flood connect");
        let mut writer = flood.try_clone().expect("clone flood stream");
        let writer_thread = std::thread::spawn(move || {
            let chunk = encode_cmd(&[b"GET", b"big"]).repeat(1000);
            let mut sent = 0;
            while sent < 50_000 {
                if writer.write_all(&chunk).is_err() {
                    break;
                }
                sent += 1000;
            }
            sent
        });
        // Give the flood a head start (until it is fully written, or the
        // server applies back-pressure), then check others are served.
        wait_until(Duration::from_secs(2), || writer_thread.is_finished());
        let mut other = s.raw();
        for i in 0..20 {
            let start = Instant::now();
            other.send(b"PING\r\n");
            assert_eq!(other.read_reply(), b"+PONG\r\n");
            let took = start.elapsed();
            assert!(took < PROMPT, "PING #{i} took {took:?} during the flood");
        }
        let start = Instant::now();
        assert_eq!(q(&mut c, &["GET", "big"]), bulk(&value));
        assert!(start.elapsed() < PROMPT, "GET took {:?}", start.elapsed());
        let mut fresh = s.conn();
        assert_eq!(q(&mut fresh, &["INCR", "n"]), int(1));
        // Close the flooding connection; the server must survive it.
        flood.shutdown(Shutdown::Both).expect("shutdown flood");
        drop(flood);
        writer_thread.join().expect("writer thread");
        let mut after = s.conn();
        assert_eq!(q(&mut after, &["GET", "n"]), bulk("1"));
        assert_eq!(q(&mut after, &["DBSIZE"]), int(2));
    });
}

#[test]
fn quit_replies_ok_and_closes() {
    both(|s| {
        let mut r = s.raw();
        r.send(b"QUIT\r\nPING\r\n");
        assert_eq!(r.read_reply(), b"+OK\r\n");
        r.expect_closed();
        let mut r = s.raw();
        r.send_cmd(&[b"QUIT"]);
        assert_eq!(r.read_reply(), b"+OK\r\n");
        r.expect_closed();
    });
}

#[test]
fn reset_restores_connection_defaults() {
    both(|s| {
        let mut r = s.raw();
        r.send(b"SET k db0\r\nSELECT 5\r\nSET k db5\r\nCLIENT SETNAME named\r\n");
        for _ in 0..4 {
            assert_eq!(r.read_reply(), b"+OK\r\n");
        }
        r.send(b"HELLO 3\r\n");
        assert!(matches!(r.read_value(), Resp::Map(_)));
        r.send(b"RESET\r\n");
        assert_eq!(r.read_reply(), b"+RESET\r\n");
        // Back to RESP2, db 0, no name.
        r.send(b"GET nokey\r\nGET k\r\nCLIENT GETNAME\r\n");
        assert_eq!(r.read_reply(), b"$-1\r\n");
        assert_eq!(r.read_reply(), b"$3\r\ndb0\r\n");
        assert_eq!(r.read_reply(), b"$-1\r\n");
        r.send(b"CLIENT REPLY OFF\r\nPING\r\nRESET\r\nPING\r\n");
        assert_eq!(r.read_reply(), b"+RESET\r\n");
        assert_eq!(r.read_reply(), b"+PONG\r\n");
    });
}

#[test]
fn large_pipelined_output_is_all_delivered() {
    // More reply bytes than the per-connection high-water mark, sent as one pipeline: the
    // server must pause and resume, not stall with commands left in its input buffer.
    both(|s| {
        let mut r = s.raw();
        let value = vec![b'v'; 64 * 1024];
        r.send_cmd(&[b"SET", b"{big}v", &value]);
        assert_eq!(r.read_reply(), b"+OK\r\n");
        let mut pipeline = Vec::new();
        for i in 0..200 {
            // Alternate the shard that owns the key, so batches to other shards take part.
            let key = if i % 2 == 0 {
                &b"{big}v"[..]
            } else {
                &b"missing-key"[..]
            };
            pipeline.extend_from_slice(&encode_cmd(&[b"GET", key]));
        }
        r.send(&pipeline);
        for i in 0..200 {
            let reply = r.read_reply();
            if i % 2 == 0 {
                assert_eq!(reply.len(), 64 * 1024 + 10, "reply {i}");
            } else {
                assert_eq!(reply, b"$-1\r\n", "reply {i}");
            }
        }
    });
}
