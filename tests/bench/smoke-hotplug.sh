#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Smoke run of bench-hotplug.sh (1 round; libvirt half reported as not run when a libvirtd is busy), so the benchmark cannot rot:
# fails when a contender fails or a result is missing, never on a ratio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rc=0
out=$(bash "$here/bench-hotplug.sh" --rounds 1) || rc=$?
echo "$out"
[ "$rc" -eq 0 ] || exit "$rc"
for id in hotplug-qmp hotplug-qmp-guest hotplug-libvirt hotplug-libvirt-pool; do
    grep -q "^RESULT	$id	" <<<"$out" || { echo "FAIL: no result '$id'" >&2; exit 1; }
done
