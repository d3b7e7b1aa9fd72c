#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The journal knows network namespaces (issue 11, item 1), for root, who
# may enter them. Tried before: 3 taps made with `ip netns exec A ptap
# create`, root's state directory shared (ip netns exec keeps /run/ptap);
# `ptap recover` run from namespace B closed all 3 records ("the tap no
# longer exists"), and recover then run in A destroyed the 3 live taps as
# orphans. Required: every record is judged in its own namespace, entered
# with setns, never from another; a namespace that no longer exists takes
# its taps with it (records close, nothing is destroyed); a tap moved to
# another namespace is followed, never lost.
#
# Every namespace here is private: B (the test's own) plays the host, A and
# C are the taps' namespaces. Looking for a moved tap, root's ptap reads
# the devices of every namespace it may enter (the host's too); it acts
# only in those of its records, and the host's devices are never touched.
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup netns
NS_B=$PC_NS
NS_A=ptaptest-nsA-$$
NS_C=ptaptest-nsC-$$
for ns in "$NS_A" "$NS_C"; do
    ip netns add "$ns"
    pt_cleanup_add ip netns del "$ns"
    ip -n "$ns" link set lo up
done
# in_ns NS CMD...: the test library's commands, run in NS instead of B.
in_ns() {
    local ns=$1
    shift
    PT_NS=$ns "$@"
}
has() { ip -n "$1" link show "$2" >/dev/null 2>&1; }
taps() { pt_marked_taps "$1" | xargs; }
live() { pc_live root "$PC_ROOT_STATE" | xargs; }
# rec NAME: the live record of NAME in `ptap list --json` (from B).
rec() { ptap_root list --json | jq -c --arg n "$1" '.records[] | select(.name == $n and .state != null)'; }

# ---- 3 taps made in A; recover from B, then from A ----------------------------
pt_assert_rc "create in A" 0 in_ns "$NS_A" ptap_root create 'nsa%d' --count 3
pt_assert_eq "the taps are in A" "nsa0 nsa1 nsa2" "$(taps "$NS_A")"
jid=$(pc_jid root "$PC_ROOT_STATE")
# B's own device of the same name, not a tap of any journal: never touched.
ip -n "$NS_B" tuntap add nsa0 mode tap
before_b=$(pt_links)
pt_assert_rc "recover --dry-run from B" 0 ptap_root recover --dry-run --json
pt_assert_eq "recover --dry-run from B plans nothing" "[]" "$(jq -c .records <<<"$PT_OUT")"
pt_assert_rc "recover from B" 0 ptap_root recover --json
pt_assert_eq "recover from B has nothing to do" "[]" "$(jq -c .records <<<"$PT_OUT")"
pt_assert_eq "the records live on after recover from B" "nsa0 nsa1 nsa2" "$(live)"
pt_assert_unchanged "B's device named nsa0" "$before_b"
pt_assert_rc "recover from A" 0 in_ns "$NS_A" ptap_root recover --json
pt_assert_eq "recover from A has nothing to do" "[]" "$(jq -c .records <<<"$PT_OUT")"
pt_assert_eq "the taps in A survived both" "nsa0 nsa1 nsa2" "$(taps "$NS_A")"
pt_ok "recover from B and from A keep the 3 records and the 3 taps"

# ---- list from B shows them in A, judged there ---------------------------------
list=$(ptap_root list --json)
pt_assert_json "list from B: each record in namespace A by name, its tap there" "$list" \
    '[.records[] | select(.netns.name == $a and (.netns.id | test("^[0-9]+:[0-9]+$"))
                   and .netns.current == false and .in_kernel == true and .problem == null)]
     | length == 3' --arg a "$NS_A"
pt_assert_json "list from A: the same records, current there" "$(in_ns "$NS_A" ptap_root list --json)" \
    '[.records[] | select(.netns.name == $a and .netns.current == true and .in_kernel == true)] | length == 3' \
    --arg a "$NS_A"
text=$(ptap_root list)
pt_assert_match "list's text shows the namespace" "nsa1 +ready .* $NS_A" "$text"
pt_ok "list shows each record's namespace and judges it there"

# ---- orphans of A are found from B and removed there ---------------------------
in_ns "$NS_A" pc_helper root create orphA --tag "$jid:op900" >/dev/null
pt_assert_rc "recover from B, an orphan in A" 0 ptap_root recover --json
pt_assert_json "the orphan in A is destroyed, in A" "$PT_OUT" \
    '(.records | length) == 1 and .records[0].action == "destroy-orphan" and .records[0].name == "orphA" and .records[0].netns.name == $a' \
    --arg a "$NS_A"
has "$NS_A" orphA && pt_fail "the orphan is still in A"
pt_assert_unchanged "B, while the helper ran in A" "$before_b"
pt_ok "recover from B runs the helper in A for A's taps"

# ---- destroy and forget from B --------------------------------------------------
pt_assert_rc "destroy from B of a tap in A" 0 ptap_root destroy nsa2
has "$NS_A" nsa2 && pt_fail "destroy from B left nsa2 in A"
pt_assert_eq "nsa2's record is closed" "nsa0 nsa1" "$(live)"
pt_assert_unchanged "B, while destroying in A" "$before_b"
# udev in B sees B's nsa0 removed and runs forget: A's nsa0 is not that device.
ip -n "$NS_B" link del nsa0
pt_assert_rc "forget nsa0 from B" 0 ptap_root forget nsa0
pt_assert_eq "forget from B keeps A's live nsa0" "nsa0 nsa1" "$(live)"
pt_assert_rc "forget nsa0 from A, its tap there" 64 in_ns "$NS_A" ptap_root forget nsa0
pt_ok "destroy and forget judge each record in its own namespace"

# ---- a tap moved to another namespace is followed --------------------------------
pt_assert_rc "create mv* in A" 0 in_ns "$NS_A" ptap_root create 'mv%d' --count 3
ip -n "$NS_A" link set mv0 netns "$NS_C"
pt_assert_rc "recover from B after a move" 0 ptap_root recover --json
pt_assert_json "recover follows mv0 to C" "$PT_OUT" \
    '(.records | length) == 1 and .records[0].action == "follow-netns" and .records[0].name == "mv0" and .records[0].netns.name == $c' \
    --arg c "$NS_C"
pt_assert_json "mv0's record is in C now" "$(rec mv0)" '.netns.name == $c and .in_kernel == true' \
    --arg c "$NS_C"
has "$NS_C" mv0 || pt_fail "mv0 is no longer in C"
# udev in A would see mv1 leave (a remove uevent): forget there follows it.
ip -n "$NS_A" link set mv1 netns "$NS_C"
pt_assert_rc "forget mv1 in A after its move" 0 in_ns "$NS_A" ptap_root forget mv1
pt_assert_json "forget followed mv1 to C" "$(rec mv1)" '.netns.name == $c' --arg c "$NS_C"
# Moved and renamed on the way: followed by its ifindex and its mark.
ip -n "$NS_A" link set mv2 netns "$NS_C"
ip -n "$NS_C" link set mv2 name mv2x
pt_assert_rc "recover after a move and a rename" 0 ptap_root recover --json
pt_assert_json "recover follows mv2 to C as mv2x" "$PT_OUT" \
    '(.records | length) == 1 and .records[0].action == "follow-netns" and .records[0].name == "mv2" and (.records[0].reason | test("mv2x"))'
pt_assert_json "mv2x's record is in C" "$(rec mv2x)" '.netns.name == $c and .in_kernel == true' \
    --arg c "$NS_C"
pt_assert_eq "the moved taps are all in C" "mv0 mv1 mv2x" "$(taps "$NS_C")"
pt_assert_rc "recover from C" 0 in_ns "$NS_C" ptap_root recover --json
pt_assert_eq "recover from C has nothing to do" "[]" "$(jq -c .records <<<"$PT_OUT")"
pt_ok "a tap moved to another namespace is followed, never destroyed"

# ---- the udev trigger run in B never closes A's record ---------------------------
# The built ptap-trigger on the paths it scans (/run/ptap, /run/user/*), in
# a private mount namespace with a tmpfs over both: the host's /run is
# never written.
T=$PC_TMP
sed -e "s|^PTAP=.*|PTAP=$PTAP_BIN|" "$PTAP_BUILD_DIR/udev/ptap-trigger" >"$T/ptap-trigger"
chmod 0755 "$T/ptap-trigger"
cat >"$T/trigger.sh" <<'SH'
set -eu
NS_A=$1 NS_B=$2 T=$3 PTAP=$4
mkdir -p /run/ptap && mount -t tmpfs -o mode=0755 tmpfs /run/ptap
[ ! -d /run/user ] || mount -t tmpfs -o mode=0755 tmpfs /run/user
# Root's journal at the trigger's path, its tap trg0 made in A.
ip netns exec "$NS_A" "$PTAP" --state-dir /run/ptap create trg0 >/dev/null
# B's own trg0 comes and goes: udev (in B) runs the trigger for it.
ip -n "$NS_B" tuntap add trg0 mode tap
ip -n "$NS_B" link del trg0
ip netns exec "$NS_B" "$T/ptap-trigger" net-remove trg0 2>"$T/trigger.err"
"$PTAP" --state-dir /run/ptap list --json >"$T/trigger.list"
# trg0 deleted in A, as udev never sees: recover (the unit's job) closes it.
ip -n "$NS_A" link del trg0
ip netns exec "$NS_B" "$PTAP" --state-dir /run/ptap recover --json >"$T/trigger.recover"
SH
pt_ns unshare -m --propagation private env PTAP_HELPER="$PC_HELPER" \
    bash "$T/trigger.sh" "$NS_A" "$NS_B" "$T" "$PTAP_BIN" ||
    pt_fail "the trigger scenario failed: $(cat "$T/trigger.err" 2>/dev/null)"
pt_assert_json "the trigger run in B for B's trg0 keeps A's record" "$(cat "$T/trigger.list")" \
    '[.records[] | select(.name == "trg0" and .state == "ready" and .in_kernel == true)] | length == 1'
pt_assert_json "recover from B closes trg0 once it is gone from A" "$(cat "$T/trigger.recover")" \
    '(.records | length) == 1 and .records[0].action == "close" and .records[0].name == "trg0"'
pt_ok "the udev trigger in B never closes a record of A"

# ---- records of the old format are of the namespace ptap runs in ----------------
OLD=$PC_TMP/old-state
pc_ptap root "$OLD" create old0 >/dev/null
# A record as ptap wrote it before it knew namespaces: no netns-* attributes.
sed -E 's/ netns-(dev|ino|name)="[^"]*"//g' "$OLD/journal.xml" |
    "$PT_PYTHON" "$PT_SOURCE_DIR/tests/data/journal/seal.py" >"$OLD/journal.new"
cat "$OLD/journal.new" >"$OLD/journal.xml" # same inode, owner and mode
grep -q netns "$OLD/journal.xml" && pt_fail "could not make an old-format journal"
pt_assert_rc "journal check of the old format" 0 pc_ptap root "$OLD" journal check
pt_assert_json "list: an old record has no namespace, judged where ptap runs" \
    "$(pc_ptap root "$OLD" list --json)" '.records[0].netns == null and .records[0].in_kernel == true'
pt_assert_rc "recover from B of an old record" 0 pc_ptap root "$OLD" recover --json
pt_assert_eq "nothing to do in B" "[]" "$(jq -c .records <<<"$PT_OUT")"
# From C the old record is C's: its tap is not there, it is found in B.
pt_assert_rc "recover from C of an old record" 0 in_ns "$NS_C" pc_ptap root "$OLD" recover --json
pt_assert_json "from C the tap is followed to B, never closed" "$PT_OUT" \
    '(.records | length) == 1 and .records[0].action == "follow-netns" and .records[0].netns.name == $b' --arg b "$NS_B"
has "$NS_B" old0 || pt_fail "old0 was removed"
pt_ok "an old-format record is judged in the namespace ptap runs in"

# ---- tap names are unique in a journal, across namespaces ------------------------
pt_assert_rc "create col%d in A" 0 in_ns "$NS_A" ptap_root create 'col%d'
before_b=$(pt_links)
# B's kernel picks col0 as well: recording it would replace A's record.
pt_assert_rc "create col%d in B" 64 ptap_root create 'col%d'
pt_assert_match "the refusal names the tap and A" "'col0'.*'$NS_A'" "$PT_ERR"
pt_assert_unchanged "nothing is left in B" "$before_b"
pt_assert_json "A's col0 keeps its record" "$(rec col0)" '.netns.name == $a and .in_kernel == true' \
    --arg a "$NS_A"
pt_assert_rc "destroy col0 from B" 0 ptap_root destroy col0
pt_ok "a template create never takes a name on record for another namespace"

# ---- release judges each record in its namespace ----------------------------------
pt_assert_rc "create rel0 in A" 0 in_ns "$NS_A" ptap_root create rel0
# rel0 attached to a guest that is gone, as the journal writes it.
seq=$(grep -o 'seq="[0-9]*"' "$PC_ROOT_STATE/journal.xml" | tr -dc '0-9\n' | sort -n | tail -1)
line=$(grep 'name="rel0" state="ready"' "$PC_ROOT_STATE/journal.xml" | tail -1)
echo "$line" | sed -e "s/seq=\"[0-9]*\"/seq=\"$((seq + 1))\"/" -e 's/state="ready"/state="attached" flags="ephemeral"/' \
    -e "s|/>\$|><consumer kind=\"qmp\" target=\"$PC_TMP/gone.qmp\" netdev=\"net-rel0\" device=\"dev-rel0\" model=\"virtio-net-pci\" mac=\"52:54:00:12:34:57\"/></tap>|" |
    "$PT_PYTHON" "$PT_SOURCE_DIR/tests/data/journal/seal.py" >>"$PC_ROOT_STATE/journal.xml"
pt_assert_rc "release from B" 0 ptap_root release "qmp:$PC_TMP/gone.qmp" --json
pt_assert_json "release destroys rel0 in A" "$PT_OUT" \
    '(.records | length) == 1 and .records[0].action == "release" and .records[0].name == "rel0" and .records[0].netns.name == $a' \
    --arg a "$NS_A"
has "$NS_A" rel0 && pt_fail "release from B left rel0 in A"
pt_assert_unchanged "B, while releasing in A" "$before_b"
pt_ok "release from B destroys a guest's tap in its own namespace"

# ---- ptap watch in B ----------------------------------------------------------------
pt_assert_rc "create wt* in A" 0 in_ns "$NS_A" ptap_root create 'wt%d' --count 2
ip -n "$NS_A" link del wt1 # before the watcher starts: its resync looks in A
WLOG=$PC_TMP/watch.log
ip netns exec "$NS_B" env PTAP_HELPER="$PC_HELPER" "$PTAP_BIN" --state-dir "$PC_ROOT_STATE" \
    watch -v 2>"$WLOG" &
WPID=$!
pt_cleanup_add pt_kill "$WPID"
for _ in $(seq 100); do
    grep -q "watching the journal" "$WLOG" && break
    sleep 0.05
done
grep -q "watching the journal" "$WLOG" || pt_fail "the watcher did not start: $(cat "$WLOG")"
pt_assert_match "the watcher's resync forgot wt1, deleted in A" "'wt1': the device was deleted" \
    "$(cat "$WLOG")"
# B's own wt0 comes and goes: the watcher sees it, A's wt0 is not that device.
ip -n "$NS_B" tuntap add wt0 mode tap
ip -n "$NS_B" link del wt0
for _ in $(seq 100); do
    grep -q "'wt0': its tap lives on" "$WLOG" && break
    sleep 0.05
done
grep -q "'wt0': its tap lives on in network namespace '$NS_A'" "$WLOG" ||
    pt_fail "the watcher did not leave wt0 alone: $(cat "$WLOG")"
pt_assert_json "wt0's record lives on" "$(rec wt0)" '.state == "ready" and .in_kernel == true'
[ -z "$(rec wt1)" ] || pt_fail "wt1's record is still live"
pt_kill "$WPID"
pt_assert_rc "destroy wt0" 0 ptap_root destroy wt0
pt_ok "ptap watch in B judges A's records in A"

# ---- namespace A deleted: its taps are gone, their records close -----------------
pt_assert_eq "A still holds nsa0 nsa1" "nsa0 nsa1" "$(taps "$NS_A")"
ip netns del "$NS_A"
PC_PTAP_HELPER=$(pc_logging_helper)
pt_assert_rc "recover from B after A is deleted" 0 ptap_root recover --json
# The kernel hands the inode number of a gone namespace out again: if a
# namespace made meanwhile took it, the records are judged there, where
# their taps are not ("close"); either way nothing is destroyed.
pt_assert_json "the records of A close, without a destroy" "$PT_OUT" \
    '[.records[] | select(.action == "netns-gone" or .action == "close") | .name] | sort == ["nsa0","nsa1"]
     and length == 2'
pt_assert_eq "no helper acted (the one started early was never told to go)" "destroy --wait --view:" \
    "$(cat "$PC_TMP/helper.log"):$(cat "$PC_TMP/helper.stdin")"
pt_assert_eq "the records of C live on" "mv0 mv1 mv2x" "$(live)"
PC_PTAP_HELPER=
pt_assert_rc "recover again" 0 ptap_root recover --json
pt_assert_eq "a second recover has nothing to do" "[]" "$(jq -c .records <<<"$PT_OUT")"
pt_ok "a deleted namespace closes its records on the next recover, from anywhere"
