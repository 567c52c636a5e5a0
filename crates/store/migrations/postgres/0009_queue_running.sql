-- Every claim first gives up rows whose holders died too often: `status = 'running' AND
-- lease_expires_at < now() AND attempts >= 3`. No index answered that, so each claim scanned the
-- whole queue table (14 ms at 100,000 rows, more with dead tuples; BENCHMARKS.md §5): claim
-- latency grew with the queue. The running rows are the few hundred the workers hold, so an
-- index of just those makes it a lookup. It indexes `id`, not `lease_expires_at`, so a heartbeat
-- (which only moves the lease) stays a HOT update.
CREATE INDEX queue_running ON queue (id) WHERE status = 'running';
