"""The `pforge` binary the Python benchmarks drive, found once for all of them."""

import os
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def binary():
    """$PFORGE, else the release then the debug build under $CARGO_TARGET_DIR (or target/)."""
    if os.environ.get("PFORGE"):
        return os.environ["PFORGE"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    for profile in ("release", "debug"):
        path = os.path.join(target, profile, "pforge")
        if os.path.exists(path):
            return path
    sys.exit("no pforge binary: build it (cargo build --release -p pforge) or set PFORGE")
