#!/usr/bin/env bash
# The libvirt hook under a real libvirtd (tests/e2e/lib/libvirtd.sh, in a
# private netns): the built hook is installed in the daemon's private
# hooks directory (/etc/libvirt/hooks/qemu.d/ptap as libvirtd sees it);
# a guest gets two ptap NICs (one per method); `virsh destroy` -> libvirt
# runs the hook's "release" -> the guest's taps are gone and their records
# closed, without anyone running ptap by hand. A record of another guest
# is untouched.
#
# Test-only edits of the installed scripts: the hook runs the test's copy of
# ptap-trigger, which runs the built ptap and helper and scans the test's
# state directory instead of /run/ptap and /run/user/*/ptap (the host's
# /run is never written).
set -eu
. "$PTAP_SOURCE_DIR/tests/e2e/lib/guest.sh"
. "$PTAP_SOURCE_DIR/tests/e2e/lib/libvirtd.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
: "${PTAP_BIN:?}" "${PTAP_HELPER_BIN:?}" "${PTAP_BUILD_DIR:?}"

NS=ptaptest-hk$$
DOM=ptaptest-hk$$
SD=$(mktemp -d /tmp/ptaptest-state.XXXXXX)
HK=$(mktemp -d /tmp/ptaptest-hook.XXXXXX)
chmod 0755 "$HK"
cleanup() { set +eu; ptap_lv_stop 2>/dev/null; ip netns del "$NS" 2>/dev/null; rm -rf "$SD" "$HK"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; ptap_lv_log_tail 20 2>/dev/null; cat "$HK/hook.log" >&2 2>/dev/null; exit 1; }
P() { ip netns exec "$NS" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$SD" "$@"; }
jq_get() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# The hook and its program, pointed at the build and the test's journal.
# The hook also logs its arguments, so the test can tell libvirt ran it.
sed -e "s|^PTAP=.*|PTAP=$PTAP_BIN\nPTAP_HELPER=$PTAP_HELPER_BIN; export PTAP_HELPER|" \
    -e "s|for d in /run/ptap /run/user/\*/ptap; do|for d in $SD; do|" \
    "$PTAP_BUILD_DIR/udev/ptap-trigger" >"$HK/ptap-trigger"
grep -q "for d in $SD; do" "$HK/ptap-trigger" || fail "could not point ptap-trigger at the test journal"
sed -e "s|^[^#]*ptap-trigger release|echo \"hook: \$*\" >>$HK/hook.log; $HK/ptap-trigger release|" \
    "$PTAP_BUILD_DIR/udev/libvirt-hook-ptap" >"$HK/ptap"
grep -q "$HK/ptap-trigger release" "$HK/ptap" || fail "could not point the hook at the test's ptap-trigger"
chmod 0755 "$HK/ptap-trigger" "$HK/ptap"

# libvirtd looks for hooks when it starts: install ours into the private
# configuration libvirtd.sh writes, right after it writes it (wrapping its
# internal writer; libvirtd.sh itself is used as is).
eval "_hook_orig_write_conf() $(declare -f _ptap_lv_write_conf | tail -n +2)"
_ptap_lv_write_conf() {
    _hook_orig_write_conf "$@" || return 1
    mkdir -p "$1/etc/hooks/qemu.d" && cp "$HK/ptap" "$1/etc/hooks/qemu.d/ptap" &&
        chmod 0755 "$1/etc/hooks" "$1/etc/hooks/qemu.d" "$1/etc/hooks/qemu.d/ptap"
}

ptap_guest_image || { echo "SKIP: no guest image"; exit 77; }
ptap_lv_users || fail "cannot create libvirt users"
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add br0 type bridge
ip -n "$NS" link set br0 up
set +e; ptap_lv_start "$NS"; rc=$?; set -e
[ "$rc" = 77 ] && { echo "SKIP: a libvirtd already runs on this machine"; exit 77; }
[ "$rc" = 0 ] || fail "libvirtd did not start"
ptap_lv_define "$DOM" || fail "define failed"
ptap_lv_boot "$DOM" || fail "boot failed"
export LIBVIRT_DEFAULT_URI=$PTAP_LV_URI

echo "== two ptap NICs on the guest, and a record of another guest"
m=$(ptap_guest_mark)
a=$(jq_get "$(P attach "$DOM" --method device --bridge br0 --json)" 'd["tap"]') || fail "attach (device) failed"
b=$(jq_get "$(P attach "$DOM" --method monitor --bridge br0 --json)" 'd["tap"]') || fail "attach (monitor) failed"
ptap_guest_net_wait '\beth1\b' 30 "$m" >/dev/null || fail "guest does not see two NICs"
P create ptaphkpool0 >/dev/null || fail "pool create failed"
st=$(jq_get "$(P list --json)" '" ".join(sorted(r["name"]+":"+r["state"] for r in d))')
echo "  journal: $st"
[ "$(jq_get "$(P list --json)" 'sum(1 for r in d if r["state"]=="attached")')" = 2 ] || fail "expected 2 attached records: $st"

echo "== virsh destroy: the hook releases the guest's taps"
t0=$(date +%s%3N)
ptap_lv_halt "$DOM" || fail "virsh destroy failed"
gone() { ! ip -n "$NS" link show "$a" >/dev/null 2>&1 && ! ip -n "$NS" link show "$b" >/dev/null 2>&1; }
for _ in $(seq 100); do gone && break; sleep 0.05; done
gone || fail "taps $a $b still exist after virsh destroy ($(ip -n "$NS" -br link | tr '\n' ' '))"
echo "  taps gone $(($(date +%s%3N) - t0)) ms after virsh destroy was called"
grep -q "hook: $DOM release end" "$HK/hook.log" || fail "libvirt did not run the hook with 'release end': $(cat "$HK/hook.log" 2>/dev/null)"
left=$(jq_get "$(P list --json)" '" ".join(sorted(r["name"]+":"+r["state"] for r in d))')
[ "$left" = "ptaphkpool0:ready" ] || fail "journal after release: '$left', expected only the pool tap"
ip -n "$NS" link show ptaphkpool0 >/dev/null || fail "the pool tap was destroyed"
P journal check >/dev/null || fail "journal invalid after the hook"

echo "== the hook ignores other operations and guests it has no records of"
ptap_lv_virsh start "$DOM" >/dev/null || fail "restart failed"
ptap_lv_virsh destroy "$DOM" >/dev/null || fail "second destroy failed"
[ "$(jq_get "$(P list --json)" '" ".join(sorted(r["name"]+":"+r["state"] for r in d))')" = "ptaphkpool0:ready" ] ||
    fail "journal changed by a release of a guest with no records"
P destroy ptaphkpool0 || fail "destroy of the pool tap failed"
echo "PASS"
