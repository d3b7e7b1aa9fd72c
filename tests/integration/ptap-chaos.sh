#!/usr/bin/env bash
# Black-box chaos, no fault points: a bounded loop of ptap create /
# destroy / recover runs, each killed with SIGKILL after a random delay
# (often mid-operation, sometimes before it starts or after it ends), on
# root's journal and on an unprivileged user's. Then the helpers the dead
# ptaps left are waited for, `ptap recover` runs, and journal and kernel
# must agree exactly: every tap of each journal has a live record, every
# live record has its tap, no orphan, the journal validates, a second
# recover does nothing. Every ten rounds the same is checked mid-way.
# A second loop kills the helper itself (SIGKILL, at a random moment of
# its run) during destroys of a few dozen taps: ptap must finish on its
# own (0, or 71 saying so), its journal must not keep a live record of a
# tap the kernel deleted, and recover must bring the rest back (taps left
# in a deletion group) so that journal and kernel agree again.
#   PTAP_CHAOS_ROUNDS (40)  PTAP_CHAOS_HELPER_ROUNDS (12)
#   PTAP_CHAOS_SEED (random; printed to reproduce)
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup chaos

ip -n "$PC_NS" link add br0 type bridge
ROUNDS=${PTAP_CHAOS_ROUNDS:-40}
SEED=${PTAP_CHAOS_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$SEED
pt_log "chaos: $ROUNDS rounds, seed $SEED (PTAP_CHAOS_SEED=$SEED to replay)"
unset PTAP_FAULT # black box: no fault point may fire

settle() { # CONTEXT: wait for stray helpers, recover both journals, check
    local as dir
    pc_wait_helpers
    for as in root user; do
        dir=$PC_ROOT_STATE
        [ "$as" = user ] && dir=$PC_USER_STATE
        [ -e "$dir/journal.xml" ] || continue
        pt_assert_rc "recover ($1, $as)" 0 pc_ptap "$as" "$dir" recover --json
        pc_check "$as" "$dir" "$1, $as, seed $SEED"
    done
}

kills=0
for ((round = 1; round <= ROUNDS; round++)); do
    as=root
    dir=$PC_ROOT_STATE
    if ((RANDOM % 3 == 0)); then
        as=user
        dir=$PC_USER_STATE
    fi
    case $((RANDOM % 6)) in
    0 | 1 | 2)
        args=(create "ch${as:0:1}%d" --count $((1 + RANDOM % 12)))
        ((RANDOM % 2)) && args+=(--bridge br0)
        ;;
    3 | 4)
        # Whatever is on record now (some names may be mid-crash states:
        # destroy refuses those, which is fine).
        mapfile -t names < <(pc_live "$as" "$dir" 2>/dev/null | shuf -n $((1 + RANDOM % 4)) --random-source=<(yes "$RANDOM"))
        if [ ${#names[@]} -eq 0 ]; then
            args=(create "ch${as:0:1}%d" --count 2)
        else
            args=(destroy "${names[@]}")
        fi
        ;;
    5) args=(recover) ;;
    esac
    pc_ptap_bg "$as" "$dir" "${args[@]}"
    # A create of a few taps takes 20-40 ms here: mostly kill inside that
    # window, sometimes later (the run may have finished: fine too).
    if ((RANDOM % 5)); then
        delay=$((RANDOM % 40))
    else
        delay=$((40 + RANDOM % 110))
    fi
    sleep "$(printf '0.%03d' "$delay")"
    kill -9 "$PC_BG_PID" 2>/dev/null || true
    rc=0
    wait "$PC_BG_PID" 2>/dev/null || rc=$?
    [ "$rc" -eq 137 ] && kills=$((kills + 1))
    if ((round % 10 == 0)); then
        settle "round $round"
    fi
done
settle "end"
pt_log "chaos: $kills of $ROUNDS runs killed by SIGKILL"

# ---- the helper killed at random moments during a destroy ----
HROUNDS=${PTAP_CHAOS_HELPER_ROUNDS:-12}
hkills=0
# From a clean slate: the first loop's taps would eat into the user's quota.
for as in root user; do
    dir=$PC_ROOT_STATE
    [ "$as" = user ] && dir=$PC_USER_STATE
    mapfile -t names < <(pc_live "$as" "$dir")
    [ ${#names[@]} -eq 0 ] || pt_assert_rc "destroy the first loop's taps ($as)" 0 \
        pc_ptap "$as" "$dir" destroy "${names[@]}"
done
# The helper, by way of a wrapper that says its pid (and the command)
# before it execs the real, setuid one: the pid stays the helper's.
HPIDS=$PC_TMP/helper.pids
install -m 0666 /dev/null "$HPIDS"
printf '#!/bin/sh\necho "$$ $1" >>"%s"\nexec "%s" "$@"\n' "$HPIDS" "$PC_HELPER" >"$PC_TMP/pid-helper"
chmod 0755 "$PC_TMP/pid-helper"
for ((round = 1; round <= HROUNDS; round++)); do
    as=root
    dir=$PC_ROOT_STATE
    if ((RANDOM % 3 == 0)); then
        as=user
        dir=$PC_USER_STATE
    fi
    args=(create "hk${as:0:1}%d" --count $((20 + RANDOM % 40)))
    ((RANDOM % 2)) && args+=(--bridge br0)
    pt_assert_rc "round $round: ${args[*]} ($as)" 0 pc_ptap "$as" "$dir" "${args[@]}"
    mapfile -t names < <(pc_live "$as" "$dir")
    : >"$HPIDS"
    PC_PTAP_HELPER=$PC_TMP/pid-helper pc_ptap_bg "$as" "$dir" destroy "${names[@]}"
    # Wait for its helper to start, then kill it a random while later
    # (0-20 ms: the helper's whole run of a few dozen taps).
    helper=
    for ((i = 0; i < 2000; i++)); do
        read -r helper _ <"$HPIDS" || true
        [ -z "$helper" ] || break
        kill -0 "$PC_BG_PID" 2>/dev/null || break
    done
    if [ -n "$helper" ]; then
        delay=$((RANDOM % 20))
        ((delay)) && sleep "$(printf '0.%03d' "$delay")"
        kill -9 "$helper" 2>/dev/null && hkills=$((hkills + 1))
    fi
    rc=0
    wait "$PC_BG_PID" 2>/dev/null || rc=$?
    case $rc in
    0 | 71) ;;
    *) pt_fail "round $round: destroy whose helper was killed exited $rc (0 or 71 expected), seed $SEED" ;;
    esac
    pc_wait_helpers
    pt_assert_json "round $round: no live record of a tap the kernel deleted ($as, seed $SEED)" \
        "$(pc_list "$as" "$dir")" '[.records[] | select(.state != null and .in_kernel == false)] | length == 0'
    pt_assert_rc "round $round: recover ($as)" 0 pc_ptap "$as" "$dir" recover --json
    pc_check "$as" "$dir" "helper chaos round $round, $as, seed $SEED"
    mapfile -t names < <(pc_live "$as" "$dir")
    [ ${#names[@]} -eq 0 ] || pt_assert_rc "round $round: destroy the rest ($as)" 0 \
        pc_ptap "$as" "$dir" destroy "${names[@]}"
    pc_check "$as" "$dir" "helper chaos round $round, after destroying the rest, seed $SEED"
done
pt_log "chaos: the helper killed in $hkills of $HROUNDS destroys"
((hkills > 0)) || pt_fail "no destroy's helper was caught alive: the loop tested nothing (seed $SEED)"

# Everything still works afterwards, and leaves nothing behind.
for as in root user; do
    dir=$PC_ROOT_STATE
    [ "$as" = user ] && dir=$PC_USER_STATE
    live=$(pc_live "$as" "$dir")
    [ -z "$live" ] || pt_assert_rc "destroy all ($as)" 0 pc_ptap "$as" "$dir" destroy $live
    pc_check "$as" "$dir" "after destroying all ($as)"
done
pt_assert_eq "nothing marked left" "" "$(pc_marked_taps)"
echo "ok: chaos, $ROUNDS rounds (seed $SEED), $kills killed, the helper killed in $hkills destroys; journal and kernel agree"
