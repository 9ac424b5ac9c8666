//! `rediss://` and ACL users against a real TLS-enabled `redis-server`
//! started per test with a certificate authority and a server certificate
//! made at test time (rcgen). The server listens only on its TLS port
//! (`--port 0`), knows one ACL user `alice` and has the `default` user
//! switched off, so every command below had to go through TLS and
//! `AUTH alice ...`.
//!
//! `redis-server` must be installed with TLS (Debian's is;
//! `scripts/ensure-tools` installs it).

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tollgate_redis::{redis, Redis, RedisConfig, RedisError};

/// A certificate authority and a server certificate it signed, for
/// `127.0.0.1` and `localhost`, as PEM.
struct Pki {
    ca_cert: String,
    server_cert: String,
    server_key: String,
}

fn make_ca(name: &str) -> (rcgen::CertifiedIssuer<'static, rcgen::KeyPair>, String) {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p.distinguished_name
        .push(rcgen::DnType::CommonName, name.to_owned());
    let ca = rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap();
    let pem = ca.pem();
    (ca, pem)
}

fn make_pki() -> Pki {
    let (ca, ca_cert) = make_ca("tollgate test CA");
    let mut p = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "tollgate test redis");
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca).unwrap();
    Pki {
        ca_cert,
        server_cert: cert.pem(),
        server_key: key.serialize_pem(),
    }
}

/// A directory of its own under the system's temporary directory,
/// removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tollgate-redis-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A TLS-only `redis-server` on a free loopback port, killed on drop.
struct TlsRedis {
    child: Child,
    port: u16,
    pki: Pki,
    /// Held for its drop: the certificates and the log go with the server.
    _dir: TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"))
}

impl TlsRedis {
    fn start() -> TlsRedis {
        let pki = make_pki();
        let dir = TempDir::new();
        let ca = dir.write("ca.pem", &pki.ca_cert);
        let cert = dir.write("server.pem", &pki.server_cert);
        let key = dir.write("server.key", &pki.server_key);
        // One start at a time in this binary: a port is picked by binding
        // port 0 and letting it go, so a test starting alongside could be
        // handed the same port before this server binds it, and answer
        // in its place until it stops.
        static START: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = START.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = start_on(port, &ca, &cert, &key, &dir.0) {
                return TlsRedis {
                    child,
                    port,
                    pki,
                    _dir: dir,
                };
            }
        }
        let log = std::fs::read_to_string(dir.0.join("redis.log")).unwrap_or_default();
        panic!("a TLS redis-server did not come up on a free port (5 tries); its log:\n{log}")
    }

    fn url(&self, user_pass: &str) -> String {
        format!("rediss://{user_pass}@127.0.0.1:{}/", self.port)
    }
}

/// Starts `redis-server` with TLS on `port`; `Some` once the port accepts
/// connections while the server is still running (it listens only after
/// loading its certificates), `None` if it exited or did not listen in 5 s.
fn start_on(port: u16, ca: &Path, cert: &Path, key: &Path, dir: &Path) -> Option<Child> {
    let mut child = Command::new("redis-server")
        .args(["--port", "0"])
        .args(["--tls-port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .arg("--tls-cert-file")
        .arg(cert)
        .arg("--tls-key-file")
        .arg(key)
        .arg("--tls-ca-cert-file")
        .arg(ca)
        .args(["--tls-auth-clients", "no"])
        .args(["--user", "alice", "on", ">s3cret", "~*", "&*", "+@all"])
        .args(["--user", "default", "off"])
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start redis-server ({e}); install it with scripts/ensure-tools")
        });
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return None;
        }
        let up =
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(100))
                .is_ok();
        // Listening, and it is ours: still running after the connection.
        if up && matches!(child.try_wait(), Ok(None)) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A handle for `url` trusting `ca` (PEM), with timeouts generous enough
/// for a TLS handshake on a loaded machine.
fn handle(url: String, ca: Option<&str>) -> Redis {
    let mut cfg = RedisConfig::new(url);
    cfg.connect_timeout = Duration::from_secs(3);
    cfg.op_timeout = Duration::from_secs(3);
    cfg.tls_root_cert = ca.map(|c| c.as_bytes().to_vec());
    Redis::new(cfg).unwrap()
}

fn round_trip_blocking(r: &Redis) -> Result<(String, Option<String>), RedisError> {
    r.run_blocking(|c| {
        redis::cmd("SET")
            .arg("tls:k")
            .arg("over tls")
            .query::<()>(c)?;
        let who: String = redis::cmd("ACL").arg("WHOAMI").query(c)?;
        let v: Option<String> = redis::cmd("GET").arg("tls:k").query(c)?;
        Ok((who, v))
    })
}

async fn round_trip_async(r: &Redis) -> Result<(String, Option<String>), RedisError> {
    r.run(|mut c| async move {
        redis::cmd("SET")
            .arg("tls:a")
            .arg("over tls, async")
            .query_async::<()>(&mut c)
            .await?;
        let who: String = redis::cmd("ACL").arg("WHOAMI").query_async(&mut c).await?;
        let v: Option<String> = redis::cmd("GET").arg("tls:a").query_async(&mut c).await?;
        Ok((who, v))
    })
    .await
}

#[test]
fn blocking_round_trip_over_tls_as_an_acl_user() {
    let s = TlsRedis::start();
    let r = handle(s.url("alice:s3cret"), Some(&s.pki.ca_cert));
    let (who, v) = round_trip_blocking(&r).unwrap();
    assert_eq!(who, "alice");
    assert_eq!(v.as_deref(), Some("over tls"));
    // A second operation reuses the pooled TLS connection.
    let (_, v) = round_trip_blocking(&r).unwrap();
    assert_eq!(v.as_deref(), Some("over tls"));
    let st = r.stats();
    assert_eq!((st.ops, st.errors, st.connects), (2, 0, 1), "{st:?}");
}

#[tokio::test]
async fn async_round_trip_over_tls_as_an_acl_user() {
    let s = TlsRedis::start();
    let r = handle(s.url("alice:s3cret"), Some(&s.pki.ca_cert));
    let (who, v) = round_trip_async(&r).await.unwrap();
    assert_eq!(who, "alice");
    assert_eq!(v.as_deref(), Some("over tls, async"));
    let st = r.stats();
    assert_eq!((st.ops, st.errors), (1, 0), "{st:?}");
}

/// What a wrong-credentials error must say: authentication, for which
/// user, and the likely cause.
fn assert_wrong_password(e: &RedisError) {
    let text = e.to_string();
    assert!(matches!(e, RedisError::Connection(_)), "{e:?}");
    assert!(
        text.contains("authentication failed for ACL user `alice`: wrong password"),
        "{text}"
    );
    // The password is not echoed back.
    assert!(!text.contains("nope"), "{text}");
}

#[test]
fn a_wrong_password_is_refused_with_a_clear_error_blocking() {
    let s = TlsRedis::start();
    let r = handle(s.url("alice:nope"), Some(&s.pki.ca_cert));
    let e = round_trip_blocking(&r).unwrap_err();
    assert_wrong_password(&e);
    // The right password on the same server works: TLS was not the problem.
    let ok = handle(s.url("alice:s3cret"), Some(&s.pki.ca_cert));
    assert_eq!(round_trip_blocking(&ok).unwrap().0, "alice");
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_a_clear_error_async() {
    let s = TlsRedis::start();
    let r = handle(s.url("alice:nope"), Some(&s.pki.ca_cert));
    let e = round_trip_async(&r).await.unwrap_err();
    assert_wrong_password(&e);
}

#[test]
fn no_credentials_are_refused_when_the_default_user_is_off() {
    let s = TlsRedis::start();
    let r = handle(
        format!("rediss://127.0.0.1:{}/", s.port),
        Some(&s.pki.ca_cert),
    );
    let e = round_trip_blocking(&r).unwrap_err();
    assert!(
        matches!(&e, RedisError::Server(t) if t.contains("NOAUTH")),
        "{e:?}"
    );
}

/// What a refused certificate must say: rustls's verdict on the issuer.
fn assert_untrusted(e: &RedisError) {
    let text = e.to_string();
    assert!(
        matches!(e, RedisError::Connection(_)) && text.contains("UnknownIssuer"),
        "{e:?}"
    );
}

#[test]
fn a_client_that_does_not_trust_the_ca_fails_blocking() {
    let s = TlsRedis::start();
    // The system's roots: they do not include the test's authority.
    let e = round_trip_blocking(&handle(s.url("alice:s3cret"), None)).unwrap_err();
    assert_untrusted(&e);
    // Another private authority.
    let (_, other) = make_ca("some other CA");
    let e = round_trip_blocking(&handle(s.url("alice:s3cret"), Some(&other))).unwrap_err();
    assert_untrusted(&e);
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_fails_async() {
    let s = TlsRedis::start();
    let (_, other) = make_ca("some other CA");
    let e = round_trip_async(&handle(s.url("alice:s3cret"), Some(&other)))
        .await
        .unwrap_err();
    assert_untrusted(&e);
}

#[test]
fn plain_redis_to_the_tls_port_fails() {
    let s = TlsRedis::start();
    let r = handle(format!("redis://alice:s3cret@127.0.0.1:{}/", s.port), None);
    let e = round_trip_blocking(&r).unwrap_err();
    assert!(e.is_fault(), "{e:?}");
}
