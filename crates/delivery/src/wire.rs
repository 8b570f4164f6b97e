//! What the push adapters (Web Push, FCM, APNs) share: the HTTP client, the
//! `Retry-After` header, the clock for JWT claims, sound names, and fitting a payload
//! into a provider's size limit.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::channel::Message;

/// An HTTP client for one provider: a whole-request `timeout`, no redirects (a push
/// endpoint that redirects is misconfigured, and following it would resend secrets), and
/// HTTP/2 only when `h2_only` (APNs: `h2` is the only ALPN protocol offered over TLS, and
/// HTTP/2 with prior knowledge over plain TCP, which is how the loopback test server
/// speaks).
pub(crate) fn client(timeout: Duration, h2_only: bool) -> Result<reqwest::Client, String> {
    let mut builder = base_builder(timeout);
    if h2_only {
        builder = builder
            .http2_prior_knowledge()
            .http2_keep_alive_interval(Duration::from_secs(60))
            .http2_keep_alive_while_idle(true);
    }
    builder.build().map_err(|e| format!("http client: {e}"))
}

/// An HTTP client for URLs set through the API (Teams webhooks, Web Push endpoints):
/// as [`client`], with the guard's resolver and no proxy, so it connects to public
/// addresses only (unless the guard is in test mode).
pub(crate) fn guarded_client(
    timeout: Duration,
    guard: &crate::guard::Guard,
) -> Result<reqwest::Client, String> {
    base_builder(timeout)
        .no_proxy()
        .dns_resolver(guard.resolver())
        .build()
        .map_err(|e| format!("http client: {e}"))
}

fn base_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("varsel/", env!("CARGO_PKG_VERSION")))
}

/// The `Retry-After` header in seconds, the form the push providers use.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let pairs: Vec<(String, String)> = headers
        .get_all(reqwest::header::RETRY_AFTER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| ("retry-after".to_string(), v.to_string()))
        .collect();
    crate::channel::retry_after(&pairs)
}

/// A transport error as text without the request URL (push endpoints and device tokens
/// are secrets and must not reach logs or delivery states).
pub(crate) fn network_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        return "no answer: timed out at the deadline".into();
    }
    // reqwest's own text ("error sending request") hides the cause: add the chain.
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Seconds since the Unix epoch, for `iat` / `exp` claims.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The sound a mobile notification plays: `None` (the message names no sound) is the
/// platform's `default`; `none` or an empty name is silence (no sound key at all); any
/// other name is used when it is a plain file stem (`[A-Za-z0-9_-]`, ≤ 64), else
/// `default`. Sound files are bundled with the app under these names.
pub(crate) fn sound_name(sound: Option<&str>) -> Option<String> {
    match sound.map(str::trim) {
        None => Some("default".into()),
        Some("" | "none") => None,
        Some(s)
            if s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            Some(s.to_string())
        }
        Some(_) => Some("default".into()),
    }
}

/// `s` cut to at most `max` bytes at a character boundary, ending in `…` when cut.
fn cut_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let ell = '…'.len_utf8();
    let mut end = max.saturating_sub(ell);
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    if end == 0 {
        return String::new();
    }
    format!("{}…", &s[..end])
}

/// Encodes `message` with `encode`, shortening it until the result is at most `max`
/// bytes: first the body, then the title, then dropping the URL. Each step removes at
/// least the overflow, so this ends quickly.
pub(crate) fn fit(message: &Message, max: usize, encode: impl Fn(&Message) -> Vec<u8>) -> Vec<u8> {
    let mut m = message.clone();
    for _ in 0..16 {
        let out = encode(&m);
        if out.len() <= max {
            return out;
        }
        let over = out.len() - max;
        if !m.body.is_empty() {
            let keep = m.body.len().saturating_sub(over + 3);
            m.body = cut_bytes(&m.body, keep);
        } else if !m.title.is_empty() {
            let keep = m.title.len().saturating_sub(over + 3);
            m.title = cut_bytes(&m.title, keep);
        } else if m.url.is_some() {
            m.url = None;
        } else {
            return out;
        }
    }
    encode(&m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(title: &str, body: &str) -> Message {
        Message {
            id: "ntf_1".into(),
            title: title.into(),
            body: body.into(),
            url: Some("https://crm.example/x".into()),
            sound: None,
            badge: None,
            locale: "en".into(),
        }
    }

    #[test]
    fn sounds() {
        assert_eq!(sound_name(None).as_deref(), Some("default"));
        assert_eq!(sound_name(Some("none")), None);
        assert_eq!(sound_name(Some("")), None);
        assert_eq!(sound_name(Some("chime")).as_deref(), Some("chime"));
        assert_eq!(sound_name(Some("../etc")).as_deref(), Some("default"));
    }

    #[test]
    fn cut_respects_characters() {
        assert_eq!(cut_bytes("æøå", 6), "æøå");
        assert_eq!(cut_bytes("æøåæ", 7), "æø…");
        assert_eq!(cut_bytes("abc", 2), "");
    }

    #[test]
    fn fit_shortens_the_body_then_the_title() {
        let enc = |m: &Message| serde_json::to_vec(m).unwrap_or_default();
        let m = msg("title", &"ø".repeat(3000));
        let out = fit(&m, 1000, enc);
        assert!(out.len() <= 1000, "{}", out.len());
        let back: Message = serde_json::from_slice(&out).expect("json");
        assert_eq!(back.title, "title");
        assert!(back.body.ends_with('…'));
        let m = msg(&"t".repeat(3000), "");
        let out = fit(&m, 500, enc);
        assert!(out.len() <= 500);
        let small = msg("a", "b");
        assert_eq!(fit(&small, 4096, enc), enc(&small));
    }
}
