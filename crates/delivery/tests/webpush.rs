//! Web Push against a local push service that holds the subscription's private key:
//! it decrypts every payload (RFC 8291 `aes128gcm`) and verifies the VAPID JWT
//! (RFC 8292) before accepting.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::Value;
use varsel_delivery::channel::{Channel, Message, Outcome};
use varsel_delivery::guard::Guard;
use varsel_delivery::webpush::{MAX_PLAINTEXT, PushSubscription, Urgency, VapidKey, WebPushClient};
use varsel_testkit::fault::{Misbehaviour, ends, until};
use varsel_testkit::push::{PushFault, PushService};

const CONTACT: &str = "mailto:ops@varsel.example";

/// The test push service listens on loopback over plain HTTP: the guard's test mode.
fn loopback() -> Guard {
    Guard::new().allow_private(true)
}

fn message() -> Message {
    Message {
        id: "ntf_01J.webpush".into(),
        title: "Kari assigned you a deal".into(),
        body: "Q4 plan — æøå".into(),
        url: Some("https://crm.example/deals/7".into()),
        sound: Some("chime".into()),
        badge: Some(2),
        locale: "nb".into(),
    }
}

/// The client's timeout in the tests of a service that hangs or answers late.
const SHORT: Duration = Duration::from_millis(300);

async fn setup() -> (PushService, WebPushClient, PushSubscription) {
    setup_with(Duration::from_secs(5)).await
}

async fn setup_with(timeout: Duration) -> (PushService, WebPushClient, PushSubscription) {
    let service = PushService::start().await;
    let key = VapidKey::generate().unwrap();
    let json = service.subscribe(key.public_key()).to_string();
    let subscription = PushSubscription::from_json(&json).unwrap();
    let client = WebPushClient::guarded(key, CONTACT, timeout, loopback()).unwrap();
    (service, client, subscription)
}

#[tokio::test]
async fn payload_is_decrypted_and_vapid_verified() {
    let (service, client, sub) = setup().await;
    let client = client
        .with_ttl(Duration::from_secs(3600))
        .with_urgency(Urgency::High);
    assert_eq!(client.deliver(&sub, &message()).await, Outcome::Delivered);

    let pushed = service.pushed();
    assert_eq!(pushed.len(), 1);
    let p = &pushed[0];
    let json = p.json();
    assert_eq!(json["title"], "Kari assigned you a deal");
    assert_eq!(json["body"], "Q4 plan — æøå");
    assert_eq!(json["url"], "https://crm.example/deals/7");
    assert_eq!(json["sound"], "chime");
    assert_eq!(json["id"], "ntf_01J.webpush");
    assert_eq!(p.ttl, 3600);
    assert_eq!(p.urgency.as_deref(), Some("high"));
    // VAPID: the audience is the endpoint's origin (with its port), the key is the
    // subscription's applicationServerKey, the contact is ours, exp ≤ 24 h.
    assert_eq!(p.vapid.aud, service.origin());
    assert_eq!(p.vapid.sub, CONTACT);
    assert_eq!(p.vapid.key, client.vapid_key().public_key());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(p.vapid.exp > now && p.vapid.exp <= now + 24 * 3600);
}

#[tokio::test]
async fn exact_bytes_survive_and_large_payloads_are_cut_to_fit() {
    let (service, client, sub) = setup().await;
    let raw = b"{\"any\":\"bytes \xc3\xa6\"}";
    client.push(&sub, raw).await.unwrap();
    let mut long = message();
    long.body = "ø".repeat(4000);
    assert_eq!(client.deliver(&sub, &long).await, Outcome::Delivered);
    let pushed = service.pushed();
    assert_eq!(pushed[0].plaintext, raw);
    assert!(pushed[1].plaintext.len() <= MAX_PLAINTEXT);
    let body = pushed[1].json()["body"].as_str().unwrap().to_string();
    assert!(body.ends_with('…') && body.starts_with("øøø"));
}

#[tokio::test]
async fn a_stored_key_still_works_and_a_foreign_key_is_refused() {
    let (service, client, sub) = setup().await;
    // Saved and loaded again (what the server does across restarts).
    let saved = client.vapid_key().private_key();
    let loaded = VapidKey::from_private_key(&saved).unwrap();
    let again =
        WebPushClient::guarded(loaded, CONTACT, Duration::from_secs(5), loopback()).unwrap();
    assert_eq!(again.deliver(&sub, &message()).await, Outcome::Delivered);
    // Another server's key: its JWT verifies, but it is not the key the browser
    // subscribed with (403 → permanent).
    let other = WebPushClient::guarded(
        VapidKey::generate().unwrap(),
        CONTACT,
        Duration::from_secs(5),
        loopback(),
    )
    .unwrap();
    let outcome = other.deliver(&sub, &message()).await;
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    let statuses: Vec<u16> = service.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [201, 403]);
}

#[tokio::test]
async fn keys_of_another_subscription_cannot_be_decrypted() {
    let (service, client, sub) = setup().await;
    // The keys of one subscription with the endpoint of another: the service cannot
    // decrypt and refuses with 400 (permanent).
    let other: Value = service.subscribe(client.vapid_key().public_key());
    let mut mixed = sub.clone();
    mixed.endpoint = other["endpoint"].as_str().unwrap().to_string();
    let outcome = client.deliver(&mixed, &message()).await;
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    assert!(service.calls()[0].reason.contains("decrypt"));
    assert!(service.pushed().is_empty());
}

#[tokio::test]
async fn rate_limit_is_retried_after_the_given_time() {
    let (service, client, sub) = setup().await;
    service.fail_next(1, PushFault::RateLimited { retry_after: 42 });
    let outcome = client.deliver(&sub, &message()).await;
    assert_eq!(
        outcome,
        Outcome::Retry {
            after: Some(Duration::from_secs(42)),
            reason: "webpush: HTTP 429".into()
        }
    );
    // The retry goes through.
    assert_eq!(client.deliver(&sub, &message()).await, Outcome::Delivered);
    assert_eq!(service.pushed().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (service, client, sub) = setup().await;
    service.fail_next(2, PushFault::Status(503));
    for _ in 0..2 {
        let outcome = client.deliver(&sub, &message()).await;
        assert!(
            matches!(outcome, Outcome::Retry { after: None, .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(client.deliver(&sub, &message()).await, Outcome::Delivered);
    assert_eq!(service.pushed().len(), 1);
}

#[tokio::test]
async fn expired_or_unknown_subscription_is_gone() {
    let (service, client, sub) = setup().await;
    service.expire(&sub.endpoint);
    assert_eq!(
        client.deliver(&sub, &message()).await,
        Outcome::Gone {
            reason: "webpush: HTTP 410".into()
        }
    );
    let json = service
        .subscribe(client.vapid_key().public_key())
        .to_string();
    let fresh = PushSubscription::from_json(&json).unwrap();
    service.fail_next(1, PushFault::Status(404));
    assert_eq!(
        client.deliver(&fresh, &message()).await,
        Outcome::Gone {
            reason: "webpush: HTTP 404".into()
        }
    );
    assert!(service.pushed().is_empty());
}

#[tokio::test]
async fn bad_requests_are_permanent() {
    let (service, client, sub) = setup().await;
    for status in [400, 401, 403, 413] {
        service.fail_next(1, PushFault::Status(status));
        let outcome = client.deliver(&sub, &message()).await;
        assert_eq!(
            outcome,
            Outcome::Permanent {
                reason: format!("webpush: HTTP {status}")
            }
        );
    }
}

#[tokio::test]
async fn an_unreachable_push_service_is_retried() {
    let (service, client, sub) = setup().await;
    drop(service);
    // Give the aborted listener a moment to close.
    tokio::task::yield_now().await;
    let outcome = client.deliver(&sub, &message()).await;
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
    if let Outcome::Retry { reason, .. } = outcome {
        assert!(!reason.contains("/push/"), "endpoint leaked: {reason}");
    }
}

// A push service that misbehaves: each case is retried (or counted delivered), and the
// next push goes through. No reason shows the endpoint.

fn assert_retried_without_the_endpoint(outcome: &Outcome, sub: &PushSubscription) {
    let Outcome::Retry {
        after: None,
        reason,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert!(!reason.contains(&sub.endpoint), "{reason}");
}

#[tokio::test]
async fn a_hanging_push_service_is_retried_after_the_timeout() {
    let (service, client, sub) = setup_with(SHORT).await;
    service.misbehave_next(1, Misbehaviour::Hang);
    let outcome = ends(
        "a push to a hanging service",
        client.deliver(&sub, &message()),
    )
    .await;
    assert_retried_without_the_endpoint(&outcome, &sub);
    assert!(service.pushed().is_empty());
    assert_eq!(client.deliver(&sub, &message()).await, Outcome::Delivered);
    assert_eq!(service.pushed().len(), 1);
}

#[tokio::test]
async fn a_reset_connection_is_retried() {
    let (service, client, sub) = setup_with(SHORT).await;
    service.misbehave_next(1, Misbehaviour::Reset);
    let outcome = ends(
        "a push to a resetting service",
        client.deliver(&sub, &message()),
    )
    .await;
    assert_retried_without_the_endpoint(&outcome, &sub);
    assert!(service.pushed().is_empty());
    assert_eq!(client.deliver(&sub, &message()).await, Outcome::Delivered);
    assert_eq!(service.pushed().len(), 1);
}

#[tokio::test]
async fn a_slow_push_service_within_the_timeout_delivers_and_past_it_is_retried() {
    let (service, client, sub) = setup().await;
    service.misbehave_next(1, Misbehaviour::Slow(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    assert_eq!(client.deliver(&sub, &message()).await, Outcome::Delivered);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(service.pushed().len(), 1);

    // Past the timeout: retried, though the service has the push (a retry shows it twice;
    // the service worker can tell by the id).
    let (service, client, sub) = setup_with(SHORT).await;
    service.misbehave_next(1, Misbehaviour::Slow(Duration::from_secs(1)));
    let outcome = ends("a push to a slow service", client.deliver(&sub, &message())).await;
    assert_retried_without_the_endpoint(&outcome, &sub);
    until("the service takes the late push", || {
        service.pushed().len() == 1
    })
    .await;
}

#[tokio::test]
async fn any_2xx_counts_as_delivered_whatever_its_body() {
    // Push services answer 201 with no body, and the adapter reads none: a 200 from
    // something in front of the push service counts as delivered, and the push is lost.
    let (service, client, sub) = setup().await;
    service.misbehave_next(1, Misbehaviour::InvalidBody);
    assert_eq!(client.deliver(&sub, &message()).await, Outcome::Delivered);
    assert!(service.pushed().is_empty());
    assert_eq!(service.calls().len(), 0);
    assert_eq!(client.deliver(&sub, &message()).await, Outcome::Delivered);
    assert_eq!(service.pushed().len(), 1);
}
