#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Smoke run of bench-journal-cli.sh (10 and 100 records, 1 round; bench_journal has its own smoke), so the benchmark cannot rot:
# fails when a contender fails or a result is missing, never on a ratio.
source "$(dirname "$0")/lib/bench.sh"
bn_smoke bench-journal-cli.sh "journal-op-100 journal-op-host-100 journal-list-rss" --sizes '10 100' --rounds 1 --in-process no
