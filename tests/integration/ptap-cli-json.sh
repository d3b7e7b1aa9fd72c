#!/usr/bin/env bash
# ptap --json names the journal: every object that create, list, journal
# dump, recover and release print carries "journal", the journal's id,
# equal to what the journal file's header and `ptap journal dump` say. A
# second journal's objects carry its own id. (attach and detach need a
# guest: tests/e2e/ptap-cli-json.sh.)
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup clijson
ip -n "$PC_NS" link add br0 type bridge

# header_id DIR: the id in the journal file's header, read without ptap.
header_id() {
    sed -n 's/^<ptap-journal [^>]*id="\([0-9a-f]*\)".*/\1/p' "$1/journal.xml" | head -1
}
# ids WHAT JSON ID: every object of the array JSON names journal ID, and
# there is at least one.
ids() {
    pt_assert_eq "$1: objects" true "$(echo "$2" | jq 'length > 0')"
    pt_assert_eq "$1: journal of every object" "[\"$3\"]" "$(echo "$2" | jq -c '[.[].journal] | unique')"
}

# ---- create ----------------------------------------------------------------
pt_assert_rc "create --json" 0 ptap_root create 'ptcj%d' --count 3 --bridge br0 --json
created=$PT_OUT
jid=$(header_id "$PC_ROOT_STATE")
[ ${#jid} -eq 16 ] || pt_fail "journal header id '$jid' is not 16 hex digits"
pt_assert_eq "journal dump names the same id" "$jid" "$(pc_jid root "$PC_ROOT_STATE")"
ids "create --json" "$created" "$jid"
pt_assert_eq "create --json: the taps made" '["ptcj0","ptcj1","ptcj2"]' "$(echo "$created" | jq -c '[.[].name]')"
pt_assert_eq "create --json: their records" '["ready","br0"]' \
    "$(echo "$created" | jq -c '[.[] | [.state, .bridge]] | unique | .[0]')"
for n in ptcj0 ptcj1 ptcj2; do
    pt_assert_eq "$n carries the journal's mark" "ptap:u0:$jid" \
        "$(pc_links | jq -r --arg n "$n" '.[] | select(.ifname == $n) | .ifalias' | cut -d: -f1-3)"
done

# ---- list, journal dump ------------------------------------------------------
# An orphan: a tap with this journal's mark and no record.
pc_helper root create ptcjorph --tag "$jid:op900" >/dev/null
pt_assert_rc "list --json" 0 ptap_root list --json
ids "list --json" "$PT_OUT" "$jid"
pt_assert_eq "list --json: the orphan names the journal of its mark" "$jid" \
    "$(echo "$PT_OUT" | jq -r '.[] | select(.name == "ptcjorph" and .state == null) | .journal')"
pt_assert_rc "journal dump --json" 0 ptap_root journal dump --json
ids "journal dump --json" "$PT_OUT" "$jid"
pt_assert_eq "journal dump --json: the records" '["ptcj0","ptcj1","ptcj2"]' "$(echo "$PT_OUT" | jq -c '[.[].name] | sort')"

# ---- recover -------------------------------------------------------------------
pt_assert_rc "recover --dry-run --json" 0 ptap_root recover --dry-run --json
ids "recover --dry-run --json" "$PT_OUT" "$jid"
pt_assert_rc "recover --json" 0 ptap_root recover --json
ids "recover --json" "$PT_OUT" "$jid"
pt_assert_eq "recover --json: the orphan" '[{"action":"destroy-orphan","name":"ptcjorph"}]' \
    "$(echo "$PT_OUT" | jq -c '[.[] | {action, name}]')"

# ---- release -------------------------------------------------------------------
# ptcj2 attached to a guest, as the journal writes it (sealed with its
# checksum): release closes it.
seq=$(grep -o 'seq="[0-9]*"' "$PC_ROOT_STATE/journal.xml" | tr -dc '0-9\n' | sort -n | tail -1)
line=$(grep 'name="ptcj2"' "$PC_ROOT_STATE/journal.xml" | tail -1)
echo "$line" | sed -e "s/seq=\"[0-9]*\"/seq=\"$((seq + 1))\"/" -e 's/state="ready"/state="attached" flags="ephemeral"/' \
    -e "s|/>\$|><consumer kind=\"qmp\" target=\"$PC_TMP/guest.qmp\" netdev=\"net-ptcj2\" device=\"dev-ptcj2\" model=\"virtio-net-pci\" mac=\"52:54:00:12:34:56\"/></tap>|" |
    "$PT_PYTHON" "$PT_SOURCE_DIR/tests/data/journal/seal.py" >>"$PC_ROOT_STATE/journal.xml"
pt_assert_rc "release --json" 0 ptap_root release "qmp:$PC_TMP/guest.qmp" --json
ids "release --json" "$PT_OUT" "$jid"
pt_assert_eq "release --json: the guest's tap" '[{"action":"release","name":"ptcj2"}]' \
    "$(echo "$PT_OUT" | jq -c '[.[] | {action, name}]')"

# ---- another journal: its own id -------------------------------------------------
pt_assert_rc "user create --json" 0 ptap_user create ptcju0 --json
ujid=$(header_id "$PC_USER_STATE")
[ "$ujid" != "$jid" ] || pt_fail "two journals share the id '$jid'"
pt_assert_eq "user journal dump names the same id" "$ujid" "$(pc_jid user "$PC_USER_STATE")"
ids "user create --json" "$PT_OUT" "$ujid"
pt_assert_rc "user list --json" 0 ptap_user list --json
ids "user list --json" "$PT_OUT" "$ujid"

# Nothing to say: still an empty array, no id to carry.
pt_assert_rc "recover --json, nothing to do" 0 ptap_root recover --json
pt_assert_eq "recover --json, nothing to do" "[]" "$(echo "$PT_OUT" | jq -c .)"

pt_assert_rc "destroy" 0 ptap_root destroy ptcj0 ptcj1
pt_assert_rc "user destroy" 0 ptap_user destroy ptcju0
pc_check root "$PC_ROOT_STATE" "end"
pc_check user "$PC_USER_STATE" "end (user)"
echo "ok: ptap --json names the journal"
