-- Varsel schema, SQLite. Times are Unix milliseconds; JSON documents are TEXT.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tier TEXT NOT NULL,
    defaults TEXT NOT NULL DEFAULT '{}',
    defaults_version INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE users (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    locale TEXT NOT NULL,
    timezone TEXT NOT NULL,
    roles TEXT NOT NULL,
    permissions TEXT NOT NULL,
    flags TEXT NOT NULL,
    prefs TEXT NOT NULL DEFAULT '{}',
    prefs_version INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE teams (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE team_members (
    account_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    is_primary INTEGER NOT NULL,
    PRIMARY KEY (account_id, team_id, user_id)
);

CREATE TABLE profiles (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    roles TEXT NOT NULL,
    user_ids TEXT NOT NULL,
    layer TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE api_keys (
    hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    type TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    lease_until INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    processed_at INTEGER,
    UNIQUE (account_id, idempotency_key)
);
CREATE INDEX events_pending ON events (seq) WHERE state = 'pending';

CREATE TABLE decisions (
    event_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    decisions TEXT NOT NULL,
    PRIMARY KEY (event_id, user_id)
);

CREATE TABLE notifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    section TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    url TEXT,
    count INTEGER NOT NULL,
    actor_id TEXT,
    popup_sound TEXT,
    browser INTEGER NOT NULL,
    in_feed INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    seen_at INTEGER,
    read_at INTEGER,
    UNIQUE (account_id, user_id, dedupe_key)
);
CREATE INDEX notifications_feed ON notifications (account_id, user_id, seq) WHERE in_feed;
CREATE INDEX notifications_unread ON notifications (account_id, user_id) WHERE in_feed AND read_at IS NULL;

CREATE TABLE deliveries (
    notification_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (notification_id, channel)
);

CREATE TABLE mentions (
    account_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (account_id, activity_id, user_id)
);
