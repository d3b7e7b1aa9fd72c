/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * monitor.h: hot-plug a NIC backed by a tap that QEMU opens BY NAME, through
 * QEMU's QMP or human monitor, whatever HMP dialect the QEMU speaks.
 *
 *  new dialect (QMP always; HMP when "netdev_add" exists, QEMU >= 0.13):
 *    netdev_add tap,id=NETDEV,ifname=TAP,script=no,downscript=no[,vhost=on][,queues=N]
 *    device_add DRIVER,netdev=NETDEV,id=DEVICE,mac=MAC[,mq=on,vectors=2N+2]
 *    device_del DEVICE, wait until gone (QMP: DEVICE_DELETED naming DEVICE;
 *    HMP: poll "qom-list /machine/peripheral"), netdev_del NETDEV
 *  legacy dialect (HMP of QEMU < 0.13, only host_net_add/pci_add):
 *    host_net_add tap vlan=N,name=NETDEV,ifname=TAP,script=no,downscript=no
 *    pci_add pci_addr=auto nic model=M,macaddr=MAC,vlan=N  -> "OK ... slot S ..."
 *    pci_del S ; host_net_remove N NETDEV
 *
 * Every field is validated before it is put into a command (ids with QEMU's
 * own id rule, interface name, MAC, model from a fixed list, numbers in
 * range): a caller can never add options. Every tap netdev carries
 * script=no,downscript=no.
 *
 * Errors: functions return 0 or a negative errno; ptap_monitor_error() then
 * holds a message naming the step and quoting QEMU, e.g.
 *   "device_add 'net1' failed: Duplicate device ID 'net1'".
 * Distinct codes the CLI can act on:
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <sys/types.h>

/* QEMU refused the command; ptap_monitor_error() quotes its message. */
#define PTAP_MONITOR_E_QEMU (-EREMOTEIO)
/* QEMU cannot open /dev/net/tun at all (libvirt's private /dev without
 * "/dev/net/tun" in qemu.conf's cgroup_device_acl, or a 0600 node). */
#define PTAP_MONITOR_E_NOTUN (-ENXIO)
/* QEMU may not attach to the tap: owner/group do not match QEMU's user, or
 * the tap does not exist (an unprivileged QEMU cannot create it). */
#define PTAP_MONITOR_E_TAPPERM (-EPERM)
/* The tap is already in use (single-queue tap already attached). */
#define PTAP_MONITOR_E_TAPBUSY (-EBUSY)
/* The operation needs something this QEMU's dialect lacks (legacy + queues). */
#define PTAP_MONITOR_E_DIALECT (-EOPNOTSUPP)

typedef enum ptap_monitor_kind {
    PTAP_MONITOR_QMP,
    PTAP_MONITOR_HMP,
} ptap_monitor_kind;

typedef enum ptap_monitor_dialect {
    PTAP_DIALECT_NEW,    /* netdev_add + device_add */
    PTAP_DIALECT_LEGACY, /* host_net_add + pci_add (QEMU < 0.13) */
} ptap_monitor_dialect;

typedef struct ptap_monitor ptap_monitor;

/* What one hot-plugged NIC is made of. */
typedef struct ptap_nic_spec {
    const char *tap;       /* tap interface name QEMU opens (ifname=) */
    const char *netdev_id; /* netdev id (legacy: the host_net_add name=) */
    const char *device_id; /* device id (unused by the legacy dialect) */
    const char *model;     /* "virtio-net-pci" (NULL = this), "e1000", "rtl8139" */
    const char *mac;       /* "52:54:00:12:34:56" */
    unsigned queues;       /* 0/1: single queue; 2..PTAP_MONITOR_MAX_QUEUES */
    bool vhost;            /* vhost=on */
    /* Legacy dialect only, in/out: */
    int vlan;              /* in: VLAN to use, -1 picks a free one; out: used */
    int pci_slot;          /* out of nic_add, in for nic_remove; -1 unknown */
} ptap_nic_spec;

#define PTAP_NIC_SPEC_INIT { .vlan = -1, .pci_slot = -1 }
#define PTAP_MONITOR_MAX_QUEUES 64
#define PTAP_MONITOR_MAX_VLAN 4095

/**
 * ptap_monitor_open: connect to a monitor.
 * @target: "qmp:PATH" or "hmp:PATH"
 * @timeout_ms: for connecting, the handshake and (HMP) dialect detection
 * @ret: the new monitor, freed with ptap_monitor_free()
 * Returns 0, -EINVAL (bad target), -EPROTO (not that kind of monitor),
 * -EPROTONOSUPPORT (an HMP with neither netdev_add nor host_net_add),
 * -ENOENT/-ECONNREFUSED (no QEMU there) or another -errno.
 */
int ptap_monitor_open(const char *target, int timeout_ms, ptap_monitor **ret);

/** ptap_monitor_free: close the connection. NULL is fine. */
void ptap_monitor_free(ptap_monitor *m);

ptap_monitor_kind ptap_monitor_get_kind(const ptap_monitor *m);
ptap_monitor_dialect ptap_monitor_get_dialect(const ptap_monitor *m);

/**
 * ptap_monitor_version: QEMU's version as it reported it ("7.2.22",
 * "0.12.5"), or "" when unknown.
 */
const char *ptap_monitor_version(const ptap_monitor *m);

/**
 * ptap_monitor_peer: the credentials of QEMU (the socket's peer): the user a
 * tap must belong to. Any pointer may be NULL.
 */
int ptap_monitor_peer(const ptap_monitor *m, uid_t *uid, gid_t *gid, pid_t *pid);

/**
 * ptap_monitor_error: a message for the last failure ("STEP 'ID' failed:
 * QEMU's text"), or NULL after a success. Valid until the next call on @m.
 */
const char *ptap_monitor_error(const ptap_monitor *m);

/**
 * ptap_monitor_spec_check: validate every field of @spec for @dialect
 * (done by nic_add/nic_remove/nic_present too). -EINVAL with @why naming
 * the field, or PTAP_MONITOR_E_DIALECT.
 */
int ptap_monitor_spec_check(const ptap_nic_spec *spec, ptap_monitor_dialect dialect,
                            const char **why);

/**
 * ptap_monitor_nic_add: plug the NIC described by @spec. On failure of the
 * second step the first is rolled back (netdev_del / host_net_remove).
 * Legacy: sets @spec->vlan and @spec->pci_slot (keep them for nic_remove).
 * Returns 0, -EINVAL (refused spec, QEMU never saw it), PTAP_MONITOR_E_*,
 * -ETIMEDOUT, or another -errno.
 */
int ptap_monitor_nic_add(ptap_monitor *m, ptap_nic_spec *spec, int timeout_ms);

/**
 * ptap_monitor_nic_remove: unplug the NIC and wait (up to @timeout_ms) until
 * the guest released it, then remove its netdev. Parts already gone count as
 * removed (recovery may call this twice). Legacy: needs @spec->vlan and
 * @spec->pci_slot; pci_del completes when the guest ejects the device, so the
 * call polls "info pci" until the slot is empty. Only the ids (legacy: also
 * vlan and pci_slot) of @spec are used: tap, model and MAC may be NULL.
 * Returns 0, -ETIMEDOUT (the guest kept the device; netdev left in place),
 * PTAP_MONITOR_E_QEMU or another -errno.
 */
int ptap_monitor_nic_remove(ptap_monitor *m, const ptap_nic_spec *spec, int timeout_ms);

/**
 * ptap_monitor_nic_present: does QEMU still have this NIC's device
 * (@device_present; legacy: the PCI slot is occupied) and netdev
 * (@netdev_present)? Either pointer may be NULL. Only the ids (legacy:
 * pci_slot) of @spec are used.
 */
int ptap_monitor_nic_present(ptap_monitor *m, const ptap_nic_spec *spec,
                             bool *device_present, bool *netdev_present, int timeout_ms);

/* ---- building blocks, exposed for the unit tests ---- */

/** ptap_monitor_model_lookup: "virtio-net-pci"/"e1000"/"rtl8139" (NULL means
 * virtio-net-pci) -> @driver for device_add and @legacy for pci_add model=. */
int ptap_monitor_model_lookup(const char *model, const char **driver, const char **legacy);

/** Command lines (HMP syntax) for each step; *ret is malloc'ed. -EINVAL when
 * the spec does not pass ptap_monitor_spec_check(). */
int ptap_monitor_build_netdev_add(const ptap_nic_spec *spec, char **ret);
int ptap_monitor_build_device_add(const ptap_nic_spec *spec, char **ret);
int ptap_monitor_build_host_net_add(const ptap_nic_spec *spec, int vlan, char **ret);
int ptap_monitor_build_pci_add(const ptap_nic_spec *spec, int vlan, char **ret);

/**
 * ptap_monitor_parse_pci_add: parse "OK domain D, bus B, slot S, function F"
 * into @slot. -EREMOTEIO when the reply is anything else.
 */
int ptap_monitor_parse_pci_add(const char *reply, int *slot);

/**
 * ptap_monitor_classify_error: map QEMU's error text to a PTAP_MONITOR_E_*
 * code (PTAP_MONITOR_E_QEMU when nothing more specific applies).
 */
int ptap_monitor_classify_error(const char *text);

/** ptap_monitor_is_not_found: QEMU's text says the device/netdev is gone. */
bool ptap_monitor_is_not_found(const char *text);

/**
 * ptap_monitor_info_network_has: is @name listed (as a device, netdev or
 * VLAN client) in the text of "info network" (0.12 and 7.x formats)?
 */
bool ptap_monitor_info_network_has(const char *text, const char *name);

/**
 * ptap_monitor_info_network_free_vlan: the lowest VLAN number not listed
 * in a legacy "info network" text ("VLAN N devices:").
 */
int ptap_monitor_info_network_free_vlan(const char *text);

/** ptap_monitor_info_pci_has_slot: is bus 0 slot @slot listed by "info pci"? */
bool ptap_monitor_info_pci_has_slot(const char *text, int slot);

/** ptap_monitor_qom_list_has: does HMP "qom-list" text list child @name? */
bool ptap_monitor_qom_list_has(const char *text, const char *name);
