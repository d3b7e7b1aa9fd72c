#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark 1: create N taps (owner set, on a bridge, up), then destroy them.
#   ptap      `ptap create 'bpt%d' --count N --owner U --bridge br0` (helper
#             run, policy check, journal write-ahead records, fsync, a mark
#             on every tap); destroy: `ptap destroy NAME...` of the N
#   ip -batch the anchor (TESTBED.md "Anchors"): one `ip -batch FILE` of
#             `tuntap add dev NAME mode tap user U` + `link set NAME master
#             br0 up` per tap, explicit names; destroy: one `ip -batch` of
#             `link set dev NAME group G` x N + `link del group G`
#   ip loop   (reference, N <= --loop-max) a shell loop of `ip tuntap add` +
#             `ip link set`, one process each; its taps are removed untimed
#   floor     (reference) bench_floor: an in-process C loop of the same
#             ioctls + one netlink change per tap (kernel '%d' names)
#   helper    (reference, N <= --helper-max) ptap-helper alone, run as
#             root: `ptap-helper create 'bph%d' --count N --owner U
#             [--bridge br0] --tag T` and `ptap-helper destroy NAME...`:
#             the same kernel work as ptap, without the CLI and its journal
#             (what ptap adds to the helper is the difference)
# A Linux bridge takes at most 1024 ports (BR_MAX_PORTS): sizes above
# --bridge-max make the taps with no bridge (owner set, up), for every
# contender alike; the label says so.
# Contenders alternate within each round (the order rotates); each one's
# taps are gone before the next runs.
# Targets (issue 14): ptap create and destroy <= 1.0x ip -batch; per tap,
# the largest N within 1.3x of the smallest (the curve is in the results).
#
# Usage: bench-create.sh [--sizes "100 1000"] [--rounds R] [--loop-max N]
#                        [--bridge-max N] [--helper-max N] [--no-floor] [--id-prefix P]
#        (--id-prefix: prefix of the result ids, for a second run of other sizes)
source "$(dirname "$0")/lib/bench.sh"

sizes="100 1000"
rounds=5
loop_max=1000
bridge_max=1000
helper_max=1000
floor_on=1
idp=
while [ $# -gt 0 ]; do
    case $1 in
    --sizes) sizes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --loop-max) loop_max=$2; shift 2 ;;
    --bridge-max) bridge_max=$2; shift 2 ;;
    --helper-max) helper_max=$2; shift 2 ;;
    --no-floor) floor_on=0; shift ;;
    --id-prefix) idp=$2; shift 2 ;;
    *) pt_fail "usage: $0 [--sizes \"N...\"] [--rounds R] [--loop-max N] [--bridge-max N] [--helper-max N] [--no-floor] [--id-prefix P]" ;;
    esac
done

bn_init create
floor=$PTAP_BUILD_DIR/tests/bench/bench_floor
[ -x "$floor" ] || pt_fail "not built: $floor"
user=ptaptest-bench
uid=$(pt_user_ensure "$user")
bn_bridge br0
sd=$(bn_state_dir)

cat >"$BN_TMP/iploop.sh" <<'EOF'
# The reference loop, as a person would type it.
n=$1 uid=$2 br=$3
for ((i = 0; i < n; i++)); do
    ip tuntap add "ipl$i" mode tap user "$uid"
    if [ -n "$br" ]; then
        ip link set "ipl$i" master "$br" up
    else
        ip link set "ipl$i" up
    fi
done
EOF

# The ip -batch files, written once per size (not timed).
write_batches() { # N BRIDGE
    local i
    for ((i = 0; i < $1; i++)); do
        echo "tuntap add dev ipb$i mode tap user $uid"
        if [ -n "$2" ]; then
            echo "link set ipb$i master $2 up"
        else
            echo "link set ipb$i up"
        fi
    done >"$BN_TMP/ipb-create"
    for ((i = 0; i < $1; i++)); do
        echo "link set dev ipb$i group 4078"
    done >"$BN_TMP/ipb-destroy"
    echo "link del group 4078" >>"$BN_TMP/ipb-destroy"
}

run_ptap() {
    # shellcheck disable=SC2086
    bn_ptap "$sd" create 'bpt%d' --count "$1" --owner "$user" $bropt >"$BN_TMP/names"
}
# The names a create printed are read before the destroy is timed (a
# $(cat FILE) inside it would time a subshell and a cat too).
destroy_ptap() { bn_ptap "$sd" destroy "${pnames[@]}"; }
run_batch() { ip -n "$BN_NS" -batch "$BN_TMP/ipb-create"; }
destroy_batch() { ip -n "$BN_NS" -batch "$BN_TMP/ipb-destroy"; }
run_loop() { ip netns exec "$BN_NS" bash "$BN_TMP/iploop.sh" "$1" "$uid" "$br"; }
run_helper() {
    # shellcheck disable=SC2086
    ip netns exec "$BN_NS" "$PTAP_HELPER_BIN" create 'bph%d' --count "$1" --owner "$uid" $bropt \
        --tag 0123456789abcdef:bench >"$BN_TMP/hnames"
}
destroy_helper() { ip netns exec "$BN_NS" "$PTAP_HELPER_BIN" destroy "${hnames[@]}"; }
run_floor() {
    # shellcheck disable=SC2086
    ip netns exec "$BN_NS" "$floor" --count "$1" --owner "$uid" $bropt
}
count_prefix() { ip -n "$BN_NS" -br link show | grep -c "^$1" || true; }

# One check of what a user would see, outside the timings: N taps owned by
# U, up (and on br0).
check_taps() { # PREFIX N
    local got
    got=$(pt_jq "$(ip -n "$BN_NS" -d -j link show)" \
        '[.[] | select((.ifname | startswith($p)) and any(.flags[]; . == "UP")
                       and .linkinfo.info_data.user == $u
                       and ($br == "" or .master == $br))] | length' \
        --arg p "$1" --arg u "$user" --arg br "$br")
    [ "$got" -eq "$2" ] || pt_fail "$2 taps '$1*' owned by $user, up${br:+, on $br} expected; $got found"
}
check_gone() { # PREFIX
    [ "$(count_prefix "$1")" -eq 0 ] || pt_fail "taps '$1*' left after the destroy"
}

# Per-tap medians for the curve: "N ptap-create ptap-destroy batch-create batch-destroy".
curve=()

for n in $sizes; do
    br=br0 bropt="--bridge br0" where="owner, bridge, up"
    if [ "$n" -gt "$bridge_max" ]; then
        br="" bropt="" where="owner, up, no bridge: a bridge takes <= 1024 ports"
    fi
    k_max=2
    [ "$floor_on" -eq 1 ] && k_max=3
    loop=0
    [ "$n" -le "$loop_max" ] && loop=1 k_max=$((k_max + 1))
    hlp=0
    [ "$n" -le "$helper_max" ] && hlp=1 k_max=$((k_max + 1))
    write_batches "$n" "$br"
    pt_log "create + destroy $n taps ($where): $rounds rounds of ptap / ip -batch$([ "$loop" -eq 1 ] && echo " / ip loop")$([ "$floor_on" -eq 1 ] && echo " / floor")"
    t_pc=() t_pd=() t_bc=() t_bd=() t_loop=() t_floor=() t_hc=() t_hd=()
    # Warm-up (page cache, first-run costs), not counted.
    run_ptap "$n" && mapfile -t pnames <"$BN_TMP/names" && destroy_ptap >/dev/null
    for ((r = 0; r < rounds; r++)); do
        for ((k = 0; k < k_max; k++)); do
            c=$(((r + k) % k_max))
            # Contender numbers: 0 ptap, 1 ip -batch, 2 floor (if on), 3 the
            # loop (if on), 4 the helper alone (if on).
            [ "$floor_on" -eq 0 ] && [ "$c" -ge 2 ] && c=$((c + 1))
            [ "$loop" -eq 0 ] && [ "$c" -ge 3 ] && c=$((c + 1))
            case $c in
            0)
                bn_time run_ptap "$n"
                t_pc+=("$BN_MS")
                mapfile -t pnames <"$BN_TMP/names"
                [ "${#pnames[@]}" -eq "$n" ] || pt_fail "ptap create printed ${#pnames[@]} names, not $n"
                [ "$r" -eq 0 ] && check_taps bpt "$n"
                bn_time destroy_ptap
                t_pd+=("$BN_MS")
                check_gone bpt
                ;;
            1)
                bn_time run_batch
                t_bc+=("$BN_MS")
                [ "$r" -eq 0 ] && check_taps ipb "$n"
                bn_time destroy_batch
                t_bd+=("$BN_MS")
                check_gone ipb
                ;;
            2)
                out=$(run_floor "$n") || pt_fail "bench_floor failed"
                ms=$(sed -n "s/^bench floor-create-$n ms=//p" <<<"$out")
                [ -n "$ms" ] || pt_fail "bench_floor printed '$out'"
                t_floor+=("$ms")
                ;;
            3)
                bn_time run_loop "$n"
                t_loop+=("$BN_MS")
                [ "$(count_prefix ipl)" -eq "$n" ] || pt_fail "the ip loop made the wrong number of taps"
                bn_del_group ipl
                ;;
            4)
                bn_time run_helper "$n"
                t_hc+=("$BN_MS")
                mapfile -t hnames <"$BN_TMP/hnames"
                [ "${#hnames[@]}" -eq "$n" ] || pt_fail "ptap-helper printed ${#hnames[@]} names, not $n"
                [ "$r" -eq 0 ] && check_taps bph "$n"
                bn_time destroy_helper
                t_hd+=("$BN_MS")
                check_gone bph
                ;;
            esac
        done
    done
    bn_compare "${idp}create-$n" "Create $n taps ($where)" \
        "ptap create --count $n" "${t_pc[*]}" \
        "ip -batch (explicit names)" "${t_bc[*]}" \
        "<= 1.0" le 1.0
    bn_compare "${idp}destroy-$n" "Destroy $n taps ($where)" \
        "ptap destroy (N names)" "${t_pd[*]}" \
        "ip -batch: group G x N + link del group G" "${t_bd[*]}" \
        "<= 1.0" le 1.0
    if [ "$loop" -eq 1 ]; then
        bn_compare "${idp}create-$n-loop" "Create $n taps: reference, a loop of ip processes" \
            "ptap create --count $n" "${t_pc[*]}" \
            "ip tuntap add + ip link set, loop" "${t_loop[*]}" "" le 0
    fi
    if [ "$hlp" -eq 1 ]; then
        bn_compare "${idp}create-$n-helper" "Create $n taps: reference, ptap-helper alone (no CLI, no journal)" \
            "ptap create --count $n" "${t_pc[*]}" \
            "ptap-helper create --count $n" "${t_hc[*]}" "" le 0
        bn_compare "${idp}destroy-$n-helper" "Destroy $n taps: reference, ptap-helper alone (no CLI, no journal)" \
            "ptap destroy (N names)" "${t_pd[*]}" \
            "ptap-helper destroy (N names)" "${t_hd[*]}" "" le 0
        bn_compare "${idp}create-$n-helper-batch" "Create $n taps: ptap-helper alone against ip -batch (the kernel work)" \
            "ptap-helper create --count $n" "${t_hc[*]}" \
            "ip -batch (explicit names)" "${t_bc[*]}" "" le 0
        bn_compare "${idp}destroy-$n-helper-batch" "Destroy $n taps: ptap-helper alone against ip -batch (the kernel work)" \
            "ptap-helper destroy (N names)" "${t_hd[*]}" \
            "ip -batch: group G x N + link del group G" "${t_bd[*]}" "" le 0
    fi
    if [ "$floor_on" -eq 1 ]; then
        bn_compare "${idp}create-$n-floor" "Create $n taps: reference, the in-process floor" \
            "ptap create --count $n" "${t_pc[*]}" \
            "floor: in-process ioctls + 1 netlink change/tap ('%d' names)" "${t_floor[*]}" "" le 0
    fi
    # shellcheck disable=SC2046
    curve+=("$n $(for t in "${t_pc[*]}" "${t_pd[*]}" "${t_bc[*]}" "${t_bd[*]}"; do
        read -r m _ < <(bn_stats $t)
        awk -v m="$m" -v n="$n" 'BEGIN { printf "%.5f ", m / n }'
    done)")
done

# The curve: median ms per tap at each N, and the largest N against the smallest.
nsz=${#curve[@]}
for line in "${curve[@]}"; do
    read -r n pc pd bc bd <<<"$line"
    bn_result "${idp}pertap-$n" "Per tap at N = $n (curve)" \
        "ptap create / destroy; ip -batch create / destroy" "ms/tap" \
        "$pc / $pd; $bc / $bd" - - - - - - -
    printf '%-34s per tap: ptap create %s destroy %s; ip -batch create %s destroy %s ms\n' \
        "pertap-$n" "$pc" "$pd" "$bc" "$bd" >&2
done
if [ "$nsz" -ge 2 ]; then
    read -r n0 pc0 pd0 bc0 bd0 <<<"${curve[0]}"
    read -r n1 pc1 pd1 bc1 bd1 <<<"${curve[nsz - 1]}"
    for what in create destroy; do
        if [ "$what" = create ]; then a=$pc1 b=$pc0 c=$bc1 d=$bc0; else a=$pd1 b=$pd0 c=$bd1 d=$bd0; fi
        rr=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
        rb=$(awk -v a="$c" -v b="$d" 'BEGIN { printf "%.3f", a / b }')
        met=$(awk -v r="$rr" 'BEGIN { print r <= 1.3 ? "yes" : "no" }')
        bn_result "${idp}flat-$what" "Flat per-tap cost of $what: N = $n1 against N = $n0" \
            "ip -batch: per tap at $n1 / per tap at $n0" ratio - - - "$rb" - - - -
        bn_result "${idp}flat-$what" "Flat per-tap cost of $what: N = $n1 against N = $n0" \
            "ptap: per tap at $n1 / per tap at $n0" ratio - - - "$rr" - - "<= 1.3" "$met"
        printf '%-34s ptap %s, ip -batch %s (target ptap <= 1.3: %s)\n' "flat-$what" "$rr" "$rb" "$met" >&2
    done
fi
