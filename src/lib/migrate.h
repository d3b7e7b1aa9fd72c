/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migrate.h: guests keep their ptap NICs through their whole life — cold
 * start, stop and live migration between hosts (docs/migration.md).
 *
 * Two halves:
 *  - attach side (a libvirt connection): after `ptap attach` (device
 *    method) the domain's metadata names what re-creates the tap
 *    (vmeta.h), in the live definition and, with --persistent, in the
 *    persistent one together with the NIC itself;
 *  - hook side (the journal, the helper, the domain XML on stdin; never
 *    libvirt: a hook that calls back into libvirtd deadlocks it):
 *      prepare  (libvirt's "migrate begin" on a destination, "prepare
 *               begin" of every start): make every tap the metadata names,
 *               journaled as attaching to the domain; all or nothing;
 *      started  ("started begin": QEMU runs, paused): the records become
 *               attached, with QEMU's pid;
 *      stopped  ("stopped end": QEMU has gone): when the domain left by
 *               migration, or an incoming migration failed, or it never
 *               started, its taps and records go, pool taps too (the tap's
 *               name travels with the guest). Otherwise nothing here:
 *               release end runs `ptap release`, as for any guest.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "consumer.h"
#include "error.h"
#include "journal.h"
#include "recover.h"
#include "vmeta.h"

/**
 * ptap_migrate_note_attach: the NIC on @rec's tap was just hot-added to a
 * libvirt domain through @cc (device method): record its recipe in the
 * domain's live metadata; with @persistent, also add the NIC (@vhost as
 * attached) and the recipe to the persistent definition (refused, -EINVAL,
 * for a transient domain). Monitor method and other kinds: nothing (0).
 * Returns 0 or a negative errno with @err filled in; a failure leaves the
 * metadata as it was (the caller undoes the attach).
 */
int ptap_migrate_note_attach(ptap_consumer_conn *cc, const ptap_record *rec, bool vhost,
                             bool persistent, ptap_error *err);

/**
 * ptap_migrate_note_detach: drop @rec's entry from the live metadata
 * (best effort: the NIC is already gone). Returns 0 or a negative errno.
 */
int ptap_migrate_note_detach(ptap_consumer_conn *cc, const ptap_record *rec);

/* What the hook commands are given. */
typedef struct ptap_hook_req {
    const char *domain;     /* the name libvirt passed (checked against the XML) */
    const char *uuid;       /* when given, must be the XML's */
    const char *uri;        /* recorded in the records (default "qemu:///system") */
    const char *xml;        /* the domain XML, as libvirt gave it on stdin */
    size_t len;
    const char *qemu_conf;  /* default /etc/libvirt/qemu.conf: its user = "..." */
    const char *network_dir; /* default /run/libvirt/network: active networks' status */
    const char *status;     /* stopped: libvirt's status XML of the domain (may be missing) */
    const char *pid_file;   /* started: libvirt's pid file of QEMU (default
                             * /run/libvirt/qemu/NAME.pid) */
} ptap_hook_req;

/* One thing a hook did, for the report. */
typedef struct ptap_hook_action {
    char tap[IFNAMSIZ];
    char action[16];   /* created, kept, attached, destroyed, closed */
    char reason[160];
} ptap_hook_action;

typedef struct ptap_hook_result {
    ptap_hook_action actions[PTAP_VMETA_NICS_MAX];
    size_t n;
} ptap_hook_result;

/**
 * ptap_hook_prepare: make every tap the metadata of @req's domain names
 * (ignoring entries whose interface is not in the XML), owned by the user
 * the domain's QEMU will run as here (a static DAC label, else qemu.conf's
 * user, else libvirt-qemu, qemu or root: the first that exists), on its
 * bridge (or its libvirt network's, from libvirt's status files), journaled
 * in @j as attaching to the domain. A tap already on record for this
 * domain is kept (prepare runs after migrate begin). If any cannot be made
 * (a bad value, bridge or network missing, name taken, the helper's
 * policy or quota), those made are destroyed again and the call fails
 * with @err saying why (the hook then fails libvirt's operation with it).
 * Returns the number made, or a negative errno.
 */
int ptap_hook_prepare(ptap_journal *j, const ptap_hook_req *req, ptap_hook_result *res,
                      ptap_error *err);

/**
 * ptap_hook_started: QEMU of the domain runs: its attaching records (and
 * attached ones kept from an earlier run whose QEMU went without a
 * release) become attached to this QEMU, with its pid (libvirt's pid file, confirmed by the UUID on
 * QEMU's command line) and the device alias libvirt gave. Returns the number of records changed, or a
 * negative errno.
 */
int ptap_hook_started(ptap_journal *j, const ptap_hook_req *req, ptap_hook_result *res,
                      ptap_error *err);

/**
 * ptap_hook_stopped: QEMU of the domain has gone. When libvirt's status
 * (@req->status) says a migration was under way ("migration out": the
 * guest lives on elsewhere; "migration in": it never arrived), every tap
 * on record for the domain is destroyed and its record closed; otherwise
 * only those still attaching (made for a start that never ran). Taps a
 * process still holds are left (-EBUSY once the rest is done). Returns the
 * number of taps destroyed, or a negative errno.
 */
int ptap_hook_stopped(ptap_journal *j, const ptap_hook_req *req, ptap_hook_result *res,
                      ptap_error *err);

/**
 * ptap_hook_qemu_user: the user QEMU runs as per @qemu_conf (its
 * `user = "NAME"` line; "+UID" is numeric), else the first of
 * libvirt-qemu, qemu, root that exists. Returns 0 or a negative errno.
 */
int ptap_hook_qemu_user(const char *qemu_conf, uid_t *uid);

/**
 * ptap_hook_network_bridge: the bridge of active libvirt network @name
 * from its status file in @dir (NAME.xml, written by libvirtd while the
 * network runs): <network>'s <bridge name=...>. Returns 0, -ENOENT (not
 * active), -ENODATA (no bridge of its own), -EBADMSG.
 */
int ptap_hook_network_bridge(const char *dir, const char *name, char bridge[IFNAMSIZ]);
