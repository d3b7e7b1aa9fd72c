#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# attach and detach across network namespaces (issue 11, item 1), against
# a real QEMU guest: QEMU opens a tap by name in its own namespace, so a
# fresh tap is made there (root's ptap enters it), and a pool tap of
# another namespace is refused up front. The guest runs in A (attach.sh's
# namespace); ptap runs from B, a second private namespace that plays the
# host, with the same state directory.
set -eu
. "$PTAP_SOURCE_DIR/tests/e2e/lib/attach.sh"
attach_setup nsat
T="qmp:$PTAP_GUEST_QMP"
NS_A=$NS
NS_B=ptaptest-nsatB-$$
ip netns add "$NS_B"
pt_cleanup_add ip netns del "$NS_B"
# ptap from B, on A's state directory.
PB() {
    ip netns exec "$NS_B" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$SD" "$@"
}

echo "== attach from B: the fresh tap is made in A, where QEMU is"
m=$(ptap_guest_mark)
out=$(PB attach "$T" --bridge br0 --json) || pt_fail "attach from B failed"
tap=$(pt_jq "$out" .records[0].name)
ip -n "$NS_A" link show "$tap" >/dev/null 2>&1 || pt_fail "tap $tap is not in A"
ip -n "$NS_A" -d link show "$tap" | grep -q "master br0" || pt_fail "tap not on A's br0"
[ -z "$(pt_marked_taps "$NS_B")" ] || pt_fail "a tap was made in B: $(pt_marked_taps "$NS_B")"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw eth0"
ptap_guest_link_check "$NS_A" eth0 10.9.0.2 10.9.0.1 || pt_fail "no traffic between guest and A"
pt_assert_json "list from B: attached, in A, its tap there" "$(PB list --json)" \
    '[.records[] | select(.name == $t and .state == "attached" and .netns.name == $a
                   and .in_kernel == true and .carrier == true and .problem == null)] | length == 1' \
    --arg t "$tap" --arg a "$NS_A"
assert_consistent
pt_assert_rc "recover from B" 0 PB recover --json
pt_assert_eq "recover from B leaves the attached tap" "[]" "$(jq -c .records <<<"$PT_OUT")"

echo "== detach from B: the tap is destroyed in A"
m=$(ptap_guest_mark)
PB detach "$T" --tap "$tap" >/dev/null || pt_fail "detach from B failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists eth0"
ip -n "$NS_A" link show "$tap" >/dev/null 2>&1 && pt_fail "tap $tap still exists in A"
[ "$(P list --json | jq -c .records)" = "[]" ] || pt_fail "journal still has records"

echo "== a pool tap of B is refused for a guest in A"
pb=$(PB create 'pb%d') || pt_fail "create in B failed"
pt_assert_rc "attach B's pool tap to A's guest" 64 PB attach "$T" --tap "$pb"
pt_assert_match "the refusal says why" "'$pb' is in network namespace '$NS_B'.*runs in '$NS_A'" "$PT_ERR"
pt_assert_json "the pool tap is still ready, in B" "$(PB list --json)" \
    '[.records[] | select(.name == $t and .state == "ready" and .netns.name == $b)] | length == 1' \
    --arg t "$pb" --arg b "$NS_B"
ptap_guest_cmd "ip link show" | grep -q eth0 && pt_fail "the guest got a NIC"
PB destroy "$pb" >/dev/null || pt_fail "destroy of $pb failed"
echo "ok - attach and detach judge the tap in QEMU's namespace"
