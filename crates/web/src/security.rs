//! Security headers, request ids and request tracing (without personal data).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a per-process random prefix and a counter — unique, short, and cheap.
#[derive(Clone)]
pub struct RequestIds {
    prefix: u32,
    counter: std::sync::Arc<AtomicU64>,
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:08x}-{n:x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

pub fn request_id_layers() -> (SetRequestIdLayer<RequestIds>, PropagateRequestIdLayer) {
    let mut seed = [0u8; 4];
    let _ = getrandom_fill(&mut seed);
    (
        SetRequestIdLayer::new(
            REQUEST_ID,
            RequestIds {
                prefix: u32::from_le_bytes(seed),
                counter: Default::default(),
            },
        ),
        PropagateRequestIdLayer::new(REQUEST_ID),
    )
}

fn getrandom_fill(buf: &mut [u8]) -> Result<(), ()> {
    let token = jinlin_app::accounts::random_token().map_err(|_| ())?;
    for (b, t) in buf.iter_mut().zip(token.bytes()) {
        *b = t;
    }
    Ok(())
}

type MakeSpan = fn(&Request) -> tracing::Span;

/// One span per request with the route template (never the raw path or query, which may carry
/// names or phone numbers) and the request id.
pub fn trace_layer() -> TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    MakeSpan,
> {
    TraceLayer::new_for_http().make_span_with(make_span as MakeSpan)
}

fn make_span(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "-".into());
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    tracing::info_span!("request", method = %req.method(), route = %route, request_id = %id)
}

pub async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let img_src = match &state.app.settings.tile_url {
        Some(url) => format!("'self' data: {}", tile_origin(url)),
        None => "'self' data:".into(),
    };
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src {img_src}; \
         connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        // Pages and API answers may carry personal data: never keep them in any cache.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// `https://t{s}.example/{z}/{x}/{y}.png` → `https://*.example` style origin for the CSP.
fn tile_origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = match host.split_once('}') {
        Some((_, tail)) => format!("*{}", tail.trim_start_matches(|c| c != '.')),
        None => host.to_string(),
    };
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tile_origin_allows_only_the_tile_host() {
        assert_eq!(
            super::tile_origin("https://tiles.county.gov.cn/{z}/{x}/{y}.png"),
            "https://tiles.county.gov.cn"
        );
        assert_eq!(
            super::tile_origin("https://t{s}.tianditu.gov.cn/img_w/{z}/{x}/{y}"),
            "https://*.tianditu.gov.cn"
        );
    }
}
