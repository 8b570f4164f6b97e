//! Signed links in emails: "change your settings" and one-click unsubscribe.
//!
//! A link token is an HS256 JWT scoped to one user of one account and one purpose
//! (`settings`, or `unsubscribe` with the notification type). It expires after
//! `link_ttl_days`. The key is not the user-token secret: it is generated on first
//! start and kept in the database (`server_keys`), so links keep working across
//! restarts and on every node even when the token secret is random per run, and a link
//! token is never accepted as a user token (nor the other way round).

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use varsel_core::Catalog;
use varsel_core::model::{Tab, User, valid_host_id};
use varsel_store::Store;

use crate::auth::random_hex;

/// The name of the link key in `server_keys`.
const LINK_KEY: &str = "link_hs256";

/// What a link may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Open the user's settings page, signed in.
    Settings,
    /// Turn the user's email for one type off (and, from the confirmation page, on again).
    Unsubscribe,
}

/// The claims of a link token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    pub sub: String,
    pub account: String,
    pub purpose: Purpose,
    /// The notification type (unsubscribe: always; settings: the type to scroll to).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<String>,
    pub exp: i64,
    pub iat: i64,
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link is not valid")]
    Invalid,
    #[error("this link has expired")]
    Expired,
}

/// Signs and checks link tokens.
pub struct Links {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_seconds: i64,
}

/// The links of one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailLinks {
    /// Opens the recipient's settings, signed in (at the type, when there is one).
    pub settings: String,
    /// One-click unsubscribe from the type's email: absent for mandatory types and for
    /// emails that belong to no type (the defaults-changed notice).
    pub unsubscribe: Option<String>,
}

impl Links {
    pub fn new(secret: &[u8], ttl_days: i64) -> Links {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Expiry is checked against Varsel's clock (see `verify`).
        validation.validate_exp = false;
        Links {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_seconds: ttl_days * 24 * 3600,
        }
    }

    /// The key from the database (made and stored by the first node that starts).
    pub async fn load(store: &dyn Store, ttl_days: i64, now_ms: i64) -> anyhow::Result<Links> {
        let key = store
            .server_key(LINK_KEY, &random_hex(32), now_ms)
            .await
            .context("loading the email link key")?;
        Ok(Links::new(key.as_bytes(), ttl_days))
    }

    /// A signed token for `purpose`, valid from `now_s` for `link_ttl_days`.
    pub fn sign(
        &self,
        account: &str,
        user: &str,
        purpose: Purpose,
        type_id: Option<&str>,
        now_s: i64,
    ) -> String {
        let claims = LinkClaims {
            sub: user.into(),
            account: account.into(),
            purpose,
            type_id: type_id.map(str::to_string),
            exp: now_s + self.ttl_seconds,
            iat: now_s,
        };
        // Encoding claims of plain strings and numbers with an HMAC key cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Checks the signature, the purpose and the expiry at `now_s`.
    pub fn verify(
        &self,
        token: &str,
        purpose: Purpose,
        now_s: i64,
    ) -> Result<LinkClaims, LinkError> {
        let claims = jsonwebtoken::decode::<LinkClaims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|_| LinkError::Invalid)?;
        if claims.purpose != purpose
            || !valid_host_id(&claims.sub)
            || !valid_host_id(&claims.account)
            || (purpose == Purpose::Unsubscribe && claims.type_id.is_none())
        {
            return Err(LinkError::Invalid);
        }
        if claims.exp < now_s {
            return Err(LinkError::Expired);
        }
        Ok(claims)
    }

    /// The absolute URL that opens the settings page signed in.
    pub fn settings_url(&self, base: &str, claims: &LinkClaims, now_s: i64) -> String {
        let token = self.sign(
            &claims.account,
            &claims.sub,
            Purpose::Settings,
            claims.type_id.as_deref(),
            now_s,
        );
        format!("{base}/email/settings/{token}")
    }

    /// The links for an email of `type_id` (a catalog type, or a kind such as
    /// `defaults_changed`) to `user`.
    pub fn for_email(
        &self,
        base: &str,
        catalog: &Catalog,
        user: &User,
        type_id: &str,
        now_s: i64,
    ) -> EmailLinks {
        let t = catalog.get(type_id).filter(|t| t.allows(Tab::Email));
        let settings = self.sign(
            &user.account_id,
            &user.id,
            Purpose::Settings,
            t.map(|t| t.id.as_str()),
            now_s,
        );
        let unsubscribe = t.filter(|t| !t.mandatory).map(|t| {
            let token = self.sign(
                &user.account_id,
                &user.id,
                Purpose::Unsubscribe,
                Some(&t.id),
                now_s,
            );
            format!("{base}/email/unsubscribe/{token}")
        });
        EmailLinks {
            settings: format!("{base}/email/settings/{settings}"),
            unsubscribe,
        }
    }
}

/// The links of an email of `type_id` to `user`, at this server's public URL.
pub fn email_links(state: &crate::state::AppState, user: &User, type_id: &str) -> EmailLinks {
    state.links.for_email(
        &state.config.base_url(),
        &state.catalog,
        user,
        type_id,
        state.now() / 1000,
    )
}

impl EmailLinks {
    /// Puts the links into an email's template context: `preferences_url` (the footer's
    /// "change your settings") and `unsubscribe_url`.
    pub fn add_to(&self, ctx: &mut serde_json::Value) {
        if let Some(map) = ctx.as_object_mut() {
            map.insert("preferences_url".into(), self.settings.clone().into());
            map.insert(
                "unsubscribe_url".into(),
                self.unsubscribe
                    .clone()
                    .map_or(serde_json::Value::Null, Into::into),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kari() -> User {
        User {
            account_id: "acme".into(),
            id: "kari".into(),
            email: "kari@example.no".into(),
            name: "Kari".into(),
            locale: "nb".into(),
            timezone: "Europe/Oslo".into(),
            roles: vec![],
            permissions: vec![],
            flags: Default::default(),
        }
    }

    fn token_of(url: &str) -> &str {
        url.rsplit('/').next().unwrap()
    }

    #[test]
    fn a_link_is_scoped_to_its_user_purpose_and_type() {
        let links = Links::new(b"0123456789abcdef0123456789abcdef", 30);
        let cat = Catalog::builtin();
        let l = links.for_email("https://v.example", &cat, &kari(), "deals.mention", 1000);
        assert!(l.settings.starts_with("https://v.example/email/settings/"));
        let unsub = l.unsubscribe.unwrap();
        assert!(unsub.starts_with("https://v.example/email/unsubscribe/"));
        let c = links
            .verify(token_of(&unsub), Purpose::Unsubscribe, 1000)
            .unwrap();
        assert_eq!((c.account.as_str(), c.sub.as_str()), ("acme", "kari"));
        assert_eq!(c.type_id.as_deref(), Some("deals.mention"));
        // A settings token does not unsubscribe, and the other way round.
        assert_eq!(
            links.verify(token_of(&l.settings), Purpose::Unsubscribe, 1000),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            links.verify(token_of(&unsub), Purpose::Settings, 1000),
            Err(LinkError::Invalid)
        );
        // Another key, a changed token, an expired one.
        let other = Links::new(b"another-key-0123456789abcdef01234", 30);
        assert_eq!(
            other.verify(token_of(&unsub), Purpose::Unsubscribe, 1000),
            Err(LinkError::Invalid)
        );
        let mut bad = token_of(&unsub).to_string();
        bad.pop();
        assert_eq!(
            links.verify(&bad, Purpose::Unsubscribe, 1000),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            links.verify(token_of(&unsub), Purpose::Unsubscribe, 1000 + 31 * 86400),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn mandatory_types_and_notices_have_no_unsubscribe_link() {
        let links = Links::new(b"0123456789abcdef0123456789abcdef", 30);
        let cat = Catalog::builtin();
        for kind in ["account.billing", "defaults_changed"] {
            let l = links.for_email("http://x", &cat, &kari(), kind, 0);
            assert_eq!(l.unsubscribe, None, "{kind}");
            let c = links
                .verify(token_of(&l.settings), Purpose::Settings, 0)
                .unwrap();
            assert_eq!(
                c.type_id.is_some(),
                kind == "account.billing",
                "{kind}: {c:?}"
            );
        }
    }
}
