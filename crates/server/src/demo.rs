//! `varsel serve --demo`: an enterprise account with a super admin, two users and a
//! team, an API key, user tokens and a welcome notification, so a newcomer sees Varsel
//! work within a minute. Seeding is idempotent: a restart reuses the same ids.

use std::collections::BTreeMap;

use varsel_core::model::{Tier, User};
use varsel_store::{Team, TeamMember};

use crate::auth::{hash_key, random_hex};
use crate::routes::tokens::issue;
use crate::state::AppState;

pub const ACCOUNT: &str = "demo";

/// What the demo prints.
pub struct DemoInfo {
    /// Set when the demo created a key (none was configured).
    pub api_key: String,
    pub admin_token: String,
    pub user_token: String,
}

fn user(
    id: &str,
    name: &str,
    email: &str,
    locale: &str,
    tz: &str,
    roles: &[&str],
    perms: &[&str],
) -> User {
    let mut flags = BTreeMap::new();
    flags.insert("visited_inbox".to_string(), serde_json::json!(true));
    User {
        account_id: ACCOUNT.into(),
        id: id.into(),
        email: email.into(),
        name: name.into(),
        locale: locale.into(),
        timezone: tz.into(),
        roles: roles.iter().map(|s| s.to_string()).collect(),
        permissions: perms.iter().map(|s| s.to_string()).collect(),
        flags,
    }
}

/// The welcome notification, one event per user so that each reads it in their own
/// language. Its link is absolute: it also arrives by email.
fn welcome(state: &AppState, now: i64) -> Vec<varsel_store::NewEvent> {
    [
        ("kari", "Velkommen til Varsel"),
        ("ola", "Welcome to Varsel"),
    ]
    .into_iter()
    .map(|(user, name)| varsel_store::NewEvent {
        id: format!("evt_{}", ulid::Ulid::new()),
        received_at: now,
        request_hash: None,
        body: varsel_store::EventBody {
            kind: "comments.mention".into(),
            account_id: ACCOUNT.into(),
            actor_id: Some("admin".into()),
            recipients: vec![user.into()],
            owner_id: None,
            team_id: None,
            object: Some(varsel_core::ObjectRef {
                kind: "comment".into(),
                id: format!("welcome-{user}"),
                name: Some(name.into()),
                url: Some(format!("{}/ui/preferences", state.config.base_url())),
            }),
            source: varsel_core::Source::Ui,
            occurred_at: now,
            idempotency_key: Some(format!("demo-welcome-{user}")),
            data: None,
        },
    })
    .collect()
}

/// Seeds the demo data and returns the credentials to print.
pub async fn seed(state: &AppState) -> anyhow::Result<DemoInfo> {
    let now = state.now();
    let store = &state.store;
    store
        .upsert_account(ACCOUNT, "Demo CRM", Tier::Enterprise, now)
        .await?;
    state.remember_account(ACCOUNT);
    let users = [
        user(
            "admin",
            "Ada Admin",
            "ada@demo.example",
            "en",
            "Europe/London",
            &["super_admin"],
            &["forms", "inbox"],
        ),
        user(
            "kari",
            "Kari Nordmann",
            "kari@demo.example",
            "nb",
            "Europe/Oslo",
            &["sales"],
            &["forms", "inbox"],
        ),
        user(
            "ola",
            "Ola Hansen",
            "ola@demo.example",
            "en",
            "America/New_York",
            &["support"],
            &["inbox"],
        ),
    ];
    for u in &users {
        store.upsert_user(u, now).await?;
    }
    let team = Team {
        account_id: ACCOUNT.into(),
        id: "support".into(),
        name: "Support".into(),
        members: vec![
            TeamMember {
                user_id: "kari".into(),
                primary: true,
            },
            TeamMember {
                user_id: "ola".into(),
                primary: false,
            },
        ],
    };
    store.upsert_team(&team, now).await?;
    let api_key = match &state.api_key {
        Some(k) => k.clone(),
        None => {
            let key = format!("vk_{}", random_hex(20));
            store.insert_api_key(&hash_key(&key), "demo", now).await?;
            key
        }
    };
    state
        .ingest
        .submit(welcome(state, now))
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let week = 7 * 24 * 3600;
    let admin_token = issue(state, ACCOUNT, "admin", week)
        .map_err(|e| anyhow::anyhow!(e.message))?
        .token;
    let user_token = issue(state, ACCOUNT, "kari", week)
        .map_err(|e| anyhow::anyhow!(e.message))?
        .token;
    Ok(DemoInfo {
        api_key,
        admin_token,
        user_token,
    })
}
