/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Table-driven tests of validate.h: names, MACs, numbers, tags, ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "util.h"
#include "validate.h"

static void test_parse_uint(void **state)
{
    static const struct {
        const char *s;
        uint64_t min, max;
        int ret;
        uint64_t value;
    } cases[] = {
        { "0", 0, 10, 0, 0 },
        { "10", 0, 10, 0, 10 },
        { "11", 0, 10, -ERANGE, 0 },
        { "67", 68, 65521, -ERANGE, 0 },
        { "68", 68, 65521, 0, 68 },
        { "65521", 68, 65521, 0, 65521 },
        { "65522", 68, 65521, -ERANGE, 0 },
        { "18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX },
        { "18446744073709551616", 0, UINT64_MAX, -ERANGE, 0 },
        { "", 0, 10, -EINVAL, 0 },
        { "-1", 0, 10, -EINVAL, 0 },
        { "+1", 0, 10, -EINVAL, 0 },
        { " 1", 0, 10, -EINVAL, 0 },
        { "1 ", 0, 10, -EINVAL, 0 },
        { "1x", 0, 10, -EINVAL, 0 },
        { "0x10", 0, 100, -EINVAL, 0 },
        { "007", 0, 10, 0, 7 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 12345;
        int r = ptap_parse_uint(cases[i].s, cases[i].min, cases[i].max, &v);

        if (r != cases[i].ret)
            fail_msg("ptap_parse_uint('%s') = %d, expected %d", cases[i].s, r, cases[i].ret);
        if (r == 0)
            assert_int_equal(v, cases[i].value);
        else
            assert_int_equal(v, 12345); /* untouched on failure */
    }
    assert_int_equal(ptap_parse_uint(NULL, 0, 1, &(uint64_t){ 0 }), -EINVAL);
}

static void test_ifname(void **state)
{
    static const struct {
        const char *name;
        bool template_ok;
        int ret;
    } cases[] = {
        { "ptap0", false, 0 },
        { "a", false, 0 },
        { "123456789012345", false, 0 },       /* 15 bytes: the maximum */
        { "1234567890123456", false, -EINVAL }, /* 16: never truncated */
        { "", false, -EINVAL },
        { ".", false, -EINVAL },
        { "..", false, -EINVAL },
        { "...", false, 0 },
        { "a/b", false, -EINVAL },
        { "a:b", false, -EINVAL },
        { "a b", false, -EINVAL },
        { "a\tb", false, -EINVAL },
        { "a\nb", false, -EINVAL },
        { "a\x7f", false, -EINVAL },
        { "caf\xc3\xa9", false, -EINVAL },
        { "ptap%d", false, -EINVAL },
        { "ptap%d", true, 0 },
        { "%d", true, 0 },
        { "pt%dap", true, -EINVAL },
        { "pt%s", true, -EINVAL },
        { "pt%d%d", true, -EINVAL },
        { "pt%%d", true, -EINVAL },
        { "12345678901234%d", true, -EINVAL },
        { "1234567890123%d", true, 0 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        int r = ptap_ifname_check(cases[i].name, cases[i].template_ok, &why);

        if (r != cases[i].ret)
            fail_msg("ptap_ifname_check('%s', %d) = %d, expected %d", cases[i].name,
                     cases[i].template_ok, r, cases[i].ret);
        if (r < 0)
            assert_non_null(why);
    }
    assert_int_equal(ptap_ifname_check(NULL, true, NULL), -EINVAL);
    assert_true(ptap_ifname_is_template("ptap%d"));
    assert_false(ptap_ifname_is_template("ptap"));
    assert_false(ptap_ifname_is_template("%"));
    assert_false(ptap_ifname_is_template(NULL));
}

static void test_mac(void **state)
{
    static const struct {
        const char *s;
        int ret;
        uint8_t mac[PTAP_MAC_LEN];
    } cases[] = {
        { "52:54:00:12:34:56", 0, { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } },
        { "02:AB:cd:EF:00:01", 0, { 0x02, 0xab, 0xcd, 0xef, 0x00, 0x01 } },
        { "00:00:00:00:00:01", 0, { 0, 0, 0, 0, 0, 1 } },
        { "00:00:00:00:00:00", -EINVAL, { 0 } },
        { "01:00:5e:00:00:01", -EINVAL, { 0 } }, /* multicast */
        { "ff:ff:ff:ff:ff:ff", -EINVAL, { 0 } }, /* broadcast */
        { "52:54:00:12:34", -EINVAL, { 0 } },
        { "52:54:00:12:34:567", -EINVAL, { 0 } },
        { "52-54-00-12-34-56", -EINVAL, { 0 } },
        { "52:54:00:12:34:5g", -EINVAL, { 0 } },
        { "5:254:00:12:34:56", -EINVAL, { 0 } },
        { " 52:54:00:12:34:5", -EINVAL, { 0 } },
        { "", -EINVAL, { 0 } },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t mac[PTAP_MAC_LEN] = { 0 };
        const char *why = NULL;
        int r = ptap_mac_parse(cases[i].s, mac, &why);

        if (r != cases[i].ret)
            fail_msg("ptap_mac_parse('%s') = %d, expected %d", cases[i].s, r, cases[i].ret);
        if (r == 0) {
            char buf[PTAP_MAC_STRLEN];

            assert_memory_equal(mac, cases[i].mac, PTAP_MAC_LEN);
            ptap_mac_format(mac, buf);
            assert_int_equal(strlen(buf), PTAP_MAC_STRLEN - 1);
            assert_int_equal(strcasecmp(buf, cases[i].s), 0);
        } else
            assert_non_null(why);
    }
}

static void test_tag(void **state)
{
    char long_tag[PTAP_TAG_MAX + 2];

    assert_int_equal(ptap_tag_check("j0123456789abcdef:op7", NULL), 0);
    assert_int_equal(ptap_tag_check("a.b-c_d", NULL), 0);
    assert_int_equal(ptap_tag_check("", NULL), -EINVAL);
    assert_int_equal(ptap_tag_check("a b", NULL), -EINVAL);
    assert_int_equal(ptap_tag_check("a/b", NULL), -EINVAL);
    assert_int_equal(ptap_tag_check("a\"b", NULL), -EINVAL);
    memset(long_tag, 'x', sizeof(long_tag));
    long_tag[PTAP_TAG_MAX] = '\0';
    assert_int_equal(ptap_tag_check(long_tag, NULL), 0);
    long_tag[PTAP_TAG_MAX] = 'x';
    long_tag[PTAP_TAG_MAX + 1] = '\0';
    assert_int_equal(ptap_tag_check(long_tag, NULL), -EINVAL);

    /* The mark built from a tag: tests/unit/test_mark.c. */
}

static void test_qemu_id(void **state)
{
    assert_int_equal(ptap_qemu_id_check("net0", NULL), 0);
    assert_int_equal(ptap_qemu_id_check("a.b-c_d", NULL), 0);
    assert_int_equal(ptap_qemu_id_check("0net", NULL), -EINVAL);
    assert_int_equal(ptap_qemu_id_check("net,script=x", NULL), -EINVAL);
    assert_int_equal(ptap_qemu_id_check("net=1", NULL), -EINVAL);
    assert_int_equal(ptap_qemu_id_check("", NULL), -EINVAL);
}

static void test_user_group(void **state)
{
    static const struct {
        const char *s;
        int ret;
        unsigned id;
    } users[] = {
        { "0", 0, 0 },           { "root", 0, 0 },        { "4294967294", 0, 4294967294u },
        { "4294967295", -EINVAL, 0 }, /* (uid_t)-1 means "none" */
        { "", -EINVAL, 0 },      { "12x", -EINVAL, 0 },   { "-1", -ENOENT, 0 },
        { "ptaptest-no-such-user", -ENOENT, 0 },
    };
    (void) state;

    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        uid_t u = 12345;
        gid_t g = 12345;

        assert_int_equal(ptap_parse_user(users[i].s, &u), users[i].ret);
        if (users[i].ret == 0)
            assert_int_equal(u, users[i].id);
        /* Groups follow the same rules ("root" is group 0 on Debian). */
        assert_int_equal(ptap_parse_group(users[i].s, &g), users[i].ret);
        if (users[i].ret == 0)
            assert_int_equal(g, users[i].id);
    }
}

/* A tap's MAC on a bridge: fe:..., above the bridge's own address, so the
 * bridge (which takes its lowest port MAC) never adopts it. */
static void test_mac_bridge(void **state)
{
    static const struct {
        const char *mac, *bridge; /* bridge NULL: unknown */
        int rc;
    } cases[] = {
        { "fe:54:00:00:00:01", "52:54:00:aa:bb:cc", 0 },
        { "fe:54:00:00:00:01", NULL, 0 },
        { "52:54:00:00:00:01", "52:54:00:aa:bb:cc", -EINVAL }, /* could become the bridge's */
        { "00:00:00:00:00:01", NULL, -EINVAL },
        { "fe:00:00:00:00:01", "fe:00:00:00:00:02", -EINVAL }, /* below a tap-only bridge */
        { "fe:00:00:00:00:02", "fe:00:00:00:00:02", -EINVAL },
        { "fe:00:00:00:00:03", "fe:00:00:00:00:02", 0 },
    };
    static const char *const bridges[] = { "52:54:00:aa:bb:cc", "fe:00:00:00:00:00",
                                           "fe:ff:ff:ff:00:00", "fe:ff:ff:ff:ff:fe" };
    uint8_t mac[PTAP_MAC_LEN], br[PTAP_MAC_LEN];
    const char *why;

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        assert_int_equal(ptap_mac_parse(cases[i].mac, mac, NULL), 0);
        if (cases[i].bridge)
            assert_int_equal(ptap_mac_parse(cases[i].bridge, br, NULL), 0);
        why = NULL;
        if (ptap_mac_bridge_check(mac, cases[i].bridge ? br : NULL, &why) != cases[i].rc)
            fail_msg("ptap_mac_bridge_check('%s', '%s') != %d", cases[i].mac,
                     cases[i].bridge ? cases[i].bridge : "-", cases[i].rc);
        if (cases[i].rc)
            assert_non_null(why);
    }
    /* The default draw never fails by chance, however high the bridge. */
    for (size_t b = 0; b < ARRAY_SIZE(bridges); b++) {
        assert_int_equal(ptap_mac_parse(bridges[b], br, NULL), 0);
        for (int k = 0; k < 1000; k++) {
            assert_int_equal(ptap_mac_tap_random(mac, br), 0);
            assert_int_equal(ptap_mac_bridge_check(mac, br, NULL), 0);
        }
    }
    assert_int_equal(ptap_mac_parse("fe:ff:ff:ff:ff:fe", br, NULL), 0);
    assert_int_equal(ptap_mac_tap_random(mac, br), 0);
    assert_int_equal(mac[5], 0xff);
    assert_int_equal(ptap_mac_parse("fe:ff:ff:ff:ff:ff", br, NULL), 0);
    assert_int_equal(ptap_mac_tap_random(mac, br), -EADDRNOTAVAIL);
    assert_int_equal(ptap_mac_tap_random(mac, NULL), 0);
    assert_int_equal(mac[0], 0xfe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mac_bridge),
        cmocka_unit_test(test_parse_uint),
        cmocka_unit_test(test_ifname),
        cmocka_unit_test(test_mac),
        cmocka_unit_test(test_tag),
        cmocka_unit_test(test_qemu_id),
        cmocka_unit_test(test_user_group),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
