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
