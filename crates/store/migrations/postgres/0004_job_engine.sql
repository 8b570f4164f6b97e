-- The batched job engine: which node holds a job's lease (a node starting again frees its
-- own leases at once; a dead node's leases run out).
ALTER TABLE jobs ADD COLUMN locked_by TEXT;
