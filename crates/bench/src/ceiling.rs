//! The limits of the machine, measured in the same run as Varsel: a trivial axum handler
//! under the same HTTP load (HTTP ceiling), a bare loop inserting the same event rows
//! (storage ceiling), and the cost of one synced write.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use sqlx::Connection;
use tokio::net::TcpListener;

use crate::target::{ACCOUNT, Backend, FreshDb};

/// A server whose handler reads the body and answers 202 with a small JSON body, as
/// `POST /v1/events` does, and nothing else.
pub async fn trivial_http() -> anyhow::Result<SocketAddr> {
    async fn accept(body: axum::body::Bytes) -> (StatusCode, &'static str) {
        std::hint::black_box(body.len());
        (
            StatusCode::ACCEPTED,
            r#"{"id":"evt_01JBENCH0000000000000000000","duplicate":false}"#,
        )
    }
    let app = Router::new()
        .route("/v1/events", post(accept))
        .route("/v1/events/batch", post(accept))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// One event row as Varsel stores it.
pub struct EventRow {
    pub id: String,
    pub kind: String,
    pub body: String,
    pub received_at: i64,
}

/// `n` event rows of the ingest scenario's shape.
pub fn event_rows(n: usize, start: usize) -> Vec<EventRow> {
    (start..start + n)
        .map(|i| {
            let k = i % 1000;
            let body = varsel_store::EventBody {
                kind: "deals.stage_changed".into(),
                account_id: ACCOUNT.into(),
                actor_id: Some("actor".into()),
                recipients: vec![format!("u{k}")],
                owner_id: None,
                team_id: None,
                object: Some(varsel_core::model::ObjectRef {
                    kind: "deal".into(),
                    id: format!("d{k}"),
                    name: Some(format!("Deal {k}")),
                    url: Some(format!("/deals/{k}")),
                }),
                source: varsel_core::model::Source::Ui,
                occurred_at: 1_700_000_000_000,
                idempotency_key: None,
                data: Some(serde_json::json!({ "stage": "won" })),
            };
            EventRow {
                id: format!("evt_{}", ulid::Ulid::new()),
                kind: body.kind.clone(),
                body: serde_json::to_string(&body).unwrap_or_default(),
                received_at: 1_700_000_000_000,
            }
        })
        .collect()
}

const INSERT: &str = "INSERT INTO events (id, account_id, type, idempotency_key, body, received_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, idempotency_key) DO NOTHING RETURNING id";

const INSERT_MULTI: &str =
    "INSERT INTO events (id, account_id, type, idempotency_key, body, received_at) ";
const ON_CONFLICT: &str = " ON CONFLICT (account_id, idempotency_key) DO NOTHING RETURNING id";

/// Events per second when a bare loop inserts rows with one transaction (one commit)
/// per `group` rows, for `measure`: SQLite in WAL mode with `synchronous=FULL`,
/// PostgreSQL with `synchronous_commit=on`; the same table, indexes and statement as
/// Varsel. `multi`: one multi-row statement per group (at most 500 rows, within both
/// backends' parameter limits); else one prepared single-row statement per row.
pub async fn storage(
    backend: Backend,
    pg_admin: &str,
    group: usize,
    multi: bool,
    measure: Duration,
) -> anyhow::Result<f64> {
    let db = FreshDb::create(backend, pg_admin).await?;
    // Varsel's own migrations make the schema.
    drop(varsel_store::connect(&db.url).await?);
    let rows = event_rows(group * 64, 0);
    // Up to 500 rows per statement, as Varsel's store writes them.
    let rows_per_statement = 500;
    let mut done = 0usize;
    let start = Instant::now();
    // The same loop on both drivers (their connection types differ).
    macro_rules! insert_loop {
        ($conn:expr, $db:ty) => {{
            let conn = &mut $conn;
            while start.elapsed() < measure {
                let mut tx = conn.begin().await?;
                if multi {
                    let end = done + group;
                    while done < end {
                        let n = (end - done).min(rows_per_statement);
                        let mut q = sqlx::QueryBuilder::<$db>::new(INSERT_MULTI);
                        let ids: Vec<String> = (done..done + n)
                            .map(|_| format!("evt_{}", ulid::Ulid::new()))
                            .collect();
                        q.push_values(ids.iter().enumerate(), |mut b, (j, id)| {
                            let r = &rows[(done + j) % rows.len()];
                            b.push_bind(id)
                                .push_bind(ACCOUNT)
                                .push_bind(&r.kind)
                                .push_bind(id)
                                .push_bind(&r.body)
                                .push_bind(r.received_at);
                        });
                        q.push(ON_CONFLICT);
                        q.build().fetch_all(&mut *tx).await?;
                        done += n;
                    }
                }
                for r in
                    rows.iter()
                        .cycle()
                        .skip(done % rows.len())
                        .take(if multi { 0 } else { group })
                {
                    // Fresh ULIDs, as Varsel makes them (time-ordered: appends to the indexes).
                    let id = format!("evt_{}", ulid::Ulid::new());
                    sqlx::query(INSERT)
                        .bind(&id)
                        .bind(ACCOUNT)
                        .bind(&r.kind)
                        .bind(&id)
                        .bind(&r.body)
                        .bind(r.received_at)
                        .fetch_optional(&mut *tx)
                        .await?;
                    done += 1;
                }
                tx.commit().await?;
            }
        }};
    }
    match backend {
        Backend::Sqlite => {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)?
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
            let mut conn = sqlx::SqliteConnection::connect_with(&opts).await?;
            insert_loop!(conn, sqlx::Sqlite);
            conn.close().await?;
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await?;
            insert_loop!(conn, sqlx::Postgres);
            conn.close().await?;
        }
    }
    let rate = done as f64 / start.elapsed().as_secs_f64();
    db.drop_db().await?;
    Ok(rate)
}

/// Median time of one 4 KiB write + `fdatasync` on the disk of the temporary folder, ms.
pub fn fsync_ms(samples: usize) -> anyhow::Result<f64> {
    use std::io::Write;
    let dir = tempfile::Builder::new().prefix("varsel-fsync").tempdir()?;
    let mut f = std::fs::File::create(dir.path().join("probe"))?;
    let block = [7u8; 4096];
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        f.write_all(&block)?;
        f.sync_data()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(crate::median(&mut times))
}
