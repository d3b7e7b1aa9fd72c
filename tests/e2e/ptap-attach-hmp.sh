#!/usr/bin/env bash
# ptap attach/detach through QEMU 7.2's human monitor (new dialect:
# netdev_add/device_add, removal polled): the guest sees the NIC and
# pings, detach removes it, --keep-tap keeps the tap.
set -eu
. "$PTAP_SOURCE_DIR/tests/e2e/lib/attach.sh"
attach_setup ah
T="hmp:$PTAP_GUEST_HMP"

m=$(ptap_guest_mark)
out=$(P attach "$T" --bridge br0 --json) || pt_fail "attach over HMP failed"
tap=$(pt_jq "$out" .records[0].name)
kind=$(pt_jq "$(P list --json)" '.records[0].consumer.kind')
[ "$kind" = hmp ] || pt_fail "consumer kind '$kind', expected hmp (new dialect)"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw eth0"
ptap_guest_link_check "$NS" eth0 10.9.0.2 10.9.0.1 || pt_fail "no traffic between guest and host"
assert_consistent

m=$(ptap_guest_mark)
P detach "$T" --tap "$tap" --keep-tap >/dev/null || pt_fail "detach --keep-tap over HMP failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists eth0"
st=$(pt_jq "$(P list --json)" '.records[0].state')
[ "$st" = ready ] || pt_fail "kept tap state '$st'"
m=$(ptap_guest_mark)
P attach "$T" --tap "$tap" >/dev/null || pt_fail "re-attach over HMP failed"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw the re-attached NIC"
m=$(ptap_guest_mark)
P detach "$T" --tap "$tap" >/dev/null || pt_fail "detach over HMP failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "NIC not removed"
[ -z "$(taps_in_ns)" ] || pt_fail "taps left: $(taps_in_ns)"
[ "$(P list --json | jq -c .records)" = "[]" ] || pt_fail "records left"
echo PASS
