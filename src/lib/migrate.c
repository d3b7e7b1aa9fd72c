/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migrate.c: what travels with a libvirt guest, and the hook's side of
 * cold start, stop and live migration (see migrate.h, docs/migration.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "fault.h"
#include "kview.h"
#include "log.h"
#include "migrate.h"
#include "nic.h"
#include "pool.h"
#include "proc.h"
#include "util.h"
#include "validate.h"
#include "virt.h"
#include "vmeta.h"

#define QEMU_CONF_MAX (1u << 20)
#define STATUS_MAX (8u << 20)

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)

/* ---- the attach side ---- */

/* The recipe of @rec's tap, as another host needs it. */
static void nic_of_record(const ptap_record *rec, ptap_vmeta_nic *nic)
{
    *nic = (ptap_vmeta_nic) { 0 };
    snprintf(nic->tap, sizeof(nic->tap), "%s", rec->name);
    snprintf(nic->bridge, sizeof(nic->bridge), "%s", rec->bridge);
    snprintf(nic->network, sizeof(nic->network), "%s", rec->network);
    nic->mtu = rec->mtu;
    nic->multi_queue = rec->flags & PTAP_TAP_MULTI_QUEUE;
    nic->vnet_hdr = rec->flags & PTAP_TAP_VNET_HDR;
    nic->pool = !(rec->flags & PTAP_TAP_EPHEMERAL);
}

static int virt_error(ptap_consumer_conn *cc, ptap_error *err, int r, const char *what)
{
    const char *msg = ptap_virt_errmsg(cc->impl);

    return ptap_error_set(err, r, r == -EINVAL ? EX_USAGE : EX_UNAVAILABLE, "%s: %s", what,
                          *msg ? msg : strerror(-r));
}

int ptap_migrate_note_attach(ptap_consumer_conn *cc, const ptap_record *rec, bool vhost,
                             bool persistent, ptap_error *err)
{
    ptap_virt *v;
    ptap_vmeta_nic nic;
    ptap_nic n = PTAP_NIC_INIT;
    char what[IFNAMSIZ + PTAP_CONSUMER_TARGET_MAX + 64];
    int r;

    if (cc->kind != PTAP_CONSUMER_LIBVIRT)
        return persistent ? ptap_error_set(err, -EINVAL, EX_USAGE,
                                           "--persistent needs a libvirt domain as TARGET")
                          : 0;
    if (strcmp(cc->method, "device") != 0)
        return persistent ? ptap_error_set(err, -EINVAL, EX_USAGE,
                                           "--persistent needs the device method: libvirt does "
                                           "not know a NIC added through the monitor")
                          : 0;
    v = cc->impl;
    nic_of_record(rec, &nic);
    snprintf(what, sizeof(what), "cannot record tap '%s' in the metadata of domain '%s'",
             rec->name, cc->name);
    if (persistent) {
        r = ptap_virt_is_persistent(v);
        if (r == 0)
            return ptap_error_set(err, -EINVAL, EX_USAGE,
                                  "--persistent: domain '%s' is transient (no persistent "
                                  "definition to add the NIC to)", cc->name);
        if (r < 0)
            return virt_error(cc, err, r, what);
    }
    r = ptap_virt_metadata_put(v, PTAP_VIRT_LIVE, &nic);
    if (r < 0)
        return virt_error(cc, err, r, what);
    if (!persistent)
        return 0;
    /* The same <interface> as the live one (alias included), then the
     * recipe beside it. */
    n.tap = rec->name;
    n.device_id = rec->consumer.device_id;
    n.netdev_id = rec->consumer.netdev_id;
    n.model = rec->consumer.model;
    n.mac = rec->consumer.mac;
    n.queues = rec->consumer.queues;
    n.vhost = vhost;
    r = ptap_virt_attach_config(v, &n);
    if (r < 0) {
        (void) ptap_virt_metadata_drop(v, PTAP_VIRT_LIVE, rec->name);
        return virt_error(cc, err, r, "cannot add the NIC to the persistent definition");
    }
    r = ptap_virt_metadata_put(v, PTAP_VIRT_CONFIG, &nic);
    if (r < 0) {
        (void) ptap_virt_detach_config(v, rec->consumer.device_id);
        (void) ptap_virt_metadata_drop(v, PTAP_VIRT_LIVE, rec->name);
        return virt_error(cc, err, r, what);
    }
    return 0;
}

int ptap_migrate_note_detach(ptap_consumer_conn *cc, const ptap_record *rec)
{
    if (cc->kind != PTAP_CONSUMER_LIBVIRT || strcmp(cc->method, "device") != 0)
        return 0;
    return ptap_virt_metadata_drop(cc->impl, PTAP_VIRT_LIVE, rec->name);
}

/* ---- the hook side: the host's facts ---- */

int ptap_hook_qemu_user(const char *qemu_conf, uid_t *uid)
{
    static const char *const fallback[] = { "libvirt-qemu", "qemu" };
    _cleanup_free_ char *text = NULL;
    int r;

    r = ptap_read_file(qemu_conf ? qemu_conf : "/etc/libvirt/qemu.conf", QEMU_CONF_MAX, &text, NULL);
    if (r < 0 && r != -ENOENT)
        return r;
    for (char *line = text, *next; line && *line; line = next) {
        char *p = line, *end;
        uint32_t u;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "user", 4) != 0)
            continue;
        p += 4;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '=')
            continue;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '"' || !(end = strchr(p, '"')))
            return -EBADMSG;
        *end = '\0';
        r = ptap_virt_dac_id(p, true, &u);
        if (r < 0)
            return r;
        *uid = u;
        return 0;
    }
    /* Not set: libvirt's build default, as the distributions build it. */
    for (size_t i = 0; i < ARRAY_SIZE(fallback); i++)
        if (ptap_user_by_name(fallback[i], uid) == 0)
            return 0;
    *uid = 0;
    return 0;
}

int ptap_hook_network_bridge(const char *dir, const char *name, char bridge[IFNAMSIZ])
{
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
    _cleanup_free_ char *path = NULL, *text = NULL;
    xmlNodePtr root, net = NULL;
    size_t len;
    int r;

    if (asprintf(&path, "%s/%s.xml", dir ? dir : "/run/libvirt/network", name) < 0)
        return -ENOMEM;
    r = ptap_read_file(path, STATUS_MAX, &text, &len);
    if (r < 0)
        return r == -ENOENT ? -ENOENT : r;
    doc = xmlReadMemory(text, (int) len, path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root)
        return -EBADMSG;
    /* <networkstatus><network>...</network></networkstatus>, or a bare <network>. */
    if (xmlStrEqual(root->name, BAD_CAST "network"))
        net = root;
    for (xmlNodePtr c = root->children; c && !net; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST "network"))
            net = c;
    for (xmlNodePtr c = net ? net->children : NULL; c; c = c->next) {
        xmlChar *b;
        const char *why;

        if (c->type != XML_ELEMENT_NODE || !xmlStrEqual(c->name, BAD_CAST "bridge"))
            continue;
        b = xmlGetNoNsProp(c, BAD_CAST "name");
        if (!b)
            return -ENODATA;
        r = ptap_ifname_check((const char *) b, false, &why);
        if (r == 0)
            snprintf(bridge, IFNAMSIZ, "%s", (const char *) b);
        xmlFree(b);
        return r < 0 ? -EBADMSG : 0;
    }
    return -ENODATA;
}

static bool is_bridge(const char *name)
{
    char path[64];

    snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", name);
    return access(path, F_OK) == 0;
}

static bool dev_exists(const char *name)
{
    char path[64];

    snprintf(path, sizeof(path), "/sys/class/net/%s", name);
    return access(path, F_OK) == 0;
}

static void act(ptap_hook_result *res, const char *tap, const char *action, const char *reason)
{
    ptap_hook_action *a;

    if (!res || res->n >= ARRAY_SIZE(res->actions))
        return;
    a = &res->actions[res->n++];
    snprintf(a->tap, sizeof(a->tap), "%s", tap);
    snprintf(a->action, sizeof(a->action), "%s", action);
    snprintf(a->reason, sizeof(a->reason), "%s", reason);
}

/* Is @rec a NIC of the domain the hook is about (on the system connection)? */
static bool of_domain(const ptap_record *rec, const ptap_hook_req *req, const char *uuid)
{
    ptap_release_req rr = { .target = uuid, .uuid = uuid,
                            .uri = req->uri ? req->uri : "qemu:///system" };

    return ptap_release_matches(rec, &rr);
}

/* Every hook command's start: no results yet (@res may be NULL), the
 * domain XML parsed into @d (NULL: out of memory) and checked against what
 * the hook was told. */
static int read_domain(const ptap_hook_req *req, ptap_hook_result *res, ptap_vmeta_domain *d,
                       ptap_error *err)
{
    int r;

    if (res)
        res->n = 0;
    if (!d)
        return -ENOMEM;

    r = ptap_vmeta_domain_parse(req->xml, req->len, d, err);
    if (r < 0)
        return r;
    if (req->domain && strcmp(req->domain, d->name) != 0)
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "the domain XML is of '%s', not of '%s'", d->name, req->domain);
    if (req->uuid && strcasecmp(req->uuid, d->uuid) != 0)
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "the domain XML has UUID %s, not %s", d->uuid, req->uuid);
    return 0;
}

/* Who QEMU of @d will run as on this host. */
static int qemu_owner(const ptap_hook_req *req, const ptap_vmeta_domain *d, uid_t *uid,
                      ptap_error *err)
{
    int r;

    /* A static label is the domain's own choice, the same on every host;
     * a dynamic one is this host's qemu.conf (the XML of an incoming
     * guest carries none yet). */
    if (d->dac_static && *d->dac_label) {
        char label[sizeof(d->dac_label)], *colon;
        uint32_t u;

        snprintf(label, sizeof(label), "%s", d->dac_label);
        colon = strchr(label, ':');
        if (colon)
            *colon = '\0';
        r = ptap_virt_dac_id(label, true, &u);
        if (r < 0)
            return ptap_error_set(err, r, EX_DATAERR, "cannot resolve the DAC label '%s' of "
                                  "domain '%s': %s", d->dac_label, d->name, strerror(-r));
        *uid = u;
        return 0;
    }
    r = ptap_hook_qemu_user(req->qemu_conf, uid);
    if (r < 0)
        return ptap_error_set(err, r, EX_CONFIG, "cannot tell from '%s' which user QEMU runs as: %s",
                              req->qemu_conf ? req->qemu_conf : "/etc/libvirt/qemu.conf",
                              strerror(-r));
    return 0;
}

/* Destroy the taps of @recs (records of this journal) and close them,
 * each in its own namespace; one not ours in the kernel only has its
 * record closed. Returns 0, or the first failure (the rest is still done). */
static int destroy_records(ptap_journal *j, ptap_record *recs, size_t n, ptap_hook_result *res,
                           ptap_error *err)
{
    int ret = 0;

    for (size_t i = 0; i < n; i++) {
        _cleanup_(ptap_kviews_clear) ptap_kviews w = { 0 };
        char *names[] = { recs[i].name };
        ptap_record r = recs[i];
        ptap_nsview *v;
        const ptap_kdev *d;
        int rr;

        rr = ptap_kviews_init(&w, names, 1, err);
        v = rr < 0 ? NULL : ptap_kviews_of(&w, &r);
        if (!v) {
            ret = ret ? ret : (rr < 0 ? rr : -ENOMEM);
            continue;
        }
        d = ptap_kview_find(&v->kv, r.name);
        if (v->judge == PTAP_NETNS_JUDGE_GONE || !d || !ptap_kdev_is_record(d, ptap_journal_id(j), &r)) {
            r.state = PTAP_STATE_DESTROYED;
            rr = ptap_pool_append(j, &r, 1, err);
            if (rr < 0)
                ret = ret ? ret : rr;
            else
                act(res, r.name, "closed", "its tap was already gone");
            continue;
        }
        if (ptap_kdev_held(d)) {
            act(res, r.name, "kept", "a process still holds the tap");
            ret = ret ? ret : ptap_error_set(err, -EBUSY, EX_TEMPFAIL,
                                             "tap '%s' is still held by a process: left alone",
                                             r.name);
            continue;
        }
        ptap_destroy_batch b = { .recs = &r, .n = 1, .what = "cannot destroy tap",
                                 .kv = &v->kv, .netns = &v->ns };
        rr = ptap_pool_destroy_taps(j, &b, 0, err);
        if (rr < 0)
            ret = ret ? ret : rr;
        else
            act(res, r.name, "destroyed", "");
    }
    return ret;
}

/* ---- prepare ---- */

int ptap_hook_prepare(ptap_journal *j, const ptap_hook_req *req, ptap_hook_result *res,
                      ptap_error *err)
{
    _cleanup_free_ ptap_vmeta_domain *d = calloc(1, sizeof(*d));
    ptap_record made[PTAP_VMETA_NICS_MAX];
    size_t n_made = 0;
    char owner[16];
    uid_t uid;
    int r;

    r = read_domain(req, res, d, err);
    if (r < 0)
        return r;
    if (d->meta.n == 0)
        return 0;
    r = qemu_owner(req, d, &uid, err);
    if (r < 0)
        return r;
    snprintf(owner, sizeof(owner), "%u", (unsigned) uid);

    /* 1. Every NIC checked before anything is made. */
    for (size_t i = 0; i < d->meta.n; i++) {
        ptap_vmeta_nic *nic = &d->meta.nics[i];
        const ptap_record *p = ptap_journal_find(j, nic->tap);

        if (p && of_domain(p, req, d->uuid))
            continue; /* made at migrate begin: prepare begin follows it */
        if (p)
            return ptap_error_set(err, -EEXIST, EX_UNAVAILABLE,
                                  "cannot make tap '%s' for domain '%s': the name is taken on "
                                  "this host (a %s tap on record in '%s')", nic->tap, d->name,
                                  ptap_state_to_string(p->state), ptap_journal_path(j));
        if (dev_exists(nic->tap))
            return ptap_error_set(err, -EEXIST, EX_UNAVAILABLE,
                                  "cannot make tap '%s' for domain '%s': a device of that name "
                                  "exists on this host", nic->tap, d->name);
        if (*nic->network) {
            r = ptap_hook_network_bridge(req->network_dir, nic->network, nic->bridge);
            if (r < 0)
                return ptap_error_set(err, r, EX_UNAVAILABLE,
                                      "cannot make tap '%s' for domain '%s': libvirt network "
                                      "'%s' %s on this host", nic->tap, d->name, nic->network,
                                      r == -ENOENT    ? "is not active"
                                      : r == -ENODATA ? "has no bridge of its own"
                                                      : "has an unreadable status file");
        }
        if (*nic->bridge && !is_bridge(nic->bridge))
            return ptap_error_set(err, -ENODEV, EX_UNAVAILABLE,
                                  "cannot make tap '%s' for domain '%s': there is no bridge '%s' "
                                  "on this host", nic->tap, d->name, nic->bridge);
    }

    /* 2. Each tap through the helper (its policy and quota), made as an
     * attach makes one: ephemeral until the record names its guest, so
     * that a crash in between leaves nothing recovery keeps. */
    for (size_t i = 0; i < d->meta.n; i++) {
        ptap_vmeta_nic *nic = &d->meta.nics[i];
        const ptap_vmeta_iface *ifc = &d->iface[i];
        const ptap_nic_model *model = NULL;
        const ptap_record *p = ptap_journal_find(j, nic->tap);
        ptap_create_spec spec = { .name = nic->tap, .count = 1, .owner = owner,
                                  .bridge = *nic->bridge ? nic->bridge : NULL, .mtu = nic->mtu,
                                  .multi_queue = nic->multi_queue, .vnet_hdr = nic->vnet_hdr,
                                  .ephemeral = true };
        ptap_record rec;

        if (p && of_domain(p, req, d->uuid)) {
            act(res, nic->tap, "kept", "already made for this domain");
            continue;
        }
        r = ptap_pool_create(j, &spec, uid, (gid_t) -1, NULL, err);
        if (r < 0)
            goto undo;
        ptap_fault("hook-after-create");
        rec = *ptap_journal_find(j, nic->tap);
        made[n_made++] = rec;
        rec.consumer = (ptap_consumer) { .kind = PTAP_CONSUMER_LIBVIRT };
        snprintf(rec.consumer.target, sizeof(rec.consumer.target), "%s", d->uuid);
        snprintf(rec.consumer.name, sizeof(rec.consumer.name), "%s", d->name);
        snprintf(rec.consumer.uri, sizeof(rec.consumer.uri), "%s",
                 req->uri ? req->uri : "qemu:///system");
        snprintf(rec.consumer.method, sizeof(rec.consumer.method), "device");
        snprintf(rec.consumer.device_id, sizeof(rec.consumer.device_id), "%s", ifc->alias);
        snprintf(rec.consumer.mac, sizeof(rec.consumer.mac), "%s", ifc->mac);
        for (size_t k = 0; k < ptap_nic_model_count() && *ifc->model; k++)
            if (strcmp(ptap_nic_model_get(k)->libvirt, ifc->model) == 0)
                model = ptap_nic_model_get(k);
        if (model)
            snprintf(rec.consumer.model, sizeof(rec.consumer.model), "%s", model->name);
        if (nic->pool)
            rec.flags &= ~PTAP_TAP_EPHEMERAL;
        rec.state = PTAP_STATE_ATTACHING;
        r = ptap_pool_append(j, &rec, 1, err);
        if (r < 0)
            goto undo;
        made[n_made - 1] = rec;
        act(res, nic->tap, "created", "");
    }
    return (int) n_made;

undo:
    /* All or nothing: what this call made goes again. */
    (void) destroy_records(j, made, n_made, NULL, NULL);
    if (res)
        res->n = 0;
    return r;
}

/* ---- started ---- */

/* The pid in libvirt's pid file of the domain, confirmed by "-uuid UUID"
 * on its command line, and its start time. */
static int qemu_pid(const ptap_hook_req *req, const ptap_vmeta_domain *d, pid_t *pid,
                    uint64_t *start)
{
    _cleanup_free_ char *path = NULL;
    int r;

    if (req->pid_file)
        path = strdup(req->pid_file);
    else if (asprintf(&path, "/run/libvirt/qemu/%s.pid", d->name) < 0)
        path = NULL;
    if (!path)
        return -ENOMEM;
    r = ptap_proc_read_pid_file(path, pid);
    if (r < 0)
        return r;
    if (!ptap_proc_has_uuid(*pid, d->uuid))
        return -ESRCH;
    return ptap_proc_start_time(*pid, start);
}

int ptap_hook_started(ptap_journal *j, const ptap_hook_req *req, ptap_hook_result *res,
                      ptap_error *err)
{
    _cleanup_free_ ptap_vmeta_domain *d = calloc(1, sizeof(*d));
    ptap_record recs[PTAP_VMETA_NICS_MAX];
    size_t n = 0;
    pid_t pid = 0;
    uint64_t start = 0;
    int r;

    r = read_domain(req, res, d, err);
    if (r < 0)
        return r;
    if (d->meta.n == 0)
        return 0;
    /* QEMU's pid from libvirt's pid file: /proc alone cannot tell, since
     * during a migration between hosts of one machine both QEMUs carry the
     * domain's UUID. */
    if (qemu_pid(req, d, &pid, &start) < 0)
        pid = 0, start = 0; /* recovery then asks libvirt */
    for (size_t i = 0; i < d->meta.n; i++) {
        const ptap_record *p = ptap_journal_find(j, d->meta.nics[i].tap);

        /* An attached one too: a record kept from an earlier run of the
         * domain (its QEMU gone without a release) names the QEMU now. */
        if (!p || !of_domain(p, req, d->uuid) ||
            (p->state != PTAP_STATE_ATTACHING && p->state != PTAP_STATE_ATTACHED))
            continue;
        recs[n] = *p;
        recs[n].state = PTAP_STATE_ATTACHED;
        recs[n].consumer.pid = pid;
        recs[n].consumer.pid_start = start;
        /* libvirt names every device by now: the alias recovery asks for. */
        if (*d->iface[i].alias)
            snprintf(recs[n].consumer.device_id, sizeof(recs[n].consumer.device_id), "%s",
                     d->iface[i].alias);
        act(res, p->name, "attached", "");
        n++;
    }
    if (n == 0)
        return 0;
    r = ptap_pool_append(j, recs, n, err);
    return r < 0 ? r : (int) n;
}

/* ---- stopped ---- */

int ptap_hook_stopped(ptap_journal *j, const ptap_hook_req *req, ptap_hook_result *res,
                      ptap_error *err)
{
    _cleanup_free_ ptap_vmeta_domain *d = calloc(1, sizeof(*d));
    _cleanup_free_ ptap_record *recs = NULL;
    _cleanup_free_ char *status = NULL;
    char job[32] = "none";
    bool migrated = false;
    size_t n = 0, len = 0;
    int r;

    r = read_domain(req, res, d, err);
    if (r < 0)
        return r;
    if (req->status && ptap_read_file(req->status, STATUS_MAX, &status, &len) == 0 &&
        ptap_vmeta_status_job(status, len, job, sizeof(job)) == 0)
        migrated = strncmp(job, "migration", 9) == 0;
    ptap_debug("hook stopped '%s': libvirt's job '%s'", d->name, job);
    recs = calloc(ptap_journal_count(j) + 1, sizeof(*recs));
    if (!recs)
        return -ENOMEM;
    for (size_t i = 0; i < ptap_journal_count(j); i++) {
        const ptap_record *p = ptap_journal_get(j, i);

        if (!of_domain(p, req, d->uuid))
            continue;
        if (migrated || p->state == PTAP_STATE_ATTACHING)
            recs[n++] = *p;
    }
    if (n == 0)
        return 0;
    r = destroy_records(j, recs, n, res, err);
    return r < 0 ? r : (int) n;
}
