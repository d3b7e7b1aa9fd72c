#!/usr/bin/env bash
# The journal lock (issue 11 item 4): with a writer stopped while it holds
# the lock (a `create --count 3000` SIGSTOPped while its helper runs),
# list, journal check, recover --dry-run and forget (what udev runs) each
# wait at most --wait seconds (default 10), say after about a second who
# holds the lock, then give up with exit 75 naming the journal and the
# holder (its pid and command line); a waiter gets the lock as soon as the
# holder goes. Readers (list, journal check, journal dump, recover
# --dry-run) work on a read-only bind mount of the state directory, with
# its lock file (a shared lock, which still waits for a writer) or without
# one (no lock). `ptap watch` does not hang on a held lock either: it says
# who holds it after --wait seconds, keeps watching, and looks at the
# journal again once the lock is free.
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup jlock

S=$PC_ROOT_STATE
J=$S/journal.xml
ptap_root create 'lk%d' --count 2 >/dev/null

# ---- a writer stopped while it holds the lock ---------------------------------
# A stand-in helper tells us ptap's pid (ptap holds the lock before its
# helper runs) and keeps ptap waiting; ptap itself is then stopped.
cat >"$PC_TMP/hold-helper" <<'SH'
#!/bin/sh
echo "$PPID" >"$HOLD_DIR/ptap.pid"
echo $$ >"$HOLD_DIR/holder.pid"
exec sleep 600
SH
chmod 0755 "$PC_TMP/hold-helper"
mkdir -m 0777 "$PC_TMP/hold"
PC_PTAP_HELPER=$PC_TMP/hold-helper
PC_ENV=(HOLD_DIR="$PC_TMP/hold")
pc_ptap_bg root "$S" create 'lw%d' --count 3000
PC_PTAP_HELPER=
PC_ENV=()
for ((i = 0; i < 300; i++)); do
    [ -s "$PC_TMP/hold/holder.pid" ] && break
    sleep 0.1
done
[ -s "$PC_TMP/hold/holder.pid" ] || pt_fail "ptap create never reached its helper"
P=$(cat "$PC_TMP/hold/ptap.pid")
pt_assert_eq "the stopped writer is the process we started" "$PC_BG_PID" "$P"
kill -STOP "$P"
pt_cleanup_add kill -9 "$(cat "$PC_TMP/hold/holder.pid")"
pt_cleanup_add kill -CONT "$P"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# blocked WAIT WHAT ARGS...: `ptap [--wait WAIT] ARGS` gives up with 75 after
# WAIT seconds (and not much more), naming the journal and the holder.
blocked() {
    local wait=$1 what=$2 t0 dt opt=()
    shift 2
    [ "$wait" = default ] || opt=(--wait "$wait")
    t0=$(now_ms)
    pt_assert_rc "$what, lock held" 75 ptap_root "${opt[@]}" "$@"
    dt=$(($(now_ms) - t0))
    [ "$wait" = default ] && wait=10
    [ "$dt" -ge $((wait * 1000)) ] && [ "$dt" -lt $((wait * 1000 + 3000)) ] ||
        pt_fail "$what: gave up after $dt ms, not after about $wait s"
    grep -qF "journal '$J' is locked by pid $P (" <<<"$PT_ERR" ||
        pt_fail "$what: the message does not name the journal and pid $P: $PT_ERR"
    grep -qF "create lw%d --count 3000)" <<<"$PT_ERR" ||
        pt_fail "$what: the message does not give the holder's command: $PT_ERR"
    if [ "$wait" -ge 2 ]; then
        grep -q "^ptap: waiting for journal '$J': locked by pid $P (" <<<"$PT_ERR" ||
            pt_fail "$what: nothing said while waiting: $PT_ERR"
    fi
    pt_ok "$what: exit 75 after $dt ms, naming pid $P"
}
blocked 2 "list" list
blocked 2 "journal check" journal check
blocked 2 "journal dump" journal dump
blocked 2 "recover --dry-run" recover --dry-run
blocked 2 "forget" forget lk0
blocked 2 "destroy" destroy lk1
blocked 0 "list --wait 0" list --json
blocked default "forget, default --wait" forget lk0
pt_assert_rc "--wait out of range" 64 ptap_root --wait 86401 list

# A reader on a read-only bind mount still waits for the writer: the lock
# file is the same file, and flock needs no write access.
ro() { # ptap ARGS... on a read-only bind mount of $S, in its own mount namespace
    pc_ns sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"' \
        sh "$S" env PTAP_HELPER="$PC_HELPER" "$PTAP_BIN" --state-dir "$S" "$@"
}
t0=$(now_ms)
pt_assert_rc "read-only list, lock held" 75 ro --wait 1 list
grep -qF "is locked by pid $P (" <<<"$PT_ERR" || pt_fail "read-only list: no holder: $PT_ERR"

# A waiter gets the lock as soon as the holder is gone.
out=$PC_TMP/waiter.out
ptap_root --wait 20 list --json >"$out" 2>&1 &
waiter=$!
sleep 1.5
kill -9 "$P"
kill -9 "$(cat "$PC_TMP/hold/holder.pid")"
t0=$(now_ms)
rc=0
wait "$waiter" || rc=$?
dt=$(($(now_ms) - t0))
[ "$rc" -eq 0 ] || pt_fail "the waiting list failed ($rc): $(cat "$out")"
[ "$dt" -lt 3000 ] || pt_fail "the waiting list took $dt ms after the holder died"
pt_ok "a waiter got the lock $dt ms after its holder died"
wait "$PC_BG_PID" 2>/dev/null || true
pt_assert_rc "recover after the stopped create" 0 ptap_root recover --json
pt_assert_eq "recover closed the create's intent" '[["rollback-create","lw%d"]]' \
    "$(echo "$PT_OUT" | jq -c '[.records[] | [.action, .name]]')"
pc_check root "$S" "after the stopped create"

# ---- readers on a read-only state directory -----------------------------------
before=$(pc_snapshot)
ro_reads() { # CONTEXT
    pt_assert_rc "read-only: the mount is read-only ($1)" 1 \
        pc_ns sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec touch "$1/x"' sh "$S"
    pt_assert_rc "read-only list ($1)" 0 ro list --json
    pt_assert_eq "read-only list shows the taps ($1)" '["lk0","lk1"]' \
        "$(echo "$PT_OUT" | jq -c '[.records[] | select(.in_kernel) | .name] | sort')"
    pt_assert_rc "read-only journal check ($1)" 0 ro journal check
    pt_assert_rc "read-only journal dump ($1)" 0 ro journal dump
    grep -q "^lk1$" <<<"$PT_OUT" || pt_fail "read-only journal dump ($1): $PT_OUT"
    pt_assert_rc "read-only journal dump --json ($1)" 0 ro journal dump --json
    pt_assert_rc "read-only recover --dry-run ($1)" 0 ro recover --dry-run --json
    pt_assert_eq "read-only recover --dry-run has nothing to do ($1)" "[]" "$(echo "$PT_OUT" | jq -c .records)"
    rc=0
    ro create lkx >/dev/null 2>&1 || rc=$?
    [ "$rc" -ne 0 ] || pt_fail "a create on a read-only state directory succeeded ($1)"
    if [ "${2:-}" = no-lock-file ]; then
        [ ! -e "$S/journal.lock" ] || pt_fail "a read-only reader made a lock file"
    fi
    pt_assert_unchanged "read-only readers change nothing ($1)" "$before" pc_snapshot
}
ro_reads "with its lock file"
rm "$S/journal.lock"
ro_reads "without a lock file" no-lock-file
pc_check root "$S" "end"
ptap_root destroy lk0 lk1 >/dev/null

# ---- ptap watch with the lock held ----------------------------------------------
ptap_root create lkw >/dev/null
ip -n "$PC_NS" link del lkw # behind ptap's back: the watcher's start-up resync forgets it
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "r")
fcntl.flock(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(600)' "$S/journal.lock" >"$PC_TMP/locker.out" &
LOCKER=$!
pt_cleanup_add pt_kill "$LOCKER"
for ((i = 0; i < 100; i++)); do
    [ -s "$PC_TMP/locker.out" ] && break
    sleep 0.05
done
WLOG=$PC_TMP/watch.log
ip netns exec "$PC_NS" env PTAP_HELPER="$PC_HELPER" "$PTAP_BIN" --state-dir "$S" --wait 1 \
    watch 2>"$WLOG" &
WPID=$!
pt_cleanup_add pt_kill "$WPID"
wait_log() {
    for ((i = 0; i < 200; i++)); do
        grep -q "$1" "$WLOG" && return 0
        sleep 0.05
    done
    pt_fail "the watcher did not log '$1' in 10 s: $(cat "$WLOG")"
}
wait_log "watching the journal"
pt_assert_match "the watcher names the lock's holder" "is locked by pid $LOCKER [(].*python3.*[)]: gave up after 1[.]0 s" "$(cat "$WLOG")"
grep -q "'lkw': the device was deleted" "$WLOG" && pt_fail "the watcher wrote under a held lock"
pt_kill "$LOCKER"
wait_log "'lkw': the device was deleted: record closed"
kill -0 "$WPID" || pt_fail "the watcher died"
pt_kill "$WPID"
pc_check root "$S" "after the watcher's retry"
pt_ok "ptap watch gives up a held lock after --wait, names its holder, and looks again later"
echo "ok: lock waits bounded and named; readers work on a read-only state directory"
