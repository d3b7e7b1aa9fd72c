#!/usr/bin/env bash
# ptap create / attach --network NAME without a libvirtd: libvirt's own
# test:///FILE driver answers for the networks (the real daemon, dnsmasq
# and a guest are tests/e2e/ptap-network-nat.sh's). A network's bridge is
# what the tap is put on and what the helper's policy judges; the record
# and `ptap list` name the network. Refusals (--bridge with --network, an
# unknown network, one without a bridge of its own, libvirt unreachable)
# exit with their documented codes and change nothing.
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup network

for b in ptbr0 ptbr1 br-host; do
    ip -n "$PC_NS" link add "$b" type bridge
    ip -n "$PC_NS" link set "$b" up
done
# The user may use ptbr0 only: the policy decides by the bridge's name.
pc_policy "allow user $PC_USER bridge ptbr0 max 64"

NODE=$PC_TMP/node.xml
cat >"$NODE" <<'EOF'
<node>
  <network><name>nat1</name><bridge name='ptbr0'/><forward mode='nat'/>
    <ip address='192.168.200.1' netmask='255.255.255.0'/></network>
  <network><name>iso lated</name><bridge name='ptbr1'/></network>
  <network><name>host</name><forward mode='bridge'/><bridge name='br-host'/></network>
  <network><name>macv</name><forward mode='bridge'><interface dev='eth0'/></forward></network>
  <network><name>priv</name><forward mode='private'><interface dev='eth0'/></forward></network>
  <network><name>vepa</name><forward mode='vepa'><interface dev='eth0'/></forward></network>
  <network><name>pass</name><forward mode='passthrough'><interface dev='eth0'/></forward></network>
  <network><name>vfs</name><forward mode='hostdev' managed='yes'><pf dev='eth0'/></forward></network>
</node>
EOF
chmod 0644 "$NODE"
URI=test://$NODE
# ptap's JSON as an array of records, whichever shape this ptap prints: the
# version 1 document ({"records": [...]}), or the bare array (list, create)
# and attach's own object ({tap, mac, bus, ...}) of the ptap before it.
recs() {
    jq -c 'if type == "object" and has("records") then .records
           elif type == "array" then .
           else [{name: .tap, bridge, network, consumer: {mac, bus}}] end'
}

# ---- 1. create --network: the tap on the network's bridge, the record names it
pt_assert_rc "create --network nat1" 0 ptap_root create 'ptnet%d' --count 2 --network nat1 --connect "$URI"
pt_assert_eq "names" "$(printf 'ptnet%d\n' 0 1)" "$PT_OUT"
for n in ptnet0 ptnet1; do
    pt_assert_eq "$n on the network's bridge" ptbr0 "$(pc_links | jq -r --arg n "$n" '.[] | select(.ifname == $n) | .master')"
done
list=$(ptap_root list --json | recs)
pt_assert_json "records name bridge and network" "$list" \
    '[.[] | select(.bridge == "ptbr0" and .network == "nat1" and .state == "ready")] | length == 2'
ptap_root list | grep -Eq '^ptnet1 +ready .*ptbr0 +nat1( |$)' || pt_fail "'ptap list' does not show ptnet1 on ptbr0 of network nat1: $(ptap_root list)"
# LIBVIRT_DEFAULT_URI is the connection when --connect is not given.
PC_ENV=(LIBVIRT_DEFAULT_URI="$URI")
pt_assert_rc "create --network 'iso lated' (isolated, LIBVIRT_DEFAULT_URI)" 0 ptap_root create ptiso0 --network 'iso lated'
pt_assert_rc "create --network host (forward mode bridge to br-host)" 0 ptap_root create pthost0 --network host --json
pt_assert_json "create --json shows the network" "$(recs <<<"$PT_OUT")" '.[0].bridge == "br-host" and .[0].network == "host"'
pt_assert_eq "pthost0 on br-host" br-host "$(pc_links | jq -r '.[] | select(.ifname == "pthost0") | .master')"
pt_assert_json "isolated network's bridge" "$(ptap_root list --json | recs)" \
    '.[] | select(.name == "ptiso0") | .bridge == "ptbr1" and .network == "iso lated"'
# A record without a network says null.
pt_assert_rc "create --bridge" 0 ptap_root create ptplain0 --bridge ptbr0
pt_assert_json "no network: null" "$(ptap_root list --json | recs)" '.[] | select(.name == "ptplain0") | .network == null'
pt_assert_rc "journal check" 0 ptap_root journal check
pt_ok "create --network puts taps on the network's bridge and records the network"

# ---- 2. the helper's policy still decides, by the bridge's name ----------
pt_assert_rc "user: create --network nat1 (ptbr0 allowed)" 0 ptap_user create ptunet0 --network nat1
pt_assert_eq "user's tap on ptbr0" ptbr0 "$(pc_links | jq -r '.[] | select(.ifname == "ptunet0") | .master')"
# (The helper refuses after the intent was written: the journal grows by
# that intent and its close; live records and the kernel stay as they were.)
before=$(pc_snapshot --live)
pt_assert_rc "user: create --network 'iso lated' (ptbr1 denied)" 77 ptap_user create ptunet1 --network 'iso lated'
pt_assert_match "denied names the bridge" "ptbr1" "$PT_ERR"
pt_assert_unchanged "denied create" "$before" pc_snapshot --live
pt_ok "the policy judges the network's bridge"

# ---- 3. refusals: exit code, message, nothing changed --------------------
before=$(pc_snapshot)
refuse() { # refuse WHAT CODE ERE ARGS...
    local what=$1 code=$2 ere=$3
    shift 3
    pt_assert_rc "$what" "$code" ptap_root "$@"
    pt_assert_match "$what: message" "$ere" "$PT_ERR"
    pt_assert_unchanged "$what" "$before" pc_snapshot
}
refuse "create --bridge with --network" 64 "mutually exclusive" create ptx0 --bridge ptbr0 --network nat1
refuse "attach --bridge with --network" 64 "mutually exclusive" attach qmp:/nonexistent --bridge ptbr0 --network nat1
refuse "attach --tap with --network" 64 "--tap takes an existing tap" attach qmp:/nonexistent --tap ptnet0 --network nat1
refuse "unknown network" 64 "no libvirt network 'nope'" create ptx0 --network nope
refuse "attach: unknown network" 64 "no libvirt network 'nope'" attach qmp:/nonexistent --network nope
for m in macv:bridge priv:private vepa:vepa pass:passthrough vfs:hostdev; do
    refuse "network ${m%%:*} (mode ${m#*:})" 64 "network '${m%%:*}' \\(forward mode '${m#*:}'\\) has no bridge of its own" \
        create ptx0 --network "${m%%:*}"
done
refuse "a network name with '/'" 64 "invalid network name 'a/b'" create ptx0 --network a/b
refuse "--connect without --network" 64 "--connect applies to --network only" create ptx0 --connect "$URI"
refuse "libvirt unreachable" 69 "cannot ask libvirt .* for network 'nat1'" \
    create ptx0 --network nat1 --connect "test:///ptaptest/no/such/node.xml"
# The network is resolved, then the target is not there: 69, no tap made.
refuse "attach --network, no such guest" 69 "cannot connect to 'qmp:/nonexistent'" attach qmp:/nonexistent --network nat1
pt_ok "refusals exit 64/69 naming the network or its mode, and change nothing"

pc_check root "$PC_ROOT_STATE" "end"
pt_ok "ptap --network without a libvirtd"
