#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# retry-guest-panic.sh SCRIPT: run an e2e suite; run it once more, from the
# start, only when it failed and the guest console it printed shows the
# guest's own kernel dying ("Kernel panic - not syncing").
#
# Why: QEMU 7.2 live-migrating a TCG guest now and then hands the
# destination a guest whose memory misses a late write (seen here as a
# panic in the guest's timer code, __run_timers on a poisoned list, a few
# seconds after it arrived): QEMU's, not ptap's, and no more than the
# migration test's environment. Any other failure stands, and so does a
# second panic. The first run's output is kept in the log.
set -u
script=${1:?usage: retry-guest-panic.sh SCRIPT}
out=$(mktemp "${TMPDIR:-/tmp}/ptaptest-retry.XXXXXX")
trap 'rm -f "$out"' EXIT
bash "$script" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ]; then
    exit "$rc"
fi
if ! awk '/^---- guest console/,/^---- end of guest console/' "$out" | grep -q 'Kernel panic - not syncing'; then
    exit "$rc"
fi
echo "retry-guest-panic: the guest's kernel panicked (above), not ptap: running $(basename "$script") once more"
bash "$script"
