#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/bench/run.sh BUILD_DIR: run ptap's benchmarks side by side with
# what people would otherwise use, and rewrite docs/performance.md.
#   1 bench-create.sh        ptap create/destroy vs ip -batch (+ ip loop, floor);
#                            again without a bridge from 100 to 10,000 taps (the curve)
#   2 bench-recover.sh       ptap recover vs ip -batch (+ ip link del loop), 100 to 5000
#                            orphans, and the per-orphan cost at 5000 against 100
#   3 bench-busy.sh          one tap with 10,000 other links vs none
#   4 bench-journal-cli.sh   journal scaling (+ bench_journal in process)
#   5 bench-hotplug.sh       ptap attach vs raw QMP and virsh attach-device
#                            (under flock PTAP_E2E_LOCK, default /tmp/ptap-e2e.lock:
#                            it starts a QEMU and a libvirtd)
#   6 bench-concurrency.sh   8 parallel clients, journal = kernel afterwards
#   7 bench-migration.sh     live migration: ptap NIC vs a libvirt-managed one
# As root (namespaces, taps, a guest, a libvirtd). About 8-10 minutes on 2
# cores. BENCH_OUT=FILE writes the page elsewhere (default
# docs/performance.md in the source tree). BENCH_ONLY="1 3" runs only those
# (the page then holds only their results). BENCH_KEEP=DIR: see the end.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/common.sh"
set +e # a failed benchmark is reported in the page; the others still run
top=$(cd "$here/../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR}
build=$(cd "$build" && pwd)
out=${BENCH_OUT:-$top/docs/performance.md}

export PTAP_SOURCE_DIR=$top PTAP_BUILD_DIR=$build
export PTAP_BIN=$build/src/ptap PTAP_HELPER_BIN=$build/helper/ptap-helper
[ "$(id -u)" -eq 0 ] || pt_fail "run.sh: run as root"

work=$PT_TMP
results=$work/results.tsv
: >"$results"
failed=()
durations=()
start_all=$SECONDS

run() { # LABEL SCRIPT ARGS...
    local label=$1 script=$2 t0=$SECONDS rc=0 lock=()
    shift 2
    if [ -n "${BENCH_ONLY:-}" ] && ! grep -qw -- "${label%%.*}" <<<"$BENCH_ONLY"; then
        return 0
    fi
    [ "$script" = bench-hotplug.sh ] && lock=(flock "${PTAP_E2E_LOCK:-/tmp/ptap-e2e.lock}")
    printf '\n\033[1m== %s\033[0m\n' "$label" >&2
    "${lock[@]}" bash "$here/$script" "$@" >"$work/out" || rc=$?
    cat "$work/out" >>"$results"
    durations+=("$label: $((SECONDS - t0)) s")
    case $rc in
    0) ;;
    77)
        printf 'RESULT\t%s\t%s\tnot run (skipped: see the log)\t-\t-\t-\t-\t-\t-\t-\t-\tnot run\n' \
            "$script" "$label" >>"$results" ;;
    *)
        failed+=("$label")
        printf 'RESULT\t%s\t%s\tFAILED (exit %s)\t-\t-\t-\t-\t-\t-\t-\t-\tnot run\n' \
            "$script" "$label" "$rc" >>"$results" ;;
    esac
}

run "1. create + destroy N taps" bench-create.sh --sizes "100 1000" --rounds 7
run "1b. create + destroy 100 to 10,000 taps, no bridge" bench-create.sh \
    --sizes "100 1000 5000 10000" --rounds 5 --loop-max 0 --helper-max 0 --no-floor --bridge-max 0 --id-prefix nb-
run "2. remove N orphans" bench-recover.sh --sizes "100 1000 5000" --rounds 7 --rounds-large 5
run "3. one tap on a busy host" bench-busy.sh --links 10000 --rounds 41
run "4. journal scaling" bench-journal-cli.sh --rounds 7
run "5. hot-add on a live guest" bench-hotplug.sh --rounds 15
run "6. concurrency" bench-concurrency.sh --clients 8 --ops 15 --rounds 3
run "7. live migration" bench-migration.sh --rounds 3

{
    echo "## This run"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); source: \`$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)\`$(git -C "$top" diff --quiet HEAD -- src helper 2>/dev/null || echo ' (with uncommitted changes in src/ or helper/)')"
    echo "- Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "- Build: \`$build\` ($(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || echo '?') build, $(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null | xargs -r basename))"
    echo "- Tools: $(ip -V 2>&1 | head -n 1); $(qemu-system-x86_64 --version 2>/dev/null | head -n 1) (TCG, no KVM); libvirt $(virsh --version 2>/dev/null || echo '?')"
    echo "- Durations: $(IFS=';'; echo "${durations[*]}" | sed 's/;/; /g'); total $((SECONDS - start_all)) s"
    echo
    echo "## How to reproduce"
    echo
    echo '```'
    echo './dev bench                      # as root: packages, Release build in build-bench/, all of them'
    echo 'tests/bench/run.sh BUILD_DIR     # the same on an existing build'
    echo 'BENCH_ONLY="1 3" tests/bench/run.sh BUILD_DIR   # some of them'
    echo 'PTAP_BUILD_DIR=BUILD_DIR tests/bench/bench-create.sh --sizes 1000 --rounds 3   # one benchmark'
    echo '```'
    echo
    echo 'Each `tests/bench/bench-*.sh` prints its progress on stderr and `RESULT` lines on stdout;'
    echo '`tests/bench/smoke-*.sh` run each one with tiny sizes in `./dev test` (ctest label `bench`)'
    echo 'so they cannot rot. What each contender does exactly is in the header of its script.'
} >"$work/notes.md"

python3 "$here/report.py" "$results" "$work/notes.md" "$work/page.md" >/dev/null || {
    pt_fail "run.sh: report.py failed"
}
if [ -f "$here/analysis.md" ]; then
    { echo; cat "$here/analysis.md"; } >>"$work/page.md"
fi
cp "$work/page.md" "$out"
# BENCH_KEEP=DIR keeps the raw results and notes (to rebuild the page after
# editing analysis.md: report.py DIR/results.tsv DIR/notes.md OUT).
if [ -n "${BENCH_KEEP:-}" ]; then
    mkdir -p "$BENCH_KEEP" && cp "$results" "$work/notes.md" "$BENCH_KEEP/"
fi
printf '\n\033[1m== wrote %s\033[0m\n' "$out" >&2
sed -n '/^## Results/,$p' "$out" | sed -n '1,/^## What/p' >&2
if [ ${#failed[@]} -gt 0 ]; then
    pt_fail "run.sh: failed: ${failed[*]}"
fi
exit 0
