# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# attach.sh: shared set-up for the `ptap attach/detach` end-to-end tests.
# A private netns with a bridge br0 (10.9.0.1/24), a real TCG guest run by
# the unprivileged user ptaptest-q inside it (guest.sh), and `ptap` run as
# root in that namespace with a private state dir and the built helper.
#
#   attach_setup TAG      netns + bridge + guest; sets NS, SD (state dir)
#   P ARGS...             run the built ptap in NS with --state-dir SD
#   jq_get JSON EXPR      python3 expression over the parsed JSON (as `d`)
#   taps_in_ns            names of ptap-marked taps in NS, sorted
#   fail MSG              print MSG (and the console tail) and exit 1
#   attach_teardown       stop the guest, delete NS (also run from the trap)

. "$PTAP_SOURCE_DIR/tests/e2e/lib/guest.sh"

[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
: "${PTAP_BIN:?}" "${PTAP_HELPER_BIN:?}"

NS=
SD=
QUSER=ptaptest-q

fail() {
    echo "FAIL: $*" >&2
    ptap_guest_log_tail 30 2>/dev/null
    exit 1
}

attach_teardown() {
    set +eu # a trap must finish its work whatever failed
    ptap_guest_stop 2>/dev/null
    [ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
    [ -n "$SD" ] && rm -rf "$SD"
    return 0
}

attach_setup() {
    local tag=$1
    ptap_guest_image || { echo "SKIP: no guest image (qemu/busybox missing)"; exit 77; }
    ptap_test_user "$QUSER"
    NS=ptaptest-$tag-$$
    SD=$(mktemp -d /tmp/ptaptest-state.XXXXXX)
    trap attach_teardown EXIT
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    ip -n "$NS" link add br0 type bridge
    ip -n "$NS" addr add 10.9.0.1/24 dev br0
    ip -n "$NS" link set br0 up
    ptap_guest_start "$NS" "$QUSER" || fail "guest did not boot"
}

P() {
    ip netns exec "$NS" env PTAP_HELPER="$PTAP_HELPER_BIN" "$PTAP_BIN" --state-dir "$SD" "$@"
}

jq_get() {
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

taps_in_ns() {
    ip -n "$NS" -d -j link show | python3 -c '
import json,sys
for l in json.load(sys.stdin):
    if l.get("ifalias","").startswith("ptap") and l.get("linkinfo",{}).get("info_kind")=="tun":
        print(l["ifname"])' | sort
}

# The recovery invariant: guest NIC present <=> record attached <=> tap exists.
assert_consistent() {
    local list taps recs
    list=$(P list --json) || fail "ptap list failed"
    taps=$(taps_in_ns | tr '\n' ' ')
    recs=$(jq_get "$list" '" ".join(sorted(r["name"] for r in d if r["state"]))')
    [ "$(echo $taps)" = "$(echo $recs)" ] || fail "kernel taps [$taps] != journal records [$recs]"
    local bad
    bad=$(jq_get "$list" '[r["name"] for r in d if r.get("problem")]')
    [ "$bad" = "[]" ] || fail "ptap list reports problems: $list"
}
