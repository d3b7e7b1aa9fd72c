/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hotplug.h: attach a tap to a running guest and detach it again, as
 * journaled transactions (ready -> attaching -> attached, attached ->
 * detaching -> ready/destroyed). QEMU opens the tap by name; no
 * descriptor is ever passed. Any failure rolls back everything the call
 * did: the device, the netdev, and a tap it created.
 *
 * A target is "qmp:PATH" (a QEMU QMP socket), "hmp:PATH" (a QEMU human
 * monitor: new netdev_add/device_add dialect, or the legacy
 * host_net_add/pci_add one of QEMU < 0.13), or a libvirt domain name or
 * UUID (method "device": libvirt's attach API; "monitor": QMP passed
 * through libvirt-qemu).
 */
#pragma once

#include <stdbool.h>
#include <net/if.h>

#include "error.h"
#include "journal.h"

typedef struct ptap_attach_req {
    const char *target;       /* qmp:PATH, hmp:PATH or DOMAIN */
    const char *uri;          /* libvirt URI or NULL (default rules) */
    const char *method;       /* "device" (default) or "monitor" (libvirt) */
    const char *tap;          /* a READY pool tap, or NULL: make a fresh one */
    const char *bridge;       /* fresh tap: bridge, or NULL */
    const char *network;      /* fresh tap: the bridge of this libvirt network (asked of
                               * libvirt at @uri), or NULL; not with @bridge */
    unsigned mtu;             /* fresh tap: MTU, 0 = the bridge's */
    bool multi_queue;         /* fresh tap: IFF_MULTI_QUEUE (implied by queues > 1) */
    bool vnet_hdr;            /* fresh tap: IFF_VNET_HDR */
    const char *model;        /* virtio-net-pci (default), e1000, rtl8139 */
    unsigned queues;          /* 0/1 single queue */
    bool vhost;
    const char *id;           /* device id, or NULL: "net-TAP" */
    const char *mac;          /* guest MAC, or NULL: a fresh 52:54:00:xx:xx:xx */
    const char *bus;          /* bus to plug into (a pcie-root-port: its QEMU id, for
                               * libvirt's device method its alias "pci.N"), or NULL:
                               * QEMU's/libvirt's choice, a free root port on q35 */
    unsigned timeout_ms;      /* 0 = 10 s */
    bool persistent;          /* libvirt (device method): also add the NIC and its
                               * metadata to the persistent definition (migrate.h) */
} ptap_attach_req;

typedef struct ptap_attach_out {
    char tap[IFNAMSIZ];
    char mac[PTAP_MAC_STRLEN];
    char device_id[PTAP_QEMU_ID_MAX];
    char netdev_id[PTAP_QEMU_ID_MAX];
    char target[PTAP_CONSUMER_TARGET_MAX];  /* as recorded (domain UUID for libvirt) */
    char name[PTAP_CONSUMER_TARGET_MAX];    /* domain name for libvirt */
    char network[PTAP_NETWORK_NAME_MAX];    /* attach --network: its name, else "" */
    char bridge[IFNAMSIZ];                  /* the tap's bridge, or "" */
    char bus[PTAP_QEMU_ID_MAX];             /* attach: the bus the NIC went on, or "" */
    bool kept;                              /* detach: tap kept (state ready) */
} ptap_attach_out;

/**
 * ptap_attach: hot-add a NIC backed by a tap to a running guest. On a
 * libvirt domain (device method) the domain's metadata then records what
 * re-creates the tap on another host (migrate.h); a failure there undoes
 * the attach.
 * Returns 0 and fills @out, or a negative errno with @err filled in
 * (exit code 69 when the target is not there or not running; for
 * @req->network, the codes of ptap_virt_network_resolve(), and 64 when it
 * comes with @req->bridge or @req->tap).
 */
int ptap_attach(ptap_journal *j, const ptap_attach_req *req, ptap_attach_out *out,
                ptap_error *err);

typedef struct ptap_detach_req {
    const char *target;
    const char *uri;
    const char *tap;          /* select by tap name, */
    const char *id;           /* or device id, */
    const char *mac;          /* or guest MAC */
    bool keep_tap;            /* keep the tap (state ready) instead of destroying it */
    unsigned timeout_ms;
} ptap_detach_req;

/**
 * ptap_detach: hot-remove the NIC, wait until the guest really released
 * it, then destroy its tap (or keep it in the pool with @keep_tap).
 */
int ptap_detach(ptap_journal *j, const ptap_detach_req *req, ptap_attach_out *out,
                ptap_error *err);
