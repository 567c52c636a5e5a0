-- The running rows, for the claim's first step (giving up rows whose holders died too often)
-- without a scan of the whole queue; see migrations/postgres/0009_queue_running.sql.
CREATE INDEX queue_running ON queue (id) WHERE status = 'running';
