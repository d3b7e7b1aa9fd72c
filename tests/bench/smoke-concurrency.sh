#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Smoke run of bench-concurrency.sh (8 clients x 2, 1 round), so the benchmark cannot rot:
# fails when a contender fails or a result is missing, never on a ratio.
source "$(dirname "$0")/lib/bench.sh"
bn_smoke bench-concurrency.sh "concurrency concurrency-agree" --clients 8 --ops 2 --rounds 1
