#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Smoke run of bench-create.sh (10 taps, 1 round), so the benchmark cannot rot:
# fails when a contender fails or a result is missing, never on a ratio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rc=0
out=$(bash "$here/bench-create.sh" --sizes 10 --rounds 1) || rc=$?
echo "$out"
[ "$rc" -eq 0 ] || exit "$rc"
for id in create-10 create-10-floor; do
    grep -q "^RESULT	$id	" <<<"$out" || { echo "FAIL: no result '$id'" >&2; exit 1; }
done
