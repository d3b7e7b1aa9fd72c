# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# virt-common.sh: the shared set-up of tests/e2e/virt-*.sh (the libvirt room):
# a netns ptaptest-lv-PID with a bridge, a private libvirtd in it, one booted
# TCG domain, and the virt-driver program. Source it, then call virt_setup.
# Assertions and clean-up are tests/lib/common.sh's (through libvirtd.sh).
#
#   virt_setup [--no-tun-acl] [--no-boot]
#       Skip (77) when not root, libvirt/QEMU are missing or a libvirtd
#       already runs. Sets NS, DOM, VD (the driver), BR=br0 (10.77.0.1/24).
#       What it starts is stopped at exit; a failing test shows the ends of
#       the guest console and of libvirtd's log.
#   virt_tap NAME        create a persistent tap NAME owned by QEMU's user
#                        (asked from the driver: the DAC label), on $BR, up
#   expect_code CODE CMD...   run CMD, require failure with "virt-driver: CODE:"

. "$PTAP_SOURCE_DIR/tests/e2e/lib/libvirtd.sh"

VD=${PTAP_VIRT_DRIVER:-$PTAP_BUILD_DIR/tests/e2e/virt/virt-driver}
NS=
DOM=ptaptest-vm$$
BR=br0
HOST_IP=10.77.0.1
GUEST_IP=10.77.0.2

expect_code() {
    local code=$1 out
    shift
    if out=$("$@" 2>&1); then
        pt_fail "expected $code from '$*', it succeeded: $out"
    fi
    case $out in
        *"virt-driver: $code:"*) echo "   ($out)" ;;
        *) pt_fail "expected $code from '$*', got: $out" ;;
    esac
}

virt_setup() {
    local acl= boot=yes rc=0
    while [ $# -gt 0 ]; do
        case $1 in
            --no-tun-acl) acl=--no-tun-acl ;;
            --no-boot) boot=no ;;
        esac
        shift
    done
    pt_require_root
    [ -x "$VD" ] || pt_skip "no $VD (build the tests)"
    command -v libvirtd >/dev/null || pt_skip "libvirtd not installed"
    ptap_guest_image || pt_skip "no guest image"
    ptap_lv_users || pt_fail "cannot create the libvirt-qemu account"
    pt_netns_new lv
    NS=$PT_NS
    ip -n "$NS" link add "$BR" type bridge || pt_fail "no bridge"
    ip -n "$NS" addr add "$HOST_IP/24" dev "$BR"
    ip -n "$NS" link set "$BR" up
    pt_diag_add ptap_guest_log_tail 30
    pt_diag_add ptap_lv_log_tail 20
    ptap_lv_start "$NS" $acl || rc=$?
    [ $rc != 77 ] || pt_skip "cannot have a libvirtd of our own"
    [ $rc = 0 ] || pt_fail "libvirtd did not start"
    ptap_lv_define "$DOM" || pt_fail "cannot define $DOM"
    if [ $boot = yes ]; then
        ptap_lv_boot "$DOM" || pt_fail "domain $DOM did not boot"
    fi
    pt_ok "libvirtd in $NS, domain $DOM"
}

virt_tap() {
    local tap=$1 owner
    owner=$("$VD" owner "$DOM") || pt_fail "no QEMU owner for $DOM"
    set -- $owner
    ip -n "$NS" tuntap add dev "$tap" mode tap user "$1" group "$2" ||
        pt_fail "cannot create tap $tap"
    ip -n "$NS" link set "$tap" master "$BR" up || pt_fail "cannot put $tap on $BR"
}
