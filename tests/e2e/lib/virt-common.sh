# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# virt-common.sh: the shared set-up of tests/e2e/virt-*.sh (the libvirt room):
# a netns ptaptest-… with a bridge, a private libvirtd in it, one booted TCG
# domain, and the virt-driver program. Source it, then call virt_setup.
#
#   virt_setup [--no-tun-acl] [--no-boot]
#       Exit 77 (skip) when not root, libvirt/QEMU are missing or a libvirtd
#       already runs. Sets NS, DOM, VD (the driver), BR=br0 (10.77.0.1/24).
#       Installs the EXIT trap that stops everything this test started.
#   virt_tap NAME        create a persistent tap NAME owned by QEMU's user
#                        (asked from the driver: the DAC label), on $BR, up
#   pass MSG / die MSG   report a step / fail the test (with logs)
#   expect_code CODE CMD...   run CMD, require failure with "virt-driver: CODE:"

. "$PTAP_SOURCE_DIR/tests/e2e/lib/guest.sh"
. "$PTAP_SOURCE_DIR/tests/e2e/lib/libvirtd.sh"

VD=${PTAP_VIRT_DRIVER:-$PTAP_BUILD_DIR/tests/e2e/virt/virt-driver}
NS=ptaptest-lv$$
DOM=ptaptest-vm$$
BR=br0
HOST_IP=10.77.0.1
GUEST_IP=10.77.0.2

pass() { echo "ok - $*"; }
die() {
    echo "FAIL - $*" >&2
    ptap_guest_log_tail 30
    ptap_lv_log_tail 20
    exit 1
}

expect_code() {
    local code=$1 out
    shift
    if out=$("$@" 2>&1); then
        die "expected $code from '$*', it succeeded: $out"
    fi
    case $out in
        *"virt-driver: $code:"*) echo "   ($out)" ;;
        *) die "expected $code from '$*', got: $out" ;;
    esac
}

_virt_cleanup() {
    ptap_lv_stop
    ip netns del "$NS" 2>/dev/null
}

virt_setup() {
    local acl= boot=yes rc
    while [ $# -gt 0 ]; do
        case $1 in
            --no-tun-acl) acl=--no-tun-acl ;;
            --no-boot) boot=no ;;
        esac
        shift
    done
    [ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
    [ -x "$VD" ] || { echo "skip: no $VD (build the tests)"; exit 77; }
    command -v libvirtd >/dev/null || { echo "skip: libvirtd not installed"; exit 77; }
    ptap_guest_image || { echo "skip: no guest image"; exit 77; }
    ptap_lv_users || die "cannot create the libvirt-qemu account"
    trap _virt_cleanup EXIT
    ip netns add "$NS" || die "cannot create netns $NS"
    ip -n "$NS" link set lo up
    ip -n "$NS" link add "$BR" type bridge || die "no bridge"
    ip -n "$NS" addr add "$HOST_IP/24" dev "$BR"
    ip -n "$NS" link set "$BR" up
    ptap_lv_start "$NS" $acl
    rc=$?
    [ $rc = 0 ] || { [ $rc = 77 ] && echo "skip: cannot have a libvirtd of our own"; exit $rc; }
    ptap_lv_define "$DOM" || die "cannot define $DOM"
    if [ $boot = yes ]; then
        ptap_lv_boot "$DOM" || die "domain $DOM did not boot"
    fi
    pass "libvirtd in $NS, domain $DOM"
}

virt_tap() {
    local tap=$1 owner
    owner=$("$VD" owner "$DOM") || die "no QEMU owner for $DOM"
    set -- $owner
    ip -n "$NS" tuntap add dev "$tap" mode tap user "$1" group "$2" ||
        die "cannot create tap $tap"
    ip -n "$NS" link set "$tap" master "$BR" up || die "cannot put $tap on $BR"
}
