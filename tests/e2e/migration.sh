#!/usr/bin/env bash
# Guests keep their ptap NICs through live migration, cold start and stop
# (docs/migration.md), on two libvirt hosts on this machine
# (tests/e2e/lib/twohost.sh: own network and mount namespaces, private
# libvirt folders and /run/ptap, distinct host_uuid, a veth between them),
# ptap's hook installed on both:
#   1. `ptap attach --persistent` on host a; the guest pings its gateway;
#   2. live migration a -> b: b's hook makes the tap (journaled, attached
#      to the domain), a's taps and records are gone, the guest still pings
#      its gateway, `ptap recover` is a no-op on both hosts; and back b -> a;
#   3. a migration to a host without the bridge is refused with ptap's
#      message: the guest runs on a with a working NIC, b has nothing;
#   4. virsh destroy: the hook cleans up; virsh start from the persistent
#      XML: the hook makes the tap, the guest boots with its NIC.
# With PTAP_MIG_BENCH=N (tests/bench/bench-migration.sh) it also times N
# migrations there and back of this guest and of the same guest with a
# libvirt-managed <interface type='bridge'> NIC, and prints the numbers.
. "$PTAP_SOURCE_DIR/tests/e2e/lib/libvirtd.sh" # guest.sh, tests/lib/common.sh
. "$PTAP_SOURCE_DIR/tests/e2e/lib/twohost.sh"
pt_require_root
: "${PTAP_BIN:?}" "${PTAP_HELPER_BIN:?}" "${PTAP_BUILD_DIR:?}"
command -v nsenter >/dev/null || pt_skip "needs nsenter"

DOM=ptaptest-mig$$
HK=$(mktemp -d "$PT_TMP/hook.XXXXXX")
chmod 0755 "$HK"

# The hook and its program, pointed at the build (each host's /run/ptap is
# its own: the journals need no redirection).
sed -e "s|^PTAP=.*|PTAP=$PTAP_BIN\nPTAP_HELPER=$PTAP_HELPER_BIN; export PTAP_HELPER|" \
    "$PTAP_BUILD_DIR/udev/ptap-trigger" >"$HK/ptap-trigger"
sed -e "s|[^ ]*/ptap-trigger |$HK/ptap-trigger |" -e "s|^domain=|echo \"hook: \$*\" >>$HK/hook.log; domain=|" \
    "$PTAP_BUILD_DIR/udev/libvirt-hook-ptap" >"$HK/ptap"
grep -q "$HK/ptap-trigger hook prepare" "$HK/ptap" || pt_fail "could not point the hook at the test's ptap-trigger"
chmod 0755 "$HK/ptap-trigger" "$HK/ptap"

ptap_guest_image || pt_skip "no guest image"
rc=0
th_init || rc=$?
[ "$rc" != 77 ] || pt_skip "a libvirtd already runs on this machine"
[ "$rc" = 0 ] || pt_fail "cannot set up the two hosts"
pt_diag_add th_log_tail a 20
pt_diag_add th_log_tail b 20
pt_diag_add cat "$HK/hook.log"
th_host a 10.77.0.1 "$HK/ptap" && th_host b 10.77.0.2 "$HK/ptap" && th_link a b || pt_fail "no hosts"
# The guest's gateway: br0 on each host, same address and MAC (the guest's
# neighbour cache survives the move).
for h in a b; do
    ns=TH_NS_$h
    ip -n "${!ns}" link add br0 address 02:70:74:61:70:01 type bridge &&
        ip -n "${!ns}" addr add 10.78.0.1/24 dev br0 && ip -n "${!ns}" link set br0 up ||
        pt_fail "no bridge on $h"
done
th_start a && th_start b || pt_fail "libvirtd did not start"

# P HOST ARGS: the built ptap as root "on" HOST (its namespaces, its journal).
P() {
    local h=$1
    shift
    th_on "$h" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" "$@"
}
# ptap's JSON as an array, whichever shape this ptap prints: the bare array,
# or the version 1 document ({"records": [...]}).
arr() { jq -c 'if type == "object" and has("records") then .records else . end'; }
states() { pt_jq "$(P "$1" list --json | arr)" '[.[] | .name + ":" + .state] | sort | join(" ")'; }
kernel_taps() { ip -n "$(eval echo "\$TH_NS_$1")" -o link show type tun 2>/dev/null | awk -F': ' '{print $2}' | sort | tr '\n' ' '; }
recover_noop() {
    local out
    out=$(P "$1" recover --dry-run --json | arr) || pt_fail "recover --dry-run on $1 failed"
    pt_assert_json "recover on $1 right after the migration is a no-op" "$out" 'length == 0'
}

# The domain: a's definition, the console socket per host.
dom_xml() { # NAME HOST NIC-XML
    ptap_lv_domain_xml "$1" "$TH_DIR/$2/$1.sock" pc "$3"
}
for h in a b; do chown "$PTAP_LV_QEMU_USER:" "$TH_DIR/$h"; done

RELAY=
relay_stop() {
    [ -z "$RELAY" ] || pt_kill "$RELAY" 5
    RELAY=
    if [ -n "${PTAP_GUEST_CONSOLE_FD:-}" ]; then exec {PTAP_GUEST_CONSOLE_FD}>&-; PTAP_GUEST_CONSOLE_FD=; fi
}
pt_cleanup_add relay_stop
# relay HOST NAME: the guest's console as guest.sh's helpers read it.
relay() {
    local h=$1 name=$2 i
    relay_stop
    for i in $(seq 50); do [ -S "$TH_DIR/$h/$name.sock" ] && break; sleep 0.1; done
    read -r PTAP_GUEST_PID <"$TH_DIR/$h/run/libvirt/qemu/$name.pid" || [ -n "$PTAP_GUEST_PID" ] || return 1
    PTAP_GUEST_LOG=$TH_DIR/$name.console
    touch "$PTAP_GUEST_LOG"
    [ -p "$TH_DIR/$name.in" ] || mkfifo -m 0600 "$TH_DIR/$name.in"
    exec {PTAP_GUEST_CONSOLE_FD}<>"$TH_DIR/$name.in"
    "$PTAP_BUILD_DIR/tests/e2e/virt/virt-driver" console "$TH_DIR/$h/$name.sock" \
        <"$TH_DIR/$name.in" >>"$PTAP_GUEST_LOG" 2>/dev/null {TH_LOCK_FD}>&- &
    RELAY=$!
    export PTAP_GUEST_PID PTAP_GUEST_LOG
}
pt_diag_add ptap_guest_log_tail 30

# migrate NAME FROM TO: live, with the console socket renamed for TO;
# prints the milliseconds virsh took. Fails with virsh's message on stderr.
migrate() {
    local name=$1 from=$2 to=$3 ip t0 out
    ip=TH_IP_$to
    th_virsh "$from" dumpxml --migratable "$name" | sed "s|$TH_DIR/$from/$name.sock|$TH_DIR/$to/$name.sock|" \
        >"$TH_DIR/$name.mig.xml" || return 1
    t0=$(date +%s%N)
    out=$(th_virsh "$from" migrate --live "$name" "$(th_uri "$to")" --migrateuri "tcp://${!ip}" \
        --xml "$TH_DIR/$name.mig.xml" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
    echo $((($(date +%s%N) - t0) / 1000000))
}
gateway_ok() { ptap_guest_cmd -t 40 "ping -c 1 -W 5 10.78.0.1 || ping -c 2 -W 5 10.78.0.1" >/dev/null; }

echo "== 1. a guest on host a, a ptap NIC attached --persistent"
dom_xml "$DOM" a "" >"$TH_DIR/$DOM.xml"
th_virsh a define "$TH_DIR/$DOM.xml" >/dev/null || pt_fail "define failed"
th_virsh a start "$DOM" >/dev/null || pt_fail "start failed"
relay a "$DOM" || pt_fail "no console"
ptap_guest_wait '^PTAP-READY$' 60 >/dev/null || pt_fail "the guest did not boot"
m=$(ptap_guest_mark)
out=$(P a attach "$DOM" --bridge br0 --persistent --json) || pt_fail "attach --persistent failed"
TAP=$(pt_jq "$out" 'if type == "object" and has("records") then .records[0].name else .tap end')
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "the guest does not see its NIC"
ptap_guest_cmd "ip addr add 10.78.0.2/24 dev eth0 && ip link set eth0 up" >/dev/null || pt_fail "no eth0"
gateway_ok || pt_fail "the guest cannot reach its gateway on a"
meta=$(th_virsh a metadata "$DOM" https://ptap.dev/xmlns/libvirt/1)
pt_assert_match "live metadata names the tap" "tap=\"$TAP\" bridge=\"br0\"" "$meta"
pt_assert_match "persistent metadata too" "tap=\"$TAP\"" "$(th_virsh a metadata "$DOM" https://ptap.dev/xmlns/libvirt/1 --config)"
pt_assert_match "persistent definition has the NIC" "<target dev='$TAP'" "$(th_virsh a dumpxml --inactive "$DOM")"

echo "== 2. live migration a -> b and back, the guest keeps reaching its gateway"
ms=$(migrate "$DOM" a b) || pt_fail "migration a -> b failed"
echo "  a -> b: $ms ms"
relay b "$DOM" || pt_fail "no console on b"
gateway_ok || pt_fail "the guest cannot reach its gateway on b"
pt_assert_eq "b's journal" "$TAP:attached" "$(states b)"
pt_assert_json "b's record names the domain" "$(P b list --json | arr)" \
    '.[0].consumer.name == $d' --arg d "$DOM"
pt_assert_eq "a's journal" "" "$(states a)"
pt_assert_eq "a's taps" "" "$(kernel_taps a)"
pt_assert_eq "b's taps" "$TAP " "$(kernel_taps b)"
recover_noop a
recover_noop b
ms=$(migrate "$DOM" b a) || pt_fail "migration b -> a failed"
echo "  b -> a: $ms ms"
relay a "$DOM" || pt_fail "no console on a"
gateway_ok || pt_fail "the guest cannot reach its gateway back on a"
pt_assert_eq "a's journal after the way back" "$TAP:attached" "$(states a)"
pt_assert_eq "b's journal after the way back" "" "$(states b)"
pt_assert_eq "b's taps after the way back" "" "$(kernel_taps b)"
recover_noop a
recover_noop b
pt_ok "live migration there and back"

echo "== 3. a host without the bridge refuses the migration"
ip -n "$TH_NS_b" link del br0
if out=$(migrate "$DOM" a b 2>&1); then pt_fail "migration to a host without br0 succeeded"; fi
pt_assert_match "libvirt says ptap's reason" "no bridge 'br0' on this host" "$out"
pt_assert_eq "the guest still runs on a" "running" "$(th_virsh a domstate "$DOM")"
gateway_ok || pt_fail "the guest lost its NIC on a"
pt_assert_eq "a's journal unchanged" "$TAP:attached" "$(states a)"
pt_assert_eq "b's journal" "" "$(states b)"
pt_assert_eq "b's taps" "" "$(kernel_taps b)"
pt_assert_eq "the domain is not on b" "" "$(th_virsh b list --all --name)"
ip -n "$TH_NS_b" link add br0 address 02:70:74:61:70:01 type bridge && ip -n "$TH_NS_b" link set br0 up
pt_ok "refused migration"

echo "== 3b. a migration cancelled half-way: the destination's tap goes again"
th_virsh a dumpxml --migratable "$DOM" | sed "s|$TH_DIR/a/$DOM.sock|$TH_DIR/b/$DOM.sock|" >"$TH_DIR/$DOM.mig.xml"
th_virsh a migrate --live "$DOM" "$(th_uri b)" --migrateuri tcp://10.77.0.2 --bandwidth 1 \
    --xml "$TH_DIR/$DOM.mig.xml" >/dev/null 2>&1 &
MIG=$!
for _ in $(seq 100); do [ "$(states b)" = "$TAP:attached" ] && break; sleep 0.1; done
pt_assert_eq "b made the tap for the incoming guest" "$TAP:attached" "$(states b)"
th_virsh a domjobabort "$DOM" >/dev/null 2>&1 || true
if wait "$MIG"; then pt_fail "the cancelled migration succeeded"; fi
for _ in $(seq 50); do [ -z "$(kernel_taps b)" ] && break; sleep 0.1; done
pt_assert_eq "b's taps after the cancel" "" "$(kernel_taps b)"
pt_assert_eq "b's journal after the cancel" "" "$(states b)"
pt_assert_eq "the guest still runs on a" "running" "$(th_virsh a domstate "$DOM")"
gateway_ok || pt_fail "the guest lost its NIC on a after the cancel"
pt_assert_eq "a's journal after the cancel" "$TAP:attached" "$(states a)"
recover_noop a
recover_noop b
pt_ok "cancelled migration"

echo "== 4. virsh destroy cleans up; virsh start makes the tap from the persistent XML"
relay_stop
th_virsh a destroy "$DOM" >/dev/null || pt_fail "destroy failed"
pt_assert_eq "a's journal after destroy" "" "$(states a)"
pt_assert_eq "a's taps after destroy" "" "$(kernel_taps a)"
m=$(ptap_guest_mark)
th_virsh a start "$DOM" >/dev/null || pt_fail "cold start failed: $(th_log_tail a 5 2>&1)"
relay a "$DOM" || pt_fail "no console"
ptap_guest_wait '^PTAP-READY$' 60 "$m" >/dev/null || pt_fail "the cold-started guest did not boot"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "the cold-started guest has no NIC"
pt_assert_eq "a's journal after the cold start" "$TAP:attached" "$(states a)"
recover_noop a
ptap_guest_cmd "ip addr add 10.78.0.2/24 dev eth0 && ip link set eth0 up" >/dev/null || pt_fail "no eth0"
gateway_ok || pt_fail "the cold-started guest cannot reach its gateway"
if [ -n "${PTAP_MIG_BENCH:-}" ]; then
    BENCH_PTAP=()
    for _ in $(seq "$PTAP_MIG_BENCH"); do
        BENCH_PTAP+=("$(migrate "$DOM" a b)" "$(migrate "$DOM" b a)") || pt_fail "bench migration failed"
    done
fi
relay_stop
th_virsh a destroy "$DOM" >/dev/null
pt_assert_eq "a's journal after the second destroy" "" "$(states a)"
pt_assert_eq "a's taps after the second destroy" "" "$(kernel_taps a)"
grep -q "hook: $DOM migrate begin" "$HK/hook.log" || pt_fail "libvirt never ran the hook's migrate begin"
pt_ok "cold start and destroy"

if [ -n "${PTAP_MIG_BENCH:-}" ]; then
    echo "== bench: the same guest with a libvirt-managed bridge NIC"
    BR=ptaptest-migbr$$
    dom_xml "$BR" a "<interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>" >"$TH_DIR/$BR.xml"
    th_virsh a define "$TH_DIR/$BR.xml" >/dev/null && th_virsh a start "$BR" >/dev/null || pt_fail "bridge guest"
    relay a "$BR" && ptap_guest_wait '^PTAP-READY$' 60 >/dev/null || pt_fail "bridge guest did not boot"
    relay_stop
    BENCH_BR=()
    for _ in $(seq "$PTAP_MIG_BENCH"); do
        BENCH_BR+=("$(migrate "$BR" a b)" "$(migrate "$BR" b a)") || pt_fail "bench migration failed"
    done
    th_virsh a destroy "$BR" >/dev/null
    echo "BENCH migration_ms ptap ${BENCH_PTAP[*]}"
    echo "BENCH migration_ms bridge ${BENCH_BR[*]}"
fi
echo "PASS"
