#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A user's journal with taps in another network namespace (issue 11, item
# 1). A user may not enter a namespace (setns needs CAP_SYS_ADMIN) and
# cannot see which of other users' processes hold one: ptap run by that
# user from another namespace leaves such records alone and says so (list:
# a problem, recover: "other-netns", destroy and attach: a refusal), and
# never concludes that a tap is gone, not even once the namespace is
# deleted (it cannot tell). Run in the taps' namespace, it judges them.
#
# Every namespace here is private: B (the test's own) plays the host.
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup netns-user
NS_A=ptaptest-nsuA-$$
ip netns add "$NS_A"
pt_cleanup_add ip netns del "$NS_A"
ip -n "$NS_A" link set lo up
in_ns() {
    local ns=$1
    shift
    PT_NS=$ns "$@"
}
has() { ip -n "$1" link show "$2" >/dev/null 2>&1; }
live() { pc_live user "$PC_USER_STATE" | xargs; }

pt_assert_rc "the user creates in A" 0 in_ns "$NS_A" ptap_user create 'ua%d' --count 3
pt_assert_eq "the taps are in A" "ua0 ua1 ua2" "$(pt_marked_taps "$NS_A" | xargs)"

# ---- from B: left alone, and said so --------------------------------------------
pt_assert_rc "recover from B" 0 ptap_user recover --json
pt_assert_json "recover from B leaves every record of A alone" "$PT_OUT" \
    '(.records | length) == 3 and all(.records[]; .action == "other-netns" and .netns.name == $a
                              and (.reason | test("cannot enter")))' --arg a "$NS_A"
pt_assert_rc "recover from B, text" 0 ptap_user recover
pt_assert_match "the text names the namespace" "other-netns 'ua0' \\(ready\\): .*'$NS_A'" "$PT_OUT"
pt_assert_eq "the records live on" "ua0 ua1 ua2" "$(live)"
pt_assert_eq "the taps too" "ua0 ua1 ua2" "$(pt_marked_taps "$NS_A" | xargs)"
pt_assert_json "list from B: a problem, the kernel not asked" "$(ptap_user list --json)" \
    '(.records | length) == 3 and all(.records[]; .in_kernel == null and .netns.name == $a
                              and (.problem | test("cannot enter")))' --arg a "$NS_A"
pt_assert_match "list's text says so" "ua0 .* \? .*cannot enter" "$(ptap_user list || [ $? -eq 1 ])"

pt_assert_rc "destroy from B" 77 ptap_user destroy ua0
pt_assert_match "destroy says why" "cannot destroy 'ua0': .*'$NS_A'.*cannot enter" "$PT_ERR"
has "$NS_A" ua0 || pt_fail "the refused destroy removed ua0"
pt_assert_rc "forget from B" 0 ptap_user forget ua0
pt_assert_eq "forget from B keeps the record" "ua0 ua1 ua2" "$(live)"
pt_assert_rc "attach --tap from B" 77 ptap_user attach qmp:/nonexistent/qmp.sock --tap ua0
pt_assert_match "attach says why, before any guest is asked" "'ua0'.*'$NS_A'.*cannot enter" "$PT_ERR"
# ua0 attached to a guest that is gone, as the journal writes it: a
# release from B cannot destroy it in A, and says so (exit 75).
J=$PC_USER_STATE/journal.xml
seq=$(grep -o 'seq="[0-9]*"' "$J" | tr -dc '0-9\n' | sort -n | tail -1)
line=$(grep 'name="ua0" state="ready"' "$J" | tail -1)
echo "$line" | sed -e "s/seq=\"[0-9]*\"/seq=\"$((seq + 1))\"/" -e 's/state="ready"/state="attached" flags="ephemeral"/' \
    -e "s|/>\$|><consumer kind=\"qmp\" target=\"$PC_TMP/gone.qmp\" netdev=\"net-ua0\" device=\"dev-ua0\" model=\"virtio-net-pci\" mac=\"52:54:00:12:34:58\"/></tap>|" |
    "$PT_PYTHON" "$PT_SOURCE_DIR/tests/data/journal/seal.py" >>"$J"
pt_assert_rc "release from B" 75 ptap_user release "qmp:$PC_TMP/gone.qmp" --json
pt_assert_json "release leaves ua0 alone" "$PT_OUT" \
    '(.records | length) == 1 and .records[0].action == "other-netns" and .records[0].name == "ua0"'
pt_assert_match "release says why" "network namespace this process cannot enter" "$PT_ERR"
has "$NS_A" ua0 || pt_fail "the refused release removed ua0"
pt_assert_json "ua0 is still attached on record" "$(ptap_user list --json)" \
    '[.records[] | select(.name == "ua0" and .state == "attached")] | length == 1'
pt_ok "from another namespace a user's records of A are left alone, and said so"

# ---- from A: judged there ---------------------------------------------------------
pt_assert_rc "release from A" 0 in_ns "$NS_A" ptap_user release "qmp:$PC_TMP/gone.qmp" --json
pt_assert_json "release in A destroys ua0" "$PT_OUT" \
    '(.records | length) == 1 and .records[0].action == "release" and .records[0].name == "ua0"'
has "$NS_A" ua0 && pt_fail "release in A left ua0"
pt_assert_rc "recover from A" 0 in_ns "$NS_A" ptap_user recover --json
pt_assert_eq "recover from A has nothing to do" "[]" "$(jq -c .records <<<"$PT_OUT")"
ip -n "$NS_A" link del ua2
pt_assert_rc "recover from A, ua2 deleted" 0 in_ns "$NS_A" ptap_user recover --json
pt_assert_json "recover in A closes ua2" "$PT_OUT" \
    '(.records | length) == 1 and .records[0].action == "close" and .records[0].name == "ua2"'
pt_assert_eq "ua1 lives on" "ua1" "$(live)"
pt_ok "in A the user's records are judged as ever"

# ---- A deleted: a user cannot tell, so nothing is concluded ----------------------
ip netns del "$NS_A"
pt_assert_rc "recover from B after A is gone" 0 ptap_user recover --json
pt_assert_json "the record is left, never called gone" "$PT_OUT" \
    '(.records | length) == 1 and .records[0].action == "other-netns" and .records[0].name == "ua1"
     and (.records[0].reason | test("cannot find, nor tell gone"))'
pt_assert_eq "ua1's record lives on" "ua1" "$(live)"
pt_ok "a user never concludes a namespace is gone"
