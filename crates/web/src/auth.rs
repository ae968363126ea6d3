//! Sessions from cookies, bearer tokens for machines, and CSRF protection for every form.

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use jinlin_app::accounts::RequestMeta;
use jinlin_app::{Actor, AppError};

use crate::AppState;
use crate::error::{ApiError, PageError};
use crate::i18n::{Lang, Tr};

pub const SESSION_COOKIE: &str = "jinlin_session";
/// Double-submit token for forms shown before sign-in (the login form).
pub const PRE_CSRF_COOKIE: &str = "jinlin_csrf";
pub const LANG_COOKIE: &str = "jinlin_lang";
pub const CSRF_FIELD: &str = "_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The signed-in user of this request, put in the request extensions by [`resolve_session`].
#[derive(Clone)]
pub struct Session {
    pub actor: Actor,
    pub csrf_token: String,
    pub token: String,
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

pub fn lang_of(headers: &HeaderMap) -> Lang {
    Lang::from_cookie(cookie(headers, LANG_COOKIE))
}

pub fn request_meta(parts_headers: &HeaderMap, ext: &axum::http::Extensions) -> RequestMeta {
    let ip = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    RequestMeta {
        request_id: parts_headers
            .get(crate::security::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        ip,
        user_agent: parts_headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect()),
    }
}

/// Resolves the session cookie once per request (assets excluded).
pub async fn resolve_session(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = (!req.uri().path().starts_with("/assets/"))
        .then(|| cookie(req.headers(), SESSION_COOKIE).map(str::to_owned))
        .flatten();
    if let Some(token) = token {
        match state.app.session(&token).await {
            Ok(Some(s)) => {
                let meta = request_meta(req.headers(), req.extensions());
                let mut actor = s.actor;
                actor.request_id = meta.request_id;
                actor.ip = meta.ip;
                req.extensions_mut().insert(Session {
                    actor,
                    csrf_token: s.csrf_token,
                    token,
                });
            }
            Ok(None) => {
                req.extensions_mut().insert(ExpiredSession);
            }
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
            }
        }
    }
    next.run(req).await
}

/// Marker: a session cookie was sent but is no longer valid (idle timeout, logout elsewhere).
#[derive(Clone, Copy)]
pub struct ExpiredSession;

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every state-changing request from a browser must carry the CSRF token of its session (or,
/// before sign-in, the double-submit cookie): in the `X-CSRF-Token` header (htmx), in the
/// `_csrf` form field, or as the `_csrf` part of a multipart form. Machine clients using
/// `Authorization: Bearer` send no cookies and are exempt.
pub async fn csrf_guard(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    if bearer && cookie(req.headers(), SESSION_COOKIE).is_none() {
        return next.run(req).await;
    }
    let expected = match req.extensions().get::<Session>() {
        Some(s) => Some(s.csrf_token.clone()),
        None => cookie(req.headers(), PRE_CSRF_COOKIE).map(str::to_owned),
    };
    let lang = lang_of(req.headers());
    let header_token = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (parts, body) = req.into_parts();
    let (given, body) = match header_token {
        Some(t) => (Some(t), body),
        None => {
            let bytes = match to_bytes(body, crate::body_limit(parts.uri.path())).await {
                Ok(b) => b,
                Err(_) => return PageError::too_large(lang).into_response(),
            };
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            (token_in_body(content_type, &bytes), Body::from(bytes))
        }
    };
    let ok = match (&expected, &given) {
        (Some(e), Some(g)) => constant_time_eq(e.as_bytes(), g.as_bytes()),
        _ => false,
    };
    if !ok {
        tracing::warn!("request refused: missing or wrong CSRF token");
        return PageError::csrf(lang).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

fn token_in_body(content_type: &str, body: &Bytes) -> Option<String> {
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return form_urlencoded_value(body, CSRF_FIELD);
    }
    if content_type.starts_with("multipart/form-data") {
        // The token is a small text part; find `name="_csrf"` and read the value after the
        // blank line, up to the next CRLF.
        let needle = b"name=\"_csrf\"";
        let pos = body.windows(needle.len()).position(|w| w == needle)?;
        let rest = &body[pos..];
        let start = rest.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let value = &rest[start..];
        let end = value.windows(2).position(|w| w == b"\r\n")?;
        return std::str::from_utf8(&value[..end]).ok().map(str::to_owned);
    }
    None
}

fn form_urlencoded_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.replace("%2D", "-").replace("%5F", "_"))
}

/// A page that needs a signed-in user; without one the browser is sent to the login page.
pub struct SignedIn(pub Session);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(s) = parts.extensions.get::<Session>() {
            return Ok(SignedIn(s.clone()));
        }
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let expired = parts.extensions.get::<ExpiredSession>().is_some();
        let target = format!(
            "/login?next={}{}",
            percent_encode(next),
            if expired { "&expired=1" } else { "" }
        );
        Err(Redirect::to(&target).into_response())
    }
}

/// The request's language and translator, for pages that may be shown signed out.
pub struct Ui(pub Tr);

impl FromRequestParts<AppState> for Ui {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Ui(Tr {
            lang: lang_of(&parts.headers),
        }))
    }
}

/// An API caller: a bearer token (machine clients) or the browser session (the map page).
pub struct ApiCaller(pub Actor);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if let Some(token) = bearer {
            let meta = request_meta(&parts.headers, &parts.extensions);
            return match state.app.api_actor(token).await? {
                Some(mut actor) => {
                    actor.request_id = meta.request_id;
                    actor.ip = meta.ip;
                    Ok(ApiCaller(actor))
                }
                None => Err(ApiError(AppError::Unauthenticated)),
            };
        }
        match parts.extensions.get::<Session>() {
            Some(s) => Ok(ApiCaller(s.actor.clone())),
            None => Err(ApiError(AppError::Unauthenticated)),
        }
    }
}

pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Only same-site relative paths are followed after login (no open redirects).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_token_in_forms() {
        assert_eq!(
            form_urlencoded_value(b"a=1&_csrf=abc-_x&b=2", CSRF_FIELD).as_deref(),
            Some("abc-_x")
        );
        let multipart = Bytes::from_static(
            b"--XY\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\ntok123\r\n--XY\r\n",
        );
        assert_eq!(
            token_in_body("multipart/form-data; boundary=XY", &multipart).as_deref(),
            Some("tok123")
        );
        assert_eq!(token_in_body("application/json", &multipart), None);
    }

    #[test]
    fn next_must_be_a_local_path() {
        assert_eq!(safe_next(Some("/regions")), "/regions");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
