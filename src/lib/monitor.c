/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hmp.h"
#include "log.h"
#include "monitor.h"
#include "monsock.h"
#include "qmp.h"
#include "util.h"
#include "validate.h"

struct ptap_monitor {
    ptap_monitor_kind kind;
    ptap_monitor_dialect dialect;
    ptap_qmp *qmp;
    ptap_hmp *hmp;
    char version[64];
    char *error;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)

static const struct {
    const char *model, *driver, *legacy;
} models[] = {
    { "virtio-net-pci", "virtio-net-pci", "virtio" },
    { "e1000", "e1000", "e1000" },
    { "rtl8139", "rtl8139", "rtl8139" },
};

static void clear_error(ptap_monitor *m)
{
    free(m->error);
    m->error = NULL;
}

_printf_(2, 3) static void set_error(ptap_monitor *m, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    free(m->error);
    m->error = s;
    if (s)
        ptap_debug("monitor: %s", s);
}

const char *ptap_monitor_error(const ptap_monitor *m)
{
    return m ? m->error : NULL;
}

void ptap_monitor_free(ptap_monitor *m)
{
    if (!m)
        return;
    ptap_qmp_free(m->qmp);
    ptap_hmp_free(m->hmp);
    free(m->error);
    free(m);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(ptap_monitor *, ptap_monitor_free)

ptap_monitor_kind ptap_monitor_get_kind(const ptap_monitor *m)
{
    return m->kind;
}

ptap_monitor_dialect ptap_monitor_get_dialect(const ptap_monitor *m)
{
    return m->dialect;
}

const char *ptap_monitor_version(const ptap_monitor *m)
{
    return m->version;
}

int ptap_monitor_peer(const ptap_monitor *m, uid_t *uid, gid_t *gid, pid_t *pid)
{
    if (m->kind == PTAP_MONITOR_QMP)
        return ptap_qmp_peer(m->qmp, uid, gid, pid);
    return ptap_hmp_peer(m->hmp, uid, gid, pid);
}

/* ---- validation and command building ---- */

int ptap_monitor_model_lookup(const char *model, const char **driver, const char **legacy)
{
    if (!model)
        model = "virtio-net-pci";
    for (size_t i = 0; i < ARRAY_SIZE(models); i++)
        if (strcmp(model, models[i].model) == 0) {
            if (driver)
                *driver = models[i].driver;
            if (legacy)
                *legacy = models[i].legacy;
            return 0;
        }
    return -EINVAL;
}

static bool is_virtio(const ptap_nic_spec *spec)
{
    return !spec->model || strcmp(spec->model, "virtio-net-pci") == 0;
}

int ptap_monitor_spec_check(const ptap_nic_spec *spec, ptap_monitor_dialect dialect,
                            const char **why)
{
    const char *dummy;
    uint8_t mac[PTAP_MAC_LEN];

    if (!why)
        why = &dummy;
    if (!spec) {
        *why = "no NIC specification";
        return -EINVAL;
    }
    if (!spec->tap || ptap_ifname_check(spec->tap, false, why) < 0) {
        *why = spec->tap ? "invalid tap name" : "no tap name";
        return -EINVAL;
    }
    if (!spec->netdev_id || ptap_qemu_id_check(spec->netdev_id, why) < 0) {
        *why = spec->netdev_id ? "invalid netdev id" : "no netdev id";
        return -EINVAL;
    }
    if (dialect == PTAP_DIALECT_NEW &&
        (!spec->device_id || ptap_qemu_id_check(spec->device_id, why) < 0)) {
        *why = spec->device_id ? "invalid device id" : "no device id";
        return -EINVAL;
    }
    if (ptap_monitor_model_lookup(spec->model, NULL, NULL) < 0) {
        *why = "unknown NIC model (virtio-net-pci, e1000 or rtl8139)";
        return -EINVAL;
    }
    if (!spec->mac || ptap_mac_parse(spec->mac, mac, why) < 0) {
        *why = spec->mac ? "invalid MAC address" : "no MAC address";
        return -EINVAL;
    }
    if (spec->queues > PTAP_MONITOR_MAX_QUEUES) {
        *why = "too many queues";
        return -EINVAL;
    }
    if (spec->queues > 1 && !is_virtio(spec)) {
        *why = "multiple queues need virtio-net-pci";
        return -EINVAL;
    }
    if (spec->vlan < -1 || spec->vlan > PTAP_MONITOR_MAX_VLAN) {
        *why = "VLAN number out of range";
        return -EINVAL;
    }
    if (dialect == PTAP_DIALECT_LEGACY && (spec->queues > 1 || spec->vhost)) {
        *why = "this QEMU (host_net_add/pci_add only) supports neither queues nor vhost";
        return PTAP_MONITOR_E_DIALECT;
    }
    return 0;
}

/*
 * What removing or looking up a NIC needs: only the ids (and, legacy, the
 * VLAN); the tap, model and MAC may be unknown to a recovering caller.
 */
static int ids_check(const ptap_nic_spec *spec, ptap_monitor_dialect dialect, const char **why)
{
    if (!spec) {
        *why = "no NIC specification";
        return -EINVAL;
    }
    if (!spec->netdev_id || ptap_qemu_id_check(spec->netdev_id, why) < 0) {
        *why = spec->netdev_id ? "invalid netdev id" : "no netdev id";
        return -EINVAL;
    }
    if (dialect == PTAP_DIALECT_NEW &&
        (!spec->device_id || ptap_qemu_id_check(spec->device_id, why) < 0)) {
        *why = spec->device_id ? "invalid device id" : "no device id";
        return -EINVAL;
    }
    if (spec->vlan < -1 || spec->vlan > PTAP_MONITOR_MAX_VLAN ||
        spec->pci_slot < -1 || spec->pci_slot > 31) {
        *why = "VLAN or PCI slot out of range";
        return -EINVAL;
    }
    return 0;
}

/* Normalised MAC text: the validated value, re-formatted (lower case). */
static int mac_text(const ptap_nic_spec *spec, char buf[PTAP_MAC_STRLEN])
{
    uint8_t mac[PTAP_MAC_LEN];
    int r = ptap_mac_parse(spec->mac, mac, NULL);

    if (r < 0)
        return r;
    ptap_mac_format(mac, buf);
    return 0;
}

int ptap_monitor_build_netdev_add(const ptap_nic_spec *spec, char **ret)
{
    char q[32] = "";
    int r = ptap_monitor_spec_check(spec, PTAP_DIALECT_NEW, NULL);

    if (r < 0)
        return r;
    if (spec->queues > 1)
        snprintf(q, sizeof(q), ",queues=%u", spec->queues);
    if (asprintf(ret, "netdev_add tap,id=%s,ifname=%s,script=no,downscript=no%s%s",
                 spec->netdev_id, spec->tap, spec->vhost ? ",vhost=on" : "", q) < 0)
        return -ENOMEM;
    return 0;
}

int ptap_monitor_build_device_add(const ptap_nic_spec *spec, char **ret)
{
    const char *driver;
    char mac[PTAP_MAC_STRLEN], mq[48] = "";
    int r = ptap_monitor_spec_check(spec, PTAP_DIALECT_NEW, NULL);

    if (r < 0)
        return r;
    ptap_monitor_model_lookup(spec->model, &driver, NULL);
    r = mac_text(spec, mac);
    if (r < 0)
        return r;
    /* One MSI-X vector per rx and tx queue, plus config and control. */
    if (spec->queues > 1)
        snprintf(mq, sizeof(mq), ",mq=on,vectors=%u", 2 * spec->queues + 2);
    if (asprintf(ret, "device_add %s,netdev=%s,id=%s,mac=%s%s",
                 driver, spec->netdev_id, spec->device_id, mac, mq) < 0)
        return -ENOMEM;
    return 0;
}

int ptap_monitor_build_host_net_add(const ptap_nic_spec *spec, int vlan, char **ret)
{
    int r = ptap_monitor_spec_check(spec, PTAP_DIALECT_LEGACY, NULL);

    if (r < 0)
        return r;
    if (vlan < 0 || vlan > PTAP_MONITOR_MAX_VLAN)
        return -EINVAL;
    if (asprintf(ret, "host_net_add tap vlan=%d,name=%s,ifname=%s,script=no,downscript=no",
                 vlan, spec->netdev_id, spec->tap) < 0)
        return -ENOMEM;
    return 0;
}

int ptap_monitor_build_pci_add(const ptap_nic_spec *spec, int vlan, char **ret)
{
    const char *legacy;
    char mac[PTAP_MAC_STRLEN];
    int r = ptap_monitor_spec_check(spec, PTAP_DIALECT_LEGACY, NULL);

    if (r < 0)
        return r;
    if (vlan < 0 || vlan > PTAP_MONITOR_MAX_VLAN)
        return -EINVAL;
    ptap_monitor_model_lookup(spec->model, NULL, &legacy);
    r = mac_text(spec, mac);
    if (r < 0)
        return r;
    if (asprintf(ret, "pci_add pci_addr=auto nic model=%s,macaddr=%s,vlan=%d",
                 legacy, mac, vlan) < 0)
        return -ENOMEM;
    return 0;
}

/* ---- reading QEMU's answers ---- */

int ptap_monitor_parse_pci_add(const char *reply, int *slot)
{
    unsigned dom, bus, sl, fn;
    int n = -1;

    if (!reply)
        return PTAP_MONITOR_E_QEMU;
    if (sscanf(reply, "OK domain %u, bus %u, slot %u, function %u%n", &dom, &bus, &sl, &fn, &n) != 4 ||
        n < 0 || reply[n] != '\0' || sl > 31)
        return PTAP_MONITOR_E_QEMU;
    *slot = (int) sl;
    return 0;
}

int ptap_monitor_classify_error(const char *text)
{
    if (!text)
        return PTAP_MONITOR_E_QEMU;
    if (strstr(text, "could not open /dev/net/tun"))
        return PTAP_MONITOR_E_NOTUN;
    if (strstr(text, "could not configure /dev/net/tun")) {
        if (strstr(text, "Operation not permitted") || strstr(text, "Permission denied"))
            return PTAP_MONITOR_E_TAPPERM;
        if (strstr(text, "Device or resource busy"))
            return PTAP_MONITOR_E_TAPBUSY;
    }
    return PTAP_MONITOR_E_QEMU;
}

bool ptap_monitor_is_not_found(const char *text)
{
    return text && (strstr(text, "not found") || strstr(text, "DeviceNotFound"));
}

/* Name of an "info network" line: "  NAME: ..." or " \ NAME: ...". */
static bool line_names(const char *line, size_t len, const char *name)
{
    size_t i = 0, nl = strlen(name);

    while (i < len && (line[i] == ' ' || line[i] == '\\'))
        i++;
    return len - i > nl && memcmp(line + i, name, nl) == 0 && line[i + nl] == ':';
}

bool ptap_monitor_info_network_has(const char *text, const char *name)
{
    const char *p = text;

    if (!text || !name || !*name)
        return false;
    while (*p) {
        size_t len = strcspn(p, "\n");
        if (line_names(p, len, name))
            return true;
        p += len;
        if (*p)
            p++;
    }
    return false;
}

int ptap_monitor_info_network_free_vlan(const char *text)
{
    bool used[PTAP_MONITOR_MAX_VLAN + 1] = { false };
    const char *p = text;

    while (p && *p) {
        unsigned v;
        size_t len = strcspn(p, "\n");
        /* 0.12: "VLAN 0 devices:"; later: "hub 0" / "vlan 0" */
        if ((sscanf(p, "VLAN %u devices:", &v) == 1 || sscanf(p, "hub %u", &v) == 1 ||
             sscanf(p, "vlan %u", &v) == 1) && v <= PTAP_MONITOR_MAX_VLAN)
            used[v] = true;
        p += len;
        if (*p)
            p++;
    }
    for (int v = 0; v <= PTAP_MONITOR_MAX_VLAN; v++)
        if (!used[v])
            return v;
    return -ENOSPC;
}

bool ptap_monitor_info_pci_has_slot(const char *text, int slot)
{
    const char *p = text;

    while (p && *p) {
        unsigned bus, dev, fn;
        size_t len = strcspn(p, "\n");
        if (sscanf(p, " Bus %u, device %u, function %u:", &bus, &dev, &fn) == 3 &&
            bus == 0 && (int) dev == slot)
            return true;
        p += len;
        if (*p)
            p++;
    }
    return false;
}

bool ptap_monitor_qom_list_has(const char *text, const char *name)
{
    const char *p = text;
    size_t nl;

    if (!text || !name || !*name)
        return false;
    nl = strlen(name);
    /* "d1 (child<virtio-net-pci>)" */
    while (*p) {
        size_t len = strcspn(p, "\n");
        if (len > nl + 8 && memcmp(p, name, nl) == 0 && memcmp(p + nl, " (child<", 8) == 0)
            return true;
        p += len;
        if (*p)
            p++;
    }
    return false;
}

/* ---- opening ---- */

static int hmp_detect(ptap_monitor *m, int64_t deadline)
{
    _cleanup_free_ char *a = NULL, *b = NULL, *v = NULL;
    int left, r;

    left = deadline < 0 ? -1 : (int) (deadline - ptap_now_ms());
    if (deadline >= 0 && left < 0)
        left = 0;
    /* QEMU 0.12 prints nothing for help on an unknown command, later
     * versions "unknown command: ..."; either way only a QEMU that has the
     * command names it in its help text. */
    r = ptap_hmp_command(m->hmp, "help netdev_add", &a, left);
    if (r < 0)
        return r;
    if (strstr(a, "netdev_add") && !strstr(a, "unknown command")) {
        m->dialect = PTAP_DIALECT_NEW;
    } else {
        r = ptap_hmp_command(m->hmp, "help host_net_add", &b, left);
        if (r < 0)
            return r;
        if (!strstr(b, "host_net_add") || strstr(b, "unknown command"))
            return -EPROTONOSUPPORT;
        m->dialect = PTAP_DIALECT_LEGACY;
    }
    r = ptap_hmp_command(m->hmp, "info version", &v, left);
    if (r == 0 && v[0] && !strstr(v, "unknown command")) {
        size_t n = strspn(v, "0123456789.");
        snprintf(m->version, sizeof(m->version), "%.*s", (int) n, v);
    }
    return 0;
}

int ptap_monitor_open(const char *target, int timeout_ms, ptap_monitor **ret)
{
    _cleanup_(ptap_monitor_freep) ptap_monitor *m = NULL;
    int64_t deadline = ptap_monsock_deadline(timeout_ms);
    int r;

    if (!target)
        return -EINVAL;
    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    if (strncmp(target, "qmp:", 4) == 0) {
        m->kind = PTAP_MONITOR_QMP;
        m->dialect = PTAP_DIALECT_NEW;
        r = ptap_qmp_connect(target + 4, timeout_ms, &m->qmp);
        if (r < 0)
            return r;
        snprintf(m->version, sizeof(m->version), "%s", ptap_qmp_version(m->qmp));
    } else if (strncmp(target, "hmp:", 4) == 0) {
        m->kind = PTAP_MONITOR_HMP;
        r = ptap_hmp_connect(target + 4, timeout_ms, &m->hmp);
        if (r < 0)
            return r;
        r = hmp_detect(m, deadline);
        if (r < 0)
            return r;
    } else {
        return -EINVAL;
    }
    ptap_debug("monitor: %s, QEMU %s, %s dialect", target, m->version[0] ? m->version : "?",
               m->dialect == PTAP_DIALECT_NEW ? "netdev_add" : "legacy host_net_add");
    *ret = TAKE_PTR(m);
    return 0;
}

/* ---- running one step ---- */

static int left_ms(int64_t deadline)
{
    int64_t l;

    if (deadline < 0)
        return -1;
    l = deadline - ptap_now_ms();
    return l < 0 ? 0 : (int) l;
}

/*
 * Run an HMP line whose success is silence. On a non-empty reply: error
 * "@step '@id' failed: REPLY" and the classified code.
 */
static int hmp_silent(ptap_monitor *m, const char *line, const char *step, const char *id,
                      int64_t deadline, char **ret_reply)
{
    _cleanup_free_ char *reply = NULL;
    int r = ptap_hmp_command(m->hmp, line, &reply, left_ms(deadline));

    if (r < 0) {
        set_error(m, "%s '%s' failed: %s", step, id, strerror(-r));
        return r;
    }
    if (reply[0]) {
        /* QEMU >= 2.x prefixes HMP errors with "Error: "; QMP's desc has none. */
        if (strncmp(reply, "Error: ", 7) == 0)
            memmove(reply, reply + 7, strlen(reply + 7) + 1);
        /* Several lines (0.12: the tap's own line, then "adding host
         * network device tap failed"): quote them on one line. */
        for (char *c = reply; *c; c++)
            if (*c == '\n')
                *c = ';';
        set_error(m, "%s '%s' failed: %s", step, id, reply);
        r = ptap_monitor_classify_error(reply);
        if (ret_reply)
            *ret_reply = TAKE_PTR(reply);
        return r;
    }
    return 0;
}

static int qmp_step(ptap_monitor *m, const char *cmd, json_object *args, const char *id,
                    json_object **reply, int64_t deadline)
{
    int r = ptap_qmp_execute(m->qmp, cmd, args, reply, left_ms(deadline));

    if (r == -EREMOTEIO) {
        const char *desc = ptap_qmp_error_desc(m->qmp);
        set_error(m, "%s '%s' failed: %s", cmd, id, strna(desc));
        return ptap_monitor_classify_error(desc);
    }
    if (r < 0)
        set_error(m, "%s '%s' failed: %s", cmd, id, strerror(-r));
    return r;
}

static json_object *json_id(const char *key, const char *id)
{
    json_object *o = json_object_new_object();

    if (o)
        json_object_object_add(o, key, json_object_new_string(id));
    return o;
}

/* ---- new dialect ---- */

static int netdev_del(ptap_monitor *m, const char *id, int64_t deadline, bool quiet_missing)
{
    int r;

    if (m->kind == PTAP_MONITOR_QMP) {
        _cleanup_json_ json_object *args = json_id("id", id);
        r = qmp_step(m, "netdev_del", args, id, NULL, deadline);
        if (r < 0 && quiet_missing && ptap_monitor_is_not_found(ptap_qmp_error_desc(m->qmp)))
            r = 0;
    } else {
        _cleanup_free_ char *line = NULL, *reply = NULL;
        if (asprintf(&line, "netdev_del %s", id) < 0)
            return -ENOMEM;
        r = hmp_silent(m, line, "netdev_del", id, deadline, &reply);
        if (r < 0 && quiet_missing && ptap_monitor_is_not_found(reply))
            r = 0;
    }
    return r;
}

static int new_nic_add(ptap_monitor *m, const ptap_nic_spec *spec, int64_t deadline)
{
    int r;

    if (m->kind == PTAP_MONITOR_QMP) {
        _cleanup_json_ json_object *nd = json_object_new_object(), *dev = json_object_new_object();
        const char *driver;
        char mac[PTAP_MAC_STRLEN];

        if (!nd || !dev)
            return -ENOMEM;
        ptap_monitor_model_lookup(spec->model, &driver, NULL);
        r = mac_text(spec, mac);
        if (r < 0)
            return r;
        json_object_object_add(nd, "type", json_object_new_string("tap"));
        json_object_object_add(nd, "id", json_object_new_string(spec->netdev_id));
        json_object_object_add(nd, "ifname", json_object_new_string(spec->tap));
        json_object_object_add(nd, "script", json_object_new_string("no"));
        json_object_object_add(nd, "downscript", json_object_new_string("no"));
        if (spec->vhost)
            json_object_object_add(nd, "vhost", json_object_new_boolean(1));
        if (spec->queues > 1)
            json_object_object_add(nd, "queues", json_object_new_int((int) spec->queues));

        json_object_object_add(dev, "driver", json_object_new_string(driver));
        json_object_object_add(dev, "netdev", json_object_new_string(spec->netdev_id));
        json_object_object_add(dev, "id", json_object_new_string(spec->device_id));
        json_object_object_add(dev, "mac", json_object_new_string(mac));
        if (spec->queues > 1) {
            json_object_object_add(dev, "mq", json_object_new_boolean(1));
            json_object_object_add(dev, "vectors", json_object_new_int((int) (2 * spec->queues + 2)));
        }

        r = qmp_step(m, "netdev_add", nd, spec->netdev_id, NULL, deadline);
        if (r < 0)
            return r;
        r = qmp_step(m, "device_add", dev, spec->device_id, NULL, deadline);
    } else {
        _cleanup_free_ char *l1 = NULL, *l2 = NULL;

        r = ptap_monitor_build_netdev_add(spec, &l1);
        if (r < 0)
            return r;
        r = ptap_monitor_build_device_add(spec, &l2);
        if (r < 0)
            return r;
        r = hmp_silent(m, l1, "netdev_add", spec->netdev_id, deadline, NULL);
        if (r < 0)
            return r;
        r = hmp_silent(m, l2, "device_add", spec->device_id, deadline, NULL);
    }
    if (r < 0) {
        /* Roll back the netdev, keeping device_add's message for the caller. */
        _cleanup_free_ char *msg = m->error ? strdup(m->error) : NULL;
        int k = netdev_del(m, spec->netdev_id, ptap_monsock_deadline(5000), true);
        if (k < 0)
            ptap_debug("monitor: rolling back netdev '%s' failed too: %s",
                       spec->netdev_id, strna(m->error));
        free(m->error);
        m->error = TAKE_PTR(msg);
        return r;
    }
    return 0;
}

static int device_present_new(ptap_monitor *m, const char *id, bool *present, int64_t deadline)
{
    if (m->kind == PTAP_MONITOR_QMP) {
        _cleanup_json_ json_object *args = json_id("path", "/machine/peripheral"), *list = NULL;
        int r = qmp_step(m, "qom-list", args, "/machine/peripheral", &list, deadline);
        if (r < 0)
            return r;
        *present = false;
        size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(list, i), *name;
            if (json_object_object_get_ex(e, "name", &name) &&
                strcmp(json_object_get_string(name), id) == 0)
                *present = true;
        }
        return 0;
    }
    _cleanup_free_ char *reply = NULL;
    int r = ptap_hmp_command(m->hmp, "qom-list /machine/peripheral", &reply, left_ms(deadline));
    if (r < 0) {
        set_error(m, "qom-list failed: %s", strerror(-r));
        return r;
    }
    *present = ptap_monitor_qom_list_has(reply, id);
    return 0;
}

static int info_network(ptap_monitor *m, char **ret, int64_t deadline)
{
    int r;

    if (m->kind == PTAP_MONITOR_QMP) {
        /* QMP has no query for netdevs: ask HMP's "info network" through it. */
        _cleanup_json_ json_object *args = json_id("command-line", "info network"), *out = NULL;
        r = qmp_step(m, "human-monitor-command", args, "info network", &out, deadline);
        if (r < 0)
            return r;
        *ret = strdup(json_object_get_string(out) ? json_object_get_string(out) : "");
        if (!*ret)
            return -ENOMEM;
        /* Same text as HMP's, with "\r\n" line ends. */
        for (char *c = *ret; *c; c++)
            if (*c == '\r')
                *c = ' ';
        return 0;
    }
    r = ptap_hmp_command(m->hmp, "info network", ret, left_ms(deadline));
    if (r < 0)
        set_error(m, "info network failed: %s", strerror(-r));
    return r;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int new_nic_remove(ptap_monitor *m, const ptap_nic_spec *spec, int64_t deadline)
{
    const char *id = spec->device_id;
    bool gone = false, present;
    int r;

    if (m->kind == PTAP_MONITOR_QMP) {
        _cleanup_json_ json_object *args = json_id("id", id);
        r = qmp_step(m, "device_del", args, id, NULL, deadline);
        if (r < 0 && ptap_monitor_is_not_found(ptap_qmp_error_desc(m->qmp))) {
            ptap_debug("monitor: device '%s' already gone", id);
            gone = true;
        } else if (r < 0) {
            return r;
        }
        if (!gone) {
            r = ptap_qmp_wait_event(m->qmp, "DEVICE_DELETED", id, left_ms(deadline), NULL);
            if (r == 0)
                gone = true;
            else if (r != -ETIMEDOUT) {
                set_error(m, "device_del '%s' failed: %s", id, strerror(-r));
                return r;
            }
        }
    } else {
        _cleanup_free_ char *line = NULL, *reply = NULL;
        if (asprintf(&line, "device_del %s", id) < 0)
            return -ENOMEM;
        r = hmp_silent(m, line, "device_del", id, deadline, &reply);
        if (r < 0 && ptap_monitor_is_not_found(reply))
            gone = true;
        else if (r < 0)
            return r;
        /* No events on HMP: poll until the guest has released it. */
        while (!gone) {
            r = device_present_new(m, id, &present, deadline);
            if (r < 0)
                return r;
            if (!present) {
                gone = true;
                break;
            }
            if (left_ms(deadline) == 0)
                break;
            sleep_ms(50);
        }
    }
    if (!gone) {
        /* The event may have been missed (another client): ask once more. */
        r = device_present_new(m, id, &present, ptap_monsock_deadline(2000));
        if (r < 0 || present) {
            set_error(m, "device_del '%s' failed: the guest did not release the device in time", id);
            return -ETIMEDOUT;
        }
    }
    clear_error(m);
    return netdev_del(m, spec->netdev_id, deadline, true);
}

/* ---- legacy dialect ---- */

static int legacy_nic_add(ptap_monitor *m, ptap_nic_spec *spec, int64_t deadline)
{
    _cleanup_free_ char *l1 = NULL, *l2 = NULL, *reply = NULL, *net = NULL;
    int vlan = spec->vlan, slot, r;

    if (vlan < 0) {
        r = info_network(m, &net, deadline);
        if (r < 0)
            return r;
        vlan = ptap_monitor_info_network_free_vlan(net);
        if (vlan < 0) {
            set_error(m, "no free VLAN for '%s'", spec->netdev_id);
            return vlan;
        }
    }
    r = ptap_monitor_build_host_net_add(spec, vlan, &l1);
    if (r < 0)
        return r;
    r = ptap_monitor_build_pci_add(spec, vlan, &l2);
    if (r < 0)
        return r;
    r = hmp_silent(m, l1, "host_net_add", spec->netdev_id, deadline, NULL);
    if (r < 0)
        return r;

    r = ptap_hmp_command(m->hmp, l2, &reply, left_ms(deadline));
    if (r < 0)
        set_error(m, "pci_add '%s' failed: %s", spec->netdev_id, strerror(-r));
    else if (ptap_monitor_parse_pci_add(reply, &slot) < 0) {
        for (char *c = reply; *c; c++)
            if (*c == '\n')
                *c = ';';
        set_error(m, "pci_add '%s' failed: %s", spec->netdev_id, reply[0] ? reply : "(no reply)");
        r = ptap_monitor_classify_error(reply);
    }
    if (r < 0) {
        _cleanup_free_ char *msg = m->error ? strdup(m->error) : NULL, *l3 = NULL;
        if (asprintf(&l3, "host_net_remove %d %s", vlan, spec->netdev_id) >= 0 &&
            hmp_silent(m, l3, "host_net_remove", spec->netdev_id, ptap_monsock_deadline(5000), NULL) < 0)
            ptap_debug("monitor: rolling back '%s' failed too: %s", spec->netdev_id, strna(m->error));
        free(m->error);
        m->error = TAKE_PTR(msg);
        return r;
    }
    spec->vlan = vlan;
    spec->pci_slot = slot;
    return 0;
}

static int legacy_slot_present(ptap_monitor *m, int slot, bool *present, int64_t deadline)
{
    _cleanup_free_ char *reply = NULL;
    int r = ptap_hmp_command(m->hmp, "info pci", &reply, left_ms(deadline));

    if (r < 0) {
        set_error(m, "info pci failed: %s", strerror(-r));
        return r;
    }
    *present = ptap_monitor_info_pci_has_slot(reply, slot);
    return 0;
}

static int legacy_nic_remove(ptap_monitor *m, const ptap_nic_spec *spec, int64_t deadline)
{
    _cleanup_free_ char *l1 = NULL, *l2 = NULL, *reply = NULL;
    bool present = true;
    int r;

    if (spec->pci_slot < 0 || spec->pci_slot > 31 || spec->vlan < 0) {
        set_error(m, "cannot remove '%s': its PCI slot and VLAN are unknown", spec->netdev_id);
        return -EINVAL;
    }
    if (asprintf(&l1, "pci_del %d", spec->pci_slot) < 0 ||
        asprintf(&l2, "host_net_remove %d %s", spec->vlan, spec->netdev_id) < 0)
        return -ENOMEM;
    r = hmp_silent(m, l1, "pci_del", spec->netdev_id, deadline, &reply);
    if (r < 0 && !(reply && strstr(reply, "empty")))
        return r;
    /* pci_del only asks the guest: the slot empties when it ejects. */
    for (;;) {
        r = legacy_slot_present(m, spec->pci_slot, &present, deadline);
        if (r < 0)
            return r;
        if (!present || left_ms(deadline) == 0)
            break;
        sleep_ms(50);
    }
    if (present) {
        set_error(m, "pci_del '%s' failed: the guest did not release slot %d in time",
                  spec->netdev_id, spec->pci_slot);
        return -ETIMEDOUT;
    }
    clear_error(m);
    free(reply);
    reply = NULL;
    r = hmp_silent(m, l2, "host_net_remove", spec->netdev_id, deadline, &reply);
    if (r < 0 && reply && (strstr(reply, "can't find device") || strstr(reply, "not found"))) {
        /* Already gone (a second removal during recovery). */
        clear_error(m);
        r = 0;
    }
    return r;
}

/* ---- the interface ---- */

int ptap_monitor_nic_add(ptap_monitor *m, ptap_nic_spec *spec, int timeout_ms)
{
    int64_t deadline = ptap_monsock_deadline(timeout_ms);
    const char *why = NULL;
    int r;

    clear_error(m);
    r = ptap_monitor_spec_check(spec, m->dialect, &why);
    if (r < 0) {
        set_error(m, "refusing to add NIC: %s", why);
        return r;
    }
    if (m->dialect == PTAP_DIALECT_LEGACY)
        r = legacy_nic_add(m, spec, deadline);
    else
        r = new_nic_add(m, spec, deadline);
    if (r == 0)
        clear_error(m);
    return r;
}

int ptap_monitor_nic_remove(ptap_monitor *m, const ptap_nic_spec *spec, int timeout_ms)
{
    int64_t deadline = ptap_monsock_deadline(timeout_ms);
    const char *why = NULL;
    int r;

    clear_error(m);
    r = ids_check(spec, m->dialect, &why);
    if (r < 0) {
        set_error(m, "refusing to remove NIC: %s", why);
        return r;
    }
    if (m->dialect == PTAP_DIALECT_LEGACY)
        r = legacy_nic_remove(m, spec, deadline);
    else
        r = new_nic_remove(m, spec, deadline);
    if (r == 0)
        clear_error(m);
    return r;
}

int ptap_monitor_nic_present(ptap_monitor *m, const ptap_nic_spec *spec,
                             bool *device_present, bool *netdev_present, int timeout_ms)
{
    int64_t deadline = ptap_monsock_deadline(timeout_ms);
    _cleanup_free_ char *net = NULL;
    const char *why = NULL;
    bool dev = false;
    int r;

    clear_error(m);
    r = ids_check(spec, m->dialect, &why);
    if (r < 0) {
        set_error(m, "refusing to look up NIC: %s", why);
        return r;
    }
    if (device_present) {
        if (m->dialect == PTAP_DIALECT_LEGACY)
            r = spec->pci_slot < 0 ? 0 : legacy_slot_present(m, spec->pci_slot, &dev, deadline);
        else
            r = device_present_new(m, spec->device_id, &dev, deadline);
        if (r < 0)
            return r;
        *device_present = dev;
    }
    if (netdev_present) {
        r = info_network(m, &net, deadline);
        if (r < 0)
            return r;
        *netdev_present = ptap_monitor_info_network_has(net, spec->netdev_id);
    }
    clear_error(m);
    return 0;
}
