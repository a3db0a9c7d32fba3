//! Start-up and shutdown behaviour of the binary: configuration errors name the directive and
//! line, a busy port is refused, SIGTERM/SIGINT/SHUTDOWN exit cleanly.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

fn shardis() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shardis"))
}

#[test]
fn bad_directive_value_names_it_and_exits_1() {
    if skip_under_redis("shardis start-up messages") {
        return;
    }
    let out = shardis()
        .args(["--port", "abc"])
        .output()
        .expect("run shardis");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FATAL CONFIG FILE ERROR"), "{err}");
    assert!(err.contains("port"), "{err}");
}

#[test]
fn unknown_directive_in_file_names_file_and_line() {
    if skip_under_redis("shardis start-up messages") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("shardis-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("bad.conf");
    std::fs::write(&conf, "port 7777\n# comment\nno-such-directive 1\n").expect("write conf");
    let out = shardis().arg(&conf).output().expect("run shardis");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("no-such-directive"), "{err}");
    assert!(err.contains("bad.conf"), "{err}");
}

#[test]
fn busy_port_is_a_startup_error() {
    let s = Server::start(2);
    if is_redis() {
        return;
    }
    let port = s.port().to_string();
    let out = shardis()
        .args(["--port", &port, "--bind", "127.0.0.1", "--shards", "1"])
        .output()
        .expect("run shardis");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Address already in use"), "{err}");
    // The running server is unharmed.
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["PING"]), status("PONG"));
}

#[test]
fn sigterm_and_sigint_exit_zero() {
    if skip_under_redis("exit status of shardis") {
        return;
    }
    for (shards, sig) in [(1, libc_sig::TERM), (4, libc_sig::INT), (4, libc_sig::TERM)] {
        let mut s = Server::start(shards);
        let mut c = s.conn();
        assert_eq!(q(&mut c, &["SET", "k", "v"]), ok());
        s.signal(sig);
        let st = s
            .wait_exit(Duration::from_secs(10))
            .expect("server exits after the signal");
        assert_eq!(
            st.code(),
            Some(0),
            "shards={shards} {sig}: {}",
            s.log_contents()
        );
    }
}

#[test]
fn shutdown_command_stops_the_server() {
    if skip_under_redis("exit status of shardis") {
        return;
    }
    let mut s = Server::start(4);
    let mut c = s.conn();
    // Redis closes the connection without a reply.
    let _ = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query::<redis::Value>(&mut c);
    let st = s
        .wait_exit(Duration::from_secs(10))
        .expect("server exits after SHUTDOWN");
    assert_eq!(st.code(), Some(0));
}

/// Signal names for `kill`.
mod libc_sig {
    pub const TERM: &str = "-TERM";
    pub const INT: &str = "-INT";
}
