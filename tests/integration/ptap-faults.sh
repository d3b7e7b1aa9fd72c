#!/usr/bin/env bash
# Crash-proofing with fault points: every fault point on the create,
# destroy, recover and journal paths, one run each (PTAP_FAULT=POINT[:N]
# makes the process SIGKILL itself there), then `ptap recover`, then:
# every tap of this journal in the namespace has a live record, every live
# record has its tap, no orphan, the journal validates, and a second
# recover does nothing ([]). Needs a build with -DPTAP_FAULT_INJECTION=ON
# (./dev builds that way); skips, saying so, when the points are absent.
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup faults

ip -n "$PC_NS" link add br0 type bridge
S=$PC_ROOT_STATE

# ---- are the points compiled in? (a point that must kill) ---------------------
rc=0
PTAP_FAULT=create-after-intent ptap_root create probe0 >/dev/null 2>&1 || rc=$?
if [ "$rc" -ne 137 ]; then
    ptap_root destroy probe0 >/dev/null 2>&1 || true
    pt_skip "'$PTAP_BIN' has no fault points (create-after-intent exited $rc, not 137):" \
            "configure with -DPTAP_FAULT_INJECTION=ON"
fi
ptap_root recover >/dev/null
pc_check root "$S" "probe"

COVERED=()
N=0
counter() { N=$((N + 1)); }

# fault_run AS DIR WANT POINT ARGS...: `ptap ARGS` with PTAP_FAULT=POINT
# must exit WANT (137: killed at the point); then recover and check.
fault_run() {
    local as=$1 dir=$2 want=$3 point=$4 rc=0
    shift 4
    COVERED+=("${point%%:*}")
    counter
    PTAP_FAULT=$point pc_ptap "$as" "$dir" "$@" >"$PC_TMP/out" 2>"$PC_TMP/err" || rc=$?
    if [ "$rc" != "$want" ]; then
        cat "$PC_TMP/out" "$PC_TMP/err" >&2
        pt_fail "PTAP_FAULT=$point ptap $*: exit code $rc, expected $want"
    fi
    pc_wait_helpers
    pt_assert_rc "recover after $point ($*)" 0 pc_ptap "$as" "$dir" recover --json
    pc_check "$as" "$dir" "$point ($*)"
}

# ---- create ---------------------------------------------------------------------
for point in create-after-intent create-after-helper create-after-outcome \
             journal-mid-record:1 journal-before-sync:1 journal-after-sync:1 \
             journal-mid-record:2 journal-before-sync:2 journal-after-sync:2; do
    fault_run root "$S" 137 "$point" create 'fc%d' --count 3 --bridge br0
    fault_run root "$S" 137 "$point" create fcone0 --mac 02:00:00:00:00:42
    # Whatever the crash left (rolled back or kept), the pool is usable.
    ptap_root destroy $(pc_live root "$S") >/dev/null 2>&1 || true
    pc_check root "$S" "cleanup after $point"
done

# ---- destroy --------------------------------------------------------------------
for point in destroy-after-intent destroy-after-helper \
             journal-mid-record:1 journal-before-sync:1 journal-after-sync:1 \
             journal-mid-record:2 journal-before-sync:2 journal-after-sync:2; do
    ptap_root create 'fd%d' --count 4 >/dev/null
    fault_run root "$S" 137 "$point" destroy fd0 fd1 fd3
    live=$(pc_live root "$S")
    grep -qx fd2 <<<"$live" || pt_fail "$point: destroy of fd0 fd1 fd3 lost fd2"
    ptap_root destroy $live >/dev/null
done

# ---- recover (with work to do: interrupted create and destroy, an orphan,
# a vanished tap) ------------------------------------------------------------------
make_mess() {
    local jid
    jid=$(pc_jid root "$S")
    ptap_root create 'fr%d' --count 3 >/dev/null
    PTAP_FAULT=destroy-after-intent ptap_root destroy fr0 >/dev/null 2>&1 || true
    ip -n "$PC_NS" link del fr1
    PTAP_FAULT=create-after-helper ptap_root create 'frc%d' --count 2 >/dev/null 2>&1 || true
    pc_helper root create 'frorph%d' --tag "$jid:op999" >/dev/null
}
for point in recover-after-intent recover-after-helper \
             journal-mid-record:1 journal-before-sync:1 journal-after-sync:1 \
             journal-mid-record:2 journal-before-sync:2 journal-after-sync:2; do
    make_mess
    fault_run root "$S" 137 "$point" recover
    pt_assert_eq "after $point" fr2 "$(pc_live root "$S")"
    ptap_root destroy fr2 >/dev/null
done

# ---- a new journal being created ----------------------------------------------------
for point in journal-create-tmp-written journal-create-renamed journal-create-done; do
    dir=$PC_TMP/new-$point
    fault_run root "$dir" 137 "$point" create 'fn%d' --count 2
    [ ! -e "$dir/journal.xml.tmp" ] || pt_fail "$point: recover left journal.xml.tmp behind"
done

# ---- compaction, asked for and automatic --------------------------------------------
for point in journal-compact-tmp-written journal-compact-renamed journal-compact-done; do
    ptap_root create 'fk%d' --count 3 >/dev/null
    ptap_root destroy fk1 >/dev/null
    before=$(pc_live root "$S")
    fault_run root "$S" 137 "$point" journal compact
    pt_assert_eq "live records across a compaction killed at $point" "$before" "$(pc_live root "$S")"
    ptap_root destroy fk0 fk2 >/dev/null
done
# A log long past its live state compacts on the next append: build one
# (about 1,600 records, none live) and keep a copy to start each run from.
big=$PC_TMP/big
ptap_root create 'fb%d' --count 520 >/dev/null
ptap_root destroy $(pc_live root "$S") >/dev/null
cp -a "$S" "$big"
for point in journal-compact-tmp-written journal-compact-renamed journal-compact-done; do
    rm -rf "$S"
    cp -a "$big" "$S"
    fault_run root "$S" 137 "$point" create 'fa%d' --count 2
    # The next append compacts (the crash left the old log whole).
    ptap_root create fa9 >/dev/null
    [ "$(grep -c '<tap ' "$S/journal.xml")" -lt 100 ] ||
        pt_fail "$point: the next create did not compact the journal"
    ptap_root destroy $(pc_live root "$S") >/dev/null
    pc_check root "$S" "after $point and a compaction"
done

# ---- the unprivileged user's journal (setuid helper) ----------------------------------
U=$PC_USER_STATE
for point in create-after-helper journal-mid-record:2 create-after-outcome; do
    fault_run user "$U" 137 "$point" create 'fu%d' --count 2
done
ptap_user create 'fud%d' --count 2 >/dev/null
fault_run user "$U" 137 destroy-after-intent destroy fud0
fault_run user "$U" 137 destroy-after-helper destroy fud1
live=$(pc_live user "$U")
[ -z "$live" ] || ptap_user destroy $live >/dev/null
pc_check user "$U" "user cleanup"

# ---- points inside ptap-helper ---------------------------------------------------------
# The helper dies, not ptap: ptap must report a failure (71) and leave a
# state recover can settle. A point that does not fire is reported.
INERT=()
helper_point() { # POINT ARGS...
    local point=$1 rc=0 jid
    shift
    COVERED+=("${point%%:*}")
    counter
    jid=$(pc_jid root "$S")
    PTAP_FAULT=$point ptap_root "$@" >"$PC_TMP/out" 2>"$PC_TMP/err" || rc=$?
    case $rc in
    0) INERT+=("$point") ;;
    71) ;;
    *)
        cat "$PC_TMP/err" >&2
        pt_fail "PTAP_FAULT=$point ptap $*: exit code $rc, expected 71 (helper killed) or 0"
        ;;
    esac
    pc_wait_helpers
    pt_assert_rc "recover after $point" 0 ptap_root recover --json
    pc_check root "$S" "$point ($*)"
}
helper_point tap-after-setiff:2 create 'fh%d' --count 3
helper_point helper-before-persist:2 create 'fh%d' --count 3
helper_point helper-after-persist:2 create 'fh%d' --count 3
ptap_root destroy $(pc_live root "$S") >/dev/null 2>&1 || true
ptap_root create 'fhd%d' --count 3 >/dev/null
helper_point link-after-group destroy fhd0 fhd1 fhd2
ptap_root destroy $(pc_live root "$S") >/dev/null 2>&1 || true
ptap_root create 'fhe%d' --count 3 >/dev/null
helper_point helper-after-delete destroy fhe0 fhe1 fhe2
ptap_root destroy $(pc_live root "$S") >/dev/null 2>&1 || true
if [ ${#INERT[@]} -gt 0 ]; then
    pt_fail "fault points inside ptap-helper never fired: ${INERT[*]}"
fi

# ---- every fault point of these paths was exercised ------------------------------------
# Points of attach/detach belong to the hotplug tests (tests/e2e), those of
# the libvirt hook to tests/integration/ptap-hook.sh.
all=$(grep -rhoE --include="*.c" 'ptap_fault\("[a-z0-9-]+"\)|"journal-[a-z-]+"' "$PT_SOURCE_DIR/src" "$PT_SOURCE_DIR/helper" |
      grep -oE '[a-z0-9-]+-[a-z0-9-]+' | grep -vE '^(attach|detach|hook)-' | sort -u)
missing=$(comm -23 <(echo "$all") <(printf '%s\n' "${COVERED[@]}" | sort -u))
[ -z "$missing" ] || pt_fail "fault points not exercised by this test: $(echo $missing)"
pt_assert_eq "nothing marked left" "" "$(pc_marked_taps)"
echo "ok: $N fault runs over $(echo "$all" | wc -l) fault points; journal and kernel agreed after each recover"
