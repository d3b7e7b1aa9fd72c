/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "consumer.h"
#include "log.h"
#include "probe.h"
#include "util.h"

int ptap_pid_start_time(pid_t pid, uint64_t *ret)
{
    char path[64], buf[1024];
    _cleanup_close_ int fd = -1;
    ssize_t n;
    char *p;
    unsigned long long start;

    if (pid <= 0)
        return -ESRCH;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ESRCH;
    n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -ESRCH;
    buf[n] = '\0';
    /* comm may contain spaces and ')': fields resume after the last ')'. */
    p = strrchr(buf, ')');
    if (!p)
        return -EIO;
    /* after ") " come fields 3..; starttime is field 22 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &start) != 1)
        return -EIO;
    *ret = start;
    return 0;
}

bool ptap_pid_alive(pid_t pid, uint64_t start)
{
    uint64_t now;

    if (ptap_pid_start_time(pid, &now) < 0)
        return false;
    return start == 0 || now == start;
}

ptap_probe ptap_probe_consumer(const ptap_record *rec)
{
    _cleanup_(ptap_consumer_conn_freep) ptap_consumer_conn *cc = NULL;
    const ptap_consumer *c = &rec->consumer;
    int r;

    if (c->kind == PTAP_CONSUMER_NONE)
        return PTAP_PROBE_GONE;
    /* A QEMU we saw is dead, or its pid now belongs to another process. */
    if (c->pid > 0 && !ptap_pid_alive(c->pid, c->pid_start)) {
        ptap_debug("probe '%s': QEMU pid %d is gone", rec->name, (int) c->pid);
        return PTAP_PROBE_GONE;
    }
    r = ptap_consumer_connect_record(c, &cc, NULL);
    if (r == -ENOENT || r == -EHOSTDOWN || r == -ECONNREFUSED) {
        /* Nobody listens / the domain is not running. If we know the pid
         * and it is alive (checked above), the monitor may just be busy. */
        if (c->kind != PTAP_CONSUMER_LIBVIRT && c->pid > 0)
            return PTAP_PROBE_UNKNOWN;
        return r == -ECONNREFUSED && c->kind == PTAP_CONSUMER_LIBVIRT ? PTAP_PROBE_UNKNOWN
                                                                       : PTAP_PROBE_GONE;
    }
    if (r < 0)
        return PTAP_PROBE_UNKNOWN;
    /* libvirt: a restarted domain is another QEMU, without our NIC. */
    if (c->pid > 0 && cc->pid > 0 && (cc->pid != c->pid || (c->pid_start && cc->pid_start != c->pid_start)))
        return PTAP_PROBE_GONE;
    r = ptap_consumer_has(cc, c);
    if (r < 0)
        return r == -EHOSTDOWN || r == -ENOENT ? PTAP_PROBE_GONE : PTAP_PROBE_UNKNOWN;
    return r ? PTAP_PROBE_PRESENT : PTAP_PROBE_ABSENT;
}

int ptap_recover_detach_consumer(const ptap_record *rec, ptap_error *err)
{
    _cleanup_(ptap_consumer_conn_freep) ptap_consumer_conn *cc = NULL;
    int r;

    r = ptap_consumer_connect_record(&rec->consumer, &cc, err);
    if (r < 0)
        return r;
    if (rec->state == PTAP_STATE_ATTACHING)
        return ptap_consumer_netdev_cleanup(cc, &rec->consumer);
    r = ptap_consumer_remove(cc, &rec->consumer, 10000, err);
    return r == -ENODEV ? 0 : r;
}
