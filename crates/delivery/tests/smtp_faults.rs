//! `SmtpMailer` against an SMTP server that misbehaves (`varsel_testkit::smtp::SmtpFault`):
//! what a send answers under each fault — retry or not, and whether the server itself is
//! failing (which counts against its circuit breaker) — and that the next send delivers.
//! A server that goes silent (no greeting, no answer after DATA) is given up at the
//! deadline and its connection closed, not reused.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use varsel_delivery::email::{EmailContent, OutgoingEmail, SmtpLimits, SmtpMailer};
use varsel_testkit::fault::until;
use varsel_testkit::smtp::{SmtpFault, SmtpSink};

/// The mailer's deadlines in these tests.
const SHORT: Duration = Duration::from_millis(300);

fn mailer(url: &str, deadline: Duration) -> SmtpMailer {
    SmtpMailer::new(
        url,
        SmtpLimits {
            connect_timeout: deadline,
            send_timeout: deadline,
            ..SmtpLimits::default()
        },
    )
    .unwrap()
}

fn email(n: u32) -> OutgoingEmail {
    OutgoingEmail {
        from: "Varsel <varsel@example.com>".into(),
        to: "kari@example.com".into(),
        to_name: "Kari Nordmann".into(),
        message_id: format!("ntf_{n}.email@varsel"),
        content: EmailContent {
            subject: "Kari assigned you a deal".into(),
            text: "Q4 plan".into(),
            html: "<p>Q4 plan</p>".into(),
        },
        unsubscribe_url: None,
    }
}

/// Sends `email(n)`; fails the test if the send does not end within 5 s.
async fn send(mailer: &SmtpMailer, n: u32) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(5), mailer.send(&email(n))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            assert!(e.retryable, "a silent server is worth retrying: {e}");
            Err(e.message)
        }
        Err(_) => panic!("the send of email {n} was still waiting after 5 s"),
    }
}

#[tokio::test]
async fn a_server_that_never_greets_is_retried_after_the_deadline() {
    let sink = SmtpSink::start().await;
    sink.fault_next(1, SmtpFault::NeverGreet);
    let mailer = mailer(&sink.url(), SHORT);
    assert!(send(&mailer, 1).await.is_err());
    until("the silent connection is closed", || {
        sink.open_connections() == 0
    })
    .await;
    send(&mailer, 2).await.unwrap();
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn a_server_that_stalls_after_data_is_retried_after_the_deadline() {
    let sink = SmtpSink::start().await;
    sink.fault_next(1, SmtpFault::StallInData);
    let mailer = mailer(&sink.url(), SHORT);
    assert!(send(&mailer, 1).await.is_err());
    send(&mailer, 2).await.unwrap();
    let got: Vec<String> = sink.messages().iter().map(|m| m.message_id()).collect();
    assert_eq!(got, ["ntf_2.email@varsel"]);
}

#[tokio::test]
async fn a_close_after_data_is_retried_and_the_retry_is_a_second_copy() {
    // The at-least-once window: the server has the message, the client never heard.
    let sink = SmtpSink::start().await;
    sink.fault_next(1, SmtpFault::CloseAfterData);
    let mailer = mailer(&sink.url(), SHORT);
    let err = mailer.send(&email(1)).await.unwrap_err();
    assert!(err.retryable, "{err}");
    mailer.send(&email(1)).await.unwrap();
    let got: Vec<String> = sink.messages().iter().map(|m| m.message_id()).collect();
    assert_eq!(got, ["ntf_1.email@varsel", "ntf_1.email@varsel"]);
    assert_eq!(sink.connections(), 2);
}

#[tokio::test]
async fn refusals_are_retryable_when_temporary_and_final_when_permanent() {
    // (fault, url, retryable, the server's own failure). 421 closes the service; 530 and
    // 535 mean the configuration is wrong for every message, so the server is backed off
    // and the message retried once it is fixed; 451 is this message's; 550 refuses it.
    let sink = SmtpSink::start().await;
    let with_auth = format!("smtp://varsel:secret@127.0.0.1:{}", sink.port);
    for (fault, url, retryable, destination) in [
        (SmtpFault::Temporary(451), sink.url(), true, false),
        (SmtpFault::Temporary(421), sink.url(), true, true),
        (SmtpFault::Permanent, sink.url(), false, false),
        (SmtpFault::RequireStartTls, sink.url(), true, true),
        (SmtpFault::AuthRefused, sink.url(), true, true),
        (SmtpFault::AuthRefused, with_auth, true, true),
    ] {
        sink.fault_next(1, fault.clone());
        let mailer = mailer(&url, SHORT);
        let err = mailer.send(&email(1)).await.unwrap_err();
        assert_eq!(err.retryable, retryable, "{fault:?}: {err}");
        assert_eq!(err.destination, destination, "{fault:?}: {err}");
        assert!(!err.message.contains("secret"), "{err}");
    }
    assert!(sink.messages().is_empty());
    // The next connection behaves.
    let mailer = mailer(&sink.url(), SHORT);
    mailer.send(&email(2)).await.unwrap();
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn a_slow_server_still_delivers() {
    let sink = SmtpSink::start().await;
    sink.set_fault(Some(SmtpFault::Slow(Duration::from_millis(50))));
    let mailer = mailer(&sink.url(), Duration::from_secs(5));
    let started = std::time::Instant::now();
    mailer.send(&email(1)).await.unwrap();
    // Greeting, EHLO, MAIL, RCPT, DATA, end of data: six slow replies at least.
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(sink.messages().len(), 1);
}
