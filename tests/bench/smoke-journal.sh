#!/bin/bash
# Smoke run of bench_journal with tiny sizes, so the benchmark cannot rot.
set -euo pipefail
bin="${PTAP_BUILD_DIR:?}/tests/bench/bench_journal"
out=$("$bin" --sizes 10,100 --reps 5 --replay 200 --replay-reps 3)
echo "$out"
grep -Eq '^bench journal-append-live-10 median_ms=[0-9.]+ ratio=1\.000 cpu_ms=[0-9.]+ cpu_ratio=1\.000$' <<<"$out"
grep -Eq '^bench journal-append-live-100 median_ms=[0-9.]+ ratio=[0-9.]+ cpu_ms=[0-9.]+ cpu_ratio=[0-9.]+$' <<<"$out"
grep -Eq '^bench journal-replay-200 median_ms=[0-9.]+$' <<<"$out"
