//! Real time: `GET /v1/me/stream` frames, pop-up vs browser routing by presence, sounds,
//! unread counts and resume with `Last-Event-ID`.

use serde_json::{Value, json};

use crate::harness::*;

async fn setup(app: &TestApp) -> String {
    app.put_account("acme", "enterprise").await;
    app.put_user("acme", "ada", json!({"name": "Ada"})).await;
    app.put_user("acme", "u", json!({"name": "You"})).await;
    app.token("acme", "u").await
}

fn risky() -> Value {
    json!({"type": "login_alert.risky_login", "account_id": "acme", "recipients": ["u"],
           "data": {"location": "Oslo"}})
}

fn stage(s: &str) -> Value {
    json!({"type": "deals.stage_changed", "account_id": "acme", "actor_id": "ada", "recipients": ["u"],
           "data": {"stage": s}})
}

/// Opens a tab's stream and reads its first frame (the unread count), so the tab is
/// registered before anything is posted.
async fn open(app: &TestApp, tok: &str, query: &str, unread: i64) -> SseClient {
    let mut s = app.stream(tok, query).await;
    assert_eq!(s.expect_unread().await, unread);
    s
}

#[tokio::test]
async fn an_active_tab_gets_the_item_with_a_popup_and_the_new_count() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let mut tab = open(&app, &tok, "tab_id=a&active=true", 0).await;

    let t = app.deliver(risky()).await;
    t.assert("u", "bell", "sent", "preference:catalog");
    t.assert("u", "popup", "sent", "preference:catalog");
    t.assert("u", "browser", "skipped", "presence:active");

    let f = tab.expect_notification().await;
    let data = f.json();
    assert_eq!(data["type"], json!("login_alert.risky_login"));
    assert_eq!(data["title"], json!("Unusual sign-in to your account"));
    assert_eq!(data["popup"], json!({"sound": "knock"}));
    assert!(data.get("browser").is_none(), "{data}");
    assert_eq!(data["bell"], json!(true));
    assert_eq!(tab.expect_unread().await, 1);

    // The frame is the feed item.
    let feed = app.feed(&tok).await;
    assert_eq!(feed.len(), 1);
    assert_eq!(data["id"], feed[0]["id"]);
    assert_eq!(data["created_at"], feed[0]["created_at"]);
    let seq: i64 = f.id.as_deref().unwrap().parse().expect("numeric event id");
    assert!(seq > 0);
}

#[tokio::test]
async fn open_tabs_without_an_active_one_get_a_browser_notification() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let mut a = open(&app, &tok, "tab_id=a", 0).await;
    let mut b = open(&app, &tok, "tab_id=b&active=false", 0).await;

    let t = app.deliver(risky()).await;
    t.assert("u", "popup", "skipped", "presence:not_active");
    t.assert("u", "browser", "sent", "preference:catalog");
    for tab in [&mut a, &mut b] {
        let data = tab.expect_notification().await.json();
        assert_eq!(data["browser"], json!(true), "{data}");
        assert!(data.get("popup").is_none(), "{data}");
        assert_eq!(tab.expect_unread().await, 1);
    }

    // One tab becomes active: it shows the pop-up, the other shows nothing.
    let r = app
        .post(
            "/v1/me/presence",
            &Auth::user(&tok),
            json!({"tab_id": "a", "active": true}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let t = app.deliver(risky()).await;
    t.assert("u", "popup", "sent", "preference:catalog");
    t.assert("u", "browser", "skipped", "presence:active");
    let da = a.expect_notification().await.json();
    assert_eq!(da["popup"], json!({"sound": "knock"}));
    assert!(da.get("browser").is_none(), "{da}");
    let db = b.expect_notification().await.json();
    assert!(
        db.get("popup").is_none() && db.get("browser").is_none(),
        "{db}"
    );
    assert_eq!(a.expect_unread().await, 2);
    assert_eq!(b.expect_unread().await, 2);

    // And inactive again: back to browser notifications.
    app.post(
        "/v1/me/presence",
        &Auth::user(&tok),
        json!({"tab_id": "a", "active": false}),
    )
    .await
    .ok(204);
    app.deliver(risky())
        .await
        .assert("u", "browser", "sent", "preference:catalog");
    assert_eq!(a.expect_notification().await.json()["browser"], json!(true));
    assert_eq!(b.expect_notification().await.json()["browser"], json!(true));
}

/// Delivers an event to the active tab and returns the pop-up sound it carried.
async fn next_sound(app: &TestApp, tab: &mut SseClient, ev: Value) -> Value {
    app.deliver(ev).await;
    let data = tab.expect_notification().await.json();
    tab.expect_unread().await;
    data["popup"]["sound"].clone()
}

#[tokio::test]
async fn popup_sound_follows_type_and_user_choice() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let me = Auth::user(&tok);
    let mut tab = open(&app, &tok, "tab_id=a&active=true", 0).await;
    assert_eq!(
        next_sound(&app, &mut tab, stage("S1")).await,
        json!("chime")
    );
    // The user's default sound applies to types without their own sound.
    app.patch(
        "/v1/me/preferences",
        &me,
        json!({"tabs": {"desktop": {"popup": {"sound": "marimba"}}}}),
    )
    .await
    .ok(200);
    assert_eq!(
        next_sound(&app, &mut tab, stage("S2")).await,
        json!("marimba")
    );
    assert_eq!(next_sound(&app, &mut tab, risky()).await, json!("knock"));
    // A per-type choice beats the type's own sound.
    let doc = app
        .patch(
            "/v1/me/preferences",
            &me,
            json!({"tabs": {"desktop": {"types": {"login_alert.risky_login": {"sound": "ding"}}}}}),
        )
        .await;
    assert_eq!(
        doc.ok(200)["tabs"]["desktop"]["types"]["login_alert.risky_login"]["sound"],
        json!("ding")
    );
    assert_eq!(next_sound(&app, &mut tab, risky()).await, json!("ding"));
    // "Mute sound" from the item menu.
    app.post_empty("/v1/me/preferences/types/login_alert.risky_login/mute", &me)
        .await
        .ok(200);
    assert_eq!(next_sound(&app, &mut tab, risky()).await, json!("none"));
}

#[tokio::test]
async fn no_popup_when_the_popup_sub_channel_is_off() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let me = Auth::user(&tok);
    app.patch(
        "/v1/me/preferences",
        &me,
        json!({"tabs": {"desktop": {"popup": {"enabled": false}}}}),
    )
    .await
    .ok(200);
    let mut tab = open(&app, &tok, "tab_id=a&active=true", 0).await;
    let t = app.deliver(risky()).await;
    t.assert("u", "popup", "skipped", "switch_off:popup");
    t.assert("u", "bell", "sent", "preference:catalog");
    let data = tab.expect_notification().await.json();
    assert!(
        data.get("popup").is_none() && data.get("browser").is_none(),
        "{data}"
    );
    assert_eq!(tab.expect_unread().await, 1);

    // Browser off too: an inactive tab gets the bell item only.
    app.patch(
        "/v1/me/preferences",
        &me,
        json!({"tabs": {"desktop": {"browser": {"enabled": false}}}}),
    )
    .await
    .ok(200);
    app.post(
        "/v1/me/presence",
        &me,
        json!({"tab_id": "a", "active": false}),
    )
    .await
    .ok(204);
    let t = app.deliver(risky()).await;
    t.assert("u", "browser", "skipped", "switch_off:browser");
    let data = tab.expect_notification().await.json();
    assert!(
        data.get("popup").is_none() && data.get("browser").is_none(),
        "{data}"
    );
}

#[tokio::test]
async fn with_the_bell_off_a_popup_still_shows_but_nothing_is_listed() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let me = Auth::user(&tok);
    app.patch(
        "/v1/me/preferences",
        &me,
        json!({"tabs": {"desktop": {"bell": {"enabled": false}}}}),
    )
    .await
    .ok(200);
    let mut tab = open(&app, &tok, "tab_id=a&active=true", 0).await;
    let t = app.deliver(risky()).await;
    t.assert("u", "bell", "skipped", "switch_off:bell");
    t.assert("u", "popup", "sent", "preference:catalog");
    let f = tab.expect_notification().await;
    let data = f.json();
    assert_eq!(data["popup"], json!({"sound": "knock"}));
    assert_eq!(data["bell"], json!(false));
    assert!(app.feed(&tok).await.is_empty());
    assert_eq!(app.unread(&tok).await, 0);

    // With the bell back on, the next item is listed, and only the count moves.
    app.patch(
        "/v1/me/preferences",
        &me,
        json!({"tabs": {"desktop": {"bell": {"enabled": true}}}}),
    )
    .await
    .ok(200);
    app.deliver(risky()).await;
    let data = tab.expect_notification().await.json();
    assert_eq!(data["bell"], json!(true));
    assert_eq!(tab.expect_unread().await, 1);
    assert_eq!(app.feed(&tok).await.len(), 1);
}

#[tokio::test]
async fn unread_count_frames_follow_new_items_and_reads() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let me = Auth::user(&tok);
    let mut tab = open(&app, &tok, "tab_id=a", 0).await;
    for (i, s) in ["S1", "S2"].into_iter().enumerate() {
        app.deliver(stage(s)).await;
        tab.expect_notification().await;
        assert_eq!(tab.expect_unread().await, i as i64 + 1);
    }
    let newest = app.feed(&tok).await[0]["id"].as_str().unwrap().to_string();
    app.post_empty(&format!("/v1/me/feed/{newest}/read"), &me)
        .await
        .ok(204);
    assert_eq!(tab.expect_unread().await, 1);
    app.post_empty("/v1/me/feed/read-all", &me).await.ok(204);
    assert_eq!(tab.expect_unread().await, 0);

    // A second tab opens with the current count.
    app.deliver(stage("S3")).await;
    tab.expect_notification().await;
    assert_eq!(tab.expect_unread().await, 1);
    open(&app, &tok, "tab_id=b", 1).await;
}

#[tokio::test]
async fn reconnecting_with_last_event_id_replays_exactly_what_was_missed() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let mut tab = open(&app, &tok, "tab_id=a", 0).await;
    app.deliver(stage("S1")).await;
    let first = tab.expect_notification().await;
    let first_id = first.id.clone().unwrap();
    assert_eq!(tab.expect_unread().await, 1);
    drop(tab);

    // Missed while disconnected.
    app.deliver(stage("S2")).await;
    app.deliver(stage("S3")).await;

    let mut tab = app
        .stream_with(&tok, "tab_id=a", Some(&first_id))
        .await
        .expect("stream opens");
    let mut replayed = Vec::new();
    loop {
        let f = tab.expect_frame().await;
        if f.event == "unread_count" {
            assert_eq!(f.json()["unread"], json!(3));
            break;
        }
        let f = SseClient::check(f, "notification");
        replayed.push((
            f.id.clone().unwrap(),
            f.json()["title"].as_str().unwrap().to_string(),
        ));
    }
    let titles: Vec<&str> = replayed.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(titles, ["Ada moved a deal to S2", "Ada moved a deal to S3"]);
    let ids: Vec<i64> = replayed.iter().map(|(id, _)| id.parse().unwrap()).collect();
    let first_seq: i64 = first_id.parse().unwrap();
    assert!(first_seq < ids[0] && ids[0] < ids[1], "{first_seq} {ids:?}");

    // Live again: the next item arrives once.
    app.deliver(stage("S4")).await;
    let live = tab.expect_notification().await;
    assert_eq!(live.json()["title"], json!("Ada moved a deal to S4"));
    assert!(live.id.as_deref().unwrap().parse::<i64>().unwrap() > ids[1]);
    assert_eq!(tab.expect_unread().await, 4);

    // Resuming from S3 replays S4 only; from S4, nothing.
    let mut other = app
        .stream_with(&tok, "tab_id=b", Some(&ids[1].to_string()))
        .await
        .expect("stream opens");
    let f = other.expect_notification().await;
    assert_eq!(f.json()["title"], json!("Ada moved a deal to S4"));
    assert_eq!(other.expect_unread().await, 4);
    let mut third = app
        .stream_with(&tok, "tab_id=c", f.id.as_deref())
        .await
        .expect("stream opens");
    assert_eq!(third.expect_unread().await, 4);
}

#[tokio::test]
async fn the_stream_accepts_the_token_in_the_query_for_event_source() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let r = app
        .client
        .get(app.url(&format!("/v1/me/stream?tab_id=q&active=true&token={tok}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // Only the stream accepts it.
    let r = app
        .get(&format!("/v1/me/feed?token={tok}"), &Auth::None)
        .await;
    r.assert_error(401, "unauthorized");
}

/// A raw HTTP/1 request on a fresh connection; returns everything read until `until`
/// appears (or the connection closes).
async fn raw(app: &TestApp, request: &str, until: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(until) {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_stream_on_a_fresh_connection_is_written_frame_by_frame() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    // HTTP/1.1: chunked, one chunk per frame, the connection closes after.
    let head = raw(
        &app,
        &format!("GET /v1/me/stream?token={tok}&tab_id=raw HTTP/1.1\r\nHost: x\r\n\r\n"),
        "unread_count",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("content-type: text/event-stream"), "{head}");
    assert!(lower.contains("transfer-encoding: chunked"), "{head}");
    assert!(lower.contains("connection: close"), "{head}");
    assert!(
        head.contains("event: unread_count\ndata: {\"unread\":0}"),
        "{head}"
    );
    // HTTP/1.0: no chunks.
    let old = raw(
        &app,
        &format!("GET /v1/me/stream?token={tok}&tab_id=old HTTP/1.0\r\n\r\n"),
        "unread_count",
    )
    .await;
    assert!(old.starts_with("HTTP/1.1 200 OK\r\n"), "{old}");
    assert!(!old.to_ascii_lowercase().contains("chunked"), "{old}");
    // Refusals are the API's usual JSON errors.
    let denied = raw(&app, "GET /v1/me/stream HTTP/1.1\r\nHost: x\r\n\r\n", "}").await;
    assert!(
        denied.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{denied}"
    );
    assert!(denied.contains("\"unauthorized\""), "{denied}");
    // A head that is not a plain GET is refused before the router.
    let bad = raw(
        &app,
        "GET /v1/me/stream HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        "\r\n\r\n",
    )
    .await;
    assert!(bad.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad}");
    // And the stream's frames keep coming on the raw connection.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!(
            "GET /v1/me/stream?token={tok}&tab_id=live&active=true HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    let mut posted = false;
    while !got.contains("event: notification\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("frames in time")
            .unwrap();
        assert!(n > 0, "closed early: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
        if !posted && got.contains("unread_count") {
            app.deliver(risky()).await;
            posted = true;
        }
    }
    assert!(got.contains("Unusual sign-in"), "{got}");
}
