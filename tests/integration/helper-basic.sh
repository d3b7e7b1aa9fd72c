#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ptap-helper, installed setuid-root and with cap_net_admin+ep, run by a
# real unprivileged user in a private netns: create / list / destroy,
# owner and group honoured by the kernel, bridge + MTU + MAC applied,
# multi-queue taps take several queues, templates, tags.
. "$(dirname "$0")/../lib/common.sh"
pt_require_root
pt_tun_world_rw

U1=ptaptest-h1
U2=ptaptest-h2
uid1=$(pt_user_ensure $U1)
uid2=$(pt_user_ensure $U2)
gid=$(pt_group_ensure ptaptest-hg $U1)
pt_netns_new hbasic
pt_ns ip link add br0 type bridge
pt_ns ip link set br0 mtu 1400 up
POL=$(pt_policy_dir "# test policy
allow user $U1 bridge br0 max 20
allow user $U1 bridge none max 20")

sysfs() { pt_ns cat "/sys/class/net/$1/$2"; }

# json_get NAME KEY: one key of one tap from `list --json` (on stdin), as
# JSON; a missing key is an error, not null.
json_get() {
    jq -c --arg n "$1" --arg k "$2" \
        '.[] | select(.name == $n) | if has($k) then .[$k] else error("no key \($k) for \($n)") end'
}

for mode in setuid cap; do
    H=$(pt_helper_install $mode)
    pt_log "mode $mode: $H"

    pt_assert_rc "$mode: --version" 0 pt_helper $U1 "$POL" "$H" --version
    pt_assert_match "$mode: --version" '^ptap-helper [0-9]' "$PT_OUT"
    pt_assert_rc "$mode: --help" 0 pt_helper $U1 "$POL" "$H" --help
    pt_assert_match "$mode: --help" 'ptap-helper create NAME' "$PT_OUT"

    # Bridge, MTU (the bridge's), MAC, mark, owner.
    pt_assert_rc "$mode: create on br0" 0 \
        pt_helper $U1 "$POL" "$H" create ph0 --bridge br0 --mac fe:54:00:aa:bb:01
    pt_assert_eq "$mode: create prints the name" ph0 "$PT_OUT"
    pt_assert_eq "$mode: owner" "$uid1" "$(sysfs ph0 owner)"
    pt_assert_eq "$mode: group" "-1" "$(sysfs ph0 group)"
    pt_assert_eq "$mode: mtu (bridge's)" 1400 "$(sysfs ph0 mtu)"
    pt_assert_eq "$mode: mac" fe:54:00:aa:bb:01 "$(sysfs ph0 address)"
    pt_assert_eq "$mode: mark (names its maker)" "ptap:u$uid1" "$(sysfs ph0 ifalias)"
    pt_assert_eq "$mode: master" br0 "$(basename "$(pt_ns readlink /sys/class/net/ph0/master)")"
    pt_assert_eq "$mode: tun_flags (tap, no_pi, persist)" 0x1802 "$(sysfs ph0 tun_flags)"
    pt_assert_match "$mode: up" 'UP' "$(pt_ns ip link show ph0)"
    pt_ok "$mode: create with bridge, MTU, MAC"

    # The kernel honours the owner: U1 may attach, U2 may not.
    pt_assert_rc "$mode: owner attaches" 0 pt_tun_open $U1 ph0
    pt_assert_rc "$mode: other user refused" 1 pt_tun_open $U2 ph0
    pt_assert_match "$mode: other user's error" 'Operation not permitted' "$PT_ERR"
    pt_ok "$mode: owner honoured"

    # Explicit MTU and group; U1 is in the group, U2 is not.
    pt_assert_rc "$mode: create with group" 0 \
        pt_helper $U1 "$POL" "$H" create ph1 --mtu 1300 --group ptaptest-hg --owner $U1
    pt_assert_eq "$mode: group set" "$gid" "$(sysfs ph1 group)"
    pt_assert_eq "$mode: mtu set" 1300 "$(sysfs ph1 mtu)"
    pt_assert_rc "$mode: owner+group attaches" 0 pt_tun_open $U1 ph1
    pt_assert_rc "$mode: outsider refused" 1 pt_tun_open $U2 ph1
    pt_ok "$mode: group honoured"

    # Multi-queue with vnet headers: several queues attach.
    pt_assert_rc "$mode: create multi-queue" 0 \
        pt_helper $U1 "$POL" "$H" create phq --multi-queue --vnet-hdr --mtu 9000
    pt_assert_eq "$mode: tun_flags (mq, vnet_hdr, persist)" 0x5902 "$(sysfs phq tun_flags)"
    pt_assert_rc "$mode: 4 queues" 0 pt_tun_open $U1 phq 4 0x4100
    pt_assert_eq "$mode: queues attached" 4 "$PT_OUT"
    pt_assert_rc "$mode: single-queue attach to mq tap" 1 pt_tun_open $U1 phq 1 0x4000
    pt_ok "$mode: multi-queue tap takes several queues"

    # Templates and tags: the kernel picks the numbers; names stream out.
    pt_assert_rc "$mode: template --count 3" 0 \
        pt_helper $U1 "$POL" "$H" create 'pht%d' --count 3 --tag batch-1 --bridge br0
    pt_assert_eq "$mode: template names" "pht0 pht1 pht2" "$(echo $PT_OUT)"
    pt_assert_eq "$mode: tagged mark" "ptap:u$uid1:batch-1" "$(sysfs pht2 ifalias)"

    # list --json: the keys ptap relies on, with the kernel's values.
    (pt_tun_open $U1 ph1 1 0 3 >/dev/null &)
    for _ in $(seq 50); do
        [ "$(sysfs ph1 carrier 2>/dev/null)" = 1 ] && break
        sleep 0.05
    done
    pt_assert_rc "$mode: list --json" 0 pt_helper $U2 "$POL" "$H" list --json
    J=$PT_OUT
    pt_assert_json "$mode: list --json is a JSON array" "$J" 'type == "array"'
    pt_assert_eq "$mode: json names" '["ph0","ph1","phq","pht0","pht1","pht2"]' \
        "$(echo "$J" | jq -c '[.[].name] | sort')"
    pt_assert_eq "$mode: json owner" "$uid1" "$(echo "$J" | json_get ph0 owner)"
    pt_assert_eq "$mode: json group null" null "$(echo "$J" | json_get ph0 group)"
    pt_assert_eq "$mode: json group" "$gid" "$(echo "$J" | json_get ph1 group)"
    pt_assert_eq "$mode: json bridge" '"br0"' "$(echo "$J" | json_get ph0 bridge)"
    pt_assert_eq "$mode: json bridge null" null "$(echo "$J" | json_get phq bridge)"
    pt_assert_eq "$mode: json mtu" 9000 "$(echo "$J" | json_get phq mtu)"
    pt_assert_eq "$mode: json multi_queue" true "$(echo "$J" | json_get phq multi_queue)"
    pt_assert_eq "$mode: json vnet_hdr" true "$(echo "$J" | json_get phq vnet_hdr)"
    pt_assert_eq "$mode: json vnet_hdr off" false "$(echo "$J" | json_get ph0 vnet_hdr)"
    pt_assert_eq "$mode: json carrier on" true "$(echo "$J" | json_get ph1 carrier)"
    pt_assert_eq "$mode: json carrier off" false "$(echo "$J" | json_get ph0 carrier)"
    pt_assert_eq "$mode: json mark" "\"ptap:u$uid1:batch-1\"" "$(echo "$J" | json_get pht1 mark)"
    pt_assert_eq "$mode: json ifindex" "$(sysfs pht1 ifindex)" "$(echo "$J" | json_get pht1 ifindex)"
    pt_assert_rc "$mode: list" 0 pt_helper $U1 "$POL" "$H" list
    pt_assert_match "$mode: list table" 'NAME +OWNER +GROUP +BRIDGE +MTU +FLAGS +CARRIER +MARK' "$PT_OUT"
    pt_assert_match "$mode: list row" "phq +$uid1 +- +- +9000 +up,mq,vnet +off +ptap" "$PT_OUT"
    pt_ok "$mode: list and list --json"

    # destroy --tag removes exactly the tagged batch; names in one batch.
    pt_assert_rc "$mode: destroy --tag" 0 pt_helper $U1 "$POL" "$H" destroy --tag batch-1
    pt_assert_eq "$mode: destroy --tag prints names" "pht0 pht1 pht2" "$(echo $PT_OUT)"
    pt_assert_rc "$mode: destroy --tag again (nothing left)" 0 pt_helper $U1 "$POL" "$H" destroy --tag batch-1
    pt_assert_rc "$mode: destroy names" 0 pt_helper $U1 "$POL" "$H" destroy ph0 ph1 phq ph0
    for t in ph0 ph1 phq pht0 pht1 pht2; do
        pt_ns test ! -e "/sys/class/net/$t" || pt_fail "$mode: $t survived destroy"
    done
    pt_ok "$mode: destroy and destroy --tag"

    # Root is not bound by the policy and may choose the owner.
    pt_assert_rc "$mode: root creates for U2" 0 \
        pt_helper root "$POL" "$H" create 'pr%d' --owner $U2 --bridge br0
    pt_assert_eq "$mode: root-made owner" "$uid2" "$(sysfs pr0 owner)"
    pt_assert_rc "$mode: U2 attaches" 0 pt_tun_open $U2 pr0
    pt_assert_rc "$mode: U1 cannot destroy U2's tap" 77 pt_helper $U1 "$POL" "$H" destroy pr0
    pt_assert_rc "$mode: U2 destroys its tap" 0 pt_helper $U2 "$POL" "$H" destroy pr0
    pt_ok "$mode: root caller"
done
