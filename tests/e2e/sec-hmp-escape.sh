#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Option injection into QEMU's option strings: interface names may hold
# ',' and '=', and were pasted into "netdev_add tap,...,ifname=NAME,..." and
# "host_net_add tap vlan=N,...,ifname=NAME,...": a tap named "i,vlan=7"
# became ifname=i plus a separate vlan=7 option. Required: every value is
# escaped the way QEMU parses it (",,"), on every path. Checked against the
# real QEMU 7.2 over HMP and QMP (QEMU itself must open the tap of that very
# name: its fdinfo names it), and against the FAKE of QEMU 0.12's monitor
# (tests/fakes/old-qemu-hmp.py, which parses options as QemuOpts does) for
# the legacy host_net_add.
set -eu
. "$PTAP_SOURCE_DIR/tests/e2e/lib/attach.sh"
attach_setup he
EVIL='i,vlan=7'

holds() { # holds PID TAP: PID has a queue of TAP (its fdinfo says so)
    grep -qx "iff:[[:space:]]*$2" /proc/"$1"/fdinfo/* 2>/dev/null
}

for kind in hmp qmp; do
    if [ $kind = hmp ]; then T="hmp:$PTAP_GUEST_HMP"; else T="qmp:$PTAP_GUEST_QMP"; fi
    pt_assert_rc "create the pool tap '$EVIL'" 0 P create "$EVIL" --owner "$QUSER" --bridge br0
    m=$(ptap_guest_mark)
    pt_assert_rc "$kind: attach --tap '$EVIL' without --id" 64 P attach "$T" --tap "$EVIL"
    pt_assert_match "$kind: the refusal asks for --id" "no QEMU device id.*--id" "$PT_ERR"
    pt_assert_rc "$kind: attach --tap '$EVIL'" 0 P attach "$T" --tap "$EVIL" --id evil1 --json
    holds "$PTAP_GUEST_PID" "$EVIL" || pt_fail "$kind: QEMU does not hold the tap '$EVIL'"
    ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "$kind: guest never saw eth0"
    ptap_guest_link_check "$NS" eth0 10.9.0.2 10.9.0.1 || pt_fail "$kind: no traffic through '$EVIL'"
    m=$(ptap_guest_mark)
    pt_assert_rc "$kind: detach" 0 P detach "$T" --tap "$EVIL"
    ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "$kind: guest still lists eth0"
    [ -z "$(taps_in_ns)" ] || pt_fail "$kind: taps left: $(taps_in_ns)"
    pt_ok "$kind: a tap named '$EVIL' is one ifname to QEMU 7.2"
done

# The legacy dialect, against the fake of QEMU 0.12.
FAKE=$PTAP_SOURCE_DIR/tests/fakes/old-qemu-hmp.py
DIR=$(mktemp -d "$PT_TMP/leg.XXXXXX")
chmod 0755 "$DIR"
mkdir "$DIR/run" && chown "$QUSER:" "$DIR/run"
ip netns exec "$NS" setpriv --reuid "$QUSER" --regid "$QUSER" --init-groups --inh-caps=-all -- \
    /usr/bin/python3 "$FAKE" --socket "$DIR/run/old.sock" --state "$DIR/run/old.json" &
fake_pid=$!
pt_cleanup_add pt_kill "$fake_pid"
for _ in $(seq 50); do [ -S "$DIR/run/old.sock" ] && [ -s "$DIR/run/old.json" ] && break; sleep 0.1; done
[ -S "$DIR/run/old.sock" ] || pt_fail "fake monitor did not start"
pt_assert_rc "create '$EVIL' again" 0 P create "$EVIL" --owner "$QUSER" --bridge br0
pt_assert_rc "legacy: attach --tap '$EVIL'" 0 P attach "hmp:$DIR/run/old.sock" --tap "$EVIL" --id evil2 --model e1000 --json
state=$(cat "$DIR/run/old.json")
pt_assert_json "legacy: the fake opened the tap '$EVIL'" "$state" 'any(.taps_open[]; . == $t)' --arg t "$EVIL"
pt_assert_json "legacy: no client landed on VLAN 7" "$state" '(.vlans["7"] // []) | length == 0'
pt_assert_json "legacy: its tap client names the whole ifname" "$state" \
    'any(.vlans[][]; .type == "tap" and .ifname == $t)' --arg t "$EVIL"
pt_assert_rc "legacy: detach" 0 P detach "hmp:$DIR/run/old.sock" --tap "$EVIL"
pt_ok "legacy: host_net_add gets '$EVIL' as one ifname"
