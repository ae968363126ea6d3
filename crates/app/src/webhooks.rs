//! The outbound webhook: every case event is queued in the same transaction as the change
//! (see `CaseEffects::webhook`), then POSTed as JSON by [`App::deliver_webhooks`], signed with
//! `X-Jinlin-Signature: sha256=<hex HMAC-SHA256 of the body>`, retried with backoff, and kept as
//! a dead letter for admins after the last try.
//!
//! Plain `http://` only: county intranets post to a local hub; an HTTPS receiver sits behind a
//! forwarding proxy on the same network. [`check_url`] says so at start-up.

use std::time::Duration;

use hmac::{Hmac, Mac};
use jinlin_domain::accounts::Role;
use jinlin_store::cases::DeliveryRow;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Actor, App, AppError, Page};

/// Waits after the 1st, 2nd … failed attempt; after the last the delivery is dead.
const BACKOFF_MS: [i64; 7] = [
    30_000,
    2 * 60_000,
    10 * 60_000,
    30 * 60_000,
    3_600_000,
    3 * 3_600_000,
    12 * 3_600_000,
];
const TIMEOUT: Duration = Duration::from_secs(10);

/// `host`, `port` and path of an `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// Checks a configured webhook URL; the error names the setting and the rule.
pub fn check_url(url: &str) -> Result<Target, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        "webhook_url 须以 http:// 开头（HTTPS 接收端请经同一内网的转发代理接入）".to_string()
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("webhook_url 的端口“{p}”无效"))?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() || host.contains(['@', ' ']) {
        return Err("webhook_url 缺少主机名".into());
    }
    Ok(Target {
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}

/// The hex HMAC-SHA256 of `body` under `secret`, as sent in `X-Jinlin-Signature: sha256=…`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm is unreachable in practice.
        Err(_) => return String::new(),
    };
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One POST; Ok when the receiver answered 2xx.
async fn post(target: &Target, secret: Option<&str>, d: &DeliveryRow) -> Result<(), String> {
    let body = d.payload.as_bytes();
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nUser-Agent: jinlin\r\nX-Jinlin-Event: {}\r\nX-Jinlin-Delivery: {}\r\n",
        target.path,
        target.host,
        body.len(),
        d.event,
        d.id
    );
    if let Some(s) = secret {
        head.push_str(&format!(
            "X-Jinlin-Signature: sha256={}\r\n",
            signature(s, body)
        ));
    }
    head.push_str("Connection: close\r\n\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("连接失败：{e}"))?;
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("发送失败：{e}"))?;
        stream
            .write_all(body)
            .await
            .map_err(|e| format!("发送失败：{e}"))?;
        let mut first = [0u8; 64];
        let mut n = 0;
        // The status line is all we need.
        while n < first.len() {
            let got = stream
                .read(&mut first[n..])
                .await
                .map_err(|e| format!("读取应答失败：{e}"))?;
            if got == 0 {
                break;
            }
            n += got;
            if first[..n].contains(&b'\n') {
                break;
            }
        }
        let line = String::from_utf8_lossy(&first[..n]).into_owned();
        let code = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("应答无法识别：{}", line.trim()))?;
        if (200..300).contains(&code) {
            Ok(())
        } else {
            Err(format!("接收端返回 HTTP {code}"))
        }
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| "超时（10 秒）".to_string())?
}

impl App {
    /// One round of deliveries; returns how many were delivered. Safe with several processes:
    /// deliveries are leased like the sweeper's cases.
    pub async fn deliver_webhooks(&self) -> Result<usize, AppError> {
        let Some(url) = self.settings.webhook_url.as_deref() else {
            return Ok(0);
        };
        let target = check_url(url).map_err(AppError::Internal)?;
        let now = self.now();
        let due = self.store.claim_deliveries(now, 50, 120_000).await?;
        let mut delivered = 0;
        for d in due {
            let outcome = post(&target, self.settings.webhook_secret.as_deref(), &d).await;
            let now = self.now();
            match outcome {
                Ok(()) => {
                    self.store
                        .record_delivery(d.id, true, None, None, now)
                        .await?;
                    delivered += 1;
                }
                Err(e) => {
                    let next = usize::try_from(d.attempts)
                        .ok()
                        .and_then(|a| BACKOFF_MS.get(a))
                        .map(|wait| now + wait);
                    if next.is_none() {
                        tracing::warn!(delivery = d.id, error = %e, "webhook delivery is dead");
                    }
                    self.store
                        .record_delivery(d.id, false, Some(&e), next, now)
                        .await?;
                }
            }
        }
        Ok(delivered)
    }

    /// Deliveries of one status (`pending`, `delivered`, `dead`), for administrators.
    pub async fn webhook_deliveries(
        &self,
        actor: &Actor,
        status: &str,
        page: u32,
    ) -> Result<Page<DeliveryRow>, AppError> {
        if actor.role != Role::Sysadmin {
            return Err(AppError::Forbidden("仅系统管理员可以查看推送记录".into()));
        }
        if !matches!(status, "pending" | "delivered" | "dead") {
            return Err(AppError::invalid(
                "status",
                "状态：只能是 pending、delivered 或 dead",
            ));
        }
        let page = page.max(1);
        let (items, total) = self.store.deliveries(status, page, 50).await?;
        Ok(Page {
            items,
            total,
            page,
            page_size: 50,
        })
    }

    /// Puts a dead delivery back in the queue; audited.
    pub async fn retry_webhook(&self, actor: &Actor, id: i64) -> Result<(), AppError> {
        if actor.role != Role::Sysadmin {
            return Err(AppError::Forbidden("仅系统管理员可以重新推送".into()));
        }
        let now = self.now();
        self.store
            .retry_delivery(id, now)
            .await
            .map_err(|e| match e {
                jinlin_store::StoreError::NotFound => {
                    AppError::NotFound(format!("推送 #{id} 不存在或不是失败状态"))
                }
                other => other.into(),
            })?;
        self.store
            .append_audit(
                &actor.audit(
                    "webhook.retry",
                    &format!("delivery:{id}"),
                    "ok",
                    String::new(),
                ),
                now,
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_with_a_clear_rule() {
        assert_eq!(
            check_url("http://10.1.2.3:8088/hooks/jinlin"),
            Ok(Target {
                host: "10.1.2.3".into(),
                port: 8088,
                path: "/hooks/jinlin".into()
            })
        );
        assert_eq!(
            check_url("http://hub.local").map(|t| (t.port, t.path)),
            Ok((80, "/".into()))
        );
        assert!(
            check_url("https://hub.example")
                .unwrap_err()
                .contains("http://")
        );
        assert!(check_url("http://hub:99999/").unwrap_err().contains("端口"));
    }

    #[test]
    fn signatures_match_the_rfc_4231_test_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
