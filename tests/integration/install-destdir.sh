#!/usr/bin/env bash
# `cmake --install` into a DESTDIR with --prefix /usr lays ptap out like a
# distribution package: check the tree, the paths baked into the installed
# triggers, that nothing privileged was installed silently, and run the
# installed ptap and helper from there.
source "$PTAP_SOURCE_DIR/tests/lib/common.sh"
: "${PTAP_BUILD_DIR:?}"
command -v cmake >/dev/null || { echo "SKIP: no cmake"; exit 77; }
T=$(pt_tmpdir)
D=$T/destdir

DESTDIR=$D cmake --install "$PTAP_BUILD_DIR" --prefix /usr >"$T/install.log" 2>&1 ||
    pt_fail "cmake --install failed: $(tail -20 "$T/install.log")"

# Directories the distribution's pkg-config files name (Debian: /lib/udev,
# /lib/systemd/system), with the fallbacks the build uses.
pcvar() { pkg-config --variable="$2" "$1" 2>/dev/null || true; }
udevdir=$(pcvar udev udevdir); udevdir=${udevdir:-/usr/lib/udev}
unitdir=$(pcvar systemd systemdsystemunitdir); unitdir=${unitdir:-/usr/lib/systemd/system}

expect_file() { # PATH [MODE-REGEX]
    [ -f "$D$1" ] || pt_fail "missing from the install tree: $1 (tree: $(cd "$D" && find . -type f | sort | tr '\n' ' '))"
    if [ -n "${2:-}" ]; then
        m=$(stat -c %a "$D$1")
        [[ $m =~ $2 ]] || pt_fail "$1 has mode $m, expected /$2/"
    fi
}
expect_file /usr/bin/ptap '^755$'
expect_file /usr/libexec/ptap-helper '^755$' # no setuid bit: never silent
expect_file /usr/libexec/ptap-trigger '^755$'
expect_file "$udevdir/rules.d/90-ptap.rules" '^644$'
expect_file "$unitdir/ptap-recover.service" '^644$'
expect_file "$unitdir/ptap-watch.service" '^644$'
expect_file /etc/libvirt/hooks/qemu.d/ptap '^755$'
expect_file /etc/ptap/helper.conf.example
expect_file /usr/share/ptap/journal.rng
expect_file /usr/share/man/man8/ptap-helper.8
expect_file /usr/share/man/man5/ptap-helper.conf.5
expect_file /usr/share/man/man8/ptap-watch.8
[ -f "$PTAP_SOURCE_DIR/docs/ptap.1" ] && expect_file /usr/share/man/man1/ptap.1
tmpfilesdir=$(pcvar systemd tmpfilesdir); tmpfilesdir=${tmpfilesdir:-/usr/lib/tmpfiles.d}
expect_file "$tmpfilesdir/ptap.conf" '^644$'
expect_file /usr/share/bash-completion/completions/ptap '^644$'
# What ptap(1) cites, where it says.
for f in README COPYING journal.md recovery.md triggers.md design.md; do
    expect_file "/usr/share/doc/ptap/$f" '^644$'
done
# The pages name the paths of the build's configure-time prefix, as the
# programs do (PTAP_HELPER_PATH, the schema).
cache() { sed -n "s|^$1:[A-Z]*=||p" "$PTAP_BUILD_DIR/CMakeCache.txt"; }
docdir=$(cache CMAKE_INSTALL_DOCDIR)
docdir=$(cache CMAKE_INSTALL_PREFIX)/${docdir:-share/doc/ptap}
grep -q "$docdir/journal.md" "$D/usr/share/man/man1/ptap.1" ||
    pt_fail "ptap(1) does not cite $docdir/journal.md"
left=$(grep -l '@[A-Z_]*@' "$D"/usr/share/man/man*/* || true)
[ -z "$left" ] || pt_fail "manual pages with unfilled @VARIABLES@: $left"
if [ -f "$PTAP_BUILD_DIR/selinux/ptap.pp" ]; then
    expect_file /usr/share/selinux/packages/ptap.pp
fi
[ -e "$D/etc/ptap/helper.conf" ] && pt_fail "a live helper.conf was installed (only the example may be)"
pt_ok "install tree complete"

# No file capability and no setuid anywhere in the tree.
if command -v getcap >/dev/null; then
    caps=$(getcap -r "$D" 2>/dev/null || true)
    [ -z "$caps" ] || pt_fail "capabilities installed silently: $caps"
fi
suid=$(find "$D" -perm /6000 -type f)
[ -z "$suid" ] || pt_fail "setuid/setgid files installed: $suid"
pt_ok "helper installed without privileges"

# The triggers name the installed paths, not the build tree.
grep -q 'RUN+="/usr/libexec/ptap-trigger net-remove $kernel"' "$D$udevdir/rules.d/90-ptap.rules" ||
    pt_fail "rules do not run /usr/libexec/ptap-trigger: $(grep RUN "$D$udevdir/rules.d/90-ptap.rules")"
grep -qx 'PTAP=/usr/bin/ptap' "$D/usr/libexec/ptap-trigger" || pt_fail "ptap-trigger does not run /usr/bin/ptap"
grep -q '^/usr/libexec/ptap-trigger release' "$D/etc/libvirt/hooks/qemu.d/ptap" || pt_fail "hook does not run ptap-trigger"
grep -qx 'ExecStart=/usr/bin/ptap recover' "$D$unitdir/ptap-recover.service" || pt_fail "recover unit ExecStart"
grep -q '^Before=.*libvirtd.service' "$D$unitdir/ptap-recover.service" || pt_fail "recover unit not Before=libvirtd"
grep -qx 'ExecStart=/usr/bin/ptap watch --syslog' "$D$unitdir/ptap-watch.service" || pt_fail "watch unit ExecStart"
grep -rq "$PTAP_BUILD_DIR\|$PTAP_SOURCE_DIR" "$D" --include='*.rules' --include='*.service' --include=ptap-trigger &&
    pt_fail "an installed trigger names the build or source tree"
sh -n "$D/usr/libexec/ptap-trigger" && sh -n "$D/etc/libvirt/hooks/qemu.d/ptap" || pt_fail "scripts do not parse"
if command -v systemd-analyze >/dev/null; then
    # verify complains about the missing ExecStart binary on this host: only
    # syntax problems ("Unknown key", "Invalid") count.
    out=$(systemd-analyze verify "$D$unitdir/ptap-recover.service" "$D$unitdir/ptap-watch.service" 2>&1 || true)
    echo "$out" | grep -Ei 'unknown (key|section)|invalid|failed to parse' && pt_fail "unit files: $out"
fi
pt_ok "triggers name the installed paths"

# Run the installed programs from the tree.
v=$("$D/usr/bin/ptap" --version) || pt_fail "installed ptap --version failed"
pt_assert_match "ptap --version" '^ptap [0-9]+\.[0-9]+' "$v"
hv=$("$D/usr/libexec/ptap-helper" --version 2>&1) || pt_fail "installed ptap-helper --version failed: $hv"
pt_assert_match "ptap-helper --version" '[0-9]+\.[0-9]+' "$hv"
"$D/usr/bin/ptap" watch --grace nope >/dev/null 2>&1 && pt_fail "installed ptap accepted a bad --grace"
pt_ok "installed ptap ($v) and helper ($hv) run"

# The bash completion reads ptap's own help: commands and options.
complete_words() { # WORDS...: what completing the last word offers
    PATH="$D/usr/bin:$PATH" bash -c 'source "$1" && shift && COMP_WORDS=("$@") &&
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && _ptap && echo "${COMPREPLY[*]}"' \
        sh "$D/usr/share/bash-completion/completions/ptap" "$@"
}
pt_assert_eq "completion of 'ptap cr'" create "$(complete_words ptap cr)"
pt_assert_eq "completion of 'ptap create --b'" --bridge "$(complete_words ptap create --b)"
pt_assert_eq "completion of 'ptap journal c'" "check compact" "$(complete_words ptap journal c)"
pt_ok "bash completion: commands, options, journal subcommands"
echo PASS
