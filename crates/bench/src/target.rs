//! What the scenarios run against: Varsel in this process (`app::start_on`) on a fresh
//! SQLite file or a fresh PostgreSQL database, the real binary as a child process, and
//! the bulk seeding of accounts, users and teams.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tempfile::TempDir;
use tokio::net::TcpListener;
use varsel_server::app::start_on;
use varsel_server::auth::{Claims, Tokens};
use varsel_server::config::Config;
use varsel_server::state::AppState;

pub const API_KEY: &str = "bench-api-key-0123456789abcdef";
pub const TOKEN_SECRET: &str = "bench-token-secret-0123456789abcdef0123";
pub const ACCOUNT: &str = "bench";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A fresh database: a SQLite file in a temporary folder, or a PostgreSQL database that
/// [`FreshDb::drop_db`] removes.
pub struct FreshDb {
    pub url: String,
    pub backend: Backend,
    pg: Option<(String, String)>,
    _dir: TempDir,
}

impl FreshDb {
    pub async fn create(backend: Backend, pg_admin: &str) -> anyhow::Result<FreshDb> {
        let dir = tempfile::Builder::new().prefix("varsel-bench").tempdir()?;
        match backend {
            Backend::Sqlite => Ok(FreshDb {
                url: format!("sqlite://{}", dir.path().join("varsel.db").display()),
                backend,
                pg: None,
                _dir: dir,
            }),
            Backend::Postgres => {
                use sqlx::Connection;
                let name = format!("varsel_bench_{}", varsel_server::auth::random_hex(6));
                let mut conn = sqlx::PgConnection::connect(pg_admin)
                    .await
                    .with_context(|| format!("connecting to PostgreSQL at {pg_admin}"))?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await?;
                let _ = conn.close().await;
                let base = pg_admin
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(pg_admin);
                Ok(FreshDb {
                    url: format!("{base}/{name}"),
                    backend,
                    pg: Some((pg_admin.to_string(), name)),
                    _dir: dir,
                })
            }
        }
    }

    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Drops the PostgreSQL database (the SQLite folder goes with the value).
    pub async fn drop_db(self) -> anyhow::Result<()> {
        if let Some((admin, name)) = &self.pg {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await?;
            let _ = conn.close().await;
        }
        Ok(())
    }
}

/// A direct connection to the database, for bulk seeding and checks.
pub enum Direct {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

impl Direct {
    pub async fn open(url: &str) -> anyhow::Result<Direct> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .busy_timeout(Duration::from_secs(30))
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
            Ok(Direct::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts)
                    .await?,
            ))
        } else {
            Ok(Direct::Pg(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(PgConnectOptions::from_str(url)?)
                    .await?,
            ))
        }
    }

    /// Runs statements (built by the bench from its own ids) in one transaction.
    pub async fn exec_all(&self, stmts: &[String]) -> anyhow::Result<()> {
        match self {
            Direct::Sqlite(p) => {
                let mut tx = p.begin().await?;
                for s in stmts {
                    sqlx::query(sqlx::AssertSqlSafe(s.clone()))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
            Direct::Pg(p) => {
                let mut tx = p.begin().await?;
                for s in stmts {
                    sqlx::query(sqlx::AssertSqlSafe(s.clone()))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    pub async fn count(&self, sql: &str) -> anyhow::Result<i64> {
        use sqlx::Row;
        Ok(match self {
            Direct::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(p)
                .await?
                .try_get(0)?,
            Direct::Pg(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .fetch_one(p)
                .await?
                .try_get(0)?,
        })
    }

    pub async fn close(self) {
        match self {
            Direct::Sqlite(p) => p.close().await,
            Direct::Pg(p) => p.close().await,
        }
    }
}

/// Who to create.
pub struct Seed<'a> {
    /// Users `{prefix}0 … {prefix}{n-1}`.
    pub prefix: &'a str,
    pub n: usize,
    /// The users' `flags` document.
    pub flags: &'a str,
    /// The users' own preference layer.
    pub prefs: &'a str,
    /// A team of them all (primary members), if named.
    pub team: Option<&'a str>,
}

impl<'a> Seed<'a> {
    /// `n` users `{prefix}0 …` with no flags, email off (bell, pop-up and browser on), no team.
    pub fn bell_only(prefix: &'a str, n: usize) -> Seed<'a> {
        Seed {
            prefix,
            n,
            flags: "{}",
            prefs: EMAIL_OFF,
            team: None,
        }
    }
}

/// Preference layer that switches email off (the bell, pop-up and browser stay on).
pub const EMAIL_OFF: &str = r#"{"switches":{"email":false}}"#;

/// Creates the account (professional), an actor `actor`, and the users (and team) in one
/// transaction of multi-row statements: seeding 10,000 users through the API would take
/// one commit each.
pub async fn seed(db: &Direct, s: &Seed<'_>) -> anyhow::Result<()> {
    let now = 1_700_000_000_000i64;
    let mut stmts = vec![format!(
        "INSERT INTO accounts (id, name, tier, created_at, updated_at) VALUES ('{ACCOUNT}', 'Bench', 'professional', {now}, {now}) ON CONFLICT (id) DO NOTHING"
    )];
    let user = |id: &str, prefs: &str, flags: &str| {
        format!(
            "('{ACCOUNT}', '{id}', '{id}@bench.test', 'User {id}', 'en', 'UTC', '[]', '[]', '{flags}', '{prefs}', {now}, {now})"
        )
    };
    stmts.push(format!(
        "INSERT INTO users (account_id, id, email, name, locale, timezone, roles, permissions, flags, prefs, created_at, updated_at) VALUES {} ON CONFLICT DO NOTHING",
        user("actor", "{}", "{}")
    ));
    let ids: Vec<String> = (0..s.n).map(|i| format!("{}{i}", s.prefix)).collect();
    for chunk in ids.chunks(500) {
        let values: Vec<String> = chunk.iter().map(|id| user(id, s.prefs, s.flags)).collect();
        stmts.push(format!(
            "INSERT INTO users (account_id, id, email, name, locale, timezone, roles, permissions, flags, prefs, created_at, updated_at) VALUES {}",
            values.join(", ")
        ));
    }
    if let Some(team) = s.team {
        stmts.push(format!(
            "INSERT INTO teams (account_id, id, name, created_at, updated_at) VALUES ('{ACCOUNT}', '{team}', 'Team {team}', {now}, {now})"
        ));
        for chunk in ids.chunks(500) {
            let values: Vec<String> = chunk
                .iter()
                .map(|id| format!("('{ACCOUNT}', '{team}', '{id}', TRUE)"))
                .collect();
            stmts.push(format!(
                "INSERT INTO team_members (account_id, team_id, user_id, is_primary) VALUES {}",
                values.join(", ")
            ));
        }
    }
    db.exec_all(&stmts).await
}

/// A user token for `user` of the bench account, valid for an hour.
pub fn token(user: &str) -> anyhow::Result<String> {
    let tokens = Tokens::new(TOKEN_SECRET.as_bytes());
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64
        + 3600;
    tokens
        .sign(&Claims {
            sub: user.to_string(),
            account: ACCOUNT.to_string(),
            exp,
            iat: None,
        })
        .map_err(|e| anyhow::anyhow!("signing a token: {}", e.message))
}

/// The in-process server's settings: `VARSEL_*` environment variables as `varsel serve`
/// reads them (to try a setting), then the benchmark's own.
pub fn config(db_url: &str) -> Config {
    let mut cfg = Config::load(None).unwrap_or_else(|e| {
        eprintln!("ignoring the VARSEL_* settings: {e}");
        Config::defaults()
    });
    cfg.api_key = API_KEY.into();
    cfg.token_secret = TOKEN_SECRET.into();
    cfg.database_url = db_url.into();
    cfg.log = "warn".into();
    // The benchmarks measure throughput: the per-key event limit would measure itself.
    cfg.rate_events_per_second = 0.0;
    cfg
}

/// Varsel running in this process.
pub struct InProcess {
    pub addr: SocketAddr,
    pub state: AppState,
    pub direct: Direct,
}

impl InProcess {
    pub async fn start(db: &FreshDb, configure: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let mut cfg = config(&db.url);
        configure(&mut cfg);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let running = start_on(cfg, listener, None).await?;
        let direct = Direct::open(&db.url).await?;
        Ok(InProcess {
            addr: running.addr,
            state: running.state,
            direct,
        })
    }

    /// Waits until no event is pending (bounded).
    pub async fn drained(&self, limit: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            if self.state.store.pending_events().await? == 0 {
                return Ok(start.elapsed());
            }
            anyhow::ensure!(
                start.elapsed() < limit,
                "events still pending after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// The release binary next to this one (`scripts/bench` builds both).
pub fn varsel_binary() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("VARSEL_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe()?;
    let bin = me
        .parent()
        .map(|d| d.join("varsel"))
        .context("locating the varsel binary")?;
    anyhow::ensure!(
        bin.exists(),
        "{} not found: build it with `cargo build --release -p varsel` (scripts/bench does)",
        bin.display()
    );
    Ok(bin)
}

/// `varsel serve` as a child process.
pub struct ChildServer {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ChildServer {
    pub async fn start(db: &FreshDb) -> anyhow::Result<ChildServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let child = Command::new(varsel_binary()?)
            .args([
                "serve",
                "--database-url",
                &db.url,
                "--listen",
                &addr.to_string(),
            ])
            .env("VARSEL_API_KEY", API_KEY)
            .env("VARSEL_TOKEN_SECRET", TOKEN_SECRET)
            .env("VARSEL_LOG", "warn")
            .env("VARSEL_RATE_EVENTS_PER_SECOND", "0")
            .current_dir(db.dir())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting varsel serve")?;
        let server = ChildServer { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut c) = crate::load::Conn::open(addr).await {
                let req = crate::load::Req {
                    method: hyper::Method::GET,
                    path: "/healthz".into(),
                    bearer: None,
                    body: bytes::Bytes::new(),
                };
                if matches!(c.send(&req).await, Ok((200, _))) {
                    return Ok(server);
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "varsel did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Resident memory of the child, KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        rss_kib(self.child.id())
    }

    pub fn stop(self) {
        drop(self);
    }
}

/// A scenario that fails half-way still stops its server.
impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of a process, KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")
}
