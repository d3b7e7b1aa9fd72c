/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <signal.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

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
    if (res->status > 128)
        return ptap_error_set(err, -EINTR, EX_OSERR, "%s: ptap-helper was killed by signal %d (%s)%s%s",
                              what, res->status - 128, strsignal(res->status - 128),
                              res->errtext && *res->errtext ? ": " : "",
                              res->errtext ? res->errtext : "");
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

/* The index of link @name, through socket @sk (one of the caller's
 * namespace), or 0 if it has none or @sk is not open. */
static int ifindex_of(int sk, const char *name)
{
    struct ifreq ifr = { 0 };

    if (sk < 0 || strlen(name) >= sizeof(ifr.ifr_name))
        return sk < 0 ? (int) if_nametoindex(name) : 0;
    memcpy(ifr.ifr_name, name, strlen(name) + 1);
    if (ioctl(sk, SIOCGIFINDEX, &ifr) < 0)
        return 0;
    return ifr.ifr_ifindex;
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
        char who[PTAP_HOLDER_DESCRIBE_MAX];

        if (!ptap_kdev_held(d))
            continue;
        ptap_kdev_describe_holder(names[i], b->netns, who, sizeof(who));
        return ptap_error_set(err, -EBUSY, EX_TEMPFAIL,
                              "cannot destroy '%s': it is in use by %s (--force destroys it "
                              "anyway)", names[i], who);
    }
    return 0;
}

/*
 * After a failed helper run the records say DESTROYING, and only the kernel
 * knows what happened: a helper refusing checks every name before it
 * deletes any, but one killed (SIGKILL, OOM) may have deleted them all, or
 * left them in its deletion group. Each record follows its tap: gone ->
 * DESTROYED, still there -> READY (a tap left in a deletion group is put
 * back by the next `ptap recover`). Best effort: when even the kernel
 * cannot be asked, the DESTROYING records stay for `ptap recover`.
 */
static void settle_from_kernel(ptap_journal *j, ptap_destroy_batch *b)
{
    _cleanup_(ptap_kview_clear) ptap_kview kv = { 0 };
    _cleanup_free_ char **names = calloc(b->n + 1, sizeof(*names));

    if (!names)
        return;
    for (size_t i = 0; i < b->n; i++)
        names[i] = b->recs[i].name;
    if (ptap_kview_load_names(&kv, names, b->n) < 0)
        return;
    for (size_t i = 0; i < b->n; i++) {
        const ptap_kdev *d = ptap_kview_find(&kv, b->recs[i].name);

        b->recs[i].state = d && ptap_kdev_is_record(d, ptap_journal_id(j), &b->recs[i])
                               ? PTAP_STATE_READY
                               : PTAP_STATE_DESTROYED;
    }
    (void) ptap_journal_append(j, b->recs, b->n, NULL);
}

/* Where @b's taps are: *@fd is an open descriptor of their namespace
 * when it must be entered (-1: it is this thread's), *@gone is set when it
 * no longer exists. Refuses one this process may not enter. */
static int batch_locate(const ptap_destroy_batch *b, int *fd, bool *gone, ptap_error *err)
{
    ptap_netns self, ns;
    char what[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 4];
    int r;

    *fd = -1;
    *gone = false;
    /* A process that could not go back to its namespace acts nowhere. */
    if (ptap_netns_lost())
        return ptap_error_set(err, -EIO, EX_OSERR, "%s: this process lost track of its network "
                              "namespace", b->what);
    if (!b->netns || !ptap_netns_known(b->netns))
        return 0;
    r = ptap_netns_self(&self);
    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "%s: cannot tell this process's network "
                              "namespace: %s", b->what, strerror(-r));
    ns = *b->netns;
    ptap_netns_where where = ptap_netns_locate(&ns, &self, fd);
    switch (ptap_netns_judge_record(b->netns, &self, where)) {
    case PTAP_NETNS_JUDGE_HERE:
    case PTAP_NETNS_JUDGE_ENTER:
        return 0;
    case PTAP_NETNS_JUDGE_GONE:
        *gone = true;
        return 0;
    case PTAP_NETNS_JUDGE_LEAVE:
    default:
        ptap_netns_describe(&ns, what, sizeof(what));
        return ptap_error_set(err, -EPERM, EX_NOPERM,
                              "%s: they are in network namespace %s, which this process cannot "
                              "enter (run ptap there, or as root)", b->what, what);
    }
}

/* Enter namespace @fd (-1: stay) for one step; explained in @err. */
static int batch_enter(const ptap_destroy_batch *b, int fd, int *saved, ptap_error *err)
{
    int r = ptap_netns_enter(fd, saved);

    if (r < 0)
        return ptap_error_set(err, r, r == -EPERM ? EX_NOPERM : EX_OSERR,
                              "%s: cannot enter the taps' network namespace: %s", b->what,
                              strerror(-r));
    return 0;
}

static int batch_leave(const ptap_destroy_batch *b, int *saved, ptap_error *err)
{
    int r = ptap_netns_leave(saved);

    /* This process is then in the taps' namespace still: it must stop
     * (DESTROYING records are recovery's to finish). */
    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "%s: cannot go back to this process's network "
                              "namespace: %s", b->what, strerror(-r));
    return 0;
}

int ptap_pool_destroy_taps(ptap_journal *j, ptap_destroy_batch *b, unsigned flags,
                           ptap_error *err)
{
    _cleanup_free_ char **own = NULL;
    _cleanup_(ptap_netns_leavep) int saved = -1;
    _cleanup_close_ int nsfd = -1;
    char *const *names = b->names;
    size_t n_names = b->n_names;
    bool gone;
    int r;

    b->helper_failed = false;
    /* The held check and the helper act in the namespace they run in:
     * that of the taps, entered for each (the journal and the guests do
     * not care). Located before anything is written: a refusal changes
     * nothing. */
    r = batch_locate(b, &nsfd, &gone, err);
    if (r < 0)
        return r;
    if (gone) {
        /* The namespace took its taps with it: nothing to hold, nothing
         * for the helper (steps 0 and 2 are skipped). */
        names = NULL;
        n_names = 0;
    }
    /* 0. A tap that a process holds is never pulled from under it, whatever
     * the journal says (a guest, libvirt, a user's program). Asked of the
     * kernel now, for exactly the names going to the helper. */
    if (!(flags & PTAP_DESTROY_FORCE) && !gone) {
        r = batch_enter(b, nsfd, &saved, err);
        if (r < 0)
            return r;
        r = refuse_held(names ? names : NULL, names ? n_names : 0, b, err);
        if (r < 0)
            return r;
        r = batch_leave(b, &saved, err);
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
    if (!names && !gone) {
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

        r = batch_enter(b, nsfd, &saved, err);
        if (r < 0)
            return r;
        r = ptap_helper_destroy(names, n_names, &res);
        int r2 = batch_leave(b, &saved, err);
        if (r2 < 0)
            return r2;
        if (flags & PTAP_DESTROY_FAULTS_POOL)
            ptap_fault("destroy-after-helper");
        if (r < 0 || res.status != 0) {
            b->helper_failed = true;
            r = ptap_pool_helper_error(err, b->what, r, &res);
            /* Asked of the kernel of the taps' namespace. */
            if ((flags & PTAP_DESTROY_UNDO) && batch_enter(b, nsfd, &saved, NULL) == 0) {
                settle_from_kernel(j, b);
                (void) batch_leave(b, &saved, NULL);
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

/* Is @rec about a tap of the namespace this thread runs in (where a
 * rollback looks at the kernel)? A record of another namespace names a tap
 * there, whatever device of that name is here. Unknown: yes (old records,
 * taken as the namespace ptap runs in). */
static bool record_here(const ptap_record *rec)
{
    ptap_netns self;

    if (!ptap_netns_known(&rec->netns) || ptap_netns_self(&self) < 0)
        return true;
    return ptap_netns_equal(&rec->netns, &self);
}

int ptap_pool_rollback_floor(const ptap_journal *j, const ptap_record *intent,
                             const ptap_kview *kv)
{
    const char *jid = ptap_journal_id(j);
    int floor = 0;

    for (size_t i = 0; i < ptap_journal_count(j); i++) {
        const ptap_record *rec = ptap_journal_get(j, i);
        const ptap_kdev *d;

        if (!is_tap_record(rec) || rec->ifindex <= floor || !older_than(rec, intent) ||
            !record_here(rec))
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
    if (rec && is_tap_record(rec) && record_here(rec) && ptap_kdev_is_record(d, jid, rec)) {
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
    return ptap_pool_create_with(j, spec, owner, group, NULL, NULL, names, err);
}

int ptap_pool_create_with(ptap_journal *j, const ptap_create_spec *spec, uid_t owner, gid_t group,
                          ptap_pool_outcome_fn outcome, void *userdata, char ***names,
                          ptap_error *err)
{
    ptap_create_spec s = *spec;
    ptap_record intent = { 0 }, stale = { 0 };
    size_t n_stale = 0;
    _cleanup_(ptap_helper_result_clear) ptap_helper_result res = { 0 };
    _cleanup_free_ ptap_record *out = NULL;
    char tag[PTAP_TAG_MAX + 1];
    const char *why = NULL;
    uint8_t mac[PTAP_MAC_LEN];
    ptap_netns here;
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
    /* The taps are made where this thread runs: the helper is run here. */
    r = ptap_netns_self(&here);
    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "cannot tell this process's network namespace: %s",
                              strerror(-r));

    /* Intent: durable before the helper runs. */
    ptap_journal_new_id(j, intent.id);
    snprintf(intent.name, sizeof(intent.name), "%s", s.name);
    snprintf(intent.batch, sizeof(intent.batch), "%s", intent.id);
    intent.count = s.count;
    intent.owner = owner;
    intent.group = group;
    snprintf(intent.bridge, sizeof(intent.bridge), "%s", s.bridge ? s.bridge : "");
    if (s.network && (!s.bridge || strlen(s.network) >= sizeof(intent.network)))
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid network name '%s'", s.network);
    snprintf(intent.network, sizeof(intent.network), "%s", s.network ? s.network : "");
    snprintf(intent.mac, sizeof(intent.mac), "%s", s.mac ? s.mac : "");
    intent.mtu = s.mtu;
    intent.flags = (s.multi_queue ? PTAP_TAP_MULTI_QUEUE : 0) | (s.vnet_hdr ? PTAP_TAP_VNET_HDR : 0) |
                   (s.ephemeral ? PTAP_TAP_EPHEMERAL : 0);
    intent.state = PTAP_STATE_CREATING;
    intent.netns = here;
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
        /* A journal keys taps by name: the kernel of this namespace may
         * pick a name the journal has for a tap of another namespace (each
         * counts its own ptap0, ptap1...). Recording it would replace that
         * record; give this create up instead. A record of this namespace
         * (or of no recorded one) is a stale one: the new tap replaces it. */
        const ptap_record *o = ptap_journal_find(j, out[i].name);
        if (o && ptap_netns_known(&o->netns) && !ptap_netns_equal(&o->netns, &here)) {
            char where[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 4];

            ptap_netns_describe(&o->netns, where, sizeof(where));
            ptap_error_set(err, -EEXIST, EX_USAGE,
                           "cannot create taps: the kernel named one '%s', which this journal "
                           "already has for a tap in network namespace %s (tap names are unique "
                           "in a journal: give another TEMPLATE, or another --state-dir; "
                           "'ptap recover' closes the record if that tap is gone); nothing was "
                           "created", out[i].name, where);
            intent.state = PTAP_STATE_DESTROYED;
            (void) destroy_by_op(j, &intent, &intent, NULL);
            return -EEXIST;
        }
    }
    /* Record each tap's ifindex: one lookup by name each (a full link dump
     * would cost more than the create on a host with thousands of links),
     * on one socket: if_nametoindex() opens and closes one per name. */
    {
        _cleanup_close_ int sk = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        for (size_t i = 0; i < res.n_lines; i++)
            out[i].ifindex = ifindex_of(sk, out[i].name);
    }
    intent.state = PTAP_STATE_DESTROYED; /* the batch intent is done */
    /* The caller's next step rides on the same append (an attach's intent:
     * one fdatasync fewer before QEMU hears of the tap). */
    for (size_t i = 0; outcome && i < res.n_lines; i++) {
        ptap_record before = out[i];

        r = outcome(&out[i], userdata, err);
        /* What names the tap and ties it to this batch stays. */
        memcpy(out[i].name, before.name, sizeof(out[i].name));
        memcpy(out[i].id, before.id, sizeof(out[i].id));
        memcpy(out[i].batch, before.batch, sizeof(out[i].batch));
        out[i].ifindex = before.ifindex;
        out[i].netns = before.netns;
        if (r < 0) {
            (void) destroy_by_op(j, &intent, &intent, NULL);
            return err && err->code ? err->code : r;
        }
    }
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

size_t ptap_pool_follow(const ptap_record *rec, const ptap_nsview *v, const ptap_kdev *d,
                        ptap_record out[2])
{
    size_t k = 0;

    if (strcmp(rec->name, d->name) != 0) {
        /* Renamed on the way: the old key closes, the new one opens. */
        out[k] = *rec;
        out[k++].state = PTAP_STATE_DESTROYED;
    }
    out[k] = *rec;
    snprintf(out[k].name, sizeof(out[k].name), "%s", d->name);
    out[k].ifindex = d->ifindex;
    out[k].netns = v->ns;
    return k + 1;
}

/* -EPERM (or the dump's error) for tap @name of a record in @v, a
 * namespace this process cannot judge. */
static int refuse_unjudged(ptap_error *err, const char *what, const char *name,
                           const ptap_nsview *v)
{
    char why[PTAP_NSVIEW_WHY_MAX];

    ptap_nsview_why(v, why, sizeof(why));
    return ptap_error_set(err, v->load_error ? v->load_error : -EPERM,
                          v->load_error ? EX_OSERR : EX_NOPERM, "%s '%s': %s", what, name, why);
}

static int cmp_name_index(const void *a, const void *b, void *names)
{
    size_t x = *(const size_t *) a, y = *(const size_t *) b;
    int c = strcmp(((char *const *) names)[x], ((char *const *) names)[y]);

    return c ? c : (x > y) - (x < y);
}

/* *@ret: the first position in @names whose name came before (n: none),
 * found by sorting rather than by comparing every pair. */
static int first_repeat(char *const *names, size_t n, size_t *ret)
{
    _cleanup_free_ size_t *order = calloc(n ? n : 1, sizeof(*order));

    *ret = n;
    if (!order)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof(*order), cmp_name_index, (void *) names);
    /* In a run of equal names the second is the first repeat. */
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[order[i]], names[order[i - 1]]) == 0 &&
            (i < 2 || strcmp(names[order[i - 1]], names[order[i - 2]]) != 0) && order[i] < *ret)
            *ret = order[i];
    return 0;
}

int ptap_pool_destroy(ptap_journal *j, char *const *names, size_t n, unsigned flags,
                      ptap_error *err)
{
    _cleanup_free_ ptap_record *recs = calloc(n ? n : 1, sizeof(*recs));
    _cleanup_free_ ptap_record *grp = calloc(n ? n : 1, sizeof(*grp));
    _cleanup_free_ ptap_nsview **where = calloc(n ? n : 1, sizeof(*where));
    _cleanup_free_ char **dev = calloc(n + 1, sizeof(char *));
    _cleanup_free_ char **present = calloc(n + 1, sizeof(char *));
    _cleanup_free_ bool *done = calloc(n ? n : 1, sizeof(*done));
    _cleanup_(ptap_kviews_clear) ptap_kviews w = { 0 };
    const char *jid = ptap_journal_id(j);
    int r;

    size_t first_dup;

    if (!recs || !grp || !where || !dev || !present || !done)
        return -ENOMEM;
    r = first_repeat(names, n, &first_dup);
    if (r < 0)
        return r;
    r = ptap_kviews_init(&w, names, n, err);
    if (r < 0)
        return r;

    for (size_t i = 0; i < n; i++) {
        const ptap_record *rec = ptap_journal_find(j, names[i]);
        const ptap_kdev *d = NULL;
        ptap_nsview *v;

        if (i == first_dup)
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
        /* Judged in its own namespace: only a tap still there and ours
         * goes to the helper (run there); the record of one already gone
         * (or whose namespace is) is just closed; a tap that moved to
         * another namespace is destroyed where it is now. */
        v = ptap_kviews_of(&w, rec);
        if (!v)
            return -ENOMEM;
        if (v->judge == PTAP_NETNS_JUDGE_LEAVE)
            return refuse_unjudged(err, "cannot destroy", names[i], v);
        if (v->judge != PTAP_NETNS_JUDGE_GONE)
            d = ptap_kview_find(&v->kv, names[i]);
        if (!d || !ptap_kdev_is_record(d, jid, rec))
            d = ptap_kviews_find_moved(&w, rec, jid, &v);
        if (d) {
            where[i] = v;
            dev[i] = (char *) d->name;
        }
    }
    /* A tap that a process holds is refused before any is destroyed. */
    for (size_t i = 0; i < n && !(flags & PTAP_DESTROY_FORCE); i++) {
        const ptap_kdev *d = where[i] ? ptap_kview_find(&where[i]->kv, dev[i]) : NULL;
        char who[PTAP_HOLDER_DESCRIBE_MAX];

        if (!ptap_kdev_held(d))
            continue;
        ptap_kdev_describe_holder(dev[i], &where[i]->ns, who, sizeof(who));
        return ptap_error_set(err, -EBUSY, EX_TEMPFAIL,
                              "cannot destroy '%s': it is in use by %s (--force destroys it "
                              "anyway)", names[i], who);
    }
    /* One journaled batch per namespace, the helper run in it; first the
     * records with no tap left (no helper at all). */
    for (size_t i = 0; i < n; i++) {
        const ptap_nsview *v = where[i];
        ptap_destroy_batch b = { .recs = grp, .names = present, .what = "cannot destroy taps",
                                 .kv = v ? &v->kv : NULL, .netns = v ? &v->ns : NULL };

        if (done[i])
            continue;
        for (size_t k = i; k < n; k++) {
            if (done[k] || where[k] != v)
                continue;
            done[k] = true;
            grp[b.n++] = recs[k];
            if (v)
                present[b.n_names++] = dev[k];
        }
        /* Nothing was removed when the helper fails (it checks all names
         * before it deletes any): the records go back to READY. */
        r = ptap_pool_destroy_taps(j, &b, PTAP_DESTROY_UNDO | PTAP_DESTROY_FAULTS_POOL |
                                              (flags & PTAP_DESTROY_FORCE), err);
        if (r < 0)
            return r;
    }
    return 0;
}

void ptap_pool_ovs_guest(const ptap_record *rec, const char *mac, const char *vm_uuid)
{
    _cleanup_(ptap_kview_clear) ptap_kview kv = { 0 };
    _cleanup_(ptap_helper_result_clear) ptap_helper_result res = { 0 };
    char *bridge[] = { (char *) rec->bridge, NULL };
    int r;

    if (!*rec->bridge || !record_here(rec) || ptap_kview_load_names(&kv, bridge, 1) < 0 ||
        !ptap_kview_maybe_ovs(&kv, rec->bridge))
        return;
    r = ptap_helper_ovs_set(rec->name, mac, vm_uuid, &res);
    if (r < 0 || res.status != 0)
        ptap_debug("ovs: cannot describe the port of '%s': %s", rec->name,
                   r < 0 ? strerror(-r) : strna(res.errtext));
}

/*
 * The Open vSwitch rows of taps whose records @recs (@n, closed ones among
 * them) were just closed, when their bridge may be an OVS one: the device
 * is gone, so is its port (ptap-helper ovs-forget checks both, and takes
 * only rows of the caller's marks). Best effort: `ptap recover` finds what
 * is left.
 */
static void forget_ovs_rows(const ptap_record *recs, size_t n)
{
    _cleanup_free_ char **names = calloc(n + 1, sizeof(*names));
    _cleanup_free_ char **bridges = calloc(n + 1, sizeof(*bridges));
    _cleanup_(ptap_kview_clear) ptap_kview kv = { 0 };
    _cleanup_(ptap_helper_result_clear) ptap_helper_result res = { 0 };
    size_t k = 0;
    bool ovs = false;

    if (!names || !bridges)
        return;
    for (size_t i = 0; i < n; i++)
        if (recs[i].state == PTAP_STATE_DESTROYED && *recs[i].bridge) {
            names[k] = (char *) recs[i].name;
            bridges[k++] = (char *) recs[i].bridge;
        }
    if (k == 0 || ptap_kview_load_names(&kv, bridges, k) < 0)
        return;
    for (size_t i = 0; i < k; i++)
        ovs |= ptap_kview_maybe_ovs(&kv, bridges[i]);
    if (!ovs)
        return;
    if (ptap_helper_ovs_forget(names, k, &res) < 0 || res.status != 0)
        ptap_debug("forget: Open vSwitch rows left for 'ptap recover': %s", strna(res.errtext));
}

int ptap_pool_forget(ptap_journal *j, char *const *names, size_t n, ptap_forget_result *res,
                     ptap_error *err)
{
    _cleanup_free_ ptap_record *recs = calloc(2 * n + 1, sizeof(*recs));
    _cleanup_(ptap_kviews_clear) ptap_kviews w = { 0 };
    const char *jid = ptap_journal_id(j);
    ptap_forget_result out = { .each = res ? res->each : NULL };
    size_t m = 0;
    int r;

    if (!recs)
        return -ENOMEM;
    r = ptap_kviews_init(&w, names, n, err);
    if (r < 0)
        return r;
#define OUTCOME(o) (out.each ? (void) (out.each[i] = (o)) : (void) 0)
    for (size_t i = 0; i < n; i++) {
        OUTCOME(PTAP_FORGET_IGNORED);
        const ptap_record *rec = ptap_journal_find(j, names[i]);
        const ptap_kdev *d = NULL;
        ptap_nsview *v, *mv;

        if (!rec)
            continue;
        /* Judged in its own namespace, never from another. */
        v = ptap_kviews_of(&w, rec);
        if (!v)
            return -ENOMEM;
        if (v->judge == PTAP_NETNS_JUDGE_LEAVE) {
            OUTCOME(PTAP_FORGET_LEFT);
            out.left++;
            continue;
        }
        if (v->judge != PTAP_NETNS_JUDGE_GONE)
            d = ptap_kview_find(&v->kv, names[i]);
        if (d && ptap_kdev_is_record(d, jid, rec)) {
            if (v->judge == PTAP_NETNS_JUDGE_HERE)
                return ptap_error_set(err, -EBUSY, EX_USAGE,
                                      "cannot forget '%s': the tap still exists (use 'ptap "
                                      "destroy')", names[i]);
            /* It lives on in its own namespace: the device that vanished
             * here (udev's, the watcher's) was another one. */
            OUTCOME(PTAP_FORGET_ELSEWHERE);
            out.elsewhere++;
            continue;
        }
        d = ptap_kviews_find_moved(&w, rec, jid, &mv);
        if (d) {
            m += ptap_pool_follow(rec, mv, d, &recs[m]);
            OUTCOME(PTAP_FORGET_FOLLOWED);
            out.followed++;
            continue;
        }
        recs[m] = *rec;
        recs[m++].state = PTAP_STATE_DESTROYED;
        OUTCOME(PTAP_FORGET_CLOSED);
        out.forgotten++;
    }
#undef OUTCOME
    if (m > 0) {
        r = ptap_pool_append(j, recs, m, err);
        if (r < 0)
            return r;
    }
    forget_ovs_rows(recs, m);
    if (res)
        *res = out;
    return 0;
}
