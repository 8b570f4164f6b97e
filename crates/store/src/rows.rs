//! Rows read the same way from either driver: sqlx's rows (both backends) and the rows of
//! SQLite's writer thread (rusqlite). What a row becomes is written once, over [`Cols`].

use crate::jobs::{Job, JobKind};
use crate::{FeedItem, Result, StoreError};

/// The columns of a row, by name.
pub(crate) trait Cols {
    fn int(&self, c: &str) -> Result<i64>;
    fn opt_int(&self, c: &str) -> Result<Option<i64>>;
    fn text(&self, c: &str) -> Result<String>;
    fn opt_text(&self, c: &str) -> Result<Option<String>>;
    fn flag(&self, c: &str) -> Result<bool>;
}

macro_rules! sqlx_cols {
    ($row:ty) => {
        impl Cols for $row {
            fn int(&self, c: &str) -> Result<i64> {
                Ok(sqlx::Row::try_get(self, c)?)
            }
            fn opt_int(&self, c: &str) -> Result<Option<i64>> {
                Ok(sqlx::Row::try_get(self, c)?)
            }
            fn text(&self, c: &str) -> Result<String> {
                Ok(sqlx::Row::try_get(self, c)?)
            }
            fn opt_text(&self, c: &str) -> Result<Option<String>> {
                Ok(sqlx::Row::try_get(self, c)?)
            }
            fn flag(&self, c: &str) -> Result<bool> {
                Ok(sqlx::Row::try_get(self, c)?)
            }
        }
    };
}

sqlx_cols!(sqlx::sqlite::SqliteRow);
sqlx_cols!(sqlx::postgres::PgRow);

impl Cols for rusqlite::Row<'_> {
    fn int(&self, c: &str) -> Result<i64> {
        Ok(self.get(c)?)
    }
    fn opt_int(&self, c: &str) -> Result<Option<i64>> {
        Ok(self.get(c)?)
    }
    fn text(&self, c: &str) -> Result<String> {
        Ok(self.get(c)?)
    }
    fn opt_text(&self, c: &str) -> Result<Option<String>> {
        Ok(self.get(c)?)
    }
    fn flag(&self, c: &str) -> Result<bool> {
        Ok(self.get(c)?)
    }
}

/// A bell item from the columns of `FEED_COLS`.
pub(crate) fn feed_item(r: &impl Cols) -> Result<FeedItem> {
    Ok(FeedItem {
        seq: r.int("seq")?,
        id: r.text("id")?,
        account_id: r.text("account_id")?,
        user_id: r.text("user_id")?,
        kind: r.text("type")?,
        section: r.text("section")?,
        title: r.text("title")?,
        body: r.text("body")?,
        url: r.opt_text("url")?,
        count: r.int("count")?,
        actor_id: r.opt_text("actor_id")?,
        popup_sound: r.opt_text("popup_sound")?,
        browser: r.flag("browser")?,
        in_feed: r.flag("in_feed")?,
        created_at: r.int("created_at")?,
        seen_at: r.opt_int("seen_at")?,
        read_at: r.opt_int("read_at")?,
        archived_at: r.opt_int("archived_at")?,
        snoozed_until: r.opt_int("snoozed_until")?,
        actor_ids: crate::shared::actor_list(r.opt_text("actor_ids")?)?,
        updated: false,
    })
}

/// A job from all its columns.
pub(crate) fn job_row(r: &impl Cols) -> Result<Job> {
    let kind = r.text("kind")?;
    Ok(Job {
        id: r.text("id")?,
        kind: JobKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown job kind `{kind}`")))?,
        dedupe_key: r.text("dedupe_key")?,
        account_id: r.opt_text("account_id")?,
        payload: serde_json::from_str(&r.text("payload")?)?,
        run_at: r.int("run_at")?,
        state: r.text("state")?,
        attempts: r.int("attempts")?,
        last_error: r.opt_text("last_error")?,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}
