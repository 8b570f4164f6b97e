//! APNs against a local HTTP/2-only server that verifies the ES256 provider token with
//! the key's public half, the `apns-*` headers and the payload.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use varsel_delivery::apns::{ApnsClient, ApnsDevice, ApnsError, ApnsKey, apns_id};
use varsel_delivery::channel::{Channel, Message, Outcome};
use varsel_testkit::apns::{ApnsFault, ApnsServer, generate_key};
use varsel_testkit::fault::{Misbehaviour, ends, until};

const TEAM: &str = "TEAM123456";
const KEY_ID: &str = "KEY7654321";
const TOPIC: &str = "com.example.crm";

fn device() -> ApnsDevice {
    ApnsDevice::new("a1b2c3d4".repeat(8))
}

fn message() -> Message {
    Message {
        id: "ntf_01J.apns".into(),
        title: "Kari assigned you a deal".into(),
        body: "Q4 plan — æøå".into(),
        url: Some("https://crm.example/deals/7".into()),
        sound: Some("chime".into()),
        badge: Some(3),
        locale: "en".into(),
    }
}

/// The client's timeout in the tests of a server that hangs or answers late.
const SHORT: Duration = Duration::from_millis(300);

async fn setup() -> (ApnsServer, ApnsClient) {
    setup_with(Duration::from_secs(5)).await
}

async fn setup_with(timeout: Duration) -> (ApnsServer, ApnsClient) {
    let (pem, public) = generate_key();
    let server = ApnsServer::start(TEAM, KEY_ID, TOPIC, public).await;
    let key = ApnsKey::from_p8(&pem, KEY_ID, TEAM).unwrap();
    let client = ApnsClient::new(key, TOPIC, &server.base_url(), timeout).unwrap();
    (server, client)
}

#[tokio::test]
async fn notification_is_delivered_over_http2_with_a_verified_token() {
    let (server, client) = setup().await;
    assert_eq!(
        client.deliver(&device(), &message()).await,
        Outcome::Delivered
    );
    let got = server.accepted();
    assert_eq!(got.len(), 1);
    let n = &got[0];
    assert_eq!(n.version, "HTTP/2.0");
    assert_eq!(n.device, device().token);
    assert_eq!(n.topic, TOPIC);
    assert_eq!(n.push_type, "alert");
    assert_eq!(n.priority, Some(10));
    assert_eq!(n.apns_id.as_deref(), Some(apns_id("ntf_01J.apns").as_str()));
    assert_eq!(n.team_id, TEAM);
    assert_eq!(
        n.payload["aps"]["alert"]["title"],
        "Kari assigned you a deal"
    );
    assert_eq!(n.payload["aps"]["alert"]["body"], "Q4 plan — æøå");
    assert_eq!(n.payload["aps"]["badge"], 3);
    assert_eq!(n.payload["aps"]["sound"], "chime.caf");
    assert_eq!(n.payload["url"], "https://crm.example/deals/7");
}

#[tokio::test]
async fn the_provider_token_is_reused_and_options_reach_apns() {
    let (server, client) = setup().await;
    let client = client
        .with_priority(5)
        .with_expiration(Duration::from_secs(3600));
    let mut silent = message();
    silent.sound = Some("none".into());
    silent.badge = None;
    for _ in 0..3 {
        assert_eq!(client.deliver(&device(), &silent).await, Outcome::Delivered);
    }
    let got = server.accepted();
    assert!(
        got.iter()
            .all(|n| n.provider_token == got[0].provider_token)
    );
    assert_eq!(got[0].priority, Some(5));
    assert!(got[0].expiration.unwrap() > got[0].iat);
    assert!(got[0].payload["aps"].get("sound").is_none());
    assert!(got[0].payload["aps"].get("badge").is_none());
}

#[tokio::test]
async fn another_apps_devices_use_their_topic() {
    let (server, client) = setup().await;
    let mut other = device();
    other.topic = Some("com.example.other".into());
    let outcome = client.deliver(&other, &message()).await;
    // This server only serves com.example.crm: DeviceTokenNotForTopic is permanent.
    assert_eq!(
        outcome,
        Outcome::Permanent {
            reason: "apns: HTTP 400 DeviceTokenNotForTopic".into()
        }
    );
    assert_eq!(server.calls()[0].reason, "DeviceTokenNotForTopic");
}

#[tokio::test]
async fn a_key_apns_does_not_know_is_refused() {
    let (server, _client) = setup().await;
    let (other_pem, _) = generate_key();
    let wrong = ApnsKey::from_p8(&other_pem, KEY_ID, TEAM).unwrap();
    let client = ApnsClient::new(wrong, TOPIC, &server.base_url(), Duration::from_secs(5)).unwrap();
    let outcome = client.deliver(&device(), &message()).await;
    assert_eq!(
        outcome,
        Outcome::Permanent {
            reason: "apns: HTTP 403 InvalidProviderToken".into()
        }
    );
    // One renewal was tried, then it gave up.
    let reasons: Vec<String> = server.calls().into_iter().map(|c| c.reason).collect();
    assert_eq!(reasons, ["InvalidProviderToken", "InvalidProviderToken"]);
    assert!(server.accepted().is_empty());
}

#[tokio::test]
async fn an_expired_provider_token_is_renewed_and_retried_once() {
    let (server, client) = setup().await;
    server.fail_next(1, ApnsFault::new(403, "ExpiredProviderToken"));
    assert_eq!(
        client.deliver(&device(), &message()).await,
        Outcome::Delivered
    );
    let statuses: Vec<u16> = server.calls().into_iter().map(|c| c.status).collect();
    assert_eq!(statuses, [403, 200]);
    // Twice in a row: give up.
    server.fail_next(2, ApnsFault::new(403, "ExpiredProviderToken"));
    let outcome = client.deliver(&device(), &message()).await;
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    assert_eq!(server.calls().len(), 4);
}

#[tokio::test]
async fn unregistered_and_bad_device_tokens_are_gone() {
    let (server, client) = setup().await;
    server.unregister(&device().token);
    assert_eq!(
        client.deliver(&device(), &message()).await,
        Outcome::Gone {
            reason: "apns: HTTP 410 Unregistered".into()
        }
    );
    // A token APNs does not accept for this app (hex, but not a device's).
    let short = ApnsDevice::new("ab".repeat(40));
    server.fail_next(1, ApnsFault::new(400, "BadDeviceToken"));
    assert_eq!(
        client.deliver(&short, &message()).await,
        Outcome::Gone {
            reason: "apns: HTTP 400 BadDeviceToken".into()
        }
    );
    // Not hex at all: never sent.
    let garbage = ApnsDevice::new("../../3/device/".to_string() + &"a".repeat(64));
    let err = client.send(&garbage, &message()).await.unwrap_err();
    assert_eq!(err, ApnsError::BadToken);
    assert_eq!(server.calls().len(), 2);
}

#[tokio::test]
async fn too_many_requests_is_retried_after_the_given_time() {
    let (server, client) = setup().await;
    server.fail_next(1, ApnsFault::too_many_requests(15));
    assert_eq!(
        client.deliver(&device(), &message()).await,
        Outcome::Retry {
            after: Some(Duration::from_secs(15)),
            reason: "apns: HTTP 429 TooManyRequests".into()
        }
    );
    assert_eq!(
        client.deliver(&device(), &message()).await,
        Outcome::Delivered
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_other_400s_are_permanent() {
    let (server, client) = setup().await;
    for (status, reason) in [(500, "InternalServerError"), (503, "ServiceUnavailable")] {
        server.fail_next(1, ApnsFault::new(status, reason));
        let outcome = client.deliver(&device(), &message()).await;
        assert!(
            matches!(outcome, Outcome::Retry { .. }),
            "{reason}: {outcome:?}"
        );
    }
    assert_eq!(
        client.deliver(&device(), &message()).await,
        Outcome::Delivered
    );
    assert_eq!(server.accepted().len(), 1);
    for (status, reason) in [(400, "BadTopic"), (413, "PayloadTooLarge")] {
        server.fail_next(1, ApnsFault::new(status, reason));
        let outcome = client.deliver(&device(), &message()).await;
        assert!(
            matches!(outcome, Outcome::Permanent { .. }),
            "{reason}: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn the_server_speaks_only_http2() {
    let (server, _client) = setup().await;
    let http1 = reqwest::Client::builder().http1_only().build().unwrap();
    let url = format!("{}/3/device/{}", server.base_url(), device().token);
    let result = http1.post(&url).body("{}").send().await;
    assert!(result.is_err(), "an HTTP/1.1 request got {result:?}");
    assert!(server.calls().is_empty());
}

#[tokio::test]
async fn large_bodies_are_cut_to_fit_and_secrets_do_not_show() {
    let (server, client) = setup().await;
    let mut long = message();
    long.body = "ø".repeat(5000);
    assert_eq!(client.deliver(&device(), &long).await, Outcome::Delivered);
    let body = server.accepted()[0].payload["aps"]["alert"]["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(body.ends_with('…'));
    assert!(!format!("{client:?}").contains("PRIVATE"));
    assert!(!format!("{:?}", device()).contains("a1b2"));
    assert!(ApnsKey::from_p8("not a key", KEY_ID, TEAM).is_err());
}

// APNs misbehaving: each case is retried (or counted delivered), and the next send goes
// through (after a reset, on a new HTTP/2 connection).

#[tokio::test]
async fn a_hanging_apns_is_retried_after_the_timeout() {
    let (server, client) = setup_with(SHORT).await;
    server.misbehave_next(1, Misbehaviour::Hang);
    let outcome = ends(
        "a send to a hanging APNs",
        client.deliver(&device(), &message()),
    )
    .await;
    let Outcome::Retry {
        after: None,
        reason,
    } = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert!(!reason.contains(&device().token), "{reason}");
    assert!(server.accepted().is_empty());
    assert_eq!(
        client.deliver(&device(), &message()).await,
        Outcome::Delivered
    );
    assert_eq!(server.accepted().len(), 1);
}

#[tokio::test]
async fn a_reset_connection_is_retried_and_the_next_send_goes_through() {
    let (server, client) = setup_with(SHORT).await;
    assert_eq!(
        client.deliver(&device(), &message()).await,
        Outcome::Delivered
    );
    server.misbehave_next(1, Misbehaviour::Reset);
    let err = ends(
        "a send to a resetting APNs",
        client.send(&device(), &message()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ApnsError::Network(_)), "{err:?}");
    assert!(matches!(err.outcome(), Outcome::Retry { after: None, .. }));
    assert_eq!(
        client.deliver(&device(), &message()).await,
        Outcome::Delivered
    );
    assert_eq!(server.accepted().len(), 2);
}

#[tokio::test]
async fn a_slow_apns_within_the_timeout_delivers_and_past_it_is_retried() {
    let (server, client) = setup().await;
    server.misbehave_next(1, Misbehaviour::Slow(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    assert_eq!(
        client.deliver(&device(), &message()).await,
        Outcome::Delivered
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(server.accepted().len(), 1);

    // Past the timeout: retried, though APNs has it (the retry carries the same apns-id).
    let (server, client) = setup_with(SHORT).await;
    server.misbehave_next(1, Misbehaviour::Slow(Duration::from_secs(1)));
    let outcome = ends(
        "a send to a slow APNs",
        client.deliver(&device(), &message()),
    )
    .await;
    assert!(
        matches!(outcome, Outcome::Retry { after: None, .. }),
        "{outcome:?}"
    );
    until("APNs takes the late notification", || {
        server.accepted().len() == 1
    })
    .await;
}

#[tokio::test]
async fn a_200_counts_as_delivered_whatever_its_body() {
    // APNs answers 200 with no body, and the adapter reads none: a 200 from something in
    // front of APNs counts as delivered, and the notification is lost.
    let (server, client) = setup().await;
    server.misbehave_next(1, Misbehaviour::InvalidBody);
    assert_eq!(
        client.deliver(&device(), &message()).await,
        Outcome::Delivered
    );
    assert!(server.accepted().is_empty());
    assert_eq!(
        client.deliver(&device(), &message()).await,
        Outcome::Delivered
    );
    assert_eq!(server.accepted().len(), 1);
}
