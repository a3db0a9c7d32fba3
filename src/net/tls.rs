//! TLS for client connections (`tls-port`), with rustls and its ring provider.
//!
//! A TLS connection is an ordinary `Conn` with a rustls session beside its socket: `read`
//! decrypts what the socket has into the connection's `rbuf`, and `flush` encrypts `wbuf` and
//! sends the records. Parsing, dispatch, backpressure and closing are the plain path's. Both
//! functions run only on a readiness event and never wait: a stalled handshake costs its own
//! connection and nothing else.
//!
//! The server settings (certificates, CA, client auth, protocols, suites) are built once into
//! a `ServerConfig` shared by every shard; CONFIG SET of a `tls-*` directive builds a new one,
//! which connections accepted from then on use.

use super::conn::{Conn, ReadOutcome};
use super::sys;
use crate::config::{Config, TlsAuthClients};
use crate::logging;
use bytes::Buf;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, SupportedProtocolVersion};
use std::io::{self, Read, Write};
use std::os::fd::RawFd;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// The settings new TLS connections get (None until `install`).
static CURRENT: RwLock<Option<Arc<ServerConfig>>> = RwLock::new(None);

/// Socket reads (of up to STAGING_SIZE) per `read` call: about 256 KiB, so one big upload
/// does not starve the shard's other clients (epoll is level-triggered: the rest comes on
/// the next round).
const READ_ROUNDS: usize = 4;

/// Build the settings from `cfg` and make them the ones new connections use. At start-up an
/// error stops the server; from CONFIG SET it is refused and the old settings stay.
pub fn install(cfg: &Config) -> Result<(), String> {
    let built = Arc::new(build(cfg)?);
    match CURRENT.write() {
        Ok(mut cur) => *cur = Some(built),
        // A writer panicked mid-store: the slot holds a whole Arc either way.
        Err(poisoned) => *poisoned.into_inner() = Some(built),
    }
    Ok(())
}

/// A session for a connection just accepted on the TLS port.
pub fn accept() -> Result<ServerConnection, String> {
    let cfg = match CURRENT.read() {
        Ok(c) => c.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let cfg = cfg.ok_or("TLS is not configured")?;
    ServerConnection::new(cfg).map_err(|e| e.to_string())
}

/// The rustls settings for `cfg`; errors name the directive or file at fault.
pub fn build(cfg: &Config) -> Result<ServerConfig, String> {
    if cfg.tls_key_file_pass.is_some() {
        return Err(
            "tls-key-file-pass is not supported (rustls reads no encrypted keys): \
                    decrypt the key, e.g. `openssl pkey -in key.pem -out plain-key.pem`, \
                    and leave tls-key-file-pass unset"
                .into(),
        );
    }
    let cert_file = cfg
        .tls_cert_file
        .as_deref()
        .ok_or("No tls-cert-file configured")?;
    let key_file = cfg
        .tls_key_file
        .as_deref()
        .ok_or("No tls-key-file configured")?;
    let certs = load_certs(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
        format!(
            "Failed to load private key file '{}': {}",
            show(key_file),
            e
        )
    })?;

    let provider = Arc::new(provider(cfg)?);
    let versions = protocols(&cfg.tls_protocols)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("Invalid TLS settings: {e}"))?;
    let builder = match cfg.tls_auth_clients {
        TlsAuthClients::No => builder.with_no_client_auth(),
        auth => {
            let roots = Arc::new(ca_roots(cfg)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = if auth == TlsAuthClients::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| format!("Invalid TLS CA certificates: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder.with_single_cert(certs, key).map_err(|e| {
        format!(
            "Invalid tls-cert-file '{}' / tls-key-file '{}': {}",
            show(cert_file),
            show(key_file),
            e
        )
    })?;
    server.ignore_client_order = cfg.tls_prefer_server_ciphers;
    server.session_storage = match cfg.tls_session_cache_size {
        n if cfg.tls_session_caching && n > 0 => {
            rustls::server::ServerSessionMemoryCache::new(n as usize)
        }
        _ => Arc::new(rustls::server::NoServerSessionStorage {}),
    };
    Ok(server)
}

fn show(p: &Path) -> std::borrow::Cow<'_, str> {
    p.to_string_lossy()
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail = |e: &dyn std::fmt::Display| {
        format!("Failed to load certificate file '{}': {}", show(path), e)
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&e))?;
    if certs.is_empty() {
        return Err(fail(&"no PEM certificate in it"));
    }
    Ok(certs)
}

/// The CAs client certificates are checked against: tls-ca-cert-file, and every PEM
/// certificate in the files of tls-ca-cert-dir (files without one are skipped, as OpenSSL
/// skips what it cannot use there).
fn ca_roots(cfg: &Config) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    if let Some(file) = &cfg.tls_ca_cert_file {
        for c in load_certs(file)? {
            roots
                .add(c)
                .map_err(|e| format!("Invalid CA certificate in '{}': {}", show(file), e))?;
        }
    }
    if let Some(dir) = &cfg.tls_ca_cert_dir {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("Failed to read tls-ca-cert-dir '{}': {}", show(dir), e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            let Ok(iter) = CertificateDer::pem_file_iter(&path) else {
                continue;
            };
            for c in iter.flatten() {
                // A file that is not a CA certificate is skipped, not fatal.
                let _ = roots.add(c);
            }
        }
    }
    if cfg.tls_ca_cert_file.is_none() && cfg.tls_ca_cert_dir.is_none() {
        return Err(
            "Either tls-ca-cert-file or tls-ca-cert-dir must be specified when \
             tls-auth-clients is yes or optional (or set tls-auth-clients no)"
                .into(),
        );
    }
    if roots.is_empty() {
        return Err("No CA certificate found in tls-ca-cert-file / tls-ca-cert-dir".into());
    }
    Ok(roots)
}

/// `tls-protocols`: rustls speaks TLSv1.2 and TLSv1.3 only.
fn protocols(spec: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let mut out: Vec<&'static SupportedProtocolVersion> = Vec::new();
    for word in spec.split_ascii_whitespace() {
        let v = match word.to_ascii_lowercase().as_str() {
            "tlsv1.2" => &rustls::version::TLS12,
            "tlsv1.3" => &rustls::version::TLS13,
            "tlsv1" | "tlsv1.1" => {
                return Err(format!(
                    "tls-protocols: {word} is not supported (only TLSv1.2 and TLSv1.3 are)"
                ))
            }
            _ => {
                return Err(format!(
                    "Invalid tls-protocols specified ('{word}'). Use a combination of \
                     'TLSv1.2' and 'TLSv1.3'."
                ))
            }
        };
        if !out.iter().any(|x| std::ptr::eq(*x, v)) {
            out.push(v);
        }
    }
    if out.is_empty() {
        out = vec![&rustls::version::TLS12, &rustls::version::TLS13];
    }
    Ok(out)
}

/// OpenSSL's names of the TLS 1.2 suites rustls has (tls-ciphers takes these or IANA's).
const OPENSSL_TLS12: &[(&str, &str)] = &[
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// The IANA name of a suite as OpenSSL writes TLS 1.3 ones ("TLS_AES_128_GCM_SHA256").
fn suite_name(s: &rustls::SupportedCipherSuite) -> String {
    let name = s.suite().as_str().unwrap_or("");
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_string(),
    }
}

/// The ring provider, its suites narrowed by tls-ciphers (TLS 1.2) and tls-ciphersuites
/// (TLS 1.3), in the order given.
fn provider(cfg: &Config) -> Result<CryptoProvider, String> {
    let mut p = ring::default_provider();
    let all = std::mem::take(&mut p.cipher_suites);
    let (tls13, tls12): (Vec<_>, Vec<_>) = all.into_iter().partition(|s| s.tls13().is_some());
    let pick = |spec: &str, pool: Vec<rustls::SupportedCipherSuite>, directive: &str| {
        if spec.trim().is_empty() {
            return Ok(pool);
        }
        let mut out = Vec::new();
        for word in spec.split(':').map(str::trim).filter(|w| !w.is_empty()) {
            let iana = OPENSSL_TLS12
                .iter()
                .find(|(o, _)| o.eq_ignore_ascii_case(word))
                .map_or(word, |(_, i)| *i);
            let Some(s) = pool
                .iter()
                .find(|s| suite_name(s).eq_ignore_ascii_case(iana))
            else {
                let names: Vec<String> = pool.iter().map(suite_name).collect();
                return Err(format!(
                    "{directive}: unknown or unsupported suite '{word}' (supported: {})",
                    names.join(":")
                ));
            };
            out.push(*s);
        }
        Ok(out)
    };
    let mut suites = pick(&cfg.tls_ciphersuites, tls13, "tls-ciphersuites")?;
    suites.extend(pick(&cfg.tls_ciphers, tls12, "tls-ciphers")?);
    p.cipher_suites = suites;
    Ok(p)
}

/// The socket as rustls's byte source and sink (non-blocking: WouldBlock passes through).
struct Socket(RawFd);

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: viewing initialised bytes as MaybeUninit is always sound; recv only
        // writes into them.
        let spare = unsafe { &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
        sys::recv(self.0, spare)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::send(self.0, buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        sys::send_vectored(self.0, bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Log why a TLS connection ends: at notice while it is still handshaking (a bad certificate,
/// a plain-text client), at verbose once established (a client going away).
fn report(c: &Conn, handshaking: bool, why: &dyn std::fmt::Display) {
    if handshaking {
        logging::notice(&format!(
            "Error accepting a client connection: {} (addr={} laddr={})",
            why, c.client.addr, c.client.laddr
        ));
    } else {
        logging::verbose(&format!(
            "TLS client connection closed: {} (addr={})",
            why, c.client.addr
        ));
    }
}

/// Read and decrypt what the socket has into `rbuf` (the TLS side of `Conn::read`).
///
/// rustls pulls at most 4 KiB per `read_tls`, so the socket is read into a per-thread
/// staging buffer with one large recv and rustls is fed from there.
pub fn read(c: &mut Conn) -> ReadOutcome {
    STAGING.with_borrow_mut(|buf| read_via(c, buf))
}

thread_local! {
    static STAGING: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; STAGING_SIZE]);
}

const STAGING_SIZE: usize = 64 * 1024;

fn read_via(c: &mut Conn, buf: &mut [u8]) -> ReadOutcome {
    let fd = c.fd;
    let before = c.bytes_in;
    for _ in 0..READ_ROUNDS {
        let n = match Socket(fd).read(buf) {
            Ok(0) => {
                let hs = c.tls.as_deref().is_some_and(|t| t.is_handshaking());
                report(c, hs, &"connection closed by the client");
                return ReadOutcome::Closed;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let hs = c.tls.as_deref().is_some_and(|t| t.is_handshaking());
                report(c, hs, &e);
                return ReadOutcome::Closed;
            }
        };
        match decrypt(c, &buf[..n]) {
            Ok(closed) => {
                if closed {
                    // close_notify: what came before it was read; the plain path drops input
                    // that arrives with an end of stream the same way.
                    return ReadOutcome::Closed;
                }
            }
            Err((hs, why)) => {
                report(c, hs, &why);
                return ReadOutcome::Closed;
            }
        }
        if n < buf.len() {
            break;
        }
    }
    if c.bytes_in != before {
        c.client.last_interaction = Instant::now();
        ReadOutcome::Data
    } else {
        ReadOutcome::Empty
    }
}

/// Feed `src` (bytes from the socket) to rustls and append the plaintext to `rbuf`. Ok(true)
/// if the peer ended the session; Err(whether it was handshaking, why) on a TLS error.
fn decrypt(c: &mut Conn, mut src: &[u8]) -> Result<bool, (bool, String)> {
    let fd = c.fd;
    let Some(tls) = c.tls.as_deref_mut() else {
        return Ok(true);
    };
    while !src.is_empty() {
        match tls.read_tls(&mut src) {
            Ok(0) => return Err((tls.is_handshaking(), "TLS input buffer full".into())),
            Ok(_) => {}
            Err(e) => return Err((tls.is_handshaking(), e.to_string())),
        }
        let state = match tls.process_new_packets() {
            Ok(s) => s,
            Err(e) => {
                // Best effort: tell the peer why (rustls queued an alert) before closing.
                let _ = tls.write_tls(&mut Socket(fd));
                return Err((tls.is_handshaking(), e.to_string()));
            }
        };
        let mut left = state.plaintext_bytes_to_read();
        while left > 0 {
            // rustls's reader wants initialised memory: zero the tail it fills.
            let start = c.rbuf.len();
            c.rbuf.resize(start + left, 0);
            match tls.reader().read(&mut c.rbuf[start..]) {
                Ok(n) if n > 0 => {
                    c.rbuf.truncate(start + n);
                    c.bytes_in += n as u64;
                    c.reads += 1;
                    left -= n.min(left);
                }
                _ => {
                    c.rbuf.truncate(start);
                    break;
                }
            }
        }
        if state.peer_has_closed() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Encrypt `wbuf` and send as much as the socket takes, handshake records included (the TLS
/// side of `Conn::flush`). Returns false if the connection failed.
pub fn flush(c: &mut Conn) -> bool {
    let fd = c.fd;
    let batch = c.wbuf.len();
    let Some(tls) = c.tls.as_deref_mut() else {
        return false;
    };
    loop {
        let mut progress = false;
        if !c.wbuf.is_empty() {
            // rustls takes plaintext up to its buffer limit (64 KiB by default), so the rest
            // stays in `wbuf` where the output limits see it.
            match tls.writer().write(&c.wbuf) {
                Ok(n) => {
                    c.bytes_out += n as u64;
                    // As in the plain flush: not split_to, which would share the buffer.
                    if n >= c.wbuf.len() {
                        c.wbuf.clear();
                    } else {
                        c.wbuf.advance(n);
                    }
                    progress |= n > 0;
                }
                Err(_) => {
                    c.closed = true;
                    return false;
                }
            }
        }
        if tls.wants_write() {
            match tls.write_tls(&mut Socket(fd)) {
                Ok(n) => progress |= n > 0,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    c.closed = true;
                    return false;
                }
            }
        }
        if !progress {
            break;
        }
    }
    c.trim_output(batch);
    true
}

/// Encrypted bytes wait in rustls for the socket.
pub fn wants_write(c: &Conn) -> bool {
    c.tls.as_deref().is_some_and(|t| t.wants_write())
}

/// CONFIG SET of `tls-*` directives on a server with a TLS port: rebuild the settings from
/// the new configuration `next` (certificates are read again), or refuse the change with
/// Redis's error if they do not build. Returns the refusal, if any.
pub fn config_set(
    next: &Config,
    pairs: &[(&[u8], &[u8])],
) -> Option<crate::protocol::reply::Reply> {
    let first = pairs
        .iter()
        .map(|(k, _)| String::from_utf8_lossy(k).to_ascii_lowercase())
        .find(|k| k.starts_with("tls-"))?;
    if next.tls_port == 0 {
        return None;
    }
    match install(next) {
        Ok(()) => {
            logging::notice("TLS configuration reloaded (CONFIG SET)");
            None
        }
        Err(e) => {
            logging::warning(&format!("Failed to configure TLS: {e}"));
            Some(crate::protocol::reply::Reply::err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{first}') - Unable to \
                 update TLS configuration. Check server logs."
            )))
        }
    }
}

/// Before the socket closes: tell the peer this is the end of the stream and not a cut
/// (best effort, one non-blocking send), so a QUIT's reply reads as complete.
pub fn close_notify(c: &mut Conn) {
    let fd = c.fd;
    if let Some(tls) = c.tls.as_deref_mut() {
        if fd >= 0 && !tls.is_handshaking() {
            tls.send_close_notify();
            let _ = tls.write_tls(&mut Socket(fd));
        }
    }
}
