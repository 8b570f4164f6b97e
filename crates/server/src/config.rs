//! Configuration: the commented default file embedded in the binary, then an optional
//! file, then `VARSEL_*` environment variables. Validated at start; errors name the setting.

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

/// The embedded default configuration, with comments.
pub const DEFAULT_TOML: &str = include_str!("../default.toml");

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: String,
    pub database_url: String,
    pub api_key: String,
    pub token_secret: String,
    pub catalog: String,
    pub smtp_url: String,
    pub public_url: String,
    pub app_url: String,
    pub link_ttl_days: i64,
    pub email_from: String,
    pub email_templates: String,
    pub email_daily_cap: i64,
    pub smtp_timeout_seconds: u64,
    pub smtp_connect_timeout_seconds: u64,
    pub smtp_max_connections: usize,
    pub node_id: String,
    pub job_batch: i64,
    pub job_concurrency: usize,
    pub job_deadline_seconds: u64,
    pub channel_concurrency: usize,
    pub breaker_failures: u32,
    pub breaker_open_seconds: u64,
    pub breaker_max_open_seconds: u64,
    pub ready_max_backlog_seconds: u64,
    pub job_lease_seconds: i64,
    pub job_max_attempts: i64,
    pub job_retry_base_seconds: f64,
    pub job_retry_max_seconds: f64,
    pub max_body_bytes: usize,
    pub process_batch: i64,
    pub process_lease_seconds: i64,
    pub process_max_attempts: i64,
    pub process_workers: usize,
    pub log: String,
    pub log_format: String,
    pub secret_key: String,
    pub channel_timeout_seconds: u64,
    pub slack_api_url: String,
    pub webpush_contact: String,
    pub webpush_hosts: String,
    pub fcm_service_account: String,
    pub fcm_api_url: String,
    pub fcm_token_url: String,
    pub apns_key: String,
    pub apns_key_id: String,
    pub apns_team_id: String,
    pub apns_topic: String,
    pub apns_url: String,
    pub max_streams_per_user: usize,
    pub presence_ttl_seconds: u64,
    pub max_streams: usize,
    pub header_read_timeout_seconds: u64,
    pub idle_timeout_seconds: u64,
    pub max_connections: usize,
    pub rate_events_per_second: f64,
    pub rate_events_burst: u32,
    pub rate_auth_failures_per_minute: f64,
    pub rate_auth_failures_burst: u32,
    pub rate_pref_writes_per_minute: f64,
    pub rate_pref_writes_burst: u32,
    pub metrics_token: String,
    pub metrics_listen: String,
    pub teams_hosts: String,
    pub outbound_test_mode: bool,
}

/// A setting that failed validation.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration setting `{setting}` (VARSEL_{env}): {message}")]
    Invalid {
        setting: &'static str,
        env: String,
        message: String,
    },
}

fn invalid(setting: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        env: setting.to_uppercase(),
        message: message.into(),
    }
}

/// A readable loading error: an unknown setting names the closest known one; figment's
/// internal profile name (`default.`) is left out.
fn load_error(e: figment::Error) -> ConfigError {
    for err in e.clone() {
        if let figment::error::Kind::UnknownField(field, known) = &err.kind {
            let source = err
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref())
                .map(|s| format!(" in {s}"))
                .unwrap_or_default();
            let hint = closest(field, known)
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_else(|| "; `varsel default-config` lists every setting".into());
            return ConfigError::Load(format!("unknown setting `{field}`{source}{hint}"));
        }
    }
    ConfigError::Load(e.to_string().replace("default.", ""))
}

/// The known name nearest to `word`, if it is near enough to be a typo.
fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let (best, d) = known
        .iter()
        .map(|k| (*k, edit_distance(word, k)))
        .min_by_key(|(_, d)| *d)?;
    (d <= 2.max(word.chars().count() / 3)).then_some(best)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Config {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Load(format!(
                    "file {} does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file(path));
        }
        // Only settings are read from the environment: other VARSEL_* variables (the CLI's
        // VARSEL_URL and VARSEL_CONFIG, the tests' VARSEL_TEST_DATABASE_URL) are not ours.
        let known: Vec<String> = DEFAULT_TOML
            .parse::<toml::Table>()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        fig = fig
            .merge(Env::prefixed("VARSEL_").filter(move |k| known.iter().any(|x| k == x.as_str())));
        let cfg: Config = fig.extract().map_err(load_error)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The base of links to this server (emails, demo output).
    pub fn base_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    /// The base of relative object links in emails (`/deals/7`): `app_url`, else this
    /// server's `base_url`.
    pub fn app_base_url(&self) -> String {
        if self.app_url.is_empty() {
            self.base_url()
        } else {
            self.app_url.trim_end_matches('/').to_string()
        }
    }

    /// The built-in defaults alone (tests start from these).
    pub fn defaults() -> Config {
        // The embedded file is checked by a unit test.
        #[allow(clippy::expect_used)]
        Figment::from(Toml::string(DEFAULT_TOML))
            .extract()
            .expect("embedded default config is valid")
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen
            .parse::<SocketAddr>()
            .map_err(|e| invalid("listen", format!("not an address:port ({e})")))?;
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                "must start with sqlite: or postgres://",
            ));
        }
        if !self.token_secret.is_empty() && self.token_secret.len() < 32 {
            return Err(invalid("token_secret", "must be at least 32 characters"));
        }
        if !self.api_key.is_empty() && self.api_key.len() < 16 {
            return Err(invalid("api_key", "must be at least 16 characters"));
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "must be at least 1024"));
        }
        if !(1..=10_000).contains(&self.process_batch) {
            return Err(invalid("process_batch", "must be 1–10000"));
        }
        if !(1..=16).contains(&self.process_workers) {
            return Err(invalid("process_workers", "must be 1–16"));
        }
        if self.process_lease_seconds < 1 {
            return Err(invalid("process_lease_seconds", "must be at least 1"));
        }
        if self.process_max_attempts < 1 {
            return Err(invalid("process_max_attempts", "must be at least 1"));
        }
        if !self.email_from.contains('@') {
            return Err(invalid(
                "email_from",
                "must be an address, e.g. Varsel <varsel@example.com>",
            ));
        }
        if !(self.public_url.is_empty()
            || self.public_url.starts_with("https://")
            || self.public_url.starts_with("http://"))
        {
            return Err(invalid(
                "public_url",
                "must be an absolute http(s):// URL, e.g. https://varsel.example.com",
            ));
        }
        if !(self.app_url.is_empty()
            || self.app_url.starts_with("https://")
            || self.app_url.starts_with("http://"))
        {
            return Err(invalid(
                "app_url",
                "must be an absolute http(s):// URL, e.g. https://crm.example.com",
            ));
        }
        if !(1..=3650).contains(&self.link_ttl_days) {
            return Err(invalid("link_ttl_days", "must be 1–3650"));
        }
        if self.email_daily_cap < 1 {
            return Err(invalid("email_daily_cap", "must be at least 1"));
        }
        if self.job_lease_seconds < 1 || self.job_max_attempts < 1 {
            return Err(invalid(
                "job_lease_seconds",
                "job_lease_seconds and job_max_attempts must be at least 1",
            ));
        }
        if !(self.job_retry_base_seconds > 0.0
            && self.job_retry_max_seconds >= self.job_retry_base_seconds)
        {
            return Err(invalid(
                "job_retry_base_seconds",
                "must be > 0 and at most job_retry_max_seconds",
            ));
        }
        if !self.email_templates.is_empty() && !Path::new(&self.email_templates).is_dir() {
            return Err(invalid("email_templates", "must be a directory"));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(invalid("log_format", "must be text or json"));
        }
        if !self.smtp_url.is_empty()
            && !["smtp://", "smtps://", "smtp+starttls://"]
                .iter()
                .any(|p| self.smtp_url.starts_with(p))
        {
            return Err(invalid(
                "smtp_url",
                "must start with smtp://, smtps:// or smtp+starttls://",
            ));
        }
        for (setting, url) in [
            ("slack_api_url", &self.slack_api_url),
            ("fcm_api_url", &self.fcm_api_url),
            ("apns_url", &self.apns_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid(setting, "must be an http(s):// URL"));
            }
        }
        if !self.secret_key.is_empty() && self.secret_key.len() < 32 {
            return Err(invalid("secret_key", "must be at least 32 characters"));
        }
        if self.smtp_timeout_seconds == 0 || self.smtp_connect_timeout_seconds == 0 {
            return Err(invalid(
                "smtp_timeout_seconds",
                "smtp_timeout_seconds and smtp_connect_timeout_seconds must be at least 1",
            ));
        }
        if self.smtp_max_connections == 0 || self.channel_concurrency == 0 {
            return Err(invalid(
                "smtp_max_connections",
                "smtp_max_connections and channel_concurrency must be at least 1",
            ));
        }
        if self.job_batch < 1 || self.job_concurrency == 0 || self.job_deadline_seconds == 0 {
            return Err(invalid(
                "job_batch",
                "job_batch, job_concurrency and job_deadline_seconds must be at least 1",
            ));
        }
        if self.breaker_failures == 0 || self.breaker_open_seconds == 0 {
            return Err(invalid(
                "breaker_failures",
                "breaker_failures and breaker_open_seconds must be at least 1",
            ));
        }
        if self.channel_timeout_seconds == 0 {
            return Err(invalid("channel_timeout_seconds", "must be at least 1"));
        }
        if self.presence_ttl_seconds == 0 {
            return Err(invalid("presence_ttl_seconds", "must be at least 1"));
        }
        if self.max_streams_per_user == 0 || self.max_streams == 0 {
            return Err(invalid(
                "max_streams",
                "max_streams and max_streams_per_user must be at least 1",
            ));
        }
        if self.header_read_timeout_seconds == 0 || self.idle_timeout_seconds == 0 {
            return Err(invalid(
                "header_read_timeout_seconds",
                "header_read_timeout_seconds and idle_timeout_seconds must be at least 1",
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid("max_connections", "must be at least 1"));
        }
        for (setting, rate) in [
            ("rate_events_per_second", self.rate_events_per_second),
            (
                "rate_auth_failures_per_minute",
                self.rate_auth_failures_per_minute,
            ),
            (
                "rate_pref_writes_per_minute",
                self.rate_pref_writes_per_minute,
            ),
        ] {
            if !(rate.is_finite() && rate >= 0.0) {
                return Err(invalid(setting, "must be a number ≥ 0 (0: no limit)"));
            }
        }
        for (setting, burst) in [
            ("rate_events_burst", self.rate_events_burst),
            ("rate_auth_failures_burst", self.rate_auth_failures_burst),
            ("rate_pref_writes_burst", self.rate_pref_writes_burst),
        ] {
            if burst == 0 {
                return Err(invalid(setting, "must be at least 1"));
            }
        }
        if !self.metrics_token.is_empty() && self.metrics_token.len() < 16 {
            return Err(invalid("metrics_token", "must be at least 16 characters"));
        }
        if !self.metrics_listen.is_empty() {
            self.metrics_listen
                .parse::<SocketAddr>()
                .map_err(|e| invalid("metrics_listen", format!("not an address:port ({e})")))?;
        }
        if !self.apns_key.is_empty()
            && (self.apns_key_id.is_empty()
                || self.apns_team_id.is_empty()
                || self.apns_topic.is_empty())
        {
            return Err(invalid(
                "apns_key",
                "needs apns_key_id, apns_team_id and apns_topic as well",
            ));
        }
        Ok(())
    }

    /// Whether a push endpoint's host is one of `webpush_hosts` (or a subdomain of one).
    pub fn webpush_host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.webpush_hosts
            .split(',')
            .map(|h| h.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .any(|h| h == "*" || host == h || host.ends_with(&format!(".{h}")))
    }

    /// A setting that is either a path to a file or the value itself (keys, JSON).
    pub fn file_or_value(value: &str) -> std::io::Result<String> {
        let v = value.trim();
        if v.starts_with('{') || v.starts_with("-----BEGIN") {
            Ok(v.to_string())
        } else {
            std::fs::read_to_string(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid() {
        let c = Config::defaults();
        c.validate().unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://varsel.db");
    }

    #[test]
    // figment's test jail returns its own large error type.
    #[allow(clippy::result_large_err)]
    fn other_varsel_variables_are_not_settings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("VARSEL_URL", "http://127.0.0.1:8080");
            jail.set_env("VARSEL_CONFIG", "nothing.toml");
            jail.set_env("VARSEL_LISTEN", "127.0.0.1:9999");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "127.0.0.1:9999");
            Ok(())
        });
    }

    #[test]
    fn push_endpoints_must_be_at_a_known_push_service() {
        let mut c = Config::defaults();
        for ok in [
            "fcm.googleapis.com",
            "updates.push.services.mozilla.com",
            "wns2-par02p.notify.windows.com",
            "web.push.apple.com",
        ] {
            assert!(c.webpush_host_allowed(ok), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "evilfcm.googleapis.com.example",
            "googleapis.com",
            "internal",
        ] {
            assert!(!c.webpush_host_allowed(bad), "{bad}");
        }
        c.webpush_hosts = "127.0.0.1".into();
        assert!(c.webpush_host_allowed("127.0.0.1"));
        c.webpush_hosts = "*".into();
        assert!(c.webpush_host_allowed("anything.example"));
    }

    #[test]
    // figment's test jail returns its own large error type.
    #[allow(clippy::result_large_err)]
    fn an_unknown_setting_names_the_nearest_one() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("varsel.toml", "listn = \"127.0.0.1:9000\"\n")?;
            let e = Config::load(Some(Path::new("varsel.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("unknown setting `listn`"), "{e}");
            assert!(e.contains("did you mean `listen`?"), "{e}");
            assert!(!e.contains("default.") && !e.contains("apns_url"), "{e}");
            assert_eq!(e.matches('`').count() % 2, 0, "{e}");
            jail.create_file("other.toml", "zzzzzzzzzzzzz = 1\n")?;
            let e = Config::load(Some(Path::new("other.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("unknown setting `zzzzzzzzzzzzz`"), "{e}");
            assert!(e.contains("varsel default-config"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn public_and_app_urls_are_absolute() {
        let mut c = Config::defaults();
        c.public_url = "varsel.example.com".into();
        assert!(c.validate().unwrap_err().to_string().contains("public_url"));
        c.public_url = "https://varsel.example.com/".into();
        c.validate().unwrap();
        assert_eq!(c.base_url(), "https://varsel.example.com");
        assert_eq!(c.app_base_url(), "https://varsel.example.com");
        c.app_url = "/crm".into();
        assert!(c.validate().unwrap_err().to_string().contains("app_url"));
        c.app_url = "https://crm.example.com".into();
        assert_eq!(c.app_base_url(), "https://crm.example.com");
    }

    #[test]
    fn errors_name_the_setting() {
        let mut c = Config::defaults();
        c.listen = "nope".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("`listen`") && e.contains("VARSEL_LISTEN"), "{e}");
        let mut c = Config::defaults();
        c.token_secret = "short".into();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("token_secret")
        );
    }
}
