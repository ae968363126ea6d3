//! A minimal keep-alive HTTP/1.1 client: enough to drive Jinlin's JSON API at full speed from
//! the same machine without pulling an HTTP client stack into the workspace.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Conn {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
}

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// `name=value` of every Set-Cookie.
    pub cookies: Vec<String>,
}

impl Reply {
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.iter().find_map(|c| {
            c.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::to_owned)
        })
    }
}

const TIMEOUT: Duration = Duration::from_secs(30);

impl Conn {
    pub fn new(addr: &str) -> Conn {
        Conn {
            addr: addr.to_owned(),
            stream: None,
        }
    }

    /// Sends one request on the kept-alive connection (reconnecting once if the server closed
    /// it) and reads the whole answer.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> anyhow::Result<Reply> {
        for attempt in 0..2 {
            if self.stream.is_none() {
                let s = tokio::time::timeout(TIMEOUT, TcpStream::connect(&self.addr))
                    .await
                    .context("connect timed out")??;
                s.set_nodelay(true)?;
                self.stream = Some(BufReader::new(s));
            }
            match tokio::time::timeout(TIMEOUT, self.exchange(method, path, headers, body)).await {
                Ok(Ok(r)) => return Ok(r),
                Ok(Err(e)) if attempt == 0 => {
                    self.stream = None;
                    let _ = e;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => bail!("request timed out"),
            }
        }
        bail!("unreachable")
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let s = self.stream.as_mut().context("not connected")?;
        let body = body.unwrap_or("");
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: bench\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        s.get_mut().write_all(head.as_bytes()).await?;
        s.get_mut().write_all(body.as_bytes()).await?;
        let mut line = String::new();
        if s.read_line(&mut line).await? == 0 {
            bail!("connection closed");
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .context("bad status line")?;
        let mut length = 0usize;
        let mut close = false;
        let mut cookies = Vec::new();
        loop {
            line.clear();
            s.read_line(&mut line).await?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let lower = l.to_ascii_lowercase();
            if lower.starts_with("set-cookie:") {
                let value = l["set-cookie:".len()..].trim();
                cookies.push(value.split(';').next().unwrap_or_default().to_owned());
            } else if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            } else if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                bail!("chunked answers are not expected from the JSON API");
            }
        }
        let mut body = vec![0u8; length];
        s.read_exact(&mut body).await?;
        if close {
            self.stream = None;
        }
        Ok(Reply {
            status,
            body,
            cookies,
        })
    }
}
