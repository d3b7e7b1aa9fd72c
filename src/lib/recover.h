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
 * Unmarked devices and other journals' taps are never touched.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>

#include "error.h"
#include "journal.h"
#include "probe.h"

typedef struct ptap_action {
    char action[24];  /* rollback-create, complete-destroy, close, destroy-orphan,
                         complete-attach, rollback-attach, consumer-gone,
                         complete-detach */
    char name[IFNAMSIZ];
    char state[16];   /* the record's state before ("" for an orphan) */
    char reason[PTAP_CONSUMER_TARGET_MAX + 32];
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

/**
 * ptap_release: destroy everything on record for guest @domain (name or
 * UUID, matched against the records' consumer), from the journal alone —
 * never talking to libvirt (a libvirt hook calls this; calling back into
 * libvirt from a hook deadlocks).
 */
int ptap_release(ptap_journal *j, const char *domain, ptap_recover_result *res, ptap_error *err);

void ptap_recover_result_clear(ptap_recover_result *res);

/* ---- the decision table, pure (unit-tested in tests/unit/test_recover.c) ---- */

typedef enum ptap_outcome {
    PTAP_OUTCOME_KEEP,      /* leave the record as it is */
    PTAP_OUTCOME_CLOSE,     /* close the record; destroy its tap if it is ours */
    PTAP_OUTCOME_ATTACHED,  /* record the attach as done */
    PTAP_OUTCOME_READY,     /* back to the pool: ready, consumer cleared */
} ptap_outcome;

/* What recovery found out about one record. */
typedef struct ptap_facts {
    bool tap_ours;    /* a tap of that name exists and carries this journal's mark */
    bool tap_exists;  /* some device of that name exists */
    bool batch_open;  /* READY record whose create intent is still open (torn outcome) */
    ptap_probe probe; /* the consumer (read only when ptap_recover_needs_probe) */
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
