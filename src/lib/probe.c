/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "consumer.h"
#include "log.h"
#include "probe.h"
#include "proc.h"
#include "util.h"

ptap_probe ptap_probe_consumer(const ptap_record *rec)
{
    _cleanup_(ptap_consumer_conn_freep) ptap_consumer_conn *cc = NULL;
    const ptap_consumer *c = &rec->consumer;
    int r;

    if (c->kind == PTAP_CONSUMER_NONE)
        return PTAP_PROBE_GONE;
    /* A QEMU we saw is dead, or its pid now belongs to another process. */
    if (c->pid > 0 && !ptap_proc_alive(c->pid, c->pid_start)) {
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
