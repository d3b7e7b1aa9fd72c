#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark 6: live migration of a guest with its ptap NIC (docs/migration.md).
# Two libvirt hosts on this machine (tests/e2e/lib/twohost.sh), a TCG guest
# with 256 MiB, migrated there and back R times (`virsh migrate --live`,
# wall time of the virsh command, source to destination):
#   ptap     the guest with a ptap NIC (<interface type='ethernet'>, tap
#            managed='no'): the destination's hook makes the tap through
#            the helper and journals it at migrate begin, the source's
#            destroys its own at stopped end
#   anchor   the same guest with a libvirt-managed NIC instead
#            (<interface type='bridge'><source bridge='br0'/>): libvirt
#            makes and removes the tap itself
# Both run in the same run of tests/e2e/migration.sh (which also checks
# every step); rounds alternate there-and-back, ptap's first.
# Target: ptap <= 1.1x the libvirt-managed NIC.
#
# Usage: bench-migration.sh [--rounds R]
source "$(dirname "$0")/lib/bench.sh"

rounds=3
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    *) pt_fail "bench-migration.sh: unknown option '$1'" ;;
    esac
done
[ "$(id -u)" -eq 0 ] || pt_skip "benchmarks need root"
export PTAP_TESTDATA=$PT_SOURCE_DIR/tests/data
rc=0
out=$(PTAP_MIG_BENCH=$rounds bash "$PT_SOURCE_DIR/tests/e2e/migration.sh" 2>"$PT_TMP/err") || rc=$?
if [ "$rc" = 77 ]; then
    bn_result "migration" "Live migration there and back" "not run: libvirtd busy" ms - - - - - - "<= 1.1" "not run"
    exit 0
fi
[ "$rc" = 0 ] || { cat "$PT_TMP/err" >&2; pt_fail "tests/e2e/migration.sh failed (exit $rc)"; }
ptap=$(sed -n 's/^BENCH migration_ms ptap //p' <<<"$out")
br=$(sed -n 's/^BENCH migration_ms bridge //p' <<<"$out")
[ -n "$ptap" ] && [ -n "$br" ] || pt_fail "no BENCH lines from tests/e2e/migration.sh"
bn_compare "migration" "Live migration, TCG guest 256 MiB (virsh migrate --live)" \
    "ptap NIC (the hooks make and remove the tap)" "$ptap" \
    "libvirt-managed <interface type='bridge'>" "$br" "<= 1.1" le 1.1
