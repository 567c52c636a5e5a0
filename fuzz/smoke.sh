#!/usr/bin/env bash
# Fuzz smoke run: every cargo-fuzz target for SECS seconds (default 60), seeded from corpus/.
# Usage: fuzz/smoke.sh [SECS] [TARGET...]
# Needs cargo-fuzz (installed here if missing) and a nightly toolchain; without nightly it falls
# back to RUSTC_BOOTSTRAP=1 on stable, which the sanitizer flags cargo-fuzz passes then accept.
# Crashes land in fuzz/artifacts/<target>/; reproduce with `cargo fuzz run <target> <file>`.
set -euo pipefail
cd "$(dirname "$0")"
SECS="${1:-60}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(domain_parse fingerprint_pattern config_load declarative_extract)
fi

if ! cargo fuzz --help >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    FUZZ=(cargo +nightly fuzz)
else
    echo "no nightly toolchain: using RUSTC_BOOTSTRAP=1 with stable" >&2
    export RUSTC_BOOTSTRAP=1
    FUZZ=(cargo fuzz)
fi

status=0
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t: ${SECS}s" >&2
    # -rss_limit_mb and -timeout turn memory blow-ups and hangs (ReDoS) into findings.
    if ! "${FUZZ[@]}" run "$t" "corpus/$t" -- \
        -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -max_len=4096 -print_final_stats=1; then
        echo "== $t: FAILED (see fuzz/artifacts/$t/)" >&2
        status=1
    fi
done
exit $status
