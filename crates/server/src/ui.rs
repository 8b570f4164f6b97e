//! The web UI: the settings page, the admin page, the outbox, a demo host page
//! and the embeddable bell + pop-up script, all plain ES modules from `web/`, embedded in
//! the binary. The pages talk only to the public API.
//!
//! Release builds embed `web/`; debug builds read it from the source tree at run time
//! (rust-embed's behaviour), so UI work needs no rebuild.

use std::borrow::Cow;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::error::ApiError;

#[derive(RustEmbed)]
#[folder = "../../web/"]
struct Web;

/// Pages: no inline script, no foreign origin; inline styles for the shadow DOM widgets and
/// e-mail previews (shown in a sandboxed frame). Only Varsel's own pages may frame them
/// (no clickjacking of "turn off all"); host apps embed the bell with its script tag and
/// link to the settings page.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'self'";

/// The UI's routes; merged into the API router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/preferences") }))
        .route("/ui/preferences", get(|h: HeaderMap| async move { page("pages/preferences.html", &h) }))
        .route("/ui/admin", get(|h: HeaderMap| async move { page("pages/admin.html", &h) }))
        .route("/ui/outbox", get(|h: HeaderMap| async move { page("pages/outbox.html", &h) }))
        .route("/ui/demo-host", get(|h: HeaderMap| async move { page("pages/demo-host.html", &h) }))
        .route("/ui/varsel.js", get(|h: HeaderMap| async move { asset("varsel.js", &h) }))
        .route("/sw.js", get(|h: HeaderMap| async move { service_worker(&h) }))
        .route(
            "/ui/assets/{*path}",
            get(|Path(p): Path<String>, h: HeaderMap| async move { asset(&format!("assets/{p}"), &h) }),
        )
}

/// The content type of a file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn page(path: &str, headers: &HeaderMap) -> Response {
    let mut resp = file(path, headers);
    let h = resp.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(PAGE_CSP),
    );
    // The user token may arrive in the page's query string: never pass it on.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn asset(path: &str, headers: &HeaderMap) -> Response {
    let mut resp = file(path, headers);
    // Static, public and credential-free: host pages on other origins load the widget
    // modules (module scripts are fetched with CORS).
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

/// The Web Push service worker, at the root so that its scope is the whole origin
/// (`Service-Worker-Allowed: /` says so explicitly). Browsers register a worker only from
/// its own origin, so unlike the widget's modules it needs no `Access-Control-Allow-Origin`.
fn service_worker(headers: &HeaderMap) -> Response {
    let mut resp = file("sw.js", headers);
    if resp.status().is_success() || resp.status() == StatusCode::NOT_MODIFIED {
        resp.headers_mut().insert(
            HeaderName::from_static("service-worker-allowed"),
            HeaderValue::from_static("/"),
        );
    }
    resp
}

/// One embedded file, revalidated by ETag on every use (`no-cache`): names carry no
/// version, and a new binary must never be hidden behind a stale cache.
fn file(path: &str, headers: &HeaderMap) -> Response {
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg.starts_with('.'))
    {
        return ApiError::not_found("file").into_response();
    }
    let Some(f) = Web::get(path) else {
        return ApiError::not_found("file").into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&f.metadata.sha256_hash()[..16]));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body: Cow<'static, [u8]> = f.data;
        ([(header::CONTENT_TYPE, content_type(path))], body).into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_and_entry_point_is_embedded() {
        for p in [
            "pages/preferences.html",
            "pages/admin.html",
            "pages/outbox.html",
            "pages/demo-host.html",
            "varsel.js",
            "sw.js",
            "assets/widget.js",
            "assets/app.css",
        ] {
            assert!(Web::get(p).is_some(), "{p} is missing from web/");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("a/b.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("x.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("x.svg"), "image/svg+xml");
        assert_eq!(content_type("x"), "application/octet-stream");
    }

    #[test]
    fn the_service_worker_may_control_the_whole_origin() {
        let resp = service_worker(&HeaderMap::new());
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(h["service-worker-allowed"], "/");
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
    }

    #[test]
    fn hidden_and_odd_paths_are_not_served() {
        let h = HeaderMap::new();
        assert_eq!(
            file("assets/../varsel.js", &h).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            file("assets//widget.js", &h).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(file(".git/config", &h).status(), StatusCode::NOT_FOUND);
    }
}
