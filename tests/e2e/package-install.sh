#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian package on this very machine, as an administrator meets it:
# `./dev package` builds it and lintian reports no error; dpkg installs
# it; the helper holds cap_net_admin (setuid root when setcap fails); the
# shipped policy is trusted and refuses an unprivileged user (77, not 78)
# until a rule allows them, then that user creates and destroys a tap on a
# bridge with the installed ptap; units an administrator enabled are
# disabled on removal; purge leaves nothing behind. Then the same next to
# a ptap installed below /usr/local: that one, and its enabled unit, stay.
#
# Not run where a ptap package is installed or where any file the package
# holds already exists: installing would take that file over, and the
# purge would delete it. An e2e suite: it changes the machine (dpkg's
# database, /etc, /usr), so it runs alone, under the e2e lock.
source "$PTAP_SOURCE_DIR/tests/lib/common.sh"
pt_require_root
for t in dpkg dpkg-deb lintian cpack setcap getcap setpriv jq; do
    command -v $t >/dev/null || pt_fail "'$t' is not installed (./dev installs it)"
done
if dpkg-query -W -f='${Status}' ptap 2>/dev/null | grep -q 'ok installed'; then
    pt_skip "a ptap package is installed on this machine: not touching it"
fi
T=$(pt_tmpdir)
B=$T/build

# 1. Build, lint.
PTAP_PKG_BUILD_DIR=$B "$PTAP_SOURCE_DIR/dev" package >"$T/package.log" 2>&1 ||
    pt_fail "./dev package failed: $(tail -20 "$T/package.log")"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$B/CMakeCache.txt")
deb=$B/packages/ptap_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || pt_fail "no $deb (built: $(ls "$B/packages"))"
if command -v rpmbuild >/dev/null; then
    ls "$B"/packages/ptap-"$version"-*.rpm >/dev/null 2>&1 || pt_fail "rpmbuild is here but no RPM was built"
fi
# lintian exits non-zero on an error (--fail-on error is its default).
lintian "$deb" >"$T/lintian.log" 2>&1 || pt_fail "lintian: $(grep -v '^W:' "$T/lintian.log")"
pt_ok "./dev package: $(basename "$deb"), lintian: no error ($(grep -c '^W:' "$T/lintian.log" || true) warnings)"

# What the package holds; none of its files may exist yet.
dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^$' >"$T/paths"
: >"$T/dirs-before"
while read -r p; do
    if [ -d "$p" ]; then # a directory, or a link to one (/lib on merged /usr)
        echo "$p" >>"$T/dirs-before"
    elif [ -e "$p" ] || [ -L "$p" ]; then
        pt_skip "'$p' already exists: the package would take it over, its purge delete it"
    fi
done <"$T/paths"
# A ptap below /usr/local (a `cmake --install` there): must stay as it is.
local_state() {
    local f
    for f in /usr/local/bin/ptap /usr/local/libexec/ptap-helper /usr/local/libexec/ptap-trigger \
        /usr/local/etc/ptap /usr/local/lib/systemd/system/ptap-watch.service; do
        [ -e "$f" ] && echo "$(stat -c '%n %s %Y %a' "$f") $(getcap "$f" 2>/dev/null)"
    done
    return 0
}
local_before=$(local_state)
links="/etc/systemd/system/multi-user.target.wants/ptap-watch.service
/etc/systemd/system/multi-user.target.wants/ptap-recover.service"
for l in $links; do
    [ -e "$l" ] || [ -L "$l" ] && pt_skip "'$l' already exists"
done
run_ptap_before=$([ -d /run/ptap ] && echo yes || echo no)

# 2. Install. On any failure from here the package is purged (its prerm
# disables what the test enabled) and /etc/ptap, a mount point the other
# suites use (common.sh), is made again if it was there.
[ -d /etc/ptap ] && pt_cleanup_add mkdir -p -m 0755 /etc/ptap
pt_cleanup_add dpkg --purge ptap
dpkg -i "$deb" >"$T/install.log" 2>&1 || pt_fail "dpkg -i failed: $(tail -20 "$T/install.log")"
helper=/usr/libexec/ptap-helper
caps=$(getcap "$helper")
mode=$(stat -c %a "$helper")
if [[ $caps == *cap_net_admin=ep* ]]; then
    pt_assert_eq "mode of the helper with a file capability" 755 "$mode"
    pt_ok "postinst: $helper has cap_net_admin=ep, no setuid bit"
else
    pt_assert_eq "mode of the helper without a file capability (setuid fallback)" 4755 "$mode"
    pt_ok "postinst: $helper is setuid root (file capabilities unavailable here)"
fi
conf=/etc/ptap/helper.conf
pt_assert_eq "owner and mode of $conf" "root 644" "$(stat -c '%U %a' "$conf")"
dpkg-query -W -f='${Conffiles}\n' ptap | grep -q "^ $conf " || pt_fail "$conf is not a conffile"
grep -v '^[[:space:]]*\(#\|$\)' "$conf" && pt_fail "the shipped $conf holds a rule"
for f in README copyright changelog.gz journal.md recovery.md triggers.md design.md; do
    [ -f "/usr/share/doc/ptap/$f" ] || pt_fail "/usr/share/doc/ptap/$f missing"
done
for page in ptap ptap-helper ptap-watch ptap-helper.conf; do
    # -M: only the package's directory (a /usr/local install comes first).
    p=$(man -M /usr/share/man -w "$page" 2>/dev/null) || pt_fail "man -w $page finds nothing"
    lexgrog "$p" >/dev/null || pt_fail "lexgrog $p fails (mandb would not index it)"
done
[ -d /run/ptap ] || pt_fail "postinst did not make /run/ptap (tmpfiles.d/ptap.conf)"
bash -c 'source /usr/share/bash-completion/completions/ptap && complete -p ptap' >/dev/null ||
    pt_fail "the bash completion does not load"
pt_ok "installed: a deny-all conffile policy, docs, indexable pages, /run/ptap, completion"

# 3. Use it: an unprivileged user, a bridge in a namespace of the test's.
U=ptaptest-pkg
uid=$(pt_user_ensure $U)
pt_netns_new pkg
BR=ptaptest-pkgbr
pt_ns ip link add $BR type bridge
pt_ns ip link set $BR up
pt_tun_world_rw
SD=$T/state
mkdir -m 0700 "$SD" && chown "$U:" "$SD"
# The installed ptap by its path (a ptap in /usr/local/bin would come
# first in PATH), with an empty environment: no PTAP_HELPER, the built-in
# helper path.
P() { pt_as "$U" env -i PATH=/usr/bin:/bin /usr/bin/ptap --state-dir "$SD" "$@"; }
pt_assert_rc "create as $U under the shipped policy" 77 P create pk0 --bridge $BR
pt_assert_match "the refusal" "no rule in $conf allows uid $uid" "$PT_ERR"
echo "allow user $U bridge $BR max 2" >>"$conf"
pt_assert_rc "create as $U, allowed" 0 P create pk0 --bridge $BR
link=$(pt_ns ip -j -d link show pk0)
pt_assert_json "tap pk0 in the namespace" "$link" \
    '.[0].linkinfo.info_data.user == $u and .[0].master == $br and (.[0].ifalias | startswith("ptap:u" + $uid + ":"))' \
    --arg u $U --arg uid "$uid" --arg br $BR
pt_assert_rc "list as $U" 0 P list --json
# list's document: an array of records, or (JSON version 1) {"records": [...]}.
pt_assert_json "the record of pk0" "$PT_OUT" \
    '(if type == "array" then . else .records end) | map(select(.name == "pk0")) | length == 1'
pt_assert_rc "destroy as $U" 0 P destroy pk0
pt_ns ip link show pk0 >/dev/null 2>&1 && pt_fail "pk0 still exists after destroy"
pt_ok "$U: refused by the shipped policy (77), then create, list, destroy on $BR with /usr/bin/ptap"

# The setuid fallback: postinst again where setcap fails.
mkdir -m 0755 "$T/nosetcap"
printf '#!/bin/sh\necho "setcap: not supported here" >&2\nexit 1\n' >"$T/nosetcap/setcap"
chmod 0755 "$T/nosetcap/setcap"
setcap -r "$helper"
PATH=$T/nosetcap:$PATH /var/lib/dpkg/info/ptap.postinst configure \
    >/dev/null 2>"$T/postinst.err" || pt_fail "postinst failed: $(cat "$T/postinst.err")"
pt_assert_eq "mode after postinst without setcap" 4755 "$(stat -c %a "$helper")"
pt_assert_eq "capabilities after postinst without setcap" "" "$(getcap "$helper")"
pt_assert_rc "create as $U with the setuid helper" 0 P create pk1 --bridge $BR
pt_assert_rc "destroy as $U with the setuid helper" 0 P destroy pk1
/var/lib/dpkg/info/ptap.postinst configure >/dev/null 2>&1 || pt_fail "postinst (with setcap) failed"
pt_assert_match "capabilities after postinst with setcap" 'cap_net_admin=ep' "$(getcap "$helper")"
pt_assert_eq "mode after postinst with setcap" 755 "$(stat -c %a "$helper")"
pt_ok "postinst: setuid root where setcap fails ('$(tail -1 "$T/postinst.err")'), a capability again where it works"

# 4. Remove: units the administrator enabled are disabled.
systemctl enable ptap-watch.service ptap-recover.service >/dev/null 2>&1 ||
    pt_fail "systemctl enable of the installed units failed"
for l in $links; do [ -L "$l" ] || pt_fail "systemctl enable made no $l"; done
dpkg --remove ptap >"$T/remove.log" 2>&1 || pt_fail "dpkg --remove failed: $(tail -20 "$T/remove.log")"
for l in $links; do
    [ -L "$l" ] && pt_fail "$l outlived the removal (prerm did not disable the unit)"
done
[ -f "$conf" ] || pt_fail "remove (not purge) deleted the conffile $conf"
pt_ok "remove: units disabled, conffiles kept"

# 5. Purge: nothing left.
dpkg --purge ptap >"$T/purge.log" 2>&1 || pt_fail "dpkg --purge failed: $(tail -20 "$T/purge.log")"
dpkg-query -W -f='${Status}' ptap 2>/dev/null | grep -q installed && pt_fail "dpkg still knows ptap"
left=
while read -r p; do
    grep -qxF "$p" "$T/dirs-before" && continue
    if [ -e "$p" ] || [ -L "$p" ]; then left="$left $p"; fi
done <"$T/paths"
pt_assert_eq "files and directories of the package left after purge" "" "$left"
for p in /etc/ptap/helper.conf /usr/share/doc/ptap /usr/bin/ptap $helper /usr/libexec/ptap-trigger \
    /etc/libvirt/hooks/qemu.d/ptap /lib/systemd/system/ptap-watch.service /usr/lib/systemd/system/ptap-watch.service \
    /usr/share/lintian/overrides/ptap; do
    [ -e "$p" ] && pt_fail "$p left after purge"
done
if [ "$run_ptap_before" = no ] && [ -d /run/ptap ] && [ -z "$(ls -A /run/ptap)" ]; then
    pt_fail "an empty /run/ptap left after purge"
fi
pt_assert_eq "ptap below /usr/local" "$local_before" "$(local_state)"
# The mount point the other suites bind their policy on (common.sh).
if grep -qxF /etc/ptap "$T/dirs-before" && [ ! -d /etc/ptap ]; then
    mkdir -m 0755 /etc/ptap
fi
pt_ok "purge: nothing of the package left, /usr/local untouched"

# 6. Next to a ptap installed below /usr/local (`cmake --install` of the
# test build, as an administrator following the README would): the
# package installs and purges without touching it, and the unit enabled
# from there (it shadows the package's) stays enabled.
if [ -n "$local_before" ]; then
    pt_log "a ptap is installed below /usr/local already: not installing another there"
    echo PASS
    exit 0
fi
: "${PTAP_BUILD_DIR:?}"
L=/usr/local
DESTDIR=$T/probe cmake --install "$PTAP_BUILD_DIR" --prefix $L >/dev/null 2>&1 ||
    pt_fail "cmake --install into a probe DESTDIR failed"
(cd "$T/probe" && find . ! -type d) | sed 's|^\.||' >"$T/local-files"
(cd "$T/probe" && find . -mindepth 1 -type d) | sed 's|^\.||' |
    while read -r d; do [ -d "$d" ] || echo "$d"; done >"$T/local-newdirs"
while read -r f; do
    [ -e "$f" ] || [ -L "$f" ] && pt_skip "'$f' exists: not installing a ptap below $L over it"
done <"$T/local-files"
wants=/etc/systemd/system/multi-user.target.wants/ptap-watch.service
# At exit: the /usr/local install and its unit's link go, and the
# directories it made (deepest first).
local_uninstall() {
    [ "$(readlink "$wants")" = "$L/lib/systemd/system/ptap-watch.service" ] && rm -f "$wants"
    xargs -d '\n' rm -f <"$T/local-files"
    sort -r "$T/local-newdirs" | xargs -r -d '\n' rmdir --ignore-fail-on-non-empty
}
pt_cleanup_add local_uninstall
cmake --install "$PTAP_BUILD_DIR" --prefix $L >"$T/local.log" 2>&1 ||
    pt_fail "cmake --install --prefix $L failed: $(tail -5 "$T/local.log")"
systemctl enable ptap-watch.service >/dev/null 2>&1 || pt_fail "systemctl enable of $L's unit failed"
pt_assert_eq "the enabled unit" "$L/lib/systemd/system/ptap-watch.service" "$(readlink "$wants")"
local_installed=$(local_state)
dpkg -i "$deb" >"$T/install2.log" 2>&1 || pt_fail "dpkg -i next to $L failed: $(tail -20 "$T/install2.log")"
pt_assert_rc "the package's ptap next to $L's" 0 P list
dpkg --purge ptap >"$T/purge2.log" 2>&1 || pt_fail "dpkg --purge next to $L failed: $(tail -20 "$T/purge2.log")"
pt_assert_eq "the unit enabled from $L after the purge" "$L/lib/systemd/system/ptap-watch.service" "$(readlink "$wants")"
pt_assert_eq "ptap below $L after install and purge of the package" "$local_installed" "$(local_state)"
"$L/bin/ptap" --version >/dev/null || pt_fail "$L/bin/ptap no longer runs"
local_uninstall
pt_ok "next to a ptap below $L: install and purge leave it and its enabled unit alone"
if grep -qxF /etc/ptap "$T/dirs-before" && [ ! -d /etc/ptap ]; then
    mkdir -m 0755 /etc/ptap
fi
echo PASS
