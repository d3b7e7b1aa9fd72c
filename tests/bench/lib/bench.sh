# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# tests/bench/lib/bench.sh: what every benchmark script shares. Source it
# (bash): it sources tests/lib/common.sh (set -euo pipefail, the clean-up
# stack, pt_log / pt_fail / pt_skip, pt_user_ensure, pt_netns_new...), then:
#
#   bn_init TAG             root check (skip), the built binaries
#                           (PTAP_BIN, PTAP_HELPER_BIN, PTAP_BUILD_DIR), a
#                           private netns ptaptest-bench-TAG-PID with lo up
#                           and a temp dir, both removed at exit;
#                           sets BN_NS, BN_TMP
#   bn_netns_new TAG        another namespace (PT_NS) removed at exit; both
#                           are emptied first (bn_drain_ns: one link-group
#                           delete, waited for), so that no benchmark
#                           measures the kernel tearing down the last one's
#   bn_bridge NAME          a bridge, up, in BN_NS
#   bn_state_dir            a fresh, empty journal directory; prints it
#   bn_ptap SD ARGS...      `ptap --state-dir SD ARGS` as root in BN_NS
#   bn_jid SD               the journal id of SD (from `ptap journal dump`)
#   bn_time CMD...          run CMD (stdout to /dev/null, stderr kept),
#                           set BN_MS to its wall time in ms; the command
#                           failing is the benchmark failing (exit 1)
#   bn_stats V...           "median min max" of the numbers V
#   bn_ratios A B           per-round ratios A[i]/B[i] of two
#                           space-separated lists (paired rounds)
#   bn_result ID BENCH CONTENDER UNIT MEDIAN MIN MAX RATIO RMIN RMAX TARGET MET
#                           print one machine-readable result line
#                           (tab-separated, starting with "RESULT"), which
#                           run.sh turns into docs/performance.md
#   bn_smoke SCRIPT "ID..." ARGS...
#                           what tests/bench/smoke-*.sh do: run SCRIPT with
#                           tiny ARGS, fail if it fails or a result is missing
#
# Timing: bash's EPOCHREALTIME (microseconds, no fork). Contenders run
# alternately, round after round, in this one process tree; the per-round
# ratio of paired runs is the result, since these machines are noisy.

BN_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../lib/common.sh
source "$BN_LIB_DIR/../../lib/common.sh"

PTAP_BUILD_DIR=${PTAP_BUILD_DIR:-$PT_SOURCE_DIR/build}
PTAP_BIN=${PTAP_BIN:-$PTAP_BUILD_DIR/src/ptap}
PTAP_HELPER_BIN=${PTAP_HELPER_BIN:-$PTAP_BUILD_DIR/helper/ptap-helper}
export PTAP_SOURCE_DIR=$PT_SOURCE_DIR PTAP_BUILD_DIR PTAP_BIN PTAP_HELPER_BIN
BN_NS=
BN_TMP=
BN_MS=

bn_init() {
    local tag=$1 b
    [ "$(id -u)" -eq 0 ] || pt_skip "benchmarks need root (network namespaces, taps)"
    for b in "$PTAP_BIN" "$PTAP_HELPER_BIN"; do
        [ -x "$b" ] || pt_fail "not built: $b"
    done
    BN_TMP=$PT_TMP
    bn_netns_new "bench-$tag"
    BN_NS=$PT_NS
}

# bn_netns_new TAG: pt_netns_new, emptied by bn_drain_ns before it goes.
bn_netns_new() {
    pt_netns_new "$1"
    pt_cleanup_add bn_drain_ns "$PT_NS" # runs before the namespace's deletion
}

# bn_drain_ns NS: delete every link of NS but lo, in one link-group delete,
# and wait for it. A namespace deleted with thousands of taps in it is torn
# down by the kernel in the background, for seconds, holding the locks the
# next benchmark needs (which then measures that teardown too).
bn_drain_ns() {
    local links
    links=$(ip -n "$1" -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); if ($2 != "lo") print $2 }')
    [ -n "$links" ] || return 0
    { sed 's/^/link set dev /; s/$/ group 4093/' <<<"$links"; echo "link del group 4093"; } |
        ip -n "$1" -force -batch - >/dev/null 2>&1 || true
}

bn_bridge() {
    ip -n "$BN_NS" link add "$1" type bridge
    ip -n "$BN_NS" link set "$1" up
}

bn_state_dir() {
    mktemp -d "$BN_TMP/state.XXXXXX"
}

bn_ptap() {
    local sd=$1
    shift
    # No env(1) in between: the anchors run as `ip netns exec NS ip ...`, one
    # exec; ip netns exec hands the environment on.
    PTAP_HELPER="$PTAP_HELPER_BIN" ip netns exec "$BN_NS" "$PTAP_BIN" --state-dir "$sd" "$@"
}

bn_jid() {
    bn_ptap "$1" journal dump | sed -n '1s/.*(id \([0-9a-f]*\)).*/\1/p'
}

bn_time() {
    local t0 t1 rc=0
    t0=${EPOCHREALTIME/./}
    "$@" >/dev/null || rc=$?
    t1=${EPOCHREALTIME/./}
    [ "$rc" -eq 0 ] || pt_fail "contender failed (exit $rc): $*"
    BN_MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
}

bn_stats() {
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "nan nan nan"; exit }
            m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.3f %.3f %.3f\n", m, v[1], v[NR]
        }'
}

bn_ratios() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= n; i++) printf "%.5f\n", x[i] / y[i]
    }'
}

bn_result() {
    local IFS=$'\t'
    printf 'RESULT\t%s\n' "$*"
}

# bn_compare ID BENCH PTAP_LABEL PTAP_TIMES ANCHOR_LABEL ANCHOR_TIMES TARGET OP BOUND
#   Two result lines: the anchor's (no ratio) and ptap's with the median
#   of the per-round ratios ptap/anchor, met when that median OP BOUND
#   (OP: le or ge).
bn_compare() {
    local id=$1 bench=$2 pl=$3 pt=$4 al=$5 at=$6 target=$7 op=$8 bound=$9
    local pm pmin pmax am amin amax rm rmin rmax met
    # shellcheck disable=SC2086
    read -r pm pmin pmax < <(bn_stats $pt)
    # shellcheck disable=SC2086
    read -r am amin amax < <(bn_stats $at)
    # shellcheck disable=SC2046
    read -r rm rmin rmax < <(bn_stats $(bn_ratios "$pt" "$at"))
    met=$(awk -v r="$rm" -v b="$bound" -v op="$op" \
        'BEGIN { ok = op == "le" ? r <= b : r >= b; print ok ? "yes" : "no" }')
    [ -n "$target" ] || met=-
    bn_result "$id" "$bench" "$al" ms "$am" "$amin" "$amax" - - - - -
    bn_result "$id" "$bench" "$pl" ms "$pm" "$pmin" "$pmax" "$rm" "$rmin" "$rmax" "${target:--}" "$met"
    printf '%-34s %-40s median %10.3f ms (%s..%s)\n' "$id" "$al" "$am" "$amin" "$amax" >&2
    printf '%-34s %-40s median %10.3f ms (%s..%s)  ratio %s (%s..%s) %s\n' \
        "$id" "$pl" "$pm" "$pmin" "$pmax" "$rm" "$rmin" "$rmax" "${target:+target $target: $met}" >&2
}

# bn_del_group PREFIX: delete every link in BN_NS whose name starts with
# PREFIX, in one link-group delete (set-up/tear-down between rounds, never
# timed).
bn_del_group() {
    local names
    names=$(ip -n "$BN_NS" -br link show | awk -v p="$1" 'index($1, p) == 1 { sub(/@.*/, "", $1); print $1 }')
    [ -n "$names" ] || return 0
    printf 'link set dev %s group 4077\n' $names | ip -n "$BN_NS" -batch -
    ip -n "$BN_NS" link del group 4077
}

bn_smoke() {
    local script=$1 ids=$2 rc=0 out id
    shift 2
    out=$(bash "$BN_LIB_DIR/../$script" "$@") || rc=$?
    echo "$out"
    [ "$rc" -eq 0 ] || exit "$rc"
    for id in $ids; do
        grep -q "^RESULT	$id	" <<<"$out" || pt_fail "no result '$id' from $script"
    done
}
