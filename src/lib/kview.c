/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kview.h"
#include "link.h"
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

int ptap_kview_load(ptap_kview *kv)
{
    ptap_link_info *links = NULL;
    size_t n = 0;
    int r;

    *kv = (ptap_kview) { 0 };
    r = ptap_link_dump(&links, &n);
    if (r < 0)
        return r;
    kv->devs = calloc(n ? n : 1, sizeof(*kv->devs));
    if (!kv->devs) {
        ptap_link_info_free(links);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        kdev_from_link(&kv->devs[i], &links[i]);
    kv->n = n;
    ptap_link_info_free(links);
    /* Sorted by name: list and recover look up every record. */
    qsort(kv->devs, kv->n, sizeof(*kv->devs), cmp_name);
    return 0;
}

int ptap_kview_load_names(ptap_kview *kv, char *const *names, size_t n)
{
    ptap_link_ctx *c = NULL;
    int r;

    if (n > PTAP_KVIEW_NAMES_MAX)
        return ptap_kview_load(kv);
    *kv = (ptap_kview) { 0 };
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

    if (!name || strlen(name) >= sizeof(key.name))
        return NULL;
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

void ptap_kdev_describe_holder(const char *name, char *buf, size_t len)
{
    _cleanup_free_ ptap_proc_holder *h = NULL;
    const ptap_proc_holder *p;
    size_t n = 0;

    if (ptap_proc_tap_holders(&h, &n) == 0 && (p = ptap_proc_holder_find(h, n, name))) {
        snprintf(buf, len, "pid %ld (%s, uid %u)", (long) p->pid, *p->comm ? p->comm : "?",
                 (unsigned) p->uid);
        return;
    }
    snprintf(buf, len, "a process this user cannot see");
}
