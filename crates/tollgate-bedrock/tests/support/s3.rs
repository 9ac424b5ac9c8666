//! A loopback S3 stand-in: a hand-written HTTP/1.1 server on 127.0.0.1
//! that answers path-style `GetObject` (`GET /<bucket>/<key>`) from the
//! objects put into it, `NoSuchKey` (404, S3's XML error) for the rest,
//! and records every request. The real `aws-sdk-s3` client talks to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A recorded request: method and path (query string cut off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Request {
    pub method: String,
    pub path: String,
}

#[derive(Clone)]
pub struct S3Server {
    pub url: String,
    objects: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    requests: Arc<Mutex<Vec<S3Request>>>,
}

impl S3Server {
    pub async fn start() -> S3Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = S3Server {
            url: format!("http://{addr}"),
            objects: Arc::default(),
            requests: Arc::default(),
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

    /// Stores `body` as `s3://bucket/key`.
    pub fn put(&self, bucket: &str, key: &str, body: impl Into<Vec<u8>>) {
        self.objects
            .lock()
            .unwrap()
            .insert(format!("/{bucket}/{key}"), body.into());
    }

    pub fn requests(&self) -> Vec<S3Request> {
        self.requests.lock().unwrap().clone()
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
            // GetObject has no body.
            buf.drain(..head_end + 4);
            let first = head.split("\r\n").next().unwrap_or("");
            let mut parts = first.split(' ');
            let method = parts.next().unwrap_or("").to_string();
            let target = parts.next().unwrap_or("");
            let path = percent_decode(target.split('?').next().unwrap_or(""));
            self.requests.lock().unwrap().push(S3Request {
                method: method.clone(),
                path: path.clone(),
            });
            let found = match method.as_str() {
                "GET" => self.objects.lock().unwrap().get(&path).cloned(),
                _ => None,
            };
            let out = match found {
                Some(body) => {
                    let mut out = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nx-amz-request-id: s3-1\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    out.extend_from_slice(&body);
                    out
                }
                None => {
                    let body = format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>{path}</Key><RequestId>s3-2</RequestId></Error>"
                    );
                    format!(
                        "HTTP/1.1 404 Not Found\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nx-amz-request-id: s3-2\r\n\r\n{body}",
                        body.len()
                    )
                    .into_bytes()
                }
            };
            if sock.write_all(&out).await.is_err() {
                return;
            }
        }
    }
}

/// `%XX` escapes decoded.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The real `aws-sdk-s3` client pointed at the stand-in: path-style
/// addressing, static test credentials.
pub fn s3_client(url: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "AKID", "SECRET", None, None, "test",
        ))
        .endpoint_url(url)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}
