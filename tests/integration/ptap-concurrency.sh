#!/usr/bin/env bash
# Several ptap processes at once on one state directory: six workers
# create pools (half of them from the same template, so the kernel's
# numbering is contended too) and destroy part of what they made, while a
# seventh runs `ptap recover` and `ptap list` in a loop. Writers queue on
# the journal lock, never interleave: every command succeeds, recover
# never finds anything to do (no operation is ever seen half done), and
# afterwards journal and kernel agree exactly with what the workers kept.
# A user's journal gets the same at a smaller scale, at the same time.
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup conc

ip -n "$PC_NS" link add br0 type bridge
WORKERS=6
ITER=5
mkdir -m 0777 "$PC_TMP/w"

# worker K AS DIR TEMPLATE: ITER times create 1-4 taps, destroy about half
# of its own; writes what it kept to w/K.kept, failures to w/K.fail.
worker() {
    local k=$1 as=$2 dir=$3 tmpl=$4 i n names kept=() drop=() rc
    RANDOM=$((k * 7919))
    for ((i = 0; i < ITER; i++)); do
        n=$((1 + RANDOM % 4))
        rc=0
        names=$(pc_ptap "$as" "$dir" create "$tmpl" --count "$n" --bridge br0 2>>"$PC_TMP/w/$k.fail") || rc=$?
        if [ "$rc" -ne 0 ] || [ "$(echo "$names" | wc -l)" -ne "$n" ]; then
            echo "create $tmpl --count $n: exit $rc, printed '$names'" >>"$PC_TMP/w/$k.fail"
            return
        fi
        drop=()
        for nm in $names; do
            if ((RANDOM % 2)); then drop+=("$nm"); else kept+=("$nm"); fi
        done
        if [ ${#drop[@]} -gt 0 ]; then
            pc_ptap "$as" "$dir" destroy "${drop[@]}" 2>>"$PC_TMP/w/$k.fail" ||
                { echo "destroy ${drop[*]}: exit $?" >>"$PC_TMP/w/$k.fail"; return; }
        fi
    done
    printf '%s\n' "${kept[@]}" >"$PC_TMP/w/$k.kept"
}

# watcher AS DIR: recover must always find nothing to do, list must parse.
watcher() {
    local as=$1 dir=$2 out
    while [ ! -e "$PC_TMP/w/stop" ]; do
        out=$(pc_ptap "$as" "$dir" recover --json 2>>"$PC_TMP/w/watch.fail") ||
            { echo "recover failed: $out" >>"$PC_TMP/w/watch.fail"; return; }
        [ "$(echo "$out" | jq -c .records 2>/dev/null)" = "[]" ] ||
            { echo "recover acted while others ran: $out" >>"$PC_TMP/w/watch.fail"; return; }
        out=$(pc_list "$as" "$dir" 2>>"$PC_TMP/w/watch.fail") && jq -e '.records | type == "array"' >/dev/null <<<"$out" ||
            { echo "list failed or is not JSON: $out" >>"$PC_TMP/w/watch.fail"; return; }
    done
}

# Make both journals first, so the workers race on operations, not on
# the creation of the journal (which has its own test in ptap-faults.sh).
ptap_root list >/dev/null
ptap_user list >/dev/null
ptap_root recover >/dev/null

pids=()
for ((k = 1; k <= WORKERS; k++)); do
    if ((k % 2)); then tmpl='cc%d'; else tmpl="w${k}t%d"; fi
    worker "$k" root "$PC_ROOT_STATE" "$tmpl" &
    pids+=($!)
done
worker 101 user "$PC_USER_STATE" 'cu%d' &
pids+=($!)
worker 102 user "$PC_USER_STATE" 'cu%d' &
pids+=($!)
watcher root "$PC_ROOT_STATE" &
wpid=$!
PC_PIDS+=("${pids[@]}" "$wpid")
for p in "${pids[@]}"; do
    wait "$p" || pt_fail "a worker shell failed"
done
touch "$PC_TMP/w/stop"
wait "$wpid" || true

# Waiting for the lock is what writers do (queued, never interleaved): on a
# loaded machine a wait passes the one second after which ptap says whom
# it waits for. That notice is not a failure; anything else on stderr is.
for f in "$PC_TMP"/w/*.fail; do
    [ -e "$f" ] && sed -i "/^ptap: waiting for journal '.*': locked by pid /d" "$f"
done
if compgen -G "$PC_TMP/w/*.fail" >/dev/null; then
    for f in "$PC_TMP"/w/*.fail; do
        [ -s "$f" ] && { echo "--- $f"; cat "$f"; } >&2
    done
    [ -z "$(cat "$PC_TMP"/w/*.fail)" ] || pt_fail "concurrent ptap runs failed (above)"
fi

root_kept=$(cat "$PC_TMP"/w/[0-9].kept | sed '/^$/d' | sort)
user_kept=$(cat "$PC_TMP"/w/10[12].kept | sed '/^$/d' | sort)
pt_assert_eq "root's live records are what the workers kept" "$root_kept" "$(pc_live root "$PC_ROOT_STATE")"
pt_assert_eq "root's taps in the kernel are what the workers kept" "$root_kept" \
    "$(pc_kernel_taps "$(pc_jid root "$PC_ROOT_STATE")")"
pt_assert_eq "user's live records are what the workers kept" "$user_kept" "$(pc_live user "$PC_USER_STATE")"
pt_assert_eq "user's taps in the kernel" "$user_kept" "$(pc_kernel_taps "$(pc_jid user "$PC_USER_STATE")")"
pt_assert_eq "no name printed twice" "" "$(printf '%s\n' "$root_kept" | uniq -d)"
pc_check root "$PC_ROOT_STATE" "after concurrent runs"
pc_check user "$PC_USER_STATE" "after concurrent runs"
pt_assert_eq "every kept tap on br0" "" \
    "$(pc_links | jq -r '.[] | select((.ifname | test("^(cc|cu|w[0-9]t)")) and .master != "br0") | .ifname')"

# The journal records arrived whole and in order: seq strictly increasing.
for f in "$PC_ROOT_STATE/journal.xml" "$PC_USER_STATE/journal.xml"; do
    grep -o ' seq="[0-9]*"' "$f" | tr -dc '0-9\n' | awk 'NR > 1 && $1 <= prev { bad = 1 } { prev = $1 } END { exit bad }' ||
        pt_fail "'$f': seq not strictly increasing"
done
n_root=$(echo "$root_kept" | sed '/^$/d' | wc -l)
echo "ok: $WORKERS+2 concurrent writers and a recover loop; $n_root root taps kept, journal and kernel agree"
