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
#include "nic.h"
#include "qmp.h"
#include "util.h"

struct ptap_monitor {
    ptap_monitor_kind kind;
    ptap_nic_dialect dialect;
    ptap_qmp *qmp;
    ptap_hmp *hmp;
    char version[64];
    char *error;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)

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

ptap_nic_dialect ptap_monitor_get_dialect(const ptap_monitor *m)
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

/* ---- reading QEMU's answers ---- */

int ptap_monitor_parse_pci_add(const char *reply, int *slot)
{
    unsigned dom, bus, sl, fn;
    int n = -1;

    if (!reply)
        return PTAP_NIC_E_QEMU;
    if (sscanf(reply, "OK domain %u, bus %u, slot %u, function %u%n", &dom, &bus, &sl, &fn, &n) != 4 ||
        n < 0 || reply[n] != '\0' || sl > PTAP_NIC_MAX_PCI_SLOT)
        return PTAP_NIC_E_QEMU;
    *slot = (int) sl;
    return 0;
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
    bool used[PTAP_NIC_MAX_VLAN + 1] = { false };
    const char *p = text;

    while (p && *p) {
        unsigned v;
        size_t len = strcspn(p, "\n");
        /* 0.12: "VLAN 0 devices:"; later: "hub 0" / "vlan 0" */
        if ((sscanf(p, "VLAN %u devices:", &v) == 1 || sscanf(p, "hub %u", &v) == 1 ||
             sscanf(p, "vlan %u", &v) == 1) && v <= PTAP_NIC_MAX_VLAN)
            used[v] = true;
        p += len;
        if (*p)
            p++;
    }
    for (int v = 0; v <= PTAP_NIC_MAX_VLAN; v++)
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
        m->dialect = PTAP_NIC_NEW;
    } else {
        r = ptap_hmp_command(m->hmp, "help host_net_add", &b, left);
        if (r < 0)
            return r;
        if (!strstr(b, "host_net_add") || strstr(b, "unknown command"))
            return -EPROTONOSUPPORT;
        m->dialect = PTAP_NIC_LEGACY;
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
        m->dialect = PTAP_NIC_NEW;
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
               m->dialect == PTAP_NIC_NEW ? "netdev_add" : "legacy host_net_add");
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
        r = ptap_nic_classify_qemu_error(reply);
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
        return ptap_nic_classify_qemu_error(desc);
    }
    if (r < 0)
        set_error(m, "%s '%s' failed: %s", cmd, id, strerror(-r));
    return r;
}

/* Did QEMU's last QMP error say the device/netdev does not exist? */
static bool qmp_not_found(const ptap_monitor *m)
{
    return ptap_nic_qemu_error_is_not_found(ptap_qmp_error_class(m->qmp),
                                            ptap_qmp_error_desc(m->qmp));
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
        if (r < 0 && quiet_missing && qmp_not_found(m))
            r = 0;
    } else {
        _cleanup_free_ char *line = NULL, *reply = NULL;
        if (asprintf(&line, "netdev_del %s", id) < 0)
            return -ENOMEM;
        r = hmp_silent(m, line, "netdev_del", id, deadline, &reply);
        if (r < 0 && quiet_missing && ptap_nic_qemu_error_is_not_found(NULL, reply))
            r = 0;
    }
    return r;
}

/* qom-list @path as QMP's array, whichever monitor this is. */
static int qom_list(ptap_monitor *m, const char *path, json_object **ret, int64_t deadline)
{
    if (m->kind == PTAP_MONITOR_QMP) {
        _cleanup_json_ json_object *args = json_id("path", path);
        int r = qmp_step(m, "qom-list", args, path, ret, deadline);

        if (r == 0 && !*ret)
            return -EBADMSG;
        return r;
    }
    _cleanup_free_ char *line = NULL, *reply = NULL;
    int r;

    if (asprintf(&line, "qom-list %s", path) < 0)
        return -ENOMEM;
    r = ptap_hmp_command(m->hmp, line, &reply, left_ms(deadline));
    if (r < 0) {
        set_error(m, "qom-list '%s' failed: %s", path, strerror(-r));
        return r;
    }
    return ptap_nic_qom_list_from_text(reply, ret);
}

/*
 * A q35 guest's root bus takes no hot-plug: find a pcie-root-port with
 * nothing on it (its bus, named after it, has no "child[N]"). Sets @bus,
 * or returns PTAP_NIC_E_NOSLOT with a message that says how to add one.
 */
static int pick_root_port(ptap_monitor *m, char bus[PTAP_QEMU_ID_MAX], int64_t deadline)
{
    _cleanup_json_ json_object *list = NULL;
    char **ports = NULL;
    int r, n;

    r = qom_list(m, "/machine/peripheral", &list, deadline);
    if (r < 0)
        return r;
    n = ptap_nic_qom_root_ports(list, &ports);
    if (n < 0) {
        set_error(m, "qom-list /machine/peripheral: QEMU's answer is not a list");
        return n;
    }
    r = PTAP_NIC_E_NOSLOT;
    for (int i = 0; i < n && r == PTAP_NIC_E_NOSLOT; i++) {
        _cleanup_json_ json_object *b = NULL;
        char path[2 * PTAP_QEMU_ID_MAX + 32];

        snprintf(path, sizeof(path), "/machine/peripheral/%s/%s", ports[i], ports[i]);
        if (qom_list(m, path, &b, deadline) < 0)
            continue; /* a port without a bus of its id: not one to name */
        if (ptap_nic_qom_bus_is_free(b) == 1) {
            snprintf(bus, PTAP_QEMU_ID_MAX, "%s", ports[i]);
            ptap_debug("monitor: picked free root port '%s'", bus);
            r = 0;
        }
    }
    for (int i = 0; i < n; i++)
        free(ports[i]);
    free(ports);
    if (r == PTAP_NIC_E_NOSLOT)
        set_error(m, "the guest's root bus takes no hot-plug (a q35 machine) and it has no free "
                  "pcie-root-port (%d, all taken): %s", n, PTAP_NIC_ROOT_PORT_HOWTO_QEMU);
    return r;
}

/* device_add of @nic, built for the monitor's kind. */
static int device_add(ptap_monitor *m, const ptap_nic *nic, int64_t deadline)
{
    if (m->kind == PTAP_MONITOR_QMP) {
        _cleanup_json_ json_object *dev = NULL;
        int r = ptap_nic_qmp_device_add(nic, &dev);

        if (r < 0)
            return r;
        return qmp_step(m, "device_add", dev, nic->checked.device_id, NULL, deadline);
    }
    _cleanup_free_ char *line = NULL;
    int r = ptap_nic_hmp_device_add(nic, &line);

    if (r < 0)
        return r;
    return hmp_silent(m, line, "device_add", nic->checked.device_id, deadline, NULL);
}

/* device_add failed because the default bus takes no hot-plug (q35): put
 * the NIC on a free root port instead. */
static int device_add_on_root_port(ptap_monitor *m, ptap_nic *nic, int64_t deadline)
{
    char bus[PTAP_QEMU_ID_MAX];
    ptap_nic n2 = *nic;
    int r;

    r = pick_root_port(m, bus, deadline);
    if (r < 0)
        return r;
    n2.bus = bus;
    r = ptap_nic_check(&n2, m->dialect, NULL);
    if (r < 0)
        return r;
    r = device_add(m, &n2, deadline);
    if (r == 0)
        snprintf(nic->bus_used, sizeof(nic->bus_used), "%s", bus);
    return r;
}

static int new_nic_add(ptap_monitor *m, ptap_nic *nic, int64_t deadline)
{
    const char *netdev = nic->checked.netdev_id, *device = nic->checked.device_id;
    int r;

    if (m->kind == PTAP_MONITOR_QMP) {
        _cleanup_json_ json_object *nd = NULL, *dev = NULL;

        r = ptap_nic_qmp_netdev_add(nic, &nd);
        if (r < 0)
            return r;
        r = ptap_nic_qmp_device_add(nic, &dev);
        if (r < 0)
            return r;
        r = qmp_step(m, "netdev_add", nd, netdev, NULL, deadline);
        if (r < 0)
            return r;
        r = qmp_step(m, "device_add", dev, device, NULL, deadline);
        if (r < 0 && !*nic->checked.bus &&
            ptap_nic_qemu_error_is_no_hotplug(ptap_qmp_error_desc(m->qmp)))
            r = device_add_on_root_port(m, nic, deadline);
    } else {
        _cleanup_free_ char *l1 = NULL, *l2 = NULL;

        r = ptap_nic_hmp_netdev_add(nic, &l1);
        if (r < 0)
            return r;
        r = ptap_nic_hmp_device_add(nic, &l2);
        if (r < 0)
            return r;
        r = hmp_silent(m, l1, "netdev_add", netdev, deadline, NULL);
        if (r < 0)
            return r;
        _cleanup_free_ char *reply = NULL;
        r = hmp_silent(m, l2, "device_add", device, deadline, &reply);
        if (r < 0 && !*nic->checked.bus && ptap_nic_qemu_error_is_no_hotplug(reply))
            r = device_add_on_root_port(m, nic, deadline);
    }
    if (r == 0 && *nic->checked.bus)
        snprintf(nic->bus_used, sizeof(nic->bus_used), "%s", nic->checked.bus);
    if (r < 0 && r != PTAP_NIC_E_NOSLOT && ptap_nic_qemu_error_is_no_hotplug(m->error))
        r = PTAP_NIC_E_NOSLOT; /* --bus named a bus that takes no hot-plug */
    if (r < 0) {
        /* Roll back the netdev, keeping device_add's message for the caller. */
        _cleanup_free_ char *msg = m->error ? strdup(m->error) : NULL;
        int k = netdev_del(m, netdev, ptap_monsock_deadline(5000), true);
        if (k < 0)
            ptap_debug("monitor: rolling back netdev '%s' failed too: %s", netdev,
                       strna(m->error));
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
        r = ptap_nic_qom_list_has_json(list, id);
        if (r < 0) {
            set_error(m, "qom-list failed: QEMU's answer is not a list");
            return r;
        }
        *present = r > 0;
        return 0;
    }
    _cleanup_free_ char *reply = NULL;
    int r = ptap_hmp_command(m->hmp, "qom-list /machine/peripheral", &reply, left_ms(deadline));
    if (r < 0) {
        set_error(m, "qom-list failed: %s", strerror(-r));
        return r;
    }
    *present = ptap_nic_qom_list_has(reply, id);
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

static int new_nic_remove(ptap_monitor *m, const ptap_nic *nic, int64_t deadline)
{
    const char *id = nic->device_id;
    bool gone = false, present;
    int r;

    if (m->kind == PTAP_MONITOR_QMP) {
        _cleanup_json_ json_object *args = json_id("id", id);
        r = qmp_step(m, "device_del", args, id, NULL, deadline);
        if (r < 0 && qmp_not_found(m)) {
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
        if (r < 0 && ptap_nic_qemu_error_is_not_found(NULL, reply))
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
    return netdev_del(m, nic->netdev_id, deadline, true);
}

/* ---- legacy dialect ---- */

static int legacy_nic_add(ptap_monitor *m, ptap_nic *nic, int64_t deadline)
{
    _cleanup_free_ char *l1 = NULL, *l2 = NULL, *reply = NULL, *net = NULL;
    const char *netdev = nic->checked.netdev_id;
    int vlan = nic->vlan, slot, r;

    if (vlan < 0) {
        r = info_network(m, &net, deadline);
        if (r < 0)
            return r;
        vlan = ptap_monitor_info_network_free_vlan(net);
        if (vlan < 0) {
            set_error(m, "no free VLAN for '%s'", netdev);
            return vlan;
        }
    }
    r = ptap_nic_hmp_host_net_add(nic, vlan, &l1);
    if (r < 0)
        return r;
    r = ptap_nic_hmp_pci_add(nic, vlan, &l2);
    if (r < 0)
        return r;
    r = hmp_silent(m, l1, "host_net_add", netdev, deadline, NULL);
    if (r < 0)
        return r;

    r = ptap_hmp_command(m->hmp, l2, &reply, left_ms(deadline));
    if (r < 0)
        set_error(m, "pci_add '%s' failed: %s", netdev, strerror(-r));
    else if (ptap_monitor_parse_pci_add(reply, &slot) < 0) {
        for (char *c = reply; *c; c++)
            if (*c == '\n')
                *c = ';';
        set_error(m, "pci_add '%s' failed: %s", netdev, reply[0] ? reply : "(no reply)");
        r = ptap_nic_classify_qemu_error(reply);
    }
    if (r < 0) {
        _cleanup_free_ char *msg = m->error ? strdup(m->error) : NULL, *l3 = NULL;
        if (asprintf(&l3, "host_net_remove %d %s", vlan, netdev) >= 0 &&
            hmp_silent(m, l3, "host_net_remove", netdev, ptap_monsock_deadline(5000), NULL) < 0)
            ptap_debug("monitor: rolling back '%s' failed too: %s", netdev, strna(m->error));
        free(m->error);
        m->error = TAKE_PTR(msg);
        return r;
    }
    nic->vlan = vlan;
    nic->pci_slot = slot;
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

static int legacy_nic_remove(ptap_monitor *m, const ptap_nic *nic, int64_t deadline)
{
    _cleanup_free_ char *l1 = NULL, *l2 = NULL, *reply = NULL;
    bool present = true;
    int r;

    if (nic->pci_slot < 0 || nic->pci_slot > PTAP_NIC_MAX_PCI_SLOT || nic->vlan < 0) {
        set_error(m, "cannot remove '%s': its PCI slot and VLAN are unknown", nic->netdev_id);
        return -EINVAL;
    }
    if (asprintf(&l1, "pci_del %d", nic->pci_slot) < 0 ||
        asprintf(&l2, "host_net_remove %d %s", nic->vlan, nic->netdev_id) < 0)
        return -ENOMEM;
    r = hmp_silent(m, l1, "pci_del", nic->netdev_id, deadline, &reply);
    if (r < 0 && !(reply && strstr(reply, "empty")))
        return r;
    /* pci_del only asks the guest: the slot empties when it ejects. */
    for (;;) {
        r = legacy_slot_present(m, nic->pci_slot, &present, deadline);
        if (r < 0)
            return r;
        if (!present || left_ms(deadline) == 0)
            break;
        sleep_ms(50);
    }
    if (present) {
        set_error(m, "pci_del '%s' failed: the guest did not release slot %d in time",
                  nic->netdev_id, nic->pci_slot);
        return -ETIMEDOUT;
    }
    clear_error(m);
    free(reply);
    reply = NULL;
    r = hmp_silent(m, l2, "host_net_remove", nic->netdev_id, deadline, &reply);
    if (r < 0 && ptap_nic_qemu_error_is_not_found(NULL, reply)) {
        /* Already gone (a second removal during recovery). */
        clear_error(m);
        r = 0;
    }
    return r;
}

/* ---- the interface ---- */

int ptap_monitor_nic_add(ptap_monitor *m, ptap_nic *nic, int timeout_ms)
{
    int64_t deadline = ptap_monsock_deadline(timeout_ms);
    const char *why = NULL;
    int r;

    clear_error(m);
    if (nic)
        nic->bus_used[0] = '\0';
    r = ptap_nic_check(nic, m->dialect, &why);
    if (r < 0) {
        set_error(m, "refusing to add NIC: %s", why);
        return r;
    }
    if (m->dialect == PTAP_NIC_LEGACY)
        r = legacy_nic_add(m, nic, deadline);
    else
        r = new_nic_add(m, nic, deadline);
    if (r == 0)
        clear_error(m);
    return r;
}

int ptap_monitor_nic_remove(ptap_monitor *m, const ptap_nic *nic, int timeout_ms)
{
    int64_t deadline = ptap_monsock_deadline(timeout_ms);
    const char *why = NULL;
    int r;

    clear_error(m);
    r = ptap_nic_check_ids(nic, m->dialect, &why);
    if (r < 0) {
        set_error(m, "refusing to remove NIC: %s", why);
        return r;
    }
    if (m->dialect == PTAP_NIC_LEGACY)
        r = legacy_nic_remove(m, nic, deadline);
    else
        r = new_nic_remove(m, nic, deadline);
    if (r == 0)
        clear_error(m);
    return r;
}

int ptap_monitor_nic_present(ptap_monitor *m, const ptap_nic *nic,
                             bool *device_present, bool *netdev_present, int timeout_ms)
{
    int64_t deadline = ptap_monsock_deadline(timeout_ms);
    _cleanup_free_ char *net = NULL;
    const char *why = NULL;
    bool dev = false;
    int r;

    clear_error(m);
    r = ptap_nic_check_ids(nic, m->dialect, &why);
    if (r < 0) {
        set_error(m, "refusing to look up NIC: %s", why);
        return r;
    }
    if (device_present) {
        if (m->dialect == PTAP_NIC_LEGACY)
            r = nic->pci_slot < 0 ? 0 : legacy_slot_present(m, nic->pci_slot, &dev, deadline);
        else
            r = device_present_new(m, nic->device_id, &dev, deadline);
        if (r < 0)
            return r;
        *device_present = dev;
    }
    if (netdev_present) {
        r = info_network(m, &net, deadline);
        if (r < 0)
            return r;
        *netdev_present = ptap_monitor_info_network_has(net, nic->netdev_id);
    }
    clear_error(m);
    return 0;
}
