//! The Slack adapter against a local server that speaks the Web API and checks the token
//! and the Block Kit JSON.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use varsel_delivery::channel::{Channel, Message, Outcome};
use varsel_delivery::slack::{SlackClient, SlackError, SlackTarget, SlackToken};
use varsel_testkit::fault::{Misbehaviour, ends, until};
use varsel_testkit::slack::{SlackFault, SlackServer};

const TOKEN: &str = "xoxb-1111-2222-testtoken";

/// The client's timeout in the tests of a server that hangs or answers late.
const SHORT: Duration = Duration::from_millis(300);

async fn setup() -> (SlackServer, SlackClient) {
    setup_with(Duration::from_secs(5)).await
}

async fn setup_with(timeout: Duration) -> (SlackServer, SlackClient) {
    let server = SlackServer::start(TOKEN).await;
    server.add_user("kari@example.com", "U0KARI");
    server.add_user("ola@example.com", "U0OLA");
    let client = SlackClient::new(&server.base_url(), timeout).unwrap();
    (server, client)
}

fn token() -> SlackToken {
    SlackToken::new(TOKEN)
}

fn target(user: &str) -> SlackTarget {
    SlackTarget {
        token: token(),
        user_id: user.into(),
    }
}

fn message(locale: &str) -> Message {
    Message {
        id: "ntf_01J.slack".into(),
        title: "Kari mentioned you".into(),
        body: "Q4 plan — æøå <b>".into(),
        url: Some("https://crm.example/deals/7".into()),
        sound: Some("chime".into()),
        badge: Some(3),
        locale: locale.into(),
    }
}

#[tokio::test]
async fn lookup_finds_the_user_by_email() {
    let (server, client) = setup().await;
    let found = client.lookup_by_email(&token(), "Kari@Example.com").await;
    assert_eq!(found, Ok(Some("U0KARI".into())));
    let missing = client.lookup_by_email(&token(), "nobody@example.com").await;
    assert_eq!(missing, Ok(None));
    server.deactivate("ola@example.com");
    assert_eq!(
        client.lookup_by_email(&token(), "ola@example.com").await,
        Ok(None)
    );
    let answers: Vec<String> = server.calls().into_iter().map(|c| c.answer).collect();
    assert_eq!(answers, ["ok", "users_not_found", "ok"]);
}

#[tokio::test]
async fn lookup_with_a_bad_token_is_an_error() {
    let (_server, client) = setup().await;
    let err = client
        .lookup_by_email(&SlackToken::new("xoxb-wrong"), "kari@example.com")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_auth"));
    assert!(matches!(err.outcome(), Outcome::Permanent { .. }));
    assert!(!err.to_string().contains("xoxb"));
}

#[tokio::test]
async fn english_message_is_delivered_with_blocks() {
    let (server, client) = setup().await;
    let outcome = client.deliver(&target("U0KARI"), &message("en")).await;
    assert_eq!(outcome, Outcome::Delivered);
    let posted = server.messages();
    assert_eq!(posted.len(), 1);
    let m = &posted[0];
    assert_eq!(m.channel, "U0KARI");
    assert_eq!(m.block_types(), ["header", "section", "actions"]);
    assert_eq!(m.blocks[0]["text"]["text"], "Kari mentioned you");
    assert_eq!(m.blocks[1]["text"]["text"], "Q4 plan — æøå <b>");
    assert_eq!(m.button_label().as_deref(), Some("Open"));
    assert_eq!(
        m.button_url().as_deref(),
        Some("https://crm.example/deals/7")
    );
    assert_eq!(
        m.text.as_deref(),
        Some("Kari mentioned you\nQ4 plan — æøå &lt;b&gt;")
    );
    assert_eq!(m.body["metadata"]["event_payload"]["id"], "ntf_01J.slack");
}

#[tokio::test]
async fn norwegian_message_has_a_norwegian_button() {
    let (server, client) = setup().await;
    let mut m = message("nb");
    m.title = "Kari nevnte deg".into();
    let posted = client.post_message(&token(), "U0OLA", &m).await.unwrap();
    assert_eq!(posted.channel, "D0OLA");
    assert!(!posted.ts.is_empty());
    let got = &server.messages()[0];
    assert_eq!(got.blocks[0]["text"]["text"], "Kari nevnte deg");
    assert_eq!(got.button_label().as_deref(), Some("Åpne"));
}

#[tokio::test]
async fn a_message_without_url_or_body_has_no_button() {
    let (server, client) = setup().await;
    let mut m = message("en");
    m.url = None;
    m.body = String::new();
    assert_eq!(
        client.deliver(&target("U0KARI"), &m).await,
        Outcome::Delivered
    );
    let got = &server.messages()[0];
    assert_eq!(got.block_types(), ["header"]);
    assert_eq!(got.text.as_deref(), Some("Kari mentioned you"));
}

#[tokio::test]
async fn bad_token_is_permanent() {
    let (server, client) = setup().await;
    let t = SlackTarget {
        token: SlackToken::new("xoxb-revoked"),
        user_id: "U0KARI".into(),
    };
    let outcome = client.deliver(&t, &message("en")).await;
    assert_eq!(outcome, Outcome::permanent("slack: invalid_auth"));
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn rate_limit_is_retried_after_the_given_time() {
    let (server, client) = setup().await;
    server.fail_next(1, SlackFault::RateLimited { retry_after: 42 });
    let outcome = client.deliver(&target("U0KARI"), &message("en")).await;
    assert!(
        matches!(outcome, Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(42)),
        "{outcome:?}"
    );
    // The next attempt goes through.
    assert_eq!(
        client.deliver(&target("U0KARI"), &message("en")).await,
        Outcome::Delivered
    );
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (server, client) = setup().await;
    server.fail_next(1, SlackFault::Status(500));
    server.fail_next(1, SlackFault::Status(503));
    server.fail_next(1, SlackFault::Error("service_unavailable".into()));
    server.fail_next(1, SlackFault::Error("ratelimited".into()));
    for _ in 0..4 {
        let outcome = client.deliver(&target("U0KARI"), &message("en")).await;
        assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
    }
    assert!(server.messages().is_empty());
    assert_eq!(
        client.deliver(&target("U0KARI"), &message("en")).await,
        Outcome::Delivered
    );
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_gone_user_is_gone_and_broken_requests_are_permanent() {
    let (server, client) = setup().await;
    server.fail_next(1, SlackFault::Error("users_not_found".into()));
    server.fail_next(1, SlackFault::Error("user_not_found".into()));
    for _ in 0..2 {
        let outcome = client.deliver(&target("U0KARI"), &message("en")).await;
        assert!(matches!(outcome, Outcome::Gone { .. }), "{outcome:?}");
    }
    for code in [
        "account_inactive",
        "missing_scope",
        "cannot_dm_bot",
        "msg_too_long",
    ] {
        server.fail_next(1, SlackFault::Error(code.into()));
        let outcome = client.deliver(&target("U0KARI"), &message("en")).await;
        assert_eq!(outcome, Outcome::permanent(format!("slack: {code}")));
    }
    server.fail_next(1, SlackFault::Status(410));
    let outcome = client.deliver(&target("U0KARI"), &message("en")).await;
    assert_eq!(outcome, Outcome::permanent("slack: HTTP 410"));
}

#[tokio::test]
async fn an_unknown_user_id_is_channel_not_found() {
    let (server, client) = setup().await;
    let outcome = client.deliver(&target("U0NOBODY"), &message("en")).await;
    assert_eq!(outcome, Outcome::permanent("slack: channel_not_found"));
    assert_eq!(server.calls()[0].answer, "channel_not_found");
}

#[tokio::test]
async fn the_server_rejects_broken_blocks() {
    // The test server's Block Kit check is what makes the delivered tests meaningful.
    let server = SlackServer::start(TOKEN).await;
    server.add_user("kari@example.com", "U0KARI");
    let resp = reqwest::Client::new()
        .post(format!("{}/chat.postMessage", server.base_url()))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "channel": "U0KARI", "text": "x",
            "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}],
        }))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["ok"], false);
    assert_eq!(body["error"], "invalid_blocks");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn nothing_listening_is_retried() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = SlackClient::new(
        &format!("http://127.0.0.1:{port}/api"),
        Duration::from_secs(2),
    )
    .unwrap();
    let err = client
        .post_message(&token(), "U0KARI", &message("en"))
        .await
        .unwrap_err();
    assert!(matches!(err, SlackError::Network(_)), "{err:?}");
    assert!(matches!(err.outcome(), Outcome::Retry { after: None, .. }));
}

// A server that misbehaves: each case is retried (or delivered), and the next send goes
// through.

#[tokio::test]
async fn a_hanging_server_is_retried_after_the_timeout() {
    let (server, client) = setup_with(SHORT).await;
    server.misbehave_next(1, Misbehaviour::Hang);
    let outcome = ends("a send to a hanging Slack", async {
        client.deliver(&target("U0KARI"), &message("en")).await
    })
    .await;
    assert!(
        matches!(outcome, Outcome::Retry { after: None, .. }),
        "{outcome:?}"
    );
    assert!(server.messages().is_empty());
    assert_eq!(
        client.deliver(&target("U0KARI"), &message("en")).await,
        Outcome::Delivered
    );
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_reset_connection_is_retried() {
    let (server, client) = setup_with(SHORT).await;
    server.misbehave_next(1, Misbehaviour::Reset);
    let err = client
        .post_message(&token(), "U0KARI", &message("en"))
        .await
        .unwrap_err();
    assert!(matches!(err, SlackError::Network(_)), "{err:?}");
    assert!(matches!(err.outcome(), Outcome::Retry { after: None, .. }));
    assert!(server.messages().is_empty());
    assert_eq!(
        client.deliver(&target("U0KARI"), &message("en")).await,
        Outcome::Delivered
    );
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn an_answer_that_is_not_slacks_json_is_retried() {
    let (server, client) = setup().await;
    server.misbehave_next(1, Misbehaviour::InvalidBody);
    let err = client
        .post_message(&token(), "U0KARI", &message("en"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SlackError::Invalid {
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(err.outcome(), Outcome::Retry { after: None, .. }));
    assert_eq!(
        client.deliver(&target("U0KARI"), &message("en")).await,
        Outcome::Delivered
    );
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_slow_answer_within_the_timeout_is_delivered() {
    let (server, client) = setup().await;
    server.misbehave_next(1, Misbehaviour::Slow(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    assert_eq!(
        client.deliver(&target("U0KARI"), &message("en")).await,
        Outcome::Delivered
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_slow_answer_past_the_timeout_is_retried_and_the_retry_posts_it_again() {
    // chat.postMessage has no idempotency key: Slack posts what it received even though
    // the client gave up, and the retry posts a second message.
    let (server, client) = setup_with(SHORT).await;
    server.misbehave_next(1, Misbehaviour::Slow(Duration::from_secs(1)));
    let outcome = ends("a send to a slow Slack", async {
        client.deliver(&target("U0KARI"), &message("en")).await
    })
    .await;
    assert!(
        matches!(outcome, Outcome::Retry { after: None, .. }),
        "{outcome:?}"
    );
    until("Slack posts the late message", || {
        server.messages().len() == 1
    })
    .await;
    assert_eq!(
        client.deliver(&target("U0KARI"), &message("en")).await,
        Outcome::Delivered
    );
    assert_eq!(server.messages().len(), 2);
}

#[tokio::test]
async fn lookups_against_a_misbehaving_server_fail_with_errors_worth_retrying() {
    let (server, client) = setup_with(SHORT).await;
    for m in [
        Misbehaviour::Hang,
        Misbehaviour::Reset,
        Misbehaviour::InvalidBody,
    ] {
        server.misbehave_next(1, m.clone());
        let err = ends(
            "a lookup",
            client.lookup_by_email(&token(), "kari@example.com"),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err.outcome(), Outcome::Retry { after: None, .. }),
            "{m:?}: {err:?}"
        );
    }
    assert_eq!(
        client.lookup_by_email(&token(), "kari@example.com").await,
        Ok(Some("U0KARI".into()))
    );
}
