#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Attack: root-run triggers read user-owned paths. ptap-trigger checked a
# user journal's file type, then read it later; a user swapping journal.xml
# for a FIFO (renameat2 RENAME_EXCHANGE, in a loop) blocked root's
# "ptap-trigger release web1" until killed (libvirtd waits for its hook,
# udev workers stall). Required: no root-run trigger opens a user-writable
# path in a way that can block or be redirected, and each is bounded.
#
# Runs the built ptap-trigger on the real paths it scans (/run/ptap,
# /run/user/*/ptap), in a private mount namespace with tmpfs over both: the
# host's /run is never written.
. "$(dirname "$0")/../lib/common.sh"
pt_require_root
: "${PTAP_BIN:?}" "${PTAP_BUILD_DIR:?}"
pt_tun_world_rw

U=ptaptest-trg
uid=$(pt_user_ensure $U)
pt_netns_new trig
T=$(pt_tmpdir)
RUNS=${PTAP_TRIGGER_RUNS:-30}
sed -e "s|^PTAP=.*|PTAP=$PTAP_BIN|" "$PTAP_BUILD_DIR/udev/ptap-trigger" >"$T/ptap-trigger"
chmod 0755 "$T/ptap-trigger"

cat >"$T/swap.py" <<'PY'
# Swap journal.xml and a FIFO back and forth (atomically, RENAME_EXCHANGE)
# until the stop file appears.
import ctypes, os, sys
d, stop = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
a, b = (d + "/journal.xml").encode(), (d + "/fifo").encode()
n = 0
while not os.path.exists(stop):
    if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
    n += 1
print(n)
PY

cat >"$T/inner.sh" <<'SH'
set -eu
U=$1 uid=$2 T=$3 RUNS=$4 PTAP=$5
mount -t tmpfs -o mode=0755 tmpfs /run/user
mkdir -p /run/ptap && mount -t tmpfs -o mode=0755 tmpfs /run/ptap
mkdir -m 0700 /run/user/$uid && chown $U:$U /run/user/$uid
# A user journal that names guest web1 and tap vic0 (enough for the
# trigger to look inside), and a FIFO beside it.
setpriv --reuid $U --regid $U --init-groups -- sh -c '
    mkdir -m 0700 -p "$1" && cd "$1" &&
    printf "%s\n" "<!-- web1 vic0 -->" >journal.xml && mkfifo -m 0600 fifo' sh /run/user/$uid/ptap
setpriv --reuid $U --regid $U --init-groups -- /usr/bin/python3 "$T/swap.py" /run/user/$uid/ptap "$T/stop" >"$T/swaps" &
swapper=$!
slow=0
for ((i = 0; i < RUNS; i++)); do
    for args in "release web1" "net-remove vic0"; do
        start=$(date +%s%N)
        rc=0
        # shellcheck disable=SC2086
        timeout 5 "$T/ptap-trigger" $args </dev/null >/dev/null 2>&1 || rc=$?
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        if [ "$rc" -eq 124 ]; then
            slow=$((slow + 1))
            echo "run $i '$args': still blocked after 5 s" >&2
        fi
    done
done
touch "$T/stop"
wait "$swapper"
echo "swaps: $(cat "$T/swaps")" >&2
[ "$slow" -le 100 ] || slow=100
exit $slow
SH

rc=0
pt_ns unshare -m --propagation private bash "$T/inner.sh" $U "$uid" "$T" "$RUNS" "$PTAP_BIN" || rc=$?
[ "$rc" -eq 0 ] || pt_fail "$rc of $((RUNS * 2)) root runs of ptap-trigger were blocked by a user's FIFO swap"
pt_ok "a user's journal swapped for a FIFO never blocks a root-run trigger ($RUNS runs each of release and net-remove)"
