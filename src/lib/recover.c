/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "consumer.h"
#include "kview.h"
#include "log.h"
#include "pool.h"
#include "probe.h"
#include "proc.h"
#include "recover.h"
#include "virt.h"

void ptap_recover_result_clear(ptap_recover_result *res)
{
    if (!res)
        return;
    free(res->actions);
    *res = (ptap_recover_result) { 0 };
}

/* A tap followed into another namespace (maybe renamed on the way): no
 * orphan there, whatever its name. */
typedef struct moved_in {
    const ptap_nsview *v;
    int ifindex;
} moved_in;

/* What one pass decided, for one namespace. */
typedef struct plan {
    ptap_recover_result *res;
    size_t *cap;            /* of res->actions (shared by the plans of one run) */
    const ptap_nsview *v;   /* the namespace this plan judges and acts in */
    ptap_record *before;    /* records to move to DESTROYING first */
    size_t n_before;
    ptap_record *after;     /* outcome records (closed, attached, ready) */
    size_t n_after;
    char **destroy;         /* device names for the one helper batch */
    size_t n_destroy;
    void *queued;           /* the same names, a search tree (tsearch) */
    void **said;            /* the names the actions name so far, a search tree
                             * (shared by the plans, as their actions are) */
    ptap_record *detach;    /* records whose QEMU device must be removed */
    size_t n_detach;
    int *followed;          /* ifindexes of renamed taps whose records follow them */
    size_t n_followed;
    moved_in *mi;           /* taps followed into other namespaces (shared by the plans) */
    size_t *n_mi;
    struct restore {        /* taps to put back: out of a deletion group, onto their bridge */
        char *name;
        const char *bridge; /* NULL: no bridge to rejoin */
    } *restore;
    size_t n_restore;
    const ptap_ovsview *ov; /* Open vSwitch as the helper sees it (may be unknown) */
} plan;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void name_keep(void *name)
{
    (void) name; /* the tree of a plan's destroys points into its records and views */
}

static void plan_clear(plan *p)
{
    tdestroy(p->queued, name_keep);
    p->queued = NULL;
    free(p->before);
    free(p->after);
    free(p->destroy);
    free(p->detach);
    free(p->followed);
    free(p->restore);
}

/* An action judged in view @v's namespace. */
static int plan_action_in(plan *p, const ptap_nsview *v, const char *action, const char *name,
                          const char *state, const char *reason)
{
    if (p->res->n == *p->cap) {
        size_t cap = *p->cap ? *p->cap * 2 : 16;
        ptap_action *a = realloc(p->res->actions, cap * sizeof(*a));

        if (!a)
            return -ENOMEM;
        p->res->actions = a;
        *p->cap = cap;
    }
    char *key = strdup(name);
    void *at = key ? tsearch(key, p->said, cmp_name) : NULL;

    if (!at) {
        free(key);
        return -ENOMEM;
    }
    if (*(char **) at != key)
        free(key); /* said before */
    ptap_action *a = &p->res->actions[p->res->n++];
    memset(a, 0, sizeof(*a));
    snprintf(a->action, sizeof(a->action), "%s", action);
    snprintf(a->name, sizeof(a->name), "%s", name);
    snprintf(a->state, sizeof(a->state), "%s", state);
    snprintf(a->reason, sizeof(a->reason), "%s", reason);
    if (v) {
        a->netns = v->ns;
        a->here = v->judge == PTAP_NETNS_JUDGE_HERE;
    }
    return 0;
}

/* Has this pass already said something about tap @name? (A search
 * tree: a recovery of thousands of orphans asks it of each.) */
static bool reported(const plan *p, const char *name)
{
    return tfind(name, p->said, cmp_name) != NULL;
}

static bool queued(const plan *p, const char *name)
{
    return tfind(name, &p->queued, cmp_name) != NULL;
}

static int plan_action(plan *p, const char *action, const char *name, const char *state,
                       const char *reason)
{
    return plan_action_in(p, p->v, action, name, state, reason);
}

static void destroy_dev(plan *p, char *name)
{
    if (queued(p, name))
        return;
    /* Out of memory the name is not in the tree: at worst the helper is
     * given it twice, and destroys it once. */
    (void) tsearch(name, &p->queued, cmp_name);
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

static void decide_rule(const ptap_record *rec, const ptap_facts *f, ptap_decision *out)
{
    *out = (ptap_decision) { .outcome = PTAP_OUTCOME_KEEP };

    /* The namespace first: nothing is concluded from another one. */
    switch (f->netns) {
    case PTAP_NETNS_JUDGE_LEAVE:
        DECIDE("other-netns", PTAP_OUTCOME_KEEP,
               "its network namespace cannot be looked into from here: left alone");
    case PTAP_NETNS_JUDGE_GONE:
        if (f->moved && rec->state != PTAP_STATE_CREATING)
            DECIDE("follow-netns", PTAP_OUTCOME_FOLLOW, "the tap moved to another network namespace");
        /* Its taps went with it (the kernel deletes a namespace's virtual
         * devices): nothing is left to destroy. */
        DECIDE("netns-gone", PTAP_OUTCOME_CLOSE,
               "its network namespace no longer exists, nor its taps");
    case PTAP_NETNS_JUDGE_HERE:
    case PTAP_NETNS_JUDGE_ENTER:
    default:
        break;
    }
    /* Missing where its record says, there in another namespace: never
     * "gone", whatever the state (a create's intent has no one tap). */
    if (f->moved && !f->tap_ours && rec->state != PTAP_STATE_CREATING)
        DECIDE("follow-netns", PTAP_OUTCOME_FOLLOW, "the tap moved to another network namespace");

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
        if (f->batch_open && rec->state == PTAP_STATE_ATTACHING)
            /* An attach's intent written with its fresh tap's create
             * outcome, torn: QEMU is told only once that append is whole,
             * so the guest cannot have the device. The batch's rollback
             * removes the tap: close the record with it. */
            DECIDE("rollback-create", PTAP_OUTCOME_CLOSE,
                   "create was interrupted; its taps are removed");
        if (f->probe == PTAP_PROBE_UNKNOWN)
            return; /* cannot tell: leave it for a later run */
        /* A guest that goes away takes the taps ptap made for it; a pool
         * tap (made by create) goes back to the pool, never destroyed for
         * that. A detach the user asked for is finished as asked. */
        if (f->probe == PTAP_PROBE_GONE && rec->state == PTAP_STATE_DETACHING)
            DECIDE("consumer-gone", rec->flags & PTAP_TAP_KEEP ? PTAP_OUTCOME_READY : PTAP_OUTCOME_CLOSE,
                   "the guest is gone");
        if (f->probe == PTAP_PROBE_GONE)
            DECIDE("consumer-gone", rec->flags & PTAP_TAP_EPHEMERAL ? PTAP_OUTCOME_CLOSE
                                                                    : PTAP_OUTCOME_READY,
                   "the guest is gone");
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
            DECIDE("consumer-gone",
                   rec->flags & PTAP_TAP_EPHEMERAL ? PTAP_OUTCOME_CLOSE : PTAP_OUTCOME_READY,
                   "the guest no longer has the device");
        }
        /* DETACHING: finish what the user asked for. */
        out->detach = f->probe == PTAP_PROBE_PRESENT;
        DECIDE("complete-detach", rec->flags & PTAP_TAP_KEEP ? PTAP_OUTCOME_READY : PTAP_OUTCOME_CLOSE,
               "detach was interrupted");

    default:
        return;
    }
}

void ptap_recover_decide(const ptap_record *rec, const ptap_facts *f, ptap_decision *out)
{
    decide_rule(rec, f, out);
    /* A tap that a process holds is never destroyed, whatever the record
     * says; unless the guest's device is removed first (its QEMU is then
     * the holder, and lets go). */
    if (out->action && f->tap_ours && f->held && !out->detach && out->outcome == PTAP_OUTCOME_CLOSE)
        *out = (ptap_decision) {
            .action = "in-use",
            .outcome = PTAP_OUTCOME_KEEP,
            .reason = "a process holds the tap: left alone ('ptap destroy --force' removes it)",
        };
}

/* An "in-use" action for tap @name, naming who holds it. */
static int kept_in_use(plan *p, const char *name, const char *state)
{
    char who[PTAP_HOLDER_DESCRIBE_MAX], why[sizeof(p->res->actions[0].reason)];

    ptap_kdev_describe_holder(name, &p->v->ns, who, sizeof(who));
    snprintf(why, sizeof(why), "in use by %s: left alone ('ptap destroy --force' removes it)", who);
    return plan_action(p, "in-use", name, state, why);
}

/*
 * A live record whose tap is ours but not as it was made: left in a
 * deletion group by a helper killed mid-destroy (the group delete never
 * came), or off its bridge because the bridge was deleted (its ports are
 * let go) — and perhaps made again since. Put it back, or say why not.
 * Judged in the plan's namespace, whose devices @kv are.
 */
static int plan_stranded(plan *p, const ptap_kview *kv, const ptap_record *rec,
                         const ptap_kdev *d, bool ours)
{
    const char *state = ptap_state_to_string(rec->state);
    const char *bridge = NULL;
    bool regroup, rejoin = false;
    char why[96];

    if (!ours || !d || (p->v->judge != PTAP_NETNS_JUDGE_HERE && p->v->judge != PTAP_NETNS_JUDGE_ENTER))
        return 0;
    regroup = d->link_group != 0;
    /* A port of an Open vSwitch bridge has no Linux master: not stranded. */
    if (*rec->bridge && strcmp(d->bridge, rec->bridge) != 0 && !*d->bridge &&
        !ptap_ovsview_is_bridge(p->ov, rec->bridge)) {
        const ptap_kdev *br = ptap_kview_find(kv, rec->bridge);

        if (!br || !br->is_bridge) {
            snprintf(why, sizeof(why), "its bridge '%s' is gone: rejoined when it is back",
                     rec->bridge);
            if (!regroup)
                return plan_action(p, "bridge-gone", rec->name, state, why);
        } else {
            rejoin = true;
            bridge = br->name;
        }
    }
    if (!regroup && !rejoin)
        return 0;
    p->restore[p->n_restore++] = (struct restore) { .name = (char *) d->name, .bridge = bridge };
    if (rejoin)
        snprintf(why, sizeof(why), "bridge '%s' is back: the tap rejoins it%s", rec->bridge,
                 regroup ? ", and leaves a deletion group" : "");
    else
        snprintf(why, sizeof(why), "left in deletion group %u by an interrupted destroy",
                 d->link_group);
    return plan_action(p, rejoin ? "rejoin-bridge" : "restore-group", rec->name, state, why);
}

/* Judge @rec in the namespace of plan @p (its own: p->v, one of @w's). */
static int plan_record(plan *p, ptap_journal *j, ptap_kviews *w, const ptap_record *rec)
{
    const char *jid = ptap_journal_id(j);
    const ptap_nsview *v = p->v;
    const ptap_kview *kv = &v->kv; /* empty unless HERE or ENTER */
    const ptap_kdev *d = ptap_kview_find(kv, rec->name);
    const ptap_kdev *moved_dev = NULL;
    ptap_nsview *moved_to = NULL;
    const ptap_record *b;
    ptap_facts f;

    /* Renamed (by a guest tool, an admin): the record follows its tap by
     * ifindex, if it is really ours and the new name is not on record. */
    if (!d && rec->ifindex > 0 && rec->state != PTAP_STATE_CREATING) {
        const ptap_kdev *moved = ptap_kview_find_index(kv, rec->ifindex);

        if (moved && ptap_kdev_is_record(moved, jid, rec) && !ptap_journal_find(j, moved->name)) {
            ptap_record renamed = *rec, old = *rec;
            char why[64];

            old.state = PTAP_STATE_DESTROYED;
            p->after[p->n_after++] = old;
            snprintf(renamed.name, sizeof(renamed.name), "%s", moved->name);
            p->after[p->n_after++] = renamed;
            p->followed[p->n_followed++] = moved->ifindex;
            snprintf(why, sizeof(why), "the tap was renamed to '%s'", moved->name);
            return plan_action(p, "follow-rename", rec->name, ptap_state_to_string(rec->state),
                               why);
        }
    }
    f = (ptap_facts) {
        .tap_ours = d && ptap_kdev_is_record(d, jid, rec),
        .tap_exists = d != NULL,
        .held = ptap_kdev_held(d),
        .probe = PTAP_PROBE_UNKNOWN,
        .netns = v->judge,
    };
    ptap_decision dec;
    ptap_record r = *rec;
    char why[sizeof(p->res->actions[0].reason)];
    int r2;

    /* Not where its record says: moved to another namespace (`ip link set
     * dev T netns B`)? Looked for by its mark before it is called gone. */
    if (v->judge != PTAP_NETNS_JUDGE_LEAVE && !f.tap_ours && rec->state != PTAP_STATE_CREATING) {
        moved_dev = ptap_kviews_find_moved(w, rec, jid, &moved_to);
        /* Renamed on the way to a name on record: not followed (the
         * record closes; the tap is that other record's business). */
        if (moved_dev && strcmp(moved_dev->name, rec->name) != 0 &&
            ptap_journal_find(j, moved_dev->name))
            moved_dev = NULL;
        f.moved = moved_dev != NULL;
    }

    /* Only a record the open intent itself wrote (not an older batch's
     * that repeats its id) is part of the torn create. */
    f.batch_open = (rec->state == PTAP_STATE_READY || rec->state == PTAP_STATE_ATTACHING) &&
                   *rec->batch &&
                   (b = ptap_journal_find_batch(j, rec->batch)) && b->state == PTAP_STATE_CREATING &&
                   ptap_pool_rollback_owns(b, rec, d, jid);
    if (ptap_recover_needs_probe(rec, f.tap_ours))
        f.probe = ptap_probe_consumer(rec);
    ptap_recover_decide(rec, &f, &dec);
    if (!dec.action)
        return plan_stranded(p, kv, rec, d, f.tap_ours);

    if (dec.destroy_batch) {
        /* Every tap the operation marked, unless what else is known (a
         * live record of another batch, an ifindex older than the intent)
         * says it is not this create's: ptap_pool_rollback_takes(). */
        int floor = ptap_pool_rollback_floor(j, rec, kv);

        for (size_t i = 0; i < kv->n; i++) {
            const ptap_kdev *bd = &kv->devs[i];
            const char *keep = NULL;

            if (!ptap_pool_rollback_takes(j, rec, floor, bd, &keep)) {
                if (ptap_kdev_ours(bd, jid) && strcmp(bd->op, rec->batch) == 0)
                    ptap_debug("rollback of '%s' keeps '%s': %s", rec->batch, bd->name, keep);
                continue;
            }
            if (ptap_kdev_held(bd)) {
                r2 = kept_in_use(p, bd->name, "");
                if (r2 < 0)
                    return r2;
                continue;
            }
            destroy_dev(p, (char *) bd->name);
        }
    }
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
    case PTAP_OUTCOME_FOLLOW: {
        char to[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 32];
        bool renamed = strcmp(moved_dev->name, rec->name) != 0;

        p->n_after += ptap_pool_follow(rec, moved_to, moved_dev, &p->after[p->n_after]);
        p->mi[(*p->n_mi)++] = (moved_in) { .v = moved_to, .ifindex = moved_dev->ifindex };
        ptap_nsview_describe(moved_to, to, sizeof(to));
        snprintf(why, sizeof(why), "the tap moved to %s%s%s%s: its record follows it", to,
                 renamed ? " as '" : "", renamed ? moved_dev->name : "", renamed ? "'" : "");
        /* Said of the namespace it went to. */
        return plan_action_in(p, moved_to, dec.action, rec->name,
                              ptap_state_to_string(rec->state), why);
    }
    case PTAP_OUTCOME_KEEP:
        break;
    }
    if (f.netns == PTAP_NETNS_JUDGE_LEAVE) {
        ptap_nsview_why(v, why, sizeof(why));
        return plan_action(p, dec.action, rec->name, ptap_state_to_string(rec->state), why);
    }
    if (strcmp(dec.action, "netns-gone") == 0) {
        char where[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 32];

        ptap_nsview_describe(v, where, sizeof(where));
        snprintf(why, sizeof(why), "its %s no longer exists, nor its taps", where);
        return plan_action(p, dec.action, rec->name, ptap_state_to_string(rec->state), why);
    }
    if (strcmp(dec.action, "in-use") == 0)
        return kept_in_use(p, rec->name, ptap_state_to_string(rec->state));
    if (strcmp(dec.action, "consumer-gone") == 0) {
        const char *who = *rec->consumer.name ? rec->consumer.name : rec->consumer.target;
        const char *then = dec.outcome == PTAP_OUTCOME_READY ? ": its pool tap is ready again"
                                                             : ": its tap is removed";

        if (f.probe == PTAP_PROBE_GONE)
            snprintf(why, sizeof(why), "guest '%s' is gone%s", who, then);
        else
            snprintf(why, sizeof(why), "guest '%s' no longer has the device%s", who, then);
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

/* Put stranded taps back: one helper run per bridge (and one for those
 * that only leave a deletion group), in the plan's namespace. The records
 * already say how the taps should be; nothing is journaled. */
static int plan_restore(plan *p, ptap_error *err)
{
    _cleanup_free_ char **names = calloc(p->n_restore + 1, sizeof(*names));
    _cleanup_free_ bool *done = calloc(p->n_restore + 1, sizeof(*done));
    _cleanup_(ptap_netns_leavep) int saved = -1;
    int r = 0;

    if (p->n_restore == 0)
        return 0;
    if (!names || !done)
        return -ENOMEM;
    if (p->v->judge == PTAP_NETNS_JUDGE_ENTER) {
        r = ptap_netns_enter(p->v->fd, &saved);
        if (r < 0)
            return ptap_error_set(err, r, EX_OSERR,
                                  "cannot put taps back: cannot enter their network namespace: %s",
                                  strerror(-r));
    }
    for (size_t i = 0; i < p->n_restore && r >= 0; i++) {
        _cleanup_(ptap_helper_result_clear) ptap_helper_result res = { 0 };
        const char *br = p->restore[i].bridge;
        size_t n = 0;

        if (done[i])
            continue;
        for (size_t k = i; k < p->n_restore; k++)
            if (!done[k] && (br ? p->restore[k].bridge && strcmp(p->restore[k].bridge, br) == 0
                                : !p->restore[k].bridge)) {
                names[n++] = p->restore[k].name;
                done[k] = true;
            }
        r = ptap_helper_restore(names, n, br, &res);
        if (r < 0 || res.status != 0)
            r = ptap_pool_helper_error(err, "cannot put taps back", r, &res);
    }
    return r;
}

static int plan_execute(plan *p, ptap_journal *j, ptap_error *err)
{
    ptap_destroy_batch b = {
        .recs = p->before, .n = p->n_before,
        .names = p->destroy, .n_names = p->n_destroy,
        .outcome = p->after, .n_outcome = p->n_after,
        .what = "cannot remove taps",
        .before_helper = plan_detach, .userdata = p,
        /* The helper runs in the plan's namespace (entered for it). */
        .netns = &p->v->ns,
    };

    int r;

    if (p->v->judge == PTAP_NETNS_JUDGE_LEAVE)
        return 0;
    if (p->n_before == 0 && p->n_after == 0 && p->n_destroy == 0 && p->n_detach == 0)
        return plan_restore(p, err); /* nothing to write, nothing to destroy */
    /* FORCE: the plan already left every held tap alone (the "in-use"
     * rule), except those whose guest device it removes first: their QEMU
     * holds them until plan_detach() has run. */
    r = ptap_pool_destroy_taps(j, &b, PTAP_DESTROY_FAULTS_RECOVER | PTAP_DESTROY_FORCE, err);
    if (r < 0)
        return r;
    return plan_restore(p, err);
}

/* "DRIVER[+TRANSPORT]://[USER@]HOST/PATH[?QUERY]" -> "DRIVER://HOST/PATH";
 * "" for the default connection (@uri NULL or ""). */
static void uri_key(const char *uri, char *buf, size_t len)
{
    const char *plus, *sep, *path, *q, *at;
    size_t dl;

    if (!uri || !*uri)
        uri = ptap_virt_default_uri();
    sep = strstr(uri, "://");
    if (!sep) {
        snprintf(buf, len, "%s", uri);
        return;
    }
    plus = memchr(uri, '+', (size_t) (sep - uri));
    dl = (size_t) ((plus ? plus : sep) - uri);
    path = strchr(sep + 3, '/');
    if (!path)
        path = sep + strlen(sep);
    at = memchr(sep + 3, '@', (size_t) (path - (sep + 3)));
    q = strchr(path, '?');
    snprintf(buf, len, "%.*s://%.*s%.*s", (int) dl, uri,
             (int) (path - (at ? at + 1 : sep + 3)), at ? at + 1 : sep + 3,
             (int) (q ? (size_t) (q - path) : strlen(path)), path);
}

/* UUIDs compare without regard to case or dashes. */
static bool uuid_equal(const char *a, const char *b)
{
    while (*a || *b) {
        if (*a == '-') {
            a++;
            continue;
        }
        if (*b == '-') {
            b++;
            continue;
        }
        if (tolower((unsigned char) *a) != tolower((unsigned char) *b))
            return false;
        a++;
        b++;
    }
    return true;
}

int ptap_release_target_check(const char *target, const char **why)
{
    const char *path;

    if (!target || !*target) {
        *why = "an empty guest name";
        return -EINVAL;
    }
    if (ptap_target_kind(target, &path) != PTAP_CONSUMER_LIBVIRT) {
        if (*path != '/') {
            *why = "a monitor socket is qmp:PATH or hmp:PATH with an absolute PATH";
            return -EINVAL;
        }
        return 0;
    }
    if (strchr(target, '/')) {
        *why = "not a libvirt domain name (a monitor socket is qmp:PATH or hmp:PATH)";
        return -EINVAL;
    }
    return 0;
}

bool ptap_release_matches(const ptap_record *rec, const ptap_release_req *req)
{
    const ptap_consumer *c = &rec->consumer;
    const char *t;
    ptap_consumer_kind tk = ptap_target_kind(req->target, &t);
    char a[PTAP_CONSUMER_TARGET_MAX], b[PTAP_CONSUMER_TARGET_MAX];

    switch (c->kind) {
    case PTAP_CONSUMER_QMP:
        return !req->uuid && tk == PTAP_CONSUMER_QMP && strcmp(c->target, t) == 0;
    case PTAP_CONSUMER_HMP:
    case PTAP_CONSUMER_HMP_LEGACY:
        return !req->uuid && tk == PTAP_CONSUMER_HMP && strcmp(c->target, t) == 0;
    case PTAP_CONSUMER_LIBVIRT:
        if (tk != PTAP_CONSUMER_LIBVIRT)
            return false;
        uri_key(c->uri, a, sizeof(a));
        uri_key(req->uri, b, sizeof(b));
        if (strcmp(a, b) != 0)
            return false;
        if (req->uuid)
            return uuid_equal(c->target, req->uuid);
        if (ptap_is_uuid(t))
            return uuid_equal(c->target, t);
        return strcmp(c->name, t) == 0;
    default:
        return false;
    }
}

/* Does the guest of @rec still run? Asked of /proc and the monitor
 * socket only: a release never talks to libvirt. */
static bool guest_alive(const ptap_record *rec, char *why, size_t len)
{
    const ptap_consumer *c = &rec->consumer;
    pid_t pid = 0;

    if (c->pid > 0) {
        if (!ptap_proc_alive(c->pid, c->pid_start))
            return false;
        snprintf(why, len, "its QEMU (pid %ld) still runs", (long) c->pid);
        return true;
    }
    if (c->kind == PTAP_CONSUMER_LIBVIRT) {
        if (ptap_proc_find_uuid(c->target, &pid) < 0)
            return false;
        snprintf(why, len, "a QEMU with its UUID (pid %ld) still runs", (long) pid);
        return true;
    }
    /* A monitor that still accepts connections has a QEMU behind it. */
    {
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (fd < 0 || strlen(c->target) >= sizeof(sa.sun_path))
            return false;
        memcpy(sa.sun_path, c->target, strlen(c->target) + 1);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
            return false;
        snprintf(why, len, "its monitor '%s' still answers", c->target);
        return true;
    }
}

static int plan_alloc(plan *p, size_t n, size_t n_devs)
{
    p->before = calloc(n + 1, sizeof(*p->before));
    p->after = calloc(2 * n + 1, sizeof(*p->after)); /* a rename or a move writes two */
    p->detach = calloc(n + 1, sizeof(*p->detach));
    p->destroy = calloc(n_devs + n + 1, sizeof(char *));
    p->followed = calloc(n + 1, sizeof(*p->followed));
    p->restore = calloc(n + 1, sizeof(*p->restore));
    return p->before && p->after && p->detach && p->destroy && p->followed && p->restore ? 0
                                                                                        : -ENOMEM;
}

/* Does a release put @rec's tap back in the pool rather than destroy it?
 * A pool tap (made by create) attached or being attached, or a detach
 * --keep-tap: a guest that goes away never takes those with it. */
static bool release_keeps(const ptap_record *rec)
{
    if (rec->state == PTAP_STATE_DETACHING)
        return rec->flags & PTAP_TAP_KEEP;
    return (rec->state == PTAP_STATE_ATTACHING || rec->state == PTAP_STATE_ATTACHED) &&
           !(rec->flags & PTAP_TAP_EPHEMERAL);
}

/* The release of @rec in plan @p (its namespace's). Counts in *@kept the
 * taps left alone. A tap moved to another namespace is destroyed there
 * at once (its own batch). */
static int plan_release(plan *p, ptap_journal *j, ptap_kviews *w, const ptap_release_req *release,
                        const ptap_record *rec, size_t *kept, size_t *kept_ns, ptap_error *err)
{
    const char *jid = ptap_journal_id(j);
    const char *state = ptap_state_to_string(rec->state);
    const ptap_nsview *v = p->v;
    char why[sizeof(p->res->actions[0].reason)];
    const ptap_kdev *d;
    ptap_nsview *mv;

    if (v->judge == PTAP_NETNS_JUDGE_LEAVE) {
        (*kept_ns)++;
        ptap_nsview_why(v, why, sizeof(why));
        return plan_action(p, "other-netns", rec->name, state, why);
    }
    if (!release->force && guest_alive(rec, why, sizeof(why))) {
        (*kept)++;
        return plan_action(p, "kept", rec->name, state, why);
    }
    d = ptap_kview_find(&v->kv, rec->name);
    if (!release->force && d && ptap_kdev_is_record(d, jid, rec) && ptap_kdev_held(d)) {
        (*kept)++;
        return kept_in_use(p, rec->name, state);
    }
    if (release_keeps(rec) &&
        ((d && ptap_kdev_is_record(d, jid, rec)) || ptap_kviews_find_moved(w, rec, jid, &mv))) {
        /* A pool tap (made by create) goes back to the pool, never with
         * its guest (a tap that moved is followed by the next recover). */
        ptap_record r = *rec;

        r.state = PTAP_STATE_READY;
        r.flags &= ~(PTAP_TAP_KEEP | PTAP_TAP_EPHEMERAL);
        memset(&r.consumer, 0, sizeof(r.consumer));
        p->after[p->n_after++] = r;
        return plan_action(p, "release", rec->name, state,
                           release->force ? "released (--force): the pool tap is ready again"
                                          : "the guest was released: the pool tap is ready again");
    }
    if ((!d || !ptap_kdev_is_record(d, jid, rec)) &&
        (d = ptap_kviews_find_moved(w, rec, jid, &mv))) {
        ptap_record r = *rec;
        char *names[] = { (char *) d->name };
        ptap_destroy_batch b = { .recs = &r, .n = 1, .names = names, .n_names = 1,
                                 .what = "cannot remove taps", .kv = &mv->kv, .netns = &mv->ns };
        int rr;

        if (!release->force && ptap_kdev_held(d)) {
            (*kept)++;
            return kept_in_use(p, rec->name, state);
        }
        rr = ptap_pool_destroy_taps(j, &b, release->force ? PTAP_DESTROY_FORCE : 0, err);
        if (rr < 0)
            return rr;
        return plan_action_in(p, mv, "release", rec->name, state,
                              release->force ? "released (--force)" : "the guest was released");
    }
    close_record(p, rec, d, jid);
    return plan_action(p, "release", rec->name, state,
                       release->force ? "released (--force)" : "the guest was released");
}

/* Orphans in @p's namespace: this journal's marked taps no live record
 * names (nor followed there under a new name). */
static int plan_orphans(plan *p, ptap_journal *j, const moved_in *mi, size_t n_mi)
{
    const char *jid = ptap_journal_id(j);
    const ptap_nsview *v = p->v;
    int r = 0;

    if (v->judge != PTAP_NETNS_JUDGE_HERE && v->judge != PTAP_NETNS_JUDGE_ENTER)
        return 0;
    for (size_t i = 0; i < v->kv.n && r >= 0; i++) {
        ptap_kdev *d = &v->kv.devs[i];
        const ptap_record *rec;
        bool taken;

        if (!ptap_kdev_ours(d, jid))
            continue;
        rec = ptap_journal_find(j, d->name);
        if (rec && rec->state != PTAP_STATE_CREATING)
            continue;
        taken = queued(p, d->name);
        for (size_t k = 0; k < p->n_followed; k++)
            taken |= p->followed[k] == d->ifindex;
        for (size_t k = 0; k < n_mi; k++)
            taken |= mi[k].v == v && mi[k].ifindex == d->ifindex;
        if (taken || reported(p, d->name))
            continue;
        if (ptap_kdev_held(d)) {
            r = kept_in_use(p, d->name, "");
            continue;
        }
        destroy_dev(p, d->name);
        r = plan_action(p, "destroy-orphan", d->name, "",
                        "a tap of this journal that no record names");
    }
    return r;
}

/*
 * Stale Open vSwitch rows: ports carrying this journal's mark (and this
 * user's) whose tap is gone from every namespace looked at, and that no
 * destroy of this run takes (the helper's destroy removes those rows
 * itself). Planned on @p (ptap's own namespace); their names go to
 * @names (room for every port of @ov), counted in *@n, for ovs_forget().
 */
static int plan_ovs_stale(plan *p, const plan *plans, size_t n_plans, ptap_journal *j,
                          const ptap_ovsview *ov, char **names, size_t *n_names)
{
    const char *jid = ptap_journal_id(j);
    size_t n = 0;
    int r = 0;

    for (size_t i = 0; i < ov->n_ports && r >= 0; i++) {
        const ptap_ovsport *port = &ov->ports[i];
        bool alive = false, destroyed = false;
        char why[96];

        if (port->mark.maker != geteuid() || strcmp(port->mark.journal, jid) != 0)
            continue;
        for (size_t k = 0; k < n_plans; k++) {
            const ptap_nsview *v = plans[k].v;

            if (v->judge != PTAP_NETNS_JUDGE_HERE && v->judge != PTAP_NETNS_JUDGE_ENTER) {
                /* A namespace this process cannot look into may hold it. */
                alive |= v->judge == PTAP_NETNS_JUDGE_LEAVE;
                continue;
            }
            alive |= ptap_ovsport_is_dev(port, ptap_kview_find(&v->kv, port->name));
            destroyed |= queued(&plans[k], port->name);
        }
        if (destroyed || alive)
            continue;
        names[n++] = (char *) port->name;
        snprintf(why, sizeof(why), "its tap is gone: its Open vSwitch port%s%s goes too",
                 *port->bridge ? " on " : "", port->bridge);
        r = plan_action(p, "forget-ovs-port", port->name, "", why);
    }
    *n_names = n;
    return r;
}

/* Remove the stale rows @names through the helper (ovs-forget: it checks
 * again, in this namespace, that each tap is gone, and touches only rows
 * whose mark is the caller's). */
static int ovs_forget(char **names, size_t n, ptap_error *err)
{
    _cleanup_(ptap_helper_result_clear) ptap_helper_result res = { 0 };
    int r;

    if (n == 0)
        return 0;
    r = ptap_helper_ovs_forget(names, n, &res);
    if (r < 0 || res.status != 0)
        return ptap_pool_helper_error(err, "cannot remove stale Open vSwitch ports", r, &res);
    return 0;
}

/* Might any live record of @j be on an Open vSwitch bridge (see
 * ptap_kview_maybe_ovs())? Only then is the helper asked. */
static bool journal_maybe_ovs(ptap_journal *j, ptap_kviews *w)
{
    for (size_t i = 0; i < ptap_journal_count(j); i++) {
        const ptap_record *rec = ptap_journal_get(j, i);
        const ptap_nsview *v;

        if (!*rec->bridge)
            continue;
        v = ptap_kviews_of(w, rec);
        if (v && (v->judge == PTAP_NETNS_JUDGE_HERE || v->judge == PTAP_NETNS_JUDGE_ENTER) &&
            ptap_kview_maybe_ovs(&v->kv, rec->bridge))
            return true;
    }
    return false;
}

static void plans_free(plan *plans, size_t n)
{
    for (size_t i = 0; plans && i < n; i++)
        plan_clear(&plans[i]);
    free(plans);
}

static int run(ptap_journal *j, const ptap_release_req *release, bool dry_run,
               ptap_recover_result *res, ptap_error *err)
{
    size_t kept = 0, kept_ns = 0, cap = 0, n_views, n_mi = 0;
    _cleanup_(ptap_kviews_clear) ptap_kviews w = { 0 };
    _cleanup_(ptap_ovsview_clear) ptap_ovsview ov = { 0 };
    _cleanup_free_ moved_in *mi = NULL;
    plan *plans = NULL;
    void *said = NULL; /* the plans' tree of the names their actions name */
    size_t n = ptap_journal_count(j);
    int r;

    *res = (ptap_recover_result) { 0 };
    r = ptap_kviews_init(&w, NULL, 0, err);
    if (r < 0)
        return r;
    /* 1. Where each record is judged: one view per namespace of a live
     * record (located, entered and dumped once), and ptap's own. */
    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_get(j, i);

        if (release && !ptap_release_matches(rec, release))
            continue;
        if (!ptap_kviews_of(&w, rec))
            return -ENOMEM;
    }
    /* Open vSwitch, asked of the helper only when a record may be on it. */
    if (!release && journal_maybe_ovs(j, &w)) {
        r = ptap_ovsview_load(&ov);
        if (r < 0)
            return r;
    }
    /* 2. One plan per view, every record decided in its own. Views
     * added later (looking for moved taps) get no plan of their own. */
    n_views = w.n;
    plans = calloc(n_views, sizeof(*plans));
    mi = calloc(n + 1, sizeof(*mi));
    if (!plans || !mi) {
        free(plans);
        return -ENOMEM;
    }
    for (size_t k = 0; k < n_views && r >= 0; k++) {
        plans[k] = (plan) { .res = res, .cap = &cap, .v = w.v[k], .mi = mi, .n_mi = &n_mi,
                            .ov = &ov, .said = &said };
        r = plan_alloc(&plans[k], n, w.v[k]->kv.n);
    }
    for (size_t i = 0; i < n && r >= 0; i++) {
        const ptap_record *rec = ptap_journal_get(j, i);
        const ptap_nsview *v;
        plan *p = NULL;

        if (release && !ptap_release_matches(rec, release))
            continue;
        v = ptap_kviews_of(&w, rec); /* the view step 1 made */
        for (size_t k = 0; k < n_views && !p; k++)
            if (w.v[k] == v)
                p = &plans[k];
        if (!p) {
            r = -ENOMEM;
            break;
        }
        if (release) {
            r = plan_release(p, j, &w, release, rec, &kept, &kept_ns, err);
            continue;
        }
        r = plan_record(p, j, &w, rec);
    }
    /* 3. Orphans, once every record has been judged (a moved tap is not
     * one), where ptap runs and in the namespaces of the records. */
    for (size_t k = 0; k < n_views && r >= 0 && !release; k++)
        if (plans[k].v->of_records)
            r = plan_orphans(&plans[k], j, mi, n_mi);
    /* 4. Each namespace's plan carried out there: its intent, the helper
     * run inside it, its outcome. */
    /* Stale Open vSwitch rows of this journal's taps, planned before the
     * plans run (they say which rows their destroys take with them). */
    _cleanup_free_ char **stale = calloc(ov.n_ports + 1, sizeof(*stale));
    size_t n_stale = 0;
    if (!stale)
        r = -ENOMEM;
    if (r >= 0 && ov.known && n_views > 0)
        r = plan_ovs_stale(&plans[0], plans, n_views, j, &ov, stale, &n_stale);
    for (size_t k = 0; k < n_views && r >= 0 && !dry_run; k++)
        r = plan_execute(&plans[k], j, err);
    /* 5. Then their removal. */
    if (r >= 0 && !dry_run)
        r = ovs_forget(stale, n_stale, err);
    plans_free(plans, n_views);
    tdestroy(said, free);
    if (r >= 0 && (kept || kept_ns)) {
        if (!kept_ns)
            r = ptap_error_set(err, -EBUSY, EX_TEMPFAIL,
                               "left %zu tap(s) of '%s' alone: the guest still runs (see the "
                               "'kept' actions; --force releases them anyway)",
                               kept, release->target);
        else
            r = ptap_error_set(err, -EBUSY, EX_TEMPFAIL,
                               "left %zu tap(s) of '%s' alone: %zu of them in a network "
                               "namespace this process cannot enter (see the 'other-netns' "
                               "actions; run the release as root, or there)",
                               kept + kept_ns, release->target, kept_ns);
    }
    if (r < 0 && r != -EBUSY) {
        if (err && !err->code)
            ptap_error_set(err, r, 0, "recovery failed: %s", strerror(-r));
        ptap_recover_result_clear(res);
    }
    return r;
}

int ptap_recover(ptap_journal *j, bool dry_run, ptap_recover_result *res, ptap_error *err)
{
    /* A recovery can always be recorded: it may spend the space reserve. */
    if (!dry_run)
        ptap_journal_use_reserve(j);
    return run(j, NULL, dry_run, res, err);
}

int ptap_release(ptap_journal *j, const ptap_release_req *req, ptap_recover_result *res,
                 ptap_error *err)
{
    const char *why;

    if (ptap_release_target_check(req->target, &why) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "cannot release '%s': %s",
                              strna(req->target), why);
    if (req->uuid && !ptap_is_uuid(req->uuid))
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid UUID '%s'", req->uuid);
    return run(j, req, false, res, err);
}
