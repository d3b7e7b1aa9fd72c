#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A name is always a name: names beginning with '-' reached the helper as
# options ("ptap create -- --help" -> "ptap-helper created 11 taps instead
# of 1"). Required: ptap ends the helper's options with "--", the helper
# honours it; such a name is created as itself (or refused as a name),
# never read as an option.
. "$(dirname "$0")/../lib/common.sh"
pt_require_root
pt_tun_world_rw
: "${PTAP_BIN:?PTAP_BIN must name the built ptap}"

pt_netns_new names
T=$(pt_tmpdir)
mkdir -m 0700 "$T/state"
H=$PT_HELPER_BIN
links() { pt_ns ip -j link show type tun | jq -r '[.[].ifname] | sort | join(" ")'; }

# The helper itself: after "--" every word is a name.
pt_assert_rc "helper create -- --count" 0 pt_ns "$H" create -- --count
pt_assert_eq "helper made exactly the tap '--count'" "--count" "$(links)"
pt_assert_rc "helper destroy -- --count" 0 pt_ns "$H" destroy -- --count
pt_assert_eq "helper destroyed it" "" "$(links)"

# Through ptap: each of these names becomes one tap of that name.
for name in --help -x --count=9; do
    pt_assert_rc "ptap create -- $name" 0 pt_ns env PTAP_HELPER="$H" "$PTAP_BIN" --state-dir "$T/state" create -- "$name"
    pt_assert_eq "ptap create -- $name made exactly that tap" "$name" "$(links)"
    pt_assert_eq "ptap printed the name" "$name" "$PT_OUT"
    pt_assert_rc "ptap destroy -- $name" 0 pt_ns env PTAP_HELPER="$H" "$PTAP_BIN" --state-dir "$T/state" destroy -- "$name"
    pt_assert_eq "ptap destroy -- $name removed it" "" "$(links)"
done
pt_ok "names beginning with '-' are names, for ptap and the helper"
