#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark 2: remove N orphaned taps.
#   ptap     `ptap recover`: the orphans (taps marked with this journal's id
#            and an operation no record names) go in one link-group delete
#   ip loop  `ip link del NAME` for each of N identical taps, inside the
#            namespace (each delete waits for RCU: ~16 ms, TESTBED.md)
# The orphans are made by ptap-helper directly with --tag JOURNALID:opX,
# as a ptap killed between the helper's work and its outcome record would
# leave them. Set-up is not timed; contenders alternate every round.
# Target: ptap >= 50x faster.
#
# Usage: bench-recover.sh [--sizes "100 1000"] [--rounds R] [--rounds-large R]
#        (--rounds-large: rounds for N >= 1000, whose ip loop takes ~20 s)
source "$(dirname "$0")/lib/bench.sh"

sizes="100 1000"
rounds=5
rounds_large=3
while [ $# -gt 0 ]; do
    case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --rounds-large) rounds_large=$2; shift 2 ;;
    *) pt_fail "usage: $0 [--sizes \"N...\"] [--rounds R] [--rounds-large R]" ;;
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
run_recover() { bn_ptap "$sd" recover; }
run_del() { ip netns exec "$BN_NS" bash "$BN_TMP/delloop.sh" "$1"; }

for n in $sizes; do
    r_n=$rounds
    [ "$n" -ge 1000 ] && r_n=$rounds_large
    pt_log "remove $n orphans: $r_n rounds of ptap recover / ip link del loop"
    t_ptap=() t_ip=()
    for ((r = 0; r < r_n; r++)); do
        for k in 0 1; do
            if [ $(((r + k) % 2)) -eq 0 ]; then
                make_orphans "$n"
                bn_time run_recover
                t_ptap+=("$BN_MS")
                [ "$(count_prefix orph)" -eq 0 ] || pt_fail "ptap recover left orphans"
                ip -n "$BN_NS" link show keep0 >/dev/null 2>&1 || pt_fail "ptap recover removed a live tap"
            else
                make_plain "$n"
                bn_time run_del "$n"
                t_ip+=("$BN_MS")
                [ "$(count_prefix del)" -eq 0 ] || pt_fail "the ip loop left taps"
            fi
        done
    done
    bn_compare "recover-$n" "Remove $n orphaned taps" \
        "ptap recover" "${t_ptap[*]}" \
        "ip link del, loop" "${t_ip[*]}" \
        "<= 0.02 (>= 50x faster)" le 0.02
done
# A second recover right after has nothing to do.
[ "$(bn_ptap "$sd" recover --json | jq -c .records)" = "[]" ] || pt_fail "a second recover still acts"
