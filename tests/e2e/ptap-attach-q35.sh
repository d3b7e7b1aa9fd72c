#!/usr/bin/env bash
# ptap attach on q35 (PCI Express) guests, whose root bus pcie.0 takes no
# hot-plug: a NIC goes onto a free pcie-root-port (ptap picks one, or
# --bus names it), and with no free port ptap says so and how to add one
# (exit 69) instead of passing on QEMU's "Bus 'pcie.0' does not support
# hotplugging" — nothing is left behind. A QEMU started by hand (QMP and
# HMP), one with no root port at all, and a libvirt domain (device method:
# libvirt picks the port; monitor method: ptap does).
. "$PTAP_SOURCE_DIR/tests/e2e/lib/attach.sh"
. "$PTAP_SOURCE_DIR/tests/e2e/lib/libvirtd.sh"

# ptap's JSON as an array of records, whichever shape this ptap prints: the
# version 1 document ({"records": [...]}), or the bare array (list, create)
# and attach's own object ({tap, mac, bus, ...}) of the ptap before it.
recs() {
    jq -c 'if type == "object" and has("records") then .records
           elif type == "array" then .
           else [{name: .tap, bridge, network, consumer: {mac, bus}}] end'
}

attach_setup_q35() {
    ptap_guest_image || pt_skip "no guest image (qemu/busybox missing)"
    pt_user_ensure "$QUSER" >/dev/null
    pt_netns_new q35
    NS=$PT_NS
    SD=$(mktemp -d "$PT_TMP/state.XXXXXX")
    ip -n "$NS" link add br0 type bridge
    ip -n "$NS" addr add 10.9.0.1/24 dev br0
    ip -n "$NS" link set br0 up
    pt_diag_add ptap_guest_log_tail 30
}
attach_setup_q35

echo "== QEMU q35 with two root ports"
ptap_guest_start "$NS" "$QUSER" -machine q35 \
    -device pcie-root-port,id=rp1,chassis=1,bus=pcie.0 -device pcie-root-port,id=rp2,chassis=2,bus=pcie.0 ||
    pt_fail "q35 guest did not boot"
m=$(ptap_guest_mark)
out=$(P attach "qmp:$PTAP_GUEST_QMP" --bridge br0 --json | recs) || pt_fail "attach (QMP, no --bus) failed"
t1=$(pt_jq "$out" '.[0].name')
pt_assert_json "ptap picked the first free root port" "$out" '.[0].consumer.bus == "rp1"'
pt_assert_json "the record keeps the bus" "$(P list --json | recs)" ".[] | select(.name == \"$t1\") | .consumer.bus == \"rp1\""
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw the NIC on rp1"
ptap_guest_link_check "$NS" eth0 10.9.0.2 10.9.0.1 || pt_fail "no traffic through the NIC on rp1"
m=$(ptap_guest_mark)
out=$(P attach "hmp:$PTAP_GUEST_HMP" --bridge br0 --json | recs) || pt_fail "attach (HMP, no --bus) failed"
t2=$(pt_jq "$out" '.[0].name')
pt_assert_json "HMP: the next free root port" "$out" '.[0].consumer.bus == "rp2"'
ptap_guest_net_wait '\beth1\b' 30 "$m" >/dev/null || pt_fail "guest never saw the NIC on rp2"
pt_ok "q35: attach goes onto a free pcie-root-port (QMP and HMP)"

before=$(taps_in_ns)
pt_assert_rc "no free root port left" 69 P attach "qmp:$PTAP_GUEST_QMP" --bridge br0
pt_assert_match "says there is none" "no free pcie-root-port" "$PT_ERR"
pt_assert_match "says how to add one" "-device pcie-root-port,id=rpN,chassis=N" "$PT_ERR"
[[ $PT_ERR != *"does not support hotplugging"* ]] || [[ $PT_ERR == *"pcie-root-port"* ]] ||
    pt_fail "only QEMU's words: $PT_ERR"
echo "  refused: $PT_ERR"
pt_assert_eq "no tap left by the refusal" "$before" "$(taps_in_ns)"
assert_consistent
pt_assert_rc "--bus pcie.0 (takes no hot-plug)" 69 P attach "qmp:$PTAP_GUEST_QMP" --bridge br0 --bus pcie.0
pt_assert_match "--bus refusal says what --bus needs" "--bus must name a free pcie-root-port" "$PT_ERR"
pt_assert_eq "no tap left by the --bus refusal" "$before" "$(taps_in_ns)"
pt_ok "q35 without a free root port: exit 69, says how to add one, nothing left"

m=$(ptap_guest_mark)
P detach "qmp:$PTAP_GUEST_QMP" --tap "$t1" --timeout 30 >/dev/null || pt_fail "detach $t1 failed"
ptap_guest_net_wait '^eth1 lo$' 30 "$m" >/dev/null || pt_fail "guest still lists the NIC of $t1"
m=$(ptap_guest_mark)
out=$(P attach "qmp:$PTAP_GUEST_QMP" --bridge br0 --bus rp1 --json | recs) || pt_fail "attach --bus rp1 failed"
pt_assert_json "--bus rp1" "$out" '.[0].consumer.bus == "rp1"'
t3=$(pt_jq "$out" '.[0].name')
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw the NIC on --bus rp1"
P detach "hmp:$PTAP_GUEST_HMP" --tap "$t2" --timeout 30 >/dev/null || pt_fail "detach $t2 failed"
P detach "qmp:$PTAP_GUEST_QMP" --tap "$t3" --timeout 30 >/dev/null || pt_fail "detach $t3 failed"
[ "$(P list --json | recs)" = "[]" ] || pt_fail "records left after detach"
ptap_guest_stop
pt_ok "detach frees the port; --bus names it"

echo "== QEMU q35 with no root port at all"
# No guest needed: QEMU answers (and refuses) device_add while paused.
QDIR=$(mktemp -d /tmp/ptaptest-q35.XXXXXX)
chmod 0755 "$QDIR"
chown "$QUSER:" "$QDIR"
ip netns exec "$NS" setpriv --reuid "$QUSER" --regid "$QUSER" --init-groups --inh-caps=-all -- \
    qemu-system-x86_64 -machine q35 -accel tcg -m 64 -S -display none -nic none -serial none \
    -monitor none -qmp "unix:$QDIR/qmp.sock,server=on,wait=off" >"$QDIR/qemu.log" 2>&1 &
QPID=$!
pt_cleanup_add pt_kill "$QPID" 5
pt_cleanup_add rm -rf "$QDIR"
for _ in $(seq 50); do [ -S "$QDIR/qmp.sock" ] && break; sleep 0.1; done
pt_assert_rc "q35 without root ports" 69 P attach "qmp:$QDIR/qmp.sock" --bridge br0
pt_assert_match "none: says how to add one" "no free pcie-root-port \\(0, all taken\\).*-device pcie-root-port" "$PT_ERR"
[ "$(P list --json | recs)" = "[]" ] || pt_fail "refused attach left a record"
[ -z "$(taps_in_ns)" ] || pt_fail "refused attach left a tap: $(taps_in_ns)"
pt_kill "$QPID" 5
pt_ok "q35 with no root port: exit 69, says how to add one"

echo "== libvirt q35 domain with two root ports"
DOM=ptaptest-q35$$
pt_diag_add ptap_lv_log_tail 20
ptap_lv_start_or_skip "$NS"
ptap_lv_define "$DOM" --q35 2 || pt_fail "define failed"
ptap_lv_boot "$DOM" || pt_fail "boot failed"
m=$(ptap_guest_mark)
out=$(P attach "$DOM" --method device --bridge br0 --json | recs) || pt_fail "attach (device) failed"
a=$(pt_jq "$out" '.[0].name')
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw the libvirt-placed NIC"
m=$(ptap_guest_mark)
out=$(P attach "$DOM" --method monitor --bridge br0 --json | recs) || pt_fail "attach (monitor) failed"
b=$(pt_jq "$out" '.[0].name')
pt_assert_json "monitor method: ptap picked libvirt's free root port" "$out" '.[0].consumer.bus | test("^pci\\.[0-9]+$")'
ptap_guest_net_wait '\beth1\b' 30 "$m" >/dev/null || pt_fail "guest never saw the NIC ptap placed"
ptap_guest_link_check "$NS" eth1 10.9.0.3 10.9.0.1 || pt_fail "no traffic through the monitor-method NIC"
# libvirt does not know of the monitor method's NIC: its pick collides.
for method in device monitor; do
    pt_assert_rc "libvirt ($method), no free root port" 69 P attach "$DOM" --method "$method" --bridge br0
    pt_assert_match "libvirt ($method): says how to add one" "<controller type='pci' model='pcie-root-port'/>" "$PT_ERR"
    echo "  refused ($method): $PT_ERR"
done
P detach "$DOM" --tap "$b" --timeout 30 >/dev/null || pt_fail "detach $b failed"
out=$(P attach "$DOM" --method device --bridge br0 --json | recs) || pt_fail "second attach (device) failed"
c=$(pt_jq "$out" '.[0].name')
# Both ports now hold NICs libvirt knows of: libvirt's own refusal.
pt_assert_rc "libvirt knows both ports taken" 69 P attach "$DOM" --method device --bridge br0
pt_assert_match "libvirt's refusal says how to add one" "<controller type='pci' model='pcie-root-port'/>" "$PT_ERR"
echo "  refused (device, libvirt's own): $PT_ERR"
[ "$(P list --json | recs | jq length)" = 2 ] || pt_fail "refusals left records: $(P list --json)"
for t in "$a" "$c"; do
    P detach "$DOM" --tap "$t" --timeout 30 >/dev/null || pt_fail "detach $t failed"
done
m=$(ptap_guest_mark)
out=$(P attach "$DOM" --method device --bus pci.2 --bridge br0 --json | recs) || pt_fail "attach --bus pci.2 (device) failed"
pt_assert_json "device method --bus pci.2" "$out" '.[0].consumer.bus == "pci.2"'
ptap_lv_virsh dumpxml "$DOM" | grep -q "bus='0x02'" || pt_fail "libvirt does not show the NIC on bus 0x02"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw the NIC on pci.2"
P detach "$DOM" --tap "$(pt_jq "$out" '.[0].name')" --timeout 30 >/dev/null || pt_fail "detach failed"
[ "$(P list --json | recs)" = "[]" ] || pt_fail "records left: $(P list --json)"
pt_ok "libvirt q35: libvirt or ptap picks a free root port, --bus pci.N names one, none free says how to add one"
