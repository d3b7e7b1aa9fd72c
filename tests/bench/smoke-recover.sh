#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Smoke run of bench-recover.sh (10 orphans, 1 round), so the benchmark cannot rot:
# fails when a contender fails or a result is missing, never on a ratio.
source "$(dirname "$0")/lib/bench.sh"
bn_smoke bench-recover.sh "recover-10" --sizes 10 --rounds 1
