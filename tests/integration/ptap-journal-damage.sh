#!/usr/bin/env bash
# A damaged journal is never acted on (issue 11 item 3), against the real
# ptap and kernel:
#  1. One bit flipped in a real multi-tap journal (two random bits of every
#     line, one at a time): recover, list and create all refuse it with 78,
#     the message naming the file and the line; neither the kernel nor the
#     file changes.
#  2. A version 1 journal (before the checksums) is read as it is by
#     readers; the first writer converts it to version 2.
#  3. An operation id that repeats (a header whose next-seq was lowered,
#     records that no longer carry their op numbers: resealed by hand, so
#     the checksums pass) never lets a rollback take an older batch's live
#     taps: neither a failed create's own rollback nor recover's
#     rollback-create.
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup jdamage

S=$PC_ROOT_STATE
J=$S/journal.xml
SEAL=("$PT_PYTHON" "$PT_SOURCE_DIR/tests/data/journal/seal.py")
ip -n "$PC_NS" link add br0 type bridge

# ---- 1. one flipped bit, anywhere: refused, nothing done --------------------------
ptap_root create 'da%d' --count 3 --bridge br0 >/dev/null
ptap_root create 'db%d' --count 4 >/dev/null
ptap_root destroy db3 >/dev/null
ptap_root create dsolo --mac 02:00:00:00:00:42 >/dev/null
rc=0
PTAP_FAULT=create-after-helper ptap_root create 'dc%d' --count 2 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 137 ] || pt_skip "'$PTAP_BIN' has no fault points: configure with -DPTAP_FAULT_INJECTION=ON"
pc_wait_helpers
cp "$J" "$PC_TMP/good.xml"
# The devices and their marks (a tap's carrier may still settle after its
# helper is gone: not something ptap did).
devices() { pc_links | jq -S -c '[.[] | {ifname, ifindex, ifalias, master}] | sort_by(.ifname)'; }
links=$(devices)
lines=$(wc -l <"$J")

# flip FILE OFFSET BIT: flip one bit of FILE in place.
flip() {
    "$PT_PYTHON" -c '
import sys
p, off, bit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
b = bytearray(open(p, "rb").read())
b[off] ^= 1 << bit
open(p, "wb").write(bytes(b))' "$@"
}

n=0
start=0
for ((line = 1; line <= lines; line++)); do
    len=$(sed -n "${line}p" "$PC_TMP/good.xml" | wc -c) # with its newline
    for k in 1 2; do
        off=$((RANDOM % len))
        # Line 1's first bytes are the magic: refused too, but as "not a
        # ptap journal", without a line.
        [ "$line" -eq 1 ] && [ "$off" -lt 14 ] && off=$((14 + RANDOM % (len - 14)))
        bit=$((RANDOM % 8))
        cp "$PC_TMP/good.xml" "$J"
        flip "$J" $((start + off)) "$bit"
        cp "$J" "$PC_TMP/bad.xml"
        for cmd in "recover" "list --json" "create dnew"; do
            # shellcheck disable=SC2086
            pt_assert_rc "line $line byte $off bit $bit: $cmd" 78 ptap_root $cmd
            grep -qF "journal '$J' line $line: damaged" <<<"$PT_ERR" ||
                pt_fail "line $line byte $off bit $bit: $cmd does not name line $line: $PT_ERR"
        done
        cmp -s "$J" "$PC_TMP/bad.xml" || pt_fail "line $line byte $off bit $bit: the damaged journal was changed"
        pt_assert_unchanged "line $line byte $off bit $bit: the kernel" "$links" devices
        n=$((n + 1))
    done
    start=$((start + len))
done
cp "$PC_TMP/good.xml" "$J"
pt_ok "$n single-bit flips over $lines lines: each refused by recover, list and create (78, naming its line); nothing changed"
cp "$PC_TMP/bad.xml" "$J"
pt_assert_rc "journal check of the last damaged journal" 78 ptap_root journal check
grep -qF "journal '$J' line $lines: damaged" <<<"$PT_ERR" || pt_fail "journal check: $PT_ERR"
cp "$PC_TMP/good.xml" "$J"
ptap_root recover >/dev/null
pc_check root "$S" "after the flips"

# ---- 2. a version 1 journal ---------------------------------------------------------
sed -e 's/ crc="[0-9a-f]\{8\}"//' -e '1s/version="2"/version="1"/' "$J" >"$PC_TMP/v1.xml"
cp "$PC_TMP/v1.xml" "$J"
pt_assert_rc "list of a version 1 journal" 0 ptap_root list --json
pt_assert_eq "version 1: the same live records" "$(printf '%s\n' da0 da1 da2 db0 db1 db2 dsolo)" \
    "$(echo "$PT_OUT" | jq -r '.records[] | select(.state != null) | .name' | sort)"
pt_assert_rc "journal check of a version 1 journal" 0 ptap_root journal check
cmp -s "$J" "$PC_TMP/v1.xml" || pt_fail "a reader changed the version 1 journal"
pt_assert_rc "recover --dry-run of a version 1 journal" 0 ptap_root recover --dry-run --json
cmp -s "$J" "$PC_TMP/v1.xml" || pt_fail "recover --dry-run changed the version 1 journal"
pt_assert_rc "a writer on a version 1 journal" 0 ptap_root forget nosuchtap
head -1 "$J" | grep -q '^<ptap-journal crc="[0-9a-f]\{8\}" version="2" ' ||
    pt_fail "the first writer did not convert the journal: $(head -1 "$J")"
[ "$(grep -c '^<tap crc="' "$J")" -eq "$(grep -c '^<tap ' "$J")" ] || pt_fail "unsealed lines after the conversion"
pc_check root "$S" "after the conversion"

# ---- 3. an operation id that repeats ----------------------------------------------
ptap_root destroy $(pc_live root "$S") >/dev/null
ptap_root create 'zz%d' --count 4 >/dev/null
ptap_root journal compact >/dev/null
op=$(pc_links | jq -r '.[] | select(.ifname == "zz0") | .ifalias' | sed 's/.*:op//')
[ -n "$op" ] || pt_fail "no op id in zz0's mark"
# The header's counter lowered to the batch's op number, and the records
# stripped of every op number (ids and batch renamed), resealed: the next
# create is handed "op$op" again.
sed -e "1s/next-seq=\"[0-9]*\"/next-seq=\"$op\"/" -e 's/ id="op\([0-9]*\)"/ id="hand\1"/' \
    -e 's/ batch="op[0-9]*"/ batch="handmade"/' "$J" | "${SEAL[@]}" >"$PC_TMP/repeat.xml"
cp "$PC_TMP/repeat.xml" "$J"
pt_assert_rc "the resealed journal is valid" 0 ptap_root journal check
before=$(pc_kernel_taps "$(pc_jid root "$S")")
pt_assert_eq "four live taps" "$(printf '%s\n' zz0 zz1 zz2 zz3)" "$before"
# An ordinary failed create gets the same op id; its rollback must not
# take the older batch's taps.
pt_assert_rc "a create that fails (no such bridge)" 64 ptap_root -v create 'zz%d' --bridge nosuchbr0
grep -q "rollback of 'op$op' keeps 'zz0'" <<<"$PT_ERR" ||
    pt_fail "the failed create did not get op$op again (the test needs it): $PT_ERR"
pt_assert_eq "the older batch's taps survive a failed create with the same op id" "$before" \
    "$(pc_kernel_taps "$(pc_jid root "$S")")"
# Recovery of an interrupted create with the same op id: the same.
cp "$PC_TMP/repeat.xml" "$J"
rc=0
PTAP_FAULT=create-after-intent ptap_root create 'zy%d' --count 2 >/dev/null 2>&1 || rc=$?
pt_assert_eq "create killed after its intent" 137 "$rc"
pt_assert_eq "the interrupted create has the repeated op id" "op$op" \
    "$(grep 'state="creating"' "$J" | sed 's/.* id="\([^"]*\)".*/\1/')"
pt_assert_rc "recover" 0 ptap_root recover --json
pt_assert_eq "recover rolled back the interrupted create only" '[["rollback-create","zy%d"]]' \
    "$(echo "$PT_OUT" | jq -c '[.records[] | [.action, .name]]')"
pt_assert_eq "the older batch's taps survive recover's rollback-create" "$before" \
    "$(pc_kernel_taps "$(pc_jid root "$S")")"
pc_check root "$S" "after the repeated op id"
ptap_root destroy zz0 zz1 zz2 zz3 >/dev/null
echo "ok: damaged journals refused naming the line; version 1 converted; repeated op ids take nothing live"
