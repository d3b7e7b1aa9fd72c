# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# guest.sh: a real, tiny QEMU guest for ptap's end-to-end tests.
# Source it from a bash test (run as root):   . "$PTAP_SOURCE_DIR/tests/e2e/lib/guest.sh"
# It sources tests/lib/common.sh (assertions, the clean-up stack, users,
# namespaces) and then turns pipefail off: its console helpers, and the tests
# that read the console, end pipelines early (grep -m 1, grep -q, sed q).
#
# The guest is a Debian 12 cloud kernel (downloaded with apt-get download, never
# installed on the host) and a busybox-static initramfs. Its init:
#   - loads the virtio modules (order from ../shared/TESTBED.md);
#   - prints "PTAP-NET: eth0 lo" (the sorted `ls /sys/class/net`, space separated)
#     on the serial console at boot and whenever that list changes;
#   - prints "PTAP-READY" once, then reads commands from the serial console, one per
#     line, as "PTAPCMD <n> <shell command>", runs each with `sh -c`, and answers
#     with the command's output followed by "PTAP-DONE <n> rc=<exit status>".
# QEMU runs as an unprivileged user inside a network namespace, with the serial
# console on a FIFO (host → guest) and a log file (guest → host), a QMP socket and
# a human monitor socket.
#
# Functions (all return non-zero on failure and say why on stderr):
#   ptap_guest_image [CACHE_DIR]
#       Build once (cached, re-used; safe when several tests race: flock) the guest
#       kernel + initramfs. Default cache: ${PTAP_CACHE:-/var/cache/ptap-test}.
#       Sets PTAP_GUEST_KERNEL and PTAP_GUEST_INITRD. Exit 77 semantics are left to
#       the caller (returns 2 when QEMU or busybox-static is missing).
#   ptap_guest_start NS USER [EXTRA QEMU ARGS...]
#       Start QEMU (-machine pc -accel tcg -m 256 -nographic -nic none) as USER
#       inside netns NS, wait until the guest prints PTAP-READY (60 s).
#       Sets: PTAP_GUEST_PID (QEMU's pid), PTAP_GUEST_DIR (private work dir, owned
#       by USER), PTAP_GUEST_QMP (QMP socket path), PTAP_GUEST_HMP (human monitor
#       socket path), PTAP_GUEST_LOG (serial console log), PTAP_GUEST_CONSOLE_FD
#       (fd writing to the guest console). One guest per shell at a time.
#       Registers ptap_guest_stop on the clean-up stack (QEMU killed by its PID
#       at exit, even when the test fails).
#   ptap_guest_mark
#       Print the current line count of the console log; pass it to
#       ptap_guest_wait to only look at lines printed afterwards.
#   ptap_guest_wait ERE [TIMEOUT_S=30] [SINCE_LINE=0]
#       Wait until a console line after SINCE_LINE matches the extended regex ERE;
#       print that (first) line. Returns 1 on timeout (and dumps the log tail).
#   ptap_guest_net_wait ERE [TIMEOUT_S=30] [SINCE_LINE=0]
#       Wait for a "PTAP-NET: ..." line whose interface list matches ERE,
#       e.g. ptap_guest_net_wait '\beth0\b' or ptap_guest_net_wait '^lo$'.
#   ptap_guest_cmd [-t TIMEOUT_S=30] COMMAND...
#       Run a shell command in the guest, print its output, return its exit status
#       (or 124 on timeout). E.g. ptap_guest_cmd "ip addr add 10.9.0.2/24 dev eth0".
#   ptap_guest_stop
#       Stop QEMU (quit over QMP-less SIGTERM, then SIGKILL after 5 s) by its PID,
#       close the console fd, remove the work dir. Idempotent (the clean-up
#       stack calls it again at exit).
#   ptap_guest_log_tail [N=40]
#       Print the last N console lines to stderr (for failure reports).
#   ptap_guest_link_check NS IF GUEST_IP HOST_IP
#       Give the guest's interface IF the address GUEST_IP/24, bring it up, and
#       ping both ways: guest -> HOST_IP (one retry, for ARP and the bridge's
#       learning) and host (in NS) -> GUEST_IP. Says which direction failed.
#   ptap_host_ping NS ADDR [COUNT=1]
#       Ping ADDR from inside netns NS (host side of the bridge); uses ping(8) or,
#       when the host has none, busybox's. Returns ping's status.
#
# Typical test:
#   . "$PTAP_SOURCE_DIR/tests/e2e/lib/guest.sh"
#   pt_require_root
#   ptap_guest_image || pt_skip "no guest image"
#   pt_user_ensure ptaptest-q >/dev/null
#   pt_netns_new mytest        # ptaptest-mytest-PID, deleted at exit
#   ...bridge, tap (ip -n "$PT_NS" tuntap add ... user ptaptest-q)...
#   pt_diag_add ptap_guest_log_tail 30
#   ptap_guest_start "$PT_NS" ptaptest-q || pt_fail "guest did not boot"
#   m=$(ptap_guest_mark); <hot-add NIC over "$PTAP_GUEST_QMP">
#   ptap_guest_net_wait '\beth0\b' 30 "$m" || pt_fail "no eth0 in the guest"
#   ptap_guest_link_check "$PT_NS" eth0 10.9.0.2 10.9.0.1 || pt_fail "no traffic"
#
# Known limits: the cloud kernel has no e1000/rtl8139 drivers, so only virtio NICs
# appear inside the guest (QEMU still accepts the other models).

# Sourced once per shell (a second time would forget the running guest).
if [ -n "${_PTAP_GUEST_SOURCED:-}" ]; then
    return 0
fi
_PTAP_GUEST_SOURCED=1
# shellcheck source=../../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../lib/common.sh"
set +o pipefail

PTAP_GUEST_IMAGE_VERSION=1
PTAP_GUEST_PID=
PTAP_GUEST_DIR=
PTAP_GUEST_CONSOLE_FD=
PTAP_GUEST_LOG=
PTAP_GUEST_QMP=
PTAP_GUEST_HMP=
PTAP_GUEST_KERNEL=${PTAP_GUEST_KERNEL:-}
PTAP_GUEST_INITRD=${PTAP_GUEST_INITRD:-}
PTAP_KEEP_GUEST_LOG=${PTAP_KEEP_GUEST_LOG:-}

_ptap_guest_err() { echo "guest.sh: $*" >&2; }

# Console text without carriage returns and terminal escapes (SeaBIOS clears
# the screen).
_ptap_guest_clean() { sed -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[A-Za-z]//g'; }

# The guest's /init. Kept here so the image is rebuilt when it changes (the
# initrd file name carries a hash of this text).
_ptap_guest_init_script() {
    cat <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
         failover net_failover virtio_net; do
    [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko
done
ip link set lo up
exec </dev/ttyS0 >/dev/ttyS0 2>&1
stty -echo 2>/dev/null
# Watcher: report the interface list whenever it changes.
(
    last=
    while :; do
        cur=$(ls /sys/class/net | sort | tr '\n' ' ')
        cur=${cur% }
        if [ "$cur" != "$last" ]; then
            echo "PTAP-NET: $cur"
            last=$cur
        fi
        sleep 0.2
    done
) &
# A fresh line: the firmware's last message has no newline.
echo
echo PTAP-READY
while :; do
    if ! read -r tag n cmd; then
        sleep 1
        continue
    fi
    [ "$tag" = PTAPCMD ] || continue
    sh -c "$cmd" </dev/null 2>&1
    echo "PTAP-DONE $n rc=$?"
done
EOF
}

ptap_guest_image() {
    local cache=${1:-${PTAP_CACHE:-/var/cache/ptap-test}}
    local bb pkg ver hash kdir initrd
    bb=/bin/busybox
    if ! command -v qemu-system-x86_64 >/dev/null || [ ! -x "$bb" ] ||
       ! { ldd "$bb" 2>&1 || true; } | grep -q 'not a dynamic'; then
        _ptap_guest_err "needs qemu-system-x86 and busybox-static"
        return 2
    fi
    mkdir -p "$cache" || return 1
    hash=$({ echo "$PTAP_GUEST_IMAGE_VERSION"; _ptap_guest_init_script; } | sha256sum | cut -c1-12)
    (
        flock -w 600 9 || { _ptap_guest_err "cannot lock $cache/.lock"; exit 1; }
        # The kernel: the version linux-image-cloud-amd64 points at, unpacked once.
        kdir=$(ls -d "$cache"/kernel-*/ 2>/dev/null | sort -V | tail -n 1)
        kdir=${kdir%/}
        if [ -z "$kdir" ] || ! ls "$kdir"/boot/vmlinuz-* >/dev/null 2>&1; then
            pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
                  awk '/Depends: linux-image-6\.1\.0-.*-cloud-amd64$/ {print $2; exit}')
            if [ -z "$pkg" ]; then
                apt-get update -qq >/dev/null 2>&1
                pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
                      awk '/Depends: linux-image-6\.1\.0-.*-cloud-amd64$/ {print $2; exit}')
            fi
            [ -n "$pkg" ] || pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' |
                                   awk '{print $1}' | sort -V | tail -n 1)
            [ -n "$pkg" ] || { _ptap_guest_err "no linux-image-6.1.0-*-cloud-amd64 package"; exit 1; }
            ver=${pkg#linux-image-}
            kdir=$cache/kernel-$ver
            local dl
            dl=$(mktemp -d "$cache/dl.XXXXXX") || exit 1
            chmod 0755 "$dl"
            if ! (cd "$dl" && apt-get download -q "$pkg" >/dev/null 2>&1); then
                rm -rf "$dl"; _ptap_guest_err "apt-get download $pkg failed"; exit 1
            fi
            rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp" &&
                dpkg-deb -x "$dl"/"$pkg"_*.deb "$kdir.tmp" || { rm -rf "$dl" "$kdir.tmp"; exit 1; }
            rm -rf "$dl" "$kdir" && mv "$kdir.tmp" "$kdir" || exit 1
        fi
        ver=${kdir##*/kernel-}
        initrd=$cache/initrd-$ver-$hash.img
        if [ ! -s "$initrd" ]; then
            local root m f
            root=$(mktemp -d "$cache/root.XXXXXX") || exit 1
            mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,lib/modules}
            cp "$bb" "$root/bin/busybox"
            for a in $("$bb" --list); do
                [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
            done
            for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
                     failover net_failover virtio_net; do
                f=$(find "$kdir/lib/modules" -name "$m.ko" | head -n 1)
                [ -n "$f" ] || { rm -rf "$root"; _ptap_guest_err "module $m not in $kdir"; exit 1; }
                cp "$f" "$root/lib/modules/"
            done
            _ptap_guest_init_script >"$root/init"
            chmod 0755 "$root/init"
            # The host may lack cpio(1): busybox's own makes newc archives.
            (set -o pipefail; cd "$root" && find . | "$bb" cpio -o -H newc 2>/dev/null | gzip -1) >"$initrd.tmp" &&
                mv "$initrd.tmp" "$initrd" || { rm -rf "$root" "$initrd.tmp"; exit 1; }
            rm -rf "$root"
            # Images built from an older init are of no further use.
            for f in "$cache"/initrd-*.img; do
                [ "$f" = "$initrd" ] || rm -f "$f"
            done
        fi
        echo "$(ls "$kdir"/boot/vmlinuz-* | head -n 1) $initrd" >"$cache/.current"
    ) 9>"$cache/.lock" || return 1
    read -r PTAP_GUEST_KERNEL PTAP_GUEST_INITRD <"$cache/.current" || return 1
    export PTAP_GUEST_KERNEL PTAP_GUEST_INITRD
    # QEMU runs unprivileged: the image must be readable by anyone.
    chmod a+rX "$cache" "$(dirname "$PTAP_GUEST_KERNEL")" 2>/dev/null
    chmod a+r "$PTAP_GUEST_KERNEL" "$PTAP_GUEST_INITRD"
    return 0
}

ptap_guest_log_tail() {
    [ -n "$PTAP_GUEST_LOG" ] && [ -f "$PTAP_GUEST_LOG" ] || return 0
    echo "---- guest console (last ${1:-40} lines) ----" >&2
    tail -n "${1:-40}" "$PTAP_GUEST_LOG" | _ptap_guest_clean >&2
    echo "---- end of guest console ----" >&2
}

ptap_host_ping() {
    local ns=$1 addr=$2 count=${3:-1}
    if command -v ping >/dev/null; then
        ip netns exec "$ns" ping -c "$count" -W 3 "$addr"
    else
        ip netns exec "$ns" /bin/busybox ping -c "$count" -W 3 "$addr"
    fi
}

ptap_guest_link_check() {
    local ns=$1 ifname=$2 gip=$3 hip=$4
    ptap_guest_cmd "ip addr add $gip/24 dev $ifname && ip link set $ifname up" >/dev/null ||
        { _ptap_guest_err "cannot configure $ifname in the guest"; return 1; }
    ptap_guest_cmd -t 40 "ping -c 1 -W 5 $hip || ping -c 2 -W 5 $hip" >/dev/null ||
        { _ptap_guest_err "guest cannot ping $hip"; return 1; }
    ptap_host_ping "$ns" "$gip" 2 >/dev/null ||
        { _ptap_guest_err "host cannot ping $gip"; return 1; }
}

ptap_guest_start() {
    local ns=${1:-} user=${2:-}
    shift 2 || { _ptap_guest_err "usage: ptap_guest_start NS USER [QEMU ARGS]"; return 1; }
    [ -n "$PTAP_GUEST_KERNEL" ] || ptap_guest_image || return 1
    [ -z "$PTAP_GUEST_PID" ] || { _ptap_guest_err "a guest is already running"; return 1; }
    ip netns pids "$ns" >/dev/null 2>&1 || { _ptap_guest_err "no netns '$ns'"; return 1; }
    id -u "$user" >/dev/null 2>&1 || { _ptap_guest_err "no user '$user'"; return 1; }
    # Unprivileged QEMU opens /dev/net/tun itself (TESTBED.md: 0600 here).
    pt_tun_world_rw
    PTAP_GUEST_DIR=$(mktemp -d /tmp/ptap-guest.XXXXXX) || return 1
    chmod 0711 "$PTAP_GUEST_DIR"
    mkdir "$PTAP_GUEST_DIR/run" && chown "$user:" "$PTAP_GUEST_DIR/run" && chmod 0755 "$PTAP_GUEST_DIR/run"
    PTAP_GUEST_QMP=$PTAP_GUEST_DIR/run/qmp.sock
    PTAP_GUEST_HMP=$PTAP_GUEST_DIR/run/hmp.sock
    PTAP_GUEST_LOG=$PTAP_GUEST_DIR/console.log
    mkfifo -m 0600 "$PTAP_GUEST_DIR/console.in" || return 1
    : >"$PTAP_GUEST_LOG"
    # Open read-write so neither side blocks and QEMU never sees EOF.
    exec {PTAP_GUEST_CONSOLE_FD}<>"$PTAP_GUEST_DIR/console.in"
    ip netns exec "$ns" setpriv --reuid "$user" --regid "$user" --init-groups --inh-caps=-all -- \
        qemu-system-x86_64 -machine pc -accel tcg -m 256 -nographic -nic none \
        -kernel "$PTAP_GUEST_KERNEL" -initrd "$PTAP_GUEST_INITRD" \
        -append "console=ttyS0 quiet panic=-1" -no-reboot \
        -serial stdio \
        -qmp "unix:$PTAP_GUEST_QMP,server=on,wait=off" \
        -monitor "unix:$PTAP_GUEST_HMP,server=on,wait=off" \
        "$@" <"$PTAP_GUEST_DIR/console.in" >"$PTAP_GUEST_LOG" 2>&1 &
    # ip netns exec and setpriv both exec: $! is QEMU itself.
    PTAP_GUEST_PID=$!
    pt_cleanup_add ptap_guest_stop
    export PTAP_GUEST_PID PTAP_GUEST_DIR PTAP_GUEST_QMP PTAP_GUEST_HMP PTAP_GUEST_LOG
    if ! ptap_guest_wait '^PTAP-READY$' 60 >/dev/null; then
        _ptap_guest_err "guest did not boot"
        return 1
    fi
    local i
    for i in $(seq 50); do
        [ -S "$PTAP_GUEST_QMP" ] && [ -S "$PTAP_GUEST_HMP" ] && return 0
        sleep 0.1
    done
    _ptap_guest_err "QEMU monitor sockets missing"
    return 1
}

ptap_guest_mark() {
    if [ -f "$PTAP_GUEST_LOG" ]; then wc -l <"$PTAP_GUEST_LOG"; else echo 0; fi
}

ptap_guest_wait() {
    local ere=$1 timeout=${2:-30} since=${3:-0} deadline line
    deadline=$((SECONDS + timeout))
    while :; do
        line=$(tail -n +"$((since + 1))" "$PTAP_GUEST_LOG" 2>/dev/null | _ptap_guest_clean |
               grep -E -m 1 -- "$ere") || true
        if [ -n "$line" ]; then
            printf '%s\n' "$line"
            return 0
        fi
        if [ -n "$PTAP_GUEST_PID" ] && ! kill -0 "$PTAP_GUEST_PID" 2>/dev/null; then
            _ptap_guest_err "QEMU (pid $PTAP_GUEST_PID) exited while waiting for /$ere/"
            ptap_guest_log_tail
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            _ptap_guest_err "timeout (${timeout}s) waiting for /$ere/ on the guest console"
            ptap_guest_log_tail
            return 1
        fi
        sleep 0.1
    done
}

ptap_guest_net_wait() {
    local ere=$1 timeout=${2:-30} since=${3:-0} deadline line
    deadline=$((SECONDS + timeout))
    while :; do
        # Only the latest list counts: a NIC that came and went must not match.
        line=$(tail -n +"$((since + 1))" "$PTAP_GUEST_LOG" 2>/dev/null | _ptap_guest_clean |
               grep -E '^PTAP-NET: ' | tail -n 1)
        line=${line#PTAP-NET: }
        if [ -n "$line" ] && printf '%s\n' "$line" | grep -Eq -- "$ere"; then
            printf '%s\n' "$line"
            return 0
        fi
        if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$PTAP_GUEST_PID" 2>/dev/null; then
            _ptap_guest_err "guest interface list never matched /$ere/ (last: '$line')"
            ptap_guest_log_tail
            return 1
        fi
        sleep 0.1
    done
}

ptap_guest_cmd() {
    local timeout=30
    if [ "${1:-}" = -t ]; then timeout=$2; shift 2; fi
    local cmd="$*" n since line rc
    case $cmd in *$'\n'*) _ptap_guest_err "one-line commands only"; return 1 ;; esac
    [ -n "$PTAP_GUEST_CONSOLE_FD" ] || { _ptap_guest_err "no guest"; return 1; }
    # Callers often run this in $(...): a counter would not survive the
    # subshell, so tag each command with the subshell's pid and a random number.
    n=$BASHPID-$RANDOM$RANDOM
    since=$(ptap_guest_mark)
    printf 'PTAPCMD %s %s\n' "$n" "$cmd" >&"$PTAP_GUEST_CONSOLE_FD"
    if ! line=$(ptap_guest_wait "^PTAP-DONE $n rc=[0-9]+\$" "$timeout" "$since"); then
        return 124
    fi
    # Output: lines after the command was sent, up to its DONE line, minus the
    # watcher's own lines.
    tail -n +"$((since + 1))" "$PTAP_GUEST_LOG" | _ptap_guest_clean |
        sed -n "/^PTAP-DONE $n rc=/q;p" | { grep -v '^PTAP-NET: ' || true; }
    rc=${line##*rc=}
    return "$rc"
}

ptap_guest_stop() {
    # By its PID, and only while that PID is still a QEMU: a test may have
    # killed the guest itself long before.
    case $(cat "/proc/$PTAP_GUEST_PID/comm" 2>/dev/null) in
    qemu-system-*) pt_kill "$PTAP_GUEST_PID" 5 ;;
    esac
    PTAP_GUEST_PID=
    if [ -n "$PTAP_GUEST_CONSOLE_FD" ]; then
        exec {PTAP_GUEST_CONSOLE_FD}>&-
        PTAP_GUEST_CONSOLE_FD=
    fi
    if [ -n "$PTAP_GUEST_DIR" ] && [ -d "$PTAP_GUEST_DIR" ]; then
        if [ -n "$PTAP_KEEP_GUEST_LOG" ] && [ -f "$PTAP_GUEST_LOG" ]; then
            cp "$PTAP_GUEST_LOG" "$PTAP_KEEP_GUEST_LOG" 2>/dev/null || true
        fi
        rm -rf "$PTAP_GUEST_DIR"
    fi
    PTAP_GUEST_DIR=
    return 0
}
