/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * probe.h: is a record's consumer (a QEMU process, a libvirt domain) still
 * there, and does it still have the NIC? Used by recovery and the watcher.
 */
#pragma once

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
 * ptap_recover_detach_consumer: best-effort removal, for recovery, of what
 * an interrupted attach or detach of @rec left in its guest (a half-added
 * netdev, or the device a detach did not finish removing).
 * Returns 0 or a negative errno (with @err filled in when not NULL).
 */
int ptap_recover_detach_consumer(const ptap_record *rec, ptap_error *err);
