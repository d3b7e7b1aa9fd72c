#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Taps stranded by what happened around them, each reproduced for real:
# - the helper killed during a destroy (a fault point inside ptap-helper
#   SIGKILLs it): after the kernel deleted the taps, the journal kept them
#   as ready records that the kernel no longer had; between joining the
#   deletion group and the group delete, the taps stayed in a random link
#   group that recover never repaired. Required: destroy's outcome is read
#   from the kernel; recover restores a tap left in a deletion group; the
#   message says the helper was killed by signal N.
# - a bridge deleted under its taps: list showed nothing wrong, and making
#   the bridge again did not bring them back. Required: list shows the
#   problem; recover says why it cannot act while the bridge is gone, and
#   puts the taps back on it when it returns (root's and a user's); so
#   does a running `ptap watch`, as soon as the bridge is made again, and
#   a watcher that starts after it was.
. "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup strand
# br0 is made (and made again) with a fixed low address: a bridge made
# with a random one may take an address above a tap's (one in ~128), and a
# tap that would become its bridge's address is rightly not put back on it.
mkbr() { ip -n "$PC_NS" link add br0 address 02:00:00:00:00:01 type bridge; }
mkbr
ip -n "$PC_NS" link set br0 up
S=$PC_ROOT_STATE
group_of() { pc_links | jq -r --arg n "$1" '.[] | select(.ifname == $n) | .group'; }
master_of() { pc_links | jq -r --arg n "$1" '.[] | select(.ifname == $n) | .master // ""'; }
exists() { ip -n "$PC_NS" link show "$1" >/dev/null 2>&1; }

# ---- the helper killed after the kernel deleted the taps ----
pt_assert_rc "create ka0 ka1" 0 ptap_root create 'ka%d' --count 2
PTAP_FAULT=helper-after-delete pt_assert_rc "destroy, helper killed after the delete" 71 \
    ptap_root destroy ka0 ka1
pt_assert_match "the message says the helper was killed" "killed by signal 9" "$PT_ERR"
exists ka0 || exists ka1 && pt_fail "the kernel still has ka0/ka1"
pt_assert_json "no ready record of a tap the kernel deleted (before any recover)" \
    "$(ptap_root list --json)" '[.records[] | select(.name == "ka0" or .name == "ka1")] | length == 0'
pc_wait_helpers
pc_check root "$S" "after a helper killed after its delete"
pt_ok "a destroy whose helper died after the delete records the taps gone"

# ---- the helper killed between the deletion group and the delete ----
pt_assert_rc "create kb0 kb1" 0 ptap_root create 'kb%d' --count 2 --bridge br0
PTAP_FAULT=link-after-group pt_assert_rc "destroy, helper killed in the deletion group" 71 \
    ptap_root destroy kb0 kb1
pt_assert_match "the message says the helper was killed" "killed by signal 9" "$PT_ERR"
pc_wait_helpers
[ "$(group_of kb0)" != default ] || pt_fail "the fault point did not leave kb0 in a deletion group"
pt_assert_json "list shows the problem" "$(ptap_root list --json)" \
    '[.records[] | select(.name == "kb0" and (.problem // "" | test("deletion group")))] | length == 1'
pt_assert_rc "recover" 0 ptap_root recover --json
pt_assert_json "recover restores both" "$PT_OUT" '[.records[] | select(.action == "restore-group")] | length == 2'
pt_assert_eq "kb0 back in the default group" default "$(group_of kb0)"
pt_assert_eq "kb1 back in the default group" default "$(group_of kb1)"
pt_assert_eq "kb0 still on br0" br0 "$(master_of kb0)"
pc_check root "$S" "after restoring the group"
pt_assert_rc "destroy them for real" 0 ptap_root destroy kb0 kb1
pt_ok "recover restores taps a killed destroy left in its deletion group"

# ---- a bridge deleted under its taps, and made again ----
pt_assert_rc "root's taps on br0" 0 ptap_root create 'rb%d' --count 2 --bridge br0
pt_assert_rc "a user's tap on br0" 0 ptap_user create ub0 --bridge br0
ip -n "$PC_NS" link del br0
pt_assert_json "list shows the taps are off their bridge" "$(ptap_root list --json)" \
    '[.records[] | select((.name | startswith("rb")) and (.problem // "" | test("off its bridge")))] | length == 2'
pt_assert_rc "recover while the bridge is gone" 0 ptap_root recover --json
pt_assert_json "recover says why it cannot act" "$PT_OUT" \
    '[.records[] | select(.action == "bridge-gone" and (.reason | test("br0")))] | length == 2'
exists rb0 && exists rb1 || pt_fail "recover removed taps whose bridge is gone"
mkbr
ip -n "$PC_NS" link set br0 up
pt_assert_rc "recover once the bridge is back" 0 ptap_root recover --json
pt_assert_json "root's taps rejoin" "$PT_OUT" '[.records[] | select(.action == "rejoin-bridge")] | length == 2'
pt_assert_eq "rb0 on br0 again" br0 "$(master_of rb0)"
pt_assert_eq "rb1 on br0 again" br0 "$(master_of rb1)"
pt_assert_rc "the user's recover" 0 ptap_user recover --json
pt_assert_json "the user's tap rejoins (the policy allows br0)" "$PT_OUT" \
    '[.records[] | select(.action == "rejoin-bridge" and .name == "ub0")] | length == 1'
pt_assert_eq "ub0 on br0 again" br0 "$(master_of ub0)"
pc_check root "$S" "after the bridge came back"
pc_check user "$PC_USER_STATE" "after the bridge came back (user)"
pt_assert_rc "destroy root's" 0 ptap_root destroy rb0 rb1
pt_assert_rc "destroy the user's" 0 ptap_user destroy ub0
pt_ok "taps whose bridge was deleted rejoin it when it comes back"

# ---- ptap watch puts taps back on their bridge when it returns ----
WLOG=$PC_TMP/watch.log
start_watch() {
    : >"$WLOG"
    ip netns exec "$PC_NS" env PTAP_HELPER="$PC_HELPER" "$PTAP_BIN" --state-dir "$S" \
        watch -v 2>"$WLOG" &
    WPID=$!
    pt_cleanup_add pt_kill "$WPID"
    wait_log "watching the journal"
}
wait_log() {
    for _ in $(seq 100); do
        grep -q "$1" "$WLOG" && return 0
        sleep 0.05
    done
    pt_fail "the watcher did not log '$1': $(cat "$WLOG")"
}
pt_assert_rc "root's taps on br0 for the watcher" 0 ptap_root create 'wb%d' --count 2 --bridge br0
start_watch
ip -n "$PC_NS" link del br0
pt_assert_eq "wb0 off its bridge while br0 is gone" "" "$(master_of wb0)"
mkbr
ip -n "$PC_NS" link set br0 up
wait_log "'wb1': bridge 'br0' is back: the tap rejoins it"
wait_log "'wb0': bridge 'br0' is back: the tap rejoins it"
pt_assert_eq "the watcher put wb0 back on br0" br0 "$(master_of wb0)"
pt_assert_eq "the watcher put wb1 back on br0" br0 "$(master_of wb1)"
pt_kill "$WPID"
pc_check root "$S" "after the watcher put the taps back"
pt_ok "a running ptap watch puts taps back on their bridge when it is made again"

ip -n "$PC_NS" link del br0
mkbr
pt_assert_eq "wb0 off br0 before the watcher starts" "" "$(master_of wb0)"
start_watch
wait_log "'wb0': bridge 'br0' is back"
pt_assert_eq "the starting watcher put wb0 back on br0" br0 "$(master_of wb0)"
pt_assert_eq "the starting watcher put wb1 back on br0" br0 "$(master_of wb1)"
pt_kill "$WPID"
pt_assert_rc "destroy wb*" 0 ptap_root destroy wb0 wb1
pc_check root "$S" "at the end"
pt_ok "a watcher that starts after the bridge came back puts the taps on it"
