#!/usr/bin/env bash
# ptap attach --network default against libvirt's real NAT network: a real
# libvirtd (in a private netns) with its dnsmasq and iptables rules, network
# 'default' on virbr0 (192.168.122.1/24), a TCG guest. ptap asks libvirt for
# the network's bridge; the guest sees the NIC, gets a DHCP lease from
# libvirt's dnsmasq and pings the gateway; `ptap list` names the network;
# detach removes NIC and tap. Also: create --network for a pool tap that
# then goes to the guest with attach --tap, and an inactive network refused
# with 69 (an unknown one with 64), nothing left behind.
. "$PTAP_SOURCE_DIR/tests/e2e/lib/libvirtd.sh" # guest.sh, tests/lib/common.sh
pt_require_root

DOM=ptaptest-nat$$
SD=$(mktemp -d "$PT_TMP/state.XXXXXX")
pt_diag_add ptap_lv_log_tail 20
P() { ip netns exec "$NS" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$SD" "$@"; }
# ptap's JSON as an array of records, whichever shape this ptap prints: the
# version 1 document ({"records": [...]}), or the bare array (list, create)
# and attach's own object ({tap, mac, bus, ...}) of the ptap before it.
recs() {
    jq -c 'if type == "object" and has("records") then .records
           elif type == "array" then .
           else [{name: .tap, bridge, network, consumer: {mac, bus}}] end'
}

command -v dnsmasq >/dev/null || pt_skip "no dnsmasq (dnsmasq-base)"
command -v iptables >/dev/null || pt_skip "no iptables"
ptap_guest_image || pt_skip "no guest image"
pt_netns_new nat
NS=$PT_NS
ptap_lv_start_or_skip "$NS"
ptap_lv_net default virbr0 192.168.122.1 || pt_fail "network 'default' did not start"
ptap_lv_net ptaptest-off ptvirbr9 192.168.123.1 --no-start || pt_fail "cannot define network 'ptaptest-off'"
ip -n "$NS" link show virbr0 >/dev/null || pt_fail "no virbr0 in $NS"
ptap_lv_define "$DOM" || pt_fail "define failed"
ptap_lv_boot "$DOM" || pt_fail "boot failed"

# The guest's DHCP client script: on "bound", take the address.
dhcp_setup() {
    ptap_guest_cmd 'echo "#!/bin/sh" >/tmp/dh.sh && echo "[ \"\$1\" = bound ] && ip addr add \$ip/24 dev \$interface; exit 0" >>/tmp/dh.sh && chmod +x /tmp/dh.sh' >/dev/null ||
        pt_fail "cannot write the guest's DHCP script"
}
# dhcp_ping IF MAC: lease from libvirt's dnsmasq, then ping the gateway.
dhcp_ping() {
    local ifname=$1 mac=$2 addr
    ptap_guest_cmd -t 60 "ip link set $ifname up && udhcpc -i $ifname -n -q -t 10 -T 2 -s /tmp/dh.sh" >/dev/null ||
        pt_fail "no DHCP lease on $ifname"
    addr=$(ptap_guest_cmd "ip -4 -o addr show dev $ifname" | grep -Eo '192\.168\.122\.[0-9]+' | head -n 1)
    [ -n "$addr" ] || pt_fail "$ifname has no 192.168.122.x address after DHCP"
    echo "  lease: $addr on $ifname ($mac)"
    ptap_lv_virsh net-dhcp-leases default | grep -qi "$mac" || pt_fail "libvirt lists no lease for $mac"
    ptap_guest_cmd -t 40 "ping -c 1 -W 5 192.168.122.1 || ping -c 2 -W 5 192.168.122.1" >/dev/null ||
        pt_fail "the guest cannot ping the gateway 192.168.122.1"
    ptap_guest_cmd "ip addr flush dev $ifname" >/dev/null || true
}
dhcp_setup

echo "== attach --network default"
m=$(ptap_guest_mark)
out=$(P attach "$DOM" --network default --json | recs) || pt_fail "attach --network default failed"
tap=$(pt_jq "$out" '.[0].name'); mac=$(pt_jq "$out" '.[0].consumer.mac')
pt_assert_json "attach names bridge and network" "$out" '.[0].bridge == "virbr0" and .[0].network == "default"'
[ "$(ip -n "$NS" -j link show "$tap" | jq -r '.[0].master')" = virbr0 ] || pt_fail "tap $tap is not on virbr0"
pt_assert_json "list: the network" "$(P list --json | recs)" \
    ".[] | select(.name == \"$tap\") | .network == \"default\" and .bridge == \"virbr0\" and .state == \"attached\""
P list | grep -Eq "^$tap +attached .*virbr0 +default( |\$)" || pt_fail "'ptap list' does not name network default: $(P list)"
ptap_lv_virsh domiflist "$DOM" | grep -q "$mac" || pt_fail "virsh domiflist does not show $mac"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw eth0"
dhcp_ping eth0 "$mac"
m=$(ptap_guest_mark)
P detach "$DOM" --tap "$tap" --timeout 30 >/dev/null || pt_fail "detach failed"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists eth0"
ip -n "$NS" link show "$tap" >/dev/null 2>&1 && pt_fail "tap $tap survived detach"
[ "$(P list --json | recs)" = "[]" ] || pt_fail "records left after detach"
pt_ok "attach --network default: NIC, DHCP lease from libvirt's dnsmasq, gateway ping; detach removes it"

echo "== create --network default, then attach --tap"
pool=$(P create 'ptnat%d' --network default) || pt_fail "create --network default failed"
[ "$(ip -n "$NS" -j link show "$pool" | jq -r '.[0].master')" = virbr0 ] || pt_fail "pool tap $pool not on virbr0"
P create ptnatq --network default --owner "$PTAP_LV_QEMU_UID" >/dev/null || pt_fail "create for QEMU's user failed"
m=$(ptap_guest_mark)
out=$(P attach "$DOM" --tap ptnatq --json | recs) || pt_fail "attach --tap ptnatq failed"
pt_assert_json "pool tap keeps its network" "$out" '.[0].network == "default"'
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw the pool tap's NIC"
dhcp_ping eth0 "$(pt_jq "$out" '.[0].consumer.mac')"
P detach "$DOM" --tap ptnatq --keep-tap --timeout 30 >/dev/null || pt_fail "detach --keep-tap failed"
pt_assert_json "kept tap: ready, still of network default" "$(P list --json | recs)" \
    '.[] | select(.name == "ptnatq") | .state == "ready" and .network == "default"'
P destroy "$pool" ptnatq >/dev/null || pt_fail "destroy failed"
pt_ok "create --network: a pool tap on the network's bridge that a guest gets a lease through"

echo "== inactive and unknown networks"
pt_assert_rc "attach --network of an inactive network" 69 P attach "$DOM" --network ptaptest-off
pt_assert_match "inactive: named" "network 'ptaptest-off' is not active" "$PT_ERR"
pt_assert_rc "create --network of an inactive network" 69 P create ptx0 --network ptaptest-off
pt_assert_rc "attach --network of an unknown network" 64 P attach "$DOM" --network ptaptest-none
pt_assert_match "unknown: named" "no libvirt network 'ptaptest-none'" "$PT_ERR"
[ "$(P list --json | recs)" = "[]" ] || pt_fail "refusals left records"
[ -z "$(pt_marked_taps "$NS")" ] || pt_fail "refusals left taps: $(pt_marked_taps "$NS")"
pt_ok "an inactive network exits 69, an unknown one 64, nothing left"
