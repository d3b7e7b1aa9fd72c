# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# session.sh: a user's own libvirtd (qemu:///session) for ptap's end-to-end
# tests, run by hand as ../shared/TESTBED.md measured it: as user U inside a
# network namespace, with HOME and XDG_RUNTIME_DIR of U's own. Source it from a
# bash test run as root; it sources libvirtd.sh (and with it guest.sh and
# tests/lib/common.sh):
#   . "$PTAP_SOURCE_DIR/tests/e2e/lib/session.sh"
#
# QEMU's output goes to a file (qemu.conf stdio_handler = "file"): no virtlogd
# is started, so nothing outlives the test but what ptap_ls_stop stops by pid.
#
# Functions (all return non-zero on failure and say why on stderr):
#   ptap_ls_start NS USER
#       Start libvirtd as USER inside netns NS, on HOME=$PTAP_LS_HOME and
#       XDG_RUNTIME_DIR=$PTAP_LS_RUN (both made here, owned by USER, the latter
#       mode 0700), and wait until `virsh -c qemu:///session list` answers.
#       Takes /run/ptaptest-libvirtd.lock (as ptap_lv_start does: the system
#       tests refuse to start while any libvirtd runs). Returns 77 (skip) when
#       libvirt is not installed or the lock is held. Registers ptap_ls_stop.
#   ptap_ls_env CMD...
#       CMD as USER in NS with that HOME and XDG_RUNTIME_DIR.
#   ptap_ls_virsh ARGS...
#       virsh -q -c qemu:///session ARGS, as USER.
#   ptap_ls_define NAME / ptap_ls_boot NAME / ptap_ls_halt NAME
#       As ptap_lv_define / ptap_lv_boot / ptap_lv_halt, for the session
#       daemon: a TCG domain NAME (ptaptest*), booted with its serial console
#       relayed to guest.sh's helpers (PTAP_GUEST_PID = QEMU's pid, from
#       $PTAP_LS_RUN/libvirt/qemu/run/NAME.pid), destroyed.
#   ptap_ls_stop
#       Destroy and undefine the domains, stop the relay and libvirtd by pid,
#       remove the private files. Idempotent.

if [ -n "${_PTAP_LS_SOURCED:-}" ]; then
    return 0
fi
_PTAP_LS_SOURCED=1
# shellcheck source=libvirtd.sh
source "$(dirname "${BASH_SOURCE[0]}")/libvirtd.sh"

PTAP_LS_USER=
PTAP_LS_NS=
PTAP_LS_DIR=
PTAP_LS_HOME=
PTAP_LS_RUN=
PTAP_LS_PID=
PTAP_LS_LOCK_FD=
PTAP_LS_DOMAINS=()
_PTAP_LS_ON_STACK=

_ptap_ls_err() { echo "session.sh: $*" >&2; }

ptap_ls_env() {
    ip netns exec "$PTAP_LS_NS" setpriv --reuid "$PTAP_LS_USER" --regid "$PTAP_LS_USER" --init-groups -- \
        env HOME="$PTAP_LS_HOME" XDG_RUNTIME_DIR="$PTAP_LS_RUN" XDG_CONFIG_HOME="$PTAP_LS_HOME/.config" \
        XDG_CACHE_HOME="$PTAP_LS_HOME/.cache" XDG_DATA_HOME="$PTAP_LS_HOME/.local/share" \
        LIBVIRT_DEFAULT_URI=qemu:///session "$@"
}

ptap_ls_virsh() {
    ptap_ls_env virsh -q -c qemu:///session "$@"
}

ptap_ls_start() {
    local ns=$1 user=$2
    if ! command -v libvirtd >/dev/null || ! command -v virsh >/dev/null; then
        _ptap_ls_err "needs libvirt-daemon, libvirt-daemon-driver-qemu and libvirt-clients"
        return 77
    fi
    [ -z "$PTAP_LS_DIR" ] || { _ptap_ls_err "a session libvirtd from this shell already runs"; return 1; }
    exec {PTAP_LS_LOCK_FD}>/run/ptaptest-libvirtd.lock
    if ! flock -w 120 "$PTAP_LS_LOCK_FD"; then
        _ptap_ls_err "another test holds /run/ptaptest-libvirtd.lock"
        exec {PTAP_LS_LOCK_FD}>&-; PTAP_LS_LOCK_FD=
        return 77
    fi
    if [ -z "$_PTAP_LS_ON_STACK" ]; then
        pt_cleanup_add ptap_ls_stop
        _PTAP_LS_ON_STACK=1
    fi
    PTAP_LS_NS=$ns
    PTAP_LS_USER=$user
    pt_tun_world_rw
    # Short paths: libvirt's sockets live under XDG_RUNTIME_DIR (sun_path).
    PTAP_LS_DIR=$(mktemp -d /tmp/ptaptest-ls.XXXXXX) || return 1
    chmod 0755 "$PTAP_LS_DIR"
    PTAP_LS_HOME=$PTAP_LS_DIR/home
    PTAP_LS_RUN=$PTAP_LS_DIR/run
    mkdir -p "$PTAP_LS_HOME/.config/libvirt" "$PTAP_LS_RUN" || return 1
    chmod 0700 "$PTAP_LS_RUN"
    cat >"$PTAP_LS_HOME/.config/libvirt/qemu.conf" <<EOF
# ptap test bed: a user's session qemu.conf (no virtlogd)
stdio_handler = "file"
EOF
    cat >"$PTAP_LS_HOME/.config/libvirt/libvirtd.conf" <<EOF
log_outputs = "3:file:$PTAP_LS_DIR/libvirtd.log"
EOF
    chown -R "$user:" "$PTAP_LS_HOME" "$PTAP_LS_RUN" || return 1
    # Writable by the user, for its log.
    chown "$user:" "$PTAP_LS_DIR"
    ptap_ls_env libvirtd -d -p "$PTAP_LS_RUN/libvirtd.pid" {PTAP_LS_LOCK_FD}>&- ||
        { _ptap_ls_err "session libvirtd did not start"; return 1; }
    PTAP_LS_PID=$(_ptap_lv_pidfile "$PTAP_LS_RUN/libvirtd.pid") ||
        { _ptap_ls_err "session libvirtd wrote no pid file"; return 1; }
    for _ in $(seq 100); do
        if ptap_ls_virsh list >/dev/null 2>&1; then
            export PTAP_LS_HOME PTAP_LS_RUN
            return 0
        fi
        sleep 0.1
    done
    _ptap_ls_err "session libvirtd (pid $PTAP_LS_PID) does not answer"
    tail -n 20 "$PTAP_LS_DIR/libvirtd.log" >&2 2>/dev/null || true
    return 1
}

ptap_ls_define() {
    local name=$1 dir
    case $name in ptaptest*) ;; *) _ptap_ls_err "refusing domain '$name' (not ptaptest*)"; return 1 ;; esac
    [ -n "$PTAP_LS_DIR" ] || { _ptap_ls_err "no session libvirtd (ptap_ls_start)"; return 1; }
    [ -n "${PTAP_GUEST_KERNEL:-}" ] || ptap_guest_image || return 1
    dir=$PTAP_LS_DIR/$name
    mkdir -p "$dir" && chown "$PTAP_LS_USER:" "$dir" || return 1
    ptap_lv_domain_xml "$name" "$dir/console.sock" >"$dir/domain.xml" || return 1
    ptap_ls_virsh define "$dir/domain.xml" >/dev/null || { _ptap_ls_err "cannot define '$name'"; return 1; }
    PTAP_LS_DOMAINS+=("$name")
}

ptap_ls_boot() {
    local name=$1 dir driver pidfile
    dir=$PTAP_LS_DIR/$name
    driver=$(_ptap_lv_driver)
    [ -x "$driver" ] || { _ptap_ls_err "no driver '$driver' (build tests first)"; return 1; }
    [ -z "$PTAP_LV_RELAY_PID" ] || { _ptap_ls_err "a domain console is already relayed"; return 1; }
    rm -f "$dir/console.sock"
    ptap_ls_virsh start "$name" >/dev/null || { _ptap_ls_err "cannot start '$name'"; return 1; }
    pidfile=$PTAP_LS_RUN/libvirt/qemu/run/$name.pid
    PTAP_GUEST_PID=
    for _ in $(seq 50); do
        if [ -s "$pidfile" ]; then
            read -r PTAP_GUEST_PID <"$pidfile" || true
        fi
        [ -n "$PTAP_GUEST_PID" ] && [ -S "$dir/console.sock" ] && break
        sleep 0.1
    done
    [ -n "$PTAP_GUEST_PID" ] || { _ptap_ls_err "no QEMU pid for '$name' in $pidfile"; return 1; }
    PTAP_GUEST_LOG=$dir/console.log
    : >"$PTAP_GUEST_LOG"
    mkfifo -m 0600 "$dir/console.in" 2>/dev/null || [ -p "$dir/console.in" ] || return 1
    exec {PTAP_GUEST_CONSOLE_FD}<>"$dir/console.in"
    # (The relay variables are libvirtd.sh's: one relayed console per shell.)
    "$driver" console "$dir/console.sock" <"$dir/console.in" >>"$PTAP_GUEST_LOG" 2>"$dir/relay.err" \
        {PTAP_LS_LOCK_FD}>&- &
    PTAP_LV_RELAY_PID=$!
    export PTAP_GUEST_PID PTAP_GUEST_LOG
    if ! ptap_guest_wait '^PTAP-READY$' 60 >/dev/null; then
        _ptap_ls_err "domain '$name' did not boot"
        cat "$dir/relay.err" >&2
        return 1
    fi
}

ptap_ls_halt() {
    ptap_ls_virsh destroy "$1" >/dev/null 2>&1 || true
    _ptap_lv_relay_stop
    return 0
}

ptap_ls_stop() {
    local d
    if [ -n "$PTAP_LS_PID" ] && kill -0 "$PTAP_LS_PID" 2>/dev/null; then
        for d in "${PTAP_LS_DOMAINS[@]}"; do
            ptap_ls_virsh destroy "$d" >/dev/null 2>&1 || true
            ptap_ls_virsh undefine "$d" >/dev/null 2>&1 || true
        done
    fi
    _ptap_lv_relay_stop
    pt_kill "$PTAP_LS_PID" 10
    PTAP_LS_PID=
    PTAP_LS_DOMAINS=()
    if [ -n "$PTAP_LS_DIR" ] && [ -d "$PTAP_LS_DIR" ]; then
        rm -rf "$PTAP_LS_DIR"
    fi
    PTAP_LS_DIR=
    if [ -n "$PTAP_LS_LOCK_FD" ]; then
        exec {PTAP_LS_LOCK_FD}>&-
        PTAP_LS_LOCK_FD=
    fi
    return 0
}
