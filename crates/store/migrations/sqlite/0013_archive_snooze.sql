-- Bell items a user archived (out of the list and the unread count until unarchived)
-- or snoozed (out of both until `snoozed_until`, then back unread at the top: the item
-- takes a new `seq`). Unix ms.
ALTER TABLE notifications ADD COLUMN archived_at INTEGER;
ALTER TABLE notifications ADD COLUMN snoozed_until INTEGER;
-- The unread count reads only this index: its condition is the count's whole condition.
DROP INDEX notifications_unread;
CREATE INDEX notifications_unread ON notifications (account_id, user_id)
    WHERE in_feed AND read_at IS NULL AND archived_at IS NULL AND snoozed_until IS NULL;
