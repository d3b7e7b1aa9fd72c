/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * virt.c: the libvirt room of libptap (see virt.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include "virtdl.h" /* libvirt, loaded on first use */
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "log.h"
#include "nic.h"
#include "proc.h"
#include "util.h"
#include "validate.h"
#include "virt.h"
#include "vmeta.h"

#define VIRT_ERR_MAX 1024
#define VIRT_TICK_MS 50

struct ptap_virt {
    virConnectPtr conn;
    virDomainPtr dom;
    char *uri;       /* canonical URI (virConnectGetURI) */
    bool session;    /* a per-user (qemu:///session) daemon */
    char *name;      /* selected domain's name */
    char uuid[PTAP_VIRT_UUID_STRLEN];
    char err[VIRT_ERR_MAX];
    /* What the live XML read for the DAC label also said (one question to
     * libvirt, not three): the domain ran then (its id), and ptap's live
     * metadata, until this connection writes it. */
    bool seen_running;
    bool meta_live_known;  /* meta_live says it: NULL = the domain has none */
    ptap_vmeta *meta_live;
};

/* Forget what the live XML said of ptap's metadata: libvirt is asked next. */
static void meta_live_forget(ptap_virt *v)
{
    v->meta_live_known = false;
    free(v->meta_live);
    v->meta_live = NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)
DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

static inline void xmlFreep(xmlChar **p)
{
    if (*p)
        xmlFree(*p);
}

/* ---- process-wide set-up -------------------------------------------------- */

static pthread_once_t virt_once = PTHREAD_ONCE_INIT;
static int virt_init_result;

/* libvirt prints every error to stderr unless a handler is installed;
 * libptap never prints, the caller gets the text through ptap_virt_errmsg. */
static void virt_silent_error(void *userdata, virErrorPtr error)
{
    (void) userdata;
    (void) error;
}

static void virt_init(void)
{
    virSetErrorFunc(NULL, virt_silent_error);
    if (virInitialize() < 0) {
        virt_init_result = -EIO;
        return;
    }
    /* Must precede the first connection: the remote driver registers its
     * socket with the event loop at open time, or events never arrive. */
    if (virEventRegisterDefaultImpl() < 0)
        virt_init_result = -EIO;
}

/* ---- errors ----------------------------------------------------------------- */

static int virt_fail(ptap_virt *v, int r, const char *fmt, ...) _printf_(3, 4);
static int virt_fail(ptap_virt *v, int r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(v->err, sizeof(v->err), fmt, ap);
    va_end(ap);
    ptap_debug("virt: %s", v->err);
    return r;
}

/* Translate libvirt's last error into a negative code; @fallback when
 * nothing more precise fits. */
static int virt_last_code(int fallback)
{
    virErrorPtr e = virGetLastError();
    int r;

    if (!e)
        return fallback;
    /* QEMU's own words, passed on by libvirt. */
    r = ptap_nic_classify_qemu_error(e->message);
    if (r != PTAP_NIC_E_QEMU)
        return r;
    /* libvirt 9.0 reports a detach of an unknown alias as an internal error. */
    if (e->message && strstr(e->message, "no device found with alias"))
        return -ENODEV;
    switch (e->code) {
    case VIR_ERR_NO_DOMAIN:
    case VIR_ERR_NO_NETWORK:
        return -ENOENT;
    case VIR_ERR_AUTH_FAILED:
    case VIR_ERR_AUTH_CANCELLED:
    case VIR_ERR_ACCESS_DENIED:
        return -EACCES;
    case VIR_ERR_DEVICE_MISSING:
        return -ENODEV;
    case VIR_ERR_OPERATION_TIMEOUT:
        return -ETIMEDOUT;
    case VIR_ERR_NO_SUPPORT:
    case VIR_ERR_ARGUMENT_UNSUPPORTED:
        return -EOPNOTSUPP;
    default:
        if (ptap_nic_qemu_error_is_duplicate(e->message))
            return -EEXIST;
        return fallback;
    }
}

/* Record "CONTEXT: libvirt's message" and return the mapped code. */
static int virt_fail_libvirt(ptap_virt *v, int fallback, const char *fmt, ...) _printf_(3, 4);
static int virt_fail_libvirt(ptap_virt *v, int fallback, const char *fmt, ...)
{
    char ctx[VIRT_ERR_MAX / 2];
    va_list ap;
    int r = virt_last_code(fallback);

    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    return virt_fail(v, r, "%s: %s", ctx, virGetLastErrorMessage());
}

const char *ptap_virt_strerror(int r)
{
    if (r == PTAP_NIC_E_NOTUN)
        return "QEMU cannot open /dev/net/tun inside libvirt's private /dev "
               "(add \"/dev/net/tun\" to cgroup_device_acl in qemu.conf)";
    return strerror(r < 0 ? -r : r);
}

const char *ptap_virt_errmsg(const ptap_virt *v)
{
    return v ? v->err : "";
}

/* ---- connection and domain -------------------------------------------------- */

const char *ptap_virt_default_uri(void)
{
    const char *env = getenv("LIBVIRT_DEFAULT_URI");

    if (env && *env)
        return env;
    return geteuid() == 0 ? "qemu:///system" : "qemu:///session";
}

int ptap_virt_open(const char *uri, ptap_virt **ret, char **errmsg)
{
    _cleanup_free_ ptap_virt *v = NULL;
    int r;

    if (errmsg)
        *errmsg = NULL;
    const char *dlerr = NULL;
    r = ptap_virtdl_load(&dlerr);
    if (r < 0) {
        if (errmsg && asprintf(errmsg, "cannot load libvirt: %s", dlerr) < 0)
            *errmsg = NULL;
        return -ECONNREFUSED;
    }
    pthread_once(&virt_once, virt_init);
    if (!uri || !*uri)
        uri = ptap_virt_default_uri();
    if (virt_init_result < 0) {
        if (errmsg && asprintf(errmsg, "cannot initialise libvirt: %s",
                               virGetLastErrorMessage()) < 0)
            *errmsg = NULL;
        return virt_init_result;
    }

    v = calloc(1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    v->conn = virConnectOpen(uri);
    if (!v->conn) {
        r = virt_last_code(-ECONNREFUSED);
        if (r != -EACCES)
            r = -ECONNREFUSED;
        if (errmsg && asprintf(errmsg, "cannot connect to '%s': %s", uri,
                               virGetLastErrorMessage()) < 0)
            *errmsg = NULL;
        return r;
    }
    virConnSetErrorFunc(v->conn, NULL, virt_silent_error);
    v->uri = virConnectGetURI(v->conn);
    if (!v->uri)
        v->uri = strdup(uri);
    if (!v->uri) {
        virConnectClose(v->conn);
        return -ENOMEM;
    }
    v->session = strstr(v->uri, "/session") != NULL;
    ptap_debug("virt: connected to '%s'", v->uri);
    *ret = TAKE_PTR(v);
    return 0;
}

static void virt_drop_domain(ptap_virt *v)
{
    if (v->dom)
        virDomainFree(v->dom);
    v->dom = NULL;
    v->seen_running = false;
    meta_live_forget(v);
    free(v->name);
    v->name = NULL;
    v->uuid[0] = '\0';
}

void ptap_virt_close(ptap_virt *v)
{
    if (!v)
        return;
    virt_drop_domain(v);
    if (v->conn)
        virConnectClose(v->conn);
    free(v->uri);
    free(v);
}

const char *ptap_virt_uri(const ptap_virt *v)
{
    return v->uri;
}

int ptap_virt_lookup(ptap_virt *v, const char *name_or_uuid)
{
    virDomainPtr dom = NULL;
    const char *name;

    virt_drop_domain(v);
    v->err[0] = '\0';
    if (!name_or_uuid || !*name_or_uuid)
        return virt_fail(v, -EINVAL, "empty domain name");

    if (ptap_is_uuid(name_or_uuid))
        dom = virDomainLookupByUUIDString(v->conn, name_or_uuid);
    if (!dom)
        dom = virDomainLookupByName(v->conn, name_or_uuid);
    if (!dom)
        return virt_fail_libvirt(v, -EIO, "cannot find domain '%s'", name_or_uuid);

    name = virDomainGetName(dom);
    if (!name || virDomainGetUUIDString(dom, v->uuid) < 0) {
        virDomainFree(dom);
        return virt_fail_libvirt(v, -EIO, "cannot read domain '%s'", name_or_uuid);
    }
    v->name = strdup(name);
    if (!v->name) {
        virDomainFree(dom);
        return -ENOMEM;
    }
    v->dom = dom;
    return 0;
}

const char *ptap_virt_domain_name(const ptap_virt *v)
{
    return v->dom ? v->name : NULL;
}

const char *ptap_virt_domain_uuid(const ptap_virt *v)
{
    return v->dom ? v->uuid : NULL;
}

int ptap_virt_is_running(ptap_virt *v)
{
    int r;

    if (!v->dom)
        return virt_fail(v, -ENOENT, "no domain selected");
    r = virDomainIsActive(v->dom);
    if (r < 0)
        return virt_fail_libvirt(v, -EIO, "cannot query domain '%s'", v->name);
    return r > 0;
}

/* 0 if the selected domain runs, -EHOSTDOWN (with a message) if not. */
static int virt_require_running(ptap_virt *v)
{
    int r = ptap_virt_is_running(v);

    if (r < 0)
        return r;
    if (r == 0)
        return virt_fail(v, -EHOSTDOWN, "domain '%s' is not running", v->name);
    return 0;
}

/* virt_require_running(), answered by the live XML this connection read
 * (the DAC label's) when it said the domain runs: an attach asks libvirt
 * once. A domain that stopped since makes the next operation fail, and
 * virt_recheck() then asks again and says so (-EHOSTDOWN). */
static int virt_require_running_seen(ptap_virt *v)
{
    if (v->dom && v->seen_running)
        return 0;
    return virt_require_running(v);
}

/* After a failed operation: blame a domain that stopped meanwhile. */
static int virt_recheck(ptap_virt *v, int r)
{
    char saved[VIRT_ERR_MAX];
    int running;

    if (r == -ENOENT || r == -EHOSTDOWN)
        return r;
    memcpy(saved, v->err, sizeof(saved));
    running = ptap_virt_is_running(v);
    memcpy(v->err, saved, sizeof(saved));
    if (running == 0) {
        v->seen_running = false;
        return -EHOSTDOWN;
    }
    return r;
}

static int virt_live_xml(ptap_virt *v, xmlDocPtr *ret)
{
    _cleanup_free_ char *xml = NULL;
    xmlDocPtr doc;

    xml = virDomainGetXMLDesc(v->dom, 0);
    if (!xml)
        return virt_recheck(v, virt_fail_libvirt(v, -EIO, "cannot read the XML of domain '%s'",
                                                 v->name));
    doc = xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return virt_fail(v, -EBADMSG, "cannot parse the XML of domain '%s'", v->name);
    *ret = doc;
    return 0;
}

static bool node_is(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name);
}

static xmlNodePtr child_named(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent->children; c; c = c->next)
        if (node_is(c, name))
            return c;
    return NULL;
}

static bool attr_is(xmlNodePtr n, const char *attr, const char *value)
{
    _cleanup_(xmlFreep) xmlChar *a = xmlGetProp(n, BAD_CAST attr);

    return a && xmlStrEqual(a, BAD_CAST value);
}

/* ---- who QEMU runs as, and which process it is ------------------------------ */

int ptap_virt_dac_id(const char *s, bool user, uint32_t *out)
{
    _cleanup_free_ char *buf = NULL;
    long size = sysconf(user ? _SC_GETPW_R_SIZE_MAX : _SC_GETGR_R_SIZE_MAX);
    uint64_t n;
    int r;

    if (*s == '+') {
        r = ptap_parse_uint(s + 1, 0, UINT32_MAX - 1, &n);
        if (r < 0)
            return r;
        *out = (uint32_t) n;
        return 0;
    }
    if (!*s)
        return -EINVAL;
    if (size <= 0)
        size = 16384;
    buf = malloc((size_t) size);
    if (!buf)
        return -ENOMEM;
    if (user) {
        struct passwd pw, *res = NULL;

        r = getpwnam_r(s, &pw, buf, (size_t) size, &res);
        if (r == 0 && res) {
            *out = res->pw_uid;
            return 0;
        }
    } else {
        struct group gr, *res = NULL;

        r = getgrnam_r(s, &gr, buf, (size_t) size, &res);
        if (r == 0 && res) {
            *out = res->gr_gid;
            return 0;
        }
    }
    r = ptap_parse_uint(s, 0, UINT32_MAX - 1, &n);
    if (r < 0)
        return -ENOENT;
    *out = (uint32_t) n;
    return 0;
}

static int dac_label_parse(const char *label, uid_t *uid, gid_t *gid)
{
    _cleanup_free_ char *copy = strdup(label);
    char *colon;
    uint32_t u, g;
    int r;

    if (!copy)
        return -ENOMEM;
    colon = strchr(copy, ':');
    if (!colon)
        return -EINVAL;
    *colon = '\0';
    r = ptap_virt_dac_id(copy, true, &u);
    if (r < 0)
        return r;
    r = ptap_virt_dac_id(colon + 1, false, &g);
    if (r < 0)
        return r;
    *uid = u;
    *gid = g;
    return 0;
}

/* Keep ptap's element of <metadata> in the live XML @root (what
 * virDomainGetMetadata would return), for ptap_virt_metadata_get(). Not
 * kept (asked again later) when it does not parse or cannot be copied. */
static void virt_keep_live_metadata(ptap_virt *v, xmlNodePtr root)
{
    xmlNodePtr md = child_named(root, "metadata");
    _cleanup_free_ ptap_vmeta *m = NULL;
    ptap_error err = { 0 };

    meta_live_forget(v);
    for (xmlNodePtr c = md ? md->children : NULL; c; c = c->next) {
        xmlBufferPtr buf;
        int r;

        if (c->type != XML_ELEMENT_NODE || !c->ns || !xmlStrEqual(c->ns->href, BAD_CAST PTAP_VMETA_NS))
            continue;
        buf = xmlBufferCreate();
        m = calloc(1, sizeof(*m));
        if (!buf || !m || xmlNodeDump(buf, root->doc, c, 0, 0) < 0) {
            if (buf)
                xmlBufferFree(buf);
            return;
        }
        r = ptap_vmeta_parse((const char *) xmlBufferContent(buf), (size_t) xmlBufferLength(buf), m,
                             &err);
        xmlBufferFree(buf);
        if (r < 0)
            return;
        v->meta_live = TAKE_PTR(m);
        v->meta_live_known = true;
        return;
    }
    v->meta_live_known = true;
}

/* The DAC label of the live XML: 1 found, 0 none, negative on a bad label;
 * -EHOSTDOWN when that XML says the domain does not run (no id). */
static int virt_dac_label(ptap_virt *v, uid_t *uid, gid_t *gid)
{
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
    xmlNodePtr root;
    int r;

    r = virt_live_xml(v, &doc);
    if (r < 0)
        return r;
    root = xmlDocGetRootElement(doc);
    if (!root)
        return 0;
    /* libvirt gives a running domain's XML its id; an inactive one has none. */
    {
        _cleanup_(xmlFreep) xmlChar *id = xmlGetProp(root, BAD_CAST "id");

        if (!id)
            return virt_fail(v, -EHOSTDOWN, "domain '%s' is not running", v->name);
    }
    v->seen_running = true;
    virt_keep_live_metadata(v, root);
    for (xmlNodePtr sl = root->children; sl; sl = sl->next) {
        if (!node_is(sl, "seclabel") || !attr_is(sl, "model", "dac"))
            continue;
        static const char *const kinds[] = { "label", "imagelabel" };
        for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
            xmlNodePtr l = child_named(sl, kinds[k]);
            _cleanup_(xmlFreep) xmlChar *text = l ? xmlNodeGetContent(l) : NULL;

            if (!text || !*text)
                continue;
            r = dac_label_parse((const char *) text, uid, gid);
            if (r < 0)
                return virt_fail(v, r, "cannot resolve DAC label '%s' of domain '%s': %s",
                                 (const char *) text, v->name, strerror(-r));
            return 1;
        }
    }
    return 0;
}

int ptap_virt_qemu_pid(ptap_virt *v, pid_t *pid, uint64_t *start_time)
{
    _cleanup_free_ char *path = NULL;
    pid_t p = 0;
    int r;

    r = virt_require_running_seen(v);
    if (r < 0)
        return r;

    /* libvirt names the pid file after the domain; domain names never hold '/'. */
    if (!strchr(v->name, '/')) {
        if (!v->session) {
            if (asprintf(&path, "/run/libvirt/qemu/%s.pid", v->name) < 0)
                return -ENOMEM;
        } else if (getenv("XDG_RUNTIME_DIR")) {
            if (asprintf(&path, "%s/libvirt/qemu/run/%s.pid", getenv("XDG_RUNTIME_DIR"),
                         v->name) < 0)
                return -ENOMEM;
        }
    }
    if (!path || ptap_proc_read_pid_file(path, &p) < 0 || !ptap_proc_has_uuid(p, v->uuid)) {
        /* No readable pid file (another user's daemon, a remote URI) or a
         * stale one: look for the process that carries the domain's UUID. */
        r = ptap_proc_find_uuid(v->uuid, &p);
        if (r < 0)
            return virt_fail(v, r, "cannot find the QEMU process of domain '%s'", v->name);
    }
    r = ptap_proc_start_time(p, start_time);
    if (r < 0)
        return virt_fail(v, r, "cannot read the start time of process %d: %s", (int) p,
                         strerror(-r));
    *pid = p;
    return 0;
}

int ptap_virt_qemu_owner(ptap_virt *v, uid_t *uid, gid_t *gid)
{
    pid_t pid;
    uint64_t start;
    int r;

    /* The live XML says whether the domain runs: no question of its own. */
    r = virt_dac_label(v, uid, gid);
    if (r < 0)
        return r;
    if (r > 0)
        return 0;
    /* No DAC label (security_driver without dac): ask the process itself. */
    if (ptap_virt_qemu_pid(v, &pid, &start) == 0 && ptap_proc_owner(pid, uid, gid) == 0)
        return 0;
    if (v->session) {
        *uid = geteuid();
        *gid = getegid();
        return 0;
    }
    return virt_fail(v, -ENODATA, "cannot tell which user runs the QEMU of domain '%s'",
                     v->name);
}

/* ---- validation and ids ----------------------------------------------------- */

const char *ptap_virt_method_to_string(ptap_virt_method m)
{
    return m == PTAP_VIRT_MONITOR ? "monitor" : "device";
}

int ptap_virt_method_from_string(const char *s)
{
    if (s && strcmp(s, "device") == 0)
        return PTAP_VIRT_DEVICE;
    if (s && strcmp(s, "monitor") == 0)
        return PTAP_VIRT_MONITOR;
    return -EINVAL;
}

ptap_nic_dialect ptap_virt_nic_dialect(ptap_virt_method method)
{
    return method == PTAP_VIRT_MONITOR ? PTAP_NIC_NEW : PTAP_NIC_LIBVIRT;
}

int ptap_virt_ids(ptap_virt_method method, const char *id,
                  char device_id[PTAP_QEMU_ID_MAX], char netdev_id[PTAP_QEMU_ID_MAX])
{
    if (method != PTAP_VIRT_DEVICE && method != PTAP_VIRT_MONITOR)
        return -EINVAL;
    return ptap_nic_ids(ptap_virt_nic_dialect(method), id, device_id, netdev_id);
}

/* ---- method "device": libvirt's device API ---------------------------------- */

/* Does libvirt (or QEMU through it) say there is no slot to hot-plug into? */
static bool virt_no_slot(const char *text)
{
    /* "PCI: slot 0 function 0 not available for virtio-net-pci, in use by
     * ...": libvirt chose a port a NIC it does not know of (monitor
     * method) already holds. */
    return ptap_nic_qemu_error_is_no_hotplug(text) ||
           (text && (strstr(text, "No more available PCI slots") ||
                     (strstr(text, "not available for") && strstr(text, "in use by")) ||
                     strstr(text, "doesn't support hotplug") ||
                     strstr(text, "does not support hot-plug") ||
                     strstr(text, "hotplug is not supported")));
}

static int attach_device(ptap_virt *v, ptap_nic *nic)
{
    _cleanup_free_ char *xml = NULL;
    int r;

    /* The bus given; without one libvirt places the NIC (and does not say
     * where: bus_used stays ""). */
    snprintf(nic->bus_used, sizeof(nic->bus_used), "%s", nic->checked.bus);

    r = ptap_nic_libvirt_xml(nic, &xml);
    if (r < 0)
        return virt_fail(v, r, "cannot build the interface XML for '%s'", nic->checked.tap);
    ptap_debug("virt: attaching to '%s': %s", v->name, xml);
    if (virDomainAttachDeviceFlags(v->dom, xml, VIR_DOMAIN_AFFECT_LIVE) < 0) {
        r = virt_recheck(v, virt_fail_libvirt(v, -EIO, "cannot attach '%s' to domain '%s'",
                                              nic->checked.tap, v->name));
        /* libvirt places a NIC on a free pcie-root-port itself; with none
         * (or none that takes hot-plug) it says so in its own words. */
        if (r != -EHOSTDOWN && r != -ENOENT && virt_no_slot(v->err))
            r = PTAP_NIC_E_NOSLOT;
        return r;
    }
    return 0;
}

/* ---- waiting for events ------------------------------------------------------ */

typedef struct virt_waiter {
    const char *id;  /* device id / alias we wait for */
    bool done;       /* removed */
    bool failed;     /* libvirt reported DEVICE_REMOVAL_FAILED */
    bool stopped;    /* the domain stopped meanwhile */
} virt_waiter;

static void on_tick(int timer, void *opaque)
{
    (void) timer;
    (void) opaque;
}

static void on_device_removed(virConnectPtr conn, virDomainPtr dom, const char *alias,
                              void *opaque)
{
    virt_waiter *w = opaque;

    ptap_debug("virt: event device-removed '%s'", strna(alias));
    if (alias && strcmp(alias, w->id) == 0)
        w->done = true;
}

static void on_removal_failed(virConnectPtr conn, virDomainPtr dom, const char *alias,
                              void *opaque)
{
    virt_waiter *w = opaque;

    ptap_debug("virt: event device-removal-failed '%s'", strna(alias));
    if (alias && strcmp(alias, w->id) == 0)
        w->failed = true;
}

static void on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
                         void *opaque)
{
    virt_waiter *w = opaque;

    if (event == VIR_DOMAIN_EVENT_STOPPED || event == VIR_DOMAIN_EVENT_SHUTDOWN)
        w->stopped = true;
}

static void on_qemu_event(virConnectPtr conn, virDomainPtr dom, const char *event,
                          long long seconds, unsigned int micros, const char *details,
                          void *opaque)
{
    virt_waiter *w = opaque;
    _cleanup_(json_object_putp) json_object *d = details ? json_tokener_parse(details) : NULL;
    json_object *dev;

    ptap_debug("virt: QEMU event %s %s", strna(event), strna(details));
    /* The id-less virtio backend is deleted first (its event has only a
     * path); wait for the one that names our device. */
    if (d && json_object_object_get_ex(d, "device", &dev) &&
        json_object_is_type(dev, json_type_string) &&
        strcmp(json_object_get_string(dev), w->id) == 0)
        w->done = true;
}

/* Run libvirt's event loop until @w settles or @timeout_ms passes. A short
 * timer keeps each virEventRunDefaultImpl() round bounded. */
static int virt_wait(ptap_virt *v, virt_waiter *w, unsigned timeout_ms)
{
    int64_t deadline = ptap_now_ms() + timeout_ms;
    int timer, r = 0;

    timer = virEventAddTimeout(VIRT_TICK_MS, on_tick, NULL, NULL);
    if (timer < 0)
        return virt_fail_libvirt(v, -EIO, "cannot set up libvirt's event loop");
    while (!w->done && !w->failed && !w->stopped) {
        if (ptap_now_ms() >= deadline) {
            r = -ETIMEDOUT;
            break;
        }
        if (virEventRunDefaultImpl() < 0) {
            r = virt_fail_libvirt(v, -EIO, "libvirt's event loop failed");
            break;
        }
    }
    virEventRemoveTimeout(timer);
    return r;
}

/* ---- method "monitor": QMP through libvirt-qemu ----------------------------- */

/* Run one QMP command. Returns 0 and (if @ret) QEMU's "return" value;
 * a QEMU error sets the message "@what: QEMU's desc" and returns the
 * fault's PTAP_NIC_E_* code, -ENODEV (DeviceNotFound), -EEXIST (duplicate
 * id) or -EIO. */
static int virt_qmp(ptap_virt *v, const char *what, json_object *cmd, json_object **ret)
{
    _cleanup_free_ char *reply = NULL;
    _cleanup_(json_object_putp) json_object *j = NULL;
    json_object *err, *o;
    const char *text = json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN);
    const char *desc = "unknown error", *klass = "";
    int r;

    if (!text)
        return -ENOMEM;
    ptap_debug("virt: QMP to '%s': %s", v->name, text);
    if (virDomainQemuMonitorCommand(v->dom, text, &reply, 0) < 0)
        return virt_recheck(v, virt_fail_libvirt(v, -EIO, "%s", what));
    ptap_debug("virt: QMP reply: %s", strna(reply));
    j = reply ? json_tokener_parse(reply) : NULL;
    if (!j || !json_object_is_type(j, json_type_object))
        return virt_fail(v, -EBADMSG, "%s: unparsable reply from QEMU", what);
    /* libvirt passes QMP errors through as a successful call. */
    if (json_object_object_get_ex(j, "error", &err)) {
        if (json_object_object_get_ex(err, "desc", &o) && json_object_get_string(o))
            desc = json_object_get_string(o);
        if (json_object_object_get_ex(err, "class", &o) && json_object_get_string(o))
            klass = json_object_get_string(o);
        virt_fail(v, 0, "%s: %s", what, desc);
        r = ptap_nic_classify_qemu_error(desc);
        if (r != PTAP_NIC_E_QEMU)
            return r;
        if (ptap_nic_qemu_error_is_not_found(klass, desc))
            return -ENODEV;
        if (ptap_nic_qemu_error_is_duplicate(desc))
            return -EEXIST;
        return -EIO;
    }
    if (ret) {
        if (!json_object_object_get_ex(j, "return", &o))
            return virt_fail(v, -EBADMSG, "%s: reply from QEMU without a return value", what);
        *ret = json_object_get(o);
    }
    return 0;
}

/* Build {"execute": @name, "arguments": @args} (takes @args). */
static json_object *qmp_cmd(const char *name, json_object *args)
{
    json_object *cmd = json_object_new_object();

    if (!cmd || !args) {
        json_object_put(cmd);
        json_object_put(args);
        return NULL;
    }
    if (json_object_object_add(cmd, "execute", json_object_new_string(name)) < 0 ||
        json_object_object_add(cmd, "arguments", args) < 0) {
        json_object_put(cmd);
        return NULL;
    }
    return cmd;
}

static bool jadd_str(json_object *o, const char *k, const char *s)
{
    json_object *v = json_object_new_string(s);

    return v && json_object_object_add(o, k, v) == 0;
}

static int netdev_del(ptap_virt *v, const char *netdev)
{
    _cleanup_(json_object_putp) json_object *cmd = NULL;
    json_object *args = json_object_new_object();
    char what[128];

    if (!args || !jadd_str(args, "id", netdev)) {
        json_object_put(args);
        return -ENOMEM;
    }
    cmd = qmp_cmd("netdev_del", args);
    if (!cmd)
        return -ENOMEM;
    snprintf(what, sizeof(what), "cannot remove netdev '%s'", netdev);
    return virt_qmp(v, what, cmd, NULL);
}

/* qom-list @path through libvirt-qemu. */
static int virt_qom_list(ptap_virt *v, const char *path, json_object **ret)
{
    _cleanup_(json_object_putp) json_object *cmd = NULL;
    json_object *args = json_object_new_object();
    char what[128];

    if (!args || !jadd_str(args, "path", path)) {
        json_object_put(args);
        return -ENOMEM;
    }
    cmd = qmp_cmd("qom-list", args);
    if (!cmd)
        return -ENOMEM;
    snprintf(what, sizeof(what), "cannot list '%s' of domain '%s'", path, v->name);
    return virt_qmp(v, what, cmd, ret);
}

/* The first free pcie-root-port of the guest (see monitor.c's twin), or
 * PTAP_NIC_E_NOSLOT with a message saying how to add one. */
static int virt_pick_root_port(ptap_virt *v, char bus[PTAP_QEMU_ID_MAX])
{
    _cleanup_(json_object_putp) json_object *list = NULL;
    char **ports = NULL;
    int r, n;

    r = virt_qom_list(v, "/machine/peripheral", &list);
    if (r < 0)
        return r;
    n = ptap_nic_qom_root_ports(list, &ports);
    if (n < 0)
        return virt_fail(v, n, "qom-list of domain '%s': not a list", v->name);
    r = PTAP_NIC_E_NOSLOT;
    for (int i = 0; i < n && r == PTAP_NIC_E_NOSLOT; i++) {
        _cleanup_(json_object_putp) json_object *b = NULL;
        char path[2 * PTAP_QEMU_ID_MAX + 32];

        snprintf(path, sizeof(path), "/machine/peripheral/%s/%s", ports[i], ports[i]);
        if (virt_qom_list(v, path, &b) == 0 && ptap_nic_qom_bus_is_free(b) == 1) {
            snprintf(bus, PTAP_QEMU_ID_MAX, "%s", ports[i]);
            r = 0;
        }
    }
    for (int i = 0; i < n; i++)
        free(ports[i]);
    free(ports);
    if (r == PTAP_NIC_E_NOSLOT)
        return virt_fail(v, r, "domain '%s' is a q35 machine whose root bus takes no hot-plug, "
                         "and it has no free pcie-root-port (%d, all taken)", v->name, n);
    return 0;
}

static int attach_monitor(ptap_virt *v, ptap_nic *nic)
{
    _cleanup_(json_object_putp) json_object *ncmd = NULL, *dcmd = NULL;
    json_object *nargs = NULL, *dargs = NULL;
    char what[256];
    int r;

    /* The strict no-descriptor path: QEMU opens the tap by name; never a
     * script (nic.c's builder), whatever the caller asked. */
    r = ptap_nic_qmp_netdev_add(nic, &nargs);
    if (r < 0)
        return r;
    r = ptap_nic_qmp_device_add(nic, &dargs);
    if (r < 0) {
        json_object_put(nargs);
        return r;
    }
    ncmd = qmp_cmd("netdev_add", nargs);
    dcmd = qmp_cmd("device_add", dargs);
    if (!ncmd || !dcmd)
        return -ENOMEM;

    snprintf(what, sizeof(what), "cannot add netdev for tap '%s' to domain '%s'",
             nic->checked.tap, v->name);
    r = virt_qmp(v, what, ncmd, NULL);
    if (r < 0)
        return r;
    snprintf(what, sizeof(what), "cannot add device '%s' to domain '%s'", nic->checked.device_id,
             v->name);
    r = virt_qmp(v, what, dcmd, NULL);
    if (r < 0 && !*nic->checked.bus && ptap_nic_qemu_error_is_no_hotplug(v->err)) {
        /* A q35 guest: its root bus takes no hot-plug. A free root port
         * (libvirt names them "pci.N") takes the NIC. */
        char bus[PTAP_QEMU_ID_MAX];
        ptap_nic n2 = *nic;

        r = virt_pick_root_port(v, bus);
        if (r == 0) {
            n2.bus = bus;
            r = ptap_nic_check(&n2, PTAP_NIC_NEW, NULL);
        }
        if (r == 0) {
            json_object_put(TAKE_PTR(dcmd));
            json_object *a = NULL;
            r = ptap_nic_qmp_device_add(&n2, &a);
            dcmd = r == 0 ? qmp_cmd("device_add", a) : NULL;
            r = dcmd ? virt_qmp(v, what, dcmd, NULL) : -ENOMEM;
            if (r == 0)
                snprintf(nic->bus_used, sizeof(nic->bus_used), "%s", bus);
        }
    }
    if (r == 0 && *nic->checked.bus)
        snprintf(nic->bus_used, sizeof(nic->bus_used), "%s", nic->checked.bus);
    if (r < 0 && r != PTAP_NIC_E_NOSLOT && ptap_nic_qemu_error_is_no_hotplug(v->err))
        r = PTAP_NIC_E_NOSLOT;
    if (r < 0) {
        /* Roll back the netdev so the failed call leaves nothing behind. */
        char saved[VIRT_ERR_MAX];

        memcpy(saved, v->err, sizeof(saved));
        if (netdev_del(v, nic->checked.netdev_id) < 0)
            ptap_debug("virt: rollback: %s, ignoring", v->err);
        memcpy(v->err, saved, sizeof(saved));
        return r;
    }
    return 0;
}

int ptap_virt_attach(ptap_virt *v, ptap_virt_method method, ptap_nic *in)
{
    ptap_nic nic = in ? *in : (ptap_nic) PTAP_NIC_INIT;
    const char *why = NULL;
    int r;

    if (in)
        in->bus_used[0] = '\0';

    v->err[0] = '\0';
    if (method != PTAP_VIRT_DEVICE && method != PTAP_VIRT_MONITOR)
        return virt_fail(v, -EINVAL, "cannot attach tap '%s': unknown method", strna(nic.tap));
    r = ptap_nic_check(&nic, ptap_virt_nic_dialect(method), &why);
    if (r < 0)
        return virt_fail(v, r, "cannot attach tap '%s': %s", strna(nic.tap), why);
    r = virt_require_running_seen(v);
    if (r < 0)
        return r;
    r = method == PTAP_VIRT_DEVICE ? attach_device(v, &nic) : attach_monitor(v, &nic);
    if (r == 0 && in)
        snprintf(in->bus_used, sizeof(in->bus_used), "%s", nic.bus_used);
    return r;
}

/* ---- detach ------------------------------------------------------------------ */

static int detach_device(ptap_virt *v, const char *alias, unsigned timeout_ms)
{
    virt_waiter w = { .id = alias };
    int cb_removed, cb_failed, cb_life, r;

    cb_removed = virConnectDomainEventRegisterAny(
        v->conn, v->dom, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
        VIR_DOMAIN_EVENT_CALLBACK(on_device_removed), &w, NULL);
    if (cb_removed < 0)
        return virt_fail_libvirt(v, -EIO, "cannot watch domain '%s' for device removal",
                                 v->name);
    cb_failed = virConnectDomainEventRegisterAny(
        v->conn, v->dom, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED,
        VIR_DOMAIN_EVENT_CALLBACK(on_removal_failed), &w, NULL);
    cb_life = virConnectDomainEventRegisterAny(v->conn, v->dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                               VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), &w,
                                               NULL);

    if (virDomainDetachDeviceAlias(v->dom, alias, VIR_DOMAIN_AFFECT_LIVE) < 0) {
        r = virt_recheck(v, virt_fail_libvirt(v, -EIO, "cannot detach '%s' from domain '%s'",
                                              alias, v->name));
    } else {
        /* libvirt returns once QEMU was asked (it may already have waited
         * for the guest); the removal is final only with the event. */
        r = virt_wait(v, &w, timeout_ms);
        if (w.failed)
            r = virt_fail(v, -EIO, "domain '%s' refused to release '%s'", v->name, alias);
        else if (w.stopped && !w.done)
            r = virt_fail(v, -EHOSTDOWN, "domain '%s' stopped while detaching '%s'", v->name,
                          alias);
        else if (r == -ETIMEDOUT) {
            /* The event may have been lost with a reconnect: trust the XML. */
            if (ptap_virt_has_device(v, PTAP_VIRT_DEVICE, alias) == 0)
                r = 0;
            else
                r = virt_fail(v, -ETIMEDOUT,
                              "domain '%s' did not release '%s' within %u ms", v->name,
                              alias, timeout_ms);
        }
    }
    virConnectDomainEventDeregisterAny(v->conn, cb_removed);
    if (cb_failed >= 0)
        virConnectDomainEventDeregisterAny(v->conn, cb_failed);
    if (cb_life >= 0)
        virConnectDomainEventDeregisterAny(v->conn, cb_life);
    return r;
}

static int detach_monitor(ptap_virt *v, const char *dev, const char *net, unsigned timeout_ms)
{
    _cleanup_(json_object_putp) json_object *cmd = NULL;
    json_object *args = json_object_new_object();
    virt_waiter w = { .id = dev };
    char what[256];
    int cb, r, rn;

    if (!args || !jadd_str(args, "id", dev)) {
        json_object_put(args);
        return -ENOMEM;
    }
    cmd = qmp_cmd("device_del", args);
    if (!cmd)
        return -ENOMEM;

    cb = virConnectDomainQemuMonitorEventRegister(v->conn, v->dom, "DEVICE_DELETED",
                                                  on_qemu_event, &w, NULL, 0);
    if (cb < 0)
        return virt_fail_libvirt(v, -EIO, "cannot watch domain '%s' for DEVICE_DELETED",
                                 v->name);
    snprintf(what, sizeof(what), "cannot remove device '%s' from domain '%s'", dev, v->name);
    r = virt_qmp(v, what, cmd, NULL);
    if (r == 0) {
        r = virt_wait(v, &w, timeout_ms);
        if (r == -ETIMEDOUT) {
            if (ptap_virt_has_device(v, PTAP_VIRT_MONITOR, dev) == 0)
                r = 0;
            else
                r = virt_fail(v, -ETIMEDOUT,
                              "domain '%s' did not release '%s' within %u ms", v->name, dev,
                              timeout_ms);
        }
    }
    virConnectDomainQemuMonitorEventDeregister(v->conn, cb);
    if (r < 0 && r != -ENODEV)
        return r;

    /* The device is gone (or never came): free the netdev, so QEMU closes
     * the tap. A missing netdev is fine when the device was missing too. */
    {
        char saved[VIRT_ERR_MAX];

        memcpy(saved, v->err, sizeof(saved));
        rn = netdev_del(v, net);
        if (rn < 0 && rn != -ENODEV)
            return rn;
        if (r == -ENODEV)
            memcpy(v->err, saved, sizeof(saved));
    }
    return r;
}

int ptap_virt_detach(ptap_virt *v, ptap_virt_method method, const char *id, unsigned timeout_ms)
{
    char dev[PTAP_QEMU_ID_MAX], net[PTAP_QEMU_ID_MAX];
    int r;

    v->err[0] = '\0';
    if (ptap_virt_ids(method, id, dev, net) < 0)
        return virt_fail(v, -EINVAL, "bad device id '%s'", strna(id));
    if (timeout_ms == 0)
        timeout_ms = PTAP_VIRT_DEFAULT_TIMEOUT_MS;
    r = virt_require_running(v);
    if (r < 0)
        return r;
    if (method == PTAP_VIRT_DEVICE)
        return detach_device(v, dev, timeout_ms);
    return detach_monitor(v, dev, net, timeout_ms);
}

int ptap_virt_netdev_remove(ptap_virt *v, const char *id)
{
    char dev[PTAP_QEMU_ID_MAX], net[PTAP_QEMU_ID_MAX];
    int r;

    v->err[0] = '\0';
    if (ptap_virt_ids(PTAP_VIRT_MONITOR, id, dev, net) < 0)
        return virt_fail(v, -EINVAL, "bad device id '%s'", strna(id));
    r = virt_require_running(v);
    if (r < 0)
        return r;
    return netdev_del(v, net);
}

/* ---- presence ---------------------------------------------------------------- */

static int has_alias(ptap_virt *v, const char *alias)
{
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
    xmlNodePtr root, devices;
    int r;

    r = virt_live_xml(v, &doc);
    if (r < 0)
        return r;
    root = xmlDocGetRootElement(doc);
    devices = root ? child_named(root, "devices") : NULL;
    if (!devices)
        return 0;
    for (xmlNodePtr d = devices->children; d; d = d->next) {
        xmlNodePtr a;

        if (d->type != XML_ELEMENT_NODE)
            continue;
        a = child_named(d, "alias");
        if (a && attr_is(a, "name", alias))
            return 1;
    }
    return 0;
}

static int has_peripheral(ptap_virt *v, const char *dev)
{
    _cleanup_(json_object_putp) json_object *cmd = NULL, *ret = NULL;
    json_object *args = json_object_new_object();
    char what[256];
    int r;

    if (!args || !jadd_str(args, "path", "/machine/peripheral")) {
        json_object_put(args);
        return -ENOMEM;
    }
    cmd = qmp_cmd("qom-list", args);
    if (!cmd)
        return -ENOMEM;
    snprintf(what, sizeof(what), "cannot list the devices of domain '%s'", v->name);
    r = virt_qmp(v, what, cmd, &ret);
    if (r < 0)
        return r;
    r = ptap_nic_qom_list_has_json(ret, dev);
    if (r < 0)
        return virt_fail(v, r, "%s: qom-list did not return a list", what);
    return r;
}

int ptap_virt_has_device(ptap_virt *v, ptap_virt_method method, const char *id)
{
    char dev[PTAP_QEMU_ID_MAX], net[PTAP_QEMU_ID_MAX];
    int r;

    v->err[0] = '\0';
    if (ptap_virt_ids(method, id, dev, net) < 0)
        return virt_fail(v, -EINVAL, "bad device id '%s'", strna(id));
    r = virt_require_running(v);
    if (r < 0)
        return r;
    if (method == PTAP_VIRT_DEVICE)
        return has_alias(v, dev);
    return has_peripheral(v, dev);
}

/* ---- virtual networks --------------------------------------------------------- */

int ptap_virt_network_name_check(const char *name, const char **why)
{
    const char *dummy;

    if (!why)
        why = &dummy;
    if (!name || !*name) {
        *why = "empty network name";
        return -EINVAL;
    }
    if (strlen(name) >= PTAP_NETWORK_NAME_MAX) {
        *why = "network name too long";
        return -EINVAL;
    }
    for (const unsigned char *p = (const unsigned char *) name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '/') {
            *why = "a network name holds no '/' and no control characters";
            return -EINVAL;
        }
    return 0;
}

/* Forward modes whose guests get a bridge of libvirt's own (virbrN). */
static bool mode_has_own_bridge(const char *mode)
{
    static const char *const own[] = { "nat", "route", "open", "isolated" };

    for (size_t i = 0; i < ARRAY_SIZE(own); i++)
        if (strcmp(mode, own[i]) == 0)
            return true;
    return false;
}

int ptap_virt_network_parse_xml(const char *xml, ptap_virt_network *out, const char **why)
{
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
    xmlNodePtr root, fwd, br;
    const char *dummy;

    if (!why)
        why = &dummy;
    out->mode[0] = '\0';
    out->bridge[0] = '\0';
    if (!xml) {
        *why = "no XML";
        return -EBADMSG;
    }
    doc = xmlReadMemory(xml, (int) strlen(xml), "network.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || !node_is(root, "network")) {
        *why = "not a libvirt network's XML";
        return -EBADMSG;
    }
    fwd = child_named(root, "forward");
    if (!fwd)
        snprintf(out->mode, sizeof(out->mode), "isolated");
    else {
        _cleanup_(xmlFreep) xmlChar *m = xmlGetProp(fwd, BAD_CAST "mode");

        /* libvirt's default for <forward/> is nat. A mode too long to
         * keep is none ptap knows: it is refused below, under its name's
         * first bytes. */
        snprintf(out->mode, sizeof(out->mode), "%s", m ? (const char *) m : "nat");
        for (char *c = out->mode; *c; c++)
            if ((unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f)
                *c = '?';
    }
    br = child_named(root, "bridge");
    if (br) {
        _cleanup_(xmlFreep) xmlChar *name = xmlGetProp(br, BAD_CAST "name");

        if (name && *name) {
            if (ptap_ifname_check((const char *) name, false, why) < 0) {
                *why = "the network's bridge name is no interface name";
                return -EINVAL;
            }
            snprintf(out->bridge, sizeof(out->bridge), "%s", (const char *) name);
        }
    }
    if (mode_has_own_bridge(out->mode))
        return 0;
    if (strcmp(out->mode, "bridge") == 0) {
        if (*out->bridge)
            return 0;
        *why = "forward mode 'bridge' without <bridge name=.../> puts its guests on macvtap "
               "devices, not on a bridge";
        out->bridge[0] = '\0';
        return -EMEDIUMTYPE;
    }
    if (strcmp(out->mode, "private") == 0 || strcmp(out->mode, "vepa") == 0 ||
        strcmp(out->mode, "passthrough") == 0)
        *why = "its guests get macvtap devices on the host's interfaces, not a bridge";
    else if (strcmp(out->mode, "hostdev") == 0)
        *why = "its guests get host PCI devices (SR-IOV functions), not a bridge";
    else
        *why = "ptap knows no bridge for this forward mode";
    out->bridge[0] = '\0';
    return -EMEDIUMTYPE;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(virNetworkPtr, virNetworkFree)

int ptap_virt_network_lookup(ptap_virt *v, const char *name, ptap_virt_network *out)
{
    _cleanup_(virNetworkFreep) virNetworkPtr net = NULL;
    _cleanup_free_ char *xml = NULL, *bridge = NULL;
    const char *why = NULL;
    int r;

    v->err[0] = '\0';
    *out = (ptap_virt_network) { 0 };
    if (ptap_virt_network_name_check(name, &why) < 0)
        return virt_fail(v, -EINVAL, "invalid network name '%s': %s", strna(name), why);
    snprintf(out->name, sizeof(out->name), "%s", name);
    net = virNetworkLookupByName(v->conn, name);
    if (!net) {
        r = virt_last_code(-EIO);
        if (r == -ENOENT)
            return virt_fail(v, r, "no libvirt network '%s' on '%s'", name, v->uri);
        return virt_fail_libvirt(v, r, "cannot look up libvirt network '%s'", name);
    }
    r = virNetworkIsActive(net);
    if (r < 0)
        return virt_fail_libvirt(v, -EIO, "cannot query libvirt network '%s'", name);
    if (r == 0)
        return virt_fail(v, -EHOSTDOWN,
                         "libvirt network '%s' is not active (virsh net-start %s)", name, name);
    xml = virNetworkGetXMLDesc(net, 0);
    if (!xml)
        return virt_fail_libvirt(v, -EIO, "cannot read the XML of libvirt network '%s'", name);
    r = ptap_virt_network_parse_xml(xml, out, &why);
    if (r == -EMEDIUMTYPE)
        return virt_fail(v, r, "libvirt network '%s' (forward mode '%s') has no bridge of its "
                         "own: %s", name, out->mode, why);
    if (r < 0)
        return virt_fail(v, r, "libvirt network '%s': %s", name, why);
    /* libvirt's word for the bridge (it names virbrN when the XML did not). */
    bridge = virNetworkGetBridgeName(net);
    if (bridge && *bridge) {
        if (ptap_ifname_check(bridge, false, &why) < 0)
            return virt_fail(v, -EINVAL, "libvirt network '%s': bridge '%s' is no interface "
                             "name: %s", name, bridge, why);
        snprintf(out->bridge, sizeof(out->bridge), "%s", bridge);
    }
    if (!*out->bridge)
        return virt_fail(v, -EIO, "libvirt network '%s' (forward mode '%s') names no bridge",
                         name, out->mode);
    ptap_debug("virt: network '%s' (mode %s) has bridge '%s'", name, out->mode, out->bridge);
    return 0;
}

int ptap_virt_network_resolve(const char *uri, const char *name, ptap_virt_network *out,
                              ptap_error *err)
{
    ptap_virt *v = NULL;
    char *msg = NULL;
    const char *why = NULL;
    int r, ex;

    if (ptap_virt_network_name_check(name, &why) < 0)
        return ptap_error_set(err, -EINVAL, EX_USAGE, "invalid network name '%s': %s",
                              strna(name), why);
    r = ptap_virt_open(uri, &v, &msg);
    if (r < 0) {
        ptap_error_set(err, r, r == -EACCES ? EX_NOPERM : EX_UNAVAILABLE,
                       "cannot ask libvirt '%s' for network '%s': %s",
                       uri && *uri ? uri : ptap_virt_default_uri(), name,
                       msg ? msg : strerror(-r));
        free(msg);
        return r;
    }
    r = ptap_virt_network_lookup(v, name, out);
    if (r < 0) {
        ex = r == -ENOENT || r == -EMEDIUMTYPE || r == -EINVAL ? EX_USAGE
             : r == -EHOSTDOWN                                 ? EX_UNAVAILABLE
             : r == -EACCES                                    ? EX_NOPERM
                                                               : EX_OSERR;
        ptap_error_set(err, r, ex, "%s", ptap_virt_errmsg(v));
    }
    ptap_virt_close(v);
    return r;
}

/* ---- ptap's metadata: what travels with the guest (docs/migration.md) --------
 * Kept apart from the rest of this room: the NIC's recipe under ptap's own
 * namespace in <metadata>, read and written whole (vmeta.h's format). */

static unsigned meta_flags(unsigned where)
{
    unsigned f = 0;

    if (where & PTAP_VIRT_LIVE)
        f |= VIR_DOMAIN_AFFECT_LIVE;
    if (where & PTAP_VIRT_CONFIG)
        f |= VIR_DOMAIN_AFFECT_CONFIG;
    return f;
}

int ptap_virt_metadata_get(ptap_virt *v, unsigned where, ptap_vmeta *ret)
{
    _cleanup_free_ char *xml = NULL;
    ptap_error err = { 0 };
    virErrorPtr e;
    int r;

    *ret = (ptap_vmeta) { 0 };
    v->err[0] = '\0';
    if (!v->dom)
        return -ENOENT;
    /* Live, as the live XML of the DAC label had it: no second question. */
    if (where == PTAP_VIRT_LIVE && v->meta_live_known) {
        if (!v->meta_live)
            return -ENODATA;
        *ret = *v->meta_live;
        return 0;
    }
    xml = virDomainGetMetadata(v->dom, VIR_DOMAIN_METADATA_ELEMENT, PTAP_VMETA_NS,
                               meta_flags(where));
    if (!xml) {
        e = virGetLastError();
        if (e && e->code == VIR_ERR_NO_DOMAIN_METADATA)
            return -ENODATA;
        return virt_fail_libvirt(v, -EIO, "cannot read the ptap metadata of domain '%s'", v->name);
    }
    r = ptap_vmeta_parse(xml, strlen(xml), ret, &err);
    if (r < 0)
        return virt_fail(v, r, "domain '%s': %s", v->name, err.msg);
    return 0;
}

int ptap_virt_metadata_set(ptap_virt *v, unsigned where, const ptap_vmeta *m)
{
    _cleanup_free_ char *xml = NULL;
    int r;

    v->err[0] = '\0';
    if (!v->dom)
        return -ENOENT;
    if (m->n > 0) {
        r = ptap_vmeta_format(m, false, &xml);
        if (r < 0)
            return virt_fail(v, r, "cannot format the ptap metadata of domain '%s'", v->name);
    }
    /* Written (or not: its outcome is unknown): ask libvirt next time. */
    if (where & PTAP_VIRT_LIVE)
        meta_live_forget(v);
    /* NULL metadata removes ptap's element altogether. */
    if (virDomainSetMetadata(v->dom, VIR_DOMAIN_METADATA_ELEMENT, xml, m->n ? PTAP_VMETA_PREFIX : NULL,
                             PTAP_VMETA_NS, meta_flags(where)) < 0)
        return virt_recheck(v, virt_fail_libvirt(v, -EIO, "cannot write the ptap metadata of "
                                                 "domain '%s'", v->name));
    return 0;
}

/* A change to ptap's metadata: 1 when it changed @m, 0 when there is
 * nothing to write, or a negative errno. */
typedef int (*metadata_change)(ptap_virt *v, ptap_vmeta *m, const void *arg);

/*
 * Read, @change and write back ptap's metadata of @v's live domain and/or
 * persistent definition (@where), each on its own. Without metadata there
 * (-ENODATA), @change starts from none when @from_none, else that one is
 * left alone.
 */
static int metadata_edit(ptap_virt *v, unsigned where, bool from_none, metadata_change change,
                         const void *arg)
{
    for (unsigned w = PTAP_VIRT_LIVE; w <= PTAP_VIRT_CONFIG; w <<= 1) {
        ptap_vmeta m;
        int r;

        if (!(where & w))
            continue;
        r = ptap_virt_metadata_get(v, w, &m);
        if (r == -ENODATA && !from_none)
            continue;
        if (r < 0 && r != -ENODATA)
            return r;
        r = change(v, &m, arg);
        if (r < 0)
            return r;
        if (r == 0)
            continue;
        r = ptap_virt_metadata_set(v, w, &m);
        if (r < 0)
            return r;
    }
    return 0;
}

static int change_put(ptap_virt *v, ptap_vmeta *m, const void *nic)
{
    int r = ptap_vmeta_put(m, nic);

    if (r < 0)
        return virt_fail(v, r, "domain '%s' already carries %d ptap NICs", v->name,
                         PTAP_VMETA_NICS_MAX);
    return 1;
}

static int change_drop(ptap_virt *v, ptap_vmeta *m, const void *tap)
{
    (void) v;
    return ptap_vmeta_remove(m, tap) ? 1 : 0;
}

int ptap_virt_metadata_put(ptap_virt *v, unsigned where, const ptap_vmeta_nic *nic)
{
    return metadata_edit(v, where, true, change_put, nic);
}

int ptap_virt_metadata_drop(ptap_virt *v, unsigned where, const char *tap)
{
    return metadata_edit(v, where, false, change_drop, tap);
}

int ptap_virt_is_persistent(ptap_virt *v)
{
    int r;

    if (!v->dom)
        return -ENOENT;
    r = virDomainIsPersistent(v->dom);
    if (r < 0)
        return virt_fail_libvirt(v, -EIO, "cannot ask whether domain '%s' is persistent", v->name);
    return r;
}

int ptap_virt_attach_config(ptap_virt *v, const ptap_nic *in)
{
    ptap_nic nic = in ? *in : (ptap_nic) PTAP_NIC_INIT;
    _cleanup_free_ char *xml = NULL;
    const char *why = NULL;
    int r;

    v->err[0] = '\0';
    r = ptap_nic_check(&nic, PTAP_NIC_LIBVIRT, &why);
    if (r < 0)
        return virt_fail(v, r, "cannot attach tap '%s': %s", strna(nic.tap), why);
    r = ptap_nic_libvirt_xml(&nic, &xml);
    if (r < 0)
        return virt_fail(v, r, "cannot build the interface XML for '%s'", nic.checked.tap);
    if (virDomainAttachDeviceFlags(v->dom, xml, VIR_DOMAIN_AFFECT_CONFIG) < 0)
        return virt_fail_libvirt(v, -EIO, "cannot add '%s' to the persistent definition of "
                                 "domain '%s'", nic.checked.tap, v->name);
    return 0;
}

int ptap_virt_detach_config(ptap_virt *v, const char *alias)
{
    v->err[0] = '\0';
    if (virDomainDetachDeviceAlias(v->dom, alias, VIR_DOMAIN_AFFECT_CONFIG) < 0)
        return virt_fail_libvirt(v, -EIO, "cannot remove '%s' from the persistent definition of "
                                 "domain '%s'", alias, v->name);
    return 0;
}
