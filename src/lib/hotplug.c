/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "consumer.h"
#include "fault.h"
#include "helperexec.h"
#include "hotplug.h"
#include "ovsdb.h"
#include "kview.h"
#include "log.h"
#include "migrate.h"
#include "nic.h"
#include "pool.h"
#include "probe.h"
#include "validate.h"
#include "virt.h"

#define DEFAULT_TIMEOUT_MS 10000u

/* A fresh 52:54:00:xx:xx:xx no record on this journal uses. */
static int pick_mac(ptap_journal *j, char buf[PTAP_MAC_STRLEN])
{
    for (int tries = 0; tries < 64; tries++) {
        bool used = false;
        int k = ptap_nic_mac_random(buf);

        if (k < 0)
            return k;
        for (size_t i = 0; i < ptap_journal_count(j) && !used; i++) {
            const ptap_record *r = ptap_journal_get(j, i);
            used = strcasecmp(r->consumer.mac, buf) == 0 || strcasecmp(r->mac, buf) == 0;
        }
        if (!used)
            return 0;
    }
    return -EADDRINUSE;
}


/* Can QEMU running as @uid/@gid open this tap by name? The kernel's rule
 * (tun_not_capable): owner must match if set, and group if set. */
static bool tap_suits(const ptap_record *rec, uid_t uid, gid_t gid)
{
    if (uid == 0)
        return true;
    if (rec->owner != (uid_t) -1 && rec->owner != uid)
        return false;
    if (rec->group != (gid_t) -1 && rec->group != gid)
        return false;
    return true;
}

/* Destroy the tap of @rec (state must allow it) and close its record;
 * if the helper fails, the record stays DESTROYING: recovery completes it. */
static int drop_tap(ptap_journal *j, ptap_record *rec, ptap_error *err)
{
    ptap_record r = *rec;
    /* In the tap's namespace (entered for the helper). */
    ptap_destroy_batch b = { .recs = &r, .n = 1, .what = "cannot destroy tap", .netns = &r.netns };

    return ptap_pool_destroy_taps(j, &b, 0, err);
}

/* Undo an attach that failed after its tap was chosen: a tap this call
 * created goes (its record closed), a pool tap goes back to ready. */
static int attach_rollback(ptap_journal *j, ptap_record *rec, bool fresh, bool recorded,
                           ptap_error *err, int r)
{
    memset(&rec->consumer, 0, sizeof(rec->consumer));
    rec->state = PTAP_STATE_READY;
    if (fresh)
        (void) drop_tap(j, rec, NULL);
    else if (recorded)
        (void) ptap_journal_append(j, rec, 1, NULL);
    return err && err->code ? err->code : r;
}

/* What the attach's intent record says besides the tap. */
typedef struct attach_intent_ctx {
    const ptap_consumer_conn *cc;
    const ptap_attach_req *req;
    const ptap_nic_model *model;
    const char *mac;
} attach_intent_ctx;

/* Make @rec the attach's intent (ATTACHING, its consumer named); for a
 * fresh tap, called by the create just before its outcome append
 * (ptap_pool_outcome_fn), which then writes it. */
static int attach_intent(ptap_record *rec, void *userdata, ptap_error *err)
{
    const attach_intent_ctx *c = userdata;
    const ptap_attach_req *req = c->req;
    int r;

    rec->consumer = (ptap_consumer) { 0 };
    r = ptap_consumer_describe(c->cc, &rec->consumer);
    if (r >= 0) {
        char id[PTAP_QEMU_ID_MAX];
        snprintf(id, sizeof(id), "net-%s", rec->name);
        r = ptap_consumer_ids(c->cc, req->id ? req->id : id, rec->consumer.device_id,
                              rec->consumer.netdev_id);
    }
    if (r < 0)
        return ptap_error_set(err, r, EX_USAGE, "invalid device id '%s'",
                              req->id ? req->id : rec->name);
    snprintf(rec->consumer.model, sizeof(rec->consumer.model), "%s", c->model->name);
    snprintf(rec->consumer.mac, sizeof(rec->consumer.mac), "%s", c->mac);
    rec->consumer.queues = req->queues;
    snprintf(rec->consumer.bus, sizeof(rec->consumer.bus), "%s", req->bus ? req->bus : "");
    rec->state = PTAP_STATE_ATTACHING;
    return 0;
}

/* The create of a fresh tap for @req, owned by @uid (its text in @owner). */
static void fresh_spec(const ptap_attach_req *req, const ptap_virt_network *vnet, uid_t uid,
                       const char *vm_uuid, const char *mac, char owner[16], ptap_create_spec *spec)
{
    *spec = (ptap_create_spec) { .name = "ptap%d", .count = 1,
                                 .bridge = req->network ? vnet->bridge : req->bridge,
                                 .network = req->network ? vnet->name : NULL,
                                 .mtu = req->mtu, .multi_queue = req->multi_queue || req->queues > 1,
                                 .vnet_hdr = req->vnet_hdr, .ephemeral = true };
    /* No MAC of ours for the tap: the helper gives it fe:xx:..., one
     * that its bridge can never adopt (ptap-helper(8)). */
    snprintf(owner, 16, "%u", (unsigned) uid);
    spec->owner = owner;
    /* On an Open vSwitch bridge, the port says whose it is (os-vif's
     * attached-mac and vm-uuid); a Linux bridge ignores them. */
    spec->attached_mac = mac;
    spec->vm_uuid = vm_uuid;
}

int ptap_attach(ptap_journal *j, const ptap_attach_req *req, ptap_attach_out *out,
                ptap_error *err)
{
    _cleanup_(ptap_consumer_conn_freep) ptap_consumer_conn *cc = NULL;
    const ptap_nic_model *model = ptap_nic_model_find(req->model);
    unsigned timeout = req->timeout_ms ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    ptap_record rec = { 0 };
    const char *why = NULL;
    uint8_t macb[PTAP_MAC_LEN];
    bool fresh = !req->tap;
    int r;

    *out = (ptap_attach_out) { 0 };
    /* 1. Check every input before anything is touched. */
    if (!model)
        return ptap_error_set(err, -EINVAL, EX_USAGE,
                              "unknown model '%s' (" PTAP_NIC_MODEL_NAMES ")", req->model);
    if (req->queues > PTAP_NIC_MAX_QUEUES)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid --queues %u: expected 1..%u",
                              req->queues, PTAP_NIC_MAX_QUEUES);
    if (req->queues > 1 && !model->virtio)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "--queues needs model virtio-net-pci, not '%s'",
                              model->name);
    if (req->vhost && !model->virtio)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "--vhost needs model virtio-net-pci");
    if (req->mac && ptap_mac_parse(req->mac, macb, &why) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid MAC address '%s': %s", req->mac, why);
    if (req->bus && ptap_qemu_id_check(req->bus, &why) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid bus '%s': %s", req->bus, why);
    if (req->id && ptap_qemu_id_check(req->id, &why) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid device id '%s': %s", req->id, why);
    if (req->tap && ptap_ifname_check(req->tap, false, &why) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid tap name '%s': %s", req->tap, why);
    if (req->tap && !req->id) {
        /* The device id defaults to "net-TAP"; a tap name may hold what
         * no QEMU id may (',', '=', ...): then the caller names one. */
        char id[PTAP_QEMU_ID_MAX];

        if (snprintf(id, sizeof(id), "net-%s", req->tap) >= (int) sizeof(id) ||
            ptap_qemu_id_check(id, &why) < 0)
            return ptap_error_set(err, -EINVAL, EX_USAGE,
                                  "tap name '%s' makes no QEMU device id ('net-%s': %s): give "
                                  "one with --id", req->tap, req->tap, why);
    }
    if (req->persistent && (ptap_target_is_monitor(req->target) ||
                            (req->method && strcmp(req->method, "monitor") == 0)))
        return ptap_error_set(err, -EINVAL, EX_USAGE,
                              "--persistent needs a libvirt domain and the device method");
    if (req->bridge && ptap_ifname_check(req->bridge, false, &why) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid bridge name '%s': %s", req->bridge,
                              why);
    if (req->network && req->bridge)
        return ptap_error_set(err, -EINVAL, EX_USAGE,
                              "--bridge and --network are mutually exclusive: the network names "
                              "the bridge");
    if (req->network && req->tap)
        return ptap_error_set(err, -EINVAL, EX_USAGE,
                              "--tap takes an existing tap: --network applies to a fresh one");
    if (req->network && ptap_virt_network_name_check(req->network, &why) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid network name '%s': %s",
                              req->network, why);
    if (req->tap) {
        const ptap_record *p = ptap_journal_find(j, req->tap);
        if (!p)
            return ptap_error_set(err, -ENOENT, EX_USAGE, "tap '%s' is not on record in '%s'",
                                  req->tap, ptap_journal_path(j));
        if (p->state != PTAP_STATE_READY)
            return ptap_error_set(err, -EBUSY, EX_USAGE, "tap '%s' is %s, not ready", req->tap,
                                  ptap_state_to_string(p->state));
        if (req->queues > 1 && !(p->flags & PTAP_TAP_MULTI_QUEUE))
            return ptap_error_set(err, -EINVAL, EX_USAGE,
                                  "tap '%s' is single-queue: --queues %u needs a multi-queue tap",
                                  req->tap, req->queues);
        /* The record is not enough: the tap of that name in the kernel
         * must be the one it describes (our mark, its owner), looked for
         * in its own network namespace. */
        {
            _cleanup_(ptap_kviews_clear) ptap_kviews w = { 0 };
            char *names[] = { (char *) req->tap };
            char nswhy[PTAP_NSVIEW_WHY_MAX];
            const ptap_kdev *d;
            ptap_nsview *v;

            r = ptap_kviews_init(&w, names, 1, err);
            if (r < 0)
                return r;
            v = ptap_kviews_of(&w, p);
            if (!v)
                return -ENOMEM;
            if (v->judge == PTAP_NETNS_JUDGE_LEAVE) {
                ptap_nsview_why(v, nswhy, sizeof(nswhy));
                return ptap_error_set(err, v->load_error ? v->load_error : -EPERM,
                                      v->load_error ? EX_OSERR : EX_NOPERM,
                                      "cannot attach tap '%s': %s", req->tap, nswhy);
            }
            if (v->judge == PTAP_NETNS_JUDGE_GONE) {
                ptap_nsview_describe(v, nswhy, sizeof(nswhy));
                return ptap_error_set(err, -ENODEV, EX_UNAVAILABLE,
                                      "tap '%s' is on record but its %s no longer exists "
                                      "('ptap recover' closes its record)", req->tap, nswhy);
            }
            d = ptap_kview_find(&v->kv, req->tap);
            if (!d)
                return ptap_error_set(err, -ENODEV, EX_UNAVAILABLE,
                                      "tap '%s' is on record but no longer exists%s "
                                      "('ptap recover' closes its record, or follows it to "
                                      "another network namespace)", req->tap,
                                      v->judge == PTAP_NETNS_JUDGE_ENTER ? " in its network namespace" : "");
            if (!ptap_kdev_is_record(d, ptap_journal_id(j), p))
                return ptap_error_set(err, -EPERM, EX_NOPERM,
                                      "the interface '%s' is not the tap on record: its mark or "
                                      "owner says another user made it; refusing it", req->tap);
            /* A tap serves one guest: one that libvirt (managed='no') or a
             * QEMU started by hand holds is not free to give another. */
            if (ptap_kdev_held(d)) {
                char who[PTAP_HOLDER_DESCRIBE_MAX];

                ptap_kdev_describe_holder(d->name, &v->ns, who, sizeof(who));
                return ptap_error_set(err, -EBUSY, EX_TEMPFAIL,
                                      "cannot attach tap '%s': it is in use by %s", req->tap, who);
            }
        }
        rec = *p;
    }

    /* The network's bridge, asked of libvirt before anything is touched:
     * from here on it is a bridge like --bridge's (the helper's policy
     * decides by its name). */
    ptap_virt_network vnet = { 0 };
    if (req->network) {
        r = ptap_virt_network_resolve(req->uri, req->network, &vnet, err);
        if (r < 0)
            return r;
    }

    if (req->mac)
        ptap_mac_format(macb, out->mac);
    else if ((r = pick_mac(j, out->mac)) < 0)
        return ptap_error_set(err, r, EX_OSERR, "cannot choose a MAC address: %s", strerror(-r));

    /* A fresh tap for a monitor socket: its helper starts now, for the
     * user who owns the socket (QEMU made it), and checks while the
     * monitor is asked who QEMU really is (SO_PEERCRED): if someone else,
     * the create below starts another (ptap_helper_prestart_create()). */
    struct stat mon;
    const char *mon_path;
    if (fresh && ptap_target_kind(req->target, &mon_path) != PTAP_CONSUMER_LIBVIRT &&
        stat(mon_path, &mon) == 0) {
        ptap_create_spec early;
        char owner[16];

        fresh_spec(req, &vnet, mon.st_uid, NULL, out->mac, owner, &early);
        (void) ptap_helper_prestart_create(&early);
    }

    /* 2. The target must be there and running; learn who QEMU runs as,
     * and in which network namespace: it opens the tap by name there. */
    r = ptap_consumer_connect(req->target, req->uri, req->method, &cc, err);
    if (r < 0)
        return r;
    ptap_netns qemu_ns = { 0 }, self = { 0 };
    r = ptap_netns_self(&self);
    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "cannot tell this process's network namespace: %s",
                              strerror(-r));
    if (cc->pid > 0 && ptap_netns_of_pid(cc->pid, &qemu_ns) < 0)
        qemu_ns = (ptap_netns) { 0 }; /* another user's QEMU: cannot tell, QEMU will */
    if (rec.name[0] && ptap_netns_known(&qemu_ns) &&
        !ptap_netns_equal(ptap_netns_known(&rec.netns) ? &rec.netns : &self, &qemu_ns)) {
        char a[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 4], b[sizeof(a)];

        ptap_netns_describe(ptap_netns_known(&rec.netns) ? &rec.netns : &self, a, sizeof(a));
        ptap_netns_describe(&qemu_ns, b, sizeof(b));
        return ptap_error_set(err, -EXDEV, EX_USAGE,
                              "tap '%s' is in network namespace %s, but the QEMU of '%s' (pid "
                              "%ld) runs in %s: QEMU opens a tap by name in its own namespace",
                              rec.name, a, req->target, (long) cc->pid, b);
    }
    if (rec.name[0] && !tap_suits(&rec, cc->uid, cc->gid))
        return ptap_error_set(err, -EPERM, EX_NOPERM,
                              "tap '%s' (owner %u) cannot be opened by QEMU of '%s', which runs as "
                              "uid %u gid %u",
                              rec.name, (unsigned) rec.owner, req->target, (unsigned) cc->uid,
                              (unsigned) cc->gid);
    /* 3. A fresh tap, owned by QEMU's user, through the helper. */
    attach_intent_ctx ictx = { .cc = cc, .req = req, .model = model, .mac = out->mac };
    if (fresh) {
        ptap_create_spec spec;
        char owner[16];
        char **names = NULL;

        fresh_spec(req, &vnet, cc->uid,
                   cc->kind == PTAP_CONSUMER_LIBVIRT && ptap_ovsdb_uuid_check(cc->target) ? cc->target
                                                                                          : NULL,
                   out->mac, owner, &spec);
        /* Made in QEMU's namespace (entered for the create), where QEMU
         * will look for it; the record names that namespace. */
        _cleanup_(ptap_netns_leavep) int saved = -1;
        if (ptap_netns_known(&qemu_ns) && !ptap_netns_equal(&qemu_ns, &self)) {
            _cleanup_close_ int fd = -1;
            ptap_netns where = qemu_ns;
            char what[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 4];

            ptap_netns_describe(&qemu_ns, what, sizeof(what));
            if (ptap_netns_judge_record(&qemu_ns, &self, ptap_netns_locate(&where, &self, &fd)) !=
                PTAP_NETNS_JUDGE_ENTER)
                return ptap_error_set(err, -EPERM, EX_NOPERM,
                                      "the QEMU of '%s' (pid %ld) runs in network namespace %s, "
                                      "which this process cannot enter to make its tap there "
                                      "(run ptap attach there, or as root)",
                                      req->target, (long) cc->pid, what);
            r = ptap_netns_enter(fd, &saved);
            if (r < 0)
                return ptap_error_set(err, r, EX_OSERR, "cannot enter network namespace %s: %s",
                                      what, strerror(-r));
        }
        /* The helper starts while the create's intent is written (it
         * acts on the go that follows the intent's fdatasync). */
        (void) ptap_helper_prestart_create(&spec);
        r = ptap_pool_create_with(j, &spec, cc->uid, (gid_t) -1, attach_intent, &ictx, &names,
                                  err);
        int r2 = ptap_netns_leave(&saved);
        if (r < 0)
            return r;
        if (r2 < 0) {
            ptap_strv_free(names);
            return ptap_error_set(err, r2, EX_OSERR, "cannot go back to this process's network "
                                  "namespace: %s", strerror(-r2));
        }
        rec = *ptap_journal_find(j, names[0]);
        ptap_strv_free(names);
    }
    snprintf(out->tap, sizeof(out->tap), "%s", rec.name);
    snprintf(out->network, sizeof(out->network), "%s", rec.network);
    snprintf(out->bridge, sizeof(out->bridge), "%s", rec.bridge);

    /* 4. Intent, durable before QEMU hears of it: for a fresh tap it went
     * with the create's outcome (one append); a pool tap's is its own. */
    if (!fresh) {
        r = attach_intent(&rec, &ictx, err);
        if (r < 0)
            return attach_rollback(j, &rec, fresh, false, err, r);
        r = ptap_pool_append(j, &rec, 1, err);
        if (r < 0)
            return attach_rollback(j, &rec, fresh, false, err, r);
    }
    ptap_fault("attach-after-intent");

    /* 5. QEMU opens the tap by name. */
    r = ptap_consumer_add(cc, &rec.consumer, rec.name, req->vhost, timeout, err);
    if (r < 0)
        return attach_rollback(j, &rec, fresh, true, err, r);
    ptap_fault("attach-after-device");

    /* 6. Outcome. */
    rec.state = PTAP_STATE_ATTACHED;
    r = ptap_pool_append(j, &rec, 1, err);
    if (r < 0) {
        /* The guest has it but we could not say so: undo, so journal and
         * world agree. */
        (void) ptap_consumer_remove(cc, &rec.consumer, timeout, NULL);
        return attach_rollback(j, &rec, fresh, true, err, r);
    }
    /* 7. What travels with the guest: its recipe in the domain's metadata
     * (and, with --persistent, the NIC in its persistent definition). */
    r = ptap_migrate_note_attach(cc, &rec, req->vhost, req->persistent, err);
    if (r < 0) {
        rec.state = PTAP_STATE_DETACHING;
        (void) ptap_journal_append(j, &rec, 1, NULL);
        (void) ptap_consumer_remove(cc, &rec.consumer, timeout, NULL);
        return attach_rollback(j, &rec, fresh, true, err, r);
    }
    snprintf(out->device_id, sizeof(out->device_id), "%s", rec.consumer.device_id);
    snprintf(out->netdev_id, sizeof(out->netdev_id), "%s", rec.consumer.netdev_id);
    snprintf(out->target, sizeof(out->target), "%s", rec.consumer.target);
    snprintf(out->name, sizeof(out->name), "%s", rec.consumer.name);
    snprintf(out->bus, sizeof(out->bus), "%s", rec.consumer.bus);
    /* A pool tap on an Open vSwitch bridge: its port names the guest now
     * (a fresh one was made saying so). */
    if (!fresh)
        ptap_pool_ovs_guest(&rec, rec.consumer.mac,
                            cc->kind == PTAP_CONSUMER_LIBVIRT && ptap_ovsdb_uuid_check(cc->target)
                                ? cc->target
                                : NULL);
    return 0;
}

static bool record_on_target(const ptap_record *rec, const char *target)
{
    const ptap_consumer *k = &rec->consumer;
    const char *t = target;

    if (k->kind == PTAP_CONSUMER_NONE)
        return false;
    ptap_target_kind(target, &t);
    return strcmp(k->target, t) == 0 || strcmp(k->name, t) == 0;
}

int ptap_detach(ptap_journal *j, const ptap_detach_req *req, ptap_attach_out *out,
                ptap_error *err)
{
    _cleanup_(ptap_consumer_conn_freep) ptap_consumer_conn *cc = NULL;
    unsigned timeout = req->timeout_ms ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    const ptap_record *found = NULL;
    ptap_record rec;
    int r;

    *out = (ptap_attach_out) { 0 };
    for (size_t i = 0; i < ptap_journal_count(j); i++) {
        const ptap_record *p = ptap_journal_get(j, i);

        if (p->state != PTAP_STATE_ATTACHED || !record_on_target(p, req->target))
            continue;
        if ((req->tap && strcmp(p->name, req->tap) == 0) ||
            (req->id && (strcmp(p->consumer.device_id, req->id) == 0 ||
                         (strncmp(p->consumer.device_id, "ua-", 3) == 0 &&
                          strcmp(p->consumer.device_id + 3, req->id) == 0))) ||
            (req->mac && strcasecmp(p->consumer.mac, req->mac) == 0)) {
            found = p;
            break;
        }
    }
    if (!found)
        return ptap_error_set(err, -ENOENT, EX_USAGE, "no NIC %s '%s' is attached to '%s' on record",
                              req->tap ? "with tap" : req->id ? "with id" : "with MAC",
                              req->tap ? req->tap : req->id ? req->id : req->mac, req->target);
    rec = *found;

    /* The tap is destroyed in its own namespace: refuse before the guest
     * is touched when this process may not go there. */
    if (!req->keep_tap && ptap_netns_known(&rec.netns)) {
        _cleanup_close_ int fd = -1;
        ptap_netns self, where = rec.netns;
        char what[PTAP_NETNS_ID_MAX + PTAP_NETNS_NAME_MAX + 4];

        r = ptap_netns_self(&self);
        if (r < 0)
            return ptap_error_set(err, r, EX_OSERR,
                                  "cannot tell this process's network namespace: %s", strerror(-r));
        if (ptap_netns_judge_record(&rec.netns, &self, ptap_netns_locate(&where, &self, &fd)) ==
            PTAP_NETNS_JUDGE_LEAVE) {
            ptap_netns_describe(&where, what, sizeof(what));
            return ptap_error_set(err, -EPERM, EX_NOPERM,
                                  "cannot detach the NIC on tap '%s': the tap is in network "
                                  "namespace %s, which this process cannot enter to destroy it "
                                  "(run ptap there, or as root; --keep-tap keeps the tap)",
                                  rec.name, what);
        }
    }

    /* Is the guest still there? A dead guest took its NIC with it. */
    ptap_probe pr = ptap_probe_consumer(&rec);
    if (pr != PTAP_PROBE_GONE) {
        r = ptap_consumer_connect(req->target, req->uri ? req->uri : (*rec.consumer.uri ? rec.consumer.uri : NULL),
                                  rec.consumer.method, &cc, err);
        if (r < 0)
            return r;
    }

    rec.state = PTAP_STATE_DETACHING;
    if (req->keep_tap)
        rec.flags |= PTAP_TAP_KEEP;
    r = ptap_pool_append(j, &rec, 1, err);
    if (r < 0)
        return r;
    ptap_fault("detach-after-intent");

    if (cc) {
        r = ptap_consumer_remove(cc, &rec.consumer, timeout, err);
        if (r < 0 && r != -ENODEV) {
            /* The guest still has the NIC: back to attached. */
            rec.state = PTAP_STATE_ATTACHED;
            rec.flags &= ~PTAP_TAP_KEEP;
            (void) ptap_journal_append(j, &rec, 1, NULL);
            return r;
        }
        if (err)
            *err = (ptap_error) { 0 };
        (void) ptap_migrate_note_detach(cc, &rec); /* best effort: the NIC is gone */
    }
    ptap_fault("detach-after-device");

    snprintf(out->tap, sizeof(out->tap), "%s", rec.name);
    snprintf(out->mac, sizeof(out->mac), "%s", rec.consumer.mac);
    snprintf(out->device_id, sizeof(out->device_id), "%s", rec.consumer.device_id);
    snprintf(out->netdev_id, sizeof(out->netdev_id), "%s", rec.consumer.netdev_id);
    snprintf(out->target, sizeof(out->target), "%s", rec.consumer.target);
    snprintf(out->name, sizeof(out->name), "%s", rec.consumer.name);
    if (req->keep_tap) {
        rec.state = PTAP_STATE_READY;
        rec.flags &= ~(PTAP_TAP_KEEP | PTAP_TAP_EPHEMERAL);
        memset(&rec.consumer, 0, sizeof(rec.consumer));
        r = ptap_pool_append(j, &rec, 1, err);
        out->kept = r >= 0;
        if (r >= 0)
            ptap_pool_ovs_guest(&rec, NULL, NULL); /* back in the pool: no guest */
        return r < 0 ? r : 0;
    }
    return drop_tap(j, &rec, err);
}
