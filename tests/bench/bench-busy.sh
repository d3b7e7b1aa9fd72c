#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Benchmark: one tap on a busy host. `ptap create NAME --owner U --bridge
# br0` and `ptap destroy NAME` in a namespace where --links other links
# exist (taps made by one `ip -batch`, not timed), against the same in an
# empty namespace (lo and br0 only). Each namespace has its own journal.
# The single-tap path must not cost per link of the host: no full link
# dump (in ptap or its helper).
# Contenders alternate every round (the order rotates).
# Target (issue 14): busy <= 1.2x empty, for create and for destroy.
#
# Usage: bench-busy.sh [--links N] [--rounds R]
source "$(dirname "$0")/lib/bench.sh"

links=10000
rounds=15
while [ $# -gt 0 ]; do
    case $1 in
    --links) links=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) pt_fail "usage: $0 [--links N] [--rounds R]" ;;
    esac
done

bn_init busy-empty
empty=$BN_NS
bn_netns_new bench-busy
busy=$PT_NS
user=ptaptest-bench
pt_user_ensure "$user" >/dev/null
for ns in "$empty" "$busy"; do
    ip -n "$ns" link add br0 type bridge
    ip -n "$ns" link set br0 up
done
pt_log "making $links other links"
for ((i = 0; i < links; i++)); do
    echo "tuntap add dev oth$i mode tap"
done >"$BN_TMP/others"
ip -n "$busy" -batch "$BN_TMP/others"
got=$(ip -n "$busy" -br link show | grep -c '^oth' || true)
[ "$got" -eq "$links" ] || pt_fail "made $got other links, not $links"
sd_empty=$(bn_state_dir)
sd_busy=$(bn_state_dir)

p() { # NS SD ARGS...
    local ns=$1 sd=$2
    shift 2
    PTAP_HELPER="$PTAP_HELPER_BIN" ip netns exec "$ns" "$PTAP_BIN" --state-dir "$sd" "$@"
}
create_in() { p "$1" "$2" create one0 --owner "$user" --bridge br0; }
destroy_in() { p "$1" "$2" destroy one0; }
# What a user would see, outside the timings, the same in both namespaces
# (a check on one side only shifted that side's kernel work in time).
check_made() { # NS
    [ "$(ip -n "$1" -j link show one0 | jq -r '.[0].master')" = br0 ] || pt_fail "one0 is not on br0 in $1"
}
check_gone() { # NS
    ! ip -n "$1" link show one0 >/dev/null 2>&1 || pt_fail "one0 still exists in $1"
}

# Warm-up, not counted.
create_in "$empty" "$sd_empty" >/dev/null && destroy_in "$empty" "$sd_empty" >/dev/null
create_in "$busy" "$sd_busy" >/dev/null && destroy_in "$busy" "$sd_busy" >/dev/null
pt_log "one tap, $rounds rounds: empty namespace / $links other links"
t_ce=() t_de=() t_cb=() t_db=()
for ((r = 0; r < rounds; r++)); do
    for k in 0 1; do
        if [ $(((r + k) % 2)) -eq 0 ]; then
            bn_time create_in "$empty" "$sd_empty"
            t_ce+=("$BN_MS")
            check_made "$empty"
            bn_time destroy_in "$empty" "$sd_empty"
            t_de+=("$BN_MS")
            check_gone "$empty"
        else
            bn_time create_in "$busy" "$sd_busy"
            t_cb+=("$BN_MS")
            check_made "$busy"
            bn_time destroy_in "$busy" "$sd_busy"
            t_db+=("$BN_MS")
            check_gone "$busy"
        fi
    done
done
bn_compare "busy-create" "One tap: ptap create NAME, $links other links vs none" \
    "ptap create one0, $links other links" "${t_cb[*]}" \
    "ptap create one0, empty namespace" "${t_ce[*]}" \
    "<= 1.2" le 1.2
bn_compare "busy-destroy" "One tap: ptap destroy NAME, $links other links vs none" \
    "ptap destroy one0, $links other links" "${t_db[*]}" \
    "ptap destroy one0, empty namespace" "${t_de[*]}" \
    "<= 1.2" le 1.2
