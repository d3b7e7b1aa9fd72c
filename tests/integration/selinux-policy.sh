#!/usr/bin/env bash
# Link the ptap SELinux module against the distribution's policy and check
# the rules that matter, without an SELinux kernel (../shared/TESTBED.md):
#
#   base.pp + the modules ptap's optional blocks need (virt, qemu,
#   unconfined, openvswitch) + ptap.pp  --semodule_link-->  linked.pp
#   --semodule_expand-->  policy.bin  --setools-->  allow / type_transition
#
# A type or interface the base policy lacks fails the link or the build;
# a rule that an optional block silently dropped fails a query below.
source "$(dirname "$0")/../lib/common.sh"
pt_require_root

build=${PTAP_BUILD_DIR:?PTAP_BUILD_DIR not set}
module=$build/selinux/ptap.pp

[ -f /usr/share/selinux/devel/Makefile ] ||
  pt_fail "selinux-policy-dev is not installed (./dev installs it)"
[ -f "$module" ] ||
  pt_fail "'$module' missing although selinux-policy-dev is installed (target ptap_selinux)"
for tool in semodule_link semodule_expand bzcat; do
  command -v "$tool" >/dev/null || pt_fail "'$tool' not found (semodule-utils)"
done
/usr/bin/python3 -c 'import setools' 2>/dev/null ||
  pt_fail "python3 module 'setools' not found (python3-setools)"

tmp=$PT_TMP

# The policy store selinux-policy-default ships: base.pp.bz2 and one
# package per module beside it.
base_bz2=$(dpkg -L selinux-policy-default | grep '/base\.pp\.bz2$' | head -n1)
[ -n "$base_bz2" ] && [ -f "$base_bz2" ] ||
  pt_fail "base.pp.bz2 not found in selinux-policy-default"
store=$(dirname "$base_bz2")
packages=()
for m in base virt qemu unconfined openvswitch; do
  [ -f "$store/$m.pp.bz2" ] || pt_fail "'$store/$m.pp.bz2' missing"
  bzcat "$store/$m.pp.bz2" >"$tmp/$m.pp"
  packages+=("$tmp/$m.pp")
done
cp "$module" "$tmp/ptap.pp"

echo "linking ptap.pp against ${packages[*]##*/}"
semodule_link -o "$tmp/linked.pp" "${packages[@]}" "$tmp/ptap.pp" ||
  pt_fail "semodule_link: ptap.pp does not link against the distribution's policy"
semodule_expand "$tmp/linked.pp" "$tmp/policy.bin" ||
  pt_fail "semodule_expand failed"

# Every interface in ptap.if, called once from a throw-away module and
# linked too: an interface the module itself does not use is otherwise
# never expanded, and a typo in it would reach users first.
src=${PTAP_SOURCE_DIR:?PTAP_SOURCE_DIR not set}/selinux
mkdir "$tmp/ifcheck"
cp "$src/ptap.te" "$src/ptap.if" "$src/ptap.fc" "$tmp/ifcheck/"
{
  echo 'policy_module(ptapifcheck, 1.0)'
  echo 'gen_require(`role system_r;'"')"
  # interface(`NAME', ...: one argument, or two when the body uses $2 (a role)
  awk '/^interface\(`/ { if (name) print name, two; name = $0; two = 0
                         sub(/^interface\(`/, "", name); sub(/\047.*/, "", name) }
       /\$2/ { two = 1 }
       END { if (name) print name, two }' "$src/ptap.if" |
  while read -r name two; do
    # one domain per call: interfaces that nest others would repeat rules
    echo "type ${name}_check_t;"
    echo "domain_type(${name}_check_t)"
    if [ "$two" = 1 ]; then echo "$name(${name}_check_t, system_r)"; else echo "$name(${name}_check_t)"; fi
  done
} >"$tmp/ifcheck/ptapifcheck.te"
touch "$tmp/ifcheck/ptapifcheck.if" "$tmp/ifcheck/ptapifcheck.fc"
echo "interfaces exercised:" $(sed -n 's/^\(ptap_[a-z_]*\)(.*/\1/p' "$tmp/ifcheck/ptapifcheck.te")
make -s -C "$tmp/ifcheck" -f /usr/share/selinux/devel/Makefile ptap.pp ptapifcheck.pp >"$tmp/ifcheck.log" 2>&1 ||
  { cat "$tmp/ifcheck.log" >&2; pt_fail "an interface of ptap.if does not compile"; }
semodule_link -o "$tmp/ifcheck.pp" "${packages[@]}" "$tmp/ifcheck/ptap.pp" "$tmp/ifcheck/ptapifcheck.pp" >/dev/null ||
  pt_fail "semodule_link: an interface of ptap.if needs what the distribution's policy lacks"
semodule_expand "$tmp/ifcheck.pp" "$tmp/ifcheck.bin" || pt_fail "semodule_expand (interfaces) failed"

# Each line: allow SOURCE TARGET CLASS PERMS... (all perms must be granted,
# possibly through attributes), deny SOURCE TARGET CLASS PERMS... (none of
# them may be granted), trans SOURCE TARGET CLASS DEFAULT [NAME],
# role ROLE TYPE.
cat >"$tmp/checks" <<'EOF'
# ptap-helper is entered from libvirtd, from ptap and from unconfined admins
allow virtd_t ptap_helper_exec_t file execute open read getattr
allow virtd_t ptap_helper_t process transition
trans virtd_t ptap_helper_exec_t process ptap_helper_t
allow unconfined_t ptap_helper_exec_t file execute open read getattr
allow unconfined_t ptap_helper_t process transition
trans unconfined_t ptap_helper_exec_t process ptap_helper_t
role unconfined_r ptap_helper_t
role system_r ptap_helper_t
allow ptap_t ptap_helper_exec_t file execute open read getattr
allow ptap_t ptap_helper_t process transition
trans ptap_t ptap_helper_exec_t process ptap_helper_t
allow ptap_helper_t ptap_helper_exec_t file entrypoint execute read map
allow ptap_helper_t ptap_t fifo_file read write
allow ptap_helper_t ptap_t process sigchld
# capabilities: net_admin, and what capng_change_id() needs in setuid mode
allow ptap_helper_t ptap_helper_t capability net_admin setuid setgid setpcap
allow ptap_helper_t ptap_helper_t process setcap getcap
# creating taps and the netlink they are configured through
allow ptap_helper_t ptap_helper_t tun_socket create relabelfrom relabelto
allow ptap_helper_t tun_tap_device_t chr_file open read write ioctl getattr
allow ptap_helper_t ptap_helper_t netlink_route_socket create bind read write nlmsg_read nlmsg_write
# configuration and syslog
allow ptap_helper_t ptap_conf_t dir search read open getattr
allow ptap_helper_t ptap_conf_t file open read getattr
allow ptap_helper_t devlog_t sock_file write
allow ptap_helper_t ptap_helper_t unix_dgram_socket create connect write
allow ptap_helper_t init_t unix_stream_socket read write getattr
# QEMU under libvirt opens the helper's taps by name, with extra queues
allow svirt_t tun_tap_device_t chr_file open read write ioctl
allow svirt_t ptap_helper_t tun_socket relabelfrom attach_queue
allow svirt_t svirt_t tun_socket relabelto relabelfrom attach_queue
# the ptap command as a system service, udev program and libvirt hook
allow init_t ptap_t process transition
trans init_t ptap_exec_t process ptap_t
allow udev_t ptap_exec_t file execute open read getattr
allow udev_t ptap_t process transition
trans udev_t ptap_exec_t process ptap_t
allow virtd_t ptap_t process transition
trans virtd_t ptap_exec_t process ptap_t
allow ptap_t ptap_exec_t file entrypoint execute read map
allow ptap_t ptap_var_run_t dir create search add_name remove_name write read open
allow ptap_t ptap_var_run_t file create open read write append rename unlink lock getattr
trans ptap_t var_run_t dir ptap_var_run_t ptap
trans unconfined_t var_run_t dir ptap_var_run_t ptap
allow ptap_t ptap_conf_t file open read getattr
allow ptap_t ptap_t netlink_route_socket create bind read nlmsg_read
allow ptap_t svirt_t file open read
deny ptap_helper_t svirt_t tun_socket relabelfrom relabelto
# lock waits (inotify), namespaces (setns, /run/netns, nsfs), tap holders
allow ptap_t ptap_var_run_t file watch
allow ptap_t ptap_t capability sys_admin sys_ptrace
allow ptap_t nsfs_t file open read getattr
allow ptap_t ifconfig_runtime_t dir search read open getattr
allow ptap_t ifconfig_runtime_t file open read
# tap holders named (QEMU and libvirtd in /proc), the hook commands' reads
allow ptap_t virtd_t file open read
allow ptap_t virt_runtime_t file open read getattr
allow ptap_t virt_etc_t file open read getattr
deny ptap_t virtd_t unix_stream_socket connectto
# OVS bridges: the helper talks to ovsdb-server's socket
allow ptap_helper_t openvswitch_runtime_t sock_file write
allow ptap_helper_t openvswitch_t unix_stream_socket connectto
allow ptap_helper_t ptap_helper_t unix_stream_socket create connect read write
# what must stay forbidden
deny ptap_helper_t ptap_conf_t file write append create setattr unlink rename relabelfrom
deny ptap_helper_t ptap_conf_t dir write add_name remove_name
deny ptap_t ptap_conf_t file write append create setattr unlink
deny ptap_helper_t ptap_var_run_t file write create unlink
deny ptap_helper_t ptap_helper_t capability sys_admin dac_override dac_read_search chown fowner fsetid sys_module sys_ptrace
deny ptap_helper_t shadow_t file read open
deny ptap_helper_t ptap_helper_exec_t file write append setattr
deny svirt_t ptap_helper_exec_t file execute execute_no_trans entrypoint
deny svirt_t ptap_helper_t process transition dyntransition
deny svirt_t ptap_exec_t file execute execute_no_trans
deny svirt_t ptap_var_run_t file read write
deny svirt_t ptap_helper_t tun_socket create relabelto
deny udev_t ptap_helper_t process transition
EOF

/usr/bin/python3 - "$tmp/policy.bin" "$tmp/checks" <<'PY'
import sys
import setools

policy = setools.SELinuxPolicy(sys.argv[1])
types = {str(t) for t in policy.types()}
failures = 0


def report(ok, text, bad="MISSING"):
    global failures
    print(f"{'ok' if ok else bad:8}" + text)
    if not ok:
        failures += 1


def granted(src, tgt, cls):
    """Union of the permissions SRC has on TGT:CLS, through attributes too."""
    perms = set()
    for rule in setools.TERuleQuery(policy, ruletype=["allow"], source=src,
                                    target=tgt, tclass=[cls]).results():
        perms |= set(rule.perms)
    return perms


def rule_filename(rule):
    """The object name a type_transition is bound to, None if unbound."""
    try:
        return rule.filename
    except Exception:  # setools raises TERuleNoFilename for plain rules
        return None


for line in open(sys.argv[2]):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    kind, *args = line.split()
    named = [a for a in args[:2] if not a.endswith("_r")]
    unknown = [t for t in (args[1:2] if kind == "role" else named) if t not in types]
    if unknown:
        report(False, f"{line}  (unknown type {' '.join(unknown)})")
        continue
    if kind == "allow":
        src, tgt, cls, *want = args
        have = granted(src, tgt, cls)
        lacking = set(want) - have
        report(not lacking, f"allow {src} {tgt}:{cls} {{ {' '.join(want)} }}"
               + (f"  (lacks {' '.join(sorted(lacking))})" if lacking else ""))
    elif kind == "deny":
        src, tgt, cls, *bad = args
        leaked = set(bad) & granted(src, tgt, cls)
        report(not leaked, f"no allow {src} {tgt}:{cls} {{ {' '.join(bad)} }}"
               + (f"  (but grants {' '.join(sorted(leaked))})" if leaked else ""),
               bad="LEAKED")
    elif kind == "trans":
        src, tgt, cls, dflt, *name = args
        want_name = name[0] if name else None
        found = any(rule_filename(rule) == want_name
                    for rule in setools.TERuleQuery(
                        policy, ruletype=["type_transition"], source=src,
                        target=tgt, tclass=[cls], default=dflt).results())
        report(found, f"type_transition {src} {tgt}:{cls} {dflt}"
               + (f' "{name[0]}"' if name else ""))
    elif kind == "role":
        role, typ = args
        roles = [r for r in policy.roles() if str(r) == role]
        ok = bool(roles) and typ in {str(t) for t in roles[0].types()}
        report(ok, f"role {role} types {typ}")
    else:
        report(False, f"bad check line: {line}")

print(f"{failures} check(s) failed" if failures else "all checks passed")
sys.exit(1 if failures else 0)
PY
