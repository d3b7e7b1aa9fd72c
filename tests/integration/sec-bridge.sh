#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Attack: a user allowed on a bridge changes the bridge through its tap:
# a tap MTU below the bridge's lowers the bridge's MTU, and a tap MAC lower
# than the bridge's becomes the bridge's MAC (a bridge adopts its lowest
# port MAC). Required: no caller can change any property of the bridge
# through its tap; root's defaults follow the same rule (first octet 0xfe,
# as libvirt and qemu-bridge-helper do).
. "$(dirname "$0")/../lib/common.sh"
pt_require_root
pt_tun_world_rw

U=ptaptest-brg
pt_user_ensure $U >/dev/null
pt_netns_new bridge
pt_ns ip link add br0 type bridge
pt_ns ip link add port0 type veth peer name port0p
pt_ns ip link set port0 address 52:54:00:aa:bb:cc master br0 up
pt_ns ip link set br0 up
POL=$(pt_policy_dir "allow user $U bridge br0 max 8")

bridge_state() { pt_ns ip -j link show br0 | jq -r '.[0] | "\(.mtu) \(.address)"'; }
before=$(bridge_state)
pt_assert_eq "bridge before" "1500 52:54:00:aa:bb:cc" "$before"

for mode in setuid cap; do
    H=$(pt_helper_install $mode)
    pt_assert_rc "$mode: --mtu below the bridge's" 64 pt_helper $U "$POL" "$H" create ev1 --bridge br0 --mtu 68
    pt_assert_match "$mode: the refusal names the bridge and its MTU" "br0.*1500|1500.*br0" "$PT_ERR"
    pt_assert_rc "$mode: a MAC that could become the bridge's" 64 pt_helper $U "$POL" "$H" create ev2 --bridge br0 --mac 00:00:00:00:00:01
    pt_assert_match "$mode: the refusal names the MAC" "00:00:00:00:00:01" "$PT_ERR"
    pt_assert_eq "$mode: bridge unchanged after the refusals" "$before" "$(bridge_state)"
    pt_ns ip link show ev1 >/dev/null 2>&1 && pt_fail "$mode: refused ev1 exists"
    pt_ns ip link show ev2 >/dev/null 2>&1 && pt_fail "$mode: refused ev2 exists"
    pt_ns ip link show ev3 >/dev/null 2>&1 && pt_fail "$mode: refused ev3 exists"
    # A larger MTU would raise the MTU of a bridge whose only port it is.
    pt_assert_rc "$mode: --mtu above the bridge's" 64 pt_helper $U "$POL" "$H" create ev3 --bridge br0 --mtu 9000
    # Within the rules it works, and changes nothing of the bridge either.
    pt_assert_rc "$mode: the bridge's MTU is fine" 0 pt_helper $U "$POL" "$H" create ok$mode --bridge br0 --mtu 1500
    pt_assert_rc "$mode: a 0xfe MAC is fine" 0 pt_helper $U "$POL" "$H" create okm$mode --bridge br0 --mac fe:54:00:00:00:01
    pt_assert_eq "$mode: bridge unchanged by allowed taps" "$before" "$(bridge_state)"
    pt_helper $U "$POL" "$H" destroy ok$mode okm$mode >/dev/null
done
pt_ok "a user cannot change the bridge's MTU or MAC through its tap"

# Root may not lower the bridge's MTU either.
pt_assert_rc "root: --mtu below the bridge's" 64 pt_helper root "$POL" "$PT_HELPER_BIN" create evr --bridge br0 --mtu 1280
pt_assert_eq "root: bridge unchanged" "$before" "$(bridge_state)"

# Defaults, root included: the tap's MAC starts with 0xfe.
for as in root $U; do
    H=$(pt_helper_install setuid)
    pt_assert_rc "$as: default create" 0 pt_helper $as "$POL" "$H" create def$as --bridge br0 --owner $U
    mac=$(pt_ns ip -j link show "def$as" | jq -r '.[0].address')
    pt_assert_match "$as: default tap MAC" '^fe:' "$mac"
    pt_assert_eq "$as: bridge unchanged by a default tap" "$before" "$(bridge_state)"
done
pt_ok "default tap MACs start with 0xfe, the bridge keeps its MAC"
