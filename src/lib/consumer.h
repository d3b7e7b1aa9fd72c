/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * consumer.h: one face for the three kinds of guest ptap attaches to —
 * a QMP socket, an HMP socket (new or legacy dialect), a libvirt domain —
 * so hotplug, recovery and the watcher do not care which it is.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "journal.h"

typedef struct ptap_consumer_conn {
    ptap_consumer_kind kind;
    uid_t uid;                 /* the user QEMU runs as */
    gid_t gid;
    pid_t pid;                 /* QEMU's pid, 0 if unknown */
    uint64_t pid_start;        /* its start time, 0 if unknown */
    char target[PTAP_CONSUMER_TARGET_MAX]; /* socket path or domain UUID */
    char name[PTAP_CONSUMER_TARGET_MAX];   /* domain name, or "" */
    char uri[PTAP_CONSUMER_TARGET_MAX];    /* libvirt URI, or "" */
    char method[16];                       /* libvirt: device|monitor */
    void *impl;                /* ptap_virt* or ptap_monitor* */
} ptap_consumer_conn;

/**
 * ptap_target_kind: what a TARGET of attach, detach or release names:
 * "qmp:PATH" a QMP socket, "hmp:PATH" a human monitor's socket (either
 * dialect: the monitor says which), anything else a libvirt domain (name or
 * UUID). Returns PTAP_CONSUMER_QMP, PTAP_CONSUMER_HMP or
 * PTAP_CONSUMER_LIBVIRT, with @path (NULL allowed) set to the socket's
 * PATH, or to @target itself for a domain.
 */
ptap_consumer_kind ptap_target_kind(const char *target, const char **path);
static inline bool ptap_target_is_monitor(const char *target)
{
    return ptap_target_kind(target, NULL) != PTAP_CONSUMER_LIBVIRT;
}

/**
 * ptap_consumer_connect: open @target ("qmp:PATH", "hmp:PATH", or a
 * libvirt domain name/UUID with @uri and @method), check it is running and
 * learn who QEMU runs as. Exit code 69 in @err when it is not there or not
 * running. Returns 0 or a negative errno.
 */
int ptap_consumer_connect(const char *target, const char *uri, const char *method,
                          ptap_consumer_conn **ret, ptap_error *err);

/** ptap_consumer_connect_record: reconnect to the consumer @c recorded in
 * the journal (for probes and recovery). */
int ptap_consumer_connect_record(const ptap_consumer *c, ptap_consumer_conn **ret,
                                 ptap_error *err);

void ptap_consumer_conn_free(ptap_consumer_conn *cc);
static inline void ptap_consumer_conn_freep(ptap_consumer_conn **cc)
{
    ptap_consumer_conn_free(*cc);
}

/** ptap_consumer_describe: fill the journal's picture of this consumer. */
int ptap_consumer_describe(const ptap_consumer_conn *cc, ptap_consumer *out);

/** ptap_consumer_ids: QEMU device and netdev ids for user id @id. */
int ptap_consumer_ids(const ptap_consumer_conn *cc, const char *id,
                      char device_id[PTAP_QEMU_ID_MAX], char netdev_id[PTAP_QEMU_ID_MAX]);

/**
 * ptap_consumer_add: hot-add a NIC on tap @tap as described by @c (ids,
 * model, mac, queues, bus: "" lets QEMU/libvirt place it, and on a q35
 * guest ptap then picks a free pcie-root-port); legacy HMP fills c->vlan
 * and c->pci_addr, every kind sets c->bus to the bus used ("" when libvirt
 * chose). On failure nothing is left in QEMU and @err quotes QEMU's or
 * libvirt's words; no free root port is exit code 69 (PTAP_NIC_E_NOSLOT),
 * with how to add one.
 */
int ptap_consumer_add(ptap_consumer_conn *cc, ptap_consumer *c, const char *tap, bool vhost,
                      unsigned timeout_ms, ptap_error *err);

/**
 * ptap_consumer_remove: hot-remove the NIC of @c and wait until it is
 * really gone, then remove its netdev. -ENODEV when it was not there.
 */
int ptap_consumer_remove(ptap_consumer_conn *cc, const ptap_consumer *c, unsigned timeout_ms,
                         ptap_error *err);

/** ptap_consumer_netdev_cleanup: remove a netdev left by an interrupted
 * attach (best effort). */
int ptap_consumer_netdev_cleanup(ptap_consumer_conn *cc, const ptap_consumer *c);

/** ptap_consumer_has: 1 if the guest has the NIC of @c, 0 if not, <0 error. */
int ptap_consumer_has(ptap_consumer_conn *cc, const ptap_consumer *c);
