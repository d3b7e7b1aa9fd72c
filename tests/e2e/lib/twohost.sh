# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# twohost.sh: two libvirt "hosts" on this machine, for live migration tests
# (../shared/TESTBED.md, "Two libvirt hosts on one machine"). Source it from a
# bash test run as root, after tests/e2e/lib/guest.sh:
#   . "$PTAP_SOURCE_DIR/tests/e2e/lib/guest.sh"; . "$PTAP_SOURCE_DIR/tests/e2e/lib/twohost.sh"
#
# A host H is its own network namespace (ptaptest-mH-PID) and its own mount
# namespace, made by `unshare -m` when its daemons start: private folders of
# $TH_DIR/H are bind-mounted there over /etc/libvirt, /run/libvirt,
# /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt, /run/ptap,
# /run/user and /etc/ptap. The host's own copies are never written; the
# daemons are stopped by the PIDs they wrote.
#
# Functions (non-zero on failure, the reason on stderr):
#   th_init                       the work dir, the users, the lock; 77 when a
#                                 libvirtd or virtlogd already runs
#   th_host H IP [HOOK]           netns + config for host H with address IP on
#                                 the veth joining the hosts; HOOK (a file) is
#                                 installed as etc/hooks/qemu.d/ptap
#   th_link A B                   the veth pair between hosts A and B
#   th_start H                    virtlogd + libvirtd of H; waits for virsh
#   th_uri H                      the URI that reaches H's libvirtd from here
#   th_virsh H ARGS...            virsh on H
#   th_on H CMD...                CMD inside H's network and mount namespaces
#   th_stop_all                   destroy every domain, stop every daemon
#   th_log_tail H [N]             the end of H's libvirtd log
# Variables: TH_DIR, TH_NS_<H>, TH_PID_<H> (libvirtd), TH_IP_<H>.

TH_DIR=
TH_HOSTS=()
TH_LOCK_FD=

_th_err() { echo "twohost.sh: $*" >&2; }

th_init() {
    if ! command -v libvirtd >/dev/null || ! command -v virtlogd >/dev/null; then
        _th_err "needs libvirt-daemon and libvirt-clients"
        return 77
    fi
    exec {TH_LOCK_FD}>/run/ptaptest-libvirtd.lock
    flock -w 120 "$TH_LOCK_FD" || { _th_err "another test holds /run/ptaptest-libvirtd.lock"; return 77; }
    if pgrep -x libvirtd >/dev/null || pgrep -x virtlogd >/dev/null; then
        _th_err "a libvirtd or virtlogd already runs: refusing to start more"
        return 77
    fi
    ptap_lv_users || return 1
    pt_tun_world_rw
    TH_DIR=$(mktemp -d /tmp/ptaptest-mig.XXXXXX) || return 1
    chmod 0755 "$TH_DIR"
    pt_cleanup_add th_stop_all
    return 0
}

# The private tree of a host: the folders bind-mounted in its mount namespace.
TH_MOUNTS="etc/libvirt run/libvirt var/lib/libvirt var/log/libvirt var/cache/libvirt run/ptap run/user etc/ptap"

th_host() {
    local h=$1 ip=$2 hook=${3:-} r=$TH_DIR/$1 d uuid
    for d in $TH_MOUNTS; do mkdir -p "$r/$d" || return 1; done
    mkdir -p "$r/var/log/libvirt/qemu" "$r/var/lib/libvirt/qemu" "$r/run/libvirt/qemu" "$r/etc/libvirt/qemu"
    chmod 0755 "$r" "$r/run" "$r/etc" "$r/var" "$r/var/lib" "$r/var/lib/libvirt" "$r/run/libvirt"
    chmod 0700 "$r/run/ptap"
    uuid=$(cat /proc/sys/kernel/random/uuid)
    cat >"$r/etc/libvirt/libvirtd.conf" <<EOF
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
host_uuid = "$uuid"
log_outputs = "3:file:$r/libvirtd.log"
EOF
    cat >"$r/etc/libvirt/qemu.conf" <<EOF
user = "$PTAP_LV_QEMU_USER"
group = "$PTAP_LV_QEMU_USER"
cgroup_controllers = [ ]
cgroup_device_acl = [ "/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/ptmx", "/dev/kvm", "/dev/net/tun" ]
dynamic_ownership = 0
remember_owner = 0
migration_address = "0.0.0.0"
EOF
    [ -f /etc/libvirt/libvirt.conf ] && cp /etc/libvirt/libvirt.conf "$r/etc/libvirt/"
    if [ -n "$hook" ]; then
        mkdir -p "$r/etc/libvirt/hooks/qemu.d" && cp "$hook" "$r/etc/libvirt/hooks/qemu.d/ptap" &&
            chmod 0755 "$r/etc/libvirt/hooks" "$r/etc/libvirt/hooks/qemu.d" \
                "$r/etc/libvirt/hooks/qemu.d/ptap" || return 1
    fi
    ip netns add "ptaptest-m$h-$$" || return 1
    pt_cleanup_add ip netns del "ptaptest-m$h-$$"
    ip -n "ptaptest-m$h-$$" link set lo up
    printf -v "TH_NS_$h" '%s' "ptaptest-m$h-$$"
    printf -v "TH_IP_$h" '%s' "$ip"
    TH_HOSTS+=("$h")
}

th_link() {
    local a=$1 b=$2 na nb ia ib
    na=TH_NS_$a nb=TH_NS_$b ia=TH_IP_$a ib=TH_IP_$b
    ip link add "ptt$a$$" netns "${!na}" type veth peer name "ptt$b$$" netns "${!nb}" || return 1
    ip -n "${!na}" addr add "${!ia}/24" dev "ptt$a$$" && ip -n "${!na}" link set "ptt$a$$" up &&
        ip -n "${!nb}" addr add "${!ib}/24" dev "ptt$b$$" && ip -n "${!nb}" link set "ptt$b$$" up
}

th_start() {
    local h=$1 r=$TH_DIR/$1 ns i pid
    ns=TH_NS_$h
    _pt_etc_ptap # the mount point (common.sh: the one thing tests make in /etc/ptap)
    # The mounts, then both daemons, inside one new mount namespace; it
    # lives as long as they do.
    ip netns exec "${!ns}" unshare --mount --propagation private sh -c '
        r=$1; shift
        for d in $TH_MOUNTS; do mount --bind "$r/$d" "/$d" || exit 1; done
        virtlogd -d -p "$r/virtlogd.pid" || exit 1
        exec libvirtd -d -f /etc/libvirt/libvirtd.conf -p "$r/libvirtd.pid"' \
        sh "$r" {TH_LOCK_FD}>&- || { _th_err "libvirtd of host $h did not start"; return 1; }
    pid=$(_ptap_lv_pidfile "$r/libvirtd.pid") || { _th_err "libvirtd of $h wrote no pid file"; return 1; }
    printf -v "TH_PID_$h" '%s' "$pid"
    for i in $(seq 100); do
        virsh -c "$(th_uri "$h")" list >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    _th_err "libvirtd of host $h (pid $pid) does not answer"
    th_log_tail "$h"
    return 1
}
export TH_MOUNTS

th_uri() { echo "qemu+unix:///system?socket=$TH_DIR/$1/run/libvirt/libvirt-sock"; }

th_virsh() {
    local h=$1
    shift
    virsh -q -c "$(th_uri "$h")" "$@"
}

th_on() {
    local h=$1 p
    shift
    p=TH_PID_$h
    nsenter -t "${!p}" -m -n -- "$@"
}

th_log_tail() {
    local r=$TH_DIR/$1
    echo "---- libvirtd log of host $1 (last ${2:-30} lines) ----" >&2
    tail -n "${2:-30}" "$r/libvirtd.log" >&2 2>/dev/null
    for f in "$r"/var/log/libvirt/qemu/*.log; do
        [ -f "$f" ] || continue
        echo "---- $f ----" >&2
        tail -n "${2:-30}" "$f" >&2
    done
    return 0
}

th_stop_all() {
    local h p r pid d
    for h in "${TH_HOSTS[@]}"; do
        p=TH_PID_$h
        r=$TH_DIR/$h
        if [ -n "${!p:-}" ] && kill -0 "${!p}" 2>/dev/null; then
            for d in $(virsh -q -c "$(th_uri "$h")" list --all --name 2>/dev/null); do
                case $d in ptaptest*) ;; *) continue ;; esac
                virsh -q -c "$(th_uri "$h")" destroy "$d" >/dev/null 2>&1
                virsh -q -c "$(th_uri "$h")" undefine "$d" >/dev/null 2>&1
            done
        fi
        for pid in "${!p:-}" "$(cat "$r/virtlogd.pid" 2>/dev/null)"; do
            [ -n "$pid" ] && pt_kill "$pid" 10
        done
        printf -v "TH_PID_$h" '%s' ""
    done
    TH_HOSTS=()
    [ -n "$TH_DIR" ] && [ -z "${PTAP_KEEP_TH:-}" ] && rm -rf "$TH_DIR"
    TH_DIR=
    if [ -n "$TH_LOCK_FD" ]; then
        exec {TH_LOCK_FD}>&-
        TH_LOCK_FD=
    fi
    return 0
}
