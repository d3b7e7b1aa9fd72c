/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the NIC model (src/lib/nic.c): golden files of everything ptap
 * sends QEMU and libvirt for a NIC, in the style of libvirt's qemuxml2argv
 * tests; a table of refusals; the model table, ids, MACs; QEMU's error texts
 * and qom-list answers.
 *
 * Golden files, tests/data/nic/ (PTAP_TESTDATA, set by ctest, names
 * tests/data). CASE.in describes one NIC, one KEY=VALUE a line ('#' starts
 * a comment):
 *   tap=NAME  mac=MAC  model=M  queues=N  vhost=on|off  vlan=V  bus=BUS
 *   id=ID                   ptap's ids, derived for each dialect by
 *                           ptap_nic_ids() ("nd-ID", libvirt's "ua-ID"), or
 *   netdev=ID device=ID     the ids as they are, for every dialect
 * and the test builds from it
 *   CASE.qmp.json    QMP netdev_add and device_add, one command a line
 *   CASE.hmp         HMP netdev_add and device_add lines (new dialect)
 *   CASE.legacy.hmp  host_net_add and pci_add (legacy dialect; VLAN 0 when
 *                    the case names none)
 *   CASE.xml         libvirt's <interface type='ethernet'>
 * comparing each with its file. A dialect that refuses the NIC gives the
 * line "refused: CODE: WHY" instead, so the files document refusals too.
 *
 * With PTAP_TEST_REGENERATE=1 in the environment (PTAP_REGENERATE=1, the
 * journal test's switch, works too) the test rewrites the output files from
 * the code instead of comparing: review the diff before committing it. A new
 * case is a new CASE.in plus a line in golden_cases[], then a regeneration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmp.h"
#include "nic.h"
#include "util.h"
#include "validate.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)

static const char *data_dir;

static bool regenerate(void)
{
    const char *a = getenv("PTAP_TEST_REGENERATE"), *b = getenv("PTAP_REGENERATE");

    return (a && strcmp(a, "1") == 0) || (b && strcmp(b, "1") == 0);
}

static char *read_text(const char *path)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t size = 0;

    if (!f)
        return NULL;
    if (getdelim(&buf, &size, '\0', f) < 0) {
        free(buf);
        return strdup("");
    }
    return buf;
}

static void write_text(const char *path, const char *text)
{
    _cleanup_fclose_ FILE *f = fopen(path, "we");

    if (!f || fputs(text, f) < 0)
        fail_msg("cannot write %s", path);
}

/* ---- golden files ---- */

/* The cases, in the order of tests/data/nic/ (a missing file fails). */
static const char *const golden_cases[] = {
    "default-virtio", /* virtio-net-pci, derived ids */
    "e1000",          /* e1000; an upper-case MAC comes out normalised */
    "rtl8139",
    "multi-queue",    /* queues=4: queues=4 / mq=on,vectors=10 / <driver queues='4'> */
    "vhost",          /* vhost=on, one queue */
    "vhost-multi-queue",
    "custom-ids",     /* ids and a MAC of the caller's own */
    "ua-kept",        /* an id already "ua-..." is not prefixed again for libvirt */
    "xml-escape",     /* a tap name the kernel takes but XML must escape */
    "legacy-vlan",    /* legacy on VLAN 3; libvirt refuses a non-"ua-" alias */
    "comma-tap",      /* "," in a tap name: ",," in HMP and legacy text, as is in QMP and XML */
    "root-port",      /* bus=pci.3: bus= for QEMU, <address bus='0x03'> for libvirt, none legacy */
};

/* One NIC as a .in file describes it. */
typedef struct nic_in {
    char *tap, *id, *netdev, *device, *model, *mac, *bus;
    unsigned queues;
    bool vhost;
    int vlan;
} nic_in;

static void nic_in_clear(nic_in *in)
{
    free(in->tap);
    free(in->id);
    free(in->netdev);
    free(in->device);
    free(in->model);
    free(in->mac);
    free(in->bus);
}

static void parse_in(const char *path, const char *text, nic_in *in)
{
    const char *p = text;
    unsigned lineno = 0;

    *in = (nic_in) { .vlan = -1 };
    while (*p) {
        size_t len = strcspn(p, "\n");
        _cleanup_free_ char *line = strndup(p, len);
        char *eq, *key, *value, **slot = NULL;
        uint64_t n;

        p += len;
        if (*p)
            p++;
        lineno++;
        assert_non_null(line);
        if (!line[0] || line[0] == '#')
            continue;
        eq = strchr(line, '=');
        if (!eq)
            fail_msg("%s:%u: not KEY=VALUE: '%s'", path, lineno, line);
        *eq = '\0';
        key = line;
        value = eq + 1;
        if (strcmp(key, "tap") == 0)
            slot = &in->tap;
        else if (strcmp(key, "id") == 0)
            slot = &in->id;
        else if (strcmp(key, "netdev") == 0)
            slot = &in->netdev;
        else if (strcmp(key, "device") == 0)
            slot = &in->device;
        else if (strcmp(key, "model") == 0)
            slot = &in->model;
        else if (strcmp(key, "mac") == 0)
            slot = &in->mac;
        else if (strcmp(key, "bus") == 0)
            slot = &in->bus;
        else if (strcmp(key, "queues") == 0 && ptap_parse_uint(value, 0, 100000, &n) == 0)
            in->queues = (unsigned) n;
        else if (strcmp(key, "vlan") == 0 && ptap_parse_uint(value, 0, 100000, &n) == 0)
            in->vlan = (int) n;
        else if (strcmp(key, "vhost") == 0 && (strcmp(value, "on") == 0 || strcmp(value, "off") == 0))
            in->vhost = strcmp(value, "on") == 0;
        else
            fail_msg("%s:%u: bad line '%s=%s'", path, lineno, key, value);
        if (slot) {
            free(*slot);
            *slot = strdup(value);
            assert_non_null(*slot);
        }
    }
    if (in->id && (in->netdev || in->device))
        fail_msg("%s: give id=, or netdev= and device=, not both", path);
}

/* The NIC of @in for @dialect, checked; "" or a "refused: ..." line in @out. */
static int nic_for(const nic_in *in, ptap_nic_dialect dialect, ptap_nic *nic,
                   char dev[PTAP_QEMU_ID_MAX], char net[PTAP_QEMU_ID_MAX], char *out, size_t size)
{
    const char *why = "bad id";
    int r = 0;

    *nic = (ptap_nic) PTAP_NIC_INIT;
    nic->tap = in->tap;
    nic->model = in->model;
    nic->mac = in->mac;
    nic->queues = in->queues;
    nic->vhost = in->vhost;
    nic->vlan = in->vlan;
    nic->bus = in->bus;
    if (in->id) {
        r = ptap_nic_ids(dialect, in->id, dev, net);
        nic->device_id = dev;
        nic->netdev_id = net;
    } else {
        nic->device_id = in->device;
        nic->netdev_id = in->netdev;
    }
    if (r == 0)
        r = ptap_nic_check(nic, dialect, &why);
    if (r < 0)
        snprintf(out, size, "refused: %s: %s\n", strerrorname_np(-r), why);
    else
        out[0] = '\0';
    return r;
}

/* Append @line and a newline to the malloc'ed *@text. */
static void append_line(char **text, const char *line)
{
    char *t = NULL;

    assert_true(asprintf(&t, "%s%s\n", *text ? *text : "", line) >= 0);
    free(*text);
    *text = t;
}

static void append_qmp(char **text, const char *cmd, json_object *args)
{
    _cleanup_json_ json_object *o = json_object_new_object();

    assert_non_null(o);
    json_object_object_add(o, "execute", json_object_new_string(cmd));
    json_object_object_add(o, "arguments", json_object_get(args));
    append_line(text, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

static char *build_qmp(const nic_in *in)
{
    char dev[PTAP_QEMU_ID_MAX], net[PTAP_QEMU_ID_MAX], refused[256];
    _cleanup_json_ json_object *nd = NULL, *da = NULL;
    char *text = NULL;
    ptap_nic nic;

    if (nic_for(in, PTAP_NIC_NEW, &nic, dev, net, refused, sizeof(refused)) < 0)
        return strdup(refused);
    assert_int_equal(ptap_nic_qmp_netdev_add(&nic, &nd), 0);
    assert_int_equal(ptap_nic_qmp_device_add(&nic, &da), 0);
    append_qmp(&text, "netdev_add", nd);
    append_qmp(&text, "device_add", da);
    return text;
}

static char *build_hmp(const nic_in *in)
{
    char dev[PTAP_QEMU_ID_MAX], net[PTAP_QEMU_ID_MAX], refused[256];
    _cleanup_free_ char *a = NULL, *b = NULL;
    char *text = NULL;
    ptap_nic nic;

    if (nic_for(in, PTAP_NIC_NEW, &nic, dev, net, refused, sizeof(refused)) < 0)
        return strdup(refused);
    assert_int_equal(ptap_nic_hmp_netdev_add(&nic, &a), 0);
    assert_int_equal(ptap_nic_hmp_device_add(&nic, &b), 0);
    /* Whatever was built is one line the HMP client accepts. */
    assert_int_equal(ptap_hmp_line_check(a), 0);
    assert_int_equal(ptap_hmp_line_check(b), 0);
    append_line(&text, a);
    append_line(&text, b);
    return text;
}

static char *build_legacy(const nic_in *in)
{
    char dev[PTAP_QEMU_ID_MAX], net[PTAP_QEMU_ID_MAX], refused[256];
    _cleanup_free_ char *a = NULL, *b = NULL;
    int vlan = in->vlan >= 0 ? in->vlan : 0;
    char *text = NULL;
    ptap_nic nic;

    if (nic_for(in, PTAP_NIC_LEGACY, &nic, dev, net, refused, sizeof(refused)) < 0)
        return strdup(refused);
    assert_int_equal(ptap_nic_hmp_host_net_add(&nic, vlan, &a), 0);
    assert_int_equal(ptap_nic_hmp_pci_add(&nic, vlan, &b), 0);
    assert_int_equal(ptap_hmp_line_check(a), 0);
    assert_int_equal(ptap_hmp_line_check(b), 0);
    append_line(&text, a);
    append_line(&text, b);
    return text;
}

static char *build_xml(const nic_in *in)
{
    char dev[PTAP_QEMU_ID_MAX], net[PTAP_QEMU_ID_MAX], refused[256];
    _cleanup_free_ char *xml = NULL;
    char *text = NULL;
    ptap_nic nic;

    if (nic_for(in, PTAP_NIC_LIBVIRT, &nic, dev, net, refused, sizeof(refused)) < 0)
        return strdup(refused);
    assert_int_equal(ptap_nic_libvirt_xml(&nic, &xml), 0);
    append_line(&text, xml);
    return text;
}

static const struct {
    const char *suffix;
    char *(*build)(const nic_in *in);
} golden_outputs[] = {
    { ".qmp.json", build_qmp },
    { ".hmp", build_hmp },
    { ".legacy.hmp", build_legacy },
    { ".xml", build_xml },
};

static void golden_one(const char *name)
{
    char path[4200];
    _cleanup_free_ char *text = NULL;
    nic_in in;

    snprintf(path, sizeof(path), "%s/nic/%s.in", data_dir, name);
    text = read_text(path);
    if (!text)
        fail_msg("cannot read %s", path);
    parse_in(path, text, &in);
    for (size_t k = 0; k < ARRAY_SIZE(golden_outputs); k++) {
        _cleanup_free_ char *got = golden_outputs[k].build(&in), *want = NULL;

        assert_non_null(got);
        snprintf(path, sizeof(path), "%s/nic/%s%s", data_dir, name, golden_outputs[k].suffix);
        if (regenerate()) {
            write_text(path, got);
            continue;
        }
        want = read_text(path);
        if (!want)
            fail_msg("cannot read %s (PTAP_TEST_REGENERATE=1 writes it)", path);
        if (strcmp(want, got) != 0)
            fail_msg("%s differs; built:\n%s", path, got);
    }
    nic_in_clear(&in);
}

static void test_golden(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(golden_cases); i++) {
        print_message("  golden: %s\n", golden_cases[i]);
        golden_one(golden_cases[i]);
    }
}

/* ---- refusals ---- */

struct refusal {
    const char *name;
    ptap_nic_dialect dialect;
    ptap_nic nic;
    int r;
};

/* A table reads best as "the good NIC, with this field changed". */
#pragma GCC diagnostic ignored "-Woverride-init"
#ifdef __clang__
#pragma clang diagnostic ignored "-Winitializer-overrides"
#endif
#define NIC(...) { .vlan = -1, .pci_slot = -1, __VA_ARGS__ }
#define GOOD .tap = "ptap0", .netdev_id = "net0", .device_id = "dev0", .mac = "52:54:00:12:34:56"
#define GOOD_LV .tap = "ptap0", .netdev_id = "hostua-n", .device_id = "ua-n", \
                .mac = "52:54:00:12:34:56"
#define NEW PTAP_NIC_NEW
#define LEGACY PTAP_NIC_LEGACY
#define LIBVIRT PTAP_NIC_LIBVIRT

static const struct refusal refusals[] = {
    /* the model */
    { "unknown model", NEW, NIC(GOOD, .model = "ne2k_pci"), -EINVAL },
    { "libvirt's name is not ptap's", NEW, NIC(GOOD, .model = "virtio"), -EINVAL },
    { "empty model", NEW, NIC(GOOD, .model = ""), -EINVAL },
    { "option in model", NEW, NIC(GOOD, .model = "e1000,addr=5"), -EINVAL },
    { "unknown model (libvirt)", LIBVIRT, NIC(GOOD_LV, .model = "ne2k_pci"), -EINVAL },
    /* queues and vhost */
    { "queues at the limit", NEW, NIC(GOOD, .queues = PTAP_NIC_MAX_QUEUES), 0 },
    { "queues over the limit", NEW, NIC(GOOD, .queues = PTAP_NIC_MAX_QUEUES + 1), -EINVAL },
    { "queues over the limit (libvirt)", LIBVIRT, NIC(GOOD_LV, .queues = PTAP_NIC_MAX_QUEUES + 1),
      -EINVAL },
    { "tun's own limit", LIBVIRT, NIC(GOOD_LV, .queues = 257), -EINVAL },
    { "queues on e1000", NEW, NIC(GOOD, .model = "e1000", .queues = 2), -EINVAL },
    { "queues on e1000 (libvirt)", LIBVIRT, NIC(GOOD_LV, .model = "e1000", .queues = 2), -EINVAL },
    { "vhost on rtl8139", LIBVIRT, NIC(GOOD_LV, .model = "rtl8139", .vhost = true), -EINVAL },
    { "vhost on e1000", NEW, NIC(GOOD, .model = "e1000", .vhost = true), -EINVAL },
    { "legacy: queues", LEGACY, NIC(GOOD, .queues = 2), PTAP_NIC_E_DIALECT },
    { "legacy: vhost", LEGACY, NIC(GOOD, .vhost = true), PTAP_NIC_E_DIALECT },
    { "legacy: one queue is fine", LEGACY, NIC(GOOD, .queues = 1), 0 },
    /* ids */
    { "option in netdev id", NEW, NIC(GOOD, .netdev_id = "n,script=/x"), -EINVAL },
    { "comma in device id", NEW, NIC(GOOD, .device_id = "d,romfile=/etc/shadow"), -EINVAL },
    { "= in device id", NEW, NIC(GOOD, .device_id = "d=1"), -EINVAL },
    { "= in netdev id (legacy)", LEGACY, NIC(GOOD, .netdev_id = "n=1"), -EINVAL },
    { "comma in alias", LIBVIRT, NIC(GOOD_LV, .device_id = "ua-n,x=y"), -EINVAL },
    { "newline in id", NEW, NIC(GOOD, .device_id = "d\ndevice_add x"), -EINVAL },
    { "id starting with digit", NEW, NIC(GOOD, .netdev_id = "0net"), -EINVAL },
    { "alias starting with digit", LIBVIRT, NIC(GOOD_LV, .device_id = "1n"), -EINVAL },
    { "empty id", NEW, NIC(GOOD, .device_id = ""), -EINVAL },
    { "id too long", NEW,
      NIC(GOOD, .device_id = "a123456789012345678901234567890123456789012345678901234567890123"),
      -EINVAL },
    { "no device id", NEW, NIC(GOOD, .device_id = NULL), -EINVAL },
    { "no netdev id", NEW, NIC(GOOD, .netdev_id = NULL), -EINVAL },
    { "no alias", LIBVIRT, NIC(GOOD_LV, .device_id = NULL), -EINVAL },
    { "alias without ua-", LIBVIRT, NIC(GOOD_LV, .device_id = "n1"), -EINVAL },
    { "libvirt names the netdev itself", LIBVIRT, NIC(GOOD_LV, .netdev_id = NULL), 0 },
    { "legacy needs no device id", LEGACY, NIC(GOOD, .device_id = NULL), 0 },
    { "legacy needs a netdev id", LEGACY, NIC(GOOD, .netdev_id = NULL), -EINVAL },
    /* the MAC */
    { "option after MAC", NEW, NIC(GOOD, .mac = "52:54:00:12:34:56,id=x"), -EINVAL },
    { "multicast MAC", NEW, NIC(GOOD, .mac = "01:00:5e:00:00:01"), -EINVAL },
    { "broadcast MAC", LIBVIRT, NIC(GOOD_LV, .mac = "ff:ff:ff:ff:ff:ff"), -EINVAL },
    { "zero MAC", NEW, NIC(GOOD, .mac = "00:00:00:00:00:00"), -EINVAL },
    { "short MAC", LIBVIRT, NIC(GOOD_LV, .mac = "52:54:00:00:00"), -EINVAL },
    { "short MAC (new)", NEW, NIC(GOOD, .mac = "52:54:00:12:34"), -EINVAL },
    { "no MAC", LIBVIRT, NIC(GOOD_LV, .mac = NULL), -EINVAL },
    /* the tap */
    { "comma in tap", NEW, NIC(GOOD, .tap = "ptap0,script=/bin/sh"), -EINVAL },
    { "space in tap", NEW, NIC(GOOD, .tap = "ptap0 x"), -EINVAL },
    { "tap too long", NEW, NIC(GOOD, .tap = "ptap0123456789abc"), -EINVAL },
    { "tap of IFNAMSIZ bytes", LIBVIRT, NIC(GOOD_LV, .tap = "0123456789abcdef"), -EINVAL },
    { "tap template", NEW, NIC(GOOD, .tap = "ptap%d"), -EINVAL },
    { "tap template (libvirt)", LIBVIRT, NIC(GOOD_LV, .tap = "ptap%d"), -EINVAL },
    { "no tap", NEW, NIC(GOOD, .tap = NULL), -EINVAL },
    { "no tap (libvirt)", LIBVIRT, NIC(GOOD_LV, .tap = NULL), -EINVAL },
    /* the VLAN */
    { "VLAN out of range", NEW, NIC(GOOD, .vlan = 5000), -EINVAL },
    { "VLAN out of range (legacy)", LEGACY, NIC(GOOD, .vlan = PTAP_NIC_MAX_VLAN + 1), -EINVAL },
    { "VLAN below -1", LEGACY, NIC(GOOD, .vlan = -2), -EINVAL },
    { "VLAN at the limit", LEGACY, NIC(GOOD, .vlan = PTAP_NIC_MAX_VLAN), 0 },
    /* the bus */
    { "a root port", NEW, NIC(GOOD, .bus = "rp1"), 0 },
    { "option in bus", NEW, NIC(GOOD, .bus = "rp1,addr=5"), -EINVAL },
    { "empty bus", NEW, NIC(GOOD, .bus = ""), -EINVAL },
    { "legacy: no bus", LEGACY, NIC(GOOD, .bus = "pci.0"), PTAP_NIC_E_DIALECT },
    { "libvirt: an alias pci.N", LIBVIRT, NIC(GOOD_LV, .bus = "pci.7"), 0 },
    { "libvirt: pci.255", LIBVIRT, NIC(GOOD_LV, .bus = "pci.255"), 0 },
    { "libvirt: not pci.N", LIBVIRT, NIC(GOOD_LV, .bus = "rp1"), -EINVAL },
    { "libvirt: pci.0 is the root", LIBVIRT, NIC(GOOD_LV, .bus = "pci.0"), -EINVAL },
    { "libvirt: pci.256", LIBVIRT, NIC(GOOD_LV, .bus = "pci.256"), -EINVAL },
    { "libvirt: pci.x", LIBVIRT, NIC(GOOD_LV, .bus = "pci.x"), -EINVAL },
    /* the dialect */
    { "unknown dialect", (ptap_nic_dialect) 7, NIC(GOOD), -EINVAL },
};

static void test_refusals(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(refusals); i++) {
        ptap_nic nic = refusals[i].nic;
        const char *why = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL;
        int r;

        print_message("  case: %s\n", refusals[i].name);
        r = ptap_nic_check(&nic, refusals[i].dialect, &why);
        assert_int_equal(r, refusals[i].r);
        assert_int_equal(nic.checked.ok, r == 0);
        if (r < 0) {
            assert_non_null(why);
            /* Nothing builds from a refused NIC. */
            assert_int_equal(ptap_nic_hmp_netdev_add(&nic, &a), -EINVAL);
            assert_int_equal(ptap_nic_libvirt_xml(&nic, &b), -EINVAL);
            assert_int_equal(ptap_nic_hmp_pci_add(&nic, 0, &b), -EINVAL);
            assert_null(a);
            assert_null(b);
        }
    }
    assert_int_equal(ptap_nic_check(NULL, PTAP_NIC_NEW, NULL), -EINVAL);
}

/* Builders take only a NIC checked for their own dialect, and only what the
 * check saw. */
static void test_builders_need_check(void **state)
{
    ptap_nic nic = NIC(GOOD);
    _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
    json_object *j = NULL;

    assert_int_equal(ptap_nic_hmp_netdev_add(&nic, &a), -EINVAL);
    assert_int_equal(ptap_nic_qmp_netdev_add(&nic, &j), -EINVAL);
    assert_int_equal(ptap_nic_qmp_device_add(&nic, &j), -EINVAL);
    assert_int_equal(ptap_nic_hmp_netdev_add(NULL, &a), -EINVAL);
    assert_null(j);

    /* Checked for the legacy dialect: the new dialect's builders refuse. */
    assert_int_equal(ptap_nic_check(&nic, PTAP_NIC_LEGACY, NULL), 0);
    assert_int_equal(ptap_nic_hmp_device_add(&nic, &a), -EINVAL);
    assert_int_equal(ptap_nic_libvirt_xml(&nic, &a), -EINVAL);
    assert_null(a);
    /* ... and its own want a VLAN in range. */
    assert_int_equal(ptap_nic_hmp_host_net_add(&nic, -1, &a), -EINVAL);
    assert_int_equal(ptap_nic_hmp_pci_add(&nic, PTAP_NIC_MAX_VLAN + 1, &a), -EINVAL);
    assert_null(a);
    assert_int_equal(ptap_nic_hmp_host_net_add(&nic, PTAP_NIC_MAX_VLAN, &a), 0);
    assert_string_equal(a, "host_net_add tap vlan=4095,name=net0,ifname=ptap0,script=no,downscript=no");

    /* A field changed after the check never reaches QEMU. */
    assert_int_equal(ptap_nic_check(&nic, PTAP_NIC_NEW, NULL), 0);
    nic.tap = "ptap0,script=/bin/sh";
    nic.device_id = "d,romfile=/etc/shadow";
    nic.queues = 1000;
    assert_int_equal(ptap_nic_hmp_netdev_add(&nic, &b), 0);
    assert_string_equal(b, "netdev_add tap,id=net0,ifname=ptap0,script=no,downscript=no");
    assert_int_equal(ptap_nic_hmp_device_add(&nic, &c), 0);
    assert_string_equal(c, "device_add virtio-net-pci,netdev=net0,id=dev0,mac=52:54:00:12:34:56");

    /* A failed check takes the earlier one back. */
    assert_int_equal(ptap_nic_check(&nic, PTAP_NIC_NEW, NULL), -EINVAL);
    free(b);
    b = NULL;
    assert_int_equal(ptap_nic_hmp_netdev_add(&nic, &b), -EINVAL);
    assert_null(b);
}

static void test_check_ids(void **state)
{
    static const struct {
        ptap_nic_dialect d;
        ptap_nic nic;
        int r;
    } cases[] = {
        /* Tap, model and MAC may be unknown to a recovering caller. */
        { NEW, NIC(.netdev_id = "nd-a", .device_id = "a"), 0 },
        { NEW, NIC(.netdev_id = "nd-a"), -EINVAL },
        { NEW, NIC(.device_id = "a"), -EINVAL },
        { NEW, NIC(.netdev_id = "nd-a", .device_id = "a,b"), -EINVAL },
        { LEGACY, NIC(.netdev_id = "hn1", .vlan = 2, .pci_slot = 5), 0 },
        { LEGACY, NIC(.netdev_id = "hn1", .pci_slot = PTAP_NIC_MAX_PCI_SLOT + 1), -EINVAL },
        { LEGACY, NIC(.netdev_id = "hn1", .vlan = PTAP_NIC_MAX_VLAN + 1), -EINVAL },
        { LEGACY, NIC(.netdev_id = "hn1", .pci_slot = -2), -EINVAL },
        { LIBVIRT, NIC(.device_id = "ua-a"), 0 },
        { LIBVIRT, NIC(.device_id = "a"), -EINVAL },
    };
    const char *why = NULL;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        print_message("  ids case %zu\n", i);
        assert_int_equal(ptap_nic_check_ids(&cases[i].nic, cases[i].d, &why), cases[i].r);
    }
    assert_int_equal(ptap_nic_check_ids(NULL, NEW, &why), -EINVAL);
}

/* ---- the model table, ids, MACs ---- */

static void test_models(void **state)
{
    const ptap_nic_model *m;

    assert_int_equal(ptap_nic_model_count(), 3);
    m = ptap_nic_model_find(NULL);
    assert_non_null(m);
    assert_string_equal(m->name, "virtio-net-pci");
    assert_true(m->virtio);
    assert_string_equal(m->driver, "virtio-net-pci");
    assert_string_equal(m->legacy, "virtio");
    assert_string_equal(m->libvirt, "virtio");
    assert_ptr_equal(ptap_nic_model_find("virtio-net-pci"), m);
    m = ptap_nic_model_find("e1000");
    assert_non_null(m);
    assert_false(m->virtio);
    assert_non_null(ptap_nic_model_find("rtl8139"));
    assert_null(ptap_nic_model_find("virtio"));
    assert_null(ptap_nic_model_find(""));
    assert_null(ptap_nic_model_find("E1000"));
    assert_null(ptap_nic_model_get(ptap_nic_model_count()));
    /* The names in messages are the table's. */
    for (size_t i = 0; i < ptap_nic_model_count(); i++)
        assert_non_null(strstr(PTAP_NIC_MODEL_NAMES, ptap_nic_model_get(i)->name));
}

static void test_ids(void **state)
{
    static const struct {
        ptap_nic_dialect d;
        const char *id, *dev, *net;
    } cases[] = {
        { NEW, "n1", "n1", "nd-n1" },
        { LEGACY, "n1", "n1", "nd-n1" },
        { NEW, "ua-n1", "ua-n1", "nd-ua-n1" },
        { LIBVIRT, "n1", "ua-n1", "hostua-n1" },
        { LIBVIRT, "ua-n1", "ua-n1", "hostua-n1" },
        { NEW, "n1,x", NULL, NULL },
        { NEW, "n=1", NULL, NULL },
        { LIBVIRT, "", NULL, NULL },
        { NEW, NULL, NULL, NULL },
        /* 60 bytes: fits "nd-", not "hostua-" */
        { NEW, "a12345678901234567890123456789012345678901234567890123456789", "a12345678901234567890123456789012345678901234567890123456789",
          "nd-a12345678901234567890123456789012345678901234567890123456789" },
        { LIBVIRT, "a12345678901234567890123456789012345678901234567890123456789", NULL, NULL },
        /* 61 bytes: "nd-" makes 64, one too many (never truncated) */
        { NEW, "ab12345678901234567890123456789012345678901234567890123456789", NULL, NULL },
        { (ptap_nic_dialect) 9, "n1", NULL, NULL },
    };
    char dev[PTAP_QEMU_ID_MAX], net[PTAP_QEMU_ID_MAX];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int r = ptap_nic_ids(cases[i].d, cases[i].id, dev, net);

        print_message("  ids: %s\n", strna(cases[i].id));
        if (!cases[i].dev) {
            assert_int_equal(r, -EINVAL);
            continue;
        }
        assert_int_equal(r, 0);
        assert_string_equal(dev, cases[i].dev);
        assert_string_equal(net, cases[i].net);
    }
}

static void test_macs(void **state)
{
    char a[PTAP_MAC_STRLEN], b[PTAP_MAC_STRLEN];
    uint8_t raw[PTAP_MAC_LEN];
    bool differ = false;

    assert_int_equal(ptap_nic_mac_random(a), 0);
    for (int i = 0; i < 8 && !differ; i++) {
        assert_int_equal(ptap_nic_mac_random(b), 0);
        assert_int_equal(strncmp(b, "52:54:00:", 9), 0);
        assert_int_equal(ptap_mac_parse(b, raw, NULL), 0);
        differ = strcmp(a, b) != 0;
    }
    assert_true(differ);
}

/* ---- what QEMU says back ---- */

static void test_classify(void **state)
{
    static const struct {
        const char *text;
        int r;
    } cases[] = {
        { "could not open /dev/net/tun: No such file or directory", PTAP_NIC_E_NOTUN },
        { "could not open /dev/net/tun: Operation not permitted", PTAP_NIC_E_NOTUN },
        { "could not open /dev/net/tun: Permission denied", PTAP_NIC_E_NOTUN },
        /* libvirt passing QEMU's words on */
        { "internal error: unable to execute QEMU command 'netdev_add': could not open "
          "/dev/net/tun: No such file or directory", PTAP_NIC_E_NOTUN },
        { "could not configure /dev/net/tun (ptap0): Operation not permitted", PTAP_NIC_E_TAPPERM },
        { "could not configure /dev/net/tun (ptap0): Operation not permitted\n"
          "adding host network device tap failed", PTAP_NIC_E_TAPPERM },
        { "could not configure /dev/net/tun (ptap0): Permission denied", PTAP_NIC_E_TAPPERM },
        { "could not configure /dev/net/tun (ptap0): Device or resource busy", PTAP_NIC_E_TAPBUSY },
        { "could not configure /dev/net/tun (ptap0): Invalid argument", PTAP_NIC_E_QEMU },
        { "Duplicate device ID 'd1'", PTAP_NIC_E_QEMU },
        { "invalid host network device foo", PTAP_NIC_E_QEMU },
        { "", PTAP_NIC_E_QEMU },
        { NULL, PTAP_NIC_E_QEMU },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        assert_int_equal(ptap_nic_classify_qemu_error(cases[i].text), cases[i].r);

    assert_true(ptap_nic_qemu_error_is_not_found(NULL, "Device 'd1' not found"));
    assert_true(ptap_nic_qemu_error_is_not_found("DeviceNotFound", "Device 'nd-x' not found"));
    assert_true(ptap_nic_qemu_error_is_not_found("DeviceNotFound", ""));
    assert_true(ptap_nic_qemu_error_is_not_found(NULL, "can't find device hn1 on VLAN 1"));
    assert_false(ptap_nic_qemu_error_is_not_found(NULL, "Duplicate device ID 'd1'"));
    assert_false(ptap_nic_qemu_error_is_not_found("GenericError", "Duplicate device ID 'd1'"));
    assert_false(ptap_nic_qemu_error_is_not_found(NULL, NULL));

    assert_true(ptap_nic_qemu_error_is_duplicate("Duplicate device ID 'd1'"));
    assert_true(ptap_nic_qemu_error_is_duplicate("Duplicate ID 'nd-x' for netdev"));
    assert_true(ptap_nic_qemu_error_is_duplicate("non unique alias detected: ua-x"));
    assert_true(ptap_nic_qemu_error_is_duplicate("netdev 'x' already exists"));
    assert_false(ptap_nic_qemu_error_is_duplicate("Device 'd1' not found"));
    assert_false(ptap_nic_qemu_error_is_duplicate(NULL));
}

static void test_qom_list(void **state)
{
    const char *qom = "type (string)\nd1 (child<virtio-net-pci>)\nd10x (child<e1000>)\n";
    _cleanup_json_ json_object *list = json_tokener_parse(
        "[{\"name\": \"type\", \"type\": \"string\"},"
        " {\"name\": \"d1\", \"type\": \"child<virtio-net-pci>\"},"
        " {\"name\": \"d10x\", \"type\": \"child<e1000>\"},"
        " {\"name\": \"link\", \"type\": \"link<virtio-net-pci>\"}, {\"bogus\": 1}, 7]");
    _cleanup_json_ json_object *obj = json_tokener_parse("{\"return\": []}");

    /* HMP's text */
    assert_true(ptap_nic_qom_list_has(qom, "d1"));
    assert_true(ptap_nic_qom_list_has(qom, "d10x"));
    assert_false(ptap_nic_qom_list_has(qom, "d10"));
    assert_false(ptap_nic_qom_list_has(qom, "type"));
    assert_false(ptap_nic_qom_list_has(qom, ""));
    assert_false(ptap_nic_qom_list_has(NULL, "d1"));
    /* QMP's list */
    assert_non_null(list);
    assert_int_equal(ptap_nic_qom_list_has_json(list, "d1"), 1);
    assert_int_equal(ptap_nic_qom_list_has_json(list, "d10x"), 1);
    assert_int_equal(ptap_nic_qom_list_has_json(list, "d10"), 0);
    assert_int_equal(ptap_nic_qom_list_has_json(list, "type"), 0);
    assert_int_equal(ptap_nic_qom_list_has_json(list, "link"), 0);
    assert_int_equal(ptap_nic_qom_list_has_json(obj, "d1"), -EBADMSG);
    assert_int_equal(ptap_nic_qom_list_has_json(NULL, "d1"), -EBADMSG);
}

static int setup(void **state)
{
    data_dir = getenv("PTAP_TESTDATA");
    if (!data_dir) {
        fprintf(stderr, "PTAP_TESTDATA is not set (run through ctest)\n");
        return -1;
    }
    return 0;
}

/* ---- q35 root ports ---- */

static void test_root_ports(void **state)
{
    static const char peripheral[] =
        "[{\"name\": \"type\", \"type\": \"string\"},"
        " {\"name\": \"x0\", \"type\": \"child<virtio-net-pci>\"},"
        " {\"name\": \"rp2\", \"type\": \"child<pcie-root-port>\"},"
        " {\"name\": \"pci.1\", \"type\": \"child<pcie-root-port>\"},"
        " {\"name\": \"old\", \"type\": \"child<ioh3420>\"},"
        " {\"name\": \"bad,id\", \"type\": \"child<pcie-root-port>\"},"
        " {\"name\": \"br\", \"type\": \"child<pci-bridge>\"}]";
    static const char busy[] =
        "[{\"name\": \"type\", \"type\": \"string\"},"
        " {\"name\": \"realized\", \"type\": \"bool\"},"
        " {\"name\": \"child[0]\", \"type\": \"link<virtio-net-pci>\"},"
        " {\"name\": \"hotplug-handler\", \"type\": \"link<hotplug-handler>\"}]";
    static const char idle[] =
        "[{\"name\": \"type\", \"type\": \"string\"},"
        " {\"name\": \"hotplug-handler\", \"type\": \"link<hotplug-handler>\"}]";
    _cleanup_json_ json_object *p = json_tokener_parse(peripheral), *b = json_tokener_parse(busy),
                               *i = json_tokener_parse(idle), *h = NULL;
    _cleanup_json_ json_object *notlist = json_object_new_object();
    char **ports = NULL;

    assert_int_equal(ptap_nic_qom_root_ports(p, &ports), 3);
    assert_string_equal(ports[0], "old");
    assert_string_equal(ports[1], "pci.1");
    assert_string_equal(ports[2], "rp2");
    assert_null(ports[3]);
    for (char **q = ports; *q; q++)
        free(*q);
    free(ports);
    assert_int_equal(ptap_nic_qom_root_ports(notlist, &ports), -EBADMSG);
    assert_int_equal(ptap_nic_qom_bus_is_free(b), 0);
    assert_int_equal(ptap_nic_qom_bus_is_free(i), 1);
    assert_int_equal(ptap_nic_qom_bus_is_free(notlist), -EBADMSG);

    /* HMP's text, read into the same form. */
    assert_int_equal(ptap_nic_qom_list_from_text("type (string)\r\nrp1 (child<pcie-root-port>)\r\n"
                                                 "child[0] (link<virtio-net-pci>)\r\n\r\n", &h), 0);
    assert_int_equal(json_object_array_length(h), 3);
    assert_int_equal(ptap_nic_qom_bus_is_free(h), 0);
    assert_int_equal(ptap_nic_qom_root_ports(h, &ports), 1);
    assert_string_equal(ports[0], "rp1");
    free(ports[0]);
    free(ports);

    assert_true(ptap_nic_qemu_error_is_no_hotplug("Bus 'pcie.0' does not support hotplugging"));
    assert_false(ptap_nic_qemu_error_is_no_hotplug("Bus 'nope' not found"));
    assert_false(ptap_nic_qemu_error_is_no_hotplug(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_builders_need_check),
        cmocka_unit_test(test_check_ids),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_macs),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_qom_list),
        cmocka_unit_test(test_root_ports),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
