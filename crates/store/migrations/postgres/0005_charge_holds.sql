-- Caps exact across processes (see migrations/sqlite/0006_charge_holds.sql): a paid call is held
-- before it is sent, then committed or deleted; a hold whose holder died is settled as unknown.
ALTER TABLE charges ADD COLUMN state text NOT NULL DEFAULT 'committed';
ALTER TABLE charges ADD COLUMN hold_until timestamptz;
CREATE INDEX charges_job ON charges (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX charges_held ON charges (hold_until) WHERE state = 'held';
