//! Open311 GeoReport v2: client keys, the extra fields of requests filed through it, and the
//! read queries behind `GET requests` and `GET servicerequestupdates`.
//!
//! Which cases a client may read is decided here, in SQL: public-space problems (categories of
//! kind `event` and `component`) of the jurisdiction, plus the personal ones (appeals, help) that
//! the same key filed. Reporter names, phones and e-mails are never selected.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::audit::{NewAudit, insert_audit};
use crate::sql::{Sql, scope_bounds};
use crate::{Store, StoreError};

/// Category kinds whose cases anyone may read through Open311.
pub const PUBLIC_KINDS: [&str; 2] = ["event", "component"];

/// A key to create (the caller hashes the key; the key itself is never stored).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOpen311Key {
    pub tenant: String,
    pub name: String,
    pub contact: String,
    pub key_hash: String,
    pub key_prefix: String,
    pub per_minute: i64,
    /// `id` or `token`.
    pub receipt: String,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Open311KeyRow {
    pub id: i64,
    pub tenant: String,
    pub name: String,
    pub contact: String,
    pub key_prefix: String,
    pub per_minute: i64,
    pub receipt: String,
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Requests filed with the key.
    pub requests: i64,
}

/// What an Open311 request brought beyond the case.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewOpen311Request {
    pub key_id: i64,
    pub token: String,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub media_url: Option<String>,
}

/// Which requests to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFilter {
    /// The jurisdiction's path (`/` for every district).
    pub scope_path: String,
    /// When set, only these ids (Open311: overrides the other filters).
    pub ids: Option<Vec<i64>>,
    pub category_ids: Vec<i64>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub updated_from: Option<i64>,
    pub updated_to: Option<i64>,
    /// Only cases in these stages (their `as_str` codes), when set.
    pub stages: Option<Vec<String>>,
    /// Personal cases filed with this key are readable too.
    pub key_id: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// A case as Open311 shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Open311Case {
    pub id: i64,
    pub tenant: String,
    pub category_code: String,
    pub category_name: String,
    pub description: String,
    pub stage: String,
    pub address: Option<String>,
    pub region_code: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub unit_name: Option<String>,
    pub community_name: Option<String>,
    pub resolution_due: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The latest public timeline note that says something.
    pub status_note: Option<String>,
    pub media_url: Option<String>,
}

/// One public timeline row as a request update.
#[derive(Debug, Clone, PartialEq)]
pub struct Open311Update {
    pub id: i64,
    pub case_id: i64,
    pub at: i64,
    pub action: String,
    pub to_stage: String,
    pub note: String,
}

/// Which updates to read: public timeline rows at `from ≤ at < to`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateFilter {
    pub scope_path: String,
    pub from: i64,
    pub to: i64,
    pub key_id: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

const KEY_SELECT: &str = "SELECT k.id, k.tenant, k.name, k.contact, k.key_prefix, k.per_minute, \
     k.receipt, k.created_by, k.created_at, k.last_used_at, k.revoked_at, \
     (SELECT COUNT(*) FROM open311_requests o WHERE o.key_id = k.id) AS requests \
     FROM open311_keys k";

fn key_row(row: &AnyRow) -> Result<Open311KeyRow, StoreError> {
    Ok(Open311KeyRow {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        name: row.try_get("name")?,
        contact: row.try_get("contact")?,
        key_prefix: row.try_get("key_prefix")?,
        per_minute: row.try_get("per_minute")?,
        receipt: row.try_get("receipt")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
        requests: row.try_get("requests")?,
    })
}

/// Records a request's extra fields in the case's transaction, and when its key was last used.
pub(crate) async fn insert_request(
    conn: &mut AnyConnection,
    case_id: i64,
    r: &NewOpen311Request,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO open311_requests (case_id, key_id, token, email, device_id, account_id, \
         first_name, last_name, media_url, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(case_id)
    .bind(r.key_id)
    .bind(r.token.as_str())
    .bind(r.email.clone())
    .bind(r.device_id.clone())
    .bind(r.account_id.clone())
    .bind(r.first_name.clone())
    .bind(r.last_name.clone())
    .bind(r.media_url.clone())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE open311_keys SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(r.key_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// `(c.kind is public OR the case was filed with this key)`.
fn visible(sql: &mut Sql, key_id: Option<i64>) {
    sql.push(" AND (k.kind IN ('event', 'component')");
    if let Some(key) = key_id {
        sql.push(" OR o.key_id = ").bind(key);
    }
    sql.push(")");
}

impl Store {
    pub async fn create_open311_key(
        &self,
        key: &NewOpen311Key,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO open311_keys (tenant, name, contact, key_hash, key_prefix, per_minute, \
             receipt, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING id",
        )
        .bind(key.tenant.as_str())
        .bind(key.name.as_str())
        .bind(key.contact.as_str())
        .bind(key.key_hash.as_str())
        .bind(key.key_prefix.as_str())
        .bind(key.per_minute)
        .bind(key.receipt.as_str())
        .bind(key.created_by.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        insert_audit(&mut tx, audit, Some(&key.tenant), now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Keys of the districts in `tenants` (all when `None`), newest first.
    pub async fn open311_keys(
        &self,
        tenants: Option<&[String]>,
    ) -> Result<Vec<Open311KeyRow>, StoreError> {
        let mut sql = Sql::new(KEY_SELECT);
        if let Some(t) = tenants {
            if t.is_empty() {
                return Ok(Vec::new());
            }
            sql.push(" WHERE k.tenant IN (")
                .bind_list(t.iter().cloned())
                .push(")");
        }
        sql.push(" ORDER BY k.id DESC");
        let rows = sql.query().fetch_all(self.reader()).await?;
        rows.iter().map(key_row).collect()
    }

    pub async fn open311_key(&self, id: i64) -> Result<Option<Open311KeyRow>, StoreError> {
        let mut sql = Sql::new(KEY_SELECT);
        sql.push(" WHERE k.id = ").bind(id);
        let row = sql.query().fetch_optional(self.reader()).await?;
        row.as_ref().map(key_row).transpose()
    }

    pub async fn open311_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<Open311KeyRow>, StoreError> {
        let mut sql = Sql::new(KEY_SELECT);
        sql.push(" WHERE k.key_hash = ").bind(key_hash);
        let row = sql.query().fetch_optional(self.reader()).await?;
        row.as_ref().map(key_row).transpose()
    }

    /// Revokes a key (false when it was already revoked), with its audit row.
    pub async fn revoke_open311_key(
        &self,
        id: i64,
        audit: &NewAudit,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE open311_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             RETURNING tenant",
        )
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let tenant: String = row.try_get("tenant")?;
        insert_audit(&mut tx, audit, Some(&tenant), now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The case a token stands for.
    pub async fn open311_token(&self, token: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT case_id FROM open311_requests WHERE token = $1")
            .bind(token)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| r.try_get("case_id"))
            .transpose()
            .map_err(Into::into)
    }

    /// Requests by `f`, newest first.
    pub async fn open311_requests(
        &self,
        f: &RequestFilter,
    ) -> Result<Vec<Open311Case>, StoreError> {
        let (lo, hi) = scope_bounds(&f.scope_path)?;
        let mut sql = Sql::new(
            "SELECT c.id, c.tenant, k.code AS category_code, k.name AS category_name, \
             c.description, c.stage, c.address, r.code AS region_code, c.lat, c.lng, \
             u.name AS unit_name, cm.name AS community_name, c.resolution_due, c.created_at, \
             c.updated_at, o.media_url, \
             (SELECT e.note FROM case_events e WHERE e.case_id = c.id AND e.public = 1 \
              AND e.note <> '' ORDER BY e.id DESC LIMIT 1) AS status_note \
             FROM cases c JOIN categories k ON k.id = c.category_id \
             JOIN regions r ON r.id = c.region_id \
             LEFT JOIN regions cm ON cm.id = c.community_id \
             LEFT JOIN units u ON u.id = c.unit_id \
             LEFT JOIN open311_requests o ON o.case_id = c.id",
        );
        sql.push(" WHERE c.region_path >= ")
            .bind(lo)
            .push(" AND c.region_path < ")
            .bind(hi);
        visible(&mut sql, f.key_id);
        if let Some(ids) = &f.ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            sql.push(" AND c.id IN (")
                .bind_list(ids.iter().copied())
                .push(")");
        } else {
            if !f.category_ids.is_empty() {
                sql.push(" AND c.category_id IN (")
                    .bind_list(f.category_ids.iter().copied())
                    .push(")");
            }
            if let Some(t) = f.created_from {
                sql.push(" AND c.created_at >= ").bind(t);
            }
            if let Some(t) = f.created_to {
                sql.push(" AND c.created_at <= ").bind(t);
            }
            if let Some(t) = f.updated_from {
                // Every change writes a timeline row, and those are indexed by time.
                sql.push(" AND c.updated_at >= ")
                    .bind(t)
                    .push(" AND c.id IN (SELECT e.case_id FROM case_events e WHERE e.at >= ")
                    .bind(t)
                    .push(")");
            }
            if let Some(t) = f.updated_to {
                sql.push(" AND c.updated_at <= ").bind(t);
            }
            if let Some(stages) = &f.stages {
                if stages.is_empty() {
                    return Ok(Vec::new());
                }
                sql.push(" AND c.stage IN (")
                    .bind_list(stages.iter().cloned())
                    .push(")");
            }
        }
        sql.push(" ORDER BY c.created_at DESC, c.id DESC LIMIT ")
            .bind(f.limit.clamp(1, 1000))
            .push(" OFFSET ")
            .bind(f.offset.max(0));
        let rows = sql.query().fetch_all(self.reader()).await?;
        rows.iter()
            .map(|row| {
                Ok(Open311Case {
                    id: row.try_get("id")?,
                    tenant: row.try_get("tenant")?,
                    category_code: row.try_get("category_code")?,
                    category_name: row.try_get("category_name")?,
                    description: row.try_get("description")?,
                    stage: row.try_get("stage")?,
                    address: row.try_get("address")?,
                    region_code: row.try_get("region_code")?,
                    lat: row.try_get("lat")?,
                    lng: row.try_get("lng")?,
                    unit_name: row.try_get("unit_name")?,
                    community_name: row.try_get("community_name")?,
                    resolution_due: row.try_get("resolution_due")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    status_note: row.try_get("status_note")?,
                    media_url: row.try_get("media_url")?,
                })
            })
            .collect()
    }

    /// Public timeline rows of readable cases, oldest first.
    pub async fn open311_updates(
        &self,
        f: &UpdateFilter,
    ) -> Result<Vec<Open311Update>, StoreError> {
        let (lo, hi) = scope_bounds(&f.scope_path)?;
        let mut sql = Sql::new(
            "SELECT e.id, e.case_id, e.at, e.action, e.to_stage, e.note \
             FROM case_events e JOIN cases c ON c.id = e.case_id \
             JOIN categories k ON k.id = c.category_id \
             LEFT JOIN open311_requests o ON o.case_id = c.id WHERE e.at >= ",
        );
        sql.bind(f.from)
            .push(" AND e.at < ")
            .bind(f.to)
            .push(" AND e.public = 1 AND c.region_path >= ")
            .bind(lo)
            .push(" AND c.region_path < ")
            .bind(hi);
        visible(&mut sql, f.key_id);
        sql.push(" ORDER BY e.at, e.id LIMIT ")
            .bind(f.limit.clamp(1, 1000))
            .push(" OFFSET ")
            .bind(f.offset.max(0));
        let rows = sql.query().fetch_all(self.reader()).await?;
        rows.iter()
            .map(|row| {
                Ok(Open311Update {
                    id: row.try_get("id")?,
                    case_id: row.try_get("case_id")?,
                    at: row.try_get("at")?,
                    action: row.try_get("action")?,
                    to_stage: row.try_get("to_stage")?,
                    note: row.try_get("note")?,
                })
            })
            .collect()
    }

    /// The region an address text names, within `scope_path`: the deepest community, compound
    /// or building whose name appears in `text` — a building only together with its compound or
    /// community (`3号楼` alone is in every compound). Longer names win among equals.
    pub async fn match_address(
        &self,
        scope_path: &str,
        text: &str,
    ) -> Result<Option<String>, StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let rows = sqlx::query(
            "SELECT code, name, level, path, depth FROM regions \
             WHERE path >= $1 AND path < $2 AND level IN ('community', 'compound', 'building') \
             AND $3 LIKE '%' || name || '%' LIMIT 500",
        )
        .bind(lo)
        .bind(hi)
        .bind(text)
        .fetch_all(self.reader())
        .await?;
        let found: Vec<(String, String, String, String, i64)> = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("code")?,
                    r.try_get("name")?,
                    r.try_get("level")?,
                    r.try_get("path")?,
                    r.try_get("depth")?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        let best = found
            .iter()
            .filter(|(_, _, level, path, _)| {
                level != "building"
                    || found
                        .iter()
                        .any(|(_, _, l, p, _)| l != "building" && path.starts_with(p.as_str()))
            })
            .max_by_key(|(_, name, _, _, depth)| (*depth, name.chars().count()));
        Ok(best.map(|(code, ..)| code.clone()))
    }

    /// When a category last changed (0 for none).
    pub async fn categories_changed_at(&self) -> Result<i64, StoreError> {
        let row =
            sqlx::query("SELECT CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) AS t FROM categories")
                .fetch_one(self.reader())
                .await?;
        Ok(row.try_get("t")?)
    }

    /// A case's answers to its category's extra questions, `(code, value)`.
    pub async fn case_answers(&self, case_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT code, value FROM case_answers WHERE case_id = $1")
            .bind(case_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("code")?, r.try_get("value")?)))
            .collect()
    }
}
