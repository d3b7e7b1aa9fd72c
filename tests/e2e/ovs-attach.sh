#!/usr/bin/env bash
# ptap on an Open vSwitch bridge, end to end: ovsdb-server and ovs-vswitchd
# with the userspace datapath (no kernel module: TESTBED.md) in the test's
# netns, and a private mount namespace whose tmpfs on /run/openvswitch
# holds the standard db.sock (a host Open vSwitch is never seen, let alone
# touched; both daemons are stopped by pid). A real TCG guest:
#   - hot-added on obr0, it pings the bridge's internal port; its Interface
#     row carries attached-mac, iface-id, iface-status and ptap's mark;
#     `ptap list` shows the OVS bridge; detach leaves no port;
#   - pool taps are ports; a missing port row is flagged by list;
#   - the setuid helper reaches root's db.sock for a user, who sees and
#     forgets none of the rows of others;
#   - a pool tap deleted behind OVS's back and a killed guest leave no
#     stale rows after recover, a healthy pool tap keeps its port, the udev
#     removal path (ptap forget) drops a row too, and ports ptap did not
#     make (or another user's) are never touched.
set -eu
if [ -z "${PTAP_OVS_PRIVATE_MNT:-}" ]; then
    # Everything below runs in a private mount namespace.
    exec env PTAP_OVS_PRIVATE_MNT=1 unshare -m --propagation private bash "$0" "$@"
fi
. "$PTAP_SOURCE_DIR/tests/e2e/lib/attach.sh"
for t in ovsdb-server ovs-vswitchd ovsdb-tool ovs-vsctl; do
    command -v "$t" >/dev/null || pt_skip "'$t' is not installed (openvswitch-switch)"
done
[ -r /usr/share/openvswitch/vswitch.ovsschema ] || pt_skip "no vswitch.ovsschema"

# The mount point may not exist on a host that never ran Open vSwitch; the
# tmpfs on it is ours alone (this mount namespace).
[ -d /run/openvswitch ] || mkdir -m 0755 /run/openvswitch
mount -t tmpfs -o mode=0755 ptaptest-ovs /run/openvswitch

attach_setup ovs
T="qmp:$PTAP_GUEST_QMP"
OVS=$(mktemp -d "$PT_TMP/ovs.XXXXXX")

ovs_stop() {
    local f pid
    for f in "$OVS/vswitchd.pid" "$OVS/ovsdb.pid"; do
        pid=$(cat "$f" 2>/dev/null) || continue
        [ -n "$pid" ] && pt_kill "$pid" 5
    done
}
ovs_logs() {
    echo "---- ovs-vswitchd.log (tail) ----" >&2
    tail -n 20 "$OVS/vswitchd.log" >&2 2>/dev/null || true
}
pt_cleanup_add ovs_stop
pt_diag_add ovs_logs

V() { ovs-vsctl --timeout=10 "$@"; }

echo "== without Open vSwitch: nothing to list or forget, and no such bridge"
pt_assert_rc "ovs-list, no server" 0 ip netns exec "$NS" "$PTAP_HELPER_BIN" ovs-list
pt_assert_eq "lists nothing" "" "$PT_OUT"
pt_assert_rc "ovs-forget, no server" 0 ip netns exec "$NS" "$PTAP_HELPER_BIN" ovs-forget ptapov0
pt_assert_rc "create on an unknown bridge" 64 P create ptapov%d --bridge obr0
pt_assert_match "says so" "bridge 'obr0' does not exist" "$PT_ERR"
pt_assert_rc "a bad --attached-mac" 64 ip netns exec "$NS" "$PTAP_HELPER_BIN" create ptapx%d \
    --bridge br0 --attached-mac 52:54:00:zz:00:01
pt_assert_rc "--iface-id outside create" 64 ip netns exec "$NS" "$PTAP_HELPER_BIN" ovs-list \
    --iface-id 11111111-2222-4333-8444-555555555555

ovsdb-tool create "$OVS/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server "$OVS/conf.db" --remote=punix:/run/openvswitch/db.sock --pidfile="$OVS/ovsdb.pid" \
    --unixctl="$OVS/ovsdb.ctl" --log-file="$OVS/ovsdb.log" --detach --no-chdir 2>/dev/null
ip netns exec "$NS" ovs-vswitchd unix:/run/openvswitch/db.sock --pidfile="$OVS/vswitchd.pid" \
    --unixctl="$OVS/vswitchd.ctl" --log-file="$OVS/vswitchd.log" --detach --no-chdir 2>/dev/null
V --no-wait init
V add-br obr0 -- set bridge obr0 datapath_type=netdev
ip -n "$NS" addr add 10.9.1.1/24 dev obr0
ip -n "$NS" link set obr0 up

# ovs_ids TABLE NAME: the row's external_ids as a JSON object ({} if no row).
ovs_ids() {
    V -f json -d json --columns=external_ids find "$1" "name=$2" |
        jq -c '(.data[0][0][1] // []) | map({(.[0]): .[1]}) | add // {}'
}
# ovs_ports: the ports of obr0 but its own, sorted, on one line.
ovs_ports() { V list-ports obr0 | sort | xargs; }
mark_of() { ip -n "$NS" -j link show "$1" | jq -r '.[0].ifalias'; }

echo "== attach a fresh tap on the OVS bridge: a port, and the guest pings the bridge"
m=$(ptap_guest_mark)
out=$(P attach "$T" --bridge obr0 --json) || pt_fail "attach --bridge obr0 failed"
tap=$(pt_jq "$out" '.records[0].name'); mac=$(pt_jq "$out" '.records[0].consumer.mac')
pt_assert_eq "the tap is a port of obr0" obr0 "$(V port-to-br "$tap")"
ids=$(ovs_ids Interface "$tap")
pt_assert_json "Interface external_ids as os-vif sets them, and the mark: $ids" "$ids" \
    '.["attached-mac"] == $mac and .["iface-status"] == "active"
     and (.["iface-id"] | test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"))
     and .["ptap-mark"] == $mark' --arg mac "$mac" --arg mark "$(mark_of "$tap")"
pt_assert_eq "the Port carries the mark" "$(mark_of "$tap")" \
    "$(pt_jq "$(ovs_ids Port "$tap")" '.["ptap-mark"]')"
pt_assert_eq "MTU: the OVS bridge's" "$(ip netns exec "$NS" cat /sys/class/net/obr0/mtu)" \
    "$(ip netns exec "$NS" cat "/sys/class/net/$tap/mtu")"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw eth0"
ptap_guest_link_check "$NS" eth0 10.9.1.2 10.9.1.1 || pt_fail "no traffic between the guest and obr0"
list=$(P list --json)
pt_assert_json "list: the OVS bridge, the port row there, no problem: $list" "$list" \
    '.records[] | select(.name == $t) | .bridge == "obr0" and .ovs_port == true and .problem == null' \
    --arg t "$tap"
P list | grep -q "^$tap .* ovs:obr0 " || pt_fail "list does not show 'ovs:obr0': $(P list)"
assert_consistent
pt_ok "a guest on an OVS bridge pings it; its Interface row carries attached-mac"

echo "== detach: the tap and its port are gone"
m=$(ptap_guest_mark)
P detach "$T" --tap "$tap" >/dev/null || pt_fail "detach failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists eth0"
pt_assert_eq "no port left" "" "$(ovs_ports)"
pt_assert_eq "no Port row left" "{}" "$(ovs_ids Port "$tap")"
pt_ok "detach leaves no port"

echo "== pool taps are ports; a missing port row is flagged"
P create ptapov%d --count 3 --bridge obr0 >/dev/null || pt_fail "pool create on obr0 failed"
pt_assert_eq "three ports, one transaction's" "ptapov0 ptapov1 ptapov2" "$(ovs_ports)"
V del-port obr0 ptapov2
list=$(P list --json || [ $? -eq 1 ])
pt_assert_json "list flags the tap whose port row is missing: $list" "$list" \
    '[.records[] | select(.name == "ptapov2")][0] | .ovs_port == false and (.problem | test("port row is missing"))'
pt_assert_json "and only that one: $list" "$list" '[.records[] | select(.problem != null) | .name] == ["ptapov2"]'
P destroy ptapov2 >/dev/null || pt_fail "destroy of the tap without a port row failed"
pt_ok "pool taps are ports; list flags a missing port row"

echo "== a pool tap attached later: its port names the guest, and no longer once back"
P create ptapop%d --bridge obr0 --owner "$QUSER" >/dev/null || pt_fail "create ptapop0 failed"
pt_assert_eq "no guest's MAC before attach" null "$(ovs_ids Interface ptapop0 | jq -c '.["attached-mac"]')"
m=$(ptap_guest_mark)
out=$(P attach "$T" --tap ptapop0 --json) || pt_fail "attach --tap ptapop0 failed"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw ptapop0's NIC"
pt_assert_eq "attached-mac is the guest's" "$(pt_jq "$out" '.records[0].consumer.mac')" \
    "$(pt_jq "$(ovs_ids Interface ptapop0)" '.["attached-mac"]')"
m=$(ptap_guest_mark)
P detach "$T" --tap ptapop0 --keep-tap >/dev/null || pt_fail "detach --keep-tap failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists eth0"
ids=$(ovs_ids Interface ptapop0)
pt_assert_json "back in the pool: no attached-mac, the mark kept: $ids" "$ids" \
    '.["attached-mac"] == null and (.["ptap-mark"] | startswith("ptap:u0:"))'
P destroy ptapop0 >/dev/null || pt_fail "destroy ptapop0 failed"
pt_ok "a pool tap's port carries attached-mac while attached"

echo "== ports ptap did not make, and another user's marks"
V add-port obr0 fgn0 -- set Interface fgn0 type=internal
V add-port obr0 fake0 -- set Interface fake0 type=internal \
    -- set Port fake0 external_ids:ptap-mark=ptap:u4242:0123456789abcdef:op1
helper=$(pt_helper_install setuid)
as_user() { ip netns exec "$NS" setpriv --reuid "$QUSER" --regid "$QUSER" --init-groups -- "$@"; }
pt_assert_eq "db.sock is root's alone" "srwxr-x--- root" "$(stat -c '%A %U' /run/openvswitch/db.sock)"
pt_assert_rc "ovs-list as a user (setuid helper)" 0 as_user "$helper" ovs-list
pt_assert_eq "the user sees the bridge and none of the others' ports" "bridge obr0" "$PT_OUT"
pt_assert_rc "ovs-forget as a user" 0 as_user "$helper" ovs-forget fake0 ptapov0 fgn0
pt_assert_eq "the user forgets nothing of others" "" "$PT_OUT"
pt_assert_eq "every port still there" "fake0 fgn0 ptapov0 ptapov1" "$(ovs_ports)"
pt_ok "the setuid helper reaches root's OVSDB for a user, who touches none of the others' rows"

echo "== a tap deleted behind OVS's back, a killed guest, udev's forget: no stale rows"
P create ptapuf%d --bridge obr0 >/dev/null || pt_fail "create ptapuf0 failed"
ip -n "$NS" link del ptapuf0
P forget ptapuf0 >/dev/null 2>&1 || pt_fail "forget ptapuf0 failed"
pt_assert_eq "forget (the udev removal path) dropped its row" "{}" "$(ovs_ids Port ptapuf0)"
m=$(ptap_guest_mark)
out=$(P attach "$T" --bridge obr0 --json) || pt_fail "second attach failed"
gtap=$(pt_jq "$out" '.records[0].name')
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw the second NIC"
pt_assert_eq "ports before" "fake0 fgn0 $gtap ptapov0 ptapov1" "$(ovs_ports)"
ip -n "$NS" link del ptapov0
kill -9 "$PTAP_GUEST_PID"
for _ in $(seq 50); do kill -0 "$PTAP_GUEST_PID" 2>/dev/null || break; sleep 0.1; done
pt_assert_rc "recover" 0 P recover --json
acts=$PT_OUT
pt_assert_json "recover destroys the dead guest's tap and forgets ptapov0's row: $acts" "$acts" \
    '(.records | map(select(.action == "forget-ovs-port") | .name) == ["ptapov0"])
     and any(.records[]; .name == $g and .action == "consumer-gone")' --arg g "$gtap"
pt_assert_eq "only the healthy pool tap and others' ports are left" "fake0 fgn0 ptapov1" "$(ovs_ports)"
pt_assert_eq "no Port row of the gone taps" "{} {}" "$(ovs_ids Port ptapov0) $(ovs_ids Port "$gtap")"
pt_assert_eq "the healthy tap keeps its marked port" "$(mark_of ptapov1)" \
    "$(pt_jq "$(ovs_ids Port ptapov1)" '.["ptap-mark"]')"
pt_assert_rc "a second recover" 0 P recover --json
pt_assert_eq "has nothing left to do" "[]" "$(echo "$PT_OUT" | jq -c .records)"
pt_assert_rc "destroy ptapov1" 0 P destroy ptapov1
pt_assert_eq "destroy took its port; others' ports untouched" "fake0 fgn0" "$(ovs_ports)"
pt_ok "no stale rows after recover; a healthy tap and others' ports are kept"

echo "== a user's taps: the setuid helper, the policy's bridge rules by name, recover"
V add-br obr1 -- set bridge obr1 datapath_type=netdev
pol=$(pt_policy_dir "allow user $QUSER bridge obr0 max 4
deny bridge obr1")
_pt_etc_ptap
mount --bind "$pol" /etc/ptap # this mount namespace's alone
US=$(mktemp -d "$PT_TMP/user.XXXXXX")
chmod 0700 "$US"
chown "$QUSER:" "$US"
PU() {
    ip netns exec "$NS" setpriv --reuid "$QUSER" --regid "$QUSER" --init-groups -- \
        env PTAP_HELPER="$helper" "$PTAP_BIN" --state-dir "$US/state" "$@"
}
pt_assert_rc "a user's create on obr1 (denied by name)" 77 PU create ptapus%d --bridge obr1
pt_assert_rc "a user's create on obr0 (allowed by name)" 0 PU create ptapus%d --count 2 --bridge obr0
pt_assert_eq "the user's taps are ports" "fake0 fgn0 ptapus0 ptapus1" "$(ovs_ports)"
pt_assert_eq "marked by the user" "ptap:u$(id -u "$QUSER"):" "$(pt_jq "$(ovs_ids Port ptapus0)" '.["ptap-mark"]' | cut -d: -f1-2):"
ip -n "$NS" link del ptapus0
pt_assert_rc "the user's recover" 0 PU recover --json
pt_assert_json "forgets the row of the tap that is gone: $PT_OUT" "$PT_OUT" \
    '.records | map(select(.action == "forget-ovs-port") | .name) == ["ptapus0"]'
pt_assert_eq "its row went, the others stay" "fake0 fgn0 ptapus1" "$(ovs_ports)"
pt_assert_rc "the user's destroy" 0 PU destroy ptapus1
pt_assert_eq "and its port with it" "fake0 fgn0" "$(ovs_ports)"
printf 'allow user %s bridge obr0 max 4\novsdb-socket /run/openvswitch/elsewhere.sock\n' "$QUSER" \
    >"$pol/helper.conf"
pt_assert_rc "ovs-list with another ovsdb-socket in helper.conf" 0 as_user "$helper" ovs-list
pt_assert_eq "asks that socket (where no server listens), not db.sock" "" "$PT_OUT"
pt_ok "a user's taps on OVS bridges: policy by name, rows removed through the helper"
echo "PASS"
