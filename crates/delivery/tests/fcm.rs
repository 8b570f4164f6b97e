//! FCM HTTP v1 against a local server that implements Google's OAuth JWT bearer grant
//! (verifying the RS256 assertion with the service account's public key) and
//! `messages:send` (verifying the access token it issued and the message JSON).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use varsel_delivery::channel::{Channel, Message, Outcome};
use varsel_delivery::fcm::{FcmClient, FcmError, ServiceAccount};
use varsel_testkit::fault::{Misbehaviour, ends, until};
use varsel_testkit::fcm::{FcmFault, FcmServer};

const DEVICE: &str = "fcm-token-AAAA:bbbb_cccc-dddd";

fn message() -> Message {
    Message {
        id: "ntf_01J.fcm".into(),
        title: "Kari assigned you a deal".into(),
        body: "Q4 plan".into(),
        url: Some("https://crm.example/deals/7".into()),
        sound: Some("chime".into()),
        badge: Some(5),
        locale: "en".into(),
    }
}

/// The client's timeout in the tests of a server that hangs or answers late.
const SHORT: Duration = Duration::from_millis(300);

async fn setup() -> (FcmServer, FcmClient) {
    setup_with(Duration::from_secs(5)).await
}

async fn setup_with(timeout: Duration) -> (FcmServer, FcmClient) {
    let server = FcmServer::start("varsel-test").await;
    let account = ServiceAccount::from_json(&server.service_account_json()).unwrap();
    let client = FcmClient::new(account, &server.base_url(), timeout).unwrap();
    (server, client)
}

#[tokio::test]
async fn message_is_sent_with_a_verified_oauth_token() {
    let (server, client) = setup().await;
    assert_eq!(
        client.deliver(&DEVICE.to_string(), &message()).await,
        Outcome::Delivered
    );
    let sent = server.sent();
    assert_eq!(sent.len(), 1);
    let m = &sent[0].message;
    assert_eq!(sent[0].project, "varsel-test");
    assert_eq!(m["token"], DEVICE);
    assert_eq!(m["notification"]["title"], "Kari assigned you a deal");
    assert_eq!(m["notification"]["body"], "Q4 plan");
    assert_eq!(m["data"]["url"], "https://crm.example/deals/7");
    assert_eq!(m["data"]["id"], "ntf_01J.fcm");
    assert_eq!(m["android"]["notification"]["sound"], "chime");
    assert_eq!(m["android"]["notification"]["notification_count"], 5);
    assert_eq!(m["apns"]["payload"]["aps"]["sound"], "chime.caf");
    assert_eq!(m["apns"]["payload"]["aps"]["badge"], 5);
    assert!(sent[0].access_token.starts_with("ya29.test-1-"));
}

#[tokio::test]
async fn the_oauth_flow_happens_once_and_the_token_is_reused() {
    let (server, client) = setup().await;
    for _ in 0..3 {
        assert_eq!(
            client.deliver(&DEVICE.to_string(), &message()).await,
            Outcome::Delivered
        );
    }
    assert_eq!(server.tokens_issued(), 1);
    let tokens: Vec<String> = server.sent().into_iter().map(|s| s.access_token).collect();
    assert_eq!(tokens.len(), 3);
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    let endpoints: Vec<String> = server.calls().into_iter().map(|c| c.endpoint).collect();
    assert_eq!(endpoints, ["token", "send", "send", "send"]);
}

#[tokio::test]
async fn concurrent_sends_share_one_token_fetch() {
    let (server, client) = setup().await;
    let client = std::sync::Arc::new(client);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let c = client.clone();
        tasks.spawn(async move { c.deliver(&DEVICE.to_string(), &message()).await });
    }
    while let Some(outcome) = tasks.join_next().await {
        assert_eq!(outcome.unwrap(), Outcome::Delivered);
    }
    assert_eq!(server.tokens_issued(), 1);
    assert_eq!(server.sent().len(), 8);
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let (server, client) = setup().await;
    assert_eq!(
        client.deliver(&DEVICE.to_string(), &message()).await,
        Outcome::Delivered
    );
    server.revoke_tokens();
    assert_eq!(
        client.deliver(&DEVICE.to_string(), &message()).await,
        Outcome::Delivered
    );
    assert_eq!(server.tokens_issued(), 2);
    let sent = server.sent();
    assert_ne!(sent[0].access_token, sent[1].access_token);
    let calls: Vec<(String, u16)> = server
        .calls()
        .into_iter()
        .map(|c| (c.endpoint, c.status))
        .collect();
    let expected = [
        ("token", 200),
        ("send", 200),
        ("send", 401),
        ("token", 200),
        ("send", 200),
    ];
    assert_eq!(calls, expected.map(|(e, s)| (e.to_string(), s)).to_vec());
}

#[tokio::test]
async fn an_expired_token_is_refreshed_before_use() {
    let (server, client) = setup().await;
    // Tokens that live 0 s are stale as soon as they arrive: every send fetches anew.
    server.set_token_lifetime(0);
    let outcome = client.deliver(&DEVICE.to_string(), &message()).await;
    // The server rejects its own expired token; the client refreshes once, then gives up.
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    assert_eq!(server.tokens_issued(), 2);
    server.set_token_lifetime(3599);
    assert_eq!(
        client.deliver(&DEVICE.to_string(), &message()).await,
        Outcome::Delivered
    );
    assert_eq!(server.tokens_issued(), 3);
}

#[tokio::test]
async fn unregistered_token_is_gone() {
    let (server, client) = setup().await;
    server.unregister(DEVICE);
    let outcome = client.deliver(&DEVICE.to_string(), &message()).await;
    assert_eq!(
        outcome,
        Outcome::Gone {
            reason: "fcm: HTTP 404 UNREGISTERED".into()
        }
    );
    assert!(server.sent().is_empty());
}

#[tokio::test]
async fn quota_exceeded_is_retried_after_the_given_time() {
    let (server, client) = setup().await;
    server.fail_next(1, FcmFault::quota_exceeded(60));
    let outcome = client.deliver(&DEVICE.to_string(), &message()).await;
    assert_eq!(
        outcome,
        Outcome::Retry {
            after: Some(Duration::from_secs(60)),
            reason: "fcm: HTTP 429 QUOTA_EXCEEDED".into()
        }
    );
    assert_eq!(
        client.deliver(&DEVICE.to_string(), &message()).await,
        Outcome::Delivered
    );
}

#[tokio::test]
async fn unavailable_and_internal_are_retried() {
    let (server, client) = setup().await;
    for code in ["UNAVAILABLE", "INTERNAL"] {
        server.fail_next(1, FcmFault::code(code));
        let outcome = client.deliver(&DEVICE.to_string(), &message()).await;
        assert!(
            matches!(outcome, Outcome::Retry { .. }),
            "{code}: {outcome:?}"
        );
    }
    assert_eq!(
        client.deliver(&DEVICE.to_string(), &message()).await,
        Outcome::Delivered
    );
    assert_eq!(server.sent().len(), 1);
}

#[tokio::test]
async fn configuration_errors_are_permanent() {
    let (server, client) = setup().await;
    for code in [
        "INVALID_ARGUMENT",
        "SENDER_ID_MISMATCH",
        "THIRD_PARTY_AUTH_ERROR",
    ] {
        server.fail_next(1, FcmFault::code(code));
        let outcome = client.deliver(&DEVICE.to_string(), &message()).await;
        assert!(
            matches!(outcome, Outcome::Permanent { .. }),
            "{code}: {outcome:?}"
        );
    }
    // THIRD_PARTY_AUTH_ERROR is a 401 that a new access token cannot fix: one request.
    let sends = server
        .calls()
        .iter()
        .filter(|c| c.endpoint == "send")
        .count();
    assert_eq!(sends, 3);
    // A real invalid argument, found by the server's checks: a token with spaces.
    let outcome = client.deliver(&"not a token".to_string(), &message()).await;
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
}

#[tokio::test]
async fn assertions_with_wrong_claims_are_refused_at_the_token_endpoint() {
    let (server, _client) = setup().await;
    let good: serde_json::Value = serde_json::from_str(&server.service_account_json()).unwrap();
    let token_uri = good["token_uri"].as_str().unwrap().to_string();
    for (field, value) in [
        // `iss` is not the service account the server knows.
        (
            "client_email",
            "someone-else@varsel-test.iam.gserviceaccount.com".to_string(),
        ),
        // `aud` is not the token endpoint's URI.
        ("token_uri", format!("{token_uri}?audience=elsewhere")),
    ] {
        let mut json = good.clone();
        json[field] = value.into();
        let account = ServiceAccount::from_json(&json.to_string()).unwrap();
        let client = FcmClient::new(account, &server.base_url(), Duration::from_secs(5)).unwrap();
        let err = client.send(DEVICE, &message()).await.unwrap_err();
        assert!(
            matches!(&err, FcmError::Auth { status: 400, error, .. } if error == "invalid_grant"),
            "{field}: {err:?}"
        );
        assert!(matches!(err.outcome(), Outcome::Permanent { .. }));
    }
    assert_eq!(server.tokens_issued(), 0);
    assert!(server.sent().is_empty());
}

#[tokio::test]
async fn token_endpoint_outage_is_retried() {
    let (server, client) = setup().await;
    server.fail_next_token(1, 503);
    let outcome = client.deliver(&DEVICE.to_string(), &message()).await;
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
    assert_eq!(
        client.deliver(&DEVICE.to_string(), &message()).await,
        Outcome::Delivered
    );
}

#[tokio::test]
async fn the_private_key_does_not_show() {
    let (server, client) = setup().await;
    let account = ServiceAccount::from_json(&server.service_account_json()).unwrap();
    assert!(!format!("{account:?}").contains("PRIVATE KEY"));
    assert!(!format!("{client:?}").contains("PRIVATE KEY"));
    assert!(ServiceAccount::from_json("{}").is_err());
    let mut bad = account.clone();
    bad.private_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".into();
    assert!(FcmClient::new(bad, &server.base_url(), Duration::from_secs(5)).is_err());
}

// FCM or its token endpoint misbehaving: each case is retried (or counted delivered),
// and the next send goes through.

#[tokio::test]
async fn a_hanging_or_resetting_fcm_is_retried() {
    let (server, client) = setup_with(SHORT).await;
    for m in [Misbehaviour::Hang, Misbehaviour::Reset] {
        server.misbehave_next(1, m.clone());
        let outcome = ends("a send to a misbehaving FCM", async {
            client.deliver(&DEVICE.to_string(), &message()).await
        })
        .await;
        let Outcome::Retry {
            after: None,
            reason,
        } = &outcome
        else {
            panic!("{m:?}: {outcome:?}")
        };
        assert!(!reason.contains(DEVICE), "{reason}");
    }
    assert!(server.sent().is_empty());
    assert_eq!(
        client.deliver(&DEVICE.to_string(), &message()).await,
        Outcome::Delivered
    );
    assert_eq!(server.sent().len(), 1);
    // One access token served every attempt.
    assert_eq!(server.tokens_issued(), 1);
}

#[tokio::test]
async fn a_slow_fcm_within_the_timeout_delivers_and_past_it_is_retried() {
    let (server, client) = setup().await;
    server.misbehave_next(1, Misbehaviour::Slow(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    assert_eq!(
        client.deliver(&DEVICE.to_string(), &message()).await,
        Outcome::Delivered
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(server.sent().len(), 1);

    // Past the timeout: retried, though FCM has the message (a retry sends it twice).
    let (server, client) = setup_with(SHORT).await;
    server.misbehave_next(1, Misbehaviour::Slow(Duration::from_secs(1)));
    let outcome = ends("a send to a slow FCM", async {
        client.deliver(&DEVICE.to_string(), &message()).await
    })
    .await;
    assert!(
        matches!(outcome, Outcome::Retry { after: None, .. }),
        "{outcome:?}"
    );
    until("FCM takes the late message", || server.sent().len() == 1).await;
}

#[tokio::test]
async fn a_200_from_messages_send_counts_as_delivered_whatever_its_body() {
    // FCM answers {"name": …}; the adapter does not require it, so a 200 from something
    // in front of FCM counts as delivered, and the message is lost.
    let (server, client) = setup().await;
    server.misbehave_next(1, Misbehaviour::InvalidBody);
    assert_eq!(client.send(DEVICE, &message()).await.unwrap(), "");
    assert!(server.sent().is_empty());
    assert_eq!(
        client.deliver(&DEVICE.to_string(), &message()).await,
        Outcome::Delivered
    );
    assert_eq!(server.sent().len(), 1);
}

#[tokio::test]
async fn a_misbehaving_token_endpoint_is_retried() {
    let (server, client) = setup_with(SHORT).await;
    for m in [
        Misbehaviour::Hang,
        Misbehaviour::Reset,
        Misbehaviour::InvalidBody,
    ] {
        server.misbehave_next_token(1, m.clone());
        let err = ends("a token fetch", client.send(DEVICE, &message()))
            .await
            .unwrap_err();
        let expected = match m {
            Misbehaviour::InvalidBody => matches!(err, FcmError::Invalid(_)),
            _ => matches!(err, FcmError::Network(_)),
        };
        assert!(expected, "{m:?}: {err:?}");
        assert!(
            matches!(err.outcome(), Outcome::Retry { after: None, .. }),
            "{m:?}: {err:?}"
        );
    }
    assert_eq!(server.tokens_issued(), 0);
    assert!(server.sent().is_empty());
    assert_eq!(
        client.deliver(&DEVICE.to_string(), &message()).await,
        Outcome::Delivered
    );
    assert_eq!(server.tokens_issued(), 1);
    assert_eq!(server.sent().len(), 1);
}
