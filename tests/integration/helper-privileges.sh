#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What a running ptap-helper really holds, observed from /proc/PID/status
# while it is blocked writing a tap name to a full pipe (no test hook);
# and what it leaves when its caller dies, or it is terminated or killed,
# in the middle of a batch: after a signal it can hold, only whole taps
# (marked, owned, persistent, on their bridge); after SIGKILL only marked,
# owned, persistent ones (the chunk in hand may not have joined its bridge
# yet: it does so after the persist, ptap-helper(8)); `destroy --tag`
# removes them all.
. "$(dirname "$0")/../lib/common.sh"
pt_require_root
pt_tun_world_rw

U1=ptaptest-p1
uid1=$(pt_user_ensure $U1)
gid1=$(id -g $U1)
pt_netns_new hpriv
pt_ns ip link add br0 type bridge
pt_ns ip link set br0 up
POL=$(pt_policy_dir "allow user $U1 bridge br0 max 4096")
DRIVER=$(pt_tmpdir)/driver.py
cat >"$DRIVER" <<'PY'
import os, signal, subprocess, sys, time
mode, helper = sys.argv[1], sys.argv[2]
args = sys.argv[3:]

def wait_for(path, seconds=20):
    end = time.time() + seconds
    while not os.path.exists(path):
        if time.time() > end:
            sys.exit("timed out waiting for " + path)
        time.sleep(0.01)

if mode == "status":
    # Fill a pipe, give it to the helper as stdout: it makes the first tap,
    # then blocks printing its name. Read its status then, as it runs.
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b"x" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    p = subprocess.Popen([helper] + args, stdout=w)
    os.close(w)
    wait_for("/sys/class/net/pstat0")
    for _ in range(500):
        with open("/proc/%d/stat" % p.pid) as f:
            if f.read().split(") ")[1].split()[0] == "S":
                break
        time.sleep(0.01)
    with open("/proc/%d/status" % p.pid) as f:
        sys.stdout.write(f.read())
    while os.read(r, 65536):
        pass
    print("exit:", p.wait())
elif mode == "orphan":
    # The caller dies (SIGKILL) in the middle of a batch while somebody
    # else still reads the helper's output: only the parent-death signal
    # can tell the helper.
    r, w = os.pipe()
    reader = os.fork()
    if reader == 0:
        os.close(w)
        n = 0
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            n += b.count(b"\n")
        os._exit(0)
    p = subprocess.Popen([helper] + args, stdout=w)
    os.close(w)
    os.close(r)
    print(p.pid, flush=True)
    wait_for("/sys/class/net/porph3")
    os.kill(os.getpid(), signal.SIGKILL)
PY

# helper_pid: the PID of the (one) running copy of our installed helper.
helper_pid() {
    local p
    for _ in $(seq 400); do
        for p in /proc/[0-9]*; do
            [ "$(readlink "$p/exe" 2>/dev/null)" = "$H" ] && { echo "${p#/proc/}"; return 0; }
        done
        sleep 0.01
    done
    pt_fail "$mode: helper not found running"
}

settle_gone() { # wait until PID has exited
    for _ in $(seq 400); do
        [ -e "/proc/$1" ] || return 0
        sleep 0.05
    done
    pt_fail "helper $1 did not stop"
}

# check_batch PREFIX TAG MAX [whole|marked]: after an interrupted batch,
# 1..MAX-1 taps exist, every one persistent, marked and owned, and (whole)
# on br0, or (marked) all but at most one chunk on br0; destroy --tag
# removes them all.
check_batch() {
    local prefix=$1 tag=$2 max=$3 whole=${4:-whole} n t unbridged=0
    n=$(pt_ns ls /sys/class/net | grep -c "^$prefix" || true)
    [ "$n" -ge 1 ] && [ "$n" -lt "$max" ] || pt_fail "$mode: $n taps left of $max (expected an interrupted batch)"
    for t in $(pt_ns ls /sys/class/net | grep "^$prefix"); do
        pt_assert_eq "$mode: $t mark" "ptap:u$uid1:$tag" "$(pt_ns cat /sys/class/net/$t/ifalias)"
        pt_assert_eq "$mode: $t owner" "$uid1" "$(pt_ns cat /sys/class/net/$t/owner)"
        pt_assert_eq "$mode: $t persistent" 0x1802 "$(pt_ns cat /sys/class/net/$t/tun_flags)"
        if [ "$whole" = whole ]; then
            pt_assert_eq "$mode: $t master" br0 "$(basename "$(pt_ns readlink /sys/class/net/$t/master)")"
        elif [ "$(basename "$(pt_ns readlink /sys/class/net/$t/master 2>/dev/null)")" != br0 ]; then
            unbridged=$((unbridged + 1))
        fi
    done
    # SIGKILL: at most the chunk in hand (64 taps) is not on its bridge yet.
    [ "$unbridged" -le 64 ] || pt_fail "$mode: $unbridged taps off their bridge after SIGKILL (more than one chunk)"
    pt_assert_rc "$mode: destroy --tag $tag" 0 pt_helper $U1 "$POL" "$H" destroy --tag "$tag"
    pt_assert_eq "$mode: all removed by tag" 0 "$(pt_ns ls /sys/class/net | grep -c "^$prefix" || true)"
    echo "$n"
}

for mode in setuid cap; do
    H=$(pt_helper_install $mode)

    # 1. Capabilities and ids of the running helper.
    pt_assert_rc "$mode: blocked helper" 0 \
        pt_helper $U1 "$POL" "$PT_PYTHON" "$DRIVER" status "$H" create 'pstat%d' --count 2 --bridge br0
    S=$PT_OUT
    field() { echo "$S" | sed -n "s/^$1:[[:space:]]*//p" | tr -s '[:space:]' ' ' | sed 's/ $//'; }
    pt_assert_eq "$mode: CapEff" 0000000000001000 "$(field CapEff)"
    pt_assert_eq "$mode: CapPrm" 0000000000001000 "$(field CapPrm)"
    pt_assert_eq "$mode: CapInh" 0000000000000000 "$(field CapInh)"
    pt_assert_eq "$mode: CapAmb" 0000000000000000 "$(field CapAmb)"
    pt_assert_eq "$mode: NoNewPrivs" 1 "$(field NoNewPrivs)"
    pt_assert_eq "$mode: Uid (real, effective, saved, fs)" "$uid1 $uid1 $uid1 $uid1" "$(field Uid)"
    pt_assert_eq "$mode: Gid" "$gid1 $gid1 $gid1 $gid1" "$(field Gid)"
    if [ $mode = setuid ]; then
        # Without CAP_SETPCAP/CAP_SETGID the file-capability mode can clear
        # neither; no_new_privs makes the bounding set moot there.
        pt_assert_eq "$mode: CapBnd" 0000000000000000 "$(field CapBnd)"
        pt_assert_eq "$mode: Groups" "" "$(field Groups)"
    fi
    pt_assert_match "$mode: helper finished" 'exit: 0$' "$S"
    pt_assert_rc "$mode: cleanup" 0 pt_helper $U1 "$POL" "$H" destroy pstat0 pstat1
    pt_ok "$mode: a running helper holds only CAP_NET_ADMIN, as the caller"

    # 2. The caller dies mid-batch: the helper finishes the tap in hand,
    # stops, and everything it made is whole and marked.
    pt_assert_rc "$mode: orphaned helper" 137 \
        pt_helper $U1 "$POL" "$PT_PYTHON" "$DRIVER" orphan "$H" create 'porph%d' --count 1000 --bridge br0 --tag orphan
    settle_gone "$PT_OUT"
    n=$(check_batch porph orphan 1000)
    pt_ok "$mode: caller death stops the batch after $n whole taps"

    # 3. SIGTERM mid-batch: same contract, exit 71 with a message.
    E=$(pt_tmpdir)/err.$mode
    pt_helper $U1 "$POL" "$H" create 'pterm%d' --count 1000 --bridge br0 --tag term >/dev/null 2>"$E" &
    JOB=$!
    until pt_ns test -e /sys/class/net/pterm3; do sleep 0.01; done
    kill -TERM "$(helper_pid)"
    rc=0
    wait $JOB || rc=$?
    pt_assert_eq "$mode: SIGTERM exit code" 71 "$rc"
    pt_assert_match "$mode: SIGTERM message" 'stopped by signal 15 after [0-9]+ of 1000 taps' "$(cat "$E")"
    n=$(check_batch pterm term 1000)
    pt_ok "$mode: SIGTERM stops the batch after $n whole taps"

    # 4. SIGKILL mid-batch: no chance to finish, yet nothing half-made stays.
    pt_helper $U1 "$POL" "$H" create 'pkill%d' --count 1000 --bridge br0 --tag kill >/dev/null 2>&1 &
    JOB=$!
    until pt_ns test -e /sys/class/net/pkill3; do sleep 0.01; done
    kill -KILL "$(helper_pid)"
    wait $JOB || true
    n=$(check_batch pkill kill 1000 marked)
    pt_ok "$mode: SIGKILL leaves $n whole, marked taps and no partial one"
done
