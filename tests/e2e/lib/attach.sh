# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# attach.sh: shared set-up for the `ptap attach/detach` end-to-end tests.
# A private netns with a bridge br0 (10.9.0.1/24), a real TCG guest run by
# the unprivileged user ptaptest-q inside it (guest.sh), and `ptap` run as
# root in that namespace with a private state dir and the built helper.
# Assertions and clean-up are tests/lib/common.sh's (through guest.sh).
#
#   attach_setup TAG      netns ptaptest-TAG-PID + bridge + guest, all
#                         removed at exit; sets NS, SD (state dir); a failing
#                         test shows the guest console's last lines
#   P ARGS...             run the built ptap in NS with --state-dir SD
#   taps_in_ns            names of ptap-marked taps in NS, sorted
#   assert_consistent     guest NIC <=> attached record <=> tap (see below)

. "$PTAP_SOURCE_DIR/tests/e2e/lib/guest.sh"

pt_require_root
: "${PTAP_BIN:?}" "${PTAP_HELPER_BIN:?}"

NS=
SD=
QUSER=ptaptest-q

attach_setup() {
    local tag=$1
    ptap_guest_image || pt_skip "no guest image (qemu/busybox missing)"
    pt_user_ensure "$QUSER" >/dev/null
    pt_netns_new "$tag"
    NS=$PT_NS
    SD=$(mktemp -d "$PT_TMP/state.XXXXXX")
    ip -n "$NS" link add br0 type bridge
    ip -n "$NS" addr add 10.9.0.1/24 dev br0
    ip -n "$NS" link set br0 up
    pt_diag_add ptap_guest_log_tail 30
    ptap_guest_start "$NS" "$QUSER" || pt_fail "guest did not boot"
}

P() {
    ip netns exec "$NS" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$SD" "$@"
}

taps_in_ns() { pt_marked_taps "$NS"; }

# The recovery invariant: guest NIC present <=> record attached <=> tap exists.
assert_consistent() {
    local list taps recs rc=0
    list=$(P list --json) || rc=$?
    [ "$rc" -le 1 ] || pt_fail "ptap list failed ($rc)"
    taps=$(taps_in_ns | tr '\n' ' ')
    recs=$(pt_jq "$list" '[.records[] | select(.state != null) | .name] | sort | join(" ")') ||
        pt_fail "ptap list --json: $list"
    [ "$(echo $taps)" = "$(echo $recs)" ] || pt_fail "kernel taps [$taps] != journal records [$recs]"
    pt_assert_json "ptap list reports problems: $list" "$list" 'all(.records[]; .problem == null)'
    [ "$rc" -eq 0 ] || pt_fail "ptap list exited $rc with no problem listed: $list"
}
