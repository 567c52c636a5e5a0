#!/usr/bin/env python3
"""The PostgreSQL work queue at volume (issue 15, part 4): N queued domains per round, drained by
W `pforge worker` processes, for R rounds on one database.

Each round enqueues N fresh domains as one job (`pforge enrich --enqueue --modules m03_traffic`;
M03 reads the rank list from the config and calls no provider, so the queue and the store are all
that is measured), starts W workers with `--once --keep-days K --metrics-bind 127.0.0.1:0` and
samples while they drain:
  - each worker's `pforge_worker_claim_duration_seconds` histogram (claims that returned rows),
    diffed between scrapes, reported per tenth of the round's progress (mean and p95 bucket);
  - the queue table: rows by status, `pg_total_relation_size('queue')`, live and dead tuples.
Finished rows are kept K (default 10 s) and pruned by the workers on their schedule (at start and
every half of K), so round r+1 runs on the space round r's rows left behind: if the table does not
bloat, its size after round 2 and later stays near its size after round 1.

Usage: benches/queue/run.py [N] [ROUNDS] (defaults 100000 and 3); WORKERS=w (default 2),
BATCH=b (claim size, default 64), KEEP_SECS=k (default 10). Needs the local PostgreSQL
(PGURL, default postgres://postgres@127.0.0.1:5432) and a built binary (PFORGE, or
$CARGO_TARGET_DIR/target release then debug). It creates and drops the database pforge_queue_bench.
"""

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benches"))
from pforge_binary import binary  # noqa: E402
DB = "pforge_queue_bench"


def psql(base, db, sql):
    out = subprocess.run(
        ["psql", f"{base}/{db}", "-XAtq", "-F", "\t", "-c", sql],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(f"psql failed: {out.stderr.strip()}")
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def table_state(base):
    rows = psql(
        base,
        DB,
        "SELECT pg_total_relation_size('queue'), pg_relation_size('queue'), "
        "(SELECT count(*) FROM queue WHERE status IN ('pending','running')), "
        "(SELECT count(*) FROM queue WHERE status NOT IN ('pending','running')), "
        "n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relname = 'queue'",
    )
    size, heap, open_rows, closed, live, dead = (int(x) for x in rows[0])
    return {"bytes": size, "heap": heap, "open": open_rows, "closed": closed, "live": live,
            "dead": dead}


BUCKET = re.compile(r'^pforge_worker_claim_duration_seconds_bucket\{le="([^"]+)"\} (\S+)$')
COUNT = re.compile(r"^pforge_worker_claim_duration_seconds_(sum|count) (\S+)$")
PRUNED = re.compile(r"^pforge_worker_queue_rows_pruned_total (\S+)$")


def scrape(addr):
    """(buckets {le: cumulative}, sum, count, pruned) of one worker, or None once it exited."""
    try:
        text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    buckets, total, count, pruned = {}, 0.0, 0, 0
    for line in text.splitlines():
        m = BUCKET.match(line)
        if m:
            buckets[float(m.group(1)) if m.group(1) != "+Inf" else float("inf")] = int(float(m.group(2)))
            continue
        m = COUNT.match(line)
        if m:
            if m.group(1) == "sum":
                total = float(m.group(2))
            else:
                count = int(float(m.group(2)))
            continue
        m = PRUNED.match(line)
        if m:
            pruned = int(float(m.group(1)))
    return buckets, total, count, pruned


def p95(deltas):
    """Upper bound of the bucket holding the 95th percentile of a histogram delta."""
    n = deltas.get(float("inf"), 0)
    if n == 0:
        return None
    for le in sorted(deltas):
        if deltas[le] >= 0.95 * n:
            return le
    return None


def start_worker(pforge, config, url, log, batch, keep_days):
    cmd = [pforge, "--config", config, "--database-url", url, "worker", "--once",
           "--batch", str(batch), "--poll-secs", "0.2", "--keep-days", repr(keep_days),
           "--metrics-bind", "127.0.0.1:0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
    first = proc.stdout.readline()
    m = re.search(r"(127\.0\.0\.1:\d+)", first)
    if not m:
        proc.kill()
        sys.exit(f"worker did not name its metrics address (first line {first!r}); see {log}")
    # Keep draining stdout so the worker never blocks on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, m.group(1)


def run_round(pforge, config, base, url, work, r, n, workers, batch, keep_secs):
    domains = os.path.join(work, f"round{r}.txt")
    with open(domains, "w") as f:
        for i in range(n):
            f.write(f"r{r}q{i:06d}-bench.com\n")
    t0 = time.time()
    out = subprocess.run(
        [pforge, "--config", config, "--database-url", url, "enrich", "--enqueue",
         "--modules", "m03_traffic", "--file", domains],
        cwd=ROOT, capture_output=True, text=True,
    )
    if out.returncode != 0:
        sys.exit(f"enqueue failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    enqueue_s = time.time() - t0
    before = table_state(base)
    procs = [start_worker(pforge, config, url, os.path.join(work, f"r{r}w{w}.log"), batch,
                          keep_secs / 86400.0) for w in range(workers)]
    start = time.time()
    last = {addr: None for _, addr in procs}
    # Per tenth of progress: summed histogram deltas.
    deciles = [dict(buckets={}, total=0.0, count=0) for _ in range(10)]
    pruned = {addr: 0 for _, addr in procs}
    peak = before
    while any(p.poll() is None for p, _ in procs):
        time.sleep(1.0)
        state = table_state(base)
        if state["bytes"] > peak["bytes"]:
            peak = state
        done = max(0, n - state["open"])
        tenth = min(9, done * 10 // max(n, 1))
        for _, addr in procs:
            s = scrape(addr)
            if s is None:
                continue
            buckets, total, count, pr = s
            pruned[addr] = max(pruned[addr], pr)
            prev = last[addr]
            if prev is not None:
                d = deciles[tenth]
                for le, c in buckets.items():
                    d["buckets"][le] = d["buckets"].get(le, 0) + c - prev[0].get(le, 0)
                d["total"] += total - prev[1]
                d["count"] += count - prev[2]
            last[addr] = s
    wall = time.time() - start
    for p, _ in procs:
        if p.returncode != 0:
            sys.exit(f"a worker exited with {p.returncode}; logs in {work}")
    after = table_state(base)
    return dict(enqueue_s=enqueue_s, wall=wall, before=before, peak=peak, after=after,
                deciles=deciles, pruned=sum(pruned.values()))


def mib(b):
    return f"{b / 1048576:.1f} MiB"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    workers = int(os.environ.get("WORKERS", "2"))
    batch = int(os.environ.get("BATCH", "64"))
    keep_secs = float(os.environ.get("KEEP_SECS", "10"))
    base = os.environ.get("PGURL", "postgres://postgres@127.0.0.1:5432")
    pforge = binary()
    psql(base, "postgres", f"DROP DATABASE IF EXISTS {DB}")
    psql(base, "postgres", f"CREATE DATABASE {DB}")
    url = f"{base}/{DB}"
    print(f"{n} domains per round, {rounds} rounds, {workers} workers, claim batch {batch}, "
          f"finished rows kept {keep_secs:g} s; binary {pforge}")
    with tempfile.TemporaryDirectory(prefix="pforge-queue-") as work:
        config = os.path.join(ROOT, "config", "pforge.toml")
        results = []
        for r in range(1, rounds + 1):
            if r > 1:
                # Let the previous round's rows pass their keep time, so this round's workers
                # prune them at start (the schedule's first tick).
                time.sleep(keep_secs + 1)
            res = run_round(pforge, config, base, url, work, r, n, workers, batch, keep_secs)
            results.append(res)
            print(f"\nround {r}: enqueue {res['enqueue_s']:.1f} s, drained in {res['wall']:.1f} s "
                  f"({n / res['wall']:.0f} domains/s), rows pruned by workers {res['pruned']}")
            print(f"  queue table before {mib(res['before']['bytes'])} "
                  f"({res['before']['open']} open, {res['before']['closed']} closed rows), "
                  f"peak {mib(res['peak']['bytes'])}, after {mib(res['after']['bytes'])} "
                  f"({res['after']['open']} open, {res['after']['closed']} closed, "
                  f"{res['after']['dead']} dead tuples; heap {mib(res['after']['heap'])}, "
                  f"indexes {mib(res['after']['bytes'] - res['after']['heap'])})")
            print("  progress   claims  mean claim  p95 claim (bucket bound)")
            for i, d in enumerate(res["deciles"]):
                if d["count"] <= 0:
                    continue
                mean = d["total"] / d["count"] * 1000
                p = p95(d["buckets"])
                ps = f"<= {p * 1000:.1f} ms" if p is not None else "-"
                print(f"  {i * 10:3d}-{i * 10 + 10:3d}%  {d['count']:7d}  {mean:7.2f} ms  {ps}")
        print("\nqueue table size after each round: "
              + ", ".join(mib(x["after"]["bytes"]) for x in results))
        print("  of which heap: " + ", ".join(mib(x["after"]["heap"]) for x in results))
    psql(base, "postgres", f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main()
