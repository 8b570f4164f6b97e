//! The links in a real email, followed over HTTP: every link absolute; "change your
//! settings" opens the recipient's own settings signed in; `List-Unsubscribe` with
//! RFC 8058 one-click turns that type's email off with one POST; the page a person sees
//! changes nothing until asked, and undo puts the setting back.

use reqwest::Method;
use serde_json::json;
use varsel_testkit::smtp::{Received, SmtpSink};

use crate::email::crm;
use crate::harness::{Auth, TestApp};
use crate::scheduler::{advance, scheduled_app, until};

fn event(kind: &str, id: &str) -> serde_json::Value {
    json!({
        "type": kind, "account_id": "acme", "actor_id": "boss", "recipients": ["kari"],
        "object": {"type": "note", "id": id, "name": "Q4", "url": "/deals/7"},
    })
}

async fn mails(app: &TestApp, sink: &SmtpSink, n: usize) -> Vec<Received> {
    until(app, &format!("{n} emails at the SMTP server"), || async {
        sink.messages().len() >= n
    })
    .await;
    sink.messages()
}

fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|s| s.replace("&amp;", "&"))
        .collect()
}

fn header(m: &Received, name: &str) -> Option<String> {
    m.parsed().header_raw(name).map(|v| v.trim().to_string())
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn email_pref(app: &TestApp, token: &str, kind: &str) -> serde_json::Value {
    app.prefs(token).await["tabs"]["email"]["types"][kind].clone()
}

#[tokio::test]
async fn email_links_open_settings_and_unsubscribe_in_one_click() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let (app, clock) = scheduled_app(move |c| {
        c.smtp_url = url;
        c.link_ttl_days = 30;
    })
    .await;
    crm(&app).await;
    let kari = app.token("acme", "kari").await;
    app.deliver(event("deals.mention", "n1")).await;
    let m = mails(&app, &sink, 1).await.remove(0);
    let msg = m.parsed();
    let html = msg.body_html(0).unwrap().to_string();
    let text = msg.body_text(0).unwrap().to_string();

    // Every link is absolute: the object's relative link too (public_url is the base).
    let links = hrefs(&html);
    assert!(links.len() >= 3, "{html}");
    for l in &links {
        assert!(l.starts_with("http://") || l.starts_with("https://"), "{l}");
    }
    assert!(
        links.contains(&format!("{}/deals/7", app.base)),
        "{links:?}"
    );
    assert!(
        text.contains(&format!("Åpne: {}/deals/7", app.base)),
        "{text}"
    );

    // RFC 8058 headers.
    let unsubscribe = header(&m, "List-Unsubscribe").unwrap();
    let unsubscribe = unsubscribe.trim_start_matches('<').trim_end_matches('>');
    assert!(unsubscribe.starts_with(&format!("{}/email/unsubscribe/", app.base)));
    assert_eq!(
        header(&m, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        links.iter().any(|l| l == unsubscribe),
        "footer links it too"
    );

    // "Change your settings" → Kari's settings page, signed in, at the type.
    let settings = links
        .iter()
        .find(|l| l.contains("/email/settings/"))
        .expect("a settings link")
        .clone();
    assert!(text.contains(&settings));
    let r = no_redirects().get(&settings).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/ui/preferences?token="), "{to}");
    assert!(to.ends_with("&type=deals.mention#email"), "{to}");
    let session = to
        .trim_start_matches("/ui/preferences?token=")
        .split('&')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        email_pref(&app, &session, "deals.mention").await["on"],
        true
    );
    let me = app.get("/v1/me/feed", &Auth::user(&session)).await;
    assert_eq!(me.ok(200)["items"][0]["type"], "deals.mention");
    // The page itself answers.
    let page = app.client.get(app.url(&to)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);

    // A person's GET shows a page and changes nothing (mail scanners follow links).
    let page = app
        .client
        .get(unsubscribe)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("data-state=\"confirm\""), "{body}");
    assert!(
        body.contains("Slutte å få e-post om «Nevnt på en avtale»?"),
        "{body}"
    );
    assert_eq!(email_pref(&app, &kari, "deals.mention").await["on"], true);

    // One POST, nothing else needed: that type's email is off, nothing else changes.
    let r = app
        .send(
            app.client
                .post(unsubscribe)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click"),
        )
        .await;
    assert_eq!(r.ok(200), &json!({"type": "deals.mention", "email": false}));
    let p = email_pref(&app, &kari, "deals.mention").await;
    assert_eq!(
        (p["on"].clone(), p["source"].clone()),
        (json!(false), json!("user"))
    );
    assert_eq!(email_pref(&app, &kari, "crm.mention").await["on"], true);
    let prefs = app.prefs(&kari).await;
    assert_eq!(
        prefs["tabs"]["desktop"]["types"]["deals.mention"]["on"],
        true
    );
    // A bare POST (no body at all) is just as good, and repeating it is harmless.
    let again = app.send(app.client.post(unsubscribe)).await;
    assert_eq!(again.ok(200)["email"], false);

    // The next mention sends no email.
    let t = app.deliver(event("deals.mention", "n2")).await;
    t.assert("kari", "email", "skipped", "preference:user");

    // Undo from the page (a form POST) puts back what was there: the catalog default.
    let undo = app
        .client
        .post(format!("{unsubscribe}/undo"))
        .header("Accept", "text/html")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("restore=inherit")
        .send()
        .await
        .unwrap();
    assert_eq!(undo.status().as_u16(), 200);
    assert!(
        undo.text()
            .await
            .unwrap()
            .contains("data-state=\"resubscribed\"")
    );
    let p = email_pref(&app, &kari, "deals.mention").await;
    assert_eq!(
        (p["on"].clone(), p["source"].clone()),
        (json!(true), json!("catalog"))
    );

    // A link token is no user token, a changed one is refused, an old one has expired.
    let token = unsubscribe.rsplit('/').next().unwrap();
    app.get("/v1/me/feed", &Auth::user(token))
        .await
        .assert_error(401, "unauthorized");
    let mut bad = unsubscribe.to_string();
    bad.pop();
    app.send(app.client.post(&bad))
        .await
        .assert_error(400, "invalid_link");
    let bad_settings = app
        .client
        .get(settings.replace("/email/settings/", "/email/settings/x"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_settings.status().as_u16(), 400);
    assert!(
        bad_settings
            .text()
            .await
            .unwrap()
            .contains("data-state=\"error\"")
    );
    // A settings token does not unsubscribe.
    let settings_token = settings.rsplit('/').next().unwrap();
    app.send(
        app.client
            .post(app.url(&format!("/email/unsubscribe/{settings_token}"))),
    )
    .await
    .assert_error(400, "invalid_link");
    advance(&app, &clock, 31 * 24 * 3600).await;
    let kari = app.token("acme", "kari").await;
    app.send(app.client.post(unsubscribe))
        .await
        .assert_error(410, "link_expired");
    app.send(app.client.get(&settings))
        .await
        .assert_error(410, "link_expired");
    assert_eq!(email_pref(&app, &kari, "deals.mention").await["on"], true);
}

#[tokio::test]
async fn undo_restores_a_users_own_choice_and_mandatory_emails_have_no_unsubscribe() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let (app, _clock) = scheduled_app(move |c| c.smtp_url = url).await;
    crm(&app).await;
    let kari = app.token("acme", "kari").await;
    // Kari chose "on" herself.
    app.patch(
        "/v1/me/preferences",
        &Auth::user(&kari),
        json!({"tabs": {"email": {"types": {"crm.mention": {"on": true}}}}}),
    )
    .await
    .ok(200);
    app.deliver(event("crm.mention", "c1")).await;
    app.deliver(event("account.billing", "b1")).await;
    let all = mails(&app, &sink, 2).await;
    let (billing, mention): (Vec<_>, Vec<_>) = all.into_iter().partition(|m| {
        m.parsed()
            .body_text(0)
            .is_some_and(|t| !t.contains("nevnte deg i et notat"))
    });
    // A mandatory email cannot be unsubscribed from: no header, no footer link.
    let b = &billing[0];
    assert_eq!(header(b, "List-Unsubscribe"), None);
    assert_eq!(header(b, "List-Unsubscribe-Post"), None);
    assert!(
        !b.parsed()
            .body_html(0)
            .unwrap()
            .contains("/email/unsubscribe/")
    );
    assert!(
        b.parsed()
            .body_html(0)
            .unwrap()
            .contains("/email/settings/")
    );

    let unsubscribe = header(&mention[0], "List-Unsubscribe").unwrap();
    let unsubscribe = unsubscribe.trim_start_matches('<').trim_end_matches('>');
    // The page's POST answers the confirmation with undo set to her own choice.
    let page = app
        .client
        .post(unsubscribe)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-state=\"unsubscribed\""), "{page}");
    assert!(page.contains("name=\"restore\" value=\"on\""), "{page}");
    assert!(page.contains("Angre"), "{page}");
    assert_eq!(email_pref(&app, &kari, "crm.mention").await["on"], false);
    let r = app
        .send(
            app.client
                .post(format!("{unsubscribe}/undo"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("restore=on"),
        )
        .await;
    assert_eq!(r.ok(200), &json!({"type": "crm.mention", "email": true}));
    let p = email_pref(&app, &kari, "crm.mention").await;
    assert_eq!(
        (p["on"].clone(), p["source"].clone()),
        (json!(true), json!("user"))
    );
    // Another method: 405 in the API's envelope.
    app.send(app.client.request(Method::PUT, unsubscribe))
        .await
        .assert_error(405, "method_not_allowed");
}
