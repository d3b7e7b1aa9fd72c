/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nic.c: the one NIC model of ptap (see nic.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <libxml/tree.h>

#include "nic.h"
#include "util.h"
#include "validate.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlBufferPtr, xmlBufferFree)

/* The models ptap hot-adds. The first is the default. */
static const ptap_nic_model models[] = {
    { "virtio-net-pci", "virtio-net-pci", "virtio", "virtio", true },
    { "e1000", "e1000", "e1000", "e1000", false },
    { "rtl8139", "rtl8139", "rtl8139", "rtl8139", false },
};

const ptap_nic_model *ptap_nic_model_find(const char *name)
{
    if (!name)
        return &models[0];
    for (size_t i = 0; i < ARRAY_SIZE(models); i++)
        if (strcmp(name, models[i].name) == 0)
            return &models[i];
    return NULL;
}

size_t ptap_nic_model_count(void)
{
    return ARRAY_SIZE(models);
}

const ptap_nic_model *ptap_nic_model_get(size_t i)
{
    return i < ARRAY_SIZE(models) ? &models[i] : NULL;
}

/* ---- rules ---- */

/* Copy a string that has passed its check; the buffers are sized by the
 * same limits the checks enforce, so this never truncates. */
static void keep(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* An id the dialect needs (@need) or may have: well-formed when present. */
static int id_check(const char *id, bool need, const char *bad, const char *none,
                    const char **why)
{
    if (!id) {
        if (!need)
            return 0;
        *why = none;
        return -EINVAL;
    }
    if (ptap_qemu_id_check(id, why) < 0) {
        *why = bad;
        return -EINVAL;
    }
    return 0;
}

static int ids_check(const ptap_nic *nic, ptap_nic_dialect dialect, const char **why)
{
    int r;

    r = id_check(nic->netdev_id, dialect != PTAP_NIC_LIBVIRT, "invalid netdev id",
                 "no netdev id", why);
    if (r < 0)
        return r;
    r = id_check(nic->device_id, dialect != PTAP_NIC_LEGACY, "invalid device id",
                 "no device id", why);
    if (r < 0)
        return r;
    /* libvirt keeps a user's alias only with its prefix (it drops any
     * other), and ptap finds the device again by that alias. */
    if (dialect == PTAP_NIC_LIBVIRT &&
        strncmp(nic->device_id, PTAP_NIC_LIBVIRT_ALIAS_PREFIX,
                strlen(PTAP_NIC_LIBVIRT_ALIAS_PREFIX)) != 0) {
        *why = "libvirt device alias must start with \"" PTAP_NIC_LIBVIRT_ALIAS_PREFIX "\"";
        return -EINVAL;
    }
    return 0;
}

static bool dialect_valid(ptap_nic_dialect d)
{
    return d == PTAP_NIC_NEW || d == PTAP_NIC_LEGACY || d == PTAP_NIC_LIBVIRT;
}

int ptap_nic_check(ptap_nic *nic, ptap_nic_dialect dialect, const char **why)
{
    const ptap_nic_model *model;
    uint8_t mac[PTAP_MAC_LEN];
    const char *dummy;
    int r;

    if (!why)
        why = &dummy;
    if (!nic) {
        *why = "no NIC specification";
        return -EINVAL;
    }
    nic->checked = (ptap_nic_checked) { 0 };
    if (!dialect_valid(dialect)) {
        *why = "unknown dialect";
        return -EINVAL;
    }
    if (!nic->tap || ptap_ifname_check(nic->tap, false, why) < 0) {
        *why = nic->tap ? "invalid tap name" : "no tap name";
        return -EINVAL;
    }
    r = ids_check(nic, dialect, why);
    if (r < 0)
        return r;
    model = ptap_nic_model_find(nic->model);
    if (!model) {
        *why = "unknown NIC model (" PTAP_NIC_MODEL_NAMES ")";
        return -EINVAL;
    }
    if (!nic->mac || ptap_mac_parse(nic->mac, mac, why) < 0) {
        *why = nic->mac ? "invalid MAC address" : "no MAC address";
        return -EINVAL;
    }
    if (nic->queues > PTAP_NIC_MAX_QUEUES) {
        *why = "too many queues";
        return -EINVAL;
    }
    if (nic->queues > 1 && !model->virtio) {
        *why = "multiple queues need virtio-net-pci";
        return -EINVAL;
    }
    if (nic->vhost && !model->virtio) {
        *why = "vhost needs virtio-net-pci";
        return -EINVAL;
    }
    if (nic->vlan < -1 || nic->vlan > PTAP_NIC_MAX_VLAN) {
        *why = "VLAN number out of range";
        return -EINVAL;
    }
    if (dialect == PTAP_NIC_LEGACY && (nic->queues > 1 || nic->vhost)) {
        *why = "this QEMU (host_net_add/pci_add only) supports neither queues nor vhost";
        return PTAP_NIC_E_DIALECT;
    }
    if (dialect == PTAP_NIC_LEGACY && nic->bus) {
        *why = "this QEMU (host_net_add/pci_add only) takes no bus";
        return PTAP_NIC_E_DIALECT;
    }
    nic->checked.libvirt_bus = -1;
    if (nic->bus) {
        if (ptap_qemu_id_check(nic->bus, why) < 0) {
            *why = "invalid bus";
            return -EINVAL;
        }
        if (dialect == PTAP_NIC_LIBVIRT) {
            uint64_t n;

            if (strncmp(nic->bus, "pci.", 4) != 0 || ptap_parse_uint(nic->bus + 4, 1, 255, &n) < 0) {
                *why = "a libvirt bus is a PCI controller's alias, \"pci.N\" (virsh dumpxml)";
                return -EINVAL;
            }
            nic->checked.libvirt_bus = (int) n;
        }
    }

    nic->checked.dialect = dialect;
    nic->checked.model = model;
    keep(nic->checked.tap, sizeof(nic->checked.tap), nic->tap);
    keep(nic->checked.netdev_id, sizeof(nic->checked.netdev_id), nic->netdev_id);
    keep(nic->checked.device_id, sizeof(nic->checked.device_id), nic->device_id);
    ptap_mac_format(mac, nic->checked.mac);
    keep(nic->checked.bus, sizeof(nic->checked.bus), nic->bus);
    nic->checked.queues = nic->queues;
    nic->checked.vhost = nic->vhost;
    nic->checked.ok = true;
    return 0;
}

int ptap_nic_check_ids(const ptap_nic *nic, ptap_nic_dialect dialect, const char **why)
{
    const char *dummy;
    int r;

    if (!why)
        why = &dummy;
    if (!nic) {
        *why = "no NIC specification";
        return -EINVAL;
    }
    if (!dialect_valid(dialect)) {
        *why = "unknown dialect";
        return -EINVAL;
    }
    r = ids_check(nic, dialect, why);
    if (r < 0)
        return r;
    if (nic->vlan < -1 || nic->vlan > PTAP_NIC_MAX_VLAN || nic->pci_slot < -1 ||
        nic->pci_slot > PTAP_NIC_MAX_PCI_SLOT) {
        *why = "VLAN or PCI slot out of range";
        return -EINVAL;
    }
    return 0;
}

int ptap_nic_ids(ptap_nic_dialect dialect, const char *id, char device_id[PTAP_QEMU_ID_MAX],
                 char netdev_id[PTAP_QEMU_ID_MAX])
{
    const char *ua = PTAP_NIC_LIBVIRT_ALIAS_PREFIX;
    int k;

    if (!id || ptap_qemu_id_check(id, NULL) < 0 || !dialect_valid(dialect))
        return -EINVAL;
    if (dialect == PTAP_NIC_LIBVIRT) {
        /* libvirt accepts user aliases only with the "ua-" prefix; its
         * netdev for the alias is "host" + alias. */
        k = snprintf(device_id, PTAP_QEMU_ID_MAX, "%s%s",
                     strncmp(id, ua, strlen(ua)) == 0 ? "" : ua, id);
        if (k < 0 || k >= PTAP_QEMU_ID_MAX)
            return -EINVAL;
        k = snprintf(netdev_id, PTAP_QEMU_ID_MAX, "host%s", device_id);
    } else {
        k = snprintf(device_id, PTAP_QEMU_ID_MAX, "%s", id);
        if (k < 0 || k >= PTAP_QEMU_ID_MAX)
            return -EINVAL;
        k = snprintf(netdev_id, PTAP_QEMU_ID_MAX, "nd-%s", id);
    }
    if (k < 0 || k >= PTAP_QEMU_ID_MAX)
        return -EINVAL;
    if (ptap_qemu_id_check(device_id, NULL) < 0 || ptap_qemu_id_check(netdev_id, NULL) < 0)
        return -EINVAL;
    return 0;
}

int ptap_nic_mac_random(char buf[PTAP_MAC_STRLEN])
{
    uint8_t m[PTAP_MAC_LEN] = { 0x52, 0x54, 0x00 };
    ssize_t n;

    do
        n = getrandom(m + 3, 3, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return negative_errno();
    if (n != 3)
        return -EIO;
    ptap_mac_format(m, buf);
    return 0;
}

/* ---- builders ---- */

/* The validated value, if @nic was checked for @dialect. */
static const ptap_nic_checked *checked_for(const ptap_nic *nic, ptap_nic_dialect dialect)
{
    if (!nic || !nic->checked.ok || nic->checked.dialect != dialect)
        return NULL;
    return &nic->checked;
}

/* One MSI-X vector per rx and per tx queue, plus config and control. */
static unsigned mq_vectors(unsigned queues)
{
    return 2 * queues + 2;
}

static bool jadd(json_object *o, const char *key, json_object *v)
{
    if (!v)
        return false;
    if (json_object_object_add(o, key, v) < 0) {
        json_object_put(v);
        return false;
    }
    return true;
}

int ptap_nic_qmp_netdev_add(const ptap_nic *nic, json_object **ret)
{
    const ptap_nic_checked *c = checked_for(nic, PTAP_NIC_NEW);
    _cleanup_(json_object_putp) json_object *o = NULL;
    bool ok;

    if (!c)
        return -EINVAL;
    o = json_object_new_object();
    if (!o)
        return -ENOMEM;
    /* QEMU opens the tap by name; never a script, whatever the caller. */
    ok = jadd(o, "type", json_object_new_string("tap")) &&
         jadd(o, "id", json_object_new_string(c->netdev_id)) &&
         jadd(o, "ifname", json_object_new_string(c->tap)) &&
         jadd(o, "script", json_object_new_string("no")) &&
         jadd(o, "downscript", json_object_new_string("no"));
    if (ok && c->vhost)
        ok = jadd(o, "vhost", json_object_new_boolean(1));
    if (ok && c->queues > 1)
        ok = jadd(o, "queues", json_object_new_int((int) c->queues));
    if (!ok)
        return -ENOMEM;
    *ret = TAKE_PTR(o);
    return 0;
}

int ptap_nic_qmp_device_add(const ptap_nic *nic, json_object **ret)
{
    const ptap_nic_checked *c = checked_for(nic, PTAP_NIC_NEW);
    _cleanup_(json_object_putp) json_object *o = NULL;
    bool ok;

    if (!c)
        return -EINVAL;
    o = json_object_new_object();
    if (!o)
        return -ENOMEM;
    ok = jadd(o, "driver", json_object_new_string(c->model->driver)) &&
         jadd(o, "netdev", json_object_new_string(c->netdev_id)) &&
         jadd(o, "id", json_object_new_string(c->device_id)) &&
         jadd(o, "mac", json_object_new_string(c->mac));
    if (ok && *c->bus)
        ok = jadd(o, "bus", json_object_new_string(c->bus));
    if (ok && c->queues > 1)
        ok = jadd(o, "mq", json_object_new_boolean(1)) &&
             jadd(o, "vectors", json_object_new_int((int) mq_vectors(c->queues)));
    if (!ok)
        return -ENOMEM;
    *ret = TAKE_PTR(o);
    return 0;
}

/*
 * A value inside a QEMU option string ("k=v,k=v", QemuOpts, in every QEMU
 * since 0.12, old host_net_add included) ends at the first ','; a literal
 * ',' is written ",,". Interface names may contain ',' (and '='): escaped
 * so, "i,vlan=7" stays one ifname instead of becoming a second option.
 * Ids, MACs and model names are checked to contain neither.
 */
static void opt_escape(const char *s, char buf[2 * IFNAMSIZ])
{
    size_t n = 0;

    for (; *s && n + 2 < 2 * IFNAMSIZ; s++) {
        if (*s == ',')
            buf[n++] = ',';
        buf[n++] = *s;
    }
    buf[n] = '\0';
}

int ptap_nic_hmp_netdev_add(const ptap_nic *nic, char **ret)
{
    const ptap_nic_checked *c = checked_for(nic, PTAP_NIC_NEW);
    char q[32] = "", tap[2 * IFNAMSIZ];

    if (!c)
        return -EINVAL;
    if (c->queues > 1)
        snprintf(q, sizeof(q), ",queues=%u", c->queues);
    opt_escape(c->tap, tap);
    if (asprintf(ret, "netdev_add tap,id=%s,ifname=%s,script=no,downscript=no%s%s",
                 c->netdev_id, tap, c->vhost ? ",vhost=on" : "", q) < 0) {
        *ret = NULL;
        return -ENOMEM;
    }
    return 0;
}

int ptap_nic_hmp_device_add(const ptap_nic *nic, char **ret)
{
    const ptap_nic_checked *c = checked_for(nic, PTAP_NIC_NEW);
    char mq[48] = "", bus[PTAP_QEMU_ID_MAX + 8] = "";

    if (!c)
        return -EINVAL;
    if (c->queues > 1)
        snprintf(mq, sizeof(mq), ",mq=on,vectors=%u", mq_vectors(c->queues));
    if (*c->bus)
        snprintf(bus, sizeof(bus), ",bus=%s", c->bus);
    if (asprintf(ret, "device_add %s,netdev=%s,id=%s,mac=%s%s%s", c->model->driver,
                 c->netdev_id, c->device_id, c->mac, bus, mq) < 0) {
        *ret = NULL;
        return -ENOMEM;
    }
    return 0;
}

int ptap_nic_hmp_host_net_add(const ptap_nic *nic, int vlan, char **ret)
{
    const ptap_nic_checked *c = checked_for(nic, PTAP_NIC_LEGACY);
    char tap[2 * IFNAMSIZ];

    if (!c || vlan < 0 || vlan > PTAP_NIC_MAX_VLAN)
        return -EINVAL;
    opt_escape(c->tap, tap);
    if (asprintf(ret, "host_net_add tap vlan=%d,name=%s,ifname=%s,script=no,downscript=no",
                 vlan, c->netdev_id, tap) < 0) {
        *ret = NULL;
        return -ENOMEM;
    }
    return 0;
}

int ptap_nic_hmp_pci_add(const ptap_nic *nic, int vlan, char **ret)
{
    const ptap_nic_checked *c = checked_for(nic, PTAP_NIC_LEGACY);

    if (!c || vlan < 0 || vlan > PTAP_NIC_MAX_VLAN)
        return -EINVAL;
    if (asprintf(ret, "pci_add pci_addr=auto nic model=%s,macaddr=%s,vlan=%d",
                 c->model->legacy, c->mac, vlan) < 0) {
        *ret = NULL;
        return -ENOMEM;
    }
    return 0;
}

static xmlNodePtr xml_child(xmlNodePtr parent, const char *name)
{
    return parent ? xmlNewChild(parent, NULL, BAD_CAST name, NULL) : NULL;
}

static bool xml_prop(xmlNodePtr n, const char *name, const char *value)
{
    return n && xmlNewProp(n, BAD_CAST name, BAD_CAST value);
}

int ptap_nic_libvirt_xml(const ptap_nic *nic, char **ret)
{
    const ptap_nic_checked *c = checked_for(nic, PTAP_NIC_LIBVIRT);
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
    _cleanup_(xmlBufferFreep) xmlBufferPtr buf = NULL;
    xmlNodePtr iface, n;
    char q[16];
    bool ok;

    if (!c)
        return -EINVAL;
    doc = xmlNewDoc(BAD_CAST "1.0");
    iface = doc ? xmlNewDocNode(doc, NULL, BAD_CAST "interface", NULL) : NULL;
    if (!iface)
        return -ENOMEM;
    xmlDocSetRootElement(doc, iface);
    ok = xml_prop(iface, "type", "ethernet");
    /* managed='no': the tap exists (ptap made it); libvirt only opens it. */
    n = xml_child(iface, "target");
    ok = ok && xml_prop(n, "dev", c->tap) && xml_prop(n, "managed", "no");
    ok = ok && xml_prop(xml_child(iface, "mac"), "address", c->mac);
    ok = ok && xml_prop(xml_child(iface, "model"), "type", c->model->libvirt);
    if (c->vhost || c->queues > 1) {
        n = xml_child(iface, "driver");
        ok = ok && xml_prop(n, "name", c->vhost ? "vhost" : "qemu");
        if (c->queues > 1) {
            snprintf(q, sizeof(q), "%u", c->queues);
            ok = ok && xml_prop(n, "queues", q);
        }
    }
    ok = ok && xml_prop(xml_child(iface, "alias"), "name", c->device_id);
    if (c->libvirt_bus > 0) {
        /* A root port has one slot, 0; libvirt then knows the place. */
        char b[16]; /* "0x" and up to 8 hex digits */

        snprintf(b, sizeof(b), "0x%02x", (unsigned) c->libvirt_bus);
        n = xml_child(iface, "address");
        ok = ok && xml_prop(n, "type", "pci") && xml_prop(n, "domain", "0x0000") &&
             xml_prop(n, "bus", b) && xml_prop(n, "slot", "0x00") &&
             xml_prop(n, "function", "0x0");
    }
    if (!ok)
        return -ENOMEM;

    buf = xmlBufferCreate();
    if (!buf || xmlNodeDump(buf, doc, iface, 0, 0) < 0)
        return -ENOMEM;
    *ret = strdup((const char *) xmlBufferContent(buf));
    return *ret ? 0 : -ENOMEM;
}

/* ---- what QEMU says back ---- */

int ptap_nic_classify_qemu_error(const char *text)
{
    if (!text)
        return PTAP_NIC_E_QEMU;
    /* tap_open(): "could not open /dev/net/tun: REASON" — no node in
     * libvirt's private /dev (ENOENT), the device cgroup (EPERM), its mode
     * (EACCES): QEMU cannot reach tun at all. */
    if (strstr(text, "could not open /dev/net/tun"))
        return PTAP_NIC_E_NOTUN;
    /* TUNSETIFF on the named tap: "could not configure /dev/net/tun (TAP):
     * REASON" — the kernel's tun_not_capable() or a queue already taken. */
    if (strstr(text, "could not configure /dev/net/tun")) {
        if (strstr(text, "Operation not permitted") || strstr(text, "Permission denied"))
            return PTAP_NIC_E_TAPPERM;
        if (strstr(text, "Device or resource busy"))
            return PTAP_NIC_E_TAPBUSY;
    }
    return PTAP_NIC_E_QEMU;
}

bool ptap_nic_qemu_error_is_not_found(const char *klass, const char *text)
{
    if (klass && strcmp(klass, "DeviceNotFound") == 0)
        return true;
    /* QEMU >= 1.x: "Device 'X' not found" (class DeviceNotFound); 0.12's
     * host_net_remove: "can't find device X on VLAN N". */
    return text && (strstr(text, "not found") || strstr(text, "DeviceNotFound") ||
                    strstr(text, "can't find device"));
}

bool ptap_nic_qemu_error_is_duplicate(const char *text)
{
    /* QEMU: "Duplicate device ID 'X'", "Duplicate ID 'X' for netdev";
     * libvirt: "non unique alias detected: X", "... already exists". */
    return text && (strstr(text, "Duplicate") || strstr(text, "non unique alias") ||
                    strstr(text, "already exists"));
}

bool ptap_nic_qom_list_has(const char *text, const char *name)
{
    static const char child[] = " (child<";
    const char *p = text;
    size_t nl;

    if (!text || !name || !*name)
        return false;
    nl = strlen(name);
    /* "d1 (child<virtio-net-pci>)" */
    while (*p) {
        size_t len = strcspn(p, "\n");
        if (len > nl + strlen(child) && memcmp(p, name, nl) == 0 &&
            memcmp(p + nl, child, strlen(child)) == 0)
            return true;
        p += len;
        if (*p)
            p++;
    }
    return false;
}

/* One entry of a qom-list answer: its "name" and "type", both strings. */
static bool qom_entry(json_object *e, const char **name, const char **type)
{
    json_object *jn, *jt;

    if (!json_object_object_get_ex(e, "name", &jn) || !json_object_object_get_ex(e, "type", &jt))
        return false;
    *name = json_object_get_string(jn);
    *type = json_object_get_string(jt);
    return *name && *type;
}

int ptap_nic_qom_list_has_json(json_object *list, const char *name)
{
    size_t n;

    if (!json_object_is_type(list, json_type_array))
        return -EBADMSG;
    if (!name || !*name)
        return 0;
    n = json_object_array_length(list);
    for (size_t i = 0; i < n; i++) {
        const char *en, *et;

        if (!qom_entry(json_object_array_get_idx(list, i), &en, &et))
            continue;
        if (strcmp(en, name) == 0 && strncmp(et, "child<", 6) == 0)
            return 1;
    }
    return 0;
}

/* ---- PCI Express root ports (q35) ---- */

bool ptap_nic_qemu_error_is_no_hotplug(const char *text)
{
    /* QEMU >= 2.x: "Bus 'pcie.0' does not support hotplugging". */
    return text && strstr(text, "does not support hotplugging");
}

static int strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

int ptap_nic_qom_root_ports(json_object *list, char ***ret)
{
    static const char *const types[] = { "child<pcie-root-port>", "child<ioh3420>" };
    char **v;
    size_t n, k = 0;

    if (!json_object_is_type(list, json_type_array))
        return -EBADMSG;
    n = json_object_array_length(list);
    v = calloc(n + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *en, *et;

        if (!qom_entry(json_object_array_get_idx(list, i), &en, &et) ||
            ptap_qemu_id_check(en, NULL) < 0)
            continue;
        for (size_t t = 0; t < ARRAY_SIZE(types); t++)
            if (strcmp(et, types[t]) == 0) {
                v[k] = strdup(en);
                if (!v[k]) {
                    for (size_t f = 0; f < k; f++)
                        free(v[f]);
                    free(v);
                    return -ENOMEM;
                }
                k++;
                break;
            }
    }
    qsort(v, k, sizeof(*v), strcmp_p);
    *ret = v;
    return (int) k;
}

int ptap_nic_qom_bus_is_free(json_object *list)
{
    size_t n;

    if (!json_object_is_type(list, json_type_array))
        return -EBADMSG;
    n = json_object_array_length(list);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(list, i), *jn;
        const char *en;

        /* A device on the bus is a link "child[N]" of the bus object. */
        if (json_object_object_get_ex(e, "name", &jn) && (en = json_object_get_string(jn)) &&
            strncmp(en, "child[", 6) == 0)
            return 0;
    }
    return 1;
}

int ptap_nic_qom_list_from_text(const char *text, json_object **ret)
{
    _cleanup_(json_object_putp) json_object *a = json_object_new_array();
    const char *p = text ? text : "";

    if (!a)
        return -ENOMEM;
    while (*p) {
        size_t len = strcspn(p, "\r\n");
        const char *open = memchr(p, '(', len);

        /* "rp1 (child<pcie-root-port>)" */
        if (open && open > p + 1 && open[-1] == ' ' && p[len - 1] == ')') {
            json_object *e = json_object_new_object();
            char *name = strndup(p, (size_t) (open - 1 - p));
            char *type = strndup(open + 1, (size_t) (p + len - 1 - (open + 1)));
            bool ok = e && name && type && jadd(e, "name", json_object_new_string(name)) &&
                      jadd(e, "type", json_object_new_string(type));

            free(name);
            free(type);
            if (!ok || json_object_array_add(a, e) < 0) {
                json_object_put(e);
                return -ENOMEM;
            }
        }
        p += len;
        while (*p == '\r' || *p == '\n')
            p++;
    }
    *ret = TAKE_PTR(a);
    return 0;
}
