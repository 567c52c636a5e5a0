#!/usr/bin/env python3
"""The same 15-module DAG over N no-op domains, in what users would pick instead of pforge.

The DAG is the product's (read from `pforge plan --json`, i.e. the real module specs). Every
runner does the same no-op work per module (build a small dict from its dependencies' results)
and, where it persists, stores every module run's work item and result:

* asyncio: a plain asyncio runner with a wave barrier per domain, storing every result with the
  standard library's sqlite3 (WAL, one commit per domain), and the same without storing;
* dask: the threaded scheduler over one task graph per chunk of domains (if dask is installed);
* prefect: Prefect 3 tasks in a flow with its default embedded SQLite (if prefect is installed;
  slow, so it runs a tenth of the domains);
* pforge: `pforge bench --noop` (persisted in a SQLite file, and in memory).

Usage: peers.py PFORGE_BINARY N   (prints one JSON line per runner, then a table)
"""

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time


def product_dag(pforge):
    """(module id, dependencies) in waves, from the real module specs."""
    out = subprocess.run([pforge, "plan", "--json"], check=True, capture_output=True, text=True)
    plan = json.loads(out.stdout)
    return [[(m["id"], m["dependencies"]) for m in w["modules"]] for w in plan["waves"]]


def noop(domain, module, deps):
    return {"domain": domain, "module": module, "deps": len(deps)}


def open_db(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS work_items (job TEXT, domain TEXT, module TEXT, status TEXT,"
        " PRIMARY KEY (job, domain, module))"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS snapshots (id INTEGER PRIMARY KEY, domain TEXT, module TEXT,"
        " version INTEGER, data TEXT, UNIQUE (domain, module, version))"
    )
    return db


def store_domain(db, domain, results):
    db.execute("BEGIN")
    db.executemany(
        "INSERT OR REPLACE INTO work_items VALUES ('bench', ?, ?, 'new_version')",
        [(domain, m) for m in results],
    )
    db.executemany(
        "INSERT INTO snapshots (domain, module, version, data) VALUES (?, ?, 1, ?)",
        [(domain, m, json.dumps(r)) for m, r in results.items()],
    )
    db.execute("COMMIT")


async def asyncio_runner(waves, n, db, in_flight=512):
    async def run_module(domain, module, deps, results):
        await asyncio.sleep(0)
        results[module] = noop(domain, module, {d: results[d] for d in deps})

    async def run_domain(i):
        domain = f"company{i}.com"
        results = {}
        for wave in waves:
            await asyncio.gather(*(run_module(domain, m, deps, results) for m, deps in wave))
        if db is not None:
            store_domain(db, domain, results)

    sem = asyncio.Semaphore(in_flight)

    async def bounded(i):
        async with sem:
            await run_domain(i)

    await asyncio.gather(*(bounded(i) for i in range(n)))


def dask_runner(waves, n, chunk=500):
    import dask.threaded

    for start in range(0, n, chunk):
        graph = {}
        for i in range(start, min(n, start + chunk)):
            domain = f"company{i}.com"
            for wave in waves:
                for m, deps in wave:
                    graph[(domain, m)] = (
                        lambda *r, d=domain, m=m: noop(d, m, r),
                        *[(domain, d) for d in deps],
                    )
        dask.threaded.get(graph, list(graph))


def prefect_runner(waves, n):
    from prefect import flow, task

    @task
    def module_task(domain, module, *deps):
        return noop(domain, module, deps)

    @flow
    def enrich(n):
        for i in range(n):
            domain = f"company{i}.com"
            futures = {}
            for wave in waves:
                for m, deps in wave:
                    futures[m] = module_task.submit(domain, m, *[futures[d] for d in deps])
            for f in futures.values():
                f.result()

    enrich(n)


def pforge_runner(pforge, n, store):
    out = subprocess.run(
        [pforge, "bench", "--noop", "--domains", str(n), "--store", store, "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)["makespan_secs"]


def timed(name, runs, f):
    t = time.perf_counter()
    f()
    secs = time.perf_counter() - t
    return {"runner": name, "module_runs": runs, "secs": round(secs, 3), "runs_per_sec": round(runs / secs)}


def main():
    pforge, n = sys.argv[1], int(sys.argv[2])
    waves = product_dag(pforge)
    modules = sum(len(w) for w in waves)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(os.path.join(tmp, "asyncio.db"))
        rows.append(timed("asyncio + sqlite3 (persisted)", n * modules, lambda: asyncio.run(asyncio_runner(waves, n, db))))
        rows.append(timed("asyncio (in memory)", n * modules, lambda: asyncio.run(asyncio_runner(waves, n, None))))
    try:
        rows.append(timed("dask threaded (in memory)", n * modules, lambda: dask_runner(waves, n)))
    except ImportError:
        rows.append({"runner": "dask threaded", "skipped": "pip install dask"})
    try:
        small = max(1, n // 10)
        rows.append(timed("prefect 3 (embedded sqlite)", small * modules, lambda: prefect_runner(waves, small)))
    except ImportError:
        rows.append({"runner": "prefect 3", "skipped": "pip install prefect"})
    for store, label in [("sqlite", "pforge (persisted, SQLite file)"), ("memory", "pforge (sqlite::memory:)")]:
        secs = pforge_runner(pforge, n, store)
        rows.append({"runner": label, "module_runs": n * modules, "secs": secs, "runs_per_sec": round(n * modules / secs)})
    for r in rows:
        print(json.dumps(r))
    base = next(r for r in rows if r["runner"].startswith("asyncio + sqlite3"))["runs_per_sec"]
    print(f"\n| runner | module runs | seconds | runs/s | vs asyncio+sqlite3 |\n|---|---|---|---|---|")
    for r in rows:
        if "skipped" in r:
            print(f"| {r['runner']} | skipped ({r['skipped']}) | | | |")
        else:
            print(f"| {r['runner']} | {r['module_runs']:,} | {r['secs']} | {r['runs_per_sec']:,} | {r['runs_per_sec'] / base:.2f}x |")


if __name__ == "__main__":
    main()
