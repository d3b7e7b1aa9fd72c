/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * virt-driver: a thin command-line face of libptap's virt room for the e2e
 * tests (tests/e2e/virt-*.sh), plus a serial-console relay for a domain's
 * <serial type='unix'> socket.
 *
 *   virt-driver [-c URI] [-v] COMMAND ARGS...
 *     running DOMAIN                    print 1 or 0
 *     info DOMAIN                       print "name=.. uuid=.."
 *     owner DOMAIN                      print "UID GID" QEMU runs as
 *     pid DOMAIN                        print "PID STARTTIME"
 *     attach DOMAIN METHOD TAP MAC ID [MODEL [QUEUES [vhost]]]
 *     detach DOMAIN METHOD ID [TIMEOUT_MS]
 *     has DOMAIN METHOD ID              print 1 or 0
 *     netdev-del DOMAIN ID
 *     xml TAP MAC ID [MODEL [QUEUES [vhost]]]   print the interface XML
 *     console SOCKET                    relay stdin -> SOCKET -> stdout
 *
 * On failure it prints "virt-driver: CODE: MESSAGE" on stderr, CODE being
 * the symbolic errno (EHOSTDOWN, ENODEV, ...) or ENOTUN, and exits 1
 * (2 for usage errors).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "nic.h"
#include "util.h"
#include "validate.h"
#include "virt.h"

static const char *code_name(int r)
{
    const char *n;

    if (r == PTAP_NIC_E_NOTUN)
        return "ENOTUN";
    n = strerrorname_np(-r);
    return n ? n : "E?";
}

static int fail(int r, const char *msg)
{
    fprintf(stderr, "virt-driver: %s: %s\n", code_name(r),
            msg && *msg ? msg : ptap_virt_strerror(r));
    return 1;
}

static void log_stderr(int priority, const char *message, void *userdata)
{
    fprintf(stderr, "debug: %s\n", message);
}

static int usage(void)
{
    fprintf(stderr, "usage: virt-driver [-c URI] [-v] COMMAND ARGS... (see the source)\n");
    return 2;
}

static int relay(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    _cleanup_close_ int fd = -1;
    char buf[4096];

    if (strlen(path) >= sizeof(sa.sun_path))
        return fail(-ENAMETOOLONG, path);
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
        return fail(negative_errno(), path);
    for (;;) {
        struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
        ssize_t n;

        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return fail(negative_errno(), "poll");
        }
        if (p[1].revents) {
            n = read(fd, buf, sizeof(buf));
            if (n <= 0)
                return 0; /* QEMU went away */
            if (write(1, buf, (size_t) n) != n)
                return fail(negative_errno(), "write to stdout");
        }
        if (p[0].revents) {
            n = read(0, buf, sizeof(buf));
            if (n <= 0)
                return 0;
            if (write(fd, buf, (size_t) n) != n)
                return fail(negative_errno(), "write to console");
        }
    }
}

/* The NIC of the arguments, with ptap's ids for @method in @dev/@net
 * (an id ptap_virt_ids refuses is passed as is: the library refuses it). */
static int nic_from_args(char **a, int n, ptap_virt_method method, ptap_nic *nic,
                         char dev[PTAP_QEMU_ID_MAX], char net[PTAP_QEMU_ID_MAX])
{
    uint64_t q;

    /* TAP MAC ID [MODEL [QUEUES [vhost]]] */
    if (n < 3 || n > 6)
        return -EINVAL;
    *nic = (ptap_nic) PTAP_NIC_INIT;
    nic->tap = a[0];
    nic->mac = a[1];
    if (ptap_virt_ids(method, a[2], dev, net) == 0) {
        nic->device_id = dev;
        nic->netdev_id = net;
    } else {
        nic->device_id = a[2];
        nic->netdev_id = a[2];
    }
    nic->model = n > 3 ? a[3] : NULL;
    if (n > 4) {
        if (ptap_parse_uint(a[4], 0, 1024, &q) < 0)
            return -EINVAL;
        nic->queues = (unsigned) q;
    }
    if (n > 5) {
        if (strcmp(a[5], "vhost") != 0)
            return -EINVAL;
        nic->vhost = true;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *uri = NULL, *cmd;
    _cleanup_free_ char *errmsg = NULL;
    ptap_virt *v = NULL;
    int opt, r, m, ret = 0;

    while ((opt = getopt(argc, argv, "+c:v")) != -1) {
        switch (opt) {
        case 'c':
            uri = optarg;
            break;
        case 'v':
            ptap_log_set_handler(log_stderr, NULL);
            break;
        default:
            return usage();
        }
    }
    if (optind >= argc)
        return usage();
    cmd = argv[optind];
    argv += optind + 1;
    argc -= optind + 1;

    if (strcmp(cmd, "console") == 0)
        return argc == 1 ? relay(argv[0]) : usage();
    if (strcmp(cmd, "xml") == 0) {
        char dev[PTAP_QEMU_ID_MAX], net[PTAP_QEMU_ID_MAX];
        _cleanup_free_ char *xml = NULL;
        const char *why = NULL;
        ptap_nic nic;

        if (nic_from_args(argv, argc, PTAP_VIRT_DEVICE, &nic, dev, net) < 0)
            return usage();
        r = ptap_nic_check(&nic, PTAP_NIC_LIBVIRT, &why);
        if (r < 0)
            return fail(r, why);
        r = ptap_nic_libvirt_xml(&nic, &xml);
        if (r < 0)
            return fail(r, NULL);
        printf("%s\n", xml);
        return 0;
    }
    if (argc < 1)
        return usage();

    r = ptap_virt_open(uri, &v, &errmsg);
    if (r < 0)
        return fail(r, errmsg);
    r = ptap_virt_lookup(v, argv[0]);
    if (r < 0) {
        ret = fail(r, ptap_virt_errmsg(v));
        goto out;
    }

    if (strcmp(cmd, "running") == 0 && argc == 1) {
        r = ptap_virt_is_running(v);
        if (r >= 0)
            printf("%d\n", r);
    } else if (strcmp(cmd, "info") == 0 && argc == 1) {
        printf("name=%s uuid=%s uri=%s\n", ptap_virt_domain_name(v), ptap_virt_domain_uuid(v),
               ptap_virt_uri(v));
        r = 0;
    } else if (strcmp(cmd, "owner") == 0 && argc == 1) {
        uid_t u;
        gid_t g;

        r = ptap_virt_qemu_owner(v, &u, &g);
        if (r >= 0)
            printf("%u %u\n", (unsigned) u, (unsigned) g);
    } else if (strcmp(cmd, "pid") == 0 && argc == 1) {
        pid_t p;
        uint64_t st;

        r = ptap_virt_qemu_pid(v, &p, &st);
        if (r >= 0)
            printf("%d %" PRIu64 "\n", (int) p, st);
    } else if (strcmp(cmd, "attach") == 0 && argc >= 5) {
        char dev[PTAP_QEMU_ID_MAX], net[PTAP_QEMU_ID_MAX];
        ptap_nic nic;

        m = ptap_virt_method_from_string(argv[1]);
        if (m < 0 || nic_from_args(argv + 2, argc - 2, (ptap_virt_method) m, &nic, dev, net) < 0) {
            ret = usage();
            goto out;
        }
        r = ptap_virt_attach(v, (ptap_virt_method) m, &nic);
    } else if (strcmp(cmd, "detach") == 0 && (argc == 3 || argc == 4)) {
        uint64_t t = 0;

        m = ptap_virt_method_from_string(argv[1]);
        if (m < 0 || (argc == 4 && ptap_parse_uint(argv[3], 1, 600000, &t) < 0)) {
            ret = usage();
            goto out;
        }
        r = ptap_virt_detach(v, (ptap_virt_method) m, argv[2], (unsigned) t);
    } else if (strcmp(cmd, "has") == 0 && argc == 3) {
        m = ptap_virt_method_from_string(argv[1]);
        if (m < 0) {
            ret = usage();
            goto out;
        }
        r = ptap_virt_has_device(v, (ptap_virt_method) m, argv[2]);
        if (r >= 0)
            printf("%d\n", r);
    } else if (strcmp(cmd, "netdev-del") == 0 && argc == 2) {
        r = ptap_virt_netdev_remove(v, argv[1]);
    } else {
        ret = usage();
        goto out;
    }
    if (r < 0)
        ret = fail(r, ptap_virt_errmsg(v));
out:
    ptap_virt_close(v);
    return ret;
}
