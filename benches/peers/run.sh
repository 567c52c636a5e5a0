#!/usr/bin/env bash
# Side by side: the product's 15-module DAG over N no-op domains in asyncio, Dask, Prefect 3 and
# pforge. Installs Dask and Prefect from PyPI into a virtualenv beside the script (once).
# Usage: benches/peers/run.sh [N] (default 1000); needs a release build of pforge.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
n="${1:-1000}"
pforge="${PFORGE:-${CARGO_TARGET_DIR:-$root/target}/release/pforge}"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "dask==2024.*" "prefect==3.*"
fi
# Prefect's first start on a fresh machine creates and migrates its database before its
# ephemeral API server answers, which took longer than Prefect's default wait here (the run then
# stopped with "Timed out while attempting to connect to ephemeral Prefect API server").
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="${PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS:-120}"
cd "$root"
"$venv/bin/python" "$here/peers.py" "$pforge" "$n"
