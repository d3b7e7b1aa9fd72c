/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nic.h: the one NIC model of ptap. What a hot-plugged NIC is made of, the
 * rules every field obeys, and every form ptap sends it in:
 *
 *   QMP (new dialect)   netdev_add {type:tap, id, ifname, script:no,
 *                       downscript:no[, vhost:true][, queues:N]}
 *                       device_add {driver, netdev, id, mac[, mq:true,
 *                       vectors:2N+2]}
 *   HMP (new dialect)   netdev_add tap,id=NETDEV,ifname=TAP,script=no,
 *                       downscript=no[,vhost=on][,queues=N]
 *                       device_add DRIVER,netdev=NETDEV,id=DEVICE,mac=MAC
 *                       [,mq=on,vectors=2N+2]
 *   HMP (legacy, < 0.13) host_net_add tap vlan=V,name=NETDEV,ifname=TAP,
 *                       script=no,downscript=no
 *                       pci_add pci_addr=auto nic model=M,macaddr=MAC,vlan=V
 *   libvirt             <interface type='ethernet'><target dev=TAP
 *                       managed='no'/><mac/><model/>[<driver/>]<alias
 *                       name='ua-ID'/></interface>
 *
 * A ptap_nic is described by its caller, validated once by ptap_nic_check()
 * for one dialect, and every builder works from the validated copy that
 * check keeps inside it: a builder refuses a NIC that was not checked for
 * its dialect, and a field changed after the check never reaches QEMU.
 * Every tap netdev carries script=no,downscript=no.
 *
 * It also holds what ptap reads back from QEMU about a NIC, once for every
 * room: which fault an error text names (one code per fault, below), and
 * whether a qom-list answer lists a device.
 *
 * The bus: by default QEMU (or libvirt) places the NIC. A PCI Express
 * machine (q35) cannot hot-plug onto its root bus pcie.0, only onto a
 * pcie-root-port: ptap_nic.bus names one (device_add bus=; for libvirt, the
 * controller's alias "pci.N" becomes <address type='pci' bus='N'/>), and
 * the rooms pick a free one when QEMU says the default bus takes no
 * hot-plug (ptap_nic_qom_root_ports, ptap_nic_qom_bus_is_free).
 *
 * Known limits: three models (the ones every QEMU since 0.12 has); the
 * legacy dialect takes no bus.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <net/if.h>
#include <json-c/json.h>

#include "validate.h"

/* The faults QEMU reports about a NIC, one code each, whatever the room
 * (QMP or HMP socket, libvirt's passthrough) that heard it. */
/* QEMU refused the command; nothing more specific applies. */
#define PTAP_NIC_E_QEMU (-EREMOTEIO)
/* QEMU cannot open /dev/net/tun at all: libvirt's private /dev without
 * "/dev/net/tun" in qemu.conf's cgroup_device_acl, or a 0600 node. */
#define PTAP_NIC_E_NOTUN (-ENXIO)
/* QEMU may not attach to the tap: owner/group do not match QEMU's user, or
 * the tap does not exist (an unprivileged QEMU cannot create it). */
#define PTAP_NIC_E_TAPPERM (-EPERM)
/* The tap is already in use (a single-queue tap already attached). */
#define PTAP_NIC_E_TAPBUSY (-EBUSY)
/* The NIC needs something this dialect lacks (legacy + queues or vhost). */
#define PTAP_NIC_E_DIALECT (-EOPNOTSUPP)
/* No free slot to hot-plug into: a q35 guest whose root bus takes no
 * hot-plug and that has no free pcie-root-port. */
#define PTAP_NIC_E_NOSLOT (-ENOSPC)

/* How to give a guest a free root port, for messages. */
#define PTAP_NIC_ROOT_PORT_HOWTO_QEMU \
    "start QEMU with one more '-device pcie-root-port,id=rpN,chassis=N,bus=pcie.0' (a free one per NIC to hot-plug)"
#define PTAP_NIC_ROOT_PORT_HOWTO_LIBVIRT \
    "add \"<controller type='pci' model='pcie-root-port'/>\" to the domain's persistent definition " \
    "(virsh edit) and restart it (one free port per NIC to hot-plug)"

/* Queues of one multi-queue NIC. The kernel's tun allows 256 per tap and
 * QEMU 7.2 up to its own 1024 (with 2N+2 MSI-X vectors); 64 is what ptap
 * offers, the same for every room and for `ptap attach --queues`. */
#define PTAP_NIC_MAX_QUEUES 64u
/* Highest VLAN (hub) number of the legacy dialect. */
#define PTAP_NIC_MAX_VLAN 4095
/* Highest PCI slot on bus 0 (legacy pci_add / pci_del). */
#define PTAP_NIC_MAX_PCI_SLOT 31
/* The models by name, for messages (the table in nic.c; test_nic checks
 * that they agree). */
#define PTAP_NIC_MODEL_NAMES "virtio-net-pci, e1000 or rtl8139"
/* The prefix libvirt requires of a user-chosen device alias. */
#define PTAP_NIC_LIBVIRT_ALIAS_PREFIX "ua-"

/* The forms a NIC is sent in; each has its own rules (see ptap_nic_check). */
typedef enum ptap_nic_dialect {
    PTAP_NIC_NEW,     /* netdev_add + device_add: QMP, HMP >= 0.13, libvirt-qemu */
    PTAP_NIC_LEGACY,  /* host_net_add + pci_add: HMP of QEMU < 0.13 */
    PTAP_NIC_LIBVIRT, /* libvirt's <interface type='ethernet'> */
} ptap_nic_dialect;

/* One row of the model table. */
typedef struct ptap_nic_model {
    const char *name;    /* what ptap calls it: "virtio-net-pci" */
    const char *driver;  /* device_add driver */
    const char *legacy;  /* pci_add nic model= */
    const char *libvirt; /* <model type=...> */
    bool virtio;         /* multi-queue and vhost possible */
} ptap_nic_model;

/* What ptap_nic_check() keeps: the builders read only this. */
typedef struct ptap_nic_checked {
    bool ok;                            /* set by a successful check */
    ptap_nic_dialect dialect;           /* ... for this dialect */
    const ptap_nic_model *model;
    char tap[IFNAMSIZ];
    char netdev_id[PTAP_QEMU_ID_MAX];   /* "" when the dialect needs none */
    char device_id[PTAP_QEMU_ID_MAX];   /* "" when the dialect needs none */
    char mac[PTAP_MAC_STRLEN];          /* normalised: lower case */
    char bus[PTAP_QEMU_ID_MAX];         /* "" = default placement */
    int libvirt_bus;                    /* libvirt: N of bus "pci.N", -1 none */
    unsigned queues;                    /* 0 or 1: single queue */
    bool vhost;
} ptap_nic_checked;

/* What one hot-plugged NIC is made of. */
typedef struct ptap_nic {
    const char *tap;       /* tap interface name QEMU opens (ifname=) */
    const char *netdev_id; /* netdev id (legacy: host_net_add name=; libvirt:
                            * informative, libvirt names it) */
    const char *device_id; /* device id (libvirt: the alias, "ua-..."; legacy:
                            * unused) */
    const char *model;     /* "virtio-net-pci" (NULL = this), "e1000", "rtl8139" */
    const char *mac;       /* "52:54:00:12:34:56" */
    const char *bus;       /* the bus to plug into (a pcie-root-port's id; libvirt:
                            * its alias "pci.N"), NULL: QEMU's or libvirt's choice */
    unsigned queues;       /* 0/1: single queue; 2..PTAP_NIC_MAX_QUEUES (virtio) */
    bool vhost;            /* vhost=on (virtio) */
    /* Legacy dialect only, in/out: */
    int vlan;              /* in: VLAN to use, -1 picks a free one; out: used */
    int pci_slot;          /* out of an add, in for a remove; -1 unknown */
    char bus_used[PTAP_QEMU_ID_MAX]; /* out of an add: the bus given or picked, "" = the
                                      * default placement */
    ptap_nic_checked checked; /* filled by ptap_nic_check() */
} ptap_nic;

#define PTAP_NIC_INIT { .vlan = -1, .pci_slot = -1 }

/* ---- the model table ---- */

/**
 * ptap_nic_model_find: the model called @name ("virtio-net-pci", "e1000",
 * "rtl8139"; NULL means virtio-net-pci), or NULL when ptap has no such model.
 */
const ptap_nic_model *ptap_nic_model_find(const char *name);

/** ptap_nic_model_count / ptap_nic_model_get: walk the table (for tests). */
size_t ptap_nic_model_count(void);
const ptap_nic_model *ptap_nic_model_get(size_t i);

/* ---- rules ---- */

/**
 * ptap_nic_check: validate every field of @nic for @dialect and keep the
 * normalised result in @nic->checked for the builders.
 *   all:     tap (an interface name, no template), model from the table,
 *            MAC (ptap_mac_parse), queues <= PTAP_NIC_MAX_QUEUES, queues > 1
 *            and vhost on virtio only, vlan -1..PTAP_NIC_MAX_VLAN
 *   new:     netdev and device id (ptap_qemu_id_check)
 *   new:     bus, if any, a QEMU id
 *   legacy:  netdev id; no queues, no vhost, no bus (PTAP_NIC_E_DIALECT)
 *   libvirt: device id starting "ua-"; netdev id optional; bus, if any,
 *            "pci.N" (a controller's alias, N 1..255)
 * Returns 0, or -EINVAL / PTAP_NIC_E_DIALECT with @why (may be NULL) set to
 * a static text naming the field; @nic->checked.ok is false then.
 */
int ptap_nic_check(ptap_nic *nic, ptap_nic_dialect dialect, const char **why);

/**
 * ptap_nic_check_ids: what removing or looking up a NIC needs, when the
 * tap, model and MAC may be unknown (recovery): the ids for @dialect as in
 * ptap_nic_check(), vlan and pci_slot in range (-1 = unknown). Does not
 * fill @nic->checked. Returns 0 or -EINVAL with @why.
 */
int ptap_nic_check_ids(const ptap_nic *nic, ptap_nic_dialect dialect, const char **why);

/**
 * ptap_nic_ids: the QEMU ids ptap gives the NIC a user calls @id.
 * new/legacy: @device_id = ID, @netdev_id = "nd-ID".
 * libvirt:    @device_id = "ua-ID" (ID kept as is if it already starts with
 *             "ua-", so a stored id can be passed back), @netdev_id =
 *             "hostua-ID" (libvirt's own naming, informative).
 * Both buffers are PTAP_QEMU_ID_MAX bytes. Returns 0 or -EINVAL (bad id, or
 * too long once prefixed: never truncated).
 */
int ptap_nic_ids(ptap_nic_dialect dialect, const char *id, char device_id[PTAP_QEMU_ID_MAX],
                 char netdev_id[PTAP_QEMU_ID_MAX]);

/**
 * ptap_nic_mac_random: a fresh locally chosen guest MAC, 52:54:00:xx:xx:xx
 * (QEMU's and libvirt's prefix), from getrandom(). Returns 0 or -errno.
 */
int ptap_nic_mac_random(char buf[PTAP_MAC_STRLEN]);

/* ---- builders: from a checked NIC only ----
 * Each returns 0 and a new object / malloc'ed string in *@ret, -EINVAL when
 * @nic was not checked for the builder's dialect (nothing built), -ENOMEM. */

/** ptap_nic_qmp_netdev_add: the arguments of QMP netdev_add (new dialect). */
int ptap_nic_qmp_netdev_add(const ptap_nic *nic, json_object **ret);

/** ptap_nic_qmp_device_add: the arguments of QMP device_add (new dialect). */
int ptap_nic_qmp_device_add(const ptap_nic *nic, json_object **ret);

/** ptap_nic_hmp_netdev_add: the HMP netdev_add line (new dialect). */
int ptap_nic_hmp_netdev_add(const ptap_nic *nic, char **ret);

/** ptap_nic_hmp_device_add: the HMP device_add line (new dialect). */
int ptap_nic_hmp_device_add(const ptap_nic *nic, char **ret);

/**
 * ptap_nic_hmp_host_net_add / ptap_nic_hmp_pci_add: the legacy dialect's
 * lines, on VLAN @vlan (0..PTAP_NIC_MAX_VLAN, else -EINVAL).
 */
int ptap_nic_hmp_host_net_add(const ptap_nic *nic, int vlan, char **ret);
int ptap_nic_hmp_pci_add(const ptap_nic *nic, int vlan, char **ret);

/**
 * ptap_nic_libvirt_xml: the <interface type='ethernet'> element libvirt
 * attaches (libvirt dialect), built and escaped by libxml2.
 */
int ptap_nic_libvirt_xml(const ptap_nic *nic, char **ret);

/* ---- what QEMU says back ---- */

/**
 * ptap_nic_classify_qemu_error: the fault QEMU's error text names:
 * PTAP_NIC_E_NOTUN, _TAPPERM, _TAPBUSY, or PTAP_NIC_E_QEMU when nothing
 * more specific applies (also for NULL).
 */
int ptap_nic_classify_qemu_error(const char *text);

/**
 * ptap_nic_qemu_error_is_not_found: does QEMU say the device or netdev does
 * not exist? @klass is QMP's error class (NULL for HMP), @text its text.
 */
bool ptap_nic_qemu_error_is_not_found(const char *klass, const char *text);

/** ptap_nic_qemu_error_is_duplicate: does QEMU (or libvirt) say the id is
 * already in use? */
bool ptap_nic_qemu_error_is_duplicate(const char *text);

/**
 * ptap_nic_qom_list_has: does a "qom-list /machine/peripheral" answer list
 * a child device @name? The HMP text form ("NAME (child<TYPE>)" lines).
 */
bool ptap_nic_qom_list_has(const char *text, const char *name);

/**
 * ptap_nic_qom_list_has_json: the same for QMP's answer, an array of
 * {"name": ..., "type": "child<...>"}. Returns 1, 0, or -EBADMSG when
 * @list is not an array.
 */
int ptap_nic_qom_list_has_json(json_object *list, const char *name);

/* ---- PCI Express root ports (q35) ---- */

/**
 * ptap_nic_qemu_error_is_no_hotplug: does QEMU say the bus it was given
 * (or chose) takes no hot-plug ("Bus 'pcie.0' does not support
 * hotplugging")? That is a q35 guest asked to plug onto its root bus.
 */
bool ptap_nic_qemu_error_is_no_hotplug(const char *text);

/**
 * ptap_nic_qom_root_ports: the ids of the root ports among a "qom-list
 * /machine/peripheral" answer (children of type pcie-root-port or
 * ioh3420), sorted by name, as a NULL-terminated array (free each string,
 * then the array; pool.h's ptap_strv_free does). Returns the count, or -EBADMSG (@list is not an
 * array), -ENOMEM.
 */
int ptap_nic_qom_root_ports(json_object *list, char ***ret);

/**
 * ptap_nic_qom_bus_is_free: is the bus whose "qom-list" answer (path
 * /machine/peripheral/PORT/PORT) is @list empty, i.e. has no "child[N]"
 * link to a device? Returns 1, 0, or -EBADMSG.
 */
int ptap_nic_qom_bus_is_free(json_object *list);

/**
 * ptap_nic_qom_list_from_text: HMP's "qom-list PATH" text ("NAME (TYPE)"
 * lines) as QMP's answer, an array of {"name", "type"}, so one reading
 * serves both. Returns 0 and a new array in *@ret, or -ENOMEM.
 */
int ptap_nic_qom_list_from_text(const char *text, json_object **ret);
