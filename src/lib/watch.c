/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * watch.c: the engine of `ptap watch` (see watch.h for the rules).
 *
 * Events are read from a libnl socket subscribed to RTNLGRP_LINK. Deleted
 * devices are collected over one read burst and forgotten in one journal
 * write (a group delete of N taps sends N RTM_DELLINKs at once). A tap
 * whose carrier drops goes on a pending list with a deadline; when the
 * deadline passes the record, the kernel and the consumer are looked at
 * afresh, and only an ATTACHED record whose tap still has no carrier and
 * whose consumer probes GONE is destroyed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/socket.h>

#include "helperexec.h"
#include "journal.h"
#include "kview.h"
#include "link.h"
#include "log.h"
#include "mark.h"
#include "pool.h"
#include "probe.h"
#include "watch.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000 /* linux/if.h; clashes with net/if.h */
#endif

/* After a lock wait gave up: how long until the watcher looks again. */
#define WATCH_RETRY_MS 5000

typedef struct pending {
    char name[IFNAMSIZ];
    int ifindex;
    int64_t deadline_ms;
} pending;

struct ptap_watch {
    struct nl_sock *sk;
    struct nl_cb *cb;
    ptap_watch_config cfg;
    char *state_dir;
    pending *pend;          /* taps waiting for their grace period */
    size_t n_pend, cap_pend;
    char (*gone)[IFNAMSIZ]; /* devices deleted in this read burst */
    size_t n_gone, cap_gone;
    char (*bridges)[IFNAMSIZ]; /* bridges that appeared or changed in this burst */
    size_t n_br, cap_br;
    int nomem;              /* allocation failed inside the callback */
    int64_t retry_ms;       /* when to resync after a lock wait gave up (0: none) */
    ptap_netns self;        /* the namespace whose events this watcher gets */
};

/* Is @rec of the watcher's namespace (an old-format record is)? Only
 * those taps' events reach it. */
static bool record_here(const ptap_watch *w, const ptap_record *rec)
{
    return !ptap_netns_known(&rec->netns) || ptap_netns_equal(&rec->netns, &w->self);
}

static void report(ptap_watch *w, ptap_watch_event_kind kind, const char *name,
                   const char *fmt, ...) _printf_(4, 5);
static void report(ptap_watch *w, ptap_watch_event_kind kind, const char *name,
                   const char *fmt, ...)
{
    ptap_watch_event ev = { .kind = kind };
    va_list ap;

    snprintf(ev.name, sizeof(ev.name), "%s", name ? name : "");
    va_start(ap, fmt);
    vsnprintf(ev.reason, sizeof(ev.reason), fmt, ap);
    va_end(ap);
    ptap_debug("watch: %s%s%s", ev.name, *ev.name ? ": " : "", ev.reason);
    if (w->cfg.report)
        w->cfg.report(&ev, w->cfg.userdata);
}

/* ---- the pending list ---- */

static pending *pending_find(ptap_watch *w, const char *name)
{
    for (size_t i = 0; i < w->n_pend; i++)
        if (strcmp(w->pend[i].name, name) == 0)
            return &w->pend[i];
    return NULL;
}

static void pending_remove(ptap_watch *w, const char *name)
{
    pending *p = pending_find(w, name);

    if (p)
        *p = w->pend[--w->n_pend];
}

/* Start a grace period unless one is already running (the first carrier
 * loss is when the clock starts). */
static int pending_add(ptap_watch *w, const char *name, int ifindex)
{
    pending *p = pending_find(w, name);

    if (p) {
        if (p->ifindex != ifindex) { /* another device took the name */
            p->ifindex = ifindex;
            p->deadline_ms = ptap_now_ms() + w->cfg.grace_ms;
        }
        return 0;
    }
    if (w->n_pend == w->cap_pend) {
        size_t cap = w->cap_pend ? 2 * w->cap_pend : 16;
        pending *np = reallocarray(w->pend, cap, sizeof(*np));
        if (!np)
            return -ENOMEM;
        w->pend = np;
        w->cap_pend = cap;
    }
    p = &w->pend[w->n_pend++];
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->ifindex = ifindex;
    p->deadline_ms = ptap_now_ms() + w->cfg.grace_ms;
    ptap_debug("watch: '%s' has no carrier: check in %u ms", name, w->cfg.grace_ms);
    return 0;
}

/* Add @name to the set *@set (@n names, room for @cap) unless it is in. */
static int name_set_add(char (**set)[IFNAMSIZ], size_t *n, size_t *cap, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*set)[i], name) == 0)
            return 0;
    if (*n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 16;
        char(*ns)[IFNAMSIZ] = reallocarray(*set, ncap, sizeof(*ns));
        if (!ns)
            return -ENOMEM;
        *set = ns;
        *cap = ncap;
    }
    snprintf((*set)[(*n)++], IFNAMSIZ, "%s", name);
    return 0;
}

static int gone_add(ptap_watch *w, const char *name)
{
    return name_set_add(&w->gone, &w->n_gone, &w->cap_gone, name);
}

/* ---- journal actions (the journal is open only inside each) ---- */

/* Open the journal, waiting for its lock at most cfg.lock_wait_ms. When
 * the wait gives up (a stopped or stuck holder, named in @err), what this
 * action was for is not lost: a resync is due WATCH_RETRY_MS later. */
static int open_journal(ptap_watch *w, bool write, ptap_journal **ret, ptap_error *err)
{
    ptap_journal_wait wait = { .timeout_ms = w->cfg.lock_wait_ms };
    int r = ptap_journal_open_wait(w->state_dir, write ? 0 : PTAP_JOURNAL_READONLY, &wait, ret,
                                   err);

    if (r == -EWOULDBLOCK) {
        w->retry_ms = ptap_now_ms() + WATCH_RETRY_MS;
        snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
                 ": will look again in %d s", WATCH_RETRY_MS / 1000);
    }
    if (r == -ENOENT)
        *ret = NULL; /* nothing on record yet: nothing to do */
    return r == -ENOENT ? 0 : r;
}

static void report_journal_error(ptap_watch *w, const char *name, const char *what, int r,
                                 const ptap_error *err)
{
    report(w, PTAP_WATCH_FAILED, name, "%s: %s", what, *err->msg ? err->msg : strerror(-r));
}

/* The journal opened read-only for a first look (*@ret NULL: none yet);
 * a failure is reported. */
static int peek_journal(ptap_watch *w, ptap_journal **ret, ptap_error *err)
{
    int r = open_journal(w, false, ret, err);

    if (r < 0)
        report_journal_error(w, NULL, "cannot read the journal", r, err);
    return r;
}

/* The journal opened for writing and the kernel's view (of @names only,
 * when given), for a change decided on a fresh look. Returns 1 when both
 * are there, 0 when there is no journal, or a negative errno (reported). */
static int open_for_write(ptap_watch *w, ptap_journal **j, ptap_kview *kv, char *const *names,
                          size_t n)
{
    ptap_error err = { 0 };
    int r;

    r = open_journal(w, true, j, &err);
    if (r < 0 || !*j) {
        if (r < 0)
            report_journal_error(w, NULL, "cannot open the journal for writing", r, &err);
        return r;
    }
    r = names ? ptap_kview_load_names(kv, names, n) : ptap_kview_load(kv);
    if (r < 0) {
        report(w, PTAP_WATCH_FAILED, NULL, "cannot list network devices: %s", strerror(-r));
        return r;
    }
    return 1;
}

/* Close the records of @names whose devices are gone, in one write. */
static int forget_names(ptap_watch *w, char (*names)[IFNAMSIZ], size_t n)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    _cleanup_free_ char **todo = NULL;
    _cleanup_(ptap_kview_clear) ptap_kview kv = { 0 };
    ptap_error err = { 0 };
    size_t m = 0, forgotten = 0;
    int r;

    if (n == 0)
        return 0;
    /* A shared lock first: most deleted devices are not ours, and a
     * write open of the journal is a heavier thing than a read. */
    r = peek_journal(w, &j, &err);
    if (r < 0 || !j)
        return r;
    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_find(j, names[i]);
        if (rec && rec->state != PTAP_STATE_CREATING)
            m++;
    }
    ptap_journal_close(TAKE_PTR(j));
    if (m == 0)
        return 0;

    /* Only the deleted names need looking up, not every link. */
    _cleanup_free_ char **lookup = calloc(n, sizeof(*lookup));
    if (!lookup)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        lookup[i] = names[i];
    r = open_for_write(w, &j, &kv, lookup, n);
    if (r <= 0)
        return r;
    todo = calloc(n, sizeof(*todo));
    _cleanup_free_ ptap_forget_outcome *each = calloc(n, sizeof(*each));
    if (!todo || !each)
        return -ENOMEM;
    m = 0;
    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_find(j, names[i]);
        const ptap_kdev *d = ptap_kview_find(&kv, names[i]);

        /* Under the write lock: a create in progress is recovery's
         * business, and a name already taken by a new tap of ours is
         * that tap's (the old one is gone, the new record is live). A
         * record of another namespace is judged there by the forget. */
        if (!rec || rec->state == PTAP_STATE_CREATING)
            continue;
        if (record_here(w, rec) && d && ptap_kdev_is_record(d, ptap_journal_id(j), rec))
            continue;
        todo[m++] = names[i];
    }
    if (m == 0)
        return 0;
    ptap_forget_result fr = { .each = each };
    r = ptap_pool_forget(j, todo, m, &fr, &err);
    if (r < 0) {
        report(w, PTAP_WATCH_FAILED, NULL, "%s", err.msg);
        return r;
    }
    forgotten = fr.forgotten;
    for (size_t i = 0; i < m; i++) {
        const ptap_record *rec = ptap_journal_find(j, todo[i]);
        char where[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 4] = "";

        if (rec)
            ptap_netns_describe(&rec->netns, where, sizeof(where));
        switch (each[i]) {
        case PTAP_FORGET_CLOSED:
            report(w, PTAP_WATCH_FORGOT, todo[i], "the device was deleted: record closed");
            break;
        case PTAP_FORGET_FOLLOWED:
            report(w, PTAP_WATCH_CANCELLED, todo[i],
                   "the tap moved to network namespace %s: its record follows it", where);
            break;
        case PTAP_FORGET_ELSEWHERE:
            report(w, PTAP_WATCH_CANCELLED, todo[i],
                   "its tap lives on in network namespace %s: left alone", where);
            break;
        case PTAP_FORGET_LEFT:
            report(w, PTAP_WATCH_KEPT, todo[i],
                   "its tap is in network namespace %s, which this watcher cannot enter: left "
                   "alone", where);
            break;
        case PTAP_FORGET_IGNORED:
        default:
            break;
        }
    }
    ptap_debug("watch: %zu record(s) forgotten", forgotten);
    return 0;
}

typedef struct candidate {
    ptap_record rec;  /* a copy, for this one check only */
    bool gone;
} candidate;

/* Grace is over for @names: destroy the taps of gone consumers. */
static int check_due(ptap_watch *w, char (*names)[IFNAMSIZ], size_t n)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    _cleanup_free_ candidate *cand = NULL;
    _cleanup_free_ ptap_record *before = NULL;
    _cleanup_(ptap_kview_clear) ptap_kview kv = { 0 };
    char jid[PTAP_JOURNAL_ID_LEN + 1];
    size_t nc = 0, nd = 0;
    int r;

    cand = calloc(n, sizeof(*cand));
    before = calloc(n, sizeof(*before));
    if (!cand || !before)
        return -ENOMEM;

    /* 1. Which of them are ATTACHED on record? (shared lock, short) */
    ptap_error jerr = { 0 };
    r = peek_journal(w, &j, &jerr);
    if (r < 0 || !j)
        return r;
    snprintf(jid, sizeof(jid), "%s", ptap_journal_id(j));
    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_find(j, names[i]);

        if (!rec || rec->state != PTAP_STATE_ATTACHED) {
            ptap_debug("watch: '%s' is %s: left alone", names[i],
                       rec ? ptap_state_to_string(rec->state) : "not on record");
            continue;
        }
        if (!record_here(w, rec)) {
            /* The carrier that dropped here is another device's. */
            ptap_debug("watch: '%s' is on record in another network namespace: left alone",
                       names[i]);
            continue;
        }
        cand[nc++].rec = *rec;
    }
    ptap_journal_close(TAKE_PTR(j));
    if (nc == 0)
        return 0;

    /* 2. Still ours and still without carrier? Is the consumer gone?
     * Probing may talk to a QEMU monitor: done without any lock. */
    r = ptap_kview_load(&kv);
    if (r < 0) {
        report(w, PTAP_WATCH_FAILED, NULL, "cannot list network devices: %s", strerror(-r));
        return r;
    }
    for (size_t i = 0; i < nc; i++) {
        const ptap_record *rec = &cand[i].rec;
        const ptap_kdev *d = ptap_kview_find(&kv, rec->name);
        const char *who = *rec->consumer.name ? rec->consumer.name : rec->consumer.target;
        ptap_probe pr;

        if (!d || !ptap_kdev_is_record(d, jid, rec)) {
            /* Deleted meanwhile: the RTM_DELLINK path forgets it. */
            continue;
        }
        if (d->carrier) {
            report(w, PTAP_WATCH_CANCELLED, rec->name, "carrier is back: left alone");
            continue;
        }
        pr = ptap_probe_consumer(rec);
        if (pr == PTAP_PROBE_GONE) {
            cand[i].gone = true;
            continue;
        }
        report(w, PTAP_WATCH_KEPT, rec->name,
               "no carrier, but guest '%s' %s: left alone (ptap recover decides)", who,
               pr == PTAP_PROBE_UNKNOWN ? "could not be probed" : "is still running");
    }
    ptap_kview_clear(&kv);

    /* 3. Destroy under the write lock, only what did not change since. */
    r = open_for_write(w, &j, &kv, NULL, 0);
    if (r <= 0)
        return r;
    for (size_t i = 0; i < nc; i++) {
        const ptap_record *rec;
        const ptap_kdev *d;

        if (!cand[i].gone)
            continue;
        rec = ptap_journal_find(j, cand[i].rec.name);
        d = ptap_kview_find(&kv, cand[i].rec.name);
        if (!rec || rec->seq != cand[i].rec.seq || !record_here(w, rec) || !d ||
            !ptap_kdev_is_record(d, jid, rec) || d->carrier) {
            report(w, PTAP_WATCH_CANCELLED, cand[i].rec.name,
                   "the record or the tap changed meanwhile: left alone");
            continue;
        }
        before[nd++] = *rec;
    }
    /* A pool tap (made by create) goes back to the pool, as recovery
     * returns it: only the taps attach made go with their guest. */
    for (size_t i = 0; i < nd;) {
        ptap_record back = before[i];
        const ptap_consumer k = back.consumer;
        ptap_error jerr2 = { 0 };

        if (back.flags & PTAP_TAP_EPHEMERAL) {
            i++;
            continue;
        }
        back.state = PTAP_STATE_READY;
        back.flags &= ~(PTAP_TAP_KEEP | PTAP_TAP_EPHEMERAL);
        memset(&back.consumer, 0, sizeof(back.consumer));
        r = ptap_pool_append(j, &back, 1, &jerr2);
        if (r < 0)
            report(w, PTAP_WATCH_FAILED, back.name, "%s", *jerr2.msg ? jerr2.msg : strerror(-r));
        else
            report(w, PTAP_WATCH_RETURNED, back.name,
                   "guest '%s' is gone: pool tap ready again", *k.name ? k.name : k.target);
        before[i] = before[--nd];
    }
    if (nd == 0)
        return 0;

    /* Intent, then the helper (one batch), then the outcome: the same
     * write-ahead steps recovery takes for a gone consumer, so a crash in
     * between is finished by `ptap recover`. */
    ptap_destroy_batch b = { .recs = before, .n = nd, .what = "cannot remove taps" };
    ptap_error err = { 0 };

    r = ptap_pool_destroy_taps(j, &b, 0, &err);
    if (r < 0 && b.helper_failed) {
        report(w, PTAP_WATCH_FAILED, NULL, "%s (records left for 'ptap recover')", err.msg);
        return r;
    }
    if (r < 0) {
        /* Only the journal is left to fail: @err names it and the errno. */
        report(w, PTAP_WATCH_FAILED, NULL, "%s", *err.msg ? err.msg : strerror(-r));
        return r;
    }
    for (size_t i = 0; i < nd; i++) {
        const ptap_consumer *k = &before[i].consumer;
        report(w, PTAP_WATCH_DESTROYED, before[i].name,
               "guest '%s' is gone: tap destroyed, record closed", *k->name ? k->name : k->target);
    }
    return 0;
}

/* Is @rec a tap of the watcher's namespace that belongs on one of
 * @bridges? */
static bool wants_bridge(const ptap_watch *w, const ptap_record *rec, char (*bridges)[IFNAMSIZ],
                         size_t nb)
{
    if (rec->state == PTAP_STATE_CREATING || !*rec->bridge || !record_here(w, rec))
        return false;
    for (size_t i = 0; i < nb; i++)
        if (strcmp(rec->bridge, bridges[i]) == 0)
            return true;
    return false;
}

/*
 * The bridges @bridges appeared (or changed): the taps on record for one
 * of them that are on no bridge at all — a bridge deleted under its taps
 * lets them go — are put back on it, one helper run per bridge, under the
 * create's rules (the helper's restore). A shared look first: most bridge
 * events concern no record. The change itself is made under the write
 * lock, so that no destroy is half-way through those taps; a tap left in
 * a deletion group by an interrupted destroy is recovery's to judge.
 */
static int rejoin_bridges(ptap_watch *w, char (*bridges)[IFNAMSIZ], size_t nb)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    _cleanup_(ptap_kview_clear) ptap_kview kv = { 0 };
    _cleanup_free_ char **lookup = NULL, **names = NULL;
    ptap_error err = { 0 };
    size_t n, m = 0;
    int r;

    if (nb == 0)
        return 0;
    r = peek_journal(w, &j, &err);
    if (r < 0 || !j)
        return r;
    n = ptap_journal_count(j);
    for (size_t i = 0; i < n; i++)
        if (wants_bridge(w, ptap_journal_get(j, i), bridges, nb))
            m++;
    ptap_journal_close(TAKE_PTR(j));
    if (m == 0)
        return 0;

    r = open_journal(w, true, &j, &err);
    if (r < 0 || !j) {
        if (r < 0)
            report_journal_error(w, NULL, "cannot open the journal for writing", r, &err);
        return r;
    }
    n = ptap_journal_count(j);
    lookup = calloc(n + nb, sizeof(*lookup));
    names = calloc(n + 1, sizeof(*names));
    if (!lookup || !names)
        return -ENOMEM;
    m = 0;
    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_get(j, i);
        if (wants_bridge(w, rec, bridges, nb))
            lookup[m++] = (char *) rec->name;
    }
    for (size_t i = 0; i < nb; i++)
        lookup[m++] = bridges[i];
    r = ptap_kview_load_names(&kv, lookup, m);
    if (r < 0) {
        report(w, PTAP_WATCH_FAILED, NULL, "cannot list network devices: %s", strerror(-r));
        return r;
    }
    for (size_t b = 0; b < nb; b++) {
        _cleanup_(ptap_helper_result_clear) ptap_helper_result res = { 0 };
        const ptap_kdev *br = ptap_kview_find(&kv, bridges[b]);
        size_t k = 0;

        if (!br || !br->is_bridge)
            continue;
        for (size_t i = 0; i < n; i++) {
            const ptap_record *rec = ptap_journal_get(j, i);
            const ptap_kdev *d;

            if (!wants_bridge(w, rec, &bridges[b], 1))
                continue;
            d = ptap_kview_find(&kv, rec->name);
            if (d && ptap_kdev_is_record(d, ptap_journal_id(j), rec) && !*d->bridge &&
                d->link_group == 0)
                names[k++] = (char *) d->name;
        }
        if (k == 0)
            continue;
        r = ptap_helper_restore(names, k, bridges[b], &res);
        if (r < 0 || res.status != 0) {
            char what[64];

            snprintf(what, sizeof(what), "cannot put taps back on bridge '%s'", bridges[b]);
            ptap_pool_helper_error(&err, what, r, &res);
            report(w, PTAP_WATCH_FAILED, NULL, "%s", err.msg);
            continue;
        }
        for (size_t i = 0; i < k; i++)
            report(w, PTAP_WATCH_REJOINED, names[i], "bridge '%s' is back: the tap rejoins it",
                   bridges[b]);
    }
    return 0;
}

/* ---- netlink ---- */

static int on_link_msg(struct nl_msg *msg, void *arg)
{
    ptap_watch *w = arg;
    struct nlmsghdr *h = nlmsg_hdr(msg);
    struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];
    struct ifinfomsg *ifi;
    char name[IFNAMSIZ] = "", alias[PTAP_IFALIAS_MAX] = "", kind[32] = "";
    bool carrier;
    int r;

    if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK)
        return NL_OK;
    if (nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0 || !tb[IFLA_IFNAME])
        return NL_OK;
    ifi = nlmsg_data(h);
    /* nla_strlcpy: never trust the kernel's string to be terminated. */
    if (nla_len(tb[IFLA_IFNAME]) > IFNAMSIZ)
        return NL_OK;
    nla_strlcpy(name, tb[IFLA_IFNAME], sizeof(name));
    if (!*name)
        return NL_OK;
    if (tb[IFLA_IFALIAS])
        nla_strlcpy(alias, tb[IFLA_IFALIAS], sizeof(alias));
    if (tb[IFLA_LINKINFO] && nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) == 0 &&
        li[IFLA_INFO_KIND])
        nla_strlcpy(kind, li[IFLA_INFO_KIND], sizeof(kind));
    carrier = tb[IFLA_CARRIER] ? nla_get_u8(tb[IFLA_CARRIER]) != 0
                               : (ifi->ifi_flags & IFF_LOWER_UP) != 0;

    if (h->nlmsg_type == RTM_DELLINK) {
        pending_remove(w, name);
        /* Any deleted device may be on record (a journal names taps only,
         * but the kernel's attributes in a DELLINK are not to be relied on
         * for telling): the journal decides. */
        r = gone_add(w, name);
        if (r < 0)
            w->nomem = r;
        return NL_OK;
    }
    if (strcmp(kind, "bridge") == 0) {
        /* Made (again), or renamed to a name taps are on record for. */
        r = name_set_add(&w->bridges, &w->n_br, &w->cap_br, name);
        if (r < 0)
            w->nomem = r;
        return NL_OK;
    }
    /* Only a tun device carrying a ptap mark can be an attached tap. */
    if (strcmp(kind, "tun") != 0 || !ptap_mark_is_mark(alias)) {
        pending_remove(w, name); /* renamed away, or another device now */
        return NL_OK;
    }
    if (carrier) {
        if (pending_find(w, name))
            ptap_debug("watch: '%s' has carrier again", name);
        pending_remove(w, name);
        return NL_OK;
    }
    r = pending_add(w, name, ifi->ifi_index);
    if (r < 0)
        w->nomem = r;
    return NL_OK;
}

int ptap_watch_new(const ptap_watch_config *cfg, ptap_watch **ret)
{
    _cleanup_(ptap_watch_freep) ptap_watch *w = NULL;
    int r;

    if (!cfg || !cfg->state_dir || !ret)
        return -EINVAL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->cfg = *cfg;
    w->state_dir = strdup(cfg->state_dir);
    if (!w->state_dir)
        return -ENOMEM;
    w->cfg.state_dir = w->state_dir;
    r = ptap_netns_self(&w->self);
    if (r < 0)
        return r;
    w->sk = nl_socket_alloc();
    w->cb = nl_cb_alloc(NL_CB_DEFAULT);
    if (!w->sk || !w->cb)
        return -ENOMEM;
    nl_socket_disable_seq_check(w->sk); /* notifications carry no sequence */
    nl_socket_disable_auto_ack(w->sk);
    nl_cb_set(w->cb, NL_CB_VALID, NL_CB_CUSTOM, on_link_msg, w);
    r = nl_connect(w->sk, NETLINK_ROUTE); /* libnl sets close-on-exec */
    if (r < 0)
        return ptap_link_nlerr_to_errno(r);
    r = nl_socket_add_membership(w->sk, RTNLGRP_LINK);
    if (r < 0)
        return ptap_link_nlerr_to_errno(r);
    if (cfg->rcvbuf > 0) {
        r = nl_socket_set_buffer_size(w->sk, cfg->rcvbuf, 0);
        if (r < 0)
            return ptap_link_nlerr_to_errno(r);
    }
    r = nl_socket_set_nonblocking(w->sk);
    if (r < 0)
        return ptap_link_nlerr_to_errno(r);
    *ret = TAKE_PTR(w);
    return 0;
}

void ptap_watch_free(ptap_watch *w)
{
    if (!w)
        return;
    if (w->sk)
        nl_socket_free(w->sk);
    if (w->cb)
        nl_cb_put(w->cb);
    free(w->pend);
    free(w->gone);
    free(w->bridges);
    free(w->state_dir);
    free(w);
}

int ptap_watch_fd(const ptap_watch *w)
{
    return nl_socket_get_fd(w->sk);
}

int ptap_watch_timeout_ms(const ptap_watch *w)
{
    int64_t now = ptap_now_ms(), best = -1;

    for (size_t i = 0; i < w->n_pend; i++) {
        int64_t left = w->pend[i].deadline_ms - now;
        if (left < 0)
            left = 0;
        if (best < 0 || left < best)
            best = left;
    }
    if (w->retry_ms) {
        int64_t left = w->retry_ms > now ? w->retry_ms - now : 0;
        if (best < 0 || left < best)
            best = left;
    }
    return best > 1000000 ? 1000000 : (int) best;
}

int ptap_watch_resync(ptap_watch *w, ptap_error *err)
{
    _cleanup_(ptap_journal_closep) ptap_journal *j = NULL;
    _cleanup_free_ char(*missing)[IFNAMSIZ] = NULL;
    _cleanup_free_ char(*back)[IFNAMSIZ] = NULL;
    size_t nback = 0, capback = 0;
    _cleanup_(ptap_kviews_clear) ptap_kviews kvs = { 0 };
    ptap_kview *kv;
    char jid[PTAP_JOURNAL_ID_LEN + 1];
    ptap_error jerr = { 0 };
    size_t n, nm = 0;
    int r;

    r = ptap_kviews_init(&kvs, NULL, 0, &jerr);
    if (r < 0) {
        report(w, PTAP_WATCH_FAILED, NULL, "%s", *jerr.msg ? jerr.msg : strerror(-r));
        return r;
    }
    kv = &kvs.v[0]->kv;
    r = peek_journal(w, &j, &jerr);
    if (r < 0 || !j) {
        if (r < 0 && jerr.code)
            ptap_error_set(err, r, jerr.exit_code, "%s", jerr.msg);
        return r;
    }
    snprintf(jid, sizeof(jid), "%s", ptap_journal_id(j));
    n = ptap_journal_count(j);
    missing = calloc(n ? n : 1, sizeof(*missing));
    if (!missing)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_get(j, i);
        const ptap_kdev *d;

        if (rec->state == PTAP_STATE_CREATING)
            continue;
        if (!record_here(w, rec)) {
            /* Another namespace's events never reach this watcher: its
             * records are judged there now, when it may enter it (a gone
             * namespace's are forgotten); the carrier rule stays with
             * the watchers of that namespace. */
            ptap_nsview *v = ptap_kviews_of(&kvs, rec);

            if (!v) {
                r = -ENOMEM;
                break;
            }
            d = v->judge == PTAP_NETNS_JUDGE_ENTER ? ptap_kview_find(&v->kv, rec->name) : NULL;
            if (v->judge == PTAP_NETNS_JUDGE_GONE ||
                (v->judge == PTAP_NETNS_JUDGE_ENTER && (!d || !ptap_kdev_is_record(d, jid, rec))))
                snprintf(missing[nm++], IFNAMSIZ, "%s", rec->name);
            continue;
        }
        d = ptap_kview_find(kv, rec->name);
        if (!d || !ptap_kdev_is_record(d, jid, rec)) {
            snprintf(missing[nm++], IFNAMSIZ, "%s", rec->name);
            continue;
        }
        if (*rec->bridge && !*d->bridge) {
            /* Off the bridge it is on record for: back on it if it is there. */
            const ptap_kdev *br = ptap_kview_find(kv, rec->bridge);

            if (br && br->is_bridge) {
                r = name_set_add(&back, &nback, &capback, rec->bridge);
                if (r < 0)
                    break;
            }
        }
        if (rec->state == PTAP_STATE_ATTACHED && !d->carrier) {
            r = pending_add(w, d->name, d->ifindex);
            if (r < 0)
                break;
        } else if (d->carrier) {
            pending_remove(w, d->name);
        }
    }
    ptap_journal_close(TAKE_PTR(j));
    ptap_kviews_clear(&kvs); /* before forget_names() looks again */
    if (r < 0)
        return r;
    (void) forget_names(w, missing, nm); /* failures were reported */
    (void) rejoin_bridges(w, back, nback);
    return 0;
}

static int run_due(ptap_watch *w)
{
    _cleanup_free_ char(*due)[IFNAMSIZ] = NULL;
    int64_t now = ptap_now_ms();
    size_t nd = 0;

    if (w->n_pend == 0)
        return 0;
    due = calloc(w->n_pend, sizeof(*due));
    if (!due)
        return -ENOMEM;
    for (size_t i = 0; i < w->n_pend;) {
        if (w->pend[i].deadline_ms <= now) {
            snprintf(due[nd++], IFNAMSIZ, "%s", w->pend[i].name);
            w->pend[i] = w->pend[--w->n_pend];
        } else {
            i++;
        }
    }
    if (nd > 0)
        (void) check_due(w, due, nd); /* failures were reported */
    return 0;
}

int ptap_watch_dispatch(ptap_watch *w)
{
    bool overrun = false, retry;
    int r;

    for (;;) {
        r = nl_recvmsgs_report(w->sk, w->cb);
        if (r > 0)
            continue;
        if (r == 0 || r == -NLE_AGAIN)
            break;
        /* libnl turns the socket's ENOBUFS (the kernel dropped events
         * because we were slow) into NLE_NOMEM: what we missed can only
         * be learnt from a full dump. The socket stays usable. */
        if (r == -NLE_NOMEM) {
            overrun = true;
            continue;
        }
        return ptap_link_nlerr_to_errno(r);
    }
    if (w->nomem)
        overrun = true; /* lost track of an event: same cure */
    w->nomem = 0;
    /* A lock wait gave up earlier: what it was for is learnt afresh. */
    retry = w->retry_ms && ptap_now_ms() >= w->retry_ms;
    if (retry)
        w->retry_ms = 0;
    if (overrun || retry) {
        report(w, PTAP_WATCH_RESYNC, NULL, "%s: resyncing from a full dump",
               overrun ? "netlink events were lost (buffer overrun)"
                       : "the journal's lock was busy");
        w->n_gone = 0;
        w->n_br = 0;
        (void) ptap_watch_resync(w, NULL);
    } else {
        if (w->n_gone > 0)
            (void) forget_names(w, w->gone, w->n_gone);
        w->n_gone = 0;
        if (w->n_br > 0)
            (void) rejoin_bridges(w, w->bridges, w->n_br); /* failures were reported */
        w->n_br = 0;
    }
    return run_due(w);
}
