#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Attack: forged provenance marks. Journal ids are world-readable in every
# tap's ifalias, and any user could pass "--tag OTHERJOURNAL:OP" to the
# helper. The victim's "ptap recover" then failed (77: "cannot destroy
# 'forged': owned by another user"), and a user who re-created a vanished
# tap's name with the victim's mark was kept as the victim's ready tap.
# Required: the helper writes the caller into every mark, so no user can
# make a tap that passes for another's; ptap takes a tap as its own only
# when mark, kernel owner and record agree; a foreign tap never blocks a
# recovery or a destroy, and is never touched.
. "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup marks
EVIL=ptaptest-forger
evil_uid=$(pt_user_ensure $EVIL)
pc_policy "allow user $PC_USER bridge none max 64" "allow user $EVIL bridge none max 64"
evil_helper() { pt_helper $EVIL "$PC_POLICY" "$PC_HELPER" "$@"; }
alias_of() { pc_links | jq -r --arg n "$1" '.[] | select(.ifname == $n) | .ifalias // ""'; }
exists() { ip -n "$PC_NS" link show "$1" >/dev/null 2>&1; }

# The mark names its maker, whatever tag it was given.
pt_assert_rc "victim creates a pool" 0 ptap_user create 'vt%d' --count 2
jid=$(pc_jid user "$PC_USER_STATE")
pt_assert_match "the victim's mark names the victim" "^ptap:u$PC_UID:$jid:" "$(alias_of vt0)"
pt_assert_rc "forger makes a tap with the victim's tag" 0 evil_helper create forged --tag "$jid:op1"
pt_assert_eq "the helper writes the forger into the mark" "ptap:u$evil_uid:$jid:op1" "$(alias_of forged)"
pt_assert_rc "a tag cannot smuggle another user in" 64 evil_helper create forged2 --tag "u$PC_UID:$jid:op1"
pt_assert_match "the refusal names the tag" "u$PC_UID:$jid:op1" "$PT_ERR"
pt_ok "a mark always names the user who made the tap"

# A foreign tap that claims the victim's journal never blocks its recovery.
pt_assert_rc "victim's recover with a forged tap around" 0 ptap_user recover --json
pt_assert_json "recover leaves the forged tap alone" "$PT_OUT" '[.records[] | select(.name == "forged")] | length == 0'
exists forged || pt_fail "recover destroyed the forger's tap"
exists vt0 && exists vt1 || pt_fail "recover removed the victim's own taps"
pt_assert_rc "victim's list" 0 ptap_user list --json
pt_assert_json "the forged tap is not the victim's" "$PT_OUT" '[.records[] | select(.name == "forged")] | length == 0'
pt_ok "a forged tap never blocks the victim's recovery"

# The victim's tap vanishes; the forger re-creates its name with the
# victim's journal and operation id.
op=$(ptap_user journal dump --json | jq -r '.records[] | select(.name == "vt1") | .id')
ip -n "$PC_NS" link del vt1
pt_assert_rc "forger re-creates vt1 with the victim's tag" 0 evil_helper create vt1 --tag "$jid:$op"
pt_assert_rc "victim's list: a problem (exit 1)" 1 ptap_user list --json
pt_assert_json "vt1 is not the victim's ready tap in the kernel" "$PT_OUT" \
    '[.records[] | select(.name == "vt1" and .in_kernel == true and .problem == null)] | length == 0'
pt_assert_rc "victim's destroy of vt1 does not touch the forger's tap" 0 ptap_user destroy vt1
exists vt1 || pt_fail "the victim's destroy removed the forger's vt1"
pt_assert_rc "victim's list after" 0 ptap_user list --json
pt_assert_json "vt1's record is closed" "$PT_OUT" '[.records[] | select(.name == "vt1" and .state != null)] | length == 0'
pt_assert_rc "recover after" 0 ptap_user recover --json
pt_assert_json "recover has nothing to do about vt1" "$PT_OUT" '[.records[] | select(.name == "vt1")] | length == 0'
exists vt1 && exists forged || pt_fail "the forger's taps were touched"
pt_ok "a re-created name with a forged mark is never taken for the victim's tap"

evil_helper destroy forged vt1 >/dev/null
pt_assert_rc "victim destroys its own" 0 ptap_user destroy vt0
