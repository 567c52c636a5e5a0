#!/usr/bin/env python3
"""Wikidata calls per domain, batched against unbatched, on a simulated Wikidata.

Generates N synthetic domains and their Wikidata (gen_fixtures.py), serves them with
`pforge fixtures serve`, and enriches the list twice with the Wikidata modules (M01 company
context, M08 investors) on fresh SQLite files:

1. the shipped config (config/pforge.toml: wbgetentities batched, 50 ids a call, Wikidata at
   its real 5 requests/s);
2. the same config with the batch rule removed (and Wikidata's rate raised so it ends sooner:
   the rate changes no answer).

It prints the calls the fixture server counted per provider, Wikidata calls per domain, what
`pforge plan --estimate` predicted for the same list with the same config (asked before each
run, on its empty database; the config's [estimate] numbers are set to the simulated world's
parameters, see with_world) and the error, and whether the two runs stored identical data for
every (domain, module).

Usage: benches/wikidata/run.py [N] (default 1000). PFORGE names the binary (default
$CARGO_TARGET_DIR or target, release then debug).
"""

import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benches"))
from pforge_binary import binary  # noqa: E402
MODULES = "m01_company_context,m08_investors"


def set_rate(config, provider, per_second, burst):
    """Rewrites the rate_limit line of [providers.PROVIDER]."""
    pattern = re.compile(r"(\[providers\.%s\]\n(?:(?!\[).*\n)*?)rate_limit = .*\n" % re.escape(provider))
    new, n = pattern.subn(lambda m: m.group(1) + f"rate_limit = {{ per_second = {per_second}, burst = {burst} }}\n", config)
    if n != 1:
        sys.exit(f"config: no rate_limit line in [providers.{provider}]")
    return new


def without_section(config, header):
    """Removes one [table] (its header line up to the next table or comment block)."""
    new, n = re.subn(r"(?m)^%s\n(?:(?!\[)(?!#).*\n)*" % re.escape(header), "", config)
    if n != 1:
        sys.exit(f"config: no {header} to remove")
    return new


def without_batching(config):
    new, n = re.subn(r"\[\[providers\.wikidata\.batch\]\]\n(?:(?!\[)(?!#).*\n)*", "", config)
    if n != 1:
        sys.exit("config: no [[providers.wikidata.batch]] table to remove")
    return new


def set_key(config, key, value):
    """Sets `key = value` where the config has exactly one `key = ...` line."""
    new, n = re.subn(r"(?m)^%s = .*$" % re.escape(key), f"{key} = {value}", config)
    if n != 1:
        sys.exit(f"config: {n} lines set {key}")
    return new


def with_world(config, n):
    """The [estimate] numbers of the simulated world, as a user who knows their list sets them.

    They are gen_fixtures.py's parameters, not fitted to any run: every tenth domain is unknown
    to the query service (name search); every domain has an item listing investors and owners;
    its item refers to 1 of 50 headquarters, 20 industries, 5 countries and (every fourth) 3
    exchanges (78 facet items), and to 100 investors/owners. Requests to the local fixture server
    take about a millisecond.
    """
    searched = sum(1 for i in range(n) if i % 10 == 9)
    config = set_key(config, "latency_ms", 1.0)
    config = set_key(config, "wikidata_name_search", searched / n)
    config = set_key(config, "wikidata_item_found", 1.0)
    config = set_key(config, "wikidata_lists_investors", 1.0)
    config = set_key(config, "wikidata_company_facets", 50 + 20 + 5 + 3)
    config = set_key(config, "wikidata_investors", 100)
    return config


def stats(url):
    with urllib.request.urlopen(url + "/__stats") as r:
        return json.load(r)


def reset(url):
    urllib.request.urlopen(urllib.request.Request(url + "/__reset", method="POST")).read()


def per_provider(stats):
    """Request counts per provider: the stats count by path, whose first segment names it."""
    out = {}
    for path, count in stats["by_path"].items():
        provider = path.lstrip("/").split("/")[0].split("?")[0]
        out[provider] = out.get(provider, 0) + count
    return out


def stored(db):
    con = sqlite3.connect(db)
    rows = con.execute("SELECT domain, module, version, data FROM snapshots ORDER BY domain, module, version").fetchall()
    con.close()
    return {(d, m, v): json.loads(data) for d, m, v, data in rows}


def run(pforge, work, config_text, csv, url, label):
    config = os.path.join(work, f"{label}.toml")
    with open(config, "w") as f:
        f.write(config_text)
    db = os.path.join(work, f"{label}.db")
    env = dict(os.environ, PFORGE_CONFIG=config, PFORGE_DATABASE_URL=f"sqlite://{db}?mode=rwc")
    started = time.monotonic()
    out = subprocess.run([pforge, "plan", "--estimate", csv, "--modules", MODULES, "--json"], env=env, check=True, capture_output=True, text=True)
    estimate = json.loads(out.stdout)
    estimate["wall_seconds"] = time.monotonic() - started
    reset(url)
    started = time.monotonic()
    subprocess.run(
        [pforge, "enrich", "-f", csv, "--modules", MODULES, "--fixtures-url", url, "--json"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.monotonic() - started
    return per_provider(stats(url)), seconds, stored(db), estimate


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    pforge = binary()
    with open(os.path.join(ROOT, "config", "pforge.toml")) as f:
        shipped = f.read()
    # The query service is not the subject: let it answer at once (the homepage is rate
    # limited per site only).
    base = set_rate(shipped, "wikidata_sparql", 2000.0, 100)
    # Crunchbase is keyed (M08 uses it only with a key): left out, as for a user without one.
    base = without_section(without_section(base, "[providers.crunchbase]"), "[budget.providers.crunchbase]")
    # Relative paths in the config are relative to its folder; the copies live elsewhere.
    base = base.replace('fingerprints = "fingerprints"', 'fingerprints = %s' % json.dumps(os.path.join(ROOT, "config", "fingerprints")))
    base = with_world(base, n)
    unbatched = set_rate(without_batching(base), "wikidata", 2000.0, 100)
    with tempfile.TemporaryDirectory(prefix="pforge-wikidata-") as work:
        fixtures = os.path.join(work, "fixtures")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_fixtures.py"), fixtures, str(n)], check=True)
        csv = os.path.join(fixtures, "domains.csv")
        server = subprocess.Popen([pforge, "fixtures", "serve", "--dir", fixtures], stdout=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().strip()
            b_calls, b_secs, b_data, b_est = run(pforge, work, base, csv, url, "batched")
            u_calls, u_secs, u_data, u_est = run(pforge, work, unbatched, csv, url, "unbatched")
        finally:
            server.terminate()
    b_pred = {p: e["calls"] for p, e in b_est["providers"].items()}
    u_pred = {p: e["calls"] for p, e in u_est["providers"].items()}
    print(f"pforge: {pforge}")
    print(f"{n} synthetic domains, modules {MODULES}")
    print(f"{'provider':<18}{'batched':>9}{'estimate':>10}{'error':>9}{'unbatched':>11}{'estimate':>10}{'error':>9}")

    def err(pred, real):
        return f"{100.0 * (pred - real) / real:+.1f}%" if real else "-"

    for p in sorted(set(b_calls) | set(u_calls) | set(b_pred) | set(u_pred)):
        b, u = b_calls.get(p, 0), u_calls.get(p, 0)
        be, ue = b_pred.get(p, 0), u_pred.get(p, 0)
        print(f"{p:<18}{b:>9}{be:>10}{err(be, b):>9}{u:>11}{ue:>10}{err(ue, u):>9}")
    for label, est in (("batched", b_est), ("unbatched", u_est)):
        for p, e in est["providers"].items():
            for i in e.get("items", []):
                print(f"  estimate {label} {p}: {i['items']} items in {i['calls']} calls: {i['endpoint']}")
        sim = est.get("simulated_seconds")
        print(f"  estimate {label}: simulated {sim if sim is None else round(sim, 1)} s, answered in {est['wall_seconds']:.2f} s")
    wd_b, wd_u = b_calls.get("wikidata", 0), u_calls.get("wikidata", 0)
    print(f"Wikidata calls per domain: batched {wd_b / n:.3f}, unbatched {wd_u / n:.3f}")
    print(f"enrich wall time: batched {b_secs:.1f} s (Wikidata at 5 req/s), unbatched {u_secs:.1f} s (2000 req/s)")
    differ = [k for k in set(b_data) | set(u_data) if b_data.get(k) != u_data.get(k)]
    print(f"stored snapshots: batched {len(b_data)}, unbatched {len(u_data)}, differing {len(differ)}")
    for k in sorted(differ)[:5]:
        print(f"  differs: {k}")
    report = {
        "domains": n,
        "calls": {"batched": b_calls, "unbatched": u_calls, "estimate_batched": b_pred, "estimate_unbatched": u_pred},
        "wikidata_calls_per_domain": {"batched": wd_b / n, "unbatched": wd_u / n},
        "identical": not differ,
    }
    print(json.dumps(report))
    if differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
