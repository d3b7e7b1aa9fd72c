#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Taps in use by libvirt's own tools, on the real libvirtd: virt-xml (as
# virt-manager's Add Hardware would, but as <interface type='ethernet'>
# with <target dev='POOLTAP' managed='no'/>) hot-plugs a pool tap; ptap
# list attributes it to the domain (name, UUID, connection, QEMU's pid);
# destroy and a second attach are refused naming the domain while the
# guest keeps its traffic; virt-xml --remove-device unplugs it and it is
# free again. Then the guest is destroyed while it holds two pool taps (one
# hot-plugged by virsh attach-device, one by `ptap attach --tap`): recover
# returns both to the pool, destroys neither. Last, a domain defined with a
# pool tap holds it from its start, and virsh detach-interface frees it.
# Tried before: `ptap destroy POOLTAP` removed the tap from under the
# running guest without a word, list called it ready with no consumer, and
# recover destroyed the pool tap of `attach --tap` once its guest was gone.
. "$PTAP_SOURCE_DIR/tests/e2e/lib/libvirtd.sh" # guest.sh, tests/lib/common.sh
pt_require_root
command -v virt-xml >/dev/null || pt_skip "virt-xml is not installed (package virtinst)"

DOM=ptaptest-vx$$
SD=$(mktemp -d "$PT_TMP/state.XXXXXX")
pt_diag_add ptap_lv_log_tail 20
P() { ip netns exec "$NS" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$SD" "$@"; }
consumer() { P list --json | jq -c --arg t "$1" '.records[] | select(.name == $t) | .consumer'; }
exists() { ip -n "$NS" link show "$1" >/dev/null 2>&1; }
# mac_of TAP: the guest MAC of the NIC on TAP, as libvirt lists it.
mac_of() { ptap_lv_virsh domiflist "$DOM" | awk -v t="$1" '$1 == t {print $5}'; }

ptap_guest_image || pt_skip "no guest image"
pt_netns_new vx
NS=$PT_NS
ip -n "$NS" link add br0 type bridge
ip -n "$NS" addr add 10.9.0.1/24 dev br0
ip -n "$NS" link set br0 up
ptap_lv_start_or_skip "$NS"
ptap_lv_define "$DOM" || pt_fail "define failed"
ptap_lv_boot "$DOM" || pt_fail "boot failed"
uuid=$(ptap_lv_virsh domuuid "$DOM" | tr -d '[:space:]')

for t in vxa0 vxb0 vxc0; do
    pt_assert_rc "create pool tap $t" 0 P create "$t" --owner libvirt-qemu --bridge br0
done

# ---- virt-xml hot-plugs a pool tap: attributed to the domain -------------------------
m=$(ptap_guest_mark)
pt_assert_rc "virt-xml --add-device" 0 virt-xml -c "$PTAP_LV_URI" "$DOM" --add-device \
    --network type=ethernet,target.dev=vxa0,model.type=virtio,xpath.set=./target/@managed=no --update
pt_assert_match "virt-xml says so" "Device hotplug successful" "$PT_OUT$PT_ERR"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw the NIC virt-xml added"
mac=$(mac_of vxa0)
[ -n "$mac" ] || pt_fail "virsh domiflist does not list vxa0"
pt_assert_json "list attributes vxa0 to the domain" "$(consumer vxa0)" \
    '.kind == "libvirt" and .external == true and .domain == $d and .uuid == $u
     and .uri == "qemu:///system" and .pid == ($p | tonumber)' \
    --arg d "$DOM" --arg u "$uuid" --arg p "$PTAP_GUEST_PID"
pt_assert_match "the text list shows the domain, its UUID and connection" \
    "vxa0 .* libvirt:$DOM\\(held,$uuid,qemu:///system\\)" "$(P list)"
ptap_guest_link_check "$NS" eth0 10.9.0.2 10.9.0.1 || pt_fail "no traffic on the NIC virt-xml added"
pt_ok "virt-xml hot-plugged pool tap vxa0: list names domain $DOM ($uuid) on qemu:///system"

# ---- refused while libvirt holds it; the guest keeps its traffic ---------------------
pt_assert_rc "destroy of vxa0" 75 P destroy vxa0
pt_assert_match "destroy names the domain" \
    "cannot destroy 'vxa0': it is in use by libvirt domain '$DOM' \\(UUID $uuid on qemu:///system, QEMU pid $PTAP_GUEST_PID\\)" \
    "$PT_ERR"
exists vxa0 || pt_fail "the refused destroy removed vxa0"
pt_assert_rc "a second attach of vxa0" 75 P attach "$DOM" --tap vxa0
pt_assert_match "attach names the domain" "cannot attach tap 'vxa0': it is in use by libvirt domain '$DOM'" "$PT_ERR"
pt_assert_json "vxa0 is still ready, held by the domain" "$(P list --json)" \
    '[.records[] | select(.name == "vxa0" and .state == "ready" and .consumer.domain == $d)] | length == 1' \
    --arg d "$DOM"
ptap_host_ping "$NS" 10.9.0.2 2 >/dev/null || pt_fail "the guest lost its traffic after the refusals"
pt_ok "destroy and a second attach refused naming the domain; the guest keeps its traffic"

# ---- virt-xml --remove-device: free again ---------------------------------------------
m=$(ptap_guest_mark)
pt_assert_rc "virt-xml --remove-device" 0 virt-xml -c "$PTAP_LV_URI" "$DOM" --remove-device \
    --network "mac=$mac" --update
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists the NIC virt-xml removed"
for _ in $(seq 50); do [ "$(consumer vxa0)" = null ] && break; sleep 0.1; done
pt_assert_eq "vxa0 has no consumer" null "$(consumer vxa0)"
pt_assert_json "vxa0 is ready, in the kernel" "$(P list --json)" \
    '[.records[] | select(.name == "vxa0" and .state == "ready" and .in_kernel == true)] | length == 1'
pt_ok "unplugged with virt-xml: vxa0 is ready again with no consumer"

# ---- the guest dies holding two pool taps: recover returns them ----------------------
cat >"$PT_TMP/nic.xml" <<EOF
<interface type='ethernet'>
  <target dev='vxb0' managed='no'/>
  <model type='virtio'/>
</interface>
EOF
pt_assert_rc "virsh attach-device vxb0" 0 ptap_lv_virsh attach-device "$DOM" "$PT_TMP/nic.xml" --live
pt_assert_json "vxb0 is attributed to the domain" "$(consumer vxb0)" \
    '.kind == "libvirt" and .domain == $d' --arg d "$DOM"
pt_assert_rc "ptap attach --tap vxc0" 0 P attach "$DOM" --tap vxc0 --json
pt_assert_json "vxc0 is attached by ptap" "$(P list --json)" \
    '[.records[] | select(.name == "vxc0" and .state == "attached" and .consumer.external == false
                   and .pool == true)] | length == 1'
ptap_lv_halt "$DOM"
ptap_lv_virsh domstate "$DOM" | grep -q "shut off" || pt_fail "domain still running after virsh destroy"
pt_assert_rc "recover after the guest died" 0 P recover --json
pt_assert_json "recover returns vxc0 to the pool" "$PT_OUT" \
    '[.records[] | select(.name == "vxc0" and .action == "consumer-gone" and (.reason | test("ready again")))] | length == 1'
pt_assert_json "and destroys nothing" "$PT_OUT" '[.records[] | select(.name != "vxc0")] | length == 0'
for t in vxa0 vxb0 vxc0; do
    exists "$t" || pt_fail "pool tap $t is gone with its guest"
done
pt_assert_json "all three are ready pool taps with no consumer" "$(P list --json)" \
    '[.records[] | select(.state == "ready" and .consumer == null and .in_kernel == true) | .name] | sort
     == ["vxa0", "vxb0", "vxc0"]'
pt_assert_eq "a second recover has nothing to do" "[]" "$(P recover --json | jq -c .records)"
pt_ok "the guest died holding vxb0 and vxc0: recover returned them to the pool"

# ---- a domain defined with the tap; virsh detach-interface lets it go -----------------
pt_assert_rc "virt-xml --add-device (the definition only)" 0 virt-xml -c "$PTAP_LV_URI" "$DOM" \
    --add-device --network type=ethernet,target.dev=vxa0,model.type=virtio,xpath.set=./target/@managed=no
ptap_lv_boot "$DOM" || pt_fail "the domain defined with vxa0 did not boot"
pt_assert_json "vxa0 is the domain's from its start" "$(consumer vxa0)" \
    '.kind == "libvirt" and .domain == $d and .pid == ($p | tonumber)' --arg d "$DOM" --arg p "$PTAP_GUEST_PID"
pt_assert_rc "destroy of vxa0" 75 P destroy vxa0
mac=$(mac_of vxa0)
m=$(ptap_guest_mark)
pt_assert_rc "virsh detach-interface" 0 ptap_lv_virsh detach-interface "$DOM" ethernet --mac "$mac" --live
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists the NIC virsh detached"
for _ in $(seq 50); do [ "$(consumer vxa0)" = null ] && break; sleep 0.1; done
pt_assert_eq "vxa0 has no consumer once detached" null "$(consumer vxa0)"
ptap_lv_halt "$DOM"
pt_ok "a domain defined with vxa0 holds it from its start; virsh detach-interface frees it"

pt_assert_rc "destroy the pool" 0 P destroy vxa0 vxb0 vxc0
pt_assert_eq "no records left" "[]" "$(P list --json | jq -c .records)"
