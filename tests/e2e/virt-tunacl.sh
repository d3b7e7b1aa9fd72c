#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# e2e: the libvirt room's distinct error for a QEMU that cannot open
# /dev/net/tun inside libvirt's private /dev: a libvirtd whose qemu.conf
# leaves /dev/net/tun out of cgroup_device_acl, a running domain, a tap
# owned by QEMU's user. The monitor method (QEMU opens the tap itself) must
# fail with ENOTUN (PTAP_NIC_E_NOTUN) quoting QEMU, and leave nothing; the
# device method (libvirt opens the tap and passes it) still works there.
. "$PTAP_SOURCE_DIR/tests/e2e/lib/virt-common.sh"

virt_setup --no-tun-acl
virt_tap ptn0
mac=52:54:00:77:02:02

out=$("$VD" attach "$DOM" monitor ptn0 "$mac" t1 2>&1) && pt_fail "monitor attach succeeded without /dev/net/tun"
case $out in
    *"virt-driver: ENOTUN:"*"could not open /dev/net/tun"*) echo "   ($out)" ;;
    *) pt_fail "expected ENOTUN quoting QEMU, got: $out" ;;
esac
[ "$("$VD" has "$DOM" monitor t1)" = 0 ] || pt_fail "the failed attach left device t1"
expect_code ENODEV "$VD" netdev-del "$DOM" t1
pt_ok "monitor method without /dev/net/tun in cgroup_device_acl: ENOTUN, nothing left"

m=$(ptap_guest_mark)
"$VD" attach "$DOM" device ptn0 "$mac" t2 || pt_fail "device attach failed"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never listed eth0"
"$VD" detach "$DOM" device t2 || pt_fail "device detach failed"
pt_ok "device method (libvirt passes the descriptor) unaffected"
exit 0
