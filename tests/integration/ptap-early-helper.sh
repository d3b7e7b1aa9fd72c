#!/usr/bin/env bash
# The helper started early (ptap-helper --wait): `ptap create` and `ptap
# destroy` start their helper before they read the journal and write the
# intent, and tell it to go once the intent is on disk. Asserted here:
#   1. ptap-helper --wait acts only on a "go" line (create: "go TAG", whose
#      tag makes the caller's mark; a destroy without NAMEs: the names on
#      the lines after it), does nothing on end of file or any other line,
#      and refuses --wait with --tag;
#   2. a helper waiting for its go holds no lock: another create of the
#      same user goes through meanwhile (the quota lock is taken after it);
#   3. ptap uses the early helper (one helper run per command; recover's
#      gets its names after the go: tests/integration/ptap-recover.sh) when it asks
#      for what it started, and starts a fresh one when it asks for
#      something else (a tap gone behind its back) or when it waited (a
#      busy journal lock: the early helper is not used after 1 s);
#      A helper older than --wait is started again without it;
#   4. a ptap killed after its intent leaves no tap and no helper behind;
#   5. ptap-helper destroy --wait --view says what it sees of its NAMEs
#      (without NAMEs: of every link) before it waits, a line per link,
#      then "end"; a `ptap destroy` of more than 32 names and `ptap recover`
#      judge their records by that view: they dump no links themselves; a
#      view that does not come whole is not used, nor is the helper that
#      gave it; a caller that does not read the view keeps its helper no
#      longer than one that never says go (30 s, then nothing is done:
#      started first, checked last, it runs beside the other sections);
#   6. a view is not used when another ptap changed the journal between
#      the helper's start and the lock: a create that finishes while a
#      recover waits for the lock does not get its new tap's record
#      closed by a view that predates the tap.
source "$(dirname "$0")/../lib/ptap-cli.sh"
pc_setup early

taps() { ip -n "$PC_NS" -br link show | awk '{print $1}' | grep -E "^$1" | sort | xargs; }
mark_of() { pc_links | jq -r --arg n "$1" '.[] | select(.ifname == $n) | .ifalias // ""'; }

# ---- 5, started now: a caller that does not read the view --------------------------------
# 1500 taps (not ptap's) make a view larger than a pipe holds (64 KiB); the helper's
# stdout is a pipe that a process which never reads holds, its stdin a
# pipe held open by one that never writes.
ip -n "$PC_NS" -batch <(for i in $(seq 0 1499); do echo "tuntap add dev fill$i mode tap"; done)
mkfifo "$PC_TMP/view-in"
sleep 60 >"$PC_TMP/view-in" &
PC_PIDS+=("$!")
view_t0=$SECONDS
{ rc=0; pc_helper user destroy --wait --view <"$PC_TMP/view-in" 2>"$PC_TMP/view-err" || rc=$?
  echo "$rc" >"$PC_TMP/view-rc"; } | sleep 60 &
PC_PIDS+=("$!")
for ((i = 0; i < 50; i++)); do
    view_pid=$(pc_helper_pids)
    [ -n "$view_pid" ] && break
    sleep 0.1
done
[ -n "$view_pid" ] || pt_fail "the helper whose view nobody reads did not start"
# The helpers of the other sections (section 4 counts them).
other_helpers() { pc_helper_pids | grep -vxF "$view_pid" || true; }

# ---- 1. ptap-helper --wait ---------------------------------------------------------------
pt_assert_rc "create --wait, end of file: nothing done" 75 pc_helper user create --wait -- ew%d </dev/null
pt_assert_eq "no tap after end of file" "" "$(taps ew)"
pt_assert_rc "create --wait, 'go TAG'" 0 pc_helper user create --wait -- ew%d <<<"go 0123456789abcdef:op7"
pt_assert_eq "the tap it made" ew0 "$PT_OUT"
pt_assert_eq "its mark: the caller's uid, then the tag of the go" "ptap:u$PC_UID:0123456789abcdef:op7" \
    "$(mark_of ew0)"
pt_assert_rc "create --wait, another line" 64 pc_helper user create --wait -- ew%d <<<"nogo"
grep -q 'expected "go"' <<<"$PT_ERR" || pt_fail "the refusal of a bad line says what was expected: $PT_ERR"
pt_assert_rc "create --wait, a line too long" 64 pc_helper user create --wait -- ew%d \
    <<<"go $(printf 'x%.0s' $(seq 300))"
pt_assert_rc "create --wait, a forged tag" 64 pc_helper user create --wait -- ew%d <<<"go u0:abc"
pt_assert_eq "none of those made a tap" ew0 "$(taps ew)"
pt_assert_rc "--wait with --tag" 64 pc_helper user create --wait --tag a:b -- ew%d </dev/null
pt_assert_rc "destroy --wait, a go with a tag" 64 pc_helper user destroy --wait ew0 <<<"go a:b"
pt_assert_eq "still there" ew0 "$(taps ew)"
pt_assert_rc "destroy --wait, end of file" 75 pc_helper user destroy --wait ew0 </dev/null
pt_assert_eq "still there after end of file" ew0 "$(taps ew)"
pt_assert_rc "destroy --wait, a refusal not told to go" 75 pc_helper user destroy --wait nosuch0 </dev/null
pt_assert_rc "destroy --wait, a refusal told to go" 64 pc_helper user destroy --wait nosuch0 <<<"go"
pt_assert_rc "destroy --wait, 'go'" 0 pc_helper user destroy --wait ew0 <<<"go"
pt_assert_eq "destroyed" "" "$(taps ew)"
# destroy --wait without NAMEs: they come after the go, one a line.
pt_assert_rc "three taps" 0 pc_helper user create --count 3 -- ew%d
pt_assert_rc "destroy --wait, names after the go, end of file first" 75 pc_helper user destroy --wait </dev/null
pt_assert_rc "destroy --wait, a bad name after the go" 64 pc_helper user destroy --wait <<<"$(printf 'go\new0\new/1')"
pt_assert_rc "destroy --wait, no name after the go" 64 pc_helper user destroy --wait <<<"go"
pt_assert_rc "destroy --wait, one of the names is not there" 64 pc_helper user destroy --wait \
    <<<"$(printf 'go\new0\nnosuch0')"
pt_assert_eq "none of those destroyed anything" "ew0 ew1 ew2" "$(taps ew)"
pt_assert_rc "destroy --wait, names after the go" 0 pc_helper user destroy --wait <<<"$(printf 'go\new0\new2')"
pt_assert_eq "what it destroyed, on stdout" "$(printf 'ew0\new2')" "$PT_OUT"
pt_assert_eq "left" ew1 "$(taps ew)"
pt_assert_rc "destroy ew1" 0 pc_helper user destroy ew1
pt_ok "ptap-helper --wait acts on its go only"

# ---- 2. waiting, it holds no lock --------------------------------------------------------
mkfifo "$PC_TMP/go"
# The writer, a process of its own (nobody else inherits its end): the
# helper waits for as long as it lives.
sleep 60 >"$PC_TMP/go" &
SPID=$!
PC_PIDS+=("$SPID")
pc_helper user create --wait -- eq%d <"$PC_TMP/go" >/dev/null 2>&1 &
WPID=$!
PC_PIDS+=("$WPID")
sleep 0.5
kill -0 "$WPID" 2>/dev/null || pt_fail "the waiting helper is gone"
t0=$SECONDS
pt_assert_rc "another create while a helper waits for its go" 0 ptap_user create eqx0
[ $((SECONDS - t0)) -lt 5 ] || pt_fail "the create waited $((SECONDS - t0)) s behind a waiting helper"
kill "$SPID" # end of file
rc=0
wait "$WPID" || rc=$?
pt_assert_eq "the waiting helper, let go" 75 "$rc"
pt_assert_eq "it made nothing" "eqx0" "$(taps eq)"
pt_assert_rc "destroy eqx0" 0 ptap_user destroy eqx0
pt_ok "a helper waiting for its go blocks nobody"

# ---- 3. ptap takes the early helper, or starts another -----------------------------------
PC_PTAP_HELPER=$(pc_logging_helper)
pt_assert_rc "create --count 3" 0 ptap_root create 'e%d' --count 3
pt_assert_eq "one helper run, the early one" "create --wait --count 3 --owner 0 -- e%d" \
    "$(cat "$PC_TMP/helper.log")"
: >"$PC_TMP/helper.log"
pt_assert_rc "destroy e1 e2" 0 ptap_root destroy e1 e2
pt_assert_eq "one helper run, the early one" "destroy --wait -- e1 e2" "$(cat "$PC_TMP/helper.log")"
pt_assert_eq "left" e0 "$(taps 'e[0-9]')"

# A tap gone behind ptap's back: the helper is asked for less than it was
# started with, so that one does nothing and another one runs.
pt_assert_rc "create e5" 0 ptap_root create e5
ip -n "$PC_NS" link del e5
: >"$PC_TMP/helper.log"
pt_assert_rc "destroy e5 e0 (e5 is gone)" 0 ptap_root destroy e5 e0
pt_assert_eq "the early run (unused), then the one that acted" \
    "$(printf '%s\n' 'destroy --wait -- e5 e0' 'destroy -- e0')" "$(cat "$PC_TMP/helper.log")"
pt_assert_eq "nothing left" "" "$(taps 'e[0-9]')"
pc_check root "$PC_ROOT_STATE" "after the destroy of a tap gone behind ptap's back"

# The journal locked for 2 s: ptap waits for it, and the helper started
# before is not used any more (it checked a state of 2 s ago).
jid=$(pc_jid root "$PC_ROOT_STATE")
ip netns exec "$PC_NS" flock "$PC_ROOT_STATE/journal.lock" sleep 2 &
LPID=$!
PC_PIDS+=("$LPID")
sleep 0.3
: >"$PC_TMP/helper.log"
pt_assert_rc "create ez0 behind a busy journal lock" 0 ptap_root create ez0
wait "$LPID" || true
pt_assert_eq "two helper runs" 2 "$(wc -l <"$PC_TMP/helper.log")"
pt_assert_eq "the first, early, unused" "create --wait --owner 0 -- ez0" "$(sed -n 1p "$PC_TMP/helper.log")"
grep -Eq "^create --owner 0 --tag $jid:[^ ]+ -- ez0\$" <<<"$(sed -n 2p "$PC_TMP/helper.log")" ||
    pt_fail "the second run is not a fresh create with its tag: $(sed -n 2p "$PC_TMP/helper.log")"
pt_assert_eq "ez0 carries its operation's mark" 1 "$(pc_kernel_taps "$jid" | grep -c '^ez0$')"
PC_PTAP_HELPER=
pt_assert_rc "destroy ez0" 0 ptap_root destroy ez0
pc_check root "$PC_ROOT_STATE" "after the busy lock"
# A helper older than --wait (it refuses the option): ptap starts it again
# the old way, and the user sees nothing of it.
printf '#!/bin/sh\nfor a in "$@"; do [ "$a" = --wait ] && { echo "ptap-helper: unknown option '"'"'--wait'"'"'" >&2; exit 64; }; done\nexec "%s" "$@"\n' \
    "$PC_HELPER" >"$PC_TMP/old-helper"
chmod 0755 "$PC_TMP/old-helper"
PC_PTAP_HELPER=$PC_TMP/old-helper
pt_assert_rc "create through a helper without --wait" 0 ptap_root create 'eo%d' --count 2
pt_assert_eq "its taps" "eo0 eo1" "$(taps eo)"
pt_assert_rc "destroy through a helper without --wait" 0 ptap_root destroy eo0 eo1
PC_PTAP_HELPER=
pt_assert_eq "gone" "" "$(taps eo)"
pt_ok "ptap uses its early helper when it asks for the same, and only then"

# ---- 4. ptap killed after its intent, before the go --------------------------------------
rc=0
PTAP_FAULT=create-after-intent ptap_root create ek%d --count 2 >/dev/null 2>&1 || rc=$?
pt_assert_eq "create killed after its intent" 137 "$rc"
for ((i = 0; i < 30; i++)); do
    [ -z "$(other_helpers)" ] && break
    sleep 0.1
done
pt_assert_eq "no helper left 3 s after ptap died" "" "$(other_helpers | xargs)"
pt_assert_eq "no tap made" "" "$(taps ek)"
pt_assert_rc "recover" 0 ptap_root recover
pc_check root "$PC_ROOT_STATE" "after a create killed before its go"
pt_ok "a ptap killed before the go leaves no tap and no helper"

# ---- 5. the helper's view ----------------------------------------------------------------
pt_assert_rc "three taps" 0 pc_helper user create --count 3 -- ev%d
pt_assert_rc "destroy --wait --view, end of file" 75 pc_helper user destroy --wait --view ev0 nosuch0 ev2 </dev/null
pt_assert_eq "a line for each NAME that is a link, then end" "ev0 ev2 end" \
    "$(awk '{ print $1 == "link" ? $3 : $1 }' <<<"$PT_OUT" | xargs)"
read -r _ idx name kind flags owner _ queues _ _ _ mtu _ alias <<<"$(grep '^link [0-9]* ev0 ' <<<"$PT_OUT")"
pt_assert_eq "its ifindex" "$(ip -n "$PC_NS" -j link show ev0 | jq '.[0].ifindex')" "$idx"
pt_assert_eq "its kind" tun "$kind"
pt_assert_match "a tap" "p" "$flags"
pt_assert_eq "its owner" "$PC_UID" "$owner"
pt_assert_eq "no queue attached" 0 "$queues"
pt_assert_eq "its MTU" 1500 "$mtu"
pt_assert_eq "its mark" "$(mark_of ev0)" "$alias"
pt_assert_eq "nothing destroyed" "ev0 ev1 ev2" "$(taps ev)"
pt_assert_rc "--view without --wait" 64 pc_helper user destroy --view ev0
pt_assert_rc "--view with the names after the go, end of file" 75 pc_helper user destroy --wait --view </dev/null
pt_assert_eq "then every link is in the view" "$(ip -n "$PC_NS" -br link show | awk '{ sub(/@.*/, "", $1); print $1 }' | sort | xargs) end" \
    "$(awk '$1 == "link" { print $3 }' <<<"$PT_OUT" | sort | xargs) $(tail -n 1 <<<"$PT_OUT")"
pt_assert_rc "--view of a create" 64 pc_helper user create --wait --view -- ev%d </dev/null
# An alias with a blank (set behind ptap's back) cannot forge a line: it is
# left out of the view.
ip -n "$PC_NS" link set ev1 alias "ptap:u$PC_UID
link 1 forged"
pt_assert_rc "the view of a tap with a forged alias" 75 pc_helper user destroy --wait --view ev1 </dev/null
pt_assert_eq "one line, its alias left out, then end" "ev1 - end" \
    "$(awk '{ print $1 == "link" ? $3 " " $14 : $1 }' <<<"$PT_OUT" | xargs)"
ip -n "$PC_NS" link del ev1
pt_assert_rc "destroy --wait --view, 'go'" 0 pc_helper user destroy --wait --view ev0 ev2 <<<"go"
pt_assert_eq "the view, then what it destroyed" "ev0 ev2 end ev0 ev2" \
    "$(awk '{ print $1 == "link" ? $3 : $1 }' <<<"$PT_OUT" | xargs)"
pt_assert_eq "destroyed" "" "$(taps ev)"

# ptap: a destroy of 40 names takes the helper's view and dumps nothing
# itself (strace: its own RTM_GETLINK dumps, against the helper's).
PC_PTAP_HELPER=$(pc_logging_helper)
pt_assert_rc "create 40" 0 ptap_root create 'evc%d' --count 40
mapfile -t names < <(seq 0 39 | sed 's/^/evc/')
: >"$PC_TMP/helper.log"
PC_ENV=(strace -f -qq -e trace=execve,sendmsg,sendto -e signal=none -o "$PC_TMP/strace")
pt_assert_rc "destroy of 40 names" 0 ptap_root destroy "${names[@]}"
PC_ENV=()
pt_assert_eq "one helper run, with --view" "destroy --wait --view -- ${names[*]}" "$(cat "$PC_TMP/helper.log")"
cli=$(awk 'NR == 1 { print $1 }' "$PC_TMP/strace") # its first line: ptap's execve
dumps() { grep 'RTM_GETLINK' "$PC_TMP/strace" | grep 'NLM_F_DUMP' | awk -v p="$cli" "\$1 $1 p" | wc -l; }
pt_assert_eq "ptap dumped no links itself" 0 "$(dumps ==)"
[ "$(dumps !=)" -ge 1 ] || pt_fail "strace saw no dump by the helper either: $(head -c 600 "$PC_TMP/strace")"
pt_assert_eq "all 40 destroyed" "" "$(taps evc)"
pc_check root "$PC_ROOT_STATE" "after a destroy by the helper's view"
# recover: its helper (names after the go) prints every link it dumped.
jid=$(pc_jid root "$PC_ROOT_STATE")
pt_assert_rc "3 orphans of this journal" 0 pc_helper root create --count 3 --tag "$jid:orphans" -- evo%d
: >"$PC_TMP/helper.log"
PC_ENV=(strace -f -qq -e trace=execve,sendmsg,sendto -e signal=none -o "$PC_TMP/strace")
pt_assert_rc "recover" 0 ptap_root recover
PC_ENV=()
pt_assert_eq "one helper run, with --view" "destroy --wait --view" "$(cat "$PC_TMP/helper.log")"
cli=$(awk 'NR == 1 { print $1 }' "$PC_TMP/strace")
pt_assert_eq "recover dumped no links itself" 0 "$(dumps ==)"
pt_assert_eq "the orphans removed" "" "$(taps evo)"
pc_check root "$PC_ROOT_STATE" "after a recover by the helper's view"

# A view that does not come whole (here: a line before it that is not a
# link) is not used, nor is its helper: a fresh one does the destroy.
printf '#!/bin/sh\necho "$*" >>"%s"\ncase " $* " in *" --view "*) echo "link 1 x";; esac\nexec "%s" "$@"\n' \
    "$PC_TMP/helper.log" "$PC_HELPER" >"$PC_TMP/bad-view-helper"
chmod 0755 "$PC_TMP/bad-view-helper"
PC_PTAP_HELPER=$PC_TMP/bad-view-helper
pt_assert_rc "create 40" 0 ptap_root create 'evb%d' --count 40
mapfile -t names < <(seq 0 39 | sed 's/^/evb/')
: >"$PC_TMP/helper.log"
pt_assert_rc "destroy of 40 names past a spoiled view" 0 ptap_root destroy "${names[@]}"
PC_PTAP_HELPER=
pt_assert_eq "the early run (not told to go), then a fresh one" \
    "$(printf '%s\n' "destroy --wait --view -- ${names[*]}" "destroy -- ${names[*]}")" "$(cat "$PC_TMP/helper.log")"
pt_assert_eq "all 40 destroyed" "" "$(taps evb)"
pc_check root "$PC_ROOT_STATE" "after a spoiled view"
pt_ok "the helper's view: what it sees, before it waits; ptap judges by it"

# ---- 6. a view older than another ptap's change is not used ------------------------------
# A create held at a gate: its helper (a wrapper) waits for a file before
# it runs, so the create holds the journal lock with its intent written.
printf '#!/bin/sh\nwhile [ ! -e "%s" ]; do sleep 0.05; done\nexec "%s" "$@"\n' \
    "$PC_TMP/gate" "$PC_HELPER" >"$PC_TMP/gated-helper"
chmod 0755 "$PC_TMP/gated-helper"
PC_PTAP_HELPER=$PC_TMP/gated-helper
ptap_root create ecr0 >"$PC_TMP/gated-create.out" 2>&1 &
GPID=$!
PC_PIDS+=("$GPID")
PC_PTAP_HELPER=
sleep 0.5
# A recover meanwhile: its helper starts and dumps the links (no ecr0
# yet), then the recover waits for the lock.
ptap_root recover --json >"$PC_TMP/gated-recover.out" 2>"$PC_TMP/gated-recover.err" &
RPID=$!
PC_PIDS+=("$RPID")
sleep 0.3 # (within the second an early helper is used for)
pt_assert_eq "no ecr0 yet" "" "$(taps ecr)"
: >"$PC_TMP/gate" # the create goes on, makes ecr0, writes its outcome
wait "$GPID" || pt_fail "the gated create failed: $(cat "$PC_TMP/gated-create.out")"
wait "$RPID" || pt_fail "the recover failed: $(cat "$PC_TMP/gated-recover.err")"
pt_assert_eq "ecr0 made" ecr0 "$(taps ecr)"
pt_assert_json "the recover did nothing to ecr0's record" "$(cat "$PC_TMP/gated-recover.out")" \
    '[.records[] | select(.name == "ecr0")] | length == 0'
pt_assert_json "ecr0 is ready on record" "$(ptap_root list --json)" \
    '[.records[] | select(.name == "ecr0" and .state == "ready")] | length == 1'
pt_assert_rc "destroy ecr0" 0 ptap_root destroy ecr0
pc_check root "$PC_ROOT_STATE" "after a recover that waited behind a create"
pt_ok "a view older than another ptap's change is not used"

# The helper that nobody read: gone after 30 s, having done nothing.
for ((i = 0; i < 400; i++)); do
    [ -s "$PC_TMP/view-rc" ] && break
    sleep 0.1
done
pt_assert_eq "a view nobody reads: the helper gives up, nothing done" 75 "$(cat "$PC_TMP/view-rc" 2>/dev/null)"
elapsed=$((SECONDS - view_t0))
[ "$elapsed" -ge 29 ] && [ "$elapsed" -le 38 ] || pt_fail "it gave up after $elapsed s, not 30"
pt_assert_match "it says why" "the view was not read within 30 s: nothing done" "$(cat "$PC_TMP/view-err")"
pt_assert_eq "the 1500 taps are all there" 1500 "$(ip -n "$PC_NS" -br link show | grep -c '^fill')"
pt_ok "a view nobody reads keeps the helper 30 s, no longer"
