# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# tests/bench/lib/bench.sh: what every benchmark script shares. Source it
# (bash; set -euo pipefail is turned on), then:
#
#   bn_init TAG             root check (exit 77), the built binaries
#                           (PTAP_BIN, PTAP_HELPER_BIN, PTAP_BUILD_DIR), a
#                           private netns ptaptest-bench-TAG-PID with lo up
#                           and a temp dir, both removed by the EXIT trap;
#                           sets BN_NS, BN_TMP
#   bn_cleanup_add CMD...   run CMD at exit (LIFO), even on failure
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
#   bn_log MSG / bn_fail MSG
#
# Timing: bash's EPOCHREALTIME (microseconds, no fork). Contenders run
# alternately, round after round, in this one process tree; the per-round
# ratio of paired runs is the result, since these machines are noisy.

set -euo pipefail

BN_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BN_SOURCE_DIR=${PTAP_SOURCE_DIR:-$(cd "$BN_LIB_DIR/../../.." && pwd)}
PTAP_BUILD_DIR=${PTAP_BUILD_DIR:-$BN_SOURCE_DIR/build}
PTAP_BIN=${PTAP_BIN:-$PTAP_BUILD_DIR/src/ptap}
PTAP_HELPER_BIN=${PTAP_HELPER_BIN:-$PTAP_BUILD_DIR/helper/ptap-helper}
export PTAP_SOURCE_DIR=$BN_SOURCE_DIR PTAP_BUILD_DIR PTAP_BIN PTAP_HELPER_BIN
BN_CLEANUP=()
BN_NS=
BN_TMP=
BN_MS=

bn_log() { printf '# %s\n' "$*" >&2; }
bn_fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

bn_cleanup_add() {
    BN_CLEANUP+=("$(printf '%q ' "$@")")
}

_bn_cleanup_run() {
    local rc=$? i
    set +eu
    for ((i = ${#BN_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${BN_CLEANUP[i]}" >/dev/null 2>&1
    done
    BN_CLEANUP=()
    exit "$rc"
}
trap _bn_cleanup_run EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bn_init() {
    local tag=$1 b
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: benchmarks need root (network namespaces, taps)" >&2
        exit 77
    fi
    for b in "$PTAP_BIN" "$PTAP_HELPER_BIN"; do
        [ -x "$b" ] || bn_fail "not built: $b"
    done
    BN_TMP=$(mktemp -d /tmp/ptaptest-bench.XXXXXX)
    chmod 0755 "$BN_TMP"
    bn_cleanup_add rm -rf "$BN_TMP"
    BN_NS=ptaptest-bench-$tag-$$
    ip netns add "$BN_NS"
    # Deleting a namespace deletes its taps too (the kernel batches them).
    bn_cleanup_add ip netns del "$BN_NS"
    ip -n "$BN_NS" link set lo up
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
    ip netns exec "$BN_NS" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$sd" "$@"
}

bn_jid() {
    bn_ptap "$1" journal dump | sed -n '1s/.*(id \([0-9a-f]*\)).*/\1/p'
}

bn_time() {
    local t0 t1 rc=0
    t0=${EPOCHREALTIME/./}
    "$@" >/dev/null || rc=$?
    t1=${EPOCHREALTIME/./}
    [ "$rc" -eq 0 ] || bn_fail "contender failed (exit $rc): $*"
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

# bn_user NAME: the unprivileged owner of the benchmark's taps (ptaptest*
# only; created once, parallel-safe); prints its uid.
bn_user() {
    case $1 in ptaptest*) ;; *) bn_fail "refusing user '$1' (not ptaptest*)" ;; esac
    (
        flock 9
        id -u "$1" >/dev/null 2>&1 ||
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin --user-group "$1"
    ) 9>/run/ptaptest-users.lock
    id -u "$1"
}

# bn_marked_taps: names of the taps in BN_NS that carry a ptap mark, sorted.
bn_marked_taps() {
    ip -n "$BN_NS" -d -j link show | python3 -c '
import json, sys
for l in json.load(sys.stdin):
    if l.get("ifalias", "").startswith("ptap") and l.get("linkinfo", {}).get("info_kind") == "tun":
        print(l["ifname"])' | sort
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
