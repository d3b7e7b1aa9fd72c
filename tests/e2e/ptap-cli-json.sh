#!/usr/bin/env bash
# ptap attach/detach --json keep the JSON contract (ptap(1), JSON OUTPUT;
# tests/data/json/ptap-v1.jq), against a real QEMU guest: one document,
# the tap as THE record (the same keys as list's), its consumer's target
# as TARGET names it (qmp:PATH), the guest's MAC in consumer.mac; the
# "journal" of the document and of the record equal the id in the
# journal file's header and in `ptap journal dump`, and list's record of
# the attached tap carries it too; a failure is one error document (the
# rest: tests/integration/ptap-cli-json.sh).
set -eu
. "$PTAP_SOURCE_DIR/tests/e2e/lib/attach.sh"
attach_setup cj
T="qmp:$PTAP_GUEST_QMP"
SCHEMA=$PTAP_SOURCE_DIR/tests/data/json/ptap-v1.jq

# contract WHAT JSON: one document that keeps the contract.
contract() {
    [ "$(jq -s length <<<"$2")" = 1 ] || pt_fail "$1: not one JSON document: $2"
    jq -e -f "$SCHEMA" <<<"$2" >/dev/null || pt_fail "$1: breaks the JSON contract: $2"
}
keys() { jq -c '[.records[] | keys] | unique' <<<"$1"; }

m=$(ptap_guest_mark)
out=$(P attach "$T" --bridge br0 --json) || pt_fail "attach failed"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw eth0"
contract "attach --json" "$out"
jid=$(sed -n 's/^<ptap-journal [^>]*id="\([0-9a-f]*\)".*/\1/p' "$SD/journal.xml" | head -1)
[ ${#jid} -eq 16 ] || pt_fail "journal header id '$jid' is not 16 hex digits"
dump=$(P journal dump | sed -n 's/^journal .* (id \([0-9a-f]*\)):.*/\1/p')
[ "$dump" = "$jid" ] || pt_fail "journal dump says id '$dump', the header '$jid'"
[ "$(jq -c '[.journal, .records[].journal] | unique' <<<"$out")" = "[\"$jid\"]" ] ||
    pt_fail "attach --json does not name journal '$jid': $out"
tap=$(pt_jq "$out" .records[0].name)
pt_assert_json "attach --json: the attached record, its consumer as TARGET names it" "$out" \
    '.command == "attach" and (.records | length) == 1 and .records[0].state == "attached"
     and .records[0].consumer.kind == "qmp" and .records[0].consumer.target == $t
     and (.records[0].consumer.mac | test("^52:54:00:")) and .records[0].in_kernel == true
     and .records[0].mtu == 1500 and .records[0].owner == $q' --arg t "$T" --arg q "$QUSER"
list=$(P list --json) || pt_fail "list failed: $list"
contract "list --json" "$list"
[ "$(pt_jq "$list" '[.records[] | select(.name == $t and .state == "attached") | .journal][0]' --arg t "$tap")" = "$jid" ] ||
    pt_fail "list --json: the attached record does not name journal '$jid': $list"
[ "$(keys "$out")" = "$(keys "$list")" ] || pt_fail "attach and list print records of different shapes: $out / $list"
[ "$(pt_jq "$out" '.records[0].consumer')" = "$(pt_jq "$list" '.records[0].consumer')" ] ||
    pt_fail "attach and list describe the consumer differently"
pt_assert_match "list: the guest's MAC" "^$tap +attached +$QUSER .* $(pt_jq "$out" .records[0].consumer.mac) +yes +yes " \
    "$(P list | grep "^$tap ")"

# A failure: one error document, the message on stderr too.
pt_assert_rc "attach --tap of a tap not on record" 64 P attach "$T" --tap nosuchtap0 --json
contract "attach, refused" "$PT_OUT"
pt_assert_json "attach, refused: the error" "$PT_OUT" '.error.code == 64 and (.records | not)'
grep -qF -- "$(pt_jq "$PT_OUT" .error.message)" <<<"$PT_ERR" || pt_fail "the error message is not on stderr: $PT_ERR"

m=$(ptap_guest_mark)
out=$(P detach "$T" --tap "$tap" --json) || pt_fail "detach failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists eth0"
contract "detach --json" "$out"
[ "$(jq -c '[.journal, .records[].journal] | unique' <<<"$out")" = "[\"$jid\"]" ] ||
    pt_fail "detach --json does not name journal '$jid': $out"
pt_assert_json "detach --json: the record, destroyed, the tap not kept" "$out" \
    '.records[0].name == $t and .records[0].state == "destroyed" and .tap_kept == false' --arg t "$tap"
[ -z "$(taps_in_ns)" ] || pt_fail "taps left: $(taps_in_ns)"
[ "$(P list --json | jq -c .records)" = "[]" ] || pt_fail "records left"
pt_ok "attach and detach --json keep the contract and name the journal"
