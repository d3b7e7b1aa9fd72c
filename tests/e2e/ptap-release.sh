#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `ptap release` against a real QEMU guest: release took a bare socket
# path and destroyed the tap of a QEMU that still ran, while the TARGET
# syntax of attach ("qmp:PATH") silently did nothing. Required: the TARGET
# syntax of attach and detach, and never a tap whose guest still runs
# without --force. Then, once the guest is gone, release takes its tap.
set -eu
. "$PTAP_SOURCE_DIR/tests/e2e/lib/attach.sh"
attach_setup rl
T="qmp:$PTAP_GUEST_QMP"

m=$(ptap_guest_mark)
out=$(P attach "$T" --bridge br0 --json) || pt_fail "attach failed"
tap=$(pt_jq "$out" .records[0].name)
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw eth0"

pt_assert_rc "release of a bare path" 64 P release "$PTAP_GUEST_QMP"
pt_assert_match "the refusal says how to name a monitor" "qmp:PATH" "$PT_ERR"
pt_assert_rc "release of a guest that still runs" 75 P release "$T" --json
pt_assert_json "the tap is kept, and why" "$PT_OUT" \
    '.records[0].action == "kept" and .records[0].name == $t and (.records[0].reason | test("still runs"))' --arg t "$tap"
ip -n "$NS" link show "$tap" >/dev/null 2>&1 || pt_fail "release destroyed the tap of a running guest"
pt_assert_json "the record is still attached" "$(P list --json)" \
    '[.records[] | select(.name == $t and .state == "attached")] | length == 1' --arg t "$tap"
ptap_guest_link_check "$NS" eth0 10.9.0.2 10.9.0.1 || pt_fail "the guest's NIC stopped working"
pt_ok "release refuses a bare path and keeps the tap of a running guest"

pt_assert_rc "release --force" 0 P release "$T" --force --json
pt_assert_json "--force releases it" "$PT_OUT" '.records[0].action == "release" and .records[0].name == $t' --arg t "$tap"
ip -n "$NS" link show "$tap" >/dev/null 2>&1 && pt_fail "release --force left the tap"
pt_assert_eq "no record left" "[]" "$(P list --json | jq -c .records)"
pt_ok "release --force takes the tap of a running guest"

# A guest that is gone: release needs no --force. (The forced release left
# the guest its NIC: the journal alone was changed. Another id, then.)
out=$(P attach "$T" --bridge br0 --id second --json) || pt_fail "second attach failed"
tap=$(pt_jq "$out" .records[0].name)
ptap_guest_stop
pt_assert_rc "release after the guest stopped" 0 P release "$T" --json
pt_assert_json "the tap is released" "$PT_OUT" '.records[0].action == "release" and .records[0].name == $t' --arg t "$tap"
ip -n "$NS" link show "$tap" >/dev/null 2>&1 && pt_fail "release left the gone guest's tap"
pt_assert_eq "no record left" "[]" "$(P list --json | jq -c .records)"
pt_ok "release takes the tap of a guest that is gone"
