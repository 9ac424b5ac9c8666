//! A loopback Bedrock for InvokeModel: answers each request with a
//! scripted status, headers and body (the response headers matter here:
//! Cohere's token count arrives in `X-Amzn-Bedrock-Input-Token-Count`),
//! and records every request.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(body: serde_json::Value) -> Answer {
        Answer {
            status: 200,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Answer {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

/// A recorded request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: String,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("request body is JSON")
    }
}

#[derive(Clone)]
pub struct InvokeServer {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl InvokeServer {
    pub async fn start() -> InvokeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = InvokeServer {
            url: format!("http://{addr}"),
            seen: Arc::default(),
            script: Arc::default(),
        };
        let s2 = s.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let s3 = s2.clone();
                tokio::spawn(async move { s3.serve(sock).await });
            }
        });
        s
    }

    pub fn push(&self, a: Answer) {
        self.script.lock().unwrap().push_back(a);
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn serve(&self, mut sock: TcpStream) {
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i;
                }
                let mut chunk = [0u8; 8192];
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let mut lines = head.split("\r\n");
            let mut first = lines.next().unwrap_or("").split(' ');
            let method = first.next().unwrap_or("").to_string();
            let path = first.next().unwrap_or("").to_string();
            let len: usize = lines
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            let start = head_end + 4;
            while buf.len() < start + len {
                let mut chunk = [0u8; 8192];
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = String::from_utf8_lossy(&buf[start..start + len]).to_string();
            buf.drain(..start + len);
            self.seen.lock().unwrap().push(Seen { method, path, body });
            let a = self.script.lock().unwrap().pop_front().unwrap_or(Answer {
                status: 500,
                headers: vec![("x-amzn-errortype".into(), "InternalServerException".into())],
                body: r#"{"message":"no scripted reply"}"#.into(),
            });
            let mut out = format!(
                "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-amzn-requestid: req-e\r\n",
                a.status,
                a.body.len()
            );
            for (k, v) in &a.headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&a.body);
            if sock.write_all(out.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}
