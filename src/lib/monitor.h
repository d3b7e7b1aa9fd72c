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
 * The NIC itself (its fields, their rules, the command lines and QMP
 * arguments) is nic.h's ptap_nic: every field is validated by
 * ptap_nic_check() before it is put into a command, so a caller can never
 * add options, and every tap netdev carries script=no,downscript=no.
 *
 * Errors: functions return 0 or a negative errno; ptap_monitor_error() then
 * holds a message naming the step and quoting QEMU, e.g.
 *   "device_add 'net1' failed: Duplicate device ID 'net1'".
 * QEMU's faults come as nic.h's codes: PTAP_NIC_E_QEMU (QEMU refused, its
 * message quoted), PTAP_NIC_E_NOTUN, PTAP_NIC_E_TAPPERM, PTAP_NIC_E_TAPBUSY,
 * PTAP_NIC_E_DIALECT (legacy + queues/vhost).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "nic.h"

typedef enum ptap_monitor_kind {
    PTAP_MONITOR_QMP,
    PTAP_MONITOR_HMP,
} ptap_monitor_kind;

typedef struct ptap_monitor ptap_monitor;

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

/** ptap_monitor_get_kind: QMP or HMP. */
ptap_monitor_kind ptap_monitor_get_kind(const ptap_monitor *m);

/** ptap_monitor_get_dialect: PTAP_NIC_NEW (QMP; HMP with netdev_add) or
 * PTAP_NIC_LEGACY (HMP with only host_net_add/pci_add, QEMU < 0.13). */
ptap_nic_dialect ptap_monitor_get_dialect(const ptap_monitor *m);

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
 * ptap_monitor_nic_add: plug the NIC described by @nic, which it first
 * validates with ptap_nic_check() for this monitor's dialect (filling
 * @nic->checked, from which every command is built).
 * On failure of the second step the first is rolled back (netdev_del /
 * host_net_remove). Legacy: sets @nic->vlan and @nic->pci_slot (keep them
 * for nic_remove). New dialect: when QEMU says the default bus takes no
 * hot-plug (a q35 machine's pcie.0) and @nic names no bus, the NIC goes
 * onto the first free pcie-root-port (qom-list); @nic->bus_used says which
 * bus it went on. Returns 0, -EINVAL (refused NIC, QEMU never saw it;
 * the message starts "refusing"), PTAP_NIC_E_* (PTAP_NIC_E_NOSLOT: no free
 * root port, or the bus given takes no hot-plug), -ETIMEDOUT, or another
 * -errno.
 */
int ptap_monitor_nic_add(ptap_monitor *m, ptap_nic *nic, int timeout_ms);

/**
 * ptap_monitor_nic_remove: unplug the NIC and wait (up to @timeout_ms) until
 * the guest released it, then remove its netdev. Parts already gone count as
 * removed (recovery may call this twice). Legacy: needs @spec->vlan and
 * @spec->pci_slot; pci_del completes when the guest ejects the device, so the
 * call polls "info pci" until the slot is empty. Only the ids (legacy: also
 * vlan and pci_slot) of @nic are used (ptap_nic_check_ids): tap, model and
 * MAC may be NULL. Returns 0, -ETIMEDOUT (the guest kept the device; netdev
 * left in place), PTAP_NIC_E_QEMU or another -errno.
 */
int ptap_monitor_nic_remove(ptap_monitor *m, const ptap_nic *nic, int timeout_ms);

/**
 * ptap_monitor_nic_present: does QEMU still have this NIC's device
 * (@device_present; legacy: the PCI slot is occupied) and netdev
 * (@netdev_present)? Either pointer may be NULL. Only the ids (legacy:
 * pci_slot) of @nic are used.
 */
int ptap_monitor_nic_present(ptap_monitor *m, const ptap_nic *nic,
                             bool *device_present, bool *netdev_present, int timeout_ms);

/* ---- building blocks, exposed for the unit tests ---- */

/**
 * ptap_monitor_parse_pci_add: parse "OK domain D, bus B, slot S, function F"
 * into @slot. PTAP_NIC_E_QEMU when the reply is anything else.
 */
int ptap_monitor_parse_pci_add(const char *reply, int *slot);

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

