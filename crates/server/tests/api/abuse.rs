//! Abuse limits: open streams per user and per node, streams that end with their token.

use serde_json::json;

use crate::harness::*;

async fn setup(app: &TestApp) -> String {
    app.put_account("acme", "enterprise").await;
    app.put_user("acme", "u", json!({})).await;
    app.put_user("acme", "v", json!({})).await;
    app.token("acme", "u").await
}

#[tokio::test]
async fn one_token_opening_streams_in_a_loop_is_refused_at_the_cap() {
    let app = TestApp::spawn_with(|c| c.max_streams_per_user = 5, None).await;
    let tok = setup(&app).await;
    let mut open = Vec::new();
    for i in 0..5 {
        let mut s = app.stream(&tok, &format!("tab_id=t{i}")).await;
        assert_eq!(s.expect_unread().await, 0);
        open.push(s);
    }
    for _ in 0..20 {
        let refused = app
            .stream_with(&tok, "tab_id=more", None)
            .await
            .err()
            .expect("a stream past the cap is refused");
        refused.assert_error(429, "too_many_streams");
        // Liveness stays up while the user sits at the cap.
        app.get("/healthz", &Auth::None).await.ok(200);
    }
    assert_eq!(app.state.hub.open_streams(), 5);

    // Another user of the same account is not held back by this one.
    let other = app.token("acme", "v").await;
    let mut s = app.stream(&other, "tab_id=v1").await;
    assert_eq!(s.expect_unread().await, 0);
    drop(s);

    // Closing streams frees their slots.
    open.truncate(3);
    let hub = &app.state.hub;
    wait_for("closed streams are released", || hub.open_streams() == 3).await;
    for i in 0..2 {
        let mut s = app.stream(&tok, &format!("tab_id=again{i}")).await;
        assert_eq!(s.expect_unread().await, 0);
        open.push(s);
    }
    app.stream_with(&tok, "tab_id=more", None)
        .await
        .err()
        .expect("at the cap again")
        .assert_error(429, "too_many_streams");

    // Everything closed: nothing is left behind.
    drop(open);
    wait_for("all streams are released", || hub.open_streams() == 0).await;
    assert_eq!(hub.presence("acme", "u").open_tabs, 0);
}

#[tokio::test]
async fn a_node_holds_at_most_max_streams() {
    let app = TestApp::spawn_with(|c| c.max_streams = 2, None).await;
    let tok = setup(&app).await;
    let other = app.token("acme", "v").await;
    let mut a = app.stream(&tok, "tab_id=a").await;
    a.expect_unread().await;
    let mut b = app.stream(&other, "tab_id=b").await;
    b.expect_unread().await;
    let r = app
        .stream_with(&other, "tab_id=c", None)
        .await
        .err()
        .expect("refused");
    r.assert_error(429, "too_many_streams");
    assert!(r.text.contains("this server"), "{}", r.text);
    drop(a);
    let hub = &app.state.hub;
    wait_for("a stream is released", || hub.open_streams() == 1).await;
    let mut c = app.stream(&other, "tab_id=c").await;
    c.expect_unread().await;
}

#[tokio::test]
async fn refused_streams_say_when_to_try_again() {
    let app = TestApp::spawn_with(|c| c.max_streams_per_user = 1, None).await;
    let tok = setup(&app).await;
    let mut a = app.stream(&tok, "tab_id=a").await;
    a.expect_unread().await;
    let r = app
        .request(
            reqwest::Method::GET,
            "/v1/me/stream?tab_id=b",
            &Auth::user(&tok),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after >= 1, "{after}");
}

#[tokio::test]
async fn a_stream_ends_with_its_token() {
    let clock = varsel_server::clock::ManualClock::new(now_s() * 1000);
    let app = TestApp::spawn_with(|_| {}, Some(clock.clone())).await;
    setup(&app).await;
    let tok = app
        .post(
            "/v1/tokens",
            &Auth::Key,
            json!({"account_id": "acme", "user_id": "u", "ttl_seconds": 60}),
        )
        .await
        .ok(200)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut s = app.stream(&tok, "tab_id=a").await;
    assert_eq!(s.expect_unread().await, 0);
    // Still valid a little before the end.
    clock.advance_ms(50_000);
    assert!(
        s.next_frame(std::time::Duration::from_millis(1500))
            .await
            .is_none()
    );
    // Past `exp` and the 5 seconds of leeway every token gets.
    clock.advance_ms(16_000);
    let f = SseClient::check(s.expect_frame().await, "token_expired");
    assert!(f.json()["reason"].is_string(), "{}", f.data);
    s.expect_end().await;
    let hub = &app.state.hub;
    wait_for("the expired stream is released", || hub.open_streams() == 0).await;
    // The expired token opens nothing new.
    app.stream_with(&tok, "tab_id=a", None)
        .await
        .err()
        .expect("refused")
        .assert_error(401, "unauthorized");
}

// ----- rate limits -----

async fn post_raw(
    app: &TestApp,
    path: &str,
    auth: &Auth,
    body: serde_json::Value,
) -> (u16, Option<u64>, String) {
    let r = app
        .request(reqwest::Method::POST, path, auth)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    (status, after, r.text().await.unwrap())
}

fn event() -> serde_json::Value {
    json!({"type": "deals.stage_changed", "account_id": "acme", "recipients": ["u"]})
}

#[tokio::test]
async fn events_are_limited_per_api_key() {
    let app = TestApp::spawn_with(
        |c| {
            // Three events, then one more every ~17 minutes: the test never sees a refill.
            c.rate_events_per_second = 0.001;
            c.rate_events_burst = 3;
        },
        None,
    )
    .await;
    setup(&app).await;
    for _ in 0..2 {
        app.accept(event()).await;
    }
    // A batch counts its events: two do not fit in the one left.
    let (status, after, text) = post_raw(
        &app,
        "/v1/events/batch",
        &Auth::Key,
        json!({"events": [event(), event()]}),
    )
    .await;
    assert_eq!(status, 429, "{text}");
    assert!(after.is_some_and(|s| s >= 1), "{after:?}");
    assert!(text.contains("\"rate_limited\""), "{text}");
    app.accept(event()).await;
    let (status, after, text) = post_raw(&app, "/v1/events", &Auth::Key, event()).await;
    assert_eq!(status, 429, "{text}");
    assert!(after.is_some_and(|s| s > 60), "{after:?}");
    app.post("/v1/events", &Auth::Key, event())
        .await
        .assert_error(429, "rate_limited");
    // Other calls with the same key are not limited by it.
    app.get("/v1/catalog", &Auth::Key).await.ok(200);
}

#[tokio::test]
async fn failed_authentication_is_limited_per_address() {
    let app = TestApp::spawn_with(
        |c| {
            c.rate_auth_failures_per_minute = 0.01;
            c.rate_auth_failures_burst = 5;
        },
        None,
    )
    .await;
    let wrong = Auth::Bearer("not-the-key-0123456789".into());
    for _ in 0..5 {
        let r = app.get("/v1/catalog", &wrong).await;
        r.assert_error(401, "unauthorized");
        assert!(r.text.contains("invalid API key"), "{}", r.text);
    }
    let (status, after, text) = post_raw(&app, "/v1/events", &wrong, event()).await;
    assert_eq!(status, 429, "{text}");
    assert!(after.is_some_and(|s| s >= 1), "{after:?}");
    // Now even the right key is refused from this address ...
    app.get("/v1/catalog", &Auth::Key)
        .await
        .assert_error(429, "rate_limited");
    // ... while another address is served.
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = other
        .get(app.url("/v1/catalog"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Liveness needs no credential and is never limited.
    app.get("/healthz", &Auth::None).await.ok(200);
}

#[tokio::test]
async fn preference_writes_are_limited_per_user() {
    let app = TestApp::spawn_with(
        |c| {
            c.rate_pref_writes_per_minute = 0.01;
            c.rate_pref_writes_burst = 3;
        },
        None,
    )
    .await;
    let tok = setup(&app).await;
    let other = app.token("acme", "v").await;
    let patch = json!({"tabs": {"email": {"enabled": false}}});
    for _ in 0..2 {
        app.patch("/v1/me/preferences", &Auth::user(&tok), patch.clone())
            .await
            .ok(200);
    }
    app.post_empty("/v1/me/preferences/reset", &Auth::user(&tok))
        .await
        .ok(200);
    app.patch("/v1/me/preferences", &Auth::user(&tok), patch.clone())
        .await
        .assert_error(429, "rate_limited");
    app.post_empty("/v1/me/preferences/email/turn-off-all", &Auth::user(&tok))
        .await
        .assert_error(429, "rate_limited");
    // Reading is not limited, nor is another user.
    app.get("/v1/me/preferences", &Auth::user(&tok))
        .await
        .ok(200);
    app.patch("/v1/me/preferences", &Auth::user(&other), patch)
        .await
        .ok(200);
}

// ----- connections -----

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads until the server closes the connection; what it sent, or a failure after WAIT.
async fn read_to_close(tcp: &mut tokio::net::TcpStream) -> String {
    let mut out = Vec::new();
    let r = tokio::time::timeout(WAIT, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(r.is_ok(), "connection still open after {WAIT:?}");
    String::from_utf8_lossy(&out).into_owned()
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

#[tokio::test]
async fn a_half_sent_header_is_closed_after_the_timeout() {
    let app = TestApp::spawn_with(|c| c.header_read_timeout_seconds = 1, None).await;
    let start = std::time::Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = read_to_close(&mut tcp).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    // Closed by the timeout, not at once (a generous lower bound).
    assert!(start.elapsed() >= std::time::Duration::from_millis(500));
    // A complete request on a new connection is answered.
    app.get("/healthz", &Auth::None).await.ok(200);
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let app = TestApp::spawn_with(
        |c| {
            c.header_read_timeout_seconds = 60;
            c.idle_timeout_seconds = 1;
        },
        None,
    )
    .await;
    let mut tcp = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // The answer comes, then the kept-alive connection is closed once idle.
    let answer = read_to_close(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn streams_outlive_the_idle_timeout() {
    let app = TestApp::spawn_with(|c| c.idle_timeout_seconds = 1, None).await;
    let tok = setup(&app).await;
    let mut s = app.stream(&tok, "tab_id=a").await;
    assert_eq!(s.expect_unread().await, 0);
    // Three idle timeouts pass: keep-alive comments hold the stream open (a closed
    // stream would fail the read).
    assert!(
        s.next_frame(std::time::Duration::from_secs(3))
            .await
            .is_none()
    );
    app.accept(event()).await;
    s.expect_notification().await;
}

#[tokio::test]
async fn connections_past_the_cap_get_503() {
    let app = TestApp::spawn_with(|c| c.max_connections = 2, None).await;
    let mut a = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    let _b = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    let mut c = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
    let answer = read_to_close(&mut c).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    // A closed connection frees its place.
    a.shutdown().await.unwrap();
    drop(a);
    let start = std::time::Instant::now();
    loop {
        let mut d = tokio::net::TcpStream::connect(addr(&app)).await.unwrap();
        d.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = read_to_close(&mut d).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(start.elapsed() < WAIT, "no place freed: {answer}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

// ----- outbound URLs -----

#[tokio::test]
async fn outbound_urls_must_be_public_https_on_allowed_hosts() {
    let app = TestApp::spawn_with(
        |c| {
            c.outbound_test_mode = false;
            c.webpush_hosts = "*".into();
        },
        None,
    )
    .await;
    setup(&app).await;
    let teams = "/v1/accounts/acme/connections/teams";
    let internal = [
        "http://127.0.0.1:9/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://0x7f000001/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd12::1]/hook",
    ];
    for url in internal {
        let r = app
            .put(teams, &Auth::Key, json!({"webhook_url": url}))
            .await;
        r.assert_error(422, "invalid_connection");
        assert!(!r.text.contains(url), "the URL is not echoed: {}", r.text);
    }
    // Only Teams' own hosts by default.
    app.put(
        teams,
        &Auth::Key,
        json!({"webhook_url": "https://hooks.example.com/x"}),
    )
    .await
    .assert_error(422, "invalid_connection");
    app.put(
        teams,
        &Auth::Key,
        json!({"webhook_url": "https://prod-01.westeurope.logic.azure.com/workflows/1/triggers/manual/paths/invoke?sig=s"}),
    )
    .await
    .ok(200);

    let tok = app.token("acme", "u").await;
    for endpoint in [
        "https://127.0.0.1/push",
        "https://[::1]/push",
        "http://push.example/x",
    ] {
        let r = app
            .post(
                "/v1/me/devices",
                &Auth::user(&tok),
                json!({"kind": "webpush", "subscription": {"endpoint": endpoint,
                    "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM", "auth": "tBHItJI5svbpez7KI4CCXg"}}}),
            )
            .await;
        assert_eq!(r.status, 422, "{endpoint}: {}", r.text);
    }
}

// ----- contract findings -----

#[tokio::test]
async fn the_same_idempotency_key_with_another_request_is_a_conflict() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let first = json!({"type": "deals.stage_changed", "account_id": "acme", "recipients": ["u"],
                       "idempotency_key": "k1", "data": {"stage": "won", "amount": 1}});
    let id = app.accept(first.clone()).await;
    // A retry of the same request (keys in another order) is the same event.
    let again = json!({"idempotency_key": "k1", "recipients": ["u"], "account_id": "acme",
                       "data": {"amount": 1, "stage": "won"}, "type": "deals.stage_changed"});
    let r = app.post("/v1/events", &Auth::Key, again).await;
    assert_eq!(r.ok(202), &json!({"id": id, "duplicate": true}));
    // Another request under the same key is refused.
    let mut other = first.clone();
    other["data"]["stage"] = json!("lost");
    let r = app.post("/v1/events", &Auth::Key, other.clone()).await;
    r.assert_error(409, "idempotency_conflict");
    assert!(r.text.contains(&id), "{}", r.text);
    let r = app
        .post(
            "/v1/events/batch",
            &Auth::Key,
            json!({"events": [first, other]}),
        )
        .await;
    let results = r.ok(202)["results"].clone();
    assert_eq!(results[0], json!({"id": id, "duplicate": true}));
    assert_eq!(results[1]["error"]["code"], json!("idempotency_conflict"));
    // Within one batch too.
    let a = json!({"type": "deals.stage_changed", "account_id": "acme", "recipients": ["u"], "idempotency_key": "k2"});
    let mut b = a.clone();
    b["recipients"] = json!(["v"]);
    let r = app
        .post("/v1/events/batch", &Auth::Key, json!({"events": [a, b]}))
        .await;
    let results = r.ok(202)["results"].clone();
    assert_eq!(results[0]["duplicate"], json!(false), "{results}");
    assert_eq!(
        results[1]["error"]["code"],
        json!("idempotency_conflict"),
        "{results}"
    );
}

#[tokio::test]
async fn a_thousand_event_batch_of_several_mebibytes_is_accepted() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let pad = "x".repeat(6000);
    let events: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            json!({"type": "deals.stage_changed", "account_id": "acme", "recipients": ["u"],
                        "data": {"i": i, "pad": pad}})
        })
        .collect();
    let body = json!({"events": events});
    assert!(body.to_string().len() > 4 * 1024 * 1024);
    let r = app.post("/v1/events/batch", &Auth::Key, body).await;
    let results = r.ok(202)["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 1000);
    assert!(results.iter().all(|x| x["duplicate"] == json!(false)));
    // Past 16 MiB: 413.
    let big = "y".repeat(17 * 1024 * 1024);
    let r = app
        .post(
            "/v1/events/batch",
            &Auth::Key,
            json!({"events": [{"data": {"pad": big}}]}),
        )
        .await;
    r.assert_error(413, "body_too_large");
}

#[tokio::test]
async fn object_urls_must_not_lead_to_another_host() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let ev = |url: &str| {
        json!({"type": "deals.stage_changed", "account_id": "acme", "recipients": ["u"],
               "object": {"type": "deal", "id": "1", "url": url}})
    };
    for bad in [
        "//evil.example/x",
        "/\\evil.example/x",
        "javascript:alert(1)",
        "/\t/evil.example",
    ] {
        app.post("/v1/events", &Auth::Key, ev(bad))
            .await
            .assert_error(422, "invalid_object");
    }
    for ok in ["/deals/1", "https://crm.example/deals/1"] {
        app.accept(ev(ok)).await;
    }
}

#[tokio::test]
async fn credentials_are_read_clearly() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    // The scheme is case-insensitive.
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = app
            .client
            .get(app.url("/v1/me/feed/unread-count"))
            .header("authorization", format!("{scheme} {tok}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
    }
    // A bad API key says so; a bad token says why, in Varsel's words.
    let r = app
        .get("/v1/catalog", &Auth::Bearer("wrong-key-0123456789".into()))
        .await;
    r.assert_error(401, "unauthorized");
    assert_eq!(r.body["error"]["message"], json!("invalid API key"));
    let none = format!(
        "{}.{}.",
        base64_url(r#"{"alg":"none","typ":"JWT"}"#),
        base64_url(r#"{"sub":"u","account":"acme","exp":9999999999}"#)
    );
    let expired = sign_token(json!({"sub": "u", "account": "acme", "exp": now_s() - 60}));
    for bad in [none, expired, "a.b.c".to_string()] {
        let r = app.get("/v1/me/feed", &Auth::Bearer(bad)).await;
        r.assert_error(401, "unauthorized");
        let m = r.body["error"]["message"].as_str().unwrap();
        assert!(m.starts_with("invalid user token"), "{m}");
        for internal in [
            "variant",
            "expected one of",
            "InvalidToken",
            "Signature",
            "Error(",
        ] {
            assert!(!m.contains(internal), "{m}");
        }
    }
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn answers_carry_browser_protections() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let r = app.client.get(app.url("/v1/catalog")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let r = app
        .client
        .get(app.url("/ui/preferences"))
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
}

#[tokio::test]
async fn metrics_can_have_their_own_token_or_address() {
    let app = TestApp::spawn_with(
        |c| c.metrics_token = "metrics-token-0123456789".into(),
        None,
    )
    .await;
    app.get("/metrics", &Auth::Bearer("metrics-token-0123456789".into()))
        .await
        .ok(200);
    app.get("/metrics", &Auth::Key).await.ok(200);
    let tok = setup(&app).await;
    app.get("/metrics", &Auth::user(&tok))
        .await
        .assert_error(403, "api_key_required");

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = TestApp::spawn_with(
        move |c| c.metrics_listen = format!("127.0.0.1:{port}"),
        None,
    )
    .await;
    app.get("/metrics", &Auth::Key)
        .await
        .assert_error(404, "not_found");
    let r = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("# TYPE"));
}

#[tokio::test]
async fn the_sqlite_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    let Some(path) = app.state.config.database_url.strip_prefix("sqlite://") else {
        return; // PostgreSQL: no file of ours.
    };
    setup(&app).await;
    for file in [path.to_string(), format!("{path}-wal")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}: {mode:o}");
    }
}

#[tokio::test]
async fn the_vapid_private_key_is_stored_sealed() {
    let app = TestApp::spawn().await;
    // `server_key` returns the stored value when there is one.
    let stored = app
        .state
        .store
        .server_key("vapid_private_key", "unused", 0)
        .await
        .unwrap();
    assert!(stored.starts_with("v1."), "stored unsealed");
    // And it is the key the server signs with.
    let public = app
        .get("/v1/webpush/key", &Auth::None)
        .await
        .ok(200)
        .clone();
    assert!(public["public_key"].as_str().is_some_and(|k| k.len() > 80));
}
