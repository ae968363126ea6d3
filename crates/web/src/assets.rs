//! Front-end files embedded at build time (see `build.rs`): our own CSS/JS/images from
//! `assets/static/` and pinned npm packages under `/assets/vendor/`. Nothing is fetched from a CDN,
//! so the product works in an air-gapped county intranet.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// URL path, e.g. `/assets/app.css` or `/assets/vendor/htmx/htmx.min.js`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    /// Strong validator including its quotes, e.g. `"3f…"` (a hash of the content).
    pub etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/embedded_assets.rs"));

/// File names are not content-hashed, so a day of caching (revalidated by ETag afterwards)
/// instead of `immutable`; templates may append `?v=` (see [`versioned`]) to bust it on deploy.
const CACHE: &str = "public, max-age=86400";

/// The asset served at `path` (`/assets/app.css`; `app.css` is accepted too).
pub fn lookup(path: &str) -> Option<&'static Asset> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let find = |p: &str| {
        ASSETS
            .binary_search_by(|a| a.path.cmp(p))
            .ok()
            .and_then(|i| ASSETS.get(i))
    };
    if path.starts_with("/assets/") {
        find(path)
    } else {
        find(&format!("/assets/{}", path.trim_start_matches('/')))
    }
}

/// Every embedded file (for tests and diagnostics).
pub fn all() -> &'static [Asset] {
    ASSETS
}

/// (npm package, version) of the embedded front-end libraries, for the About page.
pub fn vendor_versions() -> &'static [(&'static str, &'static str)] {
    VENDOR_VERSIONS
}

/// `path` with a short content hash as query (`/assets/app.css?v=1a2b3c4d`), so browsers fetch
/// the new file right after an upgrade despite `max-age`. Unknown paths come back unchanged.
pub fn versioned(path: &str) -> String {
    match lookup(path) {
        Some(a) => {
            let hash = a.etag.trim_matches('"');
            format!("{}?v={}", a.path, hash.get(..10).unwrap_or(hash))
        }
        None => path.to_string(),
    }
}

/// Handler for `GET /assets/{*path}`.
pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let Some(asset) = lookup(uri.path()) else {
        return (
            StatusCode::NOT_FOUND,
            [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
                (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            "404 Not Found",
        )
            .into_response();
    };
    let common = [
        (ETAG, HeaderValue::from_static(asset.etag)),
        (CACHE_CONTROL, HeaderValue::from_static(CACHE)),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    if not_modified(&headers, asset.etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        StatusCode::OK,
        [(CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
        common,
        asset.bytes,
    )
        .into_response()
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"`, `*`
/// matches anything, and the header may hold a list (possibly over several header lines).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_complete() {
        assert!(ASSETS.windows(2).all(|w| w[0].path < w[1].path));
        for path in [
            "/assets/app.css",
            "/assets/app.js",
            "/assets/map.js",
            "/assets/swagger-init.js",
            "/assets/favicon.svg",
            "/assets/vendor/htmx/htmx.min.js",
            "/assets/vendor/leaflet/leaflet.js",
            "/assets/vendor/leaflet/leaflet.css",
            "/assets/vendor/leaflet/images/marker-icon.png",
            "/assets/vendor/swagger-ui/swagger-ui-bundle.js",
            "/assets/vendor/echarts/echarts.min.js",
        ] {
            let a = lookup(path);
            assert!(a.is_some_and(|a| !a.bytes.is_empty()), "{path} missing");
        }
        assert!(lookup("/assets/nope.js").is_none());
        assert!(lookup("/assets/../Cargo.toml").is_none());
    }

    #[test]
    fn content_types() {
        let ct = |p: &str| lookup(p).map(|a| a.content_type);
        assert_eq!(ct("/assets/app.css"), Some("text/css; charset=utf-8"));
        assert_eq!(ct("/assets/app.js"), Some("text/javascript; charset=utf-8"));
        assert_eq!(ct("/assets/favicon.svg"), Some("image/svg+xml"));
        assert_eq!(
            ct("/assets/vendor/leaflet/images/layers.png"),
            Some("image/png")
        );
    }

    #[test]
    fn versions_come_from_the_lockfile() {
        let names: Vec<_> = vendor_versions().iter().map(|(p, _)| *p).collect();
        assert_eq!(names, ["htmx.org", "leaflet", "swagger-ui-dist", "echarts"]);
        assert!(vendor_versions().iter().all(|(_, v)| !v.is_empty()));
        assert!(versioned("/assets/app.css").starts_with("/assets/app.css?v="));
    }

    #[test]
    fn if_none_match() {
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, "\"abc\""));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"x\", W/\"abc\""));
        assert!(not_modified(&h, "\"abc\""));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"x\""));
        assert!(!not_modified(&h, "\"abc\""));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(not_modified(&h, "\"abc\""));
    }

    #[tokio::test]
    async fn serve_sets_headers_and_304() {
        let uri: Uri = "/assets/app.css?v=1".parse().unwrap_or_default();
        let res = serve(uri.clone(), HeaderMap::new()).await;
        assert_eq!(res.status(), StatusCode::OK);
        let etag = res.headers().get(ETAG).cloned();
        assert!(etag.is_some());
        assert_eq!(
            res.headers()
                .get(CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some(CACHE)
        );
        assert_eq!(
            res.headers()
                .get(X_CONTENT_TYPE_OPTIONS)
                .and_then(|v| v.to_str().ok()),
            Some("nosniff")
        );

        let mut h = HeaderMap::new();
        if let Some(e) = etag {
            h.insert(IF_NONE_MATCH, e);
        }
        assert_eq!(serve(uri, h).await.status(), StatusCode::NOT_MODIFIED);

        let missing: Uri = "/assets/missing.css".parse().unwrap_or_default();
        let res = serve(missing, HeaderMap::new()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            res.headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("text/plain; charset=utf-8")
        );
    }
}
