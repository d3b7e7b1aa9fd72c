#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The manual pages as the build makes them (docs/CMakeLists.txt fills the
# templates in docs/): mandb can index each (lexgrog reads its NAME, so
# apropos finds it under its own name), man renders each without a
# warning, all share one footer (the build's version and date), and the
# paths they name are the build's: a tree configured with another prefix,
# policy path and SOURCE_DATE_EPOCH gets pages that say so.
source "$PTAP_SOURCE_DIR/tests/lib/common.sh"
: "${PTAP_BUILD_DIR:?}" "${PTAP_BIN:?}"
for t in lexgrog man cmake; do
    command -v $t >/dev/null || pt_fail "'$t' is not installed (./dev installs man-db and cmake)"
done
T=$(pt_tmpdir)
cache() { sed -n "s|^$1:[A-Z]*=||p" "$2/CMakeCache.txt"; }
# footer PAGE: the last line man prints, blanks squeezed: "ptap 0.1.0 2026-12-01 PTAP(1)".
footer() { MANWIDTH=80 man -l "$1" 2>/dev/null | tail -1 | tr -s ' '; }

pages=("$PTAP_BUILD_DIR"/docs/man/*.[1-8])
listed=$(sed -n 's/^set(PTAP_MAN_PAGES \(.*\))$/\1/p' "$PTAP_SOURCE_DIR/docs/CMakeLists.txt" | tr ' ' '\n' | sort)
[ -n "$listed" ] || pt_fail "no set(PTAP_MAN_PAGES ...) line in docs/CMakeLists.txt"
pt_assert_eq "manual pages built" "$listed" "$(printf '%s\n' "${pages[@]##*/}" | sort)"
version=$("$PTAP_BIN" --version | sed -n 's/^ptap \([^ ]*\).*/\1/p')
date=
for page in "${pages[@]}"; do
    base=${page##*/}
    name=${base%.*}
    out=$(lexgrog "$page" 2>&1) || pt_fail "lexgrog $base: $out (mandb would not index it)"
    pt_assert_match "lexgrog $base" "^$page: \"$name - [^\"]+\"\$" "$out"
    warn=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
    pt_assert_eq "groff warnings of $base" "" "$warn"
    left=$(grep -o '@[A-Za-z_]*@' "$page" || true)
    pt_assert_eq "unfilled template variables in $base" "" "$left"
    f=$(footer "$page")
    pt_assert_match "footer of $base" "^ptap $version [0-9]{4}-[0-9]{2}-[0-9]{2} " "$f"
    d=$(echo "$f" | cut -d' ' -f3)
    [ -z "$date" ] || pt_assert_eq "date in the footer of $base" "$date" "$d"
    date=$d
done
pt_ok "${#pages[@]} pages: lexgrog parses each, no groff warning, one footer (ptap $version $date)"

# The paths the pages name are this build's.
conf=$(cache PTAP_HELPER_CONF "$PTAP_BUILD_DIR")
helper=$(cache PTAP_HELPER_PATH "$PTAP_BUILD_DIR")
man -l "$PTAP_BUILD_DIR/docs/man/ptap-helper.conf.5" 2>/dev/null | grep -qF "$conf" ||
    pt_fail "ptap-helper.conf(5) does not name the build's policy path '$conf'"
MANWIDTH=200 man -l "$PTAP_BUILD_DIR/docs/man/ptap.1" 2>/dev/null | grep -qF "$helper" ||
    pt_fail "ptap(1) does not name the build's helper '$helper'"
pt_ok "pages name the build's policy ($conf) and helper ($helper)"

# Another configuration: another prefix, policy path and date.
B=$T/build
SOURCE_DATE_EPOCH=86400 cmake -S "$PTAP_SOURCE_DIR" -B "$B" -DBUILD_TESTING=OFF -DPTAP_SELINUX=OFF \
    -DCMAKE_INSTALL_PREFIX=/opt/ptaptest -DPTAP_HELPER_CONF=/opt/ptaptest-etc/policy.conf \
    >"$T/configure.log" 2>&1 || pt_fail "configure failed: $(tail -5 "$T/configure.log")"
for page in "$B"/docs/man/*.[1-8]; do
    pt_assert_match "footer of ${page##*/} (SOURCE_DATE_EPOCH=86400)" "^ptap $version 1970-01-02 " "$(footer "$page")"
done
text=$(MANWIDTH=200 man -l "$B/docs/man/ptap.1" 2>/dev/null)
for p in /opt/ptaptest-etc/policy.conf /opt/ptaptest/libexec/ptap-helper \
    /opt/ptaptest/share/doc/ptap/journal.md /opt/ptaptest/share/ptap/journal.rng; do
    grep -qF "$p" <<<"$text" || pt_fail "ptap(1) of a /opt/ptaptest build does not name $p"
done
grep -qF /opt/ptaptest/lib/systemd/system/ptap-watch.service <(man -l "$B/docs/man/ptap-watch.8" 2>/dev/null) ||
    pt_fail "ptap-watch(8) of a /opt/ptaptest build does not name its unit there"
grep -rqE "(^|[^[:alnum:]_/.-])/etc/ptap/helper\.conf([^.]|\$)" "$B"/docs/man/ &&
    pt_fail "a page of a build with another policy path still names /etc/ptap/helper.conf"
pt_ok "another configuration: its date, prefix and policy path in the pages"
# That configuration named no build type: an optimised build with debug
# information, as a packager expects, not CMake's empty (unoptimised) one.
pt_assert_eq "no build type given: RelWithDebInfo" RelWithDebInfo \
    "$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$B/CMakeCache.txt")"
pt_ok "the build type defaults to RelWithDebInfo"
echo PASS
