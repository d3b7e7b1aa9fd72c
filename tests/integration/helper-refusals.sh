#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every refusal of ptap-helper returns its exit code, names the object and
# the reason, and leaves the kernel exactly as it was (`ip -d link` before
# and after). Both install modes, a real unprivileged caller.
. "$(dirname "$0")/../lib/common.sh"
pt_require_root
pt_tun_world_rw

U1=ptaptest-r1
U2=ptaptest-r2
U3=ptaptest-r3 # denied by name
uid1=$(pt_user_ensure $U1)
pt_user_ensure $U2 >/dev/null
pt_user_ensure $U3 >/dev/null
pt_netns_new hrefuse
pt_ns ip link add br0 type bridge
pt_ns ip link add brx type bridge
pt_ns ip link add ve0 type veth peer name ve1
pt_ns ip link set br0 up
# Devices the helper must never destroy: lo, a bridge, a veth "NIC", a
# hand-made tap (even one owned by the caller), a tap with a foreign alias.
pt_ns ip tuntap add dev handtap mode tap user $U1
pt_ns ip tuntap add dev fakemark mode tap user $U1
pt_ns ip link set fakemark alias "ptap:bad tag"

POL=$(pt_policy_dir "allow user $U1 bridge br0 max 2
allow user $U1 bridge brx
allow user $U1 bridge none max 2
allow user $U3 bridge br0
deny user $U3
deny bridge brx")

for mode in setuid cap; do
    H=$(pt_helper_install $mode)
    # One tap U1 owns and one U2 owns (made by root), for the ownership cases.
    pt_helper root "$POL" "$H" create mine --owner $U1 >/dev/null
    pt_helper root "$POL" "$H" create theirs --owner $U2 >/dev/null
    # A new tap reports its carrier loss asynchronously (linkwatch): let it.
    for _ in $(seq 100); do
        [ "$(pt_ns cat /sys/class/net/mine/operstate /sys/class/net/theirs/operstate | sort -u)" = down ] && break
        sleep 0.05
    done
    BEFORE=$(pt_links)

    refuse() { # refuse RC REGEX AS ARGS...
        local rc=$1 re=$2 as=$3
        shift 3
        pt_assert_rc "$mode: $*" "$rc" pt_helper "$as" "$POL" "$H" "$@"
        pt_assert_match "$mode: message of '$*'" "$re" "$PT_ERR"
        pt_assert_unchanged "$mode: $*" "$BEFORE"
    }

    # 64: usage and invalid input
    refuse 64 "no command given" $U1
    refuse 64 "unknown command 'frob'" $U1 frob
    refuse 64 "unknown option '--frob'" $U1 create x --frob
    refuse 64 "option '--mtu' needs a value" $U1 create x --mtu
    refuse 64 "given twice" $U1 create x --mtu 1500 --mtu 1400
    refuse 64 "'create' takes exactly one NAME" $U1 create a b
    refuse 64 "'create' takes exactly one NAME" $U1 create
    refuse 64 "cannot create '1234567890123456': interface name too long" $U1 create 1234567890123456
    refuse 64 "cannot create 'a/b': interface name contains a forbidden character" $U1 create a/b
    refuse 64 "cannot create '..'" $U1 create ..
    refuse 64 "cannot create 'a%db'" $U1 create 'a%db'
    refuse 64 "needs a template" $U1 create plain --count 2
    refuse 64 "invalid count '0'" $U1 create 'p%d' --count 0
    refuse 64 "invalid count '16385'" $U1 create 'p%d' --count 16385
    refuse 64 "invalid count '3x'" $U1 create 'p%d' --count 3x
    refuse 64 "invalid MTU '67'" $U1 create x --mtu 67
    refuse 64 "invalid MTU '65522'" $U1 create x --mtu 65522
    refuse 64 "invalid MTU '-1'" $U1 create x --mtu -1
    refuse 64 "invalid MAC address '01:00:5e:00:00:01': multicast" $U1 create x --mac 01:00:5e:00:00:01
    refuse 64 "invalid MAC address 'zz'" $U1 create x --mac zz
    refuse 64 "one '--mac' for 2 taps" $U1 create 'p%d' --count 2 --mac 52:54:00:00:00:01
    refuse 64 "invalid tag 'a b'" $U1 create x --tag 'a b'
    refuse 64 "invalid bridge name" $U1 create x --bridge 'b/r'
    refuse 64 "unknown user 'ptaptest-nosuch'" $U1 create x --owner ptaptest-nosuch
    refuse 64 "unknown group 'ptaptest-nosuch'" $U1 create x --group ptaptest-nosuch
    refuse 64 "'--json' is an option of 'list' only" $U1 create x --json
    refuse 64 "takes none of the create options" $U1 destroy mine --mtu 1500
    refuse 64 "either NAMEs or '--tag TAG'" $U1 destroy mine --tag t
    refuse 64 "needs at least one NAME" $U1 destroy
    refuse 64 "cannot destroy 'nosuch': no such interface" $U1 destroy nosuch
    refuse 64 "cannot create 'x': bridge 'br9' does not exist" root create x --bridge br9
    refuse 64 "cannot create 'x': interface 've0' is not a bridge" root create x --bridge ve0
    pt_ok "$mode: invalid input refused with 64, kernel unchanged"

    # 77: denied (ownership rules, policy, marks)
    refuse 77 "only root may create a tap owned by another user" $U1 create x --owner $U2
    refuse 77 "only root may create a tap owned by another user" $U1 create x --owner 0
    refuse 77 "gid 0 is not one of the caller's groups" $U1 create x --group root
    refuse 77 "uid [0-9]+ is denied by /etc/ptap/helper.conf:5" $U3 create x --bridge br0
    refuse 77 "bridge .brx. is denied by /etc/ptap/helper.conf:6" $U1 create x --bridge brx
    refuse 77 "no rule in /etc/ptap/helper.conf allows uid [0-9]+ a tap without bridge" $U2 create x
    refuse 77 "quota of 2 taps exceeded \\(1 owned, 2 asked" $U1 create 'q%d' --count 2
    refuse 77 "only root may name a policy file" $U1 --config /etc/ptap/helper.conf create x
    refuse 77 "cannot destroy 'lo': not a tap" $U1 destroy lo
    refuse 77 "cannot destroy 'br0': not a tap" $U1 destroy br0
    refuse 77 "cannot destroy 've0': not a tap" $U1 destroy ve0
    refuse 77 "cannot destroy 'handtap': it does not carry ptap's mark" $U1 destroy handtap
    refuse 77 "cannot destroy 'fakemark': it does not carry ptap's mark" $U1 destroy fakemark
    refuse 77 "cannot destroy 'theirs': owned by another user" $U1 destroy theirs
    refuse 77 "cannot destroy 'handtap': it does not carry ptap's mark" root destroy handtap
    refuse 77 "cannot destroy 'lo': not a tap" root destroy lo
    # All or nothing: a valid name next to a refused one deletes neither.
    refuse 77 "cannot destroy 'theirs'" $U1 destroy mine theirs
    refuse 64 "cannot destroy 'nosuch'" $U1 destroy mine nosuch
    pt_ok "$mode: denials refused with 77, kernel unchanged"

    # 71: the system refuses (name taken)
    refuse 71 "cannot create 'mine': an interface with this name already exists" $U1 create mine
    refuse 71 "cannot create 'handtap': an interface with this name already exists" root create handtap
    pt_ok "$mode: kernel refusals with 71, kernel unchanged"

    # The quota counts what the caller owns now: one more is fine.
    pt_assert_rc "$mode: within quota" 0 pt_helper $U1 "$POL" "$H" create q0
    pt_assert_rc "$mode: quota reached" 77 pt_helper $U1 "$POL" "$H" create q1
    pt_assert_rc "$mode: cleanup" 0 pt_helper root "$POL" "$H" destroy q0 mine theirs
    pt_ok "$mode: quota enforced"
done

# 78: untrusted or broken policy files. The kernel never changes.
H=$(pt_helper_install setuid)
BEFORE=$(pt_links)
badpol() { # badpol REGEX SETUP-COMMAND...
    local re=$1 dir
    shift
    dir=$(pt_policy_dir "allow user $U1 bridge none")
    "$@" "$dir"
    pt_assert_rc "policy: $*" 78 pt_helper $U1 "$dir" "$H" create x
    pt_assert_match "policy message: $*" "$re" "$PT_ERR"
    pt_assert_unchanged "policy: $*" "$BEFORE"
}
world_writable() { chmod 0666 "$1/helper.conf"; }
group_writable() { chmod 0664 "$1/helper.conf"; }
user_owned() { chown $U1 "$1/helper.conf"; }
dir_writable() { chmod 0777 "$1"; }
dir_user_owned() { chown $U1 "$1"; }
syntax_error() { printf 'allow user %s bridge none max lots\n' $U1 >"$1/helper.conf"; }
unknown_user() { printf 'allow user ptaptest-nosuch bridge none\n' >"$1/helper.conf"; }
missing() { rm "$1/helper.conf"; }
symlink() { mv "$1/helper.conf" "$1/real.conf" && ln -s real.conf "$1/helper.conf"; }
not_a_file() { rm "$1/helper.conf" && mkdir "$1/helper.conf"; }
badpol "'/etc/ptap/helper.conf' is writable by group or others" world_writable
badpol "'/etc/ptap/helper.conf' is writable by group or others" group_writable
badpol "'/etc/ptap/helper.conf' is not owned by root" user_owned
badpol "directory '/etc/ptap' is writable by group or others" dir_writable
badpol "directory '/etc/ptap' is not owned by root" dir_user_owned
badpol "/etc/ptap/helper.conf:1: 'lots': 'max' needs a whole number" syntax_error
badpol "/etc/ptap/helper.conf:1: 'ptaptest-nosuch': unknown user" unknown_user
badpol "cannot open policy '/etc/ptap/helper.conf': No such file" missing
badpol "cannot open policy '/etc/ptap/helper.conf': it is a symbolic link" symlink
badpol "'/etc/ptap/helper.conf' is not a regular file" not_a_file
# A root caller may check a policy file by name; a bad one is 78 too.
dir=$(pt_policy_dir "allow user $U1 bridge none")
chmod 0666 "$dir/helper.conf"
pt_assert_rc "root --config untrusted" 78 pt_helper root "$dir" "$H" --config /etc/ptap/helper.conf list
chmod 0644 "$dir/helper.conf"
pt_assert_rc "root --config trusted" 0 pt_helper root "$dir" "$H" --config /etc/ptap/helper.conf list
pt_ok "untrusted and broken policy files refused with 78, kernel unchanged"
