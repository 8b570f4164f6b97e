//! `varsel backup FILE`: a consistent copy of the SQLite database while the server runs
//! (`VACUUM INTO`: one read transaction, so the copy is one moment of the database, and
//! the server keeps reading and writing meanwhile).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::{Result, StoreError};

/// Copies the SQLite database at `url` (`sqlite://FILE`) into `dest`, a new file.
pub async fn backup_sqlite(url: &str, dest: &Path) -> Result<()> {
    if !url.starts_with("sqlite:") {
        return Err(StoreError::BadUrl(
            "backup copies SQLite databases; for PostgreSQL use pg_dump".into(),
        ));
    }
    if dest.exists() {
        return Err(StoreError::Conflict(format!(
            "{} already exists; backup writes a new file",
            dest.display()
        )));
    }
    let dest = dest
        .to_str()
        .ok_or_else(|| StoreError::BadUrl("the backup file name is not UTF-8".into()))?;
    // The database must exist already: never create an empty one to copy.
    let mut conn = SqliteConnectOptions::from_str(url)?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await?;
    sqlx::query("VACUUM INTO $1")
        .bind(dest.to_string())
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}
