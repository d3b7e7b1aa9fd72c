#!/usr/bin/env bash
# ptap create / destroy / list / forget, as root and as an unprivileged
# user with a setuid helper and a policy file, in a private network
# namespace. Asserts what a user sees: the kernel (ip -j -d link), the
# journal (ptap list --json, ptap journal check), exit codes, messages.
# Refusals must change nothing, in the journal or in the kernel.
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup pool

ip -n "$PC_NS" link add br0 type bridge
ip -n "$PC_NS" link add br1 type bridge
ip -n "$PC_NS" link set br0 up

# ---- 1. create a pool of five on br0, as root ----------------------------
PC_PTAP_HELPER=$(pc_logging_helper)
pt_assert_rc "create --count 5" 0 ptap_root create 'ptaptst%d' --count 5 --bridge br0
PC_PTAP_HELPER=
pt_assert_eq "one helper run for the pool (started early, told to go)" 1 \
    "$(grep -c '^create --wait --count 5 .* -- ptaptst%d$' "$PC_TMP/helper.log")"
pt_assert_eq "helper runs" 1 "$(wc -l <"$PC_TMP/helper.log")"
names=$PT_OUT
pt_assert_eq "names printed" "$(printf 'ptaptst%d\n' 0 1 2 3 4)" "$names"
jid=$(pc_jid root "$PC_ROOT_STATE")
[ ${#jid} -eq 16 ] || pt_fail "journal id '$jid' is not 16 hex digits"
links=$(pc_links)
for n in $names; do
    l=$(echo "$links" | jq -c --arg n "$n" '.[] | select(.ifname == $n)')
    [ -n "$l" ] || pt_fail "tap '$n' not in the kernel"
    pt_assert_eq "$n kind" tun "$(echo "$l" | jq -r .linkinfo.info_kind)"
    pt_assert_eq "$n type" tap "$(echo "$l" | jq -r .linkinfo.info_data.type)"
    pt_assert_eq "$n persistent" true "$(echo "$l" | jq -r .linkinfo.info_data.persist)"
    pt_assert_eq "$n owner" root "$(echo "$l" | jq -r .linkinfo.info_data.user)"
    pt_assert_eq "$n bridge" br0 "$(echo "$l" | jq -r .master)"
    echo "$l" | jq -r .ifalias | grep -Eq "^ptap:u0:$jid:op[0-9]+$" ||
        pt_fail "$n mark is '$(echo "$l" | jq -r .ifalias)', not ptap:u0:$jid:opN"
done
list=$(ptap_root list --json)
pt_assert_eq "records" 5 "$(echo "$list" | jq '.records | length')"
pt_assert_eq "all ready, in the kernel, owner 0, bridge br0" 5 \
    "$(echo "$list" | jq '[.records[] | select(.state == "ready" and .in_kernel == true and .uid == 0 and .owner == "root"
                                      and .bridge == "br0" and .consumer == null
                                      and .problem == null)] | length')"
pt_assert_eq "ifindex recorded" "$(echo "$links" | jq -c '[.[] | select(.ifname | startswith("ptaptst")) | .ifindex] | sort')" \
    "$(echo "$list" | jq -c '[.records[].ifindex] | sort')"
ptap_root list | grep -Eq '^ptaptst3 +ready +root +- +br0 ' || pt_fail "'ptap list' does not show ptaptst3 ready on br0"
pc_check root "$PC_ROOT_STATE" "after create"

# ---- 2. one tap with every property ---------------------------------------
pt_assert_rc "create with properties" 0 \
    ptap_root create ptapmac0 --mac 02:11:22:33:44:55 --mtu 1400 --multi-queue --vnet-hdr --group "$PC_GID"
pt_assert_eq "name" ptapmac0 "$PT_OUT"
l=$(pc_links | jq -c '.[] | select(.ifname == "ptapmac0")')
pt_assert_eq "mac" 02:11:22:33:44:55 "$(echo "$l" | jq -r .address)"
pt_assert_eq "mtu" 1400 "$(echo "$l" | jq -r .mtu)"
pt_assert_eq "multi_queue" true "$(echo "$l" | jq -r .linkinfo.info_data.multi_queue)"
pt_assert_eq "vnet_hdr" true "$(echo "$l" | jq -r .linkinfo.info_data.vnet_hdr)"
pt_assert_eq "group" "$(getent group "$PC_GID" | cut -d: -f1)" "$(echo "$l" | jq -r .linkinfo.info_data.group)"
r=$(ptap_root list --json | jq -c '.records[] | select(.name == "ptapmac0") | [.mac, .mtu, .multi_queue, .vnet_hdr, .gid, .bridge]')
pt_assert_eq "record of ptapmac0" "[\"02:11:22:33:44:55\",1400,true,true,$PC_GID,null]" "$r"

# Root may hand a tap to a user and a group.
pt_assert_rc "create for a user" 0 ptap_root create ptapfor0 --owner "$PC_USER" --group "$PC_GID"
pt_assert_eq "owner and group in the kernel" "$PC_USER $(getent group "$PC_GID" | cut -d: -f1)" \
    "$(pc_links | jq -r '.[] | select(.ifname == "ptapfor0") | "\(.linkinfo.info_data.user) \(.linkinfo.info_data.group)"')"
pt_assert_eq "owner and group on record, by name and number" \
    "$PC_USER $PC_UID $(getent group "$PC_GID" | cut -d: -f1) $PC_GID" \
    "$(ptap_root list --json | jq -r '.records[] | select(.name == "ptapfor0") | "\(.owner) \(.uid) \(.group) \(.gid)"')"
ptap_root list | grep -Eq "^ptapfor0 +ready +$PC_USER +$(getent group "$PC_GID" | cut -d: -f1) " ||
    pt_fail "'ptap list' does not name ptapfor0's owner and group: $(ptap_root list)"
pt_assert_rc "destroy it" 0 ptap_root destroy ptapfor0

# ---- 3. refusals change nothing -------------------------------------------
# Each: exit code, a message naming the object, journal + kernel unchanged.
ip -n "$PC_NS" tuntap add taken0 mode tap # a hand-made tap: no mark
# refuse WHAT CODE NEEDLE CMD...: CMD exits CODE, says NEEDLE on stderr,
# prints nothing on stdout, and changes nothing at all.
refuse() {
    local what=$1 code=$2 needle=$3 before
    shift 3
    before=$(pc_snapshot)
    pt_assert_rc "$what" "$code" "$@"
    grep -qF -- "$needle" <<<"$PT_ERR" || pt_fail "$what: message '$PT_ERR' does not name '$needle'"
    [ -z "$PT_OUT" ] || pt_fail "$what: printed '$PT_OUT' on stdout"
    pt_assert_unchanged "$what" "$before" pc_snapshot
}
# Checked before anything is written.
refuse "destroy unknown" 64 "'nosuch0'" ptap_root destroy ptaptst0 nosuch0
refuse "destroy twice" 64 "'ptaptst1'" ptap_root destroy ptaptst1 ptaptst1
refuse "destroy invalid name" 64 "'bad/name'" ptap_root destroy bad/name
refuse "destroy unmarked device" 64 "'taken0'" ptap_root destroy taken0
refuse "bad MAC" 64 "'02:11:22:33:44'" ptap_root create ptapx0 --mac 02:11:22:33:44
refuse "multicast MAC" 64 "'01:00:5e:00:00:01'" ptap_root create ptapx0 --mac 01:00:5e:00:00:01
refuse "MAC for many" 64 "--mac" ptap_root create 'ptapx%d' --count 2 --mac 02:00:00:00:00:01
refuse "MTU too small" 64 "'67'" ptap_root create ptapx0 --mtu 67
refuse "MTU not a number" 64 "'15OO'" ptap_root create ptapx0 --mtu 15OO
refuse "template in the middle" 64 "'pt%dx'" ptap_root create 'pt%dx'
refuse "two templates" 64 "'pt%d%d'" ptap_root create 'pt%d%d'
refuse "name too long" 64 "'ptapnamewaytoolong'" ptap_root create ptapnamewaytoolong
refuse "count without template" 64 "'ptapx0'" ptap_root create ptapx0 --count 2
refuse "count 0" 64 "'0'" ptap_root create 'ptapx%d' --count 0
refuse "name on record" 64 "'ptaptst2'" ptap_root create ptaptst2
refuse "unknown owner" 64 "'nosuchuser-ptap'" ptap_root create ptapx0 --owner nosuchuser-ptap
# Refused by the helper: the journal gains an intent and its closing
# record, but no live record and nothing in the kernel.
refuse_helper() {
    local what=$1 code=$2 needle=$3 before
    shift 3
    before=$(pc_snapshot --live)
    pt_assert_rc "$what" "$code" "$@"
    grep -qF -- "$needle" <<<"$PT_ERR" || pt_fail "$what: message '$PT_ERR' does not name '$needle'"
    pt_assert_unchanged "$what" "$before" pc_snapshot --live
    ptap_root journal check >/dev/null || pt_fail "$what: root's journal check fails"
    [ ! -e "$PC_USER_STATE/journal.xml" ] || ptap_user journal check >/dev/null ||
        pt_fail "$what: the user's journal check fails"
}
refuse_helper "no such bridge" 64 "'nobr0'" ptap_root create ptapx0 --bridge nobr0
refuse_helper "bridge is not a bridge" 64 "'taken0'" ptap_root create ptapx0 --bridge taken0
refuse_helper "name taken by a device" 71 "'taken0'" ptap_root create taken0
pc_check root "$PC_ROOT_STATE" "after refusals"

# A missing helper: nothing can be done, and the command says which.
before=$(pc_snapshot --live)
rc=0
err=$(pc_ns env PTAP_HELPER=/nonexistent/ptap-helper "$PTAP_BIN" --state-dir "$PC_ROOT_STATE" \
      create ptapx0 2>&1 >/dev/null) || rc=$?
pt_assert_eq "missing helper exit code" 69 "$rc"
grep -qF "/nonexistent/ptap-helper" <<<"$err" || pt_fail "missing helper: message '$err' does not name it"
pt_assert_unchanged "create with a missing helper" "$before" pc_snapshot --live

# ---- 4. the unprivileged user, under the policy -----------------------------
pc_policy "allow user $PC_USER bridge br0 max 4" "deny bridge br1"
pt_assert_rc "user create" 0 ptap_user create 'ptu%d' --count 3 --bridge br0
pt_assert_eq "user names" "$(printf 'ptu%d\n' 0 1 2)" "$PT_OUT"
[ "$(stat -c '%U %a' "$PC_USER_STATE")" = "$PC_USER 700" ] ||
    pt_fail "user state dir is $(stat -c '%U %a' "$PC_USER_STATE"), not $PC_USER 700"
ujid=$(pc_jid user "$PC_USER_STATE")
[ "$ujid" != "$jid" ] || pt_fail "two state dirs share the journal id $jid"
pt_assert_eq "user taps in the kernel" "$(printf 'ptu%d\n' 0 1 2)" "$(pc_kernel_taps "$ujid")"
pt_assert_eq "user taps owned by the user" "$PC_USER $PC_USER $PC_USER" \
    "$(pc_links | jq -r '[.[] | select(.ifname | startswith("ptu")) | .linkinfo.info_data.user] | join(" ")')"
pt_assert_eq "user records" "$PC_UID" "$(ptap_user list --json | jq -r '[.records[].uid] | unique | join(",")')"
pc_check user "$PC_USER_STATE" "user create"
refuse_helper "bridge denied" 77 "'ptux0'" ptap_user create ptux0 --bridge br1
refuse_helper "no bridge not allowed" 77 "'ptux0'" ptap_user create ptux0
refuse_helper "over quota" 77 "'ptux%d'" ptap_user create 'ptux%d' --count 2 --bridge br0
refuse_helper "owner root" 77 "'ptux0'" ptap_user create ptux0 --bridge br0 --owner root
# A policy file others may write is not trusted: bad configuration.
chmod 0666 "$PC_POLICY/helper.conf"
refuse_helper "untrusted policy" 78 "helper.conf" ptap_user create ptux0 --bridge br0
chmod 0644 "$PC_POLICY/helper.conf"
# The user's default state directory is $XDG_RUNTIME_DIR/ptap, made 0700.
mkdir -m 0700 "$PC_TMP/user/xdg"
chown "$PC_UID:$PC_GID" "$PC_TMP/user/xdg"
pt_assert_rc "user create, default state dir" 0 \
    pc_as user env XDG_RUNTIME_DIR="$PC_TMP/user/xdg" PTAP_HELPER="$PC_HELPER" "$PTAP_BIN" create ptuxdg0 --bridge br0
pt_assert_eq "default state dir" "$PC_USER 700" "$(stat -c '%U %a' "$PC_TMP/user/xdg/ptap")"
pc_check user "$PC_TMP/user/xdg/ptap" "user, default state dir"
pc_as user env XDG_RUNTIME_DIR="$PC_TMP/user/xdg" PTAP_HELPER="$PC_HELPER" "$PTAP_BIN" destroy ptuxdg0
# Another journal's taps are not ours to destroy, whoever asks.
refuse "user destroys root's tap" 64 "'ptaptst0'" ptap_user destroy ptaptst0
refuse "root destroys user's tap via root's journal" 64 "'ptu0'" ptap_root destroy ptu0
pc_check user "$PC_USER_STATE" "user refusals"

# ---- 5. unsafe state directories: 78, nothing created ------------------------
ln -s "$PC_ROOT_STATE" "$PC_TMP/state-link"
refuse "state dir is a symlink" 78 "state-link" pc_ptap root "$PC_TMP/state-link" list
mkdir -m 0700 "$PC_TMP/elsewhere"
ln -s "$PC_ROOT_STATE/journal.xml" "$PC_TMP/elsewhere/journal.xml"
refuse "journal is a symlink" 78 "elsewhere" pc_ptap root "$PC_TMP/elsewhere" create ptapx0
[ -z "$(pc_links | jq -r '.[] | select(.ifname == "ptapx0") | .ifname')" ] || pt_fail "ptapx0 was created"
refuse "root, dir owned by the user" 78 "$PC_USER_STATE" pc_ptap root "$PC_USER_STATE" create ptapx0
mkdir -m 0755 "$PC_TMP/rootdir"
refuse "user, dir owned by root" 78 "rootdir" pc_ptap user "$PC_TMP/rootdir" create ptux0
refuse "user, root's private dir" 77 "$PC_ROOT_STATE" pc_ptap user "$PC_ROOT_STATE" list
chmod 0777 "$PC_TMP/elsewhere"
rm "$PC_TMP/elsewhere/journal.xml"
refuse "dir writable by others" 78 "elsewhere" pc_ptap root "$PC_TMP/elsewhere" create ptapx0
[ ! -e "$PC_TMP/elsewhere/journal.xml" ] || pt_fail "a journal was created in a world-writable dir"

# ---- 6. destroy: one call, all gone; a tap attached to a guest is refused ----
# A record as an interrupted-free attach leaves it (written as the journal
# writes it, sealed with its checksum): destroy must refuse it and change
# nothing.
seq=$(grep -o 'seq="[0-9]*"' "$PC_ROOT_STATE/journal.xml" | tr -dc '0-9\n' | sort -n | tail -1)
line=$(grep "name=\"ptaptst4\"" "$PC_ROOT_STATE/journal.xml" | tail -1)
att=$(echo "$line" | sed -e "s/seq=\"[0-9]*\"/seq=\"$((seq + 1))\"/" -e 's/state="ready"/state="attached" flags="ephemeral"/' \
      -e "s|/>\$|><consumer kind=\"qmp\" target=\"$PC_TMP/gone.qmp\" netdev=\"net-ptaptst4\" device=\"dev-ptaptst4\" model=\"virtio-net-pci\" mac=\"52:54:00:12:34:56\"/></tap>|")
echo "$att" | "$PT_PYTHON" "$PT_SOURCE_DIR/tests/data/journal/seal.py" \
    >>"$PC_ROOT_STATE/journal.xml"
pt_assert_eq "hand-made attached record" attached \
    "$(ptap_root list --json | jq -r '.records[] | select(.name == "ptaptst4") | .state')"
refuse "destroy attached" 64 "'ptaptst4'" ptap_root destroy ptaptst0 ptaptst4
grep -q "gone.qmp" <<<"$PT_ERR" || pt_fail "destroy attached: message does not name the guest"

PC_PTAP_HELPER=$(pc_logging_helper)
pt_assert_rc "destroy four" 0 ptap_root destroy ptaptst0 ptaptst1 ptaptst2 ptaptst3
PC_PTAP_HELPER=
pt_assert_eq "one helper run for the batch" "destroy --wait -- ptaptst0 ptaptst1 ptaptst2 ptaptst3" "$(cat "$PC_TMP/helper.log")"
[ -z "$PT_OUT" ] || pt_fail "destroy printed '$PT_OUT'"
pt_assert_eq "left in the kernel" "$(printf '%s\n' ptapmac0 ptaptst4)" "$(pc_kernel_taps "$jid")"
pt_assert_eq "left on record" "$(printf '%s\n' ptapmac0 ptaptst4)" "$(pc_live root "$PC_ROOT_STATE")"
# The guest is gone (no socket): recovery takes its tap back.
pt_assert_rc "recover a gone guest's tap" 0 ptap_root recover --json
pt_assert_eq "recover action" '[{"action":"consumer-gone","name":"ptaptst4"}]' \
    "$(echo "$PT_OUT" | jq -c '[.records[] | {action, name}]')"
pc_check root "$PC_ROOT_STATE" "after destroy"

# ---- 7. forget ---------------------------------------------------------------
refuse "forget an existing tap" 64 "'ptapmac0'" ptap_root forget ptapmac0
ip -n "$PC_NS" link del ptapmac0
pt_assert_eq "list flags it" "missing from the kernel" \
    "$(ptap_root list --json | jq -r '.records[] | select(.name == "ptapmac0") | .problem')"
pt_assert_rc "forget a hand-deleted tap" 0 ptap_root forget ptapmac0
pt_assert_eq "no records" "" "$(pc_live root "$PC_ROOT_STATE")"
pt_assert_rc "forget a name not on record" 0 ptap_root forget ptapmac0 nosuch0
pc_check root "$PC_ROOT_STATE" "after forget"

# The user destroys its own pool.
pt_assert_rc "user destroy" 0 ptap_user destroy ptu0 ptu1 ptu2
pt_assert_eq "user taps gone" "" "$(pc_kernel_taps "$ujid")"
pc_check user "$PC_USER_STATE" "user destroy"
pt_assert_eq "nothing marked left" "" "$(pc_marked_taps)"
echo "ok: ptap pool create/destroy/list/forget and refusals"
