-- Counts changes to what processing reads of an account (its name and tier, defaults,
-- profiles and connections): every write of those adds one in the same transaction, so
-- a node can keep an account's facts between rounds and reload them only when the count
-- it read has moved.
ALTER TABLE accounts ADD COLUMN facts_version INTEGER NOT NULL DEFAULT 0;
