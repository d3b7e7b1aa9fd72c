/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests of ptap's libvirt metadata (src/lib/vmeta.c) and of the hook's
 * host facts (src/lib/migrate.c): format against a golden file, parse of
 * good and hostile input (a table), a whole domain XML as the hook gets
 * it, libvirt's status and network files, qemu.conf's user.
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
#include <fcntl.h>
#include <unistd.h>

#include "migrate.h"
#include "util.h"
#include "vmeta.h"

static char *data_path(const char *name)
{
    const char *dir = getenv("PTAP_TESTDATA");
    char *p = NULL;

    assert_non_null(dir);
    assert_true(asprintf(&p, "%s/vmeta/%s", dir, name) > 0);
    return p;
}

static char *read_data(const char *name, size_t *len)
{
    _cleanup_free_ char *p = data_path(name);
    char *text = NULL;

    assert_int_equal(ptap_read_file(p, 1u << 20, &text, len), 0);
    return text;
}

/* ---- format: golden, and the round trip ---- */

static const ptap_vmeta two = {
    .nics = {
        { .tap = "ptap3", .bridge = "br0", .mtu = 1400, .multi_queue = true },
        { .tap = "pool7", .network = "default", .vnet_hdr = true, .pool = true },
    },
    .n = 2,
};

static void test_format_golden(void **state)
{
    _cleanup_free_ char *out = NULL, *want = NULL;
    size_t len;
    ptap_vmeta back;
    ptap_error err = { 0 };

    (void) state;
    assert_int_equal(ptap_vmeta_format(&two, true, &out), 0);
    want = read_data("nics-out.xml", &len);
    assert_string_equal(out, want);
    assert_int_equal(ptap_vmeta_parse(out, strlen(out), &back, &err), 0);
    assert_int_equal(back.n, 2);
    assert_memory_equal(&back.nics[0], &two.nics[0], sizeof(two.nics[0]));
    assert_memory_equal(&back.nics[1], &two.nics[1], sizeof(two.nics[1]));
    free(out);
    /* What virDomainSetMetadata takes: no namespace of its own. */
    assert_int_equal(ptap_vmeta_format(&two, false, &out), 0);
    assert_null(strstr(out, "xmlns"));
    assert_non_null(strstr(out, "<nics version=\"1\"><nic tap=\"ptap3\""));
}

static void test_format_refuses(void **state)
{
    ptap_vmeta m = { .nics = { { .tap = "a b" } }, .n = 1 };
    char *out = NULL;

    (void) state;
    assert_int_equal(ptap_vmeta_format(&m, true, &out), -EINVAL);
    assert_null(out);
    m.nics[0] = (ptap_vmeta_nic) { .tap = "t0", .mtu = 20 };
    assert_int_equal(ptap_vmeta_format(&m, true, &out), -EINVAL);
}

static void test_put_remove(void **state)
{
    ptap_vmeta m = { 0 };
    ptap_vmeta_nic a = { .tap = "a0" }, b = { .tap = "b0" };

    (void) state;
    assert_int_equal(ptap_vmeta_put(&m, &a), 0);
    assert_int_equal(ptap_vmeta_put(&m, &b), 0);
    a.mtu = 1500;
    assert_int_equal(ptap_vmeta_put(&m, &a), 0); /* replaces */
    assert_int_equal(m.n, 2);
    assert_int_equal(m.nics[0].mtu, 1500);
    assert_true(ptap_vmeta_remove(&m, "a0"));
    assert_false(ptap_vmeta_remove(&m, "a0"));
    assert_int_equal(m.n, 1);
    assert_string_equal(m.nics[0].tap, "b0");
    for (int i = 1; i < PTAP_VMETA_NICS_MAX; i++) {
        ptap_vmeta_nic n = { 0 };
        snprintf(n.tap, sizeof(n.tap), "t%d", i);
        assert_int_equal(ptap_vmeta_put(&m, &n), 0);
    }
    assert_int_equal(ptap_vmeta_put(&m, &a), -E2BIG);
}

/* ---- parse: a table of inputs, hostile ones included ---- */

#define NS "xmlns:ptap=\"https://ptap.dev/xmlns/libvirt/1\""

static const struct {
    const char *xml;
    int r;      /* expected return */
    size_t n;   /* NICs when r == 0 */
    const char *msg; /* part of the message when r < 0 */
} parse_cases[] = {
    { "<ptap:nics " NS " version=\"1\"/>", 0, 0, NULL },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\"/></ptap:nics>", 0, 1, NULL },
    { "<ptap:nics " NS " version=\"1\"><ptap:nic tap=\"t0\"/><ptap:nic tap=\"t1\" mtu=\"9000\"/></ptap:nics>",
      0, 2, NULL },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\" network=\"my net\"/></ptap:nics>", 0, 1, NULL },
    /* the wrong namespace, element, version */
    { "<nics version=\"1\"><nic tap=\"t0\"/></nics>", 0, 1, NULL }, /* as libvirt returns it */
    { "<x:nics xmlns:x=\"urn:other\" version=\"1\"/>", -EINVAL, 0, "root element" },
    { "<ptap:nacs " NS " version=\"1\"/>", -EINVAL, 0, "root element" },
    { "<ptap:nics " NS "/>", -EPROTONOSUPPORT, 0, "version" },
    { "<ptap:nics " NS " version=\"2\"/>", -EPROTONOSUPPORT, 0, "version" },
    { "<ptap:nics " NS " version=\"1\"><x:nic xmlns:x=\"urn:x\" tap=\"t0\"/></ptap:nics>", -EINVAL, 0,
      "unexpected element" },
    { "<ptap:nics " NS " version=\"1\"><tap tap=\"t0\"/></ptap:nics>", -EINVAL, 0, "unexpected element" },
    /* names: never truncated, never a template, nothing a shell or QEMU would read */
    { "<ptap:nics " NS " version=\"1\"><nic/></ptap:nics>", -EINVAL, 0, "without a valid tap" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"\"/></ptap:nics>", -EINVAL, 0, "invalid tap name" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"abcdefghijklmnop\"/></ptap:nics>", -EINVAL, 0,
      "invalid tap name" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"ptap%d\"/></ptap:nics>", -EINVAL, 0, "invalid tap name" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"a/b\"/></ptap:nics>", -EINVAL, 0, "invalid tap name" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0,script=/x\"/></ptap:nics>", -EINVAL, 0,
      "invalid tap name" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\" bridge=\"br 0\"/></ptap:nics>", -EINVAL, 0,
      "invalid bridge" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\" bridge=\"abcdefghijklmnopq\"/></ptap:nics>",
      -EINVAL, 0, "invalid bridge" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\" network=\"../etc/x\"/></ptap:nics>", -EINVAL, 0,
      "invalid network" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\" network=\"a&#10;b\"/></ptap:nics>", -EINVAL, 0,
      "invalid network" },
    /* numbers through the one checked parser */
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\" mtu=\"67\"/></ptap:nics>", -EINVAL, 0, "MTU" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\" mtu=\"1500x\"/></ptap:nics>", -EINVAL, 0, "MTU" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\" mtu=\"-1\"/></ptap:nics>", -EINVAL, 0, "MTU" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\" mtu=\"99999999999999999999\"/></ptap:nics>",
      -EINVAL, 0, "MTU" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\" multi-queue=\"true\"/></ptap:nics>", -EINVAL, 0,
      "'yes' or 'no'" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\" kind=\"both\"/></ptap:nics>", -EINVAL, 0, "kind" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\" owner=\"0\"/></ptap:nics>", -EINVAL, 0,
      "unknown attribute 'owner'" },
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\"/><nic tap=\"t0\"/></ptap:nics>", -EINVAL, 0,
      "named twice" },
    /* not XML, or XML that reaches outside itself */
    { "<ptap:nics " NS " version=\"1\"><nic tap=\"t0\">", -EBADMSG, 0, "well-formed" },
    { "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><ptap:nics " NS
      " version=\"1\"><nic tap=\"&e;\"/></ptap:nics>", -EBADMSG, 0, "well-formed" },
};

static void test_parse_table(void **state)
{
    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(parse_cases); i++) {
        ptap_vmeta m;
        ptap_error err = { 0 };
        int r = ptap_vmeta_parse(parse_cases[i].xml, strlen(parse_cases[i].xml), &m, &err);

        if (r != parse_cases[i].r)
            fail_msg("case %zu: %s: got %d (%s), want %d", i, parse_cases[i].xml, r, err.msg,
                     parse_cases[i].r);
        if (r == 0)
            assert_int_equal(m.n, parse_cases[i].n);
        else if (parse_cases[i].msg && !strstr(err.msg, parse_cases[i].msg))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, parse_cases[i].msg);
    }
}

static void test_parse_too_many(void **state)
{
    char *xml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&xml, &len);
    ptap_vmeta m;
    ptap_error err = { 0 };

    (void) state;
    fputs("<ptap:nics " NS " version=\"1\">", f);
    for (int i = 0; i <= PTAP_VMETA_NICS_MAX; i++)
        fprintf(f, "<nic tap=\"t%d\"/>", i);
    fputs("</ptap:nics>", f);
    fclose(f);
    assert_int_equal(ptap_vmeta_parse(xml, len, &m, &err), -E2BIG);
    free(xml);
}

/* ---- a whole domain XML, as the hook gets it ---- */

static void test_domain(void **state)
{
    _cleanup_free_ char *xml = NULL;
    _cleanup_free_ ptap_vmeta_domain *d = calloc(1, sizeof(*d));
    ptap_error err = { 0 };
    size_t len;

    (void) state;
    xml = read_data("domain-in.xml", &len);
    assert_int_equal(ptap_vmeta_domain_parse(xml, len, d, &err), 0);
    assert_string_equal(d->name, "ptaptest-g1");
    assert_string_equal(d->uuid, "7fc24447-16fa-430d-9003-9d8c07bc48f9");
    assert_true(d->has_meta);
    /* gone1 has no interface: stale, dropped; another namespace's <nic> is not ours */
    assert_int_equal(d->meta.n, 2);
    assert_int_equal(d->n_stale, 1);
    assert_string_equal(d->meta.nics[0].tap, "ptap3");
    assert_int_equal(d->meta.nics[0].mtu, 1400);
    assert_true(d->meta.nics[0].multi_queue);
    assert_false(d->meta.nics[0].pool);
    assert_string_equal(d->iface[0].alias, "ua-net-ptap3");
    assert_string_equal(d->iface[0].mac, "52:54:00:aa:bb:01");
    assert_string_equal(d->iface[0].model, "virtio");
    assert_string_equal(d->meta.nics[1].network, "default");
    assert_true(d->meta.nics[1].pool);
    assert_string_equal(d->iface[1].alias, "");
    assert_string_equal(d->dac_label, "+107:+107");
    assert_true(d->dac_static);
}

static const struct {
    const char *from, *to, *msg;
} domain_damage[] = {
    /* libvirt would make (or take) these taps itself */
    { "<interface type='ethernet'>\n      <mac address='52:54:00:aa:bb:01'/>",
      "<interface type='bridge'>\n      <mac address='52:54:00:aa:bb:01'/>", "not of type 'ethernet'" },
    { "<target dev='ptap3' managed='no'/>", "<target dev='ptap3'/>", "managed='no'" },
    { "<alias name='ua-net-ptap3'/>", "<alias name='ua,x=y'/>", "invalid alias" },
    { "52:54:00:aa:bb:01", "52:54:00:aa:bb:zz", "invalid MAC" },
    { "<uuid>7fc24447-16fa-430d-9003-9d8c07bc48f9</uuid>", "<uuid>x</uuid>", "valid <uuid>" },
    { "<name>ptaptest-g1</name>", "<name>a/b</name>", "valid <name>" },
    { "</ptap:nics>", "</ptap:nics><ptap:nics xmlns:ptap='https://ptap.dev/xmlns/libvirt/1' version='1'/>",
      "twice" },
    { "kind=\"pool\"", "kind=\"POOL\"", "kind" },
};

static void test_domain_damage(void **state)
{
    _cleanup_free_ char *xml = NULL;
    size_t len;

    (void) state;
    xml = read_data("domain-in.xml", &len);
    for (size_t i = 0; i < ARRAY_SIZE(domain_damage); i++) {
        _cleanup_free_ ptap_vmeta_domain *d = calloc(1, sizeof(*d));
        const char *at = strstr(xml, domain_damage[i].from);
        char *bad = NULL;
        ptap_error err = { 0 };
        int r;

        assert_non_null(at);
        assert_true(asprintf(&bad, "%.*s%s%s", (int) (at - xml), xml, domain_damage[i].to,
                             at + strlen(domain_damage[i].from)) > 0);
        r = ptap_vmeta_domain_parse(bad, strlen(bad), d, &err);
        if (r >= 0 || !strstr(err.msg, domain_damage[i].msg))
            fail_msg("case %zu: got %d '%s', want '%s'", i, r, err.msg, domain_damage[i].msg);
        free(bad);
    }
}

static void test_domain_without_meta(void **state)
{
    static const char xml[] = "<domain><name>g</name><uuid>7fc24447-16fa-430d-9003-9d8c07bc48f9</uuid>"
                              "<metadata><x:y xmlns:x='urn:x'/></metadata></domain>";
    _cleanup_free_ ptap_vmeta_domain *d = calloc(1, sizeof(*d));

    (void) state;
    assert_int_equal(ptap_vmeta_domain_parse(xml, strlen(xml), d, NULL), 0);
    assert_false(d->has_meta);
    assert_int_equal(d->meta.n, 0);
}

/* ---- the host's facts ---- */

static void test_status_job(void **state)
{
    _cleanup_free_ char *xml = NULL;
    char job[32];
    size_t len;
    static const char none[] = "<domstatus state='running'><job type='none' async='none'/></domstatus>";

    (void) state;
    xml = read_data("status-migration-out.xml", &len);
    assert_int_equal(ptap_vmeta_status_job(xml, len, job, sizeof(job)), 0);
    assert_string_equal(job, "migration out");
    assert_int_equal(ptap_vmeta_status_job(none, strlen(none), job, sizeof(job)), 0);
    assert_string_equal(job, "none");
    assert_int_equal(ptap_vmeta_status_job("<domstatus/>", 12, job, sizeof(job)), -ENODATA);
    assert_int_equal(ptap_vmeta_status_job("<x", 2, job, sizeof(job)), -EBADMSG);
}

static void test_network_bridge(void **state)
{
    _cleanup_free_ char *dir = data_path("");
    char br[IFNAMSIZ] = "";

    (void) state;
    dir[strlen(dir) - 1] = '\0'; /* the trailing slash */
    assert_int_equal(ptap_hook_network_bridge(dir, "network-default", br), 0);
    assert_string_equal(br, "virbr0");
    assert_int_equal(ptap_hook_network_bridge(dir, "nosuchnet", br), -ENOENT);
    assert_int_equal(ptap_hook_network_bridge(dir, "status-migration-out", br), -ENODATA);
}

static void test_qemu_user(void **state)
{
    char path[] = "/tmp/ptap-test-qemu.conf.XXXXXX";
    int fd = mkstemp(path);
    uid_t uid = 12345;

    (void) state;
    assert_true(fd >= 0);
    assert_true(write(fd, "# user = \"nobody\"\n  user = \"+4242\"\ngroup = \"+1\"\n", 49) == 49);
    close(fd);
    assert_int_equal(ptap_hook_qemu_user(path, &uid), 0);
    assert_int_equal(uid, 4242);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(write(fd, "user = \"root\"\n", 14) == 14);
    close(fd);
    assert_int_equal(ptap_hook_qemu_user(path, &uid), 0);
    assert_int_equal(uid, 0);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(write(fd, "user = \"unterminated\n", 21) == 21);
    close(fd);
    assert_int_equal(ptap_hook_qemu_user(path, &uid), -EBADMSG);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_golden),
        cmocka_unit_test(test_format_refuses),
        cmocka_unit_test(test_put_remove),
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_too_many),
        cmocka_unit_test(test_domain),
        cmocka_unit_test(test_domain_damage),
        cmocka_unit_test(test_domain_without_meta),
        cmocka_unit_test(test_status_job),
        cmocka_unit_test(test_network_bridge),
        cmocka_unit_test(test_qemu_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
