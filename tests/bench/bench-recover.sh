#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark 2: remove N orphaned taps.
#   ptap     `ptap recover`: the orphans (taps marked with this journal's id
#            and an operation no record names) go in one link-group delete
#   ip -batch the anchor (TESTBED.md "Anchors"): one `ip -batch` of
#            `link set dev NAME group G` x N + `link del group G`, for N
#            identical taps whose names the admin knows
#   ip loop  (reference, N <= --loop-max) `ip link del NAME` for each of N
#            identical taps (each delete waits for RCU: ~16 ms, TESTBED.md)
# The orphans are made by ptap-helper directly with --tag JOURNALID:opX,
# as a ptap killed between the helper's work and its outcome record would
# leave them (ptap has to find them: its journal and the kernel's marks).
# Set-up is not timed; contenders alternate every round.
# Target (issue 14): ptap <= 1.0x ip -batch. With two sizes or more, the
# per-orphan cost of each at the largest N against the smallest (a
# reference row: recovery must not grow faster than the kernel's delete).
#
# Usage: bench-recover.sh [--sizes "100 1000"] [--rounds R] [--rounds-large R]
#                         [--loop-max N]
#        (--rounds-large: rounds for N >= 1000)
source "$(dirname "$0")/lib/bench.sh"

sizes="100 1000"
rounds=5
rounds_large=3
loop_max=100
while [ $# -gt 0 ]; do
    case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --rounds-large) rounds_large=$2; shift 2 ;;
    --loop-max) loop_max=$2; shift 2 ;;
    *) pt_fail "usage: $0 [--sizes \"N...\"] [--rounds R] [--rounds-large R] [--loop-max N]" ;;
    esac
done

bn_init recover
user=ptaptest-bench
pt_user_ensure "$user" >/dev/null
sd=$(bn_state_dir)
# The journal must exist, with a live record, for its id to be on taps.
bn_ptap "$sd" create keep0 --owner "$user" >/dev/null
jid=$(bn_jid "$sd")
[ -n "$jid" ] || pt_fail "no journal id in 'ptap journal dump'"

helper() { ip netns exec "$BN_NS" "$PTAP_HELPER_BIN" "$@"; }
count_prefix() { ip -n "$BN_NS" -br link show | grep -c "^$1" || true; }

cat >"$BN_TMP/delloop.sh" <<'EOF'
n=$1
for ((i = 0; i < n; i++)); do
    ip link del "del$i"
done
EOF

op=900
make_orphans() {
    op=$((op + 1))
    helper create 'orph%d' --count "$1" --owner "$user" --tag "$jid:op$op" >/dev/null
    [ "$(count_prefix orph)" -eq "$1" ] || pt_fail "could not make $1 orphans"
}
make_plain() {
    # The same taps, made the same way, with a mark no journal owns.
    helper create 'del%d' --count "$1" --owner "$user" --tag bench >/dev/null
    [ "$(count_prefix del)" -eq "$1" ] || pt_fail "could not make $1 taps for the ip loop"
}
make_batch() {
    helper create 'ipb%d' --count "$1" --owner "$user" --tag bench >/dev/null
    [ "$(count_prefix ipb)" -eq "$1" ] || pt_fail "could not make $1 taps for ip -batch"
}
write_batch() { # N
    local i
    for ((i = 0; i < $1; i++)); do
        echo "link set dev ipb$i group 4079"
    done >"$BN_TMP/ipb-del"
    echo "link del group 4079" >>"$BN_TMP/ipb-del"
}
run_recover() { bn_ptap "$sd" recover; }
run_del() { ip netns exec "$BN_NS" bash "$BN_TMP/delloop.sh" "$1"; }
run_batch() { ip -n "$BN_NS" -batch "$BN_TMP/ipb-del"; }

curve=()
for n in $sizes; do
    r_n=$rounds
    [ "$n" -ge 1000 ] && r_n=$rounds_large
    loop=0 k_max=2
    [ "$n" -le "$loop_max" ] && loop=1 k_max=3
    write_batch "$n"
    pt_log "remove $n orphans: $r_n rounds of ptap recover / ip -batch$([ "$loop" -eq 1 ] && echo " / ip link del loop")"
    t_ptap=() t_batch=() t_ip=()
    for ((r = 0; r < r_n; r++)); do
        for ((k = 0; k < k_max; k++)); do
            case $(((r + k) % k_max)) in
            0)
                make_orphans "$n"
                bn_time run_recover
                t_ptap+=("$BN_MS")
                [ "$(count_prefix orph)" -eq 0 ] || pt_fail "ptap recover left orphans"
                ip -n "$BN_NS" link show keep0 >/dev/null 2>&1 || pt_fail "ptap recover removed a live tap"
                ;;
            1)
                make_batch "$n"
                bn_time run_batch
                t_batch+=("$BN_MS")
                [ "$(count_prefix ipb)" -eq 0 ] || pt_fail "ip -batch left taps"
                ;;
            2)
                make_plain "$n"
                bn_time run_del "$n"
                t_ip+=("$BN_MS")
                [ "$(count_prefix del)" -eq 0 ] || pt_fail "the ip loop left taps"
                ;;
            esac
        done
    done
    read -r pm _ <<<"$(bn_stats ${t_ptap[*]})"
    read -r bm _ <<<"$(bn_stats ${t_batch[*]})"
    curve+=("$n $(awk -v p="$pm" -v b="$bm" -v n="$n" 'BEGIN { printf "%.5f %.5f", p / n, b / n }')")
    bn_compare "recover-$n" "Remove $n orphaned taps" \
        "ptap recover" "${t_ptap[*]}" \
        "ip -batch: group G x N + link del group G" "${t_batch[*]}" \
        "<= 1.0" le 1.0
    if [ "$loop" -eq 1 ]; then
        bn_compare "recover-$n-loop" "Remove $n orphaned taps: reference, a loop of ip link del" \
            "ptap recover" "${t_ptap[*]}" \
            "ip link del, loop" "${t_ip[*]}" "" le 0
    fi
done
# Per orphan, the largest N against the smallest.
if [ "${#curve[@]}" -ge 2 ]; then
    read -r n0 p0 b0 <<<"${curve[0]}"
    read -r n1 p1 b1 <<<"${curve[${#curve[@]} - 1]}"
    rr=$(awk -v a="$p1" -v b="$p0" 'BEGIN { printf "%.3f", a / b }')
    rb=$(awk -v a="$b1" -v b="$b0" 'BEGIN { printf "%.3f", a / b }')
    bn_result "recover-flat" "Flat per-orphan cost of recover: N = $n1 against N = $n0" \
        "ip -batch: per tap at $n1 / per tap at $n0" ratio - - - "$rb" - - - -
    bn_result "recover-flat" "Flat per-orphan cost of recover: N = $n1 against N = $n0" \
        "ptap recover: per orphan at $n1 / per orphan at $n0" ratio - - - "$rr" - - - -
    printf '%-34s ptap %s, ip -batch %s\n' recover-flat "$rr" "$rb" >&2
fi
# A second recover right after has nothing to do.
[ "$(bn_ptap "$sd" recover --json | jq -c .records)" = "[]" ] || pt_fail "a second recover still acts"
