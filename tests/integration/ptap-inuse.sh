#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Taps in use, without a guest: a process that holds a queue of a pool tap
# (as libvirt does through managed='no', or a QEMU started by hand) is its
# consumer. `ptap list` names it (pid and command; in --json a non-null
# "consumer", "external": true), `destroy` and `attach --tap` refuse the
# tap naming it (75), and once it lets go the tap is ready again with no
# consumer. A user sees that another user's process holds its tap, never
# who. And a pool tap whose guest goes away goes back to the pool (recover
# and release), where one that attach made goes with its guest.
# Tried before: `ptap list` called a held tap ready with no consumer, and
# recover destroyed a pool tap once the guest it was attached to was gone.
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup inuse

# hold AS NAME [ARG...]: a process of AS (root or the test user) attaches a
# queue of tap NAME and keeps it for 60 s (ARGs: more of its command line);
# sets HOLDER to its pid (ip netns exec and
# setpriv exec the next stage: it is python itself, as pt_tun_open's would be
# were it not a shell function).
hold() {
    local as=$1 name=$2
    shift 2
    [ "$as" = root ] || as=$PC_USER
    rm -f "$PC_TMP/user/held"
    ip netns exec "$PC_NS" setpriv --reuid "$as" --regid "$as" --init-groups -- "$PT_PYTHON" -c '
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH22x", sys.argv[1].encode(), 0x0002 | 0x1000))
open(sys.argv[2], "w").close()
time.sleep(60)' "$name" "$PC_TMP/user/held" "$@" &
    HOLDER=$!
    pt_cleanup_add pt_kill "$HOLDER"
    for _ in $(seq 100); do
        [ -e "$PC_TMP/user/held" ] && return 0
        kill -0 "$HOLDER" 2>/dev/null || break
        sleep 0.05
    done
    pt_fail "could not hold tap '$name'"
}
consumer() { ptap_"$1" list --json | jq -c --arg t "$2" '.records[] | select(.name == $t) | .consumer'; }
exists() { ip -n "$PC_NS" link show "$1" >/dev/null 2>&1; }

# ---- root: a process of root's holds a pool tap ------------------------------------
pt_assert_rc "create pool0" 0 ptap_root create pool0
pt_assert_eq "a free tap has no consumer" null "$(consumer root pool0)"
hold root pool0
c=$(consumer root pool0)
pt_assert_json "list names the holder as the consumer" "$c" \
    '.kind == "process" and .external == true and .pid == ($p | tonumber) and .command == "python3"
     and .uid == 0 and .domain == null and .uri == null' --arg p "$HOLDER"
pt_assert_json "the record is still a ready pool tap" "$(ptap_root list --json)" \
    '[.records[] | select(.name == "pool0" and .state == "ready" and .pool == true)] | length == 1'
pt_assert_match "the text list shows the holder" "pool0 .* pid:$HOLDER/python3" "$(ptap_root list)"
pt_ok "list shows a process holding a pool tap as its consumer"

pt_assert_rc "destroy of the held tap" 75 ptap_root destroy pool0
pt_assert_match "destroy names the holder" "in use by pid $HOLDER \\(python3, uid 0\\)" "$PT_ERR"
exists pool0 || pt_fail "destroy removed a held tap"
before=$(pc_snapshot)
pt_assert_rc "attach --tap of the held tap" 75 ptap_root attach qmp:/nonexistent/qmp.sock --tap pool0
pt_assert_match "attach names the holder" "cannot attach tap 'pool0': it is in use by pid $HOLDER" "$PT_ERR"
pt_assert_unchanged "the refused attach" "$before" pc_snapshot
pt_assert_rc "recover with the held pool tap" 0 ptap_root recover --json
pt_assert_eq "recover has nothing to do" "[]" "$(jq -c .records <<<"$PT_OUT")"
pt_ok "destroy and attach --tap refuse a held tap, naming the holder"

pt_kill "$HOLDER"
# A command line like libvirt's QEMU's, but no libvirtd's pid file names it:
# a process, never guessed to be a domain.
hold root pool0 -name guest=ptaptest-notlv,debug-threads=on -uuid 0f0e0d0c-0b0a-0908-0706-050403020100
pt_assert_json "a look-alike is a process" "$(consumer root pool0)" \
    '.kind == "process" and .pid == ($p | tonumber) and .domain == null' --arg p "$HOLDER"
pt_kill "$HOLDER"
pt_assert_eq "once let go, no consumer" null "$(consumer root pool0)"
pt_assert_match "the text list shows none" "pool0 +ready .* - *$" "$(ptap_root list | grep '^pool0 ')"
pt_assert_rc "destroy once it is free" 0 ptap_root destroy pool0
exists pool0 && pt_fail "destroy left the free tap"
pt_ok "a tap let go is ready again, with no consumer"

# ---- a user: its own process, and another user's -----------------------------------
pt_assert_rc "user create upool0" 0 ptap_user create upool0
hold user upool0
pt_assert_json "the user sees its own process" "$(consumer user upool0)" \
    '.kind == "process" and .pid == ($p | tonumber) and .uid == ($u | tonumber)' \
    --arg p "$HOLDER" --arg u "$PC_UID"
pt_kill "$HOLDER"
hold root upool0
pt_assert_json "another user's process: held, by whom unknown" "$(consumer user upool0)" \
    '.kind == "unknown" and .external == true and .pid == null and .command == null
     and .description == "a process of another user"'
pt_assert_rc "user destroy of the held tap" 75 ptap_user destroy upool0
pt_assert_match "the refusal says another user's process holds it" \
    "'upool0': it is in use by a process of another user" "$PT_ERR"
exists upool0 || pt_fail "the user's destroy removed a held tap"
pt_kill "$HOLDER"
pt_assert_rc "user destroy once free" 0 ptap_user destroy upool0
pt_ok "a user is told another user's process holds its tap, never who"

# ---- a pool tap whose guest is gone goes back to the pool ---------------------------
# attached RECORD GUEST [FLAGS]: append an attached record of tap RECORD for
# the QMP socket GUEST, as the journal writes it (sealed with its checksum).
attached() {
    local j=$PC_ROOT_STATE/journal.xml seq line
    seq=$(grep -o 'seq="[0-9]*"' "$j" | tr -dc '0-9\n' | sort -n | tail -1)
    line=$(grep "name=\"$1\" state=\"ready\"" "$j" | tail -1)
    echo "$line" | sed -e "s/seq=\"[0-9]*\"/seq=\"$((seq + 1))\"/" \
        -e "s/state=\"ready\"/state=\"attached\"${3:+ flags=\"$3\"}/" \
        -e "s|/>\$|><consumer kind=\"qmp\" target=\"$2\" netdev=\"net-$1\" device=\"dev-$1\" model=\"virtio-net-pci\" mac=\"52:54:00:12:34:5$4\"/></tap>|" |
        "$PT_PYTHON" "$PT_SOURCE_DIR/tests/data/journal/seal.py" >>"$j"
}
for t in pool1 pool2 made1 made2; do
    pt_assert_rc "create $t" 0 ptap_root create "$t"
done
attached pool1 "$PC_TMP/gone1.qmp" "" 1
attached made1 "$PC_TMP/gone1.qmp" ephemeral 2
attached pool2 "$PC_TMP/gone2.qmp" "" 3
attached made2 "$PC_TMP/gone2.qmp" ephemeral 4
pt_assert_rc "recover after guest 1 went away" 0 ptap_root recover --json
# (recover judges every record: guest 2 is gone too.)
pt_assert_json "the pool taps go back to the pool" "$PT_OUT" \
    '[.records[] | select(.action == "consumer-gone" and (.name == "pool1" or .name == "pool2")
                   and (.reason | test("pool tap is ready again")))] | length == 2'
pt_assert_json "the taps attach made go with their guest" "$PT_OUT" \
    '[.records[] | select(.action == "consumer-gone" and (.name == "made1" or .name == "made2")
                   and (.reason | test("removed")))] | length == 2'
exists pool1 && exists pool2 || pt_fail "recover destroyed a pool tap whose guest went away"
exists made1 || exists made2 && pt_fail "recover left a tap that attach made for a gone guest"
pt_assert_json "pool1 and pool2 are ready, with no consumer" "$(ptap_root list --json)" \
    '[.records[] | select(.state == "ready" and .consumer == null) | .name] | sort == ["pool1", "pool2"]'
pc_check root "$PC_ROOT_STATE" "after recover"

# release (what the libvirt hook runs when a guest stops): the same rule.
pt_assert_rc "create made3" 0 ptap_root create made3
attached pool1 "$PC_TMP/gone3.qmp" "" 5
attached made3 "$PC_TMP/gone3.qmp" ephemeral 6
pt_assert_rc "release guest 3" 0 ptap_root release "qmp:$PC_TMP/gone3.qmp" --json
pt_assert_json "release returns the pool tap" "$PT_OUT" \
    '[.records[] | select(.action == "release" and .name == "pool1" and (.reason | test("ready again")))] | length == 1'
exists pool1 || pt_fail "release destroyed a pool tap"
exists made3 && pt_fail "release left the tap attach made"
pt_assert_json "pool1 is ready again" "$(ptap_root list --json)" \
    '[.records[] | select(.name == "pool1" and .state == "ready" and .consumer == null)] | length == 1'
# A tap that a process still holds is kept by a release, naming the holder;
# --force returns it to the pool all the same.
attached pool1 "$PC_TMP/gone5.qmp" "" 8
hold root pool1
pt_assert_rc "release of a held tap" 75 ptap_root release "qmp:$PC_TMP/gone5.qmp" --json
pt_assert_json "the held tap is kept, its holder named" "$PT_OUT" \
    '[.records[] | select(.name == "pool1" and .action == "in-use" and (.reason | test("in use by pid " + $p)))] | length == 1' \
    --arg p "$HOLDER"
pt_assert_rc "release --force" 0 ptap_root release "qmp:$PC_TMP/gone5.qmp" --force --json
pt_assert_json "--force returns it to the pool" "$(ptap_root list --json)" \
    '[.records[] | select(.name == "pool1" and .state == "ready" and .consumer.external == true)] | length == 1'
pt_kill "$HOLDER"
pt_ok "a guest that goes away returns pool taps to the pool, takes the taps made for it"

# ptap watch (what notices a guest's death as it happens): the same rule.
hold root pool2
attached pool2 "$PC_TMP/gone4.qmp" "" 7
WLOG=$PC_TMP/watch.log
ip netns exec "$PC_NS" env PTAP_HELPER="$PC_HELPER" "$PTAP_BIN" --state-dir "$PC_ROOT_STATE" \
    watch --grace 1 -v 2>"$WLOG" &
WPID=$!
pt_cleanup_add pt_kill "$WPID"
for _ in $(seq 100); do grep -q "watching the journal" "$WLOG" && break; sleep 0.05; done
grep -q "watching the journal" "$WLOG" || pt_fail "the watcher did not start: $(cat "$WLOG")"
pt_kill "$HOLDER" # the carrier drops: the "guest" is gone
for _ in $(seq 60); do grep -q "'pool2': guest .* is gone: pool tap ready again" "$WLOG" && break; sleep 0.1; done
pt_assert_match "the watcher returns pool2 to the pool" "'pool2': guest .* is gone: pool tap ready again" \
    "$(cat "$WLOG")"
pt_kill "$WPID"
exists pool2 || pt_fail "the watcher destroyed a pool tap whose guest went away"
pt_assert_json "pool2 is ready, with no consumer" "$(ptap_root list --json)" \
    '[.records[] | select(.name == "pool2" and .state == "ready" and .consumer == null)] | length == 1'
pt_assert_rc "destroy the pool" 0 ptap_root destroy pool1 pool2
pc_check root "$PC_ROOT_STATE" "end"
pt_ok "ptap watch returns a pool tap to the pool when its guest goes away"
