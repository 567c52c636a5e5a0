-- Caps exact across processes: a paid call is first a `held` row (inserted only if every cap it
-- falls under has room, under the write lock), then `committed` with its real cost or deleted
-- when it was not charged. A hold not settled by `hold_until` (its process died) becomes
-- `unknown`: still counted as spent, shown apart by `pforge budget`. Rows from before this
-- migration are committed charges.
ALTER TABLE charges ADD COLUMN state TEXT NOT NULL DEFAULT 'committed';
ALTER TABLE charges ADD COLUMN hold_until TEXT;
-- A job's own spend cap sums its charges; expiring holds are found without a scan.
CREATE INDEX charges_job ON charges (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX charges_held ON charges (hold_until) WHERE state = 'held';
