/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench_floor: the floor for "create N taps, owner set, on a bridge, up".
 * What the kernel makes anybody pay, with no process start, no journal and
 * no policy: one in-process loop of the same steps ptap-helper takes per
 * tap (libptap-core's own functions, so the ioctls and the netlink message
 * are identical):
 *   ptap_tap_open()        TUNSETIFF (+IFF_TUN_EXCL), TUNSETOWNER, TUNSETGROUP
 *   if_nametoindex()
 *   ptap_link_configure()  one RTM_NEWLINK: ifalias (a mark), MTU, master, up
 *   ptap_tap_persist()     TUNSETPERSIST 1, then close
 * Run it as root inside the benchmark's network namespace.
 *
 * Output, one line: "bench floor-create-N ms=M" (M: the loop alone, from
 * the first open to the last close). Afterwards the taps are deleted in
 * one link-group RTM_DELLINK (not timed) unless --keep is given.
 *
 * Usage: bench_floor --count N --owner UID [--bridge BR] [--template T]
 *                    [--keep]
 * (without --bridge: the taps are only up, for sizes a bridge cannot take)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>

#include "link.h"
#include "tap.h"

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max)
        return -EINVAL;
    *ret = v;
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: bench_floor --count N --owner UID [--bridge BR] [--template T] [--keep]\n", f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "count", required_argument, NULL, 'n' },
        { "owner", required_argument, NULL, 'o' },
        { "bridge", required_argument, NULL, 'b' },
        { "template", required_argument, NULL, 't' },
        { "keep", no_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    _cleanup_(ptap_link_closep) ptap_link_ctx *lc = NULL;
    _cleanup_free_ int *made = NULL;
    const char *bridge = NULL, *template = "flr%d";
    unsigned long count = 0, owner = 0;
    bool have_owner = false, keep = false;
    ptap_link_config cfg = { .alias = "ptap:bench-floor", .up = true };
    size_t n_made = 0;
    double t0, t1;
    int c, r;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
        switch (c) {
        case 'n':
            if (parse_uint(optarg, 100000, &count) < 0 || count == 0) {
                fprintf(stderr, "bench_floor: invalid count '%s'\n", optarg);
                return EX_USAGE;
            }
            break;
        case 'o':
            if (parse_uint(optarg, 0xfffffffeUL, &owner) < 0) {
                fprintf(stderr, "bench_floor: invalid uid '%s'\n", optarg);
                return EX_USAGE;
            }
            have_owner = true;
            break;
        case 'b':
            bridge = optarg;
            break;
        case 't':
            template = optarg;
            break;
        case 'k':
            keep = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (!count || !have_owner || optind != argc) {
        usage(stderr);
        return EX_USAGE;
    }

    made = calloc(count, sizeof(*made));
    if (!made)
        return EX_OSERR;
    r = ptap_link_open(&lc);
    if (r < 0) {
        fprintf(stderr, "bench_floor: cannot open rtnetlink: %s\n", strerror(-r));
        return EX_OSERR;
    }
    /* The same set-up the helper does once per call: the bridge's index
     * and MTU (ptap's default MTU is the bridge's). */
    if (bridge) {
        ptap_link_info *links = NULL;
        size_t n = 0;
        const ptap_link_info *br;

        r = ptap_link_dump_ctx(lc, &links, &n);
        if (r < 0) {
            fprintf(stderr, "bench_floor: cannot list links: %s\n", strerror(-r));
            return EX_OSERR;
        }
        br = ptap_link_find(links, n, bridge);
        if (!br || strcmp(br->kind, "bridge") != 0) {
            fprintf(stderr, "bench_floor: no bridge '%s'\n", bridge);
            ptap_link_info_free(links);
            return EX_USAGE;
        }
        cfg.master = br->ifindex;
        cfg.mtu = br->mtu;
        ptap_link_info_free(links);
    }

    ptap_tap_params tp = { .name = template, .owner = (uid_t) owner, .group = (gid_t) -1 };
    t0 = now_ms();
    for (unsigned long i = 0; i < count; i++) {
        _cleanup_close_ int fd = -1;
        char final[IFNAMSIZ];
        int ifindex;

        r = ptap_tap_open(&tp, &fd, final);
        if (r < 0) {
            fprintf(stderr, "bench_floor: cannot create '%s': %s\n", template, strerror(-r));
            break;
        }
        ifindex = (int) if_nametoindex(final);
        if (ifindex <= 0) {
            r = -errno;
            fprintf(stderr, "bench_floor: no index for '%s': %s\n", final, strerror(-r));
            break;
        }
        r = ptap_link_configure(lc, ifindex, &cfg);
        if (r >= 0)
            r = ptap_tap_persist(fd);
        if (r < 0) {
            fprintf(stderr, "bench_floor: cannot configure '%s': %s %s\n", final, strerror(-r),
                    ptap_link_message(lc));
            break;
        }
        made[n_made++] = ifindex;
    }
    t1 = now_ms();

    if (r >= 0)
        printf("bench floor-create-%lu ms=%.3f\n", count, t1 - t0);
    if (n_made && (r < 0 || !keep)) {
        int d = ptap_link_delete_batch(lc, made, n_made);

        if (d < 0) {
            fprintf(stderr, "bench_floor: cannot delete the %zu taps made: %s\n", n_made,
                    strerror(-d));
            return EX_OSERR;
        }
    }
    return r < 0 ? 71 : 0;
}
