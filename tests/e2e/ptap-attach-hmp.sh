#!/usr/bin/env bash
# ptap attach/detach through QEMU 7.2's human monitor (new dialect:
# netdev_add/device_add, removal polled): the guest sees the NIC and
# pings, detach removes it, --keep-tap keeps the tap.
set -eu
. "$PTAP_SOURCE_DIR/tests/e2e/lib/attach.sh"
attach_setup ah
T="hmp:$PTAP_GUEST_HMP"

m=$(ptap_guest_mark)
out=$(P attach "$T" --bridge br0 --json) || fail "attach over HMP failed"
tap=$(jq_get "$out" 'd["tap"]')
kind=$(jq_get "$(P list --json)" 'd[0]["consumer"]["kind"]')
[ "$kind" = hmp ] || fail "consumer kind '$kind', expected hmp (new dialect)"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || fail "guest never saw eth0"
ptap_guest_cmd "ip addr add 10.9.0.2/24 dev eth0 && ip link set eth0 up" >/dev/null
ptap_guest_cmd -t 30 "ping -c 1 -W 3 10.9.0.1 || ping -c 1 -W 3 10.9.0.1" >/dev/null || fail "guest cannot ping host"
ptap_host_ping "$NS" 10.9.0.2 2 >/dev/null || fail "host cannot ping guest"
assert_consistent

m=$(ptap_guest_mark)
P detach "$T" --tap "$tap" --keep-tap >/dev/null || fail "detach --keep-tap over HMP failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || fail "guest still lists eth0"
st=$(jq_get "$(P list --json)" 'd[0]["state"]')
[ "$st" = ready ] || fail "kept tap state '$st'"
m=$(ptap_guest_mark)
P attach "$T" --tap "$tap" >/dev/null || fail "re-attach over HMP failed"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || fail "guest never saw the re-attached NIC"
m=$(ptap_guest_mark)
P detach "$T" --tap "$tap" >/dev/null || fail "detach over HMP failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || fail "NIC not removed"
[ -z "$(taps_in_ns)" ] || fail "taps left: $(taps_in_ns)"
[ "$(P list --json)" = "[]" ] || fail "records left"
echo PASS
