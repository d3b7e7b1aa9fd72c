#!/usr/bin/env bash
# ptap attach/detach over QMP against a real QEMU 7.2 guest run by an
# unprivileged user: the guest sees the NIC and pings across the bridge,
# detach removes it, --keep-tap returns the tap to the pool, two NICs at
# once, a 2-queue NIC, and refusals that leave nothing behind.
set -eu
. "$PTAP_SOURCE_DIR/tests/e2e/lib/attach.sh"
attach_setup aq
T="qmp:$PTAP_GUEST_QMP"

echo "== attach a fresh tap, guest pings the host and back"
m=$(ptap_guest_mark)
out=$(P attach "$T" --bridge br0 --json) || pt_fail "attach failed"
tap=$(pt_jq "$out" .records[0].name); mac=$(pt_jq "$out" .records[0].consumer.mac); id=$(pt_jq "$out" .records[0].consumer.device_id)
echo "attached $tap mac $mac id $id"
[[ $mac == 52:54:00:* ]] || pt_fail "default MAC '$mac' is not 52:54:00:xx:xx:xx"
owner=$(cat /proc/$PTAP_GUEST_PID/status | awk '/^Uid:/ {print $2}')
ip netns exec "$NS" cat /sys/class/net/$tap/owner | grep -qx "$owner" || pt_fail "tap $tap not owned by QEMU's uid $owner"
ip -n "$NS" -d link show "$tap" | grep -q "master br0" || pt_fail "tap not on br0"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw eth0"
ptap_guest_cmd "ip link show eth0" | grep -qi "$mac" || pt_fail "guest eth0 does not have MAC $mac"
ptap_guest_link_check "$NS" eth0 10.9.0.2 10.9.0.1 || pt_fail "no traffic between guest and host"
st=$(pt_jq "$(P list --json)" '[.records[] | select(.name == $t) | .state][0]' --arg t "$tap")
[ "$st" = attached ] || pt_fail "record state '$st', expected attached"
assert_consistent

echo "== detach: guest loses the NIC, tap destroyed"
m=$(ptap_guest_mark)
P detach "$T" --tap "$tap" >/dev/null || pt_fail "detach failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists eth0"
ip -n "$NS" link show "$tap" >/dev/null 2>&1 && pt_fail "tap $tap still exists"
[ "$(P list --json | jq -c .records)" = "[]" ] || pt_fail "journal still has records"

echo "== cycles with --keep-tap: tap back in the pool, re-attachable"
for i in 1 2 3; do
    m=$(ptap_guest_mark)
    out=$(P attach "$T" --bridge br0 --id nic$i --json) || pt_fail "attach $i failed"
    tap=$(pt_jq "$out" .records[0].name)
    ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "cycle $i: guest never saw eth0"
    m=$(ptap_guest_mark)
    P detach "$T" --id nic$i --keep-tap >/dev/null || pt_fail "detach --keep-tap $i failed"
    ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "cycle $i: eth0 not removed"
    st=$(pt_jq "$(P list --json)" '[.records[] | select(.name == $t) | "\(.state) \(.carrier)"][0]' --arg t "$tap")
    [ "$st" = "ready false" ] || pt_fail "kept tap $tap: $st, expected ready without carrier"
    m=$(ptap_guest_mark)
    P attach "$T" --tap "$tap" --id re$i >/dev/null || pt_fail "re-attach of kept $tap failed"
    ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "re-attached NIC not seen"
    m=$(ptap_guest_mark)
    P detach "$T" --mac "$(pt_jq "$(P list --json)" '[.records[] | select(.name == $t) | .consumer.mac][0]' --arg t "$tap")" >/dev/null \
        || pt_fail "detach by MAC failed"
    ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "NIC not removed"
done
[ -z "$(taps_in_ns)" ] || pt_fail "taps left: $(taps_in_ns)"

echo "== two NICs at once, then a 2-queue NIC"
m=$(ptap_guest_mark)
a=$(pt_jq "$(P attach "$T" --bridge br0 --json)" .records[0].name) || pt_fail "first of two failed"
b=$(pt_jq "$(P attach "$T" --bridge br0 --json)" .records[0].name) || pt_fail "second of two failed"
ptap_guest_net_wait '\beth1\b' 30 "$m" >/dev/null || pt_fail "guest does not see two NICs"
assert_consistent
m=$(ptap_guest_mark)
P detach "$T" --tap "$a" >/dev/null && P detach "$T" --tap "$b" >/dev/null || pt_fail "detach of two failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "NICs not removed"
m=$(ptap_guest_mark)
out=$(P attach "$T" --bridge br0 --queues 2 --json) || pt_fail "2-queue attach failed"
mq=$(pt_jq "$out" .records[0].name)
ip -n "$NS" -d link show "$mq" | grep -q multi_queue || pt_fail "tap $mq is not multi-queue"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw the 2-queue NIC"
# QEMU opened the tap twice (one queue each; a queue the 1-CPU guest does
# not use is detached, counted in numdisabled), and the guest negotiated
# VIRTIO_NET_F_MQ (feature bit 22).
nq=$(pt_jq "$(ip -n "$NS" -d -j link show "$mq")" '.[0].linkinfo.info_data | (.numqueues | numbers) + (.numdisabled | numbers)')
[ "$nq" = 2 ] || pt_fail "tap $mq has $nq queues attached, expected 2"
feat=$(ptap_guest_cmd "cat /sys/class/net/eth0/device/features") || true
[ "${feat:22:1}" = 1 ] || pt_fail "guest did not negotiate multiqueue (features $feat)"
m=$(ptap_guest_mark)
P detach "$T" --tap "$mq" >/dev/null || pt_fail "2-queue detach failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "2-queue NIC not removed"

echo "== refusals leave nothing behind"
before=$(P list --json; taps_in_ns)
refuse() { # EXPECTED_EXIT ARGS...
    local want=$1; shift
    set +e; msg=$(P "$@" 2>&1 >/dev/null); rc=$?; set -e
    [ "$rc" = "$want" ] || pt_fail "'ptap $*' exited $rc (expected $want): $msg"
    [ -n "$msg" ] || pt_fail "'ptap $*' failed silently"
    [ "$(P list --json; taps_in_ns)" = "$before" ] || pt_fail "'ptap $*' left something behind"
    echo "  refused ($rc): $msg"
}
refuse 69 attach qmp:/nonexistent/qmp.sock --bridge br0
refuse 64 attach "$T" --model ne2k_pci --bridge br0
refuse 64 attach "$T" --mac 01:00:5e:00:00:01 --bridge br0
refuse 64 attach "$T" --mac 52:54:00:zz:00:01 --bridge br0
refuse 64 attach "$T" --id 'x,script=/bin/sh' --bridge br0
# QEMU itself refuses (device id already taken): the fresh tap, the netdev
# and the record this call made are all rolled back, QEMU's words quoted.
P attach "$T" --bridge br0 --id dup >/dev/null || pt_fail "attach --id dup failed"
before=$(P list --json; taps_in_ns)
refuse 71 attach "$T" --bridge br0 --id dup
grep -q "Duplicate" <<<"$msg" || pt_fail "QEMU's own message not quoted: $msg"
P detach "$T" --id dup >/dev/null || pt_fail "detach --id dup failed"
before=$(P list --json; taps_in_ns)
P create ptapown%d --owner 0 >/dev/null || pt_fail "pool create failed"
own=$(pt_jq "$(P list --json)" '.records[0].name')
before=$(P list --json; taps_in_ns)
refuse 77 attach "$T" --tap "$own"
P destroy "$own" || pt_fail "destroy of pool tap failed"
echo "PASS"
