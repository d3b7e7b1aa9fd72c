#!/usr/bin/env bash
# The ptap command's surface: --help, --version, usage errors and their
# exit codes (64), a damaged journal (78), a missing state directory (78).
# Touches no network device and no default state directory: every run
# names a state directory under a temp dir.
source "$(dirname "$0")/../lib/common.sh"
: "${PTAP_BIN:?PTAP_BIN must name the built ptap}"
[ -x "$PTAP_BIN" ] || pt_fail "no ptap at '$PTAP_BIN'"

T=$PT_TMP
SD=$T/state

# P ARGS...: the built ptap, stdin closed (checked with pt_assert_rc).
P() { "$PTAP_BIN" "$@" </dev/null; }
# usage WHAT NEEDLE ARGS...: a usage error: 64, nothing on stdout, a
# message naming NEEDLE, and no journal made.
usage() {
    local what=$1 needle=$2
    shift 2
    pt_assert_rc "$what" 64 P "$@"
    # With --json, the one document is the error; else stdout stays empty.
    if printf '%s\n' "$@" | grep -qx -- --json; then
        pt_assert_json "$what: the JSON error" "$PT_OUT" '.version == 1 and .error.code == 64'
    else
        [ -z "$PT_OUT" ] || pt_fail "$what: usage error printed on stdout: $PT_OUT"
    fi
    grep -qF -- "$needle" <<<"$PT_ERR" || pt_fail "$what: message '$PT_ERR' does not name '$needle'"
    [ ! -e "$SD" ] || pt_fail "$what: a usage error created the state directory"
}

# ---- --help and --version ---------------------------------------------------------
for h in --help -h; do
    pt_assert_rc "$h" 0 P "$h"
    grep -q '^Usage: ptap ' <<<"$PT_OUT" || pt_fail "$h: no usage line"
    for c in create destroy list recover forget journal; do
        grep -qE "^  $c( |$)" <<<"$PT_OUT" || pt_fail "$h does not list '$c'"
    done
    grep -q '64' <<<"$PT_OUT" && grep -q '78' <<<"$PT_OUT" || pt_fail "$h does not list the exit codes"
    [ -z "$PT_ERR" ] || pt_fail "$h wrote on stderr: $PT_ERR"
done
version=$(sed -n 's/^project(ptap VERSION \([0-9.]*\).*/\1/p' "$PT_SOURCE_DIR/CMakeLists.txt")
for v in --version -V; do
    pt_assert_rc "$v" 0 P "$v"
    pt_assert_eq "$v" "ptap $version" "$PT_OUT"
done
# `ptap CMD --help`: the command's synopsis, exit 0, no journal touched.
for c in create destroy list recover forget journal release; do
    pt_assert_rc "$c --help" 0 P --state-dir "$SD" "$c" --help
    grep -q "^Usage: ptap .*$c" <<<"$PT_OUT" || pt_fail "'ptap $c --help' printed: $PT_OUT"
    [ ! -e "$SD" ] || pt_fail "'ptap $c --help' created the state directory"
done

# Every command's --help names each of its options (and the global ones) on
# a line of its own, with what it means; its grammar names each of its own
# options too. OPTS is what each command accepts: an option missing from
# the help, or one the help names that is not here, fails.
GLOBALS="state-dir wait json verbose help"
declare -A OPTS=(
    [create]="count owner group bridge network connect mtu mac multi-queue vnet-hdr"
    [destroy]="force" [list]="" [forget]=""
    [attach]="tap bridge network mtu multi-queue vnet-hdr mac model queues vhost id bus method connect timeout persistent"
    [detach]="tap id mac keep-tap timeout connect"
    [release]="uuid connect force"
    [recover]="dry-run"
    [watch]="grace syslog netlink-buffer"
    [journal]="" [help]=""
    [hook-prepare]="uuid connect qemu-conf network-dir"
    [hook-started]="uuid connect pid-file"
    [hook-stopped]="uuid connect status"
)
for c in "${!OPTS[@]}"; do
    pt_assert_rc "$c --help" 0 P --state-dir "$SD" "$c" --help
    [ -z "$PT_ERR" ] || pt_fail "'ptap $c --help' wrote on stderr: $PT_ERR"
    grammar=$(echo "$PT_OUT" | sed -n '/^Usage: /,/^[^ U]/p' | sed '$d')
    grep -q "^Usage: ptap .* $c\( \|$\)" <<<"$grammar" || pt_fail "'ptap $c --help': no usage line: $PT_OUT"
    labels=$(echo "$PT_OUT" | grep -E '^  (-[a-zA-Z], )?--[a-z-]+' | sed -E 's/^  (-[a-zA-Z], )?--([a-z-]+).*/\2/' | sort)
    pt_assert_eq "'ptap $c --help' option lines" "$(printf '%s\n' ${OPTS[$c]} $GLOBALS | sort)" "$labels"
    for o in ${OPTS[$c]} $GLOBALS; do
        # A meaning: text after the label, or on the next (indented) line.
        # A here-string, not a pipe: awk exits at its answer, and a pipe's
        # writer would then die of SIGPIPE (pipefail).
        awk -v o="$o" '
            label { ok = $0 ~ /^      +[^ ]/; exit }
            $0 ~ "^  (-[a-zA-Z], )?--" o "( [^ ]+)?( |$)" {
                sub("^  (-[a-zA-Z], )?--" o "( [^ ]+)?", "")
                if ($0 ~ /[^ ]/) { ok = 1; exit }
                label = 1 }
            END { exit !ok }' <<<"$PT_OUT" || pt_fail "'ptap $c --help' does not say what --$o means"
    done
    for o in ${OPTS[$c]}; do
        grep -qE -- "--$o( |\]|\)|$)" <<<"$grammar" || pt_fail "'ptap $c --help': grammar does not name --$o"
    done
done
# Each command's own options are listed by `ptap --help` too.
pt_assert_rc "--help" 0 P --help
for c in "${!OPTS[@]}"; do
    for o in ${OPTS[$c]}; do
        grep -qE -- "--$o( |\]|\)|$)" <<<"$PT_OUT" || pt_fail "'ptap --help' does not name $c --$o"
    done
done

# The manual pages document every command and every option: ptap(1), and
# ptap-watch(8) for watch's own (roff writes --opt as \-\-opt).
roff_opt() { printf '%s' "\\-\\-${1//-/\\-}"; }
for c in "${!OPTS[@]}"; do
    cr=${c//-/'\\-'} # roff writes hook-prepare as hook\-prepare
    grep -qE "^\.B ($c|$cr)( |$)" "$PT_SOURCE_DIR/docs/ptap.1" || pt_fail "ptap(1) does not document '$c'"
    page=$PT_SOURCE_DIR/docs/ptap.1
    [ "$c" = watch ] && page=$PT_SOURCE_DIR/docs/ptap-watch.8
    for o in ${OPTS[$c]}; do
        grep -qF -- "$(roff_opt "$o")" "$page" || pt_fail "$(basename "$page") does not document $c --$o"
    done
done
for o in $GLOBALS version; do
    grep -qF -- "$(roff_opt "$o")" "$PT_SOURCE_DIR/docs/ptap.1" || pt_fail "ptap(1) does not document --$o"
done
exit_status=$(sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$PT_SOURCE_DIR/docs/ptap.1")
for code in 0 1 64 69 71 75 77 78; do
    grep -qx "\.B $code" <<<"$exit_status" ||
        pt_fail "ptap(1) EXIT STATUS does not list $code"
done
grep -q '^\.SH JSON OUTPUT' "$PT_SOURCE_DIR/docs/ptap.1" || pt_fail "ptap(1) has no JSON OUTPUT section"

# `ptap help` is `ptap --help`; `ptap help CMD` is `ptap CMD --help`.
pt_assert_rc "--help" 0 P --help
main_help=$PT_OUT
pt_assert_rc "help" 0 P help
pt_assert_eq "'ptap help' is 'ptap --help'" "$main_help" "$PT_OUT"
grep -qE '^  help \[COMMAND\]' <<<"$main_help" || pt_fail "'ptap --help' does not list 'help'"
for c in "${!OPTS[@]}"; do
    pt_assert_rc "$c --help" 0 P "$c" --help
    cmd_help=$PT_OUT
    pt_assert_rc "help $c" 0 P --state-dir "$SD" help "$c"
    pt_assert_eq "'ptap help $c' is 'ptap $c --help'" "$cmd_help" "$PT_OUT"
    [ ! -e "$SD" ] || pt_fail "'ptap help $c' created the state directory"
done
grep -qE '1 list found problems' <<<"$main_help" || pt_fail "'ptap --help' does not say what exit 1 means"

# ---- usage errors: 64 --------------------------------------------------------------
usage "help: an unknown command" "'frob'" --state-dir "$SD" help frob
usage "help: two commands" "at most one" --state-dir "$SD" help list create
# A TARGET with a scheme ptap does not know is refused, not taken for a
# libvirt domain's name.
for c in attach "detach --tap ptap0" release; do
    usage "$c: an unknown TARGET scheme" "unknown TARGET scheme 'foo:'" --state-dir "$SD" $c foo:/x
    usage "$c: an unknown TARGET scheme (--json)" "unknown TARGET scheme 'unix:'" --state-dir "$SD" $c unix:/x --json
done
pt_assert_rc "no command" 64 P
[ -z "$PT_OUT" ] || pt_fail "no command: usage went to stdout"
grep -q '^Usage: ptap' <<<"$PT_ERR" || pt_fail "no command: no usage on stderr"
usage "unknown command" "'frobnicate'" --state-dir "$SD" frobnicate
grep -qF -- "'ptap --help'" <<<"$PT_ERR" || pt_fail "unknown command: no pointer to 'ptap --help'"
usage "unknown global option" "--bogus" --bogus list
grep -qF -- "'ptap --help'" <<<"$PT_ERR" || pt_fail "unknown option: no pointer to 'ptap --help'"
usage "--state-dir without a value" "state-dir" --state-dir
usage "unknown create option" "invalid option" --state-dir "$SD" create --bogus
usage "create: two templates" "TEMPLATE" --state-dir "$SD" create 'a%d' 'b%d'
usage "create: --count missing" "count" --state-dir "$SD" create 'a%d' --count
usage "create: --count not a number" "'many'" --state-dir "$SD" create 'a%d' --count many
usage "create: --count 0" "'0'" --state-dir "$SD" create 'a%d' --count 0
usage "create: --count too big" "'16385'" --state-dir "$SD" create 'a%d' --count 16385
usage "create: --count negative" "'-1'" --state-dir "$SD" create 'a%d' --count -1
usage "create: --mtu too big" "'65522'" --state-dir "$SD" create a0 --mtu 65522
usage "create: --mtu with junk" "'1500x'" --state-dir "$SD" create a0 --mtu 1500x
usage "create: unknown owner" "'ptaptest-nosuchuser'" --state-dir "$SD" create a0 --owner ptaptest-nosuchuser
usage "create: unknown group" "'ptaptest-nosuchgroup'" --state-dir "$SD" create a0 --group ptaptest-nosuchgroup
usage "destroy: no name" "NAME" --state-dir "$SD" destroy
usage "destroy: bad name" "'a b'" --state-dir "$SD" destroy 'a b'
usage "destroy: name too long" "'abcdefghijklmnop'" --state-dir "$SD" destroy abcdefghijklmnop
usage "destroy: a template" "'a%d'" --state-dir "$SD" destroy 'a%d'
usage "forget: no name" "NAME" --state-dir "$SD" forget
usage "forget: bad name" "'x/y'" --state-dir "$SD" forget x/y
usage "list: an argument" "'extra'" --state-dir "$SD" list extra
usage "recover: an argument" "'extra'" --state-dir "$SD" recover extra
usage "recover: unknown option" "invalid option" --state-dir "$SD" recover --force
usage "journal: no subcommand" "dump" --state-dir "$SD" journal
usage "journal: unknown subcommand" "'frob'" --state-dir "$SD" journal frob
usage "journal: two subcommands" "dump" --state-dir "$SD" journal dump check
usage "release: no target" "TARGET" --state-dir "$SD" release

# Every option given twice is refused, before anything happens (the
# helper's rule and wording), whatever its position; so is one that is
# not in the command's table, and a value where none is taken.
declare -A VAL=(
    [count]=2 [owner]=0 [group]=0 [bridge]=br0 [mtu]=1500 [mac]=52:54:00:12:34:56
    [tap]=ptap0 [model]=e1000 [queues]=2 [id]=nic0 [method]=device [connect]=qemu:///system
    [timeout]=5 [grace]=5 [netlink-buffer]=65536 [state-dir]=$SD [network]=default [bus]=rp1
    [uuid]=5f1e0f6e-0000-4000-8000-000000000001
    [qemu-conf]=/etc/libvirt/qemu.conf [network-dir]=/run/libvirt/network [status]=/x.xml [pid-file]=/x.pid
)
for c in "${!OPTS[@]}"; do
    for o in ${OPTS[$c]} state-dir json verbose; do
        if [ -n "${VAL[$o]:-}" ]; then
            a=(--$o "${VAL[$o]}" --$o "${VAL[$o]}")
        else
            a=(--$o --$o)
        fi
        usage "$c: --$o twice" "ptap $c: option '--$o' given twice" "$c" x "${a[@]}"
    done
    usage "$c: unknown option" "ptap $c: invalid option '--bogus'" --state-dir "$SD" "$c" --bogus
    usage "$c: unknown short option" "ptap $c: invalid option '-x'" --state-dir "$SD" "$c" -x
    usage "$c: --json=1" "option '--json' takes no value" --state-dir "$SD" "$c" --json=1
done
usage "global option twice" "ptap: option '--json' given twice" --json --json list
usage "global option before and after" "ptap list: option '--json' given twice" --json list --json
usage "--state-dir before and after" "ptap list: option '--state-dir' given twice" \
    --state-dir "$SD" list --state-dir "$SD"
usage "-v twice" "ptap list: option '--verbose' given twice" -v list --verbose
usage "an abbreviation twice" "ptap create: option '--bridge' given twice" create --br br0 --bridge br1
usage "ambiguous abbreviation" "ptap attach: option '--m' is ambiguous" attach x --m 1
usage "attach: --mtu out of range" "invalid --mtu '67': expected 68..65521" attach x --mtu 67
usage "attach: --queues out of range" "invalid --queues '65': expected 1..64" attach x --queues 65
usage "attach: --timeout out of range" "invalid --timeout '0': expected 1..3600 seconds" attach x --timeout 0
usage "detach: two selectors" "exactly one of --tap, --id or --mac" detach x --tap a --id b
usage "watch: --grace out of range" "invalid --grace '86401': expected 0..86400 seconds" watch --grace 86401
usage "watch: --netlink-buffer too small" "invalid --netlink-buffer '4095': expected 4096..67108864 bytes" \
    watch --netlink-buffer 4095
usage "watch: an argument" "'extra'" --state-dir "$SD" watch extra
# A state directory path too long for the buffer is refused, not cut
# (a cut path could name another directory): /tmp/... then 4,100 bytes.
long=$T/$(printf 'x%.0s' $(seq 1 4100))
usage "--state-dir too long" "--state-dir" --state-dir "$long" list

# ---- options after arguments, global options after the command -----------------------
pt_assert_rc "list --json" 0 P --state-dir "$SD" list --json
pt_assert_eq "empty list" "[]" "$(echo "$PT_OUT" | jq -c .records)"
pt_assert_rc "--json before the command" 0 P --json --state-dir "$SD" list
pt_assert_eq "empty list (global --json)" "[]" "$(echo "$PT_OUT" | jq -c .records)"
pt_assert_rc "--state-dir after the command" 0 P recover --json --state-dir "$SD" --dry-run
pt_assert_eq "nothing to recover" "[]" "$(echo "$PT_OUT" | jq -c .records)"
pt_assert_rc "journal check, fresh" 0 P --state-dir "$SD" journal check
grep -q "nothing on record" <<<"$PT_OUT" || pt_fail "journal check said: $PT_OUT"
[ ! -e "$SD/journal.xml" ] || pt_fail "a read-only command created a journal in '$SD'"
pt_assert_rc "journal dump, fresh" 0 P --state-dir "$SD" journal dump
grep -q "0 live record" <<<"$PT_OUT" || pt_fail "journal dump said: $PT_OUT"
pt_assert_rc "journal compact, fresh" 0 P --state-dir "$SD" journal compact
pt_assert_eq "state dir mode" 700 "$(stat -c %a "$SD")"

# ---- unsafe or damaged state: 78 -------------------------------------------------------
cp "$SD/journal.xml" "$T/good.xml"
printf '<tap seq="999" state="bogus"/>\n<tap seq="1000" name="x"/>\n' >>"$SD/journal.xml"
pt_assert_rc "damaged journal: list" 78 P --state-dir "$SD" list
grep -qF "$SD" <<<"$PT_ERR" || pt_fail "damaged journal: message '$PT_ERR' does not name the directory"
pt_assert_rc "damaged journal: check" 78 P --state-dir "$SD" journal check
grep -qF "journal.xml" <<<"$PT_ERR" || pt_fail "journal check: message '$PT_ERR' does not name the file"
cp "$T/good.xml" "$SD/journal.xml"
pt_assert_rc "repaired journal" 0 P --state-dir "$SD" journal check

# A state directory whose parent is missing, or that is a file: 78.
pt_assert_rc "state dir without parent" 78 P --state-dir "$T/no/such/dir" list
grep -qF "$T/no/such/dir" <<<"$PT_ERR" || pt_fail "state dir without parent: message '$PT_ERR' does not name it"
[ ! -e "$T/no" ] || pt_fail "a missing parent was created"
touch "$T/file"
pt_assert_rc "state dir is a file" 78 P --state-dir "$T/file" create a0
grep -qF "$T/file" <<<"$PT_ERR" || pt_fail "state dir is a file: message '$PT_ERR' does not name it"

# A user without XDG_RUNTIME_DIR and without --state-dir: told what to do.
if [ "$(id -u)" -eq 0 ]; then
    u=$(pt_user_ensure ptaptest-cli)
    got=0
    err=$(cd / && env -u XDG_RUNTIME_DIR setpriv --reuid "$u" --regid "$u" --init-groups -- \
          "$PTAP_BIN" list 2>&1 >/dev/null) || got=$?
else
    got=0
    err=$(env -u XDG_RUNTIME_DIR "$PTAP_BIN" list 2>&1 >/dev/null) || got=$?
fi
pt_assert_eq "no XDG_RUNTIME_DIR: exit code" 78 "$got"
grep -q -- "--state-dir" <<<"$err" || pt_fail "no XDG_RUNTIME_DIR: message '$err' does not suggest --state-dir"
echo "ok: ptap usage, help, version and exit codes"
