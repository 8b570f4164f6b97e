//! Extractors whose rejections use the API's error envelope.

use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `Json<T>` with errors as `{"error": …}`. Text containing NUL (U+0000) is refused:
/// PostgreSQL cannot store it, and both backends must answer the same.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let headers = parts.headers.clone();
        let extensions = parts.extensions.clone();
        // Buffered under the route's body limit; then parsed by axum's `Json` as before.
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| ApiError::from(JsonRejection::from(e)))?;
        let mut again = Request::new(Body::from(bytes.clone()));
        *again.headers_mut() = headers;
        // The route's body limit travels in the extensions: without them `Json` would
        // apply axum's default 2 MiB again (and refuse a batch the route allows).
        *again.extensions_mut() = extensions;
        let axum::Json(v) = axum::Json::<T>::from_request(again, state).await?;
        if has_escaped_nul(&bytes) {
            return Err(ApiError::invalid(
                "invalid_body",
                "text must not contain NUL (\\u0000) characters",
            ));
        }
        Ok(ApiJson(v))
    }
}

/// Whether valid JSON text contains the escape `\u0000` (a raw NUL byte is not valid JSON).
fn has_escaped_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json.get(i + 1..i + 6) == Some(b"u0000".as_slice()) {
                return true;
            }
            // Skip the escaped character, so `\\u0000` (a backslash, then text) is fine.
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// `Query<T>` with errors as `{"error": …}`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(v))
    }
}

/// `Path<T>` with errors as `{"error": …}`; a NUL (`%00`) in the path is refused.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if parts.uri.path().contains("%00") {
            return Err(ApiError::bad_request(
                "invalid_path",
                "the path must not contain NUL (%00)",
            ));
        }
        let axum::extract::Path(v) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(v))
    }
}

/// Checks a host id from a path or body.
pub fn host_id(field: &str, id: &str) -> Result<(), ApiError> {
    if varsel_core::model::valid_host_id(id) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "invalid_id",
            format!("{field} must be 1–128 characters of [A-Za-z0-9._:@-]"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::has_escaped_nul;

    #[test]
    fn finds_escaped_nul_only() {
        assert!(has_escaped_nul(br#"{"a": "x\u0000y"}"#));
        assert!(has_escaped_nul(br#"{"\u0000": 1}"#));
        assert!(has_escaped_nul(br#"["\\\u0000"]"#));
        assert!(!has_escaped_nul(br#"{"a": "C:\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"a": "\u0001"}"#));
        assert!(!has_escaped_nul(br#"{"a": "u0000"}"#));
    }
}
