//! AppError → HTTP: one status and stable code per error; HTML for pages, JSON for the API.
//! Internal details go to the log, never to the user.

use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use jinlin_app::AppError;
use serde::Serialize;

use crate::i18n::{Lang, Tr};

pub fn status_of(e: &AppError) -> StatusCode {
    match e {
        AppError::Unauthenticated | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
        AppError::Locked { .. } => StatusCode::LOCKED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::Conflict { .. } => StatusCode::CONFLICT,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The status of a page shown again with an error (the form, with what was typed), or 200.
pub fn status_or_ok(e: Option<&AppError>) -> StatusCode {
    e.map(status_of).unwrap_or(StatusCode::OK)
}

/// The form field an error names, for marking it on the page ("" when none).
pub fn field_name(e: Option<&AppError>) -> String {
    e.and_then(|e| e.field()).unwrap_or_default().to_owned()
}

fn log_internal(e: &AppError) {
    if let AppError::Internal(detail) = e {
        tracing::error!(error = %detail, "internal error");
    }
}

/// JSON error body: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `forbidden`, `invalid`, `not_found`.
    pub code: String,
    /// Human-readable message in Chinese naming the field and the rule.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        log_internal(&self.0);
        let e = &self.0;
        let (status, code) = (status_of(e), e.code());
        let field = e.field().filter(|f| !f.is_empty()).map(str::to_owned);
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: self.0.to_string(),
                field,
            },
        };
        let mut res = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    t: Tr,
    status: u16,
    title: &'static str,
    message: String,
}

/// An error shown as a page.
#[derive(Debug)]
pub struct PageError {
    pub error: AppError,
    pub lang: Lang,
}

impl PageError {
    pub fn new(error: AppError, lang: Lang) -> PageError {
        PageError { error, lang }
    }

    pub fn csrf(lang: Lang) -> PageError {
        PageError::new(
            AppError::Forbidden(
                "表单已过期或来源不明（缺少安全校验码），请刷新页面后重试。".into(),
            ),
            lang,
        )
    }

    pub fn too_large(lang: Lang) -> PageError {
        PageError::new(
            AppError::invalid("body", "提交的内容过大（上限 16 MB）"),
            lang,
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        log_internal(&self.error);
        let status = status_of(&self.error);
        let t = Tr { lang: self.lang };
        let title = match status {
            StatusCode::FORBIDDEN => t.s("error.forbidden"),
            StatusCode::NOT_FOUND => t.s("error.not_found"),
            _ => t.s("error.title"),
        };
        let page = ErrorPage {
            t,
            status: status.as_u16(),
            title,
            message: self.error.to_string(),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.error.to_string()).into_response(),
        }
    }
}
