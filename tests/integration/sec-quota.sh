#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Attack: the quota was counted, then the taps made, with no lock between:
# 48 parallel "create r%d --count 2" under "max 2" ended with up to 6 taps.
# Required: the quota holds under any concurrency, in both install modes.
# Also: an allow rule without "max" has a documented default limit.
. "$(dirname "$0")/../lib/common.sh"
pt_require_root
pt_tun_world_rw

U=ptaptest-quo
pt_user_ensure $U >/dev/null
pt_netns_new quota
pt_ns ip link add br0 type bridge
pt_ns ip link set br0 up
POL=$(pt_policy_dir "allow user $U bridge br0 max 2")
T=$(pt_tmpdir)
PAR=${PTAP_QUOTA_PARALLEL:-48}
ROUNDS=${PTAP_QUOTA_ROUNDS:-3}

owned() {
    pt_ns ip -j -d link show type tun | jq --arg u "$(id -u $U)" \
        '[.[] | select(.ifalias // "" | startswith("ptap")) | select((.linkinfo.info_data.user // "") == ($u | tonumber) or (.linkinfo.info_data.user // "") == "'$U'")] | length'
}

for mode in setuid cap; do
    H=$(pt_helper_install $mode)
    for ((round = 0; round < ROUNDS; round++)); do
        pids=()
        for ((i = 0; i < PAR; i++)); do
            pt_helper $U "$POL" "$H" create "q${i}x%d" --bridge br0 --count 2 \
                >"$T/out.$i" 2>"$T/err.$i" &
            pids+=($!)
        done
        ok=0
        for i in "${!pids[@]}"; do
            if wait "${pids[$i]}"; then ok=$((ok + 1)); fi
        done
        n=$(owned)
        [ "$n" -le 2 ] || pt_fail "$mode round $round: $PAR parallel creates under 'max 2' left $n taps ($ok runs succeeded)"
        [ "$ok" -le 1 ] || pt_fail "$mode round $round: $ok runs of --count 2 succeeded under 'max 2'"
        pt_log "$mode round $round: $ok of $PAR runs succeeded, $n taps"
        # Every refusal says why (the quota, or the lock wait).
        for ((i = 0; i < PAR; i++)); do
            [ -s "$T/out.$i" ] && continue
            pt_assert_match "$mode refusal $i" "quota|max|lock|exceed|limit" "$(cat "$T/err.$i")"
        done
        mapfile -t left < <(pt_ns ip -j link show type tun | jq -r '.[].ifname')
        [ ${#left[@]} -eq 0 ] || pt_helper $U "$POL" "$H" destroy "${left[@]}" >/dev/null
    done
done
pt_ok "the quota holds under $PAR parallel creates"

# No "max": a documented default limit (ptap-helper.conf(5)).
POL2=$(pt_policy_dir "allow user $U bridge none")
H=$(pt_helper_install setuid)
pt_assert_rc "no max: 4096 taps in one run" 77 pt_helper $U "$POL2" "$H" create big%d --count 4096
pt_assert_match "no max: the refusal names the default limit" "limit|max|quota" "$PT_ERR"
[ "$(owned)" -eq 0 ] || pt_fail "no max: a refused run left taps"
pt_ok "an allow rule without max has a default limit"

# A user holding the lock delays creates, boundedly, and is named.
POL3=$(pt_policy_dir "allow user $U bridge none max 4")
mkdir -p -m 0777 "$T/h"; rm -f "$T/h/holder"
pt_helper $U "$POL3" "$PT_PYTHON" -c '
import fcntl, os, sys, time
f = open("/etc/ptap/helper.conf")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(30)' "$T/h/holder" &
for _ in $(seq 100); do [ -s "$T/h/holder" ] && break; sleep 0.05; done
holder=$(cat "$T/h/holder")
pt_cleanup_add kill "$holder"
start=$(date +%s)
pt_assert_rc "create while a user holds the quota lock" 75 pt_helper $U "$POL3" "$H" create held0
pt_assert_match "the refusal names the lock and its holder" "quota lock.*held by pid $holder" "$PT_ERR"
[ $(($(date +%s) - start)) -le 20 ] || pt_fail "the lock wait was not bounded"
pt_ns ip link show held0 >/dev/null 2>&1 && pt_fail "a create that timed out made its tap"
kill "$holder" 2>/dev/null || true
while kill -0 "$holder" 2>/dev/null; do sleep 0.05; done
pt_assert_rc "create once the lock is free" 0 pt_helper $U "$POL3" "$H" create held0
pt_ok "the quota lock wait is bounded and names the holder"
