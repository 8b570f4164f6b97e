//! The input of the decision benchmark: a professional account with defaults, a user with
//! an explicit choice of their own, one open active tab, `deals.stage_changed` from
//! another user — every layer of the precedence is looked at.

use varsel_core::Catalog;
use varsel_core::decide::{
    Connections, EventFacts, Presence, RecipientDecision, RecipientFacts, decide,
};
use varsel_core::model::{ObjectRef, Source, Tab, User};
use varsel_core::prefs::{PrefContext, PrefLayer};

pub struct Input {
    catalog: Catalog,
    user: User,
    own: PrefLayer,
    account: PrefLayer,
    object: ObjectRef,
}

impl Default for Input {
    fn default() -> Self {
        Self::new()
    }
}

impl Input {
    pub fn new() -> Input {
        let mut own = PrefLayer::default();
        own.set(Tab::Email, "deals.mention", false);
        let mut account = PrefLayer::default();
        account.set(Tab::Mobile, "deals.stage_changed", true);
        Input {
            catalog: Catalog::builtin(),
            user: User {
                account_id: "bench".into(),
                id: "u1".into(),
                email: "u1@bench.test".into(),
                name: "User 1".into(),
                locale: "en".into(),
                timezone: "UTC".into(),
                roles: vec![],
                permissions: vec![],
                flags: Default::default(),
            },
            own,
            account,
            object: ObjectRef {
                kind: "deal".into(),
                id: "d1".into(),
                name: Some("Deal 1".into()),
                url: None,
            },
        }
    }

    /// One decision: every channel for one recipient.
    pub fn decide(&self) -> RecipientDecision {
        #[allow(clippy::expect_used)]
        let kind = self
            .catalog
            .get("deals.stage_changed")
            .expect("the built-in catalog has deals.stage_changed");
        let facts = EventFacts {
            kind,
            actor_id: Some("actor"),
            source: Source::Ui,
            object: Some(&self.object),
            due: false,
        };
        let r = RecipientFacts {
            user: &self.user,
            prefs: PrefContext {
                user: Some(&self.user),
                own: Some(&self.own),
                profile: None,
                account: Some(&self.account),
            },
            first_mention: true,
            presence: Presence {
                open_tabs: 1,
                active_tabs: 1,
            },
            connections: Connections::default(),
        };
        decide(&self.catalog, &facts, &r)
    }
}
