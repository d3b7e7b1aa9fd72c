/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "consumer.h"
#include "log.h"
#include "monitor.h"
#include "nic.h"
#include "proc.h"
#include "virt.h"

#define CONNECT_TIMEOUT_MS 5000

void ptap_consumer_conn_free(ptap_consumer_conn *cc)
{
    if (!cc)
        return;
    if (cc->kind == PTAP_CONSUMER_LIBVIRT)
        ptap_virt_close(cc->impl);
    else
        ptap_monitor_free(cc->impl);
    free(cc);
}

ptap_consumer_kind ptap_target_kind(const char *target, const char **path)
{
    ptap_consumer_kind kind = PTAP_CONSUMER_LIBVIRT;
    const char *p = target;

    if (strncmp(target, "qmp:", 4) == 0)
        kind = PTAP_CONSUMER_QMP;
    else if (strncmp(target, "hmp:", 4) == 0)
        kind = PTAP_CONSUMER_HMP;
    if (kind != PTAP_CONSUMER_LIBVIRT)
        p += 4;
    if (path)
        *path = p;
    return kind;
}

/* ---- libvirt ---- */

static int virt_fail(ptap_consumer_conn *cc, ptap_error *err, int r, const char *what)
{
    const char *msg = cc && cc->impl ? ptap_virt_errmsg(cc->impl) : "";
    int ex = (r == -ENOENT || r == -EHOSTDOWN || r == -ECONNREFUSED) ? EX_UNAVAILABLE
             : r == -EACCES                                           ? EX_NOPERM
             : r == -EINVAL                                           ? EX_USAGE
                                                                      : EX_OSERR;

    if (r == PTAP_NIC_E_NOSLOT)
        return ptap_error_set(err, r, EX_UNAVAILABLE,
                              "%s: %s; a q35 guest hot-plugs a NIC only onto a free "
                              "pcie-root-port: %s", what, *msg ? msg : "no free slot",
                              PTAP_NIC_ROOT_PORT_HOWTO_LIBVIRT);
    if (r == PTAP_NIC_E_NOTUN)
        return ptap_error_set(err, r, EX_UNAVAILABLE,
                              "%s: QEMU cannot open /dev/net/tun inside libvirt's private /dev "
                              "(%s); add \"/dev/net/tun\" to cgroup_device_acl in qemu.conf and "
                              "restart the guest",
                              what, *msg ? msg : "no such device");
    return ptap_error_set(err, r, ex, "%s: %s", what, *msg ? msg : ptap_virt_strerror(r));
}

static int virt_connect(const char *target, const char *uri, const char *method,
                        ptap_consumer_conn *cc, ptap_error *err)
{
    ptap_virt *v = NULL;
    char *msg = NULL;
    char what[PTAP_CONSUMER_TARGET_MAX + 64];
    int r, m = method ? ptap_virt_method_from_string(method) : PTAP_VIRT_DEVICE;

    if (m < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "unknown method '%s' (device or monitor)",
                              method);
    snprintf(cc->method, sizeof(cc->method), "%s", ptap_virt_method_to_string(m));
    r = ptap_virt_open(uri, &v, &msg);
    if (r < 0) {
        ptap_error_set(err, r, r == -EACCES ? EX_NOPERM : EX_UNAVAILABLE,
                       "cannot connect to libvirt '%s': %s", uri ? uri : ptap_virt_default_uri(),
                       msg ? msg : strerror(-r));
        free(msg);
        return r;
    }
    cc->impl = v;
    snprintf(cc->uri, sizeof(cc->uri), "%s", ptap_virt_uri(v));
    snprintf(what, sizeof(what), "domain '%s'", target);
    r = ptap_virt_lookup(v, target);
    if (r < 0)
        return virt_fail(cc, err, r, what);
    /* ptap_virt_qemu_owner() checks that the domain runs (-EHOSTDOWN): no
     * separate question to libvirt for that. */
    r = ptap_virt_qemu_owner(v, &cc->uid, &cc->gid);
    if (r == -EHOSTDOWN)
        return ptap_error_set(err, r, EX_UNAVAILABLE, "domain '%s' is not running", target);
    if (r < 0)
        return virt_fail(cc, err, r, "cannot tell which user QEMU runs as");
    snprintf(cc->target, sizeof(cc->target), "%s", ptap_virt_domain_uuid(v));
    snprintf(cc->name, sizeof(cc->name), "%s", ptap_virt_domain_name(v));
    if (ptap_virt_qemu_pid(v, &cc->pid, &cc->pid_start) < 0) {
        cc->pid = 0; /* recovery then relies on libvirt's word alone */
        cc->pid_start = 0;
    }
    return 0;
}

/* ---- QEMU monitors ---- */

static int mon_connect(const char *target, ptap_consumer_conn *cc, ptap_error *err)
{
    ptap_monitor *m = NULL;
    int r;

    r = ptap_monitor_open(target, CONNECT_TIMEOUT_MS, &m);
    if (r < 0) {
        int ex = r == -EINVAL ? EX_USAGE : EX_UNAVAILABLE;
        const char *why = r == -EPROTO ? "not a QEMU monitor of that kind"
                          : r == -EPROTONOSUPPORT
                              ? "this QEMU's monitor has neither netdev_add nor host_net_add"
                              : strerror(-r);
        return ptap_error_set(err, r, ex, "cannot connect to '%s': %s", target, why);
    }
    cc->impl = m;
    cc->kind = ptap_monitor_get_kind(m) == PTAP_MONITOR_QMP ? PTAP_CONSUMER_QMP
               : ptap_monitor_get_dialect(m) == PTAP_NIC_LEGACY ? PTAP_CONSUMER_HMP_LEGACY
                                                                  : PTAP_CONSUMER_HMP;
    snprintf(cc->target, sizeof(cc->target), "%s", target + 4);
    r = ptap_monitor_peer(m, &cc->uid, &cc->gid, &cc->pid);
    if (r < 0)
        return ptap_error_set(err, r, EX_OSERR, "cannot tell which user QEMU at '%s' runs as: %s",
                              target, strerror(-r));
    if (cc->pid > 0 && ptap_proc_start_time(cc->pid, &cc->pid_start) < 0)
        cc->pid_start = 0;
    return 0;
}

/* ---- common ---- */

int ptap_consumer_connect(const char *target, const char *uri, const char *method,
                          ptap_consumer_conn **ret, ptap_error *err)
{
    ptap_consumer_conn *cc;
    int r;

    if (!target || !*target)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "no target given");
    if (method && !*method)
        method = NULL;
    if (uri && !*uri)
        uri = NULL;
    cc = calloc(1, sizeof(*cc));
    if (!cc)
        return -ENOMEM;
    if (ptap_target_is_monitor(target)) {
        if (method && strcmp(method, "monitor") != 0) {
            free(cc);
            return ptap_error_set(err, -EINVAL, EX_USAGE,
                                  "--method %s applies to libvirt domains only", method);
        }
        r = mon_connect(target, cc, err);
    } else {
        cc->kind = PTAP_CONSUMER_LIBVIRT;
        r = virt_connect(target, uri, method, cc, err);
    }
    if (r < 0) {
        ptap_consumer_conn_free(cc);
        return r;
    }
    *ret = cc;
    return 0;
}

int ptap_consumer_connect_record(const ptap_consumer *c, ptap_consumer_conn **ret, ptap_error *err)
{
    char target[PTAP_CONSUMER_TARGET_MAX + 8];

    switch (c->kind) {
    case PTAP_CONSUMER_QMP:
        snprintf(target, sizeof(target), "qmp:%s", c->target);
        return ptap_consumer_connect(target, NULL, NULL, ret, err);
    case PTAP_CONSUMER_HMP:
    case PTAP_CONSUMER_HMP_LEGACY:
        snprintf(target, sizeof(target), "hmp:%s", c->target);
        return ptap_consumer_connect(target, NULL, NULL, ret, err);
    case PTAP_CONSUMER_LIBVIRT:
        return ptap_consumer_connect(c->target, *c->uri ? c->uri : NULL,
                                     *c->method ? c->method : NULL, ret, err);
    default:
        return -EINVAL;
    }
}

int ptap_consumer_describe(const ptap_consumer_conn *cc, ptap_consumer *out)
{
    out->kind = cc->kind;
    snprintf(out->target, sizeof(out->target), "%s", cc->target);
    snprintf(out->name, sizeof(out->name), "%s", cc->name);
    snprintf(out->uri, sizeof(out->uri), "%s", cc->uri);
    snprintf(out->method, sizeof(out->method), "%s", cc->method);
    out->pid = cc->pid;
    out->pid_start = cc->pid_start;
    return 0;
}

int ptap_consumer_ids(const ptap_consumer_conn *cc, const char *id,
                      char device_id[PTAP_QEMU_ID_MAX], char netdev_id[PTAP_QEMU_ID_MAX])
{
    if (ptap_qemu_id_check(id, NULL) < 0)
        return -EINVAL;
    if (cc->kind == PTAP_CONSUMER_LIBVIRT)
        return ptap_virt_ids(strcmp(cc->method, "monitor") == 0 ? PTAP_VIRT_MONITOR
                                                                : PTAP_VIRT_DEVICE,
                             id, device_id, netdev_id);
    return ptap_nic_ids(cc->kind == PTAP_CONSUMER_HMP_LEGACY ? PTAP_NIC_LEGACY : PTAP_NIC_NEW, id,
                        device_id, netdev_id);
}

static ptap_virt_method virt_method(const ptap_consumer *c)
{
    return strcmp(c->method, "monitor") == 0 ? PTAP_VIRT_MONITOR : PTAP_VIRT_DEVICE;
}

/* The NIC of record @c, as the monitor and libvirt rooms take it. */
static void nic_from_record(const ptap_consumer *c, ptap_nic *nic)
{
    *nic = (ptap_nic) PTAP_NIC_INIT;
    nic->netdev_id = c->netdev_id;
    nic->device_id = c->device_id;
    nic->model = c->model;
    nic->mac = c->mac;
    nic->queues = c->queues;
}

/* The id the user gave, from the recorded device id (libvirt's "ua-"). */
static const char *user_id(const ptap_consumer *c)
{
    return c->device_id;
}

int ptap_consumer_add(ptap_consumer_conn *cc, ptap_consumer *c, const char *tap, bool vhost,
                      unsigned timeout_ms, ptap_error *err)
{
    char what[PTAP_CONSUMER_TARGET_MAX + PTAP_QEMU_ID_MAX + 64];
    ptap_nic nic;
    int r;

    snprintf(what, sizeof(what), "cannot attach tap '%s' to '%s'", tap,
             *cc->name ? cc->name : cc->target);
    nic_from_record(c, &nic);
    nic.tap = tap;
    nic.vhost = vhost;
    nic.bus = *c->bus ? c->bus : NULL;
    if (cc->kind == PTAP_CONSUMER_LIBVIRT) {
        r = ptap_virt_attach(cc->impl, virt_method(c), &nic);
        if (r < 0)
            return virt_fail(cc, err, r, what);
        snprintf(c->bus, sizeof(c->bus), "%s", nic.bus_used);
        return 0;
    }

    r = ptap_monitor_nic_add(cc->impl, &nic, (int) timeout_ms);
    const char *msg = ptap_monitor_error(cc->impl);
    if (r == PTAP_NIC_E_NOSLOT)
        return ptap_error_set(err, r, EX_UNAVAILABLE, "%s: %s%s", what,
                              msg ? msg : strerror(-r),
                              nic.bus ? " (--bus must name a free pcie-root-port; without --bus "
                                        "ptap picks one)"
                                      : "");
    if (r == PTAP_NIC_E_NOTUN)
        return ptap_error_set(err, r, EX_UNAVAILABLE,
                              "%s: %s (QEMU cannot open /dev/net/tun: make it mode 0666, and under "
                              "libvirt add \"/dev/net/tun\" to cgroup_device_acl in qemu.conf)",
                              what, msg ? msg : strerror(-r));
    if (r < 0)
        return ptap_error_set(err, r,
                              r == -EINVAL || r == PTAP_NIC_E_DIALECT ? EX_USAGE
                              : r == PTAP_NIC_E_TAPPERM                ? EX_NOPERM
                                                                       : EX_OSERR,
                              "%s: %s", what, msg ? msg : strerror(-r));
    c->vlan = nic.vlan >= 0 ? (unsigned) nic.vlan : 0;
    if (nic.pci_slot >= 0)
        snprintf(c->pci_addr, sizeof(c->pci_addr), "%d", nic.pci_slot);
    snprintf(c->bus, sizeof(c->bus), "%s", nic.bus_used);
    return 0;
}

static void monitor_nic_from_record(const ptap_consumer *c, ptap_nic *nic)
{
    nic_from_record(c, nic);
    if (c->kind == PTAP_CONSUMER_HMP_LEGACY) {
        nic->vlan = (int) c->vlan;
        uint64_t slot;
        nic->pci_slot = ptap_parse_uint(c->pci_addr, 0, PTAP_NIC_MAX_PCI_SLOT, &slot) == 0
                            ? (int) slot
                            : -1;
    }
}

int ptap_consumer_remove(ptap_consumer_conn *cc, const ptap_consumer *c, unsigned timeout_ms,
                         ptap_error *err)
{
    char what[PTAP_CONSUMER_TARGET_MAX + PTAP_QEMU_ID_MAX + 64];
    int r;

    snprintf(what, sizeof(what), "cannot detach '%s' from '%s'", c->device_id,
             *cc->name ? cc->name : cc->target);
    if (cc->kind == PTAP_CONSUMER_LIBVIRT) {
        r = ptap_virt_detach(cc->impl, virt_method(c), user_id(c), timeout_ms);
        if (r == -ENODEV)
            return r;
        return r < 0 ? virt_fail(cc, err, r, what) : 0;
    }
    ptap_nic nic;
    monitor_nic_from_record(c, &nic);
    r = ptap_monitor_nic_remove(cc->impl, &nic, (int) timeout_ms);
    if (r < 0) {
        const char *msg = ptap_monitor_error(cc->impl);
        return ptap_error_set(err, r, EX_OSERR, "%s: %s", what, msg ? msg : strerror(-r));
    }
    return 0;
}

int ptap_consumer_netdev_cleanup(ptap_consumer_conn *cc, const ptap_consumer *c)
{
    if (cc->kind == PTAP_CONSUMER_LIBVIRT)
        return virt_method(c) == PTAP_VIRT_MONITOR ? ptap_virt_netdev_remove(cc->impl, user_id(c))
                                                   : 0;
    ptap_nic nic;
    monitor_nic_from_record(c, &nic);
    /* Parts already gone count as removed: this removes a lone netdev. */
    return ptap_monitor_nic_remove(cc->impl, &nic, 5000);
}

int ptap_consumer_has(ptap_consumer_conn *cc, const ptap_consumer *c)
{
    if (cc->kind == PTAP_CONSUMER_LIBVIRT)
        return ptap_virt_has_device(cc->impl, virt_method(c), user_id(c));
    ptap_nic nic;
    bool dev = false;
    int r;

    monitor_nic_from_record(c, &nic);
    r = ptap_monitor_nic_present(cc->impl, &nic, &dev, NULL, 5000);
    return r < 0 ? r : dev;
}
