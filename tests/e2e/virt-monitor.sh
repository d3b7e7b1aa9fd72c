#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# e2e: libptap's libvirt room, method "monitor": QMP netdev_add (tap by
# ifname, script=no) + device_add passed through virDomainQemuMonitorCommand,
# so QEMU (as libvirt-qemu) opens the tap by name itself — no descriptor.
# The guest lists the NIC and pings both ways; libvirt's XML does not know it;
# detach waits for QEMU's DEVICE_DELETED (libvirt-qemu monitor events), then
# netdev_del (the tap loses its carrier). A failed device_add rolls the netdev
# back. A 2-queue NIC on a multi-queue tap.
. "$PTAP_SOURCE_DIR/tests/e2e/lib/virt-common.sh"

virt_setup
virt_tap ptm0
mac=52:54:00:77:01:02

no_carrier() { ip -n "$NS" link show "$1" | grep -q NO-CARRIER; }

for cycle in 1 2; do
    m=$(ptap_guest_mark)
    "$VD" attach "$DOM" monitor ptm0 "$mac" m1 || pt_fail "attach (cycle $cycle) failed"
    ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never listed eth0"
    [ "$("$VD" has "$DOM" monitor m1)" = 1 ] || pt_fail "qom-list does not show m1"
    ! ptap_lv_virsh domiflist "$DOM" | grep -q ptm0 ||
        pt_fail "libvirt's XML unexpectedly knows the monitor-added NIC"
    [ "$("$VD" has "$DOM" device m1)" = 0 ] || pt_fail "libvirt's XML has an alias for m1"
    pt_ok "cycle $cycle: netdev_add+device_add through libvirt-qemu, guest lists eth0, qom-list has m1, libvirt's XML does not"
    ptap_guest_cmd "ip link show eth0" | grep -qi "$mac" || pt_fail "guest eth0 has not MAC $mac"
    ptap_guest_link_check "$NS" eth0 "$GUEST_IP" "$HOST_IP" || pt_fail "no traffic over eth0"
    pt_ok "cycle $cycle: guest → host and host → guest pings"

    m=$(ptap_guest_mark)
    t0=$(date +%s%N)
    "$VD" detach "$DOM" monitor m1 || pt_fail "detach (cycle $cycle) failed"
    t1=$(date +%s%N)
    ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "eth0 still in the guest"
    [ "$("$VD" has "$DOM" monitor m1)" = 0 ] || pt_fail "qom-list still shows m1"
    no_carrier ptm0 || pt_fail "QEMU still holds ptm0 (netdev not deleted?)"
    pt_ok "cycle $cycle: DEVICE_DELETED + netdev_del ($(((t1 - t0) / 1000000)) ms), NIC gone, tap closed"
done

expect_code ENODEV "$VD" detach "$DOM" monitor m1
expect_code ENODEV "$VD" netdev-del "$DOM" m1
pt_ok "detaching a missing device / netdev: ENODEV"

# Rollback: a device method NIC takes QEMU device id ua-x1; a monitor attach
# with that id gets its netdev, then device_add fails: the netdev must go.
virt_tap ptm1
"$VD" attach "$DOM" device ptm1 52:54:00:77:01:03 x1 || pt_fail "device attach of ptm1 failed"
expect_code EEXIST "$VD" attach "$DOM" monitor ptm0 "$mac" ua-x1
expect_code ENODEV "$VD" netdev-del "$DOM" ua-x1
no_carrier ptm0 || pt_fail "ptm0 still held by QEMU after the rollback"
"$VD" detach "$DOM" device x1 || pt_fail "detach of x1 failed"
pt_ok "device_add failure rolled back the netdev (tap closed, netdev gone)"

# Two queues: the tap must be multi-queue; QEMU opens it twice by name.
owner=$("$VD" owner "$DOM")
set -- $owner
ip -n "$NS" tuntap add dev ptmq mode tap multi_queue user "$1" group "$2" || pt_fail "no mq tap"
ip -n "$NS" link set ptmq master "$BR" up
m=$(ptap_guest_mark)
"$VD" attach "$DOM" monitor ptmq 52:54:00:77:01:04 mq1 virtio-net-pci 2 || pt_fail "2-queue attach failed"
ptap_guest_net_wait '\beth[0-9]\b' 30 "$m" >/dev/null || pt_fail "guest never listed the 2-queue NIC"
# The guest has one vCPU, so Linux enables one queue pair and QEMU disables
# the other queue (TUNSETQUEUE): the tap counts one enabled + one disabled.
d=$(ip -d -n "$NS" link show ptmq | grep -o "numqueues [0-9]* numdisabled [0-9]*") || true
set -- $d
[ $# = 4 ] && [ $(($2 + $4)) = 2 ] || pt_fail "tap ptmq not opened twice by QEMU: $d"
"$VD" detach "$DOM" monitor mq1 || pt_fail "detach of mq1 failed"
pt_ok "2-queue NIC: guest lists it, QEMU holds both queues of ptmq ($d)"

expect_code EINVAL "$VD" attach "$DOM" monitor ptm0 "$mac" "m1,script=/bin/sh"
# A tap name is a JSON string to QMP, never parsed as options: QEMU looks
# for a tap literally named "ptm0,script=x" (and fails), it runs no script.
out=$("$VD" attach "$DOM" monitor "ptm0,script=x" "$mac" m9 2>&1) && pt_fail "attach of 'ptm0,script=x' succeeded"
case $out in *"(ptm0,script=x)"*) ;; *) pt_fail "unexpected answer: $out" ;; esac
[ "$("$VD" has "$DOM" monitor m9)" = 0 ] || pt_fail "a failed netdev_add left device m9"
expect_code ENODEV "$VD" netdev-del "$DOM" m9
pt_ok "option injection: a bad id is refused, a tap name stays one literal JSON string"
exit 0
