#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Attack: the caller's environment reaches code that runs with privilege
# before main() (libnl-route's constructor opens $NLSYSCONFDIR/classid,
# libnl honours NLDBG and NLCB). A FIFO there blocks a setuid helper; any
# root-only file can be opened. Required: nothing the caller's environment
# names is opened, read or honoured with privilege, library constructors
# included, in both install modes.
. "$(dirname "$0")/../lib/common.sh"
pt_require_root
pt_tun_world_rw

U=ptaptest-env
pt_user_ensure $U >/dev/null
pt_netns_new env
POL=$(pt_policy_dir "allow user $U bridge none max 4")
T=$(pt_tmpdir)
mkdir -m 0755 "$T/nl"
mkfifo -m 0666 "$T/nl/classid"
mkfifo -m 0666 "$T/nl/pktloc"

for mode in setuid cap; do
    H=$(pt_helper_install $mode)
    for cmd in "list" "create env$mode --owner $U" "destroy env$mode"; do
        rc=0
        # shellcheck disable=SC2086 # cmd is split on purpose
        timeout 10 ip netns exec "$PT_NS" unshare -m --propagation private \
            sh -c 'mount --bind "$1" /etc/ptap && shift && exec "$@"' sh "$POL" \
            setpriv --reuid $U --regid $U --init-groups -- \
            env NLSYSCONFDIR="$T/nl" NLDBG=4 NLCB=debug "$H" $cmd \
            >"$T/out" 2>"$T/err" || rc=$?
        [ "$rc" -ne 124 ] ||
            pt_fail "$mode helper '$cmd': blocked on the caller's NLSYSCONFDIR FIFO (killed after 10 s)"
        pt_assert_eq "$mode helper '$cmd' exit code" 0 "$rc"
        # NLDBG/NLCB=debug make libnl print its messages: none may appear.
        if grep -qiE 'nl_|-- Debug|netlink' "$T/err"; then
            pt_fail "$mode helper '$cmd': libnl honoured NLDBG/NLCB: $(head -3 "$T/err")"
        fi
    done
    pt_ok "$mode helper ignores NLSYSCONFDIR, NLDBG and NLCB"
done
