#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# e2e: libptap's monitor layer in the legacy dialect (host_net_add/pci_add,
# QEMU < 0.13) against tests/fakes/old-qemu-hmp.py, a FAKE of QEMU 0.12's
# human monitor that really opens the taps by name (TUNSETIFF) as an
# unprivileged user in a private netns. Checks dialect detection, add/remove
# with the fake's observable state, each error reply, rollback, refusals.
set -u
: "${PTAP_SOURCE_DIR:?}" "${PTAP_BUILD_DIR:?}"
. "$PTAP_SOURCE_DIR/tests/e2e/lib/guest.sh" # ptap_test_user

DRIVER=$PTAP_BUILD_DIR/tests/e2e/monitor/monitor-driver
FAKE=$PTAP_SOURCE_DIR/tests/fakes/old-qemu-hmp.py
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x "$DRIVER" ] || { echo "SKIP: $DRIVER not built"; exit 77; }

NS=ptaptest-monleg-$$
QUSER=ptaptest-qemu
DIR=
FAKE_PIDS=()
FAILS=0

cleanup() {
    set +u
    for p in "${FAKE_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    [ -n "$DIR" ] && rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; FAILS=$((FAILS + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }

ptap_test_user "$QUSER" || exit 1
chmod 0666 /dev/net/tun
DIR=$(mktemp -d /tmp/ptap-legacy.XXXXXX)
chmod 0755 "$DIR"
mkdir "$DIR/run" && chown "$QUSER:" "$DIR/run"
ip netns add "$NS" || exit 1
ip -n "$NS" tuntap add ptapl0 mode tap user "$QUSER"
ip -n "$NS" tuntap add ptapl1 mode tap user "$QUSER"
ip -n "$NS" tuntap add ptapl2 mode tap user "$QUSER"
ip -n "$NS" tuntap add ptapl9 mode tap user root
for t in ptapl0 ptapl1 ptapl2 ptapl9; do ip -n "$NS" link set "$t" up; done

# start_fake NAME [FAKE ARGS]: the fake runs as QEMU's user inside the netns.
start_fake() {
    local name=$1 i; shift
    ip netns exec "$NS" setpriv --reuid "$QUSER" --regid "$QUSER" --init-groups --inh-caps=-all -- \
        /usr/bin/python3 "$FAKE" --socket "$DIR/run/$name.sock" --state "$DIR/run/$name.json" \
        --log "$DIR/run/$name.log" "$@" &
    FAKE_PIDS+=($!)
    for i in $(seq 50); do [ -S "$DIR/run/$name.sock" ] && return 0; sleep 0.1; done
    echo "fake monitor did not start" >&2
    return 1
}
start_fake old --max-slot 6 || exit 1
T=hmp:$DIR/run/old.sock
drv() { ip netns exec "$NS" "$DRIVER" "$T" "$@"; }
state() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
          "$DIR/run/old.json" "$1"; }
carrier() { ip netns exec "$NS" cat "/sys/class/net/$1/carrier"; }

# --- the fake is faithful to 0.12 where the detection relies on it ---
raw=$(/usr/bin/python3 - "$DIR/run/old.sock" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
def until_prompt():
    b = b""
    while not b.endswith(b"(qemu) "):
        b += s.recv(4096)
    return b.decode()
until_prompt()
s.sendall(b"netdev_add tap,id=x,ifname=ptapl0\n"); print(until_prompt().replace("\r", ""))
EOF
)
check "the fake lacks netdev_add like 0.12" grep -q "unknown command: 'netdev_add'" <<<"$raw"

# --- dialect detection, version, peer ---
info=$(drv info)
echo "# $info"
check "HMP dialect detected as legacy, QEMU 0.12.5" grep -q "kind=hmp dialect=legacy version=0.12.5" <<<"$info"
check "peer credentials name the fake's user" grep -q "uid=$(id -u "$QUSER") " <<<"$info"

# --- add: host_net_add + pci_add, a free VLAN picked, slot remembered ---
out=$(drv add --tap ptapl0 --netdev hn0 --mac 52:54:00:0a:00:01 2>&1)
check "nic_add ptapl0 ($out)" grep -q "added vlan=1 slot=4" <<<"$out"
check "fake: tap ptapl0 opened by name, on VLAN 1 with hn0" \
    eval '[ "$(state "[c[\"ifname\"] for c in d[\"vlans\"][\"1\"] if c[\"name\"]==\"hn0\"]")" = "['"'"'ptapl0'"'"']" ]'
check "fake: a virtio NIC in slot 4 with the MAC" \
    eval '[ "$(state "d[\"pci\"][\"4\"][\"id\"], d[\"pci\"][\"4\"][\"mac\"]")" = "('"'"'1af4:1000'"'"', '"'"'52:54:00:0a:00:01'"'"')" ]'
check "the kernel: ptapl0 has carrier (someone attached)" eval '[ "$(carrier ptapl0)" = 1 ]'
check "nic_present: slot and netdev" grep -q "device=yes netdev=yes" <<<"$(drv present --netdev hn0 --slot 4)"
check "commands as 0.12 expects them" grep -qx \
    "host_net_add tap vlan=1,name=hn0,ifname=ptapl0,script=no,downscript=no" "$DIR/run/old.log"
check "... pci_add with the legacy model name" grep -qx \
    "pci_add pci_addr=auto nic model=virtio,macaddr=52:54:00:0a:00:01,vlan=1" "$DIR/run/old.log"
out=$(drv add --tap ptapl1 --netdev hn1 --mac 52:54:00:0a:00:02 --model e1000 2>&1)
check "second NIC (e1000) on the next VLAN and slot ($out)" grep -q "added vlan=2 slot=5" <<<"$out"

# --- each error reply ---
out=$(drv add --tap ptapl9 --netdev hn9 --mac 52:54:00:0a:00:09 2>&1); rc=$?
check "tap of another user: TAPPERM, 0.12's two lines quoted (rc=$rc: $out)" eval '[ $rc = 4 ] &&
    grep -q "host_net_add .hn9. failed: could not configure /dev/net/tun (ptapl9): Operation not permitted;adding host network device tap failed" <<<"$out"'
check "... nothing on record in the fake" eval '! grep -q hn9 "$DIR/run/old.json"'
out=$(drv add --tap ptapl0 --netdev hn8 --mac 52:54:00:0a:00:08 2>&1); rc=$?
check "tap already attached: TAPBUSY (rc=$rc: $out)" eval '[ $rc = 5 ]'
cp "$DIR/run/old.log" "$DIR/log.before"
out=$(drv add --tap ptapl2 --netdev hn2 --mac 52:54:00:0a:00:03 --model rtl8139 2>&1); rc=$?
check "slot 6 then full: third NIC fits ($out)" grep -q "added vlan=3 slot=6" <<<"$out"
ip -n "$NS" tuntap add ptapl3 mode tap user "$QUSER"
out=$(drv add --tap ptapl3 --netdev hn3 --mac 52:54:00:0a:00:04 2>&1); rc=$?
check "no free slot: pci_add's 'failed to add' quoted (rc=$rc: $out)" eval '[ $rc = 6 ] &&
    grep -q "pci_add .hn3. failed: failed to add model=virtio,macaddr=52:54:00:0a:00:04,vlan=4" <<<"$out"'
check "... host_net_add rolled back (host_net_remove 4 hn3)" grep -qx "host_net_remove 4 hn3" "$DIR/run/old.log"
check "... the fake holds no tap ptapl3" eval '! grep -q ptapl3 "$DIR/run/old.json"'
out=$(drv add --tap ptapl3 --netdev hn3 --mac 52:54:00:0a:00:04 --queues 2 2>&1); rc=$?
check "queues on a legacy QEMU: DIALECT refusal (rc=$rc)" eval '[ $rc = 8 ]'

# --- refusals never reach the fake ---
cp "$DIR/run/old.log" "$DIR/log.before"
drv add --tap 'ptapl3,script=/bin/sh' --netdev hx --mac 52:54:00:0a:00:05 >/dev/null 2>&1; r1=$?
drv add --tap ptapl3 --netdev 'hx,vlan=0' --mac 52:54:00:0a:00:05 >/dev/null 2>&1; r2=$?
drv add --tap ptapl3 --netdev hx --mac 52:54:00:0a:00:05 --model 'virtio,vlan=0' >/dev/null 2>&1; r3=$?
drv add --tap ptapl3 --netdev hx --mac '52:54:00:0a:00:05,vlan=0' >/dev/null 2>&1; r4=$?
check "injections refused (rc $r1 $r2 $r3 $r4)" eval '[ "$r1$r2$r3$r4" = 2222 ]'
check "... and the fake saw no host_net_add/pci_add for them" \
    eval '! diff "$DIR/log.before" "$DIR/run/old.log" | grep -Eq "^> (host_net_add|pci_add) "'

# --- remove: pci_del, wait for the eject, host_net_remove ---
out=$(drv remove --netdev hn0 --vlan 1 --slot 4 2>&1)
check "nic_remove hn0 ($out)" test "$out" = removed
check "fake: slot 4 empty, hn0 gone" eval '[ "$(state "\"4\" in d[\"pci\"], \"1\" in d[\"vlans\"]")" = "(False, False)" ]'
check "the kernel: ptapl0 lost its carrier" eval '[ "$(carrier ptapl0)" = 0 ]'
check "nic_present: neither" grep -q "device=no netdev=no" <<<"$(drv present --netdev hn0 --slot 4)"
out=$(drv remove --netdev hn0 --vlan 1 --slot 4 2>&1)
check "nic_remove again ('slot 4 empty', 'can't find device') counts as removed ($out)" test "$out" = removed
out=$(drv remove --netdev hn1 2>&1); rc=$?
check "remove without slot/VLAN refused (rc=$rc)" eval '[ $rc = 2 ]'
check "remove e1000 and rtl8139" eval 'drv remove --netdev hn1 --vlan 2 --slot 5 >/dev/null && drv remove --netdev hn2 --vlan 3 --slot 6 >/dev/null'
check "fake: only the built-in NIC is left, no tap open" \
    eval '[ "$(state "sorted(d[\"pci\"]) == [\"0\", \"1\", \"2\", \"3\"] and d[\"taps_open\"] == []")" = True ]'

# --- QEMU cannot open /dev/net/tun (a private /dev without it) ---
start_fake notun --tun /nonexistent/tun || exit 1
out=$(ip netns exec "$NS" "$DRIVER" "hmp:$DIR/run/notun.sock" add --tap ptapl0 --netdev hn0 --mac 52:54:00:0a:00:01 2>&1); rc=$?
check "no /dev/net/tun: NOTUN, QEMU's message quoted (rc=$rc: $out)" eval '[ $rc = 3 ] &&
    grep -q "could not open /dev/net/tun: No such file or directory" <<<"$out"'

if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi
echo "all checks passed"
exit 0
