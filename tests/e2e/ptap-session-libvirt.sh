#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The unprivileged road with libvirt, end to end: a user runs its own
# libvirtd (qemu:///session) inside a network namespace, and `ptap attach` /
# `ptap detach` its domain as that user, through the setuid helper under the
# admin's policy: the guest sees the NIC, traffic flows both ways, a bridge
# the policy denies and a quota overrun are refused with 77 and leave
# nothing behind. A pool tap the session libvirt holds (virsh attach-device)
# is attributed to the domain on qemu:///session. Then the guest is
# destroyed holding a tap attach made and a pool tap: `ptap recover`
# destroys the one, returns the other to the pool; `ptap destroy` of the
# pool leaves the kernel and the journal clean.
. "$PTAP_SOURCE_DIR/tests/e2e/lib/session.sh" # libvirtd.sh, guest.sh, common.sh
pt_require_root

U=ptaptest-ls
DOM=ptaptest-ls$$
uid=$(pt_user_ensure "$U")
ptap_guest_image || pt_skip "no guest image"
pt_netns_new ls
NS=$PT_NS
for br in br0 br1; do
    pt_ns ip link add "$br" type bridge
    pt_ns ip link set "$br" up
done
pt_ns ip addr add 10.9.0.1/24 dev br0
HELPER=$(pt_helper_install setuid)
POLICY=$(pt_policy_dir "allow user $U bridge * max 3
deny bridge br1")
rc=0
ptap_ls_start "$NS" "$U" || rc=$?
[ "$rc" != 77 ] || pt_skip "no session libvirtd here"
[ "$rc" = 0 ] || pt_fail "the session libvirtd did not start"
pt_diag_add ptap_guest_log_tail 30
ptap_ls_define "$DOM" || pt_fail "define failed"
ptap_ls_boot "$DOM" || pt_fail "boot failed"
pt_assert_eq "QEMU runs as $U" "$uid" "$(awk '/^Uid:/ {print $2}' "/proc/$PTAP_GUEST_PID/status")"

# ptap as the user, with the setuid helper under the admin's policy; its
# journal in the user's XDG_RUNTIME_DIR, its libvirt the user's session.
P() {
    pt_helper "$U" "$POLICY" env HOME="$PTAP_LS_HOME" XDG_RUNTIME_DIR="$PTAP_LS_RUN" \
        LIBVIRT_DEFAULT_URI=qemu:///session PTAP_HELPER="$HELPER" "$PTAP_BIN" "$@"
}
taps() { pt_ns ip -o link show type tun | awk -F': ' '{print $2}' | sort | tr '\n' ' '; }
exists() { pt_ns ip link show "$1" >/dev/null 2>&1; }

# ---- attach through the setuid helper: the guest's traffic, both ways ---------------
m=$(ptap_guest_mark)
pt_assert_rc "attach $DOM on br0 as $U" 0 P attach "$DOM" --bridge br0 --json
tap=$(pt_jq "$PT_OUT" '.records[0].name')
mac=$(pt_jq "$PT_OUT" '.records[0].consumer.mac')
pt_assert_eq "the tap is $U's" "$uid" "$(pt_ns cat "/sys/class/net/$tap/owner")"
pt_assert_match "the tap is on br0" "master br0" "$(pt_ns ip -d link show "$tap")"
pt_assert_match "the session libvirt knows the NIC" "$mac" "$(ptap_ls_virsh domiflist "$DOM")"
pt_assert_json "the record names the session domain" "$(P list --json)" \
    '[.records[] | select(.name == $t and .state == "attached" and .consumer.kind == "libvirt"
                   and .consumer.domain == $d and .consumer.uri == "qemu:///session")] | length == 1' \
    --arg t "$tap" --arg d "$DOM"
pt_assert_eq "the journal is $U's" "$U" "$(stat -c %U "$PTAP_LS_RUN/ptap/journal.xml")"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw the NIC"
ptap_guest_link_check "$NS" eth0 10.9.0.2 10.9.0.1 || pt_fail "no traffic between guest and host"
pt_ok "$U attached $tap to its session domain: the guest pings the host and back"

# ---- the admin's policy: a denied bridge, the quota -------------------------------
before="$(taps)|$(P list --json)"
pt_assert_rc "attach on the denied bridge" 77 P attach "$DOM" --bridge br1
pt_assert_match "the refusal names the bridge" "br1" "$PT_ERR"
pt_assert_eq "nothing left after the denial" "$before" "$(taps)|$(P list --json)"
pt_assert_rc "a pool tap (2 of 3)" 0 P create spool0 --bridge br0
pt_assert_rc "a second NIC (3 of 3)" 0 P attach "$DOM" --bridge br0 --json
second=$(pt_jq "$PT_OUT" '.records[0].name')
before="$(taps)|$(P list --json)"
pt_assert_rc "a fourth tap, over the quota" 77 P attach "$DOM" --bridge br0
pt_assert_eq "nothing left after the quota refusal" "$before" "$(taps)|$(P list --json)"
pt_ok "a denied bridge and the quota are refused with 77, nothing left"

m=$(ptap_guest_mark)
pt_assert_rc "detach $second" 0 P detach "$DOM" --tap "$second" --timeout 30
exists "$second" && pt_fail "detach left $second"
pt_assert_rc "detach $tap" 0 P detach "$DOM" --tap "$tap" --timeout 30
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists a NIC"
exists "$tap" && pt_fail "detach left $tap"
pt_ok "detach removes both NICs and their taps"

# ---- a pool tap the session libvirt holds is attributed to it ---------------------
cat >"$PTAP_LS_DIR/nic.xml" <<EOF
<interface type='ethernet'>
  <target dev='spool0' managed='no'/>
  <model type='virtio'/>
</interface>
EOF
chmod 0644 "$PTAP_LS_DIR/nic.xml"
pt_assert_rc "virsh attach-device spool0 (session)" 0 ptap_ls_virsh attach-device "$DOM" "$PTAP_LS_DIR/nic.xml" --live
pt_assert_json "spool0 is the session domain's" "$(P list --json | jq -c '.records[] | select(.name == "spool0") | .consumer')" \
    '.kind == "libvirt" and .external == true and .domain == $d and .uri == "qemu:///session"
     and .pid == ($p | tonumber)' --arg d "$DOM" --arg p "$PTAP_GUEST_PID"
pt_assert_rc "destroy of spool0 while the domain holds it" 75 P destroy spool0
pt_assert_match "destroy names the domain" "in use by libvirt domain '$DOM' .*qemu:///session" "$PT_ERR"
pt_ok "the session domain holding pool tap spool0 is named; destroy refused"

# ---- the guest is destroyed: recover cleans up ---------------------------------------
pt_assert_rc "attach again" 0 P attach "$DOM" --bridge br0 --json
third=$(pt_jq "$PT_OUT" '.records[0].name')
ptap_ls_halt "$DOM"
pt_assert_rc "recover as $U" 0 P recover --json
pt_assert_json "recover removes the tap attach made" "$PT_OUT" \
    '[.records[] | select(.name == $t and .action == "consumer-gone")] | length == 1' --arg t "$third"
exists "$third" && pt_fail "recover left $third of the destroyed guest"
exists spool0 || pt_fail "the pool tap went with the guest"
pt_assert_json "spool0 is ready with no consumer" "$(P list --json)" \
    '.records | length == 1 and .[0].name == "spool0" and .[0].state == "ready" and .[0].consumer == null'
pt_assert_rc "destroy spool0" 0 P destroy spool0
pt_assert_eq "no taps left" "" "$(taps)"
pt_assert_eq "no records left" "[]" "$(P list --json | jq -c .records)"
pt_assert_eq "a second recover has nothing to do" "[]" "$(P recover --json | jq -c .records)"
pt_ok "the guest destroyed: recover and destroy leave the kernel and the journal clean"
