//! Single-row statements both write paths run as they are: the sqlx path (either backend)
//! and SQLite's writer thread. Their `$N` parameters are numbered in order of appearance,
//! because SQLite binds those by position.

/// The stored event behind an idempotency key.
pub(crate) const FIRST_OF_KEY: &str =
    "SELECT id, request_hash FROM events WHERE account_id = $1 AND idempotency_key = $2";

/// Enqueues a job unless one with the same dedupe key exists.
pub(crate) const INSERT_JOB: &str = "INSERT INTO jobs (id, kind, dedupe_key, account_id, payload, run_at, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (dedupe_key) DO NOTHING";

/// A job's row after an attempt that did not finish it (see `JobNext::row`).
pub(crate) const UPDATE_JOB: &str = "UPDATE jobs SET state = $1, run_at = COALESCE($2, run_at), \
     lease_until = NULL, locked_by = NULL, attempts = attempts - $3, last_error = $4, updated_at = $5 \
     WHERE id = $6";

/// Withdraws an object's assignment from other users' open batches.
pub(crate) const WITHDRAW: &str = "UPDATE batch_items SET withdrawn_at = $1 WHERE account_id = $2 \
     AND object_id = $3 AND withdrawn_at IS NULL AND batch_id IN (SELECT id FROM batches \
     WHERE state IN ('open', 'sealed') AND kind = 'assign' AND account_id = $2 AND type = $4 AND user_id <> $5)";

/// Seals the key's open batch when it is past its due time.
pub(crate) const SEAL_DUE_BATCH: &str = "UPDATE batches SET state = 'sealed' WHERE state = 'open' \
     AND kind = $1 AND account_id = $2 AND user_id = $3 AND type = $4 AND group_key = $5 AND due_at <= $6";

/// Takes the key's open batch for one more item (its row locked until the transaction ends).
pub(crate) const TAKE_OPEN_BATCH: &str = "UPDATE batches SET size = size + 1 WHERE state = 'open' \
     AND kind = $1 AND account_id = $2 AND user_id = $3 AND type = $4 AND group_key = $5 \
     RETURNING id, size, max_items";

/// Opens a batch for the key; does nothing when another is open (`batches_one_open`).
pub(crate) const OPEN_BATCH: &str = "INSERT INTO batches (id, kind, account_id, user_id, type, group_key, \
     due_at, max_items, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (kind, account_id, user_id, type, group_key) WHERE state = 'open' DO NOTHING";

pub(crate) const ADD_BATCH_ITEM: &str = "INSERT INTO batch_items (batch_id, event_id, account_id, object_id, \
     item, added_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (batch_id, event_id) DO NOTHING";

/// Gives back the size taken for an item the batch already had.
pub(crate) const UNCOUNT_BATCH_ITEM: &str = "UPDATE batches SET size = size - 1 WHERE id = $1";

pub(crate) const SEAL_BATCH: &str = "UPDATE batches SET state = 'sealed' WHERE id = $1";

/// Fires a full batch now: its job's due time.
pub(crate) const FIRE_BATCH_NOW: &str =
    "UPDATE jobs SET run_at = $1 WHERE dedupe_key = $2 AND state = 'scheduled'";

pub(crate) const CLOSE_BATCH: &str =
    "UPDATE batches SET state = $1 WHERE id = $2 AND state IN ('open', 'sealed')";

/// The columns of a new bell item; `$1`… in this order.
pub(crate) const NOTIFICATION_COLS: &str = "INSERT INTO notifications (id, account_id, user_id, dedupe_key, \
     event_id, type, section, title, body, url, count, actor_id, popup_sound, browser, in_feed, created_at, actor_ids) ";

/// Opens a user's bell group when none is open.
pub(crate) const OPEN_GROUP: &str = "INSERT INTO bell_groups (account_id, user_id, group_key, notification_id, \
     until_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, user_id, group_key) DO NOTHING \
     RETURNING notification_id";

/// Opens a user's bell group in place of the item `$6` planning saw.
pub(crate) const REPLACE_GROUP: &str = "INSERT INTO bell_groups (account_id, user_id, group_key, \
     notification_id, until_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, user_id, group_key) \
     DO UPDATE SET notification_id = excluded.notification_id, until_at = excluded.until_at \
     WHERE bell_groups.notification_id = $6 RETURNING notification_id";

/// A grouped item gathers more: moved to the top (`wake_seq`, the backend's next place) and
/// unread, if its count is still the one planning read.
pub(crate) fn join_group(wake_seq: &str) -> String {
    format!(
        "UPDATE notifications SET seq = {wake_seq}, count = $1, actor_ids = $2, actor_id = $3, title = $4, \
         body = $5, read_at = NULL, seen_at = NULL WHERE id = $6 AND count = $7 RETURNING {}",
        crate::shared::FEED_COLS
    )
}
