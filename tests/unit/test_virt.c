/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of the libvirt room (src/lib/virt.c) that need no daemon:
 * the id scheme, methods, and — through libvirt's own test:///FILE driver —
 * domain lookup by name and UUID and the DAC owner from <seclabel>.
 * The <interface> XML and the models are nic.c's: tests/unit/test_nic.c
 * and tests/data/nic/. (Attach/detach need a real libvirtd:
 * tests/e2e/virt-*.sh.)
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
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "virt.h"

/* ---- ids and methods ---- */

static void test_ids(void **state)
{
    static const struct {
        ptap_virt_method m;
        const char *id, *dev, *net;
    } cases[] = {
        { PTAP_VIRT_DEVICE, "n1", "ua-n1", "hostua-n1" },
        { PTAP_VIRT_DEVICE, "ua-n1", "ua-n1", "hostua-n1" },
        { PTAP_VIRT_MONITOR, "n1", "n1", "nd-n1" },
        { PTAP_VIRT_MONITOR, "ua-n1", "ua-n1", "nd-ua-n1" },
        { PTAP_VIRT_DEVICE, "n1,x", NULL, NULL },
        { PTAP_VIRT_DEVICE, "", NULL, NULL },
        /* 60 chars: fits alone, not with "hostua-" */
        { PTAP_VIRT_DEVICE, "a12345678901234567890123456789012345678901234567890123456789", NULL,
          NULL },
        /* 61 chars: "nd-" makes 64, one too many */
        { PTAP_VIRT_MONITOR, "ab12345678901234567890123456789012345678901234567890123456789", NULL,
          NULL },
        { (ptap_virt_method) 7, "n1", NULL, NULL },
    };
    char dev[PTAP_QEMU_ID_MAX], net[PTAP_QEMU_ID_MAX];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int r = ptap_virt_ids(cases[i].m, cases[i].id, dev, net);

        if (!cases[i].dev) {
            assert_int_equal(r, -EINVAL);
            continue;
        }
        assert_int_equal(r, 0);
        assert_string_equal(dev, cases[i].dev);
        assert_string_equal(net, cases[i].net);
    }
    assert_int_equal(ptap_virt_ids(PTAP_VIRT_DEVICE, NULL, dev, net), -EINVAL);
}

static void test_methods(void **state)
{
    assert_int_equal(ptap_virt_nic_dialect(PTAP_VIRT_DEVICE), PTAP_NIC_LIBVIRT);
    assert_int_equal(ptap_virt_nic_dialect(PTAP_VIRT_MONITOR), PTAP_NIC_NEW);
    assert_int_equal(ptap_virt_method_from_string("device"), PTAP_VIRT_DEVICE);
    assert_int_equal(ptap_virt_method_from_string("monitor"), PTAP_VIRT_MONITOR);
    assert_int_equal(ptap_virt_method_from_string("qmp"), -EINVAL);
    assert_int_equal(ptap_virt_method_from_string(NULL), -EINVAL);
    assert_string_equal(ptap_virt_method_to_string(PTAP_VIRT_DEVICE), "device");
    assert_string_equal(ptap_virt_method_to_string(PTAP_VIRT_MONITOR), "monitor");
    assert_non_null(strstr(ptap_virt_strerror(PTAP_NIC_E_NOTUN), "cgroup_device_acl"));
    assert_string_equal(ptap_virt_strerror(-EHOSTDOWN), strerror(EHOSTDOWN));
}

static void test_default_uri(void **state)
{
    const char *saved = getenv("LIBVIRT_DEFAULT_URI");
    _cleanup_free_ char *keep = saved ? strdup(saved) : NULL;

    setenv("LIBVIRT_DEFAULT_URI", "test:///default", 1);
    assert_string_equal(ptap_virt_default_uri(), "test:///default");
    setenv("LIBVIRT_DEFAULT_URI", "", 1);
    assert_string_equal(ptap_virt_default_uri(),
                        geteuid() == 0 ? "qemu:///system" : "qemu:///session");
    unsetenv("LIBVIRT_DEFAULT_URI");
    assert_string_equal(ptap_virt_default_uri(),
                        geteuid() == 0 ? "qemu:///system" : "qemu:///session");
    if (keep)
        setenv("LIBVIRT_DEFAULT_URI", keep, 1);
}

/* ---- libvirt's test driver: lookup and DAC labels ---- */

static const char node_xml[] =
    "<node>\n"
    " <domain type='test'><name>numeric</name>"
    "  <uuid>11111111-2222-3333-4444-555555555555</uuid>"
    "  <memory>65536</memory><os><type>hvm</type></os>"
    "  <seclabel type='static' model='dac' relabel='no'><label>+64055:+107</label></seclabel>"
    " </domain>\n"
    " <domain type='test'><name>names</name><memory>65536</memory><os><type>hvm</type></os>"
    "  <seclabel type='static' model='dac' relabel='no'><label>root:daemon</label></seclabel>"
    " </domain>\n"
    " <domain type='test'><name>nouser</name><memory>65536</memory><os><type>hvm</type></os>"
    "  <seclabel type='static' model='dac' relabel='no'>"
    "<label>ptaptest-no-such-user:root</label></seclabel>"
    " </domain>\n"
    " <domain type='test'><name>nolabel</name><memory>65536</memory><os><type>hvm</type></os>"
    " </domain>\n"
    " <network><name>nat1</name><bridge name='ptbr0'/><forward mode='nat'/>"
    "<ip address='192.168.200.1' netmask='255.255.255.0'/></network>\n"
    " <network><name>host</name><forward mode='bridge'/><bridge name='br-host'/></network>\n"
    " <network><name>macv</name><forward mode='bridge'><interface dev='eth0'/></forward>"
    "</network>\n"
    " <network><name>priv</name><forward mode='private'><interface dev='eth0'/></forward>"
    "</network>\n"
    "</node>\n";

static char node_uri[4200];
static char node_path[4096];

static int node_setup(void **state)
{
    int fd;

    snprintf(node_path, sizeof(node_path), "%s/ptap-test-virt-XXXXXX.xml",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    fd = mkstemps(node_path, 4);
    if (fd < 0)
        return -1;
    if (write(fd, node_xml, sizeof(node_xml) - 1) != (ssize_t) sizeof(node_xml) - 1) {
        close(fd);
        return -1;
    }
    close(fd);
    snprintf(node_uri, sizeof(node_uri), "test://%s", node_path);
    return 0;
}

static int node_teardown(void **state)
{
    unlink(node_path);
    return 0;
}

static void test_lookup_owner(void **state)
{
    ptap_virt *v = NULL;
    _cleanup_free_ char *msg = NULL;
    uid_t u;
    gid_t g;

    assert_int_equal(ptap_virt_open(node_uri, &v, &msg), 0);
    assert_null(msg);

    assert_int_equal(ptap_virt_lookup(v, "11111111-2222-3333-4444-555555555555"), 0);
    assert_string_equal(ptap_virt_domain_name(v), "numeric");
    assert_int_equal(ptap_virt_is_running(v), 1);
    assert_int_equal(ptap_virt_qemu_owner(v, &u, &g), 0);
    assert_int_equal(u, 64055);
    assert_int_equal(g, 107);

    assert_int_equal(ptap_virt_lookup(v, "names"), 0);
    assert_int_equal(strlen(ptap_virt_domain_uuid(v)), PTAP_VIRT_UUID_STRLEN - 1);
    assert_int_equal(ptap_virt_qemu_owner(v, &u, &g), 0);
    assert_int_equal(u, 0);
    assert_int_equal(g, 1); /* daemon */

    assert_int_equal(ptap_virt_lookup(v, "nouser"), 0);
    assert_int_equal(ptap_virt_qemu_owner(v, &u, &g), -ENOENT);
    assert_non_null(strstr(ptap_virt_errmsg(v), "ptaptest-no-such-user"));

    /* No label, no QEMU process, not a session: nothing tells. */
    assert_int_equal(ptap_virt_lookup(v, "nolabel"), 0);
    assert_int_equal(ptap_virt_qemu_owner(v, &u, &g), -ENODATA);

    assert_int_equal(ptap_virt_lookup(v, "ptaptest-missing"), -ENOENT);
    assert_non_null(strstr(ptap_virt_errmsg(v), "ptaptest-missing"));
    assert_null(ptap_virt_domain_name(v));
    assert_int_equal(ptap_virt_is_running(v), -ENOENT);
    assert_int_equal(ptap_virt_lookup(v, ""), -EINVAL);
    ptap_virt_close(v);
}

/* ---- virtual networks ---- */

static void test_network_parse(void **state)
{
    static const struct {
        const char *xml;
        int rc;
        const char *mode, *bridge;
    } cases[] = {
        { "<network><name>n</name><forward mode='nat'/><bridge name='virbr0'/></network>", 0,
          "nat", "virbr0" },
        /* <forward/> without a mode is nat; no <forward> is an isolated network. */
        { "<network><name>n</name><forward/><bridge name='virbr1'/></network>", 0, "nat", "virbr1" },
        { "<network><name>n</name><bridge name='virbr2'/></network>", 0, "isolated", "virbr2" },
        { "<network><name>n</name><forward mode='route'/><bridge name='v3'/></network>", 0, "route",
          "v3" },
        { "<network><name>n</name><forward mode='open'/><bridge name='v4'/></network>", 0, "open",
          "v4" },
        /* nat before libvirt named the bridge: parsed, bridge left to libvirt */
        { "<network><name>n</name><forward mode='nat'/></network>", 0, "nat", "" },
        { "<network><name>n</name><forward mode='bridge'/><bridge name='br0'/></network>", 0,
          "bridge", "br0" },
        { "<network><name>n</name><forward mode='bridge'/><bridge name='ovsbr0'/>"
          "<virtualport type='openvswitch'/></network>", 0, "bridge", "ovsbr0" },
        { "<network><name>n</name><forward mode='bridge'><interface dev='eth0'/></forward></network>",
          -EMEDIUMTYPE, "bridge", "" },
        { "<network><name>n</name><forward mode='private'><interface dev='eth0'/></forward></network>",
          -EMEDIUMTYPE, "private", "" },
        { "<network><name>n</name><forward mode='vepa'><interface dev='eth0'/></forward></network>",
          -EMEDIUMTYPE, "vepa", "" },
        { "<network><name>n</name><forward mode='passthrough'><interface dev='eth0'/></forward>"
          "</network>", -EMEDIUMTYPE, "passthrough", "" },
        { "<network><name>n</name><forward mode='hostdev'><pf dev='eth0'/></forward></network>",
          -EMEDIUMTYPE, "hostdev", "" },
        /* a mode ptap does not know has no bridge of ptap's knowing */
        { "<network><name>n</name><forward mode='warp'/><bridge name='b'/></network>", -EMEDIUMTYPE,
          "warp", "" },
        { "<network><name>n</name><forward mode='nat'/><bridge name='a-name-far-too-long'/>"
          "</network>", -EINVAL, "nat", "" },
        { "<domain/>", -EBADMSG, "", "" },
        { "not xml", -EBADMSG, "", "" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        ptap_virt_network n = { .name = "keep" };
        const char *why = NULL;
        int r = ptap_virt_network_parse_xml(cases[i].xml, &n, &why);

        if (r != cases[i].rc)
            fail_msg("case %zu: %d, want %d (%s)", i, r, cases[i].rc, strna(why));
        if (r != 0)
            assert_non_null(why);
        if (r != -EBADMSG)
            assert_string_equal(n.mode, cases[i].mode);
        assert_string_equal(n.bridge, cases[i].bridge);
        assert_string_equal(n.name, "keep");
    }
    assert_int_equal(ptap_virt_network_parse_xml(NULL, &(ptap_virt_network) { 0 }, NULL),
                     -EBADMSG);
}

static void test_network_name(void **state)
{
    char longname[PTAP_NETWORK_NAME_MAX + 1];

    assert_int_equal(ptap_virt_network_name_check("default", NULL), 0);
    assert_int_equal(ptap_virt_network_name_check("with space", NULL), 0);
    assert_int_equal(ptap_virt_network_name_check("", NULL), -EINVAL);
    assert_int_equal(ptap_virt_network_name_check(NULL, NULL), -EINVAL);
    assert_int_equal(ptap_virt_network_name_check("a/b", NULL), -EINVAL);
    assert_int_equal(ptap_virt_network_name_check("a\nb", NULL), -EINVAL);
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(ptap_virt_network_name_check(longname, NULL), -EINVAL);
    longname[PTAP_NETWORK_NAME_MAX - 1] = '\0';
    assert_int_equal(ptap_virt_network_name_check(longname, NULL), 0);
}

static void test_network_lookup(void **state)
{
    ptap_virt *v = NULL;
    ptap_virt_network n;
    ptap_error err = { 0 };
    _cleanup_free_ char *msg = NULL;

    assert_int_equal(ptap_virt_open(node_uri, &v, &msg), 0);
    assert_int_equal(ptap_virt_network_lookup(v, "nat1", &n), 0);
    assert_string_equal(n.name, "nat1");
    assert_string_equal(n.mode, "nat");
    assert_string_equal(n.bridge, "ptbr0");
    assert_int_equal(ptap_virt_network_lookup(v, "host", &n), 0);
    assert_string_equal(n.bridge, "br-host");
    assert_int_equal(ptap_virt_network_lookup(v, "macv", &n), -EMEDIUMTYPE);
    assert_non_null(strstr(ptap_virt_errmsg(v), "forward mode 'bridge'"));
    assert_int_equal(ptap_virt_network_lookup(v, "priv", &n), -EMEDIUMTYPE);
    assert_non_null(strstr(ptap_virt_errmsg(v), "'priv' (forward mode 'private')"));
    assert_int_equal(ptap_virt_network_lookup(v, "nope", &n), -ENOENT);
    assert_non_null(strstr(ptap_virt_errmsg(v), "no libvirt network 'nope'"));
    assert_int_equal(ptap_virt_network_lookup(v, "a/b", &n), -EINVAL);
    ptap_virt_close(v);

    /* The one-shot form, with the exit codes create and attach use. */
    assert_int_equal(ptap_virt_network_resolve(node_uri, "nat1", &n, &err), 0);
    assert_string_equal(n.bridge, "ptbr0");
    assert_int_equal(ptap_virt_network_resolve(node_uri, "nope", &n, &err), -ENOENT);
    assert_int_equal(ptap_error_exit_code(&err), EX_USAGE);
    err = (ptap_error) { 0 };
    assert_int_equal(ptap_virt_network_resolve(node_uri, "macv", &n, &err), -EMEDIUMTYPE);
    assert_int_equal(ptap_error_exit_code(&err), EX_USAGE);
    assert_non_null(strstr(err.msg, "no bridge of its own"));
    err = (ptap_error) { 0 };
    assert_int_equal(ptap_virt_network_resolve("test:///ptaptest/no/such/file.xml", "nat1", &n,
                                               &err), -ECONNREFUSED);
    assert_int_equal(ptap_error_exit_code(&err), EX_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "network 'nat1'"));
}

static void test_connect_fails(void **state)
{
    ptap_virt *v = NULL;
    _cleanup_free_ char *msg = NULL;

    assert_int_equal(ptap_virt_open("test:///ptaptest/no/such/file.xml", &v, &msg),
                     -ECONNREFUSED);
    assert_null(v);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "test:///ptaptest/no/such/file.xml"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_default_uri),
        cmocka_unit_test_setup_teardown(test_lookup_owner, node_setup, node_teardown),
        cmocka_unit_test(test_connect_fails),
        cmocka_unit_test(test_network_parse),
        cmocka_unit_test(test_network_name),
        cmocka_unit_test_setup_teardown(test_network_lookup, node_setup, node_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
