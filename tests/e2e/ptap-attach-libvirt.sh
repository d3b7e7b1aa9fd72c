#!/usr/bin/env bash
# ptap attach/detach DOMAIN against a real libvirtd (in a private netns)
# running a TCG guest as libvirt-qemu: both methods (device: libvirt knows
# the NIC, virsh domiflist shows it; monitor: QMP through libvirt-qemu,
# QEMU opens the tap by name), the guest sees the NIC and pings, detach
# removes it; `virsh destroy` then `ptap recover` destroys the dead guest's
# taps; `ptap release` clears a guest's records from the journal alone.
. "$PTAP_SOURCE_DIR/tests/e2e/lib/libvirtd.sh" # guest.sh, tests/lib/common.sh
pt_require_root

DOM=ptaptest-vm$$
SD=$(mktemp -d "$PT_TMP/state.XXXXXX")
pt_diag_add ptap_lv_log_tail 20
P() { ip netns exec "$NS" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$SD" "$@"; }

ptap_guest_image || pt_skip "no guest image"
pt_netns_new pl
NS=$PT_NS
ip -n "$NS" link add br0 type bridge
ip -n "$NS" addr add 10.9.0.1/24 dev br0
ip -n "$NS" link set br0 up
ptap_lv_start_or_skip "$NS"
ptap_lv_define "$DOM" || pt_fail "define failed"
ptap_lv_boot "$DOM" || pt_fail "boot failed"

n=0
for method in device monitor; do
    n=$((n + 1))
    echo "== method $method"
    m=$(ptap_guest_mark)
    out=$(P attach "$DOM" --method "$method" --bridge br0 --json) || pt_fail "attach ($method) failed"
    tap=$(pt_jq "$out" .records[0].name); mac=$(pt_jq "$out" .records[0].consumer.mac)
    echo "  attached $tap ($mac)"
    uid=$(awk '/^Uid:/ {print $2}' /proc/$PTAP_GUEST_PID/status)
    [ "$(ip netns exec "$NS" cat /sys/class/net/$tap/owner)" = "$uid" ] || pt_fail "tap not owned by QEMU's uid $uid"
    if [ "$method" = device ]; then
        ptap_lv_virsh domiflist "$DOM" | grep -q "$mac" || pt_fail "virsh domiflist does not show $mac"
    fi
    ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw eth0 ($method)"
    ptap_guest_link_check "$NS" eth0 10.9.0.2 10.9.0.1 || pt_fail "no traffic between guest and host ($method)"
    m=$(ptap_guest_mark)
    P detach "$DOM" --tap "$tap" --timeout 30 >/dev/null || pt_fail "detach ($method) failed"
    ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists eth0 ($method)"
    ip -n "$NS" link show "$tap" >/dev/null 2>&1 && pt_fail "tap $tap survived detach"
    ptap_lv_virsh domiflist "$DOM" | grep -q "$mac" && pt_fail "domiflist still shows $mac"
    [ "$(P list --json | jq -c .records)" = "[]" ] || pt_fail "records left after detach ($method)"
done

echo "== virsh destroy, then ptap recover destroys the dead guest's taps"
a=$(pt_jq "$(P attach "$DOM" --method device --bridge br0 --json)" .records[0].name) || pt_fail "attach failed"
b=$(pt_jq "$(P attach "$DOM" --method monitor --bridge br0 --json)" .records[0].name) || pt_fail "attach failed"
ptap_lv_halt "$DOM" || true
ptap_lv_virsh domstate "$DOM" | grep -q "shut off" || pt_fail "domain still running after virsh destroy"
out=$(P recover --json) || pt_fail "recover failed"
echo "  recover: $out"
for t in "$a" "$b"; do
    ip -n "$NS" link show "$t" >/dev/null 2>&1 && pt_fail "tap $t of the destroyed guest survived"
done
[ "$(P list --json | jq -c .records)" = "[]" ] || pt_fail "records left: $(P list --json)"
[ "$(P recover --json | jq -c .records)" = "[]" ] || pt_fail "second recover not a no-op"

echo "== not running: attach refused with 69, nothing left"
set +e; msg=$(P attach "$DOM" --bridge br0 2>&1); rc=$?; set -e
[ "$rc" = 69 ] || pt_fail "attach to a stopped domain exited $rc: $msg"
echo "  refused: $msg"
[ "$(P list --json | jq -c .records)" = "[]" ] || pt_fail "refused attach left a record"

echo "== release works from the journal alone (libvirtd stopped)"
ptap_lv_boot "$DOM" || pt_fail "reboot failed"
c=$(pt_jq "$(P attach "$DOM" --bridge br0 --json)" .records[0].name) || pt_fail "attach failed"
uuid=$(ptap_lv_virsh domuuid "$DOM" | tr -d '[:space:]')
# Whatever happens below, libvirtd must run again before the clean-up asks it.
pt_cleanup_add kill -CONT "$PTAP_LV_LIBVIRTD_PID"
kill -STOP "$PTAP_LV_LIBVIRTD_PID" 2>/dev/null || true
# The guest still runs (its QEMU is alive): release keeps its tap, saying
# so, and --force takes it; neither asks the stopped libvirtd.
pt_assert_rc "release of a running guest, libvirtd stopped" 75 \
    timeout 20 ip netns exec "$NS" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$SD" \
    release --uuid "$uuid" "$DOM"
ip -n "$NS" link show "$c" >/dev/null 2>&1 || pt_fail "release took the tap of a running guest"
timeout 20 ip netns exec "$NS" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$SD" release --force "$DOM" >/dev/null \
    || pt_fail "ptap release --force hung or failed while libvirtd was stopped"
kill -CONT "$PTAP_LV_LIBVIRTD_PID" 2>/dev/null || true
ip -n "$NS" link show "$c" >/dev/null 2>&1 && pt_fail "released tap $c survived"
[ "$(P list --json | jq -c .records)" = "[]" ] || pt_fail "records left after release"
pt_ok "release keeps a running guest's tap, --force takes it, libvirt never asked"
