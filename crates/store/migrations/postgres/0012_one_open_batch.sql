-- A batch window fires once: at most one open batch per (kind, account, user, type,
-- group), enforced by the database, so events processed at the same moment on several
-- nodes join the same batch. A batch that is full or past its due time is `sealed`: it
-- takes no more items and waits for its job to fire it.
UPDATE batches SET state = 'sealed'
WHERE state = 'open' AND id NOT IN (
    SELECT MIN(id) FROM batches WHERE state = 'open'
    GROUP BY kind, account_id, user_id, type, group_key
);
DROP INDEX batches_open;
CREATE UNIQUE INDEX batches_one_open ON batches (kind, account_id, user_id, type, group_key)
    WHERE state = 'open';
