/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qmp.h: a QEMU Machine Protocol client (json-c) over a unix socket.
 *
 * One synchronous command at a time; events that arrive while waiting for a
 * reply are queued (bounded) and handed out by ptap_qmp_wait_event(). Every
 * command carries an "id" so a late reply to a command that timed out is
 * recognised and dropped instead of being taken for the next one's.
 *
 * Return values: 0 on success or -errno:
 *   -ETIMEDOUT    no reply/event within the timeout
 *   -ECONNRESET   QEMU closed the socket
 *   -EPROTO       not QMP (no greeting, malformed JSON, unexpected shape)
 *   -EMSGSIZE     a message larger than PTAP_QMP_MAX_MSG
 *   -EREMOTEIO    QEMU answered with an error: ptap_qmp_error_desc() has its
 *                 "desc", ptap_qmp_error_class() its "class"
 *
 * Known limits: no out-of-band commands; no file descriptor passing (ptap
 * never passes descriptors: QEMU opens taps by name).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <json-c/json.h>

#define PTAP_QMP_MAX_MSG (4u << 20)
#define PTAP_QMP_MAX_EVENTS 256

typedef struct ptap_qmp ptap_qmp;

/**
 * ptap_qmp_connect: connect to QEMU's QMP socket at @path, read the greeting
 * and negotiate with qmp_capabilities.
 * @timeout_ms: for the whole handshake
 * @ret: the new client, freed with ptap_qmp_free()
 */
int ptap_qmp_connect(const char *path, int timeout_ms, ptap_qmp **ret);

/**
 * ptap_qmp_new_fd: like ptap_qmp_connect() on an already connected stream
 * socket @fd (taken over: closed by ptap_qmp_free(), even on failure).
 */
int ptap_qmp_new_fd(int fd, int timeout_ms, ptap_qmp **ret);

/** ptap_qmp_free: close the connection, drop queued events. NULL is fine. */
void ptap_qmp_free(ptap_qmp *q);

/**
 * ptap_qmp_execute: run one command.
 * @cmd: the command name, e.g. "netdev_add"
 * @args: its "arguments" object, or NULL; borrowed (not consumed)
 * @reply: when not NULL, set on success to the "return" value (a new
 *         reference, json_object_put() it; may be NULL for an empty object)
 * @timeout_ms: how long to wait for the reply; < 0 waits forever
 * Returns 0, -EREMOTEIO when QEMU reports an error (see
 * ptap_qmp_error_desc()), or another -errno.
 */
int ptap_qmp_execute(ptap_qmp *q, const char *cmd, json_object *args,
                     json_object **reply, int timeout_ms);

/**
 * ptap_qmp_error_desc / ptap_qmp_error_class: QEMU's "desc" and "class" of
 * the last error reply (valid until the next call on @q), or NULL.
 */
const char *ptap_qmp_error_desc(const ptap_qmp *q);
const char *ptap_qmp_error_class(const ptap_qmp *q);

/**
 * ptap_qmp_event_match_fn: predicate for ptap_qmp_wait_event_match().
 * @event: the event name; @data: its "data" member (may be NULL).
 */
typedef bool (*ptap_qmp_event_match_fn)(const char *event, json_object *data,
                                        void *userdata);

/**
 * ptap_qmp_wait_event_match: take the first queued event that @match accepts
 * (other events stay queued), or wait up to @timeout_ms for one to arrive.
 * @ret_data: when not NULL, set to the event's "data" (new reference).
 */
int ptap_qmp_wait_event_match(ptap_qmp *q, ptap_qmp_event_match_fn match,
                              void *userdata, int timeout_ms,
                              json_object **ret_data);

/**
 * ptap_qmp_wait_event: ptap_qmp_wait_event_match() for event @name; when
 * @device is not NULL only an event whose data.device equals it matches
 * (DEVICE_DELETED first names the id-less ".../virtio-backend" path).
 */
int ptap_qmp_wait_event(ptap_qmp *q, const char *name, const char *device,
                        int timeout_ms, json_object **ret_data);

/** ptap_qmp_events_queued: number of events waiting in the queue. */
size_t ptap_qmp_events_queued(const ptap_qmp *q);

/**
 * ptap_qmp_peer: credentials of the process at the other end of the socket
 * (SO_PEERCRED: the user QEMU runs as). Any pointer may be NULL.
 */
int ptap_qmp_peer(const ptap_qmp *q, uid_t *uid, gid_t *gid, pid_t *pid);

/** ptap_qmp_version: QEMU's version from the greeting, "MAJOR.MINOR.MICRO". */
const char *ptap_qmp_version(const ptap_qmp *q);
