//! `TestApp`: a real Varsel server on `127.0.0.1:0` with a fresh database per test
//! (SQLite in a temporary directory, or a fresh PostgreSQL database when
//! `VARSEL_TEST_DATABASE_URL` is set), plus HTTP and SSE helpers.

use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;
use varsel_server::app::start_on;
use varsel_server::config::Config;
use varsel_server::state::AppState;

pub use varsel_testkit::client::*;
use varsel_testkit::pg::{PgDatabase, fresh_pg};

/// 40 characters.
pub const TOKEN_SECRET: &str = "varsel-test-token-secret-0123456789abcde";

/// A running server with its own database.
pub struct TestApp {
    /// The HTTP side: every request helper (`app.post(…)`, `app.stream(…)`).
    pub api: Api,
    pub state: AppState,
    server: tokio::task::JoinHandle<()>,
    // Field order: the server's database goes after the server stops.
    pg: Option<PgDatabase>,
    _dir: TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        drop(self.pg.take());
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}, None).await
    }

    /// A server with a changed configuration and, optionally, a clock the test moves.
    pub async fn spawn_with(
        configure: impl FnOnce(&mut Config),
        clock: Option<varsel_server::clock::ManualClock>,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = Config::defaults();
        cfg.api_key = API_KEY.into();
        cfg.token_secret = TOKEN_SECRET.into();
        cfg.listen = "127.0.0.1:0".into();
        // The provider test servers listen on loopback over plain HTTP.
        cfg.outbound_test_mode = true;
        cfg.teams_hosts = format!("{},127.0.0.1", cfg.teams_hosts);
        let pg = match std::env::var("VARSEL_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let (db, db_url) = fresh_pg(&url).await;
                cfg.database_url = db_url;
                Some(db)
            }
            _ => {
                cfg.database_url = format!("sqlite://{}", dir.path().join("varsel.db").display());
                None
            }
        };
        configure(&mut cfg);
        cfg.validate().expect("test config is valid");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let clock = clock
            .map(|c| std::sync::Arc::new(c) as std::sync::Arc<dyn varsel_server::clock::Clock>);
        let running = start_on(cfg, listener, clock).await.expect("server starts");
        let base = format!("http://{}", running.addr);
        TestApp {
            api: Api::new(base),
            state: running.state,
            server: running.server,
            pg,
            _dir: dir,
        }
    }
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// A token signed with the test secret, with any claims (expired ones included).
pub fn sign_token(claims: Value) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(TOKEN_SECRET.as_bytes()),
    )
    .expect("sign token")
}
