#!/usr/bin/env python3
"""How fast the UI's accounts page answers with many accounts (issue 13: p95 within 150 ms at
100,000 accounts).

Runs `pforge demo` into a fresh SQLite file or a fresh PostgreSQL database (schema and six real
accounts), copies the demo accounts' latest name, tech stack, ICP and intent snapshots to N
synthetic accounts (synthN.com, with varied scores and tiers, a change event on every third)
behind the store's back, forgets the accounts summary's recorded fields (so the database looks
like one from before the summary: `pforge ui` must rebuild it at open, and the time that takes
is printed), starts `pforge ui` on it, logs in with its one-time code and times the accounts
page: the default sort, each sortable column, filters by tier, minimum intent, technology and
text, and deep pages. Prints p50/p95/max per request kind and overall.

Usage: benches/ui/accounts.py [N] [--pg [URL]] (default 100000 accounts on SQLite; --pg creates a
database on the PostgreSQL server at URL, default $PFORGE_TEST_DATABASE_URL or
postgres://postgres@127.0.0.1:5432/postgres, and drops it afterwards; needs `psql`).
ROUNDS=k times each request (default 10). PFORGE names the binary (default $CARGO_TARGET_DIR or
target, release then debug).
"""

import http.cookiejar
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benches"))
from pforge_binary import binary  # noqa: E402
MODULES = ("m01_company_context", "m02_tech_stack", "m13_icp_priority", "m14_signal_scoring")
TIERS = ("A", "B", "C", "D")


def populate(db, n):
    con = sqlite3.connect(db)
    cols = [r[1] for r in con.execute("PRAGMA table_info(snapshots)")]
    copy = [c for c in cols if c not in ("id", "domain", "version", "data", "patch")]
    templates = {}
    for module in MODULES:
        row = con.execute(
            f"SELECT data, {', '.join(copy)} FROM snapshots WHERE domain = 'techstart.io' AND module = ? ORDER BY version DESC LIMIT 1",
            (module,),
        ).fetchone()
        templates[module] = (json.loads(row[0]), row[1:])
    rng = random.Random(7)
    event = con.execute("SELECT * FROM change_events LIMIT 1").fetchone()
    ecols = [r[1] for r in con.execute("PRAGMA table_info(change_events)")]
    batch, events = [], []
    for i in range(n):
        domain = f"synth{i}.com"
        for module, (data, rest) in templates.items():
            d = dict(data)
            if module == "m01_company_context":
                d["name"] = f"Synth {i} Inc"
            elif module == "m13_icp_priority":
                d["score"] = rng.randint(0, 100)
                d["tier"] = TIERS[min(3, (100 - d["score"]) // 25)]
            elif module == "m14_signal_scoring":
                d["score"] = rng.randint(0, 100)
                d["level"] = ("cold", "cool", "warm", "hot")[min(3, d["score"] // 25)]
            batch.append((domain, 1, json.dumps(d), *rest))
        if i % 3 == 0 and event:
            e = dict(zip(ecols, event))
            e["id"] = f"synth-{i}"
            e["domain"] = domain
            events.append(tuple(e[c] for c in ecols))
        if len(batch) >= 20000:
            flush(con, copy, batch, ecols, events)
            batch, events = [], []
    flush(con, copy, batch, ecols, events)
    # Written behind the store's back: make the summary rebuild at the next open.
    con.execute("DELETE FROM account_summary_meta")
    con.commit()
    con.execute("ANALYZE")
    con.close()


PG_POPULATE = """
INSERT INTO snapshots (domain, module, version, data, citations, content_hash, fetched_at,
                       checked_at, created_at, job_id, patch)
SELECT 'synth' || i || '.com', t.module, 1,
       CASE t.module
         WHEN 'm01_company_context' THEN jsonb_set(t.data, '{name}', to_jsonb('Synth ' || i || ' Inc'))
         WHEN 'm13_icp_priority' THEN jsonb_set(jsonb_set(t.data, '{score}', to_jsonb((i * 37 + 11) % 101)),
              '{tier}', to_jsonb((ARRAY['A','B','C','D'])[LEAST(4, (100 - (i * 37 + 11) % 101) / 25 + 1)]))
         WHEN 'm14_signal_scoring' THEN jsonb_set(jsonb_set(t.data, '{score}', to_jsonb((i * 53 + 7) % 101)),
              '{level}', to_jsonb((ARRAY['cold','cool','warm','hot'])[LEAST(4, ((i * 53 + 7) % 101) / 25 + 1)]))
         ELSE t.data END,
       t.citations, t.content_hash || '-' || i, t.fetched_at, t.checked_at, t.created_at, t.job_id, NULL
FROM generate_series(0, {n} - 1) AS i
CROSS JOIN (SELECT DISTINCT ON (module) * FROM snapshots WHERE domain = 'techstart.io'
            AND module IN ('m01_company_context', 'm02_tech_stack', 'm13_icp_priority', 'm14_signal_scoring')
            ORDER BY module, version DESC) AS t;
INSERT INTO change_events (id, domain, module, version, path, kind, old_value, new_value,
                           significance, level, rule, detected_at)
SELECT gen_random_uuid(), 'synth' || i || '.com', e.module, 1, e.path, e.kind, e.old_value,
       e.new_value, e.significance, e.level, e.rule, e.detected_at
FROM generate_series(0, {n} - 1, 3) AS i CROSS JOIN (SELECT * FROM change_events LIMIT 1) AS e;
DELETE FROM account_summary_meta;
ANALYZE;
"""


def psql(url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True, stdout=subprocess.DEVNULL)


def with_database(url, name):
    """The server URL with its database replaced by `name`."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def flush(con, copy, batch, ecols, events):
    names = ["domain", "version", "data", *copy]
    con.executemany(
        f"INSERT INTO snapshots ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
        batch,
    )
    if events:
        con.executemany(
            f"INSERT INTO change_events ({', '.join(ecols)}) VALUES ({', '.join('?' for _ in ecols)})",
            events,
        )


def main():
    args = sys.argv[1:]
    pg = None
    if "--pg" in args:
        at = args.index("--pg")
        rest = args[at + 1:]
        pg = rest[0] if rest and "://" in rest[0] else os.environ.get("PFORGE_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        args = [a for a in args if a not in ("--pg", pg)]
    n = int(args[0]) if args else 100_000
    pforge = binary()
    with tempfile.TemporaryDirectory(prefix="pforge-ui-bench-") as work:
        if pg:
            name = f"pforge_ui_bench_{os.getpid()}"
            psql(pg, f"CREATE DATABASE {name}")
            url = with_database(pg, name)
            store = ["--database-url", url]
        else:
            db = os.path.join(work, "pforge.db")
            store = ["--db", db]
        try:
            run(pforge, store, work, n, pg and url)
        finally:
            if pg:
                psql(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run(pforge, store, work, n, pg_url):
    subprocess.run([pforge, *store, "demo", "--port", "0"], cwd=work, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    if pg_url:
        psql(pg_url, PG_POPULATE.replace("{n}", str(n)))
    else:
        populate(store[1], n)
    print(f"populated {n} synthetic accounts (+6 demo) in {time.monotonic() - started:.1f} s ({'PostgreSQL' if pg_url else 'SQLite'})")
    started = time.monotonic()
    ui = subprocess.Popen([pforge, *store, "ui", "--bind", "127.0.0.1:0"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        login = ui.stdout.readline().strip().split()[-1]
        print(f"pforge ui answered after {time.monotonic() - started:.1f} s (opening rebuilds the accounts summary)")
        base = login.split("/login")[0]
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(login).read()
        kinds = {
            "default": "/",
            "sort by name": "/?sort=name",
            "sort by icp": "/?sort=icp_score&dir=desc",
            "sort by intent": "/?sort=intent_score&dir=desc",
            "sort by last change": "/?sort=last_change_at&dir=desc",
            "tier A": "/?tier=A",
            "intent >= 80": "/?min_intent=80",
            "runs Algolia": "/?tech=Algolia",
            "text synth99": "/?q=synth99",
            "page 500": "/?page=500",
        }
        times = {k: [] for k in kinds}
        for _ in range(3):  # warm up
            opener.open(base + "/").read()
        for _round in range(int(os.environ.get("ROUNDS", "10"))):
            for kind, path in kinds.items():
                t = time.monotonic()
                with opener.open(base + path) as r:
                    body = r.read()
                    if r.status != 200 or b"<table" not in body:
                        sys.exit(f"{path}: status {r.status}, no table")
                times[kind].append((time.monotonic() - t) * 1000)
    finally:
        ui.terminate()
    print(f"pforge: {pforge}")
    print(f"{'request':<22}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    everything = []
    for kind, ts in times.items():
        everything += ts
        ts = sorted(ts)
        print(f"{kind:<22}{statistics.median(ts):>9.1f}{ts[int(0.95 * (len(ts) - 1))]:>9.1f}{ts[-1]:>9.1f}")
    everything.sort()
    p95 = everything[int(0.95 * (len(everything) - 1))]
    print(f"{'all':<22}{statistics.median(everything):>9.1f}{p95:>9.1f}{everything[-1]:>9.1f}")
    print(json.dumps({"accounts": n + 6, "backend": "postgres" if pg_url else "sqlite", "p95_ms": round(p95, 1), "target_ms": 150}))


if __name__ == "__main__":
    main()
