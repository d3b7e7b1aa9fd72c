/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * watch.h: follow rtnetlink link events and keep one journal in step with
 * the kernel while nobody is looking (the engine of `ptap watch`).
 *
 *   - a journaled tap is deleted          -> its record is forgotten
 *                                            (what `ptap forget` does)
 *   - an ATTACHED tap loses its carrier   -> after a grace period, if the
 *     and its QEMU is gone                   carrier is still down and the
 *                                            consumer probes GONE, the tap
 *                                            is destroyed and its record
 *                                            closed (as recovery would)
 *   - a READY tap (no carrier, ever)      -> left alone
 *   - a bridge appears (made again after  -> the taps on record for it that
 *     it was deleted under its taps)         are on no bridge rejoin it
 *                                            (the helper's restore)
 *   - the netlink socket overran (ENOBUFS)-> resync: one full dump, every
 *                                            record compared with it
 *
 * The journal is opened for each action and closed right after: the lock
 * is held only while the watcher reads or writes it, so every other ptap
 * command keeps working, and no record is cached between events (the
 * only thing kept in memory is a list of names waiting for their grace
 * period to end, re-checked against a fresh journal when it does).
 *
 * The caller owns the loop: poll ptap_watch_fd() for input with
 * ptap_watch_timeout_ms() as the timeout, then call ptap_watch_dispatch().
 *
 * Known limits: one journal (one state directory) per watcher; a root
 * watcher does not act on users' journals (they refuse other owners), so
 * a user runs their own watcher. Taps in other network namespaces are not
 * seen: run the watcher in the namespace of the taps.
 */
#pragma once

#include <stdbool.h>
#include <net/if.h>

#include "error.h"

typedef enum ptap_watch_event_kind {
    PTAP_WATCH_FORGOT,     /* a record was closed: its tap was deleted */
    PTAP_WATCH_PENDING,    /* an attached tap lost its carrier: grace starts */
    PTAP_WATCH_CANCELLED,  /* carrier back, or the record moved on: nothing to do */
    PTAP_WATCH_DESTROYED,  /* tap of a gone consumer destroyed, record closed */
    PTAP_WATCH_KEPT,       /* grace over but the consumer is alive or unknown */
    PTAP_WATCH_RESYNC,     /* the event stream overran: full dump and reconcile */
    PTAP_WATCH_REJOINED,   /* a tap's bridge came back: the tap is on it again */
    PTAP_WATCH_FAILED,     /* an action failed (reason says why); the watcher goes on */
    PTAP_WATCH_RETURNED,   /* pool tap of a gone consumer: ready again, record's consumer cleared */
} ptap_watch_event_kind;

typedef struct ptap_watch_event {
    ptap_watch_event_kind kind;
    char name[IFNAMSIZ];       /* the tap ("" for RESYNC) */
    char reason[PTAP_ERROR_MAX];
} ptap_watch_event;

/** Called for everything the watcher did or decided (the caller logs it). */
typedef void (*ptap_watch_report_fn)(const ptap_watch_event *ev, void *userdata);

typedef struct ptap_watch_config {
    const char *state_dir;     /* the journal's directory (required) */
    unsigned grace_ms;         /* carrier-down grace before destroying */
    int rcvbuf;                /* netlink receive buffer in bytes, 0 = libnl default */
    unsigned lock_wait_ms;     /* wait at most this long for the journal lock (0: not at
                                * all); when it gives up, the holder is reported and a
                                * resync follows a few seconds later */
    ptap_watch_report_fn report;
    void *userdata;
} ptap_watch_config;

typedef struct ptap_watch ptap_watch;

/**
 * ptap_watch_new: subscribe to RTNLGRP_LINK (non-blocking, close-on-exec)
 * in the current network namespace. Call ptap_watch_resync() next to
 * catch up with what happened before the subscription.
 * Returns 0 and sets *@ret, or a negative errno.
 */
int ptap_watch_new(const ptap_watch_config *cfg, ptap_watch **ret);

/** ptap_watch_free: close and free; NULL is a no-op. */
void ptap_watch_free(ptap_watch *w);

DEFINE_TRIVIAL_CLEANUP_FUNC(ptap_watch *, ptap_watch_free)

/** ptap_watch_fd: the netlink socket to poll for input. */
int ptap_watch_fd(const ptap_watch *w);

/**
 * ptap_watch_timeout_ms: milliseconds until the next grace period ends,
 * 0 if one already has, -1 if none is pending (poll's convention).
 */
int ptap_watch_timeout_ms(const ptap_watch *w);

/**
 * ptap_watch_dispatch: read every queued link event (resyncing on an
 * overrun), then act on each grace period that has ended.
 * Failures of single actions are reported (PTAP_WATCH_FAILED) and do
 * not stop the watcher. Returns 0, or a negative errno when the netlink
 * socket itself failed (the watcher cannot go on).
 */
int ptap_watch_dispatch(ptap_watch *w);

/**
 * ptap_watch_resync: one full link dump, compared with the journal:
 * records whose tap is gone are forgotten, attached taps without carrier
 * start (or keep) their grace period, taps off the bridge they are on
 * record for rejoin it when it is there. Failures are reported as well; when
 * the journal cannot be read, @err (may be NULL) carries the journal's
 * own reason (a refused directory, a damaged record).
 * Returns 0 or a negative errno.
 */
int ptap_watch_resync(ptap_watch *w, ptap_error *err);
