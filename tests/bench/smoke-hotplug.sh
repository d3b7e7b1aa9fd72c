#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Smoke run of bench-hotplug.sh (1 round; libvirt half reported as not run when a libvirtd is busy), so the benchmark cannot rot:
# fails when a contender fails or a result is missing, never on a ratio.
source "$(dirname "$0")/lib/bench.sh"
bn_smoke bench-hotplug.sh "hotplug-qmp hotplug-qmp-guest hotplug-libvirt hotplug-libvirt-pool" --rounds 1
