//! Every bad input gets a 4xx with `{"error": {"code", "message"}}`, never a 5xx
//! (`TestApp::send` fails the test on any 5xx).

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

async fn setup(app: &TestApp) -> String {
    app.put_account("acme", "enterprise").await;
    app.put_user("acme", "u", json!({})).await;
    app.token("acme", "u").await
}

fn good() -> Value {
    json!({"type": "deals.stage_changed", "account_id": "acme", "recipients": ["u"]})
}

fn with(mut e: Value, key: &str, v: Value) -> Value {
    e[key] = v;
    e
}

fn without(mut e: Value, key: &str) -> Value {
    e.as_object_mut().unwrap().remove(key);
    e
}

#[tokio::test]
async fn invalid_events_are_refused_with_422() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let long = "x".repeat(129);
    let cases = [
        (with(good(), "type", json!("no.such_type")), "unknown_type"),
        (without(good(), "type"), "invalid_body"),
        (without(good(), "account_id"), "invalid_body"),
        (
            with(good(), "account_id", json!("nowhere")),
            "unknown_account",
        ),
        (with(good(), "account_id", json!("bad id")), "invalid_id"),
        (with(good(), "account_id", json!(long)), "invalid_id"),
        (without(good(), "recipients"), "missing_recipients"),
        (with(good(), "recipients", json!([])), "missing_recipients"),
        (
            with(good(), "recipients", json!(["ok", "not ok"])),
            "invalid_id",
        ),
        (with(good(), "recipients", json!("u")), "invalid_body"),
        (with(good(), "actor_id", json!("ø")), "invalid_id"),
        (
            json!({"type": "quotes.paid", "account_id": "acme", "recipients": ["u"]}),
            "missing_owner",
        ),
        (
            json!({"type": "conversations.unassigned", "account_id": "acme"}),
            "missing_team",
        ),
        (
            json!({"type": "conversations.unassigned", "account_id": "acme", "team_id": "nope"}),
            "unknown_team",
        ),
        (with(good(), "source", json!("fax")), "invalid_source"),
        (with(good(), "source", json!(7)), "invalid_body"),
        (
            with(good(), "occurred_at", json!("yesterday")),
            "invalid_occurred_at",
        ),
        (
            with(good(), "occurred_at", json!("2024-13-45T99:00:00Z")),
            "invalid_occurred_at",
        ),
        (
            with(good(), "idempotency_key", json!("")),
            "invalid_idempotency_key",
        ),
        (
            with(good(), "idempotency_key", json!("k".repeat(256))),
            "invalid_idempotency_key",
        ),
        (with(good(), "data", json!([1, 2])), "invalid_data"),
        (
            with(good(), "object", json!({"type": "deal", "id": ""})),
            "invalid_object",
        ),
        (
            with(
                good(),
                "object",
                json!({"type": "deal", "id": "1", "url": "javascript:alert(1)"}),
            ),
            "invalid_object",
        ),
        (with(good(), "object", json!({"id": "1"})), "invalid_body"),
        (with(good(), "colour", json!("red")), "invalid_body"),
        (json!([good()]), "invalid_body"),
        (json!("event"), "invalid_body"),
    ];
    for (event, code) in cases {
        let r = app.post("/v1/events", &Auth::Key, event.clone()).await;
        assert_eq!(r.error(422), code, "{event}");
    }
    // Nothing was stored.
    assert_eq!(app.state.store.pending_events().await.unwrap(), 0);
}

#[tokio::test]
async fn malformed_wrongly_typed_and_oversized_bodies() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let raw = |body: Vec<u8>, ct: Option<&str>| {
        let mut rb = app
            .request(Method::POST, "/v1/events", &Auth::Key)
            .body(body);
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        rb
    };
    let r = app
        .send(raw(b"{\"type\": ".to_vec(), Some("application/json")))
        .await;
    r.assert_error(400, "malformed_json");
    let r = app
        .send(raw(b"not json at all".to_vec(), Some("application/json")))
        .await;
    r.assert_error(400, "malformed_json");
    let r = app.send(raw(Vec::new(), Some("application/json"))).await;
    assert_eq!(r.error(400), "malformed_json");
    let r = app
        .send(raw(
            serde_json::to_vec(&good()).unwrap(),
            Some("text/plain"),
        ))
        .await;
    r.assert_error(415, "unsupported_media_type");
    let r = app
        .send(raw(serde_json::to_vec(&good()).unwrap(), None))
        .await;
    r.assert_error(415, "unsupported_media_type");
    let r = app
        .send(raw(
            serde_json::to_vec(&good()).unwrap(),
            Some("application/x-www-form-urlencoded"),
        ))
        .await;
    r.assert_error(415, "unsupported_media_type");

    // Over 1 MiB: a big `data` field.
    let mut big = good();
    big["data"] = json!({"blob": "x".repeat(1024 * 1024 + 10)});
    let r = app.post("/v1/events", &Auth::Key, big).await;
    r.assert_error(413, "body_too_large");
    // The same limit guards other JSON endpoints.
    let r = app
        .put(
            "/v1/accounts/acme",
            &Auth::Key,
            json!({"name": "x".repeat(1024 * 1024 + 10), "tier": "free"}),
        )
        .await;
    r.assert_error(413, "body_too_large");
    // The server is still fine.
    app.accept(good()).await;
}

#[tokio::test]
async fn batch_limits() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let r = app
        .post("/v1/events/batch", &Auth::Key, json!({"events": []}))
        .await;
    r.assert_error(422, "invalid_batch");
    let many: Vec<Value> = (0..1001).map(|_| good()).collect();
    let r = app
        .post("/v1/events/batch", &Auth::Key, json!({"events": many}))
        .await;
    r.assert_error(422, "invalid_batch");
    let r = app
        .post("/v1/events/batch", &Auth::Key, json!({"events": good()}))
        .await;
    r.assert_error(422, "invalid_body");
    let r = app
        .post("/v1/events/batch", &Auth::Key, json!([good()]))
        .await;
    r.assert_error(422, "invalid_body");
    let r = app
        .send(
            app.request(Method::POST, "/v1/events/batch", &Auth::Key)
                .header("content-type", "application/json")
                .body("["),
        )
        .await;
    r.assert_error(400, "malformed_json");
    assert_eq!(app.state.store.pending_events().await.unwrap(), 0);
}

#[tokio::test]
async fn invalid_directory_input() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let acct = json!({"name": "A", "tier": "enterprise"});
    app.put("/v1/accounts/bad%20id", &Auth::Key, acct.clone())
        .await
        .assert_error(422, "invalid_id");
    app.put("/v1/accounts/a%2Fb", &Auth::Key, acct.clone())
        .await
        .assert_error(422, "invalid_id");
    app.put(
        &format!("/v1/accounts/{}", "a".repeat(129)),
        &Auth::Key,
        acct.clone(),
    )
    .await
    .assert_error(422, "invalid_id");
    app.put(
        &format!("/v1/accounts/{}", "a".repeat(128)),
        &Auth::Key,
        acct.clone(),
    )
    .await
    .ok(200);
    app.put(
        "/v1/accounts/x",
        &Auth::Key,
        json!({"name": "A", "tier": "platinum"}),
    )
    .await
    .assert_error(422, "invalid_tier");
    app.put("/v1/accounts/x", &Auth::Key, json!({"name": "A"}))
        .await
        .assert_error(422, "invalid_body");

    let user = |extra: Value| {
        let mut u = json!({"email": "a@example.com", "name": "A"});
        for (k, v) in extra.as_object().unwrap() {
            u[k] = v.clone();
        }
        u
    };
    app.put(
        "/v1/accounts/acme/users/bad%20id",
        &Auth::Key,
        user(json!({})),
    )
    .await
    .assert_error(422, "invalid_id");
    app.put("/v1/accounts/nowhere/users/u", &Auth::Key, user(json!({})))
        .await
        .assert_error(404, "not_found");
    for (extra, code) in [
        (json!({"email": "not-an-email"}), "invalid_email"),
        (json!({"email": "a b@example.com"}), "invalid_email"),
        (json!({"locale": "n b"}), "invalid_locale"),
        (json!({"timezone": "Mars/Olympus"}), "invalid_timezone"),
        (json!({"roles": [""]}), "invalid_user"),
        (json!({"roles": "admin"}), "invalid_body"),
        (json!({"flags": [1]}), "invalid_body"),
    ] {
        let r = app
            .put("/v1/accounts/acme/users/v", &Auth::Key, user(extra.clone()))
            .await;
        assert_eq!(r.error(422), code, "{extra}");
    }
    app.put(
        "/v1/accounts/acme/teams/t%20t",
        &Auth::Key,
        json!({"name": "T"}),
    )
    .await
    .assert_error(422, "invalid_id");
    app.put(
        "/v1/accounts/acme/teams/t",
        &Auth::Key,
        json!({"name": "T", "members": [{"user_id": "a b"}]}),
    )
    .await
    .assert_error(422, "invalid_id");
    app.put(
        "/v1/accounts/acme/teams/t",
        &Auth::Key,
        json!({"name": "T", "members": [{"user_id": "u"}, {"user_id": "u", "primary": true}]}),
    )
    .await
    .assert_error(422, "duplicate_member");

    for (body, status, code) in [
        (
            json!({"account_id": "acme", "user_id": "u", "ttl_seconds": 0}),
            422,
            "invalid_ttl",
        ),
        (
            json!({"account_id": "acme", "user_id": "u", "ttl_seconds": 999_999_999}),
            422,
            "invalid_ttl",
        ),
        (
            json!({"account_id": "acme", "user_id": "ghost"}),
            404,
            "not_found",
        ),
        (
            json!({"account_id": "acme", "user_id": "bad id"}),
            422,
            "invalid_id",
        ),
        (json!({"account_id": "acme"}), 422, "invalid_body"),
    ] {
        let r = app.post("/v1/tokens", &Auth::Key, body.clone()).await;
        assert_eq!(r.error(status), code, "{body}");
    }
}

#[tokio::test]
async fn missing_or_invalid_credentials_get_401() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let paths = [
        (Method::POST, "/v1/events"),
        (Method::GET, "/v1/me/feed"),
        (Method::GET, "/v1/catalog"),
        (Method::GET, "/v1/me/stream"),
    ];
    let expired = sign_token(json!({"sub": "u", "account": "acme", "exp": now_s() - 3600}));
    let foreign = {
        use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
        let claims = json!({"sub": "u", "account": "acme", "exp": now_s() + 3600});
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"another-secret-another-secret-123"),
        )
        .unwrap()
    };
    let no_sub = sign_token(json!({"account": "acme", "exp": now_s() + 3600}));
    let no_exp = sign_token(json!({"sub": "u", "account": "acme"}));
    let tampered = format!("{}x", &tok[..tok.len() - 1]);
    for (method, path) in paths {
        let r = app
            .call(method.clone(), path, &Auth::None, Some(good()))
            .await;
        r.assert_error(401, "unauthorized");
        for bad in [
            "garbage",
            "test-api-key-012345678X",
            &expired,
            &foreign,
            &no_sub,
            &no_exp,
            &tampered,
        ] {
            let r = app
                .call(
                    method.clone(),
                    path,
                    &Auth::Bearer(bad.to_string()),
                    Some(good()),
                )
                .await;
            assert_eq!(r.error(401), "unauthorized", "{path} with {bad}");
        }
        let r = app
            .send(
                app.request(method.clone(), path, &Auth::None)
                    .header("authorization", format!("Basic {API_KEY}")),
            )
            .await;
        r.assert_error(401, "unauthorized");
    }
    // The same token, unexpired, works (the failures above are about the token).
    let fresh = sign_token(json!({"sub": "u", "account": "acme", "exp": now_s() + 60}));
    app.get("/v1/me/feed", &Auth::Bearer(fresh)).await.ok(200);
}

#[tokio::test]
async fn the_wrong_kind_of_credential_gets_403() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let user = Auth::user(&tok);
    let id = app.accept(good()).await;
    for (method, path, body) in [
        (Method::POST, "/v1/events".to_string(), Some(good())),
        (
            Method::POST,
            "/v1/events/batch".to_string(),
            Some(json!({"events": [good()]})),
        ),
        (Method::GET, format!("/v1/events/{id}/trace"), None),
        (
            Method::PUT,
            "/v1/accounts/acme".to_string(),
            Some(json!({"name": "A", "tier": "free"})),
        ),
        (
            Method::PUT,
            "/v1/accounts/acme/users/u".to_string(),
            Some(json!({"email": "u@example.com"})),
        ),
        (
            Method::PUT,
            "/v1/accounts/acme/teams/t".to_string(),
            Some(json!({"name": "T"})),
        ),
        (
            Method::POST,
            "/v1/tokens".to_string(),
            Some(json!({"account_id": "acme", "user_id": "u"})),
        ),
    ] {
        let r = app.call(method, &path, &user, body).await;
        assert_eq!(r.error(403), "api_key_required", "{path}");
    }
    for (method, path) in [
        (Method::GET, "/v1/me/feed"),
        (Method::GET, "/v1/me/feed/unread-count"),
        (Method::POST, "/v1/me/feed/read-all"),
        (Method::POST, "/v1/me/feed/seen"),
        (Method::GET, "/v1/me/preferences"),
        (Method::POST, "/v1/me/preferences/reset"),
        (Method::GET, "/v1/me/stream"),
    ] {
        let r = app.call(method, path, &Auth::Key, None).await;
        assert_eq!(r.error(403), "user_token_required", "{path}");
    }
    let r = app
        .post(
            "/v1/me/presence",
            &Auth::Key,
            json!({"tab_id": "a", "active": true}),
        )
        .await;
    r.assert_error(403, "user_token_required");
    // The catalog takes either.
    app.get("/v1/catalog", &user).await.ok(200);
    app.get("/v1/catalog", &Auth::Key).await.ok(200);
}

#[tokio::test]
async fn bad_queries_paths_and_headers() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let me = Auth::user(&tok);
    for (q, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("limit=-5", "invalid_limit"),
        ("limit=ten", "invalid_query"),
        ("limit=99999999999999999999", "invalid_query"),
        ("cursor=abc", "invalid_cursor"),
        ("cursor=-1", "invalid_cursor"),
        ("cursor=0", "invalid_cursor"),
        ("colour=red", "invalid_query"),
    ] {
        let r = app.get(&format!("/v1/me/feed?{q}"), &me).await;
        assert_eq!(r.error(400), code, "{q}");
    }
    app.get("/v1/me/feed?limit=100", &me).await.ok(200);

    for path in [
        "/nope",
        "/v1",
        "/v1/nope",
        "/v1/me/feed/x/y/z",
        "/ui/../../etc/passwd",
    ] {
        app.get(path, &Auth::None)
            .await
            .assert_error(404, "not_found");
    }
    app.get("/v1/events", &Auth::Key)
        .await
        .assert_error(405, "method_not_allowed");
    app.delete("/v1/me/feed", &me)
        .await
        .assert_error(405, "method_not_allowed");

    for id in ["abc", "-", "1.5", " "] {
        let r = app
            .stream_with(&tok, "tab_id=a", Some(id))
            .await
            .err()
            .expect("refused");
        assert_eq!(r.error(400), "invalid_last_event_id", "{id:?}");
    }
    let r = app
        .stream_with(&tok, "tab_id=a%20b", None)
        .await
        .err()
        .expect("refused");
    r.assert_error(400, "invalid_tab_id");
    let r = app
        .stream_with(&tok, &format!("tab_id={}", "t".repeat(101)), None)
        .await
        .err()
        .expect("refused");
    r.assert_error(400, "invalid_tab_id");
    let r = app
        .stream_with(&tok, "active=maybe", None)
        .await
        .err()
        .expect("refused");
    r.assert_error(400, "invalid_query");
    app.post(
        "/v1/me/presence",
        &me,
        json!({"tab_id": "", "active": true}),
    )
    .await
    .assert_error(400, "invalid_tab_id");
    app.post("/v1/me/presence", &me, json!({"tab_id": "a"}))
        .await
        .assert_error(422, "invalid_body");
    app.get("/v1/events/%FF/trace", &Auth::Key)
        .await
        .assert_error(400, "invalid_path");
    app.post_empty("/v1/me/feed/%FF/read", &me)
        .await
        .assert_error(400, "invalid_path");
}

#[tokio::test]
async fn nul_characters_are_refused_not_crashed_on() {
    // PostgreSQL cannot store U+0000; both backends refuse it the same way.
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let r = app
        .put(
            "/v1/accounts/acme/users/v",
            &Auth::Key,
            json!({"email": "v@example.com", "name": "a\u{0}b"}),
        )
        .await;
    r.assert_error(422, "invalid_body");
    let r = app
        .put(
            "/v1/accounts/acme",
            &Auth::Key,
            json!({"name": "a\u{0}", "tier": "enterprise"}),
        )
        .await;
    r.assert_error(422, "invalid_body");
    let r = app
        .put(
            "/v1/accounts/acme/teams/t",
            &Auth::Key,
            json!({"name": "T\u{0}", "members": []}),
        )
        .await;
    r.assert_error(422, "invalid_body");
    let r = app
        .post(
            "/v1/events",
            &Auth::Key,
            with(good(), "data", json!({"note": "nul \u{0} here"})),
        )
        .await;
    r.assert_error(422, "invalid_body");
    let r = app
        .post(
            "/v1/events",
            &Auth::Key,
            with(good(), "idempotency_key", json!("k\u{0}")),
        )
        .await;
    r.assert_error(422, "invalid_body");
    let r = app
        .post(
            "/v1/events",
            &Auth::Key,
            with(good(), "object", json!({"type": "d", "id": "\u{0}"})),
        )
        .await;
    r.assert_error(422, "invalid_body");
    let r = app
        .post(
            "/v1/events/batch",
            &Auth::Key,
            json!({"events": [good(), with(good(), "data", json!({"\u{0}": 1}))]}),
        )
        .await;
    r.assert_error(422, "invalid_body");
    let r = app
        .patch(
            "/v1/me/preferences",
            &Auth::user(&tok),
            json!({"tabs": {"email": {"types": {"\u{0}": {}}}}}),
        )
        .await;
    r.assert_error(422, "invalid_body");
    assert_eq!(app.state.store.pending_events().await.unwrap(), 0);

    // In paths and token claims too.
    app.get("/v1/events/%00/trace", &Auth::Key)
        .await
        .assert_error(400, "invalid_path");
    app.post_empty("/v1/me/feed/ntf%00/read", &Auth::user(&tok))
        .await
        .assert_error(400, "invalid_path");
    app.delete("/v1/accounts/acme/profiles/p%00", &Auth::Key)
        .await
        .assert_error(400, "invalid_path");
    let nul_sub = sign_token(json!({"sub": "u\u{0}", "account": "acme", "exp": now_s() + 60}));
    app.get("/v1/me/feed", &Auth::Bearer(nul_sub))
        .await
        .assert_error(401, "unauthorized");

    // A backslash followed by "u0000" is ordinary text.
    let id = app
        .accept(with(good(), "data", json!({"note": "C:\\u0000\\dir"})))
        .await;
    app.wait_processed(&id).await;
    assert_eq!(app.feed(&tok).await.len(), 1);
}
