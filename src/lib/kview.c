/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "helperexec.h"
#include "kview.h"
#include "link.h"
#include "log.h"
#include "mark.h"
#include "proc.h"

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const ptap_kdev *) a)->name, ((const ptap_kdev *) b)->name);
}

static void kdev_from_link(ptap_kdev *d, const ptap_link_info *l)
{
    snprintf(d->name, sizeof(d->name), "%s", l->name);
    d->ifindex = l->ifindex;
    d->is_tap = l->is_tap;
    d->marked = l->is_tap && ptap_mark_is_mark(l->alias);
    d->maker = -1;
    if (d->marked) {
        ptap_mark m;

        if (ptap_mark_parse(l->alias, &m) == 0) {
            d->maker = m.maker == (uid_t) -1 ? -1 : (long long) m.maker;
            memcpy(d->journal, m.journal, sizeof(d->journal));
            memcpy(d->op, m.op, sizeof(d->op));
        }
    }
    d->owner = l->owner;
    d->group = l->group;
    snprintf(d->bridge, sizeof(d->bridge), "%s", l->master);
    d->mtu = l->mtu;
    d->carrier = l->carrier;
    d->up = l->up;
    d->multi_queue = l->multi_queue;
    d->vnet_hdr = l->vnet_hdr;
    d->queues = l->is_tun ? l->queues + l->disabled_queues : 0;
    d->link_group = l->link_group;
    d->is_bridge = strcmp(l->kind, "bridge") == 0;
}

/* The view of @n @links (a name given twice counts once). */
static int kview_from_links(ptap_kview *kv, const ptap_link_info *links, size_t n)
{
    size_t k = 0;

    kv->devs = calloc(n ? n : 1, sizeof(*kv->devs));
    if (!kv->devs)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        kdev_from_link(&kv->devs[i], &links[i]);
    /* Sorted by name: list and recover look up every record. */
    qsort(kv->devs, n, sizeof(*kv->devs), cmp_name);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || strcmp(kv->devs[i].name, kv->devs[k - 1].name) != 0)
            kv->devs[k++] = kv->devs[i];
    kv->n = k;
    return 0;
}

int ptap_kview_load(ptap_kview *kv)
{
    _cleanup_(ptap_link_info_freep) ptap_link_info *links = NULL;
    size_t n = 0;
    int r;

    *kv = (ptap_kview) { 0 };
    /* recover's helper, started early, dumps every link for its checks
     * and prints them: a dump of our own would say the same (a helper
     * started before another ptap changed the journal is dropped when the
     * command takes the lock: cli_open_journal_prestarted()). */
    if (ptap_helper_prestart_view(NULL, 0, &links, &n) == 0)
        return kview_from_links(kv, links, n);
    r = ptap_link_dump(&links, &n);
    if (r < 0)
        return r;
    return kview_from_links(kv, links, n);
}

int ptap_kview_load_names(ptap_kview *kv, char *const *names, size_t n)
{
    ptap_link_ctx *c = NULL;
    int r;

    *kv = (ptap_kview) { 0 };
    if (n > PTAP_KVIEW_NAMES_MAX) {
        _cleanup_(ptap_link_info_freep) ptap_link_info *seen = NULL;
        size_t n_seen = 0;

        /* The helper started early for a destroy of these names has
         * dumped the links already: its view is as good as a dump of our
         * own (one started before another ptap changed the journal has
         * been dropped: cli_open_journal_prestarted()), and that helper's
         * checks go by it. */
        if (ptap_helper_prestart_view(names, n, &seen, &n_seen) == 0)
            return kview_from_links(kv, seen, n_seen);
        return ptap_kview_load(kv);
    }
    kv->devs = calloc(n ? n : 1, sizeof(*kv->devs));
    if (!kv->devs)
        return -ENOMEM;
    r = ptap_link_open(&c);
    if (r < 0) {
        ptap_kview_clear(kv);
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        ptap_link_info l;

        r = ptap_link_get_ctx(c, names[i], &l);
        if (r == -ENODEV || r == -EINVAL)
            continue; /* no such device: not in the view */
        if (r < 0) {
            ptap_link_close(c);
            ptap_kview_clear(kv);
            return r;
        }
        if (ptap_kview_find(kv, l.name))
            continue; /* named twice */
        kdev_from_link(&kv->devs[kv->n++], &l);
        qsort(kv->devs, kv->n, sizeof(*kv->devs), cmp_name);
    }
    ptap_link_close(c);
    return 0;
}

void ptap_kview_clear(ptap_kview *kv)
{
    if (!kv)
        return;
    free(kv->devs);
    *kv = (ptap_kview) { 0 };
}

const ptap_kdev *ptap_kview_find(const ptap_kview *kv, const char *name)
{
    ptap_kdev key;

    if (!name || strlen(name) >= sizeof(key.name) || kv->n == 0)
        return NULL; /* (a view never loaded has no array at all) */
    snprintf(key.name, sizeof(key.name), "%s", name);
    return bsearch(&key, kv->devs, kv->n, sizeof(*kv->devs), cmp_name);
}

bool ptap_kdev_ours(const ptap_kdev *d, const char *jid)
{
    ptap_mark m = { .maker = d && d->maker >= 0 ? (uid_t) d->maker : (uid_t) -1 };

    if (!d || !d->marked)
        return false;
    memcpy(m.journal, d->journal, sizeof(m.journal));
    return ptap_mark_is_ours(&m, geteuid(), jid);
}

bool ptap_kdev_is_record(const ptap_kdev *d, const char *jid, const ptap_record *rec)
{
    return ptap_kdev_ours(d, jid) && (rec->owner == (uid_t) -1 || d->owner == (long long) rec->owner);
}

const ptap_kdev *ptap_kview_find_index(const ptap_kview *kv, int ifindex)
{
    for (size_t i = 0; i < kv->n; i++)
        if (kv->devs[i].ifindex == ifindex)
            return &kv->devs[i];
    return NULL;
}

bool ptap_kdev_held(const ptap_kdev *d)
{
    /* Multi-queue taps report their queues; a single-queue tap has carrier
     * exactly while a descriptor is attached (tun_attach/tun_detach). */
    return d && d->is_tap && (d->queues > 0 || d->carrier);
}

/* The holders of the last /proc scan, kept for HOLDERS_TTL_MS: one scan for
 * every tap of a list or a recovery; a daemon (ptap watch) looks afresh. */
#define HOLDERS_TTL_MS 1000

static struct {
    ptap_proc_holder *v;
    size_t n;
    int64_t at;      /* ptap_now_ms() of the scan; 0: none */
    int error;       /* the scan failed (negative errno) */
    ptap_holder *dom; /* per entry, filled on first use (kind NONE: not looked at yet) */
} holders;

void ptap_holders_flush(void)
{
    free(holders.v);
    free(holders.dom);
    holders.v = NULL;
    holders.dom = NULL;
    holders.n = 0;
    holders.at = 0;
    holders.error = 0;
}

static void holders_load(void)
{
    int64_t now = ptap_now_ms();

    if (holders.at && now - holders.at < HOLDERS_TTL_MS)
        return;
    ptap_holders_flush();
    holders.error = ptap_proc_tap_holders(&holders.v, &holders.n);
    if (holders.error == 0) {
        holders.dom = calloc(holders.n ? holders.n : 1, sizeof(*holders.dom));
        if (!holders.dom)
            holders.error = -ENOMEM;
    }
    if (holders.error < 0) {
        ptap_debug("kview: cannot tell who holds taps: %s", strerror(-holders.error));
        free(holders.v);
        holders.v = NULL;
        holders.n = 0;
    }
    holders.at = now ? now : 1;
}

/* Entry @i of the scan as a holder: a libvirt domain's QEMU if its
 * libvirtd's pid file says so (looked at once), else a process. */
static const ptap_holder *holder_at(size_t i)
{
    const ptap_proc_holder *p = &holders.v[i];
    ptap_holder *h = &holders.dom[i];
    ptap_proc_domain dom;

    if (h->kind != PTAP_HOLDER_NONE)
        return h;
    /* A QEMU with several taps has one entry per tap: one look per QEMU. */
    for (size_t k = 0; k < holders.n; k++)
        if (k != i && holders.v[k].pid == p->pid && holders.dom[k].kind != PTAP_HOLDER_NONE) {
            *h = holders.dom[k];
            return h;
        }
    *h = (ptap_holder) { .kind = PTAP_HOLDER_PROCESS, .pid = p->pid, .uid = p->uid };
    snprintf(h->command, sizeof(h->command), "%s", p->comm);
    if (ptap_proc_libvirt_domain(p->pid, p->uid, &dom) == 0) {
        h->kind = PTAP_HOLDER_LIBVIRT;
        memcpy(h->domain, dom.name, sizeof(h->domain));
        memcpy(h->uuid, dom.uuid, sizeof(h->uuid));
        memcpy(h->uri, dom.uri, sizeof(h->uri));
    }
    return h;
}

static void kdev_holder_named(const char *name, const ptap_netns *ns, bool held,
                              ptap_holder *ret)
{
    const ptap_holder *best = NULL;

    *ret = (ptap_holder) { .kind = PTAP_HOLDER_NONE, .uid = (uid_t) -1 };
    if (!held)
        return;
    holders_load();
    for (size_t i = 0; i < holders.n; i++) {
        const ptap_proc_holder *p = &holders.v[i];
        const ptap_holder *h;

        if (strcmp(p->ifname, name) != 0)
            continue;
        /* The name is the holder's namespace's: another tap elsewhere. */
        if (ptap_netns_known(ns) && p->netns_ino &&
            (p->netns_dev != ns->dev || p->netns_ino != ns->ino))
            continue;
        h = holder_at(i);
        if (!best || (best->kind != PTAP_HOLDER_LIBVIRT && h->kind == PTAP_HOLDER_LIBVIRT))
            best = h;
    }
    if (best)
        *ret = *best;
    else
        ret->kind = PTAP_HOLDER_UNSEEN;
}

void ptap_kdev_holder(const ptap_kdev *d, const ptap_netns *ns, ptap_holder *ret)
{
    kdev_holder_named(d ? d->name : "", ns, ptap_kdev_held(d), ret);
}

const char *ptap_holder_kind_to_string(ptap_holder_kind k)
{
    switch (k) {
    case PTAP_HOLDER_LIBVIRT:
        return "libvirt";
    case PTAP_HOLDER_PROCESS:
        return "process";
    case PTAP_HOLDER_UNSEEN:
        return "unknown";
    case PTAP_HOLDER_NONE:
    default:
        return "none";
    }
}

void ptap_holder_describe(const ptap_holder *h, char *buf, size_t len)
{
    switch (h->kind) {
    case PTAP_HOLDER_LIBVIRT:
        snprintf(buf, len, "libvirt domain '%s' (%s%s%son %s, QEMU pid %ld)", h->domain,
                 *h->uuid ? "UUID " : "", h->uuid, *h->uuid ? " " : "", h->uri, (long) h->pid);
        return;
    case PTAP_HOLDER_PROCESS:
        snprintf(buf, len, "pid %ld (%s, uid %u)", (long) h->pid, *h->command ? h->command : "?",
                 (unsigned) h->uid);
        return;
    case PTAP_HOLDER_UNSEEN:
        /* Only root reads every process's descriptors (TESTBED: fdinfo). */
        snprintf(buf, len, geteuid() == 0 ? "a process ptap cannot see (of another pid namespace?)"
                                          : "a process of another user");
        return;
    case PTAP_HOLDER_NONE:
    default:
        snprintf(buf, len, "nobody");
        return;
    }
}

void ptap_kdev_describe_holder(const char *name, const ptap_netns *ns, char *buf, size_t len)
{
    ptap_holder h;

    /* Asked of a tap known to be held: the kernel said so. */
    kdev_holder_named(name, ns, true, &h);
    ptap_holder_describe(&h, buf, len);
}

/* ---- one view per namespace ---- */

int ptap_kview_load_in(ptap_kview *kv, int fd, char *const *names, size_t n)
{
    _cleanup_(ptap_netns_leavep) int saved = -1;
    int r, r2;

    *kv = (ptap_kview) { 0 };
    r = ptap_netns_enter(fd, &saved);
    if (r < 0)
        return r;
    /* Netlink sockets belong to the namespace they are opened in. */
    r = names ? ptap_kview_load_names(kv, names, n) : ptap_kview_load(kv);
    r2 = ptap_netns_leave(&saved);
    if (r >= 0 && r2 < 0) {
        ptap_kview_clear(kv);
        r = r2;
    }
    return r;
}

static void nsview_free(ptap_nsview *v)
{
    if (!v)
        return;
    if (v->fd >= 0)
        close(v->fd);
    ptap_kview_clear(&v->kv);
    free(v);
}

void ptap_kviews_clear(ptap_kviews *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        nsview_free(w->v[i]);
    free(w->v);
    *w = (ptap_kviews) { 0 };
}

static int kviews_push(ptap_kviews *w, ptap_nsview *v)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 4;
        ptap_nsview **nv = reallocarray(w->v, cap, sizeof(*nv));

        if (!nv)
            return -ENOMEM;
        w->v = nv;
        w->cap = cap;
    }
    w->v[w->n++] = v;
    return 0;
}

/* Load @v's devices if it can be judged; a dump that fails in another
 * namespace makes its records unjudgeable, never "gone". */
static void nsview_load(ptap_kviews *w, ptap_nsview *v)
{
    int r;

    if (v->judge != PTAP_NETNS_JUDGE_HERE && v->judge != PTAP_NETNS_JUDGE_ENTER)
        return;
    r = ptap_kview_load_in(&v->kv, v->judge == PTAP_NETNS_JUDGE_ENTER ? v->fd : -1, w->names,
                           w->n_names);
    if (r < 0) {
        char what[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 32];

        ptap_nsview_describe(v, what, sizeof(what));
        ptap_debug("kview: cannot list the devices of %s: %s", what, strerror(-r));
        v->load_error = r;
        v->judge = PTAP_NETNS_JUDGE_LEAVE;
    }
}

int ptap_kviews_init(ptap_kviews *w, char *const *names, size_t n_names, ptap_error *err)
{
    _cleanup_free_ ptap_nsview *v = NULL;
    int r;

    *w = (ptap_kviews) { .names = names, .n_names = n_names };
    r = ptap_netns_self(&w->self);
    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "cannot tell this process's network namespace: %s",
                              strerror(-r));
    v = calloc(1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    *v = (ptap_nsview) { .ns = w->self, .where = PTAP_NETNS_HERE, .judge = PTAP_NETNS_JUDGE_HERE,
                         .fd = -1, .of_records = true };
    r = ptap_kview_load_in(&v->kv, -1, names, n_names);
    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "cannot list network devices: %s", strerror(-r));
    r = kviews_push(w, v);
    if (r < 0) {
        ptap_kview_clear(&v->kv);
        return r;
    }
    TAKE_PTR(v);
    return 0;
}

static ptap_nsview *kviews_find(const ptap_kviews *w, const ptap_netns *ns)
{
    if (!ptap_netns_known(ns))
        return w->v[0];
    for (size_t i = 0; i < w->n; i++)
        if (ptap_netns_equal(&w->v[i]->ns, ns))
            return w->v[i];
    return NULL;
}

ptap_nsview *ptap_kviews_get(ptap_kviews *w, const ptap_netns *ns)
{
    ptap_nsview *v = kviews_find(w, ns);

    if (v)
        return v;
    v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->ns = *ns;
    v->where = ptap_netns_locate(&v->ns, &w->self, &v->fd);
    v->judge = ptap_netns_judge_record(&v->ns, &w->self, v->where);
    nsview_load(w, v);
    if (kviews_push(w, v) < 0) {
        nsview_free(v);
        return NULL;
    }
    return v;
}

ptap_nsview *ptap_kviews_of(ptap_kviews *w, const ptap_record *rec)
{
    ptap_nsview *v = ptap_kviews_get(w, &rec->netns);

    if (v)
        v->of_records = true;
    return v;
}

/* A view of every namespace this process may enter (once). */
static void kviews_add_all(ptap_kviews *w)
{
    ptap_netns *all = NULL;
    int *fds = NULL;
    size_t n = 0;

    if (w->all)
        return;
    w->all = true;
    if (ptap_netns_list(&w->self, &all, &fds, &n) < 0)
        return; /* out of memory: fewer places to look */
    for (size_t i = 0; i < n; i++) {
        ptap_nsview *v;

        if (kviews_find(w, &all[i]))
            continue;
        v = calloc(1, sizeof(*v));
        if (!v)
            break;
        *v = (ptap_nsview) { .ns = all[i], .where = PTAP_NETNS_ENTERABLE,
                             .judge = PTAP_NETNS_JUDGE_ENTER, .fd = fds[i] };
        fds[i] = -1;
        nsview_load(w, v);
        if (kviews_push(w, v) < 0) {
            nsview_free(v);
            break;
        }
    }
    ptap_netns_list_free(all, fds, n);
}

/* Is @d the tap of @rec, by its mark (and its batch, when recorded)? */
static bool moved_is_record(const ptap_kdev *d, const char *jid, const ptap_record *rec)
{
    return ptap_kdev_is_record(d, jid, rec) && (!*rec->batch || strcmp(d->op, rec->batch) == 0);
}

const ptap_kdev *ptap_kviews_find_moved(ptap_kviews *w, const ptap_record *rec, const char *jid,
                                        ptap_nsview **where)
{
    ptap_nsview *own = kviews_find(w, &rec->netns);

    *where = NULL;
    kviews_add_all(w);
    /* By name first (a move keeps it), then by ifindex (kept too, when
     * free in the new namespace) for a tap renamed on the way. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < w->n; i++) {
            ptap_nsview *v = w->v[i];
            const ptap_kdev *d;

            if (v == own || (v->judge != PTAP_NETNS_JUDGE_HERE && v->judge != PTAP_NETNS_JUDGE_ENTER))
                continue;
            if (pass == 0)
                d = ptap_kview_find(&v->kv, rec->name);
            else if (!w->names && rec->ifindex > 0)
                d = ptap_kview_find_index(&v->kv, rec->ifindex);
            else
                d = NULL;
            if (d && moved_is_record(d, jid, rec)) {
                *where = v;
                return d;
            }
        }
    return NULL;
}

void ptap_nsview_describe(const ptap_nsview *v, char *buf, size_t len)
{
    char what[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 4];

    ptap_netns_describe(&v->ns, what, sizeof(what));
    snprintf(buf, len, "network namespace %s", what);
}

void ptap_nsview_why(const ptap_nsview *v, char *buf, size_t len)
{
    char what[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 32];

    ptap_nsview_describe(v, what, sizeof(what));
    if (v->load_error)
        snprintf(buf, len, "cannot list the devices of %s: %s", what, strerror(-v->load_error));
    else if (v->where == PTAP_NETNS_UNSEEN)
        snprintf(buf, len,
                 "it is in %s, which this process cannot find, nor tell gone: processes it "
                 "cannot see may hold it (run ptap as root, or in that namespace)", what);
    else
        snprintf(buf, len, "it is in %s, which this process cannot enter (run ptap there, or as "
                 "root)", what);
}

int ptap_nsview_enter(const ptap_nsview *v, int *saved)
{
    *saved = -1;
    if (v->judge == PTAP_NETNS_JUDGE_HERE)
        return 0;
    if (v->judge != PTAP_NETNS_JUDGE_ENTER || v->fd < 0)
        return -EPERM;
    return ptap_netns_enter(v->fd, saved);
}

/* ---- Open vSwitch ---- */

void ptap_ovsview_clear(ptap_ovsview *ov)
{
    free(ov->bridges);
    free(ov->ports);
    *ov = (ptap_ovsview) { 0 };
}

/* One line of ovs-list, checked word by word: "bridge NAME" or "port NAME
 * BRIDGE|- MARK". A line that fails is skipped (and so never acted on). */
static void ovsview_line(ptap_ovsview *ov, char *line)
{
    char *w[5], *save = NULL;
    size_t n = 0;

    for (char *t = strtok_r(line, " ", &save); t && n < 5; t = strtok_r(NULL, " ", &save))
        w[n++] = t;
    if (n == 2 && strcmp(w[0], "bridge") == 0 && ptap_ifname_check(w[1], false, NULL) == 0) {
        snprintf(ov->bridges[ov->n_bridges++], IFNAMSIZ, "%s", w[1]);
        return;
    }
    if (n == 4 && strcmp(w[0], "port") == 0 && ptap_ifname_check(w[1], false, NULL) == 0 &&
        (strcmp(w[2], "-") == 0 || ptap_ifname_check(w[2], false, NULL) == 0)) {
        ptap_ovsport *p = &ov->ports[ov->n_ports];

        if (ptap_mark_parse(w[3], &p->mark) < 0)
            return;
        snprintf(p->name, sizeof(p->name), "%s", w[1]);
        snprintf(p->bridge, sizeof(p->bridge), "%s", strcmp(w[2], "-") == 0 ? "" : w[2]);
        ov->n_ports++;
    }
}

int ptap_ovsview_load(ptap_ovsview *ov)
{
    _cleanup_(ptap_helper_result_clear) ptap_helper_result res = { 0 };
    int r;

    *ov = (ptap_ovsview) { 0 };
    r = ptap_helper_ovs_list(&res);
    if (r < 0 || res.status != 0) {
        ptap_debug("ovs: the helper cannot list Open vSwitch ports (%s): judged without",
                   r < 0 ? strerror(-r) : res.errtext);
        return 0;
    }
    ov->bridges = calloc(res.n_lines + 1, sizeof(*ov->bridges));
    ov->ports = calloc(res.n_lines + 1, sizeof(*ov->ports));
    if (!ov->bridges || !ov->ports) {
        ptap_ovsview_clear(ov);
        return -ENOMEM;
    }
    for (size_t i = 0; i < res.n_lines; i++)
        ovsview_line(ov, res.lines[i]);
    ov->known = true;
    return 0;
}

bool ptap_ovsview_is_bridge(const ptap_ovsview *ov, const char *name)
{
    for (size_t i = 0; ov && name && i < ov->n_bridges; i++)
        if (strcmp(ov->bridges[i], name) == 0)
            return true;
    return false;
}

const ptap_ovsport *ptap_ovsview_port(const ptap_ovsview *ov, const char *name)
{
    for (size_t i = 0; ov && i < ov->n_ports; i++)
        if (strcmp(ov->ports[i].name, name) == 0)
            return &ov->ports[i];
    return NULL;
}

bool ptap_ovsport_is_dev(const ptap_ovsport *p, const ptap_kdev *d)
{
    return p && d && d->marked && strcmp(p->name, d->name) == 0 &&
           (long long) (p->mark.maker == (uid_t) -1 ? -1 : (long long) p->mark.maker) == d->maker &&
           strcmp(p->mark.journal, d->journal) == 0 && strcmp(p->mark.op, d->op) == 0;
}

bool ptap_kview_maybe_ovs(const ptap_kview *kv, const char *bridge)
{
    const ptap_kdev *b;

    if (!bridge || !*bridge)
        return false;
    b = ptap_kview_find(kv, bridge);
    return b && !b->is_bridge;
}
