-- Scheduled work: a durable job queue, batches (assignment delay, comment email grouping,
-- digests), the daily email cap, the local outbox, and which events feed a notification.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    account_id TEXT,
    payload TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'scheduled',
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'scheduled';

CREATE TABLE job_attempts (
    job_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (job_id, attempt)
);

CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    account_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    type TEXT NOT NULL,
    group_key TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    max_items BIGINT NOT NULL,
    size BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'open',
    created_at BIGINT NOT NULL
);
CREATE INDEX batches_open ON batches (account_id, user_id, type, group_key) WHERE state = 'open';

CREATE TABLE batch_items (
    batch_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    object_id TEXT,
    item TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    withdrawn_at BIGINT,
    PRIMARY KEY (batch_id, event_id)
);
CREATE INDEX batch_items_object ON batch_items (account_id, object_id);

CREATE TABLE email_caps (
    address TEXT NOT NULL,
    type TEXT NOT NULL,
    day TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (address, type, day)
);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_recent ON outbox (created_at);

CREATE TABLE notification_events (
    event_id TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    PRIMARY KEY (event_id, notification_id)
);

ALTER TABLE deliveries ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN cap_counted BOOLEAN NOT NULL DEFAULT FALSE;
