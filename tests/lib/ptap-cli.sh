# shellcheck shell=bash
# tests/lib/ptap-cli.sh: shared shell for the `ptap` command's integration
# tests (tests/integration/ptap-*.sh). Source it; then:
#
#   pc_setup NAME        root check (exit 77), private netns ptaptest-NAME-PID,
#                        temp dir, setuid copy of the helper, policy file, test
#                        user, all torn down by an EXIT trap even on failure
#   pc_ns CMD...         run CMD as root in the netns, with the test policy
#                        bind-mounted on /etc/ptap (its own mount namespace)
#   pc_ptap AS DIR ARGS  run `ptap --state-dir DIR ARGS` as AS (root|user)
#   ptap_root / ptap_user ARGS   the same with the default state dirs
#   pc_check AS DIR      journal and kernel agree exactly (see below)
#
# Every assertion says what a user would see: the kernel through `ip -j -d
# link`, the journal through `ptap list --json` and `ptap journal check`.

set -euo pipefail

PC_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PC_SOURCE_DIR=${PTAP_SOURCE_DIR:-$(cd "$PC_LIB_DIR/../.." && pwd)}
PC_USER=${PC_USER:-ptaptest-cli}
PC_PIDS=()

pc_log() { printf '# %s\n' "$*" >&2; }
pc_fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
pc_skip() {
    printf 'SKIP: %s\n' "$*" >&2
    exit 77
}

# pc_eq WHAT EXPECTED ACTUAL
pc_eq() {
    [ "$2" = "$3" ] || pc_fail "$1: expected '$2', got '$3'"
}

pc_cleanup() {
    local rc=$?
    set +e
    for p in "${PC_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null
    done
    # Helpers our killed ptap processes left behind (only our own copy).
    pc_helper_pids | xargs -r kill -9 2>/dev/null
    [ -n "${PC_NS:-}" ] && ip netns del "$PC_NS" 2>/dev/null
    [ -n "${PC_TMP:-}" ] && rm -rf "$PC_TMP"
    exit "$rc"
}

# PIDs of processes running our private copy of the helper.
pc_helper_pids() {
    local p exe
    [ -n "${PC_TMP:-}" ] || return 0
    for p in /proc/[0-9]*; do
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        [ "$exe" = "$PC_TMP/bin/ptap-helper" ] && echo "${p#/proc/}"
    done
    return 0
}

# Wait (bounded) until no helper we started, directly or not, is running.
pc_wait_helpers() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ -z "$(pc_helper_pids)" ] && return 0
        sleep 0.1
    done
    pc_fail "ptap-helper processes still running after 30 s: $(pc_helper_pids | tr '\n' ' ')"
}

pc_setup() {
    local name=$1
    [ "$(id -u)" -eq 0 ] || pc_skip "needs root (network namespaces, a setuid helper, a test user)"
    : "${PTAP_BIN:?PTAP_BIN must name the built ptap}"
    : "${PTAP_HELPER_BIN:?PTAP_HELPER_BIN must name the built ptap-helper}"
    [ -x "$PTAP_BIN" ] || pc_fail "no ptap at '$PTAP_BIN'"
    [ -x "$PTAP_HELPER_BIN" ] || pc_fail "no ptap-helper at '$PTAP_HELPER_BIN'"
    for t in ip jq setpriv mount; do
        command -v "$t" >/dev/null || pc_skip "'$t' is not installed"
    done

    PC_NS=ptaptest-$name-$$
    trap pc_cleanup EXIT
    trap 'exit 130' INT TERM
    PC_TMP=$(mktemp -d "/tmp/ptaptest-$name.XXXXXX")
    chmod 0755 "$PC_TMP"

    ip netns add "$PC_NS"
    ip -n "$PC_NS" link set lo up

    # The test user (unprivileged, no login, no home).
    if ! getent passwd "$PC_USER" >/dev/null; then
        useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$PC_USER" 2>/dev/null ||
            getent passwd "$PC_USER" >/dev/null || pc_fail "cannot create user '$PC_USER'"
    fi
    PC_UID=$(id -u "$PC_USER")
    PC_GID=$(id -g "$PC_USER")

    # A setuid-root copy of the helper (cp strips it, so install after copy).
    mkdir -m 0755 "$PC_TMP/bin"
    install -m 4755 -o root -g root "$PTAP_HELPER_BIN" "$PC_TMP/bin/ptap-helper"
    PC_HELPER=$PC_TMP/bin/ptap-helper

    # The policy, seen as /etc/ptap/helper.conf inside pc_ns only. The
    # helper trusts it only if root owns it and its directories.
    mkdir -m 0755 "$PC_TMP/etc"
    pc_policy "allow user $PC_USER bridge * max 64" "allow user $PC_USER bridge none max 64"
    [ -d /etc/ptap ] || mkdir -m 0755 /etc/ptap # mount point only; stays empty

    # Unprivileged QEMU and a cap-only helper need it; distros ship 0666.
    chmod 0666 /dev/net/tun

    # State directories: root's under the temp dir, the user's in a
    # directory the user owns.
    PC_ROOT_STATE=$PC_TMP/root-state
    mkdir -m 0700 "$PC_TMP/user"
    chown "$PC_UID:$PC_GID" "$PC_TMP/user"
    PC_USER_STATE=$PC_TMP/user/state
}

# pc_policy LINE...: replace the helper's policy file.
pc_policy() {
    printf '%s\n' "$@" >"$PC_TMP/etc/helper.conf"
    chmod 0644 "$PC_TMP/etc/helper.conf"
}

# pc_ns CMD...: run as root inside the namespace, policy on /etc/ptap.
pc_ns() {
    ip netns exec "$PC_NS" /bin/sh -c 'mount --bind "$0" /etc/ptap && exec "$@"' \
        "$PC_TMP/etc" "$@"
}

# pc_as AS CMD...: as root or as the test user, in the namespace.
pc_as() {
    local as=$1
    shift
    if [ "$as" = root ]; then
        pc_ns "$@"
    else
        pc_ns setpriv --reuid "$PC_UID" --regid "$PC_GID" --init-groups --inh-caps=-all -- "$@"
    fi
}

# pc_ptap AS STATE_DIR ARGS...: the ptap command, with our helper.
pc_ptap() {
    local as=$1 dir=$2
    shift 2
    pc_as "$as" env PTAP_HELPER="$PC_HELPER" ${PTAP_FAULT:+PTAP_FAULT="$PTAP_FAULT"} \
        "$PTAP_BIN" --state-dir "$dir" "$@"
}
ptap_root() { pc_ptap root "$PC_ROOT_STATE" "$@"; }
ptap_user() { pc_ptap user "$PC_USER_STATE" "$@"; }

# pc_helper AS ARGS...: the helper directly (to make taps behind ptap's back).
pc_helper() {
    local as=$1
    shift
    pc_as "$as" "$PC_HELPER" "$@"
}

# pc_expect_rc WHAT EXPECTED CMD...: run CMD, check its exit code; its
# stdout and stderr are left in $PC_OUT and $PC_ERR.
pc_expect_rc() {
    local what=$1 want=$2 rc=0
    shift 2
    "$@" >"$PC_TMP/out" 2>"$PC_TMP/err" || rc=$?
    PC_OUT=$(cat "$PC_TMP/out")
    PC_ERR=$(cat "$PC_TMP/err")
    if [ "$rc" != "$want" ]; then
        printf '%s\n' "--- stdout" "$PC_OUT" "--- stderr" "$PC_ERR" >&2
        pc_fail "$what: exit code $rc, expected $want"
    fi
}

# pc_jid AS DIR: the journal's identity (what its taps' marks carry).
pc_jid() {
    pc_ptap "$1" "$2" journal dump | sed -n 's/^journal .* (id \([0-9a-f]*\)):.*/\1/p'
}

# Kernel side, as JSON: every link of the namespace.
pc_links() { ip -n "$PC_NS" -j -d link show; }

# pc_kernel_taps JID: names of the taps in the namespace carrying JID's
# mark, sorted, one a line.
pc_kernel_taps() {
    pc_links | jq -r --arg m "ptap:$1:" \
        '.[] | select((.ifalias // "") | startswith($m)) | .ifname' | sort
}

# pc_marked_taps: every tap with any ptap mark.
pc_marked_taps() {
    pc_links | jq -r '.[] | select((.ifalias // "") | test("^ptap(:|$)")) | .ifname' | sort
}

# pc_live AS DIR: names of the live records, sorted.
pc_live() {
    pc_ptap "$1" "$2" list --json | jq -r '.[] | select(.state != null) | .name' | sort
}

# pc_snapshot [--live]: what a user can observe, for "nothing changed"
# comparisons: both journals' live records (ptap list --json), the
# journal files themselves (unless --live) and the namespace's devices.
pc_snapshot() {
    local as dir
    for as in root user; do
        dir=$PC_ROOT_STATE
        [ "$as" = user ] && dir=$PC_USER_STATE
        echo "## $as list"
        if [ -e "$dir/journal.xml" ]; then
            pc_ptap "$as" "$dir" list --json | jq -S 'map(del(.carrier))'
            [ "${1:-}" = --live ] || cat "$dir/journal.xml"
        fi
    done
    echo "## kernel"
    pc_links | jq -S '[.[] | {ifname, ifalias, master, mtu, address,
                               tun: (.linkinfo.info_data // null | if . then {user, group, multi_queue, vnet_hdr} else null end)}]
                     | sort_by(.ifname)'
}

# pc_unchanged WHAT BEFORE [--live]: the snapshot still equals BEFORE.
pc_unchanged() {
    local after
    after=$(pc_snapshot ${3:-})
    if [ "$2" != "$after" ]; then
        diff <(echo "$2") <(echo "$after") >&2 || true
        pc_fail "$1 changed the journal or the kernel"
    fi
}

# pc_check AS DIR [CONTEXT]: after recovery, journal and kernel agree
# exactly: every marked tap of this journal has a live record, every live
# record is ready and has its tap (in_kernel), nothing is an orphan, the
# journal validates, and a recover has nothing left to do.
pc_check() {
    local as=$1 dir=$2 ctx=${3:-}
    local jid list kernel live bad
    jid=$(pc_jid "$as" "$dir")
    [ -n "$jid" ] || pc_fail "$ctx: no journal id in 'ptap journal dump'"
    list=$(pc_ptap "$as" "$dir" list --json)
    kernel=$(pc_kernel_taps "$jid")
    live=$(echo "$list" | jq -r '.[] | select(.state != null) | .name' | sort)
    bad=$(echo "$list" | jq -c '.[] | select(.state != "ready" or .in_kernel != true or .problem != null)')
    [ -z "$bad" ] || pc_fail "$ctx: records that disagree with the kernel: $bad"
    if [ "$kernel" != "$live" ]; then
        diff <(echo "$live") <(echo "$kernel") >&2 || true
        pc_fail "$ctx: live records (<) and this journal's taps in the kernel (>) differ"
    fi
    pc_ptap "$as" "$dir" journal check >/dev/null ||
        pc_fail "$ctx: 'ptap journal check' failed"
    local again
    again=$(pc_ptap "$as" "$dir" recover --json)
    [ "$(echo "$again" | jq -c .)" = "[]" ] || pc_fail "$ctx: a further recover still acts: $again"
}
