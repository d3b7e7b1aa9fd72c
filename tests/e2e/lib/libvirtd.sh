# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# libvirtd.sh: a real, private libvirtd for ptap's end-to-end tests, run by hand
# (no systemd) as ../shared/TESTBED.md measured it. Source it from a bash test run
# as root; it sources guest.sh (whose console helpers it reuses) and with it
# tests/lib/common.sh (the clean-up stack its daemons are registered on):
#   . "$PTAP_SOURCE_DIR/tests/e2e/lib/libvirtd.sh"
#
# What it never does: edit the host's /etc/libvirt, kill a daemon it did not start,
# or start a second libvirtd (/run/libvirt is global: one system daemon per machine).
# The private configuration reaches libvirtd through a bind mount of a private
# directory over /etc/libvirt inside libvirtd's own mount namespace (ip netns exec
# already gives it one): libvirtd.conf could be named with -f, but the QEMU driver
# reads qemu.conf only from /etc/libvirt/qemu.conf, and persistent domain XML goes
# to /etc/libvirt/qemu/. The host's /etc/libvirt is never written.
#
# Functions (all return non-zero on failure and say why on stderr):
#   ptap_lv_users
#       Create, idempotently and under flock /run/ptaptest-users.lock, the accounts
#       Debian's libvirt-daemon-system would: group kvm, group libvirt-qemu (gid
#       64055), user libvirt-qemu (uid 64055, primary group kvm, member of
#       libvirt-qemu). QEMU then runs as libvirt-qemu:libvirt-qemu.
#   ptap_lv_start NS [--no-tun-acl] [--hook FILE]
#       Start virtlogd and libvirtd (inside netns NS) on a private configuration:
#       cgroup_controllers = [ ], cgroup_device_acl with /dev/net/tun (left out
#       with --no-tun-acl, to provoke QEMU's "could not open /dev/net/tun"), QEMU
#       as libvirt-qemu; with --hook, FILE installed as a QEMU hook
#       (/etc/libvirt/hooks/qemu.d/BASENAME as libvirtd sees it). Waits until
#       `virsh -c qemu:///system list` answers. Returns 77 (skip) when a libvirtd
#       or virtlogd already runs or libvirt is not installed. Sets PTAP_LV_DIR
#       (private work dir), PTAP_LV_URI. Registers ptap_lv_stop on the clean-up
#       stack (daemons killed by their PIDs at exit, even when the test fails).
#   ptap_lv_virsh ARGS...
#       virsh -c qemu:///system ARGS (quiet).
#   ptap_lv_define NAME [--q35 ROOT_PORTS]
#       Define a TCG domain NAME (must start with "ptaptest") with direct kernel
#       boot of the guest image (ptap_guest_image), 256 MiB, no NIC, machine pc,
#       and a <serial type='unix'> console at $PTAP_LV_DIR/NAME/console.sock.
#       With --q35: machine q35 with exactly ROOT_PORTS pcie-root-port
#       controllers (0: none, so nothing can be hot-plugged).
#   ptap_lv_net NAME BRIDGE ADDR [--no-start]
#       Define libvirt's NAT network NAME on bridge BRIDGE, gateway ADDR/24 and a
#       DHCP range .2-.254 (libvirt's dnsmasq and iptables rules then live in
#       libvirtd's netns), and start it unless --no-start. ptap_lv_stop destroys
#       and undefines it.
#   ptap_lv_boot NAME
#       virsh start NAME, relay its serial console (virt-driver console) into the
#       variables guest.sh's helpers use (PTAP_GUEST_LOG, PTAP_GUEST_CONSOLE_FD,
#       PTAP_GUEST_PID = QEMU's pid), and wait for PTAP-READY (60 s). Afterwards
#       ptap_guest_wait / ptap_guest_net_wait / ptap_guest_cmd work as with a
#       guest started by ptap_guest_start. One booted domain per shell at a time.
#   ptap_lv_halt NAME
#       virsh destroy NAME and stop the console relay (the domain stays defined).
#   ptap_lv_stop
#       Destroy and undefine every domain this shell defined, stop the relay,
#       libvirtd and virtlogd by the PIDs they wrote, remove the private files.
#       Idempotent (the clean-up stack calls it again at exit).
#   ptap_lv_log_tail [N=30]
#       Print the end of libvirtd's log and of the domain's QEMU log to stderr.
#
# The driver binary for the console relay is $PTAP_VIRT_DRIVER (default
# $PTAP_BUILD_DIR/tests/e2e/virt/virt-driver).
#
# Safe under `set -eu` (the functions never trip -e on expected failures).
#
# Typical test:
#   dom=ptaptest-vm$$
#   ptap_guest_image || pt_skip "no guest image"
#   ptap_lv_users || pt_fail "no libvirt-qemu account"
#   pt_netns_new lv; ...bridge, tap (ip tuntap add ... user libvirt-qemu)...
#   rc=0; ptap_lv_start "$PT_NS" || rc=$?
#   [ $rc = 77 ] && pt_skip "a libvirtd already runs"; [ $rc = 0 ] || pt_fail "no libvirtd"
#   ptap_lv_define "$dom" && ptap_lv_boot "$dom" || pt_fail "no domain"
#   m=$(ptap_guest_mark); virt-driver attach ... ; ptap_guest_net_wait '\beth0\b' 30 "$m"

# Sourced once per shell (a second time would forget the running daemons).
if [ -n "${_PTAP_LV_SOURCED:-}" ]; then
    return 0
fi
_PTAP_LV_SOURCED=1
# shellcheck source=guest.sh
source "$(dirname "${BASH_SOURCE[0]}")/guest.sh"

PTAP_LV_DIR=
PTAP_LV_URI=qemu:///system
_PTAP_LV_ON_STACK=
PTAP_LV_DOMAINS=()
PTAP_LV_NETWORKS=()
PTAP_LV_RELAY_PID=
PTAP_LV_LOCK_FD=
PTAP_LV_LIBVIRTD_PID=
PTAP_LV_VIRTLOGD_PID=
PTAP_LV_QEMU_USER=libvirt-qemu
PTAP_LV_QEMU_UID=64055

_ptap_lv_err() { echo "libvirtd.sh: $*" >&2; }

_ptap_lv_driver() {
    echo "${PTAP_VIRT_DRIVER:-${PTAP_BUILD_DIR:-.}/tests/e2e/virt/virt-driver}"
}

ptap_lv_users() {
    (
        flock -w 60 9 || exit 1
        getent group kvm >/dev/null || groupadd --system kvm || exit 1
        if ! getent group libvirt-qemu >/dev/null; then
            groupadd --system --gid 64055 libvirt-qemu || exit 1
        fi
        if ! id -u libvirt-qemu >/dev/null 2>&1; then
            # (useradd warns that 64055 is above SYS_UID_MAX: Debian's own choice.)
            useradd --system --uid 64055 --gid kvm --groups libvirt-qemu \
                    --home-dir /var/lib/libvirt --no-create-home \
                    --shell /usr/sbin/nologin --comment "Libvirt Qemu" libvirt-qemu \
                    2> >(grep -v 'greater than SYS_UID_MAX' >&2) || exit 1
        fi
        id -nG libvirt-qemu | grep -qw libvirt-qemu || usermod -aG libvirt-qemu libvirt-qemu
    ) 9>/run/ptaptest-users.lock
}

ptap_lv_virsh() {
    virsh -q -c "$PTAP_LV_URI" "$@"
}

# Read a pid file written by a daemon we started; wait up to 10 s for it.
_ptap_lv_pidfile() {
    local f=$1 i pid
    for i in $(seq 100); do
        if [ -s "$f" ]; then
            # (QEMU's pid files end without a newline: read then fails.)
            read -r pid <"$f" || true
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
                echo "$pid"
                return 0
            fi
        fi
        sleep 0.1
    done
    return 1
}

_ptap_lv_write_conf() {
    local dir=$1 tun_acl=$2 hook=$3 acl
    mkdir -p "$dir/etc/qemu" || return 1
    cat >"$dir/etc/libvirtd.conf" <<EOF
# ptap test bed: private libvirtd.conf (root only, no polkit, no network)
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$dir/libvirtd.log"
EOF
    acl='"/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/ptmx", "/dev/kvm"'
    if [ "$tun_acl" = yes ]; then
        # QEMU gets a private /dev holding only these nodes: without
        # /dev/net/tun, netdev_add tap,ifname= fails inside QEMU.
        acl="$acl, \"/dev/net/tun\""
    fi
    cat >"$dir/etc/qemu.conf" <<EOF
# ptap test bed: private qemu.conf
user = "$PTAP_LV_QEMU_USER"
group = "$PTAP_LV_QEMU_USER"
cgroup_controllers = [ ]
cgroup_device_acl = [ $acl ]
# The guest image lives in a shared, world-readable cache: do not chown it.
dynamic_ownership = 0
remember_owner = 0
EOF
    # libvirt's own client config, so a virsh inside the namespace behaves.
    [ -f /etc/libvirt/libvirt.conf ] && cp /etc/libvirt/libvirt.conf "$dir/etc/"
    # libvirtd looks for hooks when it starts.
    if [ -n "$hook" ]; then
        mkdir -p "$dir/etc/hooks/qemu.d" && cp "$hook" "$dir/etc/hooks/qemu.d/" &&
            chmod 0755 "$dir/etc/hooks" "$dir/etc/hooks/qemu.d" "$dir/etc/hooks/qemu.d/${hook##*/}" ||
            return 1
    fi
    return 0
}

ptap_lv_start() {
    local ns=$1 tun_acl=yes hook= i
    shift
    while [ $# -gt 0 ]; do
        case $1 in
        --no-tun-acl) tun_acl=no ;;
        --hook) hook=$2; shift ;;
        *) _ptap_lv_err "ptap_lv_start: unknown option '$1'"; return 1 ;;
        esac
        shift
    done
    if ! command -v libvirtd >/dev/null || ! command -v virtlogd >/dev/null ||
       ! command -v virsh >/dev/null; then
        _ptap_lv_err "needs libvirt-daemon, libvirt-daemon-driver-qemu and libvirt-clients"
        return 77
    fi
    [ -z "$PTAP_LV_DIR" ] || { _ptap_lv_err "a libvirtd from this shell already runs"; return 1; }
    ip netns pids "$ns" >/dev/null 2>&1 || { _ptap_lv_err "no netns '$ns'"; return 1; }
    # One system libvirtd per machine: take the test bed's lock, then refuse
    # (never kill) if a daemon is already there.
    exec {PTAP_LV_LOCK_FD}>/run/ptaptest-libvirtd.lock
    if ! flock -w 120 "$PTAP_LV_LOCK_FD"; then
        _ptap_lv_err "another test holds /run/ptaptest-libvirtd.lock"
        exec {PTAP_LV_LOCK_FD}>&-; PTAP_LV_LOCK_FD=
        return 77
    fi
    if pgrep -x libvirtd >/dev/null || pgrep -x virtqemud >/dev/null; then
        _ptap_lv_err "a libvirtd is already running (pid $(pgrep -x libvirtd | tr '\n' ' ')): refusing to start another"
        exec {PTAP_LV_LOCK_FD}>&-; PTAP_LV_LOCK_FD=
        return 77
    fi
    if pgrep -x virtlogd >/dev/null; then
        _ptap_lv_err "a virtlogd is already running: refusing to start another"
        exec {PTAP_LV_LOCK_FD}>&-; PTAP_LV_LOCK_FD=
        return 77
    fi
    # From here on what this shell starts is stopped at exit, by PID.
    if [ -z "$_PTAP_LV_ON_STACK" ]; then
        pt_cleanup_add ptap_lv_stop
        _PTAP_LV_ON_STACK=1
    fi
    ptap_lv_users || return 1
    # QEMU (libvirt-qemu) opens /dev/net/tun itself for the monitor method
    # (TESTBED.md: the node is 0600 here, distros ship 0666).
    pt_tun_world_rw

    PTAP_LV_DIR=$(mktemp -d /tmp/ptaptest-lv.XXXXXX) || return 1
    chmod 0755 "$PTAP_LV_DIR"
    _ptap_lv_write_conf "$PTAP_LV_DIR" "$tun_acl" "$hook" || return 1
    mkdir -p /var/log/libvirt/qemu /var/lib/libvirt /var/cache/libvirt

    # The daemons must not inherit the lock: it is this shell's to release.
    virtlogd -d -p "$PTAP_LV_DIR/virtlogd.pid" {PTAP_LV_LOCK_FD}>&- || { _ptap_lv_err "virtlogd did not start"; return 1; }
    PTAP_LV_VIRTLOGD_PID=$(_ptap_lv_pidfile "$PTAP_LV_DIR/virtlogd.pid") ||
        { _ptap_lv_err "virtlogd wrote no pid file"; return 1; }

    # unshare: a mount namespace of libvirtd's own in which the private
    # directory hides /etc/libvirt (the host's copy is never touched).
    ip netns exec "$ns" unshare --mount --propagation private \
        sh -c 'mount --bind "$1" /etc/libvirt && exec libvirtd -d -f /etc/libvirt/libvirtd.conf -p "$2"' \
        sh "$PTAP_LV_DIR/etc" "$PTAP_LV_DIR/libvirtd.pid" {PTAP_LV_LOCK_FD}>&- ||
        { _ptap_lv_err "libvirtd did not start"; ptap_lv_log_tail; return 1; }
    PTAP_LV_LIBVIRTD_PID=$(_ptap_lv_pidfile "$PTAP_LV_DIR/libvirtd.pid") ||
        { _ptap_lv_err "libvirtd wrote no pid file"; ptap_lv_log_tail; return 1; }
    for i in $(seq 100); do
        if virsh -c "$PTAP_LV_URI" list >/dev/null 2>&1; then
            export PTAP_LV_DIR PTAP_LV_URI
            return 0
        fi
        sleep 0.1
    done
    _ptap_lv_err "libvirtd (pid $PTAP_LV_LIBVIRTD_PID) does not answer"
    ptap_lv_log_tail
    return 1
}

# ptap_lv_start_or_skip NS: ptap_lv_users and ptap_lv_start in NS for a
# suite: skip it (77) when another libvirtd runs, fail it when libvirtd does
# not start; LIBVIRT_DEFAULT_URI then names this libvirtd.
ptap_lv_start_or_skip() {
    local rc=0
    ptap_lv_users || pt_fail "cannot create libvirt users"
    ptap_lv_start "$1" || rc=$?
    [ "$rc" != 77 ] || pt_skip "a libvirtd already runs on this machine"
    [ "$rc" = 0 ] || pt_fail "libvirtd did not start"
    export LIBVIRT_DEFAULT_URI=$PTAP_LV_URI
}

# ptap_lv_domain_xml NAME CONSOLE [MACHINE] [DEVICES]: the busybox guest's
# domain XML (TCG, 256 MiB, its serial console on the unix socket CONSOLE,
# DEVICES added as they are), on stdout: what every libvirt suite here
# defines, system, session or migrating.
ptap_lv_domain_xml() {
    local name=$1 console=$2 machine=${3:-pc} devices=${4:-}
    cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='$machine'>hvm</type>
    <kernel>$PTAP_GUEST_KERNEL</kernel>
    <initrd>$PTAP_GUEST_INITRD</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <serial type='unix'>
      <source mode='bind' path='$console'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
    $devices
  </devices>
</domain>
EOF
}

ptap_lv_define() {
    local name=$1 dir machine=pc ports=0 controllers= i
    if [ "${2:-}" = --q35 ]; then
        machine=q35
        ports=${3:?ptap_lv_define: --q35 needs a number of root ports}
    fi
    # No USB controller on q35: libvirt would give it a root port of its own.
    [ "$machine" = q35 ] && controllers="<controller type='usb' model='none'/>"
    for ((i = 1; i <= ports; i++)); do
        controllers+="<controller type='pci' index='$i' model='pcie-root-port'/>"
    done
    case $name in ptaptest*) ;; *) _ptap_lv_err "refusing domain '$name' (not ptaptest*)"; return 1 ;; esac
    [ -n "$PTAP_LV_DIR" ] || { _ptap_lv_err "no libvirtd (ptap_lv_start)"; return 1; }
    [ -n "${PTAP_GUEST_KERNEL:-}" ] || ptap_guest_image || return 1
    dir=$PTAP_LV_DIR/$name
    mkdir -p "$dir" && chown "$PTAP_LV_QEMU_USER:" "$dir" && chmod 0755 "$dir" || return 1
    ptap_lv_domain_xml "$name" "$dir/console.sock" "$machine" "$controllers" >"$dir/domain.xml" || return 1
    ptap_lv_virsh define "$dir/domain.xml" >/dev/null || { _ptap_lv_err "cannot define '$name'"; return 1; }
    PTAP_LV_DOMAINS+=("$name")
    return 0
}

ptap_lv_net() {
    local name=$1 br=$2 addr=$3 start=yes f
    [ "${4:-}" = --no-start ] && start=no
    [ -n "$PTAP_LV_DIR" ] || { _ptap_lv_err "no libvirtd (ptap_lv_start)"; return 1; }
    f=$PTAP_LV_DIR/net-$name.xml
    cat >"$f" <<EOF
<network>
  <name>$name</name>
  <forward mode='nat'/>
  <bridge name='$br'/>
  <ip address='$addr' netmask='255.255.255.0'>
    <dhcp><range start='${addr%.*}.2' end='${addr%.*}.254'/></dhcp>
  </ip>
</network>
EOF
    ptap_lv_virsh net-define "$f" >/dev/null || { _ptap_lv_err "cannot define network '$name'"; return 1; }
    PTAP_LV_NETWORKS+=("$name")
    if [ "$start" = yes ]; then
        ptap_lv_virsh net-start "$name" >/dev/null ||
            { _ptap_lv_err "cannot start network '$name'"; ptap_lv_log_tail; return 1; }
    fi
    return 0
}

ptap_lv_boot() {
    local name=$1 dir driver i
    dir=$PTAP_LV_DIR/$name
    driver=$(_ptap_lv_driver)
    [ -x "$driver" ] || { _ptap_lv_err "no driver '$driver' (build tests first)"; return 1; }
    [ -z "$PTAP_LV_RELAY_PID" ] || { _ptap_lv_err "a domain console is already relayed"; return 1; }
    rm -f "$dir/console.sock"
    ptap_lv_virsh start "$name" >/dev/null || { _ptap_lv_err "cannot start '$name'"; ptap_lv_log_tail; return 1; }
    PTAP_GUEST_PID=
    for i in $(seq 50); do
        if [ -s "/run/libvirt/qemu/$name.pid" ]; then
            read -r PTAP_GUEST_PID <"/run/libvirt/qemu/$name.pid" || true
        fi
        [ -n "$PTAP_GUEST_PID" ] && [ -S "$dir/console.sock" ] && break
        sleep 0.1
    done
    [ -n "$PTAP_GUEST_PID" ] || { _ptap_lv_err "no QEMU pid for '$name'"; return 1; }
    PTAP_GUEST_LOG=$dir/console.log
    : >"$PTAP_GUEST_LOG"
    mkfifo -m 0600 "$dir/console.in" 2>/dev/null || [ -p "$dir/console.in" ] || return 1
    # Read-write, so the relay never sees EOF on its input.
    exec {PTAP_GUEST_CONSOLE_FD}<>"$dir/console.in"
    "$driver" console "$dir/console.sock" <"$dir/console.in" >>"$PTAP_GUEST_LOG" 2>"$dir/relay.err" \
        {PTAP_LV_LOCK_FD}>&- &
    PTAP_LV_RELAY_PID=$!
    export PTAP_GUEST_PID PTAP_GUEST_LOG
    if ! ptap_guest_wait '^PTAP-READY$' 60 >/dev/null; then
        _ptap_lv_err "domain '$name' did not boot"
        cat "$dir/relay.err" >&2
        ptap_lv_log_tail
        return 1
    fi
    return 0
}

_ptap_lv_relay_stop() {
    pt_kill "$PTAP_LV_RELAY_PID" 5
    PTAP_LV_RELAY_PID=
    if [ -n "$PTAP_GUEST_CONSOLE_FD" ]; then
        exec {PTAP_GUEST_CONSOLE_FD}>&-
        PTAP_GUEST_CONSOLE_FD=
    fi
    PTAP_GUEST_PID=
}

ptap_lv_halt() {
    ptap_lv_virsh destroy "$1" >/dev/null 2>&1 || true
    _ptap_lv_relay_stop
    return 0
}

ptap_lv_stop() {
    local d
    if [ -n "$PTAP_LV_LIBVIRTD_PID" ] && kill -0 "$PTAP_LV_LIBVIRTD_PID" 2>/dev/null; then
        for d in "${PTAP_LV_DOMAINS[@]}"; do
            ptap_lv_virsh destroy "$d" >/dev/null 2>&1 || true
            ptap_lv_virsh undefine "$d" >/dev/null 2>&1 || true
        done
        # (libvirt stops the network's dnsmasq and removes its rules.)
        for d in "${PTAP_LV_NETWORKS[@]}"; do
            ptap_lv_virsh net-destroy "$d" >/dev/null 2>&1 || true
            ptap_lv_virsh net-undefine "$d" >/dev/null 2>&1 || true
        done
    fi
    PTAP_LV_NETWORKS=()
    _ptap_lv_relay_stop
    # Daemons we started, by the PIDs they wrote; SIGKILL after 10 s.
    pt_kill "$PTAP_LV_LIBVIRTD_PID" 10
    pt_kill "$PTAP_LV_VIRTLOGD_PID" 10
    PTAP_LV_LIBVIRTD_PID=
    PTAP_LV_VIRTLOGD_PID=
    for d in "${PTAP_LV_DOMAINS[@]}"; do
        # Only what carries our own domains' names.
        rm -rf "/run/libvirt/qemu/$d.pid" "/run/libvirt/qemu/$d.xml" \
               "/var/log/libvirt/qemu/$d.log"* "/var/lib/libvirt/qemu/domain-"*"-$d"
    done
    PTAP_LV_DOMAINS=()
    if [ -n "$PTAP_LV_DIR" ] && [ -d "$PTAP_LV_DIR" ]; then
        if [ -n "${PTAP_KEEP_LIBVIRTD_LOG:-}" ]; then
            cp "$PTAP_LV_DIR/libvirtd.log" "$PTAP_KEEP_LIBVIRTD_LOG" 2>/dev/null || true
        fi
        rm -rf "$PTAP_LV_DIR"
    fi
    PTAP_LV_DIR=
    if [ -n "$PTAP_LV_LOCK_FD" ]; then
        exec {PTAP_LV_LOCK_FD}>&-
        PTAP_LV_LOCK_FD=
    fi
    return 0
}

ptap_lv_log_tail() {
    local n=${1:-30} d
    if [ -n "$PTAP_LV_DIR" ] && [ -f "$PTAP_LV_DIR/libvirtd.log" ]; then
        echo "---- libvirtd log (last $n lines) ----" >&2
        tail -n "$n" "$PTAP_LV_DIR/libvirtd.log" >&2
    fi
    for d in "${PTAP_LV_DOMAINS[@]}"; do
        if [ -f "/var/log/libvirt/qemu/$d.log" ]; then
            echo "---- QEMU log of $d (last $n lines) ----" >&2
            tail -n "$n" "/var/log/libvirt/qemu/$d.log" >&2
        fi
    done
    return 0
}
