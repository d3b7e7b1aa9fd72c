#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# e2e: libptap's monitor layer in the legacy dialect (host_net_add/pci_add,
# QEMU < 0.13) against tests/fakes/old-qemu-hmp.py, a FAKE of QEMU 0.12's
# human monitor that really opens the taps by name (TUNSETIFF) as an
# unprivileged user in a private netns. Checks dialect detection, add/remove
# with the fake's observable state, each error reply, rollback, refusals.
# Every check is a pt_check: all of them run, and any "not ok" fails the test.
: "${PTAP_SOURCE_DIR:?}" "${PTAP_BUILD_DIR:?}"
. "$PTAP_SOURCE_DIR/tests/lib/common.sh"

DRIVER=$PTAP_BUILD_DIR/tests/e2e/monitor/monitor-driver
FAKE=$PTAP_SOURCE_DIR/tests/fakes/old-qemu-hmp.py
pt_require_root
[ -x "$DRIVER" ] || pt_skip "$DRIVER not built"

QUSER=ptaptest-qemu

pt_user_ensure "$QUSER" >/dev/null
pt_tun_world_rw
DIR=$(mktemp -d "$PT_TMP/legacy.XXXXXX")
chmod 0755 "$DIR"
mkdir "$DIR/run" && chown "$QUSER:" "$DIR/run"
pt_netns_new monleg
NS=$PT_NS
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
    pt_cleanup_add pt_kill "$!"
    for i in $(seq 50); do [ -S "$DIR/run/$name.sock" ] && return 0; sleep 0.1; done
    echo "fake monitor did not start" >&2
    return 1
}
start_fake old --max-slot 6 || pt_fail "no fake monitor"
T=hmp:$DIR/run/old.sock
drv() { ip netns exec "$NS" "$DRIVER" "$T" "$@"; }
# drv_rc ARGS...: `drv ARGS`; its exit code in rc, its output in out.
drv_rc() {
    rc=0
    out=$(drv "$@" 2>&1) || rc=$?
}
# exited CODE [REGEX]: the last drv_rc exited CODE and said REGEX.
exited() { [ "$rc" = "$1" ] && { [ $# -lt 2 ] || grep -q -- "$2" <<<"$out"; }; }
# state JQ-EXPR: EXPR is true of the fake's state (its JSON file).
state() { jq -e "$1" "$DIR/run/old.json" >/dev/null; }
carrier() { ip netns exec "$NS" cat "/sys/class/net/$1/carrier"; }
lacks() { ! grep -q -- "$1" "$2"; } # lacks WORD FILE
# sent_none_since FILE ERE: no line the fake received since the copy FILE
# of its log matches ERE.
sent_none_since() { ! grep -Eq "^> ($2)" <<<"$(diff "$1" "$DIR/run/old.log")"; }

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
pt_check "the fake lacks netdev_add like 0.12" grep -q "unknown command: 'netdev_add'" <<<"$raw"

# --- dialect detection, version, peer ---
info=$(drv info)
echo "# $info"
pt_check "HMP dialect detected as legacy, QEMU 0.12.5" grep -q "kind=hmp dialect=legacy version=0.12.5" <<<"$info"
pt_check "peer credentials name the fake's user" grep -q "uid=$(id -u "$QUSER") " <<<"$info"

# --- add: host_net_add + pci_add, a free VLAN picked, slot remembered ---
drv_rc add --tap ptapl0 --netdev hn0 --mac 52:54:00:0a:00:01
pt_check "nic_add ptapl0 ($out)" grep -q "added vlan=1 slot=4" <<<"$out"
pt_check "fake: tap ptapl0 opened by name, on VLAN 1 with hn0" \
    state '[.vlans["1"][] | select(.name == "hn0") | .ifname] == ["ptapl0"]'
pt_check "fake: a virtio NIC in slot 4 with the MAC" \
    state '.pci["4"].id == "1af4:1000" and .pci["4"].mac == "52:54:00:0a:00:01"'
pt_check "the kernel: ptapl0 has carrier (someone attached)" test "$(carrier ptapl0)" = 1
pt_check "nic_present: slot and netdev" grep -q "device=yes netdev=yes" <<<"$(drv present --netdev hn0 --slot 4)"
pt_check "commands as 0.12 expects them" grep -qx \
    "host_net_add tap vlan=1,name=hn0,ifname=ptapl0,script=no,downscript=no" "$DIR/run/old.log"
pt_check "... pci_add with the legacy model name" grep -qx \
    "pci_add pci_addr=auto nic model=virtio,macaddr=52:54:00:0a:00:01,vlan=1" "$DIR/run/old.log"
drv_rc add --tap ptapl1 --netdev hn1 --mac 52:54:00:0a:00:02 --model e1000
pt_check "second NIC (e1000) on the next VLAN and slot ($out)" grep -q "added vlan=2 slot=5" <<<"$out"

# --- each error reply ---
drv_rc add --tap ptapl9 --netdev hn9 --mac 52:54:00:0a:00:09
pt_check "tap of another user: TAPPERM, 0.12's two lines quoted (rc=$rc: $out)" exited 4 \
    "host_net_add .hn9. failed: could not configure /dev/net/tun (ptapl9): Operation not permitted;adding host network device tap failed"
pt_check "... nothing on record in the fake" lacks hn9 "$DIR/run/old.json"
drv_rc add --tap ptapl0 --netdev hn8 --mac 52:54:00:0a:00:08
pt_check "tap already attached: TAPBUSY (rc=$rc: $out)" exited 5
cp "$DIR/run/old.log" "$DIR/log.before"
drv_rc add --tap ptapl2 --netdev hn2 --mac 52:54:00:0a:00:03 --model rtl8139
pt_check "slot 6 then full: third NIC fits ($out)" grep -q "added vlan=3 slot=6" <<<"$out"
ip -n "$NS" tuntap add ptapl3 mode tap user "$QUSER"
drv_rc add --tap ptapl3 --netdev hn3 --mac 52:54:00:0a:00:04
pt_check "no free slot: pci_add's 'failed to add' quoted (rc=$rc: $out)" exited 6 \
    "pci_add .hn3. failed: failed to add model=virtio,macaddr=52:54:00:0a:00:04,vlan=4"
pt_check "... host_net_add rolled back (host_net_remove 4 hn3)" grep -qx "host_net_remove 4 hn3" "$DIR/run/old.log"
pt_check "... the fake holds no tap ptapl3" lacks ptapl3 "$DIR/run/old.json"
drv_rc add --tap ptapl3 --netdev hn3 --mac 52:54:00:0a:00:04 --queues 2
pt_check "queues on a legacy QEMU: DIALECT refusal (rc=$rc)" exited 8

# --- refusals never reach the fake ---
cp "$DIR/run/old.log" "$DIR/log.before"
drv_rc add --tap 'ptapl3,script=/bin/sh' --netdev hx --mac 52:54:00:0a:00:05; r1=$rc
drv_rc add --tap ptapl3 --netdev 'hx,vlan=0' --mac 52:54:00:0a:00:05; r2=$rc
drv_rc add --tap ptapl3 --netdev hx --mac 52:54:00:0a:00:05 --model 'virtio,vlan=0'; r3=$rc
drv_rc add --tap ptapl3 --netdev hx --mac '52:54:00:0a:00:05,vlan=0'; r4=$rc
pt_check "injections refused (rc $r1 $r2 $r3 $r4)" test "$r1$r2$r3$r4" = 2222
pt_check "... and the fake saw no host_net_add/pci_add for them" \
    sent_none_since "$DIR/log.before" "host_net_add|pci_add"

# --- remove: pci_del, wait for the eject, host_net_remove ---
drv_rc remove --netdev hn0 --vlan 1 --slot 4
pt_check "nic_remove hn0 ($out)" test "$out" = removed
pt_check "fake: slot 4 empty, hn0 gone" state '(.pci | has("4") | not) and (.vlans | has("1") | not)'
pt_check "the kernel: ptapl0 lost its carrier" test "$(carrier ptapl0)" = 0
pt_check "nic_present: neither" grep -q "device=no netdev=no" <<<"$(drv present --netdev hn0 --slot 4)"
drv_rc remove --netdev hn0 --vlan 1 --slot 4
pt_check "nic_remove again ('slot 4 empty', 'can't find device') counts as removed ($out)" test "$out" = removed
drv_rc remove --netdev hn1
pt_check "remove without slot/VLAN refused (rc=$rc)" exited 2
drv_rc remove --netdev hn1 --vlan 2 --slot 5
r1=$rc
drv_rc remove --netdev hn2 --vlan 3 --slot 6
pt_check "remove e1000 and rtl8139" test "$r1$rc" = 00
pt_check "fake: only the built-in NIC is left, no tap open" \
    state '(.pci | keys) == ["0", "1", "2", "3"] and .taps_open == []'

# --- QEMU cannot open /dev/net/tun (a private /dev without it) ---
start_fake notun --tun /nonexistent/tun || pt_fail "no fake monitor (without /dev/net/tun)"
T=hmp:$DIR/run/notun.sock
drv_rc add --tap ptapl0 --netdev hn0 --mac 52:54:00:0a:00:01
pt_check "no /dev/net/tun: NOTUN, QEMU's message quoted (rc=$rc: $out)" exited 3 \
    "could not open /dev/net/tun: No such file or directory"

pt_checks_done
