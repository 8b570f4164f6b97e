//! The OpenAPI document, generated from the handlers and their types.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    admin, catalog, channels, directory, events, feed, ops, prefs, stream, system, tokens,
};

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Server API key"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "user_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("User token: HS256 JWT with sub (user), account, exp"))
                    .build(),
            ),
        );
    }
}

/// Adds the answers every call of a kind can give, so that each operation lists every
/// status it may answer: credentials (401, 403, and 429 once an address has failed too
/// often), bodies (400, 413, 415, 422), path ids (400, 404), query strings (400).
struct CommonAnswers;

fn error_answer(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

fn complete(path: &str, op: &mut Operation) {
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_answer(description));
    };
    let params = op.parameters.clone().unwrap_or_default();
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        add("401", "`unauthorized`: missing or invalid credential");
        add("403", "the wrong kind of credential, or missing rights");
        add(
            "429",
            "`rate_limited`: too many failed authentications from this address (see `Retry-After`)",
        );
    }
    if op.request_body.is_some() {
        add("400", "`malformed_json`: the body is not JSON");
        add("413", "`body_too_large`: the body is over the limit");
        add(
            "415",
            "`unsupported_media_type`: the body is not `application/json`",
        );
        add("422", "the body breaks a rule (the code says which)");
    }
    if params.iter().any(|p| p.parameter_in == ParameterIn::Path) || path.contains('{') {
        add("400", "`invalid_path`: a path segment is malformed");
        add(
            "404",
            "`not_found`: no such resource (or not in your account)",
        );
    }
    if params.iter().any(|p| p.parameter_in == ParameterIn::Query) {
        add("400", "`invalid_query`: a query parameter is malformed");
    }
}

impl Modify for CommonAnswers {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        for (path, item) in api.paths.paths.iter_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(path, op);
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Varsel", description = "Self-hosted user notifications: events in; bell feed, real-time stream, preferences out."),
    modifiers(&Security, &CommonAnswers),
    paths(
        directory::put_account, directory::put_user, directory::put_team,
        tokens::post_token,
        events::post_event, events::post_batch, events::get_trace,
        feed::get_feed, feed::get_unread, feed::post_read, feed::post_read_all, feed::post_seen,
        stream::get_stream, stream::post_presence,
        prefs::get_prefs, prefs::patch_prefs, prefs::turn_off_all, prefs::reset, prefs::dont_show, prefs::mute,
        admin::get_defaults, admin::put_defaults, admin::list_profiles, admin::create_profile,
        admin::update_profile, admin::delete_profile,
        catalog::get_catalog,
        channels::get_webpush_key, channels::post_device, channels::get_devices, channels::delete_device,
        channels::list_connections, channels::put_connection, channels::delete_connection,
        ops::get_outbox, ops::list_jobs, ops::get_job, ops::retry_job, ops::get_notification,
        system::healthz, system::metrics,
    )
)]
pub struct ApiDoc;
