/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "fault.h"
#include "kview.h"
#include "log.h"
#include "mark.h"
#include "pool.h"
#include "validate.h"

int ptap_pool_append(ptap_journal *j, ptap_record *recs, size_t n, ptap_error *err)
{
    /* The journal's own reason goes to the debug log; the user is told
     * which journal could not be written, and the errno. */
    int r = ptap_journal_append(j, recs, n, NULL);

    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "cannot write journal '%s': %s",
                              ptap_journal_path(j), strerror(-r));
    return r;
}

void ptap_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

int ptap_pool_helper_error(ptap_error *err, const char *what, int r, const ptap_helper_result *res)
{
    /* A helper that is missing or not executable is an unavailable
     * support program (sysexits' EX_UNAVAILABLE), not a system error. */
    if (r < 0)
        return ptap_error_set(err, r, r == -ENOENT || r == -EACCES ? EX_UNAVAILABLE : EX_OSERR,
                              "%s: cannot run ptap-helper '%s': %s", what, ptap_helper_path(),
                              strerror(-r));
    /* The helper's own message already names the object and the reason. */
    const char *msg = res->errtext && *res->errtext ? res->errtext : "ptap-helper failed";
    if (strncmp(msg, "ptap-helper: ", 13) == 0)
        msg += 13;
    int code = res->status == EX_NOPERM ? -EPERM
               : res->status == EX_USAGE ? -EINVAL
               : res->status == EX_CONFIG ? -EACCES
                                          : -EIO;
    int ex = res->status > 0 && res->status < 128 ? res->status : EX_OSERR;
    /* "cannot create 'ptap%d': ..." already says what failed. */
    if (strncmp(msg, "cannot ", 7) == 0)
        return ptap_error_set(err, code, ex, "%s", msg);
    return ptap_error_set(err, code, ex, "%s: %s", what, msg);
}

/* -EBUSY (exit 75) naming the holder when a process holds one of @names
 * (NULL: the names of @b's records). */
static int refuse_held(char *const *names, size_t n, const ptap_destroy_batch *b,
                       ptap_error *err)
{
    _cleanup_(ptap_kview_clear) ptap_kview kv = { 0 };
    const ptap_kview *view = b->kv;
    _cleanup_free_ char **own = NULL;
    int r;

    if (!names) {
        own = calloc(b->n + 1, sizeof(*own));
        if (!own)
            return -ENOMEM;
        for (size_t i = 0; i < b->n; i++)
            own[i] = (char *) b->recs[i].name;
        names = own;
        n = b->n;
    }
    if (n == 0)
        return 0;
    if (!view) {
        r = ptap_kview_load_names(&kv, names, n);
        if (r < 0)
            return ptap_error_set(err, r, EX_OSERR, "cannot look up the taps to destroy: %s",
                                  strerror(-r));
        view = &kv;
    }
    for (size_t i = 0; i < n; i++) {
        const ptap_kdev *d = ptap_kview_find(view, names[i]);
        char who[96];

        if (!ptap_kdev_held(d))
            continue;
        ptap_kdev_describe_holder(names[i], who, sizeof(who));
        return ptap_error_set(err, -EBUSY, EX_TEMPFAIL,
                              "cannot destroy '%s': it is in use by %s (--force destroys it "
                              "anyway)", names[i], who);
    }
    return 0;
}

int ptap_pool_destroy_taps(ptap_journal *j, ptap_destroy_batch *b, unsigned flags,
                           ptap_error *err)
{
    _cleanup_free_ char **own = NULL;
    char *const *names = b->names;
    size_t n_names = b->n_names;
    int r;

    b->helper_failed = false;
    /* 0. A tap that a process holds is never pulled from under it, whatever
     * the journal says (a guest, libvirt, a user's program). Asked of the
     * kernel now, for exactly the names going to the helper. */
    if (!(flags & PTAP_DESTROY_FORCE)) {
        r = refuse_held(names ? names : NULL, names ? n_names : 0, b, err);
        if (r < 0)
            return r;
    }
    /* 1. Intent, durable before the helper runs. */
    for (size_t i = 0; i < b->n; i++)
        b->recs[i].state = PTAP_STATE_DESTROYING;
    if (b->n > 0) {
        r = ptap_pool_append(j, b->recs, b->n, err);
        if (r < 0)
            return r;
    }
    if (flags & PTAP_DESTROY_FAULTS_POOL)
        ptap_fault("destroy-after-intent");
    if (flags & PTAP_DESTROY_FAULTS_RECOVER)
        ptap_fault("recover-after-intent");
    if (b->before_helper)
        b->before_helper(b->userdata);

    /* 2. The helper, one batch. Names from the records, never from the
     * journal: an append may compact it and move its records. */
    if (!names) {
        own = calloc(b->n + 1, sizeof(*own));
        if (!own)
            return -ENOMEM;
        for (size_t i = 0; i < b->n; i++)
            own[i] = b->recs[i].name;
        names = own;
        n_names = b->n;
    }
    if (n_names > 0) {
        _cleanup_(ptap_helper_result_clear) ptap_helper_result res = { 0 };

        r = ptap_helper_destroy(names, n_names, &res);
        if (flags & PTAP_DESTROY_FAULTS_POOL)
            ptap_fault("destroy-after-helper");
        if (r < 0 || res.status != 0) {
            b->helper_failed = true;
            r = ptap_pool_helper_error(err, b->what, r, &res);
            if (flags & PTAP_DESTROY_UNDO) {
                for (size_t i = 0; i < b->n; i++)
                    b->recs[i].state = PTAP_STATE_READY;
                (void) ptap_journal_append(j, b->recs, b->n, NULL);
            }
            return r;
        }
    }
    if (flags & PTAP_DESTROY_FAULTS_RECOVER)
        ptap_fault("recover-after-helper");

    /* 3. Outcome. */
    if (b->outcome) {
        r = b->n_outcome > 0 ? ptap_pool_append(j, b->outcome, b->n_outcome, err) : 0;
    } else {
        for (size_t i = 0; i < b->n; i++)
            b->recs[i].state = PTAP_STATE_DESTROYED;
        r = b->n > 0 ? ptap_pool_append(j, b->recs, b->n, err) : 0;
    }
    return r < 0 ? r : 0;
}

/* The operation id a create intent's taps carry in their marks. */
static const char *intent_op(const ptap_record *intent)
{
    return *intent->batch ? intent->batch : intent->id;
}

static bool is_tap_record(const ptap_record *rec)
{
    return rec->count == 0 && !ptap_ifname_is_template(rec->name) &&
           rec->state != PTAP_STATE_CREATING;
}

/* Written before @intent: its tap existed before the create began. */
static bool older_than(const ptap_record *rec, const ptap_record *intent)
{
    return rec->seq < intent->seq || rec->created < intent->created;
}

int ptap_pool_rollback_floor(const ptap_journal *j, const ptap_record *intent,
                             const ptap_kview *kv)
{
    const char *jid = ptap_journal_id(j);
    int floor = 0;

    for (size_t i = 0; i < ptap_journal_count(j); i++) {
        const ptap_record *rec = ptap_journal_get(j, i);
        const ptap_kdev *d;

        if (!is_tap_record(rec) || rec->ifindex <= floor || !older_than(rec, intent))
            continue;
        d = ptap_kview_find(kv, rec->name);
        if (d && d->ifindex == rec->ifindex && ptap_kdev_is_record(d, jid, rec))
            floor = rec->ifindex;
    }
    return floor;
}

bool ptap_pool_rollback_owns(const ptap_record *intent, const ptap_record *rec,
                             const ptap_kdev *d, const char *jid)
{
    if (!is_tap_record(rec) || strcmp(rec->batch, intent_op(intent)) != 0 ||
        older_than(rec, intent) || rec->created < intent->created)
        return false;
    if (d && ptap_kdev_ours(d, jid) &&
        (strcmp(d->op, intent_op(intent)) != 0 || (rec->ifindex && d->ifindex != rec->ifindex)))
        return false;
    return true;
}

bool ptap_pool_rollback_takes(const ptap_journal *j, const ptap_record *intent, int floor,
                              const ptap_kdev *d, const char **why)
{
    const char *jid = ptap_journal_id(j), *unused;
    const ptap_record *rec;

    if (!why)
        why = &unused;
    if (!ptap_kdev_ours(d, jid)) {
        *why = "not a tap this user made for this journal";
        return false;
    }
    if (strcmp(d->op, intent_op(intent)) != 0) {
        *why = "made by another operation";
        return false;
    }
    rec = ptap_journal_find(j, d->name);
    if (rec && is_tap_record(rec) && ptap_kdev_is_record(d, jid, rec)) {
        if (ptap_pool_rollback_owns(intent, rec, d, jid))
            return true;
        *why = "a live record of an older operation with the same id names it";
        return false;
    }
    if (d->ifindex > 0 && d->ifindex <= floor) {
        *why = "older than the interrupted create (its ifindex is not above those of the taps "
               "on record before it)";
        return false;
    }
    return true;
}

/* Destroy every tap of this journal that create @intent made (found by
 * its mark, so it works even when the helper died before printing a
 * name; ptap_pool_rollback_takes() decides each). Used to roll back a
 * create; @close, when not NULL, is a record to write once they are gone
 * (the create's intent, closed). */
static int destroy_by_op(ptap_journal *j, const ptap_record *intent, ptap_record *close,
                         ptap_error *err)
{
    _cleanup_(ptap_kview_clear) ptap_kview kv = { 0 };
    _cleanup_free_ char **names = NULL;
    ptap_destroy_batch b = { .outcome = close, .n_outcome = close ? 1 : 0, .what = "rollback" };
    /* The intent as the journal has it now (an append may have compacted
     * the journal since, renumbering every seq). */
    const ptap_record *live = ptap_journal_find_batch(j, intent_op(intent));
    ptap_record in = live ? *live : *intent;
    int floor, r;

    r = ptap_kview_load(&kv);
    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "cannot list network devices: %s", strerror(-r));
    names = calloc(kv.n + 1, sizeof(char *));
    if (!names)
        return -ENOMEM;
    floor = ptap_pool_rollback_floor(j, &in, &kv);
    for (size_t i = 0; i < kv.n; i++) {
        const char *why = NULL;

        if (ptap_pool_rollback_takes(j, &in, floor, &kv.devs[i], &why))
            names[b.n_names++] = kv.devs[i].name;
        else if (ptap_kdev_ours(&kv.devs[i], ptap_journal_id(j)) &&
                 strcmp(kv.devs[i].op, intent_op(&in)) == 0)
            ptap_debug("rollback of '%s' keeps '%s': %s", intent_op(&in), kv.devs[i].name, why);
    }
    b.names = names;
    return ptap_pool_destroy_taps(j, &b, 0, err);
}

/* Is @old, the live record a fixed-name create found under its name, a
 * create intent that is provably dead and holds nothing? Any intent on
 * record when a create begins is dead: a writer holds the journal lock for
 * its whole session, so the create that wrote it has ended (it failed
 * without closing it, or was killed). It holds the name only while its
 * operation may have made the tap: a device of that name with its mark.
 * Returns 1 with *closed set (the intent, DESTROYED) when the name is free,
 * 0 when it is taken, or a negative errno. */
static int dead_intent(ptap_journal *j, const ptap_record *old, ptap_record *closed,
                       ptap_error *err)
{
    _cleanup_(ptap_kview_clear) ptap_kview kv = { 0 };
    char *names[] = { (char *) old->name, NULL };
    const ptap_kdev *d;
    int r;

    if (old->state != PTAP_STATE_CREATING || is_tap_record(old))
        return 0;
    r = ptap_kview_load_names(&kv, names, 1);
    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "cannot look up '%s': %s", old->name,
                              strerror(-r));
    d = ptap_kview_find(&kv, old->name);
    if (d && ptap_kdev_ours(d, ptap_journal_id(j)) && strcmp(d->op, intent_op(old)) == 0)
        return 0;
    ptap_debug("create of '%s': closing the dead intent of operation '%s'", old->name,
               intent_op(old));
    *closed = *old;
    closed->state = PTAP_STATE_DESTROYED;
    return 1;
}

int ptap_pool_create(ptap_journal *j, const ptap_create_spec *spec, uid_t owner, gid_t group,
                     char ***names, ptap_error *err)
{
    ptap_create_spec s = *spec;
    ptap_record intent = { 0 }, stale = { 0 };
    size_t n_stale = 0;
    _cleanup_(ptap_helper_result_clear) ptap_helper_result res = { 0 };
    _cleanup_free_ ptap_record *out = NULL;
    char tag[PTAP_TAG_MAX + 1];
    const char *why = NULL;
    uint8_t mac[PTAP_MAC_LEN];
    bool tmpl;
    int r;

    /* Check everything before the journal or the kernel hears of it. */
    if (ptap_ifname_check(s.name, true, &why) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid tap name '%s': %s", s.name, why);
    tmpl = ptap_ifname_is_template(s.name);
    if (s.count == 0)
        s.count = 1;
    if (s.count > 1 && !tmpl)
        return ptap_error_set(err, -EINVAL, EX_USAGE,
                              "--count %u needs a template name ending in '%%d', not '%s'",
                              s.count, s.name);
    if (s.mac && s.count > 1)
        return ptap_error_set(err, -EINVAL, EX_USAGE,
                              "--mac cannot give one address to %u taps", s.count);
    if (s.mac && ptap_mac_parse(s.mac, mac, &why) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid MAC address '%s': %s", s.mac, why);
    if (s.bridge && ptap_ifname_check(s.bridge, false, &why) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid bridge name '%s': %s", s.bridge, why);
    if (!tmpl) {
        const ptap_record *old = ptap_journal_find(j, s.name);

        if (old) {
            r = dead_intent(j, old, &stale, err);
            if (r < 0)
                return r;
            if (r == 0)
                return ptap_error_set(err, -EEXIST, EX_USAGE, "tap '%s' is already on record%s",
                                      s.name,
                                      old->state == PTAP_STATE_CREATING
                                          ? " (an interrupted create made it: run 'ptap recover')"
                                          : "");
            n_stale = 1;
        }
    }

    /* Intent: durable before the helper runs. */
    ptap_journal_new_id(j, intent.id);
    snprintf(intent.name, sizeof(intent.name), "%s", s.name);
    snprintf(intent.batch, sizeof(intent.batch), "%s", intent.id);
    intent.count = s.count;
    intent.owner = owner;
    intent.group = group;
    snprintf(intent.bridge, sizeof(intent.bridge), "%s", s.bridge ? s.bridge : "");
    snprintf(intent.mac, sizeof(intent.mac), "%s", s.mac ? s.mac : "");
    intent.mtu = s.mtu;
    intent.flags = (s.multi_queue ? PTAP_TAP_MULTI_QUEUE : 0) | (s.vnet_hdr ? PTAP_TAP_VNET_HDR : 0) |
                   (s.ephemeral ? PTAP_TAP_EPHEMERAL : 0);
    intent.state = PTAP_STATE_CREATING;
    /* The helper marks each tap "ptap:JOURNAL:OP" (mark.h). */
    r = ptap_mark_tag(ptap_journal_id(j), intent.id, tag, sizeof(tag));
    if (r < 0)
        return ptap_error_set(err, r, EX_SOFTWARE, "cannot make the mark of operation '%s': %s",
                              intent.id, strerror(-r));
    s.tag = tag;
    /* A dead intent that held the name is closed by the same append. */
    {
        ptap_record first[2] = { stale, intent };

        r = ptap_pool_append(j, first + 1 - n_stale, 1 + n_stale, err);
        if (r < 0)
            return r;
        intent = first[1];
    }
    ptap_fault("create-after-intent");

    r = ptap_helper_create(&s, &res);
    ptap_fault("create-after-helper");
    if (r < 0 || res.status != 0 || res.n_lines != s.count) {
        if (r >= 0 && res.status == 0)
            ptap_error_set(err, -EIO, EX_OSERR, "ptap-helper created %zu taps instead of %u",
                           res.n_lines, s.count);
        else
            ptap_pool_helper_error(err, "cannot create taps", r, &res);
        /* Roll back: whatever the helper made carries this op's mark;
         * once it is gone, the intent is closed. */
        intent.state = PTAP_STATE_DESTROYED;
        (void) destroy_by_op(j, &intent, &intent, NULL);
        return err ? err->code : -EIO;
    }

    /* Outcome: one READY record per tap, and the intent closed, in one
     * durable append. */
    out = calloc(s.count + 1, sizeof(*out));
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < res.n_lines; i++) {
        out[i] = intent;
        out[i].count = 0;
        ptap_journal_new_id(j, out[i].id);
        if (ptap_ifname_check(res.lines[i], false, NULL) < 0) {
            intent.state = PTAP_STATE_DESTROYED; /* closed in the same call */
            (void) destroy_by_op(j, &intent, &intent, NULL);
            return ptap_error_set(err, -EBADMSG, EX_OSERR,
                                  "ptap-helper printed an invalid name");
        }
        snprintf(out[i].name, sizeof(out[i].name), "%s", res.lines[i]);
        out[i].state = PTAP_STATE_READY;
    }
    /* Record each tap's ifindex: one lookup by name each (a full link dump
     * would cost more than the create on a host with thousands of links). */
    for (size_t i = 0; i < res.n_lines; i++)
        out[i].ifindex = (int) if_nametoindex(out[i].name);
    intent.state = PTAP_STATE_DESTROYED; /* the batch intent is done */
    out[s.count] = intent;
    r = ptap_pool_append(j, out, s.count + 1, err);
    if (r < 0) {
        /* Closed in the same call (a closing append may spend the space
         * reserve), so that the name stays usable. */
        (void) destroy_by_op(j, &intent, &intent, NULL);
        return r;
    }
    ptap_fault("create-after-outcome");
    if (names) {
        *names = TAKE_PTR(res.lines); /* NULL-terminated by construction */
        res.n_lines = 0;
    }
    return 0;
}

int ptap_pool_destroy(ptap_journal *j, char *const *names, size_t n, unsigned flags,
                      ptap_error *err)
{
    _cleanup_free_ ptap_record *recs = calloc(n ? n : 1, sizeof(*recs));
    _cleanup_free_ char **present = calloc(n + 1, sizeof(char *));
    _cleanup_(ptap_kview_clear) ptap_kview kv = { 0 };
    ptap_destroy_batch b = { .recs = recs, .n = n, .names = present, .kv = &kv,
                             .what = "cannot destroy taps" };
    int r;

    if (!recs || !present)
        return -ENOMEM;
    r = ptap_kview_load_names(&kv, names, n);
    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "cannot list network devices: %s", strerror(-r));

    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_find(j, names[i]);

        for (size_t k = 0; k < i; k++)
            if (strcmp(names[k], names[i]) == 0)
                return ptap_error_set(err, -EINVAL, EX_USAGE, "tap '%s' named twice", names[i]);
        if (!rec || rec->state == PTAP_STATE_CREATING)
            return ptap_error_set(err, -ENOENT, EX_USAGE, "cannot destroy '%s': not on record in '%s'",
                                  names[i], ptap_journal_path(j));
        if (rec->state == PTAP_STATE_ATTACHED || rec->state == PTAP_STATE_ATTACHING ||
            rec->state == PTAP_STATE_DETACHING)
            return ptap_error_set(err, -EBUSY, EX_USAGE,
                                  "cannot destroy '%s': it is %s to guest '%s' (detach it first)",
                                  names[i], ptap_state_to_string(rec->state),
                                  *rec->consumer.name ? rec->consumer.name : rec->consumer.target);
        recs[i] = *rec;
        /* Only a tap still there and ours goes to the helper; the record
         * of one already gone is just closed. */
        const ptap_kdev *d = ptap_kview_find(&kv, names[i]);
        if (d && ptap_kdev_is_record(d, ptap_journal_id(j), rec))
            present[b.n_names++] = recs[i].name;
    }
    /* Nothing was removed when the helper fails (it checks all names
     * before it deletes any): the records go back to READY. */
    return ptap_pool_destroy_taps(j, &b, PTAP_DESTROY_UNDO | PTAP_DESTROY_FAULTS_POOL |
                                             (flags & PTAP_DESTROY_FORCE), err);
}

int ptap_pool_forget(ptap_journal *j, char *const *names, size_t n, size_t *n_forgotten,
                     ptap_error *err)
{
    _cleanup_free_ ptap_record *recs = calloc(n ? n : 1, sizeof(*recs));
    _cleanup_(ptap_kview_clear) ptap_kview kv = { 0 };
    size_t m = 0;
    int r;

    if (!recs)
        return -ENOMEM;
    r = ptap_kview_load_names(&kv, names, n);
    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "cannot list network devices: %s", strerror(-r));
    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_find(j, names[i]);
        const ptap_kdev *d = ptap_kview_find(&kv, names[i]);

        if (!rec)
            continue;
        if (d && ptap_kdev_is_record(d, ptap_journal_id(j), rec))
            return ptap_error_set(err, -EBUSY, EX_USAGE,
                                  "cannot forget '%s': the tap still exists (use 'ptap destroy')",
                                  names[i]);
        recs[m] = *rec;
        recs[m++].state = PTAP_STATE_DESTROYED;
    }
    if (m > 0) {
        r = ptap_pool_append(j, recs, m, err);
        if (r < 0)
            return r;
    }
    if (n_forgotten)
        *n_forgotten = m;
    return 0;
}
