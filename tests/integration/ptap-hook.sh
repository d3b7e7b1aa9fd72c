#!/usr/bin/env bash
# The libvirt hook's commands without a libvirtd (docs/migration.md): the
# domain XML libvirt would pass on stdin, the real helper and kernel in a
# private netns.
#   hook-prepare makes every tap the metadata names (owner: qemu.conf's
#   user), journaled as attaching to the domain; run again it keeps them;
#   all or nothing: a missing bridge, a taken name, a hostile value leave
#   nothing behind; a crash after the helper leaves what recover closes.
#   hook-started: attached, with QEMU's pid from libvirt's pid file.
#   hook-stopped: after an outgoing migration every tap goes (pool ones
#   too); after a plain stop only those never attached.
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup hook
ip -n "$PC_NS" link add br0 type bridge
ip -n "$PC_NS" link set br0 mtu 1400 up

SD=$PC_ROOT_STATE
UUID=7fc24447-16fa-430d-9003-9d8c07bc48f9
CONF=$PC_TMP/qemu.conf
printf 'user = "%s"\n' "$PC_USER" >"$CONF"
H() { pc_ptap root "$SD" "$@" --qemu-conf "$CONF" --uuid "$UUID" -- ptaptest-g1; }
domain() { # NIC-LINE... : a domain XML with these <ptap:nic>s and an ethernet NIC for each
    local nics="" ifs="" l t i=0
    for l in "$@"; do
        nics="$nics$l"
        t=$(printf '%s' "$l" | sed -n 's/.*tap="\([^"]*\)".*/\1/p')
        i=$((i + 1))
        ifs="$ifs<interface type='ethernet'><mac address='52:54:00:00:00:0$i'/><target dev='$t' managed='no'/><model type='virtio'/><alias name='ua-net-$t'/></interface>"
    done
    cat <<EOF
<domain type='qemu'><name>ptaptest-g1</name><uuid>$UUID</uuid>
<metadata><ptap:nics xmlns:ptap="https://ptap.dev/xmlns/libvirt/1" version="1">$nics</ptap:nics></metadata>
<devices>$ifs</devices></domain>
EOF
}
# ptap's JSON as an array, whichever shape this ptap prints: the bare array,
# or the version 1 document ({"records": [...]}).
arr() { jq -c 'if type == "object" and has("records") then .records else . end'; }
states() { pt_jq "$(pc_ptap root "$SD" list --json | arr)" '[.[] | .name + ":" + .state] | sort | join(" ")'; }
taps() { ip -n "$PC_NS" -o link show type tun | awk -F': ' '{print $2}' | sort | tr '\n' ' '; }

echo "== prepare: two taps, one for the NIC, one of the pool"
XML=$(domain '<ptap:nic tap="ptaphk0" bridge="br0" mtu="1400" multi-queue="yes" kind="nic"/>' \
             '<ptap:nic tap="ptaphk1" bridge="br0" vnet-hdr="yes" kind="pool"/>')
pt_assert_rc "hook-prepare" 0 H hook-prepare <<<"$XML"
pt_assert_eq "journal" "ptaphk0:attaching ptaphk1:attaching" "$(states)"
list=$(pc_ptap root "$SD" list --json | arr)
pt_assert_json "attributed to the domain" "$list" \
    'all(.[]; .consumer.kind == "libvirt" and .consumer.target == $u and .consumer.name == "ptaptest-g1")' \
    --arg u "$UUID"
pt_assert_json "device ids from the XML's aliases" "$list" \
    '[.[].consumer.device_id] | sort == ["ua-net-ptaphk0", "ua-net-ptaphk1"]'
l=$(ip -n "$PC_NS" -j -d link show ptaphk0)
pt_assert_eq "owner: qemu.conf's user" "$PC_USER" "$(jq -r '.[0].linkinfo.info_data.user' <<<"$l")"
pt_assert_eq "bridge" br0 "$(jq -r '.[0].master' <<<"$l")"
pt_assert_eq "mtu" 1400 "$(jq -r '.[0].mtu' <<<"$l")"
pt_assert_eq "multi-queue" true "$(jq -r '.[0].linkinfo.info_data.multi_queue' <<<"$l")"
pt_assert_eq "vnet_hdr of the pool tap" true \
    "$(ip -n "$PC_NS" -j -d link show ptaphk1 | jq -r '.[0].linkinfo.info_data.vnet_hdr')"
pt_assert_rc "prepare again (prepare begin after migrate begin)" 0 H hook-prepare <<<"$XML"
pt_assert_match "it keeps them" "kept ptaphk0" "$PT_OUT"
pt_assert_eq "the same taps" "ptaphk0 ptaphk1 " "$(taps)"

echo "== started: attached, QEMU's pid from libvirt's pid file"
bash -c 'sleep 60; :' -uuid "$UUID" &
QPID=$!
pt_cleanup_add kill "$QPID"
echo "$QPID" >"$PC_TMP/g1.pid"
pt_assert_rc "hook-started" 0 pc_ptap root "$SD" hook-started --pid-file "$PC_TMP/g1.pid" --uuid "$UUID" -- ptaptest-g1 <<<"$XML"
pt_assert_eq "journal" "ptaphk0:attached ptaphk1:attached" "$(states)"
pt_assert_json "pid recorded" "$(pc_ptap root "$SD" list --json | arr)" 'all(.[]; .consumer.pid == ($p | tonumber))' --arg p "$QPID"

echo "== stopped, no migration: left for release end"
kill "$QPID"; wait "$QPID" 2>/dev/null || true
printf "<domstatus state='shutoff'><job type='destroy' async='none'/></domstatus>\n" >"$PC_TMP/none.xml"
pt_assert_rc "hook-stopped (plain stop)" 0 pc_ptap root "$SD" hook-stopped --status "$PC_TMP/none.xml" --uuid "$UUID" -- ptaptest-g1 <<<"$XML"
pt_assert_eq "nothing done" "ptaphk0:attached ptaphk1:attached" "$(states)"

echo "== stopped after an outgoing migration: every tap goes, pool ones too"
cp "$PTAP_TESTDATA/vmeta/status-migration-out.xml" "$PC_TMP/out.xml"
pt_assert_rc "hook-stopped (migration out)" 0 pc_ptap root "$SD" hook-stopped --status "$PC_TMP/out.xml" --uuid "$UUID" -- ptaptest-g1 <<<"$XML"
pt_assert_eq "journal" "" "$(states)"
pt_assert_eq "kernel" "" "$(taps)"
pc_check root "$SD"

echo "== all or nothing: the second NIC's bridge is missing"
BAD=$(domain '<ptap:nic tap="ptaphk0" bridge="br0" kind="nic"/>' '<ptap:nic tap="ptaphk1" bridge="br9" kind="nic"/>')
pt_assert_rc "hook-prepare without br9" 69 H hook-prepare <<<"$BAD"
pt_assert_match "ptap's reason" "there is no bridge 'br9' on this host" "$PT_ERR"
pt_assert_eq "nothing made" "" "$(taps)"
pt_assert_eq "nothing on record" "" "$(states)"

echo "== all or nothing: a name taken on this host"
ip -n "$PC_NS" tuntap add dev ptaphk1 mode tap
BAD=$(domain '<ptap:nic tap="ptaphk0" bridge="br0" kind="nic"/>' '<ptap:nic tap="ptaphk1" bridge="br0" kind="nic"/>')
pt_assert_rc "hook-prepare with ptaphk1 taken" 69 H hook-prepare <<<"$BAD"
pt_assert_match "ptap's reason" "name is taken|a device of that name exists" "$PT_ERR"
pt_assert_eq "nothing made (the foreign tap alone)" "ptaphk1 " "$(taps)"
pt_assert_eq "nothing on record" "" "$(states)"
ip -n "$PC_NS" link del ptaphk1

echo "== hostile metadata is refused before anything is made"
for v in 'tap="ptaphk0,script=/bin/sh"' 'tap="ptaphk0" mtu="1e3"' 'tap="ptaphk0" owner="0"' 'tap="ptaphk0" bridge="../br0"'; do
    pt_assert_rc "refuses <nic $v>" 65 H hook-prepare <<<"$(domain "<ptap:nic $v/>")"
done
pt_assert_eq "nothing made for hostile input" "" "$(taps)"

echo "== a crash right after the helper made the tap: recover finishes"
rc=0
PTAP_FAULT=hook-after-create H hook-prepare <<<"$(domain '<ptap:nic tap="ptaphk0" bridge="br0" kind="pool"/>')" >/dev/null 2>&1 || rc=$?
[ "$rc" = 137 ] || pt_skip "no fault injection in this build (rc $rc)"
pt_assert_eq "the tap is there" "ptaphk0 " "$(taps)"
pt_assert_rc "recover" 0 pc_ptap root "$SD" recover --json
pt_assert_json "it rolls the half-made tap back" "$(arr <<<"$PT_OUT")" '.[0].action == "rollback-attach"'
pt_assert_eq "gone after recover" "" "$(taps)"
pt_assert_eq "no record after recover" "" "$(states)"
pc_check root "$SD"
echo "PASS"
