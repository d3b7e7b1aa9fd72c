#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark 3: journal scaling, at the command line.
#   - One journaled create+destroy (`ptap create bjN` then `ptap destroy
#     bjN`: two runs of ptap, two of the helper, four records, fsyncs) with
#     10, 100, 1000 and 10000 live records. Four journals (state dirs) of
#     those sizes live side by side in one namespace, so every size sees
#     the same kernel (all their taps) and rounds alternate between them:
#     the ratio to the 10-record journal isolates the journal's own cost.
#     A fifth journal of 10 records in a namespace of its own (10 taps in
#     the kernel) gives the whole-host view: 10,000 records and taps vs 10.
#   - Peak RSS and wall time of `ptap list --json` at 10,000 records.
#   - In-process numbers (append with 10..10000 live records; replay of a
#     10,000-record journal) from the journal's own bench_journal, if built.
# Target: the 10,000 case <= 1.5x the 10 case; replay well under 100 ms.
#
# Usage: bench-journal-cli.sh [--sizes "10 100 1000 10000"] [--rounds R]
#                             [--in-process yes|no]
source "$(dirname "$0")/lib/bench.sh"

sizes="10 100 1000 10000"
rounds=11
inproc=yes
while [ $# -gt 0 ]; do
    case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --in-process) inproc=$2; shift 2 ;;
    *) pt_fail "usage: $0 [--sizes \"N...\"] [--rounds R] [--in-process yes|no]" ;;
    esac
done

bn_init journal
user=ptaptest-bench
pt_user_ensure "$user" >/dev/null
# The small host: a namespace of its own with a 10-record journal.
bn_netns_new bench-journal-small # ptaptest-bench-journal-small-PID
NS_SMALL=$PT_NS
PT_NS=$BN_NS
sd_small=$(bn_state_dir)
ptap_small() {
    PTAP_HELPER="$PTAP_HELPER_BIN" ip netns exec "$NS_SMALL" "$PTAP_BIN" --state-dir "$sd_small" "$@"
}

declare -A sd_of
i=0
for n in $sizes; do
    i=$((i + 1))
    sd_of[$n]=$(bn_state_dir)
    left=$n
    pt_log "filling journal $i with $n live records"
    while [ "$left" -gt 0 ]; do
        batch=$((left > 4096 ? 4096 : left))
        bn_ptap "${sd_of[$n]}" create "j${i}x%d" --count "$batch" --owner "$user" >/dev/null
        left=$((left - batch))
    done
    got=$(bn_ptap "${sd_of[$n]}" list --json | jq '.records | length')
    [ "$got" -eq "$n" ] || pt_fail "journal $i holds $got live records, not $n"
done
small=${sizes%% *}
ptap_small create 'sx%d' --count "$small" --owner "$user" >/dev/null

op_in() { # SD: one journaled create + destroy
    local sd=$1 name
    name=$(bn_ptap "$sd" create 'bjop%d' --owner "$user") || return 1
    bn_ptap "$sd" destroy "$name"
}
op_small() {
    local name
    name=$(ptap_small create 'bjop%d' --owner "$user") || return 1
    ptap_small destroy "$name"
}

declare -A t_of
t_small=()
# Warm-up, not counted.
for n in $sizes; do op_in "${sd_of[$n]}" >/dev/null; done
op_small >/dev/null
pt_log "create+destroy: $rounds rounds over journals of $sizes records (+ a small host)"
for ((r = 0; r < rounds; r++)); do
    for n in $sizes; do
        bn_time op_in "${sd_of[$n]}"
        t_of[$n]="${t_of[$n]:-} $BN_MS"
    done
    bn_time op_small
    t_small+=("$BN_MS")
done
base=${t_of[$small]}
for n in $sizes; do
    [ "$n" = "$small" ] && continue
    target= bound=0
    if [ "$n" -ge 10000 ]; then target="<= 1.5"; bound=1.5; fi
    bn_compare "journal-op-$n" "Journaled create+destroy, $n live records (same host)" \
        "ptap create + destroy, $n records" "${t_of[$n]}" \
        "ptap create + destroy, $small records" "$base" \
        "$target" le "$bound"
done
largest=${sizes##* }
bn_compare "journal-op-host-$largest" "Journaled create+destroy, whole host: $largest records+taps vs $small" \
    "ptap create + destroy, $largest records+taps" "${t_of[$largest]}" \
    "ptap create + destroy, $small records+taps (own netns)" "${t_small[*]}" \
    "" le 0

# The records stayed exactly what they were.
for n in $sizes; do
    got=$(bn_ptap "${sd_of[$n]}" list --json | jq '.records | length')
    [ "$got" -eq "$n" ] || pt_fail "journal of $n holds $got live records after the rounds"
done

# Peak RSS and time of `ptap list --json` at the largest journal.
rss=() tl=()
for ((r = 0; r < 5; r++)); do
    t0=${EPOCHREALTIME/./}
    kb=$( { /usr/bin/time -f 'maxrss=%M' ip netns exec "$BN_NS" env PTAP_HELPER="$PTAP_HELPER_BIN" \
        "$PTAP_BIN" --state-dir "${sd_of[$largest]}" list --json >/dev/null; } 2>&1 |
        sed -n 's/^maxrss=//p')
    t1=${EPOCHREALTIME/./}
    [ -n "$kb" ] || pt_fail "ptap list --json failed"
    rss+=("$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')")
    tl+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1000 }')")
done
read -r m mn mx < <(bn_stats "${rss[@]}")
bn_result "journal-list-rss" "ptap list --json at $largest records" "peak RSS" MiB "$m" "$mn" "$mx" - - - - -
pt_log "ptap list --json at $largest records: peak RSS $m MiB ($mn..$mx)"
read -r m mn mx < <(bn_stats "${tl[@]}")
bn_result "journal-list-time" "ptap list --json at $largest records" "wall time (journal + kernel dump)" ms "$m" "$mn" "$mx" - - - - -
pt_log "ptap list --json at $largest records: $m ms ($mn..$mx)"

# In-process numbers from bench_journal (the journal engineer's).
bj=$PTAP_BUILD_DIR/tests/bench/bench_journal
if [ "$inproc" = yes ] && [ -x "$bj" ]; then
    pt_log "bench_journal (in process)"
    csv=$(tr ' ' ',' <<<"$sizes")
    mkdir -p "$BN_TMP/bj"
    out=$("$bj" --sizes "$csv" --replay "$largest" --dir "$BN_TMP/bj") || pt_fail "bench_journal failed"
    while read -r _ what rest; do
        ms=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<<"$rest")
        ratio=$(sed -n 's/.*ratio=\([0-9.]*\).*/\1/p' <<<"$rest")
        case $what in
        journal-append-live-*)
            n=${what#journal-append-live-}
            target=- met=-
            if [ "$n" -ge 10000 ]; then
                target="<= 1.5"
                met=$(awk -v r="$ratio" 'BEGIN { print r <= 1.5 ? "yes" : "no" }')
            fi
            bn_result "$what" "Journal append (write+fdatasync), $n live records, in process" \
                "bench_journal (ratio vs $small)" ms "$ms" - - "$ratio" - - "$target" "$met"
            ;;
        journal-replay-*)
            n=${what#journal-replay-}
            met=$(awk -v m="$ms" 'BEGIN { print m < 100 ? "yes" : "no" }')
            bn_result "$what" "Replay of a $n-record journal, in process" \
                "bench_journal" ms "$ms" - - - - - "< 100 ms" "$met"
            ;;
        esac
        pt_log "$what $rest"
    done <<<"$out"
elif [ "$inproc" = yes ]; then
    pt_log "bench_journal not built: in-process numbers skipped"
fi

# Delete the ~11,000 taps now, in one group delete, so the kernel is not
# still tearing them down (namespace clean-up is asynchronous) while the
# next benchmark runs.
bn_del_group j
