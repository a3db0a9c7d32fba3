//! TLS (`tls-port`): certificates are made here (a CA, a server and a client certificate),
//! the server runs both ports, and clients speak RESP over rustls or through `redis-cli --tls`.

mod common;

use common::*;
use redis::Value;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

/// A certificate and its key, as DER and as PEM files.
struct Issued {
    cert: CertificateDer<'static>,
    key_der: Vec<u8>,
    cert_file: PathBuf,
    key_file: PathBuf,
}

/// A test PKI: a CA with a server and a client certificate, written to `dir`.
struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
    ca_file: PathBuf,
    server: Issued,
    client: Issued,
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write a PEM file");
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("shardis-tls-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the PKI dir");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, format!("shardis test CA {tag}"));
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = p.self_signed(&ca_key).expect("self-sign the CA");
        let ca_file = dir.join("ca.crt");
        write(&ca_file, &ca.pem());
        let mut pki = Pki {
            dir,
            ca,
            ca_key,
            ca_file,
            server: Issued::placeholder(),
            client: Issued::placeholder(),
        };
        pki.server = pki.issue(
            "server",
            &["localhost", "127.0.0.1"],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        pki.client = pki.issue("client", &[], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
        pki
    }

    fn issue(&self, name: &str, sans: &[&str], usage: rcgen::ExtendedKeyUsagePurpose) -> Issued {
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut p = rcgen::CertificateParams::new(sans).expect("leaf params");
        p.distinguished_name
            .push(rcgen::DnType::CommonName, name.to_string());
        p.extended_key_usages = vec![usage];
        let cert = p
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign a leaf");
        let cert_file = self.dir.join(format!("{name}.crt"));
        let key_file = self.dir.join(format!("{name}.key"));
        write(&cert_file, &cert.pem());
        write(&key_file, &key.serialize_pem());
        Issued {
            cert: cert.der().clone(),
            key_der: key.serialize_der(),
            cert_file,
            key_file,
        }
    }

    /// Server arguments for a TLS port with this PKI (client certificates required).
    fn server_args(&self, tls_port: u16) -> Vec<String> {
        vec![
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            path_str(&self.server.cert_file),
            "--tls-key-file".into(),
            path_str(&self.server.key_file),
            "--tls-ca-cert-file".into(),
            path_str(&self.ca_file),
        ]
    }
}

impl Issued {
    fn placeholder() -> Issued {
        Issued {
            cert: CertificateDer::from(Vec::new()),
            key_der: Vec::new(),
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// From the harness's pool, so no other server of this test process is handed the same port
/// (two servers would share it through SO_REUSEPORT).
fn free_tls_port() -> u16 {
    free_port()
}

// ---------------------------------------------------------------------------
// A RESP client over rustls
// ---------------------------------------------------------------------------

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

struct TlsClient {
    stream: Tls,
    parser: redis::Parser,
    /// The server's plain port, to show its view of the clients when a reply does not come.
    diag_port: Option<u16>,
}

/// CLIENT LIST through the plain port (for failure messages).
fn client_list(port: u16) -> String {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(READ_TIMEOUT))
        .and_then(|mut c| redis::cmd("CLIENT").arg("LIST").query::<String>(&mut c))
        .unwrap_or_else(|e| format!("(CLIENT LIST failed: {e})"))
}

/// Connect to `port` trusting `ca`; present `client` if given.
fn try_tls(
    port: u16,
    ca: &CertificateDer<'static>,
    client: Option<&Issued>,
) -> std::io::Result<TlsClient> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("trust the test CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    let cfg = match client {
        Some(c) => builder
            .with_client_auth_cert(
                vec![c.cert.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der.clone())),
            )
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from("localhost").expect("server name");
    let conn = rustls::ClientConnection::new(Arc::new(cfg), name).expect("client session");
    let sock = TcpStream::connect(("127.0.0.1", port))?;
    sock.set_read_timeout(Some(READ_TIMEOUT))?;
    sock.set_write_timeout(Some(READ_TIMEOUT))?;
    let mut stream = rustls::StreamOwned::new(conn, sock);
    // Finish the handshake now, so a refused certificate shows here or on the first reply.
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(TlsClient {
        stream,
        parser: redis::Parser::new(),
        diag_port: None,
    })
}

impl TlsClient {
    fn connect(port: u16, pki: &Pki) -> TlsClient {
        try_tls(port, &pki.ca.der().clone(), Some(&pki.client)).expect("TLS connection")
    }

    fn send(&mut self, args: &[&[u8]]) {
        let c = cmd(args);
        self.stream
            .write_all(&c.get_packed_command())
            .expect("send over TLS");
    }

    fn try_reply(&mut self) -> redis::RedisResult<Value> {
        self.parser.parse_value(&mut self.stream)
    }

    fn reply(&mut self) -> Value {
        match self.try_reply() {
            Ok(v) => v,
            Err(e) => {
                let clients = self.diag_port.map(client_list).unwrap_or_default();
                panic!("no reply over TLS: {e}\nserver's clients:\n{clients}")
            }
        }
    }

    fn q(&mut self, args: &[&[u8]]) -> Value {
        self.send(args);
        match self.try_reply() {
            Ok(v) => v,
            Err(e) => {
                let shown: Vec<_> = args.iter().map(|a| String::from_utf8_lossy(a)).collect();
                let clients = self.diag_port.map(client_list).unwrap_or_default();
                panic!("no reply over TLS to {shown:?}: {e}\nserver's clients:\n{clients}")
            }
        }
    }
}

/// A server with both ports, its PKI and its TLS port.
struct TlsServer {
    server: Server,
    pki: Pki,
    tls_port: u16,
}

fn start(shards: usize, extra: &[&str]) -> TlsServer {
    let pki = Pki::new(&format!("{shards}-{}", fastrand_tag()));
    let tls_port = free_tls_port();
    let mut args = pki.server_args(tls_port);
    args.extend(["--loglevel".to_string(), "verbose".to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_with(shards, &refs);
    TlsServer {
        server,
        pki,
        tls_port,
    }
}

/// A per-call tag, so parallel tests use their own PKI directories.
fn fastrand_tag() -> usize {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

fn both_tls(extra: &[&str], f: impl Fn(&TlsServer)) {
    if skip_under_redis("shardis's TLS tests set up their own certificates") {
        return;
    }
    for shards in [1, 4] {
        let s = start(shards, extra);
        f(&s);
    }
}

impl TlsServer {
    fn client(&self) -> TlsClient {
        let mut c = TlsClient::connect(self.tls_port, &self.pki);
        c.diag_port = Some(self.server.port());
        c
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn set_get_across_shards_over_tls_and_plain() {
    both_tls(&[], |s| {
        let mut t = s.client();
        let mut plain = s.server.conn();
        assert_eq!(t.q(&[b"PING"]), status("PONG"));
        for i in 0..64 {
            let k = format!("key:{i}");
            let v = format!("tls-{i}");
            assert_eq!(t.q(&[b"SET", k.as_bytes(), v.as_bytes()]), ok());
        }
        // Both ports serve one keyspace.
        for i in 0..64 {
            let k = format!("key:{i}");
            assert_eq!(q(&mut plain, &["GET", &k]), bulk(format!("tls-{i}")));
            q(&mut plain, &["SET", &format!("plain:{i}"), &i.to_string()]);
        }
        for i in 0..64 {
            let k = format!("plain:{i}");
            assert_eq!(t.q(&[b"GET", k.as_bytes()]), bulk(i.to_string()));
        }
        // Multi-key commands spanning shards run over TLS too.
        assert_eq!(t.q(&[b"MSET", b"{a}1", b"x", b"b", b"y", b"c", b"z"]), ok());
        assert_eq!(
            t.q(&[b"MGET", b"{a}1", b"b", b"c", b"nokey"]),
            arr(vec![bulk("x"), bulk("y"), bulk("z"), nil()])
        );
        assert_eq!(t.q(&[b"DBSIZE"]), int(131));
        // QUIT: the reply, then a clean TLS end of stream (close_notify, not a cut).
        assert_eq!(t.q(&[b"QUIT"]), ok());
        let mut rest = Vec::new();
        let end = t.stream.read_to_end(&mut rest);
        assert!(end.is_ok() && rest.is_empty(), "{end:?} {rest:?}");
    });
}

#[test]
fn big_values_both_ways() {
    both_tls(&[], |s| {
        let mut t = s.client();
        let mut plain = s.server.conn();
        let big: Vec<u8> = (0..(1usize << 20)).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(t.q(&[b"SET", b"big", &big]), ok());
        assert_eq!(t.q(&[b"GET", b"big"]), bulk(&big));
        assert_eq!(t.q(&[b"STRLEN", b"big"]), int(1 << 20));
        let from_plain: Vec<u8> = qt(&mut plain, &["GET", "big"]);
        assert_eq!(from_plain, big);
        // Written on the plain port, read over TLS; several at once (4 MiB of replies).
        let other: Vec<u8> = big.iter().rev().copied().collect();
        let _: () = redis::cmd("SET")
            .arg("big2")
            .arg(&other)
            .query(&mut plain)
            .expect("SET big2");
        for _ in 0..2 {
            t.send(&[b"GET", b"big2"]);
            t.send(&[b"GET", b"big"]);
        }
        for _ in 0..2 {
            assert_eq!(t.reply(), bulk(&other));
            assert_eq!(t.reply(), bulk(&big));
        }
    });
}

#[test]
fn pipelining_over_tls() {
    both_tls(&[], |s| {
        let mut t = s.client();
        let n = 2000;
        let mut wire = Vec::new();
        for i in 0..n {
            wire.extend_from_slice(
                &cmd(&["SET", &format!("p:{i}"), &format!("v{i}")]).get_packed_command(),
            );
            wire.extend_from_slice(&cmd(&["GET", &format!("p:{i}")]).get_packed_command());
        }
        t.stream.write_all(&wire).expect("send the pipeline");
        for i in 0..n {
            assert_eq!(t.reply(), ok(), "reply to SET #{i}");
            assert_eq!(t.reply(), bulk(format!("v{i}")), "reply to GET #{i}");
        }
        assert_eq!(t.q(&[b"DBSIZE"]), int(n as i64));
    });
}

#[test]
fn auth_clients_yes_refuses_a_client_without_certificate() {
    both_tls(&[], |s| {
        let ca = s.pki.ca.der().clone();
        // TLS 1.3: the client's side of the handshake ends before the server checks its
        // (missing) certificate, so the refusal shows at the latest on the first reply.
        let how = match try_tls(s.tls_port, &ca, None) {
            Err(e) => Err(format!("handshake: {e}")),
            Ok(mut c) => match c.stream.write_all(&cmd(&["PING"]).get_packed_command()) {
                Err(e) => Err(format!("send: {e}")),
                Ok(()) => match c.try_reply() {
                    Err(e) => Err(format!("reply: {e}")),
                    Ok(v) => Ok(v),
                },
            },
        };
        let Err(how) = how else {
            panic!("a client without certificate got an answer: {how:?}");
        };
        let logged = wait_until(Duration::from_secs(10), || {
            s.server
                .log_contents()
                .contains("peer sent no certificates")
        });
        assert!(
            logged,
            "no log line for the refused client (it saw {how}); server's clients:\n{}",
            client_list(s.server.port())
        );
        // The server goes on serving; `optional` lets certificate-less clients in.
        let mut plain = s.server.conn();
        assert_eq!(
            q(
                &mut plain,
                &["CONFIG", "SET", "tls-auth-clients", "optional"]
            ),
            ok()
        );
        let mut anon = try_tls(s.tls_port, &ca, None).expect("optional client auth");
        assert_eq!(anon.q(&[b"PING"]), status("PONG"));
        let mut t = s.client();
        assert_eq!(t.q(&[b"PING"]), status("PONG"));
    });
}

#[test]
fn auth_clients_no_needs_no_ca() {
    if skip_under_redis("shardis TLS") {
        return;
    }
    let pki = Pki::new("noauth");
    let tls_port = free_tls_port();
    let server = Server::start_with(
        4,
        &[
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &path_str(&pki.server.cert_file),
            "--tls-key-file",
            &path_str(&pki.server.key_file),
            "--tls-auth-clients",
            "no",
        ],
    );
    let mut c = try_tls(tls_port, &pki.ca.der().clone(), None).expect("no client auth");
    assert_eq!(c.q(&[b"SET", b"k", b"v"]), ok());
    assert_eq!(qt::<String, _>(&mut server.conn(), &["GET", "k"]), "v");
}

/// Reads until end of stream; true if the server closed the connection in time. Whatever it
/// sent first (a TLS alert) must not be a RESP reply.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(_) => return false,
        }
    }
    !got.starts_with(b"+") && !got.starts_with(b"-")
}

#[test]
fn plain_text_and_broken_clients_on_the_tls_port_harm_no_one() {
    both_tls(&[], |s| {
        let mut t = s.client();
        assert_eq!(t.q(&[b"SET", b"before", b"1"]), ok());
        // A client that opens a TLS connection and never says anything.
        let stalled = TcpStream::connect(("127.0.0.1", s.tls_port)).expect("connect");
        // A plain-text client on the TLS port.
        let mut plain_on_tls = TcpStream::connect(("127.0.0.1", s.tls_port)).expect("connect");
        plain_on_tls
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        plain_on_tls
            .write_all(b"*1\r\n$4\r\nPING\r\n")
            .expect("send plain text");
        assert!(
            closed_by_server(&mut plain_on_tls),
            "plain client not closed"
        );
        // Half a ClientHello, then an abrupt close.
        let mut half = TcpStream::connect(("127.0.0.1", s.tls_port)).expect("connect");
        half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
            .expect("send a partial record");
        drop(half);
        // Garbage that looks like a TLS record of absurd size.
        let mut junk = TcpStream::connect(("127.0.0.1", s.tls_port)).expect("connect");
        junk.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
        junk.write_all(&[0x16, 0x03, 0x03, 0xff, 0xff])
            .expect("send junk");
        junk.write_all(&[0u8; 64]).ok();
        assert!(closed_by_server(&mut junk), "junk client not closed");

        // Everyone else is fine, on both ports, while the stalled client still waits.
        assert_eq!(t.q(&[b"GET", b"before"]), bulk("1"));
        let mut t2 = s.client();
        assert_eq!(t2.q(&[b"INCR", b"counter"]), int(1));
        let mut plain = s.server.conn();
        assert_eq!(q(&mut plain, &["INCR", "counter"]), int(2));
        let logged = wait_until(Duration::from_secs(10), || {
            let log = s.server.log_contents();
            log.contains("Error accepting a client connection")
                && log.contains("InvalidContentType")
        });
        assert!(logged, "no log line for the plain-text client");
        drop(stalled);
        assert_eq!(t.q(&[b"PING"]), status("PONG"));
    });
}

#[test]
fn redis_cli_connects_with_tls() {
    if skip_under_redis("shardis TLS") {
        return;
    }
    let help = Command::new("redis-cli").arg("--help").output();
    let has_tls = help.is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout).contains("--tls")
            || String::from_utf8_lossy(&o.stderr).contains("--tls")
    });
    if !has_tls {
        eprintln!("skipped: redis-cli is missing or built without TLS");
        return;
    }
    both_tls(&[], |s| {
        let cli = |args: &[&str]| {
            let mut child = Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &s.tls_port.to_string(), "--tls"])
                .args(["--cert", &path_str(&s.pki.client.cert_file)])
                .args(["--key", &path_str(&s.pki.client.key_file)])
                .args(["--cacert", &path_str(&s.pki.ca_file)])
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run redis-cli");
            // redis-cli has no timeout of its own: a missing reply must fail the test, not
            // hang it.
            let done = wait_until(READ_TIMEOUT * 2, || matches!(child.try_wait(), Ok(Some(_))));
            if !done {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "redis-cli {args:?} got no reply; server's clients:\n{}",
                    client_list(s.server.port())
                );
            }
            let out = child.wait_with_output().expect("redis-cli output");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        for i in 0..8 {
            assert_eq!(cli(&["SET", &format!("cli:{i}"), &format!("v{i}")]), "OK");
        }
        for i in 0..8 {
            assert_eq!(cli(&["GET", &format!("cli:{i}")]), format!("v{i}"));
        }
        assert_eq!(
            qt::<String, _>(&mut s.server.conn(), &["GET", "cli:3"]),
            "v3"
        );
    });
}

#[test]
fn config_set_reloads_the_certificate() {
    both_tls(&[], |s| {
        let mut plain = s.server.conn();
        // A second PKI: once the server's certificate comes from it, its CA is the one to trust.
        let other = Pki::new(&format!("reload-{}", fastrand_tag()));
        let err = qerr(
            &mut plain,
            &["CONFIG", "SET", "tls-cert-file", "/nonexistent/cert.pem"],
        );
        assert_eq!(
            err,
            "ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to \
             update TLS configuration. Check server logs."
        );
        assert!(s.server.log_contents().contains("/nonexistent/cert.pem"));
        // The old settings still serve.
        assert_eq!(s.client().q(&[b"PING"]), status("PONG"));
        assert_eq!(
            q(
                &mut plain,
                &[
                    "CONFIG",
                    "SET",
                    "tls-cert-file",
                    &path_str(&other.server.cert_file),
                    "tls-key-file",
                    &path_str(&other.server.key_file),
                    "tls-ca-cert-file",
                    &path_str(&other.ca_file),
                ],
            ),
            ok()
        );
        assert_eq!(
            qt::<Vec<String>, _>(&mut plain, &["CONFIG", "GET", "tls-cert-file"])[1],
            path_str(&other.server.cert_file)
        );
        let ca = other.ca.der().clone();
        let mut c = try_tls(s.tls_port, &ca, Some(&other.client)).expect("the new certificate");
        assert_eq!(c.q(&[b"PING"]), status("PONG"));
        // A client trusting only the old CA now fails the handshake.
        assert!(try_tls(s.tls_port, &s.pki.ca.der().clone(), Some(&s.pki.client)).is_err());
    });
}

/// Start the binary directly with `args`; its exit status and output (it should fail fast).
fn run_fail(args: &[String]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shardis"))
        .args(args)
        .output()
        .expect("run shardis");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn unreadable_or_invalid_certificates_stop_the_start() {
    if skip_under_redis("shardis TLS") {
        return;
    }
    let pki = Pki::new("bad");
    let base = |cert: &Path, key: &Path| -> Vec<String> {
        vec![
            "--port".into(),
            free_tls_port().to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--tls-port".into(),
            free_tls_port().to_string(),
            "--tls-cert-file".into(),
            path_str(cert),
            "--tls-key-file".into(),
            path_str(key),
            "--tls-ca-cert-file".into(),
            path_str(&pki.ca_file),
        ]
    };
    let missing = pki.dir.join("missing.crt");
    let (ok, out) = run_fail(&base(&missing, &pki.server.key_file));
    assert!(!ok);
    assert!(out.contains("missing.crt"), "{out}");
    // A key where the certificate should be.
    let (ok, out) = run_fail(&base(&pki.server.key_file, &pki.server.key_file));
    assert!(!ok);
    assert!(
        out.contains("server.key") && out.contains("no PEM certificate"),
        "{out}"
    );
    // A key that does not match the certificate.
    let (ok, out) = run_fail(&base(&pki.server.cert_file, &pki.client.key_file));
    assert!(!ok);
    assert!(out.contains("client.key"), "{out}");
    // Encrypted keys are not supported: refused with a clear reason.
    let mut args = base(&pki.server.cert_file, &pki.server.key_file);
    args.extend(["--tls-key-file-pass".into(), "secret".into()]);
    let (ok, out) = run_fail(&args);
    assert!(!ok);
    assert!(out.contains("tls-key-file-pass is not supported"), "{out}");
    // No listener at all.
    let (ok, out) = run_fail(&["--port".into(), "0".into()]);
    assert!(!ok);
    assert!(out.contains("Configured to not listen anywhere"), "{out}");
}

#[test]
fn tls_only_with_port_zero_and_tls13_only() {
    if skip_under_redis("shardis TLS") {
        return;
    }
    let pki = Pki::new("only");
    let tls_port = free_tls_port();
    let mut args = pki.server_args(tls_port);
    args.extend(
        [
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--shards",
            "2",
            "--tls-protocols",
            "TLSv1.3",
            "--tls-ciphersuites",
            "TLS_CHACHA20_POLY1305_SHA256",
        ]
        .map(String::from),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardis"))
        .args(&args)
        .current_dir(&pki.dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn shardis");
    let ca = pki.ca.der().clone();
    let mut client = None;
    let up = wait_until(Duration::from_secs(20), || {
        client = try_tls(tls_port, &ca, Some(&pki.client)).ok();
        client.is_some()
    });
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(up, "no TLS listener");
        let mut c = client.take().expect("connected");
        assert_eq!(
            c.stream.conn.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        assert_eq!(
            c.stream.conn.negotiated_cipher_suite().map(|s| s.suite()),
            Some(rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
        );
        assert_eq!(c.q(&[b"SET", b"a", b"1"]), ok());
        assert_eq!(c.q(&[b"GET", b"a"]), bulk("1"));
    }));
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn ca_cert_dir_is_read() {
    if skip_under_redis("shardis TLS") {
        return;
    }
    let pki = Pki::new("cadir");
    let cadir = pki.dir.join("cas");
    std::fs::create_dir_all(&cadir).expect("CA dir");
    std::fs::copy(&pki.ca_file, cadir.join("ca.pem")).expect("copy the CA");
    std::fs::write(cadir.join("README"), "not a certificate").expect("a stray file");
    let tls_port = free_tls_port();
    let server = Server::start_with(
        1,
        &[
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &path_str(&pki.server.cert_file),
            "--tls-key-file",
            &path_str(&pki.server.key_file),
            "--tls-ca-cert-dir",
            &path_str(&cadir),
        ],
    );
    let mut c = TlsClient::connect(tls_port, &pki);
    assert_eq!(c.q(&[b"PING"]), status("PONG"));
    let cfg: Vec<String> = qt(&mut server.conn(), &["CONFIG", "GET", "tls-ca-cert-dir"]);
    assert_eq!(cfg[1], path_str(&cadir));
}
