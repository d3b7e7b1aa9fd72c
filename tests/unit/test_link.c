/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_link: pipelined netlink requests (link.h) against the real kernel,
 * in a network namespace of the test's own (a new user namespace when not
 * root, so no privilege is needed; skipped where neither can be made, or
 * /dev/net/tun cannot be opened).
 *
 * What a caller relies on: every request of a pipelined batch is made
 * whatever happens to the others, and each one's result is its own (by
 * sequence number), across the groups the batch is sent in.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <cmocka.h>

#include "link.h"
#include "tap.h"

#define N_TAPS 150 /* more than one group of requests */

static bool in_own_netns(void)
{
    if (unshare(CLONE_NEWNET) == 0)
        return true;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0)
        return true;
    return false;
}

static void test_configure_many_attribution(void **state)
{
    _cleanup_(ptap_link_closep) ptap_link_ctx *lc = NULL;
    static int idx[N_TAPS + 2];
    static ptap_link_config cfg[N_TAPS + 2];
    static int errs[N_TAPS + 2];
    static char alias[N_TAPS + 2][32];
    int fds[N_TAPS];
    size_t n = 0;
    int r;

    (void) state;
    for (size_t i = 0; i < N_TAPS; i++) {
        ptap_tap_params tp = { .name = "pt%d", .owner = (uid_t) -1, .group = (gid_t) -1 };
        char name[IFNAMSIZ];

        r = ptap_tap_open(&tp, &fds[i], name);
        if (r == -EACCES || r == -EPERM || r == -ENOENT) {
            for (size_t k = 0; k < i; k++)
                close(fds[k]);
            skip();
        }
        assert_true(r >= 0);
        idx[n] = (int) if_nametoindex(name);
        assert_true(idx[n] > 0);
        snprintf(alias[n], sizeof(alias[n]), "ptap:t%zu", i);
        cfg[n] = (ptap_link_config) { .alias = alias[n], .up = true };
        n++;
        if (i == 3) {
            /* No such link: refused, and only this request. */
            idx[n] = 0x7ffffff0;
            cfg[n] = (ptap_link_config) { .up = true };
            n++;
        }
        if (i == 100) {
            /* An MTU no tap takes (above 65521), in the second group. */
            idx[n] = idx[n - 1];
            cfg[n] = (ptap_link_config) { .mtu = 70000 };
            n++;
        }
    }
    assert_int_equal(n, N_TAPS + 2);
    assert_int_equal(ptap_link_open(&lc), 0);
    r = ptap_link_configure_many(lc, idx, cfg, n, errs);
    /* The first failure is the result, its text kept. */
    assert_int_equal(r, -ENODEV);
    for (size_t i = 0; i < n; i++) {
        int want = i == 4 ? -ENODEV : i == 102 ? -EINVAL : 0;

        if (errs[i] != want)
            fail_msg("request %zu: %d, expected %d", i, errs[i], want);
    }
    /* Each tap got its own mark: the requests after a failure were made. */
    for (size_t i = 0; i < n; i++) {
        ptap_link_info li;
        char name[IFNAMSIZ];

        if (i == 4 || i == 102)
            continue;
        assert_non_null(if_indextoname((unsigned) idx[i], name));
        assert_int_equal(ptap_link_get_ctx(lc, name, &li), 0);
        assert_string_equal(li.alias, alias[i]);
        assert_true(li.up);
    }
    /* And they all go in one batch delete. */
    {
        int taps[N_TAPS];
        size_t m = 0;

        for (size_t i = 0; i < n; i++)
            if (i != 4 && i != 102)
                taps[m++] = idx[i];
        assert_int_equal(ptap_link_delete_batch(lc, taps, m), 0);
        for (size_t i = 0; i < m; i++) {
            char name[IFNAMSIZ];

            close(fds[i]);
            assert_null(if_indextoname((unsigned) taps[i], name));
        }
    }
}

/* The helper's view (ptap-helper destroy --view): every field the CLI
 * judges by, from a real dump, through a line and back. */
static void test_info_line_roundtrip(void **state)
{
    _cleanup_(ptap_link_closep) ptap_link_ctx *lc = NULL;
    _cleanup_(ptap_link_info_freep) ptap_link_info *v = NULL;
    ptap_tap_params tp = { .name = "ptv%d", .owner = 4242, .group = (gid_t) -1,
                           .multi_queue = true };
    ptap_link_config cfg = { .alias = "ptap:1234:0123456789abcdef:op7", .up = true,
                             .set_group = true, .group = 77 };
    char name[IFNAMSIZ], line[PTAP_LINK_LINE_MAX];
    size_t n = 0, seen = 0;
    int fd, r;

    (void) state;
    r = ptap_tap_open(&tp, &fd, name);
    if (r == -EACCES || r == -EPERM || r == -ENOENT)
        skip();
    assert_true(r >= 0);
    assert_int_equal(ptap_link_open(&lc), 0);
    assert_int_equal(ptap_link_configure(lc, (int) if_nametoindex(name), &cfg), 0);
    assert_int_equal(ptap_link_dump_ctx(lc, &v, &n), 0);
    for (size_t i = 0; i < n; i++) {
        ptap_link_info back;

        assert_int_equal(ptap_link_info_format(&v[i], line, sizeof(line)), 0);
        assert_null(strchr(line, '\n'));
        assert_int_equal(ptap_link_info_parse(line, &back), 0);
        assert_string_equal(back.name, v[i].name);
        assert_int_equal(back.ifindex, v[i].ifindex);
        assert_string_equal(back.alias, v[i].alias);
        assert_string_equal(back.kind, v[i].kind);
        assert_int_equal(back.is_tun, v[i].is_tun);
        assert_int_equal(back.is_tap, v[i].is_tap);
        assert_int_equal(back.owner, v[i].owner);
        assert_int_equal(back.group, v[i].group);
        assert_int_equal(back.multi_queue, v[i].multi_queue);
        assert_int_equal(back.vnet_hdr, v[i].vnet_hdr);
        assert_int_equal(back.persist, v[i].persist);
        assert_int_equal(back.queues, v[i].queues);
        assert_int_equal(back.disabled_queues, v[i].disabled_queues);
        assert_int_equal(back.master_ifindex, v[i].master_ifindex);
        assert_string_equal(back.master, v[i].master);
        assert_int_equal(back.mtu, v[i].mtu);
        assert_int_equal(back.carrier, v[i].carrier);
        assert_int_equal(back.up, v[i].up);
        assert_int_equal(back.link_group, v[i].link_group);
        if (strcmp(v[i].name, name) == 0) {
            seen++;
            assert_true(back.is_tap && back.multi_queue && back.up);
            assert_int_equal(back.owner, 4242);
            assert_int_equal(back.queues, 1); /* held: fd is open */
            assert_int_equal(back.link_group, 77);
            assert_string_equal(back.alias, cfg.alias);
        }
    }
    assert_int_equal(seen, 1);
    close(fd);
}

/* An alias that is not a word is left out; a line that is not whole is
 * refused, never half read. */
static void test_info_line_hostile(void **state)
{
    ptap_link_info l = { .name = "tap0", .ifindex = 5, .owner = -1, .group = -1, .is_tun = true,
                         .is_tap = true, .mtu = 1500 }, back;
    char line[PTAP_LINK_LINE_MAX];
    static const char *const bad[] = {
        "",
        "link",
        "link 5 tap0 tun tp -1 -1 0 0 0 - 1500 0",               /* 13 words */
        "link 5 tap0 tun tp -1 -1 0 0 0 - 1500 0 - extra",       /* 15 */
        "lnk 5 tap0 tun tp -1 -1 0 0 0 - 1500 0 -",
        "link 0 tap0 tun tp -1 -1 0 0 0 - 1500 0 -",             /* no ifindex 0 */
        "link 5x tap0 tun tp -1 -1 0 0 0 - 1500 0 -",
        "link 5 - tun tp -1 -1 0 0 0 - 1500 0 -",                /* no name */
        "link 5 tap0123456789abcdef tun tp -1 -1 0 0 0 - 1500 0 -", /* 16 bytes */
        "link 5 tap0 tun tpz -1 -1 0 0 0 - 1500 0 -",            /* unknown flag */
        "link 5 tap0 tun tp -2 -1 0 0 0 - 1500 0 -",
        "link 5 tap0 tun tp 4294967296 -1 0 0 0 - 1500 0 -",
        "link 5 tap0 tun tp -1 -1 0 0 0 - 99999999999 0 -",
    };

    (void) state;
    snprintf(l.alias, sizeof(l.alias), "ptap:1 2\nlink 6 other");
    assert_int_equal(ptap_link_info_format(&l, line, sizeof(line)), 0);
    assert_int_equal(ptap_link_info_parse(line, &back), 0);
    assert_string_equal(back.alias, "");
    assert_string_equal(back.name, "tap0");
    assert_int_equal(ptap_link_info_format(&l, line, 20), -ENOBUFS);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ptap_link_info_parse(bad[i], &back) != -EINVAL)
            fail_msg("accepted: \"%s\"", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configure_many_attribution),
        cmocka_unit_test(test_info_line_roundtrip),
        cmocka_unit_test(test_info_line_hostile),
    };

    if (!in_own_netns()) {
        printf("1..0 # SKIP cannot make a network namespace: %s\n", strerror(errno));
        return 0;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
