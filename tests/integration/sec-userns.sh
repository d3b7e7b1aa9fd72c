#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Attack: a file-capability helper run inside "unshare -Ur" sees uid 0 and
# skipped the policy, --config and the ownership checks (only the kernel's
# EPERM stopped it). Required: a caller that is root only in a non-initial
# user namespace is not root for the helper: it is refused, and says why.
. "$(dirname "$0")/../lib/common.sh"
pt_require_root
pt_tun_world_rw

U=ptaptest-uns
pt_user_ensure $U >/dev/null
pt_netns_new userns
POL=$(pt_policy_dir "deny user $U")
T=$(pt_tmpdir)
printf 'allow user %s bridge none max 64\n' $U >"$T/evil.conf"
chown $U "$T/evil.conf"
chmod 0644 "$T/evil.conf"

for mode in cap setuid; do
    H=$(pt_helper_install $mode)
    for args in "create uns$mode --owner 0" "create uns$mode --config $T/evil.conf" "list"; do
        rc=0
        # shellcheck disable=SC2086 # args split on purpose
        pt_helper $U "$POL" unshare -Ur "$H" $args >"$T/out" 2>"$T/err" || rc=$?
        pt_assert_eq "$mode in a user namespace: '$args' exit code (stderr: $(cat "$T/err"))" 77 $rc
        pt_assert_match "$mode: the refusal says why" "user namespace" "$(cat "$T/err")"
        pt_ns ip link show uns$mode >/dev/null 2>&1 && pt_fail "$mode: '$args' made a tap"
    done
done
pt_ok "root in a non-initial user namespace is not root for the helper"
