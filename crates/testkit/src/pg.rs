//! A fresh PostgreSQL database per test, dropped (with its connections) when the test ends.
// Test helpers: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

/// A PostgreSQL database created for one test and dropped with it.
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; a thread with its own runtime can block.
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect to drop the test db");
                // The name is ours: `varsel_t_` and hex.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .expect("drop the test db");
                let _ = conn.close().await;
            });
        });
        let _ = handle.join();
    }
}

/// Splits `postgres://user@host:port/db?query` into the URL of the server's `postgres`
/// database and a function making the URL of another database.
fn pg_urls(url: &str, db: &str) -> (String, String) {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = main.find("://").map_or(0, |i| i + 3);
    let base = match main[scheme_end..].find('/') {
        Some(i) => &main[..scheme_end + i],
        None => main,
    };
    (
        format!("{base}/postgres{query}"),
        format!("{base}/{db}{query}"),
    )
}

pub async fn fresh_pg(url: &str) -> (PgDatabase, String) {
    use sqlx::Connection;
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random source");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("varsel_t_{hex}");
    let (admin_url, db_url) = pg_urls(url, &name);
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to the postgres database");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .expect("create the test db");
    let _ = conn.close().await;
    (PgDatabase { admin_url, name }, db_url)
}

/// The URL of the test PostgreSQL server (`VARSEL_TEST_DATABASE_URL`), if the tests run on it.
pub fn test_url() -> Option<String> {
    std::env::var("VARSEL_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}
