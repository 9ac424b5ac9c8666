//! A loopback TCP proxy that holds every chunk for a set delay before
//! passing it on (both directions): a slow network in front of a real
//! server. The delay can change while connections are open.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running proxy; it stops accepting when dropped (open connections end
/// with their peers).
pub struct SlowProxy {
    pub port: u16,
    delay_ms: Arc<AtomicU64>,
}

impl SlowProxy {
    /// Proxies a fresh loopback port to `127.0.0.1:target`.
    pub fn start(target: u16, delay: Duration) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let delay_ms = Arc::new(AtomicU64::new(delay.as_millis() as u64));
        let d = delay_ms.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (d1, d2) = (d.clone(), d.clone());
                std::thread::spawn(move || pump(client, server, &d1));
                std::thread::spawn(move || pump(s2, c2, &d2));
            }
        });
        SlowProxy { port, delay_ms }
    }

    /// Changes the delay for every chunk from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// A `redis://` URL through the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, delay_ms: &AtomicU64) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                std::thread::sleep(Duration::from_millis(delay_ms.load(Ordering::Relaxed)));
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
