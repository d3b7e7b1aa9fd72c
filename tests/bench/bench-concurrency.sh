#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark 5: concurrency. C clients (8) run at once on one journal, each
# K times `ptap create` (one tap) then `ptap destroy` of it; operations per
# second (a create or a destroy is one operation), against one client
# doing the same work alone (the ratio shows what queueing on the journal
# lock costs or gains on this machine). Rounds alternate the two.
# Afterwards each client leaves one tap behind and the check that journal
# and kernel agree exactly runs: the live records name exactly the marked
# taps in the namespace, nothing is flagged, `ptap journal check` passes.
#
# Usage: bench-concurrency.sh [--clients C] [--ops K] [--rounds R]
source "$(dirname "$0")/lib/bench.sh"

clients=8
ops=15
rounds=3
while [ $# -gt 0 ]; do
    case $1 in
    --clients) clients=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) pt_fail "usage: $0 [--clients C] [--ops K] [--rounds R]" ;;
    esac
done

bn_init conc
user=ptaptest-bench
pt_user_ensure "$user" >/dev/null
bn_bridge br0
sd=$(bn_state_dir)

client() { # ID K: K create+destroy pairs; exit 1 on the first failure
    local id=$1 k=$2 i name
    for ((i = 0; i < k; i++)); do
        name=$(bn_ptap "$sd" create "c${id}n%d" --owner "$user" --bridge br0) || return 1
        bn_ptap "$sd" destroy "$name" >/dev/null || return 1
    done
}

run_parallel() { # C K
    local c=$1 k=$2 i pids=() rc=0
    for ((i = 0; i < c; i++)); do
        client "$i" "$k" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do
        wait "$i" || rc=1
    done
    return "$rc"
}

per_s() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.2f", n / (ms / 1000) }'; }

pt_log "concurrency: $rounds rounds of $clients clients x $ops create+destroy / 1 client alone"
t_par=() t_one=() o_par=() o_one=()
for ((r = 0; r < rounds; r++)); do
    for k in 0 1; do
        if [ $(((r + k) % 2)) -eq 0 ]; then
            bn_time run_parallel "$clients" "$ops"
            t_par+=("$BN_MS")
            o_par+=("$(per_s $((2 * clients * ops)) "$BN_MS")")
        else
            bn_time run_parallel 1 "$ops"
            t_one+=("$BN_MS")
            o_one+=("$(per_s $((2 * ops)) "$BN_MS")")
        fi
    done
done
read -r pm pmin pmax < <(bn_stats "${o_par[@]}")
read -r om omin omax < <(bn_stats "${o_one[@]}")
# shellcheck disable=SC2046
read -r rm rmin rmax < <(bn_stats $(bn_ratios "${o_par[*]}" "${o_one[*]}"))
bn_result "concurrency" "Concurrency: create+destroy on one journal" "1 client alone" "ops/s" \
    "$om" "$omin" "$omax" - - - - -
bn_result "concurrency" "Concurrency: create+destroy on one journal" "$clients parallel clients" "ops/s" \
    "$pm" "$pmin" "$pmax" "$rm" "$rmin" "$rmax" - -
pt_log "1 client: $om ops/s ($omin..$omax); $clients clients: $pm ops/s ($pmin..$pmax); ratio $rm"

# Each client leaves one tap, at once; then journal and kernel must agree.
pids=()
for ((i = 0; i < clients; i++)); do
    bn_ptap "$sd" create "c${i}keep" --owner "$user" --bridge br0 >/dev/null &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || pt_fail "a leftover create failed"; done
list=$(bn_ptap "$sd" list --json)
recs=$(pt_jq "$list" '[.records[] | select(.problem or (.in_kernel | not) or .state != "ready") | .name] as $bad
    | if $bad != [] then "BAD " + ($bad | join(" ")) else [.records[].name] | sort | join(" ") end')
taps=$(pt_marked_taps "$BN_NS" | tr '\n' ' ')
taps=${taps% }
[ "$recs" = "$taps" ] || pt_fail "journal [$recs] and kernel [$taps] disagree"
[ "$(wc -w <<<"$recs")" -eq "$clients" ] || pt_fail "expected $clients live records, got [$recs]"
bn_ptap "$sd" journal check >/dev/null || pt_fail "ptap journal check failed"
[ "$(bn_ptap "$sd" recover --json | jq -c .records)" = "[]" ] || pt_fail "recover finds work after the clients"
bn_result "concurrency-agree" "Concurrency: journal and kernel agree afterwards" \
    "live records = marked taps ($clients), journal check, recover no-op" - yes - - - - - "exact agreement" yes
pt_log "journal and kernel agree: $clients live records = $clients marked taps; journal check ok"
