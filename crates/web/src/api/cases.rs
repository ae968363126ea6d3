//! Cases for machine clients: file, list, read and act, with the same rules as the pages (one
//! use case behind both).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jinlin_app::AppError;
use jinlin_app::cases::{
    ActionExtras, CaseDetail, Channel, Filed, Intake, ListKind, ListQuery, Location, mask_phone,
};
use jinlin_app::store::cases::CaseRow;
use jinlin_domain::accounts::Role;
use jinlin_domain::cases::{Action, ActionKind, Stage};
use jinlin_domain::crs::Crs;
use jinlin_domain::deadlines::Warning;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::ApiCaller;
use crate::error::{ApiError, ErrorBody};

use super::ApiJson;

/// A new case. Give a point (`lat` + `lng`, optionally `crs`) or a `region_code` (a building,
/// grid, compound or community).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewCaseDto {
    /// Category code from the taxonomy (e.g. `help.elderly`, `E06010`), or use `category_id`.
    pub category: Option<String>,
    pub category_id: Option<i64>,
    /// At most 4,000 characters.
    pub description: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    /// `wgs84` (default), `gcj02` (WeChat / 高德) or `bd09` (百度).
    pub crs: Option<String>,
    pub region_code: Option<String>,
    pub address: Option<String>,
    pub reporter_name: Option<String>,
    /// 11-digit mobile number; required when filing for someone else.
    pub reporter_phone: Option<String>,
    /// Answers to the category's extra questions (see the Open311 service definition), by
    /// question code: a string, or a list for a multi-value question.
    #[serde(default)]
    pub answers: std::collections::BTreeMap<String, AnswerDto>,
}

/// One answer: `"yes"` or `["night", "evening"]`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AnswerDto {
    One(String),
    Many(Vec<String>),
}

/// One timeline row.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventDto {
    /// Epoch milliseconds.
    pub at: i64,
    pub actor: String,
    pub actor_role: String,
    pub action: String,
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub note: String,
}

/// A case as the caller may see it. The reporter's phone is masked unless the caller reported it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CaseDto {
    pub id: i64,
    pub category: String,
    pub category_name: String,
    /// `reported`, `accepted`, `rejected`, `dispatched`, `in_progress`, `resolved`, `verified`,
    /// `closed` or `merged`.
    pub stage: String,
    pub stage_name: String,
    /// `blue`, `yellow`, `orange` or `red` (分色预警).
    pub warning: String,
    pub channel: String,
    pub description: String,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub region_name: String,
    pub grid_name: Option<String>,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    /// `grid`, `community`, `street` or `department`.
    pub level: String,
    pub handler_name: Option<String>,
    pub unit_name: Option<String>,
    pub overdue: bool,
    pub rework_count: u32,
    pub rating: Option<String>,
    pub created_at: i64,
    pub response_due: i64,
    pub responded_at: Option<i64>,
    pub onsite_due: Option<i64>,
    pub resolution_due: i64,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// Send it back as `version` with an action; a stale version gets 409.
    pub version: i64,
    /// Actions the caller may take now.
    pub actions: Vec<String>,
    pub timeline: Vec<EventDto>,
}

fn case_dto(d: CaseDetail, app: &jinlin_app::App) -> CaseDto {
    let timeline = d
        .events
        .into_iter()
        .map(|e| EventDto {
            at: e.at,
            actor: e.actor_name,
            actor_role: e.actor_role,
            action: e.action,
            from_stage: e.from_stage,
            to_stage: e.to_stage,
            note: e.note,
        })
        .collect();
    dto(d.case, d.warning, d.phone_clear, &d.actions, timeline, app)
}

fn filed_dto(f: Filed, app: &jinlin_app::App) -> CaseDto {
    let at = f.at;
    let timeline = f
        .events
        .into_iter()
        .map(|e| EventDto {
            at,
            actor: e.actor_name,
            actor_role: e.actor_role,
            action: e.action,
            from_stage: e.from_stage,
            to_stage: e.to_stage,
            note: e.note,
        })
        .collect();
    dto(f.case, f.warning, f.phone_clear, &f.actions, timeline, app)
}

fn dto(
    c: CaseRow,
    warning: Warning,
    phone_clear: bool,
    actions: &[ActionKind],
    timeline: Vec<EventDto>,
    app: &jinlin_app::App,
) -> CaseDto {
    let code = app
        .category(c.category_id)
        .map(|k| k.code)
        .unwrap_or_default();
    CaseDto {
        id: c.id,
        category: code,
        category_name: c.category_name,
        stage: c.state.stage.as_str().into(),
        stage_name: c.state.stage.zh().into(),
        warning: warning.as_str().into(),
        channel: c.channel,
        description: c.description,
        address: c.address,
        lat: c.lat,
        lng: c.lng,
        region_name: c.region_name,
        grid_name: c.grid_name,
        reporter_name: c.reporter_name,
        reporter_phone: c
            .reporter_phone
            .map(|p| if phone_clear { p } else { mask_phone(&p) }),
        level: c.level,
        handler_name: c.handler_name,
        unit_name: c.unit_name,
        overdue: c.overdue,
        rework_count: c.state.rework_count,
        rating: c.state.rating.map(|r| r.as_str().into()),
        created_at: c.created_at,
        response_due: c.response_due,
        responded_at: c.responded_at,
        onsite_due: c.onsite_due,
        resolution_due: c.resolution_due,
        resolved_at: c.resolved_at,
        closed_at: c.closed_at,
        version: c.version,
        actions: actions.iter().map(|a| a.as_str().into()).collect(),
        timeline,
    }
}

#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = NewCaseDto,
    responses((status = 201, body = CaseDto), (status = 422, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    ApiJson(body): ApiJson<NewCaseDto>,
) -> Result<(StatusCode, Json<CaseDto>), ApiError> {
    let app = &state.app;
    let category_id = match (&body.category, body.category_id) {
        (_, Some(id)) => id,
        (Some(code), None) => app.category_by_code(code).map(|c| c.id).ok_or_else(|| {
            AppError::invalid("category", format!("事件分类：代码“{code}”不存在或已停用"))
        })?,
        (None, None) => {
            return Err(
                AppError::invalid("category", "事件分类：请给出 category 或 category_id").into(),
            );
        }
    };
    let crs = match body.crs.as_deref() {
        None | Some("") => Crs::Wgs84,
        Some(c) => Crs::parse(c)
            .ok_or_else(|| AppError::invalid("crs", "坐标系 crs：只能是 wgs84、gcj02 或 bd09"))?,
    };
    let point = match (body.lat, body.lng) {
        (Some(lat), Some(lng)) => Some((lat, lng, crs)),
        (None, None) => None,
        _ => return Err(AppError::invalid("location", "位置：lat 和 lng 须同时给出").into()),
    };
    // A desk filing for a caller (with the caller's phone) is the hotline channel.
    let channel = if body.reporter_phone.is_some()
        && matches!(actor.role, Role::CommunityAdmin | Role::StreetAdmin)
    {
        Channel::Hotline
    } else {
        Channel::Api
    };
    let filed = app
        .file(
            Some(&actor),
            Intake {
                channel,
                category_id,
                description: body.description,
                location: Location {
                    point,
                    region_code: body.region_code,
                    address: body.address,
                },
                reporter_name: body.reporter_name,
                reporter_phone: body.reporter_phone,
                photos: Vec::new(),
                answers: body
                    .answers
                    .into_iter()
                    .map(|(code, a)| match a {
                        AnswerDto::One(v) => (code, vec![v]),
                        AnswerDto::Many(v) => (code, v),
                    })
                    .collect(),
                open311: None,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(filed_dto(filed, app))))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// `tasks` (my work queue, default for staff), `all` (the jurisdiction) or `mine` (what I
    /// reported; default for residents).
    pub view: Option<String>,
    pub stage: Option<String>,
    pub category_id: Option<i64>,
    /// Only overdue cases.
    pub overdue: Option<bool>,
    /// Only open cases.
    pub open: Option<bool>,
    /// Text in the description or address.
    pub q: Option<String>,
    pub page: Option<u32>,
    /// At most 100, default 20.
    pub page_size: Option<u32>,
}

/// One line of a list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CaseLineDto {
    pub id: i64,
    pub category_name: String,
    pub stage: String,
    pub warning: String,
    pub description: String,
    pub region_name: String,
    pub overdue: bool,
    pub supervised: bool,
    pub created_at: i64,
    pub response_due: i64,
    pub resolution_due: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CaseListDto {
    pub items: Vec<CaseLineDto>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(ListParams),
    responses((status = 200, body = CaseListDto), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Query(p): Query<ListParams>,
) -> Result<Json<CaseListDto>, ApiError> {
    let kind = match p.view.as_deref() {
        Some("all") => ListKind::All,
        Some("mine") => ListKind::Mine,
        Some("tasks") => ListKind::Tasks,
        None if actor.role.is_staff() => ListKind::Tasks,
        None => ListKind::Mine,
        Some(v) => {
            return Err(AppError::invalid(
                "view",
                format!("view：“{v}”无效，可选 tasks、all、mine"),
            )
            .into());
        }
    };
    let stage = match p.stage.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            Stage::parse(s)
                .ok_or_else(|| AppError::invalid("stage", format!("stage：未知的办理阶段“{s}”")))?,
        ),
    };
    let page = state
        .app
        .list_cases(
            &actor,
            kind,
            &ListQuery {
                stage,
                category_id: p.category_id,
                overdue_only: p.overdue.unwrap_or(false),
                open_only: p.open.unwrap_or(false),
                q: p.q.filter(|q| !q.trim().is_empty()),
                page: p.page.unwrap_or(1),
                page_size: p.page_size.unwrap_or(20),
                ..ListQuery::default()
            },
        )
        .await?;
    Ok(Json(CaseListDto {
        total: page.total,
        page: page.page,
        page_size: page.page_size,
        items: page
            .items
            .into_iter()
            .map(|w| CaseLineDto {
                id: w.case.id,
                category_name: w.case.category_name,
                stage: w.case.stage.as_str().into(),
                warning: w.warning.as_str().into(),
                description: w.case.description,
                region_name: w.case.region_name,
                overdue: w.case.overdue,
                supervised: w.case.supervised,
                created_at: w.case.created_at,
                response_due: w.case.response_due,
                resolution_due: w.case.resolution_due,
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = i64, Path, description = "Case number")),
    responses((status = 200, body = CaseDto), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<CaseDto>, ApiError> {
    let d = state.app.case_detail(&actor, id).await?;
    Ok(Json(case_dto(d, &state.app)))
}

/// An action on a case, e.g. `{"action": {"action": "dispatch", "to": {"kind": "grid_worker",
/// "id": 12}}, "version": 3}` or `{"action": {"action": "reject", "reason": "不属于受理范围"}}`.
/// Action names: accept, reject{reason}, dispatch{to}, take, return{reason}, resolve{result},
/// verify_pass, verify_fail{reason}, rate{rating: satisfied|basic|unsatisfied}, reopen{reason},
/// close, merge{into}, urge, supervise{deadline}, whistle (with `units`), request_extension{until,
/// reason}, approve_extension, deny_extension, request_suspension{reason}, approve_suspension,
/// deny_suspension, resume, arrive. Times are epoch milliseconds.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ActionDto {
    #[schema(value_type = Object)]
    pub action: Action,
    /// The case version the caller saw (optional; a stale one gets 409).
    pub version: Option<i64>,
    /// A note for the timeline.
    pub note: Option<String>,
    /// Unit ids called in by a whistle.
    #[serde(default)]
    pub units: Vec<i64>,
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/actions", tag = "cases", request_body = ActionDto,
    params(("id" = i64, Path, description = "Case number")),
    responses((status = 200, body = CaseDto), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn act(
    State(state): State<AppState>,
    ApiCaller(actor): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<ActionDto>,
) -> Result<Json<CaseDto>, ApiError> {
    state
        .app
        .act(
            &actor,
            id,
            body.action,
            ActionExtras {
                note: body.note,
                photos: Vec::new(),
                whistle_units: body.units,
                expected_version: body.version,
            },
        )
        .await?;
    let d = state.app.case_detail(&actor, id).await?;
    Ok(Json(case_dto(d, &state.app)))
}
