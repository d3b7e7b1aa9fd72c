#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A tap that a process holds is never destroyed, whatever the journal says,
# without --force; a renamed tap is followed by its ifindex, not lost by its
# name. Tried before: a held tap renamed from ptap1 to guestnic (as a guest
# tool might) - recover closed ptap1's record and destroyed guestnic as an
# orphan under the open descriptor. The holder is a real process with a real
# queue of the tap (the kernel's count says so, /proc/PID/fdinfo names it).
. "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup held

# hold NAME: a process of root's attaches a queue of tap NAME and keeps it;
# sets HOLDER (its pid, the process itself: ip netns exec execs python).
hold() {
    rm -f "$PC_TMP/held"
    ip netns exec "$PC_NS" "$PT_PYTHON" -c '
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH22x", sys.argv[1].encode(), 0x0002 | 0x1000))
open(sys.argv[2], "w").close()
time.sleep(120)' "$1" "$PC_TMP/held" &
    HOLDER=$!
    pt_cleanup_add pt_kill "$HOLDER"
    for _ in $(seq 100); do [ -e "$PC_TMP/held" ] && return 0; sleep 0.05; done
    pt_fail "could not hold tap '$1'"
}
exists() { ip -n "$PC_NS" link show "$1" >/dev/null 2>&1; }

# ---- destroy ----
pt_assert_rc "create pool0" 0 ptap_root create pool0
hold pool0
pt_assert_rc "destroy of a held tap" 75 ptap_root destroy pool0
pt_assert_match "the refusal names the holder" "in use by pid $HOLDER \\(python3" "$PT_ERR"
exists pool0 || pt_fail "destroy removed a held tap"
pt_assert_json "the record is still ready" "$(ptap_root list --json)" \
    '[.records[] | select(.name == "pool0" and .state == "ready")] | length == 1'
pt_assert_rc "destroy --force" 0 ptap_root destroy --force pool0
exists pool0 && pt_fail "destroy --force left the tap"
pt_kill "$HOLDER"
pt_ok "destroy never takes a held tap without --force"

# ---- recover: a held tap renamed behind ptap's back ----
pt_assert_rc "create ren0" 0 ptap_root create ren0
hold ren0
ip -n "$PC_NS" link set ren0 down
ip -n "$PC_NS" link set ren0 name guestnic
ip -n "$PC_NS" link set guestnic up
pt_assert_rc "recover after the rename" 0 ptap_root recover --json
pt_assert_json "recover follows the rename" "$PT_OUT" \
    '[.records[] | select(.action == "follow-rename" and .name == "ren0")] | length == 1'
pt_assert_json "and destroys nothing" "$PT_OUT" '[.records[] | select(.action | test("destroy"))] | length == 0'
exists guestnic || pt_fail "recover destroyed the renamed, held tap"
pt_assert_json "the record now names guestnic, in the kernel" "$(ptap_root list --json)" \
    '[.records[] | select(.name == "guestnic" and .state == "ready" and .in_kernel == true)] | length == 1'
pt_assert_rc "a second recover" 0 ptap_root recover --json
pt_assert_eq "has nothing to do" "[]" "$(echo "$PT_OUT" | jq -c .records)"
pt_kill "$HOLDER"
pt_ok "recover follows a renamed tap by its ifindex"

# ---- recover: a held orphan of this journal ----
jid=$(pc_jid root "$PC_ROOT_STATE")
pc_helper root create orph0 --tag "$jid:op999" >/dev/null
hold orph0
pt_assert_rc "recover with a held orphan" 0 ptap_root recover --json
pt_assert_json "the held orphan is left alone, and why" "$PT_OUT" \
    '[.records[] | select(.name == "orph0" and .action == "in-use" and (.reason | test("pid")))] | length == 1'
exists orph0 || pt_fail "recover destroyed a held orphan"
pt_kill "$HOLDER"
pt_assert_rc "recover once it is free" 0 ptap_root recover --json
pt_assert_json "the orphan goes" "$PT_OUT" \
    '[.records[] | select(.name == "orph0" and .action == "destroy-orphan")] | length == 1'
exists orph0 && pt_fail "the free orphan is still there"
pt_assert_rc "destroy guestnic" 0 ptap_root destroy guestnic
pc_check root "$PC_ROOT_STATE" "after the held tests"
pt_ok "recover never destroys a held orphan"
