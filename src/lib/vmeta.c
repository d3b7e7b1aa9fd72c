/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmeta.c: ptap's libvirt metadata, formatted and parsed side by side
 * (see vmeta.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "util.h"
#include "vmeta.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlBufferPtr, xmlBufferFree)

static inline void xmlFreep(xmlChar **p)
{
    if (*p)
        xmlFree(*p);
}

#define XML_FLAGS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

/* ---- checks ---- */

/* A libvirt network name as ptap records one (the journal's rule,
 * PTAP_NETWORK_NAME_MAX on main): 1..127 bytes, no '/' (it names a file
 * of libvirt's) and no control characters. */
static int network_check(const char *s, const char **why)
{
    size_t n = strlen(s);

    if (n == 0 || n >= PTAP_VMETA_NETWORK_MAX) {
        *why = "a network name has 1 to 127 bytes";
        return -EINVAL;
    }
    for (const unsigned char *p = (const unsigned char *) s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '/') {
            *why = "a network name holds no '/' and no control characters";
            return -EINVAL;
        }
    return 0;
}

int ptap_vmeta_nic_check(const ptap_vmeta_nic *nic, const char **why)
{
    if (ptap_ifname_check(nic->tap, false, why) < 0)
        return -EINVAL;
    if (*nic->bridge && ptap_ifname_check(nic->bridge, false, why) < 0)
        return -EINVAL;
    if (*nic->network && network_check(nic->network, why) < 0)
        return -EINVAL;
    if (nic->mtu && (nic->mtu < PTAP_MTU_MIN || nic->mtu > PTAP_MTU_MAX)) {
        *why = "the MTU is out of range (68..65521)";
        return -EINVAL;
    }
    return 0;
}

int ptap_vmeta_put(ptap_vmeta *m, const ptap_vmeta_nic *nic)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->nics[i].tap, nic->tap) == 0) {
            m->nics[i] = *nic;
            return 0;
        }
    if (m->n >= PTAP_VMETA_NICS_MAX)
        return -E2BIG;
    m->nics[m->n++] = *nic;
    return 0;
}

bool ptap_vmeta_remove(ptap_vmeta *m, const char *tap)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->nics[i].tap, tap) == 0) {
            memmove(&m->nics[i], &m->nics[i + 1], (m->n - i - 1) * sizeof(m->nics[0]));
            m->n--;
            return true;
        }
    return false;
}

/* ---- format ---- */

int ptap_vmeta_format(const ptap_vmeta *m, bool with_ns, char **ret)
{
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    _cleanup_(xmlBufferFreep) xmlBufferPtr buf = NULL;
    xmlNodePtr root;
    xmlNsPtr ns = NULL;
    char num[16];
    bool ok;

    *ret = NULL;
    root = doc ? xmlNewDocNode(doc, NULL, BAD_CAST "nics", NULL) : NULL;
    if (!root)
        return -ENOMEM;
    xmlDocSetRootElement(doc, root);
    if (with_ns) {
        ns = xmlNewNs(root, BAD_CAST PTAP_VMETA_NS, BAD_CAST PTAP_VMETA_PREFIX);
        if (!ns)
            return -ENOMEM;
        xmlSetNs(root, ns);
    }
    snprintf(num, sizeof(num), "%d", PTAP_VMETA_VERSION);
    ok = xmlNewProp(root, BAD_CAST "version", BAD_CAST num) != NULL;
    for (size_t i = 0; i < m->n && ok; i++) {
        const ptap_vmeta_nic *nic = &m->nics[i];
        const char *why;
        xmlNodePtr n;

        if (ptap_vmeta_nic_check(nic, &why) < 0)
            return -EINVAL;
        n = xmlNewChild(root, ns, BAD_CAST "nic", NULL);
        ok = n && xmlNewProp(n, BAD_CAST "tap", BAD_CAST nic->tap);
        if (ok && *nic->bridge)
            ok = xmlNewProp(n, BAD_CAST "bridge", BAD_CAST nic->bridge) != NULL;
        if (ok && *nic->network)
            ok = xmlNewProp(n, BAD_CAST "network", BAD_CAST nic->network) != NULL;
        if (ok && nic->mtu) {
            snprintf(num, sizeof(num), "%u", nic->mtu);
            ok = xmlNewProp(n, BAD_CAST "mtu", BAD_CAST num) != NULL;
        }
        ok = ok && xmlNewProp(n, BAD_CAST "multi-queue", BAD_CAST(nic->multi_queue ? "yes" : "no"));
        ok = ok && xmlNewProp(n, BAD_CAST "vnet-hdr", BAD_CAST(nic->vnet_hdr ? "yes" : "no"));
        ok = ok && xmlNewProp(n, BAD_CAST "kind", BAD_CAST(nic->pool ? "pool" : "nic"));
    }
    if (!ok)
        return -ENOMEM;
    buf = xmlBufferCreate();
    if (!buf || xmlNodeDump(buf, doc, root, 0, 0) < 0)
        return -ENOMEM;
    *ret = strdup((const char *) xmlBufferContent(buf));
    return *ret ? 0 : -ENOMEM;
}

/* ---- parse ---- */

static bool is_element(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name);
}

static bool in_our_ns(xmlNodePtr n)
{
    return n->ns && n->ns->href && xmlStrEqual(n->ns->href, BAD_CAST PTAP_VMETA_NS);
}

static xmlNodePtr child_named(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent->children; c; c = c->next)
        if (is_element(c, name) && !c->ns)
            return c;
    return NULL;
}

/* Attribute @name of @n copied into @buf (size @size): 1 copied, 0 absent,
 * -EINVAL when it does not fit (never truncated). */
static int attr_copy(xmlNodePtr n, const char *name, char *buf, size_t size)
{
    _cleanup_(xmlFreep) xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);

    *buf = '\0';
    if (!v)
        return 0;
    if (strlen((const char *) v) >= size)
        return -EINVAL;
    memcpy(buf, v, strlen((const char *) v) + 1);
    return 1;
}

static int attr_bool(xmlNodePtr n, const char *name, bool *out, ptap_error *err, const char *tap)
{
    char v[8];
    int r = attr_copy(n, name, v, sizeof(v));

    *out = false;
    if (r == 0)
        return 0;
    if (r > 0 && strcmp(v, "yes") == 0)
        *out = true;
    else if (r < 0 || strcmp(v, "no") != 0)
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "ptap metadata of tap '%s': %s must be 'yes' or 'no'", tap, name);
    return 0;
}

/* Attributes a <nic> may carry: anything else is refused (a typo would
 * otherwise silently give a different tap). */
static const char *const nic_attrs[] = { "tap", "bridge", "network", "mtu", "multi-queue",
                                         "vnet-hdr", "kind" };

static int parse_nic(xmlNodePtr n, ptap_vmeta_nic *nic, ptap_error *err)
{
    char tap[64], num[16], kind[8];
    const char *why = NULL;
    uint64_t mtu;
    int r;

    *nic = (ptap_vmeta_nic) { 0 };
    for (xmlAttrPtr a = n->properties; a; a = a->next) {
        bool known = false;

        for (size_t i = 0; i < ARRAY_SIZE(nic_attrs) && !known; i++)
            known = !a->ns && xmlStrEqual(a->name, BAD_CAST nic_attrs[i]);
        if (!known)
            return ptap_error_set(err, -EINVAL, EX_DATAERR,
                                  "ptap metadata: unknown attribute '%.32s' of <nic>",
                                  (const char *) a->name);
    }
    r = attr_copy(n, "tap", tap, sizeof(tap));
    if (r <= 0)
        return ptap_error_set(err, -EINVAL, EX_DATAERR, "ptap metadata: a <nic> without a valid "
                              "tap name");
    if (ptap_ifname_check(tap, false, &why) < 0)
        return ptap_error_set(err, -EINVAL, EX_DATAERR, "ptap metadata: invalid tap name '%s': %s",
                              tap, why);
    memcpy(nic->tap, tap, strlen(tap) + 1);
    if (attr_copy(n, "bridge", nic->bridge, sizeof(nic->bridge)) < 0 ||
        (*nic->bridge && ptap_ifname_check(nic->bridge, false, &why) < 0))
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "ptap metadata of tap '%s': invalid bridge name: %s", tap,
                              why ? why : "too long");
    if (attr_copy(n, "network", nic->network, sizeof(nic->network)) < 0 ||
        (*nic->network && network_check(nic->network, &why) < 0))
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "ptap metadata of tap '%s': invalid network name: %s", tap,
                              why ? why : "too long");
    r = attr_copy(n, "mtu", num, sizeof(num));
    if (r < 0 || (r > 0 && ptap_parse_uint(num, PTAP_MTU_MIN, PTAP_MTU_MAX, &mtu) < 0))
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "ptap metadata of tap '%s': invalid MTU (expected %u..%u)", tap,
                              PTAP_MTU_MIN, PTAP_MTU_MAX);
    nic->mtu = r > 0 ? (unsigned) mtu : 0;
    r = attr_bool(n, "multi-queue", &nic->multi_queue, err, tap);
    if (r < 0)
        return r;
    r = attr_bool(n, "vnet-hdr", &nic->vnet_hdr, err, tap);
    if (r < 0)
        return r;
    r = attr_copy(n, "kind", kind, sizeof(kind));
    if (r < 0 || (r > 0 && strcmp(kind, "pool") != 0 && strcmp(kind, "nic") != 0))
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "ptap metadata of tap '%s': kind must be 'pool' or 'nic'", tap);
    nic->pool = r > 0 && strcmp(kind, "pool") == 0;
    return 0;
}

/* The <nics> element @root (already known to be ours) into @ret. */
static int parse_nics(xmlNodePtr root, ptap_vmeta *ret, ptap_error *err)
{
    char version[8];
    int r;

    *ret = (ptap_vmeta) { 0 };
    r = attr_copy(root, "version", version, sizeof(version));
    if (r <= 0 || strcmp(version, "1") != 0)
        return ptap_error_set(err, -EPROTONOSUPPORT, EX_DATAERR,
                              "ptap metadata: unknown version (this ptap reads version %d)",
                              PTAP_VMETA_VERSION);
    for (xmlNodePtr c = root->children; c; c = c->next) {
        ptap_vmeta_nic nic;

        if (c->type == XML_TEXT_NODE || c->type == XML_COMMENT_NODE)
            continue;
        if (!is_element(c, "nic") || (c->ns && !in_our_ns(c)))
            return ptap_error_set(err, -EINVAL, EX_DATAERR,
                                  "ptap metadata: unexpected element <%.32s> in <nics>",
                                  c->name ? (const char *) c->name : "?");
        if (ret->n >= PTAP_VMETA_NICS_MAX)
            return ptap_error_set(err, -E2BIG, EX_DATAERR,
                                  "ptap metadata: more than %d NICs", PTAP_VMETA_NICS_MAX);
        r = parse_nic(c, &nic, err);
        if (r < 0)
            return r;
        for (size_t i = 0; i < ret->n; i++)
            if (strcmp(ret->nics[i].tap, nic.tap) == 0)
                return ptap_error_set(err, -EINVAL, EX_DATAERR,
                                      "ptap metadata: tap '%s' is named twice", nic.tap);
        ret->nics[ret->n++] = nic;
    }
    return 0;
}

static int read_doc(const char *xml, size_t len, const char *what, xmlDocPtr *ret, ptap_error *err)
{
    if (len > PTAP_VMETA_XML_MAX)
        return ptap_error_set(err, -E2BIG, EX_DATAERR, "%s is larger than %u bytes", what,
                              PTAP_VMETA_XML_MAX);
    /* No network, no entity substitution (the default): what the XML
     * names outside itself is never fetched. */
    *ret = xmlReadMemory(xml, (int) len, what, NULL, XML_FLAGS);
    if (!*ret || !xmlDocGetRootElement(*ret))
        return ptap_error_set(err, -EBADMSG, EX_DATAERR, "%s is not well-formed XML", what);
    return 0;
}

int ptap_vmeta_parse(const char *xml, size_t len, ptap_vmeta *ret, ptap_error *err)
{
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
    xmlNodePtr root;
    int r;

    *ret = (ptap_vmeta) { 0 };
    r = read_doc(xml, len, "ptap metadata", &doc, err);
    if (r < 0)
        return r;
    root = xmlDocGetRootElement(doc);
    /* libvirt hands the element back without its namespace (it found it
     * by that namespace); the domain XML shows it with it. */
    if (!is_element(root, "nics") || (root->ns && !in_our_ns(root)))
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "ptap metadata: the root element is not <nics> in %s", PTAP_VMETA_NS);
    return parse_nics(root, ret, err);
}

/* The <interface> of the domain's @devices whose target dev is @tap. */
static xmlNodePtr find_iface(xmlNodePtr devices, const char *tap)
{
    for (xmlNodePtr c = devices ? devices->children : NULL; c; c = c->next) {
        xmlNodePtr t;
        _cleanup_(xmlFreep) xmlChar *dev = NULL;

        if (!is_element(c, "interface") || c->ns)
            continue;
        t = child_named(c, "target");
        dev = t ? xmlGetNoNsProp(t, BAD_CAST "dev") : NULL;
        if (dev && strcmp((const char *) dev, tap) == 0)
            return c;
    }
    return NULL;
}

static int iface_facts(xmlNodePtr iface, const char *tap, ptap_vmeta_iface *out, ptap_error *err)
{
    char type[16], managed[8];
    const char *why;
    xmlNodePtr n;

    *out = (ptap_vmeta_iface) { 0 };
    if (attr_copy(iface, "type", type, sizeof(type)) <= 0 || strcmp(type, "ethernet") != 0)
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "the interface on tap '%s' is not of type 'ethernet': libvirt "
                              "makes that tap itself", tap);
    n = child_named(iface, "target");
    if (attr_copy(n, "managed", managed, sizeof(managed)) <= 0 || strcmp(managed, "no") != 0)
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "the interface on tap '%s' lacks managed='no': libvirt would "
                              "make that tap itself", tap);
    n = child_named(iface, "alias");
    if (n && (attr_copy(n, "name", out->alias, sizeof(out->alias)) < 0 ||
              (*out->alias && ptap_qemu_id_check(out->alias, &why) < 0)))
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "the interface on tap '%s' has an invalid alias", tap);
    n = child_named(iface, "mac");
    if (n) {
        uint8_t mac[PTAP_MAC_LEN];

        if (attr_copy(n, "address", out->mac, sizeof(out->mac)) < 0 ||
            (*out->mac && ptap_mac_parse(out->mac, mac, &why) < 0))
            return ptap_error_set(err, -EINVAL, EX_DATAERR,
                                  "the interface on tap '%s' has an invalid MAC", tap);
    }
    n = child_named(iface, "model");
    if (n && attr_copy(n, "type", out->model, sizeof(out->model)) < 0)
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "the interface on tap '%s' has an invalid model", tap);
    return 0;
}

/* The text of @n into @buf, whitespace around it dropped: 0, -EINVAL
 * when it does not fit. */
static int text_copy(xmlNodePtr n, char *buf, size_t size)
{
    _cleanup_(xmlFreep) xmlChar *t = xmlNodeGetContent(n);
    const char *s = t ? (const char *) t : "";
    size_t len;

    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        len--;
    if (len >= size)
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

int ptap_vmeta_domain_parse(const char *xml, size_t len, ptap_vmeta_domain *ret, ptap_error *err)
{
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
    xmlNodePtr root, n, metadata = NULL, devices = NULL, mine = NULL;
    ptap_vmeta all;
    int r;

    memset(ret, 0, sizeof(*ret));
    r = read_doc(xml, len, "the domain XML", &doc, err);
    if (r < 0)
        return r;
    root = xmlDocGetRootElement(doc);
    if (!is_element(root, "domain") || root->ns)
        return ptap_error_set(err, -EINVAL, EX_DATAERR, "the domain XML has no <domain> root");
    n = child_named(root, "name");
    if (!n || text_copy(n, ret->name, sizeof(ret->name)) < 0 || !*ret->name ||
        strchr(ret->name, '/'))
        return ptap_error_set(err, -EINVAL, EX_DATAERR, "the domain XML has no valid <name>");
    n = child_named(root, "uuid");
    if (!n || text_copy(n, ret->uuid, sizeof(ret->uuid)) < 0 || !ptap_is_uuid(ret->uuid))
        return ptap_error_set(err, -EINVAL, EX_DATAERR, "the domain XML of '%s' has no valid <uuid>",
                              ret->name);
    metadata = child_named(root, "metadata");
    devices = child_named(root, "devices");
    for (n = metadata ? metadata->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && in_our_ns(n)) {
            if (mine)
                return ptap_error_set(err, -EINVAL, EX_DATAERR,
                                      "domain '%s' carries ptap metadata twice", ret->name);
            mine = n;
        }
    for (n = root->children; n; n = n->next) {
        char model[8], type[16];
        xmlNodePtr l;

        if (!is_element(n, "seclabel") || n->ns ||
            attr_copy(n, "model", model, sizeof(model)) <= 0 || strcmp(model, "dac") != 0)
            continue;
        l = child_named(n, "label");
        if (l && text_copy(l, ret->dac_label, sizeof(ret->dac_label)) < 0)
            return ptap_error_set(err, -EINVAL, EX_DATAERR,
                                  "the DAC label of domain '%s' is too long", ret->name);
        ret->dac_static = attr_copy(n, "type", type, sizeof(type)) > 0 && strcmp(type, "static") == 0;
        break;
    }
    if (!mine)
        return 0;
    if (!is_element(mine, "nics"))
        return ptap_error_set(err, -EINVAL, EX_DATAERR,
                              "the ptap metadata of domain '%s' is not a <nics> element", ret->name);
    r = parse_nics(mine, &all, err);
    if (r < 0)
        return r;
    ret->has_meta = true;
    for (size_t i = 0; i < all.n; i++) {
        xmlNodePtr iface = find_iface(devices, all.nics[i].tap);

        if (!iface) {
            ret->n_stale++;
            continue;
        }
        r = iface_facts(iface, all.nics[i].tap, &ret->iface[ret->meta.n], err);
        if (r < 0)
            return r;
        ret->meta.nics[ret->meta.n++] = all.nics[i];
    }
    return 0;
}

int ptap_vmeta_status_job(const char *xml, size_t len, char *buf, size_t size)
{
    _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
    xmlNodePtr root;

    if (read_doc(xml, len, "libvirt's status XML", &doc, NULL) < 0)
        return -EBADMSG;
    root = xmlDocGetRootElement(doc);
    if (!is_element(root, "domstatus"))
        return -EBADMSG;
    for (xmlNodePtr n = root->children; n; n = n->next) {
        int r;

        if (!is_element(n, "job"))
            continue;
        r = attr_copy(n, "async", buf, size);
        if (r < 0)
            return -EBADMSG;
        if (r == 0)
            snprintf(buf, size, "none");
        return 0;
    }
    return -ENODATA;
}
