#!/bin/bash
# Smoke run of bench_journal with tiny sizes, so the benchmark cannot rot.
source "$(dirname "$0")/../lib/common.sh"
bin="${PTAP_BUILD_DIR:?}/tests/bench/bench_journal"
out=$("$bin" --sizes 10,100 --reps 5 --replay 200 --replay-reps 3)
echo "$out"
for ere in '^bench journal-append-live-10 median_ms=[0-9.]+ ratio=1\.000 cpu_ms=[0-9.]+ cpu_ratio=1\.000$' \
           '^bench journal-append-live-100 median_ms=[0-9.]+ ratio=[0-9.]+ cpu_ms=[0-9.]+ cpu_ratio=[0-9.]+$' \
           '^bench journal-replay-200 median_ms=[0-9.]+$'; do
    grep -Eq "$ere" <<<"$out" || pt_fail "bench_journal printed no line matching /$ere/"
done
