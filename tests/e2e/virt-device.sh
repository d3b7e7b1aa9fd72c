#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# e2e: libptap's libvirt room, method "device", against a real libvirtd in a
# private netns and a TCG guest: virDomainAttachDeviceFlags(LIVE) of an
# <interface type='ethernet'> on a tap made for QEMU's user → the guest lists
# the NIC, pings the host side of the bridge both ways, virsh domiflist shows
# it; detach waits for libvirt's DEVICE_REMOVED → the NIC is gone, the tap stays.
# Also: DAC owner and pid lookups against the real QEMU process, lookup by
# UUID, refusals (no such domain, not running, bad input).
. "$PTAP_SOURCE_DIR/tests/e2e/lib/virt-common.sh"

virt_setup

# Who QEMU runs as: the DAC label must name the process's real owner.
owner=$("$VD" owner "$DOM") || pt_fail "owner lookup failed"
real=$(ps -o uid=,gid= -p "$PTAP_GUEST_PID" | awk '{print $1, $2}')
[ "$owner" = "$real" ] || pt_fail "owner lookup says '$owner', QEMU runs as '$real'"
[ "$owner" = "64055 64055" ] || pt_fail "expected libvirt-qemu (64055 64055), got '$owner'"
pt_ok "QEMU owner from the DAC label: $owner (ps agrees)"

read -r pid start <<<"$("$VD" pid "$DOM")" || pt_fail "pid lookup failed"
[ "$pid" = "$PTAP_GUEST_PID" ] || pt_fail "pid lookup says $pid, libvirt's pid file $PTAP_GUEST_PID"
real_start=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $20}')
[ "$start" = "$real_start" ] || pt_fail "start time $start, /proc says $real_start"
pt_ok "QEMU pid $pid, start time $start"

uuid=$(ptap_lv_virsh domuuid "$DOM" | head -n 1)
info=$("$VD" info "$uuid") || pt_fail "lookup by UUID failed"
case $info in *"name=$DOM "*) ;; *) pt_fail "lookup by UUID gave: $info" ;; esac
pt_ok "lookup by UUID $uuid"

virt_tap ptv0
mac=52:54:00:77:00:02
for cycle in 1 2; do
    m=$(ptap_guest_mark)
    "$VD" attach "$DOM" device ptv0 "$mac" n1 || pt_fail "attach (cycle $cycle) failed"
    ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never listed eth0"
    pt_ok "cycle $cycle: attached ptv0, the guest lists eth0"
    ptap_lv_virsh domiflist "$DOM" | grep -q "ptv0.*$mac" ||
        pt_fail "virsh domiflist does not show ptv0: $(ptap_lv_virsh domiflist "$DOM")"
    [ "$("$VD" has "$DOM" device n1)" = 1 ] || pt_fail "presence check does not see ua-n1"
    pt_ok "cycle $cycle: virsh domiflist shows ptv0, presence check sees alias ua-n1"
    ptap_guest_cmd "ip link show eth0" | grep -qi "$mac" || pt_fail "guest eth0 has not MAC $mac"
    ptap_guest_link_check "$NS" eth0 "$GUEST_IP" "$HOST_IP" || pt_fail "no traffic over eth0"
    pt_ok "cycle $cycle: guest → host and host → guest pings"

    m=$(ptap_guest_mark)
    t0=$(date +%s%N)
    "$VD" detach "$DOM" device n1 || pt_fail "detach (cycle $cycle) failed"
    t1=$(date +%s%N)
    ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "eth0 still in the guest"
    [ "$("$VD" has "$DOM" device n1)" = 0 ] || pt_fail "presence check still sees ua-n1"
    ! ptap_lv_virsh domiflist "$DOM" | grep -q ptv0 || pt_fail "virsh domiflist still shows ptv0"
    ip -n "$NS" link show ptv0 >/dev/null || pt_fail "the tap did not survive the detach"
    pt_ok "cycle $cycle: detached after DEVICE_REMOVED ($(((t1 - t0) / 1000000)) ms), NIC gone, tap kept"
done

expect_code ENODEV "$VD" detach "$DOM" device n1
pt_ok "detaching a missing alias: ENODEV"
expect_code EINVAL "$VD" attach "$DOM" device ptv0 "$mac" n1 ne2k_pci
expect_code EINVAL "$VD" attach "$DOM" device ptv0 ff:ff:ff:ff:ff:ff n1
expect_code EINVAL "$VD" attach "$DOM" device ptv0 "$mac" "n1,x=y"
expect_code EINVAL "$VD" attach "$DOM" device "ptv0 x" "$mac" n1
expect_code EINVAL "$VD" attach "$DOM" device ptv0 "$mac" n1 e1000 2
[ "$(ptap_lv_virsh domiflist "$DOM" | grep -c .)" = 0 ] || pt_fail "a refused attach left a NIC"
pt_ok "bad model / MAC / id / tap name / queues refused, nothing attached"

expect_code ENOENT "$VD" running ptaptest-nosuchdomain
pt_ok "unknown domain: ENOENT"

ptap_lv_halt "$DOM"
[ "$("$VD" running "$DOM")" = 0 ] || pt_fail "domain still reported running"
expect_code EHOSTDOWN "$VD" attach "$DOM" device ptv0 "$mac" n1
expect_code EHOSTDOWN "$VD" has "$DOM" device n1
expect_code EHOSTDOWN "$VD" owner "$DOM"
expect_code EHOSTDOWN "$VD" detach "$DOM" monitor n1
pt_ok "domain not running: EHOSTDOWN"

ptap_lv_stop
expect_code ECONNREFUSED "$VD" -c qemu:///system running "$DOM"
pt_ok "no libvirtd: ECONNREFUSED"
exit 0
