#!/usr/bin/env bash
# The libvirt hook under a real libvirtd (tests/e2e/lib/libvirtd.sh, in a
# private netns): the built hook is installed in the daemon's private
# hooks directory (/etc/libvirt/hooks/qemu.d/ptap as libvirtd sees it);
# a guest gets two ptap NICs (one per method); `virsh destroy` -> libvirt
# runs the hook's "release" -> the guest's taps are gone and their records
# closed, without anyone running ptap by hand. A record of another guest
# is untouched.
#
# Test-only edits of the installed scripts: the hook runs the test's copy of
# ptap-trigger, which runs the built ptap and helper and scans the test's
# state directory instead of /run/ptap and /run/user/*/ptap (the host's
# /run is never written).
. "$PTAP_SOURCE_DIR/tests/e2e/lib/libvirtd.sh" # guest.sh, tests/lib/common.sh
pt_require_root
: "${PTAP_BIN:?}" "${PTAP_HELPER_BIN:?}" "${PTAP_BUILD_DIR:?}"

DOM=ptaptest-hk$$
SD=$(mktemp -d "$PT_TMP/state.XXXXXX")
HK=$(mktemp -d "$PT_TMP/hook.XXXXXX")
chmod 0755 "$HK"
pt_diag_add ptap_lv_log_tail 20
pt_diag_add cat "$HK/hook.log"
P() { ip netns exec "$NS" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$SD" "$@"; }
# journal_states: "NAME:STATE ..." of every record, sorted; a record
# without a state is an error.
journal_states() {
    pt_jq "$(P list --json)" \
        '[.records[] | .name + ":" + ((.state | strings) // error("record \(.name) has no state"))] | sort | join(" ")'
}

# The hook and its program, pointed at the build and the test's journal.
# The hook also logs its arguments, so the test can tell libvirt ran it.
sed -e "s|^PTAP=.*|PTAP=$PTAP_BIN\nPTAP_HELPER=$PTAP_HELPER_BIN; export PTAP_HELPER|" \
    -e "s|for d in /run/ptap /run/user/\*/ptap; do|for d in $SD; do|" \
    "$PTAP_BUILD_DIR/udev/ptap-trigger" >"$HK/ptap-trigger"
grep -q "for d in $SD; do" "$HK/ptap-trigger" || pt_fail "could not point ptap-trigger at the test journal"
sed -e "s|^[^#]*ptap-trigger release|echo \"hook: \$*\" >>$HK/hook.log; $HK/ptap-trigger release|" \
    "$PTAP_BUILD_DIR/udev/libvirt-hook-ptap" >"$HK/ptap"
grep -q "$HK/ptap-trigger release" "$HK/ptap" || pt_fail "could not point the hook at the test's ptap-trigger"
chmod 0755 "$HK/ptap-trigger" "$HK/ptap"

ptap_guest_image || pt_skip "no guest image"
ptap_lv_users || pt_fail "cannot create libvirt users"
pt_netns_new hk
NS=$PT_NS
ip -n "$NS" link add br0 type bridge
ip -n "$NS" link set br0 up
# libvirtd looks for hooks when it starts: ours goes into its private
# configuration (/etc/libvirt/hooks/qemu.d/ptap as libvirtd sees it).
rc=0
ptap_lv_start "$NS" --hook "$HK/ptap" || rc=$?
[ "$rc" != 77 ] || pt_skip "a libvirtd already runs on this machine"
[ "$rc" = 0 ] || pt_fail "libvirtd did not start"
ptap_lv_define "$DOM" || pt_fail "define failed"
ptap_lv_boot "$DOM" || pt_fail "boot failed"
export LIBVIRT_DEFAULT_URI=$PTAP_LV_URI

echo "== two ptap NICs on the guest, and a record of another guest"
m=$(ptap_guest_mark)
a=$(pt_jq "$(P attach "$DOM" --method device --bridge br0 --json)" .records[0].name) || pt_fail "attach (device) failed"
b=$(pt_jq "$(P attach "$DOM" --method monitor --bridge br0 --json)" .records[0].name) || pt_fail "attach (monitor) failed"
ptap_guest_net_wait '\beth1\b' 30 "$m" >/dev/null || pt_fail "guest does not see two NICs"
P create ptaphkpool0 >/dev/null || pt_fail "pool create failed"
st=$(journal_states)
echo "  journal: $st"
[ "$(pt_jq "$(P list --json)" '[.records[] | select(.state == "attached")] | length')" = 2 ] || pt_fail "expected 2 attached records: $st"

echo "== virsh destroy: the hook releases the guest's taps"
t0=$(date +%s%3N)
ptap_lv_halt "$DOM" || pt_fail "virsh destroy failed"
gone() { ! ip -n "$NS" link show "$a" >/dev/null 2>&1 && ! ip -n "$NS" link show "$b" >/dev/null 2>&1; }
for _ in $(seq 100); do gone && break; sleep 0.05; done
gone || pt_fail "taps $a $b still exist after virsh destroy ($(ip -n "$NS" -br link | tr '\n' ' '))"
echo "  taps gone $(($(date +%s%3N) - t0)) ms after virsh destroy was called"
grep -q "hook: $DOM release end" "$HK/hook.log" || pt_fail "libvirt did not run the hook with 'release end': $(cat "$HK/hook.log" 2>/dev/null)"
left=$(journal_states)
[ "$left" = "ptaphkpool0:ready" ] || pt_fail "journal after release: '$left', expected only the pool tap"
ip -n "$NS" link show ptaphkpool0 >/dev/null || pt_fail "the pool tap was destroyed"
P journal check >/dev/null || pt_fail "journal invalid after the hook"

echo "== the hook ignores other operations and guests it has no records of"
ptap_lv_virsh start "$DOM" >/dev/null || pt_fail "restart failed"
ptap_lv_virsh destroy "$DOM" >/dev/null || pt_fail "second destroy failed"
[ "$(journal_states)" = "ptaphkpool0:ready" ] ||
    pt_fail "journal changed by a release of a guest with no records"
P destroy ptaphkpool0 || pt_fail "destroy of the pool tap failed"
echo "PASS"
