/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * virt.h: ptap's libvirt room. One connection to a libvirt daemon and one
 * domain at a time: look the guest up, learn who QEMU runs as and which
 * process it is, hot-add and hot-remove a NIC whose tap QEMU (or libvirt)
 * opens by name, and answer recovery's "is it still there?".
 *
 * Two methods:
 *   PTAP_VIRT_DEVICE  virDomainAttachDeviceFlags(LIVE) with
 *                     <interface type='ethernet'><target dev=TAP managed='no'/>;
 *                     libvirt knows the NIC (virsh domiflist shows it). The
 *                     device's alias is "ua-ID".
 *   PTAP_VIRT_MONITOR QMP netdev_add (tap, ifname=TAP, script=no) + device_add
 *                     passed through virDomainQemuMonitorCommand: QEMU opens
 *                     the tap by name itself. libvirt's XML does not know it.
 *                     The device id is ID, the netdev id "nd-ID".
 *
 * Every function returns 0 (or a documented positive value) on success and
 * a negative errno or a PTAP_NIC_E_* code on failure; the text of the last
 * failure (libvirt's or QEMU's own message, quoted) is kept in the handle,
 * see ptap_virt_errmsg(). libptap never prints: opening a connection
 * installs a libvirt error handler that silences libvirt's default printing
 * to stderr (process-wide).
 *
 * Codes shared by all functions:
 *   -ENOENT      no such domain (or no domain looked up yet)
 *   -EHOSTDOWN   the domain exists but is not running
 *   -ECONNREFUSED cannot connect to the libvirt daemon
 *   -EACCES      libvirt refused the operation (authentication, ACL)
 *   -EINVAL      a field failed validation (nothing was sent)
 *   -ENODEV      the device/alias is not in the guest
 *   -ETIMEDOUT   the guest did not release the device in time
 *   -EIO         libvirt or QEMU reported another failure (see errmsg)
 * and QEMU's faults with nic.h's codes, the same as every room's:
 *   PTAP_NIC_E_NOTUN  QEMU could not open /dev/net/tun inside libvirt's
 *                private /dev: add "/dev/net/tun" to cgroup_device_acl in
 *                qemu.conf (only the monitor method hits this: with the
 *                device method libvirt opens the tap itself)
 *   PTAP_NIC_E_TAPPERM, PTAP_NIC_E_TAPBUSY  QEMU may not attach the tap,
 *                or it is in use (monitor method)
 *
 * The NIC (its fields, rules, QMP arguments and <interface> XML) is nic.h's
 * ptap_nic; this room only sends it.
 *
 * Virtual networks: ptap_virt_network_lookup() asks which bridge a libvirt
 * network puts its guests on (create/attach --network NAME); ptap then
 * acts on that bridge alone (the helper never talks to libvirt).
 *
 * Known limits: the event loop is libvirt's default implementation,
 * registered once per process before the first connection and run only
 * while a detach waits. A network of forward mode bridge with
 * <virtualport type='openvswitch'/> resolves to its Open vSwitch bridge's
 * name like any other; whether a tap can go on it is the helper's affair.
 * The network is asked for once, at create/attach: a network restarted
 * later on another bridge leaves the record's bridge as it was.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "journal.h"
#include "nic.h"
#include "validate.h"

typedef struct ptap_virt ptap_virt;

typedef enum ptap_virt_method {
    PTAP_VIRT_DEVICE,  /* libvirt device API (default) */
    PTAP_VIRT_MONITOR, /* QMP through libvirt-qemu, QEMU opens the tap */
} ptap_virt_method;

#define PTAP_VIRT_UUID_STRLEN 37 /* 36 chars + NUL */
#define PTAP_VIRT_DEFAULT_TIMEOUT_MS 10000u

/**
 * ptap_virt_default_uri: the connection URI to use when the caller gave none:
 * $LIBVIRT_DEFAULT_URI if set and non-empty, else "qemu:///system" for root
 * and "qemu:///session" for anyone else. Returns a static or environment
 * string; never NULL.
 */
const char *ptap_virt_default_uri(void);

/**
 * ptap_virt_open: connect to libvirt.
 * @uri: connection URI, or NULL for ptap_virt_default_uri()
 * @ret: the new handle (free with ptap_virt_close)
 * @errmsg: on failure, if not NULL, set to a malloc'd message quoting
 *          libvirt (caller frees); set to NULL on success
 * Registers libvirt's default event loop (once per process) and a silent
 * libvirt error handler. Returns 0, -ECONNREFUSED, -EACCES or -ENOMEM.
 */
int ptap_virt_open(const char *uri, ptap_virt **ret, char **errmsg);

/** ptap_virt_close: drop the domain and the connection. NULL is a no-op. */
void ptap_virt_close(ptap_virt *v);

/** ptap_virt_uri: the URI actually connected to (libvirt's canonical form). */
const char *ptap_virt_uri(const ptap_virt *v);

/**
 * ptap_virt_errmsg: the text of the last failure on this handle ("" if none),
 * e.g. "cannot attach 'ptap0' to domain 'g1': internal error: ...".
 * Valid until the next call on @v.
 */
const char *ptap_virt_errmsg(const ptap_virt *v);

/**
 * ptap_virt_lookup: select the domain @name_or_uuid (tried as a UUID first
 * when it looks like one, then as a name). Replaces any earlier selection.
 * Returns 0 or -ENOENT (no such domain), -EINVAL, -EIO.
 */
int ptap_virt_lookup(ptap_virt *v, const char *name_or_uuid);

/**
 * ptap_virt_domain_name / ptap_virt_domain_uuid: the selected domain's
 * name and UUID string (PTAP_VIRT_UUID_STRLEN), or NULL if none selected.
 */
const char *ptap_virt_domain_name(const ptap_virt *v);
const char *ptap_virt_domain_uuid(const ptap_virt *v);

/**
 * ptap_virt_is_running: 1 if the selected domain is running (active),
 * 0 if it is defined but not running, negative on error (-ENOENT if it has
 * gone away or none is selected).
 */
int ptap_virt_is_running(ptap_virt *v);

/**
 * ptap_virt_qemu_owner: the user and group the domain's QEMU runs as, i.e.
 * who must own a tap that QEMU opens by name. In order: the live XML's DAC
 * <seclabel> <label> (else <imagelabel>), "+UID:+GID" or "user:group";
 * else the running QEMU process's uid/gid; else, for a session connection,
 * the connecting user. Returns 0, -EHOSTDOWN (not running), -ENOENT,
 * -ENODATA (nothing tells), -EIO.
 */
int ptap_virt_qemu_owner(ptap_virt *v, uid_t *uid, gid_t *gid);

/**
 * ptap_virt_qemu_pid: the domain's QEMU process id and its start time
 * (field 22 of /proc/PID/stat, clock ticks since boot), so that a later
 * check can tell a recycled pid. Read from libvirt's pid file
 * (/run/libvirt/qemu/NAME.pid for the system daemon,
 * $XDG_RUNTIME_DIR/libvirt/qemu/run/NAME.pid for a session), confirmed by
 * "-uuid UUID" on the process's command line; when the pid file cannot be
 * read, the command lines in /proc are searched for that UUID.
 * Returns 0, -EHOSTDOWN, -ENOENT, -ESRCH (no such process found).
 */
int ptap_virt_qemu_pid(ptap_virt *v, pid_t *pid, uint64_t *start_time);

/**
 * ptap_virt_ids: the QEMU ids ptap uses for @id with @method: those of
 * ptap_nic_ids() for the libvirt dialect (device: "ua-ID", "hostua-ID") or
 * the new one (monitor: "ID", "nd-ID"). Both buffers are PTAP_QEMU_ID_MAX
 * bytes. Returns 0 or -EINVAL (bad or too long id).
 */
int ptap_virt_ids(ptap_virt_method method, const char *id,
                  char device_id[PTAP_QEMU_ID_MAX], char netdev_id[PTAP_QEMU_ID_MAX]);

/**
 * ptap_virt_nic_dialect: the nic.h dialect @method sends a NIC in
 * (device: PTAP_NIC_LIBVIRT, monitor: PTAP_NIC_NEW).
 */
ptap_nic_dialect ptap_virt_nic_dialect(ptap_virt_method method);

/**
 * ptap_virt_attach: hot-add @nic to the selected, running domain with
 * @method, after ptap_nic_check() for that method's dialect: the device
 * method attaches ptap_nic_libvirt_xml() (@nic->device_id is the alias,
 * "ua-..."), the monitor method sends netdev_add then device_add (ids
 * @nic->netdev_id and @nic->device_id, see ptap_virt_ids); a failed
 * device_add removes the netdev again.
 * The bus (a q35 guest hot-plugs onto a pcie-root-port only): @nic->bus
 * names one (device: its alias "pci.N", monitor: its QEMU id); without
 * one the device method lets libvirt pick a free port, and the monitor
 * method, when QEMU refuses the root bus, picks the first free one itself
 * (qom-list). @nic->bus_used then says which bus the NIC is on ("" when
 * libvirt chose). Returns 0, -EHOSTDOWN, -EINVAL, PTAP_NIC_E_NOTUN,
 * PTAP_NIC_E_TAPPERM, PTAP_NIC_E_TAPBUSY, PTAP_NIC_E_NOSLOT (no free root
 * port, or the bus given takes no hot-plug), -EEXIST (id already in use),
 * -EIO.
 */
int ptap_virt_attach(ptap_virt *v, ptap_virt_method method, ptap_nic *nic);

/**
 * ptap_virt_detach: hot-remove the NIC @id (as passed to attach, or its
 * device id) and wait up to @timeout_ms (0: PTAP_VIRT_DEFAULT_TIMEOUT_MS)
 * until it is really gone: libvirt's DEVICE_REMOVED event naming the alias
 * (device), or QEMU's DEVICE_DELETED event naming the id followed by
 * netdev_del (monitor). Returns 0, -ENODEV (no such device; for the monitor
 * method a left-over netdev "nd-ID" has still been removed), -EHOSTDOWN,
 * -ETIMEDOUT (the guest did not release it; the device may still go later),
 * -EIO.
 */
int ptap_virt_detach(ptap_virt *v, ptap_virt_method method, const char *id,
                     unsigned timeout_ms);

/**
 * ptap_virt_has_device: does the running domain still have NIC @id?
 * device: an element with <alias name='ua-ID'/> in the live XML;
 * monitor: a child named ID under QOM /machine/peripheral.
 * Returns 1 (present), 0 (absent), -EHOSTDOWN (domain not running),
 * -ENOENT (domain gone), another negative code on error.
 */
int ptap_virt_has_device(ptap_virt *v, ptap_virt_method method, const char *id);

/**
 * ptap_virt_netdev_remove: monitor method only: netdev_del "nd-ID" (used by
 * recovery to roll back an attach interrupted between netdev_add and
 * device_add). Returns 0, -ENODEV (no such netdev), -EHOSTDOWN, -EIO.
 */
int ptap_virt_netdev_remove(ptap_virt *v, const char *id);

/**
 * ptap_virt_dac_id: one half of a libvirt DAC label or of qemu.conf's
 * user/group, as libvirt reads it: "+N" is the number N; otherwise a user
 * (@user) or group name, and a name that does not exist but is a number is
 * taken as that number. Returns 0 and sets *@out, -EINVAL (empty or a bad
 * number), -ENOENT (no such name), -ENOMEM.
 */
int ptap_virt_dac_id(const char *s, bool user, uint32_t *out);

/** ptap_virt_method_to_string: "device" or "monitor". */
const char *ptap_virt_method_to_string(ptap_virt_method m);

/** ptap_virt_method_from_string: the method named @s, or -EINVAL. */
int ptap_virt_method_from_string(const char *s);

/**
 * ptap_virt_strerror: a short text for @r (negative): PTAP_NIC_E_NOTUN
 * gets the libvirt remedy, everything else strerror(-r).
 */
const char *ptap_virt_strerror(int r);

/* ---- virtual networks ---- */

#define PTAP_VIRT_MODE_MAX 32

/* A libvirt network as ptap uses it: the bridge its guests are put on. */
typedef struct ptap_virt_network {
    char name[PTAP_NETWORK_NAME_MAX];
    char mode[PTAP_VIRT_MODE_MAX]; /* <forward mode>: "nat" (also for <forward/> without
                                    * a mode), "route", "open", "bridge", ...; "isolated"
                                    * when there is no <forward> */
    char bridge[IFNAMSIZ];         /* the bridge's name, "" if the XML names none */
} ptap_virt_network;

/**
 * ptap_virt_network_name_check: is @name something ptap may ask libvirt
 * for and record: 1..PTAP_NETWORK_NAME_MAX-1 bytes, no '/', no control
 * characters? Returns 0 or -EINVAL with @why (may be NULL) set.
 */
int ptap_virt_network_name_check(const char *name, const char **why);

/**
 * ptap_virt_network_parse_xml: what a network's XML (virNetworkGetXMLDesc)
 * says about its bridge, into @out's mode and bridge (@out->name is left
 * alone). A network with a bridge of its own: no <forward> (isolated), or
 * forward mode nat, route or open (libvirt's virbrN, named by <bridge
 * name=.../>), or mode bridge with <bridge name='X'/> (the host bridge X).
 * None: mode bridge to a macvtap device (<interface dev=...> or <pf>, no
 * <bridge>), private, vepa, passthrough, hostdev, and any mode ptap does
 * not know. Returns 0; -EMEDIUMTYPE (no bridge: @out->mode names the mode,
 * @why says why); -EBADMSG (not a network's XML); -EINVAL (a bridge name
 * that is no interface name). @why may be NULL.
 */
int ptap_virt_network_parse_xml(const char *xml, ptap_virt_network *out, const char **why);

/**
 * ptap_virt_network_lookup: the bridge of libvirt network @name on this
 * connection. The network must be active; its bridge is
 * virNetworkGetBridgeName()'s answer (the XML's when libvirt has none).
 * Returns 0 and fills @out; -ENOENT (no such network), -EHOSTDOWN (defined
 * but not active), -EMEDIUMTYPE (no bridge of its own: @out->mode names
 * its forward mode), -EINVAL (bad name or bridge name), -EACCES, -EIO;
 * the message is in ptap_virt_errmsg().
 */
int ptap_virt_network_lookup(ptap_virt *v, const char *name, ptap_virt_network *out);

/**
 * ptap_virt_network_resolve: ptap_virt_network_lookup() on its own
 * connection to @uri (NULL: ptap_virt_default_uri()), as create and attach
 * --network use it. On failure @err says why, naming the network, with
 * the exit code: 64 (EX_USAGE) for a bad or unknown name and for a network
 * without a bridge of its own (naming its mode), 69 (EX_UNAVAILABLE) when
 * libvirt cannot be reached or the network is not active, 77 (EX_NOPERM)
 * when libvirt refuses, 71 (EX_OSERR) otherwise. Returns 0 or the code.
 */
int ptap_virt_network_resolve(const char *uri, const char *name, ptap_virt_network *out,
                              ptap_error *err);

/* ---- ptap's metadata: what travels with the guest (docs/migration.md) ----
 * Which definition a call reads or changes: the running domain's, the
 * persistent one, or both (PTAP_VIRT_LIVE | PTAP_VIRT_CONFIG). */
#define PTAP_VIRT_LIVE (1u << 0)
#define PTAP_VIRT_CONFIG (1u << 1)

struct ptap_vmeta;
struct ptap_vmeta_nic;

/**
 * ptap_virt_metadata_get: ptap's metadata element of the selected domain
 * (@where: one of PTAP_VIRT_LIVE or PTAP_VIRT_CONFIG), parsed with
 * ptap_vmeta_parse(). Returns 0, -ENODATA (the domain carries none),
 * -EBADMSG/-EINVAL (it carries a bad one: errmsg says why), -EIO.
 */
int ptap_virt_metadata_get(ptap_virt *v, unsigned where, struct ptap_vmeta *ret);

/**
 * ptap_virt_metadata_set: replace ptap's metadata element of the selected
 * domain with @m (@where: LIVE and/or CONFIG); an empty @m removes the
 * element. Returns 0, -EINVAL (a NIC of @m is invalid), -EHOSTDOWN, -EIO.
 */
int ptap_virt_metadata_set(ptap_virt *v, unsigned where, const struct ptap_vmeta *m);

/**
 * ptap_virt_metadata_put / ptap_virt_metadata_drop: read, change and write
 * back ptap's metadata in each definition @where names: add (or replace)
 * the entry of @nic's tap / remove the entry of tap @tap (no entry: no
 * change). Returns 0 or as ptap_virt_metadata_get/set.
 */
int ptap_virt_metadata_put(ptap_virt *v, unsigned where, const struct ptap_vmeta_nic *nic);
int ptap_virt_metadata_drop(ptap_virt *v, unsigned where, const char *tap);

/** ptap_virt_is_persistent: 1 when the selected domain has a persistent
 * definition, 0 when it is transient, negative on error. */
int ptap_virt_is_persistent(ptap_virt *v);

/**
 * ptap_virt_attach_config: add @nic's <interface> (ptap_nic_libvirt_xml,
 * as the device method sends it) to the persistent definition of the
 * selected domain. Returns 0, -EINVAL, -EIO.
 */
int ptap_virt_attach_config(ptap_virt *v, const ptap_nic *nic);

/** ptap_virt_detach_config: remove the device of alias @alias from the
 * persistent definition. Returns 0, -ENODEV, -EIO. */
int ptap_virt_detach_config(ptap_virt *v, const char *alias);
