#!/usr/bin/env bash
# ptap recover, black box (no fault points needed): orphans, vanished
# taps, creates and destroys interrupted before and after the helper ran
# (a ptap killed with SIGKILL while a stand-in helper holds it there),
# --dry-run, --json, a second run that does nothing; and what recovery
# must never touch: another journal's taps (root's and a user's), a tap
# with a bare "ptap" mark, a hand-made tap, a bridge.
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup recover

ip -n "$PC_NS" link add br0 type bridge
OTHER=$PC_TMP/other-state # a second journal of root's

# ---- nothing to do -----------------------------------------------------------
pt_assert_rc "recover of an empty journal" 0 ptap_root recover --json
pt_assert_eq "recover --json, nothing to do" "[]" "$(echo "$PT_OUT" | jq -c .records)"
pt_assert_rc "recover, text" 0 ptap_root recover
pt_assert_eq "recover prints nothing when there is nothing to do" "" "$PT_OUT"
pt_assert_rc "dry run" 0 ptap_root recover --dry-run --json
pt_assert_eq "recover --dry-run --json, nothing to do" "[]" "$(echo "$PT_OUT" | jq -c .records)"
jid=$(pc_jid root "$PC_ROOT_STATE")

# ---- what must never be touched ----------------------------------------------
ptap_root create 'keep%d' --count 2 --bridge br0 >/dev/null # live, fine
pc_ptap root "$OTHER" create 'oth%d' --count 2 >/dev/null
ojid=$(pc_jid root "$OTHER")
ptap_user create 'usr%d' --count 2 >/dev/null
ujid=$(pc_jid user "$PC_USER_STATE")
pc_helper root create bare0 >/dev/null # a mark with no tag: no journal's
pt_assert_eq "bare mark" ptap:u0 "$(pc_links | jq -r '.[] | select(.ifname == "bare0") | .ifalias')"
ip -n "$PC_NS" tuntap add hand0 mode tap # unmarked
ip -n "$PC_NS" link set hand0 alias "not-ptap:$jid:op1"
# Orphans of the other journals: only their own recover removes them.
pc_helper root create 'othorph%d' --count 2 --tag "$ojid:op900" >/dev/null
pc_helper user create 'usrorph%d' --tag "$ujid:op900" >/dev/null

# ---- what this journal's recover must fix --------------------------------------
# Orphans: taps with this journal's mark that no record names.
pc_helper root create 'orph%d' --count 3 --bridge br0 --tag "$jid:op900" >/dev/null
pc_helper root create orphx --tag "$jid" >/dev/null # mark without an op
# A tap that vanished, and one whose name another journal now uses.
ptap_root create 'gone%d' --count 2 >/dev/null
ip -n "$PC_NS" link del gone0
ip -n "$PC_NS" link del gone1
pc_ptap root "$OTHER" create gone1 >/dev/null

# Interrupted operations: a stand-in helper holds ptap before or after the
# real helper runs; ptap is then killed with SIGKILL.
cat >"$PC_TMP/hold-helper" <<'EOF'
#!/bin/sh
# Stand-in for ptap-helper: run the real one ($REAL) with the same
# arguments; stop before or after it ($HOLD) until killed.
echo "$PPID" >"$HOLD_DIR/ptap.pid"
if [ "$HOLD" = before ]; then
    echo $$ >"$HOLD_DIR/holder.pid"
    exec sleep 600
fi
"$REAL" "$@"
echo $$ >"$HOLD_DIR/holder.pid"
exec sleep 600
EOF
chmod 0755 "$PC_TMP/hold-helper"
mkdir -m 0777 "$PC_TMP/hold"
interrupt() { # before|after ptap ARGS... (as root)
    local hold=$1 i
    shift
    rm -f "$PC_TMP/hold/"*
    PC_PTAP_HELPER=$PC_TMP/hold-helper
    PC_ENV=(REAL="$PC_HELPER" HOLD="$hold" HOLD_DIR="$PC_TMP/hold")
    pc_ptap_bg root "$PC_ROOT_STATE" "$@"
    PC_PTAP_HELPER=
    PC_ENV=()
    for ((i = 0; i < 300; i++)); do
        [ -s "$PC_TMP/hold/holder.pid" ] && break
        sleep 0.1
    done
    [ -s "$PC_TMP/hold/holder.pid" ] || pt_fail "ptap $* never reached the helper"
    kill -9 "$(cat "$PC_TMP/hold/ptap.pid")"
    wait "$PC_BG_PID" 2>/dev/null || true
    kill -9 "$(cat "$PC_TMP/hold/holder.pid")"
}
interrupt before create 'cb%d' --count 2
interrupt after create 'ca%d' --count 3 --bridge br0
ptap_root create db0 >/dev/null
ptap_root create da0 >/dev/null
interrupt before destroy db0
interrupt after destroy da0

pt_assert_eq "states left by the crashes" \
    '[["ca%d","creating"],["cb%d","creating"],["da0","destroying"],["db0","destroying"],["gone0","ready"],["gone1","ready"],["keep0","ready"],["keep1","ready"]]' \
    "$(ptap_root list --json | jq -c '[.records[] | select(.state != null) | [.name, .state]] | sort')"
pt_assert_eq "orphans listed" '["ca0","ca1","ca2","orph0","orph1","orph2","orphx"]' \
    "$(ptap_root list --json | jq -c '[.records[] | select(.state == null) | .name] | sort')"

# ---- --dry-run: the plan, and nothing changes -----------------------------------
expected='[["close","gone0"],["close","gone1"],["complete-destroy","da0"],["complete-destroy","db0"],["destroy-orphan","orph0"],["destroy-orphan","orph1"],["destroy-orphan","orph2"],["destroy-orphan","orphx"],["rollback-create","ca%d"],["rollback-create","cb%d"]]'
before=$(pc_snapshot)
before_other=$(cat "$OTHER/journal.xml")
pt_assert_rc "recover --dry-run --json" 0 ptap_root recover --dry-run --json
pt_assert_eq "planned actions" "$expected" "$(echo "$PT_OUT" | jq -c '[.records[] | [.action, .name]] | sort')"
pt_assert_eq "dry run says not done" '[false]' "$(echo "$PT_OUT" | jq -c '[.records[].done] | unique')"
pt_assert_unchanged "recover --dry-run --json" "$before" pc_snapshot
pt_assert_rc "recover --dry-run" 0 ptap_root recover --dry-run
pt_assert_eq "text plan: one line per action" 10 "$(echo "$PT_OUT" | grep -c '^would ')"
grep -q "^would destroy-orphan 'orph1'" <<<"$PT_OUT" || pt_fail "text plan lacks orph1: $PT_OUT"
pt_assert_unchanged "recover --dry-run" "$before" pc_snapshot

# ---- recover --------------------------------------------------------------------
untouched() {
    pc_links | jq -S -c '[.[] | select(.ifname | test("^(keep|oth|usr|bare0|hand0|br0|gone1)"))
                             | {ifname, ifindex, ifalias, master}] | sort_by(.ifname)'
}
keep=$(untouched)
PC_PTAP_HELPER=$(pc_logging_helper)
pt_assert_rc "recover --json" 0 ptap_root recover --json
PC_PTAP_HELPER=
# One helper, started early (it dumps the links while ptap reads the
# journal, and its view of them is ptap's), told to go with every name at
# once.
pt_assert_eq "one helper run, started early, with its view" "destroy --wait --view" "$(cat "$PC_TMP/helper.log")"
pt_assert_eq "it removes everything in one batch" "go: ca0 ca1 ca2 db0 orph0 orph1 orph2 orphx" \
    "$(head -1 "$PC_TMP/helper.stdin"): $(tail -n +2 "$PC_TMP/helper.stdin" | sort | xargs)"
pt_assert_eq "actions taken" "$expected" "$(echo "$PT_OUT" | jq -c '[.records[] | [.action, .name]] | sort')"
pt_assert_eq "recover says done" '[true]' "$(echo "$PT_OUT" | jq -c '[.records[].done] | unique')"
pt_assert_eq "devices of others, unmarked, and live ones untouched" "$keep" "$(untouched)"
pt_assert_eq "this journal's taps" "$(printf '%s\n' keep0 keep1)" "$(pc_kernel_taps "$jid")"
pt_assert_eq "nothing left with this journal's mark" "$(printf '%s\n' keep0 keep1)" \
    "$(pc_links | jq -r --arg j "$jid" '.[] | select((.ifalias // "") | test("^ptap:u[0-9]+:" + $j + "(:|$)")) | .ifname' | sort)"
pc_check root "$PC_ROOT_STATE" "after recover"
pt_assert_rc "second recover, text" 0 ptap_root recover
pt_assert_eq "second recover prints nothing" "" "$PT_OUT"
pt_assert_eq "other journal file untouched" "$before_other" "$(cat "$OTHER/journal.xml")"

# The other journals see their own orphans and nothing of ours.
pt_assert_eq "other journal's orphans" '["othorph0","othorph1"]' \
    "$(pc_ptap root "$OTHER" list --json | jq -c '[.records[] | select(.state == null) | .name] | sort')"
pt_assert_rc "other journal's recover" 0 pc_ptap root "$OTHER" recover --json
pt_assert_eq "other journal's actions" '[["destroy-orphan","othorph0"],["destroy-orphan","othorph1"]]' \
    "$(echo "$PT_OUT" | jq -c '[.records[] | [.action, .name]] | sort')"
pc_check root "$OTHER" "other journal"
pt_assert_rc "user's recover" 0 ptap_user recover --json
pt_assert_eq "user's actions" '[["destroy-orphan","usrorph0"]]' "$(echo "$PT_OUT" | jq -c '[.records[] | [.action, .name]] | sort')"
pc_check user "$PC_USER_STATE" "user journal"
pt_assert_eq "ours still intact" "$(printf '%s\n' keep0 keep1)" "$(pc_kernel_taps "$jid")"
pt_assert_eq "bare and hand-made taps still there" "bare0 hand0" \
    "$(pc_links | jq -r '[.[] | select(.ifname == "bare0" or .ifname == "hand0") | .ifname] | sort | join(" ")')"

# A user cannot recover root's journal, and root's recover never reaches
# into a user's journal (its taps carry the user's journal id).
pt_assert_rc "user recovers root's journal" 77 pc_ptap user "$PC_ROOT_STATE" recover
echo "ok: ptap recover"
