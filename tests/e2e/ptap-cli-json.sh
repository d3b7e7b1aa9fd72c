#!/usr/bin/env bash
# ptap attach/detach --json name the journal, against a real QEMU guest:
# the "journal" key of what they print equals the id in the journal
# file's header and in `ptap journal dump`, and the records list prints
# for the attached tap carry it too (the rest: tests/integration/ptap-cli-json.sh).
set -eu
. "$PTAP_SOURCE_DIR/tests/e2e/lib/attach.sh"
attach_setup cj
T="qmp:$PTAP_GUEST_QMP"

m=$(ptap_guest_mark)
out=$(P attach "$T" --bridge br0 --json) || pt_fail "attach failed"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw eth0"
jid=$(sed -n 's/^<ptap-journal [^>]*id="\([0-9a-f]*\)".*/\1/p' "$SD/journal.xml" | head -1)
[ ${#jid} -eq 16 ] || pt_fail "journal header id '$jid' is not 16 hex digits"
dump=$(P journal dump | sed -n 's/^journal .* (id \([0-9a-f]*\)):.*/\1/p')
[ "$dump" = "$jid" ] || pt_fail "journal dump says id '$dump', the header '$jid'"
[ "$(echo "$out" | jq -r .journal)" = "$jid" ] || pt_fail "attach --json names journal '$(echo "$out" | jq -r .journal)', not '$jid': $out"
tap=$(echo "$out" | jq -r .tap)
[ "$(P list --json | jq -r --arg t "$tap" '.[] | select(.name == $t and .state == "attached") | .journal')" = "$jid" ] ||
    pt_fail "list --json: the attached record does not name journal '$jid': $(P list --json)"

m=$(ptap_guest_mark)
out=$(P detach "$T" --tap "$tap" --json) || pt_fail "detach failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists eth0"
[ "$(echo "$out" | jq -r .journal)" = "$jid" ] || pt_fail "detach --json names journal '$(echo "$out" | jq -r .journal)', not '$jid': $out"
[ "$(echo "$out" | jq -r '[.tap, .tap_kept] | join(" ")')" = "$tap false" ] || pt_fail "detach --json: $out"
[ -z "$(taps_in_ns)" ] || pt_fail "taps left: $(taps_in_ns)"
[ "$(P list --json)" = "[]" ] || pt_fail "records left"
pt_ok "attach and detach --json name the journal"
