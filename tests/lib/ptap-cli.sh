# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# tests/lib/ptap-cli.sh: shared shell for the `ptap` command's integration
# tests (tests/integration/ptap-*.sh). Source it; then:
#
#   pc_setup NAME        root check (exit 77), private netns ptaptest-NAME-PID,
#                        temp dir, setuid copy of the helper, policy file, test
#                        user, all torn down at exit (common.sh's clean-up
#                        stack) even on failure
#   pc_ns CMD...         run CMD as root in the netns, with the test policy
#                        bind-mounted on /etc/ptap (its own mount namespace)
#   pc_ptap AS DIR ARGS  run `ptap --state-dir DIR ARGS` as AS (root|user)
#   ptap_root / ptap_user ARGS   the same with the default state dirs
#   pc_check AS DIR      journal and kernel agree exactly (see below)
#   pc_list AS DIR       `ptap list --json`, exit 1 (problems listed) allowed
#   pc_snapshot [--live] what a user sees, for pt_assert_unchanged
#
# Assertions are common.sh's (pt_fail, pt_assert_eq, pt_assert_rc with
# PT_OUT/PT_ERR, pt_assert_unchanged, ...).
#
# Every assertion says what a user would see: the kernel through `ip -j -d
# link`, the journal through `ptap list --json` and `ptap journal check`.

# Built on tests/lib/common.sh (namespace, users, helper install, policy
# bind mount, cleanup at exit); this file adds what the ptap command needs.

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PC_USER=${PC_USER:-ptaptest-cli}
PC_PIDS=()

# PIDs of processes running our private copy of the helper.
pc_helper_pids() {
    local p exe
    [ -n "${PC_HELPER:-}" ] || return 0
    for p in /proc/[0-9]*; do
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        [ "$exe" = "$PC_HELPER" ] && echo "${p#/proc/}"
    done
    return 0
}

# At exit: kill what we started (by PID), then helpers our killed ptap
# processes left behind (only those running our private copy).
pc_kill_ours() {
    local p
    for p in "${PC_PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
    done
    for p in $(pc_helper_pids); do
        kill -9 "$p" 2>/dev/null || true
    done
}

# Wait (bounded) until no helper we started, directly or not, is running.
pc_wait_helpers() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ -z "$(pc_helper_pids)" ] && return 0
        sleep 0.1
    done
    pt_fail "ptap-helper processes still running after 30 s: $(pc_helper_pids | tr '\n' ' ')"
}

pc_setup() {
    local name=$1 t
    pt_require_root
    : "${PTAP_BIN:?PTAP_BIN must name the built ptap}"
    : "${PTAP_HELPER_BIN:?PTAP_HELPER_BIN must name the built ptap-helper}"
    [ -x "$PTAP_BIN" ] || pt_fail "no ptap at '$PTAP_BIN'"
    for t in ip jq setpriv unshare; do
        command -v "$t" >/dev/null || pt_skip "'$t' is not installed"
    done

    pt_netns_new "$name"
    PC_NS=$PT_NS
    # Not in $(...): PT_TMP and its cleanup must be set in this shell, so
    # that the helper and the policy below land in the same temp dir.
    pt_tmpdir >/dev/null
    PC_TMP=$PT_TMP
    PC_UID=$(pt_user_ensure "$PC_USER")
    PC_GID=$(id -g "$PC_USER")
    PC_HELPER=$(pt_helper_install setuid)
    pt_tun_world_rw
    PC_POLICY=$(pt_policy_dir "allow user $PC_USER bridge * max 64
allow user $PC_USER bridge none max 64")
    pt_cleanup_add pc_kill_ours

    # State directories: root's under the temp dir, the user's inside a
    # directory the user owns.
    PC_ROOT_STATE=$PC_TMP/root-state
    mkdir -m 0700 "$PC_TMP/user"
    chown "$PC_UID:$PC_GID" "$PC_TMP/user"
    PC_USER_STATE=$PC_TMP/user/state
}

# pc_policy LINE...: replace the helper's policy file.
pc_policy() {
    printf '%s\n' "$@" >"$PC_POLICY/helper.conf"
}

# pc_as AS CMD...: as root or as the test user, in the namespace, with
# the test policy on /etc/ptap.
pc_as() {
    local as=$1
    shift
    [ "$as" = root ] || as=$PC_USER
    pt_helper "$as" "$PC_POLICY" "$@"
}
pc_ns() { pc_as root "$@"; }

# pc_ptap AS STATE_DIR ARGS...: the ptap command, with our helper (or
# $PC_PTAP_HELPER), PTAP_FAULT if set, and the assignments in PC_ENV.
PC_ENV=()
pc_ptap() {
    local as=$1 dir=$2
    shift 2
    pc_as "$as" env PTAP_HELPER="${PC_PTAP_HELPER:-$PC_HELPER}" ${PTAP_FAULT:+PTAP_FAULT="$PTAP_FAULT"} \
        "${PC_ENV[@]}" "$PTAP_BIN" --state-dir "$dir" "$@"
}

# pc_ptap_bg AS STATE_DIR ARGS...: pc_ptap in the background, output
# discarded. Every stage (ip netns exec, unshare, sh, setpriv, env) execs
# the next, so PC_BG_PID is the very process that runs ptap: killing it
# kills ptap, not a wrapper.
pc_ptap_bg() {
    local as=$1 dir=$2 priv=()
    shift 2
    [ "$as" = root ] || priv=(setpriv --reuid "$PC_USER" --regid "$PC_USER" --init-groups --)
    _pt_etc_ptap
    ip netns exec "$PC_NS" unshare -m --propagation private \
        sh -c 'mount --bind "$1" /etc/ptap && shift && exec "$@"' sh "$PC_POLICY" \
        "${priv[@]}" env PTAP_HELPER="${PC_PTAP_HELPER:-$PC_HELPER}" \
        ${PTAP_FAULT:+PTAP_FAULT="$PTAP_FAULT"} "${PC_ENV[@]}" \
        "$PTAP_BIN" --state-dir "$dir" "$@" >/dev/null 2>&1 &
    PC_BG_PID=$!
    PC_PIDS+=("$PC_BG_PID")
}
# pc_logging_helper: a stand-in helper (for root) that logs each run's
# arguments, one line per run, to $PC_TMP/helper.log and then runs the
# real one. Use as PC_PTAP_HELPER=$(pc_logging_helper) to count helper
# runs: "one batch" is something a test can see.
pc_logging_helper() {
    if [ ! -x "$PC_TMP/log-helper" ]; then
        # A run with --wait (started early, told to go on stdin) also logs
        # what it is told, in helper.stdin.
        cat >"$PC_TMP/log-helper" <<SH
#!/bin/sh
echo "\$*" >>"$PC_TMP/helper.log"
case " \$* " in
*" --wait "*) tee -a "$PC_TMP/helper.stdin" | "$PC_HELPER" "\$@"; exit \$? ;;
esac
exec "$PC_HELPER" "\$@"
SH
        chmod 0755 "$PC_TMP/log-helper"
    fi
    : >"$PC_TMP/helper.log"
    : >"$PC_TMP/helper.stdin"
    echo "$PC_TMP/log-helper"
}

ptap_root() { pc_ptap root "$PC_ROOT_STATE" "$@"; }
ptap_user() { pc_ptap user "$PC_USER_STATE" "$@"; }

# pc_helper AS ARGS...: the helper directly (to make taps behind ptap's back).
pc_helper() {
    local as=$1
    shift
    pc_as "$as" "$PC_HELPER" "$@"
}

# pc_jid AS DIR: the journal's identity (what its taps' marks carry).
pc_jid() {
    pc_ptap "$1" "$2" journal dump | sed -n 's/^journal .* (id \([0-9a-f]*\)):.*/\1/p'
}

# Kernel side, as JSON: every link of the namespace.
pc_links() { ip -n "$PC_NS" -j -d link show; }

# pc_kernel_taps JID [UID]: names of the taps in the namespace whose mark
# names journal JID (and, with UID, that user as their maker:
# "ptap:uUID:JID:OP"), sorted, one a line.
pc_kernel_taps() {
    pc_links | jq -r --arg j "$1" --arg u "${2:-[0-9]+}" \
        '.[] | select((.ifalias // "") | test("^ptap:u" + $u + ":" + $j + "(:|$)")) | .ifname' | sort
}

# pc_uid AS: the uid ptap runs as for AS (root or the test user).
pc_uid() { if [ "$1" = root ]; then echo 0; else echo "$PC_UID"; fi; }

# pc_marked_taps: every tap with any ptap mark.
pc_marked_taps() {
    pc_links | jq -r '.[] | select((.ifalias // "") | test("^ptap(:|$)")) | .ifname' | sort
}

# pc_list AS DIR: `ptap list --json`, where its exit 1 (a row has a
# PROBLEM) is an answer, not a failure: the caller judges the rows.
pc_list() {
    pc_ptap "$1" "$2" list --json || [ $? -eq 1 ]
}

# pc_live AS DIR: names of the live records, sorted.
pc_live() {
    pc_list "$1" "$2" | jq -r '.records[] | select(.state != null) | .name' | sort
}

# pc_snapshot [--live]: what a user can observe, for "nothing changed"
# comparisons (pt_assert_unchanged WHAT BEFORE pc_snapshot [--live]): both journals' live records (ptap list --json), the
# journal files themselves (unless --live) and the namespace's devices.
pc_snapshot() {
    local as dir
    for as in root user; do
        dir=$PC_ROOT_STATE
        [ "$as" = user ] && dir=$PC_USER_STATE
        echo "## $as list"
        if [ -e "$dir/journal.xml" ]; then
            pc_list "$as" "$dir" | jq -S '.records | map(del(.carrier))'
            [ "${1:-}" = --live ] || cat "$dir/journal.xml"
        fi
    done
    echo "## kernel"
    pc_links | jq -S '[.[] | {ifname, ifalias, master, mtu, address,
                               tun: (.linkinfo.info_data // null | if . then {user, group, multi_queue, vnet_hdr} else null end)}]
                     | sort_by(.ifname)'
}

# pc_check AS DIR [CONTEXT]: after recovery, journal and kernel agree
# exactly: every marked tap of this journal has a live record, every live
# record is ready and has its tap (in_kernel), nothing is an orphan, the
# journal validates, and a recover has nothing left to do.
pc_check() {
    local as=$1 dir=$2 ctx=${3:-}
    local jid list kernel live bad rc=0
    jid=$(pc_jid "$as" "$dir")
    [ -n "$jid" ] || pt_fail "$ctx: no journal id in 'ptap journal dump'"
    list=$(pc_ptap "$as" "$dir" list --json) || rc=$?
    kernel=$(pc_kernel_taps "$jid" "$(pc_uid "$as")")
    live=$(echo "$list" | jq -r '.records[] | select(.state != null) | .name' | sort)
    bad=$(echo "$list" | jq -c '.records[] | select(.state != "ready" or .in_kernel != true or .problem != null)')
    [ -z "$bad" ] || pt_fail "$ctx: records that disagree with the kernel: $bad"
    [ "$rc" -eq 0 ] || pt_fail "$ctx: 'ptap list' exited $rc with no problem listed: $list"
    if [ "$kernel" != "$live" ]; then
        diff <(echo "$live") <(echo "$kernel") >&2 || true
        pt_fail "$ctx: live records (<) and this journal's taps in the kernel (>) differ"
    fi
    pc_ptap "$as" "$dir" journal check >/dev/null ||
        pt_fail "$ctx: 'ptap journal check' failed"
    local again
    again=$(pc_ptap "$as" "$dir" recover --json)
    [ "$(echo "$again" | jq -c .records)" = "[]" ] || pt_fail "$ctx: a further recover still acts: $again"
}
