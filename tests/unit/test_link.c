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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configure_many_attribution),
    };

    if (!in_own_netns()) {
        printf("1..0 # SKIP cannot make a network namespace: %s\n", strerror(errno));
        return 0;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
