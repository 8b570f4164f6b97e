-- Grouped bell items: notifications of a type with `bell_grouping`, on one object, within
-- the window, update one item. `actor_ids` (JSON array, newest first) is set on grouped
-- items; `bell_groups` points each (user, type and object) at its open item until the
-- window (from the group's first notification) ends; `notification_members` keeps what
-- each grouped notification said, for the item's expanded view.
ALTER TABLE notifications ADD COLUMN actor_ids TEXT;
CREATE TABLE bell_groups (
    account_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    group_key TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    until_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id, group_key)
);
CREATE TABLE notification_members (
    notification_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    actor_id TEXT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (notification_id, event_id)
);
