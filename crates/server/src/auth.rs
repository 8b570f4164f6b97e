//! Who is calling: a server API key or a user token (HS256 JWT signed with the shared
//! secret: `sub` user, `account`, `exp`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use varsel_core::model::valid_host_id;

use crate::error::ApiError;
use crate::state::AppState;

/// Claims of a user token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub account: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

/// Seconds a token is still accepted after its `exp` (clock skew between the host and
/// Varsel).
pub const LEEWAY_S: i64 = 5;

/// Signs and checks user tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Tokens {
    pub fn new(secret: &[u8]) -> Tokens {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_S as u64;
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Expiry is checked against Varsel's clock (see `verify`), not the system's.
        validation.validate_exp = false;
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// Checks the signature, the claims and the expiry at `now_s` (Unix seconds).
    pub fn verify(&self, token: &str, now_s: i64) -> Result<Claims, ApiError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| ApiError::unauthorized(token_problem(e.kind())))?;
        if claims.exp.saturating_add(LEEWAY_S) < now_s {
            return Err(ApiError::unauthorized("invalid user token: it has expired"));
        }
        // Claims end up in queries: ids the host could never have created are refused here.
        if !valid_host_id(&claims.sub) || !valid_host_id(&claims.account) {
            return Err(ApiError::unauthorized(
                "invalid user token: `sub` and `account` must be ids of 1–128 [A-Za-z0-9._:@-]",
            ));
        }
        Ok(claims)
    }
}

/// Why a user token was refused, in words of Varsel's own: the library's messages name
/// its internals (serde variants, algorithm lists), which callers should not see.
fn token_problem(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature => "invalid user token: the signature does not match",
        K::ExpiredSignature => "invalid user token: it has expired",
        K::ImmatureSignature => "invalid user token: it is not valid yet (nbf)",
        K::InvalidAlgorithm | K::InvalidAlgorithmName | K::MissingAlgorithm => {
            "invalid user token: it must be signed with HS256"
        }
        K::MissingRequiredClaim(_) => {
            "invalid user token: the claims `sub`, `account` and `exp` are required"
        }
        K::InvalidClaimFormat(_) | K::Json(_) | K::Utf8(_) => {
            "invalid user token: its header or claims are malformed (`sub` and `account` strings, `exp` a number of seconds, `alg` HS256)"
        }
        _ => "invalid user token: not a well-formed JWT",
    }
}

/// SHA-256 of an API key, hex: what the database keeps.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The credential of `Authorization: Bearer …`; the scheme is case-insensitive
/// (RFC 9110), so `bearer` and `BEARER` work too.
fn bearer(parts: &Parts) -> Option<&str> {
    bearer_of(&parts.headers)
}

fn bearer_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim_start();
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// A caller: the host's server (API key) or a signed-in user.
#[derive(Debug, Clone)]
pub enum Caller {
    Server,
    User { account: String, user: String },
}

/// A user token in the query string is accepted only where `EventSource` needs it.
fn query_token(parts: &Parts) -> Option<String> {
    let q = parts.uri.query()?;
    q.split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(|t| t.to_string())
}

/// JWTs have two dots; API keys never do, so a token is not looked up as a key.
fn looks_like_jwt(token: &str) -> bool {
    token.matches('.').count() == 2
}

async fn is_api_key(state: &AppState, token: &str) -> Result<bool, ApiError> {
    if let Some(k) = &state.api_key
        && constant_time_eq(k.as_bytes(), token.as_bytes())
    {
        return Ok(true);
    }
    if looks_like_jwt(token) {
        return Ok(false);
    }
    Ok(state.store.api_key_exists(&hash_key(token)).await?)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn caller(parts: &Parts, state: &AppState, allow_query: bool) -> Result<Caller, ApiError> {
    caller_until(parts, state, allow_query)
        .await
        .map(|(c, _)| c)
}

/// The caller and, for a user token, its expiry (Unix seconds).
async fn caller_until(
    parts: &Parts,
    state: &AppState,
    allow_query: bool,
) -> Result<(Caller, Option<i64>), ApiError> {
    let token = match bearer(parts) {
        Some(t) => t.to_string(),
        None if allow_query && parts.uri.path() == "/v1/me/stream" => {
            query_token(parts).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?
        }
        None => {
            return Err(ApiError::unauthorized(
                "missing bearer token (Authorization: Bearer …)",
            ));
        }
    };
    // Every credential presented counts: an address whose failures used up their
    // bucket is refused before its credential is even looked at.
    let addr = crate::edge::peer(parts).map(|a| a.ip());
    state.limits.auth_allowed(addr)?;
    match authenticate(state, &token).await {
        Err(e) if e.status == axum::http::StatusCode::UNAUTHORIZED => {
            Err(state.limits.auth_failed(addr, e))
        }
        other => other,
    }
}

async fn authenticate(state: &AppState, token: &str) -> Result<(Caller, Option<i64>), ApiError> {
    if is_api_key(state, token).await? {
        return Ok((Caller::Server, None));
    }
    if !looks_like_jwt(token) {
        return Err(ApiError::unauthorized("invalid API key"));
    }
    let claims = state.tokens.verify(token, state.now() / 1000)?;
    Ok((
        Caller::User {
            account: claims.account,
            user: claims.sub,
        },
        Some(claims.exp.saturating_add(LEEWAY_S)),
    ))
}

/// The hash of the bearer credential of a request (identifies an API key for its rate
/// limit without keeping the key).
pub fn credential_id(headers: &axum::http::HeaderMap) -> String {
    hash_key(bearer_of(headers).unwrap_or_default())
}

/// `/metrics` on the main listener: `metrics_token` or an API key.
pub struct MetricsReader;

impl FromRequestParts<AppState> for MetricsReader {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = &state.config.metrics_token;
        if !token.is_empty()
            && bearer(parts).is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
        {
            return Ok(MetricsReader);
        }
        match caller(parts, state, false).await? {
            Caller::Server => Ok(MetricsReader),
            Caller::User { .. } => Err(ApiError::forbidden(
                "api_key_required",
                "/metrics needs the metrics token or an API key",
            )),
        }
    }
}

/// Requires an API key.
pub struct ServerKey;

impl FromRequestParts<AppState> for ServerKey {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match caller(parts, state, false).await? {
            Caller::Server => Ok(ServerKey),
            Caller::User { .. } => Err(ApiError::forbidden(
                "api_key_required",
                "this call needs an API key",
            )),
        }
    }
}

/// Requires a user token (header, or `?token=` on the stream).
#[derive(Debug, Clone)]
pub struct UserAuth {
    pub account: String,
    pub user: String,
    /// The last second the token is accepted (its `exp` plus the leeway), Unix seconds;
    /// a stream ends then.
    pub exp: i64,
}

impl FromRequestParts<AppState> for UserAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match caller_until(parts, state, true).await? {
            (Caller::User { account, user }, exp) => Ok(UserAuth {
                account,
                user,
                exp: exp.unwrap_or(i64::MAX / 1000),
            }),
            (Caller::Server, _) => Err(ApiError::forbidden(
                "user_token_required",
                "this call needs a user token",
            )),
        }
    }
}

/// Accepts either.
pub struct AnyCaller(pub Caller);

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(AnyCaller(caller(parts, state, false).await?))
    }
}

/// A fresh random secret, hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS random source failing is unrecoverable and never caused by input.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("OS random source");
    hex::encode(buf)
}
