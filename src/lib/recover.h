/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * recover.h: make the journal and the world agree after any crash.
 *
 * One kernel dump, one pass over the live records, one helper batch for
 * every tap to remove. The rules (docs/recovery.md):
 *   creating               -> roll back: destroy what the op made, close
 *   destroying             -> complete: destroy if still there, close
 *   ready, tap gone        -> close
 *   attaching              -> QEMU has the device ? attached : roll back
 *   attached, consumer gone-> destroy the tap, close
 *   detaching              -> complete the detach
 *   marked tap of this journal with no live record (orphan) -> destroy
 *   Open vSwitch port row of this journal's tap that is gone -> forget
 * Unmarked devices and other journals' taps (and OVS rows) are never
 * touched.
 *
 * Network namespaces: every record is judged in its tap's namespace
 * (kview.h's one view per namespace), never in another: entered with
 * setns where this process may (root), its helper batch run there. A
 * record of a namespace it may not enter is left alone ("other-netns");
 * one whose namespace no longer exists is closed, nothing destroyed
 * ("netns-gone"); one whose tap moved to another namespace follows it
 * ("follow-netns"). Orphans are looked for where ptap runs and in the
 * namespaces of the live records.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>

#include "error.h"
#include "journal.h"
#include "kview.h"
#include "probe.h"

typedef struct ptap_action {
    char action[24];  /* rollback-create, complete-destroy, close, destroy-orphan,
                         complete-attach, rollback-attach, consumer-gone,
                         complete-detach, follow-rename, in-use, other-netns,
                         netns-gone, follow-netns, forget-ovs-port; release,
                         kept (release) */
    char name[IFNAMSIZ];
    char state[16];   /* the record's state before ("" for an orphan) */
    char reason[PTAP_CONSUMER_TARGET_MAX + PTAP_HOLDER_DESCRIBE_MAX + PTAP_NETNS_NAME_MAX];
    ptap_netns netns; /* the namespace it was judged in (where a followed tap went) */
    bool here;        /* that is the namespace this process runs in */
} ptap_action;

typedef struct ptap_recover_result {
    ptap_action *actions;
    size_t n;
} ptap_recover_result;

/**
 * ptap_recover: reconcile @j with the kernel and the guests.
 * @dry_run: plan only; change nothing (no journal write, no helper run)
 * @res: the actions taken (or planned); free with ptap_recover_result_clear
 * Returns 0 or a negative errno with @err filled in.
 */
int ptap_recover(ptap_journal *j, bool dry_run, ptap_recover_result *res, ptap_error *err);

/* Which guest a release is for: the TARGET syntax of attach and detach. */
typedef struct ptap_release_req {
    const char *target; /* "qmp:PATH", "hmp:PATH", or a libvirt domain name or UUID */
    const char *uuid;   /* the domain's UUID when known (the libvirt hook passes it):
                         * then only the UUID is matched, never the name */
    const char *uri;    /* libvirt connection the domain lives on, or NULL: the
                         * default (LIBVIRT_DEFAULT_URI, else system for root,
                         * session otherwise) */
    bool force;         /* release even records whose guest still runs */
} ptap_release_req;

/**
 * ptap_release_matches: is @rec the record of a NIC of the guest @req names?
 * qmp:PATH / hmp:PATH: a monitor consumer of that kind on that socket.
 * A UUID (in @req->uuid, or as the target): a libvirt consumer with that
 * UUID on the same connection. A name: a libvirt consumer of that name on
 * the same connection. Connections compare by driver, host and path
 * ("qemu:///system" and "qemu+unix:///system?socket=..." are one), so a
 * system guest never releases a session guest of the same name or UUID.
 * Pure (unit-tested).
 */
bool ptap_release_matches(const ptap_record *rec, const ptap_release_req *req);

/**
 * ptap_release_target_check: -EINVAL with @why when @target cannot name a
 * guest (empty, or a path without "qmp:"/"hmp:").
 */
int ptap_release_target_check(const char *target, const char **why);

/**
 * ptap_release: destroy every tap on record for the guest @req names and
 * close the records, from the journal and /proc alone: never talking to
 * libvirt (the libvirt hook calls this; calling back into libvirt from a
 * hook deadlocks). A record whose guest still runs (its QEMU process, a
 * process with the domain's UUID, or a monitor socket that answers) is left
 * alone unless @req->force: the action is then "kept" and the call returns
 * -EBUSY (exit 75) once the others are done.
 */
int ptap_release(ptap_journal *j, const ptap_release_req *req, ptap_recover_result *res,
                 ptap_error *err);

void ptap_recover_result_clear(ptap_recover_result *res);

/* ---- the decision table, pure (unit-tested in tests/unit/test_recover.c) ---- */

typedef enum ptap_outcome {
    PTAP_OUTCOME_KEEP,      /* leave the record as it is */
    PTAP_OUTCOME_CLOSE,     /* close the record; destroy its tap if it is ours */
    PTAP_OUTCOME_ATTACHED,  /* record the attach as done */
    PTAP_OUTCOME_READY,     /* back to the pool: ready, consumer cleared */
    PTAP_OUTCOME_FOLLOW,    /* the record follows its tap to the namespace it moved to */
} ptap_outcome;

/* What recovery found out about one record. */
typedef struct ptap_facts {
    bool tap_ours;    /* a tap of that name exists and carries this journal's mark */
    bool tap_exists;  /* some device of that name exists */
    bool batch_open;  /* READY (or an attach's ATTACHING) record whose create intent is
                       * still open (torn outcome) */
    bool held;        /* a process holds a queue of the tap (the kernel's count) */
    ptap_probe probe; /* the consumer (read only when ptap_recover_needs_probe) */
    ptap_netns_judge netns; /* where the record's namespace lets it be judged (HERE
                             * and ENTER alike: the facts above are from there) */
    bool moved;       /* not ours in its namespace, but this journal's tap of the
                       * record (name or ifindex, mark, batch) is in another one */
} ptap_facts;

typedef struct ptap_decision {
    const char *action;   /* NULL: nothing to do */
    const char *reason;
    ptap_outcome outcome;
    bool destroy_batch;   /* destroy every tap the record's operation marked */
    bool detach;          /* remove the device (or half-added netdev) from the guest first */
} ptap_decision;

/** ptap_recover_needs_probe: must the consumer be asked before deciding? */
bool ptap_recover_needs_probe(const ptap_record *rec, bool tap_ours);

/** ptap_recover_decide: the recovery rule for @rec given @facts. */
void ptap_recover_decide(const ptap_record *rec, const ptap_facts *facts, ptap_decision *out);
