# SPDX-License-Identifier: LGPL-2.1-or-later
# The JSON contract of `ptap --json`, version 1, as a jq program (ptap(1),
# JSON OUTPUT): `jq -e -f ptap-v1.jq` is true of one document exactly when
# it keeps the contract. Keys may be added to a record in a later ptap
# without a new version; none of these may go or change type.
def str: type == "string";
def strn: type == "string" or . == null;
def int: type == "number" and . == floor;
def intn: . == null or int;
def booln: type == "boolean" or . == null;
def jid: str and test("^[0-9a-f]{16}$");

def netns: . == null or (type == "object" and (.id | str) and (.name | strn) and (.current | booln));

def consumer: . == null or (type == "object"
    and (.external | type == "boolean")
    and (if .external
         # A holder ptap did not attach (read from /proc).
         then (.kind | IN("libvirt", "process", "unknown")) and (.target | strn)
              and (.description | str) and (.uid | intn) and (.command | strn)
         else (.kind | IN("qmp", "hmp", "hmp-legacy", "libvirt")) and (.target | str)
              # A monitor is named as TARGET names it: qmp:PATH, hmp:PATH.
              and (if .kind == "libvirt" then (.target | test("^(qmp|hmp):") | not) else (.target | test("^(qmp|hmp):/")) end)
         end)
    and (.name | strn) and (.domain | strn) and (.uuid | strn) and (.uri | strn)
    and (.pid | intn) and (.netdev_id | strn) and (.device_id | strn)
    and (.model | strn) and (.mac | strn) and (.bus | strn));

# THE record: create, attach, detach, destroy, forget, list, journal dump,
# recover and release print a tap as this, an orphan too (state null).
def record: type == "object"
    and (.name | str) and (.journal | jid)
    and (.state | . == null or IN("creating", "ready", "attaching", "attached", "detaching", "destroying", "destroyed"))
    and (.ifindex | intn)
    and (.owner | strn) and (.uid | intn) and (.group | strn) and (.gid | intn)
    and (if .owner != null then .uid != null else true end)
    and (if .group != null then .gid != null else true end)
    and (.bridge | strn) and (.network | strn) and (.ovs_port | booln) and (.mac | strn) and (.mtu | intn)
    and (.multi_queue | type == "boolean") and (.queues | intn) and (.vnet_hdr | type == "boolean")
    and (.consumer | consumer) and (.pool | type == "boolean")
    and (.created | intn) and (.updated | intn)
    and (.netns | netns)
    and (.in_kernel | booln) and (.carrier | booln) and (.problem | strn)
    # The kernel's facts only where the tap was seen there.
    and (if .in_kernel != true then .carrier == null and .queues == null else true end);

# recover and release: the record, and what was done to it.
def action: record and (.action | str) and (.reason | str) and (.done | type == "boolean")
    and (.state_before | strn);

def error: type == "object" and (.code | int and . > 1) and (.message | str and length > 0);

type == "object"
and (.command as $cmd | .journal as $doc_journal |
.version == 1
and (.command | strn)
and (.journal | . == null or jid)
and (if has("error") then .error | error else true end)
and (if has("records") then .records | type == "array" and all(.[];
        if $cmd == "recover" or $cmd == "release" or ($cmd // "" | startswith("hook-")) then action else record end
        and .journal == $doc_journal)
     else true end)
and (if has("problems") then (.problems | int) and .problems == ([.records[] | select(.problem != null)] | length) else true end))
