-- Bell items a user archived (out of the list and the unread count until unarchived)
-- or snoozed (out of both until `snoozed_until`, then back unread at the top: the item
-- takes a new `seq`). Unix ms.
ALTER TABLE notifications ADD COLUMN archived_at INTEGER;
ALTER TABLE notifications ADD COLUMN snoozed_until INTEGER;
