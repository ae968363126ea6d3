//! Jinlin's HTTP layer: server-rendered pages (askama + htmx), the `/api/v1` JSON API with its
//! OpenAPI document, and the embedded front-end assets.

pub mod api;
pub mod assets;
mod auth;
mod error;
pub mod i18n;
mod import_jobs;
mod open311;
mod pages;
mod security;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use jinlin_app::App;

pub use auth::{PRE_CSRF_COOKIE, SESSION_COOKIE};

/// Web-only settings.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when Jinlin is served over HTTPS, directly or behind a proxy).
    pub cookie_secure: bool,
}

#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    pub config: Arc<WebConfig>,
    /// People list checks and imports running in the background.
    pub(crate) imports: Arc<import_jobs::ImportJobs>,
}

/// Largest request body accepted (grid GeoJSON uploads are the biggest).
const BODY_LIMIT: usize = 16 * 1024 * 1024;
/// People list uploads (POST /people/import/preview): the import's largest file and the form.
const IMPORT_BODY_LIMIT: usize = jinlin_app::people::import::MAX_FILE_BYTES + 1024 * 1024;

/// The body limit of a request path.
fn body_limit(path: &str) -> usize {
    if path == "/people/import/preview" {
        IMPORT_BODY_LIMIT
    } else {
        BODY_LIMIT
    }
}

pub fn router(app: App, config: WebConfig) -> Router {
    let state = AppState {
        app: Arc::new(app),
        config: Arc::new(config),
        imports: Arc::default(),
    };
    Router::new()
        .merge(pages::routes())
        .nest("/api/v1", api::routes())
        .route("/healthz", get(api::healthz))
        .route("/assets/{*path}", get(assets::serve))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::csrf_guard,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::resolve_session,
        ))
        // Open311 clients authenticate with api_key, not a session: no CSRF, no cookies.
        .nest("/open311/v2", open311::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::headers,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(security::trace_layer())
        .layer(security::request_id_layers())
        .with_state(state)
}
