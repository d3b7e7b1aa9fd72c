# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# monitor-e2e.sh: the body of tests/e2e/monitor-qmp.sh and monitor-hmp.sh.
# Set MON_KIND=qmp|hmp, then source this file. It drives libptap's monitor
# API (through tests/e2e/monitor/monitor-driver) against a real QEMU 7.2 guest
# run by an unprivileged ptaptest user in a private netns with a bridge.
# Every check is a pt_check: all of them run, and any "not ok" fails the test.

: "${PTAP_SOURCE_DIR:?}" "${PTAP_BUILD_DIR:?}"
. "$PTAP_SOURCE_DIR/tests/e2e/lib/guest.sh" # and with it tests/lib/common.sh

DRIVER=$PTAP_BUILD_DIR/tests/e2e/monitor/monitor-driver
pt_require_root
[ -x "$DRIVER" ] || pt_skip "$DRIVER not built"
command -v qemu-system-x86_64 >/dev/null || pt_skip "no qemu-system-x86_64"

QUSER=ptaptest-qemu

ptap_guest_image || pt_skip "no guest image"
pt_user_ensure "$QUSER" >/dev/null
pt_netns_new "mon$MON_KIND"
NS=$PT_NS
ip -n "$NS" link add br0 type bridge
ip -n "$NS" addr add 10.77.0.1/24 dev br0
ip -n "$NS" link set br0 up
# Taps QEMU's user may open, a multi-queue one, and one owned by root.
ip -n "$NS" tuntap add ptapm0 mode tap user "$QUSER"
ip -n "$NS" tuntap add ptapm1 mode tap multi_queue user "$QUSER"
ip -n "$NS" tuntap add ptapm2 mode tap user "$QUSER"
ip -n "$NS" tuntap add ptapm9 mode tap user root
for t in ptapm0 ptapm1 ptapm2 ptapm9; do
    ip -n "$NS" link set "$t" master br0 up
done

pt_diag_add ptap_guest_log_tail 30
ptap_guest_start "$NS" "$QUSER" || pt_fail "guest did not boot"
if [ "$MON_KIND" = qmp ]; then T=qmp:$PTAP_GUEST_QMP; else T=hmp:$PTAP_GUEST_HMP; fi
drv() { ip netns exec "$NS" "$DRIVER" "$T" "$@"; }

# --- the monitor: kind, dialect, QEMU's user ---
info=$(drv info)
echo "# $info"
quid=$(id -u "$QUSER")
pt_check "open $MON_KIND: new dialect, QEMU 7.x" grep -Eq "kind=$MON_KIND dialect=new version=7\." <<<"$info"
pt_check "peer credentials name QEMU's user ($quid) and pid" \
    grep -q "uid=$quid .*pid=$PTAP_GUEST_PID\$" <<<"$info"

# --- injection attempts: refused before QEMU sees them ---
# drv_rc ARGS...: `drv ARGS`; its exit code in rc, its output in out.
drv_rc() {
    rc=0
    out=$(drv "$@" 2>&1) || rc=$?
}
# exited CODE [REGEX]: the last drv_rc exited CODE and said REGEX.
exited() { [ "$rc" = "$1" ] && { [ $# -lt 2 ] || grep -q -- "$2" <<<"$out"; }; }
inj() { # inj DESCRIPTION ADD-ARGS...
    local d=$1
    shift
    drv_rc add "$@"
    pt_check "refused: $d (rc=$rc: $out)" exited 2 "^ERROR EINVAL refusing"
}
inj "option in tap name"   --tap 'ptapm0,script=/bin/sh' --netdev nx --device dx --mac 52:54:00:77:00:aa
inj "option in netdev id"  --tap ptapm0 --netdev 'nx,script=/bin/sh' --device dx --mac 52:54:00:77:00:aa
inj "option in device id"  --tap ptapm0 --netdev nx --device 'dx,romfile=/etc/shadow' --mac 52:54:00:77:00:aa
inj "option in model"      --tap ptapm0 --netdev nx --device dx --mac 52:54:00:77:00:aa --model 'e1000,addr=9'
inj "option in MAC"        --tap ptapm0 --netdev nx --device dx --mac '52:54:00:77:00:aa,id=zz'
inj "newline in an id"     --tap ptapm0 --netdev $'nx\ndevice_add e1000' --device dx --mac 52:54:00:77:00:aa
inj "multicast MAC"        --tap ptapm0 --netdev nx --device dx --mac 01:00:5e:00:00:01
inj "too long tap name"    --tap ptapm0123456789abc --netdev nx --device dx --mac 52:54:00:77:00:aa
inj "unknown model"        --tap ptapm0 --netdev nx --device dx --mac 52:54:00:77:00:aa --model ne2k_pci
pt_check "QEMU never got the refused netdev/device" \
    grep -q "device=no netdev=no" <<<"$(drv present --netdev nx --device dx)"

# --- hot-add, the guest sees the NIC and pings both ways ---
m=$(ptap_guest_mark)
drv_rc add --tap ptapm0 --netdev n0 --device d0 --mac 52:54:00:77:00:10
pt_check "nic_add ptapm0 ($out)" exited 0
pt_check "the guest lists the new NIC" ptap_guest_net_wait '\beth0\b' 30 "$m"
pt_check "nic_present: device and netdev" grep -q "device=yes netdev=yes" <<<"$(drv present --netdev n0 --device d0)"
pt_check "guest: MAC is the one asked for" \
    grep -q '52:54:00:77:00:10' <<<"$(ptap_guest_cmd cat /sys/class/net/eth0/address)"
pt_check "guest: configure eth0" ptap_guest_cmd "ip addr add 10.77.0.2/24 dev eth0 && ip link set eth0 up"
pt_check "guest pings the host side of the bridge" ptap_guest_cmd -t 30 "ping -c 2 -W 3 10.77.0.1"
pt_check "the host pings the guest" ptap_host_ping "$NS" 10.77.0.2 2

# --- errors: QEMU's message quoted, distinct codes, nothing left behind ---
drv_rc add --tap ptapm9 --netdev n9 --device d9 --mac 52:54:00:77:00:19
pt_check "tap owned by someone else: TAPPERM (rc=$rc: $out)" \
    exited 4 "netdev_add .n9. failed: could not configure /dev/net/tun (ptapm9): Operation not permitted"
pt_check "... and nothing left in QEMU" grep -q "device=no netdev=no" <<<"$(drv present --netdev n9 --device d9)"
drv_rc add --tap ptapm2 --netdev n8 --device d0 --mac 52:54:00:77:00:18
pt_check "duplicate device id: QEMU's error quoted (rc=$rc: $out)" \
    exited 6 "device_add .d0. failed: Duplicate device ID"
pt_check "... netdev rolled back" grep -q "netdev=no" <<<"$(drv present --netdev n8 --device d8)"
drv_rc add --tap ptapm0 --netdev n7 --device d7 --mac 52:54:00:77:00:17
pt_check "tap already in use: TAPBUSY (rc=$rc: $out)" exited 5

# --- a 2-queue NIC ---
m=$(ptap_guest_mark)
drv_rc add --tap ptapm1 --netdev n1 --device d1 --mac 52:54:00:77:00:11 --queues 2
pt_check "nic_add 2 queues ($out)" exited 0
pt_check "the guest lists the second NIC" ptap_guest_net_wait '\beth1\b' 30 "$m"
# The 1-CPU guest uses one pair; the device offers more: VIRTIO_NET_F_MQ (bit 22).
pt_check "guest: eth1 negotiated multi-queue (VIRTIO_NET_F_MQ)" \
    test "$(ptap_guest_cmd "cut -c23 /sys/class/net/eth1/device/features")" = 1
ptap_guest_cmd "ip addr add 10.77.0.3/24 dev eth1 && ip link set eth1 up" >/dev/null || true
pt_check "the host pings the 2-queue NIC's address" ptap_host_ping "$NS" 10.77.0.3 2

# --- hot-remove: DEVICE_DELETED / poll, then netdev_del ---
m=$(ptap_guest_mark)
drv_rc remove --netdev n1 --device d1
pt_check "nic_remove the 2-queue NIC ($out)" exited 0
drv_rc remove --netdev n0 --device d0
pt_check "nic_remove the first NIC ($out)" exited 0
pt_check "the NICs are gone from the guest" ptap_guest_net_wait '^lo$' 30 "$m"
pt_check "nic_present: neither device nor netdev" \
    grep -q "device=no netdev=no" <<<"$(drv present --netdev n0 --device d0)"
pt_check "QEMU closed the tap (no carrier)" \
    test "$(ip netns exec "$NS" cat /sys/class/net/ptapm0/carrier)" = 0
drv_rc remove --netdev n0 --device d0
pt_check "nic_remove again: already gone counts as removed ($out)" exited 0

# --- the same tap again (re-attach after detach) ---
m=$(ptap_guest_mark)
pt_check "re-attach ptapm0" drv add --tap ptapm0 --netdev n0 --device d0 --mac 52:54:00:77:00:10
pt_check "the guest sees it again" ptap_guest_net_wait '\beth0\b' 30 "$m"
pt_check "guest pings over the re-attached NIC" \
    ptap_guest_cmd -t 30 "ip addr add 10.77.0.2/24 dev eth0; ip link set eth0 up; ping -c 2 -W 3 10.77.0.1"
m=$(ptap_guest_mark)
pt_check "detach again" drv remove --netdev n0 --device d0
pt_check "gone again" ptap_guest_net_wait '^lo$' 30 "$m"

pt_checks_done
