#!/usr/bin/env bash
# Kill -9 of `ptap attach` and `ptap detach` at each of their fault points
# against a live guest, then `ptap recover`: guest NIC present <=> record
# attached <=> tap exists, and a second recover does nothing.
# Needs a build with -DPTAP_FAULT_INJECTION=ON (./dev builds that way).
set -eu
. "$PTAP_SOURCE_DIR/tests/e2e/lib/attach.sh"
attach_setup af
T="qmp:$PTAP_GUEST_QMP"

# Does this build have fault points? (a point that must fire on create)
set +e; P create ptapchk%d >/dev/null 2>&1 </dev/null; set -e
set +e; PTAP_FAULT=create-after-intent P create ptapchk%d >/dev/null 2>&1; rc=$?; set -e
P recover >/dev/null; for t in $(taps_in_ns); do P destroy "$t" >/dev/null 2>&1 || true; done
[ "$rc" = 137 ] || { echo "SKIP: ptap was built without fault points"; exit 77; }

guest_nics() { grep -a 'PTAP-NET:' "$PTAP_GUEST_LOG" | tail -n 1 | sed 's/.*PTAP-NET: //'; }

check_invariant() { # after recover: NIC in guest <=> attached record <=> tap
    local what=$1 list att taps nics
    sleep 1
    list=$(P list --json) || [ $? -eq 1 ] # 1: problems listed, judged below
    att=$(pt_jq "$list" '[.records[] | select(.state == "attached")] | length')
    taps=$(taps_in_ns | wc -l)
    nics=$(guest_nics | tr ' ' '\n' | grep -c '^eth' || true)
    [ "$att" = "$nics" ] || pt_fail "$what: $att attached record(s) but guest has $nics NIC(s) [$(guest_nics)]"
    assert_consistent
    [ "$(P recover --json | jq -c .records)" = "[]" ] || pt_fail "$what: second recover was not a no-op"
    echo "  $what: consistent (attached=$att taps=$taps nics=$nics)"
}

# An attach of a fresh tap appends three times: the create's intent (1),
# the create's outcome with the attach's intent in the same append (2: the
# tap is on record ATTACHING before QEMU hears of it, so create-after-outcome
# and attach-after-intent leave the same state), and the attach's outcome
# (3). A crash inside append 2 (torn, or before its sync) leaves the
# create's intent open: recovery rolls the create back, the tap goes.
for point in create-after-intent create-after-helper create-after-outcome \
             attach-after-intent attach-after-device \
             journal-mid-record:2 journal-before-sync:2 journal-after-sync:2 \
             journal-mid-record:3 journal-after-sync:3; do
    set +e; PTAP_FAULT=$point P attach "$T" --bridge br0 >/dev/null 2>&1; rc=$?; set -e
    [ "$rc" = 137 ] || pt_fail "attach with PTAP_FAULT=$point exited $rc, not killed"
    P recover >/dev/null || pt_fail "recover after $point failed"
    # QEMU may finish hot-adding after a kill: let the console settle.
    sleep 2
    check_invariant "attach killed at $point"
    # Clean slate for the next point.
    for t in $(pt_jq "$(P list --json)" '[.records[] | select(.state == "attached") | .name] | join(" ")'); do
        m=$(ptap_guest_mark); P detach "$T" --tap "$t" >/dev/null || pt_fail "cleanup detach"
        ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || true
    done
done

for point in detach-after-intent detach-after-device; do
    m=$(ptap_guest_mark)
    tap=$(pt_jq "$(P attach "$T" --bridge br0 --json)" .records[0].name) || pt_fail "attach failed"
    ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "NIC not seen"
    set +e; PTAP_FAULT=$point P detach "$T" --tap "$tap" >/dev/null 2>&1; rc=$?; set -e
    [ "$rc" = 137 ] || pt_fail "detach with PTAP_FAULT=$point exited $rc, not killed"
    P recover >/dev/null || pt_fail "recover after $point failed"
    ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || true
    check_invariant "detach killed at $point"
done

echo "== guest killed: recover destroys its taps"
tap=$(pt_jq "$(P attach "$T" --bridge br0 --json)" .records[0].name) || pt_fail "attach failed"
kill -9 "$PTAP_GUEST_PID"; sleep 1
out=$(P recover --json)
pt_assert_json "recover did not see the dead guest" "$out" 'any(.records[]; .name == $t and .action == "consumer-gone")' --arg t "$tap"
ip -n "$NS" link show "$tap" >/dev/null 2>&1 && pt_fail "dead guest's tap $tap survived recover"
[ "$(P list --json | jq -c .records)" = "[]" ] || pt_fail "records left after the guest died"
echo PASS
