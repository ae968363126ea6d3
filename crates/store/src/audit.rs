//! The append-only audit log (等保 安全审计). Database triggers refuse UPDATE and DELETE on
//! both backends; administrative changes write their row in the same transaction as the
//! change, through [`insert_audit`].

use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Sql, like_escape, page_bounds};
use crate::{Store, StoreError};

/// An audit entry to append.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewAudit {
    pub actor_id: Option<i64>,
    pub actor_name: String,
    /// What was done: `login`, `user.create`, `post.assign`, `regions.import`, …
    pub action: String,
    /// What it was done to: `user:grid01`, `region:350503001001`, …
    pub target: String,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    pub detail: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    /// District code; when `None`, changes that know their district fill it in.
    pub tenant: Option<String>,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub id: i64,
    pub tenant: Option<String>,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

/// Which audit entries to list: `actor` matches the actor name exactly, `action` matches as a
/// prefix (`user.` lists every account change). Pages start at 1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub page: u32,
    pub page_size: u32,
}

const OUTCOMES: [&str; 3] = ["ok", "denied", "failed"];

/// Appends `audit` on `conn` (normally the transaction of the change it records).
/// `tenant` is used when the entry names none.
pub(crate) async fn insert_audit(
    conn: &mut AnyConnection,
    audit: &NewAudit,
    tenant: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    if !OUTCOMES.contains(&audit.outcome.as_str()) {
        return Err(StoreError::invalid(format!(
            "审计结果须为 ok、denied 或 failed，收到“{}”",
            audit.outcome
        )));
    }
    if audit.actor_name.is_empty() || audit.action.is_empty() {
        return Err(StoreError::invalid("审计记录须有操作人和操作名称"));
    }
    let tenant = audit.tenant.clone().or_else(|| tenant.map(str::to_owned));
    sqlx::query(
        "INSERT INTO audit_log \
         (tenant, at, actor_id, actor_name, action, target, outcome, detail, request_id, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(tenant)
    .bind(now)
    .bind(audit.actor_id)
    .bind(audit.actor_name.as_str())
    .bind(audit.action.as_str())
    .bind(audit.target.as_str())
    .bind(audit.outcome.as_str())
    .bind(audit.detail.as_str())
    .bind(audit.request_id.clone())
    .bind(audit.ip.clone())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn audit_row(row: &AnyRow) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        at: row.try_get("at")?,
        actor_id: row.try_get("actor_id")?,
        actor_name: row.try_get("actor_name")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
        request_id: row.try_get("request_id")?,
        ip: row.try_get("ip")?,
    })
}

fn audit_where(sql: &mut Sql, filter: &AuditFilter) {
    sql.push(" WHERE 1 = 1");
    if let Some(actor) = filter.actor.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" AND actor_name = ").bind(actor);
    }
    if let Some(action) = filter.action.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" AND action LIKE ")
            .bind(format!("{}%", like_escape(action)))
            .push(" ESCAPE '\\'");
    }
}

impl Store {
    /// Appends one entry on its own (sign-in attempts, refusals, reads of personal data).
    pub async fn append_audit(&self, audit: &NewAudit, now: i64) -> Result<(), StoreError> {
        let mut conn = self.writer().acquire().await?;
        insert_audit(&mut conn, audit, None, now).await
    }

    /// One page of entries, newest first, and the total matching the filter.
    pub async fn list_audit(
        &self,
        filter: AuditFilter,
    ) -> Result<(Vec<AuditRow>, i64), StoreError> {
        let (limit, offset) = page_bounds(filter.page, filter.page_size);
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM audit_log");
        audit_where(&mut count, &filter);
        let total: i64 = count.query().fetch_one(self.reader()).await?.try_get("n")?;

        let mut list = Sql::new(
            "SELECT id, tenant, at, actor_id, actor_name, action, target, outcome, detail, \
             request_id, ip FROM audit_log",
        );
        audit_where(&mut list, &filter);
        list.push(" ORDER BY at DESC, id DESC LIMIT ")
            .bind(limit)
            .push(" OFFSET ")
            .bind(offset);
        let rows = list.query().fetch_all(self.reader()).await?;
        let rows = rows.iter().map(audit_row).collect::<Result<Vec<_>, _>>()?;
        Ok((rows, total))
    }
}
