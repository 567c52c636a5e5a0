-- The queue is rewritten all the time: every claim, heartbeat and close makes a new row version,
-- and at 100,000 domains a round left 1.5 million dead tuples behind with PostgreSQL's default
-- autovacuum trigger (20% of the table), so the table grew by ~95 MiB a round
-- (BENCHMARKS.md §5). Vacuum it after a fixed number of dead rows instead, without throttling,
-- and leave room in each page so a heartbeat's update stays on its page (a HOT update: no
-- index entry to add, nothing for the indexes to bloat with).
ALTER TABLE queue SET (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.0,
    autovacuum_vacuum_threshold = 20000,
    autovacuum_vacuum_cost_delay = 0,
    autovacuum_analyze_scale_factor = 0.05
);
