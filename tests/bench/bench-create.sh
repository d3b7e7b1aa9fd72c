#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark 1: create N taps, owner set, on a bridge, up.
#   ptap     `ptap create --count N --owner U --bridge br0` (helper run,
#            journal write-ahead records, fsync)
#   ip loop  a shell loop of `ip tuntap add NAME mode tap user U` +
#            `ip link set NAME master br0 up`, run inside the namespace
#   floor    bench_floor: an in-process C loop of the same ioctls + one
#            netlink change per tap (libptap-core's own functions)
# Contenders alternate within each round (the order rotates), and each
# one's taps are removed (untimed, one group delete) before the next runs.
# Targets: ptap >= 20x faster than the ip loop, within 3x of the floor.
#
# Usage: bench-create.sh [--sizes "100 1000"] [--rounds R]
source "$(dirname "$0")/lib/bench.sh"

sizes="100 1000"
rounds=5
while [ $# -gt 0 ]; do
    case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) pt_fail "usage: $0 [--sizes \"N...\"] [--rounds R]" ;;
    esac
done

bn_init create
floor=$PTAP_BUILD_DIR/tests/bench/bench_floor
[ -x "$floor" ] || pt_fail "not built: $floor"
user=ptaptest-bench
uid=$(pt_user_ensure "$user")
# A bridge takes at most 1024 ports (BR_MAX_PORTS): one contender's taps at
# a time, removed before the next runs.
bn_bridge br0
sd=$(bn_state_dir)

cat >"$BN_TMP/iploop.sh" <<'EOF'
# The anchor, as a person would type it.
n=$1 uid=$2
for ((i = 0; i < n; i++)); do
    ip tuntap add "ipl$i" mode tap user "$uid"
    ip link set "ipl$i" master br0 up
done
EOF

run_ptap() {
    bn_ptap "$sd" create 'bpt%d' --count "$1" --owner "$user" --bridge br0 >"$BN_TMP/names"
}
clean_ptap() {
    local got
    got=$(wc -l <"$BN_TMP/names")
    [ "$got" -eq "$1" ] || pt_fail "ptap create printed $got names, not $1"
    # shellcheck disable=SC2046
    bn_ptap "$sd" destroy $(cat "$BN_TMP/names") >/dev/null
}
run_ip() { ip netns exec "$BN_NS" bash "$BN_TMP/iploop.sh" "$1" "$uid"; }
clean_ip() {
    local got
    got=$(ip -n "$BN_NS" -br link show | grep -c '^ipl' || true)
    [ "$got" -eq "$1" ] || pt_fail "the ip loop made $got taps, not $1"
    bn_del_group ipl
}
run_floor() {
    ip netns exec "$BN_NS" "$floor" --count "$1" --owner "$uid" --bridge br0
}

# One check of what a user would see, outside the timings: every contender
# made N taps owned by U, on br0, up.
check_taps() { # PREFIX N
    local got
    got=$(pt_jq "$(ip -n "$BN_NS" -d -j link show master br0)" \
        '[.[] | select((.ifname | startswith($p)) and any(.flags[]; . == "UP")
                       and .linkinfo.info_data.user == $u)] | length' --arg p "$1" --arg u "$user")
    [ "$got" -eq "$2" ] || pt_fail "$2 taps '$1*' owned by $user, up, on br0 expected; $got found"
}

for n in $sizes; do
    pt_log "create $n taps: $rounds rounds of ptap / ip loop / floor"
    t_ptap=() t_ip=() t_floor=()
    # Warm-up (page cache, first-run costs), not counted.
    run_ptap "$n" && clean_ptap "$n"
    for ((r = 0; r < rounds; r++)); do
        for k in 0 1 2; do
            case $(((r + k) % 3)) in
            0)
                bn_time run_ptap "$n"
                t_ptap+=("$BN_MS")
                [ "$r" -eq 0 ] && check_taps bpt "$n"
                clean_ptap "$n"
                ;;
            1)
                bn_time run_ip "$n"
                t_ip+=("$BN_MS")
                [ "$r" -eq 0 ] && check_taps ipl "$n"
                clean_ip "$n"
                ;;
            2)
                out=$(run_floor "$n") || pt_fail "bench_floor failed"
                ms=$(sed -n "s/^bench floor-create-$n ms=//p" <<<"$out")
                [ -n "$ms" ] || pt_fail "bench_floor printed '$out'"
                t_floor+=("$ms")
                ;;
            esac
        done
    done
    bn_compare "create-$n" "Create $n taps (owner, bridge, up)" \
        "ptap create --count $n" "${t_ptap[*]}" \
        "ip tuntap add + ip link set, loop" "${t_ip[*]}" \
        "<= 0.05 (>= 20x faster)" le 0.05
    # The floor: ratio target <= 3. Its anchor line is the floor itself.
    bn_compare "create-$n-floor" "Create $n taps vs the floor" \
        "ptap create --count $n" "${t_ptap[*]}" \
        "floor: in-process ioctls + 1 netlink change/tap" "${t_floor[*]}" \
        "<= 3.0 (within 3x of the floor)" le 3.0
done
