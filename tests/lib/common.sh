# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# tests/lib/common.sh: the one shell base of every test suite (integration,
# e2e, bench, demo): assertions, the clean-up stack, namespaces, users, the
# helper. Source it (bash; set -euo pipefail is turned on; sourcing it twice
# is harmless), then:
#
# Assertions and reports (the only ones: every library uses these):
#   pt_log MSG / pt_ok MSG       "# MSG" on stderr / "ok - MSG" on stdout
#   pt_fail MSG                  "FAIL: MSG" on stderr, exit 1
#   pt_skip MSG                  "SKIP: MSG" on stderr, exit 77 (ctest SKIP)
#   pt_require_root              pt_skip unless root
#   pt_assert_eq WHAT EXPECTED ACTUAL
#   pt_assert_match WHAT REGEX ACTUAL
#   pt_assert_rc WHAT RC CMD...  run CMD, require exit code RC; its stdout is
#                                in PT_OUT, stderr in PT_ERR
#   pt_assert_json WHAT JSON EXPR [JQ-ARGS...]
#                                `jq -e EXPR` must hold on JSON (which must
#                                parse); JQ-ARGS such as --arg n "$name"
#   pt_assert_unchanged WHAT BEFORE [CMD...]
#                                CMD's output (default: pt_links) must still
#                                equal BEFORE; the difference is shown
#   pt_check WHAT CMD...         a check that does not stop the test: "ok -
#                                WHAT" or "not ok - WHAT"; any "not ok" fails
#                                the test at pt_checks_done or at exit
#   pt_checks_done               fail if a pt_check failed, else say so
#   pt_jq JSON FILTER [JQ-ARGS...]
#                                `jq -r FILTER` of JSON, failing (status 1) on
#                                empty or invalid JSON and on a null result
#                                (a missing key is an error, not "null")
#
# Clean-up, failure reports, processes:
#   pt_cleanup_add CMD...        run CMD at exit (LIFO), even on failure; CMD
#                                is kept as its words (never re-parsed), output
#                                discarded. Call it in the test's own shell,
#                                not in $(...) (a subshell's additions are lost)
#   pt_diag_add CMD...           on a failing exit (not 0, not 77), run CMD
#                                (output to stderr) before the clean-up: logs
#                                worth reading (a guest console, libvirtd's)
#   pt_kill PID [TIMEOUT_S=5]    SIGTERM, then SIGKILL after TIMEOUT_S, one
#                                process we started, by PID; reaped if ours
#
# Test bed:
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
#   pt_marked_taps [NS]          names of the taps in NS (default $PT_NS)
#                                whose alias starts with "ptap", sorted

# Sourced twice (a library and its test both source it): once is enough,
# a second run would forget the clean-ups registered so far.
if [ -n "${_PT_COMMON_SOURCED:-}" ]; then
    return 0
fi
_PT_COMMON_SOURCED=1

set -euo pipefail
set -E # the ERR trap below sees failures inside functions too

PT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PT_SOURCE_DIR=${PTAP_SOURCE_DIR:-$(cd "$PT_LIB_DIR/../.." && pwd)}
PT_HELPER_BIN=${PTAP_HELPER_BIN:-${PTAP_BUILD_DIR:-$PT_SOURCE_DIR/build}/helper/ptap-helper}
PT_PYTHON=/usr/bin/python3 # not a pyenv shim: users other than root run it
PT_OUT=
PT_ERR=
PT_CHECKS_FAILED=0
# The clean-up and failure-report lists: every command's words, one after
# the other, in *_WORDS, and how many words each has in *_LENS. Commands
# are run as "${words[@]}" slices, never re-parsed.
_PT_CLEANUP_WORDS=()
_PT_CLEANUP_LENS=()
_PT_DIAG_WORDS=()
_PT_DIAG_LENS=()
_PT_FAILED=
_PT_LAST_ERR=

pt_log() { printf '# %s\n' "$*" >&2; }
pt_ok() { printf 'ok - %s\n' "$*"; }
pt_fail() {
    printf 'FAIL: %s\n' "$*" >&2
    _PT_FAILED=1
    exit 1
}
pt_skip() {
    printf 'SKIP: %s\n' "$*" >&2
    exit 77
}

pt_require_root() {
    [ "$(id -u)" -eq 0 ] || pt_skip "needs root (network namespaces, users, setuid)"
}

pt_cleanup_add() {
    [ $# -gt 0 ] || pt_fail "pt_cleanup_add: no command"
    _PT_CLEANUP_LENS+=("$#")
    _PT_CLEANUP_WORDS+=("$@")
}

pt_diag_add() {
    [ $# -gt 0 ] || pt_fail "pt_diag_add: no command"
    _PT_DIAG_LENS+=("$#")
    _PT_DIAG_WORDS+=("$@")
}

# _pt_run_list WORDS LENS forward|reverse: run each command of a list.
_pt_run_list() {
    local -n _pt_w=$1 _pt_l=$2
    local dir=$3 i n start=0 starts=()
    for n in "${_pt_l[@]}"; do
        starts+=("$start")
        start=$((start + n))
    done
    if [ "$dir" = forward ]; then
        for ((i = 0; i < ${#_pt_l[@]}; i++)); do
            "${_pt_w[@]:${starts[i]}:${_pt_l[i]}}"
        done
    else
        for ((i = ${#_pt_l[@]} - 1; i >= 0; i--)); do
            "${_pt_w[@]:${starts[i]}:${_pt_l[i]}}"
        done
    fi
}

_pt_exit() {
    local rc=$?
    set +eu # the clean-up must finish, whatever failed...
    trap '' HUP INT PIPE TERM # ...and whatever else arrives meanwhile
    if [ "$rc" -eq 0 ] && [ "$PT_CHECKS_FAILED" -gt 0 ]; then
        printf 'FAIL: %s check(s) failed\n' "$PT_CHECKS_FAILED" >&2
        rc=1
    fi
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -z "$_PT_FAILED" ] && [ -n "$_PT_LAST_ERR" ]; then
        # Not a pt_fail: say what set -e stopped at.
        printf 'FAIL: exit status %s, last failed command: %s\n' "$rc" "$_PT_LAST_ERR" >&2
    fi
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        _pt_run_list _PT_DIAG_WORDS _PT_DIAG_LENS forward >&2
    fi
    _PT_DIAG_LENS=()
    _pt_run_list _PT_CLEANUP_WORDS _PT_CLEANUP_LENS reverse >/dev/null 2>&1
    _PT_CLEANUP_LENS=()
    exit "$rc"
}
trap _pt_exit EXIT
trap '_PT_LAST_ERR="$BASH_COMMAND (${BASH_SOURCE[0]##*/}:$LINENO)"' ERR
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

pt_kill() {
    local pid=$1 timeout=${2:-5} i
    [ -n "$pid" ] || return 0
    if kill -TERM "$pid" 2>/dev/null; then
        for ((i = 0; i < timeout * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    return 0
}

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

pt_marked_taps() {
    ip -n "${1:-$PT_NS}" -d -j link show |
        jq -r '.[] | select(((.ifalias // "") | startswith("ptap")) and .linkinfo.info_kind == "tun") | .ifname' |
        sort
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
    o=$(mktemp "$PT_TMP/out.XXXXXX")
    e=$(mktemp "$PT_TMP/err.XXXXXX")
    "$@" >"$o" 2>"$e" || rc=$?
    PT_OUT=$(cat "$o")
    PT_ERR=$(cat "$e")
    rm -f "$o" "$e"
    if [ "$rc" -ne "$want" ]; then
        printf '%s\n' "--- stdout" "$PT_OUT" "--- stderr" "$PT_ERR" >&2
        pt_fail "$what: exit code $rc, expected $want (ran: $*)"
    fi
}

# _pt_is_json TEXT: TEXT is one or more JSON values (not blank).
_pt_is_json() {
    [[ $1 =~ [^[:space:]] ]] && jq empty <<<"$1" >/dev/null 2>&1
}

pt_assert_json() {
    local what=$1 json=$2 expr=$3
    shift 3
    _pt_is_json "$json" || pt_fail "$what: not JSON: '$json'"
    jq -e "$@" "$expr" <<<"$json" >/dev/null ||
        pt_fail "$what: $expr is not true of: $json"
}

pt_jq() {
    local json=$1 filter=$2
    shift 2
    if ! [[ $json =~ [^[:space:]] ]]; then
        echo "pt_jq: no JSON to apply '$filter' to" >&2
        return 1
    fi
    jq -r "$@" --arg _pt_filter "$filter" \
        "($filter) | if . == null then error(\"null result of \" + \$_pt_filter) else . end" <<<"$json"
}

pt_assert_unchanged() {
    local what=$1 before=$2 now
    shift 2
    [ $# -gt 0 ] || set -- pt_links
    now=$("$@")
    if [ "$now" != "$before" ]; then
        diff <(echo "$before") <(echo "$now") >&2 || true
        if [ "$1" = pt_links ]; then
            pt_fail "$what: the kernel's links changed"
        fi
        pt_fail "$what: '$*' changed (< before, > after)"
    fi
}

pt_check() {
    local what=$1
    shift
    if "$@"; then
        pt_ok "$what"
    else
        printf 'not ok - %s\n' "$what"
        PT_CHECKS_FAILED=$((PT_CHECKS_FAILED + 1))
    fi
}

pt_checks_done() {
    [ "$PT_CHECKS_FAILED" -eq 0 ] || pt_fail "$PT_CHECKS_FAILED check(s) failed"
    echo "all checks passed"
}
