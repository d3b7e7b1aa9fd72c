#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Attack: between TUNSETIFF and TUNSETOWNER a multi-queue tap has no owner,
# and the kernel lets any user attach a queue to it. A user the policy
# denies spins TUNSETIFF(IFF_MULTI_QUEUE) on the name root's helper is about
# to create. Required: the helper never hands out a tap on which another
# process holds a queue (it deletes it and fails, or retries), whichever
# way it is installed.
. "$(dirname "$0")/../lib/common.sh"
pt_require_root
pt_tun_world_rw

VICTIM=ptaptest-mqv
EVIL=ptaptest-mqe
pt_user_ensure $VICTIM >/dev/null
pt_user_ensure $EVIL >/dev/null
pt_netns_new mqrace
pt_ns ip link add br0 type bridge
pt_ns ip link set br0 up
POL=$(pt_policy_dir "allow user $VICTIM bridge br0 max 64")
ROUNDS=${PTAP_MQ_RACE_ROUNDS:-40}
SPIN=$(pt_tmpdir)/spin.py
cat >"$SPIN" <<'PY'
# Spin TUNSETIFF(IFF_TAP|IFF_NO_PI|IFF_MULTI_QUEUE) on one name until a
# queue is attached or the stop file appears; then hold what we got until
# told to let go, and say what we got.
import fcntl, os, struct, sys, time
TUNSETIFF = 0x400454ca
name, ready, stop, release = sys.argv[1:5]
req = struct.pack("16sH22x", name.encode(), 0x0002 | 0x1000 | 0x0100)
fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
with open(ready + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(ready + ".tmp", ready)
got = False
while not os.path.exists(stop):
    try:
        fcntl.ioctl(fd, TUNSETIFF, req)
        got = True
        break
    except OSError:
        pass
print("queue" if got else "none", flush=True)
while not os.path.exists(release):
    time.sleep(0.01)
PY
chmod 0644 "$SPIN"

race_one() { # MODE HELPER: $ROUNDS rounds against HELPER, as root or the victim
    local mode=$1 helper=$2 as i name d rc won=0 handed=0 refused=0 spid res
    for ((i = 0; i < ROUNDS; i++)); do
        name=mq$mode$i
        d=$(mktemp -d "$PT_TMP/race.XXXXXX")
        chmod 0777 "$d"
        pt_as $EVIL "$PT_PYTHON" "$SPIN" "$name" "$d/ready" "$d/stop" "$d/release" >"$d/out" &
        spid=$!
        while [ ! -e "$d/ready" ]; do sleep 0.005; done
        as=root
        [ "$mode" = root ] || as=$VICTIM
        rc=0
        pt_helper $as "$POL" "$helper" create "$name" --owner $VICTIM --bridge br0 \
            --multi-queue >"$d/helper.out" 2>"$d/helper.err" || rc=$?
        touch "$d/stop"
        # While the attacker still holds whatever it got: is the tap there,
        # and does anybody hold a queue of it?
        sleep 0.05
        res=$(cat "$d/out" 2>/dev/null || true)
        while [ -z "$res" ]; do sleep 0.01; res=$(cat "$d/out" 2>/dev/null || true); done
        [ "$res" = queue ] && won=$((won + 1))
        if [ "$rc" -eq 0 ]; then
            handed=$((handed + 1))
            # The kernel says who holds a queue: fdinfo's iff line.
            if grep -qx "iff:[[:space:]]*$name" /proc/"$(cat "$d/ready")"/fdinfo/* 2>/dev/null; then
                touch "$d/release"
                wait "$spid" || true
                pt_fail "$mode helper round $i: handed out '$name' while user $EVIL holds a queue of it"
            fi
        else
            refused=$((refused + 1))
            pt_assert_match "$mode helper round $i: refusal names the tap" "$name" "$(cat "$d/helper.err")"
            pt_ns ip link show "$name" >/dev/null 2>&1 &&
                pt_fail "$mode helper round $i: a failed create left '$name' behind"
        fi
        touch "$d/release"
        wait "$spid" || true
        pt_ns ip link del "$name" 2>/dev/null || true
    done
    pt_log "$mode: $ROUNDS rounds, attacker attached a queue during $won, created $handed, refused $refused"
    [ "$handed" -gt 0 ] || pt_fail "$mode helper: no round succeeded at all"
}

race_one root "$PT_HELPER_BIN"
pt_ok "root's helper never hands out a multi-queue tap with a foreign queue"
race_one setuid "$(pt_helper_install setuid)"
pt_ok "setuid helper (victim caller) never hands out a multi-queue tap with a foreign queue"
race_one cap "$(pt_helper_install cap)"
pt_ok "file-capability helper never hands out a multi-queue tap with a foreign queue"
