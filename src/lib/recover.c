/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "kview.h"
#include "log.h"
#include "pool.h"
#include "probe.h"
#include "recover.h"

void ptap_recover_result_clear(ptap_recover_result *res)
{
    if (!res)
        return;
    free(res->actions);
    *res = (ptap_recover_result) { 0 };
}

/* What one pass decided. */
typedef struct plan {
    ptap_recover_result *res;
    size_t cap;
    ptap_record *before;    /* records to move to DESTROYING first */
    size_t n_before;
    ptap_record *after;     /* outcome records (closed, attached, ready) */
    size_t n_after;
    char **destroy;         /* device names for the one helper batch */
    size_t n_destroy;
    ptap_record *detach;    /* records whose QEMU device must be removed */
    size_t n_detach;
} plan;

static void plan_clear(plan *p)
{
    free(p->before);
    free(p->after);
    free(p->destroy);
    free(p->detach);
}

static int plan_action(plan *p, const char *action, const char *name, const char *state,
                       const char *reason)
{
    if (p->res->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        ptap_action *a = realloc(p->res->actions, cap * sizeof(*a));

        if (!a)
            return -ENOMEM;
        p->res->actions = a;
        p->cap = cap;
    }
    ptap_action *a = &p->res->actions[p->res->n++];
    memset(a, 0, sizeof(*a));
    snprintf(a->action, sizeof(a->action), "%s", action);
    snprintf(a->name, sizeof(a->name), "%s", name);
    snprintf(a->state, sizeof(a->state), "%s", state);
    snprintf(a->reason, sizeof(a->reason), "%s", reason);
    return 0;
}

static void destroy_dev(plan *p, char *name)
{
    for (size_t i = 0; i < p->n_destroy; i++)
        if (strcmp(p->destroy[i], name) == 0)
            return;
    p->destroy[p->n_destroy++] = name;
}

/* Queue @rec to be closed, destroying its tap first if it is still ours. */
static void close_record(plan *p, const ptap_record *rec, const ptap_kdev *d, const char *jid)
{
    ptap_record r = *rec;

    if (d && ptap_kdev_is_record(d, jid, rec)) {
        r.state = PTAP_STATE_DESTROYING;
        p->before[p->n_before++] = r;
        destroy_dev(p, (char *) d->name);
    }
    r.state = PTAP_STATE_DESTROYED;
    p->after[p->n_after++] = r;
}

bool ptap_recover_needs_probe(const ptap_record *rec, bool tap_ours)
{
    return tap_ours && (rec->state == PTAP_STATE_ATTACHING || rec->state == PTAP_STATE_ATTACHED ||
                        rec->state == PTAP_STATE_DETACHING);
}

#define DECIDE(a, o, why)          \
    do {                           \
        out->action = (a);         \
        out->outcome = (o);        \
        out->reason = (why);       \
        return;                    \
    } while (0)

void ptap_recover_decide(const ptap_record *rec, const ptap_facts *f, ptap_decision *out)
{
    *out = (ptap_decision) { .outcome = PTAP_OUTCOME_KEEP };

    switch (rec->state) {
    case PTAP_STATE_CREATING:
        /* The user was never told: roll back whatever the op made. */
        out->destroy_batch = true;
        DECIDE("rollback-create", PTAP_OUTCOME_CLOSE, "create was interrupted; its taps are removed");

    case PTAP_STATE_DESTROYING:
        DECIDE("complete-destroy", PTAP_OUTCOME_CLOSE, "destroy was interrupted");

    case PTAP_STATE_READY:
        if (f->batch_open)
            /* The create's outcome append was torn: some of its READY
             * records reached the disk, its intent is still open. The
             * rollback of that intent removes this tap too (it carries the
             * batch's mark): close the record with it. */
            DECIDE("rollback-create", PTAP_OUTCOME_CLOSE,
                   "create was interrupted; its taps are removed");
        if (f->tap_ours && (rec->flags & PTAP_TAP_EPHEMERAL))
            /* Made by an attach that died before it touched QEMU. */
            DECIDE("rollback-attach", PTAP_OUTCOME_CLOSE,
                   "attach was interrupted before the guest had the device");
        if (f->tap_ours)
            return;
        DECIDE("close", PTAP_OUTCOME_CLOSE,
               f->tap_exists ? "the device now there is not this journal's tap"
                             : "the tap no longer exists");

    case PTAP_STATE_ATTACHING:
    case PTAP_STATE_ATTACHED:
    case PTAP_STATE_DETACHING:
        if (!f->tap_ours)
            DECIDE("close", PTAP_OUTCOME_CLOSE,
                   f->tap_exists ? "the device now there is not this journal's tap"
                                 : "the tap no longer exists");
        if (f->probe == PTAP_PROBE_UNKNOWN)
            return; /* cannot tell: leave it for a later run */
        if (f->probe == PTAP_PROBE_GONE)
            DECIDE("consumer-gone", PTAP_OUTCOME_CLOSE, "the guest is gone");
        if (rec->state == PTAP_STATE_ATTACHING) {
            if (f->probe == PTAP_PROBE_PRESENT)
                DECIDE("complete-attach", PTAP_OUTCOME_ATTACHED,
                       "the guest has the device: attach completed");
            /* The guest lacks the device; a netdev may be half there. */
            out->detach = true;
            DECIDE("rollback-attach",
                   rec->flags & PTAP_TAP_EPHEMERAL ? PTAP_OUTCOME_CLOSE : PTAP_OUTCOME_READY,
                   "attach was interrupted before the guest had the device");
        }
        if (rec->state == PTAP_STATE_ATTACHED) {
            if (f->probe == PTAP_PROBE_PRESENT)
                return;
            DECIDE("consumer-gone", PTAP_OUTCOME_CLOSE, "the guest no longer has the device");
        }
        /* DETACHING: finish what the user asked for. */
        out->detach = f->probe == PTAP_PROBE_PRESENT;
        DECIDE("complete-detach", rec->flags & PTAP_TAP_KEEP ? PTAP_OUTCOME_READY : PTAP_OUTCOME_CLOSE,
               "detach was interrupted");

    default:
        return;
    }
}

static int plan_record(plan *p, ptap_journal *j, const ptap_kview *kv, const ptap_record *rec)
{
    const char *jid = ptap_journal_id(j);
    const ptap_kdev *d = ptap_kview_find(kv, rec->name);
    const ptap_record *b;
    ptap_facts f = {
        .tap_ours = d && ptap_kdev_is_record(d, jid, rec),
        .tap_exists = d != NULL,
        .probe = PTAP_PROBE_UNKNOWN,
    };
    ptap_decision dec;
    ptap_record r = *rec;
    char why[PTAP_CONSUMER_TARGET_MAX + 32];

    f.batch_open = rec->state == PTAP_STATE_READY && *rec->batch &&
                   (b = ptap_journal_find_batch(j, rec->batch)) && b->state == PTAP_STATE_CREATING;
    if (ptap_recover_needs_probe(rec, f.tap_ours))
        f.probe = ptap_probe_consumer(rec);
    ptap_recover_decide(rec, &f, &dec);
    if (!dec.action)
        return 0;

    if (dec.destroy_batch)
        for (size_t i = 0; i < kv->n; i++)
            if (ptap_kdev_ours(&kv->devs[i], jid) && strcmp(kv->devs[i].op, rec->batch) == 0)
                destroy_dev(p, kv->devs[i].name);
    if (dec.detach)
        p->detach[p->n_detach++] = *rec;
    switch (dec.outcome) {
    case PTAP_OUTCOME_CLOSE:
        close_record(p, rec, d, jid);
        break;
    case PTAP_OUTCOME_ATTACHED:
        r.state = PTAP_STATE_ATTACHED;
        p->after[p->n_after++] = r;
        break;
    case PTAP_OUTCOME_READY:
        r.state = PTAP_STATE_READY;
        r.flags &= ~(PTAP_TAP_KEEP | PTAP_TAP_EPHEMERAL);
        memset(&r.consumer, 0, sizeof(r.consumer));
        p->after[p->n_after++] = r;
        break;
    case PTAP_OUTCOME_KEEP:
        break;
    }
    if (f.probe == PTAP_PROBE_GONE && strcmp(dec.action, "consumer-gone") == 0) {
        snprintf(why, sizeof(why), "guest '%s' is gone",
                 *rec->consumer.name ? rec->consumer.name : rec->consumer.target);
        return plan_action(p, dec.action, rec->name, ptap_state_to_string(rec->state), why);
    }
    return plan_action(p, dec.action, rec->name, ptap_state_to_string(rec->state), dec.reason);
}


/* Between the intent and the helper: removing a QEMU device during
 * recovery is best effort (the tap is destroyed anyway, and a guest NIC
 * whose tap is gone is harmless). */
static void plan_detach(void *userdata)
{
    plan *p = userdata;

    for (size_t i = 0; i < p->n_detach; i++)
        (void) ptap_recover_detach_consumer(&p->detach[i], NULL);
}

static int plan_execute(plan *p, ptap_journal *j, ptap_error *err)
{
    ptap_destroy_batch b = {
        .recs = p->before, .n = p->n_before,
        .names = p->destroy, .n_names = p->n_destroy,
        .outcome = p->after, .n_outcome = p->n_after,
        .what = "cannot remove taps",
        .before_helper = plan_detach, .userdata = p,
    };

    return ptap_pool_destroy_taps(j, &b, PTAP_DESTROY_FAULTS_RECOVER, err);
}

static bool record_matches_domain(const ptap_record *rec, const char *domain)
{
    if (rec->consumer.kind == PTAP_CONSUMER_NONE)
        return false;
    return strcmp(rec->consumer.name, domain) == 0 || strcmp(rec->consumer.target, domain) == 0;
}

static int run(ptap_journal *j, const char *release_domain, bool dry_run,
               ptap_recover_result *res, ptap_error *err)
{
    _cleanup_(ptap_kview_clear) ptap_kview kv = { 0 };
    _cleanup_(plan_clear) plan p = { .res = res };
    size_t n = ptap_journal_count(j);
    const char *jid = ptap_journal_id(j);
    int r;

    *res = (ptap_recover_result) { 0 };
    r = ptap_kview_load(&kv);
    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "cannot list network devices: %s", strerror(-r));
    p.before = calloc(n + 1, sizeof(*p.before));
    p.after = calloc(n + 1, sizeof(*p.after));
    p.detach = calloc(n + 1, sizeof(*p.detach));
    p.destroy = calloc(kv.n + n + 1, sizeof(char *));
    if (!p.before || !p.after || !p.detach || !p.destroy)
        r = -ENOMEM;

    for (size_t i = 0; i < n && r >= 0; i++) {
        const ptap_record *rec = ptap_journal_get(j, i);

        if (release_domain) {
            if (!record_matches_domain(rec, release_domain))
                continue;
            const ptap_kdev *d = ptap_kview_find(&kv, rec->name);
            close_record(&p, rec, d, jid);
            r = plan_action(&p, "release", rec->name, ptap_state_to_string(rec->state),
                            "the guest was released");
        } else {
            r = plan_record(&p, j, &kv, rec);
        }
    }
    /* Orphans: this journal's marked taps that no live record names. */
    for (size_t i = 0; i < kv.n && r >= 0 && !release_domain; i++) {
        ptap_kdev *d = &kv.devs[i];
        const ptap_record *rec;

        if (!ptap_kdev_ours(d, jid))
            continue;
        rec = ptap_journal_find(j, d->name);
        if (rec && rec->state != PTAP_STATE_CREATING)
            continue;
        bool queued = false;
        for (size_t k = 0; k < p.n_destroy; k++)
            queued |= strcmp(p.destroy[k], d->name) == 0;
        if (queued)
            continue;
        destroy_dev(&p, d->name);
        r = plan_action(&p, "destroy-orphan", d->name, "",
                        "a tap of this journal that no record names");
    }
    if (r >= 0 && !dry_run)
        r = plan_execute(&p, j, err);
    if (r < 0) {
        if (err && !err->code)
            ptap_error_set(err, r, 0, "recovery failed: %s", strerror(-r));
        ptap_recover_result_clear(res);
    }
    return r;
}

int ptap_recover(ptap_journal *j, bool dry_run, ptap_recover_result *res, ptap_error *err)
{
    return run(j, NULL, dry_run, res, err);
}

int ptap_release(ptap_journal *j, const char *domain, ptap_recover_result *res, ptap_error *err)
{
    return run(j, domain, false, res, err);
}
