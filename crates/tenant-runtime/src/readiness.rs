//! Readiness: when a started tenant counts as up. Pluggable; HTTP GET by default.

use async_trait::async_trait;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a readiness check is told about the tenant it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyTarget {
    /// The key.
    pub key: String,
    /// The process (and process group) id.
    pub pid: u32,
    /// The address it listens on.
    pub addr: IpAddr,
    /// The port it listens on.
    pub port: u16,
}

/// Waits until a tenant is ready.
///
/// The runtime bounds the wait by `readiness_timeout` and gives up early when the process
/// exits, so a check can simply poll until it succeeds. Returning `Err` fails the start at
/// once (reported as `readiness-timeout`).
#[async_trait]
pub trait ReadinessCheck: Send + Sync {
    /// Returns once `target` is ready.
    async fn wait_ready(&self, target: &ReadyTarget) -> Result<(), String>;
}

/// The default check: `GET path` on the port every `interval`; any HTTP response means ready.
///
/// The first retries come sooner (`first_interval`, doubling up to `interval`), so a tenant
/// that binds its port a few milliseconds after starting is not kept waiting 100 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGet {
    /// The request path. Default `/`.
    pub path: String,
    /// Time between attempts. Default 100 ms.
    pub interval: Duration,
    /// Time before the first retry, doubled on each retry up to `interval`. Default 5 ms.
    pub first_interval: Duration,
    /// Limit of one attempt (connect, send, first bytes of the answer). Default 2 s.
    pub attempt_timeout: Duration,
}

impl Default for HttpGet {
    fn default() -> Self {
        HttpGet {
            path: "/".into(),
            interval: Duration::from_millis(100),
            first_interval: Duration::from_millis(5),
            attempt_timeout: Duration::from_secs(2),
        }
    }
}

impl HttpGet {
    /// One attempt: true when an HTTP status line came back.
    async fn probe(&self, addr: SocketAddr) -> bool {
        let attempt = async {
            let mut stream = TcpStream::connect(addr).await.ok()?;
            let request = format!(
                "GET {} HTTP/1.0\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.path, addr
            );
            stream.write_all(request.as_bytes()).await.ok()?;
            let mut head = [0u8; 12];
            let mut filled = 0;
            while filled < head.len() {
                let n = stream.read(&mut head[filled..]).await.ok()?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            Some(head[..filled].starts_with(b"HTTP/"))
        };
        matches!(
            tokio::time::timeout(self.attempt_timeout, attempt).await,
            Ok(Some(true))
        )
    }
}

#[async_trait]
impl ReadinessCheck for HttpGet {
    async fn wait_ready(&self, target: &ReadyTarget) -> Result<(), String> {
        let addr = SocketAddr::new(target.addr, target.port);
        let mut pause = self.first_interval.min(self.interval);
        loop {
            if self.probe(addr).await {
                return Ok(());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.interval);
        }
    }
}
