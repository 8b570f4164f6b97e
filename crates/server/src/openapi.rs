//! The OpenAPI document, generated from the handlers and their types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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

#[derive(OpenApi)]
#[openapi(
    info(title = "Varsel", description = "Self-hosted user notifications: events in; bell feed, real-time stream, preferences out."),
    modifiers(&Security),
    paths(
        directory::put_account, directory::put_user, directory::put_team,
        tokens::post_token,
        events::post_event, events::post_batch, events::get_trace,
        feed::get_feed, feed::get_unread, feed::post_read, feed::post_read_all, feed::post_seen,
        stream::get_stream, stream::post_presence,
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
