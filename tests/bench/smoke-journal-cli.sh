#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Smoke run of bench-journal-cli.sh (10 and 100 records, 1 round; bench_journal has its own smoke), so the benchmark cannot rot:
# fails when a contender fails or a result is missing, never on a ratio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rc=0
out=$(bash "$here/bench-journal-cli.sh" --sizes '10 100' --rounds 1 --in-process no) || rc=$?
echo "$out"
[ "$rc" -eq 0 ] || exit "$rc"
for id in journal-op-100 journal-op-host-100 journal-list-rss; do
    grep -q "^RESULT	$id	" <<<"$out" || { echo "FAIL: no result '$id'" >&2; exit 1; }
done
