#!/usr/bin/env bash
# ptap watch against a real QEMU guest run by an unprivileged user:
#  - kill -9 of QEMU with an attached ptap NIC -> the tap is destroyed and
#    its record closed within grace + 1 s;
#  - a `ready` pool tap (no carrier, ever) survives;
#  - a journaled tap deleted by hand -> forgotten within a second;
#  - other ptap commands keep working while it runs (it does not sit on
#    the journal lock);
#  - a netlink overrun (tiny buffer, watcher stopped while 400 events
#    pass) -> resync from a full dump, and what happened meanwhile is
#    still seen;
#  - SIGTERM -> clean exit 0.
set -eu
. "$PTAP_SOURCE_DIR/tests/e2e/lib/attach.sh"
attach_setup watch
T="qmp:$PTAP_GUEST_QMP"
GRACE=2
WLOG=$PT_TMP/watch.log
WPID=

# watch_stop: stop the watcher (by its PID; it may be SIGSTOPped).
watch_stop() {
    [ -z "$WPID" ] || kill -CONT "$WPID" 2>/dev/null || true
    pt_kill "$WPID" 5
    WPID=
}

# The watcher, in the namespace of the taps, with a tiny netlink buffer
# so the overrun below is certain (the kernel doubles it: 8 KiB).
ip netns exec "$NS" env PTAP_HELPER="$PTAP_HELPER_BIN" \
    "$PTAP_BIN" --state-dir "$SD" watch --grace "$GRACE" --netlink-buffer 4096 -v 2>"$WLOG" &
WPID=$!
pt_cleanup_add watch_stop
for _ in $(seq 50); do
    grep -q "watching the journal" "$WLOG" && break
    sleep 0.1
done
grep -q "watching the journal" "$WLOG" || pt_fail "watcher did not start: $(cat "$WLOG")"

# now_ms / wait_until COND_FN TIMEOUT_MS: poll a shell function every 50 ms.
now_ms() { date +%s%3N; }
wait_until() {
    local fn=$1 timeout=$2 t0
    t0=$(now_ms)
    while ! "$fn"; do
        [ $(($(now_ms) - t0)) -lt "$timeout" ] || return 1
        sleep 0.05
    done
}
# list's exit 1 (a row has a problem, as a dead guest's tap does) is an answer here.
on_record() { { P list --json || [ $? -eq 1 ]; } | jq -e --arg n "$1" 'any(.records[]; .name == $n)' >/dev/null; }
state_of() { { P list --json || [ $? -eq 1 ]; } | jq -r --arg n "$1" '([.records[] | select(.name == $n) | .state] + ["none"])[0]'; }

echo "== a ready pool tap and an attached NIC"
P create ptapready0 >/dev/null || pt_fail "pool create failed"
P create ptapready1 >/dev/null || pt_fail "pool create failed"
m=$(ptap_guest_mark)
out=$(P attach "$T" --bridge br0 --json) || pt_fail "attach failed (ptap watch's guest test waits on attach)"
tap=$(pt_jq "$out" .records[0].name)
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw eth0"
[ "$(state_of "$tap")" = attached ] || pt_fail "record of $tap is $(state_of "$tap"), expected attached"
ip -n "$NS" link show "$tap" | grep -q LOWER_UP || pt_fail "attached $tap has no carrier"
# Other commands are not blocked by the running watcher.
timeout 5 ip netns exec "$NS" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$SD" \
    journal check >/dev/null || pt_fail "'ptap journal check' blocked or failed while the watcher runs"

echo "== kill -9 of QEMU: tap destroyed within grace + 1 s"
t0=$(now_ms)
kill -9 "$PTAP_GUEST_PID"
tap_gone() { ! ip -n "$NS" link show "$tap" >/dev/null 2>&1; }
wait_until tap_gone $(((GRACE + 1) * 1000)) ||
    pt_fail "tap $tap still exists $(($(now_ms) - t0)) ms after QEMU died (grace $GRACE s); watcher log: $(cat "$WLOG")"
dt=$(($(now_ms) - t0))
echo "  $tap destroyed after $dt ms"
[ "$dt" -ge $((GRACE * 1000 - 200)) ] || pt_fail "destroyed after $dt ms: the grace period of $GRACE s was not kept"
# The outcome is written right after the helper returns.
rec_closed() { ! on_record "$tap"; }
wait_until rec_closed 1000 || pt_fail "record of $tap still live: $(P list --json)"
grep -q "'$tap': guest .* is gone: tap destroyed" "$WLOG" || pt_fail "watcher did not log the destroy"
ptap_guest_stop 2>/dev/null || true

echo "== the ready taps survive"
sleep $((GRACE + 1))
for t in ptapready0 ptapready1; do
    ip -n "$NS" link show "$t" >/dev/null 2>&1 || pt_fail "ready tap $t was destroyed"
    [ "$(state_of "$t")" = ready ] || pt_fail "ready tap $t record is $(state_of "$t")"
done

echo "== a tap deleted by hand is forgotten within a second"
ip -n "$NS" link del ptapready0
r0_closed() { ! on_record ptapready0; }
wait_until r0_closed 1000 || pt_fail "ptapready0 still on record 1 s after its deletion"
grep -q "'ptapready0': the device was deleted" "$WLOG" || pt_fail "watcher did not log the forget"
P journal check >/dev/null || pt_fail "journal not valid after the watcher's writes"

echo "== netlink overrun: resync from a full dump"
resyncs_before=$(grep -c "resyncing from a full dump" "$WLOG" || true)
kill -STOP "$WPID"
ip -n "$NS" link del ptapready1
ip netns exec "$NS" sh -c 'for i in $(seq 200); do ip link add ptdummy$i type bridge; done
                           for i in $(seq 200); do ip link del ptdummy$i; done'
kill -CONT "$WPID"
saw_resync() { [ "$(grep -c "resyncing from a full dump" "$WLOG" || true)" -gt "$resyncs_before" ]; }
wait_until saw_resync 3000 || pt_fail "no resync after an overrun: $(tail -5 "$WLOG")"
r1_closed() { ! on_record ptapready1; }
wait_until r1_closed 2000 || pt_fail "ptapready1, deleted during the overrun, still on record"
kill -0 "$WPID" || pt_fail "watcher died"

echo "== SIGTERM: clean exit"
kill -TERM "$WPID"
rc=0
wait "$WPID" || rc=$?
WPID=
[ "$rc" = 0 ] || pt_fail "watcher exited $rc on SIGTERM"
grep -q "stopping on SIGTERM" "$WLOG" || pt_fail "watcher did not log its stop"
[ "$(P list --json | jq -c .records)" = "[]" ] || pt_fail "records left: $(P list --json)"
echo "PASS"
