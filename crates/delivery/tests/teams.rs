//! The Teams adapter against a local workflow webhook that checks the envelope and the
//! Adaptive Card.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use varsel_delivery::channel::{Channel, Message, Outcome};
use varsel_delivery::guard::Guard;
use varsel_delivery::teams::{TeamsClient, TeamsTarget, TeamsWebhookUrl};
use varsel_testkit::fault::{INVALID_BODY, Misbehaviour, ends, until};
use varsel_testkit::teams::{TeamsFault, TeamsServer};

/// The test webhook listens on loopback over plain HTTP: the guard's test mode.
fn loopback() -> Guard {
    Guard::new().allow_private(true)
}

/// The client's timeout in the tests of a server that hangs or answers late.
const SHORT: Duration = Duration::from_millis(300);

async fn setup() -> (TeamsServer, TeamsClient, TeamsTarget) {
    setup_with(Duration::from_secs(5)).await
}

async fn setup_with(timeout: Duration) -> (TeamsServer, TeamsClient, TeamsTarget) {
    let server = TeamsServer::start().await;
    let client = TeamsClient::guarded(timeout, loopback()).unwrap();
    let target = TeamsTarget {
        webhook: TeamsWebhookUrl::new(server.url()),
        recipient_email: "kari@example.com".into(),
    };
    (server, client, target)
}

fn message(locale: &str) -> Message {
    Message {
        id: "ntf_01J.teams".into(),
        title: "Kari mentioned you".into(),
        body: "Q4 plan — æøå".into(),
        url: Some("https://crm.example/deals/7".into()),
        sound: None,
        badge: None,
        locale: locale.into(),
    }
}

#[tokio::test]
async fn card_is_delivered_in_english() {
    let (server, client, target) = setup().await;
    assert_eq!(
        client.deliver(&target, &message("en")).await,
        Outcome::Delivered
    );
    let cards = server.cards();
    assert_eq!(cards.len(), 1);
    let c = &cards[0];
    assert_eq!(c.recipient, "kari@example.com");
    assert_eq!(c.body["type"], "message");
    assert_eq!(
        c.body["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(c.card["type"], "AdaptiveCard");
    assert_eq!(c.card["version"], "1.4");
    assert_eq!(c.texts(), ["Kari mentioned you", "Q4 plan — æøå"]);
    assert_eq!(c.card["body"][0]["weight"], "Bolder");
    assert_eq!(c.card["body"][0]["wrap"], true);
    assert_eq!(c.card["body"][1]["wrap"], true);
    assert_eq!(
        c.open_url(),
        Some(("Open".into(), "https://crm.example/deals/7".into()))
    );
}

#[tokio::test]
async fn card_is_delivered_in_norwegian_and_without_a_url() {
    let (server, client, target) = setup().await;
    assert_eq!(
        client.deliver(&target, &message("nb")).await,
        Outcome::Delivered
    );
    let mut m = message("nb");
    m.url = None;
    assert_eq!(client.deliver(&target, &m).await, Outcome::Delivered);
    let cards = server.cards();
    assert_eq!(cards[0].open_url().map(|(t, _)| t).as_deref(), Some("Åpne"));
    assert_eq!(cards[1].open_url(), None);
}

#[tokio::test]
async fn throttling_is_retried_after_the_given_time() {
    let (server, client, target) = setup().await;
    server.fail_next(1, TeamsFault::Throttled { retry_after: 17 });
    let outcome = client.deliver(&target, &message("en")).await;
    assert!(
        matches!(outcome, Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(17)),
        "{outcome:?}"
    );
    assert_eq!(
        client.deliver(&target, &message("en")).await,
        Outcome::Delivered
    );
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (server, client, target) = setup().await;
    for status in [500, 502, 503] {
        server.fail_next(1, TeamsFault::Status(status));
        let outcome = client.deliver(&target, &message("en")).await;
        assert!(
            matches!(outcome, Outcome::Retry { after: None, .. }),
            "{outcome:?}"
        );
    }
    assert!(server.cards().is_empty());
    assert_eq!(
        client.deliver(&target, &message("en")).await,
        Outcome::Delivered
    );
    assert_eq!(server.cards().len(), 1);
}

#[tokio::test]
async fn rejected_requests_and_broken_connections_are_permanent() {
    let (server, client, target) = setup().await;
    server.fail_next(1, TeamsFault::Status(400));
    let outcome = client.deliver(&target, &message("en")).await;
    assert_eq!(
        outcome,
        Outcome::permanent("teams: request rejected (HTTP 400) (Injected400)")
    );
    for status in [404, 410] {
        server.fail_next(1, TeamsFault::Status(status));
        let outcome = client.deliver(&target, &message("en")).await;
        assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    }

    // A wrong signature and a deleted workflow, as the real trigger answers them.
    let bad_sig = TeamsTarget {
        webhook: TeamsWebhookUrl::new(
            server.url_with(varsel_testkit::teams::WORKFLOW_ID, "forged"),
        ),
        ..target.clone()
    };
    let outcome = client.deliver(&bad_sig, &message("en")).await;
    let Outcome::Permanent { reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains("HTTP 401") && reason.contains("connection broken"),
        "{reason}"
    );
    assert!(
        !reason.contains("forged") && !reason.contains("127.0.0.1"),
        "{reason}"
    );

    let gone = TeamsTarget {
        webhook: TeamsWebhookUrl::new(server.url_with("deleted", "x")),
        ..target.clone()
    };
    assert!(matches!(
        client.deliver(&gone, &message("en")).await,
        Outcome::Permanent { .. }
    ));
    assert!(server.cards().is_empty());
}

#[tokio::test]
async fn the_server_rejects_a_broken_card() {
    let (server, _client, _target) = setup().await;
    let resp = reqwest::Client::new()
        .post(server.url())
        .json(&serde_json::json!({
            "type": "message", "recipient": "kari@example.com",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
                "content": {"type": "AdaptiveCard", "version": "1.6", "body": []}}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TriggerInputSchemaMismatch");
    assert!(server.cards().is_empty());
}

#[tokio::test]
async fn a_webhook_that_is_not_http_is_permanent() {
    let client = TeamsClient::guarded(Duration::from_secs(1), loopback()).unwrap();
    let target = TeamsTarget {
        webhook: TeamsWebhookUrl::new("not a url"),
        recipient_email: "kari@example.com".into(),
    };
    assert!(matches!(
        client.deliver(&target, &message("en")).await,
        Outcome::Permanent { .. }
    ));
}

/// Outside test mode the webhook's internal address is refused before any request (the
/// resolver that drops internal addresses of host names is tested in `guard.rs`).
#[tokio::test]
async fn a_guarded_client_never_reaches_an_internal_address() {
    let server = TeamsServer::start().await;
    let strict = TeamsClient::guarded(Duration::from_secs(5), Guard::new()).unwrap();
    for url in [
        server.url(),
        server.url().replace("http://", "https://"),
        server
            .url()
            .replace("http://127.0.0.1", "https://0x7f000001"),
    ] {
        let target = TeamsTarget {
            webhook: TeamsWebhookUrl::new(url),
            recipient_email: "kari@example.com".into(),
        };
        let outcome = strict.deliver(&target, &message("en")).await;
        assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    }
    assert!(server.cards().is_empty());
}

// A workflow that misbehaves: each case is retried (or counted delivered), and the next
// send goes through. No reason shows the webhook URL.

fn assert_retried_without_the_url(outcome: &Outcome) {
    let Outcome::Retry {
        after: None,
        reason,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert!(
        !reason.contains("sig") && !reason.contains("workflows"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_hanging_workflow_is_retried_after_the_timeout() {
    let (server, client, target) = setup_with(SHORT).await;
    server.misbehave_next(1, Misbehaviour::Hang);
    let outcome = ends("a send to a hanging workflow", async {
        client.deliver(&target, &message("en")).await
    })
    .await;
    assert_retried_without_the_url(&outcome);
    assert!(server.cards().is_empty());
    assert_eq!(
        client.deliver(&target, &message("en")).await,
        Outcome::Delivered
    );
    assert_eq!(server.cards().len(), 1);
}

#[tokio::test]
async fn a_reset_connection_is_retried() {
    let (server, client, target) = setup_with(SHORT).await;
    server.misbehave_next(1, Misbehaviour::Reset);
    let outcome = ends("a send to a resetting workflow", async {
        client.deliver(&target, &message("en")).await
    })
    .await;
    assert_retried_without_the_url(&outcome);
    assert!(server.cards().is_empty());
    assert_eq!(
        client.deliver(&target, &message("en")).await,
        Outcome::Delivered
    );
    assert_eq!(server.cards().len(), 1);
}

#[tokio::test]
async fn a_slow_workflow_within_the_timeout_delivers_and_past_it_is_retried() {
    let (server, client, target) = setup().await;
    server.misbehave_next(1, Misbehaviour::Slow(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    assert_eq!(
        client.deliver(&target, &message("en")).await,
        Outcome::Delivered
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(server.cards().len(), 1);

    // Past the timeout: retried, though the workflow has the card (a retry posts it twice).
    let (server, client, target) = setup_with(SHORT).await;
    server.misbehave_next(1, Misbehaviour::Slow(Duration::from_secs(1)));
    let outcome = ends("a send to a slow workflow", async {
        client.deliver(&target, &message("en")).await
    })
    .await;
    assert_retried_without_the_url(&outcome);
    until("the workflow takes the late card", || {
        server.cards().len() == 1
    })
    .await;
}

#[tokio::test]
async fn any_2xx_counts_as_delivered_whatever_its_body() {
    // The adapter does not read the body of a 2xx (the trigger answers 202 with none), so
    // a 200 from something in front of the workflow counts as delivered, and the card is
    // lost.
    let (server, client, target) = setup().await;
    server.misbehave_next(1, Misbehaviour::InvalidBody);
    let answer = reqwest::Client::new()
        .post(server.url())
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), INVALID_BODY);
    server.misbehave_next(1, Misbehaviour::InvalidBody);
    assert_eq!(
        client.deliver(&target, &message("en")).await,
        Outcome::Delivered
    );
    assert!(server.cards().is_empty());
    assert_eq!(
        client.deliver(&target, &message("en")).await,
        Outcome::Delivered
    );
    assert_eq!(server.cards().len(), 1);
}
