#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Smoke run of bench-create.sh (10 taps, 1 round), so the benchmark cannot rot:
# fails when a contender fails or a result is missing, never on a ratio.
source "$(dirname "$0")/lib/bench.sh"
bn_smoke bench-create.sh "create-10 destroy-10 create-10-loop create-10-floor create-10-helper destroy-10-helper create-10-helper-batch destroy-10-helper-batch create-20 flat-create flat-destroy" \
    --sizes "10 20" --rounds 1 --loop-max 10 --bridge-max 10
