#!/usr/bin/env bash
# The unprivileged road, end to end: a user runs QEMU *and* ptap; the
# helper is installed setuid-root and obeys a policy file. `ptap attach`
# makes a tap owned by that user on an allowed bridge, QEMU opens it by
# name, the guest sees it; a bridge the policy denies and a quota overrun
# are refused with 77 and leave nothing behind; the journal lives in the
# user's $XDG_RUNTIME_DIR/ptap and belongs to the user.
. "$PTAP_SOURCE_DIR/tests/e2e/lib/guest.sh" # and with it tests/lib/common.sh
pt_require_root

U=ptaptest-u
pt_user_ensure "$U" >/dev/null
uid=$(id -u "$U")
pt_netns_new au
pt_tun_world_rw
for br in br0 br1; do
    pt_ns ip link add "$br" type bridge
    pt_ns ip link set "$br" up
done
HELPER=$(pt_helper_install setuid)
POLICY=$(pt_policy_dir "allow user $U bridge * max 2
deny bridge br1")
XDG=$PT_TMP/xdg-$U
mkdir -m 0700 "$XDG" && chown "$U:" "$XDG"

ptap_guest_image || pt_skip "no guest image"
pt_diag_add ptap_guest_log_tail 30
ptap_guest_start "$PT_NS" "$U" || pt_fail "guest did not boot"
T="qmp:$PTAP_GUEST_QMP"

# ptap as the user, with the setuid helper under the test policy.
P() { pt_helper "$U" "$POLICY" env PTAP_HELPER="$HELPER" XDG_RUNTIME_DIR="$XDG" "$PTAP_BIN" "$@"; }
taps() { pt_ns ip -o link show type tun | awk -F': ' '{print $2}' | sort | tr '\n' ' '; }

m=$(ptap_guest_mark)
pt_assert_rc "attach as $U on br0" 0 P attach "$T" --bridge br0 --json
tap=$(echo "$PT_OUT" | jq -r .records[0].name)
pt_assert_eq "tap owner" "$uid" "$(pt_ns cat /sys/class/net/$tap/owner)"
pt_assert_match "tap on br0" "master br0" "$(pt_ns ip -d link show "$tap")"
ptap_guest_net_wait '\beth0\b' 30 "$m" >/dev/null || pt_fail "guest never saw the NIC"
pt_ok "guest sees the NIC of $U's tap $tap"
pt_assert_eq "journal owner" "$U" "$(stat -c %U "$XDG/ptap/journal.xml")"
pt_assert_eq "journal dir mode" "700" "$(stat -c %a "$XDG/ptap")"

before="$(taps)|$(P list --json)"
pt_assert_rc "attach on a denied bridge" 77 P attach "$T" --bridge br1
pt_assert_match "message names the bridge" "br1" "$PT_ERR"
pt_assert_eq "nothing left after the denial" "$before" "$(taps)|$(P list --json)"
pt_ok "denied: $PT_ERR"

pt_assert_rc "second NIC (quota 2)" 0 P attach "$T" --bridge br0 --json
second=$(echo "$PT_OUT" | jq -r .records[0].name)
before="$(taps)|$(P list --json)"
pt_assert_rc "third NIC over quota" 77 P attach "$T" --bridge br0
pt_assert_eq "nothing left after the quota refusal" "$before" "$(taps)|$(P list --json)"
pt_ok "quota: $PT_ERR"

m=$(ptap_guest_mark)
pt_assert_rc "detach $tap" 0 P detach "$T" --tap "$tap"
pt_assert_rc "detach $second" 0 P detach "$T" --tap "$second"
ptap_guest_net_wait '^lo$' 30 "$m" >/dev/null || pt_fail "guest still lists NICs"
pt_assert_eq "no taps left" "" "$(taps)"
pt_assert_eq "no records left" "[]" "$(P list --json | jq -c .records)"
echo PASS
