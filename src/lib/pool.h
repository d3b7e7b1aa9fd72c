/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool.h: journaled create, destroy and forget of taps (the pool of
 * `ready` taps that attach takes from). Every change to the kernel is
 * write-ahead: intent record made durable, then the helper acts, then the
 * outcome is recorded. A failure rolls back what this call did.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "helperexec.h"
#include "journal.h"
#include "kview.h"

/**
 * ptap_pool_create: create @spec->count taps through the helper, in one
 * helper run, and record them as READY.
 * @j: journal open for writing
 * @spec: what to create; spec->tag is ignored (set from the journal)
 * @owner, @group: numeric owner and group (group (gid_t)-1 = none) for the
 *   records (spec->owner/group carry the same to the helper)
 * @names: on success, a NULL-terminated array of the created names (free
 *   with ptap_strv_free); may be NULL
 * The records name the network namespace this thread runs in (the taps'
 * namespace: the helper is run here). Tap names are unique in a journal,
 * across namespaces: a template create whose kernel-chosen name is on
 * record for a tap of another namespace is rolled back (-EEXIST).
 * Returns 0, or a negative errno with @err filled in; after a failure no
 * tap of this call is left and its records are closed.
 */
int ptap_pool_create(ptap_journal *j, const ptap_create_spec *spec, uid_t owner, gid_t group,
                     char ***names, ptap_error *err);

/* What a caller of ptap_pool_create_with() makes of each new tap's record
 * before it is written: see there. Returns 0 or a negative errno (with
 * @err filled in). */
typedef int (*ptap_pool_outcome_fn)(ptap_record *rec, void *userdata, ptap_error *err);

/**
 * ptap_pool_create_with: ptap_pool_create() whose outcome append also
 * carries the caller's next step: @outcome (may be NULL) is called with
 * each new tap's record (READY, its name and ifindex known) before the
 * outcome append, and may change its state and consumer (an attach makes
 * it its ATTACHING intent), never its name, ids or batch. The records as
 * changed and the closed create intent are written in one durable append,
 * so the caller's step costs no append of its own. A crash after it leaves
 * what the caller's own append would have left; a torn one leaves the
 * create's intent open, which recovery rolls back (the taps go).
 * @outcome failing rolls the create back (no tap left, records closed) and
 * its error is returned.
 * Returns as ptap_pool_create().
 */
int ptap_pool_create_with(ptap_journal *j, const ptap_create_spec *spec, uid_t owner, gid_t group,
                          ptap_pool_outcome_fn outcome, void *userdata, char ***names,
                          ptap_error *err);

/**
 * ptap_pool_destroy: destroy the READY taps @names (all on record, none
 * attached) in one helper batch. Checks everything first: if any name is
 * refused, nothing changes; a tap that a process holds (libvirt through
 * managed='no', a QEMU started by hand) is refused, -EBUSY naming the
 * holder, unless @flags has PTAP_DESTROY_FORCE. A tap already gone from
 * the kernel has its record closed. Each tap is looked for in its own
 * network namespace, entered to destroy it there (one helper batch per
 * namespace); a tap of a namespace this process may not enter is refused
 * (-EPERM, exit 77), one whose namespace is gone has its record closed,
 * and one moved to another namespace is destroyed where it is now.
 * Returns 0 or a negative errno with @err filled in.
 */
int ptap_pool_destroy(ptap_journal *j, char *const *names, size_t n, unsigned flags,
                      ptap_error *err);

/* ptap_pool_destroy_taps() flags */
#define PTAP_DESTROY_UNDO (1u << 0)          /* the helper failed: the records go back to READY
                                              * (it checks every name before it deletes any) */
#define PTAP_DESTROY_FAULTS_POOL (1u << 1)   /* fault points destroy-after-intent/-helper */
#define PTAP_DESTROY_FAULTS_RECOVER (1u << 2) /* fault points recover-after-intent/-helper */
#define PTAP_DESTROY_FORCE (1u << 3)         /* destroy taps that a process holds too */

/* One journaled destroy: what ptap_pool_destroy_taps() is to do. */
typedef struct ptap_destroy_batch {
    ptap_record *recs;      /* records whose taps go: written DESTROYING (the intent)
                             * before the helper runs, DESTROYED after it (states set here) */
    size_t n;
    char *const *names;     /* the devices for the one helper run; NULL: the names of @recs */
    size_t n_names;
    ptap_record *outcome;   /* written after the helper instead of @recs as DESTROYED
                             * (recovery's mixed outcomes, a create's closed intent);
                             * NULL: @recs as DESTROYED */
    size_t n_outcome;
    const char *what;       /* what a helper failure could not do: "cannot destroy taps" */
    const struct ptap_kview *kv; /* the kernel as the caller just saw it (in @netns), to
                                  * tell held taps without another look; NULL: looked up */
    const ptap_netns *netns; /* the network namespace the taps are in; NULL or unknown:
                              * this thread's. Another one is entered for the held
                              * check and the helper (root may), else the call fails
                              * (-EPERM) before anything is written; when it is gone,
                              * so are its taps: no helper runs */
    void (*before_helper)(void *userdata); /* run between intent and helper (recovery's detach) */
    void *userdata;
    bool helper_failed;     /* out: the call failed because the helper did */
} ptap_destroy_batch;

/**
 * ptap_pool_destroy_taps: the one destroy path of libptap, write-ahead:
 * the intent (b->recs as DESTROYING, one durable append), then the helper
 * (b->names, or the records' names, in one batch; not run when there are
 * none), then the outcome (b->outcome, else b->recs as DESTROYED, one
 * append). An empty intent or outcome is not written.
 * The helper runs in b->netns (entered, then left again).
 * A crash in between leaves DESTROYING records that `ptap recover`
 * completes; a failed helper leaves them so too, unless PTAP_DESTROY_UNDO.
 * @flags: PTAP_DESTROY_*
 * Returns 0, or a negative errno with @err filled in (b->helper_failed
 * tells a helper failure from a journal one).
 */
int ptap_pool_destroy_taps(ptap_journal *j, ptap_destroy_batch *b, unsigned flags,
                           ptap_error *err);

/* What ptap_pool_forget() did with one name. */
typedef enum ptap_forget_outcome {
    PTAP_FORGET_IGNORED,   /* not on record */
    PTAP_FORGET_CLOSED,    /* record closed: its tap is gone */
    PTAP_FORGET_FOLLOWED,  /* its tap moved to another namespace: the record follows it */
    PTAP_FORGET_ELSEWHERE, /* its tap lives on in its own namespace, another one */
    PTAP_FORGET_LEFT,      /* of a namespace this process cannot judge: left alone */
} ptap_forget_outcome;

/* What ptap_pool_forget() did with the names on record. */
typedef struct ptap_forget_result {
    size_t forgotten, followed, elsewhere, left; /* records of each outcome */
    ptap_forget_outcome *each; /* NULL, or set by the caller to @n slots: each name's */
} ptap_forget_result;

/* ---- rolling back a create, by its operation id (pure; tests/unit/test_journal.c) ---- */

/**
 * ptap_pool_rollback_floor: the highest ifindex of a tap known to be older
 * than create intent @intent: a live tap record written before the intent
 * (lower seq, or created earlier) whose tap @kv shows under its name, with
 * that ifindex, as this journal's. The kernel hands ifindexes out in
 * increasing order, so every tap the create made has a higher one.
 * Returns 0 when none is known.
 */
int ptap_pool_rollback_floor(const ptap_journal *j, const ptap_record *intent,
                             const struct ptap_kview *kv);

/**
 * ptap_pool_rollback_owns: is live tap record @rec one of the taps that
 * create intent @intent made (its outcome, torn before the intent was
 * closed)? Its batch is the intent's, it was written after the intent and
 * created no earlier, and @d (its device, or NULL), when this journal's
 * (@jid), carries the intent's operation id in its mark and the record's
 * ifindex. A record of an older batch that repeats the id fails this.
 */
bool ptap_pool_rollback_owns(const ptap_record *intent, const ptap_record *rec,
                             const struct ptap_kdev *d, const char *jid);

/**
 * ptap_pool_rollback_takes: may the rollback of create intent @intent
 * remove device @d? Only when everything known agrees: its mark names this
 * journal, this user and the intent's operation; a live record that names
 * it is the intent's own (ptap_pool_rollback_owns()); and it is younger
 * than the taps on record before the intent (ifindex above @floor, from
 * ptap_pool_rollback_floor()). So an operation id that repeats (a header
 * whose next-seq was lowered) never takes an older batch's live taps.
 * @why: when not NULL, set to a static reason on refusal.
 */
bool ptap_pool_rollback_takes(const ptap_journal *j, const ptap_record *intent, int floor,
                              const struct ptap_kdev *d, const char **why);

/**
 * ptap_pool_forget: close the records of @names whose devices no longer
 * exist (what udev calls on removal). Each record is judged in its own
 * network namespace: a tap that still exists there as this journal's is
 * refused (-EBUSY) when that is this process's namespace, and left alone
 * when it is another (the device that vanished here is not it); a tap
 * moved to another namespace is followed (the record names its new one);
 * a record of a namespace this process may not enter is left alone; one
 * whose namespace is gone is closed. A name not on record is ignored.
 * The Open vSwitch port rows of the closed records go too, when their
 * bridge may be an OVS one (ptap-helper ovs-forget; best effort).
 * @res (may be NULL) counts what was done. Returns 0 or a negative errno.
 */
int ptap_pool_forget(ptap_journal *j, char *const *names, size_t n, ptap_forget_result *res,
                     ptap_error *err);

/**
 * ptap_pool_follow: the records that make @rec follow its tap @d, found in
 * namespace @v (moved there, maybe renamed on the way): @rec with @v's
 * namespace (and @d's name and ifindex); when the name changed, @rec
 * closed first. Written to @out (2 slots); returns how many (1 or 2).
 */
size_t ptap_pool_follow(const ptap_record *rec, const ptap_nsview *v, const ptap_kdev *d,
                        ptap_record out[2]);

/**
 * ptap_pool_ovs_guest: when tap record @rec is on an Open vSwitch bridge
 * (its bridge a device here that is not a Linux bridge) and its tap is in
 * this thread's namespace, tell its port which guest it serves now (@mac
 * and @vm_uuid, os-vif's attached-mac and vm-uuid; NULL clears them):
 * ptap-helper ovs-set. Best effort (a port without them still works).
 */
void ptap_pool_ovs_guest(const ptap_record *rec, const char *mac, const char *vm_uuid);

/**
 * ptap_pool_append: ptap_journal_append() that explains a failure in @err
 * ("cannot write journal 'PATH': reason"). Returns as ptap_journal_append().
 */
int ptap_pool_append(ptap_journal *j, ptap_record *recs, size_t n, ptap_error *err);

/** ptap_strv_free: free a NULL-terminated array of strings. */
void ptap_strv_free(char **v);

/**
 * ptap_pool_helper_error: turn a failed helper run into @err: its exit code
 * becomes the exit code, its stderr the message (prefixed by @what).
 * Returns the negative errno recorded.
 */
int ptap_pool_helper_error(ptap_error *err, const char *what, int r, const ptap_helper_result *res);
