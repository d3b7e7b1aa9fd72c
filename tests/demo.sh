#!/usr/bin/env bash
# ./dev demo: a narrated tour. A throwaway guest runs as an unprivileged
# user in a private network namespace with a bridge; ptap hot-adds a NIC
# backed by a persistent tap that QEMU opens by name, the guest pings the
# host, ptap removes it again, and nothing is left behind.
build=${1:?usage: demo.sh BUILD_DIR}
PTAP_SOURCE_DIR=$(cd "$(dirname "$0")/.." && pwd)
export PTAP_SOURCE_DIR PTAP_BIN=$build/src/ptap PTAP_HELPER_BIN=$build/helper/ptap-helper
# The test bed's guest, and with it tests/lib/common.sh: what the demo makes
# (namespace, state, guest) goes at exit, even if a step fails.
. "$PTAP_SOURCE_DIR/tests/e2e/lib/guest.sh"
pt_require_root

say() { printf '\n\033[1;34m# %s\033[0m\n' "$*"; }
run() { local shown="$*"; printf '\033[1m$ %s\033[0m\n' "${shown/#P /ptap }"; "$@"; }

SD=$(mktemp -d "$PT_TMP/demo.XXXXXX")
P() { ip netns exec "$NS" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$SD" "$@"; }

say "Preparing the guest image (cached after the first run)"
ptap_guest_image >/dev/null || pt_fail "no guest image (qemu-system-x86, busybox-static)"
pt_user_ensure ptaptest-demo >/dev/null

pt_netns_new demo
NS=$PT_NS
say "A private network namespace '$NS' with a bridge br0 (10.9.0.1/24)"
ip -n "$NS" link add br0 type bridge
ip -n "$NS" addr add 10.9.0.1/24 dev br0
ip -n "$NS" link set br0 up

say "The privileged helper alone: a pool of two persistent taps on br0"
run P create demo%d --count 2 --bridge br0
run P list
run P destroy demo0 demo1

say "A guest booting under TCG, QEMU running as the unprivileged user 'ptaptest-demo'"
t0=$(date +%s.%N)
ptap_guest_start "$NS" ptaptest-demo || pt_fail "the guest did not boot"
awk -v t0="$t0" -v t1="$(date +%s.%N)" -v pid="$PTAP_GUEST_PID" \
    -v uid="$(awk '/^Uid:/ {print $2}' /proc/$PTAP_GUEST_PID/status)" \
    'BEGIN { printf "guest up in %.1f s (QEMU pid %s, uid %s)\n", t1 - t0, pid, uid }'
echo "guest sees: $(ptap_guest_cmd 'ls /sys/class/net' | tr '\n' ' ')"

say "Hot-add: ptap creates a tap owned by QEMU's user (the socket's peer credentials), journals it, and QEMU opens it by name over QMP (no descriptor passing)"
m=$(ptap_guest_mark)
run P attach "qmp:$PTAP_GUEST_QMP" --bridge br0
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null
echo "guest sees: $(ptap_guest_cmd 'ls /sys/class/net' | tr '\n' ' ')"
run P list

say "The guest configures its new NIC and pings the host side of the bridge"
ptap_guest_cmd "ip addr add 10.9.0.2/24 dev eth0 && ip link set eth0 up" >/dev/null
ptap_guest_cmd -t 30 "ping -c 2 -W 3 10.9.0.1" || ptap_guest_cmd -t 30 "ping -c 2 -W 3 10.9.0.1"

say "Hot-remove: device_del, wait for DEVICE_DELETED, netdev_del, destroy the tap"
tap=$(pt_jq "$(P list --json)" '.records[0].name')
m=$(ptap_guest_mark)
run P detach "qmp:$PTAP_GUEST_QMP" --tap "$tap"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null
echo "guest sees: $(ptap_guest_cmd 'ls /sys/class/net' | tr '\n' ' ')"

say "A crash: QEMU is killed with an attached NIC; 'ptap recover' cleans up"
P attach "qmp:$PTAP_GUEST_QMP" --bridge br0 >/dev/null
run kill -9 "$PTAP_GUEST_PID"
wait "$PTAP_GUEST_PID" 2>/dev/null || true
sleep 1
run P recover
run P list
echo "taps left in $NS: $(ip -n "$NS" -o link show type tun | wc -l)"
say "Done: nothing left behind."
