//! Accounts: users, server-side sessions, API tokens and posts (岗位).
//!
//! Only hashes of session and API tokens are stored. Every administrative change writes its
//! audit entry in the same transaction as the change.

use jinlin_domain::accounts::{PostKind, Role};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{NewAudit, insert_audit};
use crate::error::{is_foreign_key_violation, is_unique_violation, unique_as_conflict};
use crate::regions::parse_level;
use crate::sql::{Sql, like_escape, page_bounds, scope_bounds};
use crate::{Store, StoreError};

/// A stored account with the region it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: i64,
    pub tenant: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub region_id: i64,
    pub region_code: String,
    pub region_name: String,
    /// Materialised path of the account's region: its jurisdiction.
    pub region_path: String,
    pub work_phone: Option<String>,
    pub password_hash: String,
    pub active: bool,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
}

/// An account to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub region_code: String,
    pub work_phone: Option<String>,
    pub password_hash: String,
}

/// A server-side session (the cookie carries the token; the database only its hash).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub user_agent: Option<String>,
}

/// An API token as listed to its owner (never the token or its hash).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A post with the person holding it.
#[derive(Debug, Clone, PartialEq)]
pub struct PostView {
    pub id: i64,
    pub kind: PostKind,
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub work_phone: Option<String>,
    pub region_id: i64,
    /// Whether the holder's account is active.
    pub active: bool,
}

/// Columns of [`User`] (aliases avoid clashes when joined with sessions).
macro_rules! user_cols {
    () => {
        "u.id AS user_id, u.tenant AS user_tenant, u.username, u.display_name, u.role, \
         u.region_id, r.code AS region_code, r.name AS region_name, r.path AS region_path, \
         u.work_phone, u.password_hash, u.active, u.failed_logins, u.locked_until, \
         u.created_at AS user_created_at"
    };
}

macro_rules! user_select {
    () => {
        concat!(
            "SELECT ",
            user_cols!(),
            " FROM users u JOIN regions r ON r.id = u.region_id"
        )
    };
}

macro_rules! post_select {
    () => {
        "SELECT p.id AS post_id, p.kind, p.user_id, u.username, u.display_name, u.work_phone, \
         p.region_id, u.active, g.code AS region_code, g.name AS region_name \
         FROM posts p JOIN users u ON u.id = p.user_id JOIN regions g ON g.id = p.region_id"
    };
}

fn user_row(row: &AnyRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("user_id")?,
        tenant: row.try_get("user_tenant")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::invalid(format!("数据库中有未知的角色“{role}”")))?,
        region_id: row.try_get("region_id")?,
        region_code: row.try_get("region_code")?,
        region_name: row.try_get("region_name")?,
        region_path: row.try_get("region_path")?,
        work_phone: row.try_get("work_phone")?,
        password_hash: row.try_get("password_hash")?,
        active: row.try_get::<i64, _>("active")? != 0,
        failed_logins: row.try_get("failed_logins")?,
        locked_until: row.try_get("locked_until")?,
        created_at: row.try_get("user_created_at")?,
    })
}

fn session_row(row: &AnyRow) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        id: row.try_get("session_id")?,
        user_id: row.try_get("session_user_id")?,
        csrf_token: row.try_get("csrf_token")?,
        created_at: row.try_get("session_created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        user_agent: row.try_get("user_agent")?,
    })
}

fn api_token_row(row: &AnyRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn post_row(row: &AnyRow) -> Result<PostView, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(PostView {
        id: row.try_get("post_id")?,
        kind: PostKind::parse(&kind)
            .ok_or_else(|| StoreError::invalid(format!("数据库中有未知的岗位“{kind}”")))?,
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        work_phone: row.try_get("work_phone")?,
        region_id: row.try_get("region_id")?,
        active: row.try_get::<i64, _>("active")? != 0,
    })
}

/// The tenant of a user, or `NotFound`.
async fn user_tenant(conn: &mut AnyConnection, user_id: i64) -> Result<String, StoreError> {
    let row = sqlx::query("SELECT tenant FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(row.try_get("tenant")?)
}

async fn insert_user(
    conn: &mut AnyConnection,
    user: &NewUser,
    tenant: &str,
    region_id: i64,
    now: i64,
) -> Result<i64, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO users (tenant, username, display_name, role, region_id, work_phone, \
         password_hash, active, failed_logins, locked_until, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 0, NULL, $8, $8) RETURNING id",
    )
    .bind(tenant)
    .bind(user.username.as_str())
    .bind(user.display_name.as_str())
    .bind(user.role.as_str())
    .bind(region_id)
    .bind(user.work_phone.clone())
    .bind(user.password_hash.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(unique_as_conflict("username"))?
    .try_get("id")?)
}

/// Minimum gap between two `last_used_at` writes of one API token, so every API request does
/// not cost a write.
const TOKEN_TOUCH_MS: i64 = 60_000;

impl Store {
    // ----- users ---------------------------------------------------------------------------

    /// Creates an account. `Conflict { field: "username" }` when the name is taken,
    /// `NotFound` when the region code is unknown.
    pub async fn create_user(
        &self,
        user: &NewUser,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        if user.username.is_empty() || user.display_name.trim().is_empty() {
            return Err(StoreError::invalid("用户名和姓名不能为空"));
        }
        if user.password_hash.is_empty() {
            return Err(StoreError::invalid("密码散列不能为空"));
        }
        let mut tx = self.begin_write().await?;
        let id = insert_user_at_code(&mut tx, user, audit, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Creates many accounts and their posts in one transaction (demo county, bulk set-up):
    /// all or nothing, one audit entry for the batch.
    pub async fn seed_accounts(
        &self,
        users: &[NewUser],
        posts: &[(String, String, PostKind)],
        audit: &NewAudit,
        now: i64,
    ) -> Result<(usize, usize), StoreError> {
        let mut tx = self.begin_write().await?;
        let mut regions: std::collections::HashMap<String, (i64, String)> =
            std::collections::HashMap::new();
        let mut user_ids: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
        let mut first_tenant = None;
        for user in users {
            if !regions.contains_key(&user.region_code) {
                let row = sqlx::query("SELECT id, tenant FROM regions WHERE code = $1")
                    .bind(user.region_code.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| {
                        StoreError::invalid(format!("区划 {} 不存在", user.region_code))
                    })?;
                regions.insert(
                    user.region_code.clone(),
                    (row.try_get("id")?, row.try_get("tenant")?),
                );
            }
            let Some((region_id, tenant)) = regions.get(&user.region_code) else {
                continue;
            };
            if first_tenant.is_none() {
                first_tenant = Some(tenant.clone());
            }
            let id = insert_user(&mut tx, user, tenant, *region_id, now).await?;
            user_ids.insert(user.username.as_str(), id);
        }
        for (username, code, kind) in posts {
            let user_id = *user_ids
                .get(username.as_str())
                .ok_or_else(|| StoreError::invalid(format!("岗位引用了未创建的账号 {username}")))?;
            let row = sqlx::query("SELECT id, tenant, level FROM regions WHERE code = $1")
                .bind(code.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::invalid(format!("区划 {code} 不存在")))?;
            if parse_level(&row.try_get::<String, _>("level")?)? != kind.level() {
                return Err(StoreError::invalid(format!(
                    "{}岗位只能设在{}上（{code}）",
                    kind.zh(),
                    kind.level().zh()
                )));
            }
            sqlx::query(
                "INSERT INTO posts (tenant, region_id, user_id, kind, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(row.try_get::<String, _>("tenant")?)
            .bind(row.try_get::<i64, _>("id")?)
            .bind(user_id)
            .bind(kind.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(unique_as_conflict("post"))?;
        }
        insert_audit(&mut tx, audit, first_tenant.as_deref(), now).await?;
        tx.commit().await?;
        Ok((user_ids.len(), posts.len()))
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(user_select!(), " WHERE u.username = $1"))
            .bind(username)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(user_row).transpose()
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(user_select!(), " WHERE u.id = $1"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// Counts a failed sign-in, atomically. When the count reaches `max_failures` the account
    /// is locked until `now + lock_ms` and the count starts again from 0 (so after the lock
    /// expires the user gets `max_failures` fresh attempts). Returns `Some(locked_until)` while
    /// the account is locked, `None` otherwise.
    pub async fn record_login_failure(
        &self,
        user_id: i64,
        now: i64,
        max_failures: i64,
        lock_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        if max_failures < 1 || lock_ms < 0 {
            return Err(StoreError::invalid(
                "锁定阈值须至少为 1 次，锁定时长不能为负",
            ));
        }
        let row = sqlx::query(
            "UPDATE users SET \
             failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END, \
             locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END, \
             updated_at = $4 \
             WHERE id = $1 RETURNING locked_until",
        )
        .bind(user_id)
        .bind(max_failures)
        .bind(now.saturating_add(lock_ms))
        .bind(now)
        .fetch_optional(self.writer())
        .await?
        .ok_or(StoreError::NotFound)?;
        let locked_until: Option<i64> = row.try_get("locked_until")?;
        Ok(locked_until.filter(|until| *until > now))
    }

    /// Clears the failure count and any lock (after a successful sign-in).
    pub async fn reset_login_failures(&self, user_id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE users SET failed_logins = 0, locked_until = NULL \
             WHERE id = $1 AND (failed_logins <> 0 OR locked_until IS NOT NULL)",
        )
        .bind(user_id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Sets a new password hash, clears the failure count and lock, and ends the user's
    /// sessions.
    pub async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        if password_hash.is_empty() {
            return Err(StoreError::invalid("密码散列不能为空"));
        }
        let mut tx = self.begin_write().await?;
        let tenant = user_tenant(&mut tx, user_id).await?;
        insert_audit(&mut tx, audit, Some(&tenant), now).await?;
        sqlx::query(
            "UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL, \
             updated_at = $2 WHERE id = $3",
        )
        .bind(password_hash)
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Enables or disables an account; disabling ends its sessions.
    pub async fn set_active(
        &self,
        user_id: i64,
        active: bool,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let tenant = user_tenant(&mut tx, user_id).await?;
        insert_audit(&mut tx, audit, Some(&tenant), now).await?;
        sqlx::query("UPDATE users SET active = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(active))
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if !active {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One page of the accounts whose region lies inside `scope_path` (jurisdiction is
    /// enforced here, in SQL), optionally those whose username or display name contains `q`;
    /// ordered by username. Returns the page and the total.
    pub async fn list_users(
        &self,
        scope_path: &str,
        q: Option<&str>,
        page: u32,
        page_size: u32,
    ) -> Result<(Vec<User>, i64), StoreError> {
        let (lo, hi) = scope_bounds(scope_path)?;
        let pattern = q
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| format!("%{}%", like_escape(&q.to_lowercase())));
        let filter = |sql: &mut Sql| {
            sql.push(" WHERE r.path >= ")
                .bind(lo.as_str())
                .push(" AND r.path < ")
                .bind(hi.as_str());
            if let Some(p) = &pattern {
                sql.push(" AND (LOWER(u.username) LIKE ")
                    .bind(p.as_str())
                    .push(" ESCAPE '\\' OR LOWER(u.display_name) LIKE ")
                    .bind(p.as_str())
                    .push(" ESCAPE '\\')");
            }
        };
        let mut count =
            Sql::new("SELECT COUNT(*) AS n FROM users u JOIN regions r ON r.id = u.region_id");
        filter(&mut count);
        let total: i64 = count.query().fetch_one(self.reader()).await?.try_get("n")?;

        let (limit, offset) = page_bounds(page, page_size);
        let mut list = Sql::new(user_select!());
        filter(&mut list);
        list.push(" ORDER BY u.username LIMIT ")
            .bind(limit)
            .push(" OFFSET ")
            .bind(offset);
        let rows = list.query().fetch_all(self.reader()).await?;
        let users = rows.iter().map(user_row).collect::<Result<Vec<_>, _>>()?;
        Ok((users, total))
    }

    // ----- sessions ------------------------------------------------------------------------

    /// Stores a new session; returns its id. `NotFound` if the user does not exist.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        user_agent: Option<&str>,
        now: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, \
             user_agent) VALUES ($1, $2, $3, $4, $4, $5) RETURNING id",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(now)
        .bind(user_agent.map(|ua| ua.chars().take(512).collect::<String>()))
        .fetch_one(self.writer())
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                StoreError::NotFound
            } else if is_unique_violation(&e) {
                StoreError::conflict("token")
            } else {
                StoreError::Db(e)
            }
        })?;
        Ok(row.try_get("id")?)
    }

    /// The session with this token hash and its user.
    pub async fn session_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<(SessionRow, User)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT s.id AS session_id, s.user_id AS session_user_id, s.csrf_token, \
             s.created_at AS session_created_at, s.last_seen_at, s.user_agent, ",
            user_cols!(),
            " FROM sessions s JOIN users u ON u.id = s.user_id \
             JOIN regions r ON r.id = u.region_id WHERE s.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(self.reader())
        .await?;
        match row {
            Some(row) => Ok(Some((session_row(&row)?, user_row(&row)?))),
            None => Ok(None),
        }
    }

    /// Marks a session as used now (the idle clock restarts).
    pub async fn touch_session(&self, id: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
            .bind(now)
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Ends a session (sign-out); nothing happens if it does not exist.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Ends every session last used before `older_than_ms`; returns how many.
    pub async fn delete_idle_sessions(&self, older_than_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1")
            .bind(older_than_ms)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }

    // ----- API tokens ----------------------------------------------------------------------

    /// Stores an API token's hash for a user; returns the token's id.
    pub async fn create_api_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::invalid("令牌名称不能为空"));
        }
        let mut tx = self.begin_write().await?;
        let tenant = user_tenant(&mut tx, user_id).await?;
        insert_audit(&mut tx, audit, Some(&tenant), now).await?;
        let row = sqlx::query(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_as_conflict("token"))?;
        let id: i64 = row.try_get("id")?;
        tx.commit().await?;
        Ok(id)
    }

    /// The user of a valid (not revoked) API token; records the use (at most once a minute).
    pub async fn user_by_api_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<User>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT id, user_id, last_used_at FROM api_tokens \
             WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(self.reader())
        .await?
        else {
            return Ok(None);
        };
        let id: i64 = row.try_get("id")?;
        let user_id: i64 = row.try_get("user_id")?;
        let last_used: Option<i64> = row.try_get("last_used_at")?;
        if last_used.is_none_or(|t| now - t >= TOKEN_TOUCH_MS) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(self.writer())
                .await?;
        }
        self.user_by_id(user_id).await
    }

    /// Revokes a token. `NotFound` if there is no such token or it is already revoked.
    pub async fn revoke_api_token(
        &self,
        id: i64,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT u.tenant FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.id = $1 AND t.revoked_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let tenant: String = row.try_get("tenant")?;
        insert_audit(&mut tx, audit, Some(&tenant), now).await?;
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's tokens, newest first, revoked ones included.
    pub async fn list_api_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, name, created_at, last_used_at, revoked_at FROM api_tokens \
             WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(api_token_row).collect()
    }

    pub async fn api_token_by_id(&self, id: i64) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_id, name, created_at, last_used_at, revoked_at FROM api_tokens \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(api_token_row).transpose()
    }

    // ----- posts ---------------------------------------------------------------------------

    /// Gives a user a post at a region; returns the post's id. The region's level must be
    /// the post's (`PostKind::level`), else `Invalid`; `NotFound` for an unknown region code
    /// or user; `Conflict { field: "post" }` if the user already holds this post there.
    pub async fn assign_post(
        &self,
        user_id: i64,
        region_code: &str,
        kind: PostKind,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let region = sqlx::query("SELECT id, tenant, level, name FROM regions WHERE code = $1")
            .bind(region_code)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let level = parse_level(&region.try_get::<String, _>("level")?)?;
        if level != kind.level() {
            let name: String = region.try_get("name")?;
            return Err(StoreError::invalid(format!(
                "{}岗位只能设在{}上，{name}（{region_code}）是{}",
                kind.zh(),
                kind.level().zh(),
                level.zh()
            )));
        }
        let region_id: i64 = region.try_get("id")?;
        let tenant: String = region.try_get("tenant")?;
        user_tenant(&mut tx, user_id).await?;
        insert_audit(&mut tx, audit, Some(&tenant), now).await?;
        let row = sqlx::query(
            "INSERT INTO posts (tenant, region_id, user_id, kind, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(tenant.as_str())
        .bind(region_id)
        .bind(user_id)
        .bind(kind.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_as_conflict("post"))?;
        let id: i64 = row.try_get("id")?;
        tx.commit().await?;
        Ok(id)
    }

    /// Removes a post. `NotFound` if there is none with this id.
    pub async fn remove_post(
        &self,
        post_id: i64,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT tenant FROM posts WHERE id = $1")
            .bind(post_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let tenant: String = row.try_get("tenant")?;
        insert_audit(&mut tx, audit, Some(&tenant), now).await?;
        sqlx::query("DELETE FROM posts WHERE id = $1")
            .bind(post_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The posts at one region, by kind then username.
    pub async fn posts_at(&self, region_id: i64) -> Result<Vec<PostView>, StoreError> {
        let rows = sqlx::query(concat!(
            post_select!(),
            " WHERE p.region_id = $1 ORDER BY p.kind, u.username"
        ))
        .bind(region_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(post_row).collect()
    }

    /// A user's posts with the region code and name of each, by region code.
    pub async fn posts_of_user(
        &self,
        user_id: i64,
    ) -> Result<Vec<(PostView, String, String)>, StoreError> {
        let rows = sqlx::query(concat!(
            post_select!(),
            " WHERE p.user_id = $1 ORDER BY g.code, p.kind"
        ))
        .bind(user_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    post_row(r)?,
                    r.try_get("region_code")?,
                    r.try_get("region_name")?,
                ))
            })
            .collect()
    }

    pub async fn post_by_id(&self, id: i64) -> Result<Option<PostView>, StoreError> {
        let row = sqlx::query(concat!(post_select!(), " WHERE p.id = $1"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(post_row).transpose()
    }
}

/// A verification code sent by SMS (only its hash is kept).
#[derive(Debug, Clone, PartialEq)]
pub struct SmsCode {
    pub id: i64,
    pub code_hash: String,
    pub attempts: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl Store {
    // ----- sign-up codes ---------------------------------------------------------------------

    pub async fn insert_sms_code(
        &self,
        phone: &str,
        purpose: &str,
        code_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO sms_codes (phone, purpose, code_hash, attempts, created_at, expires_at) \
             VALUES ($1, $2, $3, 0, $4, $5)",
        )
        .bind(phone)
        .bind(purpose)
        .bind(code_hash)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest code sent to `phone` for `purpose`.
    pub async fn latest_sms_code(
        &self,
        phone: &str,
        purpose: &str,
    ) -> Result<Option<SmsCode>, StoreError> {
        let row = sqlx::query(
            "SELECT id, code_hash, attempts, created_at, expires_at, used_at FROM sms_codes \
             WHERE phone = $1 AND purpose = $2 ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(phone)
        .bind(purpose)
        .fetch_optional(self.writer())
        .await?;
        row.map(|r| {
            Ok(SmsCode {
                id: r.try_get("id")?,
                code_hash: r.try_get("code_hash")?,
                attempts: r.try_get("attempts")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                used_at: r.try_get("used_at")?,
            })
        })
        .transpose()
    }

    /// Codes sent to `phone` since `since` (rate limit).
    pub async fn sms_codes_since(&self, phone: &str, since: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query(
                "SELECT COUNT(*) AS n FROM sms_codes WHERE phone = $1 AND created_at >= $2",
            )
            .bind(phone)
            .bind(since)
            .fetch_one(self.writer())
            .await?
            .try_get("n")?,
        )
    }

    /// Counts a wrong guess.
    pub async fn sms_code_failed(&self, id: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE sms_codes SET attempts = attempts + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates a self-registered account and spends its code in one transaction, so a code
    /// opens one account at most and a failed insert leaves the code usable.
    pub async fn create_user_with_code(
        &self,
        user: &NewUser,
        code_id: i64,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let spent =
            sqlx::query("UPDATE sms_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(now)
                .bind(code_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if spent != 1 {
            return Err(StoreError::Conflict {
                field: "code".into(),
            });
        }
        let id = insert_user_at_code(&mut tx, user, audit, now).await?;
        tx.commit().await?;
        Ok(id)
    }
}

/// Inserts an account under the region its code names, with its audit row. `NotFound` when
/// the code is unknown.
async fn insert_user_at_code(
    tx: &mut AnyConnection,
    user: &NewUser,
    audit: &NewAudit,
    now: i64,
) -> Result<i64, StoreError> {
    let region = sqlx::query("SELECT id, tenant FROM regions WHERE code = $1")
        .bind(user.region_code.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let region_id: i64 = region.try_get("id")?;
    let tenant: String = region.try_get("tenant")?;
    insert_audit(tx, audit, Some(&tenant), now).await?;
    insert_user(tx, user, &tenant, region_id, now).await
}
