# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# tests/lib/common.sh: shared shell for integration tests that run real
# taps. Source it (bash, set -euo pipefail is turned on), then:
#
#   pt_require_root              exit 77 (ctest SKIP) unless root
#   pt_cleanup_add CMD...        run CMD at exit (LIFO), even on failure
#   pt_netns_new TAG             make netns ptaptest-TAG-$$, deleted at exit;
#                                sets PT_NS
#   pt_ns CMD...                 run CMD as root in $PT_NS
#   pt_user_ensure NAME          create user NAME (ptaptest* only) with its
#                                own group, idempotent, parallel-safe; prints uid
#   pt_group_ensure NAME [USER...]  create group NAME (ptaptest*), add USERs
#   pt_tmpdir                    a fresh world-traversable temp dir, removed at
#                                exit; sets PT_TMP (once) and prints it
#   pt_helper_install MODE       copy the built helper into a temp dir,
#                                MODE=setuid (root:root 4755) or cap
#                                (0755 + cap_net_admin+ep); prints its path
#   pt_tun_world_rw              chmod 0666 /dev/net/tun (what distros ship;
#                                needed by the cap_net_admin mode and QEMU)
#   pt_policy_dir TEXT           a root-owned 0755 dir with helper.conf (0644)
#                                holding TEXT; prints the dir
#   pt_helper AS POLICYDIR HELPER ARGS...
#                                run HELPER as AS (root or a user name) in
#                                $PT_NS, in a private mount namespace where
#                                POLICYDIR is bind-mounted on /etc/ptap (the
#                                host's /etc/ptap is never written)
#   pt_as USER CMD...            run CMD as USER (setpriv, its groups) in $PT_NS
#   pt_tun_open USER NAME [QUEUES] [FLAGS] [HOLD]
#                                as USER in $PT_NS, attach QUEUES (1) queues
#                                to tap NAME (FLAGS: 0x100 multi-queue, 0x4000
#                                vnet_hdr); HOLD seconds holding them open
#   pt_links                     `ip -d link show` of $PT_NS, timers removed
#                                (for before/after comparisons)
#   pt_fail MSG / pt_ok MSG / pt_log MSG
#   pt_assert_eq WHAT EXPECTED ACTUAL
#   pt_assert_match WHAT REGEX ACTUAL
#   pt_assert_rc WHAT RC CMD...  run CMD, require exit code RC; its stdout is
#                                in PT_OUT, stderr in PT_ERR
#   pt_assert_unchanged WHAT BEFORE   $(pt_links) must still equal BEFORE

set -euo pipefail

PT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PT_SOURCE_DIR=${PTAP_SOURCE_DIR:-$(cd "$PT_LIB_DIR/../.." && pwd)}
PT_HELPER_BIN=${PTAP_HELPER_BIN:-${PTAP_BUILD_DIR:-$PT_SOURCE_DIR/build}/helper/ptap-helper}
PT_PYTHON=/usr/bin/python3 # not a pyenv shim: users other than root run it
PT_CLEANUP=()
PT_OUT=
PT_ERR=

pt_log() { printf '# %s\n' "$*" >&2; }
pt_ok() { printf 'ok - %s\n' "$*"; }
pt_fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

pt_require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: needs root (network namespaces, users, setuid)" >&2
        exit 77
    fi
}

pt_cleanup_add() {
    local q
    q=$(printf '%q ' "$@")
    PT_CLEANUP+=("$q")
}

_pt_cleanup_run() {
    local rc=$? i
    set +e
    for ((i = ${#PT_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${PT_CLEANUP[i]}" >/dev/null 2>&1
    done
    PT_CLEANUP=()
    exit "$rc"
}
trap _pt_cleanup_run EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pt_netns_new() {
    PT_NS="ptaptest-$1-$$"
    ip netns add "$PT_NS"
    pt_cleanup_add ip netns del "$PT_NS"
    ip netns exec "$PT_NS" ip link set lo up
}

pt_ns() { ip netns exec "$PT_NS" "$@"; }

_pt_check_name() {
    case "$1" in
    ptaptest*) ;;
    *) pt_fail "refusing to create '$1': test users and groups are named ptaptest*" ;;
    esac
}

pt_user_ensure() {
    _pt_check_name "$1"
    (
        flock 9
        if ! id -u "$1" >/dev/null 2>&1; then
            useradd --no-create-home --user-group --shell /usr/sbin/nologin "$1"
        fi
    ) 9>/run/ptaptest-users.lock
    id -u "$1"
}

pt_group_ensure() {
    local g=$1 u
    shift
    _pt_check_name "$g"
    (
        flock 9
        getent group "$g" >/dev/null || groupadd "$g"
        for u in "$@"; do
            id -nG "$u" | tr ' ' '\n' | grep -qx "$g" || usermod -a -G "$g" "$u"
        done
    ) 9>/run/ptaptest-users.lock
    getent group "$g" | cut -d: -f3
}

pt_tmpdir() {
    if [ -z "${PT_TMP:-}" ]; then
        PT_TMP=$(mktemp -d /tmp/ptaptest.XXXXXX)
        chmod 0755 "$PT_TMP"
        pt_cleanup_add rm -rf "$PT_TMP"
    fi
    echo "$PT_TMP"
}
# Made now, in the sourcing shell: functions called inside $(...) run in a
# subshell, where a PT_TMP set (and a cleanup registered) would be lost.
pt_tmpdir >/dev/null

pt_helper_install() {
    local mode=$1 dir
    [ -x "$PT_HELPER_BIN" ] || pt_fail "helper not built: $PT_HELPER_BIN"
    pt_tmpdir >/dev/null
    dir=$(mktemp -d "$PT_TMP/helper-$mode.XXXXXX")
    chmod 0755 "$dir"
    # cp strips file capabilities and the setuid bit: set them after.
    cp "$PT_HELPER_BIN" "$dir/ptap-helper"
    chown root:root "$dir/ptap-helper"
    case "$mode" in
    setuid) chmod 4755 "$dir/ptap-helper" ;;
    cap)
        chmod 0755 "$dir/ptap-helper"
        setcap cap_net_admin+ep "$dir/ptap-helper"
        ;;
    *) pt_fail "pt_helper_install: unknown mode '$mode'" ;;
    esac
    echo "$dir/ptap-helper"
}

pt_tun_world_rw() {
    chmod 0666 /dev/net/tun
}

pt_policy_dir() {
    local dir
    pt_tmpdir >/dev/null
    dir=$(mktemp -d "$PT_TMP/policy.XXXXXX")
    chmod 0755 "$dir"
    printf '%s\n' "$1" >"$dir/helper.conf"
    chmod 0644 "$dir/helper.conf"
    echo "$dir"
}

# The mount point must exist; creating an empty directory is the only
# thing the tests ever do to the host's /etc/ptap.
_pt_etc_ptap() {
    [ -d /etc/ptap ] || mkdir -m 0755 -p /etc/ptap
}

pt_helper() {
    local as=$1 policy=$2
    shift 2
    _pt_etc_ptap
    if [ "$as" = root ]; then
        ip netns exec "$PT_NS" unshare -m --propagation private \
            sh -c 'mount --bind "$1" /etc/ptap && shift && exec "$@"' sh "$policy" "$@"
    else
        ip netns exec "$PT_NS" unshare -m --propagation private \
            sh -c 'mount --bind "$1" /etc/ptap && shift && exec "$@"' sh "$policy" \
            setpriv --reuid "$as" --regid "$as" --init-groups -- "$@"
    fi
}

pt_as() {
    local u=$1
    shift
    ip netns exec "$PT_NS" setpriv --reuid "$u" --regid "$u" --init-groups -- "$@"
}

pt_tun_open() {
    local u=$1 name=$2 queues=${3:-1} flags=${4:-0} hold=${5:-0}
    pt_as "$u" "$PT_PYTHON" -c '
import fcntl, os, struct, sys, time
TUNSETIFF = 0x400454ca
name, queues, flags, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0), float(sys.argv[4])
fds = []
for i in range(queues):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), 0x0002 | 0x1000 | flags))
    except OSError as e:
        print("cannot attach queue %d of %s: %s" % (i, name, os.strerror(e.errno)), file=sys.stderr)
        sys.exit(1)
    fds.append(fd)
print(len(fds), flush=True)
time.sleep(hold)
' "$name" "$queues" "$flags" "$hold"
}

pt_links() {
    # Bridge timers tick by themselves: not a change anyone made.
    ip netns exec "$PT_NS" ip -d link show | sed -E 's/ [a-z_]*timer +[0-9.]+//g'
}

pt_assert_eq() {
    [ "$2" = "$3" ] || pt_fail "$1: expected '$2', got '$3'"
}

pt_assert_match() {
    [[ "$3" =~ $2 ]] || pt_fail "$1: '$3' does not match /$2/"
}

pt_assert_rc() {
    local what=$1 want=$2 rc=0 o e
    shift 2
    o=$(mktemp)
    e=$(mktemp)
    "$@" >"$o" 2>"$e" || rc=$?
    PT_OUT=$(cat "$o")
    PT_ERR=$(cat "$e")
    rm -f "$o" "$e"
    if [ "$rc" -ne "$want" ]; then
        pt_fail "$what: exit code $rc, expected $want (stdout: '$PT_OUT' stderr: '$PT_ERR')"
    fi
}

pt_assert_unchanged() {
    local now
    now=$(pt_links)
    if [ "$now" != "$2" ]; then
        diff <(echo "$2") <(echo "$now") >&2 || true
        pt_fail "$1: the kernel's links changed"
    fi
}
