//! The links in emails (`links.rs` signs them):
//!
//! - `GET /email/settings/{token}` opens the user's settings page signed in: it mints a
//!   user token (one hour) and redirects to `/ui/preferences?token=…&type=…#email`.
//! - `POST /email/unsubscribe/{token}` turns the type's email off (RFC 8058 one-click:
//!   the body, normally `List-Unsubscribe=One-Click`, is not needed).
//! - `GET /email/unsubscribe/{token}` is the page a person sees: it never changes
//!   anything (mail scanners follow links), it offers the button that posts.
//! - `POST /email/unsubscribe/{token}/undo` puts the setting back as it was.
//!
//! Pages answer HTML; a caller that does not accept HTML (a mail provider's one-click
//! POST, a script) gets JSON, errors in the API's envelope.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;
use varsel_core::Tab;
use varsel_core::catalog::TypeDef;

use crate::auth::UserAuth;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::links::{LinkClaims, LinkError, Purpose};
use crate::routes::prefs::{UserPrefs, edit};
use crate::routes::tokens::issue;
use crate::state::AppState;

/// How long the session opened from a settings link lasts.
const SESSION_SECONDS: i64 = 3600;

const TEMPLATE: &str = include_str!("../../templates/email-link.html");

/// What a link page shows.
#[derive(Debug, Serialize, Default)]
struct Page {
    lang: String,
    /// `confirm`, `unsubscribed`, `resubscribed`, `error`: for tests and styling.
    state: &'static str,
    heading: String,
    message: String,
    action: Option<String>,
    restore: Option<&'static str>,
    button: String,
    settings_url: Option<String>,
    settings_label: String,
}

fn nb(locale: &str) -> bool {
    locale == "nb"
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn render(status: StatusCode, page: &Page) -> Response {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    let html = env.render_str(TEMPLATE, page).unwrap_or_else(|e| {
        tracing::error!(error = %e, "rendering the email link page");
        String::from("<!doctype html><title>Varsel</title><p>Varsel")
    });
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    secure(&mut resp);
    resp
}

/// The address holds a token: never cache it, never pass it on.
fn secure(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
}

/// An error, as a page or as the API's envelope.
fn fail(headers: &HeaderMap, err: ApiError) -> Response {
    if !wants_html(headers) {
        let mut resp = err.into_response();
        secure(&mut resp);
        return resp;
    }
    // The locale is unknown here (the link did not open): both languages.
    let (heading, message) = match err.code {
        "link_expired" => (
            "This link has expired · Lenken er utløpt",
            "Open your notification settings from a newer email, or from the app. · \
             Åpne varslingsinnstillingene fra en nyere e-post, eller fra appen.",
        ),
        "not_found" => (
            "Nothing to change · Ingenting å endre",
            "The user or the notification type of this link no longer exists. · \
             Brukeren eller varseltypen i denne lenken finnes ikke lenger.",
        ),
        "locked" => (
            "These emails cannot be turned off · Disse e-postene kan ikke slås av",
            "They are about your account (support, billing). · \
             De gjelder kontoen din (kundestøtte, fakturering).",
        ),
        _ => (
            "This link is not valid · Lenken er ikke gyldig",
            "Check that the whole link was copied from the email. · \
             Sjekk at hele lenken ble kopiert fra e-posten.",
        ),
    };
    render(
        err.status,
        &Page {
            lang: "en".into(),
            state: "error",
            heading: heading.into(),
            message: message.into(),
            ..Page::default()
        },
    )
}

fn link_error(e: LinkError) -> ApiError {
    match e {
        LinkError::Expired => ApiError::new(StatusCode::GONE, "link_expired", e.to_string()),
        LinkError::Invalid => ApiError::new(StatusCode::BAD_REQUEST, "invalid_link", e.to_string()),
    }
}

fn verify(state: &AppState, token: &str, purpose: Purpose) -> ApiResult<LinkClaims> {
    state
        .links
        .verify(token, purpose, state.now() / 1000)
        .map_err(link_error)
}

#[utoipa::path(get, path = "/email/settings/{token}", tag = "email links",
    params(("token" = String, Path, description = "the signed link token from an email")),
    responses(
        (status = 303, description = "to the settings page, signed in for one hour"),
        (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 410, body = crate::error::ErrorBody, description = "the link has expired")))]
/// Opens the user's settings page from an email, signed in.
pub async fn open_settings(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(token): ApiPath<String>,
) -> Response {
    match settings_redirect(&state, &token).await {
        Ok(to) => {
            let mut resp = Redirect::to(&to).into_response();
            secure(&mut resp);
            resp
        }
        Err(e) => fail(&headers, e),
    }
}

async fn settings_redirect(state: &AppState, token: &str) -> ApiResult<String> {
    let c = verify(state, token, Purpose::Settings)?;
    if state.store.get_user(&c.account, &c.sub).await?.is_none() {
        return Err(ApiError::not_found("user"));
    }
    let session = issue(state, &c.account, &c.sub, SESSION_SECONDS)?;
    let at = c
        .type_id
        .as_deref()
        .filter(|t| state.catalog.get(t).is_some())
        .map(|t| format!("&type={t}"))
        .unwrap_or_default();
    Ok(format!("/ui/preferences?token={}{at}#email", session.token))
}

/// The link's user, type and current email setting.
struct Target<'a> {
    claims: LinkClaims,
    def: &'a TypeDef,
    prefs: UserPrefs,
}

async fn target<'a>(state: &'a AppState, token: &str) -> ApiResult<Target<'a>> {
    let claims = verify(state, token, Purpose::Unsubscribe)?;
    let def = claims
        .type_id
        .as_deref()
        .and_then(|t| state.catalog.get(t))
        .ok_or_else(|| ApiError::not_found("notification type"))?;
    if def.mandatory {
        return Err(ApiError::invalid(
            "locked",
            "this type is mandatory and cannot be turned off",
        ));
    }
    let prefs = UserPrefs::load(state, &claims.account, &claims.sub).await?;
    Ok(Target { claims, def, prefs })
}

impl Target<'_> {
    fn locale(&self) -> &str {
        &self.prefs.user.locale
    }

    fn type_name(&self, state: &AppState) -> String {
        let locale = varsel_core::model::Locale(self.locale().to_string());
        TypeDef::text(&self.def.name, &locale, &state.catalog.default_locale).to_string()
    }

    fn email_on(&self, state: &AppState) -> bool {
        self.prefs
            .view(state)
            .tabs
            .email
            .types
            .get(&self.def.id)
            .is_some_and(|t| t.on)
    }

    /// The page in state `st`; `restore` is what its undo button puts back.
    fn page(
        &self,
        state: &AppState,
        token: &str,
        st: &'static str,
        restore: Option<&'static str>,
    ) -> Page {
        let name = self.type_name(state);
        let no = nb(self.locale());
        let settings_url = Some(
            state
                .links
                .settings_url("", &self.claims, state.now() / 1000),
        );
        let settings_label = if no {
            "Alle varslingsinnstillingene dine"
        } else {
            "All your notification settings"
        }
        .to_string();
        let base = Page {
            lang: if no { "nb" } else { "en" }.into(),
            state: st,
            settings_url,
            settings_label,
            ..Page::default()
        };
        match st {
            "confirm" => Page {
                heading: if no {
                    format!("Slutte å få e-post om «{name}»?")
                } else {
                    format!("Stop emails about “{name}”?")
                },
                message: if no {
                    "Du får fortsatt disse varslene i appen. Bare e-posten slås av.".into()
                } else {
                    "You still get these notifications in the app; only the email stops.".into()
                },
                action: Some(format!("/email/unsubscribe/{token}")),
                button: if no {
                    "Slå av e-posten"
                } else {
                    "Turn off these emails"
                }
                .into(),
                ..base
            },
            "unsubscribed" => Page {
                heading: if no {
                    format!("Du får ikke lenger e-post om «{name}»")
                } else {
                    format!("You will no longer get emails about “{name}”")
                },
                message: if no {
                    "Ombestemt deg? Angre, så kommer de som før.".into()
                } else {
                    "Changed your mind? Undo, and they arrive as before.".into()
                },
                action: Some(format!("/email/unsubscribe/{token}/undo")),
                restore,
                button: if no { "Angre" } else { "Undo" }.into(),
                ..base
            },
            _ => Page {
                heading: if no {
                    format!("Du får e-post om «{name}» igjen")
                } else {
                    format!("Emails about “{name}” are back on")
                },
                message: if no {
                    "Du kan slå dem av igjen når som helst i innstillingene.".into()
                } else {
                    "You can turn them off again at any time in your settings.".into()
                },
                ..base
            },
        }
    }
}

#[derive(Serialize)]
struct Done<'a> {
    #[serde(rename = "type")]
    type_id: &'a str,
    email: bool,
}

#[utoipa::path(get, path = "/email/unsubscribe/{token}", tag = "email links",
    params(("token" = String, Path, description = "the signed link token from List-Unsubscribe")),
    responses(
        (status = 200, description = "a page that asks before turning the type's email off (a GET never changes anything)"),
        (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 410, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
/// The unsubscribe page: asks, or — when the email is already off — offers to undo.
pub async fn unsubscribe_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(token): ApiPath<String>,
) -> Response {
    match target(&state, &token).await {
        Ok(t) if t.email_on(&state) => {
            render(StatusCode::OK, &t.page(&state, &token, "confirm", None))
        }
        // Already off (an earlier click): offer to turn it on.
        Ok(t) => render(
            StatusCode::OK,
            &t.page(&state, &token, "unsubscribed", Some("on")),
        ),
        Err(e) => fail(&headers, e),
    }
}

#[utoipa::path(post, path = "/email/unsubscribe/{token}", tag = "email links",
    params(("token" = String, Path, description = "the signed link token from List-Unsubscribe")),
    request_body(content = String, description = "ignored (RFC 8058 sends `List-Unsubscribe=One-Click`)", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "the type's email is off for this user: a page with undo, or JSON `{type, email: false}`"),
        (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 410, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
/// One-click unsubscribe (RFC 8058): turns the type's email off for the link's user.
pub async fn unsubscribe(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(token): ApiPath<String>,
) -> Response {
    match set_email(&state, &token, Restore::Off).await {
        Ok((t, before)) if wants_html(&headers) => {
            // Undo puts back what the user had: their own "on", else the defaults.
            let restore = if before == Some(true) {
                "on"
            } else {
                "inherit"
            };
            render(
                StatusCode::OK,
                &t.page(&state, &token, "unsubscribed", Some(restore)),
            )
        }
        Ok((t, _)) => json_done(&t.def.id, false),
        Err(e) => fail(&headers, e),
    }
}

#[utoipa::path(post, path = "/email/unsubscribe/{token}/undo", tag = "email links",
    params(("token" = String, Path, description = "the signed link token from List-Unsubscribe")),
    request_body(content = String, description = "`restore=on` (the user had chosen on) or `restore=inherit` (default: follow the defaults again)", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "the type's email is back as before"),
        (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 410, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
/// Undoes an unsubscribe.
pub async fn undo(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(token): ApiPath<String>,
    body: Bytes,
) -> Response {
    let restore = if String::from_utf8_lossy(&body)
        .split('&')
        .any(|kv| kv == "restore=on")
    {
        Restore::On
    } else {
        Restore::Inherit
    };
    match set_email(&state, &token, restore).await {
        Ok((t, _)) if wants_html(&headers) => render(
            StatusCode::OK,
            &t.page(&state, &token, "resubscribed", None),
        ),
        Ok((t, _)) => {
            let on = t.email_on(&state);
            json_done(&t.def.id, on)
        }
        Err(e) => fail(&headers, e),
    }
}

fn json_done(type_id: &str, email: bool) -> Response {
    let mut resp = axum::Json(Done { type_id, email }).into_response();
    secure(&mut resp);
    resp
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restore {
    Off,
    On,
    Inherit,
}

/// Changes the user's own email choice for the link's type; answers the target as it
/// is afterwards and the user's own choice before.
async fn set_email<'a>(
    state: &'a AppState,
    token: &str,
    to: Restore,
) -> ApiResult<(Target<'a>, Option<bool>)> {
    let t = target(state, token).await?;
    let before = t.prefs.own.get(Tab::Email, &t.def.id);
    let me = UserAuth {
        account: t.claims.account.clone(),
        user: t.claims.sub.clone(),
        exp: t.claims.exp,
    };
    let type_id = t.def.id.clone();
    let axum::Json(_) = edit(state, &me, |layer, _| {
        match to {
            Restore::Off => layer.set(Tab::Email, &type_id, false),
            Restore::On => layer.set(Tab::Email, &type_id, true),
            Restore::Inherit => {
                if let Some(m) = layer.types.get_mut(&Tab::Email) {
                    m.remove(&type_id);
                }
            }
        }
        Ok(())
    })
    .await?;
    // Read again: the page shows what is stored now.
    let prefs = UserPrefs::load(state, &t.claims.account, &t.claims.sub).await?;
    Ok((Target { prefs, ..t }, before))
}
