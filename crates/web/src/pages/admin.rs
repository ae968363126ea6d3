//! Administration: grid import, audit log, API documentation page.

use askama::Template;
use axum::extract::{Multipart, Query, State};
use axum::response::{IntoResponse, Response};
use jinlin_app::AppError;
use jinlin_app::store::audit::AuditFilter;
use serde::Deserialize;

use super::{Chrome, Pager, format_time, render};
use crate::AppState;
use crate::auth::{SignedIn, Ui, percent_encode};
use crate::error::PageError;

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    c: Chrome,
    report: Option<jinlin_app::regions::ImportReport>,
    errors: Vec<String>,
}

fn require_importer(
    session: &crate::auth::Session,
    lang: crate::i18n::Lang,
) -> Result<(), PageError> {
    if session.actor.role.manages_regions() {
        Ok(())
    } else {
        Err(PageError::new(
            AppError::Forbidden("仅街道工作人员和系统管理员可以导入网格".into()),
            lang,
        ))
    }
}

pub async fn import_form(Ui(t): Ui, SignedIn(session): SignedIn) -> Result<Response, PageError> {
    require_importer(&session, t.lang)?;
    let view = ImportPage {
        c: Chrome::new(&session, t, "import", "/admin/grids/import"),
        report: None,
        errors: Vec::new(),
    };
    Ok(render(&view, t.lang)?.into_response())
}

pub async fn import(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    require_importer(&session, t.lang)?;
    let mut text = None;
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some("file") {
            let bytes = field.bytes().await.map_err(|_| {
                PageError::new(AppError::invalid("file", "文件上传中断，请重试"), t.lang)
            })?;
            text = Some(String::from_utf8(bytes.to_vec()).map_err(|_| {
                PageError::new(
                    AppError::invalid("file", "文件不是 UTF-8 编码的 GeoJSON 文本"),
                    t.lang,
                )
            })?);
        }
    }
    let result = match text.filter(|s| !s.trim().is_empty()) {
        None => Err(AppError::invalid("file", "请选择要上传的 GeoJSON 文件")),
        Some(text) => state.app.import_grids(&session.actor, &text).await,
    };
    let (report, errors, status) = match result {
        Ok(r) => (Some(r), Vec::new(), axum::http::StatusCode::OK),
        Err(e @ AppError::Invalid { .. }) => (
            None,
            e.to_string().lines().map(str::to_owned).collect(),
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return Err(PageError::new(e, t.lang)),
    };
    let view = ImportPage {
        c: Chrome::new(&session, t, "import", "/admin/grids/import"),
        report,
        errors,
    };
    Ok((status, render(&view, t.lang)?).into_response())
}

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    page: Option<u32>,
}

pub struct AuditLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    c: Chrome,
    actor: String,
    action: String,
    rows: Vec<AuditLine>,
    pager: Pager,
}

pub async fn audit(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let non_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let page = state
        .app
        .list_audit(
            &session.actor,
            AuditFilter {
                actor: non_empty(&q.actor),
                action: non_empty(&q.action),
                page: q.page.unwrap_or(1),
                page_size: 50,
            },
        )
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    let base = format!(
        "/admin/audit?actor={}&action={}",
        percent_encode(&q.actor),
        percent_encode(&q.action)
    );
    let view = AuditPage {
        c: Chrome::new(&session, t, "audit", &base),
        rows: page
            .items
            .iter()
            .map(|r| AuditLine {
                at: format_time(r.at),
                actor: r.actor_name.clone(),
                action: r.action.clone(),
                target: r.target.clone(),
                outcome: r.outcome.clone(),
                detail: r.detail.clone(),
            })
            .collect(),
        pager: Pager::new(&page, &base),
        actor: q.actor,
        action: q.action,
    };
    Ok(render(&view, t.lang)?.into_response())
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct ApiDocsPage {
    c: Chrome,
}

pub async fn api_docs(Ui(t): Ui, SignedIn(session): SignedIn) -> Result<Response, PageError> {
    let view = ApiDocsPage {
        c: Chrome::new(&session, t, "api", "/api/docs"),
    };
    Ok(render(&view, t.lang)?.into_response())
}

#[derive(Deserialize)]
pub struct DeliveriesQuery {
    status: Option<String>,
    page: Option<u32>,
}

pub struct DeliveryLine {
    pub id: i64,
    pub event: String,
    pub case_id: Option<i64>,
    pub attempts: i64,
    pub next: String,
    pub error: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct DeliveriesPage {
    c: Chrome,
    status: String,
    configured: bool,
    rows: Vec<DeliveryLine>,
    pager: Pager,
}

/// Outbound webhook deliveries; dead letters can be sent again.
pub async fn webhooks(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Response, PageError> {
    let status = q.status.unwrap_or_else(|| "dead".into());
    let page = state
        .app
        .webhook_deliveries(&session.actor, &status, q.page.unwrap_or(1))
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    let base = format!("/admin/webhooks?status={}", percent_encode(&status));
    let view = DeliveriesPage {
        c: Chrome::new(&session, t, "webhooks", &base),
        configured: state.app.settings.webhook_url.is_some(),
        rows: page
            .items
            .iter()
            .map(|d| DeliveryLine {
                id: d.id,
                event: d.event.clone(),
                case_id: d.case_id,
                attempts: d.attempts,
                next: d.next_attempt_at.map(format_time).unwrap_or_default(),
                error: d.last_error.clone().unwrap_or_default(),
                at: format_time(d.created_at),
            })
            .collect(),
        pager: Pager::new(&page, &base),
        status,
    };
    Ok(render(&view, t.lang)?.into_response())
}

pub async fn retry_webhook(
    State(state): State<AppState>,
    Ui(t): Ui,
    SignedIn(session): SignedIn,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Response, PageError> {
    state
        .app
        .retry_webhook(&session.actor, id)
        .await
        .map_err(|e| PageError::new(e, t.lang))?;
    Ok(axum::response::Redirect::to("/admin/webhooks?status=pending").into_response())
}
