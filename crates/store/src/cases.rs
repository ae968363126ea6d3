//! The case loop's tables: categories, handling units, routes, cases, their timeline, photos,
//! whistles, the inbox and webhook deliveries.
//!
//! A case row mirrors the domain [`CaseState`] (kept whole as JSON in `state`) plus the columns
//! worklists, deadlines and statistics query. Every change goes through [`Store::update_case`],
//! which checks and bumps `version` (optimistic lock: of two people taking a case at once, one
//! wins, the other gets `Conflict { field: "version" }`) and writes the timeline row, photos,
//! notifications and webhook deliveries in the same transaction.

use jinlin_domain::cases::{Assignee, CaseState, Stage};
use jinlin_domain::deadlines::{DeadlineSpec, Urgency};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{NewAudit, insert_audit};
use crate::error::unique_as_conflict;
use crate::sql::{Sql, Val, like_escape, page_bounds, scope_bounds};
use crate::stats::{CaseFacts, RollupDelta};
use crate::{Backend, Store, StoreError};

// ----- categories ---------------------------------------------------------------------------

/// A stored category with its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub id: i64,
    pub code: String,
    pub parent_id: Option<i64>,
    pub name: String,
    /// appeal | help | event | component
    pub kind: String,
    pub standard_code: Option<String>,
    pub standard: Option<String>,
    pub response: DeadlineSpec,
    pub onsite: Option<DeadlineSpec>,
    pub resolution: DeadlineSpec,
    pub urgency: Urgency,
    /// grid | community | street | department
    pub level: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub active: bool,
    pub sort: i64,
}

/// A category to insert or the new values of one.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCategory {
    pub code: String,
    pub parent_code: Option<String>,
    pub name: String,
    pub kind: String,
    pub standard_code: Option<String>,
    pub standard: Option<String>,
    pub response: DeadlineSpec,
    pub onsite: Option<DeadlineSpec>,
    pub resolution: DeadlineSpec,
    pub urgency: Urgency,
    pub level: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub active: bool,
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::invalid(format!("无法保存 JSON：{e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::invalid(format!("数据库中的{what}格式有误：{e}")))
}

fn urgency_str(u: Urgency) -> &'static str {
    match u {
        Urgency::Normal => "normal",
        Urgency::Urgent => "urgent",
        Urgency::Critical => "critical",
    }
}

pub fn parse_urgency(s: &str) -> Option<Urgency> {
    match s {
        "normal" => Some(Urgency::Normal),
        "urgent" => Some(Urgency::Urgent),
        "critical" => Some(Urgency::Critical),
        _ => None,
    }
}

fn category_row(row: &AnyRow) -> Result<Category, StoreError> {
    let onsite: Option<String> = row.try_get("onsite")?;
    let urgency: String = row.try_get("urgency")?;
    Ok(Category {
        id: row.try_get("id")?,
        code: row.try_get("code")?,
        parent_id: row.try_get("parent_id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        standard_code: row.try_get("standard_code")?,
        standard: row.try_get("standard")?,
        response: from_json("响应时限", &row.try_get::<String, _>("response")?)?,
        onsite: onsite.map(|s| from_json("到场时限", &s)).transpose()?,
        resolution: from_json("办结时限", &row.try_get::<String, _>("resolution")?)?,
        urgency: parse_urgency(&urgency).unwrap_or_default(),
        level: row.try_get("level")?,
        description: row.try_get("description")?,
        keywords: from_json("关键词", &row.try_get::<String, _>("keywords")?)?,
        active: row.try_get::<i64, _>("active")? != 0,
        sort: row.try_get("sort")?,
    })
}

const CATEGORY_SELECT: &str = "SELECT id, code, parent_id, name, kind, standard_code, standard, \
     response, onsite, resolution, urgency, level, description, keywords, active, sort \
     FROM categories";

// ----- units, routes, teams -----------------------------------------------------------------

/// A handling unit: a county department (县直部门) or a partner unit (共建单位).
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub id: i64,
    pub tenant: String,
    pub name: String,
    pub kind: String,
    pub region_id: i64,
    pub phone: Option<String>,
    pub active: bool,
}

fn unit_row(row: &AnyRow) -> Result<Unit, StoreError> {
    Ok(Unit {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        region_id: row.try_get("region_id")?,
        phone: row.try_get("phone")?,
        active: row.try_get::<i64, _>("active")? != 0,
    })
}

/// A volunteer team a desk can dispatch to.
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub id: i64,
    pub region_id: i64,
    pub name: String,
    pub leader_id: Option<i64>,
}

/// A routing rule as listed for admins.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteView {
    pub id: i64,
    pub category_id: i64,
    pub category_name: String,
    pub region_id: i64,
    pub region_name: String,
    pub unit_id: i64,
    pub unit_name: String,
}

// ----- cases --------------------------------------------------------------------------------

/// Where a case came in.
pub const CHANNELS: &[(&str, &str)] = &[
    ("resident", "居民上报"),
    ("patrol", "网格巡查"),
    ("hotline", "热线代录"),
    ("api", "接口"),
    ("open311", "Open311"),
];

pub fn channel_zh(channel: &str) -> &str {
    CHANNELS
        .iter()
        .find(|(id, _)| *id == channel)
        .map(|(_, zh)| *zh)
        .unwrap_or(channel)
}

/// A stored case with the names pages show next to it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRow {
    pub id: i64,
    pub tenant: String,
    pub category_id: i64,
    pub category_name: String,
    pub category_kind: String,
    pub channel: String,
    pub description: String,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub region_id: i64,
    pub region_name: String,
    pub region_path: String,
    pub grid_id: Option<i64>,
    pub grid_name: Option<String>,
    pub community_id: Option<i64>,
    pub reporter_id: Option<i64>,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    pub state: CaseState,
    pub urgency: Urgency,
    pub level: String,
    pub handler_id: Option<i64>,
    pub handler_name: Option<String>,
    pub unit_id: Option<i64>,
    pub unit_name: Option<String>,
    pub overdue: bool,
    pub merged_into: Option<i64>,
    pub response_due: i64,
    pub responded_at: Option<i64>,
    pub onsite_due: Option<i64>,
    pub onsite_at: Option<i64>,
    pub resolution_due: i64,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub next_check_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl CaseRow {
    pub fn stage(&self) -> Stage {
        self.state.stage
    }
}

const CASE_SELECT: &str = "SELECT c.id, c.tenant, c.category_id, k.name AS category_name, \
     k.kind AS category_kind, c.channel, c.description, c.address, c.lat, c.lng, c.region_id, \
     r.name AS region_name, c.region_path, c.grid_id, g.name AS grid_name, c.community_id, \
     c.reporter_id, c.reporter_name, c.reporter_phone, c.state, c.urgency, c.level, \
     c.handler_id, h.display_name AS handler_name, c.unit_id, u.name AS unit_name, c.overdue, \
     c.merged_into, c.response_due, c.responded_at, c.onsite_due, c.onsite_at, \
     c.resolution_due, c.resolved_at, c.closed_at, c.next_check_at, c.created_at, \
     c.updated_at, c.version \
     FROM cases c \
     JOIN categories k ON k.id = c.category_id \
     JOIN regions r ON r.id = c.region_id \
     LEFT JOIN regions g ON g.id = c.grid_id \
     LEFT JOIN users h ON h.id = c.handler_id \
     LEFT JOIN units u ON u.id = c.unit_id";

fn case_row(row: &AnyRow) -> Result<CaseRow, StoreError> {
    let urgency: String = row.try_get("urgency")?;
    Ok(CaseRow {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        category_id: row.try_get("category_id")?,
        category_name: row.try_get("category_name")?,
        category_kind: row.try_get("category_kind")?,
        channel: row.try_get("channel")?,
        description: row.try_get("description")?,
        address: row.try_get("address")?,
        lat: row.try_get("lat")?,
        lng: row.try_get("lng")?,
        region_id: row.try_get("region_id")?,
        region_name: row.try_get("region_name")?,
        region_path: row.try_get("region_path")?,
        grid_id: row.try_get("grid_id")?,
        grid_name: row.try_get("grid_name")?,
        community_id: row.try_get("community_id")?,
        reporter_id: row.try_get("reporter_id")?,
        reporter_name: row.try_get("reporter_name")?,
        reporter_phone: row.try_get("reporter_phone")?,
        state: from_json("案件状态", &row.try_get::<String, _>("state")?)?,
        urgency: parse_urgency(&urgency).unwrap_or_default(),
        level: row.try_get("level")?,
        handler_id: row.try_get("handler_id")?,
        handler_name: row.try_get("handler_name")?,
        unit_id: row.try_get("unit_id")?,
        unit_name: row.try_get("unit_name")?,
        overdue: row.try_get::<i64, _>("overdue")? != 0,
        merged_into: row.try_get("merged_into")?,
        response_due: row.try_get("response_due")?,
        responded_at: row.try_get("responded_at")?,
        onsite_due: row.try_get("onsite_due")?,
        onsite_at: row.try_get("onsite_at")?,
        resolution_due: row.try_get("resolution_due")?,
        resolved_at: row.try_get("resolved_at")?,
        closed_at: row.try_get("closed_at")?,
        next_check_at: row.try_get("next_check_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        version: row.try_get("version")?,
    })
}

/// A case to file. `state` is normally `CaseState::default()` (stage `reported`) or, for a case
/// the intake dispatched at once, the state after that.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    pub tenant: String,
    pub category_id: i64,
    pub channel: String,
    pub description: String,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub region_id: i64,
    pub region_path: String,
    pub grid_id: Option<i64>,
    pub community_id: Option<i64>,
    pub reporter_id: Option<i64>,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    pub state: CaseState,
    pub urgency: Urgency,
    pub level: String,
    pub unit_id: Option<i64>,
    pub response_due: i64,
    pub onsite_due: Option<i64>,
    pub resolution_due: i64,
    pub next_check_at: Option<i64>,
    pub created_at: i64,
}

/// One timeline row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewEvent {
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub actor_role: String,
    pub action: String,
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub note: String,
    pub public: bool,
}

/// A stored timeline row.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: i64,
    pub case_id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub actor_role: String,
    pub action: String,
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub note: String,
    pub attachments: Vec<i64>,
    pub public: bool,
}

/// A photo already written to disk, to be recorded with the event it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPhoto {
    pub sha256: String,
    pub mime: String,
    pub bytes: i64,
    pub uploaded_by: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PhotoRow {
    pub id: i64,
    pub case_id: i64,
    pub event_id: Option<i64>,
    pub sha256: String,
    pub mime: String,
    pub bytes: i64,
    pub created_at: i64,
}

/// An inbox message for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub user_id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRow {
    pub id: i64,
    pub case_id: Option<i64>,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

/// What else a case change writes in its transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseEffects {
    /// The timeline row; the photos belong to it.
    pub event: NewEvent,
    /// Further rows of the same change (an intake that is dispatched at once).
    pub more_events: Vec<NewEvent>,
    pub photos: Vec<NewPhoto>,
    pub notifications: Vec<NewNotification>,
    /// `(event name, JSON payload)` for the outbound webhook, when one is configured.
    pub webhook: Option<(String, String)>,
    /// Units called in by a whistle.
    pub whistle_units: Vec<i64>,
    /// A unit reporting in (报到) on its whistle: `(unit id, user id)`.
    pub report_in: Option<(i64, i64)>,
    /// Answers to the category's extra questions, `(code, value)`, written with a new case.
    pub answers: Vec<(String, String)>,
    /// What an Open311 request brought beyond the case, written with it.
    pub open311: Option<crate::open311::NewOpen311Request>,
}

/// Which cases to list. Every list is limited to `scope_path` (the caller's jurisdiction);
/// `tasks` narrows to one person's work.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseFilter {
    pub scope_path: String,
    pub tasks: Option<Tasks>,
    pub reporter_id: Option<i64>,
    pub open_only: bool,
    pub stage: Option<Stage>,
    pub category_id: Option<i64>,
    pub overdue_only: bool,
    pub supervised_only: bool,
    pub channel: Option<String>,
    /// Matches the description or address.
    pub q: Option<String>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub page: u32,
    pub page_size: u32,
}

/// A person's work queue ("我的任务").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tasks {
    pub user_id: i64,
    /// Grids the person works in: resolved cases there await their verification.
    pub grid_ids: Vec<i64>,
    /// The person's unit: cases dispatched to it, and whistles it has not reported in on.
    pub unit_id: Option<i64>,
    pub team_ids: Vec<i64>,
    /// The desk's queue: cases to accept or dispatch, approvals, escalated and overdue cases.
    pub desk: bool,
}

/// One line of a worklist.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    pub id: i64,
    pub category_id: i64,
    pub category_name: String,
    pub channel: String,
    pub description: String,
    pub address: Option<String>,
    pub region_name: String,
    pub stage: Stage,
    pub urgency: Urgency,
    pub level: String,
    pub overdue: bool,
    pub supervised: bool,
    pub suspended: bool,
    pub pending: bool,
    pub rating: Option<String>,
    pub response_due: i64,
    pub responded_at: Option<i64>,
    pub resolution_due: i64,
    pub created_at: i64,
}

fn summary_row(row: &AnyRow) -> Result<CaseSummary, StoreError> {
    let stage: String = row.try_get("stage")?;
    let urgency: String = row.try_get("urgency")?;
    Ok(CaseSummary {
        id: row.try_get("id")?,
        category_id: row.try_get("category_id")?,
        category_name: row.try_get("category_name")?,
        channel: row.try_get("channel")?,
        description: row.try_get("description")?,
        address: row.try_get("address")?,
        region_name: row.try_get("region_name")?,
        stage: Stage::parse(&stage)
            .ok_or_else(|| StoreError::invalid(format!("数据库中有未知的案件状态“{stage}”")))?,
        urgency: parse_urgency(&urgency).unwrap_or_default(),
        level: row.try_get("level")?,
        overdue: row.try_get::<i64, _>("overdue")? != 0,
        supervised: row.try_get::<i64, _>("supervised")? != 0,
        suspended: row.try_get::<i64, _>("suspended")? != 0,
        pending: row.try_get::<i64, _>("pending")? != 0,
        rating: row.try_get("rating")?,
        response_due: row.try_get("response_due")?,
        responded_at: row.try_get("responded_at")?,
        resolution_due: row.try_get("resolution_due")?,
        created_at: row.try_get("created_at")?,
    })
}

fn assignee_columns(a: Option<Assignee>) -> (Option<String>, Option<i64>) {
    match a {
        None => (None, None),
        Some(a) => {
            let kind = match a {
                Assignee::GridWorker(_) => "grid_worker",
                Assignee::Team(_) => "team",
                Assignee::Community(_) => "community",
                Assignee::Street(_) => "street",
                Assignee::Department(_) => "department",
            };
            (Some(kind.to_owned()), Some(a.id()))
        }
    }
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

async fn insert_event(
    conn: &mut AnyConnection,
    tenant: &str,
    case_id: i64,
    event: &NewEvent,
    now: i64,
) -> Result<i64, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO case_events (tenant, case_id, at, actor_id, actor_name, actor_role, action, \
         from_stage, to_stage, note, attachments, public) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '[]', $11) RETURNING id",
    )
    .bind(tenant)
    .bind(case_id)
    .bind(now)
    .bind(event.actor_id)
    .bind(event.actor_name.as_str())
    .bind(event.actor_role.as_str())
    .bind(event.action.as_str())
    .bind(event.from_stage.clone())
    .bind(event.to_stage.as_str())
    .bind(event.note.as_str())
    .bind(flag(event.public))
    .fetch_one(&mut *conn)
    .await?
    .try_get("id")?)
}

/// Writes the event, its photos, notifications, webhook delivery and whistle rows.
async fn write_effects(
    conn: &mut AnyConnection,
    tenant: &str,
    case_id: i64,
    effects: &CaseEffects,
    now: i64,
) -> Result<i64, StoreError> {
    let event_id = insert_event(conn, tenant, case_id, &effects.event, now).await?;
    let mut photo_ids = Vec::with_capacity(effects.photos.len());
    for p in &effects.photos {
        let id: i64 = sqlx::query(
            "INSERT INTO case_photos (case_id, event_id, sha256, mime, bytes, uploaded_by, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(case_id)
        .bind(event_id)
        .bind(p.sha256.as_str())
        .bind(p.mime.as_str())
        .bind(p.bytes)
        .bind(p.uploaded_by)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?
        .try_get("id")?;
        photo_ids.push(id);
    }
    if !photo_ids.is_empty() {
        sqlx::query("UPDATE case_events SET attachments = $1 WHERE id = $2")
            .bind(json(&photo_ids)?)
            .bind(event_id)
            .execute(&mut *conn)
            .await?;
    }
    for n in &effects.notifications {
        sqlx::query(
            "INSERT INTO notifications (tenant, user_id, case_id, kind, title, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant)
        .bind(n.user_id)
        .bind(case_id)
        .bind(n.kind.as_str())
        .bind(n.title.as_str())
        .bind(n.body.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    for e in &effects.more_events {
        insert_event(conn, tenant, case_id, e, now).await?;
    }
    for (code, value) in &effects.answers {
        sqlx::query("INSERT INTO case_answers (case_id, code, value) VALUES ($1, $2, $3)")
            .bind(case_id)
            .bind(code.as_str())
            .bind(value.as_str())
            .execute(&mut *conn)
            .await?;
    }
    if let Some(o) = &effects.open311 {
        crate::open311::insert_request(conn, case_id, o, now).await?;
    }
    if let Some((event, payload)) = &effects.webhook {
        sqlx::query(
            "INSERT INTO webhook_deliveries (event, case_id, payload, status, attempts, \
             next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4)",
        )
        .bind(event.as_str())
        .bind(case_id)
        .bind(payload.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    for unit in &effects.whistle_units {
        // Whistling again for a unit already called is harmless.
        let exists =
            sqlx::query("SELECT id FROM case_whistles WHERE case_id = $1 AND unit_id = $2")
                .bind(case_id)
                .bind(*unit)
                .fetch_optional(&mut *conn)
                .await?;
        if exists.is_none() {
            sqlx::query(
                "INSERT INTO case_whistles (case_id, unit_id, called_at, called_by) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(case_id)
            .bind(*unit)
            .bind(now)
            .bind(effects.event.actor_id)
            .execute(&mut *conn)
            .await?;
        }
    }
    if let Some((unit, user)) = effects.report_in {
        let done = sqlx::query(
            "UPDATE case_whistles SET reported_in_at = $1, reported_in_by = $2 \
             WHERE case_id = $3 AND unit_id = $4 AND reported_in_at IS NULL",
        )
        .bind(now)
        .bind(user)
        .bind(case_id)
        .bind(unit)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::invalid("本单位未被召集或已报到"));
        }
    }
    Ok(event_id)
}

/// A whistle and its report-in.
#[derive(Debug, Clone, PartialEq)]
pub struct WhistleRow {
    pub unit_id: i64,
    pub unit_name: String,
    pub called_at: i64,
    pub reported_in_at: Option<i64>,
}

/// A webhook delivery waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRow {
    pub id: i64,
    pub event: String,
    pub case_id: Option<i64>,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

fn delivery_row(row: &AnyRow) -> Result<DeliveryRow, StoreError> {
    Ok(DeliveryRow {
        id: row.try_get("id")?,
        event: row.try_get("event")?,
        case_id: row.try_get("case_id")?,
        payload: row.try_get("payload")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    // ----- categories ------------------------------------------------------------------------

    /// Inserts the categories whose codes are not stored yet (parents before children); returns
    /// how many were added. Running it again adds nothing.
    pub async fn seed_categories(
        &self,
        categories: &[NewCategory],
        now: i64,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut added = 0;
        for (sort, c) in categories.iter().enumerate() {
            let exists = sqlx::query("SELECT id FROM categories WHERE code = $1")
                .bind(c.code.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_some() {
                continue;
            }
            insert_category(&mut tx, c, sort as i64, now).await?;
            added += 1;
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Every category in display order (parents are listed before their children).
    pub async fn categories(&self, include_inactive: bool) -> Result<Vec<Category>, StoreError> {
        let sql = if include_inactive {
            format!("{CATEGORY_SELECT} ORDER BY sort, id")
        } else {
            format!("{CATEGORY_SELECT} WHERE active = 1 ORDER BY sort, id")
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(category_row).collect()
    }

    pub async fn category_by_id(&self, id: i64) -> Result<Option<Category>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CATEGORY_SELECT} WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(category_row).transpose()
    }

    pub async fn category_by_code(&self, code: &str) -> Result<Option<Category>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CATEGORY_SELECT} WHERE code = $1"
        )))
        .bind(code)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(category_row).transpose()
    }

    /// Creates a category (admins), audited.
    pub async fn create_category(
        &self,
        c: &NewCategory,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let sort: i64 =
            sqlx::query("SELECT CAST(COALESCE(MAX(sort), 0) + 1 AS BIGINT) AS s FROM categories")
                .fetch_one(&mut *tx)
                .await?
                .try_get("s")?;
        let id = insert_category(&mut tx, c, sort, now).await?;
        insert_audit(&mut tx, audit, None, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Changes a category's name, limits, tier and active flag (the code and parent stay).
    pub async fn update_category(
        &self,
        id: i64,
        c: &NewCategory,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE categories SET name = $1, kind = $2, response = $3, onsite = $4, \
             resolution = $5, urgency = $6, level = $7, description = $8, keywords = $9, \
             active = $10, updated_at = $11 WHERE id = $12",
        )
        .bind(c.name.as_str())
        .bind(c.kind.as_str())
        .bind(json(&c.response)?)
        .bind(c.onsite.as_ref().map(json).transpose()?)
        .bind(json(&c.resolution)?)
        .bind(urgency_str(c.urgency))
        .bind(c.level.as_str())
        .bind(c.description.as_str())
        .bind(json(&c.keywords)?)
        .bind(flag(c.active))
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit, None, now).await?;
        tx.commit().await?;
        Ok(())
    }

    // ----- units, teams, routes --------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn create_unit(
        &self,
        tenant: &str,
        name: &str,
        kind: &str,
        region_id: i64,
        phone: Option<&str>,
        audit: &NewAudit,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO units (tenant, name, kind, region_id, phone, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING id",
        )
        .bind(tenant)
        .bind(name)
        .bind(kind)
        .bind(region_id)
        .bind(phone.map(str::to_owned))
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_as_conflict("unit"))?
        .try_get("id")?;
        insert_audit(&mut tx, audit, Some(tenant), now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Units of a district, by name.
    pub async fn units(&self, tenant: &str) -> Result<Vec<Unit>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant, name, kind, region_id, phone, active FROM units \
             WHERE tenant = $1 ORDER BY kind, name",
        )
        .bind(tenant)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(unit_row).collect()
    }

    pub async fn unit_by_id(&self, id: i64) -> Result<Option<Unit>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant, name, kind, region_id, phone, active FROM units WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(unit_row).transpose()
    }

    /// Binds a department handler's account to its unit.
    pub async fn set_user_unit(
        &self,
        user_id: i64,
        unit_id: Option<i64>,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET unit_id = $1, updated_at = $2 WHERE id = $3")
            .bind(unit_id)
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit, None, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn user_unit(&self, user_id: i64) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT unit_id FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(self.reader())
            .await?;
        Ok(match row {
            Some(r) => r.try_get("unit_id")?,
            None => None,
        })
    }

    /// Active accounts of a unit (who to notify when a case reaches it).
    pub async fn unit_members(&self, unit_id: i64) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query("SELECT id FROM users WHERE unit_id = $1 AND active = 1")
            .bind(unit_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>("id")?))
            .collect()
    }

    pub async fn create_team(
        &self,
        tenant: &str,
        region_id: i64,
        name: &str,
        leader_id: Option<i64>,
        now: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO teams (tenant, region_id, name, leader_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(tenant)
        .bind(region_id)
        .bind(name)
        .bind(leader_id)
        .bind(now)
        .fetch_one(self.writer())
        .await?
        .try_get("id")?)
    }

    /// Teams serving the regions on `path` (a community's teams and its street's).
    pub async fn teams_along(&self, region_ids: &[i64]) -> Result<Vec<Team>, StoreError> {
        if region_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql =
            Sql::new("SELECT id, region_id, name, leader_id FROM teams WHERE region_id IN (");
        sql.bind_list(region_ids.iter().copied())
            .push(") ORDER BY name");
        let rows = sql.query().fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| {
                Ok(Team {
                    id: r.try_get("id")?,
                    region_id: r.try_get("region_id")?,
                    name: r.try_get("name")?,
                    leader_id: r.try_get("leader_id")?,
                })
            })
            .collect()
    }

    pub async fn teams_led_by(&self, user_id: i64) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query("SELECT id FROM teams WHERE leader_id = $1")
            .bind(user_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>("id")?))
            .collect()
    }

    pub async fn team_by_id(&self, id: i64) -> Result<Option<Team>, StoreError> {
        let row = sqlx::query("SELECT id, region_id, name, leader_id FROM teams WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| {
            Ok(Team {
                id: r.try_get("id")?,
                region_id: r.try_get("region_id")?,
                name: r.try_get("name")?,
                leader_id: r.try_get("leader_id")?,
            })
        })
        .transpose()
    }

    /// Sets (or replaces) the unit handling `category_id` in `region_id`'s subtree.
    pub async fn set_route(
        &self,
        category_id: i64,
        region_id: i64,
        unit_id: i64,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM routes WHERE category_id = $1 AND region_id = $2")
            .bind(category_id)
            .bind(region_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO routes (category_id, region_id, unit_id, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(category_id)
        .bind(region_id)
        .bind(unit_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit, None, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every routing rule `(category, region, unit)`, for the app's in-memory table.
    pub async fn all_routes(&self) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        let rows = sqlx::query("SELECT category_id, region_id, unit_id FROM routes")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("category_id")?,
                    r.try_get("region_id")?,
                    r.try_get("unit_id")?,
                ))
            })
            .collect()
    }

    pub async fn routes(&self, tenant: &str) -> Result<Vec<RouteView>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id, o.category_id, k.name AS category_name, o.region_id, \
             r.name AS region_name, o.unit_id, u.name AS unit_name FROM routes o \
             JOIN categories k ON k.id = o.category_id JOIN regions r ON r.id = o.region_id \
             JOIN units u ON u.id = o.unit_id WHERE r.tenant = $1 ORDER BY k.sort, r.path",
        )
        .bind(tenant)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RouteView {
                    id: r.try_get("id")?,
                    category_id: r.try_get("category_id")?,
                    category_name: r.try_get("category_name")?,
                    region_id: r.try_get("region_id")?,
                    region_name: r.try_get("region_name")?,
                    unit_id: r.try_get("unit_id")?,
                    unit_name: r.try_get("unit_name")?,
                })
            })
            .collect()
    }

    // ----- cases -----------------------------------------------------------------------------

    /// Files a case with its first timeline row and effects, in one transaction; returns the id.
    /// The transaction is committed (durably: `synchronous=FULL` on SQLite) before this returns,
    /// so a caller that answers "received" never loses the case.
    pub async fn create_case(&self, c: &NewCase, effects: &CaseEffects) -> Result<i64, StoreError> {
        let ids = self.create_cases(&[(c, effects)]).await?;
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::invalid("案件未写入"))
    }

    /// Files several cases in one transaction: one commit (on SQLite one sync) and one rollup
    /// update for all, which is how intake keeps up with a burst on the single writer. All or
    /// nothing.
    pub async fn create_cases(
        &self,
        items: &[(&NewCase, &CaseEffects)],
    ) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut ids = Vec::with_capacity(items.len());
        let mut rollup = RollupDelta::default();
        for &(c, effects) in items {
            let id = insert_case(&mut tx, c).await?;
            write_effects(&mut tx, &c.tenant, id, effects, c.created_at).await?;
            rollup.add(&new_case_facts(c), 1);
            ids.push(id);
        }
        // Last, so the rollup rows every intake shares stay locked only until the commit.
        rollup.write(&mut tx).await?;
        tx.commit().await?;
        Ok(ids)
    }

    pub async fn case_by_id(&self, id: i64) -> Result<Option<CaseRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{CASE_SELECT} WHERE c.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(case_row).transpose()
    }

    /// Stores the new values of `case` (as changed by a use case from a row read at
    /// `case.version`) with its effects. `Conflict { field: "version" }` when someone else
    /// changed the case in between; nothing is written then.
    pub async fn update_case(
        &self,
        case: &CaseRow,
        effects: &CaseEffects,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let old = self.case_facts(&mut tx, case.id).await?;
        update_case_row(&mut tx, case, now).await?;
        write_effects(&mut tx, &case.tenant, case.id, effects, now).await?;
        if let Some(old) = old {
            RollupDelta::change(&old, &changed_facts(&old, case))
                .write(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Cases whose `next_check_at` has come, for the sweeper. Each is leased: its
    /// `next_check_at` moves `lease_ms` ahead in the same transaction, so a second sweeper (or
    /// the next round) does not pick it up while this one works on it; on PostgreSQL the rows
    /// are claimed with `FOR UPDATE SKIP LOCKED`. A sweeper that dies leaves the lease to run
    /// out, and the case comes due again.
    pub async fn claim_due_cases(
        &self,
        now: i64,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let select = match self.backend {
            Backend::Sqlite => {
                "SELECT id FROM cases WHERE next_check_at <= $1 ORDER BY next_check_at LIMIT $2"
            }
            Backend::Postgres => {
                "SELECT id FROM cases WHERE next_check_at <= $1 ORDER BY next_check_at LIMIT $2 \
                 FOR UPDATE SKIP LOCKED"
            }
        };
        let rows = sqlx::query(select)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let ids: Vec<i64> = rows
            .iter()
            .map(|r| r.try_get::<i64, _>("id"))
            .collect::<Result<_, _>>()?;
        if !ids.is_empty() {
            let mut sql = Sql::new("UPDATE cases SET next_check_at = ");
            sql.bind(now + lease_ms)
                .push(" WHERE id IN (")
                .bind_list(ids.iter().copied())
                .push(")");
            sql.query().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The sweeper's bookkeeping: the overdue flag and the next check, without a timeline row
    /// or a version bump (no person's action is in flight because of it).
    pub async fn set_case_schedule(
        &self,
        id: i64,
        overdue: bool,
        next_check_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let old = self.case_facts(&mut tx, id).await?;
        sqlx::query("UPDATE cases SET overdue = $1, next_check_at = $2 WHERE id = $3")
            .bind(flag(overdue))
            .bind(next_check_at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let Some(old) = old {
            let new = CaseFacts {
                overdue: flag(overdue),
                ..old.clone()
            };
            RollupDelta::change(&old, &new).write(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A page of cases, overdue first, then by deadline.
    pub async fn list_cases(&self, f: &CaseFilter) -> Result<(Vec<CaseSummary>, i64), StoreError> {
        let mut sql = Sql::new(
            "SELECT c.id, c.category_id, k.name AS category_name, c.channel, c.description, c.address, \
             r.name AS region_name, c.stage, c.urgency, c.level, c.overdue, c.supervised, \
             c.suspended, c.pending, c.rating, c.response_due, c.responded_at, \
             c.resolution_due, c.created_at FROM cases c \
             JOIN categories k ON k.id = c.category_id JOIN regions r ON r.id = c.region_id \
             WHERE c.id IN (SELECT c.id FROM cases c",
        );
        // The page's ids first, from the worklist index alone; only those rows are then read
        // whole (a desk's open cases are thousands of wide rows at a million cases).
        case_where(&mut sql, f)?;
        let order = if f.open_only || f.tasks.is_some() {
            " ORDER BY c.overdue DESC, c.resolution_due, c.id"
        } else {
            " ORDER BY c.id DESC"
        };
        let (limit, offset) = page_bounds(f.page, f.page_size);
        sql.push(order)
            .push(" LIMIT ")
            .bind(limit)
            .push(" OFFSET ")
            .bind(offset)
            .push(")")
            .push(order);
        let rows = sql.query().fetch_all(self.reader()).await?;
        let items = rows
            .iter()
            .map(summary_row)
            .collect::<Result<Vec<_>, _>>()?;
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM cases c");
        case_where(&mut count, f)?;
        let total: i64 = count.query().fetch_one(self.reader()).await?.try_get("n")?;
        Ok((items, total))
    }

    /// Cases inside `scope_path` whose reporter gave one of `phones`, newest first (a
    /// household's file lists what its members reported).
    pub async fn cases_reported_by_phones(
        &self,
        scope_path: &str,
        phones: &[String],
        limit: i64,
    ) -> Result<Vec<CaseSummary>, StoreError> {
        if phones.is_empty() {
            return Ok(Vec::new());
        }
        let (lo, hi) = scope_bounds(scope_path)?;
        let mut sql = Sql::new(
            "SELECT c.id, c.category_id, k.name AS category_name, c.channel, c.description, \
             c.address, r.name AS region_name, c.stage, c.urgency, c.level, c.overdue, \
             c.supervised, c.suspended, c.pending, c.rating, c.response_due, c.responded_at, \
             c.resolution_due, c.created_at FROM cases c \
             JOIN categories k ON k.id = c.category_id JOIN regions r ON r.id = c.region_id \
             WHERE c.region_path >= ",
        );
        sql.bind(lo)
            .push(" AND c.region_path < ")
            .bind(hi)
            .push(" AND c.reporter_phone IN (")
            .bind_list(phones.iter().cloned())
            .push(") ORDER BY c.created_at DESC LIMIT ")
            .bind(limit.clamp(1, 500));
        let rows = sql.query().fetch_all(self.reader()).await?;
        rows.iter().map(summary_row).collect()
    }

    pub async fn case_events(&self, case_id: i64) -> Result<Vec<EventRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, case_id, at, actor_id, actor_name, actor_role, action, from_stage, \
             to_stage, note, attachments, public FROM case_events WHERE case_id = $1 ORDER BY id",
        )
        .bind(case_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EventRow {
                    id: r.try_get("id")?,
                    case_id: r.try_get("case_id")?,
                    at: r.try_get("at")?,
                    actor_id: r.try_get("actor_id")?,
                    actor_name: r.try_get("actor_name")?,
                    actor_role: r.try_get("actor_role")?,
                    action: r.try_get("action")?,
                    from_stage: r.try_get("from_stage")?,
                    to_stage: r.try_get("to_stage")?,
                    note: r.try_get("note")?,
                    attachments: from_json("附件", &r.try_get::<String, _>("attachments")?)?,
                    public: r.try_get::<i64, _>("public")? != 0,
                })
            })
            .collect()
    }

    pub async fn case_photos(&self, case_id: i64) -> Result<Vec<PhotoRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, case_id, event_id, sha256, mime, bytes, created_at FROM case_photos \
             WHERE case_id = $1 ORDER BY id",
        )
        .bind(case_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(photo_row).collect()
    }

    pub async fn photo_by_id(&self, id: i64) -> Result<Option<PhotoRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, case_id, event_id, sha256, mime, bytes, created_at FROM case_photos \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(photo_row).transpose()
    }

    pub async fn case_whistles(&self, case_id: i64) -> Result<Vec<WhistleRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT w.unit_id, u.name AS unit_name, w.called_at, w.reported_in_at \
             FROM case_whistles w JOIN units u ON u.id = w.unit_id WHERE w.case_id = $1 \
             ORDER BY w.id",
        )
        .bind(case_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WhistleRow {
                    unit_id: r.try_get("unit_id")?,
                    unit_name: r.try_get("unit_name")?,
                    called_at: r.try_get("called_at")?,
                    reported_in_at: r.try_get("reported_in_at")?,
                })
            })
            .collect()
    }

    /// Cases a unit was called in on by a whistle and has not reported in on yet.
    pub async fn whistled_case_ids(&self, unit_id: i64) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id FROM case_whistles WHERE unit_id = $1 AND reported_in_at IS NULL \
             ORDER BY id DESC LIMIT 200",
        )
        .bind(unit_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>("case_id")?))
            .collect()
    }

    /// Grid workers (and grid heads) posted on a grid, for dispatch and notification.
    pub async fn grid_staff(&self, grid_id: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id, u.display_name, p.kind FROM posts p JOIN users u ON u.id = p.user_id \
             WHERE p.region_id = $1 AND u.active = 1 ORDER BY p.kind DESC, u.id",
        )
        .bind(grid_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("display_name")?,
                    r.try_get("kind")?,
                ))
            })
            .collect()
    }

    /// Active staff of a role bound exactly to a region (the desk of a community, a street).
    pub async fn staff_at(&self, region_id: i64, role: &str) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM users WHERE region_id = $1 AND role = $2 AND active = 1 ORDER BY id",
        )
        .bind(region_id)
        .bind(role)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>("id")?))
            .collect()
    }

    /// Grids a user holds a post on.
    pub async fn grids_of_user(&self, user_id: i64) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT p.region_id FROM posts p JOIN regions r ON r.id = p.region_id \
             WHERE p.user_id = $1 AND r.level = 'grid'",
        )
        .bind(user_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>("region_id")?))
            .collect()
    }

    // ----- inbox -----------------------------------------------------------------------------

    pub async fn notifications(
        &self,
        user_id: i64,
        page: u32,
        page_size: u32,
    ) -> Result<(Vec<NotificationRow>, i64), StoreError> {
        let (limit, offset) = page_bounds(page, page_size);
        let rows = sqlx::query(
            "SELECT id, case_id, kind, title, body, created_at, read_at FROM notifications \
             WHERE user_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
        )
        .bind(user_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.reader())
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(NotificationRow {
                    id: r.try_get("id")?,
                    case_id: r.try_get("case_id")?,
                    kind: r.try_get("kind")?,
                    title: r.try_get("title")?,
                    body: r.try_get("body")?,
                    created_at: r.try_get("created_at")?,
                    read_at: r.try_get("read_at")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM notifications WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(self.reader())
            .await?
            .try_get("n")?;
        Ok((items, total))
    }

    pub async fn unread_count(&self, user_id: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(self.reader())
        .await?
        .try_get("n")?)
    }

    /// Marks one message (or, with `None`, all) of a user read.
    pub async fn mark_read(
        &self,
        user_id: i64,
        id: Option<i64>,
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut sql = Sql::new("UPDATE notifications SET read_at = ");
        sql.bind(now)
            .push(" WHERE user_id = ")
            .bind(user_id)
            .push(" AND read_at IS NULL");
        if let Some(id) = id {
            sql.push(" AND id = ").bind(id);
        }
        Ok(sql.query().execute(self.writer()).await?.rows_affected())
    }

    // ----- webhook deliveries ----------------------------------------------------------------

    /// Pending deliveries whose time has come, leased like [`Store::claim_due_cases`].
    pub async fn claim_deliveries(
        &self,
        now: i64,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let mut tx = self.begin_write().await?;
        let select = match self.backend {
            Backend::Sqlite => {
                "SELECT id, event, case_id, payload, status, attempts, next_attempt_at, \
                 last_error, created_at FROM webhook_deliveries \
                 WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2"
            }
            Backend::Postgres => {
                "SELECT id, event, case_id, payload, status, attempts, next_attempt_at, \
                 last_error, created_at FROM webhook_deliveries \
                 WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2 \
                 FOR UPDATE SKIP LOCKED"
            }
        };
        let rows = sqlx::query(select)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let items = rows
            .iter()
            .map(delivery_row)
            .collect::<Result<Vec<_>, _>>()?;
        for d in &items {
            sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2")
                .bind(now + lease_ms)
                .bind(d.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(items)
    }

    /// Records an attempt: delivered, retried at `next_attempt_at`, or dead (no next attempt).
    pub async fn record_delivery(
        &self,
        id: i64,
        delivered: bool,
        error: Option<&str>,
        next_attempt_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let status = if delivered {
            "delivered"
        } else if next_attempt_at.is_some() {
            "pending"
        } else {
            "dead"
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
             next_attempt_at = $2, last_error = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(status)
        .bind(next_attempt_at)
        .bind(error.map(str::to_owned))
        .bind(now)
        .bind(id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Deliveries by status (admins look at `dead` ones).
    pub async fn deliveries(
        &self,
        status: &str,
        page: u32,
        page_size: u32,
    ) -> Result<(Vec<DeliveryRow>, i64), StoreError> {
        let (limit, offset) = page_bounds(page, page_size);
        let rows = sqlx::query(
            "SELECT id, event, case_id, payload, status, attempts, next_attempt_at, last_error, \
             created_at FROM webhook_deliveries WHERE status = $1 ORDER BY id DESC \
             LIMIT $2 OFFSET $3",
        )
        .bind(status)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.reader())
        .await?;
        let items = rows
            .iter()
            .map(delivery_row)
            .collect::<Result<Vec<_>, _>>()?;
        let total: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = $1")
                .bind(status)
                .fetch_one(self.reader())
                .await?
                .try_get("n")?;
        Ok((items, total))
    }

    /// Puts a dead delivery back in the queue (an admin's "retry").
    pub async fn retry_delivery(&self, id: i64, now: i64) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, \
             next_attempt_at = $1, updated_at = $1 WHERE id = $2 AND status = 'dead'",
        )
        .bind(now)
        .bind(id)
        .execute(self.writer())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // ----- calendar --------------------------------------------------------------------------

    /// Stored calendar exceptions: `(day, kind, note)`, `kind` = holiday | workday.
    pub async fn calendar_days(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = sqlx::query("SELECT day, kind, note FROM calendar_days ORDER BY day")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("day")?, r.try_get("kind")?, r.try_get("note")?)))
            .collect()
    }

    /// Sets a day's kind (`None` removes the exception), audited.
    pub async fn set_calendar_day(
        &self,
        day: &str,
        kind: Option<(&str, &str)>,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM calendar_days WHERE day = $1")
            .bind(day)
            .execute(&mut *tx)
            .await?;
        if let Some((kind, note)) = kind {
            sqlx::query(
                "INSERT INTO calendar_days (day, kind, note, updated_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(day)
            .bind(kind)
            .bind(note)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        insert_audit(&mut tx, audit, None, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn photo_row(r: &AnyRow) -> Result<PhotoRow, StoreError> {
    Ok(PhotoRow {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        event_id: r.try_get("event_id")?,
        sha256: r.try_get("sha256")?,
        mime: r.try_get("mime")?,
        bytes: r.try_get("bytes")?,
        created_at: r.try_get("created_at")?,
    })
}

async fn insert_category(
    conn: &mut AnyConnection,
    c: &NewCategory,
    sort: i64,
    now: i64,
) -> Result<i64, StoreError> {
    let parent_id: Option<i64> = match &c.parent_code {
        None => None,
        Some(code) => Some(
            sqlx::query("SELECT id FROM categories WHERE code = $1")
                .bind(code.as_str())
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| StoreError::invalid(format!("上级分类 {code} 不存在")))?
                .try_get("id")?,
        ),
    };
    Ok(sqlx::query(
        "INSERT INTO categories (code, parent_id, name, kind, standard_code, standard, response, \
         onsite, resolution, urgency, level, description, keywords, active, sort, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $16) RETURNING id",
    )
    .bind(c.code.as_str())
    .bind(parent_id)
    .bind(c.name.as_str())
    .bind(c.kind.as_str())
    .bind(c.standard_code.clone())
    .bind(c.standard.clone())
    .bind(json(&c.response)?)
    .bind(c.onsite.as_ref().map(json).transpose()?)
    .bind(json(&c.resolution)?)
    .bind(urgency_str(c.urgency))
    .bind(c.level.as_str())
    .bind(c.description.as_str())
    .bind(json(&c.keywords)?)
    .bind(flag(c.active))
    .bind(sort)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(unique_as_conflict("code"))?
    .try_get("id")?)
}

pub(crate) async fn insert_case(conn: &mut AnyConnection, c: &NewCase) -> Result<i64, StoreError> {
    let (assignee_kind, assignee_id) = assignee_columns(c.state.assignee);
    let s = &c.state;
    let mut sql = Sql::new(
        "INSERT INTO cases (tenant, category_id, channel, description, address, lat, lng, \
         region_id, region_path, grid_id, community_id, reporter_id, reporter_name, \
         reporter_phone, stage, is_open, state, urgency, level, assignee_kind, assignee_id, \
         unit_id, rework_count, urge_count, supervised, suspended, pending, response_due, \
         onsite_due, resolution_due, next_check_at, created_at, updated_at, version) VALUES (",
    );
    sql.bind(c.tenant.as_str())
        .push(", ")
        .bind(c.category_id)
        .push(", ")
        .bind(c.channel.as_str())
        .push(", ")
        .bind(c.description.as_str())
        .push(", ")
        .bind(c.address.clone())
        .push(", ")
        .bind(c.lat)
        .push(", ")
        .bind(c.lng)
        .push(", ")
        .bind(c.region_id)
        .push(", ")
        .bind(c.region_path.as_str())
        .push(", ")
        .bind(c.grid_id)
        .push(", ")
        .bind(c.community_id)
        .push(", ")
        .bind(c.reporter_id)
        .push(", ")
        .bind(c.reporter_name.clone())
        .push(", ")
        .bind(c.reporter_phone.clone())
        .push(", ")
        .bind(s.stage.as_str())
        .push(", ")
        .bind(flag(s.stage.is_open()))
        .push(", ")
        .bind(json(s)?)
        .push(", ")
        .bind(urgency_str(c.urgency))
        .push(", ")
        .bind(c.level.as_str())
        .push(", ")
        .bind(assignee_kind)
        .push(", ")
        .bind(assignee_id)
        .push(", ")
        .bind(c.unit_id)
        .push(", ")
        .bind(i64::from(s.rework_count))
        .push(", ")
        .bind(i64::from(s.urge_count))
        .push(", ")
        .bind(flag(s.supervised_until.is_some()))
        .push(", ")
        .bind(flag(s.suspended))
        .push(", ")
        .bind(flag(
            s.pending_extension.is_some() || s.pending_suspension.is_some(),
        ))
        .push(", ")
        .bind(c.response_due)
        .push(", ")
        .bind(c.onsite_due)
        .push(", ")
        .bind(c.resolution_due)
        .push(", ")
        .bind(c.next_check_at)
        .push(", ")
        .bind(c.created_at)
        .push(", ")
        .bind(c.created_at)
        .push(", 0) RETURNING id");
    Ok(sql.query().fetch_one(&mut *conn).await?.try_get("id")?)
}

async fn update_case_row(
    conn: &mut AnyConnection,
    c: &CaseRow,
    now: i64,
) -> Result<(), StoreError> {
    let s = &c.state;
    let (assignee_kind, assignee_id) = assignee_columns(s.assignee);
    let done = sqlx::query(
        "UPDATE cases SET category_id = $1, stage = $2, is_open = $3, state = $4, urgency = $5, \
         level = $6, assignee_kind = $7, assignee_id = $8, handler_id = $9, unit_id = $10, \
         rework_count = $11, urge_count = $12, rating = $13, overdue = $14, supervised = $15, \
         suspended = $16, pending = $17, merged_into = $18, responded_at = $19, \
         onsite_at = $20, resolution_due = $21, resolved_at = $22, closed_at = $23, \
         next_check_at = $24, updated_at = $25, version = version + 1 \
         WHERE id = $26 AND version = $27",
    )
    .bind(c.category_id)
    .bind(s.stage.as_str())
    .bind(flag(s.stage.is_open()))
    .bind(json(s)?)
    .bind(urgency_str(c.urgency))
    .bind(c.level.as_str())
    .bind(assignee_kind)
    .bind(assignee_id)
    .bind(c.handler_id)
    .bind(c.unit_id)
    .bind(i64::from(s.rework_count))
    .bind(i64::from(s.urge_count))
    .bind(s.rating.map(|r| r.as_str().to_owned()))
    .bind(flag(c.overdue))
    .bind(flag(s.supervised_until.is_some()))
    .bind(flag(s.suspended))
    .bind(flag(
        s.pending_extension.is_some() || s.pending_suspension.is_some(),
    ))
    .bind(c.merged_into)
    .bind(c.responded_at)
    .bind(c.onsite_at)
    .bind(c.resolution_due)
    .bind(c.resolved_at)
    .bind(c.closed_at)
    .bind(c.next_check_at)
    .bind(now)
    .bind(c.id)
    .bind(c.version)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::conflict("version"));
    }
    Ok(())
}

/// The WHERE clause of case lists (alias `c`).
fn case_where(sql: &mut Sql, f: &CaseFilter) -> Result<(), StoreError> {
    let (low, high) = scope_bounds(&f.scope_path)?;
    sql.push(" WHERE c.region_path >= ")
        .bind(low)
        .push(" AND c.region_path < ")
        .bind(high);
    if f.open_only || f.tasks.is_some() {
        sql.push(" AND c.is_open = 1");
    }
    if let Some(t) = &f.tasks {
        sql.push(" AND ((c.assignee_kind = 'grid_worker' AND c.assignee_id = ")
            .bind(t.user_id)
            .push(") OR c.handler_id = ")
            .bind(t.user_id);
        if !t.grid_ids.is_empty() {
            sql.push(" OR (c.stage = 'resolved' AND c.grid_id IN (")
                .bind_list(t.grid_ids.iter().copied())
                .push("))");
        }
        if let Some(unit) = t.unit_id {
            sql.push(" OR (c.assignee_kind = 'department' AND c.assignee_id = ")
                .bind(unit)
                .push(")");
            // Called in by a whistle and not reported in yet.
            sql.push(" OR c.id IN (SELECT w.case_id FROM case_whistles w WHERE w.unit_id = ")
                .bind(unit)
                .push(" AND w.reported_in_at IS NULL)");
        }
        if !t.team_ids.is_empty() {
            sql.push(" OR (c.assignee_kind = 'team' AND c.assignee_id IN (")
                .bind_list(t.team_ids.iter().copied())
                .push("))");
        }
        if t.desk {
            sql.push(
                " OR c.stage IN ('reported', 'accepted', 'verified') OR c.pending = 1 \
                 OR c.overdue = 1",
            );
        }
        sql.push(")");
    }
    if let Some(r) = f.reporter_id {
        sql.push(" AND c.reporter_id = ").bind(r);
    }
    if let Some(stage) = f.stage {
        sql.push(" AND c.stage = ").bind(stage.as_str());
    }
    if let Some(cat) = f.category_id {
        sql.push(" AND c.category_id = ").bind(cat);
    }
    if f.overdue_only {
        sql.push(" AND c.overdue = 1");
    }
    if f.supervised_only {
        sql.push(" AND c.supervised = 1");
    }
    if let Some(ch) = &f.channel {
        sql.push(" AND c.channel = ").bind(ch.as_str());
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", like_escape(q));
        sql.push(" AND (c.description LIKE ")
            .bind(pattern.clone())
            .push(" ESCAPE '\\' OR c.address LIKE ")
            .bind(pattern)
            .push(" ESCAPE '\\')");
    }
    if let Some(from) = f.created_from {
        sql.push(" AND c.created_at >= ").bind(from);
    }
    if let Some(to) = f.created_to {
        sql.push(" AND c.created_at < ").bind(to);
    }
    Ok(())
}

// ----- bulk load ----------------------------------------------------------------------------

/// A handling unit created by [`Store::seed_case_setup`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewUnit {
    pub name: String,
    /// department | partner
    pub kind: String,
    pub region_id: i64,
    pub phone: Option<String>,
}

/// A volunteer team created by [`Store::seed_case_setup`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewTeam {
    pub region_id: i64,
    pub name: String,
    pub leader_id: Option<i64>,
}

/// Units, the accounts that belong to them, teams and routes, written together. Members and
/// routes name their unit by its index in `units`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseSetup {
    pub tenant: String,
    pub units: Vec<NewUnit>,
    /// (user id, unit index)
    pub members: Vec<(i64, usize)>,
    pub teams: Vec<NewTeam>,
    /// (category id, region id, unit index)
    pub routes: Vec<(i64, i64, usize)>,
}

/// A case with its whole history, for bulk loading. `row.id` and the joined names
/// (`category_name`, `region_name` …) are ignored; ids are assigned on insert.
#[derive(Debug, Clone, PartialEq)]
pub struct SeededCase {
    pub row: CaseRow,
    /// Oldest first: `(at, row)`.
    pub events: Vec<(i64, NewEvent)>,
    pub whistles: Vec<SeededWhistle>,
    /// `(created_at, read_at, message)`; `{case}` in a title becomes the new case id.
    pub notifications: Vec<(i64, Option<i64>, NewNotification)>,
}

/// A unit called in on a case and, if it has, when and by whom it reported in.
#[derive(Debug, Clone, PartialEq)]
pub struct SeededWhistle {
    pub unit_id: i64,
    pub called_at: i64,
    pub called_by: Option<i64>,
    pub reported_in: Option<(i64, i64)>,
}

/// Parameters per multi-row INSERT. Both databases take far more (SQLite 32,766, PostgreSQL
/// 65,535), but binding grows faster than linearly with a statement's parameters: 3,000 cases
/// took 12 s in statements of 20,000 parameters and 0.7 s in statements of 1,000.
const MAX_PARAMS: usize = 1_000;

/// Inserts `rows` (each one value per column of `head`, which ends with `VALUES `) in as few
/// statements as the parameter limit allows. With `returning`, the new ids in row order: both
/// databases number the rows of one multi-row INSERT in VALUES order.
async fn insert_many(
    conn: &mut AnyConnection,
    head: &'static str,
    rows: Vec<Vec<Val>>,
    returning: bool,
) -> Result<Vec<i64>, StoreError> {
    let mut ids = Vec::new();
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(ids);
    };
    let per_statement = (MAX_PARAMS / width.max(1)).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut sql = Sql::new(head);
        for (i, row) in rows.by_ref().take(per_statement).enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" })
                .bind_list(row)
                .push(")");
        }
        if returning {
            sql.push(" RETURNING id");
            let mut chunk = sql
                .query()
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("id"))
                .collect::<Result<Vec<_>, _>>()?;
            chunk.sort_unstable();
            ids.extend(chunk);
        } else {
            sql.query().execute(&mut *conn).await?;
        }
    }
    Ok(ids)
}

fn unit_index(ids: &[i64], index: usize) -> Result<i64, StoreError> {
    ids.get(index)
        .copied()
        .ok_or_else(|| StoreError::invalid(format!("部门序号 {index} 超出范围")))
}

impl Store {
    /// Creates units, binds accounts to them, creates teams and routes, all or nothing, with
    /// one audit entry (demo county, bulk set-up). Returns the unit ids and team ids in order.
    pub async fn seed_case_setup(
        &self,
        setup: &CaseSetup,
        audit: &NewAudit,
        now: i64,
    ) -> Result<(Vec<i64>, Vec<i64>), StoreError> {
        let mut tx = self.begin_write().await?;
        let tenant = setup.tenant.as_str();
        let units = setup
            .units
            .iter()
            .map(|u| {
                vec![
                    Val::from(tenant),
                    Val::from(u.name.as_str()),
                    Val::from(u.kind.as_str()),
                    Val::from(u.region_id),
                    Val::from(u.phone.clone()),
                    Val::from(1i64),
                    Val::from(now),
                ]
            })
            .collect();
        let unit_ids = insert_many(
            &mut tx,
            "INSERT INTO units (tenant, name, kind, region_id, phone, active, created_at) VALUES ",
            units,
            true,
        )
        .await
        .map_err(|e| match e {
            StoreError::Db(db) => unique_as_conflict("unit")(db),
            other => other,
        })?;
        for &(user, unit) in &setup.members {
            sqlx::query("UPDATE users SET unit_id = $1, updated_at = $2 WHERE id = $3")
                .bind(unit_index(&unit_ids, unit)?)
                .bind(now)
                .bind(user)
                .execute(&mut *tx)
                .await?;
        }
        let teams = setup
            .teams
            .iter()
            .map(|t| {
                vec![
                    Val::from(tenant),
                    Val::from(t.region_id),
                    Val::from(t.name.as_str()),
                    Val::from(t.leader_id),
                    Val::from(now),
                ]
            })
            .collect();
        let team_ids = insert_many(
            &mut tx,
            "INSERT INTO teams (tenant, region_id, name, leader_id, created_at) VALUES ",
            teams,
            true,
        )
        .await?;
        let routes = setup
            .routes
            .iter()
            .map(|&(category, region, unit)| {
                Ok(vec![
                    Val::from(category),
                    Val::from(region),
                    Val::from(unit_index(&unit_ids, unit)?),
                    Val::from(now),
                ])
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        insert_many(
            &mut tx,
            "INSERT INTO routes (category_id, region_id, unit_id, created_at) VALUES ",
            routes,
            false,
        )
        .await?;
        insert_audit(&mut tx, audit, Some(tenant), now).await?;
        tx.commit().await?;
        Ok((unit_ids, team_ids))
    }

    /// Loads cases with their timelines, whistles and inbox messages in one transaction, with
    /// multi-row INSERTs (demo county, imports). Returns the new case ids in order.
    pub async fn seed_cases(&self, cases: &[SeededCase]) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = cases
            .iter()
            .map(seeded_case_values)
            .collect::<Result<Vec<_>, _>>()?;
        let ids = insert_many(
            &mut tx,
            "INSERT INTO cases (tenant, category_id, channel, description, address, lat, lng, \
             region_id, region_path, grid_id, community_id, reporter_id, reporter_name, \
             reporter_phone, stage, is_open, state, urgency, level, assignee_kind, assignee_id, \
             handler_id, unit_id, rework_count, urge_count, rating, overdue, supervised, \
             suspended, pending, merged_into, response_due, responded_at, onsite_due, onsite_at, \
             resolution_due, resolved_at, closed_at, next_check_at, created_at, updated_at, \
             version) VALUES ",
            rows,
            true,
        )
        .await?;
        if ids.len() != cases.len() {
            return Err(StoreError::invalid("批量写入案件的数量不符"));
        }
        let mut events = Vec::new();
        let mut whistles = Vec::new();
        let mut notes = Vec::new();
        for (c, &id) in cases.iter().zip(&ids) {
            let tenant = c.row.tenant.as_str();
            for (at, e) in &c.events {
                events.push(vec![
                    Val::from(tenant),
                    Val::from(id),
                    Val::from(*at),
                    Val::from(e.actor_id),
                    Val::from(e.actor_name.as_str()),
                    Val::from(e.actor_role.as_str()),
                    Val::from(e.action.as_str()),
                    Val::from(e.from_stage.clone()),
                    Val::from(e.to_stage.as_str()),
                    Val::from(e.note.as_str()),
                    Val::from("[]"),
                    Val::from(flag(e.public)),
                ]);
            }
            for w in &c.whistles {
                whistles.push(vec![
                    Val::from(id),
                    Val::from(w.unit_id),
                    Val::from(w.called_at),
                    Val::from(w.called_by),
                    Val::from(w.reported_in.map(|r| r.0)),
                    Val::from(w.reported_in.map(|r| r.1)),
                ]);
            }
            for (at, read, n) in &c.notifications {
                notes.push(vec![
                    Val::from(tenant),
                    Val::from(n.user_id),
                    Val::from(id),
                    Val::from(n.kind.as_str()),
                    Val::from(n.title.replace("{case}", &id.to_string())),
                    Val::from(n.body.as_str()),
                    Val::from(*at),
                    Val::from(*read),
                ]);
            }
        }
        insert_many(
            &mut tx,
            "INSERT INTO case_events (tenant, case_id, at, actor_id, actor_name, actor_role, \
             action, from_stage, to_stage, note, attachments, public) VALUES ",
            events,
            false,
        )
        .await?;
        insert_many(
            &mut tx,
            "INSERT INTO case_whistles (case_id, unit_id, called_at, called_by, reported_in_at, \
             reported_in_by) VALUES ",
            whistles,
            false,
        )
        .await?;
        insert_many(
            &mut tx,
            "INSERT INTO notifications (tenant, user_id, case_id, kind, title, body, created_at, \
             read_at) VALUES ",
            notes,
            false,
        )
        .await?;
        let mut rollup = RollupDelta::default();
        for c in cases {
            rollup.add(&row_facts(&c.row), 1);
        }
        rollup.write(&mut tx).await?;
        tx.commit().await?;
        Ok(ids)
    }
}

/// What the statistics read of a case about to be filed (`insert_case` leaves the response,
/// resolution, rating and overdue flag at their defaults).
fn new_case_facts(c: &NewCase) -> CaseFacts {
    CaseFacts {
        tenant: c.tenant.clone(),
        created_at: c.created_at,
        region_path: c.region_path.clone(),
        category_id: c.category_id,
        channel: c.channel.clone(),
        stage: c.state.stage.as_str().to_owned(),
        responded_at: None,
        resolution_due: c.resolution_due,
        resolved_at: None,
        rework_count: i64::from(c.state.rework_count),
        rating: None,
        overdue: 0,
    }
}

/// The statistics columns after `update_case_row` stored `c` over the row `old` was read from.
fn changed_facts(old: &CaseFacts, c: &CaseRow) -> CaseFacts {
    CaseFacts {
        category_id: c.category_id,
        stage: c.state.stage.as_str().to_owned(),
        responded_at: c.responded_at,
        resolution_due: c.resolution_due,
        resolved_at: c.resolved_at,
        rework_count: i64::from(c.state.rework_count),
        rating: c.state.rating.map(|r| r.as_str().to_owned()),
        overdue: flag(c.overdue),
        ..old.clone()
    }
}

/// What the statistics read of a case written whole (`seeded_case_values`).
fn row_facts(r: &CaseRow) -> CaseFacts {
    CaseFacts {
        tenant: r.tenant.clone(),
        created_at: r.created_at,
        region_path: r.region_path.clone(),
        category_id: r.category_id,
        channel: r.channel.clone(),
        stage: r.state.stage.as_str().to_owned(),
        responded_at: r.responded_at,
        resolution_due: r.resolution_due,
        resolved_at: r.resolved_at,
        rework_count: i64::from(r.state.rework_count),
        rating: r.state.rating.map(|x| x.as_str().to_owned()),
        overdue: flag(r.overdue),
    }
}

fn seeded_case_values(c: &SeededCase) -> Result<Vec<Val>, StoreError> {
    let r = &c.row;
    let s = &r.state;
    let (assignee_kind, assignee_id) = assignee_columns(s.assignee);
    Ok(vec![
        Val::from(r.tenant.as_str()),
        Val::from(r.category_id),
        Val::from(r.channel.as_str()),
        Val::from(r.description.as_str()),
        Val::from(r.address.clone()),
        Val::from(r.lat),
        Val::from(r.lng),
        Val::from(r.region_id),
        Val::from(r.region_path.as_str()),
        Val::from(r.grid_id),
        Val::from(r.community_id),
        Val::from(r.reporter_id),
        Val::from(r.reporter_name.clone()),
        Val::from(r.reporter_phone.clone()),
        Val::from(s.stage.as_str()),
        Val::from(flag(s.stage.is_open())),
        Val::from(json(s)?),
        Val::from(urgency_str(r.urgency)),
        Val::from(r.level.as_str()),
        Val::from(assignee_kind),
        Val::from(assignee_id),
        Val::from(r.handler_id),
        Val::from(r.unit_id),
        Val::from(i64::from(s.rework_count)),
        Val::from(i64::from(s.urge_count)),
        Val::from(s.rating.map(|x| x.as_str().to_owned())),
        Val::from(flag(r.overdue)),
        Val::from(flag(s.supervised_until.is_some())),
        Val::from(flag(s.suspended)),
        Val::from(flag(
            s.pending_extension.is_some() || s.pending_suspension.is_some(),
        )),
        Val::from(r.merged_into),
        Val::from(r.response_due),
        Val::from(r.responded_at),
        Val::from(r.onsite_due),
        Val::from(r.onsite_at),
        Val::from(r.resolution_due),
        Val::from(r.resolved_at),
        Val::from(r.closed_at),
        Val::from(r.next_check_at),
        Val::from(r.created_at),
        Val::from(r.updated_at),
        Val::from(r.version),
    ])
}
