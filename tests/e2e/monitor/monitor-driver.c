/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * monitor-driver: a thin command-line front of libptap's monitor API, for the
 * e2e tests (tests/e2e/monitor-*.sh). Not installed.
 *
 *   monitor-driver TARGET info
 *   monitor-driver TARGET add --tap T --netdev N --device D --mac M
 *                  [--model X] [--queues N] [--vhost] [--vlan V] [--timeout MS]
 *   monitor-driver TARGET remove --netdev N [--device D] [--vlan V --slot S] [--timeout MS]
 *   monitor-driver TARGET present --netdev N [--device D] [--slot S]

 *
 * Prints results as key=value on stdout; on failure prints
 * "ERROR <code> <message>" on stderr and exits with:
 *   2 refused (-EINVAL)   3 no /dev/net/tun   4 tap permission   5 tap busy
 *   6 QEMU error          7 timeout           8 dialect          1 other
 * Debug output of the library goes to stderr with PTAP_DEBUG=1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmp.h"
#include "log.h"
#include "monitor.h"
#include "validate.h"

static void log_stderr(int prio, const char *msg, void *u)
{
    fprintf(stderr, "debug: %s\n", msg);
}

static int fail(ptap_monitor *m, int r)
{
    const char *code;
    int ex;

    switch (r) {
    case -EINVAL: code = "EINVAL"; ex = 2; break;
    case PTAP_NIC_E_NOTUN: code = "NOTUN"; ex = 3; break;
    case PTAP_NIC_E_TAPPERM: code = "TAPPERM"; ex = 4; break;
    case PTAP_NIC_E_TAPBUSY: code = "TAPBUSY"; ex = 5; break;
    case PTAP_NIC_E_QEMU: code = "QEMU"; ex = 6; break;
    case -ETIMEDOUT: code = "TIMEOUT"; ex = 7; break;
    case PTAP_NIC_E_DIALECT: code = "DIALECT"; ex = 8; break;
    default: code = "OTHER"; ex = 1; break;
    }
    fprintf(stderr, "ERROR %s %s\n", code, m && ptap_monitor_error(m) ? ptap_monitor_error(m) : strerror(-r));
    ptap_monitor_free(m);
    return ex;
}

static int num(const char *s, int min, int max)
{
    uint64_t v;

    if (ptap_parse_uint(s, (uint64_t) min, (uint64_t) max, &v) < 0) {
        fprintf(stderr, "bad number '%s'\n", s);
        exit(2);
    }
    return (int) v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "tap", required_argument, NULL, 't' },    { "netdev", required_argument, NULL, 'n' },
        { "device", required_argument, NULL, 'd' }, { "mac", required_argument, NULL, 'm' },
        { "model", required_argument, NULL, 'M' },  { "queues", required_argument, NULL, 'q' },
        { "vhost", no_argument, NULL, 'v' },        { "vlan", required_argument, NULL, 'V' },
        { "slot", required_argument, NULL, 'S' },   { "timeout", required_argument, NULL, 'T' },
        {}
    };
    ptap_nic spec = PTAP_NIC_INIT;
    ptap_monitor *m = NULL;
    int timeout = 10000, r, c;

    if (getenv("PTAP_DEBUG") && *getenv("PTAP_DEBUG"))
        ptap_log_set_handler(log_stderr, NULL);
    if (argc < 3) {
        fprintf(stderr, "usage: monitor-driver TARGET info|add|remove|present ...\n");
        return 2;
    }
    const char *target = argv[1], *verb = argv[2];
    /* Options start after the verb. */
    optind = 3;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
        switch (c) {
        case 't': spec.tap = optarg; break;
        case 'n': spec.netdev_id = optarg; break;
        case 'd': spec.device_id = optarg; break;
        case 'm': spec.mac = optarg; break;
        case 'M': spec.model = optarg; break;
        case 'q': spec.queues = (unsigned) num(optarg, 0, 1000); break;
        case 'v': spec.vhost = true; break;
        case 'V': spec.vlan = num(optarg, 0, 100000); break;
        case 'S': spec.pci_slot = num(optarg, 0, 1000); break;
        case 'T': timeout = num(optarg, 0, 600000); break;
        default: return 2;
        }
    }

    r = ptap_monitor_open(target, 5000, &m);
    if (r < 0) {
        fprintf(stderr, "ERROR OPEN cannot open '%s': %s\n", target, strerror(-r));
        return 1;
    }
    if (strcmp(verb, "info") == 0) {
        uid_t uid; gid_t gid; pid_t pid;
        r = ptap_monitor_peer(m, &uid, &gid, &pid);
        if (r < 0)
            return fail(m, r);
        printf("kind=%s dialect=%s version=%s uid=%u gid=%u pid=%d\n",
               ptap_monitor_get_kind(m) == PTAP_MONITOR_QMP ? "qmp" : "hmp",
               ptap_monitor_get_dialect(m) == PTAP_NIC_NEW ? "new" : "legacy",
               ptap_monitor_version(m), (unsigned) uid, (unsigned) gid, (int) pid);
    } else if (strcmp(verb, "add") == 0) {
        r = ptap_monitor_nic_add(m, &spec, timeout);
        if (r < 0)
            return fail(m, r);
        printf("added vlan=%d slot=%d\n", spec.vlan, spec.pci_slot);
    } else if (strcmp(verb, "remove") == 0) {
        r = ptap_monitor_nic_remove(m, &spec, timeout);
        if (r < 0)
            return fail(m, r);
        printf("removed\n");
    } else if (strcmp(verb, "present") == 0) {
        bool dev = false, net = false;
        r = ptap_monitor_nic_present(m, &spec, &dev, &net, timeout);
        if (r < 0)
            return fail(m, r);
        printf("device=%s netdev=%s\n", dev ? "yes" : "no", net ? "yes" : "no");
    } else {
        fprintf(stderr, "unknown verb '%s'\n", verb);
        ptap_monitor_free(m);
        return 2;
    }
    ptap_monitor_free(m);
    return 0;
}
