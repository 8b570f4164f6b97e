-- Other apps and mobile: account connections (Slack, Teams) with their secret encrypted
-- by the server, users matched to their Slack user, the users' devices (Web Push
-- subscriptions, FCM and APNs tokens), and keys the server generates once (VAPID).
CREATE TABLE connections (
    account_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    secret TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, provider)
);

CREATE TABLE user_links (
    account_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    email TEXT NOT NULL,
    external_id TEXT,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id, provider)
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    token TEXT NOT NULL,
    app_id TEXT,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (kind, token)
);
CREATE INDEX devices_user ON devices (account_id, user_id);

CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
