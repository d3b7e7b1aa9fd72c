#!/usr/bin/env bash
# ptap --json is a contract (ptap(1), JSON OUTPUT): every command prints
# exactly one JSON document on stdout, on success and on failure, and
# tests/data/json/ptap-v1.jq holds of it: {"version": 1, "command",
# "journal", ...}, taps as "records" of ONE shape (create, list, journal
# dump, destroy, forget, recover, release; orphans too, with nulls), a
# failure as "error": {"code": EXIT, "message"} with the message on stderr
# too. Every object about a tap names the journal: its id, equal to what
# the journal file's header and `ptap journal dump` say; a second journal's
# objects carry its own. (attach and detach with a guest:
# tests/e2e/ptap-cli-json.sh.)
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup clijson
ip -n "$PC_NS" link add br0 type bridge
SCHEMA=$PT_SOURCE_DIR/tests/data/json/ptap-v1.jq

# header_id DIR: the id in the journal file's header, read without ptap.
header_id() {
    sed -n 's/^<ptap-journal [^>]*id="\([0-9a-f]*\)".*/\1/p' "$1/journal.xml" | head -1
}

# doc WHAT RC CMD...: CMD exits RC and prints one JSON document that keeps
# the contract; a failure (RC other than 0 and 1) carries the error object
# with that code, and its message is on stderr too; else there is none.
# Leaves the document in PT_OUT.
doc() {
    local what=$1 rc=$2
    shift 2
    pt_assert_rc "$what" "$rc" "$@"
    pt_assert_eq "$what: one JSON document" 1 "$(jq -s length <<<"$PT_OUT")"
    jq -e -f "$SCHEMA" <<<"$PT_OUT" >/dev/null || pt_fail "$what: breaks the JSON contract: $PT_OUT"
    if [ "$rc" -gt 1 ]; then
        pt_assert_eq "$what: error code" "$rc" "$(jq -r .error.code <<<"$PT_OUT")"
        grep -qF -- "$(jq -r .error.message <<<"$PT_OUT")" <<<"$PT_ERR" ||
            pt_fail "$what: the error message is not on stderr: $PT_OUT / $PT_ERR"
    else
        pt_assert_eq "$what: no error object" false "$(jq 'has("error")' <<<"$PT_OUT")"
    fi
}
# ids WHAT ID: every record of the document in PT_OUT names journal ID, as
# does the document, and there is at least one.
ids() {
    pt_assert_eq "$1: records" true "$(jq '.records | length > 0' <<<"$PT_OUT")"
    pt_assert_eq "$1: journal of the document and of every record" "[\"$2\"]" \
        "$(jq -c '[.journal, .records[].journal] | unique' <<<"$PT_OUT")"
}
# keys: the record keys of the document in PT_OUT (recover's action keys aside).
keys() { jq -c '[.records[] | del(.action, .reason, .done, .state_before) | keys] | unique' <<<"$PT_OUT"; }

# ---- create ----------------------------------------------------------------
doc "create --json" 0 ptap_root create 'ptcj%d' --count 3 --bridge br0 --json
jid=$(header_id "$PC_ROOT_STATE")
[ ${#jid} -eq 16 ] || pt_fail "journal header id '$jid' is not 16 hex digits"
pt_assert_eq "journal dump names the same id" "$jid" "$(pc_jid root "$PC_ROOT_STATE")"
ids "create --json" "$jid"
KEYS=$(keys)
pt_assert_eq "one record shape" 1 "$(jq length <<<"$KEYS")"
pt_assert_eq "create --json: the taps made" '["ptcj0","ptcj1","ptcj2"]' "$(jq -c '[.records[].name]' <<<"$PT_OUT")"
pt_assert_eq "create --json: their records, with the kernel's facts" '[["ready","br0",1500,true,"root",0]]' \
    "$(jq -c '[.records[] | [.state, .bridge, .mtu, .in_kernel, .owner, .uid]] | unique' <<<"$PT_OUT")"
for n in ptcj0 ptcj1 ptcj2; do
    pt_assert_eq "$n carries the journal's mark" "ptap:u0:$jid" \
        "$(pc_links | jq -r --arg n "$n" '.[] | select(.ifname == $n) | .ifalias' | cut -d: -f1-3)"
done
doc "create, --bridge twice" 64 ptap_root create ptcjx --bridge br0 --bridge br1 --json
doc "create on a bridge that is not there" 64 ptap_root create ptcjx --bridge nobr0 --json

# ---- list, journal dump ------------------------------------------------------
doc "list --json, no problem" 0 ptap_root list --json
ids "list --json" "$jid"
pt_assert_eq "list: the same record shape as create" "$KEYS" "$(keys)"
pt_assert_eq "list: no problem" 0 "$(jq .problems <<<"$PT_OUT")"
# An orphan: a tap with this journal's mark and no record. list exits 1:
# there is a problem to see.
pc_helper root create ptcjorph --tag "$jid:op900" >/dev/null
doc "list --json, an orphan" 1 ptap_root list --json
ids "list --json" "$jid"
pt_assert_eq "list: an orphan has the record's shape" "$KEYS" "$(keys)"
pt_assert_eq "list --json: the orphan, its problem counted" '[["ptcjorph",null,true,"root",0]],1' \
    "$(jq -c '[.records[] | select(.problem != null) | [.name, .state, .in_kernel, .owner, .uid]], .problems' <<<"$PT_OUT" | paste -sd,)"
pt_assert_eq "list --json: sorted by name" '["ptcj0","ptcj1","ptcj2","ptcjorph"]' "$(jq -c '[.records[].name]' <<<"$PT_OUT")"
doc "journal dump --json" 0 ptap_root journal dump --json
ids "journal dump --json" "$jid"
pt_assert_eq "journal dump: the same record shape" "$KEYS" "$(keys)"
pt_assert_eq "journal dump --json: the records" '["ptcj0","ptcj1","ptcj2"]' "$(jq -c '[.records[].name] | sort' <<<"$PT_OUT")"
pt_assert_rc "journal dump (text)" 0 ptap_root journal dump
pt_assert_match "journal dump: the owner by name, the uid beside" "owner: +root \(uid 0\)" "$PT_OUT"
doc "journal check --json" 0 ptap_root journal check --json
pt_assert_eq "journal check --json" '[true,3,"journal check"]' "$(jq -c '[.valid, .live_records, .command]' <<<"$PT_OUT")"

# The text: a header for every column, PROBLEM among them, sorted rows,
# names for owner and group, exit 1 while a problem is listed.
pt_assert_rc "list (text), an orphan" 1 ptap_root list
pt_assert_match "list: the header" '^NAME +STATE +OWNER +GROUP +BRIDGE +NETWORK +MTU +QUEUES +MAC +GUEST-MAC +KERNEL +CARRIER +NETNS +CONSUMER +PROBLEM$' \
    "$(head -1 <<<"$PT_OUT")"
pt_assert_eq "list: sorted rows" "ptcj0 ptcj1 ptcj2 ptcjorph" "$(sed 1d <<<"$PT_OUT" | awk '{print $1}' | paste -sd' ')"
pt_assert_match "list: a ready tap, by name" '^ptcj0 +ready +root +- +br0 +- +1500 +1 +- +- +yes +no +[^ ]+ +- +-$' \
    "$(grep '^ptcj0 ' <<<"$PT_OUT")"
pt_assert_match "list: the orphan's problem" "^ptcjorph +orphan +root .* orphan: no record" "$(grep '^ptcjorph ' <<<"$PT_OUT")"

# ---- recover -------------------------------------------------------------------
doc "recover --dry-run --json" 0 ptap_root recover --dry-run --json
ids "recover --dry-run --json" "$jid"
pt_assert_eq "recover --dry-run: the orphan, as list shows it" '[["destroy-orphan","ptcjorph",false,null]]' \
    "$(jq -c '[.records[] | [.action, .name, .done, .state]]' <<<"$PT_OUT")"
pt_assert_eq "recover: the record shape" "$KEYS" "$(keys)"
doc "recover --json" 0 ptap_root recover --json
ids "recover --json" "$jid"
pt_assert_eq "recover --json: the orphan" '[{"action":"destroy-orphan","name":"ptcjorph"}]' \
    "$(jq -c '[.records[] | {action, name}]' <<<"$PT_OUT")"
doc "list --json after recover" 0 ptap_root list --json

# ---- release -------------------------------------------------------------------
# ptcj2 attached to a guest, as the journal writes it (sealed with its
# checksum): release closes it.
seq=$(grep -o 'seq="[0-9]*"' "$PC_ROOT_STATE/journal.xml" | tr -dc '0-9\n' | sort -n | tail -1)
line=$(grep 'name="ptcj2"' "$PC_ROOT_STATE/journal.xml" | tail -1)
echo "$line" | sed -e "s/seq=\"[0-9]*\"/seq=\"$((seq + 1))\"/" -e 's/state="ready"/state="attached" flags="ephemeral"/' \
    -e "s|/>\$|><consumer kind=\"qmp\" target=\"$PC_TMP/guest.qmp\" netdev=\"net-ptcj2\" device=\"dev-ptcj2\" model=\"virtio-net-pci\" mac=\"52:54:00:12:34:56\"/></tap>|" |
    "$PT_PYTHON" "$PT_SOURCE_DIR/tests/data/journal/seal.py" >>"$PC_ROOT_STATE/journal.xml"
doc "list --json, an attached record" 1 ptap_root list --json
pt_assert_eq "the consumer: its target as TARGET names it, the guest's MAC" \
    "[\"qmp\",\"qmp:$PC_TMP/guest.qmp\",\"52:54:00:12:34:56\",null]" \
    "$(jq -c '.records[] | select(.name == "ptcj2") | [.consumer.kind, .consumer.target, .consumer.mac, .mac]' <<<"$PT_OUT")"
pt_assert_rc "list (text), an attached record without carrier" 1 ptap_root list
pt_assert_match "list: the guest's MAC in its own column" \
    "^ptcj2 +attached +root +- +br0 +- +1500 +1 +- +52:54:00:12:34:56 +yes +no .* qmp:$PC_TMP/guest.qmp/dev-ptcj2 +attached but no carrier" \
    "$(grep '^ptcj2 ' <<<"$PT_OUT")"
doc "release --json" 0 ptap_root release "qmp:$PC_TMP/guest.qmp" --json
ids "release --json" "$jid"
pt_assert_eq "release --json: the guest's tap, destroyed" '[{"action":"release","name":"ptcj2","state":"destroyed","state_before":"attached"}]' \
    "$(jq -c '[.records[] | {action, name, state, state_before}]' <<<"$PT_OUT")"
doc "release, an unknown scheme" 64 ptap_root release "foo:$PC_TMP/guest.qmp" --json
# The hook's form: with --uuid the name is not matched, any domain's will do.
doc "release --uuid, a name that looks like a scheme" 0 \
    ptap_root release "db:1" --uuid 5f1e0f6e-0000-4000-8000-000000000001 --connect qemu:///system --json
pt_assert_eq "release --uuid of a guest with no taps" "[]" "$(jq -c .records <<<"$PT_OUT")"

# ---- attach, detach without a guest: errors ------------------------------------
doc "attach, no such socket" 69 ptap_root attach "qmp:$PC_TMP/none.qmp" --bridge br0 --json
doc "attach, an unknown TARGET scheme" 64 ptap_root attach "foo:$PC_TMP/x" --bridge br0 --json
pt_assert_match "attach, an unknown TARGET scheme: why" "unknown TARGET scheme 'foo:'" "$PT_ERR"
doc "detach, no NIC named" 64 ptap_root detach "qmp:$PC_TMP/none.qmp" --json
doc "detach, an unknown TARGET scheme" 64 ptap_root detach "unix:/x" --tap ptcj0 --json

# ---- destroy, forget, journal compact -------------------------------------------
doc "destroy --json" 0 ptap_root destroy ptcj0 --json
ids "destroy --json" "$jid"
pt_assert_eq "destroy --json: the record, destroyed" '[["ptcj0","destroyed"]]' "$(jq -c '[.records[] | [.name, .state]]' <<<"$PT_OUT")"
pt_assert_eq "destroy: the record shape" "$KEYS" "$(keys)"
doc "destroy, not on record" 64 ptap_root destroy ptcjnone --json
# forget of a tap gone behind ptap's back (what udev runs).
pc_ns ip link del ptcj1
doc "forget --json" 0 ptap_root forget ptcj1 --json
ids "forget --json" "$jid"
pt_assert_eq "forget --json: the record closed, counted" '[["ptcj1","destroyed"]],1' \
    "$(jq -c '[.records[] | [.name, .state]], .forgotten' <<<"$PT_OUT" | paste -sd,)"
doc "journal compact --json" 0 ptap_root journal compact --json
pt_assert_eq "journal compact --json" '["journal compact",0]' "$(jq -c '[.command, .live_records]' <<<"$PT_OUT")"

# ---- usage errors, refusals: still one document -----------------------------------
doc "an unknown command" 64 ptap_root --json frobnicate
pt_assert_eq "an unknown command: no command" null "$(jq .command <<<"$PT_OUT")"
doc "an unknown option" 64 ptap_root list --bogus --json
doc "--json twice" 64 ptap_root list --json --json
doc "watch --json" 64 ptap_root watch --json
doc "journal, no subcommand" 64 ptap_root journal --json
mkdir "$PC_TMP/bad"
echo '<ptap-journal version="9" id="0123456789abcdef" next-seq="1">' >"$PC_TMP/bad/journal.xml"
doc "list of a journal of an unknown version" 78 pc_ptap root "$PC_TMP/bad" list --json
doc "journal check of it" 78 pc_ptap root "$PC_TMP/bad" journal check --json

# ---- another journal: its own id -------------------------------------------------
doc "user create --json" 0 ptap_user create ptcju0 --json
ujid=$(header_id "$PC_USER_STATE")
[ "$ujid" != "$jid" ] || pt_fail "two journals share the id '$jid'"
pt_assert_eq "user journal dump names the same id" "$ujid" "$(pc_jid user "$PC_USER_STATE")"
ids "user create --json" "$ujid"
pt_assert_eq "user create: the owner by name and number" "[\"$PC_USER\",$PC_UID]" "$(jq -c '.records[0] | [.owner, .uid]' <<<"$PT_OUT")"
doc "user list --json" 0 ptap_user list --json
ids "user list --json" "$ujid"
pc_policy "allow user $PC_USER bridge none max 64"
doc "user create, bridge denied" 77 ptap_user create ptcju1 --bridge br0 --json

# Nothing to do: no records; said on a terminal, silent in a pipe.
doc "recover --json, nothing to do" 0 ptap_root recover --json
pt_assert_eq "recover --json, nothing to do" "[]" "$(jq -c .records <<<"$PT_OUT")"
pt_assert_rc "recover, nothing to do, in a pipe" 0 ptap_root recover
pt_assert_eq "recover, nothing to do, in a pipe: silent" "" "$PT_OUT"
pt_assert_rc "recover, nothing to do, on a terminal" 0 script -qec "$(printf '%q ' ip netns exec "$PC_NS" "$PTAP_BIN" --state-dir "$PC_ROOT_STATE" recover)" /dev/null
pt_assert_match "recover on a terminal says so" "nothing to do" "$PT_OUT"

pt_assert_rc "user destroy" 0 ptap_user destroy ptcju0
pc_check root "$PC_ROOT_STATE" "end"
pc_check user "$PC_USER_STATE" "end (user)"
echo "ok: ptap --json is one document of one shape, naming the journal"
