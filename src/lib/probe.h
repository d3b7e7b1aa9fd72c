/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * probe.h: is a record's consumer (a QEMU process, a libvirt domain) still
 * there, and does it still have the NIC? Used by recovery and the watcher.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "journal.h"

typedef enum ptap_probe {
    PTAP_PROBE_GONE,     /* the consumer is dead / not running */
    PTAP_PROBE_PRESENT,  /* alive, and it has the device */
    PTAP_PROBE_ABSENT,   /* alive, but the device is not there */
    PTAP_PROBE_UNKNOWN,  /* could not tell (e.g. monitor busy): leave it */
} ptap_probe;

/** ptap_probe_consumer: probe @rec's consumer (read-only). */
ptap_probe ptap_probe_consumer(const ptap_record *rec);

/**
 * ptap_pid_start_time: field 22 of /proc/@pid/stat (start time in clock
 * ticks since boot), so a recycled pid is told apart from the original.
 * Returns 0 and sets *@ret, or -ESRCH if no such process.
 */
int ptap_pid_start_time(pid_t pid, uint64_t *ret);

/** ptap_pid_alive: @pid exists and has start time @start (0 = don't check). */
bool ptap_pid_alive(pid_t pid, uint64_t start);

/**
 * ptap_recover_detach_consumer: best-effort removal, for recovery, of what
 * an interrupted attach or detach of @rec left in its guest (a half-added
 * netdev, or the device a detach did not finish removing).
 * Returns 0 or a negative errno (with @err filled in when not NULL).
 */
int ptap_recover_detach_consumer(const ptap_record *rec, ptap_error *err);
