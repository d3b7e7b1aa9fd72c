#!/usr/bin/env bash
# Running out of space (issue 11 item 6): the state directory on a small
# tmpfs (size=), mounted in a private mount namespace of this test only.
#  1. The journal fills its file system (create/destroy rounds until a
#     create fails for lack of space), with an interrupted destroy of 20
#     taps and an interrupted create on record: `ptap journal compact` and
#     `ptap recover` still work (the space reserve, journal.reserve, is
#     given back to the file system for them), and the reserve is made
#     again when there is room.
#  2. A fixed-name create that runs out of space after its helper made the
#     tap (a stand-in helper fills the file system) fails, and leaves the
#     name usable: the next `ptap create NAME` succeeds (never "already on
#     record", 64); also when the create died before it could close its
#     intent (the next create closes the dead intent itself), and when the
#     helper refuses (a bridge that does not exist).
if [ -z "${PTAP_ENOSPC_MNTNS:-}" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (mount namespaces)" >&2; exit 77; }
    command -v unshare >/dev/null || { echo "SKIP: 'unshare' is not installed" >&2; exit 77; }
    PTAP_ENOSPC_MNTNS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup jfull

T=$PC_TMP/small
mkdir -m 0755 "$T"
mount -t tmpfs -o size=512k,mode=0755 ptaptest-small "$T"
pt_cleanup_add umount -l "$T"
S=$T/state
P() { pc_ptap root "$S" "$@"; }
fill() { dd if=/dev/zero of="$T/filler" bs=64k >/dev/null 2>&1 || true; }
unfill() { rm -f "$T/filler"; }
free_kb() { df -k --output=avail "$T" | tail -1 | tr -d ' '; }

P create 'keep%d' --count 2 >/dev/null
[ -f "$S/journal.reserve" ] || pt_fail "no space reserve in the state directory"
[ "$(stat -c %s "$S/journal.reserve")" -ge 262144 ] || pt_fail "the reserve is smaller than 256 KiB"

# ---- 1. the journal fills its file system ------------------------------------------
P create 'fd%d' --count 20 >/dev/null
rc=0
PTAP_FAULT=destroy-after-intent P destroy $(seq -f 'fd%g' 0 19) >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 137 ] || pt_skip "'$PTAP_BIN' has no fault points (destroy exited $rc): configure with -DPTAP_FAULT_INJECTION=ON"
rc=0
PTAP_FAULT=create-after-helper P create 'fc%d' --count 3 >/dev/null 2>&1 || rc=$?
pt_assert_eq "create killed after its helper" 137 "$rc"
pc_wait_helpers

# The journal compacts itself long before it could fill 512 KiB (at
# 4 x live + 256 records): a pad leaves it 112 KiB of room to run out of.
dd if=/dev/zero of="$T/pad" bs=1k count=$(($(free_kb) - 112)) >/dev/null 2>&1 ||
    pt_fail "cannot pad the small file system"
full=
for ((round = 0; round < 200; round++)); do
    rc=0
    P create "g${round}x%d" --count 30 >"$PC_TMP/out" 2>"$PC_TMP/err" || rc=$?
    [ "$rc" -eq 0 ] && { P destroy $(cat "$PC_TMP/out") 2>"$PC_TMP/err" >/dev/null || rc=$?; }
    if [ "$rc" -ne 0 ]; then
        grep -q "No space left on device" "$PC_TMP/err" ||
            pt_fail "round $round: failed ($rc) for another reason: $(cat "$PC_TMP/err")"
        full=$round
        break
    fi
done
[ -n "$full" ] || pt_fail "the journal never filled its file system"
pt_ok "the journal filled its file system after $full rounds ($(free_kb) KiB left, $(stat -c %s "$S/journal.xml") bytes of journal)"
rm -f "$T/pad"
pc_wait_helpers
[ -f "$S/journal.reserve" ] || pt_fail "the reserve was spent by ordinary commands"
# Readers need no room.
rc=0
out=$(P list --json) || rc=$?
pt_assert_eq "list on a full file system: exit 1 exactly when it lists a problem" \
    "$(jq 'if .problems > 0 then 1 else 0 end' <<<"$out")" "$rc"
pt_assert_rc "journal check on a full file system" 0 P journal check

# Not a byte left: compaction has the reserve's room for its copy.
fill
pt_assert_eq "the file system is full" 0 "$(free_kb)"
pt_assert_rc "journal compact on a full file system" 0 P journal compact
pt_assert_eq "journal compact left one line per live record" \
    "$(P list --json | jq '[.records[] | select(.state != null)] | length')" "$(grep -c '<tap ' "$S/journal.xml")"
fill
pt_assert_eq "the file system is full again" 0 "$(free_kb)"
pt_assert_rc "recover on a full file system" 0 P recover --json
# (The round that ran out of space may have left a destroy to complete too.)
pt_assert_json "recover completed the destroy of fd0..fd19 and rolled back fc%d" "$PT_OUT" \
    '([.records[] | select(.action == "complete-destroy" and (.name | startswith("fd")))] | length) == 20
     and any(.records[]; .action == "rollback-create" and .name == "fc%d")
     and all(.records[]; .action == "complete-destroy" or .action == "rollback-create")' 
pt_assert_eq "what is left on record: no fd, no fc" '["keep0","keep1"]' \
    "$(P list --json | jq -c '[.records[] | select(.state != null) | .name | select(startswith("g") | not)] | sort')"
unfill
pc_check root "$S" "after recovering on a full file system"
[ -f "$S/journal.reserve" ] && [ "$(stat -c %s "$S/journal.reserve")" -ge 262144 ] ||
    pt_fail "the reserve was not made again once there was room"
pt_ok "compact and recover worked on a full file system; the reserve is back"

# ---- 2. a fixed name stays usable after a failed create --------------------------------
# A stand-in helper: the real helper, then (for a create) the file system
# filled, so that the create's outcome cannot be written.
cat >"$PC_TMP/fill-helper" <<'SH'
#!/bin/sh
"$REAL" "$@"
rc=$?
[ "$1" = create ] && dd if=/dev/zero of="$FILL" bs=64k >/dev/null 2>&1
exit $rc
SH
chmod 0755 "$PC_TMP/fill-helper"

# `ptap create solo` whose outcome cannot be written. (A tmpfs allocates
# whole pages: the journal's last page may still hold the outcome. Then
# undo and try again: the journal has grown meanwhile.)
for ((try = 0; try < 40; try++)); do
    rc=0
    PC_PTAP_HELPER=$PC_TMP/fill-helper
    PC_ENV=(REAL="$PC_HELPER" FILL="$T/filler")
    P create solo >"$PC_TMP/out" 2>"$PC_TMP/err" || rc=$?
    PC_PTAP_HELPER=
    PC_ENV=()
    unfill
    [ "$rc" -ne 0 ] && break
    P destroy solo >/dev/null
done
[ "$rc" -ne 0 ] || pt_fail "a create that runs out of space after its helper never failed"
grep -q "No space left on device" "$PC_TMP/err" || pt_fail "the failed create: $(cat "$PC_TMP/err")"
pt_ok "a create of 'solo' ran out of space after its helper (try $try)"
pt_assert_eq "the failed create left no tap" "" "$(pc_links | jq -r '.[] | select(.ifname == "solo") | .ifname')"
pt_assert_eq "the failed create closed its record" "[]" \
    "$(P list --json | jq -c '[.records[] | select(.name == "solo")]')"
pt_assert_rc "create of the same name after a failed create" 0 P create solo
pt_assert_eq "the new tap" solo "$PT_OUT"
P destroy solo >/dev/null

# A create that died before it could close its intent (its helper
# refused: nothing made): the next create of the name sees the intent is
# dead and closes it in the same append as its own.
rc=0
PTAP_FAULT=create-after-helper P create solo --bridge nosuchbr0 >/dev/null 2>&1 || rc=$?
pt_assert_eq "create killed after its helper refused" 137 "$rc"
pt_assert_eq "its intent is still open" '["creating"]' \
    "$(P list --json | jq -c '[.records[] | select(.name == "solo") | .state]')"
pt_assert_rc "create of the same name after a dead create" 0 P create solo
pt_assert_eq "the new tap" solo "$PT_OUT"
pt_assert_eq "solo is on record once, ready" '["ready"]' \
    "$(P list --json | jq -c '[.records[] | select(.name == "solo") | .state]')"
pc_check root "$S" "after a dead create's name was reused"
P destroy solo >/dev/null

# An intent whose tap is still there keeps the name: that is recover's.
rc=0
PTAP_FAULT=create-after-helper P create solo >/dev/null 2>&1 || rc=$?
pt_assert_eq "create killed after its helper" 137 "$rc"
pc_wait_helpers
pt_assert_rc "create of a name an interrupted create made" 64 P create solo
grep -q "already on record (an interrupted create made it: run 'ptap recover')" <<<"$PT_ERR" ||
    pt_fail "the refusal does not say what to do: $PT_ERR"
P recover >/dev/null

# The helper refuses: the name is usable at once.
pt_assert_rc "create on a bridge that does not exist" 64 P create solo --bridge nosuchbr0
pt_assert_rc "create of the same name after the helper refused" 0 P create solo
P destroy $(pc_live root "$S") >/dev/null
pc_check root "$S" "end"
echo "ok: compact and recover on a full file system; a failed create leaves its name usable"
