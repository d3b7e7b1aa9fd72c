#!/usr/bin/env bash
# ptap's udev rules under a real systemd-udevd, started inside a private
# network namespace AND a private mount namespace in which:
#   - /run is a fresh tmpfs (udevd's control socket and database, and the
#     journals /run/ptap and /run/user/UID/ptap the rules scan, are private;
#     the host's /run is never written);
#   - /etc/udev/rules.d and /usr/lib/udev/rules.d are empty tmpfs mounts and
#     /run/udev/rules.d holds only the project's 90-ptap.rules (no distro
#     rule renames or re-MACs our taps);
#   - /etc/ptap is the test's policy (bind mount).
# The rules file is the built one with the program path pointed at the
# built ptap-trigger, itself pointed at the built ptap.
# Asserts: `ip link del` of a journaled tap -> the journal (root's, and a
# user's, run as that user) no longer names it within a second; a new
# ptap tap gets the IPv6 hygiene; an unmarked tap is left alone.
source "$PTAP_SOURCE_DIR/tests/lib/common.sh"
pt_require_root
: "${PTAP_BIN:?}" "${PTAP_HELPER_BIN:?}" "${PTAP_BUILD_DIR:?}"
UDEVD=/lib/systemd/systemd-udevd
[ -x "$UDEVD" ] || pt_skip "systemd-udevd not installed (package udev)"
for f in 90-ptap.rules ptap-trigger; do
    [ -f "$PTAP_BUILD_DIR/udev/$f" ] || pt_fail "not built: $PTAP_BUILD_DIR/udev/$f"
done

pt_netns_new udev
NS=$PT_NS
T=$(pt_tmpdir)
U=ptaptest-udev
UID_=$(pt_user_ensure "$U")
GID_=$(id -g "$U")
HELPER=$(pt_helper_install setuid)
pt_tun_world_rw
POLICY=$(pt_policy_dir "allow user $U bridge * max 16
allow user $U bridge none max 16")
mkdir -m 0755 -p /etc/ptap # the bind mount's target (common.sh does the same)

# The program, pointed at the built ptap and helper.
sed -e "s|^PTAP=.*|PTAP=$PTAP_BIN\nPTAP_HELPER=$HELPER; export PTAP_HELPER|" \
    "$PTAP_BUILD_DIR/udev/ptap-trigger" >"$T/ptap-trigger"
chmod 0755 "$T/ptap-trigger"
sed -e "s|RUN+=\"[^ \"]*ptap-trigger |RUN+=\"$T/ptap-trigger |" \
    "$PTAP_BUILD_DIR/udev/90-ptap.rules" >"$T/90-ptap.rules"
grep -q "$T/ptap-trigger net-remove" "$T/90-ptap.rules" || pt_fail "could not point the rules at the test's program"

# udevd in its own mount namespace; $UPID is udevd itself (exec).
ip netns exec "$NS" unshare --mount --propagation private sh -c '
    set -e
    mount -t tmpfs -o mode=0755 ptaptest-run /run
    mkdir -p /run/udev/rules.d /run/user
    cp "$1" /run/udev/rules.d/
    mount -t tmpfs ptaptest-empty /etc/udev/rules.d
    mount -t tmpfs ptaptest-empty /usr/lib/udev/rules.d
    mount --bind "$2" /etc/ptap
    exec "$3"' sh "$T/90-ptap.rules" "$POLICY" "$UDEVD" 2>"$T/udevd.log" &
UPID=$!
# Stopped by PID, never by name; the tmpfs /run goes with its namespace.
pt_cleanup_add pt_kill "$UPID" 5

# IN CMD...: run CMD in udevd's network and mount namespaces.
IN() { nsenter -t "$UPID" -n -m -- "$@"; }
for _ in $(seq 100); do
    IN test -S /run/udev/control 2>/dev/null && break
    sleep 0.05
done
IN test -S /run/udev/control || pt_fail "udevd did not start: $(cat "$T/udevd.log")"
IN udevadm control --log-level=info 2>/dev/null || true
settle() { IN udevadm settle --timeout=10; }

# Journals at the default places inside the private /run.
IN mkdir -m 0700 -p "/run/user/$UID_"
IN chown "$UID_:$GID_" "/run/user/$UID_"
P_root() { IN env PTAP_HELPER="$HELPER" "$PTAP_BIN" "$@"; }
P_user() {
    IN setpriv --reuid "$UID_" --regid "$GID_" --init-groups -- \
        env XDG_RUNTIME_DIR="/run/user/$UID_" PTAP_HELPER="$HELPER" "$PTAP_BIN" "$@"
}
on_record() { # AS NAME
    { "P_$1" list --json || [ $? -eq 1 ]; } | jq -e --arg n "$2" 'any(.records[]; .name == $n)' >/dev/null
}
now_ms() { date +%s%3N; }

echo "== a new ptap tap gets the IPv6 hygiene"
IN ip link add br0 type bridge
IN ip link set br0 up
P_root create ptapu0 --bridge br0 >/dev/null || pt_fail "root create failed"
P_root create ptapu1 >/dev/null || pt_fail "root create failed"
P_user create ptapuser0 >/dev/null || pt_fail "user create failed"
settle
for t in ptapu0 ptapu1 ptapuser0; do
    for kv in disable_ipv6=1 accept_ra=0 autoconf=0 addr_gen_mode=1; do
        v=$(IN cat "/proc/sys/net/ipv6/conf/$t/${kv%%=*}")
        pt_assert_eq "$t ${kv%%=*}" "${kv#*=}" "$v"
    done
    IN ip -6 addr show dev "$t" | grep -q inet6 && pt_fail "$t has an IPv6 address"
done
pt_ok "ptap taps have no IPv6 of their own"
IN ip tuntap add plaintap0 mode tap # a tap that is not ptap's
settle
pt_assert_eq "unmarked tap untouched" 0 "$(IN cat /proc/sys/net/ipv6/conf/plaintap0/disable_ipv6)"
pt_ok "an unmarked tap is left alone"

echo "== ip link del of a journaled tap: forgotten within a second"
check_forgotten() { # AS NAME
    local as=$1 name=$2 t0
    on_record "$as" "$name" || pt_fail "$name is not on record before the test"
    t0=$(now_ms)
    IN ip link del "$name"
    while on_record "$as" "$name"; do
        [ $(($(now_ms) - t0)) -lt 1000 ] ||
            pt_fail "$name still in $as's journal 1 s after its deletion (udevd log: $(tail -5 "$T/udevd.log"))"
        sleep 0.05
    done
    pt_ok "$name forgotten by $as's journal after $(($(now_ms) - t0)) ms"
}
check_forgotten root ptapu0
check_forgotten user ptapuser0
# The other records stay, and the journals are valid and owned as before.
on_record root ptapu1 || pt_fail "ptapu1 was forgotten too"
P_root journal check >/dev/null || pt_fail "root journal invalid"
P_user journal check >/dev/null || pt_fail "user journal invalid"
pt_assert_eq "user journal owner" "$UID_" "$(IN stat -c %u "/run/user/$UID_/ptap/journal.xml")"
IN ip link del plaintap0
settle
on_record root ptapu1 || pt_fail "ptapu1 was forgotten on an unrelated removal"
P_root destroy ptapu1 || pt_fail "destroy of ptapu1 failed"
settle
[ "$(P_root list --json | jq -c .records)" = "[]" ] || pt_fail "root journal not empty: $(P_root list --json)"
echo "PASS"
