-- The hash of the request behind each event, so that the same idempotency key sent with
-- another request is answered 409 idempotency_conflict instead of silently returning the
-- first event. Events stored before this column have none and are not compared.
ALTER TABLE events ADD COLUMN request_hash TEXT;
