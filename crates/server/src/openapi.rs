//! The OpenAPI document, generated from the handlers and their types.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ArrayItems, Object, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    admin, catalog, channels, directory, events, feed, links, me, ops, people, prefs, stream,
    system, tokens,
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
        add(
            "422",
            "`invalid_id`: a host id in the path is not 1–128 characters of [A-Za-z0-9._:@-]",
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

/// Writes the input rules the handlers check into the schemas, so that generated clients
/// and contract tests know them: host ids (`[A-Za-z0-9._:@-]{1,128}`) in paths and
/// bodies, the tiers, the batch size, `limit` and the job states.
struct Constraints;

const HOST_ID: &str = "^[A-Za-z0-9._:@-]{1,128}$";
/// Path parameters that are host ids.
const HOST_ID_PARAMS: [&str; 3] = ["account", "user", "team"];
/// Body fields that are host ids, or lists of them.
const HOST_ID_FIELDS: [&str; 5] = ["account_id", "user_id", "actor_id", "owner_id", "team_id"];
const HOST_ID_LISTS: [&str; 2] = ["recipients", "user_ids"];

fn host_id(o: &mut Object) {
    o.pattern = Some(HOST_ID.into());
    o.min_length = Some(1);
    o.max_length = Some(128);
}

fn enumerate(o: &mut Object, values: &[&str]) {
    o.enum_values = Some(values.iter().map(|v| serde_json::Value::from(*v)).collect());
}

fn constrain_property(name: &str, schema: &mut RefOr<Schema>) {
    match (name, schema) {
        (n, RefOr::T(Schema::Object(o))) if HOST_ID_FIELDS.contains(&n) => host_id(o),
        (n, RefOr::T(Schema::Array(a))) if HOST_ID_LISTS.contains(&n) => {
            if let ArrayItems::RefOrSchema(item) = &mut a.items
                && let RefOr::T(Schema::Object(o)) = item.as_mut()
            {
                host_id(o);
            }
        }
        ("tier", RefOr::T(Schema::Object(o))) => {
            enumerate(o, &["free", "starter", "professional", "enterprise"]);
        }
        _ => {}
    }
}

impl Modify for Constraints {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = api.components.as_mut() {
            for (name, schema) in components.schemas.iter_mut() {
                let RefOr::T(Schema::Object(o)) = schema else {
                    continue;
                };
                for (field, prop) in o.properties.iter_mut() {
                    constrain_property(field, prop);
                    if name == "BatchIn"
                        && field == "events"
                        && let RefOr::T(Schema::Array(a)) = prop
                    {
                        a.min_items = Some(1);
                        a.max_items = Some(crate::routes::events::MAX_BATCH);
                    }
                }
            }
        }
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
                for p in op.parameters.iter_mut().flatten() {
                    let Some(RefOr::T(Schema::Object(o))) = p.schema.as_mut() else {
                        continue;
                    };
                    match (p.parameter_in.clone(), p.name.as_str()) {
                        (ParameterIn::Path, n) if HOST_ID_PARAMS.contains(&n) => host_id(o),
                        (ParameterIn::Query, "limit") => {
                            o.minimum = Some(1.into());
                            o.maximum = Some(100.into());
                        }
                        (ParameterIn::Query, "state") if path == "/v1/jobs" => {
                            enumerate(o, &["dead", "scheduled", "done"]);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Varsel", description = "Self-hosted user notifications: events in; bell feed, real-time stream, preferences out."),
    modifiers(&Security, &CommonAnswers, &Constraints),
    paths(
        directory::put_account, directory::put_user, directory::put_team,
        tokens::post_token,
        events::post_event, events::post_batch, events::get_trace,
        feed::get_feed, feed::get_unread, feed::post_read, feed::post_read_all, feed::post_seen,
        feed::post_archive, feed::post_unarchive, feed::post_snooze, feed::delete_snooze,
        feed::get_members,
        stream::get_stream, stream::post_presence, stream::get_presence,
        prefs::get_prefs, prefs::patch_prefs, prefs::turn_off_all, prefs::reset, prefs::dont_show, prefs::mute,
        admin::get_defaults, admin::put_defaults, admin::patch_defaults, admin::list_profiles, admin::create_profile,
        admin::update_profile, admin::delete_profile,
        catalog::get_catalog,
        channels::get_webpush_key, channels::post_device, channels::get_devices, channels::delete_device,
        channels::list_connections, channels::put_connection, channels::delete_connection,
        ops::get_outbox, ops::list_jobs, ops::get_job, ops::retry_job, ops::get_notification,
        system::healthz, system::readyz, system::metrics,
        me::get_me, me::patch_me, people::list_users,
        links::open_settings, links::unsubscribe_page, links::unsubscribe, links::undo,
    )
)]
pub struct ApiDoc;
