//! A real `redis-server` for tests: started on a free loopback port with
//! persistence off, ready once it answers PING, killed on drop.
//!
//! `redis-server` must be installed (`scripts/ensure-tools` installs it).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server, stopped when dropped.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

fn free_port() -> u16 {
    // Bind port 0 and let the OS choose; the listener closes at once.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"))
}

fn pings(port: u16) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(100))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    let ok = s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n";
    let _ = s.shutdown(Shutdown::Both);
    ok
}

/// One start at a time in a test binary: a port is picked by binding port
/// 0 and letting it go, so a test starting alongside could be handed the
/// same port before this server binds it, answer the PING in its place,
/// and take the port away when it stops.
fn one_start() -> std::sync::MutexGuard<'static, ()> {
    static START: std::sync::Mutex<()> = std::sync::Mutex::new(());
    START.lock().unwrap_or_else(|e| e.into_inner())
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers PING.
    pub fn start() -> RedisServer {
        let _one = one_start();
        for _ in 0..5 {
            let port = free_port();
            if let Some(s) = RedisServer::spawn_on(port) {
                return s;
            }
        }
        panic!("redis-server did not come up on a free port (5 tries)")
    }

    /// Starts a server on `port`; `None` if it does not answer within 5 s.
    pub fn start_on(port: u16) -> Option<RedisServer> {
        let _one = one_start();
        RedisServer::spawn_on(port)
    }

    fn spawn_on(port: u16) -> Option<RedisServer> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}); install it with scripts/ensure-tools")
            });
        let mut s = RedisServer {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if pings(port) {
                return Some(s);
            }
            // A server that exited (port taken) will never answer.
            if let Some(c) = s.child.as_mut() {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        s.kill();
        None
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A `redis://` URL for it.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops the server now and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
